"""A watching desk never goes on showing a desk that no longer exists.

Redis lost the journal (a restart empty, a restart from an older copy of its data)
while the watching desk ran: what it showed was built from entries Redis no longer
holds. It said so in one toast, asked the trader to restart it, and went on showing
the orders and positions of before, live in Health, for as long as it ran (a chaos
drill: `2 working of 2` a minute after the desk, started again, showed none). Now it
rebuilds what it shows from what the journal holds now, with the start-up's progress
(`WatchSession.progress`), and follows the streams from there; a restart from an
older copy, which its bus (writing nothing) cannot tell from a restart that lost
nothing, is found by looking for the entries it had read.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys

import pytest

from silvertine_tui.bus import BusOptions, create_bus
from silvertine_tui.config import Settings
from silvertine_tui.domain import ConnectionState, OrderStatus
from silvertine_tui.engine import Session
from silvertine_tui.engine.projection import DeskProjection, project
from silvertine_tui.engine.recovery import StartPhase
from silvertine_tui.engine.watch import WatchSession
from tests.support.desks import desk_settings, resting_buy, status, until
from tests.support.redis_server import RedisServer, command

pytestmark = pytest.mark.redis

LOST_WHILE_DOWN = "Journal lost while no desk ran"


def watcher(url: str, prefix: str, stale_after_s: float = 5.0) -> WatchSession:
    settings = Settings.model_validate({"bus": {"url": url, "prefix": prefix}})
    bus = create_bus(url, BusOptions(prefix=prefix, block_ms=50, epoch_check_s=0.1, passive=True))
    return WatchSession(
        settings, bus=bus, discover_every_s=0.5, stale_after_s=stale_after_s, stale_check_s=0.1
    )


def paper_desk(url: str, prefix: str) -> Session:
    """A paper desk whose market moves only when told (its resting buys rest) and whose
    claims wait the shortest ttl after a loss (1 s: the wait is the claims' tests')."""
    base = desk_settings(url, prefix, "paper")
    engine = base.engine.model_copy(update={"claim_ttl_s": 1.0})
    return Session(base.model_copy(update={"engine": engine}))


def working(view: DeskProjection) -> list[str]:
    return sorted(v.client_order_id for v in view.working())


def shown(view: DeskProjection) -> dict[str, object]:
    """What the Orders, Positions and Balances panes show (marks aside)."""
    return {
        "orders": {cid: (v.order.status, v.order.filled_qty) for cid, v in view.orders.items()},
        "working": working(view),
        "positions": {k: (p.quantity, p.avg_price) for k, p in view.positions.items()},
        "balances": {k: (b.total, b.available, b.locked) for k, b in view.balances.items()},
        "trading": view.trading_state,
    }


async def settled(check: object, timeout: float = 20.0) -> None:
    await until(check, timeout=timeout)  # type: ignore[arg-type]


async def test_a_watcher_rebuilds_after_redis_lost_the_journal_while_no_desk_ran(
    key_prefix: str,
) -> None:
    """The drill: two buys rest, the desk quits leaving them working, Redis restarts
    empty, the desk starts again with nothing ("Journal lost while no desk ran"). The
    watching desk shows what that desk shows: no order, the starting cash."""
    with RedisServer() as server:
        first = paper_desk(server.url, key_prefix)
        await first.start()
        watch = watcher(server.url, key_prefix)
        second: Session | None = None
        try:
            cids = [await resting_buy(first, "paper") for _ in range(2)]
            await settled(lambda: all(status(first, c) is OrderStatus.NEW for c in cids))
            await watch.start()
            view = watch.projection
            await settled(lambda: working(view) == sorted(cids))
            await first.close()  # leaves them working (`cancel_on_exit` is off)

            await server.akill()
            await server.arestart()  # empty: the journal, the epoch, the claims gone
            await settled(lambda: watch.bus.stats.data_loss_detected >= 1)

            second = paper_desk(server.url, key_prefix)
            await second.start()
            assert [a.title for a in second.alerts if a.title == LOST_WHILE_DOWN]
            assert working(second.projection) == []
            desk_view = second.projection

            # The watching desk shows what the desk shows, its orders and cash, not
            # the two buys Redis no longer holds; and it still follows the streams.
            await settled(lambda: shown(view) == shown(desk_view))
            assert view.working() == []
            assert watch.progress.phase == StartPhase.READY
            assert view is watch.projection  # the UI's projection: rebuilt in place
            cid = await resting_buy(second, "paper")
            await settled(lambda: [v.client_order_id for v in view.working()] == [cid])
            await settled(lambda: shown(view) == shown(desk_view))

            (said,) = [a for a in watch.alerts if a.title == "Redis lost data"]
            assert "rebuilt what it shows from what the journal holds now" in said.message
            assert "start `silvertine watch` again" not in said.message
        finally:
            await watch.close()
            await first.close()
            if second is not None:
                await second.close()


async def test_a_restart_from_an_older_copy_is_found_and_the_watcher_rebuilds(
    key_prefix: str,
) -> None:
    """Redis restarts from an older copy of its data (an RDB saved before the second
    buy): the epoch key is the same, and a watching desk's bus, which writes nothing,
    said "no journaled data was lost". The second buy is gone from the journal: the
    watching desk finds the entries it had read gone, and rebuilds what it shows from
    the journal (the first buy alone), as a desk started now shows it."""
    with RedisServer() as server:
        first = paper_desk(server.url, key_prefix)
        await first.start()
        watch = watcher(server.url, key_prefix)
        try:
            kept = await resting_buy(first, "paper")
            await settled(lambda: status(first, kept) is OrderStatus.NEW)
            await first.bus.flush()
            await asyncio.to_thread(command, server.host, server.port, "SAVE")  # the copy
            gone = await resting_buy(first, "paper")
            await settled(lambda: status(first, gone) is OrderStatus.NEW)
            await watch.start()
            view = watch.projection
            await settled(lambda: working(view) == sorted([kept, gone]))
            await first.close()
            await settled(lambda: view.broker_state("paper").value == "DISCONNECTED")

            await server.akill()
            await server.arestart()  # loads the copy: the second buy is not in it
            await settled(lambda: watch.bus.stats.server_restarts >= 1)
            assert watch.bus.stats.data_loss_detected == 0  # the epoch is the copy's

            await settled(lambda: working(view) == [kept])
            assert gone not in view.orders
            truth = await project(watch.bus, [("paper", "main")], market_data=False)
            assert shown(view) == shown(truth)
            assert watch.progress.phase == StartPhase.READY
            (said,) = [a for a in watch.alerts if a.title == "Redis lost data"]
            assert "Redis restarted" in said.message
            assert watch.bus.layout.exec("paper", "main") in said.message
            assert "rebuilt what it shows from what the journal holds now" in said.message
        finally:
            await watch.close()
            await first.close()


async def test_a_restart_from_an_older_copy_under_a_running_desk_is_found_too(
    key_prefix: str,
) -> None:
    """The same restart with the desk running: it finds the loss itself and writes its
    paper account back (`Paper venue re-seeded`), which the watching desk reads at once,
    before it looks. It still finds the entries it had read gone (not only the last
    one: those read since are there), says so, and shows what the desk shows."""
    with RedisServer() as server:
        first = paper_desk(server.url, key_prefix)
        await first.start()
        watch = watcher(server.url, key_prefix)
        try:
            kept = await resting_buy(first, "paper")
            await settled(lambda: status(first, kept) is OrderStatus.NEW)
            await first.bus.flush()
            await asyncio.to_thread(command, server.host, server.port, "SAVE")  # the copy
            gone = await resting_buy(first, "paper")
            await settled(lambda: status(first, gone) is OrderStatus.NEW)
            await watch.start()
            view = watch.projection
            await settled(lambda: working(view) == sorted([kept, gone]))

            await server.akill()
            await server.arestart()  # loads the copy; the desk writes its account back
            await settled(lambda: [a for a in first.alerts if a.title == "Paper venue re-seeded"])
            assert watch.bus.stats.data_loss_detected == 0

            await settled(lambda: [a for a in watch.alerts if a.title == "Redis lost data"])
            (said,) = [a for a in watch.alerts if a.title == "Redis lost data"]
            assert said.message.startswith("Redis restarted and lost data: ")
            await settled(lambda: shown(view) == shown(first.projection))
            assert working(view) == sorted([kept, gone])
        finally:
            await watch.close()
            await first.close()


async def test_a_killed_desk_is_still_called_stale_after_the_rebuild(key_prefix: str) -> None:
    """A desk killed (no DISCONNECTED said), then Redis restarts empty: the replay
    brings back no health of its broker. The watching desk still calls it STALE (its
    last word was LIVE, and it is not heard), not LIVE for good, and does not toast it
    twice."""
    with RedisServer() as server:
        child = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.support.session_child",
            server.url,
            key_prefix,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env={**os.environ},
        )
        assert child.stdout is not None
        assert child.stderr is not None
        watch = watcher(server.url, key_prefix, stale_after_s=2.0)
        try:
            line = await asyncio.wait_for(child.stdout.readline(), 60)
            if not line:
                raise AssertionError((await child.stderr.read()).decode()[-3000:])
            await watch.start()
            view = watch.projection
            await settled(lambda: view.broker_state("paper") is ConnectionState.LIVE)
            child.send_signal(signal.SIGKILL)
            await child.wait()
            await settled(lambda: "paper" in view.silent)

            def told() -> int:
                return len([a for a in watch.alerts if a.title == "paper/main not heard from"])

            assert told() == 1
            await server.akill()
            await server.arestart()  # empty: its health and journal gone
            await settled(lambda: watch.rebuilds == 1)
            assert "paper" not in view.brokers  # no health of it replayed
            assert "paper" in view.silent
            assert view.reports_unknown() == {"paper": "STALE"}
            await asyncio.sleep(3 * 2.0)  # past the time it is given to be heard
            assert "paper" in view.silent
            assert told() == 1
        finally:
            if child.returncode is None:
                child.send_signal(signal.SIGKILL)
                await child.wait()
            await watch.close()
