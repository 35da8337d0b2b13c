"""0. digindex's own per-event code without Faust or a broker: what each step costs, in-process.

The worker's per-event path step by step on simulated events: signature verification
(``streams.signing``: HMAC-SHA256 over key and value, then the key's bank), Avro decode, domain checks,
the state update (windows, counters), the delay histogram, and all of it through the shared
``PartitionProcessor`` (dedupe store on disk, checkpoints at the worker's defaults (10,000 events or 5 s) into a
local RocksDB, as ``bench.localstate`` sets it up). Also one
``/metrics`` render over a state holding every district and bank. This is the part of the
per-event cost digindex controls; compare it with the Faust per-event cost from the profile.

    .venv/bin/python -m bench.micro [--events 50000]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from prometheus_client import generate_latest

from streams.avro_codec import codec_for
from streams.config import Settings
from streams.exposition import render
from streams.metrics import build_registry
from streams.payments.state import PaymentPartitionState
from streams.processor.batch import YIELD_EVERY
from streams.processor.loop import Message
from streams.runtime import Runtime
from streams.signing import KeyRegistry, Signer, Verifier, write_registry
from streams.simulator.generator import Simulator
from streams.topics import district_key
from streams.validation import check_event

from .common import Bar, print_table, write_result
from .localstate import Clock, close, local_processor

__all__ = ["run"]

VERIFY = "signature verification (Verifier.signer + SigningKey.vouch)"


class _Owned:
    """What the collector reads of a runner: owned partitions' states (no restore needed here)."""

    def __init__(self, states: dict[int, Any]) -> None:
        self.processors = {p: _Proc(st) for p, st in states.items()}
        self.signal = type("S", (), {"topic": "payments"})()


class _Proc:
    def __init__(self, state: Any) -> None:
        self.state = state
        self.checkpoint = type("C", (), {"saved": 0})()
        self.restored_in = 0.0


def _best(fn: Callable[[], Any], repeat: int = 3) -> float:
    """Seconds for the fastest of ``repeat`` calls (the least disturbed by a shared machine)."""
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def run(profile: Any = None, events: int | None = None) -> dict[str, Any]:
    events = events or (50_000 if profile is None or profile.name == "full" else 20_000)
    print(f"== 0. per-event cost of digindex's own code (no Faust), {events:,} events ==", flush=True)
    now = int(time.time() * 1000)
    sim = Simulator(0, accounts=0)
    records = [sim.payment(now) for _ in range(events)]
    codec = codec_for("PaymentEvent")
    values = [codec.encode(r) for r in records]
    decoded = [codec.decode(v) for v in values]
    rt = Runtime(Settings())
    registry, delay = build_registry(rt)
    observe = delay.labels(topic="payments").observe
    decode = codec.decode
    with tempfile.TemporaryDirectory() as tmp:  # every bank of the simulation has a key
        keys = KeyRegistry.load(write_registry(Path(tmp) / "keys.json", [b.code for b in sim.banks]))
    verifier = Verifier(keys)
    signer = Signer(keys)
    messages = []
    for i, (r, v) in enumerate(zip(records, values, strict=True)):
        key = district_key(r["district_lgd"])
        messages.append(Message(i, key, v, signer.headers(r["bank_code"], key, v)))

    def verifying() -> None:
        verify = verifier.signer
        for m, r in zip(messages, decoded, strict=True):
            verify(m).vouch(r)

    s = rt.settings

    def applying() -> None:
        state = PaymentPartitionState(0, rt.registry, s.windows, s.max_future_skew)
        for i, r in enumerate(decoded):
            state.apply(r, i, now)

    holder: dict[str, Any] = {}

    def agent_body() -> None:
        with tempfile.TemporaryDirectory() as tmp:
            proc, kv = local_processor(Path(tmp), Clock(time.time()))
            proc.signal.verifier = verifier  # as the worker runs it: every message verified
            proc.clock = time.time
            proc.observe = observe
            i = 0
            while i < len(messages):  # as streams.processor.batch feeds it: chunks of a fetched batch
                i, due = proc.handle_batch(messages, i, min(len(messages), i + YIELD_EVERY), time.time())
                if due:
                    asyncio.run(proc.save())
            holder["state"] = proc.state  # a full state for the /metrics render below
            close(proc, kv)

    steps = [
        (VERIFY, verifying),
        ("Avro decode (AvroCodec.decode)", lambda: [decode(v) for v in values]),
        ("domain checks (check_event)", lambda: [check_event(r, rt.registry, now, 300_000) for r in decoded]),
        ("state update (PaymentPartitionState.apply: windows, counters)", applying),
        ("delay histogram (DelayHistogram observe)", lambda: [observe(0.1) for _ in range(events)]),
        ("processor, batch path: all of the above + dedupe + checkpoints", agent_body),
    ]
    rows, out = [], {}
    for name, fn in steps:
        us = _best(fn) / events * 1e6
        out[name] = us
        rows.append((name, us))
    rt.runners["payments"] = _Owned({0: holder["state"]})  # type: ignore[assignment]
    scrape = statistics.median(_best(lambda: render(registry), 1) for _ in range(5))
    library = statistics.median(_best(lambda: generate_latest(registry), 1) for _ in range(5))
    series = sum(1 for line in render(registry).decode().splitlines() if line and line[0] != "#")
    rows.append((f"one /metrics render ({series:,} series, streams.exposition), ms", scrape * 1000))
    rows.append(("the same with prometheus_client.generate_latest, ms", library * 1000))
    table = print_table("digindex's own code, us per event (best of 3)", ["step", "us"],
                        [(n, f"{v:.2f}") for n, v in rows])
    bars = [Bar("signature verification per event", out[VERIFY], 10.0, higher_is_better=False, unit=" us")]
    for bar in bars:
        print(bar.line(), flush=True)
    return {"events": events, "us_per_event": out, "scrape_ms": scrape * 1000, "generate_latest_ms": library * 1000,
            "series": series, "table": table,
            "bars": [b.as_dict() for b in bars], "_bars": bars}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--events", type=int)
    args = p.parse_args()
    out = run(events=args.events)
    out.pop("_bars")
    print(f"wrote {write_result('micro', out)}")


if __name__ == "__main__":
    main()
