"""No live order without a journal, also in the moment before the bus knows Redis is gone.

The risk gate refuses a `live: true` broker's order while the bus reads disconnected or
holds an outage backlog (`journal_down`). Redis lost (killed, or frozen: a fork, swap, a
partition) just before the order leaves, the bus still read connected as the gate
looked, the XADD of the request failed, the request and its PENDING_NEW went to the
outage buffer, and the order went to the venue anyway: a real-money order that existed
nowhere but in this process's memory. Now a live broker writes what must be journaled
before a send unbuffered (`publish_now`) and sends nothing when it cannot: the trader
is told `journal_down`. Cancels keep the buffered path (they reduce risk, and the kill
switch must work during an outage); paper (not live) brokers keep it for everything.
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from decimal import Decimal as D

import pytest

from silvertine_tui.bus import BusOptions
from silvertine_tui.bus.redis_streams import RedisBus
from silvertine_tui.config import ExternalBrokerConfig, RiskConfig
from silvertine_tui.domain import OrderRequest, OrderStatus, OrderType, Side
from silvertine_tui.engine.commands import (
    Accepted,
    CancelOrder,
    EngineGateway,
    Failed,
    ModifyOrder,
    PlaceOrder,
)
from silvertine_tui.engine.core import TradingEngine
from silvertine_tui.engine.recovery import replay_stream
from tests.fakes.scripted_venue import INSTRUMENT, ScriptedVenue
from tests.support.redis_server import RedisServer
from tests.support.waiting import until

pytestmark = pytest.mark.redis


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


@asynccontextmanager
async def desk(
    server: RedisServer, key_prefix: str, *, live: bool, risk: RiskConfig | None = None
) -> AsyncIterator[tuple[RedisBus, ScriptedVenue, TradingEngine]]:
    # The watcher looks every second: the orders below go out before it does.
    bus = RedisBus(server.url, BusOptions(prefix=key_prefix, block_ms=100, epoch_check_s=1.0))
    await bus.start()
    venue = ScriptedVenue(ExternalBrokerConfig(name="venue", type="scripted", live=live), bus)
    engine = TradingEngine(bus, [venue], risk or RiskConfig())
    try:
        await venue.connect()
        await engine.load_instruments()
        yield bus, venue, engine
    finally:
        await bus.close()


@contextlib.contextmanager
def thawed_at_exit(server: RedisServer) -> Iterator[None]:
    """A server the test froze (SIGSTOP) is thawed whatever happens, so the desk's bus
    and the server close as usual."""
    try:
        yield
    finally:
        if server.pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(server.pid, signal.SIGCONT)


async def back(server: RedisServer, bus: RedisBus, fault: str) -> None:
    """Redis back (restarted from its AOF, or thawed), and the outage buffer written."""
    if fault == "kill":
        await server.arestart()
    else:
        assert server.pid is not None
        os.kill(server.pid, signal.SIGCONT)
    await until(lambda: bus.stats.connected and not bus.stats.exec_buffered, 20, "Redis back")


@pytest.mark.parametrize("fault", ["kill", "sigstop"])
async def test_a_live_order_is_not_sent_when_its_request_cannot_be_journaled(
    fault: str, key_prefix: str
) -> None:
    with RedisServer(persistence=True) as server, thawed_at_exit(server):
        async with desk(server, key_prefix, live=True) as (bus, venue, engine):
            if fault == "kill":
                await server.akill()  # Redis crashes
            else:
                assert server.pid is not None
                os.kill(server.pid, signal.SIGSTOP)  # Redis frozen
            assert bus.stats.connected  # the gate still finds the journal up
            request = order("venue")
            outcome = await EngineGateway(engine).send(PlaceOrder(request=request))

            assert venue.sent == [], "a live order went out with its request unjournaled"
            assert isinstance(outcome, Failed), outcome
            assert outcome.error_kind == "JournalDown", outcome
            assert outcome.error.startswith("journal_down: broker venue trades real money"), (
                outcome.error
            )
            assert "nothing was sent" in outcome.error, outcome.error
            assert "cancels still go through" in outcome.error, outcome.error

            # Once Redis takes writes again the journal does not hold an order
            # waiting for an answer that never comes: what may have landed of it
            # (the request's reply was lost) is followed by its rejection.
            await back(server, bus, fault)
            await replay_stream(engine, bus.layout.exec("venue", "main"))
            view = engine.oms.get(request.client_order_id)
            assert view is not None, "the refused order is not in the journal"
            assert view.order.status is OrderStatus.REJECTED, view.order.status
            assert "journal_down" in (view.order.reason or ""), view.order.reason
            assert venue.sent == []


async def test_a_live_modify_waits_for_the_journal_and_a_cancel_goes_out(
    key_prefix: str,
) -> None:
    with RedisServer() as server:
        async with desk(server, key_prefix, live=True) as (bus, venue, engine):
            gateway = EngineGateway(engine)
            placed = await gateway.send(PlaceOrder(request=order("venue")))
            assert isinstance(placed, Accepted), placed
            cid = placed.client_order_id
            await replay_stream(engine, bus.layout.exec("venue", "main"))  # working here

            await server.akill()
            assert bus.stats.connected
            changed = await gateway.send(ModifyOrder(client_order_id=cid, limit_price=D("11.00")))
            assert isinstance(changed, Failed), changed
            assert changed.error_kind == "JournalDown", changed
            assert "nothing was sent" in changed.error, changed.error
            assert venue.venue_orders[cid].limit_price == D("10.00"), "the change went out"

            # A cancel reduces risk: it goes out with its intent in the outage buffer.
            cancelled = await gateway.send(CancelOrder(client_order_id=cid))
            assert isinstance(cancelled, Accepted), cancelled
            assert venue.venue_orders == {}
            assert bus.stats.exec_buffered > 0


async def test_a_paper_broker_keeps_trading_into_the_outage_buffer(key_prefix: str) -> None:
    with RedisServer() as server:
        async with desk(server, key_prefix, live=False) as (bus, venue, engine):
            await server.akill()
            outcome = await EngineGateway(engine).send(PlaceOrder(request=order("venue")))
            assert isinstance(outcome, Accepted), outcome
            assert len(venue.sent) == 1
            assert bus.stats.exec_buffered > 0


async def test_a_live_broker_sends_unjournaled_when_the_risk_config_allows_it(
    key_prefix: str,
) -> None:
    """`risk.live_requires_journal: false` lets unjournaled live orders go: the gate's
    rule and the broker's write-now both."""
    with RedisServer() as server:
        allowed = RiskConfig(live_requires_journal=False)
        async with desk(server, key_prefix, live=True, risk=allowed) as (bus, venue, engine):
            await server.akill()
            outcome = await EngineGateway(engine).send(PlaceOrder(request=order("venue")))
            assert isinstance(outcome, Accepted), outcome
            assert len(venue.sent) == 1
            assert bus.stats.exec_buffered > 0
