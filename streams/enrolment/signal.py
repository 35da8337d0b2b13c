"""The enrolments signal: its topic, its table (accounts and checkpoints), its partition states.

Accounts and the checkpoints that cover them share one changelog-backed table, checkpoints
under ``RESERVED_PREFIX``, so an account's write and the checkpoint after it are in one
changelog partition, in order. Partition ``p``'s state reads the enablement feed's partition
``p`` through ``types_for(p)``: the signals are keyed by district with one partition count, so
Faust's assignor gives both partitions ``p`` (topics and tables) to one worker.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import faust

from ..config import Settings
from ..processor.changelog import raw_table, raw_topic
from ..processor.kv import FaustTableKV
from ..processor.signal import Signal
from ..processor.store import CheckpointStore
from ..registry import DistrictRegistry
from ..topics import by_district
from .state import RESERVED_PREFIX, AccountTypes, EnrolmentPartitionState

__all__ = ["declare"]


def declare(app: faust.App, settings: Settings, registry: DistrictRegistry, codec: Any,
            types_for: Callable[[int], AccountTypes],
            made: dict[int, EnrolmentPartitionState] | None = None) -> tuple[Any, Signal]:
    """The enrolments topic and the ``enrolment-accounts`` table, and the signal over them.

    ``made[p]`` is set to partition p's state as soon as it is made (recounted), before its
    restore ends and the processor exports it: the enablement feed's type changes must reach it
    from its recount on (``streams.enrolment.join.type_change_router(made.get, ...)``), or a
    change applied while the restore awaits the producer would be in the store and not in the
    counts. A revoked partition's state may stay there; it is not exported, and its next open
    replaces it.
    """
    s = settings

    def make_state(p: int, kv: Any) -> EnrolmentPartitionState:
        state = EnrolmentPartitionState(p, registry, s.max_future_skew, kv, types_for(p)).recount()
        if made is not None:
            made[p] = state
        return state

    topic = raw_topic(app, s.enrolments_topic, s.topic_partitions)
    table = raw_table(app, "enrolment-accounts", s.topic_partitions)
    signal = Signal(
        name="enrolments", topic=s.enrolments_topic, codec=codec,
        store=CheckpointStore(RESERVED_PREFIX, horizon_s=s.dedupe_horizon),
        make_state=make_state,
        kv_for=lambda p: FaustTableKV(table, p),
        dedupe_dir=s.data_dir / "dedupe",
        route=by_district, partitions=s.topic_partitions,
    )
    return topic, signal
