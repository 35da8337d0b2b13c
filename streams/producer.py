"""The kafka-python producer every publishing command uses (publisher, simulator).

Idempotent (``enable_idempotence``, ``acks=all``), so a retry after a lost ack does
not write a second copy; events are keyed by district so a district always lands
in the same partition and the worker never repartitions.
"""

from __future__ import annotations

from typing import Any

from kafka import KafkaProducer

from .config import Settings
from .topics import district_key

__all__ = ["district_key", "make_producer"]


def make_producer(settings: Settings, **overrides: Any) -> KafkaProducer:
    """An idempotent producer for ``settings.broker``; ``overrides`` go to kafka-python."""
    kw: dict[str, Any] = dict(
        bootstrap_servers=settings.bootstrap_servers,
        client_id=f"{settings.app_id}-producer",
        enable_idempotence=True,
        acks="all",
        linger_ms=5,
        batch_size=256 * 1024,
        max_in_flight_requests_per_connection=5,
        **settings.security.kafka_python_kwargs(),
    )
    kw.update(overrides)
    return KafkaProducer(**kw)
