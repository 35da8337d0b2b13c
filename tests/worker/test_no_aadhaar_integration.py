"""No Aadhaar number in any output (issue 9, item 3): every form, through every path, searched everywhere.

Verhoeff-valid numbers, each written every way ``tests.unit.factories.aadhaar_forms`` knows
(plain, 4-4-4 with every separator, fullwidth, Devanagari, mixed...), go in through every
path: ``digindex publish`` (JSON Lines, raw UTF-8 and \\u-escaped, and CSV), a foreign
kafka-python producer sending raw bytes as the value, inside Avro strings, as the key and in
headers, to a worker running at ``--log-level debug``, and the CLI's own error messages.
Then every output is searched: every topic (changelogs, the seeding directory and releases,
dead letters; the source topics up to where the foreign producer began, since what a foreign
producer writes there is its own), every file of the worker's data dir (RocksDB SSTs, WALs,
manifests, raw bytes), the worker's, publisher's and CLI's output, the rejects files, /metrics.

The search does not use the detector under test: every text found (and every base64 token,
``\\xNN`` and ``\\uNNNN`` escape in it, decoded) is reduced to its digits, read through NFKC
and ``unicodedata.decimal``, and searched for each number pushed. Each (path, form) pair has
its own number, so a leak names where it came in.
"""

from __future__ import annotations

import base64
import binascii
import json
import random
import re
import subprocess
import sys
import unicodedata
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from streams.avro_codec import codec_for
from streams.config import Settings
from streams.producer import district_key

from ..helpers import SigningProducer, WorkerProcess, total, wait_until
from ..publisher.data import PAYMENT_FIELDS, env_for, payment, seeding, write_csv
from ..unit.factories import aadhaar_forms, aadhaar_like

pytestmark = pytest.mark.integration


class Numbers:
    """A fresh Verhoeff-valid number per (path, form), remembered for the search."""

    def __init__(self, seed: int = 9) -> None:
        self.rng = random.Random(seed)
        self.where: dict[str, str] = {}

    def forms(self, path: str) -> Iterator[tuple[str, str]]:
        for name in aadhaar_forms("2" * 12):
            prefix = str(self.rng.randrange(2, 10)) + "".join(self.rng.choice("0123456789") for _ in range(10))
            number = aadhaar_like(prefix)
            self.where[number] = f"{path} / {name}"
            yield name, aadhaar_forms(number)[name]


_NOT_ASCII_DIGIT = re.compile(r"[^0-9]")


def _digits(text: str) -> str:
    """Every decimal digit in ``text``, of any script, each character NFKC-normalised first.

    ASCII is its own normal form, and its only decimal digits are 0-9: those characters take a
    regex, not ``unicodedata`` (the scan of the logs and RocksDB files took 300 s under load)."""
    if text.isascii():
        return _NOT_ASCII_DIGIT.sub("", text)
    out = []
    for c in text:
        if c.isascii():
            if "0" <= c <= "9":
                out.append(c)
            continue
        for ch in unicodedata.normalize("NFKC", c):
            value = unicodedata.decimal(ch, None)
            if value is not None:
                out.append(str(value))
    return "".join(out)


_B64 = re.compile(r"[A-Za-z0-9+/_-]{16,}={0,2}")
_HEX_ESCAPES = re.compile(r"(?:\\x[0-9a-fA-F]{2})+")
_U_ESCAPE = re.compile(r"\\u([0-9a-fA-F]{4})")


def _texts(data: bytes, depth: int = 0) -> Iterator[str]:
    """``data`` as text, and every encoding hidden in it decoded (base64, ``\\xNN``, ``\\uNNNN``)."""
    text = data.decode("utf-8", "ignore")
    yield text
    # each decoding only where it changes something (a whole RocksDB file or log is scanned once, not three times)
    if "\\x" in text:
        yield _HEX_ESCAPES.sub(lambda m: bytes.fromhex(m.group().replace("\\x", "")).decode("utf-8", "ignore"), text)
    if "\\u" in text:
        yield _U_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), text)
    if depth < 3:
        for token in set(_B64.findall(text)):
            padded = token + "=" * (-len(token) % 4)
            decoders = (base64.b64decode, base64.urlsafe_b64decode) if any(c in token for c in "+/_-") else (
                base64.b64decode,)  # without those characters both alphabets read the same bytes
            for decode in decoders:
                try:
                    inner = decode(padded)
                except (binascii.Error, ValueError):
                    continue
                yield from _texts(inner, depth + 1)


def _leaks(numbers: Numbers, data: bytes) -> list[str]:
    digits = "".join(_digits(t) + "|" for t in _texts(data))
    return [where for number, where in numbers.where.items() if number in digits]


def _all_messages(settings: Settings, skip_from: dict[TopicPartition, int]) -> Iterator[tuple[str, bytes]]:
    consumer = KafkaConsumer(bootstrap_servers=settings.bootstrap_servers, consumer_timeout_ms=4000)
    try:
        topics = sorted(consumer.topics())
        parts = [TopicPartition(t, p) for t in topics for p in sorted(consumer.partitions_for_topic(t) or ())]
        consumer.assign(parts)
        consumer.seek_to_beginning()
        for msg in consumer:
            tp = TopicPartition(msg.topic, msg.partition)
            if tp in skip_from and msg.offset >= skip_from[tp]:
                continue  # what the foreign producer itself wrote to a source topic
            where = f"topic {msg.topic}[{msg.partition}]@{msg.offset}"
            yield f"{where} key", msg.key or b""
            yield f"{where} value", msg.value or b""
            for hk, hv in msg.headers or []:
                yield f"{where} header", hk.encode() + b"=" + (hv or b"")
    finally:
        consumer.close()
    assert any(t == settings.deadletter_topic for t in topics)


def _end_offsets(settings: Settings, topics: list[str]) -> dict[TopicPartition, int]:
    consumer = KafkaConsumer(bootstrap_servers=settings.bootstrap_servers)
    try:
        parts = [TopicPartition(t, p) for t in topics for p in sorted(consumer.partitions_for_topic(t) or ())]
        return dict(consumer.end_offsets(parts))
    finally:
        consumer.close()


def _publish(settings: Settings, path: Path, kind: str, rejects: Path) -> tuple[str, str]:
    proc = subprocess.run([sys.executable, "-m", "streams", "publish", str(path), "--kind", kind, "--bank", "SBIN",
                           "--rejects", str(rejects)], env=env_for(settings), capture_output=True, timeout=120)
    return proc.stdout.decode(errors="replace"), proc.stderr.decode(errors="replace")


def test_no_aadhaar_number_in_any_output(settings: Settings, tmp_path: Path) -> None:
    numbers = Numbers()
    settings = settings.replace(log_level="debug")
    outputs: dict[str, bytes] = {}
    w = WorkerProcess(settings, tmp_path / "data", tmp_path / "worker.log").start().wait_ready()
    try:
        # 1. digindex publish: JSON Lines (raw UTF-8 and \u-escaped) and CSV; every record with a number refused
        lines, i = [], 0
        for field, escaped in (("event_id", False), ("branch_ifsc", True), ("unknown_field", False)):
            for _, form in numbers.forms(f"publish jsonl payments.{field}{' (escaped)' if escaped else ''}"):
                lines.append(json.dumps(payment(i, **{field: form}), ensure_ascii=escaped))
                i += 1
        for _, form in numbers.forms("publish jsonl broken line"):
            lines.append('{"event_id": "' + form + '", ')
        lines += [json.dumps(payment(1000 + j)) for j in range(20)]
        jsonl = tmp_path / "payments.jsonl"
        jsonl.write_text("\n".join(lines) + "\n", encoding="utf-8")
        seeds = [json.dumps(seeding(j, account_ref=form), ensure_ascii=False)
                 for j, (_, form) in enumerate(numbers.forms("publish jsonl seeding.account_ref"))]
        seeds += [json.dumps(seeding(1000 + j)) for j in range(20)]
        seeding_file = tmp_path / "seeding.jsonl"
        seeding_file.write_text("\n".join(seeds) + "\n", encoding="utf-8")
        rows = [payment(2000 + j, event_id=form) for j, (_, form) in enumerate(numbers.forms("publish csv event_id"))]
        rows += [payment(3000 + j) for j in range(20)]
        csv_file = write_csv(tmp_path / "payments.csv", rows, PAYMENT_FIELDS)
        for path, kind in ((jsonl, "payments"), (seeding_file, "seeding"), (csv_file, "payments")):
            rejects = tmp_path / f"{path.name}.rejects.jsonl"
            out, err = _publish(settings, path, kind, rejects)
            outputs[f"publish {path.name} stdout"], outputs[f"publish {path.name} stderr"] = out.encode(), err.encode()
            assert "sent=20 " in out, (out, err)
            outputs[f"rejects {path.name}"] = rejects.read_bytes()
        wait_until(lambda: total(w.metrics(), "digindex_events_total", topic=settings.payments_topic) >= 40
                   and total(w.metrics(), "digindex_events_total", topic=settings.seeding_topic) >= 20,
                   90, what="published events counted")
        foreign_from = _end_offsets(settings, [settings.payments_topic, settings.seeding_topic])

        # 2. a foreign producer: raw bytes as value, Avro strings, key, headers
        pay, seed = codec_for("PaymentEvent"), codec_for("SeedingEvent")
        producer = SigningProducer(KafkaProducer(bootstrap_servers=settings.bootstrap_servers), settings)
        n_pay = n_seed = rejected = 0

        def good(tag: str) -> bytes:
            return pay.encode({**payment(0, event_id=f"foreign-{tag}", bank_code="SBIN"), "district_lgd": 45})

        for _, form in numbers.forms("foreign Avro event_id"):
            producer.send(settings.payments_topic, key=district_key(45),
                          value=pay.encode({**payment(0, bank_code="SBIN"), "event_id": form, "district_lgd": 45}))
            n_pay, rejected = n_pay + 1, rejected + 1
        for name, form in numbers.forms("foreign Avro account_ref"):
            producer.send(settings.seeding_topic, key=district_key(45),
                          value=seed.encode({**seeding(0, bank_code="SBIN"), "event_id": f"s-{name}",
                                             "account_ref": form, "district_lgd": 45}))
            n_seed, rejected = n_seed + 1, rejected + 1
        for _, form in numbers.forms("foreign raw value"):
            producer.send(settings.payments_topic, key=district_key(45), value=f"acct {form}".encode())
            n_pay, rejected = n_pay + 1, rejected + 1
        for name, form in numbers.forms("foreign raw key"):
            producer.send(settings.payments_topic, key=form.encode(), value=good(f"k-{name}"))
            n_pay += 1
        for _, form in numbers.forms("foreign raw key of a malformed value"):
            producer.send(settings.payments_topic, key=form.encode(), value=b"\x00garbage")
            n_pay, rejected = n_pay + 1, rejected + 1
        for name, form in numbers.forms("foreign headers"):
            producer.send(settings.payments_topic, key=district_key(45), value=good(f"h-{name}"),
                          headers=[("x-customer", form.encode()), (f"x-{form}", b"1")])
            n_pay += 1
        producer.flush()
        producer.close()

        def done() -> bool:
            m = w.metrics()
            return (total(m, "digindex_events_total", topic=settings.payments_topic) >= 40 + n_pay
                    and total(m, "digindex_events_total", topic=settings.seeding_topic) >= 20 + n_seed
                    and total(m, "digindex_deadletters_total") >= rejected)
        wait_until(done, 120, what="foreign events counted and dead-lettered")
        m = w.metrics()
        assert total(m, "digindex_deadletters_total", reason="aadhaar_like_value") >= len(aadhaar_forms("2" * 12)) * 2
        with urllib.request.urlopen(f"http://127.0.0.1:{w.port}/metrics", timeout=5) as r:
            outputs["/metrics"] = r.read()
        with urllib.request.urlopen(f"http://127.0.0.1:{w.port}/healthz", timeout=5) as r:
            outputs["/healthz"] = r.read()
        wait_until(lambda: sum(1 for label, _ in _all_messages(settings, foreign_from)
                               if label.startswith(f"topic {settings.deadletter_topic}[") and label.endswith("value")
                               ) >= rejected, 60, what="dead letters delivered")
    finally:
        w.stop()

    # 3. the CLI's errors
    for name, form in numbers.forms("CLI error"):
        proc = subprocess.run([sys.executable, "-m", "streams", "worker", "--log-level", form],
                              capture_output=True, timeout=60)
        assert proc.returncode == 2
        outputs[f"CLI error {name}"] = proc.stdout + proc.stderr

    log = w.log.read_bytes()
    assert b"DEBUG" in log, "the worker ran at debug level"
    outputs["worker log"] = log
    for label, data in _all_messages(settings, foreign_from):
        outputs[label] = data
    files = [p for p in (tmp_path / "data").rglob("*") if p.is_file()]
    assert any(p.suffix == ".sst" or p.name.endswith(".log") for p in files), "the RocksDB files are there"
    for p in files:
        outputs[f"file {p.relative_to(tmp_path)}"] = p.read_bytes()

    leaks = {label: found for label, data in outputs.items() if (found := _leaks(numbers, data))}
    assert not leaks, f"Aadhaar numbers found in outputs: {json.dumps(leaks, indent=1, ensure_ascii=False)[:4000]}"
