"""Message key and partition per district, computed once per district instead of once per record.

Events are keyed by district (``district_key``). kafka-python's default
partitioner costs a few microseconds per record (a sort, a list, a pure-Python
murmur2), a large share of the per-record budget, for an answer that only
changes when the topic's partition count does. We compute the same answer,
``murmur2(key) & 0x7fffffff`` modulo the partition count over the sorted
partitions (Kafka's and kafka-python's rule, so every other producer and the
worker agree), cache it per district, and forget the cache at every segment so a
topic that grows is noticed within one segment.
"""

from __future__ import annotations

from typing import Any

from ..producer import district_key
from ..topics import default_partition

__all__ = ["DistrictRouter", "default_partition"]


class DistrictRouter:
    """``route(lgd) -> (key, partition)`` for one topic of one producer."""

    def __init__(self, producer: Any, topic: str) -> None:
        self._producer = producer
        self._topic = topic
        self._routes: dict[int, tuple[bytes, int]] = {}

    def route(self, lgd: int) -> tuple[bytes, int]:
        key = district_key(lgd)
        route = self._routes[lgd] = (key, default_partition(key, list(self._producer.partitions_for(self._topic))))
        return route

    @property
    def cache(self) -> dict[int, tuple[bytes, int]]:
        """The live cache, for the hot loop to read without a method call."""
        return self._routes

    def forget(self) -> None:
        """Recompute partitions from current metadata from now on."""
        self._routes.clear()
