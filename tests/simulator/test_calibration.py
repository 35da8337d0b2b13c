"""Calibration on the shipped PhonePe Pulse extract (no broker)."""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from importlib import resources

import pytest

from streams.avro_codec import load_schema
from streams.registry import DistrictRegistry
from streams.simulator.calibration import BILL_QR_SHARE_RANGE, DIGITAL_SHARE_RANGE, Calibration, default_calibration


@pytest.fixture(scope="module")
def cal() -> Calibration:
    return default_calibration()


def _pulse_rows() -> list[dict[str, str]]:
    text = resources.files("streams").joinpath(
        "data/pulse/phonepe-pulse-uttarakhand-districts.csv").read_text(encoding="utf-8")
    return list(csv.DictReader(io.StringIO(text)))


def test_every_uttarakhand_district_is_calibrated(cal: Calibration, registry: DistrictRegistry) -> None:
    assert cal.year == max(int(r["year"]) for r in _pulse_rows())
    assert {d.lgd for d in cal.districts} == {d.lgd for d in registry.in_state("Uttarakhand")}
    assert len(cal.districts) == 13
    # Pulse spellings went through the registry's aliases, not string matching.
    assert cal.by_lgd(56).pulse_name == "udham singh nagar" and cal.by_lgd(56).name == "Udam Singh Nagar"
    assert cal.by_lgd(54).pulse_name == "rudraprayag"
    assert sum(d.volume_share for d in cal.districts) == pytest.approx(1.0)
    assert sum(cal.event_weights().values()) == pytest.approx(1.0)


def test_dehradun_bageshwar_ratio_matches_pulse(cal: Calibration) -> None:
    totals: dict[str, float] = defaultdict(float)
    for r in _pulse_rows():
        if int(r["year"]) == cal.year:
            totals[r["district"]] += float(r["transactions"])
    pulse_ratio = totals["dehradun"] / totals["bageshwar"]
    ratio = cal.by_lgd(49).volume_share / cal.by_lgd(46).volume_share
    assert ratio == pytest.approx(pulse_ratio)
    assert 30 < ratio < 120


def test_tickets_shares_and_growth_are_plausible(cal: Calibration) -> None:
    lo, hi = DIGITAL_SHARE_RANGE
    for d in cal.districts:
        assert 500 < d.ticket_inr < 3000
        assert lo <= d.digital_share <= hi
        assert 0.5 < d.growth < 3
        assert 0.7 <= d.seeded_share <= 0.9
        assert BILL_QR_SHARE_RANGE[0] <= d.bill_qr_share <= BILL_QR_SHARE_RANGE[1]
    # The cash-heavy hill district is less digital than the capital, and scans fewer bills' QR codes.
    assert cal.by_lgd(46).digital_share < cal.by_lgd(49).digital_share
    assert cal.by_lgd(46).bill_qr_share < cal.by_lgd(49).bill_qr_share


def test_purpose_mix_sums_to_one_over_schema_symbols(cal: Calibration) -> None:
    schema = load_schema("PaymentEvent")
    symbols = set(next(f for f in schema["fields"] if f["name"] == "purpose")["type"]["symbols"])
    assert set(cal.purpose_mix) <= symbols
    assert sum(cal.purpose_mix.values()) == pytest.approx(1.0)
    assert all(v > 0 for v in cal.purpose_mix.values())
    # Pulse 2024: merchant payments outnumber P2P, whose ticket is much larger.
    assert cal.purpose_mix["P2M"] > cal.purpose_mix["P2P"]
    assert cal.purpose_ticket_factor["P2P"] > 2 * cal.purpose_ticket_factor["P2M"]
    assert set(cal.purpose_ticket_factor) >= set(cal.purpose_mix)


def test_licence_and_provenance_ship_with_the_data() -> None:
    root = resources.files("streams").joinpath("data/pulse")
    assert "Community Data License Agreement" in root.joinpath("PHONEPE-PULSE-LICENSE.txt").read_text()
    assert "github.com/PhonePe/pulse" in root.joinpath("README.md").read_text()
