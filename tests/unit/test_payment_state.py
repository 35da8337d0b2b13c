"""PaymentPartitionState.apply: outcomes, domain checks, windows, per-bank windows and totals."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from streams.errors import AadhaarLikeValue, EventError, OutOfRange, TooOld, UnknownDistrict
from streams.payments.rolling import count, value
from streams.payments.state import ACCEPTED, DUPLICATE, LATE, PaymentPartitionState

from .factories import HOUR_MS, MINUTE_MS, T0, aadhaar_like, payment

NOW = T0 + 60_000  # wall clock a minute after T0
MakeState = Callable[..., PaymentPartitionState]


def apply_all(state: PaymentPartitionState, records: list[dict[str, Any]], first_offset: int = 0) -> list[str]:
    return [state.apply(r, first_offset + i, NOW) for i, r in enumerate(records)]


def test_outcomes_accepted_duplicate_late(make_state: MakeState) -> None:
    s = make_state()
    assert s.apply(payment("a", T0), 0, NOW) == ACCEPTED
    assert s.apply(payment("a", T0, amount=999), 1, NOW) == DUPLICATE  # same (bank, id), other content
    assert s.apply(payment("a", T0, bank="PUNB"), 2, NOW) == ACCEPTED  # the key is (bank, id)
    assert s.apply(payment("old", T0 - 24 * HOUR_MS), 3, NOW) == LATE
    assert s.apply(payment("old", T0 - 24 * HOUR_MS), 4, NOW) == DUPLICATE  # a late id is remembered too
    assert s.apply(payment("edge", T0 - 24 * HOUR_MS + MINUTE_MS), 5, NOW) == ACCEPTED
    assert s.outcomes == Counter({ACCEPTED: 3, DUPLICATE: 2, LATE: 1})
    assert s.offset == 5
    assert s.watermark_ms == T0


def test_duplicate_changes_nothing(make_state: MakeState) -> None:
    s = make_state()
    s.apply(payment("a"), 0, NOW)
    before = (s.counters(), s.all_buckets())
    s.apply(payment("a", status="TECHNICAL_DECLINE", amount=5), 1, NOW)
    after = (s.counters(), s.all_buckets())
    assert after[1] == before[1]
    assert after[0]["districts"] == before[0]["districts"]
    assert after[0]["offset"] == 1


def test_too_old_beyond_dedupe_horizon(make_state: MakeState) -> None:
    s = make_state(horizon_s=48 * 3600)
    s.apply(payment("new", T0), 0, NOW)
    with pytest.raises(TooOld) as exc:
        s.apply(payment("ancient", T0 - 48 * HOUR_MS - 1), 1, NOW)
    assert exc.value.code == "too_old" and exc.value.field == "occurred_at"
    # exactly at the horizon it can still be deduplicated: applied (late for the windows)
    assert s.apply(payment("boundary", T0 - 48 * HOUR_MS), 2, NOW) == LATE
    # the horizon follows the partition's watermark, whichever district set it
    s.apply(payment("other-district", T0 + 10 * HOUR_MS, lgd=49), 3, NOW + 10 * HOUR_MS)
    with pytest.raises(TooOld):
        s.apply(payment("x", T0 - 38 * HOUR_MS - 1, lgd=46), 4, NOW + 10 * HOUR_MS)
    assert s.outcomes == Counter({ACCEPTED: 2, LATE: 1})


def test_refused_event_is_not_remembered(make_state: MakeState) -> None:
    s = make_state()
    with pytest.raises(OutOfRange):
        s.apply(payment("fix-me", amount=-1), 0, NOW)
    assert s.offset == 0
    assert s.outcomes == Counter() and s.districts == {} and len(s.dedupe) == 0
    assert s.apply(payment("fix-me", amount=1), 1, NOW) == ACCEPTED  # the corrected event is not a duplicate
    s.reject("out_of_range", 2)
    assert s.offset == 2
    assert s.outcomes["rejected"] == 1 and s.deadletters == Counter({"out_of_range": 1})


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
        s.apply(record, 7, NOW)
    assert exc.value.code == code
    assert exc.value.field == field
    assert isinstance(exc.value, EventError)
    assert s.outcomes == Counter() and s.districts == {}


def test_future_skew_boundary_is_accepted(make_state: MakeState) -> None:
    s = make_state()
    assert s.apply(payment(ts=NOW + 300_000), 0, NOW) == ACCEPTED


@pytest.mark.parametrize("text", ["SBIN0001234", "12345678901", "1234567890123", "0234 5678 9012",
                                  "1234-5678-9012", "2345678901234", "UPI/98765/43210"])
def test_non_aadhaar_strings_pass(make_state: MakeState, text: str) -> None:
    s = make_state()
    assert s.apply(payment(event_id=text, branch_ifsc=text), 0, NOW) == ACCEPTED


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
    for r in banks.values():  # the collector ends every bank's windows at the district's head
        r.advance_to(s.districts[45].rolling.head)  # type: ignore[arg-type]
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
    assert s.outcomes == Counter({ACCEPTED: 1, LATE: 2})


def test_dirty_and_new_ids_track_changes_since_checkpoint(make_state: MakeState) -> None:
    s = make_state()
    apply_all(s, [payment("a", T0), payment("b", T0 + 1000), payment("a", T0), payment("c", T0 + MINUTE_MS, lgd=50)])
    assert s.dirty == {(45, T0 // MINUTE_MS), (50, T0 // MINUTE_MS + 1)}
    assert [k.split("\x1f")[1] for k, _ in s.new_ids] == ["a", "b", "c"]
    assert s.applied_since_checkpoint == 4
