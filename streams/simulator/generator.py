"""Pure, seeded generation of realistic PaymentEvents and SeedingEvents.

What a payment looks like: a district (by its calibrated volume), a bank (by market share) and
one of that bank's real branches dealt to the district; digital or not by the district's
digital share and the bank's lean; a purpose from the digital or the cash-and-paper mix; a
channel for the purpose (utility bills paid digitally are scanned from the bill's UPI QR code
at the district's calibrated rate; DBT goes by NACH, government payments by NEFT or cheque); a
``department_code`` for the purposes that are a department's (below); an amount around the
district's Pulse ticket; and an outcome with the bank's own technical and business decline
rates (``Bank``).

Departments: utility bills are the receipts of the department that bills them (BILL_ENERGY ->
ENERGY, BILL_WATER -> WATER, BILL_HOUSING -> HOUSING) and carry its code, so a department's
digital share counts its bills; GOVT_RECEIPT, GOVT_PAYMENT and DBT name a department drawn from
a mix per purpose, digital and paper apart (the revenue office's counter still takes cash, the
treasury pays salaries and pensions electronically); every other purpose carries none (null).

No I/O and no clock: callers pass ``now_ms``. Payments, seeding and the branch
and account layout each draw from their own ``random.Random`` derived from the
seed, so the same seed gives the same sequences however a live feed interleaves
the two topics. Event ids are ``sim-<seed>-p<n>`` / ``sim-<seed>-s<n>``: a re-run
with the same seed re-sends the same ids (useful to exercise deduplication); use
another seed for fresh events.
"""

from __future__ import annotations

import bisect
import itertools
import math
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from ..avro_codec import load_schema
from ..banks import default_banks
from ..channels import is_digital
from ..departments import default_departments
from .calibration import Calibration, default_calibration

__all__ = [
    "BILL_CHANNEL_WEIGHTS",
    "BILL_DEPARTMENT",
    "DEFAULT_BANKS",
    "DEPARTMENT_MIX",
    "DIGITAL_CHANNEL_WEIGHTS",
    "NON_DIGITAL_CHANNEL_WEIGHTS",
    "Bank",
    "Simulator",
    "account_ref",
    "generate_payments",
    "generate_seeding",
]


@dataclass(frozen=True, slots=True)
class Bank:
    """A partner bank: its IFSC prefix, market share, lean towards digital modes and decline rates."""

    code: str
    weight: float
    #: Added to the district's digital probability (private banks lean digital).
    digital_tilt: float = 0.0
    #: Share of its digital attempts declined on the bank's or network's side (NPCI's TD %).
    technical_decline: float = 0.010
    #: Share of its digital attempts declined on the customer's side (NPCI's BD %).
    business_decline: float = 0.035


#: Real IFSC prefixes with rough Uttarakhand market shares (an assumption, not published data),
#: and decline rates of digital attempts of the order NPCI's monthly per-bank UPI tables show
#: (assumed, not copied from them): technical declines around 1 % overall (RBI advises banks to
#: keep them below 1 %), lower at the large private banks, worse at the small and regional ones;
#: business declines (wrong PIN, insufficient balance) a few %. Weighted by market share: TD
#: 1.05 %, BD 3.5 %.
DEFAULT_BANKS: dict[str, Bank] = {b.code: b for b in (
    Bank("SBIN", 0.30, 0.00, 0.009, 0.035),   # State Bank of India
    Bank("PUNB", 0.15, -0.02, 0.012, 0.038),  # Punjab National Bank
    Bank("BARB", 0.10, 0.00, 0.008, 0.032),   # Bank of Baroda
    Bank("CNRB", 0.07, 0.00, 0.010, 0.034),   # Canara Bank
    Bank("UBIN", 0.07, 0.00, 0.011, 0.036),   # Union Bank of India
    Bank("HDFC", 0.10, 0.06, 0.005, 0.026),   # HDFC Bank
    Bank("ICIC", 0.08, 0.06, 0.006, 0.028),   # ICICI Bank
    Bank("UTKS", 0.05, -0.04, 0.022, 0.045),  # Utkarsh Small Finance Bank
    Bank("NTBL", 0.08, -0.04, 0.018, 0.042),  # The Nainital Bank
)}

#: Digital channels by share of digital transaction count (UPI dominant, as in NPCI/RBI data).
DIGITAL_CHANNEL_WEIGHTS: dict[str, float] = {
    "UPI": 0.52, "UPI_QR": 0.16, "BHIM": 0.02, "DEBIT_CARD": 0.06, "CREDIT_CARD": 0.025,
    "PREPAID_CARD": 0.01, "AEPS": 0.05, "IMPS": 0.05, "NEFT": 0.03, "RTGS": 0.002,
    "INTERNET_BANKING": 0.02, "MOBILE_BANKING": 0.033, "NACH": 0.02,
}
NON_DIGITAL_CHANNEL_WEIGHTS: dict[str, float] = {"CASH": 0.90, "CHEQUE": 0.08, "DEMAND_DRAFT": 0.02}
#: Digital utility bills not paid by scanning the bill's QR code (that share is the district's
#: ``bill_qr_share``): in a UPI app (BBPS), by net or mobile banking, card, or auto-debit (NACH).
BILL_CHANNEL_WEIGHTS: dict[str, float] = {
    "UPI": 0.50, "BHIM": 0.02, "INTERNET_BANKING": 0.12, "MOBILE_BANKING": 0.10, "DEBIT_CARD": 0.10,
    "CREDIT_CARD": 0.06, "NACH": 0.10,
}
_BILLS = frozenset({"BILL_ENERGY", "BILL_WATER", "BILL_HOUSING"})
#: A bill is a receipt of the department that issues it: it carries that department's code.
BILL_DEPARTMENT = {"BILL_ENERGY": "ENERGY", "BILL_WATER": "WATER", "BILL_HOUSING": "HOUSING"}
#: (purpose, digital?) -> department mix (an assumption). Receipts: transport (vehicle tax,
#: licences, challans) and revenue (stamp duty, land records) lead online, revenue at the cash
#: counter; payments: the treasury's salaries and pensions are electronic, departments' own
#: vendor payments still go partly by cheque; DBT: scholarships, health schemes, relief, pensions.
DEPARTMENT_MIX: dict[tuple[str, bool], dict[str, float]] = {
    ("GOVT_RECEIPT", True): {"TRANSPORT": 0.30, "REVENUE": 0.25, "HEALTH": 0.10, "EDUCATION": 0.10,
                             "ENERGY": 0.10, "WATER": 0.08, "HOUSING": 0.07},
    ("GOVT_RECEIPT", False): {"REVENUE": 0.40, "TRANSPORT": 0.15, "HEALTH": 0.15, "EDUCATION": 0.15,
                              "ENERGY": 0.05, "WATER": 0.05, "HOUSING": 0.05},
    ("GOVT_PAYMENT", True): {"TREASURY": 0.55, "EDUCATION": 0.12, "HEALTH": 0.10, "REVENUE": 0.06,
                             "TRANSPORT": 0.05, "ENERGY": 0.05, "WATER": 0.04, "HOUSING": 0.03},
    ("GOVT_PAYMENT", False): {"TREASURY": 0.10, "EDUCATION": 0.25, "HEALTH": 0.20, "REVENUE": 0.20,
                              "TRANSPORT": 0.05, "ENERGY": 0.07, "WATER": 0.08, "HOUSING": 0.05},
    ("DBT", True): {"EDUCATION": 0.35, "TREASURY": 0.30, "HEALTH": 0.20, "REVENUE": 0.15},
}

#: Mean ticket of a channel relative to the district's (purpose-adjusted) ticket.
_CHANNEL_TICKET = {
    "CASH": 0.8, "CHEQUE": 8.0, "DEMAND_DRAFT": 10.0, "UPI": 1.0, "UPI_QR": 0.8, "BHIM": 1.0,
    "DEBIT_CARD": 1.5, "CREDIT_CARD": 2.5, "PREPAID_CARD": 0.5, "AEPS": 1.5, "NEFT": 6.0,
    "RTGS": 1.0, "IMPS": 2.0, "INTERNET_BANKING": 3.0, "MOBILE_BANKING": 1.5, "NACH": 1.5,
}
_UPI_CHANNELS = frozenset({"UPI", "UPI_QR", "BHIM"})
_UPI_LIMIT_INR = 100_000
_RTGS_MIN_INR = 200_000
_SIGMA = 1.0  # lognormal spread of amounts

#: Purpose mix of cash and paper payments (an assumption: Pulse sees digital only).
_NON_DIGITAL_PURPOSES = {"P2P": 0.45, "P2M": 0.35, "BILL_ENERGY": 0.06, "BILL_WATER": 0.03,
                         "BILL_HOUSING": 0.02, "GOVT_RECEIPT": 0.05, "GOVT_PAYMENT": 0.01, "OTHER": 0.03}
#: Government disbursements go out by NACH (DBT via the Aadhaar Payment Bridge) or NEFT, and on
#: paper by cheque.
_FORCED_CHANNEL = {"DBT": "NACH", "GOVT_PAYMENT": "NEFT"}
_FORCED_PAPER_CHANNEL = {"GOVT_PAYMENT": "CHEQUE"}

#: (technical, business) decline probabilities of cheques and drafts (a bounce is a business
#: decline); cash never fails. Digital declines are the bank's (``Bank``).
_PAPER_DECLINES = (0.002, 0.02)

#: Seeding trickle: share of changes that open a new (unseeded) account instead of seeding one.
_NEW_ACCOUNT_SHARE = 0.15


def account_ref(lgd: int, bank: str, n: int) -> str:
    """The opaque reference of a simulated bank's ``n``-th account in a district (all feeds)."""
    return f"{bank}-{lgd}-ACC-{n:07d}"


class _Picker:
    """Weighted choice by bisection over cumulative weights (faster than ``random.choices``)."""

    __slots__ = ("cum", "items", "total")

    def __init__(self, weights: dict[Any, float]) -> None:
        self.items = list(weights)
        self.cum = list(itertools.accumulate(weights.values()))
        self.total = self.cum[-1]

    def __call__(self, rng: random.Random) -> Any:
        return self.items[min(bisect.bisect_right(self.cum, rng.random() * self.total), len(self.items) - 1)]


def _check_channels() -> None:
    schema = load_schema("PaymentEvent")
    channel = next(f for f in schema["fields"] if f["name"] == "channel")["type"]["symbols"]
    known = set(DIGITAL_CHANNEL_WEIGHTS) | set(NON_DIGITAL_CHANNEL_WEIGHTS)
    if set(channel) != known or not all(is_digital(c) for c in DIGITAL_CHANNEL_WEIGHTS) \
            or any(is_digital(c) for c in NON_DIGITAL_CHANNEL_WEIGHTS):
        raise RuntimeError("simulator channel weights are out of step with the schema or streams.channels")
    if set(BILL_CHANNEL_WEIGHTS) - set(DIGITAL_CHANNEL_WEIGHTS) or "UPI_QR" in BILL_CHANNEL_WEIGHTS:
        raise RuntimeError("bill channels must be digital channels other than UPI_QR")


def _check_departments() -> None:
    known = default_departments()
    used = set(BILL_DEPARTMENT.values()).union(*DEPARTMENT_MIX.values())
    missing = sorted(c for c in used if c not in known)
    if missing:
        raise RuntimeError(f"simulator departments not in the department registry: {', '.join(missing)}")


class Simulator:
    """A stateful, seeded source of events for every calibrated district."""

    def __init__(self, seed: int = 0, banks: Sequence[str] | None = None, accounts: int = 20_000,
                 calibration: Calibration | None = None) -> None:
        _check_channels()
        _check_departments()
        if seed < 0:
            raise ValueError("seed must not be negative")
        self.seed = seed
        self.cal = calibration or default_calibration()
        codes = [c.strip().upper() for c in banks] if banks else list(DEFAULT_BANKS)
        unknown = [c for c in codes if c not in default_banks() or not default_banks().branches_of(c)]
        if unknown:
            raise ValueError(f"not a bank with branches in the IFSC registry: {', '.join(unknown)}")
        avg = sum(b.weight for b in DEFAULT_BANKS.values()) / len(DEFAULT_BANKS)
        chosen = [DEFAULT_BANKS.get(c, Bank(c, avg)) for c in codes]
        total = sum(b.weight for b in chosen)
        mean_tilt = sum(b.weight * b.digital_tilt for b in chosen) / total
        # Re-centre the tilts: banks move shares between them, not the district's average.
        self.banks = [Bank(b.code, b.weight / total, b.digital_tilt - mean_tilt, b.technical_decline,
                           b.business_decline) for b in chosen]
        self._tag = f"{seed:_}"  # underscores: a long seed never forms a 12-digit run
        self._pay_rng = random.Random(f"{seed}:payments")
        self._seed_rng = random.Random(f"{seed}:seeding")
        self._n_pay = 0
        self._n_seed = 0
        self._profiles = {d.lgd: d for d in self.cal.districts}
        self._district = _Picker(self.cal.event_weights())
        self._bank = _Picker({i: b.weight for i, b in enumerate(self.banks)})
        self._digital_channel = _Picker(DIGITAL_CHANNEL_WEIGHTS)
        self._paper_channel = _Picker(NON_DIGITAL_CHANNEL_WEIGHTS)
        self._digital_purpose = _Picker(self.cal.purpose_mix)
        self._paper_purpose = _Picker(_NON_DIGITAL_PURPOSES)
        self._bill_channel = _Picker(BILL_CHANNEL_WEIGHTS)
        self._department = {k: _Picker(mix) for k, mix in DEPARTMENT_MIX.items()}
        self._override: dict[int, float] = {}
        self._branches = self._layout()
        self._book: list[tuple[int, str, str, str]] = []  # (lgd, bank, account_ref, status)
        self._unseeded: list[int] = []  # indexes into _book
        self._next_account: dict[tuple[int, str], int] = {}
        self._open_accounts(accounts)

    # -- layout ---------------------------------------------------------------------------
    def _layout(self) -> dict[tuple[int, str], list[str]]:
        """Branches per (district, bank): ~2,400 in the state, spread by registered users."""
        rng = random.Random(f"{self.seed}:layout")
        out: dict[tuple[int, str], list[str]] = {}
        # real branch IFSCs of each bank (the registry does not say where a branch is: they are
        # dealt to districts at random, each district its own, reused only if a bank has too few)
        pools = {b.code: default_banks().branches_of(b.code) for b in self.banks}
        for pool in pools.values():
            rng.shuffle(pool)
        dealt = dict.fromkeys(pools, 0)
        for d in self.cal.districts:
            for b in self.banks:
                n = max(1, round(2400 * d.user_share * b.weight * rng.uniform(0.8, 1.2)))
                pool, start = pools[b.code], dealt[b.code]
                out[(d.lgd, b.code)] = [pool[(start + i) % len(pool)] for i in range(n)]
                dealt[b.code] = start + n
        return out

    def account_layout(self, accounts: int) -> list[tuple[int, str, int]]:
        """(district, bank, accounts) of a first load of about ``accounts``, spread by registered
        users and market share: the seeding, enablement and enrolment feeds share these accounts
        (``account_ref`` ``<bank>-<lgd>-ACC-<n>``, n from 1)."""
        if accounts <= 0:
            return []
        return [(d.lgd, b.code, max(1, round(accounts * d.user_share * b.weight)))
                for d in self.cal.districts for b in self.banks]

    def _open_accounts(self, accounts: int) -> None:
        rng = self._seed_rng
        profiles = self._profiles
        for lgd, bank, n in self.account_layout(accounts):
            for _ in range(n):
                self._new_account(lgd, bank, rng.random() < profiles[lgd].seeded_share)

    def _new_account(self, lgd: int, bank: str, seeded: bool) -> int:
        i = self._next_account.get((lgd, bank), 0) + 1
        self._next_account[(lgd, bank)] = i
        self._book.append((lgd, bank, account_ref(lgd, bank, i), "SEEDED" if seeded else "NOT_SEEDED"))
        if not seeded:
            self._unseeded.append(len(self._book) - 1)
        return len(self._book) - 1

    @property
    def accounts(self) -> int:
        return len(self._book)

    def branches(self, lgd: int, bank: str) -> list[str]:
        return list(self._branches[(lgd, bank)])

    # -- scenario hooks ---------------------------------------------------------------------
    def set_digital_share(self, lgd: int, share: float | None) -> None:
        """Force ``lgd``'s digital share (by count) to ``share``; ``None`` restores calibration."""
        if share is None:
            self._override.pop(lgd, None)
        elif not 0.0 <= share <= 1.0:
            raise ValueError("share must be within 0..1")
        elif lgd not in self._profiles:
            raise KeyError(f"district {lgd} is not simulated")
        else:
            self._override[lgd] = share

    # -- payments ---------------------------------------------------------------------------
    def _amount_paise(self, mean_inr: float, channel: str, rng: random.Random) -> int:
        mu = math.log(mean_inr) - _SIGMA * _SIGMA / 2
        inr = rng.lognormvariate(mu, _SIGMA)
        if channel == "RTGS":
            inr = _RTGS_MIN_INR + rng.lognormvariate(math.log(300_000.0) - 0.5, 1.0)
        elif channel in _UPI_CHANNELS:
            inr = min(inr, _UPI_LIMIT_INR)
        return max(100, round(inr * 100))

    def payment(self, now_ms: int) -> dict[str, Any]:
        """The next PaymentEvent record, occurring at ``now_ms``."""
        rng = self._pay_rng
        lgd = self._district(rng)
        profile = self._profiles[lgd]
        bank = self.banks[self._bank(rng)]
        branches = self._branches[(lgd, bank.code)]
        branch = branches[int(rng.random() * len(branches))]
        p_digital = self._override.get(lgd)
        if p_digital is None:
            p_digital = min(0.99, max(0.01, profile.digital_share + bank.digital_tilt))
        digital = rng.random() < p_digital
        if digital:
            purpose = self._digital_purpose(rng)
            if purpose in _BILLS:
                channel = "UPI_QR" if rng.random() < profile.bill_qr_share else self._bill_channel(rng)
            else:
                channel = _FORCED_CHANNEL.get(purpose) or self._digital_channel(rng)
            tech, business = bank.technical_decline, bank.business_decline
        else:
            purpose = self._paper_purpose(rng)
            channel = _FORCED_PAPER_CHANNEL.get(purpose) or self._paper_channel(rng)
            tech, business = (0.0, 0.0) if channel == "CASH" else _PAPER_DECLINES
        department = BILL_DEPARTMENT.get(purpose)
        if department is None:
            pick = self._department.get((purpose, digital))
            department = pick(rng) if pick is not None else None
        factor = self.cal.purpose_ticket_factor.get(purpose, 1.0) * _CHANNEL_TICKET[channel]
        mean = profile.ticket_inr * factor
        amount = self._amount_paise(mean, channel, rng)
        r = rng.random()
        status = "TECHNICAL_DECLINE" if r < tech else "BUSINESS_DECLINE" if r < tech + business else "SUCCESS"
        self._n_pay += 1
        return {
            "event_id": f"sim-{self._tag}-p{self._n_pay}",
            "occurred_at": now_ms,
            "district_lgd": lgd,
            "bank_code": bank.code,
            "branch_ifsc": branch,
            "channel": channel,
            "amount_paise": amount,
            "status": status,
            "purpose": purpose,
            "department_code": department,
        }

    def payments(self, n: int, now_ms: int) -> list[dict[str, Any]]:
        return [self.payment(now_ms) for _ in range(n)]

    # -- seeding ----------------------------------------------------------------------------
    def _seeding(self, lgd: int, bank: str, ref: str, status: str, now_ms: int) -> dict[str, Any]:
        self._n_seed += 1
        return {"event_id": f"sim-{self._tag}-s{self._n_seed}", "occurred_at": now_ms,
                "district_lgd": lgd, "bank_code": bank, "account_ref": ref, "status": status}

    def first_load(self, now_ms: int) -> Iterator[dict[str, Any]]:
        """Every account's current status, as each bank's first load sends it."""
        for lgd, bank, ref, status in list(self._book):
            yield self._seeding(lgd, bank, ref, status, now_ms)

    def seeding_change(self, now_ms: int) -> dict[str, Any]:
        """One change: an unseeded account gets seeded, or (sometimes) a new account opens."""
        rng = self._seed_rng
        if not self._unseeded or rng.random() < _NEW_ACCOUNT_SHARE:
            d = self._profiles[self._district(rng)]
            i = self._new_account(d.lgd, self.banks[self._bank(rng)].code, False)
        else:
            k = int(rng.random() * len(self._unseeded))
            i = self._unseeded[k]
            self._unseeded[k] = self._unseeded[-1]
            self._unseeded.pop()
            lgd, bank, ref, _ = self._book[i]
            self._book[i] = (lgd, bank, ref, "SEEDED")
        lgd, bank, ref, status = self._book[i]
        return self._seeding(lgd, bank, ref, status, now_ms)


def generate_payments(seed: int, n: int, now_ms: int,
                      banks: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """``n`` PaymentEvent records from a fresh simulator seeded with ``seed``."""
    return Simulator(seed, banks, accounts=0).payments(n, now_ms)


def generate_seeding(seed: int, now_ms: int, accounts: int = 20_000, changes: int = 0,
                     banks: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """A first load of about ``accounts`` SeedingEvents, then ``changes`` changes."""
    sim = Simulator(seed, banks, accounts)
    out = list(sim.first_load(now_ms))
    out.extend(sim.seeding_change(now_ms) for _ in range(changes))
    return out
