"""Cancels and the kill switch while only the user-data socket is down and REST answers.

A cancel needs REST alone: its reply carries CANCELED (or -2011 for an order that ended
first, then the order is asked), and the catch-up after the user stream is back
journals the fills it missed. Refused as the broker read DISCONNECTED, the kill switch
left every order working though Binance answered. New orders and modifies are still
refused (their fills would not be heard), and so is a cancel when REST is down too.
"""

from __future__ import annotations

from collections import Counter
from decimal import Decimal as D

import pytest

from silvertine_tui.brokers import NotConnected
from silvertine_tui.brokers.errors import CancelTooLate
from silvertine_tui.config import RiskConfig
from silvertine_tui.domain import ConnectionState, OrderRequest, OrderStatus, OrderType, Side
from silvertine_tui.engine.core import TradingEngine
from silvertine_tui.events import FillEvent, OrderUpdateEvent
from tests.support.binance_broker import Session, binance_session
from tests.support.binance_stream import ETH, journaled, o1, stream_back, stream_down
from tests.support.waiting import until


def order(coid: str, price: str = "1990", qty: str = "1.0") -> OrderRequest:
    return OrderRequest(
        client_order_id=coid,
        broker="binance",
        account="spot",
        instrument=ETH,
        side=Side.BUY,
        order_type=OrderType.LIMIT,
        quantity=D(qty),
        limit_price=D(price),
    )


async def exec_events(s: Session) -> list[object]:
    return [e.event for e in await s.bus.read(s.bus.layout.exec("binance", "spot"))]


async def statuses(s: Session, coid: str) -> list[OrderStatus]:
    return [
        e.payload.status
        for e in await exec_events(s)
        if isinstance(e, OrderUpdateEvent) and e.payload.client_order_id == coid
    ]


async def working(s: Session, *coids: str) -> None:
    for coid in coids:
        await s.broker.place(order(coid))
    await until(
        lambda: all(s.broker._orders[c].status is OrderStatus.NEW for c in coids), 3.0, "NEW"
    )


async def test_the_kill_switch_cancels_over_rest_while_the_user_stream_is_down() -> None:
    async with binance_session(balances={"USDT": "100000"}) as s:
        await s.fake.set_book("ETHUSDT", [("1980", "5")], [("2001", "5")])
        engine = TradingEngine(s.bus, [s.broker], RiskConfig())
        await engine.load_instruments()
        await working(s, "o1", "o2")
        driver = await stream_down(s, s.broker)
        await s.broker.rest.ping()  # REST answers
        assert s.broker.state is ConnectionState.DISCONNECTED
        assert s.broker.sendable(cancel=True)
        assert not s.broker.sendable()

        cancelled = await s.broker.cancel_all(reason="kill switch")

        assert sorted(cancelled) == ["o1", "o2"]
        for coid in ("o1", "o2"):
            assert s.fake.order_by_client_id(coid).status == "CANCELED"
            # Journaled from Binance's REST reply, the stream still down.
            assert (await statuses(s, coid))[-2:] == [
                OrderStatus.PENDING_CANCEL,
                OrderStatus.CANCELED,
            ]
        await journaled(
            s, engine, lambda: all(v.order.status.is_terminal for v in engine.oms.orders.values())
        )
        await stream_back(driver, s.broker)
        # The catch-up repeats nothing.
        for coid in ("o1", "o2"):
            assert (await statuses(s, coid)).count(OrderStatus.CANCELED) == 1


async def test_a_cancel_of_an_order_filled_meanwhile_says_so_and_the_fill_is_journaled_once() -> (
    None
):
    async with binance_session(balances={"USDT": "100000"}) as s:
        await s.fake.set_book("ETHUSDT", [("1980", "5")], [("2001", "5")])
        await working(s, "o1")
        driver = await stream_down(s, s.broker)
        await s.fake.fill(s.fake.order_by_client_id("o1").order_id)  # report lost
        with pytest.raises(CancelTooLate, match="FILLED"):
            await s.broker.cancel("o1")
        assert (await statuses(s, "o1"))[-1] is OrderStatus.FILLED
        await stream_back(driver, s.broker)
        fills = Counter(
            e.payload.exec_id
            for e in await exec_events(s)
            if isinstance(e, FillEvent) and e.payload.client_order_id == "o1"
        )
        assert sum(fills.values()) == 1
        assert (await statuses(s, "o1")).count(OrderStatus.FILLED) == 1


async def test_orders_and_modifies_are_still_refused_while_the_user_stream_is_down() -> None:
    async with binance_session(balances={"USDT": "100000"}) as s:
        await s.fake.set_book("ETHUSDT", [("1980", "5")], [("2001", "5")])
        await working(s, "o1")
        driver = await stream_down(s, s.broker)
        before = len(await exec_events(s))
        with pytest.raises(NotConnected, match="DISCONNECTED"):
            await s.broker.place(order("o2"))
        with pytest.raises(NotConnected, match="DISCONNECTED"):
            await s.broker.modify("o1", limit_price=D("1991"))
        assert len(await exec_events(s)) == before
        assert s.fake.order_by_client_id("o1").price == D("1990")
        await stream_back(driver, s.broker)


async def test_a_cancel_is_refused_when_rest_is_down_too() -> None:
    async with binance_session(balances={"USDT": "100000"}) as s:
        await s.fake.set_book("ETHUSDT", [("1980", "5")], [("2001", "5")])
        await s.broker.place(o1())
        await until(lambda: s.broker._orders["o1"].status is OrderStatus.NEW, 3.0, "NEW")
        driver = await stream_down(s, s.broker)
        s.fake.stop_answering_rest()
        await until(lambda: s.broker.rest_down, 5.0, "the rest link down")
        before = len(await exec_events(s))
        with pytest.raises(NotConnected) as refused:
            await s.broker.cancel_all(reason="kill switch")
        said = str(refused.value)
        assert "nothing was sent" in said
        assert "rest" in said
        assert len(await exec_events(s)) == before
        assert s.fake.order_by_client_id("o1").status == "NEW"
        s.fake.answer_rest()
        await stream_back(driver, s.broker)
