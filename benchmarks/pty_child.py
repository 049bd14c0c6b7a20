"""A benchmark's child on a terminal: a fresh 120x36 pty, a clean environment, and
the pty's output read as a terminal reads it (never stopping).

Shared by `benchmarks ui` (the desk and the bare app under the firehose, and their
start-up), `benchmarks ui --start-only` and `benchmarks idle`.
"""

from __future__ import annotations

import fcntl
import os
import pty
import struct
import subprocess
import termios
from collections.abc import Callable
from pathlib import Path

WIDTH, HEIGHT = 120, 36
DROPPED = frozenset({"COLORTERM", "NO_COLOR", "COLUMNS", "LINES"})


def terminal_env(state_home: Path, colorterm: str | None = None) -> dict[str, str]:
    """This process's environment for a child on the benchmark's terminal: no Textual,
    colour or Silvertine settings of the shell it was started from (so the default
    config, unless the caller adds `SILVERTINE_*`), and no COLUMNS/LINES (they would
    override the pty's size: under pytest they said 80x24); state and log files under
    `state_home` (`XDG_STATE_HOME`)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("TEXTUAL", "SILVERTINE_")) and k not in DROPPED
    }
    env.update({"TERM": "xterm-256color", "XDG_STATE_HOME": str(state_home)})
    if colorterm is not None:
        env["COLORTERM"] = colorterm
    return env


def spawn_on_pty(
    argv: list[str], env: dict[str, str], cwd: Path | None = None
) -> tuple[subprocess.Popen[bytes], int]:
    """`argv` in its own session on a fresh WIDTHxHEIGHT pty; the child and the pty's
    master side (the caller reads it and closes it)."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", HEIGHT, WIDTH, 0, 0))
    proc = subprocess.Popen(
        argv, stdin=slave, stdout=slave, stderr=slave, env=env, close_fds=True,
        start_new_session=True, cwd=cwd,
    )  # fmt: skip
    os.close(slave)
    return proc, master


def drain(master: int, sink: Callable[[bytes], None]) -> None:
    """Read the pty until the child's side is gone, handing each chunk to `sink` (run
    it in a thread: a terminal never stops reading, so the child never blocks)."""
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:
            return
        if not data:
            return
        sink(data)
