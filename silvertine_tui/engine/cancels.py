"""Cancel every working order, retrying what fails, and say exactly what is left.

Used by cancel-all and the kill switch. The orders to cancel are what the
venue lists as open plus what the OMS thinks is working (either may know one the other
does not). Each order is cancelled on its own, so one refusal stops nothing else; the
refused ones are retried after each delay of `delays` (injectable: tests pass zeros).
An order the venue no longer knows was filled or cancelled meanwhile: it is `gone`,
not an error.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable, Container, Iterable, Sequence
from dataclasses import dataclass, field

from ..brokers import Broker, UnknownOrder
from ..domain import Side
from .oms import OMS

log = logging.getLogger(__name__)

RETRY_DELAYS_S: tuple[float, ...] = (0.25, 0.5, 1.0, 2.0)
"""Waits before each retry of a refused cancel (and of the kill's journal write)."""


def _why(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


@dataclass(frozen=True, slots=True)
class CancelReport:
    """What a cancel-all did: `still_working` maps each order id to why its cancel
    failed on the last try; `problems` are broker-wide (a venue that could not list
    its open orders may hold some the journal does not know)."""

    cancelled: tuple[str, ...] = ()
    gone: tuple[str, ...] = ()
    still_working: dict[str, str] = field(default_factory=dict)
    problems: tuple[str, ...] = ()
    what: str = ""
    """Which orders were meant, when not every working one (said after the count)."""

    @property
    def ok(self) -> bool:
        return not self.still_working and not self.problems

    def summary(self) -> str:
        what = f" {self.what}" if self.what else ""
        parts = [f"cancelled {len(self.cancelled)} order(s){what}"]
        if self.gone:
            parts.append(f"{len(self.gone)} already filled or cancelled at the venue")
        text = "; ".join(parts) + "."
        if self.still_working:
            listed = "; ".join(f"{cid} ({why})" for cid, why in self.still_working.items())
            text += (
                f" {len(self.still_working)} still working: {listed}. "
                "Cancel them at the venue or try cancel all again."
            )
        for problem in self.problems:
            text += f" {problem}."
        return text

    def merged(self, other: CancelReport) -> CancelReport:
        return CancelReport(
            cancelled=self.cancelled + other.cancelled,
            gone=self.gone + other.gone,
            still_working={**self.still_working, **other.still_working},
            problems=self.problems + other.problems,
            what=self.what or other.what,
        )


@dataclass(frozen=True, slots=True)
class KillReport:
    """The kill switch's outcome. Trading is HALTED whatever it says."""

    cancels: CancelReport
    journal_error: str = ""
    by_watcher: bool = False
    """Pulled on a watching desk (`engine.watch`): it has no broker of its own, the
    desks that drive them cancel their orders when they read the KILL."""

    @property
    def cancelled(self) -> tuple[str, ...]:
        return self.cancels.cancelled

    @property
    def still_working(self) -> dict[str, str]:
        return self.cancels.still_working

    @property
    def problems(self) -> tuple[str, ...]:
        return self.cancels.problems

    @property
    def ok(self) -> bool:
        return self.cancels.ok and not self.journal_error

    def summary(self) -> str:
        if self.by_watcher:
            if self.journal_error:
                return (
                    f"The KILL was NOT journaled ({self.journal_error}): no other desk has "
                    "seen it and nothing was cancelled. Pull the kill switch on the desk "
                    "that drives the brokers."
                )
            return (
                "Trading HALTED on every desk on this bus: each desk that drives a broker "
                "cancels its working orders as it reads the KILL (its line follows in the "
                "log)."
            )
        text = f"Trading HALTED; {self.cancels.summary()}"
        if self.journal_error:
            text += (
                f" The KILL was not journaled ({self.journal_error}): a restart would not "
                "know trading is HALTED; check the bus in the health pane."
            )
        return text


async def cancel_on(
    broker: Broker,
    oms: OMS,
    *,
    instrument: str | None = None,
    delays: Sequence[float] = RETRY_DELAYS_S,
    reason: str = "cancel all",
    exclude: Container[str] = (),
    only: Callable[[str, Side], bool] | None = None,
    what: str = "",
) -> CancelReport:
    """Cancel every working order of one broker (optionally of one instrument, or
    those `only(instrument, side)` picks), but those in `exclude`. `what` says which
    orders were meant, in the report."""
    targets: dict[str, None] = {}
    problems: list[str] = []
    try:
        for venue in await broker.open_orders():
            if (instrument is None or venue.instrument == instrument) and (
                only is None or only(venue.instrument, venue.side)
            ):
                targets[venue.client_order_id] = None
    except Exception as exc:
        problems.append(
            f"{broker.source}: could not list its open orders ({_why(exc)}); orders the "
            "journal does not know may still work there"
        )
        log.error("engine.cancel_list_failed", extra={"broker": broker.source, "error": str(exc)})
    for view in oms.working(broker.name, broker.account):
        request = view.order.request
        if (instrument is None or request.instrument == instrument) and (
            only is None or only(request.instrument, request.side)
        ):
            targets[view.client_order_id] = None
    for cid in [cid for cid in targets if cid in exclude]:
        del targets[cid]
    report = await cancel_ids(broker, list(targets), delays=delays, reason=reason, what=what)
    return dataclasses.replace(report, problems=(*problems, *report.problems))


async def cancel_ids(
    broker: Broker,
    client_order_ids: Sequence[str],
    *,
    delays: Sequence[float] = RETRY_DELAYS_S,
    reason: str = "cancel all",
    what: str = "",
) -> CancelReport:
    """Cancel these orders of one broker, each on its own, retrying refused cancels."""
    cancelled: list[str] = []
    gone: list[str] = []
    failed: dict[str, str] = {}
    pending = list(client_order_ids)
    for attempt, delay in enumerate((0.0, *delays)):
        if not pending:
            break
        if delay:
            await asyncio.sleep(delay)
        results = await asyncio.gather(
            *(broker.cancel(cid, reason=reason) for cid in pending), return_exceptions=True
        )
        retry: list[str] = []
        for cid, result in zip(pending, results, strict=True):
            if result is None:
                cancelled.append(cid)
                failed.pop(cid, None)
            elif isinstance(result, UnknownOrder):
                gone.append(cid)
                failed.pop(cid, None)
            elif isinstance(result, Exception):
                failed[cid] = _why(result)
                retry.append(cid)
                log.warning(
                    "engine.cancel_failed",
                    extra={
                        "broker": broker.source,
                        "client_order_id": cid,
                        "attempt": attempt + 1,
                        "error": str(result),
                    },
                )
            else:  # cancelled (the task running this), or worse: never swallowed
                raise result
        pending = retry
    still = {cid: failed[cid] for cid in pending}
    if still:
        log.error("engine.cancel_gave_up", extra={"broker": broker.source, "still_working": still})
    return CancelReport(tuple(cancelled), tuple(gone), still, what=what)


async def cancel_everywhere(
    brokers: Iterable[Broker],
    oms: OMS,
    *,
    instrument: str | None = None,
    delays: Sequence[float] = RETRY_DELAYS_S,
    reason: str = "cancel all",
    exclude: Container[str] = (),
) -> CancelReport:
    """`cancel_on` every broker at once; one report."""
    reports = await asyncio.gather(
        *(
            cancel_on(b, oms, instrument=instrument, delays=delays, reason=reason, exclude=exclude)
            for b in brokers
        )
    )
    total = CancelReport()
    for report in reports:
        total = total.merged(report)
    return total
