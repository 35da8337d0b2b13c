"""Reading JSON Lines and CSV input as (line, end offset, raw bytes, fields) items.

Files are read as bytes so every item knows the byte offset just past it: the
checkpoint stores that offset and a rerun seeks straight to it. An item whose
text does not parse carries the ``EventError`` instead of fields, so one broken
line is one reject and never stops the file.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import PurePath
from typing import Any, BinaryIO

from ..errors import EventError, MalformedEvent

__all__ = [
    "FORMATS",
    "InputError",
    "Item",
    "format_for",
    "lines_in",
    "read_csv",
    "read_csv_header",
    "read_jsonl",
]

#: (first line number, byte offset just past the item, the item's bytes, its fields or why it has none)
Item = tuple[int, int, bytes, "dict[str, Any] | EventError"]

FORMATS = ("jsonl", "csv")
_EXTENSIONS = {".jsonl": "jsonl", ".json": "jsonl", ".ndjson": "jsonl", ".csv": "csv"}


class InputError(Exception):
    """The input as a whole cannot be published (wrong format, bad CSV header...)."""


def format_for(path: str) -> str:
    """``jsonl`` or ``csv`` from the file name; ``-`` (stdin) is JSON Lines."""
    if path == "-":
        return "jsonl"
    try:
        return _EXTENSIONS[PurePath(path).suffix.lower()]
    except KeyError:
        raise InputError(f"{path}: cannot tell the format from the extension "
                         f"(use .jsonl/.json/.ndjson or .csv, or --format)") from None


def lines_in(raw: bytes) -> int:
    """How many physical lines ``raw`` spans (a CSV record may span several)."""
    return raw.count(b"\n") + (not raw.endswith(b"\n"))


def read_jsonl(stream: BinaryIO, offset: int = 0, line: int = 0) -> Iterator[Item]:
    """One item per non-blank line, starting after ``line`` lines / ``offset`` bytes."""
    decode = json.JSONDecoder().decode  # json.loads(bytes) would sniff the encoding on every line
    first = offset == 0
    for raw in stream:
        line += 1
        offset += len(raw)
        try:
            obj = decode(raw.decode())
        except ValueError as e:  # JSONDecodeError and UnicodeDecodeError; neither quotes the input
            if raw.isspace():
                continue
            if first and raw.lstrip().startswith(b"["):
                raise InputError(f"line {line}: this is a JSON array; the publisher reads JSON Lines "
                                 "(one object per line)") from None
            yield line, offset, raw, MalformedEvent(f"not valid JSON: {e}")
            first = False
            continue
        if type(obj) is dict:
            yield line, offset, raw, obj
        elif first and type(obj) is list:
            raise InputError(f"line {line}: this is a JSON array; the publisher reads JSON Lines "
                             "(one object per line)")
        else:
            yield line, offset, raw, MalformedEvent(f"a line must be a JSON object, not {type(obj).__name__}")
        first = False


def read_csv_header(stream: BinaryIO) -> tuple[list[str], int]:
    """The column names from the first line, and the byte offset just past it."""
    raw = stream.readline()
    try:
        text = raw.decode("utf-8-sig")  # Excel writes a byte-order mark
    except UnicodeDecodeError:
        raise InputError("line 1: the CSV header is not UTF-8") from None
    header = next(csv.reader([text]), [])
    if not header:
        raise InputError("line 1: the CSV file has no header line")
    return [h.strip() for h in header], len(raw)


def read_csv(stream: BinaryIO, header: list[str], offset: int, line: int) -> Iterator[Item]:
    """One item per CSV record after ``line`` lines / ``offset`` bytes (the header excluded).

    Empty cells are left out of the fields, so they read as absent: ``null`` for
    nullable fields, the default where there is one, "missing" otherwise.
    """
    pos = [offset, line]
    raws: list[bytes] = []
    bad_utf8 = [False]

    def lines() -> Iterator[str]:
        for raw in stream:
            pos[0] += len(raw)
            pos[1] += 1
            raws.append(raw)
            try:
                yield raw.decode()
            except UnicodeDecodeError:
                bad_utf8[0] = True
                yield raw.decode(errors="replace")

    reader = csv.reader(lines(), strict=True)
    width = len(header)
    while True:
        start = pos[1] + 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as e:
            row = None
            error: EventError | None = MalformedEvent(f"not valid CSV: {e}")
        else:
            error = None
        raw = raws[0] if len(raws) == 1 else b"".join(raws)
        raws.clear()
        if bad_utf8[0]:
            bad_utf8[0] = False
            error = MalformedEvent("not valid UTF-8")
        if error is not None:
            yield start, pos[0], raw, error
        elif not row:
            continue  # a blank line
        elif len(row) != width:
            yield start, pos[0], raw, MalformedEvent(f"{len(row)} columns, the header has {width}")
        else:
            yield start, pos[0], raw, {k: v for k, v in zip(header, row, strict=True) if v}
