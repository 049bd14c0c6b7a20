"""A throwaway `redis-server` the test session owns: start, kill -9, restart, clean up.

The server listens on 127.0.0.1 on a free TCP port, with `--save "" --appendonly no`
unless `persistence=True` (then `--appendonly yes --appendfsync always`: every
acknowledged write is on disk before the reply, so a `kill -9` loses nothing that was
acknowledged). Every server has its own temporary `--dir`, removed on `close()`.
`restart()` starts a new process on the same port and directory, so an AOF survives.

Never used against the shared Redis on 6379: each instance is a fresh process.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import weakref
from pathlib import Path
from types import TracebackType
from typing import Self

BINARY = "redis-server"


class RedisServerError(RuntimeError):
    """The server did not start or did not answer in time."""


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _encode_command(*args: str) -> bytes:
    out = [f"*{len(args)}\r\n".encode()]
    for arg in args:
        data = arg.encode()
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


def command(host: str, port: int, *args: str, password: str | None = None) -> bytes:
    """Send one command over a raw socket and return the raw reply (test plumbing only)."""
    with socket.create_connection((host, port), timeout=1.0) as sock:
        payload = b""
        if password is not None:
            payload += _encode_command("AUTH", password)
        payload += _encode_command(*args)
        sock.sendall(payload)
        expected_replies = 2 if password is not None else 1
        data = b""
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
            if _complete_replies(data) >= expected_replies:
                break
        if password is not None:
            data = data.split(b"\r\n", 1)[1]
        return data


def _complete_replies(data: bytes) -> int:
    """How many whole simple/error/bulk replies `data` holds (enough for PING and INFO)."""
    count = 0
    pos = 0
    while pos < len(data):
        end = data.find(b"\r\n", pos)
        if end < 0:
            return count
        head = data[pos:end]
        if head[:1] == b"$":
            size = int(head[1:])
            pos = end + 2 + max(size, 0) + (2 if size >= 0 else 0)
            if pos > len(data):
                return count
        else:
            pos = end + 2
        count += 1
    return count


class RedisServer:
    """One `redis-server` subprocess on a fixed free port.

    Use as a context manager (or call `close()`); a finalizer kills the process and
    removes the directory even if a test forgets to.
    """

    def __init__(
        self,
        *,
        persistence: bool = False,
        password: str | None = None,
        port: int | None = None,
        startup_timeout: float = 10.0,
    ) -> None:
        binary = shutil.which(BINARY)
        if binary is None:
            raise RedisServerError(
                f"{BINARY} not found on PATH: install Redis 7 (apt-get install redis-server) "
                'or deselect these tests with -m "not redis"'
            )
        self.binary = binary
        self.host = "127.0.0.1"
        self._port_chosen = port is None
        self.port = port or free_port(self.host)
        self.persistence = persistence
        self.password = password
        self.startup_timeout = startup_timeout
        self.dir = Path(tempfile.mkdtemp(prefix="silvertine-redis-"))
        self.log_path = self.dir / "redis.log"
        self.starts = 0
        self._proc: subprocess.Popen[bytes] | None = None
        self._finalizer = weakref.finalize(self, _cleanup, [None], self.dir)

    # -- addresses ----------------------------------------------------------------

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}{self.host}:{self.port}/0"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    # -- lifecycle ----------------------------------------------------------------

    def _argv(self) -> list[str]:
        argv = [
            self.binary,
            "--port",
            str(self.port),
            "--bind",
            self.host,
            "--dir",
            str(self.dir),
            "--save",
            "",
            "--daemonize",
            "no",
            "--logfile",
            str(self.log_path),
            "--protected-mode",
            "no",
        ]
        if self.persistence:
            argv += ["--appendonly", "yes", "--appendfsync", "always"]
        else:
            argv += ["--appendonly", "no"]
        if self.password:
            argv += ["--requirepass", self.password]
        return argv

    def start(self) -> Self:
        """Start the process and wait until it answers PING and has loaded its data.

        On the first start, a port some other process grabbed meanwhile is replaced by
        a fresh one (twice at most); a restart always keeps its port.
        """
        if self.running:
            raise RedisServerError(f"redis-server on port {self.port} is already running")
        retry = self._port_chosen and self.starts == 0
        for attempt in range(3 if retry else 1):
            if attempt:
                self.port = free_port(self.host)
            try:
                return self._start()
            except RedisServerError:
                if not retry or attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def _start(self) -> Self:
        self._proc = subprocess.Popen(
            self._argv(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self._finalizer.detach()
        self._finalizer = weakref.finalize(self, _cleanup, [self._proc], self.dir)
        self.starts += 1
        try:
            self._wait_ready()
        except BaseException:
            self._terminate(signal.SIGKILL)
            raise
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        last = "no answer"
        while time.monotonic() < deadline:
            if self._proc is not None and self._proc.poll() is not None:
                raise RedisServerError(
                    f"redis-server exited with {self._proc.returncode} on port {self.port}: "
                    f"{self.log_tail()}"
                )
            try:
                reply = command(self.host, self.port, "INFO", "persistence", password=self.password)
            except OSError as exc:
                last = f"{type(exc).__name__}: {exc}"
            else:
                if b"loading:0" in reply:
                    return
                last = reply[:80].decode(errors="replace")
            time.sleep(0.01)
        raise RedisServerError(
            f"redis-server on port {self.port} not ready after {self.startup_timeout}s "
            f"({last}): {self.log_tail()}"
        )

    def ping(self) -> bool:
        try:
            return command(self.host, self.port, "PING", password=self.password).startswith(
                b"+PONG"
            )
        except OSError:
            return False

    def turn_replica(self, *, serve_stale: bool = False) -> None:
        """What a failover looks like from a desk: this server turns replica of a
        primary it cannot reach. Blocked XREADs are answered `UNBLOCKED`, writes
        `READONLY`, and without `replica-serve-stale-data` reads and PING `MASTERDOWN`.
        Its data stays (no primary to sync from)."""
        stale = "yes" if serve_stale else "no"
        for args in (
            ("CONFIG", "SET", "replica-serve-stale-data", stale),
            ("REPLICAOF", self.host, str(free_port(self.host))),
        ):
            reply = command(self.host, self.port, *args, password=self.password)
            if not reply.startswith(b"+OK"):
                raise RedisServerError(f"{' '.join(args)}: {reply!r}")

    def turn_primary(self) -> None:
        """The failover is over: this server takes writes again."""
        reply = command(self.host, self.port, "REPLICAOF", "NO", "ONE", password=self.password)
        if not reply.startswith(b"+OK"):
            raise RedisServerError(f"REPLICAOF NO ONE: {reply!r}")

    def kill(self) -> None:
        """`kill -9` the server and wait for the process to be gone."""
        self._terminate(signal.SIGKILL)

    def restart(self) -> Self:
        """Start again on the same port and directory (an AOF, if any, is loaded)."""
        if self.running:
            self.kill()
        return self._start()

    async def akill(self) -> None:
        await asyncio.to_thread(self.kill)

    async def arestart(self) -> None:
        """`restart()` off the event loop, so the bus keeps running meanwhile."""
        await asyncio.to_thread(self.restart)

    def _terminate(self, sig: signal.Signals) -> None:
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(sig)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        self._proc = None

    def close(self) -> None:
        """Stop the server and remove its directory. Safe to call twice."""
        self._terminate(signal.SIGKILL)
        self._finalizer()

    def log_tail(self, lines: int = 15) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return " | ".join(text.strip().splitlines()[-lines:])

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"RedisServer(port={self.port}, persistence={self.persistence}, {state})"


def _cleanup(procs: list[subprocess.Popen[bytes] | None], directory: Path) -> None:
    for proc in procs:
        if proc is not None and proc.poll() is None:
            proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=10)
    shutil.rmtree(directory, ignore_errors=True)
