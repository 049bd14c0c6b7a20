"""The risk gate fed by the engine's own state: OMS working orders, portfolio
positions and marks, and the bus's journal state."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from silvertine_tui.bus import MemoryBus
from silvertine_tui.config import ExternalBrokerConfig, RiskConfig, RiskLimits
from silvertine_tui.domain import Fill, OrderRequest, OrderType, Quote, Side
from silvertine_tui.engine.core import TradingEngine
from silvertine_tui.engine.recovery import replay_stream
from silvertine_tui.engine.risk import RiskRejected
from silvertine_tui.events import FillEvent, QuoteEvent
from tests.fakes.scripted_venue import INSTRUMENT, ScriptedVenue


async def make(
    risk: RiskConfig | None = None, *, live: bool = False
) -> tuple[MemoryBus, TradingEngine, ScriptedVenue]:
    bus = MemoryBus()
    await bus.start()
    config = ExternalBrokerConfig(name="scripted", type="scripted", account="main", live=live)
    venue = ScriptedVenue(config, bus)
    engine = TradingEngine(bus, [venue], risk or RiskConfig())
    await venue.connect()
    await engine.load_instruments()
    return bus, engine, venue


async def sync(engine: TradingEngine) -> None:
    await replay_stream(engine, engine.bus.layout.exec("scripted", "main"))


def order(
    side: Side = Side.BUY, qty: str = "1", price: str = "10.00", **kw: object
) -> OrderRequest:
    return OrderRequest.model_validate(
        {
            "broker": "scripted",
            "account": "main",
            "instrument": INSTRUMENT.key,
            "side": side,
            "order_type": OrderType.LIMIT,
            "quantity": D(qty),
            "limit_price": D(price),
            **kw,
        }
    )


async def fill_long(bus: MemoryBus, engine: TradingEngine, qty: str) -> None:
    """A position the venue built: the order and its fill as the venue reported them."""
    cid = await engine.submit(order(qty=qty))
    await bus.publish(
        FillEvent.create(
            "scripted/main",
            Fill(
                exec_id=f"x-{cid}",
                client_order_id=cid,
                broker="scripted",
                account="main",
                instrument=INSTRUMENT.key,
                side=Side.BUY,
                quantity=D(qty),
                price=D("10.00"),
            ),
        )
    )
    await sync(engine)


async def test_reduce_only_sell_larger_than_the_long_is_refused() -> None:
    bus, engine, venue = await make()
    await fill_long(bus, engine, "4")
    assert engine.position("scripted", "main", INSTRUMENT.key) == D("4")
    with pytest.raises(RiskRejected, match=r"through zero; largest allowed 4"):
        await engine.submit(order(Side.SELL, "5", reduce_only=True))
    # a working sell of 3 leaves 1 to close
    await engine.submit(order(Side.SELL, "3", price="11.00"))
    await sync(engine)
    with pytest.raises(RiskRejected, match=r"with 3 already working to sell; largest allowed 1"):
        await engine.submit(order(Side.SELL, "2", reduce_only=True))
    await engine.submit(order(Side.SELL, "1", reduce_only=True))
    assert len(venue.sent) == 3


async def test_modify_does_not_count_the_order_against_itself() -> None:
    _, engine, _ = await make(RiskConfig(defaults=RiskLimits(max_position=D("3"))))
    cid = await engine.submit(order(qty="2"))
    await sync(engine)
    with pytest.raises(RiskRejected, match=r"max_position: position after fill 4 > max 3"):
        await engine.submit(order(qty="2"))
    await engine.modify(cid, quantity=D("3"))  # 3, not 2 + 3


async def test_the_collar_says_which_price_the_mark_is() -> None:
    bus, engine, _ = await make(RiskConfig(defaults=RiskLimits(price_collar_pct=D("5"))))
    await bus.publish(QuoteEvent.create("scripted", Quote(instrument=INSTRUMENT.key, last=D("10"))))
    await replay_stream(engine, bus.layout.md("scripted"))
    with pytest.raises(RiskRejected, match=r"from mark 10\.00 \(last trade\)"):
        await engine.submit(order(price="12.00"))
    await bus.publish(
        QuoteEvent.create(
            "scripted",
            Quote(instrument=INSTRUMENT.key, bid=D("9.99"), ask=D("10.01"), last=D("10.50")),
        )
    )
    await replay_stream(engine, bus.layout.md("scripted"))
    assert engine.last_price(INSTRUMENT.key) == D("10.00")  # the mid, not the last trade
    with pytest.raises(RiskRejected, match=r"from mark 10\.00 \(mid\)"):
        await engine.submit(order(price="12.00"))


async def test_a_live_broker_refuses_orders_while_the_journal_only_buffers() -> None:
    bus, engine, venue = await make(live=True)
    await engine.submit(order())
    bus.stats.exec_buffered = 3  # what a Redis bus reports during an outage
    with pytest.raises(RiskRejected, match=r"journal_down: .* 3 execution events wait"):
        await engine.submit(order())
    bus.stats.exec_buffered = 0
    bus.stats.connected = False
    with pytest.raises(RiskRejected, match=r"journal_down: .*memory bus\) is disconnected"):
        await engine.submit(order())
    assert len(venue.sent) == 1
    await sync(engine)
    (working,) = engine.oms.working()
    await engine.cancel(working.client_order_id)  # cancels still go through
    assert venue.venue_orders == {}


async def test_a_paper_broker_goes_on_while_the_journal_only_buffers() -> None:
    bus, engine, venue = await make(live=False)
    bus.stats.exec_buffered = 3
    await engine.submit(order())
    assert len(venue.sent) == 1


def test_the_ticket_shows_the_new_rules_against_the_right_field() -> None:
    from silvertine_tui.engine.risk import RiskViolation
    from silvertine_tui.ui.orders import risk_problems

    found = risk_problems(
        [RiskViolation("journal_down", "journal down"), RiskViolation("duplicate_id", "used")]
    )
    assert [(p.field, p.rule) for p in found] == [("account", "journal_down"), ("", "duplicate_id")]
