"""The grievances' families, built at scrape time from the grievances partition states.

Reads the states and never changes them. An open grievance crosses its turn-around time by
the clock alone: the states keep open grievances counted by due date per (district, bank),
and this judges them against today's date in India (``streams.grievances.tat``), so a scrape
costs the due dates held, not the grievances. Names and labels: ``docs/metrics.md``.
"""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from ..config import Settings
from ..registry import DistrictRegistry
from .state import ANOMALIES, NONE, PAST, WITHIN, GrievancePartitionState
from .tat import COMPENSATION_RUPEES_PER_DAY, today

__all__ = ["grievance_families"]


def grievance_families(states: Iterable[GrievancePartitionState], registry: DistrictRegistry,
                       settings: Settings, now: float | None = None) -> list[Metric]:
    """The grievance metrics over ``states`` (the partitions owned now), judged at ``now`` (epoch s)."""
    day = today(now)
    dl = ["district_lgd", "district"]
    opened = GaugeMetricFamily("digindex_grievances_open", "Open grievances by turn-around time: within it, past "
                               "it (today's date in India), none (OTHER)", labels=[*dl, "bank", "tat"])
    resolved = CounterMetricFamily("digindex_grievances_resolved", "Resolved grievances by turn-around time: "
                                   "within it, past it, none (OTHER)", labels=[*dl, "bank", "tat"])
    owed = GaugeMetricFamily("digindex_grievance_compensation_owed_rupees", "Rs 100 per day past the turn-around "
                             "time, over open and resolved grievances", labels=[*dl, "bank"])
    anomalies = CounterMetricFamily("digindex_grievance_anomalies", "Grievance events accepted but not matching "
                                    "the grievance's life (counted, not refused)", labels=[*dl, "bank", "anomaly"])
    tat_ratio = GaugeMetricFamily("digindex_grievance_resolved_within_tat_ratio", "Grievances resolved within "
                                  "their turn-around time / all resolved with one, in the window",
                                  labels=[*dl, "window"])
    days_ratio = GaugeMetricFamily("digindex_grievance_resolved_within_days_ratio", "Grievances resolved at most "
                                   "`days` days after the transaction date / all resolved with a turn-around time, "
                                   "in the window", labels=[*dl, "window", "days"])
    windows = [(w, Settings.window_label(w)) for w in settings.windows]
    days = str(settings.grievance_days)
    for state in states:
        for (lgd, bank), a in sorted(state.aggregates.items()):
            labels = [str(lgd), registry.get(lgd).name, bank]
            within, past, late = a.open_on(day)
            opened.add_metric([*labels, WITHIN], within)
            opened.add_metric([*labels, PAST], past)
            opened.add_metric([*labels, NONE], a.open_other)
            for tat in (WITHIN, PAST, NONE):
                resolved.add_metric([*labels, tat], a.resolved[tat])
            owed.add_metric(labels, COMPENSATION_RUPEES_PER_DAY * (late + a.resolved_late_days))
            for name in ANOMALIES:
                anomalies.add_metric([*labels, name], a.anomalies[name])
        for lgd in sorted(state.heads):
            labels = [str(lgd), registry.get(lgd).name]
            for w, wl in windows:
                n, in_tat, in_days = state.window(lgd, w)
                if n:
                    tat_ratio.add_metric([*labels, wl], in_tat / n)
                    days_ratio.add_metric([*labels, wl, days], in_days / n)
    return [opened, resolved, owed, anomalies, tat_ratio, days_ratio]
