"""The account directory: where each account is counted, across partitions and workers.

Seeding events are keyed by district, so each partition only knows its own districts'
accounts. Every applied seeding event is sent on (through the outbox) to the directory topic,
keyed by account: one directory partition sees every event of an account and keeps its latest
(occurred_at, event_id, district). When a newer event places the account in another district,
the directory sends a release (``AccountReleased``) to the releases topic, keyed by the old
district like the seeding topic, so it reaches the partition that counted the account there;
that partition deletes the account if what it holds is older than the release. An event older
than the directory's (a stale copy added where the account no longer is) is released at once.
Every step is idempotent and deduplicated by (bank_code, event_id) in the shared processor, so
redelivery, replays after a crash and rebalances end with each account counted once, in its
latest district: the same rule (later occurred_at, then event_id) everywhere.
"""

from __future__ import annotations

import struct
from collections import Counter
from collections.abc import Callable
from typing import Any

from ..processor.kv import PartitionKV
from ..processor.signal import StateBase
from ..registry import DistrictRegistry
from .state import RESERVED_PREFIX, account_key, unpack

__all__ = ["RELEASES", "DirectoryPartitionState", "ReleasePartitionState"]

#: The target name of the releases topic.
RELEASES = "releases"
_PLACE = struct.Struct("<qH")  # occurred_at ms, district; then the event id


def _pack(ts: int, district: int, event_id: str) -> bytes:
    return _PLACE.pack(ts, district) + event_id.encode()


def _unpack(data: bytes) -> tuple[int, int, str]:
    ts, district = _PLACE.unpack_from(data)
    return ts, district, data[_PLACE.size:].decode()


class DirectoryPartitionState(StateBase):
    """One directory partition: the latest place of each of its accounts, in ``kv``."""

    def __init__(self, partition: int, registry: DistrictRegistry, max_future_skew: float, kv: PartitionKV,
                 release: Callable[[dict[str, Any]], tuple[bytes, bytes, int]]) -> None:
        super().__init__(partition, registry, max_future_skew)
        self.kv = kv
        #: a release record -> (key, value, partition) on the releases topic
        self.release = release

    def apply(self, record: dict[str, Any], offset: int, now_ms: int) -> str:
        ts, event_id, lgd = record["occurred_at"], record["event_id"], record["district_lgd"]
        bank, ref = record["bank_code"], record["account_ref"]
        key = account_key(bank, ref)
        stored = self.kv.get(key)
        if stored is not None:
            p_ts, p_lgd, p_event = _unpack(stored)
            if (ts, event_id) < (p_ts, p_event):
                if lgd != p_lgd:  # a stale copy was counted in lgd: release it there
                    # its own id: a release of lgd by the same newer event may have come (and been
                    # deduplicated) before this copy was added there
                    self._send(bank, ref, lgd, p_ts, p_event, p_lgd, f"<{event_id}")
                return "late"
            if p_lgd != lgd:
                self._send(bank, ref, p_lgd, ts, event_id, lgd)
        self.kv.put(key, _pack(ts, lgd, event_id))
        self.seen_bank(bank, ts)
        return "accepted"

    def _send(self, bank: str, ref: str, district: int, ts: int, newer: str, moved_to: int, cause: str = "") -> None:
        rec = {"event_id": f"{newer}>{district}{cause}", "occurred_at": ts, "district_lgd": district, "bank_code": bank,
               "account_ref": ref, "newer_event_id": newer, "moved_to_lgd": moved_to}
        key, value, partition = self.release(rec)
        self.emit(RELEASES, key, value, partition)


class ReleasePartitionState(StateBase):
    """Applies releases to the seeding accounts of the same partition (the same ``kv``)."""

    def __init__(self, partition: int, registry: DistrictRegistry, max_future_skew: float,
                 accounts: dict[int, Counter[str]], kv: PartitionKV) -> None:
        super().__init__(partition, registry, max_future_skew)
        self.accounts = accounts
        self.kv = kv

    def apply(self, record: dict[str, Any], offset: int, now_ms: int) -> str:
        lgd = record["district_lgd"]
        key = account_key(record["bank_code"], record["account_ref"])
        assert not key.startswith(RESERVED_PREFIX)
        stored = self.kv.get(key)
        if stored is not None:
            status, s_ts, _, s_lgd, s_event = unpack(stored)
            if s_lgd == lgd and (s_ts, s_event) < (record["occurred_at"], record["newer_event_id"]):
                self.kv.delete(key)
                self.accounts.setdefault(lgd, Counter())[status] -= 1
                return "accepted"
        return "late"  # nothing to release here: the account moved on, or came back with a newer event
