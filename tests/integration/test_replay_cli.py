"""`silvertine replay` against a real Redis shows the events a test published."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from decimal import Decimal

import orjson
import pytest

from silvertine_tui.bus import BusOptions, create_bus
from silvertine_tui.domain import OrderStatus, OrderUpdate, Quote
from silvertine_tui.events import Log, LogEvent, OrderUpdateEvent, QuoteEvent
from tests.support.redis_server import RedisServer

pytestmark = pytest.mark.redis


async def publish(url: str, prefix: str) -> list[str]:
    bus = create_bus(url, BusOptions(prefix=prefix))
    await bus.start()
    events = [
        OrderUpdateEvent.create(
            "paper/main", OrderUpdate(client_order_id="st-replay-1", status=OrderStatus.NEW)
        ),
        LogEvent.create("engine", Log(message="hello from the replay test")),
        # Another process's words: an escape sequence is shown, never sent to the terminal.
        LogEvent.create("engine", Log(message="evil \x1b[2J\x1b[H here")),
        QuoteEvent.create("paper", Quote(instrument="BTCUSDT.PAPER", bid=Decimal("64999.5"))),
    ]
    for event in events:
        await bus.publish(event)
    await bus.flush()
    await bus.close()
    return [e.event_id for e in events]


def replay(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "silvertine_tui", "replay", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def test_replay_prints_a_table_and_json(redis_server: RedisServer, key_prefix: str) -> None:
    ids = await publish(redis_server.url, key_prefix)
    table = await asyncio.to_thread(replay, "--bus", redis_server.url, "--prefix", key_prefix)
    assert table.returncode == 0, table.stderr
    assert "NEW (st-replay-1)" in table.stdout
    assert "hello from the replay test" in table.stdout
    assert "BTCUSDT.PAPER bid 64,999.5" in table.stdout
    assert "exec:paper:main" in table.stdout
    assert "evil ␛[2J␛[H here" in table.stdout
    assert "\x1b" not in table.stdout

    as_json = await asyncio.to_thread(
        replay, "--bus", redis_server.url, "--prefix", key_prefix, "--json"
    )
    assert as_json.returncode == 0, as_json.stderr
    lines = [orjson.loads(line) for line in as_json.stdout.splitlines()]
    assert sorted(line["event"]["event_id"] for line in lines) == sorted(ids)

    one = await asyncio.to_thread(
        replay, "--bus", redis_server.url, "--prefix", key_prefix, "--stream", "exec:paper:main"
    )
    assert "st-replay-1" in one.stdout
    assert "hello from the replay test" not in one.stdout


async def test_replay_follow_prints_new_events(redis_server: RedisServer, key_prefix: str) -> None:
    await publish(redis_server.url, key_prefix)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "silvertine_tui",
        "replay",
        "--bus",
        redis_server.url,
        "--prefix",
        key_prefix,
        "--follow",
        "--limit",
        "5",  # the four published, then the late one
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None
    seen = b""
    async with asyncio.timeout(30):
        while b"hello from the replay test" not in seen:  # history printed
            seen += await proc.stdout.readline()
        bus = create_bus(redis_server.url, BusOptions(prefix=key_prefix))
        await bus.start()
        await bus.publish(LogEvent.create("engine", Log(message="a late event")))
        await bus.close()
        out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    assert b"a late event" in seen + out
