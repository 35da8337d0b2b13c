"""What a signal implements to run on the shared processor.

A signal is a schema (its topic's Avro record), a state module (a class implementing
``PartitionState``) and a metrics function. The processor does everything else: offsets,
decoding, the checks every event passes, the horizon, deduplication by (bank_code, event_id),
dead letters, checkpoints and their restore. See README "Adding a signal".
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from ..avro_codec import AvroCodec
from ..banks import default_banks
from ..validation import check_event
from .kv import PartitionKV
from .store import CheckpointStore

__all__ = ["PartitionState", "Signal"]


class PartitionState(Protocol):
    """One source partition's state of one signal (pure logic: no Kafka, no Faust)."""

    partition: int
    #: last source offset processed (any outcome); the checkpoint and this offset always agree
    offset: int
    #: messages processed (any outcome): the processor counts it, ``outcomes`` must add up to it
    consumed: int
    outcomes: Counter[str]
    deadletters: Counter[str]
    bank_last_event_ms: dict[str, int]
    #: messages for the signal's targets, drained by the processor after each ``apply``
    emitted: list[tuple[str, bytes, bytes, int | None]]

    def check(self, record: dict[str, Any], now_ms: int) -> None:
        """Raise the ``EventError`` of the first rule ``record`` breaks (domain checks)."""

    def apply(self, record: dict[str, Any], offset: int, now_ms: int) -> str:
        """Apply a checked, first-seen event; returns its outcome (``accepted``, ``late`` ...)."""

    def snapshot(self) -> dict[str, Any]:
        """The whole state, JSON-able (a full checkpoint)."""

    def delta(self) -> dict[str, Any]:
        """What changed since the last checkpoint, JSON-able."""

    def load(self, snapshot: dict[str, Any], deltas: list[dict[str, Any]]) -> None:
        """Rebuild from a snapshot and the deltas after it, in order."""

    def checkpointed(self) -> None:
        """The state was saved: forget what ``delta`` tracks."""


@dataclass
class Signal:
    """A topic's signal: how to decode it, make its state, and where its checkpoints live."""

    name: str
    topic: str
    codec: AvroCodec
    store: CheckpointStore
    #: (partition, its store) -> a fresh state
    make_state: Callable[[int, PartitionKV], PartitionState]
    #: partition -> the changelog-backed store of that partition
    kv_for: Callable[[int], PartitionKV]
    #: where the partitions' dedupe stores live (one RocksDB each)
    dedupe_dir: Path
    #: name -> topic this signal's states may send messages to (``StateBase.emit``)
    targets: dict[str, Any] = field(default_factory=dict)
    #: record -> the key its message must carry (None: not checked); with ``partitions``, the
    #: processor refuses a message whose key or partition is not the record's (``wrong_partition``)
    route: Callable[[dict[str, Any]], bytes] | None = None
    #: the source topic's partition count (Kafka's default partitioner: murmur2 of the key)
    partitions: int = 0
    #: verifies each message's signature (``streams.signing.Verifier``); None: a topic only the
    #: workers write (the seeding directory and releases)
    verifier: Any = None


class StateBase:
    """The part every signal's state has: offset, outcome and dead-letter counters, bank freshness."""

    def __init__(self, partition: int, registry: Any, max_future_skew: float, banks: Any = None) -> None:
        self.partition = partition
        self.registry = registry
        #: the bank registry (``streams.banks``; None: the shipped one)
        self.banks = banks if banks is not None else default_banks()
        self.offset = -1
        #: messages handed to the processor: always the sum of ``outcomes`` (the conservation check)
        self.consumed = 0
        self.outcomes: Counter[str] = Counter()
        self.deadletters: Counter[str] = Counter()
        #: bank -> event time of its newest accepted event (per bank: one bank's clock moves nothing else)
        self.bank_last_event_ms: dict[str, int] = {}
        #: bank -> district -> event time of its newest accepted event there (which districts a bank reports for)
        self.bank_district_last_ms: dict[str, dict[int, int]] = {}
        self._max_future_ms = int(max_future_skew * 1000)
        #: (target, key, value, partition) to send after the next checkpoint (drained by the processor)
        self.emitted: list[tuple[str, bytes, bytes, int | None]] = []

    def emit(self, target: str, key: bytes, value: bytes, partition: int | None = None) -> None:
        """Send a message to one of the signal's targets, with the checkpoint that covers this event."""
        self.emitted.append((target, key, value, partition))

    def check(self, record: dict[str, Any], now_ms: int) -> None:
        check_event(record, self.registry, now_ms, self._max_future_ms, self.banks)

    def seen_bank(self, bank: str, ts: int, lgd: int | None = None) -> None:
        if ts > self.bank_last_event_ms.get(bank, 0):
            self.bank_last_event_ms[bank] = ts
        if lgd is not None:
            districts = self.bank_district_last_ms.get(bank)
            if districts is None:
                districts = self.bank_district_last_ms[bank] = {}
            if ts > districts.get(lgd, 0):
                districts[lgd] = ts

    def base_counters(self) -> dict[str, Any]:
        return {"offset": self.offset, "consumed": self.consumed, "outcomes": dict(self.outcomes),
                "deadletters": dict(self.deadletters),
                "banks_last": self.bank_last_event_ms,
                "bank_districts": {b: {str(lgd): ts for lgd, ts in d.items()}
                                   for b, d in self.bank_district_last_ms.items()}}

    def load_base(self, c: dict[str, Any]) -> None:
        self.offset = c["offset"]
        self.outcomes = Counter(c["outcomes"])
        self.consumed = c.get("consumed", sum(self.outcomes.values()))  # checkpoints before the counter
        self.deadletters = Counter(c["deadletters"])
        self.bank_last_event_ms = dict(c["banks_last"])
        self.bank_district_last_ms = {b: {int(lgd): ts for lgd, ts in d.items()}
                                      for b, d in c.get("bank_districts", {}).items()}  # absent before

    # A state whose checkpoint is its counters alone (its per-key state lives in its store) uses
    # these as they are: the whole state is small, so a delta is the whole of it.

    def snapshot(self) -> dict[str, Any]:
        return self.base_counters()

    def delta(self) -> dict[str, Any]:
        return self.snapshot()

    def checkpointed(self) -> None:
        pass

    def load(self, snapshot: dict[str, Any], deltas: list[dict[str, Any]]) -> None:
        c = deltas[-1] if deltas else snapshot
        if c:
            self.load_base(c)


class StoreBackedState(StateBase):
    """A state whose figures are counted from its per-key store (seeding, enablement, enrolments):
    its checkpoint is the base counters and each district's newest event time (``last_event_ms``,
    the freshness figure), nothing per key."""

    def __init__(self, partition: int, registry: Any, max_future_skew: float, banks: Any = None) -> None:
        super().__init__(partition, registry, max_future_skew, banks)
        #: district -> event time of its newest accepted event
        self.last_event_ms: dict[int, int] = {}

    def seen(self, bank: str, ts: int, lgd: int) -> None:
        """An event of ``bank`` at ``ts`` in district ``lgd`` is held: the district's and the bank's
        freshness (applied events, and replays the store already holds)."""
        if ts > self.last_event_ms.get(lgd, 0):
            self.last_event_ms[lgd] = ts
        self.seen_bank(bank, ts, lgd)

    def snapshot(self) -> dict[str, Any]:
        c = self.base_counters()
        c["last"] = {str(k): v for k, v in self.last_event_ms.items()}
        return c

    def load_base(self, c: dict[str, Any]) -> None:
        super().load_base(c)
        self.last_event_ms = {int(k): v for k, v in c["last"].items()}
