"""The digindex worker with Faust tuned from the outside: evidence for suggested changes, not a fix.

``python bench/patched_worker.py`` runs exactly ``python -m streams worker`` (settings from the
``DIGINDEX_*`` environment), after applying the experiments named in ``BENCH_PATCH``
(comma-separated):

- ``fetch_wait=MS``: the consumer's ``fetch_max_wait_ms`` (Faust 0.15 hard-codes 1500 in
  ``faust/transport/drivers/aiokafka.py``; the embedded tansu broker holds a fetch that long
  when no data is waiting instead of answering as soon as some arrives).
- ``lean_apply``: ``PaymentPartitionState.apply`` only counts the event (no checks, dedupe,
  windows): what the worker costs without its index logic.
- ``lean_decode``: ``AvroCodec.decode`` returns a fixed record (no Avro): ditto for decoding.
- ``gc_freeze``: ``gc.freeze()`` once started and a gen-0 threshold of 50,000 (is the cyclic
  collector a per-event cost?).

The lean ones break the index on purpose: they only measure what digindex's own per-event
code costs inside the Faust worker, next to the unpatched worker in the same run.

Faust settings that have an environment name need no patch: e.g. ``PRODUCER_LINGER=0.05``
(seconds) in the worker's environment sets ``producer_linger``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any


def apply(patches: str) -> None:
    for item in filter(None, (p.strip() for p in patches.split(","))):
        name, _, value = item.partition("=")
        if name == "fetch_wait":
            from faust.transport.drivers import aiokafka as driver

            original = driver.AIOKafkaConsumerThread._create_worker_consumer
            wait_ms = int(value)

            def create(self: Any, transport: Any, _original: Any = original, _wait: int = wait_ms) -> Any:
                consumer = _original(self, transport)
                consumer._fetch_max_wait_ms = _wait  # read by the Fetcher created in start()
                return consumer

            driver.AIOKafkaConsumerThread._create_worker_consumer = create
        elif name == "lean_apply":
            from streams.payments.state import PaymentPartitionState

            def lean_apply(self: Any, record: dict[str, Any], offset: int, now_ms: int) -> str:
                self.offset = offset
                self.applied_since_checkpoint += 1
                self.outcomes["accepted"] += 1
                return "accepted"

            PaymentPartitionState.apply = lean_apply  # type: ignore[method-assign]
        elif name == "lean_decode":
            import time

            from streams.avro_codec import AvroCodec

            fixed = {"event_id": "x", "occurred_at": int(time.time() * 1000), "district_lgd": 45,
                     "bank_code": "SBIN", "branch_ifsc": None, "channel": "UPI", "amount_paise": 100,
                     "status": "SUCCESS", "purpose": "P2P"}
            AvroCodec.decode = lambda self, data, _fixed=fixed: _fixed  # type: ignore[method-assign]
        elif name == "gc_freeze":
            import gc

            gc.freeze()
            gc.set_threshold(50_000, 20, 100)
        else:
            raise SystemExit(f"unknown BENCH_PATCH item: {item}")


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    apply(os.environ.get("BENCH_PATCH", ""))
    from streams.cli import main

    raise SystemExit(main(["worker"]))
