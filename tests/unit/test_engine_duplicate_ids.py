"""A client order id is used for one send attempt only: the engine refuses it after."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from silvertine_tui.brokers import OrderRejected
from silvertine_tui.brokers.errors import NotConnected
from silvertine_tui.bus import MemoryBus
from silvertine_tui.config import ExternalBrokerConfig, RiskConfig, RiskLimits
from silvertine_tui.domain import ConnectionState, OrderRequest, OrderType, Side
from silvertine_tui.engine.core import DuplicateOrderId, TradingEngine
from silvertine_tui.engine.recovery import recover, replay_stream
from silvertine_tui.engine.risk import RiskRejected
from silvertine_tui.events import RiskAction, RiskEvent
from tests.fakes.scripted_venue import INSTRUMENT, ScriptedVenue


class RefusingVenue(ScriptedVenue):
    """Refuses the orders whose ids the test lists, like a venue's reject."""

    refuse: frozenset[str] = frozenset()

    async def _submit(self, request: OrderRequest) -> None:
        if request.client_order_id in self.refuse:
            self.sent.append(request.client_order_id)
            raise OrderRejected("venue: price outside the band")
        await super()._submit(request)


async def make(risk: RiskConfig | None = None) -> tuple[MemoryBus, TradingEngine, RefusingVenue]:
    bus = MemoryBus()
    await bus.start()
    venue = RefusingVenue(ExternalBrokerConfig(name="scripted", type="scripted"), bus)
    engine = TradingEngine(bus, [venue], risk or RiskConfig())
    await venue.connect()
    await engine.load_instruments()
    return bus, engine, venue


async def sync(engine: TradingEngine) -> None:
    await replay_stream(engine, engine.bus.layout.exec("scripted", "main"))
    await replay_stream(engine, engine.bus.layout.risk)


def order(cid: str, qty: str = "2") -> OrderRequest:
    return OrderRequest(
        client_order_id=cid,
        broker="scripted",
        account="main",
        instrument=INSTRUMENT.key,
        side=Side.BUY,
        order_type=OrderType.LIMIT,
        quantity=D(qty),
        limit_price=D("10.00"),
    )


async def risk_rejects(bus: MemoryBus) -> list[tuple[str, str, str]]:
    return [
        (e.event.payload.rule, e.event.payload.client_order_id, e.event.payload.message)
        for e in await bus.read(bus.layout.risk)
        if isinstance(e.event, RiskEvent) and e.event.payload.action is RiskAction.REJECT
    ]


async def test_an_id_rejected_by_the_venue_is_never_sent_again() -> None:
    bus, engine, venue = await make()
    venue.refuse = frozenset({"c-1"})
    with pytest.raises(OrderRejected):
        await engine.submit(order("c-1"))
    await sync(engine)
    venue.refuse = frozenset()
    with pytest.raises(DuplicateOrderId, match="c-1 was already used") as caught:
        await engine.submit(order("c-1"))
    assert isinstance(caught.value, RiskRejected)  # the ticket shows it like a risk reject
    assert [v.rule for v in caught.value.violations] == ["duplicate_id"]
    assert "new ticket" in str(caught.value)
    assert venue.sent == ["c-1"]  # nothing reached the venue the second time
    rejects = await risk_rejects(bus)
    assert [(rule, cid) for rule, cid, _ in rejects] == [("duplicate_id", "c-1")]


async def test_an_id_is_refused_before_its_request_is_read_back_from_the_bus() -> None:
    _, engine, venue = await make()
    await engine.submit(order("c-1"))  # not applied yet: the OMS does not know it
    with pytest.raises(DuplicateOrderId):
        await engine.submit(order("c-1"))
    assert venue.sent == ["c-1"]


async def test_an_id_refused_by_the_risk_gate_is_not_reusable() -> None:
    cfg = RiskConfig(defaults=RiskLimits(max_quantity=D("1")))
    _, engine, venue = await make(cfg)
    with pytest.raises(RiskRejected, match="max_quantity"):
        await engine.submit(order("c-1", qty="2"))
    with pytest.raises(DuplicateOrderId):
        await engine.submit(order("c-1", qty="1"))
    assert venue.sent == []


async def test_an_id_refused_by_the_broker_before_journaling_is_not_reusable() -> None:
    _, engine, venue = await make()
    await venue.set_state(ConnectionState.DISCONNECTED, "link down")
    cfg_free = engine.gate.config.model_copy(update={"require_live": False})
    engine.gate.config = cfg_free
    with pytest.raises(NotConnected):
        await engine.submit(order("c-1"))
    await venue.connect()
    with pytest.raises(DuplicateOrderId):
        await engine.submit(order("c-1"))
    assert venue.sent == []


async def test_ids_are_remembered_across_a_restart() -> None:
    cfg = RiskConfig(defaults=RiskLimits(max_quantity=D("1")))
    bus, engine, venue = await make(cfg)
    await engine.submit(order("sent", qty="1"))
    with pytest.raises(RiskRejected):
        await engine.submit(order("gated", qty="5"))
    await sync(engine)

    fresh = TradingEngine(bus, [venue], cfg)
    await recover(fresh, [("scripted", "main")])
    for cid in ("sent", "gated"):
        with pytest.raises(DuplicateOrderId):
            await fresh.submit(order(cid, qty="1"))
    assert venue.sent == ["sent"]
    await fresh.submit(order("fresh", qty="1"))
    assert venue.sent == ["sent", "fresh"]
