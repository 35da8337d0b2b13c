"""EnrolmentPartitionState: latest status per (account, scheme), the latest age band, the join with
the enablement feed's account types, recounts, replays; the families; the age-band check."""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.registry import Collector

from streams.avro_codec import codec_for
from streams.enablement.state import EnablementPartitionState, stored_account_type, stored_view
from streams.enrolment.join import StoredTypes, type_change_router, types_from
from streams.enrolment.metrics import enrolment_families
from streams.enrolment.state import (
    RESERVED_PREFIX,
    AccountRecord,
    EnrolmentPartitionState,
    account_key,
    pack,
    unpack,
)
from streams.errors import OutOfRange
from streams.processor.dedupe import DedupeStore
from streams.processor.kv import RocksKV
from streams.processor.signal import Signal
from streams.processor.store import CheckpointStore
from streams.registry import DistrictRegistry

from .factories import HOUR_MS, SCHEMES, SKEW_S, T0, enablement_event, enrolment_event, scheme_oracle
from .kit import Clock, Owner

NOW = T0 + 48 * HOUR_MS
CODEC = codec_for("SchemeEnrolmentEvent")


class EnablementDouble:
    """The enablement feed's side of the join, for real: its store (a RocksKV) holds a type per
    account (encoded as its name), and every change calls ``on_type_change`` after the write, as
    ``EnablementPartitionState`` does."""

    def __init__(self, kv: RocksKV) -> None:
        self.kv = kv
        self.on_type_change: Any = None
        self.districts: dict[bytes, int] = {}

    def types(self) -> StoredTypes:
        return StoredTypes(self.kv, bytes.decode)

    def set(self, account: str, account_type: str | None, lgd: int = 45, bank: str = "SBIN") -> None:
        key = account_key(bank, account)
        raw = self.kv.get(key)
        old = None if raw is None else raw.decode()
        if account_type is None:
            self.kv.delete(key)
        else:
            self.kv.put(key, account_type.encode())
        old_d = self.districts.pop(key, None)
        new_d = None if account_type is None else lgd  # a removal reports no new district
        if new_d is not None:
            self.districts[key] = new_d
        if self.on_type_change is not None and (old_d, old) != (new_d, account_type):
            self.on_type_change(key, old_d, old, new_d, account_type)


class Partition:
    """One enrolments partition (a real RocksKV) joined with an ``EnablementDouble``."""

    def __init__(self, registry: DistrictRegistry, path: Path, enablement: EnablementDouble | None = None) -> None:
        self.kv = RocksKV(path / "enrol")
        self.enablement = enablement or EnablementDouble(RocksKV(path / "enable"))
        self.registry = registry
        self.state = self.fresh()
        self.next_offset = 0

    def fresh(self) -> EnrolmentPartitionState:
        state = EnrolmentPartitionState(0, self.registry, SKEW_S, self.kv, self.enablement.types()).recount()
        self.enablement.on_type_change = state.type_changed
        return state

    def apply(self, rec: dict[str, Any], offset: int) -> str:
        self.state.check(rec, NOW)
        return self.state.apply(rec, offset, NOW)

    def feed(self, events: list[dict[str, Any]]) -> list[str]:
        out = []
        for e in events:
            out.append(self.apply(e, self.next_offset))
            self.next_offset += 1
        return out


def plain(counts: dict[int, Counter[tuple[str, str]]]) -> dict[tuple[int, str, str], int]:
    return {(lgd, *k): n for lgd, c in counts.items() for k, n in c.items() if n}


def test_pack_round_trip() -> None:
    r = AccountRecord(57, 12, "41_50", T0, "e-9", {"PMSBY": ("ENROLLED", T0, "e-1"), "PMJJBY": (None, 0, ""),
                                                   "APY": ("EXITED", T0 + 5, "ü-2")})
    back = unpack(pack(r))
    assert (back.district, back.offset, back.band, back.band_ts, back.band_event) == (57, 12, "41_50", T0, "e-9")
    assert back.schemes == r.schemes
    assert len(pack(AccountRecord(45, 0))) < 60  # an account is a few dozen bytes


def test_enrolled_exited_enrolled_again(registry: DistrictRegistry, tmp_path: Path) -> None:
    p = Partition(registry, tmp_path)
    p.enablement.set("A1", "SAVINGS")
    assert p.feed([enrolment_event("e1", T0, band="18_40")]) == ["accepted"]
    c = p.state.figures(45)
    assert (c["enrolled", "PMSBY"], c["eligible", "PMSBY"], c["covered", "PMSBY"]) == (1, 1, 1)
    assert c["eligible", "APY"] == 1 and c["covered", "APY"] == 0  # eligible, not enrolled in APY
    p.feed([enrolment_event("e2", T0 + 1000, status="EXITED")])
    assert (c["enrolled", "PMSBY"], c["eligible", "PMSBY"], c["covered", "PMSBY"]) == (0, 1, 0)
    p.feed([enrolment_event("e3", T0 + 2000)])
    assert (c["enrolled", "PMSBY"], c["covered", "PMSBY"]) == (1, 1)
    # the exit again, redelivered late under another id: superseded, nothing moves
    assert p.feed([enrolment_event("e2b", T0 + 1500, status="EXITED")]) == ["late"]
    assert c["enrolled", "PMSBY"] == 1


def test_age_band_reported_after_the_enrolment_event(registry: DistrictRegistry, tmp_path: Path) -> None:
    p = Partition(registry, tmp_path)
    p.enablement.set("A1", "SAVINGS")
    p.feed([enrolment_event("e1", T0, scheme="PMJJBY")])  # no band
    c = p.state.figures(45)
    assert (c["enrolled", "PMJJBY"], c["eligible", "PMJJBY"], c["age_unknown", ""]) == (1, 0, 1)
    p.feed([enrolment_event("e2", T0 + HOUR_MS, scheme="PMSBY", status="EXITED", band="41_50")])
    assert (c["eligible", "PMJJBY"], c["covered", "PMJJBY"], c["age_unknown", ""]) == (1, 1, 0)
    assert c["eligible", "APY"] == 0  # 41-50 is past APY's joining age
    # an older band arriving later does not replace the newer one, but its status still counts
    assert p.feed([enrolment_event("e0", T0 - HOUR_MS, scheme="APY", band="OTHER")]) == ["accepted"]
    assert unpack(p.kv.get(account_key("SBIN", "A1"))).band == "41_50"  # type: ignore[arg-type]
    p.feed([enrolment_event("e3", T0 + 2 * HOUR_MS, scheme="PMSBY", status="EXITED", band="51_70")])
    assert (c["eligible", "PMJJBY"], c["covered", "PMJJBY"], c["eligible", "PMSBY"]) == (0, 0, 1)


def test_equal_times_are_ordered_by_event_id(registry: DistrictRegistry, tmp_path: Path) -> None:
    a, b = enrolment_event("e-b", T0, status="EXITED", band="18_40"), enrolment_event("e-a", T0, band="51_70")
    for order in ([a, b], [b, a]):
        p = Partition(registry, tmp_path / str(order[0]["event_id"]))
        p.enablement.set("A1", "SAVINGS")
        p.feed(order)
        r = unpack(p.kv.get(account_key("SBIN", "A1")))  # type: ignore[arg-type]
        assert (r.schemes["PMSBY"][0], r.band) == ("EXITED", "18_40")


def test_the_join_follows_the_enablement_feed(registry: DistrictRegistry, tmp_path: Path) -> None:
    p = Partition(registry, tmp_path)
    p.feed([enrolment_event("e1", T0, band="18_40"),
            enrolment_event("e2", T0, account="A2", scheme="APY", band="18_40")])
    c = p.state.figures(45)
    # neither known to the enablement feed: enrolled, unmatched, outside the ratio
    assert (c["enrolled", "PMSBY"], c["unmatched", "PMSBY"], c["eligible", "PMSBY"]) == (1, 1, 0)
    p.enablement.set("A1", "SAVINGS")
    assert (c["unmatched", "PMSBY"], c["eligible", "PMSBY"], c["covered", "PMSBY"]) == (0, 1, 1)
    p.enablement.set("A2", "CURRENT")
    assert (c["unmatched", "APY"], c["eligible", "APY"]) == (1, 1)  # A1 is eligible for APY, A2 is not savings
    p.enablement.set("A2", "SAVINGS", lgd=49)  # another district in the enablement feed: counted where enrolled
    assert (c["unmatched", "APY"], c["covered", "APY"], c["eligible", "APY"]) == (0, 1, 2)
    p.enablement.set("A1", "CURRENT")
    p.enablement.set("NEVER-ENROLLED", "SAVINGS")  # no band, no enrolment: not in this feed's figures
    assert (c["unmatched", "PMSBY"], c["eligible", "PMSBY"], c["age_unknown", ""]) == (1, 1, 0)  # A2 stays
    assert p.state.figures(49) == Counter()


@pytest.mark.parametrize("seed", range(5))
def test_any_order_and_type_changes_end_as_the_oracle_and_the_recount(registry: DistrictRegistry, tmp_path: Path,
                                                                     seed: int) -> None:
    rnd = random.Random(seed)
    accounts = [f"A{i}" for i in range(40)]
    events = []
    for i in range(400):
        events.append(enrolment_event(f"e{i}", T0 + rnd.randrange(50) * 1000, account=rnd.choice(accounts),
                                scheme=rnd.choice(SCHEMES), status=rnd.choice(("ENROLLED", "EXITED")),
                                band=rnd.choice((None, None, "18_40", "41_50", "51_70", "OTHER")),
                                lgd=rnd.choice((45, 45, 49))))
    p = Partition(registry, tmp_path)
    types: dict[str, str] = {}
    for i, e in enumerate(events):
        if i % 7 == 0:  # the enablement feed moves in between
            account, t = rnd.choice(accounts), rnd.choice(("SAVINGS", "CURRENT"))
            types[account] = t
            p.enablement.set(account, t)
        p.feed([e])
    expected = scheme_oracle(events, types)
    assert plain(p.state.counts) == expected
    assert plain(p.fresh().counts) == expected  # the recount at assignment agrees
    rnd.shuffle(events)
    again = Partition(registry, tmp_path / "again")
    for account, t in types.items():
        again.enablement.set(account, t)
    again.feed(events)
    assert plain(again.state.counts) == expected


def enrolment_signal(registry: DistrictRegistry, kv: RocksKV, enablement: EnablementDouble, tmp_path: Path,
                     clock: Clock) -> Signal:
    return Signal(name="enrolments", topic="enrolments", codec=CODEC,
                  store=CheckpointStore(RESERVED_PREFIX, snapshot_every=120, horizon_s=7 * 86400.0, clock=clock),
                  make_state=lambda p, part_kv: EnrolmentPartitionState(p, registry, SKEW_S, part_kv,
                                                                         enablement.types()).recount(),
                  kv_for=lambda p: kv, dedupe_dir=tmp_path / "dedupe")


def test_replay_after_a_crash_counts_once_with_the_store_ahead(registry: DistrictRegistry, tmp_path: Path) -> None:
    """Events after the last checkpoint were written, then the worker died: the next owner restores
    the older checkpoint, recounts from the store and replays them; the figures are one clean pass's."""
    clock = Clock(NOW / 1000)
    events = [enrolment_event(f"e{i}", T0 + i * 1000, account=f"A{i % 6}", scheme=SCHEMES[i % 3],
                        status=("ENROLLED", "EXITED")[i % 4 == 3], band=(None, "18_40", "41_50")[i % 3])
              for i in range(30)]
    enablement = EnablementDouble(RocksKV(tmp_path / "enable"))
    for i in range(6):
        enablement.set(f"A{i}", ("SAVINGS", "CURRENT")[i == 5])
    clean_kv = RocksKV(tmp_path / "clean")
    clean = Owner(enrolment_signal(registry, clean_kv, enablement, tmp_path / "c", clock), DedupeStore(tmp_path / "cd"),
                  clock)
    clean.feed(events)
    kv = RocksKV(tmp_path / "kv")
    signal = enrolment_signal(registry, kv, enablement, tmp_path, clock)
    dedupe = DedupeStore(tmp_path / "dd")
    first = Owner(signal, dedupe, clock)
    first.feed(events[:20])
    first.save()
    first.feed(events[20:])  # applied and written to the store, never checkpointed: the crash
    second = Owner(signal, dedupe, clock)
    assert second.state.offset == 19
    assert plain(second.state.counts) == plain(clean.state.counts)  # recounted from the store, already ahead
    assert second.feed(events[20:]) == ["accepted"] * 10
    assert plain(second.state.counts) == plain(clean.state.counts) == scheme_oracle(
        events, {f"A{i}": ("SAVINGS", "CURRENT")[i == 5] for i in range(6)})
    assert second.state.outcomes == clean.state.outcomes
    # the replays judged held still give the last-event times the older checkpoint lacks
    assert second.state.last_event_ms == clean.state.last_event_ms
    assert second.state.bank_last_event_ms == clean.state.bank_last_event_ms
    assert second.feed([events[3]]) == ["duplicate"]  # redelivered: the same (bank, event id)


def test_an_unknown_age_band_is_refused(registry: DistrictRegistry, tmp_path: Path) -> None:
    p = Partition(registry, tmp_path)
    for bad in ("18-40", "", "18_40 ", "ALL"):
        with pytest.raises(OutOfRange) as exc:
            p.state.check(enrolment_event("e1", T0, band=bad), NOW)
        assert exc.value.field == "holder_age_band"
    for good in (None, "18_40", "41_50", "51_70", "OTHER"):
        p.state.check(enrolment_event("e1", T0, band=good), NOW)
    clock = Clock(NOW / 1000)
    owner = Owner(enrolment_signal(registry, RocksKV(tmp_path / "kv"), p.enablement, tmp_path, clock),
                  DedupeStore(tmp_path / "dd"), clock)
    assert owner.feed([enrolment_event("e1", T0, band="60+"), enrolment_event("e2", T0, band="OTHER")]) == ["rejected",
                                                                                                 "accepted"]
    assert owner.state.deadletters == Counter({"out_of_range": 1})


class _Families(Collector):
    def __init__(self, states: list[EnrolmentPartitionState], registry: DistrictRegistry) -> None:
        self.states, self.registry = states, registry

    def collect(self) -> Any:
        yield from enrolment_families(self.states, self.registry)


def test_families(registry: DistrictRegistry, tmp_path: Path) -> None:
    p = Partition(registry, tmp_path)
    for a in ("A1", "A2", "A3"):
        p.enablement.set(a, "SAVINGS")
    p.feed([enrolment_event("e1", T0, account="A1", band="18_40"),
            enrolment_event("e2", T0, account="A2", band="51_70", scheme="APY"),
            enrolment_event("e3", T0, account="A3", scheme="APY"),
            enrolment_event("e4", T0, account="X", scheme="APY")])
    reg = CollectorRegistry()
    reg.register(_Families([p.state], registry))

    def get(name: str, scheme: str | None = None) -> float | None:
        labels = {"district_lgd": "45", "district": "Almora", **({"scheme": scheme} if scheme else {})}
        return reg.get_sample_value(name, labels)

    assert get("digindex_scheme_enrolled_accounts", "APY") == 3
    assert get("digindex_scheme_enrolled_accounts", "PMJJBY") == 0
    assert get("digindex_scheme_eligible_accounts", "PMSBY") == 2  # A1 and A2
    assert get("digindex_scheme_coverage_ratio", "PMSBY") == 0.5
    assert get("digindex_scheme_coverage_ratio", "APY") == 0.0  # A1 eligible, not enrolled; A2, A3 not eligible
    assert get("digindex_scheme_enrolled_unmatched_accounts", "APY") == 1  # X
    assert get("digindex_scheme_age_unknown_accounts") == 1  # A3
    p.enablement.set("A1", "CURRENT")
    assert get("digindex_scheme_coverage_ratio", "PMJJBY") is None  # no eligible account: no ratio


def test_the_recount_skips_fausts_own_offset_key(registry: DistrictRegistry, tmp_path: Path) -> None:
    """Faust keeps each partition's changelog offset in the same RocksDB (seen on a worker's restart)."""
    from faust.stores.rocksdb import Store

    p = Partition(registry, tmp_path)
    p.enablement.set("A1", "SAVINGS")
    p.feed([enrolment_event("e1", T0, band="18_40")])
    p.kv.put(Store.offset_key, b"123")
    assert plain(p.fresh().counts) == plain(p.state.counts)


def test_type_changes_reach_the_enrolment_partition_of_their_district(registry: DistrictRegistry,
                                                                     tmp_path: Path) -> None:
    """As app.py wires it, over two partitions (Almora 45 in 0, Bageshwar 46 in 1): a change made in
    a district's partition reaches that partition's enrolment state, looked up at the change (none
    open: nothing to move, the next recount reads the store)."""
    stores = {p: RocksKV(tmp_path / f"enable-{p}") for p in (0, 1)}
    enable = Signal(name="enablement", topic="enablement", codec=CODEC, store=CheckpointStore(RESERVED_PREFIX),
                    make_state=lambda p, kv: EnablementDouble(kv),  # type: ignore[arg-type,return-value]
                    kv_for=lambda p: stores[p], dedupe_dir=tmp_path / "dedupe")
    open_now: dict[int, EnrolmentPartitionState] = {}
    route = type_change_router(open_now.get, 2)
    doubles = {p: EnablementDouble(stores[p]) for p in (0, 1)}
    for d in doubles.values():
        d.on_type_change = route
    types = types_from(enable, bytes.decode)
    kv = RocksKV(tmp_path / "enrol-0")
    doubles[0].set("A1", "CURRENT", lgd=45)
    state = open_now[0] = EnrolmentPartitionState(0, registry, SKEW_S, kv, types(0)).recount()
    state.apply(enrolment_event("e1", T0, band="18_40"), 0, NOW)
    assert state.figures(45)["unmatched", "PMSBY"] == 1
    doubles[1].set("A1", "SAVINGS", lgd=46)  # partition 1's store: not what partition 0 reads
    assert state.figures(45)["unmatched", "PMSBY"] == 1
    doubles[0].set("A1", "SAVINGS", lgd=47)  # another district of partition 0: its store, counted where enrolled
    assert (state.figures(45)["unmatched", "PMSBY"], state.figures(45)["covered", "PMSBY"]) == (0, 1)
    doubles[0].set("A1", None)  # released from partition 0: the old district routes the change
    assert state.figures(45)["unmatched", "PMSBY"] == 1
    del open_now[0]  # revoked
    doubles[0].set("A1", "SAVINGS", lgd=45)
    again = EnrolmentPartitionState(0, registry, SKEW_S, kv, types(0)).recount()
    assert again.figures(45)["covered", "PMSBY"] == 1


def _joined(registry: DistrictRegistry, tmp_path: Path, view: Any) -> tuple[
        EnablementPartitionState, RocksKV, StoredTypes, EnrolmentPartitionState]:
    """The enablement signal's own state and store wired to an enrolment state as app.py does (its
    type changes routed to partition 0's enrolment state, which reads the store through ``view``)."""
    enable_kv = RocksKV(tmp_path / "enable")
    enable = EnablementPartitionState(0, registry, SKEW_S, enable_kv)
    made: dict[int, EnrolmentPartitionState] = {}
    enable.on_type_change = type_change_router(made.get, 1)
    types = StoredTypes(enable_kv, view)
    kv = RocksKV(tmp_path / "enrol")
    state = made[0] = EnrolmentPartitionState(0, registry, SKEW_S, kv, types).recount()
    return enable, kv, types, state


@pytest.mark.parametrize("seed", range(3))
def test_the_join_with_the_real_enablement_state_ends_as_the_oracle(registry: DistrictRegistry, tmp_path: Path,
                                                                    seed: int) -> None:
    """The enablement signal's own state and store, wired as app.py does: both feeds interleaved in
    any order (types changing, superseded enablement events), counts equal to the oracle's and to a
    recount of both stores."""
    rnd = random.Random(seed)
    accounts = [f"A{i}" for i in range(30)]
    enable, kv, types, state = _joined(registry, tmp_path, stored_account_type)
    enrolments, latest_type = [], {}
    for i in range(600):
        account = rnd.choice(accounts)
        if i % 3 == 0:
            ts = T0 + rnd.randrange(100) * 1000
            t = rnd.choice(("SAVINGS", "CURRENT"))
            if enable.apply(enablement_event(f"n{i}", ts, account=account, account_type=t), i, NOW) == "accepted":
                latest_type[account] = max(latest_type.get(account, (0, "", "")), (ts, f"n{i}", t))
        else:
            e = enrolment_event(f"e{i}", T0 + rnd.randrange(100) * 1000, account=account, scheme=rnd.choice(SCHEMES),
                                status=rnd.choice(("ENROLLED", "EXITED")),
                                band=rnd.choice((None, "18_40", "41_50", "51_70", "OTHER")))
            state.apply(e, i, NOW)
            enrolments.append(e)
    expected = scheme_oracle(enrolments, {a: t for a, (_, _, t) in latest_type.items()})
    assert plain(state.counts) == expected
    assert plain(EnrolmentPartitionState(0, registry, SKEW_S, kv, types).recount().counts) == expected


@pytest.mark.parametrize("seed", range(3))
def test_bands_from_the_enablement_feed_end_as_the_oracle(registry: DistrictRegistry, tmp_path: Path,
                                                          seed: int) -> None:
    """Both feeds report bands (some accounts only the enablement feed knows, bands changed later,
    superseded events carrying the newest band), interleaved in any order and replayed: the counts
    equal the oracle's and a recount of both stores."""
    rnd = random.Random(seed)
    accounts = [f"A{i}" for i in range(30)]
    enable, kv, types, state = _joined(registry, tmp_path, stored_view)
    enrolments, enablements, latest_type = [], [], {}
    sent: list[tuple[str, dict[str, Any]]] = []
    bands = (None, "18_40", "41_50", "51_70", "OTHER")
    for i in range(600):
        account = rnd.choice(accounts)
        ts = T0 + rnd.randrange(100) * 1000
        if i % 2 == 0 or account in accounts[:10]:  # A0-A9: only the enablement feed
            t = rnd.choice(("SAVINGS", "SAVINGS", "CURRENT"))
            e = enablement_event(f"n{i}", ts, account=account, account_type=t, band=rnd.choice(bands),
                                 lgd=rnd.choice((45, 47)))
            enable.apply(e, i, NOW)
            enablements.append(e)
            latest_type[account] = max(latest_type.get(account, (0, "", "")), (ts, f"n{i}", t))
            sent.append(("n", e))
        else:
            e = enrolment_event(f"e{i}", ts, account=account, scheme=rnd.choice(SCHEMES),
                                status=rnd.choice(("ENROLLED", "EXITED")), band=rnd.choice(bands))
            state.apply(e, i, NOW)
            enrolments.append(e)
            sent.append(("e", e))
    expected = scheme_oracle(enrolments, {a: t for a, (_, _, t) in latest_type.items()}, enablements)
    assert any(k[1] == "eligible" for k in expected)
    assert plain(state.counts) == expected
    for i, (feed, e) in enumerate(sent):  # a replay after a crash changes nothing
        (enable.apply if feed == "n" else state.apply)(e, i, NOW)
    assert plain(state.counts) == expected
    assert plain(EnrolmentPartitionState(0, registry, SKEW_S, kv, types).recount().counts) == expected


def test_an_account_only_enabled_counts_in_the_denominator(registry: DistrictRegistry, tmp_path: Path) -> None:
    """A savings account enrolled in nothing, its band from the enablement feed: eligible for each
    scheme its band allows; its band changed later moves it; a current account or no band: nowhere."""
    enable_kv = RocksKV(tmp_path / "enable")
    enable = EnablementPartitionState(0, registry, SKEW_S, enable_kv)
    made: dict[int, EnrolmentPartitionState] = {}
    enable.on_type_change = type_change_router(made.get, 1)
    types = StoredTypes(enable_kv, stored_view)
    state = made[0] = EnrolmentPartitionState(0, registry, SKEW_S, RocksKV(tmp_path / "enrol"), types).recount()

    def eligible() -> tuple[int, int, int]:
        return tuple(state.figures(45)["eligible", s] for s in ("PMSBY", "PMJJBY", "APY"))  # type: ignore[return-value]

    enable.apply(enablement_event("n1", T0, account="B1", band="18_40"), 0, NOW)
    enable.apply(enablement_event("n2", T0, account="B2", band=None), 1, NOW)
    enable.apply(enablement_event("n3", T0, account="B3", account_type="CURRENT", band="18_40"), 2, NOW)
    assert eligible() == (1, 1, 1)
    enable.apply(enablement_event("n4", T0 + 5, account="B1", band="41_50"), 3, NOW)  # a birthday
    assert eligible() == (1, 1, 0)
    enable.apply(enablement_event("n5", T0 + 6, account="B1", band=None, modes=()), 4, NOW)  # null keeps it
    assert eligible() == (1, 1, 0)
    state.apply(enrolment_event("e1", T0 + 1, account="B1", band="18_40"), 5, NOW)  # older than the enablement's
    assert eligible() == (1, 1, 0) and state.figures(45)["covered", "PMSBY"] == 1
    state.apply(enrolment_event("e2", T0 + 9, account="B1", scheme="APY", status="EXITED", band="51_70"), 6, NOW)
    assert eligible() == (1, 0, 0)
    assert EnrolmentPartitionState(0, registry, SKEW_S, state.kv, types).recount().counts == state.counts
