"""The command palette finds an order by the id the desk shows: the Orders pane's Id
(`tdnfmtnx`), the ticket's `sent tdnfmtnx:`, the Log's `(…mtnx)`, as well as the whole
id; for a working order, a finished one, and one that left memory (its history read
back from the journal). A trader's review: only the whole id, which the desk never
shows, was found, and the id shown gave `No matches found`, for a working order too."""

from __future__ import annotations

from pathlib import Path

from textual.command import CommandPalette
from textual.pilot import Pilot
from textual.widgets import OptionList

from silvertine_tui.config import EngineConfig
from silvertine_tui.events.summary import short_ref
from silvertine_tui.ui.screens.history import OrderHistoryScreen
from silvertine_tui.ui.widgets.blotter import Blotter

from .conftest import Desk, FakeClock, build_desk, limit_buy, make_settings, market_buy


def windowed_desk(clock: FakeClock, tmp_path: Path) -> Desk:
    """One finished order stays in memory (besides the holder of ETH's last fill)."""
    settings = make_settings()
    settings.engine = EngineConfig(finished_orders_kept=1, finished_histories_kept=0)
    return build_desk(clock, tmp_path / "state.json", settings=settings)


def offered(palette: CommandPalette) -> list[str]:
    options = palette.query_one(OptionList)
    return [str(options.get_option_at_index(i).prompt) for i in range(options.option_count)]


async def search(desk: Desk, pilot: Pilot[None], text: str, first: str) -> list[str]:
    """Type `text` into the palette; the options once the first starts with `first`
    (the palette gathers its hits in a worker)."""
    await pilot.press("ctrl+p")
    await pilot.pause()
    palette = desk.app.screen
    assert isinstance(palette, CommandPalette)
    await pilot.press(*text)
    for _ in range(200):
        await pilot.pause(0.01)
        shown = offered(palette)
        if shown and shown[0].startswith(first):
            return shown
    return offered(palette)


async def opened_history(desk: Desk, pilot: Pilot[None]) -> OrderHistoryScreen:
    await pilot.press("enter")
    for _ in range(100):
        await pilot.pause()
        screen = desk.app.screen
        if isinstance(screen, OrderHistoryScreen) and screen.events is not None:
            return screen
    screen = desk.app.screen
    assert isinstance(screen, OrderHistoryScreen)
    return screen


async def test_a_working_order_is_found_by_the_id_the_orders_pane_shows(
    clock: FakeClock, tmp_path: Path
) -> None:
    desk = windowed_desk(clock, tmp_path)
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 1)
        coid = "st0000000000tdnfmtnx"
        await desk.session.engine.submit(limit_buy(coid, "BTCUSDT.PAPER", "0.01", "63500.00"))
        await desk.settle(pilot)
        shown_id = desk.app.screen.query_one(Blotter).get_cell(coid, "id").plain
        assert shown_id == "tdnfmtnx"
        options = await search(desk, pilot, shown_id, "order history")
        assert options[0] == (
            f"order history {coid}\nBUY 0.01 BTCUSDT.PAPER LIMIT NEW; every event of this order"
        )
        screen = await opened_history(desk, pilot)
        assert screen.view.client_order_id == coid
        await pilot.press("escape")
        await desk.session.close()


async def test_an_order_that_left_memory_is_found_by_the_logs_short_id(
    clock: FakeClock, tmp_path: Path
) -> None:
    desk = windowed_desk(clock, tmp_path)
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 1)
        engine = desk.session.engine
        for n in range(1, 4):
            await engine.submit(market_buy(f"st00000000000000060{n}", "ETHUSDT.PAPER", "0.1"))
            await desk.settle(pilot)
        evicted = "st000000000000000601"
        assert desk.session.projection.order(evicted) is None  # left memory
        # As the Log's line names it, pasted whole: `(…0601)`.
        options = await search(desk, pilot, short_ref(evicted), "order history")
        assert options[0] == (
            f"order history {evicted}\n"
            "left memory: read back from the journal; every event of this order"
        )
        screen = await opened_history(desk, pilot)
        assert screen.view.client_order_id == evicted
        assert str(screen.view.order.status) == "FILLED"
        assert screen.events is not None
        assert "fill" in [e.type for e in screen.events]
        await pilot.press("escape")
        await desk.session.close()


async def test_a_short_id_several_orders_end_in_lists_them_all(
    clock: FakeClock, tmp_path: Path
) -> None:
    desk = windowed_desk(clock, tmp_path)
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 1)
        engine = desk.session.engine
        first, second = "st000000000000010777", "st000000000000020777"
        await engine.submit(market_buy(first, "ETHUSDT.PAPER", "0.1"))
        await desk.settle(pilot)
        for n in range(1, 3):  # the first leaves memory
            await engine.submit(market_buy(f"st00000000000000080{n}", "ETHUSDT.PAPER", "0.1"))
            await desk.settle(pilot)
        await engine.submit(limit_buy(second, "BTCUSDT.PAPER", "0.01", "63500.00"))
        await desk.settle(pilot)
        assert desk.session.projection.order(first) is None
        options = await search(desk, pilot, "0777", "order history")
        assert options[:2] == [
            f"order history {second}\n1 of 2 orders whose id ends in 0777: "
            "BUY 0.01 BTCUSDT.PAPER LIMIT NEW; every event of this order",
            f"order history {first}\n2 of 2 orders whose id ends in 0777: "
            "left memory: read back from the journal; every event of this order",
        ]
        await pilot.press("down", "enter")  # the second listed: the one that left memory
        for _ in range(100):
            await pilot.pause()
            if isinstance(desk.app.screen, OrderHistoryScreen):
                break
        screen = desk.app.screen
        assert isinstance(screen, OrderHistoryScreen)
        assert screen.view.client_order_id == first
        await pilot.press("escape")
        await desk.session.close()


async def test_an_id_end_no_order_has_is_said(clock: FakeClock, tmp_path: Path) -> None:
    desk = windowed_desk(clock, tmp_path)
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 1)
        await desk.session.engine.submit(market_buy("st000000000000000901", "ETHUSDT.PAPER", "1"))
        await desk.settle(pilot)
        options = await search(desk, pilot, "zq9x", "nothing matches")
        assert options == [
            "nothing matches: no command, and no order's id ends in what is typed\n"
            "an order's id ends as the Orders pane's Id column, `sent ...:` beside Send and "
            "the Log's (…abcd) show it; type or paste that end, or the whole id"
        ]
        await pilot.press("enter")
        await pilot.pause()
        said = [n.message for n in desk.app._notifications]
        assert said[-1].startswith("no order's id ends in zq9x: an order's id ends as")
        await desk.session.close()
