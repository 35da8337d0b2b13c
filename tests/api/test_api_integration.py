"""The query API against two real workers: any worker answers any district identically, with the
figures the events sent imply; bad parameters are 4xx problems; a dead owner is a 503 or a
partial answer that says so, until the survivor takes the partitions over."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from streams.api.routing import FORWARDED_HEADER, WORKER_HEADER, partition_of
from streams.channels import is_digital

from ..helpers import wait_until
from ..unit.factories import ENABLEMENT_MODES, SCHEMES, enablement_oracle, scheme_oracle
from ..worker.grievance_oracle import india_day, oracle
from .conftest import DISTRICTS, PARTITIONS, QUIET_DISTRICT, Cluster, get

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def _ratio(num: int, den: int) -> float | None:
    return num / den if den else None


def expected_window(events: list[dict[str, Any]]) -> dict[str, Any]:
    """One district's window figures, from its events (all inside the 1 h window)."""
    ok = [e for e in events if e["status"] == "SUCCESS"]
    digital_ok = [e for e in ok if is_digital(e["channel"])]
    digital = [e for e in events if is_digital(e["channel"])]
    by_status = {st: {"non_digital": 0, "digital": 0} for st in ("SUCCESS", "TECHNICAL_DECLINE", "BUSINESS_DECLINE")}
    for e in events:
        by_status[e["status"]]["digital" if is_digital(e["channel"]) else "non_digital"] += 1
    return {
        "transactions": by_status,
        "digital_share": _ratio(len(digital_ok), len(ok)),
        "digital_value_share": _ratio(sum(e["amount_paise"] for e in digital_ok), sum(e["amount_paise"] for e in ok)),
        "technical_decline_ratio": _ratio(sum(e["status"] == "TECHNICAL_DECLINE" for e in digital), len(digital)),
    }


def expected_branches(events: list[dict[str, Any]], bank: str | None, order: str, limit: int) -> list[dict[str, Any]]:
    """The ranking the API promises, computed from the events: the branches with successful payments
    (``transactions`` counts those), worst = lowest digital share first, ties by more transactions
    then IFSC."""
    at: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for e in events:
        if e["status"] == "SUCCESS" and (bank is None or e["bank_code"] == bank):
            at[e["branch_ifsc"]].append(e)
    rows = []
    for ifsc, es in at.items():
        w = expected_window(es)
        rows.append({"branch_ifsc": ifsc, "bank": es[0]["bank_code"], "transactions": len(es),
                     "digital_share": w["digital_share"], "digital_value_share": w["digital_value_share"]})
    sign = 1 if order == "worst" else -1
    rows.sort(key=lambda r: (sign * r["digital_share"], -r["transactions"], r["branch_ifsc"]))
    return rows[:limit]


def _of(cluster: Cluster, lgd: int) -> list[dict[str, Any]]:
    return [e for e in cluster.events if e["district_lgd"] == lgd]


def test_every_district_answers_identically_from_both_workers(cluster: Cluster) -> None:
    for lgd in DISTRICTS:
        owner, other = cluster.owner(lgd)
        assert partition_of(lgd, PARTITIONS) not in cluster.healthz(other)["payments_partitions"]
        direct, relayed = get(owner.port, f"/api/v1/districts/{lgd}"), get(other.port, f"/api/v1/districts/{lgd}")
        assert direct.status == relayed.status == 200, (direct, relayed)
        assert direct.body == relayed.body, lgd  # byte for byte: the owner computed both
        assert direct.headers[WORKER_HEADER] == relayed.headers[WORKER_HEADER] == cluster.healthz(owner)["worker"]
        body = direct.json()
        assert (body["district_lgd"], body["partition"], body["target"]) == (lgd, partition_of(lgd, PARTITIONS), 0.8)
        want = expected_window(_of(cluster, lgd))
        for label in ("1h", "24h"):
            got = body["figures"]["windows"][label]
            assert got["transactions"] == want["transactions"], (lgd, label)
            for key in ("digital_share", "digital_value_share", "technical_decline_ratio"):
                assert got[key] == pytest.approx(want[key]), (lgd, label, key)


def test_districts_are_gathered_from_both_workers(cluster: Cluster) -> None:
    a, b = cluster.workers
    one, two = get(a.port, "/api/v1/districts"), get(b.port, "/api/v1/districts")
    assert one.status == two.status == 200 and one.body == two.body
    body = one.json()
    assert body["complete"] is True and body["missing_partitions"] == [] and body["unreachable"] == []
    assert [d["district_lgd"] for d in body["districts"]] == DISTRICTS  # not the quiet one
    for d in body["districts"]:
        assert d == get(a.port, f"/api/v1/districts/{d['district_lgd']}").json()
    local = [get(w.port, "/api/v1/districts?scope=local").json() for w in cluster.workers]
    assert sorted(local[0]["partitions"] + local[1]["partitions"]) == list(range(PARTITIONS))
    assert sorted(d["district_lgd"] for part in local for d in part["districts"]) == DISTRICTS


@pytest.mark.parametrize("query", ["", "?window=1h&order=best&limit=3", "?bank=SBIN&window=24h&order=worst&limit=1000"])
def test_branches_answer_identically_from_both_workers(cluster: Cluster, query: str) -> None:
    for lgd in DISTRICTS:
        owner, other = cluster.owner(lgd)
        direct = get(owner.port, f"/api/v1/districts/{lgd}/branches{query}")
        relayed = get(other.port, f"/api/v1/districts/{lgd}/branches{query}")
        assert direct.status == relayed.status == 200 and direct.body == relayed.body, (lgd, query)


def test_branch_figures_and_ranking_match_the_events(cluster: Cluster) -> None:
    for lgd in DISTRICTS:
        for bank, order, window, limit in ((None, "worst", "24h", 20), ("SBIN", "best", "1h", 3),
                                           ("PUNB", "worst", "1h", 1000)):
            q = f"?order={order}&window={window}&limit={limit}" + (f"&bank={bank}" if bank else "")
            body = get(cluster.workers[0].port, f"/api/v1/districts/{lgd}/branches{q}").json()
            want = expected_branches(_of(cluster, lgd), bank, order, limit)
            assert [r["branch_ifsc"] for r in body["branches"]] == [r["branch_ifsc"] for r in want], (lgd, q)
            for got, exp in zip(body["branches"], want, strict=True):
                assert got == pytest.approx(exp), (lgd, q)
            assert (body["window"], body["bank"], body["order"], body["limit"]) == (window, bank, order, limit)


def expected_signals(events: list[dict[str, Any]], target: float, least: int) -> dict[str, Any]:
    """Purposes, departments and banks of one district's window, from its events: a purpose's and a
    department's share over its successful payments (``qr_share`` for bills), a bank's NPCI decline
    ratios over its digital attempts, and its branches with payments / reporting (``least``
    successful payments) / below ``target``."""
    ok = [e for e in events if e["status"] == "SUCCESS"]
    purposes: dict[str, Any] = {}
    for purpose in sorted({e["purpose"] for e in ok}):
        of = [e for e in ok if e["purpose"] == purpose]
        fig: dict[str, Any] = {"transactions": len(of),
                               "digital_share": sum(is_digital(e["channel"]) for e in of) / len(of)}
        if purpose.startswith("BILL_"):
            fig["qr_share"] = sum(e["channel"] == "UPI_QR" for e in of) / len(of)
        purposes[purpose] = fig
    departments = {}
    for code in sorted({e["department_code"] for e in ok} - {None}):
        of = [e for e in ok if e["department_code"] == code]
        departments[code] = {"transactions": len(of),
                             "digital_share": sum(is_digital(e["channel"]) for e in of) / len(of)}
    banks: dict[str, Any] = {}
    for bank in sorted({e["bank_code"] for e in events}):
        of = [e for e in events if e["bank_code"] == bank]
        tried = [e for e in of if is_digital(e["channel"])]
        branches = defaultdict(list)
        for e in of:
            if e["status"] == "SUCCESS":
                branches[e["branch_ifsc"]].append(is_digital(e["channel"]))
        assessed = [b for b in branches.values() if len(b) >= least]
        banks[bank] = {
            "transactions": expected_window(of)["transactions"], "digital_attempts": len(tried),
            "technical_decline_ratio": _ratio(sum(e["status"] == "TECHNICAL_DECLINE" for e in tried), len(tried)),
            "business_decline_ratio": _ratio(sum(e["status"] == "BUSINESS_DECLINE" for e in tried), len(tried)),
            "branches_with_payments": len(branches), "branches_reporting": len(assessed),
            "branches_below_target": sum(sum(b) / len(b) < target for b in assessed),
        }
    return {"purposes": purposes, "departments": departments, "banks": banks}


def test_district_purpose_department_and_bank_figures_match_the_events(cluster: Cluster) -> None:
    for lgd in DISTRICTS:
        body = get(cluster.workers[1].port, f"/api/v1/districts/{lgd}").json()
        least = body["figures"].get("branch_min_transactions", 20)
        want = expected_signals(_of(cluster, lgd), body["target"], least)
        for label in ("1h", "24h"):
            got = body["figures"]["windows"][label]
            for kind in ("purposes", "departments"):
                assert sorted(got[kind]) == sorted(want[kind]), (lgd, label, kind)
                for key, exp in want[kind].items():
                    assert got[kind][key] == pytest.approx(exp), (lgd, label, key)
            assert sorted(got["banks"]) == sorted(want["banks"]), (lgd, label)
            for bank, exp in want["banks"].items():
                fig = got["banks"][bank]
                assert fig["transactions"] == exp["transactions"], (lgd, label, bank)
                assert {k: v for k, v in fig.items() if k != "transactions"} == \
                    pytest.approx({k: v for k, v in exp.items() if k != "transactions"}), (lgd, label, bank)


def expected_grievances(cluster: Cluster, lgd: int, today: int) -> dict[str, Any]:
    """``figures.grievances`` of a district as the oracle counts it (the metrics' figures, per district)."""
    s = cluster.settings
    want = oracle(cluster.grievances, today, s.windows, s.grievance_days)
    tats, names = ("within", "past", "none"), ("raised_after_resolved", "raised_twice", "resolved_twice",
                                                "resolved_unknown")
    banks = {}
    for bank in sorted({e["bank_code"] for e in cluster.grievances if e["district_lgd"] == lgd}):
        key = (str(lgd), bank)
        banks[bank] = {"open": {t: want["digindex_grievances_open"][(*key, t)] for t in tats},
                       "resolved": {t: want["digindex_grievances_resolved_total"][(*key, t)] for t in tats},
                       "compensation_owed_rupees": want["digindex_grievance_compensation_owed_rupees"][key],
                       "anomalies": {a: want["digindex_grievance_anomalies_total"][(*key, a)] for a in names}}
    out: dict[str, Any] = {kind: {k: sum(b[kind][k] for b in banks.values()) for k in keys}
                           for kind, keys in (("open", tats), ("resolved", tats), ("anomalies", names))}
    out["compensation_owed_rupees"] = sum(b["compensation_owed_rupees"] for b in banks.values())
    out["banks"], out["windows"] = banks, {}
    for w in s.windows:
        label = s.window_label(w)
        key = (str(lgd), label)
        out["windows"][label] = {
            "resolved": want["windows_resolved"].get(key, 0),
            "resolved_within_tat_ratio": want["digindex_grievance_resolved_within_tat_ratio"].get(key),
            "resolved_within_days_ratio": want["digindex_grievance_resolved_within_days_ratio"].get(
                (*key, str(s.grievance_days)))}
    out["days"], out["today"] = s.grievance_days, today
    out["last_event_ms"] = max(e["occurred_at"] for e in cluster.grievances if e["district_lgd"] == lgd)
    return out


def test_district_grievance_figures_match_the_events(cluster: Cluster) -> None:
    """Open within and past the turn-around time (today's date in India), resolved by outcome, the
    ratios per window, compensation owed and anomalies, by bank and summed: from both workers."""
    seen_past = 0
    for lgd in DISTRICTS:
        for w in cluster.workers:  # the owner and the other (relayed)
            before = india_day(int(time.time() * 1000))
            got = get(w.port, f"/api/v1/districts/{lgd}").json()["figures"]["grievances"]
            assert got["today"] in (before, india_day(int(time.time() * 1000))), got["today"]
            # the ratios are the same divisions of the same counts: equal, not approximately
            assert got == expected_grievances(cluster, lgd, got["today"]), (lgd, w.port)
        seen_past += got["open"]["past"]
    assert seen_past > 0 and cluster.grievances  # the planted grievance that crossed its TAT while open


def expected_enablement(cluster: Cluster, lgd: int) -> dict[str, Any]:
    """``figures.enablement`` of a district as the enablement oracle counts the events sent (the
    metrics' figures, per district): both account types, zeros and a null ratio where none is known."""
    want = enablement_oracle(cluster.enablement)
    d = str(lgd)
    by_type = {}
    for t in ("SAVINGS", "CURRENT"):
        known = int(want["digindex_enablement_accounts"].get((d, t), 0))
        ratio = want["digindex_digital_enablement_ratio"].get((d, t))
        by_type[t] = {"accounts": known, "enabled": round(ratio * known) if ratio is not None else 0,
                      "enablement_ratio": ratio,
                      "modes": {m: int(want["digindex_enabled_accounts"].get((d, t, m), 0)) for m in ENABLEMENT_MODES}}
    mine = [e["occurred_at"] for e in cluster.enablement if e["district_lgd"] == lgd]
    return {"by_account_type": by_type, "camp_enablements": int(want["digindex_camp_enablements_total"].get((d,), 0)),
            "last_event_ms": max(mine, default=0)}


def expected_schemes(cluster: Cluster, lgd: int) -> dict[str, Any]:
    """``figures.schemes`` of a district as the scheme oracle counts the enrolment events sent, joined
    with the type each account ends with in the enablement feed and the bands that feed reports."""
    latest: dict[str, tuple[int, str, str]] = {}
    for e in cluster.enablement:
        latest[e["account_ref"]] = max(latest.get(e["account_ref"], (-1, "", "")),
                                       (e["occurred_at"], e["event_id"], e["account_type"]))
    c = scheme_oracle(cluster.enrolments, {a: t for a, (_, _, t) in latest.items()}, cluster.enablement)
    by_scheme = {}
    for s in SCHEMES:
        eligible, covered = c.get((lgd, "eligible", s), 0), c.get((lgd, "covered", s), 0)
        by_scheme[s] = {"enrolled": c.get((lgd, "enrolled", s), 0), "eligible": eligible, "covered": covered,
                        "coverage_ratio": covered / eligible if eligible else None,
                        "unmatched": c.get((lgd, "unmatched", s), 0)}
    mine = [e["occurred_at"] for e in cluster.enrolments if e["district_lgd"] == lgd]
    return {"by_scheme": by_scheme, "age_unknown": c.get((lgd, "age_unknown", ""), 0),
            "last_event_ms": max(mine, default=0)}


def test_district_enablement_and_scheme_figures_match_the_events(cluster: Cluster) -> None:
    """Per account type the accounts known, enabled, the ratio and the accounts per mode, the camp
    enablements; per scheme enrolled, eligible, covered, the coverage ratio and the unknowns: from
    both workers, equal to the oracles' (the ratios are the same divisions of the same counts)."""
    seen: dict[str, float] = defaultdict(float)
    for lgd in DISTRICTS:
        want = {"enablement": expected_enablement(cluster, lgd), "schemes": expected_schemes(cluster, lgd)}
        for w in cluster.workers:  # the owner and the other (relayed)
            figures = get(w.port, f"/api/v1/districts/{lgd}").json()["figures"]
            assert {k: figures[k] for k in want} == want, (lgd, w.port)
        savings = want["enablement"]["by_account_type"]["SAVINGS"]
        seen["camps"] += want["enablement"]["camp_enablements"]
        seen["partly enabled"] += 0 < savings["enabled"] < savings["accounts"]
        seen["covered"] += sum(s["covered"] for s in want["schemes"]["by_scheme"].values())
        seen["uncovered"] += sum(s["eligible"] - s["covered"] for s in want["schemes"]["by_scheme"].values())
        seen["unmatched"] += sum(s["unmatched"] for s in want["schemes"]["by_scheme"].values())
        seen["age unknown"] += want["schemes"]["age_unknown"]
    # the feeds reach every case the figures distinguish, so none of them is compared only at zero
    assert all(seen[k] > 0 for k in ("camps", "partly enabled", "covered", "uncovered", "unmatched",
                                     "age unknown")), seen


BAD = [
    ("/api/v1/districts/9999", 404, "lgd"), ("/api/v1/districts/abc", 400, "lgd"),
    ("/api/v1/districts/-45", 400, "lgd"), (f"/api/v1/districts/{QUIET_DISTRICT}", 404, "lgd"),
    (f"/api/v1/districts/{QUIET_DISTRICT}/branches", 404, "lgd"), ("/api/v1/districts/9999/branches", 404, "lgd"),
    ("/api/v1/districts/{lgd}/branches?window=2h", 400, "window"),
    ("/api/v1/districts/{lgd}/branches?window=", 400, "window"),
    ("/api/v1/districts/{lgd}/branches?limit=0", 400, "limit"),
    ("/api/v1/districts/{lgd}/branches?limit=1001", 400, "limit"),
    ("/api/v1/districts/{lgd}/branches?limit=ten", 400, "limit"),
    ("/api/v1/districts/{lgd}/branches?order=random", 400, "order"),
    ("/api/v1/districts/{lgd}/branches?bank=ZZZZ", 400, "bank"),
    ("/api/v1/districts/{lgd}/branches?bank=sbin", 400, "bank"),
    ("/api/v1/districts/{lgd}/branches?windw=1h", 400, "windw"),
    ("/api/v1/districts/{lgd}/branches?limit=5&limit=6", 400, "limit"),
    ("/api/v1/districts/{lgd}?window=1h", 400, "window"),
    ("/api/v1/districts?scope=everything", 400, "scope"),
    ("/api/v1/districts?allow_partial=maybe", 400, "allow_partial"),
    ("/api/v1/nothing", 404, None), ("/api/v1/districts/{lgd}/", 404, None),
]


def test_bad_parameters_are_4xx_problems_saying_what_is_wrong(cluster: Cluster) -> None:
    lgd = DISTRICTS[0]
    for w in cluster.workers:  # the owner and the other: parameters are checked before any forwarding
        for path, status, parameter in BAD:
            r = get(w.port, path.replace("{lgd}", str(lgd)))
            assert r.status == status, (path, r)
            assert r.headers["Content-Type"].startswith("application/problem+json"), path
            problem = r.json()
            assert problem["status"] == status and problem["detail"] and problem.get("parameter") == parameter, path
        assert get(w.port, f"/api/v1/districts/{lgd}", "POST").status == 405


def test_a_forwarded_request_is_not_forwarded_again(cluster: Cluster) -> None:
    import urllib.error
    import urllib.request

    lgd = DISTRICTS[0]
    _, other = cluster.owner(lgd)
    req = urllib.request.Request(f"http://127.0.0.1:{other.port}/api/v1/districts/{lgd}",
                                 headers={FORWARDED_HEADER: "a-stale-peer"})
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req, timeout=10)
    assert e.value.code == 503 and e.value.headers["Retry-After"] == "1"
    assert "not owned here" in e.value.read().decode()


def test_schemathesis_finds_nothing_against_the_live_description(cluster: Cluster, tmp_path: Path) -> None:
    """The schemathesis CLI against the description a live worker serves: every operation, positive
    and negative cases, the examples, coverage and fuzzing phases, every check; through the worker
    owning half the districts, so forwarded answers are checked too."""
    port = cluster.workers[0].port
    spec = get(port, "/api/v1/openapi.json")
    assert spec.status == 200 and spec.json()["openapi"].startswith("3.")
    cmd = [str(Path(sys.executable).with_name("schemathesis")), "run",
           f"http://127.0.0.1:{port}/api/v1/openapi.json", "--url", f"http://127.0.0.1:{port}",
           "--checks", "all", "--exclude-checks", "ignored_auth", "--phases", "examples,coverage,fuzzing",
           "--mode", "all", "--max-examples", "40", "--workers", "1", "--seed", "1", "--request-timeout", "10",
           "--no-color"]
    env = {**os.environ, "SCHEMATHESIS_HOOKS": "tests.api.schemathesis_hooks", "PYTHONPATH": str(ROOT)}
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=280, cwd=tmp_path, env=env)
    assert run.returncode == 0, run.stdout[-8000:] + run.stderr[-2000:]
    assert "Tested: 3" in run.stdout and "No issues found" in run.stdout, run.stdout[-3000:]  # the 3 data operations


def test_a_dead_owner_gives_a_flagged_partial_answer_then_the_survivor_answers_all(cluster: Cluster) -> None:
    """Runs last (it kills a worker). Between the kill and the rebalance the group's assignment
    still names the dead worker: its districts are a 503, the list is partial and says so."""
    a, b = cluster.workers
    before = get(a.port, "/api/v1/districts").json()
    b_parts = cluster.healthz(b)["payments_partitions"]
    b_url = get(b.port, "/api/v1/districts?scope=local").json()["url"]
    lost = [d for d in DISTRICTS if partition_of(d, PARTITIONS) in b_parts]
    assert b.proc is not None
    b.proc.send_signal(signal.SIGKILL)
    b.proc.wait(10)
    partial = get(a.port, "/api/v1/districts")
    assert partial.status == 200, partial
    body = partial.json()
    if body["complete"]:
        pytest.fail("the survivor took the partitions over before it was asked (the rebalance was faster than "
                    "one request): nothing was checked")
    assert body["missing_partitions"] == sorted(b_parts)
    assert [u["url"] for u in body["unreachable"]] == [b_url]
    assert [d["district_lgd"] for d in body["districts"]] == [d for d in DISTRICTS if d not in lost]
    refused = get(a.port, "/api/v1/districts?allow_partial=false")
    assert refused.status == 503 and refused.headers["Retry-After"] == "1", refused
    gone = get(a.port, f"/api/v1/districts/{lost[0]}")
    assert gone.status == 503 and gone.headers["Retry-After"] == "1" and "did not answer" in gone.json()["detail"]
    # after the rebalance the survivor owns everything and answers with the same figures
    wait_until(lambda: get(a.port, "/api/v1/districts").json() == before, 90, what="the survivor answering for all")
