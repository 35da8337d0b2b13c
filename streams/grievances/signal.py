"""The grievances signal: its topic, its table (grievances and checkpoints), its partition states.

Grievances and the checkpoints that cover them share one changelog-backed table, checkpoints
under ``RESERVED_PREFIX``, so a grievance's write and the checkpoint after it are in one
changelog partition, in order (``streams.grievances.state`` relies on it).
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
from ..topics import by_district
from .state import RESERVED_PREFIX, GrievancePartitionState

__all__ = ["declare"]


def declare(app: faust.App, settings: Settings, registry: DistrictRegistry, codec: Any) -> tuple[Any, Signal]:
    """The grievances topic and the ``grievances-state`` table, and the signal over them."""
    s = settings
    topic = raw_topic(app, s.grievances_topic, s.topic_partitions)
    table = raw_table(app, "grievances-state", s.topic_partitions)
    signal = Signal(
        name="grievances", topic=s.grievances_topic, codec=codec,
        store=CheckpointStore(RESERVED_PREFIX, horizon_s=s.dedupe_horizon),
        make_state=lambda p, kv: GrievancePartitionState(p, registry, s.max_future_skew, kv, s.windows,
                                                         s.grievance_days, int(s.grievance_retention // 86400)),
        kv_for=lambda p: FaustTableKV(table, p),
        dedupe_dir=s.data_dir / "dedupe",
        route=by_district, partitions=s.topic_partitions,
    )
    return topic, signal
