"""The enablement signal: its topic, its table (accounts, camp counts and checkpoints), its partition states.

Accounts and the checkpoints that cover them share one changelog-backed table, checkpoints under
``RESERVED_PREFIX``, so an account's write and the checkpoint after it are in one changelog
partition, in order (``streams.enablement.state`` relies on it).
"""

from __future__ import annotations

from typing import Any

import faust

from ..config import Settings
from ..processor.changelog import raw_table, raw_topic
from ..processor.kv import FaustTableKV
from ..processor.signal import Signal
from ..processor.store import CheckpointStore
from ..registry import DistrictRegistry
from ..topics import district_key
from .state import RESERVED_PREFIX, EnablementPartitionState

__all__ = ["declare"]


def declare(app: faust.App, settings: Settings, registry: DistrictRegistry, codec: Any) -> tuple[Any, Signal]:
    """The enablement topic and the ``enablement-accounts`` table, and the signal over them."""
    s = settings
    topic = raw_topic(app, s.enablement_topic, s.topic_partitions)
    table = raw_table(app, "enablement-accounts", s.topic_partitions)
    signal = Signal(
        name="enablement", topic=s.enablement_topic, codec=codec,
        store=CheckpointStore(RESERVED_PREFIX, horizon_s=s.dedupe_horizon),
        make_state=lambda p, kv: EnablementPartitionState(p, registry, s.max_future_skew, kv),
        kv_for=lambda p: FaustTableKV(table, p),
        dedupe_dir=s.data_dir / "dedupe",
        route=lambda record: district_key(record["district_lgd"]), partitions=s.topic_partitions,
    )
    return topic, signal
