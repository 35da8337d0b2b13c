"""The payment index of one source partition: pure logic, no Kafka, no Faust.

A partition holds a few districts (events are keyed by district). Applying an event updates
the district's rolling windows, its per-bank windows and the cumulative counters. Checks,
the horizon and deduplication happen before, in the shared processor
(``streams.processor.loop``); this module only counts. Windows end at the district's latest
event time, but never past this worker's clock: an event stamped a few minutes ahead (within
the allowed skew) is counted in the current minute, so no single event moves a window into
the future.
"""

from __future__ import annotations

import base64
import zlib
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ..channels import is_digital
from ..processor.signal import StateBase
from ..registry import DistrictRegistry
from .rolling import BUCKET_SECONDS, RollingCounts, slot

__all__ = ["ACCEPTED", "DUPLICATE", "LATE", "REJECTED", "DistrictPayments", "PaymentPartitionState"]

ACCEPTED, DUPLICATE, LATE, REJECTED = "accepted", "duplicate", "late", "rejected"
_BUCKET_MS = BUCKET_SECONDS * 1000


@dataclass(slots=True)
class DistrictPayments:
    """One district's figures: windows overall and per bank, and cumulative counters."""

    rolling: RollingCounts
    banks: dict[str, RollingCounts] = field(default_factory=dict)
    #: (channel, status) -> count of every accepted payment, late ones included.
    totals: Counter[tuple[str, str]] = field(default_factory=Counter)
    #: paise of successful payments: [non-digital, digital].
    amounts: list[int] = field(default_factory=lambda: [0, 0])
    last_event_ms: int = 0


class PaymentPartitionState(StateBase):
    """Everything the worker knows about one payments partition."""

    def __init__(self, partition: int, registry: DistrictRegistry, windows: tuple[float, ...],
                 max_future_skew: float) -> None:
        super().__init__(partition, registry, max_future_skew)
        self.windows = windows
        self.districts: dict[int, DistrictPayments] = {}
        #: (district, minute bucket) touched since the last checkpoint
        self.dirty: set[tuple[int, int]] = set()

    def district(self, lgd: int) -> DistrictPayments:
        d = self.districts.get(lgd)
        if d is None:
            d = self.districts[lgd] = DistrictPayments(RollingCounts(self.windows))
        return d

    def apply(self, record: dict[str, Any], offset: int, now_ms: int) -> str:
        """Count one checked, first-seen event; returns ``accepted`` or ``late``."""
        ts = record["occurred_at"]
        bank = record["bank_code"]
        lgd = record["district_lgd"]
        d = self.district(lgd)
        channel, status, amount = record["channel"], record["status"], record["amount_paise"]
        digital = is_digital(channel)
        d.totals[(channel, status)] += 1
        if status == "SUCCESS":
            d.amounts[digital] += amount
        if ts > d.last_event_ms:
            d.last_event_ms = ts
        self.seen_bank(bank, ts, lgd)
        bucket = min(ts, now_ms) // _BUCKET_MS
        idx = slot(status, digital)
        rolling = d.rolling
        head = rolling.head
        if not rolling.add(bucket, idx, amount):
            return LATE
        if head is not None and rolling.head != head:  # a new minute: every bank's windows end there too
            for r in d.banks.values():
                r.advance_to(rolling.head)  # type: ignore[arg-type]
        bank_rolling = d.banks.get(bank)
        if bank_rolling is None:
            bank_rolling = d.banks[bank] = RollingCounts(self.windows)
            bank_rolling.advance_to(rolling.head)  # type: ignore[arg-type]
        bank_rolling.add(bucket, idx, amount)
        self.dirty.add((lgd, bucket))
        return ACCEPTED

    # --- checkpoint form -------------------------------------------------------------------------

    def counters(self) -> dict[str, Any]:
        """The small, whole part of the state: offsets, counters, freshness."""
        c = self.base_counters()
        c["districts"] = {
            str(lgd): {"totals": [[ch, st, n] for (ch, st), n in d.totals.items()], "amounts": d.amounts,
                       "last": d.last_event_ms, "w": d.rolling.saved(),
                       "wb": {bank: r.saved() for bank, r in d.banks.items()}}
            for lgd, d in self.districts.items()
        }
        return c

    def bucket_payload(self, lgd: int, bucket: int) -> dict[str, Any] | None:
        """One minute of one district (overall and per bank), or None if it has been evicted."""
        d = self.districts[lgd]
        vec = d.rolling.bucket(bucket)
        if vec is None:
            return None
        banks = {}
        for bank, r in d.banks.items():
            bvec = r.bucket(bucket)
            if bvec is not None:
                banks[bank] = bvec
        return {"t": vec, "b": banks}

    def all_buckets(self) -> dict[str, dict[str, Any]]:
        """Every live bucket of every district (a comparison form, for tests)."""
        return {str(lgd): {str(b): self.bucket_payload(lgd, b) for b in d.rolling.live()}
                for lgd, d in self.districts.items()}

    def packed_buckets(self) -> dict[str, Any]:
        """Every window ring as it is in memory, base64: a day of minutes of a dozen banks encodes and
        decodes in milliseconds, with no Python object per bucket (``RollingCounts.packed``)."""
        return {str(lgd): {"t": _b64(d.rolling.packed()), "b": {bank: _b64(r.packed()) for bank, r in d.banks.items()}}
                for lgd, d in self.districts.items()}

    def snapshot(self) -> dict[str, Any]:
        return {"counters": self.counters(), "rings": self.packed_buckets()}

    def delta(self) -> dict[str, Any]:
        buckets: dict[str, dict[str, Any]] = {}
        for lgd, b in sorted(self.dirty):
            buckets.setdefault(str(lgd), {})[str(b)] = self.bucket_payload(lgd, b)
        return {"counters": self.counters(), "buckets": buckets}

    def checkpointed(self) -> None:
        self.dirty = set()

    def load(self, snapshot: dict[str, Any], deltas: list[dict[str, Any]]) -> None:
        """The snapshot's rings and windows, then each delta's minutes over them, then the last
        checkpoint's window sums and heads (the deltas' minutes are whole: nothing is re-added)."""
        counters = snapshot.get("counters")
        if counters is None:
            return
        first = {int(lgd): dc for lgd, dc in counters["districts"].items()}
        for part in deltas:
            counters = part.get("counters", counters)
        self.load_counters(counters)
        rings = snapshot.get("rings", {})
        minutes: dict[int, dict[int, dict[str, Any]]] = {}
        for part in deltas:
            for lgd, changed in part.get("buckets", {}).items():
                target = minutes.setdefault(int(lgd), {})
                for b, payload in changed.items():
                    target[int(b)] = payload
        for lgd_s, dc in counters["districts"].items():
            lgd = int(lgd_s)
            d = self.district(lgd)
            ring = rings.get(lgd_s, {})
            before = first.get(lgd, {})
            changed = minutes.get(lgd, {})
            d.rolling = self._rebuild(ring.get("t"), before.get("w"), dc["w"],
                                      ((b, p["t"]) for b, p in changed.items() if p is not None))
            d.banks = {
                bank: self._rebuild(ring.get("b", {}).get(bank), before.get("wb", {}).get(bank), w,
                                    ((b, p["b"][bank]) for b, p in changed.items()
                                     if p is not None and bank in p["b"]))
                for bank, w in dc["wb"].items()}

    def _rebuild(self, packed: str | None, saved_then: list[Any] | None, saved_now: list[Any],
                 minutes: Iterable[tuple[int, list[int]]]) -> RollingCounts:
        """One window set: the snapshot's ring, moved to the last checkpoint's head, its changed minutes."""
        r = RollingCounts(self.windows)
        exact = packed is None or (saved_then is not None and r.load(_raw(packed), saved_then))
        r.move_to(saved_now[0])
        for b, vec in minutes:
            r.set_bucket(b, vec)
        if exact:
            r.sums = [list(x) for x in saved_now[1]]
        else:  # a ring of another shape (the windows changed): sums from what is live
            r.restore(r.live())
            if saved_now[0] is not None:
                r.advance_to(saved_now[0])
        return r

    def load_counters(self, c: dict[str, Any]) -> None:
        self.load_base(c)
        for lgd_s, dc in c["districts"].items():
            d = self.district(int(lgd_s))
            d.totals = Counter({(ch, st): n for ch, st, n in dc["totals"]})
            d.amounts = list(dc["amounts"])
            d.last_event_ms = dc["last"]


def _b64(raw: bytes) -> str:
    """A ring for a checkpoint: zlib on the int64 rows themselves (empty rows cost next to nothing:
    a day of minutes of one partition is ~0.6 MB, an hour ~50 KB), then base64 for the JSON."""
    return base64.b64encode(zlib.compress(raw, 1)).decode()


def _raw(text: str) -> bytes:
    return zlib.decompress(base64.b64decode(text))
