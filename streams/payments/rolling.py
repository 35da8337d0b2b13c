"""Event-time minute buckets with running sums per window.

A window of W seconds covers the buckets in (head - W, head], where head is the
newest bucket seen: the window ends at the latest event time, not the wall clock,
so a replay or a delayed feed yields the same figures as a live one. Sums are kept
incrementally (add on arrival, subtract on eviction) so a scrape costs O(windows).
"""

from __future__ import annotations

from typing import Any

__all__ = ["BUCKET_SECONDS", "STATUSES", "VECTOR", "RollingCounts", "slot"]

BUCKET_SECONDS = 60
STATUSES = ("SUCCESS", "TECHNICAL_DECLINE", "BUSINESS_DECLINE")
_STATUS_INDEX = {s: i for i, s in enumerate(STATUSES)}
#: A bucket is [count per (status, mode)] + [paise per (status, mode)]; mode 0 non-digital, 1 digital.
VECTOR = 2 * len(STATUSES) * 2
_VALUE_OFFSET = len(STATUSES) * 2


def slot(status: str, digital: bool) -> int:
    """Index of the count for (status, mode); the value sits ``_VALUE_OFFSET`` further."""
    return _STATUS_INDEX[status] * 2 + int(digital)


class RollingCounts:
    """Counts and values per (status, mode) over several event-time windows."""

    __slots__ = ("buckets", "head", "sums", "widths")

    def __init__(self, windows: tuple[float, ...]) -> None:
        self.widths = tuple(max(1, int(w // BUCKET_SECONDS)) for w in windows)
        self.buckets: dict[int, list[int]] = {}
        self.sums = [[0] * VECTOR for _ in self.widths]
        self.head: int | None = None

    def add(self, bucket: int, idx: int, amount: int) -> bool:
        """Count one event; False (and nothing counted) if it is older than the longest window."""
        if self.head is None:
            self.head = bucket
        elif bucket > self.head:
            self.advance_to(bucket)
        if bucket <= self.head - self.widths[-1]:
            return False
        vec = self.buckets.get(bucket)
        if vec is None:
            vec = self.buckets[bucket] = [0] * VECTOR
        vec[idx] += 1
        vec[idx + _VALUE_OFFSET] += amount
        head = self.head
        for width, sums in zip(self.widths, self.sums, strict=True):
            if bucket > head - width:
                sums[idx] += 1
                sums[idx + _VALUE_OFFSET] += amount
        return True

    def advance_to(self, new_head: int) -> None:
        """Move the windows' end to bucket ``new_head`` (no-op if not newer), evicting old buckets."""
        old = self.head
        if old is None or new_head <= old:
            if old is None:
                self.head = new_head
            return
        for width, sums in zip(self.widths, self.sums, strict=True):
            lo, hi = old - width + 1, new_head - width + 1  # buckets in [lo, hi) leave this window
            keys = range(lo, hi) if hi - lo <= len(self.buckets) else [b for b in self.buckets if lo <= b < hi]
            for b in keys:
                vec = self.buckets.get(b)
                if vec is not None:
                    for i, v in enumerate(vec):
                        sums[i] -= v
        cutoff = new_head - self.widths[-1]
        if self.buckets and min(self.buckets) <= cutoff:
            for b in [b for b in self.buckets if b <= cutoff]:
                del self.buckets[b]
        self.head = new_head

    def window(self, i: int) -> list[int]:
        """The summed vector of window ``i`` (in the order the windows were given)."""
        return self.sums[i]

    def saved(self) -> list[Any]:
        """``[head, sums]``: with the buckets, what ``load`` needs to skip recomputing the sums."""
        return [self.head, self.sums]

    def load(self, buckets: dict[int, list[int]], saved: list[Any]) -> None:
        """Rebuild from saved buckets and the ``saved()`` of the same checkpoint (no summing: a 24 h
        window of many banks took ~1 s per partition to re-add)."""
        head, sums = saved
        self.head = head
        self.sums = [list(x) for x in sums]
        lo = head - self.widths[-1] if head is not None else None
        self.buckets = {b: list(v) for b, v in buckets.items() if lo is None or b > lo}

    def restore(self, buckets: dict[int, list[int]]) -> None:
        """Rebuild from saved buckets (a checkpoint); sums are derived, not saved."""
        self.buckets = {}
        self.sums = [[0] * VECTOR for _ in self.widths]
        self.head = max(buckets) if buckets else None
        for b, vec in sorted(buckets.items()):
            if self.head is not None and b <= self.head - self.widths[-1]:
                continue
            self.buckets[b] = list(vec)
            for width, sums in zip(self.widths, self.sums, strict=True):
                if self.head is not None and b > self.head - width:
                    for i, v in enumerate(vec):
                        sums[i] += v


def count(vec: list[int], status: str, digital: bool) -> int:
    return vec[slot(status, digital)]


def value(vec: list[int], status: str, digital: bool) -> int:
    return vec[slot(status, digital) + _VALUE_OFFSET]
