"""No Aadhaar number in any log line, traceback or warning, whoever logs it and at any level.

At ``--log-level debug`` aiokafka logs the key and value of every message the worker sends
(changelogs, dead letters), kafka-python those the publisher sends, and any exception's
message may quote the value that caused it. Rather than trust every logger, ``install()``
redacts every ``LogRecord`` as it is made (a log record factory, so it applies to every
logger and every handler, including those Faust and mode install later): the formatted
message, the traceback and the stack, through ``streams.aadhaar.redact``. Uncaught
exceptions (``sys.excepthook``) and warnings go the same way. In a ``bytes`` repr an escaped
length byte (``\\x18``) lengthens a number's digit run, so escapes count as separators
(``redact_reprs``); a number in fullwidth or Devanagari digits is escaped there beyond
recognition, so the loggers that dump payloads or wire traffic at DEBUG (``PAYLOAD_LOGGERS``:
both clients' producers and connections) are capped at INFO.
"""

from __future__ import annotations

import logging
import re
import sys
import traceback
from types import TracebackType
from typing import Any

from .aadhaar import mask, redact

__all__ = ["PAYLOAD_LOGGERS", "install", "redact_record", "redact_reprs"]

#: Loggers that log message payloads (as bytes reprs) at DEBUG, the produced records and the
#: wire-level requests and responses (fetched and produced record batches): never below INFO.
PAYLOAD_LOGGERS = ("aiokafka.producer.producer", "aiokafka.conn", "kafka.producer.kafka", "kafka.conn",
                   "kafka.net.connection", "kafka.protocol.parser")
#: An escape in a ``bytes`` or ``str`` repr: ``b"\x18616850780811"`` is a length byte, then a number.
_ESCAPE = re.compile(r"\\(?:x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|[nrt0\\'\"])")

_installed = False


def redact_reprs(text: str) -> str:
    """``text`` with Aadhaar-like digits masked as they read once each escape (``\\x18``,
    ``\\n``) in it is taken for one separator, as in a ``bytes`` repr, where an escaped length
    byte would otherwise lengthen the number's digit run."""
    if "\\" not in text:
        return text
    parts = _ESCAPE.split(text)
    escapes = _ESCAPE.findall(text)
    joined = "\x00".join(parts)
    masked = mask(joined)
    if masked == joined:
        return text
    out, pos = [], 0
    for k, part in enumerate(parts):
        out.append(masked[pos:pos + len(part)])
        pos += len(part) + 1
        if k < len(escapes):
            out.append(escapes[k])
    return "".join(out)


def redact_record(record: logging.LogRecord) -> logging.LogRecord:
    """``record`` with its message formatted once and redacted, its traceback and stack too."""
    try:
        message = record.getMessage()
    except Exception:  # a bad format string: logging would echo msg and args in its complaint
        message = f"{record.msg!s} (unformattable log arguments)"
    record.msg, record.args = redact_reprs(redact(message)), ()
    if record.exc_info and record.exc_info[0] is not None:
        record.exc_text = redact_reprs(redact("".join(traceback.format_exception(*record.exc_info)).rstrip("\n")))
    if record.stack_info:
        record.stack_info = redact(record.stack_info)
    return record


def _excepthook(kind: type[BaseException], value: BaseException, tb: TracebackType | None) -> None:
    sys.stderr.write(redact("".join(traceback.format_exception(kind, value, tb))))


def install() -> None:
    """Redact every log record, uncaught exception and warning of this process (idempotent)."""
    global _installed
    if _installed:
        return
    _installed = True
    make = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        return redact_record(make(*args, **kwargs))

    logging.setLogRecordFactory(factory)
    for name in PAYLOAD_LOGGERS:
        logger = logging.getLogger(name)
        logger.setLevel(max(logging.INFO, logger.level))
    sys.excepthook = _excepthook
    logging.captureWarnings(True)
