"""The worker against the real embedded broker: exact metrics under duplicates, bad input and SIGKILL."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaConsumer

from streams.aadhaar import AADHAAR_LIKE
from streams.avro_codec import codec_for
from streams.config import Settings
from streams.deadletter import decode_dead_letter
from streams.producer import district_key
from streams.registry import DistrictRegistry

from ..helpers import (
    SigningProducer,
    WorkerProcess,
    expected_payments,
    produce,
    produce_raw,
    select,
    total,
    wait_until,
)
from . import data

pytestmark = pytest.mark.integration


def _worker(settings: Settings, tmp_path: Path, name: str = "w1") -> WorkerProcess:
    return WorkerProcess(settings, tmp_path / f"data-{name}", tmp_path / f"{name}.log")


def _drained(workers: list[WorkerProcess], topic: str, n: int) -> bool:
    """True once the live workers together account for ``n`` events of ``topic``."""
    seen = 0.0
    for w in workers:
        if w.alive():
            seen += total(w.metrics(), "digindex_events_total", topic=topic)
    return seen >= n


def _union_shares(workers: list[WorkerProcess], window: str = "1h") -> dict[int, list[float]]:
    """district -> share values exported by the live workers (a list, to catch double export)."""
    out: dict[int, list[float]] = {}
    for w in workers:
        if not w.alive():
            continue
        for labels, v in select(w.metrics(), "digindex_digital_share_ratio", window=window).items():
            out.setdefault(int(dict(labels)["district_lgd"]), []).append(v)
    return out


def _assert_matches_truth(workers: list[WorkerProcess], records: list[dict], settings: Settings) -> None:
    truth = expected_payments(records)
    shares = _union_shares(workers)
    assert sorted(shares) == sorted(truth), "every district exported, by exactly one worker"
    for d, values in shares.items():
        assert len(values) == 1, f"district {d} exported by {len(values)} workers"
        assert values[0] == pytest.approx(truth[d]["share"], abs=1e-12), f"district {d}"
    vshares: dict[int, float] = {}
    for w in workers:
        if w.alive():
            for labels, v in select(w.metrics(), "digindex_digital_value_share_ratio", window="24h").items():
                vshares[int(dict(labels)["district_lgd"])] = v
    for d, t in truth.items():
        assert vshares[d] == pytest.approx(t["value_share"], abs=1e-12)
    accepted = sum(total(w.metrics(), "digindex_events_total", topic=settings.payments_topic, outcome="accepted")
                   for w in workers if w.alive())
    assert accepted == sum(t["events"] for t in truth.values())


def test_clean_pass_duplicates_and_republish_give_exact_metrics(settings: Settings, tmp_path: Path) -> None:
    records = data.payments(3000, seed=1)
    w = _worker(settings, tmp_path).start().wait_ready()
    try:
        produce(settings, settings.payments_topic, records)
        wait_until(lambda: _drained([w], settings.payments_topic, 3000), 90, what="3000 events processed")
        _assert_matches_truth([w], records, settings)
        # a bank re-publishes the same file, and a producer retry re-sends a few events
        produce(settings, settings.payments_topic, records + records[:10])
        wait_until(lambda: _drained([w], settings.payments_topic, 6010), 90, what="republished file processed")
        _assert_matches_truth([w], records, settings)
        m = w.metrics()
        assert total(m, "digindex_events_total", topic=settings.payments_topic, outcome="duplicate") == 3010
    finally:
        w.stop()


def test_sigkill_mid_stream_then_restart_gives_exact_metrics(settings: Settings, tmp_path: Path) -> None:
    records = data.payments(20000, seed=2)
    w = _worker(settings, tmp_path).start().wait_ready()
    produce(settings, settings.payments_topic, records)
    wait_until(lambda: total(w.metrics(), "digindex_events_total", topic=settings.payments_topic) > 4000, 90,
               what="worker mid-stream")
    w.kill()
    w2 = _worker(settings, tmp_path).start()  # same data dir: restart on the same machine
    try:
        wait_until(lambda: _drained([w2], settings.payments_topic, 20000), 120, what="all events after restart")
        time.sleep(1.0)  # nothing more must arrive: replayed events are not counted twice
        _assert_matches_truth([w2], records, settings)
        assert total(w2.metrics(), "digindex_events_total", topic=settings.payments_topic) == 20000
    finally:
        w2.stop()


def test_two_workers_one_killed_survivor_takes_over(settings: Settings, tmp_path: Path) -> None:
    records = data.payments(12000, seed=3)
    w1 = _worker(settings, tmp_path, "w1").start().wait_ready()
    w2 = _worker(settings, tmp_path, "w2").start()
    try:
        # both own partitions: the group rebalanced
        wait_until(lambda: all(total(w.metrics(), "digindex_assigned_partitions",
                                     topic=settings.payments_topic) > 0 for w in (w1, w2)), 60,
                   what="both workers own partitions")
        produce(settings, settings.payments_topic, records[:6000])
        wait_until(lambda: _drained([w1, w2], settings.payments_topic, 6000), 90, what="first half")
        _assert_matches_truth([w1, w2], records[:6000], settings)
        w2.kill()
        produce(settings, settings.payments_topic, records[6000:])
        wait_until(lambda: total(w1.metrics(), "digindex_assigned_partitions",
                                 topic=settings.payments_topic) == settings.topic_partitions, 60,
                   what="survivor owns every partition")
        wait_until(lambda: _drained([w1], settings.payments_topic, 12000), 120, what="survivor drained")
        _assert_matches_truth([w1], records, settings)
    finally:
        w1.stop()
        w2.stop()


def _bad_events(settings: Settings, registry: DistrictRegistry) -> list[tuple[str, bytes, bytes]]:
    codec = codec_for("PaymentEvent")
    good = {**data.payments(1, seed=9)[0], "bank_code": "SBIN"}  # produce_raw signs with SBIN's key
    now = int(time.time() * 1000)

    def variant(**changes: object) -> bytes:
        return codec.encode({**good, "event_id": f"bad-{sorted(changes.items())}", **changes})

    unknown_fp = b"\xc3\x01" + b"\x00" * 8 + b"\x02"
    return [
        ("malformed", district_key(45), b"not avro at all"),
        ("malformed", b"acct 2345 6789 0123", b"keyed by an Aadhaar-like number"),
        ("malformed", district_key(45), b"\xc3\x01" + codec.fingerprint + b"\xff\xff\xff"),
        ("unknown_schema", district_key(45), unknown_fp),
        ("unknown_district", district_key(99), variant(district_lgd=99)),
        ("out_of_range", district_key(45), variant(amount_paise=-5)),
        ("out_of_range", district_key(45), variant(occurred_at=now + 3_600_000)),
        ("aadhaar_like_value", district_key(45), variant(branch_ifsc="2345 6789 0123")),
        ("aadhaar_like_value", district_key(45), variant(event_id="txn-234567890124")),
        ("too_old", district_key(45), variant(occurred_at=now - 9 * 86_400_000)),  # default horizon 7 d
    ]


def test_bad_input_goes_to_dead_letters_and_late_events_are_counted(
        settings: Settings, tmp_path: Path, registry: DistrictRegistry) -> None:
    records = data.payments(500, seed=4, districts=[45])
    bad = _bad_events(settings, registry)
    now = int(time.time() * 1000)
    late = data.payments(20, seed=5, districts=[45], now_ms=now - 30 * 3_600_000, spread_s=60, prefix="late")
    w = _worker(settings, tmp_path).start().wait_ready()
    try:
        produce(settings, settings.payments_topic, records)
        produce_raw(settings, settings.payments_topic, [(k, v) for _, k, v in bad])
        produce(settings, settings.payments_topic, late)
        wait_until(lambda: _drained([w], settings.payments_topic, 500 + len(bad) + 20), 90, what="all processed")
        m = w.metrics()
        assert w.alive(), "bad input never crashes a worker"
        assert total(m, "digindex_events_total", topic=settings.payments_topic, outcome="rejected") == len(bad)
        assert total(m, "digindex_events_total", topic=settings.payments_topic, outcome="late") == 20
        for reason in {r for r, _, _ in bad}:
            assert total(m, "digindex_deadletters_total", topic=settings.payments_topic, reason=reason) == \
                sum(1 for r, _, _ in bad if r == reason), reason
        # late events count in the cumulative totals, not in the windows
        truth = expected_payments(records)
        share = select(m, "digindex_digital_share_ratio", district_lgd="45", window="24h")
        assert next(iter(share.values())) == pytest.approx(truth[45]["share"])
        assert total(m, "digindex_payments_total", district_lgd="45") == 520
        # the dead letters themselves: reason, source coordinates, original bytes, no Aadhaar number
        # sent after the checkpoint that covers them: read until every one came (a loaded machine's
        # join, fetch and checkpoint together took over 5 s), then 2 s more for any extra letter
        consumer = KafkaConsumer(settings.deadletter_topic, bootstrap_servers=settings.bootstrap_servers,
                                 auto_offset_reset="earliest")
        messages: list[Any] = []
        deadline = time.monotonic() + 60
        try:
            while time.monotonic() < deadline:
                for batch in consumer.poll(timeout_ms=500).values():
                    messages += batch
                if len(messages) >= len(bad):
                    deadline = min(deadline, time.monotonic() + 2)
        finally:
            consumer.close()
        letters = [decode_dead_letter(msg.value) for msg in messages]
        assert all(AADHAAR_LIKE.search((msg.key or b"").decode("latin-1")) is None for msg in messages), \
            "dead-letter keys are masked too"
        assert sorted(x["reason"] for x in letters) == sorted(r for r, _, _ in bad)
        originals = {v for _, _, v in bad}
        for x in letters:
            assert x["topic"] == settings.payments_topic and x["offset"] >= 0 and x["partition"] >= 0
            raw = x["original"]
            assert AADHAAR_LIKE.search(raw.decode("latin-1")) is None
            assert AADHAAR_LIKE.search(x["message"]) is None
            if x["reason"] != "aadhaar_like_value":
                assert raw in originals
            else:
                assert b"XXXX" in raw
        # the numbers planted above, in any grouping; not AADHAAR_LIKE over the whole log, which spans lines
        # (Faust's timer-drift line ending "sleeptime=1.92882096 " and the next line's "[2026" matched it)
        planted = re.compile("|".join(r"[\W_]{0,3}".join(n) for n in ("234567890123", "234567890124")))
        assert planted.search(w.log_text()) is None, "no Aadhaar number in the worker's log"
    finally:
        w.stop()


def test_seeding_coverage_exact_after_sigkill(settings: Settings, tmp_path: Path) -> None:
    records = data.seeding(8000, seed=6)
    # a later change: the first 500 accounts become SEEDED, then a re-sent copy of some of the load
    now = int(time.time() * 1000)
    changes = [{**r, "event_id": f"chg-{i}", "occurred_at": now + 1, "status": "SEEDED"}
               for i, r in enumerate(records[:500])]
    w = _worker(settings, tmp_path).start().wait_ready()
    produce(settings, settings.seeding_topic, records, schema="SeedingEvent")
    wait_until(lambda: total(w.metrics(), "digindex_events_total", topic=settings.seeding_topic) > 2000, 90,
               what="seeding mid-stream")
    w.kill()
    # re-sent copies of the load, of unchanged accounts and of changed ones: all duplicates by event id
    produce(settings, settings.seeding_topic, changes + records[500:600] + records[:50], schema="SeedingEvent")
    w2 = _worker(settings, tmp_path).start()
    try:
        wait_until(lambda: _drained([w2], settings.seeding_topic, 8650), 120, what="seeding drained")
        final = {r["account_ref"]: r for r in records}
        for c in changes:
            final[c["account_ref"]] = c
        m = w2.metrics()
        for d in data.DISTRICTS:
            accts = [r for r in final.values() if r["district_lgd"] == d]
            seeded = sum(1 for r in accts if r["status"] == "SEEDED")
            got = select(m, "digindex_aadhaar_seeding_ratio", district_lgd=str(d))
            assert next(iter(got.values())) == pytest.approx(seeded / len(accts)), d
            assert total(m, "digindex_accounts", district_lgd=str(d)) == len(accts)
        assert total(m, "digindex_events_total", topic=settings.seeding_topic, outcome="duplicate") == 150
        assert total(m, "digindex_events_total", topic=settings.seeding_topic, outcome="late") == 0
        assert total(m, "digindex_events_total", topic=settings.seeding_topic, outcome="accepted") == 8500
    finally:
        w2.stop()


def test_one_banks_clock_or_old_file_never_refuses_another_banks_events(settings: Settings, tmp_path: Path) -> None:
    """Event time per bank, judged by the worker's clock: a bank stamping 4 minutes ahead (within the
    allowed skew) and another sending a 3-day-old file (within the 7-day horizon) are both accepted;
    the old file counts in the cumulative totals, and the windows never end past the worker's clock."""
    now = int(time.time() * 1000)
    ahead = [{**r, "bank_code": "HDFC", "occurred_at": now + 240_000}
             for r in data.payments(200, seed=21, districts=[45], prefix="ahead")]
    old = [{**r, "bank_code": "PUNB"} for r in data.payments(300, seed=22, districts=[45],
                                                              now_ms=now - 3 * 86_400_000, prefix="old")]
    w = _worker(settings, tmp_path).start().wait_ready()
    try:
        produce(settings, settings.payments_topic, ahead)
        wait_until(lambda: _drained([w], settings.payments_topic, 200), 60, what="the bank ahead processed")
        produce(settings, settings.payments_topic, old)
        wait_until(lambda: _drained([w], settings.payments_topic, 500), 60, what="the old file processed")
        m = w.metrics()
        assert total(m, "digindex_events_total", topic=settings.payments_topic, outcome="rejected") == 0
        assert total(m, "digindex_events_total", topic=settings.payments_topic, outcome="late") == 300
        assert total(m, "digindex_payments_total", district_lgd="45") == 500
        newest = total(m, "digindex_last_event_timestamp_seconds", district_lgd="45", topic=settings.payments_topic)
        assert newest * 1000 == max(r["occurred_at"] for r in ahead)  # freshness is the event time...
        txs = total(m, "digindex_window_transactions", district_lgd="45", window="1h")
        assert txs == 200  # ...but the windows hold the bank ahead in the current minute, not past it
    finally:
        w.stop()


def test_every_message_is_accounted_for_whatever_a_foreign_producer_sends(settings: Settings,
                                                                          tmp_path: Path) -> None:
    """Conservation: consumed = accepted + duplicate + late + rejected, one dead letter per refusal."""
    import hashlib

    from kafka import KafkaProducer

    from streams.topics import default_partition

    codec = codec_for("PaymentEvent")
    good = data.payments(30, seed=11, districts=[45])
    home = default_partition(district_key(45), list(range(settings.topic_partitions)))
    elsewhere = (home + 1) % settings.topic_partitions
    huge = b"\x00garbage" * 112_500  # 900 KB: too large to copy whole into a dead letter
    enc = [codec.encode(r) for r in good]
    sends: list[tuple[str, bytes | None, bytes | None, int, list[tuple[str, bytes]]]] = [
        *(("accepted", district_key(45), v, home, []) for v in enc[:25]),
        ("accepted", district_key(45), enc[25], home, [("x-unknown", b"\x01\x02"), ("trace", b"abc")]),
        ("duplicate", district_key(45), enc[0], home, []),
        ("malformed", district_key(45), None, home, []),  # a tombstone
        ("malformed", district_key(45), b"", home, []),
        ("malformed", district_key(45), huge, home, []),
        ("wrong_partition", None, enc[26], home, []),  # no key
        ("wrong_partition", district_key(49), enc[27], default_partition(district_key(49), list(
            range(settings.topic_partitions))), []),  # another district's key (and its partition)
        ("wrong_partition", district_key(45), enc[28], elsewhere, []),  # the right key, another partition
    ]
    producer = SigningProducer(KafkaProducer(bootstrap_servers=settings.bootstrap_servers,
                                             max_request_size=2 << 20), settings)
    for _, key, value, partition, headers in sends:
        producer.send(settings.payments_topic, key=key, value=value, partition=partition, headers=headers)
    producer.flush()
    producer.close()
    w = _worker(settings, tmp_path).start().wait_ready()
    try:
        wait_until(lambda: _drained([w], settings.payments_topic, len(sends)), 90, what="all processed")
        m = w.metrics()
        assert w.alive()
        topic = settings.payments_topic
        assert total(m, "digindex_messages_consumed_total", topic=topic) == len(sends)
        assert total(m, "digindex_events_total", topic=topic) == len(sends)
        for outcome in ("accepted", "duplicate"):
            assert total(m, "digindex_events_total", topic=topic, outcome=outcome) == \
                sum(1 for o, *_ in sends if o == outcome), outcome
        refused = [o for o, *_ in sends if o not in ("accepted", "duplicate")]
        assert total(m, "digindex_events_total", topic=topic, outcome="rejected") == len(refused)
        for reason in set(refused):
            assert total(m, "digindex_deadletters_total", topic=topic, reason=reason) == refused.count(reason)
        consumer = KafkaConsumer(settings.deadletter_topic, bootstrap_servers=settings.bootstrap_servers,
                                 auto_offset_reset="earliest", consumer_timeout_ms=5000)
        messages = list(consumer)
        consumer.close()
        assert sorted(decode_dead_letter(msg.value)["reason"] for msg in messages) == sorted(refused), \
            "exactly one dead letter per refused message"
        (big,) = [x for x in map(decode_dead_letter, (msg.value for msg in messages))
                  if x.get("original_length") == len(huge)]
        assert big["original_sha256"] == hashlib.sha256(huge).hexdigest() and len(big["original"]) < len(huge)
        assert all(len(msg.value) < 1 << 20 for msg in messages)
    finally:
        w.stop()
