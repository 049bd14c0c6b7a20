"""The ticket pane's bottom edge says how the field being edited takes keys, never cut
by an ellipsis: at 120x36 a choice's hint read `Type: left/right or a letter - Esc
le…` (driven at 120x36: `b`, then shift+tab to Type). Where the edge is too short the
hint is said in fewer words (`Pane.set_subtitle` fits the first that has room)."""

from __future__ import annotations

import pytest
from rich.cells import cell_len

from silvertine_tui.ui.screens.main import Pane

from .conftest import Desk
from .test_trading_keys import open_buy_ticket


def edge(desk: Desk) -> str:
    return str(desk.app.screen.query_one("#pane-ticket", Pane).border_subtitle or "")


@pytest.mark.parametrize("size", [(120, 36), (80, 24)])
async def test_the_ticket_s_hint_fits_its_edge(make_desk, size: tuple[int, int]) -> None:
    desk: Desk = make_desk()
    async with desk.app.run_test(size=size) as pilot:
        await desk.start(pilot)
        ticket = await open_buy_ticket(desk, pilot, "BTCUSDT.PAPER")
        await desk.settle(pilot)
        pane = desk.app.screen.query_one("#pane-ticket", Pane)
        room = pane._edge_room()
        assert room is not None
        said = []
        for field in ("t-quantity", "t-order_type", "t-limit_price", "t-tif"):
            ticket.query_one(f"#{field}").focus()
            await desk.settle(pilot)
            text = edge(desk)
            said.append(text)
            assert text, field
            assert "…" not in text, text
            assert cell_len(text) <= room, (text, room)
        assert any(t.startswith("Type: left/right") for t in said), said
        assert any(t.startswith("typing in Qty") for t in said), said
        await desk.session.close()
