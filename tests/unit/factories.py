"""Event factories and constants for the broker-free unit tests."""

from __future__ import annotations

from collections import Counter
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
        "department_code": None,
    }
    rec.update(extra)
    return rec


def seeding_event(event_id: str = "s1", ts: int = T0, lgd: int = 45, bank: str = "SBIN", account: str = "ACC-1",
                  status: str = "SEEDED") -> dict[str, Any]:
    return {"event_id": event_id, "occurred_at": ts, "district_lgd": lgd, "bank_code": bank,
            "account_ref": account, "status": status}


SCHEMES = ("PMSBY", "PMJJBY", "APY")
#: the oracle's own eligibility table (DOMAIN.md), written out, not imported from the worker
RANGES = {"PMSBY": {"18_40", "41_50", "51_70"}, "PMJJBY": {"18_40", "41_50"}, "APY": {"18_40"}}


def enrolment_event(event_id: str, ts: int, account: str = "A1", scheme: str = "PMSBY", status: str = "ENROLLED",
                    band: str | None = None, lgd: int = 45, bank: str = "SBIN") -> dict[str, Any]:
    """A valid ``SchemeEnrolmentEvent`` record."""
    return {"event_id": event_id, "occurred_at": ts, "district_lgd": lgd, "bank_code": bank,
            "account_ref": account, "scheme": scheme, "status": status, "holder_age_band": band}


def scheme_oracle(events: list[dict[str, Any]], types: dict[str, str],
                  enablement: list[dict[str, Any]] | None = None) -> dict[tuple[int, str, str], int]:
    """The enrolment state's counters by brute force: (district, counter, scheme) -> accounts.

    ``events`` are the accepted ones (any order); ``types`` maps an account_ref to its type in the
    enablement feed (absent: unknown to it); ``enablement``, the enablement events applied (any
    order, superseded ones included), for the bands they report: an account's band is that of
    its latest banded event of either feed (equal times: the enrolment's; two enablement bands at
    one time: the later in AGE_BANDS order), and a savings account only they know is counted in
    the district of its latest enablement event, enrolled in nothing.
    """
    order_of_band = (None, "18_40", "41_50", "51_70", "OTHER")
    theirs: dict[str, tuple[int, int]] = {}  # account -> (occurred_at, band index) of the newest band
    where: dict[str, tuple[int, str, int]] = {}
    for e in enablement or []:
        if e.get("holder_age_band") is not None:
            theirs[e["account_ref"]] = max(theirs.get(e["account_ref"], (-1, 0)),
                                           (e["occurred_at"], order_of_band.index(e["holder_age_band"])))
        where[e["account_ref"]] = max(where.get(e["account_ref"], (-1, "", 0)),
                                      (e["occurred_at"], e["event_id"], e["district_lgd"]))
    accounts: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for e in events:
        accounts.setdefault((e["bank_code"], e["account_ref"]), []).append(e)
    out: Counter[tuple[int, str, str]] = Counter()
    for account, (_, _, lgd) in where.items():
        if account in {a for _, a in accounts} or types.get(account) != "SAVINGS" or account not in theirs:
            continue
        for s in SCHEMES:
            out[lgd, "eligible", s] += order_of_band[theirs[account][1]] in RANGES[s]
    for (_, account), evs in accounts.items():
        order = sorted(evs, key=lambda e: (e["occurred_at"], e["event_id"]))
        lgd = order[-1]["district_lgd"]
        banded = [e for e in order if e["holder_age_band"] is not None]
        band = banded[-1]["holder_age_band"] if banded else None
        if account in theirs and (not banded or theirs[account][0] > banded[-1]["occurred_at"]):
            band = order_of_band[theirs[account][1]]
        savings = types.get(account) == "SAVINGS"
        if savings and band is None:
            out[lgd, "age_unknown", ""] += 1
        for s in SCHEMES:
            mine = [e for e in order if e["scheme"] == s]
            enrolled = bool(mine) and mine[-1]["status"] == "ENROLLED"
            eligible = savings and band in RANGES[s]
            out[lgd, "enrolled", s] += enrolled
            out[lgd, "unmatched", s] += enrolled and not savings
            out[lgd, "eligible", s] += eligible
            out[lgd, "covered", s] += eligible and enrolled
    return {k: n for k, n in out.items() if n}


def aadhaar_like(prefix: str = "23456789012") -> str:
    """``prefix`` (11 digits, first 2-9) plus its Verhoeff check digit: a well-formed Aadhaar-like number."""
    valid = [prefix + d for d in "0123456789" if verhoeff_valid(prefix + d)]
    assert len(valid) == 1
    return valid[0]


#: Separators a person or a spreadsheet puts between the 4-digit groups of an Aadhaar number.
AADHAAR_SEPARATORS = {
    "space": " ", "hyphen": "-", "dot": ".", "tab": "\t", "nbsp": "\u00a0", "two_spaces": "  ", "slash": "/",
    "underscore": "_", "en_dash": "\u2013", "em_dash": "\u2014", "spaced_hyphen": " - ", "comma": ",",
    "ideographic_space": "\u3000", "narrow_nbsp": "\u202f", "zero_width_space": "\u200b",
}


def _script(number: str, zero: str) -> str:
    return "".join(chr(ord(zero) + int(d)) for d in number)


def aadhaar_forms(number: str) -> dict[str, str]:
    """``number`` (12 ASCII digits) written every way the detector must see through, by name."""
    a, b, c = number[:4], number[4:8], number[8:]
    forms = {"plain": number}
    forms.update({f"4-4-4 {name}": sep.join((a, b, c)) for name, sep in AADHAAR_SEPARATORS.items()})
    forms.update({
        "fullwidth": _script(number, "\uff10"),
        "fullwidth 4-4-4 ideographic space": "\u3000".join(_script(g, "\uff10") for g in (a, b, c)),
        "devanagari": _script(number, "\u0966"),
        "devanagari 4-4-4 space": " ".join(_script(g, "\u0966") for g in (a, b, c)),
        "arabic-indic": _script(number, "\u0660"),
        "mathematical bold": _script(number, "\U0001d7ce"),
        "mixed scripts": _script(a, "\uff10") + "-" + _script(b, "\u0966") + "." + c,
        "mixed separators": f"{a}.{b}\u2013{c}",
        "zero-width inside groups": "\u200b".join(number),
        "soft hyphens inside groups": "\u00ad".join(number),
        "in text": f"Aadhaar no. {a} {b} {c}, seeded",
    })
    return forms


def enablement_event(event_id: str = "n1", ts: int = T0, lgd: int = 45, bank: str = "SBIN", account: str = "ACC-1",
                     account_type: str = "SAVINGS", modes: tuple[str, ...] = ("UPI",),
                     camp_ref: str | None = None, band: str | None = None) -> dict[str, Any]:
    """A valid ``AccountEnablementEvent`` record."""
    return {"event_id": event_id, "occurred_at": ts, "district_lgd": lgd, "bank_code": bank, "account_ref": account,
            "account_type": account_type, "modes": list(modes), "camp_ref": camp_ref, "holder_age_band": band}


#: The RBI's and SLBCs' coverage rule, written out again (the oracle does not import the worker's).
ENABLING = {"SAVINGS": {"DEBIT_CARD", "INTERNET_BANKING", "MOBILE_BANKING", "UPI", "AEPS"},
            "CURRENT": {"DEBIT_CARD", "INTERNET_BANKING", "MOBILE_BANKING", "UPI", "AEPS", "POS", "QR"}}
ENABLEMENT_MODES = ("DEBIT_CARD", "INTERNET_BANKING", "MOBILE_BANKING", "UPI", "AEPS", "POS", "QR")


def enablement_oracle(events: list[dict[str, Any]]) -> dict[str, dict[tuple[str, ...], float]]:
    """The enablement metrics of ``events`` applied in this order (a repeated (bank, event_id) is a duplicate).

    A camp enablement is counted in the district where its account is counted now.
    Keys: (district_lgd, account_type) for the ratio and the accounts known, (district_lgd, account_type,
    mode) for the accounts having a mode, (district_lgd,) for camp enablements.
    """
    seen: set[tuple[str, str]] = set()
    latest: dict[tuple[str, str], dict[str, Any]] = {}
    camps: dict[tuple[str, str], int] = {}  # account -> its camp enablements (they go where it is counted)
    for e in events:
        if (e["bank_code"], e["event_id"]) in seen:
            continue
        seen.add((e["bank_code"], e["event_id"]))
        k = (e["bank_code"], e["account_ref"])
        p = latest.get(k)
        if p is not None and (e["occurred_at"], e["event_id"]) < (p["occurred_at"], p["event_id"]):
            continue
        was = p is not None and bool(set(p["modes"]) & ENABLING[p["account_type"]])
        now = bool(set(e["modes"]) & ENABLING[e["account_type"]])
        if e["camp_ref"] is not None and now and not was:
            camps[k] = camps.get(k, 0) + 1
        latest[k] = e
    known: dict[tuple[str, ...], float] = {}
    on: dict[tuple[str, ...], float] = {}
    having: dict[tuple[str, ...], float] = {}
    camp: dict[tuple[str, ...], float] = {}
    for k, e in latest.items():  # every district with accounts, from 0
        camp[(str(e["district_lgd"]),)] = camp.get((str(e["district_lgd"]),), 0) + camps.get(k, 0)
        lt = (str(e["district_lgd"]), e["account_type"])
        known[lt] = known.get(lt, 0) + 1
        on[lt] = on.get(lt, 0) + bool(set(e["modes"]) & ENABLING[e["account_type"]])
        for m in ENABLEMENT_MODES:
            having[(*lt, m)] = having.get((*lt, m), 0) + (m in e["modes"])
    return {"digindex_digital_enablement_ratio": {k: on[k] / n for k, n in known.items()},
            "digindex_enablement_accounts": known, "digindex_enabled_accounts": having,
            "digindex_camp_enablements_total": camp}
