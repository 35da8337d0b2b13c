"""The seeding signal: its topic, the accounts table (which also holds its checkpoints)."""

from __future__ import annotations

from collections import Counter
from typing import Any

import faust

from ..config import Settings
from ..processor.kv import FaustTableKV
from ..processor.signal import Signal
from ..processor.store import CheckpointStore
from ..registry import DistrictRegistry
from .state import RESERVED_PREFIX, SeedingPartitionState

__all__ = ["declare"]


def declare(app: faust.App, settings: Settings, registry: DistrictRegistry, codec: Any,
            accounts: dict[int, Counter[str]]) -> tuple[Any, Any, Signal]:
    """The seeding topic, the ``seeding-accounts`` table, and the signal over them.

    Checkpoints live under ``RESERVED_PREFIX`` in the accounts table, so the account writes and
    the checkpoint that covers them share one changelog partition, in order.
    """
    s = settings
    raw = faust.Schema(key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw")
    topic = app.topic(s.seeding_topic, key_type=bytes, value_type=bytes, key_serializer="raw",
                      value_serializer="raw", partitions=s.topic_partitions)
    table = app.Table("seeding-accounts", default=None, partitions=s.topic_partitions,
                      key_type=bytes, value_type=bytes, schema=raw)
    signal = Signal(
        name="seeding", topic=s.seeding_topic, codec=codec,
        store=CheckpointStore(RESERVED_PREFIX, horizon_s=s.dedupe_horizon),
        make_state=lambda p, kv: SeedingPartitionState(p, registry, s.max_future_skew, accounts, kv),
        kv_for=lambda p: FaustTableKV(table, p),
        dedupe_dir=s.data_dir / "dedupe",
    )
    return topic, table, signal
