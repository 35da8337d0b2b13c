"""The enablement families, built at scrape time from the enablement partition states.

Reads the states and never changes them. A district's accounts are all in its partition, so
each series comes from one state; they are summed anyway, so a district never appears twice.
Names and labels: ``docs/metrics.md``.
"""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from ..registry import DistrictRegistry
from .state import MODES, EnablementPartitionState

__all__ = ["enablement_families"]


def enablement_families(states: Iterable[EnablementPartitionState], registry: DistrictRegistry) -> list[Metric]:
    """The enablement metrics over ``states`` (the partitions owned now)."""
    dl = ["district_lgd", "district"]
    ratio = GaugeMetricFamily("digindex_digital_enablement_ratio", "Accounts enabled for at least one digital mode "
                              "that counts for their type / accounts known (RBI's 100 % digitally enabled district)",
                              labels=[*dl, "account_type"])
    known = GaugeMetricFamily("digindex_enablement_accounts", "Accounts known to the enablement feed, by account type",
                              labels=[*dl, "account_type"])
    having = GaugeMetricFamily("digindex_enabled_accounts", "Accounts whose latest set of modes has the mode, by "
                               "account type", labels=[*dl, "account_type", "mode"])
    camp = CounterMetricFamily("digindex_camp_enablements", "Accounts that became enabled (from not enabled or not "
                               "known) through an event carrying a camp_ref", labels=dl)
    counts: dict[tuple[int, str], list[int]] = {}
    camps: dict[int, int] = {}
    for state in states:
        for k, c in state.counts.items():
            acc = counts.setdefault(k, [0] * len(c))
            for i, n in enumerate(c):
                acc[i] += n
        for lgd, n in state.camp.items():
            camps[lgd] = camps.get(lgd, 0) + n
    for (lgd, account_type), c in sorted(counts.items()):
        if c[0] <= 0:
            continue
        labels = [str(lgd), registry.get(lgd).name, account_type]
        ratio.add_metric(labels, c[1] / c[0])
        known.add_metric(labels, c[0])
        for i, mode in enumerate(MODES):
            having.add_metric([*labels, mode], c[2 + i])
    # every district with accounts, from 0 (so increase() sees the first), and none without
    for lgd in sorted({lgd for (lgd, _), c in counts.items() if c[0] > 0}):
        camp.add_metric([str(lgd), registry.get(lgd).name], camps.get(lgd, 0))
    return [ratio, known, having, camp]
