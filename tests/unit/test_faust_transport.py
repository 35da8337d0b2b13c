"""The worker's consumers really use the configured fetch wait (a private aiokafka attribute)."""

from __future__ import annotations

import asyncio

from streams.app import create_app
from streams.config import Settings

from ..helpers import test_key_registry


def test_worker_consumer_uses_the_configured_fetch_wait() -> None:
    async def build() -> int:
        app, _ = create_app(Settings().replace(broker="kafka://127.0.0.1:1", fetch_max_wait=0.123,
                                               key_registry=test_key_registry()))
        consumer = app.consumer._thread._create_worker_consumer(app.transport)
        return int(consumer._fetch_max_wait_ms)

    assert asyncio.run(build()) == 123
