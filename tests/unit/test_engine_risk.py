"""Every pre-trade rule, with the numbers in its message."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal as D

import pytest
from hypothesis import given
from hypothesis import strategies as st

from silvertine_tui.config import RiskConfig, RiskLimits
from silvertine_tui.domain import (
    Capabilities,
    ConnectionState,
    Instrument,
    OrderRequest,
    OrderType,
    Side,
    TimeInForce,
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
    working: dict[Side, D] = field(default_factory=dict)
    owed: dict[Side, D] = field(default_factory=dict)
    """The part of `working` FILLED, its fills on their way."""
    basis: str = "mid"
    journal: str = ""
    live: bool = False
    caps: Capabilities | None = None

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

    def mark_basis(self, instrument: str) -> str:
        return self.basis

    def working_quantity(
        self, broker: str, account: str, instrument: str, side: Side, exclude: str = ""
    ) -> D:
        return self.working.get(side, D(0))

    def owed_quantity(
        self, broker: str, account: str, instrument: str, side: Side, exclude: str = ""
    ) -> D:
        return self.owed.get(side, D(0))

    def live_money(self, broker: str) -> bool:
        return self.live

    def journal_problem(self) -> str:
        return self.journal

    def capabilities(self, broker: str) -> Capabilities | None:
        return self.caps


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
    assert (
        "no market price (mid or last trade) for BTCUSDT.PAPER"
        in (messages(gate, order("1", None), world)[0])
    )


def test_max_quantity() -> None:
    assert messages(RiskGate(config(max_quantity="0.5")), order("1")) == [
        "max_quantity: quantity 1 > max 0.5"
    ]


def test_price_collar() -> None:
    gate = RiskGate(config(price_collar_pct="5"))
    assert messages(gate, order("1", "70000")) == [
        "price_collar: limit_price 70,000.00 is 7.69% from mark 65,000.00 (mid) > collar 5%"
    ]
    assert messages(gate, order("1", "68000")) == []


def test_price_collar_names_the_last_trade_when_the_mark_is_one() -> None:
    gate = RiskGate(config(price_collar_pct="5"))
    assert messages(gate, order("1", "70000"), World(basis="last trade")) == [
        (
            "price_collar: limit_price 70,000.00 is 7.69% from mark 65,000.00 (last trade) "
            "> collar 5%"
        )
    ]


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


@pytest.mark.parametrize("rate", [None, 1000])
def test_send_times_are_kept_for_a_second_only_with_or_without_a_rate_limit(
    rate: int | None,
) -> None:
    now = [100.0]
    gate = RiskGate(config(max_orders_per_s=rate), clock=lambda: now[0])
    for _ in range(1_000):
        gate.enforce(order(), World())
        now[0] += 0.25
    assert len(gate._sent["paper"]) <= 5  # the memory behind the rate rule


def test_position_limit_counts_the_order() -> None:
    gate = RiskGate(config(max_position="3"))
    assert messages(gate, order("2"), World(pos=D("2"))) == [
        "max_position: position after fill 4 > max 3 (position 2, working buy 0, this order 2)"
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
        "trading_state: trading is REDUCE ONLY: a buy adds to position 2; largest allowed 0"
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


def test_position_limit_counts_working_orders_on_the_same_side() -> None:
    gate = RiskGate(config(max_position="3"))
    world = World(pos=D("1"), working={Side.BUY: D("1.5")})
    assert messages(gate, order("1"), world) == [
        "max_position: position after fill 3.5 > max 3 (position 1, working buy 1.5, this order 1)"
    ]
    assert messages(gate, order("0.5"), world) == []
    # working sells do not make a buy riskier
    assert messages(gate, order("1"), World(pos=D("1"), working={Side.SELL: D("5")})) == []
    short = World(pos=D("-1"), working={Side.SELL: D("2")})
    assert messages(gate, order("1", side=Side.SELL), short) == [
        "max_position: position after fill -4 > max 3 (position -1, working sell 2, this order -1)"
    ]


@pytest.mark.parametrize("state", [TradingState.REDUCE_ONLY, None])
def test_reduce_only_never_crosses_zero(state: TradingState | None) -> None:
    gate = RiskGate(config())
    rule = (
        "trading_state: trading is REDUCE ONLY"
        if state
        else "reduce_only: order marked reduce-only"
    )
    if state is not None:
        gate.state = state
    flag = state is None

    def check(qty: str, side: Side, world: World) -> list[str]:
        return messages(gate, order(qty, side=side, reduce_only=flag), world)

    long1 = World(pos=D("1"))
    assert check("1.5", Side.SELL, long1) == [
        f"{rule}: a sell of 1.5 would take position 1 through zero; largest allowed 1"
    ]
    assert check("1", Side.SELL, long1) == []
    assert check("0.4", Side.SELL, long1) == []
    assert check("0.1", Side.BUY, long1) == [f"{rule}: a buy adds to position 1; largest allowed 0"]
    assert check("0.1", Side.SELL, World(pos=D(0))) == [
        f"{rule}: position is 0, nothing to reduce; largest allowed 0"
    ]
    short = World(pos=D("-2"))
    assert check("2", Side.BUY, short) == []
    assert check("2.5", Side.BUY, short) == [
        f"{rule}: a buy of 2.5 would take position -2 through zero; largest allowed 2"
    ]


@pytest.mark.parametrize("state", [TradingState.REDUCE_ONLY, None])
def test_a_reduce_only_refusal_names_the_field_it_is_mended_in(
    state: TradingState | None,
) -> None:
    """Shown beside the ticket's Side for every case, the refusal of a sell too large
    pointed at the side, where nothing is to mend: the quantity is."""
    gate = RiskGate(config())
    if state is not None:
        gate.state = state

    def fields(qty: str, side: Side, world: World) -> list[str]:
        request = order(qty, side=side, reduce_only=state is None)
        return [v.field for v in gate.check(request, world)]

    long1 = World(pos=D("1"))
    assert fields("1.5", Side.SELL, long1) == ["quantity"]
    assert fields("0.1", Side.BUY, long1) == ["side"]
    assert fields("0.1", Side.SELL, World(pos=D(0))) == [""]


def test_reduce_only_counts_what_is_already_working_to_close() -> None:
    gate = RiskGate(config())
    gate.state = TradingState.REDUCE_ONLY
    world = World(pos=D("1"), working={Side.SELL: D("0.6")})
    assert messages(gate, order("0.6", side=Side.SELL), world) == [
        "trading_state: trading is REDUCE ONLY: a sell of 0.6 would take position 1 through zero "
        "with 0.6 already working to sell; largest allowed 0.4"
    ]
    assert messages(gate, order("0.4", side=Side.SELL), world) == []
    # everything already working: nothing more may be sold
    full = World(pos=D("1"), working={Side.SELL: D("1")})
    assert messages(gate, order("0.1", side=Side.SELL), full) == [
        "trading_state: trading is REDUCE ONLY: a sell of 0.1 would take position 1 through zero "
        "with 1 already working to sell; largest allowed 0"
    ]


def test_reduce_only_says_a_filled_order_whose_fill_is_owed_as_filled_not_working() -> None:
    """TWS's Filled runs ahead of its execution: the gate counts the FILLED sell (the
    position does not hold it yet), but it works no more: "already working to sell"
    sent the trader looking for an order that is not there."""
    gate = RiskGate(config())
    owed_only = World(pos=D("5"), working={Side.SELL: D("5")}, owed={Side.SELL: D("5")})
    assert messages(gate, order("5", side=Side.SELL, reduce_only=True), owed_only) == [
        "reduce_only: order marked reduce-only: a sell of 5 would take position 5 through "
        "zero with 5 FILLED to sell, not in the position yet; largest allowed 0"
    ]
    both = World(pos=D("5"), working={Side.SELL: D("3.5")}, owed={Side.SELL: D("2.0")})
    assert messages(gate, order("2", side=Side.SELL, reduce_only=True), both) == [
        "reduce_only: order marked reduce-only: a sell of 2 would take position 5 through "
        "zero with 1.5 already working to sell and 2 FILLED to sell, not in the position yet; "
        "largest allowed 1.5"
    ]


@given(
    position=st.decimals(min_value=-5, max_value=5, places=1),
    working=st.decimals(min_value=0, max_value=5, places=1),
    qty=st.decimals(min_value="0.1", max_value=10, places=1),
    sell=st.booleans(),
)
def test_reduce_only_accepts_exactly_what_cannot_cross_zero(
    position: D, working: D, qty: D, sell: bool
) -> None:
    side = Side.SELL if sell else Side.BUY
    gate = RiskGate(config())
    world = World(pos=position, working={side: working})
    accepted = not messages(gate, order(str(qty), side=side, reduce_only=True), world)
    worst = position + (working + qty) * side.sign
    reduces = position != 0 and (position > 0) != (side.sign > 0)
    assert accepted == (reduces and (worst == 0 or (worst > 0) == (position > 0)))


def test_live_broker_needs_the_journal() -> None:
    gate = RiskGate(config())
    down = "the journal (redis bus) is disconnected"
    assert messages(gate, order(), World(live=True, journal=down)) == [
        "journal_down: broker paper trades real money and the journal (redis bus) is "
        "disconnected: nothing was sent; send it again once the journal is written "
        "(the bus in Health, 6); cancels still go through"
    ]
    assert messages(gate, order(), World(live=False, journal=down)) == []  # paper goes on
    assert messages(gate, order(), World(live=True, journal="")) == []
    relaxed = RiskGate(RiskConfig(live_requires_journal=False))
    assert messages(relaxed, order(), World(live=True, journal=down)) == []


# -- what the broker cannot do is refused before anything is sent ------------------------

SPOT_LIKE = Capabilities(
    order_types=frozenset({OrderType.MARKET, OrderType.LIMIT, OrderType.STOP_LIMIT}),
    tifs=frozenset({TimeInForce.GTC, TimeInForce.IOC, TimeInForce.FOK}),
    market_tifs=frozenset({TimeInForce.IOC, TimeInForce.FOK}),
    post_only=False,
)


@pytest.mark.parametrize(
    ("kw", "field", "words"),
    [
        (
            {"order_type": OrderType.STOP, "limit_price": None, "stop_price": D("64000")},
            "order_type",
            "does not take STOP orders (it takes MARKET, LIMIT, STOP_LIMIT)",
        ),
        ({"tif": TimeInForce.DAY}, "tif", "does not take DAY on LIMIT orders"),
        (
            {"order_type": OrderType.MARKET, "limit_price": None, "tif": TimeInForce.GTC},
            "tif",
            "does not take GTC on MARKET orders (it takes IOC, FOK)",
        ),
        ({"post_only": True}, "post_only", "has no post-only orders"),
    ],
)
def test_what_the_broker_cannot_do_is_refused_as_unsupported(
    kw: dict[str, object], field: str, words: str
) -> None:
    gate = RiskGate(RiskConfig())
    request = order().model_copy(update=kw)
    found = gate.check(request, World(caps=SPOT_LIKE))
    assert [(v.rule, v.field) for v in found] == [("supported", field)]
    assert words in found[0].message
    with pytest.raises(RiskRejected, match="supported"):
        gate.enforce(request, World(caps=SPOT_LIKE))


def test_what_the_broker_can_do_passes() -> None:
    gate = RiskGate(RiskConfig())
    assert gate.check(order(tif=TimeInForce.IOC), World(caps=SPOT_LIKE)) == []


def test_reduce_only_says_quantities_as_the_panes_show_them() -> None:
    """Arithmetic leaves trailing zeros (1.30000 - 2 = -0.70000): the message says -0.7."""
    gate = RiskGate(config())
    gate.state = TradingState.REDUCE_ONLY
    world = World(pos=D("1.30000") - D("2.00000"), working={Side.BUY: D("0.10000")})
    assert messages(gate, order("0.6500", side=Side.BUY), world) == [
        "trading_state: trading is REDUCE ONLY: a buy of 0.65 would take position -0.7 "
        "through zero with 0.1 already working to buy; largest allowed 0.6"
    ]
    assert messages(gate, order("0.50", side=Side.SELL), world) == [
        "trading_state: trading is REDUCE ONLY: a sell adds to position -0.7; largest allowed 0"
    ]
