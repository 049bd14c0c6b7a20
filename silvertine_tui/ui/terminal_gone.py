"""The desk's terminal going away (an SSH session dropping) never blocks the desk.

Textual's Linux/macOS driver (`LinuxDriver`) writes the screen through a thread
(`textual.drivers._writer_thread.WriterThread`) fed by a queue of at most 30 writes: a
frame's `driver.write` and, at exit, `driver.close()` (`WriterThread.stop`) wait in
the event loop for room in it. On a terminal that is gone (the tty hung up: every
write fails with EIO) that thread died on the first write, nothing emptied the queue
any more, and the 31st write blocked the loop for ever: the desk froze instead of
shutting down on SIGHUP (Textual's own shutdown writes a dozen more), its session was
never closed (`engine.cancel_on_exit` never ran, orders stayed working at the venue),
and SIGTERM could no longer be handled either (5 of 18 `tmux kill-server` trials).

`TerminalDriver` is that driver with one change: its thread writes through
`TerminalOutput`, which catches the failure instead of dying on it. From the first
failed write (or flush) the terminal's output is off for good: what is queued is
dropped by the thread, which goes on emptying the queue (a write never waits on a
dead thread; `close` ends it as always), and the driver queues nothing more. A
failure that means the terminal is gone (`GONE_ERRNOS`: EIO, a hung-up tty or a
closed pty) is said once in the log and to the app (`TerminalGone`), which shuts
down as on SIGHUP (`SilvertineApp.quit_now`): a desk whose SIGHUP goes elsewhere
(it is not the controlling process of its terminal) closes as well. Any other
failure is logged (the desk goes on, unseen; SIGTERM still stops it). And it resumes
only what it suspended: the SIGCONT a hang-up brings no longer starts a second writer
and a second input thread (`resume_application_mode`).

A small adapter over two names of Textual's that are not public API: the driver's
output file `LinuxDriver._file` (what `start_application_mode` hands to
`WriterThread`) and `WriterThread`'s use of it (`write`, `flush`, `fileno`).
tests/unit/test_terminal_gone.py pins both, so an upgrade of Textual that changes
them fails there, and tests/integration/test_hangup_closes.py checks the whole path
on a real pty. Not used on Windows (`SilvertineApp.get_driver_class`).
"""

from __future__ import annotations

import errno
import logging
import threading
from collections.abc import Callable
from typing import IO, Any

from textual.app import App
from textual.driver import Driver
from textual.drivers.linux_driver import LinuxDriver
from textual.message import Message

log = logging.getLogger(__name__)

GONE_ERRNOS = frozenset({errno.EIO, errno.ENXIO, errno.EPIPE, errno.EBADF, errno.ENODEV})
"""What a write on a terminal that is no longer there fails with: EIO (the tty hung
up: its pty's master closed, the SSH session or tmux server gone), ENXIO/ENODEV (the
device gone), EPIPE, EBADF (the descriptor closed)."""


def is_gone(error: OSError) -> bool:
    """Whether `error`, from a write on the terminal, means the terminal is gone."""
    return error.errno in GONE_ERRNOS


class TerminalGone(Message):
    """Sent to the app once: the terminal is gone (`is_gone`), nothing it draws is
    seen, and no one is there to quit it."""

    def __init__(self, reason: str) -> None:
        super().__init__()
        self.reason = reason


class TerminalOutput:
    """The file Textual's writer thread writes to (the terminal, `file`): a write or
    flush that fails turns it off for good (`failed`) and calls `on_failed` once,
    in the writer's thread; every later write and flush is dropped. It never raises,
    so the thread never dies and the queue it empties never fills."""

    def __init__(self, file: IO[str], on_failed: Callable[[OSError], None]) -> None:
        self._file = file
        self._on_failed = on_failed
        self._lock = threading.Lock()
        self.failed: OSError | None = None

    def write(self, text: str) -> int:
        if self.failed is None:
            try:
                return self._file.write(text)
            except OSError as exc:
                self._fail(exc)
        return len(text)

    def flush(self) -> None:
        if self.failed is None:
            try:
                self._file.flush()
            except OSError as exc:
                self._fail(exc)

    def fileno(self) -> int:
        return self._file.fileno()

    def isatty(self) -> bool:
        return True  # as `WriterThread` says of itself

    def _fail(self, error: OSError) -> None:
        with self._lock:
            if self.failed is not None:
                return
            self.failed = error
        self._on_failed(error)


def error_name(error: OSError) -> str:
    """`EIO` for an OSError with errno 5; its class's name without an errno."""
    code = error.errno
    return errno.errorcode.get(code, str(code)) if code is not None else type(error).__name__


class TerminalDriver(LinuxDriver):
    """Textual's `LinuxDriver`, writing through `TerminalOutput` (see the module's
    doc): a terminal that is gone never blocks the desk, and the app is told."""

    def __init__(
        self,
        app: App[Any],
        *,
        debug: bool = False,
        mouse: bool = True,
        size: tuple[int, int] | None = None,
    ) -> None:
        super().__init__(app, debug=debug, mouse=mouse, size=size)
        assert self._file is not None  # sys.__stderr__: a desk has a terminal
        self.output = TerminalOutput(self._file, self._output_failed)
        # The writer thread `start_application_mode` makes writes to `_file`.
        self._file = self.output  # type: ignore[assignment]
        self._suspended = False

    def write(self, data: str) -> None:
        if self.output.failed is None:  # else the terminal is gone: nothing to queue
            super().write(data)

    def suspend_application_mode(self) -> None:
        super().suspend_application_mode()
        self._suspended = True

    def resume_application_mode(self) -> None:
        """Only what was suspended (ctrl+z, `App.suspend`). Textual resumes on every
        SIGCONT, and the kernel sends one with a hang-up's SIGHUP: a second writer and
        a second input thread were started beside the running ones, and at exit only
        the second was stopped and joined (the first, not a daemon, could then hold
        the process for ever)."""
        if not self._suspended:
            return
        self._suspended = False
        super().resume_application_mode()

    def _output_failed(self, error: OSError) -> None:
        """In the writer thread: said once in the log, and to the app when the
        terminal is gone."""
        name = error_name(error)
        if not is_gone(error):
            log.error(
                "ui.terminal_write_failed",
                extra={"error": f"{name}: {error.strerror or error}", "output": "off"},
            )
            return
        log.warning("ui.terminal_gone", extra={"error": name})
        if not self._loop.is_closed():
            self.send_message(TerminalGone(f"the terminal is gone ({name})"))


def replace_driver(driver_class: type[Driver]) -> type[Driver]:
    """The driver the desk runs on in place of Textual's `driver_class`: Textual's
    `LinuxDriver` becomes `TerminalDriver`; any other (one named by TEXTUAL_DRIVER,
    Windows's) is kept."""
    return TerminalDriver if driver_class is LinuxDriver else driver_class
