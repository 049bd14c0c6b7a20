"""An IB order the engine re-opened (`recovery._reopen`) is followed by the adapter:
`c` cancels it at TWS, the kill switch's CANCELED is journaled, and its later fills
and statuses are journaled, whether the reconcile that re-opened it ran after a 1102,
after a reconnect, or before a restart of the desk.

The drill: SELL 5 AAPL @ 152 working; TWS reports an execution of 8 shares for it
with a Filled status (an overfill): the desk ends it FILLED. TWS still lists it open
(Submitted, nothing filled), so the reconcile re-opens it and tells the adapter
(`update_journaled`). The re-opening is journaled as the reconcile's own event (no
order update). A restarted adapter read back only the updates: it held the order
FILLED, refused its `c` as "came too late ... nothing is working there" while TWS
worked it, and dropped TWS's later statuses of it (the kill switch's CANCELED, its
fills' PARTIALLY_FILLED and FILLED) as stale: the desk showed it working for good.

Everything runs against the fake TWS with the real ib_async client and the real
engine; the overfilling execution and its status go out on the wire as TWS writes
them (`FakeTws.send_frame`), leaving the fake's order as TWS holds it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from silvertine_tui.bus import EventBus
from silvertine_tui.domain import OrderStatus, Side
from silvertine_tui.engine.core import TradingEngine
from silvertine_tui.engine.recovery import reconcile_broker
from silvertine_tui.events import ReconcileEvent, ReconcileKind
from tests.fakes.tws import FakeTws
from tests.fakes.tws import messages as m
from tests.fakes.tws.exchange import Execution
from tests.fakes.tws.exchange import Order as TwsOrder
from tests.support.ib import Desk, desk, fills, new_bus, statuses, updates
from tests.unit.test_ib_cancel_everything import engine_for, sync

S = OrderStatus
KEY = "AAPL.SMART"
NEVER = 3600.0  # no poll of other client ids within a test
PATHS = ("1102", "reconnect", "restart")


def overfilling(order: TwsOrder, shares: str = "8") -> Execution:
    """An execution of `shares` for `order` at its limit, more than the order."""
    qty, price = Decimal(shares), order.ticket.limit_price or Decimal(0)
    return Execution(
        exec_id=f"0000e{order.perm_id % 0x1000000:06x}.000000ff.01.01",
        order=order,
        side="SLD" if order.ticket.action == "SELL" else "BOT",
        shares=qty,
        price=price,
        time=datetime.now(UTC),
        cum_qty=qty,
        avg_price=price,
        liquidity=1,
        commission=Decimal("1"),
        commission_currency="USD",
        realized_pnl=None,
    )


async def overfill(fake: FakeTws, order: TwsOrder, shares: str = "8") -> None:
    """TWS reports `shares` executed for the order and the order Filled (execDetails,
    commissionReport, orderStatus, as TWS writes them); its own order is untouched:
    TWS still works it."""
    execution = overfilling(order, shares)
    await fake.send_frame(m.exec_details(-1, execution, fake.account))
    await fake.send_frame(m.commission_report(execution))
    filled = execution.shares
    price = execution.price
    await fake.send_frame(
        [
            3,  # orderStatus
            order.order_id,
            "Filled",
            filled,
            0,  # remaining
            price,  # average fill price
            order.perm_id,
            0,  # parentId
            price,  # last fill price
            order.client_id,
            "",  # whyHeld
            0,  # mktCapPrice
        ]
    )


@dataclass
class Reopened:
    d: Desk
    engine: TradingEngine
    coid: str
    order: TwsOrder


async def reconciled_by_the_session(
    d: Desk, engine: TradingEngine, cause: Callable[[], Awaitable[None]]
) -> None:
    """`cause` (a 1102, a dropped socket), then the reconcile the adapter asks for
    once it is back (`announce_reconnect`), as the desk's session runs it."""
    done: list[int] = []

    async def reconcile() -> None:
        await reconcile_broker(engine, d.broker)
        done.append(1)

    d.broker.on_reconnect(reconcile)
    await cause()
    await d.wait(lambda: bool(done), "the reconcile after it", timeout=6.0)
    await d.broker.settle()
    await sync(engine, d.bus)


async def overfilled_and_reopened(d: Desk, engine: TradingEngine, path: str) -> Reopened:
    fake = d.fake
    coid = await engine.submit(d.request(Side.SELL, "5", limit="152.00"))
    await d.wait_journal(lambda ev: S.NEW in statuses(ev, coid), "the order working")
    [order] = [o for o in fake.orders if o.ticket.order_ref == coid]
    await overfill(fake, order)
    await d.wait_journal(
        lambda ev: S.FILLED in statuses(ev, coid) and len(fills(ev, coid)) == 1, "the overfill"
    )
    await d.broker.settle()
    await sync(engine, d.bus)
    view = engine.oms.get(coid)
    assert view is not None
    assert view.order.status is S.FILLED
    assert view.order.overfill is not None
    assert view.order.overfill.quantity == 8

    async def after_1102() -> None:
        await fake.connectivity_lost()
        await fake.connectivity_restored()

    async def after_a_drop() -> None:
        await fake.drop_connections()

    if path == "1102":
        await reconciled_by_the_session(d, engine, after_1102)
    elif path == "reconnect":
        await reconciled_by_the_session(d, engine, after_a_drop)
    else:
        await reconcile_broker(engine, d.broker)
        await sync(engine, d.bus)
    events = await d.events()
    [reopened] = [
        e.payload
        for e in events
        if isinstance(e, ReconcileEvent)
        and e.payload.client_order_id == coid
        and e.payload.kind is ReconcileKind.STATUS_MISMATCH
    ]
    assert reopened.venue_order is not None
    view = engine.oms.get(coid)
    assert view is not None
    assert view.order.status is S.NEW  # working again on the desk
    assert order.working  # and at TWS
    return Reopened(d, engine, coid, order)


@asynccontextmanager
async def reopened_order(fake: FakeTws, path: str) -> AsyncIterator[Reopened]:
    """The drill on `path`: the re-opened order, on the desk that re-opened it, or on
    a desk restarted after (same journal, same client id)."""
    bus: EventBus = new_bus()
    await bus.start()
    try:
        options: dict[str, Any] = {"client_id": 1, "other_clients_poll_s": NEVER}
        async with desk(fake, bus, **options) as d:
            engine = await engine_for(d)
            found = await overfilled_and_reopened(d, engine, path)
            if path != "restart":
                yield found
                return
        async with desk(fake, bus, **options) as d:
            engine = await engine_for(d)  # replays the journal, reconciles
            view = engine.oms.get(found.coid)
            assert view is not None
            assert view.order.status is S.NEW
            yield Reopened(d, engine, found.coid, found.order)
    finally:
        await bus.close()


async def settled(r: Reopened) -> None:
    await r.d.broker.settle()
    await sync(r.engine, r.d.bus)


@pytest.mark.parametrize("path", PATHS)
async def test_c_cancels_the_reopened_order_at_tws(path: str) -> None:
    async with FakeTws() as fake, reopened_order(fake, path) as r:
        await r.engine.cancel(r.coid)  # the desk's `c`
        await settled(r)
        assert r.order.status == "Cancelled"  # at TWS
        assert not r.order.working
        said = statuses(await r.d.events(), r.coid)
        assert said[-2:] == [S.PENDING_CANCEL, S.CANCELED]
        view = r.engine.oms.get(r.coid)
        assert view is not None
        assert view.order.status is S.CANCELED


@pytest.mark.parametrize("path", PATHS)
async def test_the_kill_switch_ends_the_reopened_order_on_the_desk(path: str) -> None:
    """The kill switch cancels it as a working order: the report counts it cancelled,
    and the CANCELED TWS sends back is journaled after its PENDING_CANCEL. Held FILLED
    by a restarted adapter, its cancel was refused as too late (the report: "no longer
    working"), TWS's CANCELED was dropped as stale, and only the engine's check of the
    venue's ended orders ended it on the desk."""
    async with FakeTws() as fake, reopened_order(fake, path) as r:
        report = await r.engine.kill("drill")
        assert report.ok, report
        assert report.cancels.cancelled == (r.coid,)
        assert report.cancels.gone == ()
        await settled(r)
        assert r.order.status == "Cancelled"
        last = updates(await r.d.events(), r.coid)[-2:]
        assert [u.status for u in last] == [S.PENDING_CANCEL, S.CANCELED]
        assert "found on reconcile" not in (last[-1].reason or "")
        view = r.engine.oms.get(r.coid)
        assert view is not None
        assert view.order.status is S.CANCELED
        assert r.engine.oms.working() == []


@pytest.mark.parametrize("path", PATHS)
async def test_the_reopened_orders_later_fills_and_statuses_are_journaled(path: str) -> None:
    async with FakeTws() as fake, reopened_order(fake, path) as r:
        before = len(fills(await r.d.events(), r.coid))
        await fake.fill(r.order.order_id, "2", client_id=1)
        events = await r.d.wait_journal(
            lambda ev: S.PARTIALLY_FILLED in statuses(ev, r.coid), "the partial fill's status"
        )
        await fake.fill(r.order.order_id, client_id=1)  # the rest: 3
        events = await r.d.wait_journal(
            lambda ev: (
                len(fills(ev, r.coid)) == before + 2 and statuses(ev, r.coid)[-1] is S.FILLED
            ),
            "the last fill and FILLED",
        )
        await settled(r)
        assert [f.quantity for f in fills(events, r.coid)][before:] == [2, 3]
        last = updates(events, r.coid)[-2:]
        assert [(u.status, u.filled_qty) for u in last] == [
            (S.PARTIALLY_FILLED, 2),
            (S.FILLED, 5),
        ]
        view = r.engine.oms.get(r.coid)
        assert view is not None
        assert view.order.status is S.FILLED
        # TWS's position: the 5 it sold; the desk's follows TWS (the 8 reported were
        # taken back with TWS's position at the reconcile).
        assert fake.positions[r.order.spec.con_id].quantity == -5
        assert r.engine.portfolio.position("ib", fake.account, KEY) == -5
