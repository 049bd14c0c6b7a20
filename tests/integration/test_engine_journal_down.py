"""No live order without a journal: with Redis down (execution events only buffered) a
live broker refuses new orders, cancels still go out, and paper trades on."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from decimal import Decimal as D

import pytest

from silvertine_tui.bus import BusOptions
from silvertine_tui.bus.redis_streams import RedisBus
from silvertine_tui.config import ExternalBrokerConfig, RiskConfig
from silvertine_tui.domain import OrderRequest, OrderType, Side, TradingState
from silvertine_tui.engine.commands import Accepted, EngineGateway, Failed, Resume, SetTradingState
from silvertine_tui.engine.core import TradingEngine
from silvertine_tui.engine.recovery import replay_stream
from silvertine_tui.engine.risk import RiskRejected
from silvertine_tui.events import RiskAction, RiskEvent
from tests.fakes.scripted_venue import INSTRUMENT, ScriptedVenue
from tests.support.redis_server import RedisServer

pytestmark = pytest.mark.redis


@pytest.fixture
def server() -> Iterator[RedisServer]:
    with RedisServer() as srv:
        yield srv


def order(broker: str) -> OrderRequest:
    return OrderRequest(
        broker=broker,
        account="main",
        instrument=INSTRUMENT.key,
        side=Side.BUY,
        order_type=OrderType.LIMIT,
        quantity=D("1"),
        limit_price=D("10.00"),
    )


async def test_a_live_broker_waits_for_the_journal(server: RedisServer, key_prefix: str) -> None:
    bus = RedisBus(server.url, BusOptions(prefix=key_prefix, block_ms=100, epoch_check_s=0.1))
    await bus.start()
    live = ScriptedVenue(ExternalBrokerConfig(name="live", type="scripted", live=True), bus)
    paper = ScriptedVenue(ExternalBrokerConfig(name="sim", type="scripted"), bus)
    engine = TradingEngine(bus, [live, paper], RiskConfig())
    try:
        for venue in (live, paper):
            await venue.connect()
        await engine.load_instruments()
        working = await engine.submit(order("live"))

        await server.akill()
        await engine.submit(order("sim"))  # paper goes on; its events wait in the buffer
        assert bus.stats.exec_buffered > 0
        with pytest.raises(RiskRejected, match=r"journal_down: broker live trades real money"):
            await engine.submit(order("live"))
        assert len(live.sent) == 1
        await live.cancel(working)  # cancels still go out
        assert live.venue_orders == {}

        await server.arestart()
        await asyncio.wait_for(bus.flush(), 15)
        for _ in range(100):
            if bus.stats.connected:
                break
            await asyncio.sleep(0.05)
        await engine.submit(order("live"))
        assert len(live.sent) == 2
    finally:
        await bus.close()


async def test_a_kill_with_redis_down_cancels_and_says_the_kill_is_not_journaled_yet(
    server: RedisServer, key_prefix: str
) -> None:
    """The bus keeps the KILL in memory (written when Redis is back): the kill switch
    does not call that journaled, since no other desk has seen it."""
    bus = RedisBus(server.url, BusOptions(prefix=key_prefix, block_ms=100, epoch_check_s=0.1))
    await bus.start()
    sim = ScriptedVenue(ExternalBrokerConfig(name="sim", type="scripted"), bus)
    engine = TradingEngine(bus, [sim], RiskConfig(), retry_delays=())
    try:
        await sim.connect()
        await engine.load_instruments()
        working = await engine.submit(order("sim"))
        await server.akill()
        report = await engine.kill("drill")
        assert report.cancelled == (working,)  # the venue is reached: it is cancelled
        assert not report.ok
        assert report.journal_error.startswith("Redis is unreachable: the KILL waits in")
        assert "The KILL was not journaled (Redis is unreachable" in report.summary()
        assert bus.stats.exec_buffered >= 1
        # The desk shows HALTED now (its gate is), not ACTIVE until Redis is back.
        assert engine.projection.trading_state is TradingState.HALTED
        assert engine.projection.journaled_state is TradingState.ACTIVE

        await server.arestart()
        await asyncio.wait_for(bus.flush(), 15)
        await replay_stream(engine, bus.layout.risk)  # the KILL read back
        assert engine.projection.journaled_state is TradingState.HALTED
        assert engine.projection.trading_state is TradingState.HALTED
    finally:
        await bus.close()


async def test_a_resume_with_redis_down_is_refused_not_kept_for_later(key_prefix: str) -> None:
    """A RESUME kept in memory went ACTIVE on this desk at once and was written when
    Redis came back, whenever that was, resuming every desk then. A looser state is
    taken only once journaled: with Redis unreachable it is refused, trading stays
    HALTED here and everywhere, and nothing waits to be written."""
    with RedisServer(persistence=True) as server:
        await _resume_with_redis_down(server, key_prefix)


async def _resume_with_redis_down(server: RedisServer, key_prefix: str) -> None:
    bus = RedisBus(server.url, BusOptions(prefix=key_prefix, block_ms=100, epoch_check_s=0.1))
    await bus.start()
    sim = ScriptedVenue(ExternalBrokerConfig(name="sim", type="scripted"), bus)
    engine = TradingEngine(bus, [sim], RiskConfig(), retry_delays=())
    gateway = EngineGateway(engine)
    try:
        await sim.connect()
        await engine.load_instruments()
        await engine.kill("drill")
        await replay_stream(engine, bus.layout.risk)
        await server.akill()
        for _ in range(100):
            if not bus.stats.connected:
                break
            await asyncio.sleep(0.05)
        for command in (Resume(), SetTradingState(state=TradingState.REDUCE_ONLY)):
            outcome = await gateway.send(command)
            assert isinstance(outcome, Failed), outcome
            assert outcome.error.startswith("Redis is unreachable: "), outcome.error
            assert "no desk has seen it; trading stays HALTED" in outcome.error
            assert engine.gate.state is TradingState.HALTED
            assert engine.projection.trading_state is TradingState.HALTED
        with pytest.raises(RiskRejected, match="trading_state"):
            await engine.submit(order("sim"))

        await server.arestart()
        await asyncio.wait_for(bus.flush(), 15)
        await replay_stream(engine, bus.layout.risk)
        risk = [
            e.event.payload
            for e in await bus.read(bus.layout.risk)
            if isinstance(e.event, RiskEvent)
        ]
        # Nothing loosened came out of the buffer: the KILL, then the order refused.
        assert [r.action for r in risk] == [RiskAction.KILL, RiskAction.REJECT], risk
        assert engine.gate.state is TradingState.HALTED
        for _ in range(100):
            if bus.stats.connected:
                break
            await asyncio.sleep(0.05)
        assert isinstance(await gateway.send(Resume()), Accepted)
        assert engine.gate.state is TradingState.ACTIVE
    finally:
        await bus.close()
