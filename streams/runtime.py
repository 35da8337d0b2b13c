"""What one worker process holds in memory: per-partition states and shared helpers.

Agents write here, the recovery hook rebuilds it, the metrics collector reads it.
Everything runs on the worker's event loop, so no locking is needed.
"""

from __future__ import annotations

import os
import socket
import time
from collections import Counter
from dataclasses import dataclass, field

from .avro_codec import AvroCodec, codec_for
from .config import Settings
from .payments.checkpoint import CheckpointMeta
from .payments.state import PaymentPartitionState
from .registry import DistrictRegistry, default_registry
from .seeding.state import SeedingPartitionState

__all__ = ["Runtime"]


@dataclass
class Runtime:
    settings: Settings
    registry: DistrictRegistry = field(default_factory=default_registry)
    worker_id: str = field(default_factory=lambda: f"{socket.gethostname()}-{os.getpid()}")
    payments: dict[int, tuple[PaymentPartitionState, CheckpointMeta]] = field(default_factory=dict)
    seeding: dict[int, SeedingPartitionState] = field(default_factory=dict)
    #: district -> status -> accounts, over the seeding partitions this worker owns.
    accounts: dict[int, Counter[str]] = field(default_factory=dict)
    rebalances: int = 0
    checkpoints: Counter[str] = field(default_factory=Counter)
    started_at: float = field(default_factory=time.time)

    def __post_init__(self) -> None:
        self.payment_codec: AvroCodec = codec_for("PaymentEvent", self.settings.extra_schema_dir)
        self.seeding_codec: AvroCodec = codec_for("SeedingEvent", self.settings.extra_schema_dir)

    def new_payment_state(self, partition: int) -> PaymentPartitionState:
        s = self.settings
        return PaymentPartitionState(partition, self.registry, s.windows, s.dedupe_horizon, s.max_future_skew)

    def new_seeding_state(self, partition: int) -> SeedingPartitionState:
        return SeedingPartitionState(partition, self.registry, self.settings.max_future_skew, self.accounts)
