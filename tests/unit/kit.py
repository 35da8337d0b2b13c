"""Real objects for the processor tests: RocksKV stores, signals on them, a dead-letter topic, a clock.

Nothing here fakes the state layer: the checkpoint store, the dedupe store, the outbox and the
loop are the real ones on real local RocksDBs. Only the Kafka boundary (the dead-letter topic's
``send``) and the clock are stand-ins.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from streams.avro_codec import codec_for
from streams.deadletter import decode_dead_letter
from streams.payments.state import PaymentPartitionState
from streams.processor.checkpoint import Checkpoint
from streams.processor.dedupe import DAY_MS, DedupeStore, day_of, id_digest
from streams.processor.kv import RocksKV
from streams.processor.loop import PartitionProcessor
from streams.processor.outbox import Outbox
from streams.processor.signal import Signal
from streams.processor.store import CheckpointStore
from streams.registry import DistrictRegistry
from streams.seeding.state import RESERVED_PREFIX, SeedingPartitionState

from .factories import SKEW_S, WINDOWS

PAYMENT_CODEC = codec_for("PaymentEvent")
SEEDING_CODEC = codec_for("SeedingEvent")
CODECS = (PAYMENT_CODEC, SEEDING_CODEC)
WEEK_S = 7 * 86400.0


class Clock:
    """A settable clock (seconds), passed wherever the code takes ``clock=``."""

    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


class DeadLetterTopic:
    """The dead-letter topic at the Kafka boundary: keeps what was sent, acknowledges on demand.

    ``probe`` (if given) is called at every send and its result kept in ``probes``: what the
    partition's store held when the letter left.
    """

    def __init__(self, auto_ack: bool = True, probe: Callable[[], Any] | None = None) -> None:
        self.auto_ack = auto_ack
        self.probe = probe
        self.sent: list[tuple[bytes | None, bytes]] = []
        self.probes: list[Any] = []
        self.futures: list[asyncio.Future[None]] = []

    async def send(self, key: bytes | None = None, value: bytes | None = None) -> asyncio.Future[None]:
        assert value is not None
        self.sent.append((key, value))
        if self.probe is not None:
            self.probes.append(self.probe())
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self.auto_ack:
            fut.set_result(None)
        self.futures.append(fut)
        return fut

    def ack_all(self) -> None:
        for fut in self.futures:
            if not fut.done():
                fut.set_result(None)

    def letters(self) -> list[dict[str, Any]]:
        return [decode_dead_letter(v) for _, v in self.sent]

    def reasons(self) -> list[str]:
        return [letter["reason"] for letter in self.letters()]


class CountingKV(RocksKV):
    """A ``RocksKV`` that counts, by key kind (``F/``, ``D/``, ``I/``), the values read and the keys listed."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.reads: Counter[bytes] = Counter()  # values: get, scan
        self.listed: Counter[bytes] = Counter()  # keys only: scan_keys

    @staticmethod
    def _kind(key: bytes) -> bytes:
        return key.lstrip(RESERVED_PREFIX)[:2]

    def reset_reads(self) -> None:
        self.reads, self.listed = Counter(), Counter()

    def touched(self, kind: bytes | None = None) -> int:
        """Keys read or listed (of one kind, or of every kind but id blocks)."""
        both = self.reads + self.listed
        return both[kind] if kind is not None else sum(n for k, n in both.items() if k != b"I/")

    def get(self, key: bytes) -> bytes | None:
        self.reads[self._kind(key)] += 1
        return super().get(key)

    def scan(self, prefix: bytes) -> Iterator[tuple[bytes, bytes]]:
        for key, value in super().scan(prefix):
            self.reads[self._kind(key)] += 1
            yield key, value

    def scan_keys(self, prefix: bytes) -> Iterator[bytes]:
        for key in super().scan_keys(prefix):
            self.listed[self._kind(key)] += 1
            yield key


def keys(kv: RocksKV, prefix: bytes) -> list[bytes]:
    return list(kv.scan_keys(prefix))


def all_items(kv: RocksKV) -> dict[bytes, bytes]:
    return dict(kv.scan(b""))


def payments_signal(registry: DistrictRegistry, kv: RocksKV, tmp_path: Path, *, snapshot_every: int = 120,
                    horizon_s: float = WEEK_S, clock: Callable[[], float] | None = None,
                    windows: tuple[float, ...] = WINDOWS, topic: str = "payments") -> Signal:
    store = CheckpointStore(b"", snapshot_every=snapshot_every, horizon_s=horizon_s,
                            **({"clock": clock} if clock else {}))
    return Signal(name="payments", topic=topic, codec=PAYMENT_CODEC, store=store,
                  make_state=lambda p, _kv: PaymentPartitionState(p, registry, windows, SKEW_S),
                  kv_for=lambda p: kv, dedupe_dir=tmp_path / "dedupe")


def seeding_signal(registry: DistrictRegistry, kv: RocksKV, tmp_path: Path, accounts: dict[int, Any], *,
                   snapshot_every: int = 120, horizon_s: float = WEEK_S,
                   clock: Callable[[], float] | None = None, topic: str = "seeding") -> Signal:
    store = CheckpointStore(RESERVED_PREFIX, snapshot_every=snapshot_every, horizon_s=horizon_s,
                            **({"clock": clock} if clock else {}))
    return Signal(name="seeding", topic=topic, codec=SEEDING_CODEC, store=store,
                  make_state=lambda p, part_kv: SeedingPartitionState(p, registry, SKEW_S, accounts, part_kv),
                  kv_for=lambda p: kv, dedupe_dir=tmp_path / "dedupe")


class Owner:
    """One owner of a partition (a worker after its restore), driven synchronously.

    It restores and opens an epoch exactly as ``open_partition`` does, then hands events to the
    real ``PartitionProcessor.handle`` and writes checkpoints with the real ``CheckpointStore.save``
    (the letters are kept in the checkpoint; sending them is ``test_processor_loop``'s business).
    ``clock`` is the worker's clock (give the signal's store the same one).
    """

    def __init__(self, signal: Signal, dedupe: DedupeStore, clock: Clock, partition: int = 0,
                 start: bool = True, generation: int = 0) -> None:
        self.signal = signal
        self.generation = generation
        self.kv = signal.kv_for(partition)
        self.dedupe = dedupe
        self.clock = clock
        state, self.lineage = signal.store.restore(self.kv, lambda: signal.make_state(partition, self.kv), dedupe)
        if start:
            self.start_epoch(state)
        self.proc = PartitionProcessor(signal, partition, state, self.lineage, self.kv, dedupe,
                                       Outbox(DeadLetterTopic(), "test-worker", CODECS),
                                       Checkpoint(10**9, 10**9, clock()), clock=clock)

    def start_epoch(self, state: Any = None) -> None:
        """Open the new epoch (``start=False``: the restore is done, its snapshot not yet written)."""
        self.signal.store.start_epoch(self.kv, self.state if state is None else state, self.lineage, self.dedupe,
                                      self.generation)

    @property
    def state(self) -> Any:
        return self.proc.state

    def feed(self, records: list[dict[str, Any] | bytes | None]) -> list[str]:
        """Hand each record (encoded here) at the next offset; returns each one's outcome."""
        out = []
        for rec in records:
            value = rec if rec is None or isinstance(rec, bytes) else self.signal.codec.encode(rec)
            before = dict(self.state.outcomes)
            self.proc.handle(self.state.offset + 1, None, value, self.clock())
            after = self.state.outcomes
            out.append(next(k for k in after if after[k] != before.get(k, 0)))
        return out

    def save(self) -> list[str]:
        """One checkpoint of everything handled so far; returns the dead letters it holds."""
        letters = self.proc.outbox.take()
        self.signal.store.save(self.kv, self.state, self.lineage, self.dedupe, letters)
        self.proc.checkpoint.done(self.clock())
        return letters


def seen(dedupe: DedupeStore, bank: str, event_id: str) -> bool:
    return dedupe.seen(id_digest(bank, event_id))


def figures(state: PaymentPartitionState) -> dict[str, Any]:
    """Everything the metrics read from a payments state (JSON-normalised).

    A bank whose buckets have all left the windows reads as zero live and is absent after a
    restore; both mean "nothing in the window", so all-zero bank windows are left out.
    """
    n = len(state.windows)
    return json.loads(json.dumps({
        "offset": state.offset,
        "outcomes": dict(sorted(state.outcomes.items())),
        "deadletters": dict(sorted(state.deadletters.items())),
        "banks_last": dict(sorted(state.bank_last_event_ms.items())),
        "buckets": state.all_buckets(),
        "districts": {
            str(lgd): {
                "head": d.rolling.head,
                "windows": [list(d.rolling.window(i)) for i in range(n)],
                "banks": {b: [list(r.window(i)) for i in range(n)]
                          for b, r in sorted(d.banks.items()) if any(r.window(n - 1))},
                "bank_heads": sorted({r.head for r in d.banks.values() if any(r.window(n - 1))}),
                "totals": sorted([ch, st, k] for (ch, st), k in d.totals.items()),
                "amounts": d.amounts,
                "last": d.last_event_ms,
                # the payment lines (issue 10): purposes, departments, declines, branches, as the API serves them
                "view": state.district_view(lgd),
                "branches": sorted((r["branch_ifsc"], r["bank"], r["transactions"], r["digital_share"],
                                    r["digital_value_share"]) for r in state.branch_view(lgd, wl))
                if (wl := state.window_labels()[-1]) else None,
            }
            for lgd, d in sorted(state.districts.items())
        },
    }))


__all__ = ["CODECS", "DAY_MS", "PAYMENT_CODEC", "SEEDING_CODEC", "WEEK_S", "Clock", "CountingKV",
           "DeadLetterTopic", "Owner", "all_items", "day_of", "figures", "keys", "payments_signal",
           "seeding_signal", "seen"]
