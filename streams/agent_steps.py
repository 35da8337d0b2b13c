"""Steps both agents (payments, seeding) take per event, kept in one place."""

from __future__ import annotations

from typing import Any

__all__ = ["checkpoint_due", "message_time_ms"]


def message_time_ms(msg: Any, now: float) -> int:
    """The message's own timestamp (ms), so a replay judges "in the future" as the first pass did."""
    ts = getattr(msg, "timestamp", None)
    return int(ts * 1000) if ts else int(now * 1000)


def checkpoint_due(applied_since: int, last_saved: float, now: float, every: int, interval: float) -> bool:
    """Checkpoint after ``every`` events or ``interval`` seconds, whichever comes first."""
    return applied_since >= every or now - last_saved >= interval
