"""A reader compiled for one flat Avro record schema: the events' decode, without fastavro's per-call setup.

Every message a worker takes is decoded once, and with the payment lines' fields the decode
became the largest part of digindex's per-event code (``bench.micro``: 6-10 us of ~50, a 55-byte
record through ``fastavro.schemaless_reader``, a third of it the call's own set-up and the
``BytesIO`` around it). The events' schemas are flat records of ``int``/``long`` (logical types
stripped: epoch milliseconds and days stay ints), ``string``, ``enum`` and ``["null", x]``, so
``compile_reader`` writes one Python function per schema that reads the fields in order, straight
from the bytes: a one-byte varint (most ints, every enum and union index) is one comparison.
A schema with anything else (arrays, maps, nested records, floats, bytes) gets no compiled reader
and stays with fastavro.

Stricter than fastavro on hostile input, never looser: a value wider than its type (64 bits for
a ``long``, 32 for an ``int``: fastavro wraps them or fails later, re-encoding), an enum or
union index out of range (fastavro takes a negative enum index as Python does, from the end),
a negative or overrunning string length and invalid UTF-8 all raise ``ValueError``, where fastavro
raises on the same inputs or silently returns a wrapped or wrong value. Where both read a
record it is the same one, and what this refuses fastavro refuses too or misreads
(``tests/unit/test_avro_reader.py``: property tests over random records and random bytes).
Resolution of another writer's schema (older and newer producers) stays with fastavro; this is
the reader of our own schema only.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["Reader", "compile_reader", "define", "plain_type"]

#: ``reader(data, pos) -> (record, end)``: the record starting at ``pos`` and the offset after it
Reader = Callable[[bytes, int], tuple[dict[str, Any], int]]


def _varint(data: bytes, pos: int, bits: int = 64) -> tuple[int, int]:
    """A zigzag-encoded varint at ``pos`` (its first byte has the high bit set) as a signed
    ``bits``-bit integer (Avro ``long``: 64, ``int``: 32), and the offset after it."""
    n = 0
    shift = 0
    while True:
        b = data[pos]
        pos += 1
        n |= (b & 0x7F) << shift
        if b < 0x80:
            if n >> bits:
                raise ValueError(f"varint wider than {bits} bits")
            return (n >> 1) ^ -(n & 1), pos
        shift += 7
        if shift > bits:
            raise ValueError(f"varint wider than {bits} bits")


def _read_long(target: str, indent: str, bits: int = 64) -> list[str]:
    """Lines that read one zigzag varint (a ``bits``-bit integer) into ``target``."""
    return [f"{indent}b = data[pos]",
            f"{indent}if b < 128:",
            f"{indent}    {target} = (b >> 1) ^ -(b & 1)",
            f"{indent}    pos += 1",
            f"{indent}else:",
            f"{indent}    {target}, pos = _varint(data, pos, {bits})"]


def plain_type(t: Any) -> Any:
    """``t`` with an integer's wrapper dropped (``{"type": "long"}``, a logical type over it: the int;
    ``avro_codec._plain`` strips the logical types, leaving the wrapper)."""
    if isinstance(t, dict) and t.get("type") in ("int", "long") and set(t) <= {"type", "logicalType"}:
        return t["type"]
    return t


def define(name: str, lines: list[str], consts: dict[str, Any], label: str) -> Any:
    """Function ``name`` as the source ``lines`` define it, with ``consts`` as its globals (the
    compiled reader's and writer's; ``<label>`` in tracebacks)."""
    namespace = dict(consts)
    exec(compile("\n".join(lines), f"<{label}>", "exec"), namespace)
    return namespace[name]


def _field(name: str, t: Any, indent: str, consts: dict[str, Any]) -> list[str] | None:
    """Lines that read one value of type ``t`` into ``rec[name]``; None for a type not compiled."""
    t = plain_type(t)
    slot = f"rec[{name!r}]"
    if t in ("int", "long"):
        return _read_long(slot, indent, 32 if t == "int" else 64)
    if t == "string":
        return [*_read_long("n", indent),
                f"{indent}end = pos + n",
                f"{indent}if n < 0 or end > size:",
                f"{indent}    raise ValueError('string length out of range')",
                f"{indent}{slot} = data[pos:end].decode()",
                f"{indent}pos = end"]
    if isinstance(t, dict) and t.get("type") == "enum":
        symbols = f"S{len(consts)}"
        consts[symbols] = tuple(t["symbols"])
        return [*_read_long("n", indent),
                f"{indent}if not 0 <= n < {len(t['symbols'])}:",
                f"{indent}    raise ValueError('enum index out of range')",
                f"{indent}{slot} = {symbols}[n]"]
    if isinstance(t, list) and len(t) == 2 and t[0] == "null":
        inner = _field(name, t[1], indent + "    ", consts)
        if inner is None:
            return None
        return [*_read_long("u", indent),
                f"{indent}if u == 0:",
                f"{indent}    {slot} = None",
                f"{indent}elif u == 1:",
                *inner,
                f"{indent}else:",
                f"{indent}    raise ValueError('union index out of range')"]
    return None


def compile_reader(schema: dict[str, Any]) -> Reader | None:
    """A reader of records written with ``schema`` (its JSON form), or None if it is not flat enough."""
    if schema.get("type") != "record":
        return None
    consts: dict[str, Any] = {"_varint": _varint}
    lines = ["def read(data, pos):", "    size = len(data)", "    rec = {}"]
    for f in schema["fields"]:
        body = _field(f["name"], f["type"], "    ", consts)
        if body is None:
            return None
        lines += body
    lines.append("    return rec, pos")
    return define("read", lines, consts, f"avro reader {schema.get('name')}")  # type: ignore[no-any-return]
