"""Balances per broker, account and currency."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from ...domain import Balance
from ...domain.money import money_text
from .table import Cell, Column, KeyedTable


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

    # More than one account holds balances: the currency cell names the broker too
    # (`USD ib`), since the Account column is the first to go in a narrow pane.
    several_accounts = False

    def row_for(self, balance: Balance) -> tuple[Cell, ...]:
        ccy = f"{balance.currency} {balance.broker}" if self.several_accounts else balance.currency
        return (
            self.cell(ccy),
            self.cell(money_text(balance.total)),
            self.cell(money_text(balance.available)),
            self.cell(money_text(balance.locked)),
            self.cell(f"{balance.broker}/{balance.account}"),
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
