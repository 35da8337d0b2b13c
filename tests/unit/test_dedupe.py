"""DedupeIndex: membership, duplicates and expiry by whole event-time hours."""

from __future__ import annotations

from streams.dedupe import DedupeIndex, dedupe_key

from .factories import HOUR_MS, T0


def test_add_reports_duplicates() -> None:
    idx = DedupeIndex(3600)
    k = dedupe_key("SBIN", "e1")
    assert idx.add(k, T0) is True
    assert idx.add(k, T0 + 5) is False
    assert k in idx and len(idx) == 1
    assert dedupe_key("PUNB", "e1") not in idx


def test_key_separates_bank_and_id() -> None:
    assert dedupe_key("SB", "IN1") != dedupe_key("SBI", "N1")


def test_expiry_drops_whole_hours_before_watermark_minus_horizon() -> None:
    idx = DedupeIndex(2 * 3600)
    keys = {h: dedupe_key("SBIN", f"h{h}") for h in range(6)}
    for h, k in keys.items():
        idx.add(k, T0 + h * HOUR_MS + 59 * 60_000)  # late in each hour
    # watermark 4.5 h after T0: horizon starts at 2.5 h, inside hour 2; hours 0 and 1 lie wholly before it
    assert idx.expire(T0 + 4 * HOUR_MS + HOUR_MS // 2) == 2
    assert [h for h, k in keys.items() if k in idx] == [2, 3, 4, 5]
    assert len(idx) == 4
    assert idx.expire(T0 + 4 * HOUR_MS + HOUR_MS // 2) == 0  # idempotent
    # an expired key may be added again
    assert idx.add(keys[0], T0) is True


def test_expiry_keeps_the_hour_holding_the_horizon_start() -> None:
    idx = DedupeIndex(3600)
    k = dedupe_key("SBIN", "x")
    idx.add(k, T0)  # first millisecond of the hour
    assert idx.expire(T0 + HOUR_MS + HOUR_MS - 1) == 0  # horizon starts at T0 + 1 h - 1 ms: same hour as k
    assert k in idx
    assert idx.expire(T0 + 2 * HOUR_MS) == 1
    assert k not in idx and len(idx) == 0


def test_horizon_in_milliseconds() -> None:
    assert DedupeIndex(48 * 3600.0).horizon_ms == 48 * HOUR_MS
