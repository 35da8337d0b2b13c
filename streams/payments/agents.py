"""The payments agent: decode, check, deduplicate, apply, checkpoint now and then.

No table write per event (that costs ~400 us each): state lives in memory per
partition and is checkpointed as deltas (``checkpoint.py``).
"""

from __future__ import annotations

import time
from typing import Any

import faust

from ..agent_steps import checkpoint_due, message_time_ms
from ..deadletter import PendingDeadLetters
from ..errors import EventError
from ..runtime import Runtime
from .checkpoint import PaymentCheckpointer

__all__ = ["register"]


def register(app: faust.App, rt: Runtime, deadletters: Any, delay: Any) -> tuple[Any, PaymentCheckpointer]:
    """Declare the payments topic, its state table and agent on ``app``."""
    s = rt.settings
    topic = app.topic(s.payments_topic, key_type=bytes, value_type=bytes, key_serializer="raw",
                      value_serializer="raw", partitions=s.topic_partitions)
    table = app.Table("payments-state", default=None, partitions=s.topic_partitions, key_type=bytes,
                      value_type=bytes, schema=faust.Schema(key_type=bytes, value_type=bytes,
                                                            key_serializer="raw", value_serializer="raw"))
    checkpointer = PaymentCheckpointer(table, s.payments_topic)
    decode = rt.payment_codec.decode
    letters = PendingDeadLetters(deadletters, rt.worker_id, (rt.payment_codec, rt.seeding_codec))
    every, interval = s.checkpoint_events, s.checkpoint_interval
    observe = delay.labels(topic=s.payments_topic).observe

    @app.agent(topic, name="digindex.payments")
    async def payments(stream: Any) -> None:
        async for event in stream.events():
            msg = event.message
            entry = rt.payments.get(msg.partition)
            if entry is None:  # assigned but not restored yet: restore from the table now
                entry = rt.payments[msg.partition] = checkpointer.restore(
                    table.items(), [msg.partition], rt.new_payment_state)[msg.partition]
            state, meta = entry
            if msg.offset <= state.offset:
                continue  # already part of the restored state
            now = time.time()
            try:
                record = decode(msg.value)
                state.apply(record, msg.offset, message_time_ms(msg, now))
                observe(max(0.0, now - record["occurred_at"] / 1000))
            except EventError as exc:
                state.reject(exc.code, msg.offset)
                await letters.send(exc, msg)
            if checkpoint_due(state.applied_since_checkpoint, meta.last_saved, now, every, interval):
                await letters.delivered()  # never checkpoint past a dead letter the broker may not have
                checkpointer.save(state, meta)
                meta.last_saved = now
                rt.checkpoints[s.payments_topic] += 1

    return table, checkpointer
