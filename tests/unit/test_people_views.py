"""The query API's enablement and scheme figures (``streams.enablement.view``, ``streams.enrolment.view``):
from real partition states joined as the worker joins them, equal to the oracles' figures and valid
against the OpenAPI description's schemas; a district without events is zeros and null ratios; a
partition of theirs still restoring is a 503."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest
from openapi_schema_validator import OAS30Validator

from streams.api.openapi import openapi
from streams.api.params import ApiError
from streams.api.routing import Router
from streams.api.views import Api
from streams.config import Settings
from streams.enablement.state import EnablementPartitionState, stored_account_type
from streams.enablement.view import enablement_view
from streams.enrolment.join import StoredTypes
from streams.enrolment.state import EnrolmentPartitionState
from streams.enrolment.view import scheme_view
from streams.processor.kv import RocksKV
from streams.registry import DistrictRegistry
from streams.runtime import Runtime

from .factories import (
    ENABLEMENT_MODES,
    HOUR_MS,
    SCHEMES,
    SKEW_S,
    T0,
    enablement_event,
    enablement_oracle,
    enrolment_event,
    scheme_oracle,
)

NOW = T0 + 48 * HOUR_MS
DISTRICTS = (45, 46)
MODES = (*ENABLEMENT_MODES, "OTHER")
BANDS = (None, "18_40", "41_50", "51_70", "OTHER")


def schema_of(name: str) -> OAS30Validator:
    """A validator for one component of the live description (its references resolved in it)."""
    spec = openapi(["1h", "24h"], DISTRICTS, {"SBIN"})
    return OAS30Validator({**spec["components"]["schemas"][name], "components": spec["components"]})


def feeds(seed: int = 3) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Enablement (types and modes changing, camps) and enrolments (bands, exits) of 60 accounts."""
    rng = random.Random(seed)
    enable, enrol = [], []
    for i in range(60):
        lgd = DISTRICTS[i % 2]
        for j in range(rng.randrange(0, 4)):  # some accounts unknown to the enablement feed
            enable.append(enablement_event(f"n{i}-{j}", T0 + rng.randrange(HOUR_MS), lgd, "SBIN", f"A{i}",
                                           rng.choice(("SAVINGS", "SAVINGS", "CURRENT")),
                                           tuple(rng.sample(MODES, rng.randrange(3))),
                                           rng.choice((None, "CAMP-1"))))
        for j in range(rng.randrange(1, 4)):
            enrol.append(enrolment_event(f"e{i}-{j}", T0 + rng.randrange(HOUR_MS), f"A{i}", rng.choice(SCHEMES),
                                         rng.choice(("ENROLLED", "ENROLLED", "EXITED")), rng.choice(BANDS), lgd))
    return enable, enrol


def test_views_equal_the_oracles_and_the_description(registry: DistrictRegistry, tmp_path: Path) -> None:
    enable_kv = RocksKV(tmp_path / "enable")
    enabling = EnablementPartitionState(0, registry, SKEW_S, enable_kv)
    enrolling = EnrolmentPartitionState(0, registry, SKEW_S, RocksKV(tmp_path / "enrol"),
                                        StoredTypes(enable_kv, stored_account_type)).recount()
    enabling.on_type_change = enrolling.type_changed
    enable, enrol = feeds()
    events = [(enabling, e) for e in enable] + [(enrolling, e) for e in enrol]
    random.Random(4).shuffle(events)  # the two feeds interleaved: the join follows either order
    for offset, (state, e) in enumerate(events):
        state.check(e, NOW)
        state.apply(e, offset, NOW)
    want_e = enablement_oracle([e for state, e in events if state is enabling])  # in the order applied
    types = {}
    for e in sorted(enable, key=lambda e: (e["occurred_at"], e["event_id"])):
        types[e["account_ref"]] = e["account_type"]
    want_s = scheme_oracle(enrol, types)
    enablement_schema, schemes_schema = schema_of("EnablementFigures"), schema_of("SchemesFigures")
    for lgd in DISTRICTS:
        got = enablement_view(enabling, lgd)
        enablement_schema.validate(got)
        for t in ("SAVINGS", "CURRENT"):
            fig, key = got["by_account_type"][t], (str(lgd), t)
            assert fig["accounts"] == want_e["digindex_enablement_accounts"][key]
            assert fig["enablement_ratio"] == want_e["digindex_digital_enablement_ratio"][key]
            assert fig["enabled"] == round(fig["enablement_ratio"] * fig["accounts"])
            assert fig["modes"] == {m: want_e["digindex_enabled_accounts"][(*key, m)] for m in ENABLEMENT_MODES}
        assert got["camp_enablements"] == want_e["digindex_camp_enablements_total"][(str(lgd),)] > 0
        assert got["last_event_ms"] == max(e["occurred_at"] for e in enable if e["district_lgd"] == lgd)
        got = scheme_view(enrolling, lgd)
        schemes_schema.validate(got)
        for s in SCHEMES:
            fig = got["by_scheme"][s]
            counts = {name: want_s.get((lgd, name, s), 0) for name in ("enrolled", "eligible", "covered", "unmatched")}
            assert {k: fig[k] for k in counts} == counts, (lgd, s)
            assert fig["coverage_ratio"] == (counts["covered"] / counts["eligible"] if counts["eligible"] else None)
        assert got["age_unknown"] == want_s.get((lgd, "age_unknown", ""), 0)
    assert any(0 < f["coverage_ratio"] < 1 for f in got["by_scheme"].values() if f["coverage_ratio"] is not None)
    assert any(f["unmatched"] for f in got["by_scheme"].values()) and got["age_unknown"] > 0


def test_a_district_without_events_is_zeros_and_null_ratios(registry: DistrictRegistry, tmp_path: Path) -> None:
    kv = RocksKV(tmp_path / "enable")
    enabling = EnablementPartitionState(0, registry, SKEW_S, kv)
    enrolling = EnrolmentPartitionState(0, registry, SKEW_S, RocksKV(tmp_path / "enrol"),
                                        StoredTypes(kv, stored_account_type)).recount()
    got = enablement_view(enabling, 47)
    schema_of("EnablementFigures").validate(got)
    assert got == {"by_account_type": {t: {"accounts": 0, "enabled": 0, "enablement_ratio": None,
                                           "modes": dict.fromkeys(ENABLEMENT_MODES, 0)}
                                       for t in ("SAVINGS", "CURRENT")},
                   "camp_enablements": 0, "last_event_ms": 0}
    got = scheme_view(enrolling, 47)
    schema_of("SchemesFigures").validate(got)
    assert got == {"by_scheme": {s: {"enrolled": 0, "eligible": 0, "covered": 0, "coverage_ratio": None,
                                     "unmatched": 0} for s in SCHEMES}, "age_unknown": 0, "last_event_ms": 0}
    assert enrolling.counts == {} and enabling.counts == {}  # reading changed nothing


def test_a_partition_beside_payments_not_open_yet_is_a_503_naming_it() -> None:
    """A worker with no grievance, enablement or enrolment partition open (restoring) refuses to answer
    a district without them rather than serving zeros."""
    api = Api(Runtime(Settings()), Router(dict, "http://127.0.0.1:1", "w", lambda: None))  # type: ignore[arg-type]
    with pytest.raises(ApiError) as e:
        api.with_beside({"figures": {}}, api.beside(2), 2, 45)
    assert (e.value.status, e.value.headers) == (503, {"Retry-After": "1"})
    assert "partition 2 of grievances, enablement, enrolments" in e.value.body()["detail"]
