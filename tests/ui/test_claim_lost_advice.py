"""A desk whose claim another desk took (engine/claims.py) gives advice it can follow:
its cancel, cancel all and cancel-before-quit are refused naming the desk that drives
the broker now, and saying to cancel from that desk; the Health pane marks the broker
line that desk's heartbeats fill in as driven by it. Before (the chaos review's M4):
desk 1, SIGSTOPped past its claim's lapse while desk 2 took the broker over, read
`paper/main LIVE` (desk 2's heartbeat) under its own Health; `c` toasted "Cancel
failed: paper/main is DISCONNECTED ... Send it again once paper/main is LIVE", which
never happens on that desk, and `C` in the quit dialog "Cancel them at the venue or
try cancel all again"."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from textual.pilot import Pilot

from silvertine_tui.config import Settings
from silvertine_tui.domain import ConnectionState
from silvertine_tui.engine import Session
from silvertine_tui.engine.claims import DeskId
from silvertine_tui.engine.commands import CancelAll, CancelAllDone, CancelOrder, Refused
from silvertine_tui.events import Health, HealthEvent
from silvertine_tui.ui.screens.quit import QuitScreen
from silvertine_tui.ui.widgets.blotter import Blotter
from silvertine_tui.ui.widgets.health import HealthPane

from .conftest import Desk, FakeClock, limit_buy, make_settings
from .test_health_bus import frames_until
from .test_projection_rebuild import quiet_app

BTC = "BTCUSDT.PAPER"
FIRST, SECOND = "st000000000000000601", "st000000000000000602"
OTHER = DeskId(desk="d2", host="trading-host-2", pid=4242, since=datetime(2026, 1, 2, tzinfo=UTC))
DRIVER = "desk trading-host-2 pid 4242"


def toasts(desk: Desk, title: str) -> list[str]:
    return [n.message for n in desk.app._notifications if n.title == title]


async def lost_desk(desk: Desk, pilot: Pilot[None]) -> None:
    """Two resting orders, then the claim on paper taken by another desk, which drives
    the broker from then on (its heartbeat says paper/main LIVE on the bus)."""
    app, session = desk.app, desk.session
    for n, coid in enumerate((FIRST, SECOND)):
        await session.engine.submit(limit_buy(coid, BTC, "0.01", f"{63500 + n}.00"))
    blotter = app.screen.query_one(Blotter)
    await frames_until(app, pilot, lambda: {FIRST, SECOND} <= set(blotter.row_keys))
    bus = session.bus
    await bus.claim(
        bus.layout.claim("paper"), OTHER.model_dump_json(), 60_000, replacing=session.claims.value
    )
    health = app.screen.query_one(HealthPane)
    await frames_until(app, pilot, lambda: "lost its claim" in health.text.plain)
    await frames_until(app, pilot, lambda: session.brokers[0].state is ConnectionState.DISCONNECTED)
    await bus.publish(
        HealthEvent.create(
            "broker:paper/main",
            Health(component="broker:paper/main", state=ConnectionState.LIVE, metrics={}),
        )
    )
    await frames_until(
        app, pilot, lambda: "paper/main LIVE" in health.text.plain.replace("\n", " ")
    )


def new_desk(clock: FakeClock, tmp_path: Path) -> Desk:
    base = make_settings()
    settings = Settings(brokers=base.brokers, engine={"claim_ttl_s": 1.0})
    session = Session(settings, clock=clock.ns)
    session.engine.retry_delays = ()
    app = quiet_app(session, clock, tmp_path / "state.json")
    return Desk(app, session, clock)


async def test_a_cancel_on_a_desk_that_lost_its_claim_names_the_desk_to_cancel_from(
    tmp_path: Path, clock: FakeClock
) -> None:
    desk = new_desk(clock, tmp_path)
    app = desk.app
    async with app.run_test(size=(120, 36), notifications=True) as pilot:
        await desk.start(pilot)
        await lost_desk(desk, pilot)
        app.clear_notifications()

        await pilot.press("3", "home", "c")
        await frames_until(app, pilot, lambda: bool(app._notifications))
        assert toasts(desk, "Cancel failed") == []
        (said,) = toasts(desk, "Cancel refused")
        assert DRIVER in said, said
        assert "cancel it from that desk" in said, said
        # That desk may have quit since: what to do then is said too.
        assert "if it no longer runs, restart this one: it takes the broker back" in said, said
        assert "once paper/main is LIVE" not in said

        # The gateway says it, whichever way the cancel comes.
        outcome = await desk.app.desk.send(CancelOrder(client_order_id=SECOND))
        assert isinstance(outcome, Refused)
        assert outcome.problems[0].rule == "claim_lost"

        # Health: the LIVE read from the bus is the other desk's link, and says so.
        text = app.screen.query_one(HealthPane).text.plain.replace("\n  ", " ")
        line = next(part for part in text.split("\n") if part.startswith("paper/main"))
        assert f"driven by {DRIVER}" in line, text
        await desk.session.close()


async def test_cancel_all_and_the_quit_dialog_on_a_desk_that_lost_its_claim(
    tmp_path: Path, clock: FakeClock
) -> None:
    desk = new_desk(clock, tmp_path)
    app = desk.app
    async with app.run_test(size=(120, 36), notifications=True) as pilot:
        await desk.start(pilot)
        await lost_desk(desk, pilot)
        app.clear_notifications()

        outcome = await app.desk.send(CancelAll())
        assert isinstance(outcome, CancelAllDone)
        summary = outcome.report.summary()
        assert DRIVER in summary, summary
        assert "cancel them from that desk" in summary, summary
        assert "try cancel all again" not in summary, summary
        assert "once paper/main is LIVE" not in summary, summary

        await pilot.press("q")
        await frames_until(app, pilot, lambda: isinstance(app.screen, QuitScreen))
        await pilot.press("C")
        await frames_until(app, pilot, lambda: bool(toasts(desk, "Cancel before quit failed")))
        (said,) = toasts(desk, "Cancel before quit failed")
        assert DRIVER in said, said
        assert "cancel them from that desk" in said, said
        assert "try cancel all again" not in said, said
        await desk.session.close()
