"""Orders on their way to a venue: passed by the gate, their place not yet answered.

A kill switch or cancel all pulled while an order is on its way cannot cancel it at
the venue yet: the venue does not know it, the cancel comes back "unknown", the venue
does not list it, and it was counted gone, then journaled REJECTED by the reconcile
that follows ("it never reached the venue"), while the venue took it a moment later
and worked it. So such an order is cancelled once its place is answered, and until
then it is neither gone nor settled by a reconcile.

An order the venue took stays here until the engine has read it back from the journal
(`known`): the gate counts it as working meanwhile. Let go when its place returned, a
reduce-only sell sent straight after another was judged without the first, and the
two together turned a long into a short.

Changes of working orders are kept the same way (`ChangesInFlight`), each until the
engine has read its answer back.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from decimal import Decimal
from itertools import islice

from ..brokers import Broker, BrokerTimeout
from ..domain import Order, OrderRequest, OrderUpdate
from ..events import ModifyRequest, ModifyRequestEvent, OrderUpdateEvent
from .cancels import CancelReport, cancel_ids
from .oms import OrderView
from .risk import Terms, terms_of

# How long a kill or cancel all waits for the places on their way to be answered
# (longer than any adapter's own order timeout, after which the place answers).
ANSWER_WAIT_S = 15.0
# How long an answered place waits to be read back before it is let go all the same
# (a request the reader skipped, or an order evicted before it was looked for).
READ_BACK_S = 60.0


@dataclass(slots=True)
class Placing:
    request: OrderRequest
    answered: asyncio.Event = field(default_factory=asyncio.Event)
    refused: bool = False  # the venue (or the adapter) refused it: nothing works
    answered_at: float = 0.0  # the loop's time of its answer


class PlacesInFlight:
    def __init__(self, known: Callable[[str], bool] = lambda _cid: False) -> None:
        self._placing: dict[str, Placing] = {}
        self._known = known  # the engine has read the order back from the journal

    @contextmanager
    def track(self, request: OrderRequest) -> Iterator[Placing]:
        # Each place lets the earlier ones read back go: nothing else may ask (`now`
        # runs only for the rules that count working orders), and held for the whole
        # session they grew with every order.
        self._let_go()
        cid = request.client_order_id
        placing = Placing(request)
        self._placing[cid] = placing
        try:
            yield placing
        finally:
            placing.answered.set()
            placing.answered_at = asyncio.get_running_loop().time()
            if placing.refused or self._known(cid):
                self._placing.pop(cid, None)

    def __len__(self) -> int:
        return len(self._placing)

    def _let_go(self) -> None:
        """Answered places the engine has read back (or that were refused, or waited
        longer than `READ_BACK_S`) are on their way no more."""
        if not self._placing:
            return
        now = asyncio.get_running_loop().time()
        for cid, placing in list(self._placing.items()):
            if placing.answered.is_set() and (
                placing.refused or self._known(cid) or now - placing.answered_at > READ_BACK_S
            ):
                del self._placing[cid]

    def now(
        self, *, broker: str | None = None, instrument: str | None = None
    ) -> dict[str, Placing]:
        """The places on their way now (of one broker / instrument), and those the
        venue took that the engine has not read back yet."""
        self._let_go()
        return {
            cid: p
            for cid, p in self._placing.items()
            if (broker is None or p.request.broker == broker)
            and (instrument is None or p.request.instrument == instrument)
        }


async def cancel_when_answered(
    places: dict[str, Placing],
    report: CancelReport,
    broker_of: Callable[[str], Broker],
    *,
    reason: str,
    delays: Sequence[float],
    wait_s: float = ANSWER_WAIT_S,
) -> CancelReport:
    """`report` (a cancel all's, run beside the places) with the orders that were on
    their way taken out of what it could not settle, and cancelled once each place
    is answered: one refused needs nothing, one whose place is still unanswered after
    `wait_s` is said still working (check it at the venue)."""
    if not places:
        return report
    answers = [p.answered.wait() for p in places.values()]
    with suppress(TimeoutError):  # what is still unanswered is said below
        await asyncio.wait_for(asyncio.gather(*answers), wait_s)
    report = dataclasses.replace(
        report,
        gone=tuple(c for c in report.gone if c not in places),
        still_working={c: w for c, w in report.still_working.items() if c not in places},
    )
    done = set(report.cancelled)
    still: dict[str, str] = {}
    by_broker: dict[str, list[str]] = {}
    for cid, placing in places.items():
        if cid in done or placing.refused:
            continue
        if not placing.answered.is_set():
            still[cid] = (
                f"sent to the venue when the cancel came, and its place has had no answer in "
                f"{wait_s:g} s: check it at the venue"
            )
            continue
        by_broker.setdefault(placing.request.broker, []).append(cid)
    late = await asyncio.gather(
        *(
            cancel_ids(broker_of(name), ids, delays=delays, reason=reason)
            for name, ids in by_broker.items()
        )
    )
    for part in late:
        report = report.merged(part)
    if still:
        report = report.merged(CancelReport(still_working=still))
    return report


@dataclass(slots=True)
class SentChange:
    """One change of an order as it was sent: the fields it gives (None: left as the
    venue holds it) and the order's terms once it is made."""

    quantity: Decimal | None
    limit_price: Decimal | None
    stop_price: Decimal | None
    terms: Terms
    seen: int  # how many events the order's history held when it was sent
    answered_at: float | None = None  # the loop's time of its answer (None: on its way)

    def carried_by(self, update: OrderUpdate) -> bool:
        """`update` reports the order at this change's terms."""
        return (
            (self.quantity is None or update.quantity == self.quantity)
            and (self.limit_price is None or update.limit_price == self.limit_price)
            and (self.stop_price is None or update.stop_price == self.stop_price)
        )

    def asked_by(self, change: ModifyRequest) -> bool:
        """`change` is this change's request, as the broker journaled it."""
        return (change.quantity, change.limit_price, change.stop_price) == (
            self.quantity,
            self.limit_price,
            self.stop_price,
        )


class ChangesInFlight:
    """Changes of working orders sent to the venue and not read back yet.

    A change is answered before the engine's reader has its answer from the bus, and
    the next change of the same order may go at once (the modify dialog sends only the
    field typed). Judged against the order as the OMS held it, a quantity change and
    then a price change passed max_notional together; a raise, then a change the venue
    refused, left the order counted at its old quantity.

    The policy:
    - each change sent is kept, on its own, with the order's terms once it is made:
      the fields it gives over the newest terms sent before it (taken by the venue or
      not answered yet), or over the OMS's order when none is kept;
    - a change the venue (or the adapter) refused is let go at once, and only it; one
      with no answer (a timeout) is kept: the venue may have taken it;
    - a change is let go once the OMS has read back its answer (after its own request
      in the order's history, a report carrying its terms), once the order ended or
      left the OMS, or `READ_BACK_S` after its answer;
    - meanwhile the order may work at the terms of any change kept, or at the OMS's:
      `standing` lists them, newest first. The gate counts the order at the largest
      quantity among them (`quantity`), and a further change is judged from each of
      them (`risk.modify_violations`).
    """

    def __init__(self, view_of: Callable[[str], OrderView | None]) -> None:
        self._view_of = view_of  # the OMS's order and its history, by client order id
        self._sent: dict[str, list[SentChange]] = {}

    @contextmanager
    def track(
        self,
        order: Order,
        *,
        quantity: Decimal | None,
        limit_price: Decimal | None,
        stop_price: Decimal | None,
    ) -> Iterator[SentChange]:
        """Around the change's send. Refused, it is let go at once; answered, or with
        no answer (it may have been taken), it stays until read back."""
        self._let_go_all()
        cid = order.client_order_id
        newest = self.standing(order)[0]
        view = self._view_of(cid)
        change = SentChange(
            quantity,
            limit_price,
            stop_price,
            Terms(
                quantity if quantity is not None else newest.quantity,
                limit_price if limit_price is not None else newest.limit_price,
                stop_price if stop_price is not None else newest.stop_price,
            ),
            seen=len(view.history) if view is not None else 0,
        )
        self._sent.setdefault(cid, []).append(change)
        try:
            yield change
        except Exception as exc:
            if not isinstance(exc, BrokerTimeout):
                self._drop(cid, change)
            raise
        finally:
            change.answered_at = asyncio.get_running_loop().time()

    def _drop(self, client_order_id: str, change: SentChange) -> None:
        sent = self._sent.get(client_order_id)
        if sent is None:
            return
        with suppress(ValueError):
            sent.remove(change)
        if not sent:
            del self._sent[client_order_id]

    def _let_go_all(self) -> None:
        """What has ended of every order's changes: `standing` lets go only of those of
        the working orders it is asked about, and an order that ended after a change is
        never asked about again."""
        for cid in list(self._sent):
            self._let_go(cid)

    def _let_go(self, client_order_id: str) -> list[SentChange]:
        """The order's changes still kept, once those read back, of an order ended or
        gone, and those answered longer than `READ_BACK_S` ago are let go."""
        sent = self._sent.get(client_order_id)
        if sent is None:
            return []
        view = self._view_of(client_order_id)
        if view is None or view.order.status.is_terminal:
            del self._sent[client_order_id]
            return []
        now = asyncio.get_running_loop().time()
        kept = [
            change
            for change in sent
            if change.answered_at is None
            or (now - change.answered_at <= READ_BACK_S and not _read_back(change, view))
        ]
        if kept:
            self._sent[client_order_id] = kept
        else:
            del self._sent[client_order_id]
        return kept

    def __len__(self) -> int:
        return sum(len(sent) for sent in self._sent.values())

    def standing(self, order: Order) -> list[Terms]:
        """The terms `order` may work at now: those of each change sent and not read
        back, newest first, then the order's own."""
        own = terms_of(order)
        if order.client_order_id not in self._sent:
            return [own]
        sent = self._let_go(order.client_order_id)
        return [*(change.terms for change in reversed(sent)), own]

    def quantity(self, order: Order) -> Decimal:
        """The quantity the gate counts `order` at: the largest it may work at."""
        if order.client_order_id not in self._sent:
            return order.quantity
        return max(terms.quantity for terms in self.standing(order))


def _read_back(change: SentChange, view: OrderView) -> bool:
    """The OMS has applied the change's answer: after its request, a report of the order
    at its terms."""
    if change.answered_at is None:
        return False
    asked = False
    for event in islice(view.history, change.seen, None):
        if type(event) is ModifyRequestEvent:
            asked = asked or change.asked_by(event.payload)
        elif asked and type(event) is OrderUpdateEvent and change.carried_by(event.payload):
            return True
    return False
