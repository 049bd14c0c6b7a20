"""Instruments and the `SYMBOL.VENUE` keys that name them."""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, field_validator

from .enums import OrderType
from .errors import ValidationIssue
from .money import (
    Dec,
    NonNegativeDec,
    PositiveDec,
    RoundingMode,
    decimal_places,
    fmt,
    is_multiple,
    quantize_to_step,
    quantized,
)


def instrument_key(symbol: str, venue: str) -> str:
    return f"{symbol}.{venue}"


def split_key(key: str) -> tuple[str, str]:
    """`BRK.B.SMART` -> (`BRK.B`, `SMART`): the venue is after the last dot. The symbol
    may hold inner spaces as the venue spells it (IB option local symbols such as
    `AAPL  261218C00200000.SMART`); the venue never does."""
    symbol, dot, venue = key.rpartition(".")
    if not dot or not symbol or not venue or any(c.isspace() for c in venue):
        raise ValueError(f"instrument key {key!r} is not SYMBOL.VENUE")
    if symbol != symbol.strip():
        raise ValueError(f"instrument key {key!r} starts or ends its symbol with a space")
    return symbol, venue


class InstrumentKind(StrEnum):
    """What a buy of the instrument is for the account: the desk's checks go by it.

    SPOT: bought outright and paid in full (a coin, a share, a currency): the default,
    and every paper and Binance instrument. FUTURE: margined, never paid for: a buy
    moves no notional, the venue holds initial margin against it, which only the
    venue can work out (`Instrument.margined`). OPTION: the premium (price x
    multiplier) is paid in full; a kind of its own because a venue charges it per
    contract, not per share (`Instrument.fee_per_unit`)."""

    SPOT = "SPOT"
    FUTURE = "FUTURE"
    OPTION = "OPTION"


class PriceBand(BaseModel):
    """How far from the reference price (the venue's recent average) an order may be
    priced, as multipliers: a buy between `bid_down` and `bid_up` times the reference,
    a sell between `ask_down` and `ask_up` (Binance PERCENT_PRICE_BY_SIDE)."""

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    bid_up: Dec = Field(gt=0)
    bid_down: Dec = Field(ge=0)
    ask_up: Dec = Field(gt=0)
    ask_down: Dec = Field(ge=0)
    average_minutes: int = 0


class Instrument(BaseModel):
    """A tradable instrument with the venue's grid rules.

    `tick_size` is the price grid, `lot_size` the quantity grid; `min_qty` and
    `min_notional` are the venue's minimums (0 when it has none), `max_qty` its maximum.
    MARKET orders may have their own grid (`market_lot_size`, `market_min_qty`,
    `market_max_qty`; unset: the limit grid). `trading` is False while the venue halts
    the instrument (`status` says how).

    `kind` says whether a buy is paid in full (`InstrumentKind`); `fee_per_unit` how
    the venue charges commission on it: False, a fraction of the notional (Binance,
    the paper venue, IB's currencies and crypto); True, an amount per unit traded
    (IB's shares and contracts: a futures contract about 0.85 USD plus exchange fees,
    whatever its notional). The adapter that lists the instrument sets both.

    `fee_rate` and `fee_minimum` are the venue's published commission, where the
    adapter knows it (IB's currencies: 0.20 basis points of the trade value, at least
    2 USD an order): what the ticket estimates an order's fee at before this desk has
    seen the venue charge the instrument (`ui/fees.py` learns from fills); a rate of
    the notional, or per unit with `fee_per_unit`; the minimum in the quote currency
    (0: none known). None: not published here.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    symbol: str = Field(min_length=1)
    venue: str = Field(min_length=1)
    base_currency: str = ""
    quote_currency: str
    tick_size: Dec = Field(gt=0)
    lot_size: Dec = Field(gt=0)
    min_qty: Dec = Field(default=Decimal(0), ge=0)
    min_notional: Dec = Field(default=Decimal(0), ge=0)
    multiplier: Dec = Field(default=Decimal(1), gt=0)
    kind: InstrumentKind = InstrumentKind.SPOT
    fee_per_unit: bool = False
    fee_rate: NonNegativeDec | None = None
    fee_minimum: NonNegativeDec = Decimal(0)
    max_qty: PositiveDec | None = None
    market_lot_size: PositiveDec | None = None
    market_min_qty: NonNegativeDec | None = None
    market_max_qty: PositiveDec | None = None
    min_price: NonNegativeDec | None = None
    max_price: PositiveDec | None = None
    max_notional: PositiveDec | None = None
    # The grid of an amount in the quote currency (a MARKET order by quote amount;
    # Binance's quote asset precision); None: not known, not checked.
    quote_step: PositiveDec | None = None
    price_band: PriceBand | None = None
    # The order types the venue takes for this instrument (Binance `orderTypes` per
    # symbol); None: whatever the broker's capabilities offer.
    order_types: frozenset[OrderType] | None = None
    trading: bool = True
    status: str = "TRADING"

    # Where and when the venue trades it (IB contract details), informational.
    trading_hours: str = ""
    time_zone: str = ""

    @field_validator("venue")
    @classmethod
    def _no_spaces(cls, value: str) -> str:
        if any(c.isspace() for c in value):
            raise ValueError("must not contain spaces")
        return value

    @field_validator("symbol")
    @classmethod
    def _inner_spaces_only(cls, value: str) -> str:
        """A symbol may hold inner spaces as the venue spells it (IB option local
        symbols pad with spaces: `AAPL  261218C00200000`); no tab, newline, or space at
        either end, so a key still reads back as SYMBOL.VENUE."""
        if value != value.strip() or any(c.isspace() and c != " " for c in value):
            raise ValueError("must not start or end with a space or hold tabs/newlines")
        return value

    @property
    def key(self) -> str:
        return instrument_key(self.symbol, self.venue)

    def round_price(self, price: Decimal, mode: RoundingMode = "nearest") -> Decimal:
        return quantize_to_step(price, self.tick_size, mode)

    def round_qty(self, qty: Decimal, mode: RoundingMode = "down") -> Decimal:
        """Quantities round down by default: never send more than asked."""
        return quantize_to_step(qty, self.lot_size, mode)

    @property
    def tick_places(self) -> int:
        return decimal_places(self.tick_size)

    def price_text(self, price: Decimal) -> str:
        """A price for a message, as the desk prints prices: on the tick's places
        (`31,506.00`, `3,201.58` for Binance's `3201.58000000`), with the price's own
        decimals where it has more (a typed `3000.123` is said as typed, not rounded
        onto the tick it missed)."""
        if not price.is_finite():
            return str(price)
        return fmt(price, max(self.tick_places, decimal_places(price)))

    def mark_text(self, price: Decimal) -> str:
        """A computed reference price (a mid, a mark, a venue's average) for a message:
        on the tick, or one decimal finer where it falls between ticks (`64,997.825`),
        as the desk prints an average; never eight decimals of noise."""
        if not price.is_finite():
            return str(price)
        places = self.tick_places
        finer = quantized(price, Decimal(1).scaleb(-places - 1))
        if finer == quantized(finer, Decimal(1).scaleb(-places)):
            return fmt(finer, places)
        return fmt(finer, places + 1)

    def notional(self, qty: Decimal, price: Decimal) -> Decimal:
        return qty * price * self.multiplier

    @property
    def margined(self) -> bool:
        """A buy is not paid for in cash: the venue holds margin against it (a future).
        Its notional is exposure, not a cost: no cash check of the desk applies to it,
        and the margin it needs is the venue's to work out and to refuse."""
        return self.kind is InstrumentKind.FUTURE

    def check_price(self, price: Decimal, field: str) -> list[ValidationIssue]:
        if not price.is_finite():
            return [ValidationIssue(field, "finite", "must be a finite number")]
        if price <= 0:
            return [ValidationIssue(field, "positive", f"{fmt(price)} must be greater than 0")]
        if self.min_price and price < self.min_price:
            return [
                ValidationIssue(
                    field,
                    "min_price",
                    f"{self.price_text(price)} < minimum price {self.price_text(self.min_price)}",
                )
            ]
        if self.max_price is not None and price > self.max_price:
            return [
                ValidationIssue(
                    field,
                    "max_price",
                    f"{self.price_text(price)} > maximum price {self.price_text(self.max_price)}",
                )
            ]
        if not is_multiple(price, self.tick_size):
            return [
                ValidationIssue(
                    field,
                    "tick_size",
                    f"{self.price_text(price)} is not a multiple of tick size "
                    f"{fmt(self.tick_size)} (nearest {self.price_text(self.round_price(price))})",
                )
            ]
        return []

    def check_qty(
        self, qty: Decimal, field: str = "quantity", *, market: bool = False
    ) -> list[ValidationIssue]:
        """The quantity rules; a MARKET order (`market`) uses the market grid if set."""
        if not qty.is_finite():
            return [ValidationIssue(field, "finite", "must be a finite number")]
        if qty <= 0:
            return [ValidationIssue(field, "positive", f"{fmt(qty)} must be greater than 0")]
        lot, least, most = self.lot_size, self.min_qty, self.max_qty
        kind = ""
        if market:
            lot = self.market_lot_size or lot
            least = self.min_qty if self.market_min_qty is None else self.market_min_qty
            most = self.market_max_qty or most
            kind = "market " if self.market_lot_size or self.market_max_qty else ""
        issues: list[ValidationIssue] = []
        if not is_multiple(qty, lot):
            issues.append(
                ValidationIssue(
                    field,
                    "lot_size",
                    f"{fmt(qty)} is not a multiple of {kind}lot size {fmt(lot)}",
                )
            )
        if qty < least:
            issues.append(
                ValidationIssue(field, "min_qty", f"{fmt(qty)} < {kind}minimum {fmt(least)}")
            )
        if most is not None and qty > most:
            issues.append(
                ValidationIssue(field, "max_qty", f"{fmt(qty)} > {kind}maximum {fmt(most)}")
            )
        return issues

    def check_band(self, price: Decimal, buy: bool, reference: Decimal) -> list[ValidationIssue]:
        """`price` against the venue's band around `reference` (empty without a band)."""
        band = self.price_band
        if band is None or reference <= 0:
            return []
        low = reference * (band.bid_down if buy else band.ask_down)
        high = reference * (band.bid_up if buy else band.ask_up)
        if low <= price <= high:
            return []
        side = "buy" if buy else "sell"
        return [
            ValidationIssue(
                "limit_price",
                "price_band",
                f"{self.price_text(price)} is outside the venue's {side} band "
                f"{self.price_text(self.round_price(low, 'up'))}-"
                f"{self.price_text(self.round_price(high, 'down'))}"
                f" around {self.mark_text(reference)}",
            )
        ]
