"""Order requests, validation messages and the order state machine."""

from __future__ import annotations

from decimal import Decimal as D

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from silvertine_tui.domain import (
    TRANSITIONS,
    ApplyResult,
    Fill,
    Instrument,
    Order,
    OrderRequest,
    OrderStatus,
    OrderType,
    OrderUpdate,
    OrderValidationError,
    Side,
    TimeInForce,
    new_client_order_id,
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
)


def request(**kw: object) -> OrderRequest:
    base: dict[str, object] = {
        "broker": "paper",
        "account": "main",
        "instrument": "BTCUSDT.BINANCE",
        "side": Side.BUY,
        "order_type": OrderType.LIMIT,
        "quantity": D("0.001"),
        "limit_price": D("65000.00"),
    }
    base.update(kw)
    return OrderRequest.model_validate(base)


def rules(req: OrderRequest, market: D | None = None) -> set[tuple[str, str]]:
    return {(i.field, i.rule) for i in req.issues(BTC, market)}


def test_valid_limit_order_has_no_issues() -> None:
    assert rules(request()) == set()
    request().validate_for(BTC)


@pytest.mark.parametrize(
    ("kw", "expected"),
    [
        ({"quantity": D("0")}, ("quantity", "positive")),
        ({"quantity": D("-1")}, ("quantity", "positive")),
        ({"quantity": D("0.000015")}, ("quantity", "lot_size")),
        ({"quantity": D("0.00005")}, ("quantity", "min_qty")),
        ({"limit_price": D("65000.005")}, ("limit_price", "tick_size")),
        ({"limit_price": D("0")}, ("limit_price", "positive")),
        ({"limit_price": None}, ("limit_price", "required")),
        ({"order_type": OrderType.STOP, "limit_price": None}, ("stop_price", "required")),
        ({"order_type": OrderType.MARKET}, ("limit_price", "not_allowed")),
        ({"stop_price": D("1")}, ("stop_price", "not_allowed")),
        ({"limit_price": D("1.00"), "quantity": D("0.001")}, ("quantity", "min_notional")),
        ({"instrument": "ETHUSDT.BINANCE"}, ("instrument", "match")),
        (
            {"order_type": OrderType.MARKET, "limit_price": None, "tif": TimeInForce.GTC},
            ("tif", "market_tif"),
        ),
    ],
)
def test_each_rule_names_field_and_rule(kw: dict[str, object], expected: tuple[str, str]) -> None:
    req = request(**kw)
    assert expected in rules(req)
    with pytest.raises(OrderValidationError) as err:
        req.validate_for(BTC)
    assert expected[0] in str(err.value)


def test_messages_say_the_numbers() -> None:
    issues = request(quantity=D("0.000015"), limit_price=D("65000.005")).issues(BTC)
    text = "; ".join(str(i) for i in issues)
    assert "quantity: 0.000015 is not a multiple of lot size 0.00001" in text
    assert "limit_price: 65,000.005 is not a multiple of tick size 0.01 (nearest 65,000.00)" in text


def test_market_notional_uses_market_price() -> None:
    req = request(order_type=OrderType.MARKET, limit_price=None, tif=TimeInForce.IOC)
    assert rules(req, market=D("1")) == {("quantity", "min_notional")}
    assert rules(req, market=D("65000")) == set()


def test_nan_and_infinity_are_refused() -> None:
    with pytest.raises(ValueError, match="quantity"):
        request(quantity=D("NaN"))
    with pytest.raises(ValueError, match="limit_price"):
        request(limit_price=D("Infinity"))


def test_client_order_id_fits_binance_rule() -> None:
    import re

    ids = {new_client_order_id() for _ in range(1000)}
    assert len(ids) == 1000
    assert all(re.fullmatch(r"[.A-Z:/a-z0-9_-]{1,36}", i) for i in ids)
    assert request().client_order_id != request().client_order_id


# -- state machine ----------------------------------------------------------------


def make_order(qty: str = "1.0") -> Order:
    return Order.from_request(request(quantity=D(qty)))


def fill(order: Order, exec_id: str, qty: str, price: str = "100") -> Fill:
    return Fill(
        exec_id=exec_id,
        client_order_id=order.client_order_id,
        broker="paper",
        account="main",
        instrument=order.request.instrument,
        side=order.request.side,
        quantity=D(qty),
        price=D(price),
        fee=D("0.01"),
        fee_currency="USDT",
    )


def update(order: Order, status: OrderStatus, **kw: object) -> OrderUpdate:
    return OrderUpdate.model_validate(
        {"client_order_id": order.client_order_id, "status": status, **kw}
    )


def test_happy_path_with_partial_fills() -> None:
    o = make_order("1.0")
    assert o.apply_update(update(o, OrderStatus.NEW, venue_order_id="v1")) is ApplyResult.APPLIED
    assert o.apply_fill(fill(o, "e1", "0.4", "100")) is ApplyResult.APPLIED
    assert o.status is OrderStatus.PARTIALLY_FILLED
    assert o.apply_fill(fill(o, "e2", "0.6", "110")) is ApplyResult.APPLIED
    assert o.status is OrderStatus.FILLED
    assert o.filled_qty == D("1.0")
    assert o.avg_price == D("106")
    assert o.fees == {"USDT": D("0.02")}
    assert o.leaves_qty == 0
    assert o.venue_order_id == "v1"


def test_late_new_never_moves_back() -> None:
    o = make_order()
    o.apply_update(update(o, OrderStatus.NEW))
    o.apply_fill(fill(o, "e1", "0.5"))
    assert o.apply_update(update(o, OrderStatus.NEW)) is ApplyResult.STALE
    assert o.status is OrderStatus.PARTIALLY_FILLED
    o.apply_update(update(o, OrderStatus.CANCELED))
    assert o.apply_update(update(o, OrderStatus.NEW)) is ApplyResult.TERMINAL
    assert o.status is OrderStatus.CANCELED


def test_duplicate_and_overfill_are_refused() -> None:
    o = make_order("1.0")
    assert o.apply_fill(fill(o, "e1", "0.7")) is ApplyResult.APPLIED
    assert o.apply_fill(fill(o, "e1", "0.7")) is ApplyResult.DUPLICATE
    assert o.apply_fill(fill(o, "e2", "0.5")) is ApplyResult.OVERFILL
    assert o.filled_qty == D("0.7")


def test_cancel_rejected_returns_to_working_state() -> None:
    o = make_order()
    o.apply_update(update(o, OrderStatus.NEW))
    o.apply_fill(fill(o, "e1", "0.5"))
    o.apply_update(update(o, OrderStatus.PENDING_CANCEL))
    # the venue refused the cancel and reports the order working again
    assert o.apply_update(update(o, OrderStatus.NEW)) is ApplyResult.APPLIED
    assert o.status is OrderStatus.PARTIALLY_FILLED


def test_replace_changes_terms_not_below_filled() -> None:
    o = make_order("1.0")
    o.apply_update(update(o, OrderStatus.NEW))
    o.apply_fill(fill(o, "e1", "0.5"))
    o.apply_update(update(o, OrderStatus.PENDING_REPLACE))
    o.apply_update(update(o, OrderStatus.NEW, quantity=D("2.0"), limit_price=D("64000.00")))
    assert (o.quantity, o.limit_price, o.status) == (
        D("2.0"),
        D("64000.00"),
        OrderStatus.PARTIALLY_FILLED,
    )


def test_terms_moved_in_place_at_the_venue_amend_the_order() -> None:
    """A report of the status the order has, under the same venue id, with other terms
    (TWS modifies in place; a reconcile finds the venue's terms): the terms are the
    venue's. The same report again changes nothing."""
    o = make_order("1.0")
    o.apply_update(update(o, OrderStatus.NEW, venue_order_id="v1"))
    moved = update(o, OrderStatus.NEW, venue_order_id="v1", limit_price=D("63000.00"))
    assert o.apply_update(moved) is ApplyResult.APPLIED
    assert (o.status, o.limit_price, o.venue_order_id) == (OrderStatus.NEW, D("63000.00"), "v1")
    assert o.apply_update(moved) is ApplyResult.DUPLICATE
    o.apply_fill(fill(o, "e1", "0.4"))
    grown = update(o, OrderStatus.PARTIALLY_FILLED, quantity=D("1.5"))
    assert o.apply_update(grown) is ApplyResult.APPLIED
    assert (o.status, o.quantity) == (OrderStatus.PARTIALLY_FILLED, D("1.5"))
    below = update(o, OrderStatus.PARTIALLY_FILLED, quantity=D("0.3"))
    o.apply_update(below)
    assert o.quantity == D("1.5"), "never below what has filled"


report_terms = st.none() | st.integers(1, 30).map(lambda n: D(n) / 10)
reports = st.builds(
    lambda status, venue, qty, limit: {
        "status": status,
        "venue_order_id": venue,
        "quantity": qty,
        "limit_price": limit,
    },
    st.sampled_from(list(OrderStatus)),
    st.sampled_from([None, "v1", "v2"]),
    report_terms,
    report_terms,
)


@settings(max_examples=300, deadline=None)
@given(st.lists(reports, max_size=20), st.integers(0, 10).map(lambda n: D(n) / 10))
def test_a_report_applied_twice_leaves_the_order_as_once(
    sequence: list[dict[str, object]], filled: D
) -> None:
    """Reports arrive twice (REST answer and user stream, a reconnect's catch-up): the
    second copy of any report, terms or not, changes nothing."""
    o = make_order("2.0")
    if filled:
        o.apply_fill(fill(o, "e0", str(filled)))
    for fields in sequence:
        report = update(o, **fields)  # type: ignore[arg-type]
        o.apply_update(report)
        once = o.model_dump()
        o.apply_update(report)
        assert o.model_dump() == once
        assert o.filled_qty <= o.quantity


def test_fill_after_cancel_is_money_but_status_stays() -> None:
    o = make_order("1.0")
    o.apply_update(update(o, OrderStatus.CANCELED))
    assert o.apply_fill(fill(o, "e1", "0.3")) is ApplyResult.APPLIED
    assert o.status is OrderStatus.CANCELED
    assert o.filled_qty == D("0.3")


def test_reports_for_another_order_are_refused() -> None:
    o = make_order()
    other = make_order()
    assert o.apply_update(update(other, OrderStatus.NEW)) is ApplyResult.WRONG_ORDER
    assert o.apply_fill(fill(other, "x", "0.1")) is ApplyResult.WRONG_ORDER


RANK = {
    OrderStatus.PENDING_NEW: 0,
    OrderStatus.NEW: 1,
    OrderStatus.PENDING_CANCEL: 1,
    OrderStatus.PENDING_REPLACE: 1,
    OrderStatus.PARTIALLY_FILLED: 2,
    OrderStatus.FILLED: 3,
    OrderStatus.CANCELED: 3,
    OrderStatus.REJECTED: 3,
    OrderStatus.EXPIRED: 3,
}

step = st.one_of(
    st.tuples(st.just("update"), st.sampled_from(list(OrderStatus))),
    st.tuples(
        st.just("fill"),
        st.tuples(
            st.sampled_from(["e1", "e2", "e3", "e4", "e5"]),
            st.integers(min_value=1, max_value=6).map(lambda n: D(n) / 10),
        ),
    ),
)


@settings(max_examples=400, deadline=None)
@given(st.lists(step, max_size=30))
def test_state_machine_properties(steps: list[tuple[str, object]]) -> None:
    """Whatever the venue sends, in any order, duplicated or late:
    - filled never exceeds the order quantity and never decreases;
    - a terminal status never changes;
    - the rank of the status never goes backwards, except the cancel/replace pending
      states returning to a working state;
    - each execution id counts once.
    """
    o = make_order("1.0")
    seen: dict[str, D] = {}
    for kind, arg in steps:
        before_status, before_filled = o.status, o.filled_qty
        if kind == "update":
            assert isinstance(arg, OrderStatus)
            result = o.apply_update(update(o, arg))
            if result is ApplyResult.APPLIED:
                assert arg in TRANSITIONS[before_status]
        else:
            assert isinstance(arg, tuple)
            exec_id: str = arg[0]
            qty: D = arg[1]
            result = o.apply_fill(fill(o, exec_id, str(qty)))
            if result is ApplyResult.APPLIED:
                assert exec_id not in seen
                seen[exec_id] = qty
        assert o.filled_qty <= o.quantity
        assert o.filled_qty >= before_filled
        assert o.filled_qty == sum(seen.values(), D(0))
        if before_status.is_terminal:
            assert o.status is before_status
        pending_back = before_status in (
            OrderStatus.PENDING_CANCEL,
            OrderStatus.PENDING_REPLACE,
        )
        if not pending_back:
            assert RANK[o.status] >= RANK[before_status] or (
                before_status is OrderStatus.PARTIALLY_FILLED
                and o.status in (OrderStatus.PENDING_CANCEL, OrderStatus.PENDING_REPLACE)
            )
        if o.status is OrderStatus.NEW:
            assert o.filled_qty == 0


def test_an_order_from_a_snapshot_before_fees_per_currency_still_reads() -> None:
    """Snapshots written by earlier builds carry one fee amount; refusing them would send
    recovery to a full replay of a journal that may be trimmed behind the snapshot."""
    o = make_order()
    old = o.model_dump(mode="json")
    old["fees"] = "0.37"
    assert Order.model_validate(old).fees == {"": D("0.37")}
    old["fees"] = "0"
    assert Order.model_validate(old).fees == {}
    assert Order.model_validate(o.model_dump(mode="json")).fees == {}


@given(
    price=st.decimals(min_value=D("0.01"), max_value=D("100000"), places=2),
    lot=st.sampled_from([D("0.00001"), D("0.001"), D("0.1"), D("1")]),
    minimum=st.sampled_from([D("1"), D("5"), D("10"), D("100")]),
)
def test_below_the_minimum_notional_says_the_smallest_quantity_that_reaches_it(
    price: D, lot: D, minimum: D
) -> None:
    """`notional 3.5 USDT < minimum 5` said what is wrong, not what to type: the message
    names the smallest quantity on the lot that reaches the minimum at the price, and
    that quantity passes where one lot less does not."""
    inst = BTC.model_copy(update={"lot_size": lot, "min_qty": D(0), "min_notional": minimum})
    small = request(quantity=lot, limit_price=price)
    found = [i for i in small.issues(inst) if i.rule == "min_notional"]
    if lot * price >= minimum:
        assert not found
        return
    (issue,) = found
    assert issue.field == "quantity"
    said = issue.message.split(": at least ")[1]
    qty = D(said.split(" at ")[0].replace(",", ""))
    assert said.endswith(f" at {price:,f}")
    ok = request(quantity=qty, limit_price=price)
    assert "min_notional" not in {i.rule for i in ok.issues(inst)}
    if qty > lot:
        less = request(quantity=qty - lot, limit_price=price)
        assert "min_notional" in {i.rule for i in less.issues(inst)}
