"""Two real workers sharing one group on the session broker, fed with known payments, grievances,
enablement and enrolments.

Module-scoped: starting two workers and waiting for a stable assignment takes ~15 s, and every
API test reads the same state. The events are made here, independently of the simulator, so
the figures the API gives can be compared with ones computed from the events themselves.
"""

from __future__ import annotations

import json
import random
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from streams.api.routing import partition_of
from streams.banks import default_banks
from streams.broker import EmbeddedBroker
from streams.config import Settings

from ..helpers import WorkerProcess, produce, test_key_registry, total, wait_until
from ..worker.grievance_oracle import feed
from ..worker.test_enablement_integration import feed as enablement_feed
from ..worker.test_enrolments_integration import enablement_feed as enrolment_types_feed
from ..worker.test_enrolments_integration import feed as enrolment_feed

PARTITIONS = 4
BANKS = ("SBIN", "PUNB", "BARB")
CHANNELS = ["UPI", "UPI_QR", "CASH", "DEBIT_CARD", "CHEQUE", "IMPS", "AEPS", "NEFT"]
STATUSES = ["SUCCESS"] * 16 + ["TECHNICAL_DECLINE", "BUSINESS_DECLINE"]
PURPOSES = ["P2P", "P2M", "BILL_ENERGY", "BILL_WATER", "GOVT_RECEIPT"]
#: the department a payment of a purpose is made to (None: no department); GOVT_RECEIPT's vary
DEPARTMENTS = {"BILL_ENERGY": ["ENERGY"], "BILL_WATER": ["WATER"], "GOVT_RECEIPT": ["REVENUE", "TREASURY", "HEALTH"]}
#: 57 (Uttar Kashi) gets no payment: a known district without figures
DISTRICTS = list(range(45, 57))
QUIET_DISTRICT = 57


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def get(port: int, path: str, method: str = "GET") -> Reply:
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method)
    try:
        with urllib.request.urlopen(req, timeout=15) as r:
            return Reply(r.status, dict(r.headers), r.read())
    except urllib.error.HTTPError as e:
        return Reply(e.code, dict(e.headers), e.read())


def api_payments(n: int, seed: int = 10) -> list[dict[str, Any]]:
    """Payments of 12 districts over the last 10 minutes, each at one of a few real branches of its bank,
    bills and government receipts with a department (a field writers before issue 10 leave out)."""
    rng = random.Random(seed)
    banks = default_banks()
    branches = {b: banks.branches_of(b)[:6] for b in BANKS}
    now_ms = int(time.time() * 1000)
    return [{
        "event_id": f"api{seed}-{i}", "occurred_at": now_ms - rng.randrange(600_000),
        "district_lgd": DISTRICTS[i % len(DISTRICTS)], "bank_code": (bank := rng.choice(BANKS)),
        "branch_ifsc": rng.choice(branches[bank]), "channel": rng.choice(CHANNELS),
        "amount_paise": rng.randrange(100, 500_000), "status": rng.choice(STATUSES),
        "purpose": (purpose := rng.choice(PURPOSES)),
        "department_code": rng.choice(DEPARTMENTS[purpose]) if purpose in DEPARTMENTS else None,
    } for i in range(n)]


@dataclass
class Cluster:
    settings: Settings
    workers: list[WorkerProcess]
    events: list[dict[str, Any]]
    #: grievance events of the districts with payments (``tests.worker.grievance_oracle``)
    grievances: list[dict[str, Any]]
    #: enablement events in the order sent: the enablement test's feed, then the enrolment test's
    #: enablement feed for the enrolled accounts (other accounts, other event ids)
    enablement: list[dict[str, Any]]
    #: enrolment events (``tests.worker.test_enrolments_integration.feed``) and the account type each
    #: enrolled account ends with in the enablement feed (absent: unknown to it)
    enrolments: list[dict[str, Any]]
    types: dict[str, str]

    def healthz(self, w: WorkerProcess) -> dict[str, Any]:
        return get(w.port, "/healthz").json()

    def owner(self, lgd: int) -> tuple[WorkerProcess, WorkerProcess]:
        """(the worker owning the district's partition, the other one)."""
        p = partition_of(lgd, PARTITIONS)
        a, b = self.workers
        return (a, b) if p in self.healthz(a)["payments_partitions"] else (b, a)


def _split(workers: list[WorkerProcess]) -> bool:
    """Both workers own payments partitions, none twice, all of them."""
    try:
        parts = [get(w.port, "/healthz").json()["payments_partitions"] for w in workers]
    except (OSError, ValueError):
        return False
    flat = [p for ps in parts for p in ps]
    return all(parts) and sorted(flat) == list(range(PARTITIONS))


def _applied(workers: list[WorkerProcess], topic: str) -> float:
    """Events of ``topic`` applied by the workers: accepted, or late (superseded by a newer one)."""
    return sum(total(w.metrics(), "digindex_events_total", topic=topic, outcome=o)
               for w in workers for o in ("accepted", "late"))


@pytest.fixture(scope="module")
def cluster(broker: EmbeddedBroker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    tag = uuid.uuid4().hex[:8]
    where = tmp_path_factory.mktemp("api")
    settings = Settings().replace(
        broker=broker.url, app_id=f"digindex-api-{tag}", data_dir=where / "data", payments_topic=f"payments-{tag}",
        seeding_topic=f"seeding-{tag}", deadletter_topic=f"deadletter-{tag}", topic_partitions=PARTITIONS,
        grievances_topic=f"grievances-{tag}", enablement_topic=f"enablement-{tag}",
        enrolments_topic=f"enrolments-{tag}", session_timeout=2.0, key_registry=test_key_registry(),
        checkpoint_interval=1.0)  # as tests/conftest.py's CHECKPOINT_INTERVAL, which says why
    workers = [WorkerProcess(settings, where / f"data{i}", Path(where / f"w{i}.log")) for i in (1, 2)]
    try:
        workers[0].start().wait_ready()
        workers[1].start().wait_ready()
        # the assignment every member holds is the one the API routes by: wait until it is settled
        wait_until(lambda: _split(workers), 90, what="two workers sharing the partitions")
        events = api_payments(2400)
        produce(settings, settings.payments_topic, events)
        wait_until(lambda: sum(total(w.metrics(), "digindex_events_total", topic=settings.payments_topic,
                                     outcome="accepted") for w in workers) == len(events), 90,
                   what="every event accepted")
        grievances = feed(800, int(time.time() * 1000), seed=21, districts=DISTRICTS)
        produce(settings, settings.grievances_topic, grievances, schema="GrievanceEvent")
        wait_until(lambda: sum(total(w.metrics(), "digindex_events_total", topic=settings.grievances_topic,
                                     outcome="accepted") for w in workers) == len(grievances), 90,
                   what="every grievance event accepted")
        now = int(time.time() * 1000)
        enrolments = enrolment_feed(300, now, seed=24)
        typed, types = enrolment_types_feed(enrolments, now, seed=25)
        enablement = enablement_feed(300, now, seed=26) + typed
        for topic, sent, schema in ((settings.enablement_topic, enablement, "AccountEnablementEvent"),
                                    (settings.enrolments_topic, enrolments, "SchemeEnrolmentEvent")):
            produce(settings, topic, sent, schema=schema)
        for topic, sent in ((settings.enablement_topic, enablement), (settings.enrolments_topic, enrolments)):
            wait_until(lambda topic=topic, sent=sent: _applied(workers, topic) == len(sent), 90,
                       what=f"every event of {topic} applied")
        assert _split(workers), "the assignment moved while the events were being sent"
        yield Cluster(settings, workers, events, grievances, enablement, enrolments, types)
    finally:
        for w in workers:
            w.stop()
