"""5. Publisher: ``digindex publish`` from a JSON Lines file next to kafka-python sending the same messages.

The harness's wrapper around ``bench/publisher_bench.py`` (the publisher's own benchmark, which
also runs alone): same records, same broker, same idempotent producer settings, alternating
raw and publisher runs. The publisher runs **in-process**: ``streams.publisher.run.publish`` —
what ``digindex publish FILE --kind payments --bank SBIN`` calls after parsing its flags —
timed from opening the file to the last acknowledgement and checkpoint (reading, coercion,
validation, Avro encoding, signing, per-batch flush + checkpoint included). The raw side is
timed from creating the producer to the last acknowledgement.

The raw side sends what the publisher sends: each pre-encoded value **with its two signature
headers** (``digindex-key-id``, ``digindex-sig``), computed before the clock starts. Since
signing (issue 9) every message carries ~80 header bytes that kafka-python encodes per record
and checksums (CRC-32C) per batch; a raw side without them measured a cheaper message than the
publisher is allowed to send (0.38x "against" it, 2026-12-01). The bar (>= 0.5x) is against
the signed raw send; the unsigned raw send is still timed and reported, for the older figures.

    .venv/bin/python -m bench.publisher [--quick] [--records 100000] [--runs 3]
"""

from __future__ import annotations

import argparse
import gc
import tempfile
from pathlib import Path
from typing import Any

from streams.avro_codec import codec_for
from streams.producer import district_key
from streams.topics import ensure_topics

from .common import FULL, QUICK, Bar, Profile, bench_settings, embedded_broker, median, print_table, write_result
from .publisher_bench import payments, publisher_rate, raw_rate, signed_headers, write_input

__all__ = ["run"]


def _split(result: Any) -> tuple[float, float]:
    """(records/s, CPU us per record) from publisher_bench's helpers (older ones return the rate only)."""
    if isinstance(result, tuple):
        return float(result[0]), float(result[1])
    return float(result), float("nan")


def run(profile: Profile, records: int | None = None, runs: int | None = None, fmt: str = "jsonl") -> dict[str, Any]:
    n = records or profile.publisher_records
    runs = runs or profile.publisher_runs
    print(f"== 5. publisher: {n:,} {fmt} records, {runs} run(s) ==", flush=True)
    recs = payments(n)
    codec = codec_for("PaymentEvent")
    keys = [district_key(r["district_lgd"]) for r in recs]
    values = [codec.encode(r) for r in recs]
    raws: list[float] = []
    bares: list[float] = []
    pubs: list[float] = []
    cpu: dict[str, list[float]] = {"raw": [], "raw_unsigned": [], "publisher": []}
    with tempfile.TemporaryDirectory(prefix="bench-pub-") as d, embedded_broker("pub") as b:
        tmp = Path(d)
        path = tmp / f"payments.{fmt}"
        write_input(recs, path, fmt)
        del recs  # as publisher_bench does: live dicts would slow every full collection in both loops
        gc.collect()
        settings = bench_settings(b.url, "pub")
        ensure_topics(settings)
        headers = signed_headers(settings, keys, values)
        raw_rate(settings, keys[:1000], values[:1000], headers[:1000])  # warm up: metadata, connections
        for r in range(runs):
            order = ("raw", "raw_unsigned", "publisher") if r % 2 == 0 else ("publisher", "raw_unsigned", "raw")
            for side in order:
                if side == "raw":
                    rate, us = _split(raw_rate(settings, keys, values, headers))
                    raws.append(rate)
                elif side == "raw_unsigned":
                    rate, us = _split(raw_rate(settings, keys, values))
                    bares.append(rate)
                else:
                    rate, us = _split(publisher_rate(settings, path, fmt, n, tmp, r))
                    pubs.append(rate)
                cpu[side].append(us)
            print(f"  run {r + 1}: raw signed {raws[-1]:,.0f}/s  raw unsigned {bares[-1]:,.0f}/s  "
                  f"publisher {pubs[-1]:,.0f}/s", flush=True)
    raw, bare, pub = median(raws), median(bares), median(pubs)
    table = print_table(f"Publisher ({n:,} {fmt} records, median of {runs})", ["sender", "records/s", "runs", "ratio"],
                        [("kafka-python, pre-encoded + signed", raw, " / ".join(f"{x:,.0f}" for x in raws), "1.00x"),
                         ("kafka-python, pre-encoded, no headers", bare, " / ".join(f"{x:,.0f}" for x in bares),
                          f"{bare / raw:.2f}x"),
                         (f"digindex publish ({fmt}, in-process)", pub, " / ".join(f"{x:,.0f}" for x in pubs),
                          f"{pub / raw:.2f}x")])
    bars = [Bar("publisher / raw pre-encoded signed send", pub / raw, 0.5)]
    return {"records": n, "runs": runs, "format": fmt, "mode": "in-process streams.publisher.run.publish",
            "raw_headers": "the publisher's signature headers, pre-computed",
            "raw": raws, "raw_unsigned": bares, "publisher": pubs, "median_raw": raw, "median_raw_unsigned": bare,
            "median_publisher": pub, "ratio": pub / raw, "ratio_unsigned": pub / bare,
            "cpu_us_per_record": {k: median([x for x in v if x == x]) for k, v in cpu.items()},
            "table": table, "bars": [x.as_dict() for x in bars], "_bars": bars}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--records", type=int)
    p.add_argument("--runs", type=int)
    p.add_argument("--format", choices=["jsonl", "csv"], default="jsonl")
    args = p.parse_args()
    out = run(QUICK if args.quick else FULL, args.records, args.runs, args.format)
    for bar in out.pop("_bars"):
        print(bar.line())
    print(f"wrote {write_result('publisher', out)}")


if __name__ == "__main__":
    main()
