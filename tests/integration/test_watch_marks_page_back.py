"""A watching desk (`silvertine watch`, engine/watch.py) marks every instrument with an
open position or a working order, however busy the market: it read its marks from the
newest 2,000 market-data entries only, and a quiet instrument's last quote further
back left its position unmarked (the Positions total said `(1 unmarked)`) until its
next quote, minutes on a quiet market. The rest are paged back (XREVRANGE, newest
first) in the background once the desk is up, until each is marked or a cap.

Also the read that pages back: `EventBus.read_last(stream, count, before=id)`, on both
backends."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest
from redis.asyncio import Redis

from silvertine_tui.bus import BusOptions, EventBus, create_bus
from silvertine_tui.config import Settings
from silvertine_tui.domain import OrderRequest, OrderType, Quote, Side, TimeInForce
from silvertine_tui.engine import Session
from silvertine_tui.engine import watch as watching
from silvertine_tui.engine.core import TradingEngine
from silvertine_tui.engine.watch import WatchSession
from silvertine_tui.events import QuoteEvent, encode
from tests.support import log_event
from tests.support.redis_server import RedisServer

BTC, ETH, AAPL = "BTCUSDT.PAPER", "ETHUSDT.PAPER", "AAPL.PAPER"


# -- the read: the newest entries before an id ------------------------------------------


@pytest.fixture(
    params=[
        pytest.param("memory", id="memory"),
        pytest.param("redis", id="redis", marks=pytest.mark.redis),
    ]
)
async def bus(request: pytest.FixtureRequest, key_prefix: str) -> AsyncIterator[EventBus]:
    if request.param == "memory":
        url = "memory://"
    else:
        server: RedisServer = request.getfixturevalue("redis_server")
        url = server.url
    made = create_bus(url, BusOptions(prefix=key_prefix, block_ms=100, epoch_check_s=0.2))
    await made.start()
    try:
        yield made
    finally:
        await made.close()


async def test_read_last_before_an_id_pages_back_newest_first(bus: EventBus) -> None:
    stream = bus.layout.health
    events = [log_event(f"line {n}") for n in range(10)]
    published = [await bus.publish(event) for event in events]
    ids = [entry_id for entry_id in published if entry_id is not None]
    assert len(ids) == len(events)

    async def page(count: int, before: str) -> list[str]:
        return [e.id for e in await bus.read_last(stream, count, before=before)]

    # The newest `count` older than `before` (exclusive), newest first.
    assert await page(3, ids[6]) == [ids[5], ids[4], ids[3]]
    assert [e.event for e in await bus.read_last(stream, 2, before=ids[6])] == events[5:3:-1]
    # Paged back to the start: a short page, then none.
    assert await page(5, ids[3]) == [ids[2], ids[1], ids[0]]
    assert await page(5, ids[0]) == []
    # `+` (the default): from the end, as before.
    assert await page(2, "+") == [ids[9], ids[8]]
    assert [e.id for e in await bus.read_last(stream, 2)] == [ids[9], ids[8]]
    # An id between two entries, or past the end; no stream; no count.
    ms, _, seq = ids[4].partition("-")
    assert await page(1, f"{ms}-{int(seq) + 1}") == [ids[4]]
    assert await page(2, "99999999999999-0") == [ids[9], ids[8]]
    assert await bus.read_last(bus.layout.signal, 5, before=ids[4]) == []
    assert await bus.read_last(stream, 0, before=ids[4]) == []


# -- the watching desk's marks ------------------------------------------------------------


def settings(url: str, prefix: str) -> Settings:
    return Settings.model_validate(
        {
            "bus": {"url": url, "prefix": prefix},
            "brokers": [
                {
                    "name": "paper",
                    "type": "paper",
                    "market": {"autorun": False},
                    "latency": {"enabled": False},
                }
            ],
        }
    )


def watcher(url: str, prefix: str, *, marks_page_back_max: int | None = None) -> WatchSession:
    bus = create_bus(url, BusOptions(prefix=prefix, block_ms=50, epoch_check_s=0.1, passive=True))
    settings = Settings.model_validate({"bus": {"url": url, "prefix": prefix}})
    if marks_page_back_max is None:
        return WatchSession(settings, bus=bus)
    return WatchSession(settings, bus=bus, marks_page_back_max=marks_page_back_max)


async def flood(url: str, md: str, count: int) -> None:
    """A busy market: `count` quotes of BTC on the paper broker's stream (written as
    the broker's desk writes them, in one pipeline)."""
    raw = Redis.from_url(url)
    try:
        pipe = raw.pipeline(transaction=False)
        for n in range(count):
            bid = Decimal(65_000) + Decimal(n) / 100
            quote = Quote(instrument=BTC, bid=bid, ask=bid + Decimal("0.5"))
            pipe.xadd(md, encode(QuoteEvent.create("paper", quote)))  # type: ignore[arg-type]
        await pipe.execute()
    finally:
        await raw.aclose()


async def desk_with_quiet_holdings(url: str, prefix: str, before: int, after: int) -> Session:
    """The desk driving the paper broker: `before` BTC quotes, then every instrument
    quoted once, an ETH position bought and an AAPL buy resting (neither quoted again),
    then `after` BTC quotes."""
    trading = Session(settings(url, prefix))
    await trading.start()
    md = trading.bus.layout.md("paper")
    await flood(url, md, before)
    await trading.brokers[0].step()  # type: ignore[attr-defined]
    await trading.bus.flush()
    engine = trading.engine
    await engine.submit(order(ETH, Side.BUY, OrderType.MARKET, "1"))
    aapl = engine.last_price(AAPL)
    assert aapl is not None
    await engine.submit(order(AAPL, Side.BUY, OrderType.LIMIT, "1", (aapl * Decimal("0.97"))))
    await flood(url, md, after)
    return trading


def order(
    instrument: str, side: Side, kind: OrderType, qty: str, price: Decimal | None = None
) -> OrderRequest:
    return OrderRequest(
        broker="paper",
        account="main",
        instrument=instrument,
        side=side,
        order_type=kind,
        quantity=Decimal(qty),
        limit_price=None if price is None else price.quantize(Decimal("0.01")),
        tif=TimeInForce.IOC if kind is OrderType.MARKET else TimeInForce.GTC,
    )


async def last_marks(bus: EventBus, md: str) -> dict[str, Decimal]:
    """Each instrument's newest quote that gives a mark, read from the whole stream."""
    marks: dict[str, Decimal] = {}
    for entry in await bus.read_last(md, 1_000_000):
        event = entry.event
        if isinstance(event, QuoteEvent) and event.payload.instrument not in marks:
            found = event.payload.mark
            if found is not None:
                marks[event.payload.instrument] = found[0]
    return marks


async def marked(engine: TradingEngine, instruments: list[str], within_s: float = 10.0) -> bool:
    """Whether each of `instruments` has a mark within `within_s` (awaiting the
    engine's applies)."""
    try:
        async with asyncio.timeout(within_s):
            while any(engine.last_price(i) is None for i in instruments):
                await engine.wait_changed()
    except TimeoutError:
        return False
    return True


def paged_back(caplog: pytest.LogCaptureFixture) -> list[tuple[int, int]]:
    """(instruments marked, entries read) of each page-back the log told of."""
    return [
        (r.found, r.entries)  # type: ignore[attr-defined]
        for r in caplog.records
        if r.getMessage() == "watch.marks_paged_back"
    ]


@pytest.mark.redis
async def test_a_quiet_position_and_working_order_get_their_last_marks(
    redis_server: RedisServer, key_prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    url = redis_server.url
    trading = await desk_with_quiet_holdings(url, key_prefix, before=3_000, after=2_500)
    watch = watcher(url, key_prefix)
    caplog.set_level(logging.INFO, logger="silvertine_tui.engine.watch")
    try:
        md = trading.bus.layout.md("paper")
        expected = await last_marks(trading.bus, md)
        engine = watch.engine
        await watch.start()
        # Up at once with the newest 2,000 entries: BTC marked; ETH and AAPL were
        # quoted further back, and are looked for after (nothing waits for them).
        assert engine.last_price(BTC) == expected[BTC]
        assert engine.last_price(ETH) is None
        assert engine.last_price(AAPL) is None
        assert await marked(engine, [ETH, AAPL]), "ETH and AAPL never marked"
        assert engine.last_price(ETH) == expected[ETH]
        assert engine.last_price(AAPL) == expected[AAPL]
        (position,) = [p for k, p in engine.projection.positions.items() if k[2] == ETH]
        assert engine.projection.unrealized(position) is not None
        # One page held them both: the 3,000 older quotes were not read.
        await watch.marks_paged_back()
        assert paged_back(caplog) == [(2, watching.MARKS_PAGE)]
    finally:
        await watch.close()
        await trading.close()


@pytest.mark.redis
async def test_the_page_back_stops_at_its_cap(
    redis_server: RedisServer, key_prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Past `marks_page_back_max` entries more the rest stay unmarked until their next
    quote, as they were: the Positions total says `(1 unmarked)`, which is so."""
    url = redis_server.url
    trading = await desk_with_quiet_holdings(url, key_prefix, before=0, after=2_500)
    watch = watcher(url, key_prefix, marks_page_back_max=400)
    caplog.set_level(logging.INFO, logger="silvertine_tui.engine.watch")
    try:
        await watch.start()
        await watch.marks_paged_back()
        assert watch.engine.last_price(BTC) is not None
        assert watch.engine.last_price(ETH) is None
        assert watch.engine.last_price(AAPL) is None
        assert paged_back(caplog) == [(0, 400)]
    finally:
        await watch.close()
        await trading.close()
