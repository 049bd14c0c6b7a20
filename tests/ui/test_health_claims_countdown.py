"""Health's `claims PENDING paper: Ns left` counts down with the start-up banner's
"waiting to claim the brokers, N s left" (the chaos review's LOW 1). A desk starting
on a Redis that lost its data while no desk ran takes its claims pending for a ttl,
before it replays anything; the desk draws no frame until the replay is done, so the
Health pane read `15s left` while the banner counted 13 -> 2 s."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest
from redis.asyncio import Redis

from silvertine_tui.config import Settings
from silvertine_tui.engine import Session
from silvertine_tui.engine.recovery import StartPhase
from silvertine_tui.ui.app import SilvertineApp
from silvertine_tui.ui.widgets.health import HealthPane
from silvertine_tui.ui.widgets.startup import StartupBanner
from tests.support.redis_server import RedisServer

from .conftest import FakeClock
from .test_projection_rebuild import quiet_app

TTL_S = 8.0


def settings(url: str, prefix: str) -> Settings:
    return Settings.model_validate(
        {
            "bus": {"url": url, "prefix": prefix},
            "brokers": [{"name": "paper", "type": "paper", "market": {"autorun": False}}],
            "engine": {"claim_ttl_s": TTL_S},
        }
    )


def health_left(app: SilvertineApp) -> int | None:
    """The seconds the Health pane's claims line says are left (None: no such line)."""
    found = re.search(
        r"claims PENDING  paper: (\d+)s left", app.screen.query_one(HealthPane).text.plain
    )
    return int(found.group(1)) if found else None


def banner_left(app: SilvertineApp) -> int | None:
    banners = app.screen.query(StartupBanner)
    if not banners:
        return None
    found = re.search(r"waiting to claim the brokers, (\d+) s left", banners.first().shown[-1])
    return int(found.group(1)) if found else None


@pytest.mark.redis
async def test_the_pending_claims_count_down_in_health_with_the_banner(
    tmp_path: Path, clock: FakeClock, key_prefix: str
) -> None:
    with RedisServer() as server:
        first = Session(settings(server.url, key_prefix))
        await first.start()
        await first.close()  # its record: the epoch it used
        raw = Redis.from_url(server.url)
        try:
            keys = [key async for key in raw.scan_iter(match=f"{key_prefix}:*")]
            await raw.delete(*keys)  # Redis lost its data while no desk ran
        finally:
            await raw.aclose()
        session = Session(settings(server.url, key_prefix))
        await session.open()  # as `silvertine` does before its app: claims pending
        app = quiet_app(session, clock, tmp_path / "state.json")
        async with app.run_test(size=(120, 36)) as pilot:
            for _ in range(250):
                await pilot.pause()
                if (
                    session.progress.phase == StartPhase.CLAIMING
                    and health_left(app)
                    and (banner_left(app))
                ):
                    break
                await asyncio.sleep(0.02)
            before = health_left(app)
            assert before is not None
            await asyncio.sleep(2.5)
            await pilot.pause()
            assert session.progress.phase == StartPhase.CLAIMING
            now, banner = health_left(app), banner_left(app)
            assert now is not None
            assert banner is not None
            assert now <= before - 2, (before, now, banner)
            assert abs(now - banner) <= 1, (now, banner)
            await asyncio.wait_for(app.ready.wait(), TTL_S + 10)
            await pilot.press("q")
            await pilot.pause()
        await session.close()
