"""`IBBroker`: Interactive Brokers through TWS or IB Gateway, over ib_async's `IB`.

How it listens. ib_async calls back from its socket reader; the adapter turns each
callback into a job on one queue (`_inbox`) that a single task runs in order, so the
journal sees reports in the order TWS sent them. Statuses come from `orderStatusEvent`
except the ones ib_async makes up itself after an error (their log entry carries the
error code): on a refused modify or an unknown cancel ib_async marks a working order
Cancelled, and only TWS's next report says what the order is. Commission reports are
tapped before ib_async sees them, because it drops one that arrives before its
execution.

Links: `api` (the socket to TWS) and `ib` (TWS's own link to IB's servers, 1100/1101/
1102) carry orders; `market` (tickers) only degrades. Each ticker's close (TWS's tick
type 9: the prior session's close) is published as the instrument's reference price,
what the Quotes pane's Chg% is measured from, when it first comes and when it changes.
A fill is journaled once per execution id, with the fee of its commission report
(waiting `commission_wait_s` for it); a report that comes later is journaled as a
`FeeCorrectionEvent`. IB's correction of an execution (the execId again, a later
count after its final period) is journaled as a `FillCorrectionEvent` of the fill.

The class is assembled from parts: `state.py` (shared state, requests), `session.py`
(the socket and reconnects), `orders.py` (place, modify, cancel); this module holds the
callbacks, what TWS holds (orders, positions, balances, reconcile) and market data.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, ClassVar

from ib_async import ExecutionFilter

from ...domain import (
    Balance,
    Capabilities,
    ConnectionState,
    Fill,
    FillCorrection,
    Instrument,
    MarketDataKind,
    ModifyStyle,
    Position,
    TimeInForce,
    VenueOrder,
)
from ...domain.clock import utc_time
from ...events import FeeCorrectionEvent, FillCorrectionEvent, Log, LogEvent, LogLevel
from ...events.summary import corrected_text, price_text, qty_text
from ..base import JournalOrder, ReconcileReport
from ..errors import (
    BrokerError,
    NotConnected,
    OrderRejected,
)
from . import codes
from .contracts import (
    SameContract,
    candidates,
    instrument_from,
    normalize_key,
    pick,
    to_decimal,
)
from .fees import latest_executions, newer
from .market import bad_prices, quote_of, reference_of
from .orders import IBOrders, trim_trade, undo_guess, undo_warning
from .session import IBSession
from .translate import (
    ENDED_AT_TWS,
    OPEN_AT_TWS,
    ORDER_TYPES,
    UNSET_DOUBLE,
    balances_of,
    fill_of,
    position_of,
    venue_order,
)

log = logging.getLogger(__name__)

L = ConnectionState


class DecoderLog(logging.LoggerAdapter[logging.Logger]):
    """ib_async's decoder's logger, for one connection (`IBBroker._hook`). ib_async's
    `Decoder` reads each message TWS sends and, when it cannot (a field that is no
    number, a message id it does not know), logs "Error handling fields: [...]" (or
    "Error for <method>(...)") at ERROR with the exception and drops the message:
    nothing else tells. Every line still goes to ib_async's logger as before, the
    broker named; one at ERROR or above is also handed to `heard` with the exception
    being handled, whatever level ib_async's logger is set to (`log.levels`)."""

    def __init__(
        self,
        logger: logging.Logger,
        heard: Callable[[str, BaseException | None], None],
        source: str,
    ) -> None:
        super().__init__(logger, {"broker": source})
        self._heard = heard

    def log(self, level: int, msg: object, *args: Any, **kwargs: Any) -> None:
        if level >= logging.ERROR:
            try:
                self._heard(str(msg), sys.exc_info()[1])
            except Exception:  # the message is lost either way; ib_async still says it
                log.exception("ib.unreadable_unsaid", extra=self.extra)
        # (The line keeps ib_async's place in its code, not this frame's.)
        kwargs["stacklevel"] = kwargs.get("stacklevel", 1) + 1
        super().log(level, msg, *args, **kwargs)


class IBBroker(IBOrders, IBSession):
    kind: ClassVar[str] = "ib"
    order_links: tuple[str, ...] = ("api", "ib")
    cancel_through_degraded = frozenset({"api", "ib"})
    capabilities = Capabilities(
        # What translate maps (MKT, LMT, STP, STP LMT). No take-profits: IB's MIT and
        # LIT are not wired up, nor served by the fake TWS.
        order_types=frozenset(ORDER_TYPES),
        tifs=frozenset(TimeInForce),
        market_tifs=frozenset({TimeInForce.DAY, TimeInForce.IOC, TimeInForce.FOK}),
        modify=ModifyStyle.NATIVE,
        cancel_all_native=True,
        short_selling=True,
        market_data=frozenset({MarketDataKind.QUOTE}),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Executions heard live whose journaling is queued (`_on_exec`,
        # `_on_unknown_exec`) and not done: on their way to the journal, so no
        # reconcile reports them as missed.
        self._exec_queued: set[str] = set()
        # Messages from TWS ib_async could not read (`_on_unreadable`), this session:
        # how many, the last (when, what, why), how reading TWS again after them stands
        # (`_reread`), and the kinds said in the desk's Log.
        self._unread = 0
        self._unread_last = ""
        self._reread_said = ""
        self._unread_said: set[str] = set()
        self._reread_due = False
        self._reread_positions = False
        self._reread_task: asyncio.Task[None] | None = None
        # fills journaled from TWS's answers (not heard live): those a re-read found
        self._missed_journaled = 0
        # data farms TWS says are broken (2103, 2105, 2157): farm -> what it means
        self._farms_broken: dict[str, str] = {}

    def _hook(self) -> None:
        ib = self.ib
        ib.orderStatusEvent += self._on_status
        ib.openOrderEvent += self._on_open_order
        ib.execDetailsEvent += self._on_exec
        ib.errorEvent += self._on_error
        ib.disconnectedEvent += self._on_disconnected
        ib.positionEvent += self._on_position
        ib.accountValueEvent += self._on_account_value
        ib.pendingTickersEvent += self._on_tickers
        # What ib_async's decoder could not read (it logs it and drops the message):
        # this connection's own logger, so each broker hears its own socket's.
        decoder = ib.client.decoder
        decoder.logger = DecoderLog(  # type: ignore[assignment]
            decoder.logger, self._on_unreadable, self.source
        )
        wrapper = ib.wrapper
        original = wrapper.commissionReport

        def tap(report: Any) -> None:
            self._on_commission(report)
            original(report)

        # ib_async drops a commission report that comes before its execution; the tap
        # keeps every report by execution id first.
        wrapper.commissionReport = tap  # type: ignore[method-assign,assignment]
        listed = wrapper.openOrder

        def open_tap(order_id: int, contract: Any, order: Any, state: Any) -> None:
            before = self._open_orders_heard
            listed(order_id, contract, order, state)
            if self._open_orders_heard != before or order.whatIf:
                return
            # ib_async filed it with the answer of an open-orders request on its way
            # (ours: a cancel's listing, a reconcile, a catch-up) and raised no event:
            # an order changed in TWS's window, or a modify TWS confirmed late, whose
            # openOrder came then never reached the journal, and its fill of the new
            # size read as an overfill.
            key = wrapper.orderKey(order.clientId, order.orderId, order.permId)
            trade = wrapper.trades.get(key)
            if trade is not None:
                self._on_open_order(trade)

        wrapper.openOrder = open_tap  # type: ignore[method-assign,assignment]
        executed = wrapper.execDetails

        def exec_tap(req_id: int, contract: Any, execution: Any) -> None:
            live = req_id not in wrapper._futures
            new = execution.execId not in wrapper.fills
            before = self._execs_heard
            executed(req_id, contract, execution)
            self.counted.heard(
                execution.permId,
                execution.execId,
                _cum_qty(execution),
                to_decimal(execution.shares),
            )
            # Every execution ib_async keeps (live, replayed, of any order), in the
            # ledger the positions' average price is worked out from.
            fill = wrapper.fills.get(execution.execId)
            if fill is not None:
                self.ledger.add(wrapper.fills, fill)
            trade = wrapper.permId2Trade.get(execution.permId) or wrapper.trades.get(
                wrapper.orderKey(execution.clientId, execution.orderId, execution.permId)
            )
            if trade is not None:
                trim_trade(trade)
            if live and new and fill is not None and self._execs_heard == before:
                # ib_async keeps no trade for the order (finished a while ago, let go
                # of by `_tidy_wrapper`: IB corrects an execution hours later) and
                # raises no event: one of the desk's orders is journaled all the same.
                # One of an order no one told the desk of is journaled as another
                # program's fill, and said (`_on_unknown_exec`).
                ids = (execution.permId, execution.clientId, execution.orderId)
                if self._coid(*ids, execution.orderRef) is not None:
                    self._on_exec(None, fill)
                else:
                    self._on_unknown_exec(fill)
            self._tidy_soon()

        wrapper.execDetails = exec_tap  # type: ignore[method-assign,assignment]
        completed = wrapper.completedOrder

        def completed_tap(contract: Any, order: Any, state: Any) -> None:
            # How TWS says the order ended (`completedStatus`, `completedTime`):
            # ib_async keeps the order and its status, not the state they come in.
            self._note_completed(
                int(order.permId or 0),
                str(state.completedStatus or ""),
                str(state.completedTime or ""),
            )
            completed(contract, order, state)

        wrapper.completedOrder = completed_tap  # type: ignore[method-assign,assignment]

    def _on_status(self, trade: Any) -> None:
        self._read_status(trade)
        trim_trade(trade)  # (after: what it says is read)
        self._tidy_soon()

    def _read_status(self, trade: Any) -> None:
        if undo_warning(trade):
            # A warning about the order (399, 404, 2100-2199): ib_async marks the trade
            # `ValidationError` until TWS's next status, which may never come. Left, the
            # order was missing from `open_orders` (a reconcile ended it on the desk
            # while it worked at IB) and a filled one read as working. The warning is
            # said by `_order_error`; the order's status is TWS's last.
            return
        entry = trade.log[-1] if trade.log else None
        if entry is not None and entry.errorCode and entry.errorCode != codes.ORDER_CANCELLED:
            # ib_async's own guess after an error (a refused modify, an unknown cancel
            # marks a working order Cancelled): only TWS's next report counts. 202 is
            # TWS confirming a cancel; its orderStatus then changes nothing for ib_async.
            # The guess is undone at once for an order TWS had working: left, IB's
            # own cancel or expiry of it later changed nothing for ib_async (the order
            # was done already), and no status of it ever reached the desk.
            undo_guess(trade, working_only=True)
            return
        self._on_status_of(trade)

    def _on_open_order(self, trade: Any) -> None:
        self._open_orders_heard += 1
        self._queue_terms(trade)

    def _on_exec(self, trade: Any, fill: Any) -> None:
        self._execs_heard += 1
        self._exec_queued.add(fill.execution.execId)
        self._enqueue(lambda: self._publish_exec(fill, live=True), order=True)

    def _on_unknown_exec(self, fill: Any) -> None:
        """An execution TWS reported live of an order ib_async holds no trade for and
        the desk does not know (placed in TWS's window, or by another program, its
        openOrder never sent to this client): ib_async raises no event for it, and
        TWS's position holds it. Journaled as a reconcile journals another program's
        fill (`_journal_unknown_exec`); before the journal is read (a connect under
        way) it may be one of the desk's own: the reconcile after the connect has it."""
        execution = fill.execution
        if execution.acctNumber not in ("", self.account):
            return
        if not self._journal_read:
            log.info(
                "ib.unknown_execution_later",
                extra={"broker": self.source, "exec_id": execution.execId},
            )
            return
        self._exec_queued.add(execution.execId)
        self._enqueue(lambda: self._publish_unknown_exec(fill))

    async def _publish_unknown_exec(self, ib_fill: Any) -> None:
        try:
            await self._journal_unknown_exec(ib_fill)
        finally:
            self._exec_queued.discard(ib_fill.execution.execId)

    async def _journal_unknown_exec(self, ib_fill: Any) -> None:
        """Journal an execution of an order the desk does not know as a fill of
        `ib-<permId>` (or its orderRef: `_foreign_id`), as the reconcile does for a
        fill of another program's made while the desk was away: the position then
        follows TWS at once, and the engine names the fill of an order the journal
        does not know. Left out, TWS's position held it and the engine said a position
        mismatch 10 s later that named no cause, until the next reconnect. Counted
        (`unknown_execution`), logged and said in the desk's Log."""
        execution = ib_fill.execution
        exec_id = execution.execId
        if exec_id in self.fees.journaled:
            return
        ids = (execution.permId, execution.clientId, execution.orderId, execution.orderRef)
        if self._coid(*ids) is not None:  # adopted, or bound, since it came
            await self._journal_exec(ib_fill, live=True)
            return
        coid = self._foreign_id(execution.orderRef, execution.permId)
        if await self._correct(coid, ib_fill, live=True):
            return  # IB's correction of one journaled so: its correction, no second fill
        self.count_error("unknown_execution")
        log.warning(
            "ib.unknown_execution",
            extra={
                "broker": self.source,
                "exec_id": exec_id,
                "perm_id": execution.permId,
                "order_id": execution.orderId,
                "client_id": execution.clientId,
            },
        )
        await self.fees.wait_for(exec_id, self.cfg.commission_wait_s, self._inbox.next_answer)
        if exec_id in self.fees.journaled:
            return
        key = self._key_for(ib_fill.contract)
        try:
            fill = self._fill_of(ib_fill, coid, key)
        except (ValueError, ArithmeticError) as exc:  # pydantic's ValidationError too
            await self._execution_not_taken(coid, execution, exc, key)
            return
        if self.fees.report(exec_id) is None:
            self.count_error("fee_pending")
        self.fees.journal(fill)
        self.ledger.touch([exec_id])
        await self.publish_fill(fill)
        ref = f"orderRef {execution.orderRef!r}" if execution.orderRef else "no orderRef"
        await self._say(
            coid,
            LogLevel.WARNING,
            f"TWS reported execution {exec_id} ({self._execution_text(coid, execution, key=key)} "
            f"{key}) of an order the desk was never told of (order id {execution.orderId}, "
            f"permId {execution.permId}, client id {execution.clientId}, {ref}: placed in "
            "TWS or by another program?): journaled as that order's fill, so the position "
            "follows TWS; check the order in TWS",
            0,
        )
        await self._average_moved(key)

    def _on_unreadable(self, text: str, exc: BaseException | None) -> None:
        """A message from TWS ib_async's decoder could not read (`DecoderLog`): it is
        dropped, whatever it said. Counted (`unreadable`), logged, said in the desk's
        Log and in health (`notice:unreadable`); when it may have reported an order, an
        execution or a position, TWS's orders and executions (and positions) are read
        again (`_reread`), so what it said is journaled from TWS's answer, once. Called
        in ib_async's socket reader, synchronously."""
        what = codes.unreadable(text, self.ib.client.decoder.handlers)
        error = _cause(exc)
        self.count_error("unreadable")
        self._unread += 1
        self._unread_last = f"the last at {utc_time(self.clock())}: {what.said}: {error}"
        log.warning(
            "ib.unreadable",
            extra={
                "broker": self.source,
                "msg_id": what.msg_id,
                "what": what.said,
                "error": error,
                "reread": what.reread,
            },
        )
        rereading = self._reread_task is not None and not self._reread_task.done()
        if what.reread:
            self._reread_said = "reading TWS's orders and executions again"
            self._reread_soon(what.positions)
        else:
            self._reread_said = "not an order, fill or position report: nothing to read again"
        self._note_unread()
        said_before = rereading if what.reread else what.msg_id in self._unread_said
        self._unread_said.add(what.msg_id)
        message = f"{self.source}: TWS sent {what.said} the desk could not read ({error}); " + (
            "reading TWS's orders and executions again, so that nothing is missed"
            if what.reread
            else "not an order, fill or position report: left out"
        )
        self._enqueue(functools.partial(self._say_notice, LogLevel.WARNING, message, said_before))

    def _note_unread(self) -> None:
        count = self._unread
        self.health_state.extra["notice:unreadable"] = (
            f"{count:,} message{'' if count == 1 else 's'} from TWS could not be read "
            f"({self._unread_last}); {self._reread_said}"
        )

    async def _say_notice(self, level: LogLevel, message: str, quiet: bool = False) -> None:
        """Health at once (a notice changed), and `message` in the desk's Log unless
        `quiet` (said already)."""
        await self.publish_health()
        if not quiet:
            await self.publish(
                LogEvent.create(self.source, Log(level=level, message=message), ts=self.clock())
            )

    def _reread_soon(self, positions: bool) -> None:
        self._reread_due = True
        self._reread_positions = self._reread_positions or positions
        task = self._reread_task
        if self._closing or (task is not None and not task.done()):
            return  # the one under way reads again once more (`_reread_due`)
        self._reread_task = self.in_background(self._reread(), f"ib-reread:{self.source}")

    async def _reread(self) -> None:
        """Read TWS's orders and executions again (`_catch_up`: each report journaled
        once; and its positions, when a position may have been lost) after a message
        ib_async could not read, and say what it found. Again while more come
        unreadable meanwhile (TWS's answers among them), or TWS does not answer,
        `codes.REREAD_ROUNDS` times at most: then said as not done, with what to do.
        A socket that is down is read in full by the reconnect."""
        rounds = found = 0
        delay = self.cfg.reconnect_delay_s
        why = ""
        while self._reread_due:
            if self._closing:
                return
            if not self._up or not self.ib.isConnected():
                self._reread_due = self._reread_positions = False
                self._reread_said = "the reconnect reads TWS's orders and executions again"
                self._note_unread()
                return
            if rounds == codes.REREAD_ROUNDS:
                await self._reread_failed(why or "TWS's answers could not be read either")
                return
            rounds += 1
            self._reread_due = False
            positions, self._reread_positions = self._reread_positions, False
            before = self._missed_journaled
            try:
                await self._catch_up()
                if positions:
                    await self._request("positions", self.ib.reqPositionsAsync)
                    await self._inbox.join()
            except BrokerError as exc:
                why = str(exc)
                self._reread_due = True
                self._reread_positions = self._reread_positions or positions
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.cfg.reconnect_max_delay_s)
                continue
            found += self._missed_journaled - before
            why = ""  # (read; due again only for a message unreadable meanwhile)
        when = utc_time(self.clock())
        if found:
            fills = f"{found} missed fill{'' if found == 1 else 's'} journaled"
            level = LogLevel.WARNING
        else:
            fills = "nothing was missing"
            level = LogLevel.INFO
        self._reread_said = f"TWS's orders and executions were read again at {when}: {fills}"
        log.info("ib.reread", extra={"broker": self.source, "fills": found, "rounds": rounds})
        self._note_unread()
        await self._say_notice(
            level,
            f"{self.source}: read TWS's orders and executions again after a message the "
            f"desk could not read: {fills}",
        )

    async def _reread_failed(self, why: str) -> None:
        self._reread_due = self._reread_positions = False
        self.count_error("reread")
        self._reread_said = (
            f"TWS's orders and executions could not be read again ({why}): a fill or an "
            "order's status may be missing; reconnect to reconcile, and check the order "
            "and position in TWS"
        )
        log.error("ib.reread_failed", extra={"broker": self.source, "error": why})
        self._note_unread()
        await self._say_notice(
            LogLevel.ERROR,
            f"{self.source}: after a message from TWS the desk could not read, {self._reread_said}",
        )

    def _tidy_soon(self) -> None:
        """Queue a tidy of ib_async's wrapper (`_tidy_wrapper`) once it holds
        `trades_kept` more trades or fills than after the last tidy, or twice as many:
        each tidy walks them all, so it costs O(1) a trade or fill taken."""
        if self._tidy_queued:
            return
        wrapper = self.ib.wrapper
        trades, fills = self._tidy_marks
        step = max(1, self.trades_kept)
        if len(wrapper.trades) > max(trades + step, 2 * trades) or len(wrapper.fills) > max(
            fills + step, 2 * fills
        ):
            self._tidy_queued = True
            self._enqueue(self._tidy_job)

    async def _tidy_job(self) -> None:
        self._tidy_queued = False
        self._tidy_wrapper()

    def _tidy_wrapper(self) -> None:
        """Let go of what ib_async keeps of finished orders beyond the newest
        `trades_kept`: their trades (`wrapper.trades`, `permId2Trade`) and their fills
        (`wrapper.fills`). ib_async empties them only when it connects: a desk that ran
        all day held every order and execution of the session (and every order TWS
        lists as completed today, of every client, taken again by each catch-up).

        Kept: the trade of every order that is not finished (ib_async takes its
        reports and the adapter sends its modifies and cancels through it; an order
        of the desk is finished only once the journal holds its end, and another's
        only when TWS said so, not ib_async's guess after an error: `undo_guess`),
        and the fills of every trade kept (ib_async knows an execution by
        `wrapper.fills`: let go of, a replay of it would be added to its trade again).
        A fill without a trade goes once ib_async has its commission report (matched
        by `wrapper.fills`; the adapter keeps every report itself: `_on_commission`).
        The adapter needs nothing else of them: a finished order is not modified or
        cancelled (`_refuse_ended`), the positions' average price is worked out from
        the ledger's own rows (`ExecutionLedger`), and a late execution of a trade let
        go of (IB's correction) is journaled by the tap (`_hook`). Trades are taken in
        the order ib_async took them: the newest finished are the ones kept. A status
        TWS sends again for an order let go of (a stale one) is logged by ib_async
        ("No order found") and dropped, as the adapter would drop it."""
        wrapper = self.ib.wrapper
        every: dict[int, Any] = {}
        for trade in (*wrapper.trades.values(), *wrapper.permId2Trade.values()):
            every.setdefault(id(trade), trade)
        finished = [trade for trade in every.values() if self._done_with(trade)]
        drop = {id(trade) for trade in finished[: max(0, len(finished) - self.trades_kept)]}
        if drop:
            for key in [k for k, trade in wrapper.trades.items() if id(trade) in drop]:
                del wrapper.trades[key]
            for perm in [p for p, trade in wrapper.permId2Trade.items() if id(trade) in drop]:
                del wrapper.permId2Trade[perm]
        for exec_id in [e for e, fill in wrapper.fills.items() if self._fill_let_go(fill)]:
            del wrapper.fills[exec_id]
        self._tidy_marks = (len(wrapper.trades), len(wrapper.fills))

    def _done_with(self, trade: Any) -> bool:
        """Whether a trade is of a finished order (`_tidy_wrapper`)."""
        if trade.orderStatus.status not in ENDED_AT_TWS:
            return False
        order = trade.order
        coid = self.ids.known(
            perm_id=order.permId, client_id=order.clientId, order_id=order.orderId
        )
        if coid is not None:
            ids = self.ids.get(coid)
            return ids is not None and ids.status.is_terminal
        entry = trade.log[-1] if trade.log else None
        return entry is None or entry.errorCode in (0, codes.ORDER_CANCELLED)

    def _fill_let_go(self, fill: Any) -> bool:
        """Whether a fill ib_async holds can go (`_tidy_wrapper`): no trade holds it,
        and its commission report came."""
        wrapper = self.ib.wrapper
        execution = fill.execution
        if execution.permId in wrapper.permId2Trade:
            return False
        if wrapper.orderKey(execution.clientId, execution.orderId, execution.permId) in (
            wrapper.trades
        ):
            return False
        report = fill.commissionReport
        return bool(report.execId == execution.execId and report.commission < UNSET_DOUBLE)

    def _on_commission(self, report: Any) -> None:
        exec_id = report.execId
        self.ledger.touch([exec_id])
        if self.fees.add_report(report):
            self._enqueue(lambda: self._correct_fee(exec_id))

    def _on_position(self, position: Any) -> None:
        if position.account != self.account:
            return
        # One job per contract at a time, publishing TWS's latest position when it runs:
        # in a burst of fills the positions before it are stale by then, and each was
        # worked out against executions it did not fit.
        con_id = position.contract.conId
        due = con_id in self._positions_due
        self._positions_due[con_id] = position
        if not due:
            self._enqueue(functools.partial(self._publish_due_position, con_id))

    async def _publish_due_position(self, con_id: int) -> None:
        position = self._positions_due.pop(con_id, None)
        if position is None:
            return
        if not self._positions_read:
            # ib_async asks TWS's positions while it connects, before the day's
            # executions: journaled now, a position said IB's average cost
            # (commissions in), then the desk's average once the executions were
            # read. Held for the rebuild to journal (`_publish_connect_positions`).
            self._positions_held[con_id] = position
            return
        await self._publish_position(position)

    async def _publish_connect_positions(self, held: Sequence[Any]) -> None:
        """The rebuild's positions, once this socket's executions are read (the
        catch-up), so each says the desk's average: TWS's latest of every contract,
        those ib_async keeps (`held`) and those TWS reported flat while it
        connected (ib_async keeps no flat position). From now on each position TWS
        reports is journaled as it comes."""
        latest, self._positions_held = self._positions_held, {}
        self._positions_read = True
        latest.update((position.contract.conId, position) for position in held)
        for position in latest.values():  # (the account's: `_on_position`, `held`)
            # Each alone (as `_on_tickers` reads each ticker): one TWS sent that cannot
            # be read, or whose write the bus refuses, loses only itself. In one loop
            # the first that raised dropped every position after it (taken out of
            # `_positions_held` above) and failed the rebuild, which reconnected.
            await self._publish_connect_position(position)

    async def _publish_connect_position(self, ib_position: Any) -> None:
        """One position of the rebuild's (`_publish_connect_positions`): journaled, or
        counted (`position_unread`: TWS sent what is no position, e.g. an average cost
        that is no number; `position_unpublished`: the bus refused it), logged and said
        in the desk's Log with what to do."""
        try:
            position = self._position(ib_position)
        except Exception as exc:
            await self._position_not_journaled(ib_position, "position_unread", exc)
            return
        try:
            await self._send_position(position)
        except Exception as exc:
            await self._position_not_journaled(ib_position, "position_unpublished", exc)

    async def _position_not_journaled(self, ib_position: Any, kind: str, exc: Exception) -> None:
        self.count_error(kind)
        contract = ib_position.contract
        try:
            key = self._key_for(contract)
        except Exception:
            key = f"conId {contract.conId}"
        log.exception(
            "ib.position_not_journaled",
            extra={"broker": self.source, "key": key, "con_id": contract.conId, "kind": kind},
        )
        what = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
        cause = "could not be read" if kind == "position_unread" else "was not journaled"
        try:
            quantity = qty_text(to_decimal(ib_position.position))
        except (ValueError, ArithmeticError):
            quantity = str(ib_position.position)
        message = (
            f"{self.source}: TWS's position in {key} ({quantity}) {cause} "
            f"({what}); the desk's Positions may miss it or show it stale: reconnect to "
            "read it again, and check the position in TWS"
        )
        try:
            await self.publish(
                LogEvent.create(
                    self.source, Log(level=LogLevel.ERROR, message=message), ts=self.clock()
                )
            )
        except Exception:
            log.exception("ib.position_unsaid", extra={"broker": self.source, "key": key})

    def _on_account_value(self, value: Any) -> None:
        if value.account == self.account and value.tag == "CashBalance":
            self._enqueue(self._publish_balances)

    def _on_tickers(self, tickers: Iterable[Any]) -> None:
        # ib_async's handler of a whole packet's tickers: one ticker that cannot be
        # read loses only itself (raised here, the batch's other quotes were lost).
        for ticker in tickers:
            try:
                self._on_ticker(ticker)
            except Exception:
                self.count_error("market_data_unread")
                log.exception("ib.ticker_unread", extra={"broker": self.source})
        self._enqueue(self._market_link_detail)

    def _on_ticker(self, ticker: Any) -> None:
        key = self.market.key_of(ticker)
        if key is None or key in self.market.held:
            # Not a ticker subscribed now (a retired one holds prices of before), or
            # TWS is cut off from IB (1100): what it holds is not quoted.
            return
        bad = bad_prices(ticker)
        if bad:
            # TWS sent prices that are no prices (inf, IB's unset double): left out of
            # the quote, so they make no mark; counted, and the market link says so.
            self.count_error("market_bad_price")
            said = ", ".join(bad)
            if self.market.bad.get(key) != said:
                log.warning(
                    "ib.bad_price", extra={"broker": self.source, "key": key, "prices": said}
                )
            self.market.bad[key] = said
        else:
            self.market.bad.pop(key, None)
        reference = reference_of(key, ticker)
        held = self.references.get(key)
        if reference is not None and (held is None or held.price != reference.price):
            # Before the quote: a reader has what its Chg% is measured from.
            self._enqueue(functools.partial(self.publish_reference, reference))
        # Delayed and frozen data are stamped with the venue time they are of at the
        # latest: never published as a live quote (`market.py`).
        quote = quote_of(key, ticker, self.market.venue_time(key, ticker, self.clock()))
        if quote is not None and self.market.fresh(key, ticker, quote):
            # (Only what says something new: the prior close alone is no quote.)
            if self.market.note_delayed(key, self.market.stale_kind(key)):
                self._enqueue(self._say_delayed)
            # (A subscription asked again has a new ticker: only what TWS sent since.)
            if self.market.quoted(key):
                self._enqueue(functools.partial(self._competing_over, key))
            if key not in self.market.problems and key not in self.market.partial:
                # A problem said of an earlier subscription of the key (354, 420 ...,
                # before 1101 or a new socket asked it again) is over: this one quotes.
                # One said of this subscription (10090: part of its data) stays.
                self.health_state.extra.pop(f"md_problem:{key}", None)
            self._enqueue(functools.partial(self.publish_quote, quote))
        self.health_state.extra[f"md_type:{key}"] = self.market.data_type(key)

    async def _say_delayed(self) -> None:
        """The Log is told which instruments' quotes turned delayed (those of one burst
        of ticks in one line): their marks, which the price collar, the notional checks
        and the P&L use, are that old too."""
        said = {key: self.market.delayed_said.get(key) for key in self.market.delayed_unsaid}
        self.market.delayed_unsaid.clear()
        delayed = sorted(key for key, kind in said.items() if kind == "delayed")
        frozen = sorted(key for key, kind in said.items() if kind in ("frozen", "delayed-frozen"))
        messages: list[str] = []
        if delayed:
            kinds = ", ".join(sorted({self.market.data_type(key) for key in delayed}))
            log.warning("ib.market_data_delayed", extra={"broker": self.source, "keys": delayed})
            messages.append(
                f"{self.source}: market data for {', '.join(delayed)} is delayed by "
                f"TWS ({kinds}: 15-20 minutes old), and so is the mark its quotes "
                "set, which the price collar, the notional checks and the P&L "
                "use; its quotes carry the venue time they are of. Live data "
                "needs a market data subscription at IB"
            )
        if frozen:
            kinds = ", ".join(sorted({said[key] or "" for key in frozen}))
            log.warning("ib.market_data_frozen", extra={"broker": self.source, "keys": frozen})
            messages.append(
                f"{self.source}: market data for {', '.join(frozen)} is frozen by TWS "
                f"({kinds}: the last prices it had when the market closed, not the "
                "market now), and so is the mark its quotes set, which the price "
                "collar, the notional checks and the P&L use; its quotes carry the "
                "venue time of the last trade TWS has, or an age not known where TWS "
                "gives no trade time"
            )
        for message in messages:
            await self.publish(
                LogEvent.create(
                    self.source,
                    Log(level=LogLevel.WARNING, message=message),
                    ts=self.clock(),
                )
            )

    async def _market_link_detail(self) -> None:
        """The market link says which kinds of data TWS sends (live, delayed, ...), and
        is DEGRADED while TWS sends prices that are no prices (`MarketData.bad`) or
        sends no data for a competing session (10197: `MarketData.competing`), LIVE
        again once they are prices again and data flows."""
        link = self.health_state.links.get("market")
        if link is None:
            return
        detail = self._market_detail()
        ours = link.state is ConnectionState.DEGRADED and self._bad_prices_said
        if link.state is not ConnectionState.LIVE and not ours:
            return  # another cause's (1100, a lost socket): it says when it is over
        state = ConnectionState.DEGRADED if self.market.degraded else ConnectionState.LIVE
        if state is not link.state or detail != link.detail:
            self._bad_prices_said = state is ConnectionState.DEGRADED
            await self.set_link("market", state, detail)

    def _on_error(self, req_id: int, code: int, message: str, contract: Any) -> None:
        if code == codes.CLIENT_ID_IN_USE:
            self._saw_326 = True
            if self._id_refused is not None:
                self._id_refused.set()  # the handshake is given up at once
        if code in codes.FARM_NOTICES or code in codes.FARM_BROKEN:
            self.health_state.extra["farm"] = codes.describe(code, message)
            self._farm_notice(code, message)
            return
        if code == codes.SERVER_BROKEN:
            self.health_state.extra["tws"] = codes.describe(code, message)
            self._server_broken(message)
            return
        if code in (codes.CONNECTIVITY_LOST, codes.RESTORED_DATA_KEPT, codes.RESTORED_DATA_LOST):
            if code != codes.CONNECTIVITY_LOST:
                self._server_back(code)
            # The tickers at once, in the order TWS sent it (a tick after 1102 is not
            # quoted with the prices of before 1100 while the job waits its turn).
            self._tickers_after(code)
            self._enqueue(lambda: self._connectivity(code, message))
            return
        if code in codes.PACING:
            self.count_error(f"pacing_{code}")
        if req_id > 0 and req_id in self.market.retired:
            # About a market data request asked again since (an answer to its cancel,
            # a notice on its way): not about the instrument's subscription now.
            log.info(
                "ib.retired_request_error",
                extra={"broker": self.source, "req_id": req_id, "code": code},
            )
            return
        key = self.market.key_of_request(req_id) if req_id > 0 else None
        if key is not None:
            self._market_problem(key, code, message)
            return
        if req_id > 0 and self.ids.by_order(self.client_id, req_id) is not None:
            self._enqueue(lambda: self._order_error(req_id, code, message), order=True)
        elif req_id < 0:
            # Account-wide notices TWS sends (not tied to a request): the last one is
            # kept in health, and logged when it changes.
            said = codes.describe(code, message)
            if self.health_state.extra.get("tws") != said:
                log.info("ib.tws_notice", extra={"broker": self.source, "code": code, "said": said})
            self.health_state.extra["tws"] = said

    def _farm_notice(self, code: int, message: str) -> None:
        """A data farm broken (2103, 2105, 2157) or OK again (2104, 2106, 2158; 2107
        and 2108, inactive but there on demand): the broken ones are shown in health
        (`notice:farm`), each logged and said in the desk's Log once when it breaks and
        when it is OK again. A farm OK also says TWS reaches IB's servers (2110 over)."""
        farm = codes.farm_of(code, message)
        broken = self._farms_broken
        extra = self.health_state.extra
        if code in codes.FARM_BROKEN:
            said = codes.farm_problem(code, message)
            if broken.get(farm) == said:
                return
            broken[farm] = said
            log.warning("ib.farm_broken", extra={"broker": self.source, "farm": farm, "code": code})
            level, told = LogLevel.WARNING, f"{self.source}: {said}"
        else:
            self._server_back(code)
            if broken.pop(farm, None) is None:
                return
            log.info("ib.farm_ok", extra={"broker": self.source, "farm": farm, "code": code})
            level, told = LogLevel.INFO, f"{self.source}: data farm {farm} is OK again ({code})"
        if broken:
            extra["notice:farm"] = "; ".join(broken[name] for name in sorted(broken))
        else:
            extra.pop("notice:farm", None)
        self._enqueue(functools.partial(self._say_notice, level, told))

    def _server_broken(self, message: str) -> None:
        """2110: TWS's connection to IB's servers is broken (TWS restores it itself):
        shown in health (`notice:tws`) until TWS says it is back, logged once."""
        said = codes.server_broken(message)
        extra = self.health_state.extra
        if extra.get("notice:tws") == said:
            return
        extra["notice:tws"] = said
        self._server_message = message
        log.warning("ib.tws_server_broken", extra={"broker": self.source})
        told = f"{self.source}: {said}"
        self._enqueue(self._hold_server_link)
        self._enqueue(functools.partial(self._say_notice, LogLevel.WARNING, told))

    async def _hold_server_link(self) -> None:
        await self._server_link()

    async def _server_link(self, *, taking_over: bool = False) -> bool:
        """While 2110 holds, the `ib` link (an order link) is DEGRADED saying that an
        order sent would not reach IB and what to do: new orders are refused, cancels
        still go (`cancel_through_degraded`). Left to another cause that holds the link
        down (1100, the catch-up after 1101/1102) unless `taking_over` (that cause is
        over: `_restored`). True when set. Before, 2110 was a health notice only, the
        broker LIVE, and an order sent meanwhile went to a TWS that could not pass it
        on."""
        message = self._server_message
        link = self.health_state.links.get("ib")
        if message is None or link is None or not self._up:
            return False
        if not taking_over and link.state is not L.LIVE and link.detail != self._server_link_said:
            return False
        detail = codes.server_broken_link(message)
        self._server_link_said = detail
        await self.set_link("ib", L.DEGRADED, detail)
        return True

    def _server_back(self, code: int) -> None:
        """TWS reaches IB's servers again (1101, 1102, a data farm OK): 2110 is over,
        and the `ib` link it held DEGRADED is LIVE again (after 1101/1102, once their
        catch-up is over: `_connectivity`, `_restored`)."""
        self._server_message = None
        if self.health_state.extra.pop("notice:tws", None) is None:
            return
        log.info("ib.tws_server_back", extra={"broker": self.source, "code": code})
        told = f"{self.source}: TWS reaches IB's servers again ({code})"
        if code not in (codes.RESTORED_DATA_KEPT, codes.RESTORED_DATA_LOST):
            self._enqueue(self._server_link_back)
        self._enqueue(functools.partial(self._say_notice, LogLevel.INFO, told))

    async def _server_link_back(self) -> None:
        said, self._server_link_said = self._server_link_said, None
        link = self.health_state.links.get("ib")
        if said is None or link is None or link.state is not L.DEGRADED or link.detail != said:
            return  # not held by 2110 now (another cause has it: it says its end)
        if self._server_message is not None:
            return  # (2110 again since: it holds)
        await self.set_link("ib", L.LIVE, "")

    def _competing_session(self, key: str, message: str) -> None:
        """10197 on a subscription: another session of the IB user (TWS, IB Gateway,
        Client Portal, IBKR Mobile) took the live data and nothing flows on it. The
        market link is DEGRADED saying so and what to do (`_market_link_detail`, as for
        prices that are no prices), the instrument's `md_problem` says it, counted,
        and the desk's Log is told once, when the first instrument stops; over at the
        next quote of the instrument (`_competing_over`)."""
        first = not self.market.competing
        again = key in self.market.competing
        self.market.competing[key] = message
        self.health_state.extra[f"md_type:{key}"] = "none"
        self.health_state.extra[f"md_problem:{key}"] = codes.competing_session([key], message)
        self.count_error(f"market_data_{codes.COMPETING_SESSION}")
        if again:
            return
        log.warning("ib.competing_session", extra={"broker": self.source, "key": key})
        self._enqueue(self._market_link_detail)
        if first:
            told = f"{self.source}: " + codes.competing_session([key], message)
            self._enqueue(functools.partial(self._say_notice, LogLevel.WARNING, told))

    async def _competing_over(self, key: str) -> None:
        """A quote of an instrument a competing session had stopped (10197): its data
        flows again; said in the desk's Log once every stopped one quotes again (the
        market link is LIVE again then: `_market_link_detail`)."""
        log.info("ib.competing_session_over", extra={"broker": self.source, "key": key})
        if self.market.competing:
            return
        told = (
            f"{self.source}: market data flows again ({key} quoted: the other session "
            "no longer takes it)"
        )
        await self._say_notice(LogLevel.INFO, told)

    def _tickers_after(self, code: int) -> None:
        """TWS's link to IB and the tickers: cut off (1100), nothing they hold is quoted;
        back (1101: market data lost; 1102: kept, but the tickers still hold what was
        quoted before 1100), every subscription is asked again from nothing, and each
        instrument waits for its first quote (`MarketData.resubscribe`)."""
        if code == codes.CONNECTIVITY_LOST:
            self.market.hold()
        elif self.ib.isConnected():
            self.market.resubscribe(codes.RESUBSCRIBED[code])

    def _market_problem(self, key: str, code: int, message: str) -> None:
        if code == codes.COMPETING_SESSION:
            self._competing_session(key, message)
            return
        if code == codes.DELAYED_NOTICE:
            self.market.delayed_notices.add(key)
            self.health_state.extra[f"md_type:{key}"] = "delayed"
            return
        if code == codes.PARTIAL_DATA:
            # Part of the data is not subscribed; the rest flows, of the type TWS
            # announced for the subscription (marketDataType): not "none".
            said = f"part of the market data is not subscribed ({code}: {message})"
            self.market.partial[key] = said
            self.health_state.extra[f"md_type:{key}"] = self.market.data_type(key)
            self.health_state.extra[f"md_problem:{key}"] = said
            self.count_error(f"market_data_{code}")
            return
        self.market.problems[key] = f"{code}: {message}"
        self.health_state.extra[f"md_type:{key}"] = "none"
        self.health_state.extra[f"md_problem:{key}"] = codes.describe(code, message)
        if code not in codes.PACING:
            self.count_error(f"market_data_{code}")
        else:  # (counted once, as it came: `pacing_<code>`, `_on_error`)
            contract = self.market.contracts.get(key)
            if contract is not None:

                async def again() -> None:
                    await asyncio.sleep(self.cfg.pacing_delay_s)
                    if self.ib.isConnected() and key in self.market.contracts:
                        self.market.subscribe(key, contract)
                        self.health_state.extra.pop(f"md_problem:{key}", None)

                self._spawn(again(), "resubscribe")

    def _on_disconnected(self) -> None:
        if self._closing or not self._up:
            return
        self._up = False
        for pending in (*self._placing.values(), *self._modifying.values()):
            if not pending.future.done():
                pending.future.set_result("lost")
        for pending in self._cancelling.values():
            if not pending.future.done():
                pending.future.set_result("lost")
        self._spawn(self._lost(), "lost")

    async def _publish_exec(self, ib_fill: Any, *, live: bool) -> None:
        try:
            await self._journal_exec(ib_fill, live=live)
        finally:
            self._exec_queued.discard(ib_fill.execution.execId)

    async def _journal_exec(self, ib_fill: Any, *, live: bool) -> None:
        execution = ib_fill.execution
        exec_id = execution.execId
        if exec_id in self.fees.journaled or execution.acctNumber not in ("", self.account):
            return
        coid = self._coid(
            execution.permId, execution.clientId, execution.orderId, execution.orderRef
        )
        if coid is None:
            log.info(
                "ib.foreign_fill",
                extra={"broker": self.source, "exec_id": exec_id, "perm_id": execution.permId},
            )
            return
        if await self._correct(coid, ib_fill, live=live):
            return
        if await self._held_ahead(coid, ib_fill):
            return
        if live:
            await self.fees.wait_for(exec_id, self.cfg.commission_wait_s, self._inbox.next_answer)
        if exec_id in self.fees.journaled:
            return
        ids = self.ids.get(coid)
        key = ids.instrument if ids is not None else self._key_for(ib_fill.contract)
        fill = self._fill_of(ib_fill, coid, key)
        if self.fees.report(exec_id) is None:
            self.count_error("fee_pending")
        self.fees.journal(fill)
        self.ledger.touch([exec_id])
        self.counted.settled(coid, execution.permId, self.fees.journaled)
        await self.publish_fill(fill)
        if not live:
            self._missed_journaled += 1
        await self._average_moved(key)

    async def _held_ahead(self, coid: str, ib_fill: Any) -> bool:
        """Whether an execution not journaled yet is held already in what the desk took
        from TWS before TWS reported it (`counted.py`): an adopted order's filled
        quantity, or a position taken after a status that counted it. Held, it is
        remembered as such (never a fill, never a missed one) and, for a position,
        said: the order's fill is not in the journal."""
        execution = ib_fill.execution
        cum = _cum_qty(execution)
        if self.counted.in_adoption(coid, cum):
            log.info(
                "ib.fill_in_adoption",
                extra={"broker": self.source, "exec_id": execution.execId, "order": coid},
            )
        else:
            owed = self.counted.owed_for(coid, cum)
            if owed is None or not await self._taken_since(owed):
                return False
            self.count_error("fill_in_position")
            log.warning(
                "ib.fill_in_position",
                extra={"broker": self.source, "exec_id": execution.execId, "order": coid},
            )
            await self._say(
                coid,
                LogLevel.WARNING,
                f"execution {execution.execId} ({self._execution_text(coid, execution)}) was "
                f"reported after the desk took TWS's position for {owed.instrument}, which "
                "holds it (TWS had counted the order filled before it reported the "
                "execution): not journaled as a fill, so the position does not count it "
                "twice; the order shows less filled than at IB, its fill and commission "
                "are in TWS's trades",
                0,
            )
        self.fees.remember_adopted(execution.execId)
        self.ledger.touch([execution.execId])
        self.counted.settled(coid, execution.permId, self.fees.journaled)
        return True

    def _fill_of(self, ib_fill: Any, client_order_id: str, key: str) -> Fill:
        """An execution of ours as a fill, with its instrument and its commission as
        reported so far."""
        return fill_of(
            ib_fill,
            client_order_id=client_order_id,
            key=key,
            broker=self.name,
            account=self.account,
            instrument=self._instrument_cache.get(key),
            commission=self.fees.report(ib_fill.execution.execId),
        )

    async def _correct(self, coid: str, ib_fill: Any, *, live: bool) -> bool:
        """An execution IB corrects (execId differing only after its final period from
        the fill journaled for it) is no second fill: it is journaled as the fill's
        correction, which the order, the position and its P&L take, and said. An
        earlier report of an execution corrected since changes nothing. True when the
        execution was one of these."""
        execution = ib_fill.execution
        exec_id = execution.execId
        replaced = self.fees.corrected(exec_id)
        if replaced is None:
            return False
        if not newer(exec_id, replaced):
            log.info("ib.exec_superseded", extra={"broker": self.source, "exec_id": exec_id})
            return True
        if live:
            await self.fees.wait_for(exec_id, self.cfg.commission_wait_s, self._inbox.next_answer)
        if exec_id in self.fees.journaled:
            return True
        previous = self.fees.latest(replaced)
        shares = to_decimal(execution.shares)
        if previous is None or previous.exec_id != replaced or shares <= 0:
            await self._correction_not_taken(coid, replaced, execution)
            return True
        fill = self._fill_of(ib_fill, previous.client_order_id, previous.instrument)
        inst = self._instrument_cache.get(previous.instrument)
        correction = FillCorrection(
            replaces=replaced,
            fill=fill,
            previous_quantity=previous.quantity,
            previous_price=previous.price,
            previous_fee=previous.fee,
            previous_currency=previous.fee_currency,
            previous_fee_value=previous.fee_value,
        )
        if self.fees.report(exec_id) is None:
            self.count_error("fee_pending")
        self.fees.journal_correction(correction)
        self.ledger.touch([exec_id])
        await self.publish_kept(
            FillCorrectionEvent.create(self.source, correction, ts=self.clock())
        )
        await self._say(
            coid,
            LogLevel.WARNING,
            f"IB corrected fill {replaced} (now execution {exec_id}): "
            f"{corrected_text(correction, inst)}; the order, the position and its P&L "
            "take the correction",
            0,
        )
        await self._average_moved(previous.instrument)
        return True

    def fill_journaled(self, fill: Fill) -> None:
        self.fees.reported(fill)
        self.ledger.touch([fill.exec_id])
        self._fees_due([fill.exec_id])

    async def _correction_not_taken(self, coid: str, replaced: str, execution: Any) -> None:
        """A correction the desk cannot journal (the fill it corrects is no longer kept,
        or IB corrected the execution to no shares): said, once, and counted."""
        if execution.execId in self._corrections_said:
            return
        self.fees.note(execution.execId)
        self._corrections_said.add(execution.execId)
        self.count_error("exec_correction")
        await self._say(
            coid,
            LogLevel.ERROR,
            f"IB corrected execution {replaced} (now {execution.execId}: "
            f"{self._execution_text(coid, execution, side=False)}) and the desk "
            "cannot take the correction (the fill it corrects is no longer kept, or an "
            "order adopted from TWS held it); the fill as first reported stands on the "
            "desk, the position follows TWS: check the fill in TWS",
            0,
        )

    async def _correct_fee(self, exec_id: str) -> None:
        correction = self.fees.correction(exec_id, broker=self.name, account=self.account)
        if correction is not None:
            await self.publish_kept(
                FeeCorrectionEvent.create(self.source, correction, ts=self.clock())
            )
            await self._average_moved(correction.instrument)

    async def _publish_position(self, ib_position: Any) -> None:
        """TWS's position report, live: journaled unless it says what the desk last
        journaled of the instrument, to the average. The desk may have said it first:
        an execution IB corrected, or a fill or commission journaled after TWS's
        position that held it, moves the average, and `_average_moved` journals IB's
        position with it at once; TWS's own report of that position comes after. Both
        were journaled, and the desk's Log read the corrected position's line twice
        (`POSITION AAPL.SMART 3 avg 149.4`, one under the other)."""
        position = self._position(ib_position)
        if self._positions_sent.get(position.instrument) == position:
            log.info(
                "ib.position_said_already",
                extra={"broker": self.source, "instrument": position.instrument},
            )
            return
        await self._send_position(position)

    async def _send_position(self, position: Position) -> None:
        key = position.instrument
        before = self._positions_sent.get(key)
        self._positions_sent[key] = position
        try:
            await self.publish_position(position)
        except BaseException:
            # Refused by the bus: not taken for said (TWS's next report of the same
            # position is journaled).
            if self._positions_sent.get(key) is position:
                if before is None:
                    del self._positions_sent[key]
                else:
                    self._positions_sent[key] = before
            raise

    async def _average_moved(self, key: str) -> None:
        """IB's position again when its average price moved, its quantity the same: a
        fill journaled (or its commission learnt) after TWS reported the position that
        holds it. TWS keeps no order between positions and executions, a commission
        can come late, and another client's fills are polled: the position's average
        is then the desk's again, without waiting for TWS's next report."""
        sent = self._positions_sent.get(key)
        if sent is None:
            return
        for ib_position in self.ib.positions(self.account):
            if self._key_for(ib_position.contract) != key:
                continue
            if to_decimal(ib_position.position) == sent.quantity:
                position = self._position(ib_position)
                if position != sent:
                    await self._send_position(position)
            return

    def _position(self, ib_position: Any) -> Position:
        """IB's position with the desk's average price: IB's average cost less the
        commissions of the desk's own fills in it (`translate.position_of`)."""
        key = self._key_for(ib_position.contract)
        self.ledger.follow(self.ib.wrapper.fills)  # (a new session's, once it has none)
        return position_of(
            ib_position,
            key=key,
            broker=self.name,
            instrument=self._instrument_cache.get(key),
            average=functools.partial(
                self.ledger.average, ib_position.contract.conId, self._commission_in
            ),
        )

    def _commission_in(self, ib_fill: Any, currency: str) -> tuple[Decimal, bool]:
        """The commission of an execution that IB's average cost holds and the desk
        takes out (`ExecutionLedger`): only for the desk's own fills (journaled, or of
        an order it journals: one TWS reports ahead of its execDetails is not journaled
        yet) and in the contract's currency; none for the others, whose commission
        stays in IB's average cost as the desk takes it (an opening position's, an
        adopted order's earlier fills', another program's). True when that is final:
        the desk's fill with its report in, or an adopted order's earlier fill (the
        ledger lets go of a final one once it is old: `ExecutionLedger`). ib_async's
        Fill holds an empty report (no execId, commission 0) until its report comes:
        no report, not a commission of 0."""
        execution = ib_fill.execution
        if execution.execId in self.fees.adopted:
            return Decimal(0), True
        if not self._desks_fill(execution):
            return Decimal(0), False
        report = self.fees.report(execution.execId) or ib_fill.commissionReport
        if (
            report.execId == execution.execId
            and report.commission < UNSET_DOUBLE
            and report.currency in ("", currency)
        ):
            return to_decimal(report.commission), True  # a rebate is negative
        return Decimal(0), False

    def _desks_fill(self, execution: Any) -> bool:
        """Whether an execution is one of the desk's fills: journaled, or listed by a
        reconcile (from the journal's start: the desk holds it as a fill once the
        reconcile is done, the journal's, its snapshot's or published as missed), or of
        an order the desk journals (its execDetails may still be on the way), and not
        one an adopted order held before it was adopted. Judged by what the adapter
        read of the journal alone, a fill the journal lost to Redis (its snapshot still
        holds it: the Positions pane has its commission as a fee) kept its commission
        in the position's average for good, the Log's POSITION lines apart from the
        pane's."""
        exec_id = execution.execId
        if exec_id in self.fees.adopted:
            return False
        if exec_id in self.fees.journaled or exec_id in self._reconciled:
            return True
        ids = (execution.permId, execution.clientId, execution.orderId, execution.orderRef)
        return self._coid(*ids) is not None

    async def _publish_balances(self) -> None:
        """Balances that changed (IB sends every account value on each update)."""
        for balance in balances_of(
            self.ib.accountValues(self.account), broker=self.name, account=self.account
        ):
            if self._balances.get(balance.currency) == balance:
                continue
            self._balances[balance.currency] = balance
            await self.publish_balance(balance)

    async def _fetch_instrument(self, key: str) -> Instrument | None:
        """TWS's contract for a key. A key for a contract another key already stands
        for is refused (`SameContract`), asked of TWS once: the first key of a contract
        is quoted and traded, and IB's reports of it (positions, executions) are its."""
        refused = self._same_contract.get(key)
        if refused is not None:
            raise refused
        for query in candidates(key):
            try:
                found = await self._request(
                    f"contract details for {key}",
                    lambda q=query: self.ib.reqContractDetailsAsync(q),  # type: ignore[misc]
                )
            except BrokerError as exc:
                if exc.code == codes.NO_SECURITY:
                    continue
                raise
            details = pick(key, list(found))
            if details is None:
                if found:
                    log.warning("ib.ambiguous_contract", extra={"broker": self.source, "key": key})
                continue
            assert details.contract is not None
            con_id = details.contract.conId
            holder = self._keys_by_con_id.setdefault(con_id, key)
            if holder != key:
                refused = self._same_contract[key] = SameContract(key, con_id, holder)
                log.warning(
                    "ib.same_contract",
                    extra={"broker": self.source, "key": key, "con_id": con_id, "as": holder},
                )
                raise refused
            self._contracts[key] = details.contract
            return instrument_from(key, details)
        return None

    async def instruments(self) -> dict[str, Instrument]:
        """The configured symbols TWS knows. One it has no contract for (200, "No
        security definition") is named in the `symbols` link (DEGRADED: the health pane
        shows it, the desk toasts and logs it), so it does not just go missing from the
        quotes; the others trade on. One whose lookup failed while connected (TWS did
        not answer in time, or answered an error) is named there too, with why, and
        asked again in the background (`_retry_lookups`) until TWS answers."""
        found: dict[str, Instrument] = {}
        unknown: list[str] = []
        asked_all = True
        for symbol in self.cfg.symbols:
            key = normalize_key(symbol, self.cfg.default_venue)
            try:
                found[key] = await self.instrument(key)
                if self._lookups_failed.pop(key, None) is not None:
                    # Found by a later lookup (the engine's, after connect): still to
                    # be quoted, which only the connect and the retry task do.
                    self._found_later.add(key)
            except SameContract:
                # Named in the `symbols` link (`_say_unknown`); the key it duplicates
                # is quoted and traded.
                self._lookups_failed.pop(key, None)
            except OrderRejected:
                unknown.append(key)
                self._lookups_failed.pop(key, None)
                log.warning("ib.unknown_symbol", extra={"broker": self.source, "key": key})
            except NotConnected as exc:
                # Not connected (yet): the instruments known so far; they are looked
                # up once TWS is back.
                asked_all = False
                log.info(
                    "ib.instruments_later",
                    extra={"broker": self.source, "key": key, "error": str(exc)},
                )
            except BrokerError as exc:
                self.count_error("contract_lookup")
                self._lookups_failed[key] = str(exc)
                log.warning(
                    "ib.contract_lookup_failed",
                    extra={"broker": self.source, "key": key, "error": str(exc)},
                )
        self._unknown_symbols = unknown if asked_all else self._unknown_symbols
        if unknown or asked_all or self._lookups_failed:
            await self._say_unknown(self._unknown_symbols)
        if self._lookups_failed or self._found_later:
            self._start_lookup_retry()
        for key, instrument in self._instrument_cache.items():
            found.setdefault(key, instrument)
        return found

    def _start_lookup_retry(self) -> None:
        task = self._lookup_retry
        if self._closing or (task is not None and not task.done()):
            return
        self._lookup_retry = self.in_background(self._retry_lookups(), f"ib-lookups:{self.source}")

    async def _retry_lookups(self) -> None:
        """Ask TWS again for the contracts of configured symbols whose lookup failed,
        from `reconnect_delay_s` doubling to `reconnect_max_delay_s` between rounds,
        while connected (a reconnect looks them all up again). One found is quoted, as
        the configured symbols are from the start; the `symbols` link says what is
        still missing."""
        delay = self.cfg.reconnect_delay_s
        while (self._lookups_failed or self._found_later) and not self._closing:
            if self._found_later:
                await self._quote_found_later()
                continue
            await asyncio.sleep(delay)
            if not self._up or not self.ib.isConnected() or self._closing:
                return
            for key in list(self._lookups_failed):
                try:
                    await self.instrument(key)
                except SameContract:
                    self._lookups_failed.pop(key, None)
                    continue
                except OrderRejected:
                    self._lookups_failed.pop(key, None)
                    if key not in self._unknown_symbols:
                        self._unknown_symbols.append(key)
                    continue
                except NotConnected:
                    return
                except BrokerError as exc:
                    self.count_error("contract_lookup")
                    self._lookups_failed[key] = str(exc)
                    continue
                self._lookups_failed.pop(key, None)
                self._found_later.add(key)
            await self._quote_found_later()
            delay = min(delay * 2, self.cfg.reconnect_max_delay_s)

    async def _quote_found_later(self) -> None:
        """Quote the configured symbols found after their lookup failed, as the others
        are from the start, and say what is still missing. The market link's state is
        left as it is (TWS cut off from IB, 1100: DEGRADED stays), its detail updated."""
        found, self._found_later = self._found_later, set()
        for key in sorted(found):
            log.info("ib.contract_found_later", extra={"broker": self.source, "key": key})
            if key not in self.market.contracts and key in self._contracts:
                self.market.subscribe(key, self._contracts[key])
        market = self.health_state.links.get("market")
        if found and market is not None and market.state is L.LIVE:
            await self.set_link("market", L.LIVE, self._market_detail())
        await self._say_unknown(self._unknown_symbols)

    def _execution_text(
        self, coid: str, execution: Any, *, side: bool = True, key: str = ""
    ) -> str:
        """An execution as the Log says it: `BOT 20 at 149.80` (`20 @ 149.80` without
        `side`), its price on the instrument's tick places as the desk writes prices
        (IB's float read 149.8), exactly as made (a price between ticks keeps its
        places). The instrument is the order's, else `key` (the execution's contract:
        an order the desk does not know, whose price read 149.4), else the contract
        ib_async holds the execution with."""
        ids = self.ids.get(coid)
        if ids is not None:
            key = ids.instrument
        elif not key:
            held = self.ib.wrapper.fills.get(execution.execId)
            key = self._key_for(held.contract) if held is not None else ""
        try:
            price = price_text(to_decimal(execution.price), self._instrument_cache.get(key))
            shares = qty_text(to_decimal(execution.shares))
        except (ValueError, ArithmeticError):  # no number: said as TWS sent it
            price, shares = str(execution.price), str(execution.shares)
        if not side:
            return f"{shares} @ {price}"
        return f"{execution.side} {shares} at {price}"

    async def _execution_not_taken(
        self, coid: str, execution: Any, exc: Exception, key: str = ""
    ) -> None:
        """A reported execution that is no fill the desk can journal: counted, logged
        and said, and left out of the reconcile (its order and the position still are
        as TWS holds them)."""
        self.count_error("execution_not_taken")
        log.error(
            "ib.execution_not_taken",
            extra={"broker": self.source, "exec_id": execution.execId, "error": str(exc)},
        )
        await self._say(
            coid,
            LogLevel.ERROR,
            f"execution {execution.execId} ({self._execution_text(coid, execution, key=key)}) "
            f"cannot be journaled as a fill ({_first_line(exc)}); "
            "check it in TWS",
            0,
        )

    async def _say_unknown(self, unknown: list[str]) -> None:
        said: list[str] = []
        if unknown:
            names = ", ".join(unknown)
            said.append(
                f"TWS finds no (single) contract for {names} ({codes.NO_SECURITY}: no "
                "security definition): not quoted nor tradable; check `symbols` in the "
                "config"
            )
        configured = {normalize_key(s, self.cfg.default_venue) for s in self.cfg.symbols}
        said.extend(
            refused.said for key, refused in self._same_contract.items() if key in configured
        )
        if self._lookups_failed:
            late = "; ".join(f"{key}: {why}" for key, why in self._lookups_failed.items())
            said.append(
                f"contract lookup failed for {', '.join(self._lookups_failed)} ({late}): "
                "not quoted nor tradable yet; asking TWS again"
            )
        if said:
            await self.set_link("symbols", L.DEGRADED, "; ".join(said))
        elif "symbols" in self.health_state.links:
            await self.set_link("symbols", L.LIVE, "")

    def _venue_order(self, trade: Any) -> VenueOrder | None:
        order = trade.order
        if order.account and order.account != self.account:
            return None
        coid = self._coid(order.permId, order.clientId, order.orderId, order.orderRef)
        if coid is None:
            coid = self._foreign_id(order.orderRef, order.permId)
        key = self._key_for(trade.contract)
        return self._with_average(venue_order(trade, coid, key, self._instrument_cache.get(key)))

    async def open_orders(self) -> list[VenueOrder]:
        """Every working order of the account TWS lists. Asked during a move back to
        the desk's own client id, after it (`_through_move`: the kill switch's listing
        among them); the session does not move while it is asked (its answer would be
        lost with the socket)."""
        with self._working_on_orders():
            await self._through_move()
            trades = await self._request("open orders", self.ib.reqAllOpenOrdersAsync)
        found: dict[str, VenueOrder] = {}
        for trade in trades:
            if trade.orderStatus.status not in OPEN_AT_TWS:
                continue
            venue = self._venue_order(trade)
            if venue is not None:
                found[venue.client_order_id] = venue
        return list(found.values())

    async def query_order(self, client_order_id: str) -> VenueOrder | None:
        for order in await self.open_orders():
            if order.client_order_id == client_order_id:
                return order
        done = await self._request(
            "completed orders", lambda: self.ib.reqCompletedOrdersAsync(True)
        )
        self._tidy_soon()  # (ib_async took TWS's completed orders in again)
        for trade in done:
            venue = self._venue_order(trade)
            if venue is not None and venue.client_order_id == client_order_id:
                return venue
        return None

    async def follow_adopted(self, orders: Sequence[VenueOrder]) -> None:
        """Orders adopted on reconcile are followed by permId from now on: TWS reports
        them live to this client when it placed them (an earlier run whose journal is
        gone) or is the master client, and to nobody else otherwise, so those of other
        client ids are asked for every `other_clients_poll_s` while they work
        (`_poll_other_clients`). Their executions TWS has told of so far are in what was
        adopted (its filled quantity, the opening position, the reconcile's fills): only
        later ones are journaled, each once. Those the reconcile's fills hold are the
        desk's fills; the others (from before the journal began) are in the opening
        position, at IB's cost, commissions in (`CommissionBook.remember_adopted`)."""
        for venue in orders:
            venue_id = venue.venue_order_id or ""
            perm_id = int(venue_id) if venue_id.isdigit() else 0
            trade = self.ib.wrapper.permId2Trade.get(perm_id) if perm_id else None
            if trade is None:
                continue  # TWS listed it in another session: the next reconcile has it
            order = trade.order
            ids = self.ids.adopt(
                venue.client_order_id,
                venue.instrument,
                perm_id=perm_id,
                client_id=order.clientId,
                order_id=order.orderId,
                status=venue.status,
            )
            if ids is None:
                continue
            coid = venue.client_order_id
            self._last[coid] = (venue.status, venue.filled_qty)
            # Its executions up to TWS's count when listed are in what was adopted,
            # whenever TWS reports them (its orderStatus runs ahead of execDetails):
            # by their `cumQty`, not by whether they were heard by now.
            self.counted.adopt(coid, venue.filled_qty)
            for fill in list(self.ib.wrapper.fills.values()):
                exec_id = fill.execution.execId
                if fill.execution.permId != perm_id:
                    continue
                cum = _cum_qty(fill.execution)
                if exec_id in self._reconciled:
                    self.fees.remember_journaled(exec_id, with_fee=True)
                elif exec_id in self.fees.journaled:
                    pass  # a fill of the journal's (read back at a restart)
                elif cum <= 0 or self.counted.in_adoption(coid, cum):
                    self.fees.remember_adopted(exec_id)
                else:
                    # Made after the listing and heard before the order was followed
                    # (left then as another's): a fill of the adopted order.
                    self._enqueue(functools.partial(self._publish_exec, fill, live=False))
                self.ledger.touch([exec_id])

    async def positions(self) -> list[Position]:
        await self.settle()
        return [self._position(p) for p in self.ib.positions(self.account) if p.position != 0]

    async def balances(self) -> list[Balance]:
        await self.settle()
        values = self.ib.accountValues(self.account)
        return balances_of(values, broker=self.name, account=self.account)

    async def reconcile(
        self, since_ns: int = 0, last_fills: Mapping[str, Fill] | None = None
    ) -> ReconcileReport:
        """What TWS holds now. Fills: `reqExecutions` for the account from `since_ns`
        (or the earliest last journaled fill), every client id; TWS reports the current
        trading day only, so fills from an earlier day are invisible here. Not those of
        the desk's orders on their way to the journal (heard live, their journaling
        queued or being written: `_exec_queued`): the journal does not hold them yet,
        so the engine took each for a fill it missed and journaled it, said as "made
        while we were away". Those the journal holds the engine knows by catching up
        with it before it compares (`recovery.reconcile`)."""
        since = since_ns
        last = dict(last_fills or {})
        if not since and last:
            stamps = [f.venue_ts_ns for f in last.values() if f.venue_ts_ns]
            since = min(stamps) if stamps else 0
        when = ""
        if since:
            moment = datetime.fromtimestamp(since / 1e9, tz=UTC)
            when = moment.strftime("%Y%m%d-%H:%M:%S")
        # Open orders first: an execution in what they say has filled is then in the
        # executions asked next (`follow_adopted` counts on it). Then how the journal's
        # working orders TWS no longer lists open ended (`_ends_at_tws`): its completed
        # orders.
        open_now = tuple(await self.open_orders())
        ended, ends_unknown, completed = await self._ends_at_tws(open_now)
        ended_perms = {int(perm) for o in ended if (perm := o.venue_order_id or "").isdigit()}
        await self._note_counted_ahead(completed)
        fills_ib = await self._request(
            "executions",
            lambda: self.ib.reqExecutionsAsync(ExecutionFilter(acctCode=self.account, time=when)),
        )
        fills: dict[str, Fill] = {}
        for ib_fill in latest_executions(fills_ib):  # a corrected one at its latest
            execution = ib_fill.execution
            exec_id = execution.execId
            # In the journal once the reconcile is done: the journal's, or published.
            self.fees.note(exec_id)
            self._reconciled.add(exec_id)
            own = self._coid(
                execution.permId, execution.clientId, execution.orderId, execution.orderRef
            )
            if exec_id in self._exec_queued:
                # the adapter journals it (`_publish_exec`, `_publish_unknown_exec`)
                continue
            if exec_id in self.fees.adopted:
                continue  # in what an adoption or a position taken holds: no fill
            coid = own or self._foreign_id(execution.orderRef, execution.permId)
            if await self._correct(coid, ib_fill, live=False):
                continue  # (a correction is of a journaled fill, whatever its time)
            if exec_id not in self.fees.journaled and await self._held_ahead(coid, ib_fill):
                # TWS counted it in what the desk took: "missed", it counted twice. Asked
                # before its time is: one older than the instrument's last journaled
                # fill, skipped as the journal's, was then taken for journaled (the
                # order followed after this reconcile: `follow_adopted`) and came back
                # as missed once the order ended, the position taken holding it too.
                continue
            key = self._key_for(ib_fill.contract)
            if execution.permId not in ended_perms and _not_after(execution, last.get(key)):
                # (An ended order's are all told: the journal's last fill of the
                # instrument says nothing of an order the desk did not hear, another
                # client's adopted order filled before the desk's own fill.)
                continue
            try:
                fills[execution.execId] = self._fill_of(ib_fill, coid, key)
            except (ValueError, ArithmeticError) as exc:  # pydantic's ValidationError too
                # One execution the desk cannot take (a negative price) does not fail
                # the whole reconcile: the others, the orders and positions still count.
                await self._execution_not_taken(coid, execution, exc, key)
        await self._reconciled_averages(fills_ib)
        return ReconcileReport(
            broker=self.name,
            account=self.account,
            as_of_ns=self.clock(),
            open_orders=open_now,
            fills=tuple(fills.values()),
            positions=tuple(await self.positions()),
            balances=tuple(await self.balances()),
            ended_orders=ended,
            ends_unknown=ends_unknown,
        )

    async def _reconciled_averages(self, listed: Sequence[Any]) -> None:
        """The executions a reconcile listed are the desk's fills now (`_desks_fill`):
        their commissions come out of the average of the positions that hold them, and
        each position whose average that moves is reported again. The position a
        restart journaled before its reconcile had the commission of another program's
        fill made while the desk was down in it (the reconcile journals that fill, its
        commission a fee), and nothing reported the position after it. One that cannot
        be reported again now (the bus refuses it) is logged, not the reconcile's
        failure: the position's next report says the same average."""
        self.ledger.touch([ib_fill.execution.execId for ib_fill in listed])
        for key in dict.fromkeys(self._key_for(ib_fill.contract) for ib_fill in listed):
            try:
                await self._average_moved(key)
            except Exception:
                self.count_error("position_unpublished")
                log.exception("ib.average_not_reported", extra={"broker": self.source, "key": key})

    def journal_working(self, orders: Sequence[JournalOrder]) -> None:
        self._journal_working = {o.client_order_id: o for o in orders}

    async def _ends_at_tws(
        self, open_now: Sequence[VenueOrder]
    ) -> tuple[tuple[VenueOrder, ...], tuple[str, ...], list[Any]]:
        """How the journal's working orders (`journal_working`) that TWS no longer lists
        open ended, as TWS's completed orders (of every client, today) say: each found
        as a `VenueOrder` of the journal's id, found by its permId (the journal's venue
        order id) or its id here. Those TWS lists nowhere are left out (TWS lists the
        orders completed today only: the engine ends them as no longer open); when TWS
        does not answer, all of them are returned as not known now. Without this, an
        order adopted on reconcile that filled at TWS while the desk did not follow it
        (another client's, between polls, or one TWS listed in another session) was
        journaled CANCELED "no longer open at the venue" with nothing filled, the
        position taken from TWS: a filled order read cancelled. Also returned: the
        completed orders' trades found, whose counts `_note_counted_ahead` notes (ib_async
        keeps the trade it had of an order, at its old status, over a completed one)."""
        listed = {o.client_order_id for o in open_now}
        perms_open = {o.venue_order_id for o in open_now if o.venue_order_id}
        missing = [
            o
            for cid, o in self._journal_working.items()
            if cid not in listed and (o.venue_order_id or "") not in perms_open
        ]
        if not missing:
            return (), (), []
        try:
            done = await self._request(
                "completed orders", lambda: self.ib.reqCompletedOrdersAsync(False)
            )
        except BrokerError as exc:
            log.warning(
                "ib.completed_orders_unread", extra={"broker": self.source, "error": str(exc)}
            )
            return (), tuple(o.client_order_id for o in missing), []
        self._tidy_soon()  # (ib_async took TWS's completed orders in again)
        by_perm: dict[int, Any] = {}
        by_coid: dict[str, Any] = {}
        for trade in done:
            order = trade.order
            if order.account and order.account != self.account:
                continue
            if trade.orderStatus.status not in ENDED_AT_TWS:
                continue
            perm_id = order.permId or trade.orderStatus.permId
            if perm_id:
                by_perm.setdefault(perm_id, trade)
            coid = self.ids.known(perm_id=perm_id, client_id=order.clientId, order_id=order.orderId)
            if coid is not None:
                by_coid.setdefault(coid, trade)
        ended: list[VenueOrder] = []
        trades: list[Any] = []
        for journal in missing:
            venue_id = journal.venue_order_id or ""
            found = by_perm.get(int(venue_id)) if venue_id.isdigit() else None
            hit = found if found is not None else by_coid.get(journal.client_order_id)
            if hit is None:
                continue  # not among today's completed orders: not known here
            key = self._key_for(hit.contract)
            venue = self._with_average(
                venue_order(hit, journal.client_order_id, key, self._instrument_cache.get(key))
            )
            if venue.status.is_terminal:
                ended.append(venue)
                trades.append(hit)
        return tuple(ended), (), trades

    async def _note_counted_ahead(self, completed: Iterable[Any] = ()) -> None:
        """Orders TWS counts more filled than their executions heard (its count runs
        ahead of execDetails, or the desk was away): working ones as just listed, ended
        ones as ib_async took them from TWS's completed orders. The reconcile takes the
        venue's position, which holds those executions, so each order is noted as
        owed (`CountedAhead.owe`) with the journal's entry before the position is
        taken. A catch-up notes the desk's own orders as it journals their counts; this
        covers the others (an adopted order read back at a restart is followed only
        after the reconcile, another program's order is never followed). `completed`:
        the completed orders' trades the reconcile found for the journal's working orders
        (`_ends_at_tws`), which ib_async does not file over the trade it had of the
        order: an adopted order TWS listed Filled before its execution was journaled
        FILLED, the position taken, and the execution that came later counted twice."""
        wrapper = self.ib.wrapper
        trades: dict[int, Any] = {}
        for trade in (*wrapper.trades.values(), *wrapper.permId2Trade.values(), *completed):
            trades.setdefault(id(trade), trade)
        ahead: list[tuple[str, Decimal, str]] = []
        for trade in trades.values():
            order = trade.order
            if order.account and order.account != self.account:
                continue
            filled = to_decimal(trade.orderStatus.filled)
            done = order.filledQuantity
            if isinstance(done, float | int | Decimal) and 0 < done < UNSET_DOUBLE:
                filled = max(filled, to_decimal(done))
            perm_id = order.permId or trade.orderStatus.permId
            coid = self._coid(perm_id, order.clientId, order.orderId, order.orderRef)
            coid = coid or self._foreign_id(order.orderRef, perm_id)
            if self.counted.accounted(coid, perm_id, filled):
                continue
            if not self.counted.owes(coid, filled):
                ahead.append((coid, filled, self._key_for(trade.contract)))
        if not ahead:
            return
        mark = await self._journal_mark()
        if mark is None:
            return
        for coid, filled, key in ahead:
            self.counted.owe(coid, filled, key, self.counted.mark_for(coid, mark))

    async def subscribe(
        self,
        instruments: Iterable[str],
        kinds: Iterable[MarketDataKind] = (MarketDataKind.QUOTE,),
    ) -> None:
        wanted = set(kinds) & self.capabilities.market_data
        if not wanted:
            return
        for key in instruments:
            contract = await self._contract(key)
            if key in self.market.contracts:
                continue
            if self.ib.isConnected():
                self.market.subscribe(key, contract)
            else:  # (the instrument known from before the socket was lost)
                self.market.subscribe_later(key, contract)
        await self._market_link_subscribed()

    async def _market_link_subscribed(self) -> None:
        """The market link once keys are subscribed: LIVE, its detail naming the data
        TWS sends (DEGRADED while it sends prices that are no prices), unless another
        cause has the quotes down now (`_market_down`: TWS unreachable, cut off from IB
        by 1100, or not answering the watchdog). That cause's state and words stay (a
        link it has not said yet takes them), and its end sets the link LIVE again
        (`_rebuild`, `_restored`, `_market_fresh_again`). Before, a subscription set it
        LIVE whatever held it down: during a TWS hang or a 1100 the health pane read the
        quotes live, stale as they were, until the watchdog's next round (or the end of
        the 1100) said otherwise."""
        link = self.health_state.links.get("market")
        ours = link is not None and link.state is ConnectionState.DEGRADED and self._bad_prices_said
        down = self._market_down()
        if down is not None:
            if link is None or link.state is ConnectionState.LIVE or ours:
                state, detail = down
                self._bad_prices_said = False
                self._market_stale_said = self._unanswered and self._up
                await self.set_link("market", state, detail)
            return  # (said by its cause already: left to say when it is over)
        self._bad_prices_said = self.market.degraded
        state = ConnectionState.DEGRADED if self.market.degraded else ConnectionState.LIVE
        await self.set_link("market", state, self._market_detail())

    async def unsubscribe(self, instruments: Iterable[str]) -> None:
        for key in instruments:
            self.market.unsubscribe(key)
            self.health_state.last_message_ns.pop(key, None)
            self.health_state.extra.pop(f"md_type:{key}", None)
            self.health_state.extra.pop(f"md_problem:{key}", None)


def _cause(exc: BaseException | None) -> str:
    """What made a message unreadable, in one line: the first exception of the chain
    (ib_async's handler of a wrapped message fails in its own `except` on a value it
    could not convert, so the conversion's error is the context of the one raised)."""
    if exc is None:
        return "no reason given"
    seen = {id(exc)}
    while exc.__context__ is not None and id(exc.__context__) not in seen:
        exc = exc.__context__
        seen.add(id(exc))
    lines = str(exc).splitlines()
    return f"{type(exc).__name__}: {' '.join(lines[:2])[:200]}"


def _first_line(exc: Exception) -> str:
    lines = str(exc).splitlines()
    return f"{type(exc).__name__}: {' '.join(lines[:3])[:300]}"


def _cum_qty(execution: Any) -> Decimal:
    """IB's cumQty of an execution (the order's filled quantity with it); 0 unknown."""
    cum = execution.cumQty
    if not isinstance(cum, float | int | Decimal) or not 0 < cum < UNSET_DOUBLE:
        return Decimal(0)
    return to_decimal(cum)


def _not_after(execution: Any, last: Fill | None) -> bool:
    """Whether an execution is the instrument's last journaled fill or older. IB stamps
    executions to the second: one in the same second as the last fill is kept (an
    earlier one then comes back too; the journal knows it by its execution id)."""
    if last is None:
        return False
    if execution.execId == last.exec_id:
        return True
    when = execution.time
    if last.venue_ts_ns is None or when is None:
        return False
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return int(when.timestamp()) < last.venue_ts_ns // 1_000_000_000
