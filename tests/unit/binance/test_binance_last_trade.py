"""A Binance quote carries the last trade's price (`Quote.last`, the desk's Last
column): bookTicker has none, so it comes from the 24hr ticker when the quotes start,
then from `@miniTicker`'s close and `@trade` prints, the later by the venue's clock;
none before the symbol has traded. Against the fake venue with the real python-binance
client."""

from __future__ import annotations

import asyncio
import json
import time
from decimal import Decimal

from silvertine_tui.domain import MarketDataKind, Quote
from silvertine_tui.events import QuoteEvent
from tests.support.binance_broker import Session, binance_session

ETH = "ETHUSDT.BINANCE"
D = Decimal


async def quotes(s: Session) -> list[Quote]:
    md = s.bus.layout.md(s.broker.name)
    return [e.event.payload for e in await s.bus.read(md) if isinstance(e.event, QuoteEvent)]


async def next_quote(s: Session, bid: str, ask: str) -> Quote:
    """Move the top of the book and return the quote it brings."""
    await s.fake.set_quote("ETHUSDT", bid, ask)
    deadline = time.monotonic() + 4
    while True:
        found = [q for q in await quotes(s) if q.bid == D(bid) and q.ask == D(ask)]
        if found:
            return found[-1]
        assert time.monotonic() < deadline, f"no quote {bid}/{ask}"
        await asyncio.sleep(0.01)


async def test_no_trade_no_last_then_each_print_is_the_last() -> None:
    async with binance_session() as s:
        await s.fake.wait_for_stream("ethusdt@miniTicker")
        first = await next_quote(s, "1999", "2001")
        assert first.last is None  # never traded: the desk shows '-', not the mid
        await s.fake.trade("ETHUSDT", "2000.5", "1")
        await asyncio.sleep(0.05)  # the miniTicker's push
        assert (await next_quote(s, "1999.5", "2001")).last == D("2000.5")
        await s.fake.trade("ETHUSDT", "2000.25", "1")
        await asyncio.sleep(0.05)
        assert (await next_quote(s, "1999", "2001.5")).last == D("2000.25")


async def test_the_24hr_ticker_gives_the_last_trade_when_the_quotes_start() -> None:
    async with binance_session(connect=False) as s:
        await s.fake.trade("ETHUSDT", "1950", "1")
        await s.broker.connect()
        assert (await next_quote(s, "1949", "1951")).last == D("1950")


async def test_a_late_ticker_push_does_not_undo_a_later_trade() -> None:
    """The streams of one socket are not ordered among themselves: a miniTicker stamped
    before a `@trade` print but read after it leaves the print as the last trade."""
    async with binance_session() as s:
        await s.broker.subscribe([ETH], [MarketDataKind.QUOTE, MarketDataKind.TRADE])
        await s.fake.wait_for_stream("ethusdt@trade")
        await s.fake.trade("ETHUSDT", "2000", "1")
        await asyncio.sleep(0.05)
        assert (await next_quote(s, "1999", "2001")).last == D("2000")
        late = {
            "e": "24hrMiniTicker",
            "E": s.fake.server_time() - 60_000,  # a minute before the print
            "s": "ETHUSDT",
            "c": "1990.00",
            "o": "1980.00",
            "h": "2000.00",
            "l": "1980.00",
            "v": "1",
            "q": "1990",
        }
        frame = {"stream": "ethusdt@miniTicker", "data": late}
        await s.fake.send_raw_stream_frame(json.dumps(frame))
        await asyncio.sleep(0.05)
        assert (await next_quote(s, "1998", "2001")).last == D("2000")
        await s.fake.trade("ETHUSDT", "2002", "1")
        await asyncio.sleep(0.05)
        assert (await next_quote(s, "1999", "2003")).last == D("2002")
