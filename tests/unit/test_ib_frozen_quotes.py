"""Frozen market data (TWS's marketDataType 2, frozen, or 4, delayed-frozen: the last
prices TWS had when the market closed) is never published as a live quote.

A frozen quote went on the bus as a live one (no venue time: delayed quotes had one,
frozen ones none), so the close's prices looked like the market now, and the engine
took them as the instrument's mark. A frozen quote now carries the venue time of the
last trade TWS has (tick 45; 88 for delayed-frozen), at the latest the time it arrived,
health says the data is frozen, and the Log says once which instruments' quotes are.

The real ib_async client against the fake TWS.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from silvertine_tui.domain import Quote
from silvertine_tui.events import LogLevel, QuoteEvent
from tests.fakes.tws import FakeTws
from tests.support.ib import Desk, desk

AAPL = "AAPL.SMART"
DELAYED_BY_NS = 15 * 60 * 1_000_000_000
NS = 1_000_000_000


async def quote_events(d: Desk) -> list[QuoteEvent]:
    return [
        e.event for e in await d.bus.read(d.bus.layout.md("ib")) if isinstance(e.event, QuoteEvent)
    ]


async def said_frozen(d: Desk) -> list[str]:
    return [line for line in await d.said_in_log(LogLevel.WARNING) if "frozen" in line]


def closed_hours_ago(hours: int) -> datetime:
    return datetime.now(UTC).replace(microsecond=0) - timedelta(hours=hours)


async def test_a_frozen_quote_carries_the_time_of_the_last_trade() -> None:
    closed = closed_hours_ago(3)
    async with FakeTws() as fake, desk(fake, connect=False, market_data_type="frozen") as d:
        await fake.set_quote("AAPL", "150.00", "150.05", last="150.02")
        fake.close_market(closed)
        await d.broker.connect()
        await d.broker.settle()
        [event] = await quote_events(d)
        quote = event.payload
        assert (quote.bid, quote.ask, quote.last) == (
            Decimal("150.00"),
            Decimal("150.05"),
            Decimal("150.02"),
        )
        # Not a live quote: its prices are of the close, hours ago.
        assert quote.venue_ts_ns == int(closed.timestamp()) * NS
        assert d.broker.health_state.extra[f"md_type:{AAPL}"] == "frozen"
        [said] = await said_frozen(d)
        assert AAPL in said
        assert "when the market closed" in said
        assert "price collar" in said
        # A later frozen tick: still stamped, said once.
        await fake.set_quote("AAPL", "150.01", "150.06", last="150.02")
        await d.broker.settle()
        events = await quote_events(d)
        assert len(events) == 2
        assert events[-1].payload.venue_ts_ns == int(closed.timestamp()) * NS
        assert len(await said_frozen(d)) == 1


async def test_a_frozen_quote_without_a_last_trade_is_of_an_age_not_known() -> None:
    """No trade, no last trade time from TWS: the quote's age is not known, stamped so
    (the epoch: never as live, never as fresh; stamped at its arrival, the close's
    prices read as a moment old), and said frozen."""
    async with FakeTws() as fake, desk(fake, connect=False, market_data_type="frozen") as d:
        await fake.set_quote("AAPL", "150.00", "150.05")
        fake.close_market(closed_hours_ago(1))
        await d.broker.connect()
        await d.broker.settle()
        [event] = await quote_events(d)
        assert event.payload.venue_ts_ns == 0
        assert d.broker.health_state.extra[f"md_type:{AAPL}"] == "frozen"
        assert len(await said_frozen(d)) == 1


async def test_delayed_frozen_data_carries_its_last_trade_time() -> None:
    closed = closed_hours_ago(20)
    async with (
        FakeTws(market_data="delayed") as fake,
        desk(fake, connect=False, market_data_type="delayed_frozen") as d,
    ):
        await fake.set_quote("AAPL", "150.00", "150.05", last="150.02")
        fake.close_market(closed)
        await d.broker.connect()
        await d.broker.settle()
        [event] = await quote_events(d)
        assert event.payload.venue_ts_ns == int(closed.timestamp()) * NS
        assert d.broker.health_state.extra[f"md_type:{AAPL}"] == "delayed-frozen"
        [said] = await said_frozen(d)
        assert "delayed-frozen" in said


async def test_delayed_frozen_without_a_last_trade_is_at_least_delayed() -> None:
    async with (
        FakeTws(market_data="delayed") as fake,
        desk(fake, connect=False, market_data_type="delayed_frozen") as d,
    ):
        await fake.set_quote("AAPL", "150.00", "150.05")
        fake.close_market(closed_hours_ago(1))
        await d.broker.connect()
        await d.broker.settle()
        [event] = await quote_events(d)
        assert event.payload.venue_ts_ns is not None
        assert event.ts - event.payload.venue_ts_ns >= DELAYED_BY_NS


async def test_frozen_asked_while_the_market_is_open_is_live() -> None:
    """Asked for frozen data, TWS sends live data while the market is open: not
    stamped back, not said frozen."""
    async with FakeTws() as fake, desk(fake, connect=False, market_data_type="frozen") as d:
        await fake.set_quote("AAPL", "150.00", "150.05", last="150.02")
        await d.broker.connect()
        await d.broker.settle()
        [event] = await quote_events(d)
        assert event.payload.venue_ts_ns is None
        assert d.broker.health_state.extra[f"md_type:{AAPL}"] == "live"
        assert await said_frozen(d) == []


@given(
    data_type=st.sampled_from([1, 2, 3, 4]),
    last_trade_s=st.none() | st.integers(min_value=1_500_000_000, max_value=1_900_000_000),
    now_s=st.integers(min_value=1_500_000_000, max_value=1_900_000_000),
)
def test_a_stale_quote_is_never_stamped_later_than_it_can_be(
    data_type: int, last_trade_s: int | None, now_s: int
) -> None:
    """Whatever TWS says of the last trade's time (one in the future by a skewed clock
    too), a frozen or delayed quote is stamped at or before its arrival (15 minutes
    before, delayed; the epoch, frozen with no trade time: not known), and only live
    data goes unstamped."""
    from silvertine_tui.brokers.ib.market import MarketData

    class Ticker:
        marketDataType = data_type
        lastTimestamp = None if last_trade_s is None else datetime.fromtimestamp(last_trade_s, UTC)
        delayedLastTimestamp = lastTimestamp

    ticker = Ticker()
    market = MarketData(ib=None)  # type: ignore[arg-type]
    market.tickers[AAPL] = ticker
    now_ns = now_s * NS
    stamp = market.venue_time(AAPL, ticker, now_ns)
    if data_type == 1:
        assert stamp is None
        return
    assert stamp is not None
    latest = now_ns - DELAYED_BY_NS if data_type in (3, 4) else now_ns
    assert stamp <= latest
    if data_type in (2, 4) and last_trade_s is not None:
        assert stamp == min(last_trade_s * NS, latest)
    elif data_type in (2, 4):
        assert stamp == 0
    else:
        assert stamp == latest
    assert isinstance(Quote(instrument=AAPL, venue_ts_ns=stamp).venue_ts_ns, int)
