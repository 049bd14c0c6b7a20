"""A cancel TWS answers 10147 (it has no such order) never leaves the order working on
the desk when TWS does not have it.

An order whose place got no answer (TWS hung, or the socket broke before TWS said
anything) stays PENDING_NEW while TWS is asked what became of it (`resolve_unknown`).
The trader cancels it and TWS answers 10147.
The adapter put the order back to the status TWS had last reported, NEW when TWS had
reported none, so the desk showed a NEW order TWS never had, counted working by the
risk gate and the kill switch, and the place's resolution (REJECTED: "it never reached
the venue") was then refused as stale (NEW -> REJECTED): the order stayed NEW until a
reconcile ended it CANCELED. The cancel of an order TWS never acknowledged is journaled
as its request alone: the order stays PENDING_NEW, a place not resolved (journaled
PENDING_CANCEL, it read "being cancelled" after TWS had said it holds no such order,
and the state machine takes no PENDING_CANCEL -> PENDING_NEW), ends as the place's
resolution says, and the trader is told so.

An order TWS had acknowledged and then answers 10147 for (it ended, and TWS was
restarted since: it no longer knows the order id) is asked of TWS: its end is journaled
as TWS holds it (its fill, or its cancel), or, with no trace of it at TWS, it is ended
CANCELED on the desk; either way the cancel came too late, and the order is not shown
working again.

Everything runs against the fake TWS with the real ib_async client; the engine, its
OMS and its command gateway are the real ones.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest
from ib_async import LimitOrder, Stock

from silvertine_tui.brokers import BrokerTimeout
from silvertine_tui.domain import ConnectionState, OrderStatus
from silvertine_tui.engine.commands import CancelOrder, EngineGateway, Failed
from silvertine_tui.engine.core import TradingEngine
from silvertine_tui.events import EventBase, LogLevel
from tests.fakes.tws import FakeTws
from tests.fakes.tws import messages as m
from tests.fakes.tws.client import ib_client, round_trip, until
from tests.support.ib import Desk, desk, fills, statuses, updates
from tests.support.waiting import until as until_true

from .test_ib_cancel_everything import engine_for, sync

S = OrderStatus
WINDOW_S = 1.2
"""`unknown_order_window_s`, shortened: how long TWS is asked before an order it never
reported is REJECTED as never received."""


async def ended(d: Desk, coid: str, within_s: float = 5.0) -> list[EventBase]:
    """The journal once the order's last journaled status is terminal."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within_s
    while True:
        events = await d.events()
        said = statuses(events, coid)
        if said and said[-1].is_terminal:
            return events
        assert loop.time() < deadline, f"{coid} not ended within {within_s} s: {said}"
        await asyncio.sleep(0.02)


def assert_never_working_again(engine: TradingEngine, d: Desk, coid: str, end: S) -> None:
    view = engine.oms.get(coid)
    assert view is not None
    assert view.order.status is end
    assert engine.oms.open_count(d.broker.name) == 0
    assert not d.broker.knows_order(coid)
    assert engine.anomalies.total == 0, engine.anomalies.last  # nothing refused as stale


async def test_a_cancel_of_an_order_tws_never_had_leaves_it_to_its_place_s_resolution() -> None:
    async with FakeTws() as fake, desk(fake, order_timeout_s=0.3) as d:
        d.broker.unknown_order_window_s = WINDOW_S
        engine = await engine_for(d)
        fake.ignore_next("place_order")  # lost on the way: TWS never has it
        request = d.request(limit="148.00")
        coid = request.client_order_id
        with pytest.raises(BrokerTimeout):
            await engine.submit(request)
        await sync(engine, d.bus)
        outcome = await EngineGateway(engine).send(CancelOrder(client_order_id=coid))
        assert len(fake.requests_of(m.CANCEL_ORDER)) == 1
        # Nothing is put back: the order is not shown working at TWS, nor being
        # cancelled: it is a place not resolved.
        assert statuses(await d.events(), coid) == [S.PENDING_NEW]
        # The trader is told what became of the cancel, and of the order.
        assert isinstance(outcome, Failed), outcome
        assert outcome.error_kind == "UnknownOrder"
        assert "10147" in outcome.error
        assert "never acknowledged" in outcome.error
        assert "REJECTED" in outcome.error
        assert "refused" not in outcome.error
        events = await ended(d, coid)
        assert statuses(events, coid) == [S.PENDING_NEW, S.REJECTED]
        assert "never reached the venue" in updates(events, coid)[-1].reason
        await sync(engine, d.bus)
        assert_never_working_again(engine, d, coid, S.REJECTED)
        assert fake.orders == []
        assert d.broker.health_state.errors["tws_10147"] == 1  # TWS's answer is counted


async def test_a_cancel_sent_while_the_place_waits_for_its_answer_takes_the_10147() -> None:
    """The trader cancels the order while its place still waits for TWS's answer:
    TWS's 10147 answers the cancel, not the place. Taken for the place's refusal, the
    order was journaled REJECTED "TWS refused it (10147 ...)" (a reason TWS never gave
    the order) and the cancel, its answer gone, waited out its timeout to say "no
    answer". The place times out as places do, and its resolution ends the order."""
    async with FakeTws() as fake, desk(fake, order_timeout_s=1) as d:
        d.broker.unknown_order_window_s = WINDOW_S
        engine = await engine_for(d)
        fake.ignore_next("place_order")
        request = d.request(limit="148.00")
        coid = request.client_order_id
        placing = asyncio.create_task(engine.submit(request))
        await until_true(lambda: len(fake.requests_of(m.PLACE_ORDER)) == 1, what="the place")
        await sync(engine, d.bus)
        outcome = await EngineGateway(engine).send(CancelOrder(client_order_id=coid))
        assert isinstance(outcome, Failed), outcome
        assert outcome.error_kind == "UnknownOrder"  # TWS's answer, not its timeout
        assert "10147" in outcome.error
        assert "never acknowledged" in outcome.error
        with pytest.raises(BrokerTimeout, match="no answer"):
            await placing  # not refused: TWS's 10147 answered the cancel
        events = await ended(d, coid)
        assert statuses(events, coid) == [S.PENDING_NEW, S.REJECTED]
        assert "never reached the venue" in updates(events, coid)[-1].reason
        await sync(engine, d.bus)
        assert_never_working_again(engine, d, coid, S.REJECTED)


async def test_a_cancel_of_an_unacknowledged_order_lost_with_the_socket_is_not_journaled() -> None:
    """The socket broke before TWS said anything of the order: after the reconnect
    ib_async holds no trade for it, so there is nothing to send the cancel through.
    It is refused before it is journaled (the order stays PENDING_NEW; journaled, it
    was put back NEW), and the order ends as its place's resolution says."""
    async with FakeTws() as fake, desk(fake) as d:
        d.broker.unknown_order_window_s = WINDOW_S
        engine = await engine_for(d)
        fake.ignore_next("place_order")
        request = d.request(limit="148.00")
        coid = request.client_order_id
        placing = asyncio.create_task(engine.submit(request))
        await until_true(lambda: len(fake.requests_of(m.PLACE_ORDER)) == 1, what="the place")
        await fake.drop_connections()
        with pytest.raises(BrokerTimeout):
            await placing
        await d.wait_live()
        await sync(engine, d.bus)
        outcome = await EngineGateway(engine).send(CancelOrder(client_order_id=coid))
        assert statuses(await d.events(), coid) == [S.PENDING_NEW]
        assert fake.requests_of(m.CANCEL_ORDER) == []
        assert isinstance(outcome, Failed), outcome
        assert outcome.error_kind == "UnknownOrder"
        assert "not sent" in outcome.error
        assert "never acknowledged" in outcome.error
        events = await ended(d, coid)
        assert statuses(events, coid) == [S.PENDING_NEW, S.REJECTED]
        await sync(engine, d.bus)
        assert_never_working_again(engine, d, coid, S.REJECTED)
        assert fake.orders == []


async def test_an_acknowledged_order_that_filled_unheard_shows_its_fill_not_working() -> None:
    """The order filled at IB without its reports reaching the desk, and TWS was
    restarted since: the cancel is answered 10147, not 10148. What TWS holds of the day
    (the execution, the completed order) is journaled; the cancel came too late."""
    async with FakeTws() as fake, desk(fake) as d:
        engine = await engine_for(d)
        coid = await engine.submit(d.request())
        await sync(engine, d.bus)
        [order] = fake.orders
        fake.exchange.execute(order, order.remaining, Decimal("149.50"), liquidity=1)
        fake.forget_ended_orders()
        outcome = await EngineGateway(engine).send(CancelOrder(client_order_id=coid))
        await d.broker.settle()
        events = await d.events()
        assert statuses(events, coid) == [S.PENDING_NEW, S.NEW, S.PENDING_CANCEL, S.FILLED]
        assert isinstance(outcome, Failed), outcome
        assert outcome.error_kind == "CancelTooLate"
        assert "came too late" in outcome.error
        assert "FILLED" in outcome.error
        assert "10147" in outcome.error
        [fill] = fills(events, coid)
        assert fill.quantity == 3
        assert fill.fee > 0
        await sync(engine, d.bus)
        assert_never_working_again(engine, d, coid, S.FILLED)
        assert engine.portfolio.position(d.broker.name, d.broker.account, "AAPL.SMART") == 3


async def test_an_acknowledged_order_tws_cannot_be_asked_about_is_asked_again() -> None:
    """After the 10147 TWS does not answer the request for the day's executions: what
    became of the order is not known yet. It is not put back working: it shows
    PENDING_CANCEL, TWS is asked again in the background, and what it holds (the
    fill) is journaled and said in the Log."""
    async with FakeTws() as fake, desk(fake) as d:
        engine = await engine_for(d)
        coid = await engine.submit(d.request())
        await sync(engine, d.bus)
        [order] = fake.orders
        fake.exchange.execute(order, order.remaining, Decimal("149.50"), liquidity=1)
        fake.forget_ended_orders()
        fake.ignore_next("executions")
        outcome = await EngineGateway(engine).send(CancelOrder(client_order_id=coid))
        assert statuses(await d.events(), coid) == [S.PENDING_NEW, S.NEW, S.PENDING_CANCEL]
        assert isinstance(outcome, Failed), outcome
        assert outcome.error_kind == "UnknownOrder"
        assert "could not be asked" in outcome.error
        events = await ended(d, coid)
        assert statuses(events, coid) == [S.PENDING_NEW, S.NEW, S.PENDING_CANCEL, S.FILLED]
        assert len(fills(events, coid)) == 1
        assert d.broker.health_state.errors["tws_10147"] == 1
        [said] = [
            line
            for line in await d.said_in_log(LogLevel.WARNING)
            if coid[-8:] in line and "came too late" in line
        ]
        assert "FILLED" in said
        await sync(engine, d.bus)
        assert_never_working_again(engine, d, coid, S.FILLED)


async def test_an_acknowledged_order_tws_has_no_trace_of_is_ended_on_the_desk() -> None:
    """Cancelled at IB on an earlier day without the desk hearing, and TWS restarted
    since: 10147, and TWS lists the order neither open nor completed. It is no longer
    working there: ended CANCELED on the desk, saying why, never shown NEW again."""
    async with FakeTws() as fake, desk(fake) as d:
        engine = await engine_for(d)
        coid = await engine.submit(d.request())
        await sync(engine, d.bus)
        [order] = fake.orders
        fake.exchange.cancel(order)  # its reports never reach the desk
        await fake.new_trading_day()
        fake.forget_ended_orders()
        outcome = await EngineGateway(engine).send(CancelOrder(client_order_id=coid))
        await d.broker.settle()
        events = await d.events()
        assert statuses(events, coid) == [S.PENDING_NEW, S.NEW, S.PENDING_CANCEL, S.CANCELED]
        assert isinstance(outcome, Failed), outcome
        assert outcome.error_kind == "CancelTooLate"
        assert "came too late" in outcome.error
        assert "no longer has the order" in outcome.error
        assert "10147" in updates(events, coid)[-1].reason
        assert fills(events, coid) == []
        await sync(engine, d.bus)
        assert_never_working_again(engine, d, coid, S.CANCELED)
        assert d.broker.state is ConnectionState.LIVE


async def test_fake_tws_forgets_the_ids_of_ended_orders_only() -> None:
    """`forget_ended_orders`: a cancelOrder of an order that ended is 10147 (not found),
    of a working one a cancel as ever; the day's completed orders are still listed."""
    async with FakeTws() as fake, ib_client(fake, client_id=1) as ib:
        [aapl] = await ib.qualifyContractsAsync(Stock("AAPL", "SMART", "USD"))
        done = ib.placeOrder(aapl, LimitOrder("BUY", 2, 149.0, account="DU123456"))
        working = ib.placeOrder(aapl, LimitOrder("BUY", 2, 148.0, account="DU123456"))
        await until(ib, lambda: working.orderStatus.status == "Submitted")
        await fake.fill(done.order.orderId)
        await until(ib, lambda: done.orderStatus.status == "Filled")
        fake.forget_ended_orders()
        errors: list[tuple[int, int]] = []
        ib.errorEvent += lambda req, code, *_: errors.append((req, code))
        ib.client.cancelOrder(done.order.orderId, "")
        ib.cancelOrder(working.order)
        await until(ib, lambda: working.orderStatus.status == "Cancelled")
        await round_trip(ib)
        assert errors == [(done.order.orderId, 10147), (working.order.orderId, 202)]
        completed = await ib.reqCompletedOrdersAsync(False)
        assert done.order.permId in {t.order.permId for t in completed}
