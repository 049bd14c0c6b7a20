"""The quit dialog says what the journal has not taken yet: events the bus holds in
memory while Redis is out of reach (its outage buffer), how many, as the count moves
while the dialog is open, that quitting now loses them from the journal, and what to
do; and that they are written once Redis has taken them. Before, the dialog said
nothing of them: only a line on stderr after the exit did.

The desk is the real app on a real session and paper broker on a real `redis-server`
the test kills and starts again under it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest
from textual.app import App
from textual.pilot import Pilot
from textual.widgets import Static

from silvertine_tui.bus import BusOptions, create_bus
from silvertine_tui.bus.base import waiting_of
from silvertine_tui.domain import OrderStatus, OrderUpdate
from silvertine_tui.engine.cancels import CancelReport
from silvertine_tui.engine.commands import CancelAll, CancelAllDone, Command, Outcome
from silvertine_tui.engine.projection import DeskProjection
from silvertine_tui.events import OrderRequestEvent, OrderUpdateEvent
from silvertine_tui.ui.app import SilvertineApp
from silvertine_tui.ui.screens.quit import QuitScreen
from tests.support.redis_server import RedisServer
from tests.support.waiting import until

from .conftest import FakeClock, limit_buy, market_buy
from .test_health_bus import redis_desk

pytestmark = pytest.mark.redis


async def frames_until(
    app: SilvertineApp, pilot: Pilot[None], done: Callable[[], bool], what: str = ""
) -> None:
    for _ in range(300):
        app.frame()
        await pilot.pause()
        if done():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"timed out: {what}")


def journal_line(dialog: QuitScreen) -> Static:
    return dialog.query_one("#quit-journal", Static)


def dialog_text(app: SilvertineApp) -> str:
    """The dialog's box as it is on the screen, its lines joined (its edges off)."""
    box = app.screen.query_one("#dialog").region
    strips = app.screen._compositor.render_strips()
    rows = [strip.text[box.x + 1 : box.right - 1] for strip in strips[box.y + 1 : box.bottom - 1]]
    return " ".join(" ".join(rows).split())


def said_of_journal(app: SilvertineApp, working: int = 1) -> str:
    """What the dialog says of the journal, between its title and its keys; the title
    counts `working` orders (those sent while Redis is down too: the venue works them,
    their events wait in memory)."""
    text = dialog_text(app)
    head = f"Quit with {working} working order(s)?"
    assert text.startswith(head), text
    return text[len(head) : text.index("C (shift+c)")].strip()


@pytest.mark.parametrize("size", [(120, 36), (80, 24)])
async def test_the_quit_dialog_says_the_events_the_journal_has_not_taken(
    tmp_path: Path, clock: FakeClock, size: tuple[int, int]
) -> None:
    with RedisServer(persistence=True) as server:
        options = BusOptions(prefix=f"t-quit-{size[0]}", block_ms=50, epoch_check_s=0.1)
        desk = redis_desk(create_bus(server.url, options), clock, tmp_path)
        app, session = desk.app, desk.session
        stats = session.bus.stats
        async with app.run_test(size=size) as pilot:
            await desk.start(pilot)
            await desk.step(pilot, 2)
            engine = session.engine
            await engine.submit(limit_buy("st000000000000000901", "ETHUSDT.PAPER", "0.1", "3400"))
            await frames_until(app, pilot, lambda: session.projection.working_count() == 1)

            # Nothing waits: the dialog says nothing of the journal.
            await pilot.press("q")
            await frames_until(app, pilot, lambda: isinstance(app.screen, QuitScreen), "dialog")
            assert stats.exec_buffered == 0
            assert said_of_journal(app) == ""
            await pilot.press("escape")
            await frames_until(app, pilot, lambda: not isinstance(app.screen, QuitScreen))

            await server.akill()
            await frames_until(app, pilot, lambda: not stats.connected, "the bus down")
            # Orders sent meanwhile wait in memory with their reports and fills.
            await engine.submit(limit_buy("st000000000000000902", "ETHUSDT.PAPER", "0.1", "3400"))
            await frames_until(app, pilot, lambda: stats.exec_buffered > 0, "events waiting")

            await pilot.press("q")
            await frames_until(app, pilot, lambda: isinstance(app.screen, QuitScreen), "dialog")
            dialog = app.screen
            assert isinstance(dialog, QuitScreen)

            working = 2  # 901, and 902 sent meanwhile (not in Orders yet)

            def says(count: int) -> bool:
                said = said_of_journal(app, working)
                return said.startswith(f"NOT JOURNALED: {count:,} event(s) (")

            bus = session.bus
            await frames_until(app, pilot, lambda: says(bus.unwritten()[0]), "the count said")
            waiting, fills = bus.unwritten()
            # Whole on the screen, at 80x24 too.
            assert said_of_journal(app, working) == (
                f"NOT JOURNALED: {waiting:,} event(s) ({fills} fill(s)) wait in memory, not "
                "written to Redis yet. Quit now and what Redis has not taken within 2 s is "
                "lost from the journal (only the log file keeps it). Stay (esc) until "
                "Health (6) shows the bus connected and none waiting."
            )
            assert journal_line(dialog).has_class("-unwritten")

            # More come in while the dialog is open: the count follows.
            await engine.submit(limit_buy("st000000000000000903", "ETHUSDT.PAPER", "0.1", "3400"))
            await frames_until(app, pilot, lambda: bus.unwritten()[0] > waiting, "more waiting")
            # The title counts 903 too (it follows the count: tests/ui/test_quit_title_follows.py).
            working = 3
            await frames_until(app, pilot, lambda: says(bus.unwritten()[0]), "the new count")
            assert not app._exit

            # Redis back: the backlog is written, and the dialog says so.
            await server.arestart()
            await frames_until(
                app, pilot, lambda: stats.connected and bus.unwritten() == (0, 0), "Redis back"
            )
            await frames_until(
                app,
                pilot,
                lambda: (
                    said_of_journal(app, working)
                    == "Journal written: no event waits for Redis now."
                ),
                "written said",
            )
            assert journal_line(dialog).has_class("-written")
            await pilot.press("escape")
            await frames_until(app, pilot, lambda: not isinstance(app.screen, QuitScreen))
            await session.close()


async def test_q_with_nothing_working_asks_while_events_are_not_journaled(
    tmp_path: Path, clock: FakeClock
) -> None:
    """Nothing working (a market order sent while Redis is down filled at once; its
    events are in the bus's outage buffer, not yet in the streams the desk is drawn
    from), but the journal lacks its events: `q` asked nothing and quit at once, the
    events lost from the journal with only a line on stderr after it. It asks now,
    offering only to quit or stay. (An order sent meanwhile that the venue works is
    counted working and can be cancelled: tests/ui/test_quit_outage_working.py.)"""
    with RedisServer(persistence=True) as server:
        options = BusOptions(prefix="t-quit-none", block_ms=50, epoch_check_s=0.1)
        desk = redis_desk(create_bus(server.url, options), clock, tmp_path)
        app, session = desk.app, desk.session
        stats, bus = session.bus.stats, session.bus
        async with app.run_test(size=(80, 24)) as pilot:
            await desk.start(pilot)
            await desk.step(pilot, 2)
            await server.akill()
            await frames_until(app, pilot, lambda: not stats.connected, "the bus down")
            assert bus.unwritten() == (0, 0)
            await session.engine.submit(market_buy("st000000000000000911", "ETHUSDT.PAPER", "0.1"))
            await frames_until(app, pilot, lambda: bus.unwritten()[1] > 0, "its fill waiting")
            assert session.projection.working_count() == 0
            await pilot.press("q")
            await frames_until(app, pilot, lambda: isinstance(app.screen, QuitScreen), "dialog")
            text = dialog_text(app)
            assert text.startswith("Quit with events not journaled? NOT JOURNALED:"), text
            assert "l: quit now." in text
            assert "C (shift+c)" not in text  # nothing to cancel
            assert not app.screen.query("#cancel-quit")
            await pilot.press("C")  # offered nothing: does nothing
            await pilot.pause()
            assert isinstance(app.screen, QuitScreen)
            assert not app._exit
            await pilot.press("escape")
            await frames_until(app, pilot, lambda: not isinstance(app.screen, QuitScreen))
            assert not app._exit
            await pilot.press("q")
            await frames_until(app, pilot, lambda: isinstance(app.screen, QuitScreen), "again")
            await pilot.press("l")
            await frames_until(app, pilot, lambda: bool(app._exit), "quit")
        await session.close()
        assert stats.closed_unwritten > 0  # what the dialog warned of


ETH = "ETHUSDT.PAPER"
A, B, C, D = (f"st00000000000000093{n}" for n in range(4))
"""A and C journaled working before the outage; C cancelled at the venue, B and D sent
while Redis is down."""


def sent(coid: str) -> OrderRequestEvent:
    return OrderRequestEvent.create("paper/main", limit_buy(coid, ETH, "0.1", "3400"))


def report(coid: str, status: OrderStatus) -> OrderUpdateEvent:
    update = OrderUpdate(client_order_id=coid, status=status, venue_order_id=f"v-{coid}")
    return OrderUpdateEvent.create("paper/main", update)


async def refuse(command: Command) -> Outcome:
    raise AssertionError(f"nothing is sent here: {command!r}")


class OverTheDesk(App[None]):
    """The quit dialog alone over a desk whose reader is the test (`ReadBack`)."""

    def __init__(self, dialog: QuitScreen) -> None:
        super().__init__()
        self.dialog = dialog

    def on_mount(self) -> None:
        self.push_screen(self.dialog)


class ReadBack:
    """A desk's projection on a Redis bus whose reader is the test: it reads the
    journal back (`read_back`) only when the test says, as the desk's reader in its
    backoff after an outage does a while after the bus wrote what waited (up to 2 s)."""

    def __init__(self, server: RedisServer, prefix: str) -> None:
        options = BusOptions(prefix=prefix, block_ms=50, epoch_check_s=0.1)
        self.server = server
        self.bus = create_bus(server.url, options)
        self.projection = DeskProjection()
        # As `Session` does: what waits, and what was written not read back yet.
        self.projection.waiting_events = lambda: waiting_of(self.bus, self.projection.applied)
        self.stream = self.bus.layout.exec("paper", "main")
        self.read: set[str] = set()

    async def __aenter__(self) -> ReadBack:
        await self.bus.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.bus.close()

    async def read_back(self, most: int | None = None) -> int:
        """The journal's entries not read yet, applied in their order (at most `most`
        of them); how many."""
        entries = [e for e in await self.bus.read(self.stream) if e.id not in self.read]
        for entry in entries[:most]:
            self.read.add(entry.id)
            self.projection.apply_entry(entry)
        return len(entries[:most])

    async def outage(self) -> None:
        """A and C journaled and read; Redis down; C cancelled at the venue, B and D
        sent: their events wait in memory."""
        for coid in (A, C):
            await self.bus.publish(sent(coid))
            await self.bus.publish(report(coid, OrderStatus.NEW))
        assert await self.read_back() == 4
        assert [v.client_order_id for v in self.projection.working()] == [A, C]
        await self.server.akill()
        assert await self.bus.publish(report(C, OrderStatus.CANCELED)) is None  # it waits
        for coid in (B, D):
            assert await self.bus.publish(sent(coid)) is None
            assert await self.bus.publish(report(coid, OrderStatus.NEW)) is None
        assert self.bus.unwritten() == (5, 0)

    async def written(self) -> None:
        """Redis back and the bus has written what waited: nothing waits, none read."""
        await self.server.arestart()
        bus = self.bus
        await until(lambda: bus.stats.connected and bus.unwritten() == (0, 0), 10.0, "written")
        assert waiting_of(bus) == ()


def title_of(dialog: QuitScreen) -> str:
    return str(dialog.query_one("#dialog-title", Static).render())


async def test_the_title_keeps_its_count_while_the_desk_reads_back_what_redis_took() -> None:
    """Redis back: the bus writes what waited, and the desk reads it back from the
    journal only at its reader's next read (up to 2 s after an outage: its backoff).
    Meanwhile nothing waits and the journal as the desk has read it lacks the orders
    sent during the outage and shows working one that ended in it: the title read
    "Quit with 2 working order(s)?" over three (A, and C cancelled at the venue, not
    B and D sent meanwhile; seen as "1 working" over 3 in the test above under load).
    It keeps its count at every step of the read-back, and follows the desk after it."""
    with RedisServer(persistence=True) as server:
        async with ReadBack(server, "t-quit-read-back") as desk:
            await desk.outage()
            dialog = QuitScreen(desk.projection, refuse, unwritten=desk.bus.unwritten)
            async with OverTheDesk(dialog).run_test(size=(120, 36)) as pilot:
                await until(lambda: dialog.is_mounted, 5.0, "the dialog")

                async def title() -> str:
                    dialog.follow_desk()  # as after each frame of the desk
                    await pilot.pause()
                    return title_of(dialog)

                assert await title() == "Quit with 3 working order(s)?"  # A, B, D
                await desk.written()
                assert await title() == "Quit with 3 working order(s)?"
                # Read back an entry at a time: the count holds at every step.
                while await desk.read_back(1):
                    assert await title() == "Quit with 3 working order(s)?"
                assert [v.client_order_id for v in desk.projection.working()] == [A, B, D]

                # Read back, the journal's word counts: D ends, the title follows.
                await desk.bus.publish(report(D, OrderStatus.CANCELED))
                assert await desk.read_back() == 1
                assert await title() == "Quit with 2 working order(s)?"


async def test_cancel_and_quit_waits_for_the_orders_redis_took_and_the_desk_has_not_read() -> None:
    """`C` in that moment: "Cancel & quit" waited for the journal to show A and C ended
    alone, and quit saying "Every order is cancelled" once it showed A's cancel, the
    cancels of B and D (sent during the outage) not read yet. It waits for them too."""
    with RedisServer(persistence=True) as server:
        async with ReadBack(server, "t-quit-read-back-cancel") as desk:
            await desk.outage()

            async def cancel_all(command: Command) -> Outcome:
                """The venue cancels what works there; its reports journaled as a broker's."""
                assert isinstance(command, CancelAll)
                for coid in (A, B, D):
                    await desk.bus.publish(report(coid, OrderStatus.CANCELED))
                return CancelAllDone(report=CancelReport(cancelled=(A, B, D), gone=(C,)))

            dialog = QuitScreen(desk.projection, cancel_all, unwritten=desk.bus.unwritten)
            async with OverTheDesk(dialog).run_test(size=(120, 36)) as pilot:
                await until(lambda: dialog.is_mounted, 5.0, "the dialog")
                assert title_of(dialog) == "Quit with 3 working order(s)?"  # A, B, D
                await desk.written()
                await pilot.press("C")
                await until(lambda: dialog.outcome.startswith("Cancelling: "), 5.0, "cancelling")

                # Read back up to A's cancel: B's and D's are still to read.
                a_ended = False
                while not a_ended:
                    assert await desk.read_back(1) == 1
                    view = desk.projection.order(A)
                    a_ended = view is not None and view.order.status is OrderStatus.CANCELED
                assert [v.client_order_id for v in desk.projection.working()] == [B, D]
                waited = (
                    "Cancelling: 2 of 4 still working...",
                    "Every order is cancelled. Quitting.",
                )
                await until(lambda: dialog.outcome in waited, 5.0, "the cancel's wait")
                assert dialog.outcome == "Cancelling: 2 of 4 still working..."
                assert app_screen_is(dialog)

                while await desk.read_back(1):
                    pass
                await until(lambda: dialog.outcome == waited[1], 5.0, "quit")
                assert desk.projection.working() == []
                await pilot.pause()
                assert not app_screen_is(dialog)


def app_screen_is(dialog: QuitScreen) -> bool:
    return dialog.is_attached and dialog.app.screen is dialog


async def test_a_dialog_opened_before_the_desk_read_back_what_redis_took_counts_it() -> None:
    """Opened once Redis had taken the outage's events and before the desk read them
    back, the dialog counted the journal as read: "Quit with 2 working order(s)?" (A, and
    C cancelled at the venue) over A, B and D; "Cancel & quit" waited for A and C alone
    (the code review's find). What the bus wrote and the desk has not read is counted."""
    with RedisServer(persistence=True) as server:
        async with ReadBack(server, "t-quit-late") as desk:
            await desk.outage()
            await desk.written()
            dialog = QuitScreen(desk.projection, refuse, unwritten=desk.bus.unwritten)
            async with OverTheDesk(dialog).run_test(size=(120, 36)):
                await until(lambda: dialog.is_mounted, 5.0, "the dialog")
                assert title_of(dialog) == "Quit with 3 working order(s)?"  # A, B, D
                body = " ".join(str(dialog.query_one("#dialog-body", Static).render()).split())
                # Redis has them: said so, not "wait in memory".
                assert "wait in memory" not in body, body
                assert (
                    "2 of them not in Orders yet: sent while Redis was out of reach, "
                    "written to Redis, being read back."
                ) in body, body
                assert (
                    "1 order(s) Orders shows working ended at the venue (filled or "
                    "cancelled): written to Redis, being read back; not counted."
                ) in body, body
