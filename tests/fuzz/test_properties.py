"""Property-based fuzzing (hypothesis) of the decoder, the validation and the publisher's readers.

Every input is accepted or refused with a reason: no exception other than an ``EventError``
(or the readers' whole-file ``InputError``) escapes, and the invariants in ``targets`` hold.
``pytest`` runs a bounded number of examples per property (profile ``ci``); ``make fuzz``
runs many more (profile ``fuzz``, ``FUZZ_EXAMPLES``).
"""

from __future__ import annotations

import time

from hypothesis import example, given
from hypothesis import strategies as st

from streams.avro_codec import MAGIC, codec_for

from . import targets
from .strategies import csv_files, jsonl_files, mutated, records

KIND = st.sampled_from(targets.KINDS)
NOW_MS = int(time.time() * 1000)


@given(KIND, st.binary(max_size=300))
@example("PaymentEvent", b"")
@example("PaymentEvent", MAGIC + codec_for("PaymentEvent").fingerprint + b"\xff" * 20)
def test_decoder_on_arbitrary_bytes(name: str, data: bytes) -> None:
    targets.check_decode(name, data)


@given(KIND, st.binary(max_size=200))
def test_decoder_on_arbitrary_bodies_after_a_known_header(name: str, body: bytes) -> None:
    codec = codec_for(name)
    targets.check_decode(name, MAGIC + codec.fingerprint + body)


@given(st.data())
def test_decoder_on_mutated_valid_encodings(data: st.DataObject) -> None:
    name = data.draw(KIND)
    record = data.draw(records(name).filter(lambda r: all(
        not isinstance(v, str) or not any(0xD800 <= ord(c) <= 0xDFFF for c in v) for v in r.values())))
    valid = codec_for(name).encode(record)
    targets.check_decode(name, data.draw(mutated(valid)))


@given(KIND.flatmap(lambda name: st.tuples(st.just(name), records(name))), st.integers(0, 2**45))
def test_validation_on_records_of_the_right_shape(named: tuple[str, dict], now_ms: int) -> None:
    name, record = named
    targets.check_validate(name, record, now_ms)


@given(KIND, st.sampled_from(["jsonl", "csv"]), st.binary(max_size=400), st.integers(0, 50))
def test_readers_on_arbitrary_bytes(name: str, fmt: str, data: bytes, resume_at: int) -> None:
    targets.check_read(name, fmt, data, resume_at)


@given(KIND.flatmap(lambda name: st.tuples(st.just(name), jsonl_files(name))), st.integers(0, 50))
def test_jsonl_reader_on_files_a_bank_might_write(named: tuple[str, bytes], resume_at: int) -> None:
    targets.check_read(named[0], "jsonl", named[1], resume_at)


@given(KIND.flatmap(lambda name: st.tuples(st.just(name), csv_files(name))), st.integers(0, 50))
def test_csv_reader_on_files_a_bank_might_write(named: tuple[str, bytes], resume_at: int) -> None:
    targets.check_read(named[0], "csv", named[1], resume_at)


@given(KIND, st.sampled_from(["jsonl", "csv"]), st.text(alphabet='{}[]",:\r\n\ufeff\\ au0123456789NI-.e', max_size=200),
       st.integers(0, 50))
def test_readers_on_text_made_of_syntax(name: str, fmt: str, text: str, resume_at: int) -> None:
    targets.check_read(name, fmt, text.encode(), resume_at)
