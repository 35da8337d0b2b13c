"""SeedingPartitionState: latest status wins (ties by event_id), superseded events, replays, counts vs the store."""

from __future__ import annotations

import json
import random
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from streams.errors import AadhaarLikeValue, OutOfRange, UnknownDistrict
from streams.processor.dedupe import DedupeStore
from streams.processor.kv import RocksKV
from streams.registry import DistrictRegistry
from streams.seeding.state import (
    NOT_SEEDED,
    RESERVED_PREFIX,
    SEEDED,
    SeedingPartitionState,
    account_key,
    count_account,
    pack,
    unpack,
)

from .factories import HOUR_MS, SKEW_S, T0, aadhaar_like, seeding_event
from .kit import Clock, Owner, seeding_signal

NOW = T0 + HOUR_MS


class Accounts:
    """The accounts store (a real RocksKV) and the state deciding what goes into it."""

    def __init__(self, registry: DistrictRegistry, path: Path) -> None:
        self.kv = RocksKV(path)
        self.counts: dict[int, Counter[str]] = {}
        self.state = SeedingPartitionState(0, registry, SKEW_S, self.counts, self.kv)

    def apply(self, rec: dict[str, Any], offset: int) -> str:
        self.state.check(rec, NOW)
        return self.state.apply(rec, offset, NOW)

    def table(self) -> dict[bytes, bytes]:
        return {k: v for k, v in self.kv.scan(b"") if not k.startswith(RESERVED_PREFIX)}

    def stored(self, bank: str = "SBIN", account: str = "ACC-1") -> tuple[str, int, int, int, str]:
        raw = self.kv.get(account_key(bank, account))
        assert raw is not None
        return unpack(raw)

    def counts_plain(self) -> dict[int, dict[str, int]]:
        return plain(self.counts)


def plain(counts: dict[int, Counter[str]]) -> dict[int, dict[str, int]]:
    return {lgd: {k: n for k, n in c.items() if n} for lgd, c in counts.items() if any(c.values())}


def recount(kv: RocksKV) -> dict[int, Counter[str]]:
    """The counts the store implies (what the recovery hook rebuilds), checkpoint keys included in the scan."""
    out: dict[int, Counter[str]] = {}
    for k, v in kv.scan(b""):
        count_account(out, k, v)
    return out


@pytest.fixture
def acc(registry: DistrictRegistry, tmp_path: Path) -> Accounts:
    return Accounts(registry, tmp_path / "accounts")


def test_first_event_and_latest_wins(acc: Accounts) -> None:
    assert acc.apply(seeding_event("s1", T0, status=NOT_SEEDED), 0) == "accepted"
    assert acc.counts_plain() == {45: {NOT_SEEDED: 1}}
    assert acc.apply(seeding_event("s2", T0 + 10, status=SEEDED), 1) == "accepted"
    assert acc.counts_plain() == {45: {SEEDED: 1}}
    assert acc.stored() == (SEEDED, T0 + 10, 1, 45, "s2")
    assert acc.apply(seeding_event("s3", T0 + 10, status=NOT_SEEDED), 2) == "accepted"  # a tie: the greater id
    assert acc.counts_plain() == {45: {NOT_SEEDED: 1}}
    assert acc.apply(seeding_event("s0", T0 + 10, status=SEEDED), 3) == "late"  # a tie, a smaller id: superseded
    assert acc.stored() == (NOT_SEEDED, T0 + 10, 2, 45, "s3")


def test_superseded_event_is_late_and_changes_nothing(acc: Accounts) -> None:
    acc.apply(seeding_event("s2", T0 + 10, status=SEEDED), 0)
    stored = acc.table()
    assert acc.apply(seeding_event("s1", T0, status=NOT_SEEDED), 1) == "late"
    assert acc.table() == stored
    assert acc.counts_plain() == {45: {SEEDED: 1}}
    assert acc.state.last_event_ms == {45: T0 + 10}


@pytest.mark.parametrize("order", [(0, 1), (1, 0)])
def test_equal_times_are_ordered_by_event_id_in_either_delivery_order(registry: DistrictRegistry, tmp_path: Path,
                                                                       order: tuple[int, int]) -> None:
    events = [seeding_event("evt-a", T0, lgd=45, status=NOT_SEEDED),
              seeding_event("evt-b", T0, lgd=49, status=SEEDED)]  # same account, same time; "evt-b" wins
    acc = Accounts(registry, tmp_path / "accounts")
    outcomes = [acc.apply(events[i], offset) for offset, i in enumerate(order)]
    assert sorted(outcomes) == (["accepted", "accepted"] if order == (0, 1) else ["accepted", "late"])
    status, ts, _, district, event_id = acc.stored()
    assert (status, ts, district, event_id) == (SEEDED, T0, 49, "evt-b")
    assert acc.counts_plain() == {49: {SEEDED: 1}}
    assert plain(recount(acc.kv)) == acc.counts_plain()


def test_replay_by_offset_is_counted_accepted(acc: Accounts) -> None:
    acc.apply(seeding_event("s1", T0, status=SEEDED), 5)
    stored = acc.table()
    # the same message delivered again after a crash (same offset): already in the store
    assert acc.apply(seeding_event("s1", T0, status=SEEDED), 5) == "accepted"
    acc.apply(seeding_event("s2", T0 + 20, status=NOT_SEEDED), 9)
    after = acc.table()
    # an earlier message replayed after the store took a later one: accepted, nothing moves
    assert acc.apply(seeding_event("s1", T0, status=SEEDED), 5) == "accepted"
    assert acc.apply(seeding_event("s3", T0 + 30, status=SEEDED), 7) == "accepted"  # newer, but before offset 9
    assert acc.table() == after != stored
    assert acc.counts_plain() == {45: {NOT_SEEDED: 1}}


def test_accounts_are_per_bank_and_reference(acc: Accounts) -> None:
    acc.apply(seeding_event("a", account="ACC-1", status=SEEDED), 0)
    acc.apply(seeding_event("a", account="ACC-2", status=NOT_SEEDED), 1)
    acc.apply(seeding_event("b", bank="PUNB", account="ACC-1", status=SEEDED, lgd=46), 2)
    assert acc.counts_plain() == {45: {SEEDED: 1, NOT_SEEDED: 1}, 46: {SEEDED: 1}}
    assert len(acc.table()) == 3


def test_account_moving_district(acc: Accounts) -> None:
    acc.apply(seeding_event("a", T0, lgd=45, status=SEEDED), 0)
    acc.apply(seeding_event("b", T0 + 1, lgd=49, status=NOT_SEEDED), 1)
    assert acc.counts_plain() == {49: {NOT_SEEDED: 1}}
    assert acc.counts[45][SEEDED] == 0


def test_counts_agree_with_a_recount_of_the_store(registry: DistrictRegistry, tmp_path: Path) -> None:
    """Through the processor (duplicates, refusals, checkpoints in the same store), across a restore."""
    rng = random.Random(2)
    kv = RocksKV(tmp_path / "accounts")
    counts: dict[int, Counter[str]] = {}
    clock = Clock(NOW / 1000)
    signal = seeding_signal(registry, kv, tmp_path, counts, snapshot_every=4, clock=clock)
    owner = Owner(signal, DedupeStore(tmp_path / "d1"), clock)
    sent: list[dict[str, Any]] = []
    unsaved: list[dict[str, Any] | bytes | None] = []  # what was handled after the last checkpoint
    for off in range(420):
        if sent and rng.random() < 0.2:
            rec = dict(rng.choice(sent[-5:]))  # a recent event re-sent
        else:
            rec = seeding_event(f"e{off}", T0 + rng.randrange(50), lgd=rng.choice((45, 46, 47)),
                                account=f"A{rng.randrange(40)}", bank=rng.choice(("SBIN", "PUNB")),
                                status=rng.choice((SEEDED, NOT_SEEDED)))
            sent.append(rec)
        batch: list[dict[str, Any] | bytes | None] = [rec] if rng.random() > 0.02 else [rec, b"garbage"]
        owner.feed(batch)
        unsaved += batch
        if off % 50 == 49:
            owner.save()
            unsaved = []
    assert plain(counts) == plain(recount(kv))
    assert any(k.startswith(RESERVED_PREFIX) for k, _ in kv.scan(b"")), "checkpoints share the store"
    assert sum(sum(c.values()) for c in counts.values()) == len([k for k, _ in kv.scan(b"")
                                                                 if not k.startswith(RESERVED_PREFIX)])
    assert set(owner.state.outcomes) == {"accepted", "late", "duplicate", "rejected"}
    # a restore on another node: the store is ahead of the checkpoint; what came after it is replayed
    restored_counts = recount(kv)  # as the recovery hook rebuilds them
    again = Owner(seeding_signal(registry, kv, tmp_path, restored_counts, clock=clock), DedupeStore(tmp_path / "d2"),
                  clock)
    assert again.state.offset == owner.state.offset - len(unsaved) and len(unsaved) >= 20
    table = {k: v for k, v in kv.scan(b"") if not k.startswith(RESERVED_PREFIX)}
    again.feed(unsaved)
    assert again.state.offset == owner.state.offset
    assert {k: v for k, v in kv.scan(b"") if not k.startswith(RESERVED_PREFIX)} == table, "nothing applied twice"
    assert plain(restored_counts) == plain(recount(kv)) == plain(counts)


def test_freshness(acc: Accounts) -> None:
    acc.apply(seeding_event("a", T0 + 5, lgd=45, bank="SBIN"), 0)
    acc.apply(seeding_event("b", T0 + 9, lgd=46, bank="SBIN", account="X"), 1)
    acc.apply(seeding_event("c", T0 + 1, lgd=45, bank="PUNB", account="Y"), 2)
    assert acc.state.last_event_ms == {45: T0 + 5, 46: T0 + 9}
    assert acc.state.bank_last_event_ms == {"SBIN": T0 + 9, "PUNB": T0 + 1}


@pytest.mark.parametrize(("rec", "error", "code"), [
    (seeding_event(lgd=12), UnknownDistrict, "unknown_district"),
    (seeding_event(account=aadhaar_like()), AadhaarLikeValue, "aadhaar_like_value"),
    (seeding_event(ts=NOW + 301_000), OutOfRange, "out_of_range"),
])
def test_refused(acc: Accounts, rec: dict[str, Any], error: type[Exception], code: str) -> None:
    with pytest.raises(error) as exc:
        acc.apply(rec, 3)
    assert exc.value.code == code  # type: ignore[attr-defined]
    assert acc.table() == {} and acc.counts_plain() == {} and acc.state.offset == -1


def test_pack_round_trip() -> None:
    assert unpack(pack(NOT_SEEDED, T0, 2**40, 57, "evt-é")) == (NOT_SEEDED, T0, 2**40, 57, "evt-é")


def test_snapshot_round_trip(acc: Accounts, registry: DistrictRegistry, tmp_path: Path) -> None:
    acc.apply(seeding_event("a", T0, lgd=45), 0)
    acc.apply(seeding_event("b", T0 + 7, lgd=46, account="B"), 1)
    acc.state.offset = 2  # as the processor leaves it: offsets and counters are its
    acc.state.outcomes.update({"accepted": 2, "rejected": 1})
    acc.state.deadletters["malformed"] += 1
    first = json.loads(json.dumps(acc.state.snapshot()))
    acc.apply(seeding_event("c", T0 + 9, lgd=45, account="C"), 3)
    acc.state.offset = 3
    acc.state.outcomes["accepted"] += 1
    later = json.loads(json.dumps(acc.state.delta()))
    fresh = SeedingPartitionState(0, registry, SKEW_S, {}, RocksKV(tmp_path / "other"))
    fresh.load(first, [])
    assert fresh.snapshot() == first
    assert fresh.offset == 2 and fresh.last_event_ms == {45: T0, 46: T0 + 7}
    assert fresh.outcomes == Counter({"accepted": 2, "rejected": 1}) and fresh.deadletters == Counter(malformed=1)
    fresh.load(first, [first, later])  # the last delta holds the whole counters
    assert fresh.snapshot() == later and fresh.offset == 3 and fresh.last_event_ms == {45: T0 + 9, 46: T0 + 7}
