"""A kill switch pulled while the desk driving a broker was down (killed, or quit with
its orders left working): the desk reads the KILL as it starts and, when its last run
never read it (its last-run record's `state_entry` is older) and it is still the
standing state, honours it as a running desk does: it cancels its working orders at
the venue once its brokers are up, and says so in the Log and a toast
(`Session._state_while_down`). A KILL the desk already applied while it ran is not
honoured again; a KILL lifted by a resume while it was down cancels nothing.

Before, the restarted desk came up HALTED with its orders still working and said
nothing of them (docs/operations.md: "orders it left resting at its venue stay there").
On a real Redis, a bus per desk; the desk that pulls the switch is a watching desk or a
desk on another host (its own last-run record)."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import orjson
import pytest

from silvertine_tui.domain import OrderStatus, TradingState
from silvertine_tui.engine import Session
from silvertine_tui.engine.commands import Kill, KillDone
from tests.support.desks import (
    desk,
    logged_line,
    rest_and_leave,
    status,
    until,
    venue_working,
)
from tests.support.redis_server import RedisServer
from tests.support.while_down import (
    DOWN,
    down_lines,
    on_another_host,
    read_record,
    titled_alerts,
    watcher,
)

pytestmark = pytest.mark.redis

TITLE = "Kill switch pulled while this desk was down"


def down_alerts(session: Session) -> list[tuple[str, str]]:
    return titled_alerts(session, TITLE)


async def test_a_kill_pulled_from_a_watcher_while_the_desk_was_killed_is_honoured_as_it_starts(
    redis_server: RedisServer, key_prefix: str
) -> None:
    """The review's steps: a desk with orders working is killed (SIGKILL), a watching
    desk pulls the kill switch, the desk is started again."""
    url = redis_server.url
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.support.session_child",
        url,
        key_prefix,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=dict(os.environ),  # this test's state dir: this host's record
    )
    assert child.stdout is not None
    assert child.stderr is not None
    watch = watcher(url, key_prefix)
    restarted: Session | None = None
    try:
        line = await asyncio.wait_for(child.stdout.readline(), 60)
        if not line:
            raise AssertionError((await child.stderr.read()).decode()[-3000:])
        working = orjson.loads(line)["working"]
        assert len(working) == 2
        await asyncio.sleep(1.2)  # its record kept (once a second), as a running desk's
        child.send_signal(signal.SIGKILL)
        await child.wait()

        await watch.start()
        outcome = await watch.command_gateway().send(Kill(reason="kill switch (UI)"))
        assert isinstance(outcome, KillDone)
        assert outcome.report.ok

        restarted = desk(url, key_prefix, "paper")
        await restarted.start()
        assert restarted.engine.gate.state is TradingState.HALTED
        session = restarted
        await until(lambda: all(status(session, cid) is OrderStatus.CANCELED for cid in working))
        assert await venue_working(session) == []
        said = await logged_line(session, DOWN)
        name = f"desk {session.claims.desk.host} pid {session.claims.desk.pid}"
        watcher_name = f"watching desk {watch.claims.desk.host} pid {watch.claims.desk.pid}"
        assert said.startswith(f"{name}, after a kill switch pulled from {watcher_name} at ")
        assert "(kill switch (UI))" in said
        assert said.endswith("Trading HALTED; cancelled 2 order(s)")
        await until(lambda: bool(down_alerts(session)))
        [(message, severity)] = down_alerts(session)
        assert message == f"{said}."
        assert severity == "warning"
    finally:
        if child.returncode is None:
            child.send_signal(signal.SIGKILL)
            await child.wait()
        await watch.close()
        if restarted is not None:
            await restarted.close()


async def test_a_kill_pulled_while_the_desk_was_quit_is_honoured_once(
    redis_server: RedisServer,
    key_prefix: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """The desk quit leaving its order working; a desk on another host pulls the kill
    switch. The next start cancels the order; the start after it, whose last run read
    (and honoured) the KILL, cancels nothing and says nothing of it."""
    url = redis_server.url
    cid = await rest_and_leave(desk(url, key_prefix, "paper"), "paper")
    other = on_another_host(monkeypatch, tmp_path / "other", lambda: desk(url, key_prefix, "p2"))
    await other.start()
    again: Session | None = None
    first = desk(url, key_prefix, "paper")
    try:
        report = await other.engine.kill("drill on the other desk")
        assert report.ok
        await first.start()
        assert first.engine.gate.state is TradingState.HALTED
        await until(lambda: status(first, cid) is OrderStatus.CANCELED)
        assert await venue_working(first) == []
        said = await logged_line(first, DOWN)
        other_name = f"desk {other.claims.desk.host} pid {other.claims.desk.pid}"
        assert f"after a kill switch pulled from {other_name} at " in said
        assert "(drill on the other desk)" in said
        assert said.endswith("Trading HALTED; cancelled 1 order(s)")
        await until(lambda: bool(down_alerts(first)))
        await first.close()

        again = desk(url, key_prefix, "paper")
        await again.start()
        assert again.engine.gate.state is TradingState.HALTED
        await asyncio.sleep(1.0)  # what an honour would have said by now
        assert down_alerts(again) == []
        assert len(await down_lines(again)) == 1  # the first start's, and no other
    finally:
        await first.close()
        if again is not None:
            await again.close()
        await other.close()


async def test_a_kill_another_desk_of_this_host_read_is_honoured_by_the_desk_that_was_down(
    redis_server: RedisServer, key_prefix: str
) -> None:
    """Two desks on one host, bus and prefix share one last-run record: the desk still
    running reads the KILL into it. The desk that was down is told by the health stream
    that its broker was not heard from after the KILL (its last word, DISCONNECTED as
    it quit, is older), and honours it all the same."""
    url = redis_server.url
    cid = await rest_and_leave(desk(url, key_prefix, "paper"), "paper")
    other = desk(url, key_prefix, "p2")  # this host's too
    await other.start()
    starting = desk(url, key_prefix, "paper")
    try:
        await other.engine.kill("drill on this host's other desk")
        [kill] = await other.bus.read_last(other.bus.layout.risk, 1)
        await until(lambda: read_record(other.last_run.path).state_entry == kill.id)

        await starting.start()
        assert starting.engine.gate.state is TradingState.HALTED
        await until(lambda: status(starting, cid) is OrderStatus.CANCELED)
        assert await venue_working(starting) == []
        said = await logged_line(starting, DOWN)
        assert "(drill on this host's other desk)" in said
        assert said.endswith("Trading HALTED; cancelled 1 order(s)")
    finally:
        await starting.close()
        await other.close()


async def test_a_kill_the_desk_read_while_it_ran_is_not_honoured_again_at_its_start(
    redis_server: RedisServer,
    key_prefix: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    url = redis_server.url
    other = on_another_host(monkeypatch, tmp_path / "other", lambda: desk(url, key_prefix, "p2"))
    await other.start()
    running = desk(url, key_prefix, "paper")
    again: Session | None = None
    try:
        await running.start()
        await other.engine.kill("drill while both run")
        await logged_line(running, "after a kill switch on another desk (drill while both run")
        await running.close()  # its record holds the KILL it read

        again = desk(url, key_prefix, "paper")
        await again.start()
        assert again.engine.gate.state is TradingState.HALTED
        await asyncio.sleep(1.0)
        assert down_alerts(again) == []
        assert await down_lines(again) == []
    finally:
        await running.close()
        if again is not None:
            await again.close()
        await other.close()


async def test_a_kill_lifted_by_a_resume_while_the_desk_was_down_cancels_nothing(
    redis_server: RedisServer,
    key_prefix: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    url = redis_server.url
    cid = await rest_and_leave(desk(url, key_prefix, "paper"), "paper")
    other = on_another_host(monkeypatch, tmp_path / "other", lambda: desk(url, key_prefix, "p2"))
    await other.start()
    starting = desk(url, key_prefix, "paper")
    try:
        await other.engine.kill("drill, then resumed")
        await other.engine.set_trading_state(TradingState.ACTIVE)
        await starting.start()
        assert starting.engine.gate.state is TradingState.ACTIVE
        await asyncio.sleep(1.0)  # what an honour would have cancelled by now
        assert status(starting, cid) is OrderStatus.NEW
        assert await venue_working(starting) == [cid]
        assert down_alerts(starting) == []
        assert await down_lines(starting) == []
    finally:
        await starting.close()
        await other.close()
