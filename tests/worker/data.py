"""Deterministic test events (independent of the simulator, so worker tests stand alone)."""

from __future__ import annotations

import random
import time
from typing import Any

CHANNELS = ["UPI", "UPI_QR", "CASH", "DEBIT_CARD", "CHEQUE", "IMPS", "AEPS", "NEFT"]
STATUSES = ["SUCCESS"] * 18 + ["TECHNICAL_DECLINE", "BUSINESS_DECLINE"]
DISTRICTS = list(range(45, 58))


def payments(n: int, seed: int = 1, now_ms: int | None = None, spread_s: int = 600,
             districts: list[int] | None = None, prefix: str = "e") -> list[dict[str, Any]]:
    rng = random.Random(seed)
    now_ms = now_ms or int(time.time() * 1000)
    ds = districts or DISTRICTS
    out = []
    for i in range(n):
        out.append({
            "event_id": f"{prefix}{seed}-{i}",
            "occurred_at": now_ms - rng.randrange(spread_s * 1000),
            "district_lgd": ds[i % len(ds)],
            "bank_code": rng.choice(["SBIN", "PUNB", "BARB"]),
            "branch_ifsc": None,
            "channel": rng.choice(CHANNELS),
            "amount_paise": rng.randrange(100, 500_000),
            "status": rng.choice(STATUSES),
            "purpose": "P2P",
        })
    return out


def seeding(n: int, seed: int = 1, now_ms: int | None = None) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    now_ms = now_ms or int(time.time() * 1000)
    return [{
        "event_id": f"s{seed}-{i}",
        "occurred_at": now_ms - 1000 + i % 1000,
        "district_lgd": DISTRICTS[i % len(DISTRICTS)],
        "bank_code": "SBIN",
        "account_ref": f"SBIN-ACC-{i:07d}",
        "status": "SEEDED" if rng.random() < 0.8 else "NOT_SEEDED",
    } for i in range(n)]
