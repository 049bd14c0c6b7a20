"""After TWS loses market data (1101), regains IB with its data kept (1102), or the
socket is rebuilt, the prices from before are not published again as a fresh quote.

ib_async hands the same `Ticker` (keyed by conId) back to a new `reqMktData`, with the
bid, ask, last and sizes from before the outage still in it, and the adapter built a
quote from every field the ticker held on any update: after 1101, TWS's prior close
alone (tick 9) republished bid 150 / ask 150.05 / last 150.02 with a new time, and a
first bid of 140 made the mark 145.025 (mid), half of it from before the outage, which
the price collar and the P&L used. Now a subscription asked again starts from nothing:
a quote holds only what TWS sent since, and the market link says which instruments
wait for their first quote."""

from __future__ import annotations

from decimal import Decimal

from silvertine_tui.domain import ConnectionState, Quote
from silvertine_tui.events import QuoteEvent
from tests.fakes.tws import FakeTws
from tests.fakes.tws import messages as m
from tests.support.ib import Desk, desk

L = ConnectionState
AAPL = "AAPL.SMART"


async def quotes(d: Desk) -> list[Quote]:
    return [
        e.event.payload
        for e in await d.bus.read(d.bus.layout.md("ib"))
        if isinstance(e.event, QuoteEvent)
    ]


def asked(fake: FakeTws) -> int:
    return len(fake.requests_of(m.REQ_MKT_DATA))


async def subscribed_again(d: Desk, before: int) -> None:
    """The fake holds the subscription asked again after `before` requests."""
    await d.wait(
        lambda: asked(d.fake) > before and any(s.tickers for s in d.fake.sessions),
        "market data asked again",
    )


async def outage(d: Desk, *, data_lost: bool) -> None:
    """1100 while IB's book for AAPL empties (nothing quoted when TWS is back), then
    1101 or 1102; returns once the ib link is LIVE again."""
    fake = d.fake
    await fake.connectivity_lost()
    await d.wait(lambda: d.broker.health_state.links["ib"].state is L.DEGRADED, "1100")
    fake.exchange.quotes.clear()
    await fake.connectivity_restored(data_lost=data_lost)
    await d.wait(lambda: d.broker.health_state.links["ib"].state is L.LIVE, "ib LIVE")


async def test_after_1101_the_close_alone_republishes_nothing_and_the_link_says_it_waits() -> None:
    async with FakeTws() as fake, desk(fake, connect=False) as d:
        await fake.set_quote("AAPL", "150.00", "150.05", last="150.02")
        await d.broker.connect()
        await d.broker.settle()
        published = await quotes(d)
        assert (published[-1].bid, published[-1].ask) == (Decimal("150.00"), Decimal("150.05"))
        before, requests = len(published), asked(fake)
        await outage(d, data_lost=True)
        await subscribed_again(d, requests)
        await fake.set_close("AAPL", "149.00")  # all TWS has: the prior close (tick 9)
        await d.broker.settle()
        assert (await quotes(d))[before:] == []
        assert d.broker.references[AAPL].price == Decimal("149.00")
        link = d.broker.health_state.links["market"]
        assert link.state is L.LIVE
        assert link.detail == (
            "data: live; awaiting a first quote since TWS lost market data (1101): "
            "AAPL.SMART (nothing quoted before it is used)"
        )
        # IB quotes again: that quote, and nothing of the one from before.
        await fake.set_quote("AAPL", "141.00", "141.10")
        await d.broker.settle()
        [fresh] = (await quotes(d))[before:]
        assert (fresh.bid, fresh.ask, fresh.last) == (Decimal("141.00"), Decimal("141.10"), None)
        await d.wait(
            lambda: "awaiting" not in d.broker.health_state.links["market"].detail,
            "the market link no longer waiting",
        )
        assert d.broker.health_state.links["market"].detail == "data: live"


async def test_after_1101_a_first_bid_is_quoted_without_the_ask_from_before() -> None:
    async with FakeTws() as fake, desk(fake, connect=False) as d:
        await fake.set_quote("AAPL", "150.00", "150.05", last="150.02")
        await d.broker.connect()
        await d.broker.settle()
        before, requests = len(await quotes(d)), asked(fake)
        await outage(d, data_lost=True)
        await subscribed_again(d, requests)
        await fake.send_tick("AAPL", m.BID, "140.00", "300")  # the market fell meanwhile
        await d.broker.settle()
        [first] = (await quotes(d))[before:]
        assert (first.bid, first.bid_size, first.ask, first.ask_size, first.last) == (
            Decimal("140.00"),
            Decimal("300"),
            None,
            None,
            None,
        )
        assert first.mark is None  # no mid made of 140 and the ask from before


async def test_after_1102_the_quote_from_before_1100_is_not_republished() -> None:
    """1102 keeps TWS's subscriptions, but the ticker still holds what was quoted
    before 1100: a tick of any kind after it republished that. The subscriptions are
    asked again (TWS sends what it has now) and nothing from before is published;
    nor while TWS is cut off (1100)."""
    async with FakeTws() as fake, desk(fake, connect=False) as d:
        await fake.set_quote("AAPL", "150.00", "150.05", last="150.02")
        await d.broker.connect()
        await d.broker.settle()
        before, requests = len(await quotes(d)), asked(fake)
        [old_req_id] = fake.sessions[0].tickers
        await fake.connectivity_lost()
        await fake.send_tick("AAPL", m.CLOSE, "149.00", "0")  # during 1100
        await d.broker.settle()
        assert (await quotes(d))[before:] == []
        fake.exchange.quotes.clear()
        await fake.connectivity_restored(data_lost=False)
        await d.wait(lambda: d.broker.health_state.links["ib"].state is L.LIVE, "ib LIVE")
        await subscribed_again(d, requests)
        await fake.set_close("AAPL", "149.50")
        # A tick TWS sent under the request before 1102 (on its way as it was
        # cancelled): the fresh ticker does not take it, the retired one is not quoted.
        fake.sessions[0].send([1, 6, old_req_id, m.LAST, "149.90", "5", 0])
        await d.broker.settle()
        assert (await quotes(d))[before:] == []
        detail = d.broker.health_state.links["market"].detail
        assert "awaiting a first quote since TWS was cut off from IB (1100; back, 1102)" in detail
        await fake.set_quote("AAPL", "149.95", "150.00")
        await d.broker.settle()
        [fresh] = (await quotes(d))[before:]
        assert (fresh.bid, fresh.ask, fresh.last) == (Decimal("149.95"), Decimal("150.00"), None)


async def test_after_a_reconnect_the_quote_from_before_is_not_republished() -> None:
    async with FakeTws() as fake, desk(fake, connect=False) as d:
        await fake.set_quote("AAPL", "150.00", "150.05", last="150.02")
        await d.broker.connect()
        await d.broker.settle()
        before = len(await quotes(d))
        await fake.drop_connections()
        await d.wait(lambda: d.broker.state is L.DISCONNECTED, "DISCONNECTED")
        fake.exchange.quotes.clear()
        await d.wait_live()
        await d.wait(lambda: any(s.tickers for s in fake.sessions), "subscribed again")
        await fake.set_close("AAPL", "149.00")
        await d.broker.settle()
        assert (await quotes(d))[before:] == []
        detail = d.broker.health_state.links["market"].detail
        assert "awaiting a first quote since the reconnect to TWS: AAPL.SMART" in detail
        await fake.send_tick("AAPL", m.ASK, "151.00", "200")
        await d.broker.settle()
        [first] = (await quotes(d))[before:]
        assert (first.bid, first.ask, first.ask_size, first.last) == (
            None,
            Decimal("151.00"),
            Decimal("200"),
            None,
        )


async def test_delayed_data_after_1101_starts_from_nothing_too() -> None:
    async with (
        FakeTws(market_data="delayed") as fake,
        desk(fake, connect=False, market_data_type="delayed") as d,
    ):
        await fake.set_quote("AAPL", "150.00", "150.05", last="150.02")
        await d.broker.connect()
        await d.broker.settle()
        published = await quotes(d)
        assert published[-1].bid == Decimal("150.00")
        assert d.broker.health_state.extra[f"md_type:{AAPL}"] == "delayed"
        before, requests = len(published), asked(fake)
        await outage(d, data_lost=True)
        await subscribed_again(d, requests)
        await fake.set_close("AAPL", "149.00")  # delayed: tick 75
        await d.broker.settle()
        assert (await quotes(d))[before:] == []
        await fake.send_tick("AAPL", m.DELAYED_OFFSET[m.BID], "140.00")
        await d.broker.settle()
        [first] = (await quotes(d))[before:]
        assert (first.bid, first.ask, first.last) == (Decimal("140.00"), None, None)
        assert d.broker.health_state.extra[f"md_type:{AAPL}"] == "delayed"
        assert d.broker.health_state.links["market"].detail == "data: delayed"


async def test_a_key_subscribed_again_after_an_unsubscribe_starts_from_nothing() -> None:
    """ib_async hands the ticker of before to the new request (cancelMktData leaves it
    in its maps): the quote of before came back with the first tick of any kind."""
    async with FakeTws() as fake, desk(fake, connect=False) as d:
        await fake.set_quote("AAPL", "150.00", "150.05", last="150.02")
        await d.broker.connect()
        await d.broker.settle()
        await d.broker.unsubscribe([AAPL])
        fake.exchange.quotes.clear()
        before, requests = len(await quotes(d)), asked(fake)
        await d.broker.subscribe([AAPL])
        await subscribed_again(d, requests)
        await fake.set_close("AAPL", "149.00")
        await d.broker.settle()
        assert (await quotes(d))[before:] == []
        await fake.send_tick("AAPL", m.BID, "149.90")
        await d.broker.settle()
        [first] = (await quotes(d))[before:]
        assert (first.bid, first.ask, first.last) == (Decimal("149.90"), None, None)
