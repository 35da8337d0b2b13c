"""Event ids already used in the file: a second record with one is a reject, not a silent drop.

The worker deduplicates by ``(bank_code, event_id)``: a second record with an id it
has seen is counted as a duplicate and vanishes, and the bank never hears of it.
That is right for a resent record but hides a bank whose ids are not unique (two
transactions, one id: one is lost). So within one file the publisher sends the
first record with an id and rejects every later one (``duplicate_event_id``,
naming the first one's line), which is what the worker would have done, but
visibly.

Only records that would be sent register their id (a rejected record does not: its
corrected copy later in the file is sent). A resumed run reads the records before
the checkpoint again, checking but not sending them, so a duplicate on either side
of a kill is still caught. The ids are held in memory, about 100 bytes each.
"""

from __future__ import annotations

from ..errors import EventError

__all__ = ["DuplicateEventId", "FirstLines"]


class DuplicateEventId(EventError):
    """A record whose ``event_id`` an earlier record of the same file already has."""

    code = "duplicate_event_id"


class FirstLines(dict[str, int]):
    """event_id -> the line of the first record sent with it."""

    def error(self, first: int) -> DuplicateEventId:
        return DuplicateEventId(f"event_id already used on line {first} of this file: the first record with an id "
                                "is sent, a later one would be dropped by the worker as a duplicate", "event_id")
