"""CheckpointStore + Lineage on a real RocksKV and DedupeStore: roundtrip, bounded restore, id blocks, fencing."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

import streams.processor.store as store_module
from streams.payments.state import PaymentPartitionState
from streams.processor.dedupe import DedupeStore
from streams.processor.kv import RocksKV
from streams.processor.store import CheckpointStore, decode_snapshot, decode_value, encode_value
from streams.registry import DistrictRegistry
from streams.seeding.state import RESERVED_PREFIX, SeedingPartitionState, account_key, unpack

from .factories import HOUR_MS, MINUTE_MS, SKEW_S, T0, payment, seeding_event
from .kit import (
    DAY_MS,
    Clock,
    CountingKV,
    Owner,
    all_items,
    day_of,
    figures,
    keys,
    payments_signal,
    seeding_signal,
    seen,
)

CHANNELS = ("UPI", "CASH", "DEBIT_CARD", "CHEQUE", "AEPS")
STATUSES = ("SUCCESS", "SUCCESS", "SUCCESS", "TECHNICAL_DECLINE", "BUSINESS_DECLINE")
START = T0 / 1000 + 2 * 3600  # the worker's clock at the start of most tests (seconds)


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


def epoch_of(key: bytes) -> int:
    """The epoch a store key was written in (``F/<epoch>``, ``D/<epoch>/<seq>``, ``I/<day>/<epoch>/<seq>``)."""
    parts = key.lstrip(RESERVED_PREFIX).split(b"/")
    return int(parts[2] if parts[0] == b"I" else parts[1])


def block_ids(kv: RocksKV) -> list[tuple[int, int, int]]:
    """(day, epoch, seq) of every id block."""
    return [tuple(int(x) for x in k.split(b"/")[1:]) for k in keys(kv, b"I/")]  # type: ignore[misc]


class Setup:
    """One partition's RocksKV, its payments signal and the worker's clock."""

    def __init__(self, registry: DistrictRegistry, tmp_path: Path, snapshot_every: int = 120,
                 horizon_s: float = 7 * 86400.0, counting: bool = False, now: float = START) -> None:
        self.tmp_path = tmp_path
        self.kv: RocksKV = (CountingKV if counting else RocksKV)(tmp_path / "kv")
        self.clock = Clock(now)
        self.signal = payments_signal(registry, self.kv, tmp_path, snapshot_every=snapshot_every,
                                      horizon_s=horizon_s, clock=self.clock)
        self.nodes = 0
        self._probe: DedupeStore | None = None

    def dedupe(self, name: str | None = None) -> DedupeStore:
        """A dedupe store; a new name is a new node (empty store)."""
        if name is None:
            self.nodes += 1
            name = f"node-{self.nodes}"
        return DedupeStore(self.tmp_path / "dedupe" / name)

    def owner(self, dedupe: DedupeStore | None = None) -> Owner:
        return Owner(self.signal, dedupe if dedupe is not None else self.dedupe(), self.clock)

    def probe(self) -> tuple[PaymentPartitionState, Any]:
        """A read-only restore (no new epoch, no marker committed): what the next owner would get.

        Its dedupe store never gets a marker, so every probe rebuilds it from the id blocks.
        """
        if self._probe is None:
            self._probe = self.dedupe("probe")
        kv = self.kv
        return self.signal.store.restore(kv, lambda: self.signal.make_state(0, kv), self._probe)


# --- roundtrip -------------------------------------------------------------------------------------


def test_restore_after_deltas_and_snapshots_is_identical(registry: DistrictRegistry, tmp_path: Path) -> None:
    rng = random.Random(7)
    history: list[dict[str, Any]] = []
    s = Setup(registry, tmp_path, snapshot_every=3)
    a = s.owner()
    assert a.lineage.epoch == 1 and keys(s.kv, b"F/") == [b"F/00000001"]
    for k in range(8):  # 8 checkpoints: snapshots at 3 and 6, deltas 7 and 8 on top
        s.clock.t += 20 * 60
        now_ms = int(s.clock.t * 1000)
        a.feed([*batch(rng, k * 40, 40, now_ms, 3 * HOUR_MS, history), payment(f"old{k}", now_ms - 30 * HOUR_MS)])
        a.feed([b"not avro at all"])
        a.save()
    assert decode_snapshot(s.kv.get(b"F/00000001"))["seq"] == 6  # type: ignore[arg-type]
    assert keys(s.kv, b"D/") == [b"D/00000001/000000000007", b"D/00000001/000000000008"]
    assert all(a.state.outcomes[o] > 0 for o in ("accepted", "duplicate", "late", "rejected"))
    # state changes after the last save are not in the checkpoint and must not appear after the restore
    expected = figures(a.state)
    saved = {(r["bank_code"], r["event_id"]) for r in history} | {("SBIN", f"old{k}") for k in range(8)}
    a.feed([payment("unsaved", int(s.clock.t * 1000))])

    b = s.owner()  # a new node: its dedupe store is rebuilt from the id blocks
    assert figures(b.state) == expected
    assert b.state.offset == expected["offset"] == 8 * 42 - 1
    assert (b.lineage.epoch, b.lineage.seq) == (2, 8)
    assert all(seen(b.dedupe, bank, eid) for bank, eid in saved)
    assert not seen(b.dedupe, "SBIN", "unsaved")
    # a re-sent event is still a duplicate; an event that was never checkpointed is new
    assert b.feed([history[0], payment("unsaved", int(s.clock.t * 1000))]) == ["duplicate", "accepted"]


def test_restore_from_deltas_only(registry: DistrictRegistry, tmp_path: Path) -> None:
    rng = random.Random(3)
    s = Setup(registry, tmp_path, snapshot_every=100)
    a = s.owner()
    for k in range(4):
        s.clock.t += 3600
        a.feed(batch(rng, k * 25, 25, int(s.clock.t * 1000), 2 * HOUR_MS))
        a.save()
    assert len(keys(s.kv, b"D/")) == 4
    state, lineage = s.probe()
    assert figures(state) == figures(a.state)
    assert (lineage.epoch, lineage.seq, lineage.snapshot_seq) == (1, 4, 0)


def test_a_new_epoch_copies_the_restored_chain(registry: DistrictRegistry, tmp_path: Path) -> None:
    """F/<new epoch> is the restored snapshot's bytes and the deltas chained onto it, under a new
    header: nothing is re-encoded, and restores in quick succession keep the chain within
    ``snapshot_every`` (the carried deltas count towards the next full snapshot)."""
    rng = random.Random(5)
    s = Setup(registry, tmp_path, snapshot_every=5)
    a = s.owner()
    for k in range(7):  # a snapshot at 5, deltas 6 and 7
        s.clock.t += 600
        a.feed(batch(rng, k * 20, 20, int(s.clock.t * 1000), 2 * HOUR_MS))
        a.save()
    old = store_module._parts(s.kv.get(b"F/00000001"))  # type: ignore[arg-type]
    chained = [s.kv.get(k) for k in keys(s.kv, b"D/")]
    expected = figures(a.state)
    b = s.owner()
    new = store_module._parts(s.kv.get(b"F/00000002"))  # type: ignore[arg-type]
    assert new[1:] == [old[1], *chained], "the state and its deltas, byte for byte"
    assert decode_snapshot(s.kv.get(b"F/00000002"))["seq"] == 7 and b.lineage.carried == 2  # type: ignore[arg-type]
    assert figures(b.state) == expected
    c = s.owner()  # restored again before b wrote anything: the same chain, carried on
    assert figures(c.state) == expected and c.lineage.carried == 2
    for k in range(3):  # 2 carried + 3 more: the third save is a full snapshot again
        s.clock.t += 600
        c.feed(batch(rng, 200 + k * 20, 20, int(s.clock.t * 1000), 2 * HOUR_MS))
        c.save()
    assert len(store_module._parts(s.kv.get(b"F/00000003"))) == 2 and c.lineage.carried == 0  # type: ignore[arg-type]
    assert keys(s.kv, b"D/00000003/") == []
    assert figures(s.owner().state) == figures(c.state)


def test_a_state_changed_after_its_restore_is_snapshot_afresh(registry: DistrictRegistry, tmp_path: Path) -> None:
    s = Setup(registry, tmp_path, snapshot_every=5)
    a = s.owner()
    a.feed([payment("a")])
    a.save()
    b = Owner(s.signal, s.dedupe(), s.clock, start=False)
    b.feed([payment("b")])  # not the contract (start_epoch comes first), but never a stale snapshot
    b.start_epoch()
    assert decode_snapshot(s.kv.get(b"F/00000002"))["deltas"] == [] and b.lineage.carried == 0  # type: ignore[arg-type]
    assert figures(s.probe()[0]) == figures(b.state)


def test_restore_of_an_empty_store_is_a_fresh_state(registry: DistrictRegistry, tmp_path: Path) -> None:
    s = Setup(registry, tmp_path)
    state, lineage = s.probe()
    assert state.offset == -1 and state.districts == {} and not state.outcomes
    assert (lineage.epoch, lineage.seq, lineage.outbox, lineage.stale) == (0, 0, [], [])
    a = s.owner()
    assert a.lineage.epoch == 1 and keys(s.kv, b"F/") == [b"F/00000001"]
    assert keys(s.kv, b"D/") == [] and keys(s.kv, b"I/") == []


def test_restored_state_keeps_checkpointing(registry: DistrictRegistry, tmp_path: Path) -> None:
    rng = random.Random(11)
    s = Setup(registry, tmp_path, snapshot_every=2)
    a = s.owner()
    for k in range(3):
        s.clock.t += 3600
        a.feed(batch(rng, k * 30, 30, int(s.clock.t * 1000), HOUR_MS))
        a.save()
    b = s.owner()
    # the same later events on both sides (a only handles them: it writes nothing more)
    s.clock.t += 3600
    later = [*batch(rng, 1000, 30, int(s.clock.t * 1000), HOUR_MS), payment("e5")]
    assert b.feed(later) == a.feed(later)
    b.save()
    again, _ = s.probe()
    assert figures(again) == figures(b.state) == figures(a.state)


def test_save_resets_the_since_checkpoint_bookkeeping(registry: DistrictRegistry, tmp_path: Path) -> None:
    s = Setup(registry, tmp_path, snapshot_every=5)
    a = s.owner()
    a.feed([payment("a"), payment("b", lgd=49)])
    assert a.state.dirty and len(a.dedupe.pending) == 2
    a.save()
    assert a.state.dirty == set() and a.dedupe.pending == {}
    delta = decode_value(s.kv.get(b"D/00000001/000000000001"))  # type: ignore[arg-type]
    assert delta["seq"] == 1 and delta["prev"] == decode_snapshot(s.kv.get(b"F/00000001"))["id"]  # type: ignore[arg-type]
    assert sorted(delta["state"]["buckets"]) == ["45", "49"]
    assert delta["state"]["counters"]["offset"] == 1
    assert block_ids(s.kv) == [(day_of(T0), 1, 1)]
    assert len(s.kv.get(b"I/%06d/00000001/000000000001" % day_of(T0)) or b"") == 32  # two 16-byte ids
    a.save()  # nothing new: the delta still records the offset and counters, and no id block is written
    delta2 = decode_value(s.kv.get(b"D/00000001/000000000002"))  # type: ignore[arg-type]
    assert delta2["state"]["buckets"] == {} and delta2["state"]["counters"]["offset"] == 1
    assert delta2["prev"] == delta["id"]
    assert block_ids(s.kv) == [(day_of(T0), 1, 1)]


def test_value_encoding_round_trip() -> None:
    obj = {"a": [1, 2, {"b": None}], "c": "é"}
    assert decode_value(encode_value(obj)) == obj
    assert len(encode_value({"z": [0] * 10_000})) < 200, "zlib: a snapshot is mostly zeros"


def test_a_full_day_snapshot_fits_in_a_kafka_message(registry: DistrictRegistry, tmp_path: Path) -> None:
    """24 h of minute buckets, 2 districts, 9 banks, every status and mode: one changelog
    value must stay under Kafka's default 1 MB message size (with room to spare)."""
    state = PaymentPartitionState(0, registry, (3600.0, 86400.0), SKEW_S)
    banks = ["SBIN", "PUNB", "BARB", "CNRB", "UBIN", "HDFC", "ICIC", "UTKS", "NTBL"]
    combos = [(c, st) for c in ("UPI", "CASH") for st in ("SUCCESS", "TECHNICAL_DECLINE", "BUSINESS_DECLINE")]
    start = T0 - 86_400_000 + 60_000
    n = 0
    for minute in reversed(range(1440)):  # newest first: the same state, without moving the windows 1440 times
        for lgd in (45, 49):
            for b, bank in enumerate(banks):
                channel, status = combos[(minute + b) % len(combos)]
                ts = start + minute * 60_000
                assert state.apply(payment(f"e{n}", ts, lgd=lgd, bank=bank, channel=channel, amount=12_345 + n,
                                           status=status), n, T0) == "accepted"
                n += 1
    state.offset = n - 1
    kv = RocksKV(tmp_path / "kv")
    store = CheckpointStore(snapshot_every=1, clock=lambda: T0 / 1000)
    dedupe = DedupeStore(tmp_path / "dedupe")
    restored, lineage = store.restore(kv, lambda: state, dedupe)
    store.start_epoch(kv, restored, lineage, dedupe)
    full = kv.get(b"F/00000001")
    assert full is not None and len(full) < 900_000, f"full snapshot is {len(full or b'')} bytes"
    again = PaymentPartitionState(0, registry, (3600.0, 86400.0), SKEW_S)
    again.load(decode_snapshot(full)["state"], [])
    assert len(again.districts[45].rolling.live()) == 1440
    assert again.all_buckets() == state.all_buckets()


def test_prefixes_keep_signals_apart_in_one_store(registry: DistrictRegistry, tmp_path: Path) -> None:
    """Seeding's checkpoints share the accounts store (under RESERVED_PREFIX): neither sees the other's."""
    kv = RocksKV(tmp_path / "kv")
    clock = Clock(START)
    pay = Owner(payments_signal(registry, kv, tmp_path, clock=clock), DedupeStore(tmp_path / "p"), clock)
    accounts: dict[int, Any] = {}
    seed_signal = seeding_signal(registry, kv, tmp_path, accounts, clock=clock)
    seed = Owner(seed_signal, DedupeStore(tmp_path / "s"), clock)
    pay.feed([payment("a"), payment("b")])
    seed.feed([seeding_event("a", account="A1"), seeding_event("b", account="A2"), seeding_event("c", account="A3")])
    pay.save()
    seed.save()
    assert kv.get(account_key("SBIN", "A3")) is not None
    p2 = Owner(pay.signal, DedupeStore(tmp_path / "p2"), clock)
    s2 = Owner(seed_signal, DedupeStore(tmp_path / "s2"), clock)
    assert p2.state.offset == 1 and set(p2.state.districts) == {45}
    assert s2.state.offset == 2 and isinstance(s2.state, SeedingPartitionState)
    assert unpack(kv.get(account_key("SBIN", "A1")))[4] == "a"  # type: ignore[arg-type]
    assert (p2.lineage.epoch, s2.lineage.epoch) == (2, 2)
    assert seen(p2.dedupe, "SBIN", "a") and seen(s2.dedupe, "SBIN", "c") and not seen(p2.dedupe, "SBIN", "c")


# --- bounded restore -------------------------------------------------------------------------------


def test_restore_reads_at_most_snapshot_every_deltas(registry: DistrictRegistry, tmp_path: Path) -> None:
    rng = random.Random(0)
    history: list[dict[str, Any]] = []
    every = 5
    s = Setup(registry, tmp_path, snapshot_every=every, counting=True)
    kv: CountingKV = s.kv  # type: ignore[assignment]
    a = s.owner()
    for k in range(23):
        s.clock.t += rng.randrange(10, 90) * 60
        a.feed(batch(rng, k * 30, 30, int(s.clock.t * 1000), 3 * HOUR_MS, history))
        a.save()
        live = keys(kv, b"D/")
        assert len(live) <= every - 1, f"save {k + 1}: deltas covered by a snapshot were not deleted"
        assert len(live) == (k + 1) % every
        kv.reset_reads()
        state, lineage = s.probe()
        assert kv.touched(b"D/") <= every, f"save {k + 1}: restore read {kv.reads} deltas"
        assert kv.touched(b"F/") <= 2
        assert figures(state) == figures(a.state), f"save {k + 1}"
        assert lineage.seq == k + 1


def test_restore_cost_is_flat_with_uptime(registry: DistrictRegistry, tmp_path: Path) -> None:
    """10x more checkpoints (and 5x the horizon of clock time): as many keys live and read."""
    every, horizon_days = 10, 2
    s = Setup(registry, tmp_path, snapshot_every=every, horizon_s=horizon_days * 86400.0, counting=True)
    kv: CountingKV = s.kv  # type: ignore[assignment]
    a = s.owner()
    rng = random.Random(5)

    def run(checkpoints: int) -> dict[str, int]:
        for _ in range(checkpoints):
            s.clock.t += 2 * 3600
            now_ms = int(s.clock.t * 1000)
            a.feed([payment(f"x{a.state.offset + i}", now_ms - rng.randrange(HOUR_MS), lgd=rng.choice((45, 49)),
                            bank=rng.choice(("SBIN", "PUNB"))) for i in range(1, 6)])
            a.save()
        kv.reset_reads()
        state, _ = s.probe()
        assert figures(state) == figures(a.state)
        reads = kv.touched()
        live = len([k for k in keys(kv, b"") if not k.startswith(b"I/")])
        return {"reads": reads, "live": live, "blocks": len(keys(kv, b"I/")), "bytes": kv.live_bytes()}

    early = run(40)  # 80 h: past the horizon already
    late = run(400)  # 10x the checkpoints, 33 days of clock time
    for figure in (early, late):
        assert figure["live"] <= every, figure  # one snapshot and fewer than snapshot_every deltas
        assert figure["reads"] <= every + 2, figure  # + the snapshot's key and value
        assert figure["blocks"] <= (horizon_days + 2) * 12, figure  # 12 checkpoints a day, days in the horizon
    assert late["blocks"] <= early["blocks"] + 12
    assert late["bytes"] <= 1.5 * early["bytes"], (early, late)


# --- id blocks -------------------------------------------------------------------------------------


def test_id_blocks_expire_when_their_day_leaves_the_horizon(registry: DistrictRegistry, tmp_path: Path) -> None:
    day = day_of(T0)
    s = Setup(registry, tmp_path, horizon_s=2 * 86400.0, now=T0 / 1000 + 60)
    a = s.owner()
    a.feed([payment("d0", T0), payment("d0b", T0 + HOUR_MS)])
    a.save()
    s.clock.t = (T0 + DAY_MS + 60_000) / 1000
    a.feed([payment("d1", T0 + DAY_MS)])
    a.save()
    assert [b[0] for b in block_ids(s.kv)] == [day, day + 1]
    # the horizon (2 days, whole days before the clock) still holds day 0 one millisecond before its end
    s.clock.t = (T0 + 3 * DAY_MS - 1) / 1000
    a.feed([payment("d2", T0 + 2 * DAY_MS)])
    a.save()
    assert [b[0] for b in block_ids(s.kv)] == [day, day + 1, day + 2]
    assert a.lineage.frontier_day == day and seen(a.dedupe, "SBIN", "d0")
    s.clock.t = (T0 + 3 * DAY_MS) / 1000
    a.feed([payment("d3", T0 + 3 * DAY_MS)])
    a.save()
    assert [b[0] for b in block_ids(s.kv)] == [day + 1, day + 2, day + 3]
    assert a.lineage.frontier_day == day + 1 and a.dedupe.frontier_day == day + 1
    a.dedupe.frontier_day = 0
    assert not seen(a.dedupe, "SBIN", "d0") and not seen(a.dedupe, "SBIN", "d0b"), "deleted, not just hidden"
    assert seen(a.dedupe, "SBIN", "d1")
    a.dedupe.frontier_day = day + 1
    # day 0 is out of the horizon: refused as too_old (it could no longer be deduplicated)
    assert a.feed([payment("d0", T0)]) == ["rejected"] and a.state.deadletters["too_old"] == 1
    b = s.owner()  # a new node: the expired blocks are gone, the others rebuild its store
    assert seen(b.dedupe, "SBIN", "d1") and not seen(b.dedupe, "SBIN", "d0")
    assert b.feed([payment("d0", T0), payment("d1", T0 + DAY_MS)]) == ["rejected", "duplicate"]
    b.save()
    assert b.lineage.frontier_day == day + 1


def test_expiry_is_spread_over_saves(registry: DistrictRegistry, tmp_path: Path,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store_module, "EXPIRE_PER_SAVE", 2)
    s = Setup(registry, tmp_path, horizon_s=86400.0, now=T0 / 1000 + 60)
    a = s.owner()
    for i in range(5):  # five blocks of day 0
        a.feed([payment(f"e{i}", T0 + i)])
        a.save()
    s.clock.t = (T0 + 2 * DAY_MS) / 1000
    counts = []
    for i in range(4):
        a.feed([payment(f"n{i}", T0 + 2 * DAY_MS)])
        a.save()
        counts.append(sum(1 for b in block_ids(s.kv) if b[0] == day_of(T0)))
    assert counts == [3, 1, 0, 0]


def test_dedupe_store_reused_when_on_the_chain(registry: DistrictRegistry, tmp_path: Path) -> None:
    s = Setup(registry, tmp_path, counting=True)
    kv: CountingKV = s.kv  # type: ignore[assignment]
    a = s.owner(s.dedupe("a"))
    for k in range(3):
        a.feed([payment(f"a{k}"), payment(f"a{k}", bank="PUNB")])
        a.save()
    a.feed([payment("pending")])  # handled but never checkpointed
    a.dedupe.close()
    kv.reset_reads()
    again = s.owner(s.dedupe("a"))  # the same node restarts
    assert kv.reads[b"I/"] == 0, "no id block was read: the store was reused as it is"
    assert all(seen(again.dedupe, bank, f"a{k}") for k in range(3) for bank in ("SBIN", "PUNB"))
    assert not seen(again.dedupe, "SBIN", "pending")
    assert again.feed([payment("pending"), payment("a0")]) == ["accepted", "duplicate"]


def test_dedupe_store_behind_on_the_chain_catches_up(registry: DistrictRegistry, tmp_path: Path) -> None:
    s = Setup(registry, tmp_path, counting=True)
    kv: CountingKV = s.kv  # type: ignore[assignment]
    a = s.owner(s.dedupe("a"))
    a.feed([payment("a0")])
    a.save()
    a.dedupe.close()
    b = s.owner(s.dedupe("b"))  # the partition moves to node b (epoch 2) ...
    for k in range(2):
        b.feed([payment(f"b{k}")])
        b.save()
    b.dedupe.close()
    kv.reset_reads()
    back = s.owner(s.dedupe("a"))  # ... and back to node a, whose store stopped at epoch 1 seq 1
    assert back.lineage.epoch == 3
    assert kv.reads[b"I/"] == 2, "only b's two blocks were read"
    assert seen(back.dedupe, "SBIN", "a0") and seen(back.dedupe, "SBIN", "b0") and seen(back.dedupe, "SBIN", "b1")


def test_dedupe_store_rebuilt_when_off_the_chain_or_new(registry: DistrictRegistry, tmp_path: Path) -> None:
    s = Setup(registry, tmp_path, snapshot_every=100)
    a = s.owner(s.dedupe("a"))
    for k in range(3):
        a.feed([payment(f"a{k}")])
        a.save()
    # the last checkpoint never reached the changelog, though node a's dedupe store committed it
    s.kv.delete(b"D/00000001/000000000003")
    a.dedupe.close()
    back = s.owner(s.dedupe("a"))
    assert back.lineage.seq == 2
    assert seen(back.dedupe, "SBIN", "a0") and seen(back.dedupe, "SBIN", "a1")
    assert not seen(back.dedupe, "SBIN", "a2"), "the store described a checkpoint off the chain: rebuilt"
    assert back.feed([payment("a2"), payment("a1")]) == ["accepted", "duplicate"]
    fresh = s.owner()  # a new node: everything from the blocks
    assert seen(fresh.dedupe, "SBIN", "a0") and seen(fresh.dedupe, "SBIN", "a1")
    assert not seen(fresh.dedupe, "SBIN", "a2")


# --- fencing ---------------------------------------------------------------------------------------


def test_a_zombie_owner_can_neither_overwrite_nor_be_chained(registry: DistrictRegistry, tmp_path: Path) -> None:
    s = Setup(registry, tmp_path, snapshot_every=3)
    now_ms = int(START * 1000)
    zombie = s.owner(s.dedupe("a"))
    assert zombie.lineage.epoch == 1
    zombie.feed([payment("a0", now_ms), payment("a1", now_ms, lgd=49), b"garbage-a"])
    zombie.save()
    zombie.feed([payment("a2", now_ms, channel="CASH")])
    zombie.save()
    # node a pauses past its session; node b restores the partition
    b = s.owner(s.dedupe("b"))
    assert (b.lineage.epoch, b.lineage.seq) == (2, 2) and b.state.offset == zombie.state.offset
    b.feed([payment("b0", now_ms), b"garbage-b"])
    b.save()

    def owner_keys() -> dict[bytes, bytes]:
        return {k: v for k, v in all_items(s.kv).items() if epoch_of(k) == 2}

    # node a wakes up and carries on in its old lineage, interleaved with b
    zombie.feed([payment("z0", now_ms, amount=999_999), b"garbage-z"])
    zombie.save()
    b.feed([payment("b1", now_ms, lgd=49), payment("b2", now_ms - 2 * HOUR_MS, bank="PUNB"), b"garbage-b2"])
    letters_b = b.save()
    theirs = owner_keys()
    for k in range(1, 5):  # deltas, id blocks and (at its seq 3 and 6) snapshots
        zombie.feed([payment(f"z{k}", now_ms, lgd=46, bank="HDFC"), b"garbage-z%d" % k])
        zombie.save()
        assert owner_keys() == theirs, f"zombie save {k} touched the owner's keys"
    assert zombie.lineage.seq == 7 and zombie.lineage.snapshot_seq == 6
    assert any(e == 1 and seq > 2 for _, e, seq in block_ids(s.kv)), "the zombie did write id blocks"
    expected = figures(b.state)
    zombie_ids = [("SBIN", "z0")] + [("HDFC", f"z{k}") for k in range(1, 5)]

    def check(owner: Owner) -> None:
        assert figures(owner.state) == expected
        assert owner.lineage.outbox == letters_b and len(letters_b) == 1, "b's last letters, not the zombie's"
        assert not any(seen(owner.dedupe, bank, eid) for bank, eid in zombie_ids)
        assert all(seen(owner.dedupe, "SBIN", eid) for eid in ("a0", "a2", "b0", "b1"))
        assert seen(owner.dedupe, "PUNB", "b2")
        stale = set(owner.lineage.stale)
        assert {k for k in keys(s.kv, b"D/") if epoch_of(k) == 1} <= stale
        assert {b"I/%06d/%08d/%012d" % blk for blk in block_ids(s.kv) if blk[1] == 1 and blk[2] > 2} <= stale

    c = s.owner()  # a new node
    assert c.lineage.epoch == 3
    check(c)
    zombie.dedupe.close()
    d = s.owner(s.dedupe("a"))  # node a gets the partition back: its store holds the zombie's ids
    assert d.lineage.epoch == 4
    check(d)
    # the zombie's events were never part of the chain: they are new
    zombie_events = [payment("z0", now_ms, amount=999_999)] + [payment(f"z{k}", now_ms, lgd=46, bank="HDFC")
                                                                for k in range(1, 5)]
    assert d.feed(zombie_events) == ["accepted"] * 5
    d.save()
    # the stale keys are gone: of epoch 1 only the id blocks of the chain remain
    assert keys(s.kv, b"F/") == [b"F/00000003", b"F/00000004"]  # d restored from F/3: stale at the next restore
    assert [k for k in keys(s.kv, b"D/") if epoch_of(k) < 4] == []
    assert sorted(blk[1:] for blk in block_ids(s.kv) if blk[1] == 1) == [(1, 1), (1, 2)]
    e = s.owner()
    assert figures(e.state) == figures(d.state)
    assert all(seen(e.dedupe, bank, eid) for bank, eid in zombie_ids), "checkpointed by d: now duplicates"


def test_a_zombie_block_written_before_the_takeover_is_not_loaded(registry: DistrictRegistry,
                                                                    tmp_path: Path) -> None:
    """A checkpoint cut short (its id block written, its delta not): the block is off the chain."""
    s = Setup(registry, tmp_path, snapshot_every=100)
    a = s.owner(s.dedupe("a"))
    a.feed([payment("a0")])
    a.save()
    a.feed([payment("a1")])
    a.save()
    s.kv.delete(b"D/00000001/000000000002")  # as if the writer died between the block and the delta
    b = s.owner()
    assert b.lineage.seq == 1
    assert seen(b.dedupe, "SBIN", "a0") and not seen(b.dedupe, "SBIN", "a1")
    assert b"I/%06d/00000001/000000000002" % day_of(T0) in b.lineage.stale


def test_a_zombie_paused_inside_its_restore_cannot_take_the_new_owners_epoch(registry: DistrictRegistry,
                                                                              tmp_path: Path) -> None:
    """Node a restores, writes F/<epoch+1> and pauses before the broker has it (SIGSTOP in open_partition,
    between start_epoch and the flush). Node b takes over in a later group generation: it cannot see a's
    snapshot, but its epoch is at least its generation. a resumes, its snapshot lands, and it checkpoints
    once more in its own (lower) epoch."""
    s = Setup(registry, tmp_path, snapshot_every=2)
    now_ms = int(START * 1000)
    m = [payment(f"m{i}", now_ms) for i in range(7)]  # the source partition's messages, offsets 0-6
    first = s.owner(s.dedupe("first"))
    first.feed(m[:1])
    first.save()
    a = Owner(s.signal, s.dedupe("a"), s.clock, start=False, generation=5)  # F/<new epoch> in flight
    b = Owner(s.signal, s.dedupe("b"), s.clock, generation=6)  # the group's next generation
    b.feed(m[1:4])
    b.save()
    theirs = {k: v for k, v in all_items(s.kv).items() if epoch_of(k) == b.lineage.epoch}
    a.start_epoch()  # a's snapshot reaches the changelog now
    a.feed(m[1:2])  # a handled one more message before it noticed the revocation
    a.save()
    overwritten = sorted(k for k, v in theirs.items() if s.kv.get(k) != v)
    b.feed(m[4:7])
    b.save()  # b's snapshot (seq 3) of offsets 0-6
    c = s.owner()  # a new node
    assert figures(c.state) == figures(b.state)
    # m2 and m3 are in the restored state; their ids were in b's block I/<day>/<epoch>/2, which a overwrote
    assert c.feed([m[2], m[3]]) == ["duplicate", "duplicate"], "re-sent events counted twice"
    assert a.lineage.epoch != b.lineage.epoch and overwritten == [], overwritten


# --- outbox and stale keys -------------------------------------------------------------------------


def test_outbox_of_the_last_checkpoint_comes_back(registry: DistrictRegistry, tmp_path: Path) -> None:
    s = Setup(registry, tmp_path, snapshot_every=2)
    a = s.owner()
    a.feed([payment("ok1"), b"garbage-1"])
    first = a.save()  # seq 1: a delta
    a.feed([b"garbage-2", payment("bad", lgd=99)])
    second = a.save()  # seq 2: a snapshot
    assert len(first) == 1 and len(second) == 2 and keys(s.kv, b"D/") == []
    b = s.owner()
    assert b.lineage.outbox == second, "from the snapshot; the first checkpoint's letters were sent"
    c = s.owner()  # restored again before b wrote anything: b's new epoch carries them on
    assert c.lineage.outbox == second
    c.feed([payment("bad2", amount=-1)])
    third = c.save()  # a delta
    assert len(third) == 1
    d = s.owner()
    assert d.lineage.outbox == third
    d.feed([payment("ok2")])
    d.save()
    assert s.owner().lineage.outbox == []


def test_unchained_and_orphaned_deltas_are_stale_and_deleted(registry: DistrictRegistry, tmp_path: Path) -> None:
    s = Setup(registry, tmp_path, snapshot_every=100)
    a = s.owner()
    at: dict[int, dict[str, Any]] = {}
    for seq in range(1, 4):
        a.feed([payment(f"g{seq}", T0 + seq * 10 * MINUTE_MS), payment(f"g{seq}c", T0 + seq * MINUTE_MS,
                                                                        channel="CASH")])
        a.save()
        at[seq] = figures(a.state)
    # delta 2 names another predecessor (a local-only write of an earlier owner, say)
    key2 = b"D/00000001/000000000002"
    d2 = decode_value(s.kv.get(key2))  # type: ignore[arg-type]
    d2["prev"] = "00" * 8
    s.kv.put(key2, encode_value(d2))
    b = s.owner()
    assert figures(b.state) == at[1], "only what chains on is applied"
    assert b.state.offset == 1
    assert {key2, b"D/00000001/000000000003"} <= set(b.lineage.stale)
    stale = list(b.lineage.stale)
    # the events of the unchained deltas are replayed: they count, and are not duplicates
    assert b.feed([payment("g2", T0 + 20 * MINUTE_MS), payment("g2c", T0 + 2 * MINUTE_MS, channel="CASH"),
                   payment("g3", T0 + 30 * MINUTE_MS), payment("g3c", T0 + 3 * MINUTE_MS, channel="CASH")]
                  ) == ["accepted"] * 4
    assert figures(b.state) == at[3]
    b.save()
    assert b.lineage.stale == []
    assert all(s.kv.get(k) is None for k in stale)
    # left: the chained delta of epoch 1 (covered by F/2, stale at the next restore) and b's own
    assert keys(s.kv, b"D/") == [b"D/00000001/000000000001", b"D/00000002/000000000002"]
    c = s.owner()
    assert figures(c.state) == figures(b.state) == at[3]
    assert c.lineage.stale == [b"F/00000001", b"D/00000001/000000000001"]


def test_a_gap_after_a_snapshot_stops_the_chain(registry: DistrictRegistry, tmp_path: Path) -> None:
    s = Setup(registry, tmp_path, snapshot_every=3)
    a = s.owner(s.dedupe("a"))
    at: dict[int, dict[str, Any]] = {}

    def records(seq: int) -> list[dict[str, Any]]:
        ts = T0 + seq * 10 * MINUTE_MS
        return [payment(f"g{seq}", ts, channel="UPI"), payment(f"g{seq}c", ts, channel="CASH")]

    for seq in range(1, 6):
        a.feed(records(seq))
        a.save()
        at[seq] = figures(a.state)
    s.kv.delete(b"D/00000001/000000000004")
    a.dedupe.close()
    b = s.owner(s.dedupe("a"))
    assert figures(b.state) == at[3], "only the snapshot applies; delta 5 does not follow it"
    assert b.state.offset == 5
    assert b"D/00000001/000000000005" in b.lineage.stale
    assert b.feed(records(4) + records(5)) == ["accepted"] * 4, "the lost deltas' events are not duplicates"
    assert figures(b.state) == at[5]
    for k in range(1, 6):  # the restored owner keeps saving; every later restore equals it
        b.feed([payment(f"n{k}", T0 + k * HOUR_MS)])
        b.save()
        state, _ = s.probe()
        assert figures(state) == figures(b.state), f"save {k} after the gap"
        assert not [key for key in keys(s.kv, b"D/") if epoch_of(key) == 1]


def test_restore_matches_live_at_every_save_with_restarts(registry: DistrictRegistry, tmp_path: Path) -> None:
    """Owners come and go (each restoring the previous one's checkpoints); figures never drift."""
    rng = random.Random(42)
    history: list[dict[str, Any]] = []
    s = Setup(registry, tmp_path, snapshot_every=3, horizon_s=2 * 86400.0)
    owner = s.owner()
    for k in range(30):
        s.clock.t += rng.randrange(10, 300) * 60
        owner.feed(batch(rng, k * 20, 20, int(s.clock.t * 1000), 6 * HOUR_MS, history))
        owner.save()
        if rng.random() < 0.3:
            before = figures(owner.state)
            owner.dedupe.close()
            owner = s.owner(s.dedupe(rng.choice(("n1", "n2", "n3"))))
            assert figures(owner.state) == before, f"restore after save {k + 1}"
    assert owner.lineage.epoch > 3
    horizon_start = day_of(int(s.clock.t * 1000) - 2 * DAY_MS) * DAY_MS
    inside = {(r["bank_code"], r["event_id"]) for r in history if r["occurred_at"] >= horizon_start}
    assert inside and all(seen(owner.dedupe, bank, eid) for bank, eid in inside)

