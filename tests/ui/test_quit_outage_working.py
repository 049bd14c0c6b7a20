"""The quit dialog during a Redis outage counts the orders this desk knows working, not
only those the journal shows: an order sent while Redis is down works at the venue
though its events wait in memory (the Orders pane cannot list it yet), and an order
the journal shows working whose fill waits in memory works no more.

Before, a limit buy sent during an outage and resting at the venue left the dialog at
`Quit with events not journaled? ... 4 event(s) (0 fill(s))` offering only `Quit (l)`:
no working order, no "Cancel & quit" (the trader's review, d59); and a resting sell
the venue filled during an outage was still `Quit with 1 working order(s)?` (d54).

The desk is the real app on a real session and paper broker on a real `redis-server`
the test kills and starts again under it."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import Static

from silvertine_tui.domain import OrderStatus
from silvertine_tui.ui.screens.quit import QuitScreen
from tests.support.redis_server import RedisServer

from .conftest import Desk, FakeClock, limit_buy
from .test_fill_line import header_text
from .test_outage_rows_unconfirmed import ETH, book, redis_desk
from .test_quit_unwritten import dialog_text, frames_until

pytestmark = pytest.mark.redis

SENT = "st000000000000000801"  # sent while Redis is down: rests at the venue
RESTING = "st000000000000000802"  # rests before the outage, fills during it


def body(screen: QuitScreen) -> str:
    return str(screen.query_one("#dialog-body", Static).render())


def fills_waiting(desk: Desk) -> int:
    """The fills the bus holds in memory, not written to Redis yet."""
    return desk.session.bus.unwritten()[1]


async def venue_open(desk: Desk) -> set[str]:
    return {o.client_order_id for o in await desk.broker.open_orders()}


async def test_an_order_sent_during_the_outage_is_counted_and_cancelled_on_quit(
    tmp_path: Path, clock: FakeClock
) -> None:
    with RedisServer(persistence=True) as server:
        desk = redis_desk(server, "t-quit-sent-down", clock, tmp_path)
        app, session = desk.app, desk.session
        async with app.run_test(size=(80, 24)) as pilot:
            await desk.start(pilot)
            await desk.step(pilot, 2)
            await server.akill()
            await frames_until(app, pilot, lambda: "BUS DOWN" in header_text(desk), "down")
            await session.engine.submit(limit_buy(SENT, ETH, "0.1", "3400"))
            await frames_until(app, pilot, lambda: session.bus.unwritten()[0] >= 2, "waiting")
            assert await venue_open(desk) == {SENT}  # the venue took it: it rests there
            assert session.projection.working_count() == 0  # the journal has nothing yet

            await pilot.press("q")
            await frames_until(app, pilot, lambda: isinstance(app.screen, QuitScreen), "dialog")
            found = app.screen
            assert isinstance(found, QuitScreen)
            screen: QuitScreen = found
            text = dialog_text(app)
            assert text.startswith("Quit with 1 working order(s)? NOT JOURNALED:"), text
            assert (
                "1 of them not in Orders yet: sent while Redis was out of reach, their events "
                "wait in memory."
            ) in body(screen)
            assert "C (shift+c): cancel them all and quit once they are done." in text
            assert screen.query("#cancel-quit")

            # Cancel & quit: the cancel goes to the venue, which needs no Redis.
            await pilot.press("C")
            await frames_until(app, pilot, lambda: "outcome unknown" in body(screen), "sent")
            assert body(screen).startswith(
                "Cancel sent for 1 order(s), outcome unknown: the bus is down (no "
                f"connection to {session.bus_url}), so the journal cannot show the "
                "broker's answer."
            )
            assert await venue_open(desk) == set()
            assert app.screen is screen

            # Redis back: the journal shows it cancelled, and the desk quits.
            await server.arestart()
            await frames_until(
                app, pilot, lambda: screen.outcome == "Every order is cancelled. Quitting.", "quit"
            )
            view = session.projection.order(SENT)
            assert view is not None
            assert view.order.status is OrderStatus.CANCELED
            await frames_until(app, pilot, lambda: bool(app._exit), "exit")
        await session.close()


async def test_an_order_whose_fill_waits_is_not_counted_working(
    tmp_path: Path, clock: FakeClock
) -> None:
    with RedisServer(persistence=True) as server:
        desk = redis_desk(server, "t-quit-filled-down", clock, tmp_path)
        app, session = desk.app, desk.session
        async with app.run_test(size=(120, 36)) as pilot:
            await desk.start(pilot)
            await desk.broker.on_market_data(book("3500.00", "3502.00"))
            await desk.settle(pilot)
            await session.engine.submit(limit_buy(RESTING, ETH, "0.5", "3450.00"))
            await desk.settle(pilot)
            assert session.projection.working_count() == 1

            await server.akill()
            await frames_until(app, pilot, lambda: "BUS DOWN" in header_text(desk), "down")
            await desk.broker.on_market_data(book("3440.00", "3445.00"))
            await frames_until(app, pilot, lambda: fills_waiting(desk) == 1, "filled")
            assert await venue_open(desk) == set()
            assert session.projection.working_count() == 1  # the journal's NEW, as it was

            await pilot.press("q")
            await frames_until(app, pilot, lambda: isinstance(app.screen, QuitScreen), "dialog")
            screen = app.screen
            assert isinstance(screen, QuitScreen)
            text = dialog_text(app)
            assert text.startswith("Quit with events not journaled? NOT JOURNALED:"), text
            assert body(screen) == (
                "l: quit now.\nesc: back to the desk.\n1 order(s) Orders shows working ended "
                "at the venue (filled or cancelled): their events wait in memory; not counted."
            )
            assert not screen.query("#cancel-quit")
            await pilot.press("escape")
            await frames_until(app, pilot, lambda: not isinstance(app.screen, QuitScreen), "back")
            await server.arestart()
            await frames_until(
                app, pilot, lambda: session.projection.working_count() == 0, "the fill shown"
            )
            await session.close()
