"""The compiled writer (``streams.avro_writer``) writes fastavro's bytes, and raises where fastavro raises."""

from __future__ import annotations

import io
from typing import Any

import fastavro
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streams.avro_codec import _plain, load_schema, schema_files
from streams.avro_writer import compile_writer
from tests.fuzz.strategies import records

FLAT = [p.stem for p in schema_files() if compile_writer(_plain(load_schema(p.stem))) is not None]
INT32 = (-(2**31), 2**31 - 1)


def fastavro_bytes(name: str, record: dict[str, Any]) -> bytes:
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, fastavro.parse_schema(_plain(load_schema(name))), record)
    return buf.getvalue()


def ours(name: str, record: dict[str, Any]) -> bytes:
    write = compile_writer(_plain(load_schema(name)))
    assert write is not None
    out = bytearray()
    write(record, out)
    return bytes(out)


def test_the_events_schemas_compile() -> None:
    assert {"PaymentEvent", "SeedingEvent", "GrievanceEvent", "SchemeEnrolmentEvent"} <= set(FLAT)
    assert "AccountEnablementEvent" not in FLAT


def int_fields(name: str) -> list[str]:
    return [f["name"] for f in load_schema(name)["fields"]
            if f["type"] == "int" or (isinstance(f["type"], dict) and f["type"]["type"] == "int")]


@pytest.mark.parametrize("name", FLAT)
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_same_bytes_as_fastavro(name: str, data: st.DataObject) -> None:
    record = data.draw(records(name))
    assert ours(name, record) == fastavro_bytes(name, record)


WRONG = st.one_of(st.none(), st.booleans(), st.floats(), st.integers(-(2**70), 2**70), st.text(max_size=5),
                  st.binary(max_size=5), st.lists(st.integers(), max_size=2))


@pytest.mark.parametrize("name", ["PaymentEvent", "GrievanceEvent", "SchemeEnrolmentEvent"])
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_a_wrong_value_raises_as_fastavro_does(name: str, data: st.DataObject) -> None:
    """One field replaced (or dropped): both write the same bytes, or both raise (ours also where an
    int field is outside 32 bits, which fastavro writes as a long no reader takes)."""
    record = dict(data.draw(records(name)))
    field = data.draw(st.sampled_from(sorted(record)))
    if data.draw(st.booleans()):
        del record[field]
    else:
        record[field] = data.draw(WRONG)
    try:
        theirs: bytes | None = fastavro_bytes(name, record)
    except (TypeError, ValueError, OverflowError):
        theirs = None
    try:
        mine: bytes | None = ours(name, record)
    except (TypeError, ValueError, OverflowError):
        mine = None
    value = record.get(field)
    if mine is None and theirs is not None:  # only ours refuses: an int field past 32 bits
        assert field in int_fields(name) and isinstance(value, (int, float)) and not INT32[0] <= value <= INT32[1]
        return
    assert mine == theirs


@pytest.mark.parametrize(("value", "error"), [(2**31, OverflowError), (-(2**31) - 1, OverflowError),
                                              ("45", TypeError), (None, TypeError)])
def test_int_field_refusals(value: Any, error: type[Exception]) -> None:
    record = {"event_id": "e", "occurred_at": 1, "district_lgd": value, "bank_code": "SBIN", "status": "SEEDED",
              "account_ref": "a"}
    with pytest.raises(error):
        ours("SeedingEvent", record)
