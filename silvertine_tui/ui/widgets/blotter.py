"""Working orders. Rows are keyed by client order id and updated cell by cell."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from ...domain import Instrument, OrderStatus, Side
from ...engine.oms import OrderView
from ..format import DASH, num, places_of, short_id
from ..keymap import bindings
from .palette import DEFAULT_PALETTE, Palette
from .table import Cell, Column, KeyedTable

_PENDING = (OrderStatus.PENDING_NEW, OrderStatus.PENDING_CANCEL, OrderStatus.PENDING_REPLACE)


class Blotter(KeyedTable):
    BINDINGS = bindings("blotter")
    COLUMNS = (
        Column("id", "Id"),
        Column("symbol", "Symbol"),
        Column("side", "Side"),
        Column("qty", "Qty", right=True),
        Column("price", "Price", right=True),
        Column("status", "Status"),
        Column("filled", "Filled", right=True),
        Column("type", "Type"),
        Column("stop", "Stop", right=True),
        Column("tif", "TIF"),
        Column("account", "Account"),
    )

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.palette: Palette = DEFAULT_PALETTE

    def row_for(self, view: OrderView, instruments: Mapping[str, Instrument]) -> tuple[Cell, ...]:
        p = self.palette
        order = view.order
        inst = instruments.get(order.request.instrument)
        places = places_of(inst.tick_size) if inst else None
        request = order.request
        side_style = p.bid if request.side is Side.BUY else p.ask
        status_style = p.warn if order.status in _PENDING else p.plain
        return (
            self.cell(short_id(view.client_order_id)),
            self.cell(request.instrument),
            self.cell(request.side.value, side_style),
            self.cell(num(order.quantity), right=True),
            self.cell(num(order.limit_price, places), right=True),
            self.cell(order.status.value, status_style),
            self.cell(num(order.filled_qty) if order.filled_qty else DASH, right=True),
            self.cell(request.order_type.value),
            self.cell(num(order.stop_price, places), right=True),
            self.cell(request.tif.value),
            self.cell(f"{view.broker}/{view.account}"),
        )

    def show(self, views: Iterable[OrderView], instruments: Mapping[str, Instrument]) -> None:
        self.sync({v.client_order_id: self.row_for(v, instruments) for v in views})

    def selected_order(self) -> str | None:
        return self.selected_key()
