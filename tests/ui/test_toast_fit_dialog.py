"""Under a dialog a toast is whole or not shown, and the header's state stays in sight
(a trader's review; docs/ui.md, "Toasts").

The dialog's toast rack had two rows over the header, whatever the toast said: at
120x36 a toast raised while the kill switch's dialog asked was cut after its first line
(`… more in Log (7)`), with the Log out of reach until the dialog was answered, and at
80x24 the rack ran 20 cells past the screen's right edge, so every line of it was cut
there too (`... Redis at redis://127.0.0.1:16391` and no more). Now the toast takes the
rows between the header's line and the dialog's box, as wide as the screen leaves
after the header's state: whole where it fits; where it does not, a titled toast says
its title and where it is said (`Claims not renewed: whole in Log (7); on the desk once
this dialog closes`), and it shows on the desk once the dialog is answered. Never over
the dialog's box, never over the marker and the trading state."""

from __future__ import annotations

import re

import pytest
from textual.geometry import Region
from textual.widgets._toast import Toast

from silvertine_tui.ui.screens.confirm import ConfirmScreen
from silvertine_tui.ui.screens.main import MainScreen

from .conftest import Desk
from .test_toast_fit import CLAIMS

SIZES = [(120, 36), (80, 24)]
POINTER = "more in Log"
WAITING = "Claims not renewed: whole in Log (7); on the desk once this dialog closes"


def words(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def shown_toasts(desk: Desk) -> list[Toast]:
    return [t for t in desk.app.screen.query(Toast) if t.region.area > 0]


def text_in(desk: Desk, region: Region) -> str:
    """What the terminal shows inside `region`, its rows joined (a wrapped line reads
    as one)."""
    strips = desk.app.screen._compositor.render_strips()
    rows = (strips[y].text[region.x : region.right] for y in range(region.y, region.bottom))
    return words(" ".join(rows))


def top_line(desk: Desk) -> str:
    return desk.app.screen._compositor.render_strips()[0].text


async def kill_dialog(desk: Desk, pilot) -> ConfirmScreen:
    await desk.start(pilot)
    await desk.step(pilot, 1)
    await pilot.press("ctrl+backslash")  # the kill switch asks first
    await desk.settle(pilot)
    dialog = desk.app.screen
    assert isinstance(dialog, ConfirmScreen)
    return dialog


def assert_fair(desk: Desk, dialog: ConfirmScreen) -> Toast:
    """One toast on the screen: inside it, never over the dialog's box nor the
    header's marker and state, never cut (no `… more in Log`)."""
    [toast] = shown_toasts(desk)
    assert desk.app.screen.region.contains_region(toast.region), toast.region
    box = dialog.query_one("#dialog").region
    assert not toast.region.overlaps(box), f"toast {toast.region} over the dialog {box}"
    assert top_line(desk).startswith(" PAPER  ACTIVE "), top_line(desk)
    assert toast.region.x >= len(" PAPER  ACTIVE "), toast.region
    assert POINTER not in text_in(desk, toast.content_region)
    return toast


async def test_at_120x36_a_long_toast_under_the_kill_switch_is_whole(make_desk) -> None:
    desk: Desk = make_desk()
    size = (120, 36)
    async with desk.app.run_test(size=size, notifications=True) as pilot:
        dialog = await kill_dialog(desk, pilot)
        desk.app.notify(CLAIMS, title="Claims not renewed", severity="error", timeout=60)
        await desk.settle(pilot)
        toast = assert_fair(desk, dialog)
        assert text_in(desk, toast.content_region) == words(f"Claims not renewed {CLAIMS}")
        await pilot.press("escape")  # "No": the desk, nothing killed
        await desk.settle(pilot)
        assert desk.session.engine.gate.state.value == "ACTIVE"
        await desk.session.close()


async def test_at_80x24_a_toast_too_long_for_the_rows_says_where_it_is(make_desk) -> None:
    """At 80x24 the rows above the kill switch's box hold no claims toast whole: its
    title and where it is said show, and once the dialog is answered it is on the desk
    (one line on the pane bar, as every toast one pane at a time)."""
    desk: Desk = make_desk()
    size = (80, 24)
    async with desk.app.run_test(size=size, notifications=True) as pilot:
        dialog = await kill_dialog(desk, pilot)
        desk.app.notify(CLAIMS, title="Claims not renewed", severity="error", timeout=60)
        await desk.settle(pilot)
        toast = assert_fair(desk, dialog)
        assert text_in(desk, toast.content_region) == WAITING
        await pilot.press("escape")
        await desk.settle(pilot)
        assert isinstance(desk.app.screen, MainScreen)
        [toast] = shown_toasts(desk)
        on_desk = text_in(desk, toast.content_region)
        assert on_desk.startswith("Claims not renewed: the last renewal failed"), on_desk
        assert top_line(desk).startswith(" PAPER  ACTIVE   bus memory://"), top_line(desk)
        await desk.session.close()


MESSAGES = [
    "no working order to cancel",
    "the venue took no answer for 5 s; asking what became of it",
    CLAIMS[:200],
    CLAIMS[:420],
    CLAIMS,
]


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("message", MESSAGES, ids=lambda m: f"{len(m)}ch")
async def test_under_a_dialog_a_toast_is_whole_or_says_where_it_is(
    make_desk, size: tuple[int, int], message: str
) -> None:
    """Whatever its length, the toast under the kill switch's dialog reads whole, or
    reads its title and where it is said; never its message cut."""
    desk: Desk = make_desk()
    async with desk.app.run_test(size=size, notifications=True) as pilot:
        dialog = await kill_dialog(desk, pilot)
        desk.app.notify(message, title="Claims not renewed", severity="error", timeout=60)
        await desk.settle(pilot)
        toast = assert_fair(desk, dialog)
        assert text_in(desk, toast.content_region) in (
            words(f"Claims not renewed {message}"),
            WAITING,
        ), text_in(desk, toast.content_region)
        await pilot.press("escape")
        await desk.session.close()
