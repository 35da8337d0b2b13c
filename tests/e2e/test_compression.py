"""The time compression that tests/e2e applies to the real configuration changes durations and
window labels and nothing else (no broker, no Prometheus: fast)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from ..deploy.helpers import ALERTMANAGER_CONFIG, load_yaml, rule_files, run, tool
from ..stack import (
    compress_duration,
    compress_expr,
    compressed_rule_files,
    duration_seconds,
    format_duration,
    local_alertmanager_config,
)

WINDOWS = {"1h": "1m", "24h": "24m"}


@pytest.mark.parametrize(("text", "seconds"), [("30s", 30), ("5m", 300), ("1h30m", 5400), ("24h", 86400),
                                               ("500ms", 0.5), ("2d", 172800)])
def test_durations(text: str, seconds: float) -> None:
    assert duration_seconds(text) == seconds
    assert duration_seconds(format_duration(seconds)) == seconds


def test_compress_duration() -> None:
    assert [compress_duration(d, 60) for d in ("30m", "6h", "5m", "30s", "12h")] == ["30s", "6m", "5s", "500ms", "12m"]


def test_compress_expr() -> None:
    expr = 'rate(x{window="1h"}[5m]) + y offset 24h + max_over_time(z{window="24h"}[1h:1m]) + w[15m:]'
    assert compress_expr(expr, 60, WINDOWS) == (
        'rate(x{window="1m"}[5s]) + y offset 24m + max_over_time(z{window="24m"}[1m:1s]) + w[15s:]')
    with pytest.raises(ValueError, match="window"):
        compress_expr('x{window="7d"}', 60, WINDOWS)
    with pytest.raises(ValueError, match="window"):
        compress_expr('x{window=~"1h|24h"}', 60, WINDOWS)


def _normalise(text: str) -> str:
    """A rule text with every duration and window label blanked out."""
    text = re.sub(r'window="[^"]*"', 'window="W"', text)
    return re.sub(r"(?<![\w:])(?:\d+(?:ms|s|m|h|d|w|y))+(?![\w:])", "D", text)


def test_compressed_rules_differ_from_the_real_ones_only_in_durations(tmp_path: Path) -> None:
    written = compressed_rule_files(tmp_path, 60, WINDOWS)
    assert [p.name for p in written] == [p.name for p in rule_files()]
    for real_path, copy_path in zip(rule_files(), written, strict=True):
        real, copy = load_yaml(real_path), load_yaml(copy_path)
        for real_group, copy_group in zip(real["groups"], copy["groups"], strict=True):
            assert real_group["name"] == copy_group["name"]
            for r, c in zip(real_group["rules"], copy_group["rules"], strict=True):
                assert set(r) == set(c), r.get("alert") or r["record"]
                assert _normalise(r["expr"]) == _normalise(c["expr"])
                for key in set(r) - {"expr", "for", "keep_firing_for"}:
                    assert r[key] == c[key], (r.get("alert") or r["record"], key)
                for key in {"for", "keep_firing_for"} & set(r):
                    assert duration_seconds(c[key]) * 60 == duration_seconds(r[key])
                assert '"1h"' not in c["expr"] and '"24h"' not in c["expr"]
    result = run(tool("promtool"), "check", "rules", *written)
    assert result.returncode == 0, result.stdout + result.stderr


def test_local_alertmanager_config(tmp_path: Path) -> None:
    real = load_yaml(ALERTMANAGER_CONFIG)
    local = local_alertmanager_config("http://127.0.0.1:1234", 60)
    assert local["route"]["group_wait"] == "500ms" and local["route"]["repeat_interval"] == "4m"
    assert local["inhibit_rules"] == real["inhibit_rules"]
    assert [r["name"] for r in local["receivers"]] == [r["name"] for r in real["receivers"]]
    for r in local["receivers"]:
        if r["name"] == "digindex-none":
            assert set(r) == {"name"}, "notifies nobody, here too"
            continue
        assert r["webhook_configs"][0]["url"] == f"http://127.0.0.1:1234/{r['name']}"

    def matchers(route: dict) -> list:
        return [(route["receiver"], route.get("matchers")), *(m for c in route.get("routes", []) for m in matchers(c))]

    assert matchers(local["route"]) == matchers(real["route"])
    path = tmp_path / "alertmanager.yml"
    path.write_text(yaml.safe_dump(local))
    result = run(tool("amtool"), "check-config", path)
    assert result.returncode == 0, result.stdout + result.stderr
