"""A cancel of an order whose cancel, sent from elsewhere (TWS's own window, another
client id), is already pending at IB: TWS answers it 10148 `... cannot be cancelled,
state: PendingCancel.`. The order is going, not refused: the cancel waits for its end
as for its own (nothing sent again), and the journal never puts the order back to
NEW. Before, the order went back to NEW on the desk and the trader read "cancel
refused" of an order being cancelled. The real ib_async client against the fake TWS."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from silvertine_tui.brokers import BrokerTimeout
from silvertine_tui.domain import OrderStatus
from tests.fakes.tws import FakeTws
from tests.fakes.tws import messages as m
from tests.support.ib import desk, statuses

from .test_ib_cancel_too_late import errors_sent

S = OrderStatus


async def until(what: str, check: Callable[[], bool]) -> None:
    for _ in range(500):
        if check():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


def pending_cancel_answer(order_id: int) -> tuple[int, str]:
    return (
        10148,
        f"OrderId {order_id} that needs to be cancelled cannot be cancelled, state: PendingCancel.",
    )


@pytest.mark.parametrize("paced", [0, 3])
async def test_a_cancel_behind_one_pending_at_ib_ends_with_it(paced: int) -> None:
    """`paced`: TWS answered the cancel with pacing errors first (each tried again): the
    wait for the order's end does not count among those tries."""
    async with FakeTws() as fake, desk(fake) as d:
        coid = await d.broker.place(d.request())
        [order] = fake.orders
        await fake.cancel_pending_elsewhere(order.order_id)
        fake.pace_next("cancel_order", times=paced)
        cancel = asyncio.create_task(d.broker.cancel(coid))
        await until(
            "TWS's 10148", lambda: pending_cancel_answer(order.order_id) in errors_sent(fake)
        )
        await asyncio.sleep(0.05)
        assert not cancel.done(), "the cancel did not wait for the order's end"
        await fake.cancel_by_venue(order.order_id)
        await asyncio.wait_for(cancel, 2)
        await d.broker.settle()
        assert statuses(await d.events(), coid) == [
            S.PENDING_NEW,
            S.NEW,
            S.PENDING_CANCEL,
            S.CANCELED,
        ]
        assert len(fake.requests_of(m.CANCEL_ORDER)) == 1 + paced  # not again once taken
        assert not d.broker.knows_order(coid)
        assert "tws_10148" not in d.broker.health_state.errors


async def test_one_that_does_not_end_in_time_says_so_and_stays_pending_cancel() -> None:
    async with FakeTws() as fake, desk(fake) as d:
        coid = await d.broker.place(d.request())
        [order] = fake.orders
        await fake.cancel_pending_elsewhere(order.order_id)
        with pytest.raises(BrokerTimeout, match=r"sent from elsewhere .* is pending at IB") as e:
            await d.broker.cancel(coid)
        assert "it shows PENDING_CANCEL until TWS reports its end" in str(e.value)
        await d.broker.settle()
        said = statuses(await d.events(), coid)
        assert said[-1] is S.PENDING_CANCEL, said  # not put back to NEW, nor REJECTED
        assert S.REJECTED not in said
        assert len(fake.requests_of(m.CANCEL_ORDER)) == 1
        # IB confirms the cancel later: the desk shows it CANCELED.
        await fake.cancel_by_venue(order.order_id)
        await d.broker.settle()
        assert statuses(await d.events(), coid)[-1] is S.CANCELED
