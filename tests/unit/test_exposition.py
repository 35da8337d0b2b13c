"""``streams.exposition.render`` writes what ``prometheus_client.generate_latest`` writes, byte for byte."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, Counter, Enum, Gauge, Histogram, Info, Summary, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from streams.config import Settings
from streams.exposition import render
from streams.metrics import build_registry
from streams.payments.state import PaymentPartitionState
from streams.runtime import Runtime
from streams.simulator.generator import Simulator

from .test_metrics_collector import filled


class Frozen(Collector):
    """One collection of ``registry``, replayed: process figures move between two renders, this does not."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.families = list(registry.collect())

    def collect(self) -> Any:
        return iter(self.families)


class Awkward(Collector):
    """Label values and help texts that need escaping, a sample with a timestamp, odd floats."""

    def collect(self) -> Any:
        g = GaugeMetricFamily("digindex_test_awkward", 'help with a \\ backslash\nand "quotes"',
                              labels=["district", "quote"])
        g.add_metric(['Back\\slash', 'say "hi"\nthere'], 1.5, timestamp=1_700_000_000.123)
        g.add_metric(["plain", ""], float("inf"))
        g.add_metric(["nan", "x"], float("nan"))
        g.add_metric(["big", "y"], 123456789012.0)
        g.add_metric(["small", "z"], -1e-9)
        g.add_metric(['only "quoted"', 'only \\'], 2)
        yield g


def same(registry: CollectorRegistry) -> bytes:
    frozen = CollectorRegistry(auto_describe=False)
    frozen.register(Frozen(registry))
    expected = generate_latest(frozen)
    assert render(frozen) == expected
    return expected


def test_every_metric_type_and_escaping() -> None:
    registry = CollectorRegistry()
    Counter("digindex_test_events", "events", ["topic"], registry=registry).labels("payments").inc(3)
    Gauge("digindex_test_gauge", "a gauge", registry=registry).set(2)
    Histogram("digindex_test_delay_seconds", "delay", ["topic"], registry=registry).labels("p").observe(0.3)
    Summary("digindex_test_summary", "summary", registry=registry).observe(4)
    Info("digindex_test_build", "build", registry=registry).info({"version": "1.2"})
    Enum("digindex_test_state", "state", states=["up", "down"], registry=registry).state("down")
    registry.register(Awkward())
    out = same(registry)
    assert b"_created" in out and b'say \\"hi\\"\\nthere' in out  # both paths were exercised


def test_a_worker_registry(tmp_path: Path) -> None:
    """The collector's every family (test_metrics_collector's runtime), process metrics and the delay histogram."""
    registry, delay = build_registry(filled(tmp_path))
    delay.labels(topic="payments").observe(0.3)
    assert same(registry).count(b"\n") > 200


@pytest.mark.parametrize("events", [20_000])
def test_a_busy_partition(events: int) -> None:
    """Every district, bank, purpose, department and branch summary of a simulated day's state."""
    rt = Runtime(Settings())
    registry, _ = build_registry(rt)
    s = rt.settings
    state = PaymentPartitionState(0, rt.registry, s.windows, s.max_future_skew)
    now = int(time.time() * 1000)
    sim = Simulator(0, accounts=0)
    for i in range(events):
        state.apply(sim.payment(now), i, now)

    class Owned:  # what the collector reads of a runner
        signal = type("S", (), {"topic": "payments"})()
        processors = {0: type("P", (), {"state": state, "checkpoint": type("C", (), {"saved": 0})(),
                                        "restored_in": 0.0})()}

    rt.runners["payments"] = Owned()  # type: ignore[assignment]
    assert same(registry).count(b"\n") > 3000
