"""IB corrects an execution by sending it again under an execId that differs only in the
digits after its final period (".01" -> ".02"; IB's Execution.ExecId documentation): the
correction replaces the execution. The desk journals it as the fill's correction, which
the order, the position and its P&L take (never a second fill), and says so."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from types import SimpleNamespace

from hypothesis import given, settings
from hypothesis import strategies as st
from ib_async import LimitOrder, Stock

from silvertine_tui.brokers.ib.fees import CommissionBook, exec_head, latest_executions, newer
from silvertine_tui.bus import MemoryBus
from silvertine_tui.config import RiskConfig
from silvertine_tui.domain import ConnectionState, Fill, FillCorrection, OrderStatus, Side
from silvertine_tui.engine.anomalies import AnomalyKind
from silvertine_tui.engine.core import TradingEngine
from silvertine_tui.engine.portfolio import PositionState
from silvertine_tui.engine.recovery import reconcile_broker, replay_stream
from silvertine_tui.events import EventBase, FillCorrectionEvent, LogLevel, describe
from tests.fakes.tws import FakeTws
from tests.fakes.tws.client import ib_client, until
from tests.fakes.tws.exchange import Execution
from tests.support.ib import Desk, desk, fills, new_bus, shown, statuses
from tests.unit.test_ib_cancel_everything import engine_for, sync

S = OrderStatus


def corrections(events: list[EventBase], coid: str) -> list[FillCorrection]:
    return [
        e.payload
        for e in events
        if isinstance(e, FillCorrectionEvent) and e.payload.client_order_id == coid
    ]


@asynccontextmanager
async def engine_desk(fake: FakeTws) -> AsyncIterator[tuple[Desk, MemoryBus]]:
    bus = new_bus()
    await bus.start()
    try:
        async with desk(fake, bus) as d:
            yield d, bus
    finally:
        await bus.close()


async def bought(d: Desk) -> tuple[str, Execution]:
    """A buy of 3 @ 149.50, filled at once: its client order id and IB's execution."""
    coid = await d.broker.place(d.request(qty="3", limit="149.50"))
    [order] = d.fake.orders
    execution = await d.fake.fill(order.order_id)
    await d.wait_journal(lambda ev: S.FILLED in statuses(ev, coid), "FILLED")
    return coid, execution


async def other_program_buys(fake: FakeTws) -> Execution:
    """Another program (client id 9) buys 5 @ 149.00, filled: IB's execution."""
    async with ib_client(fake, client_id=9) as other:
        [aapl] = await other.qualifyContractsAsync(Stock("AAPL", "SMART", "USD"))
        order = LimitOrder("BUY", 5, 149.0, orderRef="other-program", account=fake.account)
        trade = other.placeOrder(aapl, order)
        await until(other, lambda: trade.orderStatus.status == "Submitted")
    [theirs] = [o for o in fake.orders if o.perm_id == trade.order.permId]
    return await fake.fill(theirs.order_id, client_id=9)


async def booked(d: Desk, bus: MemoryBus) -> tuple[TradingEngine, PositionState]:
    """The desk's engine built from the journal alone (twice: nothing applies twice)."""
    engine = TradingEngine(bus, [d.broker], RiskConfig())
    await engine.load_instruments()
    await replay_stream(engine, d.stream)
    await replay_stream(engine, d.stream)
    [state] = engine.portfolio.positions.values()
    return engine, state


async def test_a_price_correction_reaches_the_order_the_position_and_the_pnl() -> None:
    async with FakeTws() as fake, engine_desk(fake) as (d, bus):
        coid, execution = await bought(d)
        corrected = await fake.correct_execution(execution, price="149.48")
        events = await d.wait_journal(lambda ev: bool(corrections(ev, coid)), "the correction")
        await d.broker.settle()
        events = await d.events()
        assert [(f.exec_id, f.quantity) for f in fills(events, coid)] == [(execution.exec_id, 3)]
        [correction] = corrections(events, coid)
        assert (correction.replaces, correction.fill.exec_id) == (execution.exec_id, corrected)
        assert (correction.fill.quantity, correction.fill.price) == (3, Decimal("149.48"))
        assert (correction.previous_quantity, correction.previous_price) == (3, Decimal("149.50"))
        assert correction.fill.fee == correction.previous_fee  # its commission report came
        order_shown = shown(events, coid)
        assert (order_shown.filled_qty, order_shown.avg_price) == (3, Decimal("149.48"))
        assert order_shown.status is S.FILLED
        [message] = await d.said_in_log(LogLevel.WARNING)
        assert execution.exec_id in message
        assert corrected in message
        assert "BUY 3 AAPL.SMART @ 149.48, was 3 @ 149.50;" in message
        assert not await d.said_in_log(LogLevel.ERROR)
        assert "exec_correction" not in d.broker.health_state.errors
        [journaled] = [e for e in events if isinstance(e, FillCorrectionEvent)]
        assert describe(journaled).startswith(
            "FILL CORRECTED BUY 3 AAPL.SMART @ 149.48, was 3 @ 149.5 (fill"
        )
        engine, state = await booked(d, bus)
        view = engine.oms.get(coid)
        assert view is not None
        assert (view.order.filled_qty, view.order.avg_price) == (3, Decimal("149.48"))
        assert (state.quantity, state.avg_price) == (3, Decimal("149.48"))
        assert not engine.anomalies.counts
        assert not engine.anomalies.replayed


async def test_a_size_correction_moves_the_order_and_the_position() -> None:
    """IB corrects 3 shares to 2: the order has 2 filled, the position is 2 (as TWS's),
    and the engine finds no disagreement with TWS's position."""
    async with FakeTws() as fake, engine_desk(fake) as (d, bus):
        coid, execution = await bought(d)
        await fake.correct_execution(execution, shares="2")
        await d.wait_journal(lambda ev: bool(corrections(ev, coid)), "the correction")
        await d.broker.settle()
        events = await d.events()
        assert shown(events, coid).filled_qty == 2
        engine, state = await booked(d, bus)
        assert (state.quantity, state.avg_price) == (2, Decimal("149.50"))
        [venue] = await d.broker.positions()
        assert venue.quantity == state.quantity
        assert not engine.anomalies.counts
        assert not engine.anomalies.replayed


async def test_a_closing_fill_s_correction_moves_realized_pnl_and_not_the_average() -> None:
    """Bought 5 @ 149.50, sold 2 @ 149.70, the sale corrected to 149.72: realized moves
    by 0.04, the average stays, and the position the adapter reports from TWS says the
    same average as the desk's."""
    async with FakeTws() as fake, engine_desk(fake) as (d, bus):
        buy = await d.broker.place(d.request(qty="5", limit="149.50"))
        await fake.fill(fake.orders[0].order_id)
        await d.wait_journal(lambda ev: S.FILLED in statuses(ev, buy), "bought")
        sell = await d.broker.place(d.request(Side.SELL, qty="2", limit="149.70"))
        sale = await fake.fill(fake.orders[1].order_id)
        await d.wait_journal(lambda ev: S.FILLED in statuses(ev, sell), "sold")
        _, before = await booked(d, bus)
        await fake.correct_execution(sale, price="149.72")
        await d.wait_journal(lambda ev: bool(corrections(ev, sell)), "the correction")
        await d.broker.settle()
        _, state = await booked(d, bus)
        assert before.realized_gross == Decimal("0.40")
        assert (state.quantity, state.avg_price) == (3, Decimal("149.50"))
        assert state.realized_gross == Decimal("0.44")
        [venue] = await d.broker.positions()
        assert (venue.quantity, venue.avg_price) == (3, Decimal("149.50"))


async def test_a_correction_of_a_correction_replaces_the_last() -> None:
    async with FakeTws() as fake, engine_desk(fake) as (d, bus):
        coid, execution = await bought(d)
        second = await fake.correct_execution(execution, price="149.48")
        [again] = [e for e in fake.exchange.executions if e.exec_id == second]
        third = await fake.correct_execution(again, price="149.46")
        await d.wait_journal(lambda ev: len(corrections(ev, coid)) == 2, "two corrections")
        events = await d.events()
        assert [(c.replaces, c.fill.exec_id) for c in corrections(events, coid)] == [
            (execution.exec_id, second),
            (second, third),
        ]
        _, state = await booked(d, bus)
        assert (state.quantity, state.avg_price) == (3, Decimal("149.46"))


async def test_a_correction_made_while_away_is_journaled_after_the_reconnect() -> None:
    """TWS's replay after a reconnect holds only the corrected execution."""
    async with FakeTws() as fake, engine_desk(fake) as (d, bus):
        coid, execution = await bought(d)
        fake.reserve_client_id(1)
        await fake.drop_connections()
        await d.wait(lambda: d.broker.state is ConnectionState.DISCONNECTED, "DISCONNECTED")
        await fake.correct_execution(execution, price="149.48")
        fake.release_client_id(1)
        await d.wait_live()
        await d.wait_journal(lambda ev: bool(corrections(ev, coid)), "the correction")
        await d.broker.settle()
        events = await d.events()
        assert [f.exec_id for f in fills(events, coid)] == [execution.exec_id]
        assert len(corrections(events, coid)) == 1
        assert not await d.said_in_log(LogLevel.ERROR)
        _, state = await booked(d, bus)
        assert (state.quantity, state.avg_price) == (3, Decimal("149.48"))


async def test_a_fill_the_engine_journaled_from_a_reconcile_is_corrected_not_doubled() -> None:
    """Another program's order fills: the adapter never journaled that fill, the
    engine did from the reconcile report. IB's correction of it, found by the next
    reconcile, is its correction (it was journaled as a second fill: 11 shares, then
    a position mismatch)."""
    async with FakeTws() as fake, engine_desk(fake) as (d, bus):
        await bought(d)
        engine = await engine_for(d)
        execution = await other_program_buys(fake)
        await reconcile_broker(engine, d.broker)
        await sync(engine, bus)
        await fake.correct_execution(execution, price="148.90")
        await reconcile_broker(engine, d.broker)
        await sync(engine, bus)
        events = await d.events()
        assert [f.exec_id for f in fills(events)][1:] == [execution.exec_id]
        [correction] = corrections(events, "other-program")
        assert correction.replaces == execution.exec_id
        state = engine.portfolio.positions[("ib", fake.account, "AAPL.SMART")]
        cost = 3 * Decimal("149.50") + 5 * Decimal("148.90")
        assert (state.quantity, state.avg_price) == (8, cost / 8)
        # Said once: the other program's order is none of the journal's (its fill,
        # and the correction with it, wait for it); booked exactly, no mismatch.
        assert engine.anomalies.counts == {AnomalyKind.UNKNOWN_ORDER: 1}
        assert engine.oms.parked_count() == 2


async def test_a_fill_of_a_reconcile_report_never_journaled_is_no_fill_to_correct() -> None:
    """The adapter hears of a reconcile's fill once the engine journaled it: a report
    whose fills were never journaled (the engine's part of the reconcile failed) leaves
    IB's later correction to be journaled as the fill it is (before, the correction of
    a fill the journal did not hold: 5 shares missing, realized P&L from nothing)."""
    async with FakeTws() as fake, engine_desk(fake) as (d, bus):
        await bought(d)
        engine = await engine_for(d)
        execution = await other_program_buys(fake)
        since = engine.journal_start[("ib", fake.account)]
        await d.broker.reconcile(since_ns=since)  # answered, never journaled
        corrected = await fake.correct_execution(execution, price="148.90")
        await reconcile_broker(engine, d.broker)
        await sync(engine, bus)
        events = await d.events()
        assert [f.exec_id for f in fills(events)][1:] == [corrected]
        assert not corrections(events, "other-program")
        state = engine.portfolio.positions[("ib", fake.account, "AAPL.SMART")]
        cost = 3 * Decimal("149.50") + 5 * Decimal("148.90")
        assert (state.quantity, state.avg_price, state.realized_gross) == (8, cost / 8, 0)
        assert engine.anomalies.counts == {AnomalyKind.UNKNOWN_ORDER: 1}


async def test_a_restarted_desk_corrects_a_fill_journaled_before_it_started() -> None:
    """The fill's terms come from the journal: a desk started after the fill takes a
    correction of it, and an earlier report of the execution changes nothing."""
    async with FakeTws() as fake:
        bus = new_bus()
        await bus.start()
        async with desk(fake, bus) as d:
            coid, execution = await bought(d)
        async with desk(fake, bus) as d:
            await fake.correct_execution(execution, price="149.52")
            await d.wait_journal(lambda ev: bool(corrections(ev, coid)), "the correction")
            await d.broker.settle()
            [correction] = corrections(await d.events(), coid)
            assert (correction.previous_price, correction.fill.price) == (
                Decimal("149.50"),
                Decimal("149.52"),
            )
            _, state = await booked(d, bus)
            assert state.avg_price == Decimal("149.52")
        await bus.close()


def _fill(exec_id: str, price: str = "10") -> Fill:
    return Fill(
        exec_id=exec_id, client_order_id="c1", broker="ib", account="DU1",
        instrument="AAPL.SMART", side=Side.BUY, quantity=Decimal(1), price=Decimal(price),
    )  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 3), st.integers(1, 12)),  # (execution, its correction)
        max_size=14,
    )
)
def test_each_execution_counts_once_at_its_latest_correction(
    reports: list[tuple[int, int]],
) -> None:
    """Whatever order IB sends an execution and its corrections in, what counts is one
    report per execution, its latest: the adapter's book (as `_publish_exec` and
    `_correct` use it) journals each execution's first report as a fill and each later
    correction as a correction of the one journaled last; an earlier one is dropped."""
    ids = [f"0000e{n:04x}.65a1b2c3.01.{c:02d}" for n, c in reports]
    kept = latest_executions([SimpleNamespace(execution=SimpleNamespace(execId=i)) for i in ids])
    heads = {exec_head(i) for i in ids}
    assert len(kept) == len(heads)
    count = {i: int(i.rpartition(".")[2]) for i in ids}
    for fill in kept:
        head = exec_head(fill.execution.execId)
        assert count[fill.execution.execId] == max(count[i] for i in ids if exec_head(i) == head)
    book = CommissionBook()
    journaled_fills: list[str] = []
    for exec_id in ids:
        replaced = book.corrected(exec_id)
        if replaced is None and exec_id not in book.journaled:
            book.journal(_fill(exec_id))
            journaled_fills.append(exec_id)
        elif replaced is not None and newer(exec_id, replaced):
            previous = book.latest(replaced)
            assert previous is not None
            assert previous.exec_id == replaced
            correction = FillCorrection(
                replaces=replaced, fill=_fill(exec_id), previous_quantity=Decimal(1),
                previous_price=previous.price,
            )  # fmt: skip
            book.journal_correction(correction)
    assert len(journaled_fills) == len(heads)
    for head in heads:
        latest = book.latest(head + ".01")
        assert latest is not None
        first = next(i for i in ids if exec_head(i) == head)
        assert count[latest.exec_id] == max(
            count[i] for i in ids[ids.index(first) :] if exec_head(i) == head
        )
