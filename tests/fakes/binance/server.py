"""`FakeBinance`: a local spot server speaking Binance's wire protocols, in the test process.

REST under `/api/v3/...`, the WebSocket API at `/ws-api/v3` (user data through
`userDataStream.subscribe.signature`) and market streams at `/ws/<stream>` and
`/stream?streams=a/b`, all on 127.0.0.1 and a free port. Follows python-binance 1.0.37;
see README.md in this folder for the public API and every fault.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import socket
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import WSMsgType, web

from tests.fakes.binance import signing
from tests.fakes.binance.exchange import (
    INSUFFICIENT,
    UNKNOWN_ORDER,
    BinanceError,
    Commission,
    Exchange,
    MarketEvent,
    Order,
    Trade,
    mandatory,
)
from tests.fakes.binance.faults import Faults
from tests.fakes.binance.filters import SymbolSpec

# Binance's documented example key pair (rest-api.md, "SIGNED Endpoint Examples").
API_KEY = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A"
API_SECRET = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"

WEIGHT_LIMIT_1M = 6000
DEFAULT_SYMBOLS = (SymbolSpec("BTCUSDT", "BTC", "USDT"),)
DEFAULT_BALANCES: Mapping[str, Decimal] = {
    "BTC": Decimal("1"),
    "USDT": Decimal("10000"),
    "BNB": Decimal("10"),
}

Params = dict[str, str]
Handler = Callable[[web.Request, Params], Awaitable["Reply"]]


def integer(params: Params, name: str, default: int | None = None) -> int:
    raw = params.get(name)
    if raw is None and default is not None:
        return default
    try:
        return int(raw or "")
    except ValueError:
        raise mandatory(name) from None


@dataclass
class Reply:
    """A REST answer; `events` are user-data events sent after the reply has gone out."""

    body: Any
    status: int = 200
    events: list[dict[str, Any]] = field(default_factory=list)
    order: bool = False


@dataclass
class ApiSession:
    ws: web.WebSocketResponse
    request: web.Request
    subscriptions: set[int] = field(default_factory=set)
    next_subscription: int = 0
    # `freeze_user_data()`: nothing is sent on it nor read from it (pings unanswered).
    frozen: bool = False


@dataclass
class StreamSession:
    ws: web.WebSocketResponse
    request: web.Request
    streams: list[str]
    combined: bool
    # `mute_streams()`: the connection stays open (pings answered) and gets nothing.
    muted: bool = False


class FakeBinance:
    def __init__(
        self,
        symbols: Iterable[SymbolSpec] = DEFAULT_SYMBOLS,
        balances: Mapping[str, Decimal | str | int] = DEFAULT_BALANCES,
        commission: Commission | None = None,
        api_key: str = API_KEY,
        api_secret: str = API_SECRET,
        port: int = 0,
    ) -> None:
        self.api_key = api_key
        self.api_secret = api_secret
        self.faults = Faults()
        self.exchange = Exchange(symbols, balances, commission or Commission(), self.server_time)
        self.requests: list[tuple[str, str]] = []
        # WebSocket API requests by method, as received (answered or refused).
        self.ws_api_requests: list[str] = []
        self.sent_user_events: list[dict[str, Any]] = []
        self.api_sessions: list[ApiSession] = []
        self.stream_sessions: list[StreamSession] = []
        self.api_connects = 0
        self.stream_connects = 0
        self._weight_minute = 0
        self._used_weight = 0
        self._order_times: list[float] = []
        self._orders_total = 0
        self._held_reports: list[dict[str, Any]] = []
        self._closing = asyncio.Event()
        self._rest_back = asyncio.Event()
        self._sessions_changed = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._port = port
        # Seconds before a new subscriber's first mini ticker (Binance: within a second
        # of subscribing, the next of its once-a-second pushes; 0: at once).
        self.first_mini_ticker_s = 0.0

    # ------------------------------------------------------------ lifecycle

    async def __aenter__(self) -> FakeBinance:
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
        """Serve on 127.0.0.1:`port` (0: the port given to the constructor, by default a
        free one, what tests use). After `stop()` it can start again (on `port`, the
        same one by default): the venue restarted, with its orders and balances."""
        self._closing = asyncio.Event()
        app = web.Application()
        api = "/api/v3/"
        routes = [
            ("GET", "ping", 1, False, self._ping),
            ("GET", "time", 1, False, self._time),
            ("GET", "exchangeInfo", 20, False, self._exchange_info),
            ("GET", "depth", 5, False, self._depth),
            ("GET", "ticker/24hr", 2, False, self._ticker_24h),
            ("GET", "account", 20, True, self._account),
            ("POST", "order", 1, True, self._new_order),
            ("GET", "order", 4, True, self._query_order),
            ("DELETE", "order", 1, True, self._cancel_order),
            ("GET", "openOrders", 6, True, self._open_orders),
            ("DELETE", "openOrders", 1, True, self._cancel_open_orders),
            ("POST", "order/cancelReplace", 1, True, self._cancel_replace),
            ("PUT", "order/amend/keepPriority", 4, True, self._amend),
            ("POST", "order/test", 1, True, self._test_order),
            ("GET", "myTrades", 20, True, self._my_trades),
        ]
        for method, path, weight, signed, handler in routes:
            app.router.add_route(method, api + path, self._endpoint(weight, signed, handler))
        app.router.add_get("/ws-api/v3", self._ws_api)
        app.router.add_get("/ws/{stream}", self._ws_stream)
        app.router.add_get("/stream", self._combined_stream)
        # Bounded shutdown: a test that fails mid-way must not hang on open sockets.
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port or self._port))
        self._port = int(sock.getsockname()[1])
        await web.SockSite(self._runner, sock).start()

    async def stop(self, *, kill: bool = False) -> None:
        """Stop serving: websockets get a normal close frame, or with `kill` their TCP
        connections are cut (no close frame, as when the venue's process is killed);
        then nothing listens on the port until `start()`."""
        self._closing.set()
        sessions: list[ApiSession | StreamSession] = [*self.api_sessions, *self.stream_sessions]
        if kill:
            for session in sessions:
                transport = session.request.transport
                if transport is not None:
                    transport.abort()
        else:
            await asyncio.gather(*(session.ws.close() for session in sessions))
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def port(self) -> int:
        return self._port

    @property
    def api_url(self) -> str:
        """For `AsyncClient.API_URL` (the client appends `/v3/<path>`)."""
        return f"http://127.0.0.1:{self._port}/api"

    @property
    def ws_api_url(self) -> str:
        """For `AsyncClient.WS_API_URL`."""
        return f"ws://127.0.0.1:{self._port}/ws-api/v3"

    @property
    def stream_url(self) -> str:
        """For `BinanceSocketManager.STREAM_URL` (ends with a slash)."""
        return f"ws://127.0.0.1:{self._port}/"

    def server_time(self) -> int:
        return int(time.time() * 1000) + self.faults.clock_skew_ms

    # ------------------------------------------------------- observation

    @property
    def used_weight(self) -> int:
        return self._used_weight

    @property
    def balances(self) -> dict[str, tuple[Decimal, Decimal]]:
        """asset -> (free, locked)."""
        return {a: (b.free, b.locked) for a, b in self.exchange.balances.items()}

    @property
    def orders(self) -> dict[int, Order]:
        return self.exchange.orders

    @property
    def trades(self) -> list[Trade]:
        return self.exchange.trades

    def order_by_client_id(self, client_order_id: str) -> Order:
        for order in self.exchange.orders.values():
            if order.client_order_id == client_order_id:
                return order
        raise KeyError(client_order_id)

    def user_subscriptions(self) -> int:
        return sum(len(s.subscriptions) for s in self.api_sessions)

    async def wait_for_user_subscriptions(self, count: int = 1, timeout: float = 5.0) -> None:
        await self._wait(lambda: self.user_subscriptions() >= count, timeout, "user subscriptions")

    async def wait_for_api_connects(self, total: int, timeout: float = 5.0) -> None:
        """Until `total` WebSocket API connections have been accepted since the start
        (a reconnect after `drop_connections` counts one more)."""
        await self._wait(lambda: self.api_connects >= total, timeout, "WebSocket API connect")

    async def wait_for_stream_connects(self, total: int, timeout: float = 5.0) -> None:
        await self._wait(lambda: self.stream_connects >= total, timeout, "stream connect")

    async def wait_for_stream(self, stream: str, timeout: float = 5.0) -> None:
        await self._wait(
            lambda: any(stream in s.streams for s in self.stream_sessions), timeout, stream
        )

    async def _wait(self, ready: Callable[[], bool], timeout: float, what: str) -> None:
        try:
            async with asyncio.timeout(timeout):
                while not ready():
                    self._sessions_changed.clear()
                    await self._sessions_changed.wait()
        except TimeoutError:
            raise AssertionError(f"fake Binance: no {what} after {timeout} s") from None

    # ----------------------------------------------------- market controls

    async def set_book(
        self,
        symbol: str,
        bids: Iterable[tuple[Decimal | str, Decimal | str]],
        asks: Iterable[tuple[Decimal | str, Decimal | str]],
    ) -> None:
        """Replace the book (price, quantity levels). Resting orders it crosses fill."""
        self.exchange.set_book(
            symbol,
            [(Decimal(p), Decimal(q)) for p, q in bids],
            [(Decimal(p), Decimal(q)) for p, q in asks],
        )
        await self._flush()

    async def set_quote(
        self,
        symbol: str,
        bid: Decimal | str,
        ask: Decimal | str,
        bid_qty: Decimal | str = "10",
        ask_qty: Decimal | str = "10",
    ) -> None:
        await self.set_book(symbol, [(bid, bid_qty)], [(ask, ask_qty)])

    async def set_24h_open(self, symbol: str, price: Decimal | str) -> None:
        """The open of the 24 h rolling window (the price 24 h ago): the 24hr ticker's
        `openPrice` and the `o` of `<symbol>@miniTicker`, which goes out to its
        subscribers."""
        self.exchange.set_24h_open(symbol, Decimal(price))
        await self._flush()

    async def trade(
        self,
        symbol: str,
        price: Decimal | str,
        qty: Decimal | str,
        *,
        buyer_is_maker: bool = False,
    ) -> None:
        """Print a market trade; resting orders at or through its price fill up to `qty`."""
        self.exchange.trade(symbol, Decimal(price), Decimal(qty), buyer_is_maker=buyer_is_maker)
        await self._flush()

    async def fill(
        self, order_id: int, qty: Decimal | str | None = None, price: Decimal | str | None = None
    ) -> Trade:
        """Fill (part of) a working order: a partial fill when `qty` is below what is left."""
        trade = self.exchange.fill(
            order_id,
            None if qty is None else Decimal(qty),
            None if price is None else Decimal(price),
        )
        await self._flush()
        return trade

    async def deposit(self, asset: str, amount: Decimal | str) -> None:
        """A deposit (negative: a withdrawal) -> `balanceUpdate` + `outboundAccountPosition`."""
        self.exchange.deposit(asset, Decimal(amount))
        await self._flush()

    async def _flush(self) -> None:
        await self._deliver_market(self.exchange.take_market_events())
        await self._deliver_user(self.exchange.take_user_events())

    # --------------------------------------------------------------- faults

    def set_clock_skew(self, ms: int) -> None:
        """Server time runs `ms` ahead (negative: behind) of the local clock."""
        self.faults.clock_skew_ms = ms

    def throttle(self, requests: int = 1, retry_after: float = 1.0, ban: float = 2.0) -> None:
        """The next `requests` REST calls get 429 + Retry-After; calling again before
        `retry_after` seconds have passed gets 418 (IP ban) for `ban` seconds."""
        self.faults.throttled = requests
        self.faults.retry_after_s = retry_after
        self.faults.ban_s = ban

    def ban(self, seconds: float) -> None:
        """This IP is banned from now for `seconds` (another program on it ignored a
        429): every REST request answers HTTP 418 -1003 with `Retry-After` (the seconds,
        rounded up) and "IP banned until <ms>", acting on nothing."""
        self.faults.ban_s = seconds
        self.faults.banned_until = time.monotonic() + seconds

    def reject_next_order(self, code: int = -2010, msg: str = INSUFFICIENT) -> None:
        self.faults.order_rejections.append(BinanceError(code, msg))

    def reject_next_amend(
        self, code: int = -2038, msg: str = "This action is disabled on this account."
    ) -> None:
        """The next order amend answers that error and changes nothing (the FAQ: "the
        order amend request is rejected and the order remains unchanged")."""
        self.faults.amend_rejections.append(BinanceError(code, msg))

    def race_next_amend(self, qty: Decimal | str) -> None:
        """The next order amend finds `qty` more of its order filled just before it (the
        fill's events go out first, as a maker at its price), then is acted on."""
        self.faults.amend_races.append(Decimal(qty))

    def fail_next_order_filter(self, filter_type: str = "LOT_SIZE") -> None:
        self.faults.order_rejections.append(BinanceError(-1013, f"Filter failure: {filter_type}"))

    def race_next_cancel(self) -> None:
        """The next cancel finds its order filled just before it: the fill events go out,
        then the cancel answers -2011 "Unknown order sent."."""
        self.faults.racing_cancels += 1

    def refuse_next_cancel(self) -> None:
        """The next cancel answers -2011 "Unknown order sent." and changes nothing: the
        order stays open (Binance refusing a cancel it should take, as seen in outages)."""
        self.faults.refused_cancels += 1

    def fail_next_cancels(self, count: int, *, after_processing: bool = False) -> None:
        """The next `count` cancels (0: none from now) answer HTTP 500 -1001 "Internal
        error", as Binance does when overloaded: having changed nothing, or, with
        `after_processing`, having cancelled the order (its events go out)."""
        self.faults.failed_cancels = count
        self.faults.failed_cancels_processed = after_processing

    def duplicate_next_reports(self, count: int = 1) -> None:
        self.faults.duplicate_reports += count

    def reorder_next_reports(self, count: int = 2) -> None:
        """Hold the next `count` executionReports and send them in reverse order."""
        self.faults.reorder_reports = count

    def report_before_reply(self, delay: float = 0.05) -> None:
        """The next new order's events go out, then its REST reply `delay` s later."""
        self.faults.report_before_reply = delay

    def swallow_next_order_reply(self) -> None:
        """Accept the next new order (it lives, its events go out) but never answer the
        REST call: the client times out not knowing."""
        self.faults.swallowed_replies += 1

    def report_unknown_status(
        self,
        status: str = "EXPIRED_IN_SOMETHING",
        *,
        replies: int = 0,
        reports: int = 0,
        cancels: int = 0,
        replaces: int = 0,
        replace_cancels: int = 0,
        queries: int = 0,
    ) -> None:
        """The next `replies` new-order replies (RESULT/FULL), `cancels` cancel replies
        (a DELETE order's, or each order's in a DELETE openOrders answer),
        `replaces` cancelReplace replies (their `newOrderResponse`, RESULT/FULL),
        `replace_cancels` cancelReplace answers (their `cancelResponse`, in a success or
        in a -2021's `data`), `queries` order queries' answers (GET order) and
        `reports` executionReports say `status` (`status` / `X`) instead of the order's:
        a status value Binance added to its enum, as it did EXPIRED_IN_MATCH. The order
        itself is as the exchange holds it (past `queries`, a query reads its real
        status)."""
        self.faults.unknown_status = status
        self.faults.unknown_status_replies = replies
        self.faults.unknown_status_reports = reports
        self.faults.unknown_status_cancels = cancels
        self.faults.unknown_status_replaces = replaces
        self.faults.unknown_status_replace_cancels = replace_cancels
        self.faults.unknown_status_queries = queries

    def lose_next_account_event(self, count: int = 1) -> None:
        """The next `count` `outboundAccountPosition` events never reach the user stream
        (Binance sends it after an order's fills: late, the adapter's status waits for
        it, then goes without it)."""
        self.exchange.account_events_lost += count

    def reset_next_requests(
        self, count: int = 1, *, after_processing: bool = True, path: str | None = None
    ) -> None:
        """The next `count` REST requests get no answer: the connection is cut (TCP abort).
        `after_processing`: the server acted first (an order lives, a cancel happened; its
        events go out); otherwise nothing happened. `path`: only requests to it (a
        client's pings and reconnects in between do not take the fault)."""
        self.faults.reset_requests = count
        self.faults.reset_after_processing = after_processing
        self.faults.reset_path = path

    def fail_next_requests(
        self,
        count: int = 1,
        *,
        status: int = 503,
        body: str | None = None,
        after_processing: bool = True,
        path: str | None = None,
        method: str | None = None,
    ) -> None:
        """The next `count` REST requests (to `path` only, when given: `/api/v3/myTrades`;
        of `method` only, when given: `GET`, a query of `/api/v3/order` and not its
        cancel) answer HTTP `status`: Binance's -1007 ("execution status unknown") JSON,
        or `body` as an HTML page (a proxy's error page). `after_processing`: the server
        acted first (an order lives, its events go out)."""
        self.faults.failed_requests = count
        self.faults.fail_status = status
        self.faults.fail_body = body
        self.faults.fail_after_processing = after_processing
        self.faults.fail_path = path
        self.faults.fail_method = method

    def fail_symbol(self, path: str, symbol: str, *, status: int | None = 503) -> None:
        """Requests to `path` (`/api/v3/myTrades`) for `symbol` answer HTTP `status` with
        Binance's -1007 JSON ("execution status unknown"), before the server acts on
        them, until called again with `status` None. The other symbols' answer."""
        if status is None:
            self.faults.failing_symbols.pop((path, symbol), None)
        else:
            self.faults.failing_symbols[(path, symbol)] = status

    def refuse_symbol(
        self, method: str, path: str, symbol: str, error: BinanceError | None
    ) -> None:
        """Requests of `method` `path` (`DELETE`, `/api/v3/openOrders`) for `symbol`
        answer `error` (Binance's JSON with its HTTP status; a 429's `Retry-After` is
        `faults.retry_after_s`, and no ban follows it) before the server acts on them,
        until called again with None. The other symbols' are served as ever."""
        key = (method, path, symbol)
        if error is None:
            self.faults.symbol_errors.pop(key, None)
        else:
            self.faults.symbol_errors[key] = error

    def delay_next_replies(self, seconds: float, count: int = 1) -> None:
        """The next `count` REST requests are acted on at once but answered `seconds` late
        (a slow link): a client with a shorter timeout gives up not knowing."""
        self.faults.delayed_replies = count
        self.faults.reply_delay_s = seconds

    def slow_replies(self, method: str, path: str, seconds: float | None) -> None:
        """Requests to `method` `path` (`GET`, `/api/v3/openOrders`) are acted on at once
        and answered `seconds` late, until called again with None."""
        if seconds is None:
            self.faults.slow_paths.pop((method, path), None)
        else:
            self.faults.slow_paths[(method, path)] = seconds

    def stop_answering_rest(self, *, hang: bool = False) -> None:
        """From now until `answer_rest()` no REST request is acted on or answered (REST
        alone is out: a dead proxy or load balancer, a network path to the REST host
        lost). Each request's connection is cut at once (the client sees it broken), or
        with `hang` held open with no answer until the client gives up (its timeout).
        The WebSocket API (user data) and the market streams go on as before."""
        self.faults.rest_outage = "hang" if hang else "cut"
        self._rest_back.clear()

    def answer_rest(self) -> None:
        """REST answers again (the end of `stop_answering_rest`); requests still held
        by a `hang` are cut, not acted on."""
        self.faults.rest_outage = None
        self._rest_back.set()

    def set_background_weight(self, weight: int) -> None:
        """Other clients on the same IP use `weight` every minute: it is added to
        `X-MBX-USED-WEIGHT-1M` (nothing is refused for it)."""
        self.faults.background_weight = weight

    def report_wrong_time(self, ms: int) -> None:
        """`/time` answers `ms` off the clock the timestamp check uses (a bad proxy): a
        client that re-syncs from it still gets -1021."""
        self.faults.time_error_ms = ms

    def drop_next_depth_update(self, symbol: str) -> None:
        """Skip one diff-depth event (update ids go on): a gap the client can detect."""
        self.faults.dropped_depth_updates[symbol] = (
            self.faults.dropped_depth_updates.get(symbol, 0) + 1
        )

    def mute_streams(self) -> int:
        """Every market-stream connection open now gets nothing more while its socket
        stays open and its pings are answered: subscriptions dead at the venue while the
        connection looks alive. The market goes on: a connection made later is served
        as ever. Returns how many connections were muted."""
        muted = 0
        for session in self.stream_sessions:
            if not session.muted:
                session.muted = True
                muted += 1
        return muted

    def freeze_user_data(self) -> int:
        """Every WebSocket API connection open now goes silent both ways while its socket
        stays open: nothing more is sent on it (no user-data event, no answer) and
        nothing sent to it is read, its pings unanswered: the path to Binance lost
        without a close or a reset (a NAT or proxy that dropped the flow). Binance
        itself goes on, and a connection made later is served as ever. Returns how many
        connections were frozen."""
        frozen = 0
        for session in self.api_sessions:
            if session.frozen:
                continue
            session.frozen = True
            transport = session.request.transport
            if transport is not None:
                transport.pause_reading()
            frozen += 1
        return frozen

    async def send_raw_stream_frame(self, text: str) -> None:
        """Send `text` as it is on every market-stream connection: a garbled or odd
        payload (not JSON, a float price, an unknown stream) for a client to survive."""
        for session in list(self.stream_sessions):
            if not session.ws.closed and not session.muted:
                with contextlib.suppress(ConnectionError, RuntimeError):
                    await session.ws.send_str(text)

    async def drop_connections(self, *, user_data: bool = True, streams: bool = True) -> None:
        """Cut websockets without a close frame, as a network drop does."""
        sessions: list[ApiSession | StreamSession] = []
        if user_data:
            sessions += self.api_sessions
        if streams:
            sessions += self.stream_sessions
        for session in sessions:
            transport = session.request.transport
            if transport is not None:
                transport.abort()

    def refuse_connections(
        self, count: int = 5, *, user_data: bool = True, streams: bool = True
    ) -> None:
        """The next `count` websocket connects (of each kind chosen) get HTTP 503 instead
        of an upgrade. python-binance gives up after 5 failed reconnects."""
        if user_data:
            self.faults.refused_api_connects = count
        if streams:
            self.faults.refused_stream_connects = count

    async def send_server_shutdown(self, close_after: float | None = 0.05) -> None:
        """`{"event": {"e": "serverShutdown"}}` on every WebSocket API connection, then
        (unless `close_after` is None) a normal close after that many seconds."""
        message = json.dumps({"event": {"e": "serverShutdown", "E": self.server_time()}})
        sessions = list(self.api_sessions)
        for session in sessions:
            await session.ws.send_str(message)
        if close_after is not None:
            await asyncio.sleep(close_after)
            for session in sessions:
                await session.ws.close()

    async def terminate_event_streams(self) -> None:
        """`eventStreamTerminated` on every subscription, which then gets nothing more."""
        for session in self.api_sessions:
            for sub in sorted(session.subscriptions):
                event = {"e": "eventStreamTerminated", "E": self.server_time()}
                await session.ws.send_str(json.dumps({"subscriptionId": sub, "event": event}))
            session.subscriptions.clear()

    async def send_user_event(self, event: Mapping[str, Any]) -> None:
        """`event` as it is, on every user-data subscription (`{"subscriptionId", "event"}`),
        through the delivery faults as the exchange's own events go: an event type
        Binance added (`{"e": "weirdEvent", "E": ...}`), or a report Binance got wrong
        (an executionReport of an order this account never had, a trade id out of range).
        The exchange's state is not touched."""
        await self._deliver_user([dict(event)])

    def flush_held_reports(self) -> list[dict[str, Any]]:
        held, self._held_reports = self._held_reports, []
        return held

    def lose_held_reports(self, lost: Callable[[Mapping[str, Any]], bool]) -> int:
        """Of the executionReports `reorder_next_reports` holds, the ones `lost` picks
        never reach the user stream (a report Binance did not deliver); the rest stay
        held. Returns how many were lost."""
        kept = [event for event in self._held_reports if not lost(event)]
        dropped = len(self._held_reports) - len(kept)
        self._held_reports = kept
        return dropped

    async def release_held_reports(self) -> int:
        """Send the executionReports `reorder_next_reports` holds, in the order they
        were made, and hold no more (a stream that was only late); returns how many."""
        held, self._held_reports = self._held_reports, []
        self.faults.reorder_reports = 0
        await self._deliver_user(held)
        return len(held)

    # ----------------------------------------------------------- delivery

    async def _deliver_user(self, events: list[dict[str, Any]]) -> None:
        out: list[dict[str, Any]] = []
        for event in events:
            if event.get("e") != "executionReport":
                out.append(event)
                continue
            if self.faults.unknown_status_reports > 0:
                self.faults.unknown_status_reports -= 1
                event = {**event, "X": self.faults.unknown_status}
            if self.faults.reorder_reports > 0:
                self._held_reports.append(event)
                if len(self._held_reports) >= self.faults.reorder_reports:
                    out.extend(reversed(self._held_reports))
                    self._held_reports = []
                    self.faults.reorder_reports = 0
                continue
            out.append(event)
            if self.faults.duplicate_reports > 0:
                self.faults.duplicate_reports -= 1
                out.append(dict(event))
        for event in out:
            self.sent_user_events.append(event)
            for session in list(self.api_sessions):
                if session.frozen:
                    continue
                for sub in sorted(session.subscriptions):
                    await self._send(session.ws, {"subscriptionId": sub, "event": event})

    async def _deliver_market(self, events: list[MarketEvent]) -> None:
        for event in events:
            symbol = event.symbol.lower()
            if event.kind == "depthUpdate":
                dropped = self.faults.dropped_depth_updates.get(event.symbol, 0)
                if dropped:
                    self.faults.dropped_depth_updates[event.symbol] = dropped - 1
                    continue
            for session in list(self.stream_sessions):
                if session.muted:
                    continue
                for stream in session.streams:
                    payload = self._stream_payload(stream, symbol, event)
                    if payload is None:
                        continue
                    message = {"stream": stream, "data": payload} if session.combined else payload
                    await self._send(session.ws, message)

    def _stream_payload(
        self, stream: str, symbol: str, event: MarketEvent
    ) -> dict[str, Any] | None:
        parts = stream.split("@")
        if len(parts) < 2 or parts[0] != symbol:
            return None
        kind = parts[1]
        if kind == event.kind or (kind == "depth" and event.kind == "depthUpdate"):
            return event.payload
        if event.kind == "depthUpdate" and kind in ("depth5", "depth10", "depth20"):
            return self.exchange.depth(event.symbol, int(kind[len("depth") :]))
        return None

    @staticmethod
    async def _send(ws: web.WebSocketResponse, message: dict[str, Any]) -> None:
        if ws.closed:
            return
        with contextlib.suppress(ConnectionError, RuntimeError):
            await ws.send_str(json.dumps(message))

    # ---------------------------------------------------------- REST plumbing

    def _endpoint(
        self, weight: int, signed: bool, handler: Handler
    ) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def handle(request: web.Request) -> web.StreamResponse:
            self.requests.append((request.method, request.path))
            if self.faults.rest_outage is not None:
                return await self._unanswered(request)
            if (
                self.faults.reset_requests > 0
                and not self.faults.reset_after_processing
                and self.faults.reset_path in (None, request.path)
            ):
                self.faults.reset_requests -= 1
                return self._reset(request)
            if (
                self.faults.failed_requests > 0
                and not self.faults.fail_after_processing
                and self.faults.fail_path in (None, request.path)
                and self.faults.fail_method in (None, request.method)
            ):
                self.faults.failed_requests -= 1
                return self._failure()
            try:
                self._admit()
                params, raw = await self._params(request)
                self._count_weight(self._weight(request.path, params, weight))
                failing = self.faults.failing_symbols.get((request.path, params.get("symbol", "")))
                if failing is not None:
                    return self._failure(failing)
                refused = self.faults.symbol_errors.get(
                    (request.method, request.path, params.get("symbol", ""))
                )
                if refused is not None:
                    raise refused
                if signed:
                    self._authenticate(request, params, raw)
                reply = await handler(request, params)
            except BinanceError as error:
                if self._reset_after_processing(request.path):
                    return self._reset(request)
                headers = self._headers()
                if error.status in (418, 429):
                    headers["Retry-After"] = str(
                        math.ceil(
                            self._ban_left() if error.status == 418 else self.faults.retry_after_s
                        )
                    )
                return web.json_response(error.body(), status=error.status, headers=headers)
            if self._reset_after_processing(request.path):
                await self._deliver_user(reply.events)
                return self._reset(request)
            if (
                self.faults.failed_requests > 0
                and self.faults.fail_after_processing
                and self.faults.fail_path in (None, request.path)
                and self.faults.fail_method in (None, request.method)
            ):
                self.faults.failed_requests -= 1
                await self._deliver_user(reply.events)
                return self._failure()
            if self.faults.delayed_replies > 0:
                self.faults.delayed_replies -= 1
                await asyncio.sleep(self.faults.reply_delay_s)
            slow = self.faults.slow_paths.get((request.method, request.path))
            if slow:
                await asyncio.sleep(slow)
            headers = self._headers()
            if reply.order:
                now = time.monotonic()
                self._order_times = [t for t in self._order_times if now - t < 10] + [now]
                self._orders_total += 1
                headers["X-MBX-ORDER-COUNT-10S"] = str(len(self._order_times))
                headers["X-MBX-ORDER-COUNT-1D"] = str(self._orders_total)
            response = web.json_response(reply.body, status=reply.status, headers=headers)
            if not reply.events:
                return response
            try:
                await response.prepare(request)
                await response.write_eof()
            finally:  # the order happened even if the client has gone
                await self._deliver_user(reply.events)
            return response

        return handle

    def _reset_after_processing(self, path: str) -> bool:
        f = self.faults
        if f.reset_requests > 0 and f.reset_after_processing and f.reset_path in (None, path):
            self.faults.reset_requests -= 1
            return True
        return False

    def _failure(self, status: int | None = None) -> web.StreamResponse:
        """Binance's -1007 JSON with HTTP `status` (None: the armed failure's, which may
        be an HTML page)."""
        f = self.faults
        if status is None and f.fail_body is not None:
            return web.Response(status=f.fail_status, text=f.fail_body, content_type="text/html")
        status = f.fail_status if status is None else status
        error = BinanceError(
            -1007,
            "Timeout waiting for response from backend server. Send status unknown; "
            "execution status unknown.",
            status,
        )
        return web.json_response(error.body(), status=status, headers=self._headers())

    async def _unanswered(self, request: web.Request) -> web.StreamResponse:
        """A REST request during `stop_answering_rest`: never acted on; cut now, or
        (`hang`) once REST answers again or the server stops."""
        if self.faults.rest_outage == "hang":
            waits = {
                asyncio.ensure_future(self._rest_back.wait()),
                asyncio.ensure_future(self._closing.wait()),
            }
            try:
                await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for wait in waits:
                    wait.cancel()
        return self._reset(request)

    @staticmethod
    def _reset(request: web.Request) -> web.StreamResponse:
        """Cut the connection without an answer (the client sees it closed/reset)."""
        if request.transport is not None:
            request.transport.abort()
        return web.Response(status=500)

    def _admit(self) -> None:
        f = self.faults
        now = time.monotonic()
        if now < f.banned_until:
            raise BinanceError(-1003, self._ban_message(), status=418)
        if now < f.retry_not_before:
            f.banned_until = now + f.ban_s
            raise BinanceError(-1003, self._ban_message(), status=418)
        if f.throttled > 0:
            f.throttled -= 1
            f.retry_not_before = now + f.retry_after_s
            raise BinanceError(
                -1003,
                f"Too much request weight used; current limit is {WEIGHT_LIMIT_1M} request "
                "weight per 1 MINUTE. Please use WebSocket Streams for live updates to avoid "
                "polling the API.",
                status=429,
            )

    def _ban_left(self) -> float:
        """Seconds left of the running ban (`ban_s` when none runs: a 418 armed alone)."""
        left = self.faults.banned_until - time.monotonic()
        return left if left > 0 else self.faults.ban_s

    def _ban_message(self) -> str:
        until = self.server_time() + int(self._ban_left() * 1000)
        return (
            f"Way too much request weight used; IP banned until {until}. Please use WebSocket "
            "Streams for live updates to avoid bans."
        )

    @staticmethod
    def _weight(path: str, params: Params, weight: int) -> int:
        if path.endswith("/openOrders") and "symbol" not in params:
            return 80
        if path.endswith("/ticker/24hr") and "symbol" not in params:
            # Documented: 2 for 1-20 symbols, 40 for 21-100, 80 beyond or for all.
            try:
                count = len(json.loads(params["symbols"]))
            except (KeyError, ValueError, TypeError):
                return 80
            return 2 if count <= 20 else 40 if count <= 100 else 80
        if path.endswith("/myTrades") and "orderId" in params:
            return 5
        return weight

    def _count_weight(self, weight: int) -> None:
        minute = self.server_time() // 60_000
        if minute != self._weight_minute:
            self._weight_minute, self._used_weight = minute, 0
        self._used_weight += weight

    def _headers(self) -> dict[str, str]:
        weight = self._used_weight + self.faults.background_weight
        return {"X-MBX-USED-WEIGHT-1M": str(weight)}

    @staticmethod
    async def _params(request: web.Request) -> tuple[Params, tuple[str, str]]:
        raw_query = request.rel_url.raw_query_string
        body = await request.text() if request.can_read_body else ""
        params: Params = {}
        for raw in (raw_query, body):
            params.update(parse_qsl(raw, keep_blank_values=True))
        return params, (raw_query, body)

    def _authenticate(self, request: web.Request, params: Params, raw: tuple[str, str]) -> None:
        key = request.headers.get("X-MBX-APIKEY")
        if not key:
            raise BinanceError(-2014, "API-key format invalid.", status=401)
        if key != self.api_key:
            raise BinanceError(-2015, "Invalid API-key, IP, or permissions for action.", 401)
        payload, signature = signing.rest_payload(*raw)
        self._check_signed(params, payload, signature)

    def _check_signed(self, params: Mapping[str, Any], payload: str, signature: Any) -> None:
        if not signature:
            raise mandatory("signature")
        if "timestamp" not in params:
            raise mandatory("timestamp")
        try:
            timestamp = int(params["timestamp"])
            recv_window = float(params.get("recvWindow", 5000))
        except ValueError:
            raise mandatory("timestamp") from None
        if recv_window > 60000:
            raise BinanceError(-1131, "recvWindow must be less than 60000")
        if not signing.matches(self.api_secret, payload, str(signature)):
            raise BinanceError(-1022, "Signature for this request is not valid.")
        now = self.server_time()
        if timestamp >= now + 1000:
            raise BinanceError(
                -1021, "Timestamp for this request was 1000ms ahead of the server's time."
            )
        if now - timestamp > recv_window:
            raise BinanceError(-1021, "Timestamp for this request is outside of the recvWindow.")

    # ------------------------------------------------------------ REST routes

    async def _ping(self, request: web.Request, params: Params) -> Reply:
        return Reply({})

    async def _time(self, request: web.Request, params: Params) -> Reply:
        return Reply({"serverTime": self.server_time() + self.faults.time_error_ms})

    async def _exchange_info(self, request: web.Request, params: Params) -> Reply:
        specs = list(self.exchange.specs.values())
        wanted: list[str] = []
        if "symbol" in params:
            wanted = [params["symbol"]]
        elif "symbols" in params:
            try:
                wanted = [str(name) for name in json.loads(params["symbols"])]
            except (ValueError, TypeError):
                raise BinanceError(
                    -1100, "Illegal characters found in parameter 'symbols'."
                ) from None
        if wanted:
            specs = [self.exchange.spec(name) for name in wanted]
        return Reply(
            {
                "timezone": "UTC",
                "serverTime": self.server_time(),
                "rateLimits": [
                    {
                        "rateLimitType": "REQUEST_WEIGHT",
                        "interval": "MINUTE",
                        "intervalNum": 1,
                        "limit": WEIGHT_LIMIT_1M,
                    },
                    {
                        "rateLimitType": "ORDERS",
                        "interval": "SECOND",
                        "intervalNum": 10,
                        "limit": 100,
                    },
                    {
                        "rateLimitType": "ORDERS",
                        "interval": "DAY",
                        "intervalNum": 1,
                        "limit": 200000,
                    },
                ],
                "exchangeFilters": [],
                "symbols": [spec.exchange_info() for spec in specs],
            }
        )

    async def _ticker_24h(self, request: web.Request, params: Params) -> Reply:
        kind = params.get("type", "FULL")
        if kind not in ("FULL", "MINI"):
            raise BinanceError(-1100, "Illegal characters found in parameter 'type'.")
        if "symbol" in params and "symbols" in params:
            raise BinanceError(-1128, "Combination of optional parameters invalid.")
        mini = kind == "MINI"
        if "symbol" in params:
            return Reply(self.exchange.ticker_24h(params["symbol"], mini=mini))
        if "symbols" in params:
            try:
                names = [str(name) for name in json.loads(params["symbols"])]
            except (ValueError, TypeError):
                raise BinanceError(
                    -1100, "Illegal characters found in parameter 'symbols'."
                ) from None
        else:
            names = list(self.exchange.specs)
        return Reply([self.exchange.ticker_24h(name, mini=mini) for name in names])

    async def _depth(self, request: web.Request, params: Params) -> Reply:
        return Reply(self.exchange.depth(params.get("symbol", ""), integer(params, "limit", 100)))

    async def _account(self, request: web.Request, params: Params) -> Reply:
        omit = params.get("omitZeroBalances", "false").lower() == "true"
        return Reply(self.exchange.account_wire(omit_zero=omit))

    async def _new_order(self, request: web.Request, params: Params) -> Reply:
        if self.faults.order_rejections:
            self.exchange.validate(params)
            raise self.faults.order_rejections.popleft()
        order, fills = self.exchange.place(params)
        body = self._placement_body(order, fills, params.get("newOrderRespType"))
        if self.faults.unknown_status_replies > 0 and "status" in body:
            self.faults.unknown_status_replies -= 1
            body["status"] = self.faults.unknown_status
        events = self.exchange.take_user_events()
        await self._deliver_market(self.exchange.take_market_events())
        if self.faults.swallowed_replies > 0:
            self.faults.swallowed_replies -= 1
            await self._deliver_user(events)
            await self._closing.wait()
            raise BinanceError(-1007, "Timeout waiting for response from backend server.", 503)
        if self.faults.report_before_reply is not None:
            delay, self.faults.report_before_reply = self.faults.report_before_reply, None
            await self._deliver_user(events)
            await asyncio.sleep(delay)
            return Reply(body, order=True)
        return Reply(body, events=events, order=True)

    def _placement_body(
        self, order: Order, fills: list[Trade], resp_type: str | None
    ) -> dict[str, Any]:
        if resp_type is None:
            resp_type = "FULL" if order.type in ("LIMIT", "MARKET") else "ACK"
        if resp_type == "ACK":
            return {
                "symbol": order.symbol,
                "orderId": order.order_id,
                "orderListId": -1,
                "clientOrderId": order.client_order_id,
                "transactTime": order.time,
            }
        body = self.exchange.order_wire(order)
        body = {
            **{k: body[k] for k in ("symbol", "orderId", "orderListId", "clientOrderId")},
            "transactTime": order.time,
            **{k: v for k, v in body.items() if k not in ("symbol", "orderId", "clientOrderId")},
        }
        if resp_type == "FULL":
            body["fills"] = [
                {
                    "price": t.wire()["price"],
                    "qty": t.wire()["qty"],
                    "commission": t.wire()["commission"],
                    "commissionAsset": t.commission_asset,
                    "tradeId": t.trade_id,
                }
                for t in fills
            ]
        return body

    async def _test_order(self, request: web.Request, params: Params) -> Reply:
        self.exchange.validate(params)
        return Reply({})

    def _find(self, params: Params) -> Order:
        spec = self.exchange.spec(params.get("symbol"))
        order = self.exchange.find(
            spec.symbol, params.get("orderId"), params.get("origClientOrderId")
        )
        if order is None:
            raise BinanceError(-2013, "Order does not exist.")
        return order

    async def _query_order(self, request: web.Request, params: Params) -> Reply:
        body = self.exchange.order_wire(self._find(params), query=True)
        if self.faults.unknown_status_queries > 0:
            self.faults.unknown_status_queries -= 1
            body["status"] = self.faults.unknown_status
        return Reply(body)

    async def _cancel_order(self, request: web.Request, params: Params) -> Reply:
        if self.faults.refused_cancels > 0:
            self.faults.refused_cancels -= 1
            raise BinanceError(-2011, UNKNOWN_ORDER)
        if self.faults.failed_cancels > 0:
            self.faults.failed_cancels -= 1
            if self.faults.failed_cancels_processed:
                spec = self.exchange.spec(params.get("symbol"))
                order = self.exchange.find(
                    spec.symbol, params.get("orderId"), params.get("origClientOrderId")
                )
                if order is not None and order.is_open:
                    self.exchange.cancel(spec.symbol, str(order.order_id), None, None)
                    await self._flush()
            raise BinanceError(
                -1001, "Internal error; unable to process your request. Please try again.", 500
            )
        if self.faults.racing_cancels > 0:
            self.faults.racing_cancels -= 1
            spec = self.exchange.spec(params.get("symbol"))
            order = self.exchange.find(
                spec.symbol, params.get("orderId"), params.get("origClientOrderId")
            )
            if order is not None and order.is_open:
                self.exchange.fill(order.order_id, price=order.price or None)
                await self._flush()
        order = self.exchange.cancel(
            params.get("symbol"),
            params.get("orderId"),
            params.get("origClientOrderId"),
            params.get("newClientOrderId"),
        )
        body = self._cancel_body(order)
        if self.faults.unknown_status_cancels > 0:
            self.faults.unknown_status_cancels -= 1
            body["status"] = self.faults.unknown_status
        return Reply(body, events=self.exchange.take_user_events())

    def _cancel_body(self, order: Order) -> dict[str, Any]:
        body = self.exchange.order_wire(order)
        return {
            "symbol": order.symbol,
            "origClientOrderId": order.client_order_id,
            "orderId": order.order_id,
            "orderListId": -1,
            "clientOrderId": order.cancel_client_id,
            "transactTime": order.update_time,
            **{
                k: v
                for k, v in body.items()
                if k not in ("symbol", "orderId", "orderListId", "clientOrderId", "workingTime")
            },
        }

    async def _open_orders(self, request: web.Request, params: Params) -> Reply:
        symbol = params.get("symbol")
        if symbol is not None:
            self.exchange.spec(symbol)
        return Reply(
            [self.exchange.order_wire(o, query=True) for o in self.exchange.open_orders(symbol)]
        )

    async def _cancel_open_orders(self, request: web.Request, params: Params) -> Reply:
        spec = self.exchange.spec(params.get("symbol"))
        orders = self.exchange.open_orders(spec.symbol)
        if not orders:
            raise BinanceError(-2011, UNKNOWN_ORDER)
        bodies = []
        for order in orders:
            self.exchange.cancel(spec.symbol, str(order.order_id), None)
            body = self._cancel_body(order)
            if self.faults.unknown_status_cancels > 0:
                self.faults.unknown_status_cancels -= 1
                body["status"] = self.faults.unknown_status
            bodies.append(body)
        return Reply(bodies, events=self.exchange.take_user_events())

    async def _cancel_replace(self, request: web.Request, params: Params) -> Reply:
        mode = params.get("cancelReplaceMode")
        if not mode:
            raise mandatory("cancelReplaceMode")
        if mode not in ("STOP_ON_FAILURE", "ALLOW_FAILURE"):
            raise BinanceError(-1145, "Invalid cancelReplaceMode")
        self.exchange.validate(params)
        symbol = params.get("symbol")
        cancel_body: dict[str, Any] | None = None
        cancel_error: BinanceError | None = None
        try:
            cancelled = self.exchange.cancel(
                symbol,
                params.get("cancelOrderId"),
                params.get("cancelOrigClientOrderId"),
                params.get("cancelNewClientOrderId"),
            )
            cancel_body = self._cancel_body(cancelled)
            if self.faults.unknown_status_replace_cancels > 0:
                self.faults.unknown_status_replace_cancels -= 1
                cancel_body["status"] = self.faults.unknown_status
        except BinanceError as error:
            if error.code != -2011:
                raise
            cancel_error = error
        new_body: dict[str, Any] | None = None
        new_error: BinanceError | None = None
        if cancel_error is None or mode == "ALLOW_FAILURE":
            new_params = {k: v for k, v in params.items() if not k.startswith("cancel")}
            try:
                if self.faults.order_rejections:
                    raise self.faults.order_rejections.popleft()
                order, fills = self.exchange.place(new_params)
                new_body = self._placement_body(order, fills, params.get("newOrderRespType"))
            except BinanceError as error:
                new_error = error
        events = self.exchange.take_user_events()
        await self._deliver_market(self.exchange.take_market_events())
        if cancel_error is None and new_error is None:
            if self.faults.unknown_status_replaces > 0 and new_body and "status" in new_body:
                self.faults.unknown_status_replaces -= 1
                new_body["status"] = self.faults.unknown_status
            body = {
                "cancelResult": "SUCCESS",
                "newOrderResult": "SUCCESS",
                "cancelResponse": cancel_body,
                "newOrderResponse": new_body,
            }
            return Reply(body, events=events, order=True)
        data = {
            "cancelResult": "FAILURE" if cancel_error else "SUCCESS",
            "newOrderResult": (
                "NOT_ATTEMPTED"
                if cancel_error and mode == "STOP_ON_FAILURE"
                else ("FAILURE" if new_error else "SUCCESS")
            ),
            "cancelResponse": cancel_error.body() if cancel_error else cancel_body,
            "newOrderResponse": new_error.body() if new_error else new_body,
        }
        await self._deliver_user(events)
        # One side succeeded: -2021 (409). Nothing succeeded: -2022 (400).
        if data["cancelResult"] == "SUCCESS" or data["newOrderResult"] == "SUCCESS":
            raise BinanceError(-2021, "Order cancel-replace partially failed.", 409, data)
        raise BinanceError(-2022, "Order cancel-replace failed.", 400, data)

    async def _amend(self, request: web.Request, params: Params) -> Reply:
        """Order Amend Keep Priority: `{"transactTime", "executionId", "amendedOrder"}`
        (rest-api.md); adds nothing to the order count (its Unfilled Order Count is 0)."""
        if self.faults.amend_rejections:
            raise self.faults.amend_rejections.popleft()
        if self.faults.amend_races:
            qty = self.faults.amend_races.popleft()
            spec = self.exchange.spec(params.get("symbol"))
            racing = self.exchange.find(
                spec.symbol, params.get("orderId"), params.get("origClientOrderId")
            )
            if racing is not None and racing.is_open:
                self.exchange.fill(racing.order_id, min(qty, racing.remaining))
                await self._flush()
        original = self._find_open_client_id(params)
        order, execution_id = self.exchange.amend(params)
        body = {
            "transactTime": order.update_time,
            "executionId": execution_id,
            "amendedOrder": self.exchange.amend_wire(order, original),
        }
        return Reply(body, events=self.exchange.take_user_events())

    def _find_open_client_id(self, params: Params) -> str:
        """The client order id the order to amend has now ("" when there is none: the
        amend is refused anyway)."""
        spec = self.exchange.spec(params.get("symbol"))
        found = self.exchange.find(
            spec.symbol, params.get("orderId"), params.get("origClientOrderId")
        )
        return found.client_order_id if found is not None else ""

    async def _my_trades(self, request: web.Request, params: Params) -> Reply:
        spec = self.exchange.spec(params.get("symbol"))
        trades = [t for t in self.exchange.trades if t.symbol == spec.symbol]
        limit = min(integer(params, "limit", 500), 1000)
        given = {
            name: integer(params, name)
            for name in ("orderId", "fromId", "startTime", "endTime")
            if name in params
        }
        if "orderId" in given:
            trades = [t for t in trades if t.order_id == given["orderId"]]
        if "fromId" in given:
            trades = [t for t in trades if t.trade_id >= given["fromId"]][:limit]
        elif "startTime" in given:
            start = given["startTime"]
            end = given.get("endTime", start + 24 * 3600 * 1000)
            trades = [t for t in trades if start <= t.time <= end][:limit]
        elif "endTime" in given:
            trades = [t for t in trades if t.time <= given["endTime"]][-limit:]
        else:
            trades = trades[-limit:]
        return Reply([t.wire() for t in trades])

    # ------------------------------------------------------- WebSocket API

    async def _ws_api(self, request: web.Request) -> web.StreamResponse:
        if self.faults.refused_api_connects > 0:
            self.faults.refused_api_connects -= 1
            return web.Response(status=503, text="Service Unavailable")
        ws = web.WebSocketResponse(timeout=1.0)
        await ws.prepare(request)
        session = ApiSession(ws, request)
        self.api_sessions.append(session)
        self.api_connects += 1
        self._sessions_changed.set()
        try:
            async for message in ws:
                if message.type == WSMsgType.TEXT:
                    await self._ws_api_request(session, message.data)
        finally:
            self.api_sessions.remove(session)
        return ws

    async def _ws_api_request(self, session: ApiSession, text: str) -> None:
        try:
            request = json.loads(text)
            request_id = request.get("id")
            method = request.get("method")
            params = request.get("params") or {}
            self.ws_api_requests.append(str(method))
        except (ValueError, AttributeError):
            await self._send(
                session.ws,
                {"id": None, "status": 400, "error": {"code": -1100, "msg": "Malformed request."}},
            )
            return
        try:
            result = self._ws_api_call(session, method, params)
        except BinanceError as error:
            await self._send(
                session.ws, {"id": request_id, "status": error.status, "error": error.body()}
            )
            return
        await self._send(
            session.ws,
            {
                "id": request_id,
                "status": 200,
                "result": result,
                "rateLimits": [
                    {
                        "rateLimitType": "REQUEST_WEIGHT",
                        "interval": "MINUTE",
                        "intervalNum": 1,
                        "limit": WEIGHT_LIMIT_1M,
                        "count": self._used_weight,
                    }
                ],
            },
        )

    def _ws_api_call(self, session: ApiSession, method: Any, params: dict[str, Any]) -> Any:
        if method == "ping":
            return {}
        if method == "time":
            return {"serverTime": self.server_time()}
        if method == "userDataStream.subscribe.signature":
            if params.get("apiKey") != self.api_key:
                raise BinanceError(-2015, "Invalid API-key, IP, or permissions for action.", 401)
            self._check_signed(params, signing.ws_payload(params), params.get("signature"))
            sub = session.next_subscription
            session.next_subscription += 1
            session.subscriptions.add(sub)
            self._sessions_changed.set()
            return {"subscriptionId": sub}
        if method == "userDataStream.unsubscribe":
            if "subscriptionId" in params:
                session.subscriptions.discard(int(params["subscriptionId"]))
            else:
                session.subscriptions.clear()
            return {}
        if method == "session.subscriptions":
            return [{"subscriptionId": sub} for sub in sorted(session.subscriptions)]
        raise BinanceError(-1020, "This operation is not supported.")

    # ------------------------------------------------------- market streams

    async def _ws_stream(self, request: web.Request) -> web.StreamResponse:
        return await self._serve_streams(request, [request.match_info["stream"]], combined=False)

    async def _combined_stream(self, request: web.Request) -> web.StreamResponse:
        streams = [s for s in request.query.get("streams", "").split("/") if s]
        return await self._serve_streams(request, streams, combined=True)

    async def _serve_streams(
        self, request: web.Request, streams: list[str], *, combined: bool
    ) -> web.StreamResponse:
        if self.faults.refused_stream_connects > 0:
            self.faults.refused_stream_connects -= 1
            return web.Response(status=503, text="Service Unavailable")
        ws = web.WebSocketResponse(timeout=1.0)
        await ws.prepare(request)
        session = StreamSession(ws, request, streams, combined)
        self.stream_sessions.append(session)
        self.stream_connects += 1
        self._sessions_changed.set()
        # Binance pushes a symbol's mini ticker every second: the first one reaches a
        # new subscriber within a second (here at once, if the symbol has traded, or
        # after `first_mini_ticker_s`).
        first = None
        if self.first_mini_ticker_s:
            first = asyncio.create_task(self._first_mini_tickers(ws, streams, combined))
        else:
            await self._first_mini_tickers(ws, streams, combined)
        try:
            async for _ in ws:
                pass
        finally:
            if first is not None:
                first.cancel()
            self.stream_sessions.remove(session)
        return ws

    async def _first_mini_tickers(
        self, ws: web.WebSocketResponse, streams: list[str], combined: bool
    ) -> None:
        if self.first_mini_ticker_s:
            await asyncio.sleep(self.first_mini_ticker_s)
        for stream in streams:
            symbol, _, kind = stream.partition("@")
            if kind == "miniTicker" and symbol.upper() in self.exchange.specs:
                payload = self.exchange.mini_ticker(symbol.upper())
                if payload is not None:
                    await self._send(
                        ws, {"stream": stream, "data": payload} if combined else payload
                    )
