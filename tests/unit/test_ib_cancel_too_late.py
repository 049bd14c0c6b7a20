"""A cancel that reaches TWS after the order ended (IB's 10148, `OrderId N that needs
to be cancelled cannot be cancelled, state: Filled.`) came too late: it is said so,
it is not an order rejection, and the desk shows the order as TWS ended it (the fill,
from TWS's execDetails and orderStatus), never as still working nor rejected.

The fake TWS's `race_next_cancel` makes the order end the moment before TWS takes the
cancel, as in the race at IB: the fill's (or IB's own cancel's) reports go out first,
then the 10148. Reports that never reached the client (the venue's state changed
behind its back) are asked of TWS. Everything runs against the fake TWS with the real
ib_async client; the engine and its cancel-all are the real ones.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from silvertine_tui.brokers import CancelTooLate, OrderRejected
from silvertine_tui.domain import OrderStatus
from silvertine_tui.engine.commands import CancelOrder, EngineGateway, Failed
from silvertine_tui.events import EventBase
from tests.fakes.tws import FakeTws
from tests.fakes.tws import messages as m
from tests.support.ib import Desk, desk, fills, statuses, updates

from .test_ib_cancel_everything import engine_for, sync, working_at_tws

S = OrderStatus
ENDED_AT_TWS = {"Filled": S.FILLED, "Cancelled": S.CANCELED}


def errors_sent(fake: FakeTws) -> list[tuple[int, str]]:
    """(code, text) of every error frame TWS sent (message 4: `[4, 2, reqId, code,
    text, advancedOrderRejectJson]`)."""
    return [(int(f[3]), f[4]) for s in fake.sessions for f in s.sent if f[:2] == ["4", "2"]]


def assert_as_tws_ended_it(events: list[EventBase], coid: str, d: Desk) -> None:
    """The journal holds the order as TWS ended it: after the cancel request, its end
    and nothing else (no REJECTED, no working status put back), and every execution
    TWS made for it, once, with its commission."""
    [order] = d.fake.orders
    ended = ENDED_AT_TWS[order.status]
    said = statuses(events, coid)
    assert said[: said.index(S.PENDING_CANCEL) + 1] == [S.PENDING_NEW, S.NEW, S.PENDING_CANCEL]
    assert said[said.index(S.PENDING_CANCEL) + 1 :] == [ended]
    assert S.REJECTED not in said
    assert all(not u.reason or "refused" not in u.reason for u in updates(events, coid))
    journaled = fills(events, coid)
    assert sorted(f.exec_id for f in journaled) == sorted(
        e.exec_id for e in d.fake.executions if e.order is order
    )
    assert sum((f.quantity for f in journaled), Decimal(0)) == order.filled
    assert all(f.fee > 0 for f in journaled)
    assert not d.broker.knows_order(coid)
    assert "tws_10148" not in d.broker.health_state.errors


@pytest.mark.parametrize(
    ("outcome", "told", "too_late"),
    [
        ("fill", True, True),  # the race at IB: fill reports, then 10148
        ("fill", False, True),  # the fill's reports never reached this client
        ("cancel", True, False),  # IB cancelled it first: what was asked is done
        ("cancel", False, True),  # cancelled behind the client's back: 10148 only
    ],
)
async def test_a_cancel_that_comes_after_the_order_ended_says_so_and_shows_its_end(
    outcome: str, told: bool, too_late: bool
) -> None:
    async with FakeTws() as fake, desk(fake) as d:
        coid = await d.broker.place(d.request())
        [order] = fake.orders
        if told:
            fake.race_next_cancel(outcome)
        elif outcome == "fill":
            fake.exchange.execute(order, order.remaining, Decimal("149.50"), liquidity=1)
        else:
            fake.exchange.cancel(order)
        if too_late:
            with pytest.raises(CancelTooLate, match="came too late") as raised:
                await d.broker.cancel(coid)
            assert not isinstance(raised.value, OrderRejected)
            ended = ENDED_AT_TWS[order.status]
            assert f"already {ended} at IB" in str(raised.value)
            assert "nothing is working there" in str(raised.value)
            if ended is S.FILLED:
                assert "3 filled; the fill stands" in str(raised.value)
        else:
            await d.broker.cancel(coid)
        # TWS answered the cancel as it does when the order is no longer working.
        state = order.status
        assert errors_sent(fake)[-1] == (
            10148,
            f"OrderId {order.order_id} that needs to be cancelled cannot be cancelled, "
            f"state: {state}.",
        )
        await d.broker.settle()
        assert_as_tws_ended_it(await d.events(), coid, d)
        assert len(fake.requests_of(m.CANCEL_ORDER)) == 1  # never tried again


async def test_the_desk_says_the_cancel_came_too_late_and_shows_the_fill() -> None:
    """The trader's cancel of an order that filled as the cancel went out: the outcome
    says the cancel came too late and the order FILLED (not a rejection, not "cancel
    refused"), and the Orders pane's order is FILLED with its fill and position."""
    async with FakeTws() as fake, desk(fake) as d:
        engine = await engine_for(d)
        coid = await engine.submit(d.request())
        await sync(engine, d.bus)
        fake.race_next_cancel("fill")
        outcome = await EngineGateway(engine).send(CancelOrder(client_order_id=coid))
        assert isinstance(outcome, Failed)
        assert outcome.error_kind == "CancelTooLate"
        assert "came too late" in outcome.error
        assert "FILLED" in outcome.error
        assert "reject" not in outcome.error.lower()
        assert "refused" not in outcome.error
        await d.broker.settle()
        await sync(engine, d.bus)
        view = engine.oms.get(coid)
        assert view is not None
        assert view.order.status is S.FILLED
        assert view.order.filled_qty == 3
        assert view.order.fees == {"USD": Decimal("1")}
        assert engine.portfolio.position(d.broker.name, d.broker.account, "AAPL.SMART") == 3
        assert engine.anomalies.total == 0, engine.anomalies.last


async def test_cancel_all_of_one_instrument_calls_a_filled_order_gone_not_cancelled() -> None:
    """Per order (cancel all of one instrument; a kill honoured from another desk goes
    the same way): the order that filled as its cancel went out is no longer working,
    never "cancelled", never still working; the other one is cancelled."""
    async with FakeTws() as fake, desk(fake) as d:
        engine = await engine_for(d)
        placed = [await engine.submit(d.request(limit=f"14{i}.00")) for i in range(2)]
        await sync(engine, d.bus)
        fake.race_next_cancel("fill")
        report = await engine.cancel_all(instrument="AAPL.SMART")
        [filled] = [c for c, o in zip(placed, fake.orders, strict=True) if o.status == "Filled"]
        [other] = [c for c in placed if c != filled]
        assert report.cancelled == (other,)
        assert report.gone == (filled,)
        assert report.ok, report.summary()
        assert "still working" not in report.summary()
        assert "1 no longer working at the venue" in report.summary()
        assert working_at_tws(fake) == set()
        assert len(fake.requests_of(m.CANCEL_ORDER)) == 2
        await d.broker.settle()
        await sync(engine, d.bus)
        states = {c: engine.oms.get(c) for c in placed}
        assert {c: v.order.status for c, v in states.items() if v} == {
            filled: S.FILLED,
            other: S.CANCELED,
        }
        assert engine.portfolio.position(d.broker.name, d.broker.account, "AAPL.SMART") == 3


async def test_the_kill_switch_says_an_order_that_filled_under_it_is_no_longer_working() -> None:
    """IB's global cancel meets an order that fills the moment before: the kill's
    report says it is no longer working (not cancelled, not still working) and the
    desk shows it FILLED; the others are cancelled."""
    async with FakeTws() as fake, desk(fake) as d:
        engine = await engine_for(d)
        placed = [await engine.submit(d.request(limit=f"14{i}.00")) for i in range(3)]
        await sync(engine, d.bus)
        fake.race_next_cancel("fill")
        report = await engine.kill("drill")
        assert len(fake.requests_of(m.REQ_GLOBAL_CANCEL)) == 1
        [filled] = [c for c, o in zip(placed, fake.orders, strict=True) if o.status == "Filled"]
        assert report.cancels.gone == (filled,)
        assert sorted(report.cancelled) == sorted(c for c in placed if c != filled)
        assert report.ok, report.summary()
        assert "still working" not in report.summary()
        await d.broker.settle()
        await sync(engine, d.bus)
        view = engine.oms.get(filled)
        assert view is not None
        assert view.order.status is S.FILLED
        assert S.REJECTED not in statuses(await d.events(), filled)
        assert engine.oms.working() == []


async def test_a_cancel_after_the_adapter_saw_the_fill_says_too_late_and_sends_nothing() -> None:
    """The order's fill reached the adapter before the desk had it: the trader's cancel
    meanwhile is not sent and says it came too late (it read "ib has no order ...")."""
    async with FakeTws() as fake, desk(fake) as d:
        coid = await d.broker.place(d.request())
        [order] = fake.orders
        await fake.fill(order.order_id)
        await d.broker.settle()
        assert statuses(await d.events(), coid)[-1] is S.FILLED
        with pytest.raises(CancelTooLate) as late:
            await d.broker.cancel(coid)
        said = str(late.value)
        assert "already FILLED at IB (3 filled; the fill stands)" in said
        assert "(nothing was sent)" in said
        assert fake.requests_of(m.CANCEL_ORDER) == []
        assert S.PENDING_CANCEL not in statuses(await d.events(), coid)
