"""The modify dialog checks a buy's funds as the ticket does for a new order.

A change to a working buy needs what the order as changed leaves to buy, at its price,
with the fee estimate (the ticket's preview); it is judged against the available
balance plus what the order holds now (its remaining quantity at its limit price, no
more than the balance holds locked: what the venue surely frees), and refused in the
dialog under `[buying_power]`, on the field the change touched; nothing is sent.
Before, only the risk rules and `sellable` were checked: the change went, and at
Binance (a cancelReplace) the venue cancelled the order and refused the new one
(tests/ui/test_modify_keeps_order_binance.py). The paper venue amends in place and
refuses such a change itself; the dialog never lets through one it refuses (the
hypothesis test here), and its triggered stops' prices still change."""

from __future__ import annotations

import copy
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from textual.pilot import Pilot
from textual.widgets import Input, Static

from silvertine_tui.brokers import InsufficientFunds, OrderRejected
from silvertine_tui.config import Settings
from silvertine_tui.domain import OrderRequest, OrderType, Side
from silvertine_tui.ui.screens.confirm import ConfirmScreen
from silvertine_tui.ui.screens.modify import ModifyScreen, check_change

from .conftest import Desk, limit_buy, make_settings

ETH = "ETHUSDT.PAPER"
BUY = "st000000000000000701"


def poor_desk_settings() -> Settings:
    """The test desk with 10,000 USDT."""
    return make_settings(paper={"starting_cash": {"USDT": "10000", "USD": "10000"}})


async def resting_buy(desk: Desk, pilot: Pilot[None]) -> Decimal:
    """BUY 1 ETH 1% under the bid (it rests); its price."""
    await desk.start(pilot)
    await desk.step(pilot, 2)
    bid = desk.app.model.quotes[ETH].quote.bid
    assert bid is not None
    price = (bid * Decimal("0.99")).quantize(Decimal("0.01"))
    await desk.session.engine.submit(limit_buy(BUY, ETH, "1", f"{price}"))
    await desk.settle(pilot)
    view = desk.session.projection.order(BUY)
    assert view is not None
    assert view.order.status.value == "NEW"
    return price


async def open_modify(desk: Desk, pilot: Pilot[None]) -> ModifyScreen:
    await pilot.press("3", "home", "m")
    await pilot.pause()
    screen = desk.app.screen
    assert isinstance(screen, ModifyScreen)
    assert screen.view.client_order_id == BUY
    return screen


def problems_of(screen: ModifyScreen) -> str:
    return str(screen.query_one("#m-problems", Static).render())


def modifies(desk: Desk) -> int:
    view = desk.session.projection.order(BUY)
    assert view is not None
    return [e.type for e in view.history].count("order.modify")


async def test_a_buy_grown_beyond_the_funds_is_refused_on_its_qty(make_desk) -> None:
    """BUY 1 @ 3,464.91 holds 3,468.37491 of 10,000 USDT (the venue reserves the fee
    too): Qty 3 needs 10,405.12 with the fee estimate, more than the 6,531.62509
    available and the 3,464.91 the order holds (its notional: no more is counted), and
    is refused on the Qty, nothing sent; 2.8 (9,711.45 with the fee) goes and the venue
    takes it."""
    desk = make_desk(settings=poor_desk_settings())
    async with desk.app.run_test(size=(120, 36), notifications=True) as pilot:
        price = await resting_buy(desk, pilot)
        assert price == Decimal("3464.91")
        balance = desk.session.projection.balances[("paper", "main", "USDT")]
        assert (balance.available, balance.locked) == (
            Decimal("6531.62509"),
            Decimal("3468.37491"),
        )
        screen = await open_modify(desk, pilot)
        quantity = screen.query_one("#m-quantity", Input)
        quantity.value = "3"
        await pilot.press("enter")
        await desk.settle(pilot)
        assert not isinstance(desk.app.screen, ConfirmScreen)
        assert desk.app.screen is screen
        assert problems_of(screen) == (
            "Qty: need 10,405.13 USDT (notional 10,394.73 + fee ~10.39), available "
            "6,531.62509 USDT + 3,464.91 the order holds: qty at most 2.8821 at limit price "
            "[buying_power]"
        )
        assert modifies(desk) == 0

        quantity.value = "2.8"
        await pilot.press("enter")
        await desk.settle(pilot)
        if isinstance(desk.app.screen, ConfirmScreen):  # more than double: asked
            await pilot.press("y")
            await desk.settle(pilot)
        view = desk.session.projection.order(BUY)
        assert view is not None
        assert (view.order.quantity, view.order.status.value) == (Decimal("2.8"), "NEW")
        assert not [n for n in desk.app._notifications if n.title.startswith("Modify")]
        await desk.session.close()


async def test_a_price_alone_beyond_the_funds_is_said_on_the_price(make_desk) -> None:
    """The quantity untouched, a Price that makes the order cost more than there is:
    said on the Price, not on the Qty the trader did not touch."""
    desk = make_desk(settings=poor_desk_settings())
    async with desk.app.run_test(size=(120, 36), notifications=True) as pilot:
        await resting_buy(desk, pilot)
        screen = await open_modify(desk, pilot)
        # 2.8 first (taken), then its price up to 3,630: 10,174.17 with the fee, more
        # than the 288.550252 available and the 9,701.748 the order holds.
        screen.query_one("#m-quantity", Input).value = "2.8"
        await pilot.press("enter")
        await desk.settle(pilot)
        if isinstance(desk.app.screen, ConfirmScreen):
            await pilot.press("y")
            await desk.settle(pilot)
        screen = await open_modify(desk, pilot)
        screen.query_one("#m-limit_price", Input).value = "3630"
        await pilot.press("enter")
        await desk.settle(pilot)
        assert desk.app.screen is screen
        said = problems_of(screen)
        assert said == (
            "Price: need 10,174.17 USDT (notional 10,164.00 + fee ~10.16), available "
            "288.550252 USDT + 9,701.748 the order holds: qty at most 2.7493 at limit "
            "price [buying_power]"
        )
        assert modifies(desk) == 1
        await desk.session.close()


async def test_a_triggered_paper_stop_still_changes_its_price(make_desk) -> None:
    """The paper venue amends in place: a triggered STOP_LIMIT's Price changes (only
    a venue that places a change anew refuses it: `Capabilities.modify_places_anew`)."""
    desk = make_desk()
    async with desk.app.run_test(size=(120, 36), notifications=True) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 2)
        ask = desk.app.model.quotes["BTCUSDT.PAPER"].quote.ask
        assert ask is not None
        limit, stop = (ask - 100).quantize(Decimal("0.01")), (ask - 1000).quantize(Decimal(1))
        coid = await desk.session.engine.submit(
            OrderRequest(
                broker="paper", account="main", instrument="BTCUSDT.PAPER", side=Side.BUY,
                order_type=OrderType.STOP_LIMIT, quantity=Decimal("0.1"), limit_price=limit,
                stop_price=stop,
            )
        )  # fmt: skip
        await desk.settle(pilot)
        view = desk.session.projection.order(coid)
        assert view is not None
        assert view.order.triggered
        caps = desk.session.projection.capabilities("paper")
        assert caps is not None
        assert caps.stop_through_refused is False
        assert caps.modify_places_anew is False
        await pilot.press("3", "home", "m")
        await pilot.pause()
        screen = desk.app.screen
        assert isinstance(screen, ModifyScreen)
        change, problems = check_change(
            view, screen.instrument, "0.1", f"{limit - 50}", f"{stop}",
            risk=desk.app.desk.ticket_context.risk_check, venue=screen.venue_check(),
        )  # fmt: skip
        assert problems == []
        assert change is not None
        assert change.limit_price == limit - 50
        await pilot.press("escape")
        await desk.session.close()


async def test_the_dialog_never_passes_a_change_the_paper_venue_refuses_for_funds(
    make_desk,
) -> None:
    """Hypothesis over a new quantity and price of the working buy: when the paper
    venue's own account check refuses the change (`InsufficientFunds`, on a copy of the
    venue), the dialog refuses it first under `[buying_power]`. Refusing more than the
    venue does is bounded: only by the fee the venue reserves on the old order on top
    of its notional (the dialog counts the notional alone as what the order frees)."""
    desk = make_desk(settings=poor_desk_settings())
    async with desk.app.run_test(size=(120, 36)) as pilot:
        price = await resting_buy(desk, pilot)
        view = desk.session.projection.order(BUY)
        assert view is not None
        await pilot.press("3", "home", "m")
        await pilot.pause()
        screen = desk.app.screen
        assert isinstance(screen, ModifyScreen)
        venue_check = screen.venue_check()
        assert venue_check is not None
        risk = desk.app.desk.ticket_context.risk_check
        venue = desk.broker.venue
        now = desk.clock.ns()
        balance = desk.session.projection.balances[("paper", "main", "USDT")]
        seen = {"venue refused": 0, "venue took": 0, "dialog stricter": 0}

        # Derandomized: the counts below say the examples reached both sides of the
        # venue's check; drawn afresh each run, one run in many drew 9 refusals of 150
        # (a fresh clone's CI), failing on the coverage, not on the rule.
        @settings(
            max_examples=150,
            deadline=None,
            derandomize=True,
            suppress_health_check=[HealthCheck.function_scoped_fixture],
        )
        @given(
            qty=st.decimals(min_value=Decimal("0.01"), max_value=Decimal("4"), places=2),
            move=st.integers(min_value=-400, max_value=150),  # the price, in basis points
        )
        def agree(qty: Decimal, move: int) -> None:
            new_price = (price * (1 + Decimal(move) / 10_000)).quantize(Decimal("0.01"))
            _change, problems = check_change(
                view, screen.instrument, f"{qty}", f"{new_price}", "", risk=risk, venue=venue_check
            )
            dialog_refuses = any(p.endswith("[buying_power]") for p in problems)
            trial = copy.deepcopy(venue)
            try:
                trial.replace(BUY, now, quantity=qty, limit_price=new_price)
            except InsufficientFunds:
                seen["venue refused"] += 1
                assert dialog_refuses, (qty, new_price, problems)
                return
            except OrderRejected:
                return  # refused for something else (the grid, the notional)
            seen["venue took"] += 1
            if dialog_refuses:
                # Only within the fee the venue reserves on the old order's notional.
                seen["dialog stricter"] += 1
                need = qty * new_price * Decimal("1.001")
                frees = price * Decimal("1.001")
                assert need > balance.available + price, (qty, new_price)
                assert need <= balance.available + frees, (qty, new_price)

        agree()
        assert seen["venue refused"] > 10, seen
        assert seen["venue took"] > 10, seen
        held = venue.order(BUY)
        assert held is not None
        assert held.quantity == Decimal(1)  # (tried on copies)
        await desk.session.close()
