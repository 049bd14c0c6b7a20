"""Orders on their way to a venue: passed by the gate, their place not yet answered.

A kill switch or cancel all pulled while an order is on its way cannot cancel it at
the venue yet: the venue does not know it, the cancel comes back "unknown", the venue
does not list it, and it was counted gone, then journaled REJECTED by the reconcile
that follows ("it never reached the venue"), while the venue took it a moment later
and worked it. So such an order is cancelled once its place is answered, and until
then it is neither gone nor settled by a reconcile.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field

from ..brokers import Broker
from ..domain import OrderRequest
from .cancels import CancelReport, cancel_ids

# How long a kill or cancel all waits for the places on their way to be answered
# (longer than any adapter's own order timeout, after which the place answers).
ANSWER_WAIT_S = 15.0


@dataclass(slots=True)
class Placing:
    request: OrderRequest
    answered: asyncio.Event = field(default_factory=asyncio.Event)
    refused: bool = False  # the venue (or the adapter) refused it: nothing works


class PlacesInFlight:
    def __init__(self) -> None:
        self._placing: dict[str, Placing] = {}

    @contextmanager
    def track(self, request: OrderRequest) -> Iterator[Placing]:
        placing = Placing(request)
        self._placing[request.client_order_id] = placing
        try:
            yield placing
        finally:
            placing.answered.set()
            del self._placing[request.client_order_id]

    def now(
        self, *, broker: str | None = None, instrument: str | None = None
    ) -> dict[str, Placing]:
        """The places on their way now (of one broker / instrument)."""
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
