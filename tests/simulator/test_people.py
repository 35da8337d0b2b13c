"""The people lines' simulated feeds hit their calibration: grievances, enablement, enrolments.

Statistical checks on fixed seeds (no broker), as test_realism does for the payment lines: the
expected figures are computed here from the shipped calibration, DOMAIN.md's figures and the
documented assumptions (README, Synthetic feeds), with this file's own turn-around table and
enablement rule, never read back from the generators' tables; tolerances are four binomial
standard deviations (``_band``), so a pass is not luck and a shift of a few points fails.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from streams.aadhaar import contains_aadhaar_like
from streams.avro_codec import codec_for
from streams.registry import DistrictRegistry
from streams.simulator.calibration import default_calibration
from streams.simulator.enablement import EnablementSimulator
from streams.simulator.enrolments import EnrolmentSimulator
from streams.simulator.generator import Simulator, generate_payments
from streams.simulator.grievances import GrievanceSimulator
from streams.validation import check_event

NOW = 1_767_225_600_000  # 2026-01-01T00:00:00Z
DAY_MS = 86_400_000
IST = timezone(timedelta(hours=5, minutes=30))
#: RBI DPSS.CO.PD No.629 (DOMAIN.md), this test's own copy.
TAT = {"UPI_P2P_NOT_CREDITED": 1, "IMPS_NOT_CREDITED": 1, "CARD_TO_CARD_NOT_CREDITED": 1,
       "UPI_MERCHANT_NOT_CONFIRMED": 5, "CARD_POS_NOT_CONFIRMED": 5, "CARD_NOT_PRESENT_NOT_CONFIRMED": 5,
       "ATM_CASH_NOT_DISPENSED": 5, "AEPS_NOT_CONFIRMED": 5}
#: The RBI's enablement rule (DOMAIN.md): what counts for a savings and for a current account.
PERSONAL = {"DEBIT_CARD", "INTERNET_BANKING", "MOBILE_BANKING", "UPI", "AEPS"}
COUNTS = {"SAVINGS": PERSONAL, "CURRENT": PERSONAL | {"POS", "QR"}}
#: DOMAIN.md's eligibility, as age bands.
ELIGIBLE = {"PMSBY": {"18_40", "41_50", "51_70"}, "PMJJBY": {"18_40", "41_50"}, "APY": {"18_40"}}
#: README's bank table: market share and technical-decline rate.
BANKS = {"SBIN": (0.30, 0.009), "PUNB": (0.15, 0.012), "BARB": (0.10, 0.008), "CNRB": (0.07, 0.010),
         "UBIN": (0.07, 0.011), "HDFC": (0.10, 0.005), "ICIC": (0.08, 0.006), "UTKS": (0.05, 0.022),
         "NTBL": (0.08, 0.018)}


def _band(expected: float, n: int, sigmas: float = 4.0) -> float:
    return sigmas * math.sqrt(expected * (1 - expected) / n)


def _ist_day(ms: int) -> int:
    return (datetime.fromtimestamp(ms / 1000, IST).date() - datetime(1970, 1, 1).date()).days


def _position(lgd: int) -> float:
    """Where the district's digital share lies between the least and the most digital district."""
    shares = {d.lgd: d.digital_share for d in default_calibration().districts}
    lo, hi = min(shares.values()), max(shares.values())
    return (shares[lgd] - lo) / (hi - lo)


# --- grievances ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def grievances() -> tuple[GrievanceSimulator, list[dict[str, Any]], list[dict[str, Any]]]:
    """A 2-day first load at 0.5/s, then every resolution still queued (the grievances' whole lives)."""
    g = GrievanceSimulator(Simulator(31, accounts=0))
    backlog = list(g.backlog(NOW, 2 * 86400, 0.5))
    later = list(g.due(NOW + 60 * DAY_MS))
    return g, backlog, later


def test_grievances_follow_each_district_and_banks_technical_declines(grievances: Any) -> None:
    """A district's share of the grievances is its share of digital transactions (Pulse's volume
    share), a bank's its market share times its technical-decline rate; the rate is 5 % of the
    technical declines the simulated payments show."""
    g, backlog, _ = grievances
    raised = [e for e in backlog if e["action"] == "RAISED"]
    n = len(raised)
    by_district = Counter(e["district_lgd"] for e in raised)
    for d in default_calibration().districts:
        assert by_district[d.lgd] / n == pytest.approx(d.volume_share, abs=_band(d.volume_share, n)), d.name
    total = sum(w * td for w, td in BANKS.values())
    by_bank = Counter(e["bank_code"] for e in raised)
    for bank, (w, td) in BANKS.items():
        share = w * td / total
        assert by_bank[bank] / n == pytest.approx(share, abs=_band(share, n)), bank
    payments = generate_payments(31, 200_000, NOW)
    declines = sum(e["status"] == "TECHNICAL_DECLINE" and e["channel"] not in ("CHEQUE", "DEMAND_DRAFT")
                   for e in payments)
    expected = 0.05 * declines / len(payments)
    assert g.per_payment == pytest.approx(expected, abs=0.05 * _band(declines / len(payments), len(payments)))
    assert 0.0002 < g.per_payment < 0.0008


def test_grievances_mostly_within_their_turn_around_time_with_a_tail(grievances: Any) -> None:
    _, backlog, later = grievances
    raised = {(e["bank_code"], e["grievance_ref"]): e for e in backlog if e["action"] == "RAISED"}
    resolved = {(e["bank_code"], e["grievance_ref"]): e for e in backlog + later if e["action"] == "RESOLVED"}
    assert resolved.keys() == raised.keys()  # every grievance resolved once, in the end
    cases = Counter(e["case"] for e in raised.values())
    n = len(raised)
    assert cases["OTHER"] / n == pytest.approx(0.05, abs=_band(0.05, n))
    assert cases.most_common(1)[0][0] == "UPI_P2P_NOT_CREDITED"
    lags, late, within_2, t1_within_2 = Counter(), [], [], []
    for key, r in raised.items():
        s = resolved[key]
        for field in ("district_lgd", "bank_code", "case", "transaction_date", "amount_paise"):
            assert s[field] == r[field], (field, r, s)
        assert s["occurred_at"] > r["occurred_at"]
        t, raised_day, day = r["transaction_date"], _ist_day(r["occurred_at"]), _ist_day(s["occurred_at"])
        lags[raised_day - t] += 1
        if r["case"] in TAT:
            late.append(max(0, day - t - TAT[r["case"]]))
            within_2.append(day - t <= 2)
            if TAT[r["case"]] == 1:
                t1_within_2.append(day - t <= 2)
    assert set(lags) == {0, 1} and lags[0] / n == pytest.approx(0.75, abs=_band(0.75, n))
    m = len(late)
    on_time = sum(d == 0 for d in late) / m
    assert on_time == pytest.approx(0.88, abs=_band(0.88, m))  # most within the TAT ...
    tail = [d for d in late if d > 0]
    assert max(tail) >= 5 and sum(tail) / len(tail) == pytest.approx(1 / 0.45, rel=0.15)  # ... a tail past it
    # The directive's 1-2 days: nearly all T+1 grievances (within, or a day late), about half of all.
    assert sum(t1_within_2) / len(t1_within_2) == pytest.approx(0.88 + 0.12 * 0.45, abs=_band(0.93, len(t1_within_2)))
    assert sum(within_2) / m == pytest.approx(0.69, abs=0.03)  # T+1 cases 53 % of them, T+5 47 %


def test_the_first_load_holds_open_grievances_within_and_past_their_tat(grievances: Any) -> None:
    _, backlog, _ = grievances
    today = _ist_day(NOW)
    assert all(e["occurred_at"] <= NOW for e in backlog)
    assert [e["occurred_at"] for e in backlog] == sorted(e["occurred_at"] for e in backlog)
    done = {e["grievance_ref"] for e in backlog if e["action"] == "RESOLVED"}
    open_ = [e for e in backlog if e["action"] == "RAISED" and e["grievance_ref"] not in done]
    past = [e for e in open_ if e["case"] in TAT and today > e["transaction_date"] + TAT[e["case"]]]
    within = [e for e in open_ if e["case"] in TAT and today <= e["transaction_date"] + TAT[e["case"]]]
    assert len(past) >= 50 and len(within) > 5 * len(past)
    assert len(done) > len(open_) / 2
    resolved_today = [e for e in backlog if e["action"] == "RESOLVED" and NOW - e["occurred_at"] < DAY_MS]
    assert len(resolved_today) > 1000  # the 24 h window's ratios have something to divide by


def test_grievance_events_validate_encode_and_carry_no_aadhaar_like_value(
        grievances: Any, registry: DistrictRegistry) -> None:
    _, backlog, later = grievances
    codec = codec_for("GrievanceEvent")
    ids = [(e["bank_code"], e["event_id"]) for e in backlog + later]
    assert len(ids) == len(set(ids))
    for e in backlog[:20_000]:
        check_event(e, registry, NOW, 300_000)
        assert codec.decode(codec.encode(e)) == e
        assert not any(isinstance(v, str) and contains_aadhaar_like(v) for v in e.values())
    big = GrievanceSimulator(Simulator(234567890123, accounts=0))
    for e in big.backlog(NOW, 3600, 1.0):
        assert not any(isinstance(v, str) and contains_aadhaar_like(v) for v in e.values())


def test_grievances_are_reproducible_and_resolve_in_event_time() -> None:
    a, b = GrievanceSimulator(Simulator(5, accounts=0)), GrievanceSimulator(Simulator(5, accounts=0))
    assert list(a.backlog(NOW, 86400, 0.2)) == list(b.backlog(NOW, 86400, 0.2))
    raised = a.raise_one(NOW)
    assert raised["occurred_at"] == NOW and a.open >= 1
    assert raised["grievance_ref"] not in {e["grievance_ref"] for e in a.due(NOW)}
    after = list(a.due(NOW + 40 * DAY_MS))
    assert raised["grievance_ref"] in {e["grievance_ref"] for e in after} and a.open == 0


# --- enablement ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def enablement() -> tuple[EnablementSimulator, list[dict[str, Any]], list[dict[str, Any]]]:
    e = EnablementSimulator(Simulator(41, accounts=100_000), 100_000)
    first = list(e.first_load(NOW))
    changes = [e.change(NOW + i) for i in range(6_000)]
    return e, first, changes


def _enabled(event: dict[str, Any]) -> bool:
    return bool(COUNTS[event["account_type"]] & set(event["modes"]))


def test_enablement_first_load_covers_72_to_94_percent_by_district(enablement: Any) -> None:
    """Savings accounts 72-94 % enabled (the SLBCs' range, DOMAIN.md), current 70-82 %, each district
    where its digital habit puts it between the least and the most digital district."""
    _, first, _ = enablement
    by: dict[tuple[int, str], list[bool]] = defaultdict(list)
    for e in first:
        by[(e["district_lgd"], e["account_type"])].append(_enabled(e))
    current = sum(len(v) for (_, kind), v in by.items() if kind == "CURRENT")
    assert current / len(first) == pytest.approx(0.08, abs=_band(0.08, len(first)))
    for (lgd, kind), flags in by.items():
        lo, hi = (0.72, 0.94) if kind == "SAVINGS" else (0.70, 0.82)
        expected = lo + _position(lgd) * (hi - lo)
        assert sum(flags) / len(flags) == pytest.approx(expected, abs=_band(expected, len(flags))), (lgd, kind)
    savings = {lgd: sum(f) / len(f) for (lgd, kind), f in by.items() if kind == "SAVINGS"}
    assert savings[49] > savings[46] + 0.15  # Dehradun ahead of Bageshwar


def test_enabled_accounts_modes_mix(enablement: Any) -> None:
    _, first, _ = enablement
    savings = [set(e["modes"]) for e in first if e["account_type"] == "SAVINGS" and _enabled(e)]
    current = [set(e["modes"]) for e in first if e["account_type"] == "CURRENT" and _enabled(e)]
    # drawn mode by mode, kept if one counts: P(mode | enabled) = p / P(at least one)
    for modes, mix in ((savings, {"DEBIT_CARD": 0.85, "UPI": 0.55, "AEPS": 0.40, "MOBILE_BANKING": 0.30,
                                   "INTERNET_BANKING": 0.12}),
                       (current, {"INTERNET_BANKING": 0.65, "DEBIT_CARD": 0.55, "UPI": 0.50, "QR": 0.45,
                                  "MOBILE_BANKING": 0.35, "POS": 0.20})):
        any_ = 1 - math.prod(1 - p for p in mix.values())
        for mode, p in mix.items():
            share = sum(mode in m for m in modes) / len(modes)
            assert share == pytest.approx(p / any_, abs=_band(p / any_, len(modes))), mode
    assert not any({"POS", "QR"} & m for m in savings if not m & PERSONAL)
    not_enabled = [e for e in first if not _enabled(e)]
    assert {tuple(e["modes"]) for e in not_enabled} == {(), ("QR",), ("OTHER",)}  # QR: a savings account's


def test_camps_add_enablement_and_a_few_accounts_are_disabled(enablement: Any) -> None:
    """Replayed here, latest event per account: every camp event turns a not-enabled account
    enabled (what digindex_camp_enablements_total counts), coverage rises, a few are disabled."""
    _, first, changes = enablement
    state = {(e["bank_code"], e["account_ref"]): e for e in first}
    before = sum(_enabled(e) for e in state.values()) / len(state)
    camp, disabled, per_camp, new_accounts = 0, 0, Counter(), 0
    for e in changes:
        key = (e["bank_code"], e["account_ref"])
        was = key in state and _enabled(state[key])
        if e["camp_ref"] is not None:
            assert not was and _enabled(e), e
            new_accounts += key not in state
            camp += 1
            per_camp[e["camp_ref"]] += 1
            assert e["camp_ref"].split("-d")[1].startswith(f"{e['district_lgd']}-")
        if was and not _enabled(e):
            disabled += 1
        state[key] = e
    n = len(changes)
    assert camp / n == pytest.approx(0.55, abs=_band(0.55, n))
    assert disabled / n == pytest.approx(0.10, abs=_band(0.10, n))
    assert new_accounts / camp == pytest.approx(0.3, abs=_band(0.3, camp))  # opened at the camp
    assert max(per_camp.values()) == 40 and len(per_camp) > 13
    after = sum(_enabled(e) for e in state.values()) / len(state)
    assert after > before + 0.025


def test_enablement_events_validate_encode_and_share_the_seeding_accounts(
        enablement: Any, registry: DistrictRegistry) -> None:
    e, first, changes = enablement
    codec = codec_for("AccountEnablementEvent")
    ids = [(x["bank_code"], x["event_id"]) for x in first + changes]
    assert len(ids) == len(set(ids))
    for x in first[:5000] + changes[:5000]:
        check_event(x, registry, NOW + DAY_MS, 300_000)
        assert codec.decode(codec.encode(x)) == x
        assert not any(isinstance(v, str) and contains_aadhaar_like(v) for v in x.values() if v)
    seeding = {(r["bank_code"], r["account_ref"]) for r in e.sim.first_load(NOW)}
    assert seeding == {(x["bank_code"], x["account_ref"]) for x in first}
    again = EnablementSimulator(Simulator(41, accounts=2000), 2000)
    assert list(again.first_load(NOW)) == list(EnablementSimulator(Simulator(41, accounts=2000), 2000).first_load(NOW))


# --- enrolments ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def enrolments() -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    e = EnablementSimulator(Simulator(43, accounts=100_000), 100_000)
    n = EnrolmentSimulator(e)  # before the enablement events: it draws the bands they carry
    accounts = list(e.first_load(NOW))
    first = list(n.first_load(NOW))
    changes = [c for c in (n.change(NOW + i) for i in range(10_000)) if c is not None]
    return accounts, first, changes


def test_enrolment_coverage_of_eligible_savings_accounts_by_district(enrolments: Any) -> None:
    """Enrolled / eligible savings accounts: PMSBY 25-40 %, PMJJBY 10-20 %, APY 5-10 %, by the
    district's digital habit; eligible = the savings accounts times the share of holders in the
    scheme's age bands (18-40 52 %, 41-50 20 %, 51-70 20 %, other 8 %)."""
    accounts, first, _ = enrolments
    bands = {"18_40": 0.52, "41_50": 0.20, "51_70": 0.20, "OTHER": 0.08}
    savings = Counter(a["district_lgd"] for a in accounts if a["account_type"] == "SAVINGS")
    enrolled = Counter((e["district_lgd"], e["scheme"]) for e in first if e["status"] == "ENROLLED")
    ranges = {"PMSBY": (0.25, 0.40), "PMJJBY": (0.10, 0.20), "APY": (0.05, 0.10)}
    for lgd, n in savings.items():
        for scheme, (lo, hi) in ranges.items():
            eligible = n * sum(bands[b] for b in ELIGIBLE[scheme])
            expected = lo + _position(lgd) * (hi - lo)
            got = enrolled[(lgd, scheme)] / eligible
            assert got == pytest.approx(expected, abs=_band(expected, int(eligible)) * 1.3), (lgd, scheme)


def test_enrolment_bands_eligibility_and_nulls(enrolments: Any, registry: DistrictRegistry) -> None:
    accounts, first, changes = enrolments
    kinds = {(a["bank_code"], a["account_ref"]): a["account_type"] for a in accounts}
    band: dict[tuple[str, str], str | None] = {}
    for e in first + changes:
        key = (e["bank_code"], e["account_ref"])
        assert kinds.get(key, "SAVINGS") == "SAVINGS"  # the schemes are held through savings accounts
        assert band.setdefault(key, e["holder_age_band"]) == e["holder_age_band"]  # one band per account
        if e["holder_age_band"] is not None and e["status"] == "ENROLLED":  # only eligible holders enrol
            assert e["holder_age_band"] in ELIGIBLE[e["scheme"]], e
    nulls = sum(b is None for b in band.values())
    assert nulls / len(band) == pytest.approx(0.10, abs=_band(0.10, len(band)))
    codec = codec_for("SchemeEnrolmentEvent")
    for e in first[:3000] + changes[:3000]:
        check_event(e, registry, NOW + DAY_MS, 300_000)
        assert codec.decode(codec.encode(e)) == e


def test_enrolments_and_exits_after_the_first_load(enrolments: Any) -> None:
    _, first, changes = enrolments
    state = {(e["account_ref"], e["scheme"]): e["status"] for e in first}
    before = sum(s == "ENROLLED" for s in state.values())
    for e in changes:
        key = (e["account_ref"], e["scheme"])
        if e["status"] == "ENROLLED":
            assert state.get(key) != "ENROLLED", e
        else:
            assert state.get(key) == "ENROLLED", e
        state[key] = e["status"]
    n = len(changes)
    exits = sum(e["status"] == "EXITED" for e in changes)
    assert exits / n == pytest.approx(0.3, abs=_band(0.3, n))
    schemes = Counter(e["scheme"] for e in changes if e["status"] == "ENROLLED")
    assert schemes["PMSBY"] > schemes["PMJJBY"] > schemes["APY"] > 0
    assert sum(s == "ENROLLED" for s in state.values()) > before


def test_the_first_load_is_the_banks_book_so_the_workers_coverage_is_the_truth(enrolments: Any) -> None:
    """Every savings account's band rides on its enablement event, the same as on its enrolment
    events, and the enrolment first load is the enrolments in force only (no EXITED "books"), so
    the worker's documented ratio, enrolled / savings accounts whose band is in the scheme's range
    (docs/metrics.md), computed here from the events, is the calibrated coverage; accounts with no
    reported band are outside it."""
    accounts, first, _ = enrolments
    assert all(e["status"] == "ENROLLED" for e in first)
    assert all(a["holder_age_band"] is None for a in accounts if a["account_type"] == "CURRENT")
    band = {(a["bank_code"], a["account_ref"]): (a["district_lgd"], a["holder_age_band"]) for a in accounts
            if a["account_type"] == "SAVINGS"}
    for e in first:
        assert band[e["bank_code"], e["account_ref"]][1] == e["holder_age_band"]
    assert any(b is None for _, b in band.values()) and any(b == "OTHER" for _, b in band.values())
    enrolled = {(e["bank_code"], e["account_ref"], e["scheme"]) for e in first if e["status"] == "ENROLLED"}
    ranges = {"PMSBY": (0.25, 0.40), "PMJJBY": (0.10, 0.20), "APY": (0.05, 0.10)}
    for lgd in {d for d, _ in band.values()}:
        for scheme, (lo, hi) in ranges.items():
            eligible = [key for key, (d, b) in band.items() if d == lgd and b in ELIGIBLE[scheme]]
            got = sum((*key, scheme) in enrolled for key in eligible) / len(eligible)
            expected = lo + _position(lgd) * (hi - lo)
            assert got == pytest.approx(expected, abs=_band(expected, len(eligible))), (lgd, scheme)
