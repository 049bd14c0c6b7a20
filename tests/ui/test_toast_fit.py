"""A toast is cut to what its box holds and then ends with where the rest is, `… more
in Log (7)`; at 80x24 it shows on the pane bar, one line, never over the header or
the pane; in the grid the newest
toast is always whole on the screen, however many came before it.

Found in a real terminal with Redis down: at 80x24 every toast ended mid-sentence over
the header's BUS DOWN (`▌ the last renewal failed: Redis at redis://127.0.0.1:16391`),
and at 120x36 a fifteen-row "Claims not renewed" toast pushed the newest one ("bus
DEGRADED") past the last row, over the key bar, until it expired."""

from __future__ import annotations

from textual.widgets._toast import Toast, ToastHolder

from .conftest import Desk

CLAIMS = (
    "the last renewal failed: Redis at redis://127.0.0.1:16391 is unreachable "
    "(ConnectionError: Error 111 connecting to 127.0.0.1:16391. Connect call failed "
    "('127.0.0.1', 16391).) while claiming drv:claim:paper; try again once it is back. "
    "This desk could not renew its claim on its brokers for 7.5 s (the bus is "
    "unreachable or refusing, or this desk was held: stopped, paused, its event loop "
    "blocked): another desk may drive them soon, so nothing is sent until the claim is "
    "renewed. Send it again once it is (the claims-renewed toast); if another desk took "
    "the broker, trade from that desk."
)
DEGRADED = "Redis restarted and lost data (the epoch key is gone): start the desk again."
POINTER = "… more in Log (7)"


def holder(toast: Toast) -> ToastHolder:
    parent = toast.parent
    assert isinstance(parent, ToastHolder)
    return parent


def screen_lines(desk: Desk) -> list[str]:
    return [strip.text.rstrip() for strip in desk.app.screen._compositor.render_strips()]


async def test_at_80x24_a_toast_is_under_the_header_and_says_where_the_rest_is(
    make_desk,
) -> None:
    desk: Desk = make_desk()
    async with desk.app.run_test(size=(80, 24), notifications=True) as pilot:
        await desk.start(pilot)
        desk.app.notify(CLAIMS, title="Claims not renewed", severity="error")
        await desk.settle(pilot)
        lines = screen_lines(desk)
        assert lines[0].startswith(" PAPER  ACTIVE   bus memory://"), lines[0]
        assert "▌" not in lines[0]  # the header whole: state, bus, clock
        bar = lines[1]  # on the pane bar: the pane's own lines stay in sight
        assert bar.startswith("▌ Claims not renewed: the last renewal failed: Redis at"), bar
        assert bar.endswith(POINTER), bar
        assert len(bar) <= 80
        assert lines[2].startswith(" Symbol "), lines[2]  # the quotes' header row
        # The whole of it is in the Log pane, where the pointer sends the trader.
        assert any(CLAIMS in line.text for line in desk.app.model.log)

        desk.app.notify("no working order selected")  # short: whole, no pointer
        await desk.settle(pilot)
        lines = screen_lines(desk)
        assert lines[1] == "▌ no working order selected"
        assert "▌" not in lines[0]
        await desk.session.close()


async def test_in_the_grid_the_newest_toast_is_whole_on_the_screen(make_desk) -> None:
    desk: Desk = make_desk()
    async with desk.app.run_test(size=(120, 36), notifications=True) as pilot:
        await desk.start(pilot)
        for n in range(3):
            desk.app.notify(CLAIMS, title=f"Claims not renewed {n}", severity="error")
            await desk.settle(pilot)
        desk.app.notify(DEGRADED, title="bus DEGRADED", severity="error")
        await desk.settle(pilot)
        lines = screen_lines(desk)
        keybar = len(lines) - 1
        assert "q Quit" in lines[keybar]
        newest = next(t for t in desk.app.screen.query(Toast) if "DEGRADED" in t.render().plain)
        assert newest.region.bottom <= keybar, newest.region  # above the key bar
        text = "\n".join(lines)
        assert "▌ bus DEGRADED" in text
        assert "▌ Redis restarted and lost data (the epoch key is" in text
        assert "▌ gone): start the desk again." in text
        # A long toast is cut to nine rows with the pointer, and is whole too.
        shown = [t for t in desk.app.screen.query(Toast) if t.display and holder(t).display]
        assert 1 < len(shown) < 4
        for toast in shown:
            assert toast.region.height <= 9
            assert toast.region.bottom <= keybar
        assert text.count(POINTER) == len(shown) - 1

        # The newest goes: the one before it shows, whole.
        await holder(newest).remove()
        await desk.settle(pilot)
        lines = screen_lines(desk)
        assert "▌ Claims not renewed 2" in "\n".join(lines)
        last = [t for t in desk.app.screen.query(Toast) if holder(t).display][-1]
        assert last.render().plain.startswith("Claims not renewed 2")
        assert last.region.bottom <= keybar
        await desk.session.close()
