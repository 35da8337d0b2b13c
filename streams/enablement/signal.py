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

from ..avro_codec import codec_for
from ..config import Settings
from ..processor.changelog import raw_table, raw_topic
from ..processor.kv import FaustTableKV
from ..processor.signal import Signal
from ..processor.store import CheckpointStore
from ..registry import DistrictRegistry
from ..seeding.directory import RELEASES, DirectoryPartitionState
from ..seeding.state import DIRECTORY
from ..topics import default_partition, district_key
from .releases import EnablementReleaseState
from .state import RESERVED_PREFIX, EnablementPartitionState, TypeChange, account_key

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
    directory_topic = raw_topic(app, s.enablement_directory_topic, n)
    releases_topic = raw_topic(app, s.enablement_releases_topic, n)
    table = raw_table(app, "enablement-accounts", n)
    directory = raw_table(app, "enablement-directory", n)
    release_codec = codec_for("AccountReleased", s.extra_schema_dir)
    partitions = list(range(n))
    dedupe_dir = s.data_dir / "dedupe"

    def release(rec: dict[str, Any]) -> tuple[bytes, bytes, int]:
        key = district_key(rec["district_lgd"])  # the partition that counts that district's accounts
        return key, release_codec.encode(rec), default_partition(key, partitions)

    def by_district(record: dict[str, Any]) -> bytes:
        return district_key(record["district_lgd"])

    enablement = Signal(
        name="enablement", topic=s.enablement_topic, codec=codec,
        store=CheckpointStore(RESERVED_PREFIX, horizon_s=s.dedupe_horizon),
        make_state=make_state,
        kv_for=lambda p: FaustTableKV(table, p), dedupe_dir=dedupe_dir, targets={DIRECTORY: directory_topic},
        route=by_district, partitions=n)
    dir_signal = Signal(
        name="enablement-directory", topic=s.enablement_directory_topic, codec=codec,
        store=CheckpointStore(RESERVED_PREFIX, horizon_s=s.dedupe_horizon),
        make_state=lambda p, kv: DirectoryPartitionState(p, registry, s.max_future_skew, kv, release),
        kv_for=lambda p: FaustTableKV(directory, p), dedupe_dir=dedupe_dir, targets={RELEASES: releases_topic},
        route=lambda record: account_key(record["bank_code"], record["account_ref"]), partitions=n)
    releases = Signal(
        name="enablement-releases", topic=s.enablement_releases_topic, codec=release_codec,
        store=CheckpointStore(RESERVED_PREFIX + b"R", horizon_s=s.dedupe_horizon),
        make_state=lambda p, kv: EnablementReleaseState(p, registry, s.max_future_skew, kv,
                                                        lambda: opened(p) if opened else None),
        kv_for=lambda p: FaustTableKV(table, p), dedupe_dir=dedupe_dir, route=by_district, partitions=n)
    return [(enablement, topic), (dir_signal, directory_topic), (releases, releases_topic)]
