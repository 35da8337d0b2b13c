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
    Profile,
    accounts_run,
    bench_settings,
    embedded_broker,
    write_result,
)

__all__ = ["run"]



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
        out = accounts_run(settings, Path(d) / "data", LOGS / f"seed-digindex-{settings.app_id[-6:]}.log", topic,
                           sent, distinct, "digindex_accounts", "seeding", env=env)
    return {**out, "worker_env": env or {}, "accounts_loaded": loaded, "changes": changes,
            "produce_rate": produce_rate}


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
