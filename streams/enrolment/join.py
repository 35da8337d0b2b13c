"""The enrolment signal's view of the enablement feed: an account's type in the same partition.

``StoredTypes`` reads partition ``p`` of the enablement table (a read-only ``PartitionKV``)
and decodes a stored value's account type with the enablement signal's own decoder, so this
signal never depends on how the enablement record is packed. ``hook_type_changes`` wires the
other direction: every change the enablement state of partition ``p`` makes to an account's
type reaches the enrolment state of partition ``p``, which moves its counts.
"""

from __future__ import annotations

from collections.abc import Callable

from ..processor.kv import PartitionKV
from ..processor.signal import PartitionState, Signal
from .state import RESERVED_PREFIX, SAVINGS, AccountTypes, EnrolmentPartitionState

__all__ = ["AccountsAreSavings", "StoredTypes", "hook_type_changes", "types_from"]


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


def types_from(enablement: Signal, decode: Callable[[bytes], str]) -> Callable[[int], AccountTypes]:
    """partition -> the enablement signal's store of that partition, as account types (read only)."""
    return lambda p: StoredTypes(enablement.kv_for(p), decode)


def hook_type_changes(enablement: Signal, enrolment: Callable[[int], EnrolmentPartitionState | None]) -> None:
    """Make each enablement partition state tell partition ``p``'s enrolment state of its type changes.

    ``enrolment(p)`` is looked up at every change, not when the state is made: the enrolment
    partition may be opened after the enablement one, or reopened after a rebalance, and a
    partition not open here has nothing to adjust (its recount will read the store as it is).
    """
    make = enablement.make_state

    def make_state(partition: int, kv: PartitionKV) -> PartitionState:
        state = make(partition, kv)

        def changed(key: bytes, old_district: int | None, old_type: str | None, new_district: int | None,
                    new_type: str | None) -> None:
            mine = enrolment(partition)
            if mine is not None:
                mine.type_changed(key, old_district, old_type, new_district, new_type)

        state.on_type_change = changed  # type: ignore[attr-defined]
        return state

    enablement.make_state = make_state
