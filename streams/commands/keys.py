"""Manage a key registry (streams/signing.py): add a bank's key, revoke one, list them.

  digindex keys add FILE --bank SBIN [--id sbin-2026-02] [--not-before ISO] [--secret-env VAR]
  digindex keys revoke FILE KEY_ID
  digindex keys expire FILE KEY_ID ISO
  digindex keys list FILE

add writes a new active key for the bank: with --secret-env VAR the registry names the
environment variable (the secret stays out of the file); otherwise a random 256-bit secret is
written into the file (created with mode 0600). Rotation: add the new key with --not-before,
then give the old one an end with --expire KEY_ID AT. Workers re-read a changed registry within
seconds. Secrets are never command-line arguments and are never printed.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..config import Settings
from ..signing import KeyRegistry, KeyRegistryError

__all__ = ["configure", "run"]


def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    add = sub.add_parser("add", help="add an active key for a bank")
    add.add_argument("file", type=Path, metavar="FILE", help="the key registry (created if missing)")
    add.add_argument("--bank", required=True, metavar="CODE", help="the bank the key speaks for, e.g. SBIN")
    add.add_argument("--id", dest="key_id", metavar="KEY_ID", help="key id (default: <bank>-<n>)")
    add.add_argument("--not-before", metavar="ISO", help="first event time the key may sign (ISO 8601 with offset)")
    add.add_argument("--secret-env", metavar="VAR",
                     help="name the environment variable holding the secret instead of writing one")
    revoke = sub.add_parser("revoke", help="revoke a key: workers refuse its messages from then on")
    revoke.add_argument("file", type=Path, metavar="FILE")
    revoke.add_argument("key_id", metavar="KEY_ID")
    expire = sub.add_parser("expire", help="end a key's validity at an event time (rotation)")
    expire.add_argument("file", type=Path, metavar="FILE")
    expire.add_argument("key_id", metavar="KEY_ID")
    expire.add_argument("at", metavar="ISO", help="first event time the key may no longer sign")
    lst = sub.add_parser("list", help="list the keys (ids, banks, status, validity; never secrets)")
    lst.add_argument("file", type=Path, metavar="FILE")


def _read(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {"keys": []}
    return json.loads(path.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def _write(path: Path, doc: dict[str, Any]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(doc, f, indent=1)
    try:
        KeyRegistry.load(tmp)
    except KeyRegistryError:
        tmp.unlink()
        raise
    os.replace(tmp, path)


def _iso(ms: int | None) -> str:
    return "-" if ms is None else datetime.fromtimestamp(ms / 1000, UTC).isoformat().replace("+00:00", "Z")


def _key(doc: dict[str, Any], key_id: str) -> dict[str, Any]:
    for k in doc["keys"]:
        if k.get("id") == key_id:
            return k  # type: ignore[no-any-return]
    raise KeyRegistryError(f"no key {key_id!r} in the registry")


def run(args: argparse.Namespace, settings: Settings) -> int:
    try:
        doc = _read(args.file)
        if args.action == "list":
            for k in KeyRegistry.load(args.file).keys.values():
                print(f"{k.key_id}\t{k.bank}\t{'revoked' if k.revoked else 'active'}\t"
                      f"not_before={_iso(k.not_before_ms)}\tnot_after={_iso(k.not_after_ms)}")
            return 0
        if args.action == "add":
            n = 1 + sum(1 for k in doc["keys"] if k.get("bank") == args.bank)
            key_id = args.key_id or f"{args.bank.lower()}-{n}"
            if any(k.get("id") == key_id for k in doc["keys"]):
                raise KeyRegistryError(f"key id {key_id!r} exists already")
            entry: dict[str, Any] = {"id": key_id, "bank": args.bank, "status": "active"}
            if args.secret_env:
                entry["secret_env"] = args.secret_env
            else:
                entry["secret"] = secrets.token_urlsafe(32)  # base64url: no Aadhaar-like run of digits
            if args.not_before:
                entry["not_before"] = args.not_before
            doc["keys"].append(entry)
            done = f"added key {key_id} for {args.bank}"
        elif args.action == "revoke":
            _key(doc, args.key_id)["status"] = "revoked"
            done = f"revoked key {args.key_id}"
        else:
            _key(doc, args.key_id)["not_after"] = args.at
            done = f"key {args.key_id} signs events before {args.at} only"
        _write(args.file, doc)
        print(done)
    except (KeyRegistryError, ValueError, OSError) as e:
        print(f"digindex keys: error: {e}", file=sys.stderr)
        return 1
    return 0
