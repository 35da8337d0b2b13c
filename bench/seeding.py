"""3. Seeding state at scale: a first load of ~1,000,000 distinct accounts, then status changes.

Everything is pre-produced to the seeding topic (the simulator's first load of every account,
then its stream of changes: unseeded accounts getting seeded, new accounts opening), then one
digindex worker consumes it. Reported: events/s (see ``bench/common.py`` for the timing), the
worker's peak RSS (``VmHWM`` from ``/proc/PID/status``), its RSS sampled during the run, the
RocksDB directory's size, and a check that ``sum(digindex_accounts)`` equals the number of
distinct accounts sent (the accounts are counted from the RocksDB table, not kept in Python).

    .venv/bin/python -m bench.seeding [--quick] [--accounts 1000000] [--changes 100000]
    .venv/bin/python -m bench.seeding --quick --worker-env PRODUCER_LINGER=0.02   # an experiment
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

from streams.avro_codec import codec_for
from streams.producer import district_key, make_producer
from streams.signing import Signer
from streams.simulator.generator import Simulator
from streams.topics import ensure_topics

from .common import (
    FULL,
    LOGS,
    QUICK,
    Bar,
    Profile,
    WorkerProcess,
    bench_settings,
    embedded_broker,
    print_table,
    time_workers,
    total,
    write_result,
)

__all__ = ["run"]

MB = 1024 * 1024


def _du(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) if path.exists() else 0


def run(profile: Profile, accounts: int | None = None, changes: int | None = None,
        env: dict[str, str] | None = None) -> dict[str, Any]:
    """``env``: extra worker environment for an experiment, e.g. ``{"PRODUCER_LINGER": "0.02"}``."""
    accounts = accounts or profile.seeding_accounts
    changes = profile.seeding_changes if changes is None else changes
    print(f"== 3. seeding at scale: ~{accounts:,} accounts + {changes:,} changes ==", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-seed-") as d, embedded_broker("seed") as b:
        settings = bench_settings(b.url, "seed")
        ensure_topics(settings)
        topic = settings.seeding_topic
        t0 = time.perf_counter()
        sim = Simulator(3, accounts=accounts)
        loaded = sim.accounts
        codec = codec_for("SeedingEvent")
        producer = make_producer(settings, linger_ms=20)
        sign = Signer.from_settings(settings).headers
        now_ms = int(time.time() * 1000)
        sent = 0

        def send(rec: dict[str, Any]) -> None:
            key, value = district_key(rec["district_lgd"]), codec.encode(rec)
            producer.send(topic, key=key, value=value, headers=sign(rec["bank_code"], key, value))

        for rec in sim.first_load(now_ms):
            send(rec)
            sent += 1
        for _ in range(changes):
            send(sim.seeding_change(now_ms))
            sent += 1
        producer.flush(timeout=300)
        producer.close(timeout=5)
        distinct = sim.accounts  # the first load plus accounts opened by the changes
        del sim
        produce_rate = sent / (time.perf_counter() - t0)
        print(f"pre-produced {sent:,} seeding events ({loaded:,} accounts loaded, {distinct:,} distinct) "
              f"at {produce_rate:,.0f}/s", flush=True)
        data = Path(d) / "data"
        w = WorkerProcess(settings, data, LOGS / f"seed-digindex-{settings.app_id[-6:]}.log", env=env).start()
        rss: list[tuple[float, int, int]] = []

        def sample(now: float, count: int) -> None:
            rss.append((now, count, w.status("VmRSS")))

        try:
            timing = time_workers([w], topic, sent, settings.topic_partitions, poll=1.0,
                                  timeout=300 + sent / 200, on_poll=sample)
            peak = w.status("VmHWM")
            samples = w.samples()
            counted_accounts = int(total(samples, "digindex_accounts"))
            rocksdb = _du(data)
        finally:
            w.stop()
    rows = [("events (load + changes)", f"{sent:,}"), ("distinct accounts", f"{distinct:,}"),
            ("accounts at /metrics", f"{counted_accounts:,}"), ("events/s", f"{timing.rate:,.0f}"),
            ("seconds", f"{timing.seconds:.1f}"), ("peak RSS (VmHWM)", f"{peak / MB:,.0f} MB"),
            ("RSS at the end", f"{(rss[-1][2] if rss else 0) / MB:,.0f} MB"),
            ("RocksDB dir", f"{rocksdb / MB:,.0f} MB")]
    table = print_table(f"Seeding at scale ({distinct:,} accounts)", ["figure", "value"], rows)
    bars = [Bar(f"worker peak RSS with {distinct:,} seeding accounts", peak / MB, 600, higher_is_better=False,
                unit=" MB")]
    if counted_accounts != distinct:
        print(f"WARNING: /metrics counts {counted_accounts:,} accounts, {distinct:,} were sent", flush=True)
    return {"worker_env": env or {}, "events": sent, "accounts_loaded": loaded, "distinct_accounts": distinct,
            "changes": changes,
            "accounts_at_metrics": counted_accounts, "accounts_match": counted_accounts == distinct,
            "produce_rate": produce_rate, **timing.as_dict(), "peak_rss_bytes": peak, "rocksdb_bytes": rocksdb,
            "rss_samples": rss[:: max(1, len(rss) // 200)], "table": table, "bars": [x.as_dict() for x in bars],
            "_bars": bars}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--accounts", type=int)
    p.add_argument("--changes", type=int)
    p.add_argument("--worker-env", default="", help="experiment: KEY=VALUE;... added to the worker's environment")
    args = p.parse_args()
    env = dict(kv.split("=", 1) for kv in args.worker_env.split(";") if kv) if args.worker_env else None
    out = run(QUICK if args.quick else FULL, args.accounts, args.changes, env)
    for bar in out.pop("_bars"):
        print(bar.line())
    print(f"wrote {write_result('seeding', out)}")


if __name__ == "__main__":
    main()
