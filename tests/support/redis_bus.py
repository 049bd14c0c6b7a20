"""A Redis bus on a test's own `redis-server`, under the test's key prefix, closed at
the end: the second desk, the watcher or the raw reader a test opens beside a session."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from silvertine_tui.bus import BusOptions
from silvertine_tui.bus.redis_streams import RedisBus
from tests.support.redis_server import RedisServer


@contextlib.asynccontextmanager
async def a_bus(server: RedisServer, key_prefix: str) -> AsyncIterator[RedisBus]:
    bus = RedisBus(server.url, BusOptions(prefix=key_prefix, block_ms=100, epoch_check_s=0.2))
    await bus.start()
    try:
        yield bus
    finally:
        await bus.close()
