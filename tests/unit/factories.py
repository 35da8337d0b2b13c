"""Event factories and constants for the broker-free unit tests."""

from __future__ import annotations

from typing import Any

from streams.aadhaar import verhoeff_valid

HOUR_MS = 3_600_000
MINUTE_MS = 60_000
#: A fixed event time on a minute boundary (2024-01-01T00:00:00Z), so bucket arithmetic is exact.
T0 = 1_704_067_200_000
WINDOWS = (3600.0, 86400.0)
SKEW_S = 300.0


def payment(event_id: str = "e1", ts: int = T0, lgd: int = 45, bank: str = "SBIN", channel: str = "UPI",
            amount: int = 10_000, status: str = "SUCCESS", **extra: Any) -> dict[str, Any]:
    """A valid ``PaymentEvent`` record; override any field by keyword."""
    rec: dict[str, Any] = {
        "event_id": event_id, "occurred_at": ts, "district_lgd": lgd, "bank_code": bank,
        "branch_ifsc": None, "channel": channel, "amount_paise": amount, "status": status, "purpose": "P2P",
    }
    rec.update(extra)
    return rec


def seeding_event(event_id: str = "s1", ts: int = T0, lgd: int = 45, bank: str = "SBIN", account: str = "ACC-1",
                  status: str = "SEEDED") -> dict[str, Any]:
    return {"event_id": event_id, "occurred_at": ts, "district_lgd": lgd, "bank_code": bank,
            "account_ref": account, "status": status}


def aadhaar_like(prefix: str = "23456789012") -> str:
    """``prefix`` (11 digits, first 2-9) plus its Verhoeff check digit: a well-formed Aadhaar-like number."""
    valid = [prefix + d for d in "0123456789" if verhoeff_valid(prefix + d)]
    assert len(valid) == 1
    return valid[0]
