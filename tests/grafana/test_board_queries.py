"""Every query of every committed board, run against a real Prometheus that scrapes a real
worker fed by the simulator, with the real recording rules (deploy/prometheus/rules, as
they are: default 1 h/24 h windows, nothing compressed).

Grafana is not installable here, so what Grafana would do is done by hand, as closely as
is cheap: template variables are resolved from the board's own variable queries the way
Grafana's Prometheus datasource does (``query_result`` renders ``name{k="v",...} value ts``
and applies the variable's regex; ``label_values`` asks the label-values API), the built-in
interval variables get the values Grafana computes for the provisioned datasource
(``timeInterval: 15s``), and each target runs as the instant or range query Grafana would
send. Each must parse and return at least one series: nothing on the boards may depend
on an event that the simulator does not produce (dead letters included: the worker
exports every reason from 0). The payment lines' metrics that the worker does not export yet
come from ``tests/grafana/payment_lines.py`` (the documented names and labels, a second target
of the same job); it serves none that the worker exports itself.

The people lines' enablement and enrolment metrics (``PENDING_SIGNALS``: issue 11's names) are
nobody's but the worker's: no stand-in serves them. Until the worker exports them the fixture
does not wait for the recording rules over them, and the panels that read them fail here
(no series): they are checked for real once those signals are on the worker. The simulator
feeds every people line (grievances included, which the worker exports already).
"""

from __future__ import annotations

import json
import re
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from streams.broker import EmbeddedBroker
from streams.registry import default_registry
from streams.simulator.calibration import default_calibration
from streams.simulator.feed import FeedOptions
from streams.simulator.generator import DEFAULT_BANKS

from ..deploy.helpers import all_rules, rule_files
from ..helpers import WorkerProcess
from ..stack import Feed, Prometheus, http_json, poll, stack_settings, stop_all
from .boards import panels
from .payment_lines import LinesExporter

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

ROOT = Path(__file__).resolve().parents[2]
BOARDS = {p.name: json.loads(p.read_text()) for p in sorted((ROOT / "grafana" / "dashboards").glob("*.json"))}
#: Grafana's built-in variables for a 24 h board on a datasource with timeInterval 15s:
#: $__interval is at least the scrape interval, $__rate_interval = max($__interval + 15s, 4 x 15s).
#: Worker metric families of issue 11's enablement and enrolment signals (README, metrics.md):
#: recording rules over them are waited for only once the worker exports them.
PENDING_SIGNALS = ("digindex_digital_enablement_ratio", "digindex_enabled_accounts", "digindex_camp_enablements",
                   "digindex_scheme_enrolled_accounts", "digindex_scheme_coverage_ratio")
#: Recording rules over figures too sparse for every district to have one in the short window:
#: a series is enough (a small hill district resolves a few grievances an hour; at this test's
#: rate, Bageshwar two or three).
SPARSE = {"district:digindex_grievance_resolved_within_tat:ratio_1h",
          "district_days:digindex_grievance_resolved_within_days:ratio_1h"}
BUILTINS = {"__interval": "15s", "__interval_ms": "15000", "__rate_interval": "60s", "__range": "24h",
            "__range_s": "86400", "__range_ms": "86400000"}
_VARIABLE = re.compile(r"\$(\w+)|\$\{(\w+)(?::\w+)?\}|\[\[(\w+)\]\]")


@dataclass(frozen=True)
class Target:
    board: str
    panel: str
    ref: str
    expr: str
    instant: bool

    @property
    def id(self) -> str:
        return f"{self.board.removeprefix('digindex-').removesuffix('.json')}/{self.panel}/{self.ref}"


TARGETS = [Target(name, panel["title"], t["refId"], t["expr"], bool(t.get("instant")) and not t.get("range"))
           for name, board in BOARDS.items() for panel in panels(board) for t in panel.get("targets", [])]


def substitute(expr: str, values: dict[str, str]) -> str:
    """Replace Grafana variables (``$x``, ``${x}``, ``${x:fmt}``, ``[[x]]``); an unknown one fails."""

    def one(m: re.Match[str]) -> str:
        name = m.group(1) or m.group(2) or m.group(3)
        if name in values:
            return values[name]
        if name in BUILTINS:
            return BUILTINS[name]
        raise AssertionError(f"unknown Grafana variable ${name} in {expr}")

    return _VARIABLE.sub(one, expr)


# --- Grafana's variable queries, emulated ------------------------------------------------------

def _query_result(prometheus: Prometheus, expr: str) -> list[str]:
    """query_result(expr): one text per sample, as Grafana's Prometheus datasource renders it."""
    out = []
    for sample in prometheus.vector(expr):
        metric = dict(sample["metric"])
        text = metric.pop("__name__", "") + "{" + ",".join(f'{k}="{v}"' for k, v in metric.items()) + "}"
        ts, value = sample["value"]
        out.append(f"{text} {value} {int(float(ts) * 1000)}")
    return out


def _label_values(prometheus: Prometheus, expr: str, label: str) -> list[str]:
    query = urllib.parse.urlencode({"match[]": expr, "start": time.time() - 3600, "end": time.time()})
    answer = http_json(f"{prometheus.url}/api/v1/label/{label}/values?{query}")
    assert answer["status"] == "success", answer
    return answer["data"]


def resolve_variable(prometheus: Prometheus, var: dict[str, Any]) -> list[tuple[str, str]]:
    """(text, value) options of a query variable, as Grafana would list them."""
    query = var["query"]["query"] if isinstance(var["query"], dict) else var["query"]
    if m := re.fullmatch(r"query_result\((.*)\)", query):
        texts = _query_result(prometheus, m.group(1))
    elif m := re.fullmatch(r"label_values\((.*),\s*(\w+)\)", query):
        texts = _label_values(prometheus, m.group(1), m.group(2))
    else:
        raise AssertionError(f"variable {var['name']}: query {query!r} is not emulated here")
    regex = var.get("regex") or ""
    if not regex:
        return sorted({(t, t) for t in texts})
    body = re.fullmatch(r"/(.*)/([gimsuy]*)", regex)
    assert body, f"variable {var['name']}: regex {regex!r} is not /.../"
    pattern = re.compile(body.group(1).replace("(?<", "(?P<"))  # JS named groups -> Python
    options = set()
    for text in texts:
        if not (m := pattern.search(text)):
            continue
        groups = m.groupdict()
        value = groups.get("value") or groups.get("text") or (m.group(1) if m.groups() else m.group(0))
        options.add((groups.get("text") or value, value))
    return sorted(options)


# --- the live system ------------------------------------------------------------------------

@dataclass
class Live:
    prometheus: Prometheus
    worker: WorkerProcess
    feed: Feed
    variables: dict[str, dict[str, list[tuple[str, str]]]]  # board -> variable -> options

    def diagnostics(self) -> str:
        return ("simulator:\n" + self.feed.out.getvalue()[-1000:] + "\nworker log:\n" + self.worker.log_text()[-1500:]
                + "\nprometheus log:\n" + self.prometheus.log_text(1500))


@pytest.fixture(scope="module")
def live(broker: EmbeddedBroker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    tmp = tmp_path_factory.mktemp("boards")
    settings = stack_settings(broker.url, tmp / "data")
    worker = WorkerProcess(settings, tmp / "data-w1", tmp / "w1.log")
    calibrated = default_calibration().districts
    lines = LinesExporter([(d.lgd, default_registry().get(d.lgd).name) for d in calibrated], list(DEFAULT_BANKS))
    prometheus = Prometheus(tmp / "prometheus", {"worker-1": worker.port, "lines-1": lines.port}, rule_files())
    started: list[Any] = [lines, worker]
    try:
        worker.start().wait_ready(90)
        started.append(prometheus.start())
        # Grievances at 0.3/s with a day of them first (~40,000 events before the payments):
        # open within and past their turn-around time, resolved, in every district.
        feed = Feed(settings, FeedOptions(rate=300, seed=11, accounts=2000, grievance_rate=0.3,
                                          grievance_backlog=86400))
        started.append(feed)
        live = Live(prometheus, worker, feed, {})
        rules = {rule["record"]: rule["expr"] for _, rule in all_rules() if "record" in rule}
        records = sorted(rules)

        def pending(record: str, exported: set[str]) -> bool:
            """Reads (itself or through another rule) a family of a signal the worker lacks yet."""
            names = {record}
            while True:
                more = {r for n in names for r in rules if r in rules[n]} - names
                if not more:
                    break
                names |= more
            return any(family in rules[n] and not any(e.startswith(family) for e in exported)
                       for n in names for family in PENDING_SIGNALS)
        districts = {str(d.lgd) for d in calibrated}
        banks = set(DEFAULT_BANKS)
        # Once the worker counts payments, what it exports of the payment lines is the real thing.
        poll(lambda: any(name == "digindex_window_transactions" for name, _ in worker.metrics()), 120,
             "the worker's first payments", live.diagnostics)
        lines.retire_what_the_worker_has({name for name, _ in worker.metrics()})

        def missing() -> list[str]:
            """Recording rules without a series yet, or (per district or bank) without every
            simulated district or bank: a variable may select any of them."""
            out = []
            exported = {name for name, _ in worker.metrics()}
            for r in records:
                if pending(r, exported):
                    continue
                series = [s["metric"] for s in prometheus.vector(r)]
                if not series:
                    out.append(r)
                elif r in SPARSE:
                    continue
                elif "district_lgd" in series[0] and {m["district_lgd"] for m in series} != districts:
                    out.append(f"{r} (districts {sorted(districts - {m['district_lgd'] for m in series})})")
                elif "bank" in series[0] and {m["bank"] for m in series} != banks:
                    out.append(f"{r} (banks {sorted(banks - {m['bank'] for m in series})})")
            return out

        # Rates need two scrapes of the events, and a small district's first digital payment
        # (technical-decline ratios) can take a few seconds to come.
        poll(lambda: not missing(), 120, "every recording rule to cover every district and bank",
             lambda: f"still missing: {missing()}\n{live.diagnostics()}")
        for name, board in BOARDS.items():
            live.variables[name] = {v["name"]: resolve_variable(prometheus, v)
                                    for v in board.get("templating", {}).get("list", [])}
        yield live
    finally:
        stop_all(started)


def _value_sets(live: Live, board: str) -> list[dict[str, str]]:
    """Values for the variables of ``board``: each one's first option; and, if a variable offers
    All, the same with All selected (its allValue) -- the board's default."""
    first, default = {}, {}
    for var in BOARDS[board].get("templating", {}).get("list", []):
        options = live.variables[board][var["name"]]
        first[var["name"]] = default[var["name"]] = options[0][1]
        if var.get("includeAll"):
            default[var["name"]] = var.get("allValue") or "(" + "|".join(re.escape(v) for _, v in options) + ")"
    return [default] if default == first else [default, first]


def test_every_board_variable_lists_options(live: Live) -> None:
    districts = {s["metric"]["district_lgd"]: s["metric"]["district"]
                 for s in live.prometheus.vector("district:digindex_digital_share:ratio_24h")}
    for board, variables in live.variables.items():
        for name, options in variables.items():
            assert options, f"{board}: variable {name} lists nothing"
            if name == "district_lgd":  # shows the district's name, carries its LGD code
                assert dict((v, t) for t, v in options) == districts, options


@pytest.mark.parametrize("target", TARGETS, ids=lambda t: t.id)
def test_panel_query_returns_series(live: Live, target: Target) -> None:
    for values in _value_sets(live, target.board):
        expr = substitute(target.expr, values)
        # a scrape that fails under load marks every series stale until the next one: a series
        # the fixture saw may be missing for a scrape interval, so ask again for a while
        deadline = time.monotonic() + 20
        while True:
            answer = live.prometheus.query(expr)
            assert answer.get("status") == "success", f"{target.id}: {expr}\n{answer}"
            if answer["data"]["result"] or time.monotonic() > deadline:
                break
            time.sleep(1.0)
        assert answer["data"]["result"], f"{target.id}: no series for {expr}"
        if not target.instant:  # the range query a time series panel sends
            now = time.time()
            params = {"query": expr, "start": now - 60, "end": now, "step": 15}
            answer = http_json(f"{live.prometheus.url}/api/v1/query_range", params)
            assert answer.get("status") == "success", f"{target.id}: {expr}\n{answer}"
            assert answer["data"]["result"], f"{target.id}: no series over the last minute for {expr}"


def test_the_targets_cover_every_panel() -> None:
    titled = [(name, p["title"]) for name, board in BOARDS.items() for p in panels(board) if p["type"] != "row"]
    assert set(titled) == {(t.board, t.panel) for t in TARGETS}
    assert len(BOARDS) == 5 and len(TARGETS) >= len(titled)


def test_substitution() -> None:
    assert substitute('x{a="$a"}[$__rate_interval] ${a} ${a:regex} [[a]]', {"a": "1"}) == 'x{a="1"}[60s] 1 1 1'
    with pytest.raises(AssertionError, match="unknown Grafana variable"):
        substitute("x{a=\"$nope\"}", {})
