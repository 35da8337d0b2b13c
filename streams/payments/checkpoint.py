"""Saving and restoring payment partition state through a Faust table (changelog-backed).

Why not a table write per event: at ~400 us each it caps a worker near 1.7k events/s.
Instead every ``checkpoint_events`` events or ``checkpoint_interval`` seconds the
worker writes, in one table value, a *delta*: the source offset reached, the small
counters, the minute buckets touched since the last delta, and the event ids added
to the dedupe index. Every ``snapshot_every`` deltas it also writes a *full* snapshot
of all buckets. Each value is one changelog message, so each is atomic; all go to
the changelog partition of the source partition they describe.

Restoring = full snapshot + the deltas after it (buckets, counters), + the ids of
every retained delta (dedupe). Deltas are deleted once a snapshot covers them and
their ids have left the dedupe horizon. Source offsets are committed back to the
restored offset + 1 (see ``streams.recovery``), so events after it are replayed
and applied exactly once; events at or before it are skipped by offset.
"""

from __future__ import annotations

import json
import zlib
from collections import deque
from collections.abc import Iterable, Mapping
from typing import Any

from .state import PaymentPartitionState

__all__ = ["CheckpointMeta", "PaymentCheckpointer", "decode_value", "encode_value"]


class CheckpointMeta:
    """Bookkeeping a partition carries between checkpoints."""

    __slots__ = ("epoch", "last_saved", "live", "orphans", "saved_offset", "snapshot_epoch")

    def __init__(self) -> None:
        self.epoch = 0  # seq of the last delta written
        self.snapshot_epoch = 0  # epoch the last full snapshot covers
        self.live: deque[tuple[int, int]] = deque()  # (seq, newest event ms) of retained deltas
        self.last_saved = 0.0  # wall-clock time of the last save
        #: deltas found after a gap at restore: not applied, deleted by the next save before
        #: a new delta could make them look contiguous again
        self.orphans: list[int] = []
        #: source offset the last checkpoint covers: each delta names the one it extends, so a
        #: stale delta (say, a local-only write of an earlier owner) cannot be chained on
        self.saved_offset = -1


def encode_value(obj: Any) -> bytes:
    """A table value: compact JSON, zlib-compressed (a 24 h snapshot is mostly zeros and would
    exceed Kafka's default 1 MB message size uncompressed)."""
    return zlib.compress(json.dumps(obj, separators=(",", ":")).encode(), 1)


def decode_value(raw: bytes) -> Any:
    return json.loads(zlib.decompress(raw))


class PaymentCheckpointer:
    """Reads and writes one topic's payment checkpoints in ``table`` (bytes -> bytes)."""

    def __init__(self, table: Any, topic: str, snapshot_every: int = 120) -> None:
        self.table = table
        self.topic = topic
        self.snapshot_every = snapshot_every

    def _delta_key(self, partition: int, seq: int) -> bytes:
        return f"{self.topic}/{partition}/D/{seq:012d}".encode()

    def _full_key(self, partition: int) -> bytes:
        return f"{self.topic}/{partition}/F".encode()

    def save(self, state: PaymentPartitionState, meta: CheckpointMeta) -> None:
        """Write a delta (and maybe a full snapshot). Must run inside the partition's stream iteration."""
        for orphan in meta.orphans:
            del self.table[self._delta_key(state.partition, orphan)]
        meta.orphans = []
        seq = meta.epoch + 1
        dirty = sorted(state.dirty)
        buckets: dict[str, dict[str, Any]] = {}
        for lgd, b in dirty:
            buckets.setdefault(str(lgd), {})[str(b)] = state.bucket_payload(lgd, b)
        newest = max((ts for _, ts in state.new_ids), default=state.watermark_ms)
        delta = {"seq": seq, "base": meta.saved_offset, "counters": state.counters(), "buckets": buckets,
                 "ids": state.new_ids, "newest": newest}
        self.table[self._delta_key(state.partition, seq)] = encode_value(delta)
        meta.live.append((seq, newest))
        meta.epoch = seq
        meta.saved_offset = state.offset
        if seq - meta.snapshot_epoch >= self.snapshot_every:
            full = {"seq": seq, "counters": state.counters(), "buckets": state.all_buckets()}
            self.table[self._full_key(state.partition)] = encode_value(full)
            meta.snapshot_epoch = seq
        horizon_start = state.watermark_ms - state.dedupe.horizon_ms
        while meta.live and meta.live[0][0] <= meta.snapshot_epoch and meta.live[0][1] < horizon_start:
            old_seq, _ = meta.live.popleft()
            del self.table[self._delta_key(state.partition, old_seq)]
        state.dedupe.expire(state.watermark_ms)
        state.new_ids = []
        state.dirty = set()
        state.applied_since_checkpoint = 0

    def restore(self, items: Iterable[tuple[bytes, bytes]], partitions: Iterable[int],
                make_state: Any) -> dict[int, tuple[PaymentPartitionState, CheckpointMeta]]:
        """Rebuild the states of ``partitions`` from the table's ``items``."""
        wanted = set(partitions)
        prefix = f"{self.topic}/"
        fulls: dict[int, dict[str, Any]] = {}
        deltas: dict[int, dict[int, dict[str, Any]]] = {}
        for raw_key, raw_value in items:
            key = raw_key.decode() if isinstance(raw_key, bytes) else str(raw_key)
            if not key.startswith(prefix) or raw_value is None:
                continue
            parts = key[len(prefix):].split("/")
            partition = int(parts[0])
            if partition not in wanted:
                continue
            if parts[1] == "F":
                fulls[partition] = decode_value(raw_value)
            else:
                deltas.setdefault(partition, {})[int(parts[2])] = decode_value(raw_value)
        out = {}
        for partition in wanted:
            state: PaymentPartitionState = make_state(partition)
            meta = CheckpointMeta()
            full = fulls.get(partition)
            ds = deltas.get(partition, {})
            buckets: dict[int, dict[int, Any]] = {}
            counters: Mapping[str, Any] | None = None
            if full is not None:
                meta.snapshot_epoch = meta.epoch = full["seq"]
                counters = full["counters"]
                _merge(buckets, full["buckets"])
            chain = counters["offset"] if counters is not None else -1
            for seq in sorted(ds):
                d = ds[seq]
                # a gap, or a delta that does not extend the checkpoint before it: this and later
                # deltas describe events to replay
                if seq > meta.epoch + 1 or (seq > meta.snapshot_epoch and d["base"] != chain):
                    meta.orphans.append(seq)
                    continue
                meta.live.append((seq, d["newest"]))
                for key, ts in d["ids"]:
                    state.dedupe.add(key, ts)
                if seq > meta.snapshot_epoch:  # after the snapshot: its buckets and counters apply
                    _merge(buckets, d["buckets"])
                    counters = d["counters"]
                    chain = counters["offset"]
                    meta.epoch = seq
            if counters is not None:
                state.load_counters(dict(counters))
                state.load_buckets(buckets)
            meta.saved_offset = chain
            out[partition] = (state, meta)
        return out


def _merge(into: dict[int, dict[int, Any]], buckets: Mapping[str, Mapping[str, Any]]) -> None:
    for lgd, minutes in buckets.items():
        target = into.setdefault(int(lgd), {})
        for b, payload in minutes.items():
            target[int(b)] = payload
