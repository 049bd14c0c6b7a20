"""The desk: header, eight panes, footer.

Wide terminals (from 100x28) show every pane in a grid; smaller ones show a pane bar
and one pane at a time (keys 1-8, F2 for the next). The frame timer of the app calls
`draw` with what changed; nothing here reads the bus.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterable
from decimal import Decimal
from typing import TYPE_CHECKING, Self

from rich.cells import cell_len
from textual import events, on
from textual.app import ComposeResult
from textual.color import Color, ColorParseError
from textual.containers import Container, Horizontal, Vertical
from textual.content import Content
from textual.geometry import Region
from textual.reactive import Reactive
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Static

from ...domain import ConnectionState, Instrument, Side, TradingState
from ..focus import focus_now
from ..format import short_id, shown
from ..keymap import PANES, named_key
from ..lean_update import LeanCompositor
from ..widgets.header import DeskHeader
from ..widgets.keybar import KeyBar
from ..widgets.palette import Palette

if TYPE_CHECKING:
    # The panes' contents, bound by `_import_panes` once the first frame is out.
    from textual.containers import VerticalScroll

    from ...config import Settings
    from ...engine.commands import CancelOrder, Failed, ModifyOrder, Refused
    from ...engine.projection import OrderView
    from ..desk import Desk
    from ..widgets.balances import Balances
    from ..widgets.blotter import (
        Blotter,
        day_start,
        first_event_s,
        todays_orders,
    )
    from ..widgets.event_log import EventLog
    from ..widgets.health import BrokerLine, BusLine, HealthPane, broker_line, engine_line
    from ..widgets.positions import Positions
    from ..widgets.signals import Signals
    from ..widgets.ticket import Ticket
    from ..widgets.watchlist import Watchlist

RESUME = frozenset({"resume"})
# A watching desk sends no order: its bar leaves out the keys that only say so.
CANCEL_HELD_TITLE = "Cancel held by the rate limit: goes out by itself"
"""A cancel the venue's rate limit holds (Binance's 429: `CancelHeld`), owed and sent by
the adapter once the Retry-After is over."""
WATCHING_REFUSES = frozenset({"fire", "screen.cancel_order", "screen.modify_order", "cancel_all"})
COMPACT_WIDTH = 100
COMPACT_HEIGHT = 28
PANE_NAMES = [name for name, _ in PANES]
PANE_LABELS = dict(PANES)
GRID_ORDER = (
    "watchlist", "ticket", "blotter", "positions", "health", "log", "signals", "balances",
)  # fmt: skip


def failed_text(error: str, client_order_id: str, what: str) -> str:
    """A failed or refused cancel or modify's toast: the reason first, the order named
    once, short (`short_id`, as the ticket's `sent` names it). At 80x24 a toast has two
    lines: `<id>: modify of <id> not s...` was cut before the reason. An adapter's
    `modify of <id> not sent: <why>` reads `<why>; not sent (order <short>)`."""
    short = short_id(client_order_id)
    reason = error.strip()
    for lead in (f"{what} of {client_order_id}", f"the {what} of {client_order_id}"):
        if reason.lower().startswith(lead.lower()):
            reason = reason[len(lead) :].lstrip(" :")
            break
    if reason.startswith("not sent: "):
        reason = f"{reason.removeprefix('not sent: ')}; not sent"
    reason = reason.replace(client_order_id, short) or f"the {what} failed"
    return reason if short in reason else f"{reason} (order {short})"


def too_late_text(error: str, client_order_id: str, what: str) -> str:
    """The toast of a cancel or modify that came too late (the order ended first): the
    title says that much (`Cancel came too late`), the text what became of the order,
    named once by its short id (`failed_text`). It read `Cancel came too late: cancel
    of <20-character id> came too late: ...`, the id taking most of an 80x24 toast."""
    said = failed_text(error, client_order_id, what)
    return said.removeprefix("came too late: ")


def fitting(choices: tuple[str, ...], room: int | None) -> str:
    """The first of `choices` (longest first) within `room` cells; the last, to be cut,
    when none is (the first while the room is not known)."""
    if room is None:
        return choices[0]
    for text in choices:
        if cell_len(shown(text)) <= room:
            return text
    return choices[-1]


def _import_panes() -> None:
    """Bind the names of the panes' contents in this module (`MainScreen.fill`).

    The desk's first frame (header, pane bar, the panes' borders, key bar) needs none
    of them, and their modules import the engine's (projection, commands, risk), which
    import the bus's and the brokers': `silvertine run` draws the frame first and
    imports them, with the session, just after it (docs/architecture.md, "Start-up").
    Every method that uses these names runs once the screen is `drawable`."""
    global Balances, Blotter, BrokerLine, BusLine, CancelOrder, EventLog, Failed
    global HealthPane, ModifyOrder, OrderView, Positions, Refused, Signals, Ticket
    global VerticalScroll, Watchlist, broker_line, day_start, engine_line
    global first_event_s, todays_orders
    from textual.containers import VerticalScroll

    from ...engine.commands import CancelOrder, Failed, ModifyOrder, Refused
    from ...engine.projection import OrderView
    from ..widgets.balances import Balances
    from ..widgets.blotter import (
        Blotter,
        day_start,
        first_event_s,
        todays_orders,
    )
    from ..widgets.event_log import EventLog
    from ..widgets.health import BrokerLine, BusLine, HealthPane, broker_line, engine_line
    from ..widgets.positions import Positions
    from ..widgets.signals import Signals
    from ..widgets.ticket import Ticket
    from ..widgets.watchlist import Watchlist


FOOTED = frozenset({"blotter", "positions"})
"""Panes whose bottom edge says what a trader needs (the Orders pane's counts, the
Positions pane's P&L totals): one pane at a time, where the panes have no borders,
they keep that edge (class `-footed`, ui/styles/app.tcss), zoomed or not."""


class Pane(Vertical):
    """A titled box around one pane's widget; `z` zooms it to the whole screen."""

    ALLOW_MAXIMIZE = True
    _edge_only: str | None = None  # a refresh repaints this edge only ("top", "bottom")

    def __init__(self, name: str, number: int, *children: Widget) -> None:
        classes = "pane -footed" if name in FOOTED else "pane"
        super().__init__(*children, id=f"pane-{name}", classes=classes)
        self.pane_name = name
        self.label = f"{number} {PANE_LABELS[name]}"
        self.border_title = self.label
        self._subtitle = ""
        self._subtitles: tuple[str, ...] = ("",)

    def set_subtitle(self, text: str, *shorter: str) -> None:
        """The title on the box's bottom edge, repainting that line only. Textual
        repaints the whole pane for a new subtitle: the Orders pane's counts change
        with every order, so every row under it (and any toast over it) went to the
        terminal again once a frame. `shorter`: the same said with less, each dropping
        the least useful part left: the first that fits the edge is shown (chosen
        again as the pane is resized), not the whole cut at the edge by Textual (`...
        1 working of 11 today …` at 120x36)."""
        self._subtitles = (text, *shorter)
        self._fit_subtitle()

    def on_resize(self) -> None:
        if len(self._subtitles) > 1:
            self._fit_subtitle()

    def _edge_room(self) -> int | None:
        """The cells the bottom edge has for its text (Textual's: two for the edge's
        ends, two more for each corner with a space), None before the layout."""
        width = self.outer_size.width
        if not width:
            return None
        corners = sum(1 for edge in (self.styles.border_left, self.styles.border_right) if edge[0])
        return width - 2 - 2 * corners

    def _fit_subtitle(self) -> None:
        text = fitting(self._subtitles, self._edge_room())
        if self._subtitle == text:
            return
        self._subtitle = text
        self._edge_only = "bottom"
        try:
            # As Content, not a str: Textual reads a str as markup, and a currency from a
            # broker's profile on the bus (`U[/x]SD`) stopped the app there.
            self.border_subtitle = Content(shown(text))
        finally:
            self._edge_only = None

    def set_title(self, title: str | Content) -> None:
        """The title on the box's top edge, repainting that line only: the active pane's
        title lights up at every key that moves between panes (`b` from the quotes to the
        ticket and `esc` back), and a whole repaint of both panes put every line of the
        quotes and the ticket through the compositor and to the terminal again. (No
        early return on an equal title: Textual's `Content` compares text, not style.)"""
        self._edge_only = "top"
        try:
            self.border_title = title
        finally:
            self._edge_only = None

    def refresh(
        self, *regions: Region, repaint: bool = True, layout: bool = False, recompose: bool = False
    ) -> Self:
        if self._edge_only and not (regions or layout or recompose):
            # The edge's line, in content coordinates: the box starts at -1, -1 with a
            # border all round, at 0, 0 with only the bottom edge (one pane at a time).
            width, height = self.outer_size
            top, _, _, left = self.styles.gutter
            y = -top if self._edge_only == "top" else height - top - 1
            regions = (Region(-left, y, width, 1),)
        return super().refresh(*regions, repaint=repaint, layout=layout, recompose=recompose)

    def mark_active(self, active: bool, colour: str) -> None:
        if not active:
            self.set_title(self.label)
            return
        try:
            Color.parse(colour)
        except ColorParseError:  # a theme without a usable primary: bold only
            colour = ""
        self.set_title(Content.styled(self.label, f"bold {colour}".strip()))


class PaneTab(Static):
    def __init__(self, name: str, number: int) -> None:
        super().__init__(f"{number} {PANE_LABELS[name]}", id=f"tab-{name}", classes="pane-tab")
        self.pane_name = name

    def on_click(self, event: events.Click) -> None:
        screen = self.screen
        if isinstance(screen, MainScreen) and screen.drawable:  # its panes are there
            screen.show_pane(self.pane_name)


class MainScreen(Screen[None]):
    # A zoomed pane keeps the header and the key bar, and one pane at a time (80x24) the
    # pane bar too: the newest toast shows on the pane bar's row there (ui/styles/
    # app.tcss), and with the bar gone the zoomed pane's first row was under it (the
    # Quotes' header, the Log's first line, a ticket scrolled to its answer). In the
    # grid the pane bar is not displayed, zoomed or not.
    ALLOW_IN_MAXIMIZED_VIEW = "DeskHeader, #pane-bar, KeyBar"

    # Textual repaints the whole screen when the focus moves (a reactive's default);
    # the widgets that gain and lose focus repaint themselves anyway. Over SSH a
    # whole screen per key press is most of the bytes: repaint only what changed.
    focused: Reactive[Widget | None] = Reactive(None, repaint=False)

    desk: Desk

    def __init__(self, desk: Desk | None = None, *, settings: Settings | None = None) -> None:
        """`desk`, or for a desk whose session is built after its first frame (`silvertine
        run`) the `settings` its frame is drawn from: the desk comes with `fill`."""
        super().__init__(id="main")
        # Partial updates cropped to what changed and with only the colour changes
        # written (ui/lean_update.py): the same screen in fewer bytes.
        self._compositor = LeanCompositor()
        if desk is not None:
            self.desk = desk
            self._marker = (desk.live, desk.session.bus_url, desk.session.watching)
        elif settings is not None:
            # What the session would say: the config's brokers and bus (no journal
            # read yet, so no other desk's LIVE broker either).
            self._marker = (settings.live, settings.bus.redacted_url(), False)
        else:
            raise TypeError("MainScreen needs a desk or the settings")
        self.active = "watchlist"
        self._second = -1
        self.drawable = False
        self._blotter_seen = 0
        self._day = 0.0
        self._marks_waiting: set[str] = set()
        self._balances_waiting: set[tuple[str, str, str]] = set()
        self._balances_drawn_s = float("-inf")
        # Today's orders and the working ones, kept up to date from the change sets
        # (the pane's title counts them without walking every order each frame).
        self._today: dict[str, OrderView] = {}
        self._working: set[str] = set()
        self._counts_checked: tuple[int, int] = (-1, -1)
        self._quotes_waiting = False
        self._bar_state: TradingState | None = None  # the key bar's urgent keys are for

    # -- layout ---------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        # The first frame: the header, the pane bar, the panes' frames and the key bar.
        # The panes' contents are composed after it (`fill`): they are most of the
        # first frame's cost (about 0.15 s of CPU for composing, styling and drawing).
        live, bus, watching = self._marker
        yield DeskHeader(live=live, bus=bus, watching=watching, id="header")
        with Horizontal(id="pane-bar"):
            for n, name in enumerate(PANE_NAMES, start=1):
                yield PaneTab(name, n)
        with Container(id="desk"):
            # Grid order (see app.tcss); the numbers are the keys that show each pane.
            for name in GRID_ORDER:
                yield Pane(name, PANE_NAMES.index(name) + 1)
        if watching:
            yield KeyBar(label="WATCHING", hidden=WATCHING_REFUSES, id="keybar")
        else:
            yield KeyBar(id="keybar")

    def _contents(self) -> dict[str, Widget]:
        desk = self.desk
        return {
            "watchlist": Watchlist(stale_after_s=desk.stale_after_s, id="watchlist"),
            "ticket": Ticket(desk, id="ticket"),
            "blotter": Blotter(id="blotter"),
            "positions": Positions(stale_after_s=desk.stale_after_s, id="positions"),
            "health": VerticalScroll(HealthPane(id="health"), id="health-scroll"),
            "log": EventLog(id="log"),
            "signals": Signals(id="signals"),
            "balances": Balances(id="balances"),
        }

    def on_mount(self) -> None:
        self._apply_size(self.size.width, self.size.height)

    async def fill(self, desk: Desk | None = None) -> None:
        """The panes' contents: the app calls it once the first frame is out (as it
        starts the session), with the desk when the screen was made without one;
        `drawable` from then on."""
        if desk is not None:
            self.desk = desk
        _import_panes()
        await asyncio.gather(
            *(
                self.query_one(f"#pane-{name}", Pane).mount(widget)
                for name, widget in self._contents().items()
            )
        )
        log = self.query_one(EventLog)
        log.attach(self.desk.model.log, self.desk.model.fills)
        log.border_title_changed()
        self.watchlist.set_instruments(self._instruments())
        self._apply_size(self.size.width, self.size.height)
        self.show_pane("watchlist")
        self.drawable = True
        self.refresh_bindings()  # the key bar: the keys of the pane now focused
        palette = getattr(self.app, "palette", None)
        if isinstance(palette, Palette):
            self.restyle(palette)

    def on_resize(self, event: events.Resize) -> None:
        self._apply_size(event.size.width, event.size.height)

    def _apply_size(self, width: int, height: int) -> None:
        compact = width < COMPACT_WIDTH or height < COMPACT_HEIGHT
        changed = compact != self.compact
        self.set_class(compact, "-compact")
        self.query_one(DeskHeader).set_compact(compact)
        self.set_class(width >= 160 and height >= 45, "-large")
        if changed and compact:
            self._mark_active(None, self.active)

    @property
    def compact(self) -> bool:
        return self.has_class("-compact")

    @property
    def watchlist(self) -> Watchlist:
        return self.query_one(Watchlist)

    @property
    def ticket(self) -> Ticket:
        return self.query_one(Ticket)

    def _instruments(self) -> list[Instrument]:
        return self.desk.view.all_instruments()

    # -- panes ------------------------------------------------------------------------

    def show_pane(self, name: str, *, focus: bool = True) -> None:
        if name not in PANE_NAMES:
            return
        zoomed = self.maximized
        if zoomed is not None and zoomed is not self.query_one(f"#pane-{name}"):
            # Another pane zoomed would hide this one while it takes the keys: a ticket
            # opened by `b` out of sight took the next pane key as its quantity.
            self.minimize()
        previous, self.active = self.active, name
        self._mark_active(previous, name)
        if focus:
            self._focus_pane(name)

    def _mark_active(self, previous: str | None, name: str) -> None:
        """Which pane is active: its title lights up, and in the compact layout it is
        the one shown. The title's own text carries the colour: a style or class set on
        a pane restyles its whole subtree (the ticket's twenty widgets, ~12 ms a key)."""
        if self.compact:
            for pane in self.query(Pane):
                pane.set_class(pane.pane_name == name, "-shown")
            for tab in self.query(PaneTab):
                tab.set_class(tab.pane_name == name, "-active")
        accent = self.app.theme_variables.get("primary", "")
        for pane_name in {previous, name} - {None}:
            pane = self.query_one(f"#pane-{pane_name}", Pane)
            pane.mark_active(pane_name == name, accent)

    def _focus_pane(self, name: str) -> None:
        if name == "ticket":
            self.ticket.focus_first_empty()
            return
        targets: dict[str, type[Widget]] = {
            "watchlist": Watchlist,
            "blotter": Blotter,
            "positions": Positions,
            "balances": Balances,
            "log": EventLog,
            "signals": Signals,
        }
        target = targets.get(name)
        if target is not None:
            focus_now(self.query_one(target))
        elif name == "health":
            focus_now(self.query_one("#health-scroll"))
        else:
            self.set_focus(None)

    def toggle_zoom(self) -> None:
        """Zoom the active pane to the whole screen, or back."""
        if self.maximized is not None:
            self.minimize()
            return
        self.maximize(self.query_one(f"#pane-{self.active}"), container=False)

    def next_pane(self) -> None:
        index = PANE_NAMES.index(self.active)
        self.show_pane(PANE_NAMES[(index + 1) % len(PANE_NAMES)])

    @on(events.DescendantFocus)
    def _focused(self, event: events.DescendantFocus) -> None:
        node: Widget | None = event.widget
        while node is not None and not isinstance(node, Pane):
            parent = node.parent
            node = parent if isinstance(parent, Widget) else None
        if isinstance(node, Pane) and node.pane_name != self.active:
            self.show_pane(node.pane_name, focus=False)

    # -- drawing (called by the app's frame timer) -------------------------------------

    def restyle(self, palette: Palette) -> None:
        for widget in (
            self.watchlist,
            self.query_one(Blotter),
            self.query_one(Positions),
            self.query_one(Balances),
            self.query_one(Signals),
            self.query_one(HealthPane),
            self.query_one(EventLog),
            self.query_one(DeskHeader),
        ):
            widget.palette = palette
        now = self.desk.clock()
        self._mark_active(None, self.active)
        self.watchlist.restyle(self.desk.model.quotes, now)
        self.draw(force=True)

    def quotes_arrived(self) -> None:
        """The feed reader read quotes: they are drawn at Textual's next update of the
        screen (its own timer, `TEXTUAL_FPS`: 60 a second), not at the next frame of
        the desk (`ui.frame_rate`), which held a quote back up to a frame interval.
        The other panes keep to the frame timer. Any number of batches between two
        updates are drawn once, just before it (`_on_timer_update`)."""
        if self._quotes_waiting or not self.drawable or not self.is_current:
            return  # under a dialog the frame draws them (`draw`)
        self._quotes_waiting = True
        # The screen's update timer, at once: a refresh reaches it through four
        # messages (the widget's idle, an Update to the screen, the screen's idle),
        # each behind whatever else the loop has ready (the benchmark's quote p50 was
        # 31-34 ms through them, 16-26 ms since).
        self._update_timer.resume()

    def _on_timer_update(self) -> None:
        """Textual's screen update: the quotes that arrived since the last, then the
        update (which writes their changed characters with whatever else changed)."""
        if self._quotes_waiting:
            self._quotes_waiting = False
            self.draw_quotes()
            self._dirty_widgets.add(self.watchlist)  # its regions go in this update
        super()._on_timer_update()

    def draw_quotes(self) -> None:
        """The quotes' rows on screen that changed since they were last drawn."""
        if not self.drawable or not self.is_attached:
            return
        model = self.desk.model
        dirty = model.take_dirty_quotes()
        if dirty:
            self.watchlist.render_quotes(model.quotes, dirty, self.desk.clock())

    def draw(self, *, force: bool = False) -> None:
        """One frame: each pane gets what changed since the last (the projection's
        change set); a full redraw only when forced, on a view switch or new day."""
        if not self.drawable or not self.is_attached:
            return
        desk = self.desk
        model = desk.model
        view = desk.view
        now = desk.clock()
        second = int(now)
        new_second = second != self._second or force
        self._second = second

        dirty = model.take_dirty_quotes()
        if dirty or new_second or self.watchlist.shows_other_rows:
            self.watchlist.render_quotes(
                model.quotes, dirty, now, all_rows=force, recheck=new_second
            )

        changes = view.take()
        trading = view.trading_state
        self.set_class(trading is TradingState.HALTED, "-halted")
        if trading is not self._bar_state:
            # Out of ACTIVE, resume is the key the trader needs: it goes ahead of the
            # bar's other keys (the theme's at 80 columns); ACTIVE, it has nothing to do
            # and gives way to them (the theme's in the ticket at 80 columns).
            self._bar_state = trading
            bar = self.query_one(KeyBar)
            if trading is TradingState.ACTIVE:
                bar.set_precedence(spare=RESUME)
            else:
                bar.set_precedence(urgent=RESUME)
        self.query_one(DeskHeader).set_state(
            trading,
            now,
            live=desk.live,
            fill=model.recent_fills.line(now),
            bus_down=desk.bus_watch.lost,
        )

        blotter = self.query_one(Blotter)
        today = day_start(now) if new_second else self._day
        full = (
            force
            or changes.everything
            or changes.instruments
            or blotter.view_version != self._blotter_seen
            or today != self._day
        )
        self._blotter_seen = blotter.view_version
        self._day = today
        # Whose working orders' states the desk cannot know now (a broker DISCONNECTED,
        # not heard from): every row again when that changes, the bottom line with them.
        orders_full = full
        if full or changes.brokers:
            unknown = view.reports_unknown()
            if unknown != blotter.unknown:
                blotter.unknown = unknown
                orders_full = True
        # This desk's own events waiting in memory for Redis (never applied): the rows
        # they would change are marked, every row again when they change.
        unjournaled = view.waiting()
        waiting_moved = unjournaled is not blotter.waiting and unjournaled != blotter.waiting
        if waiting_moved:
            blotter.waiting = unjournaled
            orders_full = True
        orders_moved = orders_full or bool(changes.orders)
        if orders_moved:
            self._draw_orders(blotter, changes.orders, full=orders_full, now=now)

        positions = self.query_one(Positions)
        # Marks move with every quote: positions follow them once a second, and only
        # the rows of the instruments whose marks moved.
        self._marks_waiting |= changes.marks
        redraw = set(changes.positions)
        if self._marks_waiting and (new_second or force):
            waiting, self._marks_waiting = self._marks_waiting, set()
            redraw.update(k for k in view.positions if k[2] in waiting)
        if new_second:
            # A mark that no quote moved grows old: its age, once a second, as the
            # Quotes pane's (and the row of one fresh again that no mark moved).
            redraw |= positions.aging(view, model.quotes, now)
        if waiting_moved:
            positions.waiting = unjournaled
        if full or waiting_moved:
            positions.show(view, model.quotes, now)
        elif redraw or positions.shows_other_rows:
            positions.update(view, redraw, model.quotes, now)
        # The sum of what the rows show, set in the frame that drew them (a no-op when
        # unchanged); first, how many rows are behind the events waiting for Redis.
        totals = positions.totals_text()
        positions.owed_elsewhere = len(view.positions_owed())
        behind = positions.behind_text()
        pane = self.query_one("#pane-positions", Pane)
        if behind:
            pane.set_subtitle(f"{behind}; {totals}" if totals else behind, totals or behind)
        else:
            pane.set_subtitle(totals)

        # Balances move with every fill: at once, then at most once a second while fills
        # stream (the right column changing at every fill pulled the ticket's widgets
        # into every frame's render).
        balances = self.query_one(Balances)
        self._balances_waiting |= changes.balances
        if full or changes.brokers:
            unconfirmed = view.balances_unconfirmed()
            if unconfirmed != balances.unconfirmed:
                balances.unconfirmed = unconfirmed
                full_balances = True
            else:
                full_balances = full
        else:
            full_balances = False
        if waiting_moved:
            balances.waiting = unjournaled
            full_balances = True
        if full_balances:
            self._balances_waiting.clear()
            balances.show(view.balances)
        elif self._balances_waiting and now - self._balances_drawn_s >= 1.0:
            moved, self._balances_waiting = self._balances_waiting, set()
            self._balances_drawn_s = now
            balances.update(view.balances, moved)
        # The first of its forms that fits the edge, never cut (`bottom_forms`).
        self.query_one("#pane-balances", Pane).set_subtitle(*balances.bottom_forms())

        # The ticket's checks count working orders: run them when the counts move (not
        # on every fill), on a new state, and once a second for the market; and when a
        # fill moves the position its preview names (`pos 0->1` stood for up to a
        # second after a partial fill made it 0.5).
        counts = (len(self._today), len(self._working))
        if (
            counts != self._counts_checked
            or changes.trading_state
            or changes.brokers
            or new_second
            or self.ticket.previews_any(changes.positions)
        ):
            self._counts_checked = counts
            self.ticket.run_check()
        if full or changes.instruments:
            # Every one: an instrument re-read (its tick changed) replaces the old.
            self.watchlist.set_instruments(view.all_instruments())
            # Not with the watchlist's rows: those are also set as the session starts.
            if self.ticket.refresh_instruments():
                self.ticket.run_check()

        if new_second:  # columns a passing value pushed out come back once a second
            for table in (blotter, positions, balances, self.query_one(Signals)):
                table.refit()

        # Cheap to compute; the pane redraws only when its text would change.
        model.health_dirty = False
        self.query_one(HealthPane).show(
            *self.health_lines(now), trading, force=force, engine=engine_line(view.anomalies)
        )

        log = self.query_one(EventLog)
        log.sync(model.log_total, model.fills_total, force=force)
        self._name_log_tab(log.fills_only)
        signals = self.query_one(Signals)
        # Again at the day's change too: a signal of the day before then says its date.
        if model.signals_dirty or force or signals.day_passed(now):
            model.signals_dirty = False
            signals.show(model.signals, view.instruments_by_key, now)
        # Signals out of view, newer above or older below (a no-op when unchanged).
        self._subtitle("#pane-signals", signals.out_of_view())

    def _draw_orders(
        self, blotter: Blotter, changed: Iterable[str], *, full: bool, now: float
    ) -> None:
        """The Orders pane: every row on a full redraw, else only the changed orders'
        (a finished order leaves the working view; a new one joins at the end)."""
        view = self.desk.view
        instruments = view.instruments_by_key
        if full:
            self._today = {v.client_order_id: v for v in todays_orders(view.orders.values(), now)}
            self._working = {k for k, v in self._today.items() if not v.order.status.is_terminal}
            shown = (
                self._today.values()
                if blotter.show_all
                else [v for v in self._today.values() if not v.order.status.is_terminal]
            )
            blotter.show(shown, instruments, self.desk.model.sent)
        else:
            since = self._day
            draw: list[OrderView] = []
            gone: list[str] = []
            for coid in changed:
                order = view.order(coid)
                if order is None:  # evicted: a finished order beyond the window
                    self._today.pop(coid, None)
                    self._working.discard(coid)
                    gone.append(coid)
                    continue
                working = not order.order.status.is_terminal
                first = first_event_s(order)
                today = working or (first is not None and first >= since)
                if today:
                    self._today[coid] = order
                else:
                    self._today.pop(coid, None)
                if working:
                    self._working.add(coid)
                else:
                    self._working.discard(coid)
                if today and (working or blotter.show_all):
                    draw.append(order)
                else:
                    gone.append(coid)
            blotter.update(draw, gone, instruments, self.desk.model.sent)
        working_n, today_n = len(self._working), len(self._today)
        toggle = named_key(self, "blotter.all")
        # Longest first: where the edge is too short, the key's hint goes first (the
        # key bar names it too), then the day's count; the working count stays.
        if blotter.show_all:
            counts = f"all today: {today_n}, {working_n} working"
            titles = [f"{counts} ({toggle}: working)", counts]
        else:
            counts = f"{working_n} working of {today_n} today"
            titles = [f"{counts} ({toggle}: all)", counts, f"{working_n} working"]
        # First: the line is cut at the pane's width, and this matters more.
        forms = blotter.unknown_forms(self._today[c] for c in self._working)
        if forms:
            last = titles[-1]
            titles = [f"{forms[0]}; {title}" for title in titles]
            # Said in fewer words, each form, where the edge has no room for more: the
            # pane shows the first that fits (never cut: `Pane.set_subtitle`).
            titles += [f"{brief}; {last}" for brief in forms[1:]]
        self.query_one("#pane-blotter", Pane).set_subtitle(*titles)
        # One pane at a time has no borders: the pane bar says which view it is.
        tab = self.query_one("#tab-blotter", PaneTab)
        n = PANE_NAMES.index("blotter") + 1
        tab_text = f"{n} All orders" if blotter.show_all else f"{n} {PANE_LABELS['blotter']}"
        if str(tab.content) != tab_text:
            tab.update(tab_text)

    _log_tab_fills = False  # the pane bar's Log tab says fills only

    def _name_log_tab(self, fills_only: bool) -> None:
        """One pane at a time has no borders: the pane bar says the Log shows fills only
        (`7 Fills`), as it says which view the Orders pane shows."""
        if fills_only == self._log_tab_fills:
            return
        self._log_tab_fills = fills_only
        n = PANE_NAMES.index("log") + 1
        label = "Fills" if fills_only else PANE_LABELS["log"]
        self.query_one("#tab-log", PaneTab).update(f"{n} {label}")

    def _subtitle(self, selector: str, text: str) -> None:
        self.query_one(selector, Pane).set_subtitle(text)

    def health_lines(self, now: float) -> tuple[list[BrokerLine], BusLine]:
        from ..widgets.health import DeskBusLine, claims_line

        desk = self.desk
        model = desk.model
        view = desk.view
        # The brokers another desk took (this desk lost its claim): their health on
        # the bus is that desk's heartbeat, and the line says whose.
        lost = desk.session.claims.lost
        brokers = []
        for label in desk.accounts:
            name, _, account = label.partition("/")
            component = f"broker:{name}/{account}"
            line = broker_line(
                f"{name}/{account}",
                model.health.get(component),
                view.broker_state(name),
                model.md_last_ns.get(name),
                now,
                view.silent.get(name),
                crossed=model.crossed_from.get(name, 0),
            )
            if name in lost:
                line = dataclasses.replace(line, driven_by=lost[name].holder_name())
            brokers.append(line)
        session = desk.session
        stats = session.bus.stats
        # This desk's bus is its own: every desk on the prefix writes the health stream,
        # and the bus's health names the desk that wrote it (`Session.bus_desk`).
        own = session.bus_desk
        bus_health = model.bus_health(own)
        metrics = bus_health.metrics if bus_health else {}
        # A watching desk shows every desk's connections (their brokers, their buses);
        # a trading desk its own: another desk's bus trouble is that desk's (its toast
        # names it).
        others = (
            tuple(
                DeskBusLine(
                    other.desk_name,
                    other.state,
                    other.message,
                    float(max(0, int(now - other.ts_ms / 1000))),
                )
                for other in model.other_buses(own)
            )
            if session.watching
            else ()
        )
        claims = session.claims_health()

        def metric(key: str) -> int:
            value = metrics.get(key)
            return int(value) if isinstance(value, int | float) else 0

        bus = BusLine(
            backend=stats.backend,
            url=desk.session.bus_url,
            connected=stats.connected,
            # A key this desk's bus sets aside says DEGRADED whatever the last event
            # said: that event may be LIVE when the key is the health stream itself (the
            # bus's message saying so could not be written there).
            state=(
                ConnectionState.DEGRADED
                if stats.unreadable and not desk.session.watching
                else bus_health.state
                if bus_health
                else None
            ),
            events_per_s=model.rates.events_per_s,
            lag_ms=max(0.0, model.rates.lag_ms),
            decode_errors=max(stats.decode_errors + stats.unknown_events, model.decode_errors),
            restarts=max(stats.server_restarts, metric("server_restarts")),
            data_loss=max(stats.data_loss_detected, metric("data_loss_detected")),
            message=bus_health.message if bus_health else "",
            dead_lettered=max(stats.dead_lettered, metric("dead_lettered")),
            duplicates_skipped=max(stats.duplicates_skipped, metric("duplicates_skipped")),
            waiting=stats.exec_buffered,
            waiting_max=desk.session.bus.options.exec_buffer,
            not_shown=model.not_shown,
            not_shown_last=model.not_shown_last,
            # A trading desk reads its own keys: its bus knows what it sets aside now
            # (the last health event may name a key no reader holds aside any more). A
            # watching desk's bus writes no health: the driving desk's event says.
            unreadable=(
                stats.unreadable or str(metrics.get("unreadable") or "")
                if desk.session.watching
                else stats.unreadable
            ),
            error=stats.last_error,
            others=others,
            claims=claims_line(claims) if claims is not None else None,
        )
        return brokers, bus

    # -- actions bound in the panes ------------------------------------------------------

    def prefill_from_quote(self, side: Side) -> None:
        from ..orders import prefill_price  # (the engine: after the first frame)

        key = self.watchlist.selected_instrument()
        if key is None:
            self.notify("no quote selected", severity="warning")
            return
        state = self.desk.model.quotes.get(key)
        price: Decimal | None = None
        if state is not None:
            price = prefill_price(
                state.quote.ask if side is Side.BUY else state.quote.bid,
                self.watchlist.instruments.get(key),
            )
        self.ticket.prefill(instrument=key, side=side, price=price, account=self._account_for(key))
        self.show_pane("ticket", focus=False)
        self.ticket.focus_first_empty()

    def _account_for(self, instrument: str) -> str | None:
        """The account a ticket on `instrument` goes to: the first of the desk's accounts
        (in the configured order) whose broker lists it, so that two brokers listing one
        key (a paper broker on Binance prices beside Binance) always give the same one,
        whichever listed first. None when no broker lists it (yet): the ticket then takes
        the desk's first account, never the previous ticket's."""
        listing = {b for b, found in self.desk.view.instruments.items() if instrument in found}
        for account in self.desk.accounts:
            if account.partition("/")[0] in listing:
                return account
        return None

    def action_to_ticket(self) -> None:
        self.prefill_from_quote(Side.BUY)

    def action_close_position(self) -> None:
        from ..orders import prefill_price  # (the engine: after the first frame)

        desk = self.desk.view
        state = self.query_one(Positions).selected_position(desk)
        if state is None or state.quantity == 0:
            self.notify("no open position selected", severity="warning")
            return
        from ...events.summary import qty_text
        from ..format import num
        from ..orders import closing

        side = Side.SELL if state.quantity > 0 else Side.BUY
        inst = desk.instruments_by_key.get(state.instrument)
        close = closing(state.quantity, inst)
        if not close.quantity:
            self.notify(
                f"{state.instrument}: position {qty_text(state.quantity)} is less than one lot "
                f"({num(inst.lot_size) if inst else '-'}): nothing can be sent to close it",
                severity="warning",
            )
            return
        quote = self.desk.model.quotes.get(state.instrument)
        price = None
        if quote is not None:
            price = prefill_price(
                quote.quote.bid if side is Side.SELL else quote.quote.ask,
                self.watchlist.instruments.get(state.instrument),
            )
        self.ticket.prefill(
            instrument=state.instrument,
            side=side,
            quantity=close.quantity,
            price=price or desk.last_price(state.instrument),
            account=f"{state.broker}/{state.account}",
            tag="close",
            note=close.note(inst),
            # Only ever reducing: a fill before F9 (part of the position sold elsewhere)
            # is refused at the ticket, naming the quantity, not sent as a new short.
            reduce_only=True,
        )
        self.show_pane("ticket", focus=False)
        self.ticket.focus_first_empty()

    def action_signal_ticket(self) -> None:
        from ..widgets.signals import ticket_note

        signals = self.query_one(Signals)
        row = signals.selected_signal()
        if row is None:
            if signals.cursor_lost:  # the one chosen left the list: never its neighbour
                self.notify(
                    "the signal selected left the list: select one again", severity="warning"
                )
            else:
                self.notify("no signal selected", severity="warning")
            return
        s = row.signal
        # Older than a minute: its age beside Send, in the warning colour (its price
        # and size are of then; a signal of the day before said nothing of it), said
        # again as it ages while the ticket is open (`signal=`).
        note, old = ticket_note(row, self.desk.clock())
        self.ticket.prefill(
            instrument=s.instrument,
            side=s.side,
            quantity=s.quantity,
            price=s.price,
            order_type=s.order_type,
            account=self._account_for(s.instrument),
            tag=f"signal:{s.strategy}"[:36],
            note=note,
            note_style="warn" if old else "muted",
            signal=row,
        )
        self.show_pane("ticket", focus=False)
        self.ticket.focus_first_empty()

    def _selected_view(self) -> OrderView | None:
        blotter = self.query_one(Blotter)
        coid = blotter.selected_order()
        view = self.desk.view.order(coid) if coid else None
        if view is None:
            what = "order" if blotter.show_all else "working order"
            if blotter.cursor_lost:  # the one chosen finished: never its neighbour
                # Named, with what became of it: the cursor follows each order sent,
                # and an IOC that filled at once left "the working order selected
                # left the list" with no row marked and none the trader had chosen.
                lost = blotter.lost_key
                gone = self.desk.view.order(lost) if lost else None
                which = (
                    f", {short_id(lost)} ({gone.order.status}),"
                    if gone is not None
                    else f", {short_id(lost)},"
                    if lost
                    else ""
                )
                self.notify(
                    f"the {what} selected{which} left the list: select one again",
                    severity="warning",
                )
            else:
                self.notify(f"no {what} selected", severity="warning")
        return view

    def _finished(self, view: OrderView, what: str) -> bool:
        """Whether the order is finished (the All-orders view lists those too): then
        there is nothing to cancel or change, it is said, and nothing is sent."""
        status = view.order.status
        if not status.is_terminal:
            return False
        self.notify(
            f"order {short_id(view.client_order_id)} is {status}: nothing to {what}",
            title=f"{what.capitalize()} refused",
            severity="warning",
        )
        return True

    def _change_unsettled(self, view: OrderView) -> str:
        """Why the order cannot be changed now ("" when it can): its last change's outcome
        is not known (sent while the bus is down, the row `mod…`; a venue that did not
        answer it in time, the row `NEW?`). The dialog would open at the terms before that
        change, and a field left as it opened is not sent: a new quantity alone went out
        at the venue's newer price, the dialog having shown the old (a review)."""
        short = short_id(view.client_order_id)
        if self.desk.modifies_sent.pending(view):
            return (
                f"order {short} was changed while the bus is down and the journal does not "
                "show that change yet (its row reads mod…, at the terms before it): nothing "
                "sent. Change it again once the journal shows it, or cancel it"
            )
        projection = self.desk.projection
        if projection is not None and projection.modify_unanswered(
            view.broker, view.client_order_id
        ):
            return (
                f"order {short}: {view.broker} has not answered its last change yet and may "
                "still take it (its row reads ?): nothing sent. Change it again once the "
                "answer shows, or cancel it"
            )
        return ""

    def action_cancel_order(self) -> None:
        view = self._selected_view()
        if view is None or self._finished(view, "cancel"):
            return
        coid = view.client_order_id

        async def cancel() -> None:
            outcome = await self.desk.send(CancelOrder(client_order_id=coid))
            if isinstance(outcome, Refused):
                # An order's own state names the order already.
                said = (
                    outcome.reason
                    if outcome.source == "order"
                    else failed_text(outcome.reason, coid, "cancel")
                )
                self.notify(said, title="Cancel refused", severity="error")
            elif isinstance(outcome, Failed) and outcome.error_kind == "CancelTooLate":
                # The order ended first (a fill crossed the cancel): not a fault, and the
                # order's end is on its way to the Orders pane.
                said = too_late_text(outcome.error, coid, "cancel")
                self.notify(said, title="Cancel came too late", severity="warning")
            elif isinstance(outcome, Failed) and outcome.error_kind == "BrokerTimeout":
                # Sent, and no answer yet (TWS silent, or a cancel from elsewhere
                # pending at IB): not a refusal, the order ends as the venue ends it and
                # the Orders pane follows. It read as a red "Cancel failed".
                said = failed_text(outcome.error, coid, "cancel")
                self.notify(said, title="Cancel sent, no answer yet", severity="warning")
            elif isinstance(outcome, Failed) and outcome.error_kind == "CancelHeld":
                # Binance's 429 holds it: owed, it goes out by itself once the
                # Retry-After is over (its words say when). Titled "Cancel failed", a
                # trader cancelled again, or went to the venue.
                said = failed_text(outcome.error, coid, "cancel")
                self.notify(said, title=CANCEL_HELD_TITLE, severity="warning")
            elif isinstance(outcome, Failed):
                said = failed_text(outcome.error, coid, "cancel")
                self.notify(said, title="Cancel failed", severity="error")

        self.run_worker(cancel(), group="orders", exit_on_error=False)

    def action_modify_order(self) -> None:
        from .modify import Change, ModifyScreen

        view = self._selected_view()
        if view is None or self._finished(view, "modify"):
            return
        if self.desk.watching:  # said before anything is typed that could not go
            self.notify(f"{self.desk.session.not_ready}.", title="Modify refused", severity="error")
            return
        unsettled = self._change_unsettled(view)
        if unsettled:
            self.notify(unsettled, title="Modify refused", severity="error")
            return
        instrument = self.desk.view.instrument(view.broker, view.order.request.instrument)
        coid = view.client_order_id

        def done(change: Change | None) -> None:
            if change is None:
                return

            async def modify() -> None:
                outcome = await self.desk.send(
                    ModifyOrder(
                        client_order_id=coid,
                        quantity=change.quantity,
                        limit_price=change.limit_price,
                        stop_price=change.stop_price,
                    )
                )
                if isinstance(outcome, Refused):
                    title = (
                        "Modify refused by risk" if outcome.source == "risk" else "Modify refused"
                    )
                    self.notify(outcome.reason, title=title, severity="error")
                elif isinstance(outcome, Failed) and outcome.error_kind == "ModifyTooLate":
                    # The order ended first (a fill crossed the change): not a fault.
                    said = too_late_text(outcome.error, coid, "modify")
                    self.notify(said, title="Modify came too late", severity="warning")
                elif isinstance(outcome, Failed) and outcome.error_kind == "BrokerTimeout":
                    # Sent, and no answer: the venue may still take it. Never "failed":
                    # a trader who believes it changes the order again. A warning, as the
                    # cancel's: red is a refusal's or a failure's colour.
                    said = failed_text(outcome.error, coid, "modify")
                    self.notify(said, title="Modify sent, no answer yet", severity="warning")
                elif isinstance(outcome, Failed) and outcome.error_kind == "SendRefused":
                    # Held back by this desk (HALTED, or its claim lapsed, while the
                    # change's journal writes waited): nothing went to the venue.
                    said = failed_text(outcome.error, coid, "modify")
                    self.notify(said, title="Modify not sent", severity="error")
                elif isinstance(outcome, Failed):
                    said = failed_text(outcome.error, coid, "modify")
                    self.notify(said, title="Modify failed", severity="error")

            self.run_worker(modify(), group="orders", exit_on_error=False)

        self.app.push_screen(
            ModifyScreen(
                view,
                instrument,
                risk=self.desk.ticket_context.risk_check,
                lookup=self.desk.view.order,
                cursor_blink=self.desk.cursor_blink,
                confirm_notional=self.desk.ui.confirm_notional,
                desk=self.desk,
            ),
            callback=done,
        )

    def action_order_history(self) -> None:
        from .history import OrderHistoryScreen

        view = self._selected_view()
        if view is not None:
            instrument = self.desk.view.instrument(view.broker, view.order.request.instrument)
            loader = self.desk.history_loader(view.client_order_id)
            self.app.push_screen(
                OrderHistoryScreen(
                    view,
                    instrument,
                    loader,
                    lookup=self.desk.view.order,
                    unjournaled=self.desk.unjournaled_of,
                )
            )
