"""Dead letters, written with the checkpoint that covers them and delivered right after it.

The outbox pattern: a refused event's dead letter is part of the next checkpoint's value, so
the refusal (a counter in the state) and its dead letter become durable in one write. After
the checkpoint is written the letters are sent; before the next checkpoint is written they
must have been acknowledged; a restore sends the restored checkpoint's letters again (a crash
may have come between the write and the send). So no refused event is without its dead letter,
and a verdict that never reached a checkpoint (judged by a clock that has moved on when it is
replayed) left nothing behind. Consumers of the dead-letter topic may see a letter twice after
a crash; (topic, partition, offset) identifies it.
"""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

from ..aadhaar import mask_digit_runs
from ..avro_codec import AvroCodec
from ..deadletter import dead_letter
from ..errors import EventError

__all__ = ["Outbox"]

#: Dead-letter bytes after which a checkpoint is due whatever its clock (one value must fit 1 MB).
OUTBOX_BYTES = 256 * 1024


class Outbox:
    """The dead letters of one partition since its last checkpoint, and their delivery."""

    def __init__(self, topic: Any, worker: str, codecs: tuple[AvroCodec, ...],
                 targets: dict[str, Any] | None = None) -> None:
        self.topic = topic
        #: name -> topic of the messages ``forward`` may send
        self.targets = targets or {}
        self.worker = worker
        self.codecs = codecs
        self.entries: list[str] = []
        self.bytes = 0
        self._sending: list[Any] = []

    def add(self, error: EventError, key: bytes | None, value: bytes | None, topic: str, partition: int,
            offset: int) -> None:
        """Write the dead letter of a refused event (sent after the next checkpoint)."""
        letter = dead_letter(error, value, topic, partition, offset, self.worker, self.codecs).decode()
        # the key too may carry anything a bank chose (an account or Aadhaar number): mask long digit runs
        masked = base64.b64encode(mask_digit_runs(key)).decode() if key else None
        entry = json.dumps([masked, letter], separators=(",", ":"))
        self.entries.append(entry)
        self.bytes += len(entry)

    def forward(self, target: str, key: bytes, value: bytes, partition: int | None = None) -> None:
        """Send ``value`` to topic ``target`` after the next checkpoint."""
        entry = json.dumps([target, base64.b64encode(key).decode(), base64.b64encode(value).decode(), partition],
                           separators=(",", ":"))
        self.entries.append(entry)
        self.bytes += len(entry)

    @property
    def full(self) -> bool:
        return self.bytes >= OUTBOX_BYTES

    def take(self) -> list[str]:
        entries, self.entries, self.bytes = self.entries, [], 0
        return entries

    async def send(self, entries: list[str]) -> None:
        """Send a checkpoint's letters (acknowledgements awaited by ``delivered``)."""
        for entry in entries:
            item = json.loads(entry)
            if len(item) == 4:  # a forwarded message
                target, key, value, partition = item
                self._sending.append(await self.targets[target].send(
                    key=base64.b64decode(key), value=base64.b64decode(value), partition=partition))
                continue
            key, letter = item
            raw_key = base64.b64decode(key) if key is not None else None
            self._sending.append(await self.topic.send(key=raw_key, value=letter.encode()))

    async def delivered(self) -> None:
        """Wait until the broker has every letter sent so far."""
        if self._sending:
            sending, self._sending = self._sending, []
            await asyncio.gather(*sending)
