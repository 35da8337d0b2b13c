"""SeedingPartitionState.apply: latest status wins, duplicates, superseded events, redelivery."""

from __future__ import annotations

import json
import random
from collections import Counter
from typing import Any

import pytest

from streams.errors import AadhaarLikeValue, OutOfRange, UnknownDistrict
from streams.registry import DistrictRegistry
from streams.seeding.state import (
    NOT_SEEDED,
    SEEDED,
    SeedingPartitionState,
    account_key,
    count_account,
    pack,
    unpack,
)

from .factories import HOUR_MS, T0, aadhaar_like, seeding_event

NOW = T0 + HOUR_MS


class Accounts:
    """The accounts table (a dict here) and the state deciding what goes into it."""

    def __init__(self, registry: DistrictRegistry) -> None:
        self.table: dict[bytes, bytes] = {}
        self.counts: dict[int, Counter[str]] = {}
        self.state = SeedingPartitionState(0, registry, 300.0, self.counts)

    def apply(self, rec: dict[str, Any], offset: int) -> str:
        key = account_key(rec["bank_code"], rec["account_ref"])
        outcome, value = self.state.apply(rec, offset, NOW, self.table.get(key))
        if value is not None:
            self.table[key] = value
        return outcome

    def recount(self) -> dict[int, Counter[str]]:
        out: dict[int, Counter[str]] = {}
        for k, v in self.table.items():
            count_account(out, k, v)
        return out

    def counts_plain(self) -> dict[int, dict[str, int]]:
        return {lgd: {k: n for k, n in c.items() if n} for lgd, c in self.counts.items() if any(c.values())}


@pytest.fixture
def acc(registry: DistrictRegistry) -> Accounts:
    return Accounts(registry)


def test_first_event_and_latest_wins(acc: Accounts) -> None:
    assert acc.apply(seeding_event("s1", T0, status=NOT_SEEDED), 0) == "accepted"
    assert acc.counts_plain() == {45: {NOT_SEEDED: 1}}
    assert acc.apply(seeding_event("s2", T0 + 10, status=SEEDED), 1) == "accepted"
    assert acc.counts_plain() == {45: {SEEDED: 1}}
    assert unpack(acc.table[account_key("SBIN", "ACC-1")]) == (SEEDED, T0 + 10, 1, 45, "s2")
    assert acc.apply(seeding_event("s3", T0 + 10, status=NOT_SEEDED), 2) == "accepted"  # a tie: the later offset
    assert acc.counts_plain() == {45: {NOT_SEEDED: 1}}
    assert acc.state.outcomes == Counter({"accepted": 3})


def test_superseded_event_is_late_and_changes_nothing(acc: Accounts) -> None:
    acc.apply(seeding_event("s2", T0 + 10, status=SEEDED), 0)
    stored = dict(acc.table)
    assert acc.apply(seeding_event("s1", T0, status=NOT_SEEDED), 1) == "late"
    assert acc.table == stored
    assert acc.counts_plain() == {45: {SEEDED: 1}}
    assert acc.state.outcomes == Counter({"accepted": 1, "late": 1})


def test_duplicate_and_redelivery(acc: Accounts) -> None:
    acc.apply(seeding_event("s1", T0, status=SEEDED), 5)
    stored = dict(acc.table)
    # the same event re-sent by the bank (a new offset): a duplicate
    assert acc.apply(seeding_event("s1", T0, status=SEEDED), 9) == "duplicate"
    # the same message delivered again after a crash (same offset): already in the table, counts as accepted
    assert acc.apply(seeding_event("s1", T0, status=SEEDED), 5) == "accepted"
    assert acc.table == stored
    assert acc.counts_plain() == {45: {SEEDED: 1}}
    assert acc.state.outcomes == Counter({"accepted": 2, "duplicate": 1})
    assert acc.state.offset == 5


def test_accounts_are_per_bank_and_reference(acc: Accounts) -> None:
    acc.apply(seeding_event("a", account="ACC-1", status=SEEDED), 0)
    acc.apply(seeding_event("a", account="ACC-2", status=NOT_SEEDED), 1)  # same id, other account: not a dup
    acc.apply(seeding_event("b", bank="PUNB", account="ACC-1", status=SEEDED, lgd=46), 2)
    assert acc.counts_plain() == {45: {SEEDED: 1, NOT_SEEDED: 1}, 46: {SEEDED: 1}}
    assert len(acc.table) == 3


def test_account_moving_district(acc: Accounts) -> None:
    acc.apply(seeding_event("a", T0, lgd=45, status=SEEDED), 0)
    acc.apply(seeding_event("b", T0 + 1, lgd=49, status=NOT_SEEDED), 1)
    assert acc.counts_plain() == {49: {NOT_SEEDED: 1}}
    assert acc.counts[45][SEEDED] == 0


def test_counts_agree_with_a_recount_of_the_table(acc: Accounts) -> None:
    rng = random.Random(2)
    sent: list[dict[str, Any]] = []
    for off in range(400):
        if sent and rng.random() < 0.2:
            rec = dict(rng.choice(sent[-5:]))  # a recent event re-sent
        else:
            rec = seeding_event(f"e{off}", T0 + rng.randrange(50), lgd=rng.choice((45, 46, 47)),
                                account=f"A{rng.randrange(40)}", bank=rng.choice(("SBIN", "PUNB")),
                                status=rng.choice((SEEDED, NOT_SEEDED)))
            sent.append(rec)
        acc.apply(rec, off)
    assert acc.counts_plain() == {lgd: {k: n for k, n in c.items() if n} for lgd, c in acc.recount().items()}
    assert sum(sum(c.values()) for c in acc.counts.values()) == len(acc.table)
    assert set(acc.state.outcomes) >= {"accepted", "late", "duplicate"}


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
    assert acc.table == {} and acc.counts_plain() == {} and acc.state.outcomes == Counter()
    acc.state.reject(code, 3)
    assert acc.state.outcomes == Counter({"rejected": 1}) and acc.state.deadletters == Counter({code: 1})


def test_pack_round_trip() -> None:
    assert unpack(pack(NOT_SEEDED, T0, 2**40, 57, "evt-é")) == (NOT_SEEDED, T0, 2**40, 57, "evt-é")


def test_counters_round_trip(acc: Accounts, registry: DistrictRegistry) -> None:
    acc.apply(seeding_event("a", T0, lgd=45), 0)
    acc.apply(seeding_event("a", T0, lgd=45), 1)
    acc.state.reject("malformed", 2)
    fresh = SeedingPartitionState(0, registry, 300.0, {})
    fresh.load_counters(json.loads(json.dumps(acc.state.counters())))
    assert fresh.counters() == acc.state.counters()
    assert fresh.offset == 2 and fresh.last_event_ms == {45: T0}
    assert fresh.outcomes == Counter({"accepted": 1, "duplicate": 1, "rejected": 1})
