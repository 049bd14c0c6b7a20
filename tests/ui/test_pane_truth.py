"""What a pane says is true, and where the desk cannot know, it says so.

- A position's mark (and the unrealized P&L taken at it) is as old as the instrument's
  last quote. The Quotes pane dims a quote older than `stale_after_s` and says its age
  (`old 2m02s`); the Positions pane showed the same minutes-old mark, and its P&L, as
  if live, and the bottom line's total with it. Now the row says the mark's age, in the
  Quotes pane's words and at its threshold, both cells dimmed as it dims, and the total
  says it adds an old mark.
- A working order of a broker that is DISCONNECTED (or not heard from: a watching
  desk's STALE broker) read plain `NEW` in the Orders pane: nothing reports its fills
  or its cancel meanwhile. Its status is marked and in the warning colour, the pane's
  bottom line says whose orders' states are unknown, and both go when the broker is
  back.
"""

from __future__ import annotations

from decimal import Decimal

from silvertine_tui.domain import ConnectionState, Quote
from silvertine_tui.ui.screens.main import Pane
from silvertine_tui.ui.widgets.blotter import Blotter
from silvertine_tui.ui.widgets.positions import OLD, UNMARKED, Positions
from silvertine_tui.ui.widgets.watchlist import Watchlist

from .conftest import Desk, limit_buy, market_buy

ETH = "ETHUSDT.PAPER"
ETH_ROW = f"paper/main/{ETH}"
RESTING = "st000000000000000902"


def footer(desk: Desk, pane: str) -> str:
    return str(desk.app.screen.query_one(f"#pane-{pane}", Pane).border_subtitle or "")


async def seconds(desk: Desk, pilot: object, n: int) -> None:
    """`n` seconds of the desk clock with no quote, a frame each second."""
    for _ in range(n):
        desk.clock.advance(1.0)
        await desk.settle(pilot)  # type: ignore[arg-type]


async def test_an_old_mark_says_its_age_on_its_row_and_in_the_total(make_desk) -> None:
    desk: Desk = make_desk()
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 3)
        await desk.session.engine.submit(market_buy("st000000000000000901", ETH, "1.5"))
        await desk.step(pilot, 2)
        await desk.next_second(pilot)
        screen = desk.app.screen
        positions = screen.query_one(Positions)
        quotes = screen.query_one(Watchlist)
        stale = positions.palette.stale
        live_mark = positions.get_cell(ETH_ROW, "mark")
        live_upl = positions.get_cell(ETH_ROW, "upl")
        assert "old" not in live_mark.plain
        assert live_mark.style != stale
        assert live_upl.style != stale
        assert "old" not in footer(desk, "positions")

        # No quote for 4 s: under the Quotes pane's threshold (5 s), neither dims.
        await seconds(desk, pilot, 3)
        assert "old" not in quotes.get_cell(ETH, "spark").plain
        assert positions.get_cell(ETH_ROW, "mark").plain == live_mark.plain

        # The venue gone, two minutes without a quote.
        await desk.broker.drop_link("venue gone")
        await seconds(desk, pilot, 118)
        assert desk.session.engine.projection.broker_state("paper") is ConnectionState.DISCONNECTED
        said = quotes.get_cell(ETH, "spark").plain.strip()
        assert said.startswith("old 2m")
        mark = positions.get_cell(ETH_ROW, "mark")
        upl = positions.get_cell(ETH_ROW, "upl")
        # The same mark, with the age the Quotes pane gives its quote, both cells dimmed.
        assert mark.plain == f"{live_mark.plain} {said}"
        assert upl.plain == live_upl.plain
        assert mark.style == stale
        assert upl.style == stale
        assert "mark" in positions.shown_columns
        # The total adds that mark: it says so.
        total = footer(desk, "positions")
        assert f"u {live_upl.plain} (1 mark old)" in total

        # The age moves on each second as the Quotes pane's does.
        await seconds(desk, pilot, 1)
        said_now = quotes.get_cell(ETH, "spark").plain.strip()
        assert said_now != said
        assert positions.get_cell(ETH_ROW, "mark").plain.endswith(said_now)

        # Back: fresh quotes, a live mark and total again.
        await desk.broker.restore_link()
        await desk.step(pilot, 1)
        await desk.next_second(pilot)
        mark = positions.get_cell(ETH_ROW, "mark")
        assert "old" not in mark.plain
        assert mark.style != stale
        assert positions.get_cell(ETH_ROW, "upl").style != stale
        assert "old" not in footer(desk, "positions")
        await desk.session.close()


async def test_orders_of_a_disconnected_broker_say_their_state_is_unknown(make_desk) -> None:
    desk: Desk = make_desk()
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 3)
        engine = desk.session.engine
        await engine.submit(limit_buy(RESTING, "BTCUSDT.PAPER", "0.01", "63500"))
        await desk.step(pilot, 1)
        blotter = desk.app.screen.query_one(Blotter)
        warn = blotter.palette.warn
        live = blotter.get_cell(RESTING, "status")
        assert live.plain == "NEW"
        assert live.style != warn
        assert "unknown" not in footer(desk, "blotter")

        await desk.broker.drop_link("venue gone")
        await desk.settle(pilot)
        status = blotter.get_cell(RESTING, "status")
        assert status.plain == "NEW?"
        assert status.style == warn
        said = footer(desk, "blotter")
        assert said.startswith("paper/main DISCONNECTED: 1 order's state unknown")
        assert "1 working of 1 today" in said

        # All of today's orders: the same.
        await pilot.press("3", "a")
        await desk.settle(pilot)
        assert blotter.get_cell(RESTING, "status").plain == "NEW?"
        # In fewer words where the whole is too long for the edge (it was cut: `...
        # all today: 1, 1 wor…`): never cut.
        assert footer(desk, "blotter") == (
            "paper/main DISCONNECTED: 1 state unknown; all today: 1, 1 working"
        )
        await pilot.press("a")
        await desk.settle(pilot)

        # Back (reconciled): the state is known again.
        await desk.broker.restore_link()
        await desk.settle(pilot)
        assert engine.projection.broker_state("paper") is ConnectionState.LIVE
        status = blotter.get_cell(RESTING, "status")
        assert status.plain == "NEW"
        assert status.style != warn
        assert "unknown" not in footer(desk, "blotter")
        await desk.session.close()


async def test_orders_of_a_broker_not_heard_from_say_their_state_is_unknown(
    make_desk,
) -> None:
    """A watching desk's broker whose heartbeats stopped (`DeskProjection.silent`,
    set by engine/watch.py) is STALE: its last health said LIVE, and its orders may
    have filled since."""
    desk: Desk = make_desk()
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 3)
        engine = desk.session.engine
        await engine.submit(limit_buy(RESTING, "BTCUSDT.PAPER", "0.01", "63500"))
        await desk.step(pilot, 1)
        blotter = desk.app.screen.query_one(Blotter)
        assert blotter.get_cell(RESTING, "status").plain == "NEW"

        engine.projection.set_silent("paper", desk.clock.ns() - 12_000_000_000)
        await desk.settle(pilot)
        assert engine.projection.broker_state("paper") is ConnectionState.LIVE
        status = blotter.get_cell(RESTING, "status")
        assert status.plain == "NEW?"
        assert status.style == blotter.palette.warn
        assert footer(desk, "blotter").startswith("paper/main STALE: 1 order's state unknown")

        engine.projection.set_silent("paper", None)
        await desk.settle(pilot)
        assert blotter.get_cell(RESTING, "status").plain == "NEW"
        assert "unknown" not in footer(desk, "blotter")
        await desk.session.close()


async def test_a_quote_with_no_price_does_not_make_an_old_mark_fresh(make_desk) -> None:
    """A crossed or one-sided quote (Binance says an empty side as 0) leaves the mark
    as it was: the mark is as old as the last quote that gave a price, on its row, in
    the total and on the ticket (whose collar judges at it)."""
    desk: Desk = make_desk()
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 3)
        await desk.session.engine.submit(market_buy("st000000000000000911", ETH, "1.5"))
        await desk.step(pilot, 2)
        await seconds(desk, pilot, 60)
        mark = desk.session.engine.projection.last_price(ETH)
        for _ in range(3):
            desk.clock.advance(1.0)
            await desk.broker.publish_quote(
                Quote(
                    instrument=ETH,
                    bid=Decimal("9999"),
                    ask=Decimal("1"),
                    bid_size=Decimal(1),
                    ask_size=Decimal(1),
                )
            )
            await desk.settle(pilot)
        await desk.next_second(pilot)
        assert desk.session.engine.projection.last_price(ETH) == mark
        positions = desk.app.screen.query_one(Positions)
        assert " old 1m0" in positions.get_cell(ETH_ROW, "mark").plain  # 63-64 s
        assert "(1 mark old)" in footer(desk, "positions")
        # The quote itself is fresh (it came a second ago): the Quotes pane says so.
        assert "old" not in " ".join(
            c.plain for c in desk.app.screen.query_one(Watchlist)._cells[ETH]
        )


def test_a_total_says_the_open_positions_it_leaves_out_for_want_of_a_mark() -> None:
    """A watching desk started on a busy market reads a quiet instrument's mark only at
    its next quote: the total left that position out and said nothing."""
    positions = Positions()
    positions._shown_pnl = {
        "a": ("USDT", 2, Decimal("-10.21"), Decimal("-0.65"), ""),
        "b": ("USDT", 2, None, Decimal("-5.25"), UNMARKED),
        "c": ("USD", 2, Decimal("1.50"), Decimal("0"), OLD),
        "d": ("USD", 2, None, Decimal("2"), ""),  # flat: nothing to mark
    }
    assert positions.totals_text() == (
        "USD u +1.50 (1 mark old) r +2.00  USDT u -10.21 (1 unmarked) r -5.90"
    )
