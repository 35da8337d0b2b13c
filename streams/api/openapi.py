"""The API's OpenAPI 3 description, built from the running worker's own settings and registries.

The allowed windows, district codes and bank codes are the worker's (``DIGINDEX_WINDOWS``, the
district and bank registries), so the description is exact for the deployment that serves it.
``tests/api/`` runs schemathesis against a live worker's copy and checks every response with it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .. import __version__
from ..enablement.state import MODES, TYPES
from ..enrolment.state import SCHEMES
from ..grievances.state import ANOMALIES
from ..payments.rolling import STATUSES
from .params import DEFAULT_LIMIT, MAX_LIMIT, ORDERS

__all__ = ["openapi"]

_JSON = "application/json"
_PROBLEM = "application/problem+json"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _share(text: str) -> dict[str, Any]:
    return {"type": "number", "minimum": 0, "maximum": 1, "nullable": True, "description": text}


def _count(text: str) -> dict[str, Any]:
    return {"type": "integer", "minimum": 0, "description": text}


def _obj(required: list[str], properties: dict[str, Any], closed: bool = True, **extra: Any) -> dict[str, Any]:
    return {"type": "object", "required": required, "properties": properties, "additionalProperties": not closed,
            **extra}


def _problem(text: str) -> dict[str, Any]:
    return {"description": text, "content": {_PROBLEM: {"schema": _ref("Problem")}}}


def _ok(text: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": text, "content": {_JSON: {"schema": schema}}}


def _grievance_schemas(windows: list[str]) -> dict[str, Any]:
    """``figures.grievances`` of a district (``streams.grievances.view``) and its parts."""
    tats = {"within": "within the RBI turn-around time (open: judged on today's date in India)",
            "past": "past it", "none": "of a case without one (OTHER)"}

    def by_tat(what: str) -> dict[str, Any]:
        return _obj(list(tats), {t: _count(f"{what} {text}") for t, text in tats.items()})

    parts = {
        "open": by_tat("open grievances"), "resolved": by_tat("resolved grievances"),
        "compensation_owed_rupees": _count("Rs 100 per day past the turn-around time, open and resolved together"),
        "anomalies": _obj(list(ANOMALIES), {a: _count("events accepted but not matching the grievance's life")
                                            for a in ANOMALIES}),
    }
    ratio = "of the grievances with a turn-around time resolved in the window (null: none)"
    return {
        "GrievanceBankFigures": _obj(list(parts), parts),
        "GrievanceWindowFigures": _obj(["resolved", "resolved_within_tat_ratio", "resolved_within_days_ratio"], {
            "resolved": _count("grievances with a turn-around time resolved in the window"),
            "resolved_within_tat_ratio": _share(f"resolved within the turn-around time, {ratio}"),
            "resolved_within_days_ratio": _share(f"resolved at most `days` days after the transaction date, {ratio}"),
        }),
        "GrievanceFigures": _obj([*parts, "banks", "windows", "days", "today", "last_event_ms"], {
            **parts,
            "banks": {"type": "object", "description": "bank code -> its figures in the district",
                      "additionalProperties": _ref("GrievanceBankFigures")},
            "windows": _obj(windows, {w: _ref("GrievanceWindowFigures") for w in windows}),
            "days": _count("the day count of resolved_within_days_ratio (DIGINDEX_GRIEVANCE_DAYS)"),
            "today": _count("the date in India open grievances are judged on (days since 1970-01-01)"),
            "last_event_ms": _count("event time of the district's latest grievance event (Unix ms; 0: none)"),
        }, description="the district's grievances against the RBI's turn-around times, sums over its banks"),
    }


def _enablement_schemas() -> dict[str, Any]:
    """``figures.enablement`` of a district (``streams.enablement.view``) and its parts."""
    by_type = _obj(["accounts", "enabled", "enablement_ratio", "modes"], {
        "accounts": _count("accounts of the type known to the enablement feed"),
        "enabled": _count("of them, enabled: a savings account by DEBIT_CARD, INTERNET_BANKING, MOBILE_BANKING, UPI "
                          "or AEPS; a current account by one of those, POS or QR"),
        "enablement_ratio": _share("enabled / accounts (RBI's 100 % digitally enabled district; null: no account)"),
        "modes": _obj(list(MODES), {m: _count("accounts whose latest set of modes has it") for m in MODES}),
    })
    return {
        "EnablementTypeFigures": by_type,
        "EnablementFigures": _obj(["by_account_type", "camp_enablements", "last_event_ms"], {
            "by_account_type": _obj(list(TYPES), {t: _ref("EnablementTypeFigures") for t in TYPES}),
            "camp_enablements": _count("times an account counted in the district became enabled (from not enabled "
                                       "or not known) through an event carrying a camp_ref"),
            "last_event_ms": _count("event time of the district's latest enablement event (Unix ms; 0: none)"),
        }, description="the district's digital enablement by account type (zeros: no account known)"),
    }


def _scheme_schemas() -> dict[str, Any]:
    """``figures.schemes`` of a district (``streams.enrolment.view``) and its parts."""
    by_scheme = _obj(["enrolled", "eligible", "covered", "coverage_ratio", "unmatched"], {
        "enrolled": _count("accounts whose latest status in the scheme is ENROLLED, whatever their type or band"),
        "eligible": _count("the coverage denominator: accounts the enablement feed knows as SAVINGS whose age band "
                           "(latest reported by either feed) is in the scheme's range, enrolled or not"),
        "covered": _count("eligible accounts enrolled (the coverage numerator)"),
        "coverage_ratio": _share("covered / eligible (null: no eligible account)"),
        "unmatched": _count("enrolled accounts the enablement feed does not know as savings accounts (outside the "
                            "ratio)"),
    })
    return {
        "SchemeFigures": by_scheme,
        "SchemesFigures": _obj(["by_scheme", "age_unknown", "last_event_ms"], {
            "by_scheme": _obj(list(SCHEMES), {s: _ref("SchemeFigures") for s in SCHEMES}),
            "age_unknown": _count("savings accounts of the enrolment feed with no age band reported (outside every "
                                  "scheme's ratio)"),
            "last_event_ms": _count("event time of the district's latest enrolment event (Unix ms; 0: none)"),
        }, description="the district's social-security enrolment and coverage by scheme (zeros: no enrolment)"),
    }


def openapi(windows: list[str], districts: Iterable[int], banks: Iterable[str]) -> dict[str, Any]:
    """The description for these windows (shortest first), district codes and bank codes."""
    lgds = sorted(districts)
    lgd = {"name": "lgd", "in": "path", "required": True, "example": lgds[0] if lgds else 45,
           "description": "the district's Local Government Directory code",
           "schema": {"type": "integer", "enum": lgds}}
    unavailable = _problem("the worker owning the district's partition cannot answer now (rebalancing, restoring, "
                           "unreachable); retry after the Retry-After header's seconds")
    by_status = _obj(list(STATUSES), {st: _obj(["non_digital", "digital"], {
        "non_digital": _count("payments by a non-digital channel"), "digital": _count("payments by a digital channel"),
    }) for st in STATUSES}, description="status -> mode -> payments")
    purpose = _obj(["transactions", "digital_share"], {
        "transactions": _count("successful payments of the purpose"),
        "digital_share": _share("digital / all successful payments of the purpose"),
        "qr_share": _share("BILL_* only: paid by UPI_QR / all successful payments of the purpose"),
    })
    department = _obj(["transactions", "digital_share"], {
        "transactions": _count("successful payments carrying the department code"),
        "digital_share": _share("digital / all of them"),
    })
    bank = _obj(["transactions", "digital_attempts", "technical_decline_ratio", "business_decline_ratio"], {
        "transactions": _ref("ByStatus"), "digital_attempts": _count("digital payments attempted"),
        "technical_decline_ratio": _share("technical declines / digital attempts (NPCI's TD)"),
        "business_decline_ratio": _share("business declines / digital attempts (NPCI's BD)"),
        "branches_with_payments": _count("branches with successful payments in the window"),
        "branches_reporting": _count("of them, branches with at least branch_min_transactions successful payments"),
        "branches_below_target": _count("of those, branches whose digital share is below the district's target"),
    })
    window_figures = _obj(["transactions", "digital_share", "digital_value_share", "technical_decline_ratio"], {
        "transactions": _ref("ByStatus"),
        "digital_share": _share("successful digital / all successful payments (null: none successful)"),
        "digital_value_share": _share("value of successful digital / all successful payments"),
        "technical_decline_ratio": _share("technical declines / all digital attempts"),
        "purposes": {"type": "object", "additionalProperties": _ref("PurposeFigures")},
        "departments": {"type": "object", "additionalProperties": _ref("DepartmentFigures")},
        "banks": {"type": "object", "additionalProperties": _ref("BankFigures")},
    }, closed=False)
    figures = _obj(["windows"], {
        "district_lgd": {"type": "integer"}, "district": {"type": "string"},
        "target": {"type": "number", "minimum": 0, "maximum": 1},
        "branch_min_transactions": _count("a branch is judged against the target from this many payments on"),
        "last_event_ms": _count("event time of the latest accepted payment (Unix ms; 0: none)"),
        "payments_total": {"type": "object", "description": "channel -> status -> accepted payments (late included)",
                           "additionalProperties": {"type": "object", "additionalProperties": {"type": "integer"}}},
        "amount_rupees": _obj(["non_digital", "digital"], {"non_digital": {"type": "number", "minimum": 0},
                                                           "digital": {"type": "number", "minimum": 0}}),
        "windows": _obj(windows, {w: _ref("WindowFigures") for w in windows}, closed=False),
        "grievances": _ref("GrievanceFigures"),
        "enablement": _ref("EnablementFigures"),
        "schemes": _ref("SchemesFigures"),
    }, closed=False, description="every figure the worker keeps for the district (streams/payments/state.py, "
       "grievances: streams/grievances/view.py, enablement: streams/enablement/view.py, schemes: "
       "streams/enrolment/view.py)")
    figures["required"] += ["grievances", "enablement", "schemes"]
    district = _obj(["district_lgd", "district", "state", "target", "partition", "figures"], {
        "district_lgd": {"type": "integer"}, "district": {"type": "string"}, "state": {"type": "string"},
        "target": {"type": "number", "minimum": 0, "maximum": 1, "description": "configured digital-share target"},
        "partition": {"type": "integer", "minimum": 0, "description": "the payments partition holding it"},
        "figures": _ref("DistrictFigures"),
    })
    branch = _obj(["branch_ifsc", "bank", "transactions", "digital_share", "digital_value_share"], {
        "branch_ifsc": {"type": "string", "pattern": "^[A-Z]{4}0[A-Z0-9]{6}$"},
        "bank": {"type": "string", "pattern": "^[A-Z]{4}$"},
        "transactions": _count("successful payments at the branch in the window"),
        "digital_share": _share("successful digital / all successful payments at the branch"),
        "digital_value_share": _share("the same by value"),
    })
    branches = _obj(["district_lgd", "district", "window", "bank", "order", "limit", "total", "branches"], {
        "district_lgd": {"type": "integer"}, "district": {"type": "string"},
        "window": {"type": "string", "enum": windows}, "bank": {"type": "string", "nullable": True},
        "order": {"type": "string", "enum": list(ORDERS)},
        "limit": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT},
        "total": _count("branches matching before the limit"),
        "branches": {"type": "array", "items": _ref("Branch"), "maxItems": MAX_LIMIT},
    })
    listing = _obj(["complete", "missing_partitions", "unreachable", "districts"], {
        "complete": {"type": "boolean", "description": "every payments partition answered for"},
        "missing_partitions": {"type": "array", "items": {"type": "integer", "minimum": 0}},
        "unreachable": {"type": "array", "items": _obj(["url", "partitions", "detail"], {
            "url": {"type": "string"}, "partitions": {"type": "array", "items": {"type": "integer"}},
            "detail": {"type": "string"}})},
        "districts": {"type": "array", "items": _ref("District")},
    })
    local = _obj(["worker", "url", "partitions", "districts"], {
        "worker": {"type": "string"}, "url": {"type": "string"},
        "partitions": {"type": "array", "items": {"type": "integer", "minimum": 0}},
        "districts": {"type": "array", "items": _ref("District")},
    })
    problem = _obj(["type", "title", "status", "detail"], {
        "type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"},
        "detail": {"type": "string", "description": "what is wrong"},
        "parameter": {"type": "string", "description": "the parameter at fault"},
    }, description="RFC 9457 problem details")
    return {
        "openapi": "3.0.3",
        "info": {"title": "digindex query API", "version": __version__,
                 "description": "District digitization figures from the workers' live state. Any worker answers "
                                "any request (it forwards to the district's owner)."},
        "paths": {
            "/api/v1/districts": {"get": {
                "operationId": "listDistricts", "summary": "every district with payments, from every worker",
                "parameters": [
                    {"name": "scope", "in": "query", "required": False,
                     "description": "all (default): gathered from every worker; local: this worker's own only",
                     "schema": {"type": "string", "enum": ["all", "local"], "default": "all"}},
                    {"name": "allow_partial", "in": "query", "required": False,
                     "description": "false: a 503 instead of an answer missing some partitions",
                     "schema": {"type": "boolean", "default": True}},
                ],
                "responses": {"200": _ok("the districts (scope=all: DistrictList; scope=local: LocalDistricts)",
                                         {"oneOf": [_ref("DistrictList"), _ref("LocalDistricts")]}),
                              "400": _problem("a bad parameter"), "503": unavailable},
            }},
            "/api/v1/districts/{lgd}": {"get": {
                "operationId": "getDistrict", "summary": "one district's figures",
                "parameters": [lgd],
                "responses": {"200": _ok("the district", _ref("District")), "400": _problem("a bad parameter"),
                              "404": _problem("unknown district, or no payment of it accepted yet"),
                              "503": unavailable},
            }},
            "/api/v1/districts/{lgd}/branches": {"get": {
                "operationId": "getDistrictBranches", "summary": "the district's branches ranked by digital share",
                "parameters": [
                    lgd,
                    {"name": "window", "in": "query", "required": False,
                     "schema": {"type": "string", "enum": windows, "default": windows[-1]}},
                    {"name": "bank", "in": "query", "required": False, "description": "only this bank's branches",
                     "schema": {"type": "string", "enum": sorted(banks)}},
                    {"name": "order", "in": "query", "required": False,
                     "description": "worst: lowest digital share first; best: highest first; ties: more "
                                    "transactions first, then IFSC; branches with no successful payment last",
                     "schema": {"type": "string", "enum": list(ORDERS), "default": "worst"}},
                    {"name": "limit", "in": "query", "required": False,
                     "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT}},
                ],
                "responses": {"200": _ok("the ranked branches", _ref("BranchList")),
                              "400": _problem("a bad parameter"),
                              "404": _problem("unknown district, or no payment of it accepted yet"),
                              "503": unavailable},
            }},
            "/api/v1/openapi.json": {"get": {
                "operationId": "getOpenApi", "summary": "this description",
                "responses": {"200": {"description": "OpenAPI 3", "content": {_JSON: {"schema": {"type": "object"}}}}},
            }},
        },
        "components": {"schemas": {
            "ByStatus": by_status, "PurposeFigures": purpose, "DepartmentFigures": department, "BankFigures": bank,
            "WindowFigures": window_figures, "DistrictFigures": figures, "District": district, "Branch": branch,
            "BranchList": branches, "DistrictList": listing, "LocalDistricts": local, "Problem": problem,
            **_grievance_schemas(windows), **_enablement_schemas(), **_scheme_schemas(),
        }},
    }
