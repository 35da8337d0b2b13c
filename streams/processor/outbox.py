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
import logging
from typing import Any

from ..aadhaar import mask_digit_runs
from ..avro_codec import AvroCodec
from ..deadletter import dead_letter
from ..errors import EventError

__all__ = ["Outbox"]

log = logging.getLogger(__name__)

#: Dead-letter bytes after which a checkpoint is due whatever its clock (one value must fit 1 MB).
OUTBOX_BYTES = 256 * 1024
#: Bytes of a refused message's key its dead letter keeps.
MAX_KEY = 1024
#: Longest pause between two attempts at sending what was not delivered.
RETRY_MAX_SECONDS = 5.0


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
        #: (entry, its send's future) not yet known to be delivered
        self._sending: list[tuple[str, Any]] = []

    def add(self, error: EventError, key: bytes | None, value: bytes | None, topic: str, partition: int,
            offset: int) -> None:
        """Write the dead letter of a refused event (sent after the next checkpoint)."""
        letter = dead_letter(error, value, topic, partition, offset, self.worker, self.codecs).decode()
        # the key too may carry anything a bank chose (an account or Aadhaar number): mask long digit
        # runs; and keep at most MAX_KEY bytes of it, so that the letter always fits one message
        masked = base64.b64encode(mask_digit_runs(key[:MAX_KEY])).decode() if key else None
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
        loop = asyncio.get_running_loop()
        for entry in entries:
            try:
                fut = await self._send(entry)
            except Exception as exc:  # the producer refused it outright: a failed send, retried the same way
                fut = loop.create_future()
                fut.set_exception(exc)
            self._sending.append((entry, fut))

    async def _send(self, entry: str) -> Any:
        item = json.loads(entry)
        if len(item) == 4:  # a forwarded message
            target, key, value, partition = item
            return await self.targets[target].send(key=base64.b64decode(key), value=base64.b64decode(value),
                                                   partition=partition)
        key, letter = item
        raw_key = base64.b64decode(key) if key is not None else None
        return await self.topic.send(key=raw_key, value=letter.encode())

    async def delivered(self) -> None:
        """Wait until the broker has every letter sent so far; a failed send is sent again, until it is not.

        Never skipped: the next checkpoint (and so the partition's processing) waits meanwhile,
        since going on would leave refused events without their dead letters after a crash.
        """
        attempt = 0
        while self._sending:
            sending, self._sending = self._sending, []
            results = await asyncio.gather(*(fut for _, fut in sending), return_exceptions=True)
            failed = [entry for (entry, _), result in zip(sending, results, strict=True)
                      if isinstance(result, Exception)]
            if failed:
                attempt += 1
                error = next(r for r in results if isinstance(r, Exception))
                log.warning("%d dead letters or forwarded messages were not delivered (%s); sending them "
                            "again (attempt %d)", len(failed), type(error).__name__, attempt)
                await asyncio.sleep(min(RETRY_MAX_SECONDS, 0.1 * 2 ** attempt))
                await self.send(failed)
