"""After every rebalance: rebuild in-memory state from the tables and rewind source offsets.

Faust commits consumed offsets on its own schedule, which may run ahead of our
last checkpoint. So once the tables are recovered (and before Faust seeks the
streams to the committed offsets), we commit, for every partition we now own, the
offset just after the one our restored state covers. Faust then seeks there:
events after the checkpoint are replayed and applied once, events before it are
never seen again. Correctness thus never depends on a graceful hand-over.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import faust
from faust.types import TP

from .payments.checkpoint import PaymentCheckpointer
from .runtime import Runtime
from .seeding.agents import restore_partition
from .seeding.state import count_account

__all__ = ["install_recovery"]

log = logging.getLogger(__name__)


def install_recovery(app: faust.App, rt: Runtime, payments_table: Any, checkpointer: PaymentCheckpointer,
                     accounts_table: Any) -> None:
    s = rt.settings

    @app.on_partitions_revoked.connect
    async def on_revoked(sender: Any, revoked: set[TP], **kwargs: Any) -> None:
        # stop exporting what we are about to lose; the next recovery rebuilds the rest
        rt.payments.clear()
        rt.seeding.clear()
        rt.accounts.clear()

    async def on_recovered() -> None:
        actives = app.assignor.assigned_actives()
        pay = sorted(tp.partition for tp in actives if tp.topic == s.payments_topic)
        seed = sorted(tp.partition for tp in actives if tp.topic == s.seeding_topic)
        rt.payments = dict(checkpointer.restore(payments_table.items(), pay, rt.new_payment_state))
        rt.seeding = {p: restore_partition(rt, accounts_table, p) for p in seed}
        rt.accounts.clear()
        for i, (key, value) in enumerate(accounts_table.items()):
            if value is not None:
                count_account(rt.accounts, key, value)
            if i % 50_000 == 49_999:
                await asyncio.sleep(0)
        offsets = {TP(s.payments_topic, p): st.offset + 1 for p, (st, _) in rt.payments.items()}
        offsets.update({TP(s.seeding_topic, p): st.offset + 1 for p, st in rt.seeding.items()})
        for attempt in range(5):
            # Faust answers False (without raising) when the group is rebalancing again; then a
            # new recovery follows anyway, but say so instead of silently skipping events
            if not offsets or await app.consumer._commit(offsets):
                break
            log.warning("rewinding offsets was refused (attempt %d); retrying", attempt + 1)
            await asyncio.sleep(0.2 * (attempt + 1))
        else:
            log.error("could not rewind offsets to the restored checkpoints: %s", offsets)
        rt.rebalances += 1
        log.info("restored %d payment and %d seeding partitions; rewound to %s",
                 len(pay), len(seed), {f"{tp.topic}/{tp.partition}": o for tp, o in offsets.items()})

    payments_table.on_recover(on_recovered)
