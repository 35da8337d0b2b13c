"""Event-time rolling windows: incremental sums against a brute-force recomputation."""

from __future__ import annotations

import json
import random

import pytest

from streams.payments.rolling import STATUSES, VECTOR, RollingCounts, count, slot, value

WINDOWS = (3600.0, 86400.0)  # 60 and 1440 one-minute buckets


class Model:
    """The obvious definition: a window of W buckets holds the accepted events in (head - W, head]."""

    def __init__(self, windows: tuple[float, ...]) -> None:
        self.widths = [max(1, int(w // 60)) for w in windows]
        self.events: list[tuple[int, int, int]] = []
        self.head: int | None = None

    def add(self, bucket: int, idx: int, amount: int) -> bool:
        self.head = bucket if self.head is None else max(self.head, bucket)
        if bucket <= self.head - self.widths[-1]:
            return False
        self.events.append((bucket, idx, amount))
        return True

    def advance_to(self, head: int) -> None:
        self.head = head if self.head is None else max(self.head, head)

    def window(self, i: int) -> list[int]:
        vec = [0] * VECTOR
        assert self.head is not None
        for bucket, idx, amount in self.events:
            if bucket > self.head - self.widths[i]:
                vec[idx] += 1
                vec[idx + VECTOR // 2] += amount
        return vec


def random_run(seed: int, windows: tuple[float, ...], steps: int) -> tuple[RollingCounts, Model, random.Random]:
    """Drive a ``RollingCounts`` and the model with the same random events, checking after every step."""
    rng = random.Random(seed)
    rc, model = RollingCounts(windows), Model(windows)
    longest = model.widths[-1]
    head = 10_000
    for step in range(steps):
        r = rng.random()
        if r < 0.05:  # a jump far ahead: everything leaves every window
            head += rng.randrange(longest, 3 * longest)
            bucket = head
        elif r < 0.25:  # move ahead a little
            head += rng.randrange(1, max(2, longest // 3))
            bucket = head
        elif r < 0.35:  # late: at or beyond the longest window
            bucket = head - longest - rng.randrange(0, 5)
        else:  # out of order, inside the longest window
            bucket = head - rng.randrange(0, longest)
        if r > 0.97:
            target = head + rng.randrange(0, longest + 5)
            rc.advance_to(target)
            model.advance_to(target)
            head = target
            continue
        idx = slot(rng.choice(STATUSES), rng.random() < 0.7)
        amount = rng.randrange(0, 1_000_000)
        expected = model.add(bucket, idx, amount)
        assert rc.add(bucket, idx, amount) is expected, (seed, step, bucket)
        assert rc.head == model.head
        for i in range(len(windows)):
            assert rc.window(i) == model.window(i), (seed, step, i)
        assert all(b > rc.head - longest for b in rc.live()), "evicted buckets must be dropped"
    return rc, model, rng


@pytest.mark.parametrize("windows", [(120.0, 300.0, 600.0), (60.0, 3600.0), (90.0, 180.0)])
@pytest.mark.parametrize("seed", range(6))
def test_incremental_sums_equal_brute_force(seed: int, windows: tuple[float, ...]) -> None:
    random_run(seed, windows, 400)


def test_incremental_sums_equal_brute_force_on_hour_and_day() -> None:
    random_run(99, WINDOWS, 600)


def test_window_ends_at_newest_bucket() -> None:
    rc = RollingCounts(WINDOWS)
    ok = slot("SUCCESS", True)
    assert rc.add(1000, ok, 5)
    assert rc.add(1059, ok, 7)
    assert count(rc.window(0), "SUCCESS", True) == 2 and value(rc.window(0), "SUCCESS", True) == 12
    assert rc.add(1060, ok, 11)  # head moves: bucket 1000 leaves the hour, stays in the day
    assert rc.head == 1060
    assert count(rc.window(0), "SUCCESS", True) == 2 and value(rc.window(0), "SUCCESS", True) == 18
    assert count(rc.window(1), "SUCCESS", True) == 3 and value(rc.window(1), "SUCCESS", True) == 23


def test_out_of_order_within_window_counted_in_the_right_windows() -> None:
    rc = RollingCounts(WINDOWS)
    td = slot("TECHNICAL_DECLINE", True)
    rc.add(5000, td, 1)
    assert rc.add(5000 - 59, td, 2)  # inside both windows
    assert rc.add(5000 - 60, td, 4)  # outside the hour, inside the day
    assert rc.head == 5000, "an older event must not move the head"
    assert count(rc.window(0), "TECHNICAL_DECLINE", True) == 2
    assert value(rc.window(0), "TECHNICAL_DECLINE", True) == 3
    assert count(rc.window(1), "TECHNICAL_DECLINE", True) == 3
    assert value(rc.window(1), "TECHNICAL_DECLINE", True) == 7
    assert count(rc.window(1), "SUCCESS", True) == 0


def test_late_event_older_than_longest_window_is_refused() -> None:
    rc = RollingCounts(WINDOWS)
    ok = slot("SUCCESS", False)
    rc.add(5000, ok, 1)
    assert rc.add(5000 - 1440, ok, 100) is False
    assert 5000 - 1440 not in rc.live()
    assert rc.window(1) == rc.window(0) and count(rc.window(1), "SUCCESS", False) == 1
    assert rc.add(5000 - 1439, ok, 100) is True
    assert count(rc.window(1), "SUCCESS", False) == 2 and count(rc.window(0), "SUCCESS", False) == 1


def test_advance_to_evicts_and_ignores_older_heads() -> None:
    rc = RollingCounts(WINDOWS)
    ok = slot("SUCCESS", True)
    rc.add(100, ok, 3)
    rc.add(130, ok, 4)
    rc.advance_to(50)  # older: no-op
    assert rc.head == 130 and count(rc.window(0), "SUCCESS", True) == 2
    rc.advance_to(160)  # bucket 100 leaves the hour (window is (100, 160])
    assert count(rc.window(0), "SUCCESS", True) == 1 and value(rc.window(0), "SUCCESS", True) == 4
    assert count(rc.window(1), "SUCCESS", True) == 2
    rc.advance_to(130 + 1440)  # everything leaves the day too
    assert rc.window(0) == [0] * VECTOR and rc.window(1) == [0] * VECTOR
    assert rc.live() == {}


def test_advance_to_on_empty_sets_head() -> None:
    rc = RollingCounts(WINDOWS)
    rc.advance_to(42)
    assert rc.head == 42
    assert rc.add(42 - 1440, slot("SUCCESS", True), 1) is False


@pytest.mark.parametrize("seed", range(5))
def test_restore_equals_live(seed: int) -> None:
    rc, _, rng = random_run(seed, WINDOWS, 300)
    assert rc.head is not None
    assert all(b <= rc.head for b in rc.live()), "a live bucket is never newer than the head"
    saved = {b: list(v) for b, v in rc.live().items()}
    stale = {rc.head - 5000: [1] * VECTOR}  # older than the longest window: must be dropped
    restored = RollingCounts(WINDOWS)
    restored.restore({**saved, **stale})
    restored.advance_to(rc.head)  # a restore ends at its newest bucket; a live head may be ahead of it
    assert restored.head == rc.head
    assert restored.live() == rc.live()
    assert restored.sums == rc.sums
    # and it keeps working identically afterwards
    for _ in range(50):
        b = rc.head - rng.randrange(-3, 1500)
        idx, amount = slot(rng.choice(STATUSES), rng.random() < 0.5), rng.randrange(1000)
        assert restored.add(b, idx, amount) is rc.add(b, idx, amount)
    assert restored.sums == rc.sums and restored.live() == rc.live()


def test_restore_from_adds_only_needs_no_advance() -> None:
    rc = RollingCounts(WINDOWS)
    # buckets on every boundary of head 2000: 1940 just out of the hour, 1941 just in; 561 the day's oldest
    for b, st in ((561, "SUCCESS"), (1940, "BUSINESS_DECLINE"), (1941, "SUCCESS"), (2000, "TECHNICAL_DECLINE")):
        rc.add(b, slot(st, True), b)
    restored = RollingCounts(WINDOWS)
    restored.restore({b: list(v) for b, v in rc.live().items()})
    assert (restored.head, restored.live(), restored.sums) == (rc.head, rc.live(), rc.sums)
    assert count(restored.window(0), "TECHNICAL_DECLINE", True) == 1
    assert count(restored.window(0), "SUCCESS", True) == 1 and count(restored.window(1), "SUCCESS", True) == 2
    assert count(restored.window(0), "BUSINESS_DECLINE", True) == 0
    assert count(restored.window(1), "BUSINESS_DECLINE", True) == 1


@pytest.mark.parametrize("seed", range(10))
def test_restore_equals_live_small_windows(seed: int) -> None:
    windows = (120.0, 300.0, 600.0)
    rc, _, _ = random_run(seed, windows, 200)
    restored = RollingCounts(windows)
    restored.restore({b: list(v) for b, v in rc.live().items()})
    if rc.head is not None:
        restored.advance_to(rc.head)
    assert (restored.head, restored.live(), restored.sums) == (rc.head, rc.live(), rc.sums)


def test_restore_does_not_alias_the_saved_vectors() -> None:
    saved = {7: [0] * VECTOR}
    saved[7][slot("SUCCESS", True)] = 1
    rc = RollingCounts(WINDOWS)
    rc.restore(saved)
    rc.add(7, slot("SUCCESS", True), 0)
    assert saved[7][slot("SUCCESS", True)] == 1


def test_restore_empty() -> None:
    rc = RollingCounts(WINDOWS)
    rc.restore({})
    assert rc.head is None and rc.live() == {} and rc.window(1) == [0] * VECTOR


@pytest.mark.parametrize("seed", range(5))
def test_packed_ring_load_equals_live(seed: int) -> None:
    """``packed()`` + ``saved()`` is the whole window set: loaded, it reads and goes on as the original."""
    rc, _, rng = random_run(seed, WINDOWS, 300)
    loaded = RollingCounts(WINDOWS)
    assert loaded.load(rc.packed(), json.loads(json.dumps(rc.saved())))
    assert (loaded.head, loaded.live(), loaded.sums) == (rc.head, rc.live(), rc.sums)
    assert rc.head is not None
    for _ in range(100):
        b = rc.head - rng.randrange(-90, 1500)
        idx, amount = slot(rng.choice(STATUSES), rng.random() < 0.5), rng.randrange(1000)
        assert loaded.add(b, idx, amount) is rc.add(b, idx, amount)
    assert (loaded.head, loaded.live(), loaded.sums) == (rc.head, rc.live(), rc.sums)


def test_a_ring_of_another_longest_window_is_re_added() -> None:
    """A checkpoint written with other windows: what is live in the new ones is re-added, sums derived."""
    old = RollingCounts((60.0, 300.0))
    ok = slot("SUCCESS", True)
    for b in (95, 97, 99, 100):
        old.add(b, ok, b)
    new = RollingCounts((120.0, 180.0))
    assert new.load(old.packed(), old.saved()) is False
    assert new.head == 100 and sorted(new.live()) == [99, 100]
    assert count(new.window(0), "SUCCESS", True) == 2 and value(new.window(1), "SUCCESS", True) == 199


def test_move_to_and_set_bucket_rebuild_without_summing() -> None:
    """What a restore does with a delta: move the head (zeroing the rows that left), overwrite minutes."""
    rc = RollingCounts(WINDOWS)
    ok = slot("SUCCESS", True)
    rc.add(100, ok, 1)
    rc.add(200, ok, 2)
    later = RollingCounts(WINDOWS)
    later.load(rc.packed(), rc.saved())
    rc.add(100 + 1440, ok, 3)  # bucket 100 leaves the ring, its row is reused
    later.move_to(rc.head)
    later.set_bucket(100 + 1440, rc.bucket(100 + 1440))  # type: ignore[arg-type]
    later.set_bucket(100, [9] * VECTOR)  # not live any more: ignored
    assert later.live() == rc.live() == {200: rc.bucket(200), 1540: rc.bucket(1540)}
