"""The ticket during a Redis outage. An order sent from it that the journal does not
show yet: its preview's position is not said as fact (a buy filled with Redis killed
read `F9 again: ... pos 2->3` over a position of 3: s4_fill_down), and once the bus is
found lost (seconds after a Redis that stopped answering: SIGSTOP) while the order is
not in Orders, its "sent" says BUS DOWN (it read `sent cft0lqxw: BUY 1 AAPL.PAPER` for
20 s while Orders did not list it: s2b_8s, s2b_18s)."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from pathlib import Path

import pytest
from textual.pilot import Pilot

from silvertine_tui.bus import BusOptions, create_bus
from silvertine_tui.engine import Session
from silvertine_tui.ui.format import short_id
from silvertine_tui.ui.widgets.text import TextBlock
from silvertine_tui.ui.widgets.ticket import Ticket
from tests.support.redis_server import RedisServer

from .conftest import Desk, FakeClock, make_settings
from .test_fill_line import header_text
from .test_health_bus import frames_until, redis_desk
from .test_projection_rebuild import quiet_app
from .test_trading_keys import open_buy_ticket, type_into

ETH = "ETHUSDT.PAPER"
BUS_DOWN = "; BUS DOWN: shown when the bus is back"


def texts(ticket: Ticket) -> tuple[str, str]:
    """The status beside Send, and the preview's first line (the quote's age follows)."""
    return (
        ticket.query_one("#t-status", TextBlock).text.plain,
        ticket.query_one("#t-preview", TextBlock).text.plain.split("\n")[0],
    )


async def seconds_until(desk: Desk, pilot: Pilot[None], done: Callable[[], bool]) -> None:
    """Frames on the real loop, the desk clock a second on at each (what the desk runs
    once a second runs), until `done` (15 s at most: a stopped Redis is found out by a
    timeout)."""
    for _ in range(150):
        desk.clock.advance(1.0)
        await frames_until(desk.app, pilot, lambda: True)
        if done():
            return
        await pilot.pause(0.1)
    raise AssertionError("timed out")


@pytest.mark.redis
async def test_an_order_not_shown_yet_is_said_when_the_bus_is_found_lost(
    tmp_path: Path, clock: FakeClock
) -> None:
    with RedisServer(persistence=True) as server:
        options = BusOptions(prefix="t-tkt-stop", block_ms=50, epoch_check_s=0.1)
        settings = make_settings()
        # Claims that outlast the stop on a loaded machine: lapsed, the ticket refuses
        # (NOT SENT, no preview), which is not what is looked at here.
        settings = settings.model_copy(
            update={"engine": settings.engine.model_copy(update={"claim_ttl_s": 120.0})}
        )
        session = Session(settings, bus=create_bus(server.url, options), clock=clock.ns)
        desk = Desk(quiet_app(session, clock, tmp_path / "state.json"), session, clock)
        app, session = desk.app, desk.session
        async with app.run_test(size=(120, 36), notifications=True) as pilot:
            await desk.start(pilot)
            await desk.step(pilot, 1)
            ticket = await open_buy_ticket(desk, pilot, ETH)
            await type_into(pilot, "1")
            assert server.pid is not None
            os.kill(server.pid, signal.SIGSTOP)  # Redis stops answering, connections up
            try:
                await pilot.press("f9")
                await frames_until(app, pilot, lambda: texts(ticket)[0].startswith("sent "))
                sent_id = ticket._sent_id
                assert session.projection.order(sent_id) is None
                status, preview = texts(ticket)
                # The position before the order: not said as fact.
                assert preview.endswith(
                    f"pos 0->1 (before {short_id(sent_id)} sent, not yet shown)"
                ), preview
                # Found lost seconds later (unless the answer itself waited for the
                # timeout that finds it, on a loaded machine): the order is still not
                # in Orders, and the "sent" says so.
                sent = status.removesuffix(BUS_DOWN)
                await seconds_until(desk, pilot, lambda: "BUS DOWN" in header_text(desk))
                await seconds_until(desk, pilot, lambda: texts(ticket)[0].endswith(BUS_DOWN))
                assert texts(ticket)[0] == f"{sent}{BUS_DOWN}"
                assert session.projection.order(sent_id) is None
            finally:
                os.kill(server.pid, signal.SIGCONT)
            await seconds_until(desk, pilot, lambda: session.projection.order(sent_id) is not None)
            await seconds_until(
                desk,
                pilot,
                lambda: texts(ticket)[0] == f"{sent}; the bus is back: it shows in Orders",
            )
            await seconds_until(desk, pilot, lambda: "not yet shown" not in texts(ticket)[1])
            assert texts(ticket)[1].endswith("pos 1->2")
            await session.close()


@pytest.mark.redis
async def test_a_fill_with_the_bus_killed_leaves_the_preview_of_before(
    tmp_path: Path, clock: FakeClock
) -> None:
    with RedisServer(persistence=True) as server:
        options = BusOptions(prefix="t-tkt-kill", block_ms=50, epoch_check_s=0.1)
        desk = redis_desk(create_bus(server.url, options), clock, tmp_path)
        app, session = desk.app, desk.session
        async with app.run_test(size=(120, 36), notifications=True) as pilot:
            await desk.start(pilot)
            await desk.step(pilot, 1)
            ticket = await open_buy_ticket(desk, pilot, ETH)
            await type_into(pilot, "1")
            await server.akill()
            await frames_until(app, pilot, lambda: "BUS DOWN" in header_text(desk))
            await pilot.press("f9")
            await frames_until(app, pilot, lambda: texts(ticket)[0].endswith(BUS_DOWN))
            sent_id = ticket._sent_id
            # The venue filled it; the journal has not said so.
            assert session.projection.position("paper", "main", ETH) == 0
            preview = texts(ticket)[1]
            assert preview.startswith("F9 again: ")
            assert preview.endswith(f"pos 0->1 (before {short_id(sent_id)} sent, not yet shown)")

            await server.arestart()
            await seconds_until(desk, pilot, lambda: "not yet shown" not in texts(ticket)[1])
            assert session.projection.position("paper", "main", ETH) == 1
            assert texts(ticket)[1].endswith("pos 1->2")
            await session.close()
