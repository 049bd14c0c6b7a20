"""Desks on one Redis bus, for the tests of what desks do to each other (kill switch
across desks, watching desks): a paper desk per broker name, a resting order, waits."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from decimal import Decimal

from silvertine_tui.config import Settings
from silvertine_tui.domain import OrderRequest, OrderStatus, OrderType, Side, TimeInForce
from silvertine_tui.engine import Session
from silvertine_tui.events import LogEvent


def desk_settings(url: str, prefix: str, broker: str, *, ack_ms: int | None = None) -> Settings:
    """`ack_ms`: the paper venue takes an order this long after it is sent."""
    latency = {} if ack_ms is None else {"latency": {"ack_ms": ack_ms, "jitter_ms": 0}}
    return Settings.model_validate(
        {
            "bus": {"url": url, "prefix": prefix},
            "brokers": [
                {
                    "name": broker,
                    "type": "paper",
                    "symbols": ["BTCUSDT"],
                    "market": {"autorun": False},
                    **latency,
                }
            ],
        }
    )


def desk(url: str, prefix: str, broker: str, *, ack_ms: int | None = None) -> Session:
    return Session(desk_settings(url, prefix, broker, ack_ms=ack_ms))


async def resting_buy(session: Session, broker: str) -> str:
    """A limit buy below the market (3% under the paper feed's 65,000, inside the 5%
    price collar): it rests."""
    return await session.engine.submit(
        OrderRequest(
            broker=broker,
            account="main",
            instrument="BTCUSDT.PAPER",
            side=Side.BUY,
            order_type=OrderType.LIMIT,
            quantity=Decimal("0.01"),
            limit_price=Decimal("63000"),
            tif=TimeInForce.GTC,
        )
    )


async def until(check: Callable[[], bool], timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not check():  # noqa: ASYNC110 - the engines apply on their own readers
            await asyncio.sleep(0.02)


async def log_messages(session: Session) -> list[str]:
    entries = await session.bus.read(session.bus.layout.health)
    return [e.event.payload.message for e in entries if isinstance(e.event, LogEvent)]


async def logged_line(session: Session, part: str, timeout: float = 10.0) -> str:
    """The first log line (health stream) holding `part`, once there."""
    async with asyncio.timeout(timeout):
        while True:
            found = [m for m in await log_messages(session) if part in m]
            if found:
                return found[0]
            await asyncio.sleep(0.05)


def status(session: Session, cid: str) -> OrderStatus:
    return session.engine.oms.orders[cid].order.status


async def rest_and_leave(first: Session, broker: str) -> str:
    """`first` (a desk of `broker`, not started) leaves a resting buy (`resting_buy`)
    working at its paper venue and quits (`cancel_on_exit` is off): the next desk of
    `broker` finds it working."""
    await first.start()
    try:
        cid = await resting_buy(first, broker)
        await until(lambda: status(first, cid) is OrderStatus.NEW)
    finally:
        await first.close()
    return cid


async def venue_working(session: Session) -> list[str]:
    """The client order ids the session's first broker's venue holds working."""
    return [o.client_order_id for o in await session.brokers[0].open_orders()]
