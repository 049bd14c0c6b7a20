"""A desk that quit with execution events Redis never took (exit code 7) leaves that in
its last-run record, and the next start on that bus says it once (a toast and a Log
line, with the fills among them and the brokers), then clears it.

Before, the next start silently showed a position one fill short, and the fill was
gone with no notice anywhere but the previous run's terminal."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

from silvertine_tui.bus.redis_streams import RedisBus
from silvertine_tui.domain import OrderRequest, OrderType, Side, TimeInForce
from silvertine_tui.engine import Session
from silvertine_tui.events import LogEvent
from tests.support.paper_session import paper_broker, paper_session
from tests.support.redis_bus import a_bus
from tests.support.redis_server import RedisServer
from tests.support.waiting import until

pytestmark = pytest.mark.redis

UNJOURNALED_ALERT = "Last run: events NOT journaled"

SHORT = {"claim_ttl_s": 1.0}
"""The first desk's claim, not released with Redis down, lapses before the next start."""


def market_buy() -> OrderRequest:
    return OrderRequest(
        broker="paper",
        account="main",
        instrument="BTCUSDT.PAPER",
        side=Side.BUY,
        order_type=OrderType.MARKET,
        quantity=Decimal("0.01"),
        tif=TimeInForce.IOC,
    )


async def told(session: Session) -> list[str]:
    return [a.message for a in session.alerts if a.title == UNJOURNALED_ALERT]


async def log_lines(bus: RedisBus) -> list[str]:
    entries = await bus.read(bus.layout.health)
    return [e.event.payload.message for e in entries if isinstance(e.event, LogEvent)]


async def test_the_next_start_says_once_what_the_last_run_closed_with_unjournaled(
    key_prefix: str,
) -> None:
    with RedisServer(persistence=True) as server:
        async with (
            a_bus(server, key_prefix) as bus,
            paper_session(bus, ack_s=0.01, engine=SHORT) as first,
        ):
            await server.akill()
            await until(lambda: not bus.stats.connected, what="the bus down")
            await first.engine.submit(market_buy())
            venue = paper_broker(first).venue
            await until(lambda: len(venue.fills_since()) == 1, what="the fill")
        events = first.bus.stats.closed_unwritten
        assert events >= 5, first.bus.stats  # request, updates, the fill, position...
        assert first.not_journaled, "the close said nothing"

        await server.arestart()
        await asyncio.sleep(1.2)  # its claim lapses (the ttl)
        async with (
            a_bus(server, key_prefix) as bus,
            paper_session(bus, ack_s=0.01, engine=SHORT) as second,
        ):
            alerts = await told(second)
            assert len(alerts) == 1, [(a.title, a.message) for a in second.alerts]
            said = alerts[0]
            assert said.startswith("The last run on this bus (closed "), said
            assert (
                f"closed with {events} execution events NOT journaled (1 fill) on paper/main"
                in said
            ), said
            assert "paper/main is a simulator: what it did then is lost" in said, said
            lines = await log_lines(bus)
            assert [line for line in lines if line.startswith(said.rstrip("."))], lines

        # Told once: the record the second run wrote no longer carries it.
        async with (
            a_bus(server, key_prefix) as bus,
            paper_session(bus, ack_s=0.01, engine=SHORT) as third,
        ):
            assert await told(third) == []


async def test_a_clean_close_leaves_nothing_to_tell(key_prefix: str) -> None:
    with RedisServer(persistence=True) as server:
        async with (
            a_bus(server, key_prefix) as bus,
            paper_session(bus, ack_s=0.01, engine=SHORT) as first,
        ):
            await first.engine.submit(market_buy())
            venue = paper_broker(first).venue
            await until(lambda: len(venue.fills_since()) == 1, what="the fill")
        assert first.not_journaled == ""
        async with (
            a_bus(server, key_prefix) as bus,
            paper_session(bus, ack_s=0.01, engine=SHORT) as second,
        ):
            assert await told(second) == []
