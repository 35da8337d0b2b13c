"""Realistic synthetic event feeds, calibrated on the real PhonePe Pulse series.

``calibration`` turns the shipped Pulse extract into per-district profiles,
``generator`` makes seeded, reproducible events from them (pure), and ``feed``
sends them to the broker at a steady rate (``digindex simulate``).
"""

from __future__ import annotations

from .calibration import Calibration, DistrictProfile, default_calibration
from .feed import FeedOptions, FeedStats, encoded_payments, preproduce, run_feed
from .generator import Simulator, generate_payments, generate_seeding

__all__ = [
    "Calibration",
    "DistrictProfile",
    "FeedOptions",
    "FeedStats",
    "Simulator",
    "default_calibration",
    "encoded_payments",
    "generate_payments",
    "generate_seeding",
    "preproduce",
    "run_feed",
]
