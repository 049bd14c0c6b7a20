"""`silvertine run --headless` logs the events of its own run, not the whole journal.

Before, its feed tailed every stream from `0-0`: each start copied the journal into the
log (100k events, 100k log lines), rotating away the previous run's log. Now each
stream is followed from where it ends when the bus is opened (before recovery and the
brokers' connect), as the UI's log starts from the recent past; older events are
`silvertine replay`'s."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from benchmarks.pty_child import terminal_env
from silvertine_tui.bus import BusOptions, create_bus
from silvertine_tui.events import Log, LogEvent
from tests.support.redis_server import RedisServer

pytestmark = pytest.mark.redis

OLD = 300


async def publish(url: str, prefix: str, messages: list[str]) -> None:
    bus = create_bus(url, BusOptions(prefix=prefix))
    await bus.start()
    for message in messages:
        await bus.publish(LogEvent.create("engine", Log(message=message)))
    await bus.flush()
    await bus.close()


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


def test_the_headless_log_starts_at_the_streams_ends(
    tmp_path: Path, redis_server: RedisServer, key_prefix: str
) -> None:
    asyncio.run(publish(redis_server.url, key_prefix, [f"old-run {i}" for i in range(OLD)]))
    log = tmp_path / "desk.log"
    config = tmp_path / "desk.yaml"
    config.write_text(
        f"bus: {{url: {redis_server.url!r}, prefix: {key_prefix}}}\n"
        f"log: {{file: {str(log)!r}}}\n"
        "brokers: [{name: paper, type: paper}]\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "silvertine_tui", "run", "--headless", "-c", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=terminal_env(tmp_path),
    )

    def events() -> list[dict[str, Any]]:
        return [r for r in records(log) if r["logger"] == "silvertine.events"]

    try:
        assert wait_for(lambda: "session.started" in [r["event"] for r in records(log)])
        asyncio.run(publish(redis_server.url, key_prefix, ["this run's event"]))
        assert wait_for(lambda: any("this run's event" in r["event"] for r in events()))
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err.decode()[-2000:]
    logged = [r["event"] for r in events()]
    assert not [e for e in logged if "old-run" in e], f"{len(logged)} lines: {logged[:3]}"
    # This run's own events from its start: the paper broker connecting (health).
    assert any(r["stream"] == f"{key_prefix}:health" and "paper" in r["event"] for r in events())
