"""Where refused records go: a line on stderr and a JSON line in the rejects file.

Both carry the line number, field, reason code and message, and the rejects file
also the original line so the bank can fix and republish it. Everything passes
through ``redact`` first: a record refused *because* it holds an Aadhaar number
must not leak that number into the very file that reports it.

The file is opened lazily (a clean run leaves none behind). On a resumed run it
is cut back to the size the checkpoint recorded, so the records re-read after a
kill are not reported twice.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import BinaryIO, TextIO

from ..aadhaar import redact
from ..errors import EventError

__all__ = ["Rejects", "describe", "entry", "redact_line"]


def _redact_values(value: object) -> object:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {redact(k): _redact_values(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact_values(v) for v in value]
    return value


def redact_line(text: str) -> str:
    """The input line, redacted. A JSON line is redacted value by value after parsing, since a
    JSON escape (``"\\u0032345..."``) hides a number from a scan of the raw text; other lines
    (CSV, broken JSON) are scanned as text."""
    try:
        parsed = json.loads(text)
        if not isinstance(parsed, (dict, list)):
            return redact(text)
        return redact(json.dumps(_redact_values(parsed), ensure_ascii=False))  # numbers too
    except (ValueError, RecursionError):  # not JSON, or nested too deeply to walk
        return redact(text)


def describe(source: str, line: int, error: EventError) -> str:
    """``FILE:LINE: field: code: message``, redacted, for stderr."""
    return redact(f"{source}:{line}: {error.field or '-'}: {error.code}: {error}")


def entry(line: int, error: EventError, raw: bytes) -> bytes:
    """The rejects file's JSON line for one refused record.

    Always valid UTF-8: a lone surrogate (``"\\ud800"`` in the input) is written as its JSON escape.
    """
    data = {
        "line": line,
        "field": redact(error.field) if error.field else None,
        "code": error.code,
        "message": redact(str(error)),
        "input": redact_line(raw.decode("utf-8", errors="replace").rstrip("\r\n")),
    }
    return json.dumps(data, ensure_ascii=False).encode("utf-8", errors="backslashreplace") + b"\n"


class Rejects:
    """Reports refused records; ``keep_bytes`` is the size to keep from an earlier run (None: start afresh)."""

    def __init__(self, path: Path, source: str, err: TextIO, keep_bytes: int | None = None) -> None:
        self.path = path
        self.source = source
        self.count = 0
        self._err = err
        self._file: BinaryIO | None = None
        self._dirty = False
        if keep_bytes is None:
            path.unlink(missing_ok=True)
            self._size = 0
        else:
            try:
                self._size = min(path.stat().st_size, keep_bytes)
                os.truncate(path, self._size)
            except FileNotFoundError:
                self._size = 0

    def add(self, line: int, error: EventError, raw: bytes) -> None:
        """Report one refused record."""
        self.count += 1
        print(describe(self.source, line, error), file=self._err)
        data = entry(line, error, raw)
        if self._file is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self.path.open("ab")
        self._file.write(data)
        self._dirty = True

    def sync(self) -> int:
        """Make every reported line durable; return the file's size (for the checkpoint)."""
        if self._file is not None and self._dirty:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._size = self._file.tell()
            self._dirty = False
        return self._size

    def close(self) -> None:
        self.sync()
        if self._file is not None:
            self._file.close()
            self._file = None
