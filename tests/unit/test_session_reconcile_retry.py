"""The session's retry of a failed reconcile (`Session._retry_reconcile`), as review H
found it wanting: a kill switch's cancels owed to a broker the start held were never
made once a retry reconciled it; an announce that was no reconnect dropped the start's
hold; a pending retry ran in the middle of a resync; a reconnect whose instruments
raised let the retry go; retries went on after the start failed; and a venue that
refuses for good fed the log a traceback, and the Log pane a line, every try.

The venue is the scripted fake (`tests/fakes/scripted_venue.py`), its reconcile made to
raise a given number of times (an answer the adapter cannot read), on a memory bus;
nothing of ours is mocked."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping

import pytest

from silvertine_tui.brokers import BrokerRegistry
from silvertine_tui.brokers.base import ReconcileReport
from silvertine_tui.bus import MemoryBus
from silvertine_tui.bus.base import DataLoss
from silvertine_tui.config import ExternalBrokerConfig, Settings
from silvertine_tui.domain import ConnectionState, Fill, Instrument, OrderStatus, TradingState
from silvertine_tui.engine.session import Session
from silvertine_tui.events import HealthEvent
from tests.fakes.scripted_venue import ScriptedVenue
from tests.support.waiting import until
from tests.unit.test_engine_reconnect import buy

UNREADABLE = "'SOMETHING_NEW' is not a valid OrderStatus"


class FlakyVenue(ScriptedVenue):
    """Its reconcile raises `fail` times (an answer the adapter cannot read), and, as a
    real adapter does, looks at its link, not at the state the session set. `gate`:
    a reconcile after the failures waits for it. `calls`: reconciles asked."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fail = 0
        self.calls = 0
        self.gate: asyncio.Event | None = None
        self.busy: asyncio.Event | None = None
        """Set: a reconcile asked while it is clear was asked during the test's window."""
        self.during: list[str] = []
        self.error_text = UNREADABLE

    async def reconcile(
        self, since_ns: int = 0, last_fills: Mapping[str, Fill] | None = None
    ) -> ReconcileReport:
        self.calls += 1
        if self.busy is not None and not self.busy.is_set():
            self.during.append("reconcile")
        if self.gate is not None and not self.fail:
            await self.gate.wait()
        if self.fail:
            self.fail -= 1
            raise ValueError(self.error_text)
        return ReconcileReport(
            broker=self.name,
            account=self.account,
            as_of_ns=self.clock(),
            open_orders=tuple(self.venue_orders.values()),
            fills=(),
            positions=tuple(await self.positions()),
        )


class ReseedVenue(FlakyVenue):
    """A venue living in its journal: its re-seed waits for `busy` (Redis slow to take
    it); a reconcile meanwhile is noted in `during`."""

    async def reseed_journal(self) -> str:
        if self.busy is not None:
            await self.busy.wait()
        return ""


class SlowHealthVenue(FlakyVenue):
    """Its health, published again after Redis lost the health stream, waits for
    `busy` (Redis slow to take it): the resync runs meanwhile."""

    async def publish_health(self, message: str = "") -> None:
        if self.busy is not None:
            await self.busy.wait()
        await super().publish_health(message)


class BadListing(FlakyVenue):
    bad = False

    async def instruments(self) -> dict[str, Instrument]:
        if self.bad:
            raise ValueError("instrument row unreadable")
        return await super().instruments()


class NoInstruments(ScriptedVenue):
    async def instruments(self) -> dict[str, Instrument]:
        raise ValueError("instrument listing unreadable")


def session_of(
    bus: MemoryBus, kind: type[ScriptedVenue] = FlakyVenue, *, delay: float = 0.2
) -> Session:
    registry = BrokerRegistry(discover=False)
    registry.register("scripted", kind)
    config = ExternalBrokerConfig(name="scripted", type="scripted", account="main")
    session = Session(Settings(brokers=[config]), bus=bus, registry=registry)
    session.reconcile_retry_delays = (delay,)
    session.reconcile_retry_look_s = 0.02
    return session


def venue_of(session: Session) -> FlakyVenue:
    venue = session.brokers[0]
    assert isinstance(venue, FlakyVenue)
    return venue


async def second_start_with_order() -> tuple[Session, FlakyVenue, str]:
    """A desk that left a buy working at the venue; the next desk, not started."""
    bus = MemoryBus()
    one = session_of(bus)
    await one.start()
    cid = await one.engine.submit(buy("1"))
    await until(
        lambda: (v := one.engine.oms.get(cid)) is not None and v.order.status is OrderStatus.NEW
    )
    held = dict(venue_of(one).venue_orders)
    one.leave_working_on_close()
    await one.close()
    two = session_of(bus)
    venue = venue_of(two)
    venue.venue_orders.update(held)
    return two, venue, cid


async def test_a_kill_owed_to_a_start_held_broker_is_made_once_a_retry_reconciles_it() -> None:
    """The start's reconcile fails: the session holds the broker DISCONNECTED. A kill
    switch pulled then cannot cancel there (owed, "made once scripted/main is back").
    The retry reconciles and puts the broker back LIVE: the kill's cancel is made,
    trading still HALTED. Before, nothing made it (only a reconnect's listener does):
    HALTED, the broker LIVE, the order working at the venue."""
    two, venue, cid = await second_start_with_order()
    venue.fail = 1
    venue.gate = asyncio.Event()  # the retry waits until the kill is pulled
    await two.start()
    try:
        assert venue.state is ConnectionState.DISCONNECTED
        report = await two.engine.kill("drill")
        assert cid in report.cancels.still_working, report
        assert two.engine.kill_owed.get("scripted") == {cid}
        venue.gate.set()
        await until(lambda: not two._unreconciled, 5, "reconciled by the retry")
        assert venue.state is ConnectionState.LIVE
        await until(lambda: cid not in venue.venue_orders, 5, "the kill's cancel made")
        await until(
            lambda: two.engine.oms.orders[cid].order.status is OrderStatus.CANCELED, 5, "CANCELED"
        )
        assert two.engine.gate.state is TradingState.HALTED
        assert not two.engine.kill_owed.get("scripted")
    finally:
        await two.close()


async def test_an_announce_that_is_no_reconnect_keeps_the_start_hold() -> None:
    """Binance announces a reconcile without any reconnect (an order placed elsewhere,
    trades left unread, a report it could not read) and sets no state. Its reconcile
    failing while the start holds the broker DISCONNECTED, the hold is kept: the
    session's retry runs and puts the broker back LIVE. Before, the hold was dropped:
    the retry waited for ever for a tradable broker, and a later success left it
    DISCONNECTED (every order and cancel refused)."""
    s = session_of(MemoryBus())
    venue = venue_of(s)
    venue.fail = 2  # the start's, then the announce's; the retry's succeeds
    await s.start()
    try:
        assert venue.state is ConnectionState.DISCONNECTED  # held by the start
        await venue.announce_reconnect()  # no state change: Binance's adopt/retry_trades
        record = s._unreconciled["scripted"]
        assert record.tries == 2
        assert record.held is ConnectionState.LIVE
        await until(lambda: not s._unreconciled, 5, "reconciled by the session's retry")
        assert venue.state is ConnectionState.LIVE
        assert venue.calls == 3
    finally:
        await s.close()


async def test_a_pending_retry_waits_for_the_resyncs_reseed(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A retry pending when Redis loses the journal of a venue living in it: the
    resync writes back what the venue holds, then reconciles. The retry is not run in
    the middle of the re-seed (it ran there, breaking "write back what it holds before
    the reconcile")."""
    caplog.set_level(logging.INFO, logger="silvertine_tui")
    s = session_of(MemoryBus(), ReseedVenue, delay=0.05)
    venue = venue_of(s)
    await s.start()
    try:
        venue.fail = 1
        await venue.come_back()  # a reconnect whose reconcile fails: a retry pending
        assert "scripted" in s._retries
        venue.busy = asyncio.Event()  # the re-seed is slow (Redis slow to take it)
        resync = asyncio.create_task(s._on_data_loss("loss"))
        # Either the retry ran during the re-seed, or it was let go by the resync.
        await until(lambda: bool(venue.during) or "scripted" not in s._retries, 5, "the retry")
        assert venue.during == [], "the retry reconciled while the resync re-seeded"
        venue.busy.set()
        await resync
        assert not s._unreconciled  # the resync's own reconcile, after the re-seed
        assert venue.state is ConnectionState.LIVE
    finally:
        await s.close()


async def test_a_pending_retry_waits_while_a_resync_runs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Redis lost the health stream (no journal): the resync claims the brokers again
    and publishes their health again. A retry due meanwhile waits for the resync to end
    (`session.reconcile_retry_waits`), then runs."""
    caplog.set_level(logging.INFO, logger="silvertine_tui")
    bus = MemoryBus()
    s = session_of(bus, SlowHealthVenue, delay=0.05)
    venue = venue_of(s)
    assert isinstance(venue, SlowHealthVenue)
    await s.start()
    try:
        venue.fail = 1
        await venue.come_back()  # a reconnect whose reconcile fails: a retry pending
        assert "scripted" in s._retries
        venue.busy = asyncio.Event()
        loss = DataLoss(f"{bus.layout.health} is gone", epoch=False, streams=[bus.layout.health])
        resync = asyncio.create_task(s._on_data_loss(loss))

        def waits_said() -> bool:
            return any(
                r.getMessage() == "session.reconcile_retry_waits"
                and "resync" in str(getattr(r, "for", ""))
                for r in caplog.records
            )

        await until(lambda: bool(venue.during) or waits_said(), 5, "the retry")
        assert venue.during == [], "the retry reconciled while the resync ran"
        venue.busy.set()
        await resync
        await until(lambda: not s._unreconciled, 5, "the retry, after the resync")
    finally:
        await s.close()


async def test_a_reconnect_whose_instruments_raise_leaves_the_retry_pending() -> None:
    """A reconnect whose instrument listing raises (not a BrokerError) before its
    reconcile: the pending retry is kept, and reconciles. Before, the reconnect let it
    go first, then raised: nothing retried while the health said "tried again by
    itself in 0.3 s"."""
    s = session_of(MemoryBus(), BadListing, delay=0.3)
    venue = venue_of(s)
    assert isinstance(venue, BadListing)
    await s.start()
    try:
        venue.fail = 1
        await venue.come_back()  # its reconcile fails: a retry pending
        assert "scripted" in s._retries
        venue.bad = True
        await venue.come_back()  # the listener raised (logged by announce_reconnect)
        venue.bad = False
        await until(lambda: not s._unreconciled, 5, "reconciled by the retry")
    finally:
        await s.close()


async def test_no_retry_after_a_failed_start() -> None:
    """Broker a's start reconcile fails (a retry is spawned); broker b then fails the
    start (its instruments cannot be loaded). The app keeps such a desk up, showing
    "Start-up failed", without closing it: a's retry ends without reconciling (it
    reconciled and set a LIVE there)."""
    registry = BrokerRegistry(discover=False)
    registry.register("scripted", FlakyVenue)
    registry.register("noinst", NoInstruments)
    a = ExternalBrokerConfig(name="scripted", type="scripted", account="main")
    b = ExternalBrokerConfig(name="b", type="noinst", account="main")
    s = Session(Settings(brokers=[a, b]), bus=MemoryBus(), registry=registry)
    s.reconcile_retry_delays = (0.1,)
    s.reconcile_retry_look_s = 0.02
    venue = venue_of(s)
    venue.fail = 3
    try:
        with pytest.raises(ValueError, match="instrument listing unreadable"):
            await s.start()
        calls = venue.calls
        assert calls == 1
        retry = s._retries.get("scripted")
        assert retry is not None
        assert retry.task is not None
        await asyncio.wait_for(retry.task, 10)
        assert venue.calls == calls, "a retry ran after the start failed"
        assert venue.state is ConnectionState.DISCONNECTED
    finally:
        await s.close()


async def test_a_venue_that_refuses_for_good_is_said_once_not_every_try(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A reconcile that fails every try (a minute apart, 1,440 a day): its traceback is
    logged once (the first failure, or the last whose error read otherwise), the
    repeats at INFO, and its health's words stop changing after a few tries (`failed
    (3+ tries)`), so the Log pane (a line for each new wording) is not fed a line a
    try. Before: an ERROR with a traceback, and new words, every try."""
    caplog.set_level(logging.INFO, logger="silvertine_tui")
    bus = MemoryBus()
    s = session_of(bus, delay=0.01)
    venue = venue_of(s)
    venue.fail = 10**9
    await s.start()
    try:
        await until(lambda: venue.health_state.errors["reconcile_failed"] >= 8, 5, "8 tries")
        failed = [r for r in caplog.records if r.getMessage() == "session.reconcile_failed"]
        assert len(failed) >= 8
        assert [r.levelno for r in failed if r.levelno >= logging.ERROR] == [logging.ERROR]
        assert len([r for r in failed if r.exc_info]) == 1
        said = [
            e.event.payload.message
            for e in await bus.read(bus.layout.health)
            if isinstance(e.event, HealthEvent)
            and e.event.payload.component == f"broker:{venue.source}"
            and e.event.payload.message.startswith("reconcile after")
        ]
        assert len(said) >= 8
        assert len(set(said)) == 3, sorted(set(said))
        assert said[-1].startswith("reconcile after connect failed (3+ tries): ValueError: ")
        # Another error: its traceback again, and its words.
        tries = venue.health_state.errors["reconcile_failed"]
        venue.error_text = "another answer unreadable"
        await until(lambda: venue.health_state.errors["reconcile_failed"] >= tries + 3, 5, "3 more")
        failed = [r for r in caplog.records if r.getMessage() == "session.reconcile_failed"]
        assert [str(getattr(r, "error", "")) for r in failed if r.exc_info] == [
            UNREADABLE,
            "another answer unreadable",
        ]
        # (an ERROR each: a new failure; its repeats at INFO)
        assert [r.exc_info is not None for r in failed if r.levelno >= logging.ERROR] == [
            True,
            True,
        ]
    finally:
        await s.close()
