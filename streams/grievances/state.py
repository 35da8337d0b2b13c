"""Grievances of one source partition: each grievance in RocksDB, small aggregates in the checkpoint.

A grievance is (bank_code, grievance_ref). Its record lives in the partition's changelog-backed
store (millions fit; not Python objects) and is written once per field: the first RAISED sets
the raising, the first RESOLVED the resolution. The per (district, bank) aggregates the metrics
read (open grievances by due date, resolutions by turn-around outcome, days late, anomalies)
and the per-district resolution windows are small, so they are the checkpointed counters.

The store is written per event, the counters per checkpoint, so after a crash the store may be
ahead of the restored counters (never behind: the checkpoint follows the writes in the same
changelog partition). The replayed events then must count again without writing again. Each
field carries the offset of the event that set it, so the grievance as it was just before any
offset is known (the fields set at or after it are not there yet): every event's effect on the
counters is judged against that view, and an event the store already holds writes nothing.

Resolved grievances expire: one resolved more than ``retention_days`` before the partition's
newest event day is forgotten (an event for it is judged as for a grievance never seen) and
deleted after the next checkpoint, through an index of resolved grievances by day
(``EXPIRY_PREFIX``). Judged by the events alone, whether deleted yet or not, so a replay ends as
the first pass did (``expired``, ``expire``; README, Limits).

Anomalies are accepted and counted (``digindex_grievance_anomalies_total``), never refused:
- ``resolved_unknown``: a RESOLVED for a grievance never raised here (raised before the feed
  began, or its RAISED is still to come). Its T, R and case are on the event, so it is counted
  among the resolutions like any other, and the grievance is recorded as resolved;
- ``raised_twice``: a second RAISED (another event id) of an open or resolved grievance: the
  first raising stands;
- ``resolved_twice``: a second RESOLVED: the first resolution stands;
- ``raised_after_resolved``: a RAISED of a grievance already resolved (out of order, or raised
  again after its resolution): it is not opened again.
A refusal would lose a real resolution (the first), or change nothing the bank could fix by
resending (the others); the bank's coordinator sees them by bank instead.
"""

from __future__ import annotations

import struct
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from ..processor.kv import PartitionKV
from ..processor.signal import StateBase
from ..registry import DistrictRegistry
from .tat import CASES, due_day, ist_day, late_days

__all__ = [
    "ANOMALIES",
    "EXPIRY_PREFIX",
    "RESERVED_PREFIX",
    "Aggregate",
    "GrievancePartitionState",
    "GrievanceRecord",
    "grievance_key",
    "pack",
    "unpack",
]

#: Store keys starting with this byte are the checkpoints; grievance keys start with a bank code.
RESERVED_PREFIX = b"\x00"
#: The expiry index: one key per resolved grievance, by resolution day (``expiry_key``).
EXPIRY_PREFIX = RESERVED_PREFIX + b"X/"
#: Expired grievances deleted per checkpoint at most: a backlog leaves gradually, not in one stall.
EXPIRE_PER_SAVE = 512
ANOMALIES = ("raised_after_resolved", "raised_twice", "resolved_twice", "resolved_unknown")
#: resolution outcomes, as the ``tat`` label: within the turn-around time, past it, no TAT (OTHER)
WITHIN, PAST, NONE = "within", "past", "none"
_TAT = (WITHIN, PAST, NONE)
BUCKET_MS = 60_000
_REC = struct.Struct("<IBiqqi")  # district, case index, T, raised offset, resolved offset, R
_CASE = {c: i for i, c in enumerate(CASES)}


def grievance_key(bank_code: str, grievance_ref: str) -> bytes:
    return f"{bank_code}|{grievance_ref}".encode()


@dataclass(slots=True)
class GrievanceRecord:
    """One grievance as stored; an offset of -1 means the field is not set.

    ``previous``: the expired grievance this one replaced (same bank and reference, raised or
    resolved again after the retention), kept so that a replay of the events before this one's
    first still sees what they saw.
    """

    district: int
    case: str
    transaction_day: int
    raised_offset: int = -1
    resolved_offset: int = -1
    resolved_day: int = 0
    previous: GrievanceRecord | None = None

    def first_offset(self) -> int:
        return min(o for o in (self.raised_offset, self.resolved_offset) if o >= 0)

    def as_of(self, offset: int) -> GrievanceRecord:
        """The record an event at ``offset`` saw: the replaced one for an offset before this one's first."""
        if self.previous is not None and offset < self.first_offset():
            return self.previous
        return self

    def raised_before(self, offset: int) -> bool:
        return 0 <= self.raised_offset < offset

    def resolved_before(self, offset: int) -> bool:
        return 0 <= self.resolved_offset < offset

    def holds(self, offset: int) -> bool:
        """The store already has the effect of the event at ``offset`` (or a later one's)."""
        return self.raised_offset >= offset or self.resolved_offset >= offset


def pack(r: GrievanceRecord) -> bytes:
    out = _REC.pack(r.district, _CASE[r.case], r.transaction_day, r.raised_offset, r.resolved_offset,
                    r.resolved_day)
    return out if r.previous is None else out + pack(r.previous)[:_REC.size]


def unpack(data: bytes) -> GrievanceRecord:
    d, c, t, ro, so, rd = _REC.unpack_from(data)
    previous = unpack(data[_REC.size:]) if len(data) > _REC.size else None
    return GrievanceRecord(d, CASES[c], t, ro, so, rd, previous)


def expiry_key(day: int, key: bytes) -> bytes:
    """The expiry index's key of a grievance resolved on ``day`` (scanned in day order)."""
    return EXPIRY_PREFIX + b"%06d/" % day + key


@dataclass
class Aggregate:
    """One (district, bank): what the metrics read."""

    #: due day -> open grievances with a turn-around time due that day
    open_due: Counter[int] = field(default_factory=Counter)
    #: open grievances without a turn-around time (OTHER)
    open_other: int = 0
    #: resolutions by outcome: within, past, none
    resolved: Counter[str] = field(default_factory=Counter)
    #: days late summed over the resolutions past their turn-around time
    resolved_late_days: int = 0
    anomalies: Counter[str] = field(default_factory=Counter)

    def saved(self) -> list[Any]:
        return [{str(d): n for d, n in self.open_due.items()}, self.open_other, dict(self.resolved),
                self.resolved_late_days, dict(self.anomalies)]

    def open_on(self, day: int) -> tuple[int, int, int]:
        """(open within their turn-around time, open past it, days late summed over those) on ``day``."""
        within = past = late = 0
        for due, n in self.open_due.items():
            if day > due:
                past += n
                late += n * (day - due)
            else:
                within += n
        return within, past, late

    @classmethod
    def loaded(cls, v: list[Any]) -> Aggregate:
        return cls(Counter({int(d): n for d, n in v[0].items()}), v[1], Counter(v[2]), v[3], Counter(v[4]))


class GrievancePartitionState(StateBase):
    """Counters of one grievances partition; the grievances themselves are in ``kv``."""

    def __init__(self, partition: int, registry: DistrictRegistry, max_future_skew: float, kv: PartitionKV,
                 windows: tuple[float, ...], days: int, retention_days: int = 35) -> None:
        super().__init__(partition, registry, max_future_skew)
        self.kv = kv
        #: a grievance resolved more than this many days before the partition's newest event day is
        #: forgotten (``expired``)
        self.retention_days = retention_days
        #: the newest event time of the partition (the max of ``last_event_ms``): expiry's clock
        self.newest_ms = 0
        #: grievances deleted from the store by this process (for tests and debugging)
        self.deleted = 0
        self.windows = windows
        #: ``digindex_grievance_resolved_within_days_ratio``'s day count
        self.days = days
        self._span = max(1, int(max(windows) * 1000 // BUCKET_MS))
        self.aggregates: dict[tuple[int, str], Aggregate] = {}
        #: district -> minute -> [resolved with a TAT, of them within it, of them within ``days``]
        self.minutes: dict[int, dict[int, list[int]]] = {}
        #: district -> the minute its windows end at (its latest grievance event, never past the clock)
        self.heads: dict[int, int] = {}
        self.last_event_ms: dict[int, int] = {}
        self._dirty: set[tuple[int, int]] = set()

    def aggregate(self, lgd: int, bank: str) -> Aggregate:
        a = self.aggregates.get((lgd, bank))
        if a is None:
            a = self.aggregates[(lgd, bank)] = Aggregate()
        return a

    def apply(self, record: dict[str, Any], offset: int, now_ms: int) -> str:
        """Apply a checked, first-seen event to its grievance; returns its outcome."""
        ts, bank, lgd = record["occurred_at"], record["bank_code"], record["district_lgd"]
        key = grievance_key(bank, record["grievance_ref"])
        raw = self.kv.get(key)
        stored = unpack(raw) if raw is not None else None
        replay = stored is not None and stored.holds(offset)
        if ts > self.last_event_ms.get(lgd, 0):
            self.last_event_ms[lgd] = ts
        if ts > self.newest_ms:
            self.newest_ms = ts
        g = stored.as_of(offset) if stored is not None else None
        gone = g if g is not None and self.expired(g, offset) else None
        if gone is not None:
            g = None  # forgotten: this event is judged as for a grievance never seen
        self.seen_bank(bank, ts, lgd)
        outcome = "accepted"
        if record["action"] == "RAISED":
            if g is not None and g.resolved_before(offset):
                self.aggregate(g.district, bank).anomalies["raised_after_resolved"] += 1
            elif g is not None and g.raised_before(offset):
                self.aggregate(g.district, bank).anomalies["raised_twice"] += 1
            else:
                g = GrievanceRecord(lgd, record["case"], record["transaction_date"], raised_offset=offset,
                                    previous=gone) if g is None else g
                self._open(g, bank, +1)
                if not replay:
                    g.raised_offset = offset
                    self.kv.put(key, pack(g))
        else:
            r_day = ist_day(ts)
            if g is not None and g.resolved_before(offset):
                self.aggregate(g.district, bank).anomalies["resolved_twice"] += 1
            else:
                if g is None or not g.raised_before(offset):
                    if g is None:
                        g = GrievanceRecord(lgd, record["case"], record["transaction_date"], previous=gone)
                    self.aggregate(g.district, bank).anomalies["resolved_unknown"] += 1
                else:
                    self._open(g, bank, -1)
                if not self._resolve(g, bank, r_day, min(ts, now_ms)):
                    outcome = "late"
                if not replay:
                    g.resolved_offset, g.resolved_day = offset, r_day
                    self.kv.put(key, pack(g))
                    self.kv.put(expiry_key(r_day, key), b"\x01")
        self._advance(g.district if g is not None else lgd, min(ts, now_ms) // BUCKET_MS)
        return outcome

    def expired(self, g: GrievanceRecord, offset: int) -> bool:
        """Whether ``g``, as an event at ``offset`` sees it, was resolved more than ``retention_days``
        before the partition's newest event day. A function of the events alone (no clock), so a
        replay judges every event as the first pass did, whether the store still holds ``g`` or not."""
        return g.resolved_before(offset) and ist_day(self.newest_ms) - g.resolved_day > self.retention_days

    def expire(self, limit: int = EXPIRE_PER_SAVE) -> int:
        """Delete up to ``limit`` grievances expired as of the newest event (after a checkpoint: see below).

        Called once the checkpoint covering ``newest_ms`` is written, and the deletes follow it in
        the same changelog partition: a restore that finds a grievance deleted restores that
        checkpoint or a later one, so every event it replays has it expired anyway. An index entry
        whose grievance was raised or resolved again since (a newer record under the key) is dropped
        alone."""
        cutoff = ist_day(self.newest_ms) - self.retention_days  # resolved before this day: expired
        entries = []
        for key, _ in self.kv.scan(EXPIRY_PREFIX):
            day = int(key[len(EXPIRY_PREFIX):len(EXPIRY_PREFIX) + 6])
            if day >= cutoff or len(entries) >= limit:
                break
            entries.append((key, day, key[len(EXPIRY_PREFIX) + 7:]))
        for key, day, gkey in entries:
            raw = self.kv.get(gkey)
            g = unpack(raw) if raw is not None else None
            if g is not None and g.resolved_offset >= 0 and g.resolved_day == day:
                self.kv.delete(gkey)
                self.deleted += 1
            self.kv.delete(key)
        return len(entries)

    def _open(self, g: GrievanceRecord, bank: str, n: int) -> None:
        a = self.aggregate(g.district, bank)
        due = due_day(g.case, g.transaction_day)
        if due is None:
            a.open_other += n
            return
        left = a.open_due[due] + n
        if left:
            a.open_due[due] = left
        else:
            del a.open_due[due]

    def _resolve(self, g: GrievanceRecord, bank: str, r_day: int, ts: int) -> bool:
        """Count a resolution; False when its minute is older than the longest window (cumulative only)."""
        a = self.aggregate(g.district, bank)
        due = due_day(g.case, g.transaction_day)
        if due is None:
            a.resolved[NONE] += 1
            return True
        late = late_days(due, r_day)
        a.resolved[PAST if late else WITHIN] += 1
        a.resolved_late_days += late
        minute = ts // BUCKET_MS
        head = self.heads.get(g.district)
        if head is not None and minute <= head - self._span:
            return False
        self._advance(g.district, minute)
        m = self.minutes.setdefault(g.district, {}).setdefault(minute, [0, 0, 0])
        m[0] += 1
        m[1] += not late
        m[2] += r_day - g.transaction_day <= self.days
        self._dirty.add((g.district, minute))
        return True

    def _advance(self, lgd: int, minute: int) -> None:
        """Move the district's windows to end at ``minute`` (if later), dropping the minutes that leave."""
        head = self.heads.get(lgd)
        if head is not None and minute <= head:
            return
        self.heads[lgd] = minute
        minutes = self.minutes.get(lgd)
        if minutes:
            for old in [b for b in minutes if b <= minute - self._span]:
                del minutes[old]

    def window(self, lgd: int, seconds: float) -> list[int]:
        """[resolved with a TAT, within it, within ``days``] over the window ending at the district's head."""
        head = self.heads.get(lgd)
        out = [0, 0, 0]
        if head is None:
            return out
        start = head - max(1, int(seconds * 1000 // BUCKET_MS))
        for b, v in self.minutes.get(lgd, {}).items():
            if b > start:
                out[0] += v[0]
                out[1] += v[1]
                out[2] += v[2]
        return out

    # --- checkpoint form -------------------------------------------------------------------------

    def counters(self) -> dict[str, Any]:
        c = self.base_counters()
        c["g"] = [[lgd, bank, a.saved()] for (lgd, bank), a in sorted(self.aggregates.items())]
        c["heads"] = {str(k): v for k, v in self.heads.items()}
        c["last"] = {str(k): v for k, v in self.last_event_ms.items()}
        return c

    def snapshot(self) -> dict[str, Any]:
        c = self.counters()
        c["minutes"] = {str(lgd): {str(b): v for b, v in m.items()} for lgd, m in self.minutes.items()}
        return c

    def delta(self) -> dict[str, Any]:
        c = self.counters()
        changed: dict[str, dict[str, list[int]]] = {}
        for lgd, b in sorted(self._dirty):
            v = self.minutes.get(lgd, {}).get(b)
            if v is not None:
                changed.setdefault(str(lgd), {})[str(b)] = v
        c["minutes"] = changed
        return c

    def checkpointed(self) -> None:
        self._dirty = set()
        self.expire()

    def load(self, snapshot: dict[str, Any], deltas: list[dict[str, Any]]) -> None:
        """The last checkpoint's counters; the snapshot's minutes, each delta's over them, then pruned."""
        if not snapshot:
            return
        parts = [snapshot, *deltas]
        c = parts[-1]
        self.load_base(c)
        self.aggregates = {(lgd, bank): Aggregate.loaded(v) for lgd, bank, v in c["g"]}
        self.heads = {int(k): v for k, v in c["heads"].items()}
        self.last_event_ms = {int(k): v for k, v in c["last"].items()}
        self.newest_ms = max(self.last_event_ms.values(), default=0)
        self.minutes = {}
        for part in parts:
            for lgd, m in part["minutes"].items():
                self.minutes.setdefault(int(lgd), {}).update({int(b): list(v) for b, v in m.items()})
        for lgd, head in self.heads.items():
            minutes = self.minutes.get(lgd)
            if minutes:
                for old in [b for b in minutes if b <= head - self._span]:
                    del minutes[old]

    def comparable(self) -> dict[str, Any]:
        """Everything but the offset bookkeeping, for restore-equality tests."""
        return {"g": self.counters()["g"], "heads": self.heads, "last": self.last_event_ms,
                "minutes": {lgd: dict(sorted(m.items())) for lgd, m in sorted(self.minutes.items()) if m}}
