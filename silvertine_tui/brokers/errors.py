"""Typed broker errors, the same for every adapter.

`retryable` says whether trying again can help (rate limits, timeouts, a dropped
connection); a rejection never is. Messages name the venue's reason and what to do,
and never contain credentials.
"""

from __future__ import annotations


class BrokerError(Exception):
    retryable = False

    def __init__(self, message: str, *, code: str | int | None = None) -> None:
        super().__init__(message)
        self.code = code


class OrderRejected(BrokerError):
    """The venue (or the simulator acting as one) refused the order."""


class InsufficientFunds(OrderRejected):
    pass


class UnknownOrder(BrokerError):
    """The venue does not know the order (cancel raced a fill, wrong id, ...)."""


class NotConnected(BrokerError):
    retryable = True


class BrokerTimeout(BrokerError):
    """No answer in time. The outcome is UNKNOWN: the order may be live at the venue."""

    retryable = True


class RateLimited(BrokerError):
    retryable = True

    def __init__(
        self, message: str, *, retry_after: float = 1.0, code: str | int | None = None
    ) -> None:
        super().__init__(message, code=code)
        self.retry_after = retry_after


class ConfigurationError(BrokerError):
    """The adapter cannot be built from its config (unknown type, bad option)."""
