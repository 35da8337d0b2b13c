"""The enrolment signal's view of the enablement feed: an account's type in the same partition.

``StoredTypes`` reads partition ``p`` of the enablement table (a read-only ``PartitionKV``)
and decodes a stored value's account type with the enablement signal's own decoder, so this
signal never depends on how the enablement record is packed. ``type_change_router`` wires the
other direction: every change the enablement state of partition ``p`` makes to an account's
type reaches the enrolment state of partition ``p`` (``type_change_router``), which moves its
counts.
"""

from __future__ import annotations

from collections.abc import Callable

from ..processor.kv import PartitionKV
from ..processor.signal import Signal
from ..topics import default_partition, district_key
from .state import RESERVED_PREFIX, SAVINGS, AccountTypes, EnrolmentPartitionState

__all__ = ["AccountsAreSavings", "StoredTypes", "TypeChange", "type_change_router", "types_from"]

#: (key, old district, old type, new district, new type): the enablement state's ``on_type_change``
TypeChange = Callable[[bytes, "int | None", "str | None", "int | None", "str | None"], None]


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


def type_change_router(enrolment: Callable[[int], EnrolmentPartitionState | None],
                       partitions: int) -> TypeChange:
    """The enablement states' ``on_type_change``: each change to the enrolment state of its partition.

    An enablement account lives in the partition of its district (its events are keyed by it),
    so a change reported with ``new_district`` (or, for a removal, ``old_district``) was made in
    that district's partition's store: the same partition number of enrolments reads that store.
    ``enrolment(p)`` is looked up at every change (``streams.enrolment.signal.declare``'s ``made``:
    the state from its recount on, not only once its processor is exported); a partition never
    made here has nothing to adjust (its first open recounts from the store as it is then).
    """
    numbers = list(range(partitions))

    def changed(key: bytes, old_district: int | None, old_type: str | None, new_district: int | None,
                new_type: str | None) -> None:
        district = new_district if new_district is not None else old_district
        if district is None:
            return
        mine = enrolment(default_partition(district_key(district), numbers))
        if mine is not None:
            mine.type_changed(key, old_district, old_type, new_district, new_type)

    return changed
