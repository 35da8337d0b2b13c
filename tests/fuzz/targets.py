"""The fuzz targets, shared by the hypothesis properties and the atheris runs.

Each takes arbitrary input and returns normally when the code under test either
accepted it or refused it with a reason (an ``EventError`` with a code and a
message, or the readers' whole-file ``InputError``); any other exception, or a
broken invariant (an ``AssertionError``), is a finding.
"""

from __future__ import annotations

import io
import json
import time
from typing import Any

from streams.avro_codec import codec_for, load_schema
from streams.errors import EventError
from streams.publisher.reader import InputError, Item, Lines, lines_in, read_csv, read_csv_header, read_jsonl
from streams.publisher.records import RecordBuilder
from streams.publisher.rejects import describe, entry
from streams.registry import default_registry
from streams.validation import check_event, check_horizon

__all__ = ["KINDS", "check_decode", "check_read", "check_validate", "refused"]

KINDS = ("PaymentEvent", "SeedingEvent")
_REGISTRY = default_registry()
_BUILDERS = {name: RecordBuilder(load_schema(name), "SBIN") for name in KINDS}
_FUTURE_MS = 300_000
_HORIZON_MS = 7 * 86_400_000


def refused(e: EventError) -> None:
    """A refusal names its reason: a code, a message, and a printable, valid-UTF-8 report."""
    assert isinstance(e.code, str) and e.code and str(e), e
    assert e.field is None or isinstance(e.field, str)
    json.loads(entry(1, e, b"x").decode("utf-8"))
    describe("f", 1, e).encode("utf-8", "backslashreplace")


def check_decode(name: str, data: bytes) -> None:
    """``AvroCodec.decode``: a record that re-encodes to the same record, or an ``EventError``."""
    codec = codec_for(name)
    try:
        record = codec.decode(data)
    except EventError as e:
        refused(e)
        return
    assert isinstance(record, dict)
    assert codec.decode(codec.encode(record)) == record


def check_validate(name: str, record: dict[str, Any], now_ms: int) -> None:
    """``check_event``: returns or raises ``EventError``; what it accepts encodes and decodes back."""
    try:
        check_event(record, _REGISTRY, now_ms, _FUTURE_MS)
    except EventError as e:
        refused(e)
        return
    codec = codec_for(name)
    assert codec.decode(codec.encode(record)) == record


def _items(data: bytes, fmt: str, offset: int = 0, line: int = 0) -> tuple[list[str] | None, list[Item]]:
    lines = Lines(io.BytesIO(data))
    if fmt == "jsonl":
        lines.seek(offset)
        return None, list(read_jsonl(lines, offset, line))
    header, end = read_csv_header(lines)
    if offset:
        lines.seek(offset)
    return header, list(read_csv(lines, header, offset or end, line or 1))


def check_read(name: str, fmt: str, data: bytes, resume_at: int = 0) -> None:
    """A reader on arbitrary bytes, then the publisher's checks on every record it yields.

    Invariants: items are in file order with increasing end offsets within the input, every
    one is fields or a refusal; what is left after the last item is blank; reading again from
    an item's end offset (a checkpoint) yields exactly the items after it.
    """
    try:
        header, items = _items(data, fmt)
    except InputError as e:
        assert str(e).startswith("line ")
        return
    prev_end, prev_line = (0, 0) if header is None else (-1, 1)
    for first, end, raw, obj in items:
        assert prev_end < end <= len(data) and first > prev_line, (first, end, prev_end, prev_line)
        assert isinstance(raw, bytes)
        prev_end, prev_line = end, first + lines_in(raw) - 1
        if isinstance(obj, EventError):
            refused(obj)
            json.loads(entry(first, obj, raw).decode("utf-8"))
        else:
            assert type(obj) is dict and all(type(k) is str for k in obj)
            _publish_checks(name, obj)
    if items:
        assert not data[items[-1][1]:].strip(), data[items[-1][1]:][:80]
        k = resume_at % len(items)
        _, again = _items(data, fmt, items[k][1], items[k][0] + lines_in(items[k][2]) - 1)
        assert [(i[0], i[1], i[2], str(i[3])) for i in again] == [(i[0], i[1], i[2], str(i[3])) for i in items[k + 1:]]


def _publish_checks(name: str, obj: dict[str, Any]) -> None:
    """What ``digindex publish`` does with a parsed record before sending it."""
    now_ms = int(time.time() * 1000)
    try:
        record = _BUILDERS[name].build(obj)
        check_event(record, _REGISTRY, now_ms, _FUTURE_MS)
        check_horizon(record, now_ms - _HORIZON_MS)
    except EventError as e:
        refused(e)
        return
    codec = codec_for(name)
    assert codec.decode(codec.encode(record)) == record
