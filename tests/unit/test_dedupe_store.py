"""DedupeStore: event ids on a local RocksDB, pending until the checkpoint that commits them."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from streams.processor.dedupe import DAY_MS, DedupeStore, day_of, id_digest

from .factories import T0

DAY = day_of(T0)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[DedupeStore]:
    s = DedupeStore(tmp_path / "dedupe" / "payments-0")
    yield s
    s.close()


def test_digest_is_16_bytes_and_separates_bank_and_id() -> None:
    assert len(id_digest("SBIN", "e1")) == 16
    assert id_digest("SBIN", "e1") == id_digest("SBIN", "e1")
    assert id_digest("SBIN", "e1") != id_digest("PUNB", "e1")
    assert id_digest("SB", "IN1") != id_digest("SBI", "N1")
    assert b"SBIN" not in id_digest("SBIN", "e1") and b"e1" not in id_digest("SBIN", "e1")


def test_day_of_is_the_utc_day() -> None:
    assert day_of(T0) == T0 // DAY_MS
    assert day_of(T0 + DAY_MS - 1) == day_of(T0) and day_of(T0 + DAY_MS) == day_of(T0) + 1


def test_seen_add_commit_marker(store: DedupeStore) -> None:
    a, b = id_digest("SBIN", "a"), id_digest("SBIN", "b")
    assert store.marker() is None and not store.seen(a)
    store.add(a, DAY)
    assert store.seen(a), "a pending id is a duplicate before its checkpoint"
    assert not store.seen(b)
    assert store.marker() is None, "nothing is stored before the commit"
    assert store.seen_many([a, b]) == [False, False], "seen_many reads the store only (pending is the caller's)"
    store.commit(b"checkpoint-1")
    assert store.pending == {}
    assert store.marker() == b"checkpoint-1"
    assert store.seen(a) and not store.seen(b)
    assert store.seen_many([a, b]) == [True, False]
    store.add(b, DAY + 1)
    store.commit(b"checkpoint-2")
    assert store.marker() == b"checkpoint-2" and store.seen(b)
    assert store.seen_many([]) == []


def test_frontier_day_hides_expired_days(store: DedupeStore) -> None:
    old, new = id_digest("SBIN", "old"), id_digest("SBIN", "new")
    store.load([old], DAY)
    store.load([new], DAY + 1)
    assert store.seen(old) and store.seen(new)
    store.frontier_day = DAY + 1
    assert not store.seen(old) and store.seen(new)
    assert store.seen_many([old, new]) == [False, True]
    store.frontier_day = DAY
    assert store.seen(old), "hidden, not deleted"


def test_load_returns_how_many(store: DedupeStore) -> None:
    assert store.load([], DAY) == 0
    assert store.load([id_digest("SBIN", f"e{i}") for i in range(5)], DAY) == 5
    assert all(store.seen(id_digest("SBIN", f"e{i}")) for i in range(5))


def test_forget_deletes_only_entries_of_that_day(store: DedupeStore) -> None:
    reused, gone, kept = id_digest("SBIN", "reused"), id_digest("SBIN", "gone"), id_digest("SBIN", "kept")
    store.add(reused, DAY)
    store.add(gone, DAY)
    store.add(kept, DAY + 1)
    store.commit(b"1")
    store.add(reused, DAY + 2)  # the same (bank, id) seen again on a later day: its entry moves there
    store.commit(b"2")
    store.forget([reused, gone, id_digest("SBIN", "never-stored")], DAY)
    store.forget([], DAY)
    assert not store.seen(gone), "day DAY's own entry is deleted (not just hidden: frontier is 0)"
    assert store.seen(reused), "an id re-used on a later day survives the expiry of the earlier day"
    assert store.seen(kept)
    store.forget([reused], DAY + 2)
    assert not store.seen(reused)


def test_reset_empties_everything(store: DedupeStore) -> None:
    a = id_digest("SBIN", "a")
    store.add(a, DAY)
    store.commit(b"1")
    store.add(id_digest("SBIN", "b"), DAY)
    store.reset()
    assert store.marker() is None and store.pending == {}
    assert not store.seen(a) and not store.seen(id_digest("SBIN", "b"))
    store.add(a, DAY)  # usable after the reset
    store.commit(b"2")
    assert store.seen(a) and store.marker() == b"2"


def test_survives_close_and_reopen(tmp_path: Path) -> None:
    path = tmp_path / "dedupe" / "payments-3"
    s = DedupeStore(path)
    committed, uncommitted = id_digest("SBIN", "c"), id_digest("SBIN", "u")
    s.add(committed, DAY)
    s.commit(b"marker-7")
    s.add(uncommitted, DAY)
    s.flush()
    s.close()
    assert any(path.iterdir()), "the ids are on disk"
    again = DedupeStore(path)
    try:
        assert again.marker() == b"marker-7"
        assert again.seen(committed)
        assert not again.seen(uncommitted), "pending ids die with the process (their checkpoint never happened)"
        assert len(again) >= 1
    finally:
        again.close()


def test_bulk_load_through_sst_files_is_seen_with_its_day(tmp_path: Path) -> None:
    store = DedupeStore(tmp_path / "d")
    blocks = [(os.urandom(16 * 5000), 100), (os.urandom(16 * 3000), 101)]
    bulk = store.bulk()
    bulk.CHUNK = 4000  # several SST files
    for digests, day in blocks:
        bulk.add(digests, day)
    bulk.flush()
    assert bulk.loaded == 8000
    for digests, _ in blocks:
        for i in range(0, len(digests), 16 * 97):
            assert store.seen(digests[i:i + 16])
    store.frontier_day = 101
    assert not store.seen(blocks[0][0][:16]) and store.seen(blocks[1][0][:16])
    assert not list(tmp_path.glob("*.ingest-*")), "spilled and ingested files are removed"


def test_bulk_load_of_many_chunks_keeps_the_newest_day_of_an_id_across_chunks(tmp_path: Path) -> None:
    store = DedupeStore(tmp_path / "d")
    bulk = store.bulk()
    bulk.CHUNK = 1000  # spilled to the range buckets, written by the pool
    repeated = os.urandom(16)
    blocks = [(os.urandom(16 * 700), 100), (repeated, 100), (os.urandom(16 * 900), 101), (repeated, 103),
              (os.urandom(16 * 800), 102)]
    for digests, day in blocks:
        bulk.add(digests, day)
    bulk.flush()
    assert bulk.loaded == 2402
    for digests, _ in blocks:
        assert all(store.seen(digests[i:i + 16]) for i in range(0, len(digests), 16))
    store.frontier_day = 103
    assert store.seen(repeated), "the repeated id keeps its newest day, whichever chunk it came in"
    assert not store.seen(blocks[2][0][:16])
    assert not list(tmp_path.glob("*.ingest-*"))
    # the files were disjoint ranges, ingested in one call: nothing left for RocksDB to merge at level 0
    assert store._db.property_int_value("rocksdb.num-files-at-level0") == 0


def test_bulk_load_orders_64_bit_ties_and_keeps_the_newest_day_of_a_repeated_id(tmp_path: Path) -> None:
    store = DedupeStore(tmp_path / "d")
    twin_a, twin_b = b"\x07" * 8 + b"\x01" * 8, b"\x07" * 8 + b"\x00" * 8  # same first 8 bytes
    bulk = store.bulk()
    bulk.add(twin_a + twin_b, 200)
    bulk.add(twin_a, 205)  # the same id again, on a later day
    bulk.flush()
    store.frontier_day = 201
    assert store.seen(twin_a), "the newest day of a repeated id is kept"
    assert not store.seen(twin_b)
