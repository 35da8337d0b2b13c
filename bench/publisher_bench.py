"""How fast ``digindex publish`` is next to kafka-python sending pre-encoded, pre-signed bytes.

Both sides use the same idempotent producer (``make_producer``), the same keys
(``district_key``) and the same embedded broker, and both are timed from creating
the producer to the last acknowledgement. Both send the same messages: the raw side
sends each pre-encoded value with the two signature headers (``digindex-key-id``,
``digindex-sig``) the publisher must send, computed before the clock starts, because
every header byte costs kafka-python (its record encoding, and the CRC-32C over every
batch) as much on one side as on the other. The publisher side additionally reads the
file, coerces and validates every record, Avro-encodes and signs it and checkpoints
every batch. Also timed: the raw side without headers (the baseline before signing,
for comparison with older figures). Prints the rates and ratios, medians of ``--runs``.

    .venv/bin/python bench/publisher_bench.py --records 100000 --format jsonl
"""

from __future__ import annotations

import argparse
import csv
import gc
import io
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from streams.avro_codec import codec_for
from streams.banks import default_banks
from streams.broker import EmbeddedBroker
from streams.config import Settings
from streams.producer import district_key, make_producer
from streams.publisher.run import Job, publish
from streams.signing import Signer, write_registry
from streams.topics import ensure_topics

CHANNELS = ["UPI", "CASH", "DEBIT_CARD", "AEPS", "IMPS", "UPI_QR"]
PURPOSES = ["P2P", "P2M", "BILL_ENERGY", "DBT", "OTHER"]
#: The department a purpose's payments name (the others none), as the simulator's do.
DEPARTMENTS = {"BILL_ENERGY": "ENERGY", "DBT": "EDUCATION"}


def payments(n: int) -> list[dict[str, Any]]:
    """``n`` valid payment records across the 13 Uttarakhand districts."""
    base = int(time.time() * 1000) - 86_400_000
    branches = default_banks().branches_of("SBIN")
    return [{
        "event_id": f"SBIN-{i:09d}",
        "occurred_at": base + i,
        "district_lgd": 45 + i % 13,
        "bank_code": "SBIN",
        "branch_ifsc": branches[i % len(branches)] if i % 3 else None,
        "channel": CHANNELS[i % len(CHANNELS)],
        "amount_paise": 100 + (i * 7919) % 5_000_000,
        "status": "SUCCESS" if i % 17 else "TECHNICAL_DECLINE",
        "purpose": PURPOSES[i % len(PURPOSES)],
        "department_code": DEPARTMENTS.get(PURPOSES[i % len(PURPOSES)]),
    } for i in range(n)]


def write_input(records: list[dict[str, Any]], path: Path, fmt: str) -> None:
    """The records as the file a bank would hand over (ISO timestamps on every other line)."""
    from datetime import UTC, datetime

    rows = []
    for i, r in enumerate(records):
        r = dict(r)
        if i % 2:
            r["occurred_at"] = datetime.fromtimestamp(r["occurred_at"] / 1000, UTC).isoformat()
        rows.append(r)
    if fmt == "csv":
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows({k: "" if v is None else v for k, v in r.items()} for r in rows)
        path.write_text(buf.getvalue(), encoding="utf-8")
    else:
        path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


def signed_headers(settings: Settings, keys: list[bytes], values: list[bytes],
                   bank: str = "SBIN") -> list[list[tuple[str, bytes]] | None]:
    """The signature headers the publisher sends with each message, for the raw side to send too."""
    signer = Signer.from_settings(settings)
    return [signer.headers(bank, key, value) for key, value in zip(keys, values, strict=True)]


def raw_rate(settings: Settings, keys: list[bytes], values: list[bytes],
             headers: list[list[tuple[str, bytes]] | None] | None = None) -> tuple[float, float]:
    """Records per second for plain ``producer.send`` of pre-encoded values (with ``headers``, pre-computed,
    if given), and CPU µs per record."""
    topic = settings.payments_topic
    cpu = time.process_time()
    started = time.perf_counter()
    producer = make_producer(settings)
    send = producer.send
    if headers is None:
        for key, value in zip(keys, values, strict=True):
            send(topic, value=value, key=key)
    else:
        for key, value, h in zip(keys, values, headers, strict=True):
            send(topic, value=value, key=key, headers=h)
    producer.flush()
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu
    producer.close()
    return len(values) / elapsed, cpu / len(values) * 1e6


def publisher_rate(settings: Settings, path: Path, fmt: str, n: int, tmp: Path, run: int) -> tuple[float, float]:
    """Records per second for the publisher on ``path``, end to end, and CPU µs per record."""
    job = Job(source=str(path), kind="payments", bank_code="SBIN", fmt=fmt,
              rejects=tmp / f"rejects-{run}.jsonl", checkpoint=tmp / f"checkpoint-{run}.json",
              create_topics=False)
    cpu = time.process_time()
    started = time.perf_counter()
    out = publish(job, settings)
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu
    if out.exit_code != 0 or out.sent != n:
        sys.exit(f"publisher failed: {out.summary()} {out.error or ''}")
    return n / elapsed, cpu / n * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--format", choices=["jsonl", "csv"], default="jsonl")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as d, EmbeddedBroker() as broker:
        tmp = Path(d)
        path = tmp / f"payments.{args.format}"
        records = payments(args.records)
        write_input(records, path, args.format)
        codec = codec_for("PaymentEvent")
        keys = [district_key(r["district_lgd"]) for r in records]
        values = [codec.encode(r) for r in records]
        # 100k live dicts would make every full garbage collection in both loops slow: keep only bytes.
        del records
        gc.collect()
        settings = Settings().replace(broker=broker.url, payments_topic="bench-payments", topic_partitions=8,
                                      key_registry=write_registry(tmp / "keys.json", ["SBIN"]))
        ensure_topics(settings)
        headers = signed_headers(settings, keys, values)
        raw_rate(settings, keys[:1000], values[:1000], headers[:1000])  # warm up: metadata, connections
        bares, raws, pubs = [], [], []
        for run in range(args.runs):
            bares.append(raw_rate(settings, keys, values))
            raws.append(raw_rate(settings, keys, values, headers))
            pubs.append(publisher_rate(settings, path, args.format, args.records, tmp, run))
            print(f"run {run + 1}: raw signed {raws[-1][0]:,.0f}/s ({raws[-1][1]:.1f} CPU µs/record)  "
                  f"raw unsigned {bares[-1][0]:,.0f}/s ({bares[-1][1]:.1f})  "
                  f"publisher {pubs[-1][0]:,.0f}/s ({pubs[-1][1]:.1f} CPU µs/record)", flush=True)
    bare = statistics.median(r for r, _ in bares)
    raw, pub = statistics.median(r for r, _ in raws), statistics.median(p for p, _ in pubs)
    raw_cpu, pub_cpu = statistics.median(c for _, c in raws), statistics.median(c for _, c in pubs)
    print(f"kafka-python raw send (pre-encoded, pre-signed): {raw:,.0f} records/s  {raw_cpu:.1f} CPU µs/record")
    print(f"kafka-python raw send (pre-encoded, no headers): {bare:,.0f} records/s")
    print(f"digindex publish ({args.format}):{' ' * (22 - len(args.format))}{pub:,.0f} records/s  "
          f"{pub_cpu:.1f} CPU µs/record")
    print(f"ratio: {pub / raw:.2f} (wall-clock rate; {raw_cpu / pub_cpu:.2f} by CPU time per record); "
          f"{pub / bare:.2f} against the unsigned send")


if __name__ == "__main__":
    main()
