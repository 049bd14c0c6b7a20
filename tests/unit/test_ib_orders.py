"""IB order flow against the fake TWS: rejects naming the reason, native modify, a
refused modify, stops, IOC, global cancel, pacing on placeOrder. Each test reads what
the trader sees (the journal, the raised error) and what TWS received."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import pytest

from silvertine_tui.brokers import BrokerTimeout, InsufficientFunds, OrderRejected
from silvertine_tui.domain import ConnectionState, Order, OrderStatus, OrderType, Side, TimeInForce
from silvertine_tui.events import OrderRequestEvent, OrderUpdateEvent
from tests.fakes.tws import FakeTws
from tests.fakes.tws import messages as m
from tests.fakes.tws.contracts import STOCK, ContractSpec
from tests.support.ib import desk, fills, statuses, updates

S = OrderStatus


async def test_a_201_reject_names_ibs_reason_and_leaves_nothing_working() -> None:
    async with FakeTws() as fake, desk(fake) as d:
        fake.reject_next_order(201, "Order rejected - reason:Trading is halted")
        request = d.request()
        with pytest.raises(OrderRejected, match="Trading is halted"):
            await d.broker.place(request)
        events = await d.events()
        coid = request.client_order_id
        assert statuses(events, coid) == [S.PENDING_NEW, S.REJECTED]
        assert "Trading is halted" in updates(events, coid)[-1].reason
        assert fake.orders == []
        assert len(fake.requests_of(m.PLACE_ORDER)) == 1, "a rejected order was sent again"
        assert not d.broker.knows_order(coid)


async def test_a_margin_reject_is_insufficient_funds() -> None:
    async with FakeTws(cash={"USD": "1000"}, check_funds=True) as fake, desk(fake) as d:
        request = d.request(qty="100")
        with pytest.raises(InsufficientFunds) as info:
            await d.broker.place(request)
        assert "insufficient" in str(info.value)
        assert "EQUITY WITH LOAN" in str(info.value)
        assert statuses(await d.events(), request.client_order_id)[-1] is S.REJECTED


@dataclass(frozen=True)
class PriceLadder(ContractSpec):
    """A market rule: ticks of 0.05 above 100 (IB's minTick is the finest, 0.01)."""

    def on_tick(self, price: Decimal) -> bool:
        step = Decimal("0.05") if price >= 100 else self.min_tick
        return (price / step) % 1 == 0


async def test_a_110_from_tws_is_a_reject_naming_the_tick_rule() -> None:
    ladder = PriceLadder(**{f: getattr(STOCK, f) for f in STOCK.__dataclass_fields__})
    async with FakeTws(contracts=[ladder]) as fake, desk(fake) as d:
        request = d.request(limit="149.52")
        with pytest.raises(OrderRejected, match="tick"):
            await d.broker.place(request)
        events = await d.events()
        assert statuses(events, request.client_order_id) == [S.PENDING_NEW, S.REJECTED]
        assert "110" in updates(events, request.client_order_id)[-1].reason
        assert fake.orders == []


async def test_native_modify_keeps_the_order_and_its_perm_id() -> None:
    async with FakeTws() as fake, desk(fake) as d:
        coid = await d.broker.place(d.request())
        [order] = fake.orders
        await d.broker.modify(coid, quantity=Decimal(5), limit_price=Decimal("149.40"))
        await d.broker.settle()
        assert len(fake.orders) == 1, "a modify became a new order"
        assert (order.ticket.quantity, order.ticket.limit_price) == (5, Decimal("149.40"))
        events = await d.events()
        assert statuses(events, coid) == [S.PENDING_NEW, S.NEW, S.PENDING_REPLACE, S.NEW]
        answer = updates(events, coid)[-1]
        assert (answer.quantity, answer.limit_price) == (5, Decimal("149.40"))
        assert (
            answer.venue_order_id == updates(events, coid)[1].venue_order_id == str(order.perm_id)
        )


async def test_a_refused_modify_leaves_the_order_working_at_its_old_terms() -> None:
    async with FakeTws() as fake, desk(fake) as d:
        coid = await d.broker.place(d.request())
        [order] = fake.orders
        fake.reject_next_order(201, "Order rejected - reason:Modify not allowed now")
        with pytest.raises(OrderRejected, match="Modify not allowed now"):
            await d.broker.modify(coid, limit_price=Decimal("149.00"))
        events = await d.events()
        assert statuses(events, coid) == [S.PENDING_NEW, S.NEW, S.PENDING_REPLACE, S.NEW]
        assert "modify refused" in updates(events, coid)[-1].reason
        assert order.ticket.limit_price == Decimal("149.50")
        assert order.working
        # ib_async marked the trade Cancelled; the order can still be modified...
        await d.broker.modify(coid, limit_price=Decimal("149.30"))
        assert order.ticket.limit_price == Decimal("149.30")
        # ...and TWS's next report is what counts.
        await fake.fill(order.order_id)
        events = await d.wait_journal(lambda ev: S.FILLED in statuses(ev, coid), "FILLED")
        assert sum(f.quantity for f in fills(events, coid)) == 3


async def test_a_stop_waits_for_its_trigger_then_fills() -> None:
    async with FakeTws() as fake, desk(fake) as d:
        await fake.set_quote("AAPL", "150.00", "150.05")
        request = d.request(Side.BUY, "2", kind=OrderType.STOP, limit=None, stop="151.00",
                            tif=TimeInForce.DAY)  # fmt: skip
        coid = await d.broker.place(request)
        await d.broker.settle()
        assert statuses(await d.events(), coid) == [S.PENDING_NEW, S.NEW]
        await fake.set_quote("AAPL", "151.00", "151.05", last="151.00")
        events = await d.wait_journal(lambda ev: S.FILLED in statuses(ev, coid), "FILLED")
        [fill] = fills(events, coid)
        assert fill.price == Decimal("151.05")
        assert fill.quantity == 2


async def test_ioc_fills_what_the_quote_allows_and_the_rest_is_cancelled() -> None:
    async with FakeTws() as fake, desk(fake) as d:
        await fake.set_quote("AAPL", "150.00", "150.05", ask_size="2")
        request = d.request(qty="5", limit="150.05", tif=TimeInForce.IOC)
        coid = await d.broker.place(request)
        events = await d.wait_journal(lambda ev: S.CANCELED in statuses(ev, coid), "CANCELED")
        assert sum(f.quantity for f in fills(events, coid)) == 2
        order = Order.from_request(request)
        for e in events:
            if isinstance(e, OrderUpdateEvent) and e.payload.client_order_id == coid:
                order.apply_update(e.payload)
        assert order.status is S.CANCELED


async def test_cancel_all_is_one_global_cancel_and_cancels_every_order() -> None:
    async with FakeTws() as fake, desk(fake) as d:
        ours = {await d.broker.place(d.request(limit=f"14{i}.00")) for i in range(3)}
        cancelled = await d.broker.cancel_all()
        assert set(cancelled) == ours
        assert len(fake.requests_of(m.REQ_GLOBAL_CANCEL)) == 1
        assert fake.requests_of(m.CANCEL_ORDER) == []
        events = await d.events()
        for coid in ours:
            assert statuses(events, coid)[-2:] == [S.PENDING_CANCEL, S.CANCELED]
        assert not any(o.working for o in fake.orders)
        assert await d.broker.open_orders() == []


async def test_a_pacing_error_on_place_sends_the_order_once_more_and_journals_it_once() -> None:
    async with FakeTws() as fake, desk(fake) as d:
        fake.pace_next("place_order", code=100)
        request = d.request()
        coid = await d.broker.place(request)
        assert len(fake.requests_of(m.PLACE_ORDER)) == 2
        [order] = fake.orders  # the paced attempt never reached the market
        assert order.ticket.order_ref == coid
        events = await d.events()
        assert statuses(events, coid) == [S.PENDING_NEW, S.NEW]
        assert sum(isinstance(e, OrderRequestEvent) for e in events) == 1
        assert d.broker.health_state.errors["pacing_100"] == 1


async def test_a_cancel_without_an_answer_is_settled_by_asking_tws() -> None:
    async with FakeTws() as fake, desk(fake, order_timeout_s=0.3) as d:
        coid = await d.broker.place(d.request())
        fake.ignore_next("cancel_order")
        with pytest.raises(BrokerTimeout, match="asking TWS"):
            await d.broker.cancel(coid)
        events = await d.wait_journal(lambda ev: statuses(ev, coid)[-1] is S.NEW, "back to NEW")
        assert statuses(events, coid) == [S.PENDING_NEW, S.NEW, S.PENDING_CANCEL, S.NEW]
        assert fake.orders[0].working
        await d.broker.cancel(coid)  # the second one is answered
        events = await d.wait_journal(lambda ev: statuses(ev, coid)[-1] is S.CANCELED, "done")
        assert len(fake.requests_of(m.CANCEL_ORDER)) == 2


async def test_a_modify_lost_in_a_drop_is_settled_after_the_reconnect() -> None:
    async with FakeTws() as fake, desk(fake, order_timeout_s=0.3) as d:
        coid = await d.broker.place(d.request())
        fake.ignore_next("place_order")
        fake.reserve_client_id(1)
        with pytest.raises(BrokerTimeout):
            await d.broker.modify(coid, limit_price=Decimal("149.00"))
        await fake.drop_connections()  # TWS cannot be asked now
        await d.wait(lambda: d.broker.state is ConnectionState.DISCONNECTED, "DISCONNECTED")
        fake.release_client_id(1)
        await d.wait_live()
        events = await d.wait_journal(lambda ev: statuses(ev, coid)[-1] is S.NEW, "NEW again")
        assert statuses(events, coid)[-2:] == [S.PENDING_REPLACE, S.NEW]
        assert fake.orders[0].ticket.limit_price == Decimal("149.50")  # unchanged at TWS
        assert len(fake.orders) == 1


async def test_pacing_on_modify_and_cancel_slows_down_and_goes_through_once() -> None:
    async with FakeTws() as fake, desk(fake) as d:
        coid = await d.broker.place(d.request())
        fake.pace_next("place_order", code=162)  # a modify is a placeOrder at TWS
        await d.broker.modify(coid, limit_price=Decimal("149.20"))
        assert fake.orders[0].ticket.limit_price == Decimal("149.20")
        fake.pace_next("cancel_order", code=420)
        await d.broker.cancel(coid)
        await d.broker.settle()
        events = await d.events()
        assert statuses(events, coid) == [
            S.PENDING_NEW, S.NEW, S.PENDING_REPLACE, S.NEW, S.PENDING_CANCEL, S.CANCELED,
        ]  # fmt: skip
        assert len(fake.orders) == 1
        assert len(fake.requests_of(m.CANCEL_ORDER)) == 2
        errors = d.broker.health_state.errors
        assert (errors["pacing_162"], errors["pacing_420"]) == (1, 1)


async def test_a_110_on_a_modify_keeps_the_old_price_working() -> None:
    ladder = PriceLadder(**{f: getattr(STOCK, f) for f in STOCK.__dataclass_fields__})
    async with FakeTws(contracts=[ladder]) as fake, desk(fake) as d:
        coid = await d.broker.place(d.request(limit="149.50"))
        [order] = fake.orders
        with pytest.raises(OrderRejected, match="110"):
            await d.broker.modify(coid, limit_price=Decimal("149.52"))
        events = await d.events()
        assert statuses(events, coid)[-2:] == [S.PENDING_REPLACE, S.NEW]
        assert "the order works on unchanged" in updates(events, coid)[-1].reason
        assert order.ticket.limit_price == Decimal("149.50")
        await d.broker.modify(coid, limit_price=Decimal("149.55"))
        assert order.ticket.limit_price == Decimal("149.55")
