"""The outbox: a dead letter whose send fails is sent again until delivered, never skipped."""

from __future__ import annotations

import asyncio
from typing import Any

from streams.errors import MalformedEvent
from streams.processor import outbox as outbox_module
from streams.processor.outbox import MAX_KEY, Outbox

from .kit import CODECS, DeadLetterTopic


class FlakyTopic(DeadLetterTopic):
    """Fails the first ``failures`` sends: some by raising, some by a future that fails later."""

    def __init__(self, failures: int) -> None:
        super().__init__()
        self.failures = failures
        self.attempts = 0

    async def send(self, key: bytes | None = None, value: bytes | None = None) -> asyncio.Future[None]:
        self.attempts += 1
        if self.attempts <= self.failures:
            if self.attempts % 2:
                raise ConnectionError("broker went away")
            fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            fut.set_exception(TimeoutError("no acknowledgement"))
            return fut
        return await super().send(key, value)


def test_failed_sends_are_retried_until_every_letter_is_delivered(monkeypatch: Any) -> None:
    monkeypatch.setattr(outbox_module, "RETRY_MAX_SECONDS", 0.01)
    topic = FlakyTopic(failures=5)
    box = Outbox(topic, "w1", CODECS)
    for i in range(3):
        box.add(MalformedEvent(f"bad {i}"), b"45", f"junk {i}".encode(), "payments", 0, i)

    async def test() -> None:
        await box.send(box.take())
        await box.delivered()

    asyncio.run(test())
    assert topic.attempts == 3 + 5
    assert sorted(letter["offset"] for letter in topic.letters()) == [0, 1, 2]  # each once, none skipped


def test_a_huge_key_is_cut_so_the_letter_fits_one_message() -> None:
    topic = DeadLetterTopic()
    box = Outbox(topic, "w1", CODECS)
    box.add(MalformedEvent("bad"), b"k" * (2 << 20), b"junk", "payments", 0, 0)
    asyncio.run(box.send(box.take()))
    (key, value), = topic.sent
    assert key is not None and len(key) == MAX_KEY and len(value) < 4096
