"""A venue's correction of a fill (`FillCorrection`) is booked as if the fill had traded
as corrected: the order's fills, and the position traded again from before the fill."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal as D

from hypothesis import given, settings
from hypothesis import strategies as st

from silvertine_tui.bus import MemoryBus
from silvertine_tui.config import RiskConfig
from silvertine_tui.domain import (
    ApplyResult,
    Fill,
    FillCorrection,
    Instrument,
    Order,
    OrderRequest,
    OrderStatus,
    OrderType,
    Side,
)
from silvertine_tui.engine import portfolio as portfolio_module
from silvertine_tui.engine.anomalies import AnomalyKind
from silvertine_tui.engine.core import TradingEngine
from silvertine_tui.engine.oms import OMS, Outcome
from silvertine_tui.engine.portfolio import Portfolio, PositionState
from silvertine_tui.engine.recovery import recover, replay_stream, write_snapshot
from silvertine_tui.events import (
    FillCorrectionEvent,
    FillEvent,
    OrderRequestEvent,
    SnapshotEvent,
)
from silvertine_tui.events.codec import decode, encode
from tests.fakes.scripted_venue import INSTRUMENT as SCRIPTED
from tests.fakes.scripted_venue import ScriptedVenue, scripted_fill

INST = Instrument(
    symbol="X", venue="PAPER", quote_currency="USD", tick_size=D("0.01"), lot_size=D("1")
)
KEY = ("ib", "DU1", INST.key)


def fill(n: int, side: Side, qty: int, price: D, fee: D = D(0), *, coid: str = "c") -> Fill:
    return Fill(
        exec_id=f"e{n}.01", client_order_id=coid, broker="ib", account="DU1",
        instrument=INST.key, side=side, quantity=D(qty), price=price, fee=fee,
        fee_currency="USD" if fee else "",
    )  # fmt: skip


def correction_of(old: Fill, qty: int, price: D, fee: D) -> FillCorrection:
    new = old.model_copy(
        update={
            "exec_id": old.exec_id.replace(".01", ".02"),
            "quantity": D(qty),
            "price": price,
            "fee": fee,
            "fee_currency": "USD" if fee else "",
        }
    )
    return FillCorrection(
        replaces=old.exec_id, fill=new, previous_quantity=old.quantity,
        previous_price=old.price, previous_fee=old.fee, previous_currency=old.fee_currency,
    )  # fmt: skip


@contextmanager
def kept(history: int) -> Iterator[None]:
    """Fewer fills kept per segment, so that a short run rolls its segments over."""
    before = portfolio_module.HISTORY
    portfolio_module.HISTORY = history
    try:
        yield
    finally:
        portfolio_module.HISTORY = before


def standing(state: PositionState) -> tuple[D, D | None, D, dict[str, D]]:
    return state.quantity, state.avg_price, state.realized_gross, state.fees


prices = st.integers(1, 30_000).map(lambda cents: D(cents) / 100)
fees = st.sampled_from([D(0), D("0.35"), D("1.00"), D("2.5")])
trades = st.lists(
    st.tuples(st.sampled_from([Side.BUY, Side.SELL]), st.integers(1, 40), prices, fees),
    min_size=1,
    max_size=30,
)


@settings(max_examples=300, deadline=None)
@given(
    trades=trades,
    which=st.integers(0, 29),
    qty=st.integers(1, 40),
    price=prices,
    fee=fees,
    history=st.integers(1, 8),
)
def test_a_correction_books_the_position_as_if_the_fill_had_traded_so(
    trades: list[tuple[Side, int, D, D]], which: int, qty: int, price: D, fee: D, history: int
) -> None:
    """Long, short, through zero: whatever came after the fill, the position with the
    correction is the position the corrected fill would have made, when the fill is
    among those kept; otherwise only the price difference moves realized P&L."""
    which %= len(trades)
    made = [fill(n, *trade) for n, trade in enumerate(trades)]
    correction = correction_of(made[which], qty, price, fee)
    with kept(history):
        corrected = Portfolio({INST.key: INST})
        for f in made:
            corrected.apply_fill(f)
        state = corrected.positions[KEY]
        kept_ids = {exec_id for exec_id, _, _ in (*state.older, *state.recent)}
        before = standing(state)
        assert corrected.apply_fill_correction(correction)
        assert not corrected.apply_fill_correction(correction)  # once
        expected = Portfolio({INST.key: INST})
        for f in made:
            expected.apply_fill(correction.fill if f is made[which] else f)
    exact = made[which].exec_id in kept_ids
    assert corrected.booked_exactly(correction) is exact
    fees_after = {k: v for k, v in expected.positions[KEY].fees.items() if v}
    if exact:
        assert standing(state) == (*standing(expected.positions[KEY])[:3], fees_after)
    else:
        common = min(D(qty), made[which].quantity)
        paid_less = (made[which].price - price) * common
        moved = paid_less if made[which].side is Side.BUY else -paid_less
        assert standing(state) == (before[0], before[1], before[2] + moved, fees_after)


def test_a_fill_at_price_zero_can_be_corrected() -> None:
    """A fill IB reports at 0 (an option expiring worthless) is a fill; its correction
    (to 0.05, say) was refused by the model (`previous_price` had to be above 0): the
    venue's correction lost, the position left at the old price."""
    p = Portfolio({INST.key: INST})
    first = fill(1, Side.SELL, 10, D(0))
    p.apply_fill(first)
    correction = correction_of(first, 10, D("0.05"), D(0))
    assert p.apply_fill_correction(correction)
    assert p.booked_exactly(correction)
    state = p.positions[KEY]
    assert (state.quantity, state.avg_price) == (-10, D("0.05"))


def test_a_fill_before_the_venue_quantity_was_taken_is_booked_by_its_price_only() -> None:
    p = Portfolio({INST.key: INST})
    first = fill(1, Side.BUY, 10, D("100"))
    p.apply_fill(first)
    p.apply_fill(fill(2, Side.SELL, 10, D("110")))  # flat: realized 100
    p.adopt_venue_quantity(*KEY, D(0))  # the venue's quantity taken
    correction = correction_of(first, 10, D("99"), D(0))
    assert p.apply_fill_correction(correction)
    assert not p.booked_exactly(correction)
    state = p.positions[KEY]
    assert (state.quantity, state.realized_gross) == (0, D(110))  # bought 1.00 cheaper x10


def test_the_last_fill_kept_for_reconcile_is_the_correction() -> None:
    p = Portfolio({INST.key: INST})
    first = fill(1, Side.BUY, 10, D("100"))
    p.apply_fill(first)
    correction = correction_of(first, 10, D("99"), D(0))
    p.apply_fill_correction(correction)
    assert p.last_fills[("ib", "DU1")][INST.key] is correction.fill


def order_of(quantity: int) -> Order:
    return Order.from_request(
        OrderRequest(
            client_order_id="c", broker="ib", account="DU1", instrument=INST.key,
            side=Side.BUY, order_type=OrderType.LIMIT, quantity=D(quantity),
            limit_price=D("100"),
        )
    )  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(
    parts=st.lists(st.tuples(st.integers(1, 20), prices, fees), min_size=1, max_size=8),
    which=st.integers(0, 7),
    qty=st.integers(1, 20),
    price=prices,
    fee=fees,
    spare=st.integers(0, 30),
)
def test_an_order_with_a_correction_is_the_order_with_the_corrected_fill(
    parts: list[tuple[int, D, D]], which: int, qty: int, price: D, fee: D, spare: int
) -> None:
    """Filled quantity, amount, fees and status as if the fill had come corrected (a
    finished order stays finished); the
    average the same to 24 of Decimal's 28 digits (it is multiplied and divided in
    another order); a
    correction that would fill more than ordered is refused and changes nothing."""
    which %= len(parts)
    made = [fill(n, Side.BUY, q, p, f) for n, (q, p, f) in enumerate(parts)]
    ordered = sum(q for q, _, _ in parts) + spare
    correction = correction_of(made[which], qty, price, fee)
    order = order_of(ordered)
    for f in made:
        assert order.apply_fill(f) is ApplyResult.APPLIED
    unchanged = order.model_copy(deep=True)
    expected = order_of(ordered)
    over = False
    for f in made:
        over |= expected.apply_fill(correction.fill if f is made[which] else f) is not (
            ApplyResult.APPLIED
        )
    result = order.apply_fill_correction(correction)
    if over:
        assert result is ApplyResult.OVERFILL
        assert order == unchanged
        return
    assert result is ApplyResult.APPLIED
    assert order.apply_fill_correction(correction) is ApplyResult.DUPLICATE
    # A finished order stays finished (IB does not work it again for a smaller fill).
    status = unchanged.status if unchanged.status.is_terminal else expected.status
    assert (order.filled_qty, order.filled_quote, order.status) == (
        expected.filled_qty,
        expected.filled_quote,
        status,
    )
    assert {k: v for k, v in order.fees.items() if v} == {
        k: v for k, v in expected.fees.items() if v
    }
    assert order.avg_price is not None
    assert expected.avg_price is not None
    assert abs(order.avg_price - expected.avg_price) <= expected.avg_price * D("1e-24")
    assert order.exec_ids == {f.exec_id for f in made} | {correction.fill.exec_id}


def test_a_correction_of_a_fill_the_order_has_not_applied_is_stale() -> None:
    order = order_of(10)
    correction = correction_of(fill(1, Side.BUY, 5, D("100")), 5, D("99"), D(0))
    assert order.apply_fill_correction(correction) is ApplyResult.STALE
    assert order.status is OrderStatus.PENDING_NEW
    assert order.filled_qty == 0


def test_a_correction_of_a_fill_not_kept_is_not_lost_by_a_later_exact_one() -> None:
    """The price difference booked for a fill before those kept stays when a kept fill
    is corrected afterwards (the position is traded again from P&L that has it)."""
    state = PositionState("ib", "DU1", INST.key, quantity=D(10), avg_price=D(10))  # restored
    sale = fill(2, Side.SELL, 10, D(12))
    state.apply_fill(sale)  # realized 20
    before_restore = fill(1, Side.BUY, 10, D(10))
    assert not state.correct_fill(correction_of(before_restore, 10, D("9.50"), D(0)))
    assert state.realized_gross == D(25)
    assert state.correct_fill(correction_of(sale, 10, D("12.10"), D(0)))
    assert state.realized_gross == D(26)


async def test_a_desk_restarted_from_a_snapshot_books_a_correction_as_the_live_one() -> None:
    """The fills a position keeps for corrections are in the snapshot: a correction
    journaled after it is booked the same after a restart (price and size)."""
    bus = MemoryBus()
    await bus.start()
    venue = ScriptedVenue.build(bus)
    live = TradingEngine(bus, [venue], RiskConfig())
    await venue.connect()
    await live.load_instruments()
    stream = bus.layout.exec("scripted", "main")
    await bus.publish(scripted_fill(1, price="10.00"))
    await bus.publish(scripted_fill(2, price="12.00"))
    await replay_stream(live, stream)
    await write_snapshot(live, "scripted", "main")
    [entry] = await bus.read_last(bus.layout.snap("scripted", "main"), 1)
    snapshot = entry.event
    assert isinstance(snapshot, SnapshotEvent)
    assert snapshot.payload.kept_fills
    assert decode(encode(snapshot)) == snapshot  # the kept fills go over the wire
    first = scripted_fill(1, price="10.00").payload
    corrected = first.model_copy(
        update={"exec_id": "e1.02", "price": D("11.00"), "quantity": D("0.5")}
    )
    await bus.publish(
        FillCorrectionEvent.create(
            "scripted/main",
            FillCorrection(
                replaces="e1", fill=corrected, previous_quantity=D(1), previous_price=D(10)
            ),
        )
    )
    await replay_stream(live, stream)
    key = ("scripted", "main", SCRIPTED.key)
    booked = live.portfolio.positions[key]
    assert (booked.quantity, booked.avg_price) == (D("1.5"), (D("5.5") + D(12)) / D("1.5"))
    restarted = TradingEngine(bus, [venue], RiskConfig())
    await recover(restarted, [("scripted", "main")])
    again = restarted.portfolio.positions[key]
    assert standing(again) == standing(booked)
    # Booked as if traded so, live and again (the fills' orders are not on this
    # journal: said once each, the correction waits with its fill).
    assert not restarted.anomalies.replayed
    assert live.anomalies.counts == {AnomalyKind.UNKNOWN_ORDER: 2}
    await bus.close()


def test_a_correction_whose_terms_do_not_add_up_is_stale_and_changes_nothing() -> None:
    """Bad data (the fill it replaces was 5, the correction says 9 were replaced) never
    leaves an order with nothing or less than nothing filled."""
    order = order_of(10)
    first = fill(1, Side.BUY, 5, D("100"))
    order.apply_fill(first)
    unchanged = order.model_copy(deep=True)
    wrong = correction_of(first, 1, D("100"), D(0)).model_copy(update={"previous_quantity": D(9)})
    assert order.apply_fill_correction(wrong) is ApplyResult.STALE
    assert order == unchanged


def test_a_correction_waits_with_its_fill_for_the_order_to_be_known() -> None:
    """A fill for an order not journaled yet is parked, and its correction with it: the
    order, once its request comes, holds the corrected fill."""
    oms = OMS()
    first = fill(1, Side.BUY, 5, D("100"))
    correction = correction_of(first, 5, D("99"), D(0))
    assert oms.apply(FillEvent.create("ib/DU1", first)) is Outcome.PARKED
    assert oms.apply(FillCorrectionEvent.create("ib/DU1", correction)) is Outcome.PARKED
    assert oms.apply(OrderRequestEvent.create("ib/DU1", order_of(10).request)) is Outcome.APPLIED
    view = oms.get("c")
    assert view is not None
    assert (view.order.filled_qty, view.order.avg_price) == (5, D(99))
