"""Turn-around times of failed-transaction grievances (RBI DPSS.CO.PD No.629, 20 Sep 2019).

T is the transaction's calendar date in India and R the resolution's; both are day numbers
(days since 1970-01-01, as Avro's ``date``), dates in Asia/Kolkata. A grievance of a case with a
turn-around time of ``n`` days is due on T + n; resolved on R it is ``max(0, R - T - n)`` days
late, open ones by the same against today's date in India; the bank owes the customer Rs 100
per day late, unasked. ``OTHER`` has no turn-around time: counted, kept out of these figures.
"""

from __future__ import annotations

import time
from datetime import date, datetime
from zoneinfo import ZoneInfo

__all__ = ["CASES", "COMPENSATION_RUPEES_PER_DAY", "IST", "TAT_DAYS", "due_day", "ist_day", "late_days", "today"]

IST = ZoneInfo("Asia/Kolkata")
_EPOCH = date(1970, 1, 1).toordinal()
#: Rupees the bank owes per day past the turn-around time.
COMPENSATION_RUPEES_PER_DAY = 100
#: case -> turn-around time in days after T (the circular's T+1 and T+5)
TAT_DAYS: dict[str, int] = {
    "UPI_P2P_NOT_CREDITED": 1, "IMPS_NOT_CREDITED": 1, "CARD_TO_CARD_NOT_CREDITED": 1,
    "UPI_MERCHANT_NOT_CONFIRMED": 5, "CARD_POS_NOT_CONFIRMED": 5, "CARD_NOT_PRESENT_NOT_CONFIRMED": 5,
    "ATM_CASH_NOT_DISPENSED": 5, "AEPS_NOT_CONFIRMED": 5,
}
#: Every case symbol of the schema, in its order (``OTHER`` last: no turn-around time).
CASES = (*TAT_DAYS, "OTHER")


def ist_day(ms: int) -> int:
    """The calendar date in India of UTC epoch milliseconds ``ms``, as days since 1970-01-01."""
    return datetime.fromtimestamp(ms / 1000, IST).date().toordinal() - _EPOCH


def today(now: float | None = None) -> int:
    """Today's date in India by this process's clock (or ``now``, epoch seconds)."""
    return ist_day(int((time.time() if now is None else now) * 1000))


def due_day(case: str, transaction_day: int) -> int | None:
    """The last day within the turn-around time (T + n), None for a case without one."""
    n = TAT_DAYS.get(case)
    return None if n is None else transaction_day + n


def late_days(due: int, day: int) -> int:
    """Days past ``due`` on ``day`` (0 when within)."""
    return max(0, day - due)
