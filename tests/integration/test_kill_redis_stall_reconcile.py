"""A reconcile run while this desk's own events of the account wait for Redis.

A trader's drill (fake TWS, a real Redis): an IB buy of 7 AAPL @ 146.50 works; Redis is
frozen (`kill -STOP`); TWS fills 3, and the adapter's FILL waits in the bus's memory
(the Orders row `NEW? fill waiting`); the kill switch is pulled; Redis thaws seconds
later. The kill's cancels settle the orders the venue no longer lists
(`TradingEngine._settle_gone`) by a reconcile, which ran as soon as Redis answered,
before the bus had written what it kept: the journal then held the FILL, a
`MISSED_FILL` of the same execution, the FILL again and a `STATUS_MISMATCH` from
`NEW 0/7`. And the kill's report, made after that wait, still said "KILL NOT JOURNALED
... waits in this desk's memory", 17 ms after the KILL was journaled.

Here the order ends filled as the kill's global cancel reaches TWS (`race_next_cancel`):
the venue no longer lists it, so the kill reconciles. The reconcile now waits (bounded)
for this desk's own events of the account and reads them back first
(`recovery.journal_read_back`); the report says what is true when it is made. The same
holds for a cancel all, and for the reconcile of a broker that reconnects during the
stall (`Session._reconnect_listener`).

Real `redis-server` (SIGSTOP/SIGCONT) behind a TCP relay, the real ib_async client
against the fake TWS; nothing of ours is mocked. Redis thawed, the bus writes what it
kept only once its reconnect's ping is answered (it backs off up to 2 s while Redis is
out of reach), while a read on another connection (the reconcile's) is answered at once:
the relay holds the reply to the bus's first write after the thaw (`FLUSH_LATE_S`),
so that moment lasts as long as the test needs, every run."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import TypeVar

import pytest

from silvertine_tui.brokers.paper import PaperBroker
from silvertine_tui.bus import parse_id
from silvertine_tui.bus.base import waiting_of
from silvertine_tui.config import Settings
from silvertine_tui.domain import (
    ConnectionState,
    OrderRequest,
    OrderStatus,
    OrderType,
    Side,
    TimeInForce,
)
from silvertine_tui.domain.clock import utc_time
from silvertine_tui.engine import Session
from silvertine_tui.engine.commands import EngineGateway, Kill, KillDone
from silvertine_tui.events import (
    EventBase,
    FillEvent,
    LogEvent,
    ReconcileEvent,
    RiskAction,
    RiskEvent,
)
from tests.fakes.tws import FakeTws
from tests.support.desks import desk, resting_buy, status, venue_working
from tests.support.ib import ib_config
from tests.support.redis_relay import RedisRelay
from tests.support.redis_server import RedisServer
from tests.support.waiting import until

pytestmark = pytest.mark.redis

T = TypeVar("T")

FLUSH_LATE_S = 3.0
"""How late the reply to the bus's first write after the thaw (its backlog's XADDs)
reaches it: under the writer's 5 s socket timeout."""


@dataclass
class Drill:
    session: Session
    fake: FakeTws
    server: RedisServer
    relay: RedisRelay
    cid: str

    @property
    def stream(self) -> str:
        return self.session.bus.layout.exec("ib", self.fake.account)

    def freeze(self) -> None:
        assert self.server.pid is not None
        os.kill(self.server.pid, signal.SIGSTOP)

    def thaw(self) -> None:
        """Redis runs again; the bus's backlog lands `FLUSH_LATE_S` later."""
        self.relay.delay_reply_on(b"XADD", FLUSH_LATE_S)
        assert self.server.pid is not None
        os.kill(self.server.pid, signal.SIGCONT)

    def kept(self, kind: type[EventBase]) -> int:
        """This desk's events of `kind` of the IB account waiting in its bus's memory."""
        return sum(
            1
            for w in waiting_of(self.session.bus)
            if w.stream == self.stream and isinstance(w.event, kind)
        )

    def shows(self, status: OrderStatus) -> bool:
        view = self.session.engine.oms.get(self.cid)
        return view is not None and view.order.status is status

    async def journal(self) -> list[EventBase]:
        return [e.event for e in await self.session.bus.read(self.stream) if e.ok]  # type: ignore[misc]

    async def written_and_read(self) -> list[EventBase]:
        """The IB journal once Redis took everything and the desk read it back."""
        bus = self.session.bus
        await until(lambda: bus.stats.connected and bus.unwritten() == (0, 0), 30, "written")
        await until(lambda: self.shows(OrderStatus.FILLED), 10, "FILLED here")
        await asyncio.sleep(0.5)  # anything a reconcile would journal after it
        return await self.journal()


@contextlib.asynccontextmanager
async def drill(key_prefix: str) -> AsyncIterator[Drill]:
    """An IB desk (fast timings) on a real Redis; BUY 7 AAPL @ 146.50 working at TWS;
    Redis frozen and known down; TWS fills 3, the FILL waiting in the bus's memory."""
    async with FakeTws() as fake:
        await fake.set_quote("AAPL", "150.00", "150.05")
        with RedisServer() as server:
            async with RedisRelay(server.host, server.port) as relay:
                settings = Settings(
                    bus={"url": relay.url, "prefix": key_prefix},
                    brokers=[ib_config(fake, account=fake.account)],
                )
                session = Session(settings)
                await session.start()
                try:
                    cid = await session.engine.submit(
                        OrderRequest(
                            broker="ib",
                            account=fake.account,
                            instrument="AAPL.SMART",
                            side=Side.BUY,
                            order_type=OrderType.LIMIT,
                            quantity=Decimal("7"),
                            limit_price=Decimal("146.50"),
                            tif=TimeInForce.GTC,
                        )
                    )
                    found = Drill(session, fake, server, relay, cid)
                    await until(lambda: found.shows(OrderStatus.NEW), 10, "working here")
                    [order] = [o for o in fake.orders if o.ticket.order_ref == cid]
                    found.freeze()
                    await until(lambda: not session.bus.stats.connected, 30, "Redis known down")
                    await fake.fill(order.order_id, "3")
                    await until(lambda: found.kept(FillEvent) == 1, 10, "the FILL kept in memory")
                    assert found.shows(OrderStatus.NEW)  # (what a reconcile now compares with)
                    yield found
                finally:
                    if server.pid is not None:  # thawed whatever happened: the desk closes
                        with contextlib.suppress(ProcessLookupError):
                            os.kill(server.pid, signal.SIGCONT)
                    await asyncio.wait_for(session.close(), 60)


def reconciles(events: list[EventBase]) -> list[str]:
    return [
        f"{e.payload.kind} ours={e.payload.ours} venue={e.payload.venue}"
        for e in events
        if isinstance(e, ReconcileEvent)
    ]


def fills_by_exec(events: list[EventBase]) -> dict[str, int]:
    counted: dict[str, int] = {}
    for e in events:
        if isinstance(e, FillEvent):
            counted[e.payload.exec_id] = counted.get(e.payload.exec_id, 0) + 1
    return counted


async def a_cancel_ended_by_a_fill(found: Drill, cancel: Callable[[], Awaitable[T]]) -> T:
    """The kill switch (or cancel all) pulled with Redis frozen; TWS fills the rest as
    the global cancel reaches it (the venue no longer lists the order: the desk
    reconciles); Redis thawed once that reconcile waits on it."""
    found.fake.race_next_cancel("fill")
    task = asyncio.ensure_future(cancel())
    await until(lambda: found.kept(FillEvent) == 2, 10, "the second FILL kept in memory")
    await asyncio.sleep(1.0)  # the cancels settled: the reconcile waits on Redis
    assert not task.done()
    found.thaw()
    return await asyncio.wait_for(task, 60)


@pytest.mark.parametrize("how", ["kill", "cancel_all"])
async def test_the_reconcile_after_a_cancel_reads_this_desk_s_own_events_first(
    how: str, key_prefix: str
) -> None:
    async with drill(key_prefix) as found:
        engine = found.session.engine
        if how == "kill":
            kill = await a_cancel_ended_by_a_fill(found, lambda: engine.kill("kill switch (UI)"))
            cancels = kill.cancels
        else:
            cancels = await a_cancel_ended_by_a_fill(found, engine.cancel_all)
        assert found.cid in cancels.gone
        assert cancels.problems == ()
        events = await found.written_and_read()
        # Nothing to correct: the venue and this desk's own journal agree.
        assert reconciles(events) == []
        assert list(fills_by_exec(events).values()) == [1, 1], fills_by_exec(events)
        view = engine.oms.orders[found.cid]
        assert view.order.filled_qty == 7
        [position] = [
            p for p in engine.portfolio.positions.values() if p.instrument == "AAPL.SMART"
        ]
        assert position.quantity == 7


async def test_the_kill_s_report_says_the_kill_journaled_late_once_redis_took_it(
    key_prefix: str,
) -> None:
    async with drill(key_prefix) as found:
        engine = found.session.engine
        gateway = EngineGateway(engine)
        done = await a_cancel_ended_by_a_fill(
            found, lambda: gateway.send(Kill(reason="kill switch (UI)"))
        )
        assert isinstance(done, KillDone), done
        assert done.journaled  # its report, a line in every desk's Log
        report = done.report
        bus = found.session.bus
        kills = [
            e
            for e in await bus.read(bus.layout.risk)
            if isinstance(e.event, RiskEvent) and e.event.payload.action is RiskAction.KILL
        ]
        assert len(kills) == 1  # written, once, before the report was made
        assert report.journal_error == "", report.journal_error
        assert "NOT JOURNALED" not in report.headline()
        assert "not journaled" not in report.summary()
        assert report.ok, report.summary()
        assert engine.state_unwritten is None  # (the last-run record carries no KILL)
        # Said as it is: journaled late, at the time Redis took it.
        at = utc_time(parse_id(kills[0].id)[0] * 1_000_000)
        said = f"the KILL was journaled late, at {at}, once Redis answered"

        async def logged() -> list[str]:
            return [
                e.event.payload.message
                for e in await bus.read(bus.layout.health)
                if isinstance(e.event, LogEvent)
            ]

        # Once: the journaled report's line (the engine's own line said it as well).
        lines = [m for m in await logged() if said.lower() in m.lower()]
        assert len(lines) == 1, await logged()
        assert lines[0].startswith(f"{engine.desk_name}, kill switch: "), lines
        # And by the kill's own toast (its summary), not only the Log.
        assert report.journaled_late == at
        assert f"The KILL was journaled late, at {at}, once Redis answered" in report.summary()


async def test_a_reconcile_that_cannot_read_this_desk_s_events_in_time_is_not_run(
    key_prefix: str,
) -> None:
    """Redis frozen past the wait: the reconcile is not run (it would compare the venue
    with a journal that lacks the FILLs), and the kill's report says why; the KILL
    still waits, and is said NOT JOURNALED."""
    async with drill(key_prefix) as found:
        engine = found.session.engine
        engine.journal_wait_s = 1.0
        found.fake.race_next_cancel("fill")
        report = await asyncio.wait_for(engine.kill("kill switch (UI)"), 30)
        [problem] = report.problems
        source = f"ib/{found.fake.account}"
        assert problem.startswith(f"{source}: {found.cid} no longer at the venue"), problem
        assert "not reconciled (" in problem, problem
        assert f"of {source} still wait in this desk's memory for Redis after 1 s" in problem
        assert "check them at the venue" in problem
        assert "KILL NOT JOURNALED" in report.headline()
        assert engine.state_unwritten is not None
        found.thaw()
        events = await found.written_and_read()
        assert reconciles(events) == []
        assert list(fills_by_exec(events).values()) == [1, 1], fills_by_exec(events)


async def test_a_broker_back_during_the_stall_is_reconciled_on_what_this_desk_journaled(
    key_prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    """TWS's connection drops with the FILL in the bus's memory; the adapter reconnects
    and the session reconciles it (`Session._reconnect_listener`) while Redis is frozen:
    it waits for this desk's own events, then finds nothing to correct."""
    async with drill(key_prefix) as found:
        broker = found.session.engine.brokers["ib"]
        await found.fake.drop_connections()
        await until(lambda: broker.state is not ConnectionState.LIVE, 10, "TWS lost")
        await until(lambda: broker.state is ConnectionState.LIVE, 20, "TWS back")
        await asyncio.sleep(1.0)  # its reconcile waits on Redis
        await found.fake.fill(found.fake.orders[0].order_id)  # the rest: FILLED
        caplog.set_level(logging.INFO, logger="silvertine_tui.engine.recovery")
        found.thaw()
        events = await found.written_and_read()
        assert reconciles(events) == []
        assert list(fills_by_exec(events).values()) == [1, 1], fills_by_exec(events)
        # It waited for them and ran (not given up: nothing said on the broker).
        said = [r.getMessage() for r in caplog.records if r.name.endswith("recovery")]
        assert "recovery.reconcile_journal_read" in said, said
        assert "recovery.reconcile_not_run" not in said, said


async def test_a_kill_s_owed_cancels_do_not_wait_for_that_reconcile(key_prefix: str) -> None:
    """A kill switch pulled with the venue away (its cancel owed: `kill_owed`) and Redis
    frozen: the venue back, the session's reconcile waits for this desk's own events
    (up to `journal_wait_s`), and the kill's cancel is made at once, not after it (it
    waited for the reconcile, which waited on Redis: 30 s with the order working)."""
    with RedisServer() as server:
        session = desk(server.url, key_prefix, "paper")
        await session.start()
        assert server.pid is not None
        try:
            cid = await resting_buy(session, "paper")
            await until(lambda: status(session, cid) is OrderStatus.NEW, 10, "working here")
            os.kill(server.pid, signal.SIGSTOP)
            await until(lambda: not session.bus.stats.connected, 30, "Redis known down")
            paper = session.engine.brokers["paper"]
            assert isinstance(paper, PaperBroker)
            await paper.drop_link()
            report = await session.engine.kill("kill switch (UI)")
            assert cid in report.still_working
            assert session.engine.kill_owed == {"paper": {cid}}
            back = asyncio.ensure_future(paper.restore_link())  # its reconcile waits
            await until_not_at_the_venue(session, cid, 5.0)  # the owed cancel, made
            assert not back.done()  # (the reconcile still waits for Redis)
            os.kill(server.pid, signal.SIGCONT)
            await asyncio.wait_for(back, 30)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.kill(server.pid, signal.SIGCONT)
            await asyncio.wait_for(session.close(), 60)


async def until_not_at_the_venue(session: Session, cid: str, within_s: float) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within_s
    while cid in (working := await venue_working(session)):
        assert loop.time() < deadline, f"{cid} still working at the venue after {within_s} s"
        await asyncio.sleep(0.05)
    assert working == []
