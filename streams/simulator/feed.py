"""Sending simulated events to the broker at a steady rate, or as fast as possible.

Pacing is a token bucket refilled every 10 ms tick and drained in batches, so the
rate holds at thousands of events a second without a sleep per event, and a
stall (GC, slow broker) is caught up only within a bounded burst instead of
flooding the topic afterwards.
"""

from __future__ import annotations

import itertools
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, TextIO

from kafka import KafkaProducer

from ..avro_codec import codec_for
from ..config import Settings
from ..producer import district_key, make_producer
from ..signing import Signer
from ..topics import ensure_topics
from .enablement import EnablementSimulator
from .enrolments import EnrolmentSimulator
from .generator import Simulator
from .grievances import GrievanceSimulator

__all__ = ["PREPRODUCE_KINDS", "FeedOptions", "FeedStats", "TokenBucket", "encoded_payments", "preproduce",
           "run_feed"]

TICK = 0.01


@dataclass(frozen=True)
class FeedOptions:
    """What ``digindex simulate`` was asked to do."""

    rate: float = 200.0  # payments per second
    duration: float | None = None  # seconds after the first load; None: until stopped
    seed: int = 0
    banks: Sequence[str] | None = None
    accounts: int = 20_000
    seeding_rate: float | None = None  # changes per second; None: 1 % of rate, at least 0.5/s
    first_load: bool = True
    drop_district: int | None = None
    drop_after: float = 0.0
    drop_to: float = 0.2
    start_ms: int | None = None  # event time of the first event; None: wall clock
    speedup: float = 1.0  # event seconds per wall second when start_ms is set
    # The people lines (issue 11): grievances, enablement, scheme enrolments.
    grievance_rate: float | None = None  # raised per second; None: calibrated on the payments' declines
    grievance_backlog: float = 2 * 86400.0  # seconds of grievances in the first load (0: none)
    enablement_rate: float | None = None  # changes per second; None: like seeding
    enrolment_rate: float | None = None  # changes per second; None: like seeding

    @property
    def effective_seeding_rate(self) -> float:
        return self._account_rate(self.seeding_rate)

    @property
    def effective_enablement_rate(self) -> float:
        return self._account_rate(self.enablement_rate)

    @property
    def effective_enrolment_rate(self) -> float:
        return self._account_rate(self.enrolment_rate)

    def _account_rate(self, rate: float | None) -> float:
        """An account feed's changes per second: as given, or 1 % of the payments (at least 0.5/s)."""
        if self.accounts <= 0:
            return 0.0
        return rate if rate is not None else max(0.5, self.rate * 0.01)

    def effective_grievance_rate(self, per_payment: float) -> float:
        return self.grievance_rate if self.grievance_rate is not None else self.rate * per_payment


@dataclass
class FeedStats:
    """What was sent, per topic."""

    sent: dict[str, int] = field(default_factory=dict)
    first_load: int = 0
    errors: int = 0
    elapsed: float = 0.0
    interrupted: bool = False

    def summary(self, options: FeedOptions) -> str:
        lines = [f"simulate: seed {options.seed}, {self.elapsed:.1f} s paced, {self.errors} send errors"
                 + (" (interrupted)" if self.interrupted else "")]
        for topic, n in self.sent.items():
            lines.append(f"  {topic}: {n} events")
        if self.first_load:
            lines.append(f"  (first loads: {self.first_load} events)")
        return "\n".join(lines)


class TokenBucket:
    """Tokens accrue at ``rate`` per second up to ``burst``; ``take`` returns whole tokens."""

    def __init__(self, rate: float, t0: float, burst: float | None = None) -> None:
        self.rate = rate
        self.burst = burst if burst is not None else max(1.0, rate * 0.5)
        self.tokens = 0.0
        self.last = t0

    def take(self, now: float) -> int:
        self.tokens = min(self.burst, self.tokens + (now - self.last) * self.rate)
        self.last = now
        n = int(self.tokens)
        self.tokens -= n
        return n


class _EventClock:
    """Event time: the wall clock, or ``start_ms`` advancing ``speedup`` times faster (never future)."""

    def __init__(self, start_ms: int | None, speedup: float) -> None:
        self.start_ms, self.speedup, self.t0 = start_ms, speedup, time.monotonic()

    def now_ms(self) -> int:
        wall = int(time.time() * 1000)
        if self.start_ms is None:
            return wall
        return min(wall, self.start_ms + int((time.monotonic() - self.t0) * 1000 * self.speedup))


class _Sender:
    """Encode and send keyed by district; count sends and asynchronous failures."""

    def __init__(self, producer: KafkaProducer, stats: FeedStats, signer: Signer) -> None:
        self.producer, self.stats = producer, stats
        self.sign = signer.headers  # each event signed with its bank's key
        self._codecs = {name: codec_for(name) for name in (
            "PaymentEvent", "SeedingEvent", "GrievanceEvent", "AccountEnablementEvent", "SchemeEnrolmentEvent")}

    def _failed(self, _exc: BaseException) -> None:
        self.stats.errors += 1

    def send(self, topic: str, schema: str, record: dict[str, Any]) -> None:
        value = self._codecs[schema].encode(record)
        key = district_key(record["district_lgd"])
        fut = self.producer.send(topic, key=key, value=value, headers=self.sign(record["bank_code"], key, value))
        fut.add_errback(self._failed)
        self.stats.sent[topic] = self.stats.sent.get(topic, 0) + 1


@dataclass
class _Feeds:
    """Every simulated source, all from one seed (each draws from its own random stream)."""

    payments: Simulator
    grievances: GrievanceSimulator
    enablement: EnablementSimulator
    enrolments: EnrolmentSimulator

    @classmethod
    def make(cls, options: FeedOptions) -> _Feeds:
        sim = Simulator(options.seed, options.banks, options.accounts)
        enablement = EnablementSimulator(sim, options.accounts)
        return cls(sim, GrievanceSimulator(sim), enablement, EnrolmentSimulator(enablement))


def run_feed(settings: Settings, options: FeedOptions, stop: threading.Event | None = None,
             out: TextIO | None = None, producer: KafkaProducer | None = None) -> FeedStats:
    """Send the first loads, then payments, seeding, grievances, enablement and enrolment changes at
    their rates until done or stopped.

    The first loads: every account's seeding status, enablement and enrolments in force, and the
    grievances of the last ``grievance_backlog`` seconds (``GrievanceSimulator.backlog``).
    Progress and the summary go to ``out`` (default: the current ``sys.stdout``).
    """
    stop = stop or threading.Event()
    out = out or sys.stdout
    stats = FeedStats(sent={t: 0 for t in (settings.payments_topic, settings.seeding_topic,
                                           settings.grievances_topic, settings.enablement_topic,
                                           settings.enrolments_topic)})
    feeds = _Feeds.make(options)
    signer = Signer.from_settings(settings)
    for bank in feeds.payments.banks:
        signer.key_for(bank.code)  # a bank without a key: fail before sending anything
    ensure_topics(settings)
    own = producer is None
    producer = producer or make_producer(settings)
    sender = _Sender(producer, stats, signer)
    clock = _EventClock(options.start_ms, options.speedup)
    try:
        if options.first_load:
            t = time.monotonic()
            now_ms = clock.now_ms()
            loads = [(settings.grievances_topic, "GrievanceEvent", feeds.grievances.backlog(
                now_ms, options.grievance_backlog, options.effective_grievance_rate(feeds.grievances.per_payment)))]
            if options.accounts > 0:
                loads = [(settings.seeding_topic, "SeedingEvent", feeds.payments.first_load(now_ms)),
                         (settings.enablement_topic, "AccountEnablementEvent", feeds.enablement.first_load(now_ms)),
                         (settings.enrolments_topic, "SchemeEnrolmentEvent", feeds.enrolments.first_load(now_ms)),
                         *loads]
            for topic, schema, records in loads:
                for rec in records:
                    sender.send(topic, schema, rec)
                    stats.first_load += 1
            print(f"simulate: first loads ({options.accounts} accounts, {options.grievance_backlog / 3600:g} h of "
                  f"grievances) sent in {time.monotonic() - t:.1f} s", file=out, flush=True)
        _pace(feeds, sender, settings, options, stop, stats, out)
    except KeyboardInterrupt:
        stats.interrupted = True
    finally:
        producer.flush(timeout=30)
        if own:
            producer.close(timeout=5)
    print(stats.summary(options), file=out, flush=True)
    return stats


def _pace(feeds: _Feeds, sender: _Sender, settings: Settings, options: FeedOptions,
          stop: threading.Event, stats: FeedStats, out: TextIO) -> None:
    sim = feeds.payments
    clock = _EventClock(options.start_ms, options.speedup)
    t0 = clock.t0
    end = None if options.duration is None else t0 + options.duration
    pay = TokenBucket(options.rate, t0)
    seed = TokenBucket(options.effective_seeding_rate, t0)
    raise_ = TokenBucket(options.effective_grievance_rate(feeds.grievances.per_payment), t0)
    enable = TokenBucket(options.effective_enablement_rate, t0)
    enrol = TokenBucket(options.effective_enrolment_rate, t0)
    dropped = options.drop_district is None
    next_tick = t0
    try:
        while not stop.is_set():
            now = time.monotonic()
            t = now if end is None else min(now, end)
            if not dropped and t - t0 >= options.drop_after:
                sim.set_digital_share(options.drop_district, options.drop_to)  # type: ignore[arg-type]
                dropped = True
                print(f"simulate: district {options.drop_district} digital share now {options.drop_to:.2f}",
                      file=out, flush=True)
            now_ms = clock.now_ms()
            for _ in range(pay.take(t)):
                sender.send(settings.payments_topic, "PaymentEvent", sim.payment(now_ms))
            for _ in range(seed.take(t)):
                sender.send(settings.seeding_topic, "SeedingEvent", sim.seeding_change(now_ms))
            for rec in feeds.grievances.due(now_ms):
                sender.send(settings.grievances_topic, "GrievanceEvent", rec)
            for _ in range(raise_.take(t)):
                sender.send(settings.grievances_topic, "GrievanceEvent", feeds.grievances.raise_one(now_ms))
            for _ in range(enable.take(t)):
                sender.send(settings.enablement_topic, "AccountEnablementEvent", feeds.enablement.change(now_ms))
            for _ in range(enrol.take(t)):
                if (rec := feeds.enrolments.change(now_ms)) is not None:
                    sender.send(settings.enrolments_topic, "SchemeEnrolmentEvent", rec)
            if end is not None and now >= end:
                break
            next_tick = max(next_tick + TICK, time.monotonic())
            stop.wait(max(0.0, next_tick - time.monotonic()))
    finally:
        stats.elapsed = time.monotonic() - t0


def encoded_payments(seed: int, n: int, now_ms: int) -> list[tuple[bytes, bytes]]:
    """``n`` (key, value) pairs ready to send: for benchmarks that time the producer alone."""
    codec = codec_for("PaymentEvent")
    sim = Simulator(seed, accounts=0)
    records = (sim.payment(now_ms) for _ in range(n))
    return [(district_key(r["district_lgd"]), codec.encode(r)) for r in records]


def _preproduced(kind: str, seed: int, n: int, now_ms: int) -> tuple[str, Iterator[dict[str, Any]]]:
    """(schema, about ``n`` records of ``kind``): a first load topped up with changes (account feeds),
    the grievances raised at a steady rate over the ``n`` seconds before ``now_ms`` (grievances)."""
    if kind == "payments":
        sim = Simulator(seed, accounts=0)
        return "PaymentEvent", (sim.payment(now_ms) for _ in range(n))
    if kind == "grievances":
        g = GrievanceSimulator(Simulator(seed, accounts=0))
        return "GrievanceEvent", g.backlog(now_ms, float(n), 1.0)
    sim = Simulator(seed, accounts=n if kind == "seeding" else 0)
    if kind == "seeding":
        return "SeedingEvent", itertools.chain(sim.first_load(now_ms), iter(lambda: sim.seeding_change(now_ms), None))
    enablement = EnablementSimulator(sim, n)
    if kind == "enablement":
        return "AccountEnablementEvent", itertools.chain(enablement.first_load(now_ms),
                                                         iter(lambda: enablement.change(now_ms), None))
    enrolments = EnrolmentSimulator(enablement)
    tries = (enrolments.change(now_ms) for _ in range(100 * n + 100))  # None: nothing to change there
    changes = (c for c in tries if c is not None)
    return "SchemeEnrolmentEvent", itertools.chain(enrolments.first_load(now_ms), changes)


PREPRODUCE_KINDS = ("payments", "seeding", "grievances", "enablement", "enrolments")


def preproduce(settings: Settings, n: int, *, topic: str | None = None, seed: int = 0, kind: str = "payments",
               now_ms: int | None = None, producer: KafkaProducer | None = None) -> int:
    """Send ``n`` encoded events of ``kind`` (``PREPRODUCE_KINDS``) as fast as possible; return ``n``.

    Seeding and enablement are a first load of about ``n`` accounts topped up (or cut) with changes
    to ``n``; enrolments the enrolments in force of about ``n`` accounts, likewise (the enablement
    kind alone carries no band: no enrolment simulator draws the holders); grievances those of
    the ``n`` seconds before ``now_ms`` at one a second (raised, and the resolutions due), cut at ``n``.
    """
    if kind not in PREPRODUCE_KINDS:
        raise ValueError(f"kind is one of {', '.join(PREPRODUCE_KINDS)}")
    ensure_topics(settings)
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    topic = topic or {"payments": settings.payments_topic, "seeding": settings.seeding_topic,
                      "grievances": settings.grievances_topic, "enablement": settings.enablement_topic,
                      "enrolments": settings.enrolments_topic}[kind]
    stats = FeedStats()
    signer = Signer.from_settings(settings)
    own = producer is None
    producer = producer or make_producer(settings, linger_ms=20)
    sender = _Sender(producer, stats, signer)
    try:
        schema, records = _preproduced(kind, seed, n, now_ms)
        sent = 0
        for rec in itertools.islice(records, n):
            sender.send(topic, schema, rec)
            sent += 1
        producer.flush(timeout=120)
    finally:
        if own:
            producer.close(timeout=5)
    if stats.errors:
        raise RuntimeError(f"{stats.errors} of {n} events failed to send")
    return sent
