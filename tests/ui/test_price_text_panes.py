"""A price is drawn with its own decimals where it has more than the tick: never
rounded onto the instrument's grid (docs/ui.md, "Numbers"; `events.summary.price_text`).

The Orders pane rounded a working order's limit price onto the instrument's tick: the
venue coarsened BTCUSDT's tick to 0.1 (the desk re-reads instruments on every
reconnect) and the order at 63,500.05 read `63,500.0`, a price it does not have, while
the Log pane and its history said 63,500.05. The Quotes pane did the same with a quote
off the tick, and the Positions pane's mark (an average's rule: one decimal finer)
rounded a mid the P&L was taken at."""

from __future__ import annotations

from collections import deque
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from silvertine_tui.domain import (
    Instrument,
    Order,
    OrderRequest,
    OrderType,
    Quote,
    Side,
    TimeInForce,
)
from silvertine_tui.engine.projection import OrderView
from silvertine_tui.events import BrokerProfileEvent, QuoteEvent
from silvertine_tui.ui.format import parse_decimal
from silvertine_tui.ui.model import QuoteState
from silvertine_tui.ui.widgets.blotter import Blotter
from silvertine_tui.ui.widgets.positions import Positions
from silvertine_tui.ui.widgets.watchlist import Watchlist

from .conftest import Desk, limit_buy, market_buy

BTC = "BTCUSDT.PAPER"
ETH = "ETHUSDT.PAPER"
RESTING = "st000000000000000902"

prices = st.decimals(
    min_value=Decimal("0.00000001"), max_value=Decimal("1e12"), allow_nan=False, places=8
)
ticks = st.sampled_from(
    [Decimal(x) for x in ("1", "0.5", "0.25", "0.1", "0.05", "0.01", "0.001", "0.00001", "5")]
)


def instrument(tick: Decimal) -> Instrument:
    return Instrument(
        symbol="BTCUSDT", venue="X", base_currency="BTC", quote_currency="USDT",
        tick_size=tick, lot_size=Decimal("0.00001"),
    )  # fmt: skip


@given(prices, prices, ticks)
def test_the_quotes_pane_shows_a_quote_as_sent(bid: Decimal, ask: Decimal, tick: Decimal) -> None:
    inst = instrument(tick)
    quotes = Watchlist()
    quotes.instruments[inst.key] = inst
    quote = Quote(instrument=inst.key, bid=bid, ask=ask, last=bid)
    state = QuoteState(inst.key, "x", quote, 0, None, deque())
    cells = dict(zip((c.key for c in Watchlist.COLUMNS), quotes.row_for(state, 0.0), strict=True))
    assert parse_decimal(cells["bid"].text) == bid
    assert parse_decimal(cells["ask"].text) == ask
    assert parse_decimal(cells["last"].text) == bid
    if bid > ask:  # crossed: said, never a negative spread (test_crossed_quote.py)
        assert cells["spread"].text == "crossed"
    else:
        assert parse_decimal(cells["spread"].text) == ask - bid


@given(prices, prices, ticks)
def test_the_orders_pane_shows_an_order_at_its_prices(
    limit: Decimal, stop: Decimal, tick: Decimal
) -> None:
    inst = instrument(tick)
    request = OrderRequest(
        client_order_id="st000000000000000001", broker="paper", account="main",
        instrument=inst.key, side=Side.BUY, order_type=OrderType.STOP_LIMIT,
        quantity=Decimal("1"), limit_price=limit, stop_price=stop, tif=TimeInForce.GTC,
    )  # fmt: skip
    view = OrderView("paper", "main", Order.from_request(request))
    cells = dict(
        zip(
            (c.key for c in Blotter.COLUMNS),
            Blotter().row_for(view, {inst.key: inst}),
            strict=True,
        )
    )
    assert parse_decimal(cells["price"].text) == limit
    assert parse_decimal(cells["stop"].text) == stop


async def test_an_order_off_a_coarser_tick_keeps_its_price(make_desk) -> None:
    desk: Desk = make_desk()
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 3)
        engine = desk.session.engine
        await engine.submit(limit_buy(RESTING, BTC, "0.01", "63500.05"))
        await desk.step(pilot, 1)
        blotter = desk.app.screen.query_one(Blotter)
        assert blotter.get_cell(RESTING, "price").plain == "63,500.05"
        # The venue's tick re-read as 0.1 (a reconnect after Binance coarsened it).
        old = engine.profiles["paper"]
        coarser = tuple(
            i.model_copy(update={"tick_size": Decimal("0.1")}) if i.key == BTC else i
            for i in old.instruments
        )
        profile = old.model_copy(update={"instruments": coarser})
        await desk.session.bus.publish(BrokerProfileEvent.create("engine", profile))
        await desk.step(pilot, 1)
        await desk.next_second(pilot)
        assert engine.projection.instruments_by_key[BTC].tick_size == Decimal("0.1")
        assert blotter.get_cell(RESTING, "price").plain == "63,500.05"
        await desk.session.close()


async def test_a_quote_off_the_tick_and_the_mark_taken_from_it_are_shown_as_they_are(
    make_desk,
) -> None:
    desk: Desk = make_desk()
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 3)
        await desk.session.engine.submit(market_buy("st000000000000000901", ETH, "1.5"))
        await desk.step(pilot, 2)
        # A quote between the 0.01 ticks: its mid, the mark, 3,500.1275.
        quote = Quote(
            instrument=ETH, bid=Decimal("3500.121"), ask=Decimal("3500.134"),
            last=Decimal("3500.125"),
        )  # fmt: skip
        await desk.session.bus.publish(QuoteEvent.create("paper", quote, ts=desk.clock.ns()))
        await desk.settle(pilot)
        await desk.next_second(pilot)
        quotes = desk.app.screen.query_one(Watchlist)
        row = [quotes.get_cell(ETH, c).plain for c in ("bid", "ask", "last", "spread")]
        assert row == ["3,500.121", "3,500.134", "3,500.125", "0.013"]
        positions = desk.app.screen.query_one(Positions)
        assert desk.session.engine.projection.last_price(ETH) == Decimal("3500.1275")
        assert positions.get_cell(f"paper/main/{ETH}", "mark").plain == "3,500.1275"
        await desk.session.close()
