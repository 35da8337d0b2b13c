"""Faust's aiokafka transport: a configurable consumer fetch wait, and the batch path.

Faust 0.15 creates its aiokafka consumer with ``fetch_max_wait_ms=1500`` hard-coded, and
the embedded broker (tansu) holds a fetch that long when no data is waiting instead of
answering as soon as some arrives: events then sit up to 1.5 s before the worker sees
them. Measured at 1,000 events/s: p99 publication-to-/metrics 1.99 s at 1,500 ms, 0.36 s
at 100 ms, throughput unchanged (docs/performance.md). ``_fetch_max_wait_ms`` is private
aiokafka state, hence the exact pins on faust-streaming and aiokafka.

The consumer also gives whole fetched batches of the signals' source topics to the app's
``digindex_batch`` (a ``streams.processor.batch.BatchSource``) instead of yielding them one
message at a time into Faust's conductor (see that module for why). Changelogs of the signals'
tables (``streams.processor.changelog.BulkRecoveredTable``) reach Faust as one event per fetched
batch, the records before it parked in the table (see that module). Everything else it fetches
takes Faust's own path unchanged.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

from faust.transport.drivers import aiokafka as driver
from faust.types import TP, Message

from .processor.changelog import MAX_PARKED_BYTES, BulkRecoveredTable

__all__ = ["transport_with_fetch_wait"]


def transport_with_fetch_wait(fetch_max_wait_ms: int) -> type[driver.Transport]:
    """A Faust transport class whose consumers wait at most ``fetch_max_wait_ms`` per fetch."""

    class ConsumerThread(driver.AIOKafkaConsumerThread):
        def _create_worker_consumer(self, transport: Any) -> Any:
            consumer = super()._create_worker_consumer(transport)
            consumer._fetch_max_wait_ms = fetch_max_wait_ms  # read by the fetcher created in start()
            return consumer

        def verify_event_path(self, now: float, tp: TP) -> None:
            """Faust's stall detector, without its stream-side checks for the batch path's partitions.

            Those look for agent events and acks the batch path never makes ("Stream has not
            started processing" after a few minutes); the fetch-side checks still run.
            """
            batch = getattr(self.consumer.app, "digindex_batch", None)
            if batch is not None and batch.handles(tp.topic):
                self._verify_aiokafka_event_path(now, tp)
                return None
            return super().verify_event_path(now, tp)

    class Consumer(driver.Consumer):
        _bulk_tables: dict[str, BulkRecoveredTable] | None = None

        def _new_consumer_thread(self) -> driver.AIOKafkaConsumerThread:
            return ConsumerThread(self, loop=self.loop, beacon=self.beacon)

        def bulk_tables(self) -> dict[str, BulkRecoveredTable]:
            """Changelog topic -> its table, for the tables replayed a batch at a time."""
            if self._bulk_tables is None:
                self._bulk_tables = {t.changelog_topic.get_topic_name(): t for t in self.app.tables.values()
                                     if isinstance(t, BulkRecoveredTable)}
            return self._bulk_tables

        async def _wait_parked(self, tables: dict[str, BulkRecoveredTable]) -> None:
            """Let Faust apply what is parked before fetching more (bounded memory, bounded wait).

            Nothing parked is dropped here, not even at a rebalance: its event may still be in
            Faust's queue, and applied without its records they would be lost to the store. What
            a rebalance leaves behind is replaced when fetched again, or dropped by the table once
            a later offset is applied."""
            deadline = time.monotonic() + 5.0
            while any(t.parked_bytes > MAX_PARKED_BYTES for t in tables.values()) and time.monotonic() < deadline:
                await asyncio.sleep(0.005)

        async def getmany(self, timeout: float) -> AsyncIterator[tuple[TP, Message]]:
            """Faust's ``getmany``, with the batch path's partitions handed over whole first."""
            batch = getattr(self.app, "digindex_batch", None)
            tables = self.bulk_tables()
            if tables:
                await self._wait_parked(tables)
            records, active = await self._wait_next_records(timeout)
            generation = self.app.consumer_generation_id
            if records is None or self.should_stop:
                return
            if not self.flow_active:
                # as Faust does: records fetched while the flow stopped are dropped, seek back
                await self.perform_seek()
                return

            def still_ours() -> bool:
                return (self.flow_active and not self.should_stop
                        and self.app.consumer_generation_id == generation)

            def batch_ours() -> bool:
                # and not while Faust rebalances (BatchSource.hold says why)
                return still_ours() and not self.app.rebalancing

            def assigned(tp: TP) -> bool:
                return active is None or tp in active or tp in self._buffered_partitions

            rest: dict[TP, Any] = {}
            for tp, batch_records in records.items():
                table = tables.get(tp.topic)
                if table is not None and len(batch_records) > 1:
                    table.park(tp, batch_records[:-1], batch_records[-1].offset)
                    rest[tp] = batch_records[-1:]
                elif batch is None or not batch.handles(tp.topic):
                    rest[tp] = batch_records
                elif assigned(tp) and batch_ours():
                    await batch.feed(tp.topic, tp.partition, batch_records, batch_ours)
                elif assigned(tp) and still_ours():
                    await batch.hold(tp.topic, tp.partition)
            to_message = self._to_message
            for tp, record in self.scheduler.iterate(rest):
                if not still_ours():
                    break
                if assigned(tp):
                    self.app.monitor.track_tp_end_offset(tp, self.highwater(tp))
                    yield tp, to_message(tp, record)

    class Transport(driver.Transport):
        pass

    Transport.Consumer = Consumer
    return Transport
