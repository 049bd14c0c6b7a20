"""`ui/terminal_gone.py`: Textual's writer thread over a terminal that is gone never
blocks its writers, and the adapter's hold on Textual is pinned.

The writes go to a real pty whose master side is closed (the kernel then fails every
write on it with EIO, as on a dropped SSH session) and Textual's own `WriterThread`
does the writing. The pins read Textual's source: an upgrade that no longer hands
`LinuxDriver._file` to its `WriterThread`, or whose thread no longer writes through
it, fails here (the adapter would then be bypassed: the desk could freeze again on a
hang-up, tests/integration/test_hangup_closes.py)."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import inspect
import os
import pty
import signal
import sys
import threading
from collections.abc import Iterator
from typing import IO

import pytest
from textual.app import App
from textual.drivers import _writer_thread
from textual.drivers._writer_thread import MAX_QUEUED_WRITES, WriterThread
from textual.drivers.linux_driver import LinuxDriver

from silvertine_tui.config import Settings
from silvertine_tui.ui.app import SilvertineApp
from silvertine_tui.ui.terminal_gone import (
    TerminalDriver,
    TerminalOutput,
    is_gone,
    replace_driver,
)


@pytest.fixture
def hung_up() -> Iterator[IO[str]]:
    """The slave side of a pty whose master is closed: every write fails with EIO."""
    master, slave = pty.openpty()
    os.close(master)
    file = os.fdopen(slave, "w", encoding="utf-8")
    yield file
    with contextlib.suppress(OSError):  # (what its buffer kept fails again)
        file.close()


@pytest.fixture
def live() -> Iterator[tuple[IO[str], int]]:
    master, slave = pty.openpty()
    with os.fdopen(slave, "w", encoding="utf-8") as file:
        yield file, master
    os.close(master)


def ends_within(target: object, seconds: float = 5.0) -> bool:
    """Whether `target()`, run in a thread, returns within `seconds` (a blocked one is
    left behind as a daemon)."""
    thread = threading.Thread(target=target, daemon=True)  # type: ignore[arg-type]
    thread.start()
    thread.join(seconds)
    return not thread.is_alive()


def test_writes_to_a_terminal_gone_never_block_and_it_is_said_once(hung_up: IO[str]) -> None:
    failures: list[OSError] = []
    output = TerminalOutput(hung_up, failures.append)
    writer = WriterThread(output)  # type: ignore[arg-type]
    writer.start()

    def frames() -> None:
        for n in range(MAX_QUEUED_WRITES * 10):  # a queue's worth, ten times over
            writer.write(f"frame {n}\n")
        writer.stop()  # as `LinuxDriver.close`, at the app's shutdown

    assert ends_within(frames), "a write or the writer's stop blocked"
    assert not writer.is_alive()
    [failure] = failures
    assert failure.errno == errno.EIO
    assert is_gone(failure)
    assert output.failed is failure
    output.write("after")  # dropped, not raised, not said again
    output.flush()
    assert failures == [failure]


def test_a_live_terminal_gets_every_write(live: tuple[IO[str], int]) -> None:
    file, master = live
    failures: list[OSError] = []
    writer = WriterThread(TerminalOutput(file, failures.append))  # type: ignore[arg-type]
    writer.start()
    writer.write("hello ")
    writer.write("desk")
    writer.stop()
    assert os.read(master, 100) == b"hello desk"
    assert failures == []


def test_a_write_error_that_is_not_a_hang_up_is_not_the_terminal_gone() -> None:
    assert is_gone(OSError(errno.EIO, "Input/output error"))
    assert is_gone(OSError(errno.EBADF, "Bad file descriptor"))
    assert not is_gone(OSError(errno.ENOSPC, "No space left on device"))
    assert not is_gone(BlockingIOError(errno.EAGAIN, "Resource temporarily unavailable"))


def test_textual_writes_the_screen_through_the_drivers_file() -> None:
    """The two names of Textual's the adapter relies on (not public API)."""
    init = inspect.getsource(LinuxDriver.__init__)
    assert "self._file = sys.__stderr__" in init
    start = inspect.getsource(LinuxDriver.start_application_mode)
    assert "WriterThread(self._file)" in start
    assert LinuxDriver.start_application_mode.__globals__["WriterThread"] is WriterThread
    run = inspect.getsource(WriterThread.run)
    assert "write = self._file.write" in run
    assert "flush = self._file.flush" in run
    assert "self._file.fileno()" in inspect.getsource(WriterThread.fileno)
    assert "self._writer_thread.write(data)" in inspect.getsource(LinuxDriver.write)
    assert "self._writer_thread.stop()" in inspect.getsource(LinuxDriver.close)
    # The bounded queue the loop waits on: what made a dead writer freeze the desk.
    assert "Queue(MAX_QUEUED_WRITES)" in inspect.getsource(_writer_thread.WriterThread)


async def test_the_desks_driver_writes_through_the_guarded_output() -> None:
    app = SilvertineApp(settings=Settings(), build_session=lambda: None)  # type: ignore[arg-type,return-value]
    assert app.driver_class is TerminalDriver
    assert replace_driver(LinuxDriver) is TerminalDriver
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGTSTP, signal.SIGCONT)}
    try:
        driver = TerminalDriver(App())
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
    assert driver._file is driver.output  # what `start_application_mode` writes to
    assert driver.output._file is sys.__stderr__
    await asyncio.sleep(0)
