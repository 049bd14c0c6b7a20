"""Choose a bus backend by URL."""

from __future__ import annotations

from .base import BusOptions, EventBus
from .memory import MemoryBus

SCHEMES = ("memory://", "redis://", "rediss://", "unix://")


def create_bus(
    url: str, options: BusOptions | None = None, *, password: str | None = None
) -> EventBus:
    """`memory://` is the embedded default; `redis://`, `rediss://`, `unix://` use Redis."""
    if url.startswith("memory://"):
        return MemoryBus(options)
    if url.startswith(("redis://", "rediss://", "unix://")):
        from .redis_streams import RedisBus

        return RedisBus(url, options, password=password)
    raise ValueError(f"bus url {url!r}: unsupported scheme; use one of {', '.join(SCHEMES)}")
