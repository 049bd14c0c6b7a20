"""During a Redis outage the desk's own execution events wait in its bus's memory (the
outage buffer), and the panes, drawn from the journal, do not show them. The rows they
would change say so: a working order whose fill waits reads `NEW? fill waiting`, the
position and the balance that fill moves are marked `?`, and each pane's bottom line
says why (`N events of paper/main wait for Redis: rows may be behind`, with the orders
sent meanwhile that Orders cannot list yet). Nothing waiting is applied: the journal's
NEW and quantity stay until Redis takes the events, then the rows read them unmarked.

Before, a resting order filled during an outage read plain `NEW` with the position
unmoved and unmarked for as long as Redis was down (the trader's review, d52), while the
quit dialog at the same moment counted its fill.

The desk is the real app on a real session and paper broker on a real `redis-server`
the test kills and starts again under it."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from rich.style import Style

from silvertine_tui.bus import BusOptions, create_bus
from silvertine_tui.domain import Book, BookLevel, OrderStatus
from silvertine_tui.domain.money import money_text
from silvertine_tui.engine import Session
from silvertine_tui.ui.screens.main import Pane
from silvertine_tui.ui.widgets.balances import Balances
from silvertine_tui.ui.widgets.blotter import Blotter
from silvertine_tui.ui.widgets.positions import Positions
from tests.support.redis_server import RedisServer

from .conftest import Desk, FakeClock, limit_buy, make_settings, market_buy
from .test_fill_line import header_text
from .test_projection_rebuild import quiet_app
from .test_quit_unwritten import frames_until

pytestmark = pytest.mark.redis

ETH = "ETHUSDT.PAPER"
LONG = "st000000000000000701"  # bought before the outage: the position
RESTING = "st000000000000000702"  # rests before the outage, fills during it
SENT = "st000000000000000703"  # sent during the outage: rests at the venue


def redis_desk(server: RedisServer, prefix: str, clock: FakeClock, tmp_path: Path) -> Desk:
    """The test desk on the test's own Redis, its settings naming that bus (the quit
    dialog reads the URL: a memory bus's paper orders end with the desk)."""
    options = BusOptions(prefix=prefix, block_ms=50, epoch_check_s=0.1)
    settings = make_settings()
    bus_config = settings.bus.model_copy(update={"url": server.url, "prefix": prefix})
    settings = settings.model_copy(update={"bus": bus_config})
    session = Session(settings, bus=create_bus(server.url, options), clock=clock.ns)
    return Desk(quiet_app(session, clock, tmp_path / "state.json"), session, clock)


def book(bid: str, ask: str) -> Book:
    return Book(
        instrument=ETH,
        bids=(BookLevel(price=Decimal(bid), size=Decimal("10")),),
        asks=(BookLevel(price=Decimal(ask), size=Decimal("10")),),
    )


def subtitle(desk: Desk, pane: str) -> str:
    return str(desk.app.screen.query_one(f"#pane-{pane}").border_subtitle)


def status_cell(desk: Desk, coid: str) -> str:
    return desk.app.screen.query_one(Blotter).get_cell(coid, "status").plain


def qty_cell(desk: Desk) -> tuple[str, Style | str]:
    cell = desk.app.screen.query_one(Positions).get_cell(f"paper/main/{ETH}", "qty")
    return cell.plain, cell.style


def usdt_cell(desk: Desk) -> str:
    return desk.app.screen.query_one(Balances).get_cell("paper/main/USDT", "available").plain


def fills_waiting(desk: Desk) -> int:
    """The fills the bus holds in memory, not written to Redis yet."""
    return desk.session.bus.unwritten()[1]


async def test_rows_a_waiting_fill_would_change_say_they_are_not_confirmed(
    tmp_path: Path, clock: FakeClock
) -> None:
    with RedisServer(persistence=True) as server:
        desk = redis_desk(server, "t-outage-rows", clock, tmp_path)
        app, session = desk.app, desk.session
        async with app.run_test(size=(120, 36)) as pilot:
            await desk.start(pilot)
            await desk.broker.on_market_data(book("3500.00", "3502.00"))
            await desk.settle(pilot)
            engine = session.engine
            await engine.submit(market_buy(LONG, ETH, "1"))
            await engine.submit(limit_buy(RESTING, ETH, "0.5", "3450.00"))
            await desk.settle(pilot)
            blotter = app.screen.query_one(Blotter)
            assert status_cell(desk, RESTING) == "NEW"
            assert qty_cell(desk)[0] == "1"
            await desk.next_second(pilot)  # (balances are drawn at most once a second)
            usdt = session.projection.balances[("paper", "main", "USDT")]
            assert usdt_cell(desk) == money_text(usdt.available)
            assert "wait for Redis" not in subtitle(desk, "blotter")

            await server.akill()
            await frames_until(app, pilot, lambda: "BUS DOWN" in header_text(desk))
            # The market falls through the resting buy: the venue fills it, and its
            # reports, fill, position and balance wait in memory.
            await desk.broker.on_market_data(book("3440.00", "3445.00"))
            await frames_until(app, pilot, lambda: fills_waiting(desk) == 1, "the fill waiting")
            await frames_until(
                app,
                pilot,
                lambda: status_cell(desk, RESTING) == "NEW? fill waiting",
                "the row marked",
            )
            # (the venue's reports after its fill: the update, position and balance)
            await frames_until(app, pilot, lambda: "?" in usdt_cell(desk), "the balance marked")
            style = blotter.get_cell(RESTING, "status").style
            assert isinstance(style, Style)
            assert style == blotter.palette.warn
            # Nothing waiting is applied: the journal's word stands.
            view = session.projection.order(RESTING)
            assert view is not None
            assert view.order.status is OrderStatus.NEW
            assert session.projection.position("paper", "main", ETH) == Decimal("1")

            waiting = session.bus.unwritten()[0]
            assert waiting == 4  # its update, its fill, the position, the balance
            app.frame()
            await pilot.pause()
            orders_line = subtitle(desk, "blotter")
            assert orders_line.startswith(
                f"{waiting} events of paper/main wait for Redis: rows may be behind; "
            ), orders_line
            assert orders_line.endswith(" working"), orders_line  # (the counts after it)
            qty, qty_style = qty_cell(desk)
            assert qty == "1?"
            assert qty_style == app.screen.query_one(Positions).palette.warn
            assert subtitle(desk, "positions").startswith(
                "1 position behind: its events wait for Redis; USDT u "
            )
            # The journal's figure, marked (the waiting balance event is not applied).
            assert session.projection.balances[("paper", "main", "USDT")] == usdt
            assert usdt_cell(desk) == money_text(usdt.available) + "?"
            # Said whole where the edge has room; at 120x36 (40 cells) in fewer words,
            # never cut (`Balances.bottom_forms`).
            pane = desk.app.screen.query_one("#pane-balances", Pane)
            assert pane._subtitles[0] == "1 balance behind: its events wait for Redis"
            assert subtitle(desk, "balances") == "1 behind: waits for Redis"

            # An order sent now rests at the venue; the journal does not have it yet.
            await engine.submit(limit_buy(SENT, ETH, "0.1", "3400.00"))
            # Said whole where the edge has room (one pane at a time), shorter where not.
            blotter_pane = app.screen.query_one("#pane-blotter", Pane)
            await frames_until(
                app,
                pilot,
                lambda: (
                    "(1 order not in Orders yet): rows may be behind" in blotter_pane._subtitles[0]
                ),
                "the order not listed said",
            )
            await frames_until(
                app,
                pilot,
                lambda: (
                    subtitle(desk, "blotter")
                    == (
                        f"paper/main: {session.bus.unwritten()[0]} events wait for Redis, "
                        "1 order not listed; 1 working"
                    )
                ),
                "said shorter",
            )
            assert SENT not in blotter.row_keys

            # Redis back: the journal has them all, the rows read it, unmarked.
            await server.arestart()
            await frames_until(
                app, pilot, lambda: session.bus.unwritten() == (0, 0), "the backlog written"
            )
            await frames_until(
                app, pilot, lambda: RESTING not in blotter.row_keys, "the fill shown"
            )
            await frames_until(app, pilot, lambda: SENT in blotter.row_keys, "the order shown")
            await frames_until(app, pilot, lambda: qty_cell(desk)[0] == "1.5", "the position")
            assert status_cell(desk, SENT) == "NEW"
            assert "wait for Redis" not in subtitle(desk, "blotter")
            assert "wait for Redis" not in subtitle(desk, "positions")
            assert "wait for Redis" not in subtitle(desk, "balances")
            assert "?" not in usdt_cell(desk)
            await session.close()
