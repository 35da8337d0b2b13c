"""Fixtures for the broker-free unit tests (the session ``registry`` comes from tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from streams.payments.state import PaymentPartitionState
from streams.registry import DistrictRegistry

from .factories import SKEW_S, WINDOWS


@pytest.fixture
def make_state(registry: DistrictRegistry) -> Callable[..., PaymentPartitionState]:
    """``make_state(partition=0, windows=(1 h, 24 h))`` -> a fresh ``PaymentPartitionState``."""

    def make(partition: int = 0, windows: tuple[float, ...] = WINDOWS) -> PaymentPartitionState:
        return PaymentPartitionState(partition, registry, windows, SKEW_S)

    return make
