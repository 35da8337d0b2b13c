"""Aadhaar-like values: Verhoeff check digits, detection, and redaction."""

from __future__ import annotations

import random

import pytest

from streams.aadhaar import (
    AADHAAR_LIKE,
    contains_aadhaar_like,
    mask,
    mask_digit_runs,
    normalise,
    redact,
    redact_bytes,
    verhoeff_valid,
)

from .factories import aadhaar_forms, aadhaar_like

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


VALID = aadhaar_like("49911866524")  # 499118665246
FORMS = aadhaar_forms(VALID)


@pytest.mark.parametrize("text", [
    aadhaar_like(),
    "987654321098",  # a wrong check digit is still refused (see test_verhoeff_known_values)
    f"ref:{aadhaar_like()}/x",
    f"Aadhaar {aadhaar_like('98765432109')} seeded",
    "9999 8888 7777",
    "2345 67890123",  # separators are optional independently
    "2345 6789 0123 4567",  # four groups (a card number?): the first three are read as one
    "txn-234567890124", "A234567890124Z",  # letters around do not hide it
    "2345 _ 6789 / 0123",  # any 1-3 separators
])
def test_detects_aadhaar_like(text: str) -> None:
    assert contains_aadhaar_like(text)


@pytest.mark.parametrize("form", FORMS)
def test_detects_every_form(form: str) -> None:
    text = FORMS[form]
    assert contains_aadhaar_like(text)
    assert contains_aadhaar_like(f"x={text};")
    assert not contains_aadhaar_like(redact(text)) and MARK in redact(text)
    masked = mask(text)
    assert len(masked) == len(text) and not contains_aadhaar_like(masked) and "X" in masked
    data = text.encode()
    out = redact_bytes(data)
    assert len(out) == len(data) and not contains_aadhaar_like(out.decode())
    raw = mask_digit_runs(b"\x1c" + data + b"\x00\xff")
    assert len(raw) == len(data) + 3 and not contains_aadhaar_like(raw.decode("utf-8", "replace"))


def test_normalise_reads_digits_of_any_script() -> None:
    assert normalise(FORMS["fullwidth"]) == VALID
    assert normalise(FORMS["devanagari"]) == VALID
    assert normalise(FORMS["mathematical bold"]) == VALID
    assert normalise("\u2460\u2461") == "12"  # circled digits, by NFKC
    assert normalise("2\u200b3\u00ad4") == "234"  # invisible characters dropped
    assert normalise("SBIN0001234") == "SBIN0001234"


@pytest.mark.parametrize("text", [
    "23456789012",  # 11 digits
    "2345678901234",  # 13 digits
    "2345 6789 01234",  # inside a longer digit run
    "12345 6789 0123", "2345 6789 0123" + "\u0966",  # also when the longer run is in another script
    "12345678901234567890",
    "023456789012", "0234 5678 9012",  # starts with 0
    "123456789012", "1234-5678-9012", "\u0967\u0968\u0969\u096a 5678 9012",  # starts with 1
    "2345    6789 0123",  # four separators: not a short run
    "2345a6789b0123", "2345 x 6789 0123",  # a letter between the groups
    "234 5678 90123",  # not grouped 4-4-4
    "2024-01-01T12:30:45.123Z", "2024-12-01 10:00:00", "+91 98765 43210",
    "SBIN0001234", "UPI/123/456", "", "abc", "\u0916\u093e\u0924\u093e-\u0967\u0968\u0969",
])
def test_no_false_positives(text: str) -> None:
    assert not contains_aadhaar_like(text)
    assert redact(text) == text
    assert mask(text) == text
    assert redact_bytes(text.encode()) == text.encode()


def test_detection_and_redaction_agree_on_random_text() -> None:
    """One detection: what ``contains_aadhaar_like`` refuses, ``redact``, ``mask`` and
    ``redact_bytes`` remove, and nothing else."""
    rng = random.Random(11)
    alphabet = "0123456789" * 3 + "23456789" + " -._/\t\u00a0\u2013a" + "\uff15\u096b\u200b"
    for _ in range(4000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 40)))
        found = contains_aadhaar_like(text)
        assert found is (AADHAAR_LIKE.search(normalise(text)) is not None), repr(text)
        assert (redact(text) != text) is found and (mask(text) != text) is found, repr(text)
        assert not contains_aadhaar_like(redact(text)) and not contains_aadhaar_like(mask(text)), repr(text)
        assert len(mask(text)) == len(text)
        out = redact_bytes(text.encode())
        assert len(out) == len(text.encode()) and not contains_aadhaar_like(out.decode()), repr(text)
        assert not contains_aadhaar_like(mask_digit_runs(text.encode()).decode()), repr(text)


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


def test_redact_keeps_the_text_around_a_number_in_another_script() -> None:
    text = f"acct {FORMS['fullwidth 4-4-4 ideographic space']} ok"
    assert redact(text) == f"acct {MARK} ok"
    assert mask(FORMS["devanagari 4-4-4 space"]) == "XXXX XXXX XXXX"


def test_redact_bytes_keeps_utf8_length() -> None:
    data = b"\x18" + FORMS["fullwidth"].encode() + b"\x02ok"
    out = redact_bytes(data)
    assert out == b"\x18" + b"X" * 36 + b"\x02ok"


def test_mask_digit_runs_sees_through_a_length_byte() -> None:
    # a varint length byte can be an ASCII digit: "2" + the number is 13 digits, still masked
    data = b"2" + "\u00a0".join((VALID[:4], VALID[4:8], VALID[8:])).encode()
    assert b"X" * 4 in mask_digit_runs(data) and not contains_aadhaar_like(mask_digit_runs(data).decode())
