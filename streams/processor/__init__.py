"""The shared partition processor: what every signal (payments, seeding, ...) runs on.

``loop`` (the per-partition loop: skip by offset, decode, judge, apply or refuse, checkpoint
when due), ``checkpoint`` (when state is made durable: its own clock and counts), ``outbox``
(dead letters written with the checkpoint that covers them, delivered right after), ``dedupe``
(event ids within the horizon, on disk), ``kv`` (one partition of a changelog-backed store),
``signal`` (the protocol a signal's state and store implement).
"""
