"""The first screen renders what it reads from the bus, and quits on q and ctrl+c."""

from __future__ import annotations

from decimal import Decimal

import pytest
from textual.widgets import DataTable

from silvertine_tui.config import Settings
from silvertine_tui.domain import OrderStatus, OrderUpdate
from silvertine_tui.engine import Session
from silvertine_tui.events import OrderUpdateEvent
from silvertine_tui.ui.app import SilvertineApp


async def wait_rows(pilot, table: DataTable[str], n: int) -> None:
    for _ in range(100):
        if table.row_count >= n:
            return
        await pilot.pause(0.02)
    raise AssertionError(f"expected {n} rows, have {table.row_count}")


@pytest.mark.parametrize("key", ["q", "ctrl+c"])
async def test_renders_bus_events_and_quits(key: str) -> None:
    session = Session(Settings())
    await session.start()
    app = SilvertineApp(session, clock=lambda: 0.0)
    async with app.run_test(size=(100, 24)) as pilot:
        table = app.query_one("#events", DataTable)
        await wait_rows(pilot, table, 2)
        await session.bus.publish(
            OrderUpdateEvent.create(
                "paper/main",
                OrderUpdate(
                    client_order_id="st-1", status=OrderStatus.NEW, filled_qty=Decimal("0")
                ),
            )
        )
        await wait_rows(pilot, table, 3)
        cells = [str(c) for c in table.get_row_at(2)]
        assert cells[1:3] == ["exec:paper:main", "order.update"]
        assert cells[3] == "st-1 NEW filled 0"
        status = str(app.query_one("#status").render())
        assert "[PAPER]" in status and "memory://" in status and "00:00:00" in status
        await pilot.press(key)
        await pilot.pause()
        assert not app.is_running
    await session.close()
