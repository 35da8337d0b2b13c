"""A per-key store restored on the same data dir after SIGKILLs equals the events sent, key by key.

The processor writes each account's value to the partition's RocksDB and its changelog per event
and checkpoints often; the worker is SIGKILLed mid-stream (changelog records still in the
producer's buffer) and restarted on its data dir, three times, with every account changed several
times in succession across the whole log. Found with it: Faust went on reading the changelog of
its own active partitions after recovery (it resumes them for a table whose recovery buffer is one
event) and applied what it read over the live store, a few seconds behind the processor's writes:
after a restart it put the changelog's older versions back over newer local ones the restored
checkpoint covered (streams.processor.changelog says why the buffer is two events now).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from streams.config import Settings

from ..helpers import WorkerProcess, assert_figures, produce, total, wait_until
from ..unit.factories import enablement_event, enablement_oracle
from .data import DISTRICTS
from .test_enablement_integration import KEYS, SCHEMA, exported

pytestmark = pytest.mark.integration

MODES = [(), ("UPI",), ("QR",), ("DEBIT_CARD", "AEPS"), ("MOBILE_BANKING",), ("POS", "QR")]


def successive(accounts: int, versions: int, now: int) -> list[dict[str, Any]]:
    """``versions`` events per account, each newer than the last, account after account in every round:
    an account's newest value is written late in the log, long after its first."""
    out = []
    for v in range(versions):
        for i in range(accounts):
            lgd = DISTRICTS[i % len(DISTRICTS)]
            modes = MODES[(i + v) % len(MODES)]
            camp = "CAMP-1" if (i + v) % 3 == 0 else None
            out.append(enablement_event(f"e{i}-{v}", now - 3_600_000 + v * 1000 + i % 1000, lgd, "SBIN", f"A{i}",
                                        "CURRENT" if i % 4 == 0 else "SAVINGS", modes, camp))
    return out


def applied(w: WorkerProcess, topic: str) -> float:
    m = w.metrics()
    return sum(total(m, "digindex_events_total", topic=topic, outcome=o) for o in ("accepted", "late"))


def test_restarts_on_the_same_data_dir_after_sigkills_keep_every_account_newest(settings: Settings,
                                                                                 tmp_path: Path) -> None:
    now = int(time.time() * 1000)
    events = successive(1000, 6, now)
    topic = settings.enablement_topic
    settings = settings.replace(checkpoint_interval=0.3)  # the restored checkpoints cover most writes
    data = tmp_path / "data"
    thirds = [len(events) // 3, 2 * len(events) // 3, len(events)]
    sent = 0
    for cycle, upto in enumerate(thirds[:2]):
        w = WorkerProcess(settings, data, tmp_path / f"w{cycle}.log").start().wait_ready()
        produce(settings, topic, events[sent:upto], schema=SCHEMA)
        sent = upto
        # killed while it still writes: its newest changelog records are in the producer's buffer
        wait_until(lambda: applied(w, topic) > upto - 400, 90, what=f"cycle {cycle} mid-stream")  # noqa: B023
        w.kill()
    w = WorkerProcess(settings, data, tmp_path / "w-last.log").start().wait_ready()
    try:
        produce(settings, topic, events[sent:], schema=SCHEMA)
        wait_until(lambda: applied(w, topic) >= len(events), 120, what="drained")
        time.sleep(2.0)  # what the worker reads back, if anything, would land meanwhile
        want = enablement_oracle(events)
        assert_figures(exported(w), want, KEYS)
    finally:
        w.stop()
    # and the store itself: a worker opening it recounts every figure from the accounts it holds
    w = WorkerProcess(settings, data, tmp_path / "w-check.log").start().wait_ready()
    try:
        wait_until(lambda: applied(w, topic) >= len(events), 60, what="restored")
        assert_figures(exported(w), want, KEYS)
    finally:
        w.stop()


def test_a_new_node_after_sigkill_restarts_on_the_same_data_dir_gets_every_account(settings: Settings,
                                                                                  tmp_path: Path) -> None:
    """The changelog a new node restores from, after SIGKILL restarts that kept the local store."""
    now = int(time.time() * 1000)
    events = successive(1000, 6, now)
    topic = settings.enablement_topic
    settings = settings.replace(checkpoint_interval=0.3)
    data = tmp_path / "data"
    half = len(events) // 2
    w = WorkerProcess(settings, data, tmp_path / "w0.log").start().wait_ready()
    produce(settings, topic, events[:half], schema=SCHEMA)
    wait_until(lambda: applied(w, topic) > half - 400, 90, what="mid-stream")
    w.kill()
    w = WorkerProcess(settings, data, tmp_path / "w1.log").start().wait_ready()
    try:
        produce(settings, topic, events[half:], schema=SCHEMA)
        wait_until(lambda: applied(w, topic) >= len(events), 120, what="drained")
    finally:
        w.stop()
    w = WorkerProcess(settings, tmp_path / "fresh", tmp_path / "w-new.log").start().wait_ready()
    try:
        wait_until(lambda: applied(w, topic) >= len(events), 60, what="restored on a new node")
        time.sleep(1.0)
        assert_figures(exported(w), enablement_oracle(events), KEYS)
    finally:
        w.stop()
