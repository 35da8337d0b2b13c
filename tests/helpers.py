"""Test helpers: real worker processes, scraping, producing, waiting, and the ground truth."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from streams.avro_codec import codec_for
from streams.broker import free_port, wait_for_port
from streams.channels import is_digital
from streams.config import Settings
from streams.producer import district_key, make_producer

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def wait_until(check: Callable[[], Any], timeout: float = 60.0, interval: float = 0.25, what: str = "") -> Any:
    """Poll ``check`` until it returns something truthy; fail the test after ``timeout``."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what or check} (last: {last!r})")


def scrape(port: int) -> Samples:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        text = r.read().decode()
    out: Samples = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def select(samples: Samples, name: str, **labels: str) -> dict[frozenset[tuple[str, str]], float]:
    want = set(labels.items())
    return {lab: v for (n, lab), v in samples.items() if n == name and want <= set(lab)}


def total(samples: Samples, name: str, **labels: str) -> float:
    return sum(select(samples, name, **labels).values())


class WorkerProcess:
    """``python -m streams worker`` in a child process, with its own metrics port and data dir."""

    def __init__(self, settings: Settings, data_dir: Path, log: Path) -> None:
        self.port = free_port()
        self.settings = settings.replace(metrics_port=self.port, data_dir=data_dir, recovery_consistency_check=False)
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> WorkerProcess:
        env = {**os.environ, **self.settings.to_env()}
        self._out = open(self.log, "ab")  # noqa: SIM115
        self.proc = subprocess.Popen([sys.executable, "-m", "streams", "worker"], env=env,
                                     stdout=self._out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        wait_for_port("127.0.0.1", self.port, timeout=60)
        return self

    def wait_ready(self, timeout: float = 60.0) -> WorkerProcess:
        """Until the worker owns partitions (it has joined the group and recovered)."""
        wait_until(lambda: self.alive() and total(self.metrics(), "digindex_assigned_partitions") > 0,
                   timeout, what="worker ready")
        return self

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def metrics(self) -> Samples:
        try:
            return scrape(self.port)
        except OSError:
            return {}

    def kill(self) -> None:
        """SIGKILL: no chance to flush or hand over anything."""
        if self.alive():
            assert self.proc is not None
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.alive():
            assert self.proc is not None
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


def produce(settings: Settings, topic: str, records: Iterable[dict[str, Any]], schema: str = "PaymentEvent") -> int:
    """Encode and send ``records`` keyed by district; returns how many."""
    codec = codec_for(schema)
    producer = make_producer(settings)
    n = 0
    for r in records:
        producer.send(topic, key=district_key(r["district_lgd"]), value=codec.encode(r))
        n += 1
    producer.flush()
    producer.close()
    return n


def produce_raw(settings: Settings, topic: str, items: Iterable[tuple[bytes, bytes]]) -> None:
    producer = make_producer(settings)
    for key, value in items:
        producer.send(topic, key=key, value=value)
    producer.flush()
    producer.close()


def expected_payments(records: Iterable[dict[str, Any]]) -> dict[int, dict[str, float]]:
    """Ground truth per district for events all inside the 1 h window: shares and counts."""
    seen: set[tuple[str, str]] = set()
    n: dict[int, Counter[str]] = defaultdict(Counter)
    for r in records:
        key = (r["bank_code"], r["event_id"])
        if key in seen:
            continue
        seen.add(key)
        c = n[r["district_lgd"]]
        c["events"] += 1
        if r["status"] == "SUCCESS":
            c["ok"] += 1
            c["ok_value"] += r["amount_paise"]
            if is_digital(r["channel"]):
                c["digital"] += 1
                c["digital_value"] += r["amount_paise"]
    return {d: {"share": c["digital"] / c["ok"], "value_share": c["digital_value"] / c["ok_value"],
                "events": c["events"]} for d, c in n.items() if c["ok"]}
