"""Entries deleted from the risk stream that did not set the trading state lose nothing
(`RedisBus._state_deleted`, `recovery.trading_state_deleted`, `RunRecorder.check`).

Before, any deletion newer than the newest entry setting the state (a KILL, a RESUME, a
STATE) counted as the state gone with it: an operator's XDEL of one REJECT made a running
desk write its state back, and a desk starting with no last-run record started HALTED and
wrote STATE HALTED to the shared stream (every desk on the bus halted, the stream read
KILL, RESUME, STATE HALTED); a desk whose record was stricter carried it back over a
RESUME still in the stream. Now a running desk calls it a loss only when the newest entry
setting the state it read is gone with nothing setting it after it; a start knows that
of its last run's entry (its record). What no desk can tell (what an XDEL took cannot be
read back) halts the starting desk alone, journaling nothing, and says it MAY have been
lost; any state journaled after ends that hold, here and everywhere.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from silvertine_tui.domain import TradingState
from silvertine_tui.engine import Session
from silvertine_tui.events import Risk, RiskAction, RiskEvent
from tests.support.desks import desk, desk_settings, until
from tests.support.redis_server import RedisServer

pytestmark = pytest.mark.redis

LOST = "Trading state lost from the journal"
MAY_BE_LOST = "Trading state may be lost from the journal"
WRITTEN_BACK = "Trading state written back"
A = TradingState.ACTIVE
H = TradingState.HALTED


def small_risk_keep(url: str, prefix: str, broker: str) -> Session:
    """A desk that trims the risk stream past 300 entries (`risk_keep` 100 and the
    slack of 200): its start's trim runs on the streams of these tests."""
    base = desk_settings(url, prefix, broker)
    return Session(base.model_copy(update={"bus": base.bus.model_copy(update={"risk_keep": 100})}))


async def reject(session: Session, n: int = 0) -> str:
    """A REJECT on the risk stream, as the gate writes one."""
    return await session.bus.publish_now(
        RiskEvent.create(
            "engine",
            Risk(
                action=RiskAction.REJECT,
                trading_state=session.engine.gate.state,
                rule="max_qty",
                message=f"reject {n}",
            ),
        )
    )


async def states(session: Session) -> list[tuple[RiskAction, TradingState]]:
    """The risk stream's entries that set the trading state, oldest first."""
    return [
        (e.event.payload.action, e.event.payload.trading_state)
        for e in await session.bus.read(session.bus.layout.risk)
        if isinstance(e.event, RiskEvent) and e.event.payload.action is not RiskAction.REJECT
    ]


async def xdel(url: str, stream: str, entry_id: str) -> None:
    client = aioredis.Redis.from_url(url)
    try:
        assert await client.xdel(stream, entry_id) == 1
    finally:
        await client.aclose()


def titles(session: Session) -> list[str]:
    return [a.title for a in session.alerts]


async def test_a_reject_xdeled_while_no_desk_ran_halts_the_next_desk_alone(
    redis_server: RedisServer, key_prefix: str
) -> None:
    """The review's repro: KILL, RESUME, rejects; no record on the next desk's host; the
    newest reject XDELed. The next desk starts HALTED on its own, saying the state MAY
    have gone, and writes nothing: the stream still reads KILL, RESUME (before: STATE
    HALTED was added, which halted every desk). Its start's trim waits meanwhile (a
    carried state would journal the hold). Its trader's resume ends it for every start."""
    first = desk(redis_server.url, key_prefix, "paper")
    await first.start()
    try:
        await first.engine.kill("drill")
        await first.engine.resume()
        for n in range(400):  # past what the next desk's trim keeps (`small_risk_keep`)
            await reject(first, n)
        last = await reject(first, 400)
    finally:
        await first.close()
    first.last_run.path.unlink()  # another host: no record of a run on this bus
    await xdel(redis_server.url, first.bus.layout.risk, last)

    second = small_risk_keep(redis_server.url, key_prefix, "paper")
    await second.start()
    try:
        assert second.engine.gate.state is H
        assert second.projection.trading_state is H  # what the desk shows
        assert second.engine.gate.held_here
        assert LOST not in titles(second)
        [alert] = [a for a in second.alerts if a.title == MAY_BE_LOST]
        assert "may have gone" in alert.message
        assert "no record" in alert.message
        assert "on this desk alone" in alert.message
        assert alert.severity == "error"
        # Nothing written: no STATE HALTED for every desk, no carried state of a trim.
        assert await states(second) == [(RiskAction.KILL, H), (RiskAction.RESUME, A)]

        await second.engine.resume()
        assert second.engine.gate.state is A
        assert not second.engine.gate.held_here
        await until(lambda: second.projection.trading_state is A)
    finally:
        await second.close()

    third = desk(redis_server.url, key_prefix, "paper")
    await third.start()
    try:  # the resume is after the deletion: the state is in the stream again
        assert third.engine.gate.state is A
        assert LOST not in titles(third)
        assert MAY_BE_LOST not in titles(third)
    finally:
        await third.close()


async def test_a_reject_xdeled_under_running_desks_loses_nothing(
    redis_server: RedisServer, key_prefix: str
) -> None:
    """Under two running desks an XDEL of a reject is no loss: neither writes its state
    back (before, the first to look wrote STATE ACTIVE "written back" and toasted). An
    XDEL of the RESUME they applied is one: written back, and a restart trades on."""
    a = desk(redis_server.url, key_prefix, "paper")
    b = desk(redis_server.url, key_prefix, "paper2")
    await a.start()
    await b.start()
    risk = a.bus.layout.risk
    try:
        await a.engine.kill("drill")
        await until(lambda: b.engine.gate.state is H)
        await a.engine.resume()
        await until(lambda: b.engine.gate.state is A)
        rejected = await reject(a)
        await until(lambda: b.engine.applied.get(risk) == rejected)
        await asyncio.sleep(1.5)  # both watchers looked since (every 1 s)

        await xdel(redis_server.url, risk, rejected)
        await asyncio.sleep(2.5)  # two more looks
        assert (a.bus.stats.data_loss_detected, b.bus.stats.data_loss_detected) == (0, 0)
        assert WRITTEN_BACK not in titles(a) + titles(b)
        assert await states(a) == [(RiskAction.KILL, H), (RiskAction.RESUME, A)]
        assert (a.engine.gate.state, b.engine.gate.state) == (A, A)

        # The RESUME both applied: the stream's newest state is the KILL's now.
        [resume_id] = [
            e.id
            for e in await a.bus.read(risk)
            if isinstance(e.event, RiskEvent) and e.event.payload.action is RiskAction.RESUME
        ]
        await xdel(redis_server.url, risk, resume_id)
        await until(lambda: a.bus.stats.data_loss_detected + b.bus.stats.data_loss_detected > 0)

        async def written_back() -> bool:
            return (await states(a))[-1] == (RiskAction.STATE, A)

        for _ in range(200):
            if await written_back():
                break
            await asyncio.sleep(0.05)
        assert await written_back()
        assert (a.engine.gate.state, b.engine.gate.state) == (A, A)
    finally:
        await a.close()
        await b.close()

    restarted = desk(redis_server.url, key_prefix, "paper")
    await restarted.start()
    try:
        assert restarted.engine.gate.state is A
        assert MAY_BE_LOST not in titles(restarted)
    finally:
        await restarted.close()


async def test_a_stricter_record_does_not_undo_a_resume_still_in_the_stream(
    redis_server: RedisServer,
    key_prefix: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Host A's desk left HALTED (its record says so); a desk on host B resumed and
    trades on; a reject after the RESUME is XDELed. A's next desk finds the KILL its
    record names still there: whether the deletion took a state cannot be told, so it
    halts alone and writes nothing. Before, it carried its record's HALTED back as the
    stream's newest entry: B halted, the RESUME undone. A state B journals after ends
    A's hold."""
    host_a = tmp_path / "host-a"
    monkeypatch.setenv("XDG_STATE_HOME", str(host_a))
    a = desk(redis_server.url, key_prefix, "paper")
    await a.start()
    try:
        await a.engine.kill("drill")
    finally:
        await a.close()

    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "host-b"))
    b = desk(redis_server.url, key_prefix, "paper2")
    await b.start()
    a2: Session | None = None
    try:
        assert b.engine.gate.state is H
        await b.engine.resume()
        last = await reject(b)
        await asyncio.sleep(1.5)  # its watcher looked
        await xdel(redis_server.url, b.bus.layout.risk, last)

        monkeypatch.setenv("XDG_STATE_HOME", str(host_a))
        a2 = desk(redis_server.url, key_prefix, "paper")
        await a2.start()
        assert a2.engine.gate.state is H
        [alert] = [x for x in a2.alerts if x.title == MAY_BE_LOST]
        assert "left it HALTED" in alert.message
        assert LOST not in titles(a2)
        await asyncio.sleep(1.5)  # B's reader and watcher had their turn
        assert await states(b) == [(RiskAction.KILL, H), (RiskAction.RESUME, A)]
        assert b.engine.gate.state is A
        assert b.bus.stats.data_loss_detected == 0

        await b.engine.set_trading_state(TradingState.REDUCE_ONLY)
        await until(lambda: a2 is not None and a2.engine.gate.state is TradingState.REDUCE_ONLY)
        assert not a2.engine.gate.held_here
        assert a2.projection.trading_state is TradingState.REDUCE_ONLY
    finally:
        await b.close()
        if a2 is not None:
            await a2.close()


async def test_the_state_entry_a_record_names_xdeled_is_carried_back(
    redis_server: RedisServer, key_prefix: str
) -> None:
    """The KILL this host's last desk run read, XDELed while no desk ran, nothing
    setting the state after it: lost for sure. The next start carries the record's
    HALTED and writes it back (every desk, every start), as for a trim."""
    first = desk(redis_server.url, key_prefix, "paper")
    await first.start()
    try:
        await first.engine.kill("drill")
        await reject(first)
    finally:
        await first.close()
    [kill_id] = [
        e.id
        for e in await first.bus.read(first.bus.layout.risk)
        if isinstance(e.event, RiskEvent) and e.event.payload.action is RiskAction.KILL
    ]
    await xdel(redis_server.url, first.bus.layout.risk, kill_id)

    second = desk(redis_server.url, key_prefix, "paper")
    await second.start()
    try:
        assert second.engine.gate.state is H
        [alert] = [a for a in second.alerts if a.title == LOST]
        assert kill_id in alert.message
        assert "this host's last desk run" in alert.message
        assert await states(second) == [(RiskAction.STATE, H)]
    finally:
        await second.close()
