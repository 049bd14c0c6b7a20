"""Binance `exchangeInfo` symbols -> `Instrument`, with every filter the venue applies.

Binance writes numbers as fixed-point strings ("0.01000000"); a zero means "no such
limit" for most fields (filters.md). Keys are `SYMBOL.BINANCE`.

The domain `Instrument` has no "applies to MARKET orders" flag for the notional limits,
so `NotionalScope` keeps it beside the instrument: the broker drops the notional checks
the venue does not apply to MARKET orders.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from ...domain import Instrument, PriceBand, instrument_key, quantized, split_key
from .order_types import order_types_of

VENUE = "BINANCE"
TRADING = "TRADING"


def key_of(symbol: str) -> str:
    """`BTCUSDT` -> `BTCUSDT.BINANCE`."""
    return instrument_key(symbol, VENUE)


def symbol_of(key: str) -> str:
    """`BTCUSDT.BINANCE` -> `BTCUSDT` (the venue part must be BINANCE)."""
    symbol, venue = split_key(key)
    if venue != VENUE:
        raise ValueError(f"{key} is not a {VENUE} instrument (SYMBOL.{VENUE})")
    return symbol


def dec(value: Any) -> Decimal:
    """A Binance number (string or int) as a normalised Decimal ("0.01000000" -> 0.01)."""
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise ValueError(f"not a number: {value!r}") from None
    if not number.is_finite():
        raise ValueError(f"not a finite number: {value!r}")
    if number == 0:
        return Decimal(0)
    # normalize() would write 100 as 1E+2; keep integers plain.
    normal = number.normalize()
    return quantized(normal, Decimal(1)) if normal == normal.to_integral_value() else normal


def _positive(value: Any) -> Decimal | None:
    if value is None:
        return None
    number = dec(value)
    return number if number > 0 else None


@dataclass(frozen=True, slots=True)
class NotionalScope:
    """Whether the minimum / maximum notional applies to MARKET orders too."""

    min_to_market: bool = True
    max_to_market: bool = False


def _filters(info: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    return {f["filterType"]: f for f in info.get("filters", []) if "filterType" in f}


def parse_symbol(info: Mapping[str, Any]) -> Instrument:
    """One `exchangeInfo` symbol entry as an `Instrument`."""
    symbol = str(info["symbol"])
    filters = _filters(info)
    base_places = int(info.get("baseAssetPrecision", 8))
    quote_places = int(info.get("quotePrecision", info.get("quoteAssetPrecision", 8)))

    price = filters.get("PRICE_FILTER", {})
    tick = _positive(price.get("tickSize")) or Decimal(1).scaleb(-quote_places)
    lot = filters.get("LOT_SIZE", {})
    step = _positive(lot.get("stepSize")) or Decimal(1).scaleb(-base_places)
    min_qty = _positive(lot.get("minQty")) or Decimal(0)
    max_qty = _positive(lot.get("maxQty"))

    market_lot: Decimal | None = None
    market_min: Decimal | None = None
    market_max: Decimal | None = None
    market = filters.get("MARKET_LOT_SIZE")
    if market is not None:
        # LOT_SIZE applies to MARKET orders as well: the market limits only narrow it.
        market_lot = _positive(market.get("stepSize"))
        market_min = max(min_qty, _positive(market.get("minQty")) or Decimal(0))
        limit = _positive(market.get("maxQty"))
        market_max = min(x for x in (limit, max_qty) if x is not None) if limit or max_qty else None

    min_notional = Decimal(0)
    max_notional: Decimal | None = None
    if "NOTIONAL" in filters:
        notional = filters["NOTIONAL"]
        min_notional = _positive(notional.get("minNotional")) or Decimal(0)
        max_notional = _positive(notional.get("maxNotional"))
    elif "MIN_NOTIONAL" in filters:
        min_notional = _positive(filters["MIN_NOTIONAL"].get("minNotional")) or Decimal(0)

    band: PriceBand | None = None
    side = filters.get("PERCENT_PRICE_BY_SIDE")
    if side is not None:
        band = PriceBand(
            bid_up=dec(side["bidMultiplierUp"]),
            bid_down=dec(side["bidMultiplierDown"]),
            ask_up=dec(side["askMultiplierUp"]),
            ask_down=dec(side["askMultiplierDown"]),
            average_minutes=int(side.get("avgPriceMins", 0)),
        )
    elif "PERCENT_PRICE" in filters:
        same = filters["PERCENT_PRICE"]
        up, down = dec(same["multiplierUp"]), dec(same["multiplierDown"])
        band = PriceBand(
            bid_up=up,
            bid_down=down,
            ask_up=up,
            ask_down=down,
            average_minutes=int(same.get("avgPriceMins", 0)),
        )

    status = str(info.get("status", TRADING))
    return Instrument(
        symbol=symbol,
        venue=VENUE,
        base_currency=str(info.get("baseAsset", "")),
        quote_currency=str(info["quoteAsset"]),
        tick_size=tick,
        lot_size=step,
        min_qty=min_qty,
        min_notional=min_notional,
        max_qty=max_qty,
        market_lot_size=market_lot,
        market_min_qty=market_min,
        market_max_qty=market_max,
        min_price=_positive(price.get("minPrice")),
        max_price=_positive(price.get("maxPrice")),
        max_notional=max_notional,
        # quoteOrderQty takes no more decimals than the quote asset's precision.
        quote_step=Decimal(1).scaleb(-quote_places),
        price_band=band,
        order_types=order_types_of(info["orderTypes"]) if "orderTypes" in info else None,
        trading=status == TRADING,
        status=status,
    )


def notional_scope(info: Mapping[str, Any]) -> NotionalScope:
    """Which notional limits the venue applies to MARKET orders of this symbol."""
    filters = _filters(info)
    if "NOTIONAL" in filters:
        notional = filters["NOTIONAL"]
        return NotionalScope(
            min_to_market=bool(notional.get("applyMinToMarket", True)),
            max_to_market=bool(notional.get("applyMaxToMarket", False)),
        )
    if "MIN_NOTIONAL" in filters:
        return NotionalScope(min_to_market=bool(filters["MIN_NOTIONAL"].get("applyToMarket", True)))
    return NotionalScope()


def parse_exchange_info(body: Mapping[str, Any]) -> dict[str, tuple[Instrument, NotionalScope]]:
    """Every symbol of an `exchangeInfo` answer by key."""
    found: dict[str, tuple[Instrument, NotionalScope]] = {}
    for info in body.get("symbols", []):
        instrument = parse_symbol(info)
        found[instrument.key] = (instrument, notional_scope(info))
    return found
