"""The three consumers digindex is compared with, each run as its own process.

- ``ceiling``: a plain aiokafka consumer, fastavro decode, a ``Counter`` per district.
- ``baseline``: the Faust docs' agent: ``async for value in stream`` and one table update per
  event (``counts[district] += 1`` on a RocksDB table: a store write and a changelog record).
- ``bare``: a Faust agent that iterates the same stream and does nothing.

Child side (``python bench/competitors.py KIND ...``): prints one line
``BENCH {"t_ready": ..., "t_first": ..., "t_done": ..., ...}`` once it has counted ``--n``
events, then idles until stopped. ``t_ready`` is stamped when the partitions are assigned
and (Faust) recovery is complete, i.e. just before the stream resumes; the same moment the
digindex worker starts reporting ``digindex_assigned_partitions``.
Parent side: :func:`run` starts one, waits for that line and stops it.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

KINDS = ("ceiling", "baseline", "bare")
_HERE = Path(__file__).resolve()


# --- child side ------------------------------------------------------------------------------------


class _Tally:
    def __init__(self, n: int) -> None:
        self.n = n
        self.count = 0
        self.t_ready: float | None = None
        self.cpu_ready = 0.0
        self.t_first: float | None = None
        self.extra: dict[str, Any] = {}

    def ready(self) -> None:
        if self.count == 0:  # the last assignment before the first event
            first = self.t_ready is None
            self.t_ready, self.cpu_ready = time.time(), time.process_time()
            if first:
                print("BENCH_READY " + json.dumps({"t_ready": self.t_ready}), flush=True)

    def tick(self) -> None:
        self.count += 1
        if self.count == 1:
            self.t_first = time.time()
        if self.count == self.n:
            t, cpu = time.time(), time.process_time()
            print("BENCH " + json.dumps({"t_ready": self.t_ready or self.t_first, "t_first": self.t_first,
                                         "t_done": t, "cpu_seconds": cpu - self.cpu_ready, "n": self.n,
                                         **self.extra}), flush=True)


def _reader() -> Any:
    """A fastavro reader for the shipped PaymentEvent schema (logical types off, like digindex)."""
    import fastavro

    from streams.avro_codec import _plain, load_schema

    schema = fastavro.parse_schema(_plain(load_schema("PaymentEvent")))
    read = fastavro.schemaless_reader

    def decode(value: bytes) -> dict[str, Any]:
        buf = io.BytesIO(value)
        buf.seek(10)  # single-object header: magic + fingerprint
        return read(buf, schema, None)  # type: ignore[return-value]

    return decode


async def _ceiling(args: argparse.Namespace) -> None:
    from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener

    tally = _Tally(args.n)
    decode = _reader()
    per_district: Counter[int] = Counter()

    class Listener(ConsumerRebalanceListener):  # type: ignore[misc]
        async def on_partitions_revoked(self, revoked: Any) -> None:
            pass

        async def on_partitions_assigned(self, assigned: Any) -> None:
            if assigned:
                tally.ready()

    consumer = AIOKafkaConsumer(bootstrap_servers=args.bootstrap, group_id=args.group, auto_offset_reset="earliest",
                                session_timeout_ms=int(args.session_timeout * 1000),
                                heartbeat_interval_ms=max(100, int(args.session_timeout * 1000 / 6)),
                                rebalance_timeout_ms=10_000)
    consumer.subscribe([args.topic], listener=Listener())
    await consumer.start()
    try:
        while True:
            batches = await consumer.getmany(timeout_ms=500)
            for msgs in batches.values():
                for m in msgs:
                    per_district[decode(m.value)["district_lgd"]] += 1
                    tally.extra["districts"] = len(per_district)
                    tally.tick()
    finally:
        await consumer.stop()


def _faust(args: argparse.Namespace, with_table: bool) -> None:
    import faust

    tally = _Tally(args.n)
    app = faust.App(
        args.group, broker=f"kafka://{args.bootstrap}", store="rocksdb://" if with_table else "memory://",
        datadir=args.datadir, topic_partitions=args.partitions, broker_session_timeout=args.session_timeout,
        broker_heartbeat_interval=max(0.1, args.session_timeout / 6), broker_rebalance_timeout=10.0,
        consumer_auto_offset_reset="earliest", recovery_consistency_check=False, web_enabled=False,
        key_serializer="raw", value_serializer="raw",
    )
    topic = app.topic(args.topic, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw")

    @app.on_rebalance_complete.connect
    async def on_ready(sender: Any, **kwargs: Any) -> None:
        if app.consumer.assignment():
            tally.ready()

    if with_table:
        decode = _reader()
        counts = app.Table("district-counts", default=int, partitions=args.partitions)

        @app.agent(topic, name="bench.baseline")
        async def baseline(stream: Any) -> None:
            async for value in stream:
                counts[decode(value)["district_lgd"]] += 1
                tally.tick()
    else:

        @app.agent(topic, name="bench.bare")
        async def bare(stream: Any) -> None:
            async for _ in stream:
                tally.tick()

    loglevel = os.environ.get("BENCH_FAUST_LOGLEVEL", "info")
    worker = faust.Worker(app, loglevel=loglevel, quiet=True, redirect_stdouts=False)
    worker.execute_from_commandline()


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("kind", choices=KINDS)
    p.add_argument("--bootstrap", required=True, help="host:port")
    p.add_argument("--topic", required=True)
    p.add_argument("--group", required=True)
    p.add_argument("--n", type=int, required=True)
    p.add_argument("--partitions", type=int, default=8)
    p.add_argument("--datadir", default="./bench-faust-data")
    p.add_argument("--session-timeout", type=float, default=2.0)
    args = p.parse_args(argv)
    if args.kind == "ceiling":
        asyncio.run(_ceiling(args))
    else:
        _faust(args, with_table=args.kind == "baseline")


# --- parent side -----------------------------------------------------------------------------------


def run(kind: str, bootstrap: str, topic: str, group: str, n: int, partitions: int, datadir: Path, log: Path,
        timeout: float = 900.0, on_start: Callable[[int], None] | None = None,
        on_ready: Callable[[int], None] | None = None, on_done: Callable[[int], None] | None = None
        ) -> dict[str, Any]:
    """Run competitor ``kind`` until it has counted ``n`` events; its ``BENCH`` line as a dict (+ ``pid``).

    Hooks get the child's pid: ``on_start`` once it exists, ``on_ready`` when it reports ready,
    ``on_done`` once it has counted ``n`` (before it is stopped); e.g. to attach a profiler.
    """
    cmd = [sys.executable, str(_HERE), kind, "--bootstrap", bootstrap, "--topic", topic, "--group", group,
           "--n", str(n), "--partitions", str(partitions), "--datadir", str(datadir)]
    log.parent.mkdir(parents=True, exist_ok=True)
    root = _HERE.parent.parent
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")]))}
    with open(log, "ab") as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, stdin=subprocess.DEVNULL, cwd=root, env=env)
        if on_start is not None:
            on_start(proc.pid)
        found: list[dict[str, Any]] = []

        def read() -> None:
            assert proc.stdout is not None
            for raw in proc.stdout:
                line = raw.decode(errors="replace")
                if line.startswith("BENCH_READY ") and on_ready is not None:
                    on_ready(proc.pid)
                elif line.startswith("BENCH "):
                    found.append(json.loads(line[6:]))
                    return

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        reader.join(timeout)
        try:
            if not found:
                code = proc.poll()
                raise RuntimeError(f"{kind} did not count {n} events within {timeout:.0f} s"
                                   + (f" (exited {code})" if code is not None else "") + f"; log: {log}")
            if on_done is not None:
                on_done(proc.pid)
            return {**found[0], "pid": proc.pid}
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(5)
            if proc.stdout:
                proc.stdout.close()


if __name__ == "__main__":
    sys.path.insert(0, str(_HERE.parent.parent))
    main()
