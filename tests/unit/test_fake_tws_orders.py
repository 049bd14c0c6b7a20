"""Orders through the real ib_async client on the fake TWS: every type and time in force,
fills from the test and from the quote, modify, cancel, global cancel, open orders,
executions with commissions, positions, and orders that survive a reconnect."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from ib_async import (
    ExecutionFilter,
    Future,
    LimitOrder,
    MarketOrder,
    Order,
    Stock,
    StopLimitOrder,
    StopOrder,
)

from tests.fakes.tws import FakeTws
from tests.fakes.tws.client import connect, ib_client, round_trip, until


@pytest.fixture
async def fake() -> AsyncIterator[FakeTws]:
    async with FakeTws() as fake:
        yield fake


@pytest.fixture
async def ib(fake: FakeTws) -> AsyncIterator[Any]:
    async with ib_client(fake) as ib:
        yield ib


@pytest.fixture
async def aapl(ib: Any) -> Any:
    [stock] = await ib.qualifyContractsAsync(Stock("AAPL", "SMART", "USD"))
    return stock


def status_is(trade: Any, status: str) -> Any:
    return lambda: trade.orderStatus.status == status


async def test_limit_order_rests_submitted_with_its_order_ref(fake, ib, aapl) -> None:
    trade = ib.placeOrder(aapl, LimitOrder("BUY", 10, 149.5, orderRef="sv-1", tif="GTC"))
    await until(ib, status_is(trade, "Submitted"))
    order = fake.order(trade.order.orderId)
    assert (order.ticket.order_ref, order.ticket.tif) == ("sv-1", "GTC")
    assert order.ticket.limit_price == Decimal("149.5")
    assert trade.order.permId == order.perm_id
    assert trade.orderStatus.remaining == 10
    [open_trade] = ib.openTrades()
    assert open_trade is trade


async def test_market_order_fills_at_the_ask_with_a_commission(fake, ib, aapl) -> None:
    await fake.set_quote("AAPL", "150.00", "150.05")
    trade = ib.placeOrder(aapl, MarketOrder("BUY", 5, orderRef="sv-2"))
    await until(ib, lambda: trade.isDone() and trade.fills[-1].commissionReport.commission)
    assert trade.orderStatus.status == "Filled"
    assert trade.orderStatus.avgFillPrice == 150.05
    [fill] = trade.fills
    assert (fill.execution.shares, fill.execution.price, fill.execution.side) == (5, 150.05, "BOT")
    assert (fill.execution.exchange, fill.execution.orderRef) == ("NASDAQ", "sv-2")
    assert (fill.commissionReport.commission, fill.commissionReport.currency) == (1.0, "USD")
    assert fill.execution.lastLiquidity == 2  # took liquidity


async def test_market_order_without_a_quote_waits_for_one(fake, ib, aapl) -> None:
    trade = ib.placeOrder(aapl, MarketOrder("SELL", 3))
    await until(ib, status_is(trade, "Submitted"))
    await fake.set_quote("AAPL", "149.90", "150.00")
    await until(ib, status_is(trade, "Filled"))
    assert trade.fills[0].execution.price == 149.90
    assert trade.fills[0].execution.side == "SLD"


async def test_marketable_limit_fills_at_the_quote_and_a_resting_one_on_a_move(
    fake, ib, aapl
) -> None:
    await fake.set_quote("AAPL", "150.00", "150.05")
    crossing = ib.placeOrder(aapl, LimitOrder("BUY", 2, 150.10))
    resting = ib.placeOrder(aapl, LimitOrder("SELL", 2, 150.50))
    await until(ib, lambda: crossing.isDone() and resting.orderStatus.status == "Submitted")
    assert crossing.orderStatus.status == "Filled"
    assert crossing.orderStatus.avgFillPrice == 150.05  # price improvement
    await fake.set_quote("AAPL", "150.55", "150.60")
    await until(ib, status_is(resting, "Filled"))
    assert resting.fills[0].execution.price == 150.55


async def test_stop_order_is_presubmitted_until_its_stop_is_reached(fake, ib, aapl) -> None:
    await fake.set_quote("AAPL", "150.00", "150.05")
    trade = ib.placeOrder(aapl, StopOrder("BUY", 4, 151.00))
    await until(ib, status_is(trade, "PreSubmitted"))
    await fake.set_quote("AAPL", "151.00", "151.10")
    await until(ib, status_is(trade, "Filled"))
    statuses = [entry.status for entry in trade.log]
    assert statuses.index("PreSubmitted") < statuses.index("Submitted")
    assert trade.fills[0].execution.price == 151.10


async def test_stop_limit_triggers_then_rests_at_its_limit(fake, ib, aapl) -> None:
    await fake.set_quote("AAPL", "150.00", "150.05")
    trade = ib.placeOrder(aapl, StopLimitOrder("SELL", 4, 148.00, 149.00))
    await until(ib, status_is(trade, "PreSubmitted"))
    await fake.set_quote("AAPL", "147.50", "147.60")  # stop hit, limit not marketable
    await until(ib, status_is(trade, "Submitted"))
    assert not trade.fills
    await fake.set_quote("AAPL", "148.00", "148.10")
    await until(ib, status_is(trade, "Filled"))
    assert trade.fills[0].execution.price == 148.00


async def test_partial_fills_driven_by_the_test(fake, ib, aapl) -> None:
    trade = ib.placeOrder(aapl, LimitOrder("BUY", 10, 149.5))
    await until(ib, status_is(trade, "Submitted"))
    await fake.fill(trade.order.orderId, "4")
    await until(ib, lambda: trade.orderStatus.filled == 4)
    assert (trade.orderStatus.status, trade.orderStatus.remaining) == ("Submitted", 6)
    await fake.fill(trade.order.orderId, price="149.25")
    await until(ib, status_is(trade, "Filled"))
    assert [f.execution.shares for f in trade.fills] == [4, 6]
    assert [f.execution.cumQty for f in trade.fills] == [4, 10]
    assert trade.orderStatus.avgFillPrice == pytest.approx(149.35)
    assert len({f.execution.execId for f in trade.fills}) == 2
    await until(ib, lambda: all(f.commissionReport.commission for f in trade.fills))


async def test_ioc_fills_what_it_can_and_cancels_the_rest(fake, ib, aapl) -> None:
    await fake.set_quote("AAPL", "150.00", "150.05", ask_size="3")
    trade = ib.placeOrder(aapl, LimitOrder("BUY", 10, 150.05, tif="IOC"))
    await until(ib, status_is(trade, "Cancelled"))
    assert trade.orderStatus.filled == 3
    assert [f.execution.shares for f in trade.fills] == [3]


async def test_fok_fills_whole_or_not_at_all(fake, ib, aapl) -> None:
    await fake.set_quote("AAPL", "150.00", "150.05", ask_size="3")
    killed = ib.placeOrder(aapl, LimitOrder("BUY", 10, 150.05, tif="FOK"))
    await until(ib, status_is(killed, "Cancelled"))
    assert not killed.fills
    filled = ib.placeOrder(aapl, LimitOrder("BUY", 3, 150.05, tif="FOK"))
    await until(ib, status_is(filled, "Filled"))
    assert filled.orderStatus.filled == 3


async def test_modify_keeps_the_order_and_perm_id(fake, ib, aapl) -> None:
    trade = ib.placeOrder(aapl, LimitOrder("BUY", 10, 149.5, orderRef="sv-3"))
    await until(ib, status_is(trade, "Submitted"))
    perm_id = trade.order.permId
    trade.order.lmtPrice = 149.75
    trade.order.totalQuantity = 12
    ib.placeOrder(aapl, trade.order)
    await until(ib, lambda: trade.orderStatus.remaining == 12)
    order = fake.order(trade.order.orderId)
    assert (order.ticket.limit_price, order.ticket.quantity) == (Decimal("149.75"), 12)
    assert order.perm_id == trade.order.permId == perm_id
    assert len(fake.orders) == 1
    assert "Modify" in [entry.message for entry in trade.log]


async def test_modify_to_a_marketable_price_fills(fake, ib, aapl) -> None:
    await fake.set_quote("AAPL", "150.00", "150.05")
    trade = ib.placeOrder(aapl, LimitOrder("BUY", 1, 149.0))
    await until(ib, status_is(trade, "Submitted"))
    trade.order.lmtPrice = 150.05
    ib.placeOrder(aapl, trade.order)
    await until(ib, status_is(trade, "Filled"))


async def test_cancel_answers_cancelled_and_202(fake, ib, aapl) -> None:
    trade = ib.placeOrder(aapl, LimitOrder("BUY", 10, 149.5))
    await until(ib, status_is(trade, "Submitted"))
    ib.cancelOrder(trade.order)
    assert trade.orderStatus.status == "PendingCancel"  # ib_async's own guess
    await until(ib, status_is(trade, "Cancelled"))
    assert trade.log[-1].errorCode == 202
    assert fake.order(trade.order.orderId).status == "Cancelled"
    assert not ib.openTrades()


async def test_global_cancel_cancels_every_clients_orders(fake, ib, aapl) -> None:
    mine = ib.placeOrder(aapl, LimitOrder("BUY", 1, 140))
    other_ib = await connect(fake, client_id=9)
    try:
        [stock] = await other_ib.qualifyContractsAsync(Stock("AAPL", "SMART", "USD"))
        theirs = other_ib.placeOrder(stock, LimitOrder("SELL", 1, 160))
        await until(other_ib, status_is(theirs, "Submitted"))
        ib.reqGlobalCancel()
        await until(ib, status_is(mine, "Cancelled"))
        await until(other_ib, status_is(theirs, "Cancelled"))
    finally:
        other_ib.disconnect()
    assert {o.status for o in fake.orders} == {"Cancelled"}


async def test_open_orders_for_this_client_and_for_all(fake, ib, aapl) -> None:
    mine = ib.placeOrder(aapl, LimitOrder("BUY", 1, 140))
    await until(ib, status_is(mine, "Submitted"))
    other_ib = await connect(fake, client_id=9)
    try:
        assert await other_ib.reqOpenOrdersAsync() == []
        [seen] = await other_ib.reqAllOpenOrdersAsync()
        assert (seen.order.clientId, seen.order.orderId) == (1, mine.order.orderId)
        assert seen.order.permId == mine.order.permId
        assert seen.orderStatus.status == "Submitted"
    finally:
        other_ib.disconnect()
    [again] = await ib.reqOpenOrdersAsync()
    assert again is mine


async def test_executions_with_commissions_and_filters(fake, ib, aapl) -> None:
    await fake.set_quote("AAPL", "150.00", "150.05")
    first = ib.placeOrder(aapl, MarketOrder("BUY", 2))
    await until(ib, status_is(first, "Filled"))
    other_ib = await connect(fake, client_id=9)
    try:
        [stock] = await other_ib.qualifyContractsAsync(Stock("AAPL", "SMART", "USD"))
        second = other_ib.placeOrder(stock, MarketOrder("SELL", 1))
        await until(other_ib, status_is(second, "Filled"))
        everything = await other_ib.reqExecutionsAsync()
        assert sorted(f.execution.side for f in everything) == ["BOT", "SLD"]
        # ib_async pitfall: the replay returns new Fill objects; for an execution this
        # session already knew (both: the BOT came with the start-up replay) the
        # commission lands on the Fill in ib.fills(), not on the one returned
        assert [f.commissionReport.commission for f in everything] == [0.0, 0.0]
        assert [f.commissionReport.commission for f in other_ib.fills()] == [1.0, 1.0]
        mine = await other_ib.reqExecutionsAsync(ExecutionFilter(clientId=9))
        assert [f.execution.side for f in mine] == ["SLD"]
        later = (datetime.now(UTC) + timedelta(minutes=1)).strftime("%Y%m%d %H:%M:%S UTC")
        assert await other_ib.reqExecutionsAsync(ExecutionFilter(time=later)) == []
    finally:
        other_ib.disconnect()


async def test_closing_fill_reports_realized_pnl(fake, ib, aapl) -> None:
    await fake.set_quote("AAPL", "150.00", "150.05")
    buy = ib.placeOrder(aapl, MarketOrder("BUY", 10))
    await until(ib, status_is(buy, "Filled"))
    await fake.set_quote("AAPL", "151.00", "151.05")
    sell = ib.placeOrder(aapl, MarketOrder("SELL", 10))
    await until(ib, lambda: sell.isDone() and sell.fills[0].commissionReport.commission)
    assert buy.fills[0].commissionReport.realizedPNL == 0  # unset on an opening fill
    # (151 - 150.05) * 10 - 1 opening fee carried in the cost - 1 closing fee
    assert sell.fills[0].commissionReport.realizedPNL == pytest.approx(7.5)


async def test_positions_and_account_follow_fills(fake, ib) -> None:
    [es] = await ib.qualifyContractsAsync(Future("ES", "202612", "CME"))
    await fake.set_quote("ESZ6", "6000.00", "6000.25")
    trade = ib.placeOrder(es, MarketOrder("BUY", 2))
    # The fake, as TWS may, sends the position and portfolio updates before the order's
    # final status: wait for all three before reading them.
    await until(ib, lambda: bool(ib.positions()) and bool(ib.portfolio()) and trade.isDone())
    [pos] = ib.positions()
    assert pos.position == 2
    assert pos.avgCost == pytest.approx(6000.25 * 50 + 2.25)  # multiplier and fee
    [item] = ib.portfolio()
    assert item.marketPrice == pytest.approx(6000.125)
    cash = {v.currency: v.value for v in ib.accountValues() if v.tag == "CashBalance"}
    assert Decimal(cash["USD"]) == Decimal("100000") - Decimal("6000.25") * 2 * 50 - Decimal("4.5")
    assert trade.orderStatus.status == "Filled"


async def test_reconnect_keeps_orders_fills_and_perm_ids(fake) -> None:
    async with ib_client(fake, client_id=3) as ib:
        [stock] = await ib.qualifyContractsAsync(Stock("AAPL", "SMART", "USD"))
        working = ib.placeOrder(stock, LimitOrder("BUY", 10, 149.5, orderRef="keep"))
        await until(ib, status_is(working, "Submitted"))
        await fake.fill(working.order.orderId, "4")
        await until(ib, lambda: working.orderStatus.filled == 4)
        perm_id, order_id = working.order.permId, working.order.orderId
    await fake.wait_for_sessions(0)
    async with ib_client(fake, client_id=3) as again:
        [trade] = again.openTrades()
        assert (trade.order.permId, trade.order.orderId) == (perm_id, order_id)
        assert trade.order.orderRef == "keep"
        assert (trade.orderStatus.filled, trade.orderStatus.remaining) == (4, 6)
        [fill] = again.fills()
        assert fill.execution.permId == perm_id
        assert fill.commissionReport.commission == 1.0
        ib_trade_fills = [f.execution.execId for f in trade.fills]
        assert ib_trade_fills == [fill.execution.execId]
        # and the order can still be managed from the new session
        again.cancelOrder(trade.order)
        await until(again, status_is(trade, "Cancelled"))


async def test_another_client_id_sees_completed_orders_by_perm_id(fake) -> None:
    async with ib_client(fake, client_id=3) as ib:
        [stock] = await ib.qualifyContractsAsync(Stock("AAPL", "SMART", "USD"))
        await fake.set_quote("AAPL", "150.00", "150.05")
        done = ib.placeOrder(stock, MarketOrder("BUY", 1, orderRef="gone"))
        await until(ib, status_is(done, "Filled"))
    async with ib_client(fake, client_id=4) as other:
        completed = [t for t in other.trades() if t.order.permId == done.order.permId]
        assert len(completed) == 1
        assert completed[0].orderStatus.status == "Filled"
        assert completed[0].order.orderRef == "gone"
        assert [f.execution.execId for f in completed[0].fills] == [done.fills[0].execution.execId]


async def test_order_events_go_only_to_the_client_that_placed_it(fake, ib, aapl) -> None:
    other_ib = await connect(fake, client_id=9)
    try:
        await fake.set_quote("AAPL", "150.00", "150.05")
        trade = ib.placeOrder(aapl, MarketOrder("BUY", 1))
        await until(ib, status_is(trade, "Filled"))
        await round_trip(other_ib)
        assert other_ib.trades() == []
        assert other_ib.fills() == []
        assert not [f for f in fake.sessions[1].sent if f[0] in ("3", "5", "11", "59")]
    finally:
        other_ib.disconnect()


async def test_the_master_client_gets_every_clients_order_reports_but_not_their_errors() -> None:
    """TWS's "Master API client ID": that client is told of every order's statuses and
    executions, whichever client placed it; the errors about an order (202 on a
    cancel) stay with the client that placed it."""
    async with (
        FakeTws(master_client_id=5) as fake,
        ib_client(fake, client_id=5) as master,
        ib_client(fake, client_id=9) as other,
    ):
        [stock] = await other.qualifyContractsAsync(Stock("AAPL", "SMART", "USD"))
        trade = other.placeOrder(stock, LimitOrder("SELL", 5, 152.0, orderRef="elsewhere"))
        await until(other, status_is(trade, "Submitted"))
        perm = trade.order.permId
        await until(master, lambda: perm in master.wrapper.permId2Trade)
        seen = master.wrapper.permId2Trade[perm]
        assert (seen.order.clientId, seen.order.orderRef) == (9, "elsewhere")
        assert seen.orderStatus.status == "Submitted"
        await fake.fill(trade.order.orderId, "2", client_id=9)
        await until(master, lambda: seen.orderStatus.filled == 2)
        assert [f.execution.shares for f in master.fills()] == [2.0]
        other.cancelOrder(trade.order)
        await until(master, status_is(seen, "Cancelled"))
        await round_trip(master)
        assert not [f for f in fake.sessions[0].sent if f[0] == "4" and f[3] == "202"]
        assert seen.log[-1].errorCode == 0


async def test_modify_of_an_order_done_at_tws_is_104(fake, aapl) -> None:
    async with ib_client(fake, client_id=3) as ib:
        [stock] = await ib.qualifyContractsAsync(Stock("AAPL", "SMART", "USD"))
        trade = ib.placeOrder(stock, LimitOrder("BUY", 1, 149))
        await until(ib, status_is(trade, "Submitted"))
        order_id = trade.order.orderId
    await fake.wait_for_sessions(1)  # the fixture's client stays
    await fake.fill(order_id, client_id=3)  # filled while client 3 is away
    async with ib_client(fake, client_id=3) as again:
        stale = LimitOrder("BUY", 1, 149.5)
        stale.orderId = order_id  # the restarted app still believes it works
        retry = again.placeOrder(stock, stale)
        await until(again, status_is(retry, "Cancelled"))
        assert retry.log[-1].errorCode == 104
    assert fake.order(order_id, client_id=3).ticket.limit_price == Decimal("149")


async def test_unsupported_order_type_is_refused(fake, ib, aapl) -> None:
    trail = Order(action="SELL", totalQuantity=1, orderType="TRAIL", auxPrice=1.0)
    trade = ib.placeOrder(aapl, trail)
    await until(ib, status_is(trade, "Cancelled"))
    assert trade.log[-1].errorCode == 387
    assert fake.orders == []


async def test_a_new_trading_day_expires_day_orders_and_forgets_yesterdays_fills(fake) -> None:
    async with ib_client(fake, client_id=3) as ib:
        [stock] = await ib.qualifyContractsAsync(Stock("AAPL", "SMART", "USD"))
        await fake.set_quote("AAPL", "150.00", "150.05")
        bought = ib.placeOrder(stock, MarketOrder("BUY", 5))
        day = ib.placeOrder(stock, LimitOrder("BUY", 1, 140, tif="DAY"))
        gtc = ib.placeOrder(stock, LimitOrder("BUY", 1, 141, tif="GTC"))
        await until(ib, lambda: bought.isDone() and gtc.orderStatus.status == "Submitted")
        await fake.new_trading_day()
        await until(ib, status_is(day, "Cancelled"))
        assert day.log[-1].errorCode == 202
        assert gtc.orderStatus.status == "Submitted"
    async with ib_client(fake, client_id=3) as again:
        assert again.fills() == []  # reqExecutions covers the current day only
        assert [t.order.permId for t in again.trades()] == [gtc.order.permId]
        [held] = again.positions()
        assert held.position == 5  # positions are not per day
