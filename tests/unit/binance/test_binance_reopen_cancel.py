"""The overfill drill on the Binance fake, to its end: `c` on the re-opened order.

o1 (BUY 1.0 ETHUSDT @ 1,990) rests; one executionReport TRADE for it says 5 filled,
FILLED. The desk ends it FILLED (the 5 held as an overfill); Binance still lists it NEW
(the fake's order never traded). After a reconnect the reconcile asks Binance again,
finds it open and re-opens it (`engine/recovery.py` `_reopen`, `Order.reopen`), and
tells the adapter (`broker.update_journaled`, NEW, Binance's count).

Before, `BinanceBroker.update_journaled` ignored an order it held ended: `c` was
refused by the adapter ("came too late: already FILLED", nothing sent) though the desk
showed the order working, and the CANCELED of the kill switch's sweep was dropped
after the end (`is_news`), so the desk kept it NEW while Binance had cancelled it.

Now the adapter follows the re-opened order (its status and Binance's count from the
update, out of its finished orders): `c` cancels it at Binance and the desk reads
CANCELED; so does the kill switch. A late copy of a status over an end Binance never
contradicted re-opens nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal as D
from typing import NamedTuple

import pytest

from silvertine_tui.brokers import BrokerError
from silvertine_tui.config import RiskConfig
from silvertine_tui.domain import OrderStatus, OrderUpdate
from silvertine_tui.engine.anomalies import AnomalyKind
from silvertine_tui.engine.core import TradingEngine
from silvertine_tui.engine.recovery import reconcile_broker
from silvertine_tui.events import OrderUpdateEvent
from tests.support.binance_broker import Session, binance_session
from tests.support.binance_stream import journaled, o1, stream_back, stream_down
from tests.support.waiting import until

S = OrderStatus


class Drill(NamedTuple):
    s: Session
    engine: TradingEngine


async def overfilled(s: Session, engine: TradingEngine) -> None:
    """o1 working, then one TRADE report for 5 of it, FILLED, that Binance never made."""
    await s.broker.place(o1())
    await journaled(s, engine, lambda: engine.oms.orders["o1"].order.status is S.NEW)
    order = s.fake.order_by_client_id("o1")
    trade = s.fake.exchange._report(order, "TRADE")
    s.fake.exchange.user_events.clear()
    trade.update(l="5", z="5", X="FILLED", L="1990", t=99201, Y="9950", Z="9950")
    await s.fake._deliver_user([trade])
    await journaled(s, engine, lambda: engine.oms.orders["o1"].order.status is S.FILLED)


@asynccontextmanager
async def reopened() -> AsyncIterator[Drill]:
    """The drill up to the reconcile that re-opens o1 (NEW on the desk again)."""
    async with binance_session(balances={"USDT": "100000"}) as s:
        await s.fake.set_book("ETHUSDT", [("1980", "5")], [("2001", "5")])
        engine = TradingEngine(s.bus, [s.broker], RiskConfig())
        await engine.load_instruments()
        await overfilled(s, engine)
        driver = await stream_down(s, s.broker)
        await stream_back(driver, s.broker)
        await reconcile_broker(engine, s.broker)
        assert engine.oms.orders["o1"].order.status is S.NEW
        assert engine.anomalies.counts[AnomalyKind.REOPENED] == 1
        yield Drill(s, engine)


async def desk_reads(d: Drill, status: OrderStatus) -> None:
    await journaled(d.s, d.engine, lambda: d.engine.oms.orders["o1"].order.status is status)


async def binance_cancelled(d: Drill) -> None:
    await until(
        lambda: d.s.fake.order_by_client_id("o1").status == "CANCELED", 5.0, "cancelled there"
    )


async def test_c_cancels_the_reopened_order_at_binance_and_the_desk_reads_it() -> None:
    async with reopened() as d:
        await d.engine.cancel("o1")  # refused by the adapter before: "already FILLED"
        await binance_cancelled(d)
        await desk_reads(d, S.CANCELED)
        o = d.engine.oms.orders["o1"].order
        assert o.filled_qty == 0
        assert d.engine.oms.working() == []
        # The adapter holds it ended again: a second `c` sends nothing.
        cancels = d.s.fake.requests.count(("DELETE", "/api/v3/order"))
        with pytest.raises(BrokerError):
            await d.s.broker.cancel("o1")
        assert d.s.fake.requests.count(("DELETE", "/api/v3/order")) == cancels


async def test_the_kill_switchs_cancel_of_it_reaches_the_desk() -> None:
    """The kill switch's sweep cancels it at Binance (it did before too); its CANCELED
    is no longer dropped after the end: the desk reads CANCELED, not NEW."""
    async with reopened() as d:
        report = await d.engine.kill("drill")
        assert "o1" in report.cancels.cancelled
        await binance_cancelled(d)
        await desk_reads(d, S.CANCELED)


async def test_an_update_over_an_end_binance_never_contradicted_reopens_nothing() -> None:
    """A late copy of NEW journaled over o1's FILLED, with no word from Binance that
    it works (the overfill's report ended it, nothing listed since): the adapter keeps
    it ended and sends no cancel of it."""
    async with binance_session(balances={"USDT": "100000"}) as s:
        await s.fake.set_book("ETHUSDT", [("1980", "5")], [("2001", "5")])
        engine = TradingEngine(s.bus, [s.broker], RiskConfig())
        await engine.load_instruments()
        await overfilled(s, engine)
        venue_id = str(s.fake.order_by_client_id("o1").order_id)
        s.broker.update_journaled(
            OrderUpdate(
                client_order_id="o1", status=S.NEW, venue_order_id=venue_id, filled_qty=D(0)
            )
        )
        cancels = s.fake.requests.count(("DELETE", "/api/v3/order"))
        with pytest.raises(BrokerError, match="FILLED"):
            await s.broker.cancel("o1")
        assert s.fake.requests.count(("DELETE", "/api/v3/order")) == cancels
        await asyncio.sleep(0.1)
        assert [
            e.payload.status
            for e in await s.events()
            if isinstance(e, OrderUpdateEvent) and e.payload.client_order_id == "o1"
        ][-1] is S.FILLED
