"""Market data: quotes, L2 book levels, trades."""

from __future__ import annotations

from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field

from .enums import Side
from .money import Dec


class Quote(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    instrument: str
    bid: Dec | None = None
    ask: Dec | None = None
    bid_size: Dec | None = None
    ask_size: Dec | None = None
    last: Dec | None = None
    venue_ts_ns: int | None = None

    @property
    def mid(self) -> Decimal | None:
        if self.bid is None or self.ask is None:
            return None
        return (self.bid + self.ask) / 2

    @property
    def spread(self) -> Decimal | None:
        if self.bid is None or self.ask is None:
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
