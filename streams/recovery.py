"""After every rebalance: restore each owned partition and rewind its source offset.

Faust commits consumed offsets on its own schedule, which may run ahead of our last
checkpoint. So once the tables are recovered (and before Faust seeks the streams to the
committed offsets), every partition we now own is restored (``SignalRunner.open``: snapshot,
deltas, dedupe store, a new epoch) and we commit the offset just after the one its state
covers. Faust then seeks there: events after the checkpoint are replayed and applied once,
events before it are never seen again. Correctness thus never depends on a graceful hand-over.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import faust
from faust.types import TP

from .runtime import Runtime
from .seeding.state import count_account

__all__ = ["install_recovery"]

log = logging.getLogger(__name__)


def install_recovery(app: faust.App, rt: Runtime, accounts_table: Any, watch_table: Any) -> None:
    """Hook the restore into Faust's rebalance (after ``watch_table``'s recovery)."""

    @app.on_partitions_revoked.connect
    async def on_revoked(sender: Any, revoked: set[TP], **kwargs: Any) -> None:
        # stop exporting what we are about to lose; the next recovery rebuilds the rest
        for runner in rt.runners.values():
            runner.revoke()
        rt.accounts.clear()

    async def on_recovered() -> None:
        actives = app.assignor.assigned_actives()
        offsets: dict[TP, int] = {}
        for runner in rt.runners.values():
            topic = runner.signal.topic
            for p in sorted(tp.partition for tp in actives if tp.topic == topic):
                proc = await runner.open(p)
                offsets[TP(topic, p)] = proc.state.offset + 1
        rt.accounts.clear()
        for i, (key, value) in enumerate(accounts_table.items()):
            if value is not None:
                count_account(rt.accounts, key, value)
            if i % 50_000 == 49_999:
                await asyncio.sleep(0)
        for attempt in range(5):
            # Faust answers False (without raising) when the group is rebalancing again; then a
            # new recovery follows anyway, but say so instead of silently skipping events
            if not offsets or await app.consumer._commit(offsets):
                break
            log.warning("rewinding offsets was refused (attempt %d); retrying", attempt + 1)
            await asyncio.sleep(0.2 * (attempt + 1))
        else:
            log.error("could not rewind offsets to the restored checkpoints: %s", offsets)
        for tp, offset in offsets.items():
            # Faust then seeks to the committed offsets, but aiokafka's seek_to_committed skips a
            # committed 0 (``if offset and offset > 0``): a partition restored with no checkpoint
            # would go on from where its previous owner's consumer was. Seek there ourselves.
            await app.consumer.seek(tp, offset)
        rt.rebalances += 1
        log.info("restored %d partitions; rewound to %s", len(offsets),
                 {f"{tp.topic}/{tp.partition}": o for tp, o in offsets.items()})

    watch_table.on_recover(on_recovered)
