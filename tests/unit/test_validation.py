"""check_event: the domain rules Avro cannot express, for payment and seeding records alike."""

from __future__ import annotations

from typing import Any

import pytest

from streams.banks import BankRegistry, default_banks
from streams.departments import DepartmentRegistry, default_departments
from streams.errors import (
    AadhaarLikeValue,
    OutOfRange,
    UnknownBank,
    UnknownBranch,
    UnknownDepartment,
    UnknownDistrict,
)
from streams.registry import DistrictRegistry
from streams.validation import check_event

from .factories import T0, aadhaar_like, enablement_event, enrolment_event, payment, seeding_event

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


# --- the bank registry (issue 9, item 5) ----------------------------------------------------

@pytest.mark.parametrize("bank", ["TEST", "ABCD", "ZZZZ"])
def test_unknown_bank_code_is_refused(registry: DistrictRegistry, bank: str) -> None:
    for rec in (payment(bank=bank), seeding_event(bank=bank)):
        with pytest.raises(UnknownBank) as exc:
            check_event(rec, registry, T0, SKEW)
        assert exc.value.code == "unknown_bank" and exc.value.field == "bank_code"
        assert bank in str(exc.value) and "IFSC" in str(exc.value)


@pytest.mark.parametrize("bank", ["SBIN", "PUNB", "BARB", "CNRB", "UBIN", "HDFC", "ICIC", "UTKS", "NTBL", "AACX"])
def test_registered_banks_pass(registry: DistrictRegistry, bank: str) -> None:
    assert check_event(payment(bank=bank), registry, T0, SKEW) is None
    assert check_event(seeding_event(bank=bank), registry, T0, SKEW) is None


@pytest.mark.parametrize(("bank", "ifsc"), [
    ("SBIN", "SBIN0000001"),   # numeric branch code, zero-padded in the dataset
    ("BARB", "BARB0AAMBUR"),   # alphanumeric branch code
    ("NTBL", "NTBL0AFZ162"),
    ("AACX", "HDFC0CAACOB"),   # a co-operative bank's sublet branch under HDFC's prefix
])
def test_branches_of_their_bank_pass(registry: DistrictRegistry, bank: str, ifsc: str) -> None:
    assert check_event(payment(bank=bank, branch_ifsc=ifsc), registry, T0, SKEW) is None


@pytest.mark.parametrize(("bank", "ifsc", "says"), [
    ("SBIN", "PUNB0001000", "is a branch of PUNB, not of the event's bank SBIN"),
    ("SBIN", "SBIN0999999", "is not a branch in the IFSC registry"),
    ("SBIN", "SBIN", "is not a branch in the IFSC registry"),
    ("SBIN", "", "is not a branch in the IFSC registry"),
    ("HDFC", "ABHY0065001", "is a branch of ABHY"),
])
def test_branch_of_another_bank_or_unknown_is_refused(registry: DistrictRegistry, bank: str, ifsc: str,
                                                      says: str) -> None:
    with pytest.raises(UnknownBranch) as exc:
        check_event(payment(bank=bank, branch_ifsc=ifsc), registry, T0, SKEW)
    assert exc.value.code == "unknown_branch" and exc.value.field == "branch_ifsc"
    assert says in str(exc.value)


def test_bank_registry_is_the_shipped_extract() -> None:
    banks = default_banks()
    assert banks.version.startswith("ifsc ")
    assert len(banks) >= 1510 and banks.name("SBIN") == "State Bank of India"
    assert banks.name("NTBL") == "Nainital Bank" and banks.name("UTKS") == "Utkarsh Small Finance Bank"
    assert len(banks.branches) >= 170_000
    assert all(len(i) == 11 and i[4] == "0" for i in banks.branches)
    assert banks.operator("HDFC0CAACOB") == "AACX" and banks.operator("SBIN0000001") == "SBIN"
    assert banks.operator("SBIN0999999") is None
    with pytest.raises(UnknownBank):
        banks.name("TEST")


def test_a_registry_can_be_given() -> None:
    """Another registry (a refreshed extract, a test's) is used where given."""
    from streams.registry import default_registry

    small = BankRegistry({"TEST": "A test bank"}, frozenset({"TEST0000001"}))
    check_event(payment(bank="TEST", branch_ifsc="TEST0000001"), default_registry(), T0, SKEW, small)
    with pytest.raises(UnknownBank):
        check_event(payment(bank="SBIN"), default_registry(), T0, SKEW, small)


# --- departments (issue 10) ----------------------------------------------------------------------


@pytest.mark.parametrize("code", ["ENERGY", "WATER", "HOUSING", "TRANSPORT", "REVENUE", "TREASURY", "HEALTH",
                                  "EDUCATION", "AGRICULTURE", "RURAL_DEVELOPMENT", "POLICE", "PANCHAYATI_RAJ",
                                  "SOCIAL_WELFARE", "URBAN_DEVELOPMENT"])
def test_listed_departments_pass(registry: DistrictRegistry, code: str) -> None:
    assert check_event(payment(purpose="GOVT_RECEIPT", department_code=code), registry, T0, SKEW) is None


def test_no_department_passes(registry: DistrictRegistry) -> None:
    assert check_event(payment(department_code=None), registry, T0, SKEW) is None
    assert check_event(payment(), registry, T0, SKEW) is None  # a record without the field (an old writer's)


@pytest.mark.parametrize("code", ["energy", "ENERGY ", "", "MINISTRY_OF_MAGIC", "E" * 300])
def test_unknown_department_is_refused(registry: DistrictRegistry, code: str) -> None:
    with pytest.raises(UnknownDepartment) as exc:
        check_event(payment(department_code=code), registry, T0, SKEW)
    assert exc.value.code == "unknown_department" and exc.value.field == "department_code"
    assert len(str(exc.value)) < 120, "the message quotes a bounded prefix of the code"


def test_unknown_district_wins_over_unknown_department(registry: DistrictRegistry) -> None:
    with pytest.raises(UnknownDistrict):
        check_event(payment(lgd=1, department_code="NOPE"), registry, T0, SKEW)


def test_department_registry_is_the_shipped_file() -> None:
    deps = default_departments()
    assert len(deps) >= 16
    assert deps.name("ENERGY") == "Energy" and deps.name("TREASURY").startswith("Treasury")
    assert all(code == code.upper() and " " not in code for code in deps)
    with pytest.raises(UnknownDepartment):
        deps.name("NOPE")


def test_a_department_registry_can_be_given(registry: DistrictRegistry) -> None:
    small = DepartmentRegistry.from_csv("department_code,name\nFISHERIES,\n")
    assert small.name("FISHERIES") == "FISHERIES"
    check_event(payment(department_code="FISHERIES"), registry, T0, SKEW, None, small)
    with pytest.raises(UnknownDepartment):
        check_event(payment(department_code="ENERGY"), registry, T0, SKEW, None, small)


@pytest.mark.parametrize("make", [enablement_event, enrolment_event])
def test_both_feeds_refuse_the_same_age_bands(registry: DistrictRegistry, make: Any) -> None:
    """The enablement feed's band is checked by the enrolment feed's own check: same values, same refusal."""
    for band in (None, "18_40", "41_50", "51_70", "OTHER"):
        check_event(make("e1", T0, band=band), registry, T0, SKEW)
    with pytest.raises(OutOfRange, match="holder_age_band '18-40' is not one of") as e:
        check_event(make("e1", T0, band="18-40"), registry, T0, SKEW)
    assert e.value.field == "holder_age_band"
