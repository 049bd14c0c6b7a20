"""UI test harness: the real app on the real session and paper broker, made
deterministic by an injected clock, a stepped market and no animations.

- `FakeClock` drives the broker (event timestamps), the memory bus (entry ids, hence
  the log's times and the bus lag), and the UI (header clock, quote ages, debounce).
- The paper market does not run on a timer (`autorun: false`) and has no latency:
  tests move it with `Desk.step()`. The broker's once-a-second health heartbeat is
  stopped, so nothing depends on how long a test takes.
- Snapshots go to the top-level `snapshots/` (see `TopLevelSVGExtension`).
"""

from __future__ import annotations

import asyncio
import itertools
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import pytest_textual_snapshot  # type: ignore[import-untyped]
from textual.pilot import Pilot

from silvertine_tui.brokers.paper import PaperBroker
from silvertine_tui.bus import BusOptions, MemoryBus
from silvertine_tui.config import PaperBrokerConfig, Settings
from silvertine_tui.domain import OrderRequest, OrderType, Side, TimeInForce
from silvertine_tui.engine import Session
from silvertine_tui.ui.app import SilvertineApp
from silvertine_tui.ui.state import UserState
from silvertine_tui.ui.widgets.table import KeyedTable

REPO = Path(__file__).resolve().parents[2]
SNAPSHOTS = REPO / "snapshots"

for _name in ("NO_COLOR", "TEXTUAL_THEME", "TEXTUAL_COLOR_SYSTEM", "TEXTUAL_FILTERS"):
    os.environ.pop(_name, None)


class TopLevelSVGExtension(pytest_textual_snapshot.SVGImageExtension):  # type: ignore[misc]
    """This project keeps its SVG snapshots in `snapshots/<test module>/`."""

    @classmethod
    def dirname(cls, *, test_location: Any) -> str:
        return str(SNAPSHOTS / test_location.basename)


# `snap_compare` looks the extension up in its module when called.
pytest_textual_snapshot.SVGImageExtension = TopLevelSVGExtension

# Workers that carry a command to the engine (they finish); the feed reader never does.
COMMAND_GROUPS = frozenset({"orders", "ticket", "engine", "state", "boot", "quit"})

# 2026-01-02 14:30:00 UTC
EPOCH_S = 1_767_364_200


class FakeClock:
    def __init__(self, start_s: int = EPOCH_S) -> None:
        self.t_ns = start_s * 1_000_000_000
        self.mono = 1_000.0

    def ns(self) -> int:
        return self.t_ns

    def ms(self) -> int:
        return self.t_ns // 1_000_000

    def s(self) -> float:
        return self.t_ns / 1e9

    def monotonic(self) -> float:
        return self.mono

    def advance(self, seconds: float) -> None:
        self.t_ns += int(seconds * 1e9)
        self.mono += seconds


def order_ids() -> Callable[[], str]:
    counter = itertools.count(1)
    return lambda: f"st{next(counter):018d}"


def make_settings(*, paper: dict[str, Any] | None = None, **ui: Any) -> Settings:
    """The test desk's settings; `paper` overrides fields of the paper broker's config."""
    fields: dict[str, Any] = {"market": {"autorun": False}, "latency": {"enabled": False}}
    broker = PaperBrokerConfig(name="paper", account="main", seed=7, **{**fields, **(paper or {})})
    return Settings(brokers=[broker], ui=ui or {})


@dataclass
class Desk:
    """One app on one session, and the handles a test needs."""

    app: SilvertineApp
    session: Session
    clock: FakeClock

    @property
    def broker(self) -> PaperBroker:
        broker = self.session.brokers[0]
        assert isinstance(broker, PaperBroker)
        return broker

    async def start(self, pilot: Pilot[None]) -> None:
        """Wait for the session, stop the heartbeat, let the reader catch up."""
        await asyncio.wait_for(self.app.ready.wait(), 10)
        await asyncio.wait_for(self.app.feed_ready.wait(), 10)
        await self.broker.stop_health_loop()
        await self.settle(pilot)

    async def step(self, pilot: Pilot[None], n: int = 1, seconds: float = 1.0) -> None:
        """Move the market `n` times, `seconds` apart, and draw."""
        for _ in range(n):
            self.clock.advance(seconds)
            await self.broker.step()
            await self.settle(pilot)  # the reader sees each step at its own time

    async def settle(self, pilot: Pilot[None]) -> None:
        """Until the reader, the engine and the screen have nothing left to do.

        Each look is a pilot pause of 10 ms (the screen's messages handled, the loop
        run, the screen updated), not `pilot.pause()`: that waits until the process
        ran less than 1 ms of CPU in a 20 ms window, and the desk's frame timer
        (20 a second, about 1.5 ms each on the suite's machines) made it wait 40-50 ms
        on average. Settling was two thirds of the UI tests' time and the suite passed
        CI's 20 minutes (1,258 s); what ends the wait is the same: the counters below
        still for three looks running, and no command worker left."""
        await self.session.bus.flush()
        stable = 0
        last: tuple[int, int, int] = (-1, -1, -1)
        engine = self.session.engine
        for _ in range(200):
            await pilot.pause(0.01)
            # Quotes move only the marks' version: wait for those too.
            now = (self.app.model.rates.total, engine.version, engine.marks_version)
            stable = stable + 1 if now == last else 0
            last = now
            if stable >= 3 and not self.busy():
                break
        pending = [w for w in self.app.workers if w.group in COMMAND_GROUPS]
        if pending:  # (an empty list would mean every worker, the feed reader too)
            await self.app.workers.wait_for_complete(pending)
        self.app.frame()
        await pilot.pause(0.01)

    async def next_second(self, pilot: Pilot[None]) -> None:
        """Settle, move the desk clock on a second, then settle: what is drawn once a
        second (the positions' marks) shows what had settled before the second turned.
        The test clock never moves by itself: a mark that arrived after the first frame
        of a second waits for the next one (a snapshot then showed 3,500.34 or 3,500.42
        from run to run). So what was sent before this call must have arrived before
        the clock moves: a frame run between the move and a quote's arrival took the
        new second without it (the Positions mark still `old` after a live quote, in
        about 1 run of 7 under load)."""
        await self.settle(pilot)
        self.clock.advance(1.0)
        await self.settle(pilot)

    def busy(self) -> bool:
        return any(w.group in COMMAND_GROUPS and not w.is_finished for w in self.app.workers)

    async def quiet(self, pilot: Pilot[None]) -> None:
        """Settle, then drop the toasts (snapshots of panes, not of notifications), and
        have the tables choose their columns from what they hold now."""
        await self.settle(pilot)
        self.app.clear_notifications()
        # A column keeps the width of the widest value it held until the columns are
        # chosen again, and which passing values were drawn depends on how the events
        # fell into frames: the working desk's Balances showed Locked one column wider
        # in about one run of six. A snapshot shows the columns a resize would choose.
        for table in self.app.screen.query(KeyedTable):
            table._refit(force=True)
        await pilot.pause()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


async def until(
    pilot: Pilot[None], what: str, check: Callable[[], bool], timeout: float = 10.0
) -> None:
    """Pause the pilot until `check()` holds: for desks on a real venue's fake, whose
    events come from sockets rather than the test clock."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await pilot.pause(0.02)


def market_buy(client_order_id: str, instrument: str, quantity: str) -> OrderRequest:
    """A marketable order on the test desk's paper account (it fills at the ask)."""
    return OrderRequest(
        client_order_id=client_order_id,
        broker="paper",
        account="main",
        instrument=instrument,
        side=Side.BUY,
        order_type=OrderType.MARKET,
        quantity=Decimal(quantity),
        tif=TimeInForce.IOC,
    )


def limit_buy(client_order_id: str, instrument: str, quantity: str, price: str) -> OrderRequest:
    """A GTC limit buy on the test desk's paper account (below the market: it rests)."""
    return market_buy(client_order_id, instrument, quantity).model_copy(
        update={
            "order_type": OrderType.LIMIT,
            "limit_price": Decimal(price),
            "tif": TimeInForce.GTC,
        }
    )


def build_desk(
    clock: FakeClock,
    state_path: Path,
    *,
    theme: str | None = "silvertine-dark",
    settings: Settings | None = None,
    bus_type: type[MemoryBus] = MemoryBus,
    **app_args: Any,
) -> Desk:
    """`bus_type`: a memory bus that holds or fails some writes (a test's own)."""
    bus = bus_type(BusOptions(), clock_ms=clock.ms)
    session = Session(
        settings or make_settings(), bus=bus, clock=clock.ns, monotonic=clock.monotonic
    )
    app = SilvertineApp(
        session,
        clock=clock.s,
        monotonic=clock.monotonic,
        state=UserState(state_path),
        theme=theme,
        new_order_id=order_ids(),
        toast_timeout_s=600,
        cursor_blink=False,
        **app_args,
    )
    app.animation_level = "none"
    return Desk(app, session, clock)


@pytest.fixture
def make_desk(tmp_path: Path, clock: FakeClock) -> Callable[..., Desk]:

    def make(*, state_path: Path | None = None, **kwargs: Any) -> Desk:
        return build_desk(clock, state_path or tmp_path / "state.json", **kwargs)

    return make


async def sample_orders(desk: Desk) -> None:
    """A resting BTC buy (…0101) and a filled ETH market buy of 1.5 (…0102)."""
    engine = desk.session.engine
    await engine.submit(
        OrderRequest(
            client_order_id="st000000000000000101",
            broker="paper",
            account="main",
            instrument="BTCUSDT.PAPER",
            side=Side.BUY,
            order_type=OrderType.LIMIT,
            quantity=Decimal("0.05"),
            limit_price=Decimal("63500.00"),
        )
    )
    await engine.submit(market_buy("st000000000000000102", "ETHUSDT.PAPER", "1.5"))


async def populate(desk: Desk, pilot: Pilot[None]) -> None:
    """A desk a trader would recognise: moving quotes, a resting order, a filled one
    with its position and P&L, a signal, all from the seeded paper market."""
    from silvertine_tui.events import Signal, SignalEvent

    await desk.step(pilot, 6)
    await sample_orders(desk)
    await desk.session.bus.publish(
        SignalEvent.create(
            "strategy:meanrev",
            Signal(
                strategy="meanrev",
                instrument="ETHUSDT.PAPER",
                side=Side.SELL,
                quantity=Decimal("0.5"),
                price=Decimal("3560.00"),
                note="2 sigma above the mean",
            ),
            ts=desk.clock.ns(),
        )
    )
    await desk.step(pilot, 6)
    await desk.next_second(pilot)  # the positions' marks as they settled
    await desk.quiet(pilot)


def record_dirty(widget: Any) -> list[Any]:
    """The regions `widget` marks for repaint from now on (a whole-widget refresh as
    its full region), recorded as Textual's own `_set_dirty` receives them."""
    dirty: list[Any] = []
    original = widget._set_dirty

    def spy(*regions: Any) -> None:
        dirty.extend(regions or [widget.size.region])
        original(*regions)

    widget._set_dirty = spy
    return dirty
