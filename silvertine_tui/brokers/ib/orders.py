"""Placing, modifying and cancelling at TWS, and TWS's answers to each.

An order request waits for TWS's first answer (`order_timeout_s`): a status is the
acknowledgement, an error a refusal named for the trader, a pacing error a retry (the
order never reached the market: a new order id, journaled once), silence a timeout whose
outcome is asked of TWS, never a blind resend. A modify is acknowledged by the openOrder
that carries the new terms; a refused modify restores the order's previous status with
the reason (the old terms keep working). A cancel that reaches TWS after the order ended
(a fill crossed it: TWS's FILLED answers it, or its 10148 "cannot be cancelled, state:
Filled") came too late: `CancelTooLate` says so, and the order stays as TWS ended it.
A cancel TWS answers 10147 (it has no such order) is checked with TWS
(`_unknown_at_tws`): an order TWS never acknowledged is left to its place's resolution,
one it had is ended as TWS holds it, never shown working again. A cancel of an order TWS
never acknowledged is journaled as its request alone (`journal_cancel`): the order
shows what it is, a place not resolved yet (PENDING_NEW), not "being cancelled".

A modify TWS did not answer in `order_timeout_s` may still be taken (`_late_modifies`):
TWS, asked, reports the order at its terms before it, and the journal says so. Until
TWS answers it (its openOrder with the new terms, "modify accepted late"; an error on
the order, "modify refused ..."; the order's end; another modify), the broker's health
names the order (`MODIFY_UNANSWERED` metrics, `_note_unanswered`): the desk reads that
its outcome is not known yet (the Orders row `NEW?`, `DeskProjection.modify_unanswered`),
as it reads the orders of a broker it cannot hear. The row read plain `NEW` at the old
price meanwhile.
"""

from __future__ import annotations

import asyncio
import copy
import logging
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from ib_async import OrderStatus as IbOrderStatus

from ...domain import (
    ConnectionState,
    OrderRequest,
    OrderStatus,
    OrderUpdate,
)
from ...domain.ids import short_id
from ...events import (
    CancelRequest,
    CancelRequestEvent,
    Log,
    LogEvent,
    LogLevel,
    ModifyRequest,
)
from ...events.summary import price_text, qty_text
from ..errors import (
    BrokerError,
    BrokerTimeout,
    CancelTooLate,
    InsufficientFunds,
    NotConnected,
    OrderRejected,
    RateLimited,
    SendRefused,
    UnknownOrder,
    cancel_too_late,
    modify_too_late,
)
from . import codes
from .state import IBState, Pending, terms_of
from .translate import (
    ENDED_AT_TWS,
    INACTIVE,
    ib_order,
    on_tick_places,
    price_or_none,
    status_of,
)

log = logging.getLogger(__name__)

L = ConnectionState

MODIFY_UNANSWERED = "modify_unanswered:"
"""A health metric's prefix: `modify_unanswered:<client order id>`, why (the words), for
each order whose modify TWS has not answered in `order_timeout_s` and may still take
(`_late_modifies`). `engine/projection.py` reads it under the same name."""


class IBOrders(IBState):
    async def _submit(self, request: OrderRequest) -> None:
        coid = request.client_order_id
        # The order as the desk names it (`short_id`): the ticket shows these words as
        # they are (its toast read "no answer from TWS to order <20 characters> in 5s").
        short = short_id(coid)
        contract = await self._contract(request.instrument)
        self.ids.add(coid, request.instrument)
        self._terms[coid] = terms_of(request)
        for attempt in range(4):
            # The contract's lookup, or a pacing error's pause, may have lasted while
            # trading went HALTED or this desk's claim lapsed: asked again before each
            # send, as after the order's journal writes. Refused, nothing is placed
            # (the pause's retry went to TWS after HALTED).
            self._refuse_place_if_held(coid, attempt)
            if not self._up:
                raise BrokerTimeout(
                    f"{self.source}: the socket to TWS dropped while placing {short}; "
                    "its fate is asked of TWS after the reconnect"
                )
            order = ib_order(request, self.account, outside_rth=self.cfg.outside_rth)
            order.orderId = self._fresh_order_id()
            self.ids.bind_order(coid, self.client_id, order.orderId)
            try:
                outcome = await self._answer(
                    self._placing,
                    coid,
                    Pending(asyncio.get_running_loop().create_future()),
                    self.ib.placeOrder,
                    contract,
                    order,
                )
            except TimeoutError:
                raise BrokerTimeout(
                    f"no answer from TWS to order {short} in {self.cfg.order_timeout_s:g}s; "
                    "asking TWS what became of it"
                ) from None
            except ConnectionError as exc:
                raise BrokerTimeout(f"socket to TWS broke while placing {short}: {exc}") from None
            if outcome == "ack":
                return
            if outcome == "lost":
                raise BrokerTimeout(
                    f"the socket to TWS dropped before {short} was acknowledged; "
                    "asking TWS after the reconnect"
                )
            code_text, _, message = outcome.partition("|")
            code = int(code_text)
            if code in codes.PACING:
                await asyncio.sleep(self.cfg.pacing_delay_s)
                continue  # nothing reached the market: a new order id, same order
            reason = codes.reject_reason(code, message)
            if codes.is_funds_reject(code, message):
                raise InsufficientFunds(reason, code=code)
            raise OrderRejected(reason, code=code)
        raise RateLimited(f"TWS kept refusing order {short} for pacing; nothing was placed")

    def _refuse_place_if_held(self, coid: str, attempt: int) -> None:
        """`send_guard` asked before a send of a new order (`_submit`); refused, an
        `SendRefused` saying so, which `Broker.place` journals as the order's REJECTED
        ("not sent: ...", as `Broker._refuse_if_held` words it)."""
        refusal = self.send_refusal()
        if not refusal:
            return
        log.warning(
            "ib.place_refused_before_send",
            extra={"broker": self.source, "client_order_id": coid, "attempt": attempt},
        )
        raise SendRefused(f"not sent: {refusal}")

    def _fresh_order_id(self) -> int:
        """The next order id, never one another order of ours holds. After a reconnect
        TWS's nextValidId can start below an id sent just before the drop that never
        reached TWS; given again, a cancel of the lost order found the new one's trade
        and cancelled it."""
        while True:
            order_id = self.ib.client.getReqId()
            if self.ids.by_order(self.client_id, order_id) is None:
                return order_id

    async def _answer(
        self,
        waiting: dict[str, Pending],
        coid: str,
        pending: Pending,
        send: Callable[..., object],
        *args: object,
        timeout: float | None = None,
    ) -> str:
        """Send a place, modify or cancel of `coid` and wait for TWS's first answer to it
        (registered in `waiting` meanwhile); TimeoutError after `timeout` (by default
        `order_timeout_s`)."""
        waiting[coid] = pending
        try:
            send(*args)
            wait = self.cfg.order_timeout_s if timeout is None else timeout
            return await asyncio.wait_for(asyncio.shield(pending.future), wait)
        finally:
            waiting.pop(coid, None)

    async def _recheck(self, coid: str, what: str) -> None:
        """After a modify or cancel got no answer: journal what TWS says the order is
        (a reconnect's catch-up does the same if TWS cannot be asked now)."""
        venue = await self.query_order(coid)
        if venue is None or coid not in self._intent:
            return
        reason = f"no answer to the {what}; TWS reports the order {venue.status}"
        late = self._late_modifies.get(coid) if what == "modify" else None
        if late is not None and venue.status.is_terminal:
            del self._late_modifies[coid]  # ended: nothing of it works any more
        elif late is not None:
            if _takes(late, (venue.quantity, venue.limit_price, venue.stop_price)):
                del self._late_modifies[coid]
                reason = self._accepted_late()
            else:
                reason = self._still_late(venue.status)
        await self.publish_report(venue.terms_update(reason))
        await self._unanswered_moved()

    def _still_late(self, status: OrderStatus) -> str:
        return (
            f"no answer to the modify in {self.cfg.order_timeout_s:g} s; TWS reports the "
            f"order {status} at its terms before the modify, which TWS may still take: "
            "the desk shows it if TWS does"
        )

    def _note_unanswered(self) -> bool:
        """The health metrics name the modifies TWS has not answered and may still
        take (`_late_modifies`), each with why (`MODIFY_UNANSWERED`); True when they
        changed."""
        extra = self.health_state.extra
        said = {key for key in extra if key.startswith(MODIFY_UNANSWERED)}
        late = {MODIFY_UNANSWERED + coid for coid in self._late_modifies}
        if said == late:
            return False
        for key in said - late:
            del extra[key]
        for key in late - said:
            extra[key] = (
                f"no answer to the modify in {self.cfg.order_timeout_s:g} s; TWS may still take it"
            )
        return True

    async def _unanswered_moved(self) -> None:
        """The modifies TWS has not answered changed (one went late, or was answered
        or let go): the health says so now, not at the next heartbeat. A health event
        with no message: no Log line of its own (the journal's line says it)."""
        if self._note_unanswered():
            await self.publish_health()

    async def publish_health(self, message: str = "") -> None:
        self._note_unanswered()  # (an order forgotten meanwhile, `_forget_order`)
        await super().publish_health(message)

    def _accepted_late(self) -> str:
        return (
            "modify accepted late (TWS confirmed the desk's modify after the "
            f"{self.cfg.order_timeout_s:g} s it was waited for)"
        )

    async def _restore(self, coid: str, reason: str, *, put_back: bool = False) -> None:
        """A cancel or modify not done: the order's status goes back to TWS's last
        report of it. An order TWS never acknowledged has none to go back to: nothing
        is journaled (the state machine takes no PENDING_CANCEL -> PENDING_NEW; put
        back NEW, it showed working an order TWS never had, and its place's REJECTED
        was refused as stale), and the place's resolution ends it. `put_back`: written
        only while the order still reads it (`IBState.publish_report`)."""
        if not self._acknowledged(coid):
            log.info(
                "ib.restore_unacknowledged",
                extra={"broker": self.source, "client_order_id": coid, "reason": reason},
            )
            self.resolve_unknown(coid)
            return
        status, filled = self._last[coid]
        ids = self.ids.get(coid)
        await self.publish_report(
            OrderUpdate(
                client_order_id=coid,
                status=status,
                venue_order_id=str(ids.perm_id) if ids is not None and ids.perm_id else None,
                filled_qty=filled,
                reason=reason,
            ),
            put_back=put_back,
        )

    def _acknowledged(self, coid: str) -> bool:
        """TWS has reported the order (a status, or one read from the journal, or
        adopted from TWS's listing); False while its place has had no answer."""
        last = self._last.get(coid)
        return last is not None and last[0] is not OrderStatus.PENDING_NEW

    def resolve_unknown(self, client_order_id: str) -> None:
        """One resolution an order at a time (a cancel of an order TWS never
        acknowledged makes sure one runs: `_restore`, `_unknown_at_tws`)."""
        if client_order_id in self._resolving:
            return
        self._resolving.add(client_order_id)

        async def resolve() -> None:
            try:
                await self._resolve(client_order_id)
            finally:
                self._resolving.discard(client_order_id)

        self.in_background(resolve(), f"resolve:{self.source}:{client_order_id}")

    @staticmethod
    def _unacknowledged(shows: OrderStatus) -> str:
        """What becomes of an order TWS never acknowledged, for the trader."""
        return (
            "the order was never acknowledged by TWS (its place had no answer). It "
            f"shows {shows} while TWS is asked what became of it: it ends REJECTED if it "
            "never reached TWS, or shows as TWS reports it if it did (cancel it again "
            "then)"
        )

    def _trade(self, coid: str) -> Any:
        ids = self.ids.get(coid)
        if ids is None:
            return None
        trade = self.ib.wrapper.trades.get((ids.client_id, ids.order_id))
        ref = trade.order.orderRef if trade is not None else ""
        if ref and ref != coid and not ids.adopted:
            trade = None  # another order of ours under the same (client, order) id
        perm = trade.order.permId if trade is not None else 0
        if perm and ids.perm_id and perm != ids.perm_id:
            trade = None  # another order (IB's permId names one order for good)
        if trade is None and ids.perm_id:
            trade = self.ib.wrapper.permId2Trade.get(ids.perm_id)
        if trade is not None and trade.order.orderId <= 0 and not ids.adopted:
            # From TWS's listing of completed orders, which names neither the order id
            # nor the client id: a change sent with it went out as order id 0.
            return None
        return trade

    def _foreign_client(self, coid: str, trade: Any = None) -> str:
        """Why `coid` cannot be changed from this socket's client id ("" when it can):
        placed under another client id, as the adapter knows it or as TWS lists the
        order (`trade`: the order ids a change would go out with). A change goes out
        by order id under this socket's client id: sent with another client's order id
        (an order read from the journal whose ids the rebuild has not bound yet, found
        by its permId in TWS's listing of every client's open orders), it reached
        whatever order of this client has that id."""
        ids = self.ids.get(coid)
        own = ids is not None and not ids.adopted
        if ids is not None and ids.client_id >= 0 and ids.client_id != self.client_id:
            return self._placed_elsewhere(ids.client_id, own=own)
        order = trade.order if trade is not None else None
        if order is not None and order.orderId > 0 and order.clientId != self.client_id:
            return self._placed_elsewhere(order.clientId, own=own)
        return ""

    def _refuse_unlearned(self, coid: str) -> None:
        """While the rebuild after a (re)connect runs, a cancel of an order whose ids on
        this socket are not known yet (read from the journal, placed under a client id
        TWS has not listed it under yet) is refused before anything is journaled: the
        rebuild re-learns them (TWS's listing of every client's open and completed
        orders), and a cancel sent by a guessed order id could reach another order.
        Said to the trader with what does reach it now (IB's global cancel); the engine
        retries it (NotConnected). Cancels of the orders whose ids are certain go at
        once."""
        ids = self.ids.get(coid)
        if not self._rebuilding or ids is None or ids.status.is_terminal:
            return
        trade = self._trade(coid)
        if trade is not None or self._foreign_client(coid):
            return  # sent to its own id, or refused saying where it works (`_cancel`)
        self._require_tradable(cancel=True)
        raise NotConnected(
            f"{self.source}: cancel of {coid} not sent: connected as client id "
            f"{self.client_id}, the desk is rebuilding what TWS holds and has not yet "
            "re-learned which order id this order has at TWS (a cancel by a guessed id "
            "could reach another order). Send it again once the api link is LIVE (the "
            "health pane), or cancel it now with cancel all of every instrument or the "
            "kill switch (IB's global cancel reaches it)",
            code="rebuilding",
        )

    def _placed_elsewhere(self, client_id: int, *, own: bool) -> str:
        """Why an order of another client id cannot be changed from here, and how it can
        be cancelled (IB's global cancel reaches it). `own`: the desk's journal placed
        it (an order adopted from TWS's listing is not known to be the desk's: under
        one of its client ids, another desk or program on that id may have placed it,
        a copy of the config with another prefix)."""
        by = "in TWS (client id 0)" if client_id == 0 else f"by client id {client_id}"
        where = "in TWS" if client_id == 0 else f"in TWS or from client id {client_id}"
        if client_id in self.client_ids:
            # One of this desk's own ids: it is on another after TWS answered 326.
            placed = (
                f"placed by this desk under client id {client_id}"
                if own
                else (
                    f"placed under client id {client_id}, one of this desk's client ids, "
                    "not by this desk as its journal knows (adopted from TWS's listing: "
                    f"another desk or program using client id {client_id} placed it, or "
                    "this desk before its journal began)"
                )
            )
            return (
                f"{placed}; this session is on client id {self.client_id} "
                f"({self._why_on_this_id(client_id)}), and IB lets only client id "
                f"{client_id} change it. {self._way_back(client_id)} Now: cancel it "
                f"{where}, or with cancel all of every instrument or the kill switch "
                "(IB's global cancel)"
            )
        return (
            f"placed {by}, this session is client id {self.client_id}: IB lets only "
            f"that client change it; cancel it {where}, or with cancel all of every "
            "instrument or the kill switch (IB's global cancel)"
        )

    def _adopted_client(self, coid: str) -> int | None:
        """The client id of an order TWS listed that is not one of ours (adopted on
        reconcile under its orderRef or `ib-<permId>`: `_foreign_id`); None if TWS
        listed no working order under that id in this session."""
        if coid in self.ids:
            return None
        for trade in list(self.ib.wrapper.permId2Trade.values()):
            order = trade.order
            if order.account and order.account != self.account:
                continue
            if trade.orderStatus.status in ENDED_AT_TWS:
                continue
            if self._foreign_id(order.orderRef, order.permId) == coid:
                return int(order.clientId)
        return None

    def _refuse_adopted(self, coid: str, what: str) -> None:
        """An order TWS lists but this adapter did not place nor find in the journal
        (adopted on reconcile): if another client id placed it, say so (IB lets only
        that client change it) before anything is journaled, rather than "no such
        order: nothing was sent". One this client placed (an earlier run whose journal
        is gone) is changed like one of ours."""
        ids = self.ids.get(coid)
        if ids is not None and (not ids.adopted or ids.status.is_terminal):
            return  # ours (`_cancel`/`_modify` say why not, if so), or ended
        other = ids.client_id if ids is not None else self._adopted_client(coid)
        if ids is not None and ids.client_id < 0:
            # Read back from the journal at a restart (`_learn_adopted`): whose it is,
            # TWS says as it lists it; until then it is not known here.
            trade = self.ib.wrapper.permId2Trade.get(ids.perm_id) if ids.perm_id else None
            if trade is None:
                self._require_tradable(cancel=what == "cancel")
                raise NotConnected(
                    f"{what} of {coid} not sent: an order adopted before this desk "
                    "started, which TWS has not listed in this session yet (IB lets only "
                    "the client that placed it change it); send it again in a moment, or "
                    "cancel it with cancel all of every instrument or the kill switch "
                    "(IB's global cancel)",
                    code="rebuilding",
                )
            other = int(trade.order.clientId)
            if trade.order.orderId > 0:
                self.ids.bind_order(coid, other, int(trade.order.orderId))
            else:
                ids.client_id = other
        if other is not None and other >= 0 and other != self.client_id:
            self._require_tradable(cancel=what == "cancel")
            raise OrderRejected(
                f"{what} of {coid} not sent: {self._placed_elsewhere(other, own=False)}"
            )
        if ids is not None and ids.order_id <= 0:
            self._require_tradable(cancel=what == "cancel")
            raise OrderRejected(
                f"{what} of {coid} not sent: it was placed in TWS and has no API order id "
                "here; change it in TWS, or cancel it with cancel all of every instrument "
                "or the kill switch (IB's global cancel)"
            )

    async def place(self, request: OrderRequest, market_price: Decimal | None = None) -> str:
        with self._working_on_orders():
            return await super().place(request, market_price)

    async def cancel(self, client_order_id: str, reason: str = "") -> None:
        with self._working_on_orders():
            await self._through_move()
            self._refuse_adopted(client_order_id, "cancel")
            self._refuse_ended(client_order_id, "cancel")
            self._refuse_unreachable(client_order_id)
            self._refuse_unlearned(client_order_id)
            await super().cancel(client_order_id, reason)

    async def journal_cancel(self, client_order_id: str, reason: str) -> None:
        """The cancel's intent, before it is sent. For an order TWS never acknowledged
        (its place had no answer) the cancel request alone is journaled, not
        PENDING_CANCEL: the order stays what it is, a place not resolved (PENDING_NEW),
        with the cancel in its history. Journaled PENDING_CANCEL, it read "being
        cancelled" while TWS was asked what became of its place (TWS had answered the
        cancel 10147, it holds no such order), and no status TWS can report puts it
        back (the state machine takes no PENDING_CANCEL -> PENDING_NEW). Its end
        follows from TWS: CANCELED by this cancel if the place reached TWS, else as its
        place's resolution says (REJECTED: it never reached TWS; or as TWS lists it)."""
        coid = client_order_id
        if not self._unresolved_place(coid):
            await super().journal_cancel(coid, reason)
            return
        log.info(
            "ib.cancel_of_unacknowledged",
            extra={"broker": self.source, "client_order_id": coid, "reason": reason},
        )
        await self.publish(
            CancelRequestEvent.create(
                self.source,
                CancelRequest(client_order_id=coid, reason=reason),
                ts=self.clock(),
            )
        )

    def _unresolved_place(self, coid: str) -> bool:
        """An order of ours, not ended, that TWS has reported nothing of (its place had
        no answer, or still waits for one)."""
        ids = self.ids.get(coid)
        return (
            ids is not None
            and not ids.adopted
            and not ids.status.is_terminal
            and not self._acknowledged(coid)
        )

    def _refuse_unreachable(self, coid: str) -> None:
        """An order TWS never acknowledged whose place went on a socket that is gone:
        ib_async holds no trade for it, so no cancel can go out. Refused before it is
        journaled, so the order stays PENDING_NEW (journaled, the cancel could only be
        undone to a status TWS never reported) and ends as its place's resolution
        says."""
        ids = self.ids.get(coid)
        if ids is None or ids.adopted or ids.status.is_terminal or self._acknowledged(coid):
            return
        trade = self._trade(coid)
        foreign = self._foreign_client(coid, trade)
        if trade is not None and not foreign:
            return
        self._require_tradable(cancel=True)
        self.resolve_unknown(coid)
        why = f"{foreign}; " if foreign else "TWS holds no order for it in this session: "
        what = self._unacknowledged(OrderStatus.PENDING_NEW)
        raise UnknownOrder(f"cancel of {coid} not sent: {why}{what}", code="unknown_order")

    def _refuse_ended(self, coid: str, what: str) -> None:
        """An order this adapter saw end with a fill (its end reached the adapter before
        the desk had it) is not cancelled nor changed: the `what` came too late, nothing
        is sent. Forgotten once ended, it read "ib has no order ...", a red "Cancel
        failed" or "Modify failed"."""
        ids = self.ids.get(coid)
        last = self._last.get(coid)
        if ids is None or not ids.status.is_terminal or last is None:
            return
        if last[0] is not OrderStatus.CANCELED:
            self._require_tradable(cancel=what == "cancel")
            too_late = cancel_too_late if what == "cancel" else modify_too_late
            raise too_late(coid, "IB", last[0], last[1], said="nothing was sent", code="too_late")

    async def modify(
        self,
        client_order_id: str,
        *,
        quantity: Decimal | None = None,
        limit_price: Decimal | None = None,
        stop_price: Decimal | None = None,
    ) -> None:
        with self._working_on_orders():
            self._refuse_adopted(client_order_id, "modify")
            self._refuse_ended(client_order_id, "modify")
            await super().modify(
                client_order_id, quantity=quantity, limit_price=limit_price, stop_price=stop_price
            )

    async def _change_not_sent(self, client_order_id: str, reason: str) -> None:
        """A change refused after its journal writes (`Broker._refuse_change_if_held`,
        asked again before each send and each pacing retry: `_modify`): nothing went
        to TWS, so its PENDING_REPLACE goes back to TWS's last status of the order
        (`_change_put_back`: kept until the bus takes it)."""
        await self._change_put_back(client_order_id, reason)

    async def _change_put_back(self, client_order_id: str, reason: str) -> None:
        """The one path of every change's put-back, refused by the adapter or by TWS
        (`_modify`, `_change_not_sent`): its PENDING_REPLACE goes back to TWS's last
        status of the order with `reason` (`_restore`). Not when the journal has moved
        past it meanwhile (TWS's status of a fill, a cancel's PENDING_CANCEL), read here
        and again once the put-back's own await is done (`put_back`: its `_note_ahead`
        reads the journal, and a cancel's PENDING_CANCEL and TWS's CANCELED were
        journaled before it). Before, a modify TWS refused (201) wrote NEW "modify
        refused, the order works on unchanged" over a cancel's PENDING_CANCEL
        journaled while it waited for TWS's answer (or after its CANCELED)."""
        await self._put_back(client_order_id, reason, OrderStatus.PENDING_REPLACE)

    async def _put_back(self, coid: str, reason: str, pending: OrderStatus) -> None:
        """A refused change's or cancel's put-back (`_change_put_back`,
        `_cancel_put_back`): written (`_restore`, `put_back`) only while the order here
        still reads `pending`, its request's status; else dropped, said in the log."""
        ids = self.ids.get(coid)
        if ids is not None and ids.status is pending:
            await self._restore(coid, reason, put_back=True)
            return
        log.info(
            "ib.put_back_dropped",
            extra={
                "broker": self.source,
                "client_order_id": coid,
                "pending": str(pending),
                "status": str(ids.status) if ids is not None else None,
                "reason": reason,
            },
        )

    async def _modify(self, change: ModifyRequest) -> None:
        coid = change.client_order_id
        self._late_modifies.pop(coid, None)  # this one's answer stands for TWS's terms
        await self._unanswered_moved()
        trade = self._trade(coid)
        foreign = self._foreign_client(coid, trade)
        if trade is None or foreign:
            why = foreign or "TWS has no working order for it in this session"
            await self._change_put_back(coid, f"modify not sent: {why}")
            raise OrderRejected(f"modify of {coid} not sent: {why}")
        for _ in range(4):
            # `_unanswered_moved` (a health write), or a pacing error's pause, may have
            # lasted while trading went HALTED or this desk's claim lapsed: asked again
            # before each send, as after the change's journal writes. Refused, nothing
            # goes to TWS, the order's status is put back and the trader told why
            # (the pause's retry reached TWS after HALTED).
            await self._refuse_change_if_held(coid)
            order = copy.copy(trade.order)
            if change.quantity is not None:
                order.totalQuantity = float(change.quantity)
            if change.limit_price is not None:
                order.lmtPrice = float(change.limit_price)
            if change.stop_price is not None:
                order.auxPrice = float(change.stop_price)
            undo_guess(trade)
            if trade.orderStatus.status == INACTIVE:
                # ib_async modifies no order it holds done (Inactive among them): not
                # sent, the order stays as IB holds it.
                why = (
                    "the order is inactive at IB (held, not working now); cancel it, "
                    "or change it in TWS"
                )
                await self._change_put_back(coid, f"modify not sent: {why}")
                raise OrderRejected(f"modify of {coid} not sent: {why}")
            if trade.orderStatus.status in IbOrderStatus.DoneStates:
                # TWS reported the order's end (a fill) and the adapter's queue has not
                # journaled it yet: nothing is sent (ib_async sent the modify, then
                # failed its own check with a bare AssertionError).
                await self._modify_ended(coid)
            try:
                outcome = await self._answer(
                    self._modifying,
                    coid,
                    Pending(asyncio.get_running_loop().create_future(), change),
                    self.ib.placeOrder,
                    trade.contract,
                    order,
                )
            except TimeoutError:
                # TWS may take it still: its openOrder then is this modify, accepted late.
                # Until it answers, the order's outcome is not known (its health says it).
                self._late_modifies[coid] = change
                await self._unanswered_moved()
                self._spawn(self._recheck(coid, "modify"), "recheck")
                raise BrokerTimeout(
                    f"the modify of {coid}: no answer from TWS in "
                    f"{self.cfg.order_timeout_s:g} s, so whether TWS took it is not known "
                    "(it may still). Check the order before changing it again: the desk "
                    "shows TWS's word on it when it comes (TWS is being asked now)"
                ) from None
            if outcome == "ack":
                return
            if outcome == "done":
                await self._modify_ended(coid)
                return
            if outcome == "lost":
                raise BrokerTimeout(f"socket to TWS dropped during the modify of {coid}")
            code_text, _, message = outcome.partition("|")
            code = int(code_text)
            if code in codes.PACING:
                await asyncio.sleep(self.cfg.pacing_delay_s)
                continue
            if code == codes.CANNOT_MODIFY:
                ended = await self._how_it_ended(coid)
                if ended is not None:
                    raise modify_too_late(
                        coid, "IB", *ended, said=f"TWS {code}: {message}", code=code
                    )
            reason = "modify refused, the order works on unchanged: " + codes.reject_reason(
                code, message
            )
            await self._change_put_back(coid, reason)
            raise OrderRejected(reason, code=code)
        await self._change_put_back(
            coid, "modify not done: TWS kept answering with pacing violations"
        )
        raise RateLimited(f"modify of {coid}: TWS kept answering with pacing violations")

    async def _modify_ended(self, coid: str) -> None:
        """TWS ended the order while the modify waited for its answer (a fill crossed
        it, or IB cancelled it): the modify came too late, nothing was changed. Said as
        a success, the trader read the change as made and then a red "TWS error 104"."""
        await self._inbox.join()
        status, filled = self._last.get(coid, (OrderStatus.FILLED, Decimal(0)))
        raise modify_too_late(coid, "IB", status, filled, code="too_late")

    async def _cancel(self, client_order_id: str) -> None:
        coid = client_order_id
        trade = self._trade(coid)
        foreign = self._foreign_client(coid, trade)
        if trade is None or foreign:
            why = foreign or "TWS has no working order for it in this session"
            await self._cancel_put_back(coid, f"cancel not sent: {why}")
            raise OrderRejected(f"cancel of {coid} not sent: {why}")
        for _ in range(4):
            undo_guess(trade)
            try:
                outcome = await self._answer(
                    self._cancelling,
                    coid,
                    Pending(asyncio.get_running_loop().create_future()),
                    self.ib.cancelOrder,
                    trade.order,
                )
            except TimeoutError:
                self._spawn(self._recheck(coid, "cancel"), "recheck")
                raise BrokerTimeout(
                    f"no answer from TWS to the cancel of {coid}; asking TWS for the order"
                ) from None
            if await self._cancel_over(coid, outcome):
                return
            code_text, _, message = outcome.partition("|")
            code = int(code_text)
            if code in codes.PACING:
                await asyncio.sleep(self.cfg.pacing_delay_s)
                continue
            if code == codes.CANNOT_CANCEL:
                ended = await self._how_it_ended(coid)
                if ended is not None:
                    raise cancel_too_late(
                        coid, "IB", *ended, said=f"TWS {code}: {message}", code=code
                    )
                if codes.PENDING_CANCEL_STATE in message:
                    await self._join_pending_cancel(coid)
                    return
            if code == codes.UNKNOWN_CANCEL:
                raise await self._unknown_at_tws(coid, code, message)
            reason = f"cancel refused: {codes.reject_reason(code, message)}"
            await self.settle()  # (TWS's reports sent before its refusal are read first)
            await self._cancel_put_back(coid, reason)
            if code == codes.UNKNOWN_CANCEL:
                raise UnknownOrder(f"{coid}: {reason}", code=code)
            raise OrderRejected(f"{coid}: {reason}", code=code)
        await self._cancel_put_back(
            coid, "cancel not done: TWS kept answering with pacing violations"
        )
        raise RateLimited(f"cancel of {coid}: TWS kept answering with pacing violations")

    async def _cancel_put_back(self, coid: str, reason: str) -> None:
        """The one path of every cancel's put-back (not sent, refused by TWS, paced
        every time, 10147 of an order TWS lists working): its PENDING_CANCEL goes back
        to TWS's last status of the order with `reason` (`_restore`), only while the
        order here still reads PENDING_CANCEL, and again once the put-back's own await
        is done (`put_back`, `IBState._moved_since`), as a change's (`_change_put_back`).
        Before, it was written over whatever the journal had taken meanwhile: a
        modify's PENDING_REPLACE journaled while the cancel waited (the desk showed
        NEW at the old price with the change on its way), TWS's report of a fill made
        meanwhile (written again after it as "cancel refused"), or TWS's status from
        the listing a 10147 asked for. An order TWS never acknowledged has no
        PENDING_CANCEL journaled (`journal_cancel`): `_restore` leaves it to its
        place's resolution."""
        if not self._acknowledged(coid):
            await self._restore(coid, reason)
        else:
            await self._put_back(coid, reason, OrderStatus.PENDING_CANCEL)

    async def _cancel_over(self, coid: str, outcome: str) -> bool:
        """A cancel's wait ended by the order's end ("done": True, as `_ended_by_cancel`
        judges it) or the socket's (raised); False for TWS's answer to read."""
        if outcome == "done":
            await self._ended_by_cancel(coid)
            return True
        if outcome == "lost":
            raise BrokerTimeout(f"socket to TWS dropped during the cancel of {coid}")
        return False

    async def _unknown_at_tws(self, coid: str, code: int, message: str) -> BrokerError:
        """TWS answered the cancel 10147: it holds no order of this client under the
        order's id. What to raise, once TWS is asked what it holds of the order (the
        day's executions, open and completed orders: `_catch_up`, each report
        journaled once). Taken as a refusal (the order put back to TWS's last status),
        the desk showed working an order TWS does not have: NEW for one TWS never
        acknowledged (its place's REJECTED then refused as stale), or one that ended at
        IB unheard (filled or cancelled, and TWS restarted since: it forgets the ids of
        ended orders)."""
        said = f"TWS {code}: {message.strip().rstrip('.')}"
        acknowledged = self._acknowledged(coid)
        await self.settle()
        listed = None if self._ended(coid) else await self._listed_at_tws(coid)
        found = await self._unknown_found(coid, code, message, acknowledged, listed)
        if found is not None:
            return found
        # Acknowledged, and TWS could not be asked now: asked again in the background.
        self._spawn(self._unknown_later(coid, code, message), "unknown_cancel")
        return UnknownOrder(
            f"cancel of {coid} not done: TWS has no such order ({said}) and could not be "
            "asked what became of it now; it shows PENDING_CANCEL until TWS answers "
            "(asked again in the background)",
            code=code,
        )

    async def _unknown_found(
        self,
        coid: str,
        code: int,
        message: str,
        acknowledged: bool,
        listed: set[str] | None,
    ) -> BrokerError | None:
        """After a 10147 and TWS asked (`listed`: the orders it listed; None if it
        could not be asked): the error that says what became of the cancel, with the
        order's end journaled if TWS holds none of it. None: an acknowledged order TWS
        could not be asked about."""
        text = message.strip().rstrip(".")
        said = f"TWS {code}: {text}"
        last = self._last.get(coid)
        if last is not None and last[0].is_terminal:
            if last[0] is OrderStatus.REJECTED:  # its place's resolution came first
                return UnknownOrder(
                    f"cancel of {coid} not needed: TWS has no such order ({said}); the "
                    "order never reached TWS and is REJECTED",
                    code=code,
                )
            return cancel_too_late(coid, "IB", last[0], last[1], said=said, code=code)
        if listed is not None and coid in listed:
            # TWS lists it working: the journal has its status from that listing.
            reason = f"cancel refused: {codes.reject_reason(code, message)}"
            await self._cancel_put_back(coid, reason)
            return UnknownOrder(
                f"{coid}: {reason}, yet TWS lists the order working: cancel it again, or in TWS",
                code=code,
            )
        if not acknowledged:
            self.resolve_unknown(coid)
            return UnknownOrder(
                f"cancel of {coid} not done: TWS has no such order ({said}): "
                + self._unacknowledged(OrderStatus.PENDING_NEW),
                code=code,
            )
        if listed is None:
            return None
        # TWS has no trace of it today: it is not working there.
        ids = self.ids.get(coid)
        await self.publish_report(
            OrderUpdate(
                client_order_id=coid,
                status=OrderStatus.CANCELED,
                venue_order_id=str(ids.perm_id) if ids is not None and ids.perm_id else None,
                filled_qty=last[1] if last is not None else None,
                reason=(
                    f"no longer at IB: TWS answered its cancel {code} ({text}) and lists "
                    "it neither open nor among the day's completed orders"
                ),
            )
        )
        return CancelTooLate(
            f"cancel of {coid} came too late: TWS no longer has the order ({said}), nor "
            "any record of it today; nothing is working there for it. It is ended "
            "CANCELED on the desk: if it may have traded on an earlier day, check its "
            "fills and the position in TWS",
            code=code,
        )

    async def _listed_at_tws(self, coid: str) -> set[str] | None:
        """The desk's orders TWS lists now, what it holds of them journaled
        (`_catch_up`); None when TWS could not be asked (logged, for `coid`'s cancel)."""
        try:
            return await self._catch_up()
        except BrokerError as exc:
            log.warning(
                "ib.cancel_check_failed",
                extra={"broker": self.source, "client_order_id": coid, "error": str(exc)},
            )
            return None

    async def _unknown_later(self, coid: str, code: int, message: str) -> None:
        """A 10147 of an acknowledged order TWS could not be asked about: asked until
        it answers, while the journal's last word on the order is still the cancel
        (PENDING_CANCEL); what became of the cancel is said in the Log."""
        delay = 0.2
        while coid in self._intent and not self._stopping():
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)
            if coid not in self._intent or not self._up:
                continue
            listed = await self._listed_at_tws(coid)
            if listed is None:
                continue
            found = await self._unknown_found(coid, code, message, True, listed)
            if found is not None:
                await self._say(coid, LogLevel.WARNING, str(found), code)
            return

    async def _ended_by_cancel(self, coid: str) -> None:
        """TWS ended the order while the cancel was on its way: cancelled (by this
        cancel, or by IB just before it) is what was asked; anything else (a fill) means
        the cancel came too late."""
        await self._inbox.join()
        status, filled = self._last.get(coid, (OrderStatus.CANCELED, Decimal(0)))
        if status is not OrderStatus.CANCELED:
            raise cancel_too_late(coid, "IB", status, filled, code="too_late")

    async def _join_pending_cancel(self, coid: str) -> None:
        """TWS answered the cancel 10148 `state: PendingCancel`: a cancel sent from
        elsewhere (TWS's window, another client id) is on its way at IB. This one waits
        for the order's end as for its own, sending nothing more (refused, the order
        went back to NEW on the desk and the trader read "cancel refused" of an order
        being cancelled). Other answers of TWS for the order meanwhile (a global
        cancel's 10148) change nothing: the wait goes on until `order_timeout_s`."""
        log.info(
            "ib.cancel_pending_elsewhere", extra={"broker": self.source, "client_order_id": coid}
        )
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.cfg.order_timeout_s
        while True:
            try:
                outcome = await self._answer(
                    self._cancelling,
                    coid,
                    Pending(loop.create_future()),
                    lambda: None,  # nothing is sent: the cancel pending at IB is awaited
                    timeout=max(0.0, deadline - loop.time()),
                )
            except TimeoutError:
                raise BrokerTimeout(
                    f"a cancel of {coid} sent from elsewhere (TWS, another client) is "
                    f"pending at IB and the order has not ended within "
                    f"{self.cfg.order_timeout_s:g} s; it shows PENDING_CANCEL until TWS "
                    "reports its end"
                ) from None
            if await self._cancel_over(coid, outcome):
                return
            log.info(
                "ib.cancel_pending_elsewhere_said",
                extra={"broker": self.source, "client_order_id": coid, "said": outcome},
            )

    async def _how_it_ended(self, coid: str) -> tuple[OrderStatus, Decimal] | None:
        """After TWS answered a cancel with 10148 (the order is no longer working
        there): how the order ended, and how much of it filled, as TWS reports it; None
        while TWS says it still works (a cancel already pending at TWS).

        TWS sends the reports of the fill (or cancel) that beat the cancel before its
        10148: they are journaled first. Reports that never reached this client are
        asked of TWS (the day's executions, open and completed orders: `_catch_up`),
        each journaled once, so the desk shows the fill and the order's end as TWS holds
        them, never the order as still working."""
        await self.settle()
        last = self._last.get(coid)
        if last is None or not last[0].is_terminal:
            try:
                await self._catch_up()
            except BrokerError as exc:
                log.warning(
                    "ib.cancel_check_failed",
                    extra={"broker": self.source, "client_order_id": coid, "error": str(exc)},
                )
            last = self._last.get(coid)
        if last is None or not last[0].is_terminal:
            return None
        return last

    async def cancel_all(
        self, instrument: str | None = None, reason: str = "cancel all"
    ) -> list[str]:
        """IB's global cancel (every working order of the account: other client ids and
        TWS's own orders too) when no instrument is named; else one cancel per order.

        The global cancel goes out first, and what the journal lacks (orders of other
        client ids that ended meanwhile: TWS tells only their own client) is asked of
        TWS after it. Asked before, the three requests of the catch-up held the cancel
        back by their round trips, and a TWS that did not answer one kept it from going
        out at all (its timeout failed the cancel all)."""
        with self._working_on_orders():
            await self._through_move()
            return await self._cancel_all(instrument, reason)

    async def _cancel_all(self, instrument: str | None, reason: str) -> list[str]:
        if instrument is not None:
            return await super().cancel_all(instrument, reason)
        self._require_tradable(cancel=True)
        working = [ids.client_order_id for ids in self.ids.working() if ids.perm_id]
        # Ours that TWS has not acknowledged (their place had no answer, or waits for
        # one): the global cancel takes them too if they reached TWS. Not waited for
        # (one that never reached TWS has nothing to report), but counted cancelled
        # when TWS's reports of them, read by then, say so.
        unheard = [
            ids.client_order_id for ids in self.ids.working() if not ids.perm_id and not ids.adopted
        ]
        for coid in working:
            await self.journal_cancel(coid, f"{reason} (global cancel)")
        self.ib.reqGlobalCancel()  # type: ignore[no-untyped-call]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.cfg.order_timeout_s
        asked = False
        while loop.time() < deadline:
            await self.settle()
            if not self._still_working(working):
                break
            if not asked:
                # Orders of other client ids: TWS tells only their own client.
                asked = True
                try:
                    await self._catch_up()
                except BrokerError as exc:  # the cancel is out: its reports still count
                    log.warning(
                        "ib.global_cancel_catch_up_failed",
                        extra={"broker": self.source, "error": str(exc)},
                    )
                continue
            await asyncio.sleep(0.01)
        still = self._still_working(working)
        if still:
            # The orders by their short ids, as the desk names them everywhere (the
            # kill switch's report and Log carry these words); the log line keeps the
            # full ids.
            log.warning(
                "ib.global_cancel_unconfirmed",
                extra={"broker": self.source, "client_order_ids": still},
            )
            raise BrokerTimeout(
                f"global cancel sent; no confirmation yet for "
                f"{', '.join(short_id(c) for c in still)}: "
                "their next report from TWS settles them"
            )
        # (`settle` above: TWS's reports sent before its answer to the time are read.)
        # An order whose place had no answer that TWS reports CANCELED now was taken
        # by the global cancel: TWS's word, so it is counted cancelled. Left out, the
        # kill switch's report read "cancelled 0 order(s); 1 no longer working at the
        # venue (filled or cancelled)" of the order it had just cancelled.
        return [
            c
            for c in (*working, *unheard)
            if self._last.get(c, (OrderStatus.NEW, 0))[0] is OrderStatus.CANCELED
        ]

    def _ended(self, coid: str) -> bool:
        last = self._last.get(coid)
        return last is not None and last[0].is_terminal

    def _still_working(self, coids: list[str]) -> list[str]:
        return [c for c in coids if not self._last.get(c, (OrderStatus.NEW, 0))[0].is_terminal]

    async def _order_error(self, order_id: int, code: int, message: str) -> None:
        coid = self.ids.by_order(self.client_id, order_id)
        if coid is None or code == codes.ORDER_CANCELLED:
            return
        if codes.is_notice(code):
            # Not the answer to a place or modify waiting for one: the order goes on,
            # and its status follows (taken for a refusal, a working order was
            # journaled REJECTED). Said in the Log, as TWS's own window shows it.
            await self._say(
                coid,
                LogLevel.WARNING,
                f"TWS notice {code}: {message.strip()}; the order goes on",
                code,
            )
            return
        cancelling = self._cancelling.get(coid)
        waiting = cancelling is not None and not cancelling.future.done()
        modifying = self._modifying.get(coid)
        modify_waits = modifying is not None and not modifying.future.done()
        too_late = (code == codes.CANNOT_CANCEL and not waiting) or (
            code == codes.CANNOT_MODIFY and not modify_waits
        )
        if too_late and self._ended(coid):
            # The order's end (its fill) came first and answered the cancel or modify:
            # TWS's 10148 or 104 after it only says the same.
            log.info(
                "ib.too_late",
                extra={"broker": self.source, "client_order_id": coid, "error": message},
            )
            return
        # A cancel that came too late is no fault; a pacing answer was counted as it
        # came (`pacing_<code>`, `_on_error`): counted here again, Health read
        # `pacing_100 6, tws_100 6` of 6 pacing answers.
        if code != codes.CANNOT_CANCEL and code not in codes.PACING:
            self.count_error(f"tws_{code}")
        if cancelling is not None and waiting and code in codes.CANCEL_ANSWERS:
            # Only a cancel is answered so, a place waiting too included: taken for the
            # place's refusal, an order whose place had no answer was journaled
            # REJECTED for TWS's "not found" of the cancel, and the cancel waited out
            # its timeout.
            cancelling.future.set_result(f"{code}|{message}")
            return
        placing = self._placing.get(coid)
        if placing is not None and not placing.future.done():
            placing.future.set_result(f"{code}|{message}")
            return
        if modifying is not None and modify_waits:
            modifying.future.set_result(f"{code}|{message}")
            return
        if cancelling is not None and waiting:
            cancelling.future.set_result(f"{code}|{message}")
            return
        if self._late_modifies.pop(coid, None) is not None:
            # TWS's answer to the desk's modify it had not answered in time: refused.
            # The order works on at the terms the journal has (TWS's, asked after the
            # wait); said once, and its health no longer names it.
            await self._say(
                coid,
                LogLevel.ERROR,
                "modify refused (TWS answered after the desk's wait), the order works on "
                f"unchanged: {codes.reject_reason(code, message)}",
                code,
            )
            await self._unanswered_moved()
            return
        # Nothing waited for it: IB refused or ended something of a working order by
        # itself (a 201 after it was taken). Its status follows from TWS (`_on_status`
        # undid ib_async's guess so that it does); the error is said, not only logged.
        await self._say(
            coid,
            LogLevel.ERROR,
            f"TWS error {code}: {message.strip()}; the order's status follows from TWS "
            "(check it in TWS if it does not change)",
            code,
        )

    async def _say(self, coid: str, level: LogLevel, said: str, code: int) -> None:
        """`said` of an order in the desk's Log, the order named once by its short id
        (`said_of`); the log line keeps the full id and the words as they were."""
        log.log(
            logging.WARNING if level is LogLevel.ERROR else logging.INFO,
            "ib.order_message",
            extra={"broker": self.source, "client_order_id": coid, "code": code, "error": said},
        )
        await self.publish(
            LogEvent.create(
                self.source,
                Log(level=level, message=said_of(self.source, coid, said)),
                ts=self.clock(),
            )
        )

    async def _open_order(
        self,
        ids: tuple[int, int, int, str],
        terms: tuple[Decimal, Decimal | None, Decimal | None],
        trade: Any,
    ) -> None:
        """TWS's openOrder: the terms it works the order with. The answer to a modify
        waiting for these terms (journaled as "modify accepted": the desk's own); else,
        terms other than the journal's last (a modify TWS confirmed after its wait ran
        out, or the order changed in TWS's own window) are journaled as an amend
        ("changed at TWS: ..."), so the desk shows what works at IB."""
        coid = self._coid(*ids)
        if coid is None:
            return
        known = self.ids.get(coid)
        instrument = self._instrument_cache.get(known.instrument) if known is not None else None
        # On the tick's places (IB's float of 147.70 reads 147.7): as the journal and the
        # modify dialog then show them, and as the words below say them.
        quantity, limit, stop = terms
        terms = (quantity, on_tick_places(limit, instrument), on_tick_places(stop, instrument))
        modify = self._modifying.get(coid)
        if (
            modify is not None
            and not modify.future.done()
            and modify.change is not None
            and _takes(modify.change, terms)
        ):
            modify.future.set_result("ack")
            # The desk's own modify, answered: said as ours. A change made in TWS's own
            # window comes with no modify waiting: "changed at TWS" below.
            await self._amend(coid, ids[0], terms, "modify accepted")
            return
        journaled = self._terms.get(coid)
        if journaled is None or known is None or known.status.is_terminal:
            self._late_modifies.pop(coid, None)
            await self._unanswered_moved()
            return
        late = self._late_modifies.get(coid)
        if late is not None and _takes(late, terms):
            # The desk's own modify TWS took after `order_timeout_s` (said then as "no
            # answer"): ours, accepted late, not a change made in TWS's window. Its
            # health says it answered once the journal has the new terms.
            del self._late_modifies[coid]
            if terms != journaled:
                await self._amend(coid, ids[0], terms, self._accepted_late())
            await self._unanswered_moved()
            return

        def said(name: str, value: Decimal | None) -> str:
            # As the desk writes them: a price on the tick's places (147.8 -> 147.80).
            return qty_text(value) if name == "quantity" else price_text(value, instrument)

        changed = [
            f"{name} {said(name, old)} -> {said(name, new)}"
            for name, old, new in zip(("quantity", "limit", "stop"), journaled, terms, strict=True)
            if new is not None and new != old
        ]
        if changed:
            log.info(
                "ib.terms_changed_at_tws",
                extra={"broker": self.source, "client_order_id": coid, "changed": changed},
            )
            await self._amend(coid, ids[0], terms, "changed at TWS: " + ", ".join(changed))

    async def _amend(
        self,
        coid: str,
        perm_id: int,
        terms: tuple[Decimal, Decimal | None, Decimal | None],
        reason: str,
    ) -> None:
        quantity, limit, stop = terms
        last = self._last.get(coid, (OrderStatus.NEW, Decimal(0)))
        status = OrderStatus.PARTIALLY_FILLED if last[1] > 0 else OrderStatus.NEW
        await self.publish_report(
            OrderUpdate(
                client_order_id=coid,
                status=status,
                venue_order_id=str(perm_id) if perm_id else None,
                filled_qty=last[1],
                quantity=quantity,
                limit_price=limit,
                stop_price=stop,
                reason=reason,
            )
        )

    async def _publish_status(self, s: dict[str, Any]) -> None:
        coid = self._coid(s["perm_id"], s["client_id"], s["order_id"], s["order_ref"])
        if coid is None:
            return
        filled: Decimal = s["filled"]
        status = status_of(s["status"], filled)
        if status is None:
            return
        pending = self._placing.get(coid)
        if pending is not None and not pending.future.done():
            pending.future.set_result("ack")
        cancel = self._cancelling.get(coid)
        if cancel is not None and status.is_terminal and not cancel.future.done():
            cancel.future.set_result("done")
        modify = self._modifying.get(coid)
        if modify is not None and status.is_terminal and not modify.future.done():
            modify.future.set_result("done")
        unanswered = (
            coid in self._intent and coid not in self._cancelling and coid not in self._modifying
        )
        # Inactive and working again are both NEW (or PARTIALLY_FILLED): each turn is
        # journaled, with its reason.
        inactive = s["status"] == INACTIVE
        turned = inactive != (coid in self._inactive)
        if self._last.get(coid) == (status, filled) and not unanswered and not turned:
            return
        last = self._last.get(coid)
        if last is not None and (last[0].is_terminal or filled < last[1]):
            # A stale report: TWS re-sends an order's older status now and then (a
            # Submitted after Filled, a partial after a later one) and ib_async takes it
            # as the order's status; the journal never steps back.
            log.info(
                "ib.stale_status",
                extra={
                    "broker": self.source,
                    "client_order_id": coid,
                    "status": s["status"],
                    "filled": str(filled),
                },
            )
            return
        perm_id = s["perm_id"]
        avg = price_or_none(s["avg"], None) if filled else None
        if avg is None and filled:
            avg = self._average_of(coid, filled, perm_id)  # a completed order has none
        reason = s["reason"] or ""
        if not inactive and turned and not status.is_terminal:
            reason = reason or "working again at IB (no longer inactive)"
        if status.is_terminal:
            self._late_modifies.pop(coid, None)
        elif unanswered and not reason and coid in self._late_modifies:
            reason = self._still_late(status)
        await self.publish_report(
            OrderUpdate(
                client_order_id=coid,
                status=status,
                venue_order_id=str(perm_id) if perm_id else None,
                filled_qty=filled,
                avg_price=avg,
                reason=reason,
                # Said as a field, not only in the reason's words: the order keeps it
                # and the Orders row reads INACTIVE (a report of the status the order
                # had changed nothing, and the row read NEW). Each turn carries it.
                inactive=True if inactive else False if turned else None,
            )
        )
        if inactive:
            self._inactive.add(coid)
            log.warning(
                "ib.order_inactive",
                extra={"broker": self.source, "client_order_id": coid, "reason": reason},
            )
        else:
            self._inactive.discard(coid)
        await self._unanswered_moved()  # (an end answers a modify TWS had not)


def said_of(source: str, coid: str, said: str) -> str:
    """The Log's line of what the adapter says of an order: `ib/DU123456 order
    v4pia8ru: <said>`, the order named once, as the desk shows it elsewhere. The
    order's own name in `said` goes (`cancel of <id> came too late: ...` reads
    `cancel came too late: ...`), and any other mention of its id is its short id."""
    short = short_id(coid)
    said = said.removeprefix(f"{coid}: ").replace(f" of {coid}", "", 1)
    return f"{source} order {short}: {said.replace(coid, short)}"


def _takes(change: ModifyRequest, terms: tuple[Decimal | None, ...]) -> bool:
    """Whether TWS's terms (quantity, limit, stop) are what `change` asked."""
    quantity, limit, stop = terms
    return (
        change.quantity in (None, quantity)
        and change.limit_price in (None, limit)
        and change.stop_price in (None, stop)
    )


WORKING_AT_TWS = frozenset({IbOrderStatus.PreSubmitted, IbOrderStatus.Submitted})


def undo_guess(trade: Any, *, working_only: bool = False) -> None:
    """ib_async marks a working order Cancelled after a refused modify or a pacing
    error (and then refuses to modify it: an assert, and takes TWS's own Cancelled
    later for no change). The last status before the guess is put back: TWS's own,
    or PendingCancel, ib_async's when a cancel went (a refused cancel's guess, left,
    made IB's own Cancelled later no change: the order read working on the desk for
    good). `working_only`: only for an order TWS reported working (a new order refused
    before TWS said anything of it stays as it is)."""
    status = trade.orderStatus.status
    if status not in ENDED_AT_TWS or not trade.log:
        return  # (Inactive is TWS's own word: ib_async never guesses it)
    if trade.log[-1].errorCode in (0, codes.ORDER_CANCELLED):
        return  # TWS said so itself
    said = [entry for entry in trade.log if entry.errorCode == 0]
    if working_only and not any(entry.status in WORKING_AT_TWS for entry in said):
        return
    for entry in reversed(said):
        if entry.status not in ENDED_AT_TWS:
            trade.orderStatus.status = entry.status
            return


VALIDATION_ERROR = "ValidationError"


def undo_warning(trade: Any) -> bool:
    """ib_async sets a trade's status to `ValidationError` on every warning about the
    order (399, 404, 2100-2199: the order goes on at IB), whatever the order was, a
    filled one too, until TWS sends another orderStatus. The status TWS said last is
    put back (ib_async's own PendingSubmit before TWS said any). True when it was."""
    if trade.orderStatus.status != VALIDATION_ERROR:
        return False
    for entry in reversed(trade.log):
        # (a "Modify" entry of ib_async's carries the status it held: skipped if that
        # was this one)
        if entry.errorCode == 0 and entry.status and entry.status != VALIDATION_ERROR:
            trade.orderStatus.status = entry.status
            return True
    trade.orderStatus.status = IbOrderStatus.PendingSubmit
    return True


TRADE_ENTRIES_KEPT = 10
"""Fills and log entries of one ib_async trade kept (`trim_trade`)."""


def trim_trade(trade: Any, keep: int = TRADE_ENTRIES_KEPT) -> None:
    """Keep a trade's `fills` and `log` to their newest `keep` once they hold twice
    that (each trimmed once per `keep` additions: O(1) a report). ib_async writes the
    whole trade into its log line of every status of the order (`orderStatus:
    Trade(...)`: an f-string, so built even when the line is not written), every fill
    and log entry of the order in it: before, the 1,000th partial fill of an order
    cost 14 ms of the event loop (1.1 MB of text), growing with every fill; 0.2 ms
    now. Nothing reads the dropped ones: ib_async knows an execution by
    `wrapper.fills` (kept for a trade it keeps: `IBBroker._tidy_wrapper`) and reads
    only a trade's last log entry; the adapter journals fills from ib_async's events
    and reads the log from its end. What
    `undo_warning` and `undo_guess` look back for is kept as well, if older: the
    newest entry in which TWS said a status, the newest in which it said a status
    the order can still be in, and the newest in which it said the order worked."""
    if len(trade.fills) > 2 * keep:
        del trade.fills[:-keep]
    log = trade.log
    if len(log) <= 2 * keep:
        return
    tail = log[-keep:]
    wanted = [w for w in _LOOKED_BACK_FOR if not any(w(entry) for entry in tail)]
    older: list[Any] = []
    for entry in reversed(log[:-keep]):
        if not wanted:
            break
        met = [w for w in wanted if w(entry)]
        if met:
            older.append(entry)
            wanted = [w for w in wanted if w not in met]
    log[:] = [*reversed(older), *tail]


def _said(entry: Any) -> bool:
    """TWS said a status (what `undo_warning` puts back)."""
    return bool(entry.errorCode == 0 and entry.status and entry.status != VALIDATION_ERROR)


def _said_open(entry: Any) -> bool:
    """TWS said a status the order can still be in (what `undo_guess` puts back)."""
    return _said(entry) and entry.status not in ENDED_AT_TWS


def _said_working(entry: Any) -> bool:
    """TWS said the order worked (`undo_guess(working_only=True)`)."""
    return bool(entry.errorCode == 0 and entry.status in WORKING_AT_TWS)


_LOOKED_BACK_FOR = (_said, _said_open, _said_working)
