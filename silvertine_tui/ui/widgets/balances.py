"""Balances per broker, account and currency."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import ClassVar

from ...domain import Balance
from ...domain.money import money_text
from .columns import column_index
from .table import Cell, Column, KeyedTable, fit_columns

ZERO_SHOWN = money_text(Decimal(0))


class Balances(KeyedTable):
    COLUMNS = (
        Column("ccy", "Ccy"),
        Column("total", "Total", right=True),
        Column("available", "Available", right=True, priority=1),
        Column("locked", "Locked", right=True, priority=2),
        Column("account", "Account", priority=3),
    )
    TOTAL = column_index(COLUMNS, "total")
    LOCKED = column_index(COLUMNS, "locked")
    # While funds are locked in working orders, Locked is what the trader needs beside
    # Available, and Total (their sum) is the one that gives way in a narrow pane: the
    # three exact figures of a balance after a fee (`98,247.85961`) did not fit the
    # default desk's pane, and Locked dropped just when it was not zero.
    LOCKED_RAISED: ClassVar[tuple[float, float]] = (1.5, 1.2)  # Total, Locked

    # More than one account holds balances: the currency cell names the broker too
    # (`USD ib`), since the Account column is the first to go in a narrow pane.
    several_accounts = False
    _chosen: list[float] | None = None

    def row_for(self, balance: Balance) -> tuple[Cell, ...]:
        ccy = f"{balance.currency} {balance.broker}" if self.several_accounts else balance.currency
        return (
            self.cell(ccy),
            self.cell(money_text(balance.total)),
            self.cell(money_text(balance.available)),
            self.cell(money_text(balance.locked)),
            self.cell(f"{balance.broker}/{balance.account}"),
        )

    def priorities(self) -> list[float]:
        """The priorities the columns shown were chosen by (`_fit`)."""
        return list(self._chosen) if self._chosen else super().priorities()

    def _fit(self, available: int) -> tuple[int, ...]:
        """Locked before Total while any funds are locked, if Locked then fits; in a
        pane too narrow for it the columns' own order (Total, which never drops)."""
        widths, own = self.column_widths(), super().priorities()
        locked = any(
            cells[self.LOCKED].text.lstrip("-") != ZERO_SHOWN for cells in self._cells.values()
        )
        if locked:
            raised = list(own)
            raised[self.TOTAL], raised[self.LOCKED] = self.LOCKED_RAISED
            shown = fit_columns(widths, raised, available)
            if self.LOCKED in shown:
                self._chosen = raised
                return shown
        self._chosen = own
        return fit_columns(widths, own, available)

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
