"""The payment index of one source partition: pure logic, no Kafka, no Faust.

A partition holds a few districts (events are keyed by district). Applying an
event updates the district's rolling windows, its per-bank windows and the
cumulative counters, after the domain checks and deduplication. The state knows
the source offset it has applied up to, so a checkpoint of it and that offset
always agree (see ``checkpoint.py``).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from ..channels import is_digital
from ..dedupe import DedupeIndex, dedupe_key
from ..errors import TooOld
from ..registry import DistrictRegistry
from ..validation import check_event
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


class PaymentPartitionState:
    """Everything the worker knows about one payments partition."""

    def __init__(self, partition: int, registry: DistrictRegistry, windows: tuple[float, ...],
                 dedupe_horizon: float, max_future_skew: float) -> None:
        self.partition = partition
        self.registry = registry
        self.windows = windows
        self.offset = -1  # last source offset applied (any outcome)
        self.watermark_ms = 0  # newest event time seen in this partition
        self.districts: dict[int, DistrictPayments] = {}
        self.dedupe = DedupeIndex(dedupe_horizon)
        self.outcomes: Counter[str] = Counter()
        self.deadletters: Counter[str] = Counter()
        self.bank_last_event_ms: dict[str, int] = {}
        self._max_future_ms = int(max_future_skew * 1000)
        # Since the last checkpoint: ids added and buckets touched, per district.
        self.new_ids: list[tuple[str, int]] = []
        self.dirty: set[tuple[int, int]] = set()
        self.applied_since_checkpoint = 0

    def district(self, lgd: int) -> DistrictPayments:
        d = self.districts.get(lgd)
        if d is None:
            d = self.districts[lgd] = DistrictPayments(RollingCounts(self.windows))
        return d

    def apply(self, record: dict[str, Any], offset: int, now_ms: int) -> str:
        """Apply one decoded event; returns its outcome, or raises ``EventError`` to reject it."""
        self.offset = offset
        self.applied_since_checkpoint += 1
        check_event(record, self.registry, now_ms, self._max_future_ms)
        ts = record["occurred_at"]
        if ts < self.watermark_ms - self.dedupe.horizon_ms:
            raise TooOld(f"occurred_at is older than the deduplication horizon "
                         f"({self.dedupe.horizon_ms // 3_600_000} h before the newest event)", "occurred_at")
        bank = record["bank_code"]
        key = dedupe_key(bank, record["event_id"])
        if not self.dedupe.add(key, ts):
            self.outcomes[DUPLICATE] += 1
            return DUPLICATE
        self.new_ids.append((key, ts))
        if ts > self.watermark_ms:
            self.watermark_ms = ts
        lgd = record["district_lgd"]
        d = self.district(lgd)
        channel, status, amount = record["channel"], record["status"], record["amount_paise"]
        digital = is_digital(channel)
        d.totals[(channel, status)] += 1
        if status == "SUCCESS":
            d.amounts[digital] += amount
        if ts > d.last_event_ms:
            d.last_event_ms = ts
        if ts > self.bank_last_event_ms.get(bank, 0):
            self.bank_last_event_ms[bank] = ts
        bucket = ts // _BUCKET_MS
        idx = slot(status, digital)
        if not d.rolling.add(bucket, idx, amount):
            self.outcomes[LATE] += 1
            return LATE
        bank_rolling = d.banks.get(bank)
        if bank_rolling is None:
            bank_rolling = d.banks[bank] = RollingCounts(self.windows)
        bank_rolling.add(bucket, idx, amount)
        self.dirty.add((lgd, bucket))
        self.outcomes[ACCEPTED] += 1
        return ACCEPTED

    def reject(self, reason: str, offset: int) -> None:
        """Count an event refused before or during ``apply``."""
        self.offset = offset
        self.outcomes[REJECTED] += 1
        self.deadletters[reason] += 1

    # --- checkpoint form -------------------------------------------------------------------------

    def counters(self) -> dict[str, Any]:
        """The small, whole part of the state: offsets, counters, freshness."""
        return {
            "offset": self.offset,
            "watermark_ms": self.watermark_ms,
            "outcomes": dict(self.outcomes),
            "deadletters": dict(self.deadletters),
            "banks_last": self.bank_last_event_ms,
            "districts": {
                str(lgd): {
                    "totals": [[c, s, n] for (c, s), n in d.totals.items()],
                    "amounts": d.amounts,
                    "last": d.last_event_ms,
                }
                for lgd, d in self.districts.items()
            },
        }

    def bucket_payload(self, lgd: int, bucket: int) -> dict[str, Any] | None:
        """One minute of one district (overall and per bank), or None if it has been evicted."""
        d = self.districts[lgd]
        vec = d.rolling.buckets.get(bucket)
        if vec is None:
            return None
        return {"t": vec, "b": {bank: r.buckets[bucket] for bank, r in d.banks.items() if bucket in r.buckets}}

    def all_buckets(self) -> dict[str, dict[str, Any]]:
        """Every live bucket of every district, for a full snapshot."""
        out: dict[str, dict[str, Any]] = {}
        for lgd, d in self.districts.items():
            out[str(lgd)] = {str(b): self.bucket_payload(lgd, b) for b in d.rolling.buckets}
        return out

    def load_counters(self, c: dict[str, Any]) -> None:
        self.offset = c["offset"]
        self.watermark_ms = c["watermark_ms"]
        self.outcomes = Counter(c["outcomes"])
        self.deadletters = Counter(c["deadletters"])
        self.bank_last_event_ms = dict(c["banks_last"])
        for lgd_s, dc in c["districts"].items():
            d = self.district(int(lgd_s))
            d.totals = Counter({(ch, st): n for ch, st, n in dc["totals"]})
            d.amounts = list(dc["amounts"])
            d.last_event_ms = dc["last"]

    def load_buckets(self, buckets: dict[int, dict[int, dict[str, Any]]]) -> None:
        """Rebuild every district's windows from saved minute buckets."""
        for lgd, minutes in buckets.items():
            d = self.district(lgd)
            d.rolling.restore({b: p["t"] for b, p in minutes.items() if p is not None})
            per_bank: dict[str, dict[int, list[int]]] = {}
            for b, p in minutes.items():
                if p is not None:
                    for bank, vec in p["b"].items():
                        per_bank.setdefault(bank, {})[b] = vec
            d.banks = {}
            for bank, bmap in per_bank.items():
                r = d.banks[bank] = RollingCounts(self.windows)
                r.restore(bmap)
                # a bank's head follows its district's, so its windows end at the same time
                if d.rolling.head is not None:
                    r.advance_to(d.rolling.head)
