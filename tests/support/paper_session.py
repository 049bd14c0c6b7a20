"""A session on one paper broker (BTCUSDT, no market clock of its own) over a given bus,
and a buy that rests below the market: for tests of the order path end to end."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any

from silvertine_tui.brokers.paper import PaperBroker
from silvertine_tui.bus import EventBus
from silvertine_tui.config import PaperBrokerConfig, Settings
from silvertine_tui.domain import OrderRequest, OrderType, Side, TimeInForce
from silvertine_tui.engine import Session


@asynccontextmanager
async def paper_session(
    bus: EventBus, *, ack_s: float, engine: dict[str, Any] | None = None
) -> AsyncIterator[Session]:
    """`ack_s`: how long after it is sent the paper venue takes an order; `engine`:
    engine settings."""
    paper = PaperBrokerConfig(
        name="paper",
        account="main",
        seed=7,
        symbols=["BTCUSDT"],
        market={"autorun": False},
        latency={"ack_ms": ack_s * 1000, "fill_ms": 1, "cancel_ms": 1, "jitter_ms": 0},
    )
    settings = Settings.model_validate({"brokers": [paper], "engine": engine or {}})
    session = Session(settings, bus=bus)
    await session.start()
    try:
        yield session
    finally:
        await session.close()


def paper_broker(session: Session) -> PaperBroker:
    [broker] = session.brokers
    assert isinstance(broker, PaperBroker)
    return broker


def resting_buy(session: Session) -> OrderRequest:
    """A GTC buy of 0.01 BTC 1% below the mid: it rests."""
    mid = paper_broker(session).venue.mid("BTCUSDT.PAPER")
    assert mid is not None
    return OrderRequest(
        broker="paper",
        account="main",
        instrument="BTCUSDT.PAPER",
        side=Side.BUY,
        order_type=OrderType.LIMIT,
        quantity=Decimal("0.01"),
        limit_price=(mid * Decimal("0.99")).quantize(Decimal("0.01")),
        tif=TimeInForce.GTC,
    )
