"""Tables whose changelog is replayed a fetched batch at a time, not a Faust event per record.

A new node rebuilds every table partition from its changelog. Faust replays a changelog record
by record through its conductor, a queue and ``asyncio.wait_for`` per record: measured here at
~2,400 records/s (93 MB of id blocks in 12 s) where a plain aiokafka consumer reads the same
topic at 72 MB/s. The signals' tables hold raw bytes (checkpoints and id blocks, written by
``streams.processor.kv.FaustTableKV``), so nothing in a record needs Faust's event: the
consumer (``streams.faust_transport``) hands Faust only the LAST record of each fetched batch
of such a changelog and parks the records before it here, keyed by that record's offset. When
Faust applies that record, ``apply_changelog_batch`` writes the parked records first, in
order, in the same RocksDB write batch. So the records reach the store in log order, Faust's
recovery sees every offset it waits for (highwater, persisted offset) and knows when it is done,
and a crash anywhere replays from the persisted offset as before (writes are idempotent).

Memory: parked records are bounded by ``MAX_PARKED_BYTES`` (the consumer waits for Faust to
apply them before fetching more), and the recovery buffer of these tables is two events (each
event carries a whole fetch; see below why not one).

*A store never takes its own writes back from the changelog.* A store partition is written
locally first, then its changelog record is sent (``FaustTableKV``), so the local store is at
least as new as anything it wrote to the changelog, and newer when the worker died with records
in the producer's buffer. Faust's recovery on the same data dir starts at the offset it persisted
at its last commit, seconds behind, and reads what it finds after it: replayed over the local
store, those older versions of its own keys replaced newer ones that the restored checkpoint
covered, so the processor never wrote them again (seen: 4 of 1,513 accounts back at an older
version, camp enablements short, after SIGKILL restarts). So every record is sent with a header
naming the store partition that wrote it (a random id kept in that store, under a reserved key
never sent to the changelog), and an apply skips the records its own store wrote: only another
store's records (a previous owner's, or what a standby follows) are applied. A store rebuilt
from nothing has a new id and applies everything. Faust also resumes the changelog of the
active partitions after recovery for a table whose recovery buffer is one event, and kept
applying the worker's own writes over its live store a few seconds late (the same reversal,
also while running); with two events it leaves them paused, as for its other tables.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Sequence
from typing import Any

import faust
from faust.types import TP

__all__ = ["MAX_PARKED_BYTES", "WRITER_HEADER", "WRITER_KEY", "BulkRecoveredTable", "raw_table", "raw_topic"]

#: Records held between the fetch and Faust's apply, across all partitions of a table.
MAX_PARKED_BYTES = 64 << 20

#: RocksDB options of each table partition. Faust's defaults are 3 x 64 MiB of write buffers
#: and a 2 GiB block cache of its own per partition store (3 tables x 8 partitions: 24 stores);
#: these tables are written a checkpoint at a time and read at restore, so 2 x 8 MiB and 8 MiB.
STORE_OPTIONS = {"write_buffer_size": 8 << 20, "max_write_buffer_number": 2, "block_cache_size": 8 << 20}

#: The header of every changelog record of these tables: the id of the store partition that wrote it
#: (8 random bytes: with its name and framing, about 15 bytes more per record).
WRITER_HEADER = "store"
#: Where a store partition keeps its id (local only; under the signals' reserved prefix ``\x00``,
#: which their account scans skip, and under no signal's checkpoint prefix).
WRITER_KEY = b"\x00\xffstore-id"

log = logging.getLogger(__name__)

_RAW = faust.Schema(key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw")


class _Message:
    """What the RocksDB store reads of a changelog message (``event.message``)."""

    __slots__ = ("headers", "key", "offset", "partition", "tp", "value")

    def __init__(self, tp: TP, offset: int, key: bytes, value: bytes | None, headers: Any) -> None:
        self.tp, self.partition, self.offset, self.key, self.value = tp, tp.partition, offset, key, value
        self.headers = headers


class _Event:
    __slots__ = ("message",)

    def __init__(self, message: _Message) -> None:
        self.message = message


class BulkRecoveredTable(faust.Table):
    """A raw bytes table whose changelog records may arrive parked behind one Faust event."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: (partition, offset of the record Faust gets) -> the records of its batch before it
        self.parked: dict[tuple[int, int], list[Any]] = {}
        self.parked_bytes = 0
        #: records applied from parked batches since the last recovery completed (logged then)
        self.replayed = 0
        #: records skipped since the last recovery completed: this worker's store wrote them
        self.own = 0
        self._writer: dict[int, bytes] = {}

    def writer_id(self, partition: int) -> bytes:
        """The id of this node's store of ``partition`` (made and kept in it on first use)."""
        ident = self._writer.get(partition)
        if ident is None:
            db = self.data._db_for_partition(partition)
            ident = db.get(WRITER_KEY)
            if ident is None:
                ident = os.urandom(8)
                db.put(WRITER_KEY, ident)
            self._writer[partition] = ident
        return ident

    def send_changelog(self, partition: int | None, key: Any, value: Any, key_serializer: Any = None,
                       value_serializer: Any = None) -> Any:
        """Faust's send, with the header naming the store that wrote the record (see the module)."""
        assert partition is not None  # FaustTableKV always names its partition
        return self.changelog_topic.send_soon(
            key=key, value=value, partition=partition, headers=[(WRITER_HEADER, self.writer_id(partition))],
            key_serializer=key_serializer or self.key_serializer,
            value_serializer=value_serializer or self.value_serializer,
            callback=self._on_changelog_sent, eager_partitioning=True)

    def _own(self, message: Any) -> bool:
        headers = message.headers
        if not headers:
            return False
        if isinstance(headers, dict):
            headers = headers.items()
        mine = self.writer_id(message.partition)
        return any(k == WRITER_HEADER and v == mine for k, v in headers)

    def park(self, tp: TP, before: Sequence[Any], offset: int) -> None:
        """Hold ``before`` (aiokafka records of one partition, in order) for the apply of the
        record at ``offset``, the next one, which Faust gets as an event."""
        size = sum(len(r.key or b"") + len(r.value or b"") for r in before)
        previous = self.parked.pop((tp.partition, offset), None)
        if previous is not None:  # the same batch fetched again (a seek back): replace it
            self.parked_bytes -= previous[0]
        self.parked[(tp.partition, offset)] = [size, tp, before]
        self.parked_bytes += size

    def apply_changelog_batch(self, batch: Iterable[Any]) -> None:
        """Faust's apply, with each event's parked records written just before it, and none of the
        records this node's store wrote itself (it holds them, or newer versions)."""
        expanded: list[Any] = []
        for event in batch:
            message = event.message
            held = self.parked.pop((message.partition, message.offset), None) if self.parked else None
            if held is not None:
                size, tp, records = held
                self.parked_bytes -= size
                self.replayed += len(records)
                expanded.extend(_Event(_Message(tp, r.offset, r.key, r.value, r.headers)) for r in records)
            expanded.append(event)
        applied: dict[Any, int] = {}  # tp -> the last offset seen (applied or skipped)
        foreign: list[Any] = []
        for event in expanded:
            m = event.message
            if m.offset > applied.get(m.tp, -1):
                applied[m.tp] = m.offset
            if self._own(m):
                self.own += 1
            else:
                foreign.append(event)
        super().apply_changelog_batch(foreign)
        for tp, offset in applied.items():  # Faust's apply persists the offsets of what it applied only
            self.data.set_persisted_offset(tp, offset)
        if self.parked:  # records Faust skipped (offsets it had seen) must not stay parked
            seen = {tp.partition: offset for tp, offset in applied.items()}  # one changelog topic
            for key in [k for k in self.parked if k[1] <= seen.get(k[0], -1)]:
                self.parked_bytes -= self.parked.pop(key)[0]

    async def on_recovery_completed(self, active_tps: Any, standby_tps: Any) -> None:
        if self.replayed or self.own:
            log.info("%s: %d changelog records replayed in fetched batches; %d skipped (this store wrote them)",
                     self.name, self.replayed, self.own)
            self.replayed = self.own = 0
        await super().on_recovery_completed(active_tps, standby_tps)


def raw_table(app: faust.App, name: str, partitions: int) -> BulkRecoveredTable:
    """A bytes -> bytes table of ``app`` replayed in batches (what ``app.Table`` does, this class)."""
    table = BulkRecoveredTable(app, name=name, default=None, beacon=app.tables.beacon, partitions=partitions,
                               key_type=bytes, value_type=bytes, schema=_RAW,
                               recovery_buffer_size=2, standby_buffer_size=1, options=dict(STORE_OPTIONS))
    return app.tables.add(table)  # type: ignore[return-value]


def raw_topic(app: faust.App, name: str, partitions: int) -> Any:
    """A topic of ``app`` carrying raw bytes (the processor decodes and checks them itself)."""
    return app.topic(name, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw",
                     partitions=partitions)
