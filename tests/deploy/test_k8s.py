"""Kubernetes manifests: they parse, they agree with each other, and what is generated from
other files (deploy/k8s/generate.py) is up to date."""

from __future__ import annotations

import functools
import subprocess
import sys
from typing import Any

import yaml

from .helpers import K8S_DIR, ROOT, load_yaml, run


@functools.cache
def _resources() -> dict[tuple[str, str], dict[str, Any]]:
    """(kind, name) -> manifest, for every resource the kustomization lists."""
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for rel in load_yaml(K8S_DIR / "kustomization.yaml")["resources"]:
        for doc in yaml.safe_load_all((K8S_DIR / rel).read_text()):
            items = doc.get("items", []) if doc["kind"] == "List" else [doc]
            for item in items:
                key = (item["kind"], item["metadata"]["name"])
                assert key not in out, f"duplicate {key}"
                out[key] = item
    return out


def _get(kind: str, name: str) -> dict[str, Any]:
    return _resources()[(kind, name)]


def _matches(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


def test_generated_files_are_up_to_date() -> None:
    result = run(sys.executable, K8S_DIR / "generate.py", "--check")
    assert result.returncode == 0, result.stderr + "\n(run: python deploy/k8s/generate.py)"


def test_kustomization_lists_every_manifest() -> None:
    listed = set(load_yaml(K8S_DIR / "kustomization.yaml")["resources"])
    present = {p.relative_to(K8S_DIR).as_posix() for p in K8S_DIR.rglob("*.yaml")} - {"kustomization.yaml"}
    assert listed == present


def test_every_manifest_has_the_basic_fields() -> None:
    for (kind, name), doc in _resources().items():
        assert doc["apiVersion"] and doc["metadata"]["name"] == name, (kind, name)
        assert "namespace" not in doc["metadata"], f"{kind}/{name}: the kustomization sets the namespace"


def test_statefulset_service_and_monitor_agree() -> None:
    sts = _get("StatefulSet", "digindex-worker")
    svc = _get("Service", sts["spec"]["serviceName"])
    pod = sts["spec"]["template"]
    pod_labels = pod["metadata"]["labels"]
    assert _matches(sts["spec"]["selector"]["matchLabels"], pod_labels)
    assert svc["spec"]["clusterIP"] == "None", "the StatefulSet's governing Service is headless"
    assert _matches(svc["spec"]["selector"], pod_labels)
    (container,) = pod["spec"]["containers"]
    container_ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    for port in svc["spec"]["ports"]:
        assert port["targetPort"] in container_ports
    pdb = _get("PodDisruptionBudget", "digindex-worker")
    assert _matches(pdb["spec"]["selector"]["matchLabels"], pod_labels)

    mon = _get("ServiceMonitor", "digindex-worker")
    assert _matches(mon["spec"]["selector"]["matchLabels"], svc["metadata"]["labels"])
    assert {e["port"] for e in mon["spec"]["endpoints"]} <= {p["name"] for p in svc["spec"]["ports"]}
    # The alert rules select up{job="digindex"}: the job label comes from the Service label.
    assert svc["metadata"]["labels"][mon["spec"]["jobLabel"]] == "digindex"


def test_worker_pod_wiring() -> None:
    sts = _get("StatefulSet", "digindex-worker")
    spec = sts["spec"]["template"]["spec"]
    settings = _get("ConfigMap", "digindex-settings")["data"]
    claims = {t["metadata"]["name"] for t in sts["spec"]["volumeClaimTemplates"]}
    volumes = {v["name"] for v in spec.get("volumes", [])} | claims
    assert spec["securityContext"]["runAsNonRoot"] is True
    for c in spec["containers"] + spec.get("initContainers", []):
        for ref in c.get("envFrom", []):
            assert ("ConfigMap", ref["configMapRef"]["name"]) in _resources()
        for m in c.get("volumeMounts", []):
            assert m["name"] in volumes, f"{c['name']}: volume {m['name']} is not defined"
    (worker,) = spec["containers"]
    data_mounts = [m for m in worker["volumeMounts"] if m["mountPath"] == settings["DIGINDEX_DATA_DIR"]]
    assert [m["name"] for m in data_mounts] == list(claims), "state must live on the per-pod claim"
    assert settings["DIGINDEX_METRICS_HOST"] == "0.0.0.0"
    assert int(settings["DIGINDEX_METRICS_PORT"]) == worker["ports"][0]["containerPort"]
    probe_ports = {worker[p]["httpGet"]["port"] for p in ("readinessProbe", "livenessProbe")}
    assert probe_ports <= {p["name"] for p in worker["ports"]}
    assert int(settings["DIGINDEX_TOPIC_PARTITIONS"]) >= sts["spec"]["replicas"]


def test_configmap_holds_only_settings_the_worker_reads() -> None:
    """Every key is a DIGINDEX_ variable that streams.config.Settings.from_env understands."""
    from streams.config import Settings

    settings = _get("ConfigMap", "digindex-settings")["data"]
    assert all(k.startswith("DIGINDEX_") for k in settings)
    code = (
        "import os, sys; from streams.config import Settings; s = Settings.from_env(); "
        "sys.exit(0 if s.session_timeout == 30 and s.security.protocol == 'SASL_SSL' else 1)"
    )
    env = {"PATH": "/usr/bin:/bin", **settings}
    assert subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, check=False).returncode == 0
    known = {f"DIGINDEX_{name.upper()}" for name in Settings.__dataclass_fields__} | {
        "DIGINDEX_KAFKA_SECURITY_PROTOCOL", "DIGINDEX_KAFKA_SASL_MECHANISM", "DIGINDEX_KAFKA_USERNAME",
        "DIGINDEX_KAFKA_PASSWORD", "DIGINDEX_KAFKA_SSL_CAFILE", "DIGINDEX_KAFKA_SSL_CERTFILE",
        "DIGINDEX_KAFKA_SSL_KEYFILE"}
    assert set(settings) <= known, set(settings) - known
    assert "DIGINDEX_KAFKA_PASSWORD" not in settings, "the password belongs in a Secret"


def test_prometheus_rule_and_alertmanager_secret_are_generated_from_the_sources() -> None:
    rule = _get("PrometheusRule", "digindex")
    assert rule["spec"]["groups"], "no rule groups"
    secret = _get("Secret", "alertmanager-digindex")
    assert secret["stringData"]["alertmanager.yaml"] == (ROOT / "deploy/alertmanager/alertmanager.yml").read_text()


def test_grafana_dashboards_become_configmaps() -> None:
    boards = sorted((ROOT / "grafana" / "dashboards").glob("*.json"))
    maps = {name: doc for (kind, name), doc in _resources().items()
            if kind == "ConfigMap" and doc["metadata"].get("labels", {}).get("grafana_dashboard") == "1"}
    assert {f"digindex-dashboard-{p.stem}" for p in boards} == set(maps)
    for p in boards:
        assert maps[f"digindex-dashboard-{p.stem}"]["data"] == {p.name: p.read_text()}


def test_workers_verify_with_the_key_registry_secret() -> None:
    """DIGINDEX_KEY_REGISTRY points into the mounted Secret digindex-keys (not optional: no keys, no worker)."""
    settings = _get("ConfigMap", "digindex-settings")["data"]
    pod = _get("StatefulSet", "digindex-worker")["spec"]["template"]["spec"]
    (worker,) = [c for c in pod["containers"] if c["name"] == "worker"]
    (mount,) = [m for m in worker["volumeMounts"] if m["name"] == "keys"]
    assert settings["DIGINDEX_KEY_REGISTRY"].startswith(mount["mountPath"] + "/") and mount["readOnly"]
    (volume,) = [v for v in pod["volumes"] if v["name"] == "keys"]
    assert volume["secret"]["secretName"] == "digindex-keys" and not volume["secret"].get("optional")
