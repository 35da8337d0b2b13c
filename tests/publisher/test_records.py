"""Field coercion: what a bank may write, and what is refused with which field named."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from streams.avro_codec import codec_for, load_schema
from streams.errors import EventError, MalformedEvent
from streams.publisher.records import BankMismatch, RecordBuilder, parse_timestamp_ms
from streams.registry import default_registry
from streams.validation import check_event

from .data import T0, payment, seeding


@pytest.fixture(scope="module")
def payments() -> RecordBuilder:
    return RecordBuilder(load_schema("PaymentEvent"), "SBIN")


@pytest.fixture(scope="module")
def seedings() -> RecordBuilder:
    return RecordBuilder(load_schema("SeedingEvent"), "SBIN")


@pytest.mark.parametrize("text", [
    "2021-03-31T10:15:00+05:30", "2021-03-31T04:45:00Z", "2021-03-31T04:45:00+00:00",
    "2021-03-31 04:45:00.000+00:00", T0, str(T0),
])
def test_occurred_at_accepts_iso_with_offset_and_epoch_ms(text: Any) -> None:
    assert parse_timestamp_ms(text) == T0


def test_occurred_at_keeps_milliseconds() -> None:
    assert parse_timestamp_ms("2021-03-31T04:45:00.123456Z") == T0 + 123


@pytest.mark.parametrize("bad", ["2021-03-31T10:15:00", "31/03/2021", "", 1.5e12, None, True])
def test_occurred_at_refuses_naive_or_malformed(bad: Any) -> None:
    with pytest.raises(MalformedEvent) as e:
        parse_timestamp_ms(bad)
    assert e.value.field == "occurred_at"


def test_builds_a_record_the_codec_round_trips(payments: RecordBuilder) -> None:
    rec = payments.build(payment(1, occurred_at="2021-03-31T10:15:00+05:30"))
    assert rec["bank_code"] == "SBIN" and rec["occurred_at"] == T0
    assert codec_for("PaymentEvent").decode(codec_for("PaymentEvent").encode(rec)) == rec


def test_absent_fields_take_their_defaults(payments: RecordBuilder) -> None:
    obj = payment(1)
    del obj["branch_ifsc"], obj["purpose"]
    rec = payments.build(obj)
    assert (rec["branch_ifsc"], rec["purpose"]) == (None, "OTHER")
    # The enum's own "default" (CASH) is for readers meeting a newer symbol, not a field default.
    del obj["channel"]
    with pytest.raises(MalformedEvent, match="required field channel"):
        payments.build(obj)


def test_department_code_absent_or_blank_is_null(payments: RecordBuilder) -> None:
    assert payments.build(payment(1))["department_code"] is None
    for blank in ("", "   ", None):
        assert payments.build(payment(1, department_code=blank))["department_code"] is None
    assert payments.build(payment(1, department_code="ENERGY"))["department_code"] == "ENERGY"
    # whether the code is a department's is check_event's (unknown_department), not the builder's
    assert payments.build(payment(1, department_code="MINING"))["department_code"] == "MINING"
    assert payments.build(payment(1, branch_ifsc=""))["branch_ifsc"] == ""  # blank-is-null is per field
    with pytest.raises(MalformedEvent) as e:
        payments.build(payment(1, department_code=7))
    assert e.value.field == "department_code"


def test_csv_strings_are_coerced(payments: RecordBuilder) -> None:
    rec = payments.build({"event_id": "e1", "occurred_at": str(T0), "district_lgd": "45", "channel": "UPI",
                          "amount_paise": "1050", "status": "SUCCESS"})
    assert (rec["district_lgd"], rec["amount_paise"], rec["occurred_at"]) == (45, 1050, T0)


@pytest.mark.parametrize(("field", "value", "code"), [
    ("channel", "PAYTM", "malformed"),
    ("status", "success", "malformed"),
    ("amount_paise", "10.50", "malformed"),
    ("amount_paise", 10.5, "malformed"),
    ("amount_paise", True, "malformed"),
    ("amount_paise", 2**63, "malformed"),
    ("district_lgd", 2**31, "malformed"),
    ("district_lgd", "Almora", "malformed"),
    ("event_id", 17, "malformed"),
    ("event_id", None, "malformed"),
    ("branch_ifsc", 5, "malformed"),
    ("bank_code", "HDFC", "bank_mismatch"),
])
def test_bad_values_name_their_field(payments: RecordBuilder, field: str, value: Any, code: str) -> None:
    with pytest.raises(EventError) as e:
        payments.build(payment(1, **{field: value}))
    assert (e.value.field, e.value.code) == (field, code)


def test_bank_mismatch_is_its_own_reason(payments: RecordBuilder) -> None:
    with pytest.raises(BankMismatch):
        payments.build(payment(1, bank_code="HDFC"))
    assert payments.build(payment(1, bank_code="SBIN"))["bank_code"] == "SBIN"


def test_missing_required_and_unknown_fields(payments: RecordBuilder) -> None:
    obj = payment(1)
    del obj["amount_paise"]
    with pytest.raises(MalformedEvent) as e:
        payments.build(obj)
    assert e.value.field == "amount_paise" and "missing" in str(e.value)
    with pytest.raises(MalformedEvent) as e:
        payments.build(payment(1, amount=5))
    assert e.value.field == "amount" and "unknown field" in str(e.value)


def test_messages_never_quote_an_aadhaar_number(payments: RecordBuilder) -> None:
    with pytest.raises(MalformedEvent) as e:
        payments.build(payment(1, channel="2345 6789 0123"))
    assert "6789" not in str(e.value) and "REDACTED" in str(e.value)


def test_seeding_records(seedings: RecordBuilder) -> None:
    rec = seedings.build(seeding(3, occurred_at="2021-03-31T04:45:00.003Z"))
    assert rec == {"event_id": "SEED-0000003", "occurred_at": T0 + 3, "district_lgd": 48, "bank_code": "SBIN",
                   "account_ref": "ACC-000003", "status": "SEEDED"}
    with pytest.raises(MalformedEvent):
        seedings.build(seeding(3, status="PENDING"))


def test_csv_header_checks(payments: RecordBuilder) -> None:
    required = ["event_id", "occurred_at", "district_lgd", "channel", "amount_paise", "status"]
    payments.check_columns(required)
    with pytest.raises(ValueError, match="unknown column"):
        payments.check_columns([*required, "amount"])
    with pytest.raises(ValueError, match=r"missing required column.*amount_paise"):
        payments.check_columns([c for c in required if c != "amount_paise"])
    with pytest.raises(ValueError, match="duplicate"):
        payments.check_columns([*required, "event_id"])


def test_a_json_escaped_aadhaar_number_is_redacted_in_the_rejects_input() -> None:
    """``\\u0032`` is "2": a scan of the raw line would miss the number."""
    from streams.aadhaar import contains_aadhaar_like
    from streams.publisher.rejects import redact_line

    line = '{"event_id": "\\u0032345 6789 0123", "amount_paise": 5}'
    out = redact_line(line)
    assert not contains_aadhaar_like(json.loads(out)["event_id"])
    assert json.loads(out)["amount_paise"] == 5


# --- Numbers a bank may get wrong (issue 9, item 7) ---

@pytest.mark.parametrize(("value", "why"), [
    (1_617_165_900, "epoch seconds? multiply them by 1000"),  # T0 in seconds: would be 1970-01-19
    ("1617165900", "epoch seconds?"),
    (0, "before 1973"), (-1, "before 1973"),
    (T0 * 1000, "microseconds or nanoseconds"), (str(T0 * 1_000_000), "microseconds or nanoseconds"),
    (2**64, "microseconds or nanoseconds"), ("9" * 5000, "not epoch milliseconds"),
    ("+1617165900000", "not ISO-8601"), ("١٦١٧١٦٥٩٠٠٠٠٠", "not ISO-8601"),  # Arabic-Indic digits
])
def test_occurred_at_numbers_are_epoch_milliseconds_or_refused(value: Any, why: str) -> None:
    with pytest.raises(MalformedEvent, match=re.escape(why)) as e:
        parse_timestamp_ms(value)
    assert e.value.field == "occurred_at"


def test_the_epoch_millisecond_range_bounds() -> None:
    from streams.publisher.records import MS_RANGE

    lo, hi = MS_RANGE
    assert parse_timestamp_ms(lo) == lo and parse_timestamp_ms(str(hi - 1)) == hi - 1
    for bad in (lo - 1, hi):
        with pytest.raises(MalformedEvent):
            parse_timestamp_ms(bad)


@pytest.mark.parametrize("value", [" 45", "45 ", "4_5", "+45", "٤٥", "45.0", "1e3", "9" * 5000])
def test_integer_cells_are_ascii_digits(payments: RecordBuilder, value: str) -> None:
    with pytest.raises(MalformedEvent) as e:
        payments.build(payment(1, district_lgd=value))
    assert e.value.field == "district_lgd"


@pytest.mark.parametrize("value", [2**63, -(2**63) - 1, 10**30, str(2**63)])
def test_out_of_range_integers_are_refused(payments: RecordBuilder, value: Any) -> None:
    with pytest.raises(MalformedEvent, match="does not fit an Avro long") as e:
        payments.build(payment(1, amount_paise=value))
    assert e.value.field == "amount_paise"


def test_doubles_refuse_nan_and_infinity() -> None:
    schema = {"type": "record", "name": "R", "fields": [{"name": "bank_code", "type": "string"},
                                                         {"name": "x", "type": "double"}]}
    builder = RecordBuilder(schema, "SBIN")
    assert builder.build({"x": "1.5"})["x"] == 1.5 and builder.build({"x": 2})["x"] == 2.0
    for bad in ("NaN", "nan", "inf", "-Infinity", "1e999", float("nan"), float("inf"), 10**400, "1_0", " 1"):
        with pytest.raises(MalformedEvent) as e:
            builder.build({"x": bad})
        assert e.value.field == "x"


def test_a_lone_surrogate_is_refused_not_an_encoder_crash(payments: RecordBuilder) -> None:
    obj = json.loads('{"event_id": "TXN-\\ud800"}')
    with pytest.raises(MalformedEvent, match="lone surrogate") as e:
        payments.build(payment(1, **obj))
    assert e.value.field == "event_id"
    assert payments.build(payment(1, event_id="TXN-ह"))["event_id"] == "TXN-ह"


@pytest.mark.parametrize(("given", "days"), [("2026-12-01", 20788), (20788, 20788), ("20788", 20788),
                                             ("1970-01-01", 0)])
def test_a_grievance_transaction_date_is_an_iso_date_or_a_day_number(given: Any, days: int) -> None:
    builder = RecordBuilder(load_schema("GrievanceEvent"), "SBIN")
    obj = {"event_id": "g1", "occurred_at": "2026-12-01T10:00:00+05:30", "district_lgd": 45,
           "grievance_ref": "CMP-1", "action": "RAISED", "case": "IMPS_NOT_CREDITED", "transaction_date": given,
           "amount_paise": 100}
    rec = builder.build(obj)
    assert rec["transaction_date"] == days
    assert codec_for("GrievanceEvent").decode(codec_for("GrievanceEvent").encode(rec)) == rec


@pytest.mark.parametrize("bad", ["01/12/2026", "2026-13-01", "", 1.5, "2026-12-01T00:00:00+05:30"])
def test_a_grievance_transaction_date_refuses_other_forms(bad: Any) -> None:
    builder = RecordBuilder(load_schema("GrievanceEvent"), "SBIN")
    obj = {"event_id": "g1", "occurred_at": T0, "district_lgd": 45, "grievance_ref": "CMP-1", "action": "RAISED",
           "case": "OTHER", "transaction_date": bad, "amount_paise": 100}
    with pytest.raises(MalformedEvent) as e:
        builder.build(obj)
    assert e.value.field == "transaction_date"


@pytest.mark.parametrize(("given", "modes"), [
    (["UPI", "QR"], ["UPI", "QR"]), ("UPI;DEBIT_CARD", ["UPI", "DEBIT_CARD"]), ("UPI ; QR", ["UPI", "QR"]),
    ("[]", []), ([], []), ("AEPS", ["AEPS"]),
])
def test_enablement_modes_are_a_list_or_separated_by_semicolons(given: Any, modes: list[str]) -> None:
    builder = RecordBuilder(load_schema("AccountEnablementEvent"), "SBIN")
    obj = {"event_id": "n1", "occurred_at": T0, "district_lgd": 45, "account_ref": "ACC-1",
           "account_type": "SAVINGS", "modes": given, "camp_ref": " "}
    rec = builder.build(obj)
    assert rec["modes"] == modes and rec["camp_ref"] is None  # a blank camp is no camp
    assert codec_for("AccountEnablementEvent").decode(codec_for("AccountEnablementEvent").encode(rec)) == rec


@pytest.mark.parametrize("bad", ["UPI;", "NFC", ["UPI", "SMS"], 3, {"UPI": 1}, ""])
def test_enablement_modes_refuse_other_forms(bad: Any) -> None:
    builder = RecordBuilder(load_schema("AccountEnablementEvent"), "SBIN")
    obj = {"event_id": "n1", "occurred_at": T0, "district_lgd": 45, "account_ref": "ACC-1",
           "account_type": "SAVINGS", "modes": bad}
    with pytest.raises(MalformedEvent) as exc:
        builder.build(obj)
    assert exc.value.field == "modes"


@pytest.mark.parametrize(("given", "band"),
                         [(None, None), ("", None), ("  ", None), ("41_50", "41_50"), ("OTHER", "OTHER")])
def test_enablement_age_band_is_optional_and_checked_as_the_enrolments_is(given: Any, band: str | None) -> None:
    """``--kind enablement`` takes ``holder_age_band`` (absent, empty or blank: null, in either feed); a value
    outside the bands is refused before sending by the same check as the enrolment feed's."""
    builder = RecordBuilder(load_schema("AccountEnablementEvent"), "SBIN")
    obj = {"event_id": "n1", "occurred_at": T0, "district_lgd": 45, "account_ref": "ACC-1",
           "account_type": "SAVINGS", "modes": "UPI"}
    rec = builder.build(obj if given is None else {**obj, "holder_age_band": given})
    assert rec["holder_age_band"] == band
    assert codec_for("AccountEnablementEvent").decode(codec_for("AccountEnablementEvent").encode(rec)) == rec
    bad = builder.build({**obj, "holder_age_band": "18-40"})
    with pytest.raises(EventError) as exc:
        check_event(bad, default_registry(), T0 + 1000, 300_000)
    assert exc.value.field == "holder_age_band" and exc.value.code == "out_of_range"
