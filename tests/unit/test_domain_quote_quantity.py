"""MARKET orders for an amount of the quote currency (Binance `quoteOrderQty`): the
request's rules and the order's invariants (base from the fills, overfill judged on the
quote amount, only the venue ends the order)."""

from __future__ import annotations

from decimal import Decimal as D

from hypothesis import given, settings
from hypothesis import strategies as st

from silvertine_tui.domain import (
    TRANSITIONS,
    ApplyResult,
    Capabilities,
    Fill,
    Instrument,
    Order,
    OrderRequest,
    OrderStatus,
    OrderType,
    OrderUpdate,
    Side,
    TimeInForce,
)

BTC = Instrument(
    symbol="BTCUSDT",
    venue="BINANCE",
    base_currency="BTC",
    quote_currency="USDT",
    tick_size=D("0.01"),
    lot_size=D("0.00001"),
    min_qty=D("0.0001"),
    min_notional=D("5"),
    max_notional=D("10000"),
    quote_step=D("0.01"),
)


def by_quote(amount: str = "500", **kw: object) -> OrderRequest:
    base: dict[str, object] = {
        "broker": "binance",
        "account": "main",
        "instrument": "BTCUSDT.BINANCE",
        "side": Side.BUY,
        "order_type": OrderType.MARKET,
        "quote_quantity": D(amount),
        "tif": TimeInForce.IOC,
    }
    base.update(kw)
    return OrderRequest.model_validate(base)


def rules(req: OrderRequest, market: D | None = None) -> set[tuple[str, str]]:
    return {(i.field, i.rule) for i in req.issues(BTC, market)}


def test_a_market_order_by_quote_amount_is_valid_without_a_quantity() -> None:
    req = by_quote("500")
    assert req.quantity is None
    assert rules(req, D("60000")) == set()
    assert req.notional_at(D("60000")) == D("500")  # the amount, not a price guess
    assert req.base_quantity(D("50000")) == D("0.01")


def test_each_rule_of_a_quote_amount_names_its_field() -> None:
    assert ("quote_quantity", "not_with_quantity") in rules(by_quote(quantity=D("0.01")))
    assert ("quote_quantity", "market_only") in rules(
        by_quote(order_type=OrderType.LIMIT, limit_price=D("60000"), tif=TimeInForce.GTC)
    )
    assert ("quote_quantity", "positive") in rules(by_quote("0"))
    assert ("quote_quantity", "quote_step") in rules(by_quote("500.001"))
    assert ("quote_quantity", "min_notional") in rules(by_quote("4.99"))
    assert ("quote_quantity", "max_notional") in rules(by_quote("10000.01"))
    # 5 USDT at 60,000 is 0.0000833 BTC: under the minimum quantity 0.0001
    assert ("quote_quantity", "min_qty") in rules(by_quote("5"), D("60000"))
    # neither amount nor quantity
    plain = OrderRequest(
        broker="b",
        account="a",
        instrument="BTCUSDT.BINANCE",
        side=Side.BUY,
        order_type=OrderType.MARKET,
        tif=TimeInForce.IOC,
    )
    assert ("quantity", "required") in rules(plain)


def test_a_venue_without_quote_quantity_refuses_it_naming_the_field() -> None:
    issues = Capabilities().issues("paper", OrderType.MARKET, TimeInForce.IOC, quote_quantity=True)
    assert [(i.field, i.rule) for i in issues] == [("quote_quantity", "supported")]
    able = Capabilities(quote_quantity_market=True)
    assert able.issues("binance", OrderType.MARKET, TimeInForce.IOC, quote_quantity=True) == []


def fill(order: Order, exec_id: str, qty: str, price: str) -> Fill:
    return Fill(
        exec_id=exec_id,
        client_order_id=order.client_order_id,
        broker="binance",
        account="main",
        instrument=order.request.instrument,
        side=order.request.side,
        quantity=D(qty),
        price=D(price),
    )


def update(order: Order, status: OrderStatus, **kw: object) -> OrderUpdate:
    return OrderUpdate.model_validate(
        {"client_order_id": order.client_order_id, "status": status, **kw}
    )


def test_base_quantity_comes_from_the_fills_and_the_venue_ends_the_order() -> None:
    o = Order.from_request(by_quote("500"))
    assert (o.quantity, o.quote_quantity, o.leaves_quote) == (D(0), D("500"), D("500"))
    o.apply_update(update(o, OrderStatus.NEW, venue_order_id="9"))
    assert o.apply_fill(fill(o, "t1", "0.004", "60000")) is ApplyResult.APPLIED  # 240
    assert o.apply_fill(fill(o, "t2", "0.004", "60010")) is ApplyResult.APPLIED  # 240.04
    assert o.status is OrderStatus.PARTIALLY_FILLED  # not FILLED by our arithmetic
    assert (o.filled_qty, o.quantity, o.filled_quote) == (D("0.008"), D("0.008"), D("480.04"))
    assert o.leaves_qty == 0
    assert o.leaves_quote == D("19.96")
    # 0.0004 more at 60,020 is 24.008: past the 500 given
    assert o.apply_fill(fill(o, "t3", "0.0004", "60020")) is ApplyResult.OVERFILL
    assert o.filled_quote == D("480.04")
    # the venue may keep some of the amount (lot step) and say FILLED
    assert o.apply_update(update(o, OrderStatus.FILLED, filled_qty=D("0.008"))) is (
        ApplyResult.APPLIED
    )
    assert o.status is OrderStatus.FILLED
    assert o.leaves_quote == 0
    assert o.avg_price == D("480.04") / D("0.008")


def test_a_modify_report_never_sets_the_base_quantity_of_an_order_by_quote() -> None:
    o = Order.from_request(by_quote("500"))
    o.apply_update(update(o, OrderStatus.NEW, quantity=D("5")))
    assert o.quantity == 0


step = st.one_of(
    st.tuples(st.just("update"), st.sampled_from(list(OrderStatus))),
    st.tuples(
        st.just("fill"),
        st.tuples(
            st.sampled_from(["e1", "e2", "e3", "e4", "e5", "e6"]),
            st.integers(min_value=1, max_value=40).map(lambda n: D(n) / 10000),
            st.integers(min_value=59_990, max_value=60_010).map(D),
        ),
    ),
)


@settings(max_examples=400, deadline=None)
@given(st.integers(min_value=10, max_value=2000), st.lists(step, max_size=30))
def test_order_by_quote_amount_properties(amount: int, steps: list[tuple[str, object]]) -> None:
    """Whatever the venue sends, in any order, duplicated or late:
    - the quote amount filled never exceeds the amount given, and never decreases;
    - the base quantity is the sum of the fills applied (each exec id once);
    - only a venue report makes it FILLED; a terminal status never changes.
    """
    o = Order.from_request(by_quote(str(amount)))
    seen: dict[str, tuple[D, D]] = {}
    for kind, arg in steps:
        before_status, before_quote = o.status, o.filled_quote
        if kind == "update":
            assert isinstance(arg, OrderStatus)
            result = o.apply_update(update(o, arg))
            if result is ApplyResult.APPLIED:
                assert arg in TRANSITIONS[before_status]
        else:
            assert isinstance(arg, tuple)
            exec_id, qty, price = arg
            result = o.apply_fill(fill(o, exec_id, str(qty), str(price)))
            if result is ApplyResult.APPLIED:
                assert exec_id not in seen
                seen[exec_id] = (qty, price)
            assert o.status is not OrderStatus.FILLED or before_status is OrderStatus.FILLED
        assert o.filled_quote <= D(amount)
        assert o.filled_quote >= before_quote
        assert o.filled_qty == sum((q for q, _ in seen.values()), D(0))
        assert o.filled_quote == sum((q * p for q, p in seen.values()), D(0))
        assert o.quantity == o.filled_qty
        assert o.leaves_qty == 0
        if before_status.is_terminal:
            assert o.status is before_status
            assert o.leaves_quote == 0
