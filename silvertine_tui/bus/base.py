"""The `EventBus` contract shared by the memory and Redis Streams backends."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from operator import attrgetter
from typing import NamedTuple, Protocol, runtime_checkable

from ..domain.seen import SeenIds
from ..events import (
    Channel,
    Decoded,
    DecodeError,
    EventBase,
    RiskAction,
    RiskEvent,
    UnknownEvent,
)
from .layout import StreamLayout

log = logging.getLogger(__name__)


class BusError(Exception):
    """Base of bus errors. Messages say what to do next and never hold secrets."""


class BusUnavailableError(BusError):
    """The backend cannot be reached. `maybe_written`: the write went out and its
    answer was lost, so it may have landed. `cause` is what went wrong without the
    `advice` (what to do) that ends the message: a caller that says its own next step
    (the claims' lapse) takes the cause alone."""

    def __init__(self, cause: str, *, maybe_written: bool = False, advice: str = "") -> None:
        super().__init__(f"{cause}; {advice}" if advice else cause)
        self.cause = cause
        self.maybe_written = maybe_written


class BusOverflowError(BusError):
    """The bounded outage buffer is full: the event was NOT journaled."""


@dataclass(frozen=True, slots=True)
class BusOptions:
    """Backend settings (filled from `config.BusConfig`)."""

    prefix: str = "silvertine"
    md_maxlen: int = 100_000
    health_maxlen: int = 10_000
    signal_maxlen: int = 100_000  # `MAXLEN ~` on the signal stream
    snapshot_keep: int = 10  # `MAXLEN` (exact) on each snapshot stream: the last few
    journal_retention_s: int = 7 * 86_400
    exec_buffer: int = 10_000
    md_max_pending: int = 10_000
    md_flush_interval_ms: float = 0.0
    block_ms: int = 1_000
    epoch_check_s: float = 1.0
    unreadable_recheck_s: float = 5.0
    """How often a reader looks again at a stream whose key held another type (Redis:
    a program SET a stream's name); meanwhile it reads the others."""
    pipeline_size: int = 500
    passive: bool = False
    """Write nothing of the bus's own (a watching desk, `engine.watch`): the epoch key
    is read, never set, and a restart or a data loss is logged, not journaled as health.
    What the desk publishes on purpose still goes (a watching trader's kill switch)."""
    layout: StreamLayout = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Built once: `route` runs for every event published.
        object.__setattr__(self, "layout", StreamLayout(self.prefix))


class BusEntry(NamedTuple):
    """One stream entry: where it is and what it decoded to.

    A named tuple because one is made for every entry read: half the cost of a frozen
    dataclass, and replay makes 100k of them a second.
    """

    stream: str
    id: str
    event: Decoded

    @property
    def ok(self) -> bool:
        """True when `event` is an event (not a `DecodeError` or `UnknownEvent`)."""
        return self.event.ok


# The same in C: each decoded value's class says it (`EventBase.ok`) and `attrgetter`
# reads it, about half the cost of a Python-level property (one per entry replayed).
setattr(BusEntry, "ok", property(attrgetter("event.ok"), doc=BusEntry.ok.__doc__))  # noqa: B010


class Claim(NamedTuple):
    """Who holds a claimed key after `EventBus.claim`, and for how many more ms."""

    holder: str
    ttl_ms: int


class ClaimWait(NamedTuple):
    """`EventBus.claim_wait`: how long (ms) a claim taken now stays `pending`, and why
    ("" and 0: it is taken outright)."""

    ms: int
    why: str


@dataclass(frozen=True, slots=True)
class StreamInfo:
    length: int
    first_id: str | None
    last_id: str | None
    last_generated_id: str
    entries_added: int
    counts_added: bool = True  # the server reports entries-added (Redis 7 and later)
    max_deleted_id: str = "0-0"  # the newest id an XDEL took (Redis 7; a trim leaves it)

    @property
    def gone(self) -> int:
        """Entries deleted from the stream while its key stayed (an XTRIM or an XDEL,
        ours or another hand's): added less held; 0 when the server does not count."""
        return max(self.entries_added - self.length, 0) if self.counts_added else 0

    @property
    def deleted_within(self) -> bool:
        """Whether entries were deleted from the middle of the stream (or its end) while
        its key stayed: the newest id an XDEL took (`max_deleted_id`) is after the
        stream's first entry. A trim (XTRIM MAXLEN or MINID, a desk's own behind its
        snapshots) takes entries from the start and leaves that id as it was, below the
        first entry left; so does an XDEL of the first entries, which reads as a trim.
        A desk never XDELs a journal: found there, it is another hand's. False on a
        server that does not say (Redis before 7, `counts_added` False) and on an empty
        stream."""
        if not self.counts_added or self.first_id is None:
            return False
        newest = parse_id(self.max_deleted_id)
        return newest > (0, 0) and newest >= parse_id(self.first_id)


@dataclass(slots=True)
class BusStats:
    """Counters for the health pane. Plain numbers, cheap to copy.

    `decode_errors` and `unknown_events` count bad entries, not reads of them: the
    engine's reader and the desk's both read every entry of a journal, and a recovery
    reads it again, so one bad entry read three times is one (`BAD_SEEN_MAX` are
    remembered; one forgotten is counted again when read again). Each one counted is
    logged once as it is counted (`bus.bad_entry`, a WARNING: its stream, entry id,
    reason and a bounded excerpt, `bad_entry_fields`).
    """

    backend: str
    url: str
    connected: bool = False
    published: int = 0
    published_md: int = 0
    md_coalesced: int = 0
    md_dropped: int = 0
    exec_buffered: int = 0
    exec_overflow: int = 0
    decoded: int = 0
    decode_errors: int = 0
    unknown_events: int = 0
    reconnects: int = 0
    read_errors: int = 0
    write_errors: int = 0
    server_restarts: int = 0
    data_loss_detected: int = 0
    dead_lettered: int = 0  # execution entries Redis refused, moved to the dead-letter stream
    duplicates_skipped: int = 0  # backlog entries found already written (a lost reply)
    # streams whose ids were raised after a loss (a restarted server's ids below ours)
    ids_raised: int = 0
    # health events superseded in the outage backlog by a newer one of their component
    health_superseded: int = 0
    last_error: str = ""
    # Down because Redis answered but took no write (a failover's READONLY/MASTERDOWN, an
    # OOM), not because it was out of reach: the desk's toast says which.
    writes_refused: bool = False
    unreadable: str = ""  # streams not read: their key holds another type (Redis)
    # What `close` left unwritten: the journal's events (execution, risk, signals; not
    # health, nor a snapshot, which only shortens the next replay) still in the outage
    # buffer or waiting for the dead-letter stream when the bus closed, gone with the
    # process; `closed_unwritten_fills` of them fills. Each is logged whole
    # (`bus.redis.unwritten_at_close`); the session says it (`Session.not_journaled`).
    closed_unwritten: int = 0
    closed_unwritten_fills: int = 0
    extra: dict[str, int | float | str] = field(default_factory=dict)
    # (stream, entry id) of the bad entries counted.
    bad_seen: SeenIds[tuple[str, str]] = field(
        default_factory=lambda: SeenIds(BAD_SEEN_MAX), repr=False
    )

    def as_metrics(self) -> dict[str, int | float | str | bool | None]:
        data: dict[str, int | float | str | bool | None] = {
            f.name: getattr(self, f.name) for f in fields(self) if f.name not in _NOT_METRICS
        }
        data.update(self.extra)
        return data

    def count_decoded(self, decoded: Decoded, stream: str, entry_id: str) -> None:
        if isinstance(decoded, DecodeError | UnknownEvent):
            if not self.bad_seen.add((stream, entry_id)):
                return
            if isinstance(decoded, DecodeError):
                self.decode_errors += 1
            else:
                self.unknown_events += 1
            log.warning(
                "bus.bad_entry",
                extra={"stream": stream, "entry_id": entry_id, **bad_entry_fields(decoded)},
            )
        else:
            self.decoded += 1


BAD_SEEN_MAX = 10_000
BAD_REASON_LOGGED = 300
"""Characters of a bad entry's reason, and of its excerpt, written to the log: an
entry may be megabytes, and its fields are anyone's words (the log file's formatter
hides the desk's secrets in every line, `logsetup.redact`)."""
BAD_FIELD_LOGGED = 60
"""Characters of each field of a bad entry in its logged excerpt."""


def bad_entry_fields(decoded: DecodeError | UnknownEvent) -> dict[str, str | int]:
    """What the log says of a bad entry besides its stream and id (`bus.bad_entry`):
    why it is bad, and a bounded excerpt of it, never the entry whole."""
    if isinstance(decoded, UnknownEvent):
        kind = decoded.type[:BAD_FIELD_LOGGED]
        known = decoded.known_version
        reason = (
            f"unknown event type {kind!r} v{decoded.v}"
            if known is None
            else f"{kind} v{decoded.v} is newer than this build reads "
            f"(v{known}): written by a newer Silvertine"
        )
        return {
            "reason": reason,
            "event_type": kind,
            "v": decoded.v,
            "source": decoded.source[:BAD_FIELD_LOGGED],
            "payload_bytes": len(decoded.payload),
        }
    excerpt = " ".join(
        f"{key[:BAD_FIELD_LOGGED]}={value[:BAD_FIELD_LOGGED]!r}"
        for key, value in decoded.fields.items()
    )
    return {
        "reason": decoded.reason[:BAD_REASON_LOGGED],
        "excerpt": excerpt[:BAD_REASON_LOGGED],
    }


_NOT_METRICS = frozenset(
    {"extra", "bad_seen", "writes_refused", "closed_unwritten", "closed_unwritten_fills"}
)


class DataLoss(str):
    """What the bus found lost: the reason, as its health says it (the string itself),
    and what it covers. `epoch`: the epoch key is gone or was replaced, so Redis lost
    everything under the prefix (a restart empty, a flush): every stream counts as
    lost. `streams`: the streams found shorter than this bus wrote or read them (an
    operator's DEL of one, a restart from an older save). `restarted`: the server's
    run_id changed. `trimmed`: those of `streams` that lost entries while their key
    stayed (an XTRIM or XDEL by another hand: the risk stream's trading state, a
    journal a desk keeps whole). A reason given as a plain string (`DataLoss.of`) is a
    loss of everything, as every loss was taken before the bus said what it covered."""

    epoch: bool
    streams: frozenset[str]
    restarted: bool
    trimmed: frozenset[str]

    def __new__(
        cls,
        reason: str,
        *,
        epoch: bool,
        streams: Iterable[str] = (),
        restarted: bool = False,
        trimmed: Iterable[str] = (),
    ) -> DataLoss:
        loss = super().__new__(cls, reason)
        loss.epoch = epoch
        loss.trimmed = frozenset(trimmed)
        loss.streams = frozenset(streams) | loss.trimmed
        loss.restarted = restarted
        return loss

    @classmethod
    def of(cls, reason: str) -> DataLoss:
        """`reason` as a `DataLoss`: a plain string is a loss of everything."""
        return reason if isinstance(reason, DataLoss) else cls(reason, epoch=True)

    def lost(self, stream: str) -> bool:
        """Whether `stream`'s entries (some or all) were lost."""
        return self.epoch or stream in self.streams

    def journal_lost(self, layout: StreamLayout) -> bool:
        """Whether anything a desk recovers from was lost: the epoch (everything), a
        journal (an account's execution stream, the risk stream) or a snapshot stream.
        Not so for the health, market-data or signal streams alone: capped, and written
        again as they go."""
        recovered = (Channel.EXECUTION, Channel.RISK, Channel.SNAPSHOT)
        return self.epoch or any(layout.channel_of(s) in recovered for s in self.streams)


DataLossListener = Callable[[DataLoss], Awaitable[None]]
"""Called when the bus finds that the backend lost data, with what was lost."""


_STATE_ACTIONS = frozenset({RiskAction.STATE, RiskAction.KILL, RiskAction.RESUME})


def sets_trading_state(event: Decoded) -> bool:
    """Whether a risk stream entry sets the trading state (a STATE, a KILL, a RESUME):
    the newest one is the state a start replays. A trim must leave one after what it
    deletes (`recovery.trim_risk_stream` writes it first), or the state went with it."""
    return isinstance(event, RiskEvent) and event.payload.action in _STATE_ACTIONS


STATE_PAGE = 500
"""Risk entries read back a page at a time for the newest one setting the trading state."""

PageBack = Callable[[int, str], Awaitable[Sequence[BusEntry]]]
"""Reads a stream's newest `count` entries older than `before` (an entry id, exclusive;
`+`: the end), newest first: `EventBus.read_last` with its stream bound, or a reader
of its own (the Redis bus's watcher: no `BusError`s, no counting)."""


async def state_entry_after(read_last: PageBack, after: str = "0-0") -> str | None:
    """The id of `state_set_after`'s entry; None when there is none."""
    entry = await state_set_after(read_last, after)
    return entry.id if entry is not None else None


async def state_set_after(read_last: PageBack, after: str = "0-0") -> BusEntry | None:
    """The risk stream's newest entry setting the trading state
    (`sets_trading_state`) when it is newer than `after`; None when there is none.
    Read back from the stream's end `STATE_PAGE` entries at a time through `read_last`,
    whose errors and counting are the caller's: every desk's trim leaves one near the
    end (`recovery.trim_risk_stream`). The one page-back of the start's check
    (`recovery.trading_state_deleted`) and of the Redis bus's watcher (`_state_deleted`)."""
    floor = parse_id(after)
    before = "+"
    while True:
        entries = await read_last(STATE_PAGE, before)
        for entry in entries:  # newest first
            if parse_id(entry.id) <= floor:
                return None
            if sets_trading_state(entry.event):
                return entry
        if len(entries) < STATE_PAGE:
            return None
        before = entries[-1].id


class WaitingEvent(NamedTuple):
    """One execution event a bus holds in memory, not written to Redis yet (its outage
    buffer): the journal, and every desk drawn from it, does not show it yet.

    A read-only view (`HoldsWaiting.waiting`): the event is never applied from here. A
    desk's projection is drawn from the journal alone (docs/architecture.md); what waits
    only tells the desk which of its rows may be behind it."""

    stream: str
    source: str
    """`broker/account`, as the entry's envelope names it (read even when the event
    itself cannot be)."""
    event: Decoded
    entry_id: str = ""
    """Its journal entry id once Redis took it ("" while it waits in memory): written,
    and not read back by the desk yet (`HoldsWaiting.waiting`'s `read_to`)."""


@runtime_checkable
class HoldsWaiting(Protocol):
    """A bus that can say which execution events wait in its memory (the Redis bus)."""

    def waiting(self, read_to: Mapping[str, str] | None = None) -> Sequence[WaitingEvent]:
        """The execution journals' events held in memory, not written yet, oldest
        first; the same sequence object while nothing changed. With `read_to` (stream
        -> the last entry id the desk has read back there), those it wrote from its
        memory that the desk has not read back yet come first, with their entry ids."""
        ...


def waiting_of(bus: object, read_to: Mapping[str, str] | None = None) -> Sequence[WaitingEvent]:
    """The execution events `bus` holds in memory, not written to Redis yet
    (`HoldsWaiting.waiting`), and with `read_to` those written from it not read back
    yet; none from a bus that keeps nothing waiting (`memory://`: an event is in its
    journal once published)."""
    return bus.waiting(read_to) if isinstance(bus, HoldsWaiting) else ()


@runtime_checkable
class EventBus(Protocol):
    """One contract, two backends (`memory://`, `redis://`). See docs/architecture.md.

    - `publish` routes by `layout.route(event)`. Execution, health, signal and risk
      events are written one by one, in call order, and awaited; the returned id is the
      stream entry id, or None if the backend is down and the event waits in the
      bounded outage buffer (flushed in order on reconnect; `BusOverflowError` when
      full). Market data may be coalesced to the latest per instrument and written
      later (returns None); `flush` waits for it.
    - Reads never raise on bad data: entries decode to `DecodeError`/`UnknownEvent`
      values, counted in `stats`.
    - `tail` yields entries after the given ids (exclusive; `$` means "from now",
      resolved once) until the bus closes. `tail_batches` yields the same entries in
      the same order, as lists: what one read found waiting (up to 1,000 entries a
      stream), so a reader can take a backlog at once (the UI keeps only the latest
      quote of each instrument in a batch).
    - `read_last` gives the newest `count` entries, newest first (XREVRANGE), without
      reading the rest of the stream; with `before` (an entry id, exclusive) the newest
      `count` entries older than it, so a reader pages back from the end a page at a
      time (`engine.watch`: a watching desk's marks); `trim` drops the oldest entries of a stream,
      keeping at least its newest `keep` (XTRIM MAXLEN ~).
    - Length limits on write: market data, health and signals `MAXLEN ~`, snapshot
      streams the last `snapshot_keep` exactly; journals (execution, risk) are never
      trimmed on write (see `set_snapshot_floor`, `trim`).
    - `claim` sets a key to `holder` for `ttl_ms` when the key is free, already
      `holder`'s, or held by `replacing`, in one atomic step, and says who holds it
      afterwards (the same call renews a claim); `release` frees it if `holder` still
      holds it. A claim taken `pending` (a marker beside the key says so) gives way to
      a claim made `over_pending`: the renewal of a desk that held the key before a
      loss. `claim_wait` says how long a claim taken now must stay pending, as far as
      the backend can tell that it may have lost claims within the last `ttl_ms` (a
      Redis failover to a replica that held nothing of the prefix): a free key cannot
      then be told from one lost while its holder still drives the broker. A Redis bus
      claims again every key it holds, at once, when it finds the server restarted or
      its data lost, before it sets the epoch key again. What they are for:
      `engine.claims`.
    """

    backend: str
    options: BusOptions
    stats: BusStats

    @property
    def layout(self) -> StreamLayout: ...

    @property
    def epoch(self) -> str | None:
        """The journal's epoch: a token set once per Redis dataset (the epoch key), so
        another token means the journal was lost or flushed in between. None on
        `memory://`, whose journal ends with the process."""
        ...

    @property
    def epoch_new(self) -> bool:
        """Whether this bus set the epoch as it started: no desk journaled anything
        under it before (True on `memory://`: its journal starts with the process)."""
        ...

    async def start(self) -> None: ...

    async def close(self) -> None:
        """Write what waits (for a short while), then stop. What it could not write is
        counted in `stats.closed_unwritten` (0 on `memory://`, which waits for nothing)."""
        ...

    def unwritten(self) -> tuple[int, int]:
        """The journal's events waiting in memory now, not written yet, and how many of
        them are fills: what `close` would count in `stats.closed_unwritten` (and
        `closed_unwritten_fills`) if it could write none of them. (0, 0) on `memory://`."""
        ...

    async def publish(self, event: EventBase) -> str | None: ...

    async def publish_many(self, events: Iterable[EventBase]) -> None: ...

    async def publish_if_newest(self, event: EventBase, newest: str) -> str | None:
        """Write `event` only while its stream's newest entry is `newest`, in one step
        on the server: its id, or None when the stream moved on (or writes wait behind
        an outage). Never buffered. For an entry that restates what the writer read up
        to `newest`: written after an entry it had not read, it would undo it. (Redis
        also writes it when the stream, still there, ends before `newest` or holds
        nothing: entries deleted by another hand, the writer read them all.)"""
        ...

    async def publish_now(self, event: EventBase) -> str:
        """Write `event` now: its id, or `BusUnavailableError` when Redis cannot take it
        now (unreachable, failing over, or earlier events still waiting to be written),
        `BusError` when it refused it. Never kept in memory to write later: for what
        must not land late (a resume written hours after the trader moved on)."""
        ...

    async def flush(self, timeout: float = 10.0) -> None: ...

    async def read(
        self, stream: str, start: str = "-", end: str = "+", count: int | None = None
    ) -> list[BusEntry]: ...

    async def read_last(self, stream: str, count: int = 1, before: str = "+") -> list[BusEntry]:
        """The newest `count` entries older than `before` (exclusive; `+`: the stream's
        end), newest first."""
        ...

    def replay(
        self, stream: str, after: str = "0-0", batch: int = 5_000
    ) -> AsyncIterator[BusEntry]: ...

    def tail(self, streams: Mapping[str, str]) -> AsyncIterator[BusEntry]: ...

    def tail_batches(self, streams: Mapping[str, str]) -> AsyncIterator[list[BusEntry]]: ...

    async def streams(self, pattern: str = "*") -> list[str]: ...

    async def info(self, stream: str) -> StreamInfo | None: ...

    async def set_snapshot_floor(self, stream: str, entry_id: str) -> None: ...

    async def trim(self, stream: str, keep: int) -> int: ...

    async def claim(
        self,
        key: str,
        holder: str,
        ttl_ms: int,
        *,
        replacing: str = "",
        pending: bool = False,
        over_pending: bool = False,
    ) -> Claim: ...

    async def claim_wait(self, ttl_ms: int) -> ClaimWait:
        """How long a claim taken now must stay pending (see the class's docstring)."""
        ...

    async def release(self, key: str, holder: str) -> bool: ...

    async def claim_holder(self, key: str) -> str | None:
        """Who holds the claim `key` now (its value), None when it is free; read only,
        the claim untouched (a desk that lost a broker looks who drives it now)."""
        ...

    def add_data_loss_listener(self, listener: DataLossListener) -> None: ...


def parse_id(entry_id: str) -> tuple[int, int]:
    """`"1700000000000-3"` -> (1700000000000, 3). `-`/`+` map to the extremes."""
    if entry_id == "-":
        return (0, 0)
    if entry_id == "+":
        return (2**64 - 1, 2**64 - 1)
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


def format_id(ms: int, seq: int) -> str:
    return f"{ms}-{seq}"
