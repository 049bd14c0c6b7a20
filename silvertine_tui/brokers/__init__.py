"""Broker contract, registry, and adapters (paper, binance, ib)."""

from ..domain import VenueOrder
from .base import TRADABLE_STATES, Broker, BrokerHealth, JournalOrder, ReconcileReport
from .errors import (
    BrokerError,
    BrokerTimeout,
    CancelTooLate,
    ConfigurationError,
    InsufficientFunds,
    ModifyTooLate,
    NotConnected,
    OrderRejected,
    RateLimited,
    SendRefused,
    UnknownOrder,
    ban_said,
)
from .registry import BrokerRegistry
from .retry import RetryPolicy, with_retry

__all__ = [
    "TRADABLE_STATES",
    "Broker",
    "BrokerError",
    "BrokerHealth",
    "BrokerRegistry",
    "BrokerTimeout",
    "CancelTooLate",
    "ConfigurationError",
    "InsufficientFunds",
    "JournalOrder",
    "ModifyTooLate",
    "NotConnected",
    "OrderRejected",
    "RateLimited",
    "ReconcileReport",
    "RetryPolicy",
    "SendRefused",
    "UnknownOrder",
    "VenueOrder",
    "ban_said",
    "with_retry",
]
