"""The risk gate and the engine with MARKET orders for an amount of the quote currency:
the notional is the amount itself; rules about base quantity judge it at the mark (and
refuse it without one); a working one counts against the position limit."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from silvertine_tui.config import RiskConfig, RiskLimits
from silvertine_tui.domain import (
    Capabilities,
    OrderRequest,
    OrderType,
    Quote,
    Side,
    TimeInForce,
)
from silvertine_tui.engine.core import TradingEngine
from silvertine_tui.engine.recovery import replay_stream
from silvertine_tui.engine.risk import RiskRejected
from silvertine_tui.events import QuoteEvent
from tests.fakes.scripted_venue import INSTRUMENT
from tests.unit.test_engine_gate import make, order, sync

QUOTE_CAPS = Capabilities(quote_quantity_market=True)


def spend(amount: str, side: Side = Side.BUY) -> OrderRequest:
    return OrderRequest(
        broker="scripted",
        account="main",
        instrument=INSTRUMENT.key,
        side=side,
        order_type=OrderType.MARKET,
        quote_quantity=D(amount),
        tif=TimeInForce.IOC,
    )


async def mark(engine: TradingEngine, price: str) -> None:
    bid, ask = D(price) - D("0.01"), D(price) + D("0.01")
    await engine.bus.publish(
        QuoteEvent.create("scripted", Quote(instrument=INSTRUMENT.key, bid=bid, ask=ask))
    )
    await replay_stream(engine, engine.bus.layout.md("scripted"))


async def test_max_notional_is_the_amount_itself_with_no_price_needed() -> None:
    _, engine, venue = await make(RiskConfig(defaults=RiskLimits(max_notional=D("500"))))
    venue.capabilities = QUOTE_CAPS
    with pytest.raises(RiskRejected, match=r"max_notional: notional 600.00 USD > max 500.00"):
        await engine.submit(spend("600"))
    await engine.submit(spend("500"))  # no quote yet: the amount is the notional
    assert len(venue.sent) == 1


async def test_a_broker_without_quote_amounts_refuses_before_sending() -> None:
    _, engine, venue = await make()
    with pytest.raises(RiskRejected) as caught:
        await engine.submit(spend("100"))
    (violation,) = caught.value.violations
    assert (violation.field, violation.rule) == ("quote_quantity", "supported")
    assert venue.sent == []


async def test_base_quantity_rules_judge_it_at_the_mark_and_refuse_without_one() -> None:
    _, engine, venue = await make(RiskConfig(defaults=RiskLimits(max_position=D("3"))))
    venue.capabilities = QUOTE_CAPS
    with pytest.raises(RiskRejected, match=r"no_price: no market price .* wait for a quote"):
        await engine.submit(spend("20"))
    await mark(engine, "10")
    # 50 USD at a mark of 10 is about 5 XYZ: past the limit of 3
    with pytest.raises(RiskRejected, match=r"max_position: position after fill 5"):
        await engine.submit(spend("50"))
    await engine.submit(spend("20"))  # about 2
    await sync(engine)
    assert engine.working_quantity("scripted", "main", INSTRUMENT.key, Side.BUY) == D(2)
    # the working order by amount counts: 2 + 2 > 3
    with pytest.raises(RiskRejected, match=r"working buy 2\b"):
        await engine.submit(order(qty="2"))
    assert len(venue.sent) == 1


async def test_max_quantity_says_the_estimate() -> None:
    _, engine, venue = await make(RiskConfig(defaults=RiskLimits(max_quantity=D("4"))))
    venue.capabilities = QUOTE_CAPS
    await mark(engine, "10")
    with pytest.raises(RiskRejected, match=r"max_quantity: quantity about 5.00000000 at mark 10"):
        await engine.submit(spend("50"))
