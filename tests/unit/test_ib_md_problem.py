"""An instrument's market data problem (`md_problem:<key>` in the broker's health) is
the subscription's it was said of: once the instrument is subscribed again and TWS
quotes it, the problem is over and health says so.

It was set by TWS's error on the subscription (354 not subscribed, 420 pacing, ...) and
only a paced request's own retry cleared it: after 1101 (every subscription asked
again), a new socket or a key subscribed again, health kept saying "354: not
subscribed" while quotes flowed. A problem still in force (TWS's error on the
subscription asked again) stays.

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
PROBLEM = f"md_problem:{AAPL}"


async def quotes(d: Desk) -> list[Quote]:
    return [
        e.event.payload
        for e in await d.bus.read(d.bus.layout.md("ib"))
        if isinstance(e.event, QuoteEvent)
    ]


def asked(fake: FakeTws) -> int:
    return len(fake.requests_of(m.REQ_MKT_DATA))


async def not_subscribed(fake: FakeTws, d: Desk) -> None:
    """TWS answers the live subscription 354 (the account has delayed data only)."""
    await d.broker.subscribe([AAPL])
    await d.broker.settle()
    assert "354" in str(d.broker.health_state.extra[PROBLEM])
    assert d.broker.health_state.extra[f"md_type:{AAPL}"] == "none"
    assert await quotes(d) == []


async def test_a_problem_is_cleared_by_the_first_quote_after_1101_resubscribes() -> None:
    async with FakeTws(market_data="delayed") as fake, desk(fake, symbols=[]) as d:
        await fake.set_quote("AAPL", "150.00", "150.05")
        await not_subscribed(fake, d)
        fake.market_data = "live"  # the subscription is granted at IB meanwhile
        before = asked(fake)
        await fake.connectivity_lost()
        await d.wait(lambda: d.broker.health_state.links["ib"].state is L.DEGRADED, "1100")
        await fake.connectivity_restored(data_lost=True)  # 1101: asked again
        await d.wait(lambda: asked(fake) > before, "market data asked again")
        await d.broker.settle()
        [quote] = await quotes(d)
        assert (quote.bid, quote.ask) == (Decimal("150.00"), Decimal("150.05"))
        assert PROBLEM not in d.broker.health_state.extra
        assert d.broker.health_state.extra[f"md_type:{AAPL}"] == "live"
        metrics = d.broker.health_state.as_metrics(d.broker.clock())
        assert PROBLEM not in metrics


async def test_an_unsubscribed_key_s_problem_leaves_health_with_it() -> None:
    """Nothing is subscribed for the key any more: health says no problem of it (it
    said "354" of an instrument nobody quoted); subscribed again, TWS's answer to the
    new request is said."""
    async with FakeTws(market_data="delayed") as fake, desk(fake, symbols=[]) as d:
        await fake.set_quote("AAPL", "150.00", "150.05")
        await not_subscribed(fake, d)
        await d.broker.unsubscribe([AAPL])
        assert PROBLEM not in d.broker.health_state.extra
        fake.market_data = "live"  # the subscription is granted at IB meanwhile
        await d.broker.subscribe([AAPL])
        await d.broker.settle()
        assert len(await quotes(d)) == 1
        assert PROBLEM not in d.broker.health_state.extra
        assert d.broker.health_state.extra[f"md_type:{AAPL}"] == "live"


async def test_a_problem_still_in_force_on_the_new_subscription_stays() -> None:
    """1101 asks again and TWS answers 354 again: health still says it."""
    async with FakeTws(market_data="delayed") as fake, desk(fake, symbols=[]) as d:
        await fake.set_quote("AAPL", "150.00", "150.05")
        await not_subscribed(fake, d)
        before = asked(fake)
        await fake.connectivity_lost()
        await d.wait(lambda: d.broker.health_state.links["ib"].state is L.DEGRADED, "1100")
        await fake.connectivity_restored(data_lost=True)
        await d.wait(lambda: asked(fake) > before, "market data asked again")
        await d.broker.settle()
        await fake.set_quote("AAPL", "150.10", "150.15")
        await d.broker.settle()
        assert "354" in str(d.broker.health_state.extra[PROBLEM])
        assert await quotes(d) == []


async def test_a_problem_of_data_that_flows_regardless_is_kept() -> None:
    """An error on a subscription that still quotes (TWS's 10090: part of the data is
    not subscribed) is not cleared by that subscription's own quotes: only a new
    subscription's quotes end a problem."""
    async with FakeTws() as fake, desk(fake, symbols=[]) as d:
        await fake.set_quote("AAPL", "150.00", "150.05")
        await d.broker.subscribe([AAPL])
        await d.broker.settle()
        [session] = fake.sessions
        [req_id] = session.tickers
        await fake.send_error(
            10090,
            "Part of requested market data is not subscribed. Subscription-independent "
            "ticks are still active.",
            req_id=req_id,
        )
        await d.broker.settle()
        await fake.set_quote("AAPL", "150.10", "150.15")
        await d.broker.settle()
        assert len(await quotes(d)) == 2
        assert "10090" in str(d.broker.health_state.extra[PROBLEM])
