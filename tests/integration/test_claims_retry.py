"""A claim renewal that failed is tried again soon, not at the keeper's next turn.

A chaos drill: Redis out of memory (noeviction) refused the desk's claim renewals;
once it took writes again (17:55:03.9) the claims were renewed only at the keeper's
next turn, a third of the ttl later (17:55:08.2), and every order meanwhile was
refused with "Redis refused claiming ... OOM", a cause gone for seconds. Now a failed
renewal is tried again half a second later, doubling up to the turn, and at once once
the bus has reconnected; Redis still refusing is asked a few times more, not hammered.
On a real Redis, its memory limit set and lifted."""

from __future__ import annotations

import asyncio
import time

import pytest

from silvertine_tui.engine import Session
from tests.support.desks import desk, until
from tests.support.redis_server import RedisServer, command

pytestmark = pytest.mark.redis

TURN_S = 5.0
"""The keeper's turn at the default ttl (15 s): a third of it."""


def full(server: RedisServer) -> None:
    """Redis out of memory: every write refused (OOM), reads answered."""
    for args in (
        ("CONFIG", "SET", "maxmemory-policy", "noeviction"),
        ("CONFIG", "SET", "maxmemory", "1"),
    ):
        reply = command(server.host, server.port, *args)
        assert reply.startswith(b"+OK"), reply


def room(server: RedisServer) -> None:
    reply = command(server.host, server.port, "CONFIG", "SET", "maxmemory", "0")
    assert reply.startswith(b"+OK"), reply


async def renewed_after_lift(session: Session, server: RedisServer) -> float:
    """Once a renewal has just failed: Redis takes writes again at once; the seconds
    until the claims are renewed."""
    claims = session.claims
    failures = claims.renew_failures
    await until(lambda: claims.renew_failures > failures, timeout=3 * TURN_S)
    await asyncio.to_thread(room, server)
    lifted = time.monotonic()
    await until(lambda: claims.renew_error == "", timeout=3 * TURN_S)
    return time.monotonic() - lifted


async def test_a_refused_renewal_is_tried_again_soon_after_redis_takes_writes(
    key_prefix: str,
) -> None:
    with RedisServer() as server:
        session = desk(server.url, key_prefix, "paper")
        assert session.settings.engine.claim_ttl_s == 3 * TURN_S
        await session.start()
        claims = session.claims
        try:
            # One refusal: the next attempt comes half a second on, not a turn (5 s).
            await asyncio.to_thread(full, server)
            took = await renewed_after_lift(session, server)
            assert took < 2.0, f"renewed {took:.1f} s after Redis took writes again"
            assert not session.claims_lapsed

            # Refused for longer than half the ttl: the claims lapse, orders are refused
            # with why. Asked a few times meanwhile, not hammered.
            await until(lambda: claims.renew_error == "")
            failures = claims.renew_failures
            await asyncio.to_thread(full, server)
            await until(lambda: session.claims_lapsed, timeout=4 * TURN_S)
            assert "OutOfMemoryError" in session.not_ready
            asked = claims.renew_failures - failures
            assert 2 <= asked <= 8, asked
            # Taking writes again, the lapse ends within the bus's reconnect (its
            # backoff tops at 2 s), whatever the keeper's backoff has grown to.
            failures = claims.renew_failures
            await until(lambda: claims.renew_failures > failures, timeout=3 * TURN_S)
            await asyncio.to_thread(room, server)
            lifted = time.monotonic()
            await until(lambda: not session.claims_lapsed, timeout=3 * TURN_S)
            took = time.monotonic() - lifted
            assert took < 3.5, f"orders refused {took:.1f} s after Redis took writes again"
            assert session.not_ready == ""
        finally:
            await asyncio.to_thread(room, server)
            await session.close()
