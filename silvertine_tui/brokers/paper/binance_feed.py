"""Paper trading on live prices: Binance's public market streams feed the simulator.

`market.source: binance` on a paper broker. A key-less python-binance `AsyncClient`
(public endpoints only, no account) and a `MarketStreams` carry the depth and best
bid/ask of each paper symbol Binance lists; every book goes to the simulator
(`PaperBroker.on_market_data`), so resting paper orders fill on real prices. A quote
(bookTicker, faster than the 100 ms depth stream) replaces the top of the last book.
Binance's last trade (the 24hr ticker's `lastPrice` at connect, then each `@miniTicker`
close) is the paper venue's Last: its own fills are not trades of that market.

The feed never stops the paper broker: Binance unreachable at start, a dropped socket,
a missed book update are shown on the broker's `market` link and retried.

python-binance is imported here only, when the feed starts: a synthetic paper start
never loads it (tests/unit/test_broker_registry.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from ...config import PaperMarketConfig
from ...domain import Book, BookLevel, ConnectionState, MarketDataKind, Quote, Trade
from ..stopping import stop_task

if TYPE_CHECKING:
    from ..binance.market import MarketStreams

log = logging.getLogger(__name__)

VENUE = "BINANCE"
# Pauses between attempts to reach Binance for prices, the last repeated: bounded at 5 s
# as the Binance adapter's market streams (prices back within seconds of the venue).
RETRY_DELAYS = (1.0, 2.0, 5.0)
# Symbols per GET ticker/24hr (weight 2 up to 20).
TICKER_BATCH = 20


def overlay_quote(book: Book, quote: Quote) -> Book:
    """`book` with its top replaced by `quote`: levels at or through the new best price
    give way to it; deeper levels stay. A side the quote has no price for is empty at
    Binance (its bookTicker says so with a price of 0, which `parse_book_ticker` reads
    as None; every bookTicker carries both sides): that side of the book is cleared,
    never left with the last depth book's levels, prices nobody offers any more."""
    bids, asks = book.bids, book.asks
    if quote.bid is None:
        bids = ()
    elif quote.bid_size is not None:
        top = BookLevel(price=quote.bid, size=quote.bid_size)
        bids = (top, *(lv for lv in bids if lv.price < top.price))
    if quote.ask is None:
        asks = ()
    elif quote.ask_size is not None:
        top = BookLevel(price=quote.ask, size=quote.ask_size)
        asks = (top, *(lv for lv in asks if lv.price > top.price))
    return book.model_copy(update={"bids": bids, "asks": asks})


class BinanceFeed:
    """Binance market data for a paper broker's symbols (`SYMBOL` -> paper key)."""

    def __init__(
        self,
        config: PaperMarketConfig,
        symbols: Sequence[str],
        *,
        on_data: Callable[[Book | Quote], Awaitable[object]],
        on_link: Callable[[ConnectionState, str], Awaitable[None]],
        on_gap: Callable[[str, str], Awaitable[None]],
        retry_delays: Sequence[float] = RETRY_DELAYS,
        clock: Callable[[], int] = time.time_ns,
    ) -> None:
        self.config = config
        self.symbols = list(symbols)
        self.retry_delays = tuple(retry_delays) or (1.0,)
        self.clock = clock
        self.client: Any = None
        self.streams: MarketStreams | None = None
        # Paper symbols Binance does not list: no prices for them.
        self.unlisted: list[str] = []
        self._on_data = on_data
        self._on_link = on_link
        self._on_gap = on_gap
        self._books: dict[str, Book] = {}
        self._task: asyncio.Task[None] | None = None

    @staticmethod
    def key(symbol: str) -> str:
        return f"{symbol}.{VENUE}"

    def start(self) -> None:
        """Connect in the background; the link reports how it goes."""
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._connect(), name="paper-binance-feed")

    async def close(self) -> None:
        task, self._task = self._task, None
        await stop_task(task)
        if self.streams is not None:
            await self.streams.close()
            self.streams = None
        if self.client is not None:
            client, self.client = self.client, None
            try:
                await asyncio.wait_for(client.close_connection(), 1.0)
            except Exception as exc:
                log.warning("paper.binance_feed.close_failed", extra={"error": repr(exc)})

    def stats(self) -> dict[str, int | str]:
        out: dict[str, int | str] = {}
        if self.streams is not None:
            stats = self.streams.stats
            out["market_bad_payloads"] = stats.bad_payloads
            out["market_gaps"] = stats.gaps
            out["market_reconnects"] = stats.reconnects
        if self.unlisted:
            out["market_unlisted"] = ",".join(self.unlisted)
        return out

    def ages_s(self, now_ns: int) -> dict[str, float]:
        """Seconds since Binance last sent data, per instrument (`SYMBOL.BINANCE`)."""
        if self.streams is None:
            return {}
        return {k: max(0.0, (now_ns - v) / 1e9) for k, v in self.streams.last_data_ns.items()}

    # -- connecting -----------------------------------------------------------------

    async def _connect(self) -> None:
        from ..binance.market import MarketStreams  # python-binance: only now

        attempt = 0
        while True:
            await self._on_link(ConnectionState.CONNECTING, "connecting to Binance market data")
            try:
                self.client = await self._create_client()
                listed = await self._listed(self.symbols)
                break
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                await self._drop_client()
                attempt += 1
                delay = self.retry_delays[min(attempt, len(self.retry_delays)) - 1]
                await self._on_link(
                    ConnectionState.DISCONNECTED,
                    f"Binance REST unreachable ({type(exc).__name__}: {exc}); "
                    f"retrying in {delay:g} s; paper orders rest until prices arrive",
                )
                await asyncio.sleep(delay)
        self.unlisted = [s for s in self.symbols if s not in listed]
        if self.unlisted:
            log.warning(
                "paper.binance_feed.unlisted",
                extra={"symbols": self.unlisted, "detail": "no Binance prices for them"},
            )
        client = self.client
        self.streams = MarketStreams(
            client,
            venue=VENUE,
            stream_url=self.config.stream_url,
            depth_snapshot=self._snapshot,
            on_quote=self._quote,
            on_book=self._book,
            on_trade=self._trade,
            on_link=self._on_link,
            on_gap=self._on_gap,
            last_trades=True,
            depth=self.config.depth_levels,
            retry_delays=self.retry_delays,
            clock=self.clock,
        )
        await self.streams.subscribe(
            {self.key(s): s for s in listed},
            (MarketDataKind.BOOK, MarketDataKind.QUOTE),
        )
        await self._seed_last_trades(sorted(listed))

    async def _create_client(self) -> Any:
        from binance import AsyncClient

        cls: Any = AsyncClient
        if self.config.rest_url:
            # python-binance only switches host names; class attributes reach any URL
            # (the testnet one too, which it prefers when testnet is set).
            cls = type(
                "PaperMarketClient",
                (AsyncClient,),
                {"API_URL": self.config.rest_url, "API_TESTNET_URL": self.config.rest_url},
            )
        return await cls.create(None, None, testnet=self.config.testnet)

    async def _drop_client(self) -> None:
        client, self.client = self.client, None
        if client is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(client.close_connection(), 1.0)

    async def _listed(self, symbols: Sequence[str]) -> set[str]:
        """The symbols Binance lists (one exchangeInfo call, at connect only)."""
        info = await self.client.get_exchange_info()
        venue = {str(item.get("symbol")) for item in info.get("symbols", [])}
        return {s for s in symbols if s in venue}

    async def _seed_last_trades(self, symbols: Sequence[str]) -> None:
        """Binance's last trade of each symbol now (GET ticker/24hr, 20 symbols a call,
        weight 2), so Last shows before the first miniTicker. Failing, the streams bring
        it within a second: a warning."""
        from ..binance.market import last_of_ticker, symbols_param

        for start in range(0, len(symbols), TICKER_BATCH):
            batch = symbols[start : start + TICKER_BATCH]
            try:
                rows = await self.client.get_ticker(symbols=symbols_param(batch), type="MINI")
                for row in rows:
                    last = last_of_ticker(row)
                    if last is not None and self.streams is not None:
                        self.streams.note_last_trade(self.key(str(row["symbol"])), *last)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning(
                    "paper.binance_feed.last_trades_failed",
                    extra={"symbols": ",".join(batch), "error": repr(exc)},
                )

    def last_trade(self, symbol: str) -> Decimal | None:
        """Binance's last trade price of `symbol` (None until one is known)."""
        if self.streams is None:
            return None
        return self.streams.last_trade(self.key(symbol))

    async def _snapshot(self, symbol: str, limit: int) -> dict[str, Any]:
        answer: dict[str, Any] = await self.client.get_order_book(symbol=symbol, limit=limit)
        return answer

    # -- data ---------------------------------------------------------------------------

    async def _book(self, book: Book) -> None:
        self._books[book.instrument] = book
        await self._on_data(book)

    async def _quote(self, quote: Quote) -> None:
        book = self._books.get(quote.instrument)
        if book is None:
            await self._on_data(quote)
            return
        merged = overlay_quote(book, quote)
        self._books[quote.instrument] = merged
        await self._on_data(merged)

    async def _trade(self, trade: Trade) -> None:
        return None  # not subscribed: the simulator fills against the book
