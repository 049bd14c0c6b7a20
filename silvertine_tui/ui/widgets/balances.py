"""Balances per broker, account and currency.

A broker whose balances the desk cannot confirm now (DISCONNECTED, reconnecting, not
heard from: the projection's `balances_unconfirmed`, the Orders pane's `NEW?` rule)
has its figures marked `?` in the warning colour, and the pane's bottom line says whose
and why: they are as last heard, while cancels sent meanwhile (Binance's go over REST
with its user-data stream down) and fills may have moved them. Before, they read as
confirmed."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from rich.style import Style

from ...domain import Balance
from ...domain.money import money_text
from .palette import DEFAULT_PALETTE, Palette
from .table import Cell, Column, KeyedTable

UNCONFIRMED_MARK = "?"
"""After a figure the desk cannot confirm now (as the Orders pane's `NEW?`)."""


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

    def row_for(self, balance: Balance) -> tuple[Cell, ...]:
        ccy = f"{balance.currency} {balance.broker}" if self.several_accounts else balance.currency
        unsure = balance.broker in self.unconfirmed
        mark = UNCONFIRMED_MARK if unsure else ""
        style: Style | str = self.palette.warn if unsure else ""
        return (
            self.cell(ccy),
            self.cell(money_text(balance.total) + mark, style),
            self.cell(money_text(balance.available) + mark, style),
            self.cell(money_text(balance.locked) + mark, style),
            self.cell(f"{balance.broker}/{balance.account}"),
        )

    def unconfirmed_text(self) -> str:
        """Whose balances are not confirmed, for the bottom line: `binance DISCONNECTED:
        as last heard` ("" when all are)."""
        return "; ".join(
            f"{broker} {why}: as last heard" for broker, why in sorted(self.unconfirmed.items())
        )

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

    def bottom_text(self) -> str:
        """The pane's bottom line: whose balances are not confirmed, then the rows out
        of view."""
        return "; ".join(t for t in (self.unconfirmed_text(), self.out_of_view()) if t)

    def show(self, balances: Mapping[tuple[str, str, str], Balance]) -> None:
        """Every row (a full redraw)."""
        self.several_accounts = len({key[:2] for key in balances}) > 1
        self.sync({"/".join(key): self.row_for(b) for key, b in sorted(balances.items())})

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
        self.update_rows(("/".join(key), self.row_for(balances[key])) for key in sorted(keys))
