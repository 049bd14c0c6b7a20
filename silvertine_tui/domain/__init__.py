"""Pure domain models: no I/O, no framework imports beyond pydantic."""

from .capabilities import Capabilities, MarketDataKind, ModifyStyle
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
from .ids import minted_ms, new_client_order_id
from .instrument import Instrument, InstrumentKind, PriceBand, instrument_key, split_key
from .market import (
    VENUE_TIME_UNKNOWN,
    Book,
    BookLevel,
    Quote,
    ReferenceBasis,
    ReferencePrice,
    Trade,
    mid_of,
)
from .money import ZERO, Dec, plain, quantize_to_step, quantized, to_decimal
from .orders import (
    TRANSITIONS,
    ApplyResult,
    FeeCorrection,
    Fill,
    FillCorrection,
    Order,
    OrderRequest,
    OrderUpdate,
    VenueOrder,
)
from .portfolio import Balance, Position, adds_to_position, reduce_limit

__all__ = [
    "TERMINAL_STATUSES",
    "TRANSITIONS",
    "VENUE_TIME_UNKNOWN",
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
    "FillCorrection",
    "Instrument",
    "InstrumentKind",
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
    "ReferenceBasis",
    "ReferencePrice",
    "Side",
    "TimeInForce",
    "Trade",
    "TradingState",
    "ValidationIssue",
    "VenueOrder",
    "adds_to_position",
    "instrument_key",
    "mid_of",
    "minted_ms",
    "new_client_order_id",
    "plain",
    "quantize_to_step",
    "quantized",
    "reduce_limit",
    "split_key",
    "to_decimal",
]
