"""Per-account scheme enrolments and age band, and per-district coverage, for one source partition.

Accounts live in the partition's changelog-backed RocksDB store (one small packed record per
account, key ``bank_code|account_ref`` as in the seeding and enablement feeds); this module
decides what an event does to an account and keeps the per-district counts the store implies.
Per (account, scheme) the latest ``occurred_at`` wins, equal times ordered by ``event_id``; the
account's age band is the latest one reported (by the same order, over events carrying one),
and its district the one of its latest event. So redelivery in any order ends the same.

Coverage joins this feed with the enablement feed: an account is a savings account if the
enablement feed's store of the same partition says so (``AccountTypes``). The counts are never
saved: they are recounted from both stores when the partition is assigned (``recount``), and
kept in step afterwards by ``apply`` (this feed) and ``type_changed`` (the enablement signal
calls it after it changes an account's type in partition ``p``'s store). The recount is
consistent because Faust recovers every table's changelog before any recovery callback runs
(``Recovery.on_recovery_completed``: tables' data first, then ``call_recover_callbacks``, then
the stream partitions resume), and ``streams.recovery`` opens the partitions
(``SignalRunner.open`` -> ``make_state`` -> ``recount``) in that callback. The scan is
synchronous, and the state is registered for ``type_changed`` as soon as it is made
(``streams.enrolment.signal.declare``'s ``made``), before the restore awaits anything: every
enablement change is either in the scan or reaches the state afterwards, never both nor neither.
A partition opened later by its batch (assigned but not yet restored) is made the same way.

A crash leaves the store ahead of the checkpointed outcome counters, never behind: a replayed
event whose offset is at or below the account's stored offset is counted as accepted (the most
likely original outcome, as seeding does) and writes nothing; the coverage counts come from
the store and need no replay.
"""

from __future__ import annotations

import struct
from collections import Counter
from typing import Any, Protocol

from ..processor.kv import PartitionKV
from ..processor.signal import StoreBackedState
from ..registry import DistrictRegistry
from ..seeding.state import account_key  # the seeding and enablement key: the join looks up the same bytes
from ..validation import AGE_BANDS

__all__ = [
    "AGE_BANDS",
    "ELIGIBLE",
    "RESERVED_PREFIX",
    "SAVINGS",
    "SCHEMES",
    "AccountRecord",
    "AccountTypes",
    "EnrolmentPartitionState",
    "SchemeEntry",
    "account_key",
    "contribution",
    "pack",
    "unpack",
]

SCHEMES = ("PMSBY", "PMJJBY", "APY")
ENROLLED, EXITED = "ENROLLED", "EXITED"
SAVINGS = "SAVINGS"
#: the age bands inside each scheme's eligibility (DOMAIN.md: PMSBY 18-70, PMJJBY 18-50, APY 18-40)
ELIGIBLE = {"PMSBY": frozenset({"18_40", "41_50", "51_70"}), "PMJJBY": frozenset({"18_40", "41_50"}),
            "APY": frozenset({"18_40"})}
_STATUS = (None, ENROLLED, EXITED)
_BAND = (None, *AGE_BANDS)
#: district, offset of the last event written, band index, band's occurred_at, band event id length
_HEAD = struct.Struct("<HqBqB")
#: per scheme: status index (0: never reported), occurred_at, event id length
_ENTRY = struct.Struct("<BqB")

#: Store keys starting with this byte are the partition's checkpoints, not accounts.
RESERVED_PREFIX = b"\x00"
#: Where Faust's RocksDB store keeps a partition's changelog offset (``faust.stores.rocksdb.Store.offset_key``),
#: in the same database: a scan of the whole store meets it.
FAUST_OFFSET_KEY = b"__faust\0offset__"

# counter names, per district (with the scheme for the per-scheme ones)
ENROLLED_N, ELIGIBLE_N, COVERED_N, UNMATCHED_N = "enrolled", "eligible", "covered", "unmatched"
AGE_UNKNOWN_N = "age_unknown"


class AccountTypes(Protocol):
    """What the enablement feed knows of an account in this partition (read-only)."""

    def account_type(self, key: bytes) -> str | None:
        """``SAVINGS``, ``CURRENT``, or None if the enablement feed does not know the account."""


SchemeEntry = tuple[str | None, int, str]  # status (None: never reported), occurred_at, event id


class AccountRecord:
    """One account as stored: district, last offset, age band, one entry per scheme."""

    __slots__ = ("band", "band_event", "band_ts", "district", "offset", "schemes")

    def __init__(self, district: int, offset: int, band: str | None = None, band_ts: int = 0,
                 band_event: str = "", schemes: dict[str, SchemeEntry] | None = None) -> None:
        self.district = district
        self.offset = offset
        self.band = band
        self.band_ts = band_ts
        self.band_event = band_event
        self.schemes: dict[str, SchemeEntry] = schemes or {s: (None, 0, "") for s in SCHEMES}

    def latest(self) -> tuple[int, str]:
        """(occurred_at, event_id) of the newest event the record holds an effect of."""
        return max([(self.band_ts, self.band_event)] + [(ts, e) for _, ts, e in self.schemes.values()])

    def __eq__(self, other: object) -> bool:
        return isinstance(other, AccountRecord) and pack(self) == pack(other)


def pack(r: AccountRecord) -> bytes:
    band_event = r.band_event.encode()
    parts = [_HEAD.pack(r.district, r.offset, _BAND.index(r.band), r.band_ts, len(band_event)), band_event]
    for s in SCHEMES:
        status, ts, event = r.schemes[s]
        e = event.encode()
        parts += [_ENTRY.pack(_STATUS.index(status), ts, len(e)), e]
    return b"".join(parts)


def unpack(data: bytes) -> AccountRecord:
    district, offset, band, band_ts, n = _HEAD.unpack_from(data)
    at = _HEAD.size
    band_event = data[at:at + n].decode()
    at += n
    schemes: dict[str, SchemeEntry] = {}
    for s in SCHEMES:
        status, ts, m = _ENTRY.unpack_from(data, at)
        at += _ENTRY.size
        schemes[s] = (_STATUS[status], ts, data[at:at + m].decode())
        at += m
    return AccountRecord(district, offset, _BAND[band], band_ts, band_event, schemes)


def contribution(r: AccountRecord, account_type: str | None) -> list[tuple[int, tuple[str, str]]]:
    """What one account adds to the counters: (district, (counter, scheme or ``""``)) items.

    - ``enrolled``: latest status ENROLLED, whatever the account's type and band;
    - ``eligible``: a savings account (per the enablement feed) whose band is in the scheme's range;
    - ``covered``: eligible and enrolled (the coverage ratio's numerator);
    - ``unmatched``: enrolled, but the enablement feed does not know it as a savings account;
    - ``age_unknown``: a savings account that no enrolment event has reported a band for.
    """
    savings = account_type == SAVINGS
    d = r.district
    out: list[tuple[int, tuple[str, str]]] = []
    if savings and r.band is None:
        out.append((d, (AGE_UNKNOWN_N, "")))
    for s in SCHEMES:
        enrolled = r.schemes[s][0] == ENROLLED
        eligible = savings and r.band in ELIGIBLE[s]
        if enrolled:
            out.append((d, (ENROLLED_N, s)))
            if not savings:
                out.append((d, (UNMATCHED_N, s)))
        if eligible:
            out.append((d, (ELIGIBLE_N, s)))
            if enrolled:
                out.append((d, (COVERED_N, s)))
    return out


class EnrolmentPartitionState(StoreBackedState):
    """Counters of one enrolments partition; the accounts are in ``kv``, their types in ``types``."""

    def __init__(self, partition: int, registry: DistrictRegistry, max_future_skew: float, kv: PartitionKV,
                 types: AccountTypes) -> None:
        super().__init__(partition, registry, max_future_skew)
        self.kv = kv
        self.types = types
        #: district -> (counter, scheme) -> accounts (``contribution``); recounted, never saved
        self.counts: dict[int, Counter[tuple[str, str]]] = {}

    def _add(self, r: AccountRecord, account_type: str | None, sign: int) -> None:
        for d, name in contribution(r, account_type):
            c = self.counts.get(d)
            if c is None:
                c = self.counts[d] = Counter()
            c[name] += sign

    def recount(self) -> EnrolmentPartitionState:
        """Rebuild the counts from the store and the enablement lookups (see the module docstring)."""
        self.counts = {}
        for key, value in self.kv.scan(b""):
            if not key.startswith(RESERVED_PREFIX) and key != FAUST_OFFSET_KEY:
                self._add(unpack(value), self.types.account_type(key), 1)
        return self

    def apply(self, record: dict[str, Any], offset: int, now_ms: int) -> str:
        """Apply a checked, first-seen event to its account; returns its outcome."""
        ts, event_id, lgd, scheme = record["occurred_at"], record["event_id"], record["district_lgd"], record["scheme"]
        band = record.get("holder_age_band")
        key = account_key(record["bank_code"], record["account_ref"])
        raw = self.kv.get(key)
        if raw is None:
            r = AccountRecord(lgd, offset)
            before = None
        else:
            r = unpack(raw)
            if r.offset >= offset:
                # a replay after a crash: the store already holds its effect; the newest event it
                # holds still counts for the last-event figures, which the restored checkpoint
                # (older than the store) may not have (as seeding's and enablement's replays do)
                held = r.latest()[0]
                self.seen(record["bank_code"], held, r.district)
                return "accepted"
            before = pack(r)
        newest = raw is None or (ts, event_id) > r.latest()
        changed = False
        if (ts, event_id) > r.schemes[scheme][1:]:
            r.schemes[scheme] = (record["status"], ts, event_id)
            changed = True
        if band is not None and (ts, event_id) > (r.band_ts, r.band_event):
            r.band, r.band_ts, r.band_event = band, ts, event_id
            changed = True
        if not changed:
            return "late"  # superseded for its scheme and for the band
        account_type = self.types.account_type(key)
        if before is not None:
            self._add(unpack(before), account_type, -1)
        if newest:
            r.district = lgd
        r.offset = offset
        self._add(r, account_type, 1)
        self.kv.put(key, pack(r))
        self.seen(record["bank_code"], ts, lgd)
        return "accepted"

    def type_changed(self, key: bytes, old_district: int | None, old_type: str | None,
                     new_district: int | None, new_type: str | None) -> None:
        """The enablement feed changed ``key``'s type in this partition's store: move its counts.

        The account is counted in its enrolment district (the districts are the enablement
        feed's, given for its own counts); only the type matters here.
        """
        if (old_type == SAVINGS) == (new_type == SAVINGS):
            return
        raw = self.kv.get(key)
        if raw is None:
            return  # never in the enrolment feed: no band, no enrolment to count
        r = unpack(raw)
        self._add(r, old_type, -1)
        self._add(r, new_type, 1)

    def figures(self, lgd: int) -> Counter[tuple[str, str]]:
        """The district's counters (empty if it has none here)."""
        return self.counts.get(lgd, Counter())
