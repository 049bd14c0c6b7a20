"""What a cancel all, kill switch or reduce only did is journaled, as a log entry naming
the desk: before, it was said only in a toast and the desk's own Log line of it, so a
restarted desk's Log (read back from the streams) and a watching desk never had it."""

from __future__ import annotations

from silvertine_tui.brokers import OrderRejected
from silvertine_tui.domain import TradingState
from silvertine_tui.engine.commands import (
    CancelAll,
    CancelAllDone,
    Kill,
    KillDone,
    PlaceOrder,
    SetTradingState,
)
from silvertine_tui.engine.core import TradingEngine
from silvertine_tui.events import Log, LogEvent, LogLevel
from silvertine_tui.events.payloads import REPORT_DESK, REPORT_OF

from .test_commands import make, order, sync


async def reports(engine: TradingEngine) -> list[Log]:
    """The journaled reports, oldest first (log entries of the health stream)."""
    entries = await engine.bus.read_last(engine.bus.layout.health, 1_000)
    return [
        e.event.payload
        for e in entries
        if isinstance(e.event, LogEvent) and REPORT_OF in e.event.payload.fields
    ]


async def test_a_kill_switchs_report_is_journaled_naming_the_desk() -> None:
    gateway, engine, _ = await make()
    engine.desk_name = engine.desk_id = "desk host-a pid 41"
    await gateway.send(PlaceOrder(request=order()))
    await sync(engine)
    outcome = await gateway.send(Kill(reason="drill"))
    assert isinstance(outcome, KillDone)
    assert outcome.journaled
    [said] = await reports(engine)
    assert said.level is LogLevel.INFO
    assert said.fields[REPORT_OF] == "kill switch"
    assert said.fields[REPORT_DESK] == "desk host-a pid 41"
    assert said.message == (f"desk host-a pid 41, kill switch: {outcome.report.summary()}")
    assert "Trading HALTED; cancelled 1 order(s)" in said.message


async def test_a_cancel_all_that_left_an_order_working_is_an_error_with_why() -> None:
    gateway, engine, (venue,) = await make()
    await gateway.send(PlaceOrder(request=order()))
    await sync(engine)
    venue.cancel_error = OrderRejected("venue busy")
    outcome = await gateway.send(CancelAll(broker="v0"))
    assert isinstance(outcome, CancelAllDone)
    assert outcome.journaled
    assert not outcome.report.ok
    [said] = await reports(engine)
    # An ERROR: toasted on the other desks that read it (this desk's own toast said it).
    assert said.level is LogLevel.ERROR
    assert said.fields[REPORT_DESK] == engine.desk_id
    assert said.message.startswith(f"this desk, cancel all of v0 ({outcome.report.headline()}): ")
    assert "c-1 (OrderRejected: venue busy)" in said.message


async def test_reduce_only_is_journaled_and_a_report_redis_refuses_is_not_claimed() -> None:
    gateway, engine, _ = await make()
    outcome = await gateway.send(SetTradingState(state=TradingState.REDUCE_ONLY))
    assert isinstance(outcome, CancelAllDone)
    assert outcome.journaled
    [said] = await reports(engine)
    assert (
        said.message == "this desk, reduce only: cancelled 0 order(s) that would add to a position."
    )
    # Redis refusing it: the outcome says so, and the desk's toast keeps its own line.
    engine.bus.refuse.add("log")  # type: ignore[attr-defined]
    outcome = await gateway.send(CancelAll())
    assert isinstance(outcome, CancelAllDone)
    assert not outcome.journaled
    assert len(await reports(engine)) == 1
