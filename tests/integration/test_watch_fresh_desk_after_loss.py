"""A watching desk does not wait for a write-back from a desk that started after the loss.

A trader's review: the paper desk was killed (`kill -9`), Redis restarted empty, and the
desk was started again ("Journal lost while no desk ran": it starts clean, the starting
cash, no orders, no positions). The watching desk had rebuilt from the empty journal and
waited for the desk that ran at the loss to write back what it held; once the new desk
was heard it put the banner up, "waiting for the desk driving paper/main to write back
what it holds" / "orders are refused until recovery and reconcile are done", its
balances `100,000.00?` and `paper JOURNAL LOST: as last heard`, Health LIVE, for as
long as that desk wrote no snapshot (80 s and more with no trade). A desk started
after the loss has nothing to write back: it built what it shows from the journal as
it is now, as the watching desk did. Its brokers say CONNECTING first as it starts (a
desk that ran through the loss goes on with its heartbeats): that first word is what
the watching desk goes by, read live or in its rebuild's replay.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys

import pytest

from silvertine_tui.engine import Session
from silvertine_tui.engine.recovery import StartPhase
from silvertine_tui.engine.watch import JOURNAL_LOST, WatchSession
from tests.support.desks import resting_buy
from tests.support.redis_server import RedisServer

from .test_watch_after_loss import LOST, WRITTEN_BACK, Gate, said, shown, until, waits, watcher
from .test_watch_journal_lost import LOST_WHILE_DOWN, paper_desk

pytestmark = pytest.mark.redis

STARTED_SINCE = "Watching: nothing to write back"


async def killed_desk(url: str, prefix: str) -> asyncio.subprocess.Process:
    """A paper desk in its own process that traded (a fill, two resting buys), then
    SIGKILLed: no DISCONNECTED said, its last word LIVE, nothing written back ever."""
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.support.session_child",
        url,
        prefix,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ},
    )
    assert child.stdout is not None
    assert child.stderr is not None
    line = await asyncio.wait_for(child.stdout.readline(), 60)
    if not line:
        raise AssertionError((await child.stderr.read()).decode()[-3000:])
    return child


async def kill(child: asyncio.subprocess.Process) -> None:
    if child.returncode is None:
        child.send_signal(signal.SIGKILL)
        await child.wait()


def live_and_unmarked(watch: WatchSession) -> bool:
    view = watch.projection
    return (
        watch.progress.phase == StartPhase.READY
        and view.reports_unknown().get("paper") == ""
        and view.balances_unconfirmed() == {}
    )


async def stays_live(watch: WatchSession, desk: Session, seconds: float) -> None:
    """For `seconds` (the watching desk's turns: its banner and its marks are looked at
    every 0.1 s here): no banner, no mark, the desk's account as the desk shows it."""
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    while loop.time() < end:
        assert not waits(watch), watch.progress.phase
        assert live_and_unmarked(watch), (watch.progress.phase, watch.projection.unsure)
        await asyncio.sleep(0.05)
    assert shown(watch.projection) == shown(desk.projection)


async def test_a_desk_started_clean_after_the_loss_is_shown_live_at_once(key_prefix: str) -> None:
    """The review's drill: killed, judged silent, Redis restarted empty (the watching
    desk rebuilds from nothing), the desk started again. The watching desk shows it
    live at once, with what the journal holds (the starting cash), and says why it
    waits for nothing; the desk journals on, and it follows."""
    with RedisServer() as server:
        child = await killed_desk(server.url, key_prefix)
        watch = watcher(server.url, key_prefix, stale_after_s=1.0)
        desk: Session | None = None
        try:
            await watch.start()
            view = watch.projection
            await until(lambda: len(view.working()) == 2)
            await kill(child)
            await until(lambda: "paper" in view.silent)

            await server.akill()
            await server.arestart()  # empty
            await until(lambda: watch.rebuilds >= 1)
            await until(lambda: watch.progress.phase == StartPhase.READY)
            assert view.working() == []
            # The desk that ran at the loss may still write back: still waited for, its
            # STALE saying what is not known (its desk may be down).
            assert view.unsure.get("paper") == JOURNAL_LOST
            assert view.reports_unknown().get("paper") == "STALE"

            desk = paper_desk(server.url, key_prefix)
            await desk.start()
            assert LOST_WHILE_DOWN in [a.title for a in desk.alerts]
            assert desk.projection.working() == []
            assert desk.projection.balances

            await until(lambda: "paper" not in view.silent)
            await until(lambda: live_and_unmarked(watch), timeout=10.0)
            await until(lambda: shown(view) == shown(desk.projection))
            await stays_live(watch, desk, 2.0)
            (why,) = said(watch, STARTED_SINCE)
            assert "paper/main started after Redis lost its journal" in why
            assert "nothing to write back" in why
            assert not said(watch, WRITTEN_BACK)
            assert watch.rebuilds == 1  # nothing rebuilt again: what it shows stands

            # It follows the desk from there.
            cid = await resting_buy(desk, "paper")
            await until(lambda: [v.client_order_id for v in view.working()] == [cid])
            await until(lambda: shown(view) == shown(desk.projection))
            assert live_and_unmarked(watch)
        finally:
            await kill(child)
            await watch.close()
            if desk is not None:
                await desk.close()


async def test_a_desk_started_before_the_watcher_rebuilds_is_not_waited_for(
    key_prefix: str,
) -> None:
    """The same, the watching desk cut off from Redis until the desk has started again:
    its rebuild replays the new desk's start (its broker's CONNECTING first) and shows
    it live at once, with no banner at all and a "Redis lost data" toast that waits for
    nothing."""
    with RedisServer() as server:
        async with Gate(server.host, server.port) as gate:
            child = await killed_desk(server.url, key_prefix)
            watch = watcher(gate.url, key_prefix)
            desk: Session | None = None
            try:
                await watch.start()
                view = watch.projection
                await until(lambda: len(view.working()) == 2)
                await kill(child)

                gate.shut()  # the watching desk hears nothing of what follows
                await server.akill()
                await server.arestart()  # empty
                desk = paper_desk(server.url, key_prefix)
                await desk.start()
                assert LOST_WHILE_DOWN in [a.title for a in desk.alerts]

                phases: list[str] = []

                async def banner() -> None:
                    while True:
                        phases.append(watch.progress.phase)
                        await asyncio.sleep(0)

                looking = asyncio.create_task(banner())
                try:
                    gate.open()
                    await until(lambda: watch.rebuilds >= 1)
                    await until(lambda: live_and_unmarked(watch), timeout=10.0)
                    await until(lambda: shown(view) == shown(desk.projection))
                    await stays_live(watch, desk, 2.0)
                finally:
                    looking.cancel()
                assert not [p for p in phases if "waiting for the desk" in p]
                (lost,) = said(watch, LOST)
                assert "until the desk driving" not in lost
                (why,) = said(watch, STARTED_SINCE)
                assert "paper/main" in why
                assert not said(watch, WRITTEN_BACK)
            finally:
                await kill(child)
                await watch.close()
                if desk is not None:
                    await desk.close()
