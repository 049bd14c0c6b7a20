"""Three LOWs of an IB drill, each a line of the desk that said something wrong or cut:

1. The Orders pane's bottom line, one account, TWS hung during a modify (its broker
   DEGRADED, the modify not answered): its shortest form named the account twice and
   was cut by an ellipsis, `ib/DU123456 DEGRADED: 1 state unknown; ib/DU123456: 1
   modify unanswer…` at 120x36 (and at 100x28 and 80x24 too). It names the account
   once, then says it in fewer words, whole at each size (docs/ui.md: never cut).
2. A watching desk's Balances bottom line, the driving desk killed: `ib STALE: as last
   heard; paper STALE:…` at 120x36. It names the brokers of one state together (`ib,
   paper STALE: as last heard`), in fewer words where that does not fit either, and
   says it whole again where the pane is wide enough (zoomed).
3. The header's clock read `00:00:00 UTC` on the desk's first frame: a time the desk
   never had. It reads the desk's clock from the first frame, or nothing until the
   desk is there (`silvertine run` draws the frame before the session).

The IB desks are the real adapter through ib_async against the fake TWS; the watching
desk reads the driving desk's streams on a shared memory bus, and "killed" is its
heartbeats stopping (as tests/ui/test_watch_stale.py)."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from textual.app import App, ComposeResult
from textual.screen import Screen

from silvertine_tui.bus import BusOptions, MemoryBus
from silvertine_tui.config import Settings
from silvertine_tui.domain import Balance
from silvertine_tui.engine import Session
from silvertine_tui.engine.watch import WatchSession
from silvertine_tui.ui.app import SilvertineApp
from silvertine_tui.ui.format import shown
from silvertine_tui.ui.screens.main import MainScreen, Pane
from silvertine_tui.ui.state import UserState
from silvertine_tui.ui.widgets.balances import Balances
from silvertine_tui.ui.widgets.blotter import Blotter
from silvertine_tui.ui.widgets.header import DeskHeader
from tests.fakes.tws import FakeTws
from tests.support.ib import paper_and_ib

from .conftest import Desk, FakeClock, make_settings, until
from .test_ib_modify_unanswered_row import modify_unanswered
from .test_projection_rebuild import quiet_app

SIZES = [(120, 36), (100, 28), (80, 24)]
HUNG: dict[str, Any] = {"order_timeout_s": 0.3, "watchdog_s": 0.05, "answer_timeout_s": 0.2}
"""The modify's wait, and TWS asked its time often with a short wait for the answer:
the watchdog finds TWS hung (DEGRADED) within a second of `FakeTws.freeze`."""


def edge_drawn(app: SilvertineApp, pane_id: str) -> tuple[str, str]:
    """(the text a pane's bottom edge says, that edge as drawn on the screen)."""
    pane = app.screen.query_one(pane_id, Pane)
    lines = [strip.text for strip in app.screen._compositor.render_strips()]
    region = pane.region
    return shown(pane._subtitle), lines[region.bottom - 1][region.x : region.right]


# -- 1. the Orders pane ------------------------------------------------------------------


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
async def test_the_orders_edge_of_a_hung_tws_during_a_modify_is_never_cut(
    make_desk, size: tuple[int, int]
) -> None:
    async with FakeTws() as fake:
        desk: Desk = make_desk(settings=paper_and_ib(fake, **HUNG))
        async with desk.app.run_test(size=size, notifications=True) as pilot:
            await desk.start(pilot)
            # BUY 5 AAPL at IB changed in the modify dialog; TWS answers the modify
            # only after the test (60 s), then hangs (SIGSTOP).
            await modify_unanswered(desk, pilot, fake, delay=60)
            fake.freeze()
            view = desk.session.projection
            await until(pilot, "ib DEGRADED", lambda: view.reports_unknown()["ib"] == "DEGRADED")
            await desk.settle(pilot)
            desk.app.clear_notifications()  # (a toast over the edge would hide it)
            await desk.settle(pilot)
            pane = desk.app.screen.query_one("#pane-blotter", Pane)
            label = f"ib/{fake.account}"
            # The whole line still says both, each with its account.
            whole = pane._subtitles[0]
            assert f"{label} DEGRADED: 1 order's state unknown" in whole, whole
            assert f"{label}: 1 modify not answered yet" in whole, whole
            text, drawn = edge_drawn(desk.app, "#pane-blotter")
            assert "…" not in drawn, drawn
            assert text in drawn, (text, drawn)  # whole, not cut
            assert text.startswith(f"{label} DEGRADED: 1 "), text
            assert text.count(label) == 1, text  # the account named once
            assert "unknown" in text, text
            assert text.endswith(" working"), text  # the counts after it
            # Its shorter forms: the account named once, then in fewer words.
            blotter = desk.app.screen.query_one(Blotter)
            working = [v for v in view.orders.values() if not v.order.status.is_terminal]
            forms = blotter.unknown_forms(working)
            assert forms[-3:] == [
                f"{label} DEGRADED: 1 state unknown, 1 modify unanswered",
                f"{label} DEGRADED: 1 state unknown",
                f"{label} DEGRADED: 1 unknown",
            ], forms
            fake.thaw()
            await desk.session.close()


# -- 2. a watching desk's Balances pane ---------------------------------------------------


async def killed_driving_desk(
    fake: FakeTws, bus: MemoryBus, clock: FakeClock
) -> tuple[Session, list[Any]]:
    """The desk driving paper and IB (on the fake TWS), its IB cash read; its brokers'
    heartbeats stopped after one more each (the desk is killed once the test stops
    publishing them)."""
    trading = Session(paper_and_ib(fake), bus=bus, clock=clock.ns)
    await trading.start()
    view = trading.projection
    for _ in range(500):
        if ("ib", fake.account, "USD") in view.balances and any(
            key[0] == "paper" for key in view.balances
        ):
            break
        await asyncio.sleep(0.02)
    assert ("ib", fake.account, "USD") in view.balances, view.balances
    brokers = list(trading.brokers)
    for broker in brokers:
        await broker.stop_health_loop()
        await broker.publish_health()
    return trading, brokers


@pytest.mark.parametrize("size", [(120, 36), (100, 28)], ids=lambda s: f"{s[0]}x{s[1]}")
async def test_a_watching_desks_balances_edge_with_the_driving_desk_killed_is_never_cut(
    tmp_path: Path, clock: FakeClock, size: tuple[int, int]
) -> None:
    prefix = f"t-edge-watch-{size[0]}"
    bus = MemoryBus(BusOptions(prefix=prefix, block_ms=50), clock_ms=clock.ms)
    async with FakeTws() as fake:
        trading, brokers = await killed_driving_desk(fake, bus, clock)
        settings = Settings.model_validate({"bus": {"url": "memory://", "prefix": prefix}})
        watch = WatchSession(
            settings, bus=bus, clock=clock.ns, stale_after_s=5.0, stale_check_s=0.05
        )
        await watch.open()
        app = quiet_app(watch, clock, tmp_path / "watch.json")
        desk = Desk(app, watch, clock)
        try:
            async with app.run_test(size=size, notifications=True) as pilot:
                await asyncio.wait_for(app.ready.wait(), 10)
                await asyncio.wait_for(app.feed_ready.wait(), 10)
                for _ in range(3):  # heartbeats a second apart: heard
                    clock.advance(1.0)
                    for broker in brokers:
                        await broker.publish_health()
                    await desk.settle(pilot)
                await asyncio.sleep(3.0)  # the watching desk's first look waits 2.5 s
                await desk.settle(pilot)
                view = watch.projection
                assert not view.silent
                assert {"ib", "paper"} <= {key[0] for key in view.balances}

                # Killed: no heartbeat more; six seconds on, both STALE.
                clock.advance(6.0)
                await until(pilot, "both STALE", lambda: {"ib", "paper"} <= set(view.silent))
                await desk.settle(pilot)
                app.clear_notifications()  # (a toast over the edge would hide it)
                await desk.settle(pilot)
                await pilot.pause()
                text, drawn = edge_drawn(app, "#pane-balances")
                assert "…" not in drawn, drawn
                assert text in drawn, (text, drawn)  # whole, not cut
                assert text.startswith("ib, paper STALE"), text  # both, named together

                # Zoomed, the pane has the screen's width: the whole line, chosen again.
                await pilot.press("5", "f11")
                await desk.settle(pilot)
                text, drawn = edge_drawn(app, "#pane-balances")
                assert text.startswith("ib STALE: as last heard; paper STALE: as last heard")
                assert text in drawn, (text, drawn)
                await pilot.press("f11")
                await desk.settle(pilot)
                text, drawn = edge_drawn(app, "#pane-balances")
                assert text in drawn, (text, drawn)
                assert text.startswith("ib, paper STALE"), text
        finally:
            await watch.close()
            await trading.close()


class BalancesPane(App[None]):
    """The Balances pane alone in its box (the desk's `Pane`), as narrow as a test
    makes the terminal."""

    def compose(self) -> ComposeResult:
        yield Pane("balances", 5, Balances(id="balances"))


def usd(broker: str) -> Balance:
    return Balance(
        broker=broker,
        account="main",
        currency="USD",
        total=Decimal(100),
        available=Decimal(100),
        locked=Decimal(0),
    )


async def test_a_balances_edge_too_short_for_the_brokers_said_together_says_it_in_fewer_words() -> (
    None
):
    """Three brokers STALE in a pane whose edge has room for none of the longer forms:
    `binance, ib, paper STALE`; on an edge wide enough, each as before."""
    app = BalancesPane()
    async with app.run_test(size=(30, 8)) as pilot:
        balances = app.query_one(Balances)
        balances.unconfirmed = {"binance": "STALE", "ib": "STALE", "paper": "STALE"}
        balances.show({(b, "main", "USD"): usd(b) for b in ("binance", "ib", "paper")})
        await pilot.pause()
        pane = app.query_one(Pane)
        room = pane._edge_room()
        assert room is not None
        assert room < len("binance, ib, paper STALE: as last heard"), room
        assert balances.bottom_forms() == [
            "binance STALE: as last heard; ib STALE: as last heard; paper STALE: as last heard",
            "binance, ib, paper STALE: as last heard",
            "binance, ib, paper STALE",
        ]
        # The desk's screen hands the pane the forms (`MainScreen`), which shows the
        # first that fits its edge.
        pane.set_subtitle(*balances.bottom_forms())
        assert pane._subtitle == "binance, ib, paper STALE"
        # Two states: the brokers of each named together, each state said.
        balances.unconfirmed = {"binance": "DISCONNECTED", "ib": "STALE", "paper": "STALE"}
        assert balances.bottom_forms()[1:] == [
            "binance DISCONNECTED: as last heard; ib, paper STALE: as last heard",
            "binance DISCONNECTED; ib, paper STALE",
        ]
        pane.set_subtitle(*balances.bottom_forms())
        await pilot.resize_terminal(120, 8)
        await pilot.pause()
        assert pane._subtitle == balances.bottom_forms()[0]


# -- 3. the header's clock ----------------------------------------------------------------


def first_header_of(app: SilvertineApp) -> list[str]:
    """The header as the desk's first frame draws it (filled in as it is drawn)."""
    first: list[str] = []
    display = app._display

    def look_then_display(screen: Screen[object], renderable: object) -> None:
        if isinstance(screen, MainScreen) and renderable is not None and not first:
            first.append(screen.query_one(DeskHeader).render().plain)
        display(screen, renderable)  # type: ignore[arg-type]

    app._display = look_then_display  # type: ignore[method-assign]
    return first


async def test_the_header_reads_the_desks_clock_from_the_first_frame(make_desk) -> None:
    """An app given its session (the desk is there at once): the injected clock,
    2026-01-02 14:30:00 UTC, from the first frame."""
    desk: Desk = make_desk()
    first = first_header_of(desk.app)
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        assert first, "the desk's screen was never drawn"
        assert first[0].rstrip().endswith("14:30:00 UTC"), first[0]
        assert "00:00:00" not in first[0], first[0]
        await desk.session.close()


async def test_the_header_before_the_session_says_no_time_until_it_knows(
    clock: FakeClock, tmp_path: Path
) -> None:
    """`silvertine run`: the first frame is drawn before the session (and its desk)
    exists. The clock says nothing until the desk's clock is known, then its time."""
    built: list[Session] = []

    def build_session() -> Session:
        bus = MemoryBus(BusOptions(), clock_ms=clock.ms)
        session = Session(make_settings(), bus=bus, clock=clock.ns)
        built.append(session)
        return session

    app = SilvertineApp(
        settings=make_settings(),
        build_session=build_session,
        clock=clock.s,
        monotonic=clock.monotonic,
        state=UserState(tmp_path / "state.json"),
        cursor_blink=False,
    )
    first = first_header_of(app)
    try:
        async with app.run_test(size=(120, 36)) as pilot:
            await asyncio.wait_for(app.ready.wait(), 10)
            await asyncio.wait_for(app.feed_ready.wait(), 10)
            await pilot.pause()
            assert first, "the desk's screen was never drawn"
            assert first[0].split()[0] == "PAPER", first[0]
            assert "00:00:00" not in first[0], first[0]
            assert "UTC" not in first[0], first[0]  # no time at all, not a wrong one
            # Nor a trading state not read yet: a desk that starts HALTED read ACTIVE.
            assert "ACTIVE" not in first[0], first[0]
            app.frame()
            await pilot.pause()
            header = app.screen.query_one(DeskHeader).render().plain
            assert header.rstrip().endswith("14:30:00 UTC"), header
    finally:
        for session in built:
            await session.close()
