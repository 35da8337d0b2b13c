"""No Aadhaar number in any log line, traceback or warning, whoever logs it and at any level.

At ``--log-level debug`` aiokafka logs the key and value of every message the worker sends
(changelogs, dead letters), kafka-python those the publisher sends, and any exception's
message may quote the value that caused it. Rather than trust every logger, ``install()``
redacts every ``LogRecord`` as it is made (a log record factory, so it applies to every
logger and every handler, including those Faust and mode install later): the formatted
message, the traceback and the stack, through ``streams.aadhaar.redact``. Uncaught
exceptions (``sys.excepthook``) and warnings go the same way. Those two clients log payloads
as ``bytes`` reprs, where a number in fullwidth or Devanagari digits is escaped beyond
recognition, so their producer loggers are capped at INFO.
"""

from __future__ import annotations

import logging
import sys
import traceback
from types import TracebackType
from typing import Any

from .aadhaar import redact

__all__ = ["PAYLOAD_LOGGERS", "install", "redact_record"]

#: Loggers that log message payloads (as bytes reprs) at DEBUG: never below INFO.
PAYLOAD_LOGGERS = ("aiokafka.producer.producer", "kafka.producer.kafka")

_installed = False


def redact_record(record: logging.LogRecord) -> logging.LogRecord:
    """``record`` with its message formatted once and redacted, its traceback and stack too."""
    try:
        message = record.getMessage()
    except Exception:  # a bad format string: logging would echo msg and args in its complaint
        message = f"{record.msg!s} (unformattable log arguments)"
    record.msg, record.args = redact(message), ()
    if record.exc_info and record.exc_info[0] is not None:
        record.exc_text = redact("".join(traceback.format_exception(*record.exc_info)).rstrip("\n"))
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
