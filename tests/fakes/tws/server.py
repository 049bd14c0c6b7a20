"""`FakeTws`: a local TWS / IB Gateway speaking the TWS API at server version 178.

An asyncio TCP server in the test's event loop on 127.0.0.1 and a free port; the real
ib_async client (`IB().connectAsync`) runs against it unmodified. The venue state
(`exchange.py`) outlives client sessions. See README.md in this folder.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from decimal import Decimal
from types import TracebackType

from tests.fakes.tws import messages as m
from tests.fakes.tws.contracts import DEFAULT_CONTRACTS, ContractQuery, ContractSpec
from tests.fakes.tws.exchange import (
    ErrorNote,
    Exchange,
    ExecNote,
    Execution,
    Note,
    Order,
    OrderNote,
    Position,
    Quote,
    Ticket,
    default_commission,
)
from tests.fakes.tws.faults import (
    ORDER_STATUS,
    PACING_MESSAGES,
    REPORTS,
    REQUEST_KINDS,
    Faults,
    ReportFaults,
)
from tests.fakes.tws.framing import Field, FrameReader, encode_frame, parse_version_range

ACCOUNT = "DU123456"
NO_SECURITY = "No security definition has been found for the request"
DUPLICATE_ORDER_ID = "Duplicate order id"
FARM_NOTICES = (
    (2104, "Market data farm connection is OK:usfarm"),
    (2106, "HMDS data farm connection is OK:ushmds"),
    (2158, "Sec-def data farm connection is OK:secdefnj"),
)
CLIENT_ID_IN_USE = (
    "Unable to connect as the client id is already in use. Retry with a unique client id."
)


@dataclass
class Subscription:
    con_id: int
    delayed: bool
    # Frozen data (marketDataType 2, or 4 delayed): the market is closed and the client
    # asked for the last prices TWS had; each batch of ticks carries the last trade's
    # time (tickString 45, 88 delayed).
    frozen: bool = False


@dataclass
class Session:
    """One client connection."""

    writer: asyncio.StreamWriter
    client_id: int | None = None
    client_versions: tuple[int, int] = (0, 0)
    account_updates: bool = False
    positions: bool = False
    data_type: int = 1  # what reqMarketDataType asked for
    tickers: dict[int, Subscription] = field(default_factory=dict)
    sent: list[list[str]] = field(default_factory=list)
    faults: ReportFaults = field(default_factory=ReportFaults)
    # perm id -> the last orderStatus frame sent for the order (what `late` re-sends)
    statuses: dict[str, bytes] = field(default_factory=dict)
    stale: list[bytes] = field(default_factory=list)  # re-sent at the end of the batch

    def send(self, fields: list[Field]) -> None:
        kind = int(str(fields[0]))
        frame = encode_frame(self.faults.garble(kind, fields))
        self._write(frame)
        if kind not in REPORTS:
            return
        if self.faults.duplicate:
            self._repeat(frame)
        if kind == ORDER_STATUS:
            perm_id = str(fields[6])
            previous = self.statuses.get(perm_id)
            self.statuses[perm_id] = frame
            if self.faults.late and previous is not None and previous != frame:
                self.stale.append(previous)

    def send_stale(self) -> None:
        """The older statuses `late` holds back: after everything sent before them."""
        stale, self.stale = self.stale, []
        for frame in stale:
            self._repeat(frame)
            if self.faults.duplicate:
                self._repeat(frame)

    def _repeat(self, frame: bytes) -> None:
        if self._write(frame):
            self.faults.repeated += 1

    def _write(self, frame: bytes) -> bool:
        self.sent.append(frame[4:].decode().split("\0")[:-1])
        if self.writer.is_closing():
            return False
        self.writer.write(frame)
        return True


def _decimal(text: str) -> Decimal | None:
    return Decimal(text) if text not in ("", None) else None


def parse_ticket(fields: list[str]) -> Ticket:
    """The placeOrder fields after the contract (ib_async `Client.placeOrder` order)."""
    return Ticket(
        action=fields[16],
        quantity=Decimal(fields[17]),
        order_type=fields[18],
        limit_price=_decimal(fields[19]),
        stop_price=_decimal(fields[20]),
        tif=fields[21] or "DAY",
        account=fields[23],
        order_ref=fields[26],
        outside_rth=fields[33] == "1",
    )


def _changed(ticket: Ticket, quantity: str | None, limit: str | None) -> Ticket:
    """`ticket` at a new quantity and limit, each kept where None."""
    return replace(
        ticket,
        quantity=ticket.quantity if quantity is None else Decimal(quantity),
        limit_price=ticket.limit_price if limit is None else Decimal(limit),
    )


class FakeTws:
    def __init__(
        self,
        contracts: Iterable[ContractSpec] = DEFAULT_CONTRACTS,
        *,
        account: str = ACCOUNT,
        cash: Mapping[str, Decimal | str | int] | None = None,
        positions: Mapping[int | str, tuple[str | Decimal, str | Decimal]] | None = None,
        market_data: str = "live",
        commission: Callable[[ContractSpec, Decimal, Decimal], Decimal] = default_commission,
        server_version: int = m.SERVER_VERSION,
        farm_notices: bool = True,
        check_funds: bool = False,
        master_client_id: int | None = None,
        closes: Mapping[int | str, str | Decimal] | None = None,
    ) -> None:
        self.exchange = Exchange(
            contracts,
            account,
            {k: Decimal(v) for k, v in (cash or {"USD": "100000"}).items()},
            commission,
            check_funds=check_funds,
        )
        for key, (qty, avg_cost) in (positions or {}).items():
            spec = self.exchange.spec(key)
            self.exchange.positions[spec.con_id] = Position(Decimal(qty), Decimal(avg_cost))
        for key, close in (closes or {}).items():
            self.exchange.closes[self.exchange.spec(key).con_id] = Decimal(close)
        self.account = account
        self.market_data = market_data  # "live" or "delayed"
        # The market is closed since then (`close_market`): a client that asked for
        # frozen data (reqMarketDataType 2, or 4) gets the last prices as frozen.
        self.market_closed_at: datetime | None = None
        # conIds whose data the account subscribes only in part (`partially_subscribed`)
        self.partial_market_data: dict[int, str] = {}
        self.server_version = server_version
        self.farm_notices = farm_notices
        # TWS's "Master API client ID" (API settings): that client also gets the order
        # reports and executions of every other client's orders (and of TWS's own).
        self.master_client_id = master_client_id
        self.faults = Faults()
        self.sessions: list[Session] = []
        self.requests: list[tuple[int | None, list[str]]] = []
        self.rejected: list[tuple[int, int, int, str]] = []  # (client, order id, code, text)
        self._held_commissions: list[tuple[int, list[Field]]] = []
        # exec ids whose commission is held: TWS has not worked it out yet, so a
        # reqExecutions answer lists the execution without its commissionReport.
        self._commission_unknown: set[str] = set()
        # executions TWS has not reported yet (`hold_next_executions`): their order's
        # status and the position already hold them; execDetails and commissionReport
        # are sent, and reqExecutions lists them, only from `release_executions()`
        self._held_executions: list[tuple[int, list[list[Field]]]] = []
        self._executions_unheard: set[str] = set()
        self.connects = 0
        self._server: asyncio.Server | None = None
        self._changed = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._later: set[asyncio.Task[None]] = set()  # answers TWS gives later
        # (client id, order id) of ended orders TWS no longer knows by their id
        # (`forget_ended_orders`: restarted since they ended)
        self._forgotten: set[tuple[int, int]] = set()
        self._table = self._handlers()

    # ------------------------------------------------------------ lifecycle

    async def __aenter__(self) -> FakeTws:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def start(self, port: int = 0) -> None:
        """Serve on 127.0.0.1:`port` (0: a free port, what tests use)."""
        self._server = await asyncio.start_server(
            self._serve, "127.0.0.1", port, reuse_address=True
        )

    async def stop(self) -> None:
        for later in list(self._later):
            later.cancel()
        if self._server is not None:
            self._server.close()
        for session in list(self.sessions):
            session.writer.transport.abort()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=1.0)
        if self._server is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._server.wait_closed(), 1.0)
            self._server = None

    @property
    def port(self) -> int:
        assert self._server is not None, "FakeTws is not started"
        return int(self._server.sockets[0].getsockname()[1])

    # ---------------------------------------------------------- observation

    @property
    def orders(self) -> list[Order]:
        return list(self.exchange.orders.values())

    @property
    def executions(self) -> list[Execution]:
        return self.exchange.executions

    @property
    def positions(self) -> dict[int, Position]:
        return self.exchange.positions

    @property
    def cash(self) -> dict[str, Decimal]:
        return self.exchange.cash

    def order(self, order_id: int, client_id: int | None = None) -> Order:
        found = [
            o
            for o in self.exchange.orders.values()
            if o.order_id == order_id and client_id in (None, o.client_id)
        ]
        if len(found) != 1:
            raise KeyError(f"{len(found)} orders with id {order_id} (client {client_id})")
        return found[0]

    def client_ids(self) -> list[int]:
        return [s.client_id for s in self.sessions if s.client_id is not None]

    def requests_of(self, msg_id: int) -> list[list[str]]:
        return [fields for _, fields in self.requests if fields[0] == str(msg_id)]

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 2.0) -> None:
        async with asyncio.timeout(timeout):
            while not predicate():
                self._changed.clear()
                await self._changed.wait()

    async def wait_for_sessions(self, count: int, timeout: float = 2.0) -> None:
        """Until exactly `count` client sessions have started the API."""
        await self.wait_for(lambda: len(self.client_ids()) == count, timeout)

    def _touch(self) -> None:
        self._changed.set()

    # -------------------------------------------------------------- market

    async def set_quote(
        self,
        key: int | str,
        bid: str | Decimal | None,
        ask: str | Decimal | None,
        *,
        bid_size: str | Decimal = "100",
        ask_size: str | Decimal = "100",
        last: str | Decimal | None = None,
        last_size: str | Decimal = "1",
        deeper_bids: Iterable[tuple[str | Decimal, str | Decimal]] = (),
        deeper_asks: Iterable[tuple[str | Decimal, str | Decimal]] = (),
    ) -> None:
        """Replace the quote; ticks go to subscribers and marketable orders fill.
        `deeper_bids`/`deeper_asks` (price, size), best first, are levels behind the
        top that orders walk into once the top is used up (not sent as ticks)."""
        spec = self.exchange.spec(key)
        quote = Quote(
            bid=None if bid is None else Decimal(bid),
            ask=None if ask is None else Decimal(ask),
            bid_size=Decimal(bid_size) if bid is not None else Decimal(0),
            ask_size=Decimal(ask_size) if ask is not None else Decimal(0),
            last=None if last is None else Decimal(last),
            last_size=Decimal(last_size),
            deeper_bids=[(Decimal(p), Decimal(q)) for p, q in deeper_bids],
            deeper_asks=[(Decimal(p), Decimal(q)) for p, q in deeper_asks],
        )
        self._deliver(self.exchange.set_quote(spec.con_id, quote))
        for session in self.sessions:
            for req_id, sub in session.tickers.items():
                if sub.con_id == spec.con_id:
                    self._send_ticks(session, req_id, sub)
        await self._drain()

    def close_market(self, at: datetime) -> None:
        """The market closed at `at` (its last trade then): a market data request of a
        client that asked reqMarketDataType 2 (frozen) or 4 (delayed-frozen) is answered
        marketDataType 2 (4 with `market_data="delayed"`), the quote's ticks and, when
        it has a last trade, that trade's time, `at` (tickString 45; 88 delayed), as TWS
        answers after the close.
        Clients that asked for live or delayed data are served as before."""
        self.market_closed_at = at

    def partially_subscribed(
        self,
        key: int | str,
        message: str = (
            "Part of requested market data is not subscribed. Subscription-independent "
            "ticks are still active.Delayed market data is not available.AAPL NASDAQ.NMS/TOP/ALL"
        ),
    ) -> None:
        """The account subscribes only part of the contract's data: a market data
        request of it is answered with TWS's 10090 (after marketDataType), and its
        ticks still flow."""
        self.partial_market_data[self.exchange.spec(key).con_id] = message

    async def competing_live_session(self, key: int | str | None = None) -> None:
        """Another session of the account's user took the live data (TWS, IB Gateway,
        Client Portal or IBKR Mobile logged in elsewhere; for a paper account, its live
        user's): TWS sends error 10197 `No market data during competing live session`
        on each market data request of every client (of the contract `key`, else on
        all), one per subscription, as IB does. Its data stops meanwhile: push no quote
        (`set_quote`) until the test takes that session as logged out (then the ticks
        flow again on the same requests)."""
        con_id = None if key is None else self.exchange.spec(key).con_id
        for session in self.sessions:
            for req_id, sub in session.tickers.items():
                if con_id is None or sub.con_id == con_id:
                    session.send(
                        m.error(req_id, 10197, "No market data during competing live session")
                    )
        await self._drain()

    async def set_close(self, key: int | str, close: str | Decimal) -> None:
        """The prior session's close (tick type 9, 75 delayed): sent to subscribers now,
        as TWS sends it when it has it (at subscription, and when a new day begins)."""
        spec = self.exchange.spec(key)
        self.exchange.closes[spec.con_id] = Decimal(close)
        self._send_closes(spec.con_id)
        await self._drain()

    def _send_closes(self, con_id: int | None = None) -> None:
        for session in self.sessions:
            for req_id, sub in session.tickers.items():
                if con_id is None or sub.con_id == con_id:
                    self._send_close(session, req_id, sub)

    async def fill(
        self,
        order_id: int,
        qty: str | Decimal | None = None,
        price: str | Decimal | None = None,
        *,
        client_id: int | None = None,
    ) -> Execution:
        """Fill a working order (all of it, or `qty`) at its limit/stop price or `price`."""
        order = self.order(order_id, client_id)
        if not order.working:
            raise ValueError(f"order {order_id} is {order.status}, not working")
        amount = order.remaining if qty is None else Decimal(qty)
        at = self._fill_price(order, None if price is None else Decimal(price))
        notes = self.exchange.execute(order, amount, at, liquidity=1)
        self._deliver(notes)
        await self._drain()
        return self.exchange.executions[-1]

    def _fill_price(self, order: Order, price: Decimal | None) -> Decimal:
        """`price`, else the order's limit, else its stop, else the quote's side."""
        t = order.ticket
        at = price if price is not None else (t.limit_price or t.stop_price)
        if at is None:
            quote = self.exchange.quote(order.spec.con_id)
            at = quote.ask if t.action == "BUY" else quote.bid
        if at is None:
            raise ValueError(f"no price to fill market order {order.order_id} at: pass price=")
        return at

    async def cancel_by_venue(
        self,
        order_id: int,
        *,
        client_id: int | None = None,
        code: int = 202,
        reason: str = "Order Canceled - reason:",
    ) -> None:
        """IB cancels a working order itself (end of day, margin): 202 + Cancelled, or
        another error first (`code`: a 201 "Order rejected - reason:..." for an order
        it had accepted) and then Cancelled."""
        order = self.order(order_id, client_id)
        self._cancel(order, code, reason)
        await self._drain()

    async def cancel_pending_elsewhere(
        self, order_id: int, *, client_id: int | None = None
    ) -> None:
        """A cancel sent from elsewhere (TWS's own window, another client id) that the
        exchange has not confirmed yet: the order is PendingCancel (its client is told,
        orderStatus PendingCancel) until `cancel_by_venue` ends it. A cancelOrder
        meanwhile is answered 10148 `... cannot be cancelled, state: PendingCancel.`"""
        order = self.order(order_id, client_id)
        order.status = "PendingCancel"
        self._deliver([OrderNote.of(order)])
        await self._drain()

    async def deactivate(
        self,
        order_id: int,
        *,
        code: int | None = None,
        message: str = "",
        client_id: int | None = None,
    ) -> None:
        """IB stops working an order without ending it (exchange closed, held,
        outside its hours): error `code` with `message` about it first, if given, then
        orderStatus Inactive. It stays listed among the open orders, does not trade, and
        can be cancelled (202 + Cancelled) or work again (`reactivate`)."""
        order = self.order(order_id, client_id)
        if not order.working:
            raise ValueError(f"order {order_id} is {order.status}, not working")
        order.status = "Inactive"
        notes: list[Note] = []
        if code is not None:
            notes.append(ErrorNote(order.client_id, order.order_id, code, message))
        self._deliver([*notes, OrderNote.of(order)])
        await self._drain()

    async def reactivate(self, order_id: int, *, client_id: int | None = None) -> None:
        """An Inactive order works again: orderStatus Submitted (PreSubmitted for an
        untriggered stop) to its client."""
        order = self.order(order_id, client_id)
        if order.status != "Inactive":
            raise ValueError(f"order {order_id} is {order.status}, not Inactive")
        stop = order.ticket.order_type.startswith("STP") and not order.triggered
        order.status = "PreSubmitted" if stop else "Submitted"
        self._deliver([OrderNote.of(order)])
        await self._drain()

    async def modify_in_tws(
        self,
        order_id: int,
        *,
        quantity: str | None = None,
        limit: str | None = None,
        client_id: int | None = None,
    ) -> None:
        """The trader changes an API order in TWS's own window: its client is sent the
        openOrder with the new terms and an orderStatus, as for any change."""
        order = self.order(order_id, client_id)
        self._change_in_tws(order, _changed(order.ticket, quantity, limit))
        await self._drain()

    def modify_in_tws_before_next_listing(
        self, order_id: int, *, quantity: str | None = None, limit: str | None = None
    ) -> None:
        """`modify_in_tws`, taken the moment before TWS reads the next reqOpenOrders or
        reqAllOpenOrders: its openOrder and orderStatus go out first, then the listing
        (which holds the new terms). ib_async files that openOrder with the listing's
        answer and raises no openOrderEvent for it."""
        ticket = _changed(self.order(order_id).ticket, quantity, limit)
        self.faults.changes_before_listing.append((order_id, ticket))

    def _change_in_tws(self, order: Order, ticket: Ticket) -> None:
        self.exchange.modify(order, ticket)
        self._deliver([OrderNote.of(order)])

    async def correct_execution(
        self,
        execution: Execution,
        *,
        price: str | None = None,
        shares: str | None = None,
        at: datetime | None = None,
    ) -> str:
        """IB corrects an execution: execDetails again, the execId differing only in
        the digits after its final period (".01" -> ".02", as IB documents
        Execution.ExecId), maybe at another price or size; the correction replaces the
        execution, and the order's fill and the position move by the difference (a
        position report goes out): an execution that opened or added moves the average
        cost, one that closed the realized P&L (one through zero is not modelled).
        The account's cash moves by the difference too (the commission stays the
        execution's). The correction carries the execution's time, or `at` (IB does not
        document which time a correction has). Returns the new execId."""
        head, _, count = execution.exec_id.rpartition(".")
        new_price = execution.price if price is None else Decimal(price)
        new_shares = execution.shares if shares is None else Decimal(shares)
        order = execution.order
        filled = order.filled + new_shares - execution.shares
        if filled:
            order.avg_fill_price = (
                order.avg_fill_price * order.filled
                - execution.price * execution.shares
                + new_price * new_shares
            ) / filled
        order.filled = filled
        corrected = replace(
            execution,
            exec_id=f"{head}.{int(count) + 1:02d}",
            price=new_price,
            shares=new_shares,
            cum_qty=order.filled,
            avg_price=order.avg_fill_price,
            time=execution.time if at is None else at,
        )
        sign = Decimal(1) if execution.side == "BOT" else Decimal(-1)
        spec = order.spec
        pos = self.exchange.positions[spec.con_id]
        paid = (new_price * new_shares - execution.price * execution.shares) * spec.unit * sign
        # The cash as the corrected trade books it (a buy paid `paid` more, a sale's
        # proceeds `paid` less); its commission is the execution's, charged once.
        cash = self.exchange.cash
        cash[spec.currency] = cash.get(spec.currency, Decimal(0)) - paid
        if execution.realized_pnl is None:  # it opened or added: its cost is in the average
            cost = pos.avg_cost * pos.quantity + paid
            pos.quantity += (new_shares - execution.shares) * sign
            pos.avg_cost = cost / pos.quantity if pos.quantity else Decimal(0)
        else:  # it closed: the average stands, the realized P&L moves
            pos.quantity += (new_shares - execution.shares) * sign
            pos.realized -= paid
            corrected = replace(corrected, realized_pnl=execution.realized_pnl - paid)
        index = self.exchange.executions.index(execution)
        self.exchange.executions[index] = corrected
        for session in self._reported_to(order.client_id):
            session.send(m.exec_details(-1, corrected, self.account))
            session.send(m.commission_report(corrected))
        self._send_position(corrected)
        await self._drain()
        return corrected.exec_id

    async def new_trading_day(self) -> None:
        """Roll the session over: working DAY orders are cancelled (202 + Cancelled);
        reqExecutions and reqCompletedOrders no longer report anything from before
        (positions, cash and GTC orders stay)."""
        for order in self.exchange.new_trading_day():
            self._deliver(
                [
                    ErrorNote(order.client_id, order.order_id, 202, "Order Canceled - reason:"),
                    OrderNote.of(order),
                ]
            )
        self._send_closes()  # the day that ended is the prior session now
        await self._drain()

    # --------------------------------------------------------------- faults

    async def send_error(self, code: int, message: str, req_id: int = -1) -> None:
        """An error/notice frame to every session (e.g. 2104 farm OK, 1100 lost)."""
        for session in self.sessions:
            if session.client_id is not None:
                session.send(m.error(req_id, code, message))
        await self._drain()

    async def warn_order(
        self, order_id: int, code: int, text: str, *, client_id: int | None = None
    ) -> None:
        """A warning about a working order, now and on its own (no orderStatus after
        it), to the order's client only, as TWS sends 404 (shares held while IB locates
        them), 399 or one of 2100-2199 at any point of an order's life."""
        order = self.order(order_id, client_id)
        for session in self._owners(order.client_id):
            session.send(m.error(order.order_id, code, text))
        await self._drain()

    def warn_after_next_listing(self, order_id: int, code: int, text: str) -> None:
        """The next open-orders listing (reqOpenOrders, reqAllOpenOrders) is followed,
        in the same packet, by a warning about order `order_id` (its client's sessions
        only): TWS's warnings come whenever IB has one, a listing's answer no
        exception."""
        self.faults.warnings_after_listing.append((order_id, code, text))

    async def send_tick(
        self, key: int | str, tick_type: int, price: str, size: str = "100"
    ) -> None:
        """One tickPrice (and, for bid/ask/last, its tickSize) with `price` as written
        (`"inf"`, `"nan"`, `"1.7976931348623157E308"`: what TWS's feed can carry) to
        every subscriber of `key`, the fake's book untouched (nothing matches)."""
        spec = self.exchange.spec(key)
        sizes = {m.BID: m.BID_SIZE, m.ASK: m.ASK_SIZE, m.LAST: m.LAST_SIZE}
        for session in self.sessions:
            for req_id, sub in session.tickers.items():
                if sub.con_id != spec.con_id:
                    continue
                session.send([1, 6, req_id, tick_type, price, size, 0])
                if tick_type in sizes:
                    session.send(m.tick_size(req_id, sizes[tick_type], Decimal(size)))
        await self._drain()

    def garble_next(self, msg_id: int, index: int, text: str, times: int = 1) -> None:
        """The next `times` frames of message `msg_id` TWS sends (to any client) go out
        with field `index` (0: the message id) written as `text`, a value the client
        cannot read (an execDetails' shares `2.0x` at 19, an orderStatus' filled
        `notanumber` at 3); what the message reports happened all the same at TWS (the
        fill, the position after it), and later answers (reqExecutions) say it
        readably."""
        self.faults.reports.garbled[msg_id].extend([(index, text)] * times)

    async def send_frame(self, fields: list[Field]) -> None:
        """One frame of `fields` as written (a message id ib_async does not know, 999;
        one that is no number, `abc`), well framed, to every client that started the
        API."""
        frame = encode_frame(fields)
        for session in self.sessions:
            if session.client_id is not None:
                session._write(frame)
        await self._drain()

    async def execute_unheard(
        self,
        key: int | str,
        action: str,
        qty: str | Decimal,
        price: str | Decimal,
        *,
        order_id: int = 999,
    ) -> Execution:
        """An order no API client was told of (placed in TWS's own window, client id 0,
        no orderRef; its openOrder never went to the API) fills whole at `price`: its
        execDetails (reqId -1, order id `order_id`, a new permId) and commissionReport
        go live to every client, with no openOrder or orderStatus before them (ib_async
        then holds no trade for it), then the position and account updates. From then
        on it is TWS's like any order: reqExecutions lists the execution,
        reqCompletedOrders the order."""
        spec = self.exchange.spec(key)
        amount, at = Decimal(qty), Decimal(price)
        ticket = Ticket(action, amount, "LMT", at, None, "DAY", account=self.account)
        order = self.exchange.place(0, order_id, spec, ticket)
        self.exchange.execute(order, amount, at, liquidity=1)
        execution = self.exchange.executions[-1]
        for session in self.sessions:
            if session.client_id is not None:
                session.send(m.exec_details(-1, execution, self.account))
                session.send(m.commission_report(execution))
        self._send_position(execution)
        await self._drain()
        return execution

    async def connectivity_lost(self) -> None:
        """1100: TWS lost IB's servers. Ticks stop until connectivity is restored."""
        self.faults.connectivity_lost = True
        await self.send_error(1100, "Connectivity between IB and Trader Workstation has been lost.")

    async def connectivity_restored(self, *, data_lost: bool = False) -> None:
        """1102 (subscriptions kept) or 1101 (market data subscriptions are gone: the
        client must request them again)."""
        self.faults.connectivity_lost = False
        if data_lost:
            for session in self.sessions:
                session.tickers.clear()
            await self.send_error(
                1101,
                "Connectivity between IB and Trader Workstation has been restored - data lost.*",
            )
        else:
            await self.send_error(
                1102,
                "Connectivity between IB and Trader Workstation has been restored - data "
                "maintained. All data farms are connected: usfarm; ushmds; secdefnj.",
            )

    async def drop_connections(self) -> None:
        """Hard TCP drop (abort, no FIN): every client session ends at once."""
        for session in list(self.sessions):
            session.writer.transport.abort()
        await self.wait_for(lambda: not self.sessions)

    def wedge_readers(self) -> None:
        """Bytes that are no frame on every client's socket: a length prefix announcing
        a frame of 1 MB (0x00100000) and 7 bytes of it. ib_async's reader waits for the
        rest and reads everything TWS sends after as part of it: the socket stays open
        and TWS answers on, but nothing more reaches the client (a wedged reader)."""
        for session in self.sessions:
            session.writer.write(b"\x00\x10\x00\x00garbage")

    def freeze(self) -> None:
        """TWS stops (SIGSTOP, its API thread held): the clients' requests wait unread,
        so nothing is answered, until `thaw`; the sockets stay open. A connection made
        meanwhile is accepted (the kernel completes it into the listen backlog of a
        stopped process) and nothing on it is read or answered, not even the
        handshake. (What a test pushes meanwhile, `set_quote`, `fill`, still goes out
        to the sessions that had started the API: push nothing.)"""
        self.faults.frozen = True
        for session in self.sessions:
            session.writer.transport.pause_reading()  # type: ignore[attr-defined]

    def thaw(self) -> None:
        """TWS runs again: the requests that waited are read and answered in order (on
        the connections made while frozen too, those the client has not closed)."""
        self.faults.frozen = False
        for session in self.sessions:
            session.writer.transport.resume_reading()  # type: ignore[attr-defined]

    def reserve_client_id(self, client_id: int) -> None:
        """TWS believes `client_id` is connected (a stale session): connects get 326."""
        self.faults.reserved_client_ids.add(client_id)

    def release_client_id(self, client_id: int) -> None:
        self.faults.reserved_client_ids.discard(client_id)

    def slow_start(self, client_id: int, seconds: float) -> None:
        """From now on TWS answers the API start of `client_id` (its nextValidId and
        managedAccounts, or its 326) only `seconds` after it came (a TWS busy taking a
        connection); 0: at once again. Requests of that session before then are ignored,
        as before any start."""
        if seconds > 0:
            self.faults.start_delays[client_id] = seconds
        else:
            self.faults.start_delays.pop(client_id, None)

    def pace_next(self, kind: str, code: int = 100, times: int = 1) -> None:
        """The next `times` requests of `kind` get a pacing error (162, 420 or 100) with
        their request id instead of an answer."""
        assert kind in REQUEST_KINDS, kind
        self.faults.pacing[kind].extend([code] * times)

    def omit_next_end(self, kind: str, times: int = 1) -> None:
        """The next `times` answers of `kind` go out without their end marker."""
        assert kind in REQUEST_KINDS, kind
        self.faults.missing_ends[kind] += times

    def reject_next_order(
        self, code: int = 201, reason: str = "Order rejected - reason:Insufficient margin"
    ) -> None:
        """The next placeOrder (new or modify) is refused with `code` after validation."""
        self.faults.order_rejections.append((code, reason))

    def warn_next_order(self, code: int, text: str) -> None:
        """The next placeOrder (new or modify) that TWS accepts is preceded by a warning
        with its order id, as TWS sends 2109 ("Outside Regular Trading Hours is ignored
        ... PlaceOrder is now being processed") or 399 ("will not be placed at the
        exchange until ..."): the order is taken all the same."""
        self.faults.order_warnings.append((code, text))

    def commission_before_execution(self, times: int = 1) -> None:
        """The next `times` live fills send commissionReport before execDetails."""
        self.faults.commission_first += times

    def positions_before_executions(self, times: int = 1) -> None:
        """The next `times` live fills send their position update (to reqPositions
        subscribers) and account update before execDetails and commissionReport: TWS
        keeps no order between the two kinds of message."""
        self.faults.positions_first += times

    def hold_next_commissions(self, times: int = 1) -> None:
        """The next `times` live fills go out without their commission report, which
        follows only on `release_commissions()` (IB sends it seconds later at times);
        until then reqExecutions lists those executions without it."""
        self.faults.commission_held += times

    def unset_commission_first(self, times: int = 1) -> None:
        """The next `times` live fills send a commission report whose commission is
        the unset double (TWS has not worked it out yet); the real one follows on
        `release_commissions()`."""
        self.faults.commission_unset_first += times

    async def release_commissions(self) -> None:
        """Send the held commission reports to the sessions of their orders' client
        (lost if none is connected: a reqExecutions answer has them from now on)."""
        held, self._held_commissions = self._held_commissions, []
        self._commission_unknown.clear()
        for client_id, frame in held:
            for session in self._reported_to(client_id):
                session.send(frame)
        await self._drain()

    def hold_next_executions(self, times: int = 1) -> None:
        """The next `times` live fills go out as their order's openOrder + orderStatus
        (Filled, or Submitted with the filled quantity) and their position update, and
        nothing more: TWS reports the execution itself (execDetails, commissionReport)
        only on `release_executions()`, and until then reqExecutions does not list it.
        TWS's orderStatus runs ahead of execDetails at IB."""
        self.faults.executions_held += times

    async def release_executions(self) -> None:
        """Send the held executions (execDetails + commissionReport) to the sessions
        their orders report to, and list them in reqExecutions answers from now on."""
        held, self._held_executions = self._held_executions, []
        self._executions_unheard.clear()
        for client_id, frames in held:
            for session in self._reported_to(client_id):
                for frame in frames:
                    session.send(frame)
        await self._drain()

    def race_next_cancel(self, outcome: str = "fill") -> None:
        """The next cancel (a cancelOrder, or reqGlobalCancel: its first working order)
        loses a race: the moment before TWS takes it, the order ends by itself,
        `outcome` "fill" (filled whole at its limit, else its stop, else the quote) or
        "cancel" (IB cancels it: 202 + Cancelled). Its reports go out first, then
        TWS's answer to the cancel of an order no longer working: 10148 (`OrderId N
        that needs to be cancelled cannot be cancelled, state: Filled.`), in that
        order, as TWS sends them to the client that placed it."""
        assert outcome in ("fill", "cancel"), outcome
        self.faults.cancel_races.append(outcome)

    def delay_next_modify(self, seconds: float) -> None:
        """TWS takes the next modify only `seconds` later (an exchange slow to confirm
        a replace): its openOrder with the new terms and its orderStatus come then."""
        self.faults.modify_delays.append(seconds)

    def race_next_modify(self, times: int = 1) -> None:
        """The next modify loses a race with a fill: the order fills whole at its old
        terms just before TWS takes the modify, which TWS then refuses (104)."""
        self.faults.modify_races += times

    def ignore_next(self, kind: str, times: int = 1) -> None:
        """The next `times` requests of `kind` (place_order, a modify among them;
        cancel_order; global_cancel; executions; current_time) get no answer and change
        nothing, as if lost on the way to TWS (or TWS hung)."""
        kinds = ("place_order", "cancel_order", "global_cancel", "executions", "current_time")
        assert kind in kinds, kind
        self.faults.ignored[kind] += times

    def forget_ended_orders(self) -> None:
        """TWS restarts (its daily restart, or by hand) after these orders ended: it no
        longer knows an order that ended by its order id, so a cancelOrder of one is
        answered 10147 (`OrderId N that needs to be cancelled is not found.`), not 10148
        with its state. Working orders keep their ids (TWS loads them again), and what
        IB keeps of the day is still served: reqExecutions and reqCompletedOrders list
        the day's executions and ended orders as before (`new_trading_day` drops them)."""
        self._forgotten |= {
            (order.client_id, order.order_id)
            for order in self.exchange.orders.values()
            if not order.open
        }

    def lose_next_order_answer(self, times: int = 1) -> None:
        """The next `times` new orders are accepted and work, but their first
        openOrder/orderStatus never reaches the client (later reports do)."""
        self.faults.lost_order_answers += times

    def duplicate_next_replay(self, times: int = 1) -> None:
        """The next `times` reqExecutions answers send every execution (and its commission
        report) twice, same execId."""
        self.faults.duplicate_replays += times

    def duplicate_reports(self, enabled: bool = True) -> None:
        """From now on every orderStatus, execDetails and commissionReport (live, in
        answers and replays) is sent twice, same fields."""
        self.faults.reports.duplicate = enabled

    def late_statuses(self, enabled: bool = True) -> None:
        """From now on, when an order's status changes, the orderStatus a session got
        before it is sent to it again at the end of the batch: a stale "Submitted" after
        "Filled" or "Cancelled", an older partial after a later one."""
        self.faults.reports.late = enabled

    @property
    def reports_repeated(self) -> int:
        """Order reports written to a client's socket again (`duplicate_reports`,
        `late_statuses`)."""
        return self.faults.reports.repeated

    # ------------------------------------------------------------- sessions

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        session = Session(writer, faults=self.faults.reports)
        self.sessions.append(session)
        self.connects += 1
        if self.faults.frozen:
            writer.transport.pause_reading()  # type: ignore[attr-defined]
        frames = FrameReader()
        try:
            while not writer.is_closing():
                data = await reader.read(65536)
                if not data:
                    break
                was_greeted = frames.greeted
                batch = frames.feed(data)
                if frames.greeted and not was_greeted:
                    session.client_versions = parse_version_range(frames.version_range)
                    version = min(self.server_version, session.client_versions[1])
                    session.send(m.handshake(datetime.now(UTC), version))
                for fields in batch:
                    self.requests.append((session.client_id, fields))
                    self._dispatch(session, fields)
                await self._drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            self.sessions.remove(session)
            writer.transport.abort()
            self._tasks.discard(task)
            self._touch()

    async def _drain(self) -> None:
        for session in list(self.sessions):
            session.send_stale()
        for session in list(self.sessions):
            with contextlib.suppress(ConnectionError):
                await session.writer.drain()
        self._touch()

    def _owners(self, client_id: int) -> list[Session]:
        return [s for s in self.sessions if s.client_id == client_id]

    def _reported_to(self, client_id: int) -> list[Session]:
        """The sessions an order's reports and executions go to: its client's, and the
        master client's (`master_client_id`). Errors about an order (202, 10147, ...)
        go to its own client only."""
        ids = {client_id} if self.master_client_id is None else {client_id, self.master_client_id}
        return [s for s in self.sessions if s.client_id in ids]

    def _deliver(self, notes: list[Note]) -> None:
        for note in notes:
            if isinstance(note, OrderNote):
                for session in self._reported_to(note.order.client_id):
                    session.send(m.open_order(note.order))
                    session.send(m.order_status(note.order))
            elif isinstance(note, ExecNote):
                self._deliver_execution(note.execution)
            else:
                for session in self._owners(note.client_id):
                    session.send(m.error(note.req_id, note.code, note.message))

    def _deliver_execution(self, execution: Execution) -> None:
        """execDetails + commissionReport to the order's client, then the position and
        account updates to every subscriber. A position is the account's as it stands
        when the message goes out, as TWS sends it: after an order that filled in
        several pieces at once, the position sent after the first execDetails already
        holds the pieces whose execDetails follow (TWS keeps no order between
        positions and executions; `positions_before_executions` sends it first)."""
        frames = [
            m.exec_details(-1, execution, self.account),
            m.commission_report(execution),
        ]
        if self.faults.commission_first:
            self.faults.commission_first -= 1
            frames.reverse()
        elif self.faults.commission_held:
            self.faults.commission_held -= 1
            self._held_commissions.append((execution.order.client_id, frames.pop()))
            self._commission_unknown.add(execution.exec_id)
        elif self.faults.commission_unset_first:
            self.faults.commission_unset_first -= 1
            self._held_commissions.append((execution.order.client_id, frames.pop()))
            frames.append(m.commission_report(execution, unset=True))
        if self.faults.executions_held:
            self.faults.executions_held -= 1
            self._held_executions.append((execution.order.client_id, frames))
            self._executions_unheard.add(execution.exec_id)
            self._send_position(execution)
            return
        positions_first = self.faults.positions_first > 0
        if positions_first:
            self.faults.positions_first -= 1
            self._send_position(execution)
        for session in self._reported_to(execution.order.client_id):
            for frame in frames:
                session.send(frame)
        if not positions_first:
            self._send_position(execution)

    def _send_position(self, execution: Execution) -> None:
        spec = execution.order.spec
        pos = self.exchange.positions[spec.con_id]
        for session in self.sessions:
            if session.positions:
                session.send(m.position(self.account, spec, pos))
            if session.account_updates:
                self._send_account(session, [spec.con_id])

    def _send_account(self, session: Session, con_ids: Iterable[int]) -> None:
        for tag, value, currency in self.exchange.account_values():
            session.send(m.account_value(tag, value, currency, self.account))
        for con_id in con_ids:
            spec = self.exchange.contracts[con_id]
            pos = self.exchange.positions[con_id]
            session.send(m.portfolio_value(spec, pos, self.exchange.mark(spec), self.account))
        session.send(m.account_time(datetime.now(UTC)))

    def _end(self, session: Session, kind: str, fields: list[Field]) -> None:
        if self.faults.missing_ends[kind]:
            self.faults.missing_ends[kind] -= 1
            return
        session.send(fields)

    def _paced(self, session: Session, kind: str, req_id: int) -> bool:
        codes = self.faults.pacing[kind]
        if not codes:
            return False
        code = codes.popleft()
        session.send(m.error(req_id, code, PACING_MESSAGES.get(code, "Pacing violation")))
        return True

    def _req_current_time(self, session: Session, fields: list[str]) -> None:
        if not self._ignored("current_time"):
            session.send(m.current_time(int(time.time())))

    def _ignored(self, kind: str) -> bool:
        if self.faults.ignored[kind]:
            self.faults.ignored[kind] -= 1
            return True
        return False

    def _resolve(self, query: ContractQuery) -> list[ContractSpec]:
        return [s for s in self.exchange.contracts.values() if query.matches(s)]

    # ------------------------------------------------------------- requests

    def _dispatch(self, session: Session, fields: list[str]) -> None:
        msg_id = int(fields[0])
        if session.client_id is None and msg_id != m.START_API:
            return  # TWS ignores requests before startApi
        handler = self._table.get(msg_id)
        if handler is not None:
            handler(session, fields)

    def _handlers(self) -> dict[int, Callable[[Session, list[str]], None]]:
        return {
            m.START_API: self._start_api,
            m.REQ_MKT_DATA: self._req_mkt_data,
            m.CANCEL_MKT_DATA: self._cancel_mkt_data,
            m.PLACE_ORDER: self._place_order,
            m.CANCEL_ORDER: self._cancel_order,
            m.REQ_OPEN_ORDERS: self._req_open_orders,
            m.REQ_ALL_OPEN_ORDERS: self._req_open_orders,
            m.REQ_ACCOUNT_UPDATES: self._req_account_updates,
            m.REQ_EXECUTIONS: self._req_executions,
            m.REQ_IDS: lambda s, f: s.send(m.next_valid_id(self.exchange.next_order_id())),
            m.REQ_CONTRACT_DETAILS: self._req_contract_details,
            m.REQ_MANAGED_ACCTS: lambda s, f: s.send(m.managed_accounts([self.account])),
            m.REQ_CURRENT_TIME: self._req_current_time,
            m.REQ_GLOBAL_CANCEL: self._req_global_cancel,
            m.REQ_MARKET_DATA_TYPE: self._req_market_data_type,
            m.REQ_POSITIONS: self._req_positions,
            m.CANCEL_POSITIONS: lambda s, f: setattr(s, "positions", False),
            m.REQ_ACCOUNT_UPDATES_MULTI: self._req_account_updates_multi,
            m.REQ_COMPLETED_ORDERS: self._req_completed_orders,
        }

    def _start_api(self, session: Session, fields: list[str]) -> None:
        delay = self.faults.start_delays.get(int(fields[2]))
        if delay is None:
            self._started(session, fields)
            return

        async def later() -> None:
            await asyncio.sleep(delay)
            if not session.writer.is_closing():
                self._started(session, fields)
                await self._drain()

        task = asyncio.ensure_future(later())
        self._later.add(task)
        task.add_done_callback(self._later.discard)

    def _started(self, session: Session, fields: list[str]) -> None:
        client_id = int(fields[2])
        if client_id in self.client_ids() or client_id in self.faults.reserved_client_ids:
            session.send(m.error(-1, 326, CLIENT_ID_IN_USE))
            session.writer.close()
            return
        session.client_id = client_id
        session.send(m.next_valid_id(self.exchange.next_order_id()))
        session.send(m.managed_accounts([self.account]))
        if self.farm_notices:
            for code, text in FARM_NOTICES:
                session.send(m.error(-1, code, text))

    def _req_mkt_data(self, session: Session, fields: list[str]) -> None:
        req_id = int(fields[2])
        snapshot = fields[17] == "1"
        if self._paced(session, "market_data", req_id):
            return
        specs = self._resolve(ContractQuery.from_fields(fields[3:15]))
        if len(specs) != 1:
            session.send(m.error(req_id, 200, NO_SECURITY))
            return
        delayed = self.market_data == "delayed"
        if delayed and session.data_type in (1, 2):
            session.send(
                m.error(
                    req_id,
                    354,
                    "Requested market data is not subscribed.Delayed market data is available.",
                )
            )
            return
        frozen = self.market_closed_at is not None and session.data_type in (2, 4)
        sub = Subscription(specs[0].con_id, delayed, frozen)
        data_type = 3 if delayed else 1
        if frozen:
            data_type = 4 if delayed else 2
        session.send(m.market_data_type(req_id, data_type))
        partial = self.partial_market_data.get(sub.con_id)
        if partial is not None:
            session.send(m.error(req_id, 10090, partial))
        if delayed:
            session.send(
                m.error(
                    req_id,
                    10167,
                    "Requested market data is not subscribed. Displaying delayed market data.",
                )
            )
        self._send_ticks(session, req_id, sub)
        self._send_close(session, req_id, sub)
        if snapshot:
            session.send([57, 1, req_id])
        else:
            session.tickers[req_id] = sub

    def _send_ticks(self, session: Session, req_id: int, sub: Subscription) -> None:
        if self.faults.connectivity_lost:
            return
        quote = self.exchange.quotes.get(sub.con_id)
        if quote is None:
            return

        def kind(tick_type: int) -> int:
            return m.DELAYED_OFFSET[tick_type] if sub.delayed else tick_type

        for price_type, size_type, price, size in (
            (m.BID, m.BID_SIZE, quote.bid, quote.bid_size),
            (m.ASK, m.ASK_SIZE, quote.ask, quote.ask_size),
            (m.LAST, m.LAST_SIZE, quote.last, quote.last_size),
        ):
            if price is None:
                continue
            session.send(m.tick_price(req_id, kind(price_type), price, size))
            session.send(m.tick_size(req_id, kind(size_type), size))
        if sub.frozen and self.market_closed_at is not None and quote.last is not None:
            # (TWS has a last trade's time only with a last trade)
            stamp = m.DELAYED_LAST_TIMESTAMP if sub.delayed else m.LAST_TIMESTAMP
            seconds = int(self.market_closed_at.timestamp())
            session.send(m.tick_string(req_id, stamp, str(seconds)))

    def _send_close(self, session: Session, req_id: int, sub: Subscription) -> None:
        """tickPrice of type 9 (CLOSE; 75 delayed) with size 0, as TWS sends it."""
        if self.faults.connectivity_lost:
            return
        close = self.exchange.closes.get(sub.con_id)
        if close is None:
            return
        tick = m.DELAYED_OFFSET[m.CLOSE] if sub.delayed else m.CLOSE
        session.send(m.tick_price(req_id, tick, close, Decimal(0)))

    def _cancel_mkt_data(self, session: Session, fields: list[str]) -> None:
        session.tickers.pop(int(fields[2]), None)

    def _place_order(self, session: Session, fields: list[str]) -> None:
        assert session.client_id is not None
        client_id = session.client_id
        order_id = int(fields[1])
        if self._ignored("place_order") or self._paced(session, "place_order", order_id):
            return
        specs = self._resolve(ContractQuery.from_fields(fields[2:14]))
        if len(specs) != 1:
            session.send(m.error(order_id, 200, NO_SECURITY))
            return
        spec = specs[0]
        ticket = parse_ticket(fields)
        existing = self.exchange.order(client_id, order_id)
        if existing is None and self._held_by_another_client(client_id, order_id):
            # TWS keeps order ids unique across clients (nextValidId is above every
            # one): another client's id is not this client's order to modify, nor a
            # new one. (A cancelOrder of it is 10147: not found for this client.)
            self.rejected.append((client_id, order_id, 103, DUPLICATE_ORDER_ID))
            session.send(m.error(order_id, 103, DUPLICATE_ORDER_ID))
            return
        if existing is not None and existing.working and self._modify_held(session, fields):
            return
        if existing is not None and not existing.working:
            session.send(
                m.error(
                    order_id,
                    104,
                    f"Can't modify a {existing.status.lower()} order.",
                )
            )
            return
        problem = self.exchange.validate(spec, ticket, order_id)
        if problem is None and self.faults.order_rejections:
            code, reason = self.faults.order_rejections.popleft()
            problem = ErrorNote(client_id, order_id, code, reason)
        if problem is not None:
            self.rejected.append((client_id, order_id, problem.code, problem.message))
            session.send(m.error(order_id, problem.code, problem.message))
            return
        if self.faults.order_warnings:
            code, text = self.faults.order_warnings.popleft()
            session.send(m.error(order_id, code, text))
        if existing is None:
            order = self.exchange.place(client_id, order_id, spec, ticket)
            notes: list[Note] = [OrderNote.of(order), *self.exchange.match(order, placing=True)]
            if self.faults.lost_order_answers:
                # TWS took the order; its answer never reaches the client.
                self.faults.lost_order_answers -= 1
                notes = notes[1:]
        else:
            self.exchange.modify(existing, ticket)
            notes = [OrderNote.of(existing), *self.exchange.match(existing)]
        self._deliver(notes)

    def _held_by_another_client(self, client_id: int, order_id: int) -> bool:
        return any(
            o.order_id == order_id and o.client_id != client_id
            for o in self.exchange.orders.values()
        )

    def _modify_held(self, session: Session, fields: list[str]) -> bool:
        """A modify armed to lose a race (`race_next_modify`: the order fills whole
        first, the modify then reads 104) or to be taken late (`delay_next_modify`:
        True, TWS takes it only then)."""
        assert session.client_id is not None
        existing = self.exchange.order(session.client_id, int(fields[1]))
        assert existing is not None
        if self.faults.modify_races:
            self.faults.modify_races -= 1
            at = self._fill_price(existing, None)
            self._deliver(self.exchange.execute(existing, existing.remaining, at, liquidity=1))
            return False
        if not self.faults.modify_delays:
            return False
        delay = self.faults.modify_delays.popleft()

        async def later() -> None:
            await asyncio.sleep(delay)
            self._place_order(session, fields)
            await self._drain()

        task = asyncio.ensure_future(later())
        self._later.add(task)
        task.add_done_callback(self._later.discard)
        return True

    def _cancel(
        self, order: Order, code: int = 202, reason: str = "Order Canceled - reason:"
    ) -> None:
        self.exchange.cancel(order)
        error = ErrorNote(order.client_id, order.order_id, code, reason)
        self._deliver([error, OrderNote.of(order)])

    def _cancel_order(self, session: Session, fields: list[str]) -> None:
        assert session.client_id is not None
        order_id = int(fields[2])
        if self._ignored("cancel_order") or self._paced(session, "cancel_order", order_id):
            return
        order = self.exchange.order(session.client_id, order_id)
        if order is not None and (order.client_id, order.order_id) in self._forgotten:
            order = None  # TWS restarted since it ended: its id means nothing to TWS now
        if order is not None:
            self._race(order)
        if order is None:
            text = f"OrderId {order_id} that needs to be cancelled is not found."
            session.send(m.error(order_id, 10147, text))
        elif not order.working and order.status != "Inactive":
            text = (
                f"OrderId {order_id} that needs to be cancelled cannot be cancelled, "
                f"state: {order.status}."
            )
            session.send(m.error(order_id, 10148, text))
        else:
            self._cancel(order)

    def _race(self, order: Order) -> None:
        """A cancel armed to lose its race (`race_next_cancel`): the order ends first."""
        if not order.working or not self.faults.cancel_races:
            return
        outcome = self.faults.cancel_races.popleft()
        if outcome == "fill":
            at = self._fill_price(order, None)
            self._deliver(self.exchange.execute(order, order.remaining, at, liquidity=1))
        else:
            self._cancel(order)

    def _req_global_cancel(self, session: Session, fields: list[str]) -> None:
        if self._ignored("global_cancel"):
            return
        working = self.exchange.working_orders()
        if working:
            self._race(working[0])
        for order in self.exchange.working_orders():
            self._cancel(order)
        for order in self.exchange.open_orders():
            if order.status == "Inactive":
                self._cancel(order)

    def _req_open_orders(self, session: Session, fields: list[str]) -> None:
        every_client = fields[0] == str(m.REQ_ALL_OPEN_ORDERS)
        kind = "all_open_orders" if every_client else "open_orders"
        if self._paced(session, kind, -1):
            return
        for order_id, ticket in self.faults.changes_before_listing:
            self._change_in_tws(self.order(order_id), ticket)
        self.faults.changes_before_listing.clear()
        for order in self.exchange.open_orders():
            if every_client or order.client_id == session.client_id:
                session.send(m.open_order(order))
                session.send(m.order_status(order))
        self._end(session, kind, m.open_order_end())
        warnings, self.faults.warnings_after_listing = self.faults.warnings_after_listing, []
        for order_id, code, text in warnings:
            if self.order(order_id).client_id == session.client_id:
                session.send(m.error(order_id, code, text))

    def _req_completed_orders(self, session: Session, fields: list[str]) -> None:
        if self._paced(session, "completed_orders", -1):
            return
        for order in self.exchange.orders.values():
            if order.status in ("Filled", "Cancelled") and self.exchange.today(order.completed_at):
                session.send(m.completed_order(order))
        self._end(session, "completed_orders", m.completed_orders_end())

    def _req_account_updates(self, session: Session, fields: list[str]) -> None:
        subscribe = fields[2] == "1"
        if subscribe and self._paced(session, "account_updates", -1):
            return
        session.account_updates = subscribe
        if not subscribe:
            return
        held = [c for c, p in self.exchange.positions.items() if p.quantity != 0]
        self._send_account(session, held)
        self._end(session, "account_updates", m.account_download_end(self.account))

    def _req_account_updates_multi(self, session: Session, fields: list[str]) -> None:
        req_id = int(fields[2])
        if self._paced(session, "account_updates_multi", req_id):
            return
        for tag, value, currency in self.exchange.account_values():
            session.send(m.account_update_multi(req_id, self.account, tag, value, currency))
        self._end(session, "account_updates_multi", m.account_update_multi_end(req_id))

    def _req_positions(self, session: Session, fields: list[str]) -> None:
        if self._paced(session, "positions", -1):
            return
        session.positions = True
        for con_id, pos in self.exchange.positions.items():
            if pos.quantity != 0:
                session.send(m.position(self.account, self.exchange.contracts[con_id], pos))
        self._end(session, "positions", m.position_end())

    def _req_market_data_type(self, session: Session, fields: list[str]) -> None:
        session.data_type = int(fields[2])

    def _req_executions(self, session: Session, fields: list[str]) -> None:
        req_id = int(fields[2])
        if self._ignored("executions") or self._paced(session, "executions", req_id):
            return
        client_id = int(fields[3] or 0)
        account, since, symbol, sec_type, _exchange, side = fields[4:10]
        not_before = parse_filter_time(since)
        copies = 1
        if self.faults.duplicate_replays:
            self.faults.duplicate_replays -= 1
            copies = 2
        for execution in self.exchange.executions:
            order = execution.order
            checks = [
                self.exchange.today(execution.time),
                not client_id or order.client_id == client_id,
                not account or account == self.account,
                not_before is None or execution.time >= not_before,
                not symbol or symbol == order.spec.symbol,
                not sec_type or sec_type == order.spec.sec_type,
                not side or side[:1] == order.ticket.action[:1],
            ]
            if not all(checks) or execution.exec_id in self._executions_unheard:
                continue
            for _ in range(copies):
                session.send(m.exec_details(req_id, execution, self.account))
                if execution.exec_id not in self._commission_unknown:
                    session.send(m.commission_report(execution))
        self._end(session, "executions", m.exec_details_end(req_id))

    def _req_contract_details(self, session: Session, fields: list[str]) -> None:
        req_id = int(fields[2])
        if self._paced(session, "contract_details", req_id):
            return
        specs = self._resolve(ContractQuery.from_fields(fields[3:15]))
        if not specs:
            session.send(m.error(req_id, 200, NO_SECURITY))
            return
        for spec in specs:
            session.send(m.contract_details(req_id, spec))
        self._end(session, "contract_details", m.contract_details_end(req_id))


def parse_filter_time(text: str) -> datetime | None:
    """ExecutionFilter.time: `yyyymmdd hh:mm:ss` with an optional zone (UTC assumed) or
    `yyyymmdd-hh:mm:ss` (UTC)."""
    if not text:
        return None
    stamp = text.replace("-", " ").split(" ")
    moment = datetime.strptime(stamp[0] + " " + stamp[1], "%Y%m%d %H:%M:%S")
    return moment.replace(tzinfo=UTC)
