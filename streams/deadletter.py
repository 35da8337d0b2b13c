"""Dead letters: refused events, with the reason and the original bytes, minus any Aadhaar number.

A dead letter is a JSON object (so operators can read it with any consumer):
``reason`` (the ``EventError.code``), ``message``, ``field``, the source ``topic``,
``partition`` and ``offset``, ``worker``, ``detected_at`` (ms), and ``original``:
the original value bytes, base64, with every Aadhaar-like number masked
(see ``redacted_original``: the Avro still decodes for diagnosis). A value longer than
``MAX_ORIGINAL`` keeps only its redacted prefix, with ``original_length`` and
``original_sha256`` of the whole, so a dead letter always fits in one Kafka message.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
from typing import Any

from .aadhaar import mask, mask_digit_runs, redact
from .avro_codec import AvroCodec, codec_for
from .errors import EventError

__all__ = ["MAX_ORIGINAL", "dead_letter", "decode_dead_letter", "redacted_original"]

#: Bytes of the original value a dead letter carries at most (Kafka's default limit is 1 MB).
MAX_ORIGINAL = 64 * 1024


def redacted_original(value: bytes, codecs: tuple[AvroCodec, ...] | None = None) -> bytes:
    """``value`` with no Aadhaar-like number left in it, kept decodable where it decodes.

    A record that decodes is re-encoded in its own writer schema with Aadhaar-like digits
    in its strings masked (same length, so unchanged bytes when there are none). Bytes that
    do not decode get every run of 12+ digits masked: a varint length byte can be an ASCII
    digit, so matching the number's own boundaries on raw bytes is not enough.
    """
    for codec in codecs or (codec_for("PaymentEvent"), codec_for("SeedingEvent")):
        masked = codec.map_strings(value, mask)
        if masked is not None:
            return masked
    return mask_digit_runs(value)


def dead_letter(error: EventError, value: bytes | None, topic: str, partition: int, offset: int,
                worker: str, codecs: tuple[AvroCodec, ...] | None = None) -> bytes:
    """The dead-letter value for an event refused with ``error``."""
    value = value or b""
    original = redacted_original(value, codecs) if len(value) <= MAX_ORIGINAL else mask_digit_runs(
        value[:MAX_ORIGINAL])
    body: dict[str, Any] = {
        "reason": error.code,
        "message": redact(str(error)),
        "field": error.field,
        "topic": topic,
        "partition": partition,
        "offset": offset,
        "worker": worker,
        "detected_at": int(time.time() * 1000),
        "original": base64.b64encode(original).decode(),
    }
    if len(value) > MAX_ORIGINAL:
        body["original_length"] = len(value)
        body["original_sha256"] = hashlib.sha256(value).hexdigest()
    return json.dumps(body, separators=(",", ":")).encode()


def decode_dead_letter(data: bytes) -> dict[str, Any]:
    """The dead letter as a dict, with ``original`` back as bytes."""
    body = json.loads(data)
    body["original"] = base64.b64decode(body["original"])
    return body
