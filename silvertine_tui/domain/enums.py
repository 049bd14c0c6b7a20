"""Enumerations shared by every layer. Values are the strings written on the wire."""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum


class Side(StrEnum):
    BUY = "BUY"
    SELL = "SELL"

    @property
    def sign(self) -> int:
        return 1 if self is Side.BUY else -1

    @property
    def opposite(self) -> Side:
        return Side.SELL if self is Side.BUY else Side.BUY

    def takes(self, limit: Decimal, far: Decimal) -> bool:
        """Whether a limit at `limit` takes at the far side of the book, `far` (a buy at
        or above the ask, a sell at or below the bid): Binance's refusal of a post-only
        order (LIMIT_MAKER, "Order would immediately match and take."), the ticket's
        and the modify dialog's post-only warning and refusal."""
        return limit >= far if self is Side.BUY else limit <= far


class OrderType(StrEnum):
    MARKET = "MARKET"
    LIMIT = "LIMIT"
    STOP = "STOP"
    STOP_LIMIT = "STOP_LIMIT"
    # Market-if-touched (Binance TAKE_PROFIT): a buy works as a market order once the
    # price falls to its stop, a sell once it rises to it (a STOP the other way round).
    TAKE_PROFIT = "TAKE_PROFIT"
    # Limit-if-touched (Binance TAKE_PROFIT_LIMIT): a buy works as a limit once the
    # price falls to its stop, a sell once it rises to it (a stop the other way round).
    TAKE_PROFIT_LIMIT = "TAKE_PROFIT_LIMIT"

    @property
    def has_limit_price(self) -> bool:
        return self in (OrderType.LIMIT, OrderType.STOP_LIMIT, OrderType.TAKE_PROFIT_LIMIT)

    @property
    def has_stop_price(self) -> bool:
        return self not in (OrderType.MARKET, OrderType.LIMIT)

    @property
    def market_on_trigger(self) -> bool:
        """A stop that works as a market order once triggered (STOP, TAKE_PROFIT)."""
        return self in (OrderType.STOP, OrderType.TAKE_PROFIT)

    def triggers_rising(self, side: Side) -> bool:
        """Whether the trigger is the price rising to the stop (a buy stop, a sell
        take-profit) rather than falling to it (a sell stop, a buy take-profit)."""
        take_profit = self in (OrderType.TAKE_PROFIT, OrderType.TAKE_PROFIT_LIMIT)
        return take_profit != (side is Side.BUY)

    def stop_reached(self, side: Side, stop: Decimal, price: Decimal) -> bool:
        """Whether the market at `price` has reached a `side` order's `stop` (a buy stop
        or a sell take-profit at or above it, a sell stop or a buy take-profit at or
        below it): the paper venue's trigger, Binance's refusal of a new stop ("Order
        would trigger immediately."), the ticket's and the modify dialog's warnings."""
        return price >= stop if self.triggers_rising(side) else price <= stop


class TimeInForce(StrEnum):
    GTC = "GTC"
    IOC = "IOC"
    FOK = "FOK"
    DAY = "DAY"


class OrderStatus(StrEnum):
    PENDING_NEW = "PENDING_NEW"
    NEW = "NEW"
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    FILLED = "FILLED"
    PENDING_CANCEL = "PENDING_CANCEL"
    PENDING_REPLACE = "PENDING_REPLACE"
    CANCELED = "CANCELED"
    REJECTED = "REJECTED"
    EXPIRED = "EXPIRED"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_STATUSES

    @property
    def is_working(self) -> bool:
        """Still able to trade at the venue (including pending states)."""
        return not self.is_terminal


TERMINAL_STATUSES = frozenset(
    {OrderStatus.FILLED, OrderStatus.CANCELED, OrderStatus.REJECTED, OrderStatus.EXPIRED}
)


class Liquidity(StrEnum):
    MAKER = "MAKER"
    TAKER = "TAKER"
    UNKNOWN = "UNKNOWN"


class ConnectionState(StrEnum):
    """State of a broker adapter or of the bus connection."""

    CONNECTING = "CONNECTING"
    RECONCILING = "RECONCILING"
    LIVE = "LIVE"
    DEGRADED = "DEGRADED"
    DISCONNECTED = "DISCONNECTED"


class TradingState(StrEnum):
    ACTIVE = "ACTIVE"
    REDUCE_ONLY = "REDUCE_ONLY"
    HALTED = "HALTED"

    @property
    def strictness(self) -> int:
        """How much it restricts: ACTIVE 0 < REDUCE_ONLY 1 < HALTED 2."""
        return _STRICTNESS[self]


_STRICTNESS = {TradingState.ACTIVE: 0, TradingState.REDUCE_ONLY: 1, TradingState.HALTED: 2}
