"""Dead letters: refused events, with the reason and the original bytes, minus any Aadhaar number.

A dead letter is a JSON object (so operators can read it with any consumer):
``reason`` (the ``EventError.code``), ``message``, ``field``, the source ``topic``,
``partition`` and ``offset``, ``worker``, ``detected_at`` (ms), and ``original``:
the original value bytes, base64, with every Aadhaar-like digit run masked
(length-preserving, so the Avro still decodes for diagnosis).
"""

from __future__ import annotations

import base64
import json
import time
from typing import Any

from .aadhaar import redact, redact_bytes
from .errors import EventError

__all__ = ["dead_letter", "decode_dead_letter"]


def dead_letter(error: EventError, value: bytes | None, topic: str, partition: int, offset: int,
                worker: str) -> bytes:
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
        "original": base64.b64encode(redact_bytes(value or b"")).decode(),
    }
    return json.dumps(body, separators=(",", ":")).encode()


def decode_dead_letter(data: bytes) -> dict[str, Any]:
    """The dead letter as a dict, with ``original`` back as bytes."""
    body = json.loads(data)
    body["original"] = base64.b64decode(body["original"])
    return body
