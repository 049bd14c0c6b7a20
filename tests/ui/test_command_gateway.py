"""Every action leaving the desk goes through the one command gateway, and the desk
shows whatever outcome comes back, whoever produced it.

The first test puts a gateway that carries each command and outcome through JSON (as a
stream would) in front of the engine: the whole keyboard flow still works and the
commands it sent are the ones the trader asked for. The second answers from a script,
with no engine behind it: the desk shows the refusals and failures as it always did.
"""

from __future__ import annotations

from decimal import Decimal

from textual.widgets import Input

from silvertine_tui.domain import OrderStatus, TradingState
from silvertine_tui.engine.cancels import CancelReport, KillReport
from silvertine_tui.engine.commands import (
    COMMANDS,
    OUTCOMES,
    CancelAll,
    Command,
    EngineGateway,
    Failed,
    Kill,
    KillDone,
    ModifyOrder,
    Outcome,
    PlaceOrder,
    Problem,
    Refused,
    Resume,
    SetTradingState,
)
from silvertine_tui.ui.screens.modify import ModifyScreen
from silvertine_tui.ui.screens.quit import QuitScreen
from silvertine_tui.ui.widgets.text import TextBlock

from .conftest import Desk
from .test_trading_keys import select_quote, ticket_of


class OverTheWire:
    """The engine behind a wire: each command and outcome goes through JSON."""

    def __init__(self, inner: EngineGateway) -> None:
        self.inner = inner
        self.sent: list[Command] = []

    async def send(self, command: Command) -> Outcome:
        carried = COMMANDS.validate_json(COMMANDS.dump_json(command))
        self.sent.append(carried)
        outcome = await self.inner.send(carried)
        return OUTCOMES.validate_json(OUTCOMES.dump_json(outcome))


class Scripted:
    """Answers each command with the next outcome of a script; no engine behind it."""

    def __init__(self, *outcomes: Outcome) -> None:
        self.outcomes = list(outcomes)
        self.sent: list[Command] = []

    async def send(self, command: Command) -> Outcome:
        self.sent.append(command)
        return self.outcomes.pop(0)


async def send_ticket(desk: Desk, pilot, price: str) -> None:
    await pilot.press("escape", "b")
    ticket = ticket_of(desk)
    ticket.query_one("#t-limit_price", Input).value = price
    ticket.query_one("#t-quantity", Input).value = "0.01"
    await pilot.press("f9")
    await desk.settle(pilot)
    desk.clock.advance(1)


async def confirm(desk: Desk, pilot, key: str) -> None:
    await pilot.press(key)
    await pilot.pause()
    await pilot.press("y")
    await desk.settle(pilot)


async def test_every_action_goes_through_the_gateway_over_the_wire(make_desk) -> None:
    desk = make_desk()
    wire = OverTheWire(EngineGateway(desk.session.engine))
    desk.app.desk.gateway = wire
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 1)
        engine = desk.session.engine
        await select_quote(desk, pilot, "BTCUSDT.PAPER")
        for price in ("63000.00", "63500.00", "62500.00"):
            await send_ticket(desk, pilot, price)
        assert len(engine.oms.working()) == 3

        await pilot.press("escape", "3", "home", "m")
        await pilot.pause()
        assert isinstance(desk.app.screen, ModifyScreen)
        coid = desk.app.screen.view.client_order_id
        desk.app.screen.query_one("#m-limit_price", Input).value = "62000.00"
        await pilot.press("enter")
        await desk.settle(pilot)
        view = engine.oms.get(coid)
        assert view is not None
        assert view.order.limit_price == Decimal("62000.00")

        await pilot.press("c")
        await desk.settle(pilot)
        assert view.order.status is OrderStatus.CANCELED
        await confirm(desk, pilot, "ctrl+x")
        assert engine.oms.working() == []

        desk.app.action_reduce_only()
        await desk.settle(pilot)
        assert engine.gate.state is TradingState.REDUCE_ONLY
        await confirm(desk, pilot, "ctrl+backslash")
        assert engine.gate.state is TradingState.HALTED
        await confirm(desk, pilot, "ctrl+r")
        assert engine.gate.state is TradingState.ACTIVE

        await send_ticket(desk, pilot, "63000.00")
        assert len(engine.oms.working()) == 1
        await pilot.press("escape", "q")  # out of the ticket's fields, then quit
        await pilot.pause()
        assert isinstance(desk.app.screen, QuitScreen)
        await pilot.press("C")  # Cancel & quit (shift+c: `c` cancels one order in Orders)
        for _ in range(200):
            await pilot.pause(0.01)
            if desk.app._exit:
                break
        assert desk.app._exit
        assert engine.oms.working() == []

        assert [c.kind for c in wire.sent] == [
            "place",
            "place",
            "place",
            "modify",
            "cancel",
            "cancel_all",
            "set_trading_state",
            "kill",
            "resume",
            "place",
            "cancel_all",
        ]
        modify = wire.sent[3]
        assert modify == ModifyOrder(client_order_id=coid, limit_price=Decimal("62000.00"))
        # Each carries the state its dialog (or the desk) asked to leave.
        assert wire.sent[6] == SetTradingState(
            state=TradingState.REDUCE_ONLY, leaving=TradingState.ACTIVE
        )
        assert wire.sent[7] == Kill(reason="kill switch (UI)")
        assert wire.sent[8] == Resume(leaving=TradingState.HALTED)
        assert wire.sent[-1] == CancelAll()
        await desk.session.close()


async def test_the_desk_shows_the_outcomes_whoever_answers(make_desk) -> None:
    desk = make_desk()
    still = CancelReport(still_working={"x-1": "BrokerError: venue busy"})
    script = Scripted(
        Refused(
            source="risk",
            reason="max_notional: notional 630.00 USDT > max 100.00",
            problems=(Problem(rule="max_notional", message="notional 630.00 USDT > max 100.00"),),
        ),
        Failed(error="paper/main is not connected", error_kind="NotConnected", retryable=True),
        Failed(error="the gateway's stream is down", error_kind="BusError"),
        KillDone(report=KillReport(still)),
    )
    desk.app.desk.gateway = script
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 1)
        await select_quote(desk, pilot, "BTCUSDT.PAPER")
        ticket = ticket_of(desk)

        await send_ticket(desk, pilot, "63000.00")
        status = ticket.query_one("#t-status", TextBlock).text.plain
        # (its problems stay listed: the ticket's own check no longer writes over them)
        assert status == "NOT SENT: risk rejected"

        await send_ticket(desk, pilot, "63000.00")
        status = ticket.query_one("#t-status", TextBlock).text.plain
        assert status == "REJECTED: why below"
        problems = ticket.query_one("#t-problems", TextBlock).text.plain
        assert problems == "paper/main is not connected [NotConnected]"

        await pilot.press("escape")  # out of the ticket's fields (ctrl+x there cuts)
        await confirm(desk, pilot, "ctrl+x")
        await confirm(desk, pilot, "ctrl+backslash")
        toasts = [(n.title, n.message, n.severity) for n in desk.app._notifications]
        assert ("Order not placed", "paper/main is not connected", "error") in toasts
        assert ("cancel all failed", "the gateway's stream is down", "error") in toasts
        assert (
            "kill switch: NOT everything cancelled",
            KillReport(still).summary(),
            "error",
        ) in toasts
        assert [c.kind for c in script.sent] == ["place", "place", "cancel_all", "kill"]
        assert isinstance(script.sent[0], PlaceOrder)
        assert desk.session.engine.oms.orders == {}  # no engine was behind the gateway
        await desk.session.close()
