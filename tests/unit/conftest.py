"""Fixtures for the broker-free unit tests (the session ``registry`` comes from tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from streams.payments.state import PaymentPartitionState
from streams.registry import DistrictRegistry

from .factories import HORIZON_S, SKEW_S, WINDOWS


@pytest.fixture
def make_state(registry: DistrictRegistry) -> Callable[..., PaymentPartitionState]:
    """``make_state(partition=0, horizon_s=48 h)`` -> a fresh ``PaymentPartitionState``."""

    def make(partition: int = 0, horizon_s: float = HORIZON_S, windows: tuple[float, ...] = WINDOWS
             ) -> PaymentPartitionState:
        return PaymentPartitionState(partition, registry, windows, horizon_s, SKEW_S)

    return make
