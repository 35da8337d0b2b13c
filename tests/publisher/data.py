"""Input files and a topic reader for the publisher tests."""

from __future__ import annotations

import csv
import json
import os
import time
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from kafka import KafkaConsumer, TopicPartition

from streams.avro_codec import codec_for
from streams.config import Settings

#: 2021-03-31T10:15:00+05:30, the Almora pilot's target date, in epoch milliseconds.
T0 = 1_617_165_900_000
#: What the factories stamp: a minute boundary a day ago (well within the dedupe horizon, so the
#: publisher sends it), and the same instant written as a bank would in IST and in UTC.
RECENT = (int(time.time()) // 60 - 24 * 60) * 60_000
RECENT_IST = datetime.fromtimestamp(RECENT / 1000, timezone(timedelta(hours=5, minutes=30))).isoformat()
RECENT_UTC = datetime.fromtimestamp(RECENT / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
PAYMENT_FIELDS = ["event_id", "occurred_at", "district_lgd", "bank_code", "branch_ifsc", "channel",
                  "amount_paise", "status", "purpose"]


def payment(i: int, **over: Any) -> dict[str, Any]:
    """A valid payment record as a bank would write it (no bank_code: --bank fills it in)."""
    rec: dict[str, Any] = {
        "event_id": f"TXN-{i:07d}", "occurred_at": RECENT + i * 1000, "district_lgd": 45 + i % 13,
        "branch_ifsc": f"SBIN0{i % 500:06d}" if i % 2 else None, "channel": ["UPI", "CASH", "AEPS"][i % 3],
        "amount_paise": 100 + i, "status": "SUCCESS", "purpose": "P2M",
    }
    rec.update(over)
    return rec


def seeding(i: int, **over: Any) -> dict[str, Any]:
    rec: dict[str, Any] = {"event_id": f"SEED-{i:07d}", "occurred_at": RECENT + i, "district_lgd": 45 + i % 13,
                           "account_ref": f"ACC-{i:06d}", "status": "SEEDED" if i % 4 else "NOT_SEEDED"}
    rec.update(over)
    return rec


def write_jsonl(path: Path, lines: list[dict[str, Any] | str]) -> Path:
    """One line per item: dicts as JSON, strings verbatim (for broken lines)."""
    path.write_text("".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines), encoding="utf-8")
    return path


def write_csv(path: Path, records: list[dict[str, Any]], fields: list[str] | None = None) -> Path:
    fields = fields or list(records[0])
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        w.writerows({k: "" if r.get(k) is None else r[k] for k in fields} for r in records)
    return path


def consume(settings: Settings, topic: str, expect: int, kind: str | None = "PaymentEvent", settle: float = 1.0,
            timeout: float = 60.0) -> list[tuple[bytes, int, Any]]:
    """Every record on ``topic`` as (key, partition, value decoded as ``kind``; raw bytes if None).

    Reads until at least ``expect`` records have arrived and nothing more for ``settle``
    seconds, so extra copies (duplicates) are counted too. (tansu's ListOffsets does not
    report record offsets, so the end offsets cannot tell how many there are.)
    """
    decode = codec_for(kind).decode if kind else bytes
    consumer = KafkaConsumer(bootstrap_servers=settings.bootstrap_servers, enable_auto_commit=False)
    try:
        parts = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        consumer.assign(parts)
        consumer.seek_to_beginning(*parts)
        out: list[tuple[bytes, int, Any]] = []
        deadline = time.monotonic() + timeout
        last_new = time.monotonic()
        while len(out) < expect or time.monotonic() - last_new < settle:
            assert time.monotonic() < deadline, f"read {len(out)} of {expect} records from {topic}"
            for tp, msgs in consumer.poll(timeout_ms=200, max_records=20_000).items():
                out.extend((m.key, tp.partition, decode(m.value)) for m in msgs)
                last_new = time.monotonic()
        return out
    finally:
        consumer.close()


def env_for(settings: Settings) -> dict[str, str]:
    """The environment that points a ``digindex`` child process at ``settings``' broker and topics."""
    return {**os.environ, "DIGINDEX_BROKER": settings.broker, "DIGINDEX_PAYMENTS_TOPIC": settings.payments_topic,
            "DIGINDEX_SEEDING_TOPIC": settings.seeding_topic, "DIGINDEX_DEADLETTER_TOPIC": settings.deadletter_topic,
            "DIGINDEX_TOPIC_PARTITIONS": str(settings.topic_partitions),
            "DIGINDEX_KEY_REGISTRY": str(settings.key_registry)}
