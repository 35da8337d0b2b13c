"""6. Fault campaign: workers and the broker killed, paused and restarted while payments stream in.

Every scenario runs on its own embedded broker, with a steady stream (``tests/streaming.py``:
a producer thread at a fixed rate, every event re-sent until the broker acknowledged it, so
the generated events are the ground truth), and ends by comparing what the live workers
export with that truth:

* **sent**: distinct ``(bank_code, event_id)`` that reached the broker (re-sends not counted);
* **accepted**: ``sum(digindex_events_total{outcome="accepted"})`` over the live workers;
* **lost** / **counted twice**: per district x bank x status x mode cell of
  ``digindex_bank_window_transactions`` (longest window: every event of a run is inside it),
  the events missing from a cell / the events a cell holds beyond the truth, summed; both
  must be 0. Shares are checked too (``digindex_digital_share_ratio`` and the value share
  against ``tests/helpers.expected_payments``: largest error), and every district must be
  exported by exactly one worker;
* **of which not in the broker's log**: the lost events that the payments topic itself no
  longer holds (read back in full), i.e. lost by the broker, not by the workers.

A scenario that is not exact is checked a second time (not in CI): every live worker
SIGKILLed and a fresh one restored on the first one's data dir. If it is still wrong, the loss
is in the checkpoints and committed offsets, not only in a live worker's memory.

Scenarios: (a) N SIGKILLs of the worker, a fresh one on the same data dir after each; (b)
three workers joining one by one, then killed one at a time down to one survivor; (c) a
broker restart (SIGTERM; ``broker-crash``: SIGKILL, full profile only) with durable ``s3://``
storage (moto's S3 server) while the stream and a ``digindex publish`` run go on; (d)
fencing: a worker SIGSTOPped past its session timeout, resumed after another took its
partitions (checked live, then restored from the checkpoints alone by a fresh worker); (e) a
soak at a steady rate (RSS and lag sampled), then a SIGKILL and the restore time. Figures are
reported, never enforced.

    .venv/bin/python -m bench.faults [--quick|--ci] [--only kills,joins,broker,broker-crash,fencing,soak]
    .venv/bin/python -m bench.faults --only soak --soak-seconds 600
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import random
import signal
import statistics
import subprocess
import tempfile
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kafka import KafkaConsumer, TopicPartition

from streams.avro_codec import codec_for
from streams.broker import EmbeddedBroker
from streams.channels import is_digital
from streams.config import Settings
from streams.topics import ensure_topics
from tests.helpers import expected_payments, wait_until
from tests.s3 import LocalS3
from tests.streaming import SteadyStream
from tests.worker import data

from .common import (
    FULL,
    LOGS,
    PYTHON,
    QUICK,
    RESULTS,
    ROOT,
    Bar,
    Profile,
    Sample,
    WorkerProcess,
    bench_settings,
    embedded_broker,
    print_table,
    total,
    write_result,
)

__all__ = ["SCENARIOS", "SIZES", "Sizes", "Verdict", "markdown", "run"]


#: quick and CI leave out the broker crash: what it loses is lost by the broker (docs/faults.md)
QUICK_SCENARIOS = ("kills", "joins", "broker", "fencing", "soak")


@dataclass(frozen=True)
class Sizes:
    """How long and how hard each scenario pushes (per profile)."""

    rate: float  # payments/s of the steady stream
    kills: int  # (a) SIGKILLs
    kill_every: float  # (a) mean seconds of streaming between a worker being ready and its kill
    step: float  # (b) seconds between joins / kills
    broker_stream: float  # (c) seconds of stream around the broker restart
    broker_down: float  # (c) seconds the broker stays down
    #: (c) records of the file published across the restart (tansu on s3 takes ~600 records/s)
    publish_records: int
    fence_after: float  # (d) seconds of stream once A is back in the group (or dead)
    soak_seconds: float  # (e)
    soak_rate: float  # (e)
    soak_sample: float  # (e) seconds between RSS / lag samples
    scenarios: tuple[str, ...] = ("kills", "joins", "broker", "broker-crash", "fencing", "soak")
    recheck: bool = True  # a scenario that is not exact: restore a fresh worker for a second opinion


SIZES = {
    "full": Sizes(rate=500, kills=8, kill_every=8, step=10, broker_stream=40, broker_down=3, publish_records=20_000,
                  fence_after=20, soak_seconds=1800, soak_rate=300, soak_sample=15),
    "quick": Sizes(rate=400, kills=2, kill_every=3, step=2.5, broker_stream=5, broker_down=1, publish_records=2_000,
                   fence_after=2, soak_seconds=40, soak_rate=300, soak_sample=3, scenarios=QUICK_SCENARIOS),
    "ci": Sizes(rate=400, kills=2, kill_every=2.5, step=2, broker_stream=4, broker_down=1, publish_records=2_000,
                fence_after=2, soak_seconds=35, soak_rate=300, soak_sample=3, scenarios=QUICK_SCENARIOS,
                recheck=False),
}

#: how long the live workers' figures must stand still before they are compared with the truth
QUIET = 2.0
#: the scenarios that stop their stream themselves (after the faults) still bound it in time
STREAM_BOUND = 900.0


# --- workers -----------------------------------------------------------------------------------------


class FaultWorker(WorkerProcess):
    """A bench worker that can also be SIGKILLed, SIGSTOPped and SIGCONTed, and says what it owns."""

    def signal(self, sig: int) -> None:
        if self.alive():
            assert self.proc is not None
            self.proc.send_signal(sig)

    def kill(self) -> None:
        """SIGKILL: no flush, no hand-over (the pattern of ``tests/helpers.WorkerProcess.kill``)."""
        if self.alive():
            self.signal(signal.SIGKILL)
            assert self.proc is not None
            self.proc.wait(10)

    def stop(self) -> None:
        self.signal(signal.SIGCONT)  # a stopped process would not see the SIGTERM
        super().stop()

    def discard(self) -> None:
        """At the end of a scenario, its figures taken: SIGKILL (faster than a graceful stop), close the log."""
        self.kill()
        super().stop()

    def owned(self) -> float:
        return total(self.samples(), "digindex_assigned_partitions", topic=self.settings.payments_topic)

    def counted(self) -> float:
        return total(self.samples(), "digindex_events_total", topic=self.settings.payments_topic)


def _live(workers: Sequence[FaultWorker]) -> list[FaultWorker]:
    return [w for w in workers if w.alive()]


def _all_owned(workers: Sequence[FaultWorker], partitions: int, each: bool = True) -> bool:
    """The live workers own every partition between them (``each``: and every one owns some)."""
    owned = [w.owned() for w in _live(workers)]
    return bool(owned) and sum(owned) == partitions and (not each or all(o > 0 for o in owned))


def _timed(check: Callable[[], Any], timeout: float, what: str) -> float:
    """Seconds until ``check`` holds (``tests/helpers.wait_until``, which fails after ``timeout``)."""
    t = time.monotonic()
    wait_until(check, timeout, interval=0.1, what=what)
    return time.monotonic() - t


def _lag(workers: Sequence[FaultWorker]) -> float:
    return sum(total(w.samples(), "digindex_consumer_lag_messages", topic=w.settings.payments_topic)
               for w in _live(workers))


def settle(workers: Sequence[FaultWorker], want: int, quiet: float = QUIET, timeout: float = 180.0) -> float:
    """Seconds until the live workers' figures last changed, once they own every partition with no lag.

    Waits for "no more progress", not for the expected count, so that a loss or a double count
    shows up in the figures instead of as a time-out: once the counts have reached ``want`` they
    must stay still ``quiet`` seconds; below it, ``4 * quiet`` seconds (a replay may be slow).
    """
    t0 = time.monotonic()
    last: tuple[float, ...] = ()
    since = t0
    while time.monotonic() - t0 < timeout:
        live = _live(workers)
        partitions = live[0].settings.topic_partitions if live else 0
        snapshot = (sum(w.owned() for w in live), _lag(live), sum(w.counted() for w in live))
        if snapshot != last:
            last, since = snapshot, time.monotonic()
        elif live and snapshot[0] == partitions and snapshot[1] == 0:
            still = time.monotonic() - since
            if (snapshot[2] >= want and still >= quiet) or still >= 4 * quiet:
                return since - t0
        time.sleep(0.25)
    return time.monotonic() - t0


# --- the ground truth and the verdict ------------------------------------------------------------------

Cell = tuple[int, str, str, str]  # district, bank, status, mode


def truth_cells(records: Sequence[dict[str, Any]]) -> Counter[Cell]:
    """Distinct events per district x bank x status x mode (a re-sent copy counts once)."""
    seen: set[tuple[str, str]] = set()
    cells: Counter[Cell] = Counter()
    for r in records:
        if (r["bank_code"], r["event_id"]) in seen:
            continue
        seen.add((r["bank_code"], r["event_id"]))
        mode = "digital" if is_digital(r["channel"]) else "non_digital"
        cells[(r["district_lgd"], r["bank_code"], r["status"], mode)] += 1
    return cells


@dataclass
class Verdict:
    """The live workers' figures against the truth."""

    sent: int
    accepted: int
    lost: int
    twice: int
    share_error: float  # largest |exported - true| digital share (count or value), any district
    districts_exported: dict[int, int] = field(default_factory=dict)  # district -> by how many workers
    by_district: dict[int, int] = field(default_factory=dict)  # district -> exported - sent, where not 0
    differences: list[str] = field(default_factory=list)  # the first differing cells

    @property
    def exact(self) -> bool:
        return (self.lost == 0 and self.twice == 0 and self.accepted == self.sent and self.share_error < 1e-9
                and all(n == 1 for n in self.districts_exported.values()))

    def as_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "exact": self.exact}


def verdict(workers: Sequence[FaultWorker], records: Sequence[dict[str, Any]], window: str) -> Verdict:
    """Compare the live workers together with ``records`` (the truth); lists the differing cells."""
    samples = [w.samples() for w in _live(workers)]
    want = truth_cells(records)
    got: Counter[Cell] = Counter()
    exported: Counter[int] = Counter()
    for s in samples:
        for name, lab, v in s:
            if name == "digindex_bank_window_transactions" and lab.get("window") == window:
                got[(int(lab["district_lgd"]), lab["bank"], lab["status"], lab["mode"])] += int(v)
            elif name == "digindex_digital_share_ratio" and lab.get("window") == window:
                exported[int(lab["district_lgd"])] += 1
    lost = twice = 0
    differences = []
    by_district: Counter[int] = Counter()
    for cell in sorted(set(want) | set(got)):
        diff = got[cell] - want[cell]
        lost += max(0, -diff)
        twice += max(0, diff)
        if diff:
            by_district[cell[0]] += diff
            differences.append(f"{cell}: {got[cell]} exported, {want[cell]} sent ({diff:+d})")
    topic = workers[0].settings.payments_topic
    accepted = int(sum(total(s, "digindex_events_total", outcome="accepted", topic=topic) for s in samples))
    return Verdict(sum(want.values()), accepted, lost, twice, _share_error(samples, records, window),
                   dict(exported), {d: n for d, n in sorted(by_district.items()) if n}, differences[:12])


def _share_error(samples: Sequence[Sequence[Sample]], records: Sequence[dict[str, Any]], window: str) -> float:
    """The largest share error: counts can be exact per cell while an amount is applied wrongly."""
    truth = expected_payments(records)
    worst = 0.0
    for metric, key in (("digindex_digital_share_ratio", "share"), ("digindex_digital_value_share_ratio",
                                                                    "value_share")):
        got = {int(lab["district_lgd"]): v for s in samples for name, lab, v in s
               if name == metric and lab.get("window") == window}
        for d, t in truth.items():
            worst = max(worst, abs(got.get(d, float("inf")) - t[key]))
    return worst


def log_census(run: Run, records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """What the broker's log of the payments topic holds against the truth: tells a broker's loss from a worker's.

    Read to the end by a timeout, not by the end offsets (tansu under-reports high watermarks).
    """
    codec = codec_for("PaymentEvent")
    consumer = KafkaConsumer(bootstrap_servers=run.broker.bootstrap, auto_offset_reset="earliest",
                             enable_auto_commit=False)
    topic = run.settings.payments_topic
    consumer.assign([TopicPartition(topic, p) for p in range(run.settings.topic_partitions)])
    seen: Counter[tuple[str, str]] = Counter()
    deadline = time.monotonic() + 300
    idle_since = time.monotonic()
    # done after 1.5 s without a message, once messages came (the first fetch from s3 storage is slow)
    while time.monotonic() < deadline and time.monotonic() - idle_since < (1.5 if seen else 20.0):
        for messages in consumer.poll(timeout_ms=500).values():
            idle_since = time.monotonic()
            for m in messages:
                r = codec.decode(m.value)
                seen[(r["bank_code"], r["event_id"])] += 1
    consumer.close()
    truth = {(r["bank_code"], r["event_id"]): r["district_lgd"] for r in records}
    missing = Counter(d for key, d in truth.items() if key not in seen)
    return {"messages": sum(seen.values()), "distinct": len(seen), "missing_from_log": sum(missing.values()),
            "missing_by_district": dict(sorted(missing.items())), "not_in_truth": len(set(seen) - set(truth))}


# --- scenario scaffolding --------------------------------------------------------------------------------


@dataclass
class Run:
    """One scenario's broker, settings, data dirs and workers; stops them all at the end."""

    name: str
    sizes: Sizes
    broker: EmbeddedBroker
    settings: Settings
    tmp: Path
    workers: list[FaultWorker] = field(default_factory=list)

    def worker(self, data: str) -> FaultWorker:
        """A new worker process on data dir ``data`` (reuse a name: a restart on the same machine)."""
        log = LOGS / f"faults-{self.name}-{len(self.workers)}-{self.settings.app_id[-6:]}.log"
        w = FaultWorker(self.settings, self.tmp / data, log)
        self.workers.append(w)
        return w.start()

    def window(self) -> str:
        return Settings.window_label(self.settings.longest_window)


@contextmanager
def scenario(name: str, sizes: Sizes, broker: EmbeddedBroker | None = None) -> Iterator[Run]:
    """A fresh broker (or ``broker``), topics and a temporary dir for the data dirs; stops everything after."""
    with tempfile.TemporaryDirectory(prefix=f"bench-faults-{name}-") as d:
        b = broker or embedded_broker(f"faults-{name}")
        try:
            if not b.running():
                b.start()
            settings = bench_settings(b.url, f"f{name}")
            ensure_topics(settings)
            run = Run(name, sizes, b, settings, Path(d))
            try:
                yield run
            finally:
                for w in run.workers:
                    w.discard()
        finally:
            b.stop()


def _ready(run: Run, workers: Sequence[FaultWorker], timeout: float = 90.0, each: bool = True) -> float:
    return _timed(lambda: _all_owned(workers, run.settings.topic_partitions, each), timeout,
                  f"{run.name}: workers own every partition")


def _result(run: Run, stream: SteadyStream, workers: Sequence[FaultWorker], timings: dict[str, Any],
            extra_records: Sequence[dict[str, Any]] = (), settled: str = "drain_s",
            second_opinion: bool = True) -> dict[str, Any]:
    """Finish the stream, settle and judge: the scenario's row (``settled``: the timing's name).

    Not exact (and ``second_opinion``): :func:`recheck` too, so the row tells a loss held only in
    a live worker's memory from one written into the checkpoints.
    """
    stream.finish()
    records = [*stream.records, *extra_records]
    drain = settle(workers, len(records))
    v = verdict(workers, records, run.window())
    out = {"verdict": v.as_dict(), "log": log_census(run, records), "app_id": run.settings.app_id,
           "attempts": stream.attempts + len(extra_records), "send_errors": stream.errors,
           "unacked": stream.unacked, "stream_seconds": stream.finished_at - stream.started_at,
           "timings": {**timings, settled: drain}}
    if second_opinion and run.sizes.recheck and not v.exact:
        out["recheck"] = recheck(run, records)
    return out


def recheck(run: Run, records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """A second opinion on a scenario that was not exact: every live worker SIGKILLed, a fresh one
    restored on the first one's data dir. Still wrong: the loss is in the checkpoints and committed
    offsets, not only in a live worker's memory."""
    live = _live(run.workers)
    data_dir = live[0].settings.data_dir.name if live else "recheck"
    for w in live:
        w.kill()
    fresh = run.worker(data_dir)
    _ready(run, [fresh])
    settle([fresh], len(records))
    return verdict([fresh], records, run.window()).as_dict()


# --- (a) SIGKILLs --------------------------------------------------------------------------------------------


def kills(sizes: Sizes) -> dict[str, Any]:
    """N SIGKILLs during a sustained stream, a fresh worker on the same data dir after each."""
    rng = random.Random(7)
    with scenario("kills", sizes) as run:
        w = run.worker("w")
        _ready(run, [w])
        stream = SteadyStream(run.settings, sizes.rate, STREAM_BOUND, prefix="kills")
        stream.start()
        restores, catchups = [], []
        for _ in range(sizes.kills):
            time.sleep(sizes.kill_every * rng.uniform(0.5, 1.5))  # kills land at different checkpoint phases
            w.kill()
            t = time.monotonic()
            w = run.worker("w")
            _ready(run, [w])
            restores.append(time.monotonic() - t)
            catchups.append(_timed(lambda w=w: _lag([w]) <= sizes.rate * 0.2, 90, "caught up"))
        time.sleep(sizes.kill_every)
        out = _result(run, stream, [w], {"restore_s": restores, "catch_up_s": catchups})
        out["detail"] = f"{sizes.kills} SIGKILLs at {sizes.rate:,.0f}/s"
        return out


# --- (b) joins and kills ---------------------------------------------------------------------------------------


def joins(sizes: Sizes) -> dict[str, Any]:
    """Three workers joining one by one, then killed one at a time (oldest first) down to one survivor."""
    with scenario("joins", sizes) as run:
        ws = [run.worker("w0")]
        _ready(run, ws)
        stream = SteadyStream(run.settings, sizes.rate, STREAM_BOUND, prefix="joins")
        stream.start()
        timings: dict[str, list[float]] = {"join_rebalance_s": [], "takeover_s": []}
        for i in (1, 2):
            time.sleep(sizes.step)
            t = time.monotonic()
            ws.append(run.worker(f"w{i}"))
            _ready(run, ws)
            timings["join_rebalance_s"].append(time.monotonic() - t)
        for victim in ws[:2]:
            time.sleep(sizes.step)
            victim.kill()
            timings["takeover_s"].append(_ready(run, ws))
        time.sleep(sizes.step)
        out = _result(run, stream, ws, timings)
        out["detail"] = f"3 workers join every {sizes.step:g} s, 2 killed, at {sizes.rate:,.0f}/s"
        return out


# --- (c) broker restart on durable storage ----------------------------------------------------------------------


def _publish_file(run: Run, n: int) -> tuple[Path, list[dict[str, Any]]]:
    """A bank's JSON Lines file of ``n`` payments (all SBIN: the publisher checks the bank)."""
    records = [{**r, "bank_code": "SBIN"} for r in data.payments(n, seed=99, spread_s=60, prefix="file-")]
    path = run.tmp / "sbin-payments.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path, records


def _publisher(run: Run, path: Path) -> subprocess.Popen[bytes]:
    log = open(LOGS / f"faults-{run.name}-publish.log", "ab")  # noqa: SIM115
    env = {**os.environ, **run.settings.to_env()}
    p = subprocess.Popen([PYTHON, "-m", "streams", "publish", "--bank", "SBIN", "--kind", "payments",
                          "--no-create-topics", "--connect-timeout", "30", str(path)], env=env, cwd=ROOT,
                         stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    log.close()
    return p


def broker_restart(sizes: Sizes, crash: bool = False) -> dict[str, Any]:
    """The broker restarted (``crash``: SIGKILLed) on ``s3://`` storage mid-stream and mid-publish."""
    name = "broker-crash" if crash else "broker"
    LOGS.mkdir(parents=True, exist_ok=True)
    with LocalS3(log_path=LOGS / f"faults-{name}-moto.log") as s3:
        broker = EmbeddedBroker(log_path=LOGS / f"broker-faults-{name}.log", storage=s3.storage, env=s3.env)
        with scenario(name, sizes, broker) as run:
            w = run.worker("w")
            _ready(run, [w])
            path, file_records = _publish_file(run, sizes.publish_records)
            stream = SteadyStream(run.settings, sizes.rate, STREAM_BOUND, prefix=name)
            stream.start()
            time.sleep(sizes.broker_stream / 2)
            publisher = _publisher(run, path)
            checkpoint = path.with_name(path.name + ".checkpoint.json")
            wait_until(checkpoint.exists, 60, 0.02, "the publisher's first checkpoint")
            publishing = publisher.poll() is None
            t = time.monotonic()
            broker.restart(kill=crash, down=sizes.broker_down)
            outage = time.monotonic() - t
            counted = w.counted()
            back = _timed(lambda: w.counted() > counted, 120, "the worker counting again")
            exits = [publisher.wait(180)]
            while exits[-1] == 1 and len(exits) < 4:  # "rerun to resume": the publisher's contract
                exits.append(_publisher(run, path).wait(180))
            time.sleep(sizes.broker_stream / 2)
            out = _result(run, stream, [w], {"broker_outage_s": outage, "worker_counting_again_s": back},
                          extra_records=file_records)
            out.update(publisher_exits=exits, publishing_at_restart=publishing)
            how = "SIGKILL" if crash else "SIGTERM"
            out["detail"] = (f"{how} + {sizes.broker_down:g} s down, s3:// on moto; {sizes.rate:,.0f}/s stream + a "
                             f"{sizes.publish_records:,}-record `digindex publish` "
                             f"({'running' if publishing else 'done'} at the restart; exits {exits})")
            return out


def broker_crash(sizes: Sizes) -> dict[str, Any]:
    return broker_restart(sizes, crash=True)


# --- (d) fencing ------------------------------------------------------------------------------------------------


def _rewritten_keys(run: Run) -> int:
    """Keys of the app's payment changelog written more than once: a zombie's overwrites.

    (The full-snapshot key is also rewritten every 120 deltas, about 2 minutes per partition:
    longer than this scenario.) Best effort: -1 if the changelog cannot be read.
    """
    try:
        consumer = KafkaConsumer(bootstrap_servers=run.broker.bootstrap, consumer_timeout_ms=1500,
                                 auto_offset_reset="earliest")
        topics = [t for t in consumer.topics() if t.startswith(run.settings.app_id) and "payments" in t
                  and t.endswith("-changelog")]
        consumer.assign([TopicPartition(t, p) for t in topics for p in range(run.settings.topic_partitions)])
        keys = Counter((m.topic, m.partition, m.key) for m in consumer if m.value is not None)
        consumer.close()
        return sum(1 for n in keys.values() if n > 1)
    except Exception:
        return -1


def fencing(sizes: Sizes) -> list[dict[str, Any]]:
    """A SIGSTOPped worker resumed after another took its partitions; two rows: live, then restored."""
    with scenario("fencing", sizes) as run:
        a = run.worker("a")
        _ready(run, [a])
        b = run.worker("b")
        _ready(run, [a, b])
        stream = SteadyStream(run.settings, sizes.rate, STREAM_BOUND, prefix="fence")
        stream.start()
        wait_until(lambda: a.counted() > sizes.rate * 2, 60, what="A mid-stream")
        a.signal(signal.SIGSTOP)
        t = time.monotonic()
        takeover = _ready(run, [b])
        before = b.counted()
        wait_until(lambda: b.counted() > before + sizes.rate, 60, what="B processed more")
        paused = time.monotonic() - t
        a.signal(signal.SIGCONT)
        # the stream goes on while A notices, rejoins and (rebuilding from B's checkpoints) owns partitions again
        back = _timed(lambda: not a.alive() or (a.owned() > 0 and _all_owned([a, b], run.settings.topic_partitions)),
                      90, "A back in the group")
        time.sleep(sizes.fence_after)
        live = _result(run, stream, [a, b], {"takeover_s": takeover, "paused_s": paused, "a_back_s": back},
                       second_opinion=False)
        live["a_survived"] = a.alive()
        live["zombie_rewrites"] = _rewritten_keys(run)
        live["detail"] = (f"A stopped {paused:.1f} s (session timeout {run.settings.session_timeout:g} s), resumed; "
                          f"A + B live; {live['zombie_rewrites']} checkpoint keys rewritten")
        b.kill()
        a.kill()
        t = time.monotonic()
        fresh = run.worker("b")
        _ready(run, [fresh])
        restore = time.monotonic() - t
        drain = settle([fresh], len(stream.records))
        v = verdict([fresh], stream.records, run.window())
        restored = {**live, "verdict": v.as_dict(), "timings": {"restore_s": restore, "drain_s": drain},
                    "detail": "then A and B SIGKILLed, a fresh worker on B's data dir restores the checkpoints"}
        return [live, restored]


# --- (e) soak -------------------------------------------------------------------------------------------------


def soak(sizes: Sizes) -> dict[str, Any]:
    """A steady stream for ``soak_seconds``: RSS and lag sampled; then a SIGKILL and the restore time."""
    with scenario("soak", sizes) as run:
        w = run.worker("w")
        _ready(run, [w])
        stream = SteadyStream(run.settings, sizes.soak_rate, sizes.soak_seconds, prefix="soak")
        stream.start()
        samples: list[tuple[float, int, float]] = []  # (seconds, RSS bytes, lag)
        t0 = time.monotonic()
        while stream.is_alive() and time.monotonic() - t0 < sizes.soak_seconds + 30:
            samples.append((time.monotonic() - t0, w.status("VmRSS"), _lag([w])))
            time.sleep(sizes.soak_sample)
        drain = settle([w], len(stream.records))
        end_rss = w.status("VmRSS")
        w.kill()
        t = time.monotonic()
        fresh = run.worker("w")
        _ready(run, [fresh])
        restore = time.monotonic() - t
        out = _result(run, stream, [fresh], {"drain_s": drain, "restore_s": restore}, settled="restored_to_exact_s")
        rss = [r for _, r, _ in samples if r] + [end_rss]
        lags = sorted(lag for _, _, lag in samples)
        out.update(rss_samples=samples, rss_first=rss[0] if rss else 0, rss_last=end_rss, rss_max=max(rss, default=0),
                   lag_max=lags[-1] if lags else 0, lag_median=statistics.median(lags) if lags else 0)
        mb = {k: out[k] / 2**20 for k in ("rss_first", "rss_last", "rss_max")}
        length = f"{sizes.soak_seconds / 60:.0f} min" if sizes.soak_seconds >= 120 else f"{sizes.soak_seconds:.0f} s"
        out["detail"] = (f"{length} at {sizes.soak_rate:,.0f}/s; RSS {mb['rss_first']:.0f} -> "
                         f"{mb['rss_last']:.0f} MB (max {mb['rss_max']:.0f}); lag max {out['lag_max']:,.0f}, "
                         f"median {out['lag_median']:,.0f}; then SIGKILL, restore {restore:.1f} s")
        return out


SCENARIOS: dict[str, Callable[[Sizes], Any]] = {
    "kills": kills,
    "joins": joins,
    "broker": broker_restart,
    "broker-crash": broker_crash,
    "fencing": fencing,
    "soak": soak,
}

LABELS = {"kills": "(a) worker SIGKILLs", "joins": "(b) 3 workers join, 2 killed", "broker": "(c) broker restart (s3)",
          "broker-crash": "(c) broker SIGKILL (s3)",
          "fencing": "(d) fencing: live", "fencing-restored": "(d) fencing: restored", "soak": "(e) soak + SIGKILL"}


# --- output -----------------------------------------------------------------------------------------------------


def _seconds(x: Any) -> str:
    """``3.2`` s, or ``3.2-4.4`` s (median-max of several)."""
    if isinstance(x, list):
        return f"{statistics.median(x):.1f}-{max(x):.1f}" if x else "-"
    return f"{x:.1f}"


def _rows(results: dict[str, dict[str, Any]]) -> list[tuple[Any, ...]]:
    rows = []
    for name, r in results.items():
        if "error" in r:
            rows.append((LABELS.get(name, name), "-", "-", "-", "-", "-", "CRASHED", r["error"].splitlines()[-1]))
            continue
        v = r["verdict"]
        timings = ", ".join(f"{k.removesuffix('_s').replace('_', ' ')} {_seconds(x)} s"
                            for k, x in r["timings"].items())
        recheck = r.get("recheck")
        exact = "yes" if v["exact"] else "NO" + (f" (fresh worker: lost {recheck['lost']}, twice {recheck['twice']})"
                                                 if recheck else "")
        rows.append((LABELS.get(name, name), v["sent"], v["accepted"], v["lost"], r["log"]["missing_from_log"],
                     v["twice"], exact, timings))
    return rows


HEADER = ("scenario", "sent", "accepted", "lost", "of which not in the broker's log", "counted twice", "exact",
          "timings")


def markdown(results: dict[str, dict[str, Any]], profile: str) -> str:
    """The table for docs/faults.md (also written to ``bench/results/faults-latest.md``)."""
    lines = [f"Profile `{profile}`, {time.strftime('%Y-%m-%d', time.gmtime())}.", "",
             "| " + " | ".join(HEADER) + " | what happened |", "|" + "---|" * (len(HEADER) + 1)]
    for row, (_name, r) in zip(_rows(results), results.items(), strict=True):
        cells = [f"{c:,}" if isinstance(c, int) else str(c) for c in row]
        lines.append("| " + " | ".join(cells) + f" | {r.get('detail', '')} |")
    return "\n".join(lines) + "\n"


def run(profile: Profile, only: Sequence[str] | None = None, sizes: Sizes | None = None) -> dict[str, Any]:
    """Every scenario (or ``only`` some); a crashed scenario is recorded and the others still run."""
    sizes = sizes or SIZES.get(profile.name, SIZES["quick"])
    names = list(only or sizes.scenarios)
    print(f"== 6. fault campaign ({profile.name}): {', '.join(names)} ==", flush=True)
    results: dict[str, dict[str, Any]] = {}
    for name in names:
        t = time.monotonic()
        try:
            out = SCENARIOS[name](sizes)
        except Exception:
            out = {"error": traceback.format_exc()}
            print(f"!! faults/{name} crashed:\n{out['error']}", flush=True)
        rows = out if isinstance(out, list) else [out]
        for i, row in enumerate(rows):
            row["scenario_seconds"] = time.monotonic() - t
            results[name if i == 0 else f"{name}-restored"] = row
            if "verdict" in row:
                v = row["verdict"]
                print(f"  {LABELS.get(name if i == 0 else f'{name}-restored', name)}: sent {v['sent']:,} "
                      f"accepted {v['accepted']:,} lost {v['lost']} twice {v['twice']} "
                      f"({time.monotonic() - t:.0f} s) {row.get('detail', '')}", flush=True)
                if not v["exact"]:
                    print(f"    by district (exported - sent): {v['by_district']}; the broker's log: {row['log']}",
                          flush=True)
                for d in v["differences"]:
                    print(f"    {d}", flush=True)
    table = print_table(f"Fault campaign ({profile.name})", HEADER, _rows(results))
    judged = [r["verdict"] for r in results.values() if "verdict" in r]
    lost = sum(v["lost"] for v in judged) if judged else None
    twice = sum(v["twice"] for v in judged) if judged else None
    bars = [Bar("faults: events lost, all scenarios", lost, 0, higher_is_better=False, unit=""),
            Bar("faults: events counted twice, all scenarios", twice, 0, higher_is_better=False, unit="")]
    crashed = [n for n, r in results.items() if "error" in r]
    out = {"sizes": dataclasses.asdict(sizes), "scenarios": results, "lost": lost, "twice": twice,
           "sent": sum(v["sent"] for v in judged), "exact": all(v["exact"] for v in judged) and not crashed,
           "crashed": crashed, "table": table, "bars": [b.as_dict() for b in bars], "_bars": bars}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "faults-latest.md").write_text(markdown(results, profile.name))
    if crashed:
        write_result("faults", {k: v for k, v in out.items() if k != "_bars"})
        raise RuntimeError(f"fault scenarios crashed: {', '.join(crashed)} (figures of the others in "
                           f"bench/results/faults-latest.json)")
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--ci", action="store_true", help="the trimmed CI sizes")
    p.add_argument("--only", help=f"comma-separated scenarios ({', '.join(SCENARIOS)})")
    p.add_argument("--soak-seconds", type=float, help="override the soak's length")
    args = p.parse_args()
    profile = dataclasses.replace(QUICK, name="ci") if args.ci else QUICK if args.quick else FULL
    sizes = SIZES[profile.name]
    if args.soak_seconds:
        sizes = dataclasses.replace(sizes, soak_seconds=args.soak_seconds)
    only = [s.strip() for s in args.only.split(",")] if args.only else None
    out = run(profile, only, sizes)
    for bar in out.pop("_bars"):
        print(bar.line())
    print(f"wrote {write_result('faults', out)} and {RESULTS / 'faults-latest.md'}")


if __name__ == "__main__":
    main()
