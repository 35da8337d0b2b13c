"""Why an event was refused: one exception class per reason.

The dead-letter path and the publisher's rejects file name the reason by ``code``,
so every class carries a stable, machine-readable code next to its message.
"""

from __future__ import annotations

__all__ = [
    "AadhaarLikeValue",
    "BadSignature",
    "BankMismatch",
    "EventError",
    "InvalidBankCode",
    "MalformedEvent",
    "OutOfRange",
    "TooOld",
    "UnknownBank",
    "UnknownBranch",
    "UnknownDepartment",
    "UnknownDistrict",
    "UnknownSchema",
    "WrongPartition",
]


class EventError(Exception):
    """An event that cannot be applied; ``code`` names the reason, ``field`` the culprit."""

    code = "invalid"

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class MalformedEvent(EventError):
    """Bytes that do not decode, or a record that does not fit the schema."""

    code = "malformed"


class UnknownSchema(EventError):
    """Single-object encoding with a fingerprint no known schema has."""

    code = "unknown_schema"


class UnknownDistrict(EventError):
    """A district code absent from the registry."""

    code = "unknown_district"


class OutOfRange(EventError):
    """A value outside what the domain allows (negative amount, future timestamp...)."""

    code = "out_of_range"


class AadhaarLikeValue(EventError):
    """A string field carrying what looks like a raw Aadhaar number."""

    code = "aadhaar_like_value"


class TooOld(EventError):
    """Older than the deduplication horizon: it could not be deduplicated, so it is refused."""

    code = "too_old"


class InvalidBankCode(EventError):
    """A ``bank_code`` that is not 4 capital letters (an IFSC bank prefix).

    ``bank`` is a metric label: checking its shape keeps free text (or an account number) out
    of the label set.
    """

    code = "invalid_bank_code"


class WrongPartition(EventError):
    """A message whose key, or the partition it was written to, is not its record's.

    Events are keyed by district (the seeding directory's by account) with Kafka's default
    partitioner (murmur2), so a district lives in one partition: its windows, its dedupe ids and
    its checkpoint. A message elsewhere would split them, so it is refused instead.
    """

    code = "wrong_partition"


class UnknownBank(EventError):
    """A well-formed ``bank_code`` that is not a bank in the IFSC registry (``streams.banks``)."""

    code = "unknown_bank"


class UnknownBranch(EventError):
    """A ``branch_ifsc`` that is not in the IFSC registry, or is a branch of another bank."""

    code = "unknown_branch"


class BankMismatch(EventError):
    """A record whose ``bank_code`` is not the bank that publishes it.

    The publisher refuses a record naming another bank than ``--bank``; the worker one naming
    another bank than the owner of the key that signed it (``streams.signing``).
    """

    code = "bank_mismatch"


class BadSignature(EventError):
    """A message not signed by a known, active key: no signature, a forged one, a revoked key."""

    code = "bad_signature"


class UnknownDepartment(EventError):
    """A ``department_code`` that is not in the department registry (``streams.departments``).

    ``department`` is a metric label: only listed codes reach it.
    """

    code = "unknown_department"
