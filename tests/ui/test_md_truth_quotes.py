"""The desk shows market data as old as it is.

- A quote stamped with the venue time it is of (IB's delayed data: 15 minutes before it
  arrived; frozen data: the last trade's time) looked live everywhere: the Quotes row
  plain, the Positions mark with no `old`, the ticket with no warning. Its age is now
  the older of its arrival and its venue time, in the one rule all three use
  (`watchlist.stale_age`).
- An instrument with no data at all (IB's 354, not subscribed) showed `-` for good:
  its Quotes row says why, and Health lists it under the market link with what to do.
- A broker whose market link holds its quotes (TWS cut off from IB, 1100) had them
  bright for five more seconds: they dim at once.
"""

from __future__ import annotations

import re
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from silvertine_tui.domain import VENUE_TIME_UNKNOWN, ConnectionState, Quote
from silvertine_tui.events import Health, HealthEvent
from silvertine_tui.ui.widgets.health import HealthPane
from silvertine_tui.ui.widgets.positions import Positions
from silvertine_tui.ui.widgets.text import TextBlock
from silvertine_tui.ui.widgets.watchlist import Watchlist

from .conftest import Desk, market_buy
from .test_trading_keys import open_buy_ticket

ETH = "ETHUSDT.PAPER"
BTC = "BTCUSDT.PAPER"
ETH_ROW = f"paper/main/{ETH}"
MIN = 60 * 1_000_000_000
NOT_SUBSCRIBED = "354: Requested market data is not subscribed. Displaying delayed market data."


def eth_quote(desk: Desk, venue_ts_ns: int | None) -> Quote:
    mark = desk.session.engine.projection.last_price(ETH) or Decimal("3500")
    return Quote(
        instrument=ETH,
        bid=mark - 1,
        ask=mark + 1,
        bid_size=Decimal(1),
        ask_size=Decimal(1),
        venue_ts_ns=venue_ts_ns,
    )


def row_text(desk: Desk, key: str) -> str:
    return " ".join(c.plain for c in desk.app.screen.query_one(Watchlist)._cells[key])


async def publish_health(desk: Desk, state: ConnectionState, metrics: dict[str, str]) -> None:
    component = "broker:paper/main"
    await desk.session.bus.publish(
        HealthEvent.create(
            component,
            Health(component=component, state=state, metrics=metrics),
            ts=desk.clock.ns(),
        )
    )


async def test_a_delayed_quote_is_old_in_the_quotes_positions_and_ticket(make_desk) -> None:
    desk: Desk = make_desk()
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 3)
        await desk.session.engine.submit(market_buy("st000000000000000931", ETH, "1.5"))
        await desk.step(pilot, 2)
        await desk.next_second(pilot)
        quotes = desk.app.screen.query_one(Watchlist)
        positions = desk.app.screen.query_one(Positions)
        assert "old" not in row_text(desk, ETH)
        # Delayed data: it arrives now, and is of 15 minutes ago.
        await desk.broker.publish_quote(eth_quote(desk, desk.clock.ns() - 15 * MIN))
        await desk.next_second(pilot)
        said = quotes.get_cell(ETH, "spark").plain.strip()
        assert said.startswith("old 15m")
        assert quotes.get_cell(ETH, "bid").style == quotes.palette.stale
        mark = positions.get_cell(ETH_ROW, "mark")
        assert " old 15m" in mark.plain
        assert mark.style == positions.palette.stale
        ticket = await open_buy_ticket(desk, pilot, ETH)
        await desk.next_second(pilot)
        preview = ticket.query_one("#t-preview", TextBlock).text.plain
        assert re.search(r"quote 15m0\ds old: the market may have moved since", preview), preview
        # A live quote again (no venue time): fresh everywhere.
        await desk.broker.publish_quote(eth_quote(desk, None))
        await desk.next_second(pilot)
        assert "old" not in row_text(desk, ETH)
        assert "old" not in positions.get_cell(ETH_ROW, "mark").plain
        preview = ticket.query_one("#t-preview", TextBlock).text.plain
        assert "old" not in preview
        await desk.session.close()


async def test_a_delayed_or_frozen_quote_says_so_in_80_columns(make_desk) -> None:
    """The broker's `md_type:<key>` names the kind: `dly 15m`, `frz 3h`."""
    desk: Desk = make_desk()
    async with desk.app.run_test(size=(80, 24)) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 2)
        await publish_health(
            desk, ConnectionState.LIVE, {"link:market": "LIVE", f"md_type:{ETH}": "delayed"}
        )
        await desk.broker.publish_quote(eth_quote(desk, desk.clock.ns() - 15 * MIN))
        await desk.next_second(pilot)
        assert "dly 15m" in row_text(desk, ETH)
        await publish_health(
            desk, ConnectionState.LIVE, {"link:market": "LIVE", f"md_type:{ETH}": "frozen"}
        )
        await desk.broker.publish_quote(eth_quote(desk, desk.clock.ns() - 180 * MIN))
        await desk.next_second(pilot)
        assert "frz 3h" in row_text(desk, ETH)
        await desk.session.close()


async def test_a_frozen_quote_of_no_known_time_says_its_age_is_not_known(make_desk) -> None:
    """IB's frozen data with no last-trade time carries `VENUE_TIME_UNKNOWN` (the epoch):
    `frz ?` in Quotes, `old ?` on the mark, the ticket warns; it read `frz 20793d`."""
    desk: Desk = make_desk()
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 2)
        await desk.session.engine.submit(market_buy("st000000000000000932", ETH, "1.5"))
        await desk.step(pilot, 2)
        await publish_health(
            desk, ConnectionState.LIVE, {"link:market": "LIVE", f"md_type:{ETH}": "frozen"}
        )
        await desk.broker.publish_quote(eth_quote(desk, VENUE_TIME_UNKNOWN))
        await desk.next_second(pilot)
        quotes = desk.app.screen.query_one(Watchlist)
        said = row_text(desk, ETH)
        assert "frz ?" in said, said
        assert "d " not in quotes.get_cell(ETH, "spark").plain
        assert quotes.get_cell(ETH, "bid").style == quotes.palette.stale
        positions = desk.app.screen.query_one(Positions)
        mark = positions.get_cell(ETH_ROW, "mark")
        assert " old ?" in mark.plain, mark.plain
        assert mark.style == positions.palette.stale
        ticket = await open_buy_ticket(desk, pilot, ETH)
        await desk.next_second(pilot)
        preview = ticket.query_one("#t-preview", TextBlock).text.plain
        assert "quote of an age not known: the market may have moved since" in preview, preview
        await desk.session.close()


async def test_an_instrument_with_no_data_says_why_in_quotes_and_health(make_desk) -> None:
    desk: Desk = make_desk()
    async with desk.app.run_test(size=(80, 24)) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 1)
        await publish_health(
            desk,
            ConnectionState.LIVE,
            {
                "link:market": "LIVE",
                f"md_type:{BTC}": "none",
                f"md_problem:{BTC}": NOT_SUBSCRIBED,
            },
        )
        await desk.settle(pilot)
        watchlist = desk.app.screen.query_one(Watchlist)
        line = watchlist.render_line(1 + watchlist._index[BTC]).text
        assert "no data: 354 (not subscribed)" in line
        assert len(line.rstrip()) <= 80
        await pilot.press("6", "z")
        await desk.settle(pilot)
        health = desk.app.screen.query_one(HealthPane).text.plain
        market = health.index("  market LIVE")
        assert health.index(f"{BTC}: {NOT_SUBSCRIBED}", market) > market
        assert "subscribe at IB, or set market_data_type: delayed" in health
        # Data again: the reason goes.
        await publish_health(
            desk, ConnectionState.LIVE, {"link:market": "LIVE", f"md_type:{BTC}": "live"}
        )
        await desk.step(pilot, 1)
        assert "not subscribed" not in desk.app.screen.query_one(HealthPane).text.plain
        await pilot.press("1")  # the Quotes pane in view again
        await desk.step(pilot, 1)
        assert "no data" not in row_text(desk, BTC)
        await desk.session.close()


async def test_quotes_held_by_the_market_link_dim_at_once(make_desk) -> None:
    desk: Desk = make_desk()
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 3)
        await desk.session.engine.submit(market_buy("st000000000000000932", ETH, "1.5"))
        await desk.step(pilot, 2)
        quotes = desk.app.screen.query_one(Watchlist)
        positions = desk.app.screen.query_one(Positions)
        assert quotes.get_cell(ETH, "bid").style != quotes.palette.stale
        await publish_health(
            desk,
            ConnectionState.DEGRADED,
            {
                "link:market": "DEGRADED",
                "link_detail:market": "no quotes while TWS is cut off (1100)",
            },
        )
        await desk.settle(pilot)  # no second passes: at once
        assert quotes.get_cell(ETH, "bid").style == quotes.palette.stale
        assert "old" in quotes.get_cell(ETH, "spark").plain
        await desk.next_second(pilot)
        assert "old" in positions.get_cell(ETH_ROW, "mark").plain
        # A DEGRADED link that still quotes (one instrument's bad prices) holds nothing.
        await publish_health(
            desk,
            ConnectionState.LIVE,
            {
                "link:market": "DEGRADED",
                "link_detail:market": "TWS sends prices that are no prices (X: bid inf)",
            },
        )
        await desk.step(pilot, 1)
        assert quotes.get_cell(ETH, "bid").style != quotes.palette.stale
        await desk.session.close()


@given(
    lag_s=st.floats(min_value=0, max_value=86_400),
    waited_s=st.floats(min_value=0, max_value=600),
    skew_s=st.floats(min_value=-120, max_value=120),
)
def test_a_quote_is_as_old_as_its_venue_time_on_any_publisher_clock(
    lag_s: float, waited_s: float, skew_s: float
) -> None:
    """Its age is the time since it arrived and how old it was when published, both on
    one clock each: a publisher whose clock is off by `skew_s` changes nothing."""
    from collections import deque

    from silvertine_tui.events import QuoteEvent
    from silvertine_tui.ui.model import FeedModel

    arrived_s = 1_700_000_000.0
    now = [arrived_s]
    model = FeedModel(prefix="t", clock=lambda: now[0])
    published_ns = int((arrived_s + skew_s) * 1e9)
    quote = Quote(
        instrument=ETH,
        bid=Decimal(1),
        ask=Decimal(2),
        venue_ts_ns=published_ns - int(lag_s * 1e9),
    )
    model._quote(QuoteEvent.create("paper", quote, ts=published_ns), int(arrived_s * 1e9))
    state = model.quotes[ETH]
    assert isinstance(state.spark, deque)
    assert abs(state.age_s(arrived_s + waited_s) - (waited_s + lag_s)) < 1e-3
    mark_age = state.mark_age_s(arrived_s + waited_s)
    assert mark_age is not None
    assert abs(mark_age - (waited_s + lag_s)) < 1e-3
