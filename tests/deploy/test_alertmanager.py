"""Alertmanager: the configuration, its routing table (amtool) and its inhibitions (a real
Alertmanager from Debian's prometheus-alertmanager, on a free loopback port)."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from streams.simulator.generator import DEFAULT_BANKS

from .helpers import (
    ALERTMANAGER_CONFIG,
    alert_rules,
    bank_receiver_for,
    load_yaml,
    receiver_for,
    run,
    tool,
    uttarakhand_districts,
)

DISTRICT_ALERT = "DigindexDistrictDigitalShareDrop"
BANK_ALERT = "DigindexBankTechnicalDeclinesHigh"


def _routes_test(receiver: str, *labels: str) -> subprocess.CompletedProcess[str]:
    return run(tool("amtool"), "config", "routes", "test", f"--config.file={ALERTMANAGER_CONFIG}",
               f"--verify.receivers={receiver}", *labels)


def test_amtool_check_config() -> None:
    result = run(tool("amtool"), "check-config", ALERTMANAGER_CONFIG)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


#: (labels of an alert, the receiver it must reach)
ROUTING_TABLE = [
    *[((f"alertname={DISTRICT_ALERT}", f"district_lgd={d['district_lgd']}", f"district={d['district']}",
        "severity=critical"), receiver_for(d["district"])) for d in uttarakhand_districts()],
    (("alertname=DigindexDistrictBelowTarget", "district_lgd=45", "severity=warning"), "dm-almora"),
    (("alertname=DigindexDistrictSeedingStalled", "district_lgd=57", "severity=warning"), "dm-uttar-kashi"),
    (("alertname=DigindexDistrictTechnicalDeclineSpike", "district_lgd=56"), "dm-udam-singh-nagar"),
    # The district's Lead District Manager (on its receiver) coordinates the banks' literacy camps.
    (("alertname=DigindexDistrictEnablementBelowTarget", "district_lgd=46", "district=Bageshwar",
      "account_type=SAVINGS", "severity=warning"), "dm-bageshwar"),
    # A district with no receiver of its own (another state's LGD code) is not dropped.
    ((f"alertname={DISTRICT_ALERT}", "district_lgd=999", "severity=critical"), "digindex-ops"),
    (("alertname=DigindexWorkerDown", "instance=worker-1", "job=digindex", "severity=warning"), "digindex-ops"),
    (("alertname=DigindexPipelineDown", "job=digindex", "severity=critical"), "digindex-ops"),
    (("alertname=DigindexConsumerLagHigh", "topic=payments", "severity=critical"), "digindex-ops"),
    (("alertname=DigindexBankFeedSilent", "bank=SBIN", "topic=payments"), "digindex-ops"),
    # scopes the silent bank's inhibition; carries a district_lgd but reaches no district
    (("alertname=DigindexBankFeedSilentInDistrict", "bank=SBIN", "topic=payments", "district_lgd=45",
      "severity=info"), "digindex-none"),
    (("alertname=DigindexDeadLetterRateHigh", "topic=payments"), "digindex-ops"),
    (("alertname=DigindexAadhaarLikeValueRejected", "topic=payments"), "digindex-ops"),
    (("alertname=DigindexConservationBroken", "instance=worker-1", "topic=payments", "severity=critical"),
     "digindex-ops"),
    # A bank's alerts in a district reach that bank's coordinator, never the district's DM.
    *[((f"alertname={BANK_ALERT}", "recipient=bank", f"bank={code}", "district_lgd=45", "district=Almora",
        "severity=critical"), bank_receiver_for(code)) for code in DEFAULT_BANKS],
    (("alertname=DigindexBankBranchesBelowTarget", "recipient=bank", "bank=UTKS", "district_lgd=53",
      "severity=info"), "bank-utks"),
    (("alertname=DigindexBankGrievancesPastTat", "recipient=bank", "bank=PUNB", "district_lgd=49",
      "district=Dehradun", "severity=critical"), "bank-punb"),
    # A bank with no receiver of its own (not a partner bank yet) is not dropped.
    ((f"alertname={BANK_ALERT}", "recipient=bank", "bank=KKBK", "district_lgd=45", "severity=critical"),
     "digindex-ops"),
]


@pytest.mark.parametrize(("labels", "receiver"), ROUTING_TABLE, ids=lambda v: v if isinstance(v, str) else v[1])
def test_route(labels: tuple[str, ...], receiver: str) -> None:
    result = _routes_test(receiver, *labels)
    assert result.returncode == 0, f"{labels} -> {result.stdout.strip()} (expected {receiver})"


def test_routing_table_covers_every_alert() -> None:
    routed = {label.split("=", 1)[1] for labels, _ in ROUTING_TABLE for label in labels
              if label.startswith("alertname=")}
    assert {rule["alert"] for rule in alert_rules()} <= routed


def test_every_uttarakhand_district_has_its_receiver() -> None:
    config = load_yaml(ALERTMANAGER_CONFIG)
    receivers = {r["name"]: r for r in config["receivers"]}
    district_route = next(r for r in config["route"]["routes"] if r["matchers"] == ['district_lgd=~".+"'])
    by_code = {r["matchers"][0]: r["receiver"] for r in district_route["routes"]}
    for d in uttarakhand_districts():
        name = receiver_for(d["district"])
        assert by_code[f'district_lgd="{d["district_lgd"]}"'] == name
        assert receivers[name]["webhook_configs"][0]["url"].startswith("https://")
    bank_route = next(r for r in config["route"]["routes"] if r["matchers"] == ['recipient="bank"'])
    by_bank = {r["matchers"][0]: r["receiver"] for r in bank_route["routes"]}
    assert set(receivers) == {"digindex-ops", "digindex-none", *by_code.values(), *by_bank.values()}, (
        "unused or missing receivers")
    assert set(receivers["digindex-none"]) == {"name"}, "digindex-none notifies nobody"
    # Districts are grouped per district, and notified less often than operations.
    assert "district_lgd" in district_route["group_by"]
    assert district_route["repeat_interval"] == "12h"


def test_every_partner_bank_has_its_coordinator_receiver() -> None:
    """The banks the simulator (and the Compose key registry) know: one receiver each, reached by
    every alert the rules mark recipient=bank, which must also carry the bank and district labels."""
    config = load_yaml(ALERTMANAGER_CONFIG)
    receivers = {r["name"]: r for r in config["receivers"]}
    routes = [r["matchers"] for r in config["route"]["routes"]]
    assert routes.index(['recipient="bank"']) < routes.index(['district_lgd=~".+"']), "bank route first"
    bank_route = config["route"]["routes"][routes.index(['recipient="bank"'])]
    by_bank = {r["matchers"][0]: r["receiver"] for r in bank_route["routes"]}
    assert by_bank == {f'bank="{code}"': bank_receiver_for(code) for code in DEFAULT_BANKS}
    for name in by_bank.values():
        assert receivers[name]["webhook_configs"][0]["url"].startswith("https://")
    assert {"bank", "district_lgd"} <= set(bank_route["group_by"]) and bank_route["repeat_interval"] == "12h"
    to_banks = [rule for rule in alert_rules() if rule["labels"].get("recipient") == "bank"]
    assert {rule["alert"] for rule in to_banks} == {BANK_ALERT, "DigindexBankBranchesBelowTarget",
                                                   "DigindexBankGrievancesPastTat"}
    for rule in to_banks:  # every bank alert keeps the labels its route groups by
        assert re.search(r"(on|by) \(district_lgd, district, bank\)", rule["expr"]), rule["alert"]


# --- inhibition, checked by a real Alertmanager ------------------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Alertmanager:
    def __init__(self, url: str) -> None:
        self.url = url

    def post(self, *alerts: dict[str, str]) -> None:
        body = json.dumps([{"labels": labels, "annotations": {}} for labels in alerts]).encode()
        req = urllib.request.Request(f"{self.url}/api/v2/alerts", data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=5):
            pass

    def alerts(self) -> list[dict]:
        with urllib.request.urlopen(f"{self.url}/api/v2/alerts", timeout=5) as resp:
            return json.load(resp)

    def states(self, expected: int) -> dict[tuple[str, str], tuple[str, list[str]]]:
        """(alertname, district_lgd or '') -> (state, receivers), once the inhibitor has seen them all."""
        deadline = time.monotonic() + 10
        while True:
            alerts = self.alerts()
            if len(alerts) == expected or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        time.sleep(0.3)  # the inhibitor subscribes to new alerts asynchronously
        return {(a["labels"]["alertname"], a["labels"].get("district_lgd", "")):
                (a["status"]["state"], sorted(r["name"] for r in a["receivers"])) for a in self.alerts()}


@pytest.fixture
def alertmanager(tmp_path: Path) -> Iterator[Alertmanager]:
    """The real configuration, its webhooks pointed at a closed loopback port."""
    config = tmp_path / "alertmanager.yml"
    config.write_text(ALERTMANAGER_CONFIG.read_text().replace("https://notify.example.invalid/", "http://127.0.0.1:9/"))
    port = _free_port()
    proc = subprocess.Popen(
        [tool("prometheus-alertmanager"), f"--config.file={config}", f"--storage.path={tmp_path / 'data'}",
         f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address="],
        stdout=subprocess.DEVNULL, stderr=(tmp_path / "alertmanager.log").open("w"))
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                with urllib.request.urlopen(f"{url}/-/ready", timeout=1):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail("alertmanager did not start: " + (tmp_path / "alertmanager.log").read_text())
                time.sleep(0.1)
        yield Alertmanager(url)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _district(alertname: str, lgd: str) -> dict[str, str]:
    return {"alertname": alertname, "district_lgd": lgd, "severity": "critical"}


@pytest.mark.parametrize("pipeline_alert", [
    {"alertname": "DigindexWorkerDown", "job": "digindex", "instance": "worker-1", "severity": "warning"},
    {"alertname": "DigindexPipelineDown", "job": "digindex", "severity": "critical"},
    {"alertname": "DigindexConsumerLagHigh", "topic": "payments", "severity": "critical"},
], ids=lambda a: a["alertname"])
def test_pipeline_failure_mutes_every_district_alert(alertmanager: Alertmanager, pipeline_alert: dict) -> None:
    alertmanager.post(pipeline_alert,
                      _district(DISTRICT_ALERT, "45"),
                      _district("DigindexDistrictSeedingStalled", "46"),
                      _district("DigindexDistrictTechnicalDeclineSpike", "57"),
                      {"alertname": "DigindexBankFeedSilent", "bank": "SBIN", "topic": "payments"})
    states = alertmanager.states(5)
    assert states[(pipeline_alert["alertname"], "")] == ("active", ["digindex-ops"])
    assert states[(DISTRICT_ALERT, "45")] == ("suppressed", ["dm-almora"])
    assert states[("DigindexDistrictSeedingStalled", "46")][0] == "suppressed"
    assert states[("DigindexDistrictTechnicalDeclineSpike", "57")][0] == "suppressed"
    assert states[("DigindexBankFeedSilent", "")][0] == "suppressed"


def test_district_alerts_reach_their_district_when_the_pipeline_is_healthy(alertmanager: Alertmanager) -> None:
    alertmanager.post(_district(DISTRICT_ALERT, "45"), _district("DigindexDistrictTechnicalDeclineSpike", "49"),
                      {"alertname": "DigindexDeadLetterRateHigh", "topic": "payments", "severity": "warning"})
    states = alertmanager.states(3)
    assert states[(DISTRICT_ALERT, "45")] == ("active", ["dm-almora"])
    assert states[("DigindexDistrictTechnicalDeclineSpike", "49")] == ("active", ["dm-dehradun"])
    assert states[("DigindexDeadLetterRateHigh", "")] == ("active", ["digindex-ops"])


def _bank(alertname: str, bank: str, lgd: str) -> dict[str, str]:
    return {"alertname": alertname, "recipient": "bank", "bank": bank, "district_lgd": lgd, "severity": "critical"}


def test_bank_alerts_reach_the_bank_not_the_district(alertmanager: Alertmanager) -> None:
    alertmanager.post(_bank(BANK_ALERT, "SBIN", "45"), _bank(BANK_ALERT, "PUNB", "49"),
                      _district("DigindexDistrictTechnicalDeclineSpike", "45"))
    states = alertmanager.states(3)
    assert states[(BANK_ALERT, "45")] == ("active", ["bank-sbin"])
    assert states[(BANK_ALERT, "49")] == ("active", ["bank-punb"])
    assert states[("DigindexDistrictTechnicalDeclineSpike", "45")] == ("active", ["dm-almora"])


def test_pipeline_failure_mutes_the_bank_alerts(alertmanager: Alertmanager) -> None:
    alertmanager.post({"alertname": "DigindexWorkerDown", "job": "digindex", "instance": "worker-1"},
                      _bank(BANK_ALERT, "SBIN", "45"), _bank("DigindexBankBranchesBelowTarget", "HDFC", "49"))
    states = alertmanager.states(3)
    assert states[(BANK_ALERT, "45")] == ("suppressed", ["bank-sbin"])
    assert states[("DigindexBankBranchesBelowTarget", "49")] == ("suppressed", ["bank-hdfc"])


def test_all_workers_down_mutes_the_single_worker_alerts(alertmanager: Alertmanager) -> None:
    alertmanager.post({"alertname": "DigindexPipelineDown", "job": "digindex", "severity": "critical"},
                      {"alertname": "DigindexWorkerDown", "job": "digindex", "instance": "worker-2"})
    states = alertmanager.states(2)
    assert states[("DigindexPipelineDown", "")][0] == "active"
    assert states[("DigindexWorkerDown", "")][0] == "suppressed"


def _silent_in(bank: str, topic: str, lgd: str) -> dict[str, str]:
    return {"alertname": "DigindexBankFeedSilentInDistrict", "bank": bank, "topic": topic, "district_lgd": lgd,
            "severity": "info"}


def test_silent_bank_feed_mutes_only_the_alerts_it_falsifies(alertmanager: Alertmanager) -> None:
    """SBIN reports for Almora (45) and Haridwar (50): their share alerts are muted, not Bageshwar's (46)."""
    alertmanager.post({"alertname": "DigindexBankFeedSilent", "bank": "SBIN", "topic": "payments"},
                      _silent_in("SBIN", "payments", "45"), _silent_in("SBIN", "payments", "50"),
                      _district(DISTRICT_ALERT, "45"),
                      _district("DigindexDistrictBelowTarget", "50"),
                      _district(DISTRICT_ALERT, "46"),
                      _district("DigindexDistrictBelowTarget", "49"),
                      _district("DigindexDistrictSeedingStalled", "45"),
                      _district("DigindexDistrictTechnicalDeclineSpike", "45"))
    states = alertmanager.states(10)
    assert states[("DigindexBankFeedSilent", "")] == ("active", ["digindex-ops"])
    assert states[("DigindexBankFeedSilentInDistrict", "45")] == ("active", ["digindex-none"])
    assert states[(DISTRICT_ALERT, "45")][0] == "suppressed"
    assert states[("DigindexDistrictBelowTarget", "50")][0] == "suppressed"
    assert states[(DISTRICT_ALERT, "46")] == ("active", ["dm-bageshwar"]), "SBIN does not report for Bageshwar"
    assert states[("DigindexDistrictBelowTarget", "49")] == ("active", ["dm-dehradun"])
    assert states[("DigindexDistrictSeedingStalled", "45")][0] == "active", "payments silence: seeding stays"
    assert states[("DigindexDistrictTechnicalDeclineSpike", "45")][0] == "active"


def test_a_bank_silent_nowhere_in_particular_mutes_no_district(alertmanager: Alertmanager) -> None:
    """A stray bank (one event with code TEST long ago) reports for no district: nothing is muted."""
    alertmanager.post({"alertname": "DigindexBankFeedSilent", "bank": "TEST", "topic": "payments"},
                      _district(DISTRICT_ALERT, "45"), _district("DigindexDistrictBelowTarget", "57"))
    states = alertmanager.states(3)
    assert states[("DigindexBankFeedSilent", "")] == ("active", ["digindex-ops"])
    assert states[(DISTRICT_ALERT, "45")] == ("active", ["dm-almora"])
    assert states[("DigindexDistrictBelowTarget", "57")] == ("active", ["dm-uttar-kashi"])


def test_silent_seeding_feed_mutes_seeding_alerts(alertmanager: Alertmanager) -> None:
    alertmanager.post({"alertname": "DigindexBankFeedSilent", "bank": "PUNB", "topic": "seeding"},
                      _silent_in("PUNB", "seeding", "46"),
                      _district("DigindexDistrictSeedingStalled", "46"),
                      _district("DigindexDistrictSeedingStalled", "47"),
                      _district(DISTRICT_ALERT, "46"))
    states = alertmanager.states(5)
    assert states[("DigindexDistrictSeedingStalled", "46")][0] == "suppressed"
    assert states[("DigindexDistrictSeedingStalled", "47")][0] == "active"
    assert states[(DISTRICT_ALERT, "46")][0] == "active"


def test_silent_enablement_feed_mutes_enablement_alerts(alertmanager: Alertmanager) -> None:
    """A bank whose enablement feed is silent makes its districts' enabled shares stale: their
    enablement alerts are muted there, and nothing else is."""
    alertmanager.post({"alertname": "DigindexBankFeedSilent", "bank": "NTBL", "topic": "enablement"},
                      _silent_in("NTBL", "enablement", "51"),
                      _district("DigindexDistrictEnablementBelowTarget", "51"),
                      _district("DigindexDistrictEnablementBelowTarget", "53"),
                      _district("DigindexDistrictSeedingStalled", "51"))
    states = alertmanager.states(5)
    assert states[("DigindexDistrictEnablementBelowTarget", "51")][0] == "suppressed"
    assert states[("DigindexDistrictEnablementBelowTarget", "53")] == ("active", ["dm-pithoragarh"])
    assert states[("DigindexDistrictSeedingStalled", "51")][0] == "active"


def test_share_drop_mutes_below_target_in_the_same_district_only(alertmanager: Alertmanager) -> None:
    alertmanager.post(_district(DISTRICT_ALERT, "45"), _district("DigindexDistrictBelowTarget", "45"),
                      _district("DigindexDistrictBelowTarget", "46"))
    states = alertmanager.states(3)
    assert states[(DISTRICT_ALERT, "45")][0] == "active"
    assert states[("DigindexDistrictBelowTarget", "45")][0] == "suppressed"
    assert states[("DigindexDistrictBelowTarget", "46")] == ("active", ["dm-bageshwar"])
