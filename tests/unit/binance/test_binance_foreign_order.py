"""An order placed on the desk's Binance account by another program (the Binance app)
while the desk runs. Its executionReports reach the adapter, which journals them under
an id the desk never sent; the OMS parks them for a request that never comes. Nothing
asked for the reconcile that adopts such an order: it worked at Binance unseen on the
desk and by the risk gate, its fills only anomalies, until a restart.

Now the adapter asks (`announce_reconnect`, once for a burst) and a real `Session`
reconciles and adopts it: working on the desk, then its fills applied to it.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal as D
from typing import NamedTuple

from silvertine_tui.brokers.binance import BinanceBroker
from silvertine_tui.bus import BusOptions, MemoryBus
from silvertine_tui.config import Settings
from silvertine_tui.domain import OrderStatus
from silvertine_tui.engine import Session
from tests.fakes.binance import Commission, FakeBinance
from tests.fakes.binance.client import binance_client
from tests.support.binance_broker import DEFAULT_SYMBOLS, binance_config, quick_library_timings
from tests.support.binance_stream import o1
from tests.support.waiting import until


class Desk(NamedTuple):
    fake: FakeBinance
    session: Session
    broker: BinanceBroker


@asynccontextmanager
async def desk() -> AsyncIterator[Desk]:
    """A fake Binance and a started `Session` trading it over a memory bus."""
    with quick_library_timings():
        bus = MemoryBus(BusOptions(prefix=f"foreign-{uuid.uuid4().hex[:8]}", block_ms=50))
        async with FakeBinance(
            symbols=DEFAULT_SYMBOLS,
            balances={"USDT": "100000"},
            commission=Commission(mode="quote"),
        ) as fake:
            await fake.set_book("ETHUSDT", [("1980", "5")], [("2001", "5")])
            config = binance_config(fake, ["ETHUSDT"])
            settings = Settings(bus={"url": "memory://"}, brokers=[config])
            session = Session(settings, bus=bus)
            try:
                await session.start()
                [broker] = session.brokers
                assert isinstance(broker, BinanceBroker)
                await until(lambda: session.ready, 10.0, "the desk started")
                yield Desk(fake, session, broker)
            finally:
                await session.close()


def working_ids(d: Desk) -> set[str]:
    return {v.order.client_order_id for v in d.session.engine.oms.working("binance", "spot")}


async def test_an_order_placed_elsewhere_while_the_desk_runs_is_adopted() -> None:
    async with desk() as d:
        reconciles: list[int] = []

        async def counted() -> None:
            reconciles.append(1)

        d.broker.on_reconnect(counted)
        async with binance_client(d.fake) as other:
            for n in range(3):  # a burst: one reconcile for it
                await other.order_limit_buy(
                    symbol="ETHUSDT", quantity="1", price=str(1970 - n), newClientOrderId=f"app{n}"
                )
        await until(lambda: {"app0", "app1", "app2"} <= working_ids(d), 5.0, "the orders adopted")
        await asyncio.sleep(d.broker.adopt_wait_s * 2)
        assert reconciles == [1]
        # Counted by the risk gate as the desk's working orders; its fills apply to it.
        await d.fake.fill(d.fake.order_by_client_id("app0").order_id, qty=D("0.4"))
        view = d.session.engine.oms.orders["app0"]
        await until(lambda: view.order.filled_qty == D("0.4"), 5.0, "the fill applied")
        assert view.order.status is OrderStatus.PARTIALLY_FILLED


async def test_the_desks_own_orders_ask_no_reconcile() -> None:
    async with desk() as d:
        reconciles: list[int] = []

        async def counted() -> None:
            reconciles.append(1)

        d.broker.on_reconnect(counted)
        await d.session.engine.submit(o1())
        await until(lambda: "o1" in working_ids(d), 5.0, "o1 working")
        await d.fake.fill(d.fake.order_by_client_id("o1").order_id, qty=D("0.4"))
        view = d.session.engine.oms.orders["o1"]
        await until(lambda: view.order.filled_qty == D("0.4"), 5.0, "the fill applied")
        await asyncio.sleep(0.5)  # longer than the adoption's wait
        assert reconciles == []
