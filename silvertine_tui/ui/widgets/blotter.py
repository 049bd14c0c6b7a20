"""Orders: the working ones, or all of today's (`a` toggles). Rows are keyed by client
order id and updated cell by cell.

"Today" is every order whose first event is since local midnight by the desk clock,
plus any order still working from before (a GTC order from yesterday still matters).

Rows are in the order the orders came, oldest first (a new row is appended: nothing
above it moves or is drawn again). An order this desk sends joins at the end, below
the fold once the pane is full: the cursor follows it there (and the pane scrolls to
it) so that the order just sent is in view and selected (`c` cancels it), unless the
trader moved the cursor (a key or a click): it then stays where they put it, until
`end` takes it to the newest row (following again) or `a` changes the view.

A working order of a broker the desk cannot hear now (DISCONNECTED, reconnecting, its
order link down, or on a watching desk not heard from: the projection's
`reports_unknown`, which the Balances pane's mark follows too) may
have filled or ended meanwhile with no word of it: its status is marked (`NEW?`) in
the warning colour, and the pane's bottom line says whose orders' states are unknown.

While Redis is out of reach this desk's own execution events wait in its bus's memory
(`DeskProjection.waiting`, never applied: the pane is drawn from the journal). A working
order a waiting event concerns reads `NEW?` in the warning colour, and `NEW? fill
waiting` when a fill of it waits (the venue filled it; the journal has not taken the
fill); one whose cancel this desk sent reads `NEW cxl…` (below) unless a fill of it
waits too; the bottom line counts them per account, `4 events of paper/main wait for Redis:
rows may be behind`, with the orders it cannot list yet (sent meanwhile: `1 order not
in Orders yet`). A resting sell filled during an outage read plain `NEW` for as long as
Redis was down, while the quit dialog counted its fill.

A working order this desk cancelled whose cancel the journal has not shown yet (the
bus down: the venue's answer waits in memory; `CancelsSent`) reads `NEW cxl…`, in the
warning colour and italic (not the journal's word), and the bottom line counts them,
until the journal's PENDING_CANCEL or the order's end arrives. One this desk changed
(a modify the gateway accepted, `ModifiesSent`) reads `NEW mod…` the same way, at the
terms the journal last showed, until the journal says anything of it after the change
(its new terms, or the venue's refusal); a cancel sent after it reads `cxl…`. A modify
sent with Redis down read `NEW?` at the old price with nothing said.

A stop whose trigger the venue reported (`Order.triggered`) says so in its Stop cell,
`64,000.00 trg`, dimmed: it waits for nothing any more (a STOP_LIMIT works as a limit at
its price) and its stop cannot change. A triggered STOP_LIMIT read `BUY 0.1 64,900.00
64,000.00 NEW` as it had while waiting, with the ask at 65,000.

A take-profit's stop (TAKE_PROFIT, TAKE_PROFIT_LIMIT: it triggers the other way round,
a buy as the price falls to it) says so in its Stop cell, `3,400.00 tp`, until it
triggers. The Type column is among the first to give way (at 120x36 beside any stop,
one pane at a time at 80x24): a buy take-profit-limit read `BUY 0.01 3,410.00 3,400.00
NEW`, as a buy stop-limit does, which triggers as the price rises.

An order the venue holds without working it now (`Order.inactive`: TWS's status
Inactive, outside its hours, held, or refused by a later check; it stays open, can work
again, fill, or be cancelled) reads `INACTIVE` in its Status cell, in the warning
colour, until the venue works it again (then `NEW` or `PARTIALLY_FILLED` as before; its
fill so far is in Filled). It read plain `NEW`, the Log alone saying "inactive at IB",
and a trader believed it worked. Our own cancel or modify under way (PENDING_*) reads as
such.

A working order whose modify the venue did not answer in time and may still take (IB:
TWS, asked after the wait, reports it at its terms before the modify;
`DeskProjection.modify_unanswered`, from the broker's health) reads `NEW?` in the
warning colour at the terms the venue last reported, and the bottom line says how many
per account (`ib/DU123456: 1 modify not answered yet`), until the venue answers (the
new terms, or its refusal: the row as the order works, unmarked). It read plain `NEW`
at the old price, as if the change had been refused or never sent, while a cancel whose
answer is late reads `PENDING_CANCEL?` (its broker's link DEGRADED: the `?` above).

An order the venue filled past its size (an overfill: `Order.overfill`, fills the order
does not count, which the position took) shows every fill the venue reported: Filled
`0.05 over` and their average in Avg fill, in the error colour. It read `-` `-` while
the Log said "filled 0.05" and the position held 0.05.

A reduce-only order says so in its Side cell, `SELL ro`, in the side's colour: it only
ever reduces the position (the venue, or the engine, cuts or cancels what would take
it through zero). The Log and the order's history said `reduce-only`; the row did not,
and a close resting beside a plain sell of the same size read the same.

While the Filled column is not shown (the pane too narrow for it: one pane at a time
at 80x24 with a Binance symbol beside a stop, or `SELL ro`; a stop beside it at
120x36), a partly filled order says how much has filled in its Status cell: `PART
0.005` for `PARTIALLY_FILLED`. Its row read `BTCUSDT.BINANCE BUY 0.015 64,000.00
PARTIALLY_FILLED` and nothing on the desk but the modify dialog and the history said
how much of it had filled. The cell is kept as wide as `PARTIALLY_FILLED` (padded), so
the columns shown are the ones the long word has: a narrower Status would bring the
Filled column back, and with it the long word, which pushes it out again. Where the
Filled column is shown the row reads as before. The rows are drawn again
(`view_version`) whenever the Filled column comes or goes.

The same holds for the other rows with a fill the Status word alone does not say: an
order the venue holds with part of it filled reads `INACTIVE fill 0.007`, and one that
ended with part of it filled (cancelled, expired) reads `CANCELED fill 0.007` (the All
view). They read `INACTIVE` and `CANCELED` with nothing filled on the line, as if
nothing had: one pane at a time (80x24) on Binance beside a stop and a partly filled
order, which keep the Filled column out. (`fill`: the figure is what filled, never
what was cancelled.) Wider than the word alone they need no padding: the Filled
column, kept out with the word, stays out with the fill.
"""

from __future__ import annotations

from collections.abc import Container, Iterable, Mapping
from datetime import datetime

from rich.cells import cell_len
from rich.style import Style

from ...domain import Instrument, Order, OrderStatus, OrderType, Side
from ...engine.projection import DeskProjection, OrderView, OrderWaits, Waiting
from ...events.summary import avg_text, price_text, qty_text
from ..cancels_sent import CancelsSent, ModifiesSent
from ..format import DASH, short_id
from ..keymap import bindings
from .columns import column_index
from .palette import DEFAULT_PALETTE, Palette
from .table import Cell, Column, KeyedTable

ITALIC = Style(italic=True)
_PENDING = (OrderStatus.PENDING_NEW, OrderStatus.PENDING_CANCEL, OrderStatus.PENDING_REPLACE)

UNKNOWN_MARK = "?"
"""After the status of a working order whose broker the desk cannot hear now."""
FILL_WAITING_MARK = " fill waiting"
"""After the status (and its `?`) of a working order a fill of which waits in this
desk's memory for Redis (`Waiting`): the venue filled it, the journal does not show it."""
CANCEL_SENT_MARK = " cxl…"
"""After the status of an order whose cancel this desk sent, the journal not yet
showing it (`CancelsSent`)."""
MODIFY_SENT_MARK = " mod…"
"""After the status of an order whose change this desk sent, the journal not yet
showing it (`ModifiesSent`)."""

INACTIVE_TEXT = "INACTIVE"
"""The status of a working order the venue holds without working it (`Order.inactive`).
No wider than PARTIALLY_FILLED: it crowds out no more columns than a partly filled
order's row does (at most the Id at 80x24, a limit order's empty Stop at 120x36)."""
_HELD_SHOWN = (OrderStatus.NEW, OrderStatus.PARTIALLY_FILLED)

PART_TEXT = "PART"
"""A partly filled order's status, before its fill so far, while the Filled column is
not shown (`Blotter.status_text`)."""

FILL_TEXT = "fill"
"""Between the status and the fill so far of a held (`INACTIVE`) or ended order that
filled in part, while the Filled column is not shown: `CANCELED fill 0.007`."""

TRIGGERED_MARK = " trg"
"""After the stop price of an order whose stop has triggered (`Order.triggered`)."""

TAKE_PROFIT_MARK = " tp"
"""After the stop price of a take-profit (TAKE_PROFIT, TAKE_PROFIT_LIMIT) not triggered
yet: its trigger is the other way round from a stop's (`OrderType.triggers_rising`)."""

_TAKE_PROFITS = (OrderType.TAKE_PROFIT, OrderType.TAKE_PROFIT_LIMIT)

OVERFILL_MARK = " over"
"""After the filled quantity of an order the venue filled past its size
(`Order.overfill`): the quantity is every fill the venue reported."""

REDUCE_ONLY_MARK = " ro"
"""After the side of a reduce-only order (`OrderRequest.reduce_only`)."""

NOT_HEARD = "not heard from"
"""A broker with no status on the desk (no health event of it read yet)."""

BRIEF_TIERS = 6
"""The shorter forms of the Orders pane's bottom line (`Blotter.unknown_forms`), each in
fewer words than the one before: as the edge said it before, the waiting accounts in
fewer words, every part in its fewest, each account named once, then each account's
orders not known in one count, in two words and in one (`Blotter._unknown_said`)."""


def day_start(now_s: float) -> float:
    """Local midnight of the day `now_s` falls in, as epoch seconds."""
    local = datetime.fromtimestamp(now_s).astimezone()
    return local.replace(hour=0, minute=0, second=0, microsecond=0).timestamp()


def first_event_s(view: OrderView) -> float | None:
    return view.created_ns / 1e9 if view.created_ns else None


def todays_orders(views: Iterable[OrderView], now_s: float) -> list[OrderView]:
    """Orders first seen since local midnight, and orders still working; oldest first."""
    since = day_start(now_s)
    out = []
    for view in views:
        first = first_event_s(view)
        if not view.order.status.is_terminal or (first is not None and first >= since):
            out.append(view)
    return sorted(out, key=lambda v: first_event_s(v) or 0.0)


class Blotter(KeyedTable):
    BINDINGS = bindings("blotter")
    COLUMNS = (
        Column("id", "Id", priority=4),
        Column("symbol", "Symbol"),
        Column("side", "Side"),
        Column("qty", "Qty", right=True),
        Column("price", "Price", right=True),
        Column("stop", "Stop", right=True, priority=5),
        Column("status", "Status"),
        Column("filled", "Filled", right=True, priority=1),
        Column("avg", "Avg fill", right=True, priority=2),
        Column("type", "Type", priority=3),
        Column("tif", "TIF", priority=6),
        Column("account", "Account", priority=7),
    )

    STOP = column_index(COLUMNS, "stop")
    FILLED = column_index(COLUMNS, "filled")
    STOP_RAISED = 0.5
    """The Stop column's priority while a row has a stop price: before Filled.
    Dropped at 120x36 with the others, a working stop-limit buy read `BUY 0.01
    65,600.00 NEW` with the market at 64,990: a limit buy above the market that does
    not fill, its trigger nowhere on the desk."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.palette: Palette = DEFAULT_PALETTE
        self.show_all = False
        self.view_version = 0
        self.following = True
        """The cursor goes to each order this desk sends (see the module docstring)."""
        self.unknown: dict[str, str] = {}
        """`order_states_unknown` as the rows were drawn with it (the screen sets it)."""
        self.cancels_sent = CancelsSent()
        """The desk's (`on_mount`): the orders whose cancel the journal has not shown."""
        self.modifies_sent = ModifiesSent()
        """The desk's (`on_mount`): the orders whose change the journal has not shown."""
        self.waiting = Waiting()
        """`DeskProjection.waiting` as the rows were drawn with it (the screen sets it):
        this desk's events waiting for Redis, which the rows are behind."""
        self.projection: DeskProjection | None = None
        """The desk's (`on_mount`): which orders' modifies the venue has not answered
        (`DeskProjection.modify_unanswered`); their rows are drawn again when that
        changes (the projection's change set names them)."""

    def on_mount(self) -> None:
        desk = getattr(self.screen, "desk", None)
        sent = getattr(desk, "cancels_sent", None)
        if isinstance(sent, CancelsSent):
            self.cancels_sent = sent
            sent.listeners.append(self._cancel_marked)
        changed = getattr(desk, "modifies_sent", None)
        if isinstance(changed, ModifiesSent):
            self.modifies_sent = changed
            changed.listeners.append(self._cancel_marked)
        projection = getattr(desk, "projection", None)
        if isinstance(projection, DeskProjection):
            self.projection = projection

    def on_unmount(self) -> None:
        for marks in (self.cancels_sent, self.modifies_sent):
            if self._cancel_marked in marks.listeners:
                marks.listeners.remove(self._cancel_marked)

    def _cancel_marked(self) -> None:
        """A cancel (or a change) marked a row: every row again at the next frame, the
        bottom line with them (a cancel is a trader's key, not the firehose)."""
        self.view_version += 1

    def state_unknown(self, view: OrderView) -> str:
        """Why `view`'s state is not known now ("" when it is, or the order ended)."""
        if view.order.status.is_terminal:
            return ""
        return self.unknown.get(view.broker, NOT_HEARD)

    def modify_unanswered(self, view: OrderView) -> str:
        """Why the outcome of a working order's modify is not known yet ("" when it is,
        or the order ended): the venue did not answer it in time and may still take
        it."""
        if self.projection is None or view.order.status.is_terminal:
            return ""
        return self.projection.modify_unanswered(view.broker, view.client_order_id)

    def waits(self, view: OrderView) -> OrderWaits | None:
        """What of a working order waits in this desk's memory for Redis (None: nothing,
        or the order ended)."""
        if view.order.status.is_terminal:
            return None
        return self.waiting.order(view)

    def unknown_text(self, working: Iterable[OrderView], brief: int | None = None) -> str:
        """Whose working orders' states are unknown, for the bottom line:
        `paper/main DISCONNECTED: 1 order's state unknown` ("" when every one is
        known), then whose modifies the venue has not answered (`ib/DU123456: 1 modify
        not answered yet`), then the cancels and changes sent that the journal does not
        show (`1 cxl… sent, not in the journal yet`); first, each account whose events
        wait for Redis (`waiting_text`).

        `brief` (a form for an edge too short for the whole: `unknown_forms`): 0 as
        the edge said it before (the waiting accounts shorter, `waiting_text`); 1, the
        waiting said in fewer words; 2, every part in its fewest; 3, each account named
        once; 4 and 5, each account's orders not known in one count (`_unknown_said`)."""
        return self._unknown_said(list(working), brief)

    def unknown_forms(self, working: Iterable[OrderView]) -> list[str]:
        """`unknown_text` whole, then its shorter forms (`BRIEF_TIERS`), each in fewer
        words, without repeats ([] when nothing is unknown): the pane's bottom edge
        shows the first that fits with the order counts after it (`MainScreen.
        _draw_orders`, `Pane.set_subtitle`). It had one short form, cut by an ellipsis
        at 120x36 (`paper/main: 8 events wait for Redis, 1 order not listed; 1 cxl…
        sent,…`) and at 80x24 (`...; 1 cxl… sent, not in the journal yet; 1 w…`); the
        edge never cuts the line (docs/ui.md). Its shortest named an account twice, for
        its broker's state and for a modify not answered: TWS hung during a modify read
        `ib/DU123456 DEGRADED: 1 state unknown; ib/DU123456: 1 modify unanswer…` at
        120x36 (and was cut at 100x28 and 80x24 too)."""
        views = list(working)
        forms: list[str] = []
        for brief in (None, *range(BRIEF_TIERS)):
            said = self._unknown_said(views, brief)
            if not said:
                return []
            if said not in forms:
                forms.append(said)
        return forms

    def _unknown_said(self, views: list[OrderView], tier: int | None) -> str:
        """`unknown_text` whole (`tier` None), or in its shorter form `tier`: 0 as the
        edge said it before (the waiting accounts shorter, `waiting_text`); 1, the
        waiting said in fewer words; 2, every part in its fewest; 3, each account named
        once (`ib/DU123456 DEGRADED: 1 state unknown, 1 modify unanswered`); 4, each
        account's orders whose state or modify is not known counted once (`ib/DU123456
        DEGRADED: 1 state unknown`: an order whose modify is not answered does not
        know its terms); 5, that count in one word (`ib/DU123456 DEGRADED: 1
        unknown`)."""
        counts: dict[tuple[str, str], int] = {}
        unanswered: dict[str, int] = {}
        # By account: why its broker is not heard ("" when it is), and its orders whose
        # state or modify is not known (an order counted once, for tiers 4 and 5).
        accounts: dict[str, tuple[str, int]] = {}
        cancels = changes = 0
        for view in views:
            label = f"{view.broker}/{view.account}"
            why = self.state_unknown(view)
            if why:
                key = (label, why)
                counts[key] = counts.get(key, 0) + 1
            late = bool(self.modify_unanswered(view))
            if late:
                unanswered[label] = unanswered.get(label, 0) + 1
            if why or late:
                said_why, n = accounts.get(label, ("", 0))
                accounts[label] = (said_why or why, n + 1)
            cancel_sent = self.cancels_sent.pending(view)
            cancels += cancel_sent
            changes += not cancel_sent and self.modifies_sent.pending(view)
        fewest = tier is not None and tier >= 2
        said = self.waiting_text(tier)
        if tier is not None and tier >= 4:
            for label, (why, n) in sorted(accounts.items()):
                known = "unknown" if tier >= 5 else f"state{'' if n == 1 else 's'} unknown"
                said.append(f"{label}{f' {why}' if why else ''}: {n} {known}")
        elif tier is not None and tier >= 3:
            for label in sorted(accounts):
                whys = [(why, n) for (named, why), n in sorted(counts.items()) if named == label]
                parts = [f"{n} state{'' if n == 1 else 's'} unknown" for _, n in whys]
                late_n = unanswered.get(label, 0)
                if late_n:
                    parts.append(f"{late_n} modif{'y' if late_n == 1 else 'ies'} unanswered")
                head = " ".join([label, *(why for why, _ in whys)])
                said.append(f"{head}: {', '.join(parts)}")
        else:
            for (label, why), n in sorted(counts.items()):
                if fewest:
                    said.append(f"{label} {why}: {n} state{'' if n == 1 else 's'} unknown")
                else:
                    orders = "1 order's state" if n == 1 else f"{n} orders' states"
                    said.append(f"{label} {why}: {orders} unknown")
            for label, n in sorted(unanswered.items()):
                modifies = "1 modify" if n == 1 else f"{n} modifies"
                said.append(f"{label}: {modifies} {'unanswered' if fewest else 'not answered yet'}")
        not_yet = "" if fewest else ", not in the journal yet"
        if cancels:
            said.append(f"{cancels}{CANCEL_SENT_MARK} sent{not_yet}")
        if changes:
            said.append(f"{changes}{MODIFY_SENT_MARK} sent{not_yet}")
        return "; ".join(said)

    def waiting_text(self, brief: int | None = None) -> list[str]:
        """Per account, its events waiting in this desk's memory for Redis, and the
        orders among them the pane cannot list yet: `4 events of paper/main wait for
        Redis (1 order not in Orders yet): rows may be behind`; `brief`, for a narrow
        edge: `paper/main: 4 events wait for Redis, 1 order not listed`, and from `brief`
        1 on (`unknown_text`) in fewer words, the account left out where it is the only
        one said: `4 wait for Redis, 1 not listed`. Then the orders Redis took from
        memory that the desk has not read back yet: `1 order of paper/main not in
        Orders yet: written to Redis, being read back` (short: `paper/main: 1 order
        being read back from Redis`; fewer words: `1 being read back`)."""
        waiting = self.waiting
        unlisted: dict[tuple[str, str], int] = {}
        for order in waiting.not_shown:
            key = (order.broker, order.account)
            unlisted[key] = unlisted.get(key, 0) + 1
        reading = [
            key
            for key in sorted(set(waiting.reading) - set(waiting.accounts))
            if unlisted.get(key, 0)
        ]
        short = brief is not None
        fewer = brief is not None and brief >= 1
        named = len(waiting.accounts) + len(reading) > 1  # (fewer words: one is not named)

        def label(broker: str, account: str) -> str:
            return f"{broker}/{account}: " if named or not fewer else ""

        said = []
        for (broker, account), n in sorted(waiting.accounts.items()):
            events = "1 event" if n == 1 else f"{n:,} events"
            verb = "waits" if n == 1 else "wait"
            missing = unlisted.get((broker, account), 0)
            if fewer:
                listed = f", {missing} not listed" if missing else ""
                said.append(f"{label(broker, account)}{n:,} {verb} for Redis{listed}")
                continue
            if short:
                listed = f", {missing} order{'' if missing == 1 else 's'} not listed"
                said.append(
                    f"{broker}/{account}: {events} {verb} for Redis{listed if missing else ''}"
                )
                continue
            orders = (
                f" ({missing} order{'' if missing == 1 else 's'} not in Orders yet)"
                if missing
                else ""
            )
            said.append(
                f"{events} of {broker}/{account} {verb} for Redis{orders}: rows may be behind"
            )
        for broker, account in reading:
            # Redis took them; the desk has not read them back yet (its reader's next
            # read): the orders they name are not listed until it has.
            missing = unlisted[(broker, account)]
            orders = f"{missing} order{'' if missing == 1 else 's'}"
            if fewer:
                said.append(f"{label(broker, account)}{missing} being read back")
            elif short:
                said.append(f"{broker}/{account}: {orders} being read back from Redis")
            else:
                said.append(
                    f"{orders} of {broker}/{account} not in Orders yet: written to Redis, "
                    "being read back"
                )
        return said

    def row_for(self, view: OrderView, instruments: Mapping[str, Instrument]) -> tuple[Cell, ...]:
        p = self.palette
        order = view.order
        inst = instruments.get(order.request.instrument)
        request = order.request
        side_style = p.bid if request.side is Side.BUY else p.ask
        waits = self.waits(view)
        cancel_sent = self.cancels_sent.pending(view)
        # (a cancel sent after a change says what became of the order: `cxl…` alone)
        modify_sent = not cancel_sent and self.modifies_sent.pending(view)
        fill_waiting = waits is not None and waits.fills > 0
        # The venue's answer to this desk's own cancel (or change) is what `cxl…`
        # (`mod…`) says already.
        behind = waits is not None and (fill_waiting or not (cancel_sent or modify_sent))
        # A modify the venue has not answered: its outcome, and so the row's terms,
        # not known yet.
        unknown = bool(self.state_unknown(view)) or behind or bool(self.modify_unanswered(view))
        inactive = order.inactive and order.status in _HELD_SHOWN
        status_style = (
            p.warn + ITALIC
            if cancel_sent or modify_sent
            else p.warn
            if order.status in _PENDING or unknown or inactive
            else p.error
            if order.status is OrderStatus.REJECTED
            else p.muted
            if order.status.is_terminal
            else p.plain
        )
        filled_text, avg, filled_style = filled_cells(order, inst, p)
        return (
            self.cell(short_id(view.client_order_id)),
            self.cell(request.instrument),
            self.cell(
                request.side.value + (REDUCE_ONLY_MARK if request.reduce_only else ""), side_style
            ),
            self.cell(order_qty_text(order, inst)),
            # The order's prices as it has them: never rounded onto the instrument's
            # tick (re-read coarser after a reconnect, it showed a price not sent).
            self.cell(price_text(order.limit_price, inst)),
            self.cell(*stop_cell(order, inst, p)),
            self.cell(
                self.status_text(
                    order,
                    inst,
                    inactive=inactive,
                    unknown=unknown,
                    sent=cancel_sent,
                    fill_waiting=fill_waiting,
                    modified=modify_sent,
                ),
                status_style,
            ),
            self.cell(filled_text, filled_style),
            self.cell(avg, filled_style),
            self.cell(request.order_type.value),
            self.cell(request.tif.value),
            self.cell(f"{view.broker}/{view.account}"),
        )

    def _show_columns(self, shown: tuple[int, ...]) -> None:
        """As the table's; every row drawn again at the next frame when the Filled
        column came or went (a partly filled order's Status says its fill while it
        is not shown: `status_text`)."""
        before = self.FILLED in self._shown
        super()._show_columns(shown)
        if (self.FILLED in shown) != before:
            self.view_version += 1

    def status_text(
        self,
        order: Order,
        inst: Instrument | None,
        *,
        inactive: bool = False,
        unknown: bool = False,
        sent: bool = False,
        fill_waiting: bool = False,
        modified: bool = False,
    ) -> str:
        """The Status cell's text: the order's status (`INACTIVE` for one held), marked
        `?` (state unknown), ` fill waiting` (a fill of it waits for Redis), ` cxl…`
        (cancel sent) and ` mod…` (change sent); while the Filled column is not
        shown, a partly filled order's `PART 0.005` (its fill so far), padded to the
        width of `PARTIALLY_FILLED` with its marks, and a held or ended one's fill after
        its word, `INACTIVE fill 0.005`, `CANCELED fill 0.005` (`FILL_TEXT`)."""
        marks = (
            (UNKNOWN_MARK if unknown else "")
            + (FILL_WAITING_MARK if fill_waiting else "")
            + (CANCEL_SENT_MARK if sent else "")
            + (MODIFY_SENT_MARK if modified else "")
        )
        word = INACTIVE_TEXT if inactive else order.status.value
        text = word + marks
        filled = order.filled_qty
        if not filled or self.FILLED in self._shown:
            return text
        if inactive or (order.status.is_terminal and order.status is not OrderStatus.FILLED):
            return f"{word} {FILL_TEXT} {qty_text(filled, inst)}{marks}"
        if order.status is not OrderStatus.PARTIALLY_FILLED:
            return text
        short = f"{PART_TEXT} {qty_text(filled, inst)}{marks}"
        return short + " " * (cell_len(text) - cell_len(short))

    def priorities(self) -> list[float]:
        priorities = super().priorities()
        if any(cells[self.STOP].text != DASH for cells in self._cells.values()):
            priorities[self.STOP] = self.STOP_RAISED
        return priorities

    def show(
        self,
        views: Iterable[OrderView],
        instruments: Mapping[str, Instrument],
        mine: Container[str] = (),
    ) -> None:
        """Every row (a full redraw). `mine`: the ids of the orders this desk sent."""
        known = set(self._cells)
        self.sync({v.client_order_id: self.row_for(v, instruments) for v in views})
        self._follow([key for key in self._keys if key not in known], mine)

    def update(
        self,
        shown: Iterable[OrderView],
        gone: Iterable[str],
        instruments: Mapping[str, Instrument],
        mine: Container[str] = (),
    ) -> None:
        """Only the rows of orders whose events arrived: `shown` drawn (added at the
        end when new), `gone` removed (an order that finished, in the working view).
        `mine`: the ids of the orders this desk sent."""
        self.syncs += 1
        self.remove_rows(gone)
        rows = len(self._keys)
        self.update_rows((v.client_order_id, self.row_for(v, instruments)) for v in shown)
        if len(self._keys) > rows:
            self._follow(self._keys[rows:], mine)

    def _follow(self, added: list[str], mine: Container[str]) -> None:
        """The cursor to the newest of the rows just added that this desk sent, and
        into view, unless the trader has put the cursor somewhere."""
        if not self.following:
            return
        for key in reversed(added):
            if key in mine:
                self.move_cursor(self._index[key])
                return

    def trader_moved(self, *, to_last: bool = False) -> None:
        self.following = to_last

    def selected_order(self) -> str | None:
        return self.selected_key()

    def action_toggle_all(self) -> None:
        """Working orders / all of today's: the screen redraws at the next frame."""
        self.show_all = not self.show_all
        self.clear_rows()
        self.following = True
        self.view_version += 1


def stop_cell(order: Order, inst: Instrument | None, p: Palette) -> tuple[str, Style | str]:
    """The Stop cell's text and style: the stop as the order has it, marked and dimmed
    once it has triggered (`64,000.00 trg`), a take-profit's marked until then
    (`3,400.00 tp`)."""
    text = price_text(order.stop_price, inst)
    if order.stop_price is None:
        return text, ""
    if order.triggered:
        return text + TRIGGERED_MARK, p.muted
    if order.request.order_type in _TAKE_PROFITS:
        return text + TAKE_PROFIT_MARK, ""
    return text, ""


def filled_cells(order: Order, inst: Instrument | None, p: Palette) -> tuple[str, str, Style | str]:
    """The Filled and Avg fill cells' texts and their style: what the order counts as
    filled and its average; for an overfilled order every fill the venue reported
    (`Order.reported_qty`, `reported_avg`), marked (`0.05 over`) in the error colour."""
    if order.overfill is not None:
        return (
            qty_text(order.reported_qty, inst) + OVERFILL_MARK,
            avg_text(order.reported_avg, inst),
            p.error,
        )
    filled = order.filled_qty
    if not filled:
        return DASH, DASH, ""
    return qty_text(filled, inst), avg_text(order.avg_price, inst), ""


def order_qty_text(order: Order, inst: Instrument | None) -> str:
    """An order's size as the trader gave it: a base quantity, or for an order by quote
    amount the amount and its currency (its base quantity is only what has filled)."""
    if order.quote_quantity is not None:
        currency = inst.quote_currency if inst is not None else ""
        return f"{order.quote_quantity.normalize():,f} {currency}".rstrip()
    return qty_text(order.quantity, inst)
