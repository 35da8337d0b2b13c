"""The embedded broker's durable storage: with ``s3://`` a killed and restarted broker keeps its topics."""

from __future__ import annotations

from pathlib import Path

import pytest
from kafka import KafkaConsumer, TopicPartition

from streams.broker import EmbeddedBroker
from streams.config import Settings
from streams.topics import ensure_topics

from .helpers import produce_raw
from .s3 import LocalS3

pytestmark = pytest.mark.integration


def _read_all(bootstrap: str, topic: str, partitions: int, group: str | None = None) -> list[bytes]:
    """Every message of ``topic`` (assigned, no group join); with ``group``, commit the end offsets."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group, auto_offset_reset="earliest",
                             enable_auto_commit=False, consumer_timeout_ms=3000)
    consumer.assign([TopicPartition(topic, p) for p in range(partitions)])
    values = [m.value for m in consumer]
    if group:
        consumer.commit()
    consumer.close()
    return values


def _committed(bootstrap: str, topic: str, partitions: int, group: str) -> int:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    try:
        return sum(consumer.committed(TopicPartition(topic, p)) or 0 for p in range(partitions))
    finally:
        consumer.close()


def test_s3_storage_keeps_messages_and_offsets_across_a_broker_sigkill(tmp_path: Path) -> None:
    with LocalS3(log_path=tmp_path / "moto.log") as s3, \
            EmbeddedBroker(log_path=tmp_path / "tansu.log", storage=s3.storage, env=s3.env) as broker:
        settings = Settings().replace(broker=broker.url, topic_partitions=4, payments_topic="durable")
        ensure_topics(settings)
        sent = [f"v{i}".encode() for i in range(2000)]
        produce_raw(settings, "durable", [(str(i % 13).encode(), v) for i, v in enumerate(sent)])
        assert sorted(_read_all(broker.bootstrap, "durable", 4, group="g")) == sorted(sent)
        assert _committed(broker.bootstrap, "durable", 4, "g") == len(sent)

        broker.restart(kill=True)

        assert sorted(_read_all(broker.bootstrap, "durable", 4)) == sorted(sent), "every message kept"
        assert _committed(broker.bootstrap, "durable", 4, "g") == len(sent), "the group's committed offsets kept"


def test_memory_storage_is_the_default(tmp_path: Path) -> None:
    assert EmbeddedBroker(log_path=tmp_path / "tansu.log").storage == "memory://tansu/"
