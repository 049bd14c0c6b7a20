"""A watching desk after an outage shows a dead desk's broker STALE, whatever arrives
late (the chaos review's M3). A broker is live on the watcher only on a heartbeat whose
own time is recent, never because entries written before the outage, or left unread in
Redis's socket while it was stopped, are read now.

Before: `kill -9` Redis, `kill -9` the desk, Redis restarted: the watcher read `paper/main
LIVE` with its orders plain `NEW` for five seconds (the marks of its own outage went the
moment it read the bus again), then `STALE not heard from for 20s`. Redis stopped
(SIGSTOP) while the desk wrote a heartbeat, the desk killed, Redis continued: the
heartbeat Redis took only then was read as the desk heard from again ("a desk drives
it again") for a desk that was dead.

A real trading desk in its own process (tests/support/session_child.py: two resting
orders), a Redis the test owns, the watching desk on the real clock."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
import time
from collections.abc import Callable
from typing import Any

import pytest
import redis.asyncio as aioredis

from silvertine_tui.bus import BusOptions, create_bus
from silvertine_tui.config import Settings
from silvertine_tui.domain import ConnectionState
from silvertine_tui.engine.session import Alert
from silvertine_tui.engine.watch import WatchSession
from tests.integration.test_watch_blind_spots import health_text
from tests.support.desks import until
from tests.support.redis_server import RedisServer, _encode_command

pytestmark = [pytest.mark.redis, pytest.mark.slow]

STALE_AFTER_S = 2.0


def watcher(url: str, prefix: str) -> WatchSession:
    settings = Settings.model_validate({"bus": {"url": url, "prefix": prefix}})
    bus = create_bus(url, BusOptions(prefix=prefix, block_ms=50, epoch_check_s=0.1, passive=True))
    return WatchSession(settings, bus=bus, stale_after_s=STALE_AFTER_S, stale_check_s=0.05)


def titled(watch: WatchSession, suffix: str) -> list[Alert]:
    return [a for a in watch.alerts if a.title == "paper/main" + suffix]


async def trading_child(url: str, prefix: str) -> asyncio.subprocess.Process:
    """The desk driving paper/main in its own process, once its orders rest."""
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.support.session_child",
        url,
        prefix,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=dict(os.environ),
    )
    assert child.stdout is not None
    assert child.stderr is not None
    line = await asyncio.wait_for(child.stdout.readline(), 60)
    if not line:
        raise AssertionError((await child.stderr.read()).decode()[-3000:])
    return child


async def watching_live(watch: WatchSession) -> None:
    """The watching desk up, the desk's two orders shown, its broker heard (past the
    silence check's first look)."""
    await watch.start()
    view = watch.projection
    await until(lambda: view.broker_state("paper") is ConnectionState.LIVE)
    await until(lambda: view.working_count() == 2)
    await asyncio.sleep(STALE_AFTER_S)
    assert view.silent == {}
    assert view.reports_unknown() == {"paper": ""}


async def never_live_for(watch: WatchSession, seconds: float) -> None:
    """For `seconds`, at every look: the broker marked STALE (the Health pane and the
    Orders pane read that one mark), never `paper/main LIVE`."""
    view = watch.projection
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert "paper" in view.silent, "the dead desk's broker read live"
        assert view.reports_unknown() == {"paper": "STALE"}
        text = health_text(watch, time.time())
        assert "paper/main LIVE" not in text, text
        assert "paper/main STALE  not heard from for" in text, text
        await asyncio.sleep(0.02)


async def test_a_desk_killed_while_redis_was_down_stays_stale_once_redis_is_back(
    key_prefix: str,
) -> None:
    server = RedisServer(persistence=True).start()
    child = await trading_child(server.url, key_prefix)
    watch = watcher(server.url, key_prefix)
    try:
        await watching_live(watch)
        view = watch.projection
        await server.akill()
        await until(lambda: not watch.bus.stats.connected)
        child.send_signal(signal.SIGKILL)
        await child.wait()
        await asyncio.sleep(3.0)
        assert "paper" in view.silent  # this desk cannot read the bus: not current
        assert titled(watch, " not heard from") == []  # its desk not blamed for that

        await server.arestart()
        await until(lambda: watch.bus.stats.connected, timeout=20)
        # Read again, nothing is heard of it: STALE all along (it read LIVE for the
        # five seconds a broker is given to be heard), then its desk is blamed, once.
        await never_live_for(watch, 2.5 * STALE_AFTER_S)
        (alert,) = titled(watch, " not heard from")
        assert alert.severity == "error"
        quiet = alert.message.removeprefix("no heartbeat from paper/main for ")
        assert quiet != alert.message
        assert int(quiet.partition("s")[0]) >= 5  # since its last heartbeat, not the outage
        assert titled(watch, " heard from again") == []
    finally:
        if child.returncode is None:
            child.send_signal(signal.SIGKILL)
            await child.wait()
        await watch.close()
        server.close()


async def heartbeat_to_send(url: str, prefix: str) -> Callable[[], tuple[bytes, int]]:
    """The desk's next heartbeat as its bus sends it (an XADD of the health stream, on
    the wire): its last one read back, with the id and time its process gives it when
    it is written (its node kept: the same desk). Returns (the command, its ts)."""
    client = aioredis.Redis.from_url(url)
    try:
        entries: Any = await client.xrevrange(f"{prefix}:health", count=50)
    finally:
        await client.aclose()
    fields = next(
        {k.decode(): v.decode() for k, v in raw.items()}
        for _, raw in entries
        if raw[b"t"] == b"health" and raw[b"src"] == b"broker:paper/main"
    )
    node = fields["id"][16:]

    def written() -> tuple[bytes, int]:
        now = time.time_ns()
        sent = {**fields, "id": f"{now:016x}{node}", "ts": str(now)}
        flat = [part for pair in sent.items() for part in pair]
        return _encode_command("XADD", f"{prefix}:health", "*", *flat), now

    return written


async def test_a_heartbeat_redis_took_late_from_a_dead_desk_is_not_heard_again(
    key_prefix: str,
) -> None:
    """Redis stopped (SIGSTOP) as the desk wrote a heartbeat: the command waits in
    Redis's socket, the desk is killed, and Redis takes it once it runs again (SIGCONT),
    seconds after the desk wrote it. Its own time is old: not heard again."""
    server = RedisServer(persistence=True).start()
    child = await trading_child(server.url, key_prefix)
    watch = watcher(server.url, key_prefix)
    pid = server.pid
    assert pid is not None
    stopped = False
    try:
        await watching_live(watch)
        view = watch.projection
        next_heartbeat = await heartbeat_to_send(server.url, key_prefix)
        wire = socket.create_connection((server.host, server.port))
        os.kill(pid, signal.SIGSTOP)
        stopped = True
        await asyncio.sleep(0.5)
        command, written_ns = next_heartbeat()
        wire.sendall(command)  # the desk's bus sends it; Redis does not read it yet
        wire.close()
        child.send_signal(signal.SIGKILL)  # ... and the desk dies
        await child.wait()
        await until(lambda: "paper" in view.silent, timeout=20)
        await asyncio.sleep(2.0 * STALE_AFTER_S)
        os.kill(pid, signal.SIGCONT)  # Redis takes it now
        stopped = False
        # The watching desk reads it (its word is the broker's last) ...
        await until(lambda: view.brokers["paper"].heard_ns == written_ns, timeout=20)
        # ... and does not take it for the desk heard from again.
        await never_live_for(watch, 2.5 * STALE_AFTER_S)
        assert titled(watch, " heard from again") == []
        assert len(titled(watch, " not heard from")) == 1
    finally:
        if stopped:
            os.kill(pid, signal.SIGCONT)
        if child.returncode is None:
            child.send_signal(signal.SIGKILL)
            await child.wait()
        await watch.close()
        server.close()
