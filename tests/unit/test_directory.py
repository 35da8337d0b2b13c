"""The account directory's releases: one id per release, so none is deduplicated away."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from streams.processor.kv import RocksKV
from streams.registry import DistrictRegistry
from streams.seeding.directory import DirectoryPartitionState

from .factories import SKEW_S, T0, seeding_event


def test_a_stale_copys_release_has_an_id_of_its_own(registry: DistrictRegistry, tmp_path: Path) -> None:
    """The move's release of 45 may find the account elsewhere in its partition (no-op, but deduplicated
    by its id); a stale copy added in 45 afterwards must be released by a release with another id."""
    sent: list[dict[str, Any]] = []
    directory = DirectoryPartitionState(0, registry, SKEW_S, RocksKV(tmp_path / "dir"),
                                        lambda rec: (sent.append(rec), (b"", b"", 0))[1])  # type: ignore[func-returns-value]
    directory.apply(seeding_event("s1", T0, lgd=45), 0, T0)
    directory.apply(seeding_event("s2", T0 + 10, lgd=46), 1, T0)  # moves: releases 45
    directory.apply(seeding_event("s0", T0 - 10, lgd=45), 2, T0)  # a stale copy in 45: released at once
    directory.apply(seeding_event("s00", T0 - 20, lgd=45), 3, T0)  # another
    assert [r["district_lgd"] for r in sent] == [45, 45, 45]
    assert {r["newer_event_id"] for r in sent} == {"s2"}
    assert len({r["event_id"] for r in sent}) == 3
