"""The simulator's market: L2 books, a seeded synthetic random walk, conversions.

`MarketBook` is the venue's view of the displayed book: immutable tuples of
(price, size) pairs, best first. The matching core never mutates a book; liquidity our
own orders take is tracked beside it until the next book replaces it.

`SyntheticMarket` moves one mid price per symbol as geometric Brownian motion and lays
a book around it. The walk runs in binary floating point (log-price plus a Gaussian
step); the mid is then rounded to an integer number of ticks, and every published price
and size is an exact Decimal on the instrument's grid. Floats never reach an order, a
fill or a balance. The walk is reproducible bit for bit for a seed on one platform
(CPython's Mersenne Twister is portable; `math.exp`/`log` come from the C library).
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from ...config import PaperMarketConfig
from ...domain import Book, BookLevel, Quote, mid_of
from .instruments import SymbolSpec

Level = tuple[Decimal, Decimal]
"""(price, size)."""

SECONDS_PER_YEAR = 365.0 * 86_400.0
"""The walk uses calendar time for every symbol (crypto trades every day)."""


@dataclass(frozen=True, slots=True)
class MarketBook:
    """A displayed L2 book: bids highest first, asks lowest first."""

    instrument: str
    bids: tuple[Level, ...]
    asks: tuple[Level, ...]
    ts_ns: int = 0

    @property
    def best_bid(self) -> Decimal | None:
        return self.bids[0][0] if self.bids else None

    @property
    def best_ask(self) -> Decimal | None:
        return self.asks[0][0] if self.asks else None

    @property
    def mid(self) -> Decimal | None:
        """Between the best bid and ask when both are prices and not crossed (as
        `Quote.mid`), else None."""
        if not self.bids or not self.asks:
            return None
        return mid_of(self.bids[0][0], self.asks[0][0])

    def tradable(self) -> MarketBook:
        """This book as the venue matches against it: levels priced at 0 or below (an
        empty side said as 0) or sized at 0 or below dropped, a side left with none an
        empty side; a crossed book is no market (both sides empty: nothing trades at
        prices nobody quoted). Itself when it is already sound."""
        bids, asks = self.bids, self.asks
        if any(p <= 0 or s <= 0 for p, s in bids):
            bids = tuple(lv for lv in bids if lv[0] > 0 and lv[1] > 0)
        if any(p <= 0 or s <= 0 for p, s in asks):
            asks = tuple(lv for lv in asks if lv[0] > 0 and lv[1] > 0)
        if bids and asks and bids[0][0] > asks[0][0]:
            bids = asks = ()
        if bids is self.bids and asks is self.asks:
            return self
        return MarketBook(self.instrument, bids, asks, self.ts_ns)

    def to_book(self, instrument: str | None = None) -> Book:
        return Book(
            instrument=instrument or self.instrument,
            bids=tuple(BookLevel(price=p, size=s) for p, s in self.bids),
            asks=tuple(BookLevel(price=p, size=s) for p, s in self.asks),
            venue_ts_ns=self.ts_ns or None,
        )

    def to_quote(self, instrument: str | None = None, last: Decimal | None = None) -> Quote:
        return Quote(
            instrument=instrument or self.instrument,
            bid=self.bids[0][0] if self.bids else None,
            ask=self.asks[0][0] if self.asks else None,
            bid_size=self.bids[0][1] if self.bids else None,
            ask_size=self.asks[0][1] if self.asks else None,
            last=last,
            venue_ts_ns=self.ts_ns or None,
        )

    @classmethod
    def from_book(cls, book: Book, instrument: str | None = None) -> MarketBook:
        """From a domain `Book` (another adapter's feed). Empty levels (size 0) and
        levels priced at 0 or below are dropped (see `tradable` for a crossed book)."""
        return cls(
            instrument=instrument or book.instrument,
            bids=tuple((lv.price, lv.size) for lv in book.bids if lv.size > 0 and lv.price > 0),
            asks=tuple((lv.price, lv.size) for lv in book.asks if lv.size > 0 and lv.price > 0),
            ts_ns=book.venue_ts_ns or 0,
        )

    @classmethod
    def from_quote(cls, quote: Quote, instrument: str | None = None) -> MarketBook:
        """A one-level book from a quote. A side without a size, or priced at 0 or below
        (Binance says an empty side as 0), has no liquidity."""
        bids: tuple[Level, ...] = ()
        asks: tuple[Level, ...] = ()
        if quote.bid is not None and quote.bid > 0 and quote.bid_size and quote.bid_size > 0:
            bids = ((quote.bid, quote.bid_size),)
        if quote.ask is not None and quote.ask > 0 and quote.ask_size and quote.ask_size > 0:
            asks = ((quote.ask, quote.ask_size),)
        return cls(instrument or quote.instrument, bids, asks, quote.venue_ts_ns or 0)

    @classmethod
    def of(
        cls,
        instrument: str,
        bids: Iterable[tuple[Decimal | str, Decimal | str]],
        asks: Iterable[tuple[Decimal | str, Decimal | str]],
        ts_ns: int = 0,
    ) -> MarketBook:
        """Convenience for tests: prices and sizes as strings or Decimals."""
        return cls(
            instrument,
            tuple((Decimal(p), Decimal(s)) for p, s in bids),
            tuple((Decimal(p), Decimal(s)) for p, s in asks),
            ts_ns,
        )


class SymbolWalk:
    """One symbol's random walk and the book laid around it.

    Each step: ``log(mid) += -sigma^2 dt / 2 + sigma sqrt(dt) Z`` (zero drift: the
    expected mid stays put), then the book is built in whole ticks:
    - spread = max(1 tick, spread_bps of the mid), best bid = mid - spread // 2;
    - `depth_levels` levels per side, `level_step_bps` apart (at least one tick);
    - level i shows ``level_size * (1 + size_growth * i) * lognormal noise`` (mean 1),
      rounded to whole lots, at least one lot.
    """

    def __init__(
        self, spec: SymbolSpec, params: PaperMarketConfig, rng: random.Random, dt_s: float
    ) -> None:
        self.spec = spec
        self.key = spec.key
        self.rng = rng
        self.levels = params.depth_levels
        self.level_step_bps = params.level_step_bps
        self.growth = params.size_growth
        self.jitter = params.size_jitter
        self._tick = spec.tick_size
        self._lot = spec.lot_size
        self._tick_f = float(spec.tick_size)
        self._lot_f = float(spec.lot_size)
        self._level_f = float(spec.level_size)
        self.dt_s = dt_s
        variance = spec.volatility**2 * dt_s / SECONDS_PER_YEAR
        self._drift = -0.5 * variance
        self._sigma = math.sqrt(variance)
        self.log_mid = math.log(float(spec.start_mid))

    def anchor(self, mid: Decimal) -> None:
        """Continue the walk from `mid` (an external book, a restart)."""
        if mid > 0:
            self.log_mid = math.log(float(mid))

    def step(self) -> None:
        self.log_mid += self._drift + self._sigma * self.rng.gauss(0.0, 1.0)

    def mid_ticks(self) -> int:
        return max(2, round(math.exp(self.log_mid) / self._tick_f))

    def book(self, ts_ns: int = 0) -> MarketBook:
        mid = self.mid_ticks()
        mid_price = mid * self._tick_f
        spread = max(1, round(self.spec.spread_bps * 1e-4 * mid_price / self._tick_f))
        step = max(1, round(self.level_step_bps * 1e-4 * mid_price / self._tick_f))
        best_bid = max(1, mid - spread // 2)
        best_ask = best_bid + spread
        tick, lot = self._tick, self._lot
        gauss = self.rng.gauss
        jitter = self.jitter
        bias = -0.5 * jitter * jitter
        base = self._level_f / self._lot_f
        bids: list[Level] = []
        asks: list[Level] = []
        for i in range(self.levels):
            scale = base * (1.0 + self.growth * i)
            ask_lots = max(1, round(scale * math.exp(bias + jitter * gauss(0.0, 1.0))))
            bid_lots = max(1, round(scale * math.exp(bias + jitter * gauss(0.0, 1.0))))
            asks.append((Decimal(best_ask + i * step) * tick, Decimal(ask_lots) * lot))
            bid_ticks = best_bid - i * step
            if bid_ticks > 0:
                bids.append((Decimal(bid_ticks) * tick, Decimal(bid_lots) * lot))
        return MarketBook(self.key, tuple(bids), tuple(asks), ts_ns)


class SyntheticMarket:
    """A seeded random walk per symbol; `step()` moves every symbol one time step.

    Every symbol has its own generator seeded from ``f"{seed}/{symbol}{salt}"`` (string
    seeds are hashed with SHA-512: independent of PYTHONHASHSEED), so adding a symbol
    does not change the prices of the others.
    """

    def __init__(
        self,
        specs: Iterable[SymbolSpec],
        params: PaperMarketConfig,
        seed: int,
        *,
        salt: str = "",
    ) -> None:
        dt_s = params.tick_interval_ms / 1000.0
        self.dt_s = dt_s
        self.walks: dict[str, SymbolWalk] = {
            spec.key: SymbolWalk(spec, params, random.Random(f"{seed}/{spec.symbol}{salt}"), dt_s)
            for spec in specs
        }

    def books(self, ts_ns: int = 0) -> dict[str, MarketBook]:
        """The current books (no step)."""
        return {key: walk.book(ts_ns) for key, walk in self.walks.items()}

    def step(self, ts_ns: int = 0) -> dict[str, MarketBook]:
        """Move every symbol one step and return the new books."""
        out: dict[str, MarketBook] = {}
        for key, walk in self.walks.items():
            walk.step()
            out[key] = walk.book(ts_ns)
        return out

    def anchor(self, key: str, mid: Decimal) -> None:
        walk = self.walks.get(key)
        if walk is not None:
            walk.anchor(mid)
