"""Reading JSON Lines and CSV input as (line, end offset, raw bytes, fields) items.

Files are read as bytes so every item knows the byte offset just past it: the
checkpoint stores that offset and a rerun seeks straight to it. An item whose
text does not parse carries the ``EventError`` instead of fields, so one broken
line is one reject and never stops the file.

``Lines`` splits the bytes: ``\\n``, ``\\r\\n`` and a lone ``\\r`` (old Mac and some
Excel exports) all end a line, and no line is held longer than ``MAX_RECORD_BYTES``:
a longer one is skipped to its end and becomes one ``too_large`` item, so neither a
huge line nor a file without line ends can exhaust memory or block the publisher
(a record over the producer's 1 MiB request limit used to fail the run at the
same checkpoint on every rerun).
"""

from __future__ import annotations

import csv
import json
import math
import re
from collections import deque
from collections.abc import Iterable, Iterator
from pathlib import PurePath
from typing import Any, BinaryIO

from ..errors import EventError, MalformedEvent

__all__ = [
    "FORMATS",
    "MAX_RECORD_BYTES",
    "InputError",
    "Item",
    "Lines",
    "RecordTooLarge",
    "TooLong",
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

#: The longest record (a JSON line, or a CSV record with its line ends) the publisher reads. An event is
#: a few hundred bytes; the Avro value is never larger than its input line plus a few bytes, so this
#: also keeps every message far below the producer's 1 MiB ``max_request_size``.
MAX_RECORD_BYTES = 64 * 1024
_CHUNK = 1 << 20
_HEAD = 100
_EOL = re.compile(rb"[\r\n]")
#: Trailing bytes cut from the prefix kept of an over-long line: digits and separators (a number cut in
#: two would escape redaction) and any non-ASCII byte (fullwidth digits, a split UTF-8 sequence).
_UNSAFE_TAIL = re.compile(rb"[^A-Za-z{}\[\]\":,;=]+$")
_BOM = b"\xef\xbb\xbf"


class InputError(Exception):
    """The input as a whole cannot be published (wrong format, bad CSV header...)."""


class RecordTooLarge(EventError):
    """A line (or CSV record) longer than ``MAX_RECORD_BYTES``."""

    code = "too_large"


class TooLong:
    """An over-long physical line, skipped: its size and a prefix safe to show."""

    __slots__ = ("head", "size")

    def __init__(self, start: bytes) -> None:
        self.size = len(start)
        self.head = _UNSAFE_TAIL.sub(b"", start[:_HEAD]) + b"..."

    def error(self) -> RecordTooLarge:
        return RecordTooLarge(f"line longer than {MAX_RECORD_BYTES:,} bytes ({self.size:,} bytes): skipped")


class Lines:
    """The physical lines of a byte stream, each with its line end; ``TooLong`` for one over ``limit``.

    Reads in chunks of up to 1 MiB (``read1``: what a pipe has, without waiting for more) and
    splits them with ``bytes.splitlines``, which ends a line at ``\\n``, ``\\r\\n`` or ``\\r``.
    ``push_back`` returns lines to be read again (the CSV reader re-reads after an unclosed quote).
    """

    def __init__(self, stream: BinaryIO, limit: int = MAX_RECORD_BYTES) -> None:
        self._stream = stream
        self._read = getattr(stream, "read1", stream.read)
        self._limit = limit
        self._ready: deque[bytes | TooLong] = deque()
        self._reset()

    def _reset(self) -> None:
        self._ready.clear()
        self._carry = b""  # the start of a line whose end has not been read yet
        self._next = b""  # a byte read ahead to tell CR LF from a lone CR
        self._skip: TooLong | None = None  # the over-long line being skipped
        self._eof = False

    def seek(self, offset: int) -> None:
        """Continue at byte ``offset`` of a seekable stream (a line start: a checkpoint's offset)."""
        self._stream.seek(offset)
        self._reset()

    def push_back(self, lines: Iterable[bytes | TooLong]) -> None:
        self._ready.extendleft(reversed(list(lines)))

    def __iter__(self) -> Iterator[bytes | TooLong]:
        ready, pop = self._ready, self._ready.popleft  # a generator: cheaper per line than __next__
        while True:
            while ready:
                yield pop()
            if self._eof:
                return
            self._fill()

    def __next__(self) -> bytes | TooLong:
        ready = self._ready
        while not ready:
            if self._eof:
                raise StopIteration
            self._fill()
        return ready.popleft()

    def _chunk(self) -> bytes:
        data, self._next = self._next + self._read(_CHUNK), b""
        if data.endswith(b"\r"):  # settle whether LF follows, so CR LF is never cut in two
            more = self._read(1)
            if more == b"\n":
                data += more
            else:
                self._next = more
        return data

    def _fill(self) -> None:
        data = self._chunk()
        if not data:
            self._eof = True
            if self._skip is not None:
                self._ready.append(self._skip)
            elif self._carry:
                self._ready.append(self._checked(self._carry))
            self._carry, self._skip = b"", None
            return
        if self._skip is not None:
            m = _EOL.search(data)
            if m is None:
                self._skip.size += len(data)
                return
            end = m.end() + (data[m.start():m.end() + 1] == b"\r\n")
            self._skip.size += end
            self._ready.append(self._skip)
            self._skip, data = None, data[end:]
            if not data:
                return
        buf = self._carry + data if self._carry else data
        parts = buf.splitlines(keepends=True)
        self._carry = b"" if parts[-1][-1:] in (b"\n", b"\r") else parts.pop()
        if parts:
            if max(map(len, parts)) > self._limit:
                parts = [self._checked(p) for p in parts]  # type: ignore[misc]
            self._ready.extend(parts)
        if len(self._carry) > self._limit:
            self._skip, self._carry = TooLong(self._carry), b""

    def _checked(self, line: bytes) -> bytes | TooLong:
        return TooLong(line) if len(line) > self._limit else line


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
    return len(raw.splitlines()) or 1


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text[:30]} is out of range")
    return value


def _utf16(first: bytes) -> None:
    if first.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise InputError("line 1: the file is UTF-16; save it as UTF-8")


def _array(line: int) -> InputError:
    return InputError(f"line {line}: this is a JSON array; the publisher reads JSON Lines (one object per line)")


def read_jsonl(stream: BinaryIO | Lines, offset: int = 0, line: int = 0) -> Iterator[Item]:
    """One item per non-blank line, starting after ``line`` lines / ``offset`` bytes.

    NaN, Infinity and numbers beyond a double's range are not JSON and make the line a reject;
    a UTF-8 byte-order mark before the first record is dropped.
    """
    lines = stream if isinstance(stream, Lines) else Lines(stream)
    # json.loads(bytes) would sniff the encoding on every line
    decode = json.JSONDecoder(parse_constant=_no_constant, parse_float=_finite).decode
    first = offset == 0
    for raw in lines:
        line += 1
        if type(raw) is TooLong:
            offset += raw.size
            yield line, offset, raw.head, raw.error()
            first = False
            continue
        offset += len(raw)
        text = raw
        if first and line == 1:
            _utf16(raw)
            if raw.startswith(_BOM):
                text = raw[3:]
        try:
            obj = decode(text.decode())
        except ValueError as e:  # JSONDecodeError and UnicodeDecodeError; neither quotes the input
            if text.isspace() or not text:
                continue
            if first and text.lstrip().startswith(b"["):
                raise _array(line) from None
            yield line, offset, raw, MalformedEvent(f"not valid JSON: {e}")
            first = False
            continue
        except RecursionError:
            yield line, offset, raw, MalformedEvent("not valid JSON: nested too deeply")
            first = False
            continue
        if type(obj) is dict:
            yield line, offset, raw, obj
        elif first and type(obj) is list:
            raise _array(line)
        else:
            yield line, offset, raw, MalformedEvent(f"a line must be a JSON object, not {type(obj).__name__}")
        first = False


def read_csv_header(lines: Lines) -> tuple[list[str], int]:
    """The column names from the first line, and the byte offset just past it."""
    raw = next(lines, b"")
    if type(raw) is TooLong:
        raise InputError(f"line 1: the CSV header is longer than {MAX_RECORD_BYTES:,} bytes")
    _utf16(raw)
    try:
        text = raw.decode("utf-8-sig")  # Excel writes a byte-order mark
    except UnicodeDecodeError:
        raise InputError("line 1: the CSV header is not UTF-8") from None
    try:
        header = next(csv.reader([text], strict=True), [])
    except csv.Error as e:
        raise InputError(f"line 1: the CSV header is not valid CSV: {e}") from None
    if not header:
        raise InputError("line 1: the CSV file has no header line")
    return [h.strip() for h in header], len(raw)


class _Unclosed(Exception):
    """Raised into the csv module: the record being read has grown past ``MAX_RECORD_BYTES``."""


def _unbalanced(extra: int, why: str) -> MalformedEvent:
    after = f" ({extra:,} more line(s) read); the next line is read as a new record" if extra else ""
    return MalformedEvent(f"not valid CSV: unbalanced quote: the quoted field opened on this line {why}{after}")


def read_csv(lines: Lines, header: list[str], offset: int, line: int) -> Iterator[Item]:
    """One item per CSV record after ``line`` lines / ``offset`` bytes (the header excluded).

    Empty cells are left out of the fields, so they read as absent: ``null`` for
    nullable fields, the default where there is one, "missing" otherwise.

    A quoted field may span lines (RFC 4180). A record that spans several lines but does not
    make a valid row (a csv error, the wrong number of columns, the end of the file inside the
    quotes, or more than ``MAX_RECORD_BYTES``) is taken for an unbalanced quote: only its first
    line is rejected, and reading starts again at the line after it, so one stray quote costs
    one line, not the rows after it.
    """
    raws: list[bytes | TooLong] = []
    state = [0, False]  # bytes of the record so far, whether a line was not UTF-8

    def feed() -> Iterator[str]:
        for raw in lines:
            raws.append(raw)
            if type(raw) is TooLong:
                raise _Unclosed
            state[0] += len(raw)
            if state[0] > MAX_RECORD_BYTES:
                raise _Unclosed
            try:
                yield raw.decode()
            except UnicodeDecodeError:
                state[1] = True
                yield raw.decode(errors="replace")

    width = len(header)
    reader = csv.reader(feed(), strict=True)
    while True:
        raws.clear()
        state[0], state[1] = 0, False
        error: EventError | None = None
        try:
            row = next(reader)
        except StopIteration:
            return
        except (csv.Error, _Unclosed) as e:
            row = None
            if type(e) is _Unclosed or len(raws) > 1:
                reader = csv.reader(feed(), strict=True)  # the old one may be mid-record, or its feed ended
            if not raws:
                return
            if type(raws[0]) is TooLong:
                error = raws[0].error()
            elif len(raws) > 1:
                why = "is not closed within the record size limit" if type(e) is _Unclosed else (
                    "is not closed before the end of the file" if "end of data" in str(e)
                    else f"runs into text that is not valid CSV ({e})")
                error = _unbalanced(len(raws) - 1, why)
            elif "end of data" in str(e):
                error = _unbalanced(0, "is not closed before the end of the file")
            else:
                error = MalformedEvent(f"not valid CSV: {e}")
        if row is not None and len(raws) > 1 and len(row) != width:
            error = _unbalanced(len(raws) - 1, f"makes a record of {len(row)} columns, the header has {width}")
            reader = csv.reader(feed(), strict=True)
        first = raws[0]
        if error is not None and len(raws) > 1:
            lines.push_back(raws[1:])  # read again, as records of their own
            raws[1:] = []
        start = line + 1
        line += len(raws)
        if type(first) is TooLong:
            offset += first.size
            yield start, offset, first.head, error or first.error()
            continue
        raw = first if len(raws) == 1 else b"".join(raws)  # type: ignore[arg-type]
        offset += len(raw)
        if error is None and state[1]:
            error = MalformedEvent("not valid UTF-8")
        if error is not None:
            yield start, offset, raw, error
        elif not row:
            continue  # a blank line
        elif len(row) != width:
            yield start, offset, raw, MalformedEvent(f"{len(row)} columns, the header has {width}")
        else:
            yield start, offset, raw, {k: v for k, v in zip(header, row, strict=True) if v}
