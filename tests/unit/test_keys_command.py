"""``digindex keys``: add, rotate, revoke; secrets never printed, the file never left invalid."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from streams.cli import main
from streams.signing import KeyRegistry


def test_add_rotate_revoke(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "keys.json"
    assert main(["keys", "add", str(path), "--bank", "SBIN"]) == 0
    assert main(["keys", "add", str(path), "--bank", "SBIN", "--not-before", "2026-01-01T00:00:00Z"]) == 0
    assert main(["keys", "expire", str(path), "sbin-1", "2026-01-02T00:00:00Z"]) == 0
    assert main(["keys", "add", str(path), "--bank", "PUNB", "--secret-env", "PUNB_SIGNING_KEY"]) == 1, \
        "the variable is not set: refused, the file unchanged"
    assert main(["keys", "revoke", str(path), "sbin-1"]) == 0
    assert main(["keys", "revoke", str(path), "nobody-1"]) == 1
    assert path.stat().st_mode & 0o777 == 0o600
    reg = KeyRegistry.load(path)
    assert [(k.key_id, k.revoked) for k in reg.keys.values()] == [("sbin-1", True), ("sbin-2", False)]
    assert reg.keys["sbin-1"].not_after_ms == 1_767_312_000_000
    secrets = [k["secret"] for k in json.loads(path.read_text())["keys"]]
    assert all(len(s) == 43 for s in secrets)  # 256 bits, base64url
    assert main(["keys", "list", str(path)]) == 0
    out = capsys.readouterr()
    assert "sbin-2\tSBIN\tactive\tnot_before=2026-01-01T00:00:00Z" in out.out
    assert not any(s in out.out + out.err for s in secrets), "secrets are never printed"
    assert "PUNB_SIGNING_KEY is not set" in out.err
