"""The paper venue's instruments: a built-in table of realistic specs, and config overrides.

Paper instruments are keyed `SYMBOL.PAPER`. The grid rules copy the real venues (Binance
spot filters for the crypto pairs, US equity ticks for stocks), so an order that the
simulator accepts has the shape a live venue would accept.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal

from ...config import PaperBrokerConfig, PaperSymbolConfig
from ...domain import Instrument, instrument_key

VENUE = "PAPER"

D = Decimal


@dataclass(frozen=True, slots=True)
class SymbolSpec:
    """Grid rules plus the shape of the synthetic market of one symbol."""

    symbol: str
    base_currency: str
    quote_currency: str
    tick_size: Decimal
    lot_size: Decimal
    min_qty: Decimal
    min_notional: Decimal
    start_mid: Decimal
    volatility: float  # annualised sigma of the random walk
    spread_bps: float  # quoted spread; never less than one tick
    level_size: Decimal  # base units shown at the best level
    daily_volume: Decimal  # base units per day, V of the square-root impact model

    @property
    def key(self) -> str:
        return instrument_key(self.symbol, VENUE)

    def instrument(self) -> Instrument:
        return Instrument(
            symbol=self.symbol,
            venue=VENUE,
            base_currency=self.base_currency,
            quote_currency=self.quote_currency,
            tick_size=self.tick_size,
            lot_size=self.lot_size,
            min_qty=self.min_qty,
            min_notional=self.min_notional,
        )


def _crypto(
    symbol: str,
    base: str,
    *,
    tick: str,
    lot: str,
    mid: str,
    vol: float,
    spread: float,
    level: str,
    volume: str,
    quote: str = "USDT",
) -> SymbolSpec:
    return SymbolSpec(
        symbol=symbol,
        base_currency=base,
        quote_currency=quote,
        tick_size=D(tick),
        lot_size=D(lot),
        min_qty=D(lot),
        min_notional=D("5"),
        start_mid=D(mid),
        volatility=vol,
        spread_bps=spread,
        level_size=D(level),
        daily_volume=D(volume),
    )


def _equity(
    symbol: str, *, mid: str, vol: float, spread: float, level: str, volume: str
) -> SymbolSpec:
    return SymbolSpec(
        symbol=symbol,
        base_currency=symbol,
        quote_currency="USD",
        tick_size=D("0.01"),
        lot_size=D("1"),
        min_qty=D("1"),
        min_notional=D("0"),
        start_mid=D(mid),
        volatility=vol,
        spread_bps=spread,
        level_size=D(level),
        daily_volume=D(volume),
    )


# Binance spot filters (PRICE_FILTER tickSize, LOT_SIZE stepSize/minQty, NOTIONAL) and
# US equity ticks. Prices, volatilities and depths are plausible, not live.
BUILTIN_SPECS: dict[str, SymbolSpec] = {
    s.symbol: s
    for s in (
        _crypto(
            "BTCUSDT",
            "BTC",
            tick="0.01",
            lot="0.00001",
            mid="65000",
            vol=0.6,
            spread=1.0,
            level="0.5",
            volume="20000",
        ),
        _crypto(
            "ETHUSDT",
            "ETH",
            tick="0.01",
            lot="0.0001",
            mid="3500",
            vol=0.75,
            spread=1.0,
            level="5",
            volume="300000",
        ),
        _crypto(
            "SOLUSDT",
            "SOL",
            tick="0.01",
            lot="0.001",
            mid="150",
            vol=0.9,
            spread=2.0,
            level="100",
            volume="3000000",
        ),
        _crypto(
            "BNBUSDT",
            "BNB",
            tick="0.01",
            lot="0.001",
            mid="600",
            vol=0.5,
            spread=2.0,
            level="20",
            volume="500000",
        ),
        _crypto(
            "XRPUSDT",
            "XRP",
            tick="0.0001",
            lot="0.1",
            mid="0.6",
            vol=0.8,
            spread=3.0,
            level="20000",
            volume="500000000",
        ),
        _equity("AAPL", mid="190", vol=0.25, spread=1.0, level="300", volume="50000000"),
        _equity("MSFT", mid="420", vol=0.25, spread=1.0, level="200", volume="20000000"),
        _equity("NVDA", mid="120", vol=0.5, spread=1.0, level="500", volume="300000000"),
        _equity("TSLA", mid="250", vol=0.55, spread=1.0, level="300", volume="90000000"),
        _equity("SPY", mid="520", vol=0.15, spread=0.5, level="1000", volume="60000000"),
    )
}

_CRYPTO_QUOTES = ("USDT", "USDC", "FDUSD")


def default_spec(symbol: str) -> SymbolSpec:
    """A sensible spec for a symbol the table does not know.

    `*USDT` (and `*USDC`, `*FDUSD`) is spot crypto; anything else a US equity.
    """
    for quote in _CRYPTO_QUOTES:
        if symbol.endswith(quote) and len(symbol) > len(quote):
            return _crypto(
                symbol,
                symbol[: -len(quote)],
                tick="0.01",
                lot="0.001",
                mid="100",
                vol=0.8,
                spread=2.0,
                level="50",
                volume="1000000",
                quote=quote,
            )
    return _equity(symbol, mid="100", vol=0.3, spread=1.0, level="100", volume="1000000")


def symbol_spec(symbol: str, override: PaperSymbolConfig | None = None) -> SymbolSpec:
    spec = BUILTIN_SPECS.get(symbol) or default_spec(symbol)
    if override is None:
        return spec
    values = {k: v for k, v in override.model_dump().items() if v is not None}
    spec = replace(spec, **values)
    if spec.min_qty < spec.lot_size and "min_qty" not in values:
        spec = replace(spec, min_qty=spec.lot_size)
    return spec


def build_specs(config: PaperBrokerConfig) -> dict[str, SymbolSpec]:
    """Specs by instrument key (`BTCUSDT.PAPER`), in the order of `config.symbols`."""
    specs: dict[str, SymbolSpec] = {}
    for symbol in config.symbols:
        spec = symbol_spec(symbol, config.market.symbols.get(symbol))
        specs[spec.key] = spec
    return specs
