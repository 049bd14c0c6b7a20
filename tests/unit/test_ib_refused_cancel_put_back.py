"""IB: a cancel TWS refuses (161, not cancellable now; or pacing answers every time) puts
the order's status back from PENDING_CANCEL only while the order still reads it
(`IBOrders._cancel_put_back`, the one path of every cancel's put-back, as
`_change_put_back` is a change's). Before, the cancel's put-back wrote TWS's last
status with "cancel refused ..." / "cancel not done ..." over whatever the journal had
taken meanwhile: a modify's PENDING_REPLACE journaled while the cancel waited (the desk
showed NEW at the old price while the change was on its way), or TWS's own report of a
fill made while the cancel waited (written again after it as the cancel's word).

Against the fake TWS with the real ib_async client."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from decimal import Decimal

import pytest

from silvertine_tui.brokers import BrokerError, OrderRejected, RateLimited
from silvertine_tui.domain import OrderStatus
from tests.fakes.tws import FakeTws
from tests.support.ib import Desk, desk, statuses, updates

S = OrderStatus
NOT_CANCELLABLE = "Cancel attempted when order is not in a cancellable state."


def _put_backs(said: list[tuple[OrderStatus, str]]) -> list[tuple[OrderStatus, str]]:
    return [(s, r) for s, r in said if r.startswith(("cancel refused", "cancel not done"))]


async def _modify_on_its_way(d: Desk, coid: str) -> Callable[[], Awaitable[None]]:
    """A modify the exchange takes 0.5 s to confirm, journaled (PENDING_REPLACE) while
    the cancel waits; what finishes it once the cancel is answered."""
    d.fake.delay_next_modify(0.5)
    modify = asyncio.create_task(d.broker.modify(coid, limit_price=Decimal("149.00")))
    await d.wait_journal(lambda ev: S.PENDING_REPLACE in statuses(ev, coid), "PR")

    async def finish() -> None:
        await asyncio.wait_for(modify, 3)

    return finish


async def _filled_meanwhile(d: Desk, coid: str) -> Callable[[], Awaitable[None]]:
    """One of three fills while the cancel waits: TWS's PARTIALLY_FILLED journaled."""
    [order] = d.fake.orders
    await d.fake.fill(order.order_id, "1")
    await d.wait_journal(lambda ev: S.PARTIALLY_FILLED in statuses(ev, coid), "PF")

    async def finish() -> None:
        return None

    return finish


MEANWHILE = {"modify": _modify_on_its_way, "partial fill": _filled_meanwhile}
# What the journal reads from the cancel's PENDING_CANCEL on, once everything is
# answered: the put-back nowhere in it.
TAILS = {
    "modify": [S.PENDING_CANCEL, S.PENDING_REPLACE, S.NEW],  # NEW: "modify accepted"
    "partial fill": [S.PENDING_CANCEL, S.PARTIALLY_FILLED],
}


# (Not pacing with a modify on its way: TWS's pacing answer names the order, not the
# request, and goes to the modify waiting: a question of its own.)
@pytest.mark.parametrize(
    ("refusal", "meanwhile"),
    [("161", "modify"), ("161", "partial fill"), ("pacing", "partial fill")],
)
async def test_a_refused_cancel_puts_back_only_while_the_order_is_pending_cancel(
    refusal: str, meanwhile: str
) -> None:
    async with FakeTws() as fake, desk(fake) as d:
        coid = await d.broker.place(d.request(qty="3", limit="149.50"))
        await d.broker.settle()
        await d.wait_journal(lambda ev: S.NEW in statuses(ev, coid), "NEW")
        [order] = fake.orders
        if refusal == "pacing":
            fake.freeze()  # TWS reads the cancel (and paces it) once thawed
            fake.pace_next("cancel_order", code=100, times=4)
        else:
            fake.ignore_next("cancel_order")  # (answered below, with 161)
        cancel = asyncio.create_task(d.broker.cancel(coid))
        await d.wait_journal(lambda ev: S.PENDING_CANCEL in statuses(ev, coid), "PC")
        finish = await MEANWHILE[meanwhile](d, coid)
        if refusal == "pacing":
            fake.thaw()
            error: type[BrokerError] = RateLimited
        else:
            await fake.send_error(161, NOT_CANCELLABLE, req_id=order.order_id)
            error = OrderRejected
        with pytest.raises(error):
            await asyncio.wait_for(cancel, 3)
        await finish()
        await d.broker.settle()
        await asyncio.sleep(0.1)  # (anything written after TWS's answers lands)

        said = [(u.status, u.reason) for u in updates(await d.events(), coid)]
        seq = [status for status, _ in said]
        assert seq[seq.index(S.PENDING_CANCEL) :] == TAILS[meanwhile], said
        assert not _put_backs(said), said
        assert d.broker.ids.get(coid).status is TAILS[meanwhile][-1]  # type: ignore[union-attr]


@pytest.mark.parametrize("refusal", ["161", "pacing"])
async def test_a_refused_cancel_with_nothing_meanwhile_still_puts_the_status_back(
    refusal: str,
) -> None:
    """The put-back itself stays: with nothing journaled after the cancel's
    PENDING_CANCEL, TWS's last status goes back with the refusal's words."""
    async with FakeTws() as fake, desk(fake) as d:
        coid = await d.broker.place(d.request(qty="3", limit="149.50"))
        await d.broker.settle()
        await d.wait_journal(lambda ev: S.NEW in statuses(ev, coid), "NEW")
        [order] = fake.orders
        if refusal == "pacing":
            fake.pace_next("cancel_order", code=100, times=4)
            error: type[BrokerError] = RateLimited
        else:
            fake.ignore_next("cancel_order")
            error = OrderRejected
        cancel = asyncio.create_task(d.broker.cancel(coid))
        if refusal == "161":
            await d.wait_journal(lambda ev: S.PENDING_CANCEL in statuses(ev, coid), "PC")
            await fake.send_error(161, NOT_CANCELLABLE, req_id=order.order_id)
        with pytest.raises(error):
            await asyncio.wait_for(cancel, 3)
        await d.broker.settle()
        said = [(u.status, u.reason) for u in updates(await d.events(), coid)]
        seq = [status for status, _ in said]
        assert seq[seq.index(S.PENDING_CANCEL) :] == [S.PENDING_CANCEL, S.NEW], said
        assert len(_put_backs(said)) == 1, said
        assert d.broker.ids.get(coid).status is S.NEW  # type: ignore[union-attr]
