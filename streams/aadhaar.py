"""Spotting and redacting Aadhaar-like numbers, so none is ever written anywhere.

An Aadhaar number is 12 digits, does not start with 0 or 1 and ends in a Verhoeff
check digit. We refuse any 12-digit run starting 2-9 (with or without the usual
spaces or hyphens), whether or not the check digit is valid: a mistyped Aadhaar
number is still personal data, and a false positive only costs a dead letter.
"""

from __future__ import annotations

import re

__all__ = [
    "AADHAAR_LIKE",
    "contains_aadhaar_like",
    "mask",
    "mask_digit_runs",
    "redact",
    "redact_bytes",
    "verhoeff_valid",
]

#: 12 digits, first 2-9, optionally grouped 4-4-4 by a space or hyphen, not inside a longer number.
AADHAAR_LIKE = re.compile(r"(?<!\d)[2-9]\d{3}[ -]?\d{4}[ -]?\d{4}(?!\d)")
_REDACTED = "[REDACTED-AADHAAR]"
_AADHAAR_LIKE_BYTES = re.compile(AADHAAR_LIKE.pattern.encode())

_D = (
    (0, 1, 2, 3, 4, 5, 6, 7, 8, 9),
    (1, 2, 3, 4, 0, 6, 7, 8, 9, 5),
    (2, 3, 4, 0, 1, 7, 8, 9, 5, 6),
    (3, 4, 0, 1, 2, 8, 9, 5, 6, 7),
    (4, 0, 1, 2, 3, 9, 5, 6, 7, 8),
    (5, 9, 8, 7, 6, 0, 4, 3, 2, 1),
    (6, 5, 9, 8, 7, 1, 0, 4, 3, 2),
    (7, 6, 5, 9, 8, 2, 1, 0, 4, 3),
    (8, 7, 6, 5, 9, 3, 2, 1, 0, 4),
    (9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
)
_P = (
    (0, 1, 2, 3, 4, 5, 6, 7, 8, 9),
    (1, 5, 7, 6, 2, 8, 3, 0, 9, 4),
    (5, 8, 0, 3, 7, 9, 6, 1, 4, 2),
    (8, 9, 1, 6, 0, 4, 3, 5, 2, 7),
    (9, 4, 5, 3, 1, 2, 6, 8, 7, 0),
    (4, 2, 8, 6, 5, 7, 3, 9, 0, 1),
    (2, 7, 9, 3, 8, 0, 6, 4, 1, 5),
    (7, 0, 4, 6, 9, 1, 3, 2, 5, 8),
)


def verhoeff_valid(digits: str) -> bool:
    """True if the digit string ends in a correct Verhoeff check digit."""
    c = 0
    for i, ch in enumerate(reversed(digits)):
        c = _D[c][_P[i % 8][int(ch)]]
    return c == 0


def contains_aadhaar_like(text: str) -> bool:
    """True if ``text`` holds a 12-digit run that could be an Aadhaar number."""
    return AADHAAR_LIKE.search(text) is not None


def redact(text: str) -> str:
    """``text`` with every Aadhaar-like run replaced by a fixed marker."""
    return AADHAAR_LIKE.sub(_REDACTED, text)


def redact_bytes(data: bytes) -> bytes:
    """``data`` with the digits of every Aadhaar-like run masked as ``X``.

    The length is kept, so redacted Avro bytes still decode: a dead letter stays
    readable for diagnosis without carrying the number.
    """
    return _AADHAAR_LIKE_BYTES.sub(lambda m: bytes(b if not 48 <= b <= 57 else 88 for b in m.group()), data)


def _x_digits(m: re.Match[str]) -> str:
    return "".join("X" if c.isdigit() else c for c in m.group())


def mask(text: str) -> str:
    """``text`` with the digits of every Aadhaar-like run replaced by ``X``: same length."""
    return AADHAAR_LIKE.sub(_x_digits, text)


_DIGIT_RUN = re.compile(rb"[0-9](?:[ -]?[0-9]){11,}")


def mask_digit_runs(data: bytes) -> bytes:
    """Mask every run of 12 or more digits in bytes we could not decode.

    Cruder than ``redact_bytes`` on purpose: in binary framing a length byte can be an
    ASCII digit and lengthen an Aadhaar number's run, so any long run is masked.
    """
    return _DIGIT_RUN.sub(lambda m: bytes(88 if 48 <= b <= 57 else b for b in m.group()), data)
