"""EnablementPartitionState: coverage rules, latest wins, camp enablements, replays after a crash, the store."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from streams.avro_codec import codec_for
from streams.enablement.metrics import enablement_families
from streams.enablement.state import (
    CURRENT,
    NO_BAND,
    RESERVED_PREFIX,
    SAVINGS,
    EnablementPartitionState,
    account_key,
    mode_mask,
    pack,
    stored_account_type,
    stored_view,
    unpack,
    unpack_band,
)
from streams.errors import OutOfRange
from streams.processor.dedupe import DedupeStore
from streams.processor.kv import RocksKV
from streams.processor.signal import Signal
from streams.processor.store import CheckpointStore
from streams.registry import DistrictRegistry

from .factories import HOUR_MS, SKEW_S, T0, enablement_event, enablement_oracle
from .kit import WEEK_S, Clock, Owner

NOW = T0 + HOUR_MS
CODEC = codec_for("AccountEnablementEvent")


class Accounts:
    """The accounts store (a real RocksKV) and the state deciding what goes into it."""

    def __init__(self, registry: DistrictRegistry, path: Path) -> None:
        self.registry = registry
        self.kv = RocksKV(path)
        self.state = EnablementPartitionState(0, registry, SKEW_S, self.kv)
        self.changes: list[tuple[Any, ...]] = []
        self.state.on_type_change = lambda *a: self.changes.append(a[:5] if a[5:] == (NO_BAND, NO_BAND) else a)

    def apply(self, rec: dict[str, Any], offset: int) -> str:
        self.state.check(rec, NOW)
        return self.state.apply(rec, offset, NOW)

    def metrics(self) -> dict[str, dict[tuple[str, ...], float]]:
        return exported([self.state], self.registry)


def exported(states: list[EnablementPartitionState], registry: DistrictRegistry) -> dict[str, dict]:
    """The families as {name: {labels without the district name: value}}."""
    out: dict[str, dict] = {}
    for fam in enablement_families(states, registry):
        for s in fam.samples:
            if s.name.endswith("_created"):
                continue
            labels = tuple(v for k, v in s.labels.items() if k != "district")
            out.setdefault(s.name, {})[labels] = s.value
    return out


def oracle(events: list[dict[str, Any]]) -> dict[str, dict]:
    """The oracle, without the families that have no series (no account at all)."""
    return {name: figures for name, figures in enablement_oracle(events).items() if figures}


@pytest.fixture
def acc(registry: DistrictRegistry, tmp_path: Path) -> Accounts:
    return Accounts(registry, tmp_path / "accounts")


@pytest.mark.parametrize(("account_type", "modes", "want"), [
    (SAVINGS, ("DEBIT_CARD",), 1.0), (SAVINGS, ("AEPS",), 1.0), (SAVINGS, ("POS", "QR"), 0.0),
    (SAVINGS, (), 0.0), (SAVINGS, ("OTHER",), 0.0), (CURRENT, ("QR",), 1.0), (CURRENT, ("POS",), 1.0),
    (CURRENT, ("OTHER",), 0.0), (CURRENT, ("INTERNET_BANKING",), 1.0),
])
def test_coverage_as_the_rbi_counts_it(acc: Accounts, account_type: str, modes: tuple[str, ...],
                                       want: float) -> None:
    acc.apply(enablement_event("a", account_type=account_type, modes=modes), 0)
    assert acc.metrics()["digindex_digital_enablement_ratio"] == {("45", account_type): want}


def test_repeated_modes_count_once_and_other_counts_nothing(acc: Accounts) -> None:
    acc.apply(enablement_event("a", modes=("UPI", "UPI", "OTHER", "QR")), 0)
    having = acc.metrics()["digindex_enabled_accounts"]
    assert having[("45", SAVINGS, "UPI")] == 1 and having[("45", SAVINGS, "QR")] == 1
    assert sum(having.values()) == 2
    assert mode_mask(["UPI", "UPI", "OTHER"]) == mode_mask(["UPI"])


def test_enabled_disabled_enabled_again_with_camp_enablements(acc: Accounts) -> None:
    events = [
        enablement_event("e1", T0, modes=("UPI",), camp_ref="CAMP-1"),  # unknown -> enabled at a camp: 1
        enablement_event("e2", T0 + 1, modes=("UPI", "DEBIT_CARD"), camp_ref="CAMP-1"),  # was enabled: 0
        enablement_event("e3", T0 + 2, modes=()),  # disabled
        enablement_event("e4", T0 + 3, modes=("QR",), camp_ref="CAMP-2"),  # savings with QR: still disabled
        enablement_event("e5", T0 + 4, modes=("MOBILE_BANKING",), camp_ref="CAMP-2"),  # enabled again at a camp: 2
        enablement_event("e6", T0 + 5, modes=("POS",), account_type=CURRENT, camp_ref="CAMP-2"),  # a current
        # account's POS enables it, but it was enabled as savings: no camp enablement
        enablement_event("x1", T0, account="ACC-2", modes=("AEPS",)),  # enabled, not at a camp
    ]
    for off, e in enumerate(events):
        assert acc.apply(e, off) == "accepted"
    got = acc.metrics()
    assert got["digindex_camp_enablements_total"] == {("45",): 2}
    assert got["digindex_digital_enablement_ratio"] == {("45", SAVINGS): 1.0, ("45", CURRENT): 1.0}
    assert got == oracle(events)
    stored = unpack(acc.kv.get(account_key("SBIN", "ACC-1")))  # type: ignore[arg-type]
    assert stored == (CURRENT, mode_mask(["POS"]), 2, T0 + 5, 5, 45, "e6")


def test_latest_wins_ties_by_event_id_and_superseded_is_late(acc: Accounts) -> None:
    assert acc.apply(enablement_event("b", T0 + 10, modes=()), 0) == "accepted"
    assert acc.apply(enablement_event("a", T0 + 5, modes=("UPI",), camp_ref="C"), 1) == "late"
    assert acc.apply(enablement_event("a2", T0 + 10, modes=("UPI",), camp_ref="C"), 2) == "late"  # "a2" < "b"
    assert acc.apply(enablement_event("c", T0 + 10, modes=("UPI",), camp_ref="C"), 3) == "accepted"
    assert acc.metrics()["digindex_camp_enablements_total"] == {("45",): 1}
    assert acc.metrics()["digindex_digital_enablement_ratio"] == {("45", SAVINGS): 1.0}


def test_replay_of_what_the_store_holds_changes_nothing(acc: Accounts) -> None:
    acc.apply(enablement_event("e1", T0, modes=("UPI",), camp_ref="C"), 5)
    acc.apply(enablement_event("e2", T0 + 1, modes=()), 9)
    before = (acc.metrics(), dict(acc.kv.scan(b"")))
    assert acc.apply(enablement_event("e1", T0, modes=("UPI",), camp_ref="C"), 5) == "accepted"
    assert acc.apply(enablement_event("e3", T0 + 2, modes=("AEPS",), camp_ref="C"), 7) == "accepted"  # before 9
    assert (acc.metrics(), dict(acc.kv.scan(b""))) == before


def test_a_replay_on_a_store_ahead_of_the_checkpoint_restores_the_last_event_times(
        acc: Accounts, registry: DistrictRegistry) -> None:
    """Restored from a checkpoint older than the store, every replay is judged held: the time of what the
    store holds (not the replayed event's, which may have been late) is the district's and bank's last."""
    acc.apply(enablement_event("e1", T0, lgd=45, modes=("UPI",)), 5)
    acc.apply(enablement_event("e2", T0 + 9, lgd=46, modes=()), 9)  # the account moved to 46
    again = EnablementPartitionState(0, registry, SKEW_S, acc.kv)  # no checkpoint: nothing known
    again.check(enablement_event("e1", T0, lgd=45, modes=("UPI",)), NOW)
    assert again.apply(enablement_event("e1", T0, lgd=45, modes=("UPI",)), 5, NOW) == "accepted"
    assert again.last_event_ms == {46: T0 + 9} and again.bank_last_event_ms == {"SBIN": T0 + 9}
    assert again.counts == {k: c for k, c in acc.state.counts.items() if any(c)}  # and nothing else changed


def test_account_moving_within_the_partition_takes_its_camp_enablements_along(acc: Accounts) -> None:
    acc.apply(enablement_event("e1", T0, lgd=45, modes=("UPI",), camp_ref="C"), 0)
    acc.apply(enablement_event("e2", T0 + 1, lgd=49, modes=("UPI",), camp_ref="C"), 1)  # already enabled
    got = acc.metrics()
    assert got["digindex_camp_enablements_total"] == {("49",): 1}  # and none for 45, which has no account
    assert got["digindex_enablement_accounts"] == {("49", SAVINGS): 1}
    assert acc.state.camp == {45: 0, 49: 1}


def test_counts_and_camp_enablements_survive_a_reopen(acc: Accounts, registry: DistrictRegistry) -> None:
    acc.apply(enablement_event("e1", T0, lgd=45, modes=("UPI",), camp_ref="C"), 0)
    acc.apply(enablement_event("e2", T0, lgd=46, account="B", account_type=CURRENT, modes=("QR",), camp_ref="C"), 1)
    acc.apply(enablement_event("e3", T0, lgd=46, account="C", modes=("POS",)), 2)
    again = EnablementPartitionState(0, registry, SKEW_S, acc.kv)
    assert again.counts == acc.state.counts and again.camp == acc.state.camp == {45: 1, 46: 1}
    assert again.last_event_ms == {}  # not in the store: the checkpoint's (load_base)


def test_type_change_callback(acc: Accounts) -> None:
    key = account_key("SBIN", "ACC-1")
    acc.apply(enablement_event("e1", T0, modes=("UPI",)), 0)
    acc.apply(enablement_event("e2", T0 + 1, modes=()), 1)  # same district and type: no call
    acc.apply(enablement_event("e3", T0 + 2, account_type=CURRENT), 2)
    acc.apply(enablement_event("e4", T0 + 3, lgd=49, account_type=CURRENT), 3)  # moved within the partition
    acc.apply(enablement_event("e0", T0 - 1, lgd=46), 4)  # late: no call
    acc.apply(enablement_event("e3", T0 + 2, account_type=CURRENT), 2)  # replay: no call
    assert acc.state.release(key, 49, T0 + 9, "zz")
    assert acc.changes == [(key, None, None, 45, SAVINGS), (key, 45, SAVINGS, 45, CURRENT),
                           (key, 45, CURRENT, 49, CURRENT), (key, 49, CURRENT, None, None)]
    assert acc.kv.get(key) is None and acc.metrics() == {}


def test_release_keeps_a_newer_account(acc: Accounts) -> None:
    key = account_key("SBIN", "ACC-1")
    acc.apply(enablement_event("e5", T0 + 5, modes=("UPI",)), 0)
    assert not acc.state.release(key, 45, T0 + 4, "zz")  # the account's own event is newer
    assert not acc.state.release(key, 46, T0 + 9, "zz")  # not counted there
    assert acc.metrics()["digindex_enablement_accounts"] == {("45", SAVINGS): 1}


def test_pack_is_small_and_reads_its_type() -> None:
    value = pack(CURRENT, mode_mask(["QR", "UPI"]), 3, T0, 2**40, 57, "evt-é")
    assert unpack(value) == (CURRENT, mode_mask(["QR", "UPI"]), 3, T0, 2**40, 57, "evt-é")
    assert stored_account_type(value) == CURRENT
    assert stored_account_type(pack(SAVINGS, 0x7F, 0, T0, 0, 45, "x")) == SAVINGS
    assert len(value) == 21 + len("evt-é".encode())
    assert unpack(pack(SAVINGS, 1, 10**6, T0, 0, 45, "x"))[2] == 8191  # camp enablements saturate
    banded = pack(SAVINGS, 1, 10**6, T0, 0, 45, "x", ("51_70", T0 - 5))
    assert len(banded) == 21 + 8 + 1  # a band: 3 bits of the camp field and its occurred_at
    assert unpack(banded) == (SAVINGS, 1, 8191, T0, 0, 45, "x")
    assert unpack_band(banded) == ("51_70", T0 - 5) and unpack_band(value) == NO_BAND
    assert stored_view(banded) == (SAVINGS, "51_70", T0 - 5, 45)


@pytest.mark.parametrize(("rec", "field"), [
    (enablement_event(account=""), "account_ref"), (enablement_event(camp_ref=" "), "camp_ref"),
])
def test_refused(acc: Accounts, rec: dict[str, Any], field: str) -> None:
    with pytest.raises(OutOfRange) as exc:
        acc.apply(rec, 0)
    assert exc.value.field == field


def signal(registry: DistrictRegistry, kv: RocksKV, tmp_path: Path, clock: Clock) -> Signal:
    store = CheckpointStore(RESERVED_PREFIX, snapshot_every=4, horizon_s=WEEK_S, clock=clock)
    return Signal(name="enablement", topic="enablement", codec=CODEC, store=store,
                  make_state=lambda p, part_kv: EnablementPartitionState(p, registry, SKEW_S, part_kv),
                  kv_for=lambda p: kv, dedupe_dir=tmp_path / "dedupe")


def random_feed(rng: random.Random, n: int) -> list[dict[str, Any]]:
    modes = ["DEBIT_CARD", "INTERNET_BANKING", "MOBILE_BANKING", "UPI", "AEPS", "POS", "QR", "OTHER"]
    out = []
    for i in range(n):
        out.append(enablement_event(
            f"e{i}", T0 + rng.randrange(60), lgd=rng.choice((45, 46)), account=f"A{rng.randrange(30)}",
            bank=rng.choice(("SBIN", "PUNB")), account_type=rng.choice((SAVINGS, SAVINGS, CURRENT)),
            modes=tuple(rng.sample(modes, rng.choice((0, 0, 1, 1, 2, 3)))),
            camp_ref=rng.choice((None, "CAMP-7"))))
    return out


def test_through_the_processor_a_crash_replay_ends_as_one_clean_pass(registry: DistrictRegistry,
                                                                    tmp_path: Path) -> None:
    """Duplicates and checkpoints in the same store; then a restore behind the store and the replay."""
    rng = random.Random(3)
    kv = RocksKV(tmp_path / "accounts")
    clock = Clock(NOW / 1000)
    owner = Owner(signal(registry, kv, tmp_path, clock), DedupeStore(tmp_path / "d1"), clock)
    events = random_feed(rng, 400)
    sent: list[dict[str, Any]] = []
    unsaved: list[dict[str, Any]] = []
    for i, e in enumerate(events):
        batch = [e] if rng.random() > 0.15 or not sent else [e, rng.choice(sent[-5:])]  # re-sent copies
        owner.feed(batch)  # type: ignore[arg-type]
        sent += batch
        unsaved += batch
        if i % 60 == 59:
            owner.save()
            unsaved = []
    want = oracle(sent)
    assert exported([owner.state], registry) == want
    assert want["digindex_camp_enablements_total"][("45",)] >= 5
    assert {"accepted", "late", "duplicate"} <= set(owner.state.outcomes)
    # a restore on another node: the store is ahead of the checkpoint; what came after it is replayed
    again = Owner(signal(registry, kv, tmp_path, clock), DedupeStore(tmp_path / "d2"), clock)
    assert again.state.offset == owner.state.offset - len(unsaved) and len(unsaved) >= 20
    assert any(e["camp_ref"] for e in unsaved)
    again.feed(unsaved)  # type: ignore[arg-type]
    assert exported([again.state], registry) == want


def release(event_id: str, lgd: int, ts: int, newer: str, account: str = "ACC-1") -> dict[str, Any]:
    return {"event_id": event_id, "occurred_at": ts, "district_lgd": lgd, "bank_code": "SBIN", "account_ref": account,
            "newer_event_id": newer, "moved_to_lgd": 57}


def test_a_release_from_the_directory_drops_the_account_whether_its_state_is_open_or_not(acc: Accounts) -> None:
    from streams.enablement.releases import EnablementReleaseState

    acc.apply(enablement_event("e1", T0, lgd=45, modes=("UPI",), camp_ref="C"), 0)
    acc.apply(enablement_event("e2", T0, lgd=45, account="ACC-2", modes=("UPI",)), 1)
    rel = EnablementReleaseState(0, acc.registry, SKEW_S, acc.kv, lambda: acc.state)
    assert rel.apply(release("r0", 45, T0 - 1, "zz"), 0, NOW) == "late"  # the account's own event is newer
    assert rel.apply(release("r1", 45, T0 + 5, "m1"), 1, NOW) == "accepted"
    assert acc.metrics()["digindex_enablement_accounts"] == {("45", SAVINGS): 1}
    assert acc.metrics()["digindex_camp_enablements_total"] == {("45",): 0}
    assert acc.changes[-1] == (account_key("SBIN", "ACC-1"), 45, SAVINGS, None, None)
    closed = EnablementReleaseState(0, acc.registry, SKEW_S, acc.kv, lambda: None)
    assert closed.apply(release("r2", 45, T0 + 5, "m2", account="ACC-2"), 2, NOW) == "accepted"
    assert acc.kv.get(account_key("SBIN", "ACC-2")) is None
    assert EnablementPartitionState(0, acc.registry, SKEW_S, acc.kv).counts == {}  # the next open recounts


def test_the_band_is_the_latest_reported_in_any_order(registry: DistrictRegistry, tmp_path: Path) -> None:
    """The band of the latest event carrying one (equal times: the later band), whatever the order of
    arrival; an event superseded for its modes still sets a newer band, and a null band keeps it."""
    events = [enablement_event("b1", T0, band="18_40"), enablement_event("b2", T0 + 5, band=None, modes=()),
              enablement_event("b3", T0 + 3, band="41_50"), enablement_event("b4", T0 + 3, band="18_40"),
              enablement_event("b5", T0 + 1, band="OTHER")]
    for seed in range(6):
        order = events[:]
        random.Random(seed).shuffle(order)
        acc = Accounts(registry, tmp_path / f"s{seed}")
        first = [acc.apply(e, i) for i, e in enumerate(order)]
        raw = acc.kv.get(account_key("SBIN", "ACC-1"))
        assert raw is not None
        assert unpack_band(raw) == ("41_50", T0 + 3)
        assert unpack(raw)[1] == 0 and unpack(raw)[6] == "b2"  # the modes are still the latest event's
        assert [c[6] for c in acc.changes if len(c) == 7][-1] == ("41_50", T0 + 3)  # the join was told
        # a replay after a crash changes nothing (held: accepted; one that wrote nothing: late again)
        again = [acc.apply(e, i) for i, e in enumerate(order)]
        assert all(a == "accepted" or f == "late" for a, f in zip(again, first, strict=True))
        assert acc.kv.get(account_key("SBIN", "ACC-1")) == raw
