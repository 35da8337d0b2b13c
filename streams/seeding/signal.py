"""The seeding signals: seeding itself, the account directory, and the directory's releases.

Seeding's checkpoints and the releases' live under ``RESERVED_PREFIX`` in the accounts table,
so account writes and the checkpoints that cover them share one changelog partition, in order.
The directory has a table of its own, partitioned by account (``streams.seeding.directory``).
"""

from __future__ import annotations

from collections import Counter
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
from ..topics import by_district, default_partition, district_key
from .directory import RELEASES, DirectoryPartitionState, ReleasePartitionState
from .state import DIRECTORY, RESERVED_PREFIX, SeedingPartitionState, account_key

__all__ = ["declare", "declare_directory"]


def declare_directory(app: faust.App, settings: Settings, registry: DistrictRegistry, codec: Any, name: str,
                      accounts: Any, directory_topic: str, releases_topic: str,
                      release_state: Callable[[int, Any], Any]) -> tuple[Any, list[tuple[Signal, Any]]]:
    """The account directory of the account signal ``name`` and its releases (``streams.seeding.directory``).

    The directory (table ``<name>-directory``, partitioned by account) reads the signal's forwarded
    events with ``codec``; its releases are applied by ``release_state(p, kv)`` on ``accounts``, the
    signal's own table (checkpoints under ``RESERVED_PREFIX + b"R"``). Returns the directory topic
    (the signal's ``DIRECTORY`` target) and the two signals with their source topics. Seeding's and
    enablement's directories are this one.
    """
    s = settings
    n = s.topic_partitions
    dir_topic = raw_topic(app, directory_topic, n)
    rel_topic = raw_topic(app, releases_topic, n)
    directory = raw_table(app, f"{name}-directory", n)
    release_codec = codec_for("AccountReleased", s.extra_schema_dir)
    partitions = list(range(n))
    dedupe_dir = s.data_dir / "dedupe"

    def release(rec: dict[str, Any]) -> tuple[bytes, bytes, int]:
        key = district_key(rec["district_lgd"])  # the partition that counts that district's accounts
        return key, release_codec.encode(rec), default_partition(key, partitions)

    dir_signal = Signal(
        name=f"{name}-directory", topic=directory_topic, codec=codec,
        store=CheckpointStore(RESERVED_PREFIX, horizon_s=s.dedupe_horizon),
        make_state=lambda p, kv: DirectoryPartitionState(p, registry, s.max_future_skew, kv, release),
        kv_for=lambda p: FaustTableKV(directory, p), dedupe_dir=dedupe_dir, targets={RELEASES: rel_topic},
        route=lambda record: account_key(record["bank_code"], record["account_ref"]), partitions=n)
    releases = Signal(
        name=f"{name}-releases", topic=releases_topic, codec=release_codec,
        store=CheckpointStore(RESERVED_PREFIX + b"R", horizon_s=s.dedupe_horizon),
        make_state=release_state, kv_for=lambda p: FaustTableKV(accounts, p), dedupe_dir=dedupe_dir,
        route=by_district, partitions=n)
    return dir_topic, [(dir_signal, dir_topic), (releases, rel_topic)]


def declare(app: faust.App, settings: Settings, registry: DistrictRegistry, codec: Any,
            accounts: dict[int, Counter[str]]) -> tuple[Any, list[tuple[Signal, Any]]]:
    """The accounts table and the three signals with their source topics."""
    s = settings
    n = s.topic_partitions
    seeding_topic = raw_topic(app, s.seeding_topic, n)
    table = raw_table(app, "seeding-accounts", n)
    directory_topic, moves = declare_directory(
        app, s, registry, codec, "seeding", table, s.seeding_directory_topic, s.seeding_releases_topic,
        lambda p, kv: ReleasePartitionState(p, registry, s.max_future_skew, accounts, kv))
    seeding = Signal(
        name="seeding", topic=s.seeding_topic, codec=codec,
        store=CheckpointStore(RESERVED_PREFIX, horizon_s=s.dedupe_horizon),
        make_state=lambda p, kv: SeedingPartitionState(p, registry, s.max_future_skew, accounts, kv, codec.encode),
        kv_for=lambda p: FaustTableKV(table, p), dedupe_dir=s.data_dir / "dedupe",
        targets={DIRECTORY: directory_topic}, route=by_district, partitions=n)
    return table, [(seeding, seeding_topic), *moves]
