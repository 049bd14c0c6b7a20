"""Redis restarts without its data under a desk that is HALTED or REDUCE ONLY: the desk
writes its trading state (and a snapshot) back, so the next start, and any desk
watching the streams, sees the state the trader set rather than ACTIVE."""

from __future__ import annotations

import asyncio

import pytest

from silvertine_tui.domain import TradingState
from silvertine_tui.engine import Session
from silvertine_tui.engine.snapshots import latest_snapshot
from silvertine_tui.events import RiskEvent
from tests.support.redis_server import RedisServer
from tests.support.session_child import settings

pytestmark = pytest.mark.redis


async def carried_states(session: Session) -> list[TradingState | None]:
    entries = await session.bus.read(session.bus.layout.risk)
    return [
        e.event.payload.trading_state
        for e in entries
        if isinstance(e.event, RiskEvent) and "Redis lost" in e.event.payload.message
    ]


@pytest.mark.parametrize("state", [TradingState.HALTED, TradingState.REDUCE_ONLY])
async def test_the_trading_state_survives_redis_losing_its_data(
    state: TradingState, key_prefix: str
) -> None:
    with RedisServer() as server:
        session = Session(settings(server.url, key_prefix))
        await session.start()
        try:
            if state is TradingState.HALTED:
                await session.engine.kill("drill")
            else:
                await session.engine.set_trading_state(state)
            await server.akill()
            await server.arestart()  # empty: the risk stream and the journal are gone
            for _ in range(200):  # found within the epoch check (1 s), then written
                if await carried_states(session) and await latest_snapshot(
                    session.bus, "paper", "main"
                ):
                    break
                await asyncio.sleep(0.1)
            assert await latest_snapshot(session.bus, "paper", "main") is not None
            assert session.bus.stats.data_loss_detected == 1
            assert await carried_states(session) == [state]
        finally:
            await session.close()

        restarted = Session(settings(server.url, key_prefix))
        await restarted.start()
        try:
            assert restarted.engine.gate.state is state
        finally:
            await restarted.close()
