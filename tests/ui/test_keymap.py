"""The key map (`ui.keymap`): two actions on one key where both answer are refused,
and every text that names a key names the key bound to it.

A clash is two bindings that answer the same key at the same moment: the same scope,
or an app-wide key and a pane's (the focus is in one pane, whose keys come before the
app's), or an app-wide key bound with priority and anything (Textual looks those up
from the app down, past a dialog). `silvertine` refuses such a config (exit 2,
tests/unit/test_cli.py); an app built from one anyway applies neither override and
says so."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st
from textual.widgets import Button, Input

from silvertine_tui.ui.keymap import (
    BY_ID,
    SPECS,
    BadKey,
    Clash,
    clashes,
    key_text,
    without_clashes,
)
from silvertine_tui.ui.screens.confirm import ConfirmScreen
from silvertine_tui.ui.screens.history import OrderHistoryScreen
from silvertine_tui.ui.screens.modify import ModifyScreen
from silvertine_tui.ui.widgets.blotter import Blotter
from silvertine_tui.ui.widgets.event_log import EventLog
from silvertine_tui.ui.widgets.text import TextBlock

from .conftest import Desk, make_settings, sample_orders
from .test_trading_keys import open_buy_ticket, type_into

FIRE_AND_CANCEL_ALL = {"ticket.fire": "f12", "app.cancel_all": "f12"}


def pairs(keymap: dict[str, str]) -> list[tuple[str, str, str]]:
    return [(c.key, c.first.id, c.second.id) for c in clashes(keymap)]


def test_the_default_keys_have_no_clash() -> None:
    assert clashes({}) == []


def test_two_actions_on_one_key_that_answer_together_clash() -> None:
    (clash,) = clashes(FIRE_AND_CANCEL_ALL)
    assert str(clash) == (
        "ui.keymap: f12 is bound to both app.cancel_all and ticket.fire, which answer it at "
        "the same time (Order ticket): give one of them another key"
    )
    # An app-wide key on a pane's key: both answer while that pane has the focus.
    assert pairs({"app.theme": "f9"}) == [("f9", "app.theme", "ticket.fire")]
    assert pairs({"app.zoom": "a"}) == [("a", "app.zoom", "blotter.all")]
    # Two app-wide keys; `?` is the key Textual names question_mark (the help's).
    assert pairs({"app.theme": "?"}) == [("question_mark", "app.help", "app.theme")]
    # Two keys of one pane, and of one dialog.
    assert pairs({"blotter.modify": "c"}) == [("c", "blotter.cancel", "blotter.modify")]
    assert pairs({"quit.leave": "s"}) == [("s", "quit.leave", "quit.stay")]
    # The kill switch answers in every dialog (priority): y would never confirm.
    assert pairs({"app.kill_switch": "y"}) == [("y", "app.kill_switch", "modal.confirm")]


def test_keys_that_never_answer_together_do_not_clash() -> None:
    # Two panes: the focus is in one of them.
    assert clashes({"blotter.cancel": "x"}) == []  # x closes a position, in Positions
    # An app-wide key without priority does not reach a dialog: y confirms there.
    assert clashes({"app.theme": "y"}) == []
    # A dialog's keys against another dialog's: one dialog at a time.
    assert clashes({"modal.confirm": "l"}) == []  # l leaves, in the quit dialog
    # A key moved out of the way first.
    assert clashes({"ticket.fire": "ctrl+x", "app.cancel_all": "f12"}) == []
    # An empty override changes nothing (as in Textual's `set_keymap`).
    assert clashes({"ticket.fire": ""}) == []


keys = st.sampled_from(
    sorted({k.strip() for spec in SPECS for k in spec.keys.split(",")} | {"f12", "ctrl+k", "v"})
)
keymaps = st.dictionaries(st.sampled_from([spec.id for spec in SPECS]), keys, max_size=6)


@given(keymaps)
def test_the_keymap_applied_has_no_clash_and_keeps_every_override_not_in_one(
    keymap: dict[str, str],
) -> None:
    applied, found = without_clashes(keymap)
    assert clashes(applied) == []
    assert applied.items() <= keymap.items()  # only left out, never changed
    given_clashes = clashes(keymap)
    assert found[: len(given_clashes)] == given_clashes
    # Every override left out is named in a clash it took part in (or as a bad key).
    in_a_clash = {s.id for c in found if isinstance(c, Clash) for s in (c.first, c.second)}
    bad = {c.binding_id for c in found if isinstance(c, BadKey)}
    assert set(keymap) - set(applied) <= in_a_clash | bad
    if not given_clashes:
        assert applied == keymap
        assert found == []


def test_a_key_is_named_as_the_trader_reads_it() -> None:
    assert key_text("ticket.fire", {}) == "F9"
    assert key_text("ticket.fire", {"ticket.fire": "f12,ctrl+j"}) == "F12"
    assert key_text("app.resume", {}) == "ctrl+r"
    assert key_text("modal.cancel", {}, every=True) == "n/esc"
    assert key_text("app.help", {"app.help": "question_mark"}) == "?"
    assert key_text("ticket.fire", {"ticket.fire": ""}) == "F9"


async def test_an_app_given_a_clashing_keymap_applies_neither_override_and_says_so(
    make_desk,
) -> None:
    """Built without `silvertine` (which refuses the config): an error toast names both
    ids and the key, and F12 in the ticket neither sends nor opens Cancel all; F9 still
    sends."""
    desk: Desk = make_desk(settings=make_settings(keymap=FIRE_AND_CANCEL_ALL))
    async with desk.app.run_test(size=(120, 36), notifications=True) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 1)
        (toast,) = [n for n in desk.app._notifications if n.title == "Key map refused"]
        assert toast.severity == "error"
        assert "f12 is bound to both app.cancel_all and ticket.fire" in toast.message
        assert "Not applied: app.cancel_all, ticket.fire: they keep their default keys." in (
            toast.message
        )
        ticket = await open_buy_ticket(desk, pilot, "BTCUSDT.PAPER")
        ticket.query_one("#t-limit_price", Input).value = "64000.00"
        await type_into(pilot, "0.01")
        await pilot.press("f12")
        await desk.settle(pilot)
        assert desk.app.screen.id == "main"  # no "Cancel all?"
        assert ticket.sent_count == 0
        assert str(ticket.query_one("#t-send", Button).label) == "Send F9"
        await pilot.press("f9")
        await desk.settle(pilot)
        assert ticket.sent_count == 1
        await desk.session.close()


REMAPPED = {
    "ticket.fire": "f12",
    "ticket.leave": "ctrl+g",
    "blotter.all": "v",
    "app.resume": "ctrl+y",
    "modal.confirm": "j",
    "modal.cancel": "escape,k",
    "view.close": "w",
    "modify.cancel": "f10",
    "log.fills": "i",
}


async def test_every_text_that_names_a_key_names_the_key_bound(make_desk) -> None:
    """With `ticket.fire: f12` the ticket read `Send F9`, `F9 again: ...` and `problems
    fixed: F9 to send`, though F9 no longer sent. Each text names the bound key."""
    desk: Desk = make_desk(settings=make_settings(keymap=REMAPPED))
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 1)
        await sample_orders(desk)
        await desk.settle(pilot)
        app = desk.app
        ticket = await open_buy_ticket(desk, pilot, "BTCUSDT.PAPER")
        assert str(ticket.query_one("#t-send", Button).label) == "Send F12"
        pane = app.screen.query_one("#pane-ticket")
        # In fewer words at 120x36, the key still named: the whole line (39 cells on an
        # edge of 38) was cut on screen, `... Ctrl+g leaves the fie…`.
        assert str(pane.border_subtitle) == "typing in Qty - Ctrl+g leaves"
        status = ticket.query_one("#t-status", TextBlock)
        preview = ticket.query_one("#t-preview", TextBlock)

        await pilot.press("f9")  # not the fire key any more: nothing happens
        await desk.settle(pilot)
        assert status.text.plain == ""
        await pilot.press("f12")  # no quantity: not sent
        await desk.settle(pilot)
        assert status.text.plain.startswith("NOT SENT")
        ticket.query_one("#t-limit_price", Input).value = "64000.00"
        ticket.query_one("#t-quantity", Input).value = "0.01"
        await desk.settle(pilot)
        assert status.text.plain == "problems fixed: F12 to send"
        desk.clock.advance(1.0)
        await pilot.press("f12")
        await desk.settle(pilot)
        assert ticket.sent_count == 1
        assert preview.text.plain.startswith("F12 again: ")

        # The Orders pane's view toggle, the log's fills toggle.
        await pilot.press("ctrl+g", "3")
        await desk.settle(pilot)
        orders = app.screen.query_one("#pane-blotter")
        assert str(orders.border_subtitle).endswith(" today (v: all)")
        await pilot.press("v")
        await desk.settle(pilot)
        assert str(orders.border_subtitle).endswith(" working (v: working)")
        log_pane = app.screen.query_one("#pane-log")
        assert app.screen.query_one(EventLog).parent is log_pane
        assert str(log_pane.border_subtitle) == "all events (i: fills)"

        # An order's history, the modify dialog.
        app.screen.query_one(Blotter).move_cursor(row=0)  # the resting BTC buy
        await pilot.press("h")
        await pilot.pause()
        history = app.screen
        assert isinstance(history, OrderHistoryScreen)
        assert str(history.query_one("#dialog-hint").render()) == "w: close"
        await pilot.press("w")
        await pilot.pause()
        await pilot.press("m")
        await pilot.pause()
        modify = app.screen
        assert isinstance(modify, ModifyScreen)
        hint = str(modify.query_one("#dialog-hint").render())
        assert hint == "enter: send the change   F10: close, the order unchanged"
        await pilot.press("f10")
        await pilot.pause()
        assert app.screen.id == "main"
        await pilot.press("f1")
        await pilot.pause()
        help_hint = str(app.screen.query_one("#dialog-hint").render())
        assert help_hint == "Mouse works too. ctrl+p: command palette.  w: close"
        await pilot.press("w")
        await pilot.pause()
        assert app.screen.id == "main"

        # The kill switch's dialog names resume's key, and its buttons their keys.
        await pilot.press("ctrl+backslash")
        await pilot.pause()
        dialog = app.screen
        assert isinstance(dialog, ConfirmScreen)
        assert "until you resume (ctrl+y)" in dialog.body
        assert str(dialog.query_one("#yes", Button).label) == "KILL (j)"
        assert str(dialog.query_one("#no", Button).label) == "No (k/esc)"
        await pilot.press("k")
        await pilot.pause()
        assert app.screen.id == "main"
        assert desk.session.engine.gate.state.value == "ACTIVE"
        assert Decimal("0.01") in {
            v.order.quantity for v in desk.session.engine.oms.orders.values()
        }
        assert BY_ID["ticket.fire"].keys == "f9"  # the table's default is untouched
        await desk.session.close()
