"""What the quit dialog says is what happens, with `engine.cancel_on_exit: true` too:
"Leave & quit" leaves the working orders at the venue (the trader's explicit choice
beats the config's default; before, the session's close cancelled them anyway). A quit
without the dialog (a signal: `SilvertineApp.quit_now`) closes as the config says. A
cancel on exit that leaves orders working is said (an ERROR log line, and the CLI's
stderr line and exit code once the UI is gone), never a quiet INFO line and "bye"."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from textual.pilot import Pilot

from silvertine_tui import cli
from silvertine_tui.config import Settings
from silvertine_tui.domain import OrderStatus
from silvertine_tui.ui.screens.quit import QuitScreen

from .conftest import Desk, FakeClock, build_desk, make_settings
from .test_quit_and_orders import resting_orders


def cancelling_desk(clock: FakeClock, tmp_path: Path) -> Desk:
    settings = Settings(brokers=make_settings().brokers, engine={"cancel_on_exit": True})
    return build_desk(clock, tmp_path / "state.json", settings=settings)


async def wait_exit(desk: Desk, pilot: Pilot[None]) -> None:
    for _ in range(300):
        await pilot.pause(0.01)
        if desk.app._exit:
            return
    raise AssertionError("the app did not exit")


async def test_leave_and_quit_leaves_them_working_despite_cancel_on_exit(
    clock: FakeClock, tmp_path: Path
) -> None:
    desk = cancelling_desk(clock, tmp_path)
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        coids = await resting_orders(desk, pilot, 2)
        await pilot.press("q")
        await pilot.pause()
        dialog = desk.app.screen
        assert isinstance(dialog, QuitScreen)
        # The paper desk on the memory bus: `l` quits without cancelling, its orders
        # ending with the desk, as the dialog says.
        assert "the orders end with the desk" in str(dialog.query_one("#dialog-body").render())
        await pilot.press("l")
        await wait_exit(desk, pilot)
    session = desk.session
    assert not session.started  # closed (the app owned this session)
    oms = session.engine.oms
    assert [oms.orders[c].order.status for c in coids] == [OrderStatus.NEW] * 2
    assert session.left_working == ""  # left by choice: nothing to warn about


async def test_cancel_and_quit_still_cancels(clock: FakeClock, tmp_path: Path) -> None:
    desk = cancelling_desk(clock, tmp_path)
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        coids = await resting_orders(desk, pilot, 2)
        await pilot.press("q")
        await pilot.pause()
        assert isinstance(desk.app.screen, QuitScreen)
        await pilot.press("C")  # Cancel & quit
        await wait_exit(desk, pilot)
    oms = desk.session.engine.oms
    assert [oms.orders[c].order.status for c in coids] == [OrderStatus.CANCELED] * 2


async def test_quit_now_skips_the_dialog_and_honours_cancel_on_exit(
    clock: FakeClock, tmp_path: Path
) -> None:
    """SIGHUP / SIGTERM (cli.py) call `quit_now`: no one is there to answer a dialog."""
    desk = cancelling_desk(clock, tmp_path)
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        coids = await resting_orders(desk, pilot, 2)
        await desk.app.quit_now("SIGHUP")
        await wait_exit(desk, pilot)
        assert not isinstance(desk.app.screen, QuitScreen)
    oms = desk.session.engine.oms
    assert [oms.orders[c].order.status for c in coids] == [OrderStatus.CANCELED] * 2
    assert desk.session.left_working == ""


async def test_cancel_on_exit_that_leaves_orders_working_is_said(
    clock: FakeClock,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    desk = cancelling_desk(clock, tmp_path)
    caplog.set_level(logging.INFO)
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        coids = await resting_orders(desk, pilot, 2)
        await desk.broker.drop_link("test: venue unreachable")
        await desk.settle(pilot)
        await desk.app.quit_now("SIGTERM")
        await wait_exit(desk, pilot)
    session = desk.session
    assert len(session.engine.oms.working()) == 2
    said = session.left_working
    assert said.startswith("2 order(s) still working at paper/main: ")
    assert all(coid in said for coid in coids)
    assert "cancel them at the venue" in said
    records = [r for r in caplog.records if r.msg == "session.cancel_on_exit"]
    assert [r.levelno for r in records] == [logging.ERROR]
    # Once the UI is gone the CLI says it on stderr, with its own exit code: not "bye".
    capsys.readouterr()
    signals = cli._StopSignals()
    code = cli._after_desk(cli.EXIT_OK, [session], signals, tmp_path / "desk.log")
    err = capsys.readouterr().err
    assert code == cli.EXIT_ORDERS_LEFT
    assert "silvertine: NOT CANCELLED on exit: 2 order(s) still working at paper/main" in err
    assert "bye" not in err
