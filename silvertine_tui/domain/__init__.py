"""Pure domain models: no I/O, no framework imports beyond pydantic.

The enums, errors, ids and money helpers are imported with the package; the models'
modules (capabilities, instruments, market data, orders, portfolio) when one of their
names is first asked for (`__getattr__`): the config and the desk's first frame need
only the enums (docs/architecture.md, "Start-up")."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .enums import (
    TERMINAL_STATUSES,
    ConnectionState,
    Liquidity,
    OrderStatus,
    OrderType,
    Side,
    TimeInForce,
    TradingState,
)
from .errors import OrderValidationError, ValidationIssue
from .ids import new_client_order_id
from .money import ZERO, Dec, quantize_to_step, to_decimal

if TYPE_CHECKING:
    from .capabilities import Capabilities, MarketDataKind, ModifyStyle
    from .instrument import Instrument, PriceBand, instrument_key, split_key
    from .market import Book, BookLevel, Quote, Trade
    from .orders import (
        TRANSITIONS,
        ApplyResult,
        FeeCorrection,
        Fill,
        Order,
        OrderRequest,
        OrderUpdate,
        VenueOrder,
    )
    from .portfolio import Balance, Position

_LAZY: dict[str, str] = {
    **dict.fromkeys(("Capabilities", "MarketDataKind", "ModifyStyle"), "capabilities"),
    **dict.fromkeys(("Instrument", "PriceBand", "instrument_key", "split_key"), "instrument"),
    **dict.fromkeys(("Book", "BookLevel", "Quote", "Trade"), "market"),
    **dict.fromkeys(
        (
            "TRANSITIONS",
            "ApplyResult",
            "FeeCorrection",
            "Fill",
            "Order",
            "OrderRequest",
            "OrderUpdate",
            "VenueOrder",
        ),
        "orders",
    ),
    **dict.fromkeys(("Balance", "Position"), "portfolio"),
}


if not TYPE_CHECKING:  # (mypy reads the imports above, and checks every name)

    def __getattr__(name: str) -> Any:
        module = _LAZY.get(name)
        if module is None:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
        globals()[name] = value
        return value


__all__ = [
    "TERMINAL_STATUSES",
    "TRANSITIONS",
    "ZERO",
    "ApplyResult",
    "Balance",
    "Book",
    "BookLevel",
    "Capabilities",
    "ConnectionState",
    "Dec",
    "FeeCorrection",
    "Fill",
    "Instrument",
    "Liquidity",
    "MarketDataKind",
    "ModifyStyle",
    "Order",
    "OrderRequest",
    "OrderStatus",
    "OrderType",
    "OrderUpdate",
    "OrderValidationError",
    "Position",
    "PriceBand",
    "Quote",
    "Side",
    "TimeInForce",
    "Trade",
    "TradingState",
    "ValidationIssue",
    "VenueOrder",
    "instrument_key",
    "new_client_order_id",
    "quantize_to_step",
    "split_key",
    "to_decimal",
]
