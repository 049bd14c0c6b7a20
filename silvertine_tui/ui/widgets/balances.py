"""Balances per broker, account and currency.

A broker whose balances the desk cannot confirm now (DISCONNECTED, reconnecting, not
heard from: the projection's `balances_unconfirmed`, the Orders pane's `NEW?` rule)
has its figures marked `?` in the warning colour, and the pane's bottom line says whose
and why: they are as last heard, while cancels sent meanwhile (Binance's go over REST
with its user-data stream down) and fills may have moved them. Before, they read as
confirmed.

While Redis is out of reach, a balance a balance event waiting in this desk's memory
names (`DeskProjection.waiting`: never applied, the pane is drawn from the journal) is
marked `?` the same way, and the bottom line says how many are behind (`1 balance
behind: its events wait for Redis`).

The bottom line is never cut by an ellipsis: where the edge is too short for the whole,
it says the same in fewer words (`bottom_forms`: the pane shows the first that fits,
`Pane.set_subtitle`), the brokers of one state named together (`ib, paper STALE: as
last heard`), then without `as last heard` (the figures' `?` says it). A watching
desk's pane with the driving desk killed read `ib STALE: as last heard; paper STALE:…`
at 120x36.

A currency whose Available is below zero is in deficit (the paper venue with leverage,
after a sale of a long below its cost: docs/paper-simulator.md, "Checks", rule 5): its
Available reads in the theme's error colour, and the lines under the rows say so and
what it means for orders (`DEFICIT_NOTES`); with no line free under them, the pane's
bottom line says it. Before, `-106.6044` read as any figure, with no word of why the
venue refused every buy. That cancelling orders frees what they lock is said only of a
currency in deficit with something locked (`DEFICIT_FREES`): it was said with Locked 0,
where cancelling frees nothing."""

from __future__ import annotations

import textwrap
from collections.abc import Iterable, Mapping
from decimal import Decimal

from rich.segment import Segment
from rich.style import Style
from textual.strip import Strip

from ...domain import Balance
from ...domain.money import money_text
from ...engine.projection import Waiting
from .line_table import HEADER_ROWS
from .palette import DEFAULT_PALETTE, Palette
from .table import Cell, Column, KeyedTable

UNCONFIRMED_MARK = "?"
"""After a figure the desk cannot confirm now (as the Orders pane's `NEW?`)."""

DEFICIT_NOTES = (
    "{who} in deficit: only orders that need no buying power are taken (sales of a "
    "long, buys that cover a short); {frees}",
    "{who} in deficit: only orders that need no buying power are taken",
    "{who} in deficit",
)
"""What the lines under the rows say of currencies whose Available is below zero, the
first that fits the lines free there (the venue refuses what needs buying power until
it is back above zero: the paper venue's `DEFICIT_REASON`); `{frees}` is one of
`DEFICIT_FREES`."""

DEFICIT_FREES = (
    "cancelling orders frees what they lock",
    "cancelling orders frees what they lock in {locking}",
    "nothing is locked: cancelling frees none",
)
"""What cancelling does for the currencies in deficit: frees what the orders lock when
each has some locked; when only some have, names those (`{locking}`); when none has
(Locked 0), that it frees nothing. The first alone was said whatever was locked: with
Locked 0 it sent the trader cancelling orders that held none of the currency."""

BOTTOM_TIERS = 3
"""The forms of the pane's bottom line (`Balances.bottom_forms`): whole, the brokers of
one state named together, then without `as last heard`."""

Labels = tuple[tuple[str, ...], tuple[str, ...]]
"""The currency cells of the balances in deficit, and of those of them with something
locked."""


class Balances(KeyedTable):
    # One order of importance, whatever the rows hold: Available (what can be spent) is
    # never dropped; then Locked (in working orders), then Total (their sum: with the
    # other two on screen it says nothing more), then the account (the currency cell
    # names the broker once there are several). Raising Locked over Total while funds
    # were locked, with Total never dropped, made the default desk's pane swap its
    # columns as orders came and went (`Ccy Total Available`, `Ccy Available Locked`),
    # and once a fee's exact figures widened them it kept Total and dropped Available.
    COLUMNS = (
        Column("ccy", "Ccy"),
        Column("total", "Total", right=True, priority=2),
        Column("available", "Available", right=True),
        Column("locked", "Locked", right=True, priority=1),
        Column("account", "Account", priority=3),
    )
    # In key order (broker/account/currency), whatever order the balances came in: a
    # live desk listed them as they first arrived, a restart sorted them.
    SORTED_ROWS = True

    # More than one account holds balances: the currency cell names the broker too
    # (`USD ib`), since the Account column is the first to go in a narrow pane.
    several_accounts = False
    palette: Palette = DEFAULT_PALETTE
    unconfirmed: Mapping[str, str] = {}
    """By broker: why its balances cannot be confirmed now (`balances_unconfirmed`)."""
    waiting: Waiting = Waiting()
    """`DeskProjection.waiting` as the rows were drawn with it (the screen sets it):
    balances whose events wait for Redis are marked."""

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.deficits: dict[str, str] = {}
        """By row key, in key order: the currency cell of each balance in deficit (its
        Available below zero)."""
        self.locking: dict[str, str] = {}
        """Those of `deficits` with something locked in orders (Locked above zero):
        what cancelling frees."""
        self._notes: tuple[Labels, int, int, list[str]] = (((), ()), 0, 0, [])
        self._behind: set[str] = set()
        """Row keys drawn marked: events of them wait for Redis."""

    def row_for(self, balance: Balance) -> tuple[Cell, ...]:
        ccy = self.ccy_text(balance)
        key = (balance.broker, balance.account, balance.currency)
        behind = self.waiting.balance(key)
        if behind:
            self._behind.add("/".join(key))
        else:
            self._behind.discard("/".join(key))
        unsure = balance.broker in self.unconfirmed or behind
        mark = UNCONFIRMED_MARK if unsure else ""
        style: Style | str = self.palette.warn if unsure else ""
        spendable = self.palette.error if balance.available < 0 else style
        return (
            self.cell(ccy),
            self.cell(money_text(balance.total) + mark, style),
            self.cell(money_text(balance.available) + mark, spendable),
            self.cell(money_text(balance.locked) + mark, style),
            self.cell(f"{balance.broker}/{balance.account}"),
        )

    def ccy_text(self, balance: Balance) -> str:
        """The currency cell: `USDT`, or `USDT paper` with several accounts."""
        if self.several_accounts:
            return f"{balance.currency} {balance.broker}"
        return balance.currency

    # -- a deficit ---------------------------------------------------------------------

    def _note_deficits(self, balances: Iterable[tuple[str, Balance]], *, every: bool) -> None:
        """Keep `deficits` for these rows (`every`: all the rows there are); the lines
        under the rows are drawn again when what they say changes (a row's own refresh
        does not reach them)."""
        before = self._deficit_labels()
        found = {} if every else dict(self.deficits)
        locking = {} if every else dict(self.locking)
        for key, balance in balances:
            found.pop(key, None)
            locking.pop(key, None)
            if balance.available < Decimal(0):
                found[key] = self.cell(self.ccy_text(balance)).text
                if balance.locked > Decimal(0):
                    locking[key] = found[key]
        self.deficits = dict(sorted(found.items()))
        self.locking = dict(sorted(locking.items()))
        if self._deficit_labels() != before:
            self.refresh()

    def _deficit_labels(self) -> Labels:
        """The currencies in deficit, and those of them with something locked."""
        return tuple(self.deficits.values()), tuple(self.locking.values())

    def frees_text(self) -> str:
        """What cancelling orders does for the currencies in deficit (`DEFICIT_FREES`)."""
        if not self.locking:
            return DEFICIT_FREES[2]
        if len(self.locking) == len(self.deficits):
            return DEFICIT_FREES[0]
        return DEFICIT_FREES[1].format(locking=", ".join(self.locking.values()))

    def _free_lines(self) -> int:
        """The lines under the last row, on screen."""
        return max(0, self.rows_on_screen - (len(self._keys) - self.scroll_offset.y))

    def deficit_lines(self) -> list[str]:
        """What the lines under the rows say of the deficits, wrapped to the pane: the
        first of `DEFICIT_NOTES` that fits them ([] when none does, or none is in
        deficit)."""
        labels = self._deficit_labels()
        if not labels[0]:
            return []
        width = max(1, self.scrollable_content_region.width - self.PAD_LEFT - self.PAD_RIGHT)
        free = self._free_lines()
        if self._notes[:3] == (labels, width, free):
            return self._notes[3]
        who, frees = ", ".join(labels[0]), self.frees_text()
        lines: list[str] = []
        for note in DEFICIT_NOTES:
            wrapped = textwrap.wrap(note.format(who=who, frees=frees), width)
            if len(wrapped) <= free:
                lines = wrapped
                break
        self._notes = (labels, width, free, lines)
        return lines

    def render_line(self, y: int) -> Strip:
        first = HEADER_ROWS + len(self._keys) - self.scroll_offset.y
        if y < first or not self.deficits:
            return super().render_line(y)
        lines = self.deficit_lines()
        if y - first >= len(lines):
            return super().render_line(y)
        text = lines[y - first]
        base = self.base_style
        # The currencies named in the error colour of their figures, the rest plain.
        lead = ", ".join(self.deficits.values()) + " in deficit"
        if y == first and text.startswith(lead):
            named, rest = text[: len(lead)], text[len(lead) :]
        else:
            named, rest = "", text
        segments = [
            Segment(" " * self.PAD_LEFT, base),
            Segment(named, base + self.palette.error),
            Segment(rest, base),
        ]
        width = self.scrollable_content_region.width
        return Strip(Segment.simplify(segments)).crop_extend(0, width, base)

    def deficit_text(self) -> str:
        """The bottom line's word of the deficits when the lines under the rows say
        none of it (rows fill the pane): `USDT in deficit` ("" otherwise)."""
        if not self.deficits or self.deficit_lines():
            return ""
        return f"{', '.join(self.deficits.values())} in deficit"

    def unconfirmed_text(self, brief: int = 0) -> str:
        """Whose balances are not confirmed, for the bottom line: `binance DISCONNECTED:
        as last heard` ("" when all are). `brief` (an edge too short for the whole,
        `bottom_forms`): 1, the brokers of one state named together (`ib, paper STALE:
        as last heard`); 2, without `as last heard` (`ib, paper STALE`: the figures'
        `?` says it)."""
        if not brief:
            return "; ".join(
                f"{broker} {why}: as last heard" for broker, why in sorted(self.unconfirmed.items())
            )
        named: dict[str, list[str]] = {}
        for broker, why in sorted(self.unconfirmed.items()):
            named.setdefault(why, []).append(broker)
        heard = ": as last heard" if brief < 2 else ""
        return "; ".join(f"{', '.join(brokers)} {why}{heard}" for why, brokers in named.items())

    def behind_text(self, brief: int = 0) -> str:
        """How many of the balances shown are behind the events waiting for Redis:
        `1 balance behind: its events wait for Redis` ("" when none is); `brief`: `1
        behind: waits for Redis`."""
        n = len(self._behind.intersection(self._keys))
        if not n:
            return ""
        if brief:
            return f"{n} behind: {'waits' if n == 1 else 'wait'} for Redis"
        if n == 1:
            return "1 balance behind: its events wait for Redis"
        return f"{n} balances behind: their events wait for Redis"

    def out_of_view(self) -> str:
        """What of the balances the pane does not show now ("" when it shows them all):
        with several accounts the default desk's pane has five rows, and the one with
        funds locked in a working order could be the sixth, with no word of it."""
        shown = self.visible_range()
        above, below = shown.start, len(self._keys) - shown.stop
        if not above and not below:
            return ""
        if above and below:
            return f"{above} above, {below} below"
        return f"{above or below} more {'above' if above else 'below'}"

    def bottom_forms(self) -> list[str]:
        """The pane's bottom line, then the same said in fewer words (`BOTTOM_TIERS`),
        without repeats: a deficit the rows leave no line to say, whose balances are
        not confirmed, how many wait for Redis, then the rows out of view."""
        deficit, out_of_view = self.deficit_text(), self.out_of_view()
        forms: list[str] = []
        for brief in range(BOTTOM_TIERS):
            parts = (deficit, self.unconfirmed_text(brief), self.behind_text(brief), out_of_view)
            said = "; ".join(t for t in parts if t)
            if said not in forms:
                forms.append(said)
        return forms

    def bottom_text(self) -> str:
        """The pane's bottom line whole (`bottom_forms`' first): a deficit the rows
        leave no line to say, whose balances are not confirmed, how many wait for
        Redis, then the rows out of view."""
        return self.bottom_forms()[0]

    def show(self, balances: Mapping[tuple[str, str, str], Balance]) -> None:
        """Every row (a full redraw)."""
        self.several_accounts = len({key[:2] for key in balances}) > 1
        rows = [("/".join(key), b) for key, b in sorted(balances.items())]
        self.sync({key: self.row_for(b) for key, b in rows})
        self._note_deficits(rows, every=True)

    def update(
        self,
        balances: Mapping[tuple[str, str, str], Balance],
        keys: Iterable[tuple[str, str, str]],
    ) -> None:
        """Only the rows of `keys` (balances whose events arrived); every row when a
        second account appears (each currency cell then names its broker)."""
        if (len({key[:2] for key in balances}) > 1) != self.several_accounts:
            self.show(balances)
            return
        self.syncs += 1
        rows = [("/".join(key), balances[key]) for key in sorted(keys)]
        self.update_rows((key, self.row_for(b)) for key, b in rows)
        self._note_deficits(rows, every=False)
