"""A stop that has triggered is told apart from one still waiting (a trader's review on
the paper desk): a STOP_LIMIT BUY 0.1 BTCUSDT limit 64,900 stop 64,000 with the ask at
~65,000 triggered at once (the Log said `stop triggered: ask 65,003.25 >= stop
64,000.00`), yet its Orders row read `BUY 0.1 64,900.00 64,000.00 NEW` as before, and
the modify dialog took a new Stop that the venue then refused (`Modify failed: replace
rejected: stop_price: the stop has already triggered`).

The venue's trigger report carries `triggered` (`OrderUpdate.triggered`); the order
keeps it (`Order.triggered`), its Stop cell says it (`64,000.00 trg`), and the modify
dialog offers no Stop for it, saying why (also when it triggers while the dialog is
open)."""

from __future__ import annotations

from decimal import Decimal

from textual.pilot import Pilot
from textual.widgets import Input, Static

from silvertine_tui.domain import OrderRequest, OrderStatus, OrderType, Side
from silvertine_tui.engine.commands import ModifyOrder
from silvertine_tui.events import OrderUpdateEvent
from silvertine_tui.ui.screens.modify import ModifyScreen, check_change
from silvertine_tui.ui.widgets.blotter import Blotter

from .conftest import Desk

COID = "st000000000000000501"


def stop_limit_buy(limit: Decimal, stop: Decimal) -> OrderRequest:
    return OrderRequest(
        client_order_id=COID,
        broker="paper",
        account="main",
        instrument="BTCUSDT.PAPER",
        side=Side.BUY,
        order_type=OrderType.STOP_LIMIT,
        quantity=Decimal("0.1"),
        limit_price=limit,
        stop_price=stop,
    )


def ask_of(desk: Desk) -> Decimal:
    ask = desk.app.model.quotes["BTCUSDT.PAPER"].quote.ask
    assert ask is not None
    return ask


async def open_modify(desk: Desk, pilot: Pilot[None]) -> ModifyScreen:
    await pilot.press("3", "home")
    await pilot.press("m")
    await pilot.pause()
    screen = desk.app.screen
    assert isinstance(screen, ModifyScreen)
    assert screen.view.client_order_id == COID
    return screen


def note_of(screen: ModifyScreen) -> Static:
    return screen.query_one("#m-stop-note", Static)


async def test_a_triggered_stop_limit_is_marked_and_its_stop_not_offered(make_desk) -> None:
    desk: Desk = make_desk()
    async with desk.app.run_test(size=(120, 36), notifications=True) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 2)
        ask = ask_of(desk)
        limit, stop = (ask - 100).quantize(Decimal("0.01")), (ask - 1000).quantize(Decimal("1"))
        await desk.session.engine.submit(stop_limit_buy(limit, stop))
        await desk.settle(pilot)
        await desk.next_second(pilot)
        blotter = desk.app.screen.query_one(Blotter)
        assert blotter.get_cell(COID, "stop").plain == f"{stop:,.2f} trg"
        assert blotter.get_cell(COID, "status").plain == "NEW"

        screen = await open_modify(desk, pilot)
        stop_input = screen.query_one("#m-stop_price", Input)
        assert stop_input.disabled
        assert screen.query_one("#m-limit_price", Input).disabled is False
        note = note_of(screen)
        assert note.display
        said = str(note.render())
        assert said.startswith(f"Stop {stop:,.2f} has triggered")
        assert "cannot change" in said
        # The check refuses a new stop too, naming the field and the rule.
        _, problems = check_change(
            screen.view, screen.instrument, "0.1", f"{limit}", f"{stop - 100}"
        )
        assert problems == [
            f"Stop: {stop:,.2f} has triggered: the order works as a limit at "
            f"{limit:,.2f}; change its Qty or Price [triggered]"
        ]
        # Tab from Price goes nowhere: the Stop does not take the keyboard.
        await pilot.press("tab")
        assert screen.focused is screen.query_one("#m-limit_price", Input)
        await pilot.press("escape")
        # The venue said so in a structured field, not only in its reason's words.
        entries = await desk.session.bus.read(desk.session.bus.layout.exec("paper", "main"))
        updates = [e.event.payload for e in entries if isinstance(e.event, OrderUpdateEvent)]
        [trigger] = [u for u in updates if u.reason.startswith("stop triggered")]
        assert trigger.triggered is True
        assert all(u.triggered is None for u in updates if u is not trigger)
        view = desk.session.projection.order(COID)
        assert view is not None
        assert view.order.status is OrderStatus.NEW
        assert view.order.triggered is True
        await desk.session.close()


async def test_a_stop_that_triggers_while_the_dialog_is_open_closes_its_stop(
    make_desk,
) -> None:
    desk: Desk = make_desk()
    async with desk.app.run_test(size=(120, 36), notifications=True) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 2)
        ask = ask_of(desk)
        limit = (ask - 100).quantize(Decimal("0.01"))
        waiting = (ask + 1000).quantize(Decimal("1"))  # far above the market: it waits
        await desk.session.engine.submit(stop_limit_buy(limit, waiting))
        await desk.settle(pilot)
        blotter = desk.app.screen.query_one(Blotter)
        assert blotter.get_cell(COID, "stop").plain == f"{waiting:,.2f}"
        screen = await open_modify(desk, pilot)
        stop_input = screen.query_one("#m-stop_price", Input)
        assert stop_input.disabled is False
        assert not note_of(screen).display
        stop_input.focus()
        await pilot.press(*"70000")  # the trader types a new stop meanwhile
        assert stop_input.value == "70000"
        # Another desk (or the gateway) moves the stop under the market: the venue
        # replaces it and it triggers at once.
        through = (ask - 1000).quantize(Decimal("1"))
        moved = await desk.session.command_gateway().send(
            ModifyOrder(client_order_id=COID, stop_price=through)
        )
        assert moved.kind == "accepted", moved
        await desk.settle(pilot)
        assert stop_input.disabled
        # Back to the order's stop: what was typed cannot be sent, and the note says so.
        assert stop_input.value == f"{through}"
        assert screen.focused is screen.query_one("#m-limit_price", Input)
        assert note_of(screen).display
        said = str(note_of(screen).render())
        assert said.startswith(f"Stop {through:,.2f} has triggered")
        assert said.endswith("it cannot change (the stop typed, 70000, is not sent)")
        # Enter now sends nothing that the venue must refuse: nothing changed.
        await pilot.press("enter")
        await desk.settle(pilot)
        assert desk.app.screen is screen
        problems = str(screen.query_one("#m-problems", Static).render())
        assert problems == "nothing changed: type a new quantity or price [unchanged]"
        await pilot.press("escape")
        await desk.settle(pilot)
        assert blotter.get_cell(COID, "stop").plain == f"{through:,.2f} trg"
        await desk.session.close()
