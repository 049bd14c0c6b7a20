"""Another program's order given the permId of an order of ours that ended (the drill's
HIGH): TWS restarted with its state wiped numbers its orders from its first permId
again (real IB never reuses one), and another API client (client id 50, no orderRef)
buys 3 AAPL at 149.45 under the permId of our BUY 10 AAPL LMT 146.00, cancelled before
the restart. Its execution is that program's, never a fill of our cancelled order: it
is journaled as another program's fill (`ib-<permId>`, as for any execution of an
order the desk did not place), and our order keeps its end and its history.

Before, `IdentityMap.find` gave every report of the permId to its old owner (the report's
orderRef empty, `_named_instead` named no one): the restarted desk booked the execution
to the cancelled order (`CANCELED 3 149.45`, its history `CANCELED` then `FILL BUY 3 @
149.45`, above its limit), with no anomaly and no word.

Heard three ways, each against a fresh fake TWS (its permIds start again) with the real
ib_async client, the desk's journal kept across the restart: at the restarted desk's
catch-up and reconcile (the order filled while the desk was down), live as TWS's master
client (the order's openOrder, status and execution), and live as an execution of an
order no one was told of (TWS's own window: no trade in ib_async).
"""

from __future__ import annotations

from decimal import Decimal

from ib_async import LimitOrder, Stock

from silvertine_tui.brokers.ib import IBBroker
from silvertine_tui.brokers.ib.identity import IdentityMap
from silvertine_tui.bus import EventBus
from silvertine_tui.domain import OrderStatus, Side
from silvertine_tui.engine.core import TradingEngine
from silvertine_tui.engine.recovery import reconcile_broker
from silvertine_tui.events import EventBase, LogLevel, ReconcileEvent, ReconcileKind
from tests.fakes.tws import FakeTws
from tests.fakes.tws.client import ib_client, until
from tests.support.ib import Desk, desk, fills, ib_config, new_bus, statuses
from tests.unit.test_ib_cancel_everything import engine_for, sync

S = OrderStatus
ENDED = [S.PENDING_NEW, S.NEW, S.PENDING_CANCEL, S.CANCELED]


async def cancelled_before_the_restart(bus: EventBus) -> tuple[str, int]:
    """Our BUY 10 AAPL LMT 146.00, placed and cancelled at a TWS that is then restarted
    (wiped): its client order id and the permId TWS gave it."""
    async with FakeTws() as before:
        await before.set_quote("AAPL", "150.00", "150.05")
        async with desk(before, bus) as first:
            ours = await first.broker.place(first.request(qty="10", limit="146.00"))
            await first.broker.cancel(ours)
            await first.broker.settle()
            assert statuses(await first.events(), ours) == ENDED
            [order] = before.orders
            assert order.ticket.order_ref == ours
            return ours, order.perm_id


async def bought_elsewhere(fake: FakeTws, client_id: int = 50) -> int:
    """Another API client buys 3 AAPL, no orderRef, filled at the ask (149.45): the
    permId TWS gave its order."""
    async with ib_client(fake, client_id=client_id) as other:
        [aapl] = await other.qualifyContractsAsync(Stock("AAPL", "SMART", "USD"))
        trade = other.placeOrder(aapl, LimitOrder("BUY", 3, 149.50, account=fake.account))
        await until(other, lambda: trade.orderStatus.status == "Filled")
        assert trade.order.orderRef == ""
        return int(trade.order.permId)


def missed_fills(events: list[EventBase]) -> list[str | None]:
    return [
        e.payload.client_order_id
        for e in events
        if isinstance(e, ReconcileEvent) and e.payload.kind is ReconcileKind.MISSED_FILL
    ]


async def assert_taken_as_anothers(d: Desk, engine: TradingEngine, ours: str, perm_id: int) -> None:
    """Our cancelled order keeps its end, nothing filled; the execution is journaled
    once, as a fill of another program's order, and the position holds it."""
    events = await d.events()
    assert statuses(events, ours) == ENDED
    assert fills(events, ours) == []
    foreign = f"ib-{perm_id}"
    [fill] = fills(events, foreign)
    assert (fill.side, fill.quantity, fill.price) == (Side.BUY, Decimal(3), Decimal("149.45"))
    assert len(fills(events)) == 1
    view = engine.oms.get(ours)
    assert view is not None
    assert view.order.status is S.CANCELED
    assert view.order.filled_qty == 0
    assert engine.portfolio.position("ib", d.broker.account, "AAPL.SMART") == 3
    # Not one of ours whose permId moved: nothing said of it as such.
    assert "perm_id_reused" not in d.broker.health_state.errors
    assert not d.broker.knows_order(ours)


async def test_a_fill_made_while_the_desk_was_down_is_not_booked_to_our_ended_order() -> None:
    """The drill: the restarted desk's catch-up (the day's executions) and its reconcile
    hear the execution of the order that took our permId."""
    bus = new_bus()
    await bus.start()
    try:
        ours, perm_id = await cancelled_before_the_restart(bus)
        async with FakeTws() as fresh:  # TWS restarted, its state wiped
            await fresh.set_quote("AAPL", "149.40", "149.45")
            assert await bought_elsewhere(fresh) == perm_id  # the permId, again
            async with desk(fresh, bus) as d:  # the desk restarts
                await d.broker.settle()
                assert fills(await d.events(), ours) == []  # (the catch-up's)
                engine = await engine_for(d)
                await d.broker.settle()
                await sync(engine, d.bus)
                await assert_taken_as_anothers(d, engine, ours, perm_id)
                assert missed_fills(await d.events()) == [f"ib-{perm_id}"]
                # Once: a second reconcile finds nothing more.
                await reconcile_broker(engine, d.broker)
                await sync(engine, d.bus)
                await assert_taken_as_anothers(d, engine, ours, perm_id)
                assert missed_fills(await d.events()) == [f"ib-{perm_id}"]
    finally:
        await bus.close()


async def test_a_fill_heard_live_as_the_master_client_is_not_booked_to_our_ended_order() -> None:
    """The desk (client id 1) is TWS's master client: the other client's order, its
    status and its execution reach it live, and none is our cancelled order's. The
    execution is another program's order's (left to the reconcile, as every other
    client's execution the master client hears)."""
    bus = new_bus()
    await bus.start()
    try:
        ours, perm_id = await cancelled_before_the_restart(bus)
        async with FakeTws(master_client_id=1) as fresh:
            await fresh.set_quote("AAPL", "149.40", "149.45")
            async with desk(fresh, bus) as d:
                engine = await engine_for(d)
                assert await bought_elsewhere(fresh) == perm_id
                await d.broker.settle()
                # Heard: ib_async holds the execution the master client was sent.
                assert [f.execution.permId for f in d.broker.ib.fills()] == [perm_id]
                events = await d.events()
                assert statuses(events, ours) == ENDED
                assert fills(events, ours) == []
                await reconcile_broker(engine, d.broker)
                await d.broker.settle()
                await sync(engine, d.bus)
                await assert_taken_as_anothers(d, engine, ours, perm_id)
    finally:
        await bus.close()


async def test_an_execution_of_an_order_no_one_was_told_of_is_not_booked_to_our_ended_order() -> (
    None
):
    """TWS reports live an execution of an order ib_async holds no trade for (placed in
    TWS's own window: client id 0, no orderRef), under our cancelled order's permId:
    journaled at once as that order's fill (`_journal_unknown_exec`), and said."""
    bus = new_bus()
    await bus.start()
    try:
        ours, perm_id = await cancelled_before_the_restart(bus)
        async with FakeTws() as fresh, desk(fresh, bus) as d:
            engine = await engine_for(d)
            execution = await fresh.execute_unheard("AAPL", "BUY", "3", "149.45")
            assert execution.order.perm_id == perm_id
            foreign = f"ib-{perm_id}"
            await d.wait_journal(lambda ev: len(fills(ev)) == 1, "the execution journaled")
            await d.broker.settle()
            await sync(engine, d.bus)
            await assert_taken_as_anothers(d, engine, ours, perm_id)
            assert d.broker.health_state.errors["unknown_execution"] == 1
            [said] = [s for s in await d.said_in_log(LogLevel.WARNING) if execution.exec_id in s]
            assert "an order the desk was never told of" in said
            assert f"permId {perm_id}" in said
            await reconcile_broker(engine, d.broker)
            await sync(engine, d.bus)
            await assert_taken_as_anothers(d, engine, ours, perm_id)
            assert missed_fills(await d.events()) == []
            assert [f.client_order_id for f in fills(await d.events())] == [foreign]
    finally:
        await bus.close()


def test_a_report_of_an_ended_orders_perm_id_from_another_order_is_nobodys() -> None:
    """`IdentityMap.find`: a report under the permId of an order of ours that ended is
    that order's only under its own orderRef and from its own client id."""
    ids = IdentityMap()
    ids.add("ours", "AAPL.SMART")
    ids.bind_order("ours", 1, 5)
    ids.bind_perm("ours", 77)
    ids.set_status("ours", S.CANCELED)
    reused: list[tuple[str, str, int]] = []
    ids.on_perm_reused = lambda coid, was, perm: reused.append((coid, was, perm))
    # Its own reports: an execution, a status, TWS's completed order (no API ids).
    assert ids.find(perm_id=77, client_id=1, order_id=5, order_ref="ours") == "ours"
    assert ids.find(perm_id=77, client_id=0, order_id=0, order_ref="ours") == "ours"
    # Another order's: no orderRef, another program's orderRef, another client id.
    assert ids.find(perm_id=77, client_id=50, order_id=3, order_ref="") is None
    assert ids.find(perm_id=77, client_id=0, order_id=0, order_ref="") is None
    assert ids.find(perm_id=77, client_id=50, order_id=3, order_ref="theirs") is None
    assert ids.find(perm_id=77, client_id=50, order_id=3, order_ref="ours") is None
    # Nothing moved: the permId stays the ended order's, no order of ours took it.
    assert ids.known(perm_id=77) == "ours"
    assert ids.get("ours").perm_id == 77  # type: ignore[union-attr]
    assert reused == []
    # Read back from the journal at a restart (no client id known): by its orderRef.
    ids.add("read", "AAPL.SMART")
    ids.bind_perm("read", 78)
    ids.set_status("read", S.FILLED)
    assert ids.find(perm_id=78, client_id=50, order_id=3, order_ref="") is None
    assert ids.find(perm_id=78, client_id=1, order_id=9, order_ref="read") == "read"


def test_a_working_or_adopted_owner_keeps_its_reports_from_its_own_client_id() -> None:
    ids = IdentityMap()
    ids.add("working", "AAPL.SMART")
    ids.bind_order("working", 1, 5)
    ids.bind_perm("working", 10)
    ids.set_status("working", S.NEW)
    assert ids.find(perm_id=10, client_id=1, order_id=5, order_ref="working") == "working"
    assert ids.find(perm_id=10, client_id=50, order_id=3, order_ref="") is None
    ids.adopt("adopted", "AAPL.SMART", perm_id=11, client_id=9, order_id=3, status=S.FILLED)
    # (an adopted order's orderRef is its program's: whatever it is, from its client id)
    assert ids.find(perm_id=11, client_id=9, order_id=3, order_ref="") == "adopted"
    assert ids.find(perm_id=11, client_id=0, order_id=0, order_ref="x") == "adopted"
    assert ids.find(perm_id=11, client_id=50, order_id=4, order_ref="") is None


async def test_an_order_ref_naming_our_ended_order_from_another_client_is_not_its_id() -> None:
    """The client order id another program's order is journaled under
    (`IBState._foreign_id`) is never one of ours, even when its orderRef names the ended
    order whose permId TWS gave it."""
    bus = new_bus()
    broker = IBBroker(ib_config(None), bus)
    broker.ids.add("ours", "AAPL.SMART")
    broker.ids.bind_order("ours", 1, 5)
    broker.ids.bind_perm("ours", 77)
    broker.ids.set_status("ours", S.CANCELED)
    assert broker._coid(77, 50, 3, "ours") is None
    assert broker._foreign_id("ours", 77) == "ib-77"
    assert broker._foreign_id("", 77) == "ib-77"
    assert broker._foreign_id("theirs", 77) == "theirs"
