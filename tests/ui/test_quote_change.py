"""The Quotes pane's Chg% is measured from the venue's reference price, read from the
market-data stream (`ReferencePriceEvent`), never from the first quote a desk saw:

- with no reference read yet it is `-`;
- two desks reading the same streams show the same Chg% (a trading desk and a
  `silvertine watch` desk started after it, on Redis);
- a restarted desk shows the Chg% it showed before, not a change from its restart.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path
from typing import Any

from textual.pilot import Pilot

from silvertine_tui.bus import BusEntry, BusOptions, EventBus, create_bus
from silvertine_tui.config import Settings
from silvertine_tui.domain import Book, BookLevel, Quote, ReferenceBasis, ReferencePrice
from silvertine_tui.engine import Session
from silvertine_tui.engine.watch import WatchSession
from silvertine_tui.events import QuoteEvent, ReferencePriceEvent
from silvertine_tui.ui.app import SilvertineApp
from silvertine_tui.ui.format import num, pct
from silvertine_tui.ui.model import FeedModel
from silvertine_tui.ui.widgets.watchlist import Watchlist
from tests.support.redis_server import RedisServer

from .conftest import Desk, FakeClock, market_buy
from .test_projection_rebuild import caught_up, drawn, quiet_app

PREFIX = "t-quote-change"
ETH = "ETHUSDT.PAPER"
BTC = "BTCUSDT.PAPER"
NOW_S = 1_767_364_200.0


# -- the UI's market-data model -------------------------------------------------------


def entry(n: int, event: QuoteEvent | ReferencePriceEvent) -> BusEntry:
    return BusEntry("silvertine:md:paper", f"{1_767_364_200_000 + n}-0", event)


def quote(n: int, price: str, key: str = ETH) -> BusEntry:
    mid = Decimal(price)
    q = Quote(instrument=key, bid=mid - Decimal("0.05"), ask=mid + Decimal("0.05"))
    return entry(n, QuoteEvent.create("paper", q, ts=int(NOW_S * 1e9)))


def reference(n: int, price: str, key: str = ETH) -> BusEntry:
    ref = ReferencePrice(
        instrument=key, price=Decimal(price), basis=ReferenceBasis.SESSION_OPEN, venue_ts_ns=1
    )
    return entry(n, ReferencePriceEvent.create("paper", ref, ts=int(NOW_S * 1e9)))


def model() -> FeedModel:
    return FeedModel(prefix="silvertine", clock=lambda: NOW_S)


def change(m: FeedModel, key: str = ETH) -> str:
    return pct(m.quotes[key].change_pct)


def test_without_a_reference_the_change_is_not_known() -> None:
    """A journal from before references (or a venue that has none): `-`, never the
    change since this desk's first quote."""
    m = model()
    m.ingest_batch([quote(0, "3500.00")])
    m.ingest_batch([quote(1, "3535.00")])
    assert change(m) == "-"


def test_the_change_is_measured_from_the_reference_whenever_it_arrives() -> None:
    m = model()
    m.ingest_batch([quote(0, "3535.00")])
    m.take_dirty_quotes()
    m.ingest_batch([reference(1, "3500.00")])
    assert m.take_dirty_quotes() == {ETH}  # the row is drawn again with its change
    assert change(m) == "+1.00%"
    # Said again (every few seconds): nothing to draw.
    m.ingest_batch([reference(2, "3500.00")])
    assert m.take_dirty_quotes() == set()
    # A reference before the instrument's first quote (in one read, or the one before).
    m.ingest_batch([reference(3, "70000.00", BTC), quote(4, "69300.00", BTC)])
    assert change(m, BTC) == "-1.00%"
    # A new reference (Binance's rolling 24 h open moves): measured from it.
    m.ingest_batch([reference(5, "3600.00")])
    assert change(m) == "-1.81%"


def test_two_models_reading_the_same_stream_from_different_points_agree() -> None:
    """A desk reading from the stream's start and one that starts later (a watching
    desk reads the newest entries; a restarted desk's quotes start at its restart)."""
    stream = [reference(0, "3500.00")]
    stream += [quote(n, f"{3500 + n}.00") for n in range(1, 40)]
    stream.append(reference(40, "3500.00"))  # said again, as the brokers do
    stream += [quote(n, f"{3500 + n}.00") for n in range(41, 60)]
    first, late = model(), model()
    for item in stream:
        first.ingest_batch([item])
    late.ingest_batch(stream[30:])
    assert change(first) == change(late) == pct(Decimal(59) / 3500 * 100)


# -- desks on Redis -----------------------------------------------------------------------


def desk_settings(url: str) -> Settings:
    return Settings.model_validate(
        {
            "bus": {"url": url, "prefix": PREFIX},
            "brokers": [
                {
                    "name": "paper",
                    "type": "paper",
                    "account": "main",
                    "seed": 7,
                    "symbols": ["BTCUSDT", "ETHUSDT"],
                    "market": {"autorun": False},
                    "latency": {"enabled": False},
                }
            ],
        }
    )


def redis_bus(url: str, *, passive: bool = False) -> EventBus:
    options = BusOptions(prefix=PREFIX, block_ms=50, epoch_check_s=0.1, passive=passive)
    return create_bus(url, options)


Shown = dict[str, tuple[str, str, Decimal | None]]


def shown(app: SilvertineApp) -> Shown:
    """The Quotes pane's Last and Chg% by instrument, and the mid it holds (what the
    change is measured at, as positions are marked)."""
    cells = app.screen.query_one(Watchlist)._cells
    quotes = app.model.quotes
    return {key: (row[3].plain, row[4].plain, quotes[key].quote.mid) for key, row in cells.items()}


async def last_quotes(bus: EventBus) -> dict[str, Quote]:
    await bus.flush()
    latest: dict[str, Quote] = {}
    for item in await bus.read(bus.layout.md("paper")):
        if isinstance(item.event, QuoteEvent):
            latest[item.event.payload.instrument] = item.event.payload
    return latest


async def showing_last_quotes(app: SilvertineApp, desk: Desk, pilot: Pilot[None]) -> None:
    """Redis is read over a socket: settle until the Quotes pane shows each instrument's
    last quote on the stream."""
    for _ in range(200):
        await desk.settle(pilot)
        latest = await last_quotes(desk.session.bus)
        on_screen = {key: state.quote for key, state in app.model.quotes.items()}
        if latest and on_screen == latest:
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the Quotes pane does not show the stream's last quotes")


async def references_on(url: str) -> dict[str, Decimal]:
    """The last reference price per instrument on the paper broker's market data."""
    bus = redis_bus(url, passive=True)
    await bus.start()
    try:
        return {
            item.event.payload.instrument: item.event.payload.price
            for item in await bus.read(bus.layout.md("paper"))
            if isinstance(item.event, ReferencePriceEvent)
        }
    finally:
        await bus.close()


async def trading_desk(url: str, clock: FakeClock, state: Path, moves: Any) -> Shown:
    """A trading desk on Redis: `moves(desk, pilot)` once it is up. Returns its Quotes
    pane (Last, Chg%)."""
    session = Session(desk_settings(url), bus=redis_bus(url), clock=clock.ns)
    app = quiet_app(session, clock, state)
    desk = Desk(app, session, clock)
    async with app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        await moves(desk, pilot)
        await caught_up(desk, pilot)
        await showing_last_quotes(app, desk, pilot)
        seen = shown(app)
        await session.close()
    return seen


def assert_measured_from(references: dict[str, Decimal], pane: Shown) -> None:
    """Each row's Chg% is its mid against its instrument's reference."""
    for key, (_, chg, mid) in pane.items():
        assert mid is not None, key
        assert chg == pct((mid - references[key]) / references[key] * 100), key


def test_a_watching_desk_and_a_restarted_desk_show_the_chg_the_desk_showed(
    tmp_path: Path, clock: FakeClock
) -> None:
    fill_price: list[Decimal] = []
    with RedisServer() as server:

        async def trade(desk: Desk, pilot: Pilot[None]) -> None:
            await desk.step(pilot, 10)
            broker = desk.broker
            opened = broker.references[ETH].price
            # ETH trades 2% above its day open (a book fed to the venue: the walk
            # goes on from there), and a fill puts the account in the journal.
            mid = (opened * Decimal("1.02")).quantize(Decimal("0.01"))
            await broker.on_market_data(
                Book(
                    instrument=ETH,
                    bids=(BookLevel(price=mid - Decimal("0.05"), size=Decimal("50")),),
                    asks=(BookLevel(price=mid + Decimal("0.05"), size=Decimal("50")),),
                )
            )
            await desk.session.engine.submit(market_buy("st000000000000000101", ETH, "1"))
            await desk.settle(pilot)
            order = desk.session.engine.oms.get("st000000000000000101")
            assert order is not None
            assert order.order.avg_price is not None
            fill_price.append(order.order.avg_price)
            await desk.step(pilot, 1, seconds=0.1)  # the venue's next quote carries it

        live = asyncio.run(trading_desk(server.url, clock, tmp_path / "a", trade))
        assert live[ETH][1] == "+2.00%"
        # Last is the venue's last trade (a paper venue's: its fill), never the mid.
        assert live[ETH][0] == num(fill_price[0], 2)
        assert live[BTC][0] == "-"
        references = asyncio.run(references_on(server.url))
        assert set(references) == {ETH, BTC}
        assert_measured_from(references, live)

        # A watching desk started after it reads the same streams: the same Chg%.
        async def watch() -> Shown:
            settings = Settings.model_validate({"bus": {"url": server.url, "prefix": PREFIX}})
            session = WatchSession(settings, bus=redis_bus(server.url, passive=True))
            await session.open()
            app = quiet_app(session, clock, tmp_path / "w")
            desk = Desk(app, session, clock)
            async with app.run_test(size=(120, 36)) as pilot:
                await drawn(app, desk, pilot)
                await showing_last_quotes(app, desk, pilot)
                seen = shown(app)
                await session.close()
            return seen

        assert asyncio.run(watch()) == live

        # The desk restarts, the same day: the market resumes where it was, and the
        # Chg% is still measured from the venue's day open, not from the restart.
        clock.advance(600)

        async def nothing(desk: Desk, pilot: Pilot[None]) -> None:
            await desk.settle(pilot)

        again = asyncio.run(trading_desk(server.url, clock, tmp_path / "b", nothing))
        assert asyncio.run(references_on(server.url)) == references
        assert again[ETH][1] == "+2.00%"
        assert_measured_from(references, again)
