"""Grievances against the real broker: every metric equals figures computed here from the events sent.

The oracle (``grievance_oracle``) judges turn-around times with its own table and a fixed +05:30
offset, against today's date in India at the scrape. Transaction dates lie in the
past, so grievances raised while within their turn-around time are past it when scraped, and
others are still within; redelivered copies, refused events and every anomaly are in the feed,
and the worker is SIGKILLed mid-stream and restarted on its data dir.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from streams.config import Settings

from ..helpers import Figures, WorkerProcess, assert_figures, figures, figures_of, produce, total, wait_until
from ..unit.factories import aadhaar_like
from .grievance_oracle import HOUR_MS, SCHEMA, event, feed, india_day, oracle

pytestmark = pytest.mark.integration

KEYS = {"digindex_grievances_open": ("district_lgd", "bank", "tat"),
        "digindex_grievances_resolved_total": ("district_lgd", "bank", "tat"),
        "digindex_grievance_compensation_owed_rupees": ("district_lgd", "bank"),
        "digindex_grievance_anomalies_total": ("district_lgd", "bank", "anomaly"),
        "digindex_grievance_resolved_within_tat_ratio": ("district_lgd", "window"),
        "digindex_grievance_resolved_within_days_ratio": ("district_lgd", "window", "days")}


def exported(w: WorkerProcess) -> Figures:
    return figures(w, KEYS)


def test_grievance_metrics_equal_the_events_sent_across_redelivery_and_sigkill(settings: Settings,
                                                                              tmp_path: Path) -> None:
    now = int(time.time() * 1000)
    if india_day(now + 10 * 60_000) != india_day(now):
        pytest.fail("run 10 minutes away from midnight in India (the oracle's today would move mid-test)")
    events = feed(2500, now)
    bad = [event("bad-t", "RAISED", "BAD-T", now - HOUR_MS, india_day(now) + 1, "OTHER", 45, "SBIN"),
           event("bad-a", "RAISED", f"ref {aadhaar_like()}", now - HOUR_MS, india_day(now), "OTHER", 45, "SBIN")]
    topic = settings.grievances_topic
    w = WorkerProcess(settings, tmp_path / "data", tmp_path / "w1.log").start().wait_ready()
    half = len(events) // 2
    produce(settings, topic, events[:half], schema=SCHEMA)
    wait_until(lambda: total(w.metrics(), "digindex_events_total", topic=topic) >= half, 90, what="first half")
    time.sleep(1.5)  # checkpointed (1 s interval)
    produce(settings, topic, events[half:], schema=SCHEMA)
    # killed mid-way through the second half: the restart restores the checkpoint and replays what came
    # after it, which the grievances table (written per event) already holds
    wait_until(lambda: total(w.metrics(), "digindex_events_total", topic=topic) > half + 200, 90, what="mid-stream")
    w.kill()
    resent = events[:300] + events[-50:]  # a producer retry and a republished file: duplicates by event id
    produce(settings, topic, resent + bad, schema=SCHEMA)
    w2 = WorkerProcess(settings, tmp_path / "data", tmp_path / "w2.log").start()
    try:
        def drained() -> bool:  # by outcome, so that a range handed over twice cannot end the wait early
            m = w2.metrics()
            return (total(m, "digindex_events_total", topic=topic, outcome="accepted") >= len(events)
                    and total(m, "digindex_events_total", topic=topic, outcome="rejected") >= len(bad)
                    and total(m, "digindex_events_total", topic=topic, outcome="duplicate") >= len(resent))

        wait_until(drained, 120, what="drained")
        time.sleep(1.0)  # nothing more must arrive
        m = w2.metrics()
        outcomes = {o: total(m, "digindex_events_total", topic=topic, outcome=o)
                    for o in ("accepted", "duplicate", "rejected", "late")}
        # exact: every re-sent copy is a duplicate, and nothing else is (no range is handed over twice
        # after the restart: tests/worker/test_restart_redelivery_integration.py)
        assert outcomes == {"accepted": len(events), "duplicate": len(resent), "rejected": len(bad), "late": 0}, \
            outcomes
        assert total(m, "digindex_messages_consumed_total", topic=topic) == len(events) + len(resent) + len(bad)
        assert total(m, "digindex_messages_consumed_total", topic=topic) == sum(outcomes.values())
        assert total(m, "digindex_deadletters_total", topic=topic, reason="out_of_range") == 1
        assert total(m, "digindex_deadletters_total", topic=topic, reason="aadhaar_like_value") == 1
        want = oracle(events, india_day(int(time.time() * 1000)), settings.windows, settings.grievance_days)
        got = exported(w2)
        assert_figures(got, want, KEYS)
        # the three planted open grievances: raised within their TAT, one has crossed it since
        assert want["digindex_grievances_open"][("45", "SBIN", "past")] >= 1
        assert got["digindex_grievance_anomalies_total"][("45", "SBIN", "resolved_unknown")] >= 1
        assert sum(v for k, v in got["digindex_grievances_open"].items() if k[2] == "past") > 0
        assert sum(v for k, v in got["digindex_grievances_open"].items() if k[2] == "within") > 0
        assert sum(got["digindex_grievance_anomalies_total"].values()) == sum(
            want["digindex_grievance_anomalies_total"].values()) > 60
    finally:
        w2.stop()


def test_two_workers_one_killed_the_survivor_holds_every_grievance(settings: Settings, tmp_path: Path) -> None:
    """The second half resolves grievances the first half raised: the survivor finds the killed
    worker's grievances in the table it restores from the changelog (a new node for them)."""
    now = int(time.time() * 1000)
    if india_day(now + 10 * 60_000) != india_day(now):
        pytest.fail("run 10 minutes away from midnight in India (the oracle's today would move mid-test)")
    events = feed(1500, now, seed=12)
    half = len(events) // 2
    topic = settings.grievances_topic
    w1 = WorkerProcess(settings, tmp_path / "data-w1", tmp_path / "w1.log").start().wait_ready()
    w2 = WorkerProcess(settings, tmp_path / "data-w2", tmp_path / "w2.log").start()
    try:
        wait_until(lambda: all(total(w.metrics(), "digindex_assigned_partitions", topic=topic) > 0
                               for w in (w1, w2)), 60, what="both workers own grievances partitions")
        produce(settings, topic, events[:half], schema=SCHEMA)
        wait_until(lambda: sum(total(w.metrics(), "digindex_events_total", topic=topic) for w in (w1, w2)) >= half,
                   90, what="first half")
        days = settings.grievance_days
        assert_figures(figures_of([w1, w2], KEYS),
                       oracle(events[:half], india_day(int(time.time() * 1000)), settings.windows, days), KEYS)
        w2.kill()
        produce(settings, topic, events[half:], schema=SCHEMA)
        wait_until(lambda: total(w1.metrics(), "digindex_assigned_partitions", topic=topic)
                   == settings.topic_partitions, 60, what="survivor owns every partition")
        wait_until(lambda: total(w1.metrics(), "digindex_events_total", topic=topic, outcome="accepted")
                   >= len(events), 120, what="survivor drained")
        time.sleep(1.0)
        m = w1.metrics()
        outcomes = {o: total(m, "digindex_events_total", topic=topic, outcome=o)
                    for o in ("accepted", "duplicate", "rejected", "late")}
        # exact: the takeover replays what came after the killed worker's checkpoints, each message once
        assert outcomes == {"accepted": len(events), "duplicate": 0, "rejected": 0, "late": 0}, outcomes
        assert total(m, "digindex_messages_consumed_total", topic=topic) == len(events)
        assert_figures(figures_of([w1], KEYS),
                       oracle(events, india_day(int(time.time() * 1000)), settings.windows, days), KEYS)
    finally:
        w1.stop()
        w2.stop()


def test_resolved_grievances_expire_from_the_store_and_a_restart_ends_the_same(settings: Settings,
                                                                               tmp_path: Path) -> None:
    """Retention 1 day: a grievance resolved 3 days ago (India) is deleted from the table once an event
    of today is checkpointed (a tombstone in its changelog), one resolved yesterday is kept. A second
    resolution of each is then judged by what the store knows: the expired one as a grievance never
    seen (resolved_unknown, a resolution, 3 days late), the kept one as resolved_twice. A SIGKILL and a
    restart on the data dir end with the same figures."""
    from kafka import KafkaConsumer, TopicPartition

    now = int(time.time() * 1000)
    today = india_day(now)
    if india_day(now + 10 * 60_000) != today:
        pytest.fail("run 10 minutes away from midnight in India")

    def noon(d: int, minutes: int = 0) -> int:  # 12:00 in India on day d (06:30 UTC)
        return (d * 86_400 + 6 * 3600 + 1800) * 1000 + minutes * 60_000

    p2p, old, kept = "UPI_P2P_NOT_CREDITED", today - 3, today - 1
    events = [event("r-old", "RAISED", "OLD", noon(old), old - 1, p2p, 45, "SBIN"),  # due on `old`
              event("s-old", "RESOLVED", "OLD", noon(old, 60), old - 1, p2p, 45, "SBIN"),  # within
              event("r-kept", "RAISED", "KEPT", noon(kept), kept - 1, p2p, 45, "SBIN"),
              event("s-kept", "RESOLVED", "KEPT", noon(kept, 60), kept - 1, p2p, 45, "SBIN"),  # within
              event("r-now", "RAISED", "NOW", now - 60_000, today, "OTHER", 45, "SBIN")]
    again = [event("s-old-2", "RESOLVED", "OLD", now - 30_000, old - 1, p2p, 45, "SBIN"),
             event("s-kept-2", "RESOLVED", "KEPT", now - 20_000, kept - 1, p2p, 45, "SBIN")]
    s = settings.replace(grievance_retention=86400.0)
    topic = s.grievances_topic
    w = WorkerProcess(s, tmp_path / "data", tmp_path / "w1.log").start().wait_ready()
    try:
        produce(s, topic, events, schema=SCHEMA)
        wait_until(lambda: total(w.metrics(), "digindex_events_total", topic=topic) >= len(events), 60,
                   what="the first events")
        time.sleep(2.0)  # checkpointed (1 s interval), and the expired grievance deleted after it
        changelog = f"{s.app_id}-grievances-state-changelog"
        consumer = KafkaConsumer(bootstrap_servers=s.bootstrap_servers, consumer_timeout_ms=3000)
        try:
            parts = [TopicPartition(changelog, p) for p in sorted(consumer.partitions_for_topic(changelog) or ())]
            assert parts, changelog
            consumer.assign(parts)
            consumer.seek_to_beginning()
            last = {m.key: m.value for m in consumer}  # the latest record of every key
        finally:
            consumer.close()
        assert last[b"SBIN|OLD"] is None and last[b"SBIN|KEPT"] is not None and last[b"SBIN|NOW"] is not None
        produce(s, topic, again, schema=SCHEMA)
        wait_until(lambda: total(w.metrics(), "digindex_events_total", topic=topic) >= len(events) + len(again),
                   60, what="the second resolutions")
        time.sleep(1.5)
        want = exported(w)
        w.kill()
        w = WorkerProcess(s, tmp_path / "data", tmp_path / "w2.log").start().wait_ready()
        got = wait_until(lambda: (e := exported(w))["digindex_grievances_resolved_total"] and e, 60,
                         what="restored")
        assert got == want
        key = ("45", "SBIN")
        assert {a: got["digindex_grievance_anomalies_total"][(*key, a)] for a in ("resolved_twice",
                "resolved_unknown", "raised_after_resolved", "raised_twice")} == {
            "resolved_twice": 1, "resolved_unknown": 1, "raised_after_resolved": 0, "raised_twice": 0}
        resolved = {t: got["digindex_grievances_resolved_total"][(*key, t)] for t in ("within", "past", "none")}
        assert resolved == {"within": 2, "past": 1, "none": 0}
        assert got["digindex_grievance_compensation_owed_rupees"][key] == 100 * 3  # OLD again: 3 days late
        assert got["digindex_grievances_open"][(*key, "none")] == 1
        m = w.metrics()
        assert total(m, "digindex_events_total", topic=topic, outcome="accepted") == len(events) + len(again)
    finally:
        w.stop()
