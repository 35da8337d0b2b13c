"""Parsing: every item knows its line and the byte offset just past it; broken text is one reject."""

from __future__ import annotations

import io

import pytest

from streams.errors import EventError
from streams.publisher.reader import InputError, format_for, lines_in, read_csv, read_csv_header, read_jsonl


def jsonl(text: bytes, offset: int = 0, line: int = 0) -> list:
    stream = io.BytesIO(text)
    stream.seek(offset)
    return list(read_jsonl(stream, offset, line))


def csv_items(text: bytes) -> tuple[list[str], list]:
    stream = io.BytesIO(text)
    header, end = read_csv_header(stream)
    return header, list(read_csv(stream, header, end, 1))


@pytest.mark.parametrize(("name", "fmt"), [("a.jsonl", "jsonl"), ("a.JSON", "jsonl"), ("x/a.ndjson", "jsonl"),
                                           ("a.csv", "csv"), ("-", "jsonl")])
def test_format_from_extension(name: str, fmt: str) -> None:
    assert format_for(name) == fmt


def test_unknown_extension_is_an_input_error() -> None:
    with pytest.raises(InputError, match="--format"):
        format_for("payments.txt")


def test_jsonl_offsets_lines_and_blank_lines() -> None:
    text = b'{"a": 1}\n\n   \n{"b": 2}\r\n{"c": 3}'
    items = jsonl(text)
    assert [(i[0], i[1], i[3]) for i in items] == [(1, 9, {"a": 1}), (4, 24, {"b": 2}), (5, len(text), {"c": 3})]
    # resuming at an item's end offset yields exactly the items after it
    assert [i[3] for i in jsonl(text, offset=9, line=1)] == [{"b": 2}, {"c": 3}]
    assert jsonl(text, offset=24, line=4)[0][0] == 5


def test_broken_json_lines_are_items_with_an_error() -> None:
    items = jsonl(b'{"a": 1}\n{"a": \n[1, 2]\n"text"\n\xff\xfe{}\n{"z": 0}\n')
    assert [type(i[3]).__name__ for i in items] == ["dict", "MalformedEvent", "MalformedEvent", "MalformedEvent",
                                                    "MalformedEvent", "dict"]
    assert items[1][2] == b'{"a": \n'
    assert all(isinstance(i[3], EventError) and i[3].code == "malformed" for i in items[1:5])


def test_a_json_array_is_refused_as_a_whole() -> None:
    with pytest.raises(InputError, match="JSON array"):
        jsonl(b'[\n {"a": 1},\n {"a": 2}\n]\n')
    with pytest.raises(InputError, match="JSON array"):
        jsonl(b'\n[{"a": 1}, {"a": 2}]\n')


def test_csv_empty_cells_are_absent_and_bom_is_dropped() -> None:
    header, items = csv_items(b"\xef\xbb\xbfevent_id,branch_ifsc,amount_paise\r\ne1,,10\r\n\r\ne2,SBIN0001,20\r\n")
    assert header == ["event_id", "branch_ifsc", "amount_paise"]
    assert [(i[0], i[3]) for i in items] == [(2, {"event_id": "e1", "amount_paise": "10"}),
                                             (4, {"event_id": "e2", "branch_ifsc": "SBIN0001", "amount_paise": "20"})]


def test_csv_multiline_records_keep_offsets_and_first_line() -> None:
    text = b'a,b\n1,"two\nlines"\n3,4\n'
    _, items = csv_items(text)
    assert [(i[0], i[1], i[3]) for i in items] == [(2, 18, {"a": "1", "b": "two\nlines"}),
                                                   (4, len(text), {"a": "3", "b": "4"})]
    assert items[0][2] == b'1,"two\nlines"\n' and lines_in(items[0][2]) == 2


def test_csv_bad_rows_are_items_with_an_error_and_reading_goes_on() -> None:
    _, items = csv_items(b'a,b\n1,2,3\n"x"y,1\n\xff,1\n5,6\n')
    assert [str(i[3]) if isinstance(i[3], EventError) else i[3] for i in items] == [
        "3 columns, the header has 2", "not valid CSV: ',' expected after '\"'", "not valid UTF-8",
        {"a": "5", "b": "6"}]
    assert [i[0] for i in items] == [2, 3, 4, 5]


def test_csv_without_header_is_an_input_error() -> None:
    with pytest.raises(InputError):
        read_csv_header(io.BytesIO(b""))
