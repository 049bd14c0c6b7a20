"""An `IBBroker` against a fake TWS with short timings, and journal readers for the
IB tests (the real ib_async client runs; nothing of ours is mocked)."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from silvertine_tui.brokers.ib import IBBroker
from silvertine_tui.bus import BusOptions, EventBus, MemoryBus
from silvertine_tui.config import IBBrokerConfig, PaperBrokerConfig, RiskConfig, Settings
from silvertine_tui.domain import (
    ConnectionState,
    Fill,
    Order,
    OrderRequest,
    OrderStatus,
    OrderType,
    OrderUpdate,
    Side,
    TimeInForce,
)
from silvertine_tui.events import (
    EventBase,
    FillCorrectionEvent,
    FillEvent,
    HealthEvent,
    LogEvent,
    LogLevel,
    OrderRequestEvent,
    OrderUpdateEvent,
)
from tests.fakes.tws import FakeTws

FAST: dict[str, Any] = {
    "connect_timeout_s": 0.5,
    "reconnect_delay_s": 0.05,
    "reconnect_max_delay_s": 0.2,
    "commission_wait_s": 0.5,
    "order_timeout_s": 2,
    "request_timeout_s": 1,
    "pacing_delay_s": 0.02,
}


def ib_config(fake: FakeTws | None, **overrides: Any) -> IBBrokerConfig:
    fields: dict[str, Any] = {
        "name": "ib",
        "account": "DU123456",
        "port": overrides.get("port") or (fake.port if fake is not None else 1),
        "client_id": 1,
        "symbols": ["AAPL"],
        **FAST,
    }
    fields.update(overrides)
    return IBBrokerConfig(**fields)


def paper_and_ib(fake: FakeTws, *, risk: RiskConfig | None = None, **ib: Any) -> Settings:
    """A UI test desk's settings: the quiet paper broker it starts on (no market run, no
    latency) beside IB on the fake TWS (AAPL, the fast timings; `ib` overrides)."""
    paper = PaperBrokerConfig(
        name="paper",
        account="main",
        seed=7,
        market={"autorun": False},
        latency={"enabled": False},
        symbols=["AAPL"],
    )
    fields: dict[str, Any] = {"name": "ib", "symbols": ["AAPL"], **FAST, **ib}
    ib_config = IBBrokerConfig(account=fake.account, port=fake.port, **fields)
    return Settings(brokers=[paper, ib_config], risk=risk or RiskConfig())


def aapl_limit_buy(coid: str, account: str) -> OrderRequest:
    """BUY 5 AAPL at IB, a GTC limit at 148.20 under the fake's 150.00 / 150.05: it rests."""
    return OrderRequest(
        client_order_id=coid,
        broker="ib",
        account=account,
        instrument="AAPL.SMART",
        side=Side.BUY,
        order_type=OrderType.LIMIT,
        quantity=Decimal("5"),
        limit_price=Decimal("148.20"),
        tif=TimeInForce.GTC,
    )


def new_bus() -> MemoryBus:
    return MemoryBus(BusOptions(prefix=f"ib-{uuid.uuid4().hex[:8]}", block_ms=50))


@dataclass
class Desk:
    """One broker, its bus, the fake."""

    broker: IBBroker
    bus: EventBus
    fake: FakeTws

    @property
    def stream(self) -> str:
        return self.bus.layout.exec(self.broker.name, self.broker.account)

    async def events(self) -> list[EventBase]:
        return [e.event for e in await self.bus.read(self.stream) if e.ok]  # type: ignore[misc]

    async def health(self) -> list[Any]:
        return [
            e.event.payload
            for e in await self.bus.read(self.bus.layout.health)
            if isinstance(e.event, HealthEvent)
            and e.event.payload.component == self.broker.component
        ]

    def request(
        self,
        side: Side = Side.BUY,
        qty: str = "3",
        *,
        kind: OrderType = OrderType.LIMIT,
        limit: str | None = "149.50",
        stop: str | None = None,
        tif: TimeInForce = TimeInForce.GTC,
        key: str = "AAPL.SMART",
    ) -> OrderRequest:
        return OrderRequest(
            broker=self.broker.name,
            account=self.broker.account,
            instrument=key,
            side=side,
            order_type=kind,
            quantity=Decimal(qty),
            limit_price=Decimal(limit) if limit is not None else None,
            stop_price=Decimal(stop) if stop is not None else None,
            tif=tif,
        )

    async def said_in_log(self, level: LogLevel) -> list[str]:
        """The lines at `level` the broker put in the desk's Log (the health stream)."""
        return [
            e.event.payload.message
            for e in await self.bus.read(self.bus.layout.health)
            if isinstance(e.event, LogEvent)
            and e.event.source == self.broker.source
            and e.event.payload.level is level
        ]

    async def wait(self, predicate: Callable[[], bool], what: str, timeout: float = 4.0) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}")
            await asyncio.sleep(0.005)

    async def wait_journal(
        self, predicate: Callable[[list[EventBase]], bool], what: str, timeout: float = 4.0
    ) -> list[EventBase]:
        deadline = time.monotonic() + timeout
        while True:
            events = await self.events()
            if predicate(events):
                return events
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}: {[e.type for e in events]}")
            await asyncio.sleep(0.005)

    async def wait_live(self) -> None:
        await self.wait(lambda: self.broker.state is ConnectionState.LIVE, "LIVE")


def updates(events: list[EventBase], coid: str) -> list[OrderUpdate]:
    return [
        e.payload
        for e in events
        if isinstance(e, OrderUpdateEvent) and e.payload.client_order_id == coid
    ]


def statuses(events: list[EventBase], coid: str) -> list[OrderStatus]:
    return [u.status for u in updates(events, coid)]


def shown(events: list[EventBase], coid: str) -> Order:
    """The order as the desk's OMS builds it from the journal, in journal order."""
    [request] = [
        e.payload
        for e in events
        if isinstance(e, OrderRequestEvent) and e.payload.client_order_id == coid
    ]
    order = Order.from_request(request)
    for e in events:
        if isinstance(e, OrderUpdateEvent) and e.payload.client_order_id == coid:
            order.apply_update(e.payload)
        elif isinstance(e, FillEvent) and e.payload.client_order_id == coid:
            order.apply_fill(e.payload)
        elif isinstance(e, FillCorrectionEvent) and e.payload.client_order_id == coid:
            order.apply_fill_correction(e.payload)
    return order


def fills(events: list[EventBase], coid: str | None = None) -> list[Fill]:
    return [
        e.payload
        for e in events
        if isinstance(e, FillEvent) and (coid is None or e.payload.client_order_id == coid)
    ]


@contextlib.asynccontextmanager
async def desk(
    fake: FakeTws, bus: EventBus | None = None, *, connect: bool = True, **overrides: Any
) -> AsyncIterator[Desk]:
    """An `IBBroker` on `fake` (AAPL, the fast timings; `overrides` change its config),
    connected when `connect`, on `bus` or a memory bus of its own. It sets no quote: the
    fake quotes nothing until the test calls `fake.set_quote`."""
    own_bus = bus is None
    bus = bus or new_bus()
    if own_bus:
        await bus.start()
    broker = IBBroker(ib_config(fake, **overrides), bus)
    if connect:
        await broker.connect()
    try:
        yield Desk(broker, bus, fake)
    finally:
        await broker.close()
        if own_bus:
            await bus.close()
