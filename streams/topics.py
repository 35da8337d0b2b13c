"""Creating the topics every digindex process expects, with the configured partition count.

Producers key events by district, so a district always lands in one partition and
the worker needs no repartitioning; that only holds if everyone agrees on the
partition count, hence one place that creates the topics.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any

from kafka import KafkaAdminClient
from kafka.admin import NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError
from kafka.partitioner.default import murmur2

from .config import Settings

__all__ = ["by_district", "default_partition", "district_key", "ensure_topics"]


def district_key(district_lgd: int) -> bytes:
    """The message key for a district: its LGD code as ASCII digits."""
    return str(district_lgd).encode()


def by_district(record: dict[str, Any]) -> bytes:
    """The message key of an event of a district-keyed topic (a signal's ``route``)."""
    return district_key(record["district_lgd"])


def default_partition(key: bytes, partitions: list[int]) -> int:
    """The partition Kafka's default partitioner picks for ``key`` among ``partitions``."""
    ordered = sorted(partitions)
    return ordered[(murmur2(key) & 0x7FFFFFFF) % len(ordered)]


def ensure_topics(settings: Settings, timeout: float = 30.0) -> None:
    """Create the payments, seeding, grievances, enablement, enrolments and dead-letter topics (and the internal
    ones) if they are missing."""
    names = [settings.payments_topic, settings.seeding_topic, settings.grievances_topic, settings.enablement_topic,
             settings.enrolments_topic, settings.deadletter_topic,
             settings.seeding_directory_topic, settings.seeding_releases_topic,
             settings.enablement_directory_topic, settings.enablement_releases_topic]
    deadline = time.monotonic() + timeout
    while True:
        try:
            admin = KafkaAdminClient(bootstrap_servers=settings.bootstrap_servers,
                                     client_id=f"{settings.app_id}-admin",
                                     **settings.security.kafka_python_kwargs())
            break
        except KafkaError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
    try:
        existing = set(admin.list_topics())
        missing = [NewTopic(n, settings.topic_partitions, 1) for n in names if n not in existing]
        if missing:
            with contextlib.suppress(TopicAlreadyExistsError):
                admin.create_topics(missing)
    finally:
        admin.close()
