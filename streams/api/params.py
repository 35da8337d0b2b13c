"""What a client may send, checked before anything is looked up: every refusal names the parameter.

Refusals are RFC 9457 problem details (``application/problem+json``): 400 for a parameter
that is malformed or not one of the allowed values, 404 for a district the registry does not
know (or one this deployment has no payments for yet), 503 when the owner cannot answer now.
Unknown and repeated query parameters are refused too: a misspelt ``windw=1h`` silently
falling back to the default would give the client figures it did not ask for.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["DEFAULT_LIMIT", "MAX_LIMIT", "ORDERS", "ApiError", "BranchQuery", "branch_query", "flag",
           "lgd_param", "only_params"]

ORDERS = ("worst", "best")
DEFAULT_LIMIT = 20
MAX_LIMIT = 1000
_DIGITS = re.compile(r"[0-9]{1,9}")
_BANK = re.compile(r"[A-Z]{4}")


class ApiError(Exception):
    """A refusal: HTTP status, a short title, what is wrong, and the parameter at fault."""

    def __init__(self, status: int, title: str, detail: str, parameter: str | None = None,
                 headers: Mapping[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status, self.title, self.detail, self.parameter = status, title, detail, parameter
        self.headers = dict(headers or {})

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "about:blank", "title": self.title, "status": self.status,
                               "detail": self.detail}
        if self.parameter is not None:
            out["parameter"] = self.parameter
        return out


def bad(parameter: str, detail: str) -> ApiError:
    return ApiError(400, "Bad parameter", detail, parameter)


@dataclass(frozen=True)
class BranchQuery:
    window: str
    bank: str | None
    order: str
    limit: int


def only_params(query: Mapping[str, Sequence[str]], allowed: Collection[str]) -> dict[str, str]:
    """Each allowed parameter's one value; an unknown or repeated parameter is a 400."""
    out: dict[str, str] = {}
    for name, values in query.items():
        if name not in allowed:
            known = ", ".join(sorted(allowed)) or "none"
            raise bad(name, f"unknown query parameter {name!r} (this endpoint takes: {known})")
        if len(values) != 1:
            raise bad(name, f"query parameter {name!r} given {len(values)} times; give it once")
        out[name] = values[0]
    return out


def lgd_param(text: str, known: Collection[int]) -> int:
    """The path's district code: digits (400 otherwise), in the registry (404 otherwise)."""
    if not _DIGITS.fullmatch(text):
        raise bad("lgd", f"district code must be a Local Government Directory code (digits), not {text!r}")
    lgd = int(text)
    if lgd not in known:
        raise ApiError(404, "Unknown district", f"no district with LGD code {lgd} in the registry", "lgd")
    return lgd


def flag(params: Mapping[str, str], name: str, default: bool) -> bool:
    """A ``true``/``false`` query parameter."""
    text = params.get(name)
    if text is None:
        return default
    if text not in ("true", "false"):
        raise bad(name, f"{name} must be true or false, not {text!r}")
    return text == "true"


def branch_query(params: Mapping[str, str], windows: Sequence[str], banks: Collection[str]) -> BranchQuery:
    """``window`` (a configured label; default the longest), ``bank`` (a registry code; default
    every bank), ``order`` (worst|best; default worst), ``limit`` (1..1000; default 20)."""
    window = params.get("window", windows[-1])
    if window not in windows:
        raise bad("window", f"window must be one of {', '.join(windows)}, not {window!r}")
    bank = params.get("bank")
    if bank is not None:
        if not _BANK.fullmatch(bank):
            raise bad("bank", f"bank must be a bank code of four capital letters (e.g. SBIN), not {bank!r}")
        if bank not in banks:
            raise bad("bank", f"no bank with code {bank!r} in the bank registry")
    order = params.get("order", "worst")
    if order not in ORDERS:
        raise bad("order", f"order must be worst or best, not {order!r}")
    text = params.get("limit")
    if text is None:
        limit = DEFAULT_LIMIT
    elif _DIGITS.fullmatch(text) and 1 <= int(text) <= MAX_LIMIT:
        limit = int(text)
    else:
        raise bad("limit", f"limit must be a whole number from 1 to {MAX_LIMIT}, not {text!r}")
    return BranchQuery(window, bank, order, limit)
