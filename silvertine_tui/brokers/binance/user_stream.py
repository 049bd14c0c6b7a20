"""The user-data stream's life: subscribe, read, notice it died, rebuild it.

python-binance 1.0.37 carries user data over the WebSocket API: the socket manager's
user socket sends `userDataStream.subscribe.signature` and the events land in that
socket's queue. Its traps (shared/notes/brokers.md) shape this module:

- After a drop the library reconnects its WebSocket API connection but never
  re-subscribes: the socket yields `{"e": "error", ...}` and then nothing. A
  `serverShutdown` carries no subscription id and is dropped by the library: only the
  close that follows is seen (an error of type `ConnectionClosedOK`). An
  `eventStreamTerminated` ends the subscription on a live connection. Each of these is
  a lost stream: we re-enter `user_socket()` (which subscribes again) until it works,
  with a growing pause.
- Closing a user socket leaves a reply nobody reads in the client; after about a
  hundred rebuilds on one client its WebSocket API stops answering. Every
  `rebuilds_per_client` rebuilds the client itself is rebuilt (`restart_client`).
- The library's WebSocket API connection can also wedge after a refused reconnect
  (`InvalidStateError` logged by the library, then every subscribe on that client
  fails): after `failures_per_client` failed subscribes in a row the client is rebuilt
  too, instead of waiting for the `rebuilds_per_client`-th rebuild (minutes of backoff).
- The venue itself may be gone (restarted, network down). Before each attempt the
  owner's `check_client()` says whether the client still reaches the venue (a REST
  ping); when it does not, or there is no client (an earlier rebuild found the venue
  away), the attempt rebuilds the client first: building it is what finds the venue
  back, so the stream is subscribed again on the first attempt after it returns. The
  pause between attempts grows to `retry_max_s` and no further.
- Binance may refuse the subscription itself: its answer is mapped as a REST answer is
  (`errors.map_api_error`: a refused key pair is `CredentialsRejected`, saying what to
  check, never the library's exception). A refused key pair does not fix itself within
  seconds, so while it stands the attempts come `refused_retry_s` (60 s) apart, and it
  is logged once, not at every attempt.
- Events are read at once by our own task and handed to `on_event`, never left to pile
  up in the library's queue.
- A connection that freezes (the path to Binance lost without a close: no event, no
  close frame, no reset) is not an error the library sees until websockets' own
  keepalive gives up: a ping every 20 s, 20 s for its pong, so 20 to 40 s of a user
  link read LIVE while nothing could arrive. Silence is no sign (a quiet account sends
  nothing for hours, and Binance sends no heartbeat event on the user stream); a pong
  is: every `ping_every_s` (5 s) the WebSocket API connection that carries the
  subscription is pinged, and a ping not answered within `ping_timeout_s` (10 s) ends
  the stream as lost (`pings_unanswered`), the connection cut so the library
  connects anew: found within 10 to 15 s. Binance answers pings at once and itself
  allows a minute for ours (web-socket-api `General API Information`: it pings every
  20 s and disconnects a connection whose pong does not come within a minute).

The owner is told through three callbacks: `on_event(event)` for every event,
`on_lost(reason)` when the stream is gone (and while it cannot be rebuilt), and
`on_back()` once it is subscribed again (the owner reconciles then). `restart_client()`
builds a new client (raising when it cannot) and `check_client()` probes the current one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from binance import BinanceSocketManager
from binance.exceptions import BinanceAPIException

from ..errors import BrokerError, NotConnected
from .errors import CredentialsRejected, map_api_error, ws_api_error

log = logging.getLogger(__name__)

EventHandler = Callable[[dict[str, Any]], Awaitable[None]]

# Between two attempts while Binance refuses the API key pair (-1022, -2014, -2015).
REFUSED_RETRY_S = 60.0
SUBSCRIBE = "subscribe to user data"
# The user-data connection is pinged this often, and lost when a ping is not answered
# within PING_TIMEOUT_S: a frozen connection is found within 10 to 15 s.
PING_EVERY_S = 5.0
PING_TIMEOUT_S = 10.0
# The ending the ping watch puts on the socket's queue (`ending`): its `m` is the reason.
PING_UNANSWERED = "PingUnanswered"


class UserStream:
    def __init__(
        self,
        *,
        client: Callable[[], Any],
        restart_client: Callable[[], Awaitable[None]],
        on_event: EventHandler,
        on_lost: Callable[[str], Awaitable[None]],
        on_back: Callable[[], Awaitable[None]],
        check_client: Callable[[], Awaitable[bool]] | None = None,
        rebuilds_per_client: int = 20,
        failures_per_client: int = 3,
        retry_first_s: float = 0.2,
        retry_max_s: float = 5.0,
        subscribe_timeout_s: float = 15.0,
        refused_retry_s: float = REFUSED_RETRY_S,
        ping_every_s: float | None = PING_EVERY_S,
        ping_timeout_s: float = PING_TIMEOUT_S,
        name: str = "binance",
    ) -> None:
        self._client = client
        self._restart_client = restart_client
        self._on_event = on_event
        self._on_lost = on_lost
        self._on_back = on_back
        self._check_client = check_client
        self.rebuilds_per_client = max(1, rebuilds_per_client)
        self.failures_per_client = max(1, failures_per_client)
        self.retry_first_s = retry_first_s
        self.retry_max_s = retry_max_s
        self.subscribe_timeout_s = subscribe_timeout_s
        self.refused_retry_s = refused_retry_s
        # None (or 0): no ping watch (websockets' own keepalive alone).
        self.ping_every_s = ping_every_s if ping_every_s else None
        self.ping_timeout_s = ping_timeout_s
        self.name = name
        self.rebuilds = 0
        self.client_restarts = 0
        self.events = 0
        self.pings_unanswered = 0  # streams ended because a ping went unanswered
        self._watch_off_said = False
        self.subscribed = False
        self._manager: Any = None
        self._manager_client: Any = None
        self._socket: Any = None
        self._task: asyncio.Task[None] | None = None

    # -- life -------------------------------------------------------------------------

    async def open(self) -> None:
        """Subscribe now and start reading. Raises what Binance answered
        (`subscribe_error`: `CredentialsRejected` for a refused key pair), else
        `NotConnected`."""
        if self._task is not None and not self._task.done():
            return
        try:
            self._socket = await self._subscribe()
        except Exception as exc:
            raise subscribe_error(exc) from exc
        self._task = asyncio.create_task(self._run(), name=f"user-stream:{self.name}")

    async def close(self, timeout: float = 0.3) -> None:
        """Stop reading and unsubscribe (bounded: a dead connection does not hold us)."""
        task, self._task = self._task, None
        if task is not None:
            await stop_task(task, timeout)
        socket, self._socket = self._socket, None
        self.subscribed = False
        if socket is not None:
            await self._leave(socket, timeout)

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    # -- reading ----------------------------------------------------------------------

    async def _run(self) -> None:
        while True:
            socket = self._socket
            watch = self._watch(socket)
            try:
                reason = await self._read(socket)
            finally:
                if watch is not None:
                    watch.cancel()  # (nothing it does is left half done: see _ping_watch)
                    await asyncio.wait({watch}, timeout=1.0)
            self.subscribed = False
            log.warning("binance.user_stream_lost", extra={"broker": self.name, "reason": reason})
            await self._notify_lost(reason)
            await self._leave(socket, 1.0)
            self._socket = await self._rebuild()
            try:
                await self._on_back()
            except Exception:
                log.exception("binance.user_stream_on_back_failed", extra={"broker": self.name})

    async def _read(self, socket: Any) -> str:
        """Hand every event on; return why the stream ended."""
        while True:
            try:
                message = await receive(socket)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                return f"user-data socket failed ({describe(exc)})"
            ended = ending(message)
            if ended:
                return ended
            await self._dispatch(message)

    def _watch(self, socket: Any) -> asyncio.Task[None] | None:
        """The ping watch of the connection that carries `socket`'s subscription (None:
        no watch, or a socket with no queue to end the reading with)."""
        if self.ping_every_s is None:
            return None
        if not isinstance(getattr(socket, "_queue", None), asyncio.Queue):
            if not self._watch_off_said:
                # (python-binance's socket keeps its queue elsewhere: a library change)
                self._watch_off_said = True
                log.warning(
                    "binance.user_ping_watch_off",
                    extra={"broker": self.name, "socket": type(socket).__name__},
                )
            return None
        return asyncio.create_task(self._ping_watch(socket), name=f"user-ping:{self.name}")

    async def _ping_watch(self, socket: Any) -> None:
        """Ping the WebSocket API connection every `ping_every_s`; a pong not back
        within `ping_timeout_s` ends the stream: its reason goes on the socket's queue
        after the events already there (the reader hands those on first, then returns
        it), and the connection is cut so that the library connects anew (its
        keepalive's way, sooner). A connection closed or being replaced is the
        library's to report: not pinged."""
        every = self.ping_every_s or PING_EVERY_S
        while True:
            await asyncio.sleep(every)
            connection = self._connection()
            if connection is None:
                continue
            began = asyncio.get_running_loop().time()
            try:
                # (Bounded too: a ping waits while the write buffer is full, as it is
                # on a frozen path with our writes piling up.)
                pong = await asyncio.wait_for(connection.ping(), self.ping_timeout_s)
            except asyncio.CancelledError:
                raise
            except TimeoutError:
                pong = None
            except Exception:
                continue
            if pong is not None:
                left = self.ping_timeout_s - (asyncio.get_running_loop().time() - began)
                done, _ = await asyncio.wait({pong}, timeout=max(left, 0.0))
                if done:
                    continue  # answered (or the connection closed: the library says so)
            self.pings_unanswered += 1
            reason = (
                f"no answer on the user-data connection for {self.ping_timeout_s:g} s "
                "(a ping unanswered: the connection is dead without a close)"
            )
            log.warning(
                "binance.user_ping_unanswered",
                extra={
                    "broker": self.name,
                    "timeout_s": self.ping_timeout_s,
                    "count": self.pings_unanswered,
                },
            )
            # (Both at once, nothing awaited: the reader reads this reason before the
            # library's word on the close, and the watch cannot be cancelled between.)
            socket._queue.put_nowait({"e": "error", "type": PING_UNANSWERED, "m": reason})
            drop_connection(connection)
            return

    def _connection(self) -> Any:
        """The open WebSocket API connection the subscription rides (None: none now)."""
        ws_api = getattr(self._client(), "ws_api", None)
        connection = getattr(ws_api, "ws", None)
        if connection is None or not callable(getattr(connection, "ping", None)):
            return None
        return connection

    async def _dispatch(self, message: dict[str, Any]) -> None:
        self.events += 1
        try:
            await self._on_event(message)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception(
                "binance.user_event_failed",
                extra={"broker": self.name, "event_type": message.get("e")},
            )

    async def _notify_lost(self, reason: str) -> None:
        try:
            await self._on_lost(reason)
        except Exception:
            log.exception("binance.user_stream_on_lost_failed", extra={"broker": self.name})

    # -- rebuilding -------------------------------------------------------------------

    async def _rebuild(self) -> Any:
        """Subscribe again until it works; rebuild the client every so often, after
        `failures_per_client` failures in a row, and whenever it is gone or does not
        reach the venue."""
        delay = self.retry_first_s
        failures = 0
        refused = ""  # the refusal of the key pair already logged
        while True:
            self.rebuilds += 1
            renew = self.rebuilds % self.rebuilds_per_client == 0 or (
                failures and failures % self.failures_per_client == 0
            )
            try:
                if renew or not await self._client_reaches_venue():
                    await self._new_client()
                try:
                    return await self._subscribe()
                except BinanceAPIException as exc:
                    raise subscribe_error(exc) from exc
            except asyncio.CancelledError:
                raise
            except CredentialsRejected as exc:
                # Not a failure of this client: no rebuild for it, no quick retry.
                reason = refused_reason(exc, self.refused_retry_s)
                if reason != refused:
                    refused = reason
                    log.error(
                        "binance.key_pair_refused", extra={"broker": self.name, "error": reason}
                    )
                await self._notify_lost(reason)
                await asyncio.sleep(self.refused_retry_s)
                continue
            except Exception as exc:
                failures += 1
                refused = ""
                reason = f"user-data stream could not be rebuilt: {explain(exc)}"
                if "retrying" not in reason:
                    reason += "; retrying"
                log.warning(
                    "binance.user_stream_retry", extra={"broker": self.name, "error": reason}
                )
                await self._notify_lost(reason)
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.retry_max_s)

    async def _client_reaches_venue(self) -> bool:
        if self._client() is None:
            return False
        if self._check_client is None:
            return True
        return await self._check_client()

    async def _new_client(self) -> None:
        """A new client. When none could be built and none is left (the venue is still
        away) the reason is raised: this attempt failed. When the old one stays (during
        a ban nothing new is built) the attempt goes on with it."""
        self._manager = None
        try:
            await self._restart_client()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning(
                "binance.client_restart_failed", extra={"broker": self.name, "error": describe(exc)}
            )
            if self._client() is None:
                raise
            return
        self.client_restarts += 1

    def _user_socket(self) -> Any:
        client = self._client()
        if client is None:
            raise NotConnected("no Binance client (REST not connected)")
        if self._manager is None or self._manager_client is not client:
            self._manager = BinanceSocketManager(client)
            self._manager_client = client
        return self._manager.user_socket()

    async def _subscribe(self) -> Any:
        socket = self._user_socket()
        # The manager hands back the same socket object with whatever is left in its
        # queue: events that came before the drop are still ours; errors are not.
        await self._drain(socket)
        await asyncio.wait_for(socket.__aenter__(), self.subscribe_timeout_s)
        self.subscribed = True
        return socket

    async def _drain(self, socket: Any) -> None:
        queue = getattr(socket, "_queue", None)
        if not isinstance(queue, asyncio.Queue):
            return
        while not queue.empty():
            message = queue.get_nowait()
            if isinstance(message, dict) and not ending(message):
                await self._dispatch(message)

    async def _leave(self, socket: Any, timeout: float) -> None:
        """Unsubscribe, bounded, ignoring errors (the connection may be gone)."""
        with contextlib.suppress(Exception):
            await asyncio.wait_for(socket.__aexit__(None, None, None), timeout)


async def receive(socket: Any) -> Any:
    """The next message of a user socket. For a WebSocket API subscription the library's
    `recv()` only polls the socket's queue with `asyncio.wait_for` every TIMEOUT
    seconds, and Python 3.11's `wait_for` can swallow a cancellation that lands as the
    poll times out (the task then waits for ever): read the queue directly instead."""
    queue = getattr(socket, "_queue", None)
    if getattr(socket, "_uses_ws_api_subscription", False) and isinstance(queue, asyncio.Queue):
        return await queue.get()
    return await socket.recv()


async def stop_task(task: asyncio.Task[Any], timeout: float) -> None:
    """Cancel `task` and wait for it, at most `timeout` s; cancel again while waiting
    (a library may swallow one cancellation)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not task.done():
        task.cancel()
        left = deadline - loop.time()
        if left <= 0:
            log.warning("binance.task_stop_slow", extra={"task": task.get_name()})
            return
        await asyncio.wait({task}, timeout=min(0.05, left))
    with contextlib.suppress(asyncio.CancelledError, Exception):
        task.result()


def drop_connection(connection: Any) -> None:
    """Cut a dead connection at once, as websockets' keepalive does when a pong does not
    come (a close handshake would wait for a peer that cannot answer): the library
    reads the close and connects anew."""
    transport = getattr(connection, "transport", None)
    if transport is not None:
        transport.abort()


def ending(message: Any) -> str:
    """Why this message ends the stream ("" when it is an ordinary event)."""
    if not isinstance(message, dict):
        return ""
    kind = message.get("e")
    if kind == "error":
        what = str(message.get("type", "error"))
        if what == PING_UNANSWERED:
            return str(message.get("m", "")) or "a ping unanswered on the user-data connection"
        if what == "ConnectionClosedOK":
            return "the venue closed the user-data connection (server shutdown or restart)"
        return f"user-data connection lost ({what}: {message.get('m', '')})"
    if kind == "eventStreamTerminated":
        return "the venue ended the user-data subscription (eventStreamTerminated)"
    return ""


def subscribe_error(exc: BaseException) -> BrokerError:
    """Why a subscription failed, as the trader reads it: Binance's error answer mapped
    as a REST one is (a refused key pair: `CredentialsRejected`, naming what to check
    and never the keys), anything else `NotConnected`."""
    if isinstance(exc, BinanceAPIException):
        return map_api_error(ws_api_error(exc), what=SUBSCRIBE)
    return NotConnected(f"user-data stream: {describe(exc)}")


def refused_reason(exc: CredentialsRejected, retry_s: float) -> str:
    """A refused key pair and what the adapter does about it, for the health pane."""
    return (
        f"{str(exc).rstrip()} Tried again every {retry_s:g} s; a key or secret changed "
        "in the config takes a restart."
    )


def explain(exc: BaseException) -> str:
    """Our errors say what happened themselves; anything else by its type and text."""
    text = str(exc)
    return text if isinstance(exc, BrokerError) and text else describe(exc)


def describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
