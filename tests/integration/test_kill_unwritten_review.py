"""A code review's cases against the carry of a KILL never journaled
(`LastRun.state_unwritten`) and the kill's owed cancels (`LastRun.kill_owed`), on a real
Redis with an AOF:

- two desks of one host share one record: the other desk's write (its close) took the
  carried KILL away, and the killed desk's next start came up ACTIVE;
- an older KILL, resumed, in the stream: a kill pulled with Redis down and the venue away
  was owed to that old entry, and the next start dropped it as "set since";
- a market buy held in its journal write by a stalled Redis as the kill switch was
  pulled went to the venue after HALTED and filled (`Broker.send_guard`)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest

from silvertine_tui.brokers import OrderRejected
from silvertine_tui.brokers.paper import PaperBroker
from silvertine_tui.bus.redis_streams import RedisBus
from silvertine_tui.config import PaperBrokerConfig, Settings
from silvertine_tui.domain import (
    OrderRequest,
    OrderStatus,
    OrderType,
    Side,
    TimeInForce,
    TradingState,
)
from silvertine_tui.engine import Session
from silvertine_tui.engine.last_run import read
from tests.support.desks import resting_buy, until, venue_working
from tests.support.redis_bus import a_bus
from tests.support.redis_server import RedisServer

pytestmark = pytest.mark.redis

SHORT = {"claim_ttl_s": 1.0}


@contextlib.asynccontextmanager
async def named_desk(bus: RedisBus, name: str) -> AsyncIterator[Session]:
    paper = PaperBrokerConfig(
        name=name,
        account="main",
        seed=7,
        symbols=["BTCUSDT"],
        market={"autorun": False},
        latency={"ack_ms": 10, "fill_ms": 1, "cancel_ms": 1, "jitter_ms": 0},
    )
    session = Session(Settings.model_validate({"brokers": [paper], "engine": SHORT}), bus=bus)
    await session.start()
    try:
        yield session
    finally:
        await session.close()


def desk(url: str, prefix: str, **bus: Any) -> Session:
    return Session(
        Settings.model_validate(
            {
                "bus": {"url": url, "prefix": prefix, **bus},
                "engine": SHORT,
                "brokers": [
                    {
                        "name": "paper",
                        "type": "paper",
                        "symbols": ["BTCUSDT"],
                        "market": {"autorun": False},
                        "latency": {"ack_ms": 0, "fill_ms": 0, "jitter_ms": 0},
                    }
                ],
            }
        )
    )


def shows(session: Session, cid: str, wanted: OrderStatus) -> bool:
    """The desk shows `cid` at `wanted` (it may not have read the order back yet)."""
    view = session.engine.oms.get(cid)
    return view is not None and view.order.status is wanted


async def test_another_desk_s_write_keeps_the_kill_this_desk_never_journaled(
    key_prefix: str,
) -> None:
    with RedisServer(persistence=True) as server:
        async with a_bus(server, key_prefix) as bus_b, named_desk(bus_b, "pb") as b:
            async with a_bus(server, key_prefix) as bus_a, named_desk(bus_a, "pa") as a:
                cid = await resting_buy(a, "pa")
                await until(lambda: shows(a, cid, OrderStatus.NEW))
                await asyncio.sleep(0.3)  # journaled
                await server.akill()
                await until(lambda: not bus_a.stats.connected)
                await a.engine.kill("kill switch (UI)")
                assert a.engine.state_unwritten is not None
            await server.arestart()
            await until(lambda: bus_b.stats.connected)
        # b's close wrote the record last: a's KILL is still in it, for a's start only.
        record = read(b.last_run.path)
        assert record is not None
        assert record.state_unwritten is not None
        assert record.state_unwritten.brokers == ("pa",)
        await asyncio.sleep(1.2)  # the claims lapse
        async with a_bus(server, key_prefix) as bus_b, named_desk(bus_b, "pb") as b2:
            await asyncio.sleep(0.5)
            assert b2.engine.gate.state is TradingState.ACTIVE  # not b's to carry
        async with a_bus(server, key_prefix) as bus_a, named_desk(bus_a, "pa") as a2:
            assert a2.engine.gate.state is TradingState.HALTED
            await until(lambda: shows(a2, cid, OrderStatus.CANCELED))


async def test_a_kill_owed_while_an_older_kill_stands_in_the_stream_is_carried(
    key_prefix: str,
) -> None:
    with RedisServer(persistence=True) as server:
        old = desk(server.url, key_prefix)
        await old.start()
        try:
            await old.engine.kill("an old drill")
            await old.engine.resume()
        finally:
            await old.close()
        await asyncio.sleep(1.2)
        a = desk(server.url, key_prefix)
        await a.start()
        try:
            assert a.engine.kill_entry  # the old KILL, replayed
            cid = await resting_buy(a, "paper")
            await until(lambda: shows(a, cid, OrderStatus.NEW))
            await asyncio.sleep(0.3)
            await a.engine.brokers["paper"].drop_link()  # type: ignore[attr-defined]
            await server.akill()
            await until(lambda: not a.bus.stats.connected)
            report = await a.engine.kill("kill switch (UI)")
            assert cid in report.cancels.still_working
            await asyncio.sleep(1.3)
            record = read(a.last_run.path)
            assert record is not None
            assert record.kill_owed == {}  # owed to a KILL never journaled: carried whole
            assert record.state_unwritten is not None
        finally:
            await a.close()
        await server.arestart()
        await asyncio.sleep(1.2)
        again = desk(server.url, key_prefix)
        await again.start()
        try:
            assert again.engine.gate.state is TradingState.HALTED
            await until(lambda: shows(again, cid, OrderStatus.CANCELED))
            assert await venue_working(again) == []
        finally:
            await again.close()


async def test_an_order_held_in_its_journal_write_as_the_kill_is_pulled_is_not_sent(
    key_prefix: str,
) -> None:
    with RedisServer() as server:
        session = desk(server.url, key_prefix)
        session.settings.engine.claim_ttl_s = 60.0
        await session.start()
        [paper] = session.brokers
        assert isinstance(paper, PaperBroker)
        pid = server.pid
        assert pid is not None
        market_buy = OrderRequest(
            broker="paper",
            account="main",
            instrument="BTCUSDT.PAPER",
            side=Side.BUY,
            order_type=OrderType.MARKET,
            quantity=Decimal("0.01"),
            tif=TimeInForce.IOC,
        )
        os.kill(pid, signal.SIGSTOP)
        try:
            sent = asyncio.create_task(session.engine.submit(market_buy))
            await asyncio.sleep(0.05)  # in its journal write
            kill = asyncio.create_task(session.engine.kill("kill switch (UI)"))
            with pytest.raises(OrderRejected, match=r"^not sent: trading is HALTED"):
                await asyncio.wait_for(sent, 30)
            await asyncio.wait_for(kill, 60)
            assert paper.venue.fills_since() == []
        finally:
            os.kill(pid, signal.SIGCONT)
            await asyncio.wait_for(session.close(), 30)
