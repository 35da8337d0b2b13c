"""A writer compiled for one flat Avro record schema: the publisher's encode, without fastavro's per-call cost.

``fastavro.schemaless_writer`` costs 9-13 us for a 55-byte payment (measured here; its reader
costs half that), which is a tenth of what ``digindex publish`` spends per record next to
kafka-python's own send (``bench.publisher``). The events' schemas are flat records of
``int``/``long``, ``string``, ``enum`` and ``["null", x]`` (as ``streams.avro_reader`` reads),
so ``compile_writer`` writes one Python function per schema that appends each field's bytes to a
``bytearray``; any other schema gets no compiled writer and stays with fastavro.

Same bytes as fastavro for every record fastavro writes faithfully
(``tests/unit/test_avro_writer.py``). Like fastavro it writes a missing field's default (null
for a nullable field without one), and takes ``bool`` and ``float`` for an integer (truncated,
as its C conversion does); unlike it, an
``int`` field outside 32 bits raises ``OverflowError`` (fastavro writes it as a long, which no
reader of the schema, ours included, accepts), as does a ``long`` outside 64 bits. A wrong type
raises ``TypeError``, an unknown enum symbol or a value of neither union branch ``ValueError``:
what fastavro raises, so callers catch the same errors.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .avro_reader import define, plain_type

__all__ = ["Writer", "compile_writer"]

#: ``writer(record, out)``: appends the record's Avro binary body to ``out``
Writer = Callable[[dict[str, Any], bytearray], None]

_LIMITS = {32: (-(2**31), 2**31 - 1), 64: (-(2**63), 2**63 - 1)}


def _integer(v: Any, bits: int, name: str) -> int:
    """``v`` as an integer of the field's width (the slow path: not an ``int`` in the small range)."""
    if type(v) is not int:
        if not isinstance(v, (int, float)):  # bool is an int
            raise TypeError(f"an integer is required on field {name}")
        v = int(v)  # ValueError for NaN, OverflowError for infinity, as fastavro
    lo, hi = _LIMITS[bits]
    if not lo <= v <= hi:
        raise OverflowError(f"{v} does not fit the {bits}-bit field {name}")
    return v


def _varint(out: bytearray, n: int) -> None:
    """Append zigzag-encoded ``n`` (within 64 bits)."""
    n = (n << 1) ^ (n >> 63)
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)


def _long_lines(expr: str, bits: int, name: str, indent: str) -> list[str]:
    """Lines that append the integer ``expr`` (a local name)."""
    return [f"{indent}if type({expr}) is not int or not -64 <= {expr} < 64:",
            f"{indent}    _varint(out, _integer({expr}, {bits}, {name!r}))",
            f"{indent}else:",
            f"{indent}    out.append(({expr} << 1) ^ ({expr} >> 63))"]


def _value_lines(name: str, t: Any, indent: str, consts: dict[str, Any]) -> list[str] | None:
    """Lines that append local ``v`` (field ``name``) of type ``t``; None for a type not compiled."""
    t = plain_type(t)
    if t in ("int", "long"):
        return _long_lines("v", 32 if t == "int" else 64, name, indent)
    if t == "string":
        return [f"{indent}if type(v) is not str:",
                f"{indent}    raise TypeError('must be string on field {name}')",
                f"{indent}b = v.encode()",
                f"{indent}n = len(b)",
                f"{indent}if n < 64:",
                f"{indent}    out.append(n << 1)",
                f"{indent}else:",
                f"{indent}    _varint(out, n)",
                f"{indent}out += b"]
    if isinstance(t, dict) and t.get("type") == "enum":
        index = f"I{len(consts)}"
        consts[index] = {s: i for i, s in enumerate(t["symbols"])}
        if len(t["symbols"]) > 64:
            return None
        return [f"{indent}i = {index}.get(v) if type(v) is str else None",
                f"{indent}if i is None:",
                f"{indent}    raise ValueError(f'{{v!r}} is not a symbol of field {name}')",
                f"{indent}out.append(i << 1)"]
    if isinstance(t, list) and len(t) == 2 and t[0] == "null":
        inner = _value_lines(name, t[1], indent + "    ", consts)
        if inner is None:
            return None
        check = {"string": "type(v) is str", "int": "isinstance(v, (int, float))",
                 "long": "isinstance(v, (int, float))"}.get(t[1] if isinstance(t[1], str) else t[1].get("type"),
                                                            "type(v) is str")
        return [f"{indent}if v is None:",
                f"{indent}    out.append(0)",
                f"{indent}elif {check}:",
                f"{indent}    out.append(2)",
                *inner,
                f"{indent}else:",
                f"{indent}    raise ValueError(f'{{v!r}} matches neither branch of field {name}')"]
    return None


def compile_writer(schema: dict[str, Any]) -> Writer | None:
    """A writer of records of ``schema`` (its JSON form), or None if it is not flat enough."""
    if schema.get("type") != "record":
        return None
    consts: dict[str, Any] = {"_varint": _varint, "_integer": _integer}
    lines = ["def write(rec, out):"]
    for f in schema["fields"]:
        name, t = f["name"], f["type"]
        body = _value_lines(name, t, "    ", consts)
        if body is None:
            return None
        if "default" in f:  # a missing field takes its default, as fastavro writes it
            consts[f"D{len(consts)}"] = f["default"]
            lines.append(f"    v = rec.get({name!r}, D{len(consts) - 1})")
        else:
            lines.append(f"    v = rec.get({name!r})")  # None: null, or the type's error
        lines += body
    return define("write", lines, consts, f"avro writer {schema.get('name')}")  # type: ignore[no-any-return]
