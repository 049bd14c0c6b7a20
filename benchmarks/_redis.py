"""A throwaway redis-server for benchmarks: free TCP port, no persistence, always stopped.

`redis_server(url)` yields `url` untouched when one is given; otherwise it starts
`redis-server --port P --save "" --appendonly no` in a temporary directory, waits for
PING, yields `redis://127.0.0.1:P/0`, and terminates (then kills) it on the way out.
On Linux the server also gets SIGTERM if this process dies without running `finally`.
"""

from __future__ import annotations

import contextlib
import ctypes
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path


class RedisServerError(RuntimeError):
    """The throwaway server could not be started."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _die_with_parent() -> Callable[[], None] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None
    pr_set_pdeathsig = 1

    def set_pdeathsig() -> None:
        libc.prctl(pr_set_pdeathsig, signal.SIGTERM, 0, 0, 0)

    return set_pdeathsig


def _ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)


@contextlib.contextmanager
def throwaway_server(
    binary: str = "redis-server", *, timeout: float = 10.0, attempts: int = 5
) -> Iterator[str]:
    exe = shutil.which(binary)
    if exe is None:
        raise RedisServerError(f"{binary!r} not found on PATH; install Redis or pass --redis-url")
    with tempfile.TemporaryDirectory(prefix="bench-redis-") as tmp:
        log_path = Path(tmp) / "redis.log"
        for _ in range(attempts):
            port = free_port()
            cmd = [
                exe,
                "--port", str(port),
                "--bind", "127.0.0.1",
                "--save", "",
                "--appendonly", "no",
                "--dir", tmp,
                "--daemonize", "no",
                "--loglevel", "warning",
            ]  # fmt: skip
            with log_path.open("ab") as log:
                # The banner goes to the log, never to our stdout (which may be JSON).
                proc = subprocess.Popen(
                    cmd,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    preexec_fn=_die_with_parent(),
                )
            try:
                deadline = time.monotonic() + timeout
                while proc.poll() is None and time.monotonic() < deadline:
                    if _ping(port):
                        break
                    time.sleep(0.02)
                else:
                    # Exited (most likely the port was taken meanwhile) or never answered.
                    _stop(proc)
                    continue
                yield f"redis://127.0.0.1:{port}/0"
                return
            finally:
                _stop(proc)
        tail = log_path.read_text(errors="replace")[-500:] if log_path.exists() else ""
        raise RedisServerError(f"redis-server did not start after {attempts} attempts: {tail}")


@contextlib.contextmanager
def redis_server(url: str | None = None) -> Iterator[str]:
    """Yield `url` if given, else the URL of a throwaway server stopped on exit."""
    if url:
        yield url
        return
    with throwaway_server() as started:
        yield started
