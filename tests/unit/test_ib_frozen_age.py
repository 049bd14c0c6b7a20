"""A frozen quote TWS gives no trade time for (no trade since the close, or FX: bid and
ask only, whose ticks carry no time) is of an age not known: never read as fresh.

It was stamped with the time it arrived, so the close's prices, frozen for hours, read
as a quote of a moment ago: the Quotes pane's rule (`stale_age`) neither dimmed it nor
said `frz`. The real ib_async client against the fake TWS; the quote as the journal
holds it is read by the desk's own feed model and its staleness rule.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from silvertine_tui.bus import BusEntry
from silvertine_tui.events import QuoteEvent
from silvertine_tui.ui.model import FeedModel
from silvertine_tui.ui.widgets.watchlist import STALE_AFTER_S, stale_age
from tests.fakes.tws import FakeTws
from tests.support.ib import Desk, desk

AAPL = "AAPL.SMART"


async def quote_entries(d: Desk) -> list[BusEntry]:
    return [e for e in await d.bus.read(d.bus.layout.md("ib")) if isinstance(e.event, QuoteEvent)]


def read_by_the_desk(entry: BusEntry) -> float | None:
    """The quote's age by the Quotes pane's rule when it is stale, else None (fresh)."""
    model = FeedModel(prefix="silvertine", clock=time.time)
    model.ingest(entry)
    return stale_age(model.quotes[AAPL], time.time(), STALE_AFTER_S)


async def test_a_frozen_quote_with_no_trade_time_is_never_read_as_fresh() -> None:
    closed = datetime.now(UTC) - timedelta(hours=6)
    async with FakeTws() as fake, desk(fake, connect=False, market_data_type="frozen") as d:
        await fake.set_quote("AAPL", "150.00", "150.05")  # no last trade: no tick 45
        fake.close_market(closed)
        await d.broker.connect()
        await d.broker.settle()
        [entry] = await quote_entries(d)
        assert isinstance(entry.event, QuoteEvent)
        quote = entry.event.payload
        assert quote.venue_ts_ns is not None  # not a live quote
        assert d.broker.health_state.extra[f"md_type:{AAPL}"] == "frozen"
        age = read_by_the_desk(entry)
        assert age is not None, "a quote frozen for 6 hours read as fresh"
        # Its venue time is not known, not some made-up age: the epoch.
        assert quote.venue_ts_ns == 0


async def test_a_frozen_quote_with_a_trade_time_keeps_its_age() -> None:
    closed = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=6)
    async with FakeTws() as fake, desk(fake, connect=False, market_data_type="frozen") as d:
        await fake.set_quote("AAPL", "150.00", "150.05", last="150.02")
        fake.close_market(closed)
        await d.broker.connect()
        await d.broker.settle()
        [entry] = await quote_entries(d)
        age = read_by_the_desk(entry)
        assert age is not None
        assert abs(age - 6 * 3600) < 60
