"""The acknowledgement window: a bound on records sent but not yet covered by the checkpoint.

Waiting for every batch to be acknowledged before sending the next (``flush()``
per batch) would idle the publisher for a broker round trip each time. Instead
the records are cut into segments of ``limit // 2``; a closed segment stays in
flight while the next one is filled, and is waited for only when keeping it would
let more than ``limit`` records be unconfirmed. So the checkpoint trails the
broker by at most ``limit`` records at any instant, which is exactly how many a
rerun after a kill can send twice, and the producer never waits for a round
trip while there is still a segment's worth of work to do.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any

__all__ = ["AckWindow"]


def _wait(futures: list[Any]) -> None:
    """Block until every future is done; raise the first failure."""
    for f in futures:
        if not f.is_done:
            f.get()  # bounded by the producer's delivery_timeout_ms
        if f.exception is not None:
            raise f.exception


def _all_done(futures: list[Any]) -> bool:
    return all(f.is_done for f in futures)


class AckWindow:
    """Segments of sent records, oldest first, each with the caller's ``mark`` for its end."""

    def __init__(self, limit: int, segment: int | None = None) -> None:
        if limit < 1:
            raise ValueError("the window must hold at least one record")
        self.limit = limit
        #: Items per segment (default ``limit // 2``): closed segments plus the open one never exceed ``limit``.
        self.segment = max(1, min(segment or limit // 2, limit))
        #: Records handed to the window so far, and those of them acknowledged by the broker.
        self.sent = 0
        self.acknowledged = 0
        self._pending: deque[tuple[list[Any], Any]] = deque()
        self._in_flight = 0

    def close(self, futures: list[Any], mark: Any) -> Any:
        """Add a closed segment; return the mark of the newest segment now fully acknowledged, or None.

        Waits only as long as needed to keep the next open segment within ``limit``;
        segments that have already been acknowledged are released too.
        """
        self._pending.append((futures, mark))
        self._in_flight += len(futures)
        self.sent += len(futures)
        done = None
        while self._pending and (self._in_flight + self.segment > self.limit
                                 or _all_done(self._pending[0][0])):
            done = self._release()
        return done

    def drain(self, flush: Callable[[], None]) -> Any:
        """Flush and wait for every segment; return the last mark (None if there was none)."""
        flush()
        done = None
        while self._pending:
            done = self._release()
        return done

    def _release(self) -> Any:
        futures, mark = self._pending[0]
        _wait(futures)
        self._pending.popleft()
        self._in_flight -= len(futures)
        self.acknowledged += len(futures)
        return mark
