"""Event ids: unique across processes and ordered by time within one."""

from __future__ import annotations

import os
import secrets
import threading
import time
from collections.abc import Callable

Clock = Callable[[], int]
"""Returns nanoseconds since the epoch; injected for deterministic tests."""


class EventIdFactory:
    """Mints ids as 16 hex digits of a strictly increasing ns counter + 8 of node.

    Ids sort by time as strings. The node part is random per factory, so two
    processes never mint the same id.
    """

    __slots__ = ("_clock", "_last", "_lock", "_node")

    def __init__(self, clock: Clock = time.time_ns, node: int | None = None) -> None:
        self._clock = clock
        self._last = 0
        self._node = f"{(secrets.randbits(32) if node is None else node) & 0xFFFFFFFF:08x}"
        self._lock = threading.Lock()

    def next(self) -> tuple[str, int]:
        """Return (event_id, ts_ns)."""
        with self._lock:
            now = self._clock()
            stamp = now if now > self._last else self._last + 1
            self._last = stamp
        return f"{stamp:016x}{self._node}", now


_default = EventIdFactory()


def _reset_after_fork() -> None:
    global _default
    _default = EventIdFactory()


os.register_at_fork(after_in_child=_reset_after_fork)


def next_event_id() -> tuple[str, int]:
    return _default.next()
