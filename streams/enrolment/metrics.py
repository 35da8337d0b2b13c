"""The enrolment families, built at scrape time from the enrolments partition states.

Reads the states and never changes them. A district's accounts are all in the partition its
district key maps to, so each series comes from one state; the sum over states is only there
so a worker owning several partitions needs no special case. Names and labels:
``docs/metrics.md``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from prometheus_client.core import GaugeMetricFamily, Metric

from ..registry import DistrictRegistry
from .state import AGE_UNKNOWN_N, COVERED_N, ELIGIBLE_N, ENROLLED_N, SCHEMES, UNMATCHED_N, EnrolmentPartitionState

__all__ = ["enrolment_families"]


def enrolment_families(states: Iterable[EnrolmentPartitionState], registry: DistrictRegistry) -> list[Metric]:
    """The scheme metrics over ``states`` (the partitions owned now)."""
    dl = ["district_lgd", "district"]
    enrolled = GaugeMetricFamily("digindex_scheme_enrolled_accounts", "Accounts whose latest status in the "
                                 "scheme is ENROLLED", labels=[*dl, "scheme"])
    eligible = GaugeMetricFamily("digindex_scheme_eligible_accounts", "Savings accounts (enablement feed) whose "
                                 "age band, latest reported by either feed, is in the scheme's range",
                                 labels=[*dl, "scheme"])
    ratio = GaugeMetricFamily("digindex_scheme_coverage_ratio", "Eligible savings accounts enrolled in the "
                              "scheme / eligible savings accounts", labels=[*dl, "scheme"])
    unmatched = GaugeMetricFamily("digindex_scheme_enrolled_unmatched_accounts", "Enrolled accounts the "
                                  "enablement feed does not know as savings accounts (outside the ratio)",
                                  labels=[*dl, "scheme"])
    unknown = GaugeMetricFamily("digindex_scheme_age_unknown_accounts", "Savings accounts in the enrolment feed "
                                "with no age band reported (outside the ratio)", labels=dl)
    totals: dict[int, Counter[tuple[str, str]]] = {}
    for state in states:
        for lgd, c in state.counts.items():
            totals.setdefault(lgd, Counter()).update(c)
    for lgd, c in sorted(totals.items()):
        if not any(c.values()):
            continue  # every account left the district
        labels = [str(lgd), registry.get(lgd).name]
        for s in SCHEMES:
            enrolled.add_metric([*labels, s], c[ENROLLED_N, s])
            eligible.add_metric([*labels, s], c[ELIGIBLE_N, s])
            unmatched.add_metric([*labels, s], c[UNMATCHED_N, s])
            if c[ELIGIBLE_N, s]:
                ratio.add_metric([*labels, s], c[COVERED_N, s] / c[ELIGIBLE_N, s])
        unknown.add_metric(labels, c[AGE_UNKNOWN_N, ""])
    return [enrolled, eligible, ratio, unmatched, unknown]
