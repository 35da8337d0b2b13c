"""PaymentCheckpointer against a plain dict table: deltas, snapshots, deletion, restore, gaps."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from typing import Any

import pytest

from streams.dedupe import dedupe_key
from streams.errors import EventError
from streams.payments.checkpoint import CheckpointMeta, PaymentCheckpointer, decode_value
from streams.payments.state import ACCEPTED, DUPLICATE, PaymentPartitionState

from .factories import HOUR_MS, MINUTE_MS, T0, payment

MakeState = Callable[..., PaymentPartitionState]
TOPIC = "payments"
CHANNELS = ("UPI", "CASH", "DEBIT_CARD", "CHEQUE", "AEPS")
STATUSES = ("SUCCESS", "SUCCESS", "SUCCESS", "TECHNICAL_DECLINE", "BUSINESS_DECLINE")


def batch(rng: random.Random, start: int, n: int, newest_ms: int, spread_ms: int,
          history: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """``n`` random events up to ``newest_ms``, spread back over ``spread_ms``; ~10 % re-send one of ``history``."""
    out: list[dict[str, Any]] = []
    for i in range(start, start + n):
        if history and rng.random() < 0.1:
            out.append(dict(rng.choice(history)))  # a re-sent event: same id, same content
            continue
        out.append(payment(f"e{i}", newest_ms - rng.randrange(spread_ms), lgd=rng.choice((45, 46, 49)),
                           bank=rng.choice(("SBIN", "PUNB")), channel=rng.choice(CHANNELS),
                           amount=rng.randrange(1, 100_000), status=rng.choice(STATUSES)))
        if history is not None:
            history.append(out[-1])
    return out


class Run:
    """One partition's state, its checkpointer on a dict table, and the offsets fed so far."""

    def __init__(self, make_state: MakeState, snapshot_every: int, horizon_s: float = 48 * 3600.0,
                 partition: int = 3, windows: tuple[float, ...] = (3600.0, 86400.0)) -> None:
        self.make_state = make_state
        self.horizon_s = horizon_s
        self.windows = windows
        self.table: dict[bytes, bytes] = {}
        self.cp = PaymentCheckpointer(self.table, TOPIC, snapshot_every=snapshot_every)
        self.state = make_state(partition, horizon_s, windows)
        self.meta = CheckpointMeta()
        self.offset = -1
        self.partition = partition
        self.fed: list[tuple[str, int]] = []  # (dedupe key, event time) of every event fed

    def feed(self, records: list[dict[str, Any]], now_ms: int) -> None:
        for r in records:  # as the agent does: a refused event is counted and skipped
            self.offset += 1
            try:
                self.state.apply(r, self.offset, now_ms)
            except EventError as exc:
                self.state.reject(exc.code, self.offset)
                continue
            self.fed.append((dedupe_key(r["bank_code"], r["event_id"]), r["occurred_at"]))

    def save(self) -> None:
        self.cp.save(self.state, self.meta)

    def restore(self, table: dict[bytes, bytes] | None = None) -> tuple[PaymentPartitionState, CheckpointMeta]:
        items = list((table if table is not None else self.table).items())
        out = self.cp.restore(items, [self.partition], lambda p: self.make_state(p, self.horizon_s, self.windows))
        assert set(out) == {self.partition}
        return out[self.partition]

    def delta_seqs(self) -> list[int]:
        prefix = f"{TOPIC}/{self.partition}/D/".encode()
        return sorted(int(k[len(prefix):]) for k in self.table if k.startswith(prefix))

    def full(self) -> dict[str, Any] | None:
        raw = self.table.get(f"{TOPIC}/{self.partition}/F".encode())
        return None if raw is None else decode_value(raw)


def snapshot(state: PaymentPartitionState) -> dict[str, Any]:
    """Everything observable about a state, with every bank window ended at its district's head.

    A bank whose every bucket has left the windows reads as zero live and is absent after a
    restore; both mean "nothing in the window", so all-zero bank windows are left out.
    """
    for d in state.districts.values():
        for r in d.banks.values():
            if d.rolling.head is not None:
                r.advance_to(d.rolling.head)
    return {
        "counters": json.loads(json.dumps(state.counters())),
        "buckets": json.loads(json.dumps(state.all_buckets())),
        "windows": {lgd: [list(d.rolling.window(i)) for i in range(2)] for lgd, d in state.districts.items()},
        "bank_windows": {(lgd, b): [list(r.window(i)) for i in range(2)]
                         for lgd, d in state.districts.items() for b, r in d.banks.items() if any(r.window(1))},
        "heads": {lgd: d.rolling.head for lgd, d in state.districts.items()},
    }


def test_restore_after_deltas_and_snapshot_is_identical(make_state: MakeState) -> None:
    rng = random.Random(7)
    history: list[dict[str, Any]] = []
    run = Run(make_state, snapshot_every=3)
    now = T0
    for k in range(8):  # 8 deltas: snapshots at 3 and 6, deltas 7 and 8 on top
        now += 20 * MINUTE_MS
        run.feed(batch(rng, k * 40, 40, now, 3 * HOUR_MS, history), now + MINUTE_MS)
        run.save()
    assert run.full() is not None and run.full()["seq"] == 6  # type: ignore[index]
    assert run.delta_seqs() == list(range(1, 9)), "all deltas are within the dedupe horizon: none deleted"
    # state changes after the last save are not in the checkpoint and must not appear after restore
    expected = snapshot(run.state)
    offset_saved, watermark_saved = run.offset, run.state.watermark_ms
    ids_saved = {key for key, _ in run.fed}
    run.feed([payment("unsaved", now)], now)

    state, meta = run.restore()
    assert snapshot(state) == expected
    assert state.offset == offset_saved
    assert state.watermark_ms == watermark_saved
    assert meta.epoch == 8 and meta.snapshot_epoch == 6
    assert [seq for seq, _ in meta.live] == list(range(1, 9))
    assert len(state.dedupe) == len(ids_saved) == len(run.state.dedupe) - 1  # all but the unsaved one
    assert all(k in state.dedupe for k in ids_saved)
    # a re-sent event is still a duplicate; an event that was never saved is new
    assert state.apply(dict(history[0]), offset_saved + 1, now) == DUPLICATE
    assert state.apply(payment("unsaved", now), offset_saved + 2, now) == ACCEPTED


def test_restore_from_deltas_only(make_state: MakeState) -> None:
    rng = random.Random(3)
    run = Run(make_state, snapshot_every=100)
    for k in range(4):
        run.feed(batch(rng, k * 25, 25, T0 + k * HOUR_MS, 2 * HOUR_MS), T0 + k * HOUR_MS)
        run.save()
    assert run.full() is None
    state, meta = run.restore()
    assert snapshot(state) == snapshot(run.state)
    assert meta.epoch == 4 and meta.snapshot_epoch == 0


def test_restore_of_empty_table_is_a_fresh_state(make_state: MakeState) -> None:
    run = Run(make_state, snapshot_every=2)
    state, meta = run.restore()
    assert state.offset == -1 and state.districts == {} and len(state.dedupe) == 0
    assert meta.epoch == 0 and not meta.live


def test_restore_ignores_other_partitions_and_topics(make_state: MakeState) -> None:
    run = Run(make_state, snapshot_every=1, partition=3)
    run.feed([payment("a")], T0)
    run.save()
    other = Run(make_state, snapshot_every=1, partition=4)
    other.feed([payment("b", lgd=49), payment("c", lgd=49)], T0)
    other.save()
    foreign = PaymentCheckpointer(run.table, "payments-other", snapshot_every=1)
    s = make_state(3)
    s.apply(payment("z", lgd=50), 0, T0)
    foreign.save(s, CheckpointMeta())
    table = {**run.table, **other.table}
    state, _ = run.restore(table)
    assert set(state.districts) == {45}
    assert state.outcomes == {"accepted": 1}
    both = run.cp.restore(list(table.items()), [3, 4], lambda p: make_state(p))
    assert set(both[4][0].districts) == {49} and both[4][0].offset == 1


def test_restored_state_keeps_checkpointing(make_state: MakeState) -> None:
    rng = random.Random(11)
    run = Run(make_state, snapshot_every=2)
    for k in range(3):
        run.feed(batch(rng, k * 30, 30, T0 + k * HOUR_MS, HOUR_MS), T0 + k * HOUR_MS)
        run.save()
    state, meta = run.restore()
    # continue from the restored state with the same events on both sides
    later = batch(rng, 1000, 30, T0 + 4 * HOUR_MS, HOUR_MS)
    for i, r in enumerate(later):
        assert state.apply(r, run.offset + 1 + i, T0 + 4 * HOUR_MS) == run.state.apply(
            r, run.offset + 1 + i, T0 + 4 * HOUR_MS)
    run.offset += len(later)
    run.cp.save(state, meta)
    assert meta.epoch == 4
    again, _ = run.restore()
    assert snapshot(again) == snapshot(run.state)


def test_deltas_deleted_only_when_snapshotted_and_out_of_dedupe_horizon(make_state: MakeState) -> None:
    horizon_h = 3
    run = Run(make_state, snapshot_every=4, horizon_s=horizon_h * 3600.0)
    newest: dict[int, int] = {}
    for seq in range(1, 16):  # one delta per hour of event time
        ts = T0 + seq * HOUR_MS
        run.feed([payment(f"h{seq}", ts), payment(f"h{seq}b", ts - MINUTE_MS)], ts)
        run.save()
        newest[seq] = ts
        snap = (seq // 4) * 4
        horizon_start = ts - horizon_h * HOUR_MS
        expected = [j for j in range(1, seq + 1) if not (j <= snap and newest[j] < horizon_start)]
        assert run.delta_seqs() == expected, f"after delta {seq}"
        full = run.full()
        assert (full["seq"] if full else 0) == snap
    # the checkpoint still restores exactly, dedupe included for every id still in the horizon
    state, _ = run.restore()
    assert snapshot(state) == snapshot(run.state)
    last = T0 + 15 * HOUR_MS
    assert state.apply(payment("h15", last), 100, last) == DUPLICATE
    assert state.apply(payment("h13", last - 2 * HOUR_MS), 101, last) == DUPLICATE
    assert state.apply(payment("h12", last - 3 * HOUR_MS), 102, last) == DUPLICATE  # exactly at the horizon


def test_deltas_kept_without_snapshot_even_when_old(make_state: MakeState) -> None:
    run = Run(make_state, snapshot_every=1000, horizon_s=3600.0)
    for seq in range(1, 6):
        ts = T0 + seq * 5 * HOUR_MS
        run.feed([payment(f"x{seq}", ts)], ts)
        run.save()
    assert run.delta_seqs() == [1, 2, 3, 4, 5] and run.full() is None


def test_deltas_kept_inside_horizon_even_when_snapshotted(make_state: MakeState) -> None:
    run = Run(make_state, snapshot_every=1, horizon_s=48 * 3600.0)
    for seq in range(1, 6):
        ts = T0 + seq * HOUR_MS
        run.feed([payment(f"x{seq}", ts)], ts)
        run.save()
    assert run.delta_seqs() == [1, 2, 3, 4, 5]
    assert run.full()["seq"] == 5  # type: ignore[index]


def test_save_resets_the_since_checkpoint_bookkeeping(make_state: MakeState) -> None:
    run = Run(make_state, snapshot_every=5)
    run.feed([payment("a"), payment("b", lgd=49)], T0)
    run.save()
    assert run.state.new_ids == [] and run.state.dirty == set() and run.state.applied_since_checkpoint == 0
    delta = decode_value(run.table[f"{TOPIC}/3/D/{1:012d}".encode()])
    assert delta["seq"] == 1 and delta["newest"] == T0
    assert sorted(delta["buckets"]) == ["45", "49"]
    assert [k.split("\x1f")[1] for k, _ in delta["ids"]] == ["a", "b"]
    assert delta["counters"]["offset"] == 1
    run.save()  # nothing new: the delta still records the offset and counters
    delta2 = decode_value(run.table[f"{TOPIC}/3/D/{2:012d}".encode()])
    assert delta2["ids"] == [] and delta2["buckets"] == {} and delta2["newest"] == T0


def gap_records(seq: int) -> list[dict[str, Any]]:
    """The two events (offsets 2*seq-2 and 2*seq-1) that delta ``seq`` of ``gap_run`` covers."""
    ts = T0 + seq * 10 * MINUTE_MS
    return [payment(f"g{seq}", ts, channel="UPI"), payment(f"g{seq}c", ts, channel="CASH")]


def gap_run(make_state: MakeState, horizon_s: float = 48 * 3600.0) -> tuple[Run, dict[int, dict[str, Any]]]:
    """Five deltas, a snapshot at 3, then delta 4 lost: returns the run and the state seen at each save."""
    run = Run(make_state, snapshot_every=3, horizon_s=horizon_s)
    seen = {}
    for seq in range(1, 6):
        run.feed(gap_records(seq), T0 + seq * 10 * MINUTE_MS)
        run.save()
        seen[seq] = snapshot(run.state)
    del run.table[f"{TOPIC}/{run.partition}/D/{4:012d}".encode()]
    return run, seen


def test_gap_after_snapshot_stops_applying_later_deltas(make_state: MakeState) -> None:
    run, seen = gap_run(make_state)
    state, meta = run.restore()
    assert snapshot(state) == seen[3], "only the snapshot applies; delta 5 does not follow it"
    assert state.offset == 5  # offset of the last event in delta 3 (two events per delta)
    assert meta.epoch == 3 and meta.snapshot_epoch == 3


def test_events_of_an_unapplied_delta_are_not_duplicates_after_a_gap(make_state: MakeState) -> None:
    """After a gap the offset rewinds to the snapshot's, so deltas 4 and 5's events are replayed: they must count."""
    run, seen = gap_run(make_state)
    state, _ = run.restore()
    now = T0 + 50 * MINUTE_MS
    replayed = gap_records(4) + gap_records(5)
    outcomes = [state.apply(r, state.offset + 1, now) for r in replayed]
    assert outcomes == [ACCEPTED] * 4, dict(zip((r["event_id"] for r in replayed), outcomes, strict=True))
    assert snapshot(state) == seen[5]


def test_checkpointing_continues_after_a_gap_restore(make_state: MakeState) -> None:
    """A worker restored across a gap replays and keeps saving; every later restore must equal it."""
    run, _ = gap_run(make_state, horizon_s=3 * 3600.0)
    run.state, run.meta = run.restore()
    run.offset = run.state.offset
    run.feed(gap_records(4) + gap_records(5), T0 + 50 * MINUTE_MS)  # what Kafka replays after the rewind
    for k in range(1, 10):
        ts = T0 + 50 * MINUTE_MS + k * HOUR_MS
        run.feed([payment(f"n{k}", ts), payment(f"n{k}c", ts - MINUTE_MS, channel="CASH")], ts)
        run.save()  # must not fail, e.g. by deleting a delta twice
        if k == 1:
            assert run.delta_seqs() == [1, 2, 3, 4], "the orphaned delta 5 is gone before a new 5 is written"
        state, _ = run.restore()
        assert snapshot(state) == snapshot(run.state), f"save {k} after the gap restore"
        horizon_start = run.state.watermark_ms - run.state.dedupe.horizon_ms
        lost = sorted(key.split("\x1f")[1] for key, t in run.fed if t >= horizon_start and key not in state.dedupe)
        assert lost == [], f"save {k}: ids inside the dedupe horizon lost from the checkpoint"


@pytest.mark.parametrize("seed", range(3))
def test_restore_matches_live_at_every_save(make_state: MakeState, seed: int) -> None:
    rng = random.Random(seed)
    history: list[dict[str, Any]] = []
    run = Run(make_state, snapshot_every=2, horizon_s=4 * 3600.0, windows=(600.0, 3600.0))
    now = T0
    for k in range(10):
        now += rng.randrange(10, 90) * MINUTE_MS
        run.feed(batch(rng, k * 30, 30, now, 3 * HOUR_MS, history), now)
        run.save()
        state, _ = run.restore()
        assert snapshot(state) == snapshot(run.state), f"save {k + 1}"
        assert len(state.dedupe) >= 1
        # every id inside the dedupe horizon is known after restore (older ones are refused as too_old)
        horizon_start = run.state.watermark_ms - run.state.dedupe.horizon_ms
        inside = {key for key, ts in run.fed if ts >= horizon_start}
        assert inside and all(key in state.dedupe for key in inside)
    assert run.delta_seqs()[0] > 1, "old deltas were deleted along the way"
    assert all(run.state.outcomes[o] > 0 for o in ("accepted", "duplicate", "late", "rejected"))


def test_a_full_day_snapshot_fits_in_a_kafka_message() -> None:
    """24 h of minute buckets, 2 districts, 9 banks, every status and mode: one changelog
    value must stay under Kafka's default 1 MB message size (with room to spare)."""
    from streams.registry import default_registry

    state = PaymentPartitionState(0, default_registry(), (3600.0, 86400.0), 48 * 3600.0, 300.0)
    banks = ["SBIN", "PUNB", "BARB", "CNRB", "UBIN", "HDFC", "ICIC", "UTKS", "NTBL"]
    combos = [(c, st) for c in ("UPI", "CASH") for st in ("SUCCESS", "TECHNICAL_DECLINE", "BUSINESS_DECLINE")]
    start = T0 - 86_400_000 + 60_000
    n = 0
    for minute in range(1440):
        for lgd in (45, 49):
            for b, bank in enumerate(banks):
                channel, status = combos[(minute + b) % len(combos)]
                ts = start + minute * 60_000
                state.apply({"event_id": f"e{n}", "occurred_at": ts, "district_lgd": lgd, "bank_code": bank,
                             "branch_ifsc": None, "channel": channel, "amount_paise": 12_345 + n,
                             "status": status, "purpose": "P2P"}, n, ts)
                n += 1
    table: dict[bytes, bytes] = {}
    PaymentCheckpointer(table, TOPIC, snapshot_every=1).save(state, CheckpointMeta())
    full = table[f"{TOPIC}/0/F".encode()]
    assert len(full) < 900_000, f"full snapshot is {len(full)} bytes"
    assert len(decode_value(full)["buckets"]["45"]) == 1440


def test_a_delta_that_does_not_extend_the_previous_checkpoint_is_not_applied() -> None:
    """A stale delta (e.g. a local-only write of an earlier owner) with the next seq but another
    base offset must not be chained on: its events are replayed instead."""
    from streams.registry import default_registry

    def state() -> PaymentPartitionState:
        return PaymentPartitionState(0, default_registry(), (3600.0, 86400.0), 48 * 3600.0, 300.0)

    def event(i: int) -> dict[str, Any]:
        return {"event_id": f"e{i}", "occurred_at": T0 + i, "district_lgd": 45, "bank_code": "SBIN",
                "branch_ifsc": None, "channel": "UPI", "amount_paise": 100, "status": "SUCCESS", "purpose": "P2P"}

    table: dict[bytes, bytes] = {}
    cp = PaymentCheckpointer(table, TOPIC, snapshot_every=100)
    live, meta = state(), CheckpointMeta()
    for i in range(3):
        live.apply(event(i), i, T0)
    cp.save(live, meta)  # seq 1, offsets 0-2
    stale_table: dict[bytes, bytes] = {}
    stale, stale_meta = state(), CheckpointMeta()
    for i in range(10, 15):
        stale.apply(event(i), i + 100, T0)
    PaymentCheckpointer(stale_table, TOPIC).save(stale, stale_meta)  # its seq 1
    stale_meta.epoch = 1
    stale.apply(event(20), 200, T0)
    PaymentCheckpointer(stale_table, TOPIC).save(stale, stale_meta)  # seq 2, base 104
    table[f"{TOPIC}/0/D/{2:012d}".encode()] = stale_table[f"{TOPIC}/0/D/{2:012d}".encode()]
    restored, rmeta = cp.restore(table.items(), [0], lambda p: state())[0]
    assert restored.offset == 2 and rmeta.epoch == 1 and rmeta.orphans == [2]
    assert dedupe_key("SBIN", "e20") not in restored.dedupe
    assert restored.outcomes["accepted"] == 3
