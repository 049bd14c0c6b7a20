"""The modify dialog says what a change means before it is sent, and asks first as the
ticket does; its fields are in the ticket's order with a tab that never wraps; a field
given back after a confirmation answered no has its text selected (the ticket's too).

Found driving the desk: a buy of 5 AAPL at 189.00 (945 USD) typed up to 190 (35,910
USD, 36 times `confirm_notional`) went on one Enter, unasked; the dialog opened on the
Price, and a tab "to the price" wrapped to the Qty, where the price went in; after `n`
on a confirmation, `10` typed into the Qty made `1010`."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from textual.pilot import Pilot
from textual.widgets import Input, Static

from silvertine_tui.domain import Order, OrderType, Side
from silvertine_tui.engine.projection import OrderView
from silvertine_tui.ui.screens import modify
from silvertine_tui.ui.screens.confirm import ConfirmScreen
from silvertine_tui.ui.screens.modify import ModifyScreen

from .conftest import Desk, limit_buy, make_settings
from .test_trading_keys import open_buy_ticket, type_into

AAPL = "AAPL.PAPER"
COID = "st000000000000000801"
SIZES = [(120, 36), (80, 24)]
LIMIT = Decimal("1000")  # the desk's confirm_notional in these tests (the drive's)


def aapl_desk(make_desk) -> Desk:
    desk: Desk = make_desk(settings=make_settings(confirm_notional=LIMIT))
    return desk


async def modify_aapl(desk: Desk, pilot: Pilot[None], quantity: str = "5") -> ModifyScreen:
    """A resting buy of `quantity` AAPL at 189.00 (the market about 190), and its
    modify dialog open."""
    await desk.start(pilot)
    await desk.step(pilot, 2)
    await desk.session.engine.submit(limit_buy(COID, AAPL, quantity, "189.00"))
    await desk.settle(pilot)
    await pilot.press("3", "home", "m")
    await pilot.pause()
    dialog = desk.app.screen
    assert isinstance(dialog, ModifyScreen)
    assert dialog.view.client_order_id == COID
    return dialog


async def modify_stop_limit(desk: Desk, pilot: Pilot[None], quantity: str) -> ModifyScreen:
    """A resting stop-limit buy of `quantity` AAPL at 199.00, stop 198.00 (the market
    about 190), and its modify dialog open."""
    await desk.start(pilot)
    await desk.step(pilot, 2)
    request = limit_buy(COID, AAPL, quantity, "199.00").model_copy(
        update={"order_type": OrderType.STOP_LIMIT, "stop_price": Decimal("198.00")}
    )
    await desk.session.engine.submit(request)
    await desk.settle(pilot)
    await pilot.press("3", "home", "m")
    await pilot.pause()
    dialog = desk.app.screen
    assert isinstance(dialog, ModifyScreen)
    return dialog


def screen_lines(desk: Desk) -> list[str]:
    return [strip.text for strip in desk.app.screen._compositor.render_strips()]


def order(desk: Desk) -> OrderView:
    view = desk.session.engine.oms.get(COID)
    assert view is not None
    return view


def field(dialog: ModifyScreen, name: str) -> Input:
    return dialog.query_one(f"#m-{name}", Input)


def preview(dialog: ModifyScreen) -> str:
    return str(dialog.query_one("#m-preview", Static).render())


# -- 1. what the change means, and asking first -------------------------------------------


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
async def test_a_quantity_grown_past_the_limit_says_its_notional_and_asks_first(
    make_desk, size: tuple[int, int]
) -> None:
    desk = aapl_desk(make_desk)
    async with desk.app.run_test(size=size, notifications=True) as pilot:
        dialog = await modify_aapl(desk, pilot)
        assert preview(dialog) == "notional 945.00 USD (unchanged)"
        await type_into(pilot, "190")  # the Qty has the keyboard, its 5 selected
        assert field(dialog, "quantity").value == "190"
        # Said as it is typed, whole on the screen at this size too.
        said = "notional 35,910.00 USD (was 945.00)"
        assert preview(dialog).splitlines()[0] == said
        assert preview(dialog).splitlines()[1] == (
            "above the confirmation limit 1,000.00; qty 38 times the order's 5: enter asks first"
        )
        assert any(said in line for line in screen_lines(desk))
        await pilot.press("enter")
        await pilot.pause()
        confirm = desk.app.screen
        assert isinstance(confirm, ConfirmScreen)
        assert "BUY 190 AAPL.PAPER LIMIT @ 189.00" in confirm.title_text
        assert "Notional 35,910.00 USD is above the confirmation limit 1,000.00." in confirm.body
        assert said in confirm.body
        # Nothing has gone while it asks.
        assert order(desk).order.quantity == 5
        assert "order.modify" not in [e.type for e in order(desk).history]

        await pilot.press("y")
        await desk.settle(pilot)
        assert not isinstance(desk.app.screen, ModifyScreen | ConfirmScreen)
        assert order(desk).order.quantity == 190
        assert order(desk).order.limit_price == Decimal("189.00")
        await desk.session.close()


async def test_no_on_the_question_sends_nothing_and_gives_the_field_back_selected(
    make_desk,
) -> None:
    desk = aapl_desk(make_desk)
    async with desk.app.run_test(size=(120, 36), notifications=True) as pilot:
        dialog = await modify_aapl(desk, pilot)
        await type_into(pilot, "190")
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(desk.app.screen, ConfirmScreen)
        await pilot.press("n")
        await pilot.pause()
        assert desk.app.screen is dialog  # still open, with what was typed
        quantity = field(dialog, "quantity")
        assert desk.app.focused is quantity
        assert quantity.value == "190"
        # Typing replaces it: `4` is a quantity of 4, not 1904.
        await type_into(pilot, "4")
        assert quantity.value == "4"
        assert preview(dialog) == "notional 756.00 USD (was 945.00)"
        await pilot.press("enter")  # under the limit, less than before: it goes
        await desk.settle(pilot)
        assert desk.app.screen is not dialog
        assert order(desk).order.quantity == 4
        await desk.session.close()


async def test_esc_on_the_question_gives_the_field_back_selected(make_desk) -> None:
    desk = aapl_desk(make_desk)
    async with desk.app.run_test(size=(80, 24)) as pilot:
        dialog = await modify_aapl(desk, pilot)
        await type_into(pilot, "10")
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(desk.app.screen, ConfirmScreen)
        await pilot.press("escape")
        await pilot.pause()
        assert desk.app.screen is dialog
        await type_into(pilot, "3")
        assert field(dialog, "quantity").value == "3"
        assert order(desk).order.quantity == 5
        await desk.session.close()


async def test_more_than_doubling_the_quantity_asks_even_under_the_limit(make_desk) -> None:
    """A buy of 1 at 189.00 typed up to 3 (567.00, under the limit of 1,000.00): three
    times the order asks first; up to 2 (doubled) it goes."""
    desk = aapl_desk(make_desk)
    async with desk.app.run_test(size=(120, 36)) as pilot:
        dialog = await modify_aapl(desk, pilot, quantity="1")
        await type_into(pilot, "3")
        assert preview(dialog) == (
            "notional 567.00 USD (was 189.00)\nqty 3 times the order's 1: enter asks first"
        )
        await pilot.press("enter")
        await pilot.pause()
        confirm = desk.app.screen
        assert isinstance(confirm, ConfirmScreen)
        assert "Qty 3 is 3 times the order's 1: more than double asks first." in confirm.body
        await pilot.press("n")
        await pilot.pause()
        await type_into(pilot, "2")
        assert "asks first" not in preview(dialog)
        await pilot.press("enter")
        await desk.settle(pilot)
        assert desk.app.screen is not dialog
        assert order(desk).order.quantity == 2
        await desk.session.close()


async def test_a_change_under_the_limit_goes_on_enter(make_desk) -> None:
    desk = aapl_desk(make_desk)
    async with desk.app.run_test(size=(120, 36)) as pilot:
        dialog = await modify_aapl(desk, pilot)
        await pilot.press("tab")
        await type_into(pilot, "188.50")
        assert preview(dialog) == "notional 942.50 USD (was 945.00)"
        await pilot.press("enter")
        await desk.settle(pilot)
        assert not isinstance(desk.app.screen, ModifyScreen | ConfirmScreen)
        assert order(desk).order.limit_price == Decimal("188.50")
        await desk.session.close()


async def test_an_order_that_ends_while_the_question_asks_is_not_changed_by_yes(
    make_desk,
) -> None:
    """The question is of the order as it was: once it moves (here: it ends, cancelled
    by the kill switch), `y` sends nothing."""
    desk = aapl_desk(make_desk)
    async with desk.app.run_test(size=(120, 36), notifications=True) as pilot:
        await modify_aapl(desk, pilot)
        await type_into(pilot, "190")
        await pilot.press("enter")
        await pilot.pause()
        confirm = desk.app.screen
        assert isinstance(confirm, ConfirmScreen)
        await desk.session.engine.kill("kill switch (another desk)")
        await desk.settle(pilot)
        assert confirm.stale.startswith("the order is CANCELED meanwhile")
        await pilot.press("y")
        await desk.settle(pilot)
        assert order(desk).order.quantity == 5
        assert "order.modify" not in [e.type for e in order(desk).history]
        await desk.session.close()


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    old=st.integers(min_value=1, max_value=500),
    new=st.integers(min_value=1, max_value=5000),
    price=st.decimals(min_value=Decimal("0.01"), max_value=Decimal("500"), places=2),
    new_price=st.decimals(min_value=Decimal("0.01"), max_value=Decimal("500"), places=2),
    limit=st.decimals(min_value=Decimal("1"), max_value=Decimal("100000"), places=2),
)
def test_the_dialog_asks_exactly_when_raised_above_the_limit_or_more_than_doubled(
    old: int, new: int, price: Decimal, new_price: Decimal, limit: Decimal
) -> None:
    request = limit_buy(COID, AAPL, str(old), str(price))
    view = OrderView("paper", "main", Order.from_request(request))
    # (by the module: the code before this change had none of them)
    changed = modify.typed_request(view, str(new), str(new_price), "")
    assert changed is not None
    said = modify.meaning(view, None, changed, limit)
    notional = new * new_price
    # Above the limit asks when the change makes the order bigger or readier to fill: a
    # larger notional, a larger quantity, a buy's limit moved up (toward the market).
    # One no bigger and no readier (a limit moved away) is not asked about again.
    weightier = notional > old * price or new > old or new_price > price
    expected = (notional > limit and weightier) or new > old * modify.GROWTH_ASKS
    assert said.asks is expected
    assert said.after == notional
    assert said.before == old * price


@pytest.mark.parametrize(
    ("side", "quantity", "price", "asks"),
    [
        (Side.SELL, "100", "150.00", True),  # a sell's limit down: through the market
        (Side.BUY, "190", "100.00", True),  # 1.9 times the quantity, a lower notional
        (Side.SELL, "100", "250.00", True),  # a sell's limit up: the notional rises
        (Side.BUY, "100", "150.00", False),  # a buy's limit down: away from the market
        (Side.BUY, "90", "200.00", False),  # less of it
    ],
)
def test_above_the_limit_a_change_readier_to_fill_asks_whatever_its_notional(
    side: Side, quantity: str, price: str, asks: bool
) -> None:
    """An order of 100 at 200.00 (20,000.00, above the limit of 1,000.00). A code
    review: the rule that let a change no larger go on Enter let a sell moved through
    the market, or a buy of nearly twice the quantity at half the price, go unasked."""
    request = limit_buy(COID, AAPL, "100", "200.00").model_copy(update={"side": side})
    view = OrderView("paper", "main", Order.from_request(request))
    changed = modify.typed_request(view, quantity, price, "")
    assert changed is not None
    assert modify.meaning(view, None, changed, LIMIT).asks is asks


@pytest.mark.parametrize(
    ("typed", "said"),
    [
        (["tab", "tab", "197.00"], "notional 1,990.00 USD (unchanged)"),  # the stop alone
        (["tab", "198.00"], "notional 1,980.00 USD (was 1,990.00)"),  # a lower price
    ],
    ids=["stop", "lower-price"],
)
async def test_a_change_that_leaves_an_order_above_the_limit_no_larger_goes_on_enter(
    make_desk, typed: list[str], said: str
) -> None:
    """A stop-limit buy of 10 at 199.00 (1,990.00 USD, above the limit of 1,000.00) is
    working: a new stop, or a lower price, goes on Enter. Before, every change of it
    asked again, `notional 1,990.00 USD (unchanged)` above the limit."""
    desk = aapl_desk(make_desk)
    async with desk.app.run_test(size=(120, 36), notifications=True) as pilot:
        dialog = await modify_stop_limit(desk, pilot, "10")
        *keys, text = typed
        for key in keys:
            await pilot.press(key)
        await type_into(pilot, text)
        assert preview(dialog) == said  # no second line: enter sends
        await pilot.press("enter")
        await desk.settle(pilot)
        assert not isinstance(desk.app.screen, ModifyScreen | ConfirmScreen)
        changed = order(desk).order
        if keys == ["tab", "tab"]:
            assert (changed.stop_price, changed.limit_price) == (Decimal("197.00"), 199)
        else:
            assert (changed.stop_price, changed.limit_price) == (Decimal("198.00"), 198)
        assert changed.quantity == 10
        await desk.session.close()


async def test_a_higher_price_above_the_limit_still_asks(make_desk) -> None:
    """An order above the limit changed to a higher price (1,900.00 USD) asks first."""
    desk = aapl_desk(make_desk)
    async with desk.app.run_test(size=(120, 36), notifications=True) as pilot:
        dialog = await modify_aapl(desk, pilot, quantity="10")
        await pilot.press("tab")
        await type_into(pilot, "190.00")
        assert preview(dialog) == (
            "notional 1,900.00 USD (was 1,890.00)\n"
            "above the confirmation limit 1,000.00: enter asks first"
        )
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(desk.app.screen, ConfirmScreen)
        await pilot.press("n")
        await pilot.pause()
        assert order(desk).order.limit_price == Decimal("189.00")
        await desk.session.close()


# -- 2. the fields' order and the tab -----------------------------------------------------


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
async def test_the_dialog_opens_on_the_qty_and_tab_stops_at_the_price(
    make_desk, size: tuple[int, int]
) -> None:
    desk = aapl_desk(make_desk)
    async with desk.app.run_test(size=size) as pilot:
        dialog = await modify_aapl(desk, pilot)
        quantity, price = field(dialog, "quantity"), field(dialog, "limit_price")
        assert desk.app.focused is quantity
        assert dialog.query_one("#m-row-quantity").has_class("-editing")
        await pilot.press("tab")
        assert desk.app.focused is price
        assert dialog.query_one("#m-row-limit_price").has_class("-editing")
        assert not dialog.query_one("#m-row-quantity").has_class("-editing")
        # A tab too many stays on the Price (the Stop of a LIMIT order is off): the
        # price typed next goes in the Price, never the Qty.
        await pilot.press("tab")
        assert desk.app.focused is price
        await type_into(pilot, "188.80")
        assert (quantity.value, price.value) == ("5", "188.80")
        # Back with shift+tab, and no wrap from the Qty to the last field either.
        await pilot.press("shift+tab")
        assert desk.app.focused is quantity
        await pilot.press("shift+tab")
        assert desk.app.focused is quantity
        await pilot.press("enter")
        await desk.settle(pilot)
        assert (order(desk).order.quantity, order(desk).order.limit_price) == (
            5,
            Decimal("188.80"),
        )
        await desk.session.close()


async def test_the_field_with_the_keyboard_is_marked_on_screen(make_desk) -> None:
    """Its label drawn in reverse (seen in 16 colours), the others not."""
    desk = aapl_desk(make_desk)
    async with desk.app.run_test(size=(80, 24)) as pilot:
        dialog = await modify_aapl(desk, pilot)
        await pilot.pause()

        def reversed_labels() -> set[str]:
            found = set()
            for strip in desk.app.screen._compositor.render_strips():
                for segment in strip:
                    word = segment.text.strip()
                    if word in ("Qty", "Price", "Stop") and segment.style and segment.style.reverse:
                        found.add(word)
            return found

        assert reversed_labels() == {"Qty"}
        await pilot.press("tab")
        await pilot.pause()
        assert reversed_labels() == {"Price"}
        assert desk.app.focused is field(dialog, "limit_price")
        await desk.session.close()


async def test_a_stop_limit_order_tabs_qty_price_stop_and_stops_there(make_desk) -> None:
    desk = aapl_desk(make_desk)
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await modify_stop_limit(desk, pilot, "2")
        seen = [desk.app.focused]
        for _ in range(3):
            await pilot.press("tab")
            seen.append(desk.app.focused)
        assert [w.id if w else None for w in seen] == [
            "m-quantity",
            "m-limit_price",
            "m-stop_price",
            "m-stop_price",
        ]
        await desk.session.close()


# -- 3. the ticket's field after a confirmation answered no ---------------------------------


@pytest.mark.parametrize("answer", ["escape", "n"])
async def test_the_tickets_field_after_a_no_is_selected_so_typing_replaces_it(
    make_desk, answer: str
) -> None:
    desk = aapl_desk(make_desk)
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 2)
        ticket = await open_buy_ticket(desk, pilot, AAPL)
        quantity = ticket.query_one("#t-quantity", Input)
        assert desk.app.focused is quantity
        await type_into(pilot, "10")  # 10 x ~190 = ~1,900 > 1,000: asks
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(desk.app.screen, ConfirmScreen)
        await pilot.press(answer)
        await pilot.pause()
        assert desk.app.focused is quantity
        await type_into(pilot, "5")
        assert quantity.value == "5"  # not 105
        assert desk.session.engine.oms.orders == {}
        await desk.session.close()
