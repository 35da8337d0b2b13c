"""Shared by the deployment tests: repository paths, the external tools they shell out to.

These tests need promtool and amtool (Debian's prometheus and prometheus-alertmanager),
/usr/bin/prometheus-alertmanager, docker-compose (Debian's docker-compose) and PyYAML. A
missing tool fails the test that needs it: these checks are the only guard on the files in
deploy/, so they must never be skipped silently.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
RULES_DIR = DEPLOY / "prometheus" / "rules"
PROMETHEUS_CONFIG = DEPLOY / "prometheus" / "prometheus.yml"
ALERTMANAGER_CONFIG = DEPLOY / "alertmanager" / "alertmanager.yml"
COMPOSE_FILE = DEPLOY / "docker-compose.yml"
K8S_DIR = DEPLOY / "k8s"
RUNBOOKS_DIR = ROOT / "docs" / "runbooks"
METRICS_DOC = ROOT / "docs" / "metrics.md"

RUNBOOK_BASE = "https://github.com/digindex/digindex/blob/main/docs/runbooks/"


def tool(name: str) -> str:
    """Absolute path of an external tool, or a test failure naming the package to install."""
    path = shutil.which(name)
    if path is None:
        packages = {"promtool": "prometheus", "amtool": "prometheus-alertmanager",
                    "prometheus-alertmanager": "prometheus-alertmanager",
                    "docker-compose": "docker-compose"}
        pytest.fail(f"{name} not found on PATH: apt-get install {packages.get(name, name)}")
    return path


def run(*args: str | Path, cwd: Path | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run a command, capturing its output (never raises on a non-zero exit)."""
    return subprocess.run([str(a) for a in args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, check=False)


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def rule_files() -> list[Path]:
    return sorted(RULES_DIR.glob("*.rules.yaml"))


def rule_test_files() -> list[Path]:
    return sorted(RULES_DIR.glob("*-test.yaml"))


def all_rules() -> list[tuple[Path, dict[str, Any]]]:
    """(file, rule) for every recording and alerting rule."""
    return [(path, rule) for path in rule_files()
            for group in load_yaml(path)["groups"] for rule in group["rules"]]


def alert_rules() -> list[dict[str, Any]]:
    return [rule for _, rule in all_rules() if "alert" in rule]


def alert_names() -> set[str]:
    return {rule["alert"] for rule in alert_rules()}


def documented_metrics() -> dict[str, set[str]]:
    """Metric name -> its labels, from the table in docs/metrics.md."""
    metrics: dict[str, set[str]] = {}
    for line in METRICS_DOC.read_text().splitlines():
        m = re.match(r"\|\s*`(digindex_\w+)`\s*\|\s*([^|]*)\|\s*([^|]*)\|", line)
        if m:
            labels = {label.strip() for label in m.group(3).split(",") if label.strip()}
            metrics[m.group(1)] = labels
    return metrics


def uttarakhand_districts() -> list[dict[str, str]]:
    import csv

    with (ROOT / "streams" / "data" / "districts.csv").open() as f:
        return [row for row in csv.DictReader(f) if row["state_lgd"] == "5"]


def receiver_for(district: str) -> str:
    """dm-<district name, lower case, spaces to dashes>: the receiver naming convention."""
    return "dm-" + district.lower().replace(" ", "-")


def bank_receiver_for(bank: str) -> str:
    """bank-<bank code, lower case>: the bank coordinators' receiver naming convention."""
    return "bank-" + bank.lower()
