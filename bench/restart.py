"""Restart after months of uptime: restore time and memory against the state's size (issue 7).

The state layer is driven with a synthetic clock at R events/s per partition, a checkpoint
per (synthetic) second as the worker's defaults make it, for the equivalent of 1 h, 12 h and
48 h. Windows and counters get ``real`` decoded events through the processor each second;
the rest of the R ids per second go straight into the dedupe store's pending set. The events
are those of the districts Kafka's partitioner puts in partition 0 of 8 (Uttarakhand's 13
districts over 8 partitions: one or two each) (they cost
the same on disk and in the changelog, and only ids grow with uptime). The directories are
copied (SST files hard-linked) to make a worker owning 8 partitions, then a fresh process
restores all 8 and reports its time to ready (process start to every partition restored), the
part of it spent restoring, and peak RSS (ready is when the process reports, not when it
exits: closing the RocksDB stores waits for compactions they started at open):

- *same node* (SIGKILL, data dir intact): table and dedupe stores as left;
- *new node*: the dedupe stores deleted, rebuilt from the id blocks (the table as a new node
  has it once Faust has replayed the changelog).

*New node for real* (``replay``), at the longest uptime of each rate: the partition's table
written to the changelog of each of the 8 partitions on the embedded broker, then a worker on
an empty data dir timed from its start to every payments partition restored; Faust's replay of
the changelog (from its log) and the restores (the dedupe rebuild) are reported apart.

*Live* (a short one, for real): a worker on the embedded broker counts N events, is SIGKILLed,
and a new worker on the same data dir is timed from its start to owning all 8 partitions with
every event counted exactly once; a worker on an empty data dir (a new node, changelogs
replayed by Faust) likewise.

``changelog bytes`` is what a compacted changelog keeps (live keys + values); ``written`` what
the checkpoints wrote in all (an uncompacted log). Live keys outside the id blocks stay bounded.

    .venv/bin/python -m bench.restart [--quick] [--rates 10,200] [--hours 1,12,48]
    .venv/bin/python -m bench.restart --restore DIR [--new-node]      # one measurement (internal)
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from streams.avro_codec import codec_for
from streams.publisher.routing import default_partition
from streams.registry import default_registry
from streams.simulator.generator import Simulator
from streams.topics import district_key

from .common import LOGS, Bar, WorkerProcess, dir_bytes, embedded_broker, print_table, total, write_result
from .localstate import Clock, close, local_processor

__all__ = ["run"]

PARTITIONS = 8
REAL_PER_SECOND = 5
#: Synthetic time starts 3 days before today (UTC midnight), so the built state is within a real
#: worker's horizon when ``replay`` hands it to one; a restoring child gets the parent's value.
T_START = float(os.environ.get("BENCH_T_START") or (int(time.time()) // 86_400 - 3) * 86_400)


def _peak_rss() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


def build(directory: Path, rate: int, marks_h: list[float]) -> dict[float, dict[str, Any]]:
    """Drive one partition for ``max(marks_h)`` hours; copy its directory at each mark."""
    clock = Clock(T_START)
    proc, kv = local_processor(directory / "live", clock)
    sim = Simulator(7, accounts=0)
    codec = codec_for("PaymentEvent")
    real = min(rate, REAL_PER_SECOND)
    # the districts Kafka's partitioner puts in partition 0 of 8: what one partition of a worker holds
    mine = {d.lgd for d in default_registry() if default_partition(district_key(d.lgd), list(range(PARTITIONS))) == 0}

    def payment(now_ms: int) -> dict[str, Any]:
        while True:
            rec = sim.payment(now_ms)
            if rec["district_lgd"] in mine:
                return rec

    offset, out = 0, {}
    seconds = 0
    for mark in sorted(marks_h):
        while seconds < mark * 3600:
            now_ms = int(clock.now * 1000)
            for _ in range(real):
                proc.handle(offset, None, codec.encode(payment(now_ms)), clock.now)
                offset += 1
            day = now_ms // 86_400_000
            blob = os.urandom(16 * (rate - real))
            for i in range(0, len(blob), 16):
                proc.dedupe.add(blob[i:i + 16], day)
            proc.checkpoint.since += rate - real
            proc.state.offset = offset = offset + rate - real
            _save(proc)
            seconds += 1
            clock.now += 1.0
        live = sum(1 for _ in kv.scan_keys(b""))
        blocks = sum(1 for _ in kv.scan_keys(b"I/"))
        stats = {"hours": mark, "rate": rate, "live_keys": live, "id_blocks": blocks, "other_keys": live - blocks,
                 "changelog_bytes": kv.live_bytes(), "written_bytes": kv.written_bytes(),
                 "checkpoints": proc.checkpoint.saved, "ids": rate * seconds}
        close(proc, kv)
        stats["dedupe_disk_bytes"] = dir_bytes(directory / "live" / "dedupe")
        stats["dedupe_bytes_per_id"] = stats["dedupe_disk_bytes"] / max(1, stats["ids"])
        snap = directory / f"h{mark:g}"
        shutil.copytree(directory / "live", snap)
        out[mark] = stats
        proc, kv = local_processor(directory / "live", clock)
    close(proc, kv)
    return out


def _save(proc: Any) -> None:
    import asyncio

    asyncio.run(proc.save())


def _link_copy(src: Path, dst: Path) -> None:
    """A RocksDB directory copy that hard-links the (immutable) SST files."""
    def copy(s: str, d: str) -> None:
        if s.endswith(".sst"):
            os.link(s, d)
        else:
            shutil.copy2(s, d)
    shutil.copytree(src, dst, copy_function=copy)


def measure(snapshot: Path, new_node: bool) -> dict[str, Any]:
    """Restore 8 copies of ``snapshot`` in a fresh process: seconds and peak RSS."""
    work = Path(tempfile.mkdtemp(prefix="restore-", dir=snapshot.parent))
    try:
        for p in range(PARTITIONS):
            _link_copy(snapshot, work / f"p{p}")
            if new_node:
                shutil.rmtree(work / f"p{p}" / "dedupe")
        cmd = [sys.executable, "-m", "bench.restart", "--restore", str(work)]
        started = time.perf_counter()
        env = {**os.environ, "BENCH_T_START": repr(T_START)}
        with subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, cwd=Path(__file__).parent.parent,
                              env=env) as child:
            assert child.stdout is not None
            line = child.stdout.readline()  # the child prints its figures once every partition is restored
            # ready = a fresh process's start to all 8 partitions restored (interpreter, imports, stores)
            ready = time.perf_counter() - started
            child.stdout.read()
            if child.wait() != 0 or not line:
                raise RuntimeError(f"restore of {snapshot} failed ({child.returncode})")
        result = json.loads(line)
        result["ready_seconds"] = ready
        # not part of ready: closing the stores waits for the compactions RocksDB started at open
        result["exit_seconds"] = time.perf_counter() - started - ready
        return result
    finally:
        shutil.rmtree(work, ignore_errors=True)


def restore_all(work: Path) -> tuple[dict[str, Any], list[Any]]:
    """(In the child.) Restore every partition directory under ``work``, as one worker would.

    Returns the figures and the open processors: the caller reports before they are closed
    (closing waits for the compactions RocksDB started at open, which is not part of ready)."""
    base = _peak_rss()
    started = time.perf_counter()
    clock = Clock(T_START + 49 * 3600)
    procs = [local_processor(d, clock) for d in sorted(work.iterdir())]
    seconds = time.perf_counter() - started
    assert all(p.state.offset > 0 for p, _ in procs)
    return {"seconds": seconds, "peak_rss_bytes": _peak_rss(), "baseline_rss_bytes": base}, procs


def live(events: int) -> dict[str, Any]:
    """SIGKILL a worker that has counted ``events``; time a restart on its data dir and on a new one."""
    from .throughput import preproduced

    with tempfile.TemporaryDirectory(prefix="bench-restart-live-") as d, embedded_broker("restart") as b:
        settings, _ = preproduced(b, "restart", events)
        topic = settings.payments_topic

        def ready(w: WorkerProcess) -> bool:
            m = w.samples()
            return total(m, "digindex_assigned_partitions", topic=topic) == PARTITIONS and \
                total(m, "digindex_events_total", topic=topic) >= events

        def start_until_ready(data: Path, name: str) -> tuple[WorkerProcess, float]:
            t = time.perf_counter()
            w = WorkerProcess(settings, data, LOGS / f"restart-{name}-{settings.app_id[-6:]}.log").start()
            deadline = t + 300
            while not ready(w):
                if time.perf_counter() > deadline or not w.alive():
                    raise RuntimeError(f"worker {name} not ready: {w.log_tail()}")
                time.sleep(0.1)
            return w, time.perf_counter() - t

        first, cold = start_until_ready(Path(d) / "a", "first")
        time.sleep(2.0)  # the idle timer checkpoints the last events
        first.proc.kill()  # type: ignore[union-attr]
        first.proc.wait(10)  # type: ignore[union-attr]
        out: dict[str, Any] = {"events": events, "first_start_and_drain_seconds": cold}
        for name, data in (("same_node", Path(d) / "a"), ("new_node", Path(d) / "b")):
            w, seconds = start_until_ready(data, name)
            time.sleep(1.0)
            m = w.samples()
            accepted = total(m, "digindex_events_total", topic=topic, outcome="accepted")
            out[name] = {"seconds": seconds, "peak_rss_bytes": w.status("VmHWM"), "accepted": accepted,
                         "counted": total(m, "digindex_events_total", topic=topic)}
            w.stop()
        return out


def replay(snapshot: Path) -> dict[str, Any]:
    """A real new node: ``snapshot``'s table (one partition) written to the changelog of each of
    8 partitions on the embedded broker, then a worker on an empty data dir timed from its start
    to every payments partition restored (Faust's changelog replay, then the dedupe rebuild)."""
    from kafka import KafkaProducer
    from kafka.admin import KafkaAdminClient, NewTopic

    from streams.processor.kv import RocksKV
    from streams.topics import ensure_topics

    from .common import bench_settings, cpu_seconds

    kv = RocksKV(snapshot / "table")
    try:
        items = list(kv._db.items())
    finally:
        kv.close()
    size = sum(len(k) + len(v) for k, v in items) * PARTITIONS
    with embedded_broker("restart-replay") as b, \
            tempfile.TemporaryDirectory(prefix="replay-", dir=snapshot.parent) as d:
        s = bench_settings(b.url, "replay")
        ensure_topics(s)
        changelog = f"{s.app_id}-payments-state-changelog"
        admin = KafkaAdminClient(bootstrap_servers=s.bootstrap_servers)
        try:
            admin.create_topics([NewTopic(changelog, PARTITIONS, 1, topic_configs={"cleanup.policy": "compact"})])
        finally:
            admin.close()
        producer = KafkaProducer(bootstrap_servers=s.bootstrap_servers, linger_ms=20, batch_size=1 << 20,
                                 max_request_size=8 << 20)
        for p in range(PARTITIONS):
            for k, v in items:
                producer.send(changelog, key=k, value=v, partition=p)
        producer.flush()
        producer.close()
        log = LOGS / f"restart-replay-{s.app_id[-6:]}.log"
        started = time.perf_counter()
        w = WorkerProcess(s, Path(d), log).start()
        try:
            while True:
                m = w.samples()
                restored = [v for name, labels, v in m
                            if name == "digindex_restore_seconds" and labels.get("topic") == s.payments_topic]
                if len(restored) == PARTITIONS:
                    break
                if not w.alive() or time.perf_counter() - started > 3600:
                    raise RuntimeError(f"new node not ready: {w.log_tail()}")
                time.sleep(0.2)
            ready = time.perf_counter() - started
            out = {"records": len(items) * PARTITIONS, "changelog_bytes": size, "ready_seconds": ready,
                   "restore_seconds": sum(restored), "peak_rss_bytes": w.status("VmHWM"),
                   "worker_cpu_seconds": cpu_seconds(w.pid)}
        finally:
            w.stop()
    out["replay_seconds"] = _replay_seconds(log)
    return out


def _replay_seconds(log: Path) -> float:
    """Faust's changelog replay, from its log: "Restoring state ..." to "Done reading ..."."""
    from datetime import datetime

    marks: dict[str, datetime] = {}
    for line in log.read_text(errors="replace").splitlines():
        for key, text in (("start", "Restoring state from changelog topics"), ("end", "Done reading from changelog")):
            if text in line and key not in marks:
                marks[key] = datetime.strptime(line[1:24], "%Y-%m-%d %H:%M:%S,%f")
    if len(marks) < 2:
        return float("nan")
    return (marks["end"] - marks["start"]).total_seconds()


def run(profile: Any = None, rates: list[int] | None = None, hours: list[float] | None = None) -> dict[str, Any]:
    quick = profile is not None and profile.name != "full"
    rates = rates or [10, 200]
    hours = hours or ([1, 12, 48] if not quick else ([0.25, 1] if profile.name == "ci" else [1, 4]))
    print(f"== restart: 8 partitions after {hours} h at {rates} events/s per partition ==", flush=True)
    rows, results, replays = [], [], []
    root = Path(tempfile.mkdtemp(prefix="bench-restart-"))
    try:
        for rate in rates:
            built = build(root / f"r{rate}", rate, hours)
            for mark, stats in built.items():
                same = measure(root / f"r{rate}" / f"h{mark:g}", new_node=False)
                new = measure(root / f"r{rate}" / f"h{mark:g}", new_node=True)
                r = {**stats, "same_node": same, "new_node": new}
                results.append(r)
                rows.append((f"{mark:g} h", rate, stats["ids"] * PARTITIONS, f"{stats['dedupe_bytes_per_id']:.1f} B",
                             stats["other_keys"],
                             f"{stats['changelog_bytes'] * PARTITIONS / 2**20:,.1f} MB",
                             f"{stats['written_bytes'] * PARTITIONS / 2**20:,.1f} MB",
                             f"{same['ready_seconds']:.2f} s", f"{same['seconds']:.2f} s",
                             f"{same['peak_rss_bytes'] / 2**20:,.0f} MB",
                             f"{new['seconds']:.2f} s", f"{new['peak_rss_bytes'] / 2**20:,.0f} MB"))
            last = max(built)
            rp = replay(root / f"r{rate}" / f"h{last:g}")
            results[-1]["replay"] = rp
            replays.append((f"{last:g} h", rate, f"{rp['records']:,}", f"{rp['changelog_bytes'] / 2**20:,.0f} MB",
                            f"{rp['replay_seconds']:.1f} s", f"{rp['restore_seconds']:.1f} s",
                            f"{rp['ready_seconds']:.1f} s", f"{rp['peak_rss_bytes'] / 2**20:,.0f} MB"))
            shutil.rmtree(root / f"r{rate}", ignore_errors=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    n_live = 20_000 if quick else 200_000
    lv = live(n_live)
    table_live = print_table(f"live: SIGKILL after {n_live:,} events, then restart (start to ready and exact)",
                             ["restart", "seconds", "peak RSS", "events counted (must be "
                              f"{n_live:,})"],
                             [(k, f"{lv[k]['seconds']:.1f} s", f"{lv[k]['peak_rss_bytes'] / 2**20:,.0f} MB",
                               int(lv[k]["counted"])) for k in ("same_node", "new_node")])
    table = print_table("restore of a worker owning 8 partitions (synthetic time, checkpoint per second)",
                        ["uptime", "ev/s/part", "ids", "on disk per id", "keys/part (not ids)", "changelog", "written",
                         "same node: ready", "of which restore", "peak RSS", "new node: restore", "peak RSS"], rows)
    table_replay = print_table("new node for real: the changelog on the broker, a worker on an empty data dir "
                               "(start to 8 partitions restored)",
                               ["uptime", "ev/s/part", "changelog records", "changelog", "Faust replay",
                                "restores (dedupe rebuilt)", "ready", "peak RSS"], replays)
    bars = []
    for rate in rates:
        rs = [r for r in results if r["rate"] == rate]
        first, last = rs[0], rs[-1]
        bars.append(Bar(f"restart {rate} ev/s, same node after {last['hours']:g} h: ready seconds",
                        last["same_node"]["ready_seconds"], 30, higher_is_better=False, unit=" s"))
        bars.append(Bar(f"restart {rate} ev/s, same node after {last['hours']:g} h: peak RSS",
                        last["same_node"]["peak_rss_bytes"] / 2**20, 1024, higher_is_better=False, unit=" MB"))
        bars.append(Bar(f"restart {rate} ev/s, {last['hours']:g} h / {first['hours']:g} h ready time",
                        last["same_node"]["ready_seconds"] / max(first["same_node"]["ready_seconds"], 1e-3), 1.5,
                        higher_is_better=False))
        bars.append(Bar(f"restart {rate} ev/s, new node after {last['hours']:g} h (dedupe rebuilt): seconds",
                        last["new_node"]["seconds"], 300, higher_is_better=False, unit=" s"))
        bars.append(Bar(f"restart {rate} ev/s, new node for real after {last['hours']:g} h (changelog replay "
                        "and restores): ready seconds", last["replay"]["ready_seconds"], 300,
                        higher_is_better=False, unit=" s"))
    for k in ("same_node", "new_node"):
        bars.append(Bar(f"restart live ({k}): events lost or counted twice", abs(lv[k]["counted"] - n_live), 0,
                        higher_is_better=False, unit=""))
    return {"results": results, "live": lv, "table": table + "\n\n" + table_replay + "\n\n" + table_live,
            "bars": [b.as_dict() for b in bars], "_bars": bars}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--rates", help="events/s per partition, e.g. 10,200")
    p.add_argument("--hours", help="uptime equivalents, e.g. 1,12,48")
    p.add_argument("--restore", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.restore:
        figures, procs = restore_all(args.restore)
        print(json.dumps(figures), flush=True)
        for proc, kv in procs:
            close(proc, kv)
        return
    from .common import FULL, QUICK

    out = run(QUICK if args.quick else FULL,
              [int(x) for x in args.rates.split(",")] if args.rates else None,
              [float(x) for x in args.hours.split(",")] if args.hours else None)
    out.pop("_bars")
    print(f"wrote {write_result('restart', out)}")


if __name__ == "__main__":
    main()
