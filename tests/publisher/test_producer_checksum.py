"""The producers' batches are checksummed in C: the publisher's throughput depends on it."""

from __future__ import annotations

import crc32c
from kafka.record import util


def test_kafka_python_uses_the_c_crc32c() -> None:
    """kafka-python falls back to a pure-Python CRC-32C silently when the ``crc32c`` package is missing;
    that cost ~20 us per signed payment in the publisher (docs/performance.md)."""
    assert util.crc32c_c is crc32c.crc32c
    assert util.calc_crc32c(memoryview(b"123456789")) == 0xE3069283  # the CRC-32C check value
