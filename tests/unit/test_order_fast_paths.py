"""The order state machine's fast paths give exactly what the plain pydantic code gave.

`Order.from_request` builds the order without validating it again, `Order.__setattr__`
bypasses pydantic's generic dispatch, and `apply_update` / `apply_fill` read and write
the model's `__dict__`. `PlainOrder` below is the state machine as it was before those
paths (commit 9b7670e; since taught the overfill record), on pydantic's own attribute
access, kept as the oracle: any
sequence of reports, fills included, must leave both with the same fields, the same
`model_fields_set` and the same results.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from silvertine_tui.domain import (
    ApplyResult,
    Fill,
    Order,
    OrderRequest,
    OrderStatus,
    OrderType,
    OrderUpdate,
    Side,
    TimeInForce,
)
from silvertine_tui.domain.money import ZERO
from silvertine_tui.domain.orders import Overfill

S = OrderStatus


class PlainOrder(Order):
    """The order state machine before its fast paths (the oracle)."""

    def __setattr__(self, name: str, value: Any) -> None:
        BaseModel.__setattr__(self, name, value)

    def _set_status(self, new: OrderStatus) -> None:
        if new is OrderStatus.NEW and self.filled_qty > 0:
            new = OrderStatus.PARTIALLY_FILLED
        self.status = new

    def apply_update(self, update: OrderUpdate) -> ApplyResult:
        if update.client_order_id != self.client_order_id:
            return ApplyResult.WRONG_ORDER
        if self.status.is_terminal:
            return ApplyResult.TERMINAL
        new = update.status
        if update.venue_order_id is not None and update.venue_order_id in self.retired_venue_ids:
            return ApplyResult.STALE
        replaced = (
            update.venue_order_id is not None
            and self.venue_order_id is not None
            and update.venue_order_id != self.venue_order_id
        )
        if not self.venue_order_id and update.venue_order_id:
            self.venue_order_id = update.venue_order_id
        amends = new is self.status and (
            (
                update.quantity is not None
                and update.quantity != self.quantity
                and update.quantity >= self.filled_qty
                and self.quote_quantity is None
            )
            or (update.limit_price is not None and update.limit_price != self.limit_price)
            or (update.stop_price is not None and update.stop_price != self.stop_price)
        )
        if new is self.status and new is not S.PARTIALLY_FILLED and not replaced and not amends:
            return ApplyResult.DUPLICATE
        if new not in _transitions()[self.status] and not (
            (replaced or amends) and new is self.status
        ):
            return ApplyResult.STALE
        if replaced:
            assert self.venue_order_id is not None
            self.retired_venue_ids.add(self.venue_order_id)
            self.venue_order_id = update.venue_order_id
        if (
            update.quantity is not None
            and update.quantity >= self.filled_qty
            and self.quote_quantity is None
        ):
            self.quantity = update.quantity
        if update.limit_price is not None:
            self.limit_price = update.limit_price
        if update.stop_price is not None:
            self.stop_price = update.stop_price
        if update.reason:
            self.reason = update.reason
        if new is S.FILLED and self.filled_qty < self.quantity:
            self.status = S.FILLED
            return ApplyResult.APPLIED
        self._set_status(new)
        return ApplyResult.APPLIED

    def apply_fill(self, fill: Fill) -> ApplyResult:
        if fill.client_order_id != self.client_order_id:
            return ApplyResult.WRONG_ORDER
        if fill.exec_id in self.exec_ids:
            return ApplyResult.DUPLICATE
        if self.overfill is not None and fill.exec_id in self.overfill.exec_ids:
            return ApplyResult.DUPLICATE
        by_quote = self.quote_quantity is not None
        if by_quote:
            assert self.quote_quantity is not None
            if self.filled_quote + fill.notional > self.quote_quantity:
                return self._plain_overfill(fill)
        elif self.filled_qty + fill.quantity > self.quantity:
            return self._plain_overfill(fill)
        self.exec_ids.add(fill.exec_id)
        previous_value = (self.avg_price or ZERO) * self.filled_qty
        self.filled_qty += fill.quantity
        self.filled_quote += fill.notional
        if by_quote:
            self.quantity = self.filled_qty
        self.avg_price = (previous_value + fill.quantity * fill.price) / self.filled_qty
        if fill.fee:
            self.fees[fill.fee_currency] = self.fees.get(fill.fee_currency, ZERO) + fill.fee
        if fill.venue_order_id and not self.venue_order_id:
            self.venue_order_id = fill.venue_order_id
        if not self.status.is_terminal:
            if self.filled_qty == self.quantity and not by_quote:
                self.status = S.FILLED
            elif self.status in (S.PENDING_NEW, S.NEW):
                self.status = S.PARTIALLY_FILLED
        return ApplyResult.APPLIED

    def _plain_overfill(self, fill: Fill) -> ApplyResult:
        """A refused overfill is recorded beside what filled, once per execution."""
        over = self.overfill or Overfill()
        self.overfill = Overfill(
            quantity=over.quantity + fill.quantity,
            quote=over.quote + fill.notional,
            exec_ids=over.exec_ids | {fill.exec_id},
        )
        return ApplyResult.OVERFILL


def _transitions() -> dict[OrderStatus, frozenset[OrderStatus]]:
    from silvertine_tui.domain import TRANSITIONS

    return TRANSITIONS


def _plain_from_request(request: OrderRequest) -> PlainOrder:
    """What `Order.from_request` made before: the validated constructor."""
    return PlainOrder(
        request=request,
        quantity=request.quantity if request.quantity is not None else ZERO,
        quote_quantity=request.quote_quantity,
        limit_price=request.limit_price,
        stop_price=request.stop_price,
    )


def _d(tenths: int) -> Decimal:
    return Decimal(tenths) / 10


requests = st.builds(
    lambda by_quote, qty, price, stop: OrderRequest(
        client_order_id="c1",
        broker="paper",
        account="main",
        instrument="BTCUSDT.PAPER",
        side=Side.BUY,
        order_type=OrderType.MARKET if by_quote else OrderType.STOP_LIMIT,
        quantity=None if by_quote else _d(qty),
        quote_quantity=_d(qty * 10) if by_quote else None,
        limit_price=None if by_quote else _d(price),
        stop_price=None if by_quote else (None if stop is None else _d(stop)),
        tif=TimeInForce.IOC if by_quote else TimeInForce.GTC,
    ),
    st.booleans(),
    st.integers(1, 20),
    st.integers(1, 50),
    st.none() | st.integers(1, 50),
)
coids = st.sampled_from(["c1", "c1", "c1", "other"])
venue_ids = st.sampled_from([None, None, "", "v1", "v2", "v3"])
amounts = st.none() | st.integers(1, 30).map(_d)
updates = st.builds(
    lambda coid, status, venue, qty, limit, stop, reason: OrderUpdate(
        client_order_id=coid,
        status=status,
        venue_order_id=venue,
        quantity=qty,
        limit_price=limit,
        stop_price=stop,
        reason=reason,
    ),
    coids,
    st.sampled_from(list(OrderStatus)),
    venue_ids,
    amounts,
    amounts,
    amounts,
    st.sampled_from(["", "", "venue says so"]),
)
fills = st.builds(
    lambda coid, exec_id, qty, price, fee, ccy, venue: Fill(
        exec_id=exec_id,
        client_order_id=coid,
        venue_order_id=venue,
        broker="paper",
        account="main",
        instrument="BTCUSDT.PAPER",
        side=Side.BUY,
        quantity=_d(qty),
        price=_d(price),
        fee=_d(fee),
        fee_currency=ccy,
    ),
    coids,
    st.sampled_from(["e1", "e2", "e3", "e4", "e5", "e6"]),
    st.integers(1, 8),
    st.integers(1, 50),
    st.integers(0, 3),
    st.sampled_from(["", "USDT", "BNB"]),
    venue_ids,
)


def _same(fast: Order, plain: Order) -> None:
    assert fast.model_dump() == plain.model_dump()
    assert fast.model_fields_set == plain.model_fields_set
    assert fast.__dict__ == plain.__dict__
    assert list(fast.__dict__) == list(plain.__dict__)


@settings(max_examples=400, deadline=None)
@given(requests, st.lists(updates | fills, max_size=25))
def test_any_sequence_of_reports_leaves_the_same_order(
    request: OrderRequest, reports: list[OrderUpdate | Fill]
) -> None:
    fast = Order.from_request(request)
    plain = _plain_from_request(request)
    _same(fast, plain)
    for report in reports:
        if isinstance(report, Fill):
            assert fast.apply_fill(report) == plain.apply_fill(report)
        else:
            assert fast.apply_update(report) == plain.apply_update(report)
        _same(fast, plain)


@given(requests)
def test_from_request_is_the_validated_order(request: OrderRequest) -> None:
    fast = Order.from_request(request)
    validated = Order(
        request=request,
        quantity=request.quantity if request.quantity is not None else ZERO,
        quote_quantity=request.quote_quantity,
        limit_price=request.limit_price,
        stop_price=request.stop_price,
    )
    assert fast == validated
    assert fast.model_fields_set == validated.model_fields_set
    assert fast.request is validated.request
    assert Order.model_validate(fast.model_dump()) == fast  # round trip, as a snapshot


def _limit_request() -> OrderRequest:
    return OrderRequest(
        client_order_id="c1",
        broker="paper",
        account="main",
        instrument="BTCUSDT.PAPER",
        side=Side.BUY,
        order_type=OrderType.LIMIT,
        quantity=Decimal(1),
        limit_price=Decimal(10),
    )


def test_setting_a_field_marks_it_set_and_anything_else_is_refused() -> None:
    order = Order.from_request(_limit_request())
    assert "reason" not in order.model_fields_set
    order.reason = "x"
    assert order.reason == "x"
    assert "reason" in order.model_fields_set
    with pytest.raises(ValueError, match="no field"):
        order.not_a_field = 1  # type: ignore[attr-defined]


def test_an_empty_venue_id_replaced_is_retired_as_before() -> None:
    """The corner hypothesis rarely reaches: a replace to an empty venue id, then a
    report with a new one (the order takes it, and retires it at once, as before)."""
    request = _limit_request()
    fast, plain = Order.from_request(request), _plain_from_request(request)
    for status, venue in ((S.NEW, "v1"), (S.PENDING_CANCEL, ""), (S.NEW, "v2"), (S.NEW, "v2")):
        update = OrderUpdate(client_order_id="c1", status=status, venue_order_id=venue)
        assert fast.apply_update(update) == plain.apply_update(update)
        _same(fast, plain)
    assert plain.retired_venue_ids == {"v1", "v2"}
