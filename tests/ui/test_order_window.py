"""Finished orders beyond the window leave the Orders pane; a history that left memory
is read back from the journal when the trader opens it (docs/ui.md, Order history)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from textual.widgets import Static

from silvertine_tui.config import EngineConfig
from silvertine_tui.events import EventBase
from silvertine_tui.ui.screens.history import OrderHistoryScreen
from silvertine_tui.ui.widgets.blotter import Blotter

from .conftest import Desk, FakeClock, build_desk, make_settings, market_buy


def windowed_desk(clock: FakeClock, tmp_path: Path, orders: int, histories: int) -> Desk:
    settings = make_settings()
    settings.engine = EngineConfig(finished_orders_kept=orders, finished_histories_kept=histories)
    return build_desk(clock, tmp_path / "state.json", settings=settings)


def body_text(screen: OrderHistoryScreen) -> str:
    return str(screen.query_one("#history-events", Static).render())


async def test_evicted_orders_leave_the_pane_and_a_dropped_history_loads(
    clock: FakeClock, tmp_path: Path
) -> None:
    desk = windowed_desk(clock, tmp_path, orders=2, histories=0)
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 1)
        engine = desk.session.engine
        await pilot.press("3", "a")  # all of today's orders, drawn row by row from here
        await desk.settle(pilot)
        blotter = desk.app.screen.query_one(Blotter)
        for n in range(1, 5):
            await engine.submit(market_buy(f"st00000000000000040{n}", "ETHUSDT.PAPER", "0.1"))
            await desk.settle(pilot)
        # The two newest finished orders stay, and beside them the order of ETH's last
        # fill (404); the oldest left memory and the pane.
        assert blotter.row_keys == [
            "st000000000000000402",
            "st000000000000000403",
            "st000000000000000404",
        ]
        assert engine.oms.get("st000000000000000401") is None
        with_history = engine.oms.get("st000000000000000404")
        assert with_history is not None
        assert with_history.history_dropped

        blotter.move_cursor(row=2)
        await pilot.press("h")
        await pilot.pause()
        screen = desk.app.screen
        assert isinstance(screen, OrderHistoryScreen)
        assert screen.view.client_order_id == "st000000000000000404"
        for _ in range(50):
            if screen.events is not None:
                break
            await pilot.pause()
        assert screen.events is not None
        kinds = [e.type for e in screen.events]
        assert kinds[0] == "order.request"
        assert "fill" in kinds
        assert kinds[-1] == "order.update"
        assert {getattr(e.payload, "client_order_id", "") for e in screen.events} == {
            "st000000000000000404"
        }
        await pilot.press("escape")
        await desk.session.close()


async def test_the_history_says_loading_then_why_it_could_not(
    clock: FakeClock, tmp_path: Path
) -> None:
    desk = windowed_desk(clock, tmp_path, orders=10, histories=0)
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 1)
        engine = desk.session.engine
        await engine.submit(market_buy("st000000000000000501", "ETHUSDT.PAPER", "0.1"))
        await desk.settle(pilot)
        view = engine.oms.get("st000000000000000501")
        assert view is not None
        assert view.history_dropped
        release = asyncio.Event()

        async def slow_then_broken(progress: object) -> list[EventBase]:
            await release.wait()
            raise ConnectionError("Redis is unreachable")

        desk.app.push_screen(OrderHistoryScreen(view, None, slow_then_broken))
        await pilot.pause()
        screen = desk.app.screen
        assert isinstance(screen, OrderHistoryScreen)
        assert body_text(screen).startswith("loading the order's events from the journal")
        release.set()
        for _ in range(50):
            if "could not" in body_text(screen):
                break
            await pilot.pause()
        assert body_text(screen) == (
            "could not read this order's history from the journal "
            "(ConnectionError: Redis is unreachable); its state above is current"
        )
        await desk.session.close()
