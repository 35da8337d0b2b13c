"""The batch path: ``handle_batch`` counts exactly as ``handle`` does, and ``BatchSource.feed`` stops cleanly.

Real processors on real local RocksDBs (``Partition`` of ``test_processor_loop``); only the
consumer is replaced by lists of records, which is all ``feed`` is given in the worker too.
"""

from __future__ import annotations

import asyncio
import random
from pathlib import Path
from typing import Any

from streams.processor.batch import BatchSource
from streams.processor.loop import Message, PartitionProcessor
from streams.processor.runner import SignalRunner
from streams.registry import DistrictRegistry

from .factories import HOUR_MS, T0, payment
from .kit import CODECS, DAY_MS, PAYMENT_CODEC, DeadLetterTopic
from .test_processor_loop import NOW, Partition


def mixed_values(codec: Any, n: int, seed: int) -> list[bytes | None]:
    """A stream as hostile as the processor's contract allows: new events, repeats (inside a batch and
    across checkpoints), events too old, future ones, unknown districts, garbage and tombstones."""
    rng = random.Random(seed)
    out: list[bytes | None] = []
    for i in range(n):
        roll = rng.random()
        if roll < 0.05:
            out.append(None)
        elif roll < 0.08:
            out.append(b"\xc3\x01garbage")
        else:
            event_id = f"e{rng.randrange(i + 1)}" if roll < 0.35 else f"e{i}"  # a repeat of an earlier id
            ts = T0 - rng.choice((0, 0, 0, HOUR_MS, 9 * DAY_MS)) + (3 * HOUR_MS if roll > 0.97 else 0)
            lgd = 45 if roll < 0.95 else 99999
            out.append(codec.encode(payment(event_id, ts, lgd=lgd, bank=rng.choice(("SBIN", "HDFC")),
                                            status=rng.choice(("SUCCESS", "TECHNICAL_DECLINE")))))
    return out


def expected_outcomes(values: list[bytes | None]) -> dict[str, int]:
    """What ``mixed_values`` must count as, by the rules alone (no processor code)."""
    outcomes = {"accepted": 0, "duplicate": 0, "rejected": 0}
    seen: set[tuple[str, str]] = set()
    for value in values:
        rec = None if value is None or value.startswith(b"\xc3\x01garbage") else PAYMENT_CODEC.decode(value)
        if rec is None or rec["district_lgd"] != 45 or not T0 - 8 * DAY_MS < rec["occurred_at"] < T0 + HOUR_MS:
            outcomes["rejected"] += 1
        elif (rec["bank_code"], rec["event_id"]) in seen:
            outcomes["duplicate"] += 1
        else:
            seen.add((rec["bank_code"], rec["event_id"]))
            outcomes["accepted"] += 1
    assert all(outcomes.values())  # the mix has each kind
    return outcomes


def figures(proc: PartitionProcessor) -> tuple[Any, ...]:
    state = proc.state
    return (state.offset, dict(state.outcomes), dict(state.deadletters), proc.passed_offsets,
            state.counters()["districts"], sorted(proc.dedupe.pending))


def test_handle_batch_counts_by_the_rules_for_any_chunking(registry: DistrictRegistry, tmp_path: Path) -> None:
    values = mixed_values(Partition(registry, tmp_path / "probe").codec, 600, seed=7)

    async def one_at_a_time() -> tuple[Any, ...]:
        part = Partition(registry, tmp_path / "single", every=50)
        proc = await part.open()
        for offset, value in enumerate(values):
            if proc.handle(offset, None, value, NOW):
                await proc.save(NOW)
        return figures(proc)

    async def batched(chunk: int) -> tuple[Any, ...]:
        part = Partition(registry, tmp_path / f"batch{chunk}", every=50)
        proc = await part.open()
        records = [Message(offset, None, value) for offset, value in enumerate(values)]
        i = 0
        while i < len(records):
            i, due = proc.handle_batch(records, i, min(len(records), i + chunk), NOW)
            if due:
                await proc.save(NOW)
        return figures(proc)

    reference = asyncio.run(one_at_a_time())
    assert reference[1] == expected_outcomes(values)
    for chunk in (1, 7, 50, 2000):
        assert asyncio.run(batched(chunk)) == reference, chunk


def test_a_chunk_stops_where_a_checkpoint_is_due(registry: DistrictRegistry, tmp_path: Path) -> None:
    part = Partition(registry, tmp_path, every=10)

    async def test() -> None:
        proc = await part.open()
        records = [Message(i, None, part.value(payment(f"c{i}"))) for i in range(25)]
        assert proc.handle_batch(records, 0, 25, NOW) == (10, True)
        await proc.save(NOW)
        assert proc.handle_batch(records, 10, 25, NOW) == (20, True)
        await proc.save(NOW)
        assert proc.handle_batch(records, 20, 25, NOW) == (25, False)
        assert proc.checkpoint.saved == 2 and proc.state.outcomes["accepted"] == 25

    asyncio.run(test())


class Source:
    """A ``BatchSource`` over one payments partition, its seeks recorded."""

    def __init__(self, part: Partition) -> None:
        self.part = part
        self.seeks: list[tuple[int, int]] = []

        async def flush() -> None:
            pass

        async def seek(partition: int, offset: int) -> None:
            self.seeks.append((partition, offset))

        self.runner = SignalRunner(part.signal, DeadLetterTopic(), "w1", CODECS, part.every, part.interval, flush,
                                   clock=part.clock, seek=seek)
        self.runner._dedupe[0] = part.dedupe("n1")
        self.batch = BatchSource([self.runner])

    def records(self, first: int, n: int, prefix: str = "b") -> list[Message]:
        return [Message(i, None, self.part.value(payment(f"{prefix}{i}"))) for i in range(first, first + n)]


def test_feed_restores_then_applies_a_whole_batch_with_its_checkpoints(registry: DistrictRegistry,
                                                                       tmp_path: Path) -> None:
    source = Source(Partition(registry, tmp_path, every=100))

    async def test() -> None:
        await source.batch.feed("payments", 0, source.records(0, 450), lambda: True)
        proc = source.runner.processors[0]
        assert proc.state.offset == 449 and proc.state.outcomes["accepted"] == 450
        assert proc.checkpoint.saved == 4 and proc.checkpoint.since == 50
        assert source.batch.batches == 1 and source.batch.records == 450

    asyncio.run(test())


def test_a_rebalance_stops_the_batch_at_a_checkpoint_boundary(registry: DistrictRegistry, tmp_path: Path) -> None:
    """Once the generation changes, nothing more is applied: the next owner replays from the checkpoint."""
    part = Partition(registry, tmp_path, every=100)
    source = Source(part)
    generation = [1]

    async def test() -> None:
        await source.batch.feed("payments", 0, source.records(0, 10), lambda: True)  # restored, open
        proc = source.runner.processors[0]
        fetched_in = generation[0]

        def still_ours() -> bool:
            return generation[0] == fetched_in

        real_save = proc.save

        async def save(now: float | None = None) -> None:
            await real_save(now)
            generation[0] += 1  # the group rebalanced while the checkpoint was written

        proc.save = save  # type: ignore[method-assign]
        await source.batch.feed("payments", 0, source.records(10, 500), lambda: still_ours())
        assert proc.state.offset == 99 and proc.checkpoint.since == 0  # stopped right after the checkpoint
        restored = await part.open("n2")
        assert restored.state.offset == 99 and restored.state.outcomes["accepted"] == 100

    asyncio.run(test())


def test_a_revoked_partition_gets_nothing_more(registry: DistrictRegistry, tmp_path: Path) -> None:
    part = Partition(registry, tmp_path, every=100)
    source = Source(part)

    async def test() -> None:
        await source.batch.feed("payments", 0, source.records(0, 10), lambda: True)
        proc = source.runner.processors[0]
        real_save = proc.save

        async def save(now: float | None = None) -> None:
            await real_save(now)
            source.runner.revoke()  # on_partitions_revoked ran during the checkpoint

        proc.save = save  # type: ignore[method-assign]
        await source.batch.feed("payments", 0, source.records(10, 300), lambda: True)
        assert proc.state.offset == 99

    asyncio.run(test())


def test_a_batch_starting_past_the_next_offset_seeks_back_and_applies_nothing(registry: DistrictRegistry,
                                                                              tmp_path: Path) -> None:
    source = Source(Partition(registry, tmp_path))

    async def test() -> None:
        await source.batch.feed("payments", 0, source.records(0, 5), lambda: True)
        await source.batch.feed("payments", 0, source.records(20, 30), lambda: True)  # 5-19 not seen yet
        proc = source.runner.processors[0]
        assert source.seeks == [(0, 5)] and proc.state.offset == 4
        await source.batch.feed("payments", 0, source.records(5, 45), lambda: True)  # the seek's refetch
        assert proc.state.offset == 49 and proc.state.outcomes["accepted"] == 50 and proc.gaps == 0

    asyncio.run(test())


def test_a_batch_held_during_a_rebalance_is_sought_back_to_and_applied_once(registry: DistrictRegistry,
                                                                           tmp_path: Path) -> None:
    """Between the recovery's rewind and the end of Faust's rebalance a batch is held, not applied: the
    partition is sought to the processor's next offset, so the refetch is applied once, whichever of
    the seeks ran last (before ``hold``, 396-1,754 messages were counted twice after a restart)."""
    source = Source(Partition(registry, tmp_path))

    async def test() -> None:
        await source.batch.hold("payments", 0)  # not restored yet: the recovery hook will seek
        assert source.seeks == []
        await source.batch.feed("payments", 0, source.records(0, 5), lambda: True)
        proc = source.runner.processors[0]
        await source.batch.hold("payments", 0)  # records 5-44, fetched while Faust still rebalances
        assert source.seeks == [(0, 5)] and proc.state.offset == 4 and proc.state.consumed == 5
        await source.batch.feed("payments", 0, source.records(5, 40), lambda: True)  # the refetch
        assert proc.state.offset == 44 and proc.state.consumed == 45
        assert dict(proc.state.outcomes) == {"accepted": 45}

    asyncio.run(test())
