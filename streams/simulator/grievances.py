"""Simulated failed-transaction grievances: raised, then resolved, in event time.

Where they come from: a grievance is a failed digital payment that took the customer's money
(a technical decline that debited the account). So a district's and a bank's share of the
grievances is its share of the simulated technical declines: the district's payment volume
(``Calibration.event_weights``) times its digital share times the bank's market share and
technical-decline rate (``generator.Bank``); the rate is ``COMPLAINT_SHARE`` of those declines
(``GrievanceSimulator.per_payment`` grievances per simulated payment, about 0.04 %).

How they are resolved (assumptions, none of them published): ``WITHIN_TAT`` of the grievances
with a turn-around time (RBI DPSS.CO.PD No.629: T+1 or T+5 by case, ``streams.grievances.tat``)
are resolved within it, on a day drawn evenly from the raising day to the due day; the rest
``1 + Geometric(LATE_P)`` days late (a tail past the TAT, up to ``MAX_LATE_DAYS``). ``OTHER``
(``CASE_MIX``: a few) has no turn-around time and is resolved ``Geometric(OTHER_P)`` days after
it was raised. Customers complain on the transaction's day or the day after (``RAISE_LAG``).

Event time: a grievance is raised at the simulator's clock and its RESOLVED is queued for its
resolution time, sent once the clock reaches it (with ``--speedup`` days pass in minutes). A
first load (``backlog``) sends what the banks' books hold at the start: the grievances raised
over the last ``FeedOptions.grievance_backlog`` seconds and the resolutions among them already
due, in time order, so that open grievances past their turn-around time and resolved ratios
show from the first scrape. No I/O and no clock of its own; its own ``random.Random``.
"""

from __future__ import annotations

import heapq
import math
import random
from collections.abc import Iterator
from typing import Any

from ..grievances.tat import TAT_DAYS, ist_day
from .generator import Simulator, _Picker

__all__ = [
    "CASE_MIX",
    "CASE_TICKET_INR",
    "COMPLAINT_SHARE",
    "LATE_P",
    "MAX_LATE_DAYS",
    "OTHER_P",
    "RAISE_LAG",
    "WITHIN_TAT",
    "GrievanceSimulator",
]

#: Of the technical declines, the share that debited the customer and became a grievance.
COMPLAINT_SHARE = 0.05
#: The failed-transaction cases (an assumption, following the simulated channel mix: UPI
#: dominant, then ATMs, IMPS, cards and AePS); a few OTHER, which has no turn-around time.
CASE_MIX: dict[str, float] = {
    "UPI_P2P_NOT_CREDITED": 0.42, "UPI_MERCHANT_NOT_CONFIRMED": 0.20, "ATM_CASH_NOT_DISPENSED": 0.12,
    "IMPS_NOT_CREDITED": 0.07, "CARD_POS_NOT_CONFIRMED": 0.05, "AEPS_NOT_CONFIRMED": 0.05,
    "CARD_NOT_PRESENT_NOT_CONFIRMED": 0.03, "CARD_TO_CARD_NOT_CREDITED": 0.01, "OTHER": 0.05,
}
#: Mean amount of the failed transaction, rupees (an ATM withdrawal is larger than a UPI payment).
CASE_TICKET_INR: dict[str, float] = {
    "UPI_P2P_NOT_CREDITED": 1200.0, "UPI_MERCHANT_NOT_CONFIRMED": 600.0, "ATM_CASH_NOT_DISPENSED": 3000.0,
    "IMPS_NOT_CREDITED": 5000.0, "CARD_POS_NOT_CONFIRMED": 1500.0, "AEPS_NOT_CONFIRMED": 2000.0,
    "CARD_NOT_PRESENT_NOT_CONFIRMED": 1500.0, "CARD_TO_CARD_NOT_CREDITED": 4000.0, "OTHER": 1000.0,
}
#: Days between the transaction (T) and the complaint.
RAISE_LAG: dict[int, float] = {0: 0.75, 1: 0.25}
#: Share of the grievances with a turn-around time resolved within it.
WITHIN_TAT = 0.88
#: Days late of the others: 1 + Geometric(LATE_P) (mean 1 / LATE_P), at most MAX_LATE_DAYS.
LATE_P = 0.45
MAX_LATE_DAYS = 20
#: OTHER: resolved Geometric(OTHER_P) days after it was raised (0 = the same day).
OTHER_P = 0.5

_DAY_MS = 86_400_000
_IST_OFFSET_MS = 19_800_000  # +05:30
_MIN_GAP_MS = 600_000  # a resolution comes at least 10 minutes after the raising


def _day_start_ms(day: int) -> int:
    """UTC milliseconds of 00:00 in India on day number ``day``."""
    return day * _DAY_MS - _IST_OFFSET_MS


def _geometric(rng: random.Random, p: float) -> int:
    """Failures before the first success, P(k) = p (1 - p)^k."""
    return int(math.log(1.0 - rng.random()) / math.log(1.0 - p))


class GrievanceSimulator:
    """Grievances for the districts and banks of ``sim`` (its seed, calibration and banks)."""

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim
        self._rng = random.Random(f"{sim.seed}:grievances")
        self._tag = f"{sim.seed:_}"
        weights = sim.cal.event_weights()
        profiles = {d.lgd: d for d in sim.cal.districts}
        declines = {(lgd, i): w * profiles[lgd].digital_share * b.weight * b.technical_decline
                    for lgd, w in weights.items() for i, b in enumerate(sim.banks)}
        #: Grievances per simulated payment.
        self.per_payment = COMPLAINT_SHARE * sum(declines.values())
        self._where = _Picker(declines)
        self._case = _Picker(CASE_MIX)
        self._lag = _Picker(RAISE_LAG)
        self._pending: list[tuple[int, int, dict[str, Any]]] = []  # (occurred_at, n, RESOLVED)
        self._n_events = 0
        self._n_refs = 0

    def _event_id(self) -> str:
        self._n_events += 1
        return f"sim-{self._tag}-g{self._n_events}"

    def resolution_day_offset(self, case: str, lag: int) -> int:
        """R - T for a grievance of ``case`` raised ``lag`` days after its transaction."""
        rng = self._rng
        tat = TAT_DAYS.get(case)
        if tat is None:
            return lag + _geometric(rng, OTHER_P)
        if rng.random() < WITHIN_TAT:
            return lag + int(rng.random() * (tat - lag + 1))
        return tat + 1 + min(MAX_LATE_DAYS - 1, _geometric(rng, LATE_P))

    def raise_one(self, at_ms: int) -> dict[str, Any]:
        """A RAISED at ``at_ms``; its RESOLVED is queued for its resolution time."""
        rng = self._rng
        lgd, i = self._where(rng)
        bank = self.sim.banks[i].code
        case = self._case(rng)
        lag = self._lag(rng)
        raised_day = ist_day(at_ms)
        t = raised_day - lag
        amount = max(100, round(rng.lognormvariate(math.log(CASE_TICKET_INR[case]) - 0.5, 1.0) * 100))
        self._n_refs += 1
        record = {"event_id": self._event_id(), "occurred_at": at_ms, "district_lgd": lgd, "bank_code": bank,
                  "grievance_ref": f"grv-{self._tag}-g{self._n_refs}", "action": "RAISED", "case": case,
                  "transaction_date": t, "amount_paise": amount}
        r = t + self.resolution_day_offset(case, lag)
        start = max(_day_start_ms(r), at_ms + _MIN_GAP_MS)
        end = _day_start_ms(r + 1) - 1
        when = start + int(rng.random() * (end - start)) if end > start else min(at_ms + _MIN_GAP_MS, end)
        when = max(when, at_ms + 1)
        heapq.heappush(self._pending, (when, self._n_refs, {**record, "action": "RESOLVED", "occurred_at": when}))
        return record

    def due(self, now_ms: int) -> Iterator[dict[str, Any]]:
        """The queued RESOLVEDs whose time has come, oldest first (each given its event id now)."""
        while self._pending and self._pending[0][0] <= now_ms:
            _, _, record = heapq.heappop(self._pending)
            yield {**record, "event_id": self._event_id()}

    def backlog(self, now_ms: int, seconds: float, rate: float) -> Iterator[dict[str, Any]]:
        """What the banks' books hold at ``now_ms``: grievances raised at ``rate`` per second over the
        last ``seconds`` and the resolutions already due, in time order."""
        n = int(rate * seconds)
        if n <= 0:
            return
        start = now_ms - int(seconds * 1000)
        times = sorted(start + int(self._rng.random() * seconds * 1000) for _ in range(n))
        for at in times:
            yield from self.due(at)
            yield self.raise_one(at)
        yield from self.due(now_ms)

    @property
    def open(self) -> int:
        """Grievances raised and not yet resolved."""
        return len(self._pending)
