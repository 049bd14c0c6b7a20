"""Binance public market streams: bookTicker -> Quote, diff depth -> Book, trade -> Trade,
and with a quote subscription miniTicker -> ReferencePrice (the 24 h window's open).
A quote carries the last trade's price as `last` (bookTicker has none): the miniTicker's
close (`c`) or a `@trade` print, whichever the venue stamped later.

One combined ("multiplex") socket from python-binance's `BinanceSocketManager` carries
every subscribed stream. A change of subscriptions rebuilds it (a combined stream's URL
names its streams).

Why we own reconnecting instead of python-binance: its socket reconnects by itself up to
`MAX_RECONNECTS` times, but a book missed every update in between and a close during its
reconnect can hang (docs: tests/fakes/binance/README.md). So each socket is built with
`MAX_RECONNECTS = 0`: any `{"e": "error"}` from it, `ReadLoopClosed`, or a failed
connect means DISCONNECTED with the reason; the socket is closed and a new one is built
with backoff, every stream is on it again, each book is resynced from a REST snapshot,
then the link is LIVE.

A socket that stays open and says nothing (a subscription dead at the venue while the
connection's pings are still answered: python-binance only logs its read timeouts) is
found by a silence watchdog: no message at all on the socket for `silence_s` (the
broker's `market_silence_s` setting, 30 s by default; the miniTicker riding with each
quote pushes about once a second for a traded symbol) and the link is DEGRADED "no
market data for N s", the socket is rebuilt the same way (`stats.reconnects`, each
book resynced), counted in `stats.silences`, and the link stays DEGRADED until a
message arrives, then LIVE.

Reading is prompt: one task only moves messages from the library's queue (more than
`max_queue_size` unread kills its stream) into ours; another decodes and publishes.
A payload that cannot be decoded is counted (`stats.bad_payloads`) and skipped; a
frame that is not JSON at all breaks python-binance's read loop, which we see as an
error and recover from like a drop (and count as a bad payload too).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import quote

from binance import AsyncClient, BinanceSocketManager
from binance.exceptions import ReadLoopClosed
from pydantic import ValidationError

from ...domain import (
    Book,
    ConnectionState,
    MarketDataKind,
    Quote,
    ReferenceBasis,
    ReferencePrice,
    Side,
    Trade,
)
from .book_sync import BookSync, DepthDiff, DepthSnapshot, DiffResult, Level, SnapshotResult
from .user_stream import stop_task

log = logging.getLogger(__name__)

STREAM_SUFFIX = {
    MarketDataKind.QUOTE: "bookTicker",
    MarketDataKind.BOOK: "depth@100ms",
    MarketDataKind.TRADE: "trade",
}
# A quote subscription also carries the instrument's reference price (what the Quotes
# pane's Chg% is measured from): the open of Binance's 24 h rolling window, the `o` of
# this stream (pushed every second: nothing for REST's weight). Its route's kind is None.
REFERENCE_SUFFIX = "miniTicker"
Route = tuple[str, MarketDataKind | None]
# Pauses between reconnects, the last repeated: bounded at 5 s, so quotes come back
# within seconds of the venue (a 30 s step left them stale half a minute after it).
DEFAULT_RETRY_DELAYS = (0.5, 1.0, 2.0, 5.0)
# No message at all on an open socket for this long: its subscriptions are taken as
# dead (the market link DEGRADED) and the socket is rebuilt. Each quoted symbol's
# miniTicker pushes about once a second while it trades; bookTicker and the depth
# stream push on every change.
SILENCE_S = 30.0
# Decode errors of a frame python-binance could not parse (orjson or json).
_DECODE_ERRORS = ("JSONDecodeError", "ValueError", "TypeError", "UnicodeDecodeError")


class BadPayload(ValueError):
    """A stream message we cannot turn into market data (counted, never raised out)."""


@dataclass(slots=True)
class StreamStats:
    messages: int = 0
    bad_payloads: int = 0
    gaps: int = 0
    reconnects: int = 0
    snapshots: int = 0
    dropped: int = 0  # our own queue overflowed (a consumer far too slow)
    silences: int = 0  # sockets rebuilt because nothing came on them for `silence_s`


@dataclass(slots=True)
class _Subscription:
    symbol: str
    kinds: set[MarketDataKind] = field(default_factory=set)


class _Restart(Exception):
    """Subscriptions changed: rebuild the socket (not a failure)."""


@dataclass(frozen=True, slots=True)
class _Silent:
    """Why `_stream` ended: nothing came on the socket for `silence_s`; `quiet_s` is how
    long nothing has come on any socket."""

    quiet_s: float


class MarketStreams:
    """Public market data of Binance spot for a set of instruments (`SYMBOL.VENUE` keys)."""

    def __init__(
        self,
        client: AsyncClient,
        *,
        venue: str = "BINANCE",
        stream_url: str | None,
        depth_snapshot: Callable[[str, int], Awaitable[dict[str, Any]]],
        on_quote: Callable[[Quote], Awaitable[None]],
        on_book: Callable[[Book], Awaitable[None]],
        on_trade: Callable[[Trade], Awaitable[None]],
        on_link: Callable[[ConnectionState, str], Awaitable[None]],
        on_gap: Callable[[str, str], Awaitable[None]],
        on_reference: Callable[[ReferencePrice], Awaitable[None]] | None = None,
        on_venue_time: Callable[[int], None] | None = None,
        last_trades: bool = False,
        depth: int = 10,
        snapshot_limit: int = 100,
        retry_delays: Sequence[float] = DEFAULT_RETRY_DELAYS,
        max_pending: int = 10_000,
        close_timeout_s: float = 1.0,
        stable_after_s: float = 30.0,
        silence_s: float | None = SILENCE_S,
        clock: Callable[[], int] = time.time_ns,
    ) -> None:
        self.client = client
        self.venue = venue
        self.stream_url = stream_url
        self.depth = depth
        self.snapshot_limit = max(snapshot_limit, depth)
        self.retry_delays = tuple(retry_delays) or (1.0,)
        self.close_timeout_s = close_timeout_s
        self.stable_after_s = stable_after_s
        # None (or 0): no silence watchdog.
        self.silence_s = silence_s if silence_s else None
        self.clock = clock
        self.stats = StreamStats()
        self.link_state = ConnectionState.DISCONNECTED
        self.link_detail = ""
        # When data last arrived per instrument (ns): the broker shows its age.
        self.last_data_ns: dict[str, int] = {}
        # The last trade per instrument: (venue time in ms, price).
        self._last_trade: dict[str, tuple[int, Decimal]] = {}
        self._depth_snapshot = depth_snapshot
        self._on_quote = on_quote
        self._on_book = on_book
        self._on_trade = on_trade
        self._on_link = on_link
        self._on_gap = on_gap
        self._on_reference = on_reference
        # Told each event's time by Binance's clock (`E`, ms) as it is read: the broker
        # measures how far off this host's clock is by it (`Usage.note_event_time`).
        self._on_venue_time = on_venue_time
        # miniTicker rides with each quote subscription when someone wants its reference
        # or only the last trade it carries (a paper venue on Binance's prices).
        self._mini_ticker = on_reference is not None or last_trades
        self._subs: dict[str, _Subscription] = {}
        self._routes: dict[str, Route] = {}
        self._books: dict[str, BookSync] = {}
        self._sync_tasks: dict[str, asyncio.Task[None]] = {}
        self._pending: deque[dict[str, Any]] = deque(maxlen=max_pending)
        self._arrived = asyncio.Event()
        self._reader_done = False
        self._changed = asyncio.Event()
        self._supervisor: asyncio.Task[None] | None = None
        self._closed = False
        # Loop time of the last message on the socket now open (its connect before the
        # first), and of the last message on any socket (the first connect before the
        # first message; None before that).
        self._socket_heard_at = 0.0
        self._heard_at: float | None = None
        # A socket was rebuilt for silence: the link is LIVE again only once a message
        # arrives (a connect alone proves nothing about the subscriptions).
        self._awaiting_data = False

    # -- public interface -----------------------------------------------------------

    async def subscribe(self, symbols: Mapping[str, str], kinds: Iterable[MarketDataKind]) -> None:
        """Stream `kinds` for each `key -> SYMBOL`; returns at once (the link reports)."""
        wanted = {MarketDataKind(k) for k in kinds}
        changed = False
        for key, symbol in symbols.items():
            sub = self._subs.setdefault(key, _Subscription(symbol.upper()))
            if not wanted <= sub.kinds:
                sub.kinds |= wanted
                changed = True
        if changed:
            self._restart()

    async def unsubscribe(self, keys: Iterable[str]) -> None:
        changed = False
        for key in keys:
            if self._subs.pop(key, None) is not None:
                changed = True
            self._stop_sync(key)
            self._books.pop(key, None)
        if changed:
            self._restart()

    async def close(self) -> None:
        """Stop streaming; bounded by about `close_timeout_s`."""
        self._closed = True
        for key in list(self._sync_tasks):
            self._stop_sync(key)
        task, self._supervisor = self._supervisor, None
        if task is None:
            return
        task.cancel()
        done, _ = await asyncio.wait({task}, timeout=self.close_timeout_s + 0.2)
        if not done:
            log.warning("binance.market.close_slow", extra={"venue": self.venue})

    @property
    def streams(self) -> list[str]:
        """The stream names the socket carries, in a stable order."""
        return sorted(self._routes_for(self._subs))

    @property
    def bad_payloads(self) -> int:
        return self.stats.bad_payloads

    def book(self, key: str) -> Book | None:
        """The local book now (None until synced)."""
        sync = self._books.get(key)
        return sync.book(self.depth) if sync is not None and sync.synced else None

    # -- the connection -------------------------------------------------------------

    def _restart(self) -> None:
        if self._closed:
            return
        self._changed.set()
        if self._supervisor is None or self._supervisor.done():
            self._supervisor = asyncio.create_task(self._supervise(), name="binance-market")

    def _routes_for(self, subs: Mapping[str, _Subscription]) -> dict[str, Route]:
        routes: dict[str, Route] = {}
        for key, sub in subs.items():
            for kind in sub.kinds:
                routes[f"{sub.symbol.lower()}@{STREAM_SUFFIX[kind]}"] = (key, kind)
            if MarketDataKind.QUOTE in sub.kinds and self._mini_ticker:
                routes[f"{sub.symbol.lower()}@{REFERENCE_SUFFIX}"] = (key, None)
        return routes

    def _manager(self) -> BinanceSocketManager:
        manager = BinanceSocketManager(self.client)
        if self.stream_url:
            # The library picks the testnet/demo URL over STREAM_URL: override them all.
            manager.STREAM_URL = self.stream_url
            manager.STREAM_TESTNET_URL = self.stream_url
            manager.STREAM_DEMO_URL = self.stream_url
        return manager

    async def _supervise(self) -> None:
        """Keep the socket up for as long as anything is subscribed; a bug in here must
        not end market data silently."""
        while not self._closed:
            try:
                await self._run()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.exception("binance.market.supervisor_failed")
                delay = self.retry_delays[-1]
                await self._link(
                    ConnectionState.DISCONNECTED,
                    f"market streams failed ({_describe(exc)}); restarting in {delay:g} s",
                )
                await asyncio.sleep(delay)

    async def _run(self) -> None:
        failures = 0
        loop = asyncio.get_running_loop()
        while not self._closed:
            self._changed.clear()
            self._routes = self._routes_for(self._subs)
            if not self._routes:
                self._awaiting_data = False  # nothing to wait for
                if self.link_state in (ConnectionState.LIVE, ConnectionState.DEGRADED):
                    await self._link(ConnectionState.LIVE, "no streams subscribed")
                await self._changed.wait()
                continue
            socket = self._manager().multiplex_socket(sorted(self._routes))
            socket.MAX_RECONNECTS = 0  # we reconnect (see the module docstring)
            try:
                await socket.__aenter__()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                failures += 1
                delay = self._delay(failures)
                await self._link(
                    ConnectionState.DISCONNECTED,
                    f"market streams unreachable ({_describe(exc)}); "
                    f"retrying in {delay:g} s (attempt {failures})",
                )
                await self._wait_or_change(delay)
                continue
            if failures:
                log.info("binance.market.connected", extra={"attempts": failures + 1})
            connected_at = loop.time()
            try:
                reason = await self._stream(socket)
            finally:
                self._stop_all_syncs()
                await self._close_socket(socket)
            if reason is None:  # subscriptions changed, or closing
                failures = 0
                continue
            self.stats.reconnects += 1
            # A socket that fails soon after connecting keeps the backoff growing (a
            # venue that accepts and drops must not be hammered); a stable one resets it.
            if loop.time() - connected_at >= self.stable_after_s:
                failures = 0
            failures += 1
            delay = self._delay(failures)
            if isinstance(reason, _Silent):
                await self._silent(reason, delay)
            else:
                await self._link(
                    ConnectionState.DISCONNECTED,
                    f"market streams lost ({reason}); reconnecting in {delay:g} s",
                )
            await self._wait_or_change(delay)

    async def _silent(self, silent: _Silent, delay: float) -> None:
        """Nothing came on the socket for `silence_s`: shown, counted and logged; the
        caller rebuilds it."""
        self.stats.silences += 1
        self._awaiting_data = True
        log.warning(
            "binance.market.silent",
            extra={
                "venue": self.venue,
                "quiet_s": round(silent.quiet_s, 1),
                "silence_s": self.silence_s,
                "streams": len(self._routes),
                "count": self.stats.silences,
            },
        )
        await self._link(
            ConnectionState.DEGRADED,
            f"{self._quiet_text()}; rebuilding the streams in {delay:g} s",
        )

    def _quiet_text(self) -> str:
        """`no market data for N s`: since the last message on any socket (since the
        first connect when none came yet)."""
        since = self._heard_at if self._heard_at is not None else self._socket_heard_at
        return f"no market data for {_seconds(asyncio.get_running_loop().time() - since)} s"

    def _delay(self, failures: int) -> float:
        return self.retry_delays[min(failures, len(self.retry_delays)) - 1]

    async def _wait_or_change(self, delay: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._changed.wait(), delay)

    async def _stream(self, socket: Any) -> str | _Silent | None:
        """Run one connected socket: None when it should be rebuilt for new
        subscriptions, else why it failed (`_Silent`: nothing came for `silence_s`)."""
        self._pending.clear()
        self._reader_done = False
        self._socket_heard_at = asyncio.get_running_loop().time()
        if self._heard_at is None:
            self._heard_at = self._socket_heard_at
        for key, sub in self._subs.items():
            if MarketDataKind.BOOK in sub.kinds:
                self._start_sync(key)
        if self._awaiting_data:
            await self._link(
                ConnectionState.DEGRADED,
                f"{self._quiet_text()}; {self._up_text()} again, waiting for data",
            )
        else:
            await self._link(ConnectionState.LIVE, self._up_text())
        reader = asyncio.create_task(self._read(socket), name="binance-market-read")
        worker = asyncio.create_task(self._work(), name="binance-market-work")
        changed = asyncio.create_task(self._changed.wait(), name="binance-market-changed")
        tasks: set[asyncio.Task[Any]] = {reader, worker, changed}
        watchdog: asyncio.Task[_Silent] | None = None
        if self.silence_s is not None:
            watchdog = asyncio.create_task(
                self._watch_silence(self.silence_s), name="binance-market-silence"
            )
            tasks.add(watchdog)
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            if reader in done and worker not in done:
                # What arrived before the failure is still good data: publish it.
                self._reader_done = True
                self._arrived.set()
                await asyncio.wait({worker}, timeout=self.close_timeout_s)
        finally:
            # Cancelled again until done: the library's `recv()` polls with 3.11's
            # `wait_for`, which can swallow one cancellation (the reader then never ends
            # and the socket is never rebuilt for new subscriptions).
            for task in tasks:
                await stop_task(task, self.close_timeout_s)
        if reader in done and not reader.cancelled():
            return reader.result()
        if worker.done() and not worker.cancelled() and worker.exception() is not None:
            return f"internal error: {worker.exception()!r}"
        if watchdog is not None and watchdog in done and not watchdog.cancelled():
            return watchdog.result()
        return None

    def _up_text(self) -> str:
        count = len(self._routes)
        return f"{count} stream{'' if count == 1 else 's'} up"

    async def _watch_silence(self, silence_s: float) -> _Silent:
        """Return once nothing has come on this socket for `silence_s` (heartbeats are
        the library's and prove nothing about the subscriptions)."""
        loop = asyncio.get_running_loop()
        while True:
            quiet = loop.time() - self._socket_heard_at
            if quiet >= silence_s:
                since = self._heard_at if self._heard_at is not None else self._socket_heard_at
                return _Silent(max(quiet, loop.time() - since))
            await asyncio.sleep(silence_s - quiet)

    async def _read(self, socket: Any) -> str:
        """Move messages from python-binance's queue to ours, promptly. Returns why the
        socket failed (an error message from the library or a closed read loop)."""
        loop = asyncio.get_running_loop()
        while True:
            try:
                message = await socket.recv()
            except ReadLoopClosed:
                return "the library's read loop closed"
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                return _describe(exc)
            if isinstance(message, dict) and message.get("e") == "error":
                kind = str(message.get("type", "error"))
                if kind in _DECODE_ERRORS:
                    self._count_bad("a frame that is not JSON", message)
                return f"{kind}: {message.get('m', '')}".rstrip(": ")
            self._socket_heard_at = self._heard_at = loop.time()
            if len(self._pending) == self._pending.maxlen:
                self.stats.dropped += 1
            self._pending.append(message)
            self._arrived.set()

    async def _work(self) -> None:
        while True:
            while not self._pending:
                if self._reader_done:
                    return
                self._arrived.clear()
                await self._arrived.wait()
            message = self._pending.popleft()
            if self._awaiting_data:
                # Data flows again after a silence.
                self._awaiting_data = False
                log.info("binance.market.data_again", extra={"venue": self.venue})
                await self._link(ConnectionState.LIVE, self._up_text())
            try:
                await self._handle(message)
            except (BadPayload, ValidationError) as exc:
                self._count_bad(str(exc), message)
            except asyncio.CancelledError:
                raise
            except Exception:
                # A publisher failed: market data goes on, the failure is logged.
                log.exception("binance.market.publish_failed")

    async def _close_socket(self, socket: Any) -> None:
        """Close a python-binance socket within `close_timeout_s` whatever its state."""
        with contextlib.suppress(Exception):
            ws = socket.ws
            if ws is not None:
                await asyncio.wait_for(ws.close(), self.close_timeout_s * 0.3)
        try:
            await asyncio.wait_for(socket.__aexit__(None, None, None), self.close_timeout_s * 0.6)
        except Exception as exc:
            log.warning("binance.market.socket_close_failed", extra={"error": _describe(exc)})

    async def _link(self, state: ConnectionState, detail: str) -> None:
        if state is self.link_state and detail == self.link_detail:
            return
        self.link_state, self.link_detail = state, detail
        log.info("binance.market.link", extra={"state": str(state), "detail": detail})
        try:
            await self._on_link(state, detail)
        except Exception:
            log.exception("binance.market.on_link_failed")

    # -- books ------------------------------------------------------------------------

    def _start_sync(self, key: str) -> None:
        self._stop_sync(key)
        sync = self._books.get(key)
        if sync is None:
            sync = self._books[key] = BookSync(key)
        else:
            sync.reset()
        self._sync_tasks[key] = asyncio.create_task(self._sync(key, sync), name=f"sync:{key}")

    def _stop_sync(self, key: str) -> None:
        task = self._sync_tasks.pop(key, None)
        if task is not None:
            task.cancel()

    def _stop_all_syncs(self) -> None:
        for key in list(self._sync_tasks):
            self._stop_sync(key)
        for sync in self._books.values():
            sync.reset()

    async def _sync(self, key: str, sync: BookSync) -> None:
        """Fetch snapshots until the buffered diffs chain onto one, then publish."""
        symbol = self._subs[key].symbol
        attempt = 0
        while True:
            try:
                answer = await self._depth_snapshot(symbol, self.snapshot_limit)
                self.stats.snapshots += 1
                snapshot = parse_snapshot(answer)
                result = sync.load_snapshot(snapshot)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                attempt += 1
                delay = self._delay(attempt)
                log.warning(
                    "binance.market.snapshot_failed",
                    extra={"instrument": key, "error": _describe(exc), "retry_s": delay},
                )
                await asyncio.sleep(delay)
                continue
            if result is SnapshotResult.SYNCED:
                break
            attempt += 1
            await asyncio.sleep(min(self._delay(attempt), 0.1 * attempt))
        self._sync_tasks.pop(key, None)
        if sync.missed is not None:
            first, last = sync.missed
            sync.missed = None
            await self._report_gap(
                key, f"missed book updates {first}..{last}; resynced from a snapshot"
            )
        await self._publish_book(key, sync)

    async def _report_gap(self, key: str, what: str) -> None:
        self.stats.gaps += 1
        log.warning("binance.market.gap", extra={"instrument": key, "detail": what})
        try:
            await self._on_gap(key, what)
        except Exception:
            log.exception("binance.market.on_gap_failed")

    async def _publish_book(self, key: str, sync: BookSync) -> None:
        self.last_data_ns[key] = self.clock()
        await self._on_book(sync.book(self.depth))

    # -- messages ---------------------------------------------------------------------

    async def _handle(self, message: Any) -> None:
        self.stats.messages += 1
        if not isinstance(message, dict):
            raise BadPayload(f"a {type(message).__name__} instead of an object")
        stream, data = message.get("stream"), message.get("data")
        if not isinstance(stream, str) or not isinstance(data, dict):
            raise BadPayload("not a combined-stream message ({stream, data})")
        route = self._routes.get(stream)
        if route is None:
            raise BadPayload(f"unknown stream {stream!r}")
        key, kind = route
        venue_ms = data.get("E")
        if self._on_venue_time is not None and type(venue_ms) is int:
            self._on_venue_time(venue_ms)
        if key not in self._subs:
            return  # unsubscribed while it was queued
        if kind is None:
            reference = parse_mini_ticker(key, data)
            close = _dec(data, "c")
            if close > 0:
                self.note_last_trade(key, close, _int(data, "E"))
            if reference is not None and self._on_reference is not None:
                await self._on_reference(reference)
        elif kind is MarketDataKind.QUOTE:
            quote = parse_book_ticker(key, data, self.last_trade(key))
            self.last_data_ns[key] = self.clock()
            await self._on_quote(quote)
        elif kind is MarketDataKind.TRADE:
            trade = parse_trade(key, data)
            self.last_data_ns[key] = self.clock()
            if trade.venue_ts_ns is not None:
                self.note_last_trade(key, trade.price, trade.venue_ts_ns // 1_000_000)
            await self._on_trade(trade)
        else:
            await self._on_depth(key, parse_depth_update(data))

    def note_last_trade(self, key: str, price: Decimal, venue_ms: int) -> None:
        """Hold `price` as `key`'s last trade unless the one held is later by the
        venue's clock (the streams of one socket are not ordered among themselves)."""
        held = self._last_trade.get(key)
        if held is None or venue_ms >= held[0]:
            self._last_trade[key] = (venue_ms, price)

    def last_trade(self, key: str) -> Decimal | None:
        held = self._last_trade.get(key)
        return held[1] if held is not None else None

    async def _on_depth(self, key: str, diff: DepthDiff) -> None:
        sync = self._books.get(key)
        if sync is None:
            return
        result = sync.on_diff(diff)
        if result is DiffResult.APPLIED:
            await self._publish_book(key, sync)
        elif result is DiffResult.GAP:
            self._start_sync_keeping_buffer(key, sync)

    def _start_sync_keeping_buffer(self, key: str, sync: BookSync) -> None:
        """Resync after a gap: the diff that showed it stays buffered."""
        self._stop_sync(key)
        self._sync_tasks[key] = asyncio.create_task(self._sync(key, sync), name=f"sync:{key}")

    def _count_bad(self, what: str, message: Any) -> None:
        self.stats.bad_payloads += 1
        log.warning(
            "binance.market.bad_payload",
            extra={
                "problem": what,
                "payload": repr(message)[:200],
                "count": self.stats.bad_payloads,
            },
        )


# -- payloads ------------------------------------------------------------------------


def parse_book_ticker(key: str, data: Mapping[str, Any], last: Decimal | None = None) -> Quote:
    """A bookTicker as a quote. Binance says an empty side as a price of 0
    (`"b": "0.00000000"`): that side is none (price and size None, as IB's adapter
    says a side TWS has no price for), never a bid of 0 shown, spread or prefilled."""
    bid, bid_size = _side(data, "b", "B")
    ask, ask_size = _side(data, "a", "A")
    return Quote(
        instrument=key,
        bid=bid,
        bid_size=bid_size,
        ask=ask,
        ask_size=ask_size,
        last=last,
    )


def _side(
    data: Mapping[str, Any], price_name: str, size_name: str
) -> tuple[Decimal | None, Decimal | None]:
    """One side of a bookTicker: (price, size), or (None, None) when it is empty."""
    price, size = _dec(data, price_name), _dec(data, size_name)
    if price == 0:
        return None, None
    return price, size


def parse_mini_ticker(key: str, data: Mapping[str, Any]) -> ReferencePrice | None:
    """The open of the 24 h window (`o`) as the instrument's reference, stamped with the
    event time (`E`); None when it is 0 (no trade in the window: no reference)."""
    opened = _dec(data, "o")
    if opened == 0:
        return None
    return ReferencePrice(
        instrument=key,
        price=opened,
        basis=ReferenceBasis.OPEN_24H,
        venue_ts_ns=_int(data, "E") * 1_000_000,
    )


def symbols_param(symbols: Sequence[str]) -> str:
    """A `symbols` parameter (GET exchangeInfo, ticker/24hr): a JSON list, URL-encoded
    here (python-binance quotes only `symbol`; this value goes into the URL as given)."""
    return quote(json.dumps(list(symbols), separators=(",", ":")))


def last_of_ticker(data: Mapping[str, Any]) -> tuple[Decimal, int] | None:
    """A GET ticker/24hr answer's last trade: `lastPrice` at the window's end
    (`closeTime`, ms); None when it is 0 (no trade in the window)."""
    last = _dec(data, "lastPrice")
    return (last, _int(data, "closeTime")) if last > 0 else None


def reference_of_ticker(key: str, data: Mapping[str, Any]) -> ReferencePrice | None:
    """The same from a GET ticker/24hr answer (FULL or MINI): `openPrice`, stamped with
    the window's end (`closeTime`)."""
    opened = _dec(data, "openPrice")
    if opened == 0:
        return None
    return ReferencePrice(
        instrument=key,
        price=opened,
        basis=ReferenceBasis.OPEN_24H,
        venue_ts_ns=_int(data, "closeTime") * 1_000_000,
    )


def parse_trade(key: str, data: Mapping[str, Any]) -> Trade:
    maker = data.get("m")
    if not isinstance(maker, bool):
        raise BadPayload("trade without a boolean 'm' (buyer is maker)")
    qty = _dec(data, "q")
    if qty <= 0:
        raise BadPayload(f"trade quantity {qty} is not positive")
    # The buyer resting (maker) means the seller crossed the spread.
    return Trade(
        instrument=key,
        price=_dec(data, "p"),
        quantity=qty,
        aggressor=Side.SELL if maker else Side.BUY,
        trade_id=str(_int(data, "t")),
        venue_ts_ns=_int(data, "T") * 1_000_000 if "T" in data else None,
    )


def parse_depth_update(data: Mapping[str, Any]) -> DepthDiff:
    first, last = _int(data, "U"), _int(data, "u")
    if first > last:
        raise BadPayload(f"depth update ids run backwards (U {first} > u {last})")
    return DepthDiff(
        first=first,
        last=last,
        bids=_levels(data, "b"),
        asks=_levels(data, "a"),
        event_ms=_int(data, "E") if "E" in data else None,
    )


def parse_snapshot(data: Mapping[str, Any]) -> DepthSnapshot:
    return DepthSnapshot(
        last_update_id=_int(data, "lastUpdateId"),
        bids=_levels(data, "bids"),
        asks=_levels(data, "asks"),
    )


def _dec(data: Mapping[str, Any], name: str) -> Decimal:
    return _decimal(data.get(name), name)


def _decimal(value: Any, name: str) -> Decimal:
    # Binance sends numbers as strings; a float here would already have lost digits.
    if not isinstance(value, str):
        raise BadPayload(f"{name!r} is {type(value).__name__}, not a decimal string")
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise BadPayload(f"{name!r} is not a number: {value[:40]!r}") from None
    if not number.is_finite() or number < 0:
        raise BadPayload(f"{name!r} is not a finite non-negative number: {value[:40]!r}")
    return number


def _int(data: Mapping[str, Any], name: str) -> int:
    value = data.get(name)
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadPayload(f"{name!r} is {type(value).__name__}, not an integer")
    return value


def _levels(data: Mapping[str, Any], name: str) -> tuple[Level, ...]:
    raw = data.get(name)
    if not isinstance(raw, list):
        raise BadPayload(f"{name!r} is not a list of levels")
    out: list[Level] = []
    for level in raw:
        if not isinstance(level, list | tuple) or len(level) < 2:
            raise BadPayload(f"a level of {name!r} is not [price, quantity]")
        out.append((_decimal(level[0], "price"), _decimal(level[1], "quantity")))
    return tuple(out)


def _seconds(value: float) -> str:
    """A duration for a link's detail: whole seconds, tenths below 10 s."""
    return f"{value:.0f}" if value >= 10 else f"{value:.1f}".removesuffix(".0")


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
