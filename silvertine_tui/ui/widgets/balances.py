"""Balances per broker, account and currency."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from ...domain import Balance
from ..format import money
from .table import Cell, Column, KeyedTable


class Balances(KeyedTable):
    COLUMNS = (
        Column("ccy", "Ccy"),
        Column("total", "Total", right=True),
        Column("available", "Available", right=True, priority=1),
        Column("locked", "Locked", right=True, priority=2),
        Column("account", "Account", priority=3),
    )

    # More than one account holds balances: the currency cell names the broker too
    # (`USD ib`), since the Account column is the first to go in a narrow pane.
    several_accounts = False

    def row_for(self, balance: Balance) -> tuple[Cell, ...]:
        ccy = f"{balance.currency} {balance.broker}" if self.several_accounts else balance.currency
        return (
            self.cell(ccy),
            self.cell(money(balance.total)),
            self.cell(money(balance.available)),
            self.cell(money(balance.locked)),
            self.cell(f"{balance.broker}/{balance.account}"),
        )

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
