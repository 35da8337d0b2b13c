"""What one worker process holds in memory: the signals' partitions and shared helpers.

Agents write here, the recovery hook rebuilds it, the metrics collector reads it.
Everything runs on the worker's event loop, so no locking is needed.
"""

from __future__ import annotations

import os
import socket
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .avro_codec import AvroCodec, codec_for
from .config import Settings
from .registry import DistrictRegistry, default_registry

if TYPE_CHECKING:
    from .enablement.state import EnablementPartitionState
    from .enrolment.state import EnrolmentPartitionState
    from .grievances.state import GrievancePartitionState
    from .payments.state import PaymentPartitionState
    from .processor.runner import SignalRunner
    from .seeding.state import SeedingPartitionState

__all__ = ["Runtime"]


@dataclass
class Runtime:
    settings: Settings
    registry: DistrictRegistry = field(default_factory=default_registry)
    worker_id: str = field(default_factory=lambda: f"{socket.gethostname()}-{os.getpid()}")
    #: district -> status -> accounts, over the seeding partitions this worker owns.
    accounts: dict[int, Counter[str]] = field(default_factory=dict)
    rebalances: int = 0
    started_at: float = field(default_factory=time.time)
    #: signal name -> its runner (set by the app)
    runners: dict[str, SignalRunner] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.payment_codec: AvroCodec = codec_for("PaymentEvent", self.settings.extra_schema_dir)
        self.seeding_codec: AvroCodec = codec_for("SeedingEvent", self.settings.extra_schema_dir)
        self.grievance_codec: AvroCodec = codec_for("GrievanceEvent", self.settings.extra_schema_dir)
        self.enablement_codec: AvroCodec = codec_for("AccountEnablementEvent", self.settings.extra_schema_dir)
        self.enrolment_codec: AvroCodec = codec_for("SchemeEnrolmentEvent", self.settings.extra_schema_dir)

    @property
    def payments(self) -> dict[int, PaymentPartitionState]:
        """partition -> payment state, for the partitions owned right now."""
        return self.states("payments")  # type: ignore[return-value]

    @property
    def seeding(self) -> dict[int, SeedingPartitionState]:
        return self.states("seeding")  # type: ignore[return-value]

    @property
    def grievances(self) -> dict[int, GrievancePartitionState]:
        return self.states("grievances")  # type: ignore[return-value]

    @property
    def enablement(self) -> dict[int, EnablementPartitionState]:
        return self.states("enablement")  # type: ignore[return-value]

    @property
    def enrolment(self) -> dict[int, EnrolmentPartitionState]:
        return self.states("enrolments")  # type: ignore[return-value]

    def states(self, name: str) -> dict[int, Any]:
        """partition -> the state of signal ``name``, for the partitions owned right now."""
        runner = self.runners.get(name)
        return {p: proc.state for p, proc in runner.processors.items()} if runner else {}

    def state(self, name: str, partition: int) -> Any | None:
        """Signal ``name``'s state of ``partition`` if owned right now (one lookup, for the per-event path)."""
        runner = self.runners.get(name)
        proc = runner.processors.get(partition) if runner else None
        return proc.state if proc is not None else None

    def checkpoints(self, name: str) -> int:
        """Checkpoints written by this worker for a signal's partitions owned now."""
        runner = self.runners.get(name)
        return sum(p.checkpoint.saved for p in runner.processors.values()) if runner else 0
