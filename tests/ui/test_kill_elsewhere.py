"""Desks sharing a bus: another desk's kill switch halts this desk, which cancels its
own working orders and says so (engine `honour_kill`); another desk's risk rejects are
log lines here, this desk's are toasts; an error only the log could tell is a toast."""

from __future__ import annotations

from silvertine_tui.domain import OrderStatus, TradingState
from silvertine_tui.engine.commands import PlaceOrder, Refused
from silvertine_tui.events import Log, LogEvent, LogLevel, Risk, RiskAction, RiskEvent

from .conftest import market_buy, sample_orders
from .test_fill_line import header_text

RESTING = "st000000000000000101"


async def test_a_kill_on_another_desk_cancels_this_desks_orders_and_is_told(make_desk) -> None:
    desk = make_desk()
    async with desk.app.run_test(size=(120, 36), notifications=True) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 2)
        await sample_orders(desk)
        await desk.step(pilot, 2)
        session = desk.session
        assert session.projection.orders[RESTING].order.status is OrderStatus.NEW
        # What another desk's engine journals when its trader pulls the kill switch.
        await session.bus.publish(
            RiskEvent.create(
                "engine",
                Risk(
                    action=RiskAction.KILL,
                    trading_state=TradingState.HALTED,
                    message="kill switch (UI)",
                ),
                ts=desk.clock.ns(),
            )
        )
        for _ in range(20):
            await desk.step(pilot, 1)
            if session.projection.orders[RESTING].order.status is OrderStatus.CANCELED:
                break
        assert session.projection.orders[RESTING].order.status is OrderStatus.CANCELED
        assert session.engine.gate.state is TradingState.HALTED
        await desk.settle(pilot)
        assert "HALTED" in header_text(desk)
        toasts = {(n.title, n.message) for n in desk.app._notifications}
        assert ("KILL SWITCH", "kill switch (UI)") in toasts
        log_lines = [line.text for line in desk.app.model.log]
        name = session.engine.desk_name
        assert name.startswith("desk ")
        assert any(
            f"{name}, after a kill switch on another desk (kill switch (UI)): Trading HALTED; "
            "cancelled 1 order(s)." in text
            for text in log_lines
        ), log_lines[-5:]
        # All cancelled: a warning line, no error toast.
        assert not [n for n in desk.app._notifications if n.title == "Error"]
        await session.close()


async def test_an_error_in_the_log_is_a_toast_a_warning_is_not(make_desk) -> None:
    desk = make_desk()
    async with desk.app.run_test(size=(120, 36), notifications=True) as pilot:
        await desk.start(pilot)
        bus = desk.session.bus
        for level in (LogLevel.WARNING, LogLevel.ERROR):
            await bus.publish(
                LogEvent.create(
                    "engine",
                    Log(level=level, message=f"{level}: 1 order still working"),
                    ts=desk.clock.ns(),
                )
            )
        await desk.step(pilot, 1)
        await desk.settle(pilot)
        errors = [n for n in desk.app._notifications if n.title == "Error"]
        assert [(n.message, n.severity) for n in errors] == [
            ("ERROR: 1 order still working", "error")
        ]
        await desk.session.close()


async def test_a_risk_reject_of_another_desk_is_a_log_line_and_this_desks_a_toast(
    make_desk,
) -> None:
    desk = make_desk()
    async with desk.app.run_test(size=(120, 36), notifications=True) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 1)
        bus = desk.session.bus
        # Another desk on the bus: its gate refused one of its orders.
        await bus.publish(
            RiskEvent.create(
                "engine",
                Risk(
                    action=RiskAction.REJECT,
                    trading_state=TradingState.ACTIVE,
                    rule="max_notional",
                    message="max_notional: notional 2,000,000 > max 1,000,000",
                    client_order_id="st0000000000000other",
                ),
                ts=desk.clock.ns(),
            )
        )
        await desk.step(pilot, 1)
        await desk.settle(pilot)
        assert not [n for n in desk.app._notifications if n.title == "Risk reject"]
        assert any("notional 2,000,000" in line.text for line in desk.app.model.log)

        # This desk's own send, refused by the engine's gate: a toast.
        outcome = await desk.app.desk.send(
            PlaceOrder(request=market_buy("st000000000000000301", "BTCUSDT.PAPER", "900"))
        )
        assert isinstance(outcome, Refused)
        await desk.step(pilot, 1)
        await desk.settle(pilot)
        toasts = [n for n in desk.app._notifications if n.title == "Risk reject"]
        assert len(toasts) == 1
        assert "max_quantity" in toasts[0].message or "max_notional" in toasts[0].message
        await desk.session.close()


async def test_this_desks_own_kill_is_toasted_once_with_its_report(make_desk) -> None:
    """The kill's report is this desk's toast of its own kill; the KILL read back from
    the journal (`... by desk <host> pid <pid>`) was toasted too, after it: at one pane
    at a time only the newest toast shows, and the report ("cancelled 1 order(s)") was
    hidden under it until both expired."""
    desk = make_desk()
    async with desk.app.run_test(size=(80, 24), notifications=True) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 2)
        await sample_orders(desk)
        await desk.step(pilot, 2)
        desk.app.clear_notifications()
        await pilot.press("ctrl+backslash")
        await desk.settle(pilot)
        await pilot.press("y")
        for _ in range(5):
            await desk.step(pilot, 1)
        session = desk.session
        assert session.projection.orders[RESTING].order.status is OrderStatus.CANCELED
        kills = [
            e.event.payload.message
            for e in await session.bus.read(session.bus.layout.risk)
            if isinstance(e.event, RiskEvent) and e.event.payload.action is RiskAction.KILL
        ]
        assert kills == [f"kill switch (UI) by {session.engine.desk_id}"]  # read back
        toasts = [(n.title, n.message) for n in desk.app._notifications]
        assert toasts == [("kill switch", "Trading HALTED; cancelled 1 order(s).")]
        await session.close()


async def test_a_kill_lifted_in_the_same_read_says_trading_is_active_again(make_desk) -> None:
    """Another desk's KILL and the RESUME right after it, read in one batch: the cancels
    the kill switch asked for are made, and the line says the kill was lifted since
    (it said "Trading HALTED" under ACTIVE: cancels with no reason)."""
    desk = make_desk()
    async with desk.app.run_test(size=(120, 36), notifications=True) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 2)
        await sample_orders(desk)
        await desk.step(pilot, 2)
        session = desk.session
        assert session.projection.orders[RESTING].order.status is OrderStatus.NEW
        for action, state, message in (
            (RiskAction.KILL, TradingState.HALTED, "kill switch (UI)"),
            (RiskAction.RESUME, TradingState.ACTIVE, "trading resumed"),
        ):
            await session.bus.publish(
                RiskEvent.create(
                    "engine",
                    Risk(action=action, trading_state=state, message=message),
                    ts=desk.clock.ns(),
                )
            )
        for _ in range(20):
            await desk.step(pilot, 1)
            if session.projection.orders[RESTING].order.status is OrderStatus.CANCELED:
                break
        assert session.projection.orders[RESTING].order.status is OrderStatus.CANCELED
        assert session.engine.gate.state is TradingState.ACTIVE
        await desk.settle(pilot)
        name = session.engine.desk_name
        said = [line.text for line in desk.app.model.log if "kill switch on another" in line.text]
        assert said == [
            f"WARNING {name}, after a kill switch on another desk (kill switch (UI)): lifted since "
            "(trading is ACTIVE); the orders it asked to cancel were cancelled all the "
            "same: cancelled 1 order(s)."
        ], said
        await session.close()
