"""Shared fixtures: one real embedded broker per test session, and settings pointing at it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from streams.broker import EmbeddedBroker
from streams.config import Settings
from streams.registry import DistrictRegistry, default_registry

from .helpers import test_key_registry


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedBroker]:
    """A tansu broker on a free loopback port for the whole session."""
    log = tmp_path_factory.mktemp("broker") / "tansu.log"
    with EmbeddedBroker(log_path=log) as b:
        yield b


#: The tests' checkpoint interval: they wait ~1.5-2 s for a checkpoint (and what follows it: offset
#: commits, dead letters, expiry deletes) before they kill or inspect a worker. The default is 5 s
#: (README, Checkpointing); the interval changes when a checkpoint is written, not what it holds.
CHECKPOINT_INTERVAL = 1.0


@pytest.fixture
def settings(broker: EmbeddedBroker, tmp_path: Path) -> Settings:
    """Settings on the session broker with topic names unique to this test."""
    tag = uuid.uuid4().hex[:8]
    return Settings().replace(
        broker=broker.url,
        app_id=f"digindex-test-{tag}",
        data_dir=tmp_path / "data",
        payments_topic=f"payments-{tag}",
        seeding_topic=f"seeding-{tag}",
        grievances_topic=f"grievances-{tag}",
        enablement_topic=f"enablement-{tag}",
        enrolments_topic=f"enrolments-{tag}",
        deadletter_topic=f"deadletter-{tag}",
        topic_partitions=4,
        session_timeout=2.0,
        key_registry=test_key_registry(),  # every test producer signs; workers verify (README, Security)
        checkpoint_interval=CHECKPOINT_INTERVAL,
    )


@pytest.fixture(scope="session")
def registry() -> DistrictRegistry:
    return default_registry()
