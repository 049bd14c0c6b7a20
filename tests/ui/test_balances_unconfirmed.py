"""Balances a broker cannot confirm now are marked: a broker DISCONNECTED (Binance with
its user-data stream down, its cancels going over REST) has its figures as last heard,
while cancels and fills may have moved them; they read as confirmed. Now each figure
ends `?` in the warning colour and the pane's edge says whose and why, until the broker
is LIVE again (the projection's `balances_unconfirmed`, the Orders pane's `NEW?` rule)."""

from __future__ import annotations

from silvertine_tui.domain import ConnectionState
from silvertine_tui.events import Health, HealthEvent
from silvertine_tui.ui.screens.main import Pane
from silvertine_tui.ui.widgets.balances import Balances

from .conftest import Desk

ROW = "paper/main/USDT"


async def broker_state(desk: Desk, state: ConnectionState) -> None:
    component = "broker:paper/main"
    await desk.session.bus.publish(
        HealthEvent.create(component, Health(component=component, state=state), ts=desk.clock.ns())
    )


def edge(desk: Desk) -> str:
    return str(desk.app.screen.query_one("#pane-balances", Pane).border_subtitle or "")


async def test_balances_of_a_disconnected_broker_are_marked_until_it_is_live(make_desk) -> None:
    desk: Desk = make_desk()
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 1)
        balances = desk.app.screen.query_one(Balances)
        assert not balances.get_cell(ROW, "available").plain.endswith("?")
        assert edge(desk) == ""

        await broker_state(desk, ConnectionState.DISCONNECTED)
        await desk.next_second(pilot)
        for column in ("total", "available", "locked"):
            cell = balances.get_cell(ROW, column)
            assert cell.plain.endswith("?"), (column, cell.plain)
            assert cell.style == balances.palette.warn
        assert edge(desk) == "paper DISCONNECTED: as last heard"

        await broker_state(desk, ConnectionState.LIVE)
        await desk.next_second(pilot)
        assert not balances.get_cell(ROW, "available").plain.endswith("?")
        assert edge(desk) == ""
        await desk.session.close()
