"""The last-run record is one per host, bus and prefix, not per desk. A desk starting
that found a kill switch pulled (or REDUCE ONLY set) while it was down holds the
record unread until its cancels went out (`RunRecorder.acting`); another desk of the
same host, on the same bus and prefix, driving other brokers, writes the same file
with what it read (the KILL: at or after it). Before, that write took the first desk's
hold: killed (or quit) while its cancels were out, the first desk's next start read a
record that said read, its brokers heard from after the KILL, and honoured nothing:
its orders stayed working while HALTED, with no word (a code review).

Now the record carries the entries each broker's desk is still acting on
(`LastRun.acting`), every writer keeps what the file holds for brokers it does not
drive, and a start whose broker is still acting on the standing state honours it
again. On a real Redis, a bus per desk; the desk that sets the state is on another
host (its own last-run record), the other desk of this host is `neighbour`.

    python -m tests.integration.test_kill_record_order REDIS_URL PREFIX

runs the desk whose cancels never come (`child`), killed with SIGKILL by the test."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import orjson
import pytest

from silvertine_tui.bus import parse_id
from silvertine_tui.domain import OrderStatus, TradingState
from silvertine_tui.engine import Session
from silvertine_tui.engine.last_run import read
from tests.integration.test_kill_record_order import STATES, desk, on_another_host, set_stricter
from tests.support.desks import logged_line, rest_and_leave, status, until, venue_working
from tests.support.redis_server import RedisServer

pytestmark = pytest.mark.redis

DOWN = "while this desk was down"


def record_read_past(session: Session, entry: str) -> bool:
    """Whether this host's record on disk says its risk stream was read up to `entry`."""
    record = read(session.last_run.path)
    return (
        record is not None
        and record.state_entry is not None
        and parse_id(record.state_entry) >= parse_id(entry)
    )


async def test_a_desk_killed_while_acting_keeps_its_hold_through_another_desks_write(
    redis_server: RedisServer,
    key_prefix: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """The review's steps: a desk quits with an order working; a desk on another host
    pulls the kill switch while a desk of this host (another broker) runs and reads
    it; the desk starts, finds it, and is killed (SIGKILL) while its cancel is out,
    after the other desk of this host wrote the record (at its close); it is started
    again: it cancels."""
    url = redis_server.url
    cid = await rest_and_leave(desk(url, key_prefix, "paper"), "paper")
    other = on_another_host(monkeypatch, tmp_path / "other", lambda: desk(url, key_prefix, "p2"))
    neighbour = desk(url, key_prefix, "pa")  # this host's state dir: the same record
    await other.start()
    await neighbour.start()
    child: asyncio.subprocess.Process | None = None
    restarted: Session | None = None
    try:
        entry = await set_stricter(other, TradingState.HALTED)
        await until(lambda: neighbour.engine.gate.state is TradingState.HALTED)
        await until(lambda: record_read_past(neighbour, entry))
        child = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.integration.test_kill_record_order",  # its `child`
            url,
            key_prefix,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=dict(os.environ),  # this test's state dir: this host's record
        )
        assert child.stdout is not None
        assert child.stderr is not None
        line = await asyncio.wait_for(child.stdout.readline(), 60)
        if not line:
            raise AssertionError((await child.stderr.read()).decode()[-3000:])
        assert orjson.loads(line) == {"cancelling": [cid]}
        await neighbour.close()  # its last record: what it read, the KILL and after
        assert record_read_past(neighbour, entry)
        child.send_signal(signal.SIGKILL)
        await child.wait()

        restarted = desk(url, key_prefix, "paper")
        await restarted.start()
        session = restarted
        assert session.engine.gate.state is TradingState.HALTED
        await until(lambda: status(session, cid) is OrderStatus.CANCELED)
        assert await venue_working(session) == []
        said = await logged_line(session, DOWN)
        name = f"desk {session.claims.desk.host} pid {session.claims.desk.pid}"
        assert said.startswith(f"{name}, after a kill switch pulled from "), said
        assert said.endswith("Trading HALTED; cancelled 1 order(s)"), said
    finally:
        if child is not None and child.returncode is None:
            child.send_signal(signal.SIGKILL)
            await child.wait()
        if restarted is not None:
            await restarted.close()
        await neighbour.close()
        await other.close()


@pytest.mark.parametrize("state", STATES)
async def test_a_desk_quit_while_acting_keeps_its_hold_through_another_desks_write(
    redis_server: RedisServer,
    key_prefix: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    state: TradingState,
) -> None:
    """The trader quits while the start's cancels are still out; the other desk of this
    host writes the record after (its close): the next start still makes them."""
    url = redis_server.url
    cid = await rest_and_leave(desk(url, key_prefix, "paper"), "paper")  # a buy: it adds
    other = on_another_host(monkeypatch, tmp_path / "other", lambda: desk(url, key_prefix, "p2"))
    neighbour = desk(url, key_prefix, "pa")
    await other.start()
    await neighbour.start()
    quitting = desk(url, key_prefix, "paper", cancel_ms=30_000)
    again: Session | None = None
    try:
        entry = await set_stricter(other, state)
        await until(lambda: neighbour.engine.gate.state is state)
        await until(lambda: record_read_past(neighbour, entry))
        await quitting.start()
        await until(lambda: status(quitting, cid) is OrderStatus.PENDING_CANCEL)
        await asyncio.sleep(1.2)  # heartbeats and the record kept, as a running desk's
        await quitting.close()
        await neighbour.close()
        assert record_read_past(neighbour, entry)  # the neighbour's read, written last

        again = desk(url, key_prefix, "paper")
        await again.start()
        session = again
        assert session.engine.gate.state is state
        await until(lambda: status(session, cid) is OrderStatus.CANCELED)
        assert await venue_working(session) == []
        said = await logged_line(session, DOWN)
        assert "cancelled 1 order(s)" in said, said
    finally:
        await quitting.close()
        if again is not None:
            await again.close()
        await neighbour.close()
        await other.close()
