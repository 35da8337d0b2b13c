"""Per-account scheme enrolments and age band, and per-district coverage, for one source partition.

Accounts live in the partition's changelog-backed RocksDB store (one small packed record per
account, key ``bank_code|account_ref`` as in the seeding and enablement feeds); this module
decides what an event does to an account and keeps the per-district counts the store implies.
Per (account, scheme) the latest ``occurred_at`` wins, equal times ordered by ``event_id``; the
account's age band is the latest one reported (by the same order, over events carrying one),
and its district the one of its latest event. So redelivery in any order ends the same.

Coverage joins this feed with the enablement feed: an account is a savings account if the
enablement feed's store of the same partition says so (``AccountTypes``). Its age band is the
band of its latest event, of either feed, that carries one (by ``occurred_at``; at equal times
the enrolment feed's band wins), so the enablement feed can report the band of an account
enrolled in nothing: a savings account known only from the enablement feed is counted in its
enablement district as eligible for each scheme its band allows, enrolled in none. The counts are never
saved: they are recounted from both stores when the partition is assigned (``recount``), and
kept in step afterwards by ``apply`` (this feed) and ``type_changed`` (the enablement signal
calls it after it changes an account's district, type or band in partition ``p``'s store). The recount is
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
from collections.abc import Iterator
from typing import Any, Protocol

from ..enablement.state import NO_BAND, Band, EnablementView  # the view the join reads
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
    "Band",
    "EnablementView",
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

    def view(self, key: bytes) -> EnablementView | None:
        """The account's ``EnablementView``, or None if the enablement feed does not know it."""

    def scan(self) -> Iterator[tuple[bytes, EnablementView]]:
        """Every account the enablement feed knows in this partition (for accounts only it knows)."""


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


def band_of(r: AccountRecord | None, view: EnablementView | None) -> str | None:
    """The account's band: of the latest event of either feed carrying one (ties: the enrolment feed's)."""
    mine = None if r is None or r.band is None else (r.band_ts, r.band)
    theirs = None if view is None or view[1] is None else (view[2], view[1])
    if mine is None or (theirs is not None and theirs[0] > mine[0]):
        return None if theirs is None else theirs[1]
    return mine[1]


def contribution(r: AccountRecord | None, view: EnablementView | None) -> list[tuple[int, tuple[str, str]]]:
    """What one account adds to the counters: (district, (counter, scheme or ``""``)) items.

    ``r`` is the account in this feed's store (None: only the enablement feed knows it, then it
    is counted in its enablement district), ``view`` what the enablement feed knows of it.

    - ``enrolled``: latest status ENROLLED, whatever the account's type and band;
    - ``eligible``: a savings account (per the enablement feed) whose band (``band_of``) is in
      the scheme's range;
    - ``covered``: eligible and enrolled (the coverage ratio's numerator);
    - ``unmatched``: enrolled, but the enablement feed does not know it as a savings account;
    - ``age_unknown``: a savings account of this feed that no event of either feed has reported a
      band for (one only the enablement feed knows, without a band, is counted nowhere here: the
      enablement feed's own figures have it).
    """
    savings = view is not None and view[0] == SAVINGS
    if r is None and (not savings or view[3] < 0):  # type: ignore[index]
        return []  # (a district < 0: the lookup cannot tell it, nothing to count without the enrolment)
    assert r is not None or view is not None
    d = r.district if r is not None else view[3]  # type: ignore[index]
    band = band_of(r, view)
    out: list[tuple[int, tuple[str, str]]] = []
    if savings and band is None and r is not None:
        out.append((d, (AGE_UNKNOWN_N, "")))
    for s in SCHEMES:
        enrolled = r is not None and r.schemes[s][0] == ENROLLED
        eligible = savings and band in ELIGIBLE[s]
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

    def _add(self, r: AccountRecord | None, view: EnablementView | None, sign: int) -> None:
        for d, name in contribution(r, view):
            c = self.counts.get(d)
            if c is None:
                c = self.counts[d] = Counter()
            c[name] += sign

    def recount(self) -> EnrolmentPartitionState:
        """Rebuild the counts from the store and the enablement lookups (see the module docstring)."""
        self.counts = {}
        for key, value in self.kv.scan(b""):
            if not key.startswith(RESERVED_PREFIX) and key != FAUST_OFFSET_KEY:
                self._add(unpack(value), self.types.view(key), 1)
        for key, view in self.types.scan():  # savings accounts only the enablement feed knows
            if self.kv.get(key) is None:
                self._add(None, view, 1)
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
        view = self.types.view(key)
        self._add(None if before is None else unpack(before), view, -1)  # None: as the enablement feed counted it
        if newest:
            r.district = lgd
        r.offset = offset
        self._add(r, view, 1)
        self.kv.put(key, pack(r))
        self.seen(record["bank_code"], ts, lgd)
        return "accepted"

    def type_changed(self, key: bytes, old_district: int | None, old_type: str | None,
                     new_district: int | None, new_type: str | None, old_band: Band = NO_BAND,
                     new_band: Band = NO_BAND) -> None:
        """The enablement feed changed ``key``'s district, type or band in this partition's store: move its counts.

        An account of the enrolment feed is counted in its enrolment district; one only the
        enablement feed knows, in its enablement district (``contribution``).
        """
        raw = self.kv.get(key)
        r = None if raw is None else unpack(raw)
        old = None if old_type is None or old_district is None else (old_type, *old_band, old_district)
        new = None if new_type is None or new_district is None else (new_type, *new_band, new_district)
        self._add(r, old, -1)  # type: ignore[arg-type]
        self._add(r, new, 1)  # type: ignore[arg-type]

    def figures(self, lgd: int) -> Counter[tuple[str, str]]:
        """The district's counters (empty if it has none here)."""
        return self.counts.get(lgd, Counter())
