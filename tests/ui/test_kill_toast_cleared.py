"""The kill switch's toasts go once what they say is over. A chaos drill pulled the kill
switch with the venue unreachable: `kill switch: NOT everything cancelled` ("Trading
HALTED; ... 2 still working"), an error toast of 60 s. The trader resumed: the toast
stayed ~40 s more while the header read ACTIVE. Now leaving HALTED (a resume here or on
another desk) takes the kill switch's toasts off the screen, and so does a later kill
that cancels everything (the earlier one's failure is over), every other toast left
as it is. Their lines stay in the Log."""

from __future__ import annotations

from textual.pilot import Pilot

from silvertine_tui.domain import TradingState
from silvertine_tui.events import Log, LogEvent, LogLevel, Risk, RiskAction, RiskEvent
from silvertine_tui.events.payloads import MetricValue

from .conftest import Desk
from .test_cancel_reports import two_resting_orders

PARTIAL = "kill switch: NOT everything cancelled"
OTHER = ("Something else", "a toast of its own, not the kill switch's")


def titles(desk: Desk) -> list[str]:
    return [n.title for n in desk.app._notifications]


async def kill_with_the_venue_down(desk: Desk, pilot: Pilot[None]) -> None:
    """Two resting orders, the venue's link dropped, the kill switch pulled: it halts
    and leaves both working, said in an error toast."""
    await desk.start(pilot)
    await desk.step(pilot, 1)
    desk.session.engine.retry_delays = (0.0,)
    await two_resting_orders(desk)
    await desk.settle(pilot)
    await desk.broker.drop_link()
    await desk.quiet(pilot)
    desk.app.notify(OTHER[1], title=OTHER[0], severity="warning")
    await pilot.press("ctrl+backslash")
    await pilot.pause()
    await pilot.press("y")
    await desk.settle(pilot)
    (toast,) = [n for n in desk.app._notifications if n.title == PARTIAL]
    assert toast.severity == "error"
    assert toast.message.startswith("Trading HALTED; cancelled 0 order(s). 2 still working")
    assert desk.app.desk.view.trading_state is TradingState.HALTED
    assert OTHER[0] in titles(desk)


async def test_a_resume_takes_the_kill_switchs_toasts_away_and_leaves_the_others(
    make_desk,
) -> None:
    desk: Desk = make_desk()
    async with desk.app.run_test(size=(120, 36), notifications=True) as pilot:
        await kill_with_the_venue_down(desk, pilot)
        await pilot.press("ctrl+r")
        await pilot.pause()
        await pilot.press("y")
        await desk.settle(pilot)
        assert desk.app.desk.view.trading_state is TradingState.ACTIVE
        await desk.settle(pilot)  # the next frame
        assert PARTIAL not in titles(desk)
        assert not [t for t in titles(desk) if t.casefold().startswith("kill switch")]
        assert OTHER[0] in titles(desk)  # other toasts stay
        # The record: the report's line, read back from the journal.
        said = f"{PARTIAL.replace(': ', ' (', 1)}): Trading HALTED"
        assert any(line.text.startswith(said) for line in desk.app.model.log)
        await desk.session.close()


async def test_the_venue_back_cancels_what_the_kill_left_and_its_toast_goes(
    make_desk,
) -> None:
    """The venue back, trading still HALTED: the kill's cancels it could not take are
    made (engine `cancel_kill_owed`), said as the kill's follow-up ("kill switch:
    confirmed"), and its "NOT everything cancelled" toast goes; a later kill, with
    nothing left to cancel, takes the earlier kill toasts away and leaves its own."""
    desk: Desk = make_desk()
    async with desk.app.run_test(size=(120, 36), notifications=True) as pilot:
        await kill_with_the_venue_down(desk, pilot)
        await desk.broker.restore_link()
        await desk.settle(pilot)
        assert desk.session.engine.oms.working() == []
        assert PARTIAL not in titles(desk)
        assert "kill switch: confirmed" in titles(desk)
        await pilot.press("ctrl+backslash")
        await pilot.pause()
        await pilot.press("y")
        await desk.settle(pilot)
        toasts = [(n.title, n.message, n.severity) for n in desk.app._notifications]
        kills = [t for t in toasts if t[0].casefold().startswith("kill switch")]
        assert kills == [("kill switch", "Trading HALTED; cancelled 0 order(s).", "information")]
        assert OTHER[0] in titles(desk)
        assert desk.app.desk.view.trading_state is TradingState.HALTED
        await desk.session.close()


async def test_a_kill_that_fails_again_leaves_the_earlier_toast(make_desk) -> None:
    """A second kill that also leaves orders working takes nothing away: both reports
    are of a kill switch that did not cancel everything."""
    desk: Desk = make_desk()
    async with desk.app.run_test(size=(120, 36), notifications=True) as pilot:
        await kill_with_the_venue_down(desk, pilot)
        await pilot.press("ctrl+backslash")
        await pilot.pause()
        await pilot.press("y")
        await desk.settle(pilot)
        assert titles(desk).count(PARTIAL) == 2
        await desk.session.close()


async def test_another_desks_resume_takes_its_kill_toast_away(make_desk) -> None:
    """Another desk's KILL is a toast here (`KILL SWITCH`, "HALTED"); its RESUME, read
    later, ends it: the toast goes with the HALTED header."""
    desk: Desk = make_desk()
    async with desk.app.run_test(size=(120, 36), notifications=True) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 1)
        desk.app.notify(OTHER[1], title=OTHER[0], severity="warning")
        session = desk.session
        for action, state, message in (
            (RiskAction.KILL, TradingState.HALTED, "kill switch (UI) by desk other pid 1"),
            (RiskAction.RESUME, TradingState.ACTIVE, "trading resumed by desk other pid 1"),
        ):
            await session.bus.publish(
                RiskEvent.create(
                    "engine",
                    Risk(action=action, trading_state=state, message=message),
                    ts=desk.clock.ns(),
                )
            )
            await desk.step(pilot, 1)
            await desk.settle(pilot)
            assert desk.app.desk.view.trading_state is state
            if state is TradingState.HALTED:
                assert "KILL SWITCH" in titles(desk)
        assert "KILL SWITCH" not in titles(desk)
        assert OTHER[0] in titles(desk)
        await session.close()


async def test_a_kill_confirmed_later_takes_its_failed_toast_away(make_desk) -> None:
    """A kill whose cancels the venue carried out only after its report was said (a
    TWS frozen as it went): the engine's follow-up line says so (engine/cancels.py
    `_follow`, its fields on the bus). Its "NOT everything cancelled" toast goes at
    once, an information toast says what was confirmed, other toasts stay; it stayed its
    60 s though everything had been cancelled."""
    desk: Desk = make_desk()
    async with desk.app.run_test(size=(120, 36), notifications=True) as pilot:
        await kill_with_the_venue_down(desk, pilot)
        said = "kill switch: all 2 order(s) now cancelled at paper/main."
        fields: dict[str, MetricValue] = {
            "cancel_follow_up": "paper/main",
            "still_working": 0,
            "of": "kill switch",
        }
        await desk.session.bus.publish(
            LogEvent.create("engine", Log(level=LogLevel.WARNING, message=said, fields=fields))
        )
        await desk.settle(pilot)
        await desk.settle(pilot)  # the next frame
        assert PARTIAL not in titles(desk)
        confirmed = [n for n in desk.app._notifications if n.title == "kill switch: confirmed"]
        assert [n.message for n in confirmed] == [said]
        assert confirmed[0].severity == "information"
        assert OTHER[0] in titles(desk)
        assert desk.app.desk.view.trading_state is TradingState.HALTED  # (still halted)
        await desk.session.close()


async def test_a_kill_follow_up_finding_orders_still_working_is_an_error_toast(
    make_desk,
) -> None:
    desk: Desk = make_desk()
    async with desk.app.run_test(size=(120, 36), notifications=True) as pilot:
        await kill_with_the_venue_down(desk, pilot)
        said = "kill switch: 1 order(s) still working at paper/main after its cancels"
        fields: dict[str, MetricValue] = {
            "cancel_follow_up": "paper/main",
            "still_working": 1,
            "of": "kill switch",
        }
        await desk.session.bus.publish(
            LogEvent.create("engine", Log(level=LogLevel.ERROR, message=said, fields=fields))
        )
        await desk.settle(pilot)
        await desk.settle(pilot)
        assert PARTIAL in titles(desk)  # what it said still holds
        errors = [n for n in desk.app._notifications if n.message == said]
        assert [n.severity for n in errors] == ["error"]
        await desk.session.close()
