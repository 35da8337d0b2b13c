"""The seeding agent: each account's latest status in a RocksDB table, coverage counts in memory.

Seeding events are per account and comparatively rare after a bank's first load,
so the account table is written per event (it must survive anyway: it *is* the
state). The partition's offset and outcome counters are checkpointed now and then
under a reserved key of the same table, so a checkpoint and the account writes it
covers go to one changelog partition, in order.
"""

from __future__ import annotations

import json
import time
from typing import Any

import faust

from ..agent_steps import checkpoint_due, message_time_ms
from ..deadletter import PendingDeadLetters
from ..errors import EventError
from ..runtime import Runtime
from .state import RESERVED_PREFIX, SeedingPartitionState, account_key

__all__ = ["checkpoint_key", "register", "restore_partition"]


def checkpoint_key(topic: str, partition: int) -> bytes:
    return RESERVED_PREFIX + f"checkpoint/{topic}/{partition}".encode()


def restore_partition(rt: Runtime, accounts: Any, partition: int) -> SeedingPartitionState:
    """A partition's state with the offset and counters of its last checkpoint (if any)."""
    state = rt.new_seeding_state(partition)
    saved = accounts.get(checkpoint_key(rt.settings.seeding_topic, partition))
    if saved:
        state.load_counters(json.loads(saved))
    return state


def register(app: faust.App, rt: Runtime, deadletters: Any, delay: Any) -> Any:
    """Declare the seeding topic, the accounts table and the agent; returns the table."""
    s = rt.settings
    raw = faust.Schema(key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw")
    topic = app.topic(s.seeding_topic, key_type=bytes, value_type=bytes, key_serializer="raw",
                      value_serializer="raw", partitions=s.topic_partitions)
    accounts = app.Table("seeding-accounts", default=None, partitions=s.topic_partitions,
                         key_type=bytes, value_type=bytes, schema=raw)
    decode = rt.seeding_codec.decode
    letters = PendingDeadLetters(deadletters, rt.worker_id, (rt.seeding_codec, rt.payment_codec))
    every, interval = s.checkpoint_events, s.checkpoint_interval
    observe = delay.labels(topic=s.seeding_topic).observe

    @app.agent(topic, name="digindex.seeding")
    async def seeding(stream: Any) -> None:
        async for event in stream.events():
            msg = event.message
            state = rt.seeding.get(msg.partition)
            if state is None:  # assigned but not restored yet: restore from the table now
                state = rt.seeding[msg.partition] = restore_partition(rt, accounts, msg.partition)
            if msg.offset <= state.offset:
                continue
            now = time.time()
            try:
                record = decode(msg.value)
                key = account_key(record["bank_code"], record["account_ref"])
                _, value = state.apply(record, msg.offset, message_time_ms(msg, now), accounts.get(key))
                if value is not None:
                    accounts[key] = value
                observe(max(0.0, now - record["occurred_at"] / 1000))
            except EventError as exc:
                state.reject(exc.code, msg.offset)
                await letters.send(exc, msg)
            if checkpoint_due(state.applied_since_checkpoint, state.last_saved, now, every, interval):
                await letters.delivered()  # never checkpoint past a dead letter the broker may not have
                accounts[checkpoint_key(s.seeding_topic, msg.partition)] = json.dumps(state.counters()).encode()
                state.applied_since_checkpoint = 0
                state.last_saved = now
                rt.checkpoints[s.seeding_topic] += 1

    return accounts

