"""A watching desk after Redis lost the journal under a running paper desk.

The chaos drill: a paper desk traded (a position, realized P&L, a resting buy), a
`silvertine watch` followed it, Redis restarted empty. The watching desk rebuilt what it
shows from what the journal held then (nothing, or the desk's re-seed without its
snapshot) and never read the snapshot the desk writes once its resync is done: its
Positions pane showed only the fills after the loss (0.021 BTC, rPnL -4.48, while the desk
and the venue held 0.031, -9.51), Health LIVE, no word, until it was restarted. The
re-seed alone cannot tell a follower the positions: they are built from fills the journal
no longer holds (their average, realized P&L and fees), and only the snapshot written
after the resync carries them.

Now, while it cannot know (the loss seen, the desk's write-back not read yet), it says
so: the rebuild's banner stays, naming the account it waits for, the "Redis lost data"
toast says what may be short until then, and the Orders and Balances panes mark that
broker's rows (`reports_unknown`: JOURNAL LOST). Once the desk's snapshot after the loss
is there, it rebuilds from it and shows what the desk shows, with a toast.

Each ordering: the watching desk finds the loss first (the desk cut off meanwhile, as a
SIGSTOP would: `Gate`), between the desk's re-seed and its snapshot, and after both.
"""

from __future__ import annotations

import asyncio
import contextlib
from decimal import Decimal

import pytest

from silvertine_tui.bus import BusOptions, create_bus
from silvertine_tui.config import Settings
from silvertine_tui.domain import OrderRequest, OrderType, Side, TimeInForce
from silvertine_tui.engine import Session
from silvertine_tui.engine.projection import DeskProjection
from silvertine_tui.engine.recovery import StartPhase
from silvertine_tui.engine.session import RESEEDED_ALERT
from silvertine_tui.engine.snapshots import latest_snapshot
from silvertine_tui.engine.watch import WatchSession
from tests.support.redis_server import RedisServer, command
from tests.support.session_child import SYMBOL, applied_all, settings

pytestmark = pytest.mark.redis

LOST = "Redis lost data"
WRITTEN_BACK = "Watching: written back"
WAITING = "waiting for the desk driving paper/main to write back what it holds"


class Gate:
    """A TCP relay in front of the test's Redis that can be shut: while shut nothing
    passes either way and nothing new reaches the server (a desk frozen by SIGSTOP, or
    cut off from Redis), and a connection whose server went away meanwhile is closed
    only once it opens again. `shut_on(data)`: shut just before the first client bytes
    holding `data` pass (`met` is set then); they pass once it opens."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.port = 0
        self._open = asyncio.Event()
        self._open.set()
        self._armed: bytes | None = None
        self.met = asyncio.Event()
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def shut(self) -> None:
        self._open.clear()

    def open(self) -> None:
        self._open.set()

    def shut_on(self, data: bytes) -> None:
        self._armed = data

    async def __aenter__(self) -> Gate:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        self._open.set()
        for writer in list(self._writers):
            writer.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        await self._open.wait()  # nothing new reaches the server while shut
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            return
        self._writers.add(up_writer)
        for task in (
            asyncio.create_task(self._pump(reader, up_writer, from_client=True)),
            asyncio.create_task(self._pump(up_reader, writer, from_client=False)),
        ):
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _pump(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, from_client: bool
    ) -> None:
        try:
            while data := await reader.read(65536):
                if from_client and self._armed is not None and self._armed in data:
                    self._armed = None
                    self._open.clear()
                    self.met.set()
                await self._open.wait()
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            with contextlib.suppress(asyncio.CancelledError):
                await self._open.wait()  # a closed server says nothing while shut
            writer.close()


def xadd_to(key: str) -> bytes:
    """The bytes an XADD to `key` begins with (RESP): the desk's snapshot write."""
    name = key.encode()
    return b"$4\r\nXADD\r\n$%d\r\n%s\r\n" % (len(name), name)


def watcher(url: str, prefix: str, stale_after_s: float = 5.0) -> WatchSession:
    config = Settings.model_validate({"bus": {"url": url, "prefix": prefix}})
    bus = create_bus(url, BusOptions(prefix=prefix, block_ms=50, epoch_check_s=0.1, passive=True))
    return WatchSession(
        config, bus=bus, discover_every_s=0.5, stale_after_s=stale_after_s, stale_check_s=0.1
    )


def shown(view: DeskProjection) -> dict[str, object]:
    """What the Orders, Positions and Balances panes show (marks aside: the market
    moves): the positions with their average and realized P&L."""
    return {
        "orders": {
            cid: (v.order.status, str(v.order.filled_qty)) for cid, v in sorted(view.orders.items())
        },
        "working": sorted(v.client_order_id for v in view.working()),
        "positions": {
            key: (str(p.quantity), str(p.avg_price), str(p.realized_pnl))
            for key, p in sorted(view.positions.items())
        },
        "balances": {
            key: (str(b.total), str(b.available), str(b.locked))
            for key, b in sorted(view.balances.items())
        },
        "trading": view.trading_state,
    }


async def until(check: object, timeout: float = 20.0) -> None:
    async with asyncio.timeout(timeout):
        while not check():  # type: ignore[operator]  # noqa: ASYNC110
            await asyncio.sleep(0.02)


def order(side: Side, kind: OrderType, qty: str, price: Decimal | None = None) -> OrderRequest:
    return OrderRequest(
        broker="paper",
        account="main",
        instrument=SYMBOL,
        side=side,
        order_type=kind,
        quantity=Decimal(qty),
        limit_price=price,
        tif=TimeInForce.IOC if kind is OrderType.MARKET else TimeInForce.GTC,
    )


async def traded(url: str, prefix: str) -> Session:
    """A paper desk on `url` with a buy resting below the market and a position with
    realized P&L (0.02 bought, 0.01 sold), its engine caught up."""
    desk = Session(settings(url, prefix))
    await desk.start()
    try:
        engine = desk.engine

        def position() -> Decimal:
            return engine.position("paper", "main", SYMBOL)

        await until(lambda: engine.last_price(SYMBOL) is not None)
        last = engine.last_price(SYMBOL)
        assert last is not None
        low = (last * Decimal("0.96")).quantize(Decimal("0.01"))
        await engine.submit(order(Side.BUY, OrderType.LIMIT, "0.01", low))
        await until(lambda: len(engine.oms.working()) == 1 and not engine.oms.pending_new())
        await engine.submit(order(Side.BUY, OrderType.MARKET, "0.02"))
        await until(lambda: position() == Decimal("0.02"))
        await engine.submit(order(Side.SELL, OrderType.MARKET, "0.01"))
        await until(lambda: position() == Decimal("0.01"))
        await applied_all(desk)
    except BaseException:
        await desk.close()
        raise
    return desk


def titles(session: Session) -> list[str]:
    return [a.title for a in session.alerts]


def said(watch: WatchSession, title: str) -> list[str]:
    return [a.message for a in watch.alerts if a.title == title]


def waits(watch: WatchSession) -> bool:
    """The watching desk says it cannot know the paper account yet."""
    return WAITING in watch.progress.phase


def says_it_waits(watch: WatchSession) -> None:
    progress = watch.progress
    assert not progress.ready, progress.phase
    assert WAITING in progress.phase
    (lost,) = said(watch, LOST)
    assert "until the desk driving paper/main writes back what it holds" in lost
    assert "positions, realized P&L, orders and balances" in lost
    # The working orders and balances it shows of that broker are marked unconfirmed.
    assert watch.projection.reports_unknown().get("paper") == "JOURNAL LOST"
    assert not said(watch, WRITTEN_BACK)


async def shows_the_desk(watch: WatchSession, desk: Session) -> None:
    """The watching desk shows what the desk shows (its positions' realized P&L too),
    says it is done waiting, and follows on: a fill after it moves the position."""
    view = watch.projection
    await until(lambda: shown(view) == shown(desk.projection))
    await until(lambda: watch.progress.phase == StartPhase.READY)
    assert view.reports_unknown().get("paper") == ""
    assert view is watch.projection  # the UI's projection, rebuilt in place
    engine = desk.engine
    held = engine.position("paper", "main", SYMBOL)
    await engine.submit(order(Side.BUY, OrderType.MARKET, "0.01"))
    await until(lambda: engine.position("paper", "main", SYMBOL) == held + Decimal("0.01"))
    await applied_all(desk)
    await until(lambda: shown(view) == shown(desk.projection))


async def test_the_watcher_finds_the_loss_first_and_takes_the_desks_write_back(
    key_prefix: str,
) -> None:
    """The drill: the desk is cut off (SIGSTOP) while Redis restarts empty, so the
    watching desk finds the loss first and rebuilds from an empty journal. It says it
    waits for the desk's write-back; let go, the desk finds the loss, re-seeds and
    writes its snapshot, and the watching desk shows the desk's positions and realized
    P&L (before: only the fills after the loss, Health LIVE, no word, for good)."""
    with RedisServer() as server:
        async with Gate(server.host, server.port) as gate:
            desk = await traded(gate.url, key_prefix)
            watch = watcher(server.url, key_prefix)
            try:
                await watch.start()
                view = watch.projection
                await until(lambda: shown(view) == shown(desk.projection))
                before = shown(desk.projection)
                assert before["positions"]
                assert before["working"]

                gate.shut()  # the desk hears nothing of what follows
                await server.akill()
                await server.arestart()  # empty
                await until(lambda: watch.rebuilds >= 1 and waits(watch))
                says_it_waits(watch)
                assert view.positions == {}  # what the journal holds now: nothing

                gate.open()
                await until(lambda: RESEEDED_ALERT in titles(desk))
                assert shown(desk.projection) == before  # the desk kept its account
                await shows_the_desk(watch, desk)
                (back,) = said(watch, WRITTEN_BACK)
                assert "paper/main" in back
                assert watch.bus.stats.data_loss_detected == 1
            finally:
                await watch.close()
                await desk.close()


async def test_the_watcher_finds_the_loss_between_the_reseed_and_the_snapshot(
    key_prefix: str,
) -> None:
    """The desk finds the loss first and re-seeds its journal; the watching desk,
    cut off until then, finds it before the desk's snapshot is written (held on its
    way): it rebuilds from the re-seed (the balances, and each position at the
    re-seed's report: quantity, average, realized P&L and fees, the fills behind them
    being gone), says it waits, then takes the snapshot when it comes."""
    with RedisServer() as server:
        async with (
            Gate(server.host, server.port) as desk_gate,
            Gate(server.host, server.port) as watch_gate,
        ):
            desk = await traded(desk_gate.url, key_prefix)
            watch = watcher(watch_gate.url, key_prefix)
            try:
                await watch.start()
                view = watch.projection
                await until(lambda: shown(view) == shown(desk.projection))

                watch_gate.shut()
                desk_gate.shut_on(xadd_to(desk.bus.layout.snap("paper", "main")))
                await server.akill()
                await server.arestart()
                await until(desk_gate.met.is_set)  # re-seeded; its snapshot held
                assert RESEEDED_ALERT in titles(desk)
                watch_gate.open()
                # (The desk's snapshot write waits at most its socket timeout, 5 s.)
                await until(lambda: watch.rebuilds >= 1 and waits(watch), 4.0)
                says_it_waits(watch)
                # The re-seed alone gives a follower the desk's positions, as the venue
                # reports them (`Portfolio.take_standing`): the desk's 0.01 with its
                # realized P&L. (It showed none: the fills behind it are gone.)
                assert shown(view)["positions"] == shown(desk.projection)["positions"]

                desk_gate.open()
                await shows_the_desk(watch, desk)
                assert len(said(watch, WRITTEN_BACK)) == 1
            finally:
                desk_gate.open()
                await watch.close()
                await desk.close()


async def test_the_watcher_finds_the_loss_after_the_desks_snapshot(key_prefix: str) -> None:
    """The desk re-seeds and writes its snapshot before the watching desk, cut off
    until then, finds the loss: the rebuild starts from that snapshot and shows what
    the desk shows at once, with nothing to wait for (no banner, no mark)."""
    with RedisServer() as server:
        async with Gate(server.host, server.port) as watch_gate:
            desk = await traded(server.url, key_prefix)
            watch = watcher(watch_gate.url, key_prefix)
            try:
                await watch.start()
                view = watch.projection
                await until(lambda: shown(view) == shown(desk.projection))

                watch_gate.shut()
                await server.akill()
                await server.arestart()
                await until(lambda: RESEEDED_ALERT in titles(desk))
                for _ in range(200):
                    if await latest_snapshot(desk.bus, "paper", "main") is not None:
                        break
                    await asyncio.sleep(0.05)
                watch_gate.open()
                await until(lambda: watch.rebuilds >= 1)
                await until(lambda: watch.progress.phase == StartPhase.READY)
                assert shown(view) == shown(desk.projection)
                assert view.reports_unknown().get("paper") == ""
                (lost,) = said(watch, LOST)
                assert "until the desk driving" not in lost
                assert not said(watch, WRITTEN_BACK)
                await shows_the_desk(watch, desk)
            finally:
                await watch.close()
                await desk.close()


async def test_a_restart_from_an_older_copy_waits_for_the_desk_too(key_prefix: str) -> None:
    """Redis restarts from an older copy of its data (saved with a snapshot, before the
    last buy) while the desk is cut off: the watching desk finds the entries it had read
    gone and rebuilds from the copy's snapshot and journal, 0.01 where the desk holds
    0.02. That snapshot does not cover the first entry lost: it says it waits, and takes
    the desk's write-back when the desk, let go, finds the loss and writes it."""
    with RedisServer() as server:
        async with Gate(server.host, server.port) as gate:
            desk = await traded(gate.url, key_prefix)
            watch = watcher(server.url, key_prefix)
            try:
                await desk.snapshot()
                await desk.bus.flush()
                await asyncio.to_thread(command, server.host, server.port, "SAVE")  # the copy
                engine = desk.engine
                await engine.submit(order(Side.BUY, OrderType.MARKET, "0.01"))
                await until(lambda: engine.position("paper", "main", SYMBOL) == Decimal("0.02"))
                await applied_all(desk)
                await watch.start()
                view = watch.projection
                await until(lambda: shown(view) == shown(desk.projection))

                gate.shut()
                await server.akill()
                await server.arestart()  # loads the copy: the last buy is not in it
                await until(lambda: watch.rebuilds >= 1 and waits(watch))
                assert watch.bus.stats.data_loss_detected == 0  # the epoch is the copy's
                says_it_waits(watch)
                assert view.position("paper", "main", SYMBOL) == Decimal("0.01")

                gate.open()
                await until(lambda: RESEEDED_ALERT in titles(desk))
                await shows_the_desk(watch, desk)
                (back,) = said(watch, WRITTEN_BACK)
                assert "paper/main" in back
            finally:
                gate.open()
                await watch.close()
                await desk.close()


async def test_a_desk_silent_past_the_threshold_leaves_the_banner_to_health(
    key_prefix: str,
) -> None:
    """The drill with the desk frozen longer than the silence threshold: once it is
    judged silent (STALE: its desk may be down, or quit just before the loss, its
    DISCONNECTED lost with Redis) the banner no longer says it waits for it, and the
    Health pane's STALE says what is not known; its write-back is still taken when the
    desk, let go, writes it."""
    with RedisServer() as server:
        async with Gate(server.host, server.port) as gate:
            desk = await traded(gate.url, key_prefix)
            watch = watcher(server.url, key_prefix, stale_after_s=2.0)
            try:
                await watch.start()
                view = watch.projection
                await until(lambda: shown(view) == shown(desk.projection))

                gate.shut()
                await server.akill()
                await server.arestart()
                await until(lambda: watch.rebuilds >= 1)
                await until(lambda: "paper" in view.silent)
                await until(lambda: watch.progress.ready)
                assert view.reports_unknown().get("paper") == "STALE"
                assert view.positions == {}
                assert not said(watch, WRITTEN_BACK)

                gate.open()
                await until(lambda: RESEEDED_ALERT in titles(desk))
                await shows_the_desk(watch, desk)
                assert "paper" not in view.silent
                (back,) = said(watch, WRITTEN_BACK)
                assert "paper/main" in back
            finally:
                gate.open()
                await watch.close()
                await desk.close()
