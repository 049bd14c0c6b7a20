"""Delayed market data (TWS's marketDataType 3 or 4: 15-20 minutes old) is never
published as a live quote.

A delayed quote went on the bus exactly as a live one (no venue time, nothing else on
it), so the engine took its mid as the instrument's mark for the price collar, the
notional checks and the P&L as if it were the market now. It now carries the venue
time its prices are of at the latest (`Quote.venue_ts_ns`, 15 minutes before it
arrived; a live quote carries none), health says the data is delayed, and the Log says
once which instruments' marks are that old.

The real ib_async client against the fake TWS.
"""

from __future__ import annotations

from decimal import Decimal

from silvertine_tui.domain import ConnectionState
from silvertine_tui.events import LogLevel, QuoteEvent
from tests.fakes.tws import FakeTws
from tests.support.ib import Desk, desk

L = ConnectionState
AAPL = "AAPL.SMART"
DELAYED_BY_NS = 15 * 60 * 1_000_000_000
"""How late IB's delayed data is at the least (15-20 minutes)."""


async def quote_events(d: Desk) -> list[QuoteEvent]:
    return [
        e.event for e in await d.bus.read(d.bus.layout.md("ib")) if isinstance(e.event, QuoteEvent)
    ]


async def said_delayed(d: Desk) -> list[str]:
    return [line for line in await d.said_in_log(LogLevel.WARNING) if "delayed" in line]


async def test_a_delayed_quote_carries_the_venue_time_it_is_of() -> None:
    async with (
        FakeTws(market_data="delayed") as fake,
        desk(fake, market_data_type="delayed") as d,
    ):
        await fake.set_quote("AAPL", "150.00", "150.05")
        await d.broker.settle()
        [event] = await quote_events(d)
        quote = event.payload
        assert (quote.bid, quote.ask) == (Decimal("150.00"), Decimal("150.05"))
        # Not a live quote: its prices are of 15 minutes before it arrived, at the latest.
        assert quote.venue_ts_ns is not None
        assert event.ts - quote.venue_ts_ns >= DELAYED_BY_NS
        assert event.ts - quote.venue_ts_ns < DELAYED_BY_NS + 60 * 1_000_000_000
        # Health says so, and the Log says what it means for the mark, once.
        assert d.broker.health_state.extra[f"md_type:{AAPL}"] == "delayed"
        assert "delayed" in d.broker.health_state.links["market"].detail
        await fake.set_quote("AAPL", "150.10", "150.15")
        await d.broker.settle()
        assert len(await quote_events(d)) == 2
        assert all(e.payload.venue_ts_ns is not None for e in await quote_events(d))
        [said] = await said_delayed(d)
        assert AAPL in said
        assert "15-20 minutes" in said
        assert "price collar" in said


async def test_delayed_frozen_data_is_stamped_as_delayed_too() -> None:
    async with (
        FakeTws(market_data="delayed") as fake,
        desk(fake, connect=False, market_data_type="delayed_frozen") as d,
    ):
        await fake.set_quote("AAPL", "150.00", "150.05")
        await d.broker.connect()
        await d.broker.settle()
        [event] = await quote_events(d)
        assert event.payload.venue_ts_ns is not None
        assert event.ts - event.payload.venue_ts_ns >= DELAYED_BY_NS
        assert len(await said_delayed(d)) == 1


async def test_a_live_quote_is_not_stamped_back_nor_said_delayed() -> None:
    async with FakeTws() as fake, desk(fake) as d:
        await fake.set_quote("AAPL", "150.00", "150.05")
        await d.broker.settle()
        [event] = await quote_events(d)
        assert event.payload.venue_ts_ns is None
        assert d.broker.health_state.extra[f"md_type:{AAPL}"] == "live"
        assert await said_delayed(d) == []


async def test_delayed_again_after_1101_is_not_said_twice_but_still_stamped() -> None:
    async with (
        FakeTws(market_data="delayed") as fake,
        desk(fake, market_data_type="delayed") as d,
    ):
        await fake.set_quote("AAPL", "150.00", "150.05")
        await d.broker.settle()
        await fake.connectivity_lost()
        await d.wait(lambda: d.broker.health_state.links["ib"].state is L.DEGRADED, "1100")
        await fake.connectivity_restored(data_lost=True)
        await d.wait(lambda: d.broker.health_state.links["ib"].state is L.LIVE, "ib LIVE")
        await d.wait(lambda: any(s.tickers for s in fake.sessions), "asked again")
        await fake.set_quote("AAPL", "151.00", "151.05")
        await d.broker.settle()
        events = await quote_events(d)
        assert events[-1].payload.bid == Decimal("151.00")
        stamps = [e.payload.venue_ts_ns for e in events]
        assert None not in stamps
        assert all(e.ts - (e.payload.venue_ts_ns or 0) >= DELAYED_BY_NS for e in events)
        assert len(await said_delayed(d)) == 1
