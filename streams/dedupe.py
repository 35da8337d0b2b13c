"""Which (bank_code, event_id) pairs were already applied, within a time horizon.

Keys are grouped by event-time hour so expiry drops whole hours at once instead of
scanning every key. Only ids newer than the horizon are kept; an event older than
that cannot be checked, which is why the worker refuses it as ``too_old``.
"""

from __future__ import annotations

__all__ = ["DedupeIndex", "dedupe_key"]

_HOUR_MS = 3_600_000


def dedupe_key(bank_code: str, event_id: str) -> str:
    return f"{bank_code}\x1f{event_id}"


class DedupeIndex:
    """A set of event keys with their event-time hour, expiring by hour."""

    __slots__ = ("_by_hour", "_hour_of", "horizon_ms")

    def __init__(self, horizon_s: float) -> None:
        self.horizon_ms = int(horizon_s * 1000)
        self._hour_of: dict[str, int] = {}
        self._by_hour: dict[int, set[str]] = {}

    def __len__(self) -> int:
        return len(self._hour_of)

    def __contains__(self, key: str) -> bool:
        return key in self._hour_of

    def add(self, key: str, ts_ms: int) -> bool:
        """Remember ``key``; False if it was already there (a duplicate)."""
        if key in self._hour_of:
            return False
        hour = ts_ms // _HOUR_MS
        self._hour_of[key] = hour
        bucket = self._by_hour.get(hour)
        if bucket is None:
            bucket = self._by_hour[hour] = set()
        bucket.add(key)
        return True

    def expire(self, watermark_ms: int) -> int:
        """Forget keys whose whole hour lies before ``watermark - horizon``; returns how many."""
        cutoff = (watermark_ms - self.horizon_ms) // _HOUR_MS
        dropped = 0
        for hour in [h for h in self._by_hour if h < cutoff]:
            for key in self._by_hour.pop(hour):
                del self._hour_of[key]
                dropped += 1
        return dropped
