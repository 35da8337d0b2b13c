"""Grievances: TAT arithmetic in IST dates, the state's transitions and anomalies, scrape-time TAT
crossing, checkpoint restore equality, and replay after a crash (the store ahead of the counters)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from streams.avro_codec import codec_for
from streams.config import Settings
from streams.errors import AadhaarLikeValue, OutOfRange
from streams.grievances.metrics import grievance_families
from streams.grievances.state import RESERVED_PREFIX, GrievancePartitionState
from streams.grievances.tat import due_day, ist_day, late_days, today
from streams.processor.dedupe import DedupeStore
from streams.processor.kv import RocksKV
from streams.processor.signal import Signal
from streams.processor.store import CheckpointStore
from streams.registry import DistrictRegistry

from .factories import SKEW_S, WINDOWS, aadhaar_like
from .kit import Clock, Owner

CODEC = codec_for("GrievanceEvent")
IST = timezone(timedelta(hours=5, minutes=30))  # the oracle's own: a fixed offset, not zoneinfo


def day(y: int, m: int, d: int) -> int:
    return (date(y, m, d) - date(1970, 1, 1)).days


def ms(y: int, m: int, d: int, hh: int = 12, mm: int = 0, tz: timezone = IST) -> int:
    return int(datetime(y, m, d, hh, mm, tzinfo=tz).timestamp() * 1000)


def grievance(event_id: str, action: str, ref: str = "G1", *, at: int, t: int, case: str = "UPI_P2P_NOT_CREDITED",
              lgd: int = 45, bank: str = "SBIN", amount: int = 50_000) -> dict[str, Any]:
    return {"event_id": event_id, "occurred_at": at, "district_lgd": lgd, "bank_code": bank, "grievance_ref": ref,
            "action": action, "case": case, "transaction_date": t, "amount_paise": amount}


# --- TAT arithmetic ------------------------------------------------------------------------------

def test_ist_day_turns_at_midnight_in_india_not_utc() -> None:
    assert ist_day(ms(2026, 12, 1, 18, 29, tz=UTC) + 59_999) == day(2026, 12, 1)  # 23:59:59.999 IST
    assert ist_day(ms(2026, 12, 1, 18, 30, tz=UTC)) == day(2026, 12, 2)  # 00:00 IST, still Dec 1 in UTC
    assert ist_day(ms(2026, 12, 2, 0, 0, tz=IST)) == day(2026, 12, 2)
    assert today(ms(2026, 12, 1, 20, 0, tz=UTC) / 1000) == day(2026, 12, 2)


@pytest.mark.parametrize(("case", "n"), [("UPI_P2P_NOT_CREDITED", 1), ("IMPS_NOT_CREDITED", 1),
                                         ("CARD_TO_CARD_NOT_CREDITED", 1), ("UPI_MERCHANT_NOT_CONFIRMED", 5),
                                         ("CARD_POS_NOT_CONFIRMED", 5), ("CARD_NOT_PRESENT_NOT_CONFIRMED", 5),
                                         ("ATM_CASH_NOT_DISPENSED", 5), ("AEPS_NOT_CONFIRMED", 5)])
def test_due_day_is_t_plus_the_circulars_days(case: str, n: int) -> None:
    t = day(2026, 11, 20)
    assert due_day(case, t) == t + n
    assert late_days(t + n, t + n) == 0  # resolved on the due day: within
    assert late_days(t + n, t + n + 3) == 3
    assert late_days(t + n, t) == 0


def test_other_has_no_turn_around_time() -> None:
    assert due_day("OTHER", day(2026, 11, 20)) is None


# --- the state ------------------------------------------------------------------------------------

class Partition:
    """A grievances partition state on a real local RocksDB."""

    def __init__(self, registry: DistrictRegistry, path: Path, now_ms: int, days: int = 2) -> None:
        self.kv = RocksKV(path)
        self.now_ms = now_ms
        self.state = GrievancePartitionState(0, registry, SKEW_S, self.kv, WINDOWS, days)
        self.offset = -1

    def apply(self, rec: dict[str, Any]) -> str:
        self.state.check(rec, self.now_ms)
        self.offset += 1
        return self.state.apply(rec, self.offset, self.now_ms)

    def scrape(self, registry: DistrictRegistry, now_ms: int | None = None) -> dict[tuple[str, ...], float]:
        out = {}
        for fam in grievance_families([self.state], registry, Settings(), (now_ms or self.now_ms) / 1000):
            for s in fam.samples:
                out[(s.name, *[f"{k}={v}" for k, v in sorted(s.labels.items()) if k not in ("district",)])] = s.value
        return out


def open_of(samples: dict[tuple[str, ...], float], tat: str, bank: str = "SBIN") -> float:
    return samples[("digindex_grievances_open", f"bank={bank}", "district_lgd=45", f"tat={tat}")]


def test_open_grievance_crosses_its_tat_by_the_clock_alone(registry: DistrictRegistry, tmp_path: Path) -> None:
    t = day(2026, 11, 28)
    p = Partition(registry, tmp_path / "kv", ms(2026, 11, 28, 15))
    p.apply(grievance("r1", "RAISED", "P2P", at=ms(2026, 11, 28, 14), t=t))  # due Nov 29
    p.apply(grievance("r2", "RAISED", "POS", at=ms(2026, 11, 28, 14), t=t, case="CARD_POS_NOT_CONFIRMED"))  # Dec 3
    p.apply(grievance("r3", "RAISED", "OTH", at=ms(2026, 11, 28, 14), t=t, case="OTHER"))
    on_29th_late = p.scrape(registry, ms(2026, 11, 29, 23, 59))
    assert (open_of(on_29th_late, "within"), open_of(on_29th_late, "past"), open_of(on_29th_late, "none")) == (2, 0, 1)
    just_after = p.scrape(registry, ms(2026, 11, 30, 0, 0))  # midnight in India: the P2P one is 1 day late
    assert (open_of(just_after, "within"), open_of(just_after, "past")) == (1, 1)
    owed = ("digindex_grievance_compensation_owed_rupees", "bank=SBIN", "district_lgd=45")
    assert just_after[owed] == 100
    on_5th = p.scrape(registry, ms(2026, 12, 5, 9))  # P2P 6 days late, POS 2 days late
    assert (open_of(on_5th, "within"), open_of(on_5th, "past")) == (0, 2)
    assert on_5th[owed] == 100 * (6 + 2)


def test_resolutions_late_days_ratios_and_compensation(registry: DistrictRegistry, tmp_path: Path) -> None:
    t = day(2026, 11, 30)
    now = ms(2026, 12, 6, 12)
    p = Partition(registry, tmp_path / "kv", now)
    for ref, case in (("A", "IMPS_NOT_CREDITED"), ("B", "IMPS_NOT_CREDITED"), ("C", "ATM_CASH_NOT_DISPENSED"),
                      ("D", "OTHER")):
        p.apply(grievance(f"r{ref}", "RAISED", ref, at=ms(2026, 11, 30, 10), t=t, case=case))
    p.apply(grievance("sA", "RESOLVED", "A", at=ms(2026, 12, 6, 11, 50), t=t, case="IMPS_NOT_CREDITED"))  # 5 late
    p.apply(grievance("sB", "RESOLVED", "B", at=ms(2026, 12, 1, 23, 0), t=t, case="IMPS_NOT_CREDITED"))  # within
    p.apply(grievance("sC", "RESOLVED", "C", at=ms(2026, 12, 6, 11, 55), t=t, case="ATM_CASH_NOT_DISPENSED"))
    p.apply(grievance("sD", "RESOLVED", "D", at=ms(2026, 12, 6, 11, 58), t=t, case="OTHER"))
    s = p.scrape(registry)
    res = {tat: s[("digindex_grievances_resolved_total", "bank=SBIN", "district_lgd=45", f"tat={tat}")]
           for tat in ("within", "past", "none")}
    assert res == {"within": 1, "past": 2, "none": 1}  # A 5 days late; C: T+5 is Dec 5, resolved Dec 6: 1 day
    assert s[("digindex_grievance_compensation_owed_rupees", "bank=SBIN", "district_lgd=45")] == 100 * (5 + 1)
    # both windows hold A and C only (B was resolved 5 days before, D has no TAT): neither within, R - T = 6
    assert s[("digindex_grievance_resolved_within_tat_ratio", "district_lgd=45", "window=1h")] == 0.0
    assert s[("digindex_grievance_resolved_within_days_ratio", "days=2", "district_lgd=45", "window=24h")] == 0.0
    assert open_of(s, "within") + open_of(s, "past") + open_of(s, "none") == 0


def test_window_ratios_over_resolutions_in_the_window(registry: DistrictRegistry, tmp_path: Path) -> None:
    now = ms(2026, 12, 6, 12)
    p = Partition(registry, tmp_path / "kv", now, days=2)
    t_ok, t_3days = day(2026, 12, 5), day(2026, 12, 3)
    for i, (t, case) in enumerate([(t_ok, "UPI_P2P_NOT_CREDITED"), (t_3days, "UPI_MERCHANT_NOT_CONFIRMED"),
                                   (t_3days, "UPI_P2P_NOT_CREDITED")]):
        p.apply(grievance(f"r{i}", "RAISED", f"G{i}", at=ms(2026, 12, 5, 10), t=t, case=case))
        p.apply(grievance(f"s{i}", "RESOLVED", f"G{i}", at=ms(2026, 12, 6, 11, 30 + i), t=t, case=case))
    s = p.scrape(registry)
    # G0: R-T = 1, within T+1; G1: R-T = 3, within T+5, not within 2 days; G2: 3 days, 2 late
    assert s[("digindex_grievance_resolved_within_tat_ratio", "district_lgd=45", "window=1h")] == pytest.approx(2 / 3)
    assert s[("digindex_grievance_resolved_within_days_ratio", "days=2", "district_lgd=45",
              "window=1h")] == pytest.approx(1 / 3)


def test_anomalies_are_counted_and_the_first_raising_and_resolution_stand(registry: DistrictRegistry,
                                                                          tmp_path: Path) -> None:
    t = day(2026, 12, 4)
    p = Partition(registry, tmp_path / "kv", ms(2026, 12, 6, 12))
    outcomes = [
        p.apply(grievance("u1", "RESOLVED", "UNKNOWN", at=ms(2026, 12, 5, 10), t=t)),  # within T+1
        p.apply(grievance("u2", "RAISED", "UNKNOWN", at=ms(2026, 12, 5, 11), t=t)),  # after its resolution
        p.apply(grievance("a1", "RAISED", "TWICE", at=ms(2026, 12, 5, 10), t=t)),
        p.apply(grievance("a2", "RAISED", "TWICE", at=ms(2026, 12, 5, 11), t=t)),  # raised twice
        p.apply(grievance("b1", "RESOLVED", "TWICE", at=ms(2026, 12, 6, 10), t=t)),  # 1 day late
        p.apply(grievance("b2", "RESOLVED", "TWICE", at=ms(2026, 12, 6, 11), t=t)),  # resolved twice
    ]
    assert outcomes == ["accepted"] * 6
    s = p.scrape(registry)
    an = {k[1].split("=")[1]: v for k, v in s.items() if k[0] == "digindex_grievance_anomalies_total"}
    assert an == {"resolved_unknown": 1, "raised_after_resolved": 1, "raised_twice": 1, "resolved_twice": 1}
    res = {tat: s[("digindex_grievances_resolved_total", "bank=SBIN", "district_lgd=45", f"tat={tat}")]
           for tat in ("within", "past")}
    assert res == {"within": 1, "past": 1}
    assert open_of(s, "within") + open_of(s, "past") == 0
    assert s[("digindex_grievance_compensation_owed_rupees", "bank=SBIN", "district_lgd=45")] == 100


def test_checks_refuse_a_transaction_after_the_event_and_aadhaar_in_the_ref(registry: DistrictRegistry,
                                                                            tmp_path: Path) -> None:
    p = Partition(registry, tmp_path / "kv", ms(2026, 12, 6, 12))
    at = ms(2026, 12, 1, 23, 0)  # 17:30 UTC: Dec 1 in India and in UTC
    p.state.check(grievance("x", "RAISED", at=at, t=day(2026, 12, 1)), p.now_ms)
    with pytest.raises(OutOfRange):
        p.state.check(grievance("x", "RAISED", at=at, t=day(2026, 12, 2)), p.now_ms)
    p.state.check(grievance("x", "RAISED", at=ms(2026, 12, 2, 0, 10), t=day(2026, 12, 2)), p.now_ms)  # Dec 1 UTC
    with pytest.raises(AadhaarLikeValue):
        p.state.check(grievance("x", "RAISED", ref=f"ref {aadhaar_like()}", at=at, t=day(2026, 12, 1)), p.now_ms)
    with pytest.raises(OutOfRange):
        p.state.check(grievance("x", "RAISED", ref="", at=at, t=day(2026, 12, 1)), p.now_ms)


# --- checkpoints: restore equality, replay after a crash ---------------------------------------------

def grievance_signal(registry: DistrictRegistry, kv: RocksKV, tmp_path: Path, snapshot_every: int) -> Signal:
    return Signal(name="grievances", topic="grievances", codec=CODEC,
                  store=CheckpointStore(RESERVED_PREFIX, snapshot_every=snapshot_every, horizon_s=7 * 86400.0),
                  make_state=lambda p, part_kv: GrievancePartitionState(p, registry, SKEW_S, part_kv, WINDOWS, 2),
                  kv_for=lambda p: kv, dedupe_dir=tmp_path / "dedupe")


def feed_of(n: int, now: int) -> list[dict[str, Any]]:
    """Raisings and resolutions of ``n`` grievances over two banks and districts, with every anomaly."""
    out = []
    for i in range(n):
        case = ("UPI_P2P_NOT_CREDITED", "ATM_CASH_NOT_DISPENSED", "OTHER")[i % 3]
        lgd, bank = (45, 49)[i % 2], ("SBIN", "PUNB")[i % 4 // 2]
        t = day(2026, 12, 1) + i % 4
        out.append(grievance(f"r{i}", "RAISED", f"G{i}", at=now - 3_600_000 * (60 - i % 50), t=t, case=case,
                             lgd=lgd, bank=bank))
        if i % 3 != 2:
            out.append(grievance(f"s{i}", "RESOLVED", f"G{i}", at=now - 60_000 * (n - i), t=t, case=case,
                                 lgd=lgd, bank=bank))
    out.append(grievance("twice", "RAISED", "G1", at=now - 1000, t=day(2026, 12, 2), lgd=49, bank="SBIN"))
    out.append(grievance("again", "RESOLVED", "G0", at=now - 900, t=day(2026, 12, 1), lgd=45))
    out.append(grievance("unknown", "RESOLVED", "NEVER", at=now - 800, t=day(2026, 12, 5), lgd=45))
    return out


@pytest.mark.parametrize("snapshot_every", [1, 120])
def test_restore_equals_the_state_saved(registry: DistrictRegistry, tmp_path: Path, snapshot_every: int) -> None:
    now = ms(2026, 12, 6, 12)
    clock = Clock(now / 1000)
    kv = RocksKV(tmp_path / "kv")
    signal = grievance_signal(registry, kv, tmp_path, snapshot_every)
    dedupe = DedupeStore(tmp_path / "dd")
    owner = Owner(signal, dedupe, clock)
    events = feed_of(40, now)
    for k in range(0, len(events), 7):
        owner.feed(events[k:k + 7])
        owner.save()
    before = owner.state.comparable()
    assert before["g"] and before["minutes"]
    again = Owner(signal, dedupe, clock)
    assert again.state.comparable() == before
    assert again.state.offset == owner.state.offset


def test_replay_after_a_crash_counts_once_with_the_store_ahead(registry: DistrictRegistry, tmp_path: Path) -> None:
    """Events after the last checkpoint were written to the store, then the worker died: the next
    owner restores the older counters and replays them; the figures are those of one clean pass."""
    now = ms(2026, 12, 6, 12)
    clock = Clock(now / 1000)
    events = feed_of(30, now)
    clean_kv = RocksKV(tmp_path / "clean")
    clean = Owner(grievance_signal(registry, clean_kv, tmp_path / "c", 120), DedupeStore(tmp_path / "cd"), clock)
    clean.feed(events)
    kv = RocksKV(tmp_path / "kv")
    signal = grievance_signal(registry, kv, tmp_path, 120)
    dedupe = DedupeStore(tmp_path / "dd")
    first = Owner(signal, dedupe, clock)
    first.feed(events[:20])
    first.save()
    first.feed(events[20:])  # applied and written to the store, never checkpointed: the crash
    second = Owner(signal, dedupe, clock)
    assert second.state.offset == 19
    second.feed(events[20:])
    assert second.state.comparable() == clean.state.comparable()
    assert second.state.outcomes == clean.state.outcomes
    grievances = {k: v for k, v in kv.scan(b"") if not k.startswith(RESERVED_PREFIX)}
    assert grievances == {k: v for k, v in clean_kv.scan(b"") if not k.startswith(RESERVED_PREFIX)}


# --- expiry of resolved grievances ---------------------------------------------------------------

def test_a_resolved_grievance_expires_after_the_retention_and_is_then_judged_as_never_seen(
        registry: DistrictRegistry, tmp_path: Path) -> None:
    """Retention 2 days, by the partition's newest event day: resolved on Dec 1, kept through Dec 3,
    forgotten from Dec 4 (deleted after the next checkpoint); the same judgements whether deleted yet
    or not. Open grievances never expire."""
    kept, lazy = (Partition(registry, tmp_path / name, ms(2026, 12, 10, 12)) for name in ("kept", "lazy"))
    for p in (kept, lazy):
        p.state.retention_days = 2
    t = day(2026, 11, 30)
    first = [grievance("r1", "RAISED", "G1", at=ms(2026, 12, 1, 9), t=t),
             grievance("s1", "RESOLVED", "G1", at=ms(2026, 12, 1, 10), t=t),
             grievance("r2", "RAISED", "G2", at=ms(2026, 12, 1, 11), t=t),
             grievance("s2", "RESOLVED", "G2", at=ms(2026, 12, 1, 12), t=t),
             grievance("open", "RAISED", "OPEN", at=ms(2026, 12, 1, 13), t=t),
             grievance("other", "RAISED", "H", at=ms(2026, 12, 3, 23), t=t),  # newest day Dec 3: kept
             grievance("s1-again", "RESOLVED", "G1", at=ms(2026, 12, 3, 23, 30), t=t)]
    for p in (kept, lazy):
        assert [p.apply(e) for e in first] == ["accepted"] * 7
        assert p.state.expire() == 0 and p.kv.get(b"SBIN|G1") is not None
    a = kept.state.aggregate(45, "SBIN")
    assert a.anomalies["resolved_twice"] == 1 and a.resolved["within"] == 2
    later = [grievance("tick", "RAISED", "K", at=ms(2026, 12, 4, 1), t=t),  # newest day Dec 4: G1, G2 expire
             grievance("s1-late", "RESOLVED", "G1", at=ms(2026, 12, 4, 2), t=t),
             grievance("r2-again", "RAISED", "G2", at=ms(2026, 12, 4, 3), t=t)]
    kept.apply(later[0])
    kept.state.checkpointed()  # the checkpoint covering Dec 4 deletes them
    assert kept.state.deleted == 2 and kept.kv.get(b"SBIN|G1") is None and kept.kv.get(b"SBIN|G2") is None
    assert kept.kv.get(b"SBIN|OPEN") is not None and kept.kv.get(b"SBIN|H") is not None
    for e in later[1:]:
        kept.apply(e)
    for e in later:
        lazy.apply(e)  # never checkpointed: still in its store, forgotten all the same
    assert lazy.state.deleted == 0 and lazy.kv.get(b"SBIN|G2") is not None
    for p in (kept, lazy):
        a = p.state.aggregate(45, "SBIN")
        # G1: a resolution of a grievance never seen (counted as one); G2: raised again, open
        assert a.anomalies == {"resolved_twice": 1, "resolved_unknown": 1}, a.anomalies
        assert (a.resolved["within"], a.resolved["past"]) == (2, 1) and sum(a.open_due.values()) == 4  # OPEN H K G2
    assert kept.scrape(registry) == lazy.scrape(registry)


def test_replay_with_expiry_ends_as_one_clean_pass_for_any_crash_point(registry: DistrictRegistry,
                                                                       tmp_path: Path) -> None:
    """Grievances resolved and expired (retention 1 day) within the replayed range, raised and resolved
    again after: a crash after any checkpoint (and the deletes after it), then a restore and a replay,
    ends with the counters of one clean pass."""
    now = ms(2026, 12, 6, 12)
    clock = Clock(now / 1000)
    t = day(2026, 11, 30)
    events = []
    for i in range(40):  # one event an hour or so, over 5 days: each grievance resolved 2 h after its raising
        at = now - 3_600_000 * (120 - 3 * i)
        events.append(grievance(f"r{i}", "RAISED", f"G{i % 12}", at=at, t=t, bank=("SBIN", "PUNB")[i % 2]))
        events.append(grievance(f"s{i}", "RESOLVED", f"G{i % 12}", at=at + 7_200_000, t=t,
                                bank=("SBIN", "PUNB")[i % 2]))

    def signal_on(kv: RocksKV, where: Path) -> Signal:
        sig = grievance_signal(registry, kv, where, 120)
        sig.make_state = lambda p, part_kv: GrievancePartitionState(p, registry, SKEW_S, part_kv, WINDOWS, 2, 1)
        return sig

    clean = Owner(signal_on(RocksKV(tmp_path / "clean"), tmp_path / "c"), DedupeStore(tmp_path / "cd"), clock)
    clean.feed(events)
    want = clean.state.comparable()
    assert sum(a.anomalies["raised_after_resolved"] for a in clean.state.aggregates.values()) > 0  # not expired yet
    assert sum(a.anomalies["raised_twice"] for a in clean.state.aggregates.values()) == 0
    for crash in (10, 25, 41, 60):
        kv = RocksKV(tmp_path / f"kv{crash}")
        signal = signal_on(kv, tmp_path / f"s{crash}")
        dedupe = DedupeStore(tmp_path / f"dd{crash}")
        first = Owner(signal, dedupe, clock)
        for k in range(0, crash, 9):
            first.feed(events[k:min(k + 9, crash)])
            first.save()  # each checkpoint then deletes what has expired by its newest event
        first.feed(events[crash:])  # applied and written, never checkpointed: the crash
        assert first.state.deleted > 0 or crash < 25
        second = Owner(signal, dedupe, clock)
        second.feed(events[crash:])
        assert second.state.comparable() == want, crash
        assert second.state.outcomes == clean.state.outcomes, crash
