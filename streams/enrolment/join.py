"""The enrolment signal's view of the enablement feed: an account's type in the same partition.

``StoredTypes`` reads partition ``p`` of the enablement table (a read-only ``PartitionKV``)
and decodes a stored value's account type with the enablement signal's own decoder, so this
signal never depends on how the enablement record is packed.
"""

from __future__ import annotations

from collections.abc import Callable

from ..processor.kv import PartitionKV
from .state import RESERVED_PREFIX, SAVINGS

__all__ = ["AccountsAreSavings", "StoredTypes"]


class StoredTypes:
    """``AccountTypes`` over one partition of the enablement feed's store."""

    def __init__(self, kv: PartitionKV, decode: Callable[[bytes], str]) -> None:
        self.kv = kv
        self.decode = decode

    def account_type(self, key: bytes) -> str | None:
        if key.startswith(RESERVED_PREFIX):
            return None
        raw = self.kv.get(key)
        return None if raw is None else self.decode(raw)


class AccountsAreSavings:
    """``AccountTypes`` without the enablement feed: every account is taken as a savings account.

    The schemes are held through a savings account (schemas/SchemeEnrolmentEvent.avsc), so the
    coverage ratio is then over the accounts the enrolment feed reported a band for.
    """

    def account_type(self, key: bytes) -> str | None:
        return SAVINGS
