"""SIGHUP (the SSH session dropped) and SIGTERM (`kill`, `systemctl stop`) shut the desk
down as `q` does, without the quit dialog: `engine.cancel_on_exit` is honoured, the
final snapshot is written, the brokers are closed, the broker claims are let go and the
terminal is given back. Before, both killed the desk with none of it (the claim stayed
in Redis for its ttl; with the UI, the terminal stayed in the UI's mode); the headless
desk handled SIGTERM but not SIGHUP.

The real `silvertine` in a subprocess on a Redis bus; the UI on a real pseudo-terminal
that is the desk's controlling terminal, so closing its master side is a hang-up as an
SSH session that drops is (the kernel sends SIGHUP)."""

from __future__ import annotations

import fcntl
import os
import pty
import signal
import struct
import subprocess
import sys
import termios
import threading
import time
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest

from benchmarks.pty_child import drain, terminal_env
from tests.support.redis_server import RedisServer, command

ALT_SCREEN_OFF = b"\x1b[?1049l"  # Textual gives the terminal back


def write_config(tmp_path: Path, redis: RedisServer, prefix: str) -> tuple[Path, Path]:
    log = tmp_path / "desk.log"
    config = tmp_path / "desk.yaml"
    config.write_text(
        f"bus: {{url: {redis.url!r}, prefix: {prefix}}}\n"
        f"log: {{file: {str(log)!r}}}\n"
        "engine: {cancel_on_exit: true}\n"
        "brokers: [{name: paper, type: paper}]\n"
    )
    return config, log


def events(log: Path) -> list[str]:
    if not log.exists():
        return []
    return [orjson.loads(line)["event"] for line in log.read_text().splitlines() if line]


def wait_for(condition: Callable[[], bool], timeout: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return bool(condition())


def keys(redis: RedisServer, pattern: str) -> bytes:
    return command(redis.host, redis.port, "KEYS", pattern)


def assert_closed_as_on_quit(log: Path, redis: RedisServer, prefix: str) -> None:
    names = events(log)
    assert "session.cancel_on_exit" in names, names[-8:]  # engine.cancel_on_exit honoured
    assert "session.closed" in names, names[-8:]
    assert b"claim" not in keys(redis, f"{prefix}:claim:*"), "the broker claim was left"
    assert b"snap" in keys(redis, f"{prefix}:snap:*"), "no snapshot at close"


def controlling_terminal() -> None:
    """In the child: the pty (its stdin) becomes its controlling terminal."""
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


@pytest.mark.parametrize("how", ["SIGHUP", "SIGTERM", "hang-up"])
def test_desk_shuts_down_on_a_signal_as_on_quit(
    tmp_path: Path, redis_server: RedisServer, key_prefix: str, how: str
) -> None:
    config, log = write_config(tmp_path, redis_server, key_prefix)
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
    received = bytearray()
    reader = threading.Thread(target=drain, args=(master, received.extend), daemon=True)
    reader.start()
    closed = False
    try:
        assert wait_for(lambda: "session.started" in events(log)), events(log)
        assert b"claim" in keys(redis_server, f"{key_prefix}:claim:*")
        time.sleep(0.3)  # the desk drawn
        if how == "hang-up":
            os.close(master)  # the terminal goes away: the kernel hangs the desk up
            closed = True
        else:
            proc.send_signal(getattr(signal, how))
        code = proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if not closed:
            reader.join(timeout=5)
            os.close(master)
    assert code == 0, bytes(received)[-2000:]
    assert_closed_as_on_quit(log, redis_server, key_prefix)
    if how != "hang-up":
        assert ALT_SCREEN_OFF in received, "the terminal was left in the UI's mode"
        assert b"Traceback" not in received
        assert f"stopped on {how}".encode() in received


def test_headless_desk_shuts_down_on_sighup(
    tmp_path: Path, redis_server: RedisServer, key_prefix: str
) -> None:
    config, log = write_config(tmp_path, redis_server, key_prefix)
    proc = subprocess.Popen(
        [sys.executable, "-m", "silvertine_tui", "run", "--headless", "-c", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=terminal_env(tmp_path),
    )
    try:
        assert wait_for(lambda: "session.started" in events(log)), events(log)
        proc.send_signal(signal.SIGHUP)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err.decode()[-2000:]
    assert b"stopped cleanly" in err
    assert_closed_as_on_quit(log, redis_server, key_prefix)
