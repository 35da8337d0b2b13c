"""Event-time buckets x keys x slots in one flat array; window sums are computed when read.

The purpose, department and branch figures of a district (issue 10) are counts per *key* (a
purpose, a department code, a branch IFSC) and per slot (successful non-digital, digital, by
QR ...) over the same windows as the district's ``RollingCounts``. A ``RollingCounts`` per key
would keep running sums (a Python list per window) and a full vector per bucket: 138 KB per
key at minute resolution, far too much for ~2,400 branches a state (160,000 in India). A grid
keeps one ``array`` of ``span x capacity x slots`` integers (bucket ``b`` in row ``b % span``,
key ``k`` in column ``index[k]``) and nothing else per key: adding an event is one or two
integer additions, moving the head zeroes the rows that leave, and a window's sums are a numpy
sum over its rows at read time (a scrape, an API call), so no running sums are kept or saved.

Columns are added as keys appear (capacity grows by half, at least 8, so a grid is at most
1.5x its keys); a grid's checkpoint form is its bytes, its keys and its head.
"""

from __future__ import annotations

import base64
import zlib
from array import array
from collections.abc import Iterable
from typing import Any

import numpy as np

__all__ = ["GridRing"]

_DTYPES = {"i": np.int32, "q": np.int64}


class GridRing:
    """Counts (and values) per key and slot over event-time windows (shortest first)."""

    __slots__ = ("bucket_seconds", "cap", "head", "index", "keys", "ring", "slots", "span", "typecode", "widths")

    def __init__(self, windows: tuple[float, ...], bucket_seconds: int, slots: int, typecode: str = "q") -> None:
        self.bucket_seconds = bucket_seconds
        self.widths = tuple(max(1, int(w // bucket_seconds)) for w in windows)
        #: rows: the longest window's buckets
        self.span = self.widths[-1]
        self.slots = slots
        self.typecode = typecode
        self.keys: list[str] = []
        self.index: dict[str, int] = {}
        self.cap = 0
        self.ring = array(typecode)
        self.head: int | None = None

    # --- the per-event path ----------------------------------------------------------------------

    def add(self, bucket: int, key: str, slot: int, n: int = 1) -> bool:
        """Add ``n`` to (bucket, key, slot); False (nothing added) if older than the longest window."""
        head = self.head
        if head is None:
            self.head = head = bucket
        elif bucket > head:
            self.advance_to(bucket)
            head = bucket
        elif bucket <= head - self.span:
            return False
        col = self.index.get(key)
        if col is None:
            col = self._add_key(key)
        self.ring[(bucket % self.span * self.cap + col) * self.slots + slot] += n
        return True

    def add2(self, bucket: int, key: str, slot: int, other: int, n: int) -> bool:
        """Add 1 to (bucket, key, slot) and ``n`` to slot ``other`` of the same cell (a count and a value)."""
        head = self.head
        if head is None:
            self.head = head = bucket
        elif bucket > head:
            self.advance_to(bucket)
            head = bucket
        elif bucket <= head - self.span:
            return False
        col = self.index.get(key)
        if col is None:
            col = self._add_key(key)
        at = (bucket % self.span * self.cap + col) * self.slots
        ring = self.ring
        ring[at + slot] += 1
        ring[at + other] += n
        return True

    def advance_to(self, new_head: int) -> None:
        """Move the head to ``new_head`` (no-op if not newer), zeroing the rows of the buckets that leave."""
        old = self.head
        if old is None or new_head <= old:
            if old is None:
                self.head = new_head
            return
        self._evict(old, new_head)
        self.head = new_head

    def _evict(self, old: int, new_head: int) -> None:
        span, row = self.span, self.cap * self.slots
        if not row:
            return
        if new_head - old >= span:
            self.ring = array(self.typecode, bytes(self.ring.itemsize * span * row))
            return
        zero = array(self.typecode, bytes(self.ring.itemsize * row))
        for b in range(old - span + 1, new_head - span + 1):
            at = b % span * row
            self.ring[at:at + row] = zero

    def _add_key(self, key: str) -> int:
        col = len(self.keys)
        if col == self.cap:
            self._grow(max(8, self.cap + self.cap // 2))
        self.keys.append(key)
        self.index[key] = col
        return col

    def _grow(self, cap: int) -> None:
        """Re-lay the rows out with ``cap`` columns (rare: capacity grows by half)."""
        old = self._view()
        new = np.zeros((self.span, cap, self.slots), dtype=_DTYPES[self.typecode])
        new[:, :self.cap, :] = old
        ring = array(self.typecode)
        ring.frombytes(new.tobytes())
        self.ring, self.cap = ring, cap

    # --- reading (never moves anything) --------------------------------------------------------------

    def _view(self) -> np.ndarray:
        """The ring as a (span, cap, slots) array (a copy: the ring stays resizable)."""
        return np.frombuffer(self.ring.tobytes(), dtype=_DTYPES[self.typecode]).reshape(self.span, self.cap,
                                                                                        self.slots)

    def live_buckets(self, end: int | None, width: int | None = None) -> list[int]:
        """The buckets in the window of ``width`` buckets (default: the ring) ending at ``end`` that the
        ring still holds: ``end`` is the district's head, which may be past this grid's own."""
        head = self.head
        if head is None or end is None:
            return []
        width = self.span if width is None else width
        lo = max(end - width, head - self.span) + 1
        return list(range(lo, min(end, head) + 1))

    def window(self, i: int, end: int | None) -> dict[str, list[int]]:
        """key -> summed slots over window ``i`` ending at bucket ``end``; keys with nothing in it left out."""
        rows = [b % self.span for b in self.live_buckets(end, self.widths[i])]
        if not rows or not self.cap:
            return {}
        sums = self._view()[rows].sum(axis=0)
        return {key: [int(x) for x in sums[col]] for col, key in enumerate(self.keys) if sums[col].any()}

    def cell(self, bucket: int, key: str) -> list[int] | None:
        """The slots of (bucket, key), or None if the bucket is not live or the key unknown."""
        col = self.index.get(key)
        head = self.head
        if col is None or head is None or not head - self.span < bucket <= head:
            return None
        at = (bucket % self.span * self.cap + col) * self.slots
        return self.ring[at:at + self.slots].tolist()

    def row(self, bucket: int) -> dict[str, list[int]] | None:
        """key -> slots of every key counted in ``bucket``; None if the bucket is not live."""
        head = self.head
        if head is None or not head - self.span < bucket <= head:
            return None
        at = bucket % self.span * self.cap * self.slots
        s = self.slots
        out = {}
        for col, key in enumerate(self.keys):
            vec = self.ring[at + col * s:at + (col + 1) * s]
            if any(vec):
                out[key] = vec.tolist()
        return out

    def live(self) -> dict[int, dict[str, list[int]]]:
        """Every live bucket's non-empty cells (a comparison form, for tests)."""
        out = {}
        for b in self.live_buckets(self.head):
            r = self.row(b)
            if r:
                out[b] = r
        return out

    # --- checkpoint form -------------------------------------------------------------------------

    def saved(self) -> dict[str, Any]:
        """The whole grid: head, bucket size, column capacity, keys in column order, rows (zlib, base64)."""
        return {"h": self.head, "s": self.bucket_seconds, "c": self.cap, "k": list(self.keys),
                "r": base64.b64encode(zlib.compress(self.ring.tobytes(), 1)).decode()}

    def load(self, saved: dict[str, Any] | None) -> None:
        """Rebuild from ``saved()``: a byte copy if the shape is the same, else the live cells re-added
        (the windows or the bucket size changed since the checkpoint)."""
        if not saved or saved.get("h") is None:
            return
        head, keys, cap, size = saved["h"], list(saved["k"]), saved["c"], saved["s"]
        ring = array(self.typecode)
        ring.frombytes(zlib.decompress(base64.b64decode(saved["r"])))
        rows = len(ring) // (cap * self.slots) if cap else 0
        if size == self.bucket_seconds and rows == self.span:
            self.ring, self.cap, self.keys, self.head = ring, cap, keys, head
            self.index = {k: i for i, k in enumerate(keys)}
            return
        if rows:
            grid = np.frombuffer(ring.tobytes(), dtype=_DTYPES[self.typecode]).reshape(rows, cap, self.slots)
            for b in range(head - rows + 1, head + 1):
                nb = b * size // self.bucket_seconds
                for col, key in enumerate(keys):
                    for slot, n in enumerate(grid[b % rows, col].tolist()):
                        if n:
                            self.add(nb, key, slot, n)
        self.move_to(head * size // self.bucket_seconds)

    def set_cells(self, bucket: int, cells: Iterable[tuple[str, list[int]]]) -> None:
        """Overwrite live cells of ``bucket`` (a checkpoint's delta)."""
        head = self.head
        if head is None or not head - self.span < bucket <= head:
            return
        for key, vec in cells:
            col = self.index.get(key)
            if col is None:
                col = self._add_key(key)
            at = (bucket % self.span * self.cap + col) * self.slots
            self.ring[at:at + self.slots] = array(self.typecode, vec)

    def move_to(self, new_head: int | None) -> None:
        """Set the head before ``set_cells`` (a restore): zero what leaves the ring."""
        if new_head is None:
            return
        if self.head is None:
            self.head = new_head
            return
        self.advance_to(new_head)
