"""The desk's terminal stalling (an SSH session whose client stops reading: a network
partition, not a hang-up) never stops the desk: it draws on unseen, a signal still
closes its session as its config says, and once the terminal reads again the screen
is whole again, with nothing pressed; a stall alone never ends it.

Before, the pty's buffer filled, Textual's writer thread blocked in its write, its
30-write queue filled and the event loop blocked in the next frame's `queue.put`: the
engine, fills, `cancel_on_exit` and SIGTERM (its handler runs on the loop) all waited
for the terminal to read again or hang up (`silvertine_tui/ui/terminal_gone.py`).

The real `silvertine run` in a subprocess on a pseudo-terminal (its controlling
terminal, as an SSH session's), on its own Redis, with a paper order resting (as in
test_hangup_closes.py); the test reads the pty as a terminal does, then stops."""

from __future__ import annotations

import asyncio
import fcntl
import os
import pty
import signal
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest

from benchmarks.pty_child import terminal_env
from silvertine_tui.domain import OrderStatus
from silvertine_tui.ui.keymap import PANES
from tests.integration.test_hangup_closes import (
    BROKER,
    EXIT_WITHIN_S,
    controlling_terminal,
    events,
    journaled_statuses,
    records,
    rest_an_order,
)
from tests.support.redis_server import RedisServer
from tests.ui.test_terminal_stalled import Terminal, wait_for

pytestmark = pytest.mark.redis

QUEUE_FILLED_S = 5.0  # the desk draws on: Textual's 30 writes are queued by then (~2.5 s)
EARLY_S = 0.8  # the writer blocked, its queue not yet full: no hold when the desk closes
TITLES = [f"{n} {label}".encode() for n, (_, label) in enumerate(PANES, 1)]


@pytest.mark.parametrize("then", ["reads-again", "SIGTERM", "SIGTERM-early"])
def test_a_stalled_terminal_never_stops_the_desk(
    tmp_path: Path, redis_server: RedisServer, key_prefix: str, then: str
) -> None:
    coid = asyncio.run(rest_an_order(redis_server, key_prefix))
    log = tmp_path / "desk.log"
    config = tmp_path / "desk.yaml"
    config.write_text(
        f"bus: {{url: {redis_server.url!r}, prefix: {key_prefix}}}\n"
        f"log: {{file: {str(log)!r}}}\n"
        "engine: {cancel_on_exit: true}\n"
        f"brokers: [{BROKER}]\n"
    )
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 36, 120, 0, 0))
    proc = subprocess.Popen(
        [sys.executable, "-m", "silvertine_tui", "run", "-c", str(config)],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=terminal_env(tmp_path),
        start_new_session=True,
        preexec_fn=controlling_terminal,
    )
    os.close(slave)
    terminal = Terminal(master)
    code: int | None = None
    try:
        assert wait_for(lambda: "session.started" in events(log), 30), events(log)[-8:]
        time.sleep(0.5)  # the desk drawn, quotes moving: it draws on
        titles = [t for t in TITLES if t in terminal.since(0)]
        assert len(titles) >= 3, terminal.since(0)[-1500:]
        mark = terminal.pause()  # the SSH client reads no more
        assert terminal.wait_full(), "the pty's buffer did not fill"
        stalled = time.monotonic()
        # Early: before the desk's writes fill the writer's queue (no hold yet), its
        # writer blocked in a write all the same (code review: the exit then hung on
        # its last line to stderr).
        time.sleep(EARLY_S if then == "SIGTERM-early" else QUEUE_FILLED_S)
        assert terminal.since(mark) == b""

        if then == "reads-again":
            terminal.resume()
            # The screen made whole: its panes' titles, which only a full repaint
            # draws again (a frame draws what changed: the quotes).
            assert wait_for(lambda: all(t in terminal.since(mark) for t in titles), 15), (
                "no repaint after the stall",
                [r["event"] for r in records(log)][-8:],
            )
            assert events(log).count("ui.terminal_output_held") == 1  # once per stall
            assert wait_for(lambda: "ui.terminal_output_resumed" in events(log), 10)
            [resumed] = [r for r in records(log) if r["event"] == "ui.terminal_output_resumed"]
            assert resumed["held_s"] > 0
            assert resumed["held_s"] <= time.monotonic() - stalled
            assert resumed["dropped_writes"] > 0
            assert proc.poll() is None  # a stall alone never ends the desk
            assert "app.quit_now" not in events(log)
            proc.send_signal(signal.SIGTERM)  # the end of the test
        else:
            proc.send_signal(signal.SIGTERM)
            # The terminal still reads nothing: the session closes all the same.
            assert wait_for(lambda: "session.closed" in events(log), EXIT_WITHIN_S), (
                "SIGTERM did nothing while the terminal read nothing",
                events(log)[-8:],
            )
            if then == "SIGTERM":
                assert "ui.terminal_output_held" in events(log)
            # Nor does the process wait for the terminal to end: its last line on stderr
            # is not written to a terminal that reads nothing (the log says it).
        code = proc.wait(timeout=EXIT_WITHIN_S)
    except subprocess.TimeoutExpired:
        pass
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        terminal.close()
        os.close(master)
    names = events(log)
    assert code == 0, (code, names[-6:], terminal.since(0)[-1500:])
    assert "session.cancel_on_exit" in names, names[-8:]
    assert "session.closed" in names
    statuses = asyncio.run(journaled_statuses(redis_server, key_prefix, coid))
    assert statuses[-1] is OrderStatus.CANCELED, statuses
    assert "ui.terminal_gone" not in names
    assert "thread.uncaught_exception" not in names
    [quit_now] = [r for r in records(log) if r["event"] == "app.quit_now"]
    assert quit_now["reason"] == "SIGTERM"
    untold = [r["text"] for r in records(log) if r["event"] == "cli.not_told"]
    if then == "SIGTERM" or (then == "SIGTERM-early" and "ui.terminal_output_left" in names):
        # The writer left blocked (held, or stuck in a write): the last lines go to the
        # log, never to the terminal that reads nothing.
        assert untold[:1] == ["silvertine: stopped on SIGTERM."], untold
        assert untold[-1].startswith("silvertine: bye. Log: "), untold
    elif then == "SIGTERM-early":
        # The writer ended within its wait (the pty took its last writes): nothing is
        # left blocked, and stderr is written as usual.
        assert untold == [], untold
