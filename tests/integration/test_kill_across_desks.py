"""The kill switch pulled on one desk cancels the working orders of every desk on the
bus: each desk drives its own brokers (engine/claims.py), so each cancels its own on
any desk's KILL (`TradingEngine.honour_kill`). On a real Redis, a bus per desk."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from decimal import Decimal

import pytest

from silvertine_tui.config import Settings
from silvertine_tui.domain import (
    OrderRequest,
    OrderStatus,
    OrderType,
    Side,
    TimeInForce,
    TradingState,
)
from silvertine_tui.engine import Session
from silvertine_tui.events import LogEvent
from tests.support.redis_server import RedisServer

pytestmark = pytest.mark.redis


def desk(url: str, prefix: str, broker: str) -> Session:
    return Session(
        Settings.model_validate(
            {
                "bus": {"url": url, "prefix": prefix},
                "brokers": [
                    {
                        "name": broker,
                        "type": "paper",
                        "symbols": ["BTCUSDT"],
                        "market": {"autorun": False},
                    }
                ],
            }
        )
    )


async def resting_buy(session: Session, broker: str) -> str:
    """A limit buy far below the market: it rests."""
    return await session.engine.submit(
        OrderRequest(
            broker=broker,
            account="main",
            instrument="BTCUSDT.PAPER",
            side=Side.BUY,
            order_type=OrderType.LIMIT,
            quantity=Decimal("0.01"),
            limit_price=Decimal("50000"),
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


async def test_a_kill_on_one_desk_cancels_every_desks_working_orders(
    redis_server: RedisServer, key_prefix: str
) -> None:
    a = desk(redis_server.url, key_prefix, "paper")
    b = desk(redis_server.url, key_prefix, "paper2")
    await a.start()
    await b.start()
    try:
        on_a = await resting_buy(a, "paper")
        on_b = await resting_buy(b, "paper2")
        await until(lambda: status(a, on_a) is OrderStatus.NEW)
        await until(lambda: status(b, on_b) is OrderStatus.NEW)

        report = await b.engine.kill("drill on desk B")
        assert report.cancelled == (on_b,)  # what desk B drives
        # Desk A reads the KILL, halts and cancels what it drives.
        await until(lambda: status(a, on_a) is OrderStatus.CANCELED)
        assert a.engine.gate.state is TradingState.HALTED
        # And says so in the log every desk reads, naming itself.
        name_a = f"desk {a.claims.desk.host} pid {a.claims.desk.pid}"
        line = await logged_line(a, "after a kill switch on another desk (drill on desk B)")
        assert line == (
            f"{name_a}, after a kill switch on another desk (drill on desk B): Trading HALTED; "
            "cancelled 1 order(s)."
        )
        # Desk B's own KILL, read back, is not acted on there: no second such line.
        risk = b.bus.layout.risk
        kill_id = (await b.bus.read_last(risk, 1))[0].id
        await until(lambda: b.engine.applied.get(risk) == kill_id)
        await until(lambda: a.engine.applied.get(risk) == kill_id)
        await asyncio.sleep(0.3)
        after = [m for m in await log_messages(b) if "after a kill switch on another desk" in m]
        assert after == [line]  # desk A's alone

        # A RESUME on desk A (not the desk that killed) lifts HALTED on both.
        await a.engine.resume()
        await until(lambda: b.engine.gate.state is TradingState.ACTIVE)
        assert a.engine.gate.state is TradingState.ACTIVE
        # The other way round: killed on A, resumed on B.
        await a.engine.kill("drill on desk A")
        await until(lambda: b.engine.gate.state is TradingState.HALTED)
        await until(lambda: a.engine.applied.get(risk) == b.engine.applied.get(risk))
        await b.engine.resume()
        await until(lambda: a.engine.gate.state is TradingState.ACTIVE)
        again = await resting_buy(a, "paper")
        await until(lambda: status(a, again) is OrderStatus.NEW)
    finally:
        await a.close()
        await b.close()

    # A restart of desk A replays the old KILL without acting on it: the order it left
    # working stays working.
    restarted = desk(redis_server.url, key_prefix, "paper")
    await restarted.start()
    try:
        await asyncio.sleep(0.5)
        assert status(restarted, again) is OrderStatus.NEW
        assert restarted.engine.kill_from_elsewhere == ""
        assert restarted.engine.gate.state is TradingState.ACTIVE
    finally:
        await restarted.close()


async def test_orders_sent_while_another_desks_kill_is_honoured_are_not_cancelled_by_it(
    redis_server: RedisServer, key_prefix: str
) -> None:
    """`cancel_everywhere(exclude=...)`: what the engine records as sent while it honours
    another desk's kill (a RESUME read meanwhile) is left working; the rest goes."""
    from silvertine_tui.engine.cancels import cancel_everywhere

    a = desk(redis_server.url, key_prefix, "paper")
    await a.start()
    try:
        before = await resting_buy(a, "paper")
        after = await resting_buy(a, "paper")
        await until(lambda: status(a, before) is OrderStatus.NEW)
        await until(lambda: status(a, after) is OrderStatus.NEW)
        engine = a.engine
        report = await cancel_everywhere(
            engine.brokers.values(), engine.oms, delays=(), exclude={after}
        )
        assert report.cancelled == (before,)
        await until(lambda: status(a, before) is OrderStatus.CANCELED)
        assert status(a, after) is OrderStatus.NEW
        # What the engine records while it honours a kill: ids sent meanwhile.
        engine._honouring += 1
        try:
            meanwhile = await resting_buy(a, "paper")
            assert meanwhile in engine._sent_while_honouring
        finally:
            engine._honouring -= 1
    finally:
        await a.close()
