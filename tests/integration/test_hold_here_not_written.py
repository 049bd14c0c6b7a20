"""A desk holding a state of its own (`RiskGate.hold_here`: the start could not tell
whether entries deleted from the risk stream took the trading state, so it halted on
this desk alone and journaled nothing) never writes that hold to the shared risk stream
when Redis loses data afterwards.

Before, a data loss under the held desk wrote its state as it stood: Redis restarting
empty had `Session._resync_after_loss` carry it (`carry_trading_state`, STATE HALTED
"carried forward: Redis lost the risk stream"), a state entry it had read XDELed had it
write it back (`_write_state_back`), and the last-run record (HALTED) had the next start
after a loss while no desk ran carry it. The stream then read HALTED, and every desk on
the bus halted (one that was running, one that started after) for a hold that was this
desk's alone. Now the held desk writes nothing, stays HALTED on its own and says so; the
other desks trade on. A state journaled after, its own or another desk's, ends the hold
as before (`RiskGate.state`).

The desks are on two hosts (their own `XDG_STATE_HOME`, so their own last-run record).
One test runs desk B in a child process (`python -m` this module) and stops it with
SIGSTOP while Redis restarts, so that A is the first to find the loss (in one process B
started first is, and its carried entry ended A's hold before A looked).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from silvertine_tui.domain import TradingState
from silvertine_tui.engine import Session
from silvertine_tui.engine.last_run import STATE_MAY_BE_LOST_ALERT
from silvertine_tui.engine.session import RESEEDED_ALERT
from silvertine_tui.events import Risk, RiskAction, RiskEvent
from tests.support.desks import desk, desk_settings, until
from tests.support.redis_server import RedisServer

pytestmark = pytest.mark.redis

A = TradingState.ACTIVE
H = TradingState.HALTED
ROOT = Path(__file__).resolve().parents[2]
HELD_HERE = "Trading state held on this desk alone"
"""The toast's title when a data loss finds this desk holding a state of its own."""


def titles(session: Session) -> list[str]:
    return [a.title for a in session.alerts]


def briefly_claiming(url: str, prefix: str, broker: str) -> Session:
    """A desk whose claims wait one ttl of 1 s, not 15: a start after Redis lost the
    epoch this host's record names takes its claims pending for a ttl."""
    base = desk_settings(url, prefix, broker)
    engine = base.engine.model_copy(update={"claim_ttl_s": 1.0})
    return Session(base.model_copy(update={"engine": engine}))


async def states(session: Session) -> list[tuple[RiskAction, TradingState]]:
    """The risk stream's entries that set the trading state, oldest first."""
    return [
        (e.event.payload.action, e.event.payload.trading_state)
        for e in await session.bus.read(session.bus.layout.risk)
        if isinstance(e.event, RiskEvent) and e.event.payload.action is not RiskAction.REJECT
    ]


async def xdel_a_reject(session: Session, url: str) -> None:
    """A REJECT on the risk stream, read by the running desks, then XDELed by another
    hand: a desk starting after it cannot tell whether the deletion took the trading
    state, and holds HALTED on its own."""
    entry = await session.bus.publish_now(
        RiskEvent.create(
            "engine",
            Risk(action=RiskAction.REJECT, trading_state=A, rule="max_qty", message="reject"),
        )
    )
    await asyncio.sleep(1.5)  # the running desks' watchers looked (every 1 s)
    client = aioredis.Redis.from_url(url)
    try:
        assert await client.xdel(session.bus.layout.risk, entry) == 1
    finally:
        await client.aclose()


async def start_held(url: str, prefix: str, host: Path, monkeypatch: pytest.MonkeyPatch) -> Session:
    """Desk A on `host` (no record there), started after the XDEL: held HALTED alone."""
    monkeypatch.setenv("XDG_STATE_HOME", str(host))
    a = briefly_claiming(url, prefix, "paper")
    await a.start()
    assert a.engine.gate.state is H
    assert a.engine.gate.held_here
    assert STATE_MAY_BE_LOST_ALERT in titles(a)
    return a


def said_held(session: Session) -> str:
    [alert] = [x for x in session.alerts if x.title == HELD_HERE]
    return alert.message


async def test_redis_restarting_empty_under_a_held_desk_halts_no_other_desk(
    key_prefix: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """B trades (ACTIVE) through the XDEL; A starts held; B quits; Redis restarts with
    no persistence under A. A writes nothing (before: STATE HALTED "carried forward"),
    stays HALTED alone and says so; B, started again, is ACTIVE (before: HALTED, from
    A's entry). A's trader's resume then ends the hold."""
    with RedisServer() as server:
        url = server.url
        monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "host-b"))
        b = briefly_claiming(url, key_prefix, "paper2")
        await b.start()
        a: Session | None = None
        try:
            await xdel_a_reject(b, url)
            assert b.bus.stats.data_loss_detected == 0
            assert b.engine.gate.state is A
            a = await start_held(url, key_prefix, tmp_path / "host-a", monkeypatch)
            await b.close()

            await server.akill()
            await server.arestart()  # empty: the risk stream and the epoch are gone
            # The paper venue's re-seed comes after the trading state's turn.
            await until(lambda: a is not None and RESEEDED_ALERT in titles(a), 20)
            assert a.bus.stats.data_loss_detected == 1
            assert await states(a) == []
            assert a.engine.gate.state is H
            assert a.engine.gate.held_here
            assert a.projection.trading_state is H
            message = said_held(a)
            assert "stays HALTED on this desk alone" in message
            assert f"nothing is written to {a.bus.layout.risk}" in message

            monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "host-b"))
            b = briefly_claiming(url, key_prefix, "paper2")
            await b.start()
            assert b.engine.gate.state is A
            assert b.projection.trading_state is A
            assert a.engine.gate.state is H  # B's start wrote no state

            await a.engine.resume()
            assert not a.engine.gate.held_here
            await until(lambda: b.engine.gate.state is A and a.projection.trading_state is A)
            assert await states(a) == [(RiskAction.RESUME, A)]
        finally:
            await b.close()
            if a is not None:
                await a.close()


async def test_a_record_left_held_is_not_carried_to_the_stream(
    key_prefix: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A quits while held (its record: HALTED, held here); Redis restarts empty while no
    desk runs. A's next start holds HALTED alone again and writes nothing (before: the
    record's HALTED was carried to the stream, "carried forward from this host's last
    desk run"); B, starting after it, is ACTIVE (before: HALTED)."""
    with RedisServer() as server:
        url = server.url
        monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "host-b"))
        b = briefly_claiming(url, key_prefix, "paper2")
        await b.start()
        try:
            await xdel_a_reject(b, url)
        finally:
            await b.close()
        a = await start_held(url, key_prefix, tmp_path / "host-a", monkeypatch)
        await a.close()

        await server.akill()
        await server.arestart()

        a = briefly_claiming(url, key_prefix, "paper")
        await a.start()
        try:
            assert await states(a) == []
            assert a.engine.gate.state is H
            assert a.engine.gate.held_here
            assert a.projection.trading_state is H
            [lost] = [x for x in a.alerts if x.title == "Journal lost while no desk ran"]
            assert "HALTED on this desk alone" in lost.message

            monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "host-b"))
            b = briefly_claiming(url, key_prefix, "paper2")
            await b.start()
            try:
                assert b.engine.gate.state is A
                assert a.engine.gate.state is H
            finally:
                await b.close()
        finally:
            await a.close()


async def test_an_xdel_of_the_state_entry_a_held_desk_read_writes_nothing(
    redis_server: RedisServer, key_prefix: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A starts held after a reject's XDEL, having read the RESUME before it; another
    hand then XDELs that RESUME too, under A: its watcher finds the newest entry setting
    the state it read gone with nothing after it. A writes nothing back (before: STATE
    HALTED "written back", the stream's state for every desk and every start), stays
    HALTED alone and says so; the stream, with no state entry, reads ACTIVE."""
    url = redis_server.url
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "host-w"))
    writer = desk(url, key_prefix, "paper3")
    await writer.start()
    try:
        await writer.engine.resume()
        [resume_id] = [
            e.id
            for e in await writer.bus.read(writer.bus.layout.risk)
            if isinstance(e.event, RiskEvent) and e.event.payload.action is RiskAction.RESUME
        ]
        await xdel_a_reject(writer, url)
    finally:
        await writer.close()
    a = await start_held(url, key_prefix, tmp_path / "host-a", monkeypatch)
    try:
        client = aioredis.Redis.from_url(url)
        try:
            assert await client.xdel(a.bus.layout.risk, resume_id) == 1
        finally:
            await client.aclose()
        written_back = "Trading state written back"
        await until(lambda: HELD_HERE in titles(a) or written_back in titles(a), 20)
        assert a.bus.stats.data_loss_detected == 1
        assert await states(a) == []
        assert a.engine.gate.state is H
        assert a.engine.gate.held_here
        assert "stays HALTED on this desk alone" in said_held(a)
    finally:
        await a.close()


async def _lines(proc: asyncio.subprocess.Process, seen: list[dict[str, object]]) -> None:
    assert proc.stdout is not None
    while line := await proc.stdout.readline():
        with contextlib.suppress(ValueError):
            seen.append(json.loads(line))


async def test_a_running_desk_stays_active_when_the_held_desk_finds_the_loss_first(
    key_prefix: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """B runs in its own process through the XDEL and A's held start. B is stopped
    (SIGSTOP) while Redis restarts empty, so A finds the loss first: A writes nothing
    and says it stays held (before: STATE HALTED, which B then read and halted on).
    B, let go, finds the loss, never reads HALTED and carries its ACTIVE; that entry,
    journaled after, ends A's hold as any other desk's does."""
    with RedisServer() as server:
        url = server.url
        env = {**os.environ, "XDG_STATE_HOME": str(tmp_path / "host-b"), "PYTHONPATH": str(ROOT)}
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.integration.test_hold_here_not_written",
            url,
            key_prefix,
            cwd=ROOT,
            env=env,
            stdout=asyncio.subprocess.PIPE,
        )
        seen: list[dict[str, object]] = []
        reading = asyncio.create_task(_lines(proc, seen))
        a: Session | None = None
        try:
            await until(lambda: bool(seen), 30)
            monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "host-c"))
            writer = briefly_claiming(url, key_prefix, "paper3")
            await writer.start()
            try:
                await xdel_a_reject(writer, url)
            finally:
                await writer.close()
            a = await start_held(url, key_prefix, tmp_path / "host-a", monkeypatch)

            proc.send_signal(signal.SIGSTOP)
            await server.akill()
            await server.arestart()
            await until(lambda: a is not None and RESEEDED_ALERT in titles(a), 20)
            assert await states(a) == []
            assert a.engine.gate.state is H
            assert a.engine.gate.held_here
            assert "stays HALTED on this desk alone" in said_held(a)

            proc.send_signal(signal.SIGCONT)
            await until(lambda: bool(seen[-1]["loss"]) and bool(seen[-1]["reseeded"]), 20)
            assert [x["state"] for x in seen] == ["ACTIVE"] * len(seen)
            assert await states(a) == [(RiskAction.STATE, A)]
            await until(lambda: a is not None and a.engine.gate.state is A)
            assert not a.engine.gate.held_here
        finally:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGCONT)
                proc.kill()
            await proc.wait()
            await reading
            if a is not None:
                await a.close()


async def _child(url: str, prefix: str) -> None:
    """Desk B: start, then a JSON line whenever its state, its count of data losses or
    its re-seed alert changes (until killed)."""
    b = briefly_claiming(url, prefix, "paper2")
    await b.start()
    last = None
    while True:
        now = {
            "state": b.engine.gate.state.value,
            "loss": b.bus.stats.data_loss_detected,
            "reseeded": RESEEDED_ALERT in titles(b),
        }
        if now != last:
            sys.stdout.write(json.dumps(now) + "\n")
            sys.stdout.flush()
            last = now
        await asyncio.sleep(0.02)


if __name__ == "__main__":
    asyncio.run(_child(sys.argv[1], sys.argv[2]))
