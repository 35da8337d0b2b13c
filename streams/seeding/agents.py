"""The seeding agent: each account's latest status in a RocksDB table, coverage counts in memory.

Seeding events are per account and comparatively rare after a bank's first load,
so the account table is written per event (it must survive anyway: it *is* the
state). The partition's offset and outcome counters are checkpointed now and then
in a small table, like payments.
"""

from __future__ import annotations

import json
import time
from typing import Any

import faust

from ..deadletter import dead_letter
from ..errors import EventError
from ..runtime import Runtime
from .state import SeedingPartitionState, account_key

__all__ = ["checkpoint_key", "register", "restore_partition"]


def register(app: faust.App, rt: Runtime, deadletters: Any, delay: Any) -> tuple[Any, Any]:
    """Declare the seeding topic, the accounts and checkpoint tables, and the agent."""
    s = rt.settings
    raw = faust.Schema(key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw")
    topic = app.topic(s.seeding_topic, key_type=bytes, value_type=bytes, key_serializer="raw",
                      value_serializer="raw", partitions=s.topic_partitions)
    accounts = app.Table("seeding-accounts", default=None, partitions=s.topic_partitions,
                         key_type=bytes, value_type=bytes, schema=raw)
    checkpoints = app.Table("seeding-state", default=None, partitions=s.topic_partitions,
                            key_type=bytes, value_type=bytes, schema=raw)
    decode = rt.seeding_codec.decode
    codecs = (rt.seeding_codec, rt.payment_codec)
    every, interval = s.checkpoint_events, s.checkpoint_interval
    observe = delay.labels(topic=s.seeding_topic).observe
    last_saved: dict[int, float] = {}

    @app.agent(topic, name="digindex.seeding")
    async def seeding(stream: Any) -> None:
        async for event in stream.events():
            msg = event.message
            state = rt.seeding.get(msg.partition)
            if state is None:  # assigned but not restored yet: restore from the table now
                state = rt.seeding[msg.partition] = restore_partition(rt, checkpoints, msg.partition)
            if msg.offset <= state.offset:
                continue
            now = time.time()
            try:
                record = decode(msg.value)
                key = account_key(record["bank_code"], record["account_ref"])
                _, value = state.apply(record, msg.offset, int(now * 1000), accounts.get(key))
                if value is not None:
                    accounts[key] = value
                observe(max(0.0, now - record["occurred_at"] / 1000))
            except EventError as exc:
                state.reject(exc.code, msg.offset)
                await deadletters.send(key=msg.key, value=dead_letter(
                    exc, msg.value, msg.topic, msg.partition, msg.offset, rt.worker_id, codecs))
            mono = time.monotonic()
            if state.applied_since_checkpoint >= every or mono - last_saved.get(msg.partition, 0.0) >= interval:
                checkpoints[checkpoint_key(s.seeding_topic, msg.partition)] = json.dumps(state.counters()).encode()
                state.applied_since_checkpoint = 0
                last_saved[msg.partition] = mono
                rt.checkpoints[s.seeding_topic] += 1

    return accounts, checkpoints


def checkpoint_key(topic: str, partition: int) -> bytes:
    return f"{topic}/{partition}".encode()


def restore_partition(rt: Runtime, checkpoints: Any, partition: int) -> SeedingPartitionState:
    """A partition's state with the offset and counters of its last checkpoint (if any)."""
    state = rt.new_seeding_state(partition)
    saved = checkpoints.get(checkpoint_key(rt.settings.seeding_topic, partition))
    if saved:
        state.load_counters(json.loads(saved))
    return state
