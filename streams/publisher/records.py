"""Turning a parsed line (JSON object or CSV row) into a record that fits the Avro schema.

Converters are derived from the ``.avsc`` once, so the publisher follows schema
changes without code changes and the per-record path is one dict lookup and one
small function per field. A record that leaves :meth:`RecordBuilder.build` is
schema-conformant: the codec cannot fail on it, and a bad value is refused here
with the field's name instead of as an opaque encoder error.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

from ..aadhaar import redact
from ..errors import BankMismatch, MalformedEvent

__all__ = ["BLANK_IS_NULL", "MS_RANGE", "BankMismatch", "RecordBuilder", "parse_timestamp_ms"]

Converter = Callable[[Any], Any]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)
_INT_RANGE = {"int": (-(2**31), 2**31 - 1), "long": (-(2**63), 2**63 - 1)}
_MISSING = object()
#: Nullable fields where a blank string (empty or spaces, as a spreadsheet export writes an unset
#: code into JSON) means "none": the field's default (null), as an empty CSV cell does. Elsewhere
#: a blank string stays a value (and is refused if it is not a valid one).
BLANK_IS_NULL = frozenset({"department_code", "camp_ref", "holder_age_band"})


#: Numbers for occurred_at are epoch milliseconds, and only those from 1973-03-03 (10^11 ms) to year 5138
#: (10^14 ms) are taken: below, a number is almost surely epoch seconds (10^11 s is year 5138), and
#: would otherwise read as a day in January 1970; above, microseconds or nanoseconds.
MS_RANGE = (10**11, 10**14)
_DIGITS = re.compile(r"-?[0-9]+")
_NUMBER = re.compile(r"-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?")


def _epoch_ms(ms: int) -> int:
    lo, hi = MS_RANGE
    if ms < lo:
        hint = "; epoch seconds? multiply them by 1000" if 10**8 <= ms < lo else ""
        raise MalformedEvent(f"occurred_at {_show(ms)} is not epoch milliseconds (before 1973-03-03){hint}",
                             "occurred_at")
    if ms >= hi:
        raise MalformedEvent(f"occurred_at {_show(ms)} is not epoch milliseconds (after year 5000): epoch "
                             "microseconds or nanoseconds?", "occurred_at")
    return ms


def parse_timestamp_ms(value: Any) -> int:
    """Epoch milliseconds from an int, a string of digits, or ISO-8601 with a UTC offset.

    A timestamp without an offset is refused: guessing IST or UTC would shift a
    whole file by 5.5 hours without anyone noticing. A number outside ``MS_RANGE``
    is refused rather than guessed at: epoch seconds taken for milliseconds would
    put a whole file in January 1970.
    """
    if type(value) is int:
        return _epoch_ms(value)
    if type(value) is not str:
        raise MalformedEvent(f"occurred_at must be ISO-8601 or epoch milliseconds, not {type(value).__name__}",
                             "occurred_at")
    if _DIGITS.fullmatch(value):
        if len(value) > 20:
            raise MalformedEvent(f"occurred_at {_show(value)} is not epoch milliseconds", "occurred_at")
        return _epoch_ms(int(value))
    try:
        dt = datetime.fromisoformat(value)
    except ValueError:
        raise MalformedEvent(f"occurred_at {_show(value)} is not ISO-8601", "occurred_at") from None
    if dt.tzinfo is None:
        raise MalformedEvent(f"occurred_at {_show(value)} has no UTC offset (add Z or +05:30)", "occurred_at")
    return (dt - _EPOCH) // _MS  # years 1-9999: before 1970 and future instants are check_event's to refuse


def _show(value: Any) -> str:
    """``repr(value)`` fit for a message: redacted first (so no Aadhaar digits survive), then cut."""
    text = redact(repr(value))
    return text if len(text) <= 60 else text[:57] + "..."


def _type_error(name: str, expected: str, value: Any) -> MalformedEvent:
    return MalformedEvent(f"{name} must be {expected}, not {type(value).__name__} {_show(value)}", name)


def _string(name: str) -> Converter:
    def conv(v: Any) -> Any:
        if type(v) is str:
            if v.isascii():
                return v
            try:
                v.encode()
            except UnicodeEncodeError:  # a lone surrogate from a JSON escape ("\\ud800"): not text
                raise MalformedEvent(f"{name} is not valid Unicode (a lone surrogate)", name) from None
            return v
        raise _type_error(name, "a string", v)
    return conv


def _integer(name: str, kind: str) -> Converter:
    lo, hi = _INT_RANGE[kind]

    def conv(v: Any) -> Any:
        if type(v) is not int:
            # ASCII digits only: int() would also take " 45", "4_5" and other scripts' digits
            if type(v) is not str or not _DIGITS.fullmatch(v):
                raise _type_error(name, "an integer", v)
            if len(v) > 25:
                raise MalformedEvent(f"{name} {_show(v)} does not fit an Avro {kind}", name)
            v = int(v)
        if lo <= v <= hi:
            return v
        raise MalformedEvent(f"{name} {_show(v)} does not fit an Avro {kind}", name)
    return conv


def _floating(name: str) -> Converter:
    def conv(v: Any) -> Any:
        f: float | None = None
        if type(v) is int:
            f = float(v) if abs(v) < 2**1023 else math.inf
        elif type(v) is float:
            f = v
        elif type(v) is str and _NUMBER.fullmatch(v):
            f = float(v)
        if f is None:
            raise _type_error(name, "a number", v)
        if not math.isfinite(f):
            raise MalformedEvent(f"{name} {_show(v)} is not a finite number", name)
        return f
    return conv


def _boolean(name: str) -> Converter:
    words = {"true": True, "false": False}

    def conv(v: Any) -> Any:
        if type(v) is bool:
            return v
        if type(v) is str and v.lower() in words:
            return words[v.lower()]
        raise _type_error(name, "true or false", v)
    return conv


def _enum(name: str, symbols: list[str]) -> Converter:
    allowed = frozenset(symbols)

    def conv(v: Any) -> Any:
        if type(v) is str and v in allowed:
            return v
        raise MalformedEvent(f"{name} {_show(v)} is not one of {', '.join(symbols)}", name)
    return conv


def _timestamp(name: str) -> Converter:
    def conv(v: Any) -> Any:
        try:
            return parse_timestamp_ms(v)
        except MalformedEvent as e:
            e.field = name
            raise
    return conv


def _date(name: str) -> Converter:
    """An Avro ``date`` (days since 1970-01-01) from an ISO date (``2026-12-01``) or a day number."""
    integer = _integer(name, "int")

    def conv(v: Any) -> Any:
        if type(v) is str and not _DIGITS.fullmatch(v):
            try:
                return (date.fromisoformat(v) - _EPOCH.date()).days
            except ValueError:
                raise MalformedEvent(f"{name} {_show(v)} is not an ISO date (YYYY-MM-DD) or a day number",
                                     name) from None
        return integer(v)
    return conv


def _array(name: str, items: Converter) -> Converter:
    """An Avro array: a JSON list, or (a CSV cell) its items separated by ``;``, ``[]`` for none.

    An empty CSV cell is a missing value (the reader drops it), so the empty list has a spelling.
    """
    def conv(v: Any) -> Any:
        if type(v) is str:
            v = [] if v.strip() == "[]" else [part.strip() for part in v.split(";")]
        if type(v) is not list:
            raise MalformedEvent(f"{name} {_show(v)} is not a list (in CSV: items separated by ';', "
                                 "[] for none)", name)
        return [items(x) for x in v]
    return conv


def _nullable(inner: Converter) -> Converter:
    def conv(v: Any) -> Any:
        return None if v is None else inner(v)
    return conv


def _blank_is_null(inner: Converter) -> Converter:
    def conv(v: Any) -> Any:
        return None if v is None or (type(v) is str and not v.strip()) else inner(v)
    return conv


def _converter(name: str, avro_type: Any) -> Converter:
    """The converter for one field's Avro type; unsupported types fail at start-up, not per record."""
    if isinstance(avro_type, list):
        rest = [t for t in avro_type if t != "null"]
        if len(rest) != 1 or len(rest) == len(avro_type):
            raise NotImplementedError(f"field {name}: only ['null', T] unions are supported")
        return _nullable(_converter(name, rest[0]))
    if isinstance(avro_type, dict):
        kind = avro_type["type"]
        if kind == "enum":
            return _enum(name, avro_type["symbols"])
        if kind == "long" and avro_type.get("logicalType") in ("timestamp-millis", "timestamp-micros"):
            if avro_type["logicalType"] != "timestamp-millis":
                raise NotImplementedError(f"field {name}: only timestamp-millis is supported")
            return _timestamp(name)
        if kind == "int" and avro_type.get("logicalType") == "date":
            return _date(name)
        if kind == "array":
            return _array(name, _converter(name, avro_type["items"]))
        return _converter(name, kind)
    if avro_type == "string":
        return _string(name)
    if avro_type in _INT_RANGE:
        return _integer(name, avro_type)
    if avro_type in ("float", "double"):
        return _floating(name)
    if avro_type == "boolean":
        return _boolean(name)
    raise NotImplementedError(f"field {name}: Avro type {avro_type!r} is not supported by the publisher")


class RecordBuilder:
    """Builds schema-conformant records for one schema and one bank.

    Input keys are the Avro field names. An absent key takes the field's default
    (``null`` for nullable fields), and so does a blank string in a ``BLANK_IS_NULL``
    field; ``bank_code`` is filled from the bank, and a different ``bank_code`` is
    refused so one bank cannot publish as another. Whether a ``department_code`` is a
    known department is ``check_event``'s to decide (``unknown_department``), as the
    worker does.
    """

    def __init__(self, schema: dict[str, Any], bank_code: str) -> None:
        self.bank_code = bank_code
        self.fields: list[tuple[str, Converter, Any]] = []
        for f in schema["fields"]:
            default = f.get("default", _MISSING)
            if f["name"] == "bank_code":
                default = bank_code
            conv = _converter(f["name"], f["type"])
            if f["name"] in BLANK_IS_NULL and isinstance(f["type"], list) and "null" in f["type"]:
                conv = _blank_is_null(conv)
            self.fields.append((f["name"], conv, default))
        self.names = frozenset(name for name, _, _ in self.fields)
        #: Fields a CSV header must have: no default and not filled in by the publisher.
        self.required = [name for name, _, default in self.fields if default is _MISSING]

    def check_columns(self, columns: list[str]) -> None:
        """Raise ``ValueError`` for a CSV header that would make every row a reject."""
        unknown = [c for c in columns if c not in self.names]
        if unknown:
            raise ValueError(f"unknown column(s) {', '.join(map(_show, unknown))}; "
                             f"columns are the Avro field names: {', '.join(n for n, _, _ in self.fields)}")
        dupes = sorted({c for c in columns if columns.count(c) > 1})
        if dupes:
            raise ValueError(f"duplicate column(s) {', '.join(dupes)}")
        missing = [n for n in self.required if n not in columns]
        if missing:
            raise ValueError(f"missing required column(s) {', '.join(missing)}")

    def build(self, obj: dict[str, Any]) -> dict[str, Any]:
        """The Avro record for ``obj``; raises ``EventError`` naming the first bad field."""
        if not obj.keys() <= self.names:
            unknown = sorted(obj.keys() - self.names)[0]
            raise MalformedEvent(f"unknown field {_show(unknown)} (field names are the Avro field names)",
                                 redact(unknown))
        record: dict[str, Any] = {}
        for name, conv, default in self.fields:
            value = obj.get(name, _MISSING)
            if value is _MISSING:
                if default is _MISSING:
                    raise MalformedEvent(f"required field {name} is missing", name)
                record[name] = default
            else:
                record[name] = conv(value)
        if record["bank_code"] != self.bank_code:
            raise BankMismatch(f"bank_code {_show(record['bank_code'])} is not the publishing bank "
                               f"{self.bank_code!r}", "bank_code")
        return record
