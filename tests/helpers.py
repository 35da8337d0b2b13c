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

import pytest
from prometheus_client.parser import text_string_to_metric_families

from streams.avro_codec import codec_for
from streams.banks import default_banks
from streams.broker import free_port, wait_for_port
from streams.channels import is_digital
from streams.config import Settings
from streams.producer import district_key, make_producer
from streams.signing import Signer, write_registry

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]

#: Secrets of the tests' key registry are derived from this (reproducible; never used in production).
TEST_KEY_SEED = "digindex-tests"
_test_keys: list[Path] = []


def test_key_registry() -> Path:
    """The tests' key registry: one active key per bank of the IFSC registry (``<bank>-1``)."""
    if not _test_keys:
        import atexit
        import shutil
        import tempfile

        where = Path(tempfile.mkdtemp(prefix="digindex-test-keys-"))
        atexit.register(shutil.rmtree, where, True)
        _test_keys.append(write_registry(where / "keys.json", sorted(default_banks().names), seed=TEST_KEY_SEED))
    return _test_keys[0]


test_key_registry.__test__ = False  # type: ignore[attr-defined]  # not a test, despite its name


def signer_for(settings: Settings) -> Signer:
    """Signs as the publishers do, with the settings' key registry (the tests' one if none)."""
    return Signer.from_settings(settings.replace(key_registry=settings.key_registry or test_key_registry()))


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


#: metric name -> the labels that key its figures (each signal's integration test has its own)
Keys = dict[str, tuple[str, ...]]
#: metric name -> label values (in ``Keys`` order) -> value
Figures = dict[str, dict[tuple[str, ...], float]]


def figures(w: Any, keys: Keys) -> Figures:
    """A worker's series of the metrics in ``keys``, keyed by those labels' values."""
    m = w.metrics()
    return {name: {tuple(dict(lab)[k] for k in labels): v for lab, v in select(m, name).items()}
            for name, labels in keys.items()}


def figures_of(workers: Iterable[Any], keys: Keys) -> Figures:
    """Every live worker's figures together; each series must come from one worker only."""
    out: Figures = {name: {} for name in keys}
    for w in workers:
        for name, series in figures(w, keys).items():
            both = out[name].keys() & series.keys()
            assert not both, f"{name} {sorted(both)[:3]} exported by two workers"
            out[name].update(series)
    return out


def assert_figures(got: Figures, want: dict[str, Any], keys: Keys) -> None:
    """``got`` equals ``want`` (an oracle's figures; names it has beyond ``keys`` are not metrics)."""
    for name, series in want.items():
        if name not in keys:
            continue
        assert got[name].keys() == series.keys(), name
        for key, value in series.items():
            assert got[name][key] == pytest.approx(value, abs=1e-12), (name, key)


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
    sign = signer_for(settings).headers
    producer = make_producer(settings)
    n = 0
    for r in records:
        key, value = district_key(r["district_lgd"]), codec.encode(r)
        producer.send(topic, key=key, value=value, headers=sign(r["bank_code"], key, value))
        n += 1
    producer.flush()
    producer.close()
    return n


def produce_raw(settings: Settings, topic: str, items: Iterable[tuple[bytes | None, bytes | None]],
                bank: str | None = "SBIN") -> None:
    """Send raw (key, value) pairs signed by ``bank``'s key (None: unsigned)."""
    sign = signer_for(settings).headers
    producer = make_producer(settings)
    for key, value in items:
        headers = sign(bank, key, value) if bank is not None and value is not None else None
        producer.send(topic, key=key, value=value, headers=headers)
    producer.flush()
    producer.close()


class SigningProducer:
    """A kafka-python producer whose messages are signed like a bank's: a foreign producer that signs.

    Each value is signed by the key of the bank its Avro record names (``bank``, SBIN, for a
    value that does not decode); headers given are kept and the signature's added; a null
    value (a tombstone) is sent unsigned.
    """

    def __init__(self, producer: Any, settings: Settings, bank: str = "SBIN") -> None:
        self.producer, self.bank = producer, bank
        self._sign = signer_for(settings).headers
        self._codecs = (codec_for("PaymentEvent"), codec_for("SeedingEvent"))

    def _bank_of(self, value: bytes) -> str:
        for codec in self._codecs:
            try:
                return str(codec.decode(value)["bank_code"])
            except Exception:  # not this schema, or not Avro at all
                continue
        return self.bank

    def send(self, topic: str, key: bytes | None = None, value: bytes | None = None, partition: int | None = None,
             headers: list[tuple[str, bytes]] | None = None) -> Any:
        headers = list(headers or [])
        if value is not None:
            headers += self._sign(self._bank_of(value), key, value) or []
        return self.producer.send(topic, key=key, value=value, partition=partition, headers=headers or None)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.producer, name)


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
