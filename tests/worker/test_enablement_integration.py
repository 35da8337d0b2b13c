"""Digital enablement against the real broker: every metric equals figures computed here from the events sent.

The oracle (``tests.unit.factories.enablement_oracle``) applies the coverage rule written out
again, latest occurred_at per account (ties by event id), and counts a camp enablement where an
event with a camp_ref makes a not enabled (or unknown) account enabled. The feed has accounts
enabled, disabled (an empty set, or a savings account left with POS/QR only) and enabled again at
a camp, superseded events, redelivered copies and refused ones; the worker is SIGKILLed mid-stream
and restarted on its data dir, and two workers share the partitions with one SIGKILLed.
"""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Any

import pytest

from streams.config import Settings

from ..helpers import Figures, WorkerProcess, assert_figures, figures, figures_of, produce, select, total, wait_until
from ..unit.factories import aadhaar_like, enablement_event, enablement_oracle
from .data import DISTRICTS

pytestmark = pytest.mark.integration

SCHEMA = "AccountEnablementEvent"
BANKS = ["SBIN", "PUNB", "BARB"]
MODES = ["DEBIT_CARD", "INTERNET_BANKING", "MOBILE_BANKING", "UPI", "AEPS", "POS", "QR", "OTHER"]
KEYS = {"digindex_digital_enablement_ratio": ("district_lgd", "account_type"),
        "digindex_enablement_accounts": ("district_lgd", "account_type"),
        "digindex_enabled_accounts": ("district_lgd", "account_type", "mode"),
        "digindex_camp_enablements_total": ("district_lgd",)}


def feed(accounts: int, now: int, seed: int = 21) -> list[dict[str, Any]]:
    """1-4 events per account within the last day; some arrive out of order; the planted life cycles."""
    rng = random.Random(seed)
    out: list[dict[str, Any]] = []
    n = 0
    for i in range(accounts):
        lgd, bank = DISTRICTS[i % len(DISTRICTS)], rng.choice(BANKS)
        account_type = "CURRENT" if rng.random() < 0.25 else "SAVINGS"
        at = now - rng.randrange(3_600_000, 86_400_000)
        for _ in range(rng.randrange(1, 5)):
            modes = rng.sample(MODES, rng.choice((0, 1, 1, 2, 3)))
            camp = f"CAMP-{rng.randrange(5)}" if rng.random() < 0.3 else None
            out.append(enablement_event(f"n{n}", at, lgd, bank, f"A{i}", account_type, tuple(modes), camp))
            n += 1
            at += rng.randrange(1, 600_000)
    rng.shuffle(out)  # sent in any order: the later occurred_at wins, the earlier ones are late
    # enabled at a camp, disabled (empty), savings-irrelevant (QR only), enabled again at a camp, in
    # every district: two camp enablements each, in order
    for lgd in DISTRICTS:
        t = now - 1_800_000
        life = [("UPI",), (), ("QR", "POS"), ("AEPS", "OTHER")]
        for j, modes in enumerate(life):
            out.append(enablement_event(f"life-{lgd}-{j}", t + j, lgd, "SBIN", f"LIFE-{lgd}", "SAVINGS", modes,
                                        None if j in (1, 2) else f"CAMP-L{lgd}"))
    return out


def exported(w: WorkerProcess) -> Figures:
    return figures(w, KEYS)


def test_enablement_metrics_equal_the_events_sent_with_redelivery(settings: Settings, tmp_path: Path) -> None:
    """One worker: superseded events, re-sent copies (camp enablements among them), two refusals."""
    now = int(time.time() * 1000)
    events = feed(1500, now, seed=23)
    camps = [e for e in events if e["camp_ref"] is not None]
    resent = events[:200] + camps[-60:]
    bad = [enablement_event("bad-ref", now - 1000, 45, "SBIN", ""),
           enablement_event("bad-a", now - 1000, 45, "SBIN", f"ref {aadhaar_like()}")]
    topic = settings.enablement_topic
    w = WorkerProcess(settings, tmp_path / "data", tmp_path / "w1.log").start().wait_ready()
    try:
        produce(settings, topic, events[:1000], schema=SCHEMA)
        produce(settings, topic, resent + events[1000:] + bad + camps[:30], schema=SCHEMA)
        n = len(events) + len(resent) + len(bad) + 30
        wait_until(lambda: total(w.metrics(), "digindex_events_total", topic=topic) >= n, 90, what="drained")
        time.sleep(1.0)  # nothing more must arrive
        m = w.metrics()
        outcomes = {o: total(m, "digindex_events_total", topic=topic, outcome=o)
                    for o in ("accepted", "duplicate", "rejected", "late")}
        assert outcomes["accepted"] + outcomes["late"] == len(events) and outcomes["late"] > 100, outcomes
        assert outcomes["duplicate"] == len(resent) + 30 and outcomes["rejected"] == len(bad), outcomes
        assert total(m, "digindex_messages_consumed_total", topic=topic) == n
        assert total(m, "digindex_deadletters_total", topic=topic, reason="out_of_range") == 1
        assert total(m, "digindex_deadletters_total", topic=topic, reason="aadhaar_like_value") == 1
        # in the order sent: a re-sent copy that arrives before its original is the one applied
        want = enablement_oracle(events[:1000] + resent + events[1000:])
        assert_figures(exported(w), want, KEYS)
        # every district has its planted life (enabled at a camp, disabled, QR only, enabled at a camp)
        assert all(want["digindex_camp_enablements_total"][(str(d),)] >= 2 for d in DISTRICTS)
        ratios = want["digindex_digital_enablement_ratio"].values()
        assert any(0 < r < 1 for r in ratios) and len(ratios) == 2 * len(DISTRICTS)
        assert len(select(m, "digindex_last_event_timestamp_seconds", topic=topic)) == len(DISTRICTS)
    finally:
        w.stop()


def test_enablement_metrics_equal_the_events_sent_across_redelivery_and_sigkill(settings: Settings,
                                                                               tmp_path: Path) -> None:
    now = int(time.time() * 1000)
    events = feed(1500, now)
    bad = [enablement_event("bad-ref", now - 1000, 45, "SBIN", ""),
           enablement_event("bad-a", now - 1000, 45, "SBIN", f"ref {aadhaar_like()}")]
    topic = settings.enablement_topic
    w = WorkerProcess(settings, tmp_path / "data", tmp_path / "w1.log").start().wait_ready()
    half = len(events) // 2
    produce(settings, topic, events[:half], schema=SCHEMA)
    wait_until(lambda: total(w.metrics(), "digindex_events_total", topic=topic) >= half, 90, what="first half")
    time.sleep(1.5)  # checkpointed (1 s interval)
    produce(settings, topic, events[half:], schema=SCHEMA)
    # killed mid-way through the second half: the restart restores the checkpoint and replays what came
    # after it, which the accounts table (written per event) already holds
    wait_until(lambda: total(w.metrics(), "digindex_events_total", topic=topic) > half + 200, 90, what="mid-stream")
    w.kill()
    camps = [e for e in events if e["camp_ref"] is not None]
    resent = events[:300] + camps[-40:]  # a producer retry and a republished file: duplicates by event id
    produce(settings, topic, resent + bad, schema=SCHEMA)
    w2 = WorkerProcess(settings, tmp_path / "data", tmp_path / "w2.log").start()
    try:
        def drained() -> bool:  # by outcome: a range handed over twice makes the total reach n early
            m = w2.metrics()
            applied = sum(total(m, "digindex_events_total", topic=topic, outcome=o) for o in ("accepted", "late"))
            return (applied >= len(events)
                    and total(m, "digindex_events_total", topic=topic, outcome="rejected") >= len(bad)
                    and total(m, "digindex_events_total", topic=topic, outcome="duplicate") >= len(resent))

        wait_until(drained, 120, what="drained")
        time.sleep(1.0)  # nothing more must arrive
        m = w2.metrics()
        outcomes = {o: total(m, "digindex_events_total", topic=topic, outcome=o)
                    for o in ("accepted", "duplicate", "rejected", "late")}
        # after a crash a replayed event the store holds counts as accepted (docs/metrics.md, Outcomes)
        assert outcomes["accepted"] + outcomes["late"] == len(events), outcomes
        # a refused message handed over again after the restart is refused again: at least once each
        assert outcomes["late"] > 100 and outcomes["rejected"] >= len(bad), outcomes
        assert outcomes["duplicate"] >= len(resent), outcomes
        assert total(m, "digindex_messages_consumed_total", topic=topic) == sum(outcomes.values())
        refused = {dict(lab)["reason"] for lab, n in select(m, "digindex_deadletters_total", topic=topic).items() if n}
        assert refused == {"out_of_range", "aadhaar_like_value"}
        want = enablement_oracle(events)
        got = exported(w2)
        assert_figures(got, want, KEYS)
        # every district has its planted life (two camp enablements) and a ratio strictly inside (0, 1)
        assert all(want["digindex_camp_enablements_total"][(str(d),)] >= 2 for d in DISTRICTS)
        ratios = want["digindex_digital_enablement_ratio"].values()
        assert any(0 < r < 1 for r in ratios) and len(ratios) == 2 * len(DISTRICTS)
        last = select(m, "digindex_last_event_timestamp_seconds", topic=topic)
        assert len(last) == len(DISTRICTS)
    finally:
        w2.stop()


def test_two_workers_one_killed_the_survivor_holds_every_account(settings: Settings, tmp_path: Path) -> None:
    """The second half changes accounts the first half created: the survivor finds the killed worker's
    accounts and camp counts in the table it restores from the changelog (a new node for them)."""
    now = int(time.time() * 1000)
    events = feed(1000, now, seed=22)
    half = len(events) // 2
    topic = settings.enablement_topic
    w1 = WorkerProcess(settings, tmp_path / "data-w1", tmp_path / "w1.log").start().wait_ready()
    w2 = WorkerProcess(settings, tmp_path / "data-w2", tmp_path / "w2.log").start()
    try:
        wait_until(lambda: all(total(w.metrics(), "digindex_assigned_partitions", topic=topic) > 0
                               for w in (w1, w2)), 60, what="both workers own enablement partitions")
        produce(settings, topic, events[:half], schema=SCHEMA)
        wait_until(lambda: sum(total(w.metrics(), "digindex_events_total", topic=topic) for w in (w1, w2)) >= half,
                   90, what="first half")
        assert_figures(figures_of([w1, w2], KEYS), enablement_oracle(events[:half]), KEYS)
        w2.kill()
        produce(settings, topic, events[half:], schema=SCHEMA)
        wait_until(lambda: total(w1.metrics(), "digindex_assigned_partitions", topic=topic)
                   == settings.topic_partitions, 60, what="survivor owns every partition")
        wait_until(lambda: sum(total(w1.metrics(), "digindex_events_total", topic=topic, outcome=o)
                               for o in ("accepted", "late")) >= len(events), 120, what="survivor drained")
        time.sleep(1.0)
        m = w1.metrics()
        outcomes = {o: total(m, "digindex_events_total", topic=topic, outcome=o)
                    for o in ("accepted", "duplicate", "rejected", "late")}
        assert outcomes["accepted"] + outcomes["late"] == len(events) and outcomes["rejected"] == 0, outcomes
        assert total(m, "digindex_messages_consumed_total", topic=topic) == sum(outcomes.values())
        assert_figures(figures_of([w1], KEYS), enablement_oracle(events), KEYS)
    finally:
        w1.stop()
        w2.stop()
