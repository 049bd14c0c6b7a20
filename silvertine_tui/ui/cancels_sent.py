"""The orders this desk cancelled whose cancel the journal has not shown yet.

The Orders pane draws from the journal (the projection): while the bus is down the
venue's CANCELED waits in memory with every other event, and a row cancelled then
still read NEW, the trader none the wiser (cancelled again, or taken for a cancel that
failed). Such a row is marked (`Blotter`, `NEW cxl…`) until the journal says
PENDING_CANCEL or the order's end."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from ..domain import OrderStatus
from ..engine.projection import DeskProjection, OrderView


def cancel_answered(view: OrderView, marked_at: str = "") -> bool:
    """Whether the journal shows the order's cancel under way or the order ended, or
    anything of the order journaled since it was marked (`marked_at`, its last entry
    then): a cancel the venue refused reads PENDING_CANCEL then NEW again, and both
    read in one batch (the bus back) left the row `NEW cxl…` for good."""
    status = view.order.status
    if status is OrderStatus.PENDING_CANCEL or status.is_terminal:
        return True
    return bool(marked_at) and view.last_entry != marked_at


@dataclass(slots=True)
class CancelsSent:
    """The orders this desk's own cancels reached, by the gateway's word (a cancel
    `Accepted`; the ids a cancel all, reduce only or kill switch reports cancelled),
    whose answer the journal has not shown yet (the module's docstring)."""

    _marked: dict[str, str] = field(default_factory=dict)
    """Marked order -> its last journal entry when it was marked."""
    listeners: list[Callable[[], None]] = field(default_factory=list)
    """Told when a row is marked (the Orders pane draws it again)."""

    def mark(self, ids: Iterable[str], view: DeskProjection) -> list[str]:
        """Mark the orders of `ids` the journal does not show answered yet; those
        marked. The marks the journal answered meanwhile go."""
        for coid in list(self._marked):
            found = view.order(coid)
            if found is None or cancel_answered(found, self._marked[coid]):
                del self._marked[coid]
        marked = []
        for coid in ids:
            found = view.order(coid)
            if found is not None and not cancel_answered(found):
                self._marked[coid] = found.last_entry
                marked.append(coid)
        if marked:
            for listener in self.listeners:
                listener()
        return marked

    def pending(self, view: OrderView) -> bool:
        """Whether the order's cancel was sent and the journal has not answered it."""
        marked_at = self._marked.get(view.client_order_id)
        if marked_at is None:
            return False
        if cancel_answered(view, marked_at):
            del self._marked[view.client_order_id]
            return False
        return True

    def __len__(self) -> int:
        return len(self._marked)
