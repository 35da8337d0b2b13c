"""Faust's aiokafka transport: a configurable consumer fetch wait, and the batch path.

Faust 0.15 creates its aiokafka consumer with ``fetch_max_wait_ms=1500`` hard-coded, and
the embedded broker (tansu) holds a fetch that long when no data is waiting instead of
answering as soon as some arrives: events then sit up to 1.5 s before the worker sees
them. Measured at 1,000 events/s: p99 publication-to-/metrics 1.99 s at 1,500 ms, 0.36 s
at 100 ms, throughput unchanged (docs/performance.md). ``_fetch_max_wait_ms`` is private
aiokafka state, hence the exact pins on faust-streaming and aiokafka.

The consumer also gives whole fetched batches of the signals' source topics to the app's
``digindex_batch`` (a ``streams.processor.batch.BatchSource``) instead of yielding them one
message at a time into Faust's conductor (see that module for why). Everything else it fetches
(changelogs during recovery and for standbys) takes Faust's own path unchanged.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from faust.transport.drivers import aiokafka as driver
from faust.types import TP, Message

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
        def _new_consumer_thread(self) -> driver.AIOKafkaConsumerThread:
            return ConsumerThread(self, loop=self.loop, beacon=self.beacon)

        async def getmany(self, timeout: float) -> AsyncIterator[tuple[TP, Message]]:
            """Faust's ``getmany``, with the batch path's partitions handed over whole first."""
            batch = getattr(self.app, "digindex_batch", None)
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

            def assigned(tp: TP) -> bool:
                return active is None or tp in active or tp in self._buffered_partitions

            rest: dict[TP, Any] = {}
            for tp, batch_records in records.items():
                if batch is None or not batch.handles(tp.topic):
                    rest[tp] = batch_records
                elif assigned(tp) and still_ours():
                    await batch.feed(tp.topic, tp.partition, batch_records, still_ours)
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
