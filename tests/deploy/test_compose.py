"""The Compose stack and the worker image: `docker-compose config` (no engine needed) and the
consistency between the Compose file, prometheus.yml and the Dockerfile."""

from __future__ import annotations

import functools
import re
from pathlib import Path

from .helpers import COMPOSE_FILE, DEPLOY, PROMETHEUS_CONFIG, ROOT, load_yaml, run, tool

WORKERS = ["worker-1", "worker-2", "worker-3"]


def test_docker_compose_config_is_valid() -> None:
    result = run(tool("docker-compose"), "-f", COMPOSE_FILE, "config", "-q", cwd=DEPLOY)
    assert result.returncode == 0, result.stdout + result.stderr


@functools.cache
def _services() -> dict:
    result = run(tool("docker-compose"), "-f", COMPOSE_FILE, "config", cwd=DEPLOY)
    assert result.returncode == 0, result.stderr
    import yaml

    return yaml.safe_load(result.stdout)["services"]


def _mounts(svc: dict) -> list[tuple[str, str]]:
    """(source, target) of a service's volumes, from docker-compose 1.x's short syntax."""
    out = []
    for v in svc.get("volumes", []):
        if isinstance(v, dict):  # docker compose v2 prints the long syntax
            out.append((v["source"], v["target"]))
        else:
            source, target = v.split(":")[:2]
            out.append((source, target))
    return out


def test_compose_runs_the_whole_system() -> None:
    services = _services()
    assert {"kafka", "topic-init", *WORKERS, "simulator", "prometheus", "alertmanager", "grafana"} <= set(services)
    kafka = services["kafka"]
    assert kafka["image"].startswith("apache/kafka:")
    assert kafka["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"  # KRaft, no ZooKeeper
    assert services["topic-init"]["depends_on"]["kafka"]["condition"] == "service_healthy"


def test_every_worker_has_its_own_volume_and_the_settings() -> None:
    services = _services()
    volumes = []
    for name in WORKERS:
        svc = services[name]
        env = svc["environment"]
        assert env["DIGINDEX_BROKER"] == "kafka://kafka:9092"
        assert env["DIGINDEX_SESSION_TIMEOUT"] == "30"
        assert env["DIGINDEX_METRICS_HOST"] == "0.0.0.0"
        assert svc["depends_on"]["topic-init"]["condition"] == "service_completed_successfully"
        (source,) = [src for src, target in _mounts(svc) if target == env["DIGINDEX_DATA_DIR"]]
        assert not source.startswith(("/", ".")), f"{name}: state on a named volume, not a host path"
        volumes.append(source)
    assert len(set(volumes)) == len(WORKERS), "workers share a state volume"


def test_prometheus_scrapes_every_compose_worker() -> None:
    config = load_yaml(PROMETHEUS_CONFIG)
    (job,) = [j for j in config["scrape_configs"] if j["job_name"] == "digindex"]
    targets = [t for sc in job["static_configs"] for t in sc["targets"]]
    port = _services()["worker-1"]["environment"]["DIGINDEX_METRICS_PORT"]
    assert sorted(targets) == [f"{w}:{port}" for w in WORKERS]
    assert config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] == ["alertmanager:9093"]


def test_mounted_host_paths_exist() -> None:
    for name, svc in _services().items():
        for source, _ in _mounts(svc):
            if source.startswith("/"):
                assert Path(source).exists(), f"{name}: {source} does not exist"


def test_dockerfile() -> None:
    text = (DEPLOY / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11-slim\b", text, flags=re.M)
    assert re.search(r"^USER (?!root|0\b)\S+", text, flags=re.M), "must run as a non-root user"
    assert "pip install ." in text
    assert re.search(r"^HEALTHCHECK .*", text, flags=re.M) and "/metrics" in text
    assert 'exec digindex worker --broker \\"$DIGINDEX_BROKER\\"' in text
    # The files the image copies exist (pyproject names README.md as the readme).
    for src in re.findall(r"^COPY (?!--from)(.+) \S+$", text, flags=re.M):
        for path in src.split():
            assert (ROOT / path).exists(), f"COPY source {path} is missing from the repository"


def test_workers_and_simulator_share_the_key_registry() -> None:
    """The simulator signs and the workers verify with the registry the keys service writes."""
    services = _services()
    for name in (*WORKERS, "simulator"):
        svc = services[name]
        path = svc["environment"]["DIGINDEX_KEY_REGISTRY"]
        assert ("keys", "/keys") in _mounts(svc) and path.startswith("/keys/"), name
        assert svc["depends_on"]["keys"]["condition"] == "service_completed_successfully", name
    assert "write_registry" in " ".join(services["keys"]["entrypoint"])
