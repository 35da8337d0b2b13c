"""Prometheus metrics built at scrape time from the worker's live state.

A custom collector walks the partitions this worker owns right now, so districts
that moved to another worker vanish from here by themselves and every district
appears once across all workers. Names and labels: ``docs/metrics.md``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, ProcessCollector
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from . import __version__
from .banks import default_banks
from .config import Settings
from .delay import DelayHistogram
from .enablement.metrics import enablement_families
from .enrolment.metrics import enrolment_families
from .errors import EventError
from .grievances.metrics import grievance_families
from .payments.metrics import payment_lines
from .payments.rolling import STATUSES, count, value
from .payments.state import PaymentPartitionState
from .runtime import Runtime
from .seeding.state import NOT_SEEDED, SEEDED, SeedingPartitionState

__all__ = ["DELAY_BUCKETS", "REASONS", "IndexCollector", "build_registry"]

#: Every dead-letter reason code (``EventError`` subclasses' ``code``).
REASONS = tuple(sorted(cls.code for cls in EventError.__subclasses__()))

DELAY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 900, 3600, 86400)
_MODES = (("non_digital", False), ("digital", True))


class IndexCollector(Collector):
    """Reads ``Runtime`` on every scrape; ``highwater(topic, partition)`` gives consumer lag."""

    def __init__(self, rt: Runtime, highwater: Callable[[str, int], int | None] | None = None) -> None:
        self.rt = rt
        self.highwater = highwater

    def collect(self) -> Iterator[Metric]:
        rt, s = self.rt, self.rt.settings
        reg = rt.registry
        bank_registry = default_banks()
        dl = ["district_lgd", "district"]
        share = GaugeMetricFamily("digindex_digital_share_ratio",
                                  "Successful digital / all successful transactions in the window",
                                  labels=[*dl, "window"])
        vshare = GaugeMetricFamily("digindex_digital_value_share_ratio",
                                   "Value of successful digital / all successful transactions in the window",
                                   labels=[*dl, "window"])
        wtx = GaugeMetricFamily("digindex_window_transactions", "Transactions in the window by status and mode",
                                labels=[*dl, "window", "status", "mode"])
        tdr = GaugeMetricFamily("digindex_technical_decline_ratio",
                                "Technical declines / all digital attempts in the window", labels=[*dl, "window"])
        btx = GaugeMetricFamily("digindex_bank_window_transactions",
                                "Transactions in the window by reporting bank, status and mode",
                                labels=[*dl, "bank", "window", "status", "mode"])
        ptot = CounterMetricFamily("digindex_payments", "Accepted payments by channel and status (late included)",
                                   labels=[*dl, "channel", "status"])
        amt = CounterMetricFamily("digindex_payments_amount_rupees", "Value of accepted successful payments",
                                  labels=[*dl, "mode"])
        last = GaugeMetricFamily("digindex_last_event_timestamp_seconds",
                                 "Event time of the district's latest accepted event", labels=[*dl, "topic"])
        target = GaugeMetricFamily("digindex_district_target_ratio", "Configured digital-share target", labels=dl)
        windows = [(i, Settings.window_label(w)) for i, w in enumerate(s.windows)]
        owned: set[int] = set()
        bank_last: dict[tuple[str, str], int] = {}
        bank_district_last: dict[tuple[int, str, str], int] = {}
        outcomes: dict[str, Counter[str]] = {s.payments_topic: Counter(), s.seeding_topic: Counter()}
        dead: dict[str, Counter[str]] = {s.payments_topic: Counter(), s.seeding_topic: Counter()}
        lag = GaugeMetricFamily("digindex_consumer_lag_messages", "High watermark minus next offset to process",
                                labels=["topic", "partition"])

        def partition_figures(topic: str, partition: int, state: PaymentPartitionState | SeedingPartitionState) -> None:
            """What every partition state has, whatever its topic: lag, outcomes, bank freshness."""
            hw = self.highwater(topic, partition) if self.highwater else None
            if hw is not None:
                lag.add_metric([topic, str(partition)], max(0, hw - state.offset - 1))
            outcomes[topic].update(state.outcomes)
            dead[topic].update(state.deadletters)
            for bank, ts in state.bank_last_event_ms.items():
                bank_last[(bank, topic)] = max(bank_last.get((bank, topic), 0), ts)
            for bank, districts in state.bank_district_last_ms.items():
                for lgd, ts in districts.items():
                    key = (lgd, bank, topic)
                    bank_district_last[key] = max(bank_district_last.get(key, 0), ts)

        for p, state in sorted(rt.payments.items()):
            partition_figures(s.payments_topic, p, state)
            for lgd, d in sorted(state.districts.items()):
                owned.add(lgd)
                labels = [str(lgd), reg.get(lgd).name]
                banks = sorted(d.banks.items())  # their windows end where the district's do (the state moves them)
                for i, wl in windows:
                    vec = d.rolling.window(i)
                    ok_n = count(vec, "SUCCESS", False) + count(vec, "SUCCESS", True)
                    ok_v = value(vec, "SUCCESS", False) + value(vec, "SUCCESS", True)
                    if ok_n:
                        share.add_metric([*labels, wl], count(vec, "SUCCESS", True) / ok_n)
                    if ok_v:
                        vshare.add_metric([*labels, wl], value(vec, "SUCCESS", True) / ok_v)
                    digital_attempts = sum(count(vec, st, True) for st in STATUSES)
                    if digital_attempts:
                        tdr.add_metric([*labels, wl], count(vec, "TECHNICAL_DECLINE", True) / digital_attempts)
                    for st in STATUSES:
                        for mode, dig in _MODES:
                            wtx.add_metric([*labels, wl, st, mode], count(vec, st, dig))
                    for bank, r in banks:
                        bvec = r.window(i)
                        for st in STATUSES:
                            for mode, dig in _MODES:
                                btx.add_metric([*labels, bank, wl, st, mode], count(bvec, st, dig))
                for (channel, st), n in sorted(d.totals.items()):
                    ptot.add_metric([*labels, channel, st], n)
                for mode, dig in _MODES:
                    amt.add_metric([*labels, mode], d.amounts[dig] / 100)
                if d.last_event_ms:
                    last.add_metric([*labels, s.payments_topic], d.last_event_ms / 1000)

        seeding_ratio = GaugeMetricFamily("digindex_aadhaar_seeding_ratio",
                                          "Accounts whose latest status is SEEDED / all accounts known", labels=dl)
        accounts = GaugeMetricFamily("digindex_accounts", "Accounts known, by latest seeding status",
                                     labels=[*dl, "status"])
        for p, st in sorted(rt.seeding.items()):
            partition_figures(s.seeding_topic, p, st)
            for lgd, ts in sorted(st.last_event_ms.items()):
                owned.add(lgd)
                last.add_metric([str(lgd), reg.get(lgd).name, s.seeding_topic], ts / 1000)
        for lgd, c in sorted(rt.accounts.items()):
            total = c[SEEDED] + c[NOT_SEEDED]
            if total <= 0:
                continue
            labels = [str(lgd), reg.get(lgd).name]
            seeding_ratio.add_metric(labels, c[SEEDED] / total)
            for status in (SEEDED, NOT_SEEDED):
                accounts.add_metric([*labels, status], c[status])
        for lgd in sorted(owned):
            target.add_metric([str(lgd), reg.get(lgd).name], s.target_for(lgd))

        consumed = CounterMetricFamily("digindex_messages_consumed", "Messages taken from the topic: the sum of "
                                       "digindex_events_total over its outcomes", labels=["topic"])
        for _, runner in sorted(rt.runners.items()):  # every signal's topic, the internal ones included
            topic = runner.signal.topic
            states = [proc.state for proc in runner.processors.values()]
            consumed.add_metric([topic], sum(st.consumed for st in states))
            if topic not in outcomes:  # payments and seeding were added by partition_figures
                outcomes[topic] = sum((st.outcomes for st in states), Counter())
                dead[topic] = sum((st.deadletters for st in states), Counter())
        events = CounterMetricFamily("digindex_events", "Events by outcome", labels=["topic", "outcome"])
        for topic, c in outcomes.items():
            for outcome in ("accepted", "duplicate", "rejected", "late"):
                events.add_metric([topic, outcome], c[outcome])
        deadletters = CounterMetricFamily("digindex_deadletters", "Events sent to the dead-letter topic",
                                          labels=["topic", "reason"])
        for topic, c in dead.items():
            for reason in sorted(set(REASONS) | set(c)):  # every reason from 0, so increase() sees the first
                deadletters.add_metric([topic, reason], c[reason])
        bl = GaugeMetricFamily("digindex_bank_last_event_timestamp_seconds",
                               "Event time of the bank's latest accepted event", labels=["bank", "topic"])
        for (bank, topic), ts in sorted(bank_last.items()):
            bl.add_metric([bank, topic], ts / 1000)
        bdl = GaugeMetricFamily("digindex_bank_district_last_event_timestamp_seconds",
                                "Event time of the bank's latest accepted event in the district",
                                labels=[*dl, "bank", "topic"])
        for (lgd, bank, topic), ts in sorted(bank_district_last.items()):
            bdl.add_metric([str(lgd), reg.get(lgd).name, bank, topic], ts / 1000)
        binfo = GaugeMetricFamily("digindex_bank_info", "One per bank this worker has accepted events from: "
                                  "its name in the IFSC registry", labels=["bank", "name"])
        for bank in sorted({bank for bank, _ in bank_last}):
            binfo.add_metric([bank, bank_registry.names.get(bank, bank)], 1)
        assigned = GaugeMetricFamily("digindex_assigned_partitions", "Partitions this worker owns", labels=["topic"])
        ckpt = CounterMetricFamily("digindex_checkpoints", "State checkpoints written", labels=["topic"])
        restore = GaugeMetricFamily("digindex_restore_seconds", "How long the last restore of a partition took",
                                    labels=["topic", "partition"])
        for name, runner in sorted(rt.runners.items()):
            topic = runner.signal.topic
            assigned.add_metric([topic], len(runner.processors))
            ckpt.add_metric([topic], rt.checkpoints(name))
            for p, proc in sorted(runner.processors.items()):
                restore.add_metric([topic, str(p)], proc.restored_in)
        reb = CounterMetricFamily("digindex_rebalances", "Partition assignments this worker went through")
        reb.add_metric([], rt.rebalances)
        info = GaugeMetricFamily("digindex_worker_info", "One per running worker", labels=["worker", "version"])
        info.add_metric([rt.worker_id, __version__], 1)
        yield from payment_lines((state for _, state in sorted(rt.payments.items())), reg)
        for _, st in sorted(rt.grievances.items()):
            for lgd, ts in sorted(st.last_event_ms.items()):
                last.add_metric([str(lgd), reg.get(lgd).name, s.grievances_topic], ts / 1000)
        yield from grievance_families((st for _, st in sorted(rt.grievances.items())), reg, s)
        for _, st in sorted(rt.enablement.items()):
            for lgd, ts in sorted(st.last_event_ms.items()):
                last.add_metric([str(lgd), reg.get(lgd).name, s.enablement_topic], ts / 1000)
        yield from enablement_families((st for _, st in sorted(rt.enablement.items())), reg)
        for _, est in sorted(rt.enrolment.items()):
            for lgd, ts in sorted(est.last_event_ms.items()):
                last.add_metric([str(lgd), reg.get(lgd).name, s.enrolments_topic], ts / 1000)
        yield from enrolment_families((st for _, st in sorted(rt.enrolment.items())), reg)
        yield from (share, vshare, wtx, tdr, btx, ptot, amt, seeding_ratio, accounts, target, last, bl, bdl, binfo,
                    events, consumed, deadletters, lag, assigned, ckpt, restore, reb, info)


def build_registry(rt: Runtime, highwater: Callable[[str, int], int | None] | None = None
                   ) -> tuple[CollectorRegistry, DelayHistogram]:
    """A fresh registry with the index collector, process metrics and the delay histogram."""
    registry = CollectorRegistry(auto_describe=True)
    registry.register(IndexCollector(rt, highwater))
    ProcessCollector(namespace="digindex", registry=registry)
    delay = DelayHistogram("digindex_event_delay_seconds", "Processing time minus the event's occurred_at",
                           DELAY_BUCKETS)
    registry.register(delay)
    return registry, delay
