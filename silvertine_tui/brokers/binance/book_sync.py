"""One symbol's local order book kept from Binance's diff-depth stream.

Binance's documented procedure ("How to manage a local order book correctly"):
buffer the stream's events, take a REST snapshot, drop buffered events with
`u <= lastUpdateId`, the first applied event must have `U <= lastUpdateId + 1 <= u`, and
each later one `U == previous u + 1`. Anything else means updates were missed: the book
is thrown away and rebuilt from a fresh snapshot.

This module is pure and synchronous (no sockets, no awaits), so the rules are tested on
their own; `market.MarketStreams` drives it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from ...domain import Book, BookLevel

Level = tuple[Decimal, Decimal]
"""(price, quantity); a quantity of 0 removes the level."""


@dataclass(frozen=True, slots=True)
class DepthDiff:
    """A `depthUpdate` event: `first`/`last` are its `U`/`u` update ids."""

    first: int
    last: int
    bids: tuple[Level, ...]
    asks: tuple[Level, ...]
    event_ms: int | None = None


@dataclass(frozen=True, slots=True)
class DepthSnapshot:
    """A REST `depth` answer."""

    last_update_id: int
    bids: tuple[Level, ...]
    asks: tuple[Level, ...]


class DiffResult(StrEnum):
    APPLIED = "APPLIED"
    BUFFERED = "BUFFERED"  # no snapshot yet: kept for when it arrives
    STALE = "STALE"  # already in the book (u <= last update id)
    GAP = "GAP"  # updates missed: the book was dropped, a snapshot is needed


class SnapshotResult(StrEnum):
    SYNCED = "SYNCED"
    TOO_OLD = "TOO_OLD"  # the buffer starts after the snapshot: fetch a newer one


class BookSync:
    """The local book of one instrument, synced or waiting for a snapshot."""

    def __init__(self, instrument: str, *, max_buffer: int = 5000) -> None:
        self.instrument = instrument
        self.max_buffer = max_buffer
        self.bids: dict[Decimal, Decimal] = {}
        self.asks: dict[Decimal, Decimal] = {}
        self.last_update_id: int | None = None
        self.buffer: list[DepthDiff] = []
        # The update ids missed by the last gap (first, last), until it is reported.
        self.missed: tuple[int, int] | None = None
        self.event_ms: int | None = None

    @property
    def synced(self) -> bool:
        return self.last_update_id is not None

    def reset(self) -> None:
        """Forget the book (a reconnect): the next snapshot starts it again."""
        self.bids.clear()
        self.asks.clear()
        self.last_update_id = None
        self.buffer.clear()

    def on_diff(self, diff: DepthDiff) -> DiffResult:
        if self.last_update_id is None:
            if len(self.buffer) >= self.max_buffer:
                # Dropping the oldest leaves a hole the snapshot check then finds.
                del self.buffer[0]
            self.buffer.append(diff)
            return DiffResult.BUFFERED
        if diff.last <= self.last_update_id:
            return DiffResult.STALE
        if diff.first != self.last_update_id + 1:
            self.missed = (self.last_update_id + 1, diff.first - 1)
            self.reset()
            self.buffer.append(diff)
            return DiffResult.GAP
        self._apply(diff)
        return DiffResult.APPLIED

    def load_snapshot(self, snapshot: DepthSnapshot) -> SnapshotResult:
        """Install `snapshot` and apply the buffered events after it."""
        pending = [d for d in self.buffer if d.last > snapshot.last_update_id]
        if pending and pending[0].first > snapshot.last_update_id + 1:
            self.buffer = pending
            return SnapshotResult.TOO_OLD
        self.bids = {p: q for p, q in snapshot.bids if q > 0}
        self.asks = {p: q for p, q in snapshot.asks if q > 0}
        self.last_update_id = snapshot.last_update_id
        self.buffer = []
        for index, diff in enumerate(pending):
            if index and diff.first != self.last_update_id + 1:
                # A hole inside the buffer: only a newer snapshot can cover it.
                self.reset()
                self.buffer = pending[index:]
                return SnapshotResult.TOO_OLD
            self._apply(diff)
        return SnapshotResult.SYNCED

    def _apply(self, diff: DepthDiff) -> None:
        _merge(self.bids, diff.bids)
        _merge(self.asks, diff.asks)
        self.last_update_id = diff.last
        if diff.event_ms is not None:
            self.event_ms = diff.event_ms

    def book(self, depth: int) -> Book:
        """The best `depth` levels a side, with the update id they include."""
        bids = sorted(self.bids.items(), reverse=True)[:depth]
        asks = sorted(self.asks.items())[:depth]
        return Book(
            instrument=self.instrument,
            bids=_levels(bids),
            asks=_levels(asks),
            update_id=self.last_update_id,
            venue_ts_ns=None if self.event_ms is None else self.event_ms * 1_000_000,
        )


def _merge(side: dict[Decimal, Decimal], levels: Iterable[Level]) -> None:
    for price, qty in levels:
        if qty == 0:
            side.pop(price, None)
        else:
            side[price] = qty


def _levels(levels: Sequence[Level]) -> tuple[BookLevel, ...]:
    return tuple(BookLevel(price=p, size=q) for p, q in levels)
