"""The group's consumed offsets, committed in the background after each checkpoint.

A commit is a round trip to the group coordinator through Faust's consumer thread (tens of
milliseconds on a loaded broker). Awaited inside a checkpoint it held the batch path up
every second per partition and pushed the delay p99 past a second at 1,000 events/s. Nothing
waits for it: correctness never depends on the committed offset (every recovery rewinds to
the checkpoint's own), it only keeps the group's lag as Kafka's tools see it. So checkpoints
only note their offset here; one task commits the latest offset of every partition noted
since its last round, and a failed round (a rebalance) is left to the next checkpoint.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

__all__ = ["BackgroundCommits"]

log = logging.getLogger(__name__)


class BackgroundCommits:
    """Coalesces (topic, partition) -> offset commits into one background round at a time."""

    def __init__(self, commit: Callable[[Mapping[Any, int]], Awaitable[Any]],
                 tp: Callable[[str, int], Any]) -> None:
        self._commit = commit
        self._tp = tp
        self._pending: dict[Any, int] = {}
        self._task: asyncio.Task[None] | None = None
        #: rounds committed and refused (for tests and debugging)
        self.rounds = 0
        self.refused = 0

    def note(self, topic: str, partition: int, offset: int) -> None:
        """Commit ``offset`` as ``topic``/``partition``'s consumed offset, soon."""
        self._pending[self._tp(topic, partition)] = offset
        if self._task is None or self._task.done():
            self._task = asyncio.ensure_future(self._run())

    def committer(self, topic: str) -> Callable[[int, int], Awaitable[None]]:
        """The ``commit`` callable of one signal's processors."""
        async def commit(partition: int, offset: int) -> None:
            self.note(topic, partition, offset)
        return commit

    async def _run(self) -> None:
        while self._pending:
            offsets, self._pending = self._pending, {}
            try:
                await self._commit(offsets)
                self.rounds += 1
            except Exception as exc:  # rebalancing: the next checkpoint or recovery commits again
                self.refused += 1
                log.debug("offset commit refused: %r", exc)
