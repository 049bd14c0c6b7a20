"""The palette's Screenshot on a host without a download directory (an SSH trading
host): saved beside the log, and the toast says where; when it cannot be saved, the
toast says why and what to do, not only "Failed to save screenshot"."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from textual.command import CommandPalette
from textual.notifications import Notification
from textual.widgets import OptionList

from silvertine_tui.config import LogConfig

from .conftest import Desk, make_settings


@pytest.fixture
def host(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A home with no Downloads directory and no user-dirs.dirs naming one."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    return home


def desk_logging_to(make_desk: Any, log_dir: Path) -> Desk:
    settings = make_settings().model_copy(
        update={"log": LogConfig(file=log_dir / "silvertine.log")}
    )
    desk: Desk = make_desk(settings=settings)
    return desk


def screenshot_toasts(desk: Desk) -> list[Notification]:
    return [n for n in desk.app._notifications if n.title == "Screenshot"]


async def toast(desk: Desk, pilot: Any) -> Notification:
    for _ in range(200):
        found = screenshot_toasts(desk)
        if found:
            await pilot.pause(0.1)  # (a second toast would show here)
            [only] = screenshot_toasts(desk)
            return only
        await asyncio.sleep(0.02)
        await pilot.pause()
    pytest.fail("no Screenshot toast")


async def screenshot_from_the_palette(pilot: Any) -> None:
    await pilot.press("ctrl+p")
    await pilot.pause()
    palette = pilot.app.screen
    assert isinstance(palette, CommandPalette)
    await pilot.press(*"screenshot")
    options = palette.query_one(OptionList)
    for _ in range(40):
        await pilot.pause(0.05)
        if options.option_count and options.highlighted is not None:
            break
    highlighted = options.get_option_at_index(options.highlighted or 0)
    assert str(highlighted.prompt).startswith("Screenshot"), highlighted.prompt
    await pilot.press("enter")


async def test_saved_beside_the_log_when_there_is_no_download_directory(
    make_desk: Any, host: Path, tmp_path: Path
) -> None:
    log_dir = tmp_path / "state" / "silvertine"
    desk = desk_logging_to(make_desk, log_dir)
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        await screenshot_from_the_palette(pilot)
        shown = await toast(desk, pilot)
        [saved] = list((log_dir / "screenshots").glob("*.svg"))
        assert shown.severity == "information"
        assert shown.message == f"Saved screenshot to {saved}"
        assert saved.read_text(encoding="utf-8").startswith("<svg")
        assert "PAPER" in saved.read_text(encoding="utf-8")
        assert not (host / "Downloads").exists()
        await desk.session.close()


async def test_a_directory_that_cannot_be_made_is_named_with_the_reason(
    make_desk: Any, host: Path, tmp_path: Path
) -> None:
    log_dir = tmp_path / "state" / "silvertine"
    log_dir.mkdir(parents=True)
    (log_dir / "screenshots").write_text("a file where the directory would go")
    desk = desk_logging_to(make_desk, log_dir)
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        await screenshot_from_the_palette(pilot)
        shown = await toast(desk, pilot)
        assert shown.severity == "error"
        assert shown.message.startswith(
            f"Screenshot not saved: cannot make the directory {log_dir / 'screenshots'} "
            "(File exists). "
        ), shown.message
        assert "~/Downloads" in shown.message
        await desk.session.close()


async def test_a_file_that_cannot_be_written_is_named_with_the_reason(
    make_desk: Any, host: Path, tmp_path: Path
) -> None:
    log_dir = tmp_path / "state" / "silvertine"
    target = log_dir / "screenshots" / "desk.svg"
    target.mkdir(parents=True)  # a directory where the file would go
    desk = desk_logging_to(make_desk, log_dir)
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        desk.app.action_screenshot(filename="desk.svg")
        shown = await toast(desk, pilot)
        assert shown.severity == "error"
        assert shown.message == (
            f"Screenshot not saved to {target}: Is a directory. Check that "
            f"{target.parent} is a directory you may write to and that the disk has room."
        )
        await desk.session.close()
