"""PartitionProcessor through open_partition: offsets, refusals, duplicates, the horizon, the outbox, checkpoints."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from streams.avro_codec import MAGIC
from streams.deadletter import MAX_ORIGINAL
from streams.processor.dedupe import DedupeStore
from streams.processor.kv import RocksKV
from streams.processor.loop import PartitionProcessor, open_partition
from streams.processor.outbox import OUTBOX_BYTES, Outbox
from streams.processor.signal import Signal
from streams.processor.store import decode_snapshot, decode_value
from streams.registry import DistrictRegistry

from .factories import HOUR_MS, MINUTE_MS, T0, payment, seeding_event
from .kit import (
    CODECS,
    DAY_MS,
    PAYMENT_CODEC,
    SEEDING_CODEC,
    WEEK_S,
    Clock,
    DeadLetterTopic,
    figures,
    keys,
    payments_signal,
    seeding_signal,
)

NOW = T0 / 1000 + 60  # the worker's clock: a minute after T0 (seconds)


def run(test: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(test())


class Partition:
    """Partition 0 of a signal on one RocksKV; ``open`` is a restore on some node."""

    def __init__(self, registry: DistrictRegistry, tmp_path: Path, now: float = NOW, *, every: int = 1000,
                 interval: float = 3600.0, horizon_s: float = WEEK_S, signal: str = "payments") -> None:
        self.tmp_path = tmp_path
        self.kv = RocksKV(tmp_path / "kv")
        self.clock = Clock(now)
        self.every, self.interval = every, interval
        if signal == "payments":
            self.signal: Signal = payments_signal(registry, self.kv, tmp_path, horizon_s=horizon_s, clock=self.clock)
            self.codec = PAYMENT_CODEC
        else:
            self.accounts: dict[int, Counter[str]] = {}
            self.signal = seeding_signal(registry, self.kv, tmp_path, self.accounts, horizon_s=horizon_s,
                                         clock=self.clock)
            self.codec = SEEDING_CODEC
        self.stores: dict[str, DedupeStore] = {}
        self.flushes: list[list[bytes]] = []  # the snapshot keys present at each flush

    def dedupe(self, node: str) -> DedupeStore:
        if node not in self.stores:
            self.stores[node] = DedupeStore(self.signal.dedupe_dir / node / "payments-0")
        return self.stores[node]

    async def open(self, node: str = "n1", topic: DeadLetterTopic | None = None) -> PartitionProcessor:
        async def flush() -> None:
            self.flushes.append(keys(self.kv, b"F/"))

        outbox = Outbox(topic if topic is not None else DeadLetterTopic(), f"worker-{node}", CODECS)
        return await open_partition(self.signal, 0, self.dedupe(node), outbox, self.every, self.interval, flush,
                                    self.clock)

    def value(self, rec: dict[str, Any]) -> bytes:
        return self.codec.encode(rec)


def feed(proc: PartitionProcessor, records: list[dict[str, Any] | bytes | None], now: float | None = None,
         key: bytes | None = None) -> list[str]:
    """``handle`` each at the next offset; returns the outcome each one was counted as."""
    out = []
    for rec in records:
        value = rec if rec is None or isinstance(rec, bytes) else proc.signal.codec.encode(rec)
        before = Counter(proc.state.outcomes)
        proc.handle(proc.state.offset + 1, key, value, proc.clock() if now is None else now)
        (outcome,) = (proc.state.outcomes - before).keys()
        out.append(outcome)
    return out


# --- offsets and refusals --------------------------------------------------------------------------


def test_offsets_up_to_the_restored_one_are_deduplicated_not_trusted(registry: DistrictRegistry,
                                                                     tmp_path: Path) -> None:
    part = Partition(registry, tmp_path)

    async def test() -> None:
        proc = await part.open()
        assert proc.state.offset == -1 and proc.lineage.epoch == 1
        assert feed(proc, [payment(f"e{i}") for i in range(5)]) == ["accepted"] * 5
        await proc.save()
        before = figures(proc.state)
        again = await part.open()  # the same node restores (a rebalance)
        assert again.state.offset == 4 and again.lineage.epoch == 2
        for offset in (0, 3, 4):  # Kafka replays from an older committed offset: the same events
            again.handle(offset, None, part.value(payment(f"e{offset}")), NOW)
        assert again.state.outcomes["duplicate"] == 3
        assert {k: v for k, v in figures(again.state).items() if k != "outcomes"} == \
            {k: v for k, v in before.items() if k != "outcomes"}, "nothing applied twice"
        assert again.state.outcomes["accepted"] == 5 and again.state.offset == 4 and again.passed_offsets == 3
        # a broker that lost its tail hands offset 4 to a new event: it counts, the offset stays
        again.handle(4, None, part.value(payment("new4")), NOW)
        assert again.state.outcomes["accepted"] == 6 and again.state.offset == 4
        again.handle(5, None, part.value(payment("e5")), NOW)
        assert again.state.offset == 5 and again.state.outcomes["accepted"] == 7

    run(test)


def test_open_makes_the_new_epoch_durable_before_anything_else(registry: DistrictRegistry, tmp_path: Path) -> None:
    part = Partition(registry, tmp_path)

    async def test() -> None:
        proc = await part.open()
        assert part.flushes == [[b"F/00000001"]]
        assert proc.dedupe.marker() is not None
        feed(proc, [payment("a")])
        await proc.save()
        await part.open("n2")
        assert part.flushes[-1] == [b"F/00000001", b"F/00000002"]

    run(test)


def test_tombstones_and_garbage_are_malformed_dead_letters(registry: DistrictRegistry, tmp_path: Path) -> None:
    part = Partition(registry, tmp_path)
    good = PAYMENT_CODEC.encode(payment("ok"))
    bad = {
        "tombstone": None,
        "empty": b"",
        "text": b"not avro at all",
        "bad magic": b"\x00\x01" + good[2:],
        "truncated": good[:-3],
        "trailing": good + b"\x00\x00",
        "body": good[:10] + b"\xff" * 40,
    }
    unknown = {
        "other fingerprint": MAGIC + b"\x01" * 8 + good[10:],
        "a seeding event": SEEDING_CODEC.encode(seeding_event()),
    }

    async def test() -> None:
        topic = DeadLetterTopic()
        proc = await part.open(topic=topic)
        outcomes = feed(proc, [*bad.values(), *unknown.values(), good], key=b"acct-234567890123")
        assert outcomes == ["rejected"] * (len(bad) + len(unknown)) + ["accepted"]
        assert proc.state.deadletters == Counter({"malformed": len(bad), "unknown_schema": len(unknown)})
        assert proc.state.outcomes == Counter({"rejected": len(bad) + len(unknown), "accepted": 1})
        assert proc.state.offset == len(bad) + len(unknown)
        assert topic.sent == [], "no dead letter before its checkpoint"
        await proc.save()
        letters = topic.letters()
        assert [x["reason"] for x in letters] == ["malformed"] * len(bad) + ["unknown_schema"] * len(unknown)
        assert [x["offset"] for x in letters] == list(range(len(bad) + len(unknown)))
        assert {(x["topic"], x["partition"], x["worker"]) for x in letters} == {("payments", 0, "worker-n1")}
        assert letters[0]["original"] == b"" and letters[2]["original"] == b"not avro at all"
        assert all(key == b"acct-XXXXXXXXXXXX" for key, _ in topic.sent), "long digit runs in keys are masked"

    run(test)


def test_domain_refusals_are_dead_letters_and_not_remembered(registry: DistrictRegistry, tmp_path: Path) -> None:
    part = Partition(registry, tmp_path)

    async def test() -> None:
        topic = DeadLetterTopic()
        proc = await part.open(topic=topic)
        assert feed(proc, [payment("fix-me", amount=-1), payment("x", lgd=99), payment("y", bank="sbin"),
                           payment("z", ts=T0 + 60_000 + 300_001)]) == ["rejected"] * 4
        assert proc.state.districts == {}
        assert feed(proc, [payment("fix-me", amount=1)]) == ["accepted"], "a refused event is not a duplicate"
        assert proc.state.deadletters == Counter({"out_of_range": 2, "unknown_district": 1, "invalid_bank_code": 1})
        await proc.save()
        assert topic.reasons() == ["out_of_range", "unknown_district", "invalid_bank_code", "out_of_range"]
        assert [x["field"] for x in topic.letters()] == ["amount_paise", "district_lgd", "bank_code", "occurred_at"]

    run(test)


def test_unknown_banks_and_foreign_branches_are_dead_letters(registry: DistrictRegistry, tmp_path: Path) -> None:
    """A stray bank code (``TEST``) is refused, so it never reaches a metric label or the bank alerts."""
    part = Partition(registry, tmp_path)

    async def test() -> None:
        topic = DeadLetterTopic()
        proc = await part.open(topic=topic)
        assert feed(proc, [payment("a", bank="TEST"), payment("b", branch_ifsc="PUNB0001000"),
                           payment("c", branch_ifsc="SBIN0000001"), payment("d", bank="ZZZZ")
                           ]) == ["rejected", "rejected", "accepted", "rejected"]
        assert proc.state.deadletters == Counter({"unknown_bank": 2, "unknown_branch": 1})
        assert set(proc.state.bank_last_event_ms) == {"SBIN"}
        await proc.save()
        assert topic.reasons() == ["unknown_bank", "unknown_branch", "unknown_bank"]

    run(test)


# --- duplicates ------------------------------------------------------------------------------------


def test_duplicates_by_bank_and_event_id(registry: DistrictRegistry, tmp_path: Path) -> None:
    part = Partition(registry, tmp_path)

    async def test() -> None:
        proc = await part.open("n1")
        assert feed(proc, [
            payment("a", T0),
            payment("a", T0, amount=999),  # same (bank, id), other content: pending, not yet checkpointed
            payment("a", T0, bank="PUNB"),  # the key is (bank, id)
            payment("old", T0 - 30 * HOUR_MS),
            payment("old", T0 - 30 * HOUR_MS),  # a late id is remembered too
            payment("edge", T0 - 24 * HOUR_MS + MINUTE_MS),
        ]) == ["accepted", "duplicate", "accepted", "late", "duplicate", "accepted"]
        await proc.save()
        before = figures(proc.state)
        assert feed(proc, [payment("a", T0, status="TECHNICAL_DECLINE", amount=5)]) == ["duplicate"]
        after = figures(proc.state)
        assert after["offset"] == before["offset"] + 1
        assert after["outcomes"]["duplicate"] == before["outcomes"]["duplicate"] + 1
        assert {k: v for k, v in after.items() if k not in ("offset", "outcomes")} == \
            {k: v for k, v in before.items() if k not in ("offset", "outcomes")}, "a duplicate changes nothing"
        feed(proc, [payment("b", T0)])
        await proc.save()
        for i, node in enumerate(("n2", "n1")):  # a new node (rebuilt from the id blocks), then the first again
            again = await part.open(node)
            assert feed(again, [payment("a", T0), payment("a", T0, bank="PUNB"), payment("old", T0 - 30 * HOUR_MS),
                                payment("edge", T0 - 24 * HOUR_MS + MINUTE_MS), payment("b", T0)]
                        ) == ["duplicate"] * 5, node
            assert again.state.outcomes["duplicate"] == 3 + 5 * (i + 1)
            await again.save()

    run(test)


def test_events_after_the_last_checkpoint_are_not_duplicates_on_replay(registry: DistrictRegistry,
                                                                         tmp_path: Path) -> None:
    part = Partition(registry, tmp_path)

    async def test() -> None:
        proc = await part.open()
        feed(proc, [payment("a")])
        await proc.save()
        feed(proc, [payment("b"), payment("c")])  # handled, then the worker dies before its checkpoint
        again = await part.open()  # same node, same dedupe store: "b" and "c" were only pending
        assert again.state.offset == 0
        for offset, eid in ((1, "b"), (2, "c")):
            again.handle(offset, None, part.value(payment(eid)), NOW)
        assert again.state.outcomes == Counter({"accepted": 3})

    run(test)


# --- the horizon, by the worker's clock ------------------------------------------------------------


def test_too_old_by_the_workers_clock(registry: DistrictRegistry, tmp_path: Path) -> None:
    day = T0 // DAY_MS
    now = T0 / 1000 + 10 * 86400 + 3600  # 01:00 on day+10; the horizon (7 d, whole days) starts at day+3
    part = Partition(registry, tmp_path, now=now)

    async def test() -> None:
        topic = DeadLetterTopic()
        proc = await part.open(topic=topic)
        start = (day + 3) * DAY_MS
        assert feed(proc, [payment("now", int(now * 1000)), payment("in", start), payment("out", start - 1),
                           payment("ancient", T0)]) == ["accepted", "late", "rejected", "rejected"]
        assert proc.state.deadletters == Counter({"too_old": 2})
        await proc.save()
        assert [(x["reason"], x["field"]) for x in topic.letters()] == [("too_old", "occurred_at")] * 2
        # the clock moves on a day: the boundary moves with it, whatever the events say
        part.clock.t += 86400
        assert feed(proc, [payment("in2", start)]) == ["rejected"]

    run(test)


def test_one_banks_clock_never_makes_another_banks_events_too_old(registry: DistrictRegistry,
                                                                    tmp_path: Path) -> None:
    """The horizon is judged by the worker's clock per event, not by the newest event time seen."""
    now = T0 / 1000 - 60  # 23:59 the day before T0's day
    part = Partition(registry, tmp_path, now=now)

    async def test() -> None:
        proc = await part.open()
        far = int(now * 1000) + 30 * DAY_MS
        assert feed(proc, [
            payment("ahead", T0 + 3 * MINUTE_MS, bank="HDFC"),  # within the skew (4 min ahead): accepted
            payment("far", far, bank="HDFC"),  # beyond the skew: refused, moves nothing
        ]) == ["accepted", "rejected"]
        assert proc.state.deadletters == Counter({"out_of_range": 1})
        # 7 days and 2 minutes before T0: inside the horizon by the worker's clock (which has not
        # reached T0's day), outside it had the horizon followed the newest event (HDFC's, after midnight)
        assert feed(proc, [payment("b1", T0 - 7 * DAY_MS - 2 * MINUTE_MS, bank="SBIN"),
                           payment("b2", T0 - 8 * DAY_MS + MINUTE_MS, bank="PUNB"),
                           payment("b3", T0 - 8 * DAY_MS - MINUTE_MS, bank="PUNB")]
                    ) == ["late", "late", "rejected"]
        assert proc.state.deadletters == Counter({"out_of_range": 1, "too_old": 1})
        await proc.save()  # the checkpoint's expiry also goes by the clock
        assert proc.lineage.frontier_day == (T0 - 8 * DAY_MS) // DAY_MS
        assert feed(proc, [payment("b4", T0 - 7 * DAY_MS - 3 * MINUTE_MS, bank="SBIN")]) == ["late"]
        again = await part.open("n2")
        assert feed(again, [payment("b5", T0 - 7 * DAY_MS - 4 * MINUTE_MS, bank="SBIN")]) == ["late"]
        assert again.state.bank_last_event_ms["HDFC"] == T0 + 3 * MINUTE_MS

    run(test)


# --- outbox ----------------------------------------------------------------------------------------


def checkpointed_letters(kv: RocksKV) -> set[str]:
    """Every dead letter held in a checkpoint (snapshot or delta) in ``kv`` now."""
    out: set[str] = set()
    for prefix, decode in ((b"F/", decode_snapshot), (b"D/", decode_value)):
        for _, raw in kv.scan(prefix):
            out.update(json.loads(entry)[1] for entry in decode(raw)["outbox"])
    return out


def test_dead_letters_are_sent_only_after_the_checkpoint_holding_them(registry: DistrictRegistry,
                                                                        tmp_path: Path) -> None:
    part = Partition(registry, tmp_path)

    async def test() -> None:
        topic = DeadLetterTopic(probe=lambda: checkpointed_letters(part.kv))
        proc = await part.open(topic=topic)
        feed(proc, [payment("a"), b"garbage-1", payment("b", lgd=99)])
        assert topic.sent == []
        await proc.save()
        assert len(topic.sent) == 2
        for (_, value), held in zip(topic.sent, topic.probes, strict=True):
            assert value.decode() in held, "the letter was sent before its checkpoint was written"
        assert proc.outbox.entries == []
        feed(proc, [payment("c")])
        await proc.save()
        assert len(topic.sent) == 2, "a checkpoint without refusals sends nothing"

    run(test)


def test_next_checkpoint_waits_for_the_previous_letters(registry: DistrictRegistry, tmp_path: Path) -> None:
    part = Partition(registry, tmp_path)

    async def test() -> None:
        topic = DeadLetterTopic(auto_ack=False)
        proc = await part.open(topic=topic)
        feed(proc, [b"garbage-1"])
        await proc.save()
        assert proc.lineage.seq == 1 and len(topic.sent) == 1
        feed(proc, [payment("a")])
        saving = asyncio.create_task(proc.save())
        for _ in range(5):
            await asyncio.sleep(0)
        assert not saving.done() and proc.lineage.seq == 1, "checkpointed before the broker had the letters"
        topic.ack_all()
        await asyncio.wait_for(saving, 1)
        assert proc.lineage.seq == 2

    run(test)


def test_a_restore_resends_the_restored_checkpoints_letters(registry: DistrictRegistry, tmp_path: Path) -> None:
    part = Partition(registry, tmp_path)

    async def test() -> None:
        first = DeadLetterTopic()
        proc = await part.open("n1", first)
        feed(proc, [b"garbage-1"])
        await proc.save()
        feed(proc, [b"garbage-2", payment("x", amount=-3)])
        await proc.save()
        feed(proc, [b"garbage-3"])  # refused but never checkpointed: no letter, and no count, survives
        assert len(first.sent) == 3
        second = DeadLetterTopic()
        again = await part.open("n2", second)
        assert second.sent == first.sent[1:3], "exactly the last checkpoint's letters"
        assert again.state.deadletters == Counter({"malformed": 2, "out_of_range": 1})
        third = DeadLetterTopic()
        await part.open("n3", third)  # restored again before n2 checkpointed: sent again
        assert third.sent == first.sent[1:3]

    run(test)


# --- when a checkpoint is due ----------------------------------------------------------------------


def test_checkpoint_due_after_every_events_or_interval(registry: DistrictRegistry, tmp_path: Path) -> None:
    part = Partition(registry, tmp_path, every=3, interval=10.0)

    async def test() -> None:
        proc = await part.open()
        due = [proc.handle(i, None, part.value(payment(f"e{i}")), NOW) for i in range(3)]
        assert due == [False, False, True]
        await proc.save(NOW)
        assert proc.checkpoint.since == 0 and proc.checkpoint.saved == 1
        assert proc.handle(3, None, part.value(payment("e3")), NOW + 9.9) is False
        assert proc.handle(4, None, b"garbage", NOW + 10) is True
        # process() saves by itself when due (its clock: the worker's)
        part.clock.t = NOW + 10
        await proc.process(5, None, part.value(payment("e5")))
        assert proc.checkpoint.saved == 2 and proc.lineage.seq == 2 and proc.checkpoint.since == 0
        for i in range(6, 8):
            await proc.process(i, None, part.value(payment(f"e{i}")))
        assert proc.checkpoint.saved == 2
        await proc.process(8, None, part.value(payment("e8")))
        assert proc.checkpoint.saved == 3 and proc.state.offset == 8

    run(test)


def test_a_full_outbox_makes_a_checkpoint_due(registry: DistrictRegistry, tmp_path: Path) -> None:
    part = Partition(registry, tmp_path)
    huge = b"\x00" * (3 * MAX_ORIGINAL)

    async def test() -> None:
        proc = await part.open()
        sizes = []
        for i in range(10):
            due = proc.handle(i, None, huge, NOW)
            sizes.append(proc.outbox.bytes)
            if due:
                break
        assert due and sizes[-1] >= OUTBOX_BYTES > max(sizes[:-1]), sizes
        assert 1 < len(sizes) < proc.checkpoint.every
        await proc.save()
        assert proc.outbox.bytes == 0

    run(test)


def test_save_if_idle(registry: DistrictRegistry, tmp_path: Path) -> None:
    part = Partition(registry, tmp_path, interval=5.0)

    async def test() -> None:
        proc = await part.open()
        await proc.save_if_idle(NOW + 100)
        assert proc.checkpoint.saved == 0 and proc.lineage.seq == 0, "nothing to checkpoint"
        proc.handle(0, None, b"garbage", NOW + 1)
        await proc.save_if_idle(NOW + 4.9)
        assert proc.checkpoint.saved == 0
        await proc.save_if_idle(NOW + 5)
        assert proc.checkpoint.saved == 1 and proc.lineage.seq == 1
        assert proc.checkpoint.last_saved == NOW + 5
        await proc.save_if_idle(NOW + 100)
        await proc.save(NOW + 100)  # nothing since: no checkpoint either
        assert proc.checkpoint.saved == 1 and proc.lineage.seq == 1
        again = await part.open("n2")
        assert again.state.deadletters == Counter({"malformed": 1}), "the idle partition's refusal is durable"

    run(test)


def test_observe_gets_the_delay_of_applied_events(registry: DistrictRegistry, tmp_path: Path) -> None:
    part = Partition(registry, tmp_path)

    async def test() -> None:
        proc = await part.open()
        delays: list[float] = []
        proc.observe = delays.append
        feed(proc, [payment("a", T0), payment("a", T0), b"garbage", payment("b", T0 + 2 * MINUTE_MS)], now=NOW)
        assert delays == [pytest.approx(60.0), 0.0]

    run(test)


# --- the seeding signal on the same processor -----------------------------------------------------


def test_seeding_duplicates_and_replays(registry: DistrictRegistry, tmp_path: Path) -> None:
    part = Partition(registry, tmp_path, now=T0 / 1000 + 3600, signal="seeding")

    async def test() -> None:
        proc = await part.open()
        assert feed(proc, [
            seeding_event("s1", T0, account="A1", status="NOT_SEEDED"),
            seeding_event("s1", T0, account="A1", status="NOT_SEEDED"),  # re-sent by the bank
            seeding_event("s1", T0, account="A2"),  # the same id for another account: still (bank, id)
            seeding_event("s1", T0, bank="PUNB", account="A1"),
        ]) == ["accepted", "duplicate", "duplicate", "accepted"]
        await proc.save()
        feed(proc, [seeding_event("s2", T0 + 5, account="A1", status="SEEDED")])  # in the store, not checkpointed
        assert part.accounts == {45: Counter({"SEEDED": 2, "NOT_SEEDED": 0})}
        again = await part.open("n2")
        assert again.state.offset == 3
        # Kafka replays offset 4: the account already holds it, counted as accepted, nothing moves twice
        again.handle(4, None, part.value(seeding_event("s2", T0 + 5, account="A1", status="SEEDED")), part.clock())
        assert again.state.outcomes == Counter({"accepted": 3, "duplicate": 2})
        assert part.accounts == {45: Counter({"SEEDED": 2, "NOT_SEEDED": 0})}

    run(test)


# --- offsets that skip ahead -------------------------------------------------------------------------


def test_a_message_past_the_next_offset_seeks_back_and_is_applied_in_order(registry: DistrictRegistry,
                                                                            tmp_path: Path) -> None:
    """Messages fetched before a restore to an older checkpoint must not make the events between vanish."""
    part = Partition(registry, tmp_path)
    recs = [payment(f"g{i}", T0) for i in range(12)]

    async def test() -> None:
        proc = await part.open()
        seeks: list[tuple[int, int]] = []

        async def seek(partition: int, offset: int) -> None:
            seeks.append((partition, offset))

        proc.seek = seek
        for i in range(5):
            await proc.process(i, None, part.value(recs[i]))
        await proc.process(9, None, part.value(recs[9]))  # 5-8 were never applied here
        await proc.process(10, None, part.value(recs[10]))  # still from before the seek: dropped
        assert seeks == [(0, 5)] and proc.state.offset == 4
        for i in range(5, 12):  # the source delivers again from 5
            await proc.process(i, None, part.value(recs[i]))
        assert proc.state.offset == 11 and proc.state.outcomes["accepted"] == 12 and proc.gaps == 0

    run(test)


def test_offsets_missing_from_the_log_are_gone_past_after_the_patience(registry: DistrictRegistry,
                                                                       tmp_path: Path) -> None:
    from streams.processor.loop import GAP_PATIENCE

    part = Partition(registry, tmp_path)

    async def test() -> None:
        proc = await part.open()
        seeks: list[int] = []

        async def seek(partition: int, offset: int) -> None:
            seeks.append(offset)

        proc.seek = seek
        await proc.process(0, None, part.value(payment("m0", T0)))
        await proc.process(7, None, part.value(payment("m7", T0)))  # 1-6: say, retention or transaction markers
        assert seeks == [1] and proc.state.offset == 0
        part.clock.t += GAP_PATIENCE + 1
        await proc.process(7, None, part.value(payment("m7", T0)))  # the seek brought 7 again: nothing at 1-6
        assert proc.state.offset == 7 and proc.gaps == 1 and proc.state.outcomes["accepted"] == 2

    run(test)
