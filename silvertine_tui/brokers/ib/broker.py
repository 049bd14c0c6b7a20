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
1102) carry orders; `market` (tickers) only degrades. A fill is journaled once per
execution id, with the fee of its commission report (waiting `commission_wait_s` for it);
a report that comes later is journaled as a `FeeCorrectionEvent`.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import functools
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, ClassVar, TypeVar

from ib_async import IB, Contract, ExecutionFilter, RequestError

from ...bus import EventBus
from ...config import IBBrokerConfig
from ...domain import (
    Balance,
    Capabilities,
    ConnectionState,
    Fill,
    Instrument,
    MarketDataKind,
    ModifyStyle,
    OrderRequest,
    OrderStatus,
    OrderType,
    OrderUpdate,
    Position,
    TimeInForce,
    VenueOrder,
)
from ...events import (
    CancelRequest,
    CancelRequestEvent,
    FeeCorrectionEvent,
    FillEvent,
    ModifyRequest,
    OrderRequestEvent,
    OrderUpdateEvent,
)
from ..base import Broker, Clock, ReconcileReport
from ..errors import (
    BrokerError,
    BrokerTimeout,
    InsufficientFunds,
    NotConnected,
    OrderRejected,
    RateLimited,
    UnknownOrder,
)
from . import codes
from .contracts import candidates, instrument_from, key_of, normalize_key, pick, to_decimal
from .fees import CommissionBook
from .identity import IdentityMap
from .inbox import Inbox
from .market import DATA_TYPES, MarketData, quote_of
from .translate import (
    UNSET_DOUBLE,
    balances_of,
    fill_of,
    ib_order,
    position_of,
    status_of,
    venue_order,
)

log = logging.getLogger(__name__)

T = TypeVar("T")
L = ConnectionState


@dataclass(slots=True)
class _Pending:
    """An order request waiting for TWS's first answer."""

    future: asyncio.Future[str]
    change: ModifyRequest | None = None


class IBBroker(Broker):
    kind: ClassVar[str] = "ib"
    order_links: ClassVar[tuple[str, ...]] = ("api", "ib")
    capabilities = Capabilities(
        order_types=frozenset(OrderType),
        tifs=frozenset(TimeInForce),
        market_tifs=frozenset({TimeInForce.DAY, TimeInForce.IOC, TimeInForce.FOK}),
        modify=ModifyStyle.NATIVE,
        cancel_all_native=True,
        short_selling=True,
        market_data=frozenset({MarketDataKind.QUOTE}),
    )

    def __init__(self, config: IBBrokerConfig, bus: EventBus, *, clock: Clock = time.time_ns):
        super().__init__(config, bus, clock=clock)
        self.cfg = config
        self.ib = IB()
        self.ib.RaiseRequestErrors = True
        self.ids = IdentityMap()
        self.market = MarketData(self.ib)
        self.client_ids = [config.client_id, *config.client_id_fallbacks]
        self._client_index = 0
        self._inbox = Inbox(self.source)
        self._reconnector: asyncio.Task[None] | None = None
        self._poller: asyncio.Task[None] | None = None
        self._up = False
        self._closing = False
        self._connected_before = False
        self._journal_read = False
        self._saw_326 = False
        self.fees = CommissionBook()
        self._placing: dict[str, _Pending] = {}
        self._modifying: dict[str, _Pending] = {}
        self._cancelling: dict[str, _Pending] = {}
        self._last: dict[str, tuple[OrderStatus, Decimal]] = {}
        self._terms: dict[str, tuple[Decimal, Decimal | None, Decimal | None]] = {}
        self._contracts: dict[str, Contract] = {}
        self._keys_by_con_id: dict[int, str] = {}
        self._request_lock = asyncio.Lock()
        self._balances: dict[str, Balance] = {}
        self._hook()

    # -- identity -------------------------------------------------------------------------

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
        self.ids.set_status(update.client_order_id, update.status)
        if update.status not in (OrderStatus.PENDING_CANCEL, OrderStatus.PENDING_REPLACE):
            filled = update.filled_qty
            if filled is None:
                filled = self._last.get(update.client_order_id, (update.status, Decimal(0)))[1]
            self._last[update.client_order_id] = (update.status, filled)
        await super().publish_update(update)

    async def _learn_from_journal(self) -> None:
        """Our orders and the fills already journaled, so a restart (under any client
        id) knows its orders by permId and never journals a fill twice."""
        if self._journal_read:
            return
        self._journal_read = True
        stream = self.bus.layout.exec(self.name, self.account)
        async for entry in self.bus.replay(stream):
            event = entry.event
            if isinstance(event, OrderRequestEvent):
                self.ids.add(event.payload.client_order_id, event.payload.instrument)
            elif isinstance(event, OrderUpdateEvent):
                update = event.payload
                if update.client_order_id not in self.ids:
                    continue
                self.ids.set_status(update.client_order_id, update.status)
                if update.venue_order_id and update.venue_order_id.isdigit():
                    self.ids.bind_perm(update.client_order_id, int(update.venue_order_id))
                if update.status not in (OrderStatus.PENDING_CANCEL, OrderStatus.PENDING_REPLACE):
                    old = self._last.get(update.client_order_id, (update.status, Decimal(0)))
                    filled = update.filled_qty if update.filled_qty is not None else old[1]
                    self._last[update.client_order_id] = (update.status, filled)
            elif isinstance(event, FillEvent):
                self.fees.remember_journaled(
                    event.payload.exec_id, with_fee=bool(event.payload.fee)
                )
            elif isinstance(event, FeeCorrectionEvent):
                self.fees.remember_journaled(event.payload.exec_id, with_fee=True)

    # -- ib_async callbacks -> jobs in order ---------------------------------------------

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
        wrapper = ib.wrapper
        original = wrapper.commissionReport

        def tap(report: Any) -> None:
            self._on_commission(report)
            original(report)

        # ib_async drops a commission report that comes before its execution; the tap
        # keeps every report by execution id first.
        wrapper.commissionReport = tap  # type: ignore[method-assign,assignment]

    def _enqueue(self, job: Callable[[], Awaitable[None]]) -> None:
        self._inbox.put(job)

    def _spawn(self, coro: Awaitable[None], name: str) -> None:
        async def run() -> None:
            try:
                await coro
            except BrokerError as exc:
                log.warning("ib.task_failed", extra={"broker": self.source, "error": str(exc)})
            except Exception:
                log.exception("ib.task_failed", extra={"broker": self.source, "task": name})

        task = asyncio.create_task(run(), name=f"{name}:{self.source}")
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def settle(self) -> None:
        """Return once everything TWS sent so far is journaled: a reqCurrentTime round
        trip (answered after all earlier messages), then the queue drained."""
        if self.ib.isConnected():
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.ib.reqCurrentTimeAsync(), self.cfg.request_timeout_s)
        await self._inbox.join()

    def _on_status(self, trade: Any) -> None:
        entry = trade.log[-1] if trade.log else None
        if entry is not None and entry.errorCode and entry.errorCode != codes.ORDER_CANCELLED:
            # ib_async's own guess after an error (a refused modify, an unknown cancel
            # marks a working order Cancelled): only TWS's next report counts. 202 is
            # TWS confirming a cancel; its orderStatus then changes nothing for ib_async.
            return
        self._on_status_of(trade)

    def _on_open_order(self, trade: Any) -> None:
        order = trade.order
        terms = (
            to_decimal(order.totalQuantity),
            _price(order.lmtPrice),
            _price(order.auxPrice),
        )
        ids = (order.permId, order.clientId, order.orderId, order.orderRef)
        self._enqueue(lambda: self._open_order(ids, terms, trade))

    def _on_exec(self, trade: Any, fill: Any) -> None:
        self._enqueue(lambda: self._publish_exec(fill, live=True))

    def _on_commission(self, report: Any) -> None:
        exec_id = report.execId
        if self.fees.add_report(report):
            self._enqueue(lambda: self._correct_fee(exec_id))

    def _on_position(self, position: Any) -> None:
        if position.account != self.account:
            return
        self._enqueue(lambda: self._publish_position(position))

    def _on_account_value(self, value: Any) -> None:
        if value.account == self.account and value.tag == "CashBalance":
            self._enqueue(self._publish_balances)

    def _on_tickers(self, tickers: Iterable[Any]) -> None:
        for ticker in tickers:
            key = self.market.key_of(ticker)
            if key is None:
                continue
            quote = quote_of(key, ticker)
            if quote is not None:
                self._enqueue(functools.partial(self.publish_quote, quote))
            self.health_state.extra[f"md_type:{key}"] = self.market.data_type(key)

    def _on_error(self, req_id: int, code: int, message: str, contract: Any) -> None:
        if code == codes.CLIENT_ID_IN_USE:
            self._saw_326 = True
        if code in codes.FARM_NOTICES:
            self.health_state.extra["farm"] = codes.describe(code, message)
            return
        if code in (codes.CONNECTIVITY_LOST, codes.RESTORED_DATA_KEPT, codes.RESTORED_DATA_LOST):
            self._enqueue(lambda: self._connectivity(code, message))
            return
        if code in codes.FARM_BROKEN:
            self.health_state.extra["farm"] = codes.describe(code, message)
            return
        if code in codes.PACING:
            self.count_error(f"pacing_{code}")
        key = self.market.key_of_request(req_id) if req_id > 0 else None
        if key is not None:
            self._market_problem(key, code, message)
            return
        if req_id > 0 and self.ids.by_order(self.client_id, req_id) is not None:
            self._enqueue(lambda: self._order_error(req_id, code, message))

    def _market_problem(self, key: str, code: int, message: str) -> None:
        if code == codes.DELAYED_NOTICE:
            self.health_state.extra[f"md_type:{key}"] = "delayed"
            return
        self.market.problems[key] = f"{code}: {message}"
        self.health_state.extra[f"md_type:{key}"] = "none"
        self.health_state.extra[f"md_problem:{key}"] = codes.describe(code, message)
        self.count_error(f"market_data_{code}")
        if code in codes.PACING:
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

    # -- jobs: what TWS said -> events ---------------------------------------------------

    def _coid(self, perm_id: int, client_id: int, order_id: int, order_ref: str) -> str | None:
        return self.ids.find(
            perm_id=perm_id, client_id=client_id, order_id=order_id, order_ref=order_ref
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
        if self._last.get(coid) == (status, filled):
            return
        if self._last.get(coid, (None, None))[0] in (
            OrderStatus.FILLED,
            OrderStatus.CANCELED,
            OrderStatus.REJECTED,
        ):
            return
        perm_id = s["perm_id"]
        avg = _price(s["avg"]) if filled else None
        await self.publish_update(
            OrderUpdate(
                client_order_id=coid,
                status=status,
                venue_order_id=str(perm_id) if perm_id else None,
                filled_qty=filled,
                avg_price=avg,
            )
        )

    async def _open_order(
        self,
        ids: tuple[int, int, int, str],
        terms: tuple[Decimal, Decimal | None, Decimal | None],
        trade: Any,
    ) -> None:
        coid = self._coid(*ids)
        if coid is None:
            return
        modify = self._modifying.get(coid)
        if modify is None or modify.future.done() or modify.change is None:
            return
        change = modify.change
        quantity, limit, stop = terms
        wanted = (
            change.quantity in (None, quantity)
            and change.limit_price in (None, limit)
            and change.stop_price in (None, stop)
        )
        if not wanted:
            return
        modify.future.set_result("ack")
        last = self._last.get(coid, (OrderStatus.NEW, Decimal(0)))
        status = OrderStatus.PARTIALLY_FILLED if last[1] > 0 else OrderStatus.NEW
        await self.publish_update(
            OrderUpdate(
                client_order_id=coid,
                status=status,
                venue_order_id=str(ids[0]) if ids[0] else None,
                filled_qty=last[1],
                quantity=quantity,
                limit_price=limit,
                stop_price=stop,
                reason="modified at TWS",
            )
        )

    async def _order_error(self, order_id: int, code: int, message: str) -> None:
        coid = self.ids.by_order(self.client_id, order_id)
        if coid is None or code == codes.ORDER_CANCELLED:
            return
        self.count_error(f"tws_{code}")
        placing = self._placing.get(coid)
        if placing is not None and not placing.future.done():
            placing.future.set_result(f"{code}|{message}")
            return
        modifying = self._modifying.get(coid)
        if modifying is not None and not modifying.future.done():
            modifying.future.set_result(f"{code}|{message}")
            return
        cancelling = self._cancelling.get(coid)
        if cancelling is not None and not cancelling.future.done():
            cancelling.future.set_result(f"{code}|{message}")
            return
        log.warning(
            "ib.order_error",
            extra={"broker": self.source, "client_order_id": coid, "code": code, "error": message},
        )

    async def _publish_exec(self, ib_fill: Any, *, live: bool) -> None:
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
        if live:
            await self.fees.wait_for(exec_id, self.cfg.commission_wait_s)
        if exec_id in self.fees.journaled:
            return
        ids = self.ids.get(coid)
        key = ids.instrument if ids is not None else self._key_for(ib_fill.contract)
        fill = fill_of(
            ib_fill,
            client_order_id=coid,
            key=key,
            broker=self.name,
            account=self.account,
            instrument=self._instrument_cache.get(key),
            commission=self.fees.report(exec_id),
        )
        if self.fees.report(exec_id) is None:
            self.count_error("fee_pending")
        self.fees.journal(fill)
        await self.publish_fill(fill)

    async def _correct_fee(self, exec_id: str) -> None:
        correction = self.fees.correction(exec_id, broker=self.name, account=self.account)
        if correction is not None:
            await self.publish(FeeCorrectionEvent.create(self.source, correction, ts=self.clock()))

    async def _publish_position(self, ib_position: Any) -> None:
        key = self._key_for(ib_position.contract)
        await self.publish_position(
            position_of(
                ib_position,
                key=key,
                broker=self.name,
                instrument=self._instrument_cache.get(key),
            )
        )

    async def _publish_balances(self) -> None:
        """Balances that changed (IB sends every account value on each update)."""
        for balance in balances_of(
            self.ib.accountValues(self.account), broker=self.name, account=self.account
        ):
            if self._balances.get(balance.currency) == balance:
                continue
            self._balances[balance.currency] = balance
            await self.publish_balance(balance)

    def _key_for(self, contract: Any) -> str:
        key = self._keys_by_con_id.get(getattr(contract, "conId", 0))
        return key if key is not None else key_of(contract, self.cfg.default_venue)

    # -- connection ------------------------------------------------------------------------

    async def connect(self) -> None:
        """Connect, rebuild, go LIVE. Never raises because TWS is unreachable: the `api`
        link says why and a background task keeps trying."""
        self._closing = False
        self._inbox.start()
        self.start_health_loop()
        await self.set_link(
            "api", L.CONNECTING, f"connecting to {self.endpoint} as client id {self.client_id}"
        )
        if await self._connect_once():
            try:
                await self._after_connect()
                return
            except BrokerError as exc:
                await self._give_up_socket(f"connected but could not rebuild: {exc}")
        self._start_reconnect()

    async def _connect_once(self) -> bool:
        client_id = self.client_id
        self._saw_326 = False
        reason = ""
        # ib_async's start-up requests end empty on an error (a pacing error on its
        # executions replay must not fail the connect: the catch-up asks again); the
        # adapter's own requests raise, so pacing can be retried and "no such contract"
        # told apart from "no answer".
        self.ib.RaiseRequestErrors = False
        try:
            await self.ib.connectAsync(
                self.cfg.host,
                self.cfg.port,
                clientId=client_id,
                timeout=self.cfg.connect_timeout_s,
                account=self.account,
            )
            return True
        except ConnectionRefusedError:
            reason = (
                f"no TWS or IB Gateway listening at {self.endpoint} (connection refused); "
                "start it and enable the API (Configure > API > Settings)"
            )
        except TimeoutError:
            if self._saw_326:
                reason = f"client id {client_id} is already in use at TWS (326)"
                if self._client_index + 1 < len(self.client_ids):
                    self._client_index += 1
                    reason += f"; trying client id {self.client_id}"
                else:
                    reason += (
                        "; close the other connection (or restart TWS) or list more ids"
                        " in client_id_fallbacks"
                    )
            else:
                reason = (
                    f"TWS at {self.endpoint} did not complete the API handshake in "
                    f"{self.cfg.connect_timeout_s:g}s; check that the API is enabled and "
                    "this host is a trusted IP"
                )
        except (OSError, ConnectionError) as exc:
            reason = f"cannot reach TWS at {self.endpoint}: {exc}"
        except Exception as exc:  # whatever ib_async raises, the desk keeps running
            log.exception("ib.connect_failed", extra={"broker": self.source})
            reason = f"connecting to TWS at {self.endpoint} failed: {exc}"
        finally:
            self.ib.RaiseRequestErrors = True
        self.count_error("connect")
        with contextlib.suppress(Exception):
            self.ib.disconnect()
        await self.set_link("api", L.DISCONNECTED, reason)
        return False

    async def _after_connect(self) -> None:
        """The socket is up: rebuild orders and fills from TWS, then go LIVE."""
        self._up = True
        again = self._connected_before
        await self.set_link(
            "api", L.RECONCILING, f"connected as client id {self.client_id}; rebuilding"
        )
        await self.set_link("ib", L.LIVE, "")
        self.ib.reqMarketDataType(DATA_TYPES[self.cfg.market_data_type])
        await self._learn_from_journal()
        configured = await self.instruments()
        await self._catch_up()
        if not self.market.contracts and configured:
            # The configured symbols are quoted from the start ("load and quote").
            for key in configured:
                self.market.subscribe(key, self._contracts[key])
            await self.set_link("market", L.LIVE, self._market_detail())
        elif self.market.contracts:
            self.market.resubscribe()
            await self.set_link("market", L.LIVE, self._market_detail())
        await self._publish_balances()
        for position in self.ib.positions(self.account):
            await self._publish_position(position)
        await self._inbox.join()
        self._connected_before = True
        if self._poller is None or self._poller.done():
            self._poller = asyncio.create_task(
                self._poll_other_clients(), name=f"ib-poll:{self.source}"
            )
        await self.set_link(
            "api", L.LIVE, f"{self.endpoint} client id {self.client_id} ({self._account_kind()})"
        )
        if again:
            self.health_state.reconnects += 1
            await self.announce_reconnect()

    def _account_kind(self) -> str:
        return "paper account" if self.account.startswith("D") else "account"

    def _market_detail(self) -> str:
        kinds = {self.market.data_type(k) for k in self.market.contracts}
        return "data: " + ", ".join(sorted(kinds)) if kinds else ""

    async def _give_up_socket(self, reason: str) -> None:
        self._up = False
        with contextlib.suppress(Exception):
            self.ib.disconnect()
        await self.set_link("api", L.DISCONNECTED, reason)

    def _stopping(self) -> bool:
        return self._closing

    def _start_reconnect(self) -> None:
        if self._closing or (self._reconnector is not None and not self._reconnector.done()):
            return
        self._reconnector = asyncio.create_task(
            self._reconnect(), name=f"ib-reconnect:{self.source}"
        )

    async def _reconnect(self) -> None:
        delay = self.cfg.reconnect_delay_s
        while not self._closing:
            link = self.health_state.links.get("api")
            detail = link.detail if link is not None else ""
            await self.set_link(
                "api", L.DISCONNECTED, f"{detail.split('; retrying')[0]}; retrying in {delay:g}s"
            )
            await asyncio.sleep(delay)
            if self._stopping():
                return
            index = self._client_index
            if await self._connect_once():
                try:
                    await self._after_connect()
                    return
                except BrokerError as exc:
                    await self._give_up_socket(f"connected but could not rebuild: {exc}")
            if self._client_index != index:
                delay = self.cfg.reconnect_delay_s  # a new client id: try it at once
                continue
            delay = min(delay * 2, self.cfg.reconnect_max_delay_s)

    async def _lost(self) -> None:
        self.count_error("disconnect")
        await self.set_link("api", L.DISCONNECTED, f"socket to TWS at {self.endpoint} lost")
        if self.market.contracts:
            await self.set_link("market", L.DISCONNECTED, "no quotes while TWS is unreachable")
        self._start_reconnect()

    async def _connectivity(self, code: int, message: str) -> None:
        text = codes.describe(code, message)
        if code == codes.CONNECTIVITY_LOST:
            await self.set_link("ib", L.DEGRADED, text)
            if self.market.contracts:
                await self.set_link("market", L.DEGRADED, "no quotes while TWS is cut off (1100)")
            return
        if code == codes.RESTORED_DATA_LOST:
            self.market.resubscribe()
        await self.set_link("ib", L.RECONCILING, text)
        self._spawn(self._restored(), "restored")

    async def _restored(self) -> None:
        await self._catch_up()
        await self._inbox.join()
        await self.set_link("ib", L.LIVE, "")
        if self.market.contracts:
            await self.set_link("market", L.LIVE, self._market_detail())
        self.health_state.reconnects += 1
        await self.announce_reconnect()

    async def _catch_up(self) -> None:
        """Fills and order states TWS has that the journal lacks (the day's executions
        of every client id, open and completed orders), each journaled once."""
        fills = await self._request(
            "executions",
            lambda: self.ib.reqExecutionsAsync(ExecutionFilter(acctCode=self.account)),
        )
        for ib_fill in fills:
            self._enqueue(functools.partial(self._publish_exec, ib_fill, live=False))
        trades = await self._request("open orders", self.ib.reqAllOpenOrdersAsync)
        done = await self._request(
            "completed orders", lambda: self.ib.reqCompletedOrdersAsync(False)
        )
        seen: set[str] = set()
        for trade in [*trades, *done]:
            order = trade.order
            coid = self._coid(order.permId, order.clientId, order.orderId, order.orderRef)
            if coid is None or coid in seen:
                continue
            seen.add(coid)
            ids = self.ids.get(coid)
            if ids is not None and ids.client_id < 0 and order.orderId > 0:
                self.ids.bind_order(coid, order.clientId, order.orderId)
            self._on_status_of(trade)
        await self._inbox.join()

    async def _poll_other_clients(self) -> None:
        """TWS reports an order's fills and statuses live only to the client id that
        placed it: orders of ours placed under another client id (before a restart)
        are followed by asking every `other_clients_poll_s`."""
        while not self._stopping():
            await asyncio.sleep(self.cfg.other_clients_poll_s)
            if not self._up:
                continue
            others = [
                ids for ids in self.ids.working() if ids.client_id != self.client_id and ids.perm_id
            ]
            if others:
                try:
                    await self._catch_up()
                except BrokerError as exc:
                    log.warning("ib.poll_failed", extra={"broker": self.source, "error": str(exc)})

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
        }
        self._enqueue(lambda: self._publish_status(snapshot))

    async def close(self) -> None:
        self._closing = True
        for task in (self._reconnector, self._poller):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._up = False
        with contextlib.suppress(Exception):
            self.ib.disconnect()
        await self.stop_health_loop()
        await self._inbox.stop()
        for name in list(self.health_state.links):
            await self.set_link(name, L.DISCONNECTED, "closed")

    # -- requests ----------------------------------------------------------------------------

    async def _request(self, what: str, make: Callable[[], Awaitable[T]]) -> T:
        """One request to TWS: pacing errors (162, 420, 100) wait and try again, a lost
        socket is NotConnected, no answer a BrokerTimeout."""
        delay = self.cfg.pacing_delay_s
        for _ in range(4):
            if not self.ib.isConnected():
                raise NotConnected(f"{self.source}: not connected to TWS; {what} not asked")
            try:
                async with self._request_lock:
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

    async def _fetch_instrument(self, key: str) -> Instrument | None:
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
            self._contracts[key] = details.contract
            self._keys_by_con_id[details.contract.conId] = key
            return instrument_from(key, details)
        return None

    async def instruments(self) -> dict[str, Instrument]:
        found: dict[str, Instrument] = {}
        for symbol in self.cfg.symbols:
            key = normalize_key(symbol, self.cfg.default_venue)
            try:
                found[key] = await self.instrument(key)
            except OrderRejected:
                log.warning("ib.unknown_symbol", extra={"broker": self.source, "key": key})
            except BrokerError as exc:
                # Not connected (yet): the instruments known so far; they are looked
                # up once TWS is back.
                log.info(
                    "ib.instruments_later",
                    extra={"broker": self.source, "key": key, "error": str(exc)},
                )
        for key, instrument in self._instrument_cache.items():
            found.setdefault(key, instrument)
        return found

    # -- orders ------------------------------------------------------------------------------

    async def _submit(self, request: OrderRequest) -> None:
        coid = request.client_order_id
        contract = await self._contract(request.instrument)
        self.ids.add(coid, request.instrument)
        for _ in range(4):
            if not self._up:
                raise BrokerTimeout(
                    f"{self.source}: the socket to TWS dropped while placing {coid}; "
                    "its fate is asked of TWS after the reconnect"
                )
            pending = _Pending(asyncio.get_running_loop().create_future())
            self._placing[coid] = pending
            order = ib_order(request, self.account)
            order.orderId = self.ib.client.getReqId()
            self.ids.bind_order(coid, self.client_id, order.orderId)
            try:
                self.ib.placeOrder(contract, order)
                outcome = await asyncio.wait_for(
                    asyncio.shield(pending.future), self.cfg.order_timeout_s
                )
            except TimeoutError:
                raise BrokerTimeout(
                    f"no answer from TWS to order {coid} in {self.cfg.order_timeout_s:g}s; "
                    "asking TWS what became of it"
                ) from None
            except ConnectionError as exc:
                raise BrokerTimeout(f"socket to TWS broke while placing {coid}: {exc}") from None
            finally:
                self._placing.pop(coid, None)
            if outcome == "ack":
                return
            if outcome == "lost":
                raise BrokerTimeout(
                    f"the socket to TWS dropped before {coid} was acknowledged; "
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
        raise RateLimited(f"TWS kept refusing order {coid} for pacing; nothing was placed")

    async def _restore(self, coid: str, reason: str) -> None:
        status, filled = self._last.get(coid, (OrderStatus.NEW, Decimal(0)))
        ids = self.ids.get(coid)
        await self.publish_update(
            OrderUpdate(
                client_order_id=coid,
                status=status,
                venue_order_id=str(ids.perm_id) if ids is not None and ids.perm_id else None,
                filled_qty=filled,
                reason=reason,
            )
        )

    def _trade(self, coid: str) -> Any:
        ids = self.ids.get(coid)
        if ids is None:
            return None
        trade = self.ib.wrapper.trades.get((ids.client_id, ids.order_id))
        if trade is None and ids.perm_id:
            trade = self.ib.wrapper.permId2Trade.get(ids.perm_id)
        return trade

    def _foreign_client(self, coid: str) -> str:
        ids = self.ids.get(coid)
        if ids is not None and ids.client_id >= 0 and ids.client_id != self.client_id:
            return (
                f"placed by client id {ids.client_id}, this session is client id "
                f"{self.client_id}: IB lets only that client change it; cancel it in TWS or "
                "with cancel all (global cancel)"
            )
        return ""

    async def _modify(self, change: ModifyRequest) -> None:
        coid = change.client_order_id
        trade = self._trade(coid)
        foreign = self._foreign_client(coid)
        if trade is None or foreign:
            why = foreign or "TWS has no working order for it in this session"
            await self._restore(coid, f"modify not sent: {why}")
            raise OrderRejected(f"modify of {coid} not sent: {why}")
        for _ in range(4):
            order = copy.copy(trade.order)
            if change.quantity is not None:
                order.totalQuantity = float(change.quantity)
            if change.limit_price is not None:
                order.lmtPrice = float(change.limit_price)
            if change.stop_price is not None:
                order.auxPrice = float(change.stop_price)
            pending = _Pending(asyncio.get_running_loop().create_future(), change)
            self._modifying[coid] = pending
            try:
                self.ib.placeOrder(trade.contract, order)
                outcome = await asyncio.wait_for(
                    asyncio.shield(pending.future), self.cfg.order_timeout_s
                )
            except TimeoutError:
                raise BrokerTimeout(
                    f"no answer from TWS to the modify of {coid}; its next report settles it"
                ) from None
            finally:
                self._modifying.pop(coid, None)
            if outcome in ("ack", "done"):
                return
            if outcome == "lost":
                raise BrokerTimeout(f"socket to TWS dropped during the modify of {coid}")
            code_text, _, message = outcome.partition("|")
            code = int(code_text)
            if code in codes.PACING:
                await asyncio.sleep(self.cfg.pacing_delay_s)
                continue
            reason = "modify refused, the order works on unchanged: " + codes.reject_reason(
                code, message
            )
            await self._restore(coid, reason)
            raise OrderRejected(reason, code=code)
        await self._restore(coid, "modify not done: TWS kept answering with pacing violations")
        raise RateLimited(f"modify of {coid}: TWS kept answering with pacing violations")

    async def _cancel(self, client_order_id: str) -> None:
        coid = client_order_id
        trade = self._trade(coid)
        foreign = self._foreign_client(coid)
        if trade is None or foreign:
            why = foreign or "TWS has no working order for it in this session"
            await self._restore(coid, f"cancel not sent: {why}")
            raise OrderRejected(f"cancel of {coid} not sent: {why}")
        for _ in range(4):
            pending = _Pending(asyncio.get_running_loop().create_future())
            self._cancelling[coid] = pending
            try:
                self.ib.cancelOrder(trade.order)
                outcome = await asyncio.wait_for(
                    asyncio.shield(pending.future), self.cfg.order_timeout_s
                )
            except TimeoutError:
                raise BrokerTimeout(
                    f"no answer from TWS to the cancel of {coid}; its next report settles it"
                ) from None
            finally:
                self._cancelling.pop(coid, None)
            if outcome == "done":
                return
            if outcome == "lost":
                raise BrokerTimeout(f"socket to TWS dropped during the cancel of {coid}")
            code_text, _, message = outcome.partition("|")
            code = int(code_text)
            if code in codes.PACING:
                await asyncio.sleep(self.cfg.pacing_delay_s)
                continue
            reason = f"cancel refused: {codes.reject_reason(code, message)}"
            await self.settle()
            if not self._last.get(coid, (OrderStatus.NEW, 0))[0].is_terminal:
                await self._restore(coid, reason)
            if code == codes.UNKNOWN_CANCEL:
                raise UnknownOrder(f"{coid}: {reason}", code=code)
            raise OrderRejected(f"{coid}: {reason}", code=code)
        await self._restore(coid, "cancel not done: TWS kept answering with pacing violations")
        raise RateLimited(f"cancel of {coid}: TWS kept answering with pacing violations")

    async def cancel_all(self, instrument: str | None = None) -> list[str]:
        """IB's global cancel (every working order of the account: other client ids and
        TWS's own orders too) when no instrument is named; else one cancel per order."""
        if instrument is not None:
            return await super().cancel_all(instrument)
        self._require_tradable()
        await self._catch_up()  # orders done meanwhile (other client ids) are not cancelled
        working = [ids.client_order_id for ids in self.ids.working() if ids.perm_id]
        for coid in working:
            await self.publish(
                CancelRequestEvent.create(
                    self.source,
                    CancelRequest(client_order_id=coid, reason="cancel all (global cancel)"),
                    ts=self.clock(),
                )
            )
            await self.publish_update(
                OrderUpdate(client_order_id=coid, status=OrderStatus.PENDING_CANCEL)
            )
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
                await self._catch_up()
                continue
            await asyncio.sleep(0.01)
        still = self._still_working(working)
        if still:
            raise BrokerTimeout(
                f"global cancel sent; no confirmation yet for {', '.join(still)}: "
                "their next report from TWS settles them"
            )
        return [c for c in working if self._last[c][0] is OrderStatus.CANCELED]

    def _still_working(self, coids: list[str]) -> list[str]:
        return [c for c in coids if not self._last.get(c, (OrderStatus.NEW, 0))[0].is_terminal]

    # -- what TWS holds --------------------------------------------------------------------

    def _foreign_id(self, order_ref: str, perm_id: int) -> str:
        """A client order id for an order that is not ours: its orderRef, unless that
        names one of ours (orderRef is not unique at IB), else `ib-<permId>`."""
        if order_ref and order_ref not in self.ids:
            return order_ref
        return f"ib-{perm_id}"

    def _venue_order(self, trade: Any) -> VenueOrder | None:
        order = trade.order
        if order.account and order.account != self.account:
            return None
        coid = self._coid(order.permId, order.clientId, order.orderId, order.orderRef)
        if coid is None:
            coid = self._foreign_id(order.orderRef, order.permId)
        key = self._key_for(trade.contract)
        return venue_order(trade, coid, key, self._instrument_cache.get(key))

    async def open_orders(self) -> list[VenueOrder]:
        trades = await self._request("open orders", self.ib.reqAllOpenOrdersAsync)
        found: dict[str, VenueOrder] = {}
        for trade in trades:
            if trade.orderStatus.status not in ("PreSubmitted", "Submitted", "PendingSubmit"):
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
        for trade in done:
            venue = self._venue_order(trade)
            if venue is not None and venue.client_order_id == client_order_id:
                return venue
        return None

    async def positions(self) -> list[Position]:
        await self.settle()
        return [
            position_of(
                p,
                key=self._key_for(p.contract),
                broker=self.name,
                instrument=self._instrument_cache.get(self._key_for(p.contract)),
            )
            for p in self.ib.positions(self.account)
            if p.position != 0
        ]

    async def balances(self) -> list[Balance]:
        await self.settle()
        values = self.ib.accountValues(self.account)
        return balances_of(values, broker=self.name, account=self.account)

    async def reconcile(
        self, since_ns: int = 0, last_fills: Mapping[str, Fill] | None = None
    ) -> ReconcileReport:
        """What TWS holds now. Fills: `reqExecutions` for the account from `since_ns`
        (or the earliest last journaled fill), every client id; TWS reports the current
        trading day only, so fills from an earlier day are invisible here."""
        since = since_ns
        last = dict(last_fills or {})
        if not since and last:
            stamps = [f.venue_ts_ns for f in last.values() if f.venue_ts_ns]
            since = min(stamps) if stamps else 0
        when = ""
        if since:
            moment = datetime.fromtimestamp(since / 1e9, tz=UTC)
            when = moment.strftime("%Y%m%d-%H:%M:%S")
        fills_ib = await self._request(
            "executions",
            lambda: self.ib.reqExecutionsAsync(ExecutionFilter(acctCode=self.account, time=when)),
        )
        fills: dict[str, Fill] = {}
        for ib_fill in fills_ib:
            execution = ib_fill.execution
            coid = self._coid(
                execution.permId, execution.clientId, execution.orderId, execution.orderRef
            ) or self._foreign_id(execution.orderRef, execution.permId)
            key = self._key_for(ib_fill.contract)
            if _not_after(execution, last.get(key)):
                continue
            fills[execution.execId] = fill_of(
                ib_fill,
                client_order_id=coid,
                key=key,
                broker=self.name,
                account=self.account,
                instrument=self._instrument_cache.get(key),
                commission=self.fees.report(execution.execId),
            )
        return ReconcileReport(
            broker=self.name,
            account=self.account,
            as_of_ns=self.clock(),
            open_orders=tuple(await self.open_orders()),
            fills=tuple(fills.values()),
            positions=tuple(await self.positions()),
            balances=tuple(await self.balances()),
        )

    # -- market data -------------------------------------------------------------------------

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
            if key not in self.market.contracts:
                self.market.subscribe(key, contract)
        await self.set_link("market", L.LIVE, self._market_detail())

    async def unsubscribe(self, instruments: Iterable[str]) -> None:
        for key in instruments:
            self.market.unsubscribe(key)
            self.health_state.last_message_ns.pop(key, None)
            self.health_state.extra.pop(f"md_type:{key}", None)


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


def _price(value: float) -> Decimal | None:
    if value is None or value != value or value == 0 or value >= UNSET_DOUBLE:
        return None
    return to_decimal(value)
