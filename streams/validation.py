"""Domain checks every event passes, in the publisher before sending and in the worker.

Schema conformance is the codec's job; these are the rules Avro cannot express.
"""

from __future__ import annotations

import re
from typing import Any

from .aadhaar import contains_aadhaar_like
from .banks import BankRegistry, default_banks
from .departments import DepartmentRegistry, default_departments
from .errors import AadhaarLikeValue, InvalidBankCode, OutOfRange, TooOld
from .grievances.tat import ist_day
from .registry import DistrictRegistry

__all__ = ["AGE_BANDS", "BANK_CODE", "ENUM_FIELDS", "check_age_band", "check_enablement", "check_enrolment",
           "check_event", "check_grievance", "check_horizon"]

#: A bank or utility code: the 4-letter IFSC bank prefix (utilities get one assigned likewise).
BANK_CODE = re.compile(r"[A-Z]{4}")

#: Fields whose values are schema enum symbols: no free text, nothing to scan.
ENUM_FIELDS = frozenset({"channel", "status", "purpose"})

#: ``holder_age_band`` values (schemas/SchemeEnrolmentEvent.avsc: a string, Avro symbols cannot
#: start with a digit), or null.
AGE_BANDS = ("18_40", "41_50", "51_70", "OTHER")


def check_event(record: dict[str, Any], registry: DistrictRegistry, now_ms: int, max_future_ms: int,
                banks: BankRegistry | None = None, departments: DepartmentRegistry | None = None) -> None:
    """Raise the ``EventError`` naming the first rule ``record`` breaks; return if it breaks none.

    ``banks`` is the bank registry (default: the shipped one): ``bank_code`` must be a known IFSC
    bank code (``unknown_bank``), and a ``branch_ifsc`` one of that bank's branches (``unknown_branch``).
    """
    for name, value in record.items():
        if name not in ENUM_FIELDS and isinstance(value, str) and contains_aadhaar_like(value):
            raise AadhaarLikeValue(f"field {name} holds an Aadhaar-like 12-digit number", name)
    bank = record["bank_code"]
    if not BANK_CODE.fullmatch(bank):
        raise InvalidBankCode(f"bank_code {bank!r} is not 4 capital letters (an IFSC bank prefix)", "bank_code")
    if banks is None:
        banks = default_banks()
    if bank not in banks.names:
        banks.name(bank)  # raises UnknownBank
    branch = record.get("branch_ifsc")
    if branch is not None:
        banks.check_branch(bank, branch)
    registry.get(record["district_lgd"])
    department = record.get("department_code")
    if department is not None:
        if departments is None:
            departments = default_departments()
        if department not in departments.names:
            departments.name(department)  # raises UnknownDepartment
    if not record["event_id"]:
        raise OutOfRange("event_id is empty", "event_id")
    if record["occurred_at"] > now_ms + max_future_ms:
        raise OutOfRange(
            f"occurred_at is {(record['occurred_at'] - now_ms) / 1000:.0f} s in the future "
            f"(limit {max_future_ms / 1000:.0f} s)", "occurred_at")
    if record["occurred_at"] < 0:
        raise OutOfRange("occurred_at is before 1970", "occurred_at")
    amount = record.get("amount_paise")
    if amount is not None and amount < 0:
        raise OutOfRange(f"amount_paise is negative ({amount})", "amount_paise")
    if "transaction_date" in record:  # a grievance (schemas/GrievanceEvent.avsc)
        check_grievance(record)
    if "scheme" in record:  # an enrolment (schemas/SchemeEnrolmentEvent.avsc)
        check_enrolment(record)
    if "modes" in record:  # an enablement (schemas/AccountEnablementEvent.avsc)
        check_enablement(record)


def check_enablement(record: dict[str, Any]) -> None:
    """An enablement's own rules: an account reference, and a camp reference that is null or not empty."""
    if not record["account_ref"]:
        raise OutOfRange("account_ref is empty", "account_ref")
    camp = record.get("camp_ref")
    if camp is not None and not camp.strip():
        raise OutOfRange("camp_ref is empty (null when the change was not made at a camp)", "camp_ref")
    check_age_band(record)


def check_grievance(record: dict[str, Any]) -> None:
    """A grievance's own rules: a reference, and a transaction not after the event (dates in India)."""
    if not record["grievance_ref"]:
        raise OutOfRange("grievance_ref is empty", "grievance_ref")
    t = record["transaction_date"]
    if t < 0:
        raise OutOfRange("transaction_date is before 1970", "transaction_date")
    if t > ist_day(record["occurred_at"]):
        raise OutOfRange("transaction_date is after the event's own date in India", "transaction_date")


def check_enrolment(record: dict[str, Any]) -> None:
    """An enrolment's own rules: an account reference, and an age band of ``AGE_BANDS`` or null."""
    if not record["account_ref"]:
        raise OutOfRange("account_ref is empty", "account_ref")
    check_age_band(record)


def check_age_band(record: dict[str, Any]) -> None:
    """``holder_age_band`` is one of ``AGE_BANDS`` or null (absent: null), in either feed that carries it.

    One check for the enrolment and enablement feeds, so both refuse the same values the same way.
    """
    band = record.get("holder_age_band")
    if band is not None and band not in AGE_BANDS:
        shown = band if len(band) <= 16 else band[:16] + "..."
        raise OutOfRange(f"holder_age_band {shown!r} is not one of {', '.join(AGE_BANDS)} or null",
                         "holder_age_band")


def check_horizon(record: dict[str, Any], oldest_ms: int) -> None:
    """Refuse (``too_old``) an event older than the deduplication horizon: the publisher's check.

    The worker keeps whole UTC days of ids and refuses a day once it is wholly past the horizon
    (``streams.processor.loop``); refusing at the horizon itself keeps the publisher the stricter.
    """
    if record["occurred_at"] < oldest_ms:
        raise TooOld(f"occurred_at is older than the deduplication horizon "
                     f"({(oldest_ms - record['occurred_at']) / 86_400_000:.1f} days past it): "
                     "the worker cannot deduplicate it and would refuse it", "occurred_at")
