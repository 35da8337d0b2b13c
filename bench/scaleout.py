"""4. Scale-out: one digindex worker versus two (one consumer group) on the same pre-produced topic.

Each configuration runs in its own new group over the same N events; the order alternates
from run to run. Two workers are ready once each owns partitions and together they own all
8; events counted before that (a worker that joined first may start early) are subtracted,
see ``bench/common.py``. Payments are keyed by district (13 districts on 8 partitions), so
the split between two workers is as even as the partitions' districts allow; the machine's
core count bounds the ratio too (both workers, the broker and the poller share it).

    .venv/bin/python -m bench.scaleout [--quick] [--runs 3] [--events 200000]
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path
from typing import Any

from streams.config import Settings

from .common import (
    FULL,
    LOGS,
    QUICK,
    Bar,
    Profile,
    Timing,
    WorkerProcess,
    embedded_broker,
    median,
    print_table,
    time_workers,
    write_result,
)
from .throughput import preproduced, timeout_for

__all__ = ["run", "run_workers"]


def run_workers(settings: Settings, count: int, n: int, tmp: Path, label: str,
                broker_pid: int | None = None) -> Timing:
    """``count`` workers in one new group over the ``n`` events of the payments topic."""
    s = settings.replace(app_id=f"{settings.app_id}-{label}")
    workers = [WorkerProcess(s, tmp / f"{label}-{i}", LOGS / f"{label}-{i}.log") for i in range(count)]
    try:
        for w in workers:
            w.start()
        t = time_workers(workers, s.payments_topic, n, s.topic_partitions, timeout=timeout_for(n),
                         broker_pid=broker_pid)
        t.extra["peak_rss_bytes"] = [w.status("VmHWM") for w in workers]
        return t
    finally:
        for w in workers:
            w.stop()


def run(profile: Profile, runs: int | None = None, events: int | None = None) -> dict[str, Any]:
    runs = runs or profile.runs
    n = events or profile.events
    print(f"== 4. scale-out: 1 vs 2 workers, {n:,} events, {runs} run(s) ==", flush=True)
    rates: dict[int, list[float]] = {1: [], 2: []}
    detail: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as d, embedded_broker("scale") as b:
        settings, _ = preproduced(b, "scale", n)
        for r in range(runs):
            for count in ((1, 2) if r % 2 == 0 else (2, 1)):
                t = run_workers(settings, count, n, Path(d), f"scale-{count}w-{r}", b.pid)
                rates[count].append(t.rate)
                detail.append({"run": r, "workers": count, **t.as_dict()})
                print(f"  run {r + 1} {count} worker(s) {t.rate:>9,.0f} events/s  ({t.seconds:.1f} s, "
                      f"{t.counted_at_ready:,} counted before ready)", flush=True)
    one, two = median(rates[1]), median(rates[2])
    cores = len(os.sched_getaffinity(0))

    def used(count: int, key: str) -> str:
        """Median cores busy over the timed window: the workers', the broker's, the machine's."""
        xs = [d[key] / d["seconds"] for d in detail if d["workers"] == count and d.get(key) is not None]
        return f"{median(xs):.2f}" if xs else "-"

    table = print_table(f"Scale-out ({n:,} events, 8 partitions, median of {runs}; {cores} cores)",
                        ["workers", "events/s", "runs", "ratio", "cores: workers", "broker", "whole machine"],
                        [(c, rate, " / ".join(f"{x:,.0f}" for x in rates[c]), f"{rate / one:.2f}x",
                          used(c, "cpu_seconds"), used(c, "broker_cpu_seconds"), used(c, "machine_busy_seconds"))
                         for c, rate in ((1, one), (2, two))])
    bar = Bar("scale-out: 2 workers / 1 worker", two / one, 1.6)
    return {"events": n, "runs": runs, "rates": {str(k): v for k, v in rates.items()}, "median_one": one,
            "median_two": two, "ratio": two / one, "detail": detail, "table": table,
            "bars": [bar.as_dict()], "_bars": [bar]}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--runs", type=int)
    p.add_argument("--events", type=int)
    args = p.parse_args()
    out = run(QUICK if args.quick else FULL, args.runs, args.events)
    out.pop("_bars")
    print(f"wrote {write_result('scaleout', out)}")


if __name__ == "__main__":
    main()
