"""The query API's pure parts: parameter checks, ranking, and merging the workers' answers."""

from __future__ import annotations

import pytest

from streams.api.answers import dumps, rank_branches
from streams.api.params import ApiError, BranchQuery, branch_query, flag, lgd_param, only_params
from streams.api.routing import merge_local_answers, partition_of
from streams.topics import default_partition, district_key

WINDOWS = ["1h", "24h"]
BANKS = {"SBIN", "PUNB"}


def test_branch_query_defaults_and_values() -> None:
    assert branch_query({}, WINDOWS, BANKS) == BranchQuery("24h", None, "worst", 20)
    assert branch_query({"window": "1h", "bank": "SBIN", "order": "best", "limit": "1000"}, WINDOWS, BANKS) == \
        BranchQuery("1h", "SBIN", "best", 1000)


@pytest.mark.parametrize(("params", "parameter"), [
    ({"window": "2h"}, "window"), ({"window": ""}, "window"), ({"bank": "sbin"}, "bank"),
    ({"bank": "ZZZZ"}, "bank"), ({"bank": "SBIN0001"}, "bank"), ({"order": "WORST"}, "order"),
    ({"limit": "0"}, "limit"), ({"limit": "1001"}, "limit"), ({"limit": "-1"}, "limit"), ({"limit": "1.5"}, "limit"),
    ({"limit": ""}, "limit"), ({"limit": "\uff11"}, "limit"),  # a fullwidth digit
])
def test_bad_branch_parameters_are_400_naming_the_parameter(params: dict[str, str], parameter: str) -> None:
    with pytest.raises(ApiError) as e:
        branch_query(params, WINDOWS, BANKS)
    assert (e.value.status, e.value.parameter) == (400, parameter)
    assert e.value.body()["detail"]


def test_unknown_and_repeated_parameters_are_refused() -> None:
    assert only_params({"window": ["1h"]}, ("window",)) == {"window": "1h"}
    with pytest.raises(ApiError, match="unknown query parameter 'windw'"):
        only_params({"windw": ["1h"]}, ("window",))
    with pytest.raises(ApiError, match="2 times"):
        only_params({"window": ["1h", "24h"]}, ("window",))


def test_lgd() -> None:
    assert lgd_param("45", {45}) == 45
    with pytest.raises(ApiError) as e:
        lgd_param("46", {45})
    assert e.value.status == 404
    for text in ("x", "-45", "4 5", "", "٤٥", "1234567890"):
        with pytest.raises(ApiError) as e:
            lgd_param(text, {45})
        assert e.value.status == 400, text


def test_flag() -> None:
    assert flag({}, "allow_partial", True) is True
    assert flag({"allow_partial": "false"}, "allow_partial", True) is False
    with pytest.raises(ApiError):
        flag({"allow_partial": "no"}, "allow_partial", True)


def _row(ifsc: str, n: int, share: float | None) -> dict[str, object]:
    return {"branch_ifsc": ifsc, "bank": ifsc[:4], "transactions": n, "digital_share": share,
            "digital_value_share": share}


def test_ranking_is_total_and_deterministic() -> None:
    rows = [_row("SBIN0000003", 10, 0.5), _row("SBIN0000001", 10, 0.5), _row("SBIN0000002", 50, 0.5),
            _row("SBIN0000004", 5, 0.1), _row("SBIN0000005", 5, None), _row("SBIN0000006", 1, 0.9)]
    worst = [r["branch_ifsc"][-1] for r in rank_branches(rows, BranchQuery("1h", None, "worst", 20))[1]]
    best = [r["branch_ifsc"][-1] for r in rank_branches(rows, BranchQuery("1h", None, "best", 20))[1]]
    assert worst == list("421365")  # share up; same share: more transactions first, then IFSC; null last
    assert best == list("621345")
    assert rank_branches(list(reversed(rows)), BranchQuery("1h", None, "worst", 20))[1] == \
        rank_branches(rows, BranchQuery("1h", None, "worst", 20))[1]
    total, top = rank_branches(rows, BranchQuery("1h", None, "worst", 2))
    assert total == 6 and [r["branch_ifsc"] for r in top] == ["SBIN0000004", "SBIN0000002"]


def test_partition_of_is_the_producers_partitioner() -> None:
    for lgd in range(45, 58):
        assert partition_of(lgd, 8) == default_partition(district_key(lgd), list(range(8)))


def _district(lgd: int, partition: int) -> dict[str, object]:
    return {"district_lgd": lgd, "partition": partition}


def test_merge_takes_each_partition_from_its_assigned_owner_only() -> None:
    owners = {"http://a": frozenset({0, 1}), "http://b": frozenset({2, 3})}
    answers: dict[str, dict[str, object] | str] = {
        # a still serves partition 2 (stale) and has not restored 1 yet
        "http://a": {"partitions": [0, 2], "districts": [_district(45, 0), _district(46, 2)]},
        "http://b": {"partitions": [2, 3], "districts": [_district(47, 2), _district(48, 3)]},
    }
    body = merge_local_answers(owners, answers, 4)
    assert [d["district_lgd"] for d in body["districts"]] == [45, 47, 48]
    assert body["complete"] is False and body["missing_partitions"] == [1] and body["unreachable"] == []


def test_merge_names_the_unreachable_worker_and_its_partitions() -> None:
    owners = {"http://a": frozenset({0, 1}), "http://b": frozenset({2, 3})}
    body = merge_local_answers(owners, {"http://a": {"partitions": [0, 1], "districts": [_district(45, 1)]},
                                        "http://b": "ClientConnectorError refused"}, 4)
    assert body["missing_partitions"] == [2, 3] and not body["complete"]
    assert body["unreachable"] == [{"url": "http://b", "partitions": [2, 3], "detail": "ClientConnectorError refused"}]
    full = merge_local_answers(owners, {"http://a": {"partitions": [0, 1], "districts": []},
                                        "http://b": {"partitions": [2, 3], "districts": []}}, 4)
    assert full["complete"] and full["missing_partitions"] == []
    assert merge_local_answers({}, {}, 2)["missing_partitions"] == [0, 1]


def test_dumps_is_canonical_and_refuses_nan() -> None:
    assert dumps({"b": 1, "a": None}) == b'{"a":null,"b":1}'
    with pytest.raises(ValueError):
        dumps({"x": float("nan")})


def test_openapi_description_is_valid_openapi_3() -> None:
    from openapi_spec_validator import validate

    from streams.api.openapi import openapi

    spec = openapi(WINDOWS, {45, 46}, BANKS)
    validate(spec)
    params = {p["name"]: p for p in spec["paths"]["/api/v1/districts/{lgd}/branches"]["get"]["parameters"]}
    assert params["window"]["schema"]["enum"] == WINDOWS and params["window"]["schema"]["default"] == "24h"
    assert params["bank"]["schema"]["enum"] == sorted(BANKS) and params["lgd"]["schema"]["enum"] == [45, 46]
    figures = spec["components"]["schemas"]["DistrictFigures"]
    assert {"grievances", "enablement", "schemes"} <= set(figures["required"])
    assert figures["properties"]["schemes"] == {"$ref": "#/components/schemas/SchemesFigures"}
