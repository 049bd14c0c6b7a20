"""A Binance adapter with its user stream dropped and back, and the journal it writes:
what the tests of orders settled by a reconcile or a catch-up share (python-binance
against the fake Binance)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from decimal import Decimal as D
from typing import NamedTuple

from silvertine_tui.brokers.binance import BinanceBroker
from silvertine_tui.config import RiskConfig
from silvertine_tui.domain import ConnectionState, OrderRequest, OrderStatus, OrderType, Side
from silvertine_tui.engine.core import TradingEngine
from silvertine_tui.engine.recovery import reconcile_broker, replay_stream
from silvertine_tui.events import Reconcile
from silvertine_tui.ui.widgets.health import Metrics
from tests.support.binance_broker import BinanceDriver, Session, binance_session, build_broker
from tests.support.waiting import until

ETH = "ETHUSDT.BINANCE"


async def journaled(s: Session, engine: TradingEngine, check: Callable[[], bool]) -> None:
    for _ in range(300):
        await replay_stream(engine, s.bus.layout.exec("binance", "spot"))
        if check():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the journal never got there")


async def stream_down(s: Session, broker: BinanceBroker) -> BinanceDriver:
    driver = BinanceDriver(s.fake, broker, "ETHUSDT")
    await driver.drop_connection()
    await until(lambda: not broker.user.subscribed, 5.0, "the user stream to drop")
    return driver


async def stream_back(driver: BinanceDriver, broker: BinanceBroker) -> None:
    """The user stream subscribed again and the catch-up done (the broker LIVE)."""
    await driver.restore_connection()
    await until(
        lambda: broker.user.subscribed and broker.state is ConnectionState.LIVE,
        5.0,
        "the user stream back and caught up",
    )
    await driver.settle()


def o1(limit_price: str = "1990") -> OrderRequest:
    return OrderRequest(
        client_order_id="o1",
        broker="binance",
        account="spot",
        instrument=ETH,
        side=Side.BUY,
        order_type=OrderType.LIMIT,
        quantity=D("1.0"),
        limit_price=D(limit_price),
    )


async def health_metrics(s: Session) -> Metrics:
    await s.broker.publish_health()
    entries = await s.bus.read(s.bus.layout.health)
    return dict(entries[-1].event.payload.metrics)  # type: ignore[union-attr]


class Restarted(NamedTuple):
    s: Session
    engine: TradingEngine
    broker: BinanceBroker  # the adapter after the restart
    found: list[Reconcile]  # what the engine's reconcile with it found


@asynccontextmanager
async def o1_then_restart(
    away: Callable[[Session], Awaitable[object]] | None = None,
) -> AsyncIterator[Restarted]:
    """The desk places o1 (NEW in the journal) and stops; `away` happens at Binance
    meanwhile; a new adapter connects in its place and the engine, kept, reconciles
    with it. Met only in Binance's listing or in a missed fill's lookup, o1 has no
    status of the new adapter's own: what these tests start from."""
    async with binance_session(balances={"USDT": "100000"}) as s:
        await s.fake.set_book("ETHUSDT", [("1980", "5")], [("2001", "5")])
        engine = TradingEngine(s.bus, [s.broker], RiskConfig())
        await engine.load_instruments()
        await s.broker.place(o1())
        await journaled(s, engine, lambda: engine.oms.orders["o1"].order.status is OrderStatus.NEW)
        await s.broker.close()
        if away is not None:
            await away(s)

        again = build_broker(s.fake, s.bus, ["ETHUSDT"])
        engine.brokers["binance"] = again
        try:
            await again.connect()
            await engine.load_instruments()
            yield Restarted(s, engine, again, await reconcile_broker(engine, again))
        finally:
            await again.close()


async def o1_filled(s: Session) -> None:
    """o1 fills whole at Binance (`o1_then_restart`'s `away`)."""
    await s.fake.fill(s.fake.order_by_client_id("o1").order_id)
