"""A bounded memory of ids already applied."""

from __future__ import annotations

from collections import deque


class SeenIds:
    """Remembers the last `capacity` ids. Duplicates from the bus are re-sends of recent
    events (a batch re-sent after a lost reply), so a window is enough; the journal's
    stream ids protect the rest."""

    __slots__ = ("_capacity", "_order", "_set")

    def __init__(self, capacity: int = 200_000) -> None:
        self._capacity = capacity
        self._set: set[str] = set()
        self._order: deque[str] = deque()

    def add(self, key: str) -> bool:
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
