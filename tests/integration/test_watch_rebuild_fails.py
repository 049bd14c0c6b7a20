"""A watching desk's rebuild, or its look after a restart, that raises outside what it
says itself is said, never left unsaid (`WatchSession._rebuild_done`, `_look_done`).

Before, both ran as tasks nobody looked at the end of (`rebuild` waits for the rebuild,
`close` gathers with `return_exceptions`): a rebuild step outside its try (the engine
built anew) raising left the banner "rebuilding" for good, with nothing logged and no
toast; a look after a restart raising ended unsaid. The faults are the bus's (a Redis
bus that fails once where it should not), on a real redis-server.
"""

from __future__ import annotations

import logging

import pytest

from silvertine_tui.bus import BusEntry, BusOptions, create_bus
from silvertine_tui.bus.layout import StreamLayout
from silvertine_tui.bus.redis_streams import RedisBus
from silvertine_tui.config import Settings
from silvertine_tui.engine.recovery import StartPhase
from silvertine_tui.engine.watch import WatchSession
from tests.support import fill_event
from tests.support.desks import until
from tests.support.redis_server import RedisServer

pytestmark = pytest.mark.redis

NOT_REBUILT = "Watching: not rebuilt"
NOT_LOOKED_AT = "Watching: restart not looked at"


class LayoutFailsOnce(RedisBus):
    """A Redis bus whose stream layout cannot be had, once, when `fail_next` is set."""

    fail_next = False

    @property
    def layout(self) -> StreamLayout:
        if self.fail_next:
            self.fail_next = False
            raise RuntimeError("the stream layout could not be read")
        return super().layout


class ReadsFail(RedisBus):
    """A Redis bus whose ranged reads raise (not as a `BusError`) while `failing`."""

    failing = False

    async def read(
        self, stream: str, start: str = "-", end: str = "+", count: int | None = None
    ) -> list[BusEntry]:
        if self.failing:
            raise RuntimeError(f"the read of {stream} broke")
        return await super().read(stream, start, end, count)


def options(prefix: str) -> BusOptions:
    # The bus's own watcher and the listing look seldom: only the rebuild meets the fault.
    return BusOptions(prefix=prefix, block_ms=50, epoch_check_s=0.1, passive=True)


def watcher(url: str, prefix: str, bus: RedisBus) -> WatchSession:
    settings = Settings.model_validate({"bus": {"url": url, "prefix": prefix}})
    return WatchSession(settings, bus=bus, discover_every_s=3600.0, stale_check_s=0.1)


async def test_a_rebuild_step_outside_its_try_that_raises_is_said_as_not_rebuilt(
    redis_server: RedisServer, key_prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    bus = LayoutFailsOnce(
        redis_server.url,
        BusOptions(prefix=key_prefix, block_ms=50, epoch_check_s=3600.0, passive=True),
    )
    watch = watcher(redis_server.url, key_prefix, bus)
    await watch.start()
    try:
        assert watch.progress.phase == StartPhase.READY
        await until(lambda: bool(bus.reader_clients))  # its reader read the layout
        bus.fail_next = True  # the engine the rebuild builds anew reads it first
        with caplog.at_level(logging.ERROR, logger="silvertine_tui.engine.watch"):
            await watch.rebuild("a drill")
        assert not bus.fail_next  # it was met
        assert watch.progress.phase == StartPhase.FAILED  # not "rebuilding" for good
        assert "the stream layout could not be read" in watch.progress.error
        [alert] = [a for a in watch.alerts if a.title == NOT_REBUILT]
        assert alert.message.startswith("a drill; ")
        assert "RuntimeError: the stream layout could not be read" in alert.message
        [record] = [r for r in caplog.records if r.getMessage() == "watch.not_rebuilt"]
        assert record.exc_info is not None
        assert "Redis lost data" not in [a.title for a in watch.alerts]
    finally:
        await watch.close()


async def test_a_look_after_a_restart_that_raises_is_said(
    key_prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    with RedisServer(persistence=True) as server:
        writer = create_bus(server.url, BusOptions(prefix=key_prefix, block_ms=50))
        await writer.start()
        bus = ReadsFail(server.url, options(key_prefix))
        watch = watcher(server.url, key_prefix, bus)
        try:
            written = await writer.publish(fill_event(1))
            await writer.close()
            await watch.start()
            journal = bus.layout.exec("paper", "main")
            await until(lambda: watch.engine.applied.get(journal) == written)

            bus.failing = True  # the look reads the entries it applied back
            with caplog.at_level(logging.ERROR, logger="silvertine_tui.engine.watch"):
                await server.akill()
                await server.arestart()  # with everything (AOF): no loss to find
                await until(lambda: NOT_LOOKED_AT in [a.title for a in watch.alerts])
            assert bus.stats.server_restarts >= 1
            assert bus.stats.data_loss_detected == 0
            [alert] = [a for a in watch.alerts if a.title == NOT_LOOKED_AT]
            assert "RuntimeError: the read of" in alert.message
            assert "start `silvertine watch` again" in alert.message
            [record] = [r for r in caplog.records if r.getMessage() == "watch.restart_look_failed"]
            assert record.exc_info is not None
            assert watch.progress.phase == StartPhase.READY
        finally:
            await watch.close()
            await writer.close()
