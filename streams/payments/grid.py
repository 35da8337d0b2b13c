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
#: Up to this many keys a row is read key by key in Python (each checkpoint reads the purpose and
#: department rows of every touched minute: with numpy that was a third of building a delta).
_FEW_KEYS = 64


class GridRing:
    """Counts (and values) per key and slot over event-time windows (shortest first)."""

    __slots__ = ("bucket_seconds", "cap", "chunk", "head", "index", "keys", "ring", "slots", "span", "typecode",
                 "widths")

    def __init__(self, windows: tuple[float, ...], bucket_seconds: int, slots: int, typecode: str = "q",
                 keys: Iterable[str] = (), chunk: int = 1) -> None:
        self.bucket_seconds = bucket_seconds
        self.widths = tuple(max(1, int(w // bucket_seconds)) for w in windows)
        #: rows per key: the longest window's buckets
        self.span = self.widths[-1]
        self.slots = slots
        self.typecode = typecode
        self.keys: list[str] = []
        self.index: dict[str, int] = {}
        #: blocks in the ring (``chunk`` are added at a time: a grid of many keys grows in few copies)
        self.cap = 0
        self.chunk = chunk
        self.ring = array(typecode)
        self.head: int | None = None
        for key in keys:  # columns known from the start
            self.add_key(key)

    # --- the per-event path ----------------------------------------------------------------------

    def _live(self, bucket: int) -> bool:
        """Move the head to ``bucket`` if newer; False if ``bucket`` is older than the longest window."""
        head = self.head
        if head is None:
            self.head = bucket
        elif bucket > head:
            self.advance_to(bucket)
        elif bucket <= head - self.span:
            return False
        return True

    def add(self, bucket: int, key: str, slot: int, n: int = 1) -> bool:
        """Add ``n`` to (bucket, key, slot); False (nothing added) if older than the longest window."""
        if not self._live(bucket):
            return False
        col = self.index.get(key)
        if col is None:
            col = self.add_key(key)
        self.ring[(col * self.span + bucket % self.span) * self.slots + slot] += n
        return True

    def add_key(self, key: str) -> int:
        """The block of a new key; when none is free, ``chunk`` zeroed blocks are appended to the ring."""
        col = len(self.keys)
        if col == self.cap:
            self.ring.frombytes(bytes(self.ring.itemsize * self.span * self.slots * self.chunk))
            self.cap += self.chunk
        self.keys.append(key)
        self.index[key] = col
        return col

    def advance_to(self, new_head: int) -> None:
        """Move the head to ``new_head`` (no-op if not newer), zeroing the rows of the buckets that leave."""
        old = self.head
        if old is None or new_head <= old:
            if old is None:
                self.head = new_head
            return
        if self.cap:
            if new_head - old >= self.span:
                self.ring = array(self.typecode, bytes(len(self.ring) * self.ring.itemsize))
            else:
                rows = [b % self.span for b in range(old - self.span + 1, new_head - self.span + 1)]
                view = self._view()
                view[:, rows, :] = 0
                del view
        self.head = new_head

    # --- reading (never moves anything) --------------------------------------------------------------

    def _view(self) -> np.ndarray:
        """The ring as a (keys, span, slots) numpy view (no copy; drop it before the ring grows)."""
        return np.frombuffer(self.ring, dtype=_DTYPES[self.typecode]).reshape(self.cap, self.span, self.slots)

    def live_buckets(self, end: int | None, width: int | None = None) -> list[int]:
        """The buckets in the window of ``width`` buckets (default: the ring) ending at ``end`` that the
        ring still holds: ``end`` is the district's head (for a branch grid, in its own buckets)."""
        head = self.head
        if head is None or end is None:
            return []
        width = self.span if width is None else width
        lo = max(end - width, head - self.span) + 1
        return list(range(lo, min(end, head) + 1))

    def window_array(self, i: int, end: int | None) -> np.ndarray | None:
        """The summed slots of every key (in column order) over window ``i`` ending at bucket ``end``;
        None if nothing is live. The window's rows are at most two runs of the ring: summed as slices."""
        live = self.live_buckets(end, self.widths[i])
        if not live or not self.keys:
            return None
        view = self._view()[:len(self.keys)]
        lo, hi = live[0] % self.span, live[-1] % self.span
        if lo <= hi:
            return view[:, lo:hi + 1, :].sum(axis=1)
        return view[:, lo:, :].sum(axis=1) + view[:, :hi + 1, :].sum(axis=1)

    def window(self, i: int, end: int | None) -> dict[str, list[int]]:
        """key -> summed slots over window ``i`` ending at bucket ``end``; keys with nothing in it left out."""
        sums = self.window_array(i, end)
        if sums is None:
            return {}
        keys = self.keys
        return {keys[col]: sums[col].tolist() for col in np.flatnonzero(sums.any(axis=1)).tolist()}

    def cell(self, bucket: int, key: str) -> list[int] | None:
        """The slots of (bucket, key), or None if the bucket is not live or the key unknown."""
        col = self.index.get(key)
        head = self.head
        if col is None or head is None or not head - self.span < bucket <= head:
            return None
        at = (col * self.span + bucket % self.span) * self.slots
        return self.ring[at:at + self.slots].tolist()

    def cells_packed(self, cells: Iterable[int]) -> dict[str, Any] | None:
        """Cells (``column x span + row``: what the hot path records as it adds) packed for a
        checkpoint's delta: ``c`` their columns, ``b`` their buckets (the live bucket of each row: a
        row the head has moved past holds its newer bucket, touched or zero), ``v`` base64 of their
        slots, cell after cell. One numpy gather, not a list per cell; None if there is nothing."""
        head = self.head
        if head is None or not self.cap:
            return None
        span, slots = self.span, self.slots
        at = np.sort(np.fromiter(cells, dtype=np.int64))
        if not at.size:
            return None
        rows = at % span
        vals = np.frombuffer(self.ring, dtype=_DTYPES[self.typecode])[(at * slots)[:, None] + np.arange(slots)]
        return {"c": (at // span).tolist(), "b": (head - (head - rows) % span).tolist(),
                "v": base64.b64encode(vals.tobytes()).decode()}

    def set_packed(self, packed: dict[str, Any]) -> None:
        """Overwrite the live cells of ``cells_packed`` (a restore: the columns' keys are known)."""
        vals = array(self.typecode)
        vals.frombytes(base64.b64decode(packed["v"]))
        s, keys = self.slots, self.keys
        for i, (col, bucket) in enumerate(zip(packed["c"], packed["b"], strict=True)):
            self.set_cells(bucket, ((keys[col], vals[i * s:(i + 1) * s].tolist()),))

    def row(self, bucket: int) -> dict[str, list[int]] | None:
        """key -> slots of every key counted in ``bucket``; None if the bucket is not live."""
        head = self.head
        if head is None or not head - self.span < bucket <= head:
            return None
        if not self.cap:
            return {}
        keys, span, slots, ring = self.keys, self.span, self.slots, self.ring
        if len(keys) <= _FEW_KEYS:  # a slice per key: numpy's per-call cost is more than the work here
            out = {}
            at = bucket % span * slots
            for key in keys:
                vec = ring[at:at + slots]
                if any(vec):
                    out[key] = vec.tolist()
                at += span * slots
            return out
        cells = self._view()[:len(keys), bucket % span, :]
        return {keys[col]: cells[col].tolist() for col in np.flatnonzero(cells.any(axis=1)).tolist()}

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
        """The whole grid: head, bucket size, blocks, keys in block order, the ring (``_pack``)."""
        return {"h": self.head, "s": self.bucket_seconds, "c": self.cap, "k": list(self.keys),
                "z": _pack(self.ring, self.cap, self.span, self.slots)}

    def load(self, saved: dict[str, Any] | None) -> None:
        """Rebuild from ``saved()``: a byte copy if the shape is the same, else the live cells re-added
        (the windows or the bucket size changed since the checkpoint)."""
        if not saved or saved.get("h") is None:
            return
        head, keys, size, cap = saved["h"], list(saved["k"]), saved["s"], saved["c"]
        ring = _unpack(saved["z"], self.typecode, cap, self.slots)
        rows = len(ring) // (cap * self.slots) if cap else 0
        if size == self.bucket_seconds and rows == self.span:
            self.ring, self.cap, self.keys, self.head = ring, cap, keys, head
            self.index = {k: i for i, k in enumerate(keys)}
            return
        if rows:
            grid = np.frombuffer(ring, dtype=_DTYPES[self.typecode]).reshape(cap, rows, self.slots)
            for b in range(head - rows + 1, head + 1):
                nb = b * size // self.bucket_seconds
                for col, key in enumerate(keys):
                    for slot, n in enumerate(grid[col, b % rows].tolist()):
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
                col = self.add_key(key)
            at = (col * self.span + bucket % self.span) * self.slots
            self.ring[at:at + self.slots] = array(self.typecode, vec)

    def move_to(self, new_head: int | None) -> None:
        """Set the head before ``set_cells`` (a restore): zero what leaves the ring."""
        if new_head is None:
            return
        if self.head is None:
            self.head = new_head
            return
        self.advance_to(new_head)


def _pack(ring: array, cap: int, span: int, slots: int) -> str:
    """A ring for a snapshot, as small as zlib gets it: slot-major (counts next to counts, values
    next to values) and byte-shuffled (the high, mostly zero bytes of every integer together), then
    zlib and base64. A day of a busy district's branches (405 branches, 96 quarter hours each): 0.47 MB
    with zlib alone, 0.29 MB so; a checkpoint is one Kafka message (1 MB at most)."""
    a = np.frombuffer(ring, dtype=_DTYPES[ring.typecode])
    if cap:
        a = a.reshape(cap, span, slots).transpose(2, 0, 1)
    shuffled = np.ascontiguousarray(a).view(np.uint8).reshape(-1, ring.itemsize).T
    return base64.b64encode(zlib.compress(np.ascontiguousarray(shuffled).tobytes(), 6)).decode()


def _unpack(text: str, typecode: str, cap: int, slots: int) -> array:
    """``_pack`` undone: the ring in block order."""
    itemsize = array(typecode).itemsize
    raw = np.frombuffer(zlib.decompress(base64.b64decode(text)), dtype=np.uint8)
    a = np.ascontiguousarray(raw.reshape(itemsize, -1).T).view(_DTYPES[typecode]).ravel()
    if cap and a.size:
        a = np.ascontiguousarray(a.reshape(slots, cap, -1).transpose(1, 2, 0))
    out = array(typecode)
    out.frombytes(a.tobytes())
    return out
