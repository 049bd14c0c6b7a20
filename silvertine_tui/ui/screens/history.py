"""An order's audit trail: every event the OMS applied to it, oldest first.

A finished order's events may have left memory (the window of finished orders, or an
order loaded from a snapshot): they are then read back from the journal by a worker
(the loop keeps running), with "loading" and the entries read meanwhile, and a clear
message if the journal cannot be read or holds none of them.

While it is open the view follows the order, as the modify dialog does: at each frame
of the desk, and only when the order moved, the title (status, filled, average) and the
venue ids and fees are the order's now, and each new event is a line at the bottom. It
was drawn once: an order cancelled or filled meanwhile still read NEW, filled 0, with
no line of it. The events are drawn in parts of `PART_EVENTS`, and a new event draws
its part only (a Rich table of 200 events takes about 0.2 s to draw: a filling order's
whole history drawn again at every fill would hold the desk). The view stays where the
trader scrolled it, and at the bottom it follows the new lines.

A fill's line is timed at its execution, as the venue gave it (`line_times`), not at
when the desk journaled it: one found on a reconnect read at the reconnect. Heard a
second or more apart, its line ends saying when (`, heard 14:30:04`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import cast

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.widgets import Static

from ...domain import Instrument
from ...engine.order_history import first_events_trimmed
from ...engine.projection import OrderView
from ...events import Decoded, EventBase, FillEvent
from ...events.summary import Describer, avg_text, fee_text, qty_text
from ..desk import HistoryLoader
from ..fill_times import line_times
from ..format import cut, shown
from ..keymap import bindings, named_key
from ..widgets.blotter import order_qty_text
from .dialog import Dialog

PART_EVENTS = 20
"""Events in one part of the history's table: a new event draws its part again, never
the parts before it."""

Row = tuple[Text, Text, Text]


def title_text(view: OrderView, instrument: Instrument | None, *, stand_in: bool = False) -> str:
    """`Order history - <id>  BUY 0.1 ETHUSDT.PAPER LIMIT GTC  NEW  filled 0 avg -`.

    `stand_in`: the order was rebuilt from what the journal's trim left of its events
    (`order_from_events`), on a stand-in of its request: its terms are not known, and
    only its fills' side and instrument are said (`BUY ETHUSDT.PAPER  FILLED ...`)."""
    order = view.order
    request = order.request
    filled = (
        f"  {order.status}  filled {qty_text(order.filled_qty, instrument)}"
        f" avg {avg_text(order.avg_price, instrument)}"
    )
    if stand_in:
        fill = next((e.payload for e in view.history if isinstance(e, FillEvent)), None)
        what = f"  {fill.side} {fill.instrument}" if fill is not None else ""
        return shown(cut(f"Order history - {order.client_order_id}{what}{filled}"))
    head = (
        f"{order.client_order_id}  {request.side} {order_qty_text(order, instrument)}"
        f" {request.instrument} {request.order_type} {request.tif}{filled}"
    )
    return shown(cut(f"Order history - {head}"))


TRIMMED_TEXT = (
    "its first events (its request among them) were trimmed from the journal by its "
    "retention: what is left of them is shown"
)


def ids_text(view: OrderView, instrument: Instrument | None) -> str:
    """The venue's ids of the order and its fees per currency ("" while it has none)."""
    order = view.order
    venue = ""
    if order.venue_order_id:
        venue = f"venue id {order.venue_order_id}"
        if order.retired_venue_ids:
            venue += f" (before: {', '.join(sorted(order.retired_venue_ids))})"
    fees = ", ".join(
        f"{fee_text(amount, currency, instrument)} {currency}".rstrip()
        for currency, amount in sorted(order.fees.items())
    )
    ids = "  ".join(part for part in (venue, f"fees {fees}" if fees else "") if part)
    return shown(cut(ids))


def _progress(view: OrderView) -> tuple[object, ...]:
    """What the view shows of the order that may change while it is open: every event
    applied to it is appended to its history (a dropped history is a new list)."""
    order = view.order
    return (
        id(view),
        id(view.history),
        len(view.history),
        order.status,
        order.filled_qty,
        order.venue_order_id,
    )


class OrderHistoryScreen(Dialog[None]):
    BINDINGS = bindings("view")

    def __init__(
        self,
        view: OrderView,
        instrument: Instrument | None = None,
        loader: HistoryLoader | None = None,
        *,
        lookup: Callable[[str], OrderView | None] | None = None,
        unjournaled: Callable[[OrderView], str] | None = None,
    ) -> None:
        """`lookup`: the order as the desk holds it now (`DeskProjection.order`),
        followed while the view is open (`follow_desk`), as the modify dialog's;
        `unjournaled`: what this desk sent of the order that the journal does not show
        yet ("" when nothing: `Desk.unjournaled_of`), said above the events."""
        super().__init__()
        self.unjournaled = unjournaled
        self._unjournaled_said = unjournaled(view) if unjournaled is not None else ""
        self.view = view
        self.instrument = instrument
        self.loader = loader
        self.lookup = lookup
        self.events: list[EventBase] | None = None
        """What the table shows (None while it loads or when it could not)."""
        coid = view.client_order_id
        self.stand_in = loader is None and first_events_trimmed(coid, view.history)
        """The order was rebuilt from what the journal's trim left of its events: its
        request is a stand-in (`order_from_events`), its terms are not shown."""
        self.trimmed = self.stand_in
        """The journal's retention trimmed the order's first events (said above them)."""
        self._shown = _progress(view)
        self._rows: list[Row] = []
        self._drawn: set[str] = set()  # the ids of the events drawn
        self._type_width = 0
        request = view.order.request
        inst = instrument

        def instruments(key: str) -> Instrument | None:
            return inst if inst is not None and key == inst.key else None

        # One describer over the order's events, oldest first, kept for the events that
        # come while the view is open: each line shows the terms in force at its event
        # (every accepted modify before it folded in), as the Log pane and `silvertine
        # replay` do. Its request, if the events begin after it (adopted, or trimmed
        # from the journal), is the order's first terms.
        self._describe = Describer(instruments, lambda _coid: None if self.stand_in else request)
        if loader is None:
            self.events = []
            self._add_rows(view.history)

    def compose_dialog(self) -> ComposeResult:
        ids = ids_text(self.view, self.instrument)
        with Vertical(id="dialog", classes="-wide"):
            yield Static(self._title(self.view), id="dialog-title", markup=False)
            # Always there, shown while the order has ids or fees (a fill brings fees).
            yield Static(ids, id="history-ids", markup=False).set_styles(
                "display: block;" if ids else "display: none;"
            )
            if self.view.adopted:
                yield Static("adopted from the venue on reconcile", markup=False)
            # Shown once the events read back turn out to lack their start.
            yield Static(TRIMMED_TEXT, id="history-trimmed", markup=False).set_styles(
                "display: block;" if self.trimmed else "display: none;"
            )
            said = self._unjournaled_said
            yield Static(said, id="history-unjournaled", markup=False).set_styles(
                "display: block;" if said else "display: none;"
            )
            with VerticalScroll(id="history-body"):
                if self.events is not None:
                    yield Static(self._part(0), id="history-events")
                    for n in range(1, self._parts_needed()):
                        yield Static(self._part(n), classes="history-part")
                else:
                    yield Static(
                        "loading the order's events from the journal...",
                        id="history-events",
                        markup=False,
                    )
            yield Static(f"{named_key(self, 'view.close')}: close", id="dialog-hint", markup=False)

    def on_mount(self) -> None:
        if self.loader is not None:
            self.run_worker(self._load(self.loader), exclusive=True, exit_on_error=False)

    async def _load(self, loader: HistoryLoader) -> None:
        body = self.query_one("#history-events", Static)

        def progress(read: int, total: int) -> None:
            of = f" of {total:,}" if total else ""
            body.update(f"loading the order's events from the journal: {read:,}{of} entries read")

        try:
            events = await loader(progress)
        except Exception as exc:
            body.update(
                Text(
                    "could not read this order's history from the journal "
                    f"({type(exc).__name__}: {exc}); its state above is current",
                    style="bold",
                )
            )
            return
        if not events:
            body.update(
                "the journal holds no events for this order any more "
                "(trimmed by its retention, or another journal)"
            )
            return
        if first_events_trimmed(self.view.client_order_id, events):
            self.trimmed = True
            self.query_one("#history-trimmed", Static).display = True
        self.events = []
        self._add_rows(events)
        # Events that came while it loaded (a fill after the order's end), once each.
        self._add_rows(e for e in self.view.history if e.event_id not in self._drawn)
        self._draw_from(0)

    # -- following the order ---------------------------------------------------------

    def follow_desk(self) -> None:
        """After each frame of the desk: the order as it is now, drawn only when it
        moved."""
        if not self.is_mounted:
            return
        coid = self.view.client_order_id
        view = (self.lookup(coid) if self.lookup else None) or self.view
        self._say_unjournaled(view)
        progress = _progress(view)
        if progress == self._shown:
            return
        self._shown, self.view = progress, view
        self.query_one("#dialog-title", Static).update(self._title(view))
        ids = ids_text(view, self.instrument)
        line = self.query_one("#history-ids", Static)
        line.update(ids)
        line.display = bool(ids)
        if self.events is None:
            return  # loading (its events come with it), or it could not
        new = [event for event in view.history if event.event_id not in self._drawn]
        if not new:
            return
        body = self.query_one("#history-body", VerticalScroll)
        at_end = body.scroll_offset.y >= body.max_scroll_y
        first, width = len(self._rows), self._type_width
        self._add_rows(new)
        # A wider event type widens its column in every part (all drawn again, rare).
        self._draw_from(first if self._type_width == width else 0)
        if at_end:  # at the bottom (or all of it in view): the new lines come into view
            body.scroll_end(animate=False, x_axis=False)

    def _say_unjournaled(self, view: OrderView) -> None:
        """What this desk sent of the order that the journal does not show yet (a
        cancel or change made while the bus is down): the history is the journal's, and
        it showed no line of it, as if nothing had been sent."""
        if self.unjournaled is None:
            return
        said = self.unjournaled(view)
        if said == self._unjournaled_said:
            return
        self._unjournaled_said = said
        line = self.query_one("#history-unjournaled", Static)
        line.update(said)
        line.display = bool(said)

    def _title(self, view: OrderView) -> str:
        return title_text(view, self.instrument, stand_in=self.stand_in)

    # -- the table --------------------------------------------------------------------

    def _add_rows(self, events: Iterable[EventBase]) -> None:
        """Each event's line, described in order, after those drawn (`events` too)."""
        describe = self._describe
        shown_events = self.events
        assert shown_events is not None  # set before the first event is added
        for event in events:
            self._drawn.add(event.event_id)
            self._type_width = max(self._type_width, len(event.type))
            at, heard = line_times(event)
            # A venue's words, cut as the Log pane cuts them: a reason of 2M characters
            # froze the desk 11 s while the table was drawn.
            said = Text(shown(cut(describe(cast("Decoded", event)))))
            if heard:
                said.append(f", heard {heard}", style="dim")
            self._rows.append((Text(at), Text(event.type, style="bold"), said))
            shown_events.append(event)

    def _parts_needed(self) -> int:
        return max(1, -(-len(self._rows) // PART_EVENTS))

    def _part(self, n: int) -> Table:
        return self._table(self._rows[n * PART_EVENTS : (n + 1) * PART_EVENTS])

    def _table(self, rows: Sequence[Row]) -> Table:
        # The type's column as wide in every part (its widest event type), so the parts
        # read as one table.
        table = Table.grid(padding=(0, 1))
        table.add_column(no_wrap=True)
        table.add_column(no_wrap=True, min_width=self._type_width)
        table.add_column()
        for row in rows:
            table.add_row(*row)
        return table

    def _draw_from(self, row: int) -> None:
        """Draw the parts from the one holding `row` on (the ones before it are as
        they were)."""
        body = self.query_one("#history-body", VerticalScroll)
        parts = list(body.query(Static))
        for n in range(row // PART_EVENTS, self._parts_needed()):
            if n < len(parts):
                parts[n].update(self._part(n))
            else:
                body.mount(Static(self._part(n), classes="history-part"))

    def action_close(self) -> None:
        self.dismiss(None)
