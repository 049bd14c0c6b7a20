"""Binance's reference price reaches the bus: the open of its 24 h rolling window (what
its own priceChangePercent is measured from), from GET ticker/24hr when the quotes
start and from each symbol's `@miniTicker` stream as the window rolls, against the
fake venue with the real python-binance client."""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal

from silvertine_tui.bus import BusOptions, MemoryBus
from silvertine_tui.domain import MarketDataKind, ReferenceBasis, ReferencePrice
from silvertine_tui.events import ReferencePriceEvent
from tests.fakes.binance import FakeBinance, SymbolSpec
from tests.support.binance_broker import (
    BinanceDriver,
    Session,
    binance_session,
    build_broker,
    quick_library_timings,
)

ETH = "ETHUSDT.BINANCE"
BTC = "BTCUSDT.BINANCE"
TICKER = ("GET", "/api/v3/ticker/24hr")
D = Decimal


async def references(s: Session, key: str = ETH) -> list[ReferencePrice]:
    md = s.bus.layout.md(s.broker.name)
    return [
        e.event.payload
        for e in await s.bus.read(md)
        if isinstance(e.event, ReferencePriceEvent) and e.event.payload.instrument == key
    ]


async def until_references(s: Session, count: int, key: str = ETH) -> list[ReferencePrice]:
    deadline = time.monotonic() + 4
    while len(found := await references(s, key)) < count:
        assert time.monotonic() < deadline, f"{len(found)} references of {key}, not {count}"
        await asyncio.sleep(0.01)
    return found


def tickers_asked(s: Session) -> int:
    return s.fake.requests.count(TICKER)


async def test_the_24h_open_reaches_the_bus_when_the_quotes_start() -> None:
    async with binance_session(connect=False) as s:
        await s.fake.set_24h_open("ETHUSDT", "1900.5")
        await s.fake.trade("ETHUSDT", "2000", "1")
        before = s.fake.used_weight
        await s.broker.connect()
        [opened] = await until_references(s, 1)
        assert opened.instrument == ETH
        assert opened.price == D("1900.5")
        assert opened.basis is ReferenceBasis.OPEN_24H
        assert opened.venue_ts_ns is not None
        assert abs(opened.venue_ts_ns / 1e6 - s.fake.server_time()) < 5_000
        # REST was asked once (2 of the minute's weight), and the stream's first push
        # said the same: one reference on the bus.
        assert tickers_asked(s) == 1
        assert s.fake.used_weight - before >= 2
        await s.fake.wait_for_stream("ethusdt@miniTicker")
        await asyncio.sleep(0.1)
        assert await references(s) == [opened]


async def test_the_stream_follows_the_window_as_it_rolls() -> None:
    async with binance_session() as s:
        await s.fake.wait_for_stream("ethusdt@miniTicker")
        assert await references(s) == []  # not traded: no open, no reference ('-')
        await s.fake.trade("ETHUSDT", "2000", "1")  # the window's first print
        [first] = await until_references(s, 1)
        assert first.price == D("2000")
        await s.fake.trade("ETHUSDT", "2010", "1")  # the open stays: nothing new
        await s.fake.set_24h_open("ETHUSDT", "1980")  # the window rolled on
        [_, rolled] = await until_references(s, 2)
        assert rolled.price == D("1980")
        assert rolled.venue_ts_ns is not None
        assert first.venue_ts_ns is not None
        assert rolled.venue_ts_ns >= first.venue_ts_ns
        assert tickers_asked(s) == 1  # followed on the stream: no more weight


async def test_the_streams_back_after_a_drop_bring_it_without_rest() -> None:
    async with binance_session() as s:
        await s.fake.wait_for_stream("ethusdt@miniTicker")
        await s.fake.set_24h_open("ETHUSDT", "1900")
        await until_references(s, 1)
        connects = s.fake.stream_connects
        await s.fake.drop_connections(user_data=False, streams=True)
        await s.fake.set_24h_open("ETHUSDT", "1901")  # rolled while the stream was down
        await s.fake.wait_for_stream_connects(connects + 1)
        [_, back] = await until_references(s, 2)
        assert back.price == D("1901")
        assert tickers_asked(s) == 1


async def test_a_symbol_quoted_later_gets_its_reference() -> None:
    with quick_library_timings():
        bus = MemoryBus(BusOptions(prefix="binance-later", block_ms=50))
        await bus.start()
        async with FakeBinance(
            symbols=[SymbolSpec("ETHUSDT", "ETH", "USDT"), SymbolSpec("BTCUSDT", "BTC", "USDT")],
            balances={"USDT": "10000"},
        ) as fake:
            await fake.set_24h_open("BTCUSDT", "64000")
            broker = build_broker(fake, bus, ["ETHUSDT"])  # BTC is not quoted yet
            s = Session(fake, bus, broker, BinanceDriver(fake, broker, "ETHUSDT"))
            try:
                await broker.connect()
                await fake.wait_for_stream("ethusdt@miniTicker")
                asked = tickers_asked(s)
                assert await references(s, BTC) == []
                await broker.subscribe([BTC], [MarketDataKind.QUOTE])
                [opened] = await until_references(s, 1, BTC)
                assert opened.price == D("64000")
                assert tickers_asked(s) == asked + 1
            finally:
                await broker.close()
                await bus.close()
