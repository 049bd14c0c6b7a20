"""The ticket's NOT SENT lists every rule the order breaks, the desk's and the broker's
among them, in a stable order, what blocks the most first. Before, one problem hid the
rest: HALTED with the Price empty read only `Price: required` (the kill switch came
with the Price typed), an order path down read only `orders cannot go out now ...
send the order again once ... is LIVE` (no `trading is HALTED`, no lot or notional
problem), so the advice it gave ended in another refusal (the venue drive's i80_12,
b80_15, b120_17)."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from textual.widgets import Input

from silvertine_tui.domain import ConnectionState, TradingState
from silvertine_tui.engine.risk import RiskGate
from silvertine_tui.ui.orders import Draft, TicketContext, check
from silvertine_tui.ui.widgets.text import TextBlock

from .test_ticket_capabilities import spot_desk, start, switch_account
from .test_trading_keys import open_buy_ticket

HALTED = "trading is HALTED (kill switch); resume first"


def rules(problems: list[Any]) -> list[tuple[str, str]]:
    return [(p.field, p.rule) for p in problems]


async def test_halted_with_the_price_empty_says_both(make_desk) -> None:
    desk = make_desk()
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 1)
        ticket = await open_buy_ticket(desk, pilot, "ETHUSDT.PAPER")
        await desk.session.engine.kill("test")
        await desk.settle(pilot)
        ticket.query_one("#t-quantity", Input).value = "1"
        ticket.query_one("#t-limit_price", Input).value = ""
        await desk.settle(pilot)
        await pilot.press("f9")
        await desk.settle(pilot)
        checked = ticket.checked
        assert checked is not None
        assert rules(checked.problems) == [("", "trading_state"), ("limit_price", "required")]
        assert checked.problems[0].message == HALTED
        said = ticket.query_one("#t-problems", TextBlock).text.plain
        assert said == f"{HALTED} [trading_state]\nPrice: required [required]"
        # The Price, not the whole order, takes the keyboard: it is what F9 needs.
        assert desk.app.focused is ticket.query_one("#t-limit_price", Input)
        # Typed in, the kill switch alone stays, said once (the gate's own words).
        ticket.query_one("#t-limit_price", Input).value = "3500"
        await desk.settle(pilot)
        checked = ticket.run_check()
        assert rules(checked.problems) == [("", "trading_state")]
        await desk.session.close()


async def test_an_order_path_down_hides_neither_the_kill_switch_nor_the_lot(make_desk) -> None:
    desk = spot_desk(make_desk)
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await start(desk, pilot)
        spot = desk.session.brokers[1]
        spot.order_links = ("rest", "user")
        await spot.set_link("rest", ConnectionState.LIVE)
        await spot.set_link("user", ConnectionState.DISCONNECTED, "user stream dropped")
        await desk.settle(pilot)
        ticket = await open_buy_ticket(desk, pilot, "ETHUSDT.PAPER")
        await switch_account(desk, pilot, ticket, "spot/main")
        # Under the venue's minimum notional (5 USDT), as b120_07's 0.00001.
        ticket.query_one("#t-quantity", Input).value = "0.0001"
        await desk.settle(pilot)
        checked = ticket.run_check()
        assert rules(checked.problems) == [
            ("account", "order_path"),
            ("quantity", "min_notional"),
        ]
        await desk.session.engine.kill("test")
        await desk.settle(pilot)
        checked = ticket.run_check()
        # Most blocking first: the kill switch, then the broker's path, then the Qty.
        assert rules(checked.problems) == [
            ("", "trading_state"),
            ("account", "order_path"),
            ("quantity", "min_notional"),
        ]
        # The broker not LIVE is the path down, said once (by the link that is down).
        assert "broker_not_live" not in [p.rule for p in checked.problems]
        await pilot.press("f9")
        await desk.settle(pilot)
        said = ticket.query_one("#t-problems", TextBlock).text.plain
        assert said.startswith(f"{HALTED} [trading_state]\nAccount: orders cannot go out")
        assert said.endswith("[min_notional]")
        assert desk.app.focused is ticket.query_one("#t-quantity", Input)
        await desk.session.close()


async def test_no_problem_hides_another(make_desk) -> None:
    """Hypothesis over what is typed and the kill switch: the problems listed HALTED
    are those listed ACTIVE (the gate's trading state aside) with `trading is HALTED`
    first."""
    desk = make_desk()
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 1)
        projection = desk.session.projection
        context = TicketContext(projection, RiskGate(desk.session.settings.risk))
        mark = projection.last_price("ETHUSDT.PAPER")
        assert mark is not None

        @settings(
            max_examples=60,
            deadline=None,
            suppress_health_check=[HealthCheck.function_scoped_fixture],
        )
        @given(
            quantity=st.sampled_from(["", "0", "x", "0.0001", "0.00001", "1", "1000"]),
            price=st.sampled_from(["", "-1", f"{mark}", f"{mark * 3:.2f}", "1"]),
            instrument=st.sampled_from(["ETHUSDT.PAPER", "", "NOPE"]),
        )
        def agree(quantity: str, price: str, instrument: str) -> None:
            draft = Draft(
                instrument=instrument,
                quantity=quantity,
                limit_price=price,
                account="paper/main",
            )
            assert projection.trading_state is TradingState.ACTIVE
            active = check(draft, context, client_order_id="st0000000000000000aa")
            replaced = projection.hold_state("0-1", TradingState.HALTED)
            try:
                halted = check(draft, context, client_order_id="st0000000000000000aa")
            finally:
                projection.release_state("0-1", replaced)
            assert halted.problems[0].rule == "trading_state"
            assert halted.problems[0].message == HALTED
            assert halted.problems[1:] == active.problems

        agree()
        await desk.session.close()
