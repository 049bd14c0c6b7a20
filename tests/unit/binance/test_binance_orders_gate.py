"""The gate every Binance order update passes: whatever order and however often the
venue's reports arrive, the journal gets each state once and never a step back."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from silvertine_tui.brokers.binance.orders import TrackedOrder
from silvertine_tui.domain import OrderStatus, OrderType, OrderUpdate, Side

S = OrderStatus


def order() -> TrackedOrder:
    tracked = TrackedOrder("st-1", "ETHUSDT", Side.BUY, OrderType.LIMIT, quantity=Decimal(10))
    tracked.status = S.PENDING_NEW  # as `place` journals it
    return tracked


def venue_history(fills: list[int], end: OrderStatus) -> list[OrderUpdate]:
    """What Binance reports over an order's life: NEW, a report per fill, maybe an end."""
    reports = [OrderUpdate(client_order_id="st-1", status=S.NEW, filled_qty=Decimal(0))]
    total = 0
    for qty in fills:
        total += qty
        status = S.FILLED if total == 10 else S.PARTIALLY_FILLED
        reports.append(
            OrderUpdate(client_order_id="st-1", status=status, filled_qty=Decimal(total))
        )
    if total < 10 and end is not S.NEW:
        reports.append(OrderUpdate(client_order_id="st-1", status=end, filled_qty=Decimal(total)))
    return reports


histories = st.builds(
    venue_history,
    st.lists(st.integers(1, 4), max_size=6).map(
        lambda parts: [p for i, p in enumerate(parts) if sum(parts[: i + 1]) <= 10]
    ),
    st.sampled_from([S.NEW, S.CANCELED, S.EXPIRED]),
)


@given(histories, st.data())
def test_reports_in_any_order_and_repeated_publish_each_state_once_forwards(
    history: list[OrderUpdate], data: st.DataObject
) -> None:
    arrivals = data.draw(st.permutations(history + data.draw(st.lists(st.sampled_from(history)))))
    tracked = order()
    published: list[OrderUpdate] = []
    for update in arrivals:
        if tracked.is_news(update, local=False):
            tracked.record(update, local=False)
            published.append(update)
    states = [(u.status, u.filled_qty) for u in published]
    assert len(states) == len(set(states)), states
    filled = [u.filled_qty or 0 for u in published]
    assert filled == sorted(filled), states
    terminal = [u for u in published if u.status.is_terminal]
    assert len(terminal) <= 1
    if terminal:
        assert published[-1] is terminal[0]
    # The venue's final word always gets through when it is an end.
    last = history[-1]
    if last.status.is_terminal:
        assert published[-1].status is last.status


def test_our_steps_are_judged_against_the_journal() -> None:
    tracked = order()
    new = OrderUpdate(client_order_id="st-1", status=S.NEW, venue_order_id="1")
    assert tracked.is_news(new, local=False)
    tracked.record(new, local=False)
    cancel = OrderUpdate(client_order_id="st-1", status=S.PENDING_CANCEL)
    assert tracked.is_news(cancel, local=True)
    tracked.record(cancel, local=True)
    assert not tracked.is_news(cancel, local=True), "a second PENDING_CANCEL"
    assert not tracked.is_news(new, local=False), "the venue's NEW again, after our cancel"
    replaced = OrderUpdate(client_order_id="st-1", status=S.NEW, venue_order_id="2")
    assert tracked.is_news(replaced, local=False), "a new venue id is news"
