"""Every pre-trade rule, with the numbers in its message."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal as D

import pytest

from silvertine_tui.config import RiskConfig, RiskLimits
from silvertine_tui.domain import (
    ConnectionState,
    Instrument,
    OrderRequest,
    OrderType,
    Side,
    TradingState,
)
from silvertine_tui.engine.risk import RiskGate, RiskRejected

BTC = Instrument(
    symbol="BTCUSDT", venue="PAPER", quote_currency="USDT", tick_size=D("0.01"), lot_size=D("0.001")
)


@dataclass
class World:
    last: dict[str, D] = field(default_factory=lambda: {"BTCUSDT.PAPER": D("65000")})
    open: int = 0
    pos: D = D(0)
    state: ConnectionState = ConnectionState.LIVE

    def last_price(self, instrument: str) -> D | None:
        return self.last.get(instrument)

    def open_orders(self, broker: str) -> int:
        return self.open

    def position(self, broker: str, account: str, instrument: str) -> D:
        return self.pos

    def broker_state(self, broker: str) -> ConnectionState:
        return self.state

    def instrument(self, broker: str, key: str) -> Instrument | None:
        return BTC if key == BTC.key else None


def order(
    qty: str = "1", price: str | None = "65000", side: Side = Side.BUY, **kw: object
) -> OrderRequest:
    return OrderRequest.model_validate(
        {
            "broker": "paper",
            "account": "main",
            "instrument": "BTCUSDT.PAPER",
            "side": side,
            "order_type": OrderType.LIMIT if price else OrderType.MARKET,
            "quantity": D(qty),
            "limit_price": D(price) if price else None,
            "tif": "GTC" if price else "IOC",
            **kw,
        }
    )


def config(**limits: object) -> RiskConfig:
    base: dict[str, object] = {
        "max_notional": None,
        "price_collar_pct": None,
        "max_open_orders": None,
        "max_orders_per_s": None,
    }
    base.update(limits)
    return RiskConfig(defaults=RiskLimits.model_validate(base))


def messages(gate: RiskGate, request: OrderRequest, world: World | None = None) -> list[str]:
    return [str(v) for v in gate.check(request, world or World())]


def test_clean_order_passes() -> None:
    assert messages(RiskGate(RiskConfig()), order("1")) == []


def test_max_notional_names_the_numbers() -> None:
    gate = RiskGate(config(max_notional="100000"))
    assert messages(gate, order("2", "62500")) == [
        "max_notional: notional 125,000.00 USDT > max 100,000.00"
    ]
    # market orders are judged at the last price
    assert messages(gate, order("2", None)) == [
        "max_notional: notional 130,000.00 USDT > max 100,000.00"
    ]


def test_market_order_without_any_price_is_refused() -> None:
    gate = RiskGate(config(max_notional="100000"))
    world = World(last={})
    assert "no last price for BTCUSDT.PAPER" in messages(gate, order("1", None), world)[0]


def test_max_quantity() -> None:
    assert messages(RiskGate(config(max_quantity="0.5")), order("1")) == [
        "max_quantity: quantity 1 > max 0.5"
    ]


def test_price_collar() -> None:
    gate = RiskGate(config(price_collar_pct="5"))
    assert messages(gate, order("1", "70000")) == [
        "price_collar: limit_price 70,000 is 7.69% from last 65,000 > collar 5%"
    ]
    assert messages(gate, order("1", "68000")) == []


def test_max_open_orders() -> None:
    gate = RiskGate(config(max_open_orders=3))
    assert messages(gate, order(), World(open=3)) == ["max_open_orders: open orders 3 >= max 3"]
    assert messages(gate, order(), World(open=2)) == []


def test_order_rate_uses_a_sliding_second() -> None:
    now = [100.0]
    gate = RiskGate(config(max_orders_per_s=2), clock=lambda: now[0])
    world = World()
    gate.enforce(order(), world)
    gate.enforce(order(), world)
    with pytest.raises(RiskRejected, match=r"order_rate: 2 orders in the last second >= max 2/s"):
        gate.enforce(order(), world)
    now[0] += 1.01
    gate.enforce(order(), world)


def test_position_limit_counts_the_order() -> None:
    gate = RiskGate(config(max_position="3"))
    assert messages(gate, order("2"), World(pos=D("2"))) == [
        "max_position: position after fill 4 > max 3"
    ]
    assert messages(gate, order("2", side=Side.SELL), World(pos=D("2"))) == []


def test_broker_not_live() -> None:
    gate = RiskGate(config())
    assert messages(gate, order(), World(state=ConnectionState.RECONCILING)) == [
        "broker_not_live: broker paper is RECONCILING; orders need LIVE"
    ]


def test_trading_states() -> None:
    gate = RiskGate(config())
    gate.state = TradingState.HALTED
    assert messages(gate, order()) == [
        "trading_state: trading is HALTED (kill switch); resume first"
    ]
    gate.state = TradingState.REDUCE_ONLY
    assert messages(gate, order("1"), World(pos=D("2"))) == [
        "trading_state: REDUCE_ONLY: position 2 would become 3"
    ]
    assert messages(gate, order("1", side=Side.SELL), World(pos=D("2"))) == []
    assert messages(gate, order("5", side=Side.SELL), World(pos=D("2"))) != []


def test_limits_per_broker_and_symbol_override_only_what_they_set() -> None:
    cfg = RiskConfig(
        defaults=RiskLimits(max_notional=D("1000"), max_quantity=D("10")),
        brokers={"paper": RiskLimits.model_validate({"max_notional": "5000"})},
        symbols={"BTCUSDT": RiskLimits.model_validate({"max_quantity": "2"})},
    )
    limits = cfg.limits_for("paper", "BTCUSDT.PAPER")
    assert (limits.max_notional, limits.max_quantity) == (D("5000"), D("2"))
    other = cfg.limits_for("binance", "ETHUSDT.BINANCE")
    assert (other.max_notional, other.max_quantity) == (D("1000"), D("10"))


def test_rejected_orders_do_not_count_towards_the_rate() -> None:
    gate = RiskGate(config(max_orders_per_s=1, max_quantity="1"))
    with pytest.raises(RiskRejected):
        gate.enforce(order("5"), World())
    gate.enforce(order("1"), World())
