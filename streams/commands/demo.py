"""Run the whole system on one machine: embedded broker, one worker, simulated banks, live board.

Starts tansu on a free port, a worker (child process) serving /metrics, and the
simulator for all 13 Uttarakhand districts, then shows the terminal board
(refreshed in place on a terminal, a log line per refresh otherwise).
--duration ends it cleanly; so does Ctrl-C. Every child process is stopped.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

from ..board import run_board
from ..broker import EmbeddedBroker, free_port
from ..config import Settings, parse_duration
from ..signing import write_registry
from ..simulator.feed import FeedOptions, run_feed
from ..simulator.generator import DEFAULT_BANKS
from ..topics import ensure_topics


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--duration", type=parse_duration, default=None,
                        help="stop after this long (90, 90s, 15m); default: until Ctrl-C")
    parser.add_argument("--rate", type=float, default=200.0, help="simulated payments per second")
    parser.add_argument("--seed", type=int, default=1, help="simulator seed")
    parser.add_argument("--accounts", type=int, default=20_000, help="accounts in the seeding first load")
    parser.add_argument("--broker-port", type=int, default=0, help="embedded broker port (0: a free port)")
    parser.add_argument("--metrics-port", type=int, default=6066, help="the worker's /metrics port (0: free)")
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="worker state directory (default: a temporary one, removed at exit)")
    parser.add_argument("--interval", type=float, default=2.0, help="board refresh, seconds")


def _wait_ready(port: int, proc: subprocess.Popen[bytes], timeout: float = 90.0) -> None:
    """Until the worker's /healthz answers with partitions assigned."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the worker exited with status {proc.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                if b'"payments_partitions":[]' not in r.read():
                    return
        except OSError:
            pass
        time.sleep(0.25)
    raise TimeoutError(f"the worker was not ready after {timeout:.0f} s")


def _stop(proc: subprocess.Popen[bytes] | None) -> None:
    if proc is not None and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def run(args: argparse.Namespace, settings: Settings) -> int:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    tmp = None if args.data_dir else Path(tempfile.mkdtemp(prefix="digindex-demo-"))
    data_dir = args.data_dir or tmp
    assert data_dir is not None
    worker: subprocess.Popen[bytes] | None = None
    feed: threading.Thread | None = None
    log_path = data_dir / "worker.log"
    with EmbeddedBroker(port=args.broker_port or None) as broker:
        try:
            settings = settings.replace(
                broker=broker.url, data_dir=data_dir / "state", metrics_port=args.metrics_port or free_port(),
                recovery_consistency_check=False,  # tansu under-reports high watermarks (see config.py)
            )
            ensure_topics(settings)
            data_dir.mkdir(parents=True, exist_ok=True)
            if settings.key_registry is None:
                # one fresh random key per simulated bank, for the simulator to sign and the worker to verify
                settings = settings.replace(key_registry=write_registry(data_dir / "keys.json", DEFAULT_BANKS))
            with open(log_path, "ab") as log:
                # own session: Ctrl-C reaches the demo only, which then stops the worker in order
                worker = subprocess.Popen([sys.executable, "-m", "streams", "worker"],
                                          env={**os.environ, **settings.to_env()}, stdout=log,
                                          stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
            kept = "" if tmp is None else ", removed at exit"
            print(f"digindex demo: broker {broker.url}; starting a worker (log: {log_path}{kept}) ...", flush=True)
            _wait_ready(settings.metrics_port, worker)
            base = f"http://{settings.metrics_host}:{settings.metrics_port}"
            print(f"digindex demo: metrics at {base}/metrics (Prometheus format), the query API at "
                  f"{base}/api/v1/districts; simulating {args.rate:g} payments/s", flush=True)
            options = FeedOptions(rate=args.rate, seed=args.seed, accounts=args.accounts)
            feed = threading.Thread(target=run_feed, args=(settings, options),
                                    kwargs={"stop": stop, "out": open(os.devnull, "w")},  # noqa: SIM115
                                    name="simulator", daemon=True)
            feed.start()
            if args.duration:
                timer = threading.Timer(args.duration, stop.set)
                timer.daemon = True
                timer.start()
            run_board([f"{base}/metrics"], interval=args.interval, stop=stop)
        except KeyboardInterrupt:
            pass
        finally:
            stop.set()
            if feed is not None:
                feed.join(10)
            _stop(worker)
            if tmp is not None:
                shutil.rmtree(tmp, ignore_errors=True)
    print("digindex demo: stopped (broker, worker and simulator)", flush=True)
    return 0
