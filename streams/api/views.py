"""The API's pages on Faust's web server, and the error handling every one of them shares.

Each handler checks its parameters (``params``), then answers from a partition this worker
owns (``answers``) or has the owner answer (``routing``). Any ``ApiError`` becomes a problem
response; anything else is logged and becomes a 500 problem, never aiohttp's text page.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Any, NamedTuple

import faust

from ..banks import default_banks
from ..config import Settings
from ..enablement.state import EnablementPartitionState
from ..enablement.view import enablement_view
from ..enrolment.state import EnrolmentPartitionState
from ..enrolment.view import scheme_view
from ..grievances.state import GrievancePartitionState
from ..grievances.view import grievance_view
from ..payments.state import PaymentPartitionState
from ..runtime import Runtime
from .answers import district_body, dumps, no_payments, rank_branches
from .openapi import openapi
from .params import ApiError, branch_query, flag, lgd_param, only_params
from .routing import FORWARDED_HEADER, WORKER_HEADER, Router, partition_of

__all__ = ["API_PREFIX", "install_api"]

log = logging.getLogger(__name__)

API_PREFIX = "/api/v1"
Handler = Callable[..., Awaitable[Any]]


def _query(request: Any) -> dict[str, list[str]]:
    return {name: request.query.getall(name) for name in request.query}


class Beside(NamedTuple):
    """The states of one partition number of the signals served beside payments (None: not open here)."""

    grievances: GrievancePartitionState | None
    enablement: EnablementPartitionState | None
    enrolments: EnrolmentPartitionState | None

    def restoring(self) -> list[str]:
        """The signals whose partition is not open (yet) on this worker."""
        return [name for name, state in zip(self._fields, self, strict=True) if state is None]


class Api:
    """The handlers' shared state: the runtime, its settings and registries, and the router."""

    def __init__(self, rt: Runtime, router: Router) -> None:
        self.rt, self.settings, self.router = rt, rt.settings, router
        self.windows = [Settings.window_label(w) for w in rt.settings.windows]
        self.banks = default_banks().names
        self.lgds = {d.lgd for d in rt.registry}
        self.spec = dumps(openapi(self.windows, self.lgds, self.banks))

    def respond(self, web: Any, body: bytes, status: int = 200, content_type: str = "application/json",
                headers: dict[str, str] | None = None) -> Any:
        return web.bytes(body, content_type=content_type, status=status,
                         headers={WORKER_HEADER: self.rt.worker_id, "Cache-Control": "no-store", **(headers or {})})

    def guarded(self, fun: Handler) -> Handler:
        """``fun`` with its ``ApiError`` as a problem response and any other failure as a 500 one."""
        @functools.wraps(fun)
        async def handler(web: Any, request: Any, **match: str) -> Any:
            try:
                return await fun(web, request, **match)
            except ApiError as exc:
                return self.respond(web, dumps(exc.body()), exc.status, "application/problem+json", exc.headers)
            except Exception:
                log.exception("API request %s failed", request.rel_url)
                err = ApiError(500, "Internal error", "the worker failed to answer; see its log")
                return self.respond(web, dumps(err.body()), 500, "application/problem+json")
        return handler

    async def owned(self, web: Any, request: Any, lgd: int,
                    answer: Callable[[PaymentPartitionState, int], dict[str, Any]]) -> Any:
        """``answer`` from the district's partition if this worker owns it, else the owner's reply."""
        partition = partition_of(lgd, self.settings.topic_partitions)
        state = self.rt.state("payments", partition)
        if state is not None:
            return self.respond(web, dumps(answer(state, partition)))
        status, ctype, worker, body = await self.router.forward(str(request.rel_url), request.method,
                                                                request.headers.get(FORWARDED_HEADER), partition)
        headers = {WORKER_HEADER: worker, "Cache-Control": "no-store"}
        if status == 503:
            headers["Retry-After"] = "1"
        return web.bytes(body, content_type=ctype.split(";")[0], status=status, headers=headers)

    async def district(self, web: Any, request: Any, lgd: str) -> Any:
        only_params(_query(request), ())
        code = lgd_param(lgd, self.lgds)
        target = self.settings.target_for(code)
        return await self.owned(web, request, code, lambda state, p: self.with_beside(
            district_body(state, code, self.rt.registry, target, p), self.beside(p), p, code))

    def beside(self, partition: int) -> Beside:
        """This worker's states of partition ``partition`` of the signals served beside payments."""
        return Beside(self.rt.state("grievances", partition), self.rt.state("enablement", partition),
                      self.rt.state("enrolments", partition))

    def with_beside(self, body: dict[str, Any], states: Beside, partition: int, lgd: int) -> dict[str, Any]:
        """``body`` with the district's figures of the other signals: ``figures.grievances``,
        ``figures.enablement`` and ``figures.schemes``. Their partitions of the same number are this
        worker's too (the signals are co-partitioned); one not restored yet is a 503, as a payments
        partition still restoring is."""
        grievances, enablement, enrolments = states
        if grievances is None or enablement is None or enrolments is None:
            raise ApiError(503, "Restoring", f"partition {partition} of {', '.join(states.restoring())}: still being "
                           "restored", headers={"Retry-After": "1"})
        windows = list(zip(self.settings.windows, self.windows, strict=True))
        body["figures"]["grievances"] = grievance_view(grievances, lgd, windows)
        body["figures"]["enablement"] = enablement_view(enablement, lgd)
        body["figures"]["schemes"] = scheme_view(enrolments, lgd)
        return body

    async def branches(self, web: Any, request: Any, lgd: str) -> Any:
        params = only_params(_query(request), ("window", "bank", "order", "limit"))
        code = lgd_param(lgd, self.lgds)
        query = branch_query(params, self.windows, self.banks)

        def answer(state: PaymentPartitionState, partition: int) -> dict[str, Any]:
            name = self.rt.registry.get(code).name
            if code not in state.districts:
                raise no_payments(code, name)
            total, rows = rank_branches(state.branch_view(code, query.window, query.bank), query)
            return {"district_lgd": code, "district": name, "window": query.window, "bank": query.bank,
                    "order": query.order, "limit": query.limit, "total": total, "branches": rows}
        return await self.owned(web, request, code, answer)

    async def local_districts(self) -> dict[str, Any]:
        """This worker's own districts, with the partitions it answers for. A district's figures take
        ~3 ms to build (its branch summaries included) on the loop the partitions are processed on, so
        the loop gets a turn between districts: hundreds of them never hold it for seconds at once. A
        partition revoked meanwhile is left out whole (the gathering then takes it from its new owner
        or names it missing)."""
        out: list[dict[str, Any]] = []
        served = []
        for p, state in sorted(self.rt.payments.items()):
            part = []
            beside = self.beside(p)
            if beside.restoring():
                continue  # another signal's partition still restoring: not served (the gathering names it missing)
            for lgd in sorted(state.districts):
                part.append(self.with_beside(
                    district_body(state, lgd, self.rt.registry, self.settings.target_for(lgd), p), beside, p, lgd))
                await asyncio.sleep(0)
            still = self.rt.state("payments", p) is state
            if still and all(a is b for a, b in zip(self.beside(p), beside, strict=True)):
                served.append(p)
                out.extend(part)
        return {"worker": self.rt.worker_id, "url": self.router.self_url, "partitions": served, "districts": out}

    async def districts(self, web: Any, request: Any) -> Any:
        params = only_params(_query(request), ("scope", "allow_partial"))
        scope = params.get("scope", "all")
        if scope not in ("all", "local"):
            raise ApiError(400, "Bad parameter", f"scope must be all or local, not {scope!r}", "scope")
        allow_partial = flag(params, "allow_partial", True)
        if scope == "local":
            return self.respond(web, dumps(await self.local_districts()))
        body = await self.router.gather(self.local_districts, self.settings.topic_partitions,
                                        f"{API_PREFIX}/districts")
        if not body["complete"] and not allow_partial:
            raise ApiError(503, "Partial answer refused",
                           f"partitions {body['missing_partitions']} did not answer (allow_partial=false)",
                           headers={"Retry-After": "1"})
        return self.respond(web, dumps(body))

    async def openapi(self, web: Any, request: Any) -> Any:
        return self.respond(web, self.spec)

    async def not_found(self, web: Any, request: Any, rest: str) -> Any:
        raise ApiError(404, "Not found", f"no API endpoint at {request.path} (see {API_PREFIX}/openapi.json)")


def faust_router(app: faust.App, rt: Runtime) -> Router:
    """A router on Faust's group assignment (every member's advertised URL) and HTTP client."""
    topic = rt.settings.payments_topic

    def owners() -> dict[str, frozenset[int]]:
        meta = app.router.external_topics_metadata()  # the assignor's: every member's URL -> its partitions
        return {url: frozenset(tps.get(topic, ())) for url, tps in meta.items()}

    return Router(owners, str(app.conf.canonical_url), rt.worker_id, lambda: app.http_client)  # type: ignore[arg-type]


def install_api(app: faust.App, rt: Runtime, router: Router | None = None) -> Api:
    """Mount the API's pages on ``app``'s web server (after Faust's own views were switched off)."""
    api = Api(rt, router or faust_router(app, rt))
    pages: list[tuple[str, Handler]] = [
        (f"{API_PREFIX}/openapi.json", api.openapi),
        (f"{API_PREFIX}/districts", api.districts),
        (f"{API_PREFIX}/districts/{{lgd}}", api.district),
        (f"{API_PREFIX}/districts/{{lgd}}/branches", api.branches),
        ("/api/{rest:.*}", api.not_found),  # last: aiohttp tries routes in order
    ]
    for path, fun in pages:
        guarded = api.guarded(fun)
        guarded.__name__ = f"api_{fun.__name__}"
        app.page(path, name=guarded.__name__)(guarded)
    return api
