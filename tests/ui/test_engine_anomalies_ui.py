"""An anomaly the engine finds reaches the trader: a toast and the health pane."""

from __future__ import annotations

from decimal import Decimal

from silvertine_tui.domain import Fill, Side
from silvertine_tui.events import FillEvent
from silvertine_tui.ui.widgets.health import HealthPane


async def test_a_fill_for_an_unknown_order_is_toasted_and_counted(make_desk) -> None:
    desk = make_desk()
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 1)
        await desk.quiet(pilot)
        await desk.session.bus.publish(
            FillEvent.create(
                "paper/main",
                Fill(
                    exec_id="ghost-1",
                    client_order_id="ghost",
                    broker="paper",
                    account="main",
                    instrument="BTCUSDT.PAPER",
                    side=Side.BUY,
                    quantity=Decimal("0.01"),
                    price=Decimal("65000"),
                ),
            )
        )
        await desk.settle(pilot)
        await desk.settle(pilot)
        toasts = [(n.title, n.severity) for n in desk.app._notifications]
        assert ("Engine: unknown order", "error") in toasts
        text = desk.app.screen.query_one(HealthPane).text.plain
        assert "engine DEGRADED  anomalies 1" in text
        assert "unknown order 1" in text
        assert "ghost" in text
        await desk.session.close()
