"""Signatures and the key registry (issue 9, item 6): only a bank can speak for itself."""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from streams.app import verifier_for
from streams.config import Settings
from streams.errors import BadSignature, BankMismatch
from streams.signing import (
    KEY_ID_HEADER,
    SIG_HEADER,
    KeyRegistry,
    KeyRegistryError,
    Signer,
    Verifier,
    framing,
    signature,
    write_registry,
)

from .factories import HOUR_MS, T0, payment
from .kit import PAYMENT_CODEC

SBIN_SECRET = "s" * 32
PUNB_SECRET = "p" * 32


class Rec(NamedTuple):
    key: bytes | None
    value: bytes | None
    headers: Any = ()


def registry_file(tmp_path: Path, *extra: dict[str, Any], **sbin: Any) -> Path:
    keys = [{"id": "sbin-1", "bank": "SBIN", "secret": SBIN_SECRET, **sbin},
            {"id": "punb-1", "bank": "PUNB", "secret_env": "PUNB_KEY"}, *extra]
    path = tmp_path / "keys.json"
    path.write_text(json.dumps({"keys": keys}))
    return path


@pytest.fixture
def keys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PUNB_KEY", PUNB_SECRET)
    return registry_file(tmp_path)


def signed(registry: KeyRegistry, key_id: str, rec: dict[str, Any], key: bytes | None = b"45") -> Rec:
    value = PAYMENT_CODEC.encode(rec)
    return Rec(key, value, registry.keys[key_id].sign(key, value))


def test_a_signed_message_names_its_key_and_vouches_for_its_bank(keys: Path) -> None:
    reg = KeyRegistry.load(keys)
    v = Verifier(reg)
    rec = signed(reg, "sbin-1", payment())
    assert [name for name, _ in rec.headers] == [KEY_ID_HEADER, SIG_HEADER]
    assert rec.headers[0][1] == b"sbin-1" and len(rec.headers[1][1]) == 43
    key = v.signer(rec)
    assert key.bank == "SBIN"
    key.vouch(payment())
    assert v.signer(signed(reg, "punb-1", payment(bank="PUNB"), key=None)).bank == "PUNB"  # env secret, null key


@pytest.mark.parametrize(("headers", "says"), [
    ((), "not signed"),
    ([(KEY_ID_HEADER, b"sbin-1")], "not signed"),
    ([(SIG_HEADER, b"A" * 43)], "not signed"),
    ([(KEY_ID_HEADER, b"nobody-1"), (SIG_HEADER, b"A" * 43)], "not in the key registry"),
    ([(KEY_ID_HEADER, b"sbin-1"), (SIG_HEADER, b"zz")], "not 43 base64url characters"),
    ([(KEY_ID_HEADER, b"sbin-1"), (SIG_HEADER, "A" * 43)], "not 43 base64url characters"),
    ([(KEY_ID_HEADER, b"sbin-1"), (SIG_HEADER, b"A" * 43)], "forged or altered"),
    (None, "not signed"),
])
def test_unsigned_and_forged_messages_are_refused(keys: Path, headers: Any, says: str) -> None:
    v = Verifier(KeyRegistry.load(keys))
    with pytest.raises(BadSignature) as exc:
        v.signer(Rec(b"45", PAYMENT_CODEC.encode(payment()), headers))
    assert exc.value.code == "bad_signature" and says in str(exc.value)


def test_any_change_to_key_value_or_key_id_breaks_the_signature(keys: Path) -> None:
    reg = KeyRegistry.load(keys)
    v = Verifier(reg)
    good = signed(reg, "sbin-1", payment(amount=100))
    tampered = [
        good._replace(value=PAYMENT_CODEC.encode(payment(amount=1_000_000))),
        good._replace(key=b"49"),                     # moved to another district's key
        good._replace(key=None),
        good._replace(value=good.value + b"\x00"),
        # PUNB's id with SBIN's signature: the id is under the MAC too
        good._replace(headers=[(KEY_ID_HEADER, b"punb-1"), good.headers[1]]),
    ]
    for rec in tampered:
        with pytest.raises(BadSignature):
            v.signer(rec)
    # Mapping headers (Faust may hand them over as a dict) read the same
    assert v.signer(good._replace(headers=dict(good.headers))).key_id == "sbin-1"


def test_framing_is_unambiguous() -> None:
    """Moving bytes between the key and the value never gives the same signed bytes."""
    assert framing(b"k", b"ab", b"c") != framing(b"k", b"a", b"bc")
    assert framing(b"k", None, b"") != framing(b"k", b"", b"")
    assert framing(b"ka", b"b", b"c") != framing(b"k", b"ab", b"c")


def test_a_bank_cannot_publish_as_another(keys: Path) -> None:
    reg = KeyRegistry.load(keys)
    v = Verifier(reg)
    key = v.signer(signed(reg, "sbin-1", payment(bank="PUNB")))  # SBIN's key, PUNB's event
    with pytest.raises(BankMismatch) as exc:
        key.vouch(payment(bank="PUNB"))
    assert exc.value.code == "bank_mismatch" and exc.value.field == "bank_code"
    assert "sbin-1" in str(exc.value) and "PUNB" in str(exc.value)


def test_a_revoked_key_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PUNB_KEY", PUNB_SECRET)
    reg = KeyRegistry.load(registry_file(tmp_path, status="revoked"))
    with pytest.raises(BadSignature, match="revoked"):
        Verifier(reg).signer(signed(reg, "sbin-1", payment()))


def test_rotation_old_and_new_keys_by_event_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """sbin-1 signs events before T0, sbin-2 from T0 - 1 h; a publisher picks the newest valid now."""
    monkeypatch.setenv("PUNB_KEY", PUNB_SECRET)
    path = registry_file(tmp_path, {"id": "sbin-2", "bank": "SBIN", "secret": "n" * 32,
                                    "not_before": "2023-12-31T23:00:00Z"}, not_after="2024-01-01T00:00:00Z")
    reg = KeyRegistry.load(path)
    v = Verifier(reg)
    old, new = v.signer(signed(reg, "sbin-1", payment())), v.signer(signed(reg, "sbin-2", payment()))
    old.vouch(payment(ts=T0 - 1))
    new.vouch(payment(ts=T0 - 1))
    new.vouch(payment(ts=T0 + 48 * HOUR_MS))
    with pytest.raises(BadSignature, match="not valid for an event"):
        old.vouch(payment(ts=T0))  # not_after is exclusive
    with pytest.raises(BadSignature, match="not valid for an event"):
        new.vouch(payment(ts=T0 - 2 * HOUR_MS))
    assert reg.newest_for("SBIN", T0 - 30 * 60_000).key_id == "sbin-2"  # both valid: the newer
    assert reg.newest_for("SBIN", T0 - 2 * HOUR_MS).key_id == "sbin-1"
    assert reg.newest_for("HDFC", T0) is None


def test_the_worker_rereads_a_changed_registry(keys: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    v = Verifier.from_file(keys)
    rec = signed(v.registry, "sbin-1", payment())
    assert v.signer(rec).key_id == "sbin-1"
    assert v.reload() is False  # unchanged
    doc = json.loads(keys.read_text())
    doc["keys"][0]["status"] = "revoked"
    keys.write_text(json.dumps(doc))
    os.utime(keys, (1, 1))
    assert v.reload() is True
    with pytest.raises(BadSignature, match="revoked"):
        v.signer(rec)
    keys.write_text("{ not json")
    os.utime(keys, (2, 2))
    with pytest.raises(KeyRegistryError):
        v.reload()
    with pytest.raises(BadSignature, match="revoked"):
        v.signer(rec)  # the previous keys stay in use


@pytest.mark.parametrize(("entry", "says"), [
    ({"id": "a", "bank": "SBIN"}, "exactly one of secret, secret_file, secret_env"),
    ({"id": "a", "bank": "SBIN", "secret": "x" * 32, "secret_env": "X"}, "exactly one"),
    ({"id": "a", "bank": "SBIN", "secret": "short"}, "shorter than 16 bytes"),
    ({"id": "a", "bank": "SBIN", "secret_env": "DIGINDEX_TEST_UNSET_VARIABLE"}, "is not set"),
    ({"id": "a", "bank": "SBIN", "secret_file": "missing.txt"}, "secret_file"),
    ({"id": "a", "bank": "SBIN", "secret": "x" * 32, "status": "paused"}, "active or revoked"),
    ({"id": "a", "bank": "SBIN", "secret": "x" * 32, "not_before": "2024-01-01"}, "no UTC offset"),
    ({"bank": "SBIN", "secret": "x" * 32}, "ASCII id"),
    ({"id": "sbin-2345 6789 0123", "bank": "SBIN", "secret": "x" * 32}, "looks like an Aadhaar number"),
])
def test_bad_registries_are_refused_with_the_reason(tmp_path: Path, entry: dict[str, Any], says: str) -> None:
    path = tmp_path / "keys.json"
    path.write_text(json.dumps({"keys": [entry]}))
    with pytest.raises(KeyRegistryError, match=says):
        KeyRegistry.load(path)


def test_secret_file_and_no_secret_in_repr(tmp_path: Path) -> None:
    (tmp_path / "sbin.key").write_text("f" * 40 + "\n")
    path = tmp_path / "keys.json"
    path.write_text(json.dumps({"keys": [{"id": "sbin-9", "bank": "SBIN", "secret_file": "sbin.key"}]}))
    key = KeyRegistry.load(path).keys["sbin-9"]
    assert key.secret.get() == "f" * 40
    assert "f" * 40 not in repr(key) and "f" * 40 not in str(key)


def test_workers_need_a_registry_unless_told_otherwise(tmp_path: Path) -> None:
    assert Settings().require_signatures is True
    assert Settings.from_env({"DIGINDEX_REQUIRE_SIGNATURES": "false"}).require_signatures is False
    assert Settings.from_env({"DIGINDEX_KEY_REGISTRY": "/k.json"}).key_registry == Path("/k.json")
    with pytest.raises(KeyRegistryError, match="DIGINDEX_KEY_REGISTRY"):
        verifier_for(Settings())
    assert verifier_for(Settings(require_signatures=False)) is None
    path = write_registry(tmp_path / "k.json", ["SBIN"], seed="x")
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    verifier = verifier_for(Settings(key_registry=path))
    assert verifier is not None and list(verifier.registry.keys) == ["sbin-1"]
    assert Settings(key_registry=path).to_env()["DIGINDEX_KEY_REGISTRY"] == str(path)


def test_publishers_sign_with_their_banks_key(tmp_path: Path) -> None:
    path = write_registry(tmp_path / "k.json", ["SBIN", "PUNB"], seed="x")
    signer = Signer.from_settings(Settings(key_registry=path))
    headers = signer.headers("SBIN", b"45", b"v")
    assert headers is not None and headers[0] == (KEY_ID_HEADER, b"sbin-1")
    assert Verifier.from_file(path).signer(Rec(b"45", b"v", headers)).bank == "SBIN"
    with pytest.raises(KeyRegistryError, match="no active key for bank HDFC"):
        signer.headers("HDFC", b"45", b"v")
    with pytest.raises(KeyRegistryError, match="DIGINDEX_KEY_REGISTRY"):
        Signer.from_settings(Settings())
    assert Signer.from_settings(Settings(require_signatures=False)).headers("SBIN", b"45", b"v") is None


# --- in the processor ------------------------------------------------------------------------


def test_the_processor_verifies_before_anything_is_counted(registry: Any, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    import asyncio

    from .test_processor_loop import NOW, Partition

    monkeypatch.setenv("PUNB_KEY", PUNB_SECRET)
    reg = KeyRegistry.load(registry_file(tmp_path, {"id": "hdfc-0", "bank": "HDFC", "secret": "h" * 32,
                                                    "status": "revoked"}))
    part = Partition(registry, tmp_path)
    part.signal.verifier = Verifier(reg)

    async def test() -> None:
        proc = await part.open()
        good = signed(reg, "sbin-1", payment("a"))
        msgs = [
            good,
            Rec(b"45", PAYMENT_CODEC.encode(payment("b"))),                            # unsigned
            good._replace(value=PAYMENT_CODEC.encode(payment("c", amount=9_999_999))),  # altered
            signed(reg, "sbin-1", payment("d", bank="PUNB")),                          # SBIN speaking for PUNB
            signed(reg, "hdfc-0", payment("e", bank="HDFC")),                          # revoked key
            signed(reg, "punb-1", payment("f", bank="PUNB")),
            Rec(b"45", None),                                                          # a tombstone: malformed
            signed(reg, "sbin-1", payment("a")),                                       # a replay: duplicate
        ]
        for i, m in enumerate(msgs):
            proc.handle(i, m.key, m.value, NOW, m.headers)
        assert proc.state.outcomes == Counter({"accepted": 2, "rejected": 5, "duplicate": 1})
        assert proc.state.deadletters == Counter({"bad_signature": 3, "bank_mismatch": 1, "malformed": 1})
        assert set(proc.state.bank_last_event_ms) == {"SBIN", "PUNB"}

    asyncio.run(test())


def test_the_worker_verifies_the_partner_topics_only() -> None:
    """payments and seeding come from banks; the seeding directory and releases only from workers."""
    import asyncio

    from streams.app import create_app

    from ..helpers import test_key_registry

    async def build() -> dict[str, Any]:
        _app, rt = create_app(Settings().replace(broker="kafka://127.0.0.1:1", key_registry=test_key_registry()))
        return {name: runner.signal.verifier for name, runner in rt.runners.items()}

    verifiers = asyncio.run(build())
    assert isinstance(verifiers["payments"], Verifier) and verifiers["seeding"] is verifiers["payments"]
    assert verifiers["seeding-directory"] is None and verifiers["seeding-releases"] is None


@pytest.mark.parametrize("secret", [b"k" * 16, b"k" * 64, b"k" * 65, "ü".encode() * 40])
def test_the_workers_hmac_is_rfc_2104(secret: bytes) -> None:
    """The verifier's precomputed-pad HMAC equals the standard library's for short and long keys."""
    import hmac

    from streams.signing import _Hmac

    for message in (b"", b"x", framing(b"k", b"45", b"v" * 300)):
        assert _Hmac(secret).digest(message) == hmac.digest(secret, message, "sha256")


def test_signatures_never_look_like_an_aadhaar_number(tmp_path: Path) -> None:
    """base64url, not hex: 10,000 signatures and not one run of 12 digits (hex would give ~1,700)."""
    from streams.aadhaar import contains_aadhaar_like

    key = KeyRegistry.load(write_registry(tmp_path / "k.json", ["SBIN"], seed="x")).keys["sbin-1"]
    sigs = [key.sign(b"45", i.to_bytes(4, "big"))[1][1].decode() for i in range(10_000)]
    assert not any(contains_aadhaar_like(s) for s in sigs)


def test_the_publishers_inline_framing_is_the_documented_one(tmp_path: Path) -> None:
    """``SigningKey.sign`` builds the framing inline from precomputed parts: the same MAC as ``signature``."""
    import base64
    import random

    key = KeyRegistry.load(write_registry(tmp_path / "k.json", ["SBIN"], seed="x")).keys["sbin-1"]
    secret = key.secret.get().encode()
    rng = random.Random(7)
    for i in range(300):
        k = None if i % 7 == 0 else rng.randbytes(rng.randrange(0, 40))
        v = rng.randbytes(rng.randrange(0, 600))
        expected = base64.urlsafe_b64encode(signature(secret, b"sbin-1", k, v)).rstrip(b"=")
        assert key.sign(k, v) == [(KEY_ID_HEADER, b"sbin-1"), (SIG_HEADER, expected)]
