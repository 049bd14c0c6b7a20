"""The modify dialog makes the ticket's "cannot go short" check: on an account that
cannot short (the paper account, like a spot one), a working sell changed to more than
the position less the other working sells is refused in the dialog, on the Qty, under
the rule `sellable`, and nothing is sent. Before, the dialog asked only "Qty 3 is 3
times the order's 1", sent it on `y`, and the venue refused it: `Modify failed /
insufficient position: need 3 ..., available 2`."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from textual.pilot import Pilot
from textual.widgets import Input, Static

from silvertine_tui.domain import OrderRequest, OrderType, Side
from silvertine_tui.engine.risk import RiskGate
from silvertine_tui.ui.orders import TicketContext
from silvertine_tui.ui.screens.confirm import ConfirmScreen
from silvertine_tui.ui.screens.modify import ModifyScreen, check_change

from .conftest import Desk, market_buy

ETH = "ETHUSDT.PAPER"
SELL = "st000000000000000401"  # the working sell the dialog changes
OTHER = "st000000000000000402"  # another working sell, of 0.5


def resting_sell(coid: str, quantity: str, price: Decimal) -> OrderRequest:
    return OrderRequest(
        client_order_id=coid,
        broker="paper",
        account="main",
        instrument=ETH,
        side=Side.SELL,
        order_type=OrderType.LIMIT,
        quantity=Decimal(quantity),
        limit_price=price,
    )


async def two_held_one_selling(desk: Desk, pilot: Pilot[None], *, other: bool = False) -> None:
    """2 ETH bought; a SELL 1 resting above the market (and, `other`, a SELL 0.5)."""
    await desk.start(pilot)
    await desk.step(pilot, 2)
    engine = desk.session.engine
    await engine.submit(market_buy("st000000000000000400", ETH, "2"))
    await desk.settle(pilot)
    assert engine.position("paper", "main", ETH) == Decimal(2)
    bid = desk.app.model.quotes[ETH].quote.bid
    assert bid is not None
    # Inside the collar, above the market: it rests.
    price = (bid * Decimal("1.01")).quantize(Decimal("0.01"))
    await engine.submit(resting_sell(SELL, "1", price))
    if other:
        await engine.submit(resting_sell(OTHER, "0.5", price))
    await desk.settle(pilot)


async def open_modify(desk: Desk, pilot: Pilot[None]) -> ModifyScreen:
    await pilot.press("3", "home", "m")
    await pilot.pause()
    screen = desk.app.screen
    assert isinstance(screen, ModifyScreen)
    assert screen.view.client_order_id == SELL
    return screen


def problems_text(screen: ModifyScreen) -> str:
    return str(screen.query_one("#m-problems", Static).render())


async def test_a_sell_changed_beyond_the_position_is_refused_in_the_dialog(make_desk) -> None:
    desk = make_desk()
    async with desk.app.run_test(size=(120, 36), notifications=True) as pilot:
        await two_held_one_selling(desk, pilot)
        screen = await open_modify(desk, pilot)
        quantity = screen.query_one("#m-quantity", Input)
        quantity.value = "3"
        await pilot.press("enter")
        await desk.settle(pilot)
        # No "Qty 3 is 3 times the order's 1" question: the change cannot go.
        assert not isinstance(desk.app.screen, ConfirmScreen)
        assert desk.app.screen is screen
        assert problems_text(screen) == (
            "Qty: sell 3 but position 2 and this account cannot go short: at most 2 [sellable]"
        )
        view = desk.session.projection.order(SELL)
        assert view is not None
        assert "order.modify" not in [e.type for e in view.history]
        assert view.order.quantity == Decimal(1)
        assert not [n for n in desk.app._notifications if n.title.startswith("Modify")]

        # At the position it goes (twice the order's: not more, no question), and the
        # venue takes it.
        quantity.value = "2"
        await pilot.press("enter")
        await desk.settle(pilot)
        assert desk.app.screen is not screen
        assert view.order.quantity == Decimal(2)
        assert not [n for n in desk.app._notifications if n.title.startswith("Modify")]
        await desk.session.close()


async def test_the_other_working_sells_count_and_the_order_itself_does_not(make_desk) -> None:
    """Hypothesis over the new quantity: the dialog refuses it for `sellable` exactly
    when it is more than the position (2) less the other working sell (0.5); the
    order's own 1 is not reserved against itself."""
    desk = make_desk()
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await two_held_one_selling(desk, pilot, other=True)
        session = desk.session
        view = session.projection.order(SELL)
        assert view is not None
        instrument = session.projection.instrument("paper", ETH)
        context = TicketContext(session.projection, RiskGate(session.settings.risk))

        price = f"{view.order.limit_price}"  # the order's: unchanged

        @settings(
            max_examples=120,
            deadline=None,
            suppress_health_check=[HealthCheck.function_scoped_fixture],
        )
        @given(qty=st.decimals(min_value=Decimal("0.01"), max_value=Decimal("5"), places=2))
        def agree(qty: Decimal) -> None:
            _change, problems = check_change(
                view, instrument, f"{qty}", price, "", risk=context.risk_check
            )
            refused = any(p.endswith("[sellable]") for p in problems)
            assert refused == (qty > Decimal("1.5")), (qty, problems)
            if refused:
                [said] = [p for p in problems if p.endswith("[sellable]")]
                assert said == (
                    f"Qty: sell {qty.normalize():f} but position 2 (0.5 already in working "
                    "sells) and this account cannot go short: at most 1.5 [sellable]"
                )

        agree()
        await session.close()
