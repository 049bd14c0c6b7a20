"""Identifiers minted by Silvertine."""

from __future__ import annotations

import re
import secrets
import time

_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"
_TIME_CHARS, _RANDOM_CHARS = 8, 10
# What follows the prefix in an id of our format: the mint time, then the random part.
_TAIL = re.compile(rf"[0-9a-z]{{{_TIME_CHARS + _RANDOM_CHARS}}}\Z")


def _base36(n: int, width: int) -> str:
    out = []
    for _ in range(width):
        n, r = divmod(n, 36)
        out.append(_ALPHABET[r])
    return "".join(reversed(out))


def new_client_order_id(prefix: str = "st") -> str:
    """A client order id, minted once before anything is sent.

    Time-ordered (milliseconds in base 36) plus 50 random bits, 20 characters with the
    default prefix: inside Binance's `newClientOrderId` rule (`[.A-Z:/a-z0-9_-]{1,36}`)
    and IB's `orderRef`, so a restart can match what the venue holds.
    """
    return (
        f"{prefix}{_base36(time.time_ns() // 1_000_000, _TIME_CHARS)}"
        f"{_base36(secrets.randbits(50), _RANDOM_CHARS)}"
    )


def minted_ms(client_order_id: str) -> int | None:
    """When an id of our format (`new_client_order_id`, any prefix) was minted, in ms
    since the epoch; None for an id of another form.

    Read from the id alone: any id ending in 18 characters of `[0-9a-z]` parses, minted
    here or not. The engine's bound on forgotten ids (`TradingEngine.id_bound`) holds
    for every id that parses, whatever it means.
    """
    if len(client_order_id) < _TIME_CHARS + _RANDOM_CHARS:
        return None
    tail = client_order_id[-(_TIME_CHARS + _RANDOM_CHARS) :]
    if _TAIL.match(tail) is None:
        return None
    return int(tail[:_TIME_CHARS], 36)


SHORT_ID = 8
"""Characters of a client order id the desk shows (the Orders pane's Id column, the
ticket's `sent`, the toasts, an adapter's Log lines): its last eight, the random
part's end, which tells apart the orders of a day."""


def short_id(client_order_id: str, width: int = SHORT_ID) -> str:
    """An order id as the desk shows it: its last `width` characters."""
    return client_order_id[-width:]
