"""A kill switch pulled while Redis is out of reach holds on the desk and waits in its
bus's memory (the toast: "KILL NOT JOURNALED ..."). A desk that stops before Redis is
back (quit, killed) left it in no journal: its next start came up ACTIVE, the paper
venue's cancels undone (the orders working again from the journal), and not a word (a
chaos review). The last-run record carries it now (`LastRun.state_unwritten`): the next
start writes it, HALTED, cancels what it asked and says why; not when a state was set
since (a resume on another desk stands), nor once Redis took it while the desk ran. On
a real Redis with an AOF, killed and started again."""

from __future__ import annotations

import asyncio
import re

import pytest

from silvertine_tui.bus.redis_streams import RedisBus
from silvertine_tui.domain import OrderStatus, TradingState
from silvertine_tui.engine import Session
from silvertine_tui.engine.last_run import read
from silvertine_tui.events import LogEvent, RiskAction, RiskEvent
from tests.support.paper_session import paper_broker, paper_session, resting_buy
from tests.support.redis_bus import a_bus
from tests.support.redis_server import RedisServer
from tests.support.waiting import until

pytestmark = pytest.mark.redis

SHORT = {"claim_ttl_s": 1.0}
"""The first desk's claim, not released with Redis down, lapses before the next start."""
TITLE = "Kill switch never journaled: carried from this desk's last run"
SUPERSEDED = "Last run's state never journaled: set again since"


def carried(session: Session) -> list[str]:
    return [a.message for a in session.alerts if a.title == TITLE]


async def kills(bus: RedisBus) -> list[str]:
    entries = await bus.read(bus.layout.risk)
    return [
        e.event.payload.message
        for e in entries
        if isinstance(e.event, RiskEvent) and e.event.payload.action is RiskAction.KILL
    ]


async def killed_with_redis_down(
    server: RedisServer, bus: RedisBus, first: Session
) -> tuple[str, str]:
    """A resting buy journaled; Redis killed; the kill switch pulled (its cancel made at
    the paper venue, the KILL kept in the bus's memory). The buy's id and the KILL's
    message as it would have been written."""
    cid = await first.engine.submit(resting_buy(first))
    await until(lambda: first.engine.oms.orders[cid].order.status is OrderStatus.NEW, what="NEW")
    await asyncio.sleep(0.3)  # journaled
    await server.akill()
    await until(lambda: not bus.stats.connected, what="the bus down")
    report = await first.engine.kill("kill switch (UI)")
    assert "KILL" in report.journal_error, report.journal_error
    # Made at the paper venue; the desk reads it once the journal takes it.
    assert await paper_broker(first).open_orders() == []
    unwritten = first.engine.state_unwritten
    assert unwritten is not None
    return cid, unwritten.message


async def test_a_kill_redis_never_took_is_written_and_honoured_by_the_next_start(
    key_prefix: str,
) -> None:
    with RedisServer(persistence=True) as server:
        async with (
            a_bus(server, key_prefix) as bus,
            paper_session(bus, ack_s=0.01, engine=SHORT) as first,
        ):
            cid, message = await killed_with_redis_down(server, bus, first)
            await asyncio.sleep(1.2)  # the record, kept once a second while it runs
            record = read(first.last_run.path)
            assert record is not None
            assert record.state_unwritten is not None
            assert record.state_unwritten.trading_state is TradingState.HALTED
            assert record.state_unwritten.message == message
            # What a desk killed now (no close) leaves: its record says it too.
            assert record.unjournaled is not None
            assert not record.unjournaled.closed
            assert record.unjournaled.simulators == ("paper/main",)
            assert record.unjournaled.told("08:00:00 UTC").startswith(
                "The last run on this bus stopped without closing (killed, or its host lost; "
                "last recorded 08:00:00 UTC) with "
            )

        await server.arestart()
        await asyncio.sleep(1.2)  # its claim lapses (the ttl)
        async with (
            a_bus(server, key_prefix) as bus,
            paper_session(bus, ack_s=0.01, engine=SHORT) as second,
        ):
            assert second.engine.gate.state is TradingState.HALTED
            # The paper venue held the buy again from the journal: cancelled now.
            await until(
                lambda: second.engine.oms.orders[cid].order.status is OrderStatus.CANCELED,
                what="the buy cancelled",
            )
            assert await paper_broker(second).open_orders() == []
            await until(lambda: bool(carried(second)), what="the toast")
            [said] = carried(second)
            assert "after a kill switch pulled from desk " in said, said
            assert "(kill switch (UI))" in said, said
            assert "never journaled it (Redis was out of reach)" in said, said
            # The outcome first: after the why, a toast cut it off (the drill).
            assert said.startswith("Trading HALTED; cancelled 1 order(s). "), said
            written = await kills(bus)
            assert written[-1].startswith(f"{message}; never journaled"), written
            entries = await bus.read(bus.layout.health)
            lines = [e.event.payload.message for e in entries if isinstance(e.event, LogEvent)]
            assert said.rstrip(".") in lines

        async with (
            a_bus(server, key_prefix) as bus,
            paper_session(bus, ack_s=0.01, engine=SHORT) as third,
        ):  # said once: it is in the journal now
            assert third.engine.gate.state is TradingState.HALTED
            assert carried(third) == []
            assert len(await kills(bus)) == len(written)


async def test_a_resume_journaled_since_stands(key_prefix: str) -> None:
    """A state set after what the last run read (another desk's resume) is newer than
    the kill it never journaled: nothing is carried."""
    with RedisServer(persistence=True) as server:
        async with (
            a_bus(server, key_prefix) as bus,
            paper_session(bus, ack_s=0.01, engine=SHORT) as first,
        ):
            cid, _ = await killed_with_redis_down(server, bus, first)
        await server.arestart()
        await asyncio.sleep(1.2)
        async with a_bus(server, key_prefix) as bus:  # another desk's resume, meanwhile
            await bus.publish(
                RiskEvent.create(
                    "engine",
                    first.engine.risk_event(
                        RiskAction.RESUME, TradingState.ACTIVE, message="trading resumed"
                    ).payload,
                )
            )
        async with (
            a_bus(server, key_prefix) as bus,
            paper_session(bus, ack_s=0.01, engine=SHORT) as second,
        ):
            await asyncio.sleep(0.5)
            assert second.engine.gate.state is TradingState.ACTIVE
            assert carried(second) == []
            assert second.engine.oms.orders[cid].order.status is OrderStatus.NEW
            [said] = [a.message for a in second.alerts if a.title == SUPERSEDED]
            assert said.startswith("This desk's last run set a kill switch at "), said
            # What was set since and when, as a trader reads it (it named a raw entry id).
            assert re.search(
                r"the trading state was set since: resume to ACTIVE at "
                r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} UTC \(trading resumed by desk [^)]+\): "
                r"trading is ACTIVE as the journal gives it",
                said,
            ), said
            assert "risk entry" not in said, said


async def test_a_kill_redis_took_once_back_is_not_carried(key_prefix: str) -> None:
    with RedisServer(persistence=True) as server:
        async with (
            a_bus(server, key_prefix) as bus,
            paper_session(bus, ack_s=0.01, engine=SHORT) as first,
        ):
            await killed_with_redis_down(server, bus, first)
            await server.arestart()
            await until(lambda: first.engine.state_unwritten is None, what="the KILL written")
            assert len(await kills(bus)) == 1
            await asyncio.sleep(1.2)
            record = read(first.last_run.path)
            assert record is not None
            assert record.state_unwritten is None
        async with (
            a_bus(server, key_prefix) as bus,
            paper_session(bus, ack_s=0.01, engine=SHORT) as second,
        ):
            assert second.engine.gate.state is TradingState.HALTED
            assert carried(second) == []
            assert len(await kills(bus)) == 1
