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
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from decimal import Decimal

from ..brokers import Broker, BrokerTimeout
from ..domain import Order, OrderRequest
from .cancels import CancelReport, cancel_ids

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


class RaisesInFlight:
    """Quantity raises of working orders on their way to the venue, or taken there and
    not read back yet: the gate counts each order at its new quantity meanwhile. Two
    raises sent at once in REDUCE ONLY (or a raise, then a new order) each passed the
    gate against the other's old quantity, and together turned the position."""

    def __init__(self) -> None:
        # client order id -> (the new quantity, the loop's time of its answer or None)
        self._raised: dict[str, tuple[Decimal, float | None]] = {}

    @contextmanager
    def track(self, client_order_id: str, quantity: Decimal | None) -> Iterator[None]:
        """Around the modify's send; `quantity`: its new quantity (None: unchanged).
        Refused, it is let go at once; answered, or with no answer (it may have been
        taken), it stays until read back."""
        if quantity is None:
            yield
            return
        self._let_go_old()
        self._raised[client_order_id] = (quantity, None)
        try:
            yield
        except Exception as exc:
            if not isinstance(exc, BrokerTimeout):
                self._raised.pop(client_order_id, None)
            raise
        finally:
            if client_order_id in self._raised:
                self._raised[client_order_id] = (quantity, asyncio.get_running_loop().time())

    def _let_go_old(self) -> None:
        """Raises answered longer than `READ_BACK_S` ago: `quantity` lets go only of
        those of working orders it is asked about, and an order that ended after its
        raise is never asked about again."""
        now = asyncio.get_running_loop().time()
        for cid, (_, answered_at) in list(self._raised.items()):
            if answered_at is not None and now - answered_at > READ_BACK_S:
                del self._raised[cid]

    def __len__(self) -> int:
        return len(self._raised)

    def quantity(self, order: Order) -> Decimal:
        """The quantity the gate counts `order` at: its new one while a raise of it is
        on its way or not read back (once the order shows it, ends, or after
        `READ_BACK_S`, the order's own)."""
        raised = self._raised.get(order.client_order_id)
        if raised is None:
            return order.quantity
        quantity, answered_at = raised
        if (
            order.quantity >= quantity
            or order.status.is_terminal
            or (
                answered_at is not None
                and asyncio.get_running_loop().time() - answered_at > READ_BACK_S
            )
        ):
            del self._raised[order.client_order_id]
            return order.quantity
        return quantity
