"""check_event: the domain rules Avro cannot express, for payment and seeding records alike."""

from __future__ import annotations

import pytest

from streams.errors import AadhaarLikeValue, OutOfRange, UnknownDistrict
from streams.registry import DistrictRegistry
from streams.validation import check_event

from .factories import T0, aadhaar_like, payment, seeding_event

SKEW = 300_000


def test_valid_records_pass(registry: DistrictRegistry) -> None:
    assert check_event(payment(), registry, T0, SKEW) is None
    assert check_event(seeding_event(), registry, T0, SKEW) is None  # no amount field: not checked
    assert check_event(payment(amount=0, ts=0), registry, T0, SKEW) is None


@pytest.mark.parametrize("field", ["event_id", "bank_code", "account_ref"])
def test_aadhaar_in_any_seeding_string(registry: DistrictRegistry, field: str) -> None:
    rec = seeding_event()
    rec[field] = f"x {aadhaar_like()} y"
    with pytest.raises(AadhaarLikeValue) as exc:
        check_event(rec, registry, T0, SKEW)
    assert exc.value.field == field
    assert aadhaar_like() not in str(exc.value), "the message must not repeat the number"


def test_first_rule_broken_is_reported(registry: DistrictRegistry) -> None:
    with pytest.raises(UnknownDistrict):
        check_event(payment(lgd=1, amount=-1, ts=T0 + 10 * SKEW), registry, T0, SKEW)
    with pytest.raises(OutOfRange) as exc:
        check_event(payment(amount=-1, ts=T0 + 10 * SKEW), registry, T0, SKEW)
    assert exc.value.field == "occurred_at" and "in the future" in str(exc.value)


def test_future_limit(registry: DistrictRegistry) -> None:
    check_event(payment(ts=T0 + SKEW), registry, T0, SKEW)
    with pytest.raises(OutOfRange):
        check_event(payment(ts=T0 + SKEW + 1), registry, T0, SKEW)


@pytest.mark.parametrize("bank", ["sbin", "SBI", "SBIN0", "SB1N", "", "Punjab National Bank"])
def test_bank_code_must_be_an_ifsc_prefix(bank: str, registry: DistrictRegistry) -> None:
    """``bank`` is a metric label: only 4 capital letters keep free text out of the label set."""
    from streams.errors import InvalidBankCode
    from streams.validation import check_event

    rec = {"event_id": "e", "occurred_at": 1_700_000_000_000, "district_lgd": 45, "bank_code": bank,
           "account_ref": "a", "status": "SEEDED"}
    with pytest.raises(InvalidBankCode) as info:
        check_event(rec, registry, 1_700_000_000_000, 300_000)
    assert info.value.code == "invalid_bank_code" and info.value.field == "bank_code"
