"""``GridRing.row``: the same cells key by key (few keys) as through numpy (many)."""

from __future__ import annotations

import random

import pytest

from streams.payments.grid import _FEW_KEYS, GridRing


@pytest.mark.parametrize("keys", [3, _FEW_KEYS, _FEW_KEYS + 1, 300])
def test_row_is_every_counted_key_of_the_bucket(keys: int) -> None:
    rng = random.Random(keys)
    grid = GridRing((3600.0,), 60, 3, "q", chunk=8)
    for _ in range(5 * keys):
        grid.add(1000 + rng.randrange(60), f"k{rng.randrange(keys)}", rng.randrange(3), rng.randrange(1, 9))
    for bucket in range(995, 1061):
        want = {k: grid.cell(bucket, k) for k in grid.keys}
        want = {k: v for k, v in want.items() if v and any(v)}
        got = grid.row(bucket)
        if bucket <= grid.head - grid.span or bucket > grid.head:
            assert got is None
        else:
            assert got == want
