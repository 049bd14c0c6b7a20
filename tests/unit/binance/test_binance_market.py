"""MarketStreams against the fake Binance: the real python-binance socket manager runs."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from decimal import Decimal as D
from typing import Any

import pytest

from silvertine_tui.brokers.binance.market import MarketStreams
from silvertine_tui.domain import (
    Book,
    BookLevel,
    ConnectionState,
    MarketDataKind,
    Quote,
    Side,
    Trade,
)
from tests.fakes.binance import FakeBinance, SymbolSpec
from tests.fakes.binance.client import binance_client

SYMBOL = "BTCUSDT"
KEY = "BTCUSDT.BINANCE"
ALL = (MarketDataKind.QUOTE, MarketDataKind.BOOK, MarketDataKind.TRADE)


class Seen:
    """What the streams delivered, with a wait for a condition on it."""

    def __init__(self) -> None:
        self.quotes: list[Quote] = []
        self.books: list[Book] = []
        self.trades: list[Trade] = []
        self.links: list[tuple[ConnectionState, str]] = []
        self.gaps: list[tuple[str, str]] = []
        self._changed = asyncio.Event()

    async def quote(self, quote: Quote) -> None:
        self.quotes.append(quote)
        self._changed.set()

    async def book(self, book: Book) -> None:
        self.books.append(book)
        self._changed.set()

    async def trade(self, trade: Trade) -> None:
        self.trades.append(trade)
        self._changed.set()

    async def link(self, state: ConnectionState, detail: str) -> None:
        self.links.append((state, detail))
        self._changed.set()

    async def gap(self, key: str, what: str) -> None:
        self.gaps.append((key, what))
        self._changed.set()

    @property
    def states(self) -> list[ConnectionState]:
        return [state for state, _ in self.links]

    async def until(self, ready: Callable[[], bool], timeout: float = 3.0) -> None:
        async with asyncio.timeout(timeout):
            while not ready():
                self._changed.clear()
                await self._changed.wait()


@pytest.fixture
async def fake() -> AsyncIterator[FakeBinance]:
    specs = [SymbolSpec("BTCUSDT", "BTC", "USDT"), SymbolSpec("ETHUSDT", "ETH", "USDT")]
    async with FakeBinance(symbols=specs) as server:
        yield server


@pytest.fixture
async def client(fake: FakeBinance) -> AsyncIterator[Any]:
    async with binance_client(fake) as library_client:
        yield library_client


@pytest.fixture
def seen() -> Seen:
    return Seen()


MakeStreams = Callable[..., MarketStreams]


@pytest.fixture
async def make_streams(fake: FakeBinance, client: Any, seen: Seen) -> AsyncIterator[MakeStreams]:
    """MarketStreams on the fake, reporting to `seen`; keyword arguments override."""
    made: list[MarketStreams] = []

    async def snapshot(symbol: str, limit: int) -> dict[str, Any]:
        answer: dict[str, Any] = await client.get_order_book(symbol=symbol, limit=limit)
        return answer

    def make(**overrides: Any) -> MarketStreams:
        options: dict[str, Any] = {
            "stream_url": fake.stream_url,
            "depth_snapshot": snapshot,
            "on_quote": seen.quote,
            "on_book": seen.book,
            "on_trade": seen.trade,
            "on_link": seen.link,
            "on_gap": seen.gap,
            "depth": 3,
            "retry_delays": (0.02, 0.05),
        }
        options.update(overrides)
        market = MarketStreams(client, **options)
        made.append(market)
        return market

    yield make
    for market in made:
        await market.close()


@pytest.fixture
def streams(make_streams: MakeStreams) -> MarketStreams:
    return make_streams()


def fake_book(fake: FakeBinance, symbol: str = SYMBOL, depth: int = 3) -> Book:
    """The fake's own book, as a Book of `depth` levels."""
    raw = fake.exchange.depth(symbol, depth)
    return Book(
        instrument=f"{symbol}.BINANCE",
        bids=tuple(BookLevel(price=Decimal(p), size=Decimal(q)) for p, q in raw["bids"]),
        asks=tuple(BookLevel(price=Decimal(p), size=Decimal(q)) for p, q in raw["asks"]),
        update_id=raw["lastUpdateId"],
    )


def levels(book: Book) -> tuple[Any, ...]:
    return (book.instrument, book.bids, book.asks, book.update_id)


async def test_book_ticker_becomes_a_quote_with_decimals(
    fake: FakeBinance, streams: MarketStreams, seen: Seen
) -> None:
    await streams.subscribe({KEY: SYMBOL}, [MarketDataKind.QUOTE])
    await fake.wait_for_stream("btcusdt@bookTicker")
    await seen.until(lambda: ConnectionState.LIVE in seen.states)
    await fake.set_quote(SYMBOL, "100.10", "100.20", bid_qty="1.5", ask_qty="2")
    await seen.until(lambda: bool(seen.quotes))
    quote = seen.quotes[-1]
    assert quote == Quote(
        instrument=KEY,
        bid=Decimal("100.1"),
        ask=Decimal("100.2"),
        bid_size=Decimal("1.5"),
        ask_size=Decimal("2"),
    )
    assert isinstance(quote.bid, Decimal)
    assert str(quote.bid) == "100.10000000"  # the wire's digits, never via float
    assert seen.links[0] == (ConnectionState.LIVE, "1 stream up")


async def test_book_starts_from_a_snapshot_then_follows_the_diffs(
    fake: FakeBinance, streams: MarketStreams, seen: Seen
) -> None:
    bids = [("100", "1"), ("99", "2"), ("98", "3"), ("97", "4")]
    await fake.set_book(SYMBOL, bids=bids, asks=[("101", "1"), ("102", "2")])
    await streams.subscribe({KEY: SYMBOL}, [MarketDataKind.BOOK])
    await fake.wait_for_stream("btcusdt@depth@100ms")
    await seen.until(lambda: bool(seen.books))
    first = seen.books[-1]
    assert levels(first) == levels(fake_book(fake))
    assert len(first.bids) == 3  # depth 3 of 4 levels
    await fake.set_book(SYMBOL, bids=[("100", "0.5"), ("99", "2")], asks=[("101.5", "1")])
    await fake.set_book(SYMBOL, bids=[("100", "0.5")], asks=[("101.5", "3")])
    await seen.until(lambda: seen.books[-1].update_id == fake.exchange.books[SYMBOL].update_id)
    latest = seen.books[-1]
    assert levels(latest) == levels(fake_book(fake))
    assert [b.update_id for b in seen.books] == [
        first.update_id,
        first.update_id + 1,  # type: ignore[operator]
        first.update_id + 2,  # type: ignore[operator]
    ]
    assert latest.venue_ts_ns is not None
    assert streams.stats.snapshots == 1
    assert seen.gaps == []


async def test_trades_carry_the_aggressor_from_the_maker_flag(
    fake: FakeBinance, streams: MarketStreams, seen: Seen
) -> None:
    await streams.subscribe({KEY: SYMBOL}, [MarketDataKind.TRADE])
    await fake.wait_for_stream("btcusdt@trade")
    await fake.trade(SYMBOL, "100.5", "0.25", buyer_is_maker=True)
    await fake.trade(SYMBOL, "100.6", "0.1", buyer_is_maker=False)
    await seen.until(lambda: len(seen.trades) == 2)
    sold, bought = seen.trades
    assert (sold.instrument, sold.price, sold.quantity) == (
        KEY,
        Decimal("100.5"),
        Decimal("0.25"),
    )
    assert sold.aggressor is Side.SELL  # the buyer rested: a seller crossed
    assert bought.aggressor is Side.BUY
    assert sold.trade_id != bought.trade_id
    assert sold.venue_ts_ns is not None


async def test_a_gap_in_update_ids_is_reported_and_the_book_resynced(
    fake: FakeBinance, streams: MarketStreams, seen: Seen
) -> None:
    await fake.set_quote(SYMBOL, "100", "101")
    await streams.subscribe({KEY: SYMBOL}, [MarketDataKind.BOOK])
    await fake.wait_for_stream("btcusdt@depth@100ms")
    await seen.until(lambda: bool(seen.books))
    missed = fake.exchange.books[SYMBOL].update_id + 1
    fake.drop_next_depth_update(SYMBOL)
    await fake.set_book(SYMBOL, bids=[("100.5", "2"), ("100", "1")], asks=[("101", "1")])
    await fake.set_book(SYMBOL, bids=[("100.5", "2")], asks=[("101", "1"), ("102", "7")])
    await seen.until(lambda: bool(seen.gaps))
    await seen.until(lambda: seen.books[-1].update_id == fake.exchange.books[SYMBOL].update_id)
    assert seen.gaps == [(KEY, f"missed book updates {missed}..{missed}; resynced from a snapshot")]
    assert levels(seen.books[-1]) == levels(fake_book(fake))
    assert streams.stats.snapshots == 2
    # The chain goes on from the resynced book.
    await fake.set_book(SYMBOL, bids=[("99", "1")], asks=[("102", "7")])
    await seen.until(lambda: seen.books[-1].update_id == fake.exchange.books[SYMBOL].update_id)
    assert levels(seen.books[-1]) == levels(fake_book(fake))
    assert len(seen.gaps) == 1


async def test_a_drop_reconnects_resubscribes_and_resyncs_the_book(
    fake: FakeBinance, streams: MarketStreams, seen: Seen
) -> None:
    await fake.set_quote(SYMBOL, "100", "101")
    await streams.subscribe({KEY: SYMBOL}, ALL)
    await fake.wait_for_stream("btcusdt@trade")
    await seen.until(lambda: bool(seen.books))
    await fake.drop_connections()
    await seen.until(lambda: ConnectionState.DISCONNECTED in seen.states)
    # The market moves while we are away: the book comes back from a new snapshot.
    await fake.set_book(SYMBOL, bids=[("99", "5")], asks=[("100", "5")])
    await seen.until(lambda: seen.states[-1] is ConnectionState.LIVE)
    await seen.until(lambda: seen.books[-1].update_id == fake.exchange.books[SYMBOL].update_id)
    assert seen.states == [
        ConnectionState.LIVE,
        ConnectionState.DISCONNECTED,
        ConnectionState.LIVE,
    ]
    _, detail = seen.links[1]
    assert "market streams lost (ConnectionClosedError" in detail
    assert "reconnecting in" in detail
    assert fake.stream_connects == 2
    assert sorted(fake.stream_sessions[-1].streams) == [
        "btcusdt@bookTicker",
        "btcusdt@depth@100ms",
        "btcusdt@trade",
    ]
    assert levels(seen.books[-1]) == levels(fake_book(fake))
    assert streams.stats.reconnects == 1
    await fake.trade(SYMBOL, "99.5", "1")
    await fake.set_quote(SYMBOL, "99.1", "99.9")
    await seen.until(
        lambda: bool(seen.trades) and any(q.bid == Decimal("99.1") for q in seen.quotes)
    )


async def test_refused_connects_back_off_until_the_venue_answers(
    fake: FakeBinance, streams: MarketStreams, seen: Seen
) -> None:
    fake.refuse_connections(count=3, user_data=False)
    await streams.subscribe({KEY: SYMBOL}, [MarketDataKind.QUOTE])
    await seen.until(lambda: seen.states[-1:] == [ConnectionState.LIVE])
    assert seen.states == [ConnectionState.DISCONNECTED] * 3 + [ConnectionState.LIVE]
    assert "market streams unreachable" in seen.links[0][1]
    assert "attempt 3" in seen.links[2][1]
    await fake.set_quote(SYMBOL, "100", "101")
    await seen.until(lambda: bool(seen.quotes))


async def test_unsubscribe_stops_that_instruments_data(
    fake: FakeBinance, streams: MarketStreams, seen: Seen
) -> None:
    await streams.subscribe({KEY: SYMBOL, "ETHUSDT.BINANCE": "ETHUSDT"}, [MarketDataKind.QUOTE])
    await fake.wait_for_stream("ethusdt@bookTicker")
    await streams.unsubscribe([KEY])
    await seen.until(lambda: fake.stream_sessions[-1].streams == ["ethusdt@bookTicker"])
    await fake.set_quote(SYMBOL, "100", "101")
    await fake.set_quote("ETHUSDT", "10", "11")
    await seen.until(lambda: bool(seen.quotes))
    await asyncio.sleep(0.05)
    assert [q.instrument for q in seen.quotes] == ["ETHUSDT.BINANCE"]
    assert len(fake.stream_sessions) == 1  # the old socket is closed
    assert streams.streams == ["ethusdt@bookTicker"]
    assert ConnectionState.DISCONNECTED not in seen.states  # a planned rebuild


async def test_odd_payloads_are_counted_and_skipped(
    fake: FakeBinance, streams: MarketStreams, seen: Seen
) -> None:
    await streams.subscribe({KEY: SYMBOL}, [MarketDataKind.QUOTE, MarketDataKind.TRADE])
    await fake.wait_for_stream("btcusdt@trade")
    odd = [
        '{"stream": "btcusdt@bookTicker", "data": {"b": 100.1, "B": "1", "a": "101", "A": "1"}}',
        '{"stream": "btcusdt@bookTicker", "data": {"b": "abc", "B": "1", "a": "101", "A": "1"}}',
        '{"stream": "btcusdt@trade", "data": {"p": "1", "q": "1", "t": 5}}',
        '{"stream": "nosuch@trade", "data": {}}',
        '{"stream": "btcusdt@trade", "data": [1, 2]}',
        "[1, 2, 3]",
    ]
    for text in odd:
        await fake.send_raw_stream_frame(text)
    await fake.set_quote(SYMBOL, "100", "101")
    await seen.until(lambda: bool(seen.quotes))
    assert streams.bad_payloads == len(odd)
    assert seen.quotes[0].bid == Decimal("100")
    assert seen.trades == []
    assert seen.states == [ConnectionState.LIVE]  # nothing reconnected


async def test_a_frame_that_is_not_json_is_counted_and_the_stream_recovers(
    fake: FakeBinance, streams: MarketStreams, seen: Seen
) -> None:
    await streams.subscribe({KEY: SYMBOL}, [MarketDataKind.QUOTE])
    await fake.wait_for_stream("btcusdt@bookTicker")
    await fake.send_raw_stream_frame("}{ not json")
    # python-binance's read loop dies on it: we rebuild the socket.
    await seen.until(lambda: seen.states[-1:] == [ConnectionState.LIVE] and len(seen.states) == 3)
    assert "JSONDecodeError" in seen.links[1][1]
    assert streams.bad_payloads == 1
    await fake.set_quote(SYMBOL, "100", "101")
    await seen.until(lambda: bool(seen.quotes))


async def test_close_is_bounded_even_while_reconnecting(
    fake: FakeBinance, make_streams: MakeStreams, seen: Seen
) -> None:
    market = make_streams(retry_delays=(30.0,))
    await market.subscribe({KEY: SYMBOL}, ALL)
    await fake.wait_for_stream("btcusdt@trade")
    await fake.drop_connections()
    await seen.until(lambda: ConnectionState.DISCONNECTED in seen.states)
    started = time.monotonic()
    await market.close()
    assert time.monotonic() - started < 1.0
    # A live one closes quickly too (the library's own close waits for its read poll).
    again = make_streams()
    await again.subscribe({KEY: SYMBOL}, ALL)
    await fake.wait_for_stream_connects(2)
    await seen.until(lambda: seen.states[-1] is ConnectionState.LIVE)
    started = time.monotonic()
    await again.close()
    assert time.monotonic() - started < 1.0
    await seen.until(lambda: not fake.stream_sessions)


async def test_a_failing_snapshot_is_retried(
    fake: FakeBinance, client: Any, make_streams: MakeStreams, seen: Seen
) -> None:
    calls: list[str] = []

    async def flaky_snapshot(symbol: str, limit: int) -> dict[str, Any]:
        calls.append(symbol)
        if len(calls) == 1:
            raise ConnectionError("depth endpoint unreachable")
        answer: dict[str, Any] = await client.get_order_book(symbol=symbol, limit=limit)
        return answer

    market = make_streams(depth_snapshot=flaky_snapshot, depth=10)
    await fake.set_quote(SYMBOL, "100", "101")
    await market.subscribe({KEY: SYMBOL}, [MarketDataKind.BOOK])
    await seen.until(lambda: bool(seen.books))
    assert calls == [SYMBOL, SYMBOL]
    assert levels(seen.books[-1]) == levels(fake_book(fake, depth=10))


async def test_data_read_before_a_drop_is_still_delivered(
    fake: FakeBinance, make_streams: MakeStreams, seen: Seen
) -> None:
    async def slow_consumer(trade: Trade) -> None:
        await asyncio.sleep(0.01)
        await seen.trade(trade)

    streams = make_streams(on_trade=slow_consumer)
    await streams.subscribe({KEY: SYMBOL}, [MarketDataKind.TRADE])
    await fake.wait_for_stream("btcusdt@trade")
    for n in range(20):
        await fake.trade(SYMBOL, f"100.{n:02d}", "1")
    await asyncio.sleep(0.05)  # on the wire (a TCP abort drops what is unsent)
    await fake.drop_connections()
    await seen.until(lambda: ConnectionState.DISCONNECTED in seen.states)
    # The consumer was still busy when the socket failed: nothing read is lost.
    assert [t.price for t in seen.trades] == [D(f"100.{n:02d}") for n in range(20)]


async def test_a_drop_with_refused_reconnects_backs_off_then_recovers(
    fake: FakeBinance, streams: MarketStreams, seen: Seen
) -> None:
    await streams.subscribe({KEY: SYMBOL}, [MarketDataKind.QUOTE])
    await fake.wait_for_stream("btcusdt@bookTicker")
    fake.refuse_connections(count=2, user_data=False)
    await fake.drop_connections(user_data=False)
    await seen.until(lambda: len(seen.states) == 5)
    assert seen.states == [
        ConnectionState.LIVE,
        ConnectionState.DISCONNECTED,  # lost
        ConnectionState.DISCONNECTED,  # refused (attempt 2)
        ConnectionState.DISCONNECTED,  # refused (attempt 3)
        ConnectionState.LIVE,
    ]
    assert [d.split(" (")[0] for _, d in seen.links[1:4]] == [
        "market streams lost",
        "market streams unreachable",
        "market streams unreachable",
    ]
    await fake.set_quote(SYMBOL, "100", "101")
    await seen.until(lambda: bool(seen.quotes))


async def test_a_new_subscription_joins_without_a_disconnect_and_books_resync(
    fake: FakeBinance, streams: MarketStreams, seen: Seen
) -> None:
    await fake.set_quote(SYMBOL, "100", "101")
    await fake.set_quote("ETHUSDT", "10", "11")
    await streams.subscribe({KEY: SYMBOL}, [MarketDataKind.BOOK])
    await seen.until(lambda: bool(seen.books))
    await streams.subscribe({"ETHUSDT.BINANCE": "ETHUSDT"}, [MarketDataKind.BOOK])
    await seen.until(lambda: any(b.instrument == "ETHUSDT.BINANCE" for b in seen.books))
    assert sorted(fake.stream_sessions[-1].streams) == [
        "btcusdt@depth@100ms",
        "ethusdt@depth@100ms",
    ]
    assert seen.links == [
        (ConnectionState.LIVE, "1 stream up"),
        (ConnectionState.LIVE, "2 streams up"),
    ]
    await fake.set_book(SYMBOL, bids=[("100.5", "1")], asks=[("101", "1")])
    await seen.until(lambda: seen.books[-1].update_id == fake.exchange.books[SYMBOL].update_id)
    assert levels(seen.books[-1]) == levels(fake_book(fake))
    await streams.unsubscribe([KEY, "ETHUSDT.BINANCE"])
    await seen.until(lambda: seen.links[-1] == (ConnectionState.LIVE, "no streams subscribed"))
    await seen.until(lambda: not fake.stream_sessions)


@pytest.mark.parametrize(
    ("stable_after_s", "second_wait"), [(30.0, "reconnecting in 0.05 s"), (0.0, "in 0.02 s")]
)
async def test_a_socket_that_keeps_dropping_backs_off_further(
    fake: FakeBinance,
    make_streams: MakeStreams,
    seen: Seen,
    stable_after_s: float,
    second_wait: str,
) -> None:
    streams = make_streams(stable_after_s=stable_after_s)
    await streams.subscribe({KEY: SYMBOL}, [MarketDataKind.QUOTE])
    for connects in (1, 2):
        await fake.wait_for_stream_connects(connects)
        await seen.until(lambda: seen.states[-1:] == [ConnectionState.LIVE])
        await fake.drop_connections(user_data=False)
        await seen.until(lambda: seen.states[-1] is ConnectionState.DISCONNECTED)
    await seen.until(lambda: seen.states[-1:] == [ConnectionState.LIVE])
    lost = [detail for state, detail in seen.links if state is ConnectionState.DISCONNECTED]
    assert lost[0].endswith("reconnecting in 0.02 s")
    assert lost[1].endswith(second_wait)
