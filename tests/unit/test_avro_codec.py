"""The single-object Avro codec: wire format, fingerprints, errors, and schema evolution both ways."""

from __future__ import annotations

import io
import json
import struct
from pathlib import Path
from typing import Any

import fastavro
import pytest
from fastavro.schema import fingerprint, to_parsing_canonical_form

from streams.avro_codec import MAGIC, AvroCodec, codec_for, crc64_avro, load_schema, schema_files
from streams.errors import MalformedEvent, UnknownSchema

from .factories import T0, payment, seeding_event

SCHEMAS = Path(__file__).parent / "schemas"
OLD_DIR, NEW_DIR = SCHEMAS / "old", SCHEMAS / "new"


def read_schema(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


OLD = read_schema(OLD_DIR / "PaymentEvent.avsc")
NEW = read_schema(NEW_DIR / "PaymentEvent.avsc")
CURRENT = load_schema("PaymentEvent")


def full_payment(**changes: Any) -> dict[str, Any]:
    """A payment with every field set to a non-default value."""
    fields: dict[str, Any] = {"ts": T0 + 123, "lgd": 49, "bank": "PUNB", "channel": "UPI_QR", "amount": 2_500_075,
                              "status": "TECHNICAL_DECLINE", "branch_ifsc": "PUNB0123400", "purpose": "BILL_WATER"}
    return payment("evt-1", **{**fields, **changes})


# --- round trips and the wire format -------------------------------------------------------------


def test_round_trip_payment() -> None:
    codec = codec_for("PaymentEvent")
    rec = full_payment()
    assert codec.decode(codec.encode(rec)) == rec
    nulls = payment(branch_ifsc=None)
    assert codec.decode(codec.encode(nulls)) == nulls


def test_round_trip_seeding() -> None:
    codec = codec_for("SeedingEvent")
    rec = seeding_event(account="SBIN-ACC-0000042", status="NOT_SEEDED")
    assert codec.decode(codec.encode(rec)) == rec


def test_timestamps_stay_epoch_milliseconds() -> None:
    codec = codec_for("PaymentEvent")
    out = codec.decode(codec.encode(full_payment()))
    assert type(out["occurred_at"]) is int and out["occurred_at"] == T0 + 123


@pytest.mark.parametrize("name", ["PaymentEvent", "SeedingEvent"])
def test_single_object_header(name: str) -> None:
    schema = load_schema(name)
    codec = codec_for(name)
    rec = full_payment() if name == "PaymentEvent" else seeding_event()
    data = codec.encode(rec)
    pcf = to_parsing_canonical_form(schema)
    assert data[:2] == b"\xc3\x01" == MAGIC
    assert data[2:10] == bytes.fromhex(fingerprint(pcf, "CRC-64-AVRO"))
    assert data[2:10] == struct.pack("<Q", crc64_avro(pcf.encode()))
    assert codec.fingerprint == data[2:10]
    body = io.BytesIO()
    fastavro.schemaless_writer(body, fastavro.parse_schema(schema), rec)
    assert data[10:] == body.getvalue(), "the body is plain Avro binary"


def test_fingerprint_ignores_docs_and_logical_types() -> None:
    stripped = json.loads(json.dumps(CURRENT))
    stripped.pop("doc")
    for f in stripped["fields"]:
        f.pop("doc", None)
    stripped["fields"][1]["type"] = "long"  # occurred_at without its logicalType
    assert AvroCodec(stripped).fingerprint == codec_for("PaymentEvent").fingerprint


# Apache Avro's published CRC-64-AVRO test vectors (share/test/data/schema-tests.txt), as signed longs.
SPEC_VECTORS = [
    ('"null"', 7195948357588979594),
    ('"boolean"', -6970731678124411036),
    ('"int"', 8247732601305521295),
    ('"long"', -3434872931120570953),
    ('"string"', -8142146995180207161),
    ('{"name":"foo","type":"fixed","size":15}', 1756455273707447556),
    ('{"name":"foo","type":"record","fields":[{"name":"f1","type":"boolean"}]}', 7843277075252814651),
    ('{"name":"PigValue","type":"record","fields":[{"name":"value","type":["null","int","long","PigValue"]}]}',
     -1759257747318642341),
]


@pytest.mark.parametrize(("canonical", "signed"), SPEC_VECTORS)
def test_crc64_avro_spec_vectors(canonical: str, signed: int) -> None:
    assert crc64_avro(canonical.encode()) == signed & 0xFFFF_FFFF_FFFF_FFFF
    assert crc64_avro(canonical.encode()).to_bytes(8, "little").hex() == fingerprint(canonical, "CRC-64-AVRO")


def test_crc64_of_nothing_is_the_empty_fingerprint() -> None:
    assert crc64_avro(b"") == 0xC15D213AA4D7A795


def test_shipped_schema_files() -> None:
    assert sorted(p.name for p in schema_files()) == ["AccountEnablementEvent.avsc", "AccountReleased.avsc",
                                                      "GrievanceEvent.avsc", "PaymentEvent.avsc",
                                                      "PaymentEvent.v1.avsc", "SchemeEnrolmentEvent.avsc",
                                                      "SeedingEvent.avsc"]


# --- errors ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("data", [b"", b"\xc3", b"\xc3\x01" + b"\x00" * 7, b"{\"event_id\": 1}",
                                  b"\x00\x01" + b"\x00" * 20, b"\xc3\x02" + b"\x00" * 20])
def test_bad_magic_or_too_short(data: bytes) -> None:
    with pytest.raises(MalformedEvent) as exc:
        codec_for("PaymentEvent").decode(data)
    assert exc.value.code == "malformed"


def test_unknown_fingerprint() -> None:
    codec = codec_for("PaymentEvent")
    data = codec.encode(full_payment())
    forged = data[:2] + bytes(8) + data[10:]
    with pytest.raises(UnknownSchema) as exc:
        codec.decode(forged)
    assert exc.value.code == "unknown_schema"
    assert "0000000000000000" in str(exc.value)


def test_seeding_bytes_are_not_a_payment() -> None:
    with pytest.raises(UnknownSchema):
        codec_for("PaymentEvent").decode(codec_for("SeedingEvent").encode(seeding_event()))


def test_trailing_bytes() -> None:
    codec = codec_for("PaymentEvent")
    data = codec.encode(full_payment())
    with pytest.raises(MalformedEvent, match="1 trailing bytes"):
        codec.decode(data + b"\x00")
    with pytest.raises(MalformedEvent, match="3 trailing bytes"):
        codec.decode(data + b"abc")


def test_every_truncation_is_malformed() -> None:
    codec = codec_for("PaymentEvent")
    data = codec.encode(full_payment())
    for n in range(10, len(data)):
        with pytest.raises(MalformedEvent):
            codec.decode(data[:n])


def test_corrupt_body_is_malformed() -> None:
    codec = codec_for("PaymentEvent")
    data = bytearray(codec.encode(full_payment()))
    data[10] = 0x7F  # event_id length -64: negative
    with pytest.raises(MalformedEvent):
        codec.decode(bytes(data))
    enum_out_of_range = codec.encode(full_payment())[:-1] + b"\x7e"  # purpose index 63
    with pytest.raises(MalformedEvent):
        codec.decode(enum_out_of_range)


# --- schema evolution ------------------------------------------------------------------------------


def old_record() -> dict[str, Any]:
    rec = full_payment()
    del rec["branch_ifsc"], rec["department_code"]
    return rec


def v1_record() -> dict[str, Any]:
    """A payment as writers before ``department_code`` (the shipped ``PaymentEvent.v1.avsc``) send it."""
    rec = full_payment()
    del rec["department_code"]
    return rec


V1 = load_schema("PaymentEvent.v1")


def test_v1_writer_is_shipped_and_reads_with_department_code_none() -> None:
    """Producers not yet upgraded keep writing the schema before ``department_code``: the shipped
    codec knows its fingerprint (no extra schema dir) and reads their events with it null."""
    assert {f["name"] for f in CURRENT["fields"]} - {f["name"] for f in V1["fields"]} == {"department_code"}
    v1 = AvroCodec(V1)
    assert v1.fingerprint != codec_for("PaymentEvent").fingerprint
    data = v1.encode(v1_record())
    out = codec_for("PaymentEvent").decode(data)
    assert out == {**v1_record(), "department_code": None}
    # and an old reader (a worker before this field) reads a current writer's event, dropping the field
    current = codec_for("PaymentEvent").encode(full_payment(department_code="ENERGY", purpose="GOVT_RECEIPT"))
    assert AvroCodec(V1, [CURRENT]).decode(current) == {**v1_record(), "purpose": "GOVT_RECEIPT"}


def test_department_code_round_trips() -> None:
    codec = codec_for("PaymentEvent")
    rec = full_payment(department_code="REVENUE", purpose="GOVT_RECEIPT")
    assert codec.decode(codec.encode(rec)) == rec


def test_fixture_schemas_differ_from_current() -> None:
    fps = {AvroCodec(s).fingerprint for s in (OLD, CURRENT, NEW)}
    assert len(fps) == 3
    assert {f["name"] for f in CURRENT["fields"]} - {f["name"] for f in OLD["fields"]} == {"branch_ifsc",
                                                                                         "department_code"}
    assert {f["name"] for f in NEW["fields"]} - {f["name"] for f in CURRENT["fields"]} == {"terminal_id"}


def test_older_writer_read_by_current_codec_with_defaults() -> None:
    data = AvroCodec(OLD).encode(old_record())
    assert data[2:10] == AvroCodec(OLD).fingerprint
    with pytest.raises(UnknownSchema):
        codec_for("PaymentEvent").decode(data)  # unknown until the old schema is known
    current = codec_for("PaymentEvent", str(OLD_DIR))
    out = current.decode(data)
    assert out == {**old_record(), "branch_ifsc": None, "department_code": None}
    # the codec still encodes with, and reads, the current schema
    assert current.fingerprint == codec_for("PaymentEvent").fingerprint
    assert current.decode(current.encode(full_payment())) == full_payment()


def test_newer_writer_read_by_current_codec() -> None:
    rec = {**full_payment(channel="CBDC", purpose="SCHOLARSHIP"), "terminal_id": "T-0042"}
    data = AvroCodec(NEW).encode(rec)
    with pytest.raises(UnknownSchema):
        codec_for("PaymentEvent").decode(data)
    out = codec_for("PaymentEvent", str(NEW_DIR)).decode(data)
    # unknown symbols read as their enum's default; the unknown field is dropped
    assert out == full_payment(channel="CASH", purpose="OTHER")
    known = {**full_payment(channel="AEPS"), "terminal_id": None}
    assert codec_for("PaymentEvent", str(NEW_DIR)).decode(AvroCodec(NEW).encode(known)) == full_payment(channel="AEPS")


def test_current_codec_with_writer_schemas_given_directly() -> None:
    codec = AvroCodec(CURRENT, [OLD, NEW, load_schema("SeedingEvent")])
    out = codec.decode(AvroCodec(OLD).encode(old_record()))
    assert out == {**old_record(), "branch_ifsc": None, "department_code": None}
    newer = AvroCodec(NEW).encode({**full_payment(channel="CBDC"), "terminal_id": None})
    assert codec.decode(newer) == full_payment(channel="CASH")
    with pytest.raises(UnknownSchema):  # other record names are not PaymentEvent writers
        codec.decode(codec_for("SeedingEvent").encode(seeding_event()))


def test_old_reader_reads_current_writer() -> None:
    reader = AvroCodec(OLD, [CURRENT])
    out = reader.decode(codec_for("PaymentEvent").encode(full_payment()))
    assert out == old_record()
    assert "branch_ifsc" not in out
    # and what the old reader itself writes, the current codec reads once it knows that schema
    assert AvroCodec(CURRENT, [OLD]).decode(reader.encode(out)) == {**out, "branch_ifsc": None, "department_code": None}


def test_old_reader_reads_newer_writer() -> None:
    reader = AvroCodec(OLD, [NEW])
    out = reader.decode(AvroCodec(NEW).encode({**full_payment(channel="CBDC"), "terminal_id": "T-1"}))
    assert out == {**old_record(), "channel": "CASH"}


def test_old_reader_without_current_schema_refuses() -> None:
    with pytest.raises(UnknownSchema):
        AvroCodec(OLD).decode(codec_for("PaymentEvent").encode(full_payment()))


def test_extra_dir_only_adds_schemas_of_the_same_record() -> None:
    seeding = codec_for("SeedingEvent", str(OLD_DIR))
    with pytest.raises(UnknownSchema):
        seeding.decode(AvroCodec(OLD).encode(old_record()))
    assert seeding.decode(seeding.encode(seeding_event())) == seeding_event()


def _zigzag(n: int) -> bytes:
    """``n`` as an Avro varint of whatever length it takes (fastavro refuses to write past 64 bits)."""
    z = n << 1 if n >= 0 else (-n << 1) - 1
    out = bytearray()
    while z >= 0x80:
        out.append(z & 0x7F | 0x80)
        z >>= 7
    return bytes([*out, z])


def _v1_bytes(**changes: int) -> bytes:
    """An older writer's event with integer fields as wide as given, written by hand."""
    rec = {**v1_record(), **{k: 0 for k in changes}}
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, fastavro.parse_schema(V1), rec)
    body = buf.getvalue()
    at = {}
    for name in changes:  # each zero is one byte; find it by writing the record with that field at 1
        one = io.BytesIO()
        fastavro.schemaless_writer(one, fastavro.parse_schema(V1), {**rec, name: 1})
        at[name] = next(i for i, (a, b) in enumerate(zip(body, one.getvalue(), strict=True)) if a != b)
    for name in sorted(changes, key=at.__getitem__, reverse=True):
        body = body[:at[name]] + _zigzag(changes[name]) + body[at[name] + 1:]
    return MAGIC + AvroCodec(V1).fingerprint + body


@pytest.mark.parametrize("changes", [{"district_lgd": 2**31}, {"district_lgd": -(2**31) - 1},
                                     {"district_lgd": -(2**63)}, {"district_lgd": 2**63 - 1}])
def test_older_writer_int_wider_than_32_bits_is_malformed(changes: dict[str, int]) -> None:
    """fastavro, which resolves an older writer's schema, reads an ``int`` as a 64-bit ``long``: a
    value no writer of the schema could have sent is refused, as the compiled reader refuses it for
    ours (the fuzzer found an ``int`` read back as -2**63, which the codec then could not re-encode)."""
    codec = codec_for("PaymentEvent")
    with pytest.raises(MalformedEvent, match="wider than"):
        codec.decode(_v1_bytes(**changes))


def test_older_writer_extremes_that_fit_are_read() -> None:
    codec = codec_for("PaymentEvent")
    out = codec.decode(_v1_bytes(district_lgd=-(2**31), occurred_at=2**63 - 1, amount_paise=-(2**63)))
    assert (out["district_lgd"], out["occurred_at"], out["amount_paise"]) == (-(2**31), 2**63 - 1, -(2**63))
