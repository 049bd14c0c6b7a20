"""Paper trading on Binance's public streams (`market.source: binance`), against the fake
Binance: the real python-binance client and socket manager run."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Callable
from decimal import Decimal as D
from typing import Any

import pytest
from pydantic import ValidationError

from silvertine_tui.brokers.paper import PaperBroker
from silvertine_tui.brokers.paper.binance_feed import overlay_quote
from silvertine_tui.bus import MemoryBus
from silvertine_tui.config import PaperBrokerConfig, PaperMarketConfig
from silvertine_tui.domain import (
    Book,
    BookLevel,
    ConnectionState,
    OrderRequest,
    OrderStatus,
    OrderType,
    Quote,
    Side,
    TimeInForce,
)
from silvertine_tui.events import FillEvent, HealthEvent, OrderUpdateEvent, QuoteEvent
from tests.fakes.binance import FakeBinance

BTC = "BTCUSDT.PAPER"
LIVE, DISCONNECTED = ConnectionState.LIVE, ConnectionState.DISCONNECTED


def config(rest_url: str, stream_url: str) -> PaperBrokerConfig:
    return PaperBrokerConfig(
        name="paper",
        account="main",
        symbols=["BTCUSDT", "AAPL"],
        market={"source": "binance", "rest_url": rest_url, "stream_url": stream_url},
        latency={"enabled": False},
    )


async def until(ready: Callable[[], bool], timeout: float = 3.0) -> None:
    """Poll the simulator's state (it has no change notification to wait on)."""
    async with asyncio.timeout(timeout):
        while not ready():  # noqa: ASYNC110
            await asyncio.sleep(0.01)


@pytest.fixture
async def fake() -> AsyncIterator[FakeBinance]:
    async with FakeBinance() as server:
        yield server


@pytest.fixture
async def bus() -> AsyncIterator[MemoryBus]:
    memory = MemoryBus()
    await memory.start()
    yield memory
    await memory.close()


@pytest.fixture
async def paper(fake: FakeBinance, bus: MemoryBus) -> AsyncIterator[PaperBroker]:
    broker = PaperBroker(config(fake.api_url, fake.stream_url), bus)
    broker.market_retry_delays = (0.02, 0.05)
    yield broker
    await broker.close()


def link(broker: PaperBroker) -> tuple[ConnectionState, str] | None:
    status = broker.health_state.links.get("market")
    return None if status is None else (status.state, status.detail)


def buy(coid: str, qty: str, limit: str) -> OrderRequest:
    return OrderRequest(
        client_order_id=coid,
        broker="paper",
        account="main",
        instrument=BTC,
        side=Side.BUY,
        order_type=OrderType.LIMIT,
        quantity=D(qty),
        limit_price=D(limit),
        tif=TimeInForce.GTC,
    )


async def exec_events(bus: MemoryBus) -> list[Any]:
    return [e.event for e in await bus.read(bus.layout.exec("paper", "main"))]


async def test_a_resting_paper_order_fills_when_binances_book_crosses_it(
    fake: FakeBinance, bus: MemoryBus, paper: PaperBroker
) -> None:
    await fake.set_book("BTCUSDT", bids=[("100", "1"), ("99", "2")], asks=[("101", "1")])
    await paper.connect()
    await fake.wait_for_stream("btcusdt@depth@100ms")
    await until(lambda: paper.venue.book(BTC) is not None)
    book = paper.venue.book(BTC)
    assert book is not None
    assert book.bids == ((D("100"), D("1")), (D("99"), D("2")))
    assert paper.state is LIVE
    await paper.place(buy("st-live-1", "0.1", "100.50"))
    assert paper.venue.order("st-live-1") is not None
    assert [o.client_order_id for o in paper.venue.open_orders()] == ["st-live-1"]
    # Binance's ask comes down through the paper bid.
    await fake.set_book("BTCUSDT", bids=[("100", "1")], asks=[("100.40", "0.5")])
    await until(lambda: not paper.venue.open_orders())
    await paper.settle()
    fills = [e.payload for e in await exec_events(bus) if isinstance(e, FillEvent)]
    assert [(f.quantity, f.price, f.instrument) for f in fills] == [(D("0.1"), D("100.50"), BTC)]
    statuses = [
        e.payload.status
        for e in await exec_events(bus)
        if isinstance(e, OrderUpdateEvent) and e.payload.client_order_id == "st-live-1"
    ]
    assert statuses[-1] is OrderStatus.FILLED
    # The fake's own order book was not touched: the order lived only in the simulator.
    assert fake.orders == {}


async def test_quotes_refresh_the_top_of_the_book_and_health_shows_the_feed(
    fake: FakeBinance, paper: PaperBroker
) -> None:
    await paper.connect()
    await fake.wait_for_stream("btcusdt@bookTicker")
    await fake.set_book("BTCUSDT", bids=[("100", "1"), ("99", "2")], asks=[("101", "1")])
    await until(lambda: (b := paper.venue.book(BTC)) is not None and b.best_bid == D("100"))
    await paper.publish_health()
    extra = paper.health_state.extra
    assert extra["market"] == "binance"
    assert extra["market_unlisted"] == "AAPL"  # not on Binance: no prices
    assert float(extra["market_age_max_s"]) < 5
    assert link(paper) == (LIVE, "3 streams up")  # depth, bookTicker, miniTicker
    metrics = paper.health_state.as_metrics(paper.clock())
    assert metrics["link:market"] == "LIVE"
    assert "age_s:BTCUSDT.PAPER" in metrics


async def published_last(bus: MemoryBus) -> D | None:
    """The Last of the newest BTC quote the paper broker published."""
    quotes = [
        e.event.payload
        for e in await bus.read(bus.layout.md("paper"))
        if isinstance(e.event, QuoteEvent) and e.event.payload.instrument == BTC
    ]
    return quotes[-1].last if quotes else None


async def test_last_is_binances_last_trade_not_the_paper_fill(
    fake: FakeBinance, bus: MemoryBus, paper: PaperBroker
) -> None:
    """Fed by Binance, the paper venue's Last is Binance's last trade: at connect from the
    24hr ticker (the trade below was printed before anyone listened, and the first
    miniTicker push is held back), then each miniTicker's close. A paper fill is no
    trade of Binance's market: it showed as Last (101 here, while Binance last traded
    100.50) until the next paper fill."""
    await fake.set_quote("BTCUSDT", "100", "101")
    await fake.trade("BTCUSDT", "100.50", "0.2")
    fake.first_mini_ticker_s = 30.0  # only GET ticker/24hr can tell 100.50 now
    await paper.connect()
    await fake.wait_for_stream("btcusdt@miniTicker")
    await until(lambda: (b := paper.venue.book(BTC)) is not None and b.best_ask == D("101"))
    await fake.set_quote("BTCUSDT", "100", "101", bid_qty="9")  # a quote after the seed
    await until(lambda: paper.venue.book(BTC).bids[0][1] == D("9"))  # type: ignore[union-attr]
    assert await published_last(bus) == D("100.50")
    # A paper buy at Binance's ask fills in the simulator at 101.
    await paper.place(buy("st-live-3", "0.1", "101"))
    await until(lambda: not paper.venue.open_orders())
    await paper.settle()
    fills = [e.payload for e in await exec_events(bus) if isinstance(e, FillEvent)]
    assert [f.price for f in fills] == [D("101")]
    await fake.set_quote("BTCUSDT", "100", "101", bid_qty="8")
    await until(lambda: paper.venue.book(BTC).bids[0][1] == D("8"))  # type: ignore[union-attr]
    assert await published_last(bus) == D("100.50")
    # Binance trades at 100.80: its miniTicker's close is the next quote's Last.
    await fake.trade("BTCUSDT", "100.80", "0.1")
    await fake.set_quote("BTCUSDT", "100", "101", bid_qty="7")
    await until(lambda: paper.venue.book(BTC).bids[0][1] == D("7"))  # type: ignore[union-attr]
    assert await published_last(bus) == D("100.80")


async def test_the_market_link_goes_down_and_back_on_a_drop(
    fake: FakeBinance, bus: MemoryBus, paper: PaperBroker
) -> None:
    await fake.set_quote("BTCUSDT", "100", "101")
    await paper.connect()
    await until(lambda: link(paper) is not None and link(paper)[0] is LIVE)  # type: ignore[index]
    await fake.drop_connections()
    await until(lambda: paper.feed is not None and paper.feed.streams is not None)
    assert paper.feed is not None
    streams = paper.feed.streams
    assert streams is not None
    await until(lambda: streams.stats.reconnects == 1 and link(paper) == (LIVE, "3 streams up"))
    health = [
        e.event.payload.message
        for e in await bus.read(bus.layout.health)
        if isinstance(e.event, HealthEvent) and e.event.payload.message.startswith("market:")
    ]
    states = [m.split(" ")[1] for m in health]
    assert states[-3:] == ["LIVE", "DISCONNECTED", "LIVE"]
    assert "market streams lost (ConnectionClosedError" in health[-2]
    assert paper.state is LIVE
    # The book came back too: a move after the reconnect reaches the simulator.
    await fake.set_quote("BTCUSDT", "102", "103")
    await until(lambda: (b := paper.venue.book(BTC)) is not None and b.best_bid == D("102"))


async def test_binance_unreachable_leaves_paper_degraded_and_tradable(bus: MemoryBus) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    broker = PaperBroker(config(f"http://127.0.0.1:{port}/api", f"ws://127.0.0.1:{port}/"), bus)
    broker.market_retry_delays = (0.02,)
    try:
        await broker.connect()
        await until(lambda: link(broker) is not None and link(broker)[0] is DISCONNECTED)  # type: ignore[index]
        _, detail = link(broker)  # type: ignore[misc]
        assert "Binance REST unreachable" in detail
        assert "retrying in" in detail
        assert broker.state is ConnectionState.DEGRADED
        await broker.place(buy("st-live-2", "0.1", "100"))  # rests until prices arrive
        assert [o.client_order_id for o in broker.venue.open_orders()] == ["st-live-2"]
    finally:
        await broker.close()
    assert broker.state is DISCONNECTED


def test_binance_endpoints_only_with_the_binance_source() -> None:
    with pytest.raises(ValidationError, match="only apply to source: binance"):
        PaperMarketConfig(stream_url="ws://127.0.0.1:1/")
    with pytest.raises(ValidationError, match="scheme 'http' is not supported"):
        PaperMarketConfig(source="binance", stream_url="http://127.0.0.1:1/")
    assert PaperMarketConfig(source="binance", testnet=True).testnet


def test_a_quote_replaces_the_top_of_the_last_book() -> None:
    def lv(price: str, size: str) -> BookLevel:
        return BookLevel(price=D(price), size=D(size))

    book = Book(
        instrument="BTCUSDT.BINANCE",
        bids=(lv("100", "1"), lv("99", "2"), lv("98", "3")),
        asks=(lv("101", "1"), lv("102", "2")),
        update_id=7,
    )
    quote = Quote(
        instrument="BTCUSDT.BINANCE",
        bid=D("99"),
        bid_size=D("5"),
        ask=D("100.5"),
        ask_size=D("0.5"),
    )
    merged = overlay_quote(book, quote)
    assert merged.bids == (lv("99", "5"), lv("98", "3"))
    assert merged.asks == (lv("100.5", "0.5"), lv("101", "1"), lv("102", "2"))
    assert merged.update_id == 7
