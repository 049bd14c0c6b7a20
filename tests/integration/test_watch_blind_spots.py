"""Three blind spots of a watching desk (`silvertine watch`, engine/watch.py) on a real
Redis: its own outage (the Orders and Health panes both say what it shows of a broker
is not current, from the one mark, and no desk is blamed), a snapshot key of another
type (the journal is read from its start, at the start and when a desk is taken on,
the trader told and nothing written), and a loss said for what was lost only."""

from __future__ import annotations

import asyncio
import time

import pytest
import redis.asyncio as aioredis

from silvertine_tui.bus import BusOptions, create_bus
from silvertine_tui.bus.base import DataLoss
from silvertine_tui.config import Settings
from silvertine_tui.domain import ConnectionState, OrderStatus
from silvertine_tui.engine import Session
from silvertine_tui.engine.session import Alert
from silvertine_tui.engine.watch import WatchSession
from silvertine_tui.ui.widgets.health import BusLine, HealthPane, broker_line
from tests.support.desks import desk, rest_and_leave, resting_buy, status, until
from tests.support.redis_server import RedisServer, command

pytestmark = pytest.mark.redis


class Clock:
    """The watching desk's clock, moved by hand."""

    def __init__(self) -> None:
        self.t_ns = time.time_ns()

    def ns(self) -> int:
        return self.t_ns

    def advance(self, seconds: float) -> None:
        self.t_ns += int(seconds * 1e9)


def watcher(url: str, prefix: str, clock: Clock | None = None) -> WatchSession:
    settings = Settings.model_validate({"bus": {"url": url, "prefix": prefix}})
    bus = create_bus(url, BusOptions(prefix=prefix, block_ms=50, epoch_check_s=0.1, passive=True))
    return WatchSession(
        settings,
        bus=bus,
        clock=clock.ns if clock is not None else time.time_ns,
        discover_every_s=0.3,
        stale_after_s=5.0,
        stale_check_s=0.05,
    )


def health_text(watch: WatchSession, now_s: float) -> str:
    """The Health pane's text for the watching desk's broker and bus, from what its
    projection holds (as the main screen builds it: ui/screens/main.py
    `health_lines`)."""
    view = watch.projection
    stats = watch.bus.stats
    line = broker_line(
        "paper/main", None, view.broker_state("paper"), None, now_s, view.silent.get("paper")
    )
    bus = BusLine(
        backend=stats.backend,
        url=watch.bus_url,
        connected=stats.connected,
        state=None,
        events_per_s=0.0,
        lag_ms=0.0,
        decode_errors=0,
        restarts=0,
        data_loss=0,
        message="",
    )
    return HealthPane().render_text([line], bus, view.trading_state).plain


def not_heard(watch: WatchSession) -> list[Alert]:
    return [a for a in watch.alerts if "not heard from" in a.title]


async def test_while_the_watching_desk_cannot_read_the_bus_no_broker_reads_live(
    key_prefix: str,
) -> None:
    """Redis goes down under the watching desk. Before, its Health pane read `paper/main
    LIVE` (the last heartbeat it read) while its Orders pane's bottom line could read
    `paper/main STALE: 1 order's state unknown`; now both say STALE from the one mark
    (`DeskProjection.silent`), with the age of the broker's last word, and the Health
    pane says why (this desk cannot read the bus) rather than blaming the driving desk.
    No "not heard from" toast. Back, the marks go unsaid."""
    server = RedisServer(persistence=True).start()
    clock = Clock()
    trading = desk(server.url, key_prefix, "paper")
    watch = watcher(server.url, key_prefix, clock)
    try:
        await trading.start()
        cid = await resting(trading)
        await watch.start()
        view = watch.projection
        await until(lambda: view.broker_state("paper") is ConnectionState.LIVE)
        await until(lambda: cid in view.orders)
        for _ in range(2):  # past the silence check's first look (half the 5 s)
            clock.advance(1.0)
            await asyncio.sleep(1.5)
        assert view.silent == {}
        assert view.reports_unknown() == {"paper": ""}
        assert "paper/main LIVE" in health_text(watch, clock.ns() / 1e9)

        heard = clock.ns()
        await server.akill()
        await until(lambda: not watch.bus.stats.connected)
        clock.advance(16.0)
        await until(lambda: "paper" in view.silent)
        # One mark, both panes: as of the broker's last heartbeat read (one a second:
        # the last came after the clock's last move, or a loaded second before).
        assert heard - 1_000_000_000 <= view.silent["paper"] <= heard
        assert view.reports_unknown() == {"paper": "STALE"}
        age = int((clock.ns() - view.silent["paper"]) / 1e9)
        assert age in (16, 17)
        text = health_text(watch, clock.ns() / 1e9)
        assert "paper/main LIVE" not in text
        assert f"paper/main STALE  not heard from for {age}s" in text
        assert f"this desk cannot read the bus: last said LIVE {age}s ago" in text
        assert "its desk may be down" not in text
        # The driving desk is not blamed for what this desk cannot hear.
        assert not_heard(watch) == []

        await server.arestart()
        await until(lambda: watch.bus.stats.connected, timeout=20)
        # The marks of this desk's own outage go at once, unsaid.
        await until(lambda: view.silent == {})
        await until(lambda: "paper/main LIVE" in health_text(watch, clock.ns() / 1e9))
        for _ in range(3):
            clock.advance(1.0)
            await asyncio.sleep(1.0)  # the desk's heartbeats are read again
        assert view.silent == {}
        assert view.reports_unknown() == {"paper": ""}
        assert not_heard(watch) == []
        assert [a for a in watch.alerts if "heard from again" in a.title] == []
    finally:
        await watch.close()
        await trading.close()
        server.close()


async def resting(trading: Session) -> str:
    """A resting buy on the running `trading` desk, NEW in its journal."""
    cid = await resting_buy(trading, "paper")
    await until(lambda: status(trading, cid) is OrderStatus.NEW)
    return cid


async def health_entries(url: str, stream: str) -> list[str]:
    client = aioredis.Redis.from_url(url)
    try:
        entries = await client.xrange(stream)
        return [str(fields) for _, fields in entries or ()]
    finally:
        await client.aclose()


def unreadable(watch: WatchSession) -> list[Alert]:
    return [a for a in watch.alerts if a.title == "Watching: snapshot unreadable"]


async def test_a_watching_desk_starts_from_the_journal_past_a_snapshot_key_of_another_type(
    redis_server: RedisServer, key_prefix: str
) -> None:
    """`{p}:snap:paper:main` holds a string. The watching desk starts (the recovery's
    fallback, `recovery.newest_snapshot`): the order the journal holds shows, its
    trader is told (a warning naming the key and how to fix it), and nothing is
    written: before, the fallback journaled its Log line on the health stream, a
    watching desk's write read by every desk as a driving desk's engine's."""
    cid = await rest_and_leave(desk(redis_server.url, key_prefix, "paper"), "paper")
    snap = f"{key_prefix}:snap:paper:main"
    command(redis_server.host, redis_server.port, "DEL", snap)
    command(redis_server.host, redis_server.port, "SET", snap, "not a stream")
    health = f"{key_prefix}:health"
    before = await health_entries(redis_server.url, health)
    watch = watcher(redis_server.url, key_prefix)
    try:
        await watch.start()
        assert watch.accounts() == [("paper", "main")]
        assert watch.projection.orders[cid].order.status is OrderStatus.NEW
        (alert,) = unreadable(watch)
        assert alert.severity == "warning"
        assert "the snapshots of paper/main could not be read" in alert.message
        assert f"DEL {snap}" in alert.message
        assert await health_entries(redis_server.url, health) == before
    finally:
        await watch.close()


async def test_a_desk_taken_on_past_a_snapshot_key_of_another_type_is_shown(
    redis_server: RedisServer, key_prefix: str
) -> None:
    """A journal that appears after the watching desk started (a desk started later),
    its snapshot key a string: it is taken on from its journal's start, told, not given
    up ("a desk not shown", before: `_take_on` read the snapshot without the fallback).
    The journal is a real desk's, written under another prefix and renamed in."""
    elsewhere = f"{key_prefix}-elsewhere"
    cid = await rest_and_leave(desk(redis_server.url, elsewhere, "paper"), "paper")
    watch = watcher(redis_server.url, key_prefix)
    try:
        await watch.start()
        assert watch.accounts() == []
        snap = f"{key_prefix}:snap:paper:main"
        command(redis_server.host, redis_server.port, "SET", snap, "not a stream")
        command(
            redis_server.host,
            redis_server.port,
            "RENAME",
            f"{elsewhere}:exec:paper:main",
            f"{key_prefix}:exec:paper:main",
        )
        await until(lambda: cid in watch.projection.orders)
        assert watch.accounts() == [("paper", "main")]
        assert watch.projection.orders[cid].order.status is OrderStatus.NEW
        assert [a for a in watch.alerts if a.title == "Watching: a desk not shown"] == []
        (alert,) = unreadable(watch)
        assert f"DEL {snap}" in alert.message
        assert await health_entries(redis_server.url, f"{key_prefix}:health") == []
    finally:
        await watch.close()


async def test_a_watching_desk_says_a_lost_health_stream_as_what_it_is(
    redis_server: RedisServer, key_prefix: str
) -> None:
    """The bus's data-loss listeners get what was lost (`DataLoss`). A lost health
    stream alone (an operator's `DEL {p}:health`) is no lost journal: the watching desk
    said the general "Redis lost data ... start `silvertine watch` again"; now it names
    the stream, says the orders and positions stand, and needs no restart. A lost
    journal (or the epoch) is still said as before."""
    await rest_and_leave(desk(redis_server.url, key_prefix, "paper"), "paper")
    watch = watcher(redis_server.url, key_prefix)
    layout = watch.bus.layout
    try:
        await watch.start()
        watch.alerts.clear()
        health = layout.health
        await watch._on_data_loss(
            DataLoss(f"{health} is gone (we wrote up to 1-0)", epoch=False, streams=[health])
        )
        (alert,) = watch.alerts
        assert alert.title == f"Redis lost {health}"
        assert alert.severity == "warning"
        assert alert.message.startswith(f"Redis lost {health} ({health} is gone")
        assert "No journal was lost" in alert.message
        assert "again" in alert.message  # the desks publish their health again
        assert "start `silvertine watch` again" not in alert.message

        watch.alerts.clear()
        md = layout.md("paper")
        await watch._on_data_loss(DataLoss(f"{md} is gone", epoch=False, streams=[md]))
        (alert,) = watch.alerts
        assert alert.title == f"Redis lost {md}"
        assert "quotes and signals" in alert.message
        assert "start `silvertine watch` again" not in alert.message

        watch.alerts.clear()
        journal = layout.exec("paper", "main")
        await watch._on_data_loss(DataLoss(f"{journal} is gone", epoch=False, streams=[journal]))
        (alert,) = watch.alerts
        assert alert.title == "Redis lost data"
        assert alert.severity == "error"
        assert "rebuilt what it shows from what the journal holds now" in alert.message
    finally:
        await watch.close()
