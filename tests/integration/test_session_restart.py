"""Kill a paper session on Redis without a clean shutdown; a new session on the same
Redis shows the same orders, positions and P&L, and sends nothing twice."""

from __future__ import annotations

import asyncio
import os
import signal
import sys

import orjson
import pytest

from silvertine_tui.engine import Session
from tests.support.redis_server import RedisServer
from tests.support.session_child import settings, state

pytestmark = pytest.mark.redis


async def journal_types(session: Session) -> list[str]:
    stream = session.bus.layout.exec("paper", "main")
    return [getattr(e.event, "type", "?") for e in await session.bus.read(stream)]


async def test_killed_session_restarts_with_the_same_state(
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
    try:
        line = await asyncio.wait_for(child.stdout.readline(), 60)
        if not line:
            raise AssertionError((await child.stderr.read()).decode()[-3000:])
        before = orjson.loads(line)
    finally:
        child.send_signal(signal.SIGKILL)
        await child.wait()

    session = Session(settings(redis_server.url, key_prefix))
    journal_before = None
    try:
        # what the killed process left in the journal
        await session.bus.start()
        journal_before = await journal_types(session)
        await session.bus.close()
        session = Session(settings(redis_server.url, key_prefix))
        await session.start()
        after = state(session.engine)
        assert after == before
        assert session.reconcile_findings == []
        assert len(before["working"]) == 2
        # nothing was sent again: no new order requests, no new fills
        await asyncio.sleep(0.5)
        journal_after = await journal_types(session)
        assert journal_after.count("order.request") == journal_before.count("order.request") == 3
        assert journal_after.count("fill") == journal_before.count("fill")
    finally:
        await session.close()
