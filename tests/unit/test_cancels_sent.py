"""A row marked `NEW cxl…` (this desk's cancel answered by the gateway, the journal not
showing it yet) loses its mark once the journal says anything of the order after the
mark: a cancel the venue refused reads PENDING_CANCEL then NEW again, and both read in
one batch (the bus back after an outage) left the row `NEW cxl…` for good, the trader
told a cancel was on its way that had failed."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from silvertine_tui.domain import OrderStatus
from silvertine_tui.engine.projection import DeskProjection
from silvertine_tui.ui.cancels_sent import CancelsSent
from tests.unit.test_projection import request, update

COID = "st0000000000000001"


def working() -> DeskProjection:
    projection = DeskProjection()
    projection.apply(request(COID), "1-0")
    projection.apply(update(COID, OrderStatus.NEW), "1-1")
    return projection


def test_a_cancel_refused_in_one_batch_clears_the_mark() -> None:
    projection = working()
    sent = CancelsSent()
    assert sent.mark([COID], projection) == [COID]
    view = projection.order(COID)
    assert view is not None
    assert sent.pending(view)  # nothing journaled since: marked
    projection.apply(update(COID, OrderStatus.PENDING_CANCEL), "1-2")
    projection.apply(update(COID, OrderStatus.NEW), "1-3")  # the venue refused it
    view = projection.order(COID)
    assert view is not None
    assert view.order.status is OrderStatus.NEW
    assert not sent.pending(view)
    assert len(sent) == 0


@given(st.lists(st.sampled_from(list(OrderStatus)), max_size=4))
def test_the_mark_stays_only_while_nothing_is_journaled_after_it(
    after: list[OrderStatus],
) -> None:
    projection = working()
    sent = CancelsSent()
    sent.mark([COID], projection)
    for n, status in enumerate(after):
        projection.apply(update(COID, status), f"2-{n}")
    view = projection.order(COID)
    assert view is not None
    moved = view.last_entry != "1-1"
    assert sent.pending(view) is not moved
