"""Redis keys a desk did not expect, and a Redis that refuses: what the desk concludes
and what it tells the trader.

- The health stream deleted under a running desk (an operator's `DEL`) is no loss of
  the journal: the paper venue's intact journal is not re-seeded, the trading state is
  not carried forward, and the trader is told what was lost (the health stream), not
  that the journal was. A Redis restarted empty still re-seeds and says so.
- A desk started on a Redis that refuses writes (out of memory, a read-only replica) or
  whose epoch key holds another type is told what is wrong, never to check its
  password.
- A health or snapshot key of another type at start does not stop the desk: health is
  no journal, and a snapshot only shortens the replay of a complete journal.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator

import pytest
import redis.asyncio as aioredis

from silvertine_tui.bus import BusEntry, BusError, BusOptions, BusUnavailableError, create_bus
from silvertine_tui.domain import ConnectionState, OrderStatus, TradingState
from silvertine_tui.engine import Session
from silvertine_tui.events import (
    EventBase,
    Health,
    HealthEvent,
    LogEvent,
    ReconcileEvent,
    ReconcileKind,
    RiskEvent,
)
from tests.support import fill_event
from tests.support.desks import desk, resting_buy, status, until
from tests.support.redis_server import RedisServer, free_port

pytestmark = pytest.mark.redis

RESEEDED = "Paper venue re-seeded"


@pytest.fixture
def own_server() -> Iterator[RedisServer]:
    """A server of the test's own: these tests restart it or change its config."""
    with RedisServer() as server:
        yield server


async def _health_said(session: Session) -> list[str]:
    return [
        e.event.payload.message
        for e in await session.bus.read(session.bus.layout.health)
        if isinstance(e.event, HealthEvent | LogEvent)
    ]


def _said(entry: BusEntry) -> str:
    """One journal entry, short: its type and the start of its payload."""
    event = entry.event
    if isinstance(event, EventBase):
        return f"{event.type} {event.payload!s:.80}"
    return f"undecodable {entry.id}"


async def _risk_messages(session: Session) -> list[str]:
    return [
        e.event.payload.message
        for e in await session.bus.read(session.bus.layout.risk)
        if isinstance(e.event, RiskEvent)
    ]


async def _said_within(session: Session, part: str, timeout: float = 10.0) -> list[str]:
    async with asyncio.timeout(timeout):
        while True:
            said = [m for m in await _health_said(session) if part in m]
            if said:
                return said
            await asyncio.sleep(0.05)


async def _loss_over(session: Session, reason: str, timeout: float = 10.0) -> None:
    """Until the bus says LIVE after a loss whose reason holds `reason`: the desk's
    listeners are done (`RedisBus._loss_over`)."""
    async with asyncio.timeout(timeout):
        while True:
            for entry in await session.bus.read(session.bus.layout.health):
                event = entry.event
                if (
                    isinstance(event, HealthEvent)
                    and event.payload.component == "bus"
                    and event.payload.state is ConnectionState.LIVE
                    and reason in event.payload.message
                ):
                    return
            await asyncio.sleep(0.05)


# -- (1) a lost health stream is no lost journal ---------------------------------------


async def test_deleting_the_health_stream_does_not_say_the_paper_journal_was_lost(
    redis_server: RedisServer, key_prefix: str
) -> None:
    session = desk(redis_server.url, key_prefix, "paper")
    await session.start()
    client = aioredis.Redis.from_url(redis_server.url)
    try:
        cid = await resting_buy(session, "paper")
        await until(lambda: status(session, cid) is OrderStatus.NEW)
        layout = session.bus.layout
        journal = layout.exec("paper", "main")
        before = await client.xlen(journal)
        risk_before = await _risk_messages(session)
        lost = session.bus.stats.data_loss_detected
        await client.delete(layout.health)
        # The watcher (every epoch_check_s, 1 s) finds it; the bus says LIVE once the
        # session has done what it does about it.
        await until(lambda: session.bus.stats.data_loss_detected == lost + 1)
        await _loss_over(session, f"{layout.health} is gone")

        added = [_said(e) for e in (await session.bus.read(journal))[before:]]
        assert added == [], f"the intact journal was re-seeded: {added}"
        assert not [a for a in session.alerts if a.title == RESEEDED], session.alerts
        assert await _risk_messages(session) == risk_before
        messages = await _health_said(session)
        assert not [m for m in messages if "journal" in m], messages
        assert not [m for m in messages if "restarted" in m], messages
        said = [m for m in messages if "the brokers' health and profiles are published" in m]
        assert layout.health in said[0], messages
        # Health is there again: the paper broker's profile and its state.
        health = await session.bus.read(layout.health)
        kinds = {e.event.type for e in health if isinstance(e.event, EventBase)}
        assert "broker.profile" in kinds
        assert "health" in kinds
        assert status(session, cid) is OrderStatus.NEW
    finally:
        await client.aclose()
        await session.close()


async def test_a_health_key_overwritten_with_a_string_is_no_lost_journal_either(
    redis_server: RedisServer, key_prefix: str
) -> None:
    """The same loss by another hand: the health key overwritten with a string (XINFO
    finds no stream). Its journal stays as it was, the trader is not told it was lost."""
    session = desk(redis_server.url, key_prefix, "paper")
    await session.start()
    client = aioredis.Redis.from_url(redis_server.url)
    try:
        cid = await resting_buy(session, "paper")
        await until(lambda: status(session, cid) is OrderStatus.NEW)
        layout = session.bus.layout
        journal = layout.exec("paper", "main")
        before = await client.xlen(journal)
        lost = session.bus.stats.data_loss_detected
        await client.set(layout.health, "not a stream")
        await until(lambda: session.bus.stats.data_loss_detected > lost)
        # The end of the loss cannot be written there to wait for: the listeners' work
        # (a re-seed took a few ms before) is given well over its time.
        await asyncio.sleep(1.5)
        assert await client.xlen(journal) == before
        assert not [a for a in session.alerts if a.title == RESEEDED], session.alerts
        assert session.engine.gate.state is TradingState.ACTIVE
    finally:
        await client.aclose()
        await session.close()


async def test_a_lost_journal_with_the_health_key_overwritten_is_still_resynced(
    redis_server: RedisServer, key_prefix: str
) -> None:
    """The paper journal deleted and the health key overwritten at once: the journal's
    loss re-seeds it, though the resync's lines cannot be written to the health key (its
    log line, the re-seed's: best effort, the resync goes on)."""
    session = desk(redis_server.url, key_prefix, "paper")
    await session.start()
    client = aioredis.Redis.from_url(redis_server.url)
    try:
        cid = await resting_buy(session, "paper")
        await until(lambda: status(session, cid) is OrderStatus.NEW)
        layout = session.bus.layout
        journal = layout.exec("paper", "main")
        async with client.pipeline(transaction=True) as pipe:
            pipe.delete(journal)
            pipe.set(layout.health, "not a stream")
            await pipe.execute()
        await until(lambda: bool([a for a in session.alerts if a.title == RESEEDED]), 15)
        reconciles = [
            e.event.payload
            for e in await session.bus.read(journal)
            if isinstance(e.event, ReconcileEvent)
        ]
        assert [r.client_order_id for r in reconciles if r.kind is ReconcileKind.DATA_LOSS] == [
            "",
            cid,
        ], reconciles
        # Only the journal was lost: the risk stream's state is not carried forward.
        risk = await _risk_messages(session)
        assert not [m for m in risk if "Redis lost the risk stream" in m], risk
        assert status(session, cid) is OrderStatus.NEW
    finally:
        await client.aclose()
        await session.close()


async def test_a_restart_empty_still_reseeds_the_paper_journal_and_says_so(
    own_server: RedisServer, key_prefix: str
) -> None:
    """The guard: Redis restarted empty (the epoch gone) is a loss of everything, the
    paper journal with it: re-seeded, the trading state carried forward, said."""
    session = desk(own_server.url, key_prefix, "paper")
    await session.start()
    try:
        cid = await resting_buy(session, "paper")
        await until(lambda: status(session, cid) is OrderStatus.NEW)
        await own_server.akill()
        await own_server.arestart()
        await until(lambda: bool([a for a in session.alerts if a.title == RESEEDED]), 20)
        reseeded = [a for a in session.alerts if a.title == RESEEDED]
        assert "Redis lost the journal of paper/main" in reseeded[0].message
        await _said_within(session, "resynced from the brokers", 20)
        risk = await _risk_messages(session)
        assert any("carried forward: Redis lost the risk stream" in m for m in risk), risk
        journal = await session.bus.read(session.bus.layout.exec("paper", "main"))
        lost = [
            e.event.payload.client_order_id
            for e in journal
            if isinstance(e.event, ReconcileEvent)
            and e.event.payload.kind is ReconcileKind.DATA_LOSS
        ]
        assert cid in lost, [_said(e) for e in journal]
        assert status(session, cid) is OrderStatus.NEW
    finally:
        await session.close()


# -- (2) a Redis that refuses at start is named, not blamed on the password ---------------


@pytest.mark.parametrize("fault", ["oom", "readonly"])
async def test_a_desk_started_on_a_refusing_redis_is_not_told_to_check_its_password(
    own_server: RedisServer, key_prefix: str, fault: str
) -> None:
    client = aioredis.Redis.from_url(own_server.url)
    await client.set("filler", "y" * 2_000_000)
    if fault == "oom":
        await client.config_set("maxmemory-policy", "noeviction")
        await client.config_set("maxmemory", "1mb")
    else:
        await client.execute_command(  # type: ignore[no-untyped-call]
            "REPLICAOF", "127.0.0.1", str(free_port())
        )
    session = desk(own_server.url, key_prefix, "paper")
    try:
        with pytest.raises(BusUnavailableError) as caught:
            await asyncio.wait_for(session.start(), 15)
        text = str(caught.value)
        assert "password" not in text, text
        if fault == "oom":
            assert "out of memory" in text, text
            assert "maxmemory" in text, text
        else:
            assert "read-only replica" in text, text
            assert "Point bus.url at the primary" in text, text
    finally:
        if fault == "oom":
            await client.config_set("maxmemory", "0")
        else:
            await client.execute_command("REPLICAOF", "NO", "ONE")  # type: ignore[no-untyped-call]
        await client.aclose()
        await session.close()


async def test_an_epoch_key_of_another_type_is_named_not_blamed_on_the_password(
    redis_server: RedisServer, key_prefix: str
) -> None:
    client = aioredis.Redis.from_url(redis_server.url)
    await client.hset(f"{key_prefix}:epoch", mapping={"a": "b"})
    session = desk(redis_server.url, key_prefix, "paper")
    try:
        with pytest.raises(BusUnavailableError) as caught:
            await asyncio.wait_for(session.start(), 15)
        text = str(caught.value)
        assert f"holds a hash at {key_prefix}:epoch" in text, text
        assert f"DEL {key_prefix}:epoch" in text, text
        assert "password" not in text, text
    finally:
        await client.aclose()
        await session.close()


async def test_a_wrong_password_is_still_told_to_check_the_password(
    own_server: RedisServer, key_prefix: str
) -> None:
    """The password advice stays where it belongs: Redis refusing the credentials."""
    client = aioredis.Redis.from_url(own_server.url)
    await client.config_set("requirepass", "right-one")
    url = own_server.url.replace("redis://", "redis://:wrong-one@", 1)
    session = desk(url, key_prefix, "paper")
    try:
        with pytest.raises(BusUnavailableError) as caught:
            await asyncio.wait_for(session.start(), 15)
        text = str(caught.value)
        assert "password" in text, text
        assert "wrong-one" not in text, text
    finally:
        await session.close()
        await client.execute_command("AUTH", "right-one")  # type: ignore[no-untyped-call]
        await client.config_set("requirepass", "")
        await client.aclose()


async def test_a_health_event_the_key_refuses_is_dropped_and_logged_once_while_it_lasts(
    redis_server: RedisServer, key_prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Health is no journal: a heartbeat (or a broker's state change, as its connect
    says it) refused because the health key holds another type is dropped by the bus,
    not raised into the broker, and logged once while it lasts (again once it came
    back and went)."""
    bus = create_bus(redis_server.url, BusOptions(prefix=key_prefix, block_ms=100))
    await bus.start()
    health = bus.layout.health
    client = aioredis.Redis.from_url(redis_server.url)

    def beat(n: int) -> HealthEvent:
        return HealthEvent.create(
            "broker:paper/main",
            Health(component="broker:paper/main", state=ConnectionState.LIVE, message=f"{n}"),
        )

    def said() -> list[logging.LogRecord]:
        return [r for r in caplog.records if r.msg == "bus.redis.health_not_written"]

    try:
        with caplog.at_level("INFO", logger="silvertine_tui.bus.redis_streams"):
            await client.set(health, "x")
            assert [await bus.publish(beat(n)) for n in range(25)] == [None] * 25
            assert len(said()) == 1
            assert health in str(said()[0].__dict__.get("stream"))
            assert bus.stats.write_errors == 25
            await client.delete(health)
            assert await bus.publish(beat(25))  # written: a stream again
            await client.set(health, "x")
            for n in range(26, 30):
                await bus.publish(beat(n))
            assert len(said()) == 2
            # Only the health key: a journal's refusal is raised, as before.
            journal = bus.layout.exec("paper", "main")
            await client.set(journal, "x")
            with pytest.raises(BusError, match="not journaled"):
                await bus.publish(fill_event(1))
    finally:
        await client.aclose()
        await bus.close()


# -- (3, 4) health and snapshot keys of another type at start ------------------------------


async def test_a_health_key_of_another_type_at_start_is_set_aside_as_it_is_live(
    redis_server: RedisServer, key_prefix: str
) -> None:
    client = aioredis.Redis.from_url(redis_server.url)
    health = f"{key_prefix}:health"
    await client.hset(health, mapping={"a": "b"})
    session = desk(redis_server.url, key_prefix, "paper")
    try:
        await asyncio.wait_for(session.start(), 20)
        assert session.ready
        # Set aside as while running: said in the bus's metrics (the Health pane, the
        # toast), and the desk trades on.
        await until(lambda: f"{health} (a hash)" in session.bus.stats.unreadable)
        cid = await resting_buy(session, "paper")
        await until(lambda: status(session, cid) is OrderStatus.NEW)
        # Deleted, it is a stream again and read.
        await client.delete(health)
        await until(lambda: not session.bus.stats.unreadable, 15)
    finally:
        await client.aclose()
        await session.close()


async def test_a_snapshot_key_of_another_type_at_start_recovers_from_the_journal(
    redis_server: RedisServer, key_prefix: str
) -> None:
    first = desk(redis_server.url, key_prefix, "paper")
    await first.start()
    cid = await resting_buy(first, "paper")
    await until(lambda: status(first, cid) is OrderStatus.NEW)
    first.leave_working_on_close()
    await first.close()
    client = aioredis.Redis.from_url(redis_server.url)
    snap = f"{key_prefix}:snap:paper:main"
    await client.delete(snap)
    await client.hset(snap, mapping={"a": "b"})
    second = desk(redis_server.url, key_prefix, "paper")
    try:
        await asyncio.wait_for(second.start(), 20)
        assert status(second, cid) is OrderStatus.NEW
        said = await _said_within(second, snap)
        assert f"DEL {snap}" in said[0], said
        assert "from the journal" in said[0], said
        assert not second.engine.anomalies.counts, second.engine.anomalies.counts
    finally:
        await client.aclose()
        await second.close()
