"""Every fault the fake TWS injects, and what the real ib_async client makes of it.

These pin ib_async 2.1.0's behaviour the IB adapter has to design around (see README.md
in tests/fakes/tws and /work/shared/notes/brokers.md)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from ib_async import IB, Future, LimitOrder, MarketOrder, Order, Stock
from ib_async.wrapper import RequestError

from tests.fakes.tws import FakeTws
from tests.fakes.tws import messages as m
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


def codes_of(ib: Any) -> list[tuple[int, int]]:
    """(reqId, code) of every error/notice frame ib_async reports from now on."""
    seen: list[tuple[int, int]] = []
    ib.errorEvent += lambda req_id, code, text, contract: seen.append((req_id, code))
    return seen


def status_is(trade: Any, status: str) -> Any:
    return lambda: trade.orderStatus.status == status


# ------------------------------------------------------------- connectivity


async def test_1100_pauses_ticks_and_1102_resumes_the_same_subscription(fake, ib, aapl) -> None:
    codes = codes_of(ib)
    await fake.set_quote("AAPL", "150.00", "150.05")
    ticker = ib.reqMktData(aapl)
    await until(ib, lambda: ticker.bid == 150)
    await fake.connectivity_lost()
    await until(ib, lambda: (-1, 1100) in codes)
    await fake.set_quote("AAPL", "151.00", "151.05")  # nothing reaches the client
    await round_trip(ib)
    assert ticker.bid == 150
    await fake.connectivity_restored()
    await until(ib, lambda: (-1, 1102) in codes)
    await fake.set_quote("AAPL", "152.00", "152.05")
    await until(ib, lambda: ticker.bid == 152)
    assert ib.isConnected()


async def test_1101_loses_subscriptions_until_the_client_asks_again(fake, ib, aapl) -> None:
    codes = codes_of(ib)
    await fake.set_quote("AAPL", "150.00", "150.05")
    ticker = ib.reqMktData(aapl)
    await until(ib, lambda: ticker.bid == 150)
    await fake.connectivity_lost()
    await fake.connectivity_restored(data_lost=True)
    await until(ib, lambda: (-1, 1101) in codes)
    await fake.set_quote("AAPL", "151.00", "151.05")
    await round_trip(ib)
    assert ticker.bid == 150  # stale: the subscription is gone at TWS
    ib.cancelMktData(aapl)
    ticker = ib.reqMktData(aapl)
    await until(ib, lambda: ticker.bid == 151)


async def test_hard_drop_fails_pending_requests_forgets_trades_and_gap_fills_replay_once(
    fake,
) -> None:
    ib = await connect(fake, client_id=5)
    [stock] = await ib.qualifyContractsAsync(Stock("AAPL", "SMART", "USD"))
    trade = ib.placeOrder(stock, LimitOrder("BUY", 10, 149.5, orderRef="gap"))
    await until(ib, status_is(trade, "Submitted"))
    order_id, perm_id = trade.order.orderId, trade.order.permId
    fake.omit_next_end("executions")  # keep one request in flight
    pending = asyncio.ensure_future(ib.reqExecutionsAsync())
    await fake.wait_for(lambda: len(fake.requests_of(m.REQ_EXECUTIONS)) == 2)
    await fake.drop_connections()
    with pytest.raises(ConnectionError):
        await asyncio.wait_for(pending, 1)
    assert not ib.isConnected()
    assert ib.trades() == []  # ib_async forgets its trades and fills on disconnect
    # fills while the client is away
    await fake.fill(order_id, "4")
    await fake.fill(order_id, price="149.25")
    await ib.connectAsync("127.0.0.1", fake.port, clientId=5, timeout=2)
    try:
        fills = ib.fills()
        assert [(f.execution.shares, f.execution.price) for f in fills] == [
            (4, 149.5),
            (6, 149.25),
        ]
        assert [f.commissionReport.commission for f in fills] == [1.0, 1.0]
        # the filled order comes back as a completed order keyed by permId, fills attached
        [rebuilt] = [t for t in ib.trades() if t.order.permId == perm_id]
        assert rebuilt.orderStatus.status == "Filled"
        assert rebuilt.order.orderRef == "gap"
        assert len(rebuilt.fills) == 2
        await ib.reqExecutionsAsync()  # a second replay adds nothing
        assert len(ib.fills()) == 2
    finally:
        ib.disconnect()


async def test_326_client_id_in_use_surfaces_as_a_timeout(fake, ib) -> None:
    second = IB()
    codes = codes_of(second)
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        await second.connectAsync("127.0.0.1", fake.port, clientId=1, timeout=0.3)
    assert time.monotonic() - started >= 0.3
    assert (-1, 326) in codes
    assert not second.isConnected()
    assert fake.client_ids() == [1]


async def test_326_for_a_client_id_tws_still_holds(fake) -> None:
    fake.reserve_client_id(2)
    with pytest.raises(TimeoutError):
        await connect(fake, client_id=2, timeout=0.3)
    fake.release_client_id(2)
    async with ib_client(fake, client_id=2) as ib:
        assert ib.isConnected()


# ------------------------------------------------------------------ pacing


async def test_pacing_162_on_contract_details_then_the_retry_works(fake, ib) -> None:
    codes = codes_of(ib)
    fake.pace_next("contract_details", 162)
    assert await ib.qualifyContractsAsync(Stock("AAPL", "SMART", "USD")) == [None]
    assert [code for _, code in codes] == [162]
    [stock] = await ib.qualifyContractsAsync(Stock("AAPL", "SMART", "USD"))
    assert stock.conId == 265598


async def test_pacing_100_on_executions_is_a_request_error_when_asked_for(fake, ib) -> None:
    fake.pace_next("executions", 100)
    assert await ib.reqExecutionsAsync() == []  # by default: an empty answer
    fake.pace_next("executions", 100)
    ib.RaiseRequestErrors = True
    with pytest.raises(RequestError) as raised:
        await ib.reqExecutionsAsync()
    assert raised.value.code == 100
    assert await ib.reqExecutionsAsync() == []


async def test_pacing_420_on_market_data(fake, ib, aapl) -> None:
    codes = codes_of(ib)
    await fake.set_quote("AAPL", "150.00", "150.05")
    fake.pace_next("market_data", 420)
    ticker = ib.reqMktData(aapl)
    await until(ib, lambda: any(code == 420 for _, code in codes))
    await round_trip(ib)
    assert ticker.bid != ticker.bid  # nan
    ib.cancelMktData(aapl)
    ticker = ib.reqMktData(aapl)
    await until(ib, lambda: ticker.bid == 150)


async def test_pacing_on_place_order_cancels_the_trade_but_nothing_reached_tws(
    fake, ib, aapl
) -> None:
    fake.pace_next("place_order", 100)
    trade = ib.placeOrder(aapl, LimitOrder("BUY", 1, 149))
    await until(ib, status_is(trade, "Cancelled"))
    assert trade.log[-1].errorCode == 100
    assert fake.orders == []


# ---------------------------------------------------------- order rejects


async def test_201_reject_of_a_new_order(fake, ib, aapl) -> None:
    fake.reject_next_order(201, "Order rejected - reason:Insufficient margin")
    trade = ib.placeOrder(aapl, LimitOrder("BUY", 1000, 149))
    await until(ib, status_is(trade, "Cancelled"))
    assert trade.log[-1].errorCode == 201
    assert "Insufficient margin" in trade.log[-1].message
    assert fake.orders == []
    reason = "Order rejected - reason:Insufficient margin"
    assert fake.rejected == [(1, trade.order.orderId, 201, reason)]


async def test_201_on_a_modify_leaves_the_order_working_though_ib_async_says_cancelled(
    fake, ib, aapl
) -> None:
    trade = ib.placeOrder(aapl, LimitOrder("BUY", 5, 149))
    await until(ib, status_is(trade, "Submitted"))
    fake.reject_next_order()
    trade.order.lmtPrice = 149.5
    ib.placeOrder(aapl, trade.order)
    await until(ib, status_is(trade, "Cancelled"))  # the library's guess
    order = fake.order(trade.order.orderId)
    assert order.working
    assert str(order.ticket.limit_price) == "149"  # the modify did not apply
    await fake.fill(trade.order.orderId)
    await until(ib, status_is(trade, "Filled"))  # the next status from TWS wins
    assert trade.orderStatus.filled == 5


async def test_110_price_off_tick_rejects_a_new_order(fake, ib) -> None:
    [es] = await ib.qualifyContractsAsync(Future("ES", "202612", "CME"))
    trade = ib.placeOrder(es, LimitOrder("BUY", 1, 6000.10))  # tick is 0.25
    await until(ib, status_is(trade, "Cancelled"))
    assert trade.log[-1].errorCode == 110
    assert fake.orders == []


async def test_110_on_a_modify_is_a_warning_and_the_order_keeps_working(fake, ib) -> None:
    [es] = await ib.qualifyContractsAsync(Future("ES", "202612", "CME"))
    trade = ib.placeOrder(es, LimitOrder("BUY", 1, 6000.25))
    await until(ib, status_is(trade, "Submitted"))
    trade.order.lmtPrice = 6000.30
    ib.placeOrder(es, trade.order)
    await until(ib, status_is(trade, "ValidationError"))
    order = fake.order(trade.order.orderId)
    assert order.working
    assert str(order.ticket.limit_price) == "6000.25"


# --------------------------------------------------------------- cancels


async def test_10147_cancel_of_an_unknown_order(fake, ib) -> None:
    codes = codes_of(ib)
    assert ib.cancelOrder(Order(orderId=4242)) is None
    await until(ib, lambda: (4242, 10147) in codes)


async def test_10148_cancel_that_lost_the_race_with_a_fill(fake, ib, aapl) -> None:
    codes = codes_of(ib)
    trade = ib.placeOrder(aapl, LimitOrder("BUY", 2, 149))
    await until(ib, status_is(trade, "Submitted"))
    await fake.fill(trade.order.orderId)
    ib.cancelOrder(trade.order)  # sent before ib_async has read the fill
    await until(ib, lambda: (trade.order.orderId, 10148) in codes)
    assert trade.orderStatus.status == "Filled"
    assert [f.execution.shares for f in trade.fills] == [2]


@pytest.mark.parametrize(("outcome", "state"), [("fill", "Filled"), ("cancel", "Cancelled")])
async def test_a_cancel_armed_to_lose_its_race_finds_the_order_ended(
    fake, ib, aapl, outcome: str, state: str
) -> None:
    """`race_next_cancel`: the order ends the moment before TWS takes the cancel; its
    reports come first, then TWS's 10148 naming the state, and ib_async leaves the
    trade as TWS reported it."""
    seen: list[tuple[str, int]] = []
    ib.orderStatusEvent += lambda trade: seen.append((trade.orderStatus.status, 0))
    ib.errorEvent += lambda req_id, code, text, contract: seen.append((text, code))
    trade = ib.placeOrder(aapl, LimitOrder("BUY", 2, 149))
    await until(ib, status_is(trade, "Submitted"))
    fake.race_next_cancel(outcome)
    ib.cancelOrder(trade.order)
    order_id = trade.order.orderId
    text = f"OrderId {order_id} that needs to be cancelled cannot be cancelled, state: {state}."
    await until(ib, lambda: (text, 10148) in seen)
    assert trade.orderStatus.status == state
    codes = [code for _, code in seen if code]
    assert codes[-1] == 10148  # after the reports of the order's end
    assert [f.execution.shares for f in trade.fills] == ([2] if outcome == "fill" else [])
    assert fake.order(order_id).status == state


async def test_venue_cancel_sends_202_then_cancelled(fake, ib, aapl) -> None:
    trade = ib.placeOrder(aapl, LimitOrder("BUY", 2, 149, tif="DAY"))
    await until(ib, status_is(trade, "Submitted"))
    await fake.cancel_by_venue(trade.order.orderId)
    await until(ib, status_is(trade, "Cancelled"))
    assert trade.log[-1].errorCode == 202


# ------------------------------------------------------ end markers, replays


async def test_missing_end_marker_at_connect_costs_the_timeout(fake) -> None:
    fake.omit_next_end("open_orders")
    started = time.monotonic()
    ib = await connect(fake, timeout=0.3)  # completes, the timeout only logged
    try:
        assert time.monotonic() - started >= 0.3
        assert ib.isConnected()
    finally:
        ib.disconnect()
    await fake.wait_for_sessions(0)
    fake.omit_next_end("positions")
    with pytest.raises(ConnectionError, match="positions request timed out"):
        await connect(fake, timeout=0.3, raiseSyncErrors=True)


async def test_missing_contract_details_end_hangs_the_lookup(fake, ib) -> None:
    fake.omit_next_end("contract_details")
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(ib.qualifyContractsAsync(Stock("AAPL", "SMART", "USD")), 0.2)


async def test_commission_before_its_execution_is_dropped_until_the_replay(fake, ib, aapl) -> None:
    await fake.set_quote("AAPL", "150.00", "150.05")
    fake.commission_before_execution()
    trade = ib.placeOrder(aapl, MarketOrder("BUY", 3))
    await until(ib, status_is(trade, "Filled"))
    [fill] = trade.fills
    assert fill.commissionReport.commission == 0.0  # ib_async dropped it
    await ib.reqExecutionsAsync()
    assert fill.commissionReport.commission == 1.0  # the replay brought it back


async def test_duplicate_execution_ids_on_the_replay(fake, ib, aapl) -> None:
    await fake.set_quote("AAPL", "150.00", "150.05")
    trade = ib.placeOrder(aapl, MarketOrder("BUY", 3))
    await until(ib, status_is(trade, "Filled"))
    fake.duplicate_next_replay()
    replay = await ib.reqExecutionsAsync()
    assert [f.execution.execId for f in replay] == [trade.fills[0].execution.execId] * 2
    assert len(ib.fills()) == 1  # ib_async keys its fills by execId
    assert len(trade.fills) == 1


async def test_quote_fills_during_a_drop_replay_on_reconnect(fake) -> None:
    async with ib_client(fake, client_id=6) as ib:
        [stock] = await ib.qualifyContractsAsync(Stock("AAPL", "SMART", "USD"))
        resting = ib.placeOrder(stock, LimitOrder("SELL", 2, 151))
        await until(ib, status_is(resting, "Submitted"))
        perm_id = resting.order.permId
        await fake.drop_connections()
        await fake.set_quote("AAPL", "151.00", "151.05")  # the market trades it meanwhile
        assert fake.order(resting.order.orderId).status == "Filled"
        assert ib.fills() == []
        await ib.connectAsync("127.0.0.1", fake.port, clientId=6, timeout=2)
        [fill] = ib.fills()
        assert (fill.execution.permId, fill.execution.side, fill.execution.price) == (
            perm_id,
            "SLD",
            151.0,
        )
        assert ib.openTrades() == []


# ------------------------------------------------ repeated and late order reports


def reports_on_the_wire(fake: FakeTws, kind: int) -> list[list[str]]:
    """Every frame of message `kind` the fake wrote to its client sessions."""
    return [frame for s in fake.sessions for frame in s.sent if frame[0] == str(kind)]


async def test_duplicate_reports_sends_every_order_report_twice_and_ib_async_keeps_one(
    fake, ib, aapl
) -> None:
    fake.duplicate_reports()
    trade = ib.placeOrder(aapl, LimitOrder("BUY", 3, 149))
    seen: list[tuple[str, float]] = []
    trade.statusEvent += lambda t: seen.append((t.orderStatus.status, t.orderStatus.filled))
    await until(ib, status_is(trade, "Submitted"))
    await fake.fill(trade.order.orderId, "1")
    await fake.fill(trade.order.orderId, "2")
    await until(ib, status_is(trade, "Filled"))
    await round_trip(ib)
    statuses = reports_on_the_wire(fake, 3)
    executions = reports_on_the_wire(fake, 11)
    commissions = reports_on_the_wire(fake, 59)
    assert [s[2] for s in statuses] == ["Submitted"] * 2 + ["Submitted"] * 2 + ["Filled"] * 2
    assert len(executions) == len(commissions) == 4
    assert executions[0] == executions[1]
    assert commissions[2] == commissions[3]
    assert fake.reports_repeated == 3 + 2 + 2
    # ib_async keeps one fill per execution id and raises no event for an unchanged status.
    assert [f.execution.shares for f in trade.fills] == [1, 2]
    assert len(ib.fills()) == 2
    assert seen == [("Submitted", 0), ("Submitted", 1), ("Filled", 3)]


async def test_late_statuses_resend_the_previous_status_and_ib_async_steps_back(
    fake, ib, aapl
) -> None:
    fake.late_statuses()
    trade = ib.placeOrder(aapl, LimitOrder("BUY", 3, 149))
    await until(ib, status_is(trade, "Submitted"))
    assert fake.reports_repeated == 0  # a first status has nothing older to re-send
    seen: list[tuple[str, float]] = []
    trade.statusEvent += lambda t: seen.append((t.orderStatus.status, t.orderStatus.filled))
    await fake.fill(trade.order.orderId, "1")
    await fake.fill(trade.order.orderId, "1")
    await fake.fill(trade.order.orderId, "1")
    await round_trip(ib)
    # Each new status is followed by the one before it: ib_async takes the stale one as
    # the order's status (a partial after a later partial, Submitted after Filled).
    assert seen == [
        ("Submitted", 1),
        ("Submitted", 0),
        ("Submitted", 2),
        ("Submitted", 1),
        ("Filled", 3),
        ("Submitted", 2),
    ]
    assert (trade.orderStatus.status, trade.orderStatus.filled) == ("Submitted", 2)
    assert fake.reports_repeated == 3
    assert await ib.reqAllOpenOrdersAsync() == []  # TWS lists no done order: it stays
    assert trade.orderStatus.status == "Submitted"
    assert len(trade.fills) == 3  # executions are not re-sent by `late`


async def test_late_statuses_resend_submitted_after_cancelled(fake, ib, aapl) -> None:
    fake.late_statuses()
    fake.duplicate_reports()
    trade = ib.placeOrder(aapl, LimitOrder("BUY", 3, 149))
    await until(ib, status_is(trade, "Submitted"))
    seen: list[str] = []
    trade.statusEvent += lambda t: seen.append(t.orderStatus.status)
    ib.cancelOrder(trade.order)
    await fake.wait_for(lambda: not fake.order(trade.order.orderId).working)
    await round_trip(ib)
    # ib_async marks the trade Cancelled on the 202 itself; the Cancelled status that
    # follows changes nothing; the stale Submitted after it does.
    assert seen == ["PendingCancel", "Cancelled", "Submitted"]
    assert [s[2] for s in reports_on_the_wire(fake, 3)] == ["Submitted"] * 2 + [
        "Cancelled",
        "Cancelled",
        "Submitted",
        "Submitted",
    ]
    assert fake.reports_repeated == 4
    assert trade.orderStatus.status == "Submitted"  # ib_async believes the stale one


async def test_report_faults_switch_off(fake, ib, aapl) -> None:
    fake.duplicate_reports()
    fake.late_statuses()
    fake.duplicate_reports(False)
    fake.late_statuses(False)
    trade = ib.placeOrder(aapl, LimitOrder("BUY", 3, 149))
    await until(ib, status_is(trade, "Submitted"))
    await fake.fill(trade.order.orderId)
    await until(ib, status_is(trade, "Filled"))
    await round_trip(ib)
    assert fake.reports_repeated == 0
    assert [s[2] for s in reports_on_the_wire(fake, 3)] == ["Submitted", "Filled"]
