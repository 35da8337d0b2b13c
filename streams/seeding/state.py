"""Per-account seeding status and per-district coverage, for one source partition.

Accounts live in the partition's changelog-backed RocksDB store (millions of them, not Python
objects), written as events are applied; this module decides what an event does to an
account and keeps the per-district counts the store implies. The counts are never saved:
they are recounted from the store when partitions are assigned, so they always agree with it
whatever crashed when. Checks, the horizon and deduplication by (bank_code, event_id) happen
before, in the shared processor; of two events for one account the later ``occurred_at``
wins, and equal times are ordered by ``event_id``, so redelivery in any order ends the same.

Accounts are keyed by district, so an account that moves to a district of another partition
would be counted in both: every applied event also goes to the account directory
(``streams.seeding.directory``), which knows each account's latest district and releases it
from the partition of the district it left.
"""

from __future__ import annotations

import struct
from collections import Counter
from collections.abc import Callable
from typing import Any

from ..processor.kv import PartitionKV
from ..processor.signal import StoreBackedState
from ..registry import DistrictRegistry

__all__ = [
    "DIRECTORY",
    "NOT_SEEDED",
    "RESERVED_PREFIX",
    "SEEDED",
    "AccountRecord",
    "SeedingPartitionState",
    "account_key",
    "count_account",
    "pack",
    "unpack",
]

SEEDED, NOT_SEEDED = "SEEDED", "NOT_SEEDED"
#: The target name of the account directory (``streams.seeding.directory``).
DIRECTORY = "directory"
_STATUS = (NOT_SEEDED, SEEDED)
_HEAD = struct.Struct("<BqqH")  # status, occurred_at ms, source offset, district

#: Store keys starting with this byte are not accounts: the partition's checkpoints live there
#: too, so account writes and the checkpoint that covers them share one changelog partition, in order.
RESERVED_PREFIX = b"\x00"


def account_key(bank_code: str, account_ref: str) -> bytes:
    return f"{bank_code}|{account_ref}".encode()


AccountRecord = tuple[str, int, int, int, str]  # status, occurred_at, offset, district, event_id


def pack(status: str, occurred_at: int, offset: int, district: int, event_id: str) -> bytes:
    return _HEAD.pack(_STATUS.index(status), occurred_at, offset, district) + event_id.encode()


def unpack(data: bytes) -> AccountRecord:
    s, ts, off, district = _HEAD.unpack_from(data)
    return _STATUS[s], ts, off, district, data[_HEAD.size:].decode()


class SeedingPartitionState(StoreBackedState):
    """Counters of one seeding partition; the accounts themselves are in ``kv``."""

    def __init__(self, partition: int, registry: DistrictRegistry, max_future_skew: float,
                 accounts: dict[int, Counter[str]], kv: PartitionKV,
                 forward: Callable[[dict[str, Any]], bytes] | None = None) -> None:
        super().__init__(partition, registry, max_future_skew)
        #: encodes an applied event for the account directory (None: no directory, e.g. a unit test)
        self.forward = forward
        #: district -> status -> accounts; shared by the worker's seeding partitions.
        self.accounts = accounts
        self.kv = kv

    def apply(self, record: dict[str, Any], offset: int, now_ms: int) -> str:
        """Apply a checked, first-seen event to its account; returns its outcome."""
        ts, status, lgd, event_id = record["occurred_at"], record["status"], record["district_lgd"], record["event_id"]
        key = account_key(record["bank_code"], record["account_ref"])
        if self.forward is not None:  # the directory decides where the account is counted
            self.emit(DIRECTORY, key, self.forward(record))
        previous = self.kv.get(key)
        if previous is not None:
            p_status, p_ts, p_offset, p_district, p_event = unpack(previous)
            if p_offset >= offset:
                # a replay after a crash: the store already holds this message's effect (or a
                # later one's); counted as accepted, the most likely original outcome;
                # the applied event it holds still counts for the last-event figures, which the
                # restored checkpoint (older than the store) may not have
                self.seen(record["bank_code"], p_ts, p_district)
                return "accepted"
            if (ts, event_id) < (p_ts, p_event):
                return "late"  # an older status than the one we hold: superseded
            self.accounts.setdefault(p_district, Counter())[p_status] -= 1
        self.accounts.setdefault(lgd, Counter())[status] += 1
        self.kv.put(key, pack(status, ts, offset, lgd, event_id))
        self.seen(record["bank_code"], ts, lgd)
        return "accepted"


def count_account(accounts: dict[int, Counter[str]], key: bytes, value: bytes) -> None:
    """Add one stored account to ``accounts`` (rebuilding the counts from the store)."""
    if key.startswith(RESERVED_PREFIX):
        return
    status, _, _, district, _ = unpack(value)
    accounts.setdefault(district, Counter())[status] += 1
