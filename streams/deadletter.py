"""Dead letters: refused events, with the reason and the original bytes, minus any Aadhaar number.

A dead letter is a JSON object (so operators can read it with any consumer):
``reason`` (the ``EventError.code``), ``message``, ``field``, the source ``topic``,
``partition`` and ``offset``, ``worker``, ``detected_at`` (ms), and ``original``:
the original value bytes, base64, with every Aadhaar-like number masked
(see ``redacted_original``: the Avro still decodes for diagnosis).
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from typing import Any

from .aadhaar import mask, mask_digit_runs, redact
from .avro_codec import AvroCodec, codec_for
from .errors import EventError

__all__ = ["PendingDeadLetters", "dead_letter", "decode_dead_letter", "redacted_original"]


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
    body: dict[str, Any] = {
        "reason": error.code,
        "message": redact(str(error)),
        "field": error.field,
        "topic": topic,
        "partition": partition,
        "offset": offset,
        "worker": worker,
        "detected_at": int(time.time() * 1000),
        "original": base64.b64encode(redacted_original(value or b"", codecs)).decode(),
    }
    return json.dumps(body, separators=(",", ":")).encode()


def decode_dead_letter(data: bytes) -> dict[str, Any]:
    """The dead letter as a dict, with ``original`` back as bytes."""
    body = json.loads(data)
    body["original"] = base64.b64decode(body["original"])
    return body


class PendingDeadLetters:
    """Sends an agent's dead letters and lets it wait until the broker has them all.

    The agent waits before each checkpoint: a checkpoint moves the partition's restart point
    past the refused events, so their dead letters must be durable first.
    """

    def __init__(self, topic: Any, worker: str, codecs: tuple[AvroCodec, ...]) -> None:
        self.topic = topic
        self.worker = worker
        self.codecs = codecs
        self._pending: list[Any] = []

    async def send(self, error: EventError, msg: Any) -> None:
        value = dead_letter(error, msg.value, msg.topic, msg.partition, msg.offset, self.worker, self.codecs)
        # the key too may carry anything a bank chose (an account or Aadhaar number): mask long digit runs
        key = mask_digit_runs(msg.key) if msg.key else msg.key
        self._pending.append(await self.topic.send(key=key, value=value))

    async def delivered(self) -> None:
        if self._pending:
            pending, self._pending = self._pending, []
            await asyncio.gather(*pending)
