"""Which (bank_code, event_id) pairs were already applied, within a horizon, on disk.

Memory must not grow with horizon x rate (35 days at India's rates is billions of ids), so
the ids live in a local RocksDB per source partition: the key is a 16-byte BLAKE2b digest of
``bank_code \\x1f event_id`` (no event content on disk; a false duplicate needs a 128-bit
collision), the value the event's UTC day. Ids seen since the last checkpoint wait in a
``pending`` set and are written in one batch when the checkpoint is, together with a marker
naming that checkpoint; so the store always describes exactly some checkpoint, and the
partition's store (``streams.payments.store``) knows which one and can catch it up or rebuild
it from the id blocks in the changelog. Lookups for a batch go in one ``multi_get``.

Size per id: 16-byte key + 4-byte value, 20-25 bytes on disk as measured (bench.restart); memory is
RocksDB's write buffers and block cache, fixed (``DedupeStore.MEMORY_BYTES``), whatever the horizon.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import shutil
import struct
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from rocksdict import BlockBasedOptions, Cache, Options, Rdict, SstFileWriter, WriteBatch

__all__ = ["DAY_MS", "DedupeStore", "day_of", "id_digest"]

DAY_MS = 86_400_000
_DAY = struct.Struct("<I")
#: Where the checkpoint marker lives: shorter than any digest, so it never collides with one.
_MARKER = b"\x00marker"
_CACHE = Cache(32 << 20)  # shared by every store of the process: bounded whatever the partition count


def id_digest(bank_code: str, event_id: str) -> bytes:
    """The dedupe key of an event: 16 bytes, irreversible."""
    return hashlib.blake2b(f"{bank_code}\x1f{event_id}".encode(), digest_size=16).digest()


def day_of(ts_ms: int) -> int:
    """The UTC day number of an event time (epoch milliseconds)."""
    return ts_ms // DAY_MS


def _options() -> Options:
    opts = Options(raw_mode=True)
    opts.create_if_missing(True)
    opts.set_write_buffer_size(4 << 20)
    opts.set_max_write_buffer_number(2)
    table = BlockBasedOptions()
    table.set_bloom_filter(10, False)  # most lookups are misses (new events): ~3 us with the filter
    table.set_block_cache(_CACHE)
    opts.set_block_based_table_factory(table)
    return opts


class DedupeStore:
    """One partition's event ids: on disk, plus the ids pending since the last checkpoint."""

    #: Write buffers per store (2 x 4 MiB); the block cache (32 MiB) is shared by all stores.
    MEMORY_BYTES = 8 << 20

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = Rdict(str(path), _options())
        #: digest -> day, for ids seen since the last checkpoint
        self.pending: dict[bytes, int] = {}
        #: days before this one are gone (expired): their ids cannot be checked
        self.frontier_day = 0

    # --- lookups ---------------------------------------------------------------------------------

    def seen(self, digest: bytes) -> bool:
        """Whether an event with this digest was applied (pending or stored, not expired)."""
        if digest in self.pending:
            return True
        raw = self._db.get(digest)
        return raw is not None and _DAY.unpack(raw)[0] >= self.frontier_day

    def seen_many(self, digests: list[bytes]) -> list[bool]:
        """``seen`` for a batch, in one multi-get (pending ids are checked by the caller's order)."""
        values = self._db[digests] if digests else []
        lo = self.frontier_day
        return [raw is not None and _DAY.unpack(raw)[0] >= lo for raw in values]

    def add(self, digest: bytes, day: int) -> None:
        self.pending[digest] = day

    def __len__(self) -> int:
        """Ids stored and pending (RocksDB's estimate for the stored part)."""
        return (self._db.property_int_value("rocksdb.estimate-num-keys") or 0) + len(self.pending)

    # --- checkpoint ------------------------------------------------------------------------------

    def marker(self) -> bytes | None:
        """The marker of the checkpoint the stored ids describe (None: empty store)."""
        return self._db.get(_MARKER)

    def commit(self, marker: bytes) -> None:
        """Write the pending ids with ``marker`` in one atomic batch."""
        wb = WriteBatch(raw_mode=True)
        for digest, day in self.pending.items():
            wb.put(digest, _DAY.pack(day))
        wb.put(_MARKER, marker)
        self._db.write(wb)
        self.pending = {}

    def load(self, digests: Iterable[bytes], day: int) -> int:
        """Store ids of ``day`` (catching up from the changelog's id blocks); returns how many."""
        bulk = self.bulk()
        bulk.add(b"".join(digests), day)
        bulk.flush()
        return bulk.loaded

    def bulk(self) -> BulkLoad:
        """A loader for many ids at once (a new node rebuilding from the changelog's id blocks)."""
        return BulkLoad(self)

    def forget(self, digests: Iterable[bytes], day: int) -> None:
        """Delete ids of an expired ``day`` (an id re-used on a later day keeps its newer entry)."""
        keys = list(digests)
        if not keys:
            return
        wb = WriteBatch(raw_mode=True)
        for key, raw in zip(keys, self._db[keys], strict=True):
            if raw is not None and _DAY.unpack(raw)[0] == day:
                wb.delete(key)
        self._db.write(wb)

    def reset(self) -> None:
        """Empty the store (its contents belong to another lineage of checkpoints)."""
        self._db.close()
        Rdict.destroy(str(self.path))
        shutil.rmtree(self.path, ignore_errors=True)
        self._db = Rdict(str(self.path), _options())
        self.pending = {}

    def flush(self) -> None:
        self._db.flush()

    def close(self) -> None:
        self._db.close()


class BulkLoad:
    """Many ids into a ``DedupeStore`` through sorted SST files (RocksDB's external file ingestion).

    A new node rebuilds its dedupe store from the id blocks: hundreds of millions of ids. Put one
    by one through the memtable that runs at ~600k ids/s here; sorted and deduplicated in numpy
    (``_sorted_unique``) and written as SST files (no memtable), 4M ids take ~2.7 CPU s, of which
    ~1.2 s is rocksdict's per-key ``put`` (the floor of this design).

    A load of one chunk (``CHUNK`` ids, ~64 MB: a catch-up) is one file. A larger one spills
    each chunk to ``BUCKETS`` files on disk by the digest's first 4 bits, so each bucket is a
    disjoint key range; at the end each bucket is sorted whole and written as one SST file (in
    a pool of processes, ``write_bucket``) and all of them are ingested in one call. Files of
    disjoint ranges go straight to the bottom level: no compaction of what was written (the
    overlapping files of a chunk each cost the next partitions' restores a background merge of
    everything before them: 26 s a partition rising to 46 s over 8 partitions of 35M ids). A
    repeated id keeps its newest day; memory stays at a chunk, or a bucket, whatever the total.
    """

    CHUNK = 4_000_000
    BUCKETS = 16

    def __init__(self, store: DedupeStore) -> None:
        self.store = store
        self._keys = bytearray()
        self._days: list[tuple[int, int]] = []  # (ids so far, day) runs
        self._n = 0
        #: per bucket (keys file, days file), once a load outgrows one chunk
        self._spill: list[tuple[Path, Path]] | None = None
        self.loaded = 0

    def add(self, digests: bytes, day: int) -> None:
        """Queue a block of 16-byte digests of one event day."""
        n = len(digests) // 16
        if not n:
            return
        self._keys += digests[:n * 16]
        self._days.append((n, day))
        self._n += n
        if self._n >= self.CHUNK:
            self._spill_chunk()

    def flush(self) -> None:
        """Write and ingest everything queued; returns when the store holds it."""
        if self._spill is None:
            if not self._n:
                return
            path = self._path("one.sst")
            if write_sst(str(path), bytes(self._keys), _days(self._days)):
                self._ingest([path])
            self._take()
            return
        self._spill_chunk()
        spill, self._spill = self._spill, None
        pool = _pool()
        jobs = [(str(k), str(d), str(self._path(f"b{i}.sst"))) for i, (k, d) in enumerate(spill)]
        if pool is None:
            counts = [write_bucket(*job) for job in jobs]
        else:
            counts = list(pool.map(write_bucket, *zip(*jobs, strict=True)))
        for keys, days in spill:
            keys.unlink(missing_ok=True)
            days.unlink(missing_ok=True)
        self._ingest([Path(job[2]) for job, n in zip(jobs, counts, strict=True) if n])

    def _path(self, name: str) -> Path:
        return self.store.path.with_name(f"{self.store.path.name}.ingest-{name}")

    def _take(self) -> None:
        self.loaded += self._n
        self._keys, self._days, self._n = bytearray(), [], 0

    def _spill_chunk(self) -> None:
        """Append the queued ids to their buckets' files (keys, and their days as uint32)."""
        if not self._n:
            return
        if self._spill is None:
            self._spill = [(self._path(f"b{i}.keys"), self._path(f"b{i}.days")) for i in range(self.BUCKETS)]
            for keys, days in self._spill:
                keys.write_bytes(b"")
                days.write_bytes(b"")
        raw = bytes(self._keys)
        bucket = np.frombuffer(raw, dtype=np.uint8)[::16] >> 4
        order = np.argsort(bucket, kind="stable")
        keys = np.frombuffer(raw, dtype="V16")[order]
        days = _days(self._days)[order].astype("<u4")
        bounds = np.searchsorted(bucket[order], np.arange(self.BUCKETS + 1))
        for i, (kpath, dpath) in enumerate(self._spill):
            lo, hi = int(bounds[i]), int(bounds[i + 1])
            if hi > lo:
                with kpath.open("ab") as f:
                    f.write(keys[lo:hi].tobytes())
                with dpath.open("ab") as f:
                    f.write(days[lo:hi].tobytes())
        self._take()

    def _ingest(self, paths: list[Path]) -> None:
        if paths:
            self.store._db.ingest_external_file([str(p) for p in paths])
        for path in paths:
            path.unlink(missing_ok=True)


#: Processes writing SST files for a large load (spawned once, on the first large load).
_POOL_SIZE = max(1, min(len(os.sched_getaffinity(0)), 4))
_POOL: ProcessPoolExecutor | None = None


def _pool() -> ProcessPoolExecutor | None:
    """The SST writers' pool (None on one core: writing inline is as fast)."""
    global _POOL
    if _POOL_SIZE < 2:
        return None
    if _POOL is None:
        _POOL = ProcessPoolExecutor(_POOL_SIZE, mp_context=multiprocessing.get_context("spawn"))
    return _POOL


def _days(runs: list[tuple[int, int]]) -> np.ndarray:
    """The day of each queued id, from the (count, day) runs."""
    return np.repeat(np.array([d for _, d in runs], dtype=np.int64), [n for n, _ in runs])


def write_bucket(keys_path: str, days_path: str, sst_path: str) -> int:
    """One spilled bucket (its keys file and days file) as one sorted SST file; returns its ids."""
    raw = Path(keys_path).read_bytes()
    if not raw:
        return 0
    days = np.frombuffer(Path(days_path).read_bytes(), dtype="<u4").astype(np.int64)
    return write_sst(sst_path, raw, days)


def write_sst(path: str, raw: bytes, days: np.ndarray) -> int:
    """Write the digests of ``raw`` (16 bytes each, ``days`` theirs) as one sorted SST file at
    ``path``, each id once with its newest day; returns how many keys it holds."""
    keys, values = _sorted_unique(raw, days)
    writer = SstFileWriter(_options())
    writer.open(path)
    put = writer.__setitem__
    if isinstance(values, bytes):  # one day (the common case): one value object for every key
        for key in keys:
            put(key, values)
    else:
        for key, value in zip(keys, values, strict=True):
            put(key, value)
    writer.finish()
    return len(keys)


def _sorted_unique(raw: bytes, days: np.ndarray) -> tuple[list[bytes], bytes | list[bytes]]:
    """Digests (16 bytes each, ``days`` theirs) in key order, each once with its newest day.

    All in numpy but the final lists: ~0.5 s for 4M ids where a Python loop over slices took ~2 s.
    Returns the keys and either one value (every id of one day) or a value per key."""
    words = np.frombuffer(raw, dtype=">u8")
    hi, lo = words[0::2], words[1::2]
    order = np.argsort(hi, kind="stable")
    shi = hi[order]
    if np.any(shi[1:] == shi[:-1]):  # a 64-bit tie (or one id twice): the whole key, newest day first
        order = np.lexsort((-days, lo, hi))
        shi = hi[order]
    slo = lo[order]
    keep = np.ones(len(order), dtype=bool)
    keep[1:] = (shi[1:] != shi[:-1]) | (slo[1:] != slo[:-1])
    order = order[keep]
    keys = np.frombuffer(raw, dtype="V16")[order].tolist()
    kept_days = days[order]
    first = int(kept_days[0])
    if np.all(kept_days == first):
        return keys, _DAY.pack(first)
    packed = {d: _DAY.pack(d) for d in np.unique(kept_days).tolist()}
    return keys, [packed[d] for d in kept_days.tolist()]
