"""What to publish (``Job``) and what came of it (``Outcome``, whose ``exit_code`` the command returns)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = ["KINDS", "Job", "Outcome"]

#: --kind -> (Avro record name, Settings attribute naming the topic)
KINDS = {"payments": ("PaymentEvent", "payments_topic"), "seeding": ("SeedingEvent", "seeding_topic"),
         "grievances": ("GrievanceEvent", "grievances_topic"),
         "enablement": ("AccountEnablementEvent", "enablement_topic"),
         "enrolments": ("SchemeEnrolmentEvent", "enrolments_topic")}


@dataclass(frozen=True)
class Job:
    """One publication: which input, as what, for which bank, and where its state goes."""

    source: str  # a path, or "-" for stdin
    kind: str
    bank_code: str
    fmt: str  # "jsonl" or "csv"
    rejects: Path
    checkpoint: Path | None  # None: no resume (stdin)
    batch_records: int = 1000
    batch_seconds: float = 0.5
    create_topics: bool = True
    restart: bool = False
    connect_timeout: float = 15.0


@dataclass
class Outcome:
    """What a publication did; ``exit_code`` is the command's exit status."""

    source: str
    topic: str
    rejects: Path
    sent: int = 0
    rejected: int = 0
    skipped: int = 0  # sent by earlier runs, per the checkpoint
    earlier_rejected: int = 0
    error: str | None = None
    seconds: float = 0.0

    @property
    def exit_code(self) -> int:
        """0 all sent, 2 some rejected and the rest sent, 1 failed or nothing could be sent."""
        rejected = self.rejected + self.earlier_rejected
        if self.error is not None or (rejected and not self.sent + self.skipped):
            return 1
        return 2 if rejected else 0

    def summary(self) -> str:
        """The one line printed at the end."""
        earlier = f" (+{self.earlier_rejected} in earlier runs)" if self.earlier_rejected else ""
        rate = f" ({self.sent / self.seconds:,.0f}/s)" if self.sent >= 1000 and self.seconds > 0 else ""
        text = (f"publish {self.source} -> {self.topic}: sent={self.sent} rejected={self.rejected}{earlier} "
                f"skipped={self.skipped} in {self.seconds:.1f} s{rate}")
        if self.rejected or self.earlier_rejected:
            text += f"; rejects in {self.rejects}"
        if self.error:
            text += "; FAILED"
        return text
