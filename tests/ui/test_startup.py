"""Start-up on the desk: the banner over the desk while the session recovers and
connects, the ticket refusing with the reason until then, the banner gone after."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

from textual.screen import Screen

from silvertine_tui.brokers.errors import BrokerTimeout
from silvertine_tui.bus import BusOptions, MemoryBus
from silvertine_tui.config import BinanceBrokerConfig, Settings
from silvertine_tui.domain import Side
from silvertine_tui.engine import Session
from silvertine_tui.engine.recovery import RecoveryProgress, StartPhase
from silvertine_tui.engine.session import NOT_READY
from silvertine_tui.ui.app import SilvertineApp
from silvertine_tui.ui.screens.confirm import ConfirmScreen
from silvertine_tui.ui.screens.main import MainScreen
from silvertine_tui.ui.state import UserState
from silvertine_tui.ui.widgets.balances import Balances
from silvertine_tui.ui.widgets.header import DeskHeader
from silvertine_tui.ui.widgets.health import HealthPane
from silvertine_tui.ui.widgets.startup import ORDERS_WAIT, POLL_S, StartupBanner
from silvertine_tui.ui.widgets.ticket import Ticket
from tests.ui.conftest import Desk, FakeClock, make_settings


def slow_venue(desk: Desk) -> asyncio.Event:
    """The paper broker's connect waits until the returned event is set: a venue that
    answers slowly, so the test sees the desk while the session is still starting."""
    broker = desk.broker
    answer = asyncio.Event()
    connect = broker.connect

    async def slow_connect() -> None:
        await answer.wait()
        await connect()

    broker.connect = slow_connect  # type: ignore[method-assign]
    return answer


async def test_the_ticket_refuses_with_the_reason_until_the_session_is_ready(
    make_desk: Callable[..., Desk],
) -> None:
    desk = make_desk()
    answer = slow_venue(desk)
    app = desk.app
    async with app.run_test(size=(160, 48)) as pilot:
        for _ in range(100):
            await pilot.pause(0.01)
            if desk.session.progress.phase == StartPhase.CONNECTING:
                break
        assert desk.session.progress.phase == StartPhase.CONNECTING
        banner = app.screen.query_one(StartupBanner)
        for _ in range(20):  # the banner shows the phase at its next poll (POLL_S)
            if "connecting" in banner.shown[-1]:
                break
            await pilot.pause(POLL_S)
        assert "connecting brokers and reconciling" in banner.shown[-1]
        assert ORDERS_WAIT in banner.shown[-1]

        ticket = app.screen.query_one(Ticket)
        ticket.prefill(
            instrument="BTCUSDT.PAPER", side=Side.BUY, price=Decimal(63000), quantity=Decimal(1)
        )
        checked = ticket.run_check()
        assert not checked.ok
        assert [p.message for p in checked.problems if p.rule == "starting"] == [NOT_READY]
        await pilot.pause()
        assert "starting" in str(ticket.query_one("#t-problems").render())

        answer.set()
        await asyncio.wait_for(app.ready.wait(), 10)
        await desk.start(pilot)
        assert not app.screen.query(StartupBanner)
        assert desk.session.engine.not_ready == ""
        checked = ticket.run_check()
        assert not [p for p in checked.problems if p.rule == "starting"]
        assert checked.ok, checked.problems


def test_the_banner_says_how_many_events_are_left_and_how_long() -> None:
    now = [100.0]
    progress = RecoveryProgress(clock=lambda: now[0])
    assert progress.text() == StartPhase.OPENING
    progress.begin(300_000)
    assert progress.text() == "recovering: 0 of 300,000 events"
    now[0] += 2.0
    progress.done = 100_000
    assert progress.text() == "recovering: 100,000 of 300,000 events at 50,000/s, ~4 s left"
    progress.phase = StartPhase.CONNECTING
    progress.done = 300_000
    progress.finished_at = now[0] + 4.0
    assert progress.text() == (
        "connecting brokers and reconciling (300,000 events replayed in 6.0 s)"
    )


async def test_a_failed_start_is_shown_on_the_banner_and_orders_stay_refused(
    make_desk: Callable[..., Desk],
) -> None:
    desk = make_desk()

    async def no_instruments() -> dict[str, object]:
        # (ending its sentence, as the bus's "try again once it is back." does)
        raise BrokerTimeout("exchange info: HTTP 503 from the venue; try again later.")

    desk.broker.instruments = no_instruments  # type: ignore[method-assign,assignment]
    app = desk.app
    async with app.run_test(size=(160, 48)) as pilot:
        for _ in range(200):
            await pilot.pause(0.01)
            if desk.session.progress.phase == StartPhase.FAILED:
                break
        await pilot.pause(0.2)
        banner = app.screen.query_one(StartupBanner)
        assert banner.has_class("-failed")
        assert banner.shown[-1].startswith("start-up failed: exchange info: HTTP 503")
        toasts = [n for n in app._notifications if n.title == "Start-up failed"]
        assert toasts
        assert "Orders are refused" in toasts[0].message
        assert "try again later. Orders are refused" in toasts[0].message  # one full stop
        assert desk.session.engine.not_ready == NOT_READY
        assert app.is_running


async def test_the_session_starts_behind_the_first_frame(make_desk: Callable[..., Desk]) -> None:
    """Recovery and the brokers' connects never hold the first frame back: the session
    starts once the desk has been laid out and drawn."""
    desk = make_desk()
    app = desk.app
    start = desk.session.start
    seen: list[tuple[str, bool]] = []

    async def start_after_looking() -> None:  # records, then starts the session as is
        screen = app.screen
        headers = screen.query(DeskHeader)
        seen.append((type(screen).__name__, bool(headers) and headers.first().region.area > 0))
        await start()

    desk.session.start = start_after_looking  # type: ignore[method-assign]
    async with app.run_test(size=(160, 48)) as pilot:
        await desk.start(pilot)
        assert seen == [(MainScreen.__name__, True)]


async def test_the_first_frame_is_the_desks_frame_and_the_panes_contents_follow(
    make_desk: Callable[..., Desk],
) -> None:
    """The first frame is the header (with its PAPER/LIVE marker), the pane bar, the
    panes' frames and the key bar; the panes' contents, most of what a frame costs to
    compose and draw, come after it. Once the desk is ready every pane is filled."""
    desk = make_desk()
    app = desk.app
    display = app._display
    first: list[set[str]] = []

    def look_then_display(screen: Screen[object], renderable: object) -> None:
        if isinstance(screen, MainScreen) and renderable is not None and not first:
            first.append({type(widget).__name__ for widget in screen.query("*")})
        display(screen, renderable)  # type: ignore[arg-type]

    app._display = look_then_display  # type: ignore[method-assign]
    async with app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        assert first, "the desk's screen was never drawn"
        assert {"DeskHeader", "PaneTab", "Pane", "KeyBar"} <= first[0]
        assert not first[0] & {"Watchlist", "Ticket", "Blotter", "Positions", "EventLog"}
        screen = app.screen
        assert isinstance(screen, MainScreen)
        assert screen.drawable
        for name in ("watchlist", "ticket", "blotter", "positions", "log", "signals"):
            assert screen.query_one(f"#pane-{name}").query_one(f"#{name}")
        assert screen.query_one("#pane-health").query_one(HealthPane)
        assert screen.query_one("#pane-balances").query_one(Balances)


async def test_the_collector_paused_by_the_command_runs_again_after_the_first_frame(
    make_desk: Callable[..., Desk],
) -> None:
    """`silvertine` pauses the cyclic collector for the start (cli.main): the app
    resumes it once its first frame is out, before the session starts (the replay
    manages it from there: engine/recovery.py)."""
    desk = make_desk()
    app = desk.app
    display = app._display
    at_first_frame: list[bool] = []
    at_session_start: list[bool] = []

    def look_then_display(screen: Screen[object], renderable: object) -> None:
        if isinstance(screen, MainScreen) and renderable is not None and not at_first_frame:
            at_first_frame.append(gc.isenabled())
        display(screen, renderable)  # type: ignore[arg-type]

    start = desk.session.start

    async def start_after_looking() -> None:  # records, then starts the session as is
        at_session_start.append(gc.isenabled())
        await start()

    app._display = look_then_display  # type: ignore[method-assign]
    desk.session.start = start_after_looking  # type: ignore[method-assign]
    gc.disable()
    try:
        async with app.run_test(size=(120, 36)) as pilot:
            await desk.start(pilot)
            assert at_first_frame == [False]
            assert at_session_start == [True]
            assert gc.isenabled()
    finally:
        gc.enable()


async def test_a_desk_made_from_the_settings_builds_its_session_after_the_first_frame(
    clock: FakeClock, tmp_path: Path
) -> None:
    """`silvertine run`: the app gets the settings and how to build the session; its
    first frame (the desk's frame, the PAPER marker) is on screen before the session
    exists, then the session is built, its bus opened, the panes filled and the
    session started, as for an app given its session."""
    settings = make_settings()
    built: list[Session] = []
    first: list[tuple[str, int]] = []

    def build_session() -> Session:
        session = Session(settings, bus=MemoryBus(BusOptions(), clock_ms=clock.ms), clock=clock.ns)
        built.append(session)
        return session

    app = SilvertineApp(
        settings=settings,
        build_session=build_session,
        clock=clock.s,
        monotonic=clock.monotonic,
        state=UserState(tmp_path / "state.json"),
        cursor_blink=False,
    )
    assert not app.has_session
    display = app._display

    def look_then_display(screen: Screen[object], renderable: object) -> None:
        if isinstance(screen, MainScreen) and renderable is not None and not first:
            first.append((screen.query_one(DeskHeader).render().plain, len(built)))
            # The engine's keys before the session is there: they say so, no dialog.
            for action in ("kill", "cancel_all", "resume", "reduce_only"):
                assert app.check_action(action, ())
                getattr(app, f"action_{action}")()
        display(screen, renderable)  # type: ignore[arg-type]

    app._display = look_then_display  # type: ignore[method-assign]
    notified: list[str] = []
    notify = app.notify

    def record_then_notify(message: str, **options: Any) -> None:
        notified.append(message)
        notify(message, **options)

    app.notify = record_then_notify  # type: ignore[method-assign]
    try:
        async with app.run_test(size=(120, 36)) as pilot:
            await asyncio.wait_for(app.ready.wait(), 10)
            await asyncio.wait_for(app.feed_ready.wait(), 10)
            await pilot.pause()
            assert first, "the desk's screen was never drawn"
            header, sessions_then = first[0]
            assert header.split()[0] == "PAPER"
            assert sessions_then == 0  # the session came after the first frame
            assert len([m for m in notified if "desk is starting" in m]) == 4
            assert not isinstance(app.screen, ConfirmScreen)
            assert built
            assert app.session is built[0]
            assert app.session.started
            assert app.session.ready
            assert app.start_error is None
            screen = app.screen
            assert isinstance(screen, MainScreen)
            assert screen.drawable
            assert screen.watchlist.instruments  # the paper venue's, once connected
            assert screen.query_one(DeskHeader).render().plain.split()[0] == "PAPER"
    finally:
        for session in built:
            await session.close()


async def test_a_live_config_says_live_on_the_first_frame_and_a_failed_build_ends_the_app(
    clock: FakeClock, tmp_path: Path
) -> None:
    """The marker of a desk drawn before its session comes from the config: LIVE from
    the first frame for a broker configured for real money, never PAPER even once. A
    session that cannot be built ends the app with the reason (`start_error`: the
    command prints it, cli.py)."""
    settings = Settings(
        brokers=[
            BinanceBrokerConfig(
                name="binance", account="main", api_key="k", api_secret="s",
                testnet=False, live=True,
            )
        ]
    )  # fmt: skip
    assert settings.live
    markers: list[str] = []
    failure = RuntimeError("no adapter for the test")

    def build_session() -> Session:
        raise failure

    app = SilvertineApp(
        settings=settings,
        build_session=build_session,
        clock=clock.s,
        state=UserState(tmp_path / "state.json"),
        cursor_blink=False,
    )
    display = app._display

    def look_then_display(screen: Screen[object], renderable: object) -> None:
        if isinstance(screen, MainScreen) and renderable is not None:
            markers.append(screen.query_one(DeskHeader).render().plain.split()[0])
        display(screen, renderable)  # type: ignore[arg-type]

    app._display = look_then_display  # type: ignore[method-assign]
    async with app.run_test(size=(120, 36)) as pilot:
        for _ in range(100):
            if app._exit:
                break
            await pilot.pause(0.01)
    assert markers
    assert set(markers) == {"LIVE"}
    assert app.start_error is failure
    assert not app.has_session
    assert not app.ready.is_set()
