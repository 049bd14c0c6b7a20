"""The desk's words once this desk lost its claim on a broker (another desk took it:
engine/claims.py), as a trader's drill found them wrong or missing:

1. Cancel all said "2 working order(s) on every broker will be cancelled." though this
   desk cancels none of the orders of the broker it lost, then toasted "cancel all:
   still going" (waiting for nothing this desk can do) before its report. Now the
   dialog names the orders it will not cancel and why, nothing says "still going",
   and the report's title says they were NOT cancelled, driven elsewhere.
2. The quit dialog's `C` (cancel all and quit) gave no warning of them.
3. Health named the desk that took the broker (`driven by desk HOST pid N, not this
   desk`) long after that desk had quit: now the claim is said free, with what to do.
4. A change refused because the claim lapsed was toasted "Modify refused by risk".
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from redis.asyncio import Redis
from textual.pilot import Pilot
from textual.widgets import Input, Static

from silvertine_tui.bus import BusOptions, create_bus
from silvertine_tui.config import Settings
from silvertine_tui.engine import Session
from silvertine_tui.engine.cancels import RETRY_DELAYS_S
from silvertine_tui.engine.claims import LEFT_CLAIM
from silvertine_tui.ui.screens.confirm import ConfirmScreen
from silvertine_tui.ui.screens.modify import ModifyScreen
from silvertine_tui.ui.screens.quit import QuitScreen
from silvertine_tui.ui.widgets.blotter import Blotter
from silvertine_tui.ui.widgets.health import HealthPane
from tests.support.redis_server import RedisServer

from .conftest import Desk, FakeClock, limit_buy, make_settings
from .test_claim_lost_advice import DRIVER, FIRST, OTHER, SECOND, lost_desk, new_desk, toasts
from .test_health_bus import frames_until
from .test_projection_rebuild import quiet_app

NOT_HERE = (
    "2 working order(s) of broker paper (00000601, 00000602) will NOT be cancelled by this "
    f"desk: broker paper is driven by {DRIVER} now, this desk lost its claim on it; cancel "
    "them from that desk, or, if it no longer runs, restart this one: it takes the broker back."
)


def titles(desk: Desk) -> list[str]:
    return [n.title for n in desk.app._notifications]


def slow_desk(clock: FakeClock, tmp_path: Path) -> Desk:
    """The desk of test_claim_lost_advice with the engine's own retries of a cancel that
    failed (0.25 + 0.5 + 1 + 2 s): longer than `slow_command_s` (2 s) if they go."""
    desk = new_desk(clock, tmp_path)
    desk.session.engine.retry_delays = RETRY_DELAYS_S
    return desk


async def answered(desk: Desk, pilot: Pilot[None], title: str) -> None:
    """Frames on the real loop until a toast titled `title` is up, then 2.5 s more
    (past `slow_command_s`: a "still going" toast would be up by then)."""
    await frames_until(desk.app, pilot, lambda: title in titles(desk))
    until = time.monotonic() + 2.5
    while time.monotonic() < until:
        desk.app.frame()
        await pilot.pause(0.05)


async def test_cancel_all_says_which_orders_it_will_not_cancel_and_does_not_wait_for_them(
    tmp_path: Path, clock: FakeClock
) -> None:
    desk = slow_desk(clock, tmp_path)
    app = desk.app
    async with app.run_test(size=(120, 36), notifications=True) as pilot:
        await desk.start(pilot)
        await lost_desk(desk, pilot)
        app.clear_notifications()

        await pilot.press("ctrl+x")
        await frames_until(app, pilot, lambda: isinstance(app.screen, ConfirmScreen))
        dialog = app.screen
        assert isinstance(dialog, ConfirmScreen)
        assert dialog.body == (
            "0 of the 2 working order(s) will be cancelled: those of the brokers this desk drives."
        )
        assert dialog.noted == NOT_HERE
        note = str(dialog.query_one("#dialog-note", Static).render())
        assert " ".join(note.split()) == NOT_HERE

        began = time.monotonic()
        await pilot.press("y")
        title = "cancel all: 2 NOT cancelled: driven elsewhere"
        await answered(desk, pilot, title)
        # Nothing was sent to the broker this desk lost: no retries to wait for.
        assert time.monotonic() - began < 2.5 + 1.5
        assert "cancel all: still going" not in titles(desk), titles(desk)
        (said,) = toasts(desk, title)
        assert said == (
            "cancelled 0 order(s). 2 NOT cancelled, refused on this desk: 00000601, 00000602 "
            f"(broker paper is driven by {DRIVER} now, this desk lost its claim on it). This "
            "desk can cancel none of them: cancel them from that desk, or, if it no longer "
            "runs, restart this one: it takes the broker back."
        )
        assert "still working" not in said
        await desk.session.close()


async def test_the_kill_switch_says_the_orders_it_will_not_cancel_and_waits_for_none(
    tmp_path: Path, clock: FakeClock
) -> None:
    """The kill switch's cancels of a broker this desk lost are the engine's (retried
    until they fail): the dialog says before the answer that those orders are not
    cancelled here, and no "still going" toast waits for them."""
    desk = slow_desk(clock, tmp_path)
    app = desk.app
    async with app.run_test(size=(120, 36), notifications=True) as pilot:
        await desk.start(pilot)
        await lost_desk(desk, pilot)
        app.clear_notifications()

        await pilot.press("ctrl+backslash")
        await frames_until(app, pilot, lambda: isinstance(app.screen, ConfirmScreen))
        dialog = app.screen
        assert isinstance(dialog, ConfirmScreen)
        assert dialog.noted == NOT_HERE
        await pilot.press("y")
        await answered(desk, pilot, "kill switch: 2 NOT cancelled: driven elsewhere")
        assert not [t for t in titles(desk) if "still going" in t], titles(desk)
        await desk.session.close()


async def test_the_quit_dialog_warns_that_cancel_and_quit_leaves_those_orders(
    tmp_path: Path, clock: FakeClock
) -> None:
    desk = new_desk(clock, tmp_path)
    app = desk.app
    async with app.run_test(size=(120, 36), notifications=True) as pilot:
        await desk.start(pilot)
        await lost_desk(desk, pilot)

        await pilot.press("q")
        await frames_until(app, pilot, lambda: isinstance(app.screen, QuitScreen))
        dialog = app.screen
        assert isinstance(dialog, QuitScreen)
        note = dialog.query_one("#dialog-note", Static)
        assert note.display
        assert " ".join(str(note.render()).split()) == f"C (shift+c): {NOT_HERE}"
        await pilot.press("escape")
        await desk.session.close()


async def test_health_no_longer_names_a_desk_that_quit_after_taking_the_broker(
    tmp_path: Path, clock: FakeClock
) -> None:
    """The desk that took `paper` quits: it releases its claim (its key, read, is
    free). This desk's Health said `driven by desk
    trading-host-2 pid 4242, not this desk` for as long as it ran; now it says the
    claim is free and what to do, a toast says so once, and a cancel refused there
    says to restart this desk, not to cancel from a desk that is gone."""
    desk = new_desk(clock, tmp_path)
    app, session = desk.app, desk.session
    async with app.run_test(size=(120, 36), notifications=True) as pilot:
        await desk.start(pilot)
        await lost_desk(desk, pilot)
        health = app.screen.query_one(HealthPane)

        def broker_line() -> str:
            text = health.text.plain.replace("\n  ", " ")
            return next(part for part in text.split("\n") if part.startswith("paper/main"))

        assert f"driven by {DRIVER}" in broker_line()
        app.clear_notifications()

        bus = session.bus
        assert await bus.release(bus.layout.claim("paper"), OTHER.model_dump_json())
        await frames_until(app, pilot, lambda: "claim free" in broker_line())
        line = broker_line()
        left = session.claims.lost["paper"].left
        assert re.fullmatch(rf"{LEFT_CLAIM} \d\d:\d\d:\d\d UTC", left), left
        assert DRIVER not in line.replace(f"{DRIVER} {left}", ""), line
        assert "not this desk" not in line, line
        assert (
            f"claim free as far as this desk knows ({DRIVER} {left}): restart "
            "this desk to take the broker back (claim lost)"
        ) in line, line
        # The claims line's LOST says it too (its frame is the session's).
        claims = " ".join(health.text.plain.split())
        assert (
            f"({OTHER.describe()}, which {left}: its claim is free as far as this desk knows)"
        ) in claims, claims
        (told,) = toasts(desk, "Claim on paper free")
        assert told.startswith(f"{DRIVER}, which took broker paper from this desk, {left}")
        assert "restart this desk to take the broker back" in told
        for _ in range(5):  # said once
            app.frame()
            await pilot.pause()
        assert len(toasts(desk, "Claim on paper free")) == 1

        app.clear_notifications()
        await pilot.press("3", "home", "c")
        await frames_until(app, pilot, lambda: bool(toasts(desk, "Cancel refused")))
        (said,) = toasts(desk, "Cancel refused")
        assert "driven by no desk now as far as this desk knows" in said, said
        assert "restart this desk: it takes the broker back, then cancel it from here" in said
        assert "cancel it from that desk" not in said, said
        assert {FIRST, SECOND} <= {o.client_order_id for o in session.engine.oms.working()}
        await desk.session.close()


@pytest.mark.redis
async def test_a_change_refused_for_a_lapsed_claim_is_not_titled_a_risk_refusal(
    tmp_path: Path, clock: FakeClock
) -> None:
    """The modify dialog open while Redis refuses the claims' renewals (out of memory)
    past their lapse: the change is refused under `claim_lapsed`, which is not a risk
    limit. It was toasted "Modify refused by risk"."""
    with RedisServer() as server:
        base = make_settings()
        settings = Settings(brokers=base.brokers, engine={"claim_ttl_s": 1.0})
        options = BusOptions(prefix="t-claims-modify", block_ms=50, epoch_check_s=0.1)
        session = Session(settings, bus=create_bus(server.url, options), clock=clock.ns)
        app = quiet_app(session, clock, tmp_path / "state.json")
        desk = Desk(app, session, clock)
        raw = Redis.from_url(server.url)
        try:
            async with app.run_test(size=(120, 36), notifications=True) as pilot:
                await desk.start(pilot)
                await session.engine.submit(limit_buy(FIRST, "BTCUSDT.PAPER", "0.01", "63500.00"))
                blotter = app.screen.query_one(Blotter)
                await frames_until(app, pilot, lambda: FIRST in set(blotter.row_keys))
                await pilot.press("3", "home", "m")
                await frames_until(app, pilot, lambda: isinstance(app.screen, ModifyScreen))
                app.screen.query_one("#m-limit_price", Input).value = "63000.00"
                await raw.config_set("maxmemory", 1)
                await frames_until(app, pilot, lambda: "Claims not renewed" in titles(desk))
                await pilot.press("enter")
                await frames_until(
                    app, pilot, lambda: any(t.startswith("Modify") for t in titles(desk))
                )
                modify = [t for t in titles(desk) if t.startswith("Modify")]
                assert modify == ["Modify refused"], modify
                (said,) = toasts(desk, "Modify refused")
                assert said.startswith("claim_lapsed: "), said
                assert "could not renew its claim on its brokers" in said
                await raw.config_set("maxmemory", 0)
                await session.close()
        finally:
            await raw.config_set("maxmemory", 0)
            await raw.aclose()
