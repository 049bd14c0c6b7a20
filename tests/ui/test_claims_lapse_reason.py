"""A lapsed claim says why in Health: what Redis answered the renewal that did not
land (here `OutOfMemoryError: command not allowed ...`), not only the general list of what may have
happened (the bus unreachable or refusing, the desk held). It is in view at 80x24."""

from __future__ import annotations

from pathlib import Path

import pytest
from redis.asyncio import Redis

from silvertine_tui.bus import BusOptions, create_bus
from silvertine_tui.config import Settings
from silvertine_tui.engine import Session
from silvertine_tui.ui.app import SilvertineApp
from silvertine_tui.ui.widgets.health import HealthPane
from tests.support.redis_server import RedisServer

from .conftest import Desk, FakeClock, make_settings
from .test_health_bus import frames_until
from .test_projection_rebuild import quiet_app

pytestmark = pytest.mark.redis

OOM = "(OutOfMemoryError: command not allowed when used memory > 'maxmemory')"


def claims_rows(app: SilvertineApp) -> list[str]:
    """The Health pane's rows as drawn, from the claims line to the next line of its own."""
    rows = app.screen.query_one(HealthPane).render().plain.split("\n")
    start = next(i for i, row in enumerate(rows) if row.startswith("claims "))
    end = next((i for i in range(start + 1, len(rows)) if not rows[i].startswith(" ")), len(rows))
    return rows[start:end]


async def test_a_lapse_says_what_redis_answered_the_renewal(
    tmp_path: Path, clock: FakeClock
) -> None:
    with RedisServer() as server:
        base = make_settings()
        settings = Settings(brokers=base.brokers, engine={"claim_ttl_s": 1.0})
        options = BusOptions(prefix="t-h-hl-lapse", block_ms=50, epoch_check_s=0.1)
        session = Session(settings, bus=create_bus(server.url, options), clock=clock.ns)
        app = quiet_app(session, clock, tmp_path / "state.json")
        desk = Desk(app, session, clock)
        raw = Redis.from_url(server.url)
        try:
            async with app.run_test(size=(80, 24), notifications=True) as pilot:
                await desk.start(pilot)
                await pilot.press("6")  # the health pane (one pane at a time at 80x24)
                await desk.settle(pilot)
                await raw.config_set("maxmemory-policy", "noeviction")
                await raw.config_set("maxmemory", 1)
                await frames_until(app, pilot, lambda: "LAPSED" in claims_rows(app)[0])
                rows = claims_rows(app)
                said = " ".join(row.strip() for row in rows)
                assert rows[0].startswith("claims LAPSED  paper: not renewed for "), rows
                assert OOM in said, said
                assert "could not renew its claim" in said  # what it means follows
                assert said.index(OOM) < said.index("could not renew")
                # In view: the reason's rows are among the pane's first rows.
                shown = app.screen.query_one("#health-scroll").size.height
                drawn = app.screen.query_one(HealthPane).render().plain.split("\n")
                at = next(i for i, row in enumerate(drawn) if "OutOfMemoryError" in row)
                assert at < shown, (at, shown)

                await raw.config_set("maxmemory", 0)
                await frames_until(app, pilot, lambda: claims_rows(app) == ["claims HELD  paper"])
                await session.close()
        finally:
            await raw.config_set("maxmemory", 0)
            await raw.aclose()
