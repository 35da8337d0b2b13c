"""The payments signal: its topic, its state table, and how its partition states are made."""

from __future__ import annotations

from typing import Any

import faust

from ..config import Settings
from ..processor.changelog import raw_table, raw_topic
from ..processor.kv import FaustTableKV
from ..processor.signal import Signal
from ..processor.store import CheckpointStore
from ..registry import DistrictRegistry
from ..topics import by_district
from .state import PaymentPartitionState

__all__ = ["declare"]


def declare(app: faust.App, settings: Settings, registry: DistrictRegistry, codec: Any) -> tuple[Any, Signal]:
    """The payments topic and the ``payments-state`` table (checkpoints), and the signal over them."""
    s = settings
    topic = raw_topic(app, s.payments_topic, s.topic_partitions)
    table = raw_table(app, "payments-state", s.topic_partitions)
    signal = Signal(
        name="payments", topic=s.payments_topic, codec=codec,
        store=CheckpointStore(b"", horizon_s=s.dedupe_horizon),
        make_state=lambda p, kv: PaymentPartitionState(p, registry, s.windows, s.max_future_skew, s.target_for,
                                                         s.branch_min_transactions),
        kv_for=lambda p: FaustTableKV(table, p),
        dedupe_dir=s.data_dir / "dedupe",
        route=by_district, partitions=s.topic_partitions,
    )
    return topic, signal
