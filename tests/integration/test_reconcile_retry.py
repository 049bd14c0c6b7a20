"""A reconcile that failed is tried again by the session itself, not at the next reconnect.

A paper desk on a real Redis, frozen (`kill -STOP`) with this desk's own events of the
account waiting in its bus's memory: the reconcile after the venue's reconnect (or the
resync's after a data loss) cannot read them back within `journal_wait_s` and is not
run (`recovery.JournalBehind`). Before, that was said on the broker ("reconcile after
reconnect failed: ...; ... until a reconcile succeeds") and tried again only at the
broker's next reconnect, which may never come: the desk stayed unreconciled all day
while it showed the broker LIVE. And the resync's reconcile let a bus error escape:
the rest of the resync (the snapshot) was never done.

Now the session tries it again by itself (`Session._retry_reconcile`), once Redis
answers again (it does not spin while Redis is away), and the broker's health says it
is reconciled (`reconciled after 2 tries`), where the failure's words stood.

Real `redis-server` (SIGSTOP/SIGCONT), the paper venue in process; nothing of ours is
mocked. The retry's delays are shortened (`Session.reconcile_retry_delays`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from silvertine_tui.brokers.paper import PaperBroker
from silvertine_tui.bus.base import DataLoss, waiting_of
from silvertine_tui.domain import OrderStatus
from silvertine_tui.engine import Session
from silvertine_tui.engine.session import BUS_RESYNC
from silvertine_tui.engine.snapshots import latest_snapshot
from silvertine_tui.events import HealthEvent
from tests.support.desks import desk, resting_buy, status
from tests.support.redis_server import RedisServer
from tests.support.waiting import until

pytestmark = pytest.mark.redis


@dataclass
class Frozen:
    session: Session
    server: RedisServer
    paper: PaperBroker
    first: str
    """The buy resting before Redis froze (the second one's events wait in memory)."""
    snapshot_before: str
    """The newest snapshot entry of the paper account before Redis froze ("" none)."""

    @property
    def journal(self) -> str:
        return self.session.bus.layout.exec("paper", "main")

    def kept(self) -> int:
        """This desk's events of the paper account waiting in its bus's memory."""
        return sum(1 for w in waiting_of(self.session.bus) if w.stream == self.journal)

    def thaw(self) -> None:
        assert self.server.pid is not None
        os.kill(self.server.pid, signal.SIGCONT)

    async def said(self) -> list[str]:
        """What the paper broker's health said on the bus (its heartbeats' empty words
        left out: the Health pane keeps the last words said while the state holds)."""
        bus = self.session.bus
        return [
            e.event.payload.message
            for e in await bus.read(bus.layout.health)
            if isinstance(e.event, HealthEvent)
            and e.event.payload.component == f"broker:{self.paper.source}"
            and e.event.payload.message
        ]

    async def reconciled(self) -> str:
        """The broker's last words once Redis took everything and it said it is
        reconciled (what it said while Redis was frozen was superseded there by its
        heartbeats: the bus keeps a component's newest health while it waits)."""
        bus = self.session.bus
        await until(lambda: bus.stats.connected and bus.unwritten() == (0, 0), 30, "written")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 20
        while not (said := await self.said())[-1].startswith("reconciled after"):
            assert loop.time() < deadline, f"not reconciled again: {said[-3:]}"
            await asyncio.sleep(0.05)
        return said[-1]


def states_said(caplog: pytest.LogCaptureFixture, source: str) -> list[str]:
    """The words of each state a broker set, as the log file has them (`broker.state`)."""
    return [
        str(getattr(r, "detail", ""))
        for r in caplog.records
        if r.getMessage() == "broker.state" and getattr(r, "broker", "") == source
    ]


@contextlib.asynccontextmanager
async def frozen(key_prefix: str) -> AsyncIterator[Frozen]:
    """A paper desk (retries 0.2 s apart, a reconcile waiting 0.5 s for its journal)
    with a buy resting; Redis frozen and known down; a second buy placed meanwhile, its
    events waiting in the bus's memory."""
    with RedisServer() as server:
        session = desk(server.url, key_prefix, "paper")
        session.reconcile_retry_delays = (0.2,)
        session.reconcile_retry_look_s = 0.05
        await session.start()
        try:
            paper = session.engine.brokers["paper"]
            assert isinstance(paper, PaperBroker)
            cid = await resting_buy(session, "paper")
            await until(lambda: status(session, cid) is OrderStatus.NEW, 10, "working here")
            newest = await session.bus.read_last(session.bus.layout.snap("paper", "main"), 1)
            found = Frozen(session, server, paper, cid, newest[0].id if newest else "")
            assert server.pid is not None
            os.kill(server.pid, signal.SIGSTOP)
            await until(lambda: not session.bus.stats.connected, 30, "Redis known down")
            await resting_buy(session, "paper")  # (applied here once read back)
            await until(lambda: found.kept() >= 2, 10, "the second buy's events kept")
            session.engine.journal_wait_s = 0.5
            yield found
        finally:
            if server.pid is not None:  # thawed whatever happened: the desk closes
                with contextlib.suppress(ProcessLookupError):
                    os.kill(server.pid, signal.SIGCONT)
            await asyncio.wait_for(session.close(), 60)


async def test_a_reconcile_that_failed_after_a_reconnect_runs_again_once_redis_is_back(
    key_prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="silvertine_tui")
    async with frozen(key_prefix) as found:
        paper = found.paper
        await paper.drop_link()
        await asyncio.wait_for(paper.restore_link(), 30)  # its reconcile: not run
        assert paper.health_state.errors["reconcile_failed"] == 1
        failed = states_said(caplog, paper.source)[-1]
        assert failed.startswith("reconcile after reconnect failed: "), failed
        assert "still wait in this desk's memory for Redis after 0.5 s" in failed
        assert "tried again by itself once Redis answers, in 0.2 s at the earliest" in failed
        reconnects = paper.health_state.reconnects
        await asyncio.sleep(0.5)  # retries due meanwhile: none runs while Redis is away
        assert paper.health_state.errors["reconcile_failed"] == 1
        found.thaw()
        done = await found.reconciled()
        # No new reconnect: the session tried it again by itself, once, and it ran.
        assert paper.health_state.reconnects == reconnects
        assert done.startswith("reconciled after 2 tries: its orders and positions here are ")
        assert paper.health_state.errors["reconcile_failed"] == 1
        assert found.session._unreconciled == {}
        [line] = [r for r in caplog.records if r.getMessage() == "session.reconciled"]
        assert getattr(line, "said", "") == "reconciled after 2 tries"


async def test_a_resync_whose_reconcile_fails_on_the_bus_goes_on_and_retries_it(
    key_prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The resync after a data loss (as the bus calls its listener) meets Redis frozen:
    its reconcile is not run (`JournalBehind`); the rest of the resync still runs (its
    snapshot, written once Redis answers), and the reconcile is tried again then."""
    caplog.set_level(logging.INFO, logger="silvertine_tui")
    async with frozen(key_prefix) as found:
        session = found.session
        loss = DataLoss(f"{found.journal} is gone", epoch=False, streams=[found.journal])
        await asyncio.wait_for(session._on_data_loss(loss), 60)  # raised JournalBehind
        assert session.engine.not_ready_rule != BUS_RESYNC  # the resync is over
        assert found.paper.health_state.errors["reconcile_failed"] == 1
        failed = states_said(caplog, found.paper.source)[-1]
        assert failed.startswith("reconcile after Redis lost data failed: "), failed
        assert "still wait in this desk's memory for Redis" in failed
        found.thaw()
        done = await found.reconciled()
        assert done.startswith("reconciled after 2 tries")
        # The resync's snapshot, taken after its failed reconcile (it waited in the
        # bus's memory for Redis), of the desk as it stood: the second buy's events
        # not read back yet.
        snap = session.bus.layout.snap("paper", "main")
        [newest] = await session.bus.read_last(snap, 1)
        assert newest.id != found.snapshot_before
        snapshot = await latest_snapshot(session.bus, "paper", "main")
        assert snapshot is not None
        working = [o.client_order_id for o in snapshot.orders if o.status is OrderStatus.NEW]
        assert working == [found.first], snapshot.orders
