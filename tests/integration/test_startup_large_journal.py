"""Start-up on a large journal (real Redis): the desk is on screen at once with the
recovery's progress, the loop keeps running, orders wait, the log starts from the
recent past, and once recovered the desk holds what the journal says.

The journal (`ORDERS` order lifecycles of five events) is written with raw redis-py
pipelines from the lifecycles `benchmarks/engine.py` journals for its recovery measurement.
"""

from __future__ import annotations

import asyncio
import html
import time
from dataclasses import dataclass
from decimal import Decimal

import pytest
from redis.asyncio import Redis

from benchmarks.engine import SYMBOL, order_lifecycle
from silvertine_tui.config import PaperBrokerConfig, Settings
from silvertine_tui.domain import (
    OrderRequest,
    OrderType,
    Side,
)
from silvertine_tui.engine import Session
from silvertine_tui.engine.core import TradingEngine
from silvertine_tui.engine.recovery import StartPhase, recover
from silvertine_tui.engine.risk import RiskRejected
from silvertine_tui.ui.app import SilvertineApp
from silvertine_tui.ui.model import FEED_BACKLOG
from silvertine_tui.ui.widgets.startup import ORDERS_WAIT, StartupBanner
from tests.support.redis_server import RedisServer

ORDERS = 12_000  # 60k events: a few seconds of recovery here
FIRST_FRAME_S = 1.0
"""The first frame, counted from the app's start (the bus already open, as the CLI
does): measured about 0.2-0.4 s on a fast machine (Textual's start and the desk's first
layout), 1.1-1.5 s on one two to three times slower (a bare Textual app's first frame
0.37-0.51 s there against 0.16 s). So the bound holds as a ratio where the machine is
slower: at most `EMPTY_RATIO` times the same desk's first frame on an empty journal,
measured in the same test (`first_frame_on_an_empty_journal`, its second start in the
process). Recovery starts just behind the first frame and takes the loop in slices
(`LOOP_LAG_S`), so the banner's frame came 1.4-2.0 times the empty desk's there; a
journal read before the first frame (the old start: 35 s on 300k events) is tens of
times.

The suite's other workers share the machine's two cores, and how much of them they
take changes from second to second: an empty desk measured at a quiet moment took
0.33 s, and the large journal's desk, a few seconds later, 1.74 s (its loop waiting
for a core). So the empty desk is measured just before the large one and again just
after, and the bound is taken from the slower of the two (`Start.reference`). The
loop thread's CPU time to the first frame is held to the same ratio: what our code
ran before the trader saw the desk, whatever else the machine ran (measured 0.43-0.68
s on an empty journal and 0.81-1.01 s on this one, under the suite's load); reading
the journal first would cost seconds of it."""
EMPTY_RATIO = 3.0
LOOP_LAG_S = 0.25
"""The longest the loop may be held during recovery: a replay page of 5,000 entries
applied in one go took about 100 ms here; yielding every 500 entries keeps the lag to
a slice of replay plus a frame (measured 25-75 ms). Counted in the loop thread's CPU time
(`LoopLag.held`): what this process ran before it yielded. In wall time a loop also waits
for a core other processes hold (the suite's other workers: up to 0.4 s on two cores
even while nothing of ours runs, in the phase that opens the bus), which no slicing
changes; the wall time is printed beside it."""


async def write_journal(url: str, stream: str, orders: int) -> None:
    raw = Redis.from_url(url)
    try:
        for start in range(1, orders + 1, 200):
            pipe = raw.pipeline(transaction=False)
            for n in range(start, min(start + 200, orders + 1)):
                for fields in order_lifecycle(n, prefix="big"):
                    pipe.xadd(stream, fields)  # type: ignore[arg-type]
            await pipe.execute()
    finally:
        await raw.aclose()


def settings(url: str, prefix: str) -> Settings:
    broker = PaperBrokerConfig(
        name="paper",
        account="main",
        seed=7,
        market={"autorun": False},
        latency={"enabled": False},
    )
    return Settings(brokers=[broker], bus={"url": url, "prefix": prefix})


def a_request(cid: str) -> OrderRequest:
    return OrderRequest(
        client_order_id=cid,
        broker="paper",
        account="main",
        instrument=SYMBOL,
        side=Side.BUY,
        order_type=OrderType.LIMIT,
        quantity=Decimal("0.001"),
        limit_price=Decimal("63000.00"),  # below the market, inside the collar: it rests
    )


class LoopLag:
    """The longest a 5 ms sleep overshot, by start-up phase: in wall time (`worst`), and
    in the CPU time the loop's thread ran meanwhile (`held`: how long our code held the
    loop, whatever else the machine runs)."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.worst: dict[str, float] = {}
        self.held: dict[str, float] = {}

    async def run(self) -> None:
        while True:
            phase = self.session.progress.phase
            before, cpu_before = time.perf_counter(), time.thread_time()
            await asyncio.sleep(0.005)
            overshot = time.perf_counter() - before - 0.005
            held = time.thread_time() - cpu_before
            self.worst[phase] = max(self.worst.get(phase, 0.0), overshot)
            self.held[phase] = max(self.held.get(phase, 0.0), held)


START_LIMIT_S = 180.0
"""A start that has not finished by then is stuck (it takes seconds on a quiet machine)."""


def starting(session: Session, deadline: float) -> None:
    """Fail at once, with the reason, when the start failed or hangs (never spin)."""
    progress = session.progress
    if progress.phase is StartPhase.FAILED:
        pytest.fail(f"the session's start failed: {progress.error}")
    if time.perf_counter() > deadline:
        pytest.fail(f"the session did not start in {START_LIMIT_S:g}s: {progress.phase}")


def screen_text(app: SilvertineApp) -> str:
    return html.unescape(app.export_screenshot()).replace("\xa0", " ")


@dataclass(frozen=True)
class Start:
    """From the app's start to its first frame: seconds (`wall`), and the loop
    thread's CPU seconds meanwhile (`cpu`)."""

    wall: float
    cpu: float

    @classmethod
    def since(cls, wall: float, cpu: float) -> Start:
        return cls(time.perf_counter() - wall, time.thread_time() - cpu)

    @staticmethod
    def reference(*starts: Start) -> Start:
        """The slower of the empty desk's starts, figure by figure."""
        return Start(max(s.wall for s in starts), max(s.cpu for s in starts))


async def first_frame_on_an_empty_journal(url: str, prefix: str) -> Start:
    """The app's start to its first frame with the panes filled (the ticket's Send),
    on a journal with nothing in it, polled as the test below polls."""
    session = Session(settings(url, prefix))
    await session.open()
    started, cpu = time.perf_counter(), time.thread_time()
    app = SilvertineApp(session, cursor_blink=False)
    try:
        async with app.run_test(size=(160, 48)):
            deadline = time.perf_counter() + START_LIMIT_S
            while "Send F9" not in screen_text(app):
                starting(session, deadline)
                await asyncio.sleep(0.01)
            start = Start.since(started, cpu)
            await asyncio.wait_for(app.ready.wait(), 30)
            return start
    finally:
        await session.close()


async def test_the_desk_shows_recovery_progress_and_comes_up_with_the_journal(
    redis_server: RedisServer, key_prefix: str
) -> None:
    # Twice: the first start in the process pays for what only a first start does.
    await first_frame_on_an_empty_journal(redis_server.url, f"{key_prefix}-cold")
    before = await first_frame_on_an_empty_journal(redis_server.url, f"{key_prefix}-before")
    session = Session(settings(redis_server.url, key_prefix))
    stream = session.bus.layout.exec("paper", "main")
    await write_journal(redis_server.url, stream, ORDERS)
    events = ORDERS * 5
    await session.open()  # as the CLI does: the bus first, recovery inside the app

    started, cpu = time.perf_counter(), time.thread_time()
    app = SilvertineApp(session, cursor_blink=False)
    lag = LoopLag(session)
    done_seen: list[int] = []
    refusals: list[str] = []
    try:
        async with app.run_test(size=(160, 48)) as pilot:
            lag_task = asyncio.create_task(lag.run())
            # The first frame with the progress on it, as the terminal would get it.
            first_frame: tuple[Start, bool, str] | None = None
            deadline = time.perf_counter() + START_LIMIT_S
            while first_frame is None and not session.ready:
                starting(session, deadline)
                screen = screen_text(app)
                if "recovering:" in screen:
                    first_frame = (Start.since(started, cpu), session.ready, screen)
                    banner = app.screen.query_one(StartupBanner)
                await asyncio.sleep(0.01)
            n = 0
            while not session.ready:
                starting(session, deadline)
                await asyncio.sleep(0.05)
                done_seen.append(session.progress.done)
                if not refusals and 0 < session.progress.done < events:
                    n += 1
                    try:
                        await session.engine.submit(a_request(f"early{n:012d}"))
                    except RiskRejected as exc:
                        refusals.append(str(exc))
            recovery_lag = lag.held[StartPhase.REPLAYING]
            lag_task.cancel()
            await asyncio.wait_for(app.ready.wait(), 30)
            await asyncio.wait_for(app.feed_ready.wait(), 30)
            for _ in range(100):  # until the reader has read the backlog
                await pilot.pause(0.02)
                if app.model.log_total >= FEED_BACKLOG:
                    break

            # The first frame: with the banner and its numbers (its time, below).
            assert first_frame is not None, "no frame showed the recovery's progress"
            at, ready_then, screen = first_frame
            assert not ready_then
            assert f"of {events:,} events" in screen
            assert ORDERS_WAIT in screen
            assert "Ticket" in screen or "TICKET" in screen.upper()  # the desk, not a blank
            banner_lines = [line for line in banner.shown if "recovering:" in line]
            assert any("s left" in line for line in banner_lines), banner_lines

            # The numbers moved, and the loop was never held for long.
            moving = sorted(set(d for d in done_seen if 0 < d < events))
            assert len(moving) >= 3, done_seen
            assert recovery_lag < LOOP_LAG_S

            # An order tried during recovery was refused, saying why.
            assert refusals, "no order was tried during recovery"
            assert "starting" in refusals[0]

            # Once recovered: the banner is gone and the engine holds the journal.
            assert not app.screen.query(StartupBanner)
            assert session.progress.done == events
            fresh = TradingEngine(session.bus, [], session.settings.risk)
            await recover(fresh, [("paper", "main")])
            # Every order is known; the newest finished ones are held in memory.
            oms = session.engine.oms
            assert len(oms.orders) + len(oms.retired) == ORDERS
            assert len(oms.orders) == oms.window.orders + 1  # + the last fill's order
            assert {cid: v.order.status for cid, v in session.engine.oms.orders.items()} == {
                cid: v.order.status for cid, v in fresh.oms.orders.items()
            }
            assert session.engine.position("paper", "main", SYMBOL) == fresh.position(
                "paper", "main", SYMBOL
            )

            # The log starts from the recent past: the newest FEED_BACKLOG journal
            # entries (orders 11801-12000), not the journal's 60,000.
            journal = [line for line in app.model.log if line.stream.endswith("exec:paper:main")]
            assert FEED_BACKLOG <= len(journal) <= FEED_BACKLOG + 50  # + the session's own
            assert app.model.log_total < 2 * FEED_BACKLOG
            first_order = ORDERS - FEED_BACKLOG // 5 + 1
            assert str(first_order)[-4:] in journal[0].text, journal[0].text

            # Orders are accepted now.
            await session.engine.submit(a_request("after000000000001"))
    finally:
        await session.close()

    # The first frame within the bound, against the empty desk just before and after.
    after = await first_frame_on_an_empty_journal(redis_server.url, f"{key_prefix}-after")
    empty = Start.reference(before, after)
    print(
        f"first frame {at} (on an empty journal {before} before, {after} after); "
        f"worst loop lag by phase {lag.worst}, held (loop thread CPU) {lag.held}"
    )
    assert at.wall < max(FIRST_FRAME_S, EMPTY_RATIO * empty.wall)
    assert at.cpu < EMPTY_RATIO * empty.cpu


async def test_quitting_during_recovery_writes_no_snapshot_of_half_a_journal(
    redis_server: RedisServer, key_prefix: str
) -> None:
    session = Session(settings(redis_server.url, key_prefix))
    await write_journal(redis_server.url, session.bus.layout.exec("paper", "main"), 4_000)
    await session.open()
    start = asyncio.create_task(session.start())
    for _ in range(2_000):
        if session.progress.done:
            break
        await asyncio.sleep(0.005)
    start.cancel()  # the trader quits while the journal is replayed
    await asyncio.gather(start, return_exceptions=True)
    assert 0 < session.progress.done < 20_000
    await session.close()

    raw = Redis.from_url(redis_server.url)
    try:
        assert await raw.xlen(session.bus.layout.snap("paper", "main")) == 0
    finally:
        await raw.aclose()
