"""The OMS rebuilds order state from events, idempotently and in any report order."""

from __future__ import annotations

from decimal import Decimal as D

from hypothesis import given, settings
from hypothesis import strategies as st

from silvertine_tui.domain import (
    Fill,
    OrderRequest,
    OrderStatus,
    OrderType,
    OrderUpdate,
    Side,
    VenueOrder,
)
from silvertine_tui.engine.oms import OMS, PARKED_ORDERS, Outcome
from silvertine_tui.events import (
    EventBase,
    FillEvent,
    OrderRequestEvent,
    OrderUpdateEvent,
    Reconcile,
    ReconcileEvent,
    ReconcileKind,
)

SRC = "paper/main"


def req(cid: str = "c1", qty: str = "2", *, ts: int | None = None) -> OrderRequestEvent:
    return OrderRequestEvent.create(
        SRC,
        OrderRequest(
            client_order_id=cid,
            broker="paper",
            account="main",
            instrument="X.PAPER",
            side=Side.BUY,
            order_type=OrderType.LIMIT,
            quantity=D(qty),
            limit_price=D("10"),
        ),
        ts=ts,
    )


def upd(status: OrderStatus, cid: str = "c1", *, ts: int | None = None) -> OrderUpdateEvent:
    return OrderUpdateEvent.create(SRC, OrderUpdate(client_order_id=cid, status=status), ts=ts)


def fill(exec_id: str, qty: str, cid: str = "c1", *, ts: int | None = None) -> FillEvent:
    return FillEvent.create(
        SRC,
        Fill(
            exec_id=exec_id,
            client_order_id=cid,
            broker="paper",
            account="main",
            instrument="X.PAPER",
            side=Side.BUY,
            quantity=D(qty),
            price=D("10"),
        ),
        ts=ts,
    )


def test_lifecycle_and_audit_trail() -> None:
    oms = OMS()
    events: list[EventBase] = [req(), upd(OrderStatus.NEW), fill("e1", "1"), fill("e2", "1")]
    assert [oms.apply(e) for e in events] == [Outcome.APPLIED] * 4
    view = oms.get("c1")
    assert view is not None
    assert view.order.status is OrderStatus.FILLED
    assert view.history == events
    assert oms.working() == []


def test_same_event_twice_is_applied_once() -> None:
    oms = OMS()
    e = req()
    f = fill("e1", "1")
    assert oms.apply(e) is Outcome.APPLIED
    assert oms.apply(e) is Outcome.DUPLICATE_EVENT
    oms.apply(f)
    assert oms.apply(f) is Outcome.DUPLICATE_EVENT
    # the same execution re-published under a new event id is still one fill
    again = FillEvent.create(SRC, f.payload)
    assert oms.apply(again) is Outcome.DUPLICATE
    view = oms.get("c1")
    assert view is not None
    assert view.order.filled_qty == D("1")


def test_reports_before_the_request_are_parked_then_applied() -> None:
    oms = OMS()
    assert oms.apply(upd(OrderStatus.NEW)) is Outcome.PARKED
    assert oms.apply(fill("e1", "1")) is Outcome.PARKED
    assert oms.parked_count() == 2
    oms.apply(req())
    view = oms.get("c1")
    assert view is not None
    assert view.order.status is OrderStatus.PARTIALLY_FILLED
    assert view.order.filled_qty == D("1")


def test_reports_that_never_get_a_request_are_let_go_beyond_a_bound() -> None:
    """Another program's orders on the account report all day and never get a request:
    their reports wait for the newest `PARKED_ORDERS` orders only (parked for ever, they
    grew without end); a request that does come takes its reports."""
    oms = OMS()
    extra = 5
    for n in range(PARKED_ORDERS + extra):
        assert oms.apply(upd(OrderStatus.NEW, f"other-{n}")) is Outcome.PARKED
        assert oms.apply(fill(f"x{n}", "1", f"other-{n}")) is Outcome.PARKED
    assert oms.parked_count() == 2 * PARKED_ORDERS
    assert oms.counters["parked_dropped"] == 2 * extra
    newest = f"other-{PARKED_ORDERS + extra - 1}"
    oms.apply(req(newest))
    view = oms.get(newest)
    assert view is not None
    assert view.order.filled_qty == D("1")
    oms.apply(req("other-0"))  # its reports were let go: as placed
    first = oms.get("other-0")
    assert first is not None
    assert (first.order.status, first.order.filled_qty) == (OrderStatus.PENDING_NEW, 0)


def test_adopts_a_venue_order_from_reconcile() -> None:
    oms = OMS()
    venue = VenueOrder(
        client_order_id="v9",
        venue_order_id="123",
        instrument="X.PAPER",
        side=Side.SELL,
        order_type=OrderType.LIMIT,
        quantity=D("3"),
        filled_qty=D("1"),
        limit_price=D("11"),
        status=OrderStatus.PARTIALLY_FILLED,
    )
    event = ReconcileEvent.create(
        SRC,
        Reconcile(kind=ReconcileKind.VENUE_ORDER_UNKNOWN, client_order_id="v9", venue_order=venue),
    )
    assert oms.apply(event) is Outcome.APPLIED
    view = oms.get("v9")
    assert view is not None
    assert view.adopted
    assert (view.broker, view.account) == ("paper", "main")
    assert view.order.leaves_qty == D("2")
    assert [v.client_order_id for v in oms.working("paper")] == ["v9"]


@settings(max_examples=200, deadline=None)
@given(st.permutations(range(6)), st.lists(st.integers(0, 5), max_size=4))
def test_any_order_any_duplicates_same_final_state(perm: list[int], dupes: list[int]) -> None:
    """A journal replayed with reports shuffled and duplicated ends in the same state
    as the clean sequence (fills are what count; the final status is FILLED)."""
    clean: list[EventBase] = [
        req(qty="3"),
        upd(OrderStatus.NEW),
        fill("e1", "1"),
        upd(OrderStatus.PARTIALLY_FILLED),
        fill("e2", "1"),
        fill("e3", "1"),
    ]
    shuffled = [clean[i] for i in perm] + [clean[i] for i in dupes]
    oms = OMS()
    for event in shuffled:
        oms.apply(event)
    view = oms.get("c1")
    assert view is not None
    assert view.order.filled_qty == D("3")
    assert view.order.status is OrderStatus.FILLED
    assert oms.parked_count() == 0
