"""The enrolment signal's view of the enablement feed: an account's type in the same partition.

``StoredTypes`` reads partition ``p`` of the enablement table (a read-only ``PartitionKV``)
and decodes a stored value's account type with the enablement signal's own decoder, so this
signal never depends on how the enablement record is packed. ``type_change_router`` wires the
other direction: every change the enablement state of partition ``p`` makes to an account's
type reaches the enrolment state of partition ``p`` (``type_change_router``), which moves its
counts.

The enablement feed also reports the holder's age band; the decoder then gives the account's
``EnablementView`` (type, band, the band's occurred_at, district), and ``StoredTypes.scan`` lists
the partition's enablement accounts, so that a savings account known only from that feed is in
the coverage denominator (``streams.enrolment.state.contribution``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from ..enablement.state import TypeChange  # the enablement state's on_type_change
from ..processor.kv import PartitionKV
from ..processor.signal import Signal
from ..topics import default_partition, district_key
from .state import (
    FAUST_OFFSET_KEY,
    NO_BAND,
    RESERVED_PREFIX,
    SAVINGS,
    AccountTypes,
    Band,
    EnablementView,
    EnrolmentPartitionState,
)

__all__ = ["AccountsAreSavings", "StoredTypes", "TypeChange", "type_change_router", "types_from"]



class StoredTypes:
    """``AccountTypes`` over one partition of the enablement feed's store."""

    def __init__(self, kv: PartitionKV, decode: Callable[[bytes], str | EnablementView]) -> None:
        self.kv = kv
        #: a stored value -> its ``EnablementView``, or only its type (then no band and no district:
        #: ``scan`` lists nothing, as before the enablement feed carried a band)
        self.decode = decode

    def _view(self, raw: bytes) -> EnablementView | None:
        v = self.decode(raw)
        return v if not isinstance(v, str) else (v, None, 0, -1)

    def view(self, key: bytes) -> EnablementView | None:
        if key.startswith(RESERVED_PREFIX):
            return None
        raw = self.kv.get(key)
        return None if raw is None else self._view(raw)

    def account_type(self, key: bytes) -> str | None:
        v = self.view(key)
        return None if v is None else v[0]

    def scan(self) -> Iterator[tuple[bytes, EnablementView]]:
        for key, raw in self.kv.scan(b""):
            if key.startswith(RESERVED_PREFIX) or key == FAUST_OFFSET_KEY:
                continue
            v = self._view(raw)
            if v is not None and v[3] >= 0:
                yield key, v


class AccountsAreSavings:
    """``AccountTypes`` without the enablement feed: every account is taken as a savings account.

    The schemes are held through a savings account (schemas/SchemeEnrolmentEvent.avsc), so the
    coverage ratio is then over the accounts the enrolment feed reported a band for.
    """

    def account_type(self, key: bytes) -> str | None:
        return SAVINGS

    def view(self, key: bytes) -> EnablementView | None:
        return SAVINGS, None, 0, -1

    def scan(self) -> Iterator[tuple[bytes, EnablementView]]:
        return iter(())


def types_from(enablement: Signal,
               decode: Callable[[bytes], str | EnablementView]) -> Callable[[int], AccountTypes]:
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
                new_type: str | None, old_band: Band = NO_BAND, new_band: Band = NO_BAND) -> None:
        district = new_district if new_district is not None else old_district
        if district is None:
            return
        mine = enrolment(default_partition(district_key(district), numbers))
        if mine is not None:
            mine.type_changed(key, old_district, old_type, new_district, new_type, old_band, new_band)

    return changed
