"""`ui/terminal_gone.py`: a terminal that stops reading (an SSH session stalled by a
network partition: not hung up, no write fails) never blocks the event loop.

A small Textual app on the desk's driver (`replace_driver`), in a child process on a
real pty whose master side the test stops reading: the pty's buffer fills, the
writer thread blocks in its write, and before, Textual's 30-write queue filled and
the loop blocked in the next frame's `queue.put` (its timer stopped, and so did
everything else the desk does). Now the loop runs on (the app's 50 Hz timer ticks,
its frames are dropped), what the writer holds stays bounded, and once the terminal
reads again the whole screen is repainted (the two lines that never change arrive
again) with nothing pressed. A quit while it reads nothing still ends the app.

The pins: the Textual names the bounded writes rely on (the queue's size, a `None`
ending the thread), and `TerminalOutput`'s admission against a model of the writer
thread's queue (hypothesis)."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import inspect
import io
import os
import pty
import select
import signal
import struct
import subprocess
import sys
import termios
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from textual.drivers._writer_thread import MAX_QUEUED_WRITES, WriterThread

from benchmarks.pty_child import spawn_on_pty, terminal_env
from silvertine_tui.ui import terminal_gone

if TYPE_CHECKING:
    from silvertine_tui.ui.terminal_gone import Stall

# (Read from the module when used: the tests above run on a tree without them.)


def max_pending_chars() -> int:
    return int(terminal_gone.MAX_PENDING_CHARS)


REPO = Path(__file__).resolve().parents[2]
TOP = b"TOP-OF-THE-SCREEN"
FOOT = b"FOOT-OF-THE-SCREEN"
CTRL_Q = b"\x11"  # Textual's quit

# The child: 30 lines of the screen (120x36) change at every tick of a 50 Hz timer
# (about 4 kB a frame: the pty's buffer is full within a second); the first and the
# last line never change. Each tick appends what the loop and the driver hold to
# `stats` (one JSON line); the log is the desk's (`setup_logging`: JSON lines).
CHILD = """
import sys, time
from pathlib import Path

import orjson
from textual.app import App, ComposeResult
from textual.widgets import Static

from silvertine_tui.logsetup import setup_logging
from silvertine_tui.ui.terminal_gone import replace_driver

stats_path, log_path = sys.argv[1], sys.argv[2]
setup_logging(Path(log_path))


class Stalled(App[None]):
    CSS = "Static { height: auto; }"

    def get_driver_class(self):
        return replace_driver(super().get_driver_class())

    def compose(self) -> ComposeResult:
        yield Static("TOP-OF-THE-SCREEN")
        yield Static("", id="body")
        yield Static("FOOT-OF-THE-SCREEN")

    def on_mount(self) -> None:
        self.ticks = 0
        self.stats = open(stats_path, "ab", buffering=0)
        self.set_interval(0.02, self.tick)

    def tick(self) -> None:
        self.ticks += 1
        n = self.ticks
        rows = (f"{n:>8} " + f"{(n * 2654435761 + r) & 0xFFFFFFFF:08x} " * 11 for r in range(30))
        self.query_one("#body", Static).update("\\n".join(rows))
        driver = self._driver
        output = getattr(driver, "output", None)
        line = {
            "t": time.monotonic(),
            "ticks": n,
            "queued": driver._writer_thread._queue.qsize(),
            "pending_writes": getattr(output, "pending_writes", None),
            "pending_chars": getattr(output, "pending_chars", None),
            "held": getattr(output, "held", None) is not None,
        }
        self.stats.write(orjson.dumps(line) + b"\\n")


Stalled().run()
"""


class Terminal:
    """The pty's master side, read in a thread as a terminal reads it, until `pause`
    (the SSH client that stops reading) and again after `resume`."""

    def __init__(self, master: int) -> None:
        self.master = master
        self.received = bytearray()
        self._lock = threading.Lock()
        self._reading = threading.Event()
        self._idle = threading.Event()
        self._reading.set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            if not self._reading.is_set():
                self._idle.set()
                self._reading.wait(0.05)
                continue
            self._idle.clear()
            ready, _, _ = select.select([self.master], [], [], 0.05)
            if not ready:
                continue
            try:
                data = os.read(self.master, 65536)
            except OSError:
                return
            if not data:
                return
            with self._lock:
                self.received.extend(data)

    def pause(self) -> int:
        """Reads no more; how much it had read."""
        self._reading.clear()
        assert self._idle.wait(5)
        with self._lock:
            return len(self.received)

    def resume(self) -> None:
        self._reading.set()

    def unread(self) -> int:
        """What the pty holds that this side has not read (bytes)."""
        return int(struct.unpack("i", fcntl.ioctl(self.master, termios.FIONREAD, b"\0" * 4))[0])

    def wait_full(self, timeout: float = 30.0) -> bool:
        """Whether, paused, the pty's buffer fills within `timeout`: what it holds
        stops growing for a second (the child's writes then block)."""
        deadline = time.monotonic() + timeout
        held, since = self.unread(), time.monotonic()
        while time.monotonic() < deadline:
            time.sleep(0.1)
            now = self.unread()
            if now != held:
                held, since = now, time.monotonic()
            elif held and time.monotonic() - since >= 1.0:
                return True
        return False

    def since(self, mark: int) -> bytes:
        with self._lock:
            return bytes(self.received[mark:])

    def close(self) -> None:
        self._stop.set()
        self._reading.set()
        self._thread.join(5)


def wait_for(condition: Callable[[], bool], timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return bool(condition())


def lines(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]


def logged(path: Path, event: str) -> list[dict[str, Any]]:
    return [r for r in lines(path) if r.get("event") == event]


def ticks(stats: Path) -> int:
    seen = lines(stats)
    return seen[-1]["ticks"] if seen else 0


@pytest.fixture
def child(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], Terminal, Path, Path]]:
    stats, log = tmp_path / "stats.jsonl", tmp_path / "child.log"
    env = terminal_env(tmp_path)
    env["PYTHONPATH"] = str(REPO)
    proc, master = spawn_on_pty(
        [sys.executable, "-c", CHILD, str(stats), str(log)], env=env, cwd=REPO
    )
    terminal = Terminal(master)
    try:
        yield proc, terminal, stats, log
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        terminal.close()
        os.close(master)


def test_a_terminal_that_stops_reading_never_blocks_the_loop(
    child: tuple[subprocess.Popen[bytes], Terminal, Path, Path],
) -> None:
    proc, terminal, stats, log = child
    assert wait_for(lambda: ticks(stats) >= 10), terminal.since(0)[-2000:]
    assert wait_for(lambda: TOP in terminal.since(0) and FOOT in terminal.since(0))

    # The terminal stops reading: within a second its buffer is full.
    mark = terminal.pause()
    assert terminal.wait_full()
    time.sleep(1.0)  # (the queue's 30 writes: 10 frames)
    before = ticks(stats)
    time.sleep(2.0)
    after = ticks(stats)
    assert after - before >= 10, f"the loop stopped: {before} ticks, then {after}"
    assert terminal.since(mark) == b""
    [held] = logged(log, "ui.terminal_output_held")
    during = [s for s in lines(stats) if s["ticks"] > before]
    assert during
    assert all(s["held"] for s in during)
    # What waits for the terminal is bounded: Textual's queue, and the characters.
    assert all(s["queued"] <= MAX_QUEUED_WRITES for s in lines(stats))
    assert all(s["pending_writes"] <= MAX_QUEUED_WRITES for s in lines(stats))
    assert all(s["pending_chars"] <= max_pending_chars() for s in lines(stats))
    assert held["pending_writes"] <= MAX_QUEUED_WRITES
    assert proc.poll() is None  # a stall alone never ends it

    # It reads again: the screen is repainted whole, with nothing pressed.
    terminal.resume()
    assert wait_for(lambda: bool(logged(log, "ui.terminal_output_resumed")), 10)
    [resumed] = logged(log, "ui.terminal_output_resumed")
    assert resumed["held_s"] >= 2.0  # (held from about when the buffer filled)
    assert resumed["dropped_writes"] > 0
    assert resumed["dropped_chars"] > 0
    assert wait_for(lambda: TOP in terminal.since(mark) and FOOT in terminal.since(mark), 10)
    again = ticks(stats)
    assert wait_for(lambda: ticks(stats) > again + 10, 10)
    assert not lines(stats)[-1]["held"]

    # It stops reading again, and the app is quit meanwhile: it ends all the same.
    terminal.pause()
    assert wait_for(lambda: len(logged(log, "ui.terminal_output_held")) == 2, 10)
    os.write(terminal.master, CTRL_Q)
    try:
        code = proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the app did not end on its quit: {[r['event'] for r in lines(log)]}")
    assert code == 0
    assert logged(log, "ui.terminal_output_left")
    assert not logged(log, "thread.uncaught_exception")


def test_textual_names_the_bounded_writes_rely_on() -> None:
    """A write the driver admits never waits on the queue (its size is the bound of
    writes pending), and a `None` ends the thread (`close`, bounded)."""
    assert "Queue(MAX_QUEUED_WRITES)" in inspect.getsource(WriterThread.__init__)
    assert "self._queue.put(text)" in inspect.getsource(WriterThread.write)
    run = inspect.getsource(WriterThread.run)
    assert "if text is None:" in run
    assert "if qsize() == 0:" in run  # the flush that ends a hold


OPS = st.deferred(
    lambda: st.lists(
        st.one_of(
            st.tuples(st.just("admit"), st.integers(0, max_pending_chars() // 2)),
            st.tuples(st.just("admit"), st.integers(0, 64)),
            st.tuples(st.just("admit"), st.just(max_pending_chars() + 1)),  # one full repaint
            st.tuples(st.just("frames"), st.integers(1, 2 * MAX_QUEUED_WRITES)),  # small ones
            st.tuples(st.just("take"), st.just(0)),
            st.tuples(st.just("flush"), st.just(0)),
            st.tuples(st.just("drain"), st.just(0)),  # all taken, then the flush
        ),
        max_size=150,
    )
)


@settings(max_examples=150, deadline=None)
@given(OPS)
def test_the_writes_admitted_are_bounded_and_a_hold_ends_once_drained(
    ops: list[tuple[str, int]],
) -> None:
    """The driver's writes (`admit`; `frames`: that many small ones) against the
    writer thread (`take`: it writes the oldest admitted; `flush`: what it does when
    its queue is empty; `drain`: the terminal reads again, all is taken): a write is
    admitted exactly when there is room and no hold, what is pending never exceeds
    Textual's queue nor (beyond one write) `MAX_PENDING_CHARS`, and each hold is said
    once and ends, said once, as soon as all it held is written."""
    held: list[tuple[int, int]] = []
    resumed: list[Stall] = []
    failed: list[OSError] = []
    output = terminal_gone.TerminalOutput(
        io.StringIO(), failed.append, lambda *p: held.append(p), resumed.append
    )
    queue: deque[int] = deque()
    dropped: list[int] = []  # the sizes refused in the hold under way
    steps: list[tuple[str, int]] = []
    for op, n in ops:
        steps.extend([("admit", 10)] * n if op == "frames" else [(op, n)])
        if op == "drain":
            steps[-1:] = [("take", 0)] * (MAX_QUEUED_WRITES + 1) + [("flush", 0)]
    for op, size in steps:
        if op == "admit":
            holding = output.held is not None
            room = len(queue) < MAX_QUEUED_WRITES and (
                not queue or sum(queue) + size <= max_pending_chars()
            )
            admitted = output.admit("x" * size)
            assert admitted == (room and not holding)
            if admitted:
                queue.append(size)
            else:
                assert output.held is not None
                dropped.append(size)
        elif op == "take" and queue:
            output.write("x" * queue.popleft())
        elif op == "flush" and not queue:
            output.flush()
            assert output.held is None  # nothing left to write: the hold is over
            assert len(resumed) == len(held)
            if dropped:
                assert (resumed[-1].dropped_writes, resumed[-1].dropped_chars) == (
                    len(dropped),
                    sum(dropped),
                )
                dropped.clear()
        assert output.pending_writes == len(queue) <= MAX_QUEUED_WRITES
        assert output.pending_chars == sum(queue)
        assert sum(queue) <= max_pending_chars() or len(queue) == 1
        assert len(held) - len(resumed) == (output.held is not None)
    assert failed == []


def test_a_stalled_terminal_that_hangs_up_is_gone_not_resumed() -> None:
    """A hold on a terminal that then hangs up (its writes fail with EIO) ends as the
    terminal gone, never as one that reads again (no repaint, no `resumed`)."""
    master, slave = pty.openpty()
    file = os.fdopen(slave, "w", encoding="utf-8")
    master_open = True
    held: list[tuple[int, int]] = []
    resumed: list[Stall] = []
    failed: list[OSError] = []
    try:
        output = terminal_gone.TerminalOutput(
            file, failed.append, lambda *p: held.append(p), resumed.append
        )
        assert all(output.admit(f"frame {n}\n") for n in range(MAX_QUEUED_WRITES))
        assert not output.admit("one too many")
        assert held == [(MAX_QUEUED_WRITES, sum(len(f"frame {n}\n") for n in range(30)))]
        os.close(master)  # the session drops
        master_open = False
        for n in range(MAX_QUEUED_WRITES):
            output.write(f"frame {n}\n")
        output.flush()
        [error] = failed
        assert error.errno == errno.EIO
        assert resumed == []
        assert output.pending_writes == 0
    finally:
        with contextlib.suppress(OSError):  # (what its buffer kept fails again)
            file.close()
        if master_open:
            os.close(master)
