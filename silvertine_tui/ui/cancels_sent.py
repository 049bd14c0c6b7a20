"""The orders this desk cancelled or changed whose cancel or change the journal has not
shown yet.

The Orders pane draws from the journal (the projection): while the bus is down the
venue's CANCELED waits in memory with every other event, and a row cancelled then
still read NEW, the trader none the wiser (cancelled again, or taken for a cancel that
failed). Such a row is marked (`Blotter`, `NEW cxl…`) until the journal says
PENDING_CANCEL or the order's end.

A change (a modify) sent then is the same: the venue made it, its answer waits in
memory, and the row read `3,400.00 NEW?` at the old price with nothing said, as if the
change had gone nowhere (a trader sends it again). Such a row is marked `NEW mod…`
(`ModifiesSent`) until the journal says anything of the order after it was sent."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import ClassVar

from ..domain import OrderStatus
from ..engine.projection import DeskProjection, OrderView


def cancel_answered(
    view: OrderView,
    marked_at: str = "",
    under_way: OrderStatus = OrderStatus.PENDING_CANCEL,
) -> bool:
    """Whether the journal shows the order's cancel (`under_way`: the status that says
    the command is under way, PENDING_REPLACE for a change) under way or the order
    ended, or anything of the order journaled since it was marked (`marked_at`, its
    last entry then): a cancel the venue refused reads PENDING_CANCEL then NEW again,
    and both read in one batch (the bus back) left the row `NEW cxl…` for good."""
    status = view.order.status
    if status is under_way or status.is_terminal:
        return True
    return bool(marked_at) and view.last_entry != marked_at


@dataclass(slots=True)
class SentMarks:
    """The orders this desk's own commands reached, by the gateway's word, whose
    answer the journal has not shown yet (the module's docstring)."""

    UNDER_WAY: ClassVar[OrderStatus] = OrderStatus.PENDING_CANCEL
    """The status the journal says the command is under way with."""

    _marked: dict[str, str] = field(default_factory=dict)
    """Marked order -> its last journal entry when it was marked."""
    listeners: list[Callable[[], None]] = field(default_factory=list)
    """Told when a row is marked (the Orders pane draws it again)."""

    def mark(
        self, ids: Iterable[str], view: DeskProjection, since: Mapping[str, str] | None = None
    ) -> list[str]:
        """Mark the orders of `ids` the journal does not show answered yet; those
        marked. `since`: an order's last journal entry before the command went (the
        journal's answer read before the gateway's, with the bus up, is an answer); by
        default, its last entry now. The marks the journal answered meanwhile go."""
        under_way = self.UNDER_WAY
        for coid in list(self._marked):
            found = view.order(coid)
            if found is None or cancel_answered(found, self._marked[coid], under_way):
                del self._marked[coid]
        marked = []
        for coid in ids:
            found = view.order(coid)
            if found is None:
                continue
            at = since.get(coid, found.last_entry) if since is not None else found.last_entry
            if not cancel_answered(found, at, under_way):
                self._marked[coid] = at
                marked.append(coid)
        if marked:
            for listener in self.listeners:
                listener()
        return marked

    def pending(self, view: OrderView) -> bool:
        """Whether the order's command was sent and the journal has not answered it."""
        marked_at = self._marked.get(view.client_order_id)
        if marked_at is None:
            return False
        if cancel_answered(view, marked_at, self.UNDER_WAY):
            del self._marked[view.client_order_id]
            return False
        return True

    def __len__(self) -> int:
        return len(self._marked)


@dataclass(slots=True)
class CancelsSent(SentMarks):
    """The orders this desk's own cancels reached (a cancel `Accepted`; the ids a
    cancel all, reduce only or kill switch reports cancelled), whose answer the journal
    has not shown yet: `NEW cxl…`."""


@dataclass(slots=True)
class ModifiesSent(SentMarks):
    """The orders this desk's own changes reached (a modify `Accepted`), whose answer
    the journal has not shown yet: `NEW mod…`. Answered by PENDING_REPLACE, the
    order's end, or anything of the order journaled after the change went (the new
    terms, or the venue's refusal)."""

    UNDER_WAY: ClassVar[OrderStatus] = OrderStatus.PENDING_REPLACE
