"""Every committed board validates against Grafana 11.6's JSON schemas (vendored in schema/).

tests/deploy/test_grafana.py decodes the boards with the SDK's Python models, which accept
unknown keys and do not check enums or required fields. Here the JSON itself is checked
with ``additionalProperties: false``, types, enums and required fields: the dashboard, each
panel's options and custom field config against its plugin's schema, and every target
against the Prometheus data query schema.

The schemas are cog's JSON export of Grafana's CUE. The export is stricter than the CUE in
a few known places, relaxed here and only here (``_relax``):

* a property with a ``default`` is listed as required; in CUE it is ``field: T | *default``,
  and Grafana fills the default in when it loads a board (a panel plugin's defaults too);
* CUE's ``_`` (any value) is exported as an object: ``MatcherConfig.options`` (a field name
  for ``byName``), ``DynamicConfigValue.value`` (a unit string, a list of links...), and the
  values of an object ``VariableModel.query``;
* ``Threshold.value`` is ``number | null`` in CUE (null is the base step, -Infinity); the
  export says number (its own description mentions the nulls).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from .boards import panels

ROOT = Path(__file__).resolve().parents[2]
SCHEMA_DIR = Path(__file__).resolve().parent / "schema"
BOARDS = sorted((ROOT / "grafana" / "dashboards").glob("*.json"))
PANEL_TYPES = ("timeseries", "stat", "table", "bargauge")


def _validator_class() -> Any:
    try:
        from jsonschema import Draft7Validator
    except ImportError:  # a test dependency: fail loudly, never skip
        pytest.fail("jsonschema is not installed: pip install -e '.[test]'")
    return Draft7Validator


def _relax(node: Any) -> None:
    """Drop ``required`` entries whose property schema carries a ``default`` (recursively)."""
    if isinstance(node, dict):
        props = node.get("properties")
        if isinstance(props, dict) and isinstance(node.get("required"), list):
            node["required"] = [r for r in node["required"]
                                if not (isinstance(props.get(r), dict) and "default" in props[r])]
        for value in node.values():
            _relax(value)
    elif isinstance(node, list):
        for value in node:
            _relax(value)


def _schema(name: str) -> dict[str, Any]:
    schema = copy.deepcopy(json.loads((SCHEMA_DIR / f"{name}.jsonschema.json").read_text()))
    _relax(schema)
    if name == "dashboard":
        d = schema["definitions"]
        d["Threshold"]["properties"]["value"] = {"type": ["number", "null"]}
        d["MatcherConfig"]["properties"]["options"] = {}
        d["DynamicConfigValue"]["properties"]["value"] = {}
        d["VariableModel"]["properties"]["query"] = {"oneOf": [{"type": "string"}, {"type": "object"}]}
    return schema


def _validator(name: str, definition: str | None = None) -> Any:
    schema = _schema(name)
    if definition is not None:
        schema = {"$schema": schema["$schema"], "definitions": schema["definitions"],
                  "$ref": f"#/definitions/{definition}"}
    cls = _validator_class()
    cls.check_schema(schema)
    return cls(schema)


def _errors(validator: Any, instance: Any, where: str) -> list[str]:
    out = []
    for e in validator.iter_errors(instance):
        out.append(f"{where}/{'/'.join(map(str, e.absolute_path))}: {e.message[:300]}")
        # oneOf (Panel | RowPanel): say why the panel is not a Panel, not only that it is neither
        out.extend(f"    {'/'.join(map(str, c.absolute_path))}: {c.message[:300]}" for c in e.context or []
                   if "'row' was expected" not in c.message)
    return out


def test_the_vendored_schemas_are_the_pinned_sdk_release() -> None:
    """The schemas and the SDK that builds the boards must be the same Grafana release."""
    from importlib.metadata import version

    assert version("grafana-foundation-sdk") == "1769699379!11.6.0", "bump tests/grafana/schema/ with the pin"
    assert "aba721fdefde7979d14dbd551a6ea0d4ed14599f" in (SCHEMA_DIR / "README.md").read_text()


def test_the_relaxations_only_loosen_what_the_export_gets_wrong() -> None:
    """Each relaxation is needed (the export really says that) and nothing else moved."""
    raw = json.loads((SCHEMA_DIR / "dashboard.jsonschema.json").read_text())["definitions"]
    assert raw["Threshold"]["properties"]["value"]["type"] == "number"
    assert "Nulls" in raw["Threshold"]["properties"]["value"]["description"]
    assert raw["MatcherConfig"]["properties"]["options"]["type"] == "object"
    assert raw["DynamicConfigValue"]["properties"]["value"]["type"] == "object"
    relaxed = _schema("dashboard")["definitions"]
    assert set(relaxed) == set(raw)
    assert relaxed["Dashboard"]["properties"]["panels"] == raw["Dashboard"]["properties"]["panels"]
    assert relaxed["Panel"]["additionalProperties"] is False


@pytest.mark.parametrize("path", BOARDS, ids=lambda p: p.name)
def test_board_validates_against_grafana_schema(path: Path) -> None:
    board = json.loads(path.read_text())
    errors = _errors(_validator("dashboard"), board, path.name)
    query = _validator("prometheus")
    for panel in panels(board):
        kind = panel["type"]
        if kind == "row":
            continue
        where = f"{path.name} panel {panel['title']!r}"
        assert kind in PANEL_TYPES, f"{where}: no schema vendored for panel type {kind}"
        errors += _errors(_validator(kind, "Options"), panel.get("options", {}), f"{where} options")
        custom = panel.get("fieldConfig", {}).get("defaults", {}).get("custom")
        if "FieldConfig" in _schema(kind)["definitions"]:
            errors += _errors(_validator(kind, "FieldConfig"), custom or {}, f"{where} fieldConfig.defaults.custom")
        else:
            assert not custom, f"{where}: {kind} panels have no custom field config"
        assert panel.get("targets"), f"{where}: no query"
        for target in panel["targets"]:
            errors += _errors(query, target, f"{where} target {target.get('refId')}")
    assert not errors, "\n".join(errors)


def test_a_broken_board_is_caught() -> None:
    """The validation has teeth: an unknown key, a wrong enum and a wrong type are all reported."""
    board = json.loads(BOARDS[0].read_text())
    panel = next(p for p in panels(board) if p["type"] == "timeseries")
    panel["titel"] = "typo"
    options = copy.deepcopy(panel["options"])
    options["legend"]["placement"] = "top"
    target = dict(panel["targets"][0], format="csv")
    assert _errors(_validator("dashboard"), board, "board")
    assert _errors(_validator("timeseries", "Options"), options, "options")
    assert _errors(_validator("prometheus"), target, "target")
