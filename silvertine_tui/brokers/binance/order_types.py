"""Binance's order types and ours, both ways (an order we send, an order found at the
venue, the types a symbol takes in exchangeInfo)."""

from __future__ import annotations

from ...domain import OrderType

# Our stops -> Binance's: a STOP_LOSS triggers when the price moves against the side
# (a buy's rises, a sell's falls), a TAKE_PROFIT the other way; each then sends a MARKET
# order (the *_LIMIT ones a limit).
STOP_TYPE: dict[OrderType, str] = {
    OrderType.STOP: "STOP_LOSS",
    OrderType.STOP_LIMIT: "STOP_LOSS_LIMIT",
    OrderType.TAKE_PROFIT: "TAKE_PROFIT",
    OrderType.TAKE_PROFIT_LIMIT: "TAKE_PROFIT_LIMIT",
}

# Binance order type -> ours (an order found at the venue, e.g. placed on its web page).
ORDER_TYPE: dict[str, OrderType] = {
    "LIMIT": OrderType.LIMIT,
    "LIMIT_MAKER": OrderType.LIMIT,
    "MARKET": OrderType.MARKET,
    **{venue: ours for ours, venue in STOP_TYPE.items()},
}


def order_types_of(names: list[str]) -> frozenset[OrderType]:
    """The types a symbol takes (exchangeInfo `orderTypes`) as ours; names we do not
    know are left out."""
    return frozenset(ORDER_TYPE[name] for name in names if name in ORDER_TYPE)
