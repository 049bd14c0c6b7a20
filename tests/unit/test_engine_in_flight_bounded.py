"""The places the engine keeps on their way let go once read back, whatever rules the
desk runs: with no rule that counts working orders nothing asked, and every order of
the session stayed."""

from __future__ import annotations

from decimal import Decimal as D

from silvertine_tui.config import RiskConfig, RiskLimits
from silvertine_tui.domain import OrderRequest, OrderType, Side
from silvertine_tui.engine.core import TradingEngine
from tests.fakes.scripted_venue import INSTRUMENT, ScriptedVenue
from tests.unit.test_engine_kill import NO_WAIT, FlakyBus, sync


async def test_places_read_back_leave_without_a_rule_that_asks() -> None:
    bus = FlakyBus()
    await bus.start()
    venue = ScriptedVenue.build(bus, "v0")
    risk = RiskConfig(defaults=RiskLimits(max_open_orders=None, max_orders_per_s=None))
    engine = TradingEngine(bus, [venue], risk, retry_delays=NO_WAIT)
    await venue.connect()
    await engine.load_instruments()
    for _ in range(200):
        await engine.submit(
            OrderRequest(
                broker="v0",
                account="main",
                instrument=INSTRUMENT.key,
                side=Side.BUY,
                order_type=OrderType.LIMIT,
                quantity=D(1),
                limit_price=D("10.00"),
            )
        )
        await sync(engine)  # read back by the engine
    assert len(engine.oms.working()) == 200
    assert len(engine.in_flight) <= 1  # the last one, let go at the next place
