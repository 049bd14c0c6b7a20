"""IB: a modify TWS refuses (201), or answers only with pacing errors, while a cancel of
the same order was journaled after the modify went: the order's status is put back from
PENDING_REPLACE only while the order still reads it (`IBOrders._change_put_back`, the
one path of every change's put-back). Before, only a change refused after its journal
writes did so (`_change_not_sent`, 871caf0); TWS's refusal wrote NEW "modify refused,
the order works on unchanged" over the cancel's PENDING_CANCEL, or a second CANCELED
carrying that reason after TWS's CANCELED.

TWS frozen (its API thread held) while the modify and then the cancel are sent: it
reads both once thawed, in order. Against the fake TWS with the real ib_async client."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

from silvertine_tui.brokers import BrokerTimeout, OrderRejected, RateLimited
from silvertine_tui.domain import OrderStatus
from tests.fakes.tws import FakeTws
from tests.support.ib import desk, statuses, updates

S = OrderStatus
REFUSED = "modify refused, the order works on unchanged"

# What TWS answers the modify with, whether it answers the cancel, what the modify
# raises, and the journal from the modify's PENDING_REPLACE on.
CASES = {
    "refused, cancel unanswered": (
        [201],
        False,
        OrderRejected,
        [S.PENDING_REPLACE, S.PENDING_CANCEL],
    ),
    "refused, then cancelled": (
        [201],
        True,
        OrderRejected,
        [S.PENDING_REPLACE, S.PENDING_CANCEL, S.CANCELED],
    ),
    "pacing every time, cancel unanswered": (
        [100] * 4,
        False,
        RateLimited,
        [S.PENDING_REPLACE, S.PENDING_CANCEL],
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
async def test_a_modify_tws_refuses_does_not_write_over_a_cancel(case: str) -> None:
    answers, cancel_answered, error, tail = CASES[case]
    async with FakeTws() as fake, desk(fake) as d:
        coid = await d.broker.place(d.request(qty="3", limit="149.50"))
        await d.broker.settle()
        await d.wait_journal(lambda ev: S.NEW in statuses(ev, coid), "NEW")
        for code in answers:
            fake.reject_next_order(code, "Order rejected - reason:test")
        if not cancel_answered:
            fake.ignore_next("cancel_order")  # (TWS slow on the cancel)
        fake.freeze()
        modify = asyncio.create_task(d.broker.modify(coid, limit_price=Decimal("149.00")))
        await d.wait_journal(lambda ev: S.PENDING_REPLACE in statuses(ev, coid), "PR")
        cancel = asyncio.create_task(d.broker.cancel(coid))
        await d.wait_journal(lambda ev: S.PENDING_CANCEL in statuses(ev, coid), "PC")
        fake.thaw()
        with pytest.raises(error):
            await asyncio.wait_for(modify, 5)
        if cancel_answered:
            await asyncio.wait_for(cancel, 5)
        await d.broker.settle()
        await asyncio.sleep(0.1)  # (anything written after TWS's answers lands)

        said = [(u.status, u.reason) for u in updates(await d.events(), coid)]
        seq = [status for status, _ in said]
        assert seq[seq.index(S.PENDING_REPLACE) :] == tail, said
        assert not [r for _, r in said if r.startswith(REFUSED) or "modify not done" in r], said
        assert d.broker.ids.get(coid).status is tail[-1]  # type: ignore[union-attr]
        if not cancel_answered:
            with pytest.raises(BrokerTimeout):  # (its answer never comes)
                await asyncio.wait_for(cancel, 5)
