"""A watching desk's panes after it rebuilds from a desk's write-back show that desk.

A trader's review (1 run in 5): Redis lost the journal under a running paper desk, the
desk wrote back what it holds, and the watching desk said so ("Watching: written back
... shows its positions, realized P&L, orders and balances as that desk does"); its
Balances pane had its header and no rows, and Orders read `0 working of 0 today`,
until the next balance event. The rebuild empties the projection the UI holds and
fills it again: a frame drawn while it was empty took the change set that said
"redraw everything", and the snapshot loaded after it (which lists no rows) named
nothing more, so those panes were never drawn again.

Here a screen takes the change set at every turn of the loop, as a frame may (the
UI's rule, `DeskProjection.take`: redraw every row on `everything`, else the rows
named, and the positions of the instruments whose marks moved), while the watching
desk finds the loss, waits and takes the desk's write-back. What it draws must be
what the projection holds, and what the desk shows.
"""

from __future__ import annotations

import asyncio
import contextlib
from decimal import Decimal
from pathlib import Path

import pytest

from silvertine_tui.domain import OrderStatus
from silvertine_tui.engine.projection import DeskProjection, Key
from silvertine_tui.engine.recovery import StartPhase
from silvertine_tui.engine.session import RESEEDED_ALERT
from silvertine_tui.ui.app import SilvertineApp
from silvertine_tui.ui.widgets.balances import Balances
from silvertine_tui.ui.widgets.blotter import Blotter
from silvertine_tui.ui.widgets.startup import StartupBanner
from tests.support.redis_server import RedisServer
from tests.ui.conftest import FakeClock
from tests.ui.test_projection_rebuild import quiet_app

from .test_watch_after_loss import (
    WAITING,
    WRITTEN_BACK,
    Gate,
    said,
    titles,
    traded,
    until,
    waits,
    watcher,
)

pytestmark = pytest.mark.redis

BalanceKey = tuple[str, str, str]


class Screen:
    """The rows a screen draws from a projection, by its change sets alone."""

    def __init__(self, view: DeskProjection) -> None:
        self.view = view
        self.orders: dict[str, tuple[OrderStatus, Decimal]] = {}
        self.positions: dict[Key, tuple[Decimal, Decimal | None]] = {}
        self.balances: dict[BalanceKey, tuple[Decimal, Decimal, Decimal]] = {}
        self.frames = 0

    def frame(self) -> None:
        """One frame: every row on `everything`, else the rows the change set names
        (and the positions of the instruments whose marks moved)."""
        view = self.view
        changes = view.take()
        self.frames += 1
        orders: list[str]
        positions: list[Key]
        balances: list[BalanceKey]
        if changes.everything:
            self.orders.clear()
            self.positions.clear()
            self.balances.clear()
            orders, positions = list(view.orders), list(view.positions)
            balances = list(view.balances)
        else:
            orders = list(changes.orders)
            moved = changes.marks
            positions = [*changes.positions, *(k for k in view.positions if k[2] in moved)]
            balances = list(changes.balances)
        for cid in orders:
            found = view.order(cid)
            if found is None:
                self.orders.pop(cid, None)
            else:
                self.orders[cid] = (found.order.status, found.order.filled_qty)
        for key in positions:
            state = view.positions.get(key)
            if state is None:
                self.positions.pop(key, None)
            else:
                self.positions[key] = (state.quantity, state.avg_price)
        for bkey in balances:
            balance = view.balances.get(bkey)
            if balance is None:
                self.balances.pop(bkey, None)
            else:
                self.balances[bkey] = (balance.total, balance.available, balance.locked)

    def holds(self) -> dict[str, object]:
        """What the projection holds, as this screen draws it."""
        view = self.view
        return {
            "orders": {cid: (v.order.status, v.order.filled_qty) for cid, v in view.orders.items()},
            "positions": {k: (p.quantity, p.avg_price) for k, p in view.positions.items()},
            "balances": {k: (b.total, b.available, b.locked) for k, b in view.balances.items()},
        }

    def drawn(self) -> dict[str, object]:
        return {"orders": self.orders, "positions": self.positions, "balances": self.balances}


async def every_turn(screen: Screen) -> None:
    """A frame at every turn of the loop: whatever the rebuild awaits, a frame may run
    while it waits."""
    while True:
        screen.frame()
        await asyncio.sleep(0)


async def test_the_panes_show_the_desks_write_back_whenever_a_frame_runs(
    key_prefix: str,
) -> None:
    with RedisServer() as server:
        async with Gate(server.host, server.port) as gate:
            desk = await traded(gate.url, key_prefix)
            watch = watcher(server.url, key_prefix)
            frames: asyncio.Task[None] | None = None
            try:
                await watch.start()
                view = watch.projection
                screen = Screen(view)
                screen.frame()
                await until(lambda: screen.holds() == Screen(desk.projection).holds())
                screen.frame()
                assert screen.drawn() == screen.holds()
                assert screen.balances
                assert screen.orders

                gate.shut()  # the desk hears nothing of what follows
                await server.akill()
                await server.arestart()  # empty
                await until(lambda: watch.rebuilds >= 1 and waits(watch))

                frames = asyncio.create_task(every_turn(screen))
                gate.open()
                await until(lambda: RESEEDED_ALERT in titles(desk))
                await until(lambda: bool(said(watch, WRITTEN_BACK)))
                await until(lambda: watch.progress.phase == StartPhase.READY)
                frames.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await frames
                frames = None
                assert screen.frames > 100  # frames ran all through the rebuild
                screen.frame()

                # The rebuilt desk is the desk's: its balances and its resting buy.
                holds = screen.holds()
                assert holds == Screen(desk.projection).holds()
                assert holds["balances"]
                assert holds["orders"]
                # And the screen draws it: no pane left with its header alone.
                assert screen.drawn()["balances"] == holds["balances"]
                assert screen.drawn()["orders"] == holds["orders"]
                assert screen.drawn() == holds
            finally:
                if frames is not None:
                    frames.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await frames
                await watch.close()
                await desk.close()


async def app_frames(app: SilvertineApp) -> int:
    """The watching desk's own frames (`SilvertineApp.frame`) at every turn of the loop."""
    count = 0
    while True:
        app.frame()
        count += 1
        await asyncio.sleep(0)


def balance_rows(app: SilvertineApp) -> list[str]:
    return sorted(app.screen.query_one(Balances)._cells)


def order_rows(app: SilvertineApp) -> list[str]:
    return sorted(app.screen.query_one(Blotter)._cells)


def rebuild_banner(app: SilvertineApp) -> StartupBanner | None:
    found = app.screen.query("#rebuild")
    return found.first(StartupBanner) if found else None


def orders_title(app: SilvertineApp) -> str:
    return str(app.screen.query_one("#pane-blotter").border_subtitle)


async def test_the_watching_screen_draws_the_balances_written_back(
    key_prefix: str, tmp_path: Path
) -> None:
    """The same drill on the watching desk's own screen: once it says "written back",
    its Balances pane has the desk's rows (not its header alone) and its Orders pane
    the resting buy (not `0 working of 0 today`)."""
    with RedisServer() as server:
        async with Gate(server.host, server.port) as gate:
            desk = await traded(gate.url, key_prefix)
            watch = watcher(server.url, key_prefix)
            frames: asyncio.Task[int] | None = None
            try:
                await watch.open()
                app = quiet_app(watch, FakeClock(), tmp_path / "watch.json")
                async with app.run_test(size=(140, 40)):
                    await asyncio.wait_for(app.ready.wait(), 10)
                    view = watch.projection
                    want_balances = sorted("/".join(key) for key in desk.projection.balances)
                    frames = asyncio.create_task(app_frames(app))
                    await until(lambda: len(balance_rows(app)) == len(want_balances))
                    await until(lambda: len(order_rows(app)) == 1)

                    gate.shut()
                    await server.akill()
                    await server.arestart()  # empty
                    await until(lambda: watch.rebuilds >= 1 and waits(watch))
                    gate.open()
                    # (the app takes the session's alerts as toasts)
                    await until(lambda: WRITTEN_BACK in [n.title for n in app._notifications])
                    await until(lambda: watch.progress.phase == StartPhase.READY)
                    assert sorted("/".join(k) for k in view.balances) == want_balances
                    working = [v.client_order_id for v in view.working()]
                    assert len(working) == 1
                    # A few more frames: nothing is left for them to bring.
                    for _ in range(20):
                        await asyncio.sleep(0)
                    assert len(balance_rows(app)) == len(want_balances), balance_rows(app)
                    assert order_rows(app) == working
                    assert orders_title(app).startswith("1 working"), orders_title(app)
            finally:
                if frames is not None:
                    frames.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await frames
                await watch.close()
                await desk.close()


async def test_the_rebuild_banner_of_a_watching_desk_says_what_the_wait_means(
    key_prefix: str, tmp_path: Path
) -> None:
    """While it waits for the desk's write-back, the watching desk's banner said
    "orders are refused until recovery and reconcile are done": it sends no order at
    all. It says what the wait means for what it shows."""
    with RedisServer() as server:
        async with Gate(server.host, server.port) as gate:
            desk = await traded(gate.url, key_prefix)
            watch = watcher(server.url, key_prefix)
            frames: asyncio.Task[int] | None = None
            try:
                await watch.open()
                app = quiet_app(watch, FakeClock(), tmp_path / "watch.json")
                async with app.run_test(size=(140, 40)):
                    await asyncio.wait_for(app.ready.wait(), 10)
                    frames = asyncio.create_task(app_frames(app))
                    gate.shut()
                    await server.akill()
                    await server.arestart()  # empty
                    await until(lambda: watch.rebuilds >= 1 and waits(watch))
                    await until(lambda: rebuild_banner(app) is not None)
                    banner = rebuild_banner(app)
                    assert banner is not None
                    await until(lambda: WAITING in banner.shown[-1])
                    words = banner.shown[-1]
                    assert "orders are refused" not in words
                    assert words.endswith(
                        "until then what this desk shows of it may be short: marked JOURNAL LOST"
                    ), words
                    # Nor while it rebuilt, before: what it shows is not whole until then.
                    for said_before in banner.shown:
                        assert "orders are refused" not in said_before
                        if WAITING not in said_before:
                            assert said_before.endswith(
                                "what this watching desk shows may be short until the "
                                "rebuild is done"
                            ), said_before
            finally:
                gate.open()
                if frames is not None:
                    frames.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await frames
                await watch.close()
                await desk.close()
