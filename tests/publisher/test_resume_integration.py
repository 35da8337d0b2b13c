"""Killing the publisher mid-file and running the same command again: every record, exactly once downstream.

The guarantee under test: the checkpoint never runs ahead of the broker, so a
rerun sends every record the killed run did not confirm (none is lost), and it
re-sends at most ``--batch`` records (the acknowledgement window), which the
worker drops by ``(bank_code, event_id)``. A clean stop (SIGTERM) re-sends none.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from streams.config import Settings
from streams.publisher.checkpoint import Checkpoint, CheckpointMismatch

from .data import consume, env_for, payment, write_jsonl

pytestmark = pytest.mark.integration

BATCH = 1000


def command(src: Path) -> list[str]:
    return [sys.executable, "-m", "streams", "publish", str(src), "--kind", "payments", "--bank", "SBIN",
            "--batch", str(BATCH)]


def start_and_stop(settings: Settings, src: Path, sig: signal.Signals, min_sent: int) -> Checkpoint:
    """Start the publisher, send ``sig`` once it has checkpointed ``min_sent`` records; the checkpoint after."""
    where = Path(f"{src}.checkpoint.json")
    proc = subprocess.Popen(command(src), env=env_for(settings), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, f"the publisher ended before it was stopped: {proc.communicate()}"
            assert time.monotonic() < deadline, "no checkpoint within 60 s"
            try:
                cp = Checkpoint.load(where)
            except CheckpointMismatch:  # would mean a torn write: the replace is atomic, so never
                pytest.fail("checkpoint file was read half-written")
            if cp is not None and cp.sent >= min_sent:
                break
            time.sleep(0.005)
        time.sleep(0.03)  # land the kill while the next segments are in flight, not just after a checkpoint
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=30)
        if sig == signal.SIGTERM:
            assert proc.returncode == 1 and b"interrupted" in err
        else:
            assert proc.returncode == -sig
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    after = Checkpoint.load(where)
    assert after is not None and not after.complete
    return after


def rerun(settings: Settings, src: Path) -> str:
    proc = subprocess.run(command(src), env=env_for(settings), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_sigkill_then_rerun_sends_every_record_at_most_one_window_twice(settings: Settings, tmp_path: Path) -> None:
    n = 50_000
    src = write_jsonl(tmp_path / "big.jsonl", [payment(i) for i in range(n)])
    at_kill = start_and_stop(settings, src, signal.SIGKILL, min_sent=3 * BATCH)
    assert 3 * BATCH <= at_kill.sent < n

    out = rerun(settings, src)
    assert f"sent={n - at_kill.sent} rejected=0 skipped={at_kill.sent}" in out

    got = consume(settings, settings.payments_topic, n)
    counts = Counter(v["event_id"] for _, _, v in got)
    assert set(counts) == {f"TXN-{i:07d}" for i in range(n)}  # nothing lost
    duplicates = len(got) - n
    assert 0 <= duplicates <= BATCH, f"{duplicates} duplicates: more than the window of {BATCH}"
    assert max(counts.values()) <= 2

    out = rerun(settings, src)  # a finished file: nothing more
    assert f"sent=0 rejected=0 skipped={n}" in out
    assert len(consume(settings, settings.payments_topic, len(got), kind=None)) == len(got)


def test_sigterm_stops_cleanly_and_rerun_sends_no_duplicate(settings: Settings, tmp_path: Path) -> None:
    n = 20_000
    src = write_jsonl(tmp_path / "big.jsonl", [payment(i) for i in range(n)])
    at_stop = start_and_stop(settings, src, signal.SIGTERM, min_sent=BATCH)
    rerun(settings, src)
    got = consume(settings, settings.payments_topic, n)
    assert sorted(v["event_id"] for _, _, v in got) == [f"TXN-{i:07d}" for i in range(n)]
    assert at_stop.sent < n
