"""A kill switch (or REDUCE ONLY) pulled on one desk while another desk starts: the
starting desk replays it with the risk stream, but it came after that desk opened the
bus, so once its brokers are connected and reconciled it acts on it as a desk that
read it live does (`TradingEngine.live_risk_after`, `Session._honour_pending`). On a
real Redis, a bus per desk."""

from __future__ import annotations

import asyncio

import pytest

from silvertine_tui.config import Settings
from silvertine_tui.domain import (
    OrderStatus,
    TradingState,
)
from silvertine_tui.engine import Session
from tests.support.desks import logged_line, rest_and_leave, status, until, venue_working
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
                # A short ttl: claims left by a desk that quit lapse soon.
                "engine": {"claim_ttl_s": 1.0},
            }
        )
    )


async def test_a_kill_pulled_while_a_desk_starts_cancels_its_orders_once_it_is_up(
    redis_server: RedisServer, key_prefix: str
) -> None:
    url = redis_server.url
    cid = await rest_and_leave(desk(url, key_prefix, "paper"), "paper")
    b = desk(url, key_prefix, "paper2")
    await b.start()
    a = desk(url, key_prefix, "paper")
    try:
        await a.open()  # desk A is starting: bus open, brokers claimed
        report = await b.engine.kill("drill on desk B while desk A starts")
        assert report.cancelled == ()  # desk B drives nothing working
        await a.start()  # replays the KILL with the risk stream
        assert a.engine.gate.state is TradingState.HALTED
        # Acted on as one read live: desk A cancels what it drives, and says so.
        await until(lambda: status(a, cid) is OrderStatus.CANCELED)
        assert await venue_working(a) == []
        name_a = f"desk {a.claims.desk.host} pid {a.claims.desk.pid}"
        line = await logged_line(a, f"{name_a}, after a kill switch on another desk")
        assert "drill on desk B while desk A starts" in line
        assert line.endswith("Trading HALTED; cancelled 1 order(s).")
        assert a.engine.kill_from_elsewhere == ""
    finally:
        await a.close()
        await b.close()


async def test_a_kill_journaled_before_a_desk_opens_is_acted_on_once_it_is_up(
    redis_server: RedisServer, key_prefix: str
) -> None:
    """The other side of the line: a KILL already in the risk stream when the desk
    opened the bus was pulled while the desk was down (it never read it: its brokers
    were not heard from after it). Still the trading state, it is honoured once the
    brokers are up, as a running desk does, and said (`Session._state_while_down`).
    Before, HALTED held and the order left working stayed working at the venue, with
    no word of it (tests/integration/test_kill_while_desk_down.py has the rest)."""
    url = redis_server.url
    cid = await rest_and_leave(desk(url, key_prefix, "paper"), "paper")
    b = desk(url, key_prefix, "paper2")
    await b.start()
    a = desk(url, key_prefix, "paper")
    try:
        await b.engine.kill("drill on desk B before desk A starts")
        await a.start()
        assert a.engine.gate.state is TradingState.HALTED
        await until(lambda: status(a, cid) is OrderStatus.CANCELED)
        assert await venue_working(a) == []
        line = await logged_line(a, "while this desk was down")
        assert "cancelled 1 order(s)" in line, line
    finally:
        await a.close()
        await b.close()


async def test_reduce_only_set_while_a_desk_starts_cancels_its_adding_orders_once_it_is_up(
    redis_server: RedisServer, key_prefix: str
) -> None:
    url = redis_server.url
    cid = await rest_and_leave(
        desk(url, key_prefix, "paper"), "paper"
    )  # a buy, the position flat: adds
    b = desk(url, key_prefix, "paper2")
    await b.start()
    a = desk(url, key_prefix, "paper")
    try:
        await a.open()
        await b.engine.set_trading_state(TradingState.REDUCE_ONLY)
        await a.start()
        assert a.engine.gate.state is TradingState.REDUCE_ONLY
        await until(lambda: status(a, cid) is OrderStatus.CANCELED)
        assert await venue_working(a) == []
        line = await logged_line(a, "after REDUCE ONLY on another desk")
        assert line.startswith(f"desk {a.claims.desk.host} pid {a.claims.desk.pid}, ")
    finally:
        await a.close()
        await b.close()


async def test_reduce_only_lifted_while_a_desk_starts_cancels_nothing_there(
    redis_server: RedisServer, key_prefix: str
) -> None:
    """REDUCE ONLY then ACTIVE from another desk while this one starts: the pending
    REDUCE ONLY was acted on once the desk was up, under ACTIVE, and cancelled its
    resting buy (found by the review of the change above)."""
    url = redis_server.url
    cid = await rest_and_leave(desk(url, key_prefix, "paper"), "paper")
    other = desk(url, key_prefix, "paper2")
    await other.start()
    starting = desk(url, key_prefix, "paper")
    try:
        await starting.open()
        await other.engine.set_trading_state(TradingState.REDUCE_ONLY)
        await other.engine.set_trading_state(TradingState.ACTIVE)
        await starting.start()
        assert starting.engine.gate.state is TradingState.ACTIVE
        await asyncio.sleep(1.0)  # what `_honour_pending` would have cancelled by now
        assert status(starting, cid) is OrderStatus.NEW
        assert cid in await venue_working(starting)
    finally:
        await starting.close()
        await other.close()
