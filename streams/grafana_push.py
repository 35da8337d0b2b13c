"""Publish the committed Grafana boards to a running Grafana, idempotently (``digindex grafana push``).

Each board keeps the uid it has in ``grafana/dashboards/`` and is saved with
``overwrite: true`` into one folder (created if missing), so pushing again updates the same
boards (Grafana gives each save a new version) instead of making copies. Credentials are
passed in, never read here from flags, and never printed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

__all__ = ["PushError", "PushResult", "connect", "folder_uid", "load_boards", "normalise_url", "push"]


class PushError(Exception):
    """A push that cannot go on; the message is safe to print (it never holds a credential)."""


@dataclass(frozen=True)
class PushResult:
    """What Grafana did with one board."""

    uid: str
    title: str
    action: str  # "created" or "updated"
    version: int
    previous_version: int | None
    url: str


def load_boards(directory: Path) -> list[dict[str, Any]]:
    """The boards (``*.json``) in ``directory``, by file name; each needs a title and a unique uid."""
    paths = sorted(directory.glob("*.json"))
    if not paths:
        raise PushError(f"no dashboards (*.json) in {directory}")
    boards, seen = [], {}
    for path in paths:
        try:
            board = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise PushError(f"{path}: not a dashboard JSON file: {exc}") from None
        uid, title = board.get("uid"), board.get("title")
        if not isinstance(board, dict) or not uid or not title:
            raise PushError(f"{path}: a dashboard needs a uid and a title")
        if uid in seen:
            raise PushError(f"{path}: uid {uid} is also the uid of {seen[uid]}")
        seen[uid] = path.name
        boards.append(board)
    return boards


def folder_uid(title: str) -> str:
    """The uid of the folder we create for ``title``: its slug (``digindex`` -> ``digindex``)."""
    slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")
    if not slug:
        raise PushError(f"folder name {title!r} has no letters or digits")
    return slug[:40]


def normalise_url(url: str) -> str:
    """``http(s)://host[:port][/prefix]`` with a trailing ``/`` on a prefix; credentials refused."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise PushError(f"--url must be http(s)://HOST[:PORT][/PATH], not {url!r}")
    if parts.username or parts.password:
        raise PushError("--url must not carry credentials: use --token-env or --user with --password-env")
    path = parts.path if parts.path.endswith("/") or not parts.path else parts.path + "/"
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


def connect(url: str, credential: str | tuple[str, str], timeout: float = 10.0) -> Any:
    """A ``grafana_client.GrafanaApi`` for ``url`` with a token (Bearer) or (user, password) (basic)."""
    try:
        from grafana_client import GrafanaApi
    except ImportError:
        raise PushError("grafana-client is not installed (pip install grafana-client)") from None
    return GrafanaApi.from_url(normalise_url(url), credential=credential, timeout=timeout)


def _status(exc: Exception) -> int | None:
    return getattr(exc, "status_code", None)


def _ensure_folder(api: Any, title: str) -> tuple[str, bool]:
    """(uid, created): the folder with our uid, else one titled ``title`` made by hand, else a new one."""
    from grafana_client.client import GrafanaClientError

    uid = folder_uid(title)
    try:
        return api.folder.get_folder(uid)["uid"], False
    except GrafanaClientError as exc:
        if _status(exc) != 404:
            raise
    for folder in api.folder.get_all_folders():
        if folder.get("title") == title:
            return folder["uid"], False
    return api.folder.create_folder(title, uid=uid)["uid"], True


def _existing_version(api: Any, uid: str) -> int | None:
    from grafana_client.client import GrafanaClientError

    try:
        found = api.dashboard.get_dashboard(uid)
    except GrafanaClientError as exc:
        if _status(exc) == 404:
            return None
        raise
    return int(found.get("meta", {}).get("version") or found["dashboard"].get("version") or 0)


def missing_datasources(api: Any, boards: Iterable[dict[str, Any]]) -> list[str]:
    """Datasource uids the boards refer to that this Grafana does not have."""
    from grafana_client.client import GrafanaClientError

    uids: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            ds = node.get("datasource")
            if isinstance(ds, dict) and isinstance(ds.get("uid"), str) and not ds["uid"].startswith("$"):
                uids.add(ds["uid"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    for board in boards:
        walk(board)
    missing = []
    for uid in sorted(uids):
        try:
            api.datasource.get_datasource_by_uid(uid)
        except GrafanaClientError as exc:
            if _status(exc) != 404:
                raise
            missing.append(uid)
    return missing


def push(api: Any, boards: list[dict[str, Any]], folder: str, message: str,
         report: Callable[[str], None] = print) -> list[PushResult]:
    """Save every board into ``folder`` (created if missing) with ``overwrite: true``."""
    from grafana_client.client import GrafanaException

    base = (getattr(api, "url", None) or "").rstrip("/")
    origin = urlunsplit((*urlsplit(base)[:2], "", "", "")) if base else ""  # Grafana's urls carry its sub-path
    try:
        info = api.health.check() or {}
        report(f"grafana: {base or 'Grafana'} (Grafana {info.get('version', 'version unknown')})")
        for uid in missing_datasources(api, boards):
            report(f"grafana: warning: no datasource with uid {uid!r}: its panels will show an error until one "
                   "is provisioned (grafana/provisioning/datasources/prometheus.yml)")
        folder_uid_, created = _ensure_folder(api, folder)
        report(f"grafana: folder {folder!r} (uid {folder_uid_}) {'created' if created else 'exists'}")
        results = []
        for board in boards:
            uid = board["uid"]
            previous = _existing_version(api, uid)
            dashboard = {k: v for k, v in board.items() if k not in ("id", "version")}
            saved = api.dashboard.update_dashboard(
                {"dashboard": dashboard, "folderUid": folder_uid_, "overwrite": True, "message": message})
            if not isinstance(saved, dict) or saved.get("uid") != uid:
                raise PushError(f"Grafana answered {saved!r} for board {uid}")
            result = PushResult(uid, board["title"], "created" if previous is None else "updated",
                                int(saved["version"]), previous, origin + saved.get("url", f"/d/{uid}"))
            was = f" (was {previous})" if previous is not None else ""
            report(f"  {result.action} {uid} {result.title!r} version {result.version}{was}  {result.url}")
            results.append(result)
        return results
    except GrafanaException as exc:
        raise PushError(f"Grafana refused: {exc}") from None
    except OSError as exc:  # niquests' connection errors (the URL carries no credentials)
        raise PushError(f"cannot reach Grafana at {base}: {type(exc).__name__}: {exc}") from None
