"""`TrackedOrder.replacement_status`: whatever the journal reads of an order (any status
it can still move from) and whatever Binance says of a replacement of it, the status
the take publishes is one the journal takes (a step it allows, or the same status at a
new venue id, which the journal takes as the replace). Before, a replacement's NEW went
out as NEW over PARTIALLY_FILLED: a step back, dropped, the desk left at the old terms
(another program's cancelReplace of a part-filled order under its client order id)."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import example, given
from hypothesis import strategies as st

from silvertine_tui.brokers.binance.orders import TrackedOrder
from silvertine_tui.domain import (
    TRANSITIONS,
    ApplyResult,
    Order,
    OrderRequest,
    OrderStatus,
    OrderType,
    OrderUpdate,
    Side,
)

S = OrderStatus
WORKING = [s for s in S if not s.is_terminal]
# What Binance can say of a replacement it placed (its answer, a query, a report).
REPLACEMENT = [S.NEW, S.PARTIALLY_FILLED, S.FILLED, S.CANCELED, S.EXPIRED]


def tracked(status: OrderStatus | None, filled: Decimal = Decimal(0)) -> TrackedOrder:
    return TrackedOrder(
        client_order_id="o1",
        symbol="ETHUSDT",
        side=Side.BUY,
        order_type=OrderType.LIMIT,
        status=status,
        filled=filled,
    )


@given(st.sampled_from(WORKING), st.sampled_from(REPLACEMENT))
@example(S.PARTIALLY_FILLED, S.NEW)
def test_a_replacements_status_is_one_the_journal_takes(
    journal: OrderStatus, said: OrderStatus
) -> None:
    out = tracked(journal).replacement_status(said)
    assert out is said or (said is S.NEW and out is S.PARTIALLY_FILLED)
    assert out is journal or out in TRANSITIONS[journal]


@given(
    st.sampled_from(WORKING),
    st.sampled_from(REPLACEMENT),
    st.decimals(min_value=Decimal("0.01"), max_value=Decimal("0.9"), places=2),
)
@example(S.PENDING_REPLACE, S.NEW, Decimal("0.01"))
def test_a_replacement_of_an_order_that_filled_is_never_said_new(
    journal: OrderStatus, said: OrderStatus, filled: Decimal
) -> None:
    """This desk's own change of a part-filled order (its journal at PENDING_REPLACE):
    Binance's NEW for the replacement went out NEW, and the Log and `silvertine replay`
    read `NEW (modified) ... filled 0.01` (the Binance drill). Whatever the journal
    reads, an order that has filled is PARTIALLY_FILLED at its replacement's NEW."""
    out = tracked(journal, filled).replacement_status(said)
    assert out is not S.NEW
    assert out is said or (said is S.NEW and out is S.PARTIALLY_FILLED)
    assert out is journal or out in TRANSITIONS[journal]


@given(
    st.decimals(min_value=Decimal("0.1"), max_value=Decimal("0.9"), places=1),
    st.decimals(min_value=Decimal("0.1"), max_value=Decimal("0.9"), places=1),
)
@example(Decimal("0.4"), Decimal("0.6"))
def test_the_journal_takes_a_part_filled_orders_replacement(filled: Decimal, rest: Decimal) -> None:
    """The journal's own `Order`: PARTIALLY_FILLED at venue order 1, the replacement
    (venue order 2, at 1,985) taken at the status the adapter publishes."""
    order = Order.from_request(
        OrderRequest(
            client_order_id="o1",
            broker="binance",
            account="spot",
            instrument="ETHUSDT.BINANCE",
            side=Side.BUY,
            order_type=OrderType.LIMIT,
            quantity=Decimal("1.0"),
            limit_price=Decimal("1990"),
        )
    )
    journaled = OrderUpdate(
        client_order_id="o1", status=S.PARTIALLY_FILLED, venue_order_id="1", filled_qty=filled
    )
    assert order.apply_update(journaled) is ApplyResult.APPLIED
    status = tracked(S.PARTIALLY_FILLED).replacement_status(S.NEW)
    update = OrderUpdate(
        client_order_id="o1",
        status=status,
        venue_order_id="2",
        filled_qty=filled,
        quantity=filled + rest,
        limit_price=Decimal("1985"),
    )
    assert order.apply_update(update) is ApplyResult.APPLIED
    assert (order.venue_order_id, order.limit_price, order.quantity) == (
        "2",
        Decimal("1985"),
        filled + rest,
    )
