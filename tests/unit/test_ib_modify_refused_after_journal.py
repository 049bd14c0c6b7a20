"""A modify whose journal write waited (Redis busy or stalled) while trading went
HALTED is not sent to TWS: the broker asks the engine again once the change's intent
and PENDING_REPLACE are written (`Broker._refuse_change_if_held`, `send_guard`).
Nothing goes out, the journal's PENDING_REPLACE goes back to TWS's last status of the
order (`IBOrders._change_not_sent` -> `_restore`) saying why, and the modify raises
`OrderRejected` with those words. Before, the change went to TWS after HALTED.

Against the fake TWS with the real ib_async client; the bus is a memory bus whose one
write waits until the test lets it go."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from decimal import Decimal

import pytest

from silvertine_tui.brokers import OrderRejected
from silvertine_tui.bus import BusOptions, MemoryBus
from silvertine_tui.config import RiskConfig
from silvertine_tui.domain import OrderStatus, TradingState
from silvertine_tui.engine.core import TradingEngine
from silvertine_tui.engine.recovery import replay_stream
from silvertine_tui.events import EventBase, OrderUpdateEvent
from tests.fakes.tws import FakeTws
from tests.support.ib import desk, statuses, updates

S = OrderStatus


class SlowBus(MemoryBus):
    """A memory bus whose one write `slow_on` picks waits until `go` is set (Redis
    stalled): `held` is set while it waits."""

    def __init__(self, options: BusOptions) -> None:
        super().__init__(options)
        self.slow_on: Callable[[EventBase], bool] | None = None
        self.held = asyncio.Event()
        self.go = asyncio.Event()

    async def publish(self, event: EventBase) -> str | None:
        if self.slow_on is not None and self.slow_on(event):
            self.slow_on = None
            self.held.set()
            await self.go.wait()
        return await super().publish(event)


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


async def test_a_modify_held_in_its_journal_write_as_trading_halts_is_not_sent_to_tws() -> None:
    bus = SlowBus(BusOptions(prefix=f"ib-{uuid.uuid4().hex[:8]}", block_ms=50))
    await bus.start()
    try:
        async with FakeTws() as fake, desk(fake, bus) as d:
            engine = TradingEngine(bus, [d.broker], RiskConfig())
            await engine.load_instruments()
            coid = await d.broker.place(d.request(qty="3", limit="149.50"))
            await d.broker.settle()
            await read_until(
                engine,
                lambda: coid in engine.oms.orders and engine.oms.orders[coid].order.status is S.NEW,
            )

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
            bus.go.set()
            halted = rf"^modify of {coid} not sent: trading is HALTED \(kill switch\)"
            with pytest.raises(OrderRejected, match=halted) as refused:
                await asyncio.wait_for(modify, 10.0)
            assert str(refused.value).endswith("; the order works on unchanged at its old terms")
            # The order's history says the same of it.
            said = "modify " + str(refused.value).removeprefix(f"modify of {coid} ")

            # TWS never had the change: the order works at its old terms.
            await d.broker.settle()
            [at_tws] = fake.orders
            assert at_tws.working
            assert (at_tws.ticket.quantity, at_tws.ticket.limit_price) == (
                Decimal("3"),
                Decimal("149.50"),
            )
            # The journal's PENDING_REPLACE is resolved, saying why.
            events = await d.events()
            assert statuses(events, coid)[-2:] == [S.PENDING_REPLACE, S.NEW]
            assert updates(events, coid)[-1].reason == said
            await read_until(engine, lambda: engine.oms.orders[coid].order.reason == said)
            order = engine.oms.orders[coid].order
            assert (order.status, order.limit_price) == (S.NEW, Decimal("149.50"))
    finally:
        await bus.close()
