"""The Faust agent of a signal: hands each message of its topic to the partition's processor.

A timer checkpoints partitions that went quiet, so their last events and dead letters do not
wait for the next event.
"""

from __future__ import annotations

from typing import Any

import faust

from .runner import SignalRunner

__all__ = ["register_agent"]


def register_agent(app: faust.App, runner: SignalRunner, topic: Any) -> Any:
    """Declare the agent consuming ``topic`` for ``runner``'s signal."""

    @app.agent(topic, name=f"digindex.{runner.signal.name}")
    async def agent(stream: Any) -> None:
        processors = runner.processors
        async for event in stream.events():
            msg = event.message
            proc = processors.get(msg.partition)
            if proc is None:  # assigned but not restored yet: restore now
                proc = await runner.open(msg.partition)
            await proc.process(msg.offset, msg.key, msg.value, msg.headers)

    @app.timer(interval=max(0.1, runner.interval / 2))
    async def checkpoint_idle_partitions() -> None:
        # a partition that went quiet still gets its last events (and their dead letters) checkpointed
        now = runner.clock()
        for proc in list(runner.processors.values()):
            await proc.save_if_idle(now)

    return agent
