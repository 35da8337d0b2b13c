"""The API's bodies, built from the payment state of a partition this worker owns.

Pure functions of the state and the query, so the owner gives the same bytes whichever worker
relayed the request: the JSON is serialised here once, keys sorted, no whitespace.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from ..payments.state import PaymentPartitionState
from ..registry import DistrictRegistry
from .params import ApiError, BranchQuery

__all__ = ["district_body", "dumps", "no_payments", "rank_branches"]


def dumps(body: Any) -> bytes:
    """Canonical JSON: sorted keys, no NaN (a share without a denominator is null)."""
    return json.dumps(body, sort_keys=True, separators=(",", ":"), allow_nan=False).encode()


def no_payments(lgd: int, name: str) -> ApiError:
    return ApiError(404, "No payments for this district",
                    f"no payment of district {lgd} ({name}) has been accepted yet", "lgd")


def district_body(state: PaymentPartitionState, lgd: int, registry: DistrictRegistry, target: float,
                  partition: int) -> dict[str, Any]:
    """The district's figures (``PaymentPartitionState.district_view``) with who it is."""
    d = registry.get(lgd)
    if lgd not in state.districts:
        raise no_payments(lgd, d.name)
    return {"district_lgd": lgd, "district": d.name, "state": d.state, "target": target,
            "partition": partition, "figures": state.district_view(lgd)}


def _sort_key(row: dict[str, Any], order: str) -> tuple[Any, ...]:
    """worst: lowest digital share first; best: highest first. Ties: more transactions first (the
    same share over more payments weighs more), then IFSC; a branch with no successful payment
    (share null) comes last either way."""
    share = row["digital_share"]
    missing = share is None
    rank = 0.0 if missing else (share if order == "worst" else -share)
    return (missing, rank, -row["transactions"], row["branch_ifsc"])


def rank_branches(rows: Iterable[dict[str, Any]], query: BranchQuery) -> tuple[int, list[dict[str, Any]]]:
    """All rows counted, the first ``query.limit`` in the query's order."""
    ranked = sorted(rows, key=lambda r: _sort_key(r, query.order))
    return len(ranked), ranked[:query.limit]
