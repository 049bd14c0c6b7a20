"""The real ib_async `IB` client against the fake TWS: connect, start-up, contracts,
account, positions and market data."""

from __future__ import annotations

import asyncio
import struct
import time
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest
from ib_async import IB, Contract, Crypto, Forex, Future, LimitOrder, Option, Stock

from tests.fakes.tws import ACCOUNT, FakeTws
from tests.fakes.tws import messages as m
from tests.fakes.tws.client import connect, ib_client, round_trip, until
from tests.fakes.tws.framing import FrameReader, encode_frame


@pytest.fixture
async def fake() -> AsyncIterator[FakeTws]:
    async with FakeTws(
        cash={"USD": "100000", "EUR": "500"},
        positions={"AAPL": ("10", "150.5"), "ESZ6": ("-1", "300000")},
    ) as fake:
        yield fake


def errors_of(ib: Any) -> list[tuple[int, int, str]]:
    seen: list[tuple[int, int, str]] = []
    ib.errorEvent += lambda req_id, code, text, contract: seen.append((req_id, code, text))
    return seen


async def test_connect_handshakes_at_178_and_answers_every_start_up_request(fake) -> None:
    ib = IB()
    notices = errors_of(ib)
    started = time.monotonic()
    await ib.connectAsync("127.0.0.1", fake.port, clientId=7, timeout=2)
    try:
        assert time.monotonic() - started < 0.5  # no start-up request waited for a timeout
        assert ib.client.serverVersion() == 178
        assert ib.managedAccounts() == [ACCOUNT]
        assert fake.client_ids() == [7]
        asked = [int(fields[0]) for _, fields in fake.requests]
        assert asked[0] == m.START_API
        for msg_id in (
            m.REQ_POSITIONS,
            m.REQ_OPEN_ORDERS,
            m.REQ_COMPLETED_ORDERS,
            m.REQ_ACCOUNT_UPDATES,
            m.REQ_ACCOUNT_UPDATES_MULTI,
        ):
            assert msg_id in asked
        assert asked[-1] == m.REQ_EXECUTIONS  # ib_async asks for executions last
        assert [code for _, code, _ in notices] == [2104, 2106, 2158]  # farm OK, info only
    finally:
        ib.disconnect()
    await fake.wait_for_sessions(0)


async def test_account_values_portfolio_and_positions_arrive_on_connect(fake) -> None:
    async with ib_client(fake) as ib:
        values = {(v.tag, v.currency): v.value for v in ib.accountValues() if not v.modelCode}
        assert values[("AccountCode", "")] == ACCOUNT
        assert values[("CashBalance", "USD")] == "100000.00"
        assert values[("CashBalance", "EUR")] == "500.00"
        assert values[("TotalCashValue", "USD")] == "100000.00"
        assert ("NetLiquidation", "USD") in values
        held = {p.contract.localSymbol: (p.position, p.avgCost) for p in ib.positions()}
        assert held == {"AAPL": (10.0, 150.5), "ESZ6": (-1.0, 300000.0)}
        portfolio = {p.contract.conId: p for p in ib.portfolio()}
        assert portfolio[265598].position == 10.0
        assert portfolio[265598].contract.primaryExchange == "NASDAQ"
        assert portfolio[495512563].averageCost == 300000.0
        # reqAccountUpdatesMulti answers too (values keyed with a model code "")
        multi = [v for v in ib.accountValues() if v.tag == "NetLiquidation"]
        assert multi


async def test_qualify_contracts_of_each_kind(fake) -> None:
    async with ib_client(fake) as ib:
        stock = Stock("AAPL", "SMART", "USD")
        future = Future("ES", "202612", "CME")
        forex = Forex("EURUSD")
        crypto = Crypto("BTC", "PAXOS", "USD")
        option = Option(localSymbol="AAPL  261218C00200000", exchange="SMART")
        done = await ib.qualifyContractsAsync(stock, future, forex, crypto, option)
        assert [c.conId for c in done] == [265598, 495512563, 12087792, 479624278, 702117631]
        assert stock.primaryExchange == "NASDAQ"
        assert stock.exchange == "SMART"
        assert (future.localSymbol, future.multiplier) == ("ESZ6", "50")
        assert future.lastTradeDateOrContractMonth == "20261218"
        assert (forex.localSymbol, forex.secType) == ("EUR.USD", "CASH")
        assert (crypto.localSymbol, crypto.secType) == ("BTC.USD", "CRYPTO")
        assert option.localSymbol == "AAPL  261218C00200000"  # spaces kept
        assert (option.strike, option.right, option.multiplier) == (200.0, "C", "100")


async def test_contract_details_carry_tick_size_hours_and_sizes(fake) -> None:
    async with ib_client(fake) as ib:
        [details] = await ib.reqContractDetailsAsync(Crypto("BTC", "PAXOS", "USD"))
        assert details.minTick == 0.25
        assert details.minSize == 0.0001
        assert details.sizeIncrement == 0.0001
        assert details.timeZoneId == "US/Central"
        assert details.tradingSessions()
        [fut] = await ib.reqContractDetailsAsync(Contract(conId=495512563))
        assert (fut.minTick, fut.contract.multiplier, fut.contractMonth) == (0.25, "50", "202612")


async def test_unknown_and_ambiguous_contracts_qualify_to_none(fake) -> None:
    async with ib_client(fake) as ib:
        seen = errors_of(ib)
        unknown = Stock("NOPE", "SMART", "USD")
        ambiguous = Contract(symbol="AAPL")  # the stock and the option
        assert await ib.qualifyContractsAsync(unknown, ambiguous) == [None, None]
        assert [code for _, code, _ in seen] == [200]
        [both] = await ib.qualifyContractsAsync(Contract(symbol="AAPL"), returnAll=True)
        assert sorted(c.secType for c in both) == ["OPT", "STK"]


async def test_market_data_ticks_bid_ask_last_and_updates(fake) -> None:
    async with ib_client(fake) as ib:
        [stock] = await ib.qualifyContractsAsync(Stock("AAPL", "SMART", "USD"))
        await fake.set_quote("AAPL", "150.00", "150.05", ask_size="300", last="150.02")
        ticker = ib.reqMktData(stock)
        await until(ib, lambda: ticker.last == 150.02)
        assert ticker.marketDataType == 1
        assert (ticker.bid, ticker.bidSize, ticker.ask, ticker.askSize) == (150, 100, 150.05, 300)
        assert ticker.lastSize == 1
        await fake.set_quote("AAPL", "150.10", "150.15")
        await until(ib, lambda: ticker.bid == 150.10)
        assert ticker.ask == 150.15
        ib.cancelMktData(stock)
        await fake.wait_for(lambda: not fake.sessions[0].tickers)
        await fake.set_quote("AAPL", "151", "151.05")
        await round_trip(ib)
        assert ticker.bid == 150.10


async def test_the_prior_close_ticks_at_subscription_and_when_a_day_ends(fake) -> None:
    """Tick type 9 (CLOSE), as TWS sends it with reqMktData: ib_async's `ticker.close`."""
    await fake.set_close("AAPL", "149.80")
    async with ib_client(fake) as ib:
        [stock] = await ib.qualifyContractsAsync(Stock("AAPL", "SMART", "USD"))
        await fake.set_quote("AAPL", "150.00", "150.05", last="150.02")
        ticker = ib.reqMktData(stock)
        await until(ib, lambda: ticker.close == 149.80)
        assert [t.tickType for t in ticker.ticks if t.price == 149.80] == [9]
        # Set again while subscribed, and rolled by a new trading day to the last trade.
        await fake.set_close("AAPL", "149.90")
        await until(ib, lambda: ticker.close == 149.90)
        await fake.new_trading_day()
        await until(ib, lambda: ticker.close == 150.02)
        # A contract with no close yet gets no tick 9 (ib_async's close stays NaN).
        [fx] = await ib.qualifyContractsAsync(Forex("EURUSD"))
        await fake.set_quote(fx.conId, "1.08", "1.08005")
        fx_ticker = ib.reqMktData(fx)
        await until(ib, lambda: fx_ticker.ask == 1.08005)
        await round_trip(ib)
        assert fx_ticker.close != fx_ticker.close


async def test_delayed_market_data_when_the_client_asks_for_it(fake) -> None:
    fake.market_data = "delayed"
    async with ib_client(fake) as ib:
        seen = errors_of(ib)
        [fx] = await ib.qualifyContractsAsync(Forex("EURUSD"))
        await fake.set_quote(fx.conId, "1.08", "1.08005")
        live = ib.reqMktData(fx)
        await until(ib, lambda: any(code == 354 for _, code, _ in seen))
        await round_trip(ib)
        assert live.bid != live.bid  # nan: no data without a delayed request
        ib.cancelMktData(fx)
        ib.reqMarketDataType(3)
        delayed = ib.reqMktData(fx)
        await until(ib, lambda: delayed.ask == 1.08005)
        assert delayed.marketDataType == 3
        assert delayed.bid == 1.08
        assert {t.tickType for t in delayed.ticks} >= {66, 67}
        await fake.set_close(fx.conId, "1.0795")  # the delayed close: tick type 75
        await until(ib, lambda: delayed.close == 1.0795)
        assert 75 in {t.tickType for t in delayed.ticks}
        assert 10167 in [code for _, code, _ in seen]


async def test_a_second_client_gets_order_ids_above_every_order_at_tws(fake) -> None:
    async with ib_client(fake, client_id=1) as first:
        [stock] = await first.qualifyContractsAsync(Stock("AAPL", "SMART", "USD"))
        trade = first.placeOrder(stock, LimitOrder("BUY", 1, 100))
        await until(first, lambda: trade.orderStatus.status == "Submitted")
        second = await connect(fake, client_id=2)
        try:
            assert second.client.getReqId() > trade.order.orderId
        finally:
            second.disconnect()
    assert Decimal(fake.order(trade.order.orderId).ticket.quantity) == 1


async def test_raw_handshake_and_requests_before_start_api_are_ignored(fake) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", fake.port)
    frames = FrameReader()
    frames.greeted = True  # the server side sends no greeting

    async def next_frame() -> list[str]:
        while True:
            if pending:
                return pending.pop(0)
            pending.extend(frames.feed(await asyncio.wait_for(reader.read(4096), 1)))

    pending: list[list[str]] = []
    try:
        writer.write(b"API\0" + struct.pack(">I", 9) + b"v157..178")
        version, connected_at = await next_frame()
        assert version == "178"
        assert connected_at.endswith(" UTC")
        writer.write(encode_frame([m.REQ_POSITIONS, 1]))  # before startApi: ignored
        writer.write(encode_frame([m.START_API, 2, 12, ""]))
        assert await next_frame() == ["9", "1", "1"]
        assert await next_frame() == ["15", "1", ACCOUNT]
        assert (await next_frame())[:4] == ["4", "2", "-1", "2104"]
        assert fake.client_ids() == [12]
        assert not [f for f in fake.sessions[0].sent if f[0] in ("61", "62")]
    finally:
        writer.close()


async def test_client_id_zero_connects_and_its_auto_bind_request_is_accepted(fake) -> None:
    async with ib_client(fake, client_id=0) as ib:
        assert ib.isConnected()
        assert fake.requests_of(m.REQ_AUTO_OPEN_ORDERS)


async def test_snapshot_market_data_ends_with_tick_snapshot_end(fake) -> None:
    async with ib_client(fake) as ib:
        [es] = await ib.qualifyContractsAsync(Future("ES", "202612", "CME"))
        await fake.set_quote("ESZ6", "6000.00", "6000.25", last="6000.25")
        [ticker] = await asyncio.wait_for(ib.reqTickersAsync(es), 1)
        assert (ticker.bid, ticker.ask, ticker.last) == (6000.0, 6000.25, 6000.25)
        assert fake.sessions[0].tickers == {}  # a snapshot is no subscription
