"""2. End-to-end latency at a steady offered rate: publication to visibility at /metrics.

A digindex worker is started and ready on an empty topic (every signal's partitions restored,
``bench.common.all_restored``: a worker's streams resume only when its last partition is open,
so starting on the payments' alone timed ~2 s of restore as the first events' delay, p99 2.1 s
instead of 0.8 s); then the project's own paced feed
(``streams.simulator.feed.run_feed``: token bucket, 10 ms ticks) publishes payments at the
offered rate, each with ``occurred_at`` = the wall clock of its tick, through a producer
wrapper that stamps every ``send()``. A poller scrapes /metrics and keeps each district's
``digindex_last_event_timestamp_seconds`` with the time the scrape *returned*. This runs twice
on the same worker, back to back: polling every 250 ms (the figure judged against the bar) and
every 50 ms. A scrape renders every series and costs the worker 10-40 ms of its event loop, so
polling every 50 ms takes a large share of the worker and delays the very events it measures;
both are shown.

An event is visible at the first scrape whose district timestamp is >= its ``occurred_at``
(a district lives in one partition and one producer sends in order, so everything sent before
it in that district is applied too). Latency = that scrape's return time - the event's send
time: it includes producer linger, broker, consumer fetch, processing and up to one poll
interval (mean half of it). Also reported: the count-based view (k-th event visible once
``sum(digindex_events_total)`` >= k) and the worker's own ``digindex_event_delay_seconds``
histogram (processing time - occurred_at, no scrape in it).

    .venv/bin/python -m bench.latency [--quick] [--seconds 60] [--rate 1000] [--polls 0.25,0.05]
    .venv/bin/python -m bench.latency --quick --worker-env BENCH_PATCH=fetch_wait=100   # an experiment
"""

from __future__ import annotations

import argparse
import bisect
import io
import itertools
import math
import statistics
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from streams.avro_codec import codec_for
from streams.producer import make_producer
from streams.simulator.feed import FeedOptions, run_feed
from streams.topics import ensure_topics

from .common import (
    FULL,
    LOGS,
    QUICK,
    Bar,
    Profile,
    WorkerProcess,
    all_restored,
    bench_settings,
    embedded_broker,
    print_table,
    scrape,
    write_result,
)

__all__ = ["histogram_quantile", "quantile", "run"]

#: /metrics poll intervals, one phase each: 250 ms (the figure judged) and the brief's 50 ms, which
#: shows what frequent scraping costs the worker itself.
POLLS = (0.25, 0.05)


class _Recording:
    """A KafkaProducer stand-in that stamps every send and forwards it."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.sent: list[tuple[float, bytes, bytes]] = []

    def send(self, topic: str, key: bytes | None = None, value: bytes | None = None, headers: Any = None) -> Any:
        self.sent.append((time.time(), key or b"", value or b""))
        return self.real.send(topic, key=key, value=value, headers=headers)

    def flush(self, timeout: float | None = None) -> None:
        self.real.flush(timeout=timeout)

    def close(self, timeout: float | None = None) -> None:
        self.real.close(timeout=timeout)


def quantile(xs: list[float], q: float) -> float:
    """Nearest-rank quantile of a sorted list."""
    if not xs:
        return float("nan")
    return xs[min(len(xs) - 1, max(0, math.ceil(q * len(xs)) - 1))]


def histogram_quantile(buckets: list[tuple[float, float]], q: float) -> float:
    """Prometheus' ``histogram_quantile`` over cumulative ``(le, count)`` pairs (linear in a bucket)."""
    buckets = sorted(buckets)
    if not buckets or buckets[-1][1] == 0:
        return float("nan")
    rank = q * buckets[-1][1]
    prev_le, prev_c = 0.0, 0.0
    for le, c in buckets:
        if c >= rank:
            if le == float("inf"):
                return prev_le
            return prev_le + (le - prev_le) * ((rank - prev_c) / max(1e-12, c - prev_c))
        prev_le, prev_c = le, c
    return prev_le


def _poller(w: WorkerProcess, topic: str, stop: threading.Event, interval: float,
            polls: list[tuple[float, dict[int, int], int]], durations: list[float]) -> None:
    prefixes = ("digindex_last_event_timestamp_seconds", "digindex_events_total")
    while not stop.is_set():
        t0 = time.monotonic()
        try:
            samples = scrape(w.port, prefixes)
        except OSError:
            samples = None
        if samples is not None:
            now = time.time()
            last = {int(lab["district_lgd"]): round(v * 1000) for n, lab, v in samples
                    if n == "digindex_last_event_timestamp_seconds" and lab.get("topic") == topic}
            count = int(sum(v for n, lab, v in samples if n == "digindex_events_total" and lab.get("topic") == topic))
            polls.append((now, last, count))
            durations.append(time.monotonic() - t0)
        stop.wait(max(0.0, interval - (time.monotonic() - t0)))


def _histogram(w: WorkerProcess, topic: str) -> dict[float, float]:
    return {float(lab["le"]): v for n, lab, v in scrape(w.port, ("digindex_event_delay_seconds",))
            if n == "digindex_event_delay_seconds_bucket" and lab.get("topic") == topic}


def _phase(w: WorkerProcess, settings: Any, rate: float, seconds: float, interval: float, seed: int
           ) -> dict[str, Any]:
    """Offer ``rate`` events/s for ``seconds`` while polling /metrics every ``interval``; the latencies."""
    topic = settings.payments_topic
    polls: list[tuple[float, dict[int, int], int]] = []
    durations: list[float] = []
    stop = threading.Event()
    before = _histogram(w, topic)
    base = polls_base = int(sum(v for n, lab, v in scrape(w.port, ("digindex_events_total",))
                                if n == "digindex_events_total" and lab.get("topic") == topic))
    poller = threading.Thread(target=_poller, args=(w, topic, stop, interval, polls, durations), daemon=True)
    poller.start()
    try:
        producer = _Recording(make_producer(settings))
        options = FeedOptions(rate=rate, duration=seconds, accounts=0, first_load=False, seed=seed)
        t_feed = time.time()
        run_feed(settings, options, out=io.StringIO(), producer=producer)
        feed_seconds = time.time() - t_feed
        sent = producer.sent
        producer.close(timeout=5)
        end = time.monotonic() + 30  # let the tail become visible
        while time.monotonic() < end and (not polls or polls[-1][2] < base + len(sent)):
            time.sleep(interval)
        time.sleep(2 * interval)
    finally:
        stop.set()
        poller.join(5)
    after = _histogram(w, topic)
    hist = sorted((le, after[le] - before.get(le, 0.0)) for le in after)

    codec = codec_for("PaymentEvent")
    # per district: poll times and the district's last event time, both non-decreasing
    series: dict[int, tuple[list[int], list[float]]] = defaultdict(lambda: ([], []))
    for t, last, _ in polls:
        for lgd, ms in last.items():
            ts, times = series[lgd]
            if not ts or ms >= ts[-1]:
                ts.append(ms)
                times.append(t)
    by_district: list[float] = []
    unseen = 0
    for t_send, _key, value in sent:
        if value[2:10] != codec.fingerprint:  # the simulator's other feeds (grievances, enablement...)
            continue
        rec = codec.decode(value)
        ts, times = series.get(rec["district_lgd"], ([], []))
        i = bisect.bisect_left(ts, rec["occurred_at"])
        if i == len(ts):
            unseen += 1
            continue
        by_district.append(max(0.0, times[i] - t_send))
    counts = [c - polls_base for _, _, c in polls]
    poll_times = [t for t, _, _ in polls]
    by_count: list[float] = []
    for k, (t_send, _, _) in enumerate(sent, start=1):
        i = bisect.bisect_left(counts, k)
        if i < len(counts):
            by_count.append(max(0.0, poll_times[i] - t_send))
    by_district.sort()
    by_count.sort()
    qs = (0.5, 0.95, 0.99)
    intervals = [b - a for a, b in itertools.pairwise(poll_times)]
    return {
        "poll_interval": interval, "sent": len(sent), "achieved_rate": len(sent) / feed_seconds,
        "feed_seconds": feed_seconds, "unseen": unseen,
        "mean_poll_interval": sum(intervals) / len(intervals) if intervals else float("nan"),
        "scrape_ms": {"median": 1000 * statistics.median(durations) if durations else None,
                      "max": 1000 * max(durations) if durations else None},
        "e2e_by_district": {f"p{int(q * 100)}": quantile(by_district, q) for q in qs},
        "e2e_by_count": {f"p{int(q * 100)}": quantile(by_count, q) for q in qs},
        "histogram_quantiles": {f"p{int(q * 100)}": histogram_quantile(hist, q) for q in qs},
        "histogram_buckets": hist, "events_by_district": len(by_district), "events_by_count": len(by_count),
    }


def run(profile: Profile, seconds: float | None = None, rate: float | None = None,
        env: dict[str, str] | None = None, intervals: tuple[float, ...] | None = None) -> dict[str, Any]:
    """``env``: extra worker environment for an experiment (see ``bench/patched_worker.py``).

    One phase per poll interval in ``intervals``, back to back on the same worker; the bar is
    judged on the first (the least disturbed: a scrape costs the worker ~10-40 ms of its loop).
    """
    seconds = seconds or profile.latency_seconds
    rate = rate or profile.latency_rate
    intervals = intervals or profile.latency_polls
    print(f"== 2. end-to-end latency: {rate:,.0f} events/s for {seconds:.0f} s per poll interval "
          f"({', '.join(f'{i * 1000:.0f} ms' for i in intervals)})"
          + (f", worker env {env}" if env else "") + " ==", flush=True)
    phases: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-lat-") as d, embedded_broker("lat") as b:
        settings = bench_settings(b.url, "lat")
        ensure_topics(settings)
        w = WorkerProcess(settings, Path(d) / "data", LOGS / f"lat-digindex-{settings.app_id[-6:]}.log",
                          env=env).start()
        try:
            deadline = time.monotonic() + 90
            while not all_restored([w.samples()], settings.payments_topic, settings.topic_partitions):
                if time.monotonic() > deadline or not w.alive():
                    raise RuntimeError(f"worker not ready:\n{w.log_tail()}")
                time.sleep(0.1)
            for i, interval in enumerate(intervals):
                phases.append(_phase(w, settings, rate, seconds, interval, seed=7 + i))
            peak_rss = w.status("VmHWM")
        finally:
            w.stop()
    rows = []
    for ph in phases:
        poll = f"poll {ph['mean_poll_interval'] * 1000:.0f} ms, scrape {ph['scrape_ms']['median'] or 0:.0f} ms"
        e, c, h = ph["e2e_by_district"], ph["e2e_by_count"], ph["histogram_quantiles"]
        rows += [
            (f"publication -> /metrics, district timestamp ({poll})", *(e[k] * 1000 for k in e),
             ph["events_by_district"]),
            ("  the same, events_total count", *(c[k] * 1000 for k in c), ph["events_by_count"]),
            ("  worker histogram digindex_event_delay_seconds", *(h[k] * 1000 for k in h),
             int(ph["histogram_buckets"][-1][1]) if ph["histogram_buckets"] else 0),
        ]
    first = phases[0]
    table = print_table(
        f"End-to-end latency, ms ({first['sent']:,} events offered at {first['achieved_rate']:,.0f}/s over "
        f"{first['feed_seconds']:.0f} s per phase)", ["view", "p50", "p95", "p99", "events"], rows)
    bars = [Bar(f"p99 publication->/metrics at {rate:,.0f}/s (poll {first['poll_interval'] * 1000:.0f} ms)",
                first["e2e_by_district"]["p99"], 1.0, higher_is_better=False, unit=" s")]
    return {"offered_rate": rate, "seconds": seconds, "worker_env": env or {}, "phases": phases,
            # the first phase's figures at the top level, for the summary
            "achieved_rate": first["achieved_rate"], "e2e_by_district": first["e2e_by_district"],
            "histogram_quantiles": first["histogram_quantiles"], "scrape_ms": first["scrape_ms"],
            "poll_interval": first["poll_interval"], "peak_rss_bytes": peak_rss, "table": table,
            "bars": [x.as_dict() for x in bars], "_bars": bars}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--seconds", type=float)
    p.add_argument("--rate", type=float)
    p.add_argument("--worker-env", default="", help="experiment: KEY=VALUE;... added to the worker's environment")
    p.add_argument("--polls", default=",".join(str(x) for x in POLLS), help="poll intervals, seconds, one phase each")
    args = p.parse_args()
    env = dict(kv.split("=", 1) for kv in args.worker_env.split(";") if kv) if args.worker_env else None
    intervals = tuple(float(x) for x in args.polls.split(","))
    out = run(QUICK if args.quick else FULL, args.seconds, args.rate, env, intervals)
    for bar in out.pop("_bars"):
        print(bar.line())
    print(f"wrote {write_result('latency', out)}")


if __name__ == "__main__":
    main()
