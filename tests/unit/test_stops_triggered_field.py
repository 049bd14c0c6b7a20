"""A stop's trigger as a field of the order (`OrderUpdate.triggered`, `Order.triggered`,
`VenueOrder.triggered`), not only words in a report's reason: the paper venue said
`stop triggered: ask 65,003.25 >= stop 64,000.00` in an update whose status (NEW) the
order already had, so the order took nothing from it and the desk showed a triggered
stop as one still waiting. Old journals and snapshots decode as before (the field
defaults), and the wire of every other update is unchanged (None is left out)."""

from __future__ import annotations

from decimal import Decimal as D

from hypothesis import given
from hypothesis import strategies as st

from silvertine_tui.domain import (
    ApplyResult,
    Order,
    OrderStatus,
    OrderType,
    OrderUpdate,
    Side,
    VenueOrder,
)
from silvertine_tui.events import OrderUpdateEvent, decode, encode

from .test_paper_venue import req

BUY = Side.BUY


def working_stop_limit() -> Order:
    order = Order.from_request(
        req(BUY, "0.5", "2001.00", kind=OrderType.STOP_LIMIT, stop="2001.00")
    )
    accepted = OrderUpdate(
        client_order_id=order.client_order_id, status=OrderStatus.NEW, venue_order_id="P1"
    )
    assert order.apply_update(accepted) is ApplyResult.APPLIED
    return order


def test_a_trigger_report_of_the_status_the_order_has_marks_it_triggered() -> None:
    order = working_stop_limit()
    assert order.triggered is False
    trigger = OrderUpdate(
        client_order_id=order.client_order_id,
        status=OrderStatus.NEW,
        venue_order_id="P1",
        reason="stop triggered: ask 2,001.00 >= stop 2,001.00",
        triggered=True,
    )
    assert order.apply_update(trigger) is ApplyResult.APPLIED
    assert order.triggered is True
    assert order.status is OrderStatus.NEW
    assert order.reason.startswith("stop triggered")
    # The same report again changes nothing.
    assert order.apply_update(trigger) is ApplyResult.DUPLICATE
    # A later report that does not say it leaves it triggered.
    again = OrderUpdate(
        client_order_id=order.client_order_id, status=OrderStatus.NEW, venue_order_id="P1"
    )
    assert order.apply_update(again) is ApplyResult.DUPLICATE
    assert order.triggered is True


def test_only_a_trigger_report_carries_the_field_on_the_wire_and_old_entries_decode() -> None:
    plain = OrderUpdate(client_order_id="c1", status=OrderStatus.NEW, venue_order_id="P1")
    wire = encode(OrderUpdateEvent.create("paper/main", plain, ts=1))
    assert b"triggered" not in wire[b"p"]
    decoded = decode(wire)
    assert isinstance(decoded, OrderUpdateEvent)
    assert decoded.payload.triggered is None
    trigger = plain.model_copy(update={"triggered": True})
    wire = encode(OrderUpdateEvent.create("paper/main", trigger, ts=1))
    assert b'"triggered":true' in wire[b"p"]
    decoded = decode(wire)
    assert isinstance(decoded, OrderUpdateEvent)
    assert decoded.payload.triggered is True
    # An order of a snapshot written before the field: not triggered.
    old = working_stop_limit().model_dump(mode="json", exclude={"triggered"})
    assert Order.model_validate(old).triggered is False


def test_an_order_the_venue_holds_triggered_is_adopted_triggered() -> None:
    venue = VenueOrder(
        client_order_id="c9",
        venue_order_id="P9",
        instrument="ETHUSDT.PAPER",
        side=BUY,
        order_type=OrderType.STOP_LIMIT,
        quantity=D("1"),
        limit_price=D("2001.00"),
        stop_price=D("2000.00"),
        triggered=True,
    )
    assert Order.from_venue("paper", "main", venue).triggered is True
    waiting = venue.model_copy(update={"triggered": None})
    assert Order.from_venue("paper", "main", waiting).triggered is False


REPORT_STATUSES = st.sampled_from(list(OrderStatus))


@given(
    st.lists(
        st.tuples(REPORT_STATUSES, st.sampled_from([None, True, False])), min_size=1, max_size=12
    )
)
def test_triggered_is_what_the_last_applied_report_that_said_it_said(
    reports: list[tuple[OrderStatus, bool | None]],
) -> None:
    """Whatever reports come, in whatever order (late, duplicated, after the end): the
    order is triggered exactly when the last applied report that said it (True or
    False: a replacement whose stop waits again) said True."""
    order = working_stop_limit()
    expected = False
    for status, triggered in reports:
        update = OrderUpdate(
            client_order_id=order.client_order_id,
            status=status,
            venue_order_id="P1",
            triggered=triggered,
        )
        before = order.triggered
        result = order.apply_update(update)
        if result is ApplyResult.APPLIED and triggered is not None:
            expected = triggered
        if result is not ApplyResult.APPLIED:
            assert order.triggered == before
        assert order.triggered == expected
