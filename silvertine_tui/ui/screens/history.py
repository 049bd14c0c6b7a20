"""An order's audit trail: every event the OMS applied to it, oldest first.

A finished order's events may have left memory (the window of finished orders, or an
order loaded from a snapshot): they are then read back from the journal by a worker
(the loop keeps running), with "loading" and the entries read meanwhile, and a clear
message if the journal cannot be read or holds none of them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import cast

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.widgets import Static

from ...domain import Instrument
from ...engine.projection import OrderView
from ...events import Decoded, EventBase
from ...events.summary import Describer, avg_text, fee_text, qty_text
from ..desk import HistoryLoader
from ..format import clock_text, cut, shown
from ..keymap import bindings, named_key
from ..widgets.blotter import order_qty_text
from .dialog import Dialog


class OrderHistoryScreen(Dialog[None]):
    BINDINGS = bindings("view")

    def __init__(
        self,
        view: OrderView,
        instrument: Instrument | None = None,
        loader: HistoryLoader | None = None,
    ) -> None:
        super().__init__()
        self.view = view
        self.instrument = instrument
        self.loader = loader
        self.events: list[EventBase] | None = None if loader is not None else view.history
        """What the table shows (None while it loads or when it could not)."""

    def compose_dialog(self) -> ComposeResult:
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

        with Vertical(id="dialog", classes="-wide"):
            yield Static(shown(cut(f"Order history - {head}")), id="dialog-title", markup=False)
            if ids:
                yield Static(shown(cut(ids)), id="history-ids", markup=False)
            if self.view.adopted:
                yield Static("adopted from the venue on reconcile", markup=False)
            with VerticalScroll(id="history-body"):
                if self.events is not None:
                    yield Static(self._table(self.events), id="history-events")
                else:
                    yield Static(
                        "loading the order's events from the journal...",
                        id="history-events",
                        markup=False,
                    )
            yield Static(f"{named_key(self, 'view.close')}: close", id="dialog-hint", markup=False)

    def on_mount(self) -> None:
        if self.loader is not None:
            self.run_worker(self._load(self.loader), exclusive=True, exit_on_error=False)

    async def _load(self, loader: HistoryLoader) -> None:
        body = self.query_one("#history-events", Static)

        def progress(read: int, total: int) -> None:
            of = f" of {total:,}" if total else ""
            body.update(f"loading the order's events from the journal: {read:,}{of} entries read")

        try:
            events = await loader(progress)
        except Exception as exc:
            body.update(
                Text(
                    "could not read this order's history from the journal "
                    f"({type(exc).__name__}: {exc}); its state above is current",
                    style="bold",
                )
            )
            return
        if not events:
            body.update(
                "the journal holds no events for this order any more "
                "(trimmed by its retention, or another journal)"
            )
            return
        self.events = events
        body.update(self._table(events))

    def _table(self, events: Iterable[EventBase]) -> Table:
        inst = self.instrument
        request = self.view.order.request

        def lookup(key: str) -> Instrument | None:
            return inst if inst is not None and key == inst.key else None

        # One describer over the order's events, oldest first: each line shows the
        # terms in force at its event (every accepted modify before it folded in), as
        # the Log pane and `silvertine replay` do. Its request, if the events begin
        # after it (adopted, or trimmed from the journal), is the order's first terms.
        describe = Describer(lookup, lambda _coid: request)
        table = Table.grid(padding=(0, 1))
        table.add_column(no_wrap=True)
        table.add_column(no_wrap=True)
        table.add_column()
        for event in events:
            table.add_row(
                Text(clock_text(event.ts / 1e9)),
                Text(event.type, style="bold"),
                # A venue's words, cut as the Log pane cuts them: a reason of 2M
                # characters froze the desk 11 s while the table was drawn.
                Text(shown(cut(describe(cast("Decoded", event))))),
            )
        return table

    def action_close(self) -> None:
        self.dismiss(None)
