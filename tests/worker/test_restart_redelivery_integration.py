"""Restarts on a backlog hand every message to the processor once: the totals stay exact, not only the figures.

After a restart the recovery hook rewinds each partition to its checkpoint (``streams.recovery``),
then Faust resumes the partitions and seeks them to the committed offsets once more. A batch
fetched between the two seeks used to be applied and then fetched and handed over again: the
figures stayed right (deduplicated by event id), but the range was counted twice as duplicates
(396 to 1,754 messages a restart, refused ones twice with two dead letters each). Every round here
restarts a SIGKILLed worker with a backlog waiting, the condition that race needs; one round in
three to five hit it on a loaded machine before the fix (``streams.faust_transport``).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from streams.config import Settings

from ..helpers import WorkerProcess, produce, total, wait_until
from .data import payments

pytestmark = pytest.mark.integration

ROUNDS = 6
CHUNK = 1500


def test_sigkilled_restarts_on_a_backlog_count_each_message_once(settings: Settings, tmp_path: Path) -> None:
    topic = settings.payments_topic
    events = payments(ROUNDS * CHUNK, seed=7)
    sent = 0
    for i in range(ROUNDS):
        produce(settings, topic, events[sent:sent + CHUNK])  # the backlog the restart finds
        sent += CHUNK
        w = WorkerProcess(settings, tmp_path / "data", tmp_path / f"w{i}.log").start()
        try:
            wait_until(lambda w=w, n=sent: total(w.metrics(), "digindex_events_total", topic=topic) >= n, 90,
                       what=f"round {i} drained")
            m = w.metrics()
            outcomes = {o: total(m, "digindex_events_total", topic=topic, outcome=o)
                        for o in ("accepted", "duplicate", "rejected", "late")}
            assert outcomes == {"accepted": sent, "duplicate": 0, "rejected": 0, "late": 0}, (i, outcomes)
            assert total(m, "digindex_messages_consumed_total", topic=topic) == sent, i
        finally:
            w.kill()  # SIGKILL: the next round restores the last checkpoint and replays the rest
