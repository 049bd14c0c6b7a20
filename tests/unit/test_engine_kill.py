"""The kill switch cannot fail quietly: every working order on every broker is
cancelled (or named, with why it is still working), a failed journal write is retried
and reported, and HALTED holds whatever happens."""

from __future__ import annotations

from collections import Counter
from decimal import Decimal as D

import pytest

from silvertine_tui.brokers import BrokerError
from silvertine_tui.bus import BusError, MemoryBus
from silvertine_tui.config import RiskConfig
from silvertine_tui.domain import OrderRequest, OrderType, Side, TradingState
from silvertine_tui.engine.cancels import KillReport
from silvertine_tui.engine.core import TradingEngine
from silvertine_tui.engine.recovery import replay_stream
from silvertine_tui.engine.risk import RiskRejected
from silvertine_tui.events import EventBase, RiskAction, RiskEvent
from tests.fakes.scripted_venue import INSTRUMENT, ScriptedVenue

NO_WAIT = (0.0, 0.0, 0.0)


class FlakyBus(MemoryBus):
    """A memory bus whose writes of some event types fail (a Redis that refuses them)."""

    def __init__(self) -> None:
        super().__init__()
        self.failures: Counter[str] = Counter()  # event type -> writes still to refuse
        self.refused: Counter[str] = Counter()

    async def publish(self, event: EventBase) -> str | None:
        if self.failures[event.type] > 0:
            self.failures[event.type] -= 1
            self.refused[event.type] += 1
            raise BusError(f"Redis refused the {event.type} event: it was not journaled.")
        return await super().publish(event)


class StubbornVenue(ScriptedVenue):
    """Refuses to cancel the orders the test names, a given number of times each."""

    refusals: Counter[str] = Counter()
    tries: Counter[str] = Counter()

    async def _cancel(self, client_order_id: str) -> None:
        self.tries[client_order_id] += 1
        if self.refusals[client_order_id] > 0:
            self.refusals[client_order_id] -= 1
            raise BrokerError(f"venue busy, cancel of {client_order_id} not accepted")
        await super()._cancel(client_order_id)


class DeadVenue(ScriptedVenue):
    """A venue that stopped answering: listing and cancelling both fail."""

    async def open_orders(self) -> list:  # type: ignore[type-arg]
        raise BrokerError("venue unreachable")

    async def _cancel(self, client_order_id: str) -> None:
        raise BrokerError("venue unreachable")


async def make(
    *venues: type[ScriptedVenue],
) -> tuple[FlakyBus, TradingEngine, list[ScriptedVenue]]:
    bus = FlakyBus()
    await bus.start()
    built = [kind.build(bus, f"v{i}") for i, kind in enumerate(venues)]
    for venue in built:
        if isinstance(venue, StubbornVenue):
            venue.refusals = Counter()
            venue.tries = Counter()
    engine = TradingEngine(bus, built, RiskConfig(), retry_delays=NO_WAIT)
    for venue in built:
        await venue.connect()
    await engine.load_instruments()
    return bus, engine, built


async def sync(engine: TradingEngine) -> None:
    for name, broker in engine.brokers.items():
        await replay_stream(engine, engine.bus.layout.exec(name, broker.account))
    await replay_stream(engine, engine.bus.layout.risk)


def order(broker: str, price: str = "10.00") -> OrderRequest:
    return OrderRequest(
        broker=broker,
        account="main",
        instrument=INSTRUMENT.key,
        side=Side.BUY,
        order_type=OrderType.LIMIT,
        quantity=D("1"),
        limit_price=D(price),
    )


async def place(engine: TradingEngine, broker: str, n: int = 2) -> list[str]:
    return [await engine.submit(order(broker, f"{10 + i}.00")) for i in range(n)]


async def kill_events(bus: MemoryBus) -> list[RiskEvent]:
    return [
        e.event
        for e in await bus.read(bus.layout.risk)
        if isinstance(e.event, RiskEvent) and e.event.payload.action is RiskAction.KILL
    ]


async def test_a_failed_journal_write_still_cancels_everything_and_halts() -> None:
    bus, engine, venues = await make(ScriptedVenue, ScriptedVenue)
    ids = [cid for v in venues for cid in await place(engine, v.name)]
    await sync(engine)
    bus.failures["risk"] = 99  # the KILL can never be written
    report = await engine.kill("drill")
    assert isinstance(report, KillReport)
    assert sorted(report.cancelled) == sorted(ids)
    assert report.still_working == {}
    assert all(not v.venue_orders for v in venues)
    assert engine.gate.state is TradingState.HALTED
    assert "it was not journaled" in report.journal_error
    assert bus.refused["risk"] == 1 + len(NO_WAIT)  # retried
    assert "KILL was not journaled" in report.summary()
    assert await kill_events(bus) == []
    with pytest.raises(RiskRejected, match="HALTED"):
        await engine.submit(order("v0"))


async def test_the_kill_is_journaled_once_the_bus_takes_it_again() -> None:
    bus, engine, _ = await make(ScriptedVenue)
    bus.failures["risk"] = 2
    report = await engine.kill("drill")
    assert report.journal_error == ""
    assert [e.payload.trading_state for e in await kill_events(bus)] == [TradingState.HALTED]


async def test_one_refused_cancel_does_not_stop_the_others_and_is_retried() -> None:
    _, engine, venues = await make(StubbornVenue)
    (venue,) = venues
    first, second, third = await place(engine, "v0", 3)
    await sync(engine)
    assert isinstance(venue, StubbornVenue)
    venue.refusals[first] = 2  # refused twice, accepted on the third try
    venue.refusals[second] = 99  # never accepted
    report = await engine.kill("drill")
    assert sorted(report.cancelled) == sorted([first, third])
    assert list(report.still_working) == [second]
    assert "venue busy" in report.still_working[second]
    assert venue.tries[first] == 3
    assert venue.tries[second] == 1 + len(NO_WAIT)
    assert list(venue.venue_orders) == [second]
    summary = report.summary()
    assert "1 still working" in summary
    assert second in summary
    assert engine.gate.state is TradingState.HALTED
    await sync(engine)
    assert [v.client_order_id for v in engine.oms.working()] == [second]


async def test_a_dead_broker_is_reported_and_the_others_are_cancelled() -> None:
    _, engine, venues = await make(ScriptedVenue, ScriptedVenue)
    alive, dead = venues
    kept = await place(engine, alive.name)
    lost = await place(engine, dead.name)
    await sync(engine)
    # the second venue stops answering
    dead.__class__ = DeadVenue
    report = await engine.kill("drill")
    assert sorted(report.cancelled) == sorted(kept)
    assert sorted(report.still_working) == sorted(lost)
    assert all("venue unreachable" in why for why in report.still_working.values())
    assert any("could not list" in problem for problem in report.problems)
    assert engine.gate.state is TradingState.HALTED


class ForgetfulVenue(ScriptedVenue):
    """Reading its orders back (the reconcile) fails the given number of times."""

    reconcile_failures = 0

    async def reconcile(self, since_ns=0, last_fills=None):
        if self.reconcile_failures > 0:
            self.reconcile_failures -= 1
            raise BrokerError("venue unreachable")
        return await super().reconcile(since_ns, last_fills)


@pytest.mark.parametrize("failures", [1, 99])
async def test_an_order_gone_at_the_venue_is_settled_or_named(failures: int) -> None:
    """The venue ended an order without a word to the desk; the kill finds it gone and
    reads the venue's orders back to end it on screen. That read failing was only
    logged: the report said everything had ended while the desk showed it working."""
    _, engine, venues = await make(ForgetfulVenue)
    (venue,) = venues
    assert isinstance(venue, ForgetfulVenue)
    kept, forgotten = await place(engine, "v0")
    await sync(engine)
    del venue.venue_orders[forgotten]  # expired at the venue, no report sent
    venue.reconcile_failures = failures
    report = await engine.kill("drill")
    assert report.cancelled == (kept,)
    assert report.cancels.gone == (forgotten,)
    await sync(engine)
    still_shown = [v.client_order_id for v in engine.oms.working()]
    if failures <= len(NO_WAIT):  # retried until it worked: the venue's word ends it
        assert still_shown == []
        assert report.ok
    else:
        assert still_shown == [forgotten]
        assert not report.ok
        assert (
            f"v0/main: {forgotten} no longer at the venue still show working here: its "
            "orders could not be read (BrokerError: venue unreachable); check them at the "
            "venue" in report.summary()
        )


async def test_cancel_all_reports_like_the_kill_switch() -> None:
    _, engine, venues = await make(StubbornVenue)
    (venue,) = venues
    first, second = await place(engine, "v0")
    await sync(engine)
    assert isinstance(venue, StubbornVenue)
    venue.refusals[second] = 99
    report = await engine.cancel_all()
    assert report.cancelled == (first,)
    assert list(report.still_working) == [second]
    assert not report.ok
    assert engine.gate.state is TradingState.ACTIVE  # cancel all does not halt


async def test_base_cancel_all_goes_on_after_a_refused_cancel() -> None:
    _, engine, venues = await make(StubbornVenue)
    (venue,) = venues
    first, _ = await place(engine, "v0")
    assert isinstance(venue, StubbornVenue)
    venue.refusals[first] = 1
    with pytest.raises(BrokerError, match=rf"cancelled 1.*{first}.*venue busy"):
        await venue.cancel_all()
    assert list(venue.venue_orders) == [first]  # the second was still cancelled


async def test_halted_holds_against_an_older_state_read_back_late() -> None:
    bus, engine, _ = await make(ScriptedVenue)
    await engine.set_trading_state(TradingState.REDUCE_ONLY)
    await engine.resume()  # published, not yet read back by the engine
    bus.failures["risk"] = 99
    await engine.kill("drill")  # its KILL never reaches the journal
    await sync(engine)  # the reader now applies the older REDUCE_ONLY and RESUME
    assert engine.gate.state is TradingState.HALTED
    bus.failures["risk"] = 0
    await engine.resume()  # only the trader lifts it
    await sync(engine)
    assert engine.gate.state is TradingState.ACTIVE
