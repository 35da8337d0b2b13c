"""``digindex grafana push`` against a fake Grafana: a protocol test of our grafana-client code.

Grafana cannot run on these machines, so ``FakeGrafana`` (stdlib http.server, loopback)
implements the endpoints a push calls, with Grafana 11's paths, status codes and bodies
(HTTP API reference: folder, dashboard, datasource, frontend settings): authentication
(401 without the right Bearer token or basic credentials), folders by uid, 404 for unknown
uids, ``POST /api/dashboards/db`` with version numbers, 412 when a board exists and
``overwrite`` is not set, 400 for an unknown folder. It records every request, so the tests
check what we send: the auth header, uid, overwrite, folderUid, and no secret anywhere.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from streams.cli import main
from streams.grafana_push import PushError, folder_uid, load_boards, normalise_url

ROOT = Path(__file__).resolve().parents[2]
BOARDS_DIR = ROOT / "grafana" / "dashboards"
BOARDS = {json.loads(p.read_text())["uid"]: json.loads(p.read_text()) for p in sorted(BOARDS_DIR.glob("*.json"))}
TOKEN = "glsa_test-token-0123456789abcdef"
PASSWORD = "s3cret-Pa55word"


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class FakeGrafana:
    """Grafana 11's HTTP API for folders and dashboards, in memory, behind a path prefix."""

    token: str | None = None
    basic: tuple[str, str] | None = None
    prefix: str = ""
    datasources: set[str] = field(default_factory=lambda: {"digindex-prometheus"})
    folders: dict[str, dict[str, Any]] = field(default_factory=dict)
    dashboards: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)
    _ids: int = 0

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                body = json.loads(raw) if raw else None
                with fake._lock:
                    fake.requests.append(Request(self.command, self.path, dict(self.headers.items()), body))
                    status, answer = fake.answer(self.command, self.path, self.headers.get("Authorization"), body)
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = _handle

            def log_message(self, *_: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}{self.prefix}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _authorised(self, header: str | None) -> bool:
        if self.token is not None and header == f"Bearer {self.token}":
            return True
        if self.basic is not None:
            expected = base64.b64encode(":".join(self.basic).encode()).decode()
            return header == f"Basic {expected}"
        return False

    def _next_id(self) -> int:
        self._ids += 1
        return self._ids

    def answer(self, method: str, path: str, auth: str | None, body: Any) -> tuple[int, Any]:
        if not path.startswith(self.prefix + "/api/"):
            return 404, {"message": "Not found"}
        route = path[len(self.prefix) + len("/api"):].split("?", 1)[0]
        if route == "/health":
            return 200, {"database": "ok", "version": "11.6.0", "commit": "fake"}
        if not self._authorised(auth):
            return 401, {"message": "Unauthorized"}
        if method == "GET" and route == "/frontend/settings":
            return 200, {"buildInfo": {"version": "11.6.0", "commit": "fake", "edition": "Open Source"}}
        if method == "GET" and route == "/folders":
            return 200, [{"id": f["id"], "uid": f["uid"], "title": f["title"]} for f in self.folders.values()]
        if method == "GET" and (m := re.fullmatch(r"/folders/([^/]+)", route)):
            folder = self.folders.get(m.group(1))
            return (200, folder) if folder else (404, {"message": "folder not found", "status": "not-found"})
        if method == "POST" and route == "/folders":
            uid = body.get("uid") or f"auto{self._ids + 1}"
            if uid in self.folders or any(f["title"] == body["title"] for f in self.folders.values()):
                return 409, {"message": "a folder with the same name already exists"}
            self.folders[uid] = {"id": self._next_id(), "uid": uid, "title": body["title"], "version": 1}
            return 200, self.folders[uid]
        if method == "GET" and (m := re.fullmatch(r"/dashboards/uid/([^/]+)", route)):
            saved = self.dashboards.get(m.group(1))
            if saved is None:
                return 404, {"message": "Dashboard not found"}
            return 200, {"dashboard": saved["dashboard"],
                         "meta": {"folderUid": saved["folderUid"], "version": saved["dashboard"]["version"]}}
        if method == "POST" and route == "/dashboards/db":
            return self._save(body)
        if method == "GET" and (m := re.fullmatch(r"/datasources/uid/([^/]+)", route)):
            uid = m.group(1)
            return (200, {"uid": uid, "type": "prometheus"}) if uid in self.datasources else (
                404, {"message": "Data source not found"})
        return 404, {"message": "Not found"}

    def _save(self, body: dict[str, Any]) -> tuple[int, Any]:
        dashboard = dict(body["dashboard"])
        uid, title = dashboard.get("uid"), dashboard.get("title")
        if not uid or not title:
            return 400, {"message": "Dashboard title cannot be empty"}
        folder = body.get("folderUid", "")
        if folder and folder not in self.folders:
            return 400, {"message": "folder not found"}
        existing = self.dashboards.get(uid)
        if existing and not body.get("overwrite"):
            return 412, {"message": "The dashboard has been changed by someone else", "status": "version-mismatch"}
        dashboard["id"] = existing["dashboard"]["id"] if existing else self._next_id()
        dashboard["version"] = existing["dashboard"]["version"] + 1 if existing else 1
        self.dashboards[uid] = {"dashboard": dashboard, "folderUid": folder, "message": body.get("message")}
        slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")
        return 200, {"id": dashboard["id"], "uid": uid, "url": f"{self.prefix}/d/{uid}/{slug}", "status": "success",
                     "version": dashboard["version"], "slug": slug, "folderUid": folder}

    def saves(self) -> list[Request]:
        return [r for r in self.requests if r.method == "POST" and r.path.endswith("/api/dashboards/db")]


@pytest.fixture
def grafana() -> Iterator[FakeGrafana]:
    fake = FakeGrafana(token=TOKEN, basic=("admin", PASSWORD))
    yield fake
    fake.close()


def _push(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    try:
        code = main(["grafana", "push", *args])
    except SystemExit as exc:  # usage errors
        code = exc.code if isinstance(exc.code, int) else 1
        print(exc.code, file=sys.stderr)
    out, err = capsys.readouterr()
    return code, out, err


def test_token_push_creates_the_folder_and_every_board(grafana: FakeGrafana, capsys, monkeypatch, caplog) -> None:
    caplog.set_level(logging.DEBUG)  # grafana-client's, niquests' and urllib3's logs too
    monkeypatch.setenv("GRAFANA_TOKEN", TOKEN)
    code, out, err = _push(capsys, "--url", grafana.url, "--token-env", "GRAFANA_TOKEN")
    assert code == 0, out + err
    assert {r.headers.get("Authorization") for r in grafana.requests if "/api/health" not in r.path} == {
        f"Bearer {TOKEN}"}
    assert grafana.folders == {"digindex": {"id": 1, "uid": "digindex", "title": "digindex", "version": 1}}
    saves = grafana.saves()
    assert [s.body["dashboard"]["uid"] for s in saves] == sorted(BOARDS)
    for s in saves:
        uid = s.body["dashboard"]["uid"]
        assert s.body["overwrite"] is True and s.body["folderUid"] == "digindex"
        assert s.body["dashboard"] == {k: v for k, v in BOARDS[uid].items() if k not in ("id", "version")}
        assert "digindex grafana push" in s.body["message"]
        assert re.search(rf"created {uid} '.+' version 1  {re.escape(grafana.url)}/d/{uid}/", out), out
    assert "folder 'digindex' (uid digindex) created" in out
    assert "5 boards pushed (5 created, 0 updated)" in out
    assert TOKEN not in out + err + caplog.text


def test_second_push_updates_the_same_boards(grafana: FakeGrafana, capsys, monkeypatch) -> None:
    monkeypatch.setenv("GRAFANA_TOKEN", TOKEN)
    assert _push(capsys, "--url", grafana.url, "--token-env", "GRAFANA_TOKEN")[0] == 0
    ids = {uid: d["dashboard"]["id"] for uid, d in grafana.dashboards.items()}
    first = len(grafana.requests)
    code, out, err = _push(capsys, "--url", grafana.url, "--token-env", "GRAFANA_TOKEN")
    assert code == 0, out + err
    second = grafana.requests[first:]
    assert not [r for r in second if r.method == "POST" and r.path.endswith("/api/folders")], "folder made twice"
    assert len(grafana.folders) == 1 and set(grafana.dashboards) == set(BOARDS)
    assert {uid: d["dashboard"]["id"] for uid, d in grafana.dashboards.items()} == ids, "same boards, not copies"
    assert {d["dashboard"]["version"] for d in grafana.dashboards.values()} == {2}
    for uid in BOARDS:
        assert f"updated {uid} " in out and "version 2 (was 1)" in out
    assert "folder 'digindex' (uid digindex) exists" in out
    assert "(0 created, 5 updated)" in out


def test_basic_auth_push(grafana: FakeGrafana, capsys, monkeypatch) -> None:
    monkeypatch.setenv("GF_PW", PASSWORD)
    code, out, err = _push(capsys, "--url", grafana.url, "--user", "admin", "--password-env", "GF_PW",
                           "--folder", "District boards")
    assert code == 0, out + err
    expected = "Basic " + base64.b64encode(f"admin:{PASSWORD}".encode()).decode()
    assert {r.headers.get("Authorization") for r in grafana.requests if "/api/health" not in r.path} == {expected}
    assert set(grafana.folders) == {"district-boards"}
    assert {s.body["folderUid"] for s in grafana.saves()} == {"district-boards"}
    assert PASSWORD not in out + err


def test_a_folder_made_by_hand_is_reused(grafana: FakeGrafana, capsys, monkeypatch) -> None:
    grafana.folders["abc123"] = {"id": 99, "uid": "abc123", "title": "digindex", "version": 1}
    monkeypatch.setenv("GRAFANA_TOKEN", TOKEN)
    assert _push(capsys, "--url", grafana.url, "--token-env", "GRAFANA_TOKEN")[0] == 0
    assert set(grafana.folders) == {"abc123"}
    assert {s.body["folderUid"] for s in grafana.saves()} == {"abc123"}


def test_grafana_under_a_path_prefix(capsys, monkeypatch) -> None:
    """grafana-client joins ``<url path>api``: our URL gets the trailing slash it needs."""
    fake = FakeGrafana(token=TOKEN, prefix="/grafana")
    try:
        monkeypatch.setenv("GRAFANA_TOKEN", TOKEN)
        code, out, err = _push(capsys, "--url", fake.url, "--token-env", "GRAFANA_TOKEN")
        assert code == 0, out + err
        assert all(r.path.startswith("/grafana/api/") for r in fake.requests)
        assert len(fake.dashboards) == 5
        assert f"{fake.url}/d/digindex-banks/banks" in out  # Grafana's url already holds /grafana
    finally:
        fake.close()


def test_wrong_token_fails_without_showing_it(grafana: FakeGrafana, capsys, monkeypatch) -> None:
    wrong = "glsa_wrong-token-fedcba9876543210"
    monkeypatch.setenv("GRAFANA_TOKEN", wrong)
    code, out, err = _push(capsys, "--url", grafana.url, "--token-env", "GRAFANA_TOKEN")
    assert code == 1
    assert "Unauthorized" in err
    assert wrong not in out + err and not grafana.dashboards


def test_missing_datasource_is_a_warning(grafana: FakeGrafana, capsys, monkeypatch) -> None:
    grafana.datasources.clear()
    monkeypatch.setenv("GRAFANA_TOKEN", TOKEN)
    code, out, _ = _push(capsys, "--url", grafana.url, "--token-env", "GRAFANA_TOKEN")
    assert code == 0
    assert "warning: no datasource with uid 'digindex-prometheus'" in out


@pytest.mark.parametrize(("args", "env", "message"), [
    ([], {}, "give --token-env VAR"),
    (["--token-env", "NOPE_UNSET"], {}, "NOPE_UNSET (the Grafana token) is not set"),
    (["--user", "admin"], {}, "--user and --password-env go together"),
    (["--token-env", "T", "--user", "admin", "--password-env", "P"], {"T": "x", "P": "y"}, "not both"),
], ids=["no-auth", "unset-var", "user-without-password", "both"])
def test_usage_errors(grafana: FakeGrafana, capsys, monkeypatch, args: list[str], env: dict[str, str],
                      message: str) -> None:
    monkeypatch.delenv("NOPE_UNSET", raising=False)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    code, out, err = _push(capsys, "--url", grafana.url, *args)
    assert code != 0 and message in out + err
    assert not grafana.requests, "nothing is sent before the arguments are right"


@pytest.mark.parametrize("flag", ["--token", "--password", "--token-e", "--pass"])
def test_secrets_are_never_flags(capsys, flag: str) -> None:
    """No secret-taking flag, and no abbreviation of the *-env flags (argparse's default)."""
    with pytest.raises(SystemExit):
        main(["grafana", "push", "--url", "http://127.0.0.1:9", "--user", "admin", flag, "glsa_secret-value"])
    err = capsys.readouterr().err
    assert f"unrecognized arguments: {flag} ..." in err
    assert "glsa_secret-value" not in err


def test_a_secret_given_as_the_variable_name_is_not_echoed(capsys, monkeypatch) -> None:
    monkeypatch.delenv("glsa_secret-value", raising=False)
    code, out, err = _push(capsys, "--url", "http://127.0.0.1:9", "--token-env", "glsa_secret-value")
    assert code != 0 and "is not set" in out + err
    assert "glsa_secret-value" not in out + err


def test_url_with_credentials_is_refused(grafana: FakeGrafana, capsys, monkeypatch) -> None:
    monkeypatch.setenv("GRAFANA_TOKEN", TOKEN)
    url = grafana.url.replace("http://", f"http://admin:{PASSWORD}@")
    code, out, err = _push(capsys, "--url", url, "--token-env", "GRAFANA_TOKEN")
    assert code == 1 and "must not carry credentials" in err
    assert PASSWORD not in out + err and not grafana.requests


def test_helpers(tmp_path: Path) -> None:
    assert folder_uid("digindex") == "digindex" and folder_uid("District boards!") == "district-boards"
    assert normalise_url("http://g:3000") == "http://g:3000"
    assert normalise_url("https://g.example/grafana") == "https://g.example/grafana/"
    with pytest.raises(PushError):
        normalise_url("ftp://g")
    assert [b["uid"] for b in load_boards(BOARDS_DIR)] == sorted(BOARDS)
    (tmp_path / "a.json").write_text(json.dumps({"uid": "x", "title": "A"}))
    (tmp_path / "b.json").write_text(json.dumps({"uid": "x", "title": "B"}))
    with pytest.raises(PushError, match="also the uid"):
        load_boards(tmp_path)
    with pytest.raises(PushError, match="no dashboards"):
        load_boards(tmp_path / "empty")
