"""The command gateway: every action in as a typed command, out as a typed outcome.

Against a real `TradingEngine` on a memory bus with scripted venues: a refusal or an
error comes back as an outcome (never raised), and every command and outcome survives
a JSON round trip, so a later gateway can carry them over a stream.
"""

from __future__ import annotations

import logging
from decimal import Decimal as D
from typing import cast

import pytest
from hypothesis import given
from hypothesis import strategies as st

from silvertine_tui.brokers import BrokerTimeout, OrderRejected
from silvertine_tui.bus import BusError, MemoryBus
from silvertine_tui.config import ExternalBrokerConfig, RiskConfig, RiskLimits
from silvertine_tui.domain import OrderRequest, OrderType, Side, TradingState
from silvertine_tui.engine.cancels import CancelReport, KillReport
from silvertine_tui.engine.commands import (
    COMMANDS,
    OUTCOMES,
    Accepted,
    CancelAll,
    CancelAllDone,
    CancelOrder,
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
from silvertine_tui.engine.core import TradingEngine
from silvertine_tui.engine.recovery import replay_stream
from silvertine_tui.events import EventBase
from tests.fakes.scripted_venue import INSTRUMENT, ScriptedVenue

NO_WAIT = (0.0, 0.0)


class TroubledVenue(ScriptedVenue):
    """Answers orders and cancels the way the test says: a venue reject, a timeout,
    or an error no adapter should raise (a bug)."""

    place_error: Exception | None = None
    cancel_error: Exception | None = None

    async def _submit(self, request: OrderRequest) -> None:
        if self.place_error is not None:
            raise self.place_error
        await super()._submit(request)

    async def _cancel(self, client_order_id: str) -> None:
        if self.cancel_error is not None:
            raise self.cancel_error
        await super()._cancel(client_order_id)


class RefusingBus(MemoryBus):
    """A memory bus that refuses to write the event types the test names."""

    def __init__(self) -> None:
        super().__init__()
        self.refuse: set[str] = set()

    async def publish(self, event: EventBase) -> str | None:
        if event.type in self.refuse:
            raise BusError(f"Redis refused the {event.type} event: it was not journaled.")
        return await super().publish(event)


async def make(
    risk: RiskConfig | None = None, names: tuple[str, ...] = ("v0",)
) -> tuple[EngineGateway, TradingEngine, list[TroubledVenue]]:
    bus = RefusingBus()
    await bus.start()
    venues = [
        TroubledVenue(ExternalBrokerConfig(name=name, type="scripted"), bus) for name in names
    ]
    engine = TradingEngine(bus, venues, risk or RiskConfig(), retry_delays=NO_WAIT)
    for venue in venues:
        await venue.connect()
    await engine.load_instruments()
    return EngineGateway(engine), engine, venues


async def sync(engine: TradingEngine) -> None:
    for name, broker in engine.brokers.items():
        await replay_stream(engine, engine.bus.layout.exec(name, broker.account))
    await replay_stream(engine, engine.bus.layout.risk)


def order(
    broker: str = "v0", cid: str = "c-1", quantity: str = "1", price: str = "10.00"
) -> OrderRequest:
    return OrderRequest(
        client_order_id=cid,
        broker=broker,
        account="main",
        instrument=INSTRUMENT.key,
        side=Side.BUY,
        order_type=OrderType.LIMIT,
        quantity=D(quantity),
        limit_price=D(price),
    )


def roundtrip(outcome: Outcome) -> Outcome:
    back = OUTCOMES.validate_json(OUTCOMES.dump_json(outcome))
    assert back == outcome
    return back


# -- place --------------------------------------------------------------------------------


async def test_a_placed_order_is_accepted_and_reaches_the_venue() -> None:
    gateway, engine, (venue,) = await make()
    outcome = await gateway.send(PlaceOrder(request=order()))
    assert outcome == Accepted(client_order_id="c-1")
    assert venue.sent == ["c-1"]
    await sync(engine)
    assert [v.client_order_id for v in engine.oms.working()] == ["c-1"]


async def test_a_risk_refusal_comes_back_with_its_problems_and_nothing_is_sent() -> None:
    gateway, _, (venue,) = await make(RiskConfig(defaults=RiskLimits(max_quantity=D("5"))))
    outcome = await gateway.send(PlaceOrder(request=order(quantity="7")))
    assert isinstance(outcome, Refused)
    assert outcome.source == "risk"
    assert [p.rule for p in outcome.problems] == ["max_quantity"]
    assert outcome.problems[0].field == ""
    assert "7" in outcome.problems[0].message
    assert "5" in outcome.problems[0].message
    assert outcome.reason.startswith("max_quantity: ")
    assert venue.sent == []
    roundtrip(outcome)


async def test_a_reused_order_id_is_refused_as_duplicate_id() -> None:
    gateway, _, (venue,) = await make()
    assert isinstance(await gateway.send(PlaceOrder(request=order())), Accepted)
    outcome = await gateway.send(PlaceOrder(request=order(price="11.00")))
    assert isinstance(outcome, Refused)
    assert [p.rule for p in outcome.problems] == ["duplicate_id"]
    assert "new ticket" in outcome.problems[0].message
    assert venue.sent == ["c-1"]


async def test_an_invalid_request_is_refused_naming_the_field_and_rule() -> None:
    gateway, _, (venue,) = await make()
    outcome = await gateway.send(PlaceOrder(request=order(price="10.005")))
    assert isinstance(outcome, Refused)
    assert outcome.source == "validation"
    assert [(p.field, p.rule) for p in outcome.problems] == [("limit_price", "tick_size")]
    assert venue.sent == []
    roundtrip(outcome)


async def test_a_venue_reject_is_failed_with_the_error_kind() -> None:
    gateway, _, (venue,) = await make()
    venue.place_error = OrderRejected("venue: price outside the band")
    outcome = await gateway.send(PlaceOrder(request=order()))
    assert outcome == Failed(
        error="venue: price outside the band", error_kind="OrderRejected", retryable=False
    )


async def test_a_timeout_is_failed_and_says_it_may_be_retried() -> None:
    gateway, _, (venue,) = await make()
    venue.place_error = BrokerTimeout("no answer in 5 s")
    outcome = await gateway.send(PlaceOrder(request=order()))
    assert isinstance(outcome, Failed)
    assert outcome.error_kind == "BrokerTimeout"
    assert outcome.retryable


async def test_an_order_for_an_unknown_broker_fails_naming_the_configured_ones() -> None:
    gateway, _, _ = await make()
    outcome = await gateway.send(PlaceOrder(request=order(broker="nope")))
    assert outcome == Failed(error="no broker named 'nope' (configured: v0)", error_kind="KeyError")


# -- modify and cancel ---------------------------------------------------------------------


async def test_modify_is_accepted_and_the_venue_holds_the_new_price() -> None:
    gateway, engine, (venue,) = await make()
    await gateway.send(PlaceOrder(request=order()))
    await sync(engine)
    outcome = await gateway.send(ModifyOrder(client_order_id="c-1", limit_price=D("10.50")))
    assert outcome == Accepted(client_order_id="c-1")
    assert venue.venue_orders["c-1"].limit_price == D("10.50")


async def test_a_modify_the_risk_gate_refuses_is_refused_with_problems() -> None:
    gateway, engine, (venue,) = await make(RiskConfig(defaults=RiskLimits(max_quantity=D("5"))))
    await gateway.send(PlaceOrder(request=order()))
    await sync(engine)
    outcome = await gateway.send(ModifyOrder(client_order_id="c-1", quantity=D("9")))
    assert isinstance(outcome, Refused)
    assert [p.rule for p in outcome.problems] == ["max_quantity"]
    assert venue.venue_orders["c-1"].quantity == D("1")


async def test_modify_and_cancel_of_an_unknown_order_fail_naming_it() -> None:
    gateway, _, _ = await make()
    for command in (
        ModifyOrder(client_order_id="ghost", quantity=D("2")),
        CancelOrder(client_order_id="ghost"),
    ):
        assert await gateway.send(command) == Failed(
            error="unknown order ghost", error_kind="KeyError"
        )


async def test_cancel_is_accepted_and_the_order_leaves_the_venue() -> None:
    gateway, engine, (venue,) = await make()
    await gateway.send(PlaceOrder(request=order()))
    await sync(engine)
    assert await gateway.send(CancelOrder(client_order_id="c-1")) == Accepted(client_order_id="c-1")
    assert venue.venue_orders == {}


async def journaled(engine: TradingEngine, kind: str) -> int:
    """How many events of `kind` the venue's journal holds."""
    entries = await engine.bus.read_last(engine.bus.layout.exec("v0", "main"), 1_000)
    return sum(1 for entry in entries if getattr(entry.event, "type", "") == kind)


async def test_cancel_and_modify_of_a_finished_order_are_refused_and_nothing_is_sent() -> None:
    """The engine knows the order is finished: no cancel request is journaled (it put
    PENDING_CANCEL on a finished order's history) and nothing reaches the venue."""
    gateway, engine, _ = await make()
    await gateway.send(PlaceOrder(request=order()))
    await sync(engine)
    assert await gateway.send(CancelOrder(client_order_id="c-1")) == Accepted(client_order_id="c-1")
    await sync(engine)
    assert await journaled(engine, "order.cancel") == 1
    requests = await journaled(engine, "order.modify")
    for command, what in (
        (CancelOrder(client_order_id="c-1"), "cancel"),
        (ModifyOrder(client_order_id="c-1", limit_price=D("10.50")), "modify"),
    ):
        outcome = await gateway.send(command)
        message = f"order c-1 is CANCELED: nothing to {what}"
        assert outcome == Refused(
            source="order",
            reason=message,
            problems=(Problem(rule="finished", message=message),),
        )
        roundtrip(outcome)
    await sync(engine)
    assert await journaled(engine, "order.cancel") == 1
    assert await journaled(engine, "order.modify") == requests
    view = engine.oms.get("c-1")
    assert view is not None
    assert view.order.status.value == "CANCELED"


async def test_an_unexpected_error_is_failed_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    gateway, engine, (venue,) = await make()
    await gateway.send(PlaceOrder(request=order()))
    await sync(engine)
    venue.cancel_error = RuntimeError("adapter bug: state machine confused")
    with caplog.at_level(logging.ERROR, logger="silvertine_tui.engine.commands"):
        outcome = await gateway.send(CancelOrder(client_order_id="c-1"))
    assert outcome == Failed(error="adapter bug: state machine confused", error_kind="RuntimeError")
    crashed = [r for r in caplog.records if r.getMessage() == "commands.crashed"]
    assert len(crashed) == 1
    assert crashed[0].exc_info is not None


# -- cancel all, kill, trading state ---------------------------------------------------------


async def test_cancel_all_reports_what_it_cancelled_per_broker() -> None:
    gateway, engine, (v0, _v1) = await make(names=("v0", "v1"))
    await gateway.send(PlaceOrder(request=order("v0", "a")))
    await gateway.send(PlaceOrder(request=order("v1", "b")))
    await sync(engine)
    only_v1 = await gateway.send(CancelAll(broker="v1"))
    assert isinstance(only_v1, CancelAllDone)
    assert only_v1.report == CancelReport(cancelled=("b",))
    assert list(v0.venue_orders) == ["a"]
    everything = await gateway.send(CancelAll())
    assert isinstance(everything, CancelAllDone)
    assert everything.report.cancelled == ("a",)
    assert everything.report.ok
    roundtrip(everything)


async def test_cancel_all_names_an_order_the_venue_would_not_cancel() -> None:
    gateway, engine, (venue,) = await make()
    await gateway.send(PlaceOrder(request=order()))
    await sync(engine)
    venue.cancel_error = OrderRejected("venue busy")
    outcome = await gateway.send(CancelAll())
    assert isinstance(outcome, CancelAllDone)
    assert not outcome.report.ok
    assert outcome.report.still_working == {"c-1": "OrderRejected: venue busy"}
    back = roundtrip(outcome)
    assert isinstance(back, CancelAllDone)
    assert back.report.summary() == outcome.report.summary()


async def test_kill_halts_and_reports_and_new_orders_are_then_refused() -> None:
    gateway, engine, (_venue,) = await make()
    await gateway.send(PlaceOrder(request=order()))
    await sync(engine)
    outcome = await gateway.send(Kill(reason="drill"))
    assert isinstance(outcome, KillDone)
    assert isinstance(outcome.report, KillReport)
    assert outcome.report.cancelled == ("c-1",)
    assert outcome.report.ok
    assert engine.gate.state is TradingState.HALTED
    refused = await gateway.send(PlaceOrder(request=order(cid="c-2")))
    assert isinstance(refused, Refused)
    assert "HALTED" in refused.reason
    roundtrip(outcome)


async def test_resume_and_reduce_only_set_the_trading_state() -> None:
    gateway, engine, _ = await make()
    await gateway.send(Kill())
    # Entering REDUCE_ONLY cancels what would add to a position: nothing works after the
    # kill, and the report says so (tests/unit/test_engine_reduce_only.py).
    outcome = await gateway.send(SetTradingState(state=TradingState.REDUCE_ONLY))
    assert outcome == CancelAllDone(
        report=CancelReport(what="that would add to a position"), journaled=True
    )
    assert isinstance(outcome, CancelAllDone)
    assert outcome.report.summary() == "cancelled 0 order(s) that would add to a position."
    assert engine.gate.state is TradingState.REDUCE_ONLY
    assert await gateway.send(Resume()) == Accepted()
    assert engine.gate.state is TradingState.ACTIVE


async def test_a_state_change_confirmed_over_another_state_is_refused() -> None:
    """A dialog asked to leave ACTIVE (or REDUCE_ONLY); another desk's kill switch came
    first. The command carries the state it was confirmed to leave, and is refused:
    it must not lift a kill the trader never saw."""
    gateway, engine, _ = await make()
    await gateway.send(Kill())
    for command in (
        SetTradingState(state=TradingState.REDUCE_ONLY, leaving=TradingState.ACTIVE),
        Resume(leaving=TradingState.REDUCE_ONLY),
    ):
        outcome = await gateway.send(command)
        assert isinstance(outcome, Refused)
        assert outcome.source == "risk"
        assert [p.rule for p in outcome.problems] == ["trading_state_changed"]
        assert outcome.reason.startswith("trading went HALTED while you were asked to leave")
        assert engine.gate.state is TradingState.HALTED
    # Confirmed over the state it is in, it goes.
    assert await gateway.send(Resume(leaving=TradingState.HALTED)) == Accepted()
    assert engine.gate.state is TradingState.ACTIVE


async def test_a_bus_that_refuses_the_resume_is_failed() -> None:
    gateway, engine, _ = await make()
    await gateway.send(Kill())
    cast(RefusingBus, engine.bus).refuse.add("risk")
    outcome = await gateway.send(Resume())
    assert outcome == Failed(
        error="Redis refused the risk event: it was not journaled.", error_kind="BusError"
    )


# -- serialisation -----------------------------------------------------------------------------

EVERY_COMMAND: list[Command] = [
    PlaceOrder(request=order()),
    ModifyOrder(client_order_id="c-1", quantity=D("2.50"), limit_price=D("10.10")),
    ModifyOrder(client_order_id="c-1", stop_price=D("9.9")),
    CancelOrder(client_order_id="c-1"),
    CancelAll(),
    CancelAll(broker="v0", instrument=INSTRUMENT.key),
    Kill(reason="kill switch (UI)"),
    Resume(),
    Resume(leaving=TradingState.HALTED),
    SetTradingState(state=TradingState.REDUCE_ONLY),
    SetTradingState(state=TradingState.REDUCE_ONLY, leaving=TradingState.ACTIVE),
]

EVERY_OUTCOME: list[Outcome] = [
    Accepted(client_order_id="c-1"),
    Accepted(),
    Refused(
        source="risk",
        reason="max_quantity: 7 > max 5",
        problems=(Problem(rule="max_quantity", message="7 > max 5"),),
    ),
    Refused(
        source="validation",
        reason="limit_price: not on the tick",
        problems=(Problem(field="limit_price", rule="tick", message="not on the tick"),),
    ),
    Refused(
        source="order",
        reason="order c-1 is FILLED: nothing to cancel",
        problems=(Problem(rule="finished", message="order c-1 is FILLED: nothing to cancel"),),
    ),
    Failed(error="no answer", error_kind="BrokerTimeout", retryable=True),
    CancelAllDone(report=CancelReport(("a",), ("b",), {"c": "busy"}, ("v1: could not list",))),
    CancelAllDone(report=CancelReport(("a",), what="that would add to a position")),
    KillDone(report=KillReport(CancelReport(cancelled=("a",)), journal_error="bus down")),
]


@pytest.mark.parametrize("command", EVERY_COMMAND, ids=lambda c: c.kind)
def test_every_command_survives_json(command: Command) -> None:
    text = COMMANDS.dump_json(command)
    back = COMMANDS.validate_json(text)
    assert back == command
    assert type(back) is type(command)


@pytest.mark.parametrize("outcome", EVERY_OUTCOME, ids=lambda o: o.kind)
def test_every_outcome_survives_json(outcome: Outcome) -> None:
    back = roundtrip(outcome)
    assert type(back) is type(outcome)


def test_the_round_trips_cover_every_kind() -> None:
    assert {c.kind for c in EVERY_COMMAND} == {
        "place",
        "modify",
        "cancel",
        "cancel_all",
        "kill",
        "resume",
        "set_trading_state",
    }
    assert {o.kind for o in EVERY_OUTCOME} == {
        "accepted",
        "refused",
        "failed",
        "cancel_all_done",
        "kill_done",
    }


prices = st.decimals(min_value=D("0.00000001"), max_value=D("1e12"), places=8)


@given(quantity=st.none() | prices, limit=st.none() | prices, stop=st.none() | prices)
def test_a_modify_keeps_every_decimal_digit_through_json(
    quantity: D | None, limit: D | None, stop: D | None
) -> None:
    command = ModifyOrder(
        client_order_id="c-1", quantity=quantity, limit_price=limit, stop_price=stop
    )
    back = COMMANDS.validate_json(COMMANDS.dump_json(command))
    assert isinstance(back, ModifyOrder)
    for got, sent in (
        (back.quantity, quantity),
        (back.limit_price, limit),
        (back.stop_price, stop),
    ):
        assert got == sent
        assert got is None or (isinstance(got, D) and str(got) == str(sent))
