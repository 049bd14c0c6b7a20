"""An order whose place timed out while the user stream was down, and that filled at
once at Binance: `Broker._resolve` asks Binance and journals its status (FILLED, with
the quantity it filled). Its fills must be journaled too, once, before that status and
without waiting for a reconcile: the stream's reports of them were lost with the
stream, and a catch-up that skipped the symbol (no trade id known there, no order
working) left the order FILLED with the position unmoved.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

from silvertine_tui.brokers import BrokerTimeout
from silvertine_tui.domain import ConnectionState, OrderStatus, OrderType, TimeInForce
from silvertine_tui.events import EventBase, FillEvent, OrderUpdateEvent
from tests.contract.test_broker_contract import fills, statuses
from tests.support.binance_broker import binance_session
from tests.unit.binance.test_binance_broker_faults import wait_until
from tests.unit.binance.test_binance_broker_orders import ended, once_each, req, wait_for

S = OrderStatus
IOC = TimeInForce.IOC
D = Decimal


def fill_before_end(events: list[EventBase], coid: str) -> None:
    """The order's fills are journaled before its FILLED (a reader who sees FILLED
    finds the position moved)."""
    kinds = [
        "fill" if isinstance(e, FillEvent) else e.payload.status
        for e in events
        if isinstance(e, FillEvent | OrderUpdateEvent) and e.payload.client_order_id == coid
    ]
    assert kinds.index(S.FILLED) > max(i for i, k in enumerate(kinds) if k == "fill"), kinds


@pytest.mark.parametrize("order_type", [OrderType.MARKET, OrderType.LIMIT])
async def test_a_timed_out_order_that_filled_while_the_stream_was_down_gets_its_fills(
    order_type: OrderType,
) -> None:
    async with binance_session(
        balances={"USDT": "10000"}, orders_need_user_stream=False, request_timeout_s=0.5
    ) as s:
        await s.fake.set_book("ETHUSDT", [("1999", "5")], [("2001", "5")])
        await s.driver.drop_connection()
        await wait_until(
            lambda: s.broker.health_state.links["user"].state is ConnectionState.DISCONNECTED,
            "the user link down",
        )
        s.fake.swallow_next_order_reply()
        if order_type is OrderType.LIMIT:  # marketable: it trades at once
            request = req(s, qty="0.5", order_type=order_type, limit_price=D("2001"))
        else:
            request = req(s, qty="0.5", order_type=order_type, tif=IOC)
        with pytest.raises(BrokerTimeout):
            await s.broker.place(request)
        coid = request.client_order_id
        assert s.fake.order_by_client_id(coid).status == "FILLED"
        # Binance is asked (the place's lost answer): the order is FILLED there. Its
        # fill is journaled with it, the stream still down.
        events = await wait_for(s, ended(coid, S.FILLED), "FILLED found by asking")
        [fill] = fills(events, coid)
        assert (fill.quantity, fill.price) == (D("0.5"), D("2001"))
        fill_before_end(events, coid)
        # The stream back: its catch-up adds nothing twice.
        await s.driver.restore_connection()
        await wait_until(lambda: s.broker.state is ConnectionState.LIVE, "LIVE again")
        await asyncio.sleep(0.2)
        events = await s.events()
        assert len(fills(events, coid)) == 1
        assert statuses(events, coid).count(S.FILLED) == 1
        once_each(events, coid)


async def test_the_stream_dropping_under_a_place_still_journals_its_fills() -> None:
    """The default config (orders need the stream): the stream drops while the place
    is on its way, the order fills at once, its answer is lost. Binance is asked while
    the stream is still down: the order is FILLED there, and its fill is journaled with
    that status; the stream's return (its catch-up) adds nothing twice."""
    async with binance_session(balances={"USDT": "10000"}, request_timeout_s=0.5) as s:
        await s.fake.set_book("ETHUSDT", [("1999", "5")], [("2001", "5")])
        s.fake.swallow_next_order_reply()
        s.fake.reorder_next_reports(3)  # its NEW and TRADE reports held: not sent yet
        request = req(s, qty="0.5", order_type=OrderType.MARKET, tif=IOC)
        place = asyncio.create_task(s.broker.place(request))
        coid = request.client_order_id
        await wait_until(
            lambda: any(o.client_order_id == coid for o in s.fake.orders.values()),
            "the order at Binance",
        )
        await s.driver.drop_connection()
        lost = s.fake.flush_held_reports()  # the stream's reports of it, lost with it
        s.fake.faults.reorder_reports = 0
        assert [r["X"] for r in lost] == ["NEW", "FILLED"]
        with pytest.raises(BrokerTimeout):
            await place
        events = await wait_for(s, ended(coid, S.FILLED), "FILLED found by asking")
        assert s.broker.health_state.links["user"].state is not ConnectionState.LIVE
        [fill] = fills(events, coid)
        assert fill.quantity == D("0.5")
        fill_before_end(events, coid)
        await s.driver.restore_connection()
        await wait_until(lambda: s.broker.state is ConnectionState.LIVE, "LIVE again")
        await asyncio.sleep(0.2)
        events = await s.events()
        assert len(fills(events, coid)) == 1
        once_each(events, coid)


async def test_a_found_fill_whose_trades_binance_does_not_answer_waits_for_them() -> None:
    """Binance says FILLED but does not answer the order's trades yet: its status
    waits with its fills (asked again), never FILLED with the position unmoved."""
    async with binance_session(
        balances={"USDT": "10000"}, orders_need_user_stream=False, request_timeout_s=0.5
    ) as s:
        await s.fake.set_book("ETHUSDT", [("1999", "5")], [("2001", "5")])
        await s.driver.drop_connection()
        await wait_until(
            lambda: s.broker.health_state.links["user"].state is ConnectionState.DISCONNECTED,
            "the user link down",
        )
        s.fake.fail_symbol("/api/v3/myTrades", "ETHUSDT")
        s.fake.swallow_next_order_reply()
        request = req(s, qty="0.5", order_type=OrderType.MARKET, tif=IOC)
        with pytest.raises(BrokerTimeout):
            await s.broker.place(request)
        coid = request.client_order_id
        queries = ("GET", "/api/v3/order")
        await wait_until(lambda: s.fake.requests.count(queries) >= 1, "Binance asked")
        await asyncio.sleep(0.5)  # its answer taken, its trades asked (and failed)
        events = await s.events()
        assert S.FILLED not in statuses(events, coid), "FILLED journaled without its fill"
        assert fills(events, coid) == []
        s.fake.fail_symbol("/api/v3/myTrades", "ETHUSDT", status=None)
        events = await wait_for(s, ended(coid, S.FILLED), "FILLED once its trades answer")
        [fill] = fills(events, coid)
        assert fill.quantity == D("0.5")
        fill_before_end(events, coid)
        once_each(events, coid)
