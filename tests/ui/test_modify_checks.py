"""The modify dialog checks a change against the risk rules before it sends: a change
the engine would refuse is said in the dialog, which stays open with what was typed;
the dialog and the engine's gate agree on every change (hypothesis)."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from textual.pilot import Pilot
from textual.widgets import Input, Static

from silvertine_tui.domain import OrderRequest, OrderStatus, OrderType, Side
from silvertine_tui.engine.commands import ModifyOrder
from silvertine_tui.engine.projection import OrderView
from silvertine_tui.engine.risk import RiskGate, modify_violations
from silvertine_tui.ui.orders import TicketContext
from silvertine_tui.ui.screens.modify import ModifyScreen, check_change

from .conftest import Desk, build_desk, sample_orders

GRID_RULES = {"lot_size", "min_qty", "tick_size", "unchanged"}
RESTING = "st000000000000000101"  # a BTC buy of 0.05 at 63,500.00 (sample_orders)


PART_FILLED = "st000000000000000301"


async def buy_eth_at_the_ask(desk: Desk, pilot: Pilot[None], quantity: str) -> OrderView:
    """A buy of `quantity` ETH at the ask, more than the book holds there: part of it
    fills at once, the rest works (order PART_FILLED)."""
    ask = desk.app.model.quotes["ETHUSDT.PAPER"].quote.ask
    assert ask is not None
    await desk.session.engine.submit(
        OrderRequest(
            client_order_id=PART_FILLED,
            broker="paper",
            account="main",
            instrument="ETHUSDT.PAPER",
            side=Side.BUY,
            order_type=OrderType.LIMIT,
            quantity=Decimal(quantity),
            limit_price=ask,
        )
    )
    await desk.settle(pilot)
    view = desk.session.engine.oms.get(PART_FILLED)
    assert view is not None
    return view


def problems_text(screen: ModifyScreen) -> str:
    return str(screen.query_one("#m-problems", Static).render())


async def test_a_change_outside_the_collar_is_said_in_the_dialog_which_stays_open(
    make_desk,
) -> None:
    desk = make_desk()
    async with desk.app.run_test(size=(120, 36), notifications=True) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 2)
        await sample_orders(desk)
        await desk.step(pilot, 2)
        engine = desk.session.engine
        await pilot.press("3", "home")
        await pilot.press("m")
        await pilot.pause()
        screen = desk.app.screen
        assert isinstance(screen, ModifyScreen)
        assert screen.view.client_order_id == RESTING
        price = screen.query_one("#m-limit_price", Input)
        price.value = "50000.00"  # about 23% below the market: outside the 5% collar
        await pilot.press("enter")
        await desk.settle(pilot)
        assert desk.app.screen is screen  # still open, with what was typed
        assert price.value == "50000.00"
        text = problems_text(screen)
        assert text.startswith("Price: 50,000.00 is ")
        assert text.endswith("> collar 5% [price_collar]")
        assert not [n for n in desk.app._notifications if n.title.startswith("Modify")]
        view = engine.oms.get(RESTING)
        assert view is not None
        assert view.order.limit_price == Decimal("63500.00")  # nothing was sent
        assert "order.modify" not in [e.type for e in view.history]

        # Corrected, the error goes as it is typed, not at the next Enter.
        price.value = "63450.00"
        await pilot.pause()
        assert problems_text(screen) == ""
        assert desk.app.screen is screen  # nothing sent until Enter

        # A quantity of 0 says the one rule it breaks.
        screen.query_one("#m-quantity", Input).value = "0"
        price.value = "63400.00"
        await pilot.press("enter")
        await desk.settle(pilot)
        assert problems_text(screen) == "Qty: 0 must be greater than 0 [positive]"

        # Mended: it goes.
        screen.query_one("#m-quantity", Input).value = "0.06"
        await pilot.press("enter")
        await desk.settle(pilot)
        assert desk.app.screen is not screen
        assert (view.order.limit_price, view.order.quantity) == (
            Decimal("63400.00"),
            Decimal("0.06"),
        )
        await desk.session.close()


async def test_a_price_typed_outside_the_collar_is_said_before_enter(make_desk) -> None:
    """As on the ticket, a field typed in says what is wrong with it as it is typed: the
    dialog said nothing until Enter was refused, a price 30 times the market reading as
    fine (a trader's drill). Nothing goes until Enter, and the dialog keeps the field."""
    desk = make_desk()
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 2)
        await sample_orders(desk)
        await desk.step(pilot, 2)
        await pilot.press("3", "home", "m")
        await pilot.pause()
        screen = desk.app.screen
        assert isinstance(screen, ModifyScreen)
        assert problems_text(screen) == ""  # opened as it is: nothing typed, nothing said
        await pilot.press("tab")  # to the Price
        price = screen.query_one("#m-limit_price", Input)
        assert desk.app.focused is price
        price.value = ""
        await pilot.press(*"50000")
        await pilot.pause()
        text = problems_text(screen)
        assert text.startswith("Price: 50,000.00 is "), text
        assert text.endswith("> collar 5% [price_collar]"), text
        assert desk.app.screen is screen  # nothing sent
        view = desk.session.engine.oms.get(RESTING)
        assert view is not None
        assert view.order.limit_price == Decimal("63500.00")
        await desk.session.close()


async def test_the_dialog_takes_only_numbers_and_shows_what_has_filled(make_desk) -> None:
    """Its number fields refuse a key that is no part of a number as it is typed, as the
    ticket's do; and it says what the order has filled, the floor of a new Qty."""
    desk = make_desk()
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 2)
        coid = PART_FILLED
        view = await buy_eth_at_the_ask(desk, pilot, "8")
        assert view.order.status is OrderStatus.PARTIALLY_FILLED
        filled = view.order.filled_qty
        assert 0 < filled < 8
        await pilot.press("3", "home", "m")
        await pilot.pause()
        screen = desk.app.screen
        assert isinstance(screen, ModifyScreen)
        assert screen.view.client_order_id == coid
        shown = str(screen.query_one("#m-filled", Static).render())
        assert shown == f"filled {filled.normalize():f} of 8"
        price = screen.query_one("#m-limit_price", Input)
        # It opens on the Qty, as the ticket does; tab goes on to the Price.
        assert desk.app.focused is screen.query_one("#m-quantity", Input)
        await pilot.press("tab")
        assert desk.app.focused is price
        price.value = ""
        await pilot.press("q", "a", "4", "b", ".", "5", "x")
        assert price.value == "4.5"
        quantity = screen.query_one("#m-quantity", Input)
        quantity.focus()
        quantity.value = ""
        await pilot.press("s", "1", "0", "m")
        assert quantity.value == "10"
        assert desk.app.screen is screen  # `m` did not open another dialog either
        await desk.session.close()


async def test_the_dialog_and_the_engines_gate_agree_on_every_change(tmp_path, clock) -> None:
    desk = build_desk(clock, tmp_path / "state.json")
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 2)
        await sample_orders(desk)
        await desk.step(pilot, 2)
        session = desk.session
        engine = session.engine
        view = engine.oms.get(RESTING)
        assert view is not None
        instrument = engine.instrument("paper", view.order.request.instrument)
        context = TicketContext(session.projection, RiskGate(session.settings.risk))

        @settings(
            max_examples=150,
            deadline=None,
            suppress_health_check=[HealthCheck.function_scoped_fixture],
        )
        @given(
            qty=st.decimals(min_value=Decimal("0.001"), max_value=Decimal("200"), places=3),
            offset=st.integers(min_value=-1500, max_value=1500),  # basis points from 63,500
        )
        def agree(qty: Decimal, offset: int) -> None:
            price = (Decimal("63500.00") * (1 + Decimal(offset) / 10_000)).quantize(Decimal("0.01"))
            change, problems = check_change(
                view, instrument, f"{qty}", f"{price}", "", risk=context.risk_check
            )
            gate = modify_violations(
                lambda changed: engine.gate.check(changed, engine),
                view.order,
                quantity=qty,
                limit_price=price,
            )
            rules = {p.rpartition("[")[2].rstrip("]") for p in problems}
            event("sent" if change is not None else "refused: " + ",".join(sorted(rules)))
            if change is not None:
                assert gate == [], (qty, price, gate)
            elif rules <= GRID_RULES:
                assert problems  # refused on the grid, before the risk rules
            else:
                assert rules == {v.rule for v in gate}, (qty, price, problems, gate)

        agree()
        await session.close()


async def test_the_dialog_follows_the_order_it_changes(make_desk) -> None:
    """While the dialog is open the order goes on at the venue: what has filled (the
    floor of a new Qty) is said as it fills, and an order the kill switch cancels
    meanwhile is said to have ended, its fields closed; Enter then sends nothing."""
    desk = make_desk()
    async with desk.app.run_test(size=(120, 36), notifications=True) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 2)
        view = await buy_eth_at_the_ask(desk, pilot, "20")
        ask = view.order.limit_price
        assert ask is not None
        await pilot.press("3", "home", "m")
        await pilot.pause()
        screen = desk.app.screen
        assert isinstance(screen, ModifyScreen)
        filled = screen.query_one("#m-filled", Static)
        assert str(filled.render()) == f"filled {view.order.filled_qty.normalize():f} of 20"

        # The market comes back to the order's price: more of it fills.
        before = view.order.filled_qty
        for _ in range(40):
            await desk.step(pilot)
            if view.order.filled_qty != before:
                break
        assert view.order.filled_qty > before, "the seeded market never came back"
        assert view.order.status is OrderStatus.PARTIALLY_FILLED
        assert desk.app.screen is screen
        assert str(filled.render()) == f"filled {view.order.filled_qty.normalize():f} of 20"

        # The kill switch, from the dialog: the order is cancelled under it.
        screen.query_one("#m-limit_price", Input).value = str(ask - 1)
        await pilot.press("ctrl+backslash")
        await pilot.pause()
        await pilot.press("y")
        await desk.settle(pilot)
        assert view.order.status is OrderStatus.CANCELED
        assert desk.app.screen is screen
        assert str(filled.render()) == (
            f"filled {view.order.filled_qty.normalize():f} of 20: the order is CANCELED "
            "meanwhile, nothing is left to change"
        )
        assert str(screen.query_one("#dialog-hint", Static).render()) == "esc: close"
        assert filled.has_class("-ended")
        assert all(field.disabled for field in screen.query(Input))
        screen._submit(Input.Submitted(screen.query_one("#m-limit_price", Input), ""))
        await desk.settle(pilot)
        assert desk.app.screen is screen
        assert "order.modify" not in [e.type for e in view.history]
        assert not [n for n in desk.app._notifications if n.title.startswith("Modify")]
        await pilot.press("escape")
        await pilot.pause()
        assert desk.app.screen is not screen
        await desk.session.close()


async def test_a_field_left_as_the_dialog_opened_is_not_sent(make_desk) -> None:
    """The order's price moves while the dialog is open (a change answered late, one
    from another desk): the untouched Price field takes the new price, the dialog says
    what moved, and a quantity typed goes alone. Compared with the order's terms, the
    field's old text was a change: it sent 63,500.00, undoing the newer price."""
    desk = make_desk()
    async with desk.app.run_test(size=(120, 36), notifications=True) as pilot:
        screen = await resting_buy_modify(desk, pilot)
        price = screen.query_one("#m-limit_price", Input)
        assert price.value == "63500.00"
        moved = await desk.session.command_gateway().send(
            ModifyOrder(client_order_id=RESTING, limit_price=Decimal("63450.00"))
        )
        assert moved.kind == "accepted", moved
        await desk.settle(pilot)
        view = desk.session.engine.oms.get(RESTING)
        assert view is not None
        assert view.order.limit_price == Decimal("63450.00")
        assert price.value == "63450.00"
        filled = str(screen.query_one("#m-filled", Static).render())
        assert filled.endswith("; changed meanwhile: price 63450.00"), filled

        screen.query_one("#m-quantity", Input).value = "0.06"
        await pilot.press("enter")
        await desk.settle(pilot)
        assert desk.app.screen is not screen
        changes = [e.payload for e in view.history if e.type == "order.modify"]
        assert [(c.quantity, c.limit_price) for c in changes] == [
            (None, Decimal("63450.00")),
            (Decimal("0.06"), None),
        ]
        assert (view.order.quantity, view.order.limit_price) == (
            Decimal("0.06"),
            Decimal("63450.00"),
        )
        await desk.session.close()


async def resting_buy_modify(desk: Desk, pilot: Pilot[None]) -> ModifyScreen:
    """The sample orders on the desk, and the modify dialog of the resting BTC buy."""
    await desk.start(pilot)
    await desk.step(pilot, 2)
    await sample_orders(desk)
    await desk.step(pilot, 2)
    await pilot.press("3", "home", "m")
    await pilot.pause()
    screen = desk.app.screen
    assert isinstance(screen, ModifyScreen)
    return screen


async def typed_then_moved(desk: Desk, pilot: Pilot[None]) -> tuple[ModifyScreen, Input]:
    """The modify dialog of the resting BTC buy (63,500.00), 63,400.00 typed in its
    Price, and the order moved to 63,450.00 meanwhile (another desk's change)."""
    screen = await resting_buy_modify(desk, pilot)
    price = screen.query_one("#m-limit_price", Input)
    price.value = "63400.00"
    await desk.session.command_gateway().send(
        ModifyOrder(client_order_id=RESTING, limit_price=Decimal("63450.00"))
    )
    await desk.settle(pilot)
    return screen, price


async def test_a_field_typed_in_keeps_what_was_typed_when_the_order_moves(make_desk) -> None:
    """What the trader typed is never overwritten by the order's move: it is what goes."""
    desk = make_desk()
    async with desk.app.run_test(size=(120, 36), notifications=True) as pilot:
        _, price = await typed_then_moved(desk, pilot)
        assert price.value == "63400.00"
        await pilot.press("enter")
        await desk.settle(pilot)
        view = desk.session.engine.oms.get(RESTING)
        assert view is not None
        assert view.order.limit_price == Decimal("63400.00")
        await desk.session.close()


async def test_a_price_typed_back_to_the_opening_one_after_the_order_moved_is_sent(
    make_desk,
) -> None:
    """The trader types a price, the order moves meanwhile (another desk), and the
    trader types the price the dialog opened with, and a quantity: the dialog shows
    63,500.00 and 0.06, and both go. The price was taken for a field left untouched
    (it equalled what the field was filled with): the quantity went alone, the order
    stayed at 63,450.00 with the dialog showing 63,500.00."""
    desk = make_desk()
    async with desk.app.run_test(size=(120, 36), notifications=True) as pilot:
        screen, price = await typed_then_moved(desk, pilot)
        price.value = "63500.00"
        screen.query_one("#m-quantity", Input).value = "0.06"
        await pilot.press("enter")
        await desk.settle(pilot)
        assert desk.app.screen is not screen
        view = desk.session.engine.oms.get(RESTING)
        assert view is not None
        assert (view.order.quantity, view.order.limit_price) == (
            Decimal("0.06"),
            Decimal("63500.00"),
        )
        await desk.session.close()


async def test_an_emptied_field_is_refused_not_taken_as_unchanged(make_desk) -> None:
    """The trader empties Qty and types a price: the dialog showed no quantity and the
    order went on at its old 0.05, the price alone sent. An emptied field is a problem
    naming the field and the order's term; nothing is sent until it is filled."""
    desk = make_desk()
    async with desk.app.run_test(size=(120, 36), notifications=True) as pilot:
        screen = await resting_buy_modify(desk, pilot)
        screen.query_one("#m-quantity", Input).value = ""
        price = screen.query_one("#m-limit_price", Input)
        price.value = "63400.00"
        price.focus()
        await pilot.press("enter")
        await desk.settle(pilot)
        assert desk.app.screen is screen
        said = problems_text(screen)
        assert "Qty: empty: the order's qty is 0.05; type one [required]" in said, said
        view = desk.session.engine.oms.get(RESTING)
        assert view is not None
        assert not [e for e in view.history if e.type == "order.modify"]
        screen.query_one("#m-quantity", Input).value = "0.05"
        await pilot.press("enter")
        await desk.settle(pilot)
        assert desk.app.screen is not screen
        assert (view.order.quantity, view.order.limit_price) == (
            Decimal("0.05"),
            Decimal("63400.00"),
        )
        await desk.session.close()


async def test_a_key_not_handled_yet_when_the_order_moves_is_not_written_over(
    make_desk,
) -> None:
    """The order moved between a key and its `Input.Changed` (the dialog follows the
    desk on a timer): the field was taken for one not typed in and the new price
    written over what the trader had typed (the suite saw it under load)."""
    desk = make_desk()
    async with desk.app.run_test(size=(120, 36), notifications=True) as pilot:
        screen = await resting_buy_modify(desk, pilot)
        price = screen.query_one("#m-limit_price", Input)
        with screen.prevent(Input.Changed):  # typed; its Changed not handled yet
            price.value = "63400.00"
        await desk.session.command_gateway().send(
            ModifyOrder(client_order_id=RESTING, limit_price=Decimal("63450.00"))
        )
        await desk.settle(pilot)
        screen.follow_desk()
        assert price.value == "63400.00"
        await pilot.press("enter")
        await desk.settle(pilot)
        view = desk.session.engine.oms.get(RESTING)
        assert view is not None
        assert view.order.limit_price == Decimal("63400.00")
        await desk.session.close()


async def test_a_change_below_the_venues_minimum_notional_is_said_in_the_dialog(
    make_desk,
) -> None:
    """0.00001 BTC at 63,500 is 0.635 USDT, under the paper venue's minimum of 5: said
    on the Qty as it is typed, Enter keeps the dialog open with it (the Binance drill:
    the dialog listed nothing, Enter closed it and a toast said the engine refused it,
    what was typed gone); a new price alone that breaks it is said on the Price."""
    desk = make_desk()
    async with desk.app.run_test(size=(120, 36), notifications=True) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 2)
        await sample_orders(desk)
        await desk.step(pilot, 2)
        await pilot.press("3", "home", "m")
        await pilot.pause()
        screen = desk.app.screen
        assert isinstance(screen, ModifyScreen)
        assert screen.view.client_order_id == RESTING
        qty = screen.query_one("#m-quantity", Input)
        qty.value = "0.00001"
        await pilot.pause()
        text = problems_text(screen)
        assert text.startswith("Qty: notional 0.635 USDT < minimum 5"), text
        assert text.endswith("[min_notional]"), text
        await pilot.press("enter")
        await desk.settle(pilot)
        assert desk.app.screen is screen  # still open, with what was typed
        assert qty.value == "0.00001"
        assert not [n for n in desk.app._notifications if n.title.startswith("Modify")]
        view = desk.session.engine.oms.get(RESTING)
        assert view is not None
        assert "order.modify" not in [e.type for e in view.history]  # nothing sent
        # The dialog and the broker judge it alike (`check_change`, `issues`).
        instrument = desk.session.engine.instrument("paper", "BTCUSDT.PAPER")
        assert instrument is not None
        change, said = check_change(view, instrument, "0.05", "1", "")
        assert change is None
        assert said == ["Price: notional 0.05 USDT < minimum 5: at least 5 at 1.00 [min_notional]"]
        await desk.session.close()


async def test_a_part_filled_orders_change_is_left_to_the_brokers_notional_check(
    make_desk,
) -> None:
    """Once part of an order has filled, venues judge a change's notional differently
    (the paper venue on the whole order, Binance on the rest it places again): the
    dialog does not judge it, the broker does as its venue would (a change Binance
    takes, judged on the whole, was refused here: review rs)."""
    desk = make_desk()
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 2)
        view = await buy_eth_at_the_ask(desk, pilot, "20")
        assert 0 < view.order.filled_qty < view.order.quantity
        instrument = desk.session.engine.instrument("paper", "ETHUSDT.PAPER")
        assert instrument is not None
        # A minimum far above the whole order's notional, on the same grid.
        high = instrument.model_copy(update={"min_notional": Decimal("1e12")})
        quantity = str(view.order.quantity + 1)
        change, said = check_change(view, high, quantity, str(view.order.limit_price), "")
        assert said == [], said
        assert change is not None
        assert change.quantity == view.order.quantity + 1
        # Unfilled, the same minimum is said on the Qty.
        resting = await buy_eth_resting(desk, pilot)
        _, said = check_change(resting, high, "2", "3400.00", "")
        assert [p for p in said if p.startswith("Qty: notional")], said
        await desk.session.close()


async def buy_eth_resting(desk: Desk, pilot: Pilot[None]) -> OrderView:
    """A buy of 1 ETH resting under the market, inside the collar (nothing filled)."""
    await desk.session.engine.submit(
        OrderRequest(
            client_order_id="st000000000000000401",
            broker="paper",
            account="main",
            instrument="ETHUSDT.PAPER",
            side=Side.BUY,
            order_type=OrderType.LIMIT,
            quantity=Decimal(1),
            limit_price=Decimal("3400.00"),
        )
    )
    await desk.settle(pilot)
    view = desk.session.engine.oms.get("st000000000000000401")
    assert view is not None
    return view
