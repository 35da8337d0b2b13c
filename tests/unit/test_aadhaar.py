"""Aadhaar-like values: Verhoeff check digits, detection, and redaction."""

from __future__ import annotations

import random

import pytest

from streams.aadhaar import AADHAAR_LIKE, contains_aadhaar_like, redact, redact_bytes, verhoeff_valid

from .factories import aadhaar_like

MARK = "[REDACTED-AADHAAR]"


@pytest.mark.parametrize(("number", "valid"), [
    ("2363", True), ("2364", False),  # the textbook example: check digit of 236 is 3
    ("123451", True), ("123459", False),
    ("1234567890120", True), ("1234567890121", False),
    ("0", True),
    ("987654321098", False),
])
def test_verhoeff_known_values(number: str, valid: bool) -> None:
    assert verhoeff_valid(number) is valid


def _reference_verhoeff_valid(digits: str) -> bool:
    """Verhoeff from its definition, not from tables: the dihedral group D5 (0-4 rotations, 5-9
    reflections) and the permutation (0 1 5 8 9 4 2 7)(3 6) applied ``i`` times at position ``i``."""
    def d(a: int, b: int) -> int:
        if a < 5:
            return (a + b) % 5 if b < 5 else 5 + (a + b) % 5
        return 5 + (a - b) % 5 if b < 5 else (a - b) % 5
    sigma = (1, 5, 7, 6, 2, 8, 3, 0, 9, 4)
    c = 0
    for i, ch in enumerate(reversed(digits)):
        x = int(ch)
        for _ in range(i % 8):
            x = sigma[x]
        c = d(c, x)
    return c == 0


@pytest.mark.parametrize("number", [
    "499118665246", "234123412346",  # published as valid test Aadhaar numbers
    "234586789011", "234596789013", "987684321093",  # the 5th digit 8 or 9 meets row 7 of the table
])
def test_verhoeff_known_valid_aadhaar_numbers(number: str) -> None:
    assert _reference_verhoeff_valid(number)
    assert verhoeff_valid(number)


def test_verhoeff_agrees_with_its_definition_everywhere() -> None:
    rng = random.Random(7)
    for _ in range(3000):
        number = "".join(rng.choice("0123456789") for _ in range(rng.randrange(1, 20)))
        assert verhoeff_valid(number) is _reference_verhoeff_valid(number), number


def test_verhoeff_exactly_one_check_digit_and_catches_typos() -> None:
    rng = random.Random(5)
    for _ in range(200):
        prefix = str(rng.randrange(2, 10)) + "".join(rng.choice("0123456789") for _ in range(10))
        number = aadhaar_like(prefix)  # asserts exactly one of the ten digits makes it valid
        assert verhoeff_valid(number)
        i = rng.randrange(12)  # every single-digit error is caught
        wrong = number[:i] + str((int(number[i]) + rng.randrange(1, 10)) % 10) + number[i + 1:]
        assert not verhoeff_valid(wrong)
        j = rng.randrange(11)  # and every transposition of adjacent different digits
        if number[j] != number[j + 1]:
            swapped = number[:j] + number[j + 1] + number[j] + number[j + 2:]
            assert not verhoeff_valid(swapped)


@pytest.mark.parametrize("text", [
    aadhaar_like(),
    "987654321098",  # a wrong check digit is still refused (see test_verhoeff_known_values)
    " ".join([aadhaar_like()[:4], aadhaar_like()[4:8], aadhaar_like()[8:]]),
    "-".join([aadhaar_like()[:4], aadhaar_like()[4:8], aadhaar_like()[8:]]),
    f"ref:{aadhaar_like()}/x",
    f"Aadhaar {aadhaar_like('98765432109')} seeded",
    "9999 8888 7777",
    "2345 67890123",  # separators are optional independently
])
def test_detects_aadhaar_like(text: str) -> None:
    assert contains_aadhaar_like(text)


@pytest.mark.parametrize("text", [
    "23456789012",  # 11 digits
    "2345678901234",  # 13 digits
    "2345 6789 01234",
    "12345678901234567890",
    "023456789012", "0234 5678 9012",  # starts with 0
    "123456789012", "1234-5678-9012",  # starts with 1
    "2345.6789.0123",  # not an accepted separator
    "2345  6789 0123",  # two spaces
    "SBIN0001234", "UPI/123/456", "", "abc",
])
def test_no_false_positives(text: str) -> None:
    assert not contains_aadhaar_like(text)
    assert redact(text) == text
    assert redact_bytes(text.encode()) == text.encode()


def test_redact() -> None:
    a, b = aadhaar_like(), aadhaar_like("56789012345")
    spaced = f"{b[:4]} {b[4:8]} {b[8:]}"
    assert redact(f"x={a}, y={spaced}.") == f"x={MARK}, y={MARK}."
    assert not contains_aadhaar_like(redact(f"{a}{' '}{spaced}"))
    assert redact("order 2345678901234 ok") == "order 2345678901234 ok"


def test_redact_bytes_keeps_length_and_masks_digits_only() -> None:
    a = aadhaar_like()
    data = f"id={a[:4]}-{a[4:8]}-{a[8:]};n=23456789012345;".encode()
    out = redact_bytes(data)
    assert len(out) == len(data)
    assert out == b"id=XXXX-XXXX-XXXX;n=23456789012345;"
    assert not AADHAAR_LIKE.search(out.decode())


def test_redact_bytes_in_binary_context() -> None:
    a = aadhaar_like().encode()
    data = b"\x00\xff" + a + b"\x80\x01"
    out = redact_bytes(data)
    assert out == b"\x00\xff" + b"X" * 12 + b"\x80\x01"
