"""``digindex simulate`` against the real embedded broker, read back from the topics."""

from __future__ import annotations

import argparse
import signal
import time
from collections import Counter
from typing import Any

import pytest
from kafka import KafkaConsumer, TopicPartition

from streams.avro_codec import codec_for
from streams.banks import default_banks
from streams.channels import is_digital
from streams.commands import simulate
from streams.config import Settings
from streams.departments import default_departments
from streams.simulator.feed import preproduce

pytestmark = pytest.mark.integration


def _consume(settings: Settings, topic: str, expected: int,
             timeout: float = 20.0) -> list[tuple[bytes, bytes]]:
    consumer = KafkaConsumer(bootstrap_servers=settings.bootstrap_servers, enable_auto_commit=False,
                             consumer_timeout_ms=1000)
    try:
        parts = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        consumer.assign(parts)
        consumer.seek_to_beginning(*parts)
        out: list[tuple[bytes, bytes]] = []
        deadline = time.monotonic() + timeout
        while len(out) < expected and time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=500, max_records=10_000).values():
                out.extend((m.key, m.value) for m in batch)
        return out
    finally:
        consumer.close()


def _run_simulate(settings: Settings, *argv: str) -> int:
    parser = argparse.ArgumentParser()
    simulate.configure(parser)
    previous = signal.getsignal(signal.SIGTERM)
    try:
        return simulate.run(parser.parse_args(["--broker", settings.broker, *argv]), settings)
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_simulate_honours_rate_keys_and_drop(settings: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    rc = _run_simulate(settings, "--rate", "500", "--duration", "3", "--seed", "42", "--accounts", "2000",
                       "--drop-district", "49", "--drop-after", "1.5", "--drop-to", "0.2")
    assert rc == 0
    printed = capsys.readouterr().out
    assert f"{settings.payments_topic}: 1500 events" in printed

    pay = codec_for("PaymentEvent")
    msgs = _consume(settings, settings.payments_topic, 1500)
    assert len(msgs) == pytest.approx(1500, rel=0.3)
    records: list[dict[str, Any]] = []
    for key, value in msgs:
        rec = pay.decode(value)
        assert key == str(rec["district_lgd"]).encode()
        records.append(rec)
    assert len({r["event_id"] for r in records}) == len(records)
    # What lands carries the directive's lines, each a value the worker accepts.
    departments, banks = default_departments(), default_banks()
    for r in records:
        assert r["department_code"] is None or r["department_code"] in departments
        if r["branch_ifsc"] is not None:
            banks.check_branch(r["bank_code"], r["branch_ifsc"])
    assert {r["department_code"] for r in records if r["purpose"] == "BILL_ENERGY"} == {"ENERGY"}
    assert {"TECHNICAL_DECLINE", "BUSINESS_DECLINE", "SUCCESS"} == {r["status"] for r in records}
    # Paced over ~3 s of event time, not sent in one burst.
    t0 = min(r["occurred_at"] for r in records)
    assert 2500 <= max(r["occurred_at"] for r in records) - t0 <= 3500
    per_second = Counter(min(2, (r["occurred_at"] - t0) // 1000) for r in records)
    for second in (0, 1):
        assert per_second[second] == pytest.approx(500, rel=0.3)
    # Dehradun's digital share falls after 1.5 s; Haridwar's does not.
    def share(lgd: int, after: bool) -> float:
        xs = [is_digital(r["channel"]) for r in records
              if r["district_lgd"] == lgd and ((r["occurred_at"] - t0) >= 1700) == after
              and not 1300 <= r["occurred_at"] - t0 < 1700]
        return sum(xs) / len(xs)
    assert share(49, after=False) > 0.7 and share(49, after=True) < 0.35
    assert share(50, after=True) > 0.7

    seed = codec_for("SeedingEvent")
    seeding = _consume(settings, settings.seeding_topic, 2000)
    assert len(seeding) >= 1900
    for key, value in seeding:
        assert key == str(seed.decode(value)["district_lgd"]).encode()


def test_preproduce_sends_n_encoded_events(settings: Settings) -> None:
    assert preproduce(settings, 3000, seed=1) == 3000
    msgs = _consume(settings, settings.payments_topic, 3000)
    assert len(msgs) == 3000
    pay = codec_for("PaymentEvent")
    assert all(key == str(pay.decode(v)["district_lgd"]).encode() for key, v in msgs)


def test_simulate_sends_the_people_lines_to_their_topics(settings: Settings,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    """Grievances (a 6-hour first load, then raised and resolved live), enablement and enrolments
    land on the settings' topics, encoded with the schemas' codecs and keyed by district."""
    rc = _run_simulate(settings, "--rate", "200", "--duration", "2", "--seed", "5", "--accounts", "500",
                       "--grievance-backlog", "6h", "--grievance-rate", "0.5", "--enablement-rate", "20",
                       "--enrolment-rate", "20")
    assert rc == 0
    printed = capsys.readouterr().out
    sent = {topic: int(n) for topic, n in
            (line.strip().removesuffix(" events").split(": ") for line in printed.splitlines()
             if line.startswith("  ") and line.strip().endswith(" events"))}
    for topic, codec_name in ((settings.grievances_topic, "GrievanceEvent"),
                              (settings.enablement_topic, "AccountEnablementEvent"),
                              (settings.enrolments_topic, "SchemeEnrolmentEvent")):
        assert sent[topic] > 0, printed
        codec = codec_for(codec_name)
        msgs = _consume(settings, topic, sent[topic])
        assert len(msgs) == sent[topic], topic
        records = [codec.decode(value) for _, value in msgs]
        assert all(key == str(r["district_lgd"]).encode() for (key, _), r in zip(msgs, records, strict=True))
        if codec_name == "GrievanceEvent":
            actions = Counter(r["action"] for r in records)
            assert actions["RAISED"] >= 0.5 * 6 * 3600 and actions["RESOLVED"] > 0
        if codec_name == "AccountEnablementEvent":
            assert len(records) >= 500 + 20 and any(r["camp_ref"] for r in records)
            assert any(r["holder_age_band"] for r in records)  # the holders' bands ride on enablement


@pytest.mark.parametrize(("kind", "schema"), [("grievances", "GrievanceEvent"),
                                              ("enablement", "AccountEnablementEvent"),
                                              ("enrolments", "SchemeEnrolmentEvent"), ("seeding", "SeedingEvent")])
def test_preproduce_sends_n_events_of_each_kind(settings: Settings, kind: str, schema: str) -> None:
    assert preproduce(settings, 1500, seed=2, kind=kind) == 1500
    topic = {"grievances": settings.grievances_topic, "enablement": settings.enablement_topic,
             "enrolments": settings.enrolments_topic, "seeding": settings.seeding_topic}[kind]
    msgs = _consume(settings, topic, 1500)
    assert len(msgs) == 1500
    codec = codec_for(schema)
    records = [codec.decode(v) for _, v in msgs]
    assert all(key == str(r["district_lgd"]).encode() for (key, _), r in zip(msgs, records, strict=True))
    assert len({r["event_id"] for r in records}) == 1500
