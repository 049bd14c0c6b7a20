"""An order adopted on reconcile, with some of its fills missed while away, ends where
the venue says it is once it takes them (`recovery.before_fills`)."""

from __future__ import annotations

from decimal import Decimal as D

from hypothesis import given
from hypothesis import strategies as st

from silvertine_tui.domain import Fill, Order, OrderStatus, OrderType, Side, VenueOrder
from silvertine_tui.domain.orders import ApplyResult
from silvertine_tui.engine.recovery import before_fills

# A fill's quantity and price, in the steps a venue reports them.
fills_st = st.lists(
    st.tuples(
        st.integers(1, 500).map(lambda n: D(n) / 100),
        st.integers(1, 10_000_000).map(lambda n: D(n) / 100),
    ),
    min_size=1,
    max_size=8,
)


def fill(n: int, qty: D, price: D) -> Fill:
    return Fill(
        exec_id=f"x-{n}",
        client_order_id="ghost",
        broker="scripted",
        account="main",
        instrument="XYZ.SCRIPT",
        side=Side.BUY,
        quantity=qty,
        price=price,
    )


@given(fills_st, st.data())
def test_adopted_then_filled_is_the_venues_order(
    pairs: list[tuple[D, D]], data: st.DataObject
) -> None:
    made = [fill(n, q, p) for n, (q, p) in enumerate(pairs)]
    missed = made[data.draw(st.integers(0, len(made)), label="first missed fill") :]
    filled = sum((f.quantity for f in made), D(0))
    open_qty = data.draw(st.integers(1, 300), label="left open (hundredths)")
    venue = VenueOrder(
        client_order_id="ghost",
        venue_order_id="v-1",
        instrument="XYZ.SCRIPT",
        side=Side.BUY,
        order_type=OrderType.LIMIT,
        quantity=filled + D(open_qty) / 100,
        limit_price=D("100000"),
        filled_qty=filled,
        avg_price=sum((f.quantity * f.price for f in made), D(0)) / filled,
        status=OrderStatus.PARTIALLY_FILLED,
    )
    adopted = before_fills(venue, missed)
    assert adopted.filled_qty == filled - sum((f.quantity for f in missed), D(0))
    assert (adopted.status is OrderStatus.NEW) == (adopted.filled_qty == 0)
    order = Order.from_venue("scripted", "main", adopted)
    for f in missed:
        assert order.apply_fill(f) is ApplyResult.APPLIED
    assert order.filled_qty == venue.filled_qty
    assert order.status is OrderStatus.PARTIALLY_FILLED
    assert order.avg_price is not None
    assert venue.avg_price is not None
    # Equal but for Decimal's 28 significant digits, spent twice in the divisions.
    assert abs(order.avg_price - venue.avg_price) <= venue.avg_price * D("1e-24")


def test_nothing_missed_is_the_venues_order_untouched() -> None:
    venue = VenueOrder(
        client_order_id="ghost",
        instrument="XYZ.SCRIPT",
        side=Side.SELL,
        order_type=OrderType.LIMIT,
        quantity=D(3),
        filled_qty=D(1),
        avg_price=D(12),
        limit_price=D(12),
        status=OrderStatus.PARTIALLY_FILLED,
    )
    assert before_fills(venue, []) is venue
