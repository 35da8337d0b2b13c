"""Only a bank can speak for itself (issue 9, item 6): a real worker verifies every message.

A foreign producer (kafka-python, raw bytes) sends unsigned, forged and wrong-bank events, and
events signed by a key that is revoked while the worker runs; the worker counts only what the
bank's own key signed and dead-letters the rest as ``bad_signature`` or ``bank_mismatch``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from kafka import KafkaConsumer

from streams.avro_codec import codec_for
from streams.config import Settings
from streams.deadletter import decode_dead_letter
from streams.producer import district_key, make_producer
from streams.signing import KEY_ID_HEADER, SIG_HEADER, KeyRegistry

from ..helpers import WorkerProcess, test_key_registry, total, wait_until
from . import data

pytestmark = pytest.mark.integration


def _registry(tmp_path: Path) -> Path:
    """The tests' registry plus two SBIN keys of its own: one to revoke later, one revoked already."""
    doc = json.loads(test_key_registry().read_text())
    doc["keys"] += [{"id": "sbin-spare", "bank": "SBIN", "secret": "spare-" * 6, "status": "active"},
                    {"id": "sbin-old", "bank": "SBIN", "secret": "old-" * 8, "status": "revoked"}]
    path = tmp_path / "keys.json"
    path.write_text(json.dumps(doc))
    return path


def _counts(w: WorkerProcess, topic: str) -> dict[str, float]:
    m = w.metrics()
    out = {o: total(m, "digindex_events_total", topic=topic, outcome=o) for o in ("accepted", "rejected")}
    for reason in ("bad_signature", "bank_mismatch"):
        out[reason] = total(m, "digindex_deadletters_total", topic=topic, reason=reason)
    return out


def test_unsigned_forged_foreign_and_revoked_events_are_refused(settings: Settings, tmp_path: Path) -> None:
    keys_path = _registry(tmp_path)
    settings = settings.replace(key_registry=keys_path)
    keys = KeyRegistry.load(keys_path)
    codec = codec_for("PaymentEvent")
    sbin = [{**r, "bank_code": "SBIN"} for r in data.payments(6, seed=21, districts=[45])]
    punb = [{**r, "bank_code": "PUNB", "event_id": "punb-" + r["event_id"]}
            for r in data.payments(1, seed=22, districts=[45])]

    def signed(key_id: str, rec: dict) -> tuple[bytes, bytes, list[tuple[str, bytes]]]:
        key, value = district_key(rec["district_lgd"]), codec.encode(rec)
        return key, value, keys.keys[key_id].sign(key, value)

    k, v, h = signed("sbin-1", sbin[1])
    forged = (k, codec.encode({**sbin[1], "amount_paise": 99_999_999}), h)  # the value changed after signing
    batch = [
        signed("sbin-1", sbin[0]),                         # accepted
        (k, v, []),                                        # unsigned: bad_signature
        forged,                                            # bad_signature
        signed("sbin-1", punb[0]),                         # SBIN's key, PUNB's event: bank_mismatch
        signed("sbin-old", sbin[2]),                       # revoked: bad_signature
        signed("sbin-spare", sbin[3]),                     # accepted (revoked below)
        (k, v, [(KEY_ID_HEADER, b"nobody-1"), (SIG_HEADER, b"A" * 43)]),  # unknown key: bad_signature
    ]
    w = WorkerProcess(settings, tmp_path / "data", tmp_path / "w.log").start().wait_ready()
    topic = settings.payments_topic
    try:
        producer = make_producer(settings)
        for key, value, headers in batch:
            producer.send(topic, key=key, value=value, headers=headers)
        producer.flush()
        wait_until(lambda: sum(_counts(w, topic)[o] for o in ("accepted", "rejected")) >= len(batch), 60,
                   what="the batch processed")
        assert _counts(w, topic) == {"accepted": 2, "rejected": 5, "bad_signature": 4, "bank_mismatch": 1}

        # revoke sbin-spare while the worker runs: it re-reads the registry and refuses the key
        doc = json.loads(keys_path.read_text())
        next(k for k in doc["keys"] if k["id"] == "sbin-spare")["status"] = "revoked"
        keys_path.write_text(json.dumps(doc))
        os.utime(keys_path, (time.time() + 1, time.time() + 1))
        wait_until(lambda: "re-read" in w.log_text(), 30, what="the registry re-read")
        for key, value, headers in (signed("sbin-spare", sbin[4]), signed("sbin-1", sbin[5])):
            producer.send(topic, key=key, value=value, headers=headers)
        producer.flush()
        producer.close()
        wait_until(lambda: sum(_counts(w, topic)[o] for o in ("accepted", "rejected")) >= len(batch) + 2, 60,
                   what="the second batch processed")
        assert _counts(w, topic) == {"accepted": 3, "rejected": 6, "bad_signature": 5, "bank_mismatch": 1}
        consumer = KafkaConsumer(settings.deadletter_topic, bootstrap_servers=settings.bootstrap_servers,
                                 auto_offset_reset="earliest", consumer_timeout_ms=5000)
        letters = [decode_dead_letter(m.value) for m in consumer]
        consumer.close()
        assert sorted(x["reason"] for x in letters) == ["bad_signature"] * 5 + ["bank_mismatch"]
        assert any("revoked" in x["message"] for x in letters)
        assert any("forged or altered" in x["message"] for x in letters)
        assert all("spare-spare" not in repr(x) for x in letters), "no secret in a dead letter"
        assert "spare-spare" not in w.log_text() and "old-old" not in w.log_text()
    finally:
        w.stop()


def test_seeding_is_verified_too(settings: Settings, tmp_path: Path) -> None:
    codec = codec_for("SeedingEvent")
    rec = data.seeding(1, seed=23)[0]
    producer = make_producer(settings)
    producer.send(settings.seeding_topic, key=district_key(rec["district_lgd"]), value=codec.encode(rec))
    producer.flush()
    producer.close()
    w = WorkerProcess(settings, tmp_path / "data", tmp_path / "w.log").start().wait_ready()
    try:
        wait_until(lambda: _counts(w, settings.seeding_topic)["rejected"] >= 1, 60, what="the event refused")
        assert _counts(w, settings.seeding_topic) == {"accepted": 0, "rejected": 1, "bad_signature": 1,
                                                      "bank_mismatch": 0}
    finally:
        w.stop()


def test_a_worker_without_keys_does_not_start(settings: Settings, tmp_path: Path) -> None:
    env = {**os.environ, **settings.to_env()}
    env.pop("DIGINDEX_KEY_REGISTRY")
    result = subprocess.run([sys.executable, "-m", "streams", "worker"], env=env, capture_output=True, text=True,
                            timeout=60, stdin=subprocess.DEVNULL)
    assert result.returncode == 2
    assert "DIGINDEX_KEY_REGISTRY" in result.stderr + result.stdout
