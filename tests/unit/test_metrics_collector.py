"""The /metrics collector against a hand-filled Runtime: every documented family, label and value."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from streams import __version__
from streams.config import Settings
from streams.errors import EventError
from streams.metrics import build_registry
from streams.payments.checkpoint import CheckpointMeta
from streams.runtime import Runtime
from streams.seeding.state import NOT_SEEDED, SEEDED, account_key

from .factories import HOUR_MS, MINUTE_MS, T0, payment, seeding_event

DOC = Path(__file__).resolve().parents[2] / "docs" / "metrics.md"
NOW = T0 + MINUTE_MS
P, S = "payments", "seeding"
HIGHWATER = {(P, 0): 50, (S, 0): 20}


def fill(rt: Runtime) -> None:
    """Partition 0 of each topic owned by this worker; payments partition 1 exists but is not ours."""
    pay = rt.new_payment_state(0)
    offset = 0

    def feed(rec: dict, state=pay) -> str:  # type: ignore[no-untyped-def]
        nonlocal offset
        offset += 1
        try:
            return state.apply(rec, offset, NOW)
        except EventError as exc:
            state.reject(exc.code, offset)
            return "rejected"

    assert [feed(r) for r in (
        payment("p1", T0, bank="SBIN", channel="UPI", amount=30_000),
        payment("p2", T0 - 10 * MINUTE_MS, bank="SBIN", channel="CASH", amount=10_000),
        payment("p3", T0 - 2 * HOUR_MS, bank="PUNB", channel="DEBIT_CARD", amount=20_000),
        payment("p4", T0 - 5 * MINUTE_MS, bank="PUNB", channel="UPI", amount=5_000, status="TECHNICAL_DECLINE"),
        payment("p5", T0 - 3 * HOUR_MS, bank="SBIN", channel="CHEQUE", amount=7_000, status="BUSINESS_DECLINE"),
        payment("p6", T0 - 30 * HOUR_MS, bank="SBIN", channel="NEFT", amount=40_000),
        payment("p1", T0, bank="SBIN", channel="UPI", amount=30_000),
        payment("p8", T0, lgd=99),
        payment("d1", T0 - MINUTE_MS, lgd=49, bank="BARB", channel="CASH", amount=1_000),
        payment("d2", T0 - 61 * MINUTE_MS, lgd=49, bank="HDFC", channel="CASH", amount=2_000),  # bank head lags
        payment("n1", T0 - 2 * MINUTE_MS, lgd=51, bank="SBIN", channel="UPI", status="TECHNICAL_DECLINE"),
    )] == ["accepted"] * 5 + ["late", "duplicate", "rejected"] + ["accepted"] * 3
    rt.payments[0] = (pay, CheckpointMeta())

    other = rt.new_payment_state(1)  # another worker's partition: must not show
    other.apply(payment("x1", T0 + HOUR_MS, lgd=50, bank="UTIB"), 0, NOW + HOUR_MS)

    seed = rt.new_seeding_state(0)
    table: dict[bytes, bytes] = {}
    for off, rec in enumerate([
        seeding_event("s1", T0 - 100, lgd=45, account="A1", status=SEEDED),
        seeding_event("s2", T0 - 50, lgd=45, account="A2", status=NOT_SEEDED),
        seeding_event("s3", T0 - 300, lgd=47, account="A3", status=NOT_SEEDED),
        seeding_event("s4", T0 - 10, lgd=45, account="A3", status=SEEDED),  # A3 moves from 47 to 45
        seeding_event("s5", T0 + 5, lgd=46, bank="PUNB", account="B1", status=SEEDED),
        seeding_event("s1", T0 - 100, lgd=45, account="A1", status=SEEDED),  # re-sent: duplicate
    ]):
        key = account_key(rec["bank_code"], rec["account_ref"])
        _, value = seed.apply(rec, off, NOW, table.get(key))
        if value is not None:
            table[key] = value
    seed.reject("aadhaar_like_value", 6)
    rt.seeding[0] = seed
    rt.checkpoints[P] = 4
    rt.rebalances = 2


@pytest.fixture
def rt() -> Runtime:
    runtime = Runtime(Settings(targets=((45, 0.9),)))
    fill(runtime)
    return runtime


@pytest.fixture
def reg(rt: Runtime) -> CollectorRegistry:
    registry, delay = build_registry(rt, lambda topic, p: HIGHWATER.get((topic, p)))
    delay.labels(topic=P).observe(0.3)
    return registry


def v(reg: CollectorRegistry, name: str, **labels: str) -> float | None:
    return reg.get_sample_value(name, labels)


def d(lgd: int) -> dict[str, str]:
    names = {45: "Almora", 46: "Bageshwar", 47: "Chamoli", 49: "Dehradun", 50: "Haridwar", 51: "Nainital"}
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


def test_seeding_ratio_and_accounts(reg: CollectorRegistry) -> None:
    assert v(reg, "digindex_aadhaar_seeding_ratio", **d(45)) == pytest.approx(2 / 3)
    assert v(reg, "digindex_aadhaar_seeding_ratio", **d(46)) == 1.0
    assert v(reg, "digindex_accounts", **d(45), status="SEEDED") == 2
    assert v(reg, "digindex_accounts", **d(45), status="NOT_SEEDED") == 1
    assert v(reg, "digindex_accounts", **d(46), status="NOT_SEEDED") == 0
    # Chamoli's only account moved away: no ratio, no account counts
    assert v(reg, "digindex_aadhaar_seeding_ratio", **d(47)) is None
    assert v(reg, "digindex_accounts", **d(47), status="NOT_SEEDED") is None


def test_targets_for_every_owned_district(reg: CollectorRegistry) -> None:
    assert v(reg, "digindex_district_target_ratio", **d(45)) == 0.9
    for lgd in (46, 47, 49, 51):
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


def test_event_outcomes_and_dead_letters(reg: CollectorRegistry) -> None:
    for topic, counts in ((P, {"accepted": 8, "duplicate": 1, "rejected": 1, "late": 1}),
                          (S, {"accepted": 5, "duplicate": 1, "rejected": 1, "late": 0})):
        for outcome, n in counts.items():
            assert v(reg, "digindex_events_total", topic=topic, outcome=outcome) == n, (topic, outcome)
    assert v(reg, "digindex_deadletters_total", topic=P, reason="unknown_district") == 1
    assert v(reg, "digindex_deadletters_total", topic=S, reason="aadhaar_like_value") == 1
    assert v(reg, "digindex_deadletters_total", topic=P, reason="aadhaar_like_value") == 0  # every reason from 0


def test_worker_metrics(reg: CollectorRegistry, rt: Runtime) -> None:
    assert v(reg, "digindex_consumer_lag_messages", topic=P, partition="0") == 50 - 11 - 1
    assert v(reg, "digindex_consumer_lag_messages", topic=S, partition="0") == 20 - 6 - 1
    assert v(reg, "digindex_consumer_lag_messages", topic=P, partition="1") is None
    assert v(reg, "digindex_assigned_partitions", topic=P) == 1
    assert v(reg, "digindex_assigned_partitions", topic=S) == 1
    assert v(reg, "digindex_checkpoints_total", topic=P) == 4
    assert v(reg, "digindex_checkpoints_total", topic=S) == 0
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


def test_districts_vanish_with_their_partitions(rt: Runtime) -> None:
    registry, _ = build_registry(rt)
    rt.payments.clear()
    rt.seeding.clear()
    rt.accounts.clear()
    names = {s.name for m in registry.collect() for s in m.samples if "district_lgd" in s.labels}
    assert names == set()
    assert v(registry, "digindex_assigned_partitions", topic=P) == 0


def documented() -> dict[str, tuple[str, set[str]]]:
    """``docs/metrics.md``'s table: name -> (type, label names)."""
    out: dict[str, tuple[str, set[str]]] = {}
    for line in DOC.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.split("|")]
        if len(cells) > 4 and (m := re.fullmatch(r"`(digindex_[a-z_]+)`", cells[1])):
            out[m.group(1)] = (cells[2], {x.strip() for x in cells[3].split(",") if x.strip()})
    assert len(out) == 20, "the table in docs/metrics.md was not parsed"
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
