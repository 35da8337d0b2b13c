"""The router's refusals: every way the owner cannot answer is a 503 with Retry-After, quickly.

Real sockets on loopback (a closed port, a server that accepts and never answers), no mocks.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import pytest

from streams.api.params import ApiError
from streams.api.routing import Router
from streams.broker import free_port


def _refusal(owners: dict[str, frozenset[int]], forwarded_by: str | None = None, timeout: float = 5.0,
             before: Callable[[], Awaitable[Any]] | None = None) -> ApiError:
    async def go() -> ApiError:
        server = await before() if before else None
        async with aiohttp.ClientSession() as session:
            router = Router(lambda: owners, "http://127.0.0.1:1/", "me", lambda: session, timeout)
            try:
                await router.forward("/api/v1/districts/45", "GET", forwarded_by, 2)
            except ApiError as exc:
                return exc
            finally:
                if server is not None:
                    server.close()
        raise AssertionError("forwarded")
    err = asyncio.run(go())
    assert err.status == 503 and err.headers == {"Retry-After": "1"}
    return err


def test_no_owner_self_owner_and_a_second_hop_are_refused() -> None:
    assert "no worker owns partition 2" in _refusal({"http://127.0.0.1:9/": frozenset({0, 1})}).detail
    assert "being restored on this worker" in _refusal({"http://127.0.0.1:1": frozenset({2})}).detail
    assert "forwarded by peer-1" in _refusal({"http://127.0.0.1:9": frozenset({2})}, forwarded_by="peer-1").detail


def test_an_owner_that_is_gone_or_silent_is_a_503_within_the_timeout() -> None:
    closed = free_port()
    assert "did not answer" in _refusal({f"http://127.0.0.1:{closed}": frozenset({2})}).detail
    port = free_port()

    async def silent() -> asyncio.AbstractServer:
        async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await asyncio.sleep(30)
        return await asyncio.start_server(hold, "127.0.0.1", port)

    started = time.monotonic()
    err = _refusal({f"http://127.0.0.1:{port}": frozenset({2})}, timeout=0.5, before=silent)
    assert "did not answer" in err.detail and time.monotonic() - started < 5


@pytest.mark.parametrize("partitions", [4, 8])
def test_gather_marks_a_gone_worker_and_keeps_the_others(partitions: int) -> None:
    closed = free_port()

    async def go() -> dict[str, Any]:
        async with aiohttp.ClientSession() as session:
            owners = {"http://127.0.0.1:1": frozenset({0, 1}), f"http://127.0.0.1:{closed}": frozenset({2, 3})}
            router = Router(lambda: owners, "http://127.0.0.1:1", "me", lambda: session, 2.0)
            async def local() -> dict[str, Any]:
                return {"partitions": [0, 1], "districts": [{"district_lgd": 45, "partition": 0}]}
            return await router.gather(local, partitions, "/api/v1/districts")
    body = asyncio.run(go())
    assert body["districts"] == [{"district_lgd": 45, "partition": 0}]
    assert body["missing_partitions"] == list(range(2, partitions)) and not body["complete"]
    assert [u["url"] for u in body["unreachable"]] == [f"http://127.0.0.1:{closed}"]
