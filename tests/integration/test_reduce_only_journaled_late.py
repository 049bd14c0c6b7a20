"""REDUCE ONLY set while Redis is frozen, Redis back before its cancels settle.

The state waits in the bus's memory (Redis out of reach) while the cancel of an order
that would add goes to the venue; the venue is slow to confirm, and Redis answers again
meanwhile, taking the state. The report is made once the cancels settle: it said
"REDUCE_ONLY holds on this desk; not journaled: ... waits in this desk's memory" after
Redis had taken it (the kill switch's report had the same staleness: mended there
first). Real `redis-server` (SIGSTOP/SIGCONT), the paper venue with a slow cancel."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass

import pytest

from silvertine_tui.config import Settings
from silvertine_tui.domain import OrderStatus, TradingState
from silvertine_tui.engine import Session
from silvertine_tui.engine.cancels import CancelReport
from silvertine_tui.events import RiskAction, RiskEvent
from tests.support.paper_session import resting_buy
from tests.support.redis_server import RedisServer
from tests.support.waiting import until

pytestmark = pytest.mark.redis

CANCEL_MS = 4_000
"""The paper venue's cancel latency: Redis is thawed well inside it."""


def settings(url: str, prefix: str) -> Settings:
    return Settings.model_validate(
        {
            "bus": {"url": url, "prefix": prefix},
            "brokers": [
                {
                    "name": "paper",
                    "type": "paper",
                    "seed": 7,
                    "symbols": ["BTCUSDT"],
                    "market": {"autorun": False},
                    "latency": {
                        "ack_ms": 10,
                        "fill_ms": 1,
                        "cancel_ms": CANCEL_MS,
                        "jitter_ms": 0,
                    },
                }
            ],
        }
    )


@dataclass
class Kept:
    session: Session
    cid: str
    task: asyncio.Future[CancelReport]

    def states(self) -> Awaitable[int]:
        return states_journaled(self.session)


async def states_journaled(session: Session) -> int:
    bus = session.bus
    return sum(
        1
        for e in await bus.read(bus.layout.risk)
        if isinstance(e.event, RiskEvent) and e.event.payload.action is RiskAction.STATE
    )


@contextlib.asynccontextmanager
async def reduce_only_kept(key_prefix: str) -> AsyncIterator[Kept]:
    """A paper buy working; Redis frozen and known down; REDUCE ONLY set, kept in the
    bus's memory while its cancel of the buy (which would add) takes CANCEL_MS; Redis
    thawed and the state read back, the report not made yet."""
    with RedisServer() as server:
        session = Session(settings(server.url, key_prefix))
        await session.start()
        engine = session.engine
        pid = server.pid
        assert pid is not None
        try:
            cid = await engine.submit(resting_buy(session))
            await until(
                lambda: (
                    (view := engine.oms.get(cid)) is not None
                    and view.order.status is OrderStatus.NEW
                ),
                what="the buy working",
            )
            os.kill(pid, signal.SIGSTOP)
            try:
                await until(lambda: not session.bus.stats.connected, 30, "Redis known down")
                task = asyncio.ensure_future(engine.set_trading_state(TradingState.REDUCE_ONLY))
                await until(
                    lambda: engine.state_unwritten is not None, 10, "REDUCE ONLY kept in memory"
                )
            finally:
                os.kill(pid, signal.SIGCONT)
            assert not task.done()  # (the venue's cancel takes CANCEL_MS)
            await until(lambda: engine.state_unwritten is None, 30, "REDUCE ONLY read back")
            assert not task.done()
            yield Kept(session, cid, task)
        finally:
            await asyncio.wait_for(session.close(), 60)


async def test_reduce_only_is_said_not_journaled_only_while_it_still_waits(
    key_prefix: str,
) -> None:
    async with reduce_only_kept(key_prefix) as kept:
        report = await asyncio.wait_for(kept.task, 60)
        assert report.cancelled == (kept.cid,), report
        said = [p for p in report.problems if "not journaled" in p]
        assert said == [], report.problems
        assert await kept.states() == 1  # written, once
        assert kept.session.engine.gate.state is TradingState.REDUCE_ONLY


async def test_reduce_only_s_report_is_its_own_when_a_kill_is_pulled_meanwhile(
    key_prefix: str,
) -> None:
    """REDUCE ONLY kept in memory (Redis frozen), Redis back and the state read back;
    the kill switch pulled while REDUCE ONLY's cancel still settles. One record of the
    state kept was shared: the kill's start wiped REDUCE ONLY's, whose report said
    "not journaled" after all (review G)."""
    async with reduce_only_kept(key_prefix) as kept:
        engine = kept.session.engine
        kill = await asyncio.wait_for(engine.kill("kill switch"), 60)
        report = await asyncio.wait_for(kept.task, 60)
        assert kill.journal_error == "", kill
        said = [p for p in report.problems if "not journaled" in p]
        assert said == [], report.problems
        assert await kept.states() == 1  # REDUCE ONLY written, once
        assert engine.gate.state is TradingState.HALTED
