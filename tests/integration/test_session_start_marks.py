"""The quotes the brokers publish as they connect are the engine's marks from the
moment orders are taken. The engine's reader followed market data from `$`, resolved
after the brokers connected: positions had no mark and the price collar judged nothing
until each instrument's next quote (minutes on a quiet one)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from silvertine_tui.bus import BusOptions, create_bus
from silvertine_tui.domain import OrderRequest, OrderType, Side
from tests.support.paper_session import paper_broker, paper_session
from tests.support.redis_server import RedisServer


@pytest.mark.parametrize("backend", ["memory", pytest.param("redis", marks=pytest.mark.redis)])
async def test_the_marks_of_the_connect_are_taken_before_orders_are(
    backend: str, request: pytest.FixtureRequest, key_prefix: str
) -> None:
    if backend == "memory":
        bus = create_bus("memory://")
    else:
        server: RedisServer = request.getfixturevalue("redis_server")
        bus = create_bus(server.url, BusOptions(prefix=key_prefix, block_ms=100))
    async with paper_session(bus, ack_s=0.001) as session:
        mid = paper_broker(session).venue.mid("BTCUSDT.PAPER")
        assert mid is not None
        assert session.ready
        assert session.engine.last_price("BTCUSDT.PAPER") == mid
        assert session.engine.mark_basis("BTCUSDT.PAPER") == "mid"
        far = OrderRequest(
            broker="paper",
            account="main",
            instrument="BTCUSDT.PAPER",
            side=Side.BUY,
            order_type=OrderType.LIMIT,
            quantity=Decimal("0.01"),
            limit_price=(mid * Decimal("1.5")).quantize(Decimal("0.01")),
        )
        rules = [v.rule for v in session.engine.gate.check(far, session.engine)]
        assert rules == ["price_collar"]
