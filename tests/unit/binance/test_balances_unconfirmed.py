"""Balances while Binance's user-data stream is down: not confirmed.

Cancels (the kill switch's too) go over REST while only the user stream is down, and
fills happen that no stream reports: no balance event moves the desk's balances
meanwhile. The desk built from the bus (no engine, no broker: `project`) says which
brokers' balances it cannot confirm (`DeskProjection.balances_unconfirmed`), by the rule
the Orders pane marks `NEW?` by (`reports_unknown`); once the stream is back the
catch-up reads the account again (REST `account`) and the mark clears with the broker's
DISCONNECTED.
"""

from __future__ import annotations

from decimal import Decimal as D

from silvertine_tui.domain import ConnectionState, OrderStatus
from silvertine_tui.engine.projection import DeskProjection, project
from tests.support.binance_broker import Session, binance_session
from tests.support.binance_stream import o1, stream_back, stream_down
from tests.support.waiting import until

USDT = ("binance", "spot", "USDT")
ETH = ("binance", "spot", "ETH")


async def desk(s: Session) -> DeskProjection:
    """The desk as the bus holds it now."""
    return await project(s.bus, [("binance", "spot")], market_data=False)


async def test_balances_are_unconfirmed_while_the_user_stream_is_down_and_read_back_after() -> None:
    async with binance_session(balances={"USDT": "100000"}) as s:
        await s.fake.set_book("ETHUSDT", [("1980", "5")], [("2001", "5")])
        await s.broker.place(o1())
        await s.broker.place(o1().model_copy(update={"client_order_id": "o2"}))
        await until(
            lambda: all(s.broker._orders[c].status is OrderStatus.NEW for c in ("o1", "o2")),
            3.0,
            "both NEW",
        )
        await s.driver.settle()
        before = await desk(s)
        assert before.balances_unconfirmed() == {}
        assert before.balances[USDT].locked == D("3980")

        driver = await stream_down(s, s.broker)
        await s.broker.cancel("o1")  # over REST: Binance frees o1's funds
        await s.fake.fill(s.fake.order_by_client_id("o2").order_id)  # no stream reports it
        free, locked = s.fake.balances["USDT"]
        assert locked == 0
        assert free < D("98010")  # o2's 1,990 and its fee

        down = await desk(s)
        assert down.orders["o1"].order.status is OrderStatus.CANCELED
        assert down.balances_unconfirmed() == {"binance": "DISCONNECTED"}
        assert down.reports_unknown() == {"binance": "DISCONNECTED"}
        # What it shows is as last heard: o1's and o2's funds still locked, no ETH.
        assert down.balances[USDT].locked == D("3980")
        assert ETH not in down.balances or down.balances[ETH].total == 0

        await stream_back(driver, s.broker)
        assert s.broker.state is ConnectionState.LIVE
        back = await desk(s)
        assert back.balances_unconfirmed() == {}
        # Read back from Binance's account by the catch-up.
        assert back.balances[USDT].locked == D("0")
        assert back.balances[USDT].available == free
        assert back.balances[ETH].total == D("1.0")
