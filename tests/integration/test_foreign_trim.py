"""Entries deleted from a journal by another hand (an `XTRIM` or `XDEL` this desk did not
make) are a data loss, found and mended as a `DEL` of the stream is, never silent.

- The paper venue's journal is its memory on a restart and a desk never trims it
  (`recovery.journal_kept_whole`): trimmed under a running desk, the bus finds the loss
  (DEGRADED, the reason naming the stream) and the paper venue re-seeds its journal from
  memory, so the next start has the same working orders. Before, the trim went
  unnoticed and the next start cancelled them ("no longer open at the venue").
- A journal the bus trims itself (behind a snapshot, by age) is no loss.
- The risk stream holds the trading state, and any desk trims it after writing the state
  as its newest entry (`recovery.trim_risk_stream`): a trim that leaves no entry setting
  the state after what it deleted lost the state. Under a running desk the bus finds it
  and the desk writes its state back at once; while no desk ran, the next start carries
  this host's last-run record where it is stricter, and with no record starts HALTED,
  saying what to do. Before, a kill switch was lifted by the trim, without a word.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import redis.asyncio as aioredis

from silvertine_tui.bus import BusOptions, create_bus
from silvertine_tui.bus.base import DataLoss
from silvertine_tui.domain import ConnectionState, OrderStatus, TradingState
from silvertine_tui.engine import Session
from silvertine_tui.events import (
    HealthEvent,
    LogEvent,
    ReconcileEvent,
    ReconcileKind,
    Risk,
    RiskAction,
    RiskEvent,
)
from tests.support import fill_event
from tests.support.desks import desk, resting_buy, status, until, venue_working
from tests.support.redis_server import RedisServer

pytestmark = pytest.mark.redis

RESEEDED = "Paper venue re-seeded"
STATE_MAY_BE_LOST = "Trading state may be lost from the journal"
Trim = Callable[[aioredis.Redis, str], Awaitable[object]]


async def _xtrim_all(client: aioredis.Redis, stream: str) -> object:
    return await client.xtrim(stream, maxlen=0, approximate=False)


async def _xtrim_some(client: aioredis.Redis, stream: str) -> object:
    return await client.xtrim(stream, maxlen=2, approximate=False)


async def _xdel_first(client: aioredis.Redis, stream: str) -> object:
    entries: Any = await client.xrange(stream, count=1)
    return await client.xdel(stream, entries[0][0])


async def _bus_said(session: Session) -> list[tuple[ConnectionState, str]]:
    return [
        (e.event.payload.state, e.event.payload.message)
        for e in await session.bus.read(session.bus.layout.health)
        if isinstance(e.event, HealthEvent) and e.event.payload.component == "bus"
    ]


async def _log_lines(session: Session) -> list[str]:
    return [
        e.event.payload.message
        for e in await session.bus.read(session.bus.layout.health)
        if isinstance(e.event, LogEvent)
    ]


async def _states(session: Session) -> list[tuple[RiskAction, TradingState, str]]:
    return [
        (e.event.payload.action, e.event.payload.trading_state, e.event.payload.message)
        for e in await session.bus.read(session.bus.layout.risk)
        if isinstance(e.event, RiskEvent) and e.event.payload.action is not RiskAction.REJECT
    ]


async def _eventually(check: Callable[[], Awaitable[bool]], timeout: float = 10.0) -> None:
    for _ in range(int(timeout / 0.05)):
        if await check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"not so within {timeout} s")


# -- the paper venue's journal -------------------------------------------------------------


@pytest.mark.parametrize("trim", [_xtrim_all, _xtrim_some, _xdel_first])
async def test_a_foreign_trim_of_the_paper_journal_is_found_and_reseeded(
    redis_server: RedisServer, key_prefix: str, trim: Trim
) -> None:
    session = desk(redis_server.url, key_prefix, "paper")
    await session.start()
    client = aioredis.Redis.from_url(redis_server.url)
    try:
        cids = [await resting_buy(session, "paper") for _ in range(3)]
        await until(lambda: all(status(session, c) is OrderStatus.NEW for c in cids))
        journal = session.bus.layout.exec("paper", "main")
        lost = session.bus.stats.data_loss_detected
        assert await trim(client, journal)

        # Found within the epoch check (1 s): a loss of that journal, said DEGRADED
        # with what happened, as a DEL of it is.
        await until(lambda: session.bus.stats.data_loss_detected == lost + 1)
        await until(lambda: any(a.title == RESEEDED for a in session.alerts))

        async def said() -> bool:
            return any(
                state is ConnectionState.DEGRADED and journal in m and "XTRIM or XDEL" in m
                for state, m in await _bus_said(session)
            )

        await _eventually(said)
        # The venue wrote back what it holds: the journal has its working orders again.
        reseeded = [
            e.event.payload.client_order_id
            for e in await session.bus.read(journal)
            if isinstance(e.event, ReconcileEvent)
            and e.event.payload.kind is ReconcileKind.DATA_LOSS
            and e.event.payload.venue_order is not None
        ]
        assert sorted(reseeded) == sorted(cids)
        assert all(status(session, c) is OrderStatus.NEW for c in cids)
    finally:
        await client.aclose()
        await session.close()

    # The next start rebuilds the venue from the re-seeded journal: nothing lost.
    restarted = desk(redis_server.url, key_prefix, "paper")
    await restarted.start()
    try:
        assert {c: status(restarted, c) for c in cids} == dict.fromkeys(cids, OrderStatus.NEW)
        assert sorted(await venue_working(restarted)) == sorted(cids)
        assert restarted.reconcile_findings == []
    finally:
        await restarted.close()


async def test_the_bus_own_trims_of_a_journal_are_no_loss_and_a_foreign_one_is(
    redis_server: RedisServer, key_prefix: str
) -> None:
    """A journal the bus trims itself, behind a snapshot (`set_snapshot_floor`, by age),
    loses nothing it did not mean to; an XTRIM by another hand after it is a loss."""
    options = BusOptions(prefix=key_prefix, block_ms=100, journal_retention_s=0)
    bus = create_bus(redis_server.url, options)
    found: list[DataLoss] = []

    async def listener(loss: DataLoss) -> None:
        found.append(loss)

    bus.add_data_loss_listener(listener)
    await bus.start()
    client = aioredis.Redis.from_url(redis_server.url)
    journal = bus.layout.exec("binance", "main")
    try:
        ids = [await bus.publish(fill_event(n, source="binance/main")) for n in range(450)]
        await asyncio.sleep(1.5)  # the watcher has looked at it
        floor = ids[350]
        assert floor is not None
        await bus.set_snapshot_floor(journal, floor)
        info = await bus.info(journal)
        assert info is not None
        assert info.length < 450  # the bus trimmed it (whole nodes of 100 entries)
        await bus.publish(fill_event(450, source="binance/main"))
        await asyncio.sleep(2.5)  # two more looks
        assert found == []
        assert bus.stats.data_loss_detected == 0

        await client.xtrim(journal, maxlen=5, approximate=False)
        for _ in range(60):
            if found:
                break
            await asyncio.sleep(0.1)
        [loss] = found
        assert loss.lost(journal)
        assert journal in loss.trimmed
        assert "XTRIM or XDEL" in loss
    finally:
        await client.aclose()
        await bus.close()


# -- the risk stream: the trading state -------------------------------------------------


async def test_a_foreign_trim_of_the_risk_stream_under_a_halted_desk_is_written_back(
    redis_server: RedisServer, key_prefix: str
) -> None:
    session = desk(redis_server.url, key_prefix, "paper")
    await session.start()
    client = aioredis.Redis.from_url(redis_server.url)
    risk = session.bus.layout.risk
    try:
        await session.engine.kill("drill")
        assert session.engine.gate.state is TradingState.HALTED
        await client.xtrim(risk, maxlen=0, approximate=False)

        await until(lambda: session.bus.stats.data_loss_detected == 1)

        async def written_back() -> bool:
            return any(
                action is RiskAction.STATE and state is TradingState.HALTED
                for action, state, _ in await _states(session)
            )

        await _eventually(written_back)
        [(_, _, why)] = await _states(session)
        assert "XTRIM or XDEL" in why, why
        [alert] = [a for a in session.alerts if a.title == "Trading state written back"]
        assert risk in alert.message
        assert "HALTED" in alert.message
        assert session.engine.gate.state is TradingState.HALTED
    finally:
        await client.aclose()
        await session.close()

    restarted = desk(redis_server.url, key_prefix, "paper")
    await restarted.start()
    try:
        assert restarted.engine.gate.state is TradingState.HALTED
    finally:
        await restarted.close()


async def test_a_risk_stream_trimmed_while_no_desk_ran_keeps_the_recorded_halt(
    redis_server: RedisServer, key_prefix: str
) -> None:
    first = desk(redis_server.url, key_prefix, "paper")
    await first.start()
    try:
        await first.engine.kill("drill")
    finally:
        await first.close()
    client = aioredis.Redis.from_url(redis_server.url)
    try:
        await client.xtrim(f"{key_prefix}:risk", maxlen=0, approximate=False)
    finally:
        await client.aclose()

    second = desk(redis_server.url, key_prefix, "paper")
    await second.start()
    try:
        assert second.engine.gate.state is TradingState.HALTED
        [alert] = [a for a in second.alerts if a.title == "Trading state lost from the journal"]
        assert "HALTED" in alert.message
        assert "this host's last desk run" in alert.message
        # Written back: the journal holds the state again (every desk, every start).
        assert [s for a, s, _ in await _states(second) if a is RiskAction.STATE] == [
            TradingState.HALTED
        ]
        assert any("trimmed" in line or "deleted" in line for line in await _log_lines(second))
    finally:
        await second.close()

    third = desk(redis_server.url, key_prefix, "paper")
    await third.start()
    try:  # the state is in the journal again: nothing more to say
        assert third.engine.gate.state is TradingState.HALTED
        assert not [a for a in third.alerts if a.title == "Trading state lost from the journal"]
    finally:
        await third.close()


async def test_a_risk_stream_trimmed_with_no_record_starts_halted_and_says_what_to_do(
    redis_server: RedisServer, key_prefix: str
) -> None:
    first = desk(redis_server.url, key_prefix, "paper")
    await first.start()
    try:
        await first.engine.kill("drill")
    finally:
        await first.close()
    first.last_run.path.unlink()  # another host: no record of a run on this bus
    client = aioredis.Redis.from_url(redis_server.url)
    try:
        await client.xtrim(f"{key_prefix}:risk", maxlen=0, approximate=False)
    finally:
        await client.aclose()

    second = desk(redis_server.url, key_prefix, "paper")
    await second.start()
    try:
        assert second.engine.gate.state is TradingState.HALTED
        [alert] = [a for a in second.alerts if a.title == STATE_MAY_BE_LOST]
        assert "no record" in alert.message
        assert "resume" in alert.message
        assert alert.severity == "error"
    finally:
        await second.close()


async def test_desks_write_the_trimmed_state_back_without_undoing_each_other(
    redis_server: RedisServer, key_prefix: str
) -> None:
    a = desk(redis_server.url, key_prefix, "paper")
    b = desk(redis_server.url, key_prefix, "paper2")
    await a.start()
    await b.start()
    client = aioredis.Redis.from_url(redis_server.url)
    try:
        await a.engine.kill("drill on A")
        await until(lambda: b.engine.gate.state is TradingState.HALTED)
        await client.xtrim(f"{key_prefix}:risk", maxlen=0, approximate=False)
        # Found by the desk that looks first: once its state is back, the other finds
        # the state there (the trim took no state from it any more).
        await until(lambda: a.bus.stats.data_loss_detected + b.bus.stats.data_loss_detected > 0)

        async def written_back() -> bool:
            return bool(await _states(a))

        await _eventually(written_back)
        await asyncio.sleep(1.0)  # both desks' work done
        assert {s for _, s, _ in await _states(a)} == {TradingState.HALTED}
        # A resume on B after it holds on both desks: nothing written back re-halts it.
        await b.engine.resume()
        await until(lambda: a.engine.gate.state is TradingState.ACTIVE)
        await asyncio.sleep(1.5)
        assert a.engine.gate.state is TradingState.ACTIVE
        assert b.engine.gate.state is TradingState.ACTIVE
        assert (await _states(a))[-1][:2] == (RiskAction.RESUME, TradingState.ACTIVE)
    finally:
        await client.aclose()
        await a.close()
        await b.close()


async def test_a_trim_that_keeps_the_state_is_no_loss(
    redis_server: RedisServer, key_prefix: str
) -> None:
    """The desks' own trim (the state written first, as the newest entry) and any trim
    that leaves an entry setting the state after what it deleted lose nothing."""
    bus = create_bus(redis_server.url, BusOptions(prefix=key_prefix, block_ms=100))
    found: list[DataLoss] = []

    async def listener(loss: DataLoss) -> None:
        found.append(loss)

    bus.add_data_loss_listener(listener)
    await bus.start()
    client = aioredis.Redis.from_url(redis_server.url)
    risk = bus.layout.risk

    def event(action: RiskAction, n: int = 0) -> RiskEvent:
        state = TradingState.HALTED
        return RiskEvent.create(
            "engine", Risk(action=action, trading_state=state, message=f"{action} {n}")
        )

    try:
        await bus.publish(event(RiskAction.KILL))
        for n in range(300):
            await bus.publish(event(RiskAction.REJECT, n))
        await asyncio.sleep(1.5)  # the watcher has looked
        await bus.publish(event(RiskAction.STATE))
        assert await bus.trim(risk, 100)  # as `trim_risk_stream` does
        await bus.publish(event(RiskAction.REJECT, 300))
        await client.xtrim(risk, maxlen=2, approximate=False)  # leaves the STATE entry
        await asyncio.sleep(2.5)
        assert found == []

        await client.xtrim(risk, maxlen=1, approximate=False)  # the STATE entry goes
        for _ in range(60):
            if found:
                break
            await asyncio.sleep(0.1)
        [loss] = found
        assert risk in loss.trimmed
        assert "trading state" in loss
    finally:
        await client.aclose()
        await bus.close()
