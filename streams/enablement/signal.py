"""The enablement signals: enablement itself, its account directory, and the directory's releases.

Accounts and the checkpoints that cover them share one changelog-backed table, checkpoints under
``RESERVED_PREFIX`` (the releases' under ``RESERVED_PREFIX + b"R"``), so an account's write and the
checkpoint after it are in one changelog partition, in order. The directory is seeding's
(``streams.seeding.directory``) on a table of its own, partitioned by account; the releases state is
``streams.enablement.releases``.
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
from ..seeding.signal import declare_directory
from ..seeding.state import DIRECTORY
from ..topics import by_district
from .releases import EnablementReleaseState
from .state import RESERVED_PREFIX, EnablementPartitionState, TypeChange

__all__ = ["declare"]


def declare(app: faust.App, settings: Settings, registry: DistrictRegistry, codec: Any,
            opened: Callable[[int], EnablementPartitionState | None] | None = None,
            on_type_change: TypeChange | None = None) -> list[tuple[Signal, Any]]:
    """The three signals with their source topics; ``opened(p)``: partition p's enablement state, if open.

    ``on_type_change`` is set on every enablement state made (``EnablementPartitionState.on_type_change``:
    applied events and releases only; a state's open recounts the store without calling it).
    """

    def make_state(p: int, kv: Any) -> EnablementPartitionState:
        state = EnablementPartitionState(p, registry, s.max_future_skew, kv, codec.encode)
        state.on_type_change = on_type_change
        return state

    s = settings
    n = s.topic_partitions
    topic = raw_topic(app, s.enablement_topic, n)
    table = raw_table(app, "enablement-accounts", n)
    directory_topic, moves = declare_directory(
        app, s, registry, codec, "enablement", table, s.enablement_directory_topic, s.enablement_releases_topic,
        lambda p, kv: EnablementReleaseState(p, registry, s.max_future_skew, kv, lambda: opened(p) if opened else None))
    enablement = Signal(
        name="enablement", topic=s.enablement_topic, codec=codec,
        store=CheckpointStore(RESERVED_PREFIX, horizon_s=s.dedupe_horizon),
        make_state=make_state,
        kv_for=lambda p: FaustTableKV(table, p), dedupe_dir=s.data_dir / "dedupe",
        targets={DIRECTORY: directory_topic}, route=by_district, partitions=n)
    return [(enablement, topic), *moves]
