"""Parsing: every item knows its line and the byte offset just past it; broken text is one reject."""

from __future__ import annotations

import io

import pytest

from streams.errors import EventError
from streams.publisher.reader import InputError, Lines, format_for, lines_in, read_csv, read_csv_header, read_jsonl


def jsonl(text: bytes, offset: int = 0, line: int = 0) -> list:
    stream = io.BytesIO(text)
    stream.seek(offset)
    return list(read_jsonl(stream, offset, line))


def csv_items(text: bytes) -> tuple[list[str], list]:
    lines = Lines(io.BytesIO(text))
    header, end = read_csv_header(lines)
    return header, list(read_csv(lines, header, end, 1))


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
        read_csv_header(Lines(io.BytesIO(b"")))


# --- Line ends, byte-order marks, over-long lines, stray quotes (issue 9, item 7) ---

def physical(text: bytes, chunk: int, limit: int = 1 << 20, monkeypatch: pytest.MonkeyPatch | None = None) -> list:
    import streams.publisher.reader as reader

    assert monkeypatch is not None
    monkeypatch.setattr(reader, "_CHUNK", chunk)
    return [x if isinstance(x, bytes) else ("long", x.size) for x in Lines(io.BytesIO(text), limit)]


@pytest.mark.parametrize("chunk", [1, 2, 3, 5, 1 << 20])
def test_lines_end_at_lf_crlf_and_lone_cr_across_any_chunking(chunk: int, monkeypatch: pytest.MonkeyPatch) -> None:
    text = b"a\r\nb\rc\n\r\n\rd\r\r\ne"
    assert physical(text, chunk, monkeypatch=monkeypatch) == [b"a\r\n", b"b\r", b"c\n", b"\r\n", b"\r", b"d\r",
                                                              b"\r\n", b"e"]


@pytest.mark.parametrize("chunk", [1, 4, 7, 1 << 20])
def test_over_long_lines_are_skipped_to_their_end(chunk: int, monkeypatch: pytest.MonkeyPatch) -> None:
    text = b"ok\n" + b"x" * 50 + b"\r\nshort\r" + b"y" * 20 + b"\rz" * 2 + b"w" * 11
    got = physical(text, chunk, limit=10, monkeypatch=monkeypatch)
    assert got == [b"ok\n", ("long", 52), b"short\r", ("long", 21), b"z\r", ("long", 12)]
    assert sum(x if isinstance(x, int) else len(x) for x in (g[1] if isinstance(g, tuple) else g for g in got)) \
        == len(text)


def test_jsonl_with_a_byte_order_mark_keeps_its_first_record() -> None:
    text = b'\xef\xbb\xbf{"a": 1}\n{"b": 2}\n'
    assert [(i[0], i[1], i[3]) for i in jsonl(text)] == [(1, 12, {"a": 1}), (2, len(text), {"b": 2})]
    # only before the first line: a BOM further on is a broken line
    assert isinstance(jsonl(b'{"a": 1}\n\xef\xbb\xbf{"b": 2}\n')[1][3], EventError)


@pytest.mark.parametrize("eol", [b"\n", b"\r\n", b"\r"])
def test_jsonl_and_csv_read_alike_with_any_line_end(eol: bytes) -> None:
    objs = [{"a": str(i), "b": "x"} for i in range(3)]
    text = eol.join(b'{"a": "%d", "b": "x"}' % i for i in range(3)) + eol
    items = jsonl(text)
    assert [i[3] for i in items] == objs and [i[0] for i in items] == [1, 2, 3] and items[-1][1] == len(text)
    text = eol.join([b"a,b", b"0,x", b"1,x", b'2,"x"']) + eol
    _, items = csv_items(b"\xef\xbb\xbf" + text)
    assert [i[3] for i in items] == objs and [i[0] for i in items] == [2, 3, 4] and items[-1][1] == len(text) + 3


def test_a_resumed_cr_only_file_counts_lines_like_a_full_read() -> None:
    text = b'{"a": 1}\r{"a": 2}\r\r{"a": 3}\r'
    items = jsonl(text)
    assert [i[0] for i in items] == [1, 2, 4]
    assert lines_in(items[0][2]) == 1 and lines_in(b'1,"x\ry"\r') == 2
    assert [(i[0], i[3]) for i in jsonl(text, offset=items[0][1], line=1)] == [(2, {"a": 2}), (4, {"a": 3})]


def test_utf16_input_is_refused_as_a_whole() -> None:
    with pytest.raises(InputError, match="UTF-16"):
        jsonl('{"a": 1}\n'.encode("utf-16"))
    with pytest.raises(InputError, match="UTF-16"):
        csv_items("a,b\n1,2\n".encode("utf-16"))


def test_a_line_over_the_limit_is_one_too_large_item_and_reading_goes_on() -> None:
    from streams.publisher.reader import MAX_RECORD_BYTES

    big = b'{"event_id": "' + b"9" * (2 * MAX_RECORD_BYTES) + b'"}\n'
    text = b'{"a": 1}\n' + big + b'{"a": 2}\n'
    items = jsonl(text)
    assert [(i[0], i[1]) for i in items] == [(1, 9), (2, 9 + len(big)), (3, len(text))]
    assert items[1][3].code == "too_large" and "longer than 65,536 bytes" in str(items[1][3])
    assert items[1][2] == b'{"event_id": "...'  # a prefix, cut before the digits
    assert items[2][3] == {"a": 2}
    _, items = csv_items(b"a,b\n1," + b"2" * (MAX_RECORD_BYTES + 1) + b"\n3,4\n")
    assert [(i[0], getattr(i[3], "code", i[3])) for i in items] == [(2, "too_large"), (3, {"a": "3", "b": "4"})]


def test_an_unbalanced_csv_quote_costs_its_line_only() -> None:
    rows = b"".join(b"%d,ok\n" % i for i in range(3000))
    _, items = csv_items(b'a,b\n1,"stray\n' + rows)
    assert (items[0][0], items[0][3].code) == (2, "malformed")
    assert "unbalanced quote" in str(items[0][3]) and items[0][2] == b'1,"stray\n'
    assert [i[3] for i in items[1:]] == [{"a": str(i), "b": "ok"} for i in range(3000)]
    assert [i[0] for i in items[1:]] == list(range(3, 3003))


@pytest.mark.parametrize(("text", "why", "good"), [
    (b'a,b\n1,"open\n2,x\n3,y\n', "is not closed before the end of the file (2 more", ["2", "3"]),
    (b'a,b\n1,"open\n2,x\n3",y\n4,z\n', "makes a record of 3 columns", ["2", '3"', "4"]),  # a 2nd stray quote
    (b'a,b\n1,"open\n2,x\n"3"x,y\n4,z\n', "runs into text that is not valid CSV", ["2", "4"]),
    (b'a,b\n1,2\n"x\n', "is not closed before the end of the file", ["1"]),  # on the last line
])
def test_an_unbalanced_quote_is_reported_on_its_own_line(text: bytes, why: str, good: list[str]) -> None:
    _, items = csv_items(text)
    bad = [i for i in items if isinstance(i[3], EventError)]
    assert "unbalanced quote" in str(bad[0][3]) and why in str(bad[0][3])
    assert [i[3]["a"] for i in items if isinstance(i[3], dict)] == good
    # every item's end offset is where a rerun resumes: resuming after any item gives the same rest
    lines = Lines(io.BytesIO(text))
    header, _ = read_csv_header(lines)
    for k, item in enumerate(items):
        again = Lines(io.BytesIO(text))
        again.seek(item[1])
        rest = list(read_csv(again, header, item[1], item[0] + lines_in(item[2]) - 1))
        assert [(i[0], i[1], str(i[3])) for i in rest] == [(i[0], i[1], str(i[3])) for i in items[k + 1:]]


def test_a_multiline_quoted_field_that_makes_a_valid_row_is_still_one_record() -> None:
    _, items = csv_items(b'a,b\r1,"two\rlines"\r3,4\r')
    assert [(i[0], i[3]) for i in items] == [(2, {"a": "1", "b": "two\rlines"}), (4, {"a": "3", "b": "4"})]


def test_nan_infinity_and_huge_floats_are_not_json() -> None:
    items = jsonl(b'{"a": NaN}\n{"a": -Infinity}\n{"a": 1e999}\n{"a": 1.5}\n')
    assert [str(i[3]) for i in items[:3]] == ["not valid JSON: NaN is not a JSON number",
                                              "not valid JSON: -Infinity is not a JSON number",
                                              "not valid JSON: number 1e999 is out of range"]
    assert items[3][3] == {"a": 1.5}


def test_deeply_nested_json_is_a_reject_not_a_crash() -> None:
    items = jsonl(b'{"a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}\n" + b'{"a": 1}\n')
    assert [getattr(i[3], "code", i[3]) for i in items] == ["too_large", {"a": 1}]
    items = jsonl(b'{"a": ' + b"[" * 30_000 + b"]" * 30_000 + b"}\n")
    assert str(items[0][3]) == "not valid JSON: nested too deeply"
