"""The IB desk against the fake TWS: positions TWS reports ahead of the executions they
hold are no position mismatch; a position no fill of ours explains still is.

TWS keeps no order between position updates and execDetails. An order that fills in
several pieces at once (a market order walking the book) gets its position update,
already holding every piece, after the first execDetails; and a position can come
before the execDetails of its fill (`positions_before_executions`). The engine used to
compare at once and report "the venue reports a position of 300, our fills make 100",
staying DEGRADED for the session.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from decimal import Decimal as D
from typing import Any

import pytest
from ib_async import MarketOrder, Stock

from silvertine_tui.config import RiskConfig, RiskLimits, Settings
from silvertine_tui.domain import (
    ConnectionState,
    OrderRequest,
    OrderStatus,
    OrderType,
    Side,
    TimeInForce,
)
from silvertine_tui.engine import Session
from silvertine_tui.engine.anomalies import ENGINE_COMPONENT
from silvertine_tui.events import FillEvent, HealthEvent, PositionEvent
from tests.fakes.tws import FakeTws
from tests.fakes.tws.client import ib_client, until
from tests.support.ib import ib_config, new_bus

ACCOUNT = "DU123456"
AAPL = "AAPL.SMART"
EURUSD = "EUR.USD.IDEALPRO"


@contextlib.asynccontextmanager
async def ib_desk(fake: FakeTws, **engine: Any) -> AsyncIterator[Session]:
    """A trading session (engine, reader, position checks) on the IB adapter."""
    bus = new_bus()
    settings = Settings(
        brokers=[ib_config(fake, symbols=["AAPL", EURUSD])],
        risk=RiskConfig(defaults=RiskLimits(max_notional=None, price_collar_pct=None)),
    )
    session = Session(settings, bus=bus)
    for name, value in engine.items():
        setattr(session.engine, name, value)
    await session.start()
    try:
        yield session
    finally:
        await session.close()


def market(key: str, side: Side, qty: str) -> OrderRequest:
    return OrderRequest(
        broker="ib",
        account=ACCOUNT,
        instrument=key,
        side=side,
        order_type=OrderType.MARKET,
        quantity=D(qty),
        tif=TimeInForce.DAY,
    )


async def wait_for(predicate: Any, what: str, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


async def journal(session: Session) -> list[Any]:
    return [e.event for e in await session.bus.read(session.bus.layout.exec("ib", ACCOUNT)) if e.ok]


async def engine_health(session: Session) -> list[HealthEvent]:
    return [
        e.event
        for e in await session.bus.read(session.bus.layout.health)
        if isinstance(e.event, HealthEvent) and e.event.payload.component == ENGINE_COMPONENT
    ]


async def filled(session: Session, coid: str) -> None:
    engine = session.engine

    def done() -> bool:
        view = engine.oms.get(coid)
        return view is not None and view.order.status is OrderStatus.FILLED

    await wait_for(done, f"{coid} FILLED")


async def no_mismatch_even_later(session: Session) -> None:
    """Long after the fills, the engine's own check finds nothing, and health is untouched."""
    engine = session.engine
    await asyncio.sleep(0.1)  # the reader applies what followed the last fill
    assert engine.anomalies.total == 0, engine.anomalies.last
    engine.check_positions(time.time_ns() + 10 * engine.position_settle_ns)
    await engine.publish_anomalies()
    assert engine.anomalies.total == 0, engine.anomalies.last
    assert await engine_health(session) == []


@pytest.mark.parametrize(
    ("key", "side", "qty", "quote"),
    [
        (
            AAPL,
            Side.BUY,
            "300",
            {
                "bid": "149.95",
                "ask": "150.00",
                "ask_size": "100",
                "deeper_asks": [("150.05", "100"), ("150.10", "100")],
            },
        ),
        (
            EURUSD,
            Side.SELL,
            "30000",
            {
                "bid": "1.08000",
                "ask": "1.08005",
                "bid_size": "10000",
                "deeper_bids": [("1.07995", "10000"), ("1.07990", "10000")],
            },
        ),
    ],
    ids=["aapl-buy", "eurusd-sell"],
)
async def test_a_market_order_of_three_pieces_is_no_position_mismatch(
    key: str, side: Side, qty: str, quote: dict[str, Any]
) -> None:
    async with FakeTws(cash={"USD": "1000000"}) as fake, ib_desk(fake) as session:
        symbol = "EUR.USD" if key == EURUSD else "AAPL"
        await fake.set_quote(symbol, **quote)
        coid = await session.engine.submit(market(key, side, qty))
        await filled(session, coid)
        expected = D(qty) if side is Side.BUY else -D(qty)
        await wait_for(
            lambda: session.engine.position("ib", ACCOUNT, key) == expected, "the position"
        )

        events = await journal(session)
        kinds = [
            ("fill", e.payload.quantity) if isinstance(e, FillEvent) else ("position", None)
            for e in events
            if isinstance(e, FillEvent)
            or (isinstance(e, PositionEvent) and e.payload.instrument == key)
        ]
        # TWS's order, as the fake sends it: the whole position after the first piece.
        assert len([k for k in kinds if k[0] == "fill"]) == 3
        assert kinds[:2] == [("fill", D(qty) / 3), ("position", None)]
        ahead = next(
            e for e in events if isinstance(e, PositionEvent) and e.payload.instrument == key
        )
        assert ahead.payload.quantity == expected
        await no_mismatch_even_later(session)


async def test_a_position_sent_before_its_execution_is_no_position_mismatch() -> None:
    async with FakeTws(cash={"USD": "1000000"}) as fake, ib_desk(fake) as session:
        await fake.set_quote("AAPL", "149.95", "150.00", ask_size="1000")
        first = await session.engine.submit(market(AAPL, Side.BUY, "10"))
        await filled(session, first)
        fake.positions_before_executions()
        second = await session.engine.submit(market(AAPL, Side.BUY, "5"))
        await filled(session, second)
        await wait_for(lambda: session.engine.position("ib", ACCOUNT, AAPL) == 15, "15 AAPL")

        events = await journal(session)
        order = [
            "position 15" if isinstance(e, PositionEvent) else f"fill {e.payload.quantity}"
            for e in events
            if (isinstance(e, PositionEvent) and e.payload.quantity == 15)
            or isinstance(e, FillEvent)
        ]
        assert order[:3] == ["fill 10", "position 15", "fill 5"]
        await no_mismatch_even_later(session)


async def test_a_position_no_fill_of_ours_explains_is_reported_and_stays() -> None:
    """Another API client (its own executions go to it alone) buys 50 AAPL on the account:
    TWS's position says 60, our fills make 10, and no fill is on its way."""
    settle = 300_000_000
    async with (
        FakeTws(cash={"USD": "1000000"}) as fake,
        ib_desk(fake, position_settle_ns=settle) as session,
    ):
        await fake.set_quote("AAPL", "149.95", "150.00", ask_size="1000")
        ours = await session.engine.submit(market(AAPL, Side.BUY, "10"))
        await filled(session, ours)
        async with ib_client(fake, client_id=7) as other:
            [aapl] = await other.qualifyContractsAsync(Stock("AAPL", "SMART", "USD"))
            trade = other.placeOrder(aapl, MarketOrder("BUY", 50))
            await until(other, lambda: trade.orderStatus.status == "Filled")

        engine = session.engine
        await wait_for(lambda: engine.anomalies.total > 0, "the mismatch", timeout=5)
        health = await engine_health(session)
        while not health:
            await asyncio.sleep(0.01)
            health = await engine_health(session)
        (reported,) = health
        assert reported.payload.state is ConnectionState.DEGRADED
        assert (
            "ib/DU123456 AAPL.SMART: the venue reports a position of 60, our fills make 10"
            in reported.payload.message
        )
        # It stands: still DEGRADED, counted once.
        await asyncio.sleep(3 * settle / 1e9)
        assert engine.anomalies.counts["position_mismatch"] == 1
        assert engine.anomalies.state is ConnectionState.DEGRADED
        assert len(await engine_health(session)) == 1
