"""A lapsed claim says why: Redis's answer to the renewal that did not land
(`BrokerClaims.renew_error`), kept from the keeper's failed attempt, with no password
of the bus's URL in it. Before, only "the bus is unreachable or refusing, or this desk
was held" reached the Health pane, and the log had the error's text unredacted."""

from __future__ import annotations

import asyncio
import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st
from redis.asyncio import Redis

from silvertine_tui.bus import BusError, BusOptions, create_bus
from silvertine_tui.domain.redaction import redact_url
from silvertine_tui.engine import claims as claims_module
from tests.support.redis_server import RedisServer


@pytest.mark.redis
async def test_a_failed_renewal_keeps_what_redis_answered() -> None:
    """Redis out of memory: the keeper's renewals fail; `renew_error` says Redis's own
    words (no Lua script hash), and is cleared once a renewal lands."""
    with RedisServer() as server:
        bus = create_bus(server.url, BusOptions(prefix="t-h-hl-renew", block_ms=50))
        await bus.start()
        raw = Redis.from_url(server.url)
        claims = claims_module.BrokerClaims(bus, ["paper"], ttl_s=0.6)
        await claims.take()
        lapses: list[bool] = []
        told = {True: asyncio.Event(), False: asyncio.Event()}

        async def on_lost(_: object) -> None:
            raise AssertionError("no other desk here")

        async def on_lapse(lapsed: bool) -> None:
            lapses.append(lapsed)
            told[lapsed].set()

        keeper = asyncio.create_task(claims.keep(on_lost, on_lapse))
        try:
            await raw.config_set("maxmemory-policy", "noeviction")
            await raw.config_set("maxmemory", 1)
            await asyncio.wait_for(told[True].wait(), 5)
            assert lapses == [True]
            assert "OutOfMemoryError: command not allowed when used memory" in claims.renew_error
            assert "script:" not in claims.renew_error
            assert "claim:paper" in claims.renew_error
            await raw.config_set("maxmemory", 0)
            await asyncio.wait_for(told[False].wait(), 5)
            assert lapses == [True, False]
            assert claims.renew_error == ""
        finally:
            keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await keeper
            await raw.config_set("maxmemory", 0)
            await raw.aclose()
            await claims.release()
            await bus.close()


def test_no_answer_in_time_is_said_as_such() -> None:
    said = claims_module.renewal_reason(TimeoutError(), 0.5)
    assert said == "no answer from the bus within 0.5 s"


_SECRET = st.text(
    alphabet=st.characters(min_codepoint=33, max_codepoint=126, exclude_characters=" "),
    min_size=1,
    max_size=30,
)


@given(password=_SECRET, user=st.sampled_from(["", "trader"]))
def test_a_renewal_reason_never_holds_a_bus_password(password: str, user: str) -> None:
    url = f"redis://{user}:{password}@10.1.2.3:6379/0"
    said = (
        f"Redis at {url} is unreachable (ConnectionError: Error connecting to {url}.) "
        "while claiming t:claim:paper; try again once it is back."
    )
    reason = claims_module.renewal_reason(BusError(said), 1.0)
    expected = said.replace(url, redact_url(url))
    if len(expected) > claims_module.REASON_MAX:
        expected = f"{expected[: claims_module.REASON_MAX - 1]}…"
    assert reason == expected
    assert f":{password}@" not in reason


@pytest.mark.redis
async def test_an_outage_reason_leaves_the_bus_advice_to_the_lapse() -> None:
    """Redis gone: the renewal's error ends with the bus's "try again once it is back",
    which the reason leaves out (the lapse's message says what to do); the cause is
    kept whole."""
    with RedisServer() as server:
        bus = create_bus(server.url, BusOptions(prefix="t-h-hl-advice", block_ms=50))
        await bus.start()
        claims = claims_module.BrokerClaims(bus, ["paper"], ttl_s=0.6)
        await claims.take()
        server.kill()
        try:
            with pytest.raises(BusError) as failed:
                await claims.renew()
            assert str(failed.value).endswith("; try again once it is back.")
            said = claims_module.renewal_reason(failed.value, 0.1)
            assert said.startswith(f"Redis at {server.url} is unreachable ("), said
            assert "try again" not in said
            assert said == str(failed.value).removesuffix("; try again once it is back.")
        finally:
            await bus.close()
