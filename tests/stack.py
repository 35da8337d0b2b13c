"""A real monitoring stack for the end-to-end and board tests.

Prometheus and Alertmanager from Debian's packages, started on free loopback ports; a
webhook receiver (stdlib ``http.server`` in a thread) that records what Alertmanager
delivers, per receiver; the simulator in a thread; and test-local copies of the real
configuration in ``deploy/``, made by a deterministic transformation so the tests run
the real expressions, routes and inhibitions:

* :func:`compressed_rule_files` -- every ``deploy/prometheus/rules/*.rules.yaml`` with all
  durations divided by a time-compression factor (``for:``, ``keep_firing_for:``, range
  selectors ``[5m]``, subquery ranges and ``offset``), and the ``window="1h"``/``"24h"``
  selectors mapped to the labels of a worker started with windows divided by the same
  factor. Nothing else changes: names, labels, thresholds, annotations stay as they are.
* :func:`local_alertmanager_config` -- ``deploy/alertmanager/alertmanager.yml`` with its
  timers divided by the factor and each receiver's webhook pointed at
  ``<receiver url>/<receiver name>``.
"""

from __future__ import annotations

import copy
import io
import json
import re
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from streams.broker import free_port
from streams.config import Settings
from streams.simulator.feed import FeedOptions, FeedStats, run_feed

from .deploy.helpers import ALERTMANAGER_CONFIG, RULES_DIR, load_yaml, tool
from .helpers import test_key_registry

__all__ = [
    "Alertmanager",
    "Feed",
    "Prometheus",
    "WebhookReceiver",
    "compress_duration",
    "compress_expr",
    "compressed_rule_files",
    "duration_seconds",
    "format_duration",
    "http_json",
    "local_alertmanager_config",
    "poll",
    "stack_settings",
]

# --- settings -------------------------------------------------------------------------------

def stack_settings(broker_url: str, data_dir: Path, **changes: Any) -> Settings:
    """Settings on the session broker with topic names of their own, as tests/conftest.py's
    ``settings`` fixture makes them, for module-scoped stacks; ``changes`` on top."""
    tag = uuid.uuid4().hex[:8]
    return Settings().replace(
        broker=broker_url, app_id=f"digindex-test-{tag}", data_dir=data_dir,
        payments_topic=f"payments-{tag}", seeding_topic=f"seeding-{tag}", deadletter_topic=f"deadletter-{tag}",
        grievances_topic=f"grievances-{tag}", enablement_topic=f"enablement-{tag}",
        enrolments_topic=f"enrolments-{tag}",
        topic_partitions=4, session_timeout=2.0, key_registry=test_key_registry(),
        checkpoint_interval=1.0,  # as tests/conftest.py's CHECKPOINT_INTERVAL, which says why
    ).replace(**changes)


# --- durations ------------------------------------------------------------------------------

_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400, "y": 365 * 86400}
#: A Prometheus duration, possibly compound (``1h30m``).
DURATION = r"(?:\d+(?:ms|s|m|h|d|w|y))+"
_PART = re.compile(r"(\d+)(ms|s|m|h|d|w|y)")


def duration_seconds(text: str) -> float:
    """``90s``, ``5m``, ``1h30m`` -> seconds."""
    if not re.fullmatch(DURATION, text):
        raise ValueError(f"not a Prometheus duration: {text!r}")
    return sum(int(n) * _UNITS[u] for n, u in _PART.findall(text))


def format_duration(seconds: float) -> str:
    """Seconds -> the shortest exact Prometheus duration (``0.5`` -> ``500ms``, ``1440`` -> ``24m``)."""
    ms = round(seconds * 1000)
    if ms <= 0:
        raise ValueError(f"duration {seconds} s is not positive")
    for unit in ("d", "h", "m", "s"):
        size = int(_UNITS[unit] * 1000)
        if ms % size == 0:
            return f"{ms // size}{unit}"
    return f"{ms}ms"


def compress_duration(text: str, factor: float) -> str:
    return format_duration(duration_seconds(text) / factor)


# --- Prometheus rules --------------------------------------------------------------------------

_RANGE = re.compile(rf"\[\s*({DURATION})\s*(?::\s*({DURATION})?\s*)?\]")
_OFFSET = re.compile(rf"\boffset\s+(-?)({DURATION})\b")
_WINDOW = re.compile(r'\bwindow\s*(=~|!~|!=|=)\s*"([^"]*)"')


def compress_expr(expr: str, factor: float, windows: dict[str, str]) -> str:
    """``expr`` with range selectors, subquery ranges and offsets divided by ``factor``, and
    ``window="<real>"`` selectors mapped through ``windows`` (an unmapped window is an error)."""

    def rng(m: re.Match[str]) -> str:
        out = "[" + compress_duration(m.group(1), factor)
        if ":" in m.group(0):
            out += ":" + (compress_duration(m.group(2), factor) if m.group(2) else "")
        return out + "]"

    def offset(m: re.Match[str]) -> str:
        return f"offset {m.group(1)}{compress_duration(m.group(2), factor)}"

    def window(m: re.Match[str]) -> str:
        op, value = m.group(1), m.group(2)
        if op != "=" or value not in windows:
            raise ValueError(f"cannot map the window selector {m.group(0)!r} (known: {sorted(windows)})")
        return f'window="{windows[value]}"'

    return _WINDOW.sub(window, _OFFSET.sub(offset, _RANGE.sub(rng, expr)))


class _BlockDumper(yaml.SafeDumper):
    """Multi-line strings (PromQL) as literal blocks, so the copies read like the originals."""


_BlockDumper.add_representer(
    str, lambda d, v: d.represent_scalar("tag:yaml.org,2002:str", v, style="|" if "\n" in v else None))


def compressed_rule_files(out_dir: Path, factor: float, windows: dict[str, str]) -> list[Path]:
    """Write time-compressed copies of every ``deploy/prometheus/rules/*.rules.yaml`` to ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for path in sorted(RULES_DIR.glob("*.rules.yaml")):
        doc = copy.deepcopy(load_yaml(path))
        for group in doc["groups"]:
            if "interval" in group:
                group["interval"] = compress_duration(group["interval"], factor)
            for rule in group["rules"]:
                rule["expr"] = compress_expr(rule["expr"], factor, windows)
                for key in ("for", "keep_firing_for"):
                    if key in rule:
                        rule[key] = compress_duration(rule[key], factor)
        target = out_dir / path.name
        target.write_text(f"# {path.relative_to(RULES_DIR.parents[2])}, durations divided by {factor:g}\n"
                          + yaml.dump(doc, Dumper=_BlockDumper, sort_keys=False, width=1000))
        written.append(target)
    assert written, f"no rule files in {RULES_DIR}"
    return written


# --- Alertmanager configuration ---------------------------------------------------------------

def local_alertmanager_config(receiver_url: str, factor: float) -> dict[str, Any]:
    """The real Alertmanager configuration, timers divided by ``factor``, each receiver's
    webhook pointed at ``<receiver_url>/<receiver name>`` (receivers without one notify nobody)."""
    config = copy.deepcopy(load_yaml(ALERTMANAGER_CONFIG))
    glob = config.setdefault("global", {})
    if "resolve_timeout" in glob:
        glob["resolve_timeout"] = compress_duration(glob["resolve_timeout"], factor)

    def walk(route: dict[str, Any]) -> None:
        for key in ("group_wait", "group_interval", "repeat_interval"):
            if key in route:
                route[key] = compress_duration(route[key], factor)
        for child in route.get("routes", []):
            walk(child)

    walk(config["route"])
    for receiver in config["receivers"]:
        kinds = {k for k in receiver if k.endswith("_configs")}
        if not kinds:
            continue  # a receiver that notifies nobody (digindex-none) stays as it is
        assert kinds == {"webhook_configs"}, f"receiver {receiver['name']}: only webhooks can be tested here"
        assert len(receiver["webhook_configs"]) == 1, receiver["name"]
        receiver["webhook_configs"][0]["url"] = f"{receiver_url}/{receiver['name']}"
    return config


# --- HTTP helpers ---------------------------------------------------------------------------

def stop_all(started: list[Any]) -> None:
    """Stop what a fixture started, newest first, whatever fails along the way."""
    for c in reversed(started):
        try:
            c.stop()
        except Exception as exc:  # stop the others whatever happens
            print(f"stopping {type(c).__name__}: {exc!r}")


def http_json(url: str, data: dict[str, Any] | None = None, timeout: float = 5.0) -> Any:
    """GET (or POST ``data`` form-encoded) ``url`` and decode JSON; HTTP errors with a JSON body return it."""
    body = urllib.parse.urlencode(data).encode() if data is not None else None
    try:
        with urllib.request.urlopen(url, data=body, timeout=timeout) as resp:
            return json.load(resp)
    except urllib.error.HTTPError as exc:
        text = exc.read().decode(errors="replace")
        try:
            return json.loads(text)
        except ValueError:
            raise AssertionError(f"{url}: HTTP {exc.code}: {text[:500]}") from None


def poll(check: Callable[[], Any], timeout: float, what: str, diagnostics: Callable[[], str] = lambda: "",
         interval: float = 0.5) -> Any:
    """Call ``check`` until it returns something truthy; on timeout fail with ``diagnostics()``."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        last = check()
        if last:
            return last
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what} (last: {last!r})\n"
                                 + diagnostics())
        time.sleep(interval)


def _wait_ready(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"{url} did not become ready:\n{log.read_text(errors='replace')[-3000:]}")
            time.sleep(0.1)


class _Process:
    """A child process with a log file, stopped (TERM, then KILL) by ``stop``."""

    name = ""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = workdir / f"{self.name}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def _start(self, args: list[str]) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        _wait_ready(f"{self.url}/-/ready", self.proc, self.log)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def log_text(self, tail: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-tail:] if self.log.exists() else ""


# --- Prometheus ------------------------------------------------------------------------------

class Prometheus(_Process):
    """Debian's ``prometheus`` scraping digindex workers every second and evaluating ``rule_files``.

    Targets are ``{instance: port}``: the job is ``digindex`` as in deploy/prometheus/prometheus.yml
    (the alert rules depend on it) and each target's ``instance`` label is its name, as the real
    configuration's relabelling makes it. The tests' per-test topic names (``payments-1a2b3c4d``)
    are relabelled to the production names (``payments``), which rules and inhibitions match.
    """

    name = "prometheus"

    def __init__(self, workdir: Path, targets: dict[str, int], rule_files: list[Path],
                 alertmanager: str | None = None, interval: str = "1s") -> None:
        super().__init__(workdir)
        self.targets, self.rule_files, self.alertmanager, self.interval = targets, rule_files, alertmanager, interval

    def config(self, rules: bool = True) -> dict[str, Any]:
        config: dict[str, Any] = {
            "global": {"scrape_interval": self.interval, "scrape_timeout": self.interval,
                       "evaluation_interval": self.interval},
            "rule_files": [str(p) for p in self.rule_files] if rules else [],
            "scrape_configs": [{
                "job_name": "digindex",
                "metrics_path": "/metrics",
                "static_configs": [{"targets": [f"127.0.0.1:{port}"], "labels": {"instance": name}}
                                   for name, port in self.targets.items()],
                "metric_relabel_configs": [{
                    "source_labels": ["topic"], "regex": "(payments|seeding|deadletter)-[0-9a-f]{8}",
                    "target_label": "topic", "replacement": "$1",
                }],
            }],
        }
        if self.alertmanager:
            host = urllib.parse.urlparse(self.alertmanager).netloc
            config["alerting"] = {"alertmanagers": [{"static_configs": [{"targets": [host]}]}]}
        return config

    def start(self) -> Prometheus:
        """Start scraping; load the rules only once every target has been scraped.

        Prometheus hands new targets to its scrape loops at most every 5 s, while rules are
        evaluated from the start: in compressed time ``absent(up{job="digindex"} == 1)`` would
        hold for a whole ``for: 5m`` -> 5 s and page operations before the first scrape.
        """
        path = self.workdir / "prometheus.yml"
        path.write_text(yaml.safe_dump(self.config(), sort_keys=False))
        check = subprocess.run([tool("promtool"), "check", "config", str(path)], capture_output=True, text=True,
                               check=False)
        assert check.returncode == 0, check.stdout + check.stderr
        path.write_text(yaml.safe_dump(self.config(rules=False), sort_keys=False))
        self._start([tool("prometheus"), f"--config.file={path}", f"--storage.tsdb.path={self.workdir / 'data'}",
                     f"--web.listen-address=127.0.0.1:{self.port}", "--log.level=warn"])
        if self.rule_files:
            poll(lambda: self.up() == dict.fromkeys(self.targets, 1.0), 30, "the first scrape of every target",
                 lambda: f"up: {self.up()}\n{self.log_text()}", interval=0.2)
            groups = sum(len(load_yaml(p)["groups"]) for p in self.rule_files)
            path.write_text(yaml.safe_dump(self.config(), sort_keys=False))
            assert self.proc is not None
            self.proc.send_signal(signal.SIGHUP)
            poll(lambda: len(http_json(f"{self.url}/api/v1/rules")["data"]["groups"]) == groups, 30,
                 f"Prometheus to load {groups} rule groups", self.log_text, interval=0.2)
        return self

    def query(self, expr: str) -> dict[str, Any]:
        """The raw API answer of an instant query (``status``, ``data`` or ``error``)."""
        return http_json(f"{self.url}/api/v1/query", {"query": expr})

    def vector(self, expr: str) -> list[dict[str, Any]]:
        """The samples of an instant query; an error fails the test."""
        answer = self.query(expr)
        assert answer.get("status") == "success", f"{expr}: {answer}"
        return answer["data"]["result"]

    def alerts(self) -> list[dict[str, Any]]:
        """Prometheus's pending and firing alerts (``/api/v1/alerts``)."""
        return http_json(f"{self.url}/api/v1/alerts")["data"]["alerts"]

    def firing(self, alertname: str | None = None) -> list[dict[str, str]]:
        return [a["labels"] for a in self.alerts()
                if a["state"] == "firing" and alertname in (None, a["labels"]["alertname"])]

    def alerts_text(self) -> str:
        try:
            lines = [f"  {a['state']:8} {a['labels']} value={a.get('value')}" for a in self.alerts()]
        except (OSError, AssertionError) as exc:
            return f"Prometheus /api/v1/alerts: unavailable ({exc})"
        return "Prometheus /api/v1/alerts:\n" + ("\n".join(lines) or "  (none)")

    def up(self) -> dict[str, float]:
        return {s["metric"]["instance"]: float(s["value"][1]) for s in self.vector('up{job="digindex"}')}


# --- Alertmanager ---------------------------------------------------------------------------

class Alertmanager(_Process):
    """Debian's ``prometheus-alertmanager`` with a given configuration, clustering off."""

    name = "alertmanager"

    def __init__(self, workdir: Path, config: dict[str, Any]) -> None:
        super().__init__(workdir)
        self.config = config

    def start(self) -> Alertmanager:
        path = self.workdir / "alertmanager.yml"
        path.write_text(yaml.safe_dump(self.config, sort_keys=False))
        check = subprocess.run([tool("amtool"), "check-config", str(path)], capture_output=True, text=True,
                               check=False)
        assert check.returncode == 0, check.stdout + check.stderr
        self._start([tool("prometheus-alertmanager"), f"--config.file={path}",
                     f"--storage.path={self.workdir / 'data'}", f"--web.listen-address=127.0.0.1:{self.port}",
                     "--cluster.listen-address=", "--log.level=warn"])
        return self

    def alerts(self) -> list[dict[str, Any]]:
        return http_json(f"{self.url}/api/v2/alerts")

    def alerts_text(self) -> str:
        try:
            lines = [f"  {a['status']['state']:10} {a['labels']} -> {[r['name'] for r in a['receivers']]}"
                     for a in self.alerts()]
        except (OSError, AssertionError) as exc:
            return f"Alertmanager /api/v2/alerts: unavailable ({exc})"
        return "Alertmanager /api/v2/alerts:\n" + ("\n".join(lines) or "  (none)")


# --- webhook receiver -------------------------------------------------------------------------

@dataclass(frozen=True)
class Notification:
    """One webhook delivery from Alertmanager (payload version 4)."""

    receiver: str  # the URL path: the receiver's name, as local_alertmanager_config sets it
    received: float  # time.monotonic()
    payload: dict[str, Any]

    @property
    def status(self) -> str:
        return self.payload["status"]

    @property
    def alerts(self) -> list[dict[str, Any]]:
        return self.payload["alerts"]

    def summary(self) -> str:
        alerts = ", ".join(f"{a['status']} {a['labels'].get('alertname')}"
                           + (f"[{a['labels']['district_lgd']}]" if "district_lgd" in a["labels"] else "")
                           for a in self.alerts)
        return f"{self.receiver}: {alerts}"


class WebhookReceiver:
    """Records every POST, by path, on a free loopback port (a thread of its own)."""

    def __init__(self) -> None:
        self.notifications: list[Notification] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with receiver._lock:
                    receiver.notifications.append(
                        Notification(self.path.strip("/"), time.monotonic(), json.loads(body)))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), name="webhook", daemon=True)
        self.thread.start()

    def received(self, since: float = 0.0) -> list[Notification]:
        with self._lock:
            return [n for n in self.notifications if n.received >= since]

    def text(self) -> str:
        return "Webhook deliveries:\n" + ("\n".join(f"  {n.summary()}" for n in self.received()) or "  (none)")

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


# --- the simulator in a thread --------------------------------------------------------------

class Feed:
    """``run_feed`` in a daemon thread; ``stop`` ends it and returns its stats."""

    def __init__(self, settings: Settings, options: FeedOptions) -> None:
        self.out = io.StringIO()
        self.stop_event = threading.Event()
        self.stats: FeedStats | None = None
        self.error: BaseException | None = None

        def run() -> None:
            try:
                self.stats = run_feed(settings, options, stop=self.stop_event, out=self.out)
            except BaseException as exc:  # surfaced by stop() and diagnostics
                self.error = exc

        self.thread = threading.Thread(target=run, name="simulator", daemon=True)
        self.started = time.monotonic()
        self.thread.start()

    def alive(self) -> bool:
        return self.thread.is_alive()

    def stop(self) -> FeedStats | None:
        self.stop_event.set()
        self.thread.join(60)
        if self.error is not None:
            raise AssertionError(f"the simulator failed: {self.error!r}\n{self.out.getvalue()}")
        return self.stats
