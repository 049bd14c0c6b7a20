"""ctrl+x and the kill switch tell the trader what they did: cancelled, still working
and why (an error toast while anything is left)."""

from __future__ import annotations

import asyncio
from decimal import Decimal

from textual.pilot import Pilot

from silvertine_tui.domain import OrderRequest, OrderType, Side, TradingState
from silvertine_tui.domain.ids import short_id
from silvertine_tui.ui.widgets.event_log import EventLog

from .conftest import Desk, make_settings

STILL_GOING = "kill switch: still going"


async def two_resting_orders(desk: Desk) -> list[str]:
    ids = []
    for price in ("63000.00", "63500.00"):
        ids.append(
            await desk.session.engine.submit(
                OrderRequest(
                    broker="paper",
                    account="main",
                    instrument="BTCUSDT.PAPER",
                    side=Side.BUY,
                    order_type=OrderType.LIMIT,
                    quantity=Decimal("0.01"),
                    limit_price=Decimal(price),
                )
            )
        )
    return ids


async def test_kill_switch_toast_says_what_was_cancelled(make_desk) -> None:
    desk = make_desk()
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 1)
        await two_resting_orders(desk)
        await desk.quiet(pilot)
        await pilot.press("ctrl+backslash")
        await pilot.pause()
        await pilot.press("y")
        await desk.settle(pilot)
        toasts = [(n.title, n.message, n.severity) for n in desk.app._notifications]
        assert ("kill switch", "Trading HALTED; cancelled 2 order(s).", "information") in toasts
        assert STILL_GOING not in [title for title, _, _ in toasts]  # it was not slow
        await desk.session.close()


async def toast_titled(desk: Desk, pilot: Pilot[None], title: str, within_s: float) -> str:
    """The message of the first toast titled `title`, waiting up to `within_s`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within_s
    while True:
        for toast in desk.app._notifications:
            if toast.title == title:
                return toast.message
        assert loop.time() < deadline, f"no {title!r} toast within {within_s} s"
        await pilot.pause(0.02)


async def test_a_kill_switch_the_venue_is_slow_to_confirm_says_it_is_still_going(
    make_desk,
) -> None:
    """A venue slow to confirm the cancels (here 2.5 s: one not answering holds them for
    its timeouts) left the trader with HALTED and nothing else to read until the report:
    the desk says it is still waiting, and on what, then reports."""
    latency = {"enabled": True, "ack_ms": 0, "fill_ms": 0, "cancel_ms": 2500, "jitter_ms": 0}
    desk = make_desk(settings=make_settings(paper={"latency": latency}))
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 1)
        desk.app.desk.slow_command_s = 0.2
        await two_resting_orders(desk)
        await desk.quiet(pilot)
        await pilot.press("ctrl+backslash")
        await pilot.pause()
        await pilot.press("y")
        said = await toast_titled(desk, pilot, STILL_GOING, within_s=1.0)
        assert said == (
            "Waiting for the venues to answer: 2 order(s) still working (paper/main). "
            "The report follows when they do."
        )
        assert "kill switch" not in [n.title for n in desk.app._notifications]  # not yet
        report = await toast_titled(desk, pilot, "kill switch", within_s=8.0)
        assert report == "Trading HALTED; cancelled 2 order(s)."
        assert [n.title for n in desk.app._notifications].count(STILL_GOING) == 1
        await desk.session.close()


async def test_cancel_all_toast_names_what_is_still_working(make_desk) -> None:
    desk = make_desk()
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 1)
        engine = desk.session.engine
        engine.retry_delays = (0.0,)
        first, second = await two_resting_orders(desk)
        await desk.settle(pilot)
        await desk.broker.drop_link()
        await desk.quiet(pilot)
        await pilot.press("ctrl+x")
        await pilot.pause()
        await pilot.press("y")
        await desk.settle(pilot)
        (toast,) = [n for n in desk.app._notifications if n.title.startswith("cancel all")]
        assert toast.title == "cancel all: NOT everything cancelled"
        assert toast.severity == "error"
        assert "2 still working" in toast.message
        # (orders still working for one reason are named by their short ids)
        assert short_id(first) in toast.message
        assert short_id(second) in toast.message
        assert "NotConnected" in toast.message
        assert engine.gate.state is TradingState.ACTIVE
        await desk.session.close()


async def test_at_80x24_a_report_cut_to_two_lines_is_whole_in_the_log(make_desk) -> None:
    """At one pane at a time a toast shows two lines: the report of a cancel all that
    left orders working was cut after its first, mid-word, and expired. Its whole text
    is a line of the Log pane, read back from the journal (a log entry naming this desk,
    so a restart and a watching desk have it too; on this desk it reads as before,
    without the desk's name), once: the toast adds no line of its
    own, and the entry read back is not toasted again; the broker's outage (read from
    the bus, a line of its own already) is not written twice."""
    desk = make_desk()
    async with desk.app.run_test(size=(80, 24)) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 1)
        desk.session.engine.retry_delays = (0.0,)
        first, second = await two_resting_orders(desk)
        await desk.settle(pilot)
        await desk.broker.drop_link()
        await desk.quiet(pilot)
        desk.app.notify("trading is already ACTIVE", timeout=2)  # untitled: a toast only
        await pilot.press("ctrl+x")
        await pilot.pause()
        await pilot.press("y")
        await desk.settle(pilot)
        (toast,) = [n for n in desk.app._notifications if n.title.startswith("cancel all")]
        assert not [line for line in desk.app.model.log if line.stream == "desk"]
        reports = [line for line in desk.app.model.log if "cancel all" in line.text]
        assert [(n.stream, n.text, n.line_kind) for n in reports] == [
            (
                "health",
                f"cancel all (NOT everything cancelled): {toast.message}",
                "error",
            )
        ]
        assert short_id(first) in reports[0].text
        assert short_id(second) in reports[0].text
        # Read back, it is not a second toast ("Error") on the desk that made it.
        assert [n.title for n in desk.app._notifications if toast.message in n.message] == [
            toast.title
        ]
        outage = [line for line in desk.app.model.log if "paper/main DISCONNECTED" in line.text]
        assert len(outage) == 1  # the health event's line; its toast adds none
        await pilot.press("7")  # the Log pane, whole screen at this size
        await desk.settle(pilot)
        log = desk.app.screen.query_one(EventLog)
        shown = "\n".join(log.render_line(y).text for y in range(log.size.height))
        assert "NOT everything cancelled" in " ".join(shown.split())  # (wrapped)
        await desk.session.close()
