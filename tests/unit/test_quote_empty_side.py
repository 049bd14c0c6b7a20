"""An empty book side is no price: Binance's bookTicker says one as `"0.00000000"`.

It showed as a bid of `0` in the Quotes pane and the spread as the whole ask
(`65,000.1`). The mark was already safe (`mid_of` refuses a side of 0); the quote, the
spread, the pane and the paper venue's book on Binance prices now say it as no price."""

from __future__ import annotations

import json
from collections import deque
from decimal import Decimal as D
from typing import Any

import pytest

from silvertine_tui.brokers.binance.market import MarketStreams, parse_book_ticker
from silvertine_tui.brokers.paper.binance_feed import overlay_quote
from silvertine_tui.domain import Book, BookLevel, Instrument, MarketDataKind, Quote
from silvertine_tui.ui.model import QuoteState
from silvertine_tui.ui.widgets.watchlist import Watchlist
from tests.fakes.binance import FakeBinance
from tests.fakes.binance.client import binance_client
from tests.support.binance_broker import quick_library_timings
from tests.unit.binance.test_binance_market import Seen

KEY = "BTCUSDT.BINANCE"
ZERO = "0.00000000"
EMPTY_BID = {"u": 7, "s": "BTCUSDT", "b": ZERO, "B": ZERO, "a": "65000.10", "A": "1.5"}
EMPTY_ASK = {"u": 8, "s": "BTCUSDT", "b": "65000.00", "B": "2", "a": ZERO, "A": ZERO}
BOTH_EMPTY = {"u": 9, "s": "BTCUSDT", "b": ZERO, "B": ZERO, "a": ZERO, "A": ZERO}


def btc() -> Instrument:
    return Instrument(
        symbol="BTCUSDT", venue="BINANCE", base_currency="BTC", quote_currency="USDT",
        tick_size=D("0.01"), lot_size=D("0.00001"),
    )  # fmt: skip


def cells(quote: Quote) -> dict[str, str]:
    """The Quotes pane's row for `quote` (fresh: it is drawn as it arrived)."""
    pane = Watchlist()
    inst = btc()
    pane.instruments[inst.key] = inst
    state = QuoteState(inst.key, "binance", quote, 10**18, D("64000"), deque())
    row = pane.row_for(state, 10**9)
    return {c.key: cell.text for c, cell in zip(Watchlist.COLUMNS, row, strict=True)}


# -- the quote ------------------------------------------------------------------------


def test_binance_says_an_empty_side_as_no_price() -> None:
    bid_gone = parse_book_ticker(KEY, EMPTY_BID)
    assert (bid_gone.bid, bid_gone.bid_size) == (None, None)
    assert (bid_gone.ask, bid_gone.ask_size) == (D("65000.10"), D("1.5"))
    ask_gone = parse_book_ticker(KEY, EMPTY_ASK)
    assert (ask_gone.ask, ask_gone.ask_size) == (None, None)
    assert (ask_gone.bid, ask_gone.bid_size) == (D("65000.00"), D("2"))
    both = parse_book_ticker(KEY, BOTH_EMPTY)
    assert (both.bid, both.ask, both.bid_size, both.ask_size) == (None, None, None, None)
    for quote in (bid_gone, ask_gone, both):
        assert quote.spread is None
        assert quote.mid is None
        assert quote.mark is None  # the mark before stands


@pytest.mark.parametrize(
    ("bid", "ask"),
    [("0", "65000.10"), ("65000.00", "0"), ("0", "0"), ("-1", "65000.10"), ("65000", "-0.5")],
)
def test_a_side_at_zero_or_below_has_no_spread(bid: str, ask: str) -> None:
    """Such a quote reaches the desk from elsewhere too: a journal written before
    Binance's empty side was read as none, another adapter."""
    assert Quote(instrument=KEY, bid=D(bid), ask=D(ask)).spread is None


def test_a_spread_between_two_prices_is_as_before() -> None:
    assert Quote(instrument=KEY, bid=D("65000.00"), ask=D("65000.10")).spread == D("0.10")
    # Crossed: both sides are prices, the spread says how far they cross.
    assert Quote(instrument=KEY, bid=D("65000.10"), ask=D("65000.00")).spread == D("-0.10")
    assert Quote(instrument=KEY, bid=None, ask=D("1")).spread is None


async def test_an_empty_side_on_the_wire_is_no_price() -> None:
    """Through the real python-binance socket: Binance's bookTicker for a book whose
    bids are all gone."""
    seen = Seen()

    async def snapshot(symbol: str, limit: int) -> dict[str, Any]:
        raise AssertionError("no book is subscribed")

    with quick_library_timings():
        async with FakeBinance() as fake, binance_client(fake) as client:
            market = MarketStreams(
                client,
                stream_url=fake.stream_url,
                depth_snapshot=snapshot,
                on_quote=seen.quote,
                on_book=seen.book,
                on_trade=seen.trade,
                on_link=seen.link,
                on_gap=seen.gap,
            )
            try:
                await market.subscribe({KEY: "BTCUSDT"}, (MarketDataKind.QUOTE,))
                await fake.wait_for_stream("btcusdt@bookTicker")
                frame = {"stream": "btcusdt@bookTicker", "data": EMPTY_BID}
                await fake.send_raw_stream_frame(json.dumps(frame))
                await seen.until(lambda: bool(seen.quotes))
            finally:
                await market.close()
    quote = seen.quotes[0]
    assert (quote.bid, quote.bid_size, quote.ask) == (None, None, D("65000.10"))
    assert (quote.spread, quote.mark) == (None, None)
    assert market.stats.bad_payloads == 0  # an empty side is no bad data


# -- the Quotes pane --------------------------------------------------------------------


def test_the_quotes_pane_shows_binances_empty_bid_as_none() -> None:
    """The reviewer's case: Bid `0`, Sprd `65,000.1`."""
    row = cells(parse_book_ticker(KEY, EMPTY_BID))
    assert row["bid"] == "-"
    assert row["ask"] == "65,000.10"
    assert row["spread"] == "-"


@pytest.mark.parametrize(("bid", "ask"), [("0", "65000.10"), ("-2", "65000.10")])
def test_the_quotes_pane_shows_a_bid_at_zero_or_below_as_none(bid: str, ask: str) -> None:
    row = cells(Quote(instrument=KEY, bid=D(bid), ask=D(ask), bid_size=D(0), ask_size=D(1)))
    assert (row["bid"], row["ask"], row["spread"]) == ("-", "65,000.10", "-")


@pytest.mark.parametrize("ask", ["0", "0.00000000", "-1"])
def test_the_quotes_pane_shows_an_ask_at_zero_or_below_as_none(ask: str) -> None:
    row = cells(Quote(instrument=KEY, bid=D("65000.00"), ask=D(ask)))
    assert (row["bid"], row["ask"], row["spread"]) == ("65,000.00", "-", "-")


def test_the_quotes_pane_shows_a_last_trade_at_zero_as_none() -> None:
    row = cells(Quote(instrument=KEY, bid=D("1"), ask=D("2"), last=D("0")))
    assert row["last"] == "-"


# -- the paper venue's book on Binance prices -------------------------------------------


def test_an_empty_side_empties_that_side_of_the_paper_book() -> None:
    """The paper broker's Binance feed lays each quote over the last depth book: a side
    Binance says is empty leaves no level there (none of the book's older, deeper ones,
    which would be prices nobody offers any more), the other side is overlaid as ever."""

    def lv(price: str, size: str) -> BookLevel:
        return BookLevel(price=D(price), size=D(size))

    book = Book(
        instrument=KEY,
        bids=(lv("64999", "1"), lv("64998", "2")),
        asks=(lv("65001", "1"), lv("65002", "2")),
        update_id=3,
    )
    bid_gone = overlay_quote(book, parse_book_ticker(KEY, EMPTY_BID))
    assert bid_gone.bids == ()
    assert bid_gone.asks == (lv("65000.10", "1.5"), lv("65001", "1"), lv("65002", "2"))
    ask_gone = overlay_quote(book, parse_book_ticker(KEY, EMPTY_ASK))
    assert ask_gone.asks == ()
    assert ask_gone.bids == (lv("65000.00", "2"), lv("64999", "1"), lv("64998", "2"))
    both = overlay_quote(book, parse_book_ticker(KEY, BOTH_EMPTY))
    assert (both.bids, both.asks, both.update_id) == ((), (), 3)
