"""Prometheus configuration, recording and alerting rules: promtool, and the rules' conventions."""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path

import pytest
import yaml

from .helpers import (
    K8S_DIR,
    PROMETHEUS_CONFIG,
    RULES_DIR,
    RUNBOOK_BASE,
    alert_names,
    alert_rules,
    all_rules,
    documented_metrics,
    load_yaml,
    rule_files,
    rule_test_files,
    run,
    tool,
)

GENERATOR = RULES_DIR.parent / "generate.py"

SEVERITIES = {"critical", "warning", "info"}
#: A raw metric name in PromQL: not part of a level:metric:operations name.
RAW_METRIC = re.compile(r"(?<![\w:])(digindex_\w+|up)(?![\w:])(?!\s*\()")
RECORDED = re.compile(r"(?<![\w:])([a-z_]+:[a-z0-9_]+:[a-z0-9_]+)")
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")


def _texts(rule: dict) -> list[str]:
    """The expression and every annotation of a rule: all the PromQL the rule can run."""
    return [rule["expr"], *rule.get("annotations", {}).values()]


def test_there_are_rule_files_each_with_a_test_file() -> None:
    assert rule_files(), "no deploy/prometheus/rules/*.rules.yaml"
    for path in rule_files():
        test = path.with_name(path.name.replace(".rules.yaml", "-test.yaml"))
        assert test.exists(), f"{path.name} has no {test.name}"


def test_rule_files_are_up_to_date_with_their_generator() -> None:
    """The committed rules are what deploy/prometheus/generate.py makes of parameters.yaml."""
    result = run(sys.executable, GENERATOR, "--check")
    assert result.returncode == 0, result.stdout + result.stderr + "\n(run: python deploy/prometheus/generate.py)"


def test_the_generator_follows_its_parameters(tmp_path: Path) -> None:
    """A threshold and a window changed in a copy of the parameters show in the rules, and --check
    then finds the committed files stale."""
    params = load_yaml(GENERATOR.parent / "parameters.yaml")
    params["alerts"]["DigindexDistrictDigitalShareDrop"]["drop"] = 0.2
    params["windows"]["short"] = "2h"
    changed = tmp_path / "parameters.yaml"
    changed.write_text(yaml.safe_dump(params))
    result = run(sys.executable, GENERATOR, "--parameters", changed, "--output", tmp_path / "rules")
    assert result.returncode == 0, result.stdout + result.stderr
    (drop,) = [r for g in load_yaml(tmp_path / "rules" / "digindex-district-alerts.rules.yaml")["groups"]
               for r in g["rules"] if r["alert"] == "DigindexDistrictDigitalShareDrop"]
    assert drop["expr"].startswith("district:digindex_digital_share:ratio_2h\n")
    assert "(district:digindex_digital_share:ratio_24h - 0.2)" in drop["expr"]
    assert "in the last 2 hours" in drop["annotations"]["description"]
    assert "more than 20 percentage points lower" in drop["annotations"]["description"]
    result = run(tool("promtool"), "check", "rules", *sorted((tmp_path / "rules").glob("*.rules.yaml")))
    assert result.returncode == 0, result.stdout + result.stderr
    assert run(sys.executable, GENERATOR, "--parameters", changed, "--check").returncode == 1


def test_promtool_check_rules() -> None:
    result = run(tool("promtool"), "check", "rules", *rule_files())
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_check_config(tmp_path: Path) -> None:
    """The Compose stack's prometheus.yml, with its rule_files resolved from a copy."""
    config_dir = tmp_path / "prometheus"
    shutil.copytree(PROMETHEUS_CONFIG.parent, config_dir)
    result = run(tool("promtool"), "check", "config", config_dir / "prometheus.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{len(rule_files())} rule files found" in result.stdout, result.stdout


@pytest.mark.parametrize("test_file", rule_test_files(), ids=lambda p: p.name)
def test_promtool_test_rules(test_file: Path) -> None:
    result = run(tool("promtool"), "test", "rules", test_file.name, cwd=test_file.parent)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_is_tested_firing_and_not_firing() -> None:
    firing: set[str] = set()
    silent: set[str] = set()
    recorded_tested: set[str] = set()
    for path in rule_test_files():
        for case in load_yaml(path)["tests"]:
            for t in case.get("alert_rule_test", []):
                (firing if t.get("exp_alerts") else silent).add(t["alertname"])
            for t in case.get("promql_expr_test", []):
                recorded_tested.update(RECORDED.findall(t["expr"]))
    assert alert_names() - firing == set(), "alerts never tested firing"
    assert alert_names() - silent == set(), "alerts never tested not firing"
    records = {rule["record"] for _, rule in all_rules() if "record" in rule}
    assert records - recorded_tested == set(), "recording rules without a promql_expr_test"


def test_every_firing_expectation_checks_every_annotation() -> None:
    annotations = {rule["alert"]: set(rule["annotations"]) for rule in alert_rules()}
    for path in rule_test_files():
        for case in load_yaml(path)["tests"]:
            for t in case.get("alert_rule_test", []):
                for exp in t.get("exp_alerts") or []:
                    assert set(exp.get("exp_annotations", {})) == annotations[t["alertname"]], (
                        f"{path.name}: {t['alertname']} at {t['eval_time']}")


def test_alert_conventions() -> None:
    for rule in alert_rules():
        name = rule["alert"]
        assert re.fullmatch(r"Digindex(?:[A-Z][a-z0-9]+)+", name), f"{name}: CamelCase with prefix Digindex"
        assert rule["labels"]["severity"] in SEVERITIES, name
        ann = rule["annotations"]
        assert set(ann) == {"summary", "description", "runbook_url"}, name
        assert "{{" not in ann["summary"] and ann["summary"].endswith("."), f"{name}: static summary sentence"
        assert "{{" in ann["description"], f"{name}: the description must carry values"
        assert ann["runbook_url"] == f"{RUNBOOK_BASE}{name}.md", name


def test_district_alerts_carry_district_labels() -> None:
    """Alerts in the district file keep district_lgd and district (Alertmanager routes on them)."""
    for path in rule_files():
        if "district" not in path.name:
            continue
        for group in load_yaml(path)["groups"]:
            for rule in group["rules"]:
                # on/by (district_lgd, district) or (district_lgd, district, <a bounded label>)
                assert re.search(r"(?:\bon| by) \(district_lgd, district[,)]", rule["expr"]), rule["alert"]
    for path in rule_test_files():
        if "district" not in path.name:
            continue
        for case in load_yaml(path)["tests"]:
            for t in case.get("alert_rule_test", []):
                for exp in t.get("exp_alerts") or []:
                    assert {"district_lgd", "district"} <= set(exp["exp_labels"]), t["alertname"]


def test_recording_rule_names() -> None:
    for _, rule in all_rules():
        if "record" in rule:
            level, metric, operations = rule["record"].split(":")
            assert level and operations and metric.startswith("digindex_"), rule["record"]


#: The labels Prometheus adds to every series it scrapes (not the worker's to document).
TARGET_LABELS = {"job", "instance"}


def test_rules_use_only_documented_metrics_and_labels() -> None:
    """No rule may query a metric the worker does not export (docs/metrics.md is the contract)."""
    documented = documented_metrics()
    assert "digindex_digital_share_ratio" in documented  # the parser still reads the table
    for _, rule in all_rules():
        for text in _texts(rule):
            for m in re.finditer(r"(?<![\w:])(digindex_\w+)(?![\w:])(\{[^}]*\})?", text):
                name, matchers = m.group(1), m.group(2) or ""
                base = name
                for suffix in HISTOGRAM_SUFFIXES:
                    if name.endswith(suffix) and name[: -len(suffix)] in documented:
                        base = name[: -len(suffix)]
                assert base in documented, f"{name} is not in docs/metrics.md"
                extra = ({"le"} if base != name else set()) | TARGET_LABELS
                for label in re.findall(r"(\w+)\s*(?:=~|!~|!=|=)", matchers):
                    assert label in documented[base] | extra, f"{name}: label {label} not documented"
            # `by (...)` directly around a raw metric: only its documented labels.
            for m in re.finditer(r"by \(([^)]*)\) \((?:rate|increase)?\(?(digindex_\w+)", text):
                labels = {label.strip() for label in m.group(1).split(",")}
                name = m.group(2)
                base = next((name[: -len(s)] for s in HISTOGRAM_SUFFIXES
                             if name.endswith(s) and name[: -len(s)] in documented), name)
                allowed = documented[base] | ({"le"} if base != name else set()) | TARGET_LABELS
                assert labels <= allowed, f"{name}: by {labels - allowed} not documented"


def test_rules_use_only_defined_recording_rules() -> None:
    records = {rule["record"] for _, rule in all_rules() if "record" in rule}
    for _, rule in all_rules():
        for text in _texts(rule):
            for name in RECORDED.findall(text):
                assert name in records, f"{rule.get('alert') or rule.get('record')}: {name} is not recorded"


def test_generated_prometheusrule_passes_promtool(tmp_path: Path) -> None:
    """The Kubernetes PrometheusRule holds the same groups (freshness: test_k8s)."""
    doc = load_yaml(K8S_DIR / "generated" / "prometheusrule.yaml")
    extracted = tmp_path / "prometheusrule.rules.yaml"
    extracted.write_text(yaml.safe_dump({"groups": doc["spec"]["groups"]}))
    result = run(tool("promtool"), "check", "rules", extracted)
    assert result.returncode == 0, result.stdout + result.stderr
    expected = [g for path in sorted(RULES_DIR.glob("*.rules.yaml")) for g in load_yaml(path)["groups"]]
    assert doc["spec"]["groups"] == expected


def test_rule_tests_fix_the_group_evaluation_order() -> None:
    """promtool evaluates groups in random order unless told: recording groups must come first."""
    for path in rule_test_files():
        spec = load_yaml(path)
        groups = [g["name"] for f in spec["rule_files"] for g in load_yaml(path.parent / f)["groups"]]
        assert spec.get("group_eval_order") == groups, path.name
