"""Which of our orders an IB order is: client order id <-> orderId / permId.

IB numbers an order three ways: `orderId` (per API client id, reused by other clients),
`permId` (TWS-wide, stable for the order's life, across sessions and client ids) and
`orderRef` (free text we set to our client order id; IB does not keep it unique, another
program may use the same text). The journal keeps the permId as the order's
`venue_order_id` (the first OrderUpdate after TWS acknowledged it), so after a restart,
even under another client id, `learn` rebuilds this map from the journal and the orders
TWS reports are ours by permId; orderRef only binds an order whose permId is not known
yet, and never takes a permId that already belongs to another order, but one: a report
whose permId belongs to an order this adapter placed (whose orderRef at TWS is its own
id) and whose orderRef names another order of ours with no permId yet is that other
order's. TWS gave the permId again (a TWS whose state was wiped numbers its orders from
its first permId again; real IB never reuses one): the permId moves to the order the
orderRef names, and `on_perm_reused` is told (the adapter counts and logs it). Before,
the permId's old owner, finished long ago, took the new order's reports: its
acknowledgement was dropped as stale and the order journaled REJECTED ("never reached
the venue") while TWS worked it, and its fills never reached the position. A report
under a permId of ours that is another order's (`_not_of`: from another client id than
the owner's, or, the owner an order this adapter placed that has ended, whose orderRef
is not the owner's id, none included) is no order of ours (`find` answers None): the
adapter takes it as another program's (`ib-<permId>`, `IBState._foreign_id`). Before,
another client's order (no orderRef) given the permId of an order of ours cancelled
before TWS's restart had its fill booked to that cancelled order, above its limit.

Orders the journal adopted on reconcile (open at TWS, not placed by this adapter: by
another client id, in TWS, or by an earlier run whose journal is gone) are added with
`adopt`, by their permId, under the id they were adopted as, so that TWS's reports of
them are journaled from then on.

Records of finished orders leave memory: the last `FINISHED_KEPT` of them are kept (a
late report of one, such as IB's correction of its execution, still finds it; a cancel
of one says it came too late), older ones are forgotten (`on_forget` is told of each, so
the adapter drops what else it keeps of them). An order that works is never forgotten.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from ...domain import OrderStatus

# Finished orders whose record is kept (about a day of a busy desk's orders).
FINISHED_KEPT = 10_000


@dataclass(slots=True)
class OrderIds:
    client_order_id: str
    instrument: str
    order_id: int = 0
    client_id: int = -1
    perm_id: int = 0
    status: OrderStatus = OrderStatus.PENDING_NEW
    adopted: bool = False
    """Found open at TWS and adopted on reconcile, not placed by this adapter."""


class IdentityMap:
    def __init__(
        self,
        on_forget: Callable[[str], None] | None = None,
        on_perm_reused: Callable[[str, str, int], None] | None = None,
    ) -> None:
        self._on_forget = on_forget
        # told (order the permId moves to, its owner before, permId) when TWS's
        # orderRef takes a permId from another order of ours (`find`)
        self.on_perm_reused = on_perm_reused
        self.by_coid: dict[str, OrderIds] = {}
        self._by_perm: dict[int, str] = {}
        self._by_order: dict[tuple[int, int], str] = {}
        self._finished: OrderedDict[str, None] = OrderedDict()  # oldest first
        self.finished_kept = FINISHED_KEPT

    def __contains__(self, client_order_id: object) -> bool:
        return client_order_id in self.by_coid

    def get(self, client_order_id: str) -> OrderIds | None:
        return self.by_coid.get(client_order_id)

    def add(self, client_order_id: str, instrument: str) -> OrderIds:
        ids = self.by_coid.get(client_order_id)
        if ids is None:
            ids = self.by_coid[client_order_id] = OrderIds(client_order_id, instrument)
        return ids

    def bind_order(self, client_order_id: str, client_id: int, order_id: int) -> None:
        ids = self.by_coid[client_order_id]
        self._by_order.pop((ids.client_id, ids.order_id), None)
        ids.client_id, ids.order_id = client_id, order_id
        self._by_order[(client_id, order_id)] = client_order_id

    def adopt(
        self,
        client_order_id: str,
        instrument: str,
        *,
        perm_id: int,
        client_id: int,
        order_id: int,
        status: OrderStatus,
    ) -> OrderIds | None:
        """Follow an order adopted on reconcile; None when its id or permId is another
        order's (one of ours is never taken over)."""
        owner = self._by_perm.get(perm_id)
        known = self.by_coid.get(client_order_id)
        if not perm_id or (owner is not None and owner != client_order_id):
            return None
        if known is not None and not known.adopted:
            return None
        ids = self.add(client_order_id, instrument)
        ids.adopted = True
        self.bind_perm(client_order_id, perm_id)
        if order_id > 0:
            self.bind_order(client_order_id, client_id, order_id)
        else:  # placed in TWS and not bound to an API order id: no (client, order) key
            ids.client_id = client_id
        self.set_status(client_order_id, status)
        return ids

    def bind_perm(self, client_order_id: str, perm_id: int) -> None:
        if not perm_id or client_order_id not in self.by_coid:
            return
        owner = self._by_perm.get(perm_id)
        if owner is not None and owner != client_order_id:
            return
        self.by_coid[client_order_id].perm_id = perm_id
        self._by_perm[perm_id] = client_order_id

    def find(
        self, *, perm_id: int = 0, client_id: int = -1, order_id: int = 0, order_ref: str = ""
    ) -> str | None:
        """Our client order id for an order TWS reports, binding what it learns; None
        for an order not ours, one whose permId TWS gave again included (`_not_of`)."""
        if perm_id and perm_id in self._by_perm:
            owner = self._by_perm[perm_id]
            named = self._named_instead(owner, order_ref)
            if named is None:
                # Another order's report under a permId TWS gave again is nobody's of
                # ours: its caller takes it as another program's order (`None`).
                return None if self._not_of(owner, client_id, order_id, order_ref) else owner
            self._by_perm[perm_id] = named
            self.by_coid[named].perm_id = perm_id
            # (no longer that permId's order at this TWS: nothing of ours reaches the
            # new order through the old one's record)
            self.by_coid[owner].perm_id = 0
            if self.on_perm_reused is not None:
                self.on_perm_reused(named, owner, perm_id)
            return named
        coid = self._by_order.get((client_id, order_id)) if order_id else None
        if coid is None and order_ref in self.by_coid:
            ids = self.by_coid[order_ref]
            if not ids.perm_id or ids.perm_id == perm_id:
                coid = order_ref
        if coid is not None and perm_id:
            self.bind_perm(coid, perm_id)
        return coid

    def _named_instead(self, owner: str, order_ref: str) -> str | None:
        """The order of ours TWS's orderRef names instead of `owner`, the permId's
        owner: only where the owner is an order this adapter placed (its orderRef at
        TWS is its own id, so a report naming another is not of it) and the one named
        is placed here too and holds no permId (orderRef is free text at IB: an order
        bound to its own permId, or one adopted from TWS, is never taken so)."""
        if not order_ref or order_ref == owner:
            return None
        held, named = self.by_coid.get(owner), self.by_coid.get(order_ref)
        if held is None or held.adopted or named is None or named.adopted or named.perm_id:
            return None
        return order_ref

    def _not_of(self, owner: str, client_id: int, order_id: int, order_ref: str) -> bool:
        """Whether a report of `owner`'s permId is of another order, to which TWS gave
        the permId again (a TWS whose state was wiped numbers its orders from its first
        permId again): it comes from another client id than the one the owner is under
        (an order keeps the client id it was placed under for life; judged where both
        are known and the report carries API ids: TWS's completed orders carry none),
        or the owner is an order this adapter placed that has ended and the report's
        orderRef is not its id, or is empty (TWS reports an order of ours, its late
        execution corrections and completed listing included, with the orderRef we
        gave it: `translate.ib_order`). Before, another client's order (no orderRef)
        that took the permId of an order of ours cancelled before TWS's restart had
        its fill booked to that cancelled order, above its limit, said nowhere. A
        working owner keeps a report from its client id whatever its orderRef
        (orderRef is free text at IB: a report taken from a working order of ours
        would leave it working here while it fills at IB)."""
        held = self.by_coid.get(owner)
        if held is None:
            return False
        if order_id > 0 and client_id >= 0 and held.client_id >= 0 and client_id != held.client_id:
            return True
        return not held.adopted and held.status.is_terminal and order_ref != owner

    def known(self, *, perm_id: int = 0, client_id: int = -1, order_id: int = 0) -> str | None:
        """Our client order id for an order TWS reports, by its permId or its (client
        id, order id), binding nothing (`find` binds what it learns)."""
        coid = self._by_perm.get(perm_id) if perm_id else None
        if coid is None and order_id > 0:
            coid = self._by_order.get((client_id, order_id))
        return coid

    def by_order(self, client_id: int, order_id: int) -> str | None:
        return self._by_order.get((client_id, order_id))

    def set_status(self, client_order_id: str, status: OrderStatus) -> None:
        """The order's status. A finished one is kept among the last `finished_kept`;
        the oldest beyond them are forgotten (`on_forget` told of each)."""
        ids = self.by_coid.get(client_order_id)
        if ids is None:
            return
        ids.status = status
        if not status.is_terminal:
            self._finished.pop(client_order_id, None)
            return
        self._finished[client_order_id] = None
        self._finished.move_to_end(client_order_id)
        while len(self._finished) > max(1, self.finished_kept):
            coid, _ = self._finished.popitem(last=False)
            self.forget(coid)
            if self._on_forget is not None:
                self._on_forget(coid)

    def forget(self, client_order_id: str) -> None:
        """Drop an order's record and its keys."""
        self._finished.pop(client_order_id, None)
        ids = self.by_coid.pop(client_order_id, None)
        if ids is None:
            return
        if ids.perm_id and self._by_perm.get(ids.perm_id) == client_order_id:
            del self._by_perm[ids.perm_id]
        if self._by_order.get((ids.client_id, ids.order_id)) == client_order_id:
            del self._by_order[(ids.client_id, ids.order_id)]

    def working(self) -> list[OrderIds]:
        return [ids for ids in self.by_coid.values() if not ids.status.is_terminal]
