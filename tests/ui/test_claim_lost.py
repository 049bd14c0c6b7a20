"""A desk whose broker another desk took (its claim lapsed and was taken: see
engine/claims.py) says so everywhere a trader looks, and sends nothing."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from redis.asyncio import Redis

from silvertine_tui.bus import BusOptions, create_bus
from silvertine_tui.config import Settings
from silvertine_tui.engine import Session
from silvertine_tui.engine.claims import DeskId
from silvertine_tui.ui.widgets.health import HealthPane
from silvertine_tui.ui.widgets.text import TextBlock
from tests.support.redis_server import RedisServer

from .conftest import Desk, FakeClock, make_settings
from .test_health_bus import frames_until
from .test_projection_rebuild import quiet_app
from .test_trading_keys import open_buy_ticket, type_into

LOST = "this desk sends nothing more: broker paper is driven by another desk now"


async def test_a_lost_claim_is_on_the_ticket_in_health_and_in_a_toast(
    tmp_path: Path, clock: FakeClock
) -> None:
    base = make_settings()
    settings = Settings(brokers=base.brokers, engine={"claim_ttl_s": 1.0})
    session = Session(settings, clock=clock.ns)
    app = quiet_app(session, clock, tmp_path / "state.json")
    desk = Desk(app, session, clock)
    async with app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        ticket = await open_buy_ticket(desk, pilot, "ETHUSDT.PAPER")
        await type_into(pilot, "0.1")
        assert "NOT SENT" not in ticket.query_one("#t-status", TextBlock).text.plain

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
        health = app.screen.query_one(HealthPane)
        await frames_until(app, pilot, lambda: "lost its claim" in health.text.plain)
        assert "paper/main DISCONNECTED" in health.text.plain
        assert "host trading-host-2, pid 1" in health.text.plain
        toasts = [n for n in app._notifications if n.title == "paper/main DISCONNECTED"]
        assert len(toasts) == 1
        assert toasts[0].message.startswith(LOST)

        await pilot.press("2")  # back to the ticket, as it was
        await pilot.press("f9")
        await desk.settle(pilot)
        status = ticket.query_one("#t-status", TextBlock).text.plain
        problems = ticket.query_one("#t-problems", TextBlock).text.plain
        assert status.startswith("NOT SENT")
        assert f"Account: {LOST}" in " ".join(problems.split())
        assert "[claim_lost]" in problems
        assert "[starting]" not in problems
        assert not session.projection.orders  # nothing went
        await session.close()


@pytest.mark.redis
async def test_claims_going_unrenewed_are_told_at_once_and_so_is_their_renewal(
    tmp_path: Path, clock: FakeClock
) -> None:
    """Redis refusing writes (out of memory) for longer than the claims' ttl: no event
    can say it, so the desk tells from the session: a toast, the ticket refusing with
    the reason, and a toast again once the claims are renewed."""
    with RedisServer() as server:
        base = make_settings()
        settings = Settings(brokers=base.brokers, engine={"claim_ttl_s": 1.0})
        options = BusOptions(prefix="t-claims-lapse", block_ms=50, epoch_check_s=0.1)
        session = Session(settings, bus=create_bus(server.url, options), clock=clock.ns)
        app = quiet_app(session, clock, tmp_path / "state.json")
        desk = Desk(app, session, clock)
        raw = Redis.from_url(server.url)
        try:
            async with app.run_test(size=(120, 36), notifications=True) as pilot:
                await desk.start(pilot)
                ticket = await open_buy_ticket(desk, pilot, "ETHUSDT.PAPER")
                await type_into(pilot, "0.1")
                await raw.config_set("maxmemory", 1)

                def told(title: str) -> bool:
                    return any(n.title == title for n in app._notifications)

                await frames_until(app, pilot, lambda: told("Claims not renewed"))
                (toast,) = [n for n in app._notifications if n.title == "Claims not renewed"]
                assert toast.severity == "error"
                assert "could not renew its claim on its brokers for 0.5 s" in toast.message
                await pilot.press("f9")

                def problems() -> str:
                    return ticket.query_one("#t-problems", TextBlock).text.plain

                # Not `desk.settle`: it waits for the bus to write what it holds, which
                # Redis refuses here (under the suite's load a health entry was held,
                # and the flush's 10 s ran out).
                await frames_until(app, pilot, lambda: "[claim_lapsed]" in problems())
                assert not session.projection.orders

                await raw.config_set("maxmemory", 0)
                await frames_until(app, pilot, lambda: told("Claims renewed"))
                assert session.not_ready == ""
                await session.close()
        finally:
            await raw.config_set("maxmemory", 0)
            await raw.aclose()


@pytest.mark.redis
async def test_claims_unrenewed_then_taken_are_never_told_as_renewed(
    tmp_path: Path, clock: FakeClock
) -> None:
    """The usual way a claim is lost: it goes unrenewed (here `paper2`'s key is a list,
    so Redis refuses every round), and meanwhile another desk takes `paper`. The desk
    says the lapse, then the loss; never "Claims renewed"."""
    with RedisServer() as server:
        base = make_settings()
        second = base.brokers[0].model_copy(update={"name": "paper2"})
        settings = Settings(brokers=[*base.brokers, second], engine={"claim_ttl_s": 1.0})
        options = BusOptions(prefix="t-claims-taken", block_ms=50, epoch_check_s=0.1)
        session = Session(settings, bus=create_bus(server.url, options), clock=clock.ns)
        app = quiet_app(session, clock, tmp_path / "state.json")
        desk = Desk(app, session, clock)
        raw = Redis.from_url(server.url)
        layout = session.bus.layout

        def told(title: str) -> bool:
            return any(n.title == title for n in app._notifications)

        try:
            async with app.run_test(size=(120, 36), notifications=True) as pilot:
                await desk.start(pilot)
                pipe = raw.pipeline(transaction=True)
                pipe.delete(layout.claim("paper2"))
                pipe.lpush(layout.claim("paper2"), "not a claim")
                await pipe.execute()
                # (A ttl of 1 s lapses at half a second: a loaded worker's loop held that
                # long before this point had its claims lapse and be renewed, toasts of
                # their own, before the refusals began.)
                app.clear_notifications()
                await frames_until(app, pilot, lambda: told("Claims not renewed"))
                other = DeskId(
                    desk="d4", host="trading-host-2", pid=1, since=datetime(2026, 1, 2, tzinfo=UTC)
                )
                await raw.set(layout.claim("paper"), other.model_dump_json(), px=10_000)
                await frames_until(app, pilot, lambda: told("paper/main DISCONNECTED"))
                await frames_until(app, pilot, lambda: session.not_ready_rule == "claim_lost")
                for _ in range(10):
                    await desk.step(pilot, 1)
                assert not told("Claims renewed")
                await session.close()
        finally:
            await raw.delete(layout.claim("paper2"))
            await raw.aclose()
