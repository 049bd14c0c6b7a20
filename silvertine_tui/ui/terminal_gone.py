"""The desk's terminal going away (an SSH session dropping) or stalling (one that
stops reading) never blocks the desk.

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

A terminal that is there but stops reading (an SSH session stalled by a network
partition: the client reads nothing, the TCP window closes, the pty's buffer fills)
fails no write: the thread's write blocks, the queue filled, and the loop blocked in
the next frame's `queue.put` (the engine, fills, `cancel_on_exit` and SIGTERM all
stopped until the terminal read again or hung up). So the driver hands the thread
only what it has room for (`TerminalOutput.admit`: at most `MAX_QUEUED_WRITES` writes
and about `MAX_PENDING_CHARS` characters not yet written), and a write never waits:
from the first one refused the output is held (`ui.terminal_output_held` in the log),
every write is dropped (memory stays bounded; the desk draws and trades on), and when
the thread has written all it held (the terminal reads again) the output resumes
(`ui.terminal_output_resumed`, with `held_s` and what was dropped) and the screen is
repainted whole (`App.refresh`: the frames dropped meanwhile leave nothing torn). A
terminal that is only slow gets the same: a whole frame each time it has caught up. A
stall alone never ends the desk (the session may resume; a dead one hangs up or fails
writes with EIO). At exit the thread is waited for at most `CLOSE_WITHIN_S`, and not
at all while held (`ui.terminal_output_left`: a daemon, it is left blocked in its
write; what gives the terminal's modes back was dropped with the rest).

A small adapter over names of Textual's that are not public API: the driver's
output file `LinuxDriver._file` (what `start_application_mode` hands to
`WriterThread`), `WriterThread`'s use of it (`write`, `flush`, `fileno`), its queue of
`MAX_QUEUED_WRITES` and its stop on a `None` written to it.
tests/unit/test_terminal_gone.py and tests/ui/test_terminal_stalled.py pin them, so an
upgrade of Textual that changes them fails there; tests/integration/test_hangup_closes.py
and tests/integration/test_terminal_stalled.py check the whole path on a real pty. Not
used on Windows (`SilvertineApp.get_driver_class`).
"""

from __future__ import annotations

import contextlib
import errno
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, Any

from textual.app import App
from textual.driver import Driver
from textual.drivers._writer_thread import MAX_QUEUED_WRITES
from textual.drivers.linux_driver import LinuxDriver
from textual.message import Message

log = logging.getLogger(__name__)

GONE_ERRNOS = frozenset({errno.EIO, errno.ENXIO, errno.EPIPE, errno.EBADF, errno.ENODEV})
"""What a write on a terminal that is no longer there fails with: EIO (the tty hung
up: its pty's master closed, the SSH session or tmux server gone), ENXIO/ENODEV (the
device gone), EPIPE, EBADF (the descriptor closed)."""


MAX_PENDING_CHARS = 1_000_000
"""What the writer thread may hold that the terminal has not taken, in characters
(besides Textual's `MAX_QUEUED_WRITES` writes): a few full frames of a large screen.
One write is let through whatever its size when nothing is pending."""

_left_held = False  # a driver closed while its output was held (`output_left_held`)


def output_left_held() -> bool:
    """Whether the desk's terminal read nothing when the desk closed it
    (`TerminalDriver.close`: `ui.terminal_output_left`): a line for it on stderr would
    wait for it (cli.py's `_tell` then says nothing)."""
    return _left_held


CLOSE_WITHIN_S = 2.0
"""How long the desk's exit waits for the writer thread to write what it holds (the
terminal's modes given back) on a terminal that is not held."""


def is_gone(error: OSError) -> bool:
    """Whether `error`, from a write on the terminal, means the terminal is gone."""
    return error.errno in GONE_ERRNOS


class TerminalGone(Message):
    """Sent to the app once: the terminal is gone (`is_gone`), nothing it draws is
    seen, and no one is there to quit it."""

    def __init__(self, reason: str) -> None:
        super().__init__()
        self.reason = reason


@dataclass(frozen=True)
class Stall:
    """A stall of the terminal's output, once it has ended: how long it was held and
    what was dropped meanwhile."""

    held_s: float
    dropped_writes: int
    dropped_chars: int


class TerminalOutput:
    """The file Textual's writer thread writes to (the terminal, `file`): a write or
    flush that fails turns it off for good (`failed`) and calls `on_failed` once,
    in the writer's thread; every later write and flush is dropped. It never raises,
    so the thread never dies and the queue it empties never fills.

    And what the thread is given, through `admit`: what is admitted and not written
    yet is `pending` (writes, characters); what finds no room starts a hold (`held`),
    in which everything is refused (`dropped_*`) and `on_held` is called once (in the
    writing thread, with what is pending), until the writer thread has written all it
    had: `on_resumed` is then called once, in that thread, with the `Stall`."""

    def __init__(
        self,
        file: IO[str],
        on_failed: Callable[[OSError], None],
        on_held: Callable[[int, int], None] | None = None,
        on_resumed: Callable[[Stall], None] | None = None,
    ) -> None:
        self._file = file
        self._on_failed = on_failed
        self._on_held = on_held
        self._on_resumed = on_resumed
        self._lock = threading.Lock()
        self.failed: OSError | None = None
        self.pending_writes = 0
        self.pending_chars = 0
        self.held: float | None = None  # since (time.monotonic())
        self.dropped_writes = 0
        self.dropped_chars = 0

    def admit(self, text: str) -> bool:
        """Whether `text` may be handed to the writer thread (it is then pending): no
        hold, fewer than `MAX_QUEUED_WRITES` writes pending (so a put on its queue
        never waits) and, unless nothing is, at most `MAX_PENDING_CHARS` characters.
        If not, it is dropped, and the first refused starts a hold."""
        size = len(text)
        with self._lock:
            if self.held is None and (
                self.pending_writes < MAX_QUEUED_WRITES
                and (self.pending_writes == 0 or self.pending_chars + size <= MAX_PENDING_CHARS)
            ):
                self.pending_writes += 1
                self.pending_chars += size
                return True
            started = self.held is None
            if started:
                self.held = time.monotonic()
                self.dropped_writes = self.dropped_chars = 0
            self.dropped_writes += 1
            self.dropped_chars += size
            pending = (self.pending_writes, self.pending_chars)
        if started and self._on_held is not None:
            self._on_held(*pending)
        return False

    def has_room(self) -> bool:
        """Whether one more write on the thread's queue would not wait (not held)."""
        with self._lock:
            return self.held is None and self.pending_writes < MAX_QUEUED_WRITES

    def write(self, text: str) -> int:
        try:
            if self.failed is None:
                try:
                    return self._file.write(text)
                except OSError as exc:
                    self._fail(exc)
            return len(text)
        finally:
            with self._lock:  # (written to a thread by hand, not admitted: never below 0)
                self.pending_writes = max(0, self.pending_writes - 1)
                self.pending_chars = max(0, self.pending_chars - len(text))

    def flush(self) -> None:
        """Called by the writer thread when its queue is empty (and at its end): a
        hold ends once nothing admitted is left to write."""
        if self.failed is None:
            try:
                self._file.flush()
            except OSError as exc:
                self._fail(exc)
        with self._lock:
            if self.held is None or self.pending_writes or self.failed is not None:
                return  # (a terminal gone is not one that reads again)
            stall = Stall(
                held_s=time.monotonic() - self.held,
                dropped_writes=self.dropped_writes,
                dropped_chars=self.dropped_chars,
            )
            self.held = None
        if self._on_resumed is not None:
            self._on_resumed(stall)

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
    doc): a terminal that is gone never blocks the desk, and the app is told; one that
    stops reading never blocks it either (its output is held, then repainted whole)."""

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
        self.output = TerminalOutput(
            self._file, self._output_failed, self._output_held, self._output_resumed
        )
        # The writer thread `start_application_mode` makes writes to `_file`.
        self._file = self.output  # type: ignore[assignment]
        self._suspended = False
        self._closed = False  # `close`: no repaint after a stall from then on

    def write(self, data: str) -> None:
        """Never waits: what finds no room in the writer thread is dropped
        (`TerminalOutput.admit`), and nothing is queued once the terminal is gone."""
        if self.output.failed is None and self.output.admit(data):
            super().write(data)  # (room is certain: the queue's put does not wait)

    def close(self) -> None:
        """Textual's `close` (`WriterThread.stop`: a `None` on the queue, then the
        thread joined), bounded: the thread is waited for at most `CLOSE_WITHIN_S`,
        and not at all while the output is held (the terminal reads nothing: the
        thread, a daemon, is left blocked in its write)."""
        writer = self._writer_thread
        if writer is None:
            return
        self._closed = True
        output = self.output
        if output.failed is None and not output.has_room():
            self._left()
            return
        writer.write(None)  # type: ignore[arg-type]  # `WriterThread.stop`'s own end
        writer.join(CLOSE_WITHIN_S)
        if writer.is_alive():
            # Blocked in a write (a stall younger than the hold: the queue had room):
            # the terminal reads nothing all the same.
            self._left()

    def _left(self) -> None:
        """The writer thread left blocked at close: said (`ui.terminal_output_left`,
        how long the output was held, 0 when no hold had begun) and kept for the CLI
        (`output_left_held`)."""
        global _left_held
        _left_held = True
        output = self.output
        held = output.held
        log.warning(
            "ui.terminal_output_left",
            extra={
                "held_s": round(time.monotonic() - held, 3) if held is not None else 0.0,
                "pending_writes": output.pending_writes,
                "pending_chars": output.pending_chars,
            },
        )

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
        self._closed = False
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

    def _output_held(self, pending_writes: int, pending_chars: int) -> None:
        """In the thread that wrote (the event loop's, Textual's input thread): the
        terminal takes nothing (or not fast enough); said once per stall."""
        log.warning(
            "ui.terminal_output_held",
            extra={"pending_writes": pending_writes, "pending_chars": pending_chars},
        )

    def _output_resumed(self, stall: Stall) -> None:
        """In the writer thread: the terminal took all it was given; on the loop, the
        stall is said and the screen repainted whole."""
        with contextlib.suppress(RuntimeError):  # the loop is closed: the desk is gone
            self._loop.call_soon_threadsafe(self._repaint_after, stall)

    def _repaint_after(self, stall: Stall) -> None:
        log.warning(
            "ui.terminal_output_resumed",
            extra={
                "held_s": round(stall.held_s, 3),
                "dropped_writes": stall.dropped_writes,
                "dropped_chars": stall.dropped_chars,
            },
        )
        if not self._closed:
            self._app.refresh()  # the whole screen: what was dropped left it torn


def replace_driver(driver_class: type[Driver]) -> type[Driver]:
    """The driver the desk runs on in place of Textual's `driver_class`: Textual's
    `LinuxDriver` becomes `TerminalDriver`; any other (one named by TEXTUAL_DRIVER,
    Windows's) is kept."""
    return TerminalDriver if driver_class is LinuxDriver else driver_class
