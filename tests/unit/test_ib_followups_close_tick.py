"""A ticker update that brings no new bid, ask or last (nor their sizes) publishes no
quote: the prior session's close alone (tick type 9: `set_close`, a new trading day)
is a reference price, not a fresh quote.

Before, `IBBroker._on_ticker` published the quote it built from the ticker on every
update: the unchanged bid/ask/last went out as a new quote with a new time, so an
instrument whose quotes had gone old (the Quotes row's `old 22s`, the Positions
mark's age) read fresh again for a while, with nothing new from the market. A
subscription asked again (a new socket) still publishes its first quote, whatever
its prices: it is TWS's word on the new subscription.

Runs the real ib_async client against the fake TWS.
"""

from __future__ import annotations

from decimal import Decimal

from silvertine_tui.domain import ConnectionState, Quote
from silvertine_tui.events import QuoteEvent, ReferencePriceEvent
from tests.fakes.tws import FakeTws
from tests.support.ib import Desk, desk

AAPL = "AAPL.SMART"


async def quotes(d: Desk) -> list[Quote]:
    return [
        e.event.payload
        for e in await d.bus.read(d.bus.layout.md("ib"))
        if isinstance(e.event, QuoteEvent) and e.event.payload.instrument == AAPL
    ]


async def references(d: Desk) -> list[Decimal]:
    return [
        e.event.payload.price
        for e in await d.bus.read(d.bus.layout.md("ib"))
        if isinstance(e.event, ReferencePriceEvent)
    ]


async def test_a_close_alone_publishes_no_quote() -> None:
    async with FakeTws() as fake, desk(fake) as d:
        await fake.set_quote("AAPL", "150.00", "150.05", last="150.02")
        await d.wait(lambda: d.broker.market.tickers[AAPL].last == 150.02, "the quote")
        await d.broker.settle()
        before = await quotes(d)
        assert before[-1].bid == Decimal("150.00")
        await fake.set_close("AAPL", "148.00")
        await d.wait(lambda: AAPL in d.broker.references, "the close")
        await d.broker.settle()
        assert await references(d) == [Decimal("148.00")]
        assert await quotes(d) == before  # nothing new: no quote
        await fake.new_trading_day()  # every instrument's close again
        await d.wait(lambda: d.broker.references[AAPL].price == Decimal("150.02"), "the new close")
        await d.broker.settle()
        assert await quotes(d) == before
        # What the market changes is published, sizes too.
        await fake.set_quote("AAPL", "150.00", "150.05", last="150.02", bid_size="300")
        await d.wait(lambda: d.broker.market.tickers[AAPL].bidSize == 300, "the size")
        await d.broker.settle()
        after = await quotes(d)
        assert len(after) == len(before) + 1
        assert after[-1].bid_size == Decimal(300)
        await fake.set_quote("AAPL", "150.01", "150.05", last="150.02", bid_size="300")
        await d.wait(lambda: d.broker.market.tickers[AAPL].bid == 150.01, "the bid")
        await d.broker.settle()
        assert [q.bid for q in await quotes(d)][-1] == Decimal("150.01")


async def test_a_subscription_asked_again_publishes_its_first_quote() -> None:
    async with FakeTws() as fake, desk(fake) as d:
        await fake.set_quote("AAPL", "150.00", "150.05", last="150.02")
        await d.wait(lambda: d.broker.market.tickers[AAPL].last == 150.02, "the quote")
        await d.broker.settle()
        before = len(await quotes(d))
        await fake.drop_connections()
        await d.wait(lambda: d.broker.state is ConnectionState.DISCONNECTED, "DISCONNECTED")
        await d.wait_live()
        # The same prices, on the new socket's subscription: quoted (it waited for them).
        await d.wait(lambda: AAPL not in d.broker.market.awaiting, "the first quote")
        await d.broker.settle()
        again = await quotes(d)
        assert len(again) > before
        assert (again[-1].bid, again[-1].ask, again[-1].last) == (
            Decimal("150.00"),
            Decimal("150.05"),
            Decimal("150.02"),
        )
