"""IB and the send guard around a change (and an order) that waited.

1. A modify refused after its journal writes (`Broker._refuse_change_if_held`) puts
   the order's status back (`IBOrders._change_not_sent` -> `_restore`). The adapter
   reads the order's status and remembers the status it puts back with no await
   between, and every other writer (a cancel's PENDING_CANCEL, TWS's reports)
   remembers its own before it waits for the journal's lock: the journal's writes go
   in the order remembered. All but one: the put-back's `_note_ahead` reads the journal
   (an await) before it writes, when the order's filled count is neither accounted for
   by the executions heard nor noted ahead: a GTC order part-filled on an earlier
   trading day, after a restart (TWS replays only today's executions). A cancel of the
   order during that read was journaled, sent and answered CANCELED, and the put-back
   landed after it: the journal read PARTIALLY_FILLED "modify not sent ..." after
   CANCELED. Now the put-back is written only while the order still reads it.
2. A change TWS answered with a pacing error is sent again after `pacing_delay_s`
   without asking the guard again: a kill switch pulled meanwhile let the change reach
   TWS after HALTED. Now the guard is asked before each send: refused, nothing more
   goes to TWS, the order's status is put back and the modify refused in the words of
   the refusal after the journal writes. The same held for a new order's pacing retry
   (`_submit`): now refused, REJECTED "not sent: ...", nothing placed. And for a
   change's first send behind the adapter's own health write (`_unanswered_moved`,
   after a modify TWS did not answer in time).

Against the fake TWS with the real ib_async client; the bus is a memory bus whose one
write, or one read, waits until the test lets it go (Redis slow)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from decimal import Decimal

import pytest

from silvertine_tui.brokers import BrokerTimeout, OrderRejected
from silvertine_tui.brokers.ib.orders import MODIFY_UNANSWERED
from silvertine_tui.bus import BusEntry, BusOptions, MemoryBus
from silvertine_tui.config import RiskConfig
from silvertine_tui.domain import OrderStatus, TradingState
from silvertine_tui.engine.core import TradingEngine
from silvertine_tui.engine.recovery import replay_stream
from silvertine_tui.events import EventBase, HealthEvent, OrderUpdateEvent
from tests.fakes.tws import FakeTws
from tests.fakes.tws import messages as m
from tests.support.ib import Desk, desk, statuses, updates

S = OrderStatus
HALTED = r"trading is HALTED \(kill switch\)"


class SlowBus(MemoryBus):
    """A memory bus whose one write `slow_on` picks waits until `go` is set, and whose
    next read of a stream's last entry, once `slow_read` is set, waits until
    `read_go` is set (Redis slow): `held` / `read_held` are set while each waits."""

    def __init__(self) -> None:
        super().__init__(BusOptions(prefix=f"ib-{uuid.uuid4().hex[:8]}", block_ms=50))
        self.slow_on: Callable[[EventBase], bool] | None = None
        self.held = asyncio.Event()
        self.go = asyncio.Event()
        self.slow_read = False
        self.read_held = asyncio.Event()
        self.read_go = asyncio.Event()

    async def publish(self, event: EventBase) -> str | None:
        if self.slow_on is not None and self.slow_on(event):
            self.slow_on = None
            self.held.set()
            await self.go.wait()
        return await super().publish(event)

    async def read_last(self, stream: str, count: int = 1, before: str = "+") -> list[BusEntry]:
        if self.slow_read:
            self.slow_read = False
            self.read_held.set()
            await self.read_go.wait()
        return await super().read_last(stream, count, before)


async def read_until(engine: TradingEngine, check: Callable[[], bool]) -> None:
    """The engine reads the journal until `check` holds."""
    [broker] = engine.brokers.values()
    stream = engine.bus.layout.exec(broker.name, broker.account)
    async with asyncio.timeout(5):
        while True:
            await replay_stream(engine, stream)
            if check():
                return
            await asyncio.sleep(0.01)


async def working(d: Desk, bus: SlowBus, coid: str | None = None) -> tuple[TradingEngine, str]:
    """An engine over `d`, with `coid` (else a new BUY 3 @ 149.50 GTC) read from the
    journal as working."""
    engine = TradingEngine(bus, [d.broker], RiskConfig())
    await engine.load_instruments()
    if coid is None:
        coid = await d.broker.place(d.request(qty="3", limit="149.50"))
    await d.broker.settle()
    await read_until(
        engine,
        lambda: coid in engine.oms.orders and not engine.oms.orders[coid].order.status.is_terminal,
    )
    return engine, coid


async def test_a_cancel_during_the_put_back_s_journal_read_is_not_written_over() -> None:
    bus = SlowBus()
    await bus.start()
    try:
        async with FakeTws() as fake:
            # Yesterday: a GTC buy of 3, 1 filled; the desk stops.
            async with desk(fake, bus) as d:
                coid = await d.broker.place(d.request(qty="3", limit="149.50"))
                await d.broker.settle()
                [at_tws] = fake.orders
                await fake.fill(at_tws.order_id, "1")
                await d.wait_journal(
                    lambda ev: S.PARTIALLY_FILLED in statuses(ev, coid), "the part fill"
                )
                await d.broker.settle()
            # Today: TWS no longer replays yesterday's execution.
            await fake.new_trading_day()
            async with desk(fake, bus) as d:
                await d.wait_live()
                engine, _ = await working(d, bus, coid)

                def pending_replace(event: EventBase) -> bool:
                    return (
                        isinstance(event, OrderUpdateEvent)
                        and event.payload.client_order_id == coid
                        and event.payload.status is S.PENDING_REPLACE
                    )

                bus.slow_on = pending_replace
                modify = asyncio.create_task(engine.modify(coid, limit_price=Decimal("149.00")))
                await asyncio.wait_for(bus.held.wait(), 5.0)
                await engine.set_trading_state(TradingState.HALTED)
                bus.slow_read = True  # the put-back's read of the journal (`_note_ahead`)
                bus.go.set()
                await asyncio.wait_for(bus.read_held.wait(), 5.0)
                # The trader cancels the order meanwhile: journaled, sent, cancelled.
                await asyncio.wait_for(d.broker.cancel(coid), 5.0)
                await d.wait_journal(lambda ev: S.CANCELED in statuses(ev, coid), "CANCELED")
                bus.read_go.set()
                with pytest.raises(OrderRejected, match=rf"^modify of {coid} not sent: {HALTED}"):
                    await asyncio.wait_for(modify, 10.0)
                await d.broker.settle()

                events = await d.events()
                said = statuses(events, coid)
                assert said[said.index(S.PENDING_REPLACE) :] == [
                    S.PENDING_REPLACE,
                    S.PENDING_CANCEL,
                    S.CANCELED,
                ], [(u.status, u.reason) for u in updates(events, coid)]
                [at_tws] = fake.orders
                assert not at_tws.working
                assert at_tws.ticket.limit_price == Decimal("149.50")  # never changed
                await read_until(engine, lambda: engine.oms.orders[coid].order.status is S.CANCELED)
    finally:
        bus.go.set()
        bus.read_go.set()
        await bus.close()


async def test_a_put_back_nothing_raced_is_written_after_its_journal_read() -> None:
    """The same order and read, no cancel meanwhile: the status goes back as before."""
    bus = SlowBus()
    await bus.start()
    try:
        async with FakeTws() as fake:
            async with desk(fake, bus) as d:
                coid = await d.broker.place(d.request(qty="3", limit="149.50"))
                await d.broker.settle()
                [at_tws] = fake.orders
                await fake.fill(at_tws.order_id, "1")
                await d.wait_journal(
                    lambda ev: S.PARTIALLY_FILLED in statuses(ev, coid), "the part fill"
                )
                await d.broker.settle()
            await fake.new_trading_day()
            async with desk(fake, bus) as d:
                await d.wait_live()
                engine, _ = await working(d, bus, coid)
                bus.slow_on = lambda e: (
                    isinstance(e, OrderUpdateEvent) and e.payload.status is S.PENDING_REPLACE
                )
                modify = asyncio.create_task(engine.modify(coid, limit_price=Decimal("149.00")))
                await asyncio.wait_for(bus.held.wait(), 5.0)
                await engine.set_trading_state(TradingState.HALTED)
                bus.slow_read = True
                bus.go.set()
                await asyncio.wait_for(bus.read_held.wait(), 5.0)
                bus.read_go.set()
                with pytest.raises(OrderRejected, match=HALTED) as refused:
                    await asyncio.wait_for(modify, 10.0)
                said = "modify " + str(refused.value).removeprefix(f"modify of {coid} ")
                events = await d.events()
                assert statuses(events, coid)[-2:] == [S.PENDING_REPLACE, S.PARTIALLY_FILLED]
                assert (updates(events, coid)[-1].filled_qty, updates(events, coid)[-1].reason) == (
                    Decimal("1"),
                    said,
                )
    finally:
        bus.go.set()
        bus.read_go.set()
        await bus.close()


async def test_a_change_paced_by_tws_is_not_sent_again_after_the_kill_switch() -> None:
    bus = SlowBus()
    await bus.start()
    try:
        async with FakeTws() as fake, desk(fake, bus, pacing_delay_s=0.5) as d:
            engine, coid = await working(d, bus)
            sent = len(fake.requests_of(m.PLACE_ORDER))
            fake.pace_next("place_order", code=100)  # a modify is a placeOrder at TWS
            modify = asyncio.create_task(engine.modify(coid, limit_price=Decimal("149.00")))
            await fake.wait_for(lambda: len(fake.requests_of(m.PLACE_ORDER)) == sent + 1)
            # TWS answered it 100; the adapter waits `pacing_delay_s` to send it again.
            await engine.set_trading_state(TradingState.HALTED)
            with pytest.raises(OrderRejected, match=rf"^modify of {coid} not sent: {HALTED}") as no:
                await asyncio.wait_for(modify, 10.0)
            assert str(no.value).endswith("; the order works on unchanged at its old terms")
            said = "modify " + str(no.value).removeprefix(f"modify of {coid} ")

            # Nothing more reached TWS: the order works at its old terms.
            await d.broker.settle()
            assert len(fake.requests_of(m.PLACE_ORDER)) == sent + 1
            [at_tws] = fake.orders
            assert at_tws.working
            assert at_tws.ticket.limit_price == Decimal("149.50")
            # The journal's PENDING_REPLACE goes back to NEW, saying why.
            events = await d.events()
            assert statuses(events, coid)[-2:] == [S.PENDING_REPLACE, S.NEW]
            assert updates(events, coid)[-1].reason == said
            await read_until(engine, lambda: engine.oms.orders[coid].order.reason == said)
            order = engine.oms.orders[coid].order
            assert (order.status, order.limit_price) == (S.NEW, Decimal("149.50"))
            assert d.broker.health_state.errors["pacing_100"] == 1
    finally:
        await bus.close()


async def test_an_order_paced_by_tws_is_not_placed_after_the_kill_switch() -> None:
    bus = SlowBus()
    await bus.start()
    try:
        async with FakeTws() as fake, desk(fake, bus, pacing_delay_s=0.5) as d:
            engine = TradingEngine(bus, [d.broker], RiskConfig())
            await engine.load_instruments()
            fake.pace_next("place_order", code=100)
            request = d.request(qty="3", limit="149.50")
            coid = request.client_order_id
            place = asyncio.create_task(engine.submit(request))
            await fake.wait_for(lambda: len(fake.requests_of(m.PLACE_ORDER)) == 1)
            await engine.set_trading_state(TradingState.HALTED)
            with pytest.raises(OrderRejected, match=rf"^not sent: {HALTED}"):
                await asyncio.wait_for(place, 10.0)

            await d.broker.settle()
            assert len(fake.requests_of(m.PLACE_ORDER)) == 1
            assert fake.orders == []  # the paced attempt never reached the market
            events = await d.events()
            assert statuses(events, coid) == [S.PENDING_NEW, S.REJECTED]
            assert updates(events, coid)[-1].reason.startswith("not sent: trading is HALTED")
    finally:
        await bus.close()


async def test_a_paced_change_still_goes_again_when_nothing_refuses_it() -> None:
    bus = SlowBus()
    await bus.start()
    try:
        async with FakeTws() as fake, desk(fake, bus) as d:
            engine, coid = await working(d, bus)
            sent = len(fake.requests_of(m.PLACE_ORDER))
            fake.pace_next("place_order", code=100)
            await engine.modify(coid, limit_price=Decimal("149.00"))
            assert len(fake.requests_of(m.PLACE_ORDER)) == sent + 2
            assert fake.orders[0].ticket.limit_price == Decimal("149.00")
    finally:
        await bus.close()


async def test_a_change_held_in_its_health_write_as_trading_halts_is_not_sent() -> None:
    """The order's last modify went unanswered (TWS may still take it: its health names
    the order), so this modify first says in the health that it no longer waits
    (`_unanswered_moved`, a write of its own after the journal's). That write stalled
    while trading went HALTED: the change went to TWS after the halt."""
    bus = SlowBus()
    await bus.start()
    try:
        async with FakeTws() as fake, desk(fake, bus, order_timeout_s=0.3) as d:
            engine, coid = await working(d, bus)
            fake.ignore_next("place_order")
            with pytest.raises(BrokerTimeout):
                await engine.modify(coid, limit_price=Decimal("149.20"))
            # Its health names the order (the modify may still be taken).
            assert f"{MODIFY_UNANSWERED}{coid}" in (await d.health())[-1].metrics
            sent = len(fake.requests_of(m.PLACE_ORDER))
            bus.slow_on = lambda e: (
                isinstance(e, HealthEvent) and e.payload.component == d.broker.component
            )
            modify = asyncio.create_task(engine.modify(coid, limit_price=Decimal("149.00")))
            await asyncio.wait_for(bus.held.wait(), 5.0)
            await engine.set_trading_state(TradingState.HALTED)
            bus.go.set()
            with pytest.raises(OrderRejected, match=rf"^modify of {coid} not sent: {HALTED}"):
                await asyncio.wait_for(modify, 10.0)
            await d.broker.settle()
            assert len(fake.requests_of(m.PLACE_ORDER)) == sent
            [at_tws] = fake.orders
            assert at_tws.ticket.limit_price == Decimal("149.50")
            assert statuses(await d.events(), coid)[-2:] == [S.PENDING_REPLACE, S.NEW]
    finally:
        bus.go.set()
        await bus.close()
