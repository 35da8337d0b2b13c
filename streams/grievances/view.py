"""One district's grievance figures as the query API serves them (``GET /api/v1/districts/{lgd}``).

The same figures as the metrics (``streams.grievances.metrics``), read from the same partition
state and judged the same way (open grievances against today's date in India by the worker's
clock), but per district in one body: by bank, their sums, and per window the resolution ratios.
Reads the state and never changes it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .state import ANOMALIES, NONE, PAST, WITHIN, GrievancePartitionState
from .tat import COMPENSATION_RUPEES_PER_DAY, today

__all__ = ["grievance_view"]

_TATS = (WITHIN, PAST, NONE)


def _ratio(n: int, d: int) -> float | None:
    return n / d if d else None


def grievance_view(state: GrievancePartitionState, lgd: int, windows: Sequence[tuple[float, str]],
                   now: float | None = None) -> dict[str, Any]:
    """District ``lgd``'s grievances in ``state``: zeros (and null ratios) for a district without any.

    ``banks``: bank -> ``open`` and ``resolved`` (within / past / none), ``compensation_owed_rupees``
    (open and resolved-late together) and ``anomalies``; the district's sums of those; ``windows``:
    label -> ``resolved`` (with a turn-around time, in the window), ``resolved_within_tat_ratio`` and
    ``resolved_within_days_ratio`` (None when nothing was resolved); ``days``, ``today`` (the date in
    India the open ones are judged on, days since 1970-01-01) and ``last_event_ms`` (0: none).
    """
    day = today(now)
    banks: dict[str, dict[str, Any]] = {}
    for (district, bank), a in sorted(state.aggregates.items()):
        if district != lgd:
            continue
        within, past, late = a.open_on(day)
        banks[bank] = {"open": {WITHIN: within, PAST: past, NONE: a.open_other},
                       "resolved": {tat: a.resolved[tat] for tat in _TATS},
                       "compensation_owed_rupees": COMPENSATION_RUPEES_PER_DAY * (late + a.resolved_late_days),
                       "anomalies": {name: a.anomalies[name] for name in ANOMALIES}}
    figures: dict[str, Any] = {
        kind: {key: sum(b[kind][key] for b in banks.values()) for key in keys}
        for kind, keys in (("open", _TATS), ("resolved", _TATS), ("anomalies", ANOMALIES))}
    figures["compensation_owed_rupees"] = sum(b["compensation_owed_rupees"] for b in banks.values())
    out_windows = {}
    for seconds, label in windows:
        n, in_tat, in_days = state.window(lgd, seconds)
        out_windows[label] = {"resolved": n, "resolved_within_tat_ratio": _ratio(in_tat, n),
                              "resolved_within_days_ratio": _ratio(in_days, n)}
    return {**figures, "banks": banks, "windows": out_windows, "days": state.days, "today": day,
            "last_event_ms": state.last_event_ms.get(lgd, 0)}
