"""Simulated social-security enrolments (PMSBY, PMJJBY, Atal Pension Yojana) of savings accounts.

The schemes are held through a savings account (their premiums are auto-debited from it), so
the accounts are the enablement feed's savings accounts (``EnablementSimulator.accounts``, the
same ``account_ref``; new ones opened at camps join as they are opened). Every holder has an
age band (``AGE_BANDS``: an assumption of the adult account holders' spread, with a few minors
and over-70s, ``OTHER``); eligibility is DOMAIN.md's (PMSBY 18-70, PMJJBY 18-50, APY 18-40:
``ELIGIBLE``), and only eligible holders enrol. ``NULL_BAND_SHARE`` of the accounts' banks do
not report the band: every event of such an account carries ``holder_age_band`` null.

Coverage (enrolled / eligible savings accounts, by the holders' true bands) of the first load is
set per district and scheme within ``COVERAGE_RANGE``, by the district's digital habit as the
calibration does for the digital share (an assumption: DOMAIN.md gives eligibility, not
coverage; PMSBY's cheap premium reaches the most, APY the fewest). The first load is the banks'
books: every enrolment in force. Every savings account's reported band also rides on its
enablement events (``EnablementSimulator.band_of``), so an account enrolled in none is in the
worker's denominator too and its coverage (enrolled / eligible savings accounts) is the book's. After the first load,
``CHANGE_MIX``: enrolments of eligible accounts not yet enrolled (a scheme by ``SCHEME_MIX``) and
exits (a lapsed renewal, a closed account), so coverage creeps up. No I/O, no clock; its own
``random.Random``.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

from .calibration import DIGITAL_SHARE_RANGE, DistrictProfile
from .enablement import EnablementSimulator
from .generator import _Picker

__all__ = [
    "AGE_BANDS",
    "CHANGE_MIX",
    "COVERAGE_RANGE",
    "ELIGIBLE",
    "NULL_BAND_SHARE",
    "SCHEMES",
    "SCHEME_MIX",
    "EnrolmentSimulator",
    "scheme_coverage",
]

SCHEMES = ("PMSBY", "PMJJBY", "APY")
#: Account holders' age bands (the schema's strings; OTHER: under 18 or over 70).
AGE_BANDS: dict[str, float] = {"18_40": 0.52, "41_50": 0.20, "51_70": 0.20, "OTHER": 0.08}
#: The bands each scheme's joining ages cover (DOMAIN.md).
ELIGIBLE: dict[str, frozenset[str]] = {
    "PMSBY": frozenset({"18_40", "41_50", "51_70"}),
    "PMJJBY": frozenset({"18_40", "41_50"}),
    "APY": frozenset({"18_40"}),
}
#: First-load enrolled share of the eligible savings accounts, least and most digital district.
COVERAGE_RANGE: dict[str, tuple[float, float]] = {"PMSBY": (0.25, 0.40), "PMJJBY": (0.10, 0.20),
                                                  "APY": (0.05, 0.10)}
#: Share of the accounts whose bank reports no age band (null on every event of the account).
NULL_BAND_SHARE = 0.10
#: What a change after the first load is, and which scheme an enrolment is in.
CHANGE_MIX: dict[str, float] = {"enrol": 0.7, "exit": 0.3}
SCHEME_MIX: dict[str, float] = {"PMSBY": 0.55, "PMJJBY": 0.30, "APY": 0.15}


def scheme_coverage(profile: DistrictProfile) -> dict[str, float]:
    """The first load's enrolled share of eligible savings accounts per scheme in ``profile``'s district."""
    lo, hi = DIGITAL_SHARE_RANGE
    t = min(1.0, max(0.0, (profile.digital_share - lo) / (hi - lo)))
    return {s: a + t * (b - a) for s, (a, b) in COVERAGE_RANGE.items()}


class EnrolmentSimulator:
    """The enrolment feed over the savings accounts of ``enablement``."""

    def __init__(self, enablement: EnablementSimulator) -> None:
        self.enablement = enablement
        sim = enablement.sim
        self._rng = random.Random(f"{sim.seed}:enrolments")
        self._tag = f"{sim.seed:_}"
        self._profiles = {d.lgd: d for d in sim.cal.districts}
        self._district = _Picker({d.lgd: d.user_share for d in sim.cal.districts})
        self._band = _Picker(AGE_BANDS)
        self._change = _Picker(CHANGE_MIX)
        self._scheme = _Picker(SCHEME_MIX)
        #: account index -> (true age band, band as reported: None if the bank does not report it)
        self.holders: dict[int, tuple[str, str | None]] = {}
        #: (account index, scheme) -> enrolled now
        self.enrolled: dict[tuple[int, str], bool] = {}
        self._off: dict[tuple[int, str], list[int]] = {}  # (district, scheme) -> eligible, not enrolled
        self._on: dict[tuple[int, str], list[int]] = {}  # (district, scheme) -> enrolled
        self._seen = 0
        self._n = 0
        self._first: list[tuple[int, str, str]] = []  # (account, scheme, status) of the first load
        self._sync(first=True)
        enablement.band_of = self.reported_band

    def reported_band(self, k: int) -> str | None:
        """The band account ``k``'s bank reports (None: not reported, or not a savings account)."""
        self._sync()  # an account the enablement feed just opened
        holder = self.holders.get(k)
        return None if holder is None else holder[1]

    def _sync(self, first: bool = False) -> None:
        """Take in the savings accounts the enablement feed opened since the last look."""
        rng = self._rng
        accounts = self.enablement.accounts
        for k in range(self._seen, len(accounts)):
            lgd, _, _, kind, _ = accounts[k]
            if kind != "SAVINGS":
                continue
            band = self._band(rng)
            self.holders[k] = (band, None if rng.random() < NULL_BAND_SHARE else band)
            target = scheme_coverage(self._profiles[lgd])
            for scheme in SCHEMES:
                if band not in ELIGIBLE[scheme]:
                    continue
                on = first and rng.random() < target[scheme]
                self.enrolled[(k, scheme)] = on
                (self._on if on else self._off).setdefault((lgd, scheme), []).append(k)
                if on:
                    self._first.append((k, scheme, "ENROLLED"))
        self._seen = len(accounts)

    def _event(self, k: int, scheme: str, status: str, now_ms: int) -> dict[str, Any]:
        lgd, bank, ref, _, _ = self.enablement.accounts[k]
        self._n += 1
        return {"event_id": f"sim-{self._tag}-n{self._n}", "occurred_at": now_ms, "district_lgd": lgd,
                "bank_code": bank, "account_ref": ref, "scheme": scheme, "status": status,
                "holder_age_band": self.holders[k][1]}

    def first_load(self, now_ms: int) -> Iterator[dict[str, Any]]:
        """The banks' books: every enrolment in force (an account enrolled in none is known, with
        its band, from its enablement events)."""
        first, self._first = self._first, []
        for k, scheme, status in first:
            yield self._event(k, scheme, status, now_ms)

    @staticmethod
    def _take(pool: list[int], rng: random.Random) -> int:
        j = int(rng.random() * len(pool))
        pool[j], pool[-1] = pool[-1], pool[j]
        return pool.pop()

    def change(self, now_ms: int) -> dict[str, Any] | None:
        """One enrolment or exit after the first load (None if the district has no account for it)."""
        self._sync()
        rng = self._rng
        lgd, scheme = self._district(rng), self._scheme(rng)
        on, off = self._on.setdefault((lgd, scheme), []), self._off.setdefault((lgd, scheme), [])
        enrol = self._change(rng) == "enrol"
        if (enrol and not off) or (not enrol and not on):
            enrol = not enrol
            if (enrol and not off) or (not enrol and not on):
                return None
        k = self._take(off if enrol else on, rng)
        (on if enrol else off).append(k)
        self.enrolled[(k, scheme)] = enrol
        return self._event(k, scheme, "ENROLLED" if enrol else "EXITED", now_ms)
