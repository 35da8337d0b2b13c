"""The worker's web server serves /metrics, /healthz and the query API, nothing else (issue 9,
item 4; issue 10).

Faust mounts its own views on the same port by default: ``/table/`` lists and serves the
tables (the seeding accounts, the checkpoints), ``/router/`` routes keys to workers,
``/graph/``, ``/stats/``, ``/assignment/`` describe the worker. None of them is ours to serve;
against a running worker every one of them must be a 404 (or a 405), and the pages we mean 200.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from pathlib import Path

import pytest

from streams.config import Settings

from ..helpers import WorkerProcess, produce, total, wait_until
from .data import payments

pytestmark = pytest.mark.integration

API = ("/api/v1/openapi.json", "/api/v1/districts", "/api/v1/districts/45", "/api/v1/districts/45/branches",
       "/api/v1/districts/45/branches?window=1h&bank=SBIN&order=best&limit=5")
SERVED = ("/metrics", "/healthz", *API)


def _unmeant(settings: Settings) -> list[str]:
    tables = [f"{settings.app_id}-seeding-accounts", "seeding-accounts", "payments-state",
              f"{settings.app_id}-payments-state"]
    return [
        "/", "/index", "/index.html", "/table", "/table/", *(f"/table/{t}/" for t in tables),
        *(f"/table/{t}/45/" for t in tables), "/router", "/router/", "/router/topics", "/router/seeding-accounts/",
        "/router/seeding-accounts/45/", "/stats", "/stats/", "/graph", "/graph/", "/assignment", "/assignment/",
        "/signal", "/signal/", "/performance", "/performance/", "/metrics/x", "/healthz/x", "/api", "/api/v1/",
        "/static/", "/favicon.ico", "/nope", "/../etc/passwd", "//metrics",
        "/api/v1/districts/", "/api/v1/districts/45/", "/api/v1/districts/45/branches/", "/api/v1/districts/45/x",
        "/api/v1/districts/45/branches/x", "/api/v2/districts", "/api/v1/openapi.yaml", "/api/v1/table/",
        "/api/v1/router/", "/api/v1/districts/45/table/", "/api/v1//districts", "/api/v1/openapi.json/",
    ]


def _status(port: int, path: str, method: str = "GET") -> int:
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method)
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def test_only_metrics_healthz_and_the_api_answer(settings: Settings, tmp_path: Path) -> None:
    w = WorkerProcess(settings, tmp_path / "data", tmp_path / "w.log").start().wait_ready()
    try:
        n = produce(settings, settings.payments_topic, payments(30, districts=[45]))  # district 45 has figures
        wait_until(lambda: total(w.metrics(), "digindex_events_total", outcome="accepted") == n, what="accepted")
        for path in SERVED:
            assert _status(w.port, path) == 200, path
            assert _status(w.port, path, "HEAD") == 200, path
        answered = {path: code for path in _unmeant(settings)
                    if (code := _status(w.port, path)) not in (404, 405)}
        assert not answered, f"served but not meant to be: {answered}"
        for path in ("/", "/table/", "/router/", *API):
            for method in ("POST", "PUT", "DELETE", "PATCH"):
                assert _status(w.port, path, method) in (404, 405), (method, path)
    finally:
        w.stop()
