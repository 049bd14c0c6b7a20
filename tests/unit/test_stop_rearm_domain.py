"""An order's trigger is what the venue last said of it (`OrderUpdate.triggered`): True
marks it, an explicit False clears it (Binance's replacement of a triggered stop, a new
stop which waits again), None (not said) leaves it. The order only ever took a trigger
before: a replacement's report could not clear it, and the desk showed `trg` and closed
the Stop of a stop that waited again at the venue."""

from __future__ import annotations

from decimal import Decimal as D

from hypothesis import given
from hypothesis import strategies as st

from silvertine_tui.domain import ApplyResult, Order, OrderStatus, OrderType, OrderUpdate, Side

from .test_paper_venue import req

S = OrderStatus


def triggered_stop_limit() -> Order:
    """A STOP_LIMIT NEW under venue order B1 whose stop has triggered."""
    order = Order.from_request(
        req(Side.SELL, "0.5", "1990.00", kind=OrderType.STOP_LIMIT, stop="1995.00")
    )
    coid = order.client_order_id
    for update in (
        OrderUpdate(client_order_id=coid, status=S.NEW, venue_order_id="B1"),
        OrderUpdate(client_order_id=coid, status=S.NEW, venue_order_id="B1", triggered=True),
    ):
        assert order.apply_update(update) is ApplyResult.APPLIED
    assert order.triggered is True
    return order


def test_the_replacement_of_a_triggered_stop_clears_its_trigger() -> None:
    """Binance's modify: PENDING_REPLACE, then the replacement's NEW (a new venue id, the
    new terms) saying its stop waits."""
    order = triggered_stop_limit()
    coid = order.client_order_id
    pending = OrderUpdate(client_order_id=coid, status=S.PENDING_REPLACE)
    assert order.apply_update(pending) is ApplyResult.APPLIED
    replacement = OrderUpdate(
        client_order_id=coid,
        status=S.NEW,
        venue_order_id="B2",
        limit_price=D("1985.00"),
        triggered=False,
    )
    assert order.apply_update(replacement) is ApplyResult.APPLIED
    assert (order.triggered, order.venue_order_id, order.limit_price) == (
        False,
        "B2",
        D("1985.00"),
    )
    # Not said (a later report of it): it stays as it is; its own trigger marks it.
    later = OrderUpdate(client_order_id=coid, status=S.NEW, venue_order_id="B2")
    assert order.apply_update(later) is ApplyResult.DUPLICATE
    assert order.triggered is False
    again = later.model_copy(update={"triggered": True})
    assert order.apply_update(again) is ApplyResult.APPLIED
    assert order.triggered is True


def test_a_report_of_the_status_the_order_has_that_says_it_waits_again_amends_it() -> None:
    """As a trigger does: NEW over NEW saying False is applied (not a DUPLICATE) where
    the order is triggered, and is a DUPLICATE where it already waits."""
    order = triggered_stop_limit()
    waits = OrderUpdate(
        client_order_id=order.client_order_id, status=S.NEW, venue_order_id="B1", triggered=False
    )
    assert order.apply_update(waits) is ApplyResult.APPLIED
    assert order.triggered is False
    assert order.apply_update(waits) is ApplyResult.DUPLICATE


@given(
    st.lists(
        st.tuples(
            st.sampled_from(list(OrderStatus)),
            st.sampled_from(["B1", "B2", None]),
            st.sampled_from([None, True, False]),
        ),
        min_size=1,
        max_size=12,
    )
)
def test_the_trigger_is_the_last_one_an_applied_report_said(
    reports: list[tuple[OrderStatus, str | None, bool | None]],
) -> None:
    """Whatever reports come, in whatever order (late, duplicated, replaced, after the
    end): the order's trigger is what the last applied report that said one said; a
    report not applied changes nothing."""
    order = triggered_stop_limit()
    expected = True
    for status, venue_id, triggered in reports:
        update = OrderUpdate(
            client_order_id=order.client_order_id,
            status=status,
            venue_order_id=venue_id,
            triggered=triggered,
        )
        before = order.triggered
        result = order.apply_update(update)
        if result is ApplyResult.APPLIED and triggered is not None:
            expected = triggered
        if result is not ApplyResult.APPLIED:
            assert order.triggered == before
        assert order.triggered == expected
