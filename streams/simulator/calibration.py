"""Calibrating the simulator on the real PhonePe Pulse series for Uttarakhand.

Pulse holds one app's digital transactions only, so it gives relative volumes,
ticket sizes, growth and the purpose mix, never a digital share. The digital
share, the seeding coverage and the share of digital bill payments made by
scanning the bill's QR code are derived heuristically from how intensively each
district uses the app (transactions per registered user): the busier district
gets the higher share, within bounds that match the 72-94 % coverage SLBCs
report (the QR share's bounds are an assumption: nobody publishes it). The
utility bills' share of digital transactions is Pulse's own "Recharge & bill
payments" share, less the recharges (``BILL_SHARE_OF_RECHARGE_AND_BILLS``).
Everything uses the latest year in the extract.
"""

from __future__ import annotations

import csv
import io
import math
from collections import defaultdict
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from ..registry import DistrictRegistry, default_registry

__all__ = [
    "BILL_QR_SHARE_RANGE",
    "BILL_SHARE_OF_RECHARGE_AND_BILLS",
    "DIGITAL_SHARE_RANGE",
    "GOVT_SHARES",
    "SEEDED_SHARE_RANGE",
    "Calibration",
    "DistrictProfile",
    "calibrate",
    "default_calibration",
    "purpose_mix",
]

_PULSE = "data/pulse"
DISTRICTS_FILE = "phonepe-pulse-uttarakhand-districts.csv"
TYPES_FILE = "phonepe-pulse-uttarakhand-types.csv"

#: Bounds of the simulated digital share (by count) of the least and most digital district.
DIGITAL_SHARE_RANGE = (0.55, 0.90)
#: Bounds of the first-load seeding coverage of the least and most digital district.
SEEDED_SHARE_RANGE = (0.70, 0.90)
#: Bounds of the share of *digital* utility-bill payments made by scanning the bill's UPI QR
#: code, least and most digital district. The directive puts a QR code on every energy, water and
#: housing bill; how many payers scan it rather than pay in an app, by netbanking, card or
#: auto-debit is not published: an assumption, rising with the district's digital habit.
BILL_QR_SHARE_RANGE = (0.15, 0.40)

#: The bills' part of Pulse's "Recharge & bill payments" (the rest: mobile and DTH recharges,
#: simulated as OTHER). Pulse has no finer split: an assumption.
BILL_SHARE_OF_RECHARGE_AND_BILLS = 0.5
#: How the bills divide between energy, water and housing (an assumption: electricity is billed
#: monthly or bimonthly to nearly every household, water and housing dues less often, to fewer).
_BILL_SPLIT = {"BILL_ENERGY": 0.6, "BILL_WATER": 0.2, "BILL_HOUSING": 0.2}

#: Pulse transaction type -> schema Purpose shares.
_TYPE_TO_PURPOSES: dict[str, dict[str, float]] = {
    "Peer-to-peer payments": {"P2P": 1.0},
    "Merchant payments": {"P2M": 1.0},
    "Recharge & bill payments": {"OTHER": 1.0 - BILL_SHARE_OF_RECHARGE_AND_BILLS,
                                 **{p: BILL_SHARE_OF_RECHARGE_AND_BILLS * w for p, w in _BILL_SPLIT.items()}},
    "Financial Services": {"OTHER": 1.0},
    "Others": {"OTHER": 1.0},
}
#: Government flows Pulse does not see (an assumption): carved out of the digital mix.
GOVT_SHARES = {"GOVT_RECEIPT": 0.02, "GOVT_PAYMENT": 0.01, "DBT": 0.02}


@dataclass(frozen=True, slots=True)
class DistrictProfile:
    """What the simulator needs to know about one district."""

    lgd: int
    name: str
    pulse_name: str
    #: This district's share of the state's transactions (sums to 1 over the state).
    volume_share: float
    #: Average ticket size, INR (value / count over the latest year).
    ticket_inr: float
    #: Latest year's transaction count over the year before's.
    growth: float
    #: Transactions per registered user per quarter: the proxy for digital habit.
    intensity: float
    #: Share of registered users (a proxy of population, for spreading accounts).
    user_share: float
    #: Simulated digital share by count (heuristic from ``intensity``).
    digital_share: float
    #: Simulated seeded share of the first load (heuristic from ``intensity``).
    seeded_share: float
    #: Share of digital utility-bill payments made by UPI QR (heuristic from ``intensity``).
    bill_qr_share: float


@dataclass(frozen=True, slots=True)
class Calibration:
    """Per-district profiles and the state's purpose mix, for one year of Pulse data."""

    year: int
    districts: tuple[DistrictProfile, ...]
    #: Purpose symbol -> share of digital transactions (sums to 1).
    purpose_mix: dict[str, float]
    #: Purpose symbol -> mean ticket relative to the state's mean ticket.
    purpose_ticket_factor: dict[str, float]

    def event_weights(self) -> dict[int, float]:
        """LGD -> share of all simulated payments (cash included), summing to 1.

        Pulse counts digital transactions only, so a district's total is its Pulse
        volume over its digital share: its *digital* events then keep Pulse's ratios.
        """
        raw = {d.lgd: d.volume_share / d.digital_share for d in self.districts}
        total = sum(raw.values())
        return {k: v / total for k, v in raw.items()}

    def by_lgd(self, lgd: int) -> DistrictProfile:
        for d in self.districts:
            if d.lgd == lgd:
                return d
        raise KeyError(lgd)


def _read(name: str) -> str:
    return resources.files("streams").joinpath(f"{_PULSE}/{name}").read_text(encoding="utf-8")


def _scale(x: float, lo: float, hi: float, out: tuple[float, float]) -> float:
    t = 0.5 if hi <= lo else (x - lo) / (hi - lo)
    return out[0] + t * (out[1] - out[0])


def purpose_mix(types_csv: str, year: int) -> tuple[dict[str, float], dict[str, float]]:
    """(share by purpose, ticket factor by purpose) from the Pulse types file for ``year``."""
    count: dict[str, float] = defaultdict(float)
    value: dict[str, float] = defaultdict(float)
    for row in csv.DictReader(io.StringIO(types_csv)):
        if int(row["year"]) != year:
            continue
        for purpose, share in _TYPE_TO_PURPOSES.get(row["transaction_type"], {"OTHER": 1.0}).items():
            count[purpose] += float(row["transactions"]) * share
            value[purpose] += float(row["amount_inr"]) * share
    total_n, total_v = sum(count.values()), sum(value.values())
    state_ticket = total_v / total_n
    factor = {p: (value[p] / count[p]) / state_ticket for p in count}
    # Government flows: ticket of a bill payment (receipts) or of P2P (payments, DBT).
    factor.update(GOVT_RECEIPT=factor["BILL_ENERGY"], GOVT_PAYMENT=factor["P2P"], DBT=factor["P2P"] * 0.5)
    keep = 1.0 - sum(GOVT_SHARES.values())
    mix = {p: n / total_n * keep for p, n in count.items()}
    mix.update(GOVT_SHARES)
    return mix, factor


def calibrate(districts_csv: str, types_csv: str, registry: DistrictRegistry,
              year: int | None = None) -> Calibration:
    """Profiles for every district in ``districts_csv`` for ``year`` (default: the latest)."""
    rows = list(csv.DictReader(io.StringIO(districts_csv)))
    year = year or max(int(r["year"]) for r in rows)
    n: dict[str, float] = defaultdict(float)
    v: dict[str, float] = defaultdict(float)
    prev: dict[str, float] = defaultdict(float)
    users: dict[str, float] = defaultdict(float)
    quarters: dict[str, int] = defaultdict(int)
    for r in rows:
        y, name = int(r["year"]), r["district"]
        if y == year:
            n[name] += float(r["transactions"])
            v[name] += float(r["amount_inr"])
            users[name] += float(r["registered_users"])
            quarters[name] += 1
        elif y == year - 1:
            prev[name] += float(r["transactions"])
    total = sum(n.values())
    total_users = sum(users.values())
    intensity = {k: n[k] / users[k] for k in n}  # same quarters on both sides: per quarter
    logs = {k: math.log(x) for k, x in intensity.items()}
    lo, hi = min(logs.values()), max(logs.values())
    profiles = []
    for name in n:
        d = registry.by_name(name)
        profiles.append(DistrictProfile(
            lgd=d.lgd, name=d.name, pulse_name=name,
            volume_share=n[name] / total,
            ticket_inr=v[name] / n[name],
            growth=n[name] / prev[name] if prev.get(name) else 1.0,
            intensity=intensity[name],
            user_share=users[name] / total_users,
            digital_share=_scale(logs[name], lo, hi, DIGITAL_SHARE_RANGE),
            seeded_share=_scale(logs[name], lo, hi, SEEDED_SHARE_RANGE),
            bill_qr_share=_scale(logs[name], lo, hi, BILL_QR_SHARE_RANGE),
        ))
    mix, factor = purpose_mix(types_csv, year)
    return Calibration(year, tuple(sorted(profiles, key=lambda p: p.lgd)), mix, factor)


@lru_cache(maxsize=1)
def default_calibration() -> Calibration:
    """The calibration from the shipped Pulse extract, latest year."""
    return calibrate(_read(DISTRICTS_FILE), _read(TYPES_FILE), default_registry())
