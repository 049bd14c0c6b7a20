"""The bus's reclaim after a Redis restart (`RedisBus._reclaim`) against the desk's own
claim writes made while it runs: a claim let go (the desk closing) is never set again,
and one made outright (`BrokerClaims.take_deferred`) is never set pending again.

A restart is a real one (a `redis-server` of the test's own, killed and started again
empty); the interleavings are made by the relay in front of it holding back one reply
(`RedisRelay.delay_reply_on`): a write of the reclaim's, so that the desk's write lands
while the reclaim is under way; or a write of the desk's, made on the server before
the restart, so that the reclaim runs while that write's answer is on its way."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import pytest
from redis.asyncio import Redis

from silvertine_tui.bus import BusOptions
from silvertine_tui.bus.redis_streams import RedisBus
from silvertine_tui.engine.claims import BrokerClaims
from tests.support.redis_relay import RedisRelay
from tests.support.redis_server import RedisServer
from tests.support.waiting import until

pytestmark = pytest.mark.redis

HOLDER = "desk-a"
TTL_MS = 60_000  # no claim lapses during a test
HELD_BACK_S = 1.5  # how long the relay holds the chosen reply


@pytest.fixture
def server() -> Iterator[RedisServer]:
    """A server of this test alone, no persistence: a restart loses every key."""
    with RedisServer() as srv:
        yield srv


@pytest.fixture
async def relay(server: RedisServer) -> AsyncIterator[RedisRelay]:
    async with RedisRelay(server.host, server.port) as relay:
        yield relay


@pytest.fixture
async def bus(relay: RedisRelay, key_prefix: str) -> AsyncIterator[RedisBus]:
    """A desk's bus, through the relay; it looks for a restart every 50 ms."""
    bus = RedisBus(relay.url, BusOptions(prefix=key_prefix, block_ms=100, epoch_check_s=0.05))
    await bus.start()
    try:
        yield bus
    finally:
        await bus.close()


@pytest.fixture
async def raw(server: RedisServer) -> AsyncIterator[Redis]:
    """Straight to the server, past the relay: what it holds."""
    client = Redis(host=server.host, port=server.port, decode_responses=True)
    try:
        yield client
    finally:
        await client.aclose()


async def restart_handled(bus: RedisBus) -> None:
    """Until the bus's check of the restart has run to its end (the reclaim in it)."""
    await until(lambda: bus.stats.server_restarts == 1, 10, "the restart's check")


async def test_claims_let_go_while_the_reclaim_runs_are_not_set_again(
    server: RedisServer, relay: RedisRelay, bus: RedisBus, raw: Redis
) -> None:
    """The desk closes (`BrokerClaims.release`) while its bus reclaims after a restart,
    the reclaim's first claim held up: the claims let go stay let go. Before 92fe043
    the reclaim went on from the claims as they were when it began, and set `beta`
    again, held for a ttl by a desk that had quit (the next desk refused for 15 s)."""
    claims = BrokerClaims(bus, ["alpha", "beta"], TTL_MS / 1000)
    await claims.take()
    alpha, beta = bus.layout.claim("alpha"), bus.layout.claim("beta")
    assert await raw.mget(alpha, beta) == [claims.value, claims.value]
    relay.delay_reply_on(alpha.encode(), HELD_BACK_S)  # the reclaim's first claim
    await server.arestart()
    await until(lambda: relay.met == 1, 10, "the reclaim of alpha")
    assert not bus.stats.server_restarts  # the reclaim is under way
    await claims.release()  # the desk quits
    await restart_handled(bus)
    assert claims.held == set()
    assert await raw.mget(alpha, beta) == [None, None]


async def test_a_claim_made_outright_while_the_reclaim_runs_is_not_set_pending_again(
    server: RedisServer, relay: RedisRelay, bus: RedisBus, raw: Redis
) -> None:
    """A pending claim made outright (as `take_deferred` does once its wait is over)
    while the reclaim is held up on another claim stays outright: no pending marker,
    which would let the desk that held the broker before the loss take it over from
    a desk that trades on it. Before 92fe043 the reclaim set it pending again."""
    alpha, beta = bus.layout.claim("alpha"), bus.layout.claim("beta")
    await bus.claim(alpha, HOLDER, TTL_MS)
    await bus.claim(beta, HOLDER, TTL_MS, pending=True)
    assert await raw.get(f"{beta}:pending") == HOLDER
    relay.delay_reply_on(alpha.encode(), HELD_BACK_S)
    await server.arestart()
    await until(lambda: relay.met == 1, 10, "the reclaim of alpha")
    assert not bus.stats.server_restarts
    made = await bus.claim(beta, HOLDER, TTL_MS)  # the wait is over: outright
    assert made.holder == HOLDER
    await restart_handled(bus)
    assert await raw.mget(alpha, beta) == [HOLDER, HOLDER]
    assert await raw.get(f"{beta}:pending") is None


async def test_a_claim_whose_release_is_answered_after_the_restart_is_not_set_again(
    server: RedisServer, relay: RedisRelay, bus: RedisBus, raw: Redis
) -> None:
    """The release of `beta` ran on the server, its answer still on its way, when Redis
    restarted: the reclaim found `beta` still among the claims held (the bus let go of
    it only on the answer) and set it again on the new server, where it stayed, held
    by nobody who would renew or release it. Now a claim's writes go one at a time and
    a release lets go first: the reclaim waits for it and finds `beta` let go."""
    alpha, beta = bus.layout.claim("alpha"), bus.layout.claim("beta")
    await bus.claim(alpha, HOLDER, TTL_MS)
    await bus.claim(beta, HOLDER, TTL_MS)
    relay.delay_reply_on(beta.encode(), 2 * HELD_BACK_S)
    releasing = asyncio.create_task(bus.release(beta, HOLDER))
    await until(lambda: relay.met == 1, 10, "the release of beta")
    async with asyncio.timeout(10):
        while await raw.exists(beta):  # noqa: ASYNC110 - the server's state, polled
            await asyncio.sleep(0.005)
    # The relay has the answer (the server wrote it before it answered here): the
    # restart does not lose it.
    await server.arestart()
    # The reclaim is under way (alpha is back) while the release's answer is held.
    async with asyncio.timeout(10):
        while await raw.get(alpha) != HOLDER:  # noqa: ASYNC110
            await asyncio.sleep(0.005)
    assert not releasing.done()
    assert await releasing is True
    await restart_handled(bus)
    assert await raw.mget(alpha, beta) == [HOLDER, None]
    assert await raw.get(f"{beta}:pending") is None


async def test_a_claim_made_outright_answered_after_the_restart_is_not_set_pending_again(
    server: RedisServer, relay: RedisRelay, bus: RedisBus, raw: Redis
) -> None:
    """`beta` made outright on the server, its answer still on its way, when Redis
    restarted: the reclaim read `beta` as still pending and set its marker again on
    the new server, while the desk, once answered, took it for outright (the desk
    that held the broker before the loss could then take it over, a renewal going
    over a pending claim). Now the reclaim waits for that answer and claims it as it
    is held then: outright."""
    alpha, beta = bus.layout.claim("alpha"), bus.layout.claim("beta")
    await bus.claim(alpha, HOLDER, TTL_MS)
    await bus.claim(beta, HOLDER, TTL_MS, pending=True)
    relay.delay_reply_on(beta.encode(), 2 * HELD_BACK_S)
    making = asyncio.create_task(bus.claim(beta, HOLDER, TTL_MS))
    await until(lambda: relay.met == 1, 10, "the claim of beta")
    async with asyncio.timeout(10):
        while await raw.exists(f"{beta}:pending"):  # noqa: ASYNC110
            await asyncio.sleep(0.005)
    await server.arestart()
    async with asyncio.timeout(10):
        while await raw.get(alpha) != HOLDER:  # noqa: ASYNC110
            await asyncio.sleep(0.005)
    assert not making.done()
    assert (await making).holder == HOLDER
    await restart_handled(bus)
    assert await raw.mget(alpha, beta) == [HOLDER, HOLDER]
    assert await raw.get(f"{beta}:pending") is None
