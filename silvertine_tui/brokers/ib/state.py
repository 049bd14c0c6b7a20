"""What every part of `IBBroker` shares: the ib_async client, the identity map, the
commission book, the ordered inbox, order bookkeeping, and requests to TWS with their
pacing, timeout and socket errors turned into our `BrokerError`s."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, TypeVar

from ib_async import IB, Contract, RequestError

from ...bus import EventBus
from ...config import IBBrokerConfig
from ...domain import (
    Balance,
    ConnectionState,
    OrderRequest,
    OrderStatus,
    OrderUpdate,
    Position,
    VenueOrder,
)
from ...events import (
    FeeCorrectionEvent,
    FillCorrectionEvent,
    FillEvent,
    Log,
    LogEvent,
    LogLevel,
    ModifyRequest,
    OrderRequestEvent,
    OrderUpdateEvent,
    Reconcile,
    ReconcileEvent,
    ReconcileKind,
)
from ..base import Broker, Clock, JournalOrder
from ..errors import (
    BrokerError,
    BrokerTimeout,
    NotConnected,
    RateLimited,
)
from . import codes
from .contracts import SameContract, key_of, to_decimal
from .counted import TAKES, CountedAhead, JournalReading, Owed
from .fees import CommissionBook, latest_executions
from .identity import IdentityMap
from .inbox import Inbox
from .ledger import ExecutionLedger
from .market import MarketData
from .translate import (
    INACTIVE,
    UNSET_DOUBLE,
    average_of,
    inactive_reason,
    price_or_none,
)

log = logging.getLogger(__name__)

T = TypeVar("T")
L = ConnectionState


Terms = tuple[Decimal | None, Decimal | None, Decimal | None]  # quantity, limit, stop

FINISHED_TRADES_KEPT = 100
"""Finished orders whose trade (and its fills) ib_async's wrapper keeps, the newest
(`IBBroker._tidy_wrapper`); the trades of working orders are always kept."""


def terms_of(request: OrderRequest) -> Terms:
    return (request.quantity, request.limit_price, request.stop_price)


@dataclass(slots=True)
class Pending:
    """An order request waiting for TWS's first answer."""

    future: asyncio.Future[str]
    change: ModifyRequest | None = None


COMPLETED_KEPT = 5_000
"""Completed orders whose words on how they ended are kept (`_note_completed`): more
than TWS lists in a day for a desk's account."""


class IBState(Broker):
    # TWS's 2110 text while it holds (TWS cannot reach IB's servers), and the `ib`
    # link's detail the adapter set DEGRADED for it (`IBBroker._server_link`)
    _server_message: str | None = None
    _server_link_said: str | None = None

    def __init__(self, config: IBBrokerConfig, bus: EventBus, *, clock: Clock = time.time_ns):
        super().__init__(config, bus, clock=clock)
        self.cfg = config
        self.ib = IB()
        self.ib.RaiseRequestErrors = True
        self.ids = IdentityMap(on_forget=self._forget_order, on_perm_reused=self._perm_reused)
        self.market = MarketData(self.ib)
        self.client_ids = [config.client_id, *config.client_id_fallbacks]
        self._client_index = 0
        # client ids TWS answered 326 for, as last asked (a connect or a probe)
        self._ids_in_use: set[int] = set()
        self._homing: asyncio.Task[None] | None = None  # `_go_home`
        # a move back to the desk's own client id under way (`_move_back`): done once
        # it is over (`_moved`); cancels and listings wait for it (`_through_move`)
        self._move: asyncio.Future[None] | None = None
        # places, modifies, cancels and open-orders listings under way (`_working_on_orders`)
        self._at_work = 0
        self._inbox = Inbox(self.source, self._job_failed)
        self._reconnector: asyncio.Task[None] | None = None
        self._poller: asyncio.Task[None] | None = None
        self._watchdog: asyncio.Task[None] | None = None
        self._unanswered = False  # the watchdog set the api link DEGRADED
        self._link_turn = 0  # TWS's link to IB changed (1100/1101/1102) this often
        self._time_turn = asyncio.Lock()  # one reqCurrentTime on its way (`ask_time`)
        self._up = False
        # the rebuild after a (re)connect runs (`IBSession._after_connect`): the api
        # link is DEGRADED, cancels go to orders whose ids on the socket are certain
        self._rebuilding = False
        self._closing = False
        self._connected_before = False
        self._journal_read = False
        self._saw_326 = False
        self._id_refused: asyncio.Event | None = None  # set on 326 during a handshake
        self.fees = CommissionBook(clock)
        # executions TWS counted (an adoption, a status ahead of its executions) before
        # it reported them: not journaled again once what holds them was taken
        self.counted = CountedAhead()
        # the session's executions by contract, for the positions' average price
        self.ledger = ExecutionLedger(config.account)
        # exec ids a reconcile reported: the journal holds them as fills after it
        self._reconciled = self.fees.reconciled
        # corrections the desk could not take, said (`_correction_not_taken`)
        self._corrections_said = self.fees.corrections_said
        # the market link is DEGRADED for prices that are no prices (`MarketData.bad`)
        self._bad_prices_said = False
        self._open_orders_heard = 0  # openOrderEvents seen (`_hook`'s tap of openOrder)
        self._execs_heard = 0  # execDetailsEvents seen (`_hook`'s tap of execDetails)
        # ib_async's trades (and their fills) of finished orders kept in its wrapper,
        # the newest (`IBBroker._tidy_wrapper`); how many trades and fills it held
        # after the last tidy (none at a connect: ib_async empties them when its socket
        # closes); a tidy queued
        self.trades_kept = FINISHED_TRADES_KEPT
        self._tidy_marks = (0, 0)
        self._tidy_queued = False
        self._placing: dict[str, Pending] = {}
        self._modifying: dict[str, Pending] = {}
        # modifies TWS did not answer within `order_timeout_s`: TWS may still take one,
        # and its openOrder then is the desk's modify accepted late, not a change made
        # in TWS's window (`IBOrders._open_order`)
        self._late_modifies: dict[str, ModifyRequest] = {}
        self._cancelling: dict[str, Pending] = {}
        self._last: dict[str, tuple[OrderStatus, Decimal]] = {}  # as TWS last reported
        # the journal's working orders, as the engine last told them (`journal_working`):
        # a reconcile asks TWS how those it no longer lists open ended
        self._journal_working: dict[str, JournalOrder] = {}
        self._intent: set[str] = set()  # last journaled: PENDING_CANCEL / _REPLACE
        # orders whose fate is being asked of TWS after their place got no answer
        # (`resolve_unknown`: one resolution an order at a time)
        self._resolving: set[str] = set()
        self._inactive: set[str] = set()  # TWS's last status: Inactive (journaled)
        # permId -> how TWS's completed order says it ended, and when
        # (`_note_completed`)
        self._completed_said: OrderedDict[int, tuple[str, str]] = OrderedDict()
        # quantity, limit, stop as last journaled (request, modify, amend): an openOrder
        # with other terms is journaled (`_open_order`)
        self._terms: dict[str, Terms] = {}
        self._contracts: dict[str, Contract] = {}
        # configured symbols whose contract lookup failed while connected: key -> why
        # (asked again in the background), and those TWS has no contract for
        self._lookups_failed: dict[str, str] = {}
        # Configured symbols whose failed lookup succeeded since: quoted by the retry
        # task (`_retry_lookups`), whichever lookup found them.
        self._found_later: set[str] = set()
        self._unknown_symbols: list[str] = []
        self._lookup_retry: asyncio.Task[None] | None = None
        self._keys_by_con_id: dict[int, str] = {}
        # Keys refused for standing for a contract another key holds (`SameContract`).
        self._same_contract: dict[str, SameContract] = {}
        # One request of a kind at a time where ib_async keeps one answer per kind
        # (`_turn_for`), by kind: a request of another kind does not wait behind it.
        self._request_turns: dict[str, asyncio.Lock] = {}
        self._balances: dict[str, Balance] = {}
        self._positions_sent: dict[str, Position] = {}  # instrument -> last published
        # conId -> TWS's latest position, its job queued (`_on_position`)
        self._positions_due: dict[int, Any] = {}
        # Whether this socket's executions are read, so that a position can be
        # journaled at the desk's average (`IBBroker._publish_due_position`); until
        # then TWS's positions wait here, conId -> the latest, for the rebuild.
        self._positions_read = False
        self._positions_held: dict[int, Any] = {}
        self._hook()

    @property
    def client_id(self) -> int:
        return self.client_ids[self._client_index]

    @property
    def endpoint(self) -> str:
        return f"{self.cfg.host}:{self.cfg.port}"

    def knows_order(self, client_order_id: str) -> bool:
        ids = self.ids.get(client_order_id)
        return ids is not None and not ids.status.is_terminal

    async def publish_update(self, update: OrderUpdate) -> None:
        self._remember(update)
        await super().publish_update(update)

    async def publish_report(self, update: OrderUpdate, *, put_back: bool = False) -> None:
        """`put_back`: the order's status put back after a change or a cancel refused,
        by the adapter or by TWS (`IBOrders._change_put_back`, `_cancel_put_back`),
        written only while the order here still reads it once `_note_ahead` is done
        (`_moved_since`)."""
        # Remembered at once: a refused write is kept and written again (brokers/kept.py),
        # so TWS's next report of the same status is a duplicate, as it is once written.
        self._remember(update)
        await self._note_ahead(update)
        if put_back and self._moved_since(update):
            return
        await super().publish_report(update)

    def _moved_since(self, update: OrderUpdate) -> bool:
        """Whether the order here reads other than `update`, remembered just before: a
        cancel's PENDING_CANCEL, or TWS's report, came in while `_note_ahead` read the
        journal (its await). Every writer remembers before it waits for the journal's
        lock, so the writes go in the order remembered: written now, the status put
        back landed after the cancel's PENDING_CANCEL or its CANCELED (the journal read
        PARTIALLY_FILLED "modify not sent ..." after CANCELED)."""
        ids = self.ids.get(update.client_order_id)
        if ids is not None and ids.status is update.status:
            return False
        log.info(
            "ib.put_back_dropped",
            extra={
                "broker": self.source,
                "client_order_id": update.client_order_id,
                "status": str(ids.status) if ids is not None else None,
            },
        )
        return True

    async def _note_ahead(self, update: OrderUpdate) -> None:
        """A status that counts more of the order filled than its executions heard
        (TWS's orderStatus ahead of execDetails) is noted with the journal's entry
        before it (`CountedAhead.owe`): a position taken after it holds them."""
        filled = update.filled_qty
        ids = self.ids.get(update.client_order_id)
        if filled is None or filled <= 0 or ids is None:
            return
        coid = update.client_order_id
        if self.counted.accounted(coid, ids.perm_id, filled):
            return
        if self.counted.owes(coid, filled):
            return
        mark = await self._journal_mark()
        if mark is not None:
            self.counted.owe(coid, filled, ids.instrument, mark)

    async def _journal_mark(self) -> str | None:
        """The id of the journal's last entry ("0-0" when empty); None when the journal
        cannot be read."""
        stream = self.bus.layout.exec(self.name, self.account)
        try:
            last = await self.bus.read_last(stream, 1)
        except Exception as exc:  # the bus's trouble is its own to say
            log.warning("ib.journal_unread", extra={"broker": self.source, "error": str(exc)})
            return None
        return last[0].id if last else "0-0"

    async def _taken_since(self, owed: Owed) -> bool:
        """Whether the journal took the venue's position for the owed status's
        instrument after the status (a reconcile's, or one settled from TWS's position
        reports): that position holds the executions the status counted. The journal
        is read once, from the oldest mark asked about on (`CountedAhead.scan`): each
        entry is looked at once however many statuses ask.

        One scan at a time (`JournalScan.lock`): the live executions' path and a
        reconcile's ask at once, and one asked about an older mark starts the scan
        again from there, which wiped the takes the other had read mid-way (its
        execution was then journaled although the position taken held it)."""
        if owed.taken:
            return True
        scan = self.counted.scan
        stream = self.bus.layout.exec(self.name, self.account)
        async with scan.lock:
            try:
                async for entry in self.bus.replay(stream, after=scan.start(owed.mark)):
                    event = entry.event
                    if (
                        isinstance(event, ReconcileEvent)
                        and event.payload.kind in TAKES
                        and event.payload.venue_quantity is not None
                    ):
                        scan.took(entry.id, event.payload.instrument)
                    scan.read(entry.id)
            except Exception as exc:  # unread: journaled as a fill, as before
                log.warning("ib.journal_unread", extra={"broker": self.source, "error": str(exc)})
            owed.taken = scan.taken_after(owed.mark, owed.instrument)
        return owed.taken

    def update_journaled(self, update: OrderUpdate) -> None:
        """The engine's reconcile ended an order, or took TWS's status or terms of it:
        left working here, the order was polled all day and every global cancel waited
        for its end ("no confirmation yet"); its terms, left stale, read as changed at
        TWS again."""
        self._remember(update)

    def _forget_order(self, coid: str) -> None:
        """A finished order the identity map forgot (it keeps the last
        `IdentityMap.finished_kept`): what else is kept of it goes too, so a desk that
        runs for weeks does not hold every order it ever placed."""
        self._last.pop(coid, None)
        self._late_modifies.pop(coid, None)
        self.counted.forget(coid)
        self.fees.forget_order(coid)
        self._terms.pop(coid, None)
        self._intent.discard(coid)
        self._inactive.discard(coid)

    def _perm_reused(self, coid: str, was: str, perm_id: int) -> None:
        """TWS reported a permId that belonged to another order of ours (`was`) with
        the orderRef of `coid`: TWS gave the permId again (its state wiped; real IB
        never reuses one), and the report is `coid`'s (`IdentityMap.find`). Counted
        and logged: the journal's `venue_order_id` of both orders is that permId."""
        self.count_error("perm_id_reused")
        log.warning(
            "ib.perm_id_reused",
            extra={
                "broker": self.source,
                "client_order_id": coid,
                "was": was,
                "perm_id": perm_id,
            },
        )

    def _average_of(self, coid: str, filled: Decimal, perm_id: int = 0) -> Decimal | None:
        """The average price of an order's `filled` quantity where TWS gives none (a
        completed order, listed after the desk was down or its socket dropped, carries
        no average): the volume-weighted average of the fills the journal holds for it
        (a correction in place of the fill it replaced), when they make up `filled`;
        else of TWS's executions of the order (`perm_id`) ib_async holds, when those
        do; else None, never the average of part of the order. Journaled without one,
        its FILLED read `filled 50` with no average in the Log and its history, while
        the Orders pane showed the fills' 149.85."""
        if filled <= 0:
            return None
        journaled = [(f.quantity, f.price) for f in self.fees.fills_of(coid)]
        found = average_of(journaled, filled)
        if found is not None or not perm_id:
            return found
        executions = [
            f
            for f in list(self.ib.wrapper.fills.values())
            if f.execution.permId == perm_id and f.execution.acctNumber in ("", self.account)
        ]
        return average_of(
            (
                (to_decimal(f.execution.shares), to_decimal(f.execution.price))
                for f in latest_executions(executions)
            ),
            filled,
        )

    def _with_average(self, venue: VenueOrder) -> VenueOrder:
        """`venue` with its average price from its fills where TWS gave none
        (`_average_of`)."""
        if venue.avg_price is not None or venue.filled_qty <= 0:
            return venue
        venue_id = venue.venue_order_id or ""
        perm_id = int(venue_id) if venue_id.isdigit() else 0
        avg = self._average_of(venue.client_order_id, venue.filled_qty, perm_id)
        return venue if avg is None else venue.model_copy(update={"avg_price": avg})

    def _ours_under(self) -> set[int]:
        """The client ids this desk's working orders were placed under (orders it
        placed, not adopted ones; one whose id TWS has not told yet is left out)."""
        return {
            ids.client_id
            for ids in self.ids.working()
            if not ids.adopted and ids.client_id >= 0 and ids.client_id in self.client_ids
        }

    def _home_index(self) -> int | None:
        """Which configured client id the session belongs on: the one this desk's
        working orders are under (IB lets only it change them), the configured
        `client_id` when none work; None when they are under several (none reaches
        all of them)."""
        under = self._ours_under()
        held = sorted({self.client_ids.index(client_id) for client_id in under})
        if not held:
            return 0
        return held[0] if len(held) == 1 else None

    def _why_on_this_id(self, other: int) -> str:
        if other in self._ids_in_use:
            # Who holds it TWS does not say: the desk's own dropped socket, or another
            # desk or program connected with it (a copy of this config).
            return (
                f"TWS answered 326 for client id {other}: in use, by this desk's own "
                "dropped connection until TWS lets it go, or by another desk or program "
                "connected with it"
            )
        return f"it connected there while client id {other} was in use at TWS (326)"

    def _way_back(self, other: int) -> str:
        """What the session does about orders left under `other`, one of its ids."""
        if self.client_id in self._ours_under():
            return (
                f"The desk moves to client id {other} once no order of its own works "
                f"under client id {self.client_id} (moved now, those would be out of reach)."
            )
        if self._home_index() is None:
            return (
                "Orders of this desk work under several of its client ids: it stays on "
                f"client id {self.client_id}."
            )
        return f"The desk moves back to client id {other} as soon as TWS frees it."

    @contextlib.contextmanager
    def _working_on_orders(self) -> Iterator[None]:
        """A place, modify, cancel or listing of open orders under way: the session
        does not change its client id meanwhile (`_go_home`)."""
        self._at_work += 1
        try:
            yield
        finally:
            self._at_work -= 1

    async def _through_move(self) -> None:
        """Wait for a move back to the desk's own client id that is under way
        (`IBSession._move_back`) to finish, at most `connect_timeout_s`: a cancel, a
        cancel all (the kill switch's global cancel) or a listing of open orders then
        goes out on the socket the move ends on. The move is the desk's own
        housekeeping: refused meanwhile (NotConnected, "moving from client id 2"), the
        kill switch left the desk's orders working.

        Waiting is the safest of the choices. Before the move closes its socket it
        already steps aside: a cancel under way (`_working_on_orders`) keeps it on its
        id (`_move_to` is asked again after the probe, and nothing is awaited between
        that and closing the socket). Once the socket is closed no cancel can go until
        a socket is up again, and the move's is the one to wait for: stepped aside to
        the fallback id, the desk would wait for a handshake just as long, and from
        there reach the orders under its own id only through the global cancel (IB
        lets only the placing client cancel an order), where the move's end (the id
        those orders are under) reaches each of them. The new socket cannot be opened
        before the old one is closed: ib_async's one `IB` holds the session's
        callbacks, orders and subscriptions. The wait is bounded: a move TWS does not
        complete in time (hung) leaves the cancel refused as before, saying why, and
        the engine retries it; a move that fails (TWS gone) ends the wait at once.
        Called from the move itself (the engine's reconcile on reconnect runs in it),
        nothing is waited for."""
        move = self._move
        if move is None or move.done() or asyncio.current_task() is self._homing:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(move), self.cfg.connect_timeout_s)

    def _moved(self) -> None:
        """A move back is over (LIVE on its socket, or failed): `_through_move` waits
        no longer."""
        move, self._move = self._move, None
        if move is not None and not move.done():
            move.set_result(None)

    def _remember(self, update: OrderUpdate) -> None:
        """What the adapter keeps of a journaled update (its own, or read back from the
        journal): the order's status, our intent, TWS's last status and fill, the terms.
        Nothing for an order the adapter does not follow (kept, it was never let go)."""
        if update.client_order_id not in self.ids:
            return
        self.ids.set_status(update.client_order_id, update.status)
        self._note_intent(update)
        # Whether TWS holds it Inactive, as journaled: after a restart, TWS's next
        # status of a working one is journaled as its turn ("working again").
        if update.status.is_terminal or update.inactive is False:
            self._inactive.discard(update.client_order_id)
        elif update.inactive:
            self._inactive.add(update.client_order_id)
        if update.status not in (OrderStatus.PENDING_CANCEL, OrderStatus.PENDING_REPLACE):
            filled = update.filled_qty
            if filled is None:
                filled = self._last.get(update.client_order_id, (update.status, Decimal(0)))[1]
            self._last[update.client_order_id] = (update.status, filled)
            self._note_terms(update)

    def _note_terms(self, update: OrderUpdate) -> None:
        coid = update.client_order_id
        old = self._terms.get(coid)
        if old is None:
            return  # not placed here nor read from the journal: nothing to compare
        self._terms[coid] = (
            old[0] if update.quantity is None else update.quantity,
            old[1] if update.limit_price is None else update.limit_price,
            old[2] if update.stop_price is None else update.stop_price,
        )

    def _note_intent(self, update: OrderUpdate) -> None:
        """Whether the journal's last word on the order is our own PENDING_CANCEL or
        PENDING_REPLACE: then TWS's next status is journaled even when it equals the
        last one TWS reported (the intent got no answer)."""
        if update.status in (OrderStatus.PENDING_CANCEL, OrderStatus.PENDING_REPLACE):
            self._intent.add(update.client_order_id)
        else:
            self._intent.discard(update.client_order_id)

    async def _learn_from_journal(self) -> None:
        """Our orders and the fills already journaled, so a restart (under any client
        id) knows its orders by permId and never journals a fill twice."""
        if self._journal_read:
            return
        self._journal_read = True
        stream = self.bus.layout.exec(self.name, self.account)
        # What TWS counted before it reported it: an adopted order's count, a status
        # journaled ahead of its executions (`counted.py`)
        counted = JournalReading()
        async for entry in self.bus.replay(stream):
            event = entry.event
            if isinstance(event, OrderRequestEvent):
                self.ids.add(event.payload.client_order_id, event.payload.instrument)
                self._terms[event.payload.client_order_id] = terms_of(event.payload)
                counted.request(event.payload.client_order_id, event.payload.instrument)
            elif isinstance(event, OrderUpdateEvent):
                update = event.payload
                counted.update(update)
                if update.client_order_id in self.ids:
                    self._remember(update)
                    if update.venue_order_id and update.venue_order_id.isdigit():
                        self.ids.bind_perm(update.client_order_id, int(update.venue_order_id))
            elif isinstance(event, FillEvent):
                self.fees.remember_fill(event.payload)
                counted.fill(event.payload)
            elif isinstance(event, FeeCorrectionEvent):
                self.fees.remember_fee(event.payload)
            elif isinstance(event, FillCorrectionEvent):
                self.fees.remember_correction(event.payload)
                counted.correction(event.payload)
            elif isinstance(event, ReconcileEvent):
                counted.reconcile(event.payload)
                self._learn_adopted(event.payload)
                self._learn_reopened(event.payload)
            counted.entry(entry.id)
        counted.into(self.counted)
        self.ledger.touch()  # the executions TWS replayed at connect are known now

    def _learn_adopted(self, rec: Reconcile) -> None:
        """An order a reconcile adopted (open at TWS, not in the journal then), read back
        at a restart: followed by its permId from the start, as `follow_adopted` followed
        it in the run that adopted it. Not read back, TWS's reports of it (the master
        client's live ones, a catch-up's completed orders and executions) were another
        program's until the restart's reconcile found it open again; one that had ended
        meanwhile was never heard of. Its client id and order id are TWS's to say (the
        catch-up binds them from TWS's listing); its executions up to the count it was
        adopted with are held (`JournalReading`)."""
        venue = rec.venue_order
        if rec.kind is not ReconcileKind.VENUE_ORDER_UNKNOWN or venue is None:
            return
        venue_id = venue.venue_order_id or ""
        coid = rec.client_order_id or venue.client_order_id
        if not venue_id.isdigit() or coid in self.ids:
            return
        ids = self.ids.adopt(
            coid,
            venue.instrument,
            perm_id=int(venue_id),
            client_id=-1,  # not known until TWS lists it
            order_id=0,
            status=venue.status,
        )
        if ids is not None:
            self._last[coid] = (venue.status, venue.filled_qty)

    def _learn_reopened(self, rec: Reconcile) -> None:
        """An order the engine's reconcile re-opened (`recovery._reopen`: ended here, a
        FILLED on an execution larger than the order, while TWS still listed it open),
        read back at a restart: working again at TWS's status and count, as
        `update_journaled` made it in the run that re-opened it. The re-opening is
        journaled as the reconcile's own event (a STATUS_MISMATCH carrying TWS's order,
        which the OMS takes: `Order.reopen`), not as an order update, so the journal's
        updates alone left the order at the end they gave it: after a restart its `c`
        was refused as "came too late ... nothing is working there" while TWS worked
        it, and TWS's later statuses of it (a fill's, the kill switch's CANCELED) were
        dropped as stale, the desk showing it working for good."""
        venue = rec.venue_order
        coid = rec.client_order_id
        if (
            rec.kind is not ReconcileKind.STATUS_MISMATCH
            or venue is None
            or venue.client_order_id != coid
            or venue.status.is_terminal
        ):
            return
        ids = self.ids.get(coid)
        if ids is None or not ids.status.is_terminal:
            return  # not followed, or working here already: nothing to re-open
        self._remember(venue.terms_update(rec.detail))
        venue_id = venue.venue_order_id or ""
        if venue_id.isdigit():
            self.ids.bind_perm(coid, int(venue_id))

    async def _job_failed(self, exc: Exception) -> None:
        """A report from TWS the adapter could not journal (its job raised): counted in
        health and said in the desk's Log, not only in the Python log."""
        self.count_error("job_failed")
        what = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
        await self.publish(
            LogEvent.create(
                self.source,
                Log(
                    level=LogLevel.ERROR,
                    message=f"{self.source}: a report from TWS was not journaled ({what}); "
                    "reconcile, and check the order and position in TWS",
                ),
                ts=self.clock(),
            )
        )

    def _enqueue(self, job: Callable[[], Awaitable[None]], *, order: bool = False) -> None:
        """Queue what TWS sent; `order`: a report on an order, which answers a place,
        modify or cancel if one waits (a fill waiting for its commission waits no longer
        then: `fees.wait_for`)."""
        waiting = order and bool(self._placing or self._modifying or self._cancelling)
        self._inbox.put(job, answer=waiting)

    def _fees_due(self, exec_ids: Iterable[str] | None = None) -> None:
        """The fee of each fill journaled without one whose commission report is in
        (of `exec_ids`, else of all), journaled as its correction."""
        for exec_id in self.fees.due(exec_ids):
            self._enqueue(functools.partial(self._correct_fee, exec_id))

    def _spawn(self, coro: Awaitable[None], name: str) -> None:
        async def run() -> None:
            try:
                await coro
            except BrokerError as exc:
                log.warning("ib.task_failed", extra={"broker": self.source, "error": str(exc)})
            except Exception:
                log.exception("ib.task_failed", extra={"broker": self.source, "task": name})

        self.in_background(run(), f"{name}:{self.source}")

    async def settle(self) -> None:
        """Return once everything TWS sent so far is journaled: a reqCurrentTime round
        trip (answered after all earlier messages), then the queue drained."""
        if self.ib.isConnected():
            with contextlib.suppress(Exception):
                await self.ask_time()
        await self._inbox.join()

    async def ask_time(self, timeout_s: float | None = None) -> None:
        """One reqCurrentTime round trip, its wait for its turn included, within
        `timeout_s` (default `request_timeout_s`; else `TimeoutError`). One at a time:
        ib_async keeps a single pending future for the time, so a second request sent
        while the first was on its way took its answer, and the first caller waited out
        its whole timeout (a kill switch's wait for TWS's confirmations among them) for
        an answer that had come. (An answer that comes after its caller gave up still
        answers the next request: that caller may return a moment early.)"""
        async with asyncio.timeout(timeout_s or self.cfg.request_timeout_s):  # turn and all
            async with self._time_turn:
                await self.ib.reqCurrentTimeAsync()

    def _coid(self, perm_id: int, client_id: int, order_id: int, order_ref: str) -> str | None:
        return self.ids.find(
            perm_id=perm_id, client_id=client_id, order_id=order_id, order_ref=order_ref
        )

    def _foreign_id(self, order_ref: str, perm_id: int) -> str:
        """A client order id for an order that is not ours (`_coid` found none): its
        orderRef, unless that names an order known here (orderRef is not unique at IB;
        one naming the order of ours whose permId TWS gave the order again, from
        another client id, is not that order: `IdentityMap.find`), else
        `ib-<permId>`."""
        if order_ref and order_ref not in self.ids:
            return order_ref
        return f"ib-{perm_id}"

    def _key_for(self, contract: Any) -> str:
        key = self._keys_by_con_id.get(getattr(contract, "conId", 0))
        return key if key is not None else key_of(contract, self.cfg.default_venue)

    def _stopping(self) -> bool:
        return self._closing

    def _turn_for(self, what: str) -> contextlib.AbstractAsyncContextManager[Any]:
        """What a request of `what` waits for its turn on. ib_async keys the answer of
        an open-orders or completed-orders listing by its kind, not by a request id:
        two of a kind at once, the second took the first's answer and the first waited
        out its timeout, so those go one at a time, each kind on its own lock. A
        request with its own id (executions) waits for nothing. One lock for every
        request, the kill switch's listing of open orders waited behind a catch-up's
        executions TWS did not answer (10 s after 1102) while its socket was up."""
        if what == "executions":
            return contextlib.nullcontext()
        kind = what.split(" for ")[0]  # "contract details for AAPL": one kind
        return self._request_turns.setdefault(kind, asyncio.Lock())

    async def _request(self, what: str, make: Callable[[], Awaitable[T]]) -> T:
        """One request to TWS: pacing errors (162, 420, 100) wait and try again, a lost
        socket is NotConnected, no answer a BrokerTimeout."""
        delay = self.cfg.pacing_delay_s
        for _ in range(4):
            if not self.ib.isConnected():
                raise NotConnected(f"{self.source}: not connected to TWS; {what} not asked")
            try:
                async with self._turn_for(what):
                    return await asyncio.wait_for(make(), self.cfg.request_timeout_s)
            except RequestError as exc:
                if exc.code not in codes.PACING:
                    raise BrokerError(
                        f"{what}: TWS answered {exc.code} {exc.message}", code=exc.code
                    ) from None
                log.warning(
                    "ib.pacing", extra={"broker": self.source, "what": what, "code": exc.code}
                )
                await asyncio.sleep(delay)
                delay = max(delay * 2, 0.05)
            except TimeoutError:
                raise BrokerTimeout(
                    f"{what}: no answer from TWS in {self.cfg.request_timeout_s:g}s"
                ) from None
            except ConnectionError as exc:
                raise NotConnected(f"{what}: the socket to TWS broke ({exc})") from None
        raise RateLimited(f"{what}: TWS kept answering with pacing violations; try later")

    async def _contract(self, key: str) -> Contract:
        await self.instrument(key)
        return self._contracts[key]

    def _on_status_of(self, trade: Any) -> None:
        order, status = trade.order, trade.orderStatus
        filled = to_decimal(status.filled)
        # A completed order (reqCompletedOrders) has no orderStatus on the wire: its
        # filled quantity is on the order.
        done = order.filledQuantity
        if isinstance(done, float | int | Decimal) and 0 < done < UNSET_DOUBLE:
            filled = max(filled, to_decimal(done))
        snapshot = {
            "status": status.status,
            "filled": filled,
            "avg": status.avgFillPrice,
            "perm_id": order.permId or status.permId,
            "client_id": order.clientId,
            "order_id": order.orderId,
            "order_ref": order.orderRef,
            "reason": inactive_reason(trade)
            if status.status == INACTIVE
            else _cancel_reason(trade) or self._completed_reason(trade),
        }
        self._enqueue(lambda: self._publish_status(snapshot), order=True)

    def _note_completed(self, perm_id: int, completed_status: str, completed_time: str) -> None:
        """What TWS's completed order (`reqCompletedOrders`) says of how the order
        ended, which ib_async drops (it keeps the order and its status, not the
        `OrderState` the words come in): kept by permId for `_completed_reason`, the
        newest `COMPLETED_KEPT`."""
        said = completed_status.strip()
        if not perm_id or not said:
            return
        kept = self._completed_said
        kept.pop(perm_id, None)
        kept[perm_id] = (said, completed_time.strip())
        while len(kept) > COMPLETED_KEPT:
            kept.popitem(last=False)

    def _completed_reason(self, trade: Any) -> str | None:
        """TWS's word on how an order it lists among the day's completed orders ended,
        when nothing else said it (read by a catch-up after a (re)connect: no 202 came
        for an order that ended while the desk was down, or its socket was): the
        completed order's `completedStatus` as TWS words it ("Cancelled by Trader",
        "Cancelled at the end of the day", ...) and its `completedTime`
        (`_note_completed`). Before, the order's end was journaled with no reason, and
        the Log said it ended but not why. None for a fill (TWS's "Filled Size: 3"
        says what the fills say), and when TWS gave nothing (a live status: no
        completed order of it was read)."""
        if trade.orderStatus.status not in ("Cancelled", "ApiCancelled"):
            return None
        order = trade.order
        said = self._completed_said.get(order.permId or trade.orderStatus.permId)
        if said is None or said[0].startswith("Filled"):
            return None
        words, when = said
        at = f" at {when}" if when else ""
        return f"ended at IB while the desk did not hear it: TWS lists it completed{at}: {words}"

    def _queue_terms(self, trade: Any) -> None:
        """Queue the terms TWS holds of an order (its quantity, limit and stop, as in
        an openOrder or a completed order): journaled as an amend when they differ
        from the journal's (`_open_order`), so a fill at those terms that is queued
        after them is no overfill."""
        order = trade.order
        terms = (
            to_decimal(order.totalQuantity),
            price_or_none(order.lmtPrice, None),
            price_or_none(order.auxPrice, None),
        )
        ids = (order.permId, order.clientId, order.orderId, order.orderRef)
        self._enqueue(lambda: self._open_order(ids, terms, trade), order=True)

    # -- implemented by the other parts of IBBroker ----------------------------------------

    async def _open_order(
        self,
        ids: tuple[int, int, int, str],
        terms: tuple[Decimal, Decimal | None, Decimal | None],
        trade: Any,
    ) -> None:
        raise NotImplementedError

    def _hook(self) -> None:
        raise NotImplementedError

    async def _catch_up(self) -> set[str]:
        raise NotImplementedError

    def _tidy_soon(self) -> None:
        raise NotImplementedError

    async def _publish_exec(self, ib_fill: Any, *, live: bool) -> None:
        raise NotImplementedError

    async def _correct_fee(self, exec_id: str) -> None:
        raise NotImplementedError

    async def _publish_position(self, ib_position: Any) -> None:
        raise NotImplementedError

    async def _publish_connect_positions(self, held: Sequence[Any]) -> None:
        raise NotImplementedError

    async def _publish_balances(self) -> None:
        raise NotImplementedError

    def _commission_in(self, ib_fill: Any, currency: str) -> tuple[Decimal, bool]:
        raise NotImplementedError

    async def _lost(self) -> None:
        raise NotImplementedError

    def _on_disconnected(self) -> None:
        raise NotImplementedError

    async def _server_link(self, *, taking_over: bool = False) -> bool:
        raise NotImplementedError

    async def _publish_status(self, s: dict[str, Any]) -> None:
        raise NotImplementedError

    def _market_detail(self) -> str:
        raise NotImplementedError


def _cancel_reason(trade: Any) -> str | None:
    """IB's why, when it cancelled the order itself: its 202 reads `Order Canceled -
    reason:<why>` (empty for a cancel we sent)."""
    entry = trade.log[-1] if trade.log else None
    if entry is None or entry.errorCode != codes.ORDER_CANCELLED:
        return None
    why = str(entry.message).partition("reason:")[2].strip()
    return f"cancelled by IB: {why}" if why else None
