"""One partition of a changelog-backed key-value store, written in batches.

Faust's ``Table[key] = value`` costs ~400 us and works only inside an agent's event (it takes
the partition from the current event). A checkpoint writes a few values at once, and recovery
must write before the first event arrives, so signals write through ``PartitionKV``: the local
RocksDB of one table partition (Faust's own store, which Faust recovers from the changelog on a
new node) plus the changelog record, sent through the table so Faust keeps its persisted
offset. ``RocksKV`` is the same interface on a plain local RocksDB with no changelog, for the
broker-free tests and the synthetic-time benchmark (``bench/restart.py``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

from rocksdict import Options, Rdict

__all__ = ["FaustTableKV", "PartitionKV", "RocksKV"]


class PartitionKV(Protocol):
    """The store of one source partition's state."""

    def get(self, key: bytes) -> bytes | None: ...

    def put(self, key: bytes, value: bytes) -> None: ...

    def delete(self, key: bytes) -> None: ...

    def scan(self, prefix: bytes) -> Iterator[tuple[bytes, bytes]]: ...

    def scan_keys(self, prefix: bytes) -> Iterator[bytes]: ...

    def written_bytes(self) -> int: ...


def _scan(db: Rdict, prefix: bytes, values: bool) -> Iterator[Any]:
    it = db.items(from_key=prefix) if values else db.keys(from_key=prefix)
    for item in it:
        key = item[0] if values else item
        if not key.startswith(prefix):
            return
        yield item


class _RocksReads:
    """Reads and scans over ``self._db`` (a rocksdict ``Rdict``), and the bytes written so far."""

    written = 0

    @property
    def _db(self) -> Rdict:
        raise NotImplementedError

    def get(self, key: bytes) -> bytes | None:
        return self._db.get(key)

    def scan(self, prefix: bytes) -> Iterator[tuple[bytes, bytes]]:
        return _scan(self._db, prefix, True)

    def scan_keys(self, prefix: bytes) -> Iterator[bytes]:
        return _scan(self._db, prefix, False)

    def written_bytes(self) -> int:
        return self.written


class FaustTableKV(_RocksReads):
    """Partition ``partition`` of a Faust table (bytes -> bytes, raw serializers)."""

    def __init__(self, table: Any, partition: int) -> None:
        self.table = table
        self.partition = partition
        self.written = 0

    @property
    def _db(self) -> Rdict:
        return self.table.data._db_for_partition(self.partition)

    def put(self, key: bytes, value: bytes) -> None:
        self._db.put(key, value)
        self.table.send_changelog(self.partition, key, value, key_serializer="raw", value_serializer="raw")
        self.written += len(key) + len(value)

    def delete(self, key: bytes) -> None:
        self._db.delete(key)
        self.table.send_changelog(self.partition, key, None, key_serializer="raw", value_serializer="raw")
        self.written += len(key)


class RocksKV(_RocksReads):
    """A plain local RocksDB with the same interface (no changelog)."""

    def __init__(self, path: Path) -> None:
        opts = Options(raw_mode=True)
        opts.create_if_missing(True)
        path.parent.mkdir(parents=True, exist_ok=True)
        self._rdict = Rdict(str(path), opts)
        self.written = 0

    @property
    def _db(self) -> Rdict:
        return self._rdict

    def put(self, key: bytes, value: bytes) -> None:
        self._db.put(key, value)
        self.written += len(key) + len(value)

    def delete(self, key: bytes) -> None:
        self._db.delete(key)
        self.written += len(key)

    def live_bytes(self) -> int:
        """Keys + values held now: what a compacted changelog of this store would keep."""
        return sum(len(k) + len(v) for k, v in self._db.items())

    def close(self) -> None:
        self._db.close()
