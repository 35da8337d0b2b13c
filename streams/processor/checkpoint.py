"""When a partition's state is made durable: after ``every`` events or ``interval`` seconds.

One object per partition keeps its own count and clock (quix-streams' ``Checkpoint.expired``),
so the loop asks one question. Checked as events arrive: an idle partition's last few events
stay uncheckpointed, which costs only their replay after a crash.
"""

from __future__ import annotations

__all__ = ["Checkpoint"]


class Checkpoint:
    """The checkpoint policy of one partition."""

    __slots__ = ("every", "interval", "last_saved", "saved", "since")

    def __init__(self, every: int, interval: float, now: float) -> None:
        self.every = every
        self.interval = interval
        self.last_saved = now
        self.since = 0  # events processed since the last checkpoint
        self.saved = 0  # checkpoints written by this worker

    def due(self, now: float) -> bool:
        return self.since >= self.every or (self.since > 0 and now - self.last_saved >= self.interval)

    def done(self, now: float) -> None:
        self.last_saved = now
        self.since = 0
        self.saved += 1
