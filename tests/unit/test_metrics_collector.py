"""The /metrics collector against a Runtime filled through real runners: every documented family, label, value."""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from streams import __version__
from streams.config import Settings
from streams.enablement.state import EnablementPartitionState
from streams.enrolment.join import AccountsAreSavings
from streams.enrolment.state import EnrolmentPartitionState
from streams.grievances.state import GrievancePartitionState
from streams.metrics import build_registry
from streams.payments.state import PaymentPartitionState
from streams.processor.kv import RocksKV
from streams.processor.runner import SignalRunner
from streams.processor.signal import Signal
from streams.processor.store import CheckpointStore
from streams.runtime import Runtime
from streams.seeding.state import NOT_SEEDED, RESERVED_PREFIX, SEEDED, SeedingPartitionState

from .factories import HOUR_MS, MINUTE_MS, T0, aadhaar_like, enablement_event, payment, seeding_event
from .kit import DeadLetterTopic, figures

DOC = Path(__file__).resolve().parents[2] / "docs" / "metrics.md"
NOW = T0 + MINUTE_MS
P, S = "payments", "seeding"
HIGHWATER = {(P, 0): 50, (S, 0): 20}


def runners(rt: Runtime, data: Path) -> tuple[SignalRunner, SignalRunner]:
    """The two signals' runners as the app builds them, on local RocksKV stores instead of Faust tables."""
    s = rt.settings
    stores: dict[tuple[str, int], RocksKV] = {}

    def clock() -> float:  # the worker's clock, for the processors and their checkpoints' expiry alike
        return NOW / 1000

    def kv_for(name: str) -> Any:
        return lambda p: stores.setdefault((name, p), RocksKV(data / f"{name}-{p}"))

    pay = Signal(name="payments", topic=s.payments_topic, codec=rt.payment_codec,
                 store=CheckpointStore(b"", horizon_s=s.dedupe_horizon, clock=clock),
                 make_state=lambda p, kv: PaymentPartitionState(p, rt.registry, s.windows, s.max_future_skew,
                                                                s.target_for, s.branch_min_transactions),
                 kv_for=kv_for("payments"), dedupe_dir=data / "dedupe")
    seed = Signal(name="seeding", topic=s.seeding_topic, codec=rt.seeding_codec,
                  store=CheckpointStore(RESERVED_PREFIX, horizon_s=s.dedupe_horizon, clock=clock),
                  make_state=lambda p, kv: SeedingPartitionState(p, rt.registry, s.max_future_skew, rt.accounts, kv),
                  kv_for=kv_for("seeding"), dedupe_dir=data / "dedupe")

    async def flush() -> None:
        pass

    codecs = (rt.payment_codec, rt.seeding_codec)
    out = []
    for signal, every in ((pay, 3), (seed, 1000)):
        runner = rt.runners[signal.name] = SignalRunner(signal, DeadLetterTopic(), rt.worker_id, codecs, every,
                                                        3600.0, flush, clock=clock)
        out.append(runner)
    return out[0], out[1]


def grievance_runner(rt: Runtime, data: Path) -> SignalRunner:
    """The grievances signal's runner as the app builds it, on a local RocksKV store."""
    s = rt.settings
    stores: dict[int, RocksKV] = {}
    signal = Signal(name="grievances", topic=s.grievances_topic, codec=rt.grievance_codec,
                    store=CheckpointStore(b"\x00", horizon_s=s.dedupe_horizon, clock=lambda: NOW / 1000),
                    make_state=lambda p, kv: GrievancePartitionState(p, rt.registry, s.max_future_skew, kv, s.windows,
                                                                     s.grievance_days),
                    kv_for=lambda p: stores.setdefault(p, RocksKV(data / f"grievances-{p}")),
                    dedupe_dir=data / "dedupe")

    async def flush() -> None:
        pass

    runner = rt.runners[signal.name] = SignalRunner(signal, DeadLetterTopic(), rt.worker_id, (rt.grievance_codec,),
                                                    1000, 3600.0, flush, clock=lambda: NOW / 1000)
    return runner


def enablement_runner(rt: Runtime, data: Path) -> SignalRunner:
    """The enablement signal's runner as the app builds it, on a local RocksKV store."""
    s = rt.settings
    signal = Signal(name="enablement", topic=s.enablement_topic, codec=rt.enablement_codec,
                    store=CheckpointStore(b"\x00", horizon_s=s.dedupe_horizon, clock=lambda: NOW / 1000),
                    make_state=lambda p, kv: EnablementPartitionState(p, rt.registry, s.max_future_skew, kv),
                    kv_for=lambda p: RocksKV(data / f"enablement-{p}"), dedupe_dir=data / "dedupe")

    async def flush() -> None:
        pass

    runner = rt.runners[signal.name] = SignalRunner(signal, DeadLetterTopic(), rt.worker_id, (rt.enablement_codec,),
                                                    1000, 3600.0, flush, clock=lambda: NOW / 1000)
    return runner


def enrolment_runner(rt: Runtime, data: Path) -> SignalRunner:
    """The enrolments signal's runner as the app builds it (without the enablement feed), on RocksKV."""
    s = rt.settings
    stores: dict[int, RocksKV] = {}
    signal = Signal(name="enrolments", topic=s.enrolments_topic, codec=rt.enrolment_codec,
                    store=CheckpointStore(b"\x00", horizon_s=s.dedupe_horizon, clock=lambda: NOW / 1000),
                    make_state=lambda p, kv: EnrolmentPartitionState(p, rt.registry, s.max_future_skew, kv,
                                                                     AccountsAreSavings()).recount(),
                    kv_for=lambda p: stores.setdefault(p, RocksKV(data / f"enrolments-{p}")),
                    dedupe_dir=data / "dedupe")

    async def flush() -> None:
        pass

    runner = rt.runners[signal.name] = SignalRunner(signal, DeadLetterTopic(), rt.worker_id, (rt.enrolment_codec,),
                                                    1000, 3600.0, flush, clock=lambda: NOW / 1000)
    return runner


def enrolment(event_id: str, account: str, scheme: str, band: str | None) -> dict[str, Any]:
    return {"event_id": event_id, "occurred_at": T0 - MINUTE_MS, "district_lgd": 45, "bank_code": "SBIN",
            "account_ref": account, "scheme": scheme, "status": "ENROLLED", "holder_age_band": band}


def grievance(event_id: str, action: str, ref: str, at: int, t: int) -> dict[str, Any]:
    return {"event_id": event_id, "occurred_at": at, "district_lgd": 45, "bank_code": "SBIN", "grievance_ref": ref,
            "action": action, "case": "UPI_P2P_NOT_CREDITED", "transaction_date": t, "amount_paise": 10_000}


def fill(rt: Runtime, data: Path) -> None:
    """Partition 0 of each topic owned by this worker; payments partition 1 was ours but moved away."""
    pay_runner, seed_runner = runners(rt, data)

    async def feed(runner: SignalRunner, partition: int, records: list[dict[str, Any]], first: int,
                   now_ms: int = NOW) -> list[str]:
        proc = await runner.open(partition)
        out = []
        for offset, rec in enumerate(records, start=first):
            before = Counter(proc.state.outcomes)
            if proc.handle(offset, None, runner.signal.codec.encode(rec), now_ms / 1000):
                await proc.save(now_ms / 1000)
            (outcome,) = (proc.state.outcomes - before).keys()
            out.append(outcome)
        return out

    async def main() -> None:
        assert await feed(pay_runner, 0, [
            payment("p1", T0, bank="SBIN", channel="UPI", amount=30_000),
            payment("p2", T0 - 10 * MINUTE_MS, bank="SBIN", channel="CASH", amount=10_000),
            payment("p3", T0 - 2 * HOUR_MS, bank="PUNB", channel="DEBIT_CARD", amount=20_000),
            payment("p4", T0 - 5 * MINUTE_MS, bank="PUNB", channel="UPI", amount=5_000, status="TECHNICAL_DECLINE"),
            payment("p5", T0 - 3 * HOUR_MS, bank="SBIN", channel="CHEQUE", amount=7_000, status="BUSINESS_DECLINE"),
            payment("p6", T0 - 30 * HOUR_MS, bank="SBIN", channel="NEFT", amount=40_000),
            payment("p1", T0, bank="SBIN", channel="UPI", amount=30_000),
            payment("p8", T0, lgd=99),
            # HDFC's only event comes first and is 61 min older than Dehradun's newest: when BARB's
            # event moves the district on, HDFC's windows move with it (no collector involved)
            payment("d2", T0 - 61 * MINUTE_MS, lgd=49, bank="HDFC", channel="CASH", amount=2_000),
            payment("d1", T0 - MINUTE_MS, lgd=49, bank="BARB", channel="CASH", amount=1_000),
            payment("n1", T0 - 2 * MINUTE_MS, lgd=51, bank="SBIN", channel="UPI", status="TECHNICAL_DECLINE"),
            # the payment lines (issue 10), in Pithoragarh: bills, departments, branches, declines
            *LINES,
        ], first=1) == ["accepted"] * 5 + ["late", "duplicate", "rejected"] + ["accepted"] * 3 + ["accepted"] * 6
        await pay_runner.processors[0].save(NOW / 1000)  # checkpoints at offsets 3, 6, ..., 15 and now: 6
        # another partition, restored here and then moved to another worker: must not show
        await feed(pay_runner, 1, [payment("x1", T0 + HOUR_MS, lgd=50, bank="UTIB")], first=0,
                   now_ms=NOW + HOUR_MS)
        del pay_runner.processors[1]
        assert await feed(seed_runner, 0, [
            seeding_event("s1", T0 - 100, lgd=45, account="A1", status=SEEDED),
            seeding_event("s2", T0 - 50, lgd=45, account="A2", status=NOT_SEEDED),
            seeding_event("s3", T0 - 300, lgd=47, account="A3", status=NOT_SEEDED),
            seeding_event("s4", T0 - 10, lgd=45, account="A3", status=SEEDED),  # A3 moves from 47 to 45
            seeding_event("s5", T0 + 5, lgd=46, bank="PUNB", account="B1", status=SEEDED),
            seeding_event("s1", T0 - 100, lgd=45, account="A1", status=SEEDED),  # re-sent: duplicate
            seeding_event("s6", T0, lgd=45, account=aadhaar_like()),
        ], first=0) == ["accepted"] * 5 + ["duplicate", "rejected"]
        griev = await grievance_runner(rt, data).open(0)
        t0_day = T0 // 86_400_000  # 2024-01-01 05:30 in India
        for offset, rec in enumerate([grievance("g1", "RAISED", "G1", T0 - HOUR_MS, t0_day - 3),
                                      grievance("g2", "RAISED", "G2", T0 - HOUR_MS, t0_day),
                                      grievance("g3", "RESOLVED", "G2", T0, t0_day)]):
            griev.handle(offset, None, griev.signal.codec.encode(rec), NOW / 1000)
        enable = await enablement_runner(rt, data).open(0)
        for offset, rec in enumerate([
                enablement_event("n1", T0 - 10, account="E1", modes=("UPI", "POS"), camp_ref="CAMP-1"),
                enablement_event("n2", T0 - 9, account="E2", modes=("QR",)),  # savings: QR does not count
                enablement_event("n3", T0 - 8, account="E3", account_type="CURRENT", modes=("QR",)),
                enablement_event("n1", T0 - 10, account="E1", modes=("UPI", "POS"), camp_ref="CAMP-1")]):
            enable.handle(offset, None, enable.signal.codec.encode(rec), NOW / 1000)
        enrol = await enrolment_runner(rt, data).open(0)
        for offset, rec in enumerate([enrolment("n1", "E1", "APY", "18_40"), enrolment("n2", "E2", "APY", None),
                                      enrolment("n3", "E3", "PMSBY", "41_50")]):
            enrol.handle(offset, None, enrol.signal.codec.encode(rec), NOW / 1000)

    asyncio.run(main())
    rt.rebalances = 2


#: Pithoragarh's payments (offsets 12-17): what the payment-line families are computed from
LINES = [
    payment("q1", T0, lgd=53, bank="SBIN", channel="UPI_QR", purpose="BILL_ENERGY", branch_ifsc="SBIN0000001",
            amount=1_000),
    payment("q2", T0 - MINUTE_MS, lgd=53, bank="SBIN", channel="CASH", purpose="BILL_ENERGY",
            branch_ifsc="SBIN0000001", amount=3_000),
    payment("q3", T0, lgd=53, bank="SBIN", channel="UPI", purpose="BILL_WATER", branch_ifsc="SBIN0000002"),
    payment("q4", T0 - 6 * MINUTE_MS, lgd=53, bank="PUNB", channel="UPI", purpose="GOVT_RECEIPT",
            department_code="REVENUE", branch_ifsc="PUNB0001000"),
    payment("q5", T0 - 6 * MINUTE_MS, lgd=53, bank="PUNB", channel="NEFT", purpose="GOVT_PAYMENT",
            department_code="TREASURY", status="BUSINESS_DECLINE"),
    payment("q6", T0 - 2 * HOUR_MS, lgd=53, bank="PUNB", channel="CASH", purpose="GOVT_RECEIPT",
            department_code="REVENUE", branch_ifsc="PUNB0001000"),
]


def filled(data: Path) -> Runtime:
    runtime = Runtime(Settings(targets=((45, 0.9),), branch_min_transactions=2))
    fill(runtime, data)
    return runtime


@pytest.fixture(scope="module")
def rt(tmp_path_factory: pytest.TempPathFactory) -> Runtime:
    """Shared by the module's tests: collecting never changes it (a test that does builds its own)."""
    return filled(tmp_path_factory.mktemp("metrics"))


@pytest.fixture
def reg(rt: Runtime) -> CollectorRegistry:
    registry, delay = build_registry(rt, lambda topic, p: HIGHWATER.get((topic, p)))
    delay.labels(topic=P).observe(0.3)
    return registry


def v(reg: CollectorRegistry, name: str, **labels: str) -> float | None:
    return reg.get_sample_value(name, labels)


def d(lgd: int) -> dict[str, str]:
    names = {45: "Almora", 46: "Bageshwar", 47: "Chamoli", 49: "Dehradun", 50: "Haridwar", 51: "Nainital",
             53: "Pithoragarh"}
    return {"district_lgd": str(lgd), "district": names[lgd]}


def test_digital_share_and_value_share(reg: CollectorRegistry) -> None:
    # 1 h: UPI 300 + CASH 100 succeeded (the technical decline is not in the share)
    assert v(reg, "digindex_digital_share_ratio", **d(45), window="1h") == 0.5
    assert v(reg, "digindex_digital_value_share_ratio", **d(45), window="1h") == 0.75
    # 24 h adds the DEBIT_CARD 200 two hours back; the late NEFT stays out
    assert v(reg, "digindex_digital_share_ratio", **d(45), window="24h") == pytest.approx(2 / 3)
    assert v(reg, "digindex_digital_value_share_ratio", **d(45), window="24h") == pytest.approx(5 / 6)
    assert v(reg, "digindex_digital_share_ratio", **d(49), window="1h") == 0.0
    assert v(reg, "digindex_digital_value_share_ratio", **d(49), window="24h") == 0.0
    # no successful payment at all: no share (not 0, not NaN)
    assert v(reg, "digindex_digital_share_ratio", **d(51), window="1h") is None
    assert v(reg, "digindex_digital_value_share_ratio", **d(51), window="24h") is None


def test_technical_decline_ratio(reg: CollectorRegistry) -> None:
    assert v(reg, "digindex_technical_decline_ratio", **d(45), window="1h") == 0.5
    assert v(reg, "digindex_technical_decline_ratio", **d(45), window="24h") == pytest.approx(1 / 3)
    assert v(reg, "digindex_technical_decline_ratio", **d(49), window="1h") is None, "no digital attempts"
    assert v(reg, "digindex_technical_decline_ratio", **d(51), window="24h") == 1.0


@pytest.mark.parametrize(("window", "expected"), [
    ("1h", {("SUCCESS", "digital"): 1, ("SUCCESS", "non_digital"): 1, ("TECHNICAL_DECLINE", "digital"): 1}),
    ("24h", {("SUCCESS", "digital"): 2, ("SUCCESS", "non_digital"): 1, ("TECHNICAL_DECLINE", "digital"): 1,
             ("BUSINESS_DECLINE", "non_digital"): 1}),
])
def test_window_transactions(reg: CollectorRegistry, window: str, expected: dict[tuple[str, str], int]) -> None:
    for status in ("SUCCESS", "TECHNICAL_DECLINE", "BUSINESS_DECLINE"):
        for mode in ("digital", "non_digital"):
            got = v(reg, "digindex_window_transactions", **d(45), window=window, status=status, mode=mode)
            assert got == expected.get((status, mode), 0), (status, mode)


def test_bank_window_transactions(reg: CollectorRegistry) -> None:
    def b(bank: str, window: str, status: str, mode: str) -> float | None:
        return v(reg, "digindex_bank_window_transactions", **d(45), bank=bank, window=window, status=status,
                 mode=mode)

    assert b("SBIN", "1h", "SUCCESS", "digital") == 1 and b("SBIN", "1h", "SUCCESS", "non_digital") == 1
    assert b("SBIN", "1h", "BUSINESS_DECLINE", "non_digital") == 0
    assert b("SBIN", "24h", "BUSINESS_DECLINE", "non_digital") == 1
    assert b("PUNB", "1h", "SUCCESS", "digital") == 0 and b("PUNB", "24h", "SUCCESS", "digital") == 1
    assert b("PUNB", "1h", "TECHNICAL_DECLINE", "digital") == 1
    assert v(reg, "digindex_bank_window_transactions", **d(49), bank="BARB", window="1h", status="SUCCESS",
             mode="non_digital") == 1
    assert b("BARB", "1h", "SUCCESS", "non_digital") is None
    # HDFC's only event is 61 min older than Dehradun's newest: its hour window ends at the district's head
    hdfc = {**d(49), "bank": "HDFC", "status": "SUCCESS", "mode": "non_digital"}
    assert v(reg, "digindex_bank_window_transactions", **hdfc, window="1h") == 0
    assert v(reg, "digindex_bank_window_transactions", **hdfc, window="24h") == 1


def test_cumulative_payments_and_amounts(reg: CollectorRegistry) -> None:
    totals = {("UPI", "SUCCESS"): 1, ("CASH", "SUCCESS"): 1, ("DEBIT_CARD", "SUCCESS"): 1,
              ("UPI", "TECHNICAL_DECLINE"): 1, ("CHEQUE", "BUSINESS_DECLINE"): 1, ("NEFT", "SUCCESS"): 1}
    for (channel, status), n in totals.items():
        assert v(reg, "digindex_payments_total", **d(45), channel=channel, status=status) == n
    assert v(reg, "digindex_payments_total", **d(45), channel="CASH", status="BUSINESS_DECLINE") is None
    assert v(reg, "digindex_payments_amount_rupees_total", **d(45), mode="digital") == 900.0  # 300+200+400 (late)
    assert v(reg, "digindex_payments_amount_rupees_total", **d(45), mode="non_digital") == 100.0
    assert v(reg, "digindex_payments_amount_rupees_total", **d(49), mode="non_digital") == 30.0
    assert v(reg, "digindex_payments_amount_rupees_total", **d(51), mode="digital") == 0.0


def test_purpose_and_bill_qr_shares(reg: CollectorRegistry) -> None:
    def share(name: str, purpose: str, window: str) -> float | None:
        return v(reg, name, **d(53), purpose=purpose, window=window)

    p, qr = "digindex_purpose_digital_share_ratio", "digindex_bill_qr_share_ratio"
    assert share(p, "BILL_ENERGY", "1h") == 0.5 and share(qr, "BILL_ENERGY", "1h") == 0.5  # QR and cash
    assert share(p, "BILL_WATER", "24h") == 1.0 and share(qr, "BILL_WATER", "24h") == 0.0  # UPI, not by QR
    assert share(p, "GOVT_RECEIPT", "1h") == 1.0 and share(p, "GOVT_RECEIPT", "24h") == 0.5
    assert share(qr, "GOVT_RECEIPT", "1h") is None, "QR shares are for bills only"
    assert share(p, "GOVT_PAYMENT", "24h") is None, "a declined payment is in no share"
    # Almora's P2P payments: 1 of 2 successful in the hour digital, 2 of 3 over the day (late NEFT out)
    assert v(reg, p, **d(45), purpose="P2P", window="1h") == 0.5
    assert v(reg, p, **d(45), purpose="P2P", window="24h") == pytest.approx(2 / 3)


def test_department_shares(reg: CollectorRegistry) -> None:
    name = "digindex_department_digital_share_ratio"
    assert v(reg, name, **d(53), department="REVENUE", window="1h") == 1.0
    assert v(reg, name, **d(53), department="REVENUE", window="24h") == 0.5
    assert v(reg, name, **d(53), department="TREASURY", window="24h") is None, "declined: no successful payment"
    assert not [s for m in reg.collect() for s in m.samples if s.name == name and s.labels["district_lgd"] != "53"]


def test_bank_decline_ratios(reg: CollectorRegistry) -> None:
    def r(lgd: int, bank: str, window: str, kind: str) -> float | None:
        return v(reg, "digindex_bank_decline_ratio", **d(lgd), bank=bank, window=window, kind=kind)

    # Almora PUNB: a technical decline (UPI) in the hour; over the day also a successful DEBIT_CARD
    assert r(45, "PUNB", "1h", "technical") == 1.0 and r(45, "PUNB", "1h", "business") == 0.0
    assert r(45, "PUNB", "24h", "technical") == 0.5
    # SBIN's business decline was a CHEQUE: not a digital attempt
    assert r(45, "SBIN", "24h", "business") == 0.0 and r(45, "SBIN", "24h", "technical") == 0.0
    assert r(53, "PUNB", "1h", "business") == 0.5 and r(53, "PUNB", "1h", "technical") == 0.0
    assert r(49, "BARB", "1h", "technical") is None, "cash only: no digital attempt"


def test_branch_summaries(reg: CollectorRegistry) -> None:
    def b(name: str, bank: str, window: str) -> float | None:
        return v(reg, f"digindex_branches_{name}", **d(53), bank=bank, window=window)

    # reporting: branches with at least the minimum (2 here) of successful payments in the window
    assert b("reporting", "SBIN", "1h") == 1, "SBIN0000001 has 2, SBIN0000002 only 1"
    assert b("reporting", "PUNB", "1h") == 0 and b("reporting", "PUNB", "24h") == 1
    # SBIN0000001: half digital < 0.8; PUNB0001000 over the day: 1 of 2 digital
    assert b("below_target", "SBIN", "1h") == 1
    assert b("below_target", "PUNB", "1h") == 0 and b("below_target", "PUNB", "24h") == 1
    assert b("reporting", "BARB", "1h") is None and v(reg, "digindex_branches_reporting", **d(45), bank="SBIN",
                                                      window="1h") is None, "no branch_ifsc: no branch"


def test_seeding_ratio_and_accounts(reg: CollectorRegistry) -> None:
    assert v(reg, "digindex_aadhaar_seeding_ratio", **d(45)) == pytest.approx(2 / 3)
    assert v(reg, "digindex_aadhaar_seeding_ratio", **d(46)) == 1.0
    assert v(reg, "digindex_accounts", **d(45), status="SEEDED") == 2
    assert v(reg, "digindex_accounts", **d(45), status="NOT_SEEDED") == 1
    assert v(reg, "digindex_accounts", **d(46), status="NOT_SEEDED") == 0
    # Chamoli's only account moved away: no ratio, no account counts
    assert v(reg, "digindex_aadhaar_seeding_ratio", **d(47)) is None
    assert v(reg, "digindex_accounts", **d(47), status="NOT_SEEDED") is None


def test_enablement(reg: CollectorRegistry, rt: Runtime) -> None:
    dl = d(45)
    assert v(reg, "digindex_digital_enablement_ratio", **dl, account_type="SAVINGS") == 0.5
    assert v(reg, "digindex_digital_enablement_ratio", **dl, account_type="CURRENT") == 1.0
    assert v(reg, "digindex_enablement_accounts", **dl, account_type="SAVINGS") == 2
    assert v(reg, "digindex_enabled_accounts", **dl, account_type="SAVINGS", mode="QR") == 1
    assert v(reg, "digindex_enabled_accounts", **dl, account_type="SAVINGS", mode="POS") == 1
    assert v(reg, "digindex_enabled_accounts", **dl, account_type="CURRENT", mode="UPI") == 0
    assert v(reg, "digindex_camp_enablements_total", **dl) == 1
    assert v(reg, "digindex_last_event_timestamp_seconds", **dl, topic=rt.settings.enablement_topic) == (T0 - 8) / 1000
    topic = rt.settings.enablement_topic
    assert v(reg, "digindex_events_total", topic=topic, outcome="duplicate") == 1
    assert v(reg, "digindex_events_total", topic=topic, outcome="accepted") == 3


def test_targets_for_every_owned_district(reg: CollectorRegistry) -> None:
    assert v(reg, "digindex_district_target_ratio", **d(45)) == 0.9
    for lgd in (46, 47, 49, 51, 53):
        assert v(reg, "digindex_district_target_ratio", **d(lgd)) == 0.8
    assert v(reg, "digindex_district_target_ratio", **d(50)) is None


def test_freshness(reg: CollectorRegistry) -> None:
    assert v(reg, "digindex_last_event_timestamp_seconds", **d(45), topic=P) == T0 / 1000
    assert v(reg, "digindex_last_event_timestamp_seconds", **d(49), topic=P) == (T0 - MINUTE_MS) / 1000
    assert v(reg, "digindex_last_event_timestamp_seconds", **d(45), topic=S) == (T0 - 10) / 1000
    assert v(reg, "digindex_last_event_timestamp_seconds", **d(46), topic=S) == (T0 + 5) / 1000
    assert v(reg, "digindex_bank_last_event_timestamp_seconds", bank="SBIN", topic=P) == T0 / 1000
    assert v(reg, "digindex_bank_last_event_timestamp_seconds", bank="PUNB", topic=P) == (T0 - 5 * MINUTE_MS) / 1000
    assert v(reg, "digindex_bank_last_event_timestamp_seconds", bank="BARB", topic=P) == (T0 - MINUTE_MS) / 1000
    assert v(reg, "digindex_bank_last_event_timestamp_seconds", bank="SBIN", topic=S) == (T0 - 10) / 1000
    assert v(reg, "digindex_bank_last_event_timestamp_seconds", bank="PUNB", topic=S) == (T0 + 5) / 1000


def test_bank_freshness_per_district(reg: CollectorRegistry) -> None:
    """Which districts a bank reports for (the silent-bank inhibition is scoped by them)."""
    name = "digindex_bank_district_last_event_timestamp_seconds"
    assert v(reg, name, **d(45), bank="SBIN", topic=P) == T0 / 1000
    assert v(reg, name, **d(51), bank="SBIN", topic=P) == (T0 - 2 * MINUTE_MS) / 1000
    assert v(reg, name, **d(49), bank="BARB", topic=P) == (T0 - MINUTE_MS) / 1000
    assert v(reg, name, **d(45), bank="SBIN", topic=S) == (T0 - 10) / 1000
    assert v(reg, name, **d(46), bank="PUNB", topic=S) == (T0 + 5) / 1000
    assert v(reg, name, **d(49), bank="SBIN", topic=P) is None, "SBIN reports nothing for Dehradun"
    found = {(s.labels["district_lgd"], s.labels["bank"], s.labels["topic"])
             for m in reg.collect() for s in m.samples if s.name == name}
    assert found == {("45", "SBIN", P), ("51", "SBIN", P), ("45", "PUNB", P), ("49", "BARB", P), ("49", "HDFC", P),
                     ("53", "SBIN", P), ("53", "PUNB", P), ("45", "SBIN", S), ("47", "SBIN", S), ("46", "PUNB", S)}


def test_bank_info_names_every_bank_exported(reg: CollectorRegistry) -> None:
    assert reg.get_sample_value("digindex_bank_info", {"bank": "SBIN", "name": "State Bank of India"}) == 1
    assert reg.get_sample_value("digindex_bank_info", {"bank": "HDFC", "name": "HDFC Bank"}) == 1
    info = {s.labels["bank"] for m in reg.collect() for s in m.samples if s.name == "digindex_bank_info"}
    exported = {s.labels["bank"] for m in reg.collect() for s in m.samples
                if "bank" in s.labels and s.name != "digindex_bank_info"}
    assert info == exported == {"SBIN", "PUNB", "BARB", "HDFC"}


def test_event_outcomes_and_dead_letters(reg: CollectorRegistry) -> None:
    for topic, counts in ((P, {"accepted": 14, "duplicate": 1, "rejected": 1, "late": 1}),
                          (S, {"accepted": 5, "duplicate": 1, "rejected": 1, "late": 0})):
        for outcome, n in counts.items():
            assert v(reg, "digindex_events_total", topic=topic, outcome=outcome) == n, (topic, outcome)
    assert v(reg, "digindex_deadletters_total", topic=P, reason="unknown_district") == 1
    assert v(reg, "digindex_deadletters_total", topic=S, reason="aadhaar_like_value") == 1
    assert v(reg, "digindex_deadletters_total", topic=P, reason="aadhaar_like_value") == 0  # every reason from 0


def test_worker_metrics(reg: CollectorRegistry, rt: Runtime) -> None:
    assert v(reg, "digindex_consumer_lag_messages", topic=P, partition="0") == 50 - 17 - 1
    assert v(reg, "digindex_consumer_lag_messages", topic=S, partition="0") == 20 - 6 - 1
    assert v(reg, "digindex_consumer_lag_messages", topic=P, partition="1") is None
    assert v(reg, "digindex_assigned_partitions", topic=P) == 1
    assert v(reg, "digindex_assigned_partitions", topic=S) == 1
    assert v(reg, "digindex_checkpoints_total", topic=P) == 6
    assert v(reg, "digindex_checkpoints_total", topic=S) == 0
    assert v(reg, "digindex_restore_seconds", topic=P, partition="0") is not None
    assert v(reg, "digindex_restore_seconds", topic=S, partition="0") is not None
    assert v(reg, "digindex_restore_seconds", topic=P, partition="1") is None, "not ours any more"
    assert v(reg, "digindex_rebalances_total") == 2
    assert v(reg, "digindex_worker_info", worker=rt.worker_id, version=__version__) == 1
    assert v(reg, "digindex_event_delay_seconds_bucket", topic=P, le="0.25") == 0
    assert v(reg, "digindex_event_delay_seconds_bucket", topic=P, le="0.5") == 1
    assert v(reg, "digindex_event_delay_seconds_count", topic=P) == 1
    assert v(reg, "digindex_event_delay_seconds_sum", topic=P) == pytest.approx(0.3)


def test_lag_absent_without_highwater(rt: Runtime) -> None:
    registry, _ = build_registry(rt)
    assert v(registry, "digindex_consumer_lag_messages", topic=P, partition="0") is None
    assert v(registry, "digindex_assigned_partitions", topic=P) == 1


def test_only_owned_districts_and_banks(reg: CollectorRegistry) -> None:
    for metric in reg.collect():
        for sample in metric.samples:
            assert sample.labels.get("district_lgd") != "50", sample
            assert sample.labels.get("bank") != "UTIB", sample
    windows = {s.labels["window"] for m in reg.collect() for s in m.samples if "window" in s.labels}
    assert windows == {"1h", "24h"}


def test_districts_vanish_with_their_partitions(tmp_path: Path) -> None:
    rt = filled(tmp_path)
    registry, _ = build_registry(rt)
    assert v(registry, "digindex_digital_share_ratio", **d(45), window="1h") == 0.5
    for runner in rt.runners.values():  # as the recovery hook does on revocation
        runner.revoke()
    rt.accounts.clear()
    names = {s.name for m in registry.collect() for s in m.samples if "district_lgd" in s.labels}
    assert names == set()
    assert v(registry, "digindex_assigned_partitions", topic=P) == 0
    assert v(registry, "digindex_checkpoints_total", topic=P) == 0
    assert v(registry, "digindex_restore_seconds", topic=P, partition="0") is None


def test_collecting_twice_is_identical_and_changes_no_state(rt: Runtime, reg: CollectorRegistry) -> None:
    def samples() -> list[tuple[str, tuple[tuple[str, str], ...], float]]:
        return [(s.name, tuple(sorted(s.labels.items())), s.value) for m in reg.collect() for s in m.samples
                if not s.name.startswith("digindex_process_")]

    before = {p: figures(state) for p, state in rt.payments.items()}
    seeding = {p: state.snapshot() for p, state in rt.seeding.items()}
    first = samples()
    second = samples()
    assert first == second
    assert {p: figures(state) for p, state in rt.payments.items()} == before
    assert {p: state.snapshot() for p, state in rt.seeding.items()} == seeding


def test_windows_are_not_moved_by_the_collector(rt: Runtime, reg: CollectorRegistry) -> None:
    """The state ends every bank's windows at its district's head; the collector only reads them."""
    for state in rt.payments.values():
        for d in state.districts.values():
            assert {r.head for r in d.banks.values()} == {d.rolling.head}


def documented() -> dict[str, tuple[str, set[str]]]:
    """``docs/metrics.md``'s table: name -> (type, label names)."""
    out: dict[str, tuple[str, set[str]]] = {}
    for line in DOC.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.split("|")]
        if len(cells) > 4 and (m := re.fullmatch(r"`(digindex_[a-z_]+)`", cells[1])):
            out[m.group(1)] = (cells[2], {x.strip() for x in cells[3].split(",") if x.strip()})
    assert len(out) >= 20, "the table in docs/metrics.md was not parsed"
    return out


def test_every_documented_family_with_its_labels(reg: CollectorRegistry) -> None:
    samples = [s for m in reg.collect() for s in m.samples]
    for name, (kind, labels) in documented().items():
        if kind == "histogram":
            found = [s for s in samples if s.name in (f"{name}_bucket", f"{name}_count", f"{name}_sum")]
            assert {s.name for s in found} == {f"{name}_bucket", f"{name}_count", f"{name}_sum"}
        else:
            found = [s for s in samples if s.name == name]
        assert found, f"{name} ({kind}) is documented but not exported"
        for s in found:
            assert set(s.labels) - {"le"} == labels, (name, s.labels)


def test_every_exported_family_is_documented(reg: CollectorRegistry) -> None:
    doc = documented()
    exported = {m.name for m in reg.collect()} - {"digindex_event_delay_seconds"}
    exported = {n for n in exported if not n.startswith("digindex_process_")}
    doc_names = {n.removesuffix("_total") for n, (kind, _) in doc.items() if kind != "histogram"}
    assert exported == doc_names
    for m in reg.collect():
        if m.name in doc_names:
            documented_kind = next(k for n, (k, _) in doc.items() if n.removesuffix("_total") == m.name)
            assert m.type == documented_kind.split()[0], m.name
