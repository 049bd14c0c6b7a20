"""No toast covers the header's trading state, under any dialog, at any size.

Under a dialog the newest toast shows over the header, from a fixed column (20 cells:
the widest PAPER/LIVE marker and trading state); what the header says after the state
was under it. With Redis down, the kill switch's dialog read ` PAPER  ACTIVE   BUS▌
Claims not renewed`: BUS DOWN hidden as the trader was deciding to kill; a watching
desk's ` KILL NOT SENT ` mark, said right after the state, was covered the same way.
Under a dialog the toasts now start after all the header says of the desk's state."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from textual.widgets._toast import Toast

from silvertine_tui.bus import BusOptions, create_bus
from silvertine_tui.domain import TradingState
from silvertine_tui.ui.app import SilvertineApp
from silvertine_tui.ui.screens.confirm import ConfirmScreen
from silvertine_tui.ui.screens.dialog import Dialog
from silvertine_tui.ui.widgets.header import DeskHeader
from tests.support.redis_server import RedisServer

from .conftest import Desk, FakeClock
from .test_fill_line import header_text
from .test_health_bus import frames_until, redis_desk
from .test_projection_rebuild import drawn, live_desk
from .test_quote_drawing import Terminal, capture
from .test_toast_repaint import screen_text
from .test_watch_desk import PREFIX, watch_session, watching_desk

SIZES = [(120, 36), (80, 24)]
CLAIMS = (
    "the last renewal failed: Redis at redis://127.0.0.1:16391 is unreachable "
    "(ConnectionError: Error 111 connecting to 127.0.0.1:16391.)"
)


def top_line(app: SilvertineApp) -> str:
    """The screen's first line as the terminal gets it (a dialog's toasts over the
    desk's header)."""
    return app.screen._compositor.render_strips()[0].text


def toasts_shown(app: SilvertineApp) -> list[Toast]:
    return [t for t in app.screen.query(Toast) if t.region.area > 0]


def assert_state_in_sight(app: SilvertineApp, state: str) -> None:
    """`state` (`PAPER  HALTED   BUS DOWN`) leads the first line, whole, and the newest
    toast shows on that line after it, never over it."""
    shown = top_line(app)
    assert shown.startswith(state), shown
    toasts = toasts_shown(app)
    assert toasts, "no toast on screen"
    for toast in toasts:
        assert toast.region.y == 0, toast.region  # over the header, not the dialog
        assert toast.region.x >= len(state), f"the toast at {toast.region} covers {shown!r}"
    assert "▌" in shown[len(state) :]  # the toast is on that line


def same(term: Terminal, desk: Desk, width: int, height: int) -> None:
    """The terminal shows what the screen holds: a toast moved leaves nothing behind."""
    want = screen_text(desk, width, height)
    for y in range(height):
        assert term.line(y) == want[y], f"line {y}: {term.line(y)!r} != {want[y]!r}"


async def frames(app: SilvertineApp, pilot, n: int = 5) -> None:
    for _ in range(n):
        app.frame()
        await pilot.pause()


@pytest.mark.redis
@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
async def test_bus_down_and_halted_stay_in_sight_under_a_dialog(
    tmp_path: Path, clock: FakeClock, size: tuple[int, int]
) -> None:
    width, height = size
    with RedisServer() as server:
        options = BusOptions(prefix="t-toasthdr", block_ms=50, epoch_check_s=0.1)
        desk = redis_desk(create_bus(server.url, options), clock, tmp_path)
        app = desk.app
        updates = capture(app)
        async with app.run_test(size=size, notifications=True) as pilot:
            await desk.start(pilot)
            await desk.step(pilot, 1)
            term = Terminal(width, height)
            header = app.screen.query_one(DeskHeader)
            await server.akill()
            await frames_until(app, pilot, lambda: "BUS DOWN" in header_text(desk))
            await frames_until(
                app, pilot, lambda: any(n.title == "Bus unreachable" for n in app._notifications)
            )
            await pilot.press("ctrl+backslash")  # the kill switch asks first
            await pilot.pause()
            assert isinstance(app.screen, ConfirmScreen)
            app.notify(CLAIMS, title="Claims not renewed", severity="error", timeout=60)
            await frames(app, pilot)
            assert_state_in_sight(app, " PAPER  ACTIVE   BUS DOWN")
            assert "Claims not renewed" in top_line(app)  # the newest, after BUS DOWN
            term.show(updates)
            same(term, desk, width, height)

            await pilot.press("y")  # KILL: HALTED, the bus still down
            await frames_until(app, pilot, lambda: header.trading is TradingState.HALTED)
            await frames_until(app, pilot, lambda: not isinstance(app.screen, Dialog))
            await frames(app, pilot)
            shown = top_line(app)  # the desk: its toasts are never on the header's line
            assert shown.startswith(" PAPER  HALTED   BUS DOWN"), shown
            assert "▌" not in shown, shown
            assert toasts_shown(app), "the kill switch said nothing"
            await pilot.press("ctrl+x")  # cancel all asks: a dialog again
            await pilot.pause()
            assert isinstance(app.screen, ConfirmScreen)
            app.notify("no working order to cancel", title="Cancel all", severity="warning")
            await frames(app, pilot)
            assert_state_in_sight(app, " PAPER  HALTED   BUS DOWN")
            term.show(updates)
            same(term, desk, width, height)

            # The bus comes back under the dialog: the toast goes back to its column.
            await server.arestart()
            await frames_until(app, pilot, lambda: not header.bus_down)
            await frames(app, pilot)
            assert_state_in_sight(app, " PAPER  HALTED ")
            term.show(updates)
            same(term, desk, width, height)
            await pilot.press("escape")
            await desk.session.close()


@pytest.mark.redis
@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_kill_not_sent_stays_in_sight_under_a_dialog(
    tmp_path: Path, clock: FakeClock, size: tuple[int, int]
) -> None:
    """A watching desk pulls the kill switch with the bus down: no desk holds the
    KILL, and its header says so after the trading state (` KILL NOT SENT `), which a
    toast under the next dialog covered."""
    with RedisServer() as server:
        asyncio.run(live_desk(server.url, PREFIX, clock, tmp_path / "live.json"))
        session = watch_session(server.url, clock)

        async def run() -> None:
            await session.open()
            app, desk = watching_desk(session, clock, tmp_path / "watch.json")
            async with app.run_test(size=size, notifications=True) as pilot:
                await drawn(app, desk, pilot)
                await server.akill()
                await frames_until(app, pilot, lambda: "BUS DOWN" in header_text(desk))
                await pilot.press("ctrl+backslash")
                await pilot.pause()
                assert isinstance(app.screen, ConfirmScreen)
                await pilot.press("y")
                header = app.screen.query_one(DeskHeader)
                await frames_until(app, pilot, lambda: header.note == "KILL NOT SENT")
                await pilot.press("ctrl+backslash")  # and asks again
                await pilot.pause()
                assert isinstance(app.screen, ConfirmScreen)
                app.notify(CLAIMS, title="Claims not renewed", severity="error", timeout=60)
                await frames(app, pilot)
                # (the live desk it watches left the desks REDUCE ONLY)
                assert_state_in_sight(app, " PAPER  REDUCE ONLY  KILL NOT SENT   BUS DOWN")
                await pilot.press("escape")
            await session.close()

        asyncio.run(run())


@pytest.mark.parametrize("size", [*SIZES, (200, 50)], ids=lambda s: f"{s[0]}x{s[1]}")
async def test_the_help_leaves_the_header_and_its_toast_in_sight(make_desk, size) -> None:
    """The help is as tall as the screen allows: it covered the header (the marker and
    the trading state with it), and a toast there its title."""
    desk: Desk = make_desk()
    app = desk.app
    async with app.run_test(size=size, notifications=True) as pilot:
        await desk.start(pilot)
        await pilot.press("ctrl+backslash", "y")  # HALTED: the state the trader must see
        await desk.settle(pilot)
        await pilot.press("f1")
        await desk.settle(pilot)
        assert isinstance(app.screen, Dialog)
        app.notify(CLAIMS, title="Claims not renewed", severity="error", timeout=60)
        await desk.settle(pilot)
        assert_state_in_sight(app, " PAPER  HALTED ")
        dialog = app.screen.query_one("#dialog").region
        assert dialog.height >= min(size[1] - 4, 46)  # as tall as it was, but 2 lines
        for toast in toasts_shown(app):
            assert not toast.region.overlaps(dialog), f"toast {toast.region} over {dialog}"
        title = app.screen.query_one("#dialog-title").region
        line = app.screen._compositor.render_strips()[title.y].text
        assert "Keys - remap any id with ui.keymap in the config" in line, line
        await pilot.press("escape")
        await desk.session.close()
