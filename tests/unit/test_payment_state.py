"""PaymentPartitionState: domain checks, apply (accepted / late), windows, per-bank windows and totals.

Deduplication, the horizon and the outcome counters are the processor's (``test_processor_loop``).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from streams.errors import AadhaarLikeValue, EventError, InvalidBankCode, OutOfRange, UnknownDistrict
from streams.payments.rolling import count, value
from streams.payments.state import ACCEPTED, LATE, PaymentPartitionState

from .factories import HOUR_MS, MINUTE_MS, T0, aadhaar_like, payment

NOW = T0 + 60_000  # wall clock a minute after T0
MakeState = Callable[..., PaymentPartitionState]


def apply_all(state: PaymentPartitionState, records: list[dict[str, Any]], first_offset: int = 0) -> list[str]:
    return [state.apply(r, first_offset + i, NOW) for i, r in enumerate(records)]


def test_outcomes_accepted_and_late(make_state: MakeState) -> None:
    s = make_state()
    assert s.apply(payment("a", T0), 0, NOW) == ACCEPTED
    assert s.apply(payment("a", T0, bank="PUNB"), 1, NOW) == ACCEPTED
    assert s.apply(payment("old", T0 - 24 * HOUR_MS), 2, NOW) == LATE
    assert s.apply(payment("edge", T0 - 24 * HOUR_MS + MINUTE_MS), 3, NOW) == ACCEPTED
    assert s.outcomes == Counter(), "the processor counts outcomes, not the state"


def test_check_is_the_domain_rules_and_changes_nothing(make_state: MakeState) -> None:
    s = make_state()
    s.check(payment("ok"), NOW)
    with pytest.raises(OutOfRange):
        s.check(payment("fix-me", amount=-1), NOW)
    with pytest.raises(InvalidBankCode):
        s.check(payment(bank="SBI1"), NOW)
    assert s.offset == -1 and s.outcomes == Counter() and s.districts == {} and s.dirty == set()


@pytest.mark.parametrize(("record", "error", "code", "field"), [
    (payment(lgd=99), UnknownDistrict, "unknown_district", "district_lgd"),
    (payment(lgd=0), UnknownDistrict, "unknown_district", "district_lgd"),
    (payment(amount=-1), OutOfRange, "out_of_range", "amount_paise"),
    (payment(ts=NOW + 300_001), OutOfRange, "out_of_range", "occurred_at"),
    (payment(ts=-1), OutOfRange, "out_of_range", "occurred_at"),
    (payment(event_id=""), OutOfRange, "out_of_range", "event_id"),
    (payment(event_id=aadhaar_like()), AadhaarLikeValue, "aadhaar_like_value", "event_id"),
    (payment(event_id="txn " + aadhaar_like()[:4] + " " + aadhaar_like()[4:8] + " " + aadhaar_like()[8:]),
     AadhaarLikeValue, "aadhaar_like_value", "event_id"),
    (payment(branch_ifsc="SBIN-" + "-".join([aadhaar_like()[:4], aadhaar_like()[4:8], aadhaar_like()[8:]])),
     AadhaarLikeValue, "aadhaar_like_value", "branch_ifsc"),
    (payment(bank="X" + aadhaar_like()), AadhaarLikeValue, "aadhaar_like_value", "bank_code"),
    # invalid check digit: still refused (a mistyped Aadhaar number is still personal data)
    (payment(event_id="987654321098"), AadhaarLikeValue, "aadhaar_like_value", "event_id"),
    # an Aadhaar-like value wins over every other problem: the dead letter must say so
    (payment(event_id=aadhaar_like(), lgd=99, amount=-5), AadhaarLikeValue, "aadhaar_like_value", "event_id"),
])
def test_validation_errors(make_state: MakeState, record: dict[str, Any], error: type[EventError], code: str,
                           field: str) -> None:
    s = make_state()
    with pytest.raises(error) as exc:
        s.check(record, NOW)
    assert exc.value.code == code
    assert exc.value.field == field
    assert isinstance(exc.value, EventError)
    assert s.outcomes == Counter() and s.districts == {}


def test_future_skew_boundary_is_accepted(make_state: MakeState) -> None:
    s = make_state()
    s.check(payment(ts=NOW + 300_000), NOW)
    assert s.apply(payment(ts=NOW + 300_000), 0, NOW) == ACCEPTED


@pytest.mark.parametrize("text", ["SBIN0001234", "12345678901", "1234567890123", "0234 5678 9012",
                                  "1234-5678-9012", "2345678901234", "UPI/98765/43210"])
def test_non_aadhaar_strings_pass(make_state: MakeState, text: str) -> None:
    s = make_state()
    s.check(payment(event_id=text, branch_ifsc="SBIN0000001"), NOW)
    assert s.apply(payment(event_id=text, branch_ifsc="SBIN0000001"), 0, NOW) == ACCEPTED


def test_declines_counted_but_not_in_share_and_value_share(make_state: MakeState) -> None:
    s = make_state()
    apply_all(s, [
        payment("1", channel="UPI", amount=300),
        payment("2", channel="DEBIT_CARD", amount=500),
        payment("3", channel="CASH", amount=200),
        payment("4", channel="CHEQUE", amount=1000),
        payment("5", channel="UPI", amount=7000, status="TECHNICAL_DECLINE"),
        payment("6", channel="IMPS", amount=9000, status="BUSINESS_DECLINE"),
        payment("7", channel="CASH", amount=4000, status="BUSINESS_DECLINE"),
    ])
    d = s.districts[45]
    for i in (0, 1):
        w = d.rolling.window(i)
        assert (count(w, "SUCCESS", True), count(w, "SUCCESS", False)) == (2, 2)
        assert (value(w, "SUCCESS", True), value(w, "SUCCESS", False)) == (800, 1200)
        assert count(w, "TECHNICAL_DECLINE", True) == 1 and value(w, "TECHNICAL_DECLINE", True) == 7000
        assert count(w, "BUSINESS_DECLINE", True) == 1 and count(w, "BUSINESS_DECLINE", False) == 1
        assert count(w, "TECHNICAL_DECLINE", False) == 0
        share = count(w, "SUCCESS", True) / (count(w, "SUCCESS", True) + count(w, "SUCCESS", False))
        assert share == 0.5
        vshare = value(w, "SUCCESS", True) / (value(w, "SUCCESS", True) + value(w, "SUCCESS", False))
        assert vshare == pytest.approx(0.4)
    assert d.amounts == [1200, 800]  # declines carry no value
    assert d.totals == Counter({("UPI", "SUCCESS"): 1, ("DEBIT_CARD", "SUCCESS"): 1, ("CASH", "SUCCESS"): 1,
                                ("CHEQUE", "SUCCESS"): 1, ("UPI", "TECHNICAL_DECLINE"): 1,
                                ("IMPS", "BUSINESS_DECLINE"): 1, ("CASH", "BUSINESS_DECLINE"): 1})


def test_hour_and_day_windows_per_district(make_state: MakeState) -> None:
    s = make_state()
    apply_all(s, [
        payment("a", T0 - 2 * HOUR_MS, channel="CASH"),  # day only
        payment("b", T0 - 59 * MINUTE_MS, channel="UPI"),  # hour and day
        payment("c", T0, channel="UPI"),
        payment("d", T0 - 30 * MINUTE_MS, lgd=49, channel="CASH"),  # another district, its own head
    ])
    alm, dun = s.districts[45], s.districts[49]
    assert count(alm.rolling.window(0), "SUCCESS", True) == 2
    assert count(alm.rolling.window(0), "SUCCESS", False) == 0
    assert count(alm.rolling.window(1), "SUCCESS", False) == 1
    assert alm.rolling.head == T0 // MINUTE_MS
    assert dun.rolling.head == (T0 - 30 * MINUTE_MS) // MINUTE_MS
    assert count(dun.rolling.window(0), "SUCCESS", False) == 1
    assert alm.last_event_ms == T0 and dun.last_event_ms == T0 - 30 * MINUTE_MS


def test_per_bank_windows(make_state: MakeState) -> None:
    s = make_state()
    apply_all(s, [
        payment("1", T0 - 2 * HOUR_MS, bank="PUNB", channel="UPI"),
        payment("2", T0 - 10 * MINUTE_MS, bank="SBIN", channel="UPI"),
        payment("3", T0 - 5 * MINUTE_MS, bank="SBIN", channel="CASH"),
        payment("4", T0, bank="BARB", channel="AEPS", status="TECHNICAL_DECLINE"),
    ])
    banks = s.districts[45].banks
    assert set(banks) == {"PUNB", "SBIN", "BARB"}
    # every bank's windows end at the district's head: the state moves them, not the collector
    assert {r.head for r in banks.values()} == {s.districts[45].rolling.head}
    assert count(banks["SBIN"].window(0), "SUCCESS", True) == 1
    assert count(banks["SBIN"].window(0), "SUCCESS", False) == 1
    assert count(banks["PUNB"].window(0), "SUCCESS", True) == 0  # two hours old: out of the hour
    assert count(banks["PUNB"].window(1), "SUCCESS", True) == 1
    assert count(banks["BARB"].window(0), "TECHNICAL_DECLINE", True) == 1
    total = [sum(x) for x in zip(*(r.window(1) for r in banks.values()), strict=True)]
    assert total == s.districts[45].rolling.window(1), "banks add up to the district"
    assert s.bank_last_event_ms == {"PUNB": T0 - 2 * HOUR_MS, "SBIN": T0 - 5 * MINUTE_MS, "BARB": T0}


def test_cumulative_totals_include_late_events(make_state: MakeState) -> None:
    s = make_state()
    s.apply(payment("now", T0, channel="UPI", amount=100), 0, NOW)
    window_before = list(s.districts[45].rolling.window(1))
    assert s.apply(payment("late", T0 - 30 * HOUR_MS, channel="NEFT", amount=250), 1, NOW) == LATE
    assert s.apply(payment("late-cash", T0 - 30 * HOUR_MS, channel="CASH", amount=40,
                           status="BUSINESS_DECLINE"), 2, NOW) == LATE
    d = s.districts[45]
    assert d.rolling.window(1) == window_before, "late events stay out of the windows"
    assert set(d.banks) == {"SBIN"}
    assert count(d.banks["SBIN"].window(1), "SUCCESS", True) == 1
    assert d.totals == Counter({("UPI", "SUCCESS"): 1, ("NEFT", "SUCCESS"): 1, ("CASH", "BUSINESS_DECLINE"): 1})
    assert d.amounts == [0, 350]
    assert d.last_event_ms == T0
    assert s.bank_last_event_ms == {"SBIN": T0}


def test_dirty_tracks_the_minutes_changed_since_the_checkpoint(make_state: MakeState) -> None:
    s = make_state()
    apply_all(s, [payment("a", T0), payment("b", T0 + 1000), payment("c", T0 + MINUTE_MS, lgd=50),
                  payment("late", T0 - 30 * HOUR_MS)])
    assert s.dirty == {(45, T0 // MINUTE_MS), (50, T0 // MINUTE_MS + 1)}, "a late event touches no minute"
    delta = s.delta()
    assert sorted(delta["buckets"]) == ["45", "50"]
    assert delta["counters"]["districts"]["45"]["totals"] == [["UPI", "SUCCESS", 3]]
    s.checkpointed()
    assert s.dirty == set() and s.delta()["buckets"] == {}


def test_windows_never_end_past_the_workers_clock(make_state: MakeState) -> None:
    """An event stamped ahead (within the allowed skew) is counted in the current minute."""
    s = make_state()
    ahead = NOW + 4 * MINUTE_MS
    s.check(payment("ahead", ahead), NOW)
    assert s.apply(payment("ahead", ahead), 0, NOW) == ACCEPTED
    d = s.districts[45]
    assert d.rolling.head == NOW // MINUTE_MS, "the windows end at the clock, not at the event"
    assert d.rolling.live().keys() == {NOW // MINUTE_MS}
    assert d.last_event_ms == ahead and s.bank_last_event_ms == {"SBIN": ahead}, "freshness is the event's"
    # 58 minutes before T0 is inside the hour ending now (it would not be inside the hour ending at `ahead`)
    assert s.apply(payment("earlier", T0 - 58 * MINUTE_MS, channel="CASH"), 1, NOW) == ACCEPTED
    assert count(d.rolling.window(0), "SUCCESS", False) == 1
    assert count(d.rolling.window(0), "SUCCESS", True) == 1
    # later, with the clock past the event, a new event moves the head on as usual
    assert s.apply(payment("next", ahead + MINUTE_MS), 2, ahead + MINUTE_MS) == ACCEPTED
    assert d.rolling.head == (ahead + MINUTE_MS) // MINUTE_MS
    assert count(d.rolling.window(0), "SUCCESS", True) == 2


def test_bank_windows_advance_with_the_district_head(make_state: MakeState) -> None:
    """No collector call: a bank that went quiet sees its events leave the windows as the district moves."""
    s = make_state()
    apply_all(s, [payment("p", T0 - 2 * HOUR_MS, bank="PUNB"), payment("h", T0 - 61 * MINUTE_MS, bank="HDFC")])
    d = s.districts[45]
    assert count(d.banks["PUNB"].window(0), "SUCCESS", True) == 1  # 59 minutes before the district's head
    assert count(d.banks["HDFC"].window(0), "SUCCESS", True) == 1
    assert s.apply(payment("s", T0, bank="SBIN"), 2, NOW) == ACCEPTED  # another bank moves the district on
    assert d.rolling.head == T0 // MINUTE_MS and {r.head for r in d.banks.values()} == {d.rolling.head}
    assert count(d.banks["HDFC"].window(0), "SUCCESS", True) == 0, "HDFC's hour ends at the district's head"
    assert count(d.banks["PUNB"].window(0), "SUCCESS", True) == 0
    assert count(d.banks["HDFC"].window(1), "SUCCESS", True) == 1
    assert count(d.banks["PUNB"].window(1), "SUCCESS", True) == 1
    # an older event of a quiet bank lands in its windows as they stand (ending at the district's head)
    assert s.apply(payment("h2", T0 - 30 * MINUTE_MS, bank="HDFC"), 3, NOW) == ACCEPTED
    assert count(d.banks["HDFC"].window(0), "SUCCESS", True) == 1
    # a bank first seen after the head moved starts with windows ending there too
    assert s.apply(payment("b", T0 - 3 * HOUR_MS, bank="BARB"), 4, NOW) == ACCEPTED
    assert d.banks["BARB"].head == d.rolling.head
    assert count(d.banks["BARB"].window(0), "SUCCESS", True) == 0
    total = [sum(x) for x in zip(*(r.window(1) for r in d.banks.values()), strict=True)]
    assert total == d.rolling.window(1), "banks add up to the district"


def test_snapshot_and_delta_load_round_trip(make_state: MakeState) -> None:
    s = make_state()
    apply_all(s, [payment("a", T0 - 2 * HOUR_MS, bank="PUNB"), payment("b", T0 - 10 * MINUTE_MS, lgd=49)])
    s.offset = 1
    snap = json.loads(json.dumps(s.snapshot()))
    s.checkpointed()
    s.apply(payment("c", T0, channel="CASH"), 2, NOW)
    s.apply(payment("d", T0 - 30 * HOUR_MS, channel="NEFT"), 3, NOW)  # late: totals only
    s.offset = 3
    delta = json.loads(json.dumps(s.delta()))
    fresh = make_state()
    fresh.load(snap, [delta])
    assert fresh.snapshot() == json.loads(json.dumps(s.snapshot()))
    for lgd, d in s.districts.items():
        f = fresh.districts[lgd]
        assert [f.rolling.window(i) for i in range(2)] == [d.rolling.window(i) for i in range(2)]
        assert {b: [r.window(i) for i in range(2)] for b, r in f.banks.items()} == \
            {b: [r.window(i) for i in range(2)] for b, r in d.banks.items()}
        assert {r.head for r in f.banks.values()} == {f.rolling.head}, "restored banks end at the district's head"
    assert fresh.offset == 3 and fresh.dirty == set()


# --- the payment lines (issue 10): purposes, departments, branches ------------------------------------


def lines_state(make_state: MakeState) -> PaymentPartitionState:
    s = make_state()
    s.branch_min_transactions = 2
    apply_all(s, [
        payment("b1", channel="UPI_QR", purpose="BILL_ENERGY", branch_ifsc="SBIN0000001", amount=100),
        payment("b2", channel="CASH", purpose="BILL_ENERGY", branch_ifsc="SBIN0000001", amount=300),
        payment("b3", channel="UPI", purpose="BILL_ENERGY", status="TECHNICAL_DECLINE", branch_ifsc="SBIN0000001"),
        payment("g1", T0 - 2 * HOUR_MS, channel="NEFT", purpose="GOVT_PAYMENT", department_code="TREASURY",
                bank="PUNB", branch_ifsc="PUNB0001000"),
        payment("g2", channel="CHEQUE", purpose="GOVT_RECEIPT", department_code="REVENUE", bank="PUNB",
                branch_ifsc="PUNB0001000"),
        payment("g3", channel="UPI", purpose="GOVT_RECEIPT", department_code="REVENUE", bank="PUNB",
                status="BUSINESS_DECLINE"),
        payment("s1", bank="AACX", branch_ifsc="HDFC0CAACOB"),  # a sublet branch, reported by its operator
        payment("late", T0 - 30 * HOUR_MS, purpose="BILL_WATER", branch_ifsc="SBIN0000002"),
    ])
    return s


def test_purposes_and_departments_count_successful_payments(make_state: MakeState) -> None:
    s = lines_state(make_state)
    d = s.districts[45]
    assert s.purpose_window(d, 0) == {"BILL_ENERGY": [1, 0, 1], "GOVT_RECEIPT": [1, 0, 0], "P2P": [0, 1, 0]}
    assert s.purpose_window(d, 1)["GOVT_PAYMENT"] == [0, 1, 0], "two hours back: the day only"
    assert "BILL_WATER" not in s.purpose_window(d, 1), "late events are in no window"
    assert s.department_window(d, 0) == {"REVENUE": [1, 0]}, "the declined UPI receipt is not counted"
    assert s.department_window(d, 1) == {"REVENUE": [1, 0], "TREASURY": [0, 1]}
    view = s.district_view(45)["windows"]
    assert view["1h"]["purposes"]["BILL_ENERGY"] == {"transactions": 2, "digital_share": 0.5, "qr_share": 0.5}
    assert "qr_share" not in view["1h"]["purposes"]["GOVT_RECEIPT"]
    assert view["24h"]["departments"]["TREASURY"] == {"transactions": 1, "digital_share": 1.0}
    punb = view["1h"]["banks"]["PUNB"]
    assert punb["digital_attempts"] == 1 and punb["business_decline_ratio"] == 1.0
    assert view["1h"]["banks"]["SBIN"]["technical_decline_ratio"] == 0.5


def test_branches_by_bank_with_the_minimum_and_the_target(make_state: MakeState) -> None:
    s = lines_state(make_state)
    rows = {r["branch_ifsc"]: r for r in s.branch_view(45, "24h")}
    assert rows["SBIN0000001"] == {"branch_ifsc": "SBIN0000001", "bank": "SBIN", "transactions": 2,
                                   "digital_share": 0.5, "digital_value_share": 0.25}
    assert rows["PUNB0001000"]["transactions"] == 2 and rows["PUNB0001000"]["digital_share"] == 0.5
    assert rows["HDFC0CAACOB"]["bank"] == "AACX", "a sublet branch counts for the bank that reported it"
    assert "SBIN0000002" not in rows, "late"
    assert [r["branch_ifsc"] for r in s.branch_view(45, "1h", "PUNB")] == ["PUNB0001000"]
    assert s.branch_view(45, "1h", "PUNB")[0]["transactions"] == 1, "the NEFT payment is 2 hours old"
    # (with payments, reporting: at least the minimum, below target of those)
    # SBIN0000001: 2 payments (the minimum), half digital: below 0.8; PUNB's branch in the hour: 1, not judged
    assert s.branch_summary(45, 0) == {"AACX": (1, 0, 0), "PUNB": (1, 0, 0), "SBIN": (1, 1, 1)}
    assert s.branch_summary(45, 1)["PUNB"] == (1, 1, 1)
    s.target_for = lambda lgd: 0.5
    assert s.branch_summary(45, 1)["PUNB"] == (1, 1, 0), "at the target is not below it"
    with pytest.raises(ValueError, match="1h, 24h"):
        s.branch_view(45, "7d")
    with pytest.raises(KeyError):
        s.district_view(49)


def test_branch_windows_are_twelfths_of_each_window_ending_at_the_districts_head(make_state: MakeState) -> None:
    s = make_state()
    d = s.district(45)
    assert s.branch_sizes == (300, 7200) and [(g.span, g.widths) for g in d.branches] == [(12, (12,))] * 2
    # T0 is on an even hour: the 1 h holds the 5-minute buckets from 55 minutes back, the 24 h the
    # 2-hour buckets from 22 hours back
    apply_all(s, [payment("a", T0 - 56 * MINUTE_MS, branch_ifsc="SBIN0000001"),
                  payment("b", T0 - 54 * MINUTE_MS, branch_ifsc="SBIN0000001"),
                  payment("c", T0 - 23 * HOUR_MS, branch_ifsc="SBIN0000001"),
                  payment("d", T0 - 21 * HOUR_MS, branch_ifsc="SBIN0000001"),
                  payment("e", T0, branch_ifsc="SBIN0000002", bank="SBIN")])
    assert {r["branch_ifsc"]: r["transactions"] for r in s.branch_view(45, "1h")} == {"SBIN0000001": 1,
                                                                                      "SBIN0000002": 1}
    assert {r["branch_ifsc"]: r["transactions"] for r in s.branch_view(45, "24h")} == {"SBIN0000001": 3,
                                                                                       "SBIN0000002": 1}
    # a branch's state: 12 buckets x 4 int64 per window, blocks added 64 at a time
    assert sum(g.ring.itemsize * g.span * g.slots for g in d.branches) == 768
    assert [g.cap for g in d.branches] == [64, 64] and sum(len(g.ring) * 8 for g in d.branches) == 64 * 768
    # compressed test windows: a bucket is at least a minute
    assert make_state(windows=(60.0, 1440.0)).branch_sizes == (60, 120)


def _lines_figures(s: PaymentPartitionState) -> Any:
    return json.loads(json.dumps({lgd: [s.district_view(lgd), sorted(map(str, s.branch_view(lgd, "24h"))),
                                        sorted(map(str, s.branch_view(lgd, "1h")))] for lgd in s.districts}))


def test_grids_survive_snapshot_and_deltas_with_the_head_moving(make_state: MakeState) -> None:
    """Snapshot, then deltas over six hours (buckets leave the 1 h, new branches appear): the restored
    state reads exactly like the live one, branch cells and minute grids alike."""
    s = lines_state(make_state)
    s.offset = 7
    snap = json.loads(json.dumps(s.snapshot()))
    s.checkpointed()
    deltas = []
    offset = 8
    for step in range(6):
        ts = T0 + step * HOUR_MS
        now = ts + MINUTE_MS
        kinds = [("UPI_QR", "BILL_WATER", None), ("CASH", "GOVT_RECEIPT", "HEALTH"),
                 ("UPI", "GOVT_RECEIPT", "HEALTH"), ("CASH", "BILL_HOUSING", None)]
        for i, (ch, p, dep) in enumerate(kinds):
            s.apply(payment(f"h{step}-{i}", ts - i * 7 * MINUTE_MS, channel=ch, purpose=p,
                            branch_ifsc=f"SBIN000000{1 + i % 4}", department_code=dep), offset, now)
            offset += 1
        s.offset = offset - 1
        deltas.append(json.loads(json.dumps(s.delta())))
        s.checkpointed()
    fresh = make_state()
    fresh.branch_min_transactions = 2
    fresh.load(snap, deltas)
    assert _lines_figures(fresh) == _lines_figures(s)
    assert fresh.all_buckets() == json.loads(json.dumps(s.all_buckets()))
    assert [g.head for g in fresh.districts[45].branches] == [g.head for g in s.districts[45].branches] == \
        [(T0 + 5 * HOUR_MS) // 300_000, (T0 + 5 * HOUR_MS) // 7_200_000]
    assert fresh.districts[45].branch_dirty == [set(), set()]
    # and it goes on the same: the same event on both gives the same figures
    for st in (s, fresh):
        st.apply(payment("more", T0 + 5 * HOUR_MS, branch_ifsc="SBIN0000003", channel="CASH"), offset,
                 T0 + 5 * HOUR_MS + MINUTE_MS)
    assert _lines_figures(fresh) == _lines_figures(s)


def test_grids_restore_into_other_windows(make_state: MakeState) -> None:
    """A checkpoint taken with 1 h / 24 h restored by a worker now run with 15 min / 1 h / 6 h: each new
    branch grid is filled from the finest old one spanning its window, nothing counted twice; an old
    bucket coarser than the new ones lands at its start."""
    s = make_state()
    recs = [payment(f"r{i}", T0 - i * 15 * MINUTE_MS, branch_ifsc="SBIN0000001", channel=("UPI", "CASH")[i % 2],
                    purpose="BILL_ENERGY") for i in range(30)]
    apply_all(s, recs[:20])
    snap = json.loads(json.dumps(s.snapshot()))
    s.checkpointed()
    apply_all(s, recs[20:], 20)
    delta = json.loads(json.dumps(s.delta()))
    other = make_state(windows=(900.0, 3600.0, 6 * 3600.0))
    other.load(snap, [delta])
    assert other.branch_sizes == (60, 300, 1800)
    d = other.districts[45]

    def landing(old_ms: int, new_ms: int, width: int) -> int:
        """Events whose old bucket's start falls in the new window of ``width`` buckets of ``new_ms``."""
        head = T0 // new_ms
        return sum(1 for r in recs if (r["occurred_at"] // old_ms * old_ms) // new_ms > head - width)

    got = [sum(other.branch_window(d, i)["SBIN0000001"][:2]) for i in range(3)]
    assert got == [landing(300_000, 60_000, 15), landing(300_000, 300_000, 12), landing(7_200_000, 1_800_000, 12)]
    assert got[1] == sum(1 for r in recs if r["occurred_at"] > T0 - HOUR_MS + 5 * MINUTE_MS), "same buckets: exact"
    assert sum(other.purpose_window(d, 2)["BILL_ENERGY"]) == sum(1 for r in recs
                                                                 if r["occurred_at"] > T0 - 6 * HOUR_MS)
