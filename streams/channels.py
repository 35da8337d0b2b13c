"""Which payment channels count as digital: decided here and nowhere else."""

from __future__ import annotations

__all__ = ["NON_DIGITAL_CHANNELS", "is_digital"]

#: Cash and paper modes. Every other channel symbol of the schema is digital.
NON_DIGITAL_CHANNELS: frozenset[str] = frozenset({"CASH", "CHEQUE", "DEMAND_DRAFT"})


def is_digital(channel: str) -> bool:
    """True for every channel that is neither cash nor paper."""
    return channel not in NON_DIGITAL_CHANNELS
