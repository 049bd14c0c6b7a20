"""A cancel of an order TWS never acknowledged (its place had no answer) shows the
order as what it is: a place not resolved yet (PENDING_NEW), never PENDING_CANCEL.

The cancel was journaled PENDING_CANCEL, TWS answered 10147 (it has no such order) and
the order then read "being cancelled" while TWS was asked what became of its place, for
up to `unknown_order_window_s`, before it ended REJECTED: a cancel on its way that was
not (TWS had already said it holds no such order). The state machine takes no
PENDING_CANCEL -> PENDING_NEW, so the intent is journaled as the cancel request alone:
the order stays PENDING_NEW, with the request in its history, the trader is told what
happens next, and the place's resolution ends it (REJECTED if it never reached TWS, or
as TWS reports it).

Everything runs against the fake TWS with the real ib_async client; the engine, its
OMS and its command gateway are the real ones.
"""

from __future__ import annotations

import asyncio

import pytest

from silvertine_tui.brokers import BrokerTimeout
from silvertine_tui.domain import OrderStatus
from silvertine_tui.engine.commands import CancelOrder, EngineGateway, Failed
from silvertine_tui.events import CancelRequestEvent, EventBase
from tests.fakes.tws import FakeTws
from tests.fakes.tws import messages as m
from tests.support.ib import Desk, desk, statuses, updates
from tests.support.waiting import until as until_true

from .test_ib_cancel_everything import engine_for, sync

S = OrderStatus
WINDOW_S = 1.2


def cancel_requests(events: list[EventBase], coid: str) -> list[str]:
    return [
        e.payload.reason
        for e in events
        if isinstance(e, CancelRequestEvent) and e.payload.client_order_id == coid
    ]


async def ended(d: Desk, coid: str, within_s: float = 5.0) -> list[EventBase]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within_s
    while True:
        events = await d.events()
        said = statuses(events, coid)
        if said and said[-1].is_terminal:
            return events
        assert loop.time() < deadline, f"{coid} not ended within {within_s} s: {said}"
        await asyncio.sleep(0.02)


async def test_a_cancel_answered_10147_leaves_the_order_pending_new_until_resolved() -> None:
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
        assert len(fake.requests_of(m.CANCEL_ORDER)) == 1  # the cancel went out
        events = await d.events()
        # The intent is journaled (the request), but not as "being cancelled".
        assert cancel_requests(events, coid) != []
        assert statuses(events, coid) == [S.PENDING_NEW]
        await sync(engine, d.bus)
        view = engine.oms.get(coid)
        assert view is not None
        assert view.order.status is S.PENDING_NEW  # what the desk shows meanwhile
        assert any(isinstance(e, CancelRequestEvent) for e in view.history)
        # The trader is told, in the outcome, what it shows and what comes next.
        assert isinstance(outcome, Failed), outcome
        assert outcome.error_kind == "UnknownOrder"
        assert "10147" in outcome.error
        assert "shows PENDING_NEW" in outcome.error
        assert "PENDING_CANCEL" not in outcome.error
        assert "REJECTED" in outcome.error
        events = await ended(d, coid)
        assert statuses(events, coid) == [S.PENDING_NEW, S.REJECTED]
        assert "never reached the venue" in updates(events, coid)[-1].reason
        await sync(engine, d.bus)
        view = engine.oms.get(coid)
        assert view is not None
        assert view.order.status is S.REJECTED
        assert engine.oms.open_count(d.broker.name) == 0
        assert engine.anomalies.total == 0, engine.anomalies.last


async def test_a_cancel_while_the_place_waits_journals_no_pending_cancel() -> None:
    """The trader cancels while the place still waits for TWS's answer; TWS's 10147
    answers the cancel. The order is PENDING_NEW throughout and ends REJECTED."""
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
        assert outcome.error_kind == "UnknownOrder"
        assert "shows PENDING_NEW" in outcome.error
        assert statuses(await d.events(), coid) == [S.PENDING_NEW]
        with pytest.raises(BrokerTimeout, match="no answer"):
            await placing
        events = await ended(d, coid)
        assert statuses(events, coid) == [S.PENDING_NEW, S.REJECTED]
        await sync(engine, d.bus)
        assert engine.anomalies.total == 0, engine.anomalies.last


async def test_a_cancel_of_an_acknowledged_order_still_journals_pending_cancel() -> None:
    """The journal's PENDING_CANCEL stays for an order TWS reported: only a place with
    no answer is kept as it is."""
    async with FakeTws() as fake, desk(fake) as d:
        engine = await engine_for(d)
        coid = await engine.submit(d.request(limit="148.00"))
        await sync(engine, d.bus)
        outcome = await EngineGateway(engine).send(CancelOrder(client_order_id=coid))
        assert not isinstance(outcome, Failed), outcome
        await d.broker.settle()
        events = await d.events()
        assert statuses(events, coid) == [S.PENDING_NEW, S.NEW, S.PENDING_CANCEL, S.CANCELED]
        assert len(cancel_requests(events, coid)) == 1


async def test_a_cancel_that_reaches_the_order_at_tws_ends_it_as_tws_reports() -> None:
    """TWS took the order but its answer was lost; the trader cancels while the place
    waits. TWS cancels it: the order goes from PENDING_NEW to CANCELED as TWS reports,
    with no PENDING_CANCEL the order could not step back from."""
    async with FakeTws() as fake, desk(fake, order_timeout_s=2) as d:
        engine = await engine_for(d)
        fake.lose_next_order_answer()
        request = d.request(limit="148.00")
        coid = request.client_order_id
        placing = asyncio.create_task(engine.submit(request))
        await until_true(lambda: len(fake.orders) == 1, what="the order at TWS")
        await sync(engine, d.bus)
        outcome = await EngineGateway(engine).send(CancelOrder(client_order_id=coid))
        assert not isinstance(outcome, Failed), outcome
        await placing  # TWS's Cancelled answered the place too
        await d.broker.settle()
        events = await d.events()
        assert statuses(events, coid) == [S.PENDING_NEW, S.CANCELED]
        assert len(cancel_requests(events, coid)) == 1
        assert not fake.orders[0].working
        await sync(engine, d.bus)
        view = engine.oms.get(coid)
        assert view is not None
        assert view.order.status is S.CANCELED
        assert engine.anomalies.total == 0, engine.anomalies.last
