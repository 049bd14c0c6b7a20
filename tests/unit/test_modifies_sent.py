"""A row marked `NEW mod…` (this desk's modify accepted by the gateway, the journal not
showing it yet: ui/cancels_sent.py `ModifiesSent`) loses its mark once the journal says
anything of the order after the change went; one the journal answered before the
gateway did (the bus up) is never marked. The cancel's marks are kept apart."""

from __future__ import annotations

from silvertine_tui.domain import OrderStatus
from silvertine_tui.engine.projection import DeskProjection
from silvertine_tui.ui.cancels_sent import CancelsSent, ModifiesSent
from tests.unit.test_projection import request, update

COID = "st0000000000000001"


def working() -> DeskProjection:
    projection = DeskProjection()
    projection.apply(request(COID), "1-0")
    projection.apply(update(COID, OrderStatus.NEW), "1-1")
    return projection


def test_a_change_is_marked_until_the_journal_says_anything_after_it() -> None:
    projection = working()
    sent = ModifiesSent()
    assert sent.mark([COID], projection, since={COID: "1-1"}) == [COID]
    view = projection.order(COID)
    assert view is not None
    assert sent.pending(view)
    assert len(sent) == 1
    # The venue's answer, read once the bus is back: the new terms (NEW again).
    projection.apply(update(COID, OrderStatus.NEW), "1-2")
    assert not sent.pending(view)
    assert len(sent) == 0


def test_a_change_the_journal_answered_before_the_gateway_is_not_marked() -> None:
    projection = working()
    projection.apply(update(COID, OrderStatus.PENDING_REPLACE), "1-2")
    projection.apply(update(COID, OrderStatus.NEW), "1-3")  # replaced, the bus up
    sent = ModifiesSent()
    # (its last entry as the change went: before those two)
    assert sent.mark([COID], projection, since={COID: "1-1"}) == []
    view = projection.order(COID)
    assert view is not None
    assert not sent.pending(view)


def test_pending_replace_answers_a_change_not_a_cancel() -> None:
    projection = working()
    projection.apply(update(COID, OrderStatus.PENDING_REPLACE), "1-2")
    assert ModifiesSent().mark([COID], projection) == []
    assert CancelsSent().mark([COID], projection) == [COID]
