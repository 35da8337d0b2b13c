"""The grievance oracle: a feed of grievance events and the figures they must give, computed here.

It judges turn-around times with its own table and a fixed +05:30 offset (not the worker's
zoneinfo), so the worker's figures (metrics, query API) are compared with an independent count.
Shared by the worker tests and the API tests.
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from streams.config import Settings

from .data import DISTRICTS

SCHEMA = "GrievanceEvent"
IST = timezone(timedelta(hours=5, minutes=30))
HOUR_MS = 3_600_000
#: the circular's table, written out again (the oracle does not import the worker's)
TAT = {"UPI_P2P_NOT_CREDITED": 1, "IMPS_NOT_CREDITED": 1, "CARD_TO_CARD_NOT_CREDITED": 1,
       "UPI_MERCHANT_NOT_CONFIRMED": 5, "CARD_POS_NOT_CONFIRMED": 5, "CARD_NOT_PRESENT_NOT_CONFIRMED": 5,
       "ATM_CASH_NOT_DISPENSED": 5, "AEPS_NOT_CONFIRMED": 5}
CASES = [*TAT, "OTHER"]
BANKS = ["SBIN", "PUNB", "BARB"]


def india_day(ms: int) -> int:
    d = datetime.fromtimestamp(ms / 1000, UTC).astimezone(IST).date()
    return (d - datetime(1970, 1, 1).date()).days


def event(eid: str, action: str, ref: str, at: int, t: int, case: str, lgd: int, bank: str) -> dict[str, Any]:
    return {"event_id": eid, "occurred_at": at, "district_lgd": lgd, "bank_code": bank, "grievance_ref": ref,
            "action": action, "case": case, "transaction_date": t, "amount_paise": 10_000 + len(eid)}


def feed(n: int, now: int, seed: int = 11, districts: list[int] | None = None) -> list[dict[str, Any]]:
    """Raisings over the last 5 days, two thirds resolved later, every anomaly; in event-time order.
    Three open grievances raised within their turn-around time are planted in district 45 (SBIN)."""
    rng = random.Random(seed)
    ds = districts or DISTRICTS
    out = []
    for i in range(n):
        lgd, bank, case = ds[i % len(ds)], rng.choice(BANKS), rng.choice(CASES)
        raised = now - rng.randrange(HOUR_MS // 2, 120 * HOUR_MS)
        t = india_day(raised) - rng.randrange(0, 4)
        out.append(event(f"r{i}", "RAISED", f"G{i}", raised, t, case, lgd, bank))
        if rng.random() < 0.65:
            out.append(event(f"s{i}", "RESOLVED", f"G{i}", rng.randrange(raised + 60_000, now - 1000), t, case,
                             lgd, bank))
        if i % 97 == 0:  # raised twice (another event id)
            out.append(event(f"r2-{i}", "RAISED", f"G{i}", raised + 30_000, t, case, lgd, bank))
        if i % 89 == 0:  # resolved twice
            out.append(event(f"s2-{i}", "RESOLVED", f"G{i}", now - 500, t, case, lgd, bank))
    for i in range(40):  # resolutions of grievances never raised here; half raised afterwards
        lgd, bank, case = ds[i % len(ds)], BANKS[i % 3], CASES[i % len(CASES)]
        at = now - rng.randrange(2 * HOUR_MS, 30 * HOUR_MS)
        t = india_day(at) - i % 3
        out.append(event(f"u{i}", "RESOLVED", f"U{i}", at, t, case, lgd, bank))
        if i % 2:
            out.append(event(f"ur{i}", "RAISED", f"U{i}", at + HOUR_MS, t, case, lgd, bank))
    today = india_day(now)
    # open at the scrape and raised within their turn-around time: one crossed it since, one not yet
    out.append(event("x-past", "RAISED", "X-PAST", now - 40 * HOUR_MS, today - 2, "UPI_P2P_NOT_CREDITED", 45, "SBIN"))
    out.append(event("x-within", "RAISED", "X-WITHIN", now - 20 * HOUR_MS, today - 1, "IMPS_NOT_CREDITED", 45,
                     "SBIN"))
    out.append(event("x-atm", "RAISED", "X-ATM", now - 100 * HOUR_MS, today - 6, "ATM_CASH_NOT_DISPENSED", 45,
                     "SBIN"))
    out.sort(key=lambda r: r["occurred_at"])
    return out


def oracle(events: list[dict[str, Any]], today: int, windows: tuple[float, ...], days: int) -> dict[str, dict]:
    """The metrics the worker must export, from the accepted events in the order sent."""
    grievances: dict[tuple[str, str], dict[str, Any]] = {}
    opened: Counter[tuple] = Counter()
    resolved: Counter[tuple] = Counter()
    owed: Counter[tuple] = Counter()
    anomalies: Counter[tuple] = Counter()
    pairs: set[tuple[str, str]] = set()
    head: dict[int, int] = {}
    resolutions: list[tuple[int, int, bool, bool]] = []  # district, minute, within TAT, within days
    for e in events:
        lgd, bank = str(e["district_lgd"]), e["bank_code"]
        pairs.add((lgd, bank))
        head[e["district_lgd"]] = max(head.get(e["district_lgd"], 0), e["occurred_at"] // 60_000)
        g = grievances.get((bank, e["grievance_ref"]))
        if e["action"] == "RAISED":
            if g is not None:
                anomalies[(lgd, bank, "raised_after_resolved" if g["resolved"] else "raised_twice")] += 1
            else:
                grievances[(bank, e["grievance_ref"])] = {"case": e["case"], "t": e["transaction_date"],
                                                          "resolved": False}
            continue
        if g is not None and g["resolved"]:
            anomalies[(lgd, bank, "resolved_twice")] += 1
            continue
        if g is None:
            anomalies[(lgd, bank, "resolved_unknown")] += 1
            g = grievances[(bank, e["grievance_ref"])] = {"case": e["case"], "t": e["transaction_date"]}
        g["resolved"] = True
        r = india_day(e["occurred_at"])
        if g["case"] not in TAT:
            resolved[(lgd, bank, "none")] += 1
            continue
        late = max(0, r - g["t"] - TAT[g["case"]])
        resolved[(lgd, bank, "past" if late else "within")] += 1
        owed[(lgd, bank)] += 100 * late
        resolutions.append((e["district_lgd"], e["occurred_at"] // 60_000, not late, r - g["t"] <= days))
    for e in events:  # open ones, by the district and bank of their raising
        g = grievances[(e["bank_code"], e["grievance_ref"])]
        if e["action"] != "RAISED" or g["resolved"] or g.get("counted"):
            continue
        g["counted"] = True
        key = (str(e["district_lgd"]), e["bank_code"])
        if g["case"] not in TAT:
            opened[(*key, "none")] += 1
            continue
        late = max(0, today - g["t"] - TAT[g["case"]])
        opened[(*key, "past" if late else "within")] += 1
        owed[key] += 100 * late
    out: dict[str, dict] = {
        "digindex_grievances_open": {(*p, tat): opened[(*p, tat)] for p in pairs for tat in ("within", "past", "none")},
        "digindex_grievances_resolved_total": {(*p, tat): resolved[(*p, tat)] for p in pairs
                                               for tat in ("within", "past", "none")},
        "digindex_grievance_compensation_owed_rupees": {p: owed[p] for p in pairs},
        "digindex_grievance_anomalies_total": {(*p, a): anomalies[(*p, a)] for p in pairs for a in
                                               ("raised_after_resolved", "raised_twice", "resolved_twice",
                                                "resolved_unknown")},
        "digindex_grievance_resolved_within_tat_ratio": {},
        "digindex_grievance_resolved_within_days_ratio": {},
        "windows_resolved": {},  # (district, window) -> resolutions with a TAT in it (the query API's)
    }
    for w in windows:
        label = Settings.window_label(w)
        sums: dict[int, list[int]] = defaultdict(lambda: [0, 0, 0])
        for lgd, minute, in_tat, in_days in resolutions:
            if minute > head[lgd] - int(w // 60):
                s = sums[lgd]
                s[0] += 1
                s[1] += in_tat
                s[2] += in_days
        for lgd, (n, in_tat, in_days) in sums.items():
            out["windows_resolved"][(str(lgd), label)] = n
            out["digindex_grievance_resolved_within_tat_ratio"][(str(lgd), label)] = in_tat / n
            out["digindex_grievance_resolved_within_days_ratio"][(str(lgd), label, str(days))] = in_days / n
    return out
