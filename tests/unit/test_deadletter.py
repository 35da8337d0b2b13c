"""Dead letters: the JSON shape, Aadhaar redaction, and decoding them back."""

from __future__ import annotations

import base64
import json
import time

import pytest

from streams.aadhaar import contains_aadhaar_like
from streams.avro_codec import codec_for
from streams.deadletter import dead_letter, decode_dead_letter
from streams.errors import AadhaarLikeValue, MalformedEvent, UnknownDistrict

from .factories import aadhaar_like, payment

KEYS = {"reason", "message", "field", "topic", "partition", "offset", "worker", "detected_at", "original"}


def test_json_shape() -> None:
    value = codec_for("PaymentEvent").encode(payment(lgd=99))
    before = int(time.time() * 1000)
    raw = dead_letter(UnknownDistrict("district_lgd 99 is not in the registry", "district_lgd"), value,
                      "payments", 3, 1234, "host-42")
    after = int(time.time() * 1000)
    body = json.loads(raw)
    assert set(body) == KEYS
    assert body["reason"] == "unknown_district"
    assert body["message"] == "district_lgd 99 is not in the registry"
    assert body["field"] == "district_lgd"
    assert (body["topic"], body["partition"], body["offset"], body["worker"]) == ("payments", 3, 1234, "host-42")
    assert before <= body["detected_at"] <= after
    assert base64.b64decode(body["original"]) == value
    assert b"\n" not in raw and b": " not in raw  # compact, one line


def test_decode_round_trip() -> None:
    value = codec_for("PaymentEvent").encode(payment(amount=-5))
    out = decode_dead_letter(dead_letter(MalformedEvent("broken"), value, "payments", 0, 7, "w"))
    assert out["original"] == value
    assert out["reason"] == "malformed" and out["field"] is None and out["offset"] == 7
    assert codec_for("PaymentEvent").decode(out["original"]) == payment(amount=-5)


def test_missing_value() -> None:
    out = decode_dead_letter(dead_letter(MalformedEvent("tombstone"), None, "seeding", 1, 2, "w"))
    assert out["original"] == b""


def test_aadhaar_redacted_from_message_and_original() -> None:
    number = aadhaar_like()
    spaced = f"{number[:4]} {number[4:8]} {number[8:]}"
    codec = codec_for("PaymentEvent")
    value = codec.encode(payment(event_id=f"txn-{spaced}", branch_ifsc=number))
    raw = dead_letter(AadhaarLikeValue(f"field event_id holds {number}", "event_id"), value, "payments", 0, 1, "w")
    assert number.encode() not in raw and spaced.encode() not in raw
    body = decode_dead_letter(raw)
    assert body["reason"] == "aadhaar_like_value"
    assert number not in body["message"] and "[REDACTED-AADHAAR]" in body["message"]
    assert len(body["original"]) == len(value)
    assert not contains_aadhaar_like(body["original"].decode("latin-1"))
    # the masked event still decodes, so it can be diagnosed
    rec = codec.decode(body["original"])
    assert rec["event_id"] == "txn-XXXX XXXX XXXX" and rec["branch_ifsc"] == "X" * 12
    assert rec["amount_paise"] == 10_000 and rec["district_lgd"] == 45


@pytest.mark.parametrize("length", range(20, 32))
@pytest.mark.parametrize("field", ["event_id", "branch_ifsc", "bank_code"])
def test_no_aadhaar_number_survives_in_the_original(field: str, length: int) -> None:
    """Whatever the string's length, the number it starts with must not reach the dead-letter topic.

    Avro writes a string's length as a zig-zag varint just before it; lengths 24-28 give the bytes
    ``0``-``8``, which join the number's digits into a 13-digit run.
    """
    number = aadhaar_like()
    text = number + "-" + "x" * (length - 13)
    value = codec_for("PaymentEvent").encode(payment(**{("bank" if field == "bank_code" else field): text}))
    assert number.encode() in value
    raw = dead_letter(AadhaarLikeValue(f"field {field} holds an Aadhaar-like 12-digit number", field), value,
                      "payments", 0, 1, "w")
    original = decode_dead_letter(raw)["original"]
    assert number.encode() not in original, f"raw Aadhaar number in the dead letter ({field}, length {length})"
    assert len(original) == len(value)


def test_original_without_aadhaar_is_kept_byte_for_byte() -> None:
    """A refused event carrying no Aadhaar-like value must come back unchanged and decodable.

    Here the event_id starts with 11 digits (not Aadhaar-like by itself) and is 25 characters
    long, so Avro writes its length as the byte ``2`` (zig-zag 50 = 0x32): in the raw bytes that
    length byte and the 11 digits form a 12-digit run.
    """
    codec = codec_for("PaymentEvent")
    rec = payment(event_id="20210331123-abcdefghijklm", lgd=99)
    assert not any(contains_aadhaar_like(v) for v in rec.values() if isinstance(v, str))
    value = codec.encode(rec)
    body = decode_dead_letter(dead_letter(UnknownDistrict("district_lgd 99 is not in the registry",
                                                          "district_lgd"), value, "payments", 0, 1, "w"))
    assert body["original"] == value
    assert codec.decode(body["original"]) == rec
