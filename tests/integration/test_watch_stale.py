"""A watching desk (`silvertine watch`) shows a broker whose desk was killed STALE: the
killed desk says nothing more on the health stream (no DISCONNECTED, as a desk that
quits says), and its last heartbeat read LIVE for ever. Heard from again (the desk
restarted), it is live again. A real trading desk in its own process, killed with
SIGKILL; the watching desk's clock is injected."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time

import pytest

from silvertine_tui.bus import BusOptions, create_bus
from silvertine_tui.config import Settings
from silvertine_tui.domain import ConnectionState
from silvertine_tui.engine.session import Alert
from silvertine_tui.engine.watch import WatchSession
from tests.support.desks import desk, until
from tests.support.redis_server import RedisServer

pytestmark = pytest.mark.redis


class Clock:
    """The watching desk's clock, moved by hand (from now: the replayed heartbeats
    carry the trading desk's real time)."""

    def __init__(self) -> None:
        self.t_ns = time.time_ns()

    def ns(self) -> int:
        return self.t_ns

    def advance(self, seconds: float) -> None:
        self.t_ns += int(seconds * 1e9)


def watcher(url: str, prefix: str, clock: Clock) -> WatchSession:
    settings = Settings.model_validate({"bus": {"url": url, "prefix": prefix}})
    bus = create_bus(url, BusOptions(prefix=prefix, block_ms=50, epoch_check_s=0.1, passive=True))
    return WatchSession(settings, bus=bus, clock=clock.ns, stale_after_s=5.0, stale_check_s=0.05)


def silent_alerts(watch: WatchSession) -> list[Alert]:
    return [a for a in watch.alerts if a.title == "paper/main not heard from"]


async def test_a_killed_desk_shows_stale_on_the_watching_desk_until_heard_again(
    redis_server: RedisServer, key_prefix: str
) -> None:
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.support.session_child",
        redis_server.url,
        key_prefix,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "XDG_STATE_HOME": "/tmp/silvertine-test-state"},
    )
    assert child.stdout is not None
    assert child.stderr is not None
    clock = Clock()
    watch = watcher(redis_server.url, key_prefix, clock)
    restarted = None
    try:
        line = await asyncio.wait_for(child.stdout.readline(), 60)
        if not line:
            raise AssertionError((await child.stderr.read()).decode()[-3000:])
        await watch.start()
        view = watch.projection
        assert watch.accounts() == [("paper", "main")]
        await until(lambda: view.broker_state("paper") is ConnectionState.LIVE)

        # Alive: its heartbeats keep it heard, however the clock moves between them.
        for _ in range(3):
            clock.advance(2.0)
            await asyncio.sleep(1.5)  # a heartbeat a second: heard at the new time
        assert view.silent == {}
        assert silent_alerts(watch) == []

        child.send_signal(signal.SIGKILL)
        await child.wait()
        await asyncio.sleep(1.0)  # what it wrote before it died is read
        heard = clock.ns()
        clock.advance(4.0)  # not yet
        await asyncio.sleep(0.3)
        assert view.silent == {}
        clock.advance(2.0)  # six seconds without a heartbeat
        await until(lambda: "paper" in view.silent)
        assert view.silent["paper"] == heard
        # Its last word still says LIVE: the pane says STALE from `silent`.
        assert view.broker_state("paper") is ConnectionState.LIVE
        (alert,) = silent_alerts(watch)
        assert alert.severity == "error"
        assert alert.message.startswith(
            "no heartbeat from paper/main for 6s (its desk sends one a second; it last said "
            "LIVE): the desk driving it may be down"
        )
        clock.advance(30.0)  # told once
        await asyncio.sleep(0.3)
        assert len(silent_alerts(watch)) == 1

        # The desk is started again (the killed one's claim is taken over at once):
        # heard from again, live again, and told.
        restarted = desk(redis_server.url, key_prefix, "paper")
        await restarted.start()
        await until(lambda: "paper" not in view.silent)
        assert any(
            a.title == "paper/main heard from again" and a.severity == "information"
            for a in watch.alerts
        )
        clock.advance(3.0)
        await asyncio.sleep(1.5)
        assert view.silent == {}
        assert len(silent_alerts(watch)) == 1
    finally:
        if child.returncode is None:
            child.send_signal(signal.SIGKILL)
            await child.wait()
        await watch.close()
        if restarted is not None:
            await restarted.close()


async def test_a_watching_desk_that_cannot_reach_redis_does_not_blame_the_desks(
    key_prefix: str,
) -> None:
    """Redis goes down under both desks: the watching desk hears no heartbeat, and it
    must not say the trading desk may be down (its own bus is, as its health and "Bus
    unreachable" toast say). Once Redis is back and the desk's heartbeats flow again,
    nothing was said against the desk."""
    server = RedisServer(persistence=True).start()
    clock = Clock()
    trading = desk(server.url, key_prefix, "paper")
    watch = watcher(server.url, key_prefix, clock)
    try:
        await trading.start()
        await watch.start()
        view = watch.projection
        await until(lambda: view.broker_state("paper") is ConnectionState.LIVE)
        for _ in range(2):  # past the silence check's first look (half the 5 s)
            clock.advance(1.0)
            await asyncio.sleep(1.5)  # heard at the new time
        assert view.silent == {}

        await server.akill()
        await until(lambda: not watch.bus.stats.connected)
        clock.advance(30.0)  # far past the 5 s a silent desk is given
        await asyncio.sleep(0.5)
        # Its state unknown here while this desk cannot read the bus (Orders and Health
        # say so alike), but no toast blames the desk.
        assert set(view.silent) == {"paper"}
        assert silent_alerts(watch) == []

        await server.arestart()
        await until(lambda: watch.bus.stats.connected, timeout=20)
        for _ in range(3):
            clock.advance(2.0)
            await asyncio.sleep(1.5)  # the desk's heartbeats are read again
        assert view.silent == {}
        assert silent_alerts(watch) == []
    finally:
        await watch.close()
        await trading.close()
        server.close()
