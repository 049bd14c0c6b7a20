"""Balances per broker, account and currency."""

from __future__ import annotations

from ...domain import Balance
from ..format import num
from .table import Cell, Column, KeyedTable


class Balances(KeyedTable):
    COLUMNS = (
        Column("ccy", "Ccy"),
        Column("total", "Total", right=True),
        Column("available", "Available", right=True),
        Column("locked", "Locked", right=True),
        Column("account", "Account"),
    )

    def row_for(self, balance: Balance) -> tuple[Cell, ...]:
        return (
            self.cell(balance.currency),
            self.cell(num(balance.total, 2), right=True),
            self.cell(num(balance.available, 2), right=True),
            self.cell(num(balance.locked, 2), right=True),
            self.cell(f"{balance.broker}/{balance.account}"),
        )

    def show(self, balances: dict[tuple[str, str, str], Balance]) -> None:
        self.sync({"/".join(key): self.row_for(b) for key, b in sorted(balances.items())})
