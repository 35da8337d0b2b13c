"""One district's scheme enrolment and coverage as the query API serves it (``GET /api/v1/districts/{lgd}``).

The same figures as the metrics (``streams.enrolment.metrics``), from the same partition
state's counters (``streams.enrolment.state.contribution``: recounted from both feeds' stores
when the partition opened, kept in step by both feeds): per scheme the enrolled accounts, the
eligible ones (the coverage ratio's denominator), the eligible ones enrolled (its numerator)
and the ratio, and the unknowns outside it. Reads the state and never changes it.
"""

from __future__ import annotations

from typing import Any

from .state import AGE_UNKNOWN_N, COVERED_N, ELIGIBLE_N, ENROLLED_N, SCHEMES, UNMATCHED_N, EnrolmentPartitionState

__all__ = ["scheme_view"]


def scheme_view(state: EnrolmentPartitionState, lgd: int) -> dict[str, Any]:
    """District ``lgd``'s schemes in ``state``: zeros (and null ratios) for a district without enrolments.

    ``by_scheme``: PMSBY, PMJJBY, APY -> ``enrolled`` (latest status ENROLLED, any type or band),
    ``eligible`` (savings accounts per the enablement feed whose latest band is in the scheme's
    range), ``covered`` (eligible and enrolled), ``coverage_ratio`` (covered / eligible, None
    without eligible accounts) and ``unmatched`` (enrolled, not known as savings accounts:
    outside the ratio); ``age_unknown`` (savings accounts with no band reported: outside every
    scheme's ratio) and ``last_event_ms`` (0: none).
    """
    c = state.figures(lgd)
    by_scheme = {}
    for s in SCHEMES:
        eligible, covered = c[ELIGIBLE_N, s], c[COVERED_N, s]
        by_scheme[s] = {"enrolled": c[ENROLLED_N, s], "eligible": eligible, "covered": covered,
                        "coverage_ratio": covered / eligible if eligible else None, "unmatched": c[UNMATCHED_N, s]}
    return {"by_scheme": by_scheme, "age_unknown": c[AGE_UNKNOWN_N, ""],
            "last_event_ms": state.last_event_ms.get(lgd, 0)}
