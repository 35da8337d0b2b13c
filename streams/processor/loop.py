"""The partition-processor loop every signal runs on.

Per message: decode it (one at an offset the state has passed is deduplicated by id like any
other: a replay is a duplicate, an offset a broker gave away again is a new event); run the
domain checks; refuse it as ``too_old`` if its day has left the deduplication horizon (judged
by this worker's clock, per event: no other bank's events move it); count it as a duplicate if
its (bank_code, event_id) was applied within the horizon; otherwise apply it. A refusal is
counted and its dead letter goes to the outbox. When the partition's ``Checkpoint`` is due (or
the outbox is full) the state, the ids added and the outbox are written in one checkpoint, then
the dead letters are sent.

A signal with a verifier (``Signal.verifier``, ``streams.signing``) has each message's signature
checked before it is decoded, and the event's bank against the signing key's after the checks.

``handle`` is synchronous (one event, no await) and ``save`` the only await, so a source can
hand the processor one Faust event at a time (``process``) or a whole fetched batch
(``streams.processor.batch``, the worker's path).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, NamedTuple

from ..errors import EventError, MalformedEvent, TooOld, WrongPartition
from ..topics import default_partition
from .checkpoint import Checkpoint
from .dedupe import DAY_MS, DedupeStore, day_of, id_digest
from .kv import PartitionKV
from .outbox import Outbox
from .signal import PartitionState, Signal
from .store import Lineage

__all__ = ["DUPLICATE", "REJECTED", "Message", "PartitionProcessor", "open_partition"]

log = logging.getLogger(__name__)

DUPLICATE, REJECTED = "duplicate", "rejected"
#: Seconds a processor waits for the offsets it sought back to before it accepts they are gone.
GAP_PATIENCE = 10.0


class Message(NamedTuple):
    """One source message, as ``handle_batch`` reads it."""

    offset: int
    key: bytes | None
    value: bytes | None
    headers: Sequence[tuple[str, bytes]] | None = ()


class PartitionProcessor:
    """One source partition of one signal, from restore to revoke."""

    def __init__(self, signal: Signal, partition: int, state: PartitionState, lineage: Lineage, kv: PartitionKV,
                 dedupe: DedupeStore, outbox: Outbox, checkpoint: Checkpoint,
                 clock: Callable[[], float] = time.time,
                 observe: Callable[[float], None] | None = None,
                 seek: Callable[[int, int], Awaitable[None]] | None = None,
                 commit: Callable[[int, int], Awaitable[None]] | None = None) -> None:
        self.signal = signal
        self.partition = partition
        self.state = state
        self.lineage = lineage
        self.kv = kv
        self.dedupe = dedupe
        self.outbox = outbox
        self.checkpoint = checkpoint
        self.clock = clock
        self._decode = signal.codec.decode
        self._horizon_ms = signal.store.horizon_ms
        self._route = signal.route
        self._partitions = list(range(signal.partitions))
        #: key -> its partition (district keys: a few hundred; account keys: bounded below)
        self._partition_of: dict[bytes, int] = {}
        #: called with (processing time - occurred_at) of every applied event, in seconds
        self.observe = observe
        self._saving = asyncio.Lock()  # the agent and the idle timer may both want to save
        #: (partition, offset) -> seek the source there (None: a source that never skips, e.g. a test)
        self.seek = seek
        #: (partition, next offset) -> commit the source's consumed offset after a checkpoint
        self.commit = commit
        self._gap_at: tuple[int, float] | None = None
        #: offsets found missing from the log and gone past
        self.gaps = 0
        #: messages at offsets the state had already passed (deduplicated by id like any other)
        self.passed_offsets = 0
        #: seconds its restore took (snapshot, deltas, dedupe catch-up, new epoch made durable)
        self.restored_in = 0.0

    def handle(self, offset: int, key: bytes | None, value: bytes | None, now: float,
               headers: Sequence[tuple[str, bytes]] | None = ()) -> bool:
        """Process one message; True when a checkpoint is due (call ``save``)."""
        return self.handle_batch((Message(offset, key, value, headers),), 0, 1, now)[1]

    def handle_batch(self, records: Sequence[Any], start: int, end: int, now: float) -> tuple[int, bool]:
        """Process ``records[start:end]`` (in offset order) until a checkpoint is due.

        Returns the index after the last record processed and whether a checkpoint is due (then
        call ``save`` before the rest). Two passes over the chunk: decode and check every record,
        then one multi-get of their ids in the dedupe store, then apply in order (an id twice in
        the chunk is caught by the pending ids, which the second pass fills as it goes). A record
        needs ``offset``, ``key``, ``value`` and ``headers`` (aiokafka's ``ConsumerRecord`` has them).
        """
        state, ck, dedupe, outbox = self.state, self.checkpoint, self.dedupe, self.outbox
        stop = min(end, start + max(1, ck.every - ck.since))
        now_ms = int(now * 1000)
        frontier = max(self.lineage.frontier_day, day_of(now_ms - self._horizon_ms))
        decode, check, route = self._decode, state.check, self._route
        verifier = self.signal.verifier
        signer = verifier.signer if verifier is not None else None  # streams.signing
        items: list[Any] = []  # per record: its decoded dict, or the EventError refusing it
        digests: list[bytes] = []
        for j in range(start, stop):
            value = records[j].value
            try:
                if value is None:
                    raise _tombstone()
                signed_by = signer(records[j]) if signer is not None else None  # before anything is decoded
                record = decode(value)
                check(record, now_ms)
                if signed_by is not None:
                    signed_by.vouch(record)  # the signing key's bank, and its validity at occurred_at
                if record["occurred_at"] // DAY_MS < frontier:
                    raise self._too_old()
                if route is not None:
                    self._check_route(route(record), records[j].key)
            except EventError as exc:
                items.append(exc)
                continue
            except Exception as exc:  # a bug met by hostile input: refuse the message, never lose it
                log.error("%s/%d: offset %d could not be checked (%s)", self.signal.topic, self.partition,
                          records[j].offset, type(exc).__name__)
                items.append(MalformedEvent(f"the record could not be checked ({type(exc).__name__})"))
                continue
            items.append(record)
            digests.append(id_digest(record["bank_code"], record["event_id"]))
        stored = dedupe.seen_many(digests)
        pending, apply, outcomes, observe = dedupe.pending, state.apply, state.outcomes, self.observe
        k = 0
        for j in range(start, stop):
            offset = records[j].offset
            if offset <= state.offset:
                # an offset this state has gone past: Kafka replaying what the checkpoint covers
                # (the same events: duplicates by id), or a broker that lost its log's tail and
                # gave its offsets to new events (they count). Deduplication decides, not the offset.
                self.passed_offsets += 1
            else:
                state.offset = offset  # apply gets the offset itself; no state reads this one
            item = items[j - start]
            if isinstance(item, EventError):
                outcomes[REJECTED] += 1
                state.deadletters[item.code] += 1
                outbox.add(item, records[j].key, records[j].value, self.signal.topic, self.partition, offset)
                if outbox.full:
                    stop = j + 1  # the letters must fit one checkpoint: save before the rest
                    break
                continue
            digest, seen = digests[k], stored[k]
            k += 1
            if seen or digest in pending:
                outcome = DUPLICATE
            else:
                ts = item["occurred_at"]
                pending[digest] = ts // DAY_MS
                outcome = apply(item, offset, now_ms)
                if state.emitted:
                    for target, key, value, part in state.emitted:
                        outbox.forward(target, key, value, part)
                    state.emitted.clear()
                if observe is not None:
                    observe(max(0.0, now - ts / 1000))
            outcomes[outcome] += 1
        ck.since += stop - start
        state.consumed += stop - start
        return stop, ck.due(now) or outbox.full

    def _check_route(self, want: bytes, key: bytes | None) -> None:
        """Refuse a message not keyed, or not partitioned, as its record says (``wrong_partition``)."""
        if key != want:
            raise WrongPartition("the message has no key" if key is None else "the message key is not the one its "
                                 "record gives (events are keyed by district_lgd as ASCII digits)", "key")
        partition = self._partition_of.get(want)
        if partition is None:
            if len(self._partition_of) >= 100_000:
                self._partition_of.clear()
            partition = self._partition_of[want] = default_partition(want, self._partitions)
        if partition != self.partition:
            raise WrongPartition(f"the message was written to partition {self.partition}, but Kafka's default "
                                 f"partitioner (murmur2) puts its key in partition {partition}", "key")

    def _too_old(self) -> TooOld:
        return TooOld(f"occurred_at is older than the deduplication horizon ({self._horizon_ms // 3_600_000} h, "
                      "whole days, before this worker's clock)", "occurred_at")

    async def save(self, now: float | None = None) -> None:
        """Write a checkpoint (after the previous one's dead letters are acknowledged), then send its own."""
        async with self._saving:
            if self.checkpoint.since == 0:
                return  # saved by the other caller meanwhile
            await self.outbox.delivered()
            letters = self.outbox.take()
            self.signal.store.save(self.kv, self.state, self.lineage, self.dedupe, letters)
            self.checkpoint.done(self.clock() if now is None else now)
            await self.outbox.send(letters)
            if self.commit is not None:
                await self.commit(self.partition, self.state.offset + 1)

    async def save_if_idle(self, now: float) -> None:
        """Checkpoint what an idle partition holds once its interval has passed (the timer's job)."""
        if self.checkpoint.due(now):
            await self.save(now)

    async def process(self, offset: int, key: bytes | None, value: bytes | None,
                      headers: Sequence[tuple[str, bytes]] | None = ()) -> None:
        """``handle`` + ``save`` when due: the one-message-at-a-time source."""
        now = self.clock()
        if offset > self.state.offset + 1 and self.seek is not None and not await self.gap(offset, now):
            return
        if self.handle(offset, key, value, now, headers):
            await self.save(now)

    async def gap(self, offset: int, now: float) -> bool:
        """A message past the next offset: go back for the ones between (True: process it anyway).

        After a quick succession of rebalances the source may hand over messages fetched before
        the partition was restored to an older checkpoint; applying them would skip the events in
        between for good. So the processor seeks back to the offset after its state's and drops
        what comes until that offset arrives. If it does not come within ``GAP_PATIENCE`` seconds
        the offsets are not in the log (retention, compaction, transaction markers): go on.
        """
        expected = self.state.offset + 1
        if self._gap_at is None or self._gap_at[0] != expected:
            log.warning("%s/%d: offset %d arrived, %d expected: seeking back", self.signal.topic, self.partition,
                        offset, expected)
            self._gap_at = (expected, now)
            await self.seek(self.partition, expected)  # type: ignore[misc]
            return False
        if now - self._gap_at[1] < GAP_PATIENCE:
            return False  # fetched before the seek: it comes again, in order
        log.warning("%s/%d: offsets %d-%d are not in the log; going on", self.signal.topic, self.partition,
                    expected, offset - 1)
        self.gaps += 1
        self._gap_at = None
        return True


def _tombstone() -> EventError:
    return MalformedEvent("the message has no value (a tombstone)", None)


async def open_partition(signal: Signal, partition: int, dedupe: DedupeStore, outbox: Outbox,
                         every: int, interval: float, flush: Callable[[], Any],
                         clock: Callable[[], float] = time.time,
                         observe: Callable[[float], None] | None = None,
                         generation: int = 0,
                         seek: Callable[[int, int], Awaitable[None]] | None = None,
                         commit: Callable[[int, int], Awaitable[None]] | None = None) -> PartitionProcessor:
    """Restore a partition, open a new epoch and make it durable before anything else is written.

    ``generation`` is the consumer group's generation of the assignment (the epoch's floor).
    """
    kv = signal.kv_for(partition)
    started = time.perf_counter()
    state, lineage = signal.store.restore(kv, lambda: signal.make_state(partition, kv), dedupe)
    signal.store.start_epoch(kv, state, lineage, dedupe, generation)
    await outbox.send(lineage.outbox)  # the restored checkpoint's letters may never have left
    await flush()
    proc = PartitionProcessor(signal, partition, state, lineage, kv, dedupe, outbox,
                              Checkpoint(every, interval, clock()), clock, observe, seek, commit)
    proc.restored_in = time.perf_counter() - started
    log.info("%s/%d restored at offset %d, epoch %d, in %.2f s", signal.topic, partition, state.offset,
             lineage.epoch, proc.restored_in)
    return proc
