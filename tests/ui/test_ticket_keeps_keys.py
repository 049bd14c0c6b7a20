"""The ticket keeps the keyboard (docs/ui.md: "Nothing else on the desk takes text"):
`tab` stops at its last field and `shift+tab` at its first, ringing the bell, in the
grid (120x36) and one pane at a time (80x24) alike, as in the modify dialog; `esc`
still leaves it.

Before, in the grid, Textual's focus chain went on from the ticket's last field past
the Send button to the Orders pane, where the next letter was the desk's: `c`
cancelled the selected working order at once; and `shift+tab` from the Symbol went to
the Quotes, where `s` opened a marketable SELL in place of the BUY being typed. One
pane at a time `tab` went round through Send (where `s` and `b` were the desk's keys
again) back to the Symbol."""

from __future__ import annotations

import pytest
from textual.widget import Widget
from textual.widgets import Input

from silvertine_tui.domain import OrderStatus, Side
from silvertine_tui.ui.widgets.choice import Choice
from silvertine_tui.ui.widgets.ticket import ORDER, Ticket
from silvertine_tui.ui.widgets.watchlist import Watchlist

from .conftest import Desk, limit_buy
from .test_trading_keys import open_buy_ticket, select_quote, type_into

RESTING = "st000000000000000901"
SIZES = [(120, 36), (80, 24)]


def focused_id(desk: Desk) -> str:
    return str(desk.app.focused.id) if desk.app.focused is not None else "None"


def fields_shown(ticket: Ticket) -> list[str]:
    """The ticket's fields on its rows shown now, in its order."""
    return [
        f"t-{name}"
        for name in ORDER
        if ticket.query_one(f"#row-{name}").display
        and isinstance(ticket.query_one(f"#t-{name}"), Input | Choice)
    ]


async def desk_with_a_ticket(desk: Desk, pilot) -> tuple[Ticket, str]:
    """A resting BTC buy selected in the Orders pane, and a BUY 5 ETH ticket at a typed
    price, its Qty having the keyboard."""
    await desk.start(pilot)
    await desk.step(pilot, 2)
    engine = desk.session.engine
    await engine.submit(limit_buy(RESTING, "BTCUSDT.PAPER", "0.01", "63500.00"))
    await desk.settle(pilot)
    await pilot.press("3", "home")  # the order selected in the Orders pane
    ticket = await open_buy_ticket(desk, pilot, "ETHUSDT.PAPER")
    ticket.query_one("#t-limit_price", Input).value = "3333.25"
    await type_into(pilot, "5")
    await desk.settle(pilot)
    assert focused_id(desk) == "t-quantity"
    return ticket, RESTING


def still_working(desk: Desk, coid: str) -> None:
    view = desk.session.engine.oms.get(coid)
    assert view is not None
    assert view.order.status is OrderStatus.NEW, view.order.status
    cancels = [n.title for n in desk.app._notifications if n.title.startswith("Cancel")]
    assert cancels == []


@pytest.mark.parametrize("size", SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
async def test_tab_and_shift_tab_never_take_the_keyboard_out_of_the_ticket(
    make_desk, size: tuple[int, int]
) -> None:
    desk: Desk = make_desk()
    async with desk.app.run_test(size=size) as pilot:
        ticket, coid = await desk_with_a_ticket(desk, pilot)
        bells: list[None] = []
        desk.app.bell = lambda: bells.append(None)  # type: ignore[method-assign]
        fields = fields_shown(ticket)
        assert fields[0] == "t-instrument", fields
        assert fields[-1] == "t-account", fields

        # The review's steps: tab past the last field (Price, TIF, Account, and on),
        # then `c`. Nothing is cancelled; the Account (no option starts with c) rings.
        await pilot.press("tab", "tab", "tab", "tab", "tab")
        await pilot.press("c")
        await desk.settle(pilot)
        still_working(desk, coid)
        assert focused_id(desk) == "t-account"
        draft = ticket.draft()
        assert (draft.instrument, draft.side, draft.quantity, draft.limit_price) == (
            "ETHUSDT.PAPER",
            Side.BUY,
            "5",
            "3333.25",
        )
        assert bells  # the tabs past the last field, and the c

        # The other way: shift+tab past the Symbol, then `s`. No SELL ticket opens over
        # this one: the s is typed where the keyboard is, the Symbol (its text was
        # selected as it took the keyboard, so the s replaces it).
        await pilot.press(*["shift+tab"] * (len(fields) + 2))
        assert focused_id(desk) == "t-instrument"
        await pilot.press("s")
        await desk.settle(pilot)
        still_working(desk, coid)
        assert focused_id(desk) == "t-instrument"
        draft = ticket.draft()
        assert (draft.instrument, draft.side, draft.quantity, draft.limit_price) == (
            "s",
            Side.BUY,
            "5",
            "3333.25",
        )
        assert not isinstance(desk.app.focused, Watchlist)

        # esc still leaves the ticket, for the quotes; the desk keys work from there.
        await pilot.press("escape")
        await desk.settle(pilot)
        assert isinstance(desk.app.focused, Watchlist)
        await desk.session.close()


@pytest.mark.parametrize("size", SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
async def test_each_field_tabs_to_its_neighbour_and_stops_at_the_ends(
    make_desk, size: tuple[int, int]
) -> None:
    """From every field shown (a LIMIT's, then a STOP_LIMIT's, whose Stop row shows),
    `tab` goes to the next field and `shift+tab` to the one before, never past the
    ends (the bell rings there), and the focus never leaves the ticket's fields."""
    desk: Desk = make_desk()
    async with desk.app.run_test(size=size) as pilot:
        ticket, coid = await desk_with_a_ticket(desk, pilot)
        bells: list[None] = []
        desk.app.bell = lambda: bells.append(None)  # type: ignore[method-assign]
        for order_type in ("LIMIT", "STOP_LIMIT"):
            ticket.query_one("#t-order_type", Choice).value = order_type
            await desk.settle(pilot)
            fields = fields_shown(ticket)
            assert ("t-stop_price" in fields) is (order_type == "STOP_LIMIT"), fields
            for at, field in enumerate(fields):
                for key, step in (("tab", 1), ("shift+tab", -1)):
                    widget: Widget = ticket.query_one(f"#{field}")
                    widget.focus()
                    await pilot.pause()
                    assert focused_id(desk) == field
                    rang = len(bells)
                    await pilot.press(key)
                    want = fields[min(max(at + step, 0), len(fields) - 1)]
                    assert focused_id(desk) == want, (order_type, field, key)
                    at_end = (at == 0 and step < 0) or (at == len(fields) - 1 and step > 0)
                    assert len(bells) - rang == (1 if at_end else 0), (field, key)
        still_working(desk, coid)
        await desk.session.close()


async def test_send_is_clicked_not_tabbed_to(make_desk) -> None:
    """Send takes no keyboard (tab stops at the last field); a click on it still sends
    the ticket, and the field keeps the keyboard."""
    desk: Desk = make_desk()
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 2)
        await select_quote(desk, pilot, "ETHUSDT.PAPER")
        await pilot.press("b")
        ticket = desk.app.screen.query_one(Ticket)
        ticket.query_one("#t-limit_price", Input).value = "3400.00"
        await type_into(pilot, "0.5")
        await desk.settle(pilot)
        assert not ticket.query_one("#t-send").focusable
        assert await pilot.click("#t-send")
        await desk.settle(pilot)
        working = desk.session.engine.oms.working()
        assert [w.order.request.instrument for w in working] == ["ETHUSDT.PAPER"]
        assert focused_id(desk) == "t-quantity"
        await desk.session.close()
