"""Avro single-object encoding (the Avro spec's fingerprinted header) for our events.

Wire format: ``C3 01`` + the 8-byte little-endian CRC-64-AVRO fingerprint of the
writer schema's Parsing Canonical Form + the Avro binary body. A reader looks the
writer schema up by fingerprint and resolves it against its own schema, so older
and newer compatible writers are both read correctly. Writer schemas are the
``schemas/*.avsc`` files plus any extra directory given (e.g. schemas published
by banks ahead of a reader upgrade).
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterable
from functools import cache
from pathlib import Path
from typing import Any

import fastavro
from fastavro.schema import to_parsing_canonical_form

from .avro_reader import compile_reader, plain_type
from .avro_writer import compile_writer
from .errors import MalformedEvent, UnknownSchema

__all__ = ["MAGIC", "AvroCodec", "codec_for", "crc64_avro", "load_schema", "schema_files"]

MAGIC = b"\xc3\x01"
_EMPTY = 0xC15D213AA4D7A795


def _table() -> list[int]:
    table = []
    for i in range(256):
        fp = i
        for _ in range(8):
            fp = (fp >> 1) ^ (_EMPTY & -(fp & 1))
        table.append(fp)
    return table


_TABLE = _table()


def crc64_avro(data: bytes) -> int:
    """The Avro spec's 64-bit Rabin fingerprint."""
    fp = _EMPTY
    for b in data:
        fp = (fp >> 8) ^ _TABLE[(fp ^ b) & 0xFF]
    return fp


def _fingerprint(schema: dict[str, Any]) -> bytes:
    return crc64_avro(to_parsing_canonical_form(schema).encode()).to_bytes(8, "little")


def _plain(schema: Any) -> Any:
    """``schema`` without logical types: timestamps stay epoch milliseconds (ints).

    Parsing Canonical Form ignores logical types, so fingerprints are unchanged,
    and decoding skips a datetime per event.
    """
    if isinstance(schema, dict):
        return {k: _plain(v) for k, v in schema.items() if k != "logicalType"}
    if isinstance(schema, list):
        return [_plain(v) for v in schema]
    return schema


def _schema_dir() -> Path:
    """The directory of the shipped ``.avsc`` files.

    The repository keeps them once, in ``schemas/`` at its root. An installed package carries
    them as ``streams/schemas/`` (pyproject.toml maps them there); a source checkout, which the
    tests and an editable install import ``streams`` from, has no such directory and uses the
    root's ``schemas/`` next to the package.
    """
    package = Path(__file__).resolve().parent
    for candidate in (package / "schemas", package.parent / "schemas"):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"no schemas/ in {package} nor next to it: the package was built without its schemas")


def schema_files() -> list[Path]:
    """The shipped ``.avsc`` files."""
    return sorted(_schema_dir().glob("*.avsc"))


def load_schema(name: str) -> dict[str, Any]:
    """The shipped schema for record ``name`` (e.g. ``PaymentEvent``), as JSON."""
    return json.loads((_schema_dir() / f"{name}.avsc").read_text(encoding="utf-8"))


def _int_fields(schema: dict[str, Any]) -> tuple[str, ...]:
    """The record's top-level ``int`` fields (nullable ones too): 32 bits wide, which fastavro does not check.

    fastavro reads an ``int`` as it reads a ``long``: a varint up to 64 bits comes back as it is,
    so an ``int`` field can read as -2**63, which no writer of the schema could have sent and which
    our writer refuses to re-encode (found by ``tests/fuzz``, through an older writer's schema).
    The compiled reader refuses such values itself; what fastavro reads is checked here. (A
    varint past 64 bits fastavro wraps to 64, which cannot be told afterwards; the compiled reader,
    which reads every event of our own schema, refuses it.)
    """
    names = []
    for f in schema.get("fields", ()):
        t = plain_type(f["type"])
        if isinstance(t, list) and len(t) == 2 and t[0] == "null":
            t = plain_type(t[1])
        if t == "int":
            names.append(f["name"])
    return tuple(names)


class AvroCodec:
    """Encode records with one reader/writer schema; decode any known writer schema."""

    def __init__(self, schema: dict[str, Any], writer_schemas: Iterable[dict[str, Any]] = ()) -> None:
        self.name: str = schema["name"]
        self._schema = fastavro.parse_schema(_plain(schema))
        self._fingerprint = _fingerprint(schema)
        self._header = MAGIC + self._fingerprint
        #: our own schema's compiled reader (``streams.avro_reader``), None where fastavro reads it
        self._read = compile_reader(_plain(schema))
        #: and its compiled writer (``streams.avro_writer``), None where fastavro writes it
        self._write = compile_writer(_plain(schema))
        #: the 32-bit fields whose range a record read by fastavro is checked against
        self._int_fields = _int_fields(_plain(schema))
        # fingerprint -> parsed writer schema; None means "same as ours" (fast path).
        self._writers: dict[bytes, Any] = {self._fingerprint: None}
        for w in writer_schemas:
            if w.get("name") == self.name and _fingerprint(w) != self._fingerprint:
                self._writers[_fingerprint(w)] = fastavro.parse_schema(_plain(w))

    @property
    def fingerprint(self) -> bytes:
        return self._fingerprint

    def encode(self, record: dict[str, Any]) -> bytes:
        """Single-object encoding of ``record`` (which must already be valid)."""
        if self._write is not None:
            out = bytearray(self._header)
            self._write(record, out)
            return bytes(out)
        buf = io.BytesIO()
        buf.write(self._header)
        fastavro.schemaless_writer(buf, self._schema, record)
        return buf.getvalue()

    def decode(self, data: bytes) -> dict[str, Any]:
        """The record in ``data``, resolved to our schema; raises ``EventError`` subclasses."""
        if len(data) < 10 or data[:2] != MAGIC:
            raise MalformedEvent("not Avro single-object encoding (bad magic)")
        fp = data[2:10]
        try:
            writer = self._writers[fp]
        except KeyError:
            raise UnknownSchema(f"unknown writer schema fingerprint {fp[::-1].hex()}") from None
        if writer is None and self._read is not None:
            try:
                record, end = self._read(data, 10)
            except Exception as exc:  # truncated, overlong or out-of-range: hostile or corrupt input
                raise MalformedEvent(f"Avro body does not decode: {type(exc).__name__}") from None
            if end != len(data):
                raise MalformedEvent(f"{len(data) - end} trailing bytes after the record")
            return record
        buf = io.BytesIO(data)
        buf.seek(10)
        try:
            if writer is None:
                record = fastavro.schemaless_reader(buf, self._schema, None)
            else:
                record = fastavro.schemaless_reader(buf, writer, self._schema)
        except Exception as exc:  # fastavro raises many types on corrupt input
            raise MalformedEvent(f"Avro body does not decode: {type(exc).__name__}") from None
        if buf.tell() != len(data):
            raise MalformedEvent(f"{len(data) - buf.tell()} trailing bytes after the record")
        for name in self._int_fields:
            v = record.get(name)  # type: ignore[union-attr]
            if v is not None and not -(2**31) <= v < 2**31:
                raise MalformedEvent(f"Avro body does not decode: {name} wider than 32 bits")
        return record  # type: ignore[return-value]

    def map_strings(self, data: bytes, fn: Callable[[str], str]) -> bytes | None:
        """``data`` re-encoded in its own writer schema with every string passed through ``fn``.

        None if ``data`` is not a record this codec can decode. Used to mask Aadhaar-like
        values in dead letters without breaking the Avro framing.
        """
        if len(data) < 10 or data[:2] != MAGIC or data[2:10] not in self._writers:
            return None
        schema = self._writers[data[2:10]] or self._schema
        buf = io.BytesIO(data)
        buf.seek(10)
        try:
            record = fastavro.schemaless_reader(buf, schema, None)
        except Exception:
            return None
        if buf.tell() != len(data):
            return None
        out = io.BytesIO()
        out.write(data[:10])
        fastavro.schemaless_writer(out, schema, _map_strings(record, fn))
        return out.getvalue()


def _map_strings(value: Any, fn: Callable[[str], str]) -> Any:
    if isinstance(value, str):
        return fn(value)
    if isinstance(value, dict):
        return {k: _map_strings(v, fn) for k, v in value.items()}
    if isinstance(value, list):
        return [_map_strings(v, fn) for v in value]
    return value


def _extra_schemas(extra_dir: str | None) -> list[dict[str, Any]]:
    files = list(schema_files())
    if extra_dir:
        files += sorted(Path(extra_dir).glob("*.avsc"))
    return [json.loads(f.read_text(encoding="utf-8")) for f in files]


@cache
def codec_for(name: str, extra_schema_dir: str | None = None) -> AvroCodec:
    """The codec for record ``name``, knowing the shipped and any extra writer schemas."""
    return AvroCodec(load_schema(name), _extra_schemas(extra_schema_dir))
