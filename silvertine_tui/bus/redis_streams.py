"""Redis Streams backend (redis-py asyncio + hiredis).

Writing
- Execution, health, signal and risk events: one XADD each, awaited, in call order
  (an asyncio lock keeps the order). If Redis is down the event joins a bounded
  outage backlog, flushed in order by the reconnect loop; new events queue behind it.
  redis-py's own retries are off: a retried XADD can be written twice, and we would
  rather know. Consumers are idempotent on `event_id` for the re-send we do make.
- Market data: coalesced to the latest per (source, type, instrument) and written by
  one flusher task in pipelines; `MAXLEN ~` keeps the stream bounded. Trades are not
  coalesced. Publishing waits when too much is pending (backpressure, not memory).

Reading: each `tail` owns a connection; XREAD BLOCK `block_ms` (<= 2 s) with a socket
timeout above it, always from the last id it applied.

Restarts: redis-py reconnects silently, so errors cannot be trusted to reveal a
restart. A watcher compares the epoch key (SET NX at start), the server `run_id`
and, for streams we wrote, `XINFO STREAM last-generated-id` against our last id.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections import deque
from collections.abc import AsyncIterator, Iterable, Mapping
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from ..domain import ConnectionState
from ..events import EventBase, Health, HealthEvent, coalesce_key, decode, encode
from ..events.codec import FieldMap
from .base import (
    BusEntry,
    BusOptions,
    BusOverflowError,
    BusStats,
    BusUnavailableError,
    DataLossListener,
    StreamInfo,
    parse_id,
)
from .layout import StreamLayout

log = logging.getLogger(__name__)

_DOWN = (RedisConnectionError, RedisTimeoutError, ConnectionError, TimeoutError, OSError)


def redact_url(url: str) -> str:
    """Drop any password from a redis URL (`redis://:***@host:6379/0`)."""
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return url
    creds, _, host = rest.rpartition("@")
    user = creds.partition(":")[0]
    return f"{scheme}://{user}:***@{host}"


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes | bytearray) else str(value)


class RedisBus:
    backend = "redis"

    def __init__(
        self, url: str, options: BusOptions | None = None, *, password: str | None = None
    ) -> None:
        self.options = options or BusOptions()
        if not 1 <= self.options.block_ms <= 2_000:
            raise ValueError("block_ms must be between 1 and 2000")
        self.url = redact_url(url)
        self.stats = BusStats(backend=self.backend, url=self.url)
        self._raw_url = url
        self._password = password
        self._writer = self._client(socket_timeout=5.0)
        self._exec_lock = asyncio.Lock()
        self._backlog: deque[tuple[str, FieldMap, int | None]] = deque()
        self._md_pending: dict[str, tuple[str, EventBase]] = {}
        self._md_inflight = 0
        self._md_wakeup = asyncio.Event()
        self._md_space = asyncio.Event()
        self._md_space.set()
        self._connected = False
        self._closed = False
        self._tasks: list[asyncio.Task[None]] = []
        self._reconnect_task: asyncio.Task[None] | None = None
        self._epoch: bytes | str | None = None
        self._run_id: str | None = None
        self._last_written: dict[str, str] = {}
        self._floors: dict[str, str] = {}
        self._listeners: list[DataLossListener] = []
        self._last_trim = 0.0

    # -- connection ---------------------------------------------------------------

    def _client(self, socket_timeout: float) -> Redis:
        return Redis.from_url(
            self._raw_url,
            password=self._password,
            decode_responses=False,
            socket_timeout=socket_timeout,
            socket_connect_timeout=2.0,
            retry=Retry(NoBackoff(), 0),
            health_check_interval=0,
        )

    @property
    def layout(self) -> StreamLayout:
        return self.options.layout

    async def start(self) -> None:
        try:
            await self._writer.ping()
            self._run_id = await self._server_run_id()
            await self._claim_epoch()
        except _DOWN as exc:
            raise BusUnavailableError(
                f"cannot reach Redis at {self.url} ({type(exc).__name__}: {exc}). "
                "Is redis-server running and is bus.url right?"
            ) from None
        except RedisError as exc:
            raise BusUnavailableError(
                f"Redis at {self.url} refused the connection: {exc}. Check bus.url and "
                "the password (bus.password or the URL)."
            ) from None
        self._connected = True
        self.stats.connected = True
        self._tasks = [
            asyncio.create_task(self._md_flusher(), name="bus-md-flusher"),
            asyncio.create_task(self._watcher(), name="bus-watcher"),
        ]

    async def close(self) -> None:
        if self._closed:
            return
        with contextlib.suppress(Exception):
            await self.flush(timeout=2.0)
        self._closed = True
        self._md_wakeup.set()
        self._md_space.set()
        tasks = [*self._tasks]
        if self._reconnect_task is not None:
            tasks.append(self._reconnect_task)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._connected = False
        self.stats.connected = False
        await self._writer.aclose()

    async def _server_run_id(self) -> str:
        info = await self._writer.info("server")
        return _text(info.get("run_id", ""))

    async def _claim_epoch(self) -> None:
        token = f"{time.time_ns():x}-{secrets.token_hex(8)}".encode()
        await self._writer.set(self.layout.epoch_key, token, nx=True)
        self._epoch = await self._writer.get(self.layout.epoch_key)

    def _mark_down(self, exc: BaseException) -> None:
        self.stats.write_errors += 1
        self.stats.last_error = f"{type(exc).__name__}: {exc}"[:200]
        if self._connected:
            log.warning("bus.redis.down", extra={"url": self.url, "error": self.stats.last_error})
        self._connected = False
        self.stats.connected = False
        if not self._closed and (self._reconnect_task is None or self._reconnect_task.done()):
            self._reconnect_task = asyncio.create_task(self._reconnect(), name="bus-reconnect")

    async def _reconnect(self) -> None:
        delay = 0.05
        while not self._closed:
            try:
                await self._writer.ping()
                # Check for lost data before the backlog lands, so the gap check sees it.
                await self._check_restart()
                await self._flush_backlog()
            except _DOWN:
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)
                continue
            self._connected = True
            self.stats.connected = True
            self.stats.reconnects += 1
            self._md_wakeup.set()
            log.info("bus.redis.reconnected", extra={"url": self.url})
            await self._publish_health(ConnectionState.LIVE, "Redis connection restored")
            return

    async def _flush_backlog(self) -> None:
        """Write the outage backlog in order; entries leave it only once written."""
        size = self.options.pipeline_size
        while self._backlog:
            batch = [self._backlog[i] for i in range(min(size, len(self._backlog)))]
            pipe = self._writer.pipeline(transaction=False)
            for stream, fields, maxlen in batch:
                pipe.xadd(stream, fields, maxlen=maxlen, approximate=True)  # type: ignore[arg-type]
            ids = await pipe.execute()
            for (stream, _, _), entry_id in zip(batch, ids, strict=True):
                self._backlog.popleft()
                self._last_written[stream] = _text(entry_id)
                self.stats.published += 1
            self.stats.exec_buffered = len(self._backlog)

    # -- publishing ---------------------------------------------------------------

    def _maxlen(self, stream: str) -> int | None:
        if stream == self.layout.health:
            return self.options.health_maxlen
        return None

    async def publish(self, event: EventBase) -> str | None:
        stream = self.layout.route(event)
        if stream.startswith(f"{self.options.prefix}:md:"):
            await self._enqueue_md(stream, event)
            return None
        fields = encode(event)
        maxlen = self._maxlen(stream)
        async with self._exec_lock:
            if self._backlog or not self._connected:
                self._buffer(stream, fields, maxlen)
                return None
            try:
                entry_id = _text(
                    await self._writer.xadd(stream, fields, maxlen=maxlen, approximate=True)  # type: ignore[arg-type]
                )
            except _DOWN as exc:
                self._buffer(stream, fields, maxlen)
                self._mark_down(exc)
                return None
        self._last_written[stream] = entry_id
        self.stats.published += 1
        return entry_id

    def _buffer(self, stream: str, fields: FieldMap, maxlen: int | None) -> None:
        if len(self._backlog) >= self.options.exec_buffer:
            self.stats.exec_overflow += 1
            log.error("bus.redis.overflow", extra={"stream": stream, "size": len(self._backlog)})
            raise BusOverflowError(
                f"Redis at {self.url} is unreachable and the outage buffer is full "
                f"({self.options.exec_buffer} events): this event was not journaled. "
                "Restore Redis or raise bus.exec_buffer."
            )
        self._backlog.append((stream, fields, maxlen))
        self.stats.exec_buffered = len(self._backlog)

    async def publish_many(self, events: Iterable[EventBase]) -> None:
        for event in events:
            await self.publish(event)

    async def _enqueue_md(self, stream: str, event: EventBase) -> None:
        while len(self._md_pending) >= self.options.md_max_pending and not self._closed:
            self._md_space.clear()
            await self._md_space.wait()
        key = coalesce_key(event)
        if key is None:
            key = event.event_id
        elif key in self._md_pending:
            self.stats.md_coalesced += 1
        self._md_pending[key] = (stream, event)
        self._md_wakeup.set()

    async def _md_flusher(self) -> None:
        interval = self.options.md_flush_interval_ms / 1000
        maxlen = self.options.md_maxlen
        size = self.options.pipeline_size
        while not self._closed:
            await self._md_wakeup.wait()
            self._md_wakeup.clear()
            if not self._connected:
                continue
            if interval:
                await asyncio.sleep(interval)
            while self._md_pending and self._connected:
                batch = self._md_pending
                if len(batch) > size:
                    keys = list(batch)[:size]
                    batch = {k: batch.pop(k) for k in keys}
                else:
                    self._md_pending = {}
                self._md_space.set()
                self._md_inflight = len(batch)
                pipe = self._writer.pipeline(transaction=False)
                for stream, event in batch.values():
                    pipe.xadd(stream, encode(event), maxlen=maxlen, approximate=True)  # type: ignore[arg-type]
                try:
                    await pipe.execute()
                except _DOWN as exc:
                    # Keep the newest per key; what was superseded meanwhile is dropped.
                    for key, item in batch.items():
                        if key not in self._md_pending:
                            self._md_pending[key] = item
                        else:
                            self.stats.md_dropped += 1
                    self._mark_down(exc)
                    break
                finally:
                    self._md_inflight = 0
                self.stats.published_md += len(batch)
                self.stats.published += len(batch)

    async def flush(self, timeout: float = 10.0) -> None:
        """Wait until pending market data and the outage backlog are written."""
        deadline = time.monotonic() + timeout
        while self._md_pending or self._md_inflight or self._backlog:
            if time.monotonic() > deadline:
                raise BusUnavailableError(
                    f"Redis at {self.url}: {len(self._backlog)} execution events and "
                    f"{len(self._md_pending)} market data keys still unwritten after "
                    f"{timeout:.0f}s. Is Redis up?"
                )
            self._md_wakeup.set()
            await asyncio.sleep(0.001)

    # -- reading ------------------------------------------------------------------

    def _entries(self, stream: str, raw: Iterable[Any]) -> list[BusEntry]:
        out = []
        for entry_id, fields in raw:
            decoded = decode(fields)
            self.stats.count_decoded(decoded)
            out.append(BusEntry(stream, _text(entry_id), decoded))
        return out

    async def read(
        self, stream: str, start: str = "-", end: str = "+", count: int | None = None
    ) -> list[BusEntry]:
        raw = await self._writer.xrange(stream, start, end, count=count)
        return self._entries(stream, raw or [])

    async def replay(
        self, stream: str, after: str = "0-0", batch: int = 1_000
    ) -> AsyncIterator[BusEntry]:
        cursor = after
        while True:
            entries = await self.read(stream, f"({cursor}", "+", batch)
            for entry in entries:
                yield entry
            if len(entries) < batch:
                return
            cursor = entries[-1].id

    async def _last_id(self, stream: str) -> str:
        raw = await self._writer.xrevrange(stream, "+", "-", count=1)
        return _text(raw[0][0]) if raw else "0-0"

    async def tail(self, streams: Mapping[str, str]) -> AsyncIterator[BusEntry]:
        last: dict[str, str] = {}
        for name, entry_id in streams.items():
            last[name] = await self._last_id(name) if entry_id == "$" else entry_id
        block = self.options.block_ms
        reader = self._client(socket_timeout=block / 1000 + 3.0)
        delay = 0.05
        try:
            while not self._closed:
                try:
                    response: Any = await reader.xread(last, count=1_000, block=block)  # type: ignore[arg-type]
                except _DOWN as exc:
                    self.stats.read_errors += 1
                    self.stats.last_error = f"{type(exc).__name__}: {exc}"[:200]
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 2.0)
                    continue
                delay = 0.05
                for raw_stream, raw_entries in response or []:
                    name = _text(raw_stream)
                    entries = self._entries(name, raw_entries)
                    if entries:
                        last[name] = entries[-1].id
                    for entry in entries:
                        yield entry
        finally:
            await reader.aclose()

    async def streams(self, pattern: str = "*") -> list[str]:
        found: set[str] = set()
        async for key in self._writer.scan_iter(
            match=f"{self.options.prefix}:{pattern}", _type="stream", count=500
        ):
            found.add(_text(key))
        return sorted(found)

    async def info(self, stream: str) -> StreamInfo | None:
        try:
            raw = await self._writer.xinfo_stream(stream)
        except ResponseError:
            return None
        first = raw.get("first-entry")
        last = raw.get("last-entry")
        return StreamInfo(
            length=int(raw.get("length", 0)),
            first_id=_text(first[0]) if first else None,
            last_id=_text(last[0]) if last else None,
            last_generated_id=_text(raw.get("last-generated-id", b"0-0")),
            entries_added=int(raw.get("entries-added", 0)),
        )

    # -- journal trimming -----------------------------------------------------------

    async def set_snapshot_floor(self, stream: str, entry_id: str) -> None:
        """Allow trimming `stream` up to `entry_id` (covered by a snapshot), by age."""
        self._floors[stream] = entry_id
        await self._trim_journals()

    async def _trim_journals(self) -> None:
        cutoff_ms = int(time.time() * 1000) - self.options.journal_retention_s * 1000
        for stream, floor in self._floors.items():
            min_id = min(parse_id(floor), (cutoff_ms, 0))
            await self._writer.xtrim(stream, minid=f"{min_id[0]}-{min_id[1]}", approximate=True)

    # -- restart detection ----------------------------------------------------------

    def add_data_loss_listener(self, listener: DataLossListener) -> None:
        self._listeners.append(listener)

    async def _watcher(self) -> None:
        while not self._closed:
            await asyncio.sleep(self.options.epoch_check_s)
            if not self._connected:
                continue
            try:
                await self._check_restart()
                if time.monotonic() - self._last_trim > 60 and self._floors:
                    self._last_trim = time.monotonic()
                    await self._trim_journals()
            except _DOWN as exc:
                self._mark_down(exc)
            except RedisError as exc:
                self.stats.last_error = f"{type(exc).__name__}: {exc}"[:200]

    async def _check_restart(self) -> None:
        run_id = await self._server_run_id()
        if self._run_id is not None and run_id != self._run_id:
            self.stats.server_restarts += 1
            log.warning("bus.redis.server_restarted", extra={"url": self.url})
        self._run_id = run_id
        reasons: list[str] = []
        epoch = await self._writer.get(self.layout.epoch_key)
        if epoch != self._epoch:
            reasons.append("epoch key missing or replaced")
            await self._claim_epoch()
        for stream, last_id in list(self._last_written.items()):
            info = await self.info(stream)
            if info is None or parse_id(info.last_generated_id) < parse_id(last_id):
                reasons.append(f"{stream} lost entries up to {last_id}")
        if reasons:
            for stream in list(self._last_written):
                info = await self.info(stream)
                if info is None or parse_id(info.last_generated_id) < parse_id(
                    self._last_written[stream]
                ):
                    del self._last_written[stream]
            await self._data_lost("; ".join(reasons))

    async def _data_lost(self, reason: str) -> None:
        self.stats.data_loss_detected += 1
        log.error("bus.redis.data_lost", extra={"url": self.url, "reason": reason})
        await self._publish_health(
            ConnectionState.DEGRADED,
            f"Redis restarted and lost data ({reason}): resyncing from the brokers",
        )
        for listener in self._listeners:
            try:
                await listener(reason)
            except Exception:
                log.exception("bus.data_loss_listener_failed")

    async def _publish_health(self, state: ConnectionState, message: str) -> None:
        event = HealthEvent.create(
            "bus",
            Health(component="bus", state=state, message=message, metrics=self.stats.as_metrics()),
        )
        with contextlib.suppress(BusOverflowError):
            await self.publish(event)
