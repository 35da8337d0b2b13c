"""Offsets are committed in the background, coalesced, and a refused round is not fatal."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from streams.commits import BackgroundCommits


def test_commits_are_coalesced_and_never_awaited_by_the_checkpoint() -> None:
    rounds: list[dict[Any, int]] = []
    gate = asyncio.Event()

    async def commit(offsets: Mapping[Any, int]) -> bool:
        await gate.wait()  # a slow coordinator
        rounds.append(dict(offsets))
        return True

    async def test() -> None:
        commits = BackgroundCommits(commit, lambda topic, p: (topic, p))
        c = commits.committer("payments")
        for offset in (10, 20, 30):
            await asyncio.wait_for(c(0, offset), 0.1)  # returns at once, the commit waits
        await c(1, 5)
        await asyncio.sleep(0)
        gate.set()
        await asyncio.sleep(0.01)
        assert rounds[0] == {("payments", 0): 10}  # the round already under way
        assert rounds[1:] == [{("payments", 0): 30, ("payments", 1): 5}]  # the rest in one round, latest wins

    asyncio.run(test())


def test_a_refused_round_is_counted_and_the_next_goes_on() -> None:
    calls: list[dict[Any, int]] = []

    async def commit(offsets: Mapping[Any, int]) -> bool:
        calls.append(dict(offsets))
        if len(calls) == 1:
            raise RuntimeError("rebalance in progress")
        return True

    async def test() -> None:
        commits = BackgroundCommits(commit, lambda topic, p: (topic, p))
        commits.note("payments", 0, 1)
        await asyncio.sleep(0.01)
        commits.note("payments", 0, 2)
        await asyncio.sleep(0.01)
        assert commits.refused == 1 and commits.rounds == 1 and calls[-1] == {("payments", 0): 2}

    asyncio.run(test())
