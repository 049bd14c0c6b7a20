"""Typed broker errors, the same for every adapter.

`retryable` says whether trying again can help (rate limits, timeouts, a dropped
connection); a rejection never is. Messages name the venue's reason and what to do,
and never contain credentials.
"""

from __future__ import annotations

import math
from decimal import Decimal

from ..domain import plain


class BrokerError(Exception):
    retryable = False

    def __init__(self, message: str, *, code: str | int | None = None) -> None:
        super().__init__(message)
        self.code = code


class OrderRejected(BrokerError):
    """The venue (or the simulator acting as one) refused the order."""


class InsufficientFunds(OrderRejected):
    pass


class SendRefused(OrderRejected):
    """The desk itself held back an order it had journaled, right before the venue
    would have had it (`Broker.send_guard`: its claim on the broker lapsed, or the kill
    switch was pulled while the journal writes waited): nothing was sent. The order
    ends REJECTED "not sent: ..." in the journal; the ticket says NOT SENT, never the
    venue's REJECTED (a drill read "REJECTED" and "Order not placed" for an order
    that never left the desk)."""


class UnknownOrder(BrokerError):
    """The venue does not know the order (cancel raced a fill, wrong id, ...)."""


class CancelTooLate(UnknownOrder):
    """The cancel reached the venue after the order ended there (it filled, or was
    cancelled or expired behind our back): nothing is working for it, and its end is
    journaled as the venue reports it. Not a fault, and no retry changes it."""


def cancel_too_late(
    coid: str,
    venue: str,
    ended: str,
    filled: Decimal,
    *,
    said: str = "",
    code: str | int | None = None,
) -> CancelTooLate:
    """The error of a cancel that came too late, in the same words at every venue: not a
    refusal of the order, and nothing left to cancel. `ended` is how the order ended
    (FILLED, CANCELED, ...), `filled` how much of it filled, `said` the venue's own words
    on the cancel."""
    return CancelTooLate(
        f"cancel of {coid} came too late: {_ended(venue, ended, filled)}; nothing is "
        f"working there for it{_said(said)}",
        code=code,
    )


def _ended(venue: str, ended: str, filled: Decimal) -> str:
    how = f"the order was already {ended} at {venue}"
    if ended == "FILLED":
        how += f" ({plain(filled)} filled; the fill stands)"
    elif filled:
        how += f" ({plain(filled)} filled before it ended)"
    return how


def _said(said: str) -> str:
    return f" ({said.strip().rstrip('.')})" if said.strip() else ""


class ModifyTooLate(UnknownOrder):
    """The modify reached the venue after the order ended there (a fill crossed it):
    nothing was changed, and the order's end is journaled as the venue reports it."""


def modify_too_late(
    coid: str,
    venue: str,
    ended: str,
    filled: Decimal,
    *,
    said: str = "",
    code: str | int | None = None,
) -> ModifyTooLate:
    """The error of a modify that came too late, in the words of `cancel_too_late`."""
    return ModifyTooLate(
        f"modify of {coid} came too late: {_ended(venue, ended, filled)}; nothing was "
        f"changed{_said(said)}",
        code=code,
    )


class NotConnected(BrokerError):
    retryable = True


class BrokerTimeout(BrokerError):
    """No answer in time. The outcome is UNKNOWN: the order may be live at the venue."""

    retryable = True
    # Counted by the adapter already as what it was (an answer it could not read:
    # `bad_reply`): `Broker.place` does not count it as a timeout as well.
    counted = False


class RateLimited(BrokerError):
    retryable = True
    # The adapter sends what was refused by itself once `retry_after` is over (a cancel
    # it owes: Binance's `CancelHeld`). False: nothing is kept to send later (a ban).
    owed = False

    def __init__(
        self, message: str, *, retry_after: float = 1.0, code: str | int | None = None
    ) -> None:
        super().__init__(message, code=code)
        self.retry_after = retry_after


def ban_said(venue: str, until: str, seconds: float, *, how: str = "") -> str:
    """What a cancel the venue's ban refused leaves, and what to do (a `RateLimited`
    neither `retryable` nor `owed`: Binance's 418): NOT sent, until when (`until`, as
    the desk's clock shows it; `seconds` more), nothing sent by itself after, the order
    working. `how`: the venue's word for it (`HTTP 418`). The one text of the adapter's
    error (`BinanceBroker._banned_said`) and the engine's cancel report
    (`engine.cancels`), which wrote it twice."""
    said = f" ({how})" if how else ""
    return (
        f"NOT sent: {venue} has banned this IP for too many requests{said} until {until} "
        f"({max(1, math.ceil(seconds))} s more), and nothing is sent by itself after; the "
        f"order is still working: cancel it again after {until}, or now in {venue}'s web "
        "site or app"
    )


class ConfigurationError(BrokerError):
    """The adapter cannot be built from its config (unknown type, bad option)."""
