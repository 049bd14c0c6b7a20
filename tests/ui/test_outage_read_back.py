"""Redis back after an outage: the bus writes what waited in its memory, and the desk
reads it back at its reader's next read (up to 2 s later: the reader's backoff). Until
then the orders sent during the outage were neither listed nor said: the `not in Orders
yet` line went the moment Redis took them, the rows came a moment later, and a quit
dialog opened in between counted the working orders without them. Written and not read
back yet, they are said as such (`written to Redis, being read back`) and counted.

The desk is the real app on a real session and paper broker on a real `redis-server`
the test kills and starts again under it. Its bus is the Redis bus whose readers the
test holds back after the outage (`HeldReader`), as the reader's backoff does."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from pathlib import Path

import pytest
from textual.widgets import Static

from silvertine_tui.bus import BusOptions
from silvertine_tui.bus.base import BusEntry
from silvertine_tui.bus.redis_streams import RedisBus
from silvertine_tui.engine import Session
from silvertine_tui.ui.screens.quit import QuitScreen
from silvertine_tui.ui.widgets.blotter import Blotter
from tests.support.redis_server import RedisServer

from .conftest import Desk, FakeClock, limit_buy, make_settings
from .test_fill_line import header_text
from .test_outage_rows_unconfirmed import ETH, SENT, book, subtitle
from .test_projection_rebuild import quiet_app
from .test_quit_unwritten import frames_until

pytestmark = pytest.mark.redis

RESTING = "st000000000000000704"  # journaled and listed before the outage


class HeldReader(RedisBus):
    """The Redis bus, its readers' batches of execution entries held while `held` is
    clear: the reader's backoff after an outage, made as long as the test needs."""

    def __init__(self, url: str, options: BusOptions) -> None:
        super().__init__(url, options)
        self.held = asyncio.Event()
        self.held.set()

    async def tail_batches(self, streams: Mapping[str, str]) -> AsyncIterator[list[BusEntry]]:
        async for batch in super().tail_batches(streams):
            if any(":exec:" in entry.stream for entry in batch):
                await self.held.wait()
            yield batch


def held_desk(server: RedisServer, prefix: str, clock: FakeClock, tmp_path: Path) -> Desk:
    options = BusOptions(prefix=prefix, block_ms=50, epoch_check_s=0.1)
    settings = make_settings()
    bus_config = settings.bus.model_copy(update={"url": server.url, "prefix": prefix})
    settings = settings.model_copy(update={"bus": bus_config})
    session = Session(settings, bus=HeldReader(server.url, options), clock=clock.ns)
    return Desk(quiet_app(session, clock, tmp_path / "state.json"), session, clock)


def title(desk: Desk) -> str:
    return str(desk.app.screen.query_one("#dialog-title", Static).render())


async def test_an_order_sent_during_the_outage_is_said_and_counted_until_read_back(
    tmp_path: Path, clock: FakeClock
) -> None:
    with RedisServer(persistence=True) as server:
        desk = held_desk(server, "t-read-back", clock, tmp_path)
        app, session = desk.app, desk.session
        bus = session.bus
        assert isinstance(bus, HeldReader)
        async with app.run_test(size=(160, 40)) as pilot:
            await desk.start(pilot)
            await desk.broker.on_market_data(book("3500.00", "3502.00"))
            await session.engine.submit(limit_buy(RESTING, ETH, "0.1", "3450.00"))
            blotter = app.screen.query_one(Blotter)
            await frames_until(app, pilot, lambda: RESTING in blotter.row_keys, "listed")
            await server.akill()
            await frames_until(app, pilot, lambda: "BUS DOWN" in header_text(desk))
            await session.engine.submit(limit_buy(SENT, ETH, "0.1", "3400.00"))
            await frames_until(
                app,
                pilot,
                lambda: "(1 order not in Orders yet)" in subtitle(desk, "blotter"),
                "said waiting",
            )
            bus.held.clear()  # the reader backs off: it reads again only when let go
            await server.arestart()
            await frames_until(app, pilot, lambda: bus.unwritten() == (0, 0), "written")
            await frames_until(
                app,
                pilot,
                lambda: (
                    "1 order of paper/main not in Orders yet: written to Redis, being read back"
                    in subtitle(desk, "blotter")
                ),
                "said being read back",
            )
            assert SENT not in blotter.row_keys
            assert "wait for Redis" not in subtitle(desk, "blotter")  # Redis has them
            # The quit dialog opened now counts it (it counted RESTING alone).
            await pilot.press("q")
            await frames_until(app, pilot, lambda: isinstance(app.screen, QuitScreen), "quit")
            assert title(desk) == "Quit with 2 working order(s)?"
            body = str(app.screen.query_one("#dialog-body", Static).render())
            assert "wait in memory" not in body, body  # Redis has them
            assert (
                "1 of them not in Orders yet: sent while Redis was out of reach, written "
                "to Redis, being read back."
            ) in " ".join(body.split()), body
            await pilot.press("escape")
            await frames_until(app, pilot, lambda: not isinstance(app.screen, QuitScreen))

            bus.held.set()  # read back: listed, and nothing more said of it
            await frames_until(app, pilot, lambda: SENT in blotter.row_keys, "listed")
            await frames_until(
                app, pilot, lambda: "not in Orders yet" not in subtitle(desk, "blotter"), "gone"
            )
            assert bus.waiting(session.projection.applied) == ()
            await session.close()
