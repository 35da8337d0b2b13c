"""Fencing: a worker paused past its session timeout, then resumed, must not corrupt the new owner's state.

Worker A is SIGSTOPped mid-stream while it owns partitions, with events fetched but not yet
checkpointed. The group expels it after the session timeout; B takes every partition, rebuilds
them from A's last checkpoints and goes on. Then A gets SIGCONT: until it notices the rebalance
it may still process its fetched batch and write checkpoints for partitions it no longer owns.
They go under A's old epoch (streams/processor/store.py): they cannot overwrite B's keys, are
not chained onto B's, and A's later id blocks are ignored. Whatever A does, no event may be
lost or counted twice:

* once things settled, a fresh worker restoring from the checkpoints alone gives the truth;
* if A goes on running, the live workers together give the truth once the stream is drained.
"""

from __future__ import annotations

import signal
import time
from collections import defaultdict
from pathlib import Path

import pytest

from streams.config import Settings

from ..helpers import WorkerProcess, expected_payments, select, total, wait_until
from ..streaming import SteadyStream

pytestmark = pytest.mark.integration

RATE = 1500.0  # payments/s: fast enough that A has a fetched, unprocessed batch when stopped
SECONDS = 60.0  # a bound: the stream is stopped once A is back


def _worker(settings: Settings, tmp_path: Path, name: str) -> WorkerProcess:
    return WorkerProcess(settings, tmp_path / f"data-{name}", tmp_path / f"{name}.log")


def _live(workers: list[WorkerProcess]) -> list[WorkerProcess]:
    return [w for w in workers if w.alive()]


def _owned(w: WorkerProcess, settings: Settings) -> float:
    return total(w.metrics(), "digindex_assigned_partitions", topic=settings.payments_topic)


def _events(w: WorkerProcess, settings: Settings) -> float:
    return total(w.metrics(), "digindex_events_total", topic=settings.payments_topic)


def _lag(workers: list[WorkerProcess], settings: Settings) -> float:
    return sum(total(w.metrics(), "digindex_consumer_lag_messages", topic=settings.payments_topic)
               for w in _live(workers))


def _differences(workers: list[WorkerProcess], records: list[dict], settings: Settings) -> list[str]:
    """Every figure of the live workers (together) that differs from the ground truth; empty if exact."""
    truth = expected_payments(records)
    counts: dict[int, float] = defaultdict(float)
    shares: dict[int, list[float]] = defaultdict(list)
    accepted = 0.0
    for w in _live(workers):
        m = w.metrics()
        accepted += total(m, "digindex_events_total", topic=settings.payments_topic, outcome="accepted")
        for labels, v in select(m, "digindex_window_transactions", window="1h").items():
            counts[int(dict(labels)["district_lgd"])] += v
        for labels, v in select(m, "digindex_digital_share_ratio", window="1h").items():
            shares[int(dict(labels)["district_lgd"])].append(v)
    out = []
    want = sum(t["events"] for t in truth.values())
    if accepted != want:
        out.append(f"accepted {accepted:.0f} != {want} distinct events sent ({accepted - want:+.0f})")
    for d, t in sorted(truth.items()):
        if counts.get(d, 0) != t["events"]:
            out.append(f"district {d}: window transactions {counts.get(d, 0):.0f} != {t['events']} "
                       f"({counts.get(d, 0) - t['events']:+.0f})")
        got = shares.get(d, [])
        if len(got) != 1 or got[0] != pytest.approx(t["share"], abs=1e-12):
            out.append(f"district {d}: share {got} != {t['share']:.6f} (exported by {len(got)} workers)")
    return out


def _settled(workers: list[WorkerProcess], settings: Settings, want: int, quiet: float = 3.0,
             timeout: float = 120.0) -> None:
    """Until the live workers own every partition, have no lag, and their counts have stopped moving.

    Waits for "no progress" rather than for the expected count, so that a loss or a double count
    shows up as a difference instead of a time-out.
    """
    last: tuple[float, ...] = ()
    since = time.monotonic()
    deadline = since + timeout
    while time.monotonic() < deadline:
        live = _live(workers)
        snapshot = (sum(_owned(w, settings) for w in live), _lag(workers, settings),
                    sum(_events(w, settings) for w in live))
        if snapshot != last:
            last, since = snapshot, time.monotonic()
        elif snapshot[0] == settings.topic_partitions and snapshot[1] == 0 and snapshot[2] >= want \
                and time.monotonic() - since >= quiet:
            return
        elif snapshot[0] == settings.topic_partitions and time.monotonic() - since >= 4 * quiet:
            return  # stuck below the truth: report the figures rather than time out
        time.sleep(0.25)


def _pause_a_until_b_took_over(a: WorkerProcess, b: WorkerProcess, settings: Settings) -> None:
    """SIGSTOP A mid-stream; return once B owns every partition and has processed more events."""
    wait_until(lambda: _events(a, settings) > 3000, 60, what="A mid-stream")
    assert a.proc is not None
    a.proc.send_signal(signal.SIGSTOP)
    wait_until(lambda: _owned(b, settings) == settings.topic_partitions, 60, what="B owns every partition")
    taken_over = _events(b, settings)
    wait_until(lambda: _events(b, settings) > taken_over + 2000, 60, what="B processed more")


def _start_pair(settings: Settings, tmp_path: Path) -> tuple[WorkerProcess, WorkerProcess]:
    a = _worker(settings, tmp_path, "a").start().wait_ready()
    b = _worker(settings, tmp_path, "b").start()
    wait_until(lambda: _owned(a, settings) > 0 and _owned(b, settings) > 0, 60, what="both own partitions")
    return a, b


def _resume(w: WorkerProcess) -> None:
    if w.alive():
        assert w.proc is not None
        w.proc.send_signal(signal.SIGCONT)


def _resume_and_stream_on(a: WorkerProcess, b: WorkerProcess, settings: Settings, stream: SteadyStream) -> None:
    """SIGCONT A; the stream goes on until A is back in the group (rebuilt from B's checkpoints) or gone.

    Back: A owns partitions *and* A and B together own exactly all of them (right after SIGCONT,
    A still reports its stale assignment).
    """
    _resume(a)
    wait_until(lambda: not a.alive() or (_owned(a, settings) > 0
                                         and _owned(a, settings) + _owned(b, settings) == settings.topic_partitions),
               60, what="A back in the group, or gone")
    time.sleep(3.0)
    stream.finish()


def test_zombie_cannot_corrupt_the_new_owners_checkpoint(settings: Settings, tmp_path: Path) -> None:
    a, b = _start_pair(settings, tmp_path)
    stream = SteadyStream(settings, RATE, SECONDS, prefix="fence")
    fresh = _worker(settings, tmp_path, "b")  # B's data dir: B restarted on its machine
    stream.start()
    try:
        _pause_a_until_b_took_over(a, b, settings)
        _resume_and_stream_on(a, b, settings, stream)
        assert stream.unacked == 0, "every event reached the broker"
        _settled([a, b], settings, len(stream.records))
        # Only the checkpoints remain: B (and A, if it lived) killed, a fresh worker restores them.
        b.kill()
        a.kill()
        fresh.start()
        _settled([fresh], settings, len(stream.records))
        differences = _differences([fresh], stream.records, settings)
        assert not differences, "\n".join(differences)
    finally:
        _resume(a)
        stream.finish(5)
        for w in (a, b, fresh):
            w.stop()


def test_zombie_resumed_and_running_then_drained_union_is_exact(settings: Settings, tmp_path: Path) -> None:
    a, b = _start_pair(settings, tmp_path)
    stream = SteadyStream(settings, RATE, SECONDS, prefix="zombie")
    stream.start()
    try:
        _pause_a_until_b_took_over(a, b, settings)
        _resume_and_stream_on(a, b, settings, stream)
        assert stream.unacked == 0, "every event reached the broker"
        _settled([a, b], settings, len(stream.records))
        differences = _differences([a, b], stream.records, settings)
        assert not differences, "\n".join(differences)
    finally:
        _resume(a)
        stream.finish(5)
        a.stop()
        b.stop()
