"""A kill switch pulled on a watching desk while Redis does not answer.

Before: the watcher's engine set HALTED and held it on screen while its write waited
(and was retried), so its header read HALTED while the driving desk, which never got
the KILL, traded on ACTIVE; it then went back to ACTIVE quietly, with a toast titled
"NOT everything cancelled" although nothing had been cancelled. Now the watcher shows
the state the desks' risk stream says, never a HALTED no desk holds; the kill is said
NOT SENT (or not confirmed, when its answer was lost) and is never kept to be sent
later."""

from __future__ import annotations

import asyncio
import os
import signal

import pytest

from silvertine_tui.bus import BusOptions, create_bus
from silvertine_tui.config import Settings
from silvertine_tui.domain import TradingState
from silvertine_tui.engine.commands import Failed, Kill, KillDone
from silvertine_tui.engine.watch import WatchSession
from silvertine_tui.events import RiskAction, RiskEvent
from tests.support.desks import desk, until
from tests.support.redis_server import RedisServer

pytestmark = pytest.mark.redis


def watcher(url: str, prefix: str) -> WatchSession:
    settings = Settings.model_validate({"bus": {"url": url, "prefix": prefix}})
    bus = create_bus(url, BusOptions(prefix=prefix, block_ms=50, epoch_check_s=0.1, passive=True))
    return WatchSession(settings, bus=bus, discover_every_s=2.0)


async def test_a_watchers_kill_redis_does_not_answer_never_shows_halted(
    key_prefix: str,
) -> None:
    with RedisServer() as server:
        driver = desk(server.url, key_prefix, "paper")
        await driver.start()
        watch = watcher(server.url, key_prefix)
        await watch.start()
        pid = server.pid
        assert pid is not None
        seen: list[TradingState] = []
        sampling = True

        async def sample() -> None:
            while sampling:
                seen.append(watch.projection.trading_state)
                await asyncio.sleep(0.01)

        watch.engine.retry_delays = ()  # (the old engine's retries: not the point here)
        try:
            os.kill(pid, signal.SIGSTOP)
            sampler = asyncio.create_task(sample())
            async with asyncio.timeout(60):
                outcome = await watch.command_gateway().send(Kill(reason="drill"))
            sampling = False
            await sampler
            assert seen
            assert TradingState.HALTED not in seen, seen
            assert watch.projection.trading_state is TradingState.ACTIVE
            if isinstance(outcome, KillDone):
                report = outcome.report
                assert not report.ok
                want = "KILL NOT CONFIRMED" if report.maybe_sent else "KILL NOT SENT"
                assert report.headline() == want
            else:
                assert isinstance(outcome, Failed), outcome
                assert "NOT SENT" in outcome.error
        finally:
            sampling = False
            os.kill(pid, signal.SIGCONT)
        try:
            # Redis answers again: a KILL it took after all halts every desk; none was
            # kept on the watcher to be written now.
            await until(lambda: watch.bus.stats.connected, timeout=20)
            await asyncio.sleep(1.0)
            entries = await driver.bus.read(driver.bus.layout.risk)
            kills = [
                e
                for e in entries
                if isinstance(e.event, RiskEvent) and e.event.payload.action is RiskAction.KILL
            ]
            if kills:  # written as Redis stopped: every desk holds it, the watcher too
                assert isinstance(outcome, KillDone)
                assert outcome.report.maybe_sent
                await until(lambda: driver.engine.gate.state is TradingState.HALTED)
                await until(lambda: watch.projection.trading_state is TradingState.HALTED)
            else:
                assert driver.engine.gate.state is TradingState.ACTIVE
                assert watch.projection.trading_state is TradingState.ACTIVE
        finally:
            await watch.close()
            await driver.close()
