"""Cancels of one IB order that overlap: the cancel key pressed twice, the kill switch
pulled while a single cancel is on its way. One cancelOrder reaches TWS and every
caller has its answer as soon as TWS gives it; one that gets no answer is "no answer"
for every caller, never for one of them alone. Against the fake TWS with the real
ib_async client; the engine and its kill switch are the real ones."""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal

import pytest

from silvertine_tui.brokers import BrokerTimeout
from silvertine_tui.domain import OrderStatus
from silvertine_tui.engine.risk import RiskRejected
from tests.fakes.tws import FakeTws
from tests.fakes.tws import messages as m
from tests.support.ib import FAST, desk, statuses

from .test_ib_cancel_everything import engine_for, sync

S = OrderStatus
TIMEOUT_S = FAST["order_timeout_s"]


async def test_the_kill_switch_behind_a_single_cancel_answers_at_once() -> None:
    async with FakeTws() as fake, desk(fake) as d:
        engine = await engine_for(d)
        coid = await engine.submit(d.request())
        await sync(engine, d.bus)
        started = time.monotonic()
        single = asyncio.create_task(engine.cancel(coid))
        await asyncio.sleep(0)  # the single cancel is on its way
        report = await engine.kill("drill")
        await single
        took = time.monotonic() - started
        assert report.ok, report.summary()
        assert took < TIMEOUT_S / 2, f"{took:.2f} s: a cancel waited out its timeout"
        await d.broker.settle()
        said = statuses(await d.events(), coid)
        assert said[-1] is S.CANCELED
        assert S.NEW not in said[said.index(S.PENDING_CANCEL) :], said  # never put back
        await sync(engine, d.bus)
        view = engine.oms.get(coid)
        assert view is not None
        assert view.order.status is S.CANCELED


async def test_a_cancel_with_no_answer_is_no_answer_for_both_callers() -> None:
    async with FakeTws() as fake, desk(fake) as d:
        coid = await d.broker.place(d.request())
        fake.ignore_next("cancel_order")
        outcomes = await asyncio.gather(
            d.broker.cancel(coid), d.broker.cancel(coid), return_exceptions=True
        )
        assert [type(o) for o in outcomes] == [BrokerTimeout, BrokerTimeout]
        assert len(fake.requests_of(m.CANCEL_ORDER)) == 1
        # Asked again once the first is answered: it goes, and the order is cancelled.
        await d.broker.settle()
        await d.broker.cancel(coid)
        assert len(fake.requests_of(m.CANCEL_ORDER)) == 2
        await d.broker.settle()
        assert statuses(await d.events(), coid)[-1] is S.CANCELED


@pytest.mark.parametrize("presses", [2, 3])
async def test_the_cancel_key_pressed_again_sends_one_cancel(presses: int) -> None:
    async with FakeTws() as fake, desk(fake) as d:
        coid = await d.broker.place(d.request())
        started = time.monotonic()
        outcomes = await asyncio.gather(
            *(d.broker.cancel(coid) for _ in range(presses)), return_exceptions=True
        )
        took = time.monotonic() - started
        assert outcomes == [None] * presses
        assert took < TIMEOUT_S / 2, f"{took:.2f} s: a cancel waited out its timeout"
        assert len(fake.requests_of(m.CANCEL_ORDER)) == 1
        await d.broker.settle()
        said = statuses(await d.events(), coid)
        assert said.count(S.PENDING_CANCEL) == 1
        assert said[-1] is S.CANCELED


async def test_a_change_asked_behind_another_is_checked_when_it_goes() -> None:
    """Two changes of one order: the second waits for the first's answer, and is
    checked then. A kill switch pulled meanwhile (its cancels lost on the way, so the
    order still works at TWS) refuses it: nothing leaves after HALTED. Checked when it
    was asked, it went out after the kill."""
    async with FakeTws() as fake, desk(fake) as d:
        engine = await engine_for(d, retry_delays=())  # the kill tries each cancel once
        coid = await engine.submit(d.request(limit="149.00"))
        await sync(engine, d.bus)
        placed = len(fake.requests_of(m.PLACE_ORDER))
        fake.ignore_next("place_order")  # the first change: no answer (timeout)
        first = asyncio.create_task(engine.modify(coid, limit_price=Decimal("149.10")))
        second = asyncio.create_task(engine.modify(coid, quantity=Decimal("500")))
        await asyncio.sleep(0.1)  # both asked: the first on its way, the second waiting
        fake.ignore_next("global_cancel")
        fake.ignore_next("cancel_order")
        report = await engine.kill("drill")
        assert coid in report.cancels.still_working  # the order still works at TWS
        with pytest.raises(BrokerTimeout):
            await first
        with pytest.raises(RiskRejected, match="HALTED"):
            await second
        assert len(fake.requests_of(m.PLACE_ORDER)) == placed + 1  # the first only
        [order] = fake.orders
        assert order.ticket.quantity != Decimal("500")
