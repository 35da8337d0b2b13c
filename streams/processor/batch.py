"""The batch path: fetched records go straight to their partition's processor, a batch at a time.

Faust hands a message to an agent through an Event, a queue, a task wake-up, an ack and a
``wait_first`` per message: ~200 µs of a 2-core machine's time against digindex's own ~25 µs.
So the signals' source topics bypass all of it. The consumer (``streams.faust_transport``) gives
every fetched batch of a source partition to ``BatchSource.feed``, which runs the processor's
synchronous ``handle`` over it and awaits only to restore a partition or to save a checkpoint.

What Faust still does: group membership and assignment (one group, one assignment), the
tables, their changelogs and recovery (their records take Faust's own path), the web server
and the timers. Offsets of the source topics are ours: the recovery rewind commits the
checkpoint's after each rebalance and every checkpoint commits its own, so Faust's acks are
never needed for them.

A rebalance stops a batch at a checkpoint boundary: ``still_ours`` (the group generation the
batch was fetched in, and Faust's flow) is checked before each partition's batch and after
every await, and the rest of the batch is dropped; what was applied after the last checkpoint is
discarded with the processor and replayed by whoever owns the partition next, from that
checkpoint's offset.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol

from .runner import SignalRunner

__all__ = ["BatchSource", "Record"]

#: Records handled between two yields to the event loop (the web server, the producer's
#: sends and Faust's thread keepalive run meanwhile: a chunk of seeding events takes ~0.1 s).
YIELD_EVERY = 500


class Record(Protocol):
    """What the processor reads of a fetched record (aiokafka's ``ConsumerRecord`` has it)."""

    offset: int
    key: bytes | None
    value: bytes | None
    headers: Any  # (str, bytes) pairs, as aiokafka gives them


class BatchSource:
    """Routes fetched batches of the signals' source topics to their partitions' processors."""

    def __init__(self, runners: Sequence[SignalRunner],
                 backpressure: Callable[[], Awaitable[None]] | None = None) -> None:
        self.runners = {runner.signal.topic: runner for runner in runners}
        #: awaited between chunks: returns once the producer's backlog is small enough (state
        #: writes queue changelog records faster than a loaded broker may take them; Faust's
        #: conductor waits likewise before each message of the agent path)
        self.backpressure = backpressure
        #: batches and records handed over (for the benchmarks and tests)
        self.batches = 0
        self.records = 0

    def handles(self, topic: str) -> bool:
        return topic in self.runners

    async def hold(self, topic: str, partition: int) -> None:
        """A batch fetched while Faust is still rebalancing: not processed, fetched again after.

        The recovery hook rewinds each partition to its checkpoint (``streams.recovery``), then
        Faust resumes the partitions and seeks them to the committed offsets once more. A batch
        handed over between the two used to be applied and then fetched and handed over again
        after Faust's seek: counted twice (as duplicates by id, refusals with a second dead letter;
        seen after SIGKILL restarts and takeovers, 396 to 1,754 messages). Dropping it alone could
        lose it (Faust's seek may already have run), so the partition is sought to the processor's
        next offset: whatever Faust's seek does, the batch comes again once, in order.
        """
        proc = self.runners[topic].processors.get(partition)
        if proc is not None and proc.seek is not None:  # else not restored yet: the recovery seeks
            await proc.seek(partition, proc.state.offset + 1)

    async def feed(self, topic: str, partition: int, records: Sequence[Any],
                   still_ours: Callable[[], bool]) -> None:
        """Process one fetched batch of ``topic``/``partition``, in offset order."""
        runner = self.runners[topic]
        proc = runner.processors.get(partition)
        if proc is None:  # assigned but not restored yet: restore now
            proc = await runner.open(partition)
            if not still_ours():
                return
        self.batches += 1
        self.records += len(records)
        processors = runner.processors

        def current() -> bool:
            return still_ours() and processors.get(partition) is proc

        n = len(records)
        now = proc.clock()
        if not n:
            return
        first = records[0].offset
        # a batch that starts past the next offset (fetched before a restore to an older
        # checkpoint): go back for the ones between; gaps inside one fetch are the log's own
        if first > proc.state.offset + 1 and proc.seek is not None and (
                not await proc.gap(first, now) or not current()):
            return  # sought back: this batch comes again, in order
        i = 0
        while i < n:
            i, due = proc.handle_batch(records, i, min(n, i + YIELD_EVERY), now)
            if due:
                await proc.save(now)
            elif i < n:
                await asyncio.sleep(0)  # let the web server and timers in between chunks
            if self.backpressure is not None:
                await self.backpressure()
            if not current():
                return  # revoked meanwhile: the next owner replays from the checkpoint
            now = proc.clock()
