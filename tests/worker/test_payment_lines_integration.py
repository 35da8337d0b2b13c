"""The payment lines (issue 10) against the real broker: every new metric equals an oracle of the events sent.

Bills and their QR share, purposes, departments, per-bank technical and business declines, and the
branch summaries, for events in the last hour and events 2-5 hours old (in the 24 h window only),
across a SIGKILL and a restart from the checkpoints (the grids are restored, not recounted). The
oracle below knows only the event contract and the metric definitions of docs/metrics.md: it
classifies channels itself and never imports the code under test. An unknown department is
dead-lettered with its reason, a writer still on the schema before ``department_code`` is read, and
every message stays accounted for.
"""

from __future__ import annotations

import random
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaConsumer

from streams.avro_codec import AvroCodec, load_schema
from streams.banks import default_banks
from streams.config import Settings
from streams.deadletter import decode_dead_letter
from streams.producer import district_key

from ..helpers import WorkerProcess, produce, produce_raw, select, total, wait_until

pytestmark = pytest.mark.integration

#: the oracle's own reading of the contract: cash and paper modes; everything else is digital
PAPER = {"CASH", "CHEQUE", "DEMAND_DRAFT"}
CHANNELS = ["UPI", "UPI_QR", "UPI_QR", "CASH", "CASH", "CHEQUE", "DEBIT_CARD", "NEFT", "AEPS", "IMPS"]
PURPOSES = ["BILL_ENERGY", "BILL_WATER", "BILL_HOUSING", "GOVT_RECEIPT", "GOVT_PAYMENT", "DBT", "P2P", "P2M"]
DEPARTMENTS = ["ENERGY", "WATER", "HOUSING", "REVENUE", "TREASURY", "HEALTH"]
STATUSES = ["SUCCESS"] * 14 + ["TECHNICAL_DECLINE", "BUSINESS_DECLINE", "BUSINESS_DECLINE"]
BANKS = ["SBIN", "PUNB", "BARB"]
DISTRICTS = {45: "Almora", 49: "Dehradun", 53: "Pithoragarh"}
TARGETS = {45: 0.8, 49: 0.6, 53: 0.8}
#: about 21 successful payments a branch has in the hour here, 31 over the day: the minimum cuts between
MIN_TX = 25
HOUR_MS = 3_600_000


def events(n: int, seed: int, now_ms: int) -> list[dict[str, Any]]:
    """Payments of three banks' real branches (six each, so branches reach the minimum), bills,
    department receipts and payments; a third of them 2-5 hours old."""
    rng = random.Random(seed)
    branches = {b: default_banks().branches_of(b)[:6] for b in BANKS}
    out = []
    for i in range(n):
        bank = rng.choice(BANKS)
        purpose = rng.choice(PURPOSES)
        old = rng.random() < 0.33
        ts = now_ms - (rng.randrange(2 * HOUR_MS, 5 * HOUR_MS) if old else rng.randrange(600_000))
        out.append({
            "event_id": f"l{seed}-{i}", "occurred_at": ts, "district_lgd": rng.choice(list(DISTRICTS)),
            "bank_code": bank,
            "branch_ifsc": rng.choice(branches[bank]) if rng.random() < 0.85 else None,
            "channel": rng.choice(CHANNELS), "amount_paise": rng.randrange(100, 500_000),
            "status": rng.choice(STATUSES), "purpose": purpose,
            "department_code": rng.choice(DEPARTMENTS) if purpose.startswith("GOVT") and rng.random() < 0.9 else None,
        })
    return out


def oracle(records: list[dict[str, Any]], now_ms: int) -> dict[str, dict[tuple[str, ...], float]]:
    """metric -> label values (district_lgd, ..., window[, kind]) -> value, from the events alone."""
    windows = {"1h": lambda r: r["occurred_at"] > now_ms - HOUR_MS, "24h": lambda r: True}
    purpose_n: Counter[tuple[str, ...]] = Counter()
    purpose_dig: Counter[tuple[str, ...]] = Counter()
    qr: Counter[tuple[str, ...]] = Counter()
    dept_n: Counter[tuple[str, ...]] = Counter()
    dept_dig: Counter[tuple[str, ...]] = Counter()
    attempts: Counter[tuple[str, ...]] = Counter()
    declines: Counter[tuple[str, ...]] = Counter()
    branch: dict[tuple[str, ...], Counter[str]] = defaultdict(Counter)
    for r in records:
        lgd, digital, ok = str(r["district_lgd"]), r["channel"] not in PAPER, r["status"] == "SUCCESS"
        for w, inside in windows.items():
            if not inside(r):
                continue
            if digital:
                attempts[(lgd, r["bank_code"], w)] += 1
                if not ok:
                    kind = "technical" if r["status"] == "TECHNICAL_DECLINE" else "business"
                    declines[(lgd, r["bank_code"], w, kind)] += 1
            if not ok:
                continue
            p = (lgd, r["purpose"], w)
            purpose_n[p] += 1
            purpose_dig[p] += digital
            qr[p] += r["channel"] == "UPI_QR"
            if r["department_code"] is not None:
                dp = (lgd, r["department_code"], w)
                dept_n[dp] += 1
                dept_dig[dp] += digital
            if r["branch_ifsc"] is not None:
                c = branch[(lgd, r["bank_code"], w, r["branch_ifsc"])]
                c["n"] += 1
                c["digital"] += digital
    active: set[tuple[str, ...]] = set()
    reporting: Counter[tuple[str, ...]] = Counter()
    below: Counter[tuple[str, ...]] = Counter()
    for (lgd, bank, w, _), c in branch.items():
        active.add((lgd, bank, w))  # a bank with branches in the window has both series, from 0
        if c["n"] >= MIN_TX:
            reporting[(lgd, bank, w)] += 1
            below[(lgd, bank, w)] += c["digital"] / c["n"] < TARGETS[int(lgd)]
    return {
        "digindex_purpose_digital_share_ratio": {k: purpose_dig[k] / n for k, n in purpose_n.items()},
        "digindex_bill_qr_share_ratio": {k: qr[k] / n for k, n in purpose_n.items() if k[1].startswith("BILL_")},
        "digindex_department_digital_share_ratio": {k: dept_dig[k] / n for k, n in dept_n.items()},
        "digindex_bank_decline_ratio": {(*k, kind): declines[(*k, kind)] / n for k, n in attempts.items()
                                        for kind in ("technical", "business")},
        "digindex_branches_reporting": {k: float(reporting[k]) for k in active},
        "digindex_branches_below_target": {k: float(below[k]) for k in active},
    }


#: each metric's labels in the oracle's key order (district_lgd first, then these)
LABELS = {
    "digindex_purpose_digital_share_ratio": ("purpose", "window"),
    "digindex_bill_qr_share_ratio": ("purpose", "window"),
    "digindex_department_digital_share_ratio": ("department", "window"),
    "digindex_bank_decline_ratio": ("bank", "window", "kind"),
    "digindex_branches_reporting": ("bank", "window"),
    "digindex_branches_below_target": ("bank", "window"),
}


def exported(samples: Any, name: str) -> dict[tuple[str, ...], float]:
    out = {}
    for labels, v in select(samples, name).items():
        d = dict(labels)
        assert d["district"] == DISTRICTS[int(d["district_lgd"])]
        assert set(d) == {"district_lgd", "district", *LABELS[name]}, (name, d)
        out[(d["district_lgd"], *(d[k] for k in LABELS[name]))] = v
    return out


def assert_matches(samples: Any, truth: dict[str, dict[tuple[str, ...], float]]) -> None:
    for name, want in truth.items():
        got = exported(samples, name)
        assert set(got) == set(want), f"{name}: series {sorted(set(got) ^ set(want))[:5]} differ"
        for k, v in want.items():
            assert got[k] == pytest.approx(v, abs=1e-12), (name, k)


def _drained(w: WorkerProcess, topic: str, n: int) -> bool:
    return total(w.metrics(), "digindex_events_total", topic=topic) >= n


def test_payment_lines_match_an_oracle_across_a_sigkill(settings: Settings, tmp_path: Path) -> None:
    s = settings.replace(branch_min_transactions=MIN_TX, targets=((49, 0.6),))
    topic = s.payments_topic
    now = int(time.time() * 1000)
    records = events(2400, seed=11, now_ms=now)
    # a writer still on the schema before department_code (its events read with department_code null)
    v1 = AvroCodec(load_schema("PaymentEvent.v1"))
    older = [{k: v for k, v in r.items() if k != "department_code"}
             for r in events(60, seed=12, now_ms=now) if r["bank_code"] == "SBIN"]
    unknown = {**records[0], "event_id": "bad-department", "purpose": "GOVT_RECEIPT",
               "department_code": "MINISTRY_OF_MAGIC"}
    w = WorkerProcess(s, tmp_path / "data", tmp_path / "w1.log").start().wait_ready()
    w2 = None
    try:
        produce(s, topic, records[:1200])
        wait_until(lambda: _drained(w, topic, 1200), 90, what="first half processed")
        w.kill()  # the grids must come back from the checkpoints (snapshot + deltas), not from a replay
        w2 = WorkerProcess(s, tmp_path / "data", tmp_path / "w2.log").start().wait_ready()
        produce(s, topic, [*records[1200:], unknown])
        produce_raw(s, topic, [(district_key(r["district_lgd"]), v1.encode(r)) for r in older])
        sent = len(records) + 1 + len(older)
        wait_until(lambda: _drained(w2, topic, sent), 120, what="every event processed after the restart")
        time.sleep(1.0)  # nothing more may arrive: replayed events are not counted twice
        m = w2.metrics()
        assert total(m, "digindex_events_total", topic=topic) == sent
        accepted = records + [{**r, "department_code": None} for r in older]
        assert total(m, "digindex_events_total", topic=topic, outcome="accepted") == len(accepted)
        assert_matches(m, oracle(accepted, int(time.time() * 1000)))
        # the minimum and the target matter: the fixture has branches on both sides of each
        assert 0 < total(m, "digindex_branches_below_target") < total(m, "digindex_branches_reporting")
        assert 0 < total(m, "digindex_branches_reporting", window="1h") < total(m, "digindex_branches_reporting",
                                                                                 window="24h")
        # conservation: every message counted once, by outcome
        assert total(m, "digindex_messages_consumed_total", topic=topic) == sent
        assert total(m, "digindex_events_total", topic=topic, outcome="rejected") == 1
        assert total(m, "digindex_deadletters_total", topic=topic, reason="unknown_department") == 1
        consumer = KafkaConsumer(s.deadletter_topic, bootstrap_servers=s.bootstrap_servers,
                                 auto_offset_reset="earliest", consumer_timeout_ms=5000)
        letters = [decode_dead_letter(msg.value) for msg in consumer]
        consumer.close()
        assert [(x["reason"], x["field"]) for x in letters] == [("unknown_department", "department_code")]
        assert "MINISTRY_OF_MAGIC" in letters[0]["message"]
    finally:
        w.stop()
        if w2 is not None:
            w2.stop()
