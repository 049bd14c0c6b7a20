"""An evicted order's history read back from a Redis journal (a real redis-server)."""

from __future__ import annotations

from silvertine_tui.bus import BusOptions
from silvertine_tui.bus.redis_streams import RedisBus
from tests.support.redis_server import RedisServer
from tests.unit.test_order_history_journal import check_history_from_the_journal


async def test_an_evicted_orders_history_is_read_from_a_redis_journal(
    redis_server: RedisServer, key_prefix: str
) -> None:
    bus = RedisBus(redis_server.url, BusOptions(prefix=key_prefix))
    await bus.start()
    try:
        await check_history_from_the_journal(bus)
    finally:
        await bus.close()
