"""Seeded event generation: determinism, distributions, safety (no broker)."""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from typing import Any

import pytest

from streams.aadhaar import contains_aadhaar_like
from streams.avro_codec import codec_for, load_schema
from streams.banks import default_banks
from streams.channels import is_digital
from streams.registry import DistrictRegistry
from streams.simulator.calibration import default_calibration
from streams.simulator.feed import TokenBucket, encoded_payments
from streams.simulator.generator import Simulator, generate_payments, generate_seeding
from streams.validation import check_event

NOW = 1_767_225_600_000  # 2026-01-01T00:00:00Z
N = 100_000


@pytest.fixture(scope="module")
def payments() -> list[dict[str, Any]]:
    return generate_payments(7, N, NOW)


@pytest.fixture(scope="module")
def seeding() -> list[dict[str, Any]]:
    return generate_seeding(7, NOW, accounts=5000, changes=2000)


def _symbols(record: str, field: str) -> list[str]:
    return next(f for f in load_schema(record)["fields"] if f["name"] == field)["type"]["symbols"]


def test_same_seed_same_events_other_seed_other_events() -> None:
    assert generate_payments(3, 500, NOW) == generate_payments(3, 500, NOW)
    assert generate_seeding(3, NOW, 300, 50) == generate_seeding(3, NOW, 300, 50)
    other = generate_payments(4, 500, NOW)
    assert other != generate_payments(3, 500, NOW)
    assert not {e["event_id"] for e in other} & {e["event_id"] for e in generate_payments(3, 500, NOW)}


def test_payments_do_not_depend_on_seeding_interleaving() -> None:
    a, b = Simulator(5, accounts=200), Simulator(5, accounts=200)
    seq_a = [a.payment(NOW) for _ in range(100)]
    seq_b = []
    for _ in range(100):
        b.seeding_change(NOW)
        seq_b.append(b.payment(NOW))
    assert seq_a == seq_b


def test_event_ids_unique_per_bank(payments: list[dict[str, Any]], seeding: list[dict[str, Any]]) -> None:
    keys = [(e["bank_code"], e["event_id"]) for e in payments + seeding]
    assert len(keys) == len(set(keys))
    assert payments[0]["event_id"] == "sim-7-p1"


def test_every_record_validates_and_encodes(payments: list[dict[str, Any]], seeding: list[dict[str, Any]],
                                            registry: DistrictRegistry) -> None:
    pay, seed = codec_for("PaymentEvent"), codec_for("SeedingEvent")
    for rec in payments[:20_000]:
        check_event(rec, registry, NOW, 300_000)
        assert pay.decode(pay.encode(rec)) == {"department_code": None, **rec}  # null unless a generator sets it
    for rec in seeding:
        check_event(rec, registry, NOW, 300_000)
        assert seed.decode(seed.encode(rec)) == rec


def test_no_aadhaar_like_value_anywhere(payments: list[dict[str, Any]],
                                        seeding: list[dict[str, Any]]) -> None:
    big_seed = generate_payments(234567890123, 50, NOW) + generate_seeding(987654321098, NOW, 50, 10)
    for rec in payments + seeding + big_seed:
        for value in rec.values():
            assert not (isinstance(value, str) and contains_aadhaar_like(value)), rec


def test_banks_branches_and_accounts_look_real(payments: list[dict[str, Any]],
                                               seeding: list[dict[str, Any]]) -> None:
    banks = Counter(e["bank_code"] for e in payments)
    assert set(banks) >= {"SBIN", "PUNB", "BARB", "CNRB", "UBIN", "HDFC", "ICIC", "UTKS"}
    assert banks.most_common(1)[0][0] == "SBIN"
    registry = default_banks()
    for e in payments[:5000]:
        registry.check_branch(e["bank_code"], e["branch_ifsc"])  # a real branch of the event's bank
    branches = {(e["district_lgd"], e["branch_ifsc"]) for e in payments if e["bank_code"] != "NTBL"}
    assert len({b for _, b in branches}) == len(branches), "each district has branches of its own"
    # (the Nainital Bank has 178 branches in the registry, fewer than the simulation deals out)
    for e in seeding:
        assert e["account_ref"].startswith(f"{e['bank_code']}-{e['district_lgd']}-ACC-")
    only = generate_payments(1, 300, NOW, banks=["SBIN", "AACX"])  # AACX: sublet branches only
    assert {e["bank_code"] for e in only} == {"SBIN", "AACX"}
    for e in only:
        registry.check_branch(e["bank_code"], e["branch_ifsc"])
    with pytest.raises(ValueError, match="XYZB"):
        generate_payments(1, 10, NOW, banks=["SBIN", "XYZB"])


def test_channel_mix(payments: list[dict[str, Any]]) -> None:
    channels = Counter(e["channel"] for e in payments)
    assert set(channels) == set(_symbols("PaymentEvent", "channel"))
    digital = {c: n for c, n in channels.items() if is_digital(c)}
    assert max(digital, key=digital.__getitem__) == "UPI"
    assert 0.45 < digital["UPI"] / sum(digital.values()) < 0.60
    share = sum(digital.values()) / N
    assert 0.7 < share < 0.9  # weighted by volume, the busy towns dominate
    paper = {c: n for c, n in channels.items() if not is_digital(c)}
    assert paper["CASH"] / sum(paper.values()) > 0.85


def test_status_mix(payments: list[dict[str, Any]]) -> None:
    digital = [e["status"] for e in payments if is_digital(e["channel"])]
    st = Counter(digital)
    assert 0.008 <= st["TECHNICAL_DECLINE"] / len(digital) <= 0.013  # per bank: tests/simulator/test_realism.py
    assert 0.025 <= st["BUSINESS_DECLINE"] / len(digital) <= 0.045
    assert all(e["status"] == "SUCCESS" for e in payments if e["channel"] == "CASH")


def test_district_volumes_and_digital_shares_follow_calibration(payments: list[dict[str, Any]]) -> None:
    cal = default_calibration()
    digital = Counter(e["district_lgd"] for e in payments if is_digital(e["channel"]))
    pulse = cal.by_lgd(49).volume_share / cal.by_lgd(46).volume_share
    assert digital[49] / digital[46] == pytest.approx(pulse, rel=0.2)
    by: dict[int, list[bool]] = defaultdict(list)
    for e in payments:
        by[e["district_lgd"]].append(is_digital(e["channel"]))
    for lgd in (49, 50, 46):
        share = sum(by[lgd]) / len(by[lgd])
        assert share == pytest.approx(cal.by_lgd(lgd).digital_share, abs=0.05)


def test_amounts_are_lognormal_around_the_pulse_ticket(payments: list[dict[str, Any]]) -> None:
    cal = default_calibration()
    upi_p2m = [e["amount_paise"] / 100 for e in payments
               if e["district_lgd"] == 49 and e["channel"] == "UPI" and e["purpose"] == "P2M"]
    expected = cal.by_lgd(49).ticket_inr * cal.purpose_ticket_factor["P2M"]
    assert statistics.mean(upi_p2m) == pytest.approx(expected, rel=0.15)
    assert statistics.median(upi_p2m) < statistics.mean(upi_p2m)  # right-skewed
    assert all(e["amount_paise"] >= 100 for e in payments)
    assert all(e["amount_paise"] >= 200_000_00 for e in payments if e["channel"] == "RTGS")
    assert all(e["amount_paise"] <= 100_000_00 for e in payments if e["channel"] in ("UPI", "UPI_QR", "BHIM"))


def test_purposes_follow_the_pulse_mix(payments: list[dict[str, Any]]) -> None:
    mix = default_calibration().purpose_mix
    digital = [e for e in payments if is_digital(e["channel"])]
    got = Counter(e["purpose"] for e in digital)
    for purpose in ("P2M", "P2P"):
        assert got[purpose] / len(digital) == pytest.approx(mix[purpose], abs=0.02)
    assert set(got) <= set(_symbols("PaymentEvent", "purpose"))
    assert all(e["channel"] == "NACH" for e in digital if e["purpose"] == "DBT")


def test_seeding_first_load_then_trickle(seeding: list[dict[str, Any]]) -> None:
    first = seeding[:-2000]
    seeded = sum(e["status"] == "SEEDED" for e in first) / len(first)
    assert 0.7 <= seeded <= 0.9
    assert len({e["account_ref"] for e in first}) == len(first)
    changes = seeding[-2000:]
    known = {e["account_ref"]: e["status"] for e in first}
    flips = [e for e in changes if e["account_ref"] in known]
    assert flips and all(known[e["account_ref"]] == "NOT_SEEDED" and e["status"] == "SEEDED" for e in flips)
    opened: set[str] = set()
    for e in changes:  # a new account opens unseeded; a later change may seed it
        if e["account_ref"] in known:
            continue
        assert e["status"] == ("SEEDED" if e["account_ref"] in opened else "NOT_SEEDED")
        opened.add(e["account_ref"])
    assert opened
    assert len({e["district_lgd"] for e in first}) == 13


def test_drop_scenario_changes_one_district_only() -> None:
    sim = Simulator(11, accounts=0)
    sim.set_digital_share(49, 0.2)
    events = sim.payments(30_000, NOW)
    share = {lgd: [is_digital(e["channel"]) for e in events if e["district_lgd"] == lgd] for lgd in (49, 50)}
    assert sum(share[49]) / len(share[49]) == pytest.approx(0.2, abs=0.03)
    haridwar = default_calibration().by_lgd(50).digital_share
    assert sum(share[50]) / len(share[50]) == pytest.approx(haridwar, abs=0.05)
    with pytest.raises(KeyError):
        sim.set_digital_share(999, 0.2)


def test_token_bucket_paces_batches() -> None:
    bucket = TokenBucket(500.0, t0=0.0)
    sent = sum(bucket.take(i * 0.01) for i in range(1, 301))  # 3 s of 10 ms ticks
    assert sent == pytest.approx(1500, abs=1)
    assert bucket.take(13.0) == 250  # a 10 s stall catches up by half a second at most


def test_encoded_payments_are_keyed_by_district() -> None:
    codec = codec_for("PaymentEvent")
    for key, value in encoded_payments(2, 50, NOW):
        assert key == str(codec.decode(value)["district_lgd"]).encode()
