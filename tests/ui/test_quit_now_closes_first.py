"""A quit without the dialog (SIGHUP, SIGTERM, the terminal gone: `SilvertineApp.
quit_now`) closes the session first, while the app still runs: before the app's own
shutdown, which writes to the terminal (a hung-up terminal once blocked it for ever,
and the CLI's close after the app never came: orders stayed working). Meanwhile the
trader's keys are dropped (nothing new is asked of a session that is cancelling
everything), and a second call (SIGHUP, then the failed writes) closes nothing twice.

The session here is opened before the app, as the CLI opens it on Redis
(`cli._run_opened`): it is not the app's. Before, `quit_now` then only exited the app
and left the close to the CLI, after the app's shutdown."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from silvertine_tui.config import Settings
from silvertine_tui.domain import OrderStatus
from silvertine_tui.ui.screens.help import HelpScreen

from .conftest import Desk, FakeClock, build_desk, make_settings
from .test_quit_and_orders import resting_orders
from .test_quit_leave import wait_exit


async def opened_desk(clock: FakeClock, tmp_path: Path, **paper: Any) -> Desk:
    settings = Settings(
        brokers=make_settings(paper=paper or None).brokers, engine={"cancel_on_exit": True}
    )
    desk = build_desk(clock, tmp_path / "state.json", settings=settings)
    await desk.session.open()  # as the CLI does (a bus to reach): not the app's session
    return desk


def statuses(desk: Desk, coids: list[str]) -> list[OrderStatus]:
    orders = desk.session.engine.oms.orders
    return [orders[c].order.status for c in coids]


async def test_quit_now_closes_the_session_before_the_app_exits(
    clock: FakeClock, tmp_path: Path
) -> None:
    desk = await opened_desk(clock, tmp_path)
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        assert not desk.app.owns_session
        coids = await resting_orders(desk, pilot, 2)
        await desk.app.quit_now("SIGHUP")
        # Closed, and cancel_on_exit applied, by the time quit_now returns (it has only
        # asked the app to exit): not left to the CLI after the app's shutdown.
        assert not desk.session.started
        assert statuses(desk, coids) == [OrderStatus.CANCELED] * 2
        again = asyncio.create_task(desk.app.quit_now("the terminal is gone (EIO)"))
        await asyncio.wait_for(again, 5)  # the first one's, done: nothing closed twice
        await wait_exit(desk, pilot)
    assert desk.session.left_working == ""


async def test_keys_pressed_while_it_closes_are_dropped(clock: FakeClock, tmp_path: Path) -> None:
    # Cancels take 300 ms at the venue: the close is under way for that long.
    latency = {"ack_ms": 0, "fill_ms": 0, "cancel_ms": 300, "jitter_ms": 0}
    desk = await opened_desk(clock, tmp_path, latency=latency)
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        coids = await resting_orders(desk, pilot, 2)
        quitting = asyncio.create_task(desk.app.quit_now("SIGTERM"))
        for _ in range(200):
            await asyncio.sleep(0.005)
            if not desk.session.ready:  # the close has begun: the cancels are out
                break
        assert not desk.session.ready
        assert statuses(desk, coids) != [OrderStatus.CANCELED] * 2  # not acked yet
        await pilot.press("f1")  # help: any key the desk answers
        await pilot.pause()
        assert not isinstance(desk.app.screen, HelpScreen)
        await asyncio.wait_for(quitting, 10)
        assert statuses(desk, coids) == [OrderStatus.CANCELED] * 2
        await wait_exit(desk, pilot)
