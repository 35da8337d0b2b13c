"""What every benchmark shares: profiles (full/quick), worker processes, scraping, timing, results.

Timing rule, everywhere: a consumer's rate is ``(N - counted_at_ready) / (t_done - t_ready)``,
where ``t_ready`` is the moment it owns its partitions with its state recovered (streams about
to resume) and ``t_done`` the moment all ``N`` events are counted. For digindex both moments
are observed by polling ``/metrics`` (adaptively: ``t_done`` is seen within ~50 ms, with few
scrapes during the run, because a scrape costs the worker CPU); the competitors stamp them
in-process. Start-up (interpreter, Faust boot, group join) is excluded for everyone, nothing
else is subtracted. CPU µs/event (all threads, user + system, between the same two moments)
is reported next to every rate: it is far less sensitive to a shared machine than wall time.
"""

from __future__ import annotations

import json
import os
import platform
import re
import signal
import statistics
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from streams.banks import default_banks
from streams.broker import EmbeddedBroker, free_port, wait_for_port
from streams.config import Settings
from streams.signing import write_registry

__all__ = [
    "FULL",
    "LOGS",
    "QUICK",
    "RESULTS",
    "ROOT",
    "Bar",
    "Profile",
    "Timing",
    "WorkerProcess",
    "bench_settings",
    "embedded_broker",
    "median",
    "print_table",
    "scrape",
    "tag",
    "time_workers",
    "write_result",
]

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
LOGS = RESULTS / "logs"
PYTHON = sys.executable


@dataclass(frozen=True)
class Profile:
    """Sizes of one harness run."""

    name: str
    events: int  # throughput and scale-out topic size
    runs: int  # repetitions of each side-by-side comparison (medians)
    latency_seconds: float
    latency_rate: float
    seeding_accounts: int
    seeding_changes: int
    publisher_records: int
    publisher_runs: int
    #: /metrics poll intervals of the latency phases (the first is judged against the bar)
    latency_polls: tuple[float, ...] = (0.25, 0.05)


FULL = Profile("full", events=200_000, runs=3, latency_seconds=60, latency_rate=1000,
               seeding_accounts=1_000_000, seeding_changes=100_000, publisher_records=100_000, publisher_runs=3)
QUICK = Profile("quick", events=20_000, runs=1, latency_seconds=10, latency_rate=1000,
                seeding_accounts=50_000, seeding_changes=5_000, publisher_records=20_000, publisher_runs=1)


def embedded_broker(name: str) -> EmbeddedBroker:
    """A fresh embedded broker for one benchmark, logging to ``bench/results/logs/broker-<name>.log``."""
    LOGS.mkdir(parents=True, exist_ok=True)
    return EmbeddedBroker(log_path=LOGS / f"broker-{name}.log")


def tag() -> str:
    return uuid.uuid4().hex[:6]


def bench_key_registry() -> Path:
    """One key per bank of the IFSC registry, random secrets: producers sign, workers verify."""
    path = LOGS / "keys.json"
    if not path.exists():
        LOGS.mkdir(parents=True, exist_ok=True)
        write_registry(path, sorted(default_banks().names))
    return path


def bench_settings(broker_url: str, name: str, partitions: int = 8) -> Settings:
    """Settings for one benchmark on the embedded broker: topics and group unique to ``name``."""
    t = tag()
    return Settings().replace(
        broker=broker_url, app_id=f"bench-{name}-{t}", payments_topic=f"bench-{name}-payments-{t}",
        seeding_topic=f"bench-{name}-seeding-{t}", deadletter_topic=f"bench-{name}-dl-{t}",
        topic_partitions=partitions, session_timeout=2.0, log_level="info", recovery_consistency_check=False,
        key_registry=bench_key_registry(),
    )


def median(xs: Sequence[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


# --- /metrics ------------------------------------------------------------------------------------

_LINE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')

Sample = tuple[str, dict[str, str], float]


def scrape(port: int, prefixes: tuple[str, ...] = ("digindex_",), timeout: float = 5.0) -> list[Sample]:
    """The samples of ``/metrics`` whose names start with one of ``prefixes`` (a cheap parser)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=timeout) as r:
        text = r.read().decode()
    out: list[Sample] = []
    for line in text.splitlines():
        if not line or line[0] == "#" or not line.startswith(prefixes):
            continue
        m = _LINE.match(line)
        if m:
            labels = dict(_LABEL.findall(m.group(2) or ""))
            out.append((m.group(1), labels, float(m.group(3))))
    return out


def total(samples: Iterable[Sample], name: str, **labels: str) -> float:
    want = labels.items()
    return sum(v for n, lab, v in samples if n == name and all(lab.get(k) == x for k, x in want))


# --- worker processes ------------------------------------------------------------------------------


class WorkerProcess:
    """``python -m streams worker`` as a child process (the pattern of ``tests/helpers.py``)."""

    def __init__(self, settings: Settings, data_dir: Path, log: Path, env: dict[str, str] | None = None) -> None:
        """``env``: extra environment, e.g. ``{"BENCH_PATCH": "fetch_wait=100"}`` or ``{"PRODUCER_LINGER": "0.05"}``
        (Faust reads its settings' environment names); ``BENCH_PATCH`` runs ``bench/patched_worker.py``."""
        self.port = free_port()
        self.settings = settings.replace(metrics_port=self.port, data_dir=data_dir, recovery_consistency_check=False)
        self.log = log
        self.env = dict(env or {})
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self) -> WorkerProcess:
        env = {**os.environ, **self.settings.to_env(), **self.env}
        self.log.parent.mkdir(parents=True, exist_ok=True)
        self._out = open(self.log, "ab")  # noqa: SIM115
        cmd = [PYTHON, str(ROOT / "bench" / "patched_worker.py")] if env.get("BENCH_PATCH") else \
            [PYTHON, "-m", "streams", "worker"]
        self.proc = subprocess.Popen(cmd, env=env, cwd=ROOT,
                                     stdout=self._out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        wait_for_port("127.0.0.1", self.port, timeout=90)
        return self

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def samples(self) -> list[Sample]:
        try:
            return scrape(self.port)
        except OSError:
            return []

    def status(self, field_name: str) -> int:
        """A ``/proc/PID/status`` memory field in bytes (``VmHWM`` = peak RSS, ``VmRSS``)."""
        try:
            for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
                if line.startswith(field_name + ":"):
                    return int(line.split()[1]) * 1024
        except OSError:
            pass
        return 0

    def stop(self) -> None:
        if self.alive():
            assert self.proc is not None
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if getattr(self, "_out", None):
            self._out.close()

    def log_tail(self, n: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""


_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` so far (all its threads), from ``/proc/PID/stat``."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat[stat.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


@dataclass
class Timing:
    """When a consumer was ready, saw its first event and counted the last; and how many at ready."""

    n: int
    t_ready: float
    t_first: float
    t_done: float
    counted_at_ready: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return (self.n - self.counted_at_ready) / max(1e-9, self.t_done - self.t_ready)

    @property
    def seconds(self) -> float:
        return self.t_done - self.t_ready

    @property
    def cpu_us_per_event(self) -> float:
        """CPU time (all threads, user + system) between ready and done, per event counted in it."""
        cpu = self.extra.get("cpu_seconds")
        return float("nan") if cpu is None else cpu / max(1, self.n - self.counted_at_ready) * 1e6

    def as_dict(self) -> dict[str, Any]:
        return {"n": self.n, "rate": self.rate, "seconds": self.seconds, "counted_at_ready": self.counted_at_ready,
                "ready_to_first": self.t_first - self.t_ready, "cpu_us_per_event": self.cpu_us_per_event,
                **self.extra}


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine has spent busy (every core, every process), from ``/proc/stat``."""
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    except OSError:
        return float("nan")
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in fields[:8])
    return (user + nice + system + irq + softirq + steal) / _TICK


def all_restored(snaps: Sequence[list[Sample]], topic: str, partitions: int) -> bool:
    """Whether the workers whose /metrics are ``snaps`` are ready to be measured on ``topic``.

    Every worker owns at least one partition of ``topic``, and together they own all
    ``partitions`` of it and of every other signal's topic (``digindex_assigned_partitions``
    counts a partition once it is restored). Every signal's, not only ``topic``'s: a worker
    opens its partitions one signal after another in one recovery callback, and its streams
    resume only when the last is open (~2 s for 8 partitions of each of seven signals, mostly
    their dedupe stores opening), so a measurement started when ``topic``'s are open would
    time that restore as the first events' delay.
    """
    owned = [total(s, "digindex_assigned_partitions", topic=topic) for s in snaps]
    others = {lab["topic"] for s in snaps for n, lab, _ in s
              if n == "digindex_assigned_partitions" and lab.get("topic") not in (None, topic)}
    return all(o > 0 for o in owned) and sum(owned) >= partitions and all(
        sum(total(s, "digindex_assigned_partitions", topic=t) for s in snaps) >= partitions for t in others)


def time_workers(workers: Sequence[WorkerProcess], topic: str, n: int, partitions: int, poll: float = 2.0,
                 timeout: float = 900.0, on_poll: Callable[[float, int], None] | None = None,
                 on_ready: Callable[[], None] | None = None, fine: float = 0.05,
                 broker_pid: int | None = None) -> Timing:
    """Poll every worker's /metrics until ``sum(digindex_events_total{topic})`` reaches ``n``.

    Ready: ``all_restored``.

    A scrape is not free for the worker (it renders every district x bank x window series,
    ~20-40 ms of its event loop), so polling adapts: every ``fine`` seconds until ready, then at
    most every ``poll`` seconds, halving the wait as the remaining events dwindle so that the
    moment the last one is counted is still seen within ~``fine`` seconds. The scrapes' share of
    the timed window is recorded (``scrape_share``, typically 1-3 %). With ``broker_pid`` the
    broker's CPU seconds in the window are recorded too, and always the whole machine's busy
    CPU seconds (``machine_busy_seconds``): what bounds a scale-out on a small machine.
    """
    deadline = time.monotonic() + timeout
    t_ready = t_first = None
    counted_at_ready = 0
    cpu_ready = 0.0
    scrapes = 0
    scrape_seconds = 0.0
    while time.monotonic() < deadline:
        for w in workers:
            if not w.alive():
                raise RuntimeError(f"worker {w.pid} exited:\n{w.log_tail()}")
        t0 = time.perf_counter()
        snaps = [w.samples() for w in workers]
        if t_ready is not None:  # the scrapes that fall in the timed window
            scrape_seconds += time.perf_counter() - t0
            scrapes += len(workers)
        now = time.time()
        count = int(sum(total(s, "digindex_events_total", topic=topic) for s in snaps))
        if on_poll is not None:
            on_poll(now, count)
        if t_ready is None and all_restored(snaps, topic, partitions):
            t_ready, counted_at_ready = now, count
            cpu_ready = sum(cpu_seconds(w.pid) for w in workers)
            broker_ready = cpu_seconds(broker_pid) if broker_pid else 0.0
            busy_ready = machine_busy_seconds()
            if on_ready is not None:
                on_ready()
        wait = fine
        if t_ready is not None:
            if t_first is None and count > counted_at_ready:
                t_first = now
            if count >= n:
                cpu = sum(cpu_seconds(w.pid) for w in workers) - cpu_ready
                # the worker's share of the window spent rendering /metrics for us (an upper bound:
                # the client-side time of a scrape includes the HTTP round trip)
                share = scrape_seconds / max(1e-9, (now - t_ready) * len(workers))
                extra = {"cpu_seconds": cpu, "scrapes": scrapes,
                         "scrape_ms": 1000 * scrape_seconds / max(1, scrapes), "scrape_share": share,
                         "machine_busy_seconds": machine_busy_seconds() - busy_ready}
                if broker_pid:
                    extra["broker_cpu_seconds"] = cpu_seconds(broker_pid) - broker_ready
                return Timing(n, t_ready, t_first or now, now, counted_at_ready, extra)
            done = count - counted_at_ready
            if done > 0:
                remaining = (n - count) / (done / max(1e-3, now - t_ready))
                wait = min(poll, max(fine, remaining / 2))
        time.sleep(wait)
    raise TimeoutError(f"{n} events not counted on {topic} within {timeout:.0f} s")


MB = 1024 * 1024


def dir_bytes(path: Path) -> int:
    """Bytes of the files under ``path`` (0 if it is not there): a worker's RocksDB stores."""
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) if path.exists() else 0


def accounts_run(settings: Settings, data: Path, log: Path, topic: str, sent: int, accounts: int, family: str,
                 what: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    """One worker drains ``sent`` pre-produced events of an account feed (seeding, enablement):
    its rate, peak and final RSS, RocksDB size and the ``family`` gauge's account count at the end,
    as a table and the 600 MB memory bar (the seeding bar's). ``what`` names the accounts."""
    w = WorkerProcess(settings, data, log, env=env).start()
    rss: list[tuple[float, int, int]] = []

    def sample(now: float, count: int) -> None:
        rss.append((now, count, w.status("VmRSS")))

    try:
        timing = time_workers([w], topic, sent, settings.topic_partitions, poll=1.0, timeout=300 + sent / 200,
                              on_poll=sample)
        peak = w.status("VmHWM")
        counted = int(total(w.samples(), family))
        rocksdb = dir_bytes(data)
    finally:
        w.stop()
    rows = [("events (load + changes)", f"{sent:,}"), ("distinct accounts", f"{accounts:,}"),
            ("accounts at /metrics", f"{counted:,}"), ("events/s", f"{timing.rate:,.0f}"),
            ("seconds", f"{timing.seconds:.1f}"), ("peak RSS (VmHWM)", f"{peak / MB:,.0f} MB"),
            ("RSS at the end", f"{(rss[-1][2] if rss else 0) / MB:,.0f} MB"),
            ("RocksDB dir", f"{rocksdb / MB:,.0f} MB")]
    table = print_table(f"{what.capitalize()} at scale ({accounts:,} accounts)", ["figure", "value"], rows)
    bars = [Bar(f"worker peak RSS with {accounts:,} {what} accounts", peak / MB, 600, higher_is_better=False,
                unit=" MB")]
    if counted != accounts:
        print(f"WARNING: /metrics counts {counted:,} accounts, {accounts:,} were sent", flush=True)
    return {"events": sent, "distinct_accounts": accounts, "accounts_at_metrics": counted,
            "accounts_match": counted == accounts, **timing.as_dict(), "peak_rss_bytes": peak,
            "rocksdb_bytes": rocksdb, "rss_samples": rss[:: max(1, len(rss) // 200)], "table": table,
            "bars": [x.as_dict() for x in bars], "_bars": bars}


# --- output ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Bar:
    """One of the issue's bars: ``figure`` compared with ``limit``."""

    name: str
    figure: float | None
    limit: float
    higher_is_better: bool = True
    unit: str = "x"

    @property
    def met(self) -> bool | None:
        if self.figure is None or self.figure != self.figure:  # missing or NaN
            return None
        return self.figure >= self.limit if self.higher_is_better else self.figure <= self.limit

    def line(self) -> str:
        verdict = {True: "PASS", False: "MISS", None: "n/a "}[self.met]
        op = ">=" if self.higher_is_better else "<="
        fig = "-" if self.figure is None else f"{self.figure:,.2f}{self.unit}"
        return f"{verdict}  {self.name}: {fig} (bar {op} {self.limit:g}{self.unit})"

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "figure": self.figure, "limit": self.limit,
                "higher_is_better": self.higher_is_better, "unit": self.unit, "met": self.met}


def print_table(title: str, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """Print a plain, aligned table and return it."""
    rows = [[_fmt(c) for c in r] for r in rows]
    widths = [max(len(str(h)), *(len(r[i]) for r in rows)) if rows else len(str(h)) for i, h in enumerate(header)]
    lines = [title, "  ".join(str(h).ljust(w) for h, w in zip(header, widths, strict=True)),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True)))
              for r in rows]
    text = "\n".join(lines)
    print(text + "\n", flush=True)
    return text


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        if v != v:
            return "-"
        return f"{v:,.0f}" if abs(v) >= 100 else f"{v:.2f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def machine() -> dict[str, Any]:
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    return {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform(),
            "loadavg_at_start": load}


def write_result(name: str, data: dict[str, Any]) -> Path:
    """``bench/results/<name>-<UTC time>.json`` and ``<name>-latest.json``."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    payload = {"benchmark": name, "at": stamp, "machine": machine(), **data}
    text = json.dumps(payload, indent=2, default=str)
    path = RESULTS / f"{name}-{stamp}.json"
    path.write_text(text)
    (RESULTS / f"{name}-latest.json").write_text(text)
    return path
