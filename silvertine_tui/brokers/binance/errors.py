"""python-binance's exceptions, aiohttp's and timeouts -> our `BrokerError` types.

Every message names the call, what Binance answered (its code and text) and what to do
next; the venue's code is kept in `code`. Nothing here ever sees the key pair, and no
request (whose signature it carries) is put into a message.

Whether an order may have reached Binance decides the mapping of transport failures:
a connection that could not be opened sent nothing (`NotConnected`: safe to send again);
a timeout, a connection lost after sending, an HTTP 5xx or -1007 leaves the outcome
unknown (`BrokerTimeout`: ask with `query_order`, never send again).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from binance.exceptions import BinanceAPIException

from ..errors import (
    BrokerError,
    BrokerTimeout,
    ConfigurationError,
    InsufficientFunds,
    NotConnected,
    OrderRejected,
    RateLimited,
    UnknownOrder,
)

TIMESTAMP = -1021
BAD_SIGNATURE = -1022
FILTER_FAILURE = -1013
INVALID_SYMBOL = -1121
NEW_ORDER_REJECTED = -2010
CANCEL_REJECTED = -2011
NO_SUCH_ORDER = -2013
BAD_API_KEY_FORMAT = -2014
KEY_REJECTED = -2015
CANCEL_REPLACE_PARTIAL = -2021
CANCEL_REPLACE_FAILED = -2022
TOO_MANY_REQUESTS = -1003
TOO_MANY_ORDERS = -1015
# The venue could not say what happened (Binance: "execution status unknown").
UNKNOWN_OUTCOME_CODES = frozenset({-1000, -1001, -1006, -1007})
KEY_PAIR_CODES = frozenset({BAD_SIGNATURE, BAD_API_KEY_FORMAT, KEY_REJECTED})

# What each filter of exchangeInfo checks, for a -1013 the trader can act on.
FILTER_MEANING = {
    "PRICE_FILTER": "the price is outside the symbol's min/max or not a multiple of its tick size",
    "PERCENT_PRICE": "the price is too far from the recent average price",
    "PERCENT_PRICE_BY_SIDE": "the price is too far from the recent average price",
    "LOT_SIZE": "the quantity is outside the symbol's min/max or not a multiple of its step",
    "MARKET_LOT_SIZE": "the market order's quantity is outside the symbol's market lot size",
    "MIN_NOTIONAL": "the order's value (price x quantity) is below the symbol's minimum",
    "NOTIONAL": "the order's value (price x quantity) is outside the symbol's min/max",
    "MAX_NUM_ORDERS": "the symbol already has the most open orders Binance allows",
    "MAX_NUM_ALGO_ORDERS": "the symbol already has the most open stop orders Binance allows",
    "ICEBERG_PARTS": "the iceberg order has too many parts",
    "TRAILING_DELTA": "the trailing delta is outside the allowed range",
    "MAX_POSITION": "the order would take the position over the symbol's maximum",
}
_FILTER_RE = re.compile(r"Filter failure:\s*([A-Z_]+)")
_BANNED_UNTIL_RE = re.compile(r"banned until (\d+)")


class CredentialsRejected(ConfigurationError):
    """Binance refused the API key pair (-1022, -2014, -2015): a configuration problem."""


class ClockOutOfSync(BrokerError):
    """-1021 again after re-syncing with Binance's server time: Binance refused the
    request and did nothing with it (it judges the timestamp before anything else).
    `clock` says how far off this host's clock is, as a phrase for the trader ("this
    host's clock is 30 s ahead of Binance's"); `host_ahead_ms` is that figure (this
    host's clock minus Binance's, as Binance's stream events show it), None when it is
    not known."""

    def __init__(
        self,
        message: str,
        *,
        code: str | int | None = TIMESTAMP,
        clock: str = "this host's clock is off Binance's",
        host_ahead_ms: int | None = None,
    ) -> None:
        super().__init__(message, code=code)
        self.clock = clock
        self.host_ahead_ms = host_ahead_ms


# What to do about a clock Binance refuses, said wherever it is.
CLOCK_FIX = "fix this host's clock (chrony/NTP: see chronyc tracking or timedatectl)"
# Below this, the host's clock is not said off by a figure (the events' delay).
CLOCK_SAID_MS = 1_000


def clock_said(host_ahead_ms: int | None, error_msg: str, recv_window_ms: int) -> str:
    """How far off this host's clock is, for the trader: by the figure when it is known
    (`host_ahead_ms`: ours minus Binance's, from its stream events), else as much as
    Binance's -1021 message tells (ahead by more than 1 s, or older than the receive
    window)."""
    if host_ahead_ms is not None and abs(host_ahead_ms) >= CLOCK_SAID_MS:
        seconds = abs(host_ahead_ms) / 1000
        figure = f"{seconds:.0f}" if seconds >= 10 else f"{seconds:.1f}"
        way = "ahead of" if host_ahead_ms > 0 else "behind"
        return f"this host's clock is {figure} s {way} Binance's"
    if "ahead" in error_msg.lower():
        return "this host's clock is ahead of Binance's (by more than 1 s, Binance says)"
    return (
        "this host's clock is behind Binance's, or the link that slow (Binance got the "
        f"request more than its {recv_window_ms / 1000:g} s receive window after its time)"
    )


def clock_out_of_sync(
    error: ApiError, *, what: str, host_ahead_ms: int | None, recv_window_ms: int
) -> ClockOutOfSync:
    """-1021 after the re-sync: Binance did nothing with `what`; how far off the clock
    is (`clock_said`) and what to do."""
    clock = clock_said(host_ahead_ms, error.msg, recv_window_ms)
    return ClockOutOfSync(
        f"{what}: Binance refused the request's timestamp even after re-syncing with its "
        f"server time ({_venue(error)}): {clock}. Binance did nothing with it. To trade, "
        f"{CLOCK_FIX}; a larger recv_window_ms in the config tolerates only a slow link.",
        code=error.code,
        clock=clock,
        host_ahead_ms=host_ahead_ms,
    )


class Banned(RateLimited):
    """HTTP 418: Binance banned this IP. Waiting inside a call would not help (bans run
    from minutes to days), so it is not retried; calls are refused until it ends, and
    nothing refused is kept to send after it (`owed` False): a cancel sent by itself
    hours or days later would surprise the trader, who is told to send it again."""

    retryable = False
    owed = False


class FilterFailure(OrderRejected):
    """-1013: the order breaks one of the symbol's exchangeInfo filters (`filter`)."""

    def __init__(self, message: str, *, filter: str, code: int = FILTER_FAILURE) -> None:
        super().__init__(message, code=code)
        self.filter = filter


class InvalidSymbol(OrderRejected):
    """-1121: Binance spot has no such symbol (an order for it is refused)."""


class CancelReplaceFailed(OrderRejected):
    """-2021 (one half failed) or -2022 (both failed). `data` is Binance's answer:
    `cancelResult`/`newOrderResult` (SUCCESS, FAILURE, NOT_ATTEMPTED) and the
    `cancelResponse`/`newOrderResponse` bodies (an error body for the failed half)."""

    def __init__(self, message: str, *, code: int, data: dict[str, Any]) -> None:
        super().__init__(message, code=code)
        self.data = data

    @property
    def cancelled(self) -> bool:
        """The old order is gone (its cancel succeeded)."""
        return self.data.get("cancelResult") == "SUCCESS"

    @property
    def new_order_placed(self) -> bool:
        return self.data.get("newOrderResult") == "SUCCESS"


@dataclass(frozen=True, slots=True)
class ApiError:
    """What Binance answered to a failed call: HTTP status, code, text, the Retry-After
    header (seconds) and any `data` object (cancelReplace)."""

    status: int
    code: int
    msg: str
    retry_after: float | None = None
    data: dict[str, Any] = field(default_factory=dict)
    # False: the body was not Binance's JSON (a proxy's or load balancer's error page).
    from_binance: bool = True


async def read_api_error(exc: BinanceAPIException) -> ApiError:
    """The parts of a `BinanceAPIException` we act on (python-binance drops `data`; the
    aiohttp response it keeps still holds the body it read)."""
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None) or {}
    retry_after: float | None = None
    raw = headers.get("Retry-After")
    if raw is not None:
        try:
            retry_after = float(raw)
        except ValueError:
            retry_after = None
    data: dict[str, Any] = {}
    body: Any = None
    if response is not None:
        try:
            body = json.loads(await response.text())
        except (ValueError, TypeError, aiohttp.ClientError, RuntimeError):
            body = None
        if isinstance(body, dict) and isinstance(body.get("data"), dict):
            data = body["data"]
    status = int(getattr(exc, "status_code", 0) or 0)
    if not isinstance(body, dict) and isinstance(exc.code, int) and exc.code != 0:
        body = {"code": exc.code, "msg": exc.message}  # what python-binance parsed
    if not (isinstance(body, dict) and isinstance(body.get("code"), int)):
        # python-binance's message would then be the response's repr: never show it.
        reason = str(getattr(response, "reason", "") or "")
        return ApiError(
            status=status, code=0, msg=reason, retry_after=retry_after, from_binance=False
        )
    return ApiError(
        status=status,
        code=int(body["code"]),
        msg=str(body.get("msg") or ""),
        retry_after=retry_after,
        data=data,
    )


def ws_api_error(exc: BinanceAPIException) -> ApiError:
    """What Binance answered to a WebSocket API request (a user-data subscription):
    python-binance raises its error answer as a `BinanceAPIException` whose `response`
    is the parsed message, not an HTTP response, and has already read its code and text."""
    code = exc.code if isinstance(exc.code, int) else 0
    status = int(getattr(exc, "status_code", 0) or 0)
    if not code:
        return ApiError(status=status, code=0, msg="", from_binance=False)
    return ApiError(status=status, code=code, msg=str(exc.message or ""))


def banned_until_ms(msg: str) -> int | None:
    """The end of a ban as Binance writes it in a 418's message ("IP banned until N")."""
    found = _BANNED_UNTIL_RE.search(msg)
    return int(found.group(1)) if found else None


def _venue(error: ApiError) -> str:
    if not error.from_binance:
        reason = f" {error.msg}" if error.msg else ""
        return f"HTTP {error.status}{reason}, an answer that is not Binance's: a proxy in between?"
    return f"code {error.code}: {error.msg}" if error.msg else f"code {error.code}"


def map_api_error(error: ApiError, *, what: str, order: bool = False) -> BrokerError:
    """Our error for a Binance error answer to `what` (`order`: a new order/replace).

    429 and 418 are mapped by the caller, which knows how long to wait (`rate_limited`,
    `banned`); -1021 only reaches here after the re-sync retry failed.
    """
    code, venue = error.code, _venue(error)
    if code == TIMESTAMP:
        return ClockOutOfSync(
            f"{what}: Binance refused the request's timestamp even after re-syncing with its "
            f"server time ({venue}). Check this host's clock (NTP) and the network delay; "
            "a larger recv_window_ms in the config tolerates a slow link.",
            code=code,
        )
    if code in KEY_PAIR_CODES:
        return CredentialsRejected(
            f"{what}: Binance refused the API key pair ({venue}). Check api_key and api_secret "
            "(testnet keys only work with testnet: true, live keys only without it), the "
            "key's IP whitelist and that it may trade spot.",
            code=code,
        )
    if code == FILTER_FAILURE:
        found = _FILTER_RE.search(error.msg)
        name = found.group(1) if found else "unknown"
        meaning = FILTER_MEANING.get(name, "the order breaks one of the symbol's rules")
        return FilterFailure(
            f"{what}: Binance refused the order, filter {name}: {meaning} ({venue}). "
            "Adjust the order to the instrument's limits.",
            filter=name,
            code=code,
        )
    if code == NEW_ORDER_REJECTED:
        if "insufficient balance" in error.msg.lower():
            return InsufficientFunds(
                f"{what}: Binance refused the order: not enough free balance ({venue}). "
                "Reduce the quantity or free funds held by open orders.",
                code=code,
            )
        return OrderRejected(f"{what}: Binance refused the order ({venue}).", code=code)
    if code in (CANCEL_REPLACE_PARTIAL, CANCEL_REPLACE_FAILED):
        return CancelReplaceFailed(
            f"{what}: Binance's cancel-replace {_replace_outcome(error.data)} ({venue}).",
            code=code,
            data=error.data,
        )
    if code == CANCEL_REJECTED:
        return UnknownOrder(
            f"{what}: Binance does not know this order any more ({venue}); it has probably "
            "just filled or been cancelled. Its last report tells which.",
            code=code,
        )
    if code == NO_SUCH_ORDER:
        return UnknownOrder(f"{what}: Binance has no such order ({venue}).", code=code)
    if code == INVALID_SYMBOL:
        return InvalidSymbol(
            f"{what}: Binance spot has no such symbol ({venue}). Check the symbols in the config.",
            code=code,
        )
    if code in UNKNOWN_OUTCOME_CODES or error.status >= 500:
        if error.from_binance:
            venue = f"{venue}, HTTP {error.status}"
        if order:
            return BrokerTimeout(
                f"{what}: Binance could not say whether the order was taken ({venue}). Its "
                "status is being checked; do not send it again.",
                code=code,
            )
        return NotConnected(f"{what}: Binance is unavailable ({venue}).", code=code)
    if order:
        return OrderRejected(f"{what}: Binance refused the order ({venue}).", code=code)
    return BrokerError(f"{what}: Binance answered with an error ({venue}).", code=code)


def _replace_outcome(data: dict[str, Any]) -> str:
    cancel = data.get("cancelResult", "UNKNOWN")
    new = data.get("newOrderResult", "UNKNOWN")
    if cancel == "SUCCESS" and new != "SUCCESS":
        return "cancelled the old order but did not place the new one: nothing is working now"
    if cancel != "SUCCESS" and new == "SUCCESS":
        return "placed the new order but could not cancel the old one: both may be working"
    return "changed nothing: the old order stands as it was"


def rate_limited(error: ApiError, *, what: str, retry_after: float) -> RateLimited:
    return RateLimited(
        f"{what}: Binance's rate limit was hit (HTTP 429, {_venue(error)}). Calls pause for "
        f"{retry_after:.0f} s (calling earlier gets the IP banned); nothing was done.",
        retry_after=retry_after,
        code=error.code,
    )


def banned(what: str, seconds_left: float, code: int | None = TOO_MANY_REQUESTS) -> Banned:
    left = max(1, round(seconds_left))
    return Banned(
        f"{what}: Binance has banned this IP for too many requests (HTTP 418); nothing is "
        f"sent for {left} s more. Check for other programs using this IP's weight.",
        retry_after=seconds_left,
        code=code,
    )


def _connect_reason(exc: aiohttp.ClientConnectorError) -> str:
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        return f"DNS lookup failed for {exc.host}"
    if isinstance(exc, aiohttp.ClientConnectorCertificateError | aiohttp.ClientSSLError):
        return "the TLS handshake failed"
    strerror = getattr(exc.os_error, "strerror", None)
    if isinstance(exc.os_error, ConnectionRefusedError):
        return "connection refused"
    return str(strerror).lower() if strerror else type(exc.os_error).__name__


def map_transport_error(
    exc: BaseException, *, what: str, url: str, timeout_s: float, order: bool = False
) -> BrokerError:
    """A failure below HTTP. `order`: a new order/replace, whose outcome is then unknown
    unless the connection was never opened."""
    if isinstance(exc, aiohttp.ClientConnectorError | aiohttp.ConnectionTimeoutError):
        reason = (
            _connect_reason(exc)
            if isinstance(exc, aiohttp.ClientConnectorError)
            else "connect timed out"
        )
        sent = " The order was not sent." if order else ""
        return NotConnected(
            f"{what}: Binance REST at {url} is unreachable ({reason}).{sent} Check the network "
            "and rest_url/testnet in the config; the adapter keeps retrying."
        )
    if isinstance(exc, TimeoutError):
        if order:
            return BrokerTimeout(
                f"{what}: no answer from Binance within {timeout_s:g} s. The order may be "
                "working at Binance: its status is being checked; do not send it again."
            )
        return BrokerTimeout(f"{what}: no answer from Binance within {timeout_s:g} s.")
    kind = type(exc).__name__
    if order:
        return BrokerTimeout(
            f"{what}: the connection to Binance broke after the order was sent ({kind}). "
            "The order may be working at Binance: its status is being checked; do not send "
            "it again."
        )
    return NotConnected(f"{what}: the connection to Binance broke ({kind}).")
