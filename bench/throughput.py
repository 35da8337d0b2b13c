"""1. Throughput, payments: digindex next to the ceiling, the one-table-write baseline and bare Faust.

N Avro PaymentEvents are pre-produced once to one topic; then, in every run, each consumer
reads all of them in its own fresh consumer group, one consumer at a time (the order rotates
from run to run). Figures are medians over the runs; ratios are digindex's median over each
competitor's median. See ``bench/common.py`` for what is timed.

    .venv/bin/python -m bench.throughput [--quick] [--runs 3] [--events 200000]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from streams.broker import EmbeddedBroker
from streams.config import Settings
from streams.simulator.feed import preproduce
from streams.topics import ensure_topics

from . import competitors
from .common import (
    FULL,
    LOGS,
    QUICK,
    Bar,
    Profile,
    Timing,
    WorkerProcess,
    bench_settings,
    embedded_broker,
    median,
    print_table,
    time_workers,
    write_result,
)

__all__ = ["CONSUMERS", "measure", "preproduced", "run"]

CONSUMERS = ("ceiling", "baseline", "bare", "digindex")


def preproduced(broker: EmbeddedBroker, name: str, n: int, partitions: int = 8) -> tuple[Settings, float]:
    """Settings whose payments topic holds ``n`` simulated events; and the events/s it took to send them."""
    settings = bench_settings(broker.url, name, partitions)
    ensure_topics(settings)
    t = time.perf_counter()
    preproduce(settings, n, topic=settings.payments_topic, seed=0)
    return settings, n / (time.perf_counter() - t)


def measure(kind: str, settings: Settings, n: int, tmp: Path, label: str, poll: float = 2.0,
            on_ready: Callable[[int], None] | None = None, on_done: Callable[[int], None] | None = None,
            attempts: int = 2, env: dict[str, str] | None = None) -> Timing:
    """One consumer of kind ``kind`` over the ``n`` events of ``settings.payments_topic``, in a new group.

    A consumer that does not finish in time (a stuck group join on the embedded broker has been
    seen, rarely) is stopped and run once more in another new group; the retry is recorded.
    """
    for attempt in range(attempts):
        try:
            t = _measure(kind, settings, n, tmp, f"{label}-a{attempt}" if attempt else label, poll, on_ready,
                         on_done, env)
            t.extra["attempts"] = attempt + 1
            return t
        except (TimeoutError, RuntimeError) as exc:
            if attempt + 1 == attempts:
                raise
            print(f"  {kind}: {exc}; retrying in a new group", flush=True)
    raise AssertionError("unreachable")


def timeout_for(n: int) -> float:
    """Generous: 2 minutes plus 2 ms an event (the slowest consumer runs at ~3,000 events/s)."""
    return 120.0 + n / 500


def _measure(kind: str, settings: Settings, n: int, tmp: Path, label: str, poll: float,
             on_ready: Callable[[int], None] | None, on_done: Callable[[int], None] | None,
             env: dict[str, str] | None = None) -> Timing:
    group = f"{settings.app_id}-{label}"
    data = tmp / label
    if kind == "digindex":
        w = WorkerProcess(settings.replace(app_id=group), data, LOGS / f"{label}.log", env=env)
        w.start()
        try:
            timing = time_workers([w], settings.payments_topic, n, settings.topic_partitions, poll=poll,
                                  timeout=timeout_for(n), on_ready=(lambda: on_ready(w.pid)) if on_ready else None)
            if on_done:
                on_done(w.pid)
            timing.extra.update(peak_rss_bytes=w.status("VmHWM"), pid=w.pid)
            return timing
        finally:
            w.stop()
    bootstrap = settings.bootstrap_servers
    out = competitors.run(kind, bootstrap, settings.payments_topic, group, n, settings.topic_partitions, data,
                          LOGS / f"{label}.log", timeout=timeout_for(n), on_ready=on_ready, on_done=on_done)
    return Timing(n, out["t_ready"], out["t_first"], out["t_done"], 0,
                  {"pid": out["pid"], "cpu_seconds": out.get("cpu_seconds")})


def run(profile: Profile, runs: int | None = None, events: int | None = None, poll: float = 2.0,
        variants: dict[str, dict[str, str]] | None = None, only: tuple[str, ...] = CONSUMERS) -> dict[str, Any]:
    """``variants``: extra digindex workers measured alongside, name -> worker environment (experiments);
    ``only``: a subset of the four consumers (experiments; the bars need all four)."""
    runs = runs or profile.runs
    n = events or profile.events
    variants = variants or {}
    consumers = tuple(c for c in CONSUMERS if c in only) + tuple(f"digindex:{v}" for v in variants)
    rates: dict[str, list[float]] = {k: [] for k in consumers}
    cpu: dict[str, list[float]] = {k: [] for k in consumers}
    detail: list[dict[str, Any]] = []
    print(f"== 1. throughput, payments: {n:,} events, {runs} run(s) ==", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-tp-") as d, embedded_broker("tp") as b:
        tmp = Path(d)
        settings, sent_rate = preproduced(b, "tp", n)
        print(f"pre-produced {n:,} events at {sent_rate:,.0f}/s", flush=True)
        for r in range(runs):
            order = consumers[r % len(consumers):] + consumers[:r % len(consumers)]
            for name in order:
                kind, _, variant = name.partition(":")
                t = measure(kind, settings, n, tmp, f"tp-{kind}{variant}-{r}-{settings.app_id[-6:]}", poll,
                            env=variants.get(variant))
                rates[name].append(t.rate)
                cpu[name].append(t.cpu_us_per_event)
                detail.append({"run": r, "consumer": name, **t.as_dict()})
                print(f"  run {r + 1} {name:9s} {t.rate:>9,.0f} events/s  {t.cpu_us_per_event:6.1f} CPU us/event  "
                      f"({t.seconds:.1f} s)", flush=True)
    med = {k: median(v) for k, v in rates.items()}
    med_cpu = {k: median(v) for k, v in cpu.items()}
    dig = med.get("digindex", float("nan"))
    ratios = {k: dig / med[k] for k in consumers if k != "digindex"}
    cpu_ratios = {k: med_cpu[k] / med_cpu.get("digindex", float("nan")) for k in ratios}
    paired = {k: [a / b for a, b in zip(rates["digindex"], rates[k], strict=True)] for k in ratios}
    rows = [(k, med[k], " / ".join(f"{x:,.0f}" for x in rates[k]), med_cpu[k],
             "" if k == "digindex" else f"{ratios[k]:.2f}x", "" if k == "digindex" else f"{cpu_ratios[k]:.2f}x")
            for k in consumers]
    table = print_table(f"Throughput, payments ({n:,} pre-produced events, 8 partitions, median of {runs})",
                        ["consumer", "events/s", "runs", "CPU us/event", "digindex / it", "by CPU"], rows)
    per_core = 1e6 / med_cpu["digindex"] if med_cpu.get("digindex") else None
    bars = [Bar("digindex events per CPU-second (one core)", per_core, 25_000, unit=" events/s"),
            Bar("digindex / bare Faust", ratios.get("bare"), 5.0),
            Bar("digindex / ceiling (aiokafka + fastavro)", ratios.get("ceiling"), 0.3),
            Bar("digindex / one-table-write baseline", ratios.get("baseline"), 3.0)]
    return {"events": n, "runs": runs, "poll_seconds": poll, "per_core_rate": per_core,
            "preproduce_rate": sent_rate, "rates": rates,
            "median": med, "ratios": ratios, "paired_ratios": paired, "cpu_us_per_event": cpu,
            "median_cpu_us_per_event": med_cpu, "cpu_ratios": cpu_ratios, "detail": detail, "table": table,
            "bars": [x.as_dict() for x in bars], "_bars": bars}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--runs", type=int)
    p.add_argument("--events", type=int)
    p.add_argument("--variant", action="append", default=[], metavar="NAME:KEY=VALUE[;KEY=VALUE]",
                   help="experiment: also measure a digindex worker with this extra environment")
    p.add_argument("--consumers", help=f"experiment: a subset of {','.join(CONSUMERS)}")
    args = p.parse_args()
    variants = {}
    for v in args.variant:
        name, _, kvs = v.partition(":")
        variants[name] = dict(kv.split("=", 1) for kv in kvs.split(";") if kv)
    only = tuple(c.strip() for c in args.consumers.split(",")) if args.consumers else CONSUMERS
    out = run(QUICK if args.quick else FULL, args.runs, args.events, variants=variants, only=only)
    for bar in out.pop("_bars"):
        print(bar.line())
    print(f"wrote {write_result('throughput', out)}")


if __name__ == "__main__":
    main()
