"""A `BinanceBroker` connected to a `FakeBinance`, for the contract suite and the fault
tests. The real python-binance client runs; only the endpoints point at the fake.

`quick_library_timings()` shortens python-binance's socket timings (its 10 s read poll
and 1-2 s random reconnect wait dominate test time), as the fake's README says.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, ClassVar

from binance.ws.reconnecting_websocket import ReconnectingWebsocket
from pydantic import SecretStr

from silvertine_tui.brokers.binance import BinanceBroker
from silvertine_tui.brokers.binance.rest import BinanceRest
from silvertine_tui.brokers.retry import RetryPolicy
from silvertine_tui.bus import BusOptions, MemoryBus
from silvertine_tui.config import BinanceBrokerConfig
from silvertine_tui.events import EventBase
from tests.fakes.binance import Commission, FakeBinance, SymbolSpec

Level = tuple[Decimal, Decimal]


@contextlib.contextmanager
def quick_library_timings() -> Iterator[None]:
    """ReconnectingWebsocket.TIMEOUT 0.2 s and a 0.05 s reconnect wait, restored after."""
    timeout = ReconnectingWebsocket.TIMEOUT
    wait = ReconnectingWebsocket._get_reconnect_wait
    ReconnectingWebsocket.TIMEOUT = 0.2
    ReconnectingWebsocket._get_reconnect_wait = lambda self, n: 0.05
    try:
        yield
    finally:
        ReconnectingWebsocket.TIMEOUT = timeout
        ReconnectingWebsocket._get_reconnect_wait = wait


def binance_config(
    fake: FakeBinance, symbols: Sequence[str], **overrides: Any
) -> BinanceBrokerConfig:
    settings: dict[str, Any] = {
        "name": "binance",
        "account": "spot",
        "api_key": SecretStr(fake.api_key),
        "api_secret": SecretStr(fake.api_secret),
        "testnet": True,
        "rest_url": fake.api_url,
        "ws_api_url": fake.ws_api_url,
        "stream_url": fake.stream_url,
        "symbols": list(symbols),
        "request_timeout_s": 1.0,
    }
    settings.update(overrides)
    return BinanceBrokerConfig(**settings)


def build_broker(
    fake: FakeBinance,
    bus: MemoryBus,
    symbols: Sequence[str],
    *,
    rebuilds_per_client: int = 20,
    refused_retry_s: float = 60.0,
    **overrides: Any,
) -> BinanceBroker:
    config = binance_config(fake, symbols, **overrides)
    rest = BinanceRest(config, retry=RetryPolicy(attempts=3, base_delay=0.02, max_delay=0.1))
    broker = BinanceBroker(
        config,
        bus,
        rest=rest,
        rebuilds_per_client=rebuilds_per_client,
        retry_first_s=0.05,
        retry_max_s=0.2,
        refused_retry_s=refused_retry_s,
    )
    # python-binance can wait for ever for a WebSocket API connection that gave up
    # reconnecting: a subscription attempt is cut after this and tried again.
    broker.user.subscribe_timeout_s = 1.0
    return broker


class BinanceDriver:
    """Moves the fake Binance's market and connection from the venue's side."""

    fees_in_base: ClassVar[bool] = True  # a buy's commission in the asset received

    def __init__(self, fake: FakeBinance, broker: BinanceBroker, symbol: str) -> None:
        self.fake = fake
        self.broker = broker
        self.symbol = symbol
        self.offset = 0  # events the fake sent that never reached us (while away)
        self.down = False

    async def set_book(self, bids: Sequence[Level], asks: Sequence[Level]) -> None:
        """The new book goes out on the market streams: once the adapter's subscribed
        streams are connected, so none of it is missed."""
        market = self.broker.market
        if market is not None and not self.down:
            for stream in market.streams:
                await self.fake.wait_for_stream(stream, timeout=2.0)
        await self.fake.set_book(self.symbol, bids, asks)

    async def settle(self) -> None:
        """Until the adapter has handled every user-data event the fake has sent (those
        sent while the stream was down are counted as lost)."""
        deadline = time.monotonic() + 1.0
        while True:
            sent = len(self.fake.sent_user_events)
            handled = self.broker.user.events + self.offset
            if handled >= sent:
                break
            if not self.broker.user.subscribed or time.monotonic() > deadline:
                await asyncio.sleep(0.05)
                self.offset = len(self.fake.sent_user_events) - self.broker.user.events
                break
            await asyncio.sleep(0.005)
        await asyncio.sleep(0)

    async def drop_connection(self) -> None:
        """Cut the user-data connection and refuse reconnects until restored."""
        self.down = True
        self.fake.refuse_connections(10_000, user_data=True, streams=True)
        await self.fake.drop_connections()

    async def restore_connection(self) -> None:
        self.down = False
        self.fake.faults.refused_api_connects = 0
        self.fake.faults.refused_stream_connects = 0

    async def set_report_faults(self, *, duplicate: bool, late: bool) -> None:
        if duplicate:
            self.fake.duplicate_next_reports(10_000)
        if late:
            self.fake.reorder_next_reports(2)

    async def reports_repeated(self) -> int:
        """executionReports the fake sent more than once (its duplicate fault)."""
        sent = Counter(
            json.dumps(e, sort_keys=True)
            for e in self.fake.sent_user_events
            if e.get("e") == "executionReport"
        )
        return sum(n - 1 for n in sent.values())

    async def print_trade(self, price: Decimal, quantity: Decimal) -> None:
        """A print on the public tape: Binance triggers stops on the last price."""
        await self.fake.trade(self.symbol, price, quantity)

    async def charge_fees_in_base(self) -> None:
        """Binance's default: a buy pays its fee in the asset it receives."""
        self.fake.exchange.commission = Commission(
            maker_rate=self.fake.exchange.commission.maker_rate,
            taker_rate=self.fake.exchange.commission.taker_rate,
            mode="received",
        )

    async def time_out_next_order(self) -> None:
        """The next order is taken but its REST answer never comes."""
        self.fake.swallow_next_order_reply()


@dataclass
class Session:
    fake: FakeBinance
    bus: MemoryBus
    broker: BinanceBroker
    driver: BinanceDriver

    @property
    def stream(self) -> str:
        return self.bus.layout.exec(self.broker.name, self.broker.account)

    async def events(self) -> list[EventBase]:
        entries = await self.bus.read(self.stream)
        assert all(e.ok for e in entries)
        return [e.event for e in entries]  # type: ignore[misc]


DEFAULT_SYMBOLS = (SymbolSpec("ETHUSDT", "ETH", "USDT"),)


@contextlib.asynccontextmanager
async def binance_session(
    *,
    symbols: Sequence[SymbolSpec] = DEFAULT_SYMBOLS,
    balances: Mapping[str, Decimal | str | int] | None = None,
    commission: Commission | None = None,
    connect: bool = True,
    quoted: Sequence[str] | None = None,
    **overrides: Any,
) -> AsyncIterator[Session]:
    """A fake Binance, a memory bus and a connected `BinanceBroker` trading `symbols`
    (`quoted`: the broker's configured symbols, when not all of them)."""
    with quick_library_timings():
        bus = MemoryBus(BusOptions(prefix=f"binance-{uuid.uuid4().hex[:8]}", block_ms=50))
        await bus.start()
        async with FakeBinance(
            symbols=symbols,
            balances=balances if balances is not None else {"USDT": "10000"},
            commission=commission or Commission(mode="quote"),
        ) as fake:
            configured = list(quoted) if quoted is not None else [s.symbol for s in symbols]
            broker = build_broker(fake, bus, configured, **overrides)
            session = Session(fake, bus, broker, BinanceDriver(fake, broker, symbols[0].symbol))
            try:
                if connect:
                    await broker.connect()
                yield session
            finally:
                await broker.close()
                await bus.close()
