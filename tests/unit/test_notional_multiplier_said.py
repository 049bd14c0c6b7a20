"""A future's notional over the limit names its own sum. ES 1 @ 5,900.00 is 295,000.00
USD of notional because of its x50 multiplier; the message said `notional 295,000.00
USD > max 100,000.00 (Qty x Price)`, and Qty x Price is 5,900. The gate's message and
the ticket's say the same words: `(1 x 5,900.00 x 50 multiplier)`."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal as D

from silvertine_tui.domain import Instrument, OrderRequest, OrderType
from silvertine_tui.engine.risk import RiskGate
from silvertine_tui.ui.orders import risk_problems
from tests.unit.test_engine_risk import BTC, World, config, order

ES = Instrument(
    symbol="ESZ6",
    venue="CME",
    quote_currency="USD",
    tick_size=D("0.25"),
    lot_size=D("1"),
    multiplier=D("50"),
)


@dataclass
class Futures(World):
    def instrument(self, broker: str, key: str) -> Instrument | None:
        return {ES.key: ES, BTC.key: BTC}.get(key)


WORLD = Futures(last={ES.key: D("5900.25"), BTC.key: D("65000")})


def es(qty: str, price: str | None) -> OrderRequest:
    return OrderRequest.model_validate(
        {
            "broker": "ib",
            "account": "DU1",
            "instrument": ES.key,
            "side": "BUY",
            "order_type": OrderType.LIMIT if price else OrderType.MARKET,
            "quantity": D(qty),
            "limit_price": D(price) if price else None,
            "tif": "DAY",
        }
    )


def gate_and_ticket(request: OrderRequest) -> tuple[str, str]:
    """The gate's max_notional message, and the ticket's line for it."""
    gate = RiskGate(config(max_notional="100000"))
    [violation] = [v for v in gate.check(request, WORLD) if v.rule == "max_notional"]
    [problem] = risk_problems([violation], request=request)
    return violation.message, str(problem)


def test_a_future_s_notional_names_its_multiplier_in_the_gate_and_the_ticket() -> None:
    gate, ticket = gate_and_ticket(es("1", "5900.00"))
    said = "notional 295,000.00 USD (1 x 5,900.00 x 50 multiplier) > max 100,000.00"
    assert gate == said
    assert ticket == f"Qty: {said} [max_notional]"
    # a multiplier of 1: Qty x Price is the sum, said as before
    gate, ticket = gate_and_ticket(order("2", "62500"))
    assert gate == "notional 125,000.00 USDT > max 100,000.00"
    assert ticket == "Qty: notional 125,000.00 USDT > max 100,000.00 (Qty x Price) [max_notional]"


def test_a_future_s_market_order_names_the_mark_it_is_judged_at() -> None:
    gate, ticket = gate_and_ticket(es("2", None))
    said = "notional 590,025.00 USD (2 x mark 5,900.25 x 50 multiplier) > max 100,000.00"
    assert gate == said
    assert ticket == f"Qty: {said} [max_notional]"
