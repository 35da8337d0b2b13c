"""Log records, tracebacks and uncaught exceptions carry no Aadhaar number, at any level."""

from __future__ import annotations

import io
import logging
import sys
import warnings
from collections.abc import Iterator

import pytest

from streams import log_redaction
from streams.aadhaar import contains_aadhaar_like

from .factories import aadhaar_forms, aadhaar_like

FORMS = aadhaar_forms(aadhaar_like("49911866524"))


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    """``log_redaction.install()`` in this process, a DEBUG handler on the root logger, all undone after."""
    factory, hook, root = logging.getLogRecordFactory(), sys.excepthook, logging.getLogger()
    levels = {n: logging.getLogger(n).level for n in log_redaction.PAYLOAD_LOGGERS}
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    log_redaction._installed = False
    log_redaction.install()
    try:
        yield out
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
        logging.setLogRecordFactory(factory)
        sys.excepthook = hook
        logging.captureWarnings(False)
        log_redaction._installed = False
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)


@pytest.mark.parametrize("name", FORMS)
def test_every_form_is_redacted_in_messages_args_and_tracebacks(captured: io.StringIO, name: str) -> None:
    form = FORMS[name]
    log = logging.getLogger("faust.some.module")
    log.debug("sending key=%r value=%s", form.encode("latin-1", "ignore"), form)
    log.info(f"plain {form}")
    log.warning("as %(field)s", {"field": form})
    try:
        raise ValueError(f"bad account {form}")
    except ValueError:
        log.exception("failed on %s", form)
    log.error("stack", stack_info=True)
    text = captured.getvalue()
    assert not contains_aadhaar_like(text), text
    assert text.count("[REDACTED-AADHAAR]") >= 5
    assert "Traceback" in text and "ValueError: bad account " in text


def test_a_bad_format_string_does_not_echo_its_arguments(captured: io.StringIO) -> None:
    logging.getLogger("x").info("%d items", FORMS["plain"])
    assert not contains_aadhaar_like(captured.getvalue())


def test_payload_loggers_stay_quiet_at_debug(captured: io.StringIO) -> None:
    """aiokafka's producer logs the bytes it sends: a fullwidth number there is ``\\xef\\xbc\\x92...``."""
    value = FORMS["fullwidth"].encode()
    for name in log_redaction.PAYLOAD_LOGGERS:
        logging.getLogger(name).debug("Sending (key=%s value=%s) to %s", b"k", value, "tp")
    assert "Sending" not in captured.getvalue()
    logging.getLogger("aiokafka.producer.producer").warning("still warns")
    assert "still warns" in captured.getvalue()


def test_uncaught_exceptions_and_warnings(captured: io.StringIO, capsys: pytest.CaptureFixture[str]) -> None:
    try:
        raise RuntimeError(f"crashed on {FORMS['4-4-4 nbsp']}")
    except RuntimeError as exc:
        sys.excepthook(type(exc), exc, exc.__traceback__)
    err = capsys.readouterr().err
    assert "RuntimeError: crashed on [REDACTED-AADHAAR]" in err and not contains_aadhaar_like(err)
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        logging.captureWarnings(True)
        warnings.warn(f"odd value {FORMS['devanagari']}", UserWarning, stacklevel=1)
    assert "odd value [REDACTED-AADHAAR]" in captured.getvalue()


def test_a_length_byte_escaped_in_a_bytes_repr_does_not_hide_a_number(captured: io.StringIO) -> None:
    number = FORMS["plain"]
    # an Avro string of 12 characters: its length byte 0x18, then the digits
    logging.getLogger("faust.transport").debug("fetched %r", b"\x00\x18" + number.encode() + b"\x02")
    logging.getLogger("faust.transport").debug("fetched %r", [("k", b"\n" + number.encode())])
    text = captured.getvalue()
    assert number not in text and "XXXXXXXXXXXX" in text and "\\x18" in text
    assert log_redaction.redact_reprs("b'\\x00\\x18" + number + "'") == "b'\\x00\\x18" + "X" * 12 + "'"
    assert log_redaction.redact_reprs("offset=\\n 2024-12-01 10:00:00") == "offset=\\n 2024-12-01 10:00:00"
