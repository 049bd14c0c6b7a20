"""Fills asked of myTrades by time page on: Binance answers at most 1000 trades a call
(`limit`), and takes `fromId` (trades from that id on) to go on from the last one + 1.
One call per 24 h window (a reconcile from a time) or one call in all (the catch-up
after a reconnect) left every trade past the first 1000 unreported."""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal

from silvertine_tui.domain import ConnectionState
from tests.contract.test_broker_contract import fills
from tests.fakes.binance.exchange import Order
from tests.support.binance_broker import Session, binance_session
from tests.unit.binance.test_binance_broker_orders import req

D = Decimal
MANY = 1010  # more than one page


def rest_order(s: Session, coid: str) -> Order:
    order, _ = s.fake.exchange.place(
        {
            "symbol": "ETHUSDT",
            "side": "BUY",
            "type": "LIMIT",
            "timeInForce": "GTC",
            "quantity": "20",
            "price": "2000",
            "newClientOrderId": coid,
        }
    )
    return order


def fill_many(s: Session, order: Order, count: int) -> None:
    """`count` fills of 0.01 at the venue, their stream events never sent (unseen)."""
    for _ in range(count):
        s.fake.exchange.fill(order.order_id, D("0.01"), None)
    s.fake.exchange.take_user_events()
    s.fake.exchange.take_market_events()


async def test_a_reconcile_from_a_time_pages_past_1000_trades() -> None:
    async with binance_session(balances={"USDT": "100000"}, connect=False) as s:
        await s.fake.set_book("ETHUSDT", [("1000", "5")], [("3000", "5")])
        since = time.time_ns() - 5_000_000_000
        fill_many(s, rest_order(s, "mine-1"), MANY)
        await s.broker.connect()
        report = await s.broker.reconcile(since_ns=since)
        assert len(report.fills) == MANY
        assert len({f.exec_id for f in report.fills}) == MANY


async def live(s: Session) -> None:
    for _ in range(500):
        if s.broker.state is ConnectionState.LIVE:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"never LIVE again: {s.broker.state}")


async def test_the_catch_up_after_a_reconnect_pages_past_1000_trades() -> None:
    async with binance_session(balances={"USDT": "100000"}) as s:
        await s.fake.set_book("ETHUSDT", [("1000", "5")], [("3000", "5")])
        coid = await s.broker.place(req(s, qty="20", limit_price=D("2000")))
        await s.driver.settle()
        order = s.fake.order_by_client_id(coid)
        await s.fake.fill(order.order_id, D("0.01"))  # seen: the catch-up goes on from it
        await s.driver.settle()
        await s.driver.drop_connection()
        for _ in range(200):
            if not s.broker.user.subscribed:
                break
            await asyncio.sleep(0.02)
        fill_many(s, order, MANY)
        await s.driver.restore_connection()
        await live(s)
        await s.driver.settle()
        got = fills(await s.events(), coid)
        assert len(got) == MANY + 1
        assert len({f.exec_id for f in got}) == MANY + 1


async def test_the_catch_up_of_an_order_without_fills_pages_past_1000_trades() -> None:
    async with binance_session(balances={"USDT": "100000"}) as s:
        await s.fake.set_book("ETHUSDT", [("1000", "5")], [("3000", "5")])
        coid = await s.broker.place(req(s, qty="20", limit_price=D("2000")))
        await s.driver.settle()
        order = s.fake.order_by_client_id(coid)
        await s.driver.drop_connection()
        for _ in range(200):
            if not s.broker.user.subscribed:
                break
            await asyncio.sleep(0.02)
        fill_many(s, order, MANY)
        await s.driver.restore_connection()
        await live(s)
        await s.driver.settle()
        got = fills(await s.events(), coid)
        assert len({f.exec_id for f in got}) == MANY
