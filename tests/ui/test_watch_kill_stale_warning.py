"""A watching desk's kill switch while the desk driving a broker is not heard from
(STALE: its heartbeats stopped, it may be down): the kill dialog says so before the
answer, and the toast after it, naming the broker, how long, its working orders shown,
and that they are cancelled only when that desk comes back and reads the KILL.

Before, the dialog said "Cancel every working order on every broker" with no word of
it, and the toast "each desk that drives a broker cancels its working orders as it
reads the KILL": a dead desk reads nothing (the review's w33, w34).

The trading desk and the watching desk share one memory bus and the test clock; the
trading desk's heartbeats are published by hand (its health loop is off), so "killed"
is: no more of them (as tests/ui/test_watch_stale.py)."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path

from textual.pilot import Pilot
from textual.widgets import Static

from silvertine_tui.brokers.paper import PaperBroker
from silvertine_tui.bus import BusOptions, MemoryBus
from silvertine_tui.config import Settings
from silvertine_tui.domain import OrderRequest, OrderStatus, OrderType, Side, TradingState
from silvertine_tui.engine import Session
from silvertine_tui.engine.watch import WatchSession
from silvertine_tui.ui.app import SilvertineApp
from silvertine_tui.ui.screens.confirm import ConfirmScreen

from .conftest import Desk, FakeClock, make_settings
from .test_projection_rebuild import quiet_app

PREFIX = "t-watch-kill-stale"
RESTING = "st000000000000000101"
WARNING = (
    "paper/main (STALE for 6s; 1 working order shown) is not heard from: its desk may be "
    "down. Its orders are cancelled only when that desk comes back and reads the KILL (as "
    "it starts); until then they stay working at the venue."
)


def note(app: SilvertineApp) -> str:
    """The kill dialog's note as shown ("" when hidden)."""
    screen = app.screen
    assert isinstance(screen, ConfirmScreen)
    said = screen.query_one("#dialog-note", Static)
    return str(said.render()) if said.display else ""


async def until_shown(desk: Desk, pilot: Pilot[None], check: object) -> None:
    for _ in range(200):
        await desk.settle(pilot)
        if check():  # type: ignore[operator]
            return
        await asyncio.sleep(0.02)
    raise AssertionError("not shown")


async def test_the_kill_dialog_and_its_toast_name_a_driving_desk_not_heard_from(
    tmp_path: Path, clock: FakeClock
) -> None:
    bus = MemoryBus(BusOptions(prefix=PREFIX, block_ms=50), clock_ms=clock.ms)
    trading = Session(make_settings(), bus=bus, clock=clock.ns)
    await trading.start()
    broker = trading.brokers[0]
    assert isinstance(broker, PaperBroker)
    await broker.stop_health_loop()
    for _ in range(3):
        clock.advance(1.0)
        await broker.step()
    await trading.engine.submit(
        OrderRequest(
            client_order_id=RESTING,
            broker="paper",
            account="main",
            instrument="BTCUSDT.PAPER",
            side=Side.BUY,
            order_type=OrderType.LIMIT,
            quantity=Decimal("0.05"),
            limit_price=Decimal("63500.00"),
        )
    )
    await broker.publish_health()
    settings = Settings.model_validate({"bus": {"url": "memory://", "prefix": PREFIX}})
    watch = WatchSession(settings, bus=bus, clock=clock.ns, stale_after_s=5.0, stale_check_s=0.05)
    await watch.open()
    app = quiet_app(watch, clock, tmp_path / "watch.json")
    desk = Desk(app, watch, clock)
    try:
        async with app.run_test(size=(120, 36), notifications=True) as pilot:
            await asyncio.wait_for(app.ready.wait(), 10)
            await asyncio.wait_for(app.feed_ready.wait(), 10)
            view = watch.projection
            await until_shown(
                desk,
                pilot,
                lambda: (
                    RESTING in view.orders and view.orders[RESTING].order.status is OrderStatus.NEW
                ),
            )
            for _ in range(4):  # heartbeats a second apart: heard
                clock.advance(1.0)
                await broker.publish_health()
                await desk.settle(pilot)
            await asyncio.sleep(3.0)  # the watching desk's first look waits 2.5 s
            await desk.settle(pilot)
            assert view.silent == {}

            # Heard: the dialog says nothing more than it did.
            await pilot.press("ctrl+backslash")
            await desk.settle(pilot)
            assert note(app) == ""
            await pilot.press("escape")
            await desk.settle(pilot)

            # Killed: six seconds without a heartbeat, STALE.
            clock.advance(6.0)
            await until_shown(desk, pilot, lambda: "paper" in view.silent)
            app.clear_notifications()
            await pilot.press("ctrl+backslash")
            await desk.settle(pilot)
            assert note(app) == WARNING

            await pilot.press("y")
            await until_shown(desk, pilot, lambda: view.trading_state is TradingState.HALTED)
            await until_shown(
                desk,
                pilot,
                lambda: any(n.title.startswith("kill switch") for n in app._notifications),
            )
            [toast] = [n for n in app._notifications if n.title.startswith("kill switch")]
            assert toast.title == "kill switch: paper/main NOT HEARD FROM"
            assert toast.severity == "warning"
            # What is not heard first (the toast shows its first lines whole), then the
            # KILL's own words. (The trading desk here runs on, and cancels the order as
            # it reads the KILL: how many working orders the toast counts depends on
            # when it is read.)
            unheard, _, then = toast.message.partition(" at the venue. ")
            assert unheard.startswith("paper/main (STALE for 6s; ")
            assert f"{unheard} at the venue.".endswith(WARNING.partition("shown) ")[2])
            assert then.startswith("Trading HALTED on every desk on this bus: ")
            await pilot.press("q")
    finally:
        await watch.close()
        await trading.close()
