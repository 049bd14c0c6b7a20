"""A bug in the UI (an exception no handler catches) ends the desk with its traceback in
the log, one line on stderr saying it crashed and where the log is, and a non-zero
exit code (`cli.EXIT_CRASHED`); the session is closed as on `q`.

Before, the desk said "bye" and exited 0; Textual printed its rich traceback with the
locals of every frame (which may hold a secret) to the terminal, and the log held
nothing of it.

The real `silvertine` in a subprocess on a pseudo-terminal. The bug is planted by the
launcher below: F1's action (`SilvertineApp.action_help`) is replaced by one that
raises, with a local variable that must not reach the terminal. Nothing else is
changed."""

from __future__ import annotations

import fcntl
import os
import pty
import struct
import subprocess
import sys
import termios
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from benchmarks.pty_child import drain, terminal_env
from silvertine_tui import cli
from tests.support.redis_server import RedisServer, command

LAUNCHER = """
import sys
from silvertine_tui.ui.app import SilvertineApp

def action_help(self):
    local_value = "LOCAL-CANARY-in-a-frame"
    raise RuntimeError("simulated handler bug")

SilvertineApp.action_help = action_help
from silvertine_tui.cli import main
sys.exit(main(sys.argv[1:]))
"""
F1 = b"\x1bOP"


def records(log: Path) -> list[dict[str, Any]]:
    if not log.exists():
        return []
    return [orjson.loads(line) for line in log.read_text().splitlines() if line]


def wait_for(condition: Callable[[], bool], timeout: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return bool(condition())


def run_and_crash(tmp_path: Path, config: Path, log: Path) -> tuple[int, bytes]:
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 36, 120, 0, 0))
    proc = subprocess.Popen(
        [sys.executable, "-c", LAUNCHER, "run", "-c", str(config)],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=terminal_env(tmp_path),
        start_new_session=True,
    )
    os.close(slave)
    received = bytearray()
    reader = threading.Thread(target=drain, args=(master, received.extend), daemon=True)
    reader.start()
    try:
        started = lambda: "session.started" in [r["event"] for r in records(log)]  # noqa: E731
        assert wait_for(started), records(log)[-5:]
        time.sleep(0.3)  # the desk drawn
        os.write(master, F1)
        code = proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        reader.join(timeout=5)
        os.close(master)
    return code, bytes(received)


def assert_crash_said(code: int, received: bytes, log: Path) -> None:
    # The terminal: one line, no traceback, no locals, no "bye".
    assert b"Traceback" not in received, received[-3000:]
    assert b"LOCAL-CANARY" not in received
    assert b"bye" not in received
    said = b"silvertine: the desk crashed (RuntimeError: simulated handler bug)"
    assert said in received, received[-2000:]
    assert f"its traceback is in the log: {log}".encode() in received
    # The log: the exception with its traceback, and the session closed after it.
    lines = records(log)
    [crash] = [r for r in lines if r["event"] == "app.crashed"]
    assert crash["level"] == "CRITICAL"
    assert "Traceback" in crash["exc"]
    assert "RuntimeError: simulated handler bug" in crash["exc"]
    assert "in action_help" in crash["exc"]
    assert "LOCAL-CANARY" not in log.read_text()
    names = [r["event"] for r in lines]
    assert "session.closed" in names[names.index("app.crashed") :]
    assert code != 0
    assert code == cli.EXIT_CRASHED


def test_a_crash_on_the_memory_bus_is_logged_and_exits_non_zero(tmp_path: Path) -> None:
    log = tmp_path / "desk.log"
    config = tmp_path / "desk.yaml"
    config.write_text(f"log: {{file: {str(log)!r}}}\nbrokers: [{{name: paper, type: paper}}]\n")
    code, received = run_and_crash(tmp_path, config, log)
    assert_crash_said(code, received, log)


@pytest.mark.redis
def test_a_crash_on_redis_is_logged_exits_non_zero_and_lets_the_claim_go(
    tmp_path: Path, redis_server: RedisServer, key_prefix: str
) -> None:
    log = tmp_path / "desk.log"
    config = tmp_path / "desk.yaml"
    config.write_text(
        f"bus: {{url: {redis_server.url!r}, prefix: {key_prefix}}}\n"
        f"log: {{file: {str(log)!r}}}\n"
        "brokers: [{name: paper, type: paper}]\n"
    )
    code, received = run_and_crash(tmp_path, config, log)
    assert_crash_said(code, received, log)
    claims = command(redis_server.host, redis_server.port, "KEYS", f"{key_prefix}:claim:*")
    assert b"claim" not in claims, "the broker claim was left"
