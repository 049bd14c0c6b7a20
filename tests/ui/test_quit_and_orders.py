"""Quitting with working orders asks; the Orders pane shows today's orders too; the
palette offers only Silvertine's themes; log lines and toasts read like a trader's."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from textual.command import CommandPalette
from textual.widgets import OptionList

from silvertine_tui.domain import OrderRequest, OrderStatus, OrderType, Side, TimeInForce
from silvertine_tui.ui.screens.history import OrderHistoryScreen
from silvertine_tui.ui.screens.quit import QuitScreen
from silvertine_tui.ui.widgets.blotter import Blotter
from silvertine_tui.ui.widgets.header import DeskHeader

from .conftest import Desk, sample_orders


def limit(coid: str, price: str, instrument: str = "ETHUSDT.PAPER") -> OrderRequest:
    return OrderRequest(
        client_order_id=coid,
        broker="paper",
        account="main",
        instrument=instrument,
        side=Side.BUY,
        order_type=OrderType.LIMIT,
        quantity=Decimal("0.5"),
        limit_price=Decimal(price),
    )


async def resting_orders(desk: Desk, pilot, n: int = 2) -> list[str]:
    engine = desk.session.engine
    await desk.step(pilot, 2)
    bid = desk.app.model.quotes["ETHUSDT.PAPER"].quote.bid
    assert bid is not None
    coids = []
    for k in range(n):
        coid = f"st{k + 900:018d}"
        price = (bid * Decimal("0.97")).quantize(Decimal("0.01"))
        await engine.submit(limit(coid, f"{price - k}"))
        coids.append(coid)
    await desk.settle(pilot)
    assert len(engine.oms.working()) == n
    return coids


async def test_quit_with_nothing_working_quits_at_once(make_desk) -> None:
    desk: Desk = make_desk()
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        await pilot.press("q")
        await pilot.pause()
        assert desk.app._exit
        assert not isinstance(desk.app.screen, QuitScreen)


async def test_quit_then_stay_keeps_the_app_and_the_orders(make_desk) -> None:
    desk: Desk = make_desk()
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        await resting_orders(desk, pilot)
        await pilot.press("q")
        await pilot.pause()
        assert isinstance(desk.app.screen, QuitScreen)
        await pilot.press("q")  # a second q never skips the question
        await pilot.pause()
        assert not desk.app._exit
        await pilot.press("escape")
        await desk.settle(pilot)
        assert not desk.app._exit
        assert not isinstance(desk.app.screen, QuitScreen)
        assert len(desk.session.engine.oms.working()) == 2
        await desk.session.close()


async def test_ctrl_c_then_leave_working_quits_without_cancelling(make_desk) -> None:
    desk: Desk = make_desk()
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        await resting_orders(desk, pilot)
        await pilot.press("ctrl+c")
        await pilot.pause()
        assert isinstance(desk.app.screen, QuitScreen)
        await pilot.press("l")
        await pilot.pause()
        assert desk.app._exit
        assert len(desk.session.engine.oms.working()) == 2
        cancels = [v for v in desk.session.engine.oms.orders.values() if v.order.status.is_terminal]
        assert cancels == []


async def test_quit_cancel_them_cancels_through_the_engine_then_quits(make_desk) -> None:
    desk: Desk = make_desk()
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        coids = await resting_orders(desk, pilot, 3)
        await pilot.press("q")
        await pilot.pause()
        dialog = desk.app.screen
        assert isinstance(dialog, QuitScreen)
        await pilot.press("C")  # Cancel & quit
        for _ in range(200):
            await pilot.pause(0.01)
            if desk.app._exit:
                break
        assert desk.app._exit
        assert dialog.outcome == "Every order is cancelled. Quitting."
        oms = desk.session.engine.oms
        assert [oms.orders[c].order.status for c in coids] == [OrderStatus.CANCELED] * 3


async def test_quit_cancel_that_fails_says_so_and_stays(make_desk) -> None:
    desk: Desk = make_desk()
    async with desk.app.run_test(size=(120, 36), notifications=True) as pilot:
        await desk.start(pilot)
        await resting_orders(desk, pilot)
        await desk.broker.drop_link("test: venue unreachable")
        await desk.settle(pilot)
        await pilot.press("q")
        await pilot.pause()
        dialog = desk.app.screen
        assert isinstance(dialog, QuitScreen)
        await pilot.press("C")  # Cancel & quit
        await desk.settle(pilot)
        await pilot.pause(0.05)
        assert not desk.app._exit
        assert not isinstance(desk.app.screen, QuitScreen)
        assert "2 still working" in dialog.outcome
        assert "paper/main" in dialog.outcome
        toasts = [n for n in desk.app._notifications if n.severity == "error"]
        assert any("still working" in n.message for n in toasts)
        assert len(desk.session.engine.oms.working()) == 2
        await desk.session.close()


async def test_orders_pane_toggles_working_and_todays_orders(make_desk) -> None:
    desk: Desk = make_desk()
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        engine = desk.session.engine
        # Yesterday: one order, cancelled. It is not today's.
        coids = await resting_orders(desk, pilot, 1)
        await engine.cancel(coids[0])
        await desk.settle(pilot)
        desk.clock.advance(24 * 3600)
        await desk.step(pilot, 1)
        # Today: a filled market order, a cancelled limit, a working limit.
        await engine.submit(
            OrderRequest(
                client_order_id="st000000000000000201",
                broker="paper",
                account="main",
                instrument="ETHUSDT.PAPER",
                side=Side.BUY,
                order_type=OrderType.MARKET,
                quantity=Decimal("0.3"),
                tif=TimeInForce.IOC,
            )
        )
        bid = desk.app.model.quotes["ETHUSDT.PAPER"].quote.bid
        assert bid is not None
        low = (bid * Decimal("0.97")).quantize(Decimal("0.01"))
        await engine.submit(limit("st000000000000000202", f"{low}"))
        await engine.submit(limit("st000000000000000203", f"{low - 1}"))
        await desk.settle(pilot)
        await engine.cancel("st000000000000000202")
        await desk.step(pilot, 1)

        await pilot.press("3")
        blotter = desk.app.screen.query_one(Blotter)
        pane = desk.app.screen.query_one("#pane-blotter")
        assert blotter.row_keys == ["st000000000000000203"]
        assert pane.border_subtitle == "1 working of 3 today (a: all)"

        await pilot.press("a")
        await desk.settle(pilot)
        assert blotter.row_keys == [
            "st000000000000000201",
            "st000000000000000202",
            "st000000000000000203",
        ]
        assert pane.border_subtitle == "all today: 3, 1 working (a: working)"
        filled = engine.oms.orders["st000000000000000201"].order
        assert filled.avg_price is not None
        assert blotter.get_cell("st000000000000000201", "status").plain == "FILLED"
        assert blotter.get_cell("st000000000000000201", "filled").plain == "0.3"
        # One decimal finer than the tick where the average falls between ticks.
        avg = f"{filled.avg_price.quantize(Decimal('0.001')):,.3f}"
        avg = avg[:-1] if avg.endswith("0") else avg
        assert blotter.get_cell("st000000000000000201", "avg").plain == avg
        # A done order's history opens from the day's view.
        blotter.move_cursor(row=1)
        await pilot.press("h")
        await pilot.pause()
        screen = desk.app.screen
        assert isinstance(screen, OrderHistoryScreen)
        assert screen.view.client_order_id == "st000000000000000202"
        await pilot.press("escape")
        await pilot.press("a")
        await desk.settle(pilot)
        assert blotter.row_keys == ["st000000000000000203"]
        await desk.session.close()


async def journaled(desk: Desk, kind: str) -> int:
    """How many events of `kind` the paper account's journal holds."""
    bus = desk.session.bus
    entries = await bus.read_last(bus.layout.exec("paper", "main"), 10_000)
    return sum(1 for entry in entries if getattr(entry.event, "type", "") == kind)


async def test_a_finished_order_offers_no_cancel_or_modify(make_desk) -> None:
    """In the All-orders view `c` and `m` on a FILLED or CANCELED order say so, open no
    dialog and send nothing: no cancel request is journaled for a filled order."""
    desk: Desk = make_desk()
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 2)
        await sample_orders(desk)  # a resting BTC buy (…0101), a filled ETH buy (…0102)
        await desk.settle(pilot)
        engine = desk.session.engine
        await engine.cancel("st000000000000000101")
        await desk.step(pilot, 1)
        statuses = {k: v.order.status for k, v in engine.oms.orders.items()}
        assert statuses == {
            "st000000000000000101": OrderStatus.CANCELED,
            "st000000000000000102": OrderStatus.FILLED,
        }
        cancels = await journaled(desk, "order.cancel")
        await pilot.press("3", "a")
        await desk.settle(pilot)
        blotter = desk.app.screen.query_one(Blotter)
        assert blotter.row_keys == ["st000000000000000101", "st000000000000000102"]
        desk.app.clear_notifications()
        for row, coid, status in ((1, "000000102", "FILLED"), (0, "000000101", "CANCELED")):
            blotter.move_cursor(row=row)
            await pilot.press("c")
            await desk.settle(pilot)
            await pilot.press("m")
            await desk.settle(pilot)
            assert desk.app.screen.id == "main"  # no modify dialog
            short = coid[-8:]
            assert [(n.title, n.message) for n in desk.app._notifications] == [
                ("Cancel refused", f"order {short} is {status}: nothing to cancel"),
                ("Modify refused", f"order {short} is {status}: nothing to modify"),
            ]
            desk.app.clear_notifications()
        assert await journaled(desk, "order.cancel") == cancels
        assert await journaled(desk, "order.modify") == 0
        assert {k: v.order.status for k, v in engine.oms.orders.items()} == statuses
        await desk.session.close()


async def palette_offers(desk: Desk, pilot: Any, query: str) -> list[str]:
    """What the command palette offers for `query`; closed again after."""
    await pilot.press("ctrl+p")
    await pilot.pause()
    palette = desk.app.screen
    assert isinstance(palette, CommandPalette)
    await pilot.press(*query)
    for _ in range(20):
        await pilot.pause(0.05)
    options = palette.query_one(OptionList)
    offered = [str(options.get_option_at_index(i).prompt) for i in range(options.option_count)]
    await pilot.press("escape")
    await pilot.pause()
    return offered


async def test_the_palette_offers_no_theme_but_silvertines(make_desk) -> None:
    desk: Desk = make_desk()
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        loaded = set(desk.app.theme_names())
        for query in ("theme", "dracula"):
            offered = await palette_offers(desk, pilot, query)
            for text in offered:
                assert "Change the current theme" not in text
                assert "dracula" not in text.lower()
                if text.startswith("theme "):
                    assert text.split()[1] in loaded, text
            if query == "theme":
                assert any(text.startswith("theme silvertine-dark") for text in offered)
        await desk.session.close()


async def test_log_and_fill_lines_say_what_happened_on_the_tick(make_desk) -> None:
    import re

    desk: Desk = make_desk()
    async with desk.app.run_test(size=(120, 36), notifications=True) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 2)
        await sample_orders(desk)
        await desk.step(pilot, 2)
        model = desk.app.model
        fills = [line.text for line in model.fills]
        assert len(fills) == 1
        # ETHUSDT.PAPER: tick 0.01, lot 0.0001; the fee is in USDT (the quote), as
        # charged: on the tick's places at least, never rounded onto them.
        found = re.fullmatch(
            r"FILL BUY 1\.5 ETHUSDT\.PAPER @ \d,\d{3}\.\d{2} fee (\d+\.\d{2,}) USDT \(…0102\)",
            fills[0],
        )
        assert found, fills[0]
        [bought] = [
            v for v in desk.session.engine.oms.orders.values() if v.client_order_id.endswith("0102")
        ]
        assert Decimal(found[1]) == bought.order.fees["USDT"]
        updates = [line.text for line in model.log if line.kind == "order.update"]
        assert "NEW BUY 0.05 BTCUSDT.PAPER @ 63,500.00 (…0101)" in updates, updates
        header = str(desk.app.screen.query_one(DeskHeader).render())
        assert re.search(r"  FILL BUY 1\.5 ETHUSDT\.PAPER @ \d,\d{3}\.\d{2}  ", header), header
        await desk.session.close()


async def test_a_textual_theme_set_anyway_is_not_remembered(make_desk) -> None:
    """Only Silvertine's themes carry the trading colours: another one (set by code or
    an old state file) is never written to the state file as the trader's choice."""
    desk: Desk = make_desk()
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        await pilot.press("f6")  # a Silvertine theme: remembered
        await desk.settle(pilot)
        chosen = desk.app.theme
        assert desk.app.user_state.data.theme == chosen
        desk.app.theme = "dracula"
        await desk.settle(pilot)
        assert desk.app.user_state.data.theme == chosen
        await desk.session.close()


async def test_at_80x24_the_pane_bar_says_which_orders_are_shown(make_desk) -> None:
    from silvertine_tui.ui.screens.main import PaneTab

    desk: Desk = make_desk()
    async with desk.app.run_test(size=(80, 24)) as pilot:
        await desk.start(pilot)
        await pilot.press("3")
        await desk.settle(pilot)  # the Orders pane has the focus: `a` is its key
        await pilot.press("a")
        await desk.settle(pilot)
        tab = desk.app.screen.query_one("#tab-blotter", PaneTab)
        assert str(tab.content) == "3 All orders"
        last = desk.app.screen.query_one("#tab-signals", PaneTab)
        assert last.region.right <= 80, "the pane bar runs off the screen"
        await pilot.press("a")
        await desk.settle(pilot)
        assert str(tab.content) == "3 Orders"
        await desk.session.close()


async def test_the_quit_dialog_keys_follow_the_keymap_and_say_so(make_desk) -> None:
    """`ui.keymap` remaps the quit dialog's keys too, and the dialog names the keys that
    work: a trader who moved "leave & quit" off `l` is never told to press `l`."""
    from textual.widgets import Button, Static

    from .conftest import make_settings

    desk: Desk = make_desk(settings=make_settings(keymap={"quit.leave": "ctrl+l"}))
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        await resting_orders(desk, pilot)
        await pilot.press("q")
        await pilot.pause()
        dialog = desk.app.screen
        assert isinstance(dialog, QuitScreen)
        body = str(dialog.query_one("#dialog-body", Static).render())
        # (The paper desk on the memory bus: its orders end with the desk.)
        assert "ctrl+l: quit: the orders end with the desk." in body
        assert "\nl:" not in body
        assert "C (shift+c): cancel them all and quit once they are done." in body
        labels = [str(b.label) for b in dialog.query(Button)]
        assert labels == ["Cancel & quit (C)", "Quit (ctrl+l)", "Stay (esc)"]
        await pilot.press("l")  # no longer the key
        await pilot.pause()
        assert desk.app.screen is dialog
        assert not desk.app._exit
        await pilot.press("ctrl+l")
        await pilot.pause()
        assert desk.app._exit
        assert len(desk.session.engine.oms.working()) == 2


async def test_the_palette_offers_no_maximize_or_keys_panel(make_desk) -> None:
    """Textual's Maximize laid the Orders pane over the header (PAPER/LIVE and the
    trading state gone) and its Keys panel covered the KILL key: the desk's own `z`
    and F1 do both. Typed into the palette, neither is offered; nor is Minimize."""
    desk: Desk = make_desk()
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        await pilot.press("3")  # the Orders pane focused: Textual would offer Maximize
        await pilot.pause()
        for query in ("maxi", "keys", "mini"):
            for text in await palette_offers(desk, pilot, query):
                assert "Maximize" not in text, text
                assert "Minimize" not in text, text
                assert "help panel" not in text, text
                assert "summary of available keys" not in text, text
        assert not desk.app.screen.query("HelpPanel")
        assert desk.app.screen.maximized is None
        await desk.session.close()
