"""The directive's payment lines in the simulated feed: bills and their QR share, departments, declines.

Statistical checks on fixed seeds (no broker). The expected figures are computed here from the
shipped Pulse extract and the documented assumptions (README, Synthetic feeds), not read back
from the generator's tables, so a changed mix or rate fails a test. Tolerances are binomial:
``_band`` allows four standard deviations of the sample, so a pass is not luck and a shift of a
few points fails.
"""

from __future__ import annotations

import csv
import io
import math
from collections import Counter, defaultdict
from importlib import resources
from typing import Any

import pytest

from streams.banks import default_banks
from streams.channels import is_digital
from streams.departments import default_departments
from streams.simulator.calibration import BILL_QR_SHARE_RANGE, default_calibration
from streams.simulator.generator import generate_payments

NOW = 1_767_225_600_000  # 2026-01-01T00:00:00Z
N = 300_000
BILLS = ("BILL_ENERGY", "BILL_WATER", "BILL_HOUSING")
GOVT = ("GOVT_RECEIPT", "GOVT_PAYMENT", "DBT")
#: The departments the issue requires, every one of which the simulator must exercise.
REQUIRED_DEPARTMENTS = {"ENERGY", "WATER", "HOUSING", "TRANSPORT", "REVENUE", "TREASURY", "HEALTH", "EDUCATION"}


@pytest.fixture(scope="module")
def payments() -> list[dict[str, Any]]:
    return generate_payments(21, N, NOW)


@pytest.fixture(scope="module")
def digital(payments: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in payments if is_digital(e["channel"])]


def _band(expected: float, n: int, sigmas: float = 4.0) -> float:
    """Half-width of the acceptance band for a share ``expected`` measured on ``n`` draws."""
    return sigmas * math.sqrt(expected * (1 - expected) / n)


def _pulse_recharge_and_bills_share() -> float:
    """Pulse's "Recharge & bill payments" share of the state's transactions, latest year."""
    text = resources.files("streams").joinpath(
        "data/pulse/phonepe-pulse-uttarakhand-types.csv").read_text(encoding="utf-8")
    rows = list(csv.DictReader(io.StringIO(text)))
    year = max(int(r["year"]) for r in rows)
    total = sum(float(r["transactions"]) for r in rows if int(r["year"]) == year)
    bills = sum(float(r["transactions"]) for r in rows
                if int(r["year"]) == year and r["transaction_type"] == "Recharge & bill payments")
    return bills / total


def test_bills_share_of_digital_transactions_is_pulses(digital: list[dict[str, Any]]) -> None:
    """Bills are half of Pulse's "Recharge & bill payments" (the other half recharges), less the 5 %
    of digital transactions carved out for government flows; energy 60 %, water and housing 20 % each."""
    pulse = _pulse_recharge_and_bills_share()
    assert 0.04 < pulse < 0.10  # 2024: 6.5 % (it was 59 % in 2018 Q1, when recharges led)
    expected = pulse * 0.5 * (1 - 0.05)
    purposes = Counter(e["purpose"] for e in digital)
    bills = sum(purposes[p] for p in BILLS)
    assert bills / len(digital) == pytest.approx(expected, abs=_band(expected, len(digital)))
    for purpose, part in zip(BILLS, (0.6, 0.2, 0.2), strict=True):
        assert purposes[purpose] / bills == pytest.approx(part, abs=_band(part, bills))


def test_digital_bills_are_scanned_from_the_bills_qr_code_at_the_districts_rate(
        digital: list[dict[str, Any]]) -> None:
    cal = default_calibration()
    by: dict[int, list[bool]] = defaultdict(list)
    for e in digital:
        if e["purpose"] in BILLS:
            by[e["district_lgd"]].append(e["channel"] == "UPI_QR")
    lo, hi = BILL_QR_SHARE_RANGE
    assert (lo, hi) == (0.15, 0.40)  # the documented assumption
    for lgd, scans in by.items():
        expected = cal.by_lgd(lgd).bill_qr_share
        assert lo <= expected <= hi
        assert sum(scans) / len(scans) == pytest.approx(expected, abs=_band(expected, len(scans)) + 0.005), lgd
    # Per district variation: the capital's bill payers scan more than the hill district's.
    assert cal.by_lgd(49).bill_qr_share - cal.by_lgd(46).bill_qr_share > 0.1
    assert max(cal.by_lgd(d).bill_qr_share for d in by) == pytest.approx(hi)
    assert min(cal.by_lgd(d).bill_qr_share for d in by) == pytest.approx(lo)


def test_bills_qr_share_and_digital_share_of_all_successful_bills(payments: list[dict[str, Any]]) -> None:
    """What the worker's ``digindex_bill_qr_share_ratio`` and purpose shares will show: QR is a part
    of the digital part, and the more digital district pays its bills more digitally."""
    ok = [e for e in payments if e["purpose"] in BILLS and e["status"] == "SUCCESS"]
    qr = sum(e["channel"] == "UPI_QR" for e in ok) / len(ok)
    dig = sum(is_digital(e["channel"]) for e in ok) / len(ok)
    assert 0.05 < qr < dig * BILL_QR_SHARE_RANGE[1] + 0.01
    assert 0.3 < dig < 0.85
    share = {lgd: sum(is_digital(e["channel"]) for e in ok if e["district_lgd"] == lgd)
             / sum(e["district_lgd"] == lgd for e in ok) for lgd in (49, 46)}
    assert share[49] > share[46] + 0.2  # Dehradun ~0.63, Bageshwar ~0.24
    assert all(not is_digital(e["channel"]) or e["channel"] != "NEFT" for e in ok)  # bills: no NEFT


def test_departments_ride_on_the_purposes_that_are_a_departments(payments: list[dict[str, Any]]) -> None:
    registry = default_departments()
    bill_department = {"BILL_ENERGY": "ENERGY", "BILL_WATER": "WATER", "BILL_HOUSING": "HOUSING"}
    seen: Counter[str] = Counter()
    for e in payments:
        code = e["department_code"]
        if e["purpose"] in bill_department:
            assert code == bill_department[e["purpose"]], e
        elif e["purpose"] in GOVT:
            assert code in registry, e
        else:
            assert code is None, e
        if code is not None:
            seen[code] += 1
    assert set(seen) == REQUIRED_DEPARTMENTS
    treasury = Counter(e["purpose"] for e in payments if e["department_code"] == "TREASURY")
    assert set(treasury) == {"GOVT_PAYMENT", "DBT"}  # the treasury pays, it does not bill


def test_department_mixes_per_purpose(digital: list[dict[str, Any]], payments: list[dict[str, Any]]) -> None:
    def mix(events: list[dict[str, Any]], purpose: str) -> tuple[Counter[str], int]:
        got = Counter(e["department_code"] for e in events if e["purpose"] == purpose)
        return got, sum(got.values())

    receipts, n = mix(digital, "GOVT_RECEIPT")
    assert receipts.most_common(1)[0][0] == "TRANSPORT"
    assert receipts["TRANSPORT"] / n == pytest.approx(0.30, abs=_band(0.30, n))
    paid, n = mix(digital, "GOVT_PAYMENT")
    assert paid["TREASURY"] / n == pytest.approx(0.55, abs=_band(0.55, n))
    dbt, n = mix(digital, "DBT")
    assert dbt["EDUCATION"] / n == pytest.approx(0.35, abs=_band(0.35, n))
    paper = [e for e in payments if not is_digital(e["channel"])]
    counter, n = mix(paper, "GOVT_RECEIPT")
    assert counter.most_common(1)[0][0] == "REVENUE"
    assert counter["REVENUE"] / n == pytest.approx(0.40, abs=_band(0.40, n))
    assert {e["channel"] for e in paper if e["purpose"] == "GOVT_PAYMENT"} == {"CHEQUE"}
    assert {e["channel"] for e in digital if e["purpose"] == "GOVT_PAYMENT"} == {"NEFT"}
    assert not [e for e in paper if e["purpose"] == "DBT"]  # DBT is electronic by definition


def test_departments_digital_shares_differ(payments: list[dict[str, Any]]) -> None:
    """The department line of the directive has something to show: the treasury is nearly all
    digital, the revenue office (cash at the tehsil counter) far from it."""
    by: dict[str, list[bool]] = defaultdict(list)
    for e in payments:
        if e["department_code"] is not None and e["status"] == "SUCCESS":
            by[e["department_code"]].append(is_digital(e["channel"]))
    share = {d: sum(v) / len(v) for d, v in by.items()}
    assert share["TREASURY"] > 0.9
    assert share["REVENUE"] < 0.75
    assert share["TREASURY"] - share["REVENUE"] > 0.2
    assert max(share.values()) - min(share.values()) > 0.3


def test_declines_per_bank_as_npci_counts_them(digital: list[dict[str, Any]],
                                              payments: list[dict[str, Any]]) -> None:
    """TD and BD as shares of a bank's digital attempts: ~1 % and a few % overall, each bank at its
    documented rate, the small and regional banks worst, the large private banks best."""
    documented = {"SBIN": (0.009, 0.035), "PUNB": (0.012, 0.038), "BARB": (0.008, 0.032),
                  "CNRB": (0.010, 0.034), "UBIN": (0.011, 0.036), "HDFC": (0.005, 0.026),
                  "ICIC": (0.006, 0.028), "UTKS": (0.022, 0.045), "NTBL": (0.018, 0.042)}
    by: dict[str, Counter[str]] = defaultdict(Counter)
    for e in digital:
        by[e["bank_code"]][e["status"]] += 1
    td = {b: c["TECHNICAL_DECLINE"] / c.total() for b, c in by.items()}
    bd = {b: c["BUSINESS_DECLINE"] / c.total() for b, c in by.items()}
    for bank, (t, b) in documented.items():
        n = by[bank].total()
        assert td[bank] == pytest.approx(t, abs=_band(t, n)), bank
        assert bd[bank] == pytest.approx(b, abs=_band(b, n)), bank
    statuses = Counter(e["status"] for e in digital)
    assert 0.008 < statuses["TECHNICAL_DECLINE"] / len(digital) < 0.013
    assert 0.025 < statuses["BUSINESS_DECLINE"] / len(digital) < 0.045
    assert min(td, key=td.__getitem__) in ("HDFC", "ICIC") and max(td, key=td.__getitem__) == "UTKS"
    assert sum(t > 0.01 for t in td.values()) >= 3  # the alert (TD > 1 %) has banks to page about
    assert all(e["status"] == "SUCCESS" for e in payments if e["channel"] == "CASH")


def test_every_branch_is_a_branch_of_its_bank(payments: list[dict[str, Any]]) -> None:
    banks = default_banks()
    for ifsc, bank in {(e["branch_ifsc"], e["bank_code"]) for e in payments}:
        banks.check_branch(bank, ifsc)  # raises UnknownBranch for another bank's or an unlisted IFSC
    # Ujjivan Small Finance Bank (USFB) has its branches under the prefix UJVN, sublet to it
    sublet = generate_payments(2, 3000, NOW, banks=["USFB"])
    assert {e["branch_ifsc"][:4] for e in sublet} == {"UJVN"}
    for e in sublet:
        banks.check_branch("USFB", e["branch_ifsc"])
