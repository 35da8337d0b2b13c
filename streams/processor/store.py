"""Durable checkpoints of one partition's state: bounded by state size, fenced by epoch.

Layout in the partition's ``PartitionKV`` (every key under the signal's ``prefix``)::

    F/<epoch>               full snapshot: the state's whole ``snapshot()``, its seq and id (and,
                            after a restore, the deltas it was restored with, copied verbatim)
    D/<epoch>/<seq>         delta: the state's ``delta()`` since the checkpoint it names (``prev``)
    I/<day>/<epoch>/<seq>   the ids a checkpoint added to the dedupe store, for one event day

Why this shape (Kafka Streams' changelogged stores and Flink's incremental checkpoints, cut to
what a partition here holds):

- *Restore reads the state, not its history.* A restore reads one snapshot and at most
  ``snapshot_every`` deltas; a snapshot is rewritten under the same key and the deltas it covers
  are deleted, so a compacted changelog holds the live state whatever the uptime. Event ids
  (the only state that grows with rate x horizon) live in ``DedupeStore`` on disk; the id
  blocks are how a new node rebuilds it, deleted when their day leaves the horizon.
- *Fencing by epoch.* Every restore starts a new epoch (the newest one + 1, and at least the
  consumer group's generation of the assignment, which only a later owner exceeds): it writes
  ``F/<epoch>`` and waits for the broker to have it before anything else is written. A worker that was paused past its
  session (a zombie) still writes under its old epoch, so it can neither overwrite the new
  owner's snapshot or deltas (other keys) nor be chained onto them: a restore takes the highest
  epoch's snapshot, chains deltas by id, and accepts an id block of an older epoch only up to
  the seq at which that epoch ended (``epochs`` in the snapshot), so a zombie's later blocks are
  ignored (and deleted with the expired ones).
- *A new epoch copies, it does not re-encode.* ``F/<new epoch>`` is the restored snapshot's own
  bytes plus the deltas chained onto it, under a new header (a frame of parts): the state it
  describes is exactly the restored one, a zombie writing ``F/<old epoch>`` cannot touch it, and
  a restore costs decoding the state once, not decoding and encoding it (a day of windows took
  as long to encode as to decode). The deltas carried along count towards ``snapshot_every``,
  so restarts in quick succession never make the chain longer than a full snapshot's interval.
- *Outbox.* The dead letters refused since the last checkpoint are part of the checkpoint value
  and sent right after it (``streams.processor.outbox``); a restore sends the restored
  checkpoint's again. So a refusal and its dead letter become durable together, and a verdict
  that was never checkpointed left no trace to contradict on replay.
"""

from __future__ import annotations

import json
import logging
import os
import struct
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from .dedupe import DedupeStore
from .kv import PartitionKV

__all__ = ["CheckpointState", "CheckpointStore", "Lineage", "decode_snapshot", "decode_value", "encode_value"]

log = logging.getLogger(__name__)

_DIGEST = 16
_MARKER = struct.Struct("<QQ8s")  # epoch, seq, checkpoint id
#: A full snapshot's value: magic, part count, part lengths, then the parts (header, state, deltas).
_FRAME = b"DGF1"
_U32 = struct.Struct("<I")
#: Id blocks expired per checkpoint at most: a day's blocks leave gradually, not in one stall.
EXPIRE_PER_SAVE = 256


def encode_value(obj: Any) -> bytes:
    """Compact JSON, zlib-compressed (a 24 h snapshot is mostly zeros and would exceed 1 MB raw)."""
    return zlib.compress(json.dumps(obj, separators=(",", ":")).encode(), 1)


def decode_value(raw: bytes) -> Any:
    return json.loads(zlib.decompress(raw))


def _frame(parts: list[bytes]) -> bytes:
    lengths = b"".join(_U32.pack(len(p)) for p in parts)
    return b"".join([_FRAME, _U32.pack(len(parts)), lengths, *parts])


def _parts(raw: bytes) -> list[bytes]:
    if not raw.startswith(_FRAME):
        raise ValueError("not a full snapshot frame")
    (n,), at = _U32.unpack_from(raw, 4), 8
    lengths = [_U32.unpack_from(raw, at + 4 * i)[0] for i in range(n)]
    at += 4 * n
    out = []
    for length in lengths:
        out.append(raw[at:at + length])
        at += length
    return out


def decode_snapshot(raw: bytes) -> dict[str, Any]:
    """A full snapshot's value: its header's fields, ``state`` and ``deltas`` (the states carried along)."""
    header, state, *deltas = _parts(raw)
    return {**decode_value(header), "state": decode_value(state), "deltas": [decode_value(d)["state"] for d in deltas]}


class CheckpointState(Protocol):
    """What a signal's partition state gives the store (``streams.processor.signal``)."""

    offset: int

    def snapshot(self) -> dict[str, Any]: ...

    def delta(self) -> dict[str, Any]: ...

    def load(self, snapshot: dict[str, Any], deltas: list[dict[str, Any]]) -> None: ...

    def checkpointed(self) -> None: ...


@dataclass
class Lineage:
    """Where a partition's checkpoints stand: the epoch written in, the chain's last link."""

    epoch: int = 0
    seq: int = 0
    id: str = ""
    snapshot_seq: int = 0
    #: past epochs still referenced by live id blocks: [epoch, last seq, ended at ms]
    epochs: list[list[int]] = field(default_factory=list)
    #: dead letters of the last checkpoint (re-sent by a restore: they may not have been)
    outbox: list[str] = field(default_factory=list)
    #: keys found to be stale at restore (older epochs, unchained deltas), deleted by the next save
    stale: list[bytes] = field(default_factory=list)
    #: days before this have been (or are being) expired from the dedupe store
    frontier_day: int = 0
    #: deltas carried in this epoch's ``F/`` (they count towards the next full snapshot)
    carried: int = 0
    #: the restored chain as read (encoded state, then encoded deltas) and the offset it ends at:
    #: what ``start_epoch`` copies into the new epoch's snapshot (not saved)
    restored: list[bytes] = field(default_factory=list)
    restored_offset: int = -1

    def valid_block(self, epoch: int, seq: int) -> bool:
        if epoch == self.epoch:
            return seq <= self.seq
        return any(e == epoch and seq <= last for e, last, _ in self.epochs)


def _new_id() -> str:
    return os.urandom(8).hex()


class CheckpointStore:
    """Saves and restores one signal's partition states in their ``PartitionKV``."""

    def __init__(self, prefix: bytes = b"", snapshot_every: int = 120, horizon_s: float = 7 * 86400.0,
                 clock: Callable[[], float] = time.time) -> None:
        self.prefix = prefix
        self.snapshot_every = snapshot_every
        self.horizon_ms = int(horizon_s * 1000)
        self.clock = clock

    # --- keys ------------------------------------------------------------------------------------

    def _full(self, epoch: int) -> bytes:
        return self.prefix + b"F/%08d" % epoch

    def _delta(self, epoch: int, seq: int) -> bytes:
        return self.prefix + b"D/%08d/%012d" % (epoch, seq)

    def _block(self, day: int, epoch: int, seq: int) -> bytes:
        return self.prefix + b"I/%06d/%08d/%012d" % (day, epoch, seq)

    def _parse_block(self, key: bytes) -> tuple[int, int, int]:
        day, epoch, seq = key[len(self.prefix) + 2:].split(b"/")
        return int(day), int(epoch), int(seq)

    # --- save ------------------------------------------------------------------------------------

    def save(self, kv: PartitionKV, state: CheckpointState, lineage: Lineage, dedupe: DedupeStore,
             outbox: list[str]) -> None:
        """Make ``state`` durable with the ids pending in ``dedupe`` and the dead letters ``outbox``."""
        for key in lineage.stale:
            kv.delete(key)
        lineage.stale = []
        seq, ck_id = lineage.seq + 1, _new_id()
        by_day: dict[int, list[bytes]] = {}
        for digest, day in dedupe.pending.items():
            by_day.setdefault(day, []).append(digest)
        for day, digests in by_day.items():
            kv.put(self._block(day, lineage.epoch, seq), b"".join(digests))
        now_ms = int(self.clock() * 1000)
        if seq - lineage.snapshot_seq + lineage.carried >= self.snapshot_every:
            header = self._header(lineage, seq, ck_id, outbox)
            kv.put(self._full(lineage.epoch), _frame([encode_value(header), encode_value(state.snapshot())]))
            for old in range(lineage.snapshot_seq + 1, seq):
                kv.delete(self._delta(lineage.epoch, old))
            lineage.snapshot_seq, lineage.carried = seq, 0
        else:
            delta = {"seq": seq, "id": ck_id, "prev": lineage.id, "state": state.delta(), "outbox": outbox}
            kv.put(self._delta(lineage.epoch, seq), encode_value(delta))
        lineage.seq, lineage.id, lineage.outbox = seq, ck_id, outbox
        dedupe.commit(_MARKER.pack(lineage.epoch, seq, bytes.fromhex(ck_id)))
        state.checkpointed()
        self._expire(kv, lineage, dedupe, now_ms)

    def _header(self, lineage: Lineage, seq: int, ck_id: str, outbox: list[str]) -> dict[str, Any]:
        return {"epoch": lineage.epoch, "seq": seq, "id": ck_id, "outbox": outbox,
                "epochs": lineage.epochs, "frontier_day": lineage.frontier_day}

    def _expire(self, kv: PartitionKV, lineage: Lineage, dedupe: DedupeStore, now_ms: int) -> None:
        """Drop id blocks (and their ids) whose day has left the horizon, a few per save."""
        frontier = (now_ms - self.horizon_ms) // 86_400_000
        if frontier > lineage.frontier_day:
            lineage.frontier_day = frontier
            dedupe.frontier_day = frontier
            horizon_start = now_ms - self.horizon_ms - 86_400_000
            lineage.epochs = [e for e in lineage.epochs if e[2] >= horizon_start]
        for done, (key, value) in enumerate(kv.scan(self.prefix + b"I/")):
            day, _, _ = self._parse_block(key)
            if day >= lineage.frontier_day or done >= EXPIRE_PER_SAVE:
                break
            dedupe.forget(_digests(value), day)
            kv.delete(key)

    # --- restore ---------------------------------------------------------------------------------

    def restore(self, kv: PartitionKV, make_state: Callable[[], CheckpointState],
                dedupe: DedupeStore) -> tuple[CheckpointState, Lineage]:
        """The state of the last checkpoint of the newest epoch, and a new epoch to write in.

        The caller must make ``F/<new epoch>`` durable (``start_epoch``, then flush the producer)
        before it writes anything else.
        """
        state = make_state()
        lineage = Lineage()
        dedupe.pending = {}  # ids seen after the last checkpoint (by us, before a revoke) are replayed
        fulls = sorted(int(k[len(self.prefix) + 2:]) for k in kv.scan_keys(self.prefix + b"F/"))
        if not fulls:
            lineage.stale = list(kv.scan_keys(self.prefix + b"D/"))
            self._catch_up(kv, lineage, dedupe)
            return state, lineage
        top = fulls[-1]
        header, snap, *carried = _parts(kv.get(self._full(top)))  # type: ignore[arg-type]
        full = decode_value(header)
        lineage.stale = [self._full(e) for e in fulls[:-1]]
        lineage.epoch, lineage.seq, lineage.id = top, full["seq"], full["id"]
        lineage.snapshot_seq = full["seq"]
        lineage.epochs = [list(e) for e in full["epochs"]]
        lineage.frontier_day = full.get("frontier_day", 0)
        lineage.outbox = full["outbox"]
        deltas = [decode_value(raw)["state"] for raw in carried]
        for key, raw in kv.scan(self.prefix + b"D/"):
            epoch, seq = (int(x) for x in key[len(self.prefix) + 2:].split(b"/"))
            d = decode_value(raw) if epoch == top and seq == lineage.seq + 1 else None
            if d is None or d["prev"] != lineage.id:
                lineage.stale.append(key)  # an older epoch's, covered by the snapshot, or not on the chain
                continue
            deltas.append(d["state"])
            carried.append(raw)
            lineage.seq, lineage.id, lineage.outbox = seq, d["id"], d["outbox"]
        state.load(decode_value(snap), deltas)
        lineage.restored, lineage.restored_offset, lineage.carried = [snap, *carried], state.offset, len(carried)
        # the epoch this restore closes ends at the chain's last link: its later blocks are a zombie's
        lineage.epochs.append([top, lineage.seq, int(self.clock() * 1000)])
        dedupe.frontier_day = lineage.frontier_day
        self._catch_up(kv, lineage, dedupe)
        return state, lineage

    def _catch_up(self, kv: PartitionKV, lineage: Lineage, dedupe: DedupeStore) -> None:
        """Bring the dedupe store to the chain's end: reuse it if it is on the chain, else rebuild."""
        marker = dedupe.marker()
        after: tuple[int, int] = (-1, -1)
        if marker is not None:
            epoch, seq, _ = _MARKER.unpack(marker)
            if lineage.valid_block(epoch, seq):
                after = (epoch, seq)
            else:
                log.info("dedupe store %s is not on the restored chain (epoch %d seq %d): rebuilding",
                         dedupe.path, epoch, seq)
        if after == (lineage.epoch, lineage.seq):
            return  # the store is at the chain's end (a restart on the same node): nothing to read
        if after == (-1, -1) and marker is not None:
            dedupe.reset()
        bulk = dedupe.bulk()
        prefix = self.prefix + b"I/"
        # a rebuild reads every block, so with the scan; a catch-up the few after its marker, by key
        blocks = kv.scan(prefix) if after == (-1, -1) else ((k, None) for k in kv.scan_keys(prefix))
        for key, value in blocks:
            day, epoch, seq = self._parse_block(key)
            if (epoch, seq) <= after or day < lineage.frontier_day:
                continue
            if lineage.valid_block(epoch, seq):
                bulk.add(value if value is not None else kv.get(key) or b"", day)
            elif key not in lineage.stale:
                lineage.stale.append(key)  # a zombie's or an unfinished checkpoint's block
        bulk.flush()
        loaded = bulk.loaded
        if loaded:
            log.info("dedupe store %s caught up with %d ids from the changelog", dedupe.path, loaded)

    def start_epoch(self, kv: PartitionKV, state: CheckpointState, lineage: Lineage,
                    dedupe: DedupeStore, generation: int = 0) -> None:
        """Open a new epoch with a snapshot of the restored state (flush the producer after it).

        The epoch is at least the consumer group's ``generation`` of the assignment: a worker
        paused between this write and its delivery cannot hand the next owner (a later
        generation, which cannot see the snapshot yet) its own epoch number. The snapshot is the
        restored chain's bytes when ``state`` is still as restored, else ``state.snapshot()``.
        """
        lineage.epoch = max((lineage.epochs[-1][0] if lineage.epochs else lineage.epoch) + 1, generation)
        lineage.id = _new_id()
        lineage.snapshot_seq = lineage.seq
        header = encode_value(self._header(lineage, lineage.seq, lineage.id, lineage.outbox))
        if lineage.restored and lineage.restored_offset == state.offset:
            parts = [header, *lineage.restored]
        else:
            parts, lineage.carried = [header, encode_value(state.snapshot())], 0
        lineage.restored, lineage.restored_offset = [], -1
        kv.put(self._full(lineage.epoch), _frame(parts))
        dedupe.commit(_MARKER.pack(lineage.epoch, lineage.seq, bytes.fromhex(lineage.id)))


def _digests(value: bytes) -> list[bytes]:
    return [value[i:i + _DIGEST] for i in range(0, len(value), _DIGEST)]
