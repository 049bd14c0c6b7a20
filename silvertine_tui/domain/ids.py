"""Identifiers minted by Silvertine."""

from __future__ import annotations

import secrets
import time

_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"


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
    return f"{prefix}{_base36(time.time_ns() // 1_000_000, 8)}{_base36(secrets.randbits(50), 10)}"
