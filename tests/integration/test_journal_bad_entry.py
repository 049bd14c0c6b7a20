"""A journal entry this desk cannot read (a fill cut short, one a newer Silvertine
wrote with a newer schema version, a type this build does not know; a risk entry
alike) is skipped by every reader, as before, but no longer without a word: the engine
counts it a `not_applied` anomaly naming its stream and entry id, published as the
engine's health (a toast, the Health line), said on every start whose replay meets
it, never twice in one run. The bus logs every bad entry once (`bus.bad_entry`)."""

from __future__ import annotations

import asyncio
import logging
from decimal import Decimal as D

import pytest
import redis.asyncio as aioredis

from silvertine_tui.bus import BusOptions, EventBus
from silvertine_tui.bus.redis_streams import RedisBus
from silvertine_tui.config import RiskConfig
from silvertine_tui.domain import OrderStatus
from silvertine_tui.engine.anomalies import ENGINE_COMPONENT, AnomalyKind
from silvertine_tui.engine.core import TradingEngine
from silvertine_tui.engine.recovery import catch_up, recover
from silvertine_tui.events import HealthEvent
from silvertine_tui.ui.model import FeedModel
from tests.fakes.scripted_venue import INSTRUMENT, ScriptedVenue, scripted_fill
from tests.support.desks import desk, resting_buy, status, until
from tests.support.redis_server import RedisServer

pytestmark = pytest.mark.redis

NOT_APPLIED = AnomalyKind.NOT_APPLIED

# Fills this build cannot read: from a newer build (schema v2), cut short, of a type
# this build does not know. Each is money the desk's positions may be missing.
BAD_FILLS: dict[str, dict[str, str]] = {
    "newer_version": {
        "t": "fill",
        "v": "2",
        "id": "evfuture000000001",
        "ts": "1",
        "src": "paper/main",
        "p": '{"broker":"paper","account":"main","instrument":"BTCUSDT.PAPER","quantity":"1"}',
    },
    "cut_short": {
        "t": "fill",
        "v": "1",
        "id": "evbroken000000002",
        "ts": "1",
        "src": "paper/main",
        "p": '{"broker":"paper","account":"main","instr',
    },
    "unknown_type": {
        "t": "fill.split",
        "v": "1",
        "id": "evunknown00000003",
        "ts": "1",
        "src": "paper/main",
        "p": "{}",
    },
}
# What each says besides the entry's id and the advice every one carries.
SAYS = {
    "newer_version": "written by a newer Silvertine (schema v2; this desk reads up to v1)",
    "cut_short": "could not be read (fill: payload: Invalid JSON",
    "unknown_type": "is of a type this desk does not know ('fill.split' v1",
}
UPGRADE = ", and upgrade this desk"


async def _xadd(client: aioredis.Redis, stream: str, fields: dict[str, str]) -> str:
    """The entry written as it is (no codec: it is what this desk cannot read)."""
    written = await client.xadd(stream, dict(fields))  # type: ignore[arg-type]
    return written.decode() if isinstance(written, bytes) else str(written)


def _records(
    caplog: pytest.LogCaptureFixture, event: str, entry_id: str
) -> list[logging.LogRecord]:
    return [
        r
        for r in caplog.records
        if r.getMessage() == event and getattr(r, "entry_id", None) == entry_id
    ]


async def _engine_health(bus: EventBus) -> list[HealthEvent]:
    return [
        e.event
        for e in await bus.read(bus.layout.health)
        if isinstance(e.event, HealthEvent) and e.event.payload.component == ENGINE_COMPONENT
    ]


@pytest.mark.parametrize("kind", sorted(BAD_FILLS))
async def test_an_unreadable_journal_entry_is_told_once_as_an_anomaly_and_logged(
    redis_server: RedisServer, key_prefix: str, kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    session = desk(redis_server.url, key_prefix, "paper")
    await session.start()
    client = aioredis.Redis.from_url(redis_server.url)
    seen: list[str] = []

    async def feed() -> None:  # the UI's reader: the same journal, read again
        async for entry in session.feed():
            seen.append(entry.id)

    reader = asyncio.create_task(feed())
    try:
        journal = session.bus.layout.exec("paper", "main")
        entry_id = await _xadd(client, journal, BAD_FILLS[kind])
        after = await resting_buy(session, "paper")  # the good entries after it are read
        await until(lambda: status(session, after) is OrderStatus.NEW)
        await until(lambda: entry_id in seen)
        await until(lambda: bool(_records(caplog, "engine.anomaly", entry_id)))
        await asyncio.sleep(0.3)

        anomalies = session.engine.anomalies
        assert dict(anomalies.counts) == {NOT_APPLIED: 1}
        message = anomalies.last
        assert f"{entry_id} on {journal}" in message
        assert SAYS[kind] in message
        assert "the orders and positions of paper/main may be wrong here" in message
        assert "check them at the venue" in message
        assert message.endswith(UPGRADE) is (kind != "cut_short")

        # Said to the trader: the engine's health on the bus, a toast on the desk.
        await until(lambda: session.engine.anomalies.pending == [])
        healths = await _engine_health(session.bus)
        told = [h for h in healths if entry_id in h.payload.message]
        assert len(told) == 1
        assert told[0].payload.metrics[NOT_APPLIED] == 1
        model = FeedModel(
            prefix=key_prefix,
            clock=lambda: 0.0,
            own_desk=session.desk_id,
            own_bus=session.bus_desk,
        )
        for entry in await session.bus.read(session.bus.layout.health):
            model.ingest(entry)
        notices = [n for n in model.take_notices() if n.title == "Engine: not applied"]
        assert len(notices) == 1
        assert entry_id in notices[0].message

        # Logged once each, by the bus and by the engine, however many readers met it.
        (bad,) = _records(caplog, "bus.bad_entry", entry_id)
        assert bad.levelno == logging.WARNING
        assert getattr(bad, "stream", None) == journal
        assert getattr(bad, "reason", "")
        (said,) = _records(caplog, "engine.anomaly", entry_id)
        assert said.levelno == logging.WARNING
        assert getattr(said, "detail", None) == message
    finally:
        reader.cancel()
        await asyncio.gather(reader, return_exceptions=True)
        await client.aclose()
        await session.close()


async def test_a_restart_says_it_again_and_the_same_run_never_twice(
    redis_server: RedisServer, key_prefix: str
) -> None:
    """The fill between two good ones cannot be read: the replay goes on past it (the
    position is 2 of the 3 fills), and says it, as the live desk did, though a replay
    says nothing else it finds (it was said then): this run's positions are still
    without the fill. A catch-up that reads the journal again says nothing more."""
    bus = RedisBus(redis_server.url, BusOptions(prefix=key_prefix))
    raw = aioredis.from_url(redis_server.url)
    await bus.start()
    try:
        venue = ScriptedVenue.build(bus)
        stream = bus.layout.exec("scripted", "main")
        await bus.publish(scripted_fill(1))
        bad = dict(BAD_FILLS["newer_version"], src="scripted/main")
        bad_id = await _xadd(raw, stream, bad)
        await bus.publish(scripted_fill(3))

        for run in range(2):  # two restarts: each says it, once
            engine = TradingEngine(bus, [venue], RiskConfig())
            await recover(engine, [("scripted", "main")])
            assert engine.portfolio.position("scripted", "main", INSTRUMENT.key) == D("2")
            assert dict(engine.anomalies.counts) == {NOT_APPLIED: 1}
            assert engine.anomalies.replayed[NOT_APPLIED] == 0
            assert f"fill {bad_id} on {stream} was written by a newer Silvertine" in (
                engine.anomalies.last
            )
            assert len(engine.anomalies.pending) == 1

            # Read again in the same run (a reconcile's catch-up, the reader handing an
            # entry over twice): nothing more is said.
            await catch_up(engine, "scripted/main")
            (entry,) = [e for e in await bus.read(stream) if e.id == bad_id]
            engine.apply_entry_or_skip(entry)
            engine.apply_or_skip([entry])
            assert dict(engine.anomalies.counts) == {NOT_APPLIED: 1}
            assert engine.anomalies.pending == []  # published by the catch-up
            told = [h for h in await _engine_health(bus) if bad_id in h.payload.message]
            assert len(told) == run + 1
    finally:
        await raw.aclose()
        await bus.close()


async def test_an_unreadable_risk_entry_says_the_trading_state_may_be_wrong(
    redis_server: RedisServer, key_prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A KILL a newer desk wrote (risk v2), which this desk cannot read: it must not be
    skipped unsaid, live or on a restart."""
    caplog.set_level(logging.INFO)
    session = desk(redis_server.url, key_prefix, "paper")
    await session.start()
    client = aioredis.Redis.from_url(redis_server.url)
    risk = session.bus.layout.risk
    kill = {
        "t": "risk",
        "v": "2",
        "id": "evkill0000000001",
        "ts": "1",
        "src": "engine",
        "p": '{"action":"kill","trading_state":"halted","message":"kill switch"}',
    }
    try:
        entry_id = await _xadd(client, risk, kill)
        await until(lambda: session.engine.anomalies.total >= 1)
        await asyncio.sleep(0.3)
        assert dict(session.engine.anomalies.counts) == {NOT_APPLIED: 1}
        message = session.engine.anomalies.last
        assert f"risk {entry_id} on {risk} was written by a newer Silvertine" in message
        assert "the trading state may be wrong here" in message
        assert message.endswith(UPGRADE)
        assert len(_records(caplog, "bus.bad_entry", entry_id)) == 1
    finally:
        session.leave_working_on_close()
        await session.close()

    again = desk(redis_server.url, key_prefix, "paper")
    try:
        await again.start()
        assert dict(again.engine.anomalies.counts) == {NOT_APPLIED: 1}
        assert f"risk {entry_id} on {risk}" in again.engine.anomalies.last
    finally:
        await client.aclose()
        await again.close()
