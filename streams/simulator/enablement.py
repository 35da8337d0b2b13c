"""Simulated digital enablement of bank accounts: a first load, then literacy camps and changes.

What the RBI and the SLBCs count ("100 % digitally enabled district", DOMAIN.md): a savings
account is enabled with at least one of DEBIT_CARD, INTERNET_BANKING, MOBILE_BANKING, UPI, AEPS;
a current account with one of those or POS or QR. The SLBCs' pilot districts reported 72-94 %
(Virudhunagar: savings 94 %, current 70.65 %; Coimbatore 81.71 % / 72.7 %), so the first load's
coverage of each district is set within those bounds by its digital habit, as the calibration
does for the digital share (``coverage``): savings ``SAVINGS_ENABLED_RANGE``, current
``CURRENT_ENABLED_RANGE`` (the least and the most digital district).

The accounts are the seeding feed's (``Simulator.account_layout``, the same ``account_ref``),
``CURRENT_SHARE`` of them current accounts. An enabled account's modes are drawn mode by mode
(``SAVINGS_MODES``, ``CURRENT_MODES``: assumptions, a RuPay card on nearly every enabled savings
account, QR and PoS only on current ones), at least one of those that count; a not-enabled one
has none, or now and then only a mode that does not count for it (``UNCOUNTED_MODES``: QR on a
savings account, OTHER).

Changes after the first load (``CHANGE_MIX``): a literacy camp enables a not-enabled savings or
current account of its district, or opens a new savings account there (``CAMP_NEW_ACCOUNT``),
with a RuPay card and BHIM/UPI (``CAMP_MODES``) and the camp's ``camp_ref``; a branch enables one
the same way without a camp; an enabled account adds a mode; a few are disabled (card expired
or blocked: no mode left). A district holds one camp at a time, ``CAMP_SIZE`` enablements each,
and camps go where the accounts are (by registered users). So coverage rises over time, and
every camp event turns a not-enabled account enabled: the worker counts it in
``digindex_camp_enablements_total``. No I/O, no clock; its own ``random.Random``.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from typing import Any

from .calibration import DIGITAL_SHARE_RANGE, DistrictProfile
from .generator import Simulator, _Picker, account_ref

__all__ = [
    "CAMP_MODES",
    "CAMP_NEW_ACCOUNT",
    "CAMP_SIZE",
    "CHANGE_MIX",
    "COUNTED",
    "CURRENT_ENABLED_RANGE",
    "CURRENT_MODES",
    "CURRENT_SHARE",
    "SAVINGS_ENABLED_RANGE",
    "SAVINGS_MODES",
    "UNCOUNTED_MODES",
    "EnablementSimulator",
    "coverage",
    "is_enabled",
]

#: First-load enablement of the least and the most digital district (the SLBCs' 72-94 %).
SAVINGS_ENABLED_RANGE = (0.72, 0.94)
CURRENT_ENABLED_RANGE = (0.70, 0.82)
#: Share of the accounts that are current accounts (an assumption: savings dominate).
CURRENT_SHARE = 0.08
#: The modes that make an account enabled, by account type (the RBI's definition).
_PERSONAL = frozenset({"DEBIT_CARD", "INTERNET_BANKING", "MOBILE_BANKING", "UPI", "AEPS"})
COUNTED: dict[str, frozenset[str]] = {"SAVINGS": _PERSONAL, "CURRENT": _PERSONAL | {"POS", "QR"}}
#: Probability of each mode on an enabled account (independent draws, redrawn if none counts).
SAVINGS_MODES: dict[str, float] = {"DEBIT_CARD": 0.85, "UPI": 0.55, "AEPS": 0.40, "MOBILE_BANKING": 0.30,
                                   "INTERNET_BANKING": 0.12}
CURRENT_MODES: dict[str, float] = {"INTERNET_BANKING": 0.65, "DEBIT_CARD": 0.55, "UPI": 0.50, "QR": 0.45,
                                   "MOBILE_BANKING": 0.35, "POS": 0.20}
#: What a camp sets up: a RuPay debit card and BHIM/UPI nearly always, sometimes more.
CAMP_MODES: dict[str, float] = {"DEBIT_CARD": 0.95, "UPI": 0.80, "MOBILE_BANKING": 0.30, "AEPS": 0.20}
#: A not-enabled account's modes: none, or now and then one that does not count for its type.
UNCOUNTED_MODES: dict[str, dict[tuple[str, ...], float]] = {
    "SAVINGS": {(): 0.94, ("QR",): 0.04, ("OTHER",): 0.02},
    "CURRENT": {(): 0.97, ("OTHER",): 0.03},
}
#: What a change after the first load is.
CHANGE_MIX: dict[str, float] = {"camp": 0.55, "branch": 0.15, "add_mode": 0.20, "disable": 0.10}
#: Share of camp enablements that open a new (savings) account at the camp.
CAMP_NEW_ACCOUNT = 0.3
#: Enablements per camp before the district's next camp.
CAMP_SIZE = 40


def is_enabled(account_type: str, modes: tuple[str, ...] | list[str]) -> bool:
    """The RBI's and SLBCs' test: at least one mode that counts for the account's type."""
    return not COUNTED[account_type].isdisjoint(modes)


def coverage(profile: DistrictProfile) -> dict[str, float]:
    """The first load's enabled share of savings and current accounts in ``profile``'s district:
    where its digital share lies in DIGITAL_SHARE_RANGE, the same place in each type's range."""
    lo, hi = DIGITAL_SHARE_RANGE
    t = min(1.0, max(0.0, (profile.digital_share - lo) / (hi - lo)))
    return {kind: a + t * (b - a) for kind, (a, b) in
            (("SAVINGS", SAVINGS_ENABLED_RANGE), ("CURRENT", CURRENT_ENABLED_RANGE))}


class EnablementSimulator:
    """The enablement feed over ``sim``'s accounts (a first load of about ``accounts``)."""

    def __init__(self, sim: Simulator, accounts: int) -> None:
        self.sim = sim
        self._rng = random.Random(f"{sim.seed}:enablement")
        self._tag = f"{sim.seed:_}"
        self._profiles = {d.lgd: d for d in sim.cal.districts}
        self._banks = _Picker({b.code: b.weight for b in sim.banks})
        self._district = _Picker({d.lgd: d.user_share for d in sim.cal.districts})
        self._change = _Picker(CHANGE_MIX)
        self._uncounted = {k: _Picker(v) for k, v in UNCOUNTED_MODES.items()}
        #: every account: [lgd, bank, account_ref, account_type, modes]
        self.accounts: list[list[Any]] = []
        #: account index -> the holder's age band as its bank reports it (None: not reported), set by
        #: the enrolment simulator, which draws the holders; None: every event's band is null
        self.band_of: Callable[[int], str | None] | None = None
        self._next: dict[tuple[int, str], int] = {}
        self._off: dict[int, list[int]] = {}  # district -> indexes of not-enabled accounts
        self._on: dict[int, list[int]] = {}  # district -> indexes of enabled accounts
        self._camp: dict[int, tuple[int, int]] = {}  # district -> (camp number, enablements so far)
        self._n = 0
        rng = self._rng
        for lgd, bank, n in sim.account_layout(accounts):
            share = coverage(self._profiles[lgd])
            for _ in range(n):
                kind = "CURRENT" if rng.random() < CURRENT_SHARE else "SAVINGS"
                modes = self._modes(SAVINGS_MODES if kind == "SAVINGS" else CURRENT_MODES, kind) \
                    if rng.random() < share[kind] else self._uncounted[kind](rng)
                self._add(lgd, bank, kind, modes)

    def _add(self, lgd: int, bank: str, kind: str, modes: tuple[str, ...]) -> int:
        i = self._next.get((lgd, bank), 0) + 1
        self._next[(lgd, bank)] = i
        self.accounts.append([lgd, bank, account_ref(lgd, bank, i), kind, modes])
        k = len(self.accounts) - 1
        (self._on if is_enabled(kind, modes) else self._off).setdefault(lgd, []).append(k)
        return k

    def _modes(self, probabilities: dict[str, float], kind: str) -> tuple[str, ...]:
        """Modes drawn one by one, at least one that counts for ``kind``."""
        rng = self._rng
        while True:
            modes = tuple(m for m, p in probabilities.items() if rng.random() < p)
            if is_enabled(kind, modes):
                return modes

    def _event(self, k: int, now_ms: int, camp_ref: str | None = None) -> dict[str, Any]:
        lgd, bank, ref, kind, modes = self.accounts[k]
        self._n += 1
        return {"event_id": f"sim-{self._tag}-e{self._n}", "occurred_at": now_ms, "district_lgd": lgd,
                "bank_code": bank, "account_ref": ref, "account_type": kind, "modes": list(modes),
                "camp_ref": camp_ref, "holder_age_band": None if self.band_of is None else self.band_of(k)}

    def first_load(self, now_ms: int) -> Iterator[dict[str, Any]]:
        """Every account's current modes, as each bank's first load sends them."""
        for k in range(len(self.accounts)):
            yield self._event(k, now_ms)

    @staticmethod
    def _take(pool: list[int], rng: random.Random) -> int:
        j = int(rng.random() * len(pool))
        pool[j], pool[-1] = pool[-1], pool[j]
        return pool.pop()

    def _camp_ref(self, lgd: int) -> str:
        number, done = self._camp.get(lgd, (1, 0))
        if done >= CAMP_SIZE:
            number, done = number + 1, 0
        self._camp[lgd] = (number, done + 1)
        return f"camp-{self._tag}-d{lgd}-c{number}"

    def change(self, now_ms: int) -> dict[str, Any]:
        """One change after the first load (``CHANGE_MIX``)."""
        rng = self._rng
        what = self._change(rng)
        lgd = self._district(rng)
        on, off = self._on.setdefault(lgd, []), self._off.setdefault(lgd, [])
        if what in ("add_mode", "disable") and not on:
            what = "branch"
        if what == "add_mode":
            k = on[int(rng.random() * len(on))]
            kind, modes = self.accounts[k][3], self.accounts[k][4]
            spare = [m for m in (SAVINGS_MODES if kind == "SAVINGS" else CURRENT_MODES) if m not in modes]
            if spare:
                self.accounts[k][4] = (*modes, spare[int(rng.random() * len(spare))])
            return self._event(k, now_ms)
        if what == "disable":
            k = self._take(on, rng)
            self.accounts[k][4] = ()
            off.append(k)
            return self._event(k, now_ms)
        camp = what == "camp"
        if not off or (camp and rng.random() < CAMP_NEW_ACCOUNT):
            k = self._add(lgd, self._banks(rng), "SAVINGS", ())
            off.pop()  # _add filed it as not enabled: it is enabled below
        else:
            k = self._take(off, rng)
        kind = self.accounts[k][3]
        self.accounts[k][4] = self._modes(CAMP_MODES if kind == "SAVINGS" else CURRENT_MODES, kind)
        on.append(k)
        return self._event(k, now_ms, self._camp_ref(lgd) if camp else None)
