"""One district's digital enablement as the query API serves it (``GET /api/v1/districts/{lgd}``).

The same figures as the metrics (``streams.enablement.metrics``), read from the same partition
state's counts (recounted from the accounts store when the partition opened, kept in step by
every applied event): per account type the accounts known, enabled, their ratio and the
enabled accounts per mode, and the district's camp enablements. Reads the state and never
changes it.
"""

from __future__ import annotations

from typing import Any

from .state import MODES, TYPES, EnablementPartitionState

__all__ = ["enablement_view"]


def enablement_view(state: EnablementPartitionState, lgd: int) -> dict[str, Any]:
    """District ``lgd``'s enablement in ``state``: zeros (and null ratios) for a district without accounts.

    ``by_account_type``: SAVINGS and CURRENT -> ``accounts`` (known to the feed), ``enabled``
    (by the RBI's rule for the type), ``enablement_ratio`` (enabled / accounts, None without
    accounts) and ``modes`` (mode -> accounts whose latest set has it); ``camp_enablements``
    (of the accounts counted in the district now) and ``last_event_ms`` (0: none).
    """
    by_type: dict[str, dict[str, Any]] = {}
    for account_type in TYPES:
        c = state.district(lgd, account_type) or [0] * (2 + len(MODES))
        known, on = c[0], c[1]
        by_type[account_type] = {"accounts": known, "enabled": on, "enablement_ratio": on / known if known else None,
                                 "modes": dict(zip(MODES, c[2:], strict=True))}
    return {"by_account_type": by_type, "camp_enablements": state.camp.get(lgd, 0),
            "last_event_ms": state.last_event_ms.get(lgd, 0)}
