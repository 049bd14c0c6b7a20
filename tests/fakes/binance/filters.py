"""Symbol rules of the fake: what `exchangeInfo` shows and what an order must pass.

Filter semantics follow Binance's `filters.md`: PRICE_FILTER, LOT_SIZE, MARKET_LOT_SIZE,
NOTIONAL (or the older MIN_NOTIONAL), PERCENT_PRICE_BY_SIDE and MAX_NUM_ORDER_AMENDS. A
failure is named by its filter type; the exchange turns it into -1013 "Filter failure:
<TYPE>" (an amend's MAX_NUM_ORDER_AMENDS: -2038).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

ORDER_TYPES = (
    "LIMIT",
    "LIMIT_MAKER",
    "MARKET",
    "STOP_LOSS",
    "STOP_LOSS_LIMIT",
    "TAKE_PROFIT",
    "TAKE_PROFIT_LIMIT",
)


class FilterFailure(Exception):
    def __init__(self, filter_type: str) -> None:
        super().__init__(f"Filter failure: {filter_type}")
        self.filter_type = filter_type


def wire(value: Decimal, places: int = 8) -> str:
    """A decimal as Binance writes it: fixed point with the asset's precision."""
    return f"{value:.{places}f}"


def on_step(value: Decimal, start: Decimal, step: Decimal) -> bool:
    return step == 0 or (value - start) % step == 0


@dataclass(frozen=True)
class SymbolSpec:
    """One spot symbol. Defaults look like a liquid USDT pair."""

    symbol: str
    base_asset: str
    quote_asset: str
    status: str = "TRADING"
    tick_size: Decimal = Decimal("0.01")
    min_price: Decimal = Decimal("0.01")
    max_price: Decimal = Decimal("1000000")
    step_size: Decimal = Decimal("0.00001")
    min_qty: Decimal = Decimal("0.00001")
    max_qty: Decimal = Decimal("9000")
    market_step_size: Decimal = Decimal("0")
    market_min_qty: Decimal = Decimal("0")
    market_max_qty: Decimal = Decimal("100")
    notional_filter: Literal["NOTIONAL", "MIN_NOTIONAL"] = "NOTIONAL"
    min_notional: Decimal = Decimal("5")
    max_notional: Decimal = Decimal("9000000")
    apply_min_to_market: bool = True
    apply_max_to_market: bool = False
    bid_multiplier_up: Decimal = Decimal("5")
    bid_multiplier_down: Decimal = Decimal("0.2")
    ask_multiplier_up: Decimal = Decimal("5")
    ask_multiplier_down: Decimal = Decimal("0.2")
    base_precision: int = 8
    quote_precision: int = 8
    order_types: tuple[str, ...] = ORDER_TYPES
    # `amendAllowed` (Order Amend Keep Priority, `PUT /api/v3/order/amend/keepPriority`).
    # Binance enabled it on every symbol on 2025-05-07; the fake leaves it off unless a
    # test asks, so the tests written for cancelReplace keep testing cancelReplace.
    amend_allowed: bool = False
    # MAX_NUM_ORDER_AMENDS: amends one order may take (Binance: 10), then -2038.
    max_order_amends: int = 10

    def filters(self) -> list[dict[str, Any]]:
        notional: dict[str, Any]
        if self.notional_filter == "NOTIONAL":
            notional = {
                "filterType": "NOTIONAL",
                "minNotional": wire(self.min_notional),
                "applyMinToMarket": self.apply_min_to_market,
                "maxNotional": wire(self.max_notional),
                "applyMaxToMarket": self.apply_max_to_market,
                "avgPriceMins": 5,
            }
        else:
            notional = {
                "filterType": "MIN_NOTIONAL",
                "minNotional": wire(self.min_notional),
                "applyToMarket": self.apply_min_to_market,
                "avgPriceMins": 5,
            }
        return [
            {
                "filterType": "PRICE_FILTER",
                "minPrice": wire(self.min_price),
                "maxPrice": wire(self.max_price),
                "tickSize": wire(self.tick_size),
            },
            {
                "filterType": "LOT_SIZE",
                "minQty": wire(self.min_qty),
                "maxQty": wire(self.max_qty),
                "stepSize": wire(self.step_size),
            },
            {
                "filterType": "MARKET_LOT_SIZE",
                "minQty": wire(self.market_min_qty),
                "maxQty": wire(self.market_max_qty),
                "stepSize": wire(self.market_step_size),
            },
            notional,
            {
                "filterType": "PERCENT_PRICE_BY_SIDE",
                "bidMultiplierUp": str(self.bid_multiplier_up),
                "bidMultiplierDown": str(self.bid_multiplier_down),
                "askMultiplierUp": str(self.ask_multiplier_up),
                "askMultiplierDown": str(self.ask_multiplier_down),
                "avgPriceMins": 5,
            },
        ] + (
            # (listed on an amendable symbol only: the filter sets tests pin stay as they were)
            [{"filterType": "MAX_NUM_ORDER_AMENDS", "maxNumOrderAmends": self.max_order_amends}]
            if self.amend_allowed
            else []
        )

    def exchange_info(self) -> dict[str, Any]:
        return {
            "symbol": self.symbol,
            "status": self.status,
            "baseAsset": self.base_asset,
            "baseAssetPrecision": self.base_precision,
            "quoteAsset": self.quote_asset,
            "quotePrecision": self.quote_precision,
            "quoteAssetPrecision": self.quote_precision,
            "baseCommissionPrecision": self.base_precision,
            "quoteCommissionPrecision": self.quote_precision,
            "orderTypes": list(self.order_types),
            "icebergAllowed": False,
            "ocoAllowed": False,
            "otoAllowed": False,
            "quoteOrderQtyMarketAllowed": True,
            "allowTrailingStop": False,
            "cancelReplaceAllowed": True,
            "amendAllowed": self.amend_allowed,
            "pegInstructionsAllowed": False,
            "isSpotTradingAllowed": True,
            "isMarginTradingAllowed": False,
            "filters": self.filters(),
            "permissions": [],
            "permissionSets": [["SPOT"]],
            "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
            "allowedSelfTradePreventionModes": ["NONE", "EXPIRE_TAKER", "EXPIRE_MAKER"],
        }

    def check_price(self, price: Decimal) -> None:
        if self.min_price and price < self.min_price:
            raise FilterFailure("PRICE_FILTER")
        if self.max_price and price > self.max_price:
            raise FilterFailure("PRICE_FILTER")
        if not on_step(price, self.min_price, self.tick_size):
            raise FilterFailure("PRICE_FILTER")

    def check_lot(self, qty: Decimal, *, market: bool) -> None:
        if (
            qty < self.min_qty
            or qty > self.max_qty
            or not on_step(qty, self.min_qty, self.step_size)
        ):
            raise FilterFailure("LOT_SIZE")
        if market and (
            qty < self.market_min_qty
            or (self.market_max_qty and qty > self.market_max_qty)
            or not on_step(qty, self.market_min_qty, self.market_step_size)
        ):
            raise FilterFailure("MARKET_LOT_SIZE")

    def check_notional(self, price: Decimal, qty: Decimal, *, market: bool) -> None:
        notional = price * qty
        name = self.notional_filter
        if (not market or self.apply_min_to_market) and notional < self.min_notional:
            raise FilterFailure(name)
        if (
            name == "NOTIONAL"
            and (not market or self.apply_max_to_market)
            and notional > self.max_notional
        ):
            raise FilterFailure(name)

    def check_percent_price(self, side: str, price: Decimal, reference: Decimal | None) -> None:
        if reference is None:
            return
        if side == "BUY":
            low, high = self.bid_multiplier_down, self.bid_multiplier_up
        else:
            low, high = self.ask_multiplier_down, self.ask_multiplier_up
        if price > reference * high or price < reference * low:
            raise FilterFailure("PERCENT_PRICE_BY_SIDE")

    def step_down(self, qty: Decimal, *, market: bool) -> Decimal:
        """The largest quantity on the lot step not above `qty` (for quoteOrderQty)."""
        step = self.market_step_size if market and self.market_step_size else self.step_size
        if step == 0:
            return qty
        return (qty // step) * step
