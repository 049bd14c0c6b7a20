"""A watching desk does not keep a killed desk's engine line as current: a real desk in
its own process finds an anomaly (a report of an order its journal does not know) and
its engine says so on the health stream, then it is killed with SIGKILL. Its brokers
going quiet, its engine line reads STALE with its age (`AnomalySummary.silent_s`);
once a desk started in its place drives its broker, the line goes. Before, it stood as
current for good (`engine of desk vm pid 19978 DEGRADED ...` seven minutes after the
kill, beside the new desk's own line). The watching desk's clock is injected."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys

import pytest

from silvertine_tui.bus import BusOptions, create_bus
from silvertine_tui.domain import OrderStatus, OrderUpdate
from silvertine_tui.events import OrderUpdateEvent
from tests.support.desks import desk, until
from tests.support.redis_server import RedisServer

from .test_watch_stale import Clock, watcher

pytestmark = pytest.mark.redis


async def test_a_killed_desks_engine_line_goes_stale_then_a_new_desk_supersedes_it(
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
    writer = create_bus(redis_server.url, BusOptions(prefix=key_prefix, block_ms=100))
    restarted = None
    killed_name = f"desk {socket.gethostname()} pid {child.pid}"
    try:
        line = await asyncio.wait_for(child.stdout.readline(), 60)
        if not line:
            raise AssertionError((await child.stderr.read()).decode()[-3000:])
        await watch.start()
        await writer.start()
        view = watch.projection
        # A report of an order the desk's journal does not know: its engine counts an
        # anomaly and says so on the health stream, naming itself.
        await writer.publish(
            OrderUpdateEvent.create(
                "paper/main", OrderUpdate(client_order_id="elsewhere-1", status=OrderStatus.NEW)
            )
        )
        await until(lambda: [o.desk_name for o in view.anomalies.others] == [killed_name], 20)
        for _ in range(3):  # heard: its heartbeats arrive at the watching desk's time
            clock.advance(2.0)
            await asyncio.sleep(1.5)
        (line_of,) = view.anomalies.others
        assert line_of.silent_s is None

        child.send_signal(signal.SIGKILL)
        await child.wait()
        await asyncio.sleep(1.0)  # what it wrote before it died is read
        clock.advance(4.0)  # not yet
        await asyncio.sleep(0.3)
        assert view.anomalies.others[0].silent_s is None
        clock.advance(2.0)  # six seconds without a heartbeat from its process
        await until(lambda: view.anomalies.others[0].silent_s is not None)
        (line_of,) = view.anomalies.others
        assert line_of.silent_s == 6.0
        assert line_of.said_s is not None
        assert line_of.said_s >= 6.0
        assert "paper" in view.silent
        clock.advance(60.0)
        await until(lambda: view.anomalies.others[0].silent_s == 66.0)

        # A desk started in its place (in this process) drives paper: the killed desk's
        # word is superseded, its line gone.
        restarted = desk(redis_server.url, key_prefix, "paper")
        await restarted.start()
        await until(lambda: "paper" not in view.silent, 20)
        await until(lambda: all(o.desk_name != killed_name for o in view.anomalies.others))
        clock.advance(30.0)
        await asyncio.sleep(1.5)
        assert all(o.desk_name != killed_name for o in view.anomalies.others)
    finally:
        if child.returncode is None:
            child.send_signal(signal.SIGKILL)
            await child.wait()
        await watch.close()
        await writer.close()
        if restarted is not None:
            await restarted.close()
