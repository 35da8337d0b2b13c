"""Releases of enablement accounts that moved to a district of another partition.

The account directory is seeding's (``streams.seeding.directory.DirectoryPartitionState``): it
reads only the fields every account feed has (event_id, occurred_at, district_lgd, bank_code,
account_ref), so the enablement signal forwards its applied events to a directory of its own
(``<enablement>-directory``), whose releases (``<enablement>-releases``, keyed by district) reach
the partition that counted the account in the district it left. There the account is deleted if
what is stored is older than the event that placed it elsewhere; the partition's enablement state
drops it from its counts (and calls ``on_type_change`` with no new district), or, if that state is
not open here now, its next open recounts the store.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..processor.kv import PartitionKV
from ..processor.signal import StateBase
from ..registry import DistrictRegistry
from .state import EnablementPartitionState, account_key, release_stored

__all__ = ["EnablementReleaseState"]


class EnablementReleaseState(StateBase):
    """Applies releases to the enablement accounts of the same partition (the same ``kv``)."""

    def __init__(self, partition: int, registry: DistrictRegistry, max_future_skew: float, kv: PartitionKV,
                 accounts: Callable[[], EnablementPartitionState | None]) -> None:
        super().__init__(partition, registry, max_future_skew)
        self.kv = kv
        #: the partition's enablement state, if open on this worker now
        self.accounts = accounts

    def apply(self, record: dict[str, Any], offset: int, now_ms: int) -> str:
        key = account_key(record["bank_code"], record["account_ref"])
        where = (key, record["district_lgd"], record["occurred_at"], record["newer_event_id"])
        state = self.accounts()
        # not open here now: delete it from the store, which the state's next open recounts
        released = state.release(*where) if state is not None else release_stored(self.kv, *where) is not None
        return "accepted" if released else "late"  # nothing to release here: moved on, or came back newer
