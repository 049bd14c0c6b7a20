"""A desk's close ends, whatever its claims' keeper is doing when it begins: here, when
another desk took a broker and the broker's close (on the claim's loss) is at the point
where it awaits one of its own tasks it just cancelled. A broker's close awaits those
under `contextlib.suppress(CancelledError)`, which swallows a cancel of the task running
it as well: run on the keeper's task, a `Session.close` landing there cancelled the
keeper for nothing, the keeper went on renewing, and the close waited for it for ever
(an idle event loop; the log's last line `claims.lost`: seen in CI under load, in
test_claims_split_brain's held-past-its-ttl test). On a real Redis."""

from __future__ import annotations

import asyncio
import os
import signal
import time
import types
from datetime import UTC, datetime
from typing import Any

import pytest
from redis.asyncio import Redis

from silvertine_tui.config import Settings
from silvertine_tui.domain import ConnectionState
from silvertine_tui.engine import Session
from silvertine_tui.engine.claims import DeskId
from tests.support.redis_server import RedisServer

pytestmark = pytest.mark.redis

ELSEWHERE = DeskId(desk="b", host="trading-host-2", pid=1, since=datetime(2026, 1, 2, tzinfo=UTC))

CLOSE_WITHIN_S = 10.0
"""Far more than a close takes (well under a second here), far less than for ever."""


def settings(url: str, prefix: str) -> Settings:
    return Settings.model_validate(
        {
            "bus": {"url": url, "prefix": prefix},
            "brokers": [
                {
                    "name": "paper",
                    "type": "paper",
                    "symbols": ["BTCUSDT"],
                    "market": {"autorun": False},
                    "latency": {"ack_ms": 0, "jitter_ms": 0},
                }
            ],
            "engine": {"claim_ttl_s": 1.0},
        }
    )


def awaiting(task: asyncio.Task[Any]) -> list[str]:
    """The coroutines `task` is suspended in, outermost first (`Task.get_stack` gives
    only the outermost one of a suspended task)."""
    frames: list[str] = []
    coro: Any = task.get_coro()
    while isinstance(coro, types.CoroutineType) and coro.cr_frame is not None:
        frames.append(coro.cr_frame.f_code.co_qualname)
        coro = coro.cr_await
    return frames


def closing_broker_at(where: str) -> asyncio.Task[Any] | None:
    """The task running `PaperBroker.close`, if it is suspended right where `where`
    awaits a task it cancelled (the keeper's before the fix, its own task after): in
    `where` itself, or in the `stop_task` it calls (brokers/stopping.py)."""
    for task in asyncio.all_tasks():
        frames = awaiting(task)
        if "PaperBroker.close" not in frames:
            continue
        if frames[-1] == where or frames[-2:] == [where, "stop_task"]:
            return task
    return None


@pytest.mark.parametrize(
    "where",
    [
        # awaiting its publisher task, just cancelled
        "PaperBroker.close",
        # awaiting its health task, just cancelled
        "Broker.stop_health_loop",
    ],
)
async def test_a_close_while_a_lost_brokers_close_awaits_its_tasks_ends(
    redis_server: RedisServer, key_prefix: str, where: str
) -> None:
    """Another desk takes the broker; the keeper finds it at its next renewal and the
    broker is closed. `Session.close` is called at the very step where that close
    awaits a task it cancelled (what a loaded machine makes happen now and then): it
    ends within a bound, the broker closed, no task of the desk left running. Before,
    the close never ended."""
    a = Session(settings(redis_server.url, key_prefix))
    await a.start()
    [paper] = a.brokers
    raw = Redis.from_url(redis_server.url)
    try:
        mine = asyncio.current_task()
        before = asyncio.all_tasks() - {mine}
        await raw.set(a.bus.layout.claim("paper"), ELSEWHERE.model_dump_json(), px=15_000)
        async with asyncio.timeout(5):  # a renewal every third of the 1 s ttl
            while closing_broker_at(where) is None:  # noqa: ASYNC110 - one step at a time
                await asyncio.sleep(0)
        assert "paper" in a.claims.lost
        began = time.monotonic()
        closing = asyncio.create_task(a.close())
        done, _ = await asyncio.wait([closing], timeout=CLOSE_WITHIN_S)
        stuck = sorted(" < ".join(awaiting(task)) for task in asyncio.all_tasks() - {mine})
        if not done:
            closing.cancel()
        assert done, f"the close did not end within {CLOSE_WITHIN_S} s: {stuck}"
        await closing
        assert time.monotonic() - began < CLOSE_WITHIN_S
        assert not before & asyncio.all_tasks(), stuck  # the keeper ended too
        assert paper.state is ConnectionState.DISCONNECTED
        assert not a.bus.stats.connected
        # Nothing of this desk's claims is left on the bus (it held none any more).
        held = await raw.get(a.bus.layout.claim("paper"))
        assert isinstance(held, bytes)
        assert held.decode() == ELSEWHERE.model_dump_json()
    finally:
        await raw.aclose()
        if a.started:
            await asyncio.wait_for(a.close(), CLOSE_WITHIN_S)


async def test_a_close_after_a_claim_was_lost_ends_when_redis_stops_answering(
    key_prefix: str,
) -> None:
    """The claim lost and its broker closed, then Redis stops answering (the server
    stopped: SIGSTOP, a frozen VM, a network that drops packets): the close gives up on
    each write within the bus's bounds (its socket timeout, 5 s; its flush, 2 s) and
    ends, the bus closed. Nothing in it waits on Redis for ever."""
    with RedisServer() as server:
        a = Session(settings(server.url, key_prefix))
        await a.start()
        [paper] = a.brokers
        raw = Redis.from_url(server.url)
        pid = server.pid
        assert pid is not None
        stopped = False
        try:
            await raw.set(a.bus.layout.claim("paper"), ELSEWHERE.model_dump_json(), px=15_000)
            async with asyncio.timeout(5):
                while paper.state is not ConnectionState.DISCONNECTED:  # noqa: ASYNC110
                    await asyncio.sleep(0.01)
            assert "paper" in a.claims.lost
            os.kill(pid, signal.SIGSTOP)
            stopped = True
            began = time.monotonic()
            await asyncio.wait_for(a.close(), 20)
            assert time.monotonic() - began < 20
            assert not a.bus.stats.connected
        finally:
            if stopped:
                os.kill(pid, signal.SIGCONT)
            await raw.aclose()
            if a.started:
                await asyncio.wait_for(a.close(), CLOSE_WITHIN_S)
