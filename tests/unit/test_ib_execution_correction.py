"""IB corrects an execution by sending it again under an execId that differs only in the
digits after its final period (".01" -> ".02"; IB's Execution.ExecId documentation): the
correction replaces the execution. The desk counts the shares once, and says so."""

from __future__ import annotations

from decimal import Decimal
from types import SimpleNamespace

from hypothesis import given, settings
from hypothesis import strategies as st

from silvertine_tui.brokers.ib.fees import CommissionBook, exec_head, latest_executions
from silvertine_tui.domain import ConnectionState, OrderStatus
from silvertine_tui.events import LogLevel
from tests.fakes.tws import FakeTws
from tests.support.ib import desk, fills, statuses

S = OrderStatus


async def test_a_corrected_execution_is_said_and_not_a_second_fill() -> None:
    async with FakeTws() as fake, desk(fake) as d:
        coid = await d.broker.place(d.request(qty="3", limit="149.50"))
        [order] = fake.orders
        execution = await fake.fill(order.order_id)
        await d.wait_journal(lambda ev: S.FILLED in statuses(ev, coid), "FILLED")
        corrected = await fake.correct_execution(execution, price="149.48")
        await d.broker.settle()
        events = await d.events()
        journaled = fills(events, coid)
        assert [(f.exec_id, f.quantity) for f in journaled] == [(execution.exec_id, 3)]
        [message] = await d.said_in_log(LogLevel.ERROR)
        assert execution.exec_id in message
        assert corrected in message
        assert "149.48" in message
        assert d.broker.health_state.errors["exec_correction"] == 1


async def test_a_correction_made_while_away_is_no_fill_after_the_reconnect() -> None:
    """TWS's replay after a reconnect holds only the corrected execution."""
    async with FakeTws() as fake, desk(fake) as d:
        coid = await d.broker.place(d.request(qty="3", limit="149.50"))
        [order] = fake.orders
        execution = await fake.fill(order.order_id)
        await d.wait_journal(lambda ev: S.FILLED in statuses(ev, coid), "FILLED")
        fake.reserve_client_id(1)
        await fake.drop_connections()
        await d.wait(lambda: d.broker.state is ConnectionState.DISCONNECTED, "DISCONNECTED")
        await fake.correct_execution(execution, price="149.48")
        fake.release_client_id(1)
        await d.wait_live()
        await d.broker.settle()
        assert len(await d.said_in_log(LogLevel.ERROR)) == 1
        journaled = fills(await d.events(), coid)
        assert sum(f.quantity for f in journaled) == Decimal(3)
        assert [f.exec_id for f in journaled] == [execution.exec_id]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 3), st.integers(1, 3)),  # (execution, its correction)
        max_size=12,
    )
)
def test_each_execution_counts_once_at_its_latest_correction(
    reports: list[tuple[int, int]],
) -> None:
    """Whatever order IB sends an execution and its corrections in, what counts is one
    report per execution, its latest; and a correction is known for the journaled one."""
    fills = [
        SimpleNamespace(execution=SimpleNamespace(execId=f"0000e{n:04x}.65a1b2c3.01.{c:02d}"))
        for n, c in reports
    ]
    kept = latest_executions(fills)
    heads = [exec_head(f.execution.execId) for f in kept]
    assert len(heads) == len(set(heads)) == len({exec_head(f.execution.execId) for f in fills})
    for fill in kept:
        head = exec_head(fill.execution.execId)
        assert fill.execution.execId == max(
            f.execution.execId for f in fills if exec_head(f.execution.execId) == head
        )
    book = CommissionBook()
    for fill in fills:
        exec_id = fill.execution.execId
        journaled = book.corrected(exec_id)
        if journaled is None and exec_id not in book.journaled:
            book.remember_journaled(exec_id, with_fee=False)
        else:
            assert journaled is None or exec_head(journaled) == exec_head(exec_id)
    assert len(book.journaled) == len({exec_head(f.execution.execId) for f in fills})
