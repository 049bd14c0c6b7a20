"""Health says what this desk's claims on its brokers are (engine/claims.py): held,
pending (and for how long), lapsed (and why: nothing new is sent), or lost. A lapse
showed nowhere once its toast had gone: every broker and the bus read LIVE while the
desk refused every order."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from redis.asyncio import Redis
from rich.cells import cell_len
from rich.style import Style
from rich.text import Text

from silvertine_tui.bus import BusOptions, create_bus
from silvertine_tui.config import Settings
from silvertine_tui.domain import TradingState
from silvertine_tui.engine import Session
from silvertine_tui.engine.claims import DeskId
from silvertine_tui.ui.app import SilvertineApp
from silvertine_tui.ui.widgets.health import BusLine, HealthPane, claims_line
from tests.support.redis_server import RedisServer

from .conftest import Desk, FakeClock, make_settings
from .test_health_bus import frames_until
from .test_projection_rebuild import quiet_app

LOST = "this desk sends nothing more: broker paper is driven by another desk now"
LAPSED = "this desk could not renew its claim on its brokers for 0.5 s"


def pane(app: SilvertineApp) -> HealthPane:
    return app.screen.query_one(HealthPane)


def claims_lines(app: SilvertineApp) -> list[str]:
    """The claims line and the lines under it."""
    lines = pane(app).text.plain.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("claims "))
    end = next(
        (i for i in range(start + 1, len(lines)) if not lines[i].startswith("  ")), len(lines)
    )
    return lines[start:end]


def style_of(text: Text, word: str) -> Style | str | None:
    """The style `text` gives `word` (its first occurrence)."""
    at = text.plain.index(word)
    found = [s.style for s in text.spans if s.start <= at < s.end]
    return found[-1] if found else None


@pytest.mark.redis
async def test_a_lapsed_claim_shows_in_health_after_its_toast_and_fits_at_80x24(
    tmp_path: Path, clock: FakeClock
) -> None:
    """Redis refuses the renewal of `paper2`'s claim (its key holds a list): the desk
    refuses orders (`claim_lapsed`). Once the "Claims not renewed" toast has gone,
    Health still says so, first under the trading state, in the error style, with the
    reason; at 80x24 it fits the pane. Renewed, it says the claims are held."""
    with RedisServer() as server:
        base = make_settings()
        second = base.brokers[0].model_copy(update={"name": "paper2"})
        settings = Settings(brokers=[*base.brokers, second], engine={"claim_ttl_s": 1.0})
        options = BusOptions(prefix="t-claims-health", block_ms=50, epoch_check_s=0.1)
        session = Session(settings, bus=create_bus(server.url, options), clock=clock.ns)
        app = quiet_app(session, clock, tmp_path / "state.json")
        desk = Desk(app, session, clock)
        raw = Redis.from_url(server.url)
        layout = session.bus.layout
        try:
            async with app.run_test(size=(80, 24), notifications=True) as pilot:
                await desk.start(pilot)
                await pilot.press("6")  # the health pane (one pane at a time at 80x24)
                await desk.settle(pilot)
                assert claims_lines(app) == ["claims HELD  paper, paper2"]
                assert style_of(pane(app).text, "HELD") == pane(app).palette.ok

                pipe = raw.pipeline(transaction=True)
                pipe.delete(layout.claim("paper2"))
                pipe.lpush(layout.claim("paper2"), "not a claim")
                await pipe.execute()
                await frames_until(
                    app,
                    pilot,
                    lambda: any(n.title == "Claims not renewed" for n in app._notifications),
                )
                assert session.not_ready_rule == "claim_lapsed"
                app.clear_notifications()  # the toast has gone
                await desk.settle(pilot)
                health = pane(app)
                lines = health.text.plain.splitlines()
                assert lines[1].startswith("claims LAPSED  paper, paper2: not renewed for ")
                said = " ".join(claims_lines(app))
                assert LAPSED in said
                assert "nothing is sent until the claim is renewed" in said
                assert style_of(health.text, "LAPSED") == health.palette.error
                assert style_of(health.text, LAPSED) == health.palette.error

                # At 80x24 its rows fit the pane's width, and it is in view.
                rows = health.render().plain.split("\n")
                assert all(cell_len(row) <= 80 for row in rows)
                first = next(i for i, row in enumerate(rows) if row.startswith("claims LAPSED"))
                shown = app.screen.query_one("#health-scroll").size.height
                reason = next(i for i, row in enumerate(rows) if "could not renew" in row)
                assert first == 1
                assert reason < shown
                assert all(row.startswith("    ") for row in rows[reason + 1 : reason + 3])

                await raw.delete(layout.claim("paper2"))
                await frames_until(
                    app, pilot, lambda: claims_lines(app) == ["claims HELD  paper, paper2"]
                )
                assert session.not_ready == ""
                await session.close()
        finally:
            await raw.delete(layout.claim("paper2"))
            await raw.aclose()


async def test_a_lost_claim_shows_in_health_naming_the_desk_that_took_it(
    tmp_path: Path, clock: FakeClock
) -> None:
    """Another desk took `paper`: the broker's line says DISCONNECTED (as before), and
    the claims line says the claim is lost, to whom, in the error style."""
    base = make_settings()
    settings = Settings(brokers=base.brokers, engine={"claim_ttl_s": 1.0})
    session = Session(settings, clock=clock.ns)
    app = quiet_app(session, clock, tmp_path / "state.json")
    desk = Desk(app, session, clock)
    async with app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        other = DeskId(
            desk="d2", host="trading-host-2", pid=1, since=datetime(2026, 1, 2, tzinfo=UTC)
        )
        bus = session.bus
        await bus.claim(
            bus.layout.claim("paper"),
            other.model_dump_json(),
            60_000,
            replacing=session.claims.value,
        )
        await frames_until(app, pilot, lambda: "claims LOST" in pane(app).text.plain)
        lines = claims_lines(app)
        assert lines[0] == "claims LOST  paper"
        said = " ".join(lines)
        assert LOST in said
        assert "host trading-host-2, pid 1" in said
        health = pane(app)
        assert style_of(health.text, "LOST") == health.palette.error
        assert style_of(health.text, LOST) == health.palette.error
        await session.close()


@pytest.mark.redis
async def test_pending_claims_show_how_long_they_wait_and_why(
    redis_server: RedisServer, key_prefix: str
) -> None:
    """A desk starting on a Redis that lost the journal this host's desk used takes its
    claims pending for a ttl (docs/operations.md): Health says so, with the seconds
    left and why, in the warning style. A desk that claims nothing (one that only
    watches, or one not open) has no claims line."""

    def configured() -> Settings:
        return Settings.model_validate(
            {
                "bus": {"url": redis_server.url, "prefix": key_prefix},
                "brokers": [
                    {"name": "paper", "type": "paper", "market": {"autorun": False}},
                ],
                "engine": {"claim_ttl_s": 30.0},
            }
        )

    first = Session(configured())
    await first.start()
    await first.close()  # its record: the epoch it used
    raw = Redis.from_url(redis_server.url)
    try:
        keys = [key async for key in raw.scan_iter(match=f"{key_prefix}:*")]
        await raw.delete(*keys)  # the journal lost while no desk ran
    finally:
        await raw.aclose()
    session = Session(configured())
    assert session.claims_health() is None  # not open: nothing claimed
    await session.open()
    try:
        found = session.claims_health()
        assert found is not None
        assert found.pending == ("paper",)
        line = claims_line(found)
        bus = BusLine("redis", "", True, None, 0.0, 0.0, 0, 0, 0, "", claims=line)
        health = HealthPane()
        text = health.render_text([], bus, TradingState.ACTIVE)
        lines = text.plain.splitlines()
        assert lines[1] in ("claims PENDING  paper: 30s left", "claims PENDING  paper: 29s left")
        assert lines[2].startswith("  Redis no longer holds the journal this host's desk")
        assert style_of(text, "PENDING") == health.palette.warn
    finally:
        await session.close()
    assert session.claims_health() is None  # closed: its claims let go
