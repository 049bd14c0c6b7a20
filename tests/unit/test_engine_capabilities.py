"""The engine refuses what the broker cannot do before anything is sent or journaled
(rule `supported`), and the refusal is in the risk journal (issue 11)."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from silvertine_tui.bus import MemoryBus
from silvertine_tui.config import RiskConfig
from silvertine_tui.domain import (
    Capabilities,
    ModifyStyle,
    OrderRequest,
    OrderType,
    Side,
    TimeInForce,
)
from silvertine_tui.engine.core import TradingEngine
from silvertine_tui.engine.recovery import replay_stream
from silvertine_tui.engine.risk import RiskRejected
from silvertine_tui.events import RiskEvent
from tests.fakes.scripted_venue import INSTRUMENT, ScriptedVenue

SPOT = Capabilities(
    order_types=frozenset({OrderType.MARKET, OrderType.LIMIT, OrderType.STOP_LIMIT}),
    tifs=frozenset({TimeInForce.GTC, TimeInForce.IOC, TimeInForce.FOK}),
    market_tifs=frozenset({TimeInForce.IOC, TimeInForce.FOK}),
    modify=ModifyStyle.NONE,
)


async def make() -> tuple[MemoryBus, TradingEngine, ScriptedVenue]:
    bus = MemoryBus()
    await bus.start()
    venue = ScriptedVenue.build(bus)
    venue.capabilities = SPOT
    engine = TradingEngine(bus, [venue], RiskConfig())
    await venue.connect()
    await engine.load_instruments()
    return bus, engine, venue


def request(**kw: object) -> OrderRequest:
    base = OrderRequest(
        broker="scripted",
        account="main",
        instrument=INSTRUMENT.key,
        side=Side.BUY,
        order_type=OrderType.LIMIT,
        quantity=D("1"),
        limit_price=D("10.00"),
    )
    return base.model_copy(update=kw)


async def test_an_order_type_the_broker_lacks_is_refused_before_anything_is_sent() -> None:
    bus, engine, venue = await make()
    stop = request(order_type=OrderType.STOP, limit_price=None, stop_price=D("11.00"))
    with pytest.raises(RiskRejected) as info:
        await engine.submit(stop)
    [violation] = info.value.violations
    assert (violation.rule, violation.field) == ("supported", "order_type")
    assert venue.sent == []
    assert await bus.read(bus.layout.exec("scripted", "main")) == []
    risk = [e.event for e in await bus.read(bus.layout.risk)]
    assert [e.payload.rule for e in risk if isinstance(e, RiskEvent)] == ["supported"]
    with pytest.raises(RiskRejected, match="does not take DAY"):
        await engine.submit(request(tif=TimeInForce.DAY))
    assert venue.sent == []


async def test_a_broker_that_cannot_modify_is_refused_before_anything_is_sent() -> None:
    bus, engine, venue = await make()
    cid = await engine.submit(request())
    await replay_stream(engine, bus.layout.exec("scripted", "main"))
    journaled = len(await bus.read(bus.layout.exec("scripted", "main")))
    with pytest.raises(RiskRejected, match="cannot change a working order"):
        await engine.modify(cid, limit_price=D("9.00"))
    assert len(await bus.read(bus.layout.exec("scripted", "main"))) == journaled
    assert venue.venue_orders[cid].limit_price == D("10.00")
