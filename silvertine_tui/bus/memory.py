"""The embedded in-process bus: same contract and id shape as Redis Streams."""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import time
from bisect import bisect_left, bisect_right
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from typing import Any

from ..events import Channel, Decoded, EventBase, decode, decode_flat, encode
from .base import (
    BusEntry,
    BusOptions,
    BusStats,
    BusUnavailableError,
    Claim,
    ClaimWait,
    DataLossListener,
    StreamInfo,
    format_id,
    parse_id,
)
from .layout import StreamLayout

_new_tuple = tuple.__new__

Packed = tuple[bytes, ...]
"""A journal entry in wire form: `encode`'s six values, in its order."""

JOURNAL_OBJECTS = 1_000
"""Newest entries of each journal kept as the published objects; older ones are kept in
wire form (`Packed`, as Redis holds them) and decoded when read. An execution event
held as pydantic objects takes about 2.5-3 KB, in wire form about 0.4 KB: in the UI
benchmark's minute (1,000 orders, 7-8 journal entries each) that was 18 of the desk's
51-52 MB of growth (`python -m benchmarks ui --trace-memory`). 1,000 covers the UI log's
start (`FEED_BACKLOG`) and any reader less than 1,000 entries behind."""


class _Stream:
    """One stream's entries, and what its name says about it (worked out once: the
    market-data stream takes ten thousand entries a second)."""

    __slots__ = (
        "added",
        "bounds",
        "entries",
        "journal",
        "keys",
        "last",
        "md",
        "name",
        "packed",
        "snap",
    )

    def __init__(
        self,
        name: str,
        *,
        journal: bool,
        md: bool,
        bounds: tuple[int, int] | None,
        snap: bool = False,
    ) -> None:
        self.name = name  # one string for all its entries, not one per event
        self.journal = journal  # packed beyond `journal_objects`, never cut by length
        self.snap = snap  # every entry packed as it is stored (a snapshot is a copy)
        self.md = md
        self.bounds = bounds  # (length kept, slack before a trim), or None
        self.keys: list[tuple[int, int]] = []
        self.entries: list[BusEntry | Packed] = []
        self.last: tuple[int, int] = (0, 0)
        self.added = 0
        self.packed = 0  # entries[:packed] were considered for packing (a prefix)

    def cut(self, n: int) -> None:
        """Drop the oldest `n` entries."""
        del self.keys[:n]
        del self.entries[:n]
        self.packed = max(self.packed - n, 0)


class MemoryBus:
    """Streams held in lists. Events are stored as the published objects, except a
    journal's entries beyond its newest `journal_objects`, which are kept in wire form
    and decoded when read (see `JOURNAL_OBJECTS`), and snapshots, kept in wire form
    from the start: a snapshot holds the engine's live objects (its orders), and kept
    as published it would show them as they are now, not as they stood when it was
    written (each read decodes its own copy, as from Redis).

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
        journal_objects: int = JOURNAL_OBJECTS,
    ) -> None:
        self.options = options or BusOptions()
        self.journal_objects = journal_objects
        self.stats = BusStats(backend=self.backend, url="memory://")
        self._clock_ms = clock_ms or (lambda: time.time_ns() // 1_000_000)
        self._streams: dict[str, _Stream] = {}
        self._changed = asyncio.Event()
        self._closed = False
        self._floors: dict[str, str] = {}
        self._interned: dict[bytes, bytes] = {}  # event types and sources in wire form
        self._listeners: list[DataLossListener] = []
        self._claims: dict[str, tuple[str, float]] = {}  # key -> (holder, monotonic expiry)
        self._pending: dict[str, str] = {}  # key -> the holder whose claim is pending

    @property
    def layout(self) -> StreamLayout:
        return self.options.layout

    @property
    def epoch(self) -> str | None:
        return None  # nothing outlives the process, so nothing can be lost between runs

    @property
    def epoch_new(self) -> bool:
        return True

    async def start(self) -> None:
        self._closed = False
        self.stats.connected = True

    async def close(self) -> None:
        self._closed = True
        self.stats.connected = False
        self._wake()

    def unwritten(self) -> tuple[int, int]:
        return 0, 0  # (nothing waits: an event is in the journal once published)

    def _wake(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    def _limit(self, stream: str, md: bool) -> tuple[int, int] | None:
        """(length kept, slack allowed before a trim), as Redis `MAXLEN ~`/`MAXLEN`;
        `md`: whether `stream` is market data, as the layout says."""
        options = self.options
        if md:
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
        stream = self._stream(self.layout.route(event))
        entry_id = self._store(stream, event)  # type: ignore[arg-type]
        stats = self.stats
        stats.published += 1
        if stream.md:
            stats.published_md += 1
        return entry_id

    def append_raw(self, stream: str, fields: Mapping[Any, Any]) -> str:
        """Append an entry given in wire form, as another process would XADD it.

        It goes through the same codec as a Redis read, so bad data (missing fields,
        bad JSON, unknown types, newer versions) reaches readers as the same
        `DecodeError`/`UnknownEvent` values, counted when read. For tools and tests.
        """
        entry_id = self._store(self._stream(stream), decode(fields))
        self._wake()
        return entry_id

    def _stream(self, name: str) -> _Stream:
        stream = self._streams.get(name)
        if stream is None:
            layout = self.layout
            md = layout.channel_of(name) == "md"
            stream = self._streams[name] = _Stream(
                name,
                journal=layout.is_journal(name),
                md=md,
                bounds=self._limit(name, md),
                snap=layout.channel_of(name) is Channel.SNAPSHOT,
            )
        return stream

    def _store(self, stream: _Stream, event: Decoded) -> str:
        ms = self._clock_ms()
        last_ms, last_seq = stream.last
        key = (ms, 0) if ms > last_ms else (last_ms, last_seq + 1)
        entry_id = format_id(*key)
        stream.keys.append(key)
        # `tuple.__new__` straight: the named tuple's own `__new__` is a Python frame.
        stream.entries.append(_new_tuple(BusEntry, (stream.name, entry_id, event)))
        stream.last = key
        stream.added += 1
        if stream.journal:
            if len(stream.entries) - stream.packed > self.journal_objects:
                self._pack(stream)
            return entry_id
        if stream.snap:
            self._pack(stream)  # the newest: every one before it is packed
        bounds = stream.bounds
        if bounds is not None and len(stream.keys) > bounds[0] + bounds[1]:
            stream.cut(len(stream.keys) - bounds[0])
        return entry_id

    def _pack(self, stream: _Stream) -> None:
        """The oldest object entry of a journal to wire form (see `JOURNAL_OBJECTS`)."""
        i = stream.packed
        stream.packed += 1
        entry = stream.entries[i]
        if not isinstance(entry, BusEntry) or not isinstance(entry.event, EventBase):
            return  # an entry that did not decode (`append_raw`) stays as it is
        event = entry.event
        try:
            t, v, event_id, ts, src, p = encode(event).values()
        except Exception:  # what the codec cannot write stays an object (Redis refuses it)
            return
        interned = self._interned
        stream.entries[i] = (
            interned.setdefault(t, t),
            v,
            event_id,
            ts,
            interned.setdefault(src, src),
            p,
        )

    def _unpack(self, stream: _Stream, lo: int, hi: int) -> list[BusEntry]:
        """Entries `lo:hi` of a stream as `BusEntry`s, decoding those in wire form."""
        out: list[BusEntry] = []
        keys, name = stream.keys, stream.name
        for i in range(lo, hi):
            entry = stream.entries[i]
            if isinstance(entry, BusEntry):
                out.append(entry)
                continue
            t, v, event_id, ts, src, p = entry
            flat = [b"t", t, b"v", v, b"id", event_id, b"ts", ts, b"src", src, b"p", p]
            out.append(BusEntry(name, format_id(*keys[i]), decode_flat(flat)))
        return out

    def _entries(self, stream: _Stream, lo: int, hi: int) -> list[BusEntry]:
        if lo >= stream.packed:
            return stream.entries[lo:hi]  # type: ignore[return-value]
        return self._unpack(stream, lo, hi)

    async def publish(self, event: EventBase) -> str | None:
        entry_id = self._append(event)
        self._wake()
        return entry_id

    async def publish_if_newest(self, event: EventBase, newest: str) -> str | None:
        data = self._streams.get(self.layout.route(event))
        if data is None or not data.keys or format_id(*data.keys[-1]) != newest:
            return None
        return await self.publish(event)

    async def publish_now(self, event: EventBase) -> str:
        entry_id = await self.publish(event)
        if entry_id is None:  # (a subclass's outage)
            raise BusUnavailableError("the bus kept the event to write later: not written")
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
        return self._entries(data, lo, hi)

    async def read(
        self, stream: str, start: str = "-", end: str = "+", count: int | None = None
    ) -> list[BusEntry]:
        entries = self._slice(stream, start, end, count)
        for entry in entries:
            self.stats.count_decoded(entry.event, entry.stream, entry.id)
        return entries

    async def read_last(self, stream: str, count: int = 1, before: str = "+") -> list[BusEntry]:
        data = self._streams.get(stream)
        if data is None or count <= 0:
            return []
        n = len(data.entries) if before == "+" else bisect_left(data.keys, parse_id(before))
        entries = self._entries(data, max(n - count, 0), n)[::-1]
        for entry in entries:
            self.stats.count_decoded(entry.event, entry.stream, entry.id)
        return entries

    async def trim(self, stream: str, keep: int) -> int:
        """Drop the oldest entries of `stream`, keeping its newest `keep`."""
        data = self._streams.get(stream)
        if data is None:
            return 0
        cut = max(len(data.keys) - max(keep, 0), 0)
        if cut:
            data.cut(cut)
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
                        self.stats.count_decoded(entry.event, entry.stream, entry.id)
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
            first_id=format_id(*data.keys[0]) if data.keys else None,
            last_id=format_id(*data.keys[-1]) if data.keys else None,
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
            data.cut(cut)

    async def claim(
        self,
        key: str,
        holder: str,
        ttl_ms: int,
        *,
        replacing: str = "",
        pending: bool = False,
        over_pending: bool = False,
    ) -> Claim:
        now = time.monotonic()
        held = self._claims.get(key)
        if (
            held is None
            or held[1] <= now
            or held[0] in (holder, replacing or holder)
            or (over_pending and self._pending.get(key) == held[0])
        ):
            self._claims[key] = (holder, now + ttl_ms / 1000)
            if pending:
                self._pending[key] = holder
            else:
                self._pending.pop(key, None)
            return Claim(holder, ttl_ms)
        return Claim(held[0], max(int((held[1] - now) * 1000), 0))

    async def claim_holder(self, key: str) -> str | None:
        held = self._claims.get(key)
        return held[0] if held is not None and held[1] > time.monotonic() else None

    async def claim_wait(self, ttl_ms: int) -> ClaimWait:
        """Never: the claims live in this process and go only with it (and with the
        desks that held them)."""
        return ClaimWait(0, "")

    async def release(self, key: str, holder: str) -> bool:
        held = self._claims.get(key)
        if held is None or held[0] != holder:
            return False
        del self._claims[key]
        self._pending.pop(key, None)
        return held[1] > time.monotonic()

    def add_data_loss_listener(self, listener: DataLossListener) -> None:
        self._listeners.append(listener)
