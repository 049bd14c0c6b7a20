"""A cancel or modify that came too late is said once, with the order's short id (an IB
desk review at 80x24 and 120x36).

The toast and its Log line read `Cancel came too late: cancel of stmxcghxnu72v4pia8ru
came too late: the order was already FILLED at IB ...`: the words twice and the full
20-character id, which took most of an 80x24 toast line. Now the title says it came
too late, the text what became of the order, and the order is named once, by the id
the Orders pane shows (`short_id`). Cancels on every venue (paper, the fake Binance,
the fake TWS, each racing a fill); the modify at TWS (104 after a fill)."""

from __future__ import annotations

import pytest
from textual.widgets import Input

from silvertine_tui.config import IBBrokerConfig, Settings
from silvertine_tui.domain import ConnectionState, OrderStatus
from silvertine_tui.ui.format import short_id
from silvertine_tui.ui.screens.modify import ModifyScreen
from silvertine_tui.ui.widgets.blotter import Blotter
from tests.fakes.tws import FakeTws
from tests.support.ib import FAST

from .conftest import Desk, until
from .test_cancel_too_late import VENUES, limit_buy, paper_only

S = OrderStatus


def toasts(desk: Desk) -> list[tuple[str, str, str]]:
    return [(n.title, n.message, n.severity) for n in desk.app._notifications]


def said_once(desk: Desk, coid: str, title: str) -> str:
    """The one toast titled `title`, checked for the words said once and the order
    named once by its short id; its Log line too. Returns its text."""
    [(said, severity)] = [(m, sev) for t, m, sev in toasts(desk) if t == title]
    assert severity == "warning"
    assert coid not in said, said
    assert "came too late" not in said, said  # the title says it
    assert said.count(short_id(coid)) == 1, said
    [line] = [line.text for line in desk.app.model.log if line.text.startswith(f"{title}: ")]
    assert line == f"{title}: {said}"
    assert line.count("came too late") == 1, line
    return said


@pytest.mark.parametrize("name", list(VENUES))
async def test_a_cancel_too_late_is_said_once_by_its_short_id(make_desk, name: str) -> None:
    async with VENUES[name]() as venue:
        desk: Desk = make_desk(settings=venue.settings)
        async with desk.app.run_test(size=(80, 24)) as pilot:
            await desk.start(pilot)
            engine = desk.session.engine
            broker = venue.request.broker
            await until(pilot, f"{broker} LIVE", lambda: engine.broker(broker).health_state.state
                        is ConnectionState.LIVE)  # fmt: skip
            coid = await engine.submit(venue.request)

            def status() -> OrderStatus | None:
                view = engine.oms.get(coid)
                return view.order.status if view is not None else None

            await until(pilot, "the order working", lambda: status() is S.NEW)
            await desk.settle(pilot)
            await pilot.press("escape", "3", "home")
            assert desk.app.screen.query_one(Blotter).selected_order() == coid
            if name != "paper":
                await venue.race(desk, pilot, coid)
            await pilot.press("c")
            if name == "paper":
                await venue.race(desk, pilot, coid)
            await until(pilot, "the cancel's answer", lambda: any(
                t.startswith("Cancel") for t, _, _ in toasts(desk)))  # fmt: skip
            await desk.settle(pilot)
            said = said_once(desk, coid, "Cancel came too late")
            assert said.startswith(f"the order was already FILLED {venue.said}"), said
            assert "; the fill stands" in said
            assert "nothing is working there for it" in said
        await desk.session.close()


async def test_a_modify_too_late_at_ib_is_said_once_by_its_short_id(make_desk) -> None:
    async with FakeTws() as fake:
        ib = IBBrokerConfig(
            name="ib", account=fake.account, port=fake.port, symbols=["AAPL"], client_id=7,
            **FAST,
        )  # fmt: skip
        desk: Desk = make_desk(settings=Settings(brokers=[paper_only(), ib]))
        async with desk.app.run_test(size=(80, 24)) as pilot:
            await desk.start(pilot)
            engine = desk.session.engine
            await until(pilot, "ib LIVE", lambda: engine.broker("ib").health_state.state
                        is ConnectionState.LIVE)  # fmt: skip
            coid = await engine.submit(limit_buy("ib", fake.account, "AAPL.SMART", "3", "140.00"))

            def status() -> OrderStatus | None:
                view = engine.oms.get(coid)
                return view.order.status if view is not None else None

            await until(pilot, "the order working", lambda: status() is S.NEW)
            await desk.settle(pilot)
            await pilot.press("escape", "3", "home", "m")
            await pilot.pause()
            screen = desk.app.screen
            assert isinstance(screen, ModifyScreen)
            screen.query_one("#m-limit_price", Input).value = "140.10"
            fake.race_next_modify()
            await pilot.press("enter")
            await until(pilot, "the modify's answer", lambda: any(
                t.startswith("Modify") for t, _, _ in toasts(desk)))  # fmt: skip
            await desk.settle(pilot)
            said = said_once(desk, coid, "Modify came too late")
            assert said == (
                "the order was already FILLED at IB (3 filled; the fill stands); nothing was "
                f"changed (order {short_id(coid)})"
            )
        await desk.session.close()
