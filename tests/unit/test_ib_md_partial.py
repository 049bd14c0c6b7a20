"""TWS's 10090 ("Part of requested market data is not subscribed.
Subscription-independent ticks are still active ...") on a market data request is a
partial subscription, not a missing one: data still flows.

It was taken as a problem like 354: the instrument's market data type in health said
"none" while its quotes flowed. Now the type stays the one TWS announced for the
subscription (marketDataType: live, delayed, frozen) and health says the partial
subscription (`md_problem:<key>`), for as long as that subscription lasts.

The real ib_async client against the fake TWS.
"""

from __future__ import annotations

from decimal import Decimal

from silvertine_tui.domain import ConnectionState, Quote
from silvertine_tui.events import QuoteEvent
from tests.fakes.tws import FakeTws
from tests.fakes.tws import messages as m
from tests.support.ib import Desk, desk

L = ConnectionState
AAPL = "AAPL.SMART"
TYPE = f"md_type:{AAPL}"
PROBLEM = f"md_problem:{AAPL}"


async def quotes(d: Desk) -> list[Quote]:
    return [
        e.event.payload
        for e in await d.bus.read(d.bus.layout.md("ib"))
        if isinstance(e.event, QuoteEvent)
    ]


async def test_a_partial_subscription_keeps_its_live_type_and_says_it_is_partial() -> None:
    async with FakeTws() as fake:
        fake.partially_subscribed("AAPL")
        await fake.set_quote("AAPL", "150.00", "150.05")
        async with desk(fake) as d:
            await d.broker.settle()
            [quote] = await quotes(d)
            assert (quote.bid, quote.ask) == (Decimal("150.00"), Decimal("150.05"))
            assert quote.venue_ts_ns is None  # live data: no venue time of the past
            extra = d.broker.health_state.extra
            assert extra[TYPE] == "live"
            said = str(extra[PROBLEM])
            assert "10090" in said, said
            assert "part of" in said.lower(), said
            # More quotes: still live, still partial.
            await fake.set_quote("AAPL", "150.10", "150.15")
            await d.broker.settle()
            assert len(await quotes(d)) == 2
            assert extra[TYPE] == "live"
            assert "10090" in str(extra[PROBLEM])
            metrics = d.broker.health_state.as_metrics(d.broker.clock())
            assert metrics[TYPE] == "live"
            await d.wait(
                lambda: "10090" in d.broker.health_state.links["market"].detail, "link said"
            )
            detail = d.broker.health_state.links["market"].detail
            assert detail.startswith("data: live;"), detail
            assert f"part of the data not subscribed (10090): {AAPL}" in detail, detail
            assert d.broker.health_state.links["market"].state is L.LIVE


async def test_a_partial_delayed_subscription_stays_delayed_and_stamped() -> None:
    async with FakeTws(market_data="delayed") as fake:
        fake.partially_subscribed("AAPL")
        await fake.set_quote("AAPL", "150.00", "150.05")
        async with desk(fake, market_data_type="delayed") as d:
            await d.broker.settle()
            [quote] = await quotes(d)
            assert quote.venue_ts_ns is not None  # delayed: never published as live
            assert d.broker.health_state.extra[TYPE] == "delayed"
            assert "10090" in str(d.broker.health_state.extra[PROBLEM])


async def test_the_partial_subscription_is_the_subscription_s_own() -> None:
    """Granted in full at IB meanwhile, the subscription asked again (1101) is no
    longer partial: health says nothing of it; unsubscribing takes it out too."""
    async with FakeTws() as fake:
        fake.partially_subscribed("AAPL")
        await fake.set_quote("AAPL", "150.00", "150.05")
        async with desk(fake) as d:
            await d.broker.settle()
            assert "10090" in str(d.broker.health_state.extra[PROBLEM])
            fake.partial_market_data.clear()
            before = len(fake.requests_of(m.REQ_MKT_DATA))
            await fake.connectivity_lost()
            await d.wait(lambda: d.broker.health_state.links["ib"].state is L.DEGRADED, "1100")
            await fake.connectivity_restored(data_lost=True)
            await d.wait(lambda: len(fake.requests_of(m.REQ_MKT_DATA)) > before, "asked again")
            await fake.set_quote("AAPL", "150.20", "150.25")
            await d.broker.settle()
            await d.wait(lambda: PROBLEM not in d.broker.health_state.extra, "partial over")
            assert d.broker.health_state.extra[TYPE] == "live"
            fake.partially_subscribed("AAPL")
            await d.broker.unsubscribe([AAPL])
            await d.broker.subscribe([AAPL])
            await d.broker.settle()
            await d.wait(lambda: PROBLEM in d.broker.health_state.extra, "partial again")
            assert d.broker.health_state.extra[TYPE] == "live"
            await d.broker.unsubscribe([AAPL])
            assert PROBLEM not in d.broker.health_state.extra
            assert TYPE not in d.broker.health_state.extra
