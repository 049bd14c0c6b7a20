"""The embedded in-process bus: same contract and id shape as Redis Streams."""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import time
from bisect import bisect_left, bisect_right
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from typing import Any

from ..events import Decoded, EventBase, decode
from .base import (
    BusEntry,
    BusOptions,
    BusStats,
    DataLossListener,
    StreamInfo,
    format_id,
    parse_id,
)
from .layout import StreamLayout


class _Stream:
    __slots__ = ("added", "entries", "keys", "last")

    def __init__(self) -> None:
        self.keys: list[tuple[int, int]] = []
        self.entries: list[BusEntry] = []
        self.last: tuple[int, int] = (0, 0)
        self.added = 0


class MemoryBus:
    """Streams held in lists. Events are stored as objects: nothing is encoded.

    Length limits follow the Redis rules (market data, health and signals by length,
    trimmed in chunks like `MAXLEN ~`; snapshot streams to their last few exactly;
    journals only behind a snapshot floor and by age, or by `trim`).
    """

    backend = "memory"

    def __init__(
        self,
        options: BusOptions | None = None,
        *,
        clock_ms: Callable[[], int] | None = None,
    ) -> None:
        self.options = options or BusOptions()
        self.stats = BusStats(backend=self.backend, url="memory://")
        self._clock_ms = clock_ms or (lambda: time.time_ns() // 1_000_000)
        self._streams: dict[str, _Stream] = {}
        self._changed = asyncio.Event()
        self._closed = False
        self._floors: dict[str, str] = {}
        self._listeners: list[DataLossListener] = []

    @property
    def layout(self) -> StreamLayout:
        return self.options.layout

    async def start(self) -> None:
        self._closed = False
        self.stats.connected = True

    async def close(self) -> None:
        self._closed = True
        self.stats.connected = False
        self._wake()

    def _wake(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    def _limit(self, stream: str) -> tuple[int, int] | None:
        """(length kept, slack allowed before a trim), as Redis `MAXLEN ~`/`MAXLEN`."""
        options = self.options
        if stream.startswith(f"{options.prefix}:md:"):
            limit = options.md_maxlen
        elif stream == self.layout.health:
            limit = options.health_maxlen
        elif stream == self.layout.signal:
            limit = options.signal_maxlen
        elif stream.startswith(f"{options.prefix}:snap:"):
            return options.snapshot_keep, 0  # exact: snapshots are few and large
        else:
            return None
        return limit, max(limit // 10, 1)

    def _append(self, event: EventBase) -> str:
        name = self.layout.route(event)
        entry_id = self._store(name, event)  # type: ignore[arg-type]
        self.stats.published += 1
        if self.layout.channel_of(name) == "md":
            self.stats.published_md += 1
        return entry_id

    def append_raw(self, stream: str, fields: Mapping[Any, Any]) -> str:
        """Append an entry given in wire form, as another process would XADD it.

        It goes through the same codec as a Redis read, so bad data (missing fields,
        bad JSON, unknown types, newer versions) reaches readers as the same
        `DecodeError`/`UnknownEvent` values, counted when read. For tools and tests.
        """
        entry_id = self._store(stream, decode(fields))
        self._wake()
        return entry_id

    def _store(self, name: str, event: Decoded) -> str:
        stream = self._streams.get(name)
        if stream is None:
            stream = self._streams[name] = _Stream()
        ms = self._clock_ms()
        last_ms, last_seq = stream.last
        key = (ms, 0) if ms > last_ms else (last_ms, last_seq + 1)
        entry_id = format_id(*key)
        stream.keys.append(key)
        stream.entries.append(BusEntry(name, entry_id, event))
        stream.last = key
        stream.added += 1
        bounds = self._limit(name)
        if bounds is not None and len(stream.keys) > bounds[0] + bounds[1]:
            cut = len(stream.keys) - bounds[0]
            del stream.keys[:cut]
            del stream.entries[:cut]
        return entry_id

    async def publish(self, event: EventBase) -> str | None:
        entry_id = self._append(event)
        self._wake()
        return entry_id

    async def publish_many(self, events: Iterable[EventBase]) -> None:
        for event in events:
            self._append(event)
        self._wake()

    async def flush(self, timeout: float = 10.0) -> None:
        return None

    def _slice(self, stream: str, start: str, end: str, count: int | None) -> list[BusEntry]:
        data = self._streams.get(stream)
        if data is None:
            return []
        if start.startswith("("):
            lo = bisect_right(data.keys, parse_id(start[1:]))
        else:
            lo = bisect_left(data.keys, parse_id(start))
        if end.startswith("("):
            hi = bisect_left(data.keys, parse_id(end[1:]))
        else:
            hi = bisect_right(data.keys, parse_id(end))
        if count is not None:
            hi = min(hi, lo + count)
        return data.entries[lo:hi]

    async def read(
        self, stream: str, start: str = "-", end: str = "+", count: int | None = None
    ) -> list[BusEntry]:
        entries = self._slice(stream, start, end, count)
        for entry in entries:
            self.stats.count_decoded(entry.event)
        return entries

    async def read_last(self, stream: str, count: int = 1) -> list[BusEntry]:
        data = self._streams.get(stream)
        if data is None or count <= 0:
            return []
        entries = data.entries[: -count - 1 : -1]
        for entry in entries:
            self.stats.count_decoded(entry.event)
        return entries

    async def trim(self, stream: str, keep: int) -> int:
        """Drop the oldest entries of `stream`, keeping its newest `keep`."""
        data = self._streams.get(stream)
        if data is None:
            return 0
        cut = max(len(data.keys) - max(keep, 0), 0)
        if cut:
            del data.keys[:cut]
            del data.entries[:cut]
        return cut

    async def replay(
        self, stream: str, after: str = "0-0", batch: int = 5_000
    ) -> AsyncIterator[BusEntry]:
        cursor = after
        while True:
            entries = await self.read(stream, f"({cursor}", "+", batch)
            for entry in entries:
                yield entry
            if len(entries) < batch:
                return
            cursor = entries[-1].id
            await asyncio.sleep(0)

    def _resolve_start(self, stream: str, entry_id: str) -> str:
        if entry_id != "$":
            return entry_id
        data = self._streams.get(stream)
        return format_id(*data.last) if data else "0-0"

    async def tail(self, streams: Mapping[str, str]) -> AsyncIterator[BusEntry]:
        async for batch in self.tail_batches(streams):
            for entry in batch:
                yield entry

    async def tail_batches(self, streams: Mapping[str, str]) -> AsyncIterator[list[BusEntry]]:
        last = {name: self._resolve_start(name, entry_id) for name, entry_id in streams.items()}
        while not self._closed:
            waiter = self._changed
            batch: list[BusEntry] = []
            for name, cursor in last.items():
                entries = self._slice(name, f"({cursor}", "+", 1_000)
                if entries:
                    last[name] = entries[-1].id
                    for entry in entries:
                        self.stats.count_decoded(entry.event)
                    batch += entries
            if batch:
                yield batch
                continue
            # Not asyncio.wait_for: on Python 3.11 it loses a cancellation that
            # arrives as the wait completes, and the tail would never stop.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.options.block_ms / 1000):
                    await waiter.wait()

    async def streams(self, pattern: str = "*") -> list[str]:
        full = f"{self.options.prefix}:{pattern}"
        return sorted(n for n in self._streams if fnmatch.fnmatchcase(n, full))

    async def info(self, stream: str) -> StreamInfo | None:
        data = self._streams.get(stream)
        if data is None:
            return None
        return StreamInfo(
            length=len(data.keys),
            first_id=data.entries[0].id if data.entries else None,
            last_id=data.entries[-1].id if data.entries else None,
            last_generated_id=format_id(*data.last),
            entries_added=data.added,
        )

    async def set_snapshot_floor(self, stream: str, entry_id: str) -> None:
        """Allow trimming the journal `stream` up to `entry_id`, by age."""
        self._floors[stream] = entry_id
        data = self._streams.get(stream)
        if data is None:
            return
        cutoff_ms = self._clock_ms() - self.options.journal_retention_s * 1000
        floor = min(parse_id(entry_id), (cutoff_ms, 0))
        cut = bisect_left(data.keys, floor)
        if cut:
            del data.keys[:cut]
            del data.entries[:cut]

    def add_data_loss_listener(self, listener: DataLossListener) -> None:
        self._listeners.append(listener)
