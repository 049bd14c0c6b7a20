"""A trading state a watching desk sets is journaled now or not at all: it has no
broker to protect, so one the journal did not take holds nothing there, is said to
the trader, and is never kept in memory to land (and loosen or halt every desk)
whenever Redis comes back."""

from __future__ import annotations

import asyncio
import uuid

import pytest
import redis.asyncio as aioredis

from silvertine_tui.bus import BusOptions, create_bus
from silvertine_tui.config import Settings
from silvertine_tui.domain import TradingState
from silvertine_tui.engine.commands import Failed, Kill, KillDone, Resume, SetTradingState
from silvertine_tui.engine.watch import WatchSession
from silvertine_tui.events import RiskAction, RiskEvent
from tests.support.desks import desk, resting_buy, until
from tests.support.redis_relay import RedisRelay
from tests.support.redis_server import RedisServer, command, free_port

pytestmark = pytest.mark.redis


def watcher(url: str, prefix: str) -> WatchSession:
    settings = Settings.model_validate({"bus": {"url": url, "prefix": prefix}})
    bus = create_bus(url, BusOptions(prefix=prefix, block_ms=50, epoch_check_s=0.1, passive=True))
    return WatchSession(settings, bus=bus, discover_every_s=2.0)


def reader(server: RedisServer, prefix: str) -> tuple[str, str]:
    """A Redis user that may read the prefix and write nothing: its URL and name."""
    user, password = f"watch-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    command(
        server.host,
        server.port,
        *("ACL", "SETUSER", user, "on", f">{password}", f"~{prefix}:*"),
        *("+@read", "+ping", "+info"),
    )
    return f"redis://{user}:{password}@{server.host}:{server.port}/0", user


async def test_a_resume_whose_write_was_cut_is_failed_and_never_lands_later(
    redis_server: RedisServer, key_prefix: str
) -> None:
    """The watcher's link dropped as its RESUME went out: it was kept in memory, said
    Accepted, and written when the link came back, after a kill the driving desk
    pulled meanwhile, which it lifted: every desk ACTIVE."""
    driver = desk(redis_server.url, key_prefix, "paper")
    await driver.start()
    async with RedisRelay(redis_server.host, redis_server.port) as relay:
        watch = watcher(relay.url, key_prefix)
        try:
            await watch.start()
            await driver.engine.kill("first kill")
            await until(lambda: watch.projection.trading_state is TradingState.HALTED)
            relay.cut_request_on(
                b"XADD", then=lambda: setattr(relay, "target", ("127.0.0.1", free_port()))
            )
            outcome = await watch.command_gateway().send(Resume(leaving=TradingState.HALTED))
            assert isinstance(outcome, Failed), outcome
            # The reply was cut, not the write: it may have landed (it did not).
            assert outcome.error.startswith(
                "Redis is unreachable: the resume may have been journaled (its answer was "
                "lost): the desk shows it if it was; else trading stays HALTED."
            ), outcome.error
            assert watch.projection.trading_state is TradingState.HALTED
            await driver.engine.kill("second kill")
            relay.target = (redis_server.host, redis_server.port)
            await until(lambda: watch.bus.stats.connected, timeout=15)
            await asyncio.sleep(0.5)
            entries = await driver.bus.read(driver.bus.layout.risk)
            risk = [e.event.payload for e in entries if isinstance(e.event, RiskEvent)]
            assert [r.action for r in risk] == [RiskAction.KILL, RiskAction.KILL], risk
            assert driver.engine.gate.state is TradingState.HALTED
            assert watch.projection.trading_state is TradingState.HALTED
        finally:
            await watch.close()
            await driver.close()


async def test_a_watchers_state_the_journal_refuses_is_failed_and_holds_nothing(
    redis_server: RedisServer, key_prefix: str
) -> None:
    """With a Redis user that may only read: a REDUCE ONLY was said Accepted (nothing
    shown) while no desk had it, and a kill left the watcher HALTED for good while the
    desks traded on, so that a resume confirmed over it lifted a REDUCE ONLY the trader
    never saw. Both are said, and the watcher shows the journal's state."""
    url, user = reader(redis_server, key_prefix)
    driver = desk(redis_server.url, key_prefix, "paper")
    await driver.start()
    watch = watcher(url, key_prefix)
    client = aioredis.Redis.from_url(redis_server.url)
    try:
        await watch.start()
        watch.engine.retry_delays = (0.0,)
        gateway = watch.command_gateway()
        outcome = await gateway.send(
            SetTradingState(state=TradingState.REDUCE_ONLY, leaving=TradingState.ACTIVE)
        )
        assert isinstance(outcome, Failed), outcome
        assert outcome.error.startswith("REDUCE_ONLY not journaled: "), outcome.error
        assert watch.projection.trading_state is TradingState.ACTIVE
        assert await client.xlen(driver.bus.layout.risk) == 0

        killed = await gateway.send(Kill(reason="drill"))
        assert isinstance(killed, KillDone)
        assert not killed.report.ok
        assert "not journaled" in killed.report.summary()
        assert watch.projection.trading_state is TradingState.ACTIVE
        assert watch.engine.gate.state is TradingState.ACTIVE

        command(redis_server.host, redis_server.port, "ACL", "SETUSER", user, "+xadd")
        await driver.engine.set_trading_state(TradingState.REDUCE_ONLY)
        await until(lambda: watch.projection.trading_state is TradingState.REDUCE_ONLY)
        shown = watch.projection.trading_state
        resumed = await gateway.send(Resume(leaving=shown))
        await until(lambda: driver.engine.gate.state is TradingState.ACTIVE)
        assert not isinstance(resumed, Failed), resumed
        cid = await resting_buy(driver, "paper")
        await until(lambda: cid in watch.projection.orders)
        assert watch.projection.trading_state is TradingState.ACTIVE
    finally:
        await client.aclose()
        await watch.close()
        await driver.close()
