"""`BinanceRest`: python-binance's `AsyncClient` and everything about calling it.

Three kinds of call, because what may be repeated decides everything else:

- reads (ping, exchangeInfo, account, order query, open orders, trades, depth, the
  24hr ticker) are idempotent: transient failures (connection reset, timeout, 5xx) are
  retried with backoff (`brokers/retry.py`), a 429 is retried after its `Retry-After`.
  They wait when the minute's weight passes `throttle_at` of the limit, keeping the
  rest of the minute for orders and cancels.
- cancels (one order, all of a symbol) are idempotent too and retried the same way;
  they wait only when the weight limit itself would be passed. A 429's Retry-After
  longer than `CANCEL_WAIT_S` is not waited out in the call: `CancelHeld` at once
  (the broker sends the cancel itself once it is over). A cancel whose earlier
  attempt lost its reply finds the order gone (-2011): on -2011 the order is queried,
  and a CANCELED order counts as cancelled.
- order amends (amend keepPriority, weight 4) are sent once too, and refused when held
  back, as new orders are; they add nothing to the order count, so only the weight and
  a 429 hold them. Sent again after one Binance took, an amend is refused (-2038 "would
  change no state") and reads as a failed modify of an order Binance changed.
- new orders and cancel-replace are never sent twice. A timeout or a connection lost
  after sending raises `BrokerTimeout` (the outcome is unknown: resolve it with a query).
  A connection that could not be opened raises `NotConnected` (nothing was sent).
  When usage is at a limit, or inside a 429's `Retry-After`, they are refused here with
  `RateLimited` rather than delayed: an order sent seconds late is a different order.
  A 429 on a new order is NOT retried either: Binance refused it (nothing is working),
  so re-sending would be safe, but whether a late order is still wanted is the trader's
  call; `RateLimited.retry_after` says when it may go.

Every call: a 418 ban refuses it locally (`Banned`, naming the seconds left) without
touching the network; -1021 (timestamp outside recvWindow) re-syncs the client's
`timestamp_offset` from GET /time and sends once more (safe: Binance refused the first),
and a second -1021 is `ClockOutOfSync`. Usage headers are read after every answer.

What each call finds about reaching Binance is told to `watch` (the broker's "rest"
link): a call that ends failing with `NotConnected` or `BrokerTimeout` after sending
(nothing answered: refused, cut, timed out; or only a proxy's page, an unreadable
answer, Binance's own "unavailable") -> `rest_unreachable(error)`; any other outcome
of a sent request (a result, a reject, -1021, 429, 418: Binance answered) ->
`rest_answered()`, called only while `watch.rest_down`, so a successful call costs one
attribute read. A read that fails once and then succeeds on a retry is an answer. Calls
refused locally (no client, a ban, held back) find nothing. What is raised is the same
with or without a watch.

The clock is told too: a signed call refused -1021 after the re-sync ->
`rest_clock_refused(error)` (a `ClockOutOfSync` saying how far off this host's clock is
by Binance's stream events, `Usage.event_offset_ms`: `/time` is what the re-sync
trusted, and it did not cure it); a signed call Binance accepts while `watch.clock_refused`
-> `rest_clock_accepted()`. Unsigned calls (ping, time, exchangeInfo, depth, the 24hr
ticker) carry no timestamp and prove nothing about the clock.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from enum import Enum
from typing import Any, Protocol, TypeVar

import aiohttp
from binance import AsyncClient
from binance.exceptions import BinanceAPIException, BinanceRequestException

from ...config import BinanceBrokerConfig
from ..errors import (
    BrokerError,
    BrokerTimeout,
    NotConnected,
    OrderRejected,
    RateLimited,
    UnknownOrder,
)
from ..retry import RetryPolicy, with_retry
from .errors import (
    CANCEL_REJECTED,
    FILTER_FAILURE,
    NO_SUCH_ORDER,
    TIMESTAMP,
    ApiError,
    ClockOutOfSync,
    banned,
    banned_until_ms,
    clock_out_of_sync,
    map_api_error,
    map_transport_error,
    rate_limited,
    read_api_error,
)
from .market import symbols_param
from .usage import AMEND_WEIGHT, Usage

T = TypeVar("T")
log = logging.getLogger(__name__)

LIVE_REST_URL = "https://api.binance.com/api"
TESTNET_REST_URL = "https://testnet.binance.vision/api"
# A 418 without Retry-After or a readable end: Binance's shortest ban.
DEFAULT_BAN_S = 120.0
CLOSE_TIMEOUT_S = 5.0
# How long a rebuild waits for the old client to close before it builds the new one; the
# rest of the close goes on in the background (python-binance's close waits for its
# WebSocket API's read poll, or for ever while that connection is reconnecting).
RETIRE_WAIT_S = 0.5
# Rounds of waiting before a call goes anyway (each round normally ends a window).
MAX_HOLD_ROUNDS = 5
# The longest a cancel waits out a 429's Retry-After inside the call. Longer, it is
# not sent (or, answered 429, not sent again) and `CancelHeld` is raised at once: the
# kill switch's report (and the trader's screen) waited for each Retry-After in turn,
# up to three attempts; the broker sends it itself when the Retry-After is over.
CANCEL_WAIT_S = 1.0

Call = Callable[[Any], Awaitable[T]]


class CancelHeld(RateLimited):
    """A cancel Binance's 429 holds back for longer than `CANCEL_WAIT_S`: nothing was
    done at Binance (not sent, or refused with the 429), and it is not retried inside
    the call (`retry_after`: the seconds left). The caller says so at once and sends
    it when the Retry-After is over."""

    retryable = False
    owed = True


# ORDER_AMEND_REJECTED (errors.md): the matching engine's reason in the message.
AMEND_REJECTED = -2038
# Its message when the venue order is at `newQty` already.
NO_CHANGE = "would change no state"


class GuardRefused(OrderRejected):
    """A new order, cancel-replace or amend Binance refused with -1021 (its timestamp:
    Binance did nothing with it), not sent again after the clock re-sync because the
    desk's send guard refuses it now (`BinanceRest.send_guard`: trading HALTED, this
    desk's claim lapsed): nothing was done at Binance."""


class AmendRefused(OrderRejected):
    """Binance refused an order amend (-2038 with the matching engine's reason, -1013 a
    filter): it changed nothing. `no_change`: the order is at the quantity asked
    already ("The requested action would change no state"): an amend that went before
    took it, e.g. this one's first send (aiohttp sends a PUT again, once, when a
    kept-alive connection drops before the answer)."""

    @property
    def no_change(self) -> bool:
        return self.code == AMEND_REJECTED and NO_CHANGE in str(self)


class CallKind(Enum):
    READ = "read"  # idempotent; waits at throttle_at; retried
    CANCEL = "cancel"  # idempotent; waits only at the limit; retried
    ORDER = "order"  # new order, cancel-replace: refused when held back; never re-sent
    AMEND = "amend"  # order amend keepPriority: as ORDER, but no order count


# Sent once, refused when held back; an answer lost after sending leaves the outcome
# unknown (`BrokerTimeout`).
SENT_ONCE = frozenset({CallKind.ORDER, CallKind.AMEND})


class RestWatch(Protocol):
    """Told what the calls find about reaching Binance (the module's docstring)."""

    @property
    def rest_down(self) -> bool:
        """Whether Binance is shown unreachable now (read after every successful call)."""
        ...

    async def rest_unreachable(self, error: BrokerError) -> None: ...

    async def rest_answered(self) -> None: ...

    @property
    def clock_refused(self) -> bool:
        """Whether Binance is shown refusing this host's clock now (read after every
        successful signed call)."""
        ...

    async def rest_clock_refused(self, error: ClockOutOfSync) -> None: ...

    async def rest_clock_accepted(self) -> None: ...


class _Found:
    """What the attempts of one call found, the last one winning: an answer from
    Binance, or the error of one that reached nothing (None: nothing sent yet)."""

    __slots__ = ("answered", "unreachable")

    def __init__(self) -> None:
        self.answered = False
        self.unreachable: BrokerError | None = None


class BinanceRest:
    """The REST half of the Binance adapter. `start()` builds the client."""

    def __init__(
        self,
        config: BinanceBrokerConfig,
        *,
        clock: Callable[[], int] = time.time_ns,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        request_timeout_s: float | None = None,
        retry: RetryPolicy | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.config = config
        self.request_timeout_s = (
            config.request_timeout_s if request_timeout_s is None else request_timeout_s
        )
        self.usage = Usage(
            weight_limit_1m=config.weight_limit_1m,
            order_limit_10s=config.order_count_limit_10s,
            throttle_at=config.throttle_at,
            clock=clock,
        )
        self.client: AsyncClient | None = None
        self.rtt_ms: float | None = None
        self.clock_resyncs = 0
        self._sleep = sleep
        self._retry = retry or RetryPolicy()
        self._rng = rng or random.Random(0)
        # start/close/restart from several tasks (reconnect loop, user-stream rebuild)
        # must not build two clients or close one being built.
        self._lifecycle = asyncio.Lock()
        # Old clients still closing after a rebuild (bounded by CLOSE_TIMEOUT_S each).
        self._retiring: set[asyncio.Task[None]] = set()
        # Told whether each call reached Binance (the broker's "rest" link).
        self.watch: RestWatch | None = None
        # Why nothing may be sent now (the broker's `send_guard`: trading HALTED, the
        # claim lapsed), None when it may; asked before a new order, cancel-replace or
        # amend is sent again after a -1021 and the clock re-sync (`_send`).
        self.send_guard: Callable[[], str | None] | None = None

    # ------------------------------------------------------------ lifecycle

    @property
    def url(self) -> str:
        """The REST base URL in use (for messages)."""
        if self.config.rest_url:
            return self.config.rest_url
        return TESTNET_REST_URL if self.config.testnet else LIVE_REST_URL

    def client_class(self) -> type[Any]:
        """`AsyncClient` with our endpoints and timings as class attributes: python-binance
        reads them in `__init__`/`create()` (the WebSocket API client is built there), and
        `testnet` picks the *_TESTNET_* names, so an override sets both."""
        attrs: dict[str, Any] = {
            "REQUEST_TIMEOUT": self.request_timeout_s,
            "REQUEST_RECVWINDOW": self.config.recv_window_ms,
        }
        if self.config.rest_url:
            attrs.update(API_URL=self.config.rest_url, API_TESTNET_URL=self.config.rest_url)
        if self.config.ws_api_url:
            attrs.update(
                WS_API_URL=self.config.ws_api_url, WS_API_TESTNET_URL=self.config.ws_api_url
            )
        return type("SilvertineAsyncClient", (AsyncClient,), attrs)

    async def start(self) -> None:
        """Build the client (`AsyncClient.create` pings and reads the server time).
        Unreachable -> `NotConnected` naming the URL; a refused key pair is only found by
        the first signed call."""
        async with self._lifecycle:
            await self._start()

    async def _start(self) -> None:
        if self.client is not None:
            return
        what = f"connect to {self.url}"
        await self._hold_back(what, CallKind.READ)
        try:
            client = await self.client_class().create(
                api_key=self.config.api_key.get_secret_value(),
                api_secret=self.config.api_secret.get_secret_value(),
                testnet=self.config.testnet,
            )
        except BinanceAPIException as exc:
            raise self._api_failure(await self._read_failure(exc), what, CallKind.READ) from None
        except BinanceRequestException:
            raise NotConnected(
                f"{what}: the answer was not Binance's (not JSON). Check rest_url in the config."
            ) from None
        except (aiohttp.ClientError, TimeoutError) as exc:
            error = map_transport_error(
                exc, what=what, url=self.url, timeout_s=self.request_timeout_s
            )
            message = str(error)
            if isinstance(error, BrokerTimeout):
                message += (
                    " Check the network and rest_url/testnet in the config; the adapter "
                    "keeps retrying."
                )
            raise NotConnected(message) from None
        self.client = client
        self.usage.offset_ms = int(client.timestamp_offset)
        self._observe(client.response)
        log.info(
            "binance.rest.started",
            extra={"url": self.url, "offset_ms": self.usage.offset_ms},
        )

    async def close(self) -> None:
        async with self._lifecycle:
            await self._close()
            retiring = list(self._retiring)
        if retiring:
            await asyncio.gather(*retiring, return_exceptions=True)

    async def _close(self) -> None:
        client, self.client = self.client, None
        if client is not None:
            await _close_client(client)

    async def restart_client(self) -> None:
        """A new `AsyncClient`: after the venue was lost (the old client's connections
        are dead, and so may be its WebSocket API) and as user-stream rebuild hygiene
        (python-binance leaks a queue per user-socket rebuild on one client).

        The old client is dropped first and given `RETIRE_WAIT_S` to close; the rest of
        its close runs in the background, so a rebuild is not held up by python-binance
        waiting for a dead connection. When the new one cannot be built (Binance still
        unreachable: `NotConnected`) there is no client until the next `start()` or
        `restart_client()`."""
        # During a ban the old client stays: a new one would ping Binance (and find none).
        await self._hold_back("rebuild the REST client", CallKind.READ)
        async with self._lifecycle:
            old, self.client = self.client, None
            if old is not None:
                task = asyncio.create_task(_close_client(old), name="binance-client-close")
                self._retiring.add(task)
                task.add_done_callback(self._retiring.discard)
                await asyncio.wait({task}, timeout=RETIRE_WAIT_S)
            await self._start()

    # ------------------------------------------------------------ calls

    async def ping(self, *, retried: bool = True) -> float:
        """Round trip in milliseconds. Not `retried`: one attempt, asking whether Binance
        answers this client now (`NotConnected` or `BrokerTimeout` when it does not),
        told to no `watch` (the caller moves the link)."""
        started = time.perf_counter()
        if retried:
            await self._call("ping", CallKind.READ, lambda c: c.ping(), signed=False)
        else:
            await self._attempt("ping", CallKind.READ, lambda c: c.ping())
        self.rtt_ms = (time.perf_counter() - started) * 1000
        return self.rtt_ms

    async def server_time_ms(self) -> int:
        answer = await self._call(
            "server time", CallKind.READ, lambda c: c.get_server_time(), signed=False
        )
        return int(answer["serverTime"])

    async def exchange_info(self, symbols: Sequence[str] | None = None) -> dict[str, Any]:
        data: dict[str, str] = {}
        if symbols:
            data["symbols"] = symbols_param(symbols)
        result: dict[str, Any] = await self._call(
            "exchange info",
            CallKind.READ,
            lambda c: c._get("exchangeInfo", data=data),
            signed=False,
        )
        return result

    async def account(self) -> dict[str, Any]:
        result: dict[str, Any] = await self._call(
            "account", CallKind.READ, lambda c: c.get_account()
        )
        return result

    async def new_order(self, params: Mapping[str, str]) -> dict[str, Any]:
        what = f"new order {params.get('symbol', '?')} {params.get('newClientOrderId', '')}"
        sent = dict(params)
        result: dict[str, Any] = await self._call(
            what.strip(), CallKind.ORDER, lambda c: c.create_order(**sent)
        )
        return result

    async def get_order(self, symbol: str, client_order_id: str) -> dict[str, Any] | None:
        """The order as Binance holds it, or None when Binance has no such order (-2013)."""
        return await self._query_order(
            f"query order {symbol} {client_order_id}",
            symbol=symbol,
            origClientOrderId=client_order_id,
        )

    async def get_order_by_id(self, symbol: str, venue_order_id: int) -> dict[str, Any] | None:
        """The order Binance numbers `venue_order_id` (myTrades names orders that way), or
        None when Binance has no such order (-2013). A read as any other: its weight
        counted, held back by a ban or a 429's Retry-After, retried."""
        return await self._query_order(
            f"query order {symbol} #{venue_order_id}", symbol=symbol, orderId=venue_order_id
        )

    async def _query_order(self, what: str, **ids: str | int) -> dict[str, Any] | None:
        """GET /api/v3/order by the ids given; None on -2013 (no such order)."""
        try:
            result: dict[str, Any] = await self._call(
                what, CallKind.READ, lambda c: c.get_order(**ids)
            )
        except UnknownOrder as exc:
            if exc.code == NO_SUCH_ORDER:
                return None
            raise
        return result

    async def cancel_order(self, symbol: str, client_order_id: str) -> dict[str, Any]:
        """Binance's cancel answer. -2011 (Binance no longer has it working) asks for the
        order: CANCELED means a cancel whose reply was lost did it (aiohttp silently
        re-sends a DELETE once when a kept-alive connection drops, and our retry may
        follow), and the query, with `origClientOrderId`, is the answer. Anything else
        (FILLED: the cancel raced a fill) -> `UnknownOrder` naming the status."""
        what = f"cancel order {symbol} {client_order_id}"
        try:
            result: dict[str, Any] = await self._call(
                what,
                CallKind.CANCEL,
                lambda c: c.cancel_order(symbol=symbol, origClientOrderId=client_order_id),
            )
        except UnknownOrder as exc:
            if exc.code != CANCEL_REJECTED:
                raise
            order = await self.get_order(symbol, client_order_id)
            if order is None:
                raise
            status = order.get("status")
            if status == "CANCELED":
                log.info("binance.cancel.confirmed_by_query", extra={"what": what})
                return {**order, "origClientOrderId": client_order_id}
            raise UnknownOrder(
                f"{what}: Binance has nothing to cancel: the order is {status} "
                f"(code {CANCEL_REJECTED}).",
                code=CANCEL_REJECTED,
            ) from exc
        return result

    async def cancel_replace(self, params: Mapping[str, str]) -> dict[str, Any]:
        """-2021/-2022 -> `CancelReplaceFailed` carrying Binance's `data`."""
        what = (
            f"cancel-replace {params.get('symbol', '?')} "
            f"{params.get('cancelOrigClientOrderId', '')} -> {params.get('newClientOrderId', '')}"
        )
        sent = dict(params)
        result: dict[str, Any] = await self._call(
            what, CallKind.ORDER, lambda c: c.cancel_replace_order(**sent)
        )
        return result

    async def amend_keep_priority(self, params: Mapping[str, str]) -> dict[str, Any]:
        """Order Amend Keep Priority (`PUT /api/v3/order/amend/keepPriority`, weight 4):
        python-binance 1.0.37 has no method for it, so its own signed request (`_put`,
        the form-encoded body it signs for every PUT) carries it. Its answer:
        `{"transactTime", "executionId", "amendedOrder"}`; a refusal (-2038 with the
        matching engine's message, -1013) is `AmendRefused`, and Binance left the order
        unchanged. aiohttp sends a PUT again, once, when a kept-alive connection drops
        before the answer: an amend Binance took the first time is then refused as one
        that "would change no state" (`AmendRefused.no_change`)."""
        what = (
            f"amend {params.get('symbol', '?')} {params.get('newClientOrderId', '')} "
            f"to {params.get('newQty', '?')}"
        )
        sent = dict(params)
        result: dict[str, Any] = await self._call(
            what,
            CallKind.AMEND,
            # (a copy each send: python-binance signs the dict it is given in place,
            # and sent again after a -1021 it carried the first send's signature:
            # -1022, read as the key pair refused)
            lambda c: c._put("order/amend/keepPriority", signed=True, data=dict(sent)),
        )
        return result

    async def cancel_open_orders(self, symbol: str) -> list[dict[str, Any]]:
        """Every open order of `symbol` cancelled; [] when there was none (Binance: -2011)."""
        try:
            result: list[dict[str, Any]] = await self._call(
                f"cancel all orders {symbol}",
                CallKind.CANCEL,
                lambda c: c.cancel_all_open_orders(symbol=symbol),
            )
        except UnknownOrder as exc:
            if exc.code == CANCEL_REJECTED:
                return []
            raise
        return result

    async def open_orders(self, symbol: str | None = None) -> list[dict[str, Any]]:
        """Without a symbol it costs 80 weight (6 with one)."""
        params = {"symbol": symbol} if symbol else {}
        result: list[dict[str, Any]] = await self._call(
            f"open orders {symbol or '(all symbols)'}",
            CallKind.READ,
            lambda c: c.get_open_orders(**params),
        )
        return result

    async def my_trades(
        self,
        symbol: str,
        *,
        from_id: int | None = None,
        start_time_ms: int | None = None,
        order_id: int | None = None,
        limit: int = 1000,
    ) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"symbol": symbol, "limit": limit}
        if from_id is not None:
            params["fromId"] = from_id
        if start_time_ms is not None:
            params["startTime"] = start_time_ms
        if order_id is not None:
            params["orderId"] = order_id
        result: list[dict[str, Any]] = await self._call(
            f"trades {symbol}", CallKind.READ, lambda c: c.get_my_trades(**params)
        )
        return result

    async def ticker_24h(self, symbols: Sequence[str]) -> list[dict[str, Any]]:
        """The 24 h rolling window of up to 20 symbols (MINI: the open, last, high, low,
        volumes and the window's times), 2 of the minute's weight (documented: 2 for
        1-20 symbols, 40 for 21-100)."""
        if not 0 < len(symbols) <= 20:
            raise ValueError("ask for 1 to 20 symbols at a time (weight 2)")
        listed = symbols_param(symbols)
        result: list[dict[str, Any]] = await self._call(
            f"24hr ticker {','.join(symbols)}",
            CallKind.READ,
            lambda c: c.get_ticker(symbols=listed, type="MINI"),
            signed=False,
        )
        return result

    async def depth(self, symbol: str, limit: int = 100) -> dict[str, Any]:
        result: dict[str, Any] = await self._call(
            f"depth {symbol}",
            CallKind.READ,
            lambda c: c.get_order_book(symbol=symbol, limit=limit),
            signed=False,
        )
        return result

    # ------------------------------------------------------------ machinery

    async def _call(self, what: str, kind: CallKind, call: Call[T], *, signed: bool = True) -> T:
        """`call` as `kind` says (retried or sent once), telling the watch what it found
        (`signed`: the request carries a timestamp Binance judges)."""
        if self.client is None:
            raise self._not_started(what)
        found = _Found()
        try:
            if kind in SENT_ONCE:
                result = await self._attempt(what, kind, call, found)
            else:
                result = await with_retry(
                    lambda: self._attempt(what, kind, call, found),
                    self._retry,
                    what=what,
                    rng=self._rng,
                    sleep=self._sleep,
                )
        except ClockOutOfSync as exc:
            await self._tell(found)
            await self._tell_clock(exc)
            raise
        except BrokerError:
            await self._tell(found)
            raise
        watch = self.watch
        if watch is not None and watch.rest_down:
            await self._tell(found)
        if signed and watch is not None and watch.clock_refused:
            await self._tell_clock(None)
        return result

    async def _tell_clock(self, refused: ClockOutOfSync | None) -> None:
        """Tell the watch that Binance refused this host's clock (`refused`), or accepted
        a signed request (None). Never raises, as `_tell`."""
        watch = self.watch
        if watch is None:
            return
        try:
            if refused is not None:
                await watch.rest_clock_refused(refused)
            else:
                await watch.rest_clock_accepted()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("binance.rest.watch_failed")

    async def _tell(self, found: _Found) -> None:
        """Tell the watch what the call found. Never raises: what the call itself got
        (a result, an error) is what its caller must see."""
        watch = self.watch
        if watch is None:
            return
        try:
            if found.unreachable is not None:
                await watch.rest_unreachable(found.unreachable)
            elif found.answered and watch.rest_down:
                await watch.rest_answered()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("binance.rest.watch_failed")

    async def _attempt(
        self, what: str, kind: CallKind, call: Call[T], found: _Found | None = None
    ) -> T:
        client = self.client
        if client is None:
            raise self._not_started(what)
        await self._hold_back(what, kind)
        if found is None:
            return await self._send(client, what, kind, call)
        try:
            result = await self._send(client, what, kind, call)
        except (NotConnected, BrokerTimeout) as exc:
            found.answered, found.unreachable = False, exc
            raise
        except BrokerError:
            found.answered, found.unreachable = True, None
            raise
        found.answered, found.unreachable = True, None
        return result

    async def _send(self, client: Any, what: str, kind: CallKind, call: Call[T]) -> T:
        """The request (sent again once after a -1021 and a clock re-sync)."""
        for attempt in (1, 2):
            started = time.perf_counter()
            try:
                try:
                    result: T = await call(client)
                finally:
                    # Every answer's round trip is the latency the health pane shows
                    # (`rtt_ms`), an error's and an unanswered call's wait too: a ping's
                    # alone, asked at connect and on a rebuild, stood for minutes (2.7 s
                    # read for 3 minutes after a venue frozen a while, orders answered in
                    # ms; a venue timing out every call read its last good 20 ms).
                    self.rtt_ms = (time.perf_counter() - started) * 1000
            except BinanceAPIException as exc:
                error = await self._read_failure(exc)
                if error.code == TIMESTAMP and attempt == 1:
                    await self._resync_clock(client, what, error)
                    if kind in SENT_ONCE:
                        # The re-sync awaited Binance: trading may have gone HALTED, or
                        # the claim lapsed, meanwhile; sent again regardless, a new
                        # order went out after HALTED.
                        self._ask_guard_again(what)
                    continue
                raise self._api_failure(error, what, kind) from exc
            except BinanceRequestException as exc:
                raise self._unreadable(what, kind) from exc
            except (aiohttp.ClientError, TimeoutError) as exc:
                raise map_transport_error(
                    exc,
                    what=what,
                    url=self.url,
                    timeout_s=self.request_timeout_s,
                    order=kind in SENT_ONCE,
                ) from exc
            self._observe(client.response)
            return result
        raise AssertionError("unreachable: the second attempt returns or raises")

    def _ask_guard_again(self, what: str) -> None:
        """`send_guard`, right before an order (a cancel-replace, an amend) is sent
        again: `GuardRefused` when it refuses (nothing was done at Binance: it refused
        the first send's timestamp)."""
        guard = self.send_guard
        refusal = guard() if guard is not None else None
        if refusal:
            log.warning("binance.resend_refused", extra={"what": what, "refusal": refusal})
            raise GuardRefused(
                f"{what}: not sent: {refusal} (Binance refused its first send for this "
                "host's clock, -1021, and did nothing with it; it was not sent again "
                "after re-syncing with Binance's time)"
            )

    async def _hold_back(self, what: str, kind: CallKind) -> None:
        """Wait (reads, cancels) or refuse (orders) while Binance would refuse us."""
        for _ in range(MAX_HOLD_ROUNDS):
            ban_left = self.usage.banned_s()
            if ban_left > 0:
                self.usage.throttled += 1
                raise banned(what, ban_left)
            backoff = self.usage.backoff_s()
            if kind is CallKind.CANCEL and backoff > CANCEL_WAIT_S:
                self.usage.throttled += 1
                raise CancelHeld(
                    f"{what}: held back: Binance's 429 Retry-After runs {math.ceil(backoff)} s "
                    "more (calling earlier gets the IP banned); nothing was sent.",
                    retry_after=backoff,
                )
            wait, why = self._wait_for(kind)
            if wait <= 0:
                return
            self.usage.throttled += 1
            if kind in SENT_ONCE:
                raise RateLimited(
                    f"{what}: held back to stay within Binance's limits ({why}); orders can "
                    f"go again in {math.ceil(wait)} s. "
                    + (
                        "Nothing was sent." if kind is CallKind.AMEND else "The order was not sent."
                    ),
                    retry_after=wait,
                )
            log.info(
                "binance.throttle",
                extra={"what": what, "wait_s": round(wait, 3), "why": why},
            )
            await self._sleep(wait)

    def _wait_for(self, kind: CallKind) -> tuple[float, str]:
        usage = self.usage
        waits = [(usage.backoff_s(), "a 429's Retry-After is running")]
        weight = f"weight {usage.weight_1m}/{usage.weight_limit_1m} this minute"
        if kind is CallKind.READ:
            waits.append((usage.read_wait_s(), weight))
        else:
            cost = AMEND_WEIGHT if kind is CallKind.AMEND else 1
            waits.append((usage.trade_wait_s(cost), weight))
        if kind is CallKind.ORDER:
            orders = f"{usage.order_count_10s}/{usage.order_limit_10s} orders in 10 s"
            waits.append((usage.order_wait_s(), orders))
        return max(waits)

    async def _resync_clock(self, client: Any, what: str, error: ApiError) -> None:
        """-1021: python-binance only reads the server time in `create()`. The offset is
        against `time.time()`, the clock python-binance stamps requests with."""
        try:
            answer = await client.get_server_time()
        except BinanceAPIException as exc:
            raise self._api_failure(await self._read_failure(exc), what, CallKind.READ) from exc
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise map_transport_error(
                exc, what=what, url=self.url, timeout_s=self.request_timeout_s
            ) from exc
        self._observe(client.response)
        before = client.timestamp_offset
        client.timestamp_offset = int(answer["serverTime"]) - int(time.time() * 1000)
        self.usage.offset_ms = int(client.timestamp_offset)
        self.clock_resyncs += 1
        log.warning(
            "binance.clock_resync",
            extra={
                "what": what,
                "venue_msg": error.msg,
                "offset_before_ms": before,
                "offset_ms": client.timestamp_offset,
            },
        )

    async def _read_failure(self, exc: BinanceAPIException) -> ApiError:
        self._observe(getattr(exc, "response", None))
        return await read_api_error(exc)

    def _api_failure(self, error: ApiError, what: str, kind: CallKind) -> BrokerError:
        if error.code == TIMESTAMP and error.from_binance:
            # (only after the re-sync: `_send` sends once more before this)
            venue_ahead = self.usage.event_offset_ms()
            refused = clock_out_of_sync(
                error,
                what=what,
                host_ahead_ms=-venue_ahead if venue_ahead is not None else None,
                recv_window_ms=self.config.recv_window_ms,
            )
            log.warning(
                "binance.clock_refused",
                extra={
                    "what": what,
                    "venue_msg": error.msg,
                    "host_ahead_ms": refused.host_ahead_ms,
                    "offset_ms": self.usage.offset_ms,
                },
            )
            return refused
        if error.status == 418:
            seconds = error.retry_after
            if seconds is None:
                until = banned_until_ms(error.msg)
                seconds = (until - self.usage.server_ms()) / 1000 if until else DEFAULT_BAN_S
            self.usage.banned_for(seconds)
            log.error("binance.banned", extra={"what": what, "ban_s": seconds})
            return banned(what, seconds, error.code)
        if error.status == 429:
            seconds = error.retry_after
            if seconds is None:
                seconds = self.usage.weight_reset_s()
            self.usage.rate_limited_for(seconds)
            log.warning(
                "binance.rate_limited",
                extra={"what": what, "retry_after_s": seconds, "code": error.code},
            )
            limited = rate_limited(error, what=what, retry_after=seconds)
            if kind is CallKind.CANCEL and seconds > CANCEL_WAIT_S:
                return CancelHeld(str(limited), retry_after=seconds, code=error.code)
            return limited
        mapped = map_api_error(error, what=what, order=kind in SENT_ONCE)
        if kind is CallKind.AMEND and error.code in (AMEND_REJECTED, FILTER_FAILURE):
            mapped = AmendRefused(
                f"{what}: Binance refused the amend (code {error.code}: {error.msg}); it "
                "changed nothing.",
                code=error.code,
            )
        log.info(
            "binance.rest.error",
            extra={
                "what": what,
                "code": error.code,
                "status": error.status,
                "venue_msg": error.msg,
            },
        )
        return mapped

    def _not_started(self, what: str) -> NotConnected:
        return NotConnected(
            f"{what}: not connected to Binance REST at {self.url} yet; the adapter is "
            "connecting. Nothing was sent."
        )

    def _unreadable(self, what: str, kind: CallKind) -> BrokerError:
        if kind in SENT_ONCE:
            return BrokerTimeout(
                f"{what}: Binance's answer could not be read. The order may be working at "
                "Binance: its status is being checked; do not send it again."
            )
        return NotConnected(f"{what}: Binance's answer could not be read.")

    def _observe(self, response: Any) -> None:
        headers = getattr(response, "headers", None)
        if headers is not None:
            self.usage.observe(headers)


async def _close_client(client: Any) -> None:
    """`close_connection()`, bounded and never raising: python-binance can hang closing
    while its WebSocket API reconnects, and a dead connection may fail to close."""
    try:
        await asyncio.wait_for(client.close_connection(), CLOSE_TIMEOUT_S)
    except TimeoutError:
        log.warning("binance.rest.close_timeout", extra={"timeout_s": CLOSE_TIMEOUT_S})
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        log.warning("binance.rest.close_failed", extra={"error": f"{type(exc).__name__}: {exc}"})
