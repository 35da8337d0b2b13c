"""A signal's partitions in one worker: open (restore) on assignment, forget on revocation.

The dedupe stores stay open across rebalances (RocksDB allows one handle per directory and
process); a partition that comes back reuses its store if it is still on the restored chain.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from ..avro_codec import AvroCodec
from .dedupe import DedupeStore
from .loop import PartitionProcessor, open_partition
from .outbox import Outbox
from .signal import Signal

__all__ = ["SignalRunner"]


class SignalRunner:
    """The processors of the partitions of one signal this worker owns right now."""

    def __init__(self, signal: Signal, deadletters: Any, worker: str, codecs: tuple[AvroCodec, ...],
                 every: int, interval: float, flush: Callable[[], Any],
                 observe: Callable[[float], None] | None = None, clock: Callable[[], float] = time.time,
                 generation: Callable[[], int] = lambda: 0,
                 seek: Callable[[int, int], Awaitable[None]] | None = None,
                 commit: Callable[[int, int], Awaitable[None]] | None = None) -> None:
        self.signal = signal
        self.deadletters = deadletters
        self.worker = worker
        self.codecs = codecs
        self.every = every
        self.interval = interval
        self.flush = flush
        self.observe = observe
        self.clock = clock
        #: the consumer group's current generation (the floor of a new epoch)
        self.generation = generation
        #: (partition, offset) -> seek the signal's source topic there
        self.seek = seek
        #: (partition, offset) -> commit it as the source topic's consumed offset
        self.commit = commit
        self.processors: dict[int, PartitionProcessor] = {}
        self._dedupe: dict[int, DedupeStore] = {}
        self._opening: dict[int, asyncio.Lock] = {}

    def dedupe(self, partition: int) -> DedupeStore:
        store = self._dedupe.get(partition)
        if store is None:
            path = self.signal.dedupe_dir / f"{self.signal.topic}-{partition}"
            store = self._dedupe[partition] = DedupeStore(path)
        return store

    async def open(self, partition: int) -> PartitionProcessor:
        """Restore ``partition`` (if not open already) and return its processor."""
        proc = self.processors.get(partition)
        if proc is not None:
            return proc
        lock = self._opening.setdefault(partition, asyncio.Lock())
        async with lock:  # the recovery hook and the agent may both ask for it
            proc = self.processors.get(partition)
            if proc is not None:
                return proc
            outbox = Outbox(self.deadletters, self.worker, self.codecs, self.signal.targets)
            proc = await open_partition(self.signal, partition, self.dedupe(partition), outbox, self.every,
                                        self.interval, self.flush, self.clock, self.observe,
                                        self.generation(), self.seek, self.commit)
            self.processors[partition] = proc
            return proc

    def revoke(self) -> None:
        """Stop exporting every partition (the next assignment restores what stays ours)."""
        self.processors.clear()

    def close(self) -> None:
        for store in self._dedupe.values():
            store.close()
        self._dedupe.clear()
