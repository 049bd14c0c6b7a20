"""The orders that hold a position, as the ticket names them (`ui.orders.ahead_said`):
one the venue said FILLED whose fill has not arrived (`Order.owed_qty`: TWS's Filled
ahead of its execution) cannot be cancelled, so it is said apart, its fill on its way,
and only the working ones are told what to cancel or reduce. It read "the working SELL
5 ... holds the position: cancel it first" of a FILLED order (an IB desk review; the
desk itself: tests/ui/test_ib_fill_on_its_way.py)."""

from __future__ import annotations

from decimal import Decimal

from silvertine_tui.domain import (
    Order,
    OrderRequest,
    OrderStatus,
    OrderType,
    OrderUpdate,
    Side,
    TimeInForce,
)
from silvertine_tui.ui.orders import ahead_said


def sell(coid: str, qty: str, price: str, status: OrderStatus) -> Order:
    order = Order.from_request(
        OrderRequest(
            client_order_id=coid,
            broker="ib",
            account="DU123456",
            instrument="AAPL.SMART",
            side=Side.SELL,
            order_type=OrderType.LIMIT,
            quantity=Decimal(qty),
            limit_price=Decimal(price),
            tif=TimeInForce.GTC,
        )
    )
    order.apply_update(OrderUpdate(client_order_id=coid, status=OrderStatus.NEW))
    if status is not OrderStatus.NEW:
        order.apply_update(
            OrderUpdate(client_order_id=coid, status=status, filled_qty=Decimal(qty))
        )
    return order


FILLED_A = sell("st00000000000000000a", "5", "151", OrderStatus.FILLED)
FILLED_B = sell("st00000000000000000b", "2", "152", OrderStatus.FILLED)
WORKING = sell("st00000000000000000c", "3", "153", OrderStatus.NEW)
THEN = ", then this sale needs no margin"


def test_filled_orders_owe_their_fills() -> None:
    assert (FILLED_A.owed_qty, FILLED_B.owed_qty, WORKING.owed_qty) == (5, 2, 0)


def test_a_working_order_alone_is_said_as_before() -> None:
    assert ahead_said([WORKING], None, Decimal(1), THEN) == (
        "the working SELL 3 @ 153 (…000c) holds the position: cancel it or reduce it by 1 "
        "first, then this sale needs no margin"
    )


def test_a_filled_order_is_waited_for_never_cancelled() -> None:
    said = ahead_said([FILLED_A], None, Decimal(5), THEN)
    assert said == (
        "the FILLED SELL 5 @ 151 (…000a) holds the position: its fill is on its way "
        "(wait for it: a filled order cannot be cancelled)"
    )


def test_several_filled_orders() -> None:
    said = ahead_said([FILLED_A, FILLED_B], None, Decimal(7))
    assert said == (
        "the FILLED SELL 5 @ 151 (…000a) and SELL 2 @ 152 (…000b) hold the position: "
        "their fills are on their way (wait for them: a filled order cannot be cancelled)"
    )


def test_beside_a_working_one_only_the_working_one_is_to_cancel() -> None:
    """The working sell frees 3 at most: asked to free 2, reducing it is enough (and
    `then` holds); asked to free 6, cancelling it is not, and `then` is not said."""
    said = ahead_said([FILLED_A, WORKING], None, Decimal(2), THEN)
    assert said == (
        "the working SELL 3 @ 153 (…000c) holds the position: cancel it or reduce it by 2 "
        "first, then this sale needs no margin; the FILLED SELL 5 @ 151 (…000a) holds it "
        "too: its fill is on its way (wait for it: a filled order cannot be cancelled)"
    )
    said = ahead_said([FILLED_A, WORKING], None, Decimal(6), THEN)
    assert said == (
        "the working SELL 3 @ 153 (…000c) holds the position: cancel it first; the "
        "FILLED SELL 5 @ 151 (…000a) holds it too: its fill is on its way (wait for it: "
        "a filled order cannot be cancelled)"
    )
