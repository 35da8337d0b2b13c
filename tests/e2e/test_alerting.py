"""End to end, for real: simulator -> broker -> worker -> Prometheus (the real rules) ->
Alertmanager (the real routes and inhibitions) -> webhook receivers, one per receiver name.

How a "sharp drop against the district's own recent level" is made observable in about a
minute: time is compressed by ``FACTOR`` = 60 everywhere, uniformly.

* The worker runs with windows of 1 min and 24 min (``Settings.windows`` = 3600/60 and
  86400/60 s) instead of 1 h and 24 h. Event time stays the wall clock, so everything that
  compares event time with ``time()`` (bank feed freshness, end-to-end delay) behaves as in
  production; only the windows are shorter.
* The rule files are the real ``deploy/prometheus/rules/*.rules.yaml`` passed through
  ``tests.stack.compressed_rule_files``: every duration divided by 60 (``for: 30m`` -> ``30s``,
  ``for: 5m`` -> ``5s``, ``[5m]`` -> ``[5s]``, ``offset 24h`` -> ``offset 24m``) and the
  ``window="1h"``/``"24h"`` selectors of the recording rules mapped to the worker's labels
  ``"1m"``/``"24m"``. Expressions, thresholds, labels and annotations are otherwise the real ones.
* ``deploy/alertmanager/alertmanager.yml`` passes through ``local_alertmanager_config``: its
  group_wait/group_interval/repeat_interval divided by 60 and every receiver's webhook pointed
  at ``<receiver>/<receiver name>``.

The alternative, replaying hours of history fast with the simulator's ``--start/--speedup``,
was rejected: to fill a 1 h window that excludes the pre-drop level, event time must lag the
wall clock by more than an hour, which is exactly what ``DigindexBankFeedSilent`` calls a
silent feed, and that alert (rightly) inhibits the share alerts.

Minute buckets make the compressed 1 min window a single bucket that restarts every minute,
so the window holds 60 times fewer events than an hour would at the same rate: the simulator
runs at ``RATE`` = 1,500 payments/s so that the rules' minimum-volume guards (50 successful
transactions, 200 digital attempts) and the 5 % technical-decline threshold are not crossed
by chance in the smallest districts.
The district target is set to 10 % (``DigindexDistrictBelowTarget`` is not what this test is
about; promtool tests cover it) and ``offset 24m`` reaches before Prometheus started, so
``DigindexDistrictSeedingStalled`` cannot fire either: any district alert other than the drop
in Dehradun is a failure. The simulator's banks decline 0.5-2.2 % of digital attempts for
technical reasons (1.05 % overall; several above RBI's 1 %), so ``DigindexBankTechnicalDeclinesHigh``
(for: 1h -> 60 s) may fire for those banks in the busier districts before the drop is delivered: whatever it sends
must reach that bank's coordinator (``bank-<code>``) only, never a district's receiver, and
the worker's death must not make it send anything (scenario 2).

Scenario 1 (``test_drop_pages_that_district_only``): Dehradun's (LGD 49, the busiest district,
digital share ~86 %) share falls to 10 % after ``DROP_AFTER`` s; the drop alert must fire for
Dehradun only and reach ``dm-dehradun`` only, with nothing district-level anywhere else.
Scenario 2 (``test_dead_worker_pages_operations_only``), on the same stack while that alert is
firing: the worker is SIGKILLed; operations must get the pipeline alert, and no district
receiver anything (no false "resolved" either): Alertmanager's inhibition must hold the
district alert while the pipeline is down. The kill is timed just before the district
route's next flush, the worst case: this holds only because the district alerts have
``keep_firing_for: 10m`` (without it Dehradun is told its alert resolved before the pipeline
alert can fire, which this test showed every time).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pytest

from streams.broker import EmbeddedBroker
from streams.config import Settings
from streams.simulator.feed import FeedOptions

from ..deploy.helpers import ALERTMANAGER_CONFIG, alert_rules, bank_receiver_for, load_yaml
from ..helpers import WorkerProcess
from ..stack import (
    Alertmanager,
    Feed,
    Notification,
    Prometheus,
    WebhookReceiver,
    compressed_rule_files,
    duration_seconds,
    local_alertmanager_config,
    poll,
    stack_settings,
    stop_all,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(420)]

FACTOR = 60
REAL_WINDOWS = (3600.0, 86400.0)
WINDOWS = tuple(w / FACTOR for w in REAL_WINDOWS)
WINDOW_LABELS = {Settings.window_label(r): Settings.window_label(w) for r, w in zip(REAL_WINDOWS, WINDOWS, strict=True)}
RATE = 1500.0
DROP_LGD, DROP_NAME, DROP_RECEIVER = 49, "Dehradun", "dm-dehradun"
DROP_AFTER = 40.0
DROP_TO = 0.1
OPS = "digindex-ops"
DROP_ALERT = "DigindexDistrictDigitalShareDrop"
PIPELINE_ALERTS = {"DigindexPipelineDown", "DigindexWorkerDown"}
#: The district route's group_interval in the compressed configuration (10m / 60 = 10 s).
DISTRICT_GROUP_INTERVAL = duration_seconds(next(
    r for r in load_yaml(ALERTMANAGER_CONFIG)["route"]["routes"] if r["matchers"] == ['district_lgd=~".+"']
)["group_interval"]) / FACTOR
FLUSH_AFTER_KILL = 3.5
#: The bank alerts' keep_firing_for, compressed (10m / 60 = 10 s): an alert whose condition ended
#: because the worker died resolves no earlier than this after the kill.
BANK_KEEP_FIRING = max(duration_seconds(r.get("keep_firing_for", "0s")) for r in alert_rules()
                       if r["labels"].get("recipient") == "bank") / FACTOR


@dataclass
class Stack:
    settings: Settings
    receiver: WebhookReceiver
    alertmanager: Alertmanager
    prometheus: Prometheus
    worker: WorkerProcess
    feed: Feed
    drop_time: float  # wall clock, when the simulator drops Dehradun's share (to within its first load)
    #: filled by the drop phase: when the drop notification arrived, and what was delivered by then
    delivered_at: float = 0.0
    deliveries: list[Notification] = field(default_factory=list)
    firing: list[dict[str, Any]] = field(default_factory=list)  # Prometheus's firing alerts then

    def diagnostics(self) -> str:
        parts = [self.prometheus.alerts_text(), self.alertmanager.alerts_text(), self.receiver.text()]
        try:
            for rec in ("district:digindex_digital_share:ratio_1h", "district:digindex_digital_share:ratio_24h"):
                values = {s["metric"]["district_lgd"]: round(float(s["value"][1]), 3)
                          for s in self.prometheus.vector(rec)}
                parts.append(f"{rec}: {dict(sorted(values.items()))}")
            parts.append(f"up: {self.prometheus.up()}")
        except (OSError, AssertionError) as exc:
            parts.append(f"(Prometheus queries failed: {exc})")
        parts.append(f"simulator (error: {self.feed.error!r}):\n" + self.feed.out.getvalue()[-1500:])
        parts.append("worker log:\n" + self.worker.log_text()[-2000:])
        parts.append("prometheus log:\n" + self.prometheus.log_text(1500))
        parts.append("alertmanager log:\n" + self.alertmanager.log_text(1500))
        return "\n\n".join(parts)


def _district_alerts(notifications: list[Notification], *, banks: bool = True) -> list[tuple[str, str, str, str]]:
    """(receiver, status, alertname, district_lgd) of every district-level alert delivered (with
    ``banks=False``, not the alerts for a bank's coordinator, which carry district_lgd too)."""
    return [(n.receiver, a["status"], a["labels"]["alertname"], a["labels"]["district_lgd"])
            for n in notifications for a in n.alerts
            if "district_lgd" in a["labels"] and (banks or a["labels"].get("recipient") != "bank")]


def _epoch(rfc3339: str) -> float:
    """Alertmanager's startsAt or endsAt (``2026-12-01T15:06:00.123456789Z``) as a Unix time."""
    whole, _, frac = rfc3339.removesuffix("Z").partition(".")
    return datetime.fromisoformat(whole + "+00:00").timestamp() + float("0." + (frac or "0"))


def _bank_deliveries_go_to_their_bank(notifications: list[Notification]) -> list[str]:
    """What went wrong with the bank coordinators' notifications (nothing: an empty list)."""
    wrong = []
    for n in notifications:
        for a in n.alerts:
            to_bank = a["labels"].get("recipient") == "bank"
            if to_bank and n.receiver != bank_receiver_for(a["labels"]["bank"]):
                wrong.append(f"{a['labels']} reached {n.receiver}")
            if n.receiver.startswith("bank-") and not to_bank:
                wrong.append(f"{n.receiver} got {a['labels']}")
    return wrong


@pytest.fixture(scope="module")
def stack(broker: EmbeddedBroker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The whole system, brought to the point where the drop alert has reached Dehradun.

    Module-scoped (its own settings, made as tests/conftest.py's ``settings`` fixture makes
    them) because scenario 2 starts from the state scenario 1 produced: a district alert firing.
    """
    tmp = tmp_path_factory.mktemp("e2e")
    settings = stack_settings(broker.url, tmp / "data", windows=WINDOWS, target=0.1)
    receiver = WebhookReceiver()
    started: list = []
    try:
        alertmanager = Alertmanager(tmp / "alertmanager", local_alertmanager_config(receiver.url, FACTOR)).start()
        started.append(alertmanager)
        # The worker first: a Prometheus scraping a worker that is still starting would rightly
        # fire DigindexPipelineDown (for: 5m -> 5 s) and page operations.
        worker = WorkerProcess(settings, tmp / "data-w1", tmp / "w1.log")
        started.append(worker)
        worker.start().wait_ready(90)
        rules = compressed_rule_files(tmp / "rules", FACTOR, WINDOW_LABELS)
        prometheus = Prometheus(tmp / "prometheus", {"worker-1": worker.port}, rules, alertmanager.url)
        started.append(prometheus.start())
        feed_started = time.time()
        # No grievance first load: at this rate two days of them would be ~170,000 events ahead
        # of the payments this test times (the people lines' own tests cover them).
        feed = Feed(settings, FeedOptions(rate=RATE, seed=3, accounts=2000, drop_district=DROP_LGD,
                                          drop_after=DROP_AFTER, drop_to=DROP_TO, grievance_backlog=0))
        started.append(feed)
        s = Stack(settings, receiver, alertmanager, prometheus, worker, feed, drop_time=feed_started + DROP_AFTER)

        def drop_delivered() -> bool:
            return any(alert == DROP_ALERT and receiver_name == DROP_RECEIVER and status == "firing"
                       for receiver_name, status, alert, _ in _district_alerts(receiver.received()))

        poll(drop_delivered, DROP_AFTER + 150, f"{DROP_ALERT} delivered to {DROP_RECEIVER}", s.diagnostics)
        s.delivered_at = time.monotonic()
        time.sleep(3)  # anything else Alertmanager was about to send with it
        s.deliveries = receiver.received()
        s.firing = [a for a in prometheus.alerts() if a["state"] == "firing"]
        yield s
    finally:
        stop_all(started)
        receiver.close()


def test_drop_pages_that_district_only(stack: Stack) -> None:
    diag = stack.diagnostics
    # Prometheus: the drop alert fires for Dehradun, and no other district alert fires at all
    # (the banks' own alerts aside: see the module docstring).
    bank_firing = {a["labels"]["alertname"] for a in stack.firing if a["labels"].get("recipient") == "bank"}
    assert bank_firing <= {"DigindexBankTechnicalDeclinesHigh"}, diag()
    district_firing = [a for a in stack.firing if "district_lgd" in a["labels"]
                       and a["labels"].get("recipient") != "bank"]
    assert [(a["labels"]["alertname"], a["labels"]["district_lgd"]) for a in district_firing] == [
        (DROP_ALERT, str(DROP_LGD))], diag()
    (alert,) = district_firing
    assert alert["labels"]["district"] == DROP_NAME and alert["labels"]["severity"] == "critical", alert
    # ... because of the drop: its condition first held after the drop, not by chance before.
    active_at = datetime.fromisoformat(alert["activeAt"].replace("Z", "+00:00")).timestamp()
    assert active_at > stack.drop_time - 1, f"pending since {alert['activeAt']}, before the drop\n{diag()}"
    # Alertmanager delivered it to Dehradun's receiver, and nothing district-level anywhere else;
    # a bank's alerts, if any fired, reached that bank's coordinator only.
    district = _district_alerts(stack.deliveries, banks=False)
    assert set(district) == {(DROP_RECEIVER, "firing", DROP_ALERT, str(DROP_LGD))}, diag()
    assert {n.receiver for n in stack.deliveries if not n.receiver.startswith("bank-")} == {DROP_RECEIVER}, (
        f"unexpected pages\n{diag()}")
    assert _bank_deliveries_go_to_their_bank(stack.deliveries) == [], diag()
    # The page carries the values and the runbook.
    (page,) = [n for n in stack.deliveries if n.receiver == DROP_RECEIVER][:1]
    ann = page.alerts[0]["annotations"]
    assert ann["description"].startswith(f"{DROP_NAME} (LGD {DROP_LGD}): the digital share"), ann
    assert "%" in ann["description"], ann
    assert ann["runbook_url"].endswith(f"/docs/runbooks/{DROP_ALERT}.md")
    assert page.payload["groupLabels"] == {"alertname": DROP_ALERT, "district_lgd": str(DROP_LGD)}


def _identity(labels: dict[str, str]) -> tuple[str | None, ...]:
    """An alert's identity across Prometheus and Alertmanager (which may add external labels)."""
    return labels.get("alertname"), labels.get("district_lgd"), labels.get("bank")


def test_dead_worker_pages_operations_only(stack: Stack) -> None:
    diag = stack.diagnostics
    firing = {(a["alertname"], a.get("district_lgd")) for a in stack.prometheus.firing()}
    assert (DROP_ALERT, str(DROP_LGD)) in firing, "precondition: the district alert is still firing\n" + diag()
    # Kill the worker at the worst moment for the officials: the district route's next flush
    # (every group_interval after the first page) falls FLUSH_AFTER_KILL s later, after
    # Prometheus has seen the worker gone (one scrape, one evaluation) and before the pipeline
    # alert can fire (its for: 5m -> 5 s). Whatever the district alert does then reaches
    # Dehradun unless Alertmanager already holds it inhibited.
    phase = (time.monotonic() - stack.delivered_at) % DISTRICT_GROUP_INTERVAL
    time.sleep((DISTRICT_GROUP_INTERVAL - FLUSH_AFTER_KILL - phase) % DISTRICT_GROUP_INTERVAL)
    # a bank alert already pending (its for: running) or firing when the worker dies was caused by
    # the data before it, even if its first notification comes after (the simulator's per-bank
    # technical declines sit near the threshold: one turned firing 1 s after a kill in CI)
    before = {_identity(a["labels"]) for a in stack.prometheus.alerts()}
    killed, killed_wall = time.monotonic(), time.time()
    stack.worker.kill()

    # Watch Alertmanager and the receivers until the district route has flushed again after the
    # pipeline alert reached operations (whatever it would send, a "resolved" included, is sent).
    suppressed_seen = False
    paged_at: float | None = None
    deadline = killed + 60
    while time.monotonic() < deadline:
        suppressed_seen = suppressed_seen or any(
            a["labels"]["alertname"] == DROP_ALERT and a["status"]["state"] == "suppressed"
            for a in stack.alertmanager.alerts())
        if paged_at is None:
            paged_at = next((n.received for n in stack.receiver.received(killed) if n.receiver == OPS and any(
                a["labels"]["alertname"] in PIPELINE_ALERTS and a["status"] == "firing" for a in n.alerts)), None)
        elif time.monotonic() > paged_at + DISTRICT_GROUP_INTERVAL + 3:
            break
        time.sleep(0.2)
    assert paged_at is not None, f"no pipeline alert reached operations within 60 s\n{diag()}"
    after = stack.receiver.received(killed)
    assert _district_alerts(after, banks=False) == [], (
        f"a district receiver was notified after the worker died: {_district_alerts(after)}\n{diag()}")
    # A bank's alert that began firing before the kill may have its first notification just after
    # it (group_wait), before the pipeline alert fires; and one whose condition ended before the
    # kill (the simulator's per-bank declines sit near 1 %: one did in CI) resolves within its
    # keep_firing_for of the kill. Nothing else may reach a bank: no "resolved" that the worker's
    # death caused (its series go stale at the first failed scrape, so that one ends at least
    # keep_firing_for after the kill), nothing that began firing after the worker died.
    bank_after = [n for n in after if n.receiver.startswith("bank-")]
    caused = [(n.receiver, a["status"], a["labels"]["district_lgd"], a["startsAt"], a.get("endsAt"))
              for n in bank_after for a in n.alerts
              if (a["status"] != "firing" and _epoch(a["endsAt"]) >= killed_wall + BANK_KEEP_FIRING)
              or (a["status"] == "firing" and _epoch(a["startsAt"]) > killed_wall
                  and _identity(a["labels"]) not in before)]
    assert caused == [], f"a bank's coordinator was notified because the worker died: {caused}\n{diag()}"
    assert _bank_deliveries_go_to_their_bank(bank_after) == [], diag()
    assert {n.receiver for n in after if n not in bank_after} == {OPS}, diag()
    names = {a["labels"]["alertname"] for n in after if n not in bank_after for a in n.alerts}
    assert names == {"DigindexPipelineDown"}, f"operations got {names}\n{diag()}"
    assert suppressed_seen, f"Alertmanager never held {DROP_ALERT} inhibited by the pipeline alert\n{diag()}"
    # The lone worker's DigindexWorkerDown fires too, but the all-workers-down alert inhibits it.
    states = {a["labels"]["alertname"]: a["status"]["state"] for a in stack.alertmanager.alerts()}
    assert states.get("DigindexWorkerDown") == "suppressed", f"{states}\n{diag()}"
    assert states.get("DigindexPipelineDown") == "active", f"{states}\n{diag()}"
