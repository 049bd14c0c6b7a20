"""An order's history after the journal's first events were trimmed (its request and
NEW gone, its fill and its end left): the screen shows what is left, with a line
saying its first events were trimmed by the journal's retention. It said "the
journal holds no events for order X any more" (evicted from memory), or showed the
fills with nothing said of what went before them (its history dropped)."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Static

from silvertine_tui.config import EngineConfig
from silvertine_tui.ui.screens.history import OrderHistoryScreen

from .conftest import Desk, FakeClock, build_desk, make_settings, market_buy


def windowed_desk(clock: FakeClock, tmp_path: Path, orders: int, histories: int) -> Desk:
    settings = make_settings()
    settings.engine = EngineConfig(finished_orders_kept=orders, finished_histories_kept=histories)
    return build_desk(clock, tmp_path / "state.json", settings=settings)


async def trim_before_fill_of(desk: Desk, coid: str) -> None:
    """Trim the paper journal (as an operator's XTRIM would) up to the order's first
    fill: its request and its first reports go, its fill and its end stay."""
    bus = desk.session.bus
    stream = bus.layout.exec("paper", "main")
    entries = await bus.read(stream)
    first_fill = next(
        i
        for i, e in enumerate(entries)
        if e.event.type == "fill" and e.event.payload.client_order_id == coid  # type: ignore[union-attr]
    )
    await bus.trim(stream, len(entries) - first_fill)
    assert (await bus.read(stream))[0].id == entries[first_fill].id


async def history_screen(desk: Desk, pilot: object) -> OrderHistoryScreen:
    for _ in range(100):
        screen = desk.app.screen
        if isinstance(screen, OrderHistoryScreen) and screen.events is not None:
            return screen
        await pilot.pause()  # type: ignore[attr-defined]
    raise AssertionError(f"no order history on screen: {desk.app.screen}")


def trimmed_line(screen: OrderHistoryScreen) -> Static:
    return screen.query_one("#history-trimmed", Static)


async def test_an_evicted_orders_history_whose_request_was_trimmed_shows_what_is_left(
    clock: FakeClock, tmp_path: Path
) -> None:
    desk = windowed_desk(clock, tmp_path, orders=1, histories=0)
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 1)
        engine = desk.session.engine
        for n in range(1, 4):
            await engine.submit(market_buy(f"st00000000000000060{n}", "ETHUSDT.PAPER", "0.1"))
            await desk.settle(pilot)
        evicted = "st000000000000000601"
        assert engine.oms.get(evicted) is None
        assert desk.app.knows_order(evicted)
        await trim_before_fill_of(desk, evicted)

        desk.app.open_order_history(evicted)
        screen = await history_screen(desk, pilot)
        assert screen.view.client_order_id == evicted
        assert str(screen.view.order.status) == "FILLED"
        assert screen.events is not None
        kinds = [e.type for e in screen.events]
        assert kinds[0] == "fill"
        assert "order.request" not in kinds
        assert kinds[-1] == "order.update"
        assert trimmed_line(screen).display
        said = str(trimmed_line(screen).render())
        assert "first events" in said
        assert "trimmed from the journal by its retention" in said
        # Its terms went with its request: the title says only what is left.
        title = str(screen.query_one("#dialog-title", Static).render())
        assert title.startswith(f"Order history - {evicted}  BUY ETHUSDT.PAPER  FILLED")
        assert "MARKET" not in title
        await pilot.press("escape")
        await desk.session.close()


async def test_a_dropped_history_whose_first_events_were_trimmed_says_so(
    clock: FakeClock, tmp_path: Path
) -> None:
    """The order is in memory (its terms known), its history read back from the
    journal: its fill and its end are shown under the line saying the first events
    were trimmed; an order whose events are whole has no such line."""
    desk = windowed_desk(clock, tmp_path, orders=3, histories=0)
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 1)
        engine = desk.session.engine
        for n in range(1, 3):
            await engine.submit(market_buy(f"st00000000000000070{n}", "ETHUSDT.PAPER", "0.1"))
            await desk.settle(pilot)
        whole, trimmed = "st000000000000000702", "st000000000000000701"
        for coid in (whole, trimmed):
            view = engine.oms.get(coid)
            assert view is not None
            assert view.history_dropped

        desk.app.open_order_history(whole)
        screen = await history_screen(desk, pilot)
        assert screen.events is not None
        assert screen.events[0].type == "order.request"
        assert not trimmed_line(screen).display
        await pilot.press("escape")
        await pilot.pause()

        await trim_before_fill_of(desk, trimmed)
        desk.app.open_order_history(trimmed)
        screen = await history_screen(desk, pilot)
        assert screen.events is not None
        assert screen.events[0].type == "fill"
        assert trimmed_line(screen).display
        # The order's terms are the ones it has in memory.
        title = str(screen.query_one("#dialog-title", Static).render())
        assert "ETHUSDT.PAPER MARKET" in title
        await pilot.press("escape")
        await desk.session.close()
