"""Grafana: the committed boards are what grafana/generate.py produces, their uids are derived
from their titles, and every panel query parses and reads only recorded or documented series."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import yaml

from .helpers import COMPOSE_FILE, ROOT, all_rules, documented_metrics, load_yaml, run, tool

GRAFANA = ROOT / "grafana"
BOARDS = sorted((GRAFANA / "dashboards").glob("*.json"))
DATASOURCES = GRAFANA / "provisioning" / "datasources" / "prometheus.yml"
PROVIDERS = GRAFANA / "provisioning" / "dashboards" / "digindex.yml"
#: Values for Grafana's template variables, so that queries can be checked by promtool.
VARIABLES = {"$district_lgd": "45", "$bank": ".*", "$__rate_interval": "5m", "$__interval": "1m"}


def _boards() -> dict[str, dict]:
    return {p.name: json.loads(p.read_text()) for p in BOARDS}


def _panels(board: dict) -> list[dict]:
    out = []
    for panel in board["panels"]:
        out.append(panel)
        out.extend(panel.get("panels", []))  # collapsed rows
    return out


def _exprs() -> list[tuple[str, str, str]]:
    """(board file, panel title, expr) for every query of every panel and variable."""
    out = []
    for name, board in _boards().items():
        for panel in _panels(board):
            for target in panel.get("targets", []):
                out.append((name, panel["title"], target["expr"]))
        for var in board.get("templating", {}).get("list", []):
            query = var["query"]["query"] if isinstance(var["query"], dict) else var["query"]
            inner = re.fullmatch(r"(?:query_result|label_values)\((.*?)(?:, \w+)?\)", query)
            assert inner, f"{name}: variable {var['name']}: unexpected query {query}"
            out.append((name, f"variable {var['name']}", inner.group(1)))
    return out


def test_the_five_boards_are_up_to_date_with_their_generator() -> None:
    result = run(sys.executable, GRAFANA / "generate.py", "--check")
    assert result.returncode == 0, (result.stdout + result.stderr
                                    + "\n(needs grafana-foundation-sdk; run: python grafana/generate.py)")
    titles = {b["title"] for b in _boards().values()}
    assert titles == {"State overview", "District detail", "Banks", "People lines", "Pipeline health"}


def test_uids_are_derived_from_titles() -> None:
    for name, board in _boards().items():
        slug = re.sub(r"[^a-z0-9]+", "-", board["title"].lower()).strip("-")
        assert board["uid"] == f"digindex-{slug}" and name == f"{board['uid']}.json"


def test_boards_use_the_provisioned_datasource_and_link_to_existing_boards() -> None:
    (datasource,) = load_yaml(DATASOURCES)["datasources"]
    uids = {b["uid"] for b in _boards().values()}
    for name, board in _boards().items():
        for panel in _panels(board):
            if panel["type"] == "row":
                continue
            assert panel["datasource"]["uid"] == datasource["uid"], (name, panel["title"])
            for target in panel["targets"]:
                assert target["datasource"]["uid"] == datasource["uid"], (name, panel["title"])
        for link in re.findall(r'"url": "/d/([^?"/]+)', json.dumps(board)):
            assert link in uids, f"{name} links to unknown board {link}"


def test_provisioning_matches_the_compose_mounts() -> None:
    result = run(tool("docker-compose"), "-f", COMPOSE_FILE, "config", cwd=COMPOSE_FILE.parent)
    grafana = yaml.safe_load(result.stdout)["services"]["grafana"]
    mounts = {target: source for source, target, *_ in (v.split(":") for v in grafana["volumes"])
              if source.startswith("/")}
    (provider,) = load_yaml(PROVIDERS)["providers"]
    assert Path(mounts[provider["options"]["path"]]) == GRAFANA / "dashboards"
    assert Path(mounts["/etc/grafana/provisioning"]) == GRAFANA / "provisioning"
    (datasource,) = load_yaml(DATASOURCES)["datasources"]
    assert datasource["url"] == "http://prometheus:9090"
    home = grafana["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert home.startswith(provider["options"]["path"] + "/")
    assert (GRAFANA / "dashboards" / Path(home).name).exists()


def test_queries_read_only_recorded_or_documented_series() -> None:
    documented = documented_metrics()
    records = {rule["record"] for _, rule in all_rules() if "record" in rule}
    for name, title, expr in _exprs():
        recorded = re.findall(r"(?<![\w:])([a-z_]+:[a-z0-9_]+:[a-z0-9_]+)", expr)
        for r in recorded:
            assert r in records, f"{name} / {title}: {r} is not a recording rule"
        raw = re.findall(r"(?<![\w:])(digindex_\w+)(?![\w:])", expr)
        for metric in raw:
            assert metric in documented, f"{name} / {title}: {metric} is not in docs/metrics.md"
        assert recorded or raw or 'up{job="digindex"}' in expr, f"{name} / {title}: reads nothing known"


def test_every_query_parses(tmp_path: Path) -> None:
    """promtool parses each query (variables substituted) as a recording rule's expression."""
    rules = []
    for i, (_, _, expr) in enumerate(_exprs()):
        for var, value in VARIABLES.items():
            expr = expr.replace(var, value)
        assert "$" not in expr, f"unsubstituted variable in {expr}"
        rules.append({"record": f"grafana:query_{i}:check", "expr": expr})
    path = tmp_path / "grafana-queries.rules.yaml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "grafana", "rules": rules}]}))
    result = run(tool("promtool"), "check", "rules", path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_boards_decode_with_the_grafana_sdk_models() -> None:
    code = (
        "import json, sys\n"
        "from grafana_foundation_sdk.cog.plugins import register_default_plugins\n"
        "from grafana_foundation_sdk.models.dashboard import Dashboard\n"
        "register_default_plugins()\n"
        "for path in sys.argv[1:]:\n"
        "    board = Dashboard.from_json(json.load(open(path)))\n"
        "    assert board.panels and all(p.type_val for p in board.panels), path\n"
    )
    result = subprocess.run([sys.executable, "-c", code, *map(str, BOARDS)], capture_output=True, text=True,
                            check=False)
    assert result.returncode == 0, result.stderr
