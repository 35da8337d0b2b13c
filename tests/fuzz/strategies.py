"""Hypothesis strategies: records of the right shape, their encodings mutated, files a bank might write."""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from hypothesis import strategies as st

from streams.avro_codec import load_schema

__all__ = ["csv_files", "jsonl_files", "mutated", "records"]

_LONG = (-(2**63), 2**63 - 1)
_INT = (-(2**31), 2**31 - 1)
#: Known districts, Aadhaar-like digit runs, IFSC-like codes: values that reach the deeper checks.
_NEAR = st.sampled_from(["45", "57", "2345 6789 0123", "234567890123", "SBIN", "SBIN0001234", "sbin", "",
                         "1617165900000", "1617165900", "2021-03-31T10:15:00+05:30", "NaN", "-1", "२३४५"])
_TEXT = st.one_of(st.text(max_size=40), _NEAR)


def _value(avro: Any) -> st.SearchStrategy[Any]:
    if isinstance(avro, list):
        return st.one_of(*(_value(t) for t in avro))
    if isinstance(avro, dict):
        if avro["type"] == "enum":
            return st.sampled_from(avro["symbols"])
        return _value(avro["type"])
    return {"null": st.none(), "string": _TEXT, "long": st.one_of(st.integers(*_LONG), st.integers(-10, 10**13)),
            "int": st.one_of(st.integers(*_INT), st.integers(40, 60)), "boolean": st.booleans(),
            "double": st.floats(), "float": st.floats(width=32)}[avro]


@cache
def records(name: str) -> st.SearchStrategy[dict[str, Any]]:
    """Records that fit the schema: any values of the right Avro types."""
    return st.fixed_dictionaries({f["name"]: _value(f["type"]) for f in load_schema(name)["fields"]})


@cache
def _fields(name: str) -> list[str]:
    return [f["name"] for f in load_schema(name)["fields"]]


@st.composite
def mutated(draw: st.DrawFn, data: bytes) -> bytes:
    """``data`` with a few bytes flipped, inserted, deleted, or cut off."""
    buf = bytearray(data)
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["flip", "insert", "delete", "truncate", "extend"]))
        at = draw(st.integers(0, max(0, len(buf) - 1)))
        if op == "flip" and buf:
            buf[at] ^= draw(st.integers(1, 255))
        elif op == "insert":
            buf[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif op == "delete" and buf:
            del buf[at:at + draw(st.integers(1, 8))]
        elif op == "truncate":
            del buf[at:]
        else:
            buf += draw(st.binary(min_size=1, max_size=8))
    return bytes(buf)


_EOL = st.sampled_from(["\n", "\r\n", "\r"])


_ODD = st.one_of(_TEXT, st.integers(), st.none(), st.floats(), st.booleans())


@st.composite
def _bank_record(draw: st.DrawFn, name: str) -> dict[str, Any]:
    """A record that fits the schema, then one field dropped or given an odd value, or neither."""
    rec = dict(draw(records(name)))
    field = draw(st.sampled_from([None, *_fields(name)]))
    if field is not None:
        if draw(st.booleans()):
            del rec[field]
        else:
            rec[field] = draw(_ODD)
    return rec


@st.composite
def jsonl_files(draw: st.DrawFn, name: str) -> bytes:
    """JSON Lines as a bank might get them wrong: odd values, broken lines, BOMs, mixed line ends."""
    lines = []
    for _ in range(draw(st.integers(0, 6))):
        text = json.dumps(draw(_bank_record(name)))
        broken = draw(st.integers(0, 7))
        if broken < 4:
            text = [text[: len(text) // 2], text + "}", "[" + text + "]", text.replace(":", "=")][broken]
        lines.append(text + draw(_EOL))
    body = "".join(lines).encode("utf-8", "surrogatepass")
    return draw(st.sampled_from([b"", b"\xef\xbb\xbf"])) + body


_CELL = st.one_of(_TEXT, st.text(alphabet=',"\r\n ab1', max_size=6))


@st.composite
def csv_files(draw: st.DrawFn, name: str) -> bytes:
    """CSV with the schema's columns (or a few wrong ones) and cells holding quotes, commas and line ends."""
    fields = _fields(name)
    header = draw(st.sampled_from([fields, [f for f in fields if f not in ("bank_code", "branch_ifsc")],
                                   [*fields, "extra"], ['"a', "b"]]))
    eol = draw(_EOL)
    rows = [",".join(header)]
    for _ in range(draw(st.integers(0, 6))):
        rec = draw(_bank_record(name))
        cells = ["" if rec.get(col) is None else str(rec.get(col)) for col in header]
        odd = draw(st.integers(0, len(cells) + 2))
        if odd < len(cells):
            cells[odd] = draw(_CELL)
        cells = ['"' + c.replace('"', '""') + '"' if any(x in c for x in ',"\r\n') and draw(st.booleans()) else c
                 for c in cells]
        rows.append(",".join(cells))
    return (draw(st.sampled_from(["", "\ufeff"])) + eol.join(rows) + draw(st.sampled_from(["", eol]))).encode(
        "utf-8", "surrogatepass")
