"""Which worker owns a district, and asking it: one hop, never a loop, never a hang.

A district's payments live in the partition Kafka's default partitioner gives its key
(``streams.topics``); the consumer group's assignment says which worker owns that partition
and at what URL it serves (Faust's assignor spreads every member's advertised URL,
``DIGINDEX_ADVERTISED_URL``, to the whole group: ``app.router.external_topics_metadata()``,
the table Faust's own ``route_topic_req`` reads). A request this worker cannot answer is
forwarded once to that URL, marked with ``X-Digindex-Forwarded-By``; a forwarded request is
never forwarded again, so two workers holding different views of a rebalance cannot bounce it
between them: the one that does not own the partition answers 503 and the client retries.
(Faust's ``route_topic_req`` itself has no timeout and no loop guard, and a dead owner is a 500.)

``GET /api/v1/districts`` gathers every worker's own districts (``?scope=local``). Like a search
cluster's partial results, a worker that does not answer in time does not fail the whole
answer: the answer says ``"complete": false`` and names the partitions it lacks and the workers
that did not answer, and ``allow_partial=false`` turns that into a 503 for a client that needs
all or nothing.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import aiohttp

from ..topics import default_partition, district_key
from .params import ApiError

__all__ = ["FORWARDED_HEADER", "WORKER_HEADER", "Router", "merge_local_answers", "partition_of"]

FORWARDED_HEADER = "X-Digindex-Forwarded-By"
WORKER_HEADER = "X-Digindex-Worker"
#: A worker has this long to answer a forwarded request or a gather (it answers from memory).
PEER_TIMEOUT = 5.0
#: Partitions move within a session timeout or two: the client may retry soon.
RETRY_AFTER = {"Retry-After": "1"}

Owners = Mapping[str, frozenset[int]]
#: (status, content type, worker that answered, body)
Reply = tuple[int, str, str, bytes]


def partition_of(lgd: int, partitions: int) -> int:
    """The payments partition of a district (the producers' key and partitioner)."""
    return default_partition(district_key(lgd), list(range(partitions)))


def unavailable(detail: str) -> ApiError:
    return ApiError(503, "Owner not available", detail, headers=RETRY_AFTER)


class Router:
    """Owner lookup and peer requests. ``owners()``: advertised URL -> payments partitions, from the
    group's latest assignment; ``self_url``: this worker's; ``session()``: an aiohttp session."""

    def __init__(self, owners: Callable[[], Owners], self_url: str, worker_id: str,
                 session: Callable[[], aiohttp.ClientSession], timeout: float = PEER_TIMEOUT) -> None:
        self.owners, self.self_url, self.worker_id = owners, self_url.rstrip("/"), worker_id
        self.session, self.timeout = session, timeout

    def owner(self, partition: int) -> str | None:
        for url, parts in sorted(self.owners().items()):
            if partition in parts:
                return url.rstrip("/")
        return None

    async def forward(self, path_qs: str, method: str, forwarded_by: str | None, partition: int) -> Reply:
        """Ask the owner of ``partition`` for ``path_qs``."""
        if forwarded_by is not None:
            raise unavailable(f"partition {partition} is not owned here any more (forwarded by {forwarded_by}: "
                              "the assignment is moving); retry")
        url = self.owner(partition)
        if url is None:
            raise unavailable(f"no worker owns partition {partition} right now (the group is rebalancing)")
        if url == self.self_url:
            raise unavailable(f"partition {partition} is being restored on this worker")
        try:
            return await self._get(url + path_qs, method)
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise unavailable(f"the owner of partition {partition} ({url}) did not answer: "
                              f"{type(exc).__name__} {exc}".rstrip()) from None

    async def _get(self, url: str, method: str = "GET") -> Reply:
        timeout = aiohttp.ClientTimeout(total=self.timeout)
        async with self.session().request(method, url, headers={FORWARDED_HEADER: self.worker_id},
                                          timeout=timeout, allow_redirects=False) as r:
            return (r.status, r.headers.get("Content-Type", "application/json"), r.headers.get(WORKER_HEADER, ""),
                    await r.read())

    async def gather(self, local: Callable[[], Awaitable[dict[str, Any]]], partitions: int,
                     path: str) -> dict[str, Any]:
        """Every worker's ``?scope=local`` answer (this one's without a request), merged."""
        owners = dict(self.owners())

        async def ask(url: str) -> dict[str, Any] | str:
            if url.rstrip("/") == self.self_url:
                return await local()
            try:
                status, _, _, body = await self._get(url.rstrip("/") + path + "?scope=local")
            except (TimeoutError, aiohttp.ClientError, OSError) as exc:
                return f"{type(exc).__name__} {exc}".rstrip()
            if status != 200:
                return f"answered {status}"
            try:
                return dict(json.loads(body))
            except ValueError as exc:
                return f"answered something that is not JSON ({exc})"

        urls = sorted(u for u, parts in owners.items() if parts)  # a member without payments partitions has none
        answers: list[dict[str, Any] | str] = list(await asyncio.gather(*(ask(u) for u in urls)))
        return merge_local_answers(owners, dict(zip(urls, answers, strict=True)), partitions)


def merge_local_answers(owners: Owners, answers: Mapping[str, dict[str, Any] | str],
                        partitions: int) -> dict[str, Any]:
    """One list of districts from the workers' own answers. A district counts only from the
    worker the assignment gives its partition to and that says it owns it now (so a partition
    in hand-over is neither doubled nor taken from a stale owner); every partition no worker
    answered for is named in ``missing_partitions``, every worker that failed in ``unreachable``."""
    covered: set[int] = set()
    districts: dict[int, dict[str, Any]] = {}
    unreachable = []
    for url in sorted(owners):
        assigned = set(owners[url])
        answer = answers.get(url, "not asked")
        if isinstance(answer, str):
            if assigned:
                unreachable.append({"url": url, "partitions": sorted(assigned), "detail": answer})
            continue
        served = assigned & set(answer.get("partitions", [])) - covered
        covered |= served
        for d in answer.get("districts", []):
            if d.get("partition") in served:
                districts.setdefault(int(d["district_lgd"]), d)
    missing = sorted(set(range(partitions)) - covered)
    return {"complete": not missing, "missing_partitions": missing, "unreachable": unreachable,
            "districts": [districts[lgd] for lgd in sorted(districts)]}
