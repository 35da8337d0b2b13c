"""The seeding signals: seeding itself, the account directory, and the directory's releases.

Seeding's checkpoints and the releases' live under ``RESERVED_PREFIX`` in the accounts table,
so account writes and the checkpoints that cover them share one changelog partition, in order.
The directory has a table of its own, partitioned by account (``streams.seeding.directory``).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import faust

from ..avro_codec import codec_for
from ..config import Settings
from ..processor.changelog import raw_table, raw_topic
from ..processor.kv import FaustTableKV
from ..processor.signal import Signal
from ..processor.store import CheckpointStore
from ..registry import DistrictRegistry
from ..topics import default_partition, district_key
from .directory import RELEASES, DirectoryPartitionState, ReleasePartitionState
from .state import DIRECTORY, RESERVED_PREFIX, SeedingPartitionState, account_key

__all__ = ["declare"]

def _table(app: faust.App, name: str, partitions: int) -> Any:
    return raw_table(app, name, partitions)


def declare(app: faust.App, settings: Settings, registry: DistrictRegistry, codec: Any,
            accounts: dict[int, Counter[str]]) -> tuple[Any, list[tuple[Signal, Any]]]:
    """The accounts table and the three signals with their source topics."""
    s = settings
    n = s.topic_partitions
    seeding_topic = raw_topic(app, s.seeding_topic, n)
    directory_topic = raw_topic(app, s.seeding_directory_topic, n)
    releases_topic = raw_topic(app, s.seeding_releases_topic, n)
    table = _table(app, "seeding-accounts", n)
    directory = _table(app, "seeding-directory", n)
    release_codec = codec_for("AccountReleased", s.extra_schema_dir)
    partitions = list(range(n))

    def release(rec: dict[str, Any]) -> tuple[bytes, bytes, int]:
        key = district_key(rec["district_lgd"])  # the partition that counts that district's accounts
        return key, release_codec.encode(rec), default_partition(key, partitions)

    dedupe_dir = s.data_dir / "dedupe"

    def by_district(record: dict[str, Any]) -> bytes:
        return district_key(record["district_lgd"])

    seeding = Signal(
        name="seeding", topic=s.seeding_topic, codec=codec,
        store=CheckpointStore(RESERVED_PREFIX, horizon_s=s.dedupe_horizon),
        make_state=lambda p, kv: SeedingPartitionState(p, registry, s.max_future_skew, accounts, kv, codec.encode),
        kv_for=lambda p: FaustTableKV(table, p), dedupe_dir=dedupe_dir, targets={DIRECTORY: directory_topic},
        route=by_district, partitions=n)
    dir_signal = Signal(
        name="seeding-directory", topic=s.seeding_directory_topic, codec=codec,
        store=CheckpointStore(RESERVED_PREFIX, horizon_s=s.dedupe_horizon),
        make_state=lambda p, kv: DirectoryPartitionState(p, registry, s.max_future_skew, kv, release),
        kv_for=lambda p: FaustTableKV(directory, p), dedupe_dir=dedupe_dir, targets={RELEASES: releases_topic},
        route=lambda record: account_key(record["bank_code"], record["account_ref"]), partitions=n)
    releases = Signal(
        name="seeding-releases", topic=s.seeding_releases_topic, codec=release_codec,
        store=CheckpointStore(RESERVED_PREFIX + b"R", horizon_s=s.dedupe_horizon),
        make_state=lambda p, kv: ReleasePartitionState(p, registry, s.max_future_skew, accounts, kv),
        kv_for=lambda p: FaustTableKV(table, p), dedupe_dir=dedupe_dir, route=by_district, partitions=n)
    return table, [(seeding, seeding_topic), (dir_signal, directory_topic), (releases, releases_topic)]
