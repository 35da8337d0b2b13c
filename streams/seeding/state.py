"""Per-account seeding status and per-district coverage, for one source partition.

Accounts live in a RocksDB-backed Faust table (millions of them, not Python
objects); this module only decides what an event does to an account and keeps
the per-district counts that the table implies. The counts are never saved: they
are recounted from the table when partitions are assigned, so they always agree
with it whatever crashed when.
"""

from __future__ import annotations

import struct
from collections import Counter
from typing import Any

from ..registry import DistrictRegistry
from ..validation import check_event

__all__ = [
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
_STATUS = (NOT_SEEDED, SEEDED)
_HEAD = struct.Struct("<BqqH")  # status, occurred_at ms, source offset, district


def account_key(bank_code: str, account_ref: str) -> bytes:
    return f"{bank_code}|{account_ref}".encode()


AccountRecord = tuple[str, int, int, int, str]  # status, occurred_at, offset, district, event_id


def pack(status: str, occurred_at: int, offset: int, district: int, event_id: str) -> bytes:
    return _HEAD.pack(_STATUS.index(status), occurred_at, offset, district) + event_id.encode()


def unpack(data: bytes) -> AccountRecord:
    s, ts, off, district = _HEAD.unpack_from(data)
    return _STATUS[s], ts, off, district, data[_HEAD.size:].decode()


class SeedingPartitionState:
    """Counters of one seeding partition; the accounts themselves are in the table."""

    def __init__(self, partition: int, registry: DistrictRegistry, max_future_skew: float,
                 accounts: dict[int, Counter[str]]) -> None:
        self.partition = partition
        self.registry = registry
        self.offset = -1
        #: district -> status -> accounts; shared by the worker's seeding partitions.
        self.accounts = accounts
        self.last_event_ms: dict[int, int] = {}
        self.bank_last_event_ms: dict[str, int] = {}
        self.outcomes: Counter[str] = Counter()
        self.deadletters: Counter[str] = Counter()
        self.applied_since_checkpoint = 0
        self.last_saved = 0.0  # wall-clock time of the last checkpoint
        self._max_future_ms = int(max_future_skew * 1000)

    def apply(self, record: dict[str, Any], offset: int, now_ms: int,
              previous: bytes | None) -> tuple[str, bytes | None]:
        """Decide an event's outcome given the account's stored value; returns (outcome, value to store)."""
        self.offset = offset
        self.applied_since_checkpoint += 1
        check_event(record, self.registry, now_ms, self._max_future_ms)
        ts, status, lgd = record["occurred_at"], record["status"], record["district_lgd"]
        outcome, value = "accepted", None
        if previous is not None:
            p_status, p_ts, p_offset, p_district, p_event = unpack(previous)
            if p_offset >= offset:
                # a replay after a crash: the table already holds this message's effect (or a
                # later one's); counted as accepted, the most likely original outcome
                pass
            elif p_event == record["event_id"]:
                outcome = "duplicate"
            elif ts < p_ts:
                outcome = "late"  # an older status than the one we hold: superseded
            else:
                self.accounts.setdefault(p_district, Counter())[p_status] -= 1
                self.accounts.setdefault(lgd, Counter())[status] += 1
                value = pack(status, ts, offset, lgd, record["event_id"])
        else:
            self.accounts.setdefault(lgd, Counter())[status] += 1
            value = pack(status, ts, offset, lgd, record["event_id"])
        self.outcomes[outcome] += 1
        if outcome == "accepted":
            bank = record["bank_code"]
            if ts > self.last_event_ms.get(lgd, 0):
                self.last_event_ms[lgd] = ts
            if ts > self.bank_last_event_ms.get(bank, 0):
                self.bank_last_event_ms[bank] = ts
        return outcome, value

    def reject(self, reason: str, offset: int) -> None:
        self.offset = offset
        self.outcomes["rejected"] += 1
        self.deadletters[reason] += 1

    def counters(self) -> dict[str, Any]:
        return {"offset": self.offset, "outcomes": dict(self.outcomes), "deadletters": dict(self.deadletters),
                "last": {str(k): v for k, v in self.last_event_ms.items()}, "banks_last": self.bank_last_event_ms}

    def load_counters(self, c: dict[str, Any]) -> None:
        self.offset = c["offset"]
        self.outcomes = Counter(c["outcomes"])
        self.deadletters = Counter(c["deadletters"])
        self.last_event_ms = {int(k): v for k, v in c["last"].items()}
        self.bank_last_event_ms = dict(c["banks_last"])



#: Table keys starting with this byte are not accounts (the partition checkpoints live there too,
#: so account writes and the checkpoint that covers them share one changelog partition, in order).
RESERVED_PREFIX = b"\x00"


def count_account(accounts: dict[int, Counter[str]], key: bytes, value: bytes) -> None:
    """Add one stored account to ``accounts`` (rebuilding the counts from the table)."""
    if key.startswith(RESERVED_PREFIX):
        return
    status, _, _, district, _ = unpack(value)
    accounts.setdefault(district, Counter())[status] += 1
