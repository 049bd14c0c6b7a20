"""An order's audit trail: every event the OMS applied to it, oldest first."""

from __future__ import annotations

from typing import cast

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from ...domain import Instrument
from ...engine.projection import OrderView
from ...events import Decoded, describe
from ...events.summary import avg_text, fee_text, qty_text
from ..format import clock_text
from ..keymap import bindings
from ..widgets.blotter import order_qty_text


class OrderHistoryScreen(ModalScreen[None]):
    BINDINGS = bindings("modal")

    def __init__(self, view: OrderView, instrument: Instrument | None = None) -> None:
        super().__init__()
        self.view = view
        self.instrument = instrument

    def compose(self) -> ComposeResult:
        order = self.view.order
        request = order.request
        inst = self.instrument
        head = (
            f"{order.client_order_id}  {request.side} {order_qty_text(order, inst)}"
            f" {request.instrument} {request.order_type} {request.tif}  {order.status}"
            f"  filled {qty_text(order.filled_qty, inst)} avg {avg_text(order.avg_price, inst)}"
        )

        venue = ""
        if order.venue_order_id:
            venue = f"venue id {order.venue_order_id}"
            if order.retired_venue_ids:
                venue += f" (before: {', '.join(sorted(order.retired_venue_ids))})"
        fees = ", ".join(
            f"{fee_text(amount, currency, inst)} {currency}".rstrip()
            for currency, amount in sorted(order.fees.items())
        )
        ids = "  ".join(part for part in (venue, f"fees {fees}" if fees else "") if part)

        def lookup(key: str) -> Instrument | None:
            return inst if inst is not None and key == inst.key else None

        table = Table.grid(padding=(0, 1))
        table.add_column(no_wrap=True)
        table.add_column(no_wrap=True)
        table.add_column()
        for event in self.view.history:
            table.add_row(
                Text(clock_text(event.ts / 1e9)),
                Text(event.type, style="bold"),
                describe(
                    cast("Decoded", event),
                    instruments=lookup,
                    orders=lambda _coid: request,
                ),
            )
        with Vertical(id="dialog", classes="-wide"):
            yield Static(f"Order history - {head}", id="dialog-title", markup=False)
            if ids:
                yield Static(ids, id="history-ids", markup=False)
            if self.view.adopted:
                yield Static("adopted from the venue on reconcile", markup=False)
            with VerticalScroll(id="history-body"):
                yield Static(table)
            yield Static("esc: close", id="dialog-hint", markup=False)

    def action_confirm(self) -> None:
        self.dismiss(None)

    def action_dismiss_no(self) -> None:
        self.dismiss(None)
