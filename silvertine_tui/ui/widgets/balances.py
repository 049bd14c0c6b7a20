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

    def row_for(self, balance: Balance) -> tuple[Cell, ...]:
        return (
            self.cell(balance.currency),
            self.cell(money(balance.total), right=True),
            self.cell(money(balance.available), right=True),
            self.cell(money(balance.locked), right=True),
            self.cell(f"{balance.broker}/{balance.account}"),
        )

    def show(self, balances: Mapping[tuple[str, str, str], Balance]) -> None:
        """Every row (a full redraw)."""
        self.sync({"/".join(key): self.row_for(b) for key, b in sorted(balances.items())})

    def update(
        self,
        balances: Mapping[tuple[str, str, str], Balance],
        keys: Iterable[tuple[str, str, str]],
    ) -> None:
        """Only the rows of `keys` (balances whose events arrived)."""
        self.syncs += 1
        self.update_rows(("/".join(key), self.row_for(balances[key])) for key in sorted(keys))
