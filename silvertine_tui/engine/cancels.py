"""Cancel every working order, retrying what fails, and say exactly what is left.

Used by cancel-all and the kill switch. The orders to cancel are what the
venue lists as open plus what the OMS thinks is working (either may know one the other
does not). Those the OMS holds go out at once; the venue's listing runs beside them
and adds the ones only it knows (`cancel_on`).

When every order of the account is meant (the kill switch, cancel all with no
instrument: `account_wide`) and the broker has a cancel-all of its own
(`Capabilities.cancel_all_native`), that goes out first: at IB it is the global cancel,
the only request that reaches an order placed under another client id (IB lets only
the placing client cancel an order one by one: this desk's own orders from before a
fallback to another client id, orders adopted on reconcile, orders placed in TWS). A
cancel all of one instrument, or of the orders `only` picks, or with orders to keep
(`exclude`), never uses it: an account-wide cancel would take those too. Nor does a
kill honoured from another desk (`TradingEngine.honour_kill`): an order sent here
while it runs (after a RESUME) must stay, and cannot be kept out of an account-wide
cancel; an order it cannot reach is reported still working, with the reason.

Then each order still open is cancelled on its own, so one refusal stops nothing else.
A cancel that failed for what may pass (no answer, not connected, a rate limit, any
error that is not a refusal) is tried again after each delay of `delays` (injectable:
tests pass zeros); a refusal (`OrderRejected`: the venue said no, or the adapter did by
the venue's rule, as IB's that only the placing client cancels an order one by one) is
reported at once with its reason, since no retry changes it. An order the broker says
it does not know (`UnknownOrder`: a cancel that raced a fill, or one the adapter cannot
address) is `gone` only once the venue's open orders confirm it is no longer working;
one the venue still lists, or that could not be checked, is reported still working
with the reason.

A cancel the venue's rate limit holds (`RateLimited` that is not `retryable` and is
`owed`: the broker sends it by itself once the venue's Retry-After is over, as Binance's
`CancelHeld`) is not tried again here; the order is reported still working, with when
its cancel goes. A listing of the venue's open orders is a read, and reads wait the
Retry-After out: after a cancel or a sweep the rate limit held, a listing is waited for
no longer than `HELD_LISTING_WAIT_S`, and not asked again (the kill switch's report
waited out each Retry-After).

A cancel the venue's ban refuses (`RateLimited`, not `retryable`, not `owed`: Binance's
418, an IP ban of minutes to days) was NOT sent and nothing sends it later: it is not
tried again here either (each try is refused), and the order is reported working, with
until when and what to do (cancel again then, or at the venue's own site or app). It
was reported as held, "goes out by itself", which nothing did. After a sweep the ban
refused, no order's own cancel is sent (each would be refused too).

After a sweep that went out, a report the venue left unknown (cancels with no answer,
open orders it could not list: a TWS frozen as the kill switch went) is followed until
the venue answers, and one line in the Log then says what became of it ("kill switch:
all N order(s) now cancelled at ib/...", or which filled, or which still work:
`_follow`). Orders still working for one same reason are named once, by their short
ids, before it (`_by_reason`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import math
import re
import weakref
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from ..brokers import (
    Broker,
    BrokerTimeout,
    NotConnected,
    OrderRejected,
    RateLimited,
    UnknownOrder,
    ban_said,
)
from ..domain import OrderStatus, Side
from ..domain.clock import utc_time
from ..domain.ids import short_id
from ..events import Log, LogEvent, LogLevel
from ..events.payloads import MetricValue
from .oms import OMS

log = logging.getLogger(__name__)

RETRY_DELAYS_S: tuple[float, ...] = (0.25, 0.5, 1.0, 2.0)
"""Waits before each retry of a refused cancel (and of the kill's journal write)."""

HELD_LISTING_WAIT_S = 1.5
"""How long a listing of the venue's open orders is waited for once the venue's rate
limit holds the cancels (module doc)."""

FOLLOW_UP_DELAYS_S: tuple[float, ...] = (0.5, 1.0, 2.0, 5.0)
"""Waits before each listing a follow-up asks (`_follow`); the last repeats."""

FOLLOW_UP_FOR_S = 600.0
"""How long a report's unknown outcome is followed before the follow-up gives up."""

FOLLOW_UP_STILL_S = 10.0
"""How long an order stays listed open, the venue answering, before a follow-up says
it still works (one the venue is cancelling may be listed a moment more)."""

FOLLOW_UP_OMS_WAIT_S = 5.0
"""How long a follow-up waits for the journal's word on the orders the venue no longer
lists (cancelled or filled) before it says them only ended."""


def _why(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def _final(exc: Exception) -> bool:
    """A refusal no retry changes, a cancel the broker owes, or one the venue's ban
    refuses (module doc)."""
    return (
        (isinstance(exc, OrderRejected) and not exc.retryable)
        or _held(exc) is not None
        or _barred(exc) is not None
    )


def _held(exc: BaseException) -> float | None:
    """The seconds until a cancel the venue's rate limit holds goes out by itself (the
    broker owes it: a `RateLimited` that is not `retryable` and is `owed`), or None."""
    if isinstance(exc, RateLimited) and not exc.retryable and exc.owed:
        return exc.retry_after
    return None


def _barred(exc: BaseException) -> float | None:
    """The seconds the venue's ban refuses every request for more (a `RateLimited` that
    is neither `retryable` nor `owed`: nothing was sent, nothing goes later), or None."""
    if isinstance(exc, RateLimited) and not exc.retryable and not exc.owed:
        return exc.retry_after
    return None


def _held_why(broker: Broker, seconds: float) -> str:
    return (
        f"{broker.source}'s rate limit holds its cancel: it goes out by itself in "
        f"{math.ceil(seconds)} s, once the venue's Retry-After is over"
    )


def _barred_why(broker: Broker, seconds: float) -> str:
    """Why an order the venue's ban kept from its cancel still works, and what to do
    (`ban_said`: the adapter's own error says it so)."""
    until = utc_time(broker.clock() + int(seconds * 1e9))
    return f"its cancel was {ban_said('the venue', until, seconds)}"


NOT_ALL_CANCELLED = "NOT everything cancelled"
"""A report's headline while any order is still working after its cancels."""


def _by_reason(still_working: dict[str, str]) -> list[tuple[str, list[str]]]:
    """The orders still working, grouped by why (in the order first met): an order
    alone keeps its whole id; orders that share a reason are named by their short ids
    (`short_id`, as the Orders pane shows them) before the reason, said once. A
    reason that names its order (`... the cancel of <id>; ...`) is shared when only
    the id differs: the id reads "each". Said once per order, TWS down made a cancel
    all's report (and its Log entry) the same 300-character reason per order."""
    groups: dict[str, list[str]] = {}
    for cid, why in still_working.items():
        groups.setdefault(why.replace(cid, "\0"), []).append(cid)
    said: list[tuple[str, list[str]]] = []
    for why, cids in groups.items():
        if len(cids) == 1:
            said.append((still_working[cids[0]], cids))
        else:
            said.append((why.replace("\0", "each"), [short_id(cid) for cid in cids]))
    return said


def _still_listed(still_working: dict[str, str]) -> str:
    """The orders still working with why, grouped (`_by_reason`): `a, b (why); c (why)`."""
    return "; ".join(f"{', '.join(cids)} ({why})" for why, cids in _by_reason(still_working))


@dataclass(frozen=True, slots=True)
class CancelReport:
    """What a cancel-all did: `still_working` maps each order id to why its cancel
    failed on the last try; `problems` are broker-wide (a venue that could not list
    its open orders may hold some the journal does not know)."""

    cancelled: tuple[str, ...] = ()
    gone: tuple[str, ...] = ()
    """Orders the venue no longer lists as open (filled or cancelled meanwhile): only
    said once the venue's open orders were read after the cancels."""
    still_working: dict[str, str] = field(default_factory=dict)
    problems: tuple[str, ...] = ()
    what: str = ""
    """Which orders were meant, when not every working one (said after the count)."""
    held: bool = False
    """A cancel was held by the venue's rate limit (owed by the broker: module doc)."""
    elsewhere: tuple[str, ...] = ()
    """Orders still working of a broker another desk drives now (this desk lost its
    claim on it: `driven_elsewhere`): their reason names that desk, and they are
    cancelled from there, not "again" from here. Said apart from the others: NOT
    cancelled, refused on this desk (`summary`, `headline`)."""
    elsewhere_said: tuple[str, ...] = ()
    """Of `problems`, those that say a broker another desk drives now
    (`DrivenElsewhere.problem`): nothing failed there, this desk sends it nothing."""

    @property
    def ok(self) -> bool:
        return not self.still_working and not self.problems

    def headline(self) -> str:
        """What failed: the toast's title after `cancel all: ` ("" when nothing did).
        When what is left is only the orders of brokers another desk drives now (this
        desk lost its claim on them), that they were NOT cancelled, and why: `2 NOT
        cancelled: driven elsewhere`. Nothing failed there, nothing is being retried:
        this desk sends those brokers nothing (it read "NOT everything cancelled",
        after a "still going" toast that waited for nothing this desk could do)."""
        if self.ok:
            return ""
        here = [c for c in self.still_working if c not in self.elsewhere]
        if here or any(p not in self.elsewhere_said for p in self.problems):
            return NOT_ALL_CANCELLED
        if self.still_working:
            return f"{len(self.still_working)} NOT cancelled: {DRIVEN_ELSEWHERE}"
        return f"NOT cancelled there: {DRIVEN_ELSEWHERE}"

    def summary(self) -> str:
        what = f" {self.what}" if self.what else ""
        parts = [f"cancelled {len(self.cancelled)} order(s){what}"]
        if self.gone:
            parts.append(f"{len(self.gone)} no longer working at the venue (filled or cancelled)")
        text = "; ".join(parts) + "."
        here = {c: why for c, why in self.still_working.items() if c not in self.elsewhere}
        there = {c: why for c, why in self.still_working.items() if c in self.elsewhere}
        if here:
            listed = _still_listed(here)
            text += (
                f" {len(here)} still working: {listed}. Cancel them at the venue or try "
                "cancel all again."
            )
        if there:
            # Not "still working" beside the others: nothing was tried, nothing is retried.
            text += (
                f" {len(there)} NOT cancelled, refused on this desk: {_still_listed(there)}. "
                f"This desk can cancel none of them: cancel them from that desk{IF_GONE}."
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
            held=self.held or other.held,
            elsewhere=self.elsewhere + other.elsewhere,
            elsewhere_said=self.elsewhere_said + other.elsewhere_said,
        )


IF_GONE = ", or, if it no longer runs, restart this one: it takes the broker back"
"""What a desk that lost its claim says after "from that desk": the desk that took the
broker may have quit since (its claim then free), and this desk never takes it back while
it runs (a review: "cancel it from that desk" of a desk gone)."""

RESTART_TO_TAKE_BACK = "restart this desk: it takes the broker back"
"""What a desk that lost its claim says to do once the desk that took the broker is
known to have gone (`DrivenElsewhere.left`): no desk is left to do it from."""

DRIVEN_ELSEWHERE = "driven elsewhere"
"""A report's headline words for orders this desk did not cancel because another desk
drives their broker now (`CancelReport.headline`)."""


@dataclass(frozen=True, slots=True)
class DrivenElsewhere:
    """A broker of this desk that another desk drives now: this desk lost its claim on
    it (engine/claims.py), closed it, and sends it nothing more."""

    broker: str  # its name (the claim's)
    source: str  # broker/account, as reports name it
    desk: str  # who took it, `desk HOST pid PID` (`ClaimConflict.taker_name`)
    left: str = ""
    """That desk's end, once known (`ClaimConflict.left`: `quit at 14:30:05 UTC`): no
    desk drives the broker then, as far as this desk knows, and naming that desk as
    the one to cancel from sent the trader to a desk that was gone."""

    def why(self) -> str:
        """Why an order of it is not cancelled from here, and where it is."""
        if self.left:
            return (
                f"broker {self.broker} is driven by no desk now as far as this desk knows "
                f"({self.desk}, which took it, {self.left}), and this desk lost its claim "
                "on it"
            )
        return f"broker {self.broker} is driven by {self.desk} now, this desk lost its claim on it"

    def todo(self, what: str, them: str = "it") -> str:
        """What to do about an order of it: `what` ("cancel", "change") `them` from the
        desk that drives it, or, that desk gone, restart this one."""
        if self.left:
            return f"{RESTART_TO_TAKE_BACK}, then {what} {them} from here"
        return f"{what} {them} from that desk{IF_GONE}"

    def problem(self) -> str:
        """A report's problem for this broker when no order of it is known working:
        what it may hold is not this desk's to cancel now."""
        if self.left:
            where = "once this desk is restarted: it takes the broker back"
        else:
            where = f"from that desk{IF_GONE}"
        return f"{self.source}: {self.why()}; any order working there is cancelled {where}"


def not_cancelled_elsewhere(
    driven: DrivenElsewhere, client_order_ids: Sequence[str]
) -> CancelReport:
    """What a cancel all says of the orders of a broker another desk drives now, which
    it sends nothing (`EngineGateway`): each NOT cancelled, refused here, with why
    (`DrivenElsewhere.why`), or, when none is known working, that whatever works
    there is not cancelled by this desk. Before, the cancels went to the broker this
    desk had closed and were retried for seconds (a "still going" toast) until each
    failed `NotConnected`."""
    if client_order_ids:
        why = driven.why()
        return CancelReport(
            still_working=dict.fromkeys(client_order_ids, why), elsewhere=tuple(client_order_ids)
        )
    problem = driven.problem()
    return CancelReport(problems=(problem,), elsewhere_said=(problem,))


def driven_elsewhere(
    report: CancelReport,
    lost: Sequence[DrivenElsewhere],
    broker_of: Callable[[str], str | None],
) -> CancelReport:
    """`report` as said on a desk that lost its claim on the brokers of `lost`: each
    order of one still working is said to be that desk's to cancel (its reason:
    `DrivenElsewhere.why`), in place of the closed broker's `NotConnected` and its
    "send it again once paper/main is LIVE" (never, on this desk); its broker's
    problems (its listing, its account-wide cancel, failed for the same reason) are
    said once as that. `broker_of`: an order's broker name (None: not known)."""
    if not lost:
        return report
    by_name = {d.broker: d for d in lost}
    still = dict(report.still_working)
    elsewhere = list(report.elsewhere)
    touched: set[str] = set()
    for cid in still:
        driven = by_name.get(broker_of(cid) or "")
        if driven is not None:
            still[cid] = driven.why()
            touched.add(driven.broker)
            if cid not in elsewhere:
                elsewhere.append(cid)
    problems = []
    elsewhere_said = list(report.elsewhere_said)
    said: set[str] = set()
    for problem in report.problems:
        driven = next((d for d in lost if problem.startswith(f"{d.source}:")), None)
        if driven is None or problem in report.elsewhere_said:
            problems.append(problem)
        elif driven.broker not in touched and driven.broker not in said:
            said.add(driven.broker)
            problems.append(driven.problem())
            elsewhere_said.append(problems[-1])
    return dataclasses.replace(
        report,
        still_working=still,
        problems=tuple(problems),
        elsewhere=tuple(elsewhere),
        elsewhere_said=tuple(elsewhere_said),
    )


@dataclass(frozen=True, slots=True)
class KillReport:
    """The kill switch's outcome. Trading is HALTED whatever it says (on a watching
    desk: on every desk once the KILL is journaled, and nowhere while it is not)."""

    cancels: CancelReport
    journal_error: str = ""
    by_watcher: bool = False
    """Pulled on a watching desk (`engine.watch`): it has no broker of its own, the
    desks that drive them cancel their orders when they read the KILL."""
    maybe_sent: bool = False
    """A watching desk's KILL whose answer was lost (Redis stopped answering as it
    went): Redis may yet take it, and then every desk halts as it reads it."""
    journaled_late: str = ""
    """When Redis took a KILL this desk kept in memory while it was out of reach (UTC
    time; "" when it was written at once, or still waits: `journal_error`)."""

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

    def headline(self) -> str:
        """What failed, first: the toast's title after `kill switch: ` ("" when
        nothing did). At 80 columns a toast's title is what shows whole."""
        if self.by_watcher:
            if not self.journal_error:
                return ""
            return "KILL NOT CONFIRMED" if self.maybe_sent else "KILL NOT SENT"
        if self.journal_error:
            if self.cancels.ok:
                return "cancelled; KILL NOT JOURNALED"
            return f"{NOT_ALL_CANCELLED}; KILL NOT JOURNALED"
        return self.cancels.headline()

    def summary(self) -> str:
        if self.by_watcher:
            if self.journal_error and self.maybe_sent:
                return (
                    f"The KILL was NOT journaled ({self.journal_error}) as far as this "
                    "desk knows: its answer was lost, so Redis may still take it, and then "
                    "every desk halts as it reads it (HALTED shows here). "
                    "Until then no desk has it; to be sure, pull the kill switch on the "
                    "desk that drives the brokers."
                )
            if self.journal_error:
                return (
                    f"The KILL was NOT journaled ({self.journal_error}): no other desk has "
                    "seen it and nothing was cancelled; it is not kept to be sent later. "
                    "Pull the kill switch on the desk that drives the brokers, or here "
                    "again once the bus is back."
                )
            return (
                "Trading HALTED on every desk on this bus: each desk that drives a broker "
                "cancels its working orders as it reads the KILL (its line follows in the "
                "log)."
            )
        text = f"Trading HALTED; {self.cancels.summary()}"
        if self.journaled_late:
            text += (
                f" The KILL was journaled late, at {self.journaled_late}, once Redis "
                "answered (it was out of reach as the KILL was pulled): other desks halt "
                "as they read it."
            )
        if self.journal_error:
            text += (
                f" The KILL was not journaled ({self.journal_error}): other desks do not "
                "see it until it is (should this desk stop first, its next start writes "
                "it); check the bus in the health pane."
            )
        return text


@dataclass(frozen=True, slots=True)
class _Listing:
    """What the venue listed as open: the ids the cancel means (`targets`), every open
    id (`open`), and, when it could not list them, why (`why_not`) and what that leaves
    unknown (`problem`, for the report)."""

    targets: tuple[str, ...] = ()
    open: frozenset[str] = frozenset()
    why_not: str = ""
    problem: str = ""


def _every(_instrument: str, _side: Side) -> bool:
    return True


async def _within(
    broker: Broker,
    listing: asyncio.Future[_Listing],
    bound_s: float | None,
    since: float | None = None,
) -> _Listing:
    """`listing` (asked at `since`, the loop's time; None: now), waited for until
    `bound_s` after it was asked (None: as long as it takes). Past it the venue's rate
    limit holds it (reads wait its Retry-After out): it is dropped, and the report says
    what that leaves unknown."""
    if bound_s is None:
        return await listing
    loop = asyncio.get_running_loop()
    left = bound_s if since is None else since + bound_s - loop.time()
    done, _ = await asyncio.wait({listing}, timeout=max(left, 0.0))
    if done:
        return listing.result()
    listing.cancel()
    log.warning("engine.cancel_list_held", extra={"broker": broker.source, "bound_s": bound_s})
    why = (
        f"the venue's rate limit holds its listing of open orders (not waited for more "
        f"than {bound_s:g} s)"
    )
    return _Listing(
        why_not=why,
        problem=f"{broker.source}: {why}; orders the journal does not know may still work "
        "there until its held cancels go out",
    )


async def _listed(
    broker: Broker,
    meant: Callable[[str, Side], bool] = _every,
    *,
    level: int = logging.WARNING,
) -> _Listing:
    """The venue's open orders, asked once; a failure is logged at `level`."""
    try:
        venue = await broker.open_orders()
    except Exception as exc:
        log.log(
            level, "engine.cancel_list_failed", extra={"broker": broker.source, "error": str(exc)}
        )
        return _Listing(
            why_not=_why(exc),
            problem=f"{broker.source}: could not list its open orders ({_why(exc)}); orders "
            "the journal does not know may still work there",
        )
    return _Listing(
        tuple(o.client_order_id for o in venue if meant(o.instrument, o.side)),
        frozenset(o.client_order_id for o in venue),
    )


async def cancel_on(
    broker: Broker,
    oms: OMS,
    *,
    instrument: str | None = None,
    delays: Sequence[float] = RETRY_DELAYS_S,
    reason: str = "cancel all",
    exclude: Collection[str] = (),
    only: Callable[[str, Side], bool] | None = None,
    what: str = "",
    account_wide: bool = False,
) -> CancelReport:
    """Cancel every working order of one broker (optionally of one instrument, or
    those `only(instrument, side)` picks), but those in `exclude`. `what` says which
    orders were meant, in the report. `account_wide`: every order of the account is
    meant, so the broker's own cancel-all goes first when it has one (module doc).

    The orders the journal knows are cancelled at once, while the venue is asked for
    its open orders beside them: the listing only adds the orders the journal does not
    know. Asked first, a venue slow to answer (or not answering: three tries of 10 s at
    Binance) held every cancel back behind it, the kill switch's included."""

    def meant(on: str, side: Side) -> bool:
        return (instrument is None or on == instrument) and (only is None or only(on, side))

    known = [
        view.client_order_id
        for view in oms.working(broker.name, broker.account)
        if meant(view.order.request.instrument, view.order.request.side)
        and view.client_order_id not in exclude
    ]
    sweep = (
        account_wide
        and instrument is None
        and only is None
        and broker.capabilities.cancel_all_native
        and not exclude
    )
    listing = asyncio.ensure_future(_listed(broker, meant, level=logging.ERROR))
    asked = asyncio.get_running_loop().time()
    try:
        if not sweep:
            first = await cancel_ids(broker, known, delays=delays, reason=reason, what=what)
            listed = await _within(
                broker, listing, HELD_LISTING_WAIT_S if first.held else None, asked
            )
            done = set(known)
            extra = [c for c in listed.targets if c not in done and c not in exclude]
            report = first
            if extra:
                report = first.merged(
                    await cancel_ids(broker, extra, delays=delays, reason=reason, what=what)
                )
            said = (listed.problem,) if listed.problem else ()
            return dataclasses.replace(report, problems=(*said, *report.problems))
        if known:
            # (a task of its own, as the listing is: the listing asks first)
            swept, sweep_error, ask, stop = await asyncio.ensure_future(_sweep(broker, reason))
            listed = await _within(
                broker, listing, HELD_LISTING_WAIT_S if stop is not None else None, asked
            )
        else:
            listed = await listing
            if not listed.targets and not listed.problem:
                return CancelReport(what=what)  # nothing working here, as far as both know
            swept, sweep_error, ask, stop = await _sweep(broker, reason)
    finally:
        listing.cancel()  # only if this task was cancelled meanwhile
    targets = list(dict.fromkeys((*known, *listed.targets)))
    rest = [c for c in targets if c not in swept]
    if stop is not None:
        # The broker owes its cancel-all (held: it goes out by itself once the venue's
        # Retry-After is over), or the venue's ban refused it (nothing goes later).
        # Each order's own cancel would be held or refused too (held, it would race
        # the owed one then), and the venue asked again would hold the report for the
        # Retry-After.
        held = _held(stop)
        seconds = held if held is not None else _barred(stop) or 0.0
        why = _held_why(broker, seconds) if held is not None else _barred_why(broker, seconds)
        log.error(
            "engine.cancel_all_held" if held is not None else "engine.cancel_all_banned",
            extra={"broker": broker.source, "still_working": rest, "retry_after_s": seconds},
        )
        problems = [listed.problem] if listed.problem else []
        return CancelReport(
            cancelled=tuple(swept),
            still_working=dict.fromkeys(rest, why),
            problems=tuple(problems),
            what=what,
            held=held is not None,
        )
    # What the sweep did not name may have ended by it all the same (IB names only the
    # orders it tracks: not one of another client id placed since the reconcile, whose
    # own cancel IB refuses): the venue is asked once more, unless the sweep sent
    # nothing or the broker cannot be reached now. One it still lists is cancelled on
    # its own; so is one it did not list before either (sent a moment ago, not
    # acknowledged yet: it may still arrive); one it listed before and no longer does
    # ended. Without that answer, each is cancelled on its own (one that ended comes
    # back unknown, and is `gone` once the venue no longer lists it).
    # A first listing that failed is asked again too: the venue answered the sweep (a
    # TWS that woke from a freeze after the listing's timeout), so it may answer now,
    # and what it lists settles what the failure left unknown (the report read "NOT
    # everything cancelled ... could not list its open orders" of a kill that had
    # cancelled everything). An order it lists that the journal does not know is
    # cancelled on its own.
    after = await _listed(broker) if ask and (rest or listed.why_not) else None
    if after is None or after.why_not:
        left = rest
    else:
        left = [c for c in rest if c in after.open or c not in listed.open]
        if listed.why_not:
            left += [c for c in after.targets if c not in targets]
            listed = after  # its problem is settled
    gone = tuple(cid for cid in targets if cid not in swept and cid not in left)
    report = await cancel_ids(broker, left, delays=delays, reason=reason, what=what)
    problems = [listed.problem] if listed.problem else []
    if sweep_error is not None and not report.ok:
        problems.append(_sweep_problem(broker, sweep_error, report.still_working.values()))
    report = dataclasses.replace(
        report,
        cancelled=(*swept, *report.cancelled),
        gone=(*gone, *report.gone),
        problems=(*problems, *report.problems),
    )
    _follow(broker, oms, report if ask and not report.ok else None, reason, bool(listed.problem))
    return report


def _sweep_problem(broker: Broker, error: Exception, said: Iterable[str] = ()) -> str:
    """What a report says of an account-wide cancel that did not end every order.

    One that went out with no answer in time (`BrokerTimeout`: IB's global cancel "sent;
    no confirmation yet") was sent: the venue may still carry it out, and the Orders
    pane follows its word. Said as "failed", a trader took it for one that never left.
    Any other error: it failed; for a reason the report already gives an order still
    working (`said`: TWS down, the same `NotConnected`), not said again."""
    if isinstance(error, BrokerTimeout):
        return (
            f"{broker.source}: its account-wide cancel was sent but not confirmed ({error}); "
            "the orders still working may yet end by it: the Orders pane shows each as the "
            "venue reports it; cancel any still working there at the venue or with cancel "
            "all again"
        )
    why = _why(error)
    if why in said:
        return (
            f"{broker.source}: its account-wide cancel failed for the same reason "
            f"({type(error).__name__})"
        )
    return f"{broker.source}: its account-wide cancel failed ({why})"


async def _sweep(
    broker: Broker, reason: str
) -> tuple[list[str], Exception | None, bool, RateLimited | None]:
    """The broker's own cancel-all (no instrument): what it cancelled, why it failed
    (None when it did not), and whether the venue is worth asking what is still open.

    Not after a cancel-all that sent nothing (`NotConnected`) or left its broker unable
    to carry a cancel (its order path down): each order then gets its own cancel, whose
    answer says what became of it. Asked, a venue that had just failed the cancel-all
    (unreachable, or hung: its listing waited out three tries of 10 s at Binance) held
    the kill switch's report back as long again. After one that went out unconfirmed
    (IB: "no confirmation yet") it is asked, as after one that worked: TWS tells only
    their own client of other client ids' orders it ended.

    The last: when the venue's rate limit held it (the broker sends it by itself once
    the Retry-After is over) or its ban refused it (nothing goes later: module doc),
    that error; else None."""
    try:
        return await broker.cancel_all(reason=reason), None, True, None
    except Exception as exc:
        log.warning("engine.cancel_all_failed", extra={"broker": broker.source, "error": _why(exc)})
        stop = exc if isinstance(exc, RateLimited) and _final(exc) else None
        ask = stop is None and not isinstance(exc, NotConnected) and broker.sendable(cancel=True)
        return [], exc, ask, stop


_following: weakref.WeakKeyDictionary[Broker, asyncio.Task[None]] = weakref.WeakKeyDictionary()
"""Each broker's follow-up running (`_follow`): one at a time."""


def _follow(
    broker: Broker, oms: OMS, report: CancelReport | None, reason: str, unlisted: bool
) -> None:
    """Follow what an account-wide cancel (the kill switch, cancel all of everything)
    left unknown, and say in the Log once it is known: `report`, the broker's own,
    None when nothing is left to follow (a newer report supersedes a follow-up still
    running, which is dropped).

    Followed when the broker's cancel-all went out (`_sweep`'s `ask`) and the report is
    not ok: the venue may yet carry the cancels out (a TWS frozen as they went acts on
    them when it wakes). Said: "all N order(s) now cancelled at ib/...", or which ended
    otherwise, or which still work, in one line (a WARNING; an ERROR, a toast, only
    for orders still working), never one per order. Before, the kill's report was the
    last word: "NOT everything cancelled" stayed, though TWS had cancelled everything
    when it woke. `unlisted`: the venue's open orders could not be listed, so orders
    the journal does not know are followed too."""
    earlier = _following.pop(broker, None)
    if earlier is not None:
        earlier.cancel()
    if report is None:
        return
    task = broker.in_background(
        _follow_up(broker, oms, report, reason, unlisted), f"cancel-follow-up:{broker.source}"
    )
    _following[broker] = task


async def _follow_up(
    broker: Broker, oms: OMS, report: CancelReport, reason: str, unlisted: bool
) -> None:
    """`_follow`'s work: the venue's open orders asked until it answers and none of the
    orders followed is listed (or one stays listed `FOLLOW_UP_STILL_S`), then the
    journal's word on each (`FOLLOW_UP_OMS_WAIT_S`), then the line."""
    what = reason.split(" (", 1)[0] or reason
    watched = list(report.still_working)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + FOLLOW_UP_FOR_S
    listed_since: dict[str, float] = {}
    tries = 0
    while True:
        await asyncio.sleep(FOLLOW_UP_DELAYS_S[min(tries, len(FOLLOW_UP_DELAYS_S) - 1)])
        tries += 1
        if loop.time() > deadline:
            log.warning(
                "engine.cancel_follow_up_gave_up",
                extra={"broker": broker.source, "orders": watched, "after_s": FOLLOW_UP_FOR_S},
            )
            return
        try:
            venue = await broker.open_orders()
        except Exception as exc:  # not answering yet: asked again
            log.info(
                "engine.cancel_follow_up_unanswered",
                extra={"broker": broker.source, "error": _why(exc)},
            )
            continue
        now = loop.time()
        listed = [o.client_order_id for o in venue]
        still = [c for c in listed if c in watched or (unlisted and oms.get(c) is None)]
        for cid in list(listed_since):
            if cid not in still:
                del listed_since[cid]
        for cid in still:
            listed_since.setdefault(cid, now)
        if not still:
            break
        if all(now - since >= FOLLOW_UP_STILL_S for since in listed_since.values()):
            said = ", ".join(short_id(c) for c in still)
            await _say(
                broker,
                LogLevel.ERROR,
                f"{what}: {len(still)} order(s) still working at {broker.source} after "
                f"its cancels, as it lists them now: {said}. Cancel them at the venue or "
                "with cancel all again.",
                len(still),
                what,
            )
            return
    # None of them is listed now: the journal says how each ended.
    for _ in range(math.ceil(FOLLOW_UP_OMS_WAIT_S / 0.05)):
        if all(_ended(oms, c) for c in watched):
            break
        await asyncio.sleep(0.05)
    cancelled = [c for c in watched if _status(oms, c) is OrderStatus.CANCELED]
    filled = [c for c in watched if _status(oms, c) is OrderStatus.FILLED]
    other = [c for c in watched if c not in cancelled and c not in filled]
    total = len(report.cancelled) + len(cancelled)
    nothing = " Nothing is working there now." if not listed else ""
    if not filled and not other and total:
        said = f"{what}: all {total} order(s) now cancelled at {broker.source}.{nothing}"
    elif not filled and not other:  # nothing was working as far as the journal knew
        said = f"{what}: confirmed at {broker.source}: nothing is working there now."
        if listed:  # (orders sent since)
            said = f"{what}: confirmed at {broker.source}: none of the orders it meant works."
    else:
        parts = [f"{total} order(s) cancelled"] if total else []
        if filled:
            parts.append(f"{len(filled)} filled ({', '.join(short_id(c) for c in filled)})")
        if other:
            ids = ", ".join(short_id(c) for c in other)
            parts.append(f"{len(other)} no longer working there ({ids})")
        said = f"{what}: none of its orders works at {broker.source} now: {'; '.join(parts)}."
    await _say(broker, LogLevel.WARNING, said, 0, what)


def _status(oms: OMS, cid: str) -> OrderStatus | None:
    view = oms.get(cid)
    return view.order.status if view is not None else None


def _ended(oms: OMS, cid: str) -> bool:
    status = _status(oms, cid)
    return status is not None and status.is_terminal


_KEPT_NOTHING = re.compile(
    r", and nothing is kept to send later\. Send it again once \S+ is LIVE "
    r"\((the health pane shows its connection)\)\."
)
"""The words of a cancel refused because its broker is away (`Broker._require_tradable`:
nothing sent, nothing kept, send it again once the broker is LIVE), past "nothing was
sent". Not those of a broker up with an order link down ("once the path is back": a
venue's ban, a clock it refuses), whose return announces no reconnect."""


def kept_by_kill(report: CancelReport, sources: Mapping[str, str]) -> CancelReport:
    """`report` (a kill switch's) as said once its still-working orders are owed to it
    (`TradingEngine.kill_owed`; `sources`: each owed order's broker, `broker/account`):
    a cancel refused unsent because the broker was away no longer says "nothing is kept
    to send later. Send it again once ... is LIVE", since the kill keeps it and makes it
    once that broker is back (its reconnect), while trading is still HALTED
    (`TradingEngine.cancel_kill_owed`). Said so, the toast and the journaled report
    told the trader to do what the desk then did by itself (the Binance drill)."""
    still: dict[str, str] = {}
    for cid, why in report.still_working.items():
        source = sources.get(cid)
        if source is not None:
            why = _KEPT_NOTHING.sub(_kept_words(source), why)
        still[cid] = why
    if still == report.still_working:
        return report
    return dataclasses.replace(report, still_working=still)


def _kept_words(source: str) -> Callable[[re.Match[str]], str]:
    def words(match: re.Match[str]) -> str:
        return (
            f"; its cancel is kept: made once {source} is back, while trading is still "
            f"HALTED ({match.group(1)})."
        )

    return words


async def say_follow_up(broker: Broker, report: CancelReport, what: str) -> None:
    """What a follow-up's own cancels did (`TradingEngine.cancel_kill_owed`: the orders a
    kill switch left working, cancelled once `broker` is back), as a follow-up's line
    (`_say`): all cancelled, a WARNING (the desk's kill toast is then over); any still
    working, an ERROR naming them."""
    where = f"{broker.source} is back"
    if report.still_working:
        message = (
            f"{what}: {where}: {len(report.still_working)} order(s) it left working still "
            f"work: {_still_listed(report.still_working)}. Cancel them at the venue or with "
            "cancel all again."
        )
        await _say(broker, LogLevel.ERROR, message, len(report.still_working), what)
        return
    done = len(report.cancelled) + len(report.gone)
    message = f"{what}: {where}: cancelled the {done} order(s) it had left working."
    await _say(broker, LogLevel.WARNING, message, 0, what)


async def _say(broker: Broker, level: LogLevel, message: str, working: int, what: str) -> None:
    """A follow-up's line in the desk's Log (the engine's, on the bus: every desk reads
    it). Its fields say what it follows up (`cancel_follow_up`: the broker) and how
    many orders it found still working, for a reader that acts on it (a desk clearing
    the kill's error toast once none is)."""
    log.log(
        logging.ERROR if level is LogLevel.ERROR else logging.WARNING,
        "engine.cancel_follow_up",
        extra={"broker": broker.source, "said": message},
    )
    fields: dict[str, MetricValue] = {
        "cancel_follow_up": broker.source,
        "still_working": working,
        "of": what,  # `kill switch`, `cancel all`: whose report it settles
    }
    try:
        await broker.bus.publish(
            LogEvent.create(
                "engine", Log(level=level, message=message, fields=fields), ts=broker.clock()
            )
        )
    except Exception:
        log.exception("engine.cancel_follow_up_not_logged", extra={"said": message})


async def cancel_ids(
    broker: Broker,
    client_order_ids: Sequence[str],
    *,
    delays: Sequence[float] = RETRY_DELAYS_S,
    reason: str = "cancel all",
    what: str = "",
) -> CancelReport:
    """Cancel these orders of one broker, each on its own, retrying the cancels that
    failed for what may pass (a refusal is final at once). One the broker does not know
    is `gone` only if the venue no longer lists it."""
    cancelled: list[str] = []
    unknown: dict[str, str] = {}
    failed: dict[str, str] = {}
    refused: list[str] = []
    held = False
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
                unknown[cid] = str(result)
                failed.pop(cid, None)
            elif isinstance(result, Exception):
                barred = _barred(result)
                if not (isinstance(result, NotConnected) and cid in failed):
                    # A retry refused before it was sent (the broker down since) says
                    # less than the attempt before it, whose cancel may have reached
                    # the venue ("may still be working"): its words stand.
                    failed[cid] = _why(result) if barred is None else _barred_why(broker, barred)
                (refused if _final(result) else retry).append(cid)
                held = held or _held(result) is not None
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
    still = {cid: failed[cid] for cid in [*refused, *pending]}
    gone: list[str] = []
    if unknown:
        listing = asyncio.ensure_future(_listed(broker))
        try:
            after = await _within(broker, listing, HELD_LISTING_WAIT_S if held else None)
        finally:
            listing.cancel()  # only if this task was cancelled meanwhile
        for cid, why in unknown.items():
            if after.why_not:
                still[cid] = (
                    f"{why}; whether it still works could not be checked: the open orders "
                    f"could not be listed ({after.why_not})"
                )
            elif cid in after.open:
                still[cid] = f"{why}; the venue still lists it as working"
            else:
                gone.append(cid)
    if still:
        log.error("engine.cancel_gave_up", extra={"broker": broker.source, "still_working": still})
    return CancelReport(tuple(cancelled), tuple(gone), still, what=what, held=held)


async def cancel_everywhere(
    brokers: Iterable[Broker],
    oms: OMS,
    *,
    instrument: str | None = None,
    delays: Sequence[float] = RETRY_DELAYS_S,
    reason: str = "cancel all",
    exclude: Collection[str] = (),
    account_wide: bool = True,
) -> CancelReport:
    """`cancel_on` every broker at once; one report. With no instrument every order of
    each account is meant: each broker's own cancel-all goes first, unless
    `account_wide` is False (a kill honoured from another desk: an order the trader
    sends here meanwhile, after a RESUME, must not be taken by it)."""
    reports = await asyncio.gather(
        *(
            cancel_on(
                b,
                oms,
                instrument=instrument,
                delays=delays,
                reason=reason,
                exclude=exclude,
                account_wide=account_wide and instrument is None,
            )
            for b in brokers
        )
    )
    total = CancelReport()
    for report in reports:
        total = total.merged(report)
    return total
