"""A payments partition processor with no broker: real RocksDB stores, a synthetic clock.

For the benchmarks that drive the state layer directly (``bench.micro``, ``bench.restart``):
the same ``CheckpointStore``, ``DedupeStore`` and ``PartitionProcessor`` the worker runs, on a
``RocksKV`` (the table partition without its changelog) and an outbox that keeps its letters.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from streams.avro_codec import codec_for
from streams.config import Settings
from streams.payments.state import PaymentPartitionState
from streams.processor.dedupe import DedupeStore
from streams.processor.kv import RocksKV
from streams.processor.loop import PartitionProcessor, open_partition
from streams.processor.outbox import Outbox
from streams.processor.signal import Signal
from streams.processor.store import CheckpointStore
from streams.registry import default_registry

__all__ = ["Clock", "LetterBox", "local_processor"]


class Clock:
    """A settable clock (seconds), so hours of checkpoints take seconds to produce."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class LetterBox:
    """The dead-letter topic's stand-in at the Kafka boundary: keeps what is sent."""

    def __init__(self) -> None:
        self.sent: list[tuple[bytes | None, bytes]] = []

    async def send(self, key: bytes | None, value: bytes) -> asyncio.Future[None]:
        self.sent.append((key, value))
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        fut.set_result(None)
        return fut


async def _nothing() -> None:
    return None


def local_processor(directory: Path, clock: Clock, settings: Settings | None = None,
                    partition: int = 0) -> tuple[PartitionProcessor, RocksKV]:
    """Restore (or create) partition ``partition``'s processor under ``directory``."""
    s = settings or Settings()
    registry = default_registry()
    kv = RocksKV(directory / "table")
    codec = codec_for("PaymentEvent")
    signal = Signal(
        name="payments", topic="payments", codec=codec,
        store=CheckpointStore(b"", horizon_s=s.dedupe_horizon, clock=clock),
        make_state=lambda p, _kv: PaymentPartitionState(p, registry, s.windows, s.max_future_skew),
        kv_for=lambda p: kv, dedupe_dir=directory / "dedupe")
    dedupe = DedupeStore(directory / "dedupe" / f"payments-{partition}")
    outbox = Outbox(LetterBox(), "bench", (codec,))
    proc = asyncio.run(open_partition(signal, partition, dedupe, outbox, s.checkpoint_events,
                                      s.checkpoint_interval, _nothing, clock))
    return proc, kv


def close(proc: PartitionProcessor, kv: Any) -> None:
    proc.dedupe.close()
    kv.close()
