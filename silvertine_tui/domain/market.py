"""Market data: quotes, L2 book levels, trades, and the reference a change is measured
from."""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from .enums import Side
from .money import Dec


def mid_of(bid: Decimal | None, ask: Decimal | None) -> Decimal | None:
    """Between a best bid and ask, when both are prices (above 0: Binance says an empty
    side as 0) and not crossed; else None. An empty side made the mark half the other,
    a crossed quote a price nobody dealt at, and both empty a mark of 0 that let any
    notional through."""
    if bid is None or ask is None or bid <= 0 or ask <= 0 or bid > ask:
        return None
    return (bid + ask) / 2


VENUE_TIME_UNKNOWN = 0
"""A quote's `venue_ts_ns` when its data is not live and the venue gives no time it is
of (IB's frozen data with no last-trade time: no trade since the close, FX): the epoch,
older than any quote, so no reader takes it for fresh; a reader tells "age not known"
from an age by it (the Quotes pane's `frz ?`)."""


class Quote(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    instrument: str
    bid: Dec | None = None
    ask: Dec | None = None
    bid_size: Dec | None = None
    ask_size: Dec | None = None
    last: Dec | None = None
    venue_ts_ns: int | None = None
    """None for live data (as old as its event); for delayed or frozen data the venue
    time its prices are of, at the latest; `VENUE_TIME_UNKNOWN` where that is not known."""

    @property
    def mid(self) -> Decimal | None:
        return mid_of(self.bid, self.ask)

    @property
    def mark(self) -> tuple[Decimal, str] | None:
        """The price this quote marks its instrument at and its basis: the mid, else
        the last trade; None when it has neither, or only a price of 0 or below (it
        then changes no mark: the one before stands)."""
        mid = self.mid
        if mid is not None:
            return mid, "mid"
        if self.last is not None and self.last > 0:
            return self.last, "last trade"
        return None

    @property
    def spread(self) -> Decimal | None:
        """Ask less bid, when both are prices (above 0: Binance says an empty side as
        0, and an empty bid made the spread the whole ask); crossed, it is below 0."""
        if self.bid is None or self.ask is None or self.bid <= 0 or self.ask <= 0:
            return None
        return self.ask - self.bid


class BookLevel(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    price: Dec
    size: Dec = Field(ge=0)


class Book(BaseModel):
    """An L2 snapshot: bids best (highest) first, asks best (lowest) first.

    `update_id` is the venue's book sequence (Binance `lastUpdateId`/`u`) when it has
    one: a subscriber that sees it jump knows it missed updates.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    instrument: str
    bids: tuple[BookLevel, ...] = ()
    asks: tuple[BookLevel, ...] = ()
    venue_ts_ns: int | None = None
    update_id: int | None = None


class Trade(BaseModel):
    """A print on the tape (not our fill)."""

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    instrument: str
    price: Dec
    quantity: Dec
    aggressor: Side | None = None
    trade_id: str = ""
    venue_ts_ns: int | None = None


class ReferenceBasis(StrEnum):
    """What a venue's reference price is: the price a quote's change is measured from
    (the Quotes pane's Chg%)."""

    OPEN_24H = "open_24h"
    """Binance spot: the open of the rolling 24 h window (its 24hr ticker's `openPrice`,
    the `o` of `<symbol>@miniTicker`), what its `priceChangePercent` is measured from."""
    PRIOR_CLOSE = "prior_close"
    """Interactive Brokers: the prior session's close (TWS tick type 9, ib_async's
    `ticker.close`)."""
    SESSION_OPEN = "session_open"
    """The paper simulator: the first mid of its simulated trading day (days end at
    `market.day_end_utc`)."""


class ReferencePrice(BaseModel):
    """An instrument's reference price at its venue, published on the market-data
    stream when the adapter learns it or the venue changes it (`ReferencePriceEvent`),
    apart from the quotes: a quote stays as small as it was, and every reader of the
    stream measures the change from the same price."""

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    instrument: str
    price: Dec = Field(gt=0)
    basis: ReferenceBasis
    venue_ts_ns: int | None = None
    """When the venue set or last said it (ns), if it says: a reference older than the
    one an adapter holds is not published over it."""
