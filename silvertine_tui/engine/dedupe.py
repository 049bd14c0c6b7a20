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
        if key in self._set:
            return False
        self._set.add(key)
        self._order.append(key)
        if len(self._order) > self._capacity:
            self._set.discard(self._order.popleft())
        return True

    def __contains__(self, key: object) -> bool:
        return key in self._set

    def __len__(self) -> int:
        return len(self._set)
