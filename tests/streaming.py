"""A steady stream of payments from a background thread, with the ground truth of what reached the broker.

Fault tests and the fault campaign (``bench/faults.py``) kill, pause and restart workers and
the broker *while* events flow, so events cannot be pre-produced. Each event is re-sent until
the broker acknowledges it (as a bank's publisher would after an error): at the end every
generated event has reached the broker at least once, and :attr:`SteadyStream.records` is the
ground truth. A copy that did arrive before its error is the worker's to drop as a duplicate.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Any

from kafka.errors import KafkaError

from streams.avro_codec import codec_for
from streams.config import Settings
from streams.producer import district_key, make_producer
from streams.simulator.feed import TokenBucket

from .helpers import signer_for
from .worker import data

__all__ = ["SteadyStream"]

TICK = 0.02


class SteadyStream(threading.Thread):
    """``rate`` payments/s for ``seconds`` (or until :meth:`stop`), bounded by both.

    Events come from ``tests/worker/data.payments`` (occurred_at = now, so every event is inside
    the shortest window), each tick's batch starting at the next district so all 13 get events
    at any rate; event ids are ``<prefix>-<tick>-<i>``, unique across the stream.
    """

    def __init__(self, settings: Settings, rate: float, seconds: float, prefix: str = "s",
                 drain_timeout: float = 90.0) -> None:
        super().__init__(daemon=True, name=f"stream-{prefix}")
        self.settings = settings
        self.rate = rate
        self.seconds = seconds
        self.prefix = prefix
        self.drain_timeout = drain_timeout
        #: every generated event, in order; all acknowledged once :attr:`unacked` is 0
        self.records: list[dict[str, Any]] = []
        self.attempts = 0  # sends, re-sends included
        self.errors = 0  # sends that failed (and were re-sent)
        self.started_at = self.finished_at = 0.0
        self._acked: set[int] = set()
        self._retry: deque[int] = deque()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._codec = codec_for("PaymentEvent")
        self._sign = signer_for(self.settings).headers

    @property
    def acked(self) -> int:
        with self._lock:
            return len(self._acked)

    @property
    def unacked(self) -> int:
        return len(self.records) - self.acked

    @property
    def resends(self) -> int:
        return self.attempts - len(self.records)

    def stop(self) -> None:
        """End the paced phase now; :meth:`run` still re-sends what is unacknowledged."""
        self._stopping.set()

    def finish(self, timeout: float | None = None) -> SteadyStream:
        """Stop and wait until every event is acknowledged (or the drain timeout passed)."""
        self.stop()
        self.join(timeout if timeout is not None else self.drain_timeout + 30)
        return self

    def run(self) -> None:
        producer = make_producer(self.settings, max_block_ms=5000, request_timeout_ms=5000,
                                 delivery_timeout_ms=15000)
        self.started_at = time.monotonic()
        bucket = TokenBucket(self.rate, self.started_at)
        tick = 0
        try:
            while not self._stopping.is_set() and time.monotonic() - self.started_at < self.seconds:
                n = bucket.take(time.monotonic())
                if n:
                    first = tick % len(data.DISTRICTS)
                    batch = data.payments(n, seed=tick, spread_s=1, prefix=f"{self.prefix}-",
                                          districts=data.DISTRICTS[first:] + data.DISTRICTS[:first])
                    self.records.extend(batch)
                    for i in range(len(self.records) - n, len(self.records)):
                        self._send(producer, i)
                    tick += 1
                self._resend(producer)
                time.sleep(TICK)
            self.finished_at = time.monotonic()
            deadline = time.monotonic() + self.drain_timeout
            while self.unacked and time.monotonic() < deadline:
                producer.flush(timeout=10)
                self._resend(producer)
                time.sleep(0.2)
        finally:
            producer.close(timeout=5)

    def _send(self, producer: Any, i: int) -> None:
        r = self.records[i]
        self.attempts += 1
        try:
            key, value = district_key(r["district_lgd"]), self._codec.encode(r)
            future = producer.send(self.settings.payments_topic, key=key, value=value,
                                   headers=self._sign(r["bank_code"], key, value))
        except KafkaError:
            self._failed(i)
            return
        future.add_callback(lambda _meta, i=i: self._ok(i))
        future.add_errback(lambda _exc, i=i: self._failed(i))

    def _resend(self, producer: Any) -> None:
        with self._lock:
            again = [i for i in self._retry if i not in self._acked]
            self._retry.clear()
        for i in again:
            self._send(producer, i)

    def _ok(self, i: int) -> None:
        with self._lock:
            self._acked.add(i)

    def _failed(self, i: int) -> None:
        with self._lock:
            self.errors += 1
            self._retry.append(i)
