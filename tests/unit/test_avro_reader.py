"""The compiled reader (``streams.avro_reader``) reads what fastavro reads, and refuses what fastavro misreads."""

from __future__ import annotations

import io
from typing import Any

import fastavro
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streams.avro_codec import _plain, codec_for, load_schema, schema_files
from streams.avro_reader import compile_reader
from streams.errors import MalformedEvent
from tests.fuzz.strategies import mutated, records

#: the shipped schemas the reader compiles (flat records); the others stay with fastavro
FLAT = [p.stem for p in schema_files() if compile_reader(_plain(load_schema(p.stem))) is not None]


def fastavro_read(name: str, body: bytes) -> Any:
    buf = io.BytesIO(body)
    record = fastavro.schemaless_reader(buf, fastavro.parse_schema(_plain(load_schema(name))), None)
    return record, buf.tell()


def test_the_events_schemas_compile() -> None:
    assert {"PaymentEvent", "SeedingEvent", "GrievanceEvent", "SchemeEnrolmentEvent"} <= set(FLAT)
    assert "AccountEnablementEvent" not in FLAT  # an array of modes: fastavro reads it


@pytest.mark.parametrize("name", FLAT)
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_every_record_reads_back(name: str, data: st.DataObject) -> None:
    record = data.draw(records(name))
    body = codec_for(name).encode(record)[10:]
    read = compile_reader(_plain(load_schema(name)))
    assert read is not None
    assert read(body, 0) == (record, len(body)) == fastavro_read(name, body)


@pytest.mark.parametrize("name", ["PaymentEvent", "GrievanceEvent"])
@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_mutated_bytes_read_as_fastavro_reads_them(name: str, data: st.DataObject) -> None:
    """Whatever the compiled reader accepts, fastavro reads the same; what it refuses fastavro
    refuses too, or reads as a value that does not re-encode to the same bytes (a wrapped one)."""
    codec = codec_for(name)
    body = data.draw(mutated(codec.encode(data.draw(records(name)))))[10:]
    read = compile_reader(_plain(load_schema(name)))
    assert read is not None
    try:
        ours = read(body, 0)
    except (ValueError, IndexError, UnicodeDecodeError):
        try:
            theirs, end = fastavro_read(name, body)
        except Exception:
            return  # refused by both
        try:
            again = codec.encode(theirs)[10:]
        except Exception:
            return  # fastavro read a value its own writer refuses (a wrapped int)
        assert again != body[:end], "refused a record fastavro reads faithfully"
        return
    assert ours == fastavro_read(name, body)


PAYMENT = {"event_id": "e", "occurred_at": 1_700_000_000_000, "district_lgd": 45, "bank_code": "SBIN",
           "branch_ifsc": None, "channel": "UPI", "amount_paise": 100, "status": "SUCCESS", "purpose": "P2M",
           "department_code": None}


def payment_with(occurred_at: bytes = b"", district: bytes = b"", event_id: bytes = b"\x02e") -> bytes:
    """PAYMENT's encoding with its first fields' bytes replaced (event_id, occurred_at, district_lgd)."""
    good = codec_for("PaymentEvent").encode(PAYMENT)
    at = 10 + 2  # after the header and event_id "e"
    rest = good[at + 6 + 1:]  # after occurred_at (6 bytes) and district 45 (1 byte)
    return good[:10] + event_id + (occurred_at or good[at:at + 6]) + (district or good[at + 6:at + 7]) + rest


def test_the_helper_builds_a_good_payment() -> None:
    assert codec_for("PaymentEvent").decode(payment_with()) == PAYMENT


REFUSED = [
    (payment_with(occurred_at=b"\xff" * 9 + b"\x7f"), "a long of 70 bits (10 bytes)"),
    (payment_with(occurred_at=b"\xff" * 10 + b"\x01"), "a long of 11 bytes"),
    (payment_with(district=b"\xff\xff\xff\xff\x1f"), "an int of 35 bits"),
    (payment_with(event_id=b"\x7fe"), "a string longer than the message"),
    (payment_with(event_id=b"\x01"), "a negative string length"),
    (payment_with(event_id=b"\x02\xff"), "invalid UTF-8"),
]


@pytest.mark.parametrize(("data", "why"), REFUSED, ids=[why for _, why in REFUSED])
def test_refused_with_a_reason(data: bytes, why: str) -> None:
    with pytest.raises(MalformedEvent, match="does not decode"):
        codec_for("PaymentEvent").decode(data)


def test_out_of_range_enum_and_union_indexes() -> None:
    codec = codec_for("PaymentEvent")
    good = codec.encode(PAYMENT)
    assert codec.decode(good) == PAYMENT
    head = 10 + 2 + 6 + 1 + 5  # event_id "e", occurred_at (6 bytes), district 45, bank "SBIN"
    assert good[head] == 0  # branch_ifsc: the null branch of its union
    for bad in (b"\x04", b"\x01"):  # union index 2, and -1
        with pytest.raises(MalformedEvent):
            codec.decode(good[:head] + bad + good[head + 1:])
    channel = head + 1
    for bad in (b"\x03", b"\x7e"):  # enum index -2 (fastavro would read 'IMPS', from the end), 63
        with pytest.raises(MalformedEvent):
            codec.decode(good[:channel] + bad + good[channel + 1:])


def test_trailing_bytes_are_refused() -> None:
    codec = codec_for("PaymentEvent")
    with pytest.raises(MalformedEvent, match="2 trailing bytes"):
        codec.decode(codec.encode(PAYMENT) + b"\x00\x00")
