"""A bounded memory of what was seen already: ids applied, bad entries told, sends
remembered. Every layer keeps one (the bus, the engine, the UI), so it lives here."""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)


class SeenIds(Generic[K]):
    """Remembers the last `capacity` keys. Duplicates from the bus are re-sends of recent
    events (a batch re-sent after a lost reply), so a window is enough; the journal's
    stream ids protect the rest."""

    __slots__ = ("_capacity", "_order", "_set")

    def __init__(self, capacity: int = 200_000) -> None:
        self._capacity = capacity
        self._set: set[K] = set()
        self._order: deque[K] = deque()

    def add(self, key: K) -> bool:
        """Record `key`; False if it was already there."""
        seen = self._set
        if key in seen:
            return False
        seen.add(key)
        order = self._order
        order.append(key)
        if len(order) > self._capacity:
            seen.discard(order.popleft())
        return True

    def __contains__(self, key: object) -> bool:
        return key in self._set

    def __len__(self) -> int:
        return len(self._set)
