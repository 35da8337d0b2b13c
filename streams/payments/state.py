"""The payment index of one source partition: pure logic, no Kafka, no Faust.

A partition holds a few districts (events are keyed by district). Applying an event updates
the district's rolling windows, its per-bank windows and the cumulative counters. Checks,
the horizon and deduplication happen before, in the shared processor
(``streams.processor.loop``); this module only counts. Windows end at the district's latest
event time, but never past this worker's clock: an event stamped a few minutes ahead (within
the allowed skew) is counted in the current minute, so no single event moves a window into
the future.

The payment lines of issue 10 ride on the same apply, in grids (``streams.payments.grid``) whose
heads the district's head moves: successful payments per ``purpose`` (non-digital, digital, by
``UPI_QR``; minute buckets, int32), per ``department_code`` (non-digital, digital; minute buckets,
int32, only for payments naming one) and per branch (``branch_ifsc``: count and value of
non-digital and digital, int64), one branch grid per window with ``BRANCH_BUCKETS`` (12) buckets
of a twelfth of it: 5 minutes for the 1 h window, 2 hours for the 24 h one. A branch costs
2 x 12 buckets x 4 x 8 bytes = 768 bytes at the default windows (2,400 branches: 1.8 MB; blocks
are added 64 at a time), against 138 KB for a minute ``RollingCounts``, and a partition's snapshot
stays within one Kafka message. A branch's window is whole buckets: its 1 h figure covers 55-60
minutes of events, its 24 h figure 22-24 hours. Per-bank declines need nothing new: the bank
windows hold (status x mode).
"""

from __future__ import annotations

import base64
import zlib
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..channels import is_digital
from ..config import Settings
from ..processor.signal import StateBase
from ..registry import DistrictRegistry
from .grid import GridRing
from .rolling import BUCKET_SECONDS, STATUSES, VALUE_OFFSET, RollingCounts, slot

__all__ = ["ACCEPTED", "BRANCH_BUCKETS", "DUPLICATE", "LATE", "REJECTED", "DistrictPayments",
           "PaymentPartitionState", "branch_bucket_seconds", "branch_key", "branch_of"]

ACCEPTED, DUPLICATE, LATE, REJECTED = "accepted", "duplicate", "late", "rejected"
_BUCKET_MS = BUCKET_SECONDS * 1000
#: Buckets of a branch grid: its window in twelfths (``branch_bucket_seconds``).
BRANCH_BUCKETS = 12
#: Branch blocks added at a time (64 x 384 bytes: a district's branches appear in a few ring copies)
BRANCH_CHUNK = 64
#: Slots of the purpose grid (successful payments): non-digital, digital other than QR, UPI_QR.
P_NON_DIGITAL, P_DIGITAL, P_QR = 0, 1, 2
#: The ``Purpose`` symbols: the purpose grid's columns from the start (no growth on the hot path).
PURPOSES = ("P2P", "P2M", "BILL_ENERGY", "BILL_WATER", "BILL_HOUSING", "GOVT_RECEIPT", "GOVT_PAYMENT", "DBT", "OTHER")
#: Slots of the branch grid: successful count non-digital, digital, then value (paise) likewise.
B_VALUE = 2


def branch_bucket_seconds(window: float) -> int:
    """The bucket of the branch grid of ``window``: a twelfth of it in whole minutes, at least one
    (1 h: 5 minutes, 24 h: 2 hours; the tests' compressed 1-minute window: 1 minute)."""
    return 60 * max(1, int(window // BRANCH_BUCKETS // 60))


def branch_key(ifsc: str, bank: str) -> str:
    """The branch grid's key: the IFSC, or ``IFSC@BANK`` for a sublet branch reported by its operator."""
    return ifsc if ifsc[:4] == bank else f"{ifsc}@{bank}"


def branch_of(key: str) -> tuple[str, str]:
    """(branch IFSC, bank) of a branch grid key."""
    return (key[:11], key[12:]) if len(key) > 11 else (key, key[:4])


@dataclass(slots=True)
class DistrictPayments:
    """One district's figures: windows overall and per bank, the payment lines' grids, cumulative counters."""

    rolling: RollingCounts
    #: successful payments per purpose (slots ``P_*``), minute buckets
    purposes: GridRing
    #: successful payments naming a department, per department (non-digital, digital), minute buckets
    departments: GridRing
    #: successful payments per branch (``branch_key``; count then value, non-digital and digital),
    #: one grid per window, its buckets a twelfth of it
    branches: list[GridRing]
    banks: dict[str, RollingCounts] = field(default_factory=dict)
    #: per branch grid, the cells touched since the last checkpoint (``GridRing.cells_packed``)
    branch_dirty: list[set[int]] = field(default_factory=list)
    #: branch keys added since the last checkpoint, in order: every branch grid has every key in the
    #: same column, so a delta names cells by column and a restore adds these first
    new_branches: list[str] = field(default_factory=list)
    #: (grid, minutes per bucket, its dirty cells) per window: the hot path's loop
    lanes: list[tuple[GridRing, int, set[int]]] = field(default_factory=list)
    #: per branch column, the index of its bank in ``branch_bank_names`` (the summaries group by it)
    branch_bank_idx: list[int] = field(default_factory=list)
    branch_bank_names: list[str] = field(default_factory=list)
    #: (channel, status) -> count of every accepted payment, late ones included.
    totals: Counter[tuple[str, str]] = field(default_factory=Counter)
    #: paise of successful payments: [non-digital, digital].
    amounts: list[int] = field(default_factory=lambda: [0, 0])
    last_event_ms: int = 0


class PaymentPartitionState(StateBase):
    """Everything the worker knows about one payments partition."""

    def __init__(self, partition: int, registry: DistrictRegistry, windows: tuple[float, ...],
                 max_future_skew: float, target_for: Callable[[int], float] | None = None,
                 branch_min_transactions: int = 20) -> None:
        super().__init__(partition, registry, max_future_skew)
        self.windows = windows
        #: district -> its digital-share target (``Settings.target_for``)
        self.target_for = target_for or (lambda lgd: 0.8)
        #: a branch is judged against the target only with at least this many successful payments
        self.branch_min_transactions = branch_min_transactions
        #: the branch grids' buckets, one per window, and minutes per bucket
        self.branch_sizes = tuple(branch_bucket_seconds(w) for w in windows)
        self._branch_ratios = tuple(size // BUCKET_SECONDS for size in self.branch_sizes)
        self.districts: dict[int, DistrictPayments] = {}
        #: (district, minute bucket) touched since the last checkpoint
        self.dirty: set[tuple[int, int]] = set()

    def district(self, lgd: int) -> DistrictPayments:
        d = self.districts.get(lgd)
        if d is None:
            w = self.windows
            d = self.districts[lgd] = DistrictPayments(
                RollingCounts(w), GridRing(w, BUCKET_SECONDS, 3, "i", PURPOSES), GridRing(w, BUCKET_SECONDS, 2, "i"),
                [self._branch_grid(i) for i in range(len(w))])
            self._lanes(d)
        return d

    def _lanes(self, d: DistrictPayments) -> None:
        d.branch_dirty = [set() for _ in d.branches]
        d.lanes = list(zip(d.branches, self._branch_ratios, d.branch_dirty, strict=True))
        d.branch_bank_idx, d.branch_bank_names = [], []
        for key in d.branches[0].keys:
            self._bank_of_column(d, key)

    @staticmethod
    def _bank_of_column(d: DistrictPayments, key: str) -> None:
        bank = branch_of(key)[1]
        try:
            i = d.branch_bank_names.index(bank)  # a district has a few dozen banks at most
        except ValueError:
            i = len(d.branch_bank_names)
            d.branch_bank_names.append(bank)
        d.branch_bank_idx.append(i)

    def _add_branch(self, d: DistrictPayments, key: str) -> int:
        """A new branch: a column in every branch grid (the same one), remembered for the next delta."""
        d.new_branches.append(key)
        self._bank_of_column(d, key)
        cols = {g.add_key(key) for g in d.branches}
        assert len(cols) == 1, "the branch grids' columns must stay aligned"
        return cols.pop()

    def _branch_grid(self, i: int, size: int | None = None) -> GridRing:
        """An empty branch grid of window ``i`` (by default its own bucket size)."""
        return GridRing((self.windows[i],), size or self.branch_sizes[i], 4, "q", chunk=BRANCH_CHUNK)

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
        if rolling.head != head:  # a new minute: every bank's windows and every grid end there too
            new_head: int = rolling.head  # type: ignore[assignment]
            for r in d.banks.values():
                r.advance_to(new_head)
            d.purposes.advance_to(new_head)
            d.departments.advance_to(new_head)
            for g, ratio in zip(d.branches, self._branch_ratios, strict=True):
                g.advance_to(new_head // ratio)
        bank_rolling = d.banks.get(bank)
        if bank_rolling is None:
            bank_rolling = d.banks[bank] = RollingCounts(self.windows)
            bank_rolling.advance_to(rolling.head)  # type: ignore[arg-type]
        bank_rolling.add(bucket, idx, amount)
        self.dirty.add((lgd, bucket))
        if status == "SUCCESS":
            # The grids' heads are the district's (moved above), so a bucket the rolling windows took
            # is live in the minute grids: one index computation and one addition each, inlined
            # (this runs for every successful payment; ``GridRing.add`` is the general form).
            g = d.purposes
            col = g.index.get(record["purpose"])
            if col is None:
                col = g.add_key(record["purpose"])
            g.ring[(col * g.span + bucket % g.span) * 3 + (P_QR if channel == "UPI_QR" else digital)] += 1
            department = record.get("department_code")
            if department is not None:
                d.departments.add(bucket, department, digital)
            branch = record.get("branch_ifsc")
            if branch is not None:
                key = branch if branch[:4] == bank else f"{branch}@{bank}"  # branch_key, inlined
                col = d.branches[0].index.get(key)
                if col is None:
                    col = self._add_branch(d, key)
                for g, ratio, dirty in d.lanes:
                    bb = bucket // ratio
                    if bb > g.head - g.span:  # type: ignore[operator]  # else older than this window
                        cell = col * g.span + bb % g.span
                        at = cell * 4 + digital
                        ring = g.ring
                        ring[at] += 1
                        ring[at + B_VALUE] += amount
                        dirty.add(cell)
        return ACCEPTED

    # --- reading (scrapes and the query API; nothing here moves a window) ------------------------------
    # Call these on the event loop's thread, as /metrics is rendered: ``apply`` runs there too, and a
    # read from another thread could meet a grid growing its array (numpy views over it are taken).

    def window_index(self, label: str) -> int:
        """The index of the window labelled ``label`` (``1h``, ``24h``: ``Settings.window_label``);
        ``ValueError`` naming the windows there are if none is."""
        labels = self.window_labels()
        try:
            return labels.index(label)
        except ValueError:
            raise ValueError(f"window {label[:20]!r} is not one of {', '.join(labels)}") from None

    def window_labels(self) -> list[str]:
        return [Settings.window_label(w) for w in self.windows]

    def purpose_window(self, d: DistrictPayments, i: int) -> dict[str, list[int]]:
        """purpose -> successful [non-digital, digital other than QR, UPI_QR] in window ``i``."""
        return d.purposes.window(i, d.rolling.head)

    def department_window(self, d: DistrictPayments, i: int) -> dict[str, list[int]]:
        """department code -> successful [non-digital, digital] in window ``i``."""
        return d.departments.window(i, d.rolling.head)

    def branch_window(self, d: DistrictPayments, i: int) -> dict[str, list[int]]:
        """branch key -> successful [count non-digital, digital, value non-digital, digital] in window ``i``
        (the whole buckets of its branch grid ending at the district's head)."""
        head = d.rolling.head
        return d.branches[i].window(0, None if head is None else head // self._branch_ratios[i])

    def branch_summary(self, lgd: int, i: int) -> dict[str, tuple[int, int, int]]:
        """bank -> (branches with successful payments, branches *reporting*: with at least
        ``branch_min_transactions`` of them, and those of these whose digital share is below the
        district's target) in window ``i``. Only reporting branches are judged, so ``below / reporting``
        is a share of comparable branches (the bank alert and the boards read it so). In numpy: a
        scrape reads every branch of every district."""
        d = self.districts[lgd]
        head = d.rolling.head
        sums = d.branches[i].window_array(0, None if head is None else head // self._branch_ratios[i])
        if sums is None:
            return {}
        n = sums[:, 0] + sums[:, 1]
        active = n > 0
        reporting = n >= self.branch_min_transactions
        share = np.divide(sums[:, 1], n, out=np.ones(len(n)), where=active)  # as dg / n in Python
        below = reporting & (share < self.target_for(lgd))
        banks = np.asarray(d.branch_bank_idx[:len(n)])
        k = len(d.branch_bank_names)
        counts = [np.bincount(banks, weights=m, minlength=k).astype(int).tolist() for m in (active, reporting, below)]
        return {d.branch_bank_names[b]: (counts[0][b], counts[1][b], counts[2][b])
                for b in sorted(range(k), key=lambda b: d.branch_bank_names[b]) if counts[0][b]}

    def branch_view(self, lgd: int, window: str, bank: str | None = None) -> list[dict[str, Any]]:
        """Every branch with successful payments in the window, unsorted: ``branch_ifsc``, ``bank``,
        ``transactions`` (successful payments), ``digital_share`` (digital / all, by count) and
        ``digital_value_share`` (by value; None when they carried no value). ``bank`` keeps one bank's.

        ``KeyError`` if this partition holds no payment of district ``lgd``; ``ValueError`` for a window
        label that is not configured. JSON-able."""
        i = self.window_index(window)
        d = self.districts[lgd]
        rows = []
        for key, (nd, dg, vnd, vdg) in self.branch_window(d, i).items():
            n = nd + dg
            ifsc, owner = branch_of(key)
            if not n or (bank is not None and owner != bank):
                continue
            rows.append({"branch_ifsc": ifsc, "bank": owner, "transactions": n, "digital_share": dg / n,
                         "digital_value_share": vdg / (vnd + vdg) if vnd + vdg else None})
        return rows

    def district_view(self, lgd: int) -> dict[str, Any]:
        """Every figure of district ``lgd`` this partition holds, JSON-able (the query API's answer).

        ``district_lgd``, ``district``, ``target``, ``branch_min_transactions``, ``last_event_ms``,
        ``payments_total`` (channel -> status -> count, late ones included), ``amount_rupees``
        (``digital``, ``non_digital``), and ``windows``: window label -> ``transactions`` (status ->
        mode -> count), ``digital_share``, ``digital_value_share``, ``technical_decline_ratio``,
        ``purposes`` (purpose -> ``transactions``, ``digital_share``, and for ``BILL_*`` ``qr_share``),
        ``departments`` (code -> ``transactions``, ``digital_share``), ``banks`` (code -> ``transactions``
        as above, ``digital_attempts``, ``technical_decline_ratio``, ``business_decline_ratio``,
        ``branches_with_payments``, ``branches_reporting`` (with at least ``branch_min_transactions``
        successful payments), ``branches_below_target`` (of those)). A ratio whose
        denominator is 0 is None; purposes, departments and banks with nothing in a window are left out.
        ``KeyError`` if this partition holds no payment of the district."""
        d = self.districts[lgd]
        windows = {}
        for i, label in enumerate(self.window_labels()):
            vec = d.rolling.window(i)
            ok = vec[slot("SUCCESS", False)] + vec[slot("SUCCESS", True)]
            ok_v = vec[slot("SUCCESS", False) + VALUE_OFFSET] + vec[slot("SUCCESS", True) + VALUE_OFFSET]
            attempts = sum(vec[slot(st, True)] for st in STATUSES)
            purposes = {}
            for purpose, (nd, dg, qr) in sorted(self.purpose_window(d, i).items()):
                n = nd + dg + qr
                if n:
                    fig: dict[str, Any] = {"transactions": n, "digital_share": (dg + qr) / n}
                    if purpose.startswith("BILL_"):
                        fig["qr_share"] = qr / n
                    purposes[purpose] = fig
            departments = {code: {"transactions": nd + dg, "digital_share": dg / (nd + dg)}
                           for code, (nd, dg) in sorted(self.department_window(d, i).items()) if nd + dg}
            summary = self.branch_summary(lgd, i)
            banks = {}
            for bank, r in sorted(d.banks.items()):
                bvec = r.window(i)
                tried = sum(bvec[slot(st, True)] for st in STATUSES)
                active, reporting, below = summary.get(bank, (0, 0, 0))
                if not any(bvec[:VALUE_OFFSET]) and not active:
                    continue
                banks[bank] = {"transactions": _by_status(bvec), "digital_attempts": tried,
                               "technical_decline_ratio": _ratio(bvec[slot("TECHNICAL_DECLINE", True)], tried),
                               "business_decline_ratio": _ratio(bvec[slot("BUSINESS_DECLINE", True)], tried),
                               "branches_with_payments": active, "branches_reporting": reporting,
                               "branches_below_target": below}
            windows[label] = {
                "transactions": _by_status(vec),
                "digital_share": _ratio(vec[slot("SUCCESS", True)], ok),
                "digital_value_share": _ratio(vec[slot("SUCCESS", True) + VALUE_OFFSET], ok_v),
                "technical_decline_ratio": _ratio(vec[slot("TECHNICAL_DECLINE", True)], attempts),
                "purposes": purposes, "departments": departments, "banks": banks,
            }
        totals: dict[str, dict[str, int]] = {}
        for (channel, status), n in sorted(d.totals.items()):
            totals.setdefault(channel, {})[status] = n
        return {"district_lgd": lgd, "district": self.registry.get(lgd).name, "target": self.target_for(lgd),
                "branch_min_transactions": self.branch_min_transactions, "last_event_ms": d.last_event_ms,
                "payments_total": totals,
                "amount_rupees": {"non_digital": d.amounts[0] / 100, "digital": d.amounts[1] / 100},
                "windows": windows}

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
        """One minute of one district (overall, per bank, per purpose and department), or None if evicted."""
        d = self.districts[lgd]
        vec = d.rolling.bucket(bucket)
        if vec is None:
            return None
        banks = {}
        for bank, r in d.banks.items():
            bvec = r.bucket(bucket)
            if bvec is not None:
                banks[bank] = bvec
        out: dict[str, Any] = {"t": vec, "b": banks}
        purposes = d.purposes.row(bucket)
        if purposes:
            out["p"] = purposes
        departments = d.departments.row(bucket)
        if departments:
            out["d"] = departments
        return out

    def branch_cells(self, lgd: int) -> dict[str, Any]:
        """The district's branch changes since the last checkpoint: ``n`` the branches added (in column
        order), ``g`` per branch grid its touched cells, packed by column (``GridRing.cells_packed``;
        None where none was)."""
        d = self.districts[lgd]
        return {"n": list(d.new_branches),
                "g": [g.cells_packed(dirty) if dirty else None for g, dirty in zip(d.branches, d.branch_dirty,
                                                                                   strict=True)]}

    def all_buckets(self) -> dict[str, dict[str, Any]]:
        """Every live bucket of every district, branch cells included (a comparison form, for tests)."""
        return {str(lgd): {**{str(b): self.bucket_payload(lgd, b) for b in d.rolling.live()},
                           "branches": [{str(b): cells for b, cells in g.live().items()} for g in d.branches]}
                for lgd, d in self.districts.items()}

    def packed_buckets(self) -> dict[str, Any]:
        """Every window ring as it is in memory, base64: a day of minutes of a dozen banks encodes and
        decodes in milliseconds, with no Python object per bucket (``RollingCounts.packed``)."""
        return {str(lgd): {"t": _b64(d.rolling.packed()), "b": {bank: _b64(r.packed()) for bank, r in d.banks.items()},
                           "p": d.purposes.saved(), "d": d.departments.saved(),
                           "br": [g.saved() for g in d.branches]}
                for lgd, d in self.districts.items()}

    def snapshot(self) -> dict[str, Any]:
        return {"counters": self.counters(), "rings": self.packed_buckets()}

    def delta(self) -> dict[str, Any]:
        buckets: dict[str, dict[str, Any]] = {}
        for lgd, b in sorted(self.dirty):
            buckets.setdefault(str(lgd), {})[str(b)] = self.bucket_payload(lgd, b)
        branches = {str(lgd): self.branch_cells(lgd) for lgd, d in self.districts.items()
                    if d.new_branches or any(d.branch_dirty)}
        return {"counters": self.counters(), "buckets": buckets,
                "branches": {"s": list(self.branch_sizes), "c": branches}}

    def checkpointed(self) -> None:
        self.dirty = set()
        for d in self.districts.values():
            for dirty in d.branch_dirty:
                dirty.clear()
            d.new_branches.clear()

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
        #: district -> the deltas' branch changes (``branch_cells``), in order; their bucket sizes
        branch_cells: dict[int, list[dict[str, Any]]] = {}
        branch_sizes: list[int] | None = None
        for part in deltas:
            for lgd, changed in part.get("buckets", {}).items():
                target = minutes.setdefault(int(lgd), {})
                for b, payload in changed.items():
                    target[int(b)] = payload
            br = part.get("branches")
            if br:
                branch_sizes = br["s"]
                for lgd, packed in br["c"].items():
                    branch_cells.setdefault(int(lgd), []).append(packed)
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
            head = d.rolling.head
            for grid, tag in ((d.purposes, "p"), (d.departments, "d")):
                grid.load(ring.get(tag))
                grid.move_to(head)
                for b, p in changed.items():
                    if p is not None and tag in p:
                        grid.set_cells(b, p[tag].items())
            d.branches = self._branches(ring.get("br") or [], head, branch_cells.get(lgd, []), branch_sizes)
            self._lanes(d)

    def _branches(self, saved: list[dict[str, Any]], head: int | None, cells: list[dict[str, Any]],
                  sizes: list[int] | None) -> list[GridRing]:
        """The branch grids: each the snapshot's, moved to the district's head, the deltas' cells over it.

        If the checkpoint's grids had other bucket sizes (the windows changed), each is rebuilt as it
        was and every new grid is filled from the finest old one that spans its window (else the
        longest), re-bucketed: nothing counted twice, though counts of an old bucket coarser than the
        new ones land at its start until that window has passed."""
        ours = list(self.branch_sizes)
        sizes = sizes or [g.get("s") for g in saved] or ours
        old = []
        for j, size in enumerate(sizes):
            grid = GridRing((float(size * BRANCH_BUCKETS),), size, 4, "q", chunk=BRANCH_CHUNK) \
                if sizes != ours else self._branch_grid(j)
            grid.load(saved[j] if j < len(saved) else None)
            grid.move_to(None if head is None else head * BUCKET_SECONDS // size)
            for part in cells:  # the branches added, in order: the same columns as when they were packed
                for key in part["n"]:
                    if key not in grid.index:
                        grid.add_key(key)
            for part in cells:  # in delta order: a later delta's cell overwrites an earlier one's
                packed = part["g"][j] if j < len(part["g"]) else None
                if packed is not None:
                    grid.set_packed(packed)
            old.append(grid)
        if sizes == ours:
            return old
        out = []
        for i, window in enumerate(self.windows):
            spanning = [g for g in old if g.bucket_seconds * g.span >= window] or [max(old, key=lambda g: g.span *
                                                                                     g.bucket_seconds)]
            grid, source = self._branch_grid(i), min(spanning, key=lambda g: g.bucket_seconds)
            for key in source.keys:  # every new grid with the same columns
                grid.add_key(key)
            grid.load(source.saved())
            grid.move_to(None if head is None else head // self._branch_ratios[i])
            out.append(grid)
        return out

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


def _ratio(n: int, of: int) -> float | None:
    return n / of if of else None


def _by_status(vec: list[int]) -> dict[str, dict[str, int]]:
    """status -> mode -> count of a window vector."""
    return {st: {"non_digital": vec[slot(st, False)], "digital": vec[slot(st, True)]} for st in STATUSES}


def _b64(raw: bytes) -> str:
    """A ring for a checkpoint: zlib on the int64 rows themselves (empty rows cost next to nothing:
    a day of minutes of one partition is ~0.6 MB, an hour ~50 KB), then base64 for the JSON."""
    return base64.b64encode(zlib.compress(raw, 1)).decode()


def _raw(text: str) -> bytes:
    return zlib.decompress(base64.b64decode(text))
