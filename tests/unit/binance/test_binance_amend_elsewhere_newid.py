"""Another program on the desk's Binance account amends one of the desk's orders down
with an order amend keepPriority (`PUT /api/v3/order/amend/keepPriority`) WITHOUT
`newClientOrderId`: Binance gives the order a new random client order id (rest-api.md:
"If not sent, one will be randomly generated") and keeps its venue order id. Its
executionReport says `x` REPLACED, `i` the same venue order, `c` the id it has now and
`C` the one it had; every later report of it (its fills, its end) is under the new id,
and our client order id no longer reaches it at Binance.

Before (a chaos drill): the desk missed it. Orders kept `BUY 0.02 ... NEW`, nothing was
said; the fill after it was booked as a fill of an "unknown order fake...029" while our
row stayed NEW with nothing filled; `c` got -2011 and the reconcile closed the order
CANCELED "no fill of it is known" though 0.015 had filled.

Now the adapter follows the order by its venue order id through such an amend: the new
quantity journaled ("amended at Binance, not by this desk ... client order id now X"),
its fills and its end journaled under our client order id, and a cancel reaches it
(sent under the id Binance holds it by). A reconcile (after a user-data drop, or after
a restart of the desk) meets it in Binance's listing under the new id and takes it as
ours. The other program is a second python-binance client against the fake (the same
key), through Binance's real amend endpoint.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal as D
from typing import Any, NamedTuple

import pytest
from binance.exceptions import BinanceAPIException

from silvertine_tui.brokers.binance import BinanceBroker
from silvertine_tui.bus import BusOptions, MemoryBus
from silvertine_tui.config import Settings
from silvertine_tui.domain import Order, OrderStatus
from silvertine_tui.engine import Session
from silvertine_tui.events import EventBase, ReconcileEvent, ReconcileKind
from tests.contract.test_broker_contract import fills, statuses, updates
from tests.fakes.binance import Commission, FakeBinance, SymbolSpec
from tests.fakes.binance.client import binance_client
from tests.support.binance_broker import binance_config, quick_library_timings
from tests.support.binance_stream import o1
from tests.support.waiting import until

S = OrderStatus
ETH = "ETHUSDT"
AMENDABLE = (SymbolSpec(ETH, "ETH", "USDT", amend_allowed=True),)


class Desk(NamedTuple):
    fake: FakeBinance
    session: Session
    broker: BinanceBroker
    bus: MemoryBus


@asynccontextmanager
async def desk(
    fake: FakeBinance | None = None, bus: MemoryBus | None = None, *, place: bool = True
) -> AsyncIterator[Desk]:
    """A started `Session` trading the fake Binance (ETHUSDT amendable), o1 (BUY 1.0 @
    1,990) working when `place`. A `fake` and a `bus` given are kept (a restart)."""
    with quick_library_timings():
        own_bus = bus is None
        if bus is None:
            bus = MemoryBus(BusOptions(prefix=f"amend-newid-{uuid.uuid4().hex[:8]}", block_ms=50))
        async with contextlib_fake(fake) as venue:
            if fake is None:
                await venue.set_book(ETH, [("1980", "5")], [("2001", "5")])
            settings = Settings(bus={"url": "memory://"}, brokers=[binance_config(venue, [ETH])])
            session = Session(settings, bus=bus)
            try:
                await session.start()
                [broker] = session.brokers
                assert isinstance(broker, BinanceBroker)
                broker.recover_pause_s = (0.05, 0.1)
                await until(lambda: session.ready, 10.0, "the desk started")
                d = Desk(venue, session, broker, bus)
                if place:
                    await broker.place(o1())
                    await until(lambda: status(d) is S.NEW, 5.0, "o1 working on the desk")
                yield d
            finally:
                await session.close()
                if own_bus:
                    await bus.close()


@asynccontextmanager
async def contextlib_fake(fake: FakeBinance | None) -> AsyncIterator[FakeBinance]:
    if fake is not None:
        yield fake
        return
    async with FakeBinance(
        symbols=AMENDABLE, balances={"USDT": "100000"}, commission=Commission(mode="quote")
    ) as made:
        yield made


def order(d: Desk, coid: str = "o1") -> Order | None:
    view = d.session.engine.oms.get(coid)
    return view.order if view is not None else None


def status(d: Desk, coid: str = "o1") -> OrderStatus | None:
    found = order(d, coid)
    return found.status if found is not None else None


async def journal(d: Desk) -> list[EventBase]:
    entries = await d.bus.read(d.bus.layout.exec("binance", "spot"))
    return [e.event for e in entries if e.ok]  # type: ignore[misc]


async def amend_elsewhere(fake: FakeBinance, new_qty: str, **which: Any) -> dict[str, Any]:
    """Another program (a second client, the same key) amends o1 down to `new_qty`,
    sending no newClientOrderId: Binance's answer (`amendedOrder`)."""
    params = {"symbol": ETH, "newQty": new_qty, **(which or {"origClientOrderId": "o1"})}
    async with binance_client(fake) as other:
        answer: dict[str, Any] = await other._put(
            "order/amend/keepPriority", signed=True, data=params
        )
    return dict(answer["amendedOrder"])


async def settle(d: Desk) -> None:
    """Every user-data event the fake sent handled, and the background asks done."""
    await until(
        lambda: d.broker.user.events >= len(d.fake.sent_user_events), 5.0, "the reports read"
    )
    await asyncio.sleep(0.3)


async def test_the_fake_gives_the_amended_order_a_new_client_order_id_as_binance_does() -> None:
    """The wire, as Binance documents it: the amend keeps the venue order id and, with no
    newClientOrderId, gives the order a new random client order id; the REPLACED report
    names the new id in `c` and the old in `C`; the old id reaches nothing any more
    (a cancel by it is -2011), the new id and the venue order id do."""
    async with (
        FakeBinance(symbols=AMENDABLE, balances={"USDT": "100000"}) as fake,
        binance_client(fake) as client,
    ):
        placed = await client.order_limit_buy(
            symbol=ETH, quantity="1", price="1990", newClientOrderId="o1"
        )
        amended = await amend_elsewhere(fake, "0.6")
        new_id = amended["clientOrderId"]
        assert new_id != "o1"
        assert (amended["orderId"], amended["origClientOrderId"]) == (placed["orderId"], "o1")
        report = [e for e in fake.sent_user_events if e.get("e") == "executionReport"][-1]
        assert (report["x"], report["X"], report["i"], report["c"], report["C"], report["q"]) == (
            "REPLACED",
            "NEW",
            placed["orderId"],
            new_id,
            "o1",
            "0.60000000",
        )
        with pytest.raises(BinanceAPIException) as refused:
            await client.cancel_order(symbol=ETH, origClientOrderId="o1")
        assert refused.value.code == -2011
        found = await client.get_order(symbol=ETH, origClientOrderId=new_id)
        assert (found["orderId"], found["origQty"]) == (placed["orderId"], "0.60000000")
        cancelled = await client.cancel_order(symbol=ETH, orderId=placed["orderId"])
        assert (cancelled["status"], cancelled["origClientOrderId"]) == ("CANCELED", new_id)


async def test_an_amend_elsewhere_under_a_new_client_order_id_is_followed_end_to_end() -> None:
    """o1 (1.0) amended down to 0.6 by another program, which gave it a new client order
    id: the desk's o1 reads 0.6 NEW, said ("amended at Binance, not by this desk ...
    client order id now X"); a fill of 0.4 at Binance is o1's (no unknown order); the
    desk's cancel cancels it at Binance and o1 ends CANCELED with its 0.4 filled."""
    async with desk() as d:
        venue_id = d.fake.order_by_client_id("o1").order_id
        amended = await amend_elsewhere(d.fake, "0.6")
        new_id = amended["clientOrderId"]
        await until(lambda: (o := order(d)) is not None and o.quantity == D("0.6"), 5.0, "0.6")
        await settle(d)
        o = order(d)
        assert o is not None
        assert (o.status, o.quantity, o.venue_order_id) == (S.NEW, D("0.6"), str(venue_id))
        said = updates(await journal(d), "o1")[-1].reason
        assert said.startswith("amended at Binance, not by this desk"), said
        assert "quantity 1 -> 0.6" in said, said
        assert f"client order id now {new_id}" in said, said
        assert not [u for u in updates(await journal(d), new_id)]

        await d.fake.fill(venue_id, D("0.4"))
        await until(lambda: status(d) is S.PARTIALLY_FILLED, 5.0, "o1 part filled")
        await settle(d)
        events = await journal(d)
        assert [f.quantity for f in fills(events, "o1")] == [D("0.4")]
        assert not fills(events, new_id)
        assert not updates(events, new_id)
        assert not d.session.engine.anomalies.total

        await d.broker.cancel("o1")
        await until(lambda: status(d) is S.CANCELED, 5.0, "o1 cancelled by the desk")
        assert d.fake.orders[venue_id].status == "CANCELED"
        o = order(d)
        assert o is not None
        assert o.filled_qty == D("0.4")
        assert not d.session.engine.anomalies.total


async def test_its_fill_to_the_end_fills_our_order() -> None:
    """Amended elsewhere to 0.6 under a new id, then filled whole at Binance: o1 reads
    FILLED 0.6 of 0.6, its fill journaled under o1."""
    async with desk() as d:
        venue_id = d.fake.order_by_client_id("o1").order_id
        await amend_elsewhere(d.fake, "0.6", orderId=str(venue_id))
        await until(lambda: (o := order(d)) is not None and o.quantity == D("0.6"), 5.0, "0.6")
        await d.fake.fill(venue_id)
        await until(lambda: status(d) is S.FILLED, 5.0, "o1 filled")
        o = order(d)
        assert o is not None
        assert (o.filled_qty, o.quantity) == (D("0.6"), D("0.6"))
        assert [f.quantity for f in fills(await journal(d), "o1")] == [D("0.6")]
        assert not d.session.engine.anomalies.total


async def test_a_reconcile_meets_it_under_the_new_id_and_keeps_it_ours() -> None:
    """The amend's report never reached the desk (the user-data stream was down): the
    reconcile after the reconnect lists the order under Binance's new client order id.
    It is o1 (its venue order id), not another program's order to adopt, and o1 is not
    closed "no longer open at the venue": it takes Binance's quantity and a cancel
    still reaches it."""
    async with desk() as d:
        venue_id = d.fake.order_by_client_id("o1").order_id
        d.fake.refuse_connections(10_000, user_data=True, streams=False)
        await d.fake.drop_connections(user_data=True, streams=False)
        await until(lambda: not d.broker.user.subscribed, 5.0, "the user stream down")
        amended = await amend_elsewhere(d.fake, "0.6")
        new_id = amended["clientOrderId"]
        d.fake.faults.refused_api_connects = 0
        await until(lambda: (o := order(d)) is not None and o.quantity == D("0.6"), 10.0, "0.6")
        await asyncio.sleep(0.5)  # (the reports sent while it was down never come)
        o = order(d)
        assert o is not None
        assert (o.status, o.venue_order_id) == (S.NEW, str(venue_id))
        assert order(d, new_id) is None
        events = await journal(d)
        assert S.CANCELED not in statuses(events, "o1")
        kinds = [e.payload.kind for e in events if isinstance(e, ReconcileEvent)]
        assert ReconcileKind.VENUE_ORDER_UNKNOWN not in kinds
        assert ReconcileKind.LOCAL_ORDER_UNKNOWN not in kinds

        await d.broker.cancel("o1")
        await until(lambda: status(d) is S.CANCELED, 5.0, "o1 cancelled by the desk")
        assert d.fake.orders[venue_id].status == "CANCELED"


async def test_after_a_restart_the_listing_under_the_new_id_is_our_order() -> None:
    """The desk stops with o1 working; another program amends it (a new client order id)
    meanwhile; the restarted desk's reconcile meets it under that id: o1, at Binance's
    quantity, not closed and not adopted as another program's order; `c` cancels it."""
    with quick_library_timings():
        bus = MemoryBus(BusOptions(prefix=f"amend-restart-{uuid.uuid4().hex[:8]}", block_ms=50))
        async with contextlib_fake(None) as fake:
            await fake.set_book(ETH, [("1980", "5")], [("2001", "5")])
            async with desk(fake, bus) as d:
                venue_id = d.fake.order_by_client_id("o1").order_id
            amended = await amend_elsewhere(fake, "0.6", orderId=str(venue_id))
            new_id = amended["clientOrderId"]
            async with desk(fake, bus, place=False) as again:
                await until(
                    lambda: (o := order(again)) is not None and o.quantity == D("0.6"),
                    10.0,
                    "o1 at 0.6 after the restart",
                )
                await asyncio.sleep(0.5)  # (the reconcile's background asks)
                assert status(again) is S.NEW
                assert order(again, new_id) is None
                events = await journal(again)
                assert S.CANCELED not in statuses(events, "o1")
                kinds = [e.payload.kind for e in events if isinstance(e, ReconcileEvent)]
                assert ReconcileKind.VENUE_ORDER_UNKNOWN not in kinds
                assert ReconcileKind.LOCAL_ORDER_UNKNOWN not in kinds
                await again.broker.cancel("o1")
                await until(lambda: status(again) is S.CANCELED, 5.0, "o1 cancelled")
                assert fake.orders[venue_id].status == "CANCELED"
        await bus.close()


async def test_our_own_amend_afterwards_takes_our_client_order_id_back() -> None:
    """After the amend elsewhere (a new id at Binance), the desk's own cut to 0.5 is an
    amend that sends our id as newClientOrderId: Binance holds the order as o1 again,
    the desk reads 0.5 ("modify accepted"), and a cancel goes under o1."""
    async with desk() as d:
        venue_id = d.fake.order_by_client_id("o1").order_id
        await amend_elsewhere(d.fake, "0.6")
        await until(lambda: (o := order(d)) is not None and o.quantity == D("0.6"), 5.0, "0.6")
        await settle(d)
        await d.broker.modify("o1", quantity=D("0.5"))
        await until(lambda: (o := order(d)) is not None and o.quantity == D("0.5"), 5.0, "0.5")
        assert d.fake.orders[venue_id].client_order_id == "o1"
        assert updates(await journal(d), "o1")[-1].reason.startswith("modify accepted")
        await d.broker.cancel("o1")
        await until(lambda: status(d) is S.CANCELED, 5.0, "o1 cancelled")
        assert d.fake.orders[venue_id].status == "CANCELED"


async def test_a_price_change_afterwards_replaces_the_order_binance_holds_renamed() -> None:
    """After the amend elsewhere (a new id at Binance), the desk's price change is a
    cancelReplace: it cancels the venue order under the id Binance holds it by (ours
    reached nothing: -2011, and STOP_ON_FAILURE placed nothing), and the replacement
    is o1 at 0.6 @ 1,985; its fill is o1's."""
    async with desk() as d:
        old = d.fake.order_by_client_id("o1").order_id
        await amend_elsewhere(d.fake, "0.6")
        await until(lambda: (o := order(d)) is not None and o.quantity == D("0.6"), 5.0, "0.6")
        await settle(d)
        await d.broker.modify("o1", limit_price=D("1985"))
        await until(
            lambda: (o := order(d)) is not None and o.limit_price == D("1985"), 5.0, "1,985"
        )
        new = d.fake.order_by_client_id("o1")
        assert new.order_id != old
        assert d.fake.orders[old].status == "CANCELED"
        assert new.orig_qty == D("0.6")
        o = order(d)
        assert o is not None
        assert (o.status, o.quantity, o.venue_order_id) == (S.NEW, D("0.6"), str(new.order_id))
        await d.fake.fill(new.order_id)
        await until(lambda: status(d) is S.FILLED, 5.0, "o1 filled")
        assert [f.quantity for f in fills(await journal(d), "o1")] == [D("0.6")]
        assert not d.session.engine.anomalies.total
