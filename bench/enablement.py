"""Enablement state at scale: ~1,000,000 distinct accounts (a first load), then changes of their modes.

Issue 11's bar: 1,000,000 enablement accounts within the seeding bar's memory (worker peak RSS
at most 600 MB). Everything is pre-produced to the enablement topic, then one digindex worker
consumes it. The feed is generated here (the simulator's enablement feed is another helper's):
every account once, in 13 Uttarakhand districts and nine banks, 85 % savings, about 80 %
enabled, a tenth at a camp; then changes of existing accounts (a new set of modes, a later
occurred_at). Reported as for seeding (``bench/seeding.py``): events/s, peak RSS (``VmHWM``),
the RocksDB directory's size, and a check that ``sum(digindex_enablement_accounts)`` equals the
number of distinct accounts sent.

    .venv/bin/python -m bench.enablement [--quick] [--accounts 1000000] [--changes 100000]
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from streams.avro_codec import codec_for
from streams.producer import district_key, make_producer
from streams.signing import Signer
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

__all__ = ["feed", "run"]

DISTRICTS = list(range(45, 58))
BANKS = ["SBIN", "PUNB", "BARB", "CNRB", "UBIN", "HDFC", "ICIC", "UTIB", "BKID"]
ENABLING = ["DEBIT_CARD", "INTERNET_BANKING", "MOBILE_BANKING", "UPI", "AEPS"]


def _modes(rng: random.Random, account_type: str) -> list[str]:
    if rng.random() >= 0.8:
        return [] if account_type == "SAVINGS" or rng.random() < 0.5 else ["OTHER"]
    modes = rng.sample(ENABLING, rng.randrange(1, 4))
    if account_type == "CURRENT" and rng.random() < 0.5:
        modes.append(rng.choice(["POS", "QR"]))
    return modes


def feed(accounts: int, changes: int, now_ms: int, seed: int = 11) -> Iterator[dict[str, Any]]:
    """The first load of every account, then ``changes`` later sets of modes of random accounts."""
    rng = random.Random(seed)
    types = ["CURRENT" if rng.random() < 0.15 else "SAVINGS" for _ in range(min(accounts, 1_000))]

    def event(i: int, n: int, at: int) -> dict[str, Any]:
        t = types[i % len(types)]
        return {"event_id": f"en-{n}", "occurred_at": at, "district_lgd": DISTRICTS[i % len(DISTRICTS)],
                "bank_code": BANKS[i % len(BANKS)], "account_ref": f"AC{i:09d}", "account_type": t,
                "modes": _modes(rng, t), "camp_ref": f"CAMP-{i % 500}" if rng.random() < 0.1 else None}

    start = now_ms - 3_600_000
    for i in range(accounts):
        yield event(i, i, start)
    for n in range(changes):
        yield event(rng.randrange(accounts), accounts + n, start + 1 + n)


def run(profile: Profile, accounts: int | None = None, changes: int | None = None) -> dict[str, Any]:
    accounts = accounts or profile.seeding_accounts
    changes = profile.seeding_changes if changes is None else changes
    print(f"== enablement at scale: {accounts:,} accounts + {changes:,} changes ==", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-enable-") as d, embedded_broker("enable") as b:
        settings = bench_settings(b.url, "enable")
        settings = settings.replace(enablement_topic=f"{settings.app_id}-enablement")
        ensure_topics(settings)
        topic = settings.enablement_topic
        t0 = time.perf_counter()
        codec = codec_for("AccountEnablementEvent")
        producer = make_producer(settings, linger_ms=20)
        sign = Signer.from_settings(settings).headers
        sent = 0
        for rec in feed(accounts, changes, int(time.time() * 1000)):
            key, value = district_key(rec["district_lgd"]), codec.encode(rec)
            producer.send(topic, key=key, value=value, headers=sign(rec["bank_code"], key, value))
            sent += 1
        producer.flush(timeout=300)
        producer.close(timeout=5)
        produce_rate = sent / (time.perf_counter() - t0)
        print(f"pre-produced {sent:,} enablement events ({accounts:,} accounts) at {produce_rate:,.0f}/s", flush=True)
        out = accounts_run(settings, Path(d) / "data", LOGS / f"enable-digindex-{settings.app_id[-6:]}.log", topic,
                           sent, accounts, "digindex_enablement_accounts", "enablement")
    return {**out, "changes": changes, "produce_rate": produce_rate}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--accounts", type=int, help="distinct accounts (default: the profile's seeding accounts)")
    p.add_argument("--changes", type=int, help="later sets of modes of existing accounts")
    args = p.parse_args()
    out = run(QUICK if args.quick else FULL, args.accounts, args.changes)
    for bar in out.pop("_bars"):
        print(bar.line())
    print(f"wrote {write_result('enablement', out)}")


if __name__ == "__main__":
    main()
