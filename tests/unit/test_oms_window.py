"""Finished orders beyond a window leave memory; working orders never do; an evicted id
stays refused; a late report for an evicted order is counted and never revives it."""

from __future__ import annotations

from decimal import Decimal as D

from hypothesis import given, settings
from hypothesis import strategies as st

from silvertine_tui.bus import MemoryBus
from silvertine_tui.config import RiskConfig
from silvertine_tui.domain import (
    Order,
    OrderStatus,
)
from silvertine_tui.engine.anomalies import AnomalyKind
from silvertine_tui.engine.core import TradingEngine
from silvertine_tui.engine.oms import OMS, FinishedWindow, OrderView, Outcome
from silvertine_tui.engine.projection import DeskProjection
from silvertine_tui.events import EventBase
from tests.unit.test_engine_oms import fill, req, upd

MINUTE_NS = 60 * 10**9


def finished(oms: OMS) -> set[str]:
    return {c for c, v in oms.orders.items() if v.order.status.is_terminal}


def test_the_oldest_finished_orders_leave_and_their_ids_stay_refused() -> None:
    oms = OMS(FinishedWindow(orders=2, histories=2))
    for n in range(5):
        oms.apply(req(f"c{n}"), f"{n}-1")
        oms.apply(upd(OrderStatus.CANCELED, f"c{n}"), f"{n}-2")
    oms.apply(req("w"), "9-1")  # working: stays whatever the window
    assert set(oms.orders) == {"c3", "c4", "w"}
    assert set(oms.retired) == {"c0", "c1", "c2"}
    assert oms.retired["c1"] == ("paper", "main", "1-1", "1-2")
    assert oms.take_evicted() == ["c0", "c1", "c2"]
    assert oms.take_evicted() == []
    assert oms.apply(req("c0")) is Outcome.DUPLICATE
    assert "c0" not in oms.orders


def test_finished_orders_older_than_the_age_limit_leave_by_the_events_clock() -> None:
    oms = OMS(FinishedWindow(orders=100, minutes=1))
    oms.apply(req("old", ts=0))
    oms.apply(upd(OrderStatus.FILLED, "old", ts=10**9))
    oms.apply(req("w", ts=30 * 10**9))
    assert "old" in oms.orders  # finished 29 s before: kept
    oms.apply(upd(OrderStatus.NEW, "w", ts=10**9 + MINUTE_NS + 1))
    assert "old" not in oms.orders
    assert "old" in oms.retired
    assert "w" in oms.orders


def test_histories_beyond_their_window_are_dropped_with_the_order_kept() -> None:
    oms = OMS(FinishedWindow(orders=10, histories=1))
    for n in range(3):
        oms.apply(req(f"c{n}"), f"{n}-1")
        oms.apply(upd(OrderStatus.REJECTED, f"c{n}"), f"{n}-2")
    dropped = [c for c, v in oms.orders.items() if v.history_dropped]
    assert dropped == ["c0", "c1"]
    assert oms.orders["c0"].history == []
    assert (oms.orders["c0"].first_entry, oms.orders["c0"].last_entry) == ("0-1", "0-2")
    assert len(oms.orders["c2"].history) == 2
    assert not oms.orders["c2"].history_dropped


def test_a_late_report_for_an_evicted_order_is_counted_and_does_not_revive_it() -> None:
    oms = OMS(FinishedWindow(orders=0))
    oms.apply(req("c1"))
    oms.apply(fill("e1", "2", "c1"))
    assert "c1" in oms.retired
    for late in (upd(OrderStatus.CANCELED, "c1"), fill("e2", "1", "c1")):
        assert oms.apply(late) is Outcome.EVICTED
    assert "c1" not in oms.orders
    assert oms.parked_count() == 0
    assert oms.counters[Outcome.EVICTED] == 2


def test_a_late_fill_for_an_evicted_order_still_moves_the_position() -> None:
    # Fills are money: the portfolio takes it even though the order has left memory.
    projection = DeskProjection(window=FinishedWindow(orders=0))
    projection.apply(req("c1"))
    projection.apply(upd(OrderStatus.CANCELED, "c1"))
    assert projection.order("c1") is None
    changes = projection.take()
    assert "c1" in changes.orders  # its row leaves the desk
    applied = projection.apply(fill("late", "1", "c1"))
    assert applied.outcome is Outcome.EVICTED
    assert projection.position("paper", "main", "X.PAPER") == D("1")
    assert projection.order("c1") is None


ACTIONS = st.lists(
    st.tuples(
        st.integers(0, 5),
        st.sampled_from(["req", "new", "fill", "cancel", "reject", "expire"]),
        st.integers(0, 120),  # seconds of the event's clock
    ),
    max_size=60,
)


def event_for(cid: str, action: str, n: int, ts: int) -> EventBase:
    match action:
        case "req":
            return req(cid, ts=ts)
        case "new":
            return upd(OrderStatus.NEW, cid, ts=ts)
        case "fill":
            return fill(f"{cid}-{n}", "1", cid, ts=ts)
        case "cancel":
            return upd(OrderStatus.CANCELED, cid, ts=ts)
        case "reject":
            return upd(OrderStatus.REJECTED, cid, ts=ts)
        case _:
            return upd(OrderStatus.EXPIRED, cid, ts=ts)


@settings(max_examples=300, deadline=None)
@given(
    actions=ACTIONS,
    keep=st.integers(0, 3),
    histories=st.integers(0, 3),
    minutes=st.sampled_from([0.0, 0.5, 1.0]),
)
def test_whatever_the_order_of_events_the_window_holds(
    actions: list[tuple[int, str, int]], keep: int, histories: int, minutes: float
) -> None:
    oms = OMS(FinishedWindow(orders=keep, minutes=minutes, histories=histories))
    everything = OMS(FinishedWindow(orders=10**6, histories=10**6))  # nothing evicted
    clock = 0
    for n, (i, action, seconds) in enumerate(actions):
        clock = max(clock, seconds * 10**9)  # the journal's clock does not run back
        event = event_for(f"c{i}", action, n, clock)
        oms.apply(event, f"{n}-0")
        everything.apply(event, f"{n}-0")
        # Working orders are never evicted, and held orders are exactly as they would be.
        for cid, view in everything.orders.items():
            if not view.order.status.is_terminal:
                assert cid in oms.orders
        for cid, view in oms.orders.items():
            full = everything.orders[cid].order
            assert (view.order.status, view.order.filled_qty) == (full.status, full.filled_qty)
        assert len(finished(oms)) <= keep
        assert sum(not v.history_dropped for c, v in oms.orders.items() if c in finished(oms)) <= (
            histories
        )
        assert not set(oms.orders) & set(oms.retired)
        # Every id the journal holds an order for is refused as a duplicate.
        for cid in everything.orders:
            assert oms.known(cid)
            assert oms.apply(req(cid, ts=clock)) is Outcome.DUPLICATE
        assert oms.parked_count() == everything.parked_count()


def test_the_order_of_an_instruments_last_fill_stays_until_another_fills() -> None:
    # Reconcile asks the venue from that fill on; a snapshot must hold its exec ids.
    projection = DeskProjection(window=FinishedWindow(orders=0))
    projection.apply(req("c1"))
    projection.apply(fill("e1", "2", "c1"))
    assert projection.order("c1") is not None  # FILLED, but holds the last fill
    projection.apply(req("c2"))
    projection.apply(upd(OrderStatus.CANCELED, "c2"))
    assert projection.order("c2") is None  # no fill: evicted at once
    assert projection.order("c1") is not None
    projection.apply(req("c3"))
    projection.apply(fill("e3", "2", "c3"))
    assert projection.order("c1") is None
    assert projection.order("c3") is not None
    assert projection.oms.finished_count() == 0  # the holder is beside the window


def test_the_engine_counts_a_late_fill_for_an_evicted_order_as_an_anomaly() -> None:
    engine = TradingEngine(MemoryBus(), [], RiskConfig(), window=FinishedWindow(orders=0))
    engine.apply(req("c1"))
    engine.apply(upd(OrderStatus.CANCELED, "c1"))
    engine.apply(upd(OrderStatus.NEW, "c1"))  # a late copy of an earlier stage: no anomaly
    assert engine.anomalies.take() == []
    engine.apply(fill("late", "1", "c1"))
    found = engine.anomalies.take()
    assert [a.kind for a in found] == [AnomalyKind.REFUSED_REPORT]
    assert "left memory" in found[0].message
    assert engine.position("paper", "main", "X.PAPER") == D("1")
    assert engine.oms.get("c1") is None


def test_an_order_from_a_snapshot_is_read_back_from_the_journals_start() -> None:
    projection = DeskProjection()
    request = req("c1").payload
    projection.oms.add(OrderView("paper", "main", Order.from_request(request)))
    projection.apply(upd(OrderStatus.NEW, "c1"), "50-0")
    span = projection.history_span("c1")
    assert span is not None
    assert (span.first, span.last) == ("-", "50-0")
    assert not span.known
