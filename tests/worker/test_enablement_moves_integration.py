"""An enablement account that moves to a district of another partition is counted once, in its latest district.

Against the real broker, with two workers sharing the partitions: accounts move (through the
enablement account directory and its releases, as seeding's do), some of their events arrive
newest first, some come back, and every district's figures must end as the oracle of the events
sent (the moved accounts carry no camp_ref: README, Limits).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from streams.config import Settings
from streams.publisher.routing import default_partition
from streams.topics import district_key

from ..helpers import WorkerProcess, figures_of, produce, total, wait_until
from ..unit.factories import enablement_event, enablement_oracle
from .test_enablement_integration import KEYS, SCHEMA

pytestmark = pytest.mark.integration


def _partition(settings: Settings, lgd: int) -> int:
    return default_partition(district_key(lgd), list(range(settings.topic_partitions)))


def test_moved_accounts_are_counted_once_in_their_latest_district(settings: Settings, tmp_path: Path) -> None:
    a = 45
    b = next(d for d in range(46, 58) if _partition(settings, d) != _partition(settings, a))
    now = int(time.time() * 1000) - 600_000
    modes = [("UPI",), (), ("QR",), ("DEBIT_CARD", "AEPS"), ("POS",)]
    base = [enablement_event(f"b{i}", now + i, a if i % 2 else b, "SBIN", f"M{i}",
                             "CURRENT" if i % 5 == 0 else "SAVINGS", modes[i % 5],
                             f"CAMP-{i}" if i >= 150 and i % 3 == 0 else None) for i in range(300)]
    movers = [r for r in base if r["district_lgd"] == a][:60]  # the first 60 of a (no camp_ref among them)
    moves = [{**r, "event_id": f"mv-{i}", "district_lgd": b, "occurred_at": r["occurred_at"] + 5_000,
              "modes": ["UPI"] if i % 2 else []} for i, r in enumerate(movers)]
    back = [{**m, "event_id": f"bk-{i}", "district_lgd": a, "occurred_at": m["occurred_at"] + 5_000,
             "modes": ["MOBILE_BANKING"]} for i, m in enumerate(moves[:10])]
    assert not any(r["camp_ref"] for r in movers)
    first = [r for r in base if r not in movers[40:]]
    topic = settings.enablement_topic
    w1 = WorkerProcess(settings, tmp_path / "w1", tmp_path / "w1.log").start().wait_ready()
    w2 = WorkerProcess(settings, tmp_path / "w2", tmp_path / "w2.log").start()
    workers = [w1, w2]
    try:
        wait_until(lambda: all(total(w.metrics(), "digindex_assigned_partitions", topic=topic) > 0
                               for w in workers), 60, what="both workers own enablement partitions")
        produce(settings, topic, moves[40:], schema=SCHEMA)  # newest first
        produce(settings, topic, first, schema=SCHEMA)
        produce(settings, topic, movers[40:], schema=SCHEMA)  # the stale copies, counted in a until released
        produce(settings, topic, moves[:40], schema=SCHEMA)
        produce(settings, topic, back, schema=SCHEMA)
        # the oracle's latest-wins over the whole feed: the order of sending does not matter for it
        want = enablement_oracle(base + moves + back)
        assert want["digindex_enablement_accounts"][(str(b), "SAVINGS")] >= 50
        sent = len(base) + len(moves) + len(back)

        def settled() -> bool:
            applied = sum(total(w.metrics(), "digindex_events_total", topic=topic, outcome=o)
                          for w in workers for o in ("accepted", "late"))
            return applied >= sent and figures_of(workers, KEYS) == want

        wait_until(settled, 120, interval=1.0, what="enablement figures as the oracle")
    finally:
        for w in workers:
            w.stop()
