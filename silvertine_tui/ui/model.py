"""What the UI has read from the bus, kept as plain data between two frames.

The feed reader hands `FeedModel.ingest_batch` what it found waiting on the bus (market
data and the session feed): each instrument's latest quote of the batch and every
other entry, which only updates dicts and counters and marks what changed. The frame timer
reads the model and redraws what is marked: any number of quotes between two frames
costs one redraw (coalescing), and nothing on the render path waits for the bus.
"""

from __future__ import annotations

import heapq
import logging
import math
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from operator import itemgetter
from typing import cast

from ..domain import VENUE_TIME_UNKNOWN, ConnectionState, Instrument, OrderStatus, Quote
from ..domain.seen import SeenIds
from ..engine import FeedEntry
from ..engine.anomalies import ENGINE_COMPONENT
from ..events import (
    MARKET_DATA_TYPES,
    DecodeError,
    FeeCorrectionEvent,
    FillCorrectionEvent,
    FillEvent,
    Health,
    HealthEvent,
    Log,
    LogEvent,
    LogLevel,
    OrderUpdateEvent,
    QuoteEvent,
    ReconcileEvent,
    ReconcileKind,
    ReferencePriceEvent,
    Risk,
    RiskAction,
    RiskEvent,
    Signal,
    SignalEvent,
    UnknownEvent,
)
from ..events.payloads import REPORT_DESK, REPORT_OF
from ..events.summary import Describer, bad_entry_line, corrected_text, price_text, qty_text
from .fees import FeeRates
from .fill_times import line_times
from .fills import RecentFills
from .format import ERROR_TITLE, cut, shown

log = logging.getLogger(__name__)

NOTE_MAX = 10_000
"""Characters of a toast's Log line kept (a kill switch's report of many orders is
whole; a venue's megabyte is not wrapped into rows)."""

NOT_SHOWN_SAID_EVERY_MS = 60_000
"""How often a desk that fails to take in entries says so again (`_not_shown`)."""

Clock = Callable[[], float]


def _count(value: object) -> int:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0


SENT_KEPT = 10_000
"""Client order ids of this desk's sends remembered for its risk rejects' toasts."""


FEED_BACKLOG = 1_000
"""Entries of each feed stream the log starts with: the recent past, not the journal's
first entry (replaying a 300k-event journal into the log pane took over a minute of
full CPU, for lines the log's `log_limit` then dropped). The engine replays everything
it needs from its snapshot on its own."""


def recent_start(newest: list[FeedEntry], keep: int = FEED_BACKLOG) -> str:
    """Where to start reading a stream to get its newest `keep` entries, given its newest
    `keep + 1` entries newest first (`bus.read_last(stream, keep + 1)`): the id of the
    entry just before them (reads start after an id), or `0-0` when the stream holds
    no more than `keep`. (The watching session's `_read_marks` does the same for the
    Quotes pane's start: the UI may import from the engine only what
    tests/unit/test_ui_reads_projection.py allows, and the engine nothing of the UI.)"""
    return newest[keep].id if len(newest) > keep else "0-0"


def is_crossed(quote: Quote) -> bool:
    """Whether `quote`'s top of book is crossed: both sides priced (above 0: an empty
    side is none) and the bid above the ask (IB's tick bid 151 over ask 149, Binance's
    bookTicker b 610 over a 590). Bad data, or a crossed market for a moment: no price
    anyone deals at. Its mid is none (`Quote.mark`: its last trade marks it when it
    carries one, else the mark before it stands). A locked quote (bid = ask) is not
    crossed."""
    bid, ask = quote.bid, quote.ask
    return bid is not None and ask is not None and bid > ask and ask > 0


def crossed_text(quote: Quote, inst: Instrument | None = None) -> str:
    """How a crossed quote is said: `bid 610.00 above ask 590.00` (on the tick's places
    with `inst`)."""
    return f"bid {price_text(quote.bid, inst)} above ask {price_text(quote.ask, inst)}"


CROSSED_SAID_EVERY_MS = 60_000
"""How often the Log says again that an instrument's quote is crossed (`FeedModel.
_crossed`): once as it turns crossed, then at most once a minute however often it
flips (each line says how many crossed quotes of it were read)."""

CROSSED_KEPT = 1_000
"""Instruments whose crossed quotes are counted by name (`FeedModel.crossed_by`): past
them only the total grows (anyone may write quotes of any key on the bus)."""


def entry_ms(entry_id: str) -> int:
    """Milliseconds of a stream entry id (`1700000000000-3`): when the bus stored it."""
    head = entry_id.partition("-")[0]
    return int(head) if head.isdigit() else 0


def entry_key(entry_id: str) -> tuple[int, int]:
    """A stream entry id as a pair that sorts as the stream does (`ms`, `seq`)."""
    ms, _, seq = entry_id.partition("-")
    return (int(ms) if ms.isdigit() else 0, int(seq) if seq.isdigit() else 0)


@dataclass(slots=True)
class QuoteState:
    instrument: str
    source: str
    quote: Quote
    ts_ns: int
    reference: Decimal | None
    """The venue's reference price from the market-data stream (`ReferencePriceEvent`:
    Binance's 24 h open, IB's prior close, the paper venue's day open), None until one
    is read: the change is then not known (`-`), never measured from this desk's first
    quote (which another desk, or this one after a restart, would not share)."""
    """When the quote is from, on this desk's clock (`FeedModel._quote`): when it
    arrived, for a quote read live; its event's own time for one read back at the start."""
    spark: deque[Decimal]
    spark_bucket: int = -1
    mark_ts_ns: int | None = None
    """When the last quote that gave a price came (`price`, timed as `ts_ns`): a crossed
    or one-sided quote leaves the mark as it was (`Quote.mark`), and the mark is as old
    as that quote."""
    lag_ns: int | None = 0
    """How old the quote already was when its broker published it, by the broker's own
    clock (its event's time less `Quote.venue_ts_ns`, never below 0): IB's delayed data
    is 15 minutes old as it arrives, its frozen data as old as the last trade TWS has;
    None where the venue gives no time (`VENUE_TIME_UNKNOWN`): its age is not known
    (`age_s` infinite, `frz ?`; as the epoch it read `frz 20793d`).
    Measured on one clock, the publisher's: a desk on another host, whose clock is not
    this one's, adds it to the quote's age here (`age_s`) and reads it as old as it is,
    never older or newer by the two clocks' difference (`FeedModel.live_after`)."""
    mark_lag_ns: int | None = 0
    """The same of the quote that gave the mark (`mark_ts_ns`)."""
    kind: str = ""
    """The kind of data its broker says the instrument's quotes are (IB's
    `md_type:<key>` health metric: `live`, `delayed`, `frozen`, `delayed-frozen`,
    `none`), "" when it says none."""
    held: str = ""
    """Why its broker's market link holds its quotes ("" while it does not: `held_why`):
    the last one stands but is not the market now (IB cut off from TWS, 1100), however
    young it is."""

    @property
    def price(self) -> Decimal | None:
        """The price the change and the trend follow: the mid, else the last trade, as
        the portfolio marks positions (`Quote.mark`). The Last column
        shows the last trade alone (`quote.last`), never the mid in its place."""
        found = self.quote.mark
        return found[0] if found is not None else None

    @property
    def crossed(self) -> bool:
        """Its latest quote's bid is above its ask (`is_crossed`): the Quotes row says
        `crossed`, the ticket prefills no price from it."""
        return is_crossed(self.quote)

    @property
    def change(self) -> Decimal | None:
        price = self.price
        if price is None or self.reference is None:
            return None
        return price - self.reference

    @property
    def change_pct(self) -> Decimal | None:
        change = self.change
        if change is None or not self.reference:
            return None
        return change / self.reference * 100

    def age_s(self, now_s: float) -> float:
        """How old the quote is at `now_s` (the desk clock, seconds): since it arrived
        here (read live), or since its event was published (read back at the start:
        `ts_ns`). A position's mark is as old (`Quote.mark`)."""
        if self.lag_ns is None:
            return math.inf
        return now_s - self.ts_ns / 1e9 + self.lag_ns / 1e9

    def mark_age_s(self, now_s: float) -> float | None:
        """How old the mark taken from this instrument's quotes is at `now_s`: since the
        last quote that gave a price (and as old as it was then, `mark_lag_ns`); None
        when none did."""
        if self.mark_ts_ns is None:
            return None
        if self.mark_lag_ns is None:
            return math.inf
        return now_s - self.mark_ts_ns / 1e9 + self.mark_lag_ns / 1e9


class QuoteRows(dict[str, QuoteState]):
    """The quotes by instrument (`FeedModel.quotes`), and what the brokers' health says
    of the instruments' market data: `problems`, why an instrument has no data at all
    (IB's 354, not subscribed: `md_problem:<key>` with `md_type:<key>` none), shown in
    its Quotes row, which has no quote to show (`Watchlist`)."""

    def __init__(self) -> None:
        super().__init__()
        self.problems: dict[str, str] = {}
        self.kinds: dict[str, str] = {}
        self.held: dict[str, str] = {}
        """By broker name (`QuoteEvent.source`): why its market link holds its quotes."""
        self._by_component: dict[str, set[str]] = {}

    def latest(self, instrument: str) -> Quote | None:
        """The instrument's latest quote (None: none read): what a ticket or a change
        is judged against."""
        state = self.get(instrument)
        return state.quote if state is not None else None

    def from_health(self, health: Health) -> set[str]:
        """Take in what a broker's health says of its market data; the instruments whose
        rows it changed."""
        component = health.component
        name = component.removeprefix("broker:").partition("/")[0]
        metrics = health.metrics
        changed: set[str] = set()
        held = held_why(metrics)
        if held != self.held.get(name, ""):
            if held:
                self.held[name] = held
            else:
                self.held.pop(name, None)
        for state in self.values():
            if state.source == name and state.held != held:
                state.held = held
                changed.add(state.instrument)
        kinds = {
            key.removeprefix("md_type:"): str(value)
            for key, value in metrics.items()
            if key.startswith("md_type:") and value is not None
        }
        problems = {
            key: str(metrics.get(f"md_problem:{key}") or "no market data")
            for key, kind in kinds.items()
            if kind == "none"
        }
        keys = set(kinds)
        for key in self._by_component.get(component, set()) | keys:
            kind, problem = kinds.get(key, ""), problems.get(key)
            if self.kinds.get(key, "") != kind or self.problems.get(key) != problem:
                changed.add(key)
            if kind:
                self.kinds[key] = kind
            else:
                self.kinds.pop(key, None)
            if problem is not None:
                self.problems[key] = problem
            else:
                self.problems.pop(key, None)
            row = self.get(key)
            if row is not None:
                row.kind = kind
        self._by_component[component] = keys
        return changed


HELD_DETAILS = ("no quotes", "no market data")
"""What a DEGRADED market link's detail says when its quotes stopped (IB cut off from
TWS: `no quotes while TWS is cut off (1100)`; Binance: `no market data for 12 s`). A
DEGRADED link that says something else still quotes (IB's prices that are no prices
of one instrument: the others' quotes flow)."""


def held_why(metrics: Mapping[str, object]) -> str:
    """Why a broker's market link holds its quotes, from its health's `link:market` and
    `link_detail:market` ("" while it does not, or it has no such link): every state but
    LIVE, and DEGRADED when its detail says the quotes stopped (`HELD_DETAILS`)."""
    state = metrics.get("link:market")
    if state is None or state == ConnectionState.LIVE.value:
        return ""
    detail = str(metrics.get("link_detail:market") or "")
    if state == ConnectionState.DEGRADED.value and not any(d in detail for d in HELD_DETAILS):
        return ""
    return f"market {state}" + (f": {detail}" if detail else "")


BUS_COMPONENT = "bus"
BUS_DESK = "desk"
"""The bus health's metric naming the desk whose bus wrote it (its claims' token:
engine/session.py `BUS_DESK`); an older build's bus health has none."""
BUS_DESK_NAME = "desk_name"
"""The same desk as the trader knows it, `desk HOST pid PID` (`BUS_DESK_NAME`)."""
BUS_CLOSED = "closed"
"""Set on the bus health a desk writes as it quits (`BUS_CLOSED`)."""


DESKS_COMPONENTS = frozenset({BUS_COMPONENT, ENGINE_COMPONENT})
"""Components every desk on a prefix writes, each naming its desk (`BUS_DESK`)."""

DESK_NAME_LOGGED = 60
"""Characters of another desk's name kept in a Log line (a host name may be long)."""


def health_key(health: Health) -> str:
    """Where the model keeps a component's health: under its component, and a bus's or
    an engine's under its desk too (`bus@<desk token>`, `engine@<desk token>`). Every
    desk on a prefix writes components `bus` and `engine`: kept under one key, the last
    desk to write was every desk's bus (engine). An older build's names no desk: under
    the component alone (whose it is cannot be told)."""
    if health.component not in DESKS_COMPONENTS:
        return health.component
    desk = health.metrics.get(BUS_DESK)
    return f"{health.component}@{desk}" if desk else health.component


def desk_named(health: Health) -> str:
    """The desk a bus's or an engine's health names (`desk HOST pid PID`, else `desk
    <token>`), "" when it names none."""
    name = health.metrics.get(BUS_DESK_NAME)
    if name:
        return f"{name}"
    token = health.metrics.get(BUS_DESK)
    return f"desk {token}" if token else ""


@dataclass(slots=True)
class ComponentHealth:
    component: str
    state: ConnectionState
    message: str
    metrics: dict[str, int | float | str | bool | None]
    ts_ms: int
    seq: int = 0
    """Its order among the health events the model took in (`FeedModel._health`)."""

    @property
    def desk_name(self) -> str:
        """The desk whose bus this is (`desk HOST pid PID`), "" when it names none."""
        name = self.metrics.get(BUS_DESK_NAME) or self.metrics.get(BUS_DESK)
        return str(name) if name else ""


class LineKind(StrEnum):
    INFO = "info"
    FILL = "fill"
    ORDER = "order"
    WARN = "warn"
    ERROR = "error"
    RISK = "risk"


NOTE_KINDS = {"error": LineKind.ERROR, "warning": LineKind.WARN}
"""A toast's severity -> its line's kind in the log (`FeedModel.note`)."""


@dataclass(frozen=True, slots=True)
class LogLine:
    number: int
    ts_ms: int
    stream: str
    kind: str
    text: str
    line_kind: LineKind
    at: str = ""
    """The time the line reads ("": `ts_ms`'s, when it arrived): a fill's execution
    (`fill_times.line_times`), its text then ending `, heard 14:30:04` when it arrived a
    second or more apart. The log stays in the order the lines arrived."""


@dataclass(frozen=True, slots=True)
class Notice:
    """A toast: `severity` is Textual's (information, warning, error)."""

    title: str
    message: str
    severity: str


@dataclass(frozen=True, slots=True)
class SignalRow:
    key: str
    """Its stream and entry id (`st:signal 1767364202000-0`): unique, where the event's
    own id is whatever its writer chose (two strategies each numbering theirs from "1"
    made one row, the newer replacing the older under the cursor)."""
    ts_ms: int
    """When the bus stored it (the entry id's milliseconds)."""
    signal: Signal
    sent_ms: int | None = None
    """When its producer made it (the envelope's `ts`, in milliseconds)."""

    @property
    def at_ms(self) -> int:
        """What its age is measured from, and the pane's Time: the older of its two
        times. Either alone read an old signal as new: the producer's own bus client
        queues signals through a Redis outage and writes them later with their first
        `ts` (an hour-old signal got a new entry id), and one entry written with an id
        in the future puts every later entry id there (Redis's ids only grow)."""
        sent = self.sent_ms
        return self.ts_ms if sent is None else min(self.ts_ms, sent)

    @property
    def latest_ms(self) -> int:
        """The newer of its two times: ahead of the desk's clock, the signal is flagged
        (`widgets.signals.ahead_s`)."""
        sent = self.sent_ms
        return self.ts_ms if sent is None else max(self.ts_ms, sent)


SIGNALS_KEPT = 200
"""The signals the Signals pane holds (`SignalKeep`)."""

DROPPED_NAMED = 100
"""The strategies whose dropped signals are counted by name (`SignalKeep.dropped_by`);
past them, the rest are counted in the total only (memory stays bounded whatever
strategy names a flood makes up)."""

STRATEGY_NAME_KEPT = 40
"""A strategy's name as `SignalKeep.dropped_by` keeps it."""


class SignalKeep:
    """The newest `keep` signals, oldest first when iterated, with the count of those
    not kept, in all and per strategy.

    Full, a new signal drops the oldest of the strategy holding the most (of those
    holding the most, the one whose oldest is the oldest): a noisy strategy drops its
    own, never the others' (one strategy's 10,000 signals left none of any other's, and
    nothing said that 9,800 went). Memory stays bounded: `keep` rows and at most
    `DROPPED_NAMED` names cut to `STRATEGY_NAME_KEPT` characters."""

    __slots__ = ("_by", "_count", "_seq", "dropped", "dropped_by", "keep")

    def __init__(self, keep: int = SIGNALS_KEPT) -> None:
        self.keep = keep
        self._by: dict[str, deque[tuple[int, SignalRow]]] = {}
        self._count = 0
        self._seq = 0
        self.dropped = 0
        """Signals dropped to keep `keep`."""
        self.dropped_by: dict[str, int] = {}
        """Of them, per strategy (the first `DROPPED_NAMED` strategies to drop any)."""

    def append(self, row: SignalRow) -> None:
        self._seq += 1
        self._by.setdefault(row.signal.strategy, deque()).append((self._seq, row))
        self._count += 1
        if self._count > self.keep:
            self._drop_one()

    def _drop_one(self) -> None:
        most = max(len(rows) for rows in self._by.values())
        strategy = min(
            (name for name, rows in self._by.items() if len(rows) == most),
            key=lambda name: self._by[name][0][0],
        )
        rows = self._by[strategy]
        rows.popleft()
        if not rows:
            del self._by[strategy]
        self._count -= 1
        self.dropped += 1
        name = strategy[:STRATEGY_NAME_KEPT]
        if name in self.dropped_by or len(self.dropped_by) < DROPPED_NAMED:
            self.dropped_by[name] = self.dropped_by.get(name, 0) + 1

    def __iter__(self) -> Iterator[SignalRow]:
        return (row for _, row in heapq.merge(*self._by.values(), key=itemgetter(0)))

    def __len__(self) -> int:
        return self._count


@dataclass(slots=True)
class Rates:
    """Entries per second and the reader's lag, per second of bus time.

    Counted by the second of each entry's id (when the bus stored it) and shown for
    the last whole second, so the figures depend on the data, not on when frames run.
    """

    counts: dict[int, int] = field(default_factory=dict)
    lags: dict[int, float] = field(default_factory=dict)
    events_per_s: float = 0.0
    lag_ms: float = 0.0
    total: int = 0

    def add(self, entry_ms: int, lag_ms: float) -> None:
        second = entry_ms // 1000
        self.counts[second] = self.counts.get(second, 0) + 1
        if lag_ms > self.lags.get(second, 0.0):
            self.lags[second] = lag_ms
        self.total += 1

    def tick(self, now_s: float) -> None:
        last = int(now_s) - 1
        self.events_per_s = float(self.counts.get(last, 0))
        self.lag_ms = self.lags.get(last, 0.0)
        for second in [s for s in self.counts if s < last]:
            del self.counts[second]
            self.lags.pop(second, None)


@dataclass(slots=True)
class FeedModel:
    prefix: str
    clock: Clock
    log_limit: int = 5_000
    spark_points: int = 20
    spark_step_ns: int = 1_000_000_000
    notices_from_ms: int = 0
    own_desk: str = ""
    """This desk's id (`engine.desk_id`): its own KILL, read back from the journal, is not
    toasted again. The kill's report is its toast; at one pane at a time only the newest
    toast shows, and the report was hidden under the KILL read back after it."""
    quotes: QuoteRows = field(default_factory=QuoteRows)
    dirty_quotes: set[str] = field(default_factory=set)
    references: dict[str, Decimal] = field(default_factory=dict)
    """Each instrument's reference price as last read (one may come before the quotes)."""
    health: dict[str, ComponentHealth] = field(default_factory=dict)
    """By `health_key`: a bus's by the desk that wrote it."""
    health_dirty: bool = True
    own_bus: str = ""
    """This desk's token on its bus's health events (`Session.bus_desk`), given as the
    model is built. Without it (a model built bare), a bus event is this desk's when it
    names this desk (`own_desk`)."""
    _health_seq: int = 0
    md_last_ns: dict[str, int] = field(default_factory=dict)
    """Per broker, when its newest quote is from (timed as `QuoteState.ts_ns`)."""
    live_after: dict[str, str] = field(default_factory=dict)
    """Per market-data stream, the id of its last entry when the feed started reading
    it (the app sets it: `SilvertineApp._read_streams`). A quote after it is read live
    and timed by this desk's clock as it arrives: the desk that published it may run on
    another host, whose clock is not this one's (60 s ahead, its quotes read fresh for a
    minute after it was killed; 10 s behind, every quote read `old 10s`). One up to it
    (or of a stream not listed) was read back from the stream's past, and is as old as
    its event's own time says (never newer than now). On the desk that publishes the
    quotes both clocks are one, and the two rules agree to the bus's delay."""
    _live_streams: set[str] = field(default_factory=set)
    """Streams whose entries read now are past `live_after` (every later one is too)."""
    log: deque[LogLine] = field(init=False)
    fills: deque[LogLine] = field(init=False)
    log_total: int = 0
    fills_total: int = 0
    signals: SignalKeep = field(default_factory=SignalKeep)
    signals_dirty: bool = False
    notices: list[Notice] = field(default_factory=list)
    # component -> the state of its current outage (toasted once; cleared when LIVE)
    _outages: dict[str, ConnectionState] = field(default_factory=dict)
    recent_fills: RecentFills = field(default_factory=RecentFills)
    """The header's fill line (not toasts: see `ui/fills.py`)."""
    rates: Rates = field(init=False)
    decode_errors: int = 0
    not_shown: int = 0
    """Entries this desk failed to take in (`_not_shown`): counted, logged, in health."""
    not_shown_last: str = ""
    not_shown_said_ms: int = -NOT_SHOWN_SAID_EVERY_MS
    crossed: int = 0
    """Crossed quotes read (`is_crossed`: the bid above the ask), every one, those a
    later quote of the same batch superseded too: bad market data, counted as the
    entries not shown are, and said in the Log (`_crossed`)."""
    crossed_by: dict[str, int] = field(default_factory=dict)
    """Of them, per instrument (the first `CROSSED_KEPT` instruments)."""
    crossed_from: dict[str, int] = field(default_factory=dict)
    """Of them, per feed (the quote event's source: the broker that published it, as
    `md_last_ns`; the first `CROSSED_KEPT` sources): the Health pane says each broker's
    under its market data (`widgets/health.py`, `BrokerLine.crossed`)."""
    crossed_said_ms: dict[str, int] = field(default_factory=dict)
    """Per instrument, when the Log last said its quote was crossed."""
    fee_rates: FeeRates = field(default_factory=FeeRates)
    sent: SeenIds[str] = field(default_factory=lambda: SeenIds(SENT_KEPT))
    """Client order ids this desk sent: their risk rejects are toasts. Another desk on
    the bus shares the risk stream; its rejects are log lines here, not toasts."""
    placing: dict[str, list[Notice]] = field(default_factory=dict)
    """Orders the ticket is placing, its answer not back yet: a REJECTED of one read
    meanwhile is held here until the answer says who tells it (`placed`)."""
    rejection_said: SeenIds[str] = field(default_factory=lambda: SeenIds(SENT_KEPT))
    """Orders whose placement the ticket answered with its own toast of the refusal
    (`Order not placed`, `Order not sent`): their REJECTED is a Log line here, not a
    second toast with the same reason (IB's 201 read twice, covering the desk)."""
    kill_confirmed: bool = False
    """A kill switch's outcome its report left unknown was since confirmed: its toasts
    go at the next frame (`SilvertineApp._check_kill_toasts`)."""
    describer: Describer = field(default_factory=Describer)
    """Log lines and toasts; the app gives it the engine's instruments so prices are
    printed on their tick and quantities on their lot."""

    def __post_init__(self) -> None:
        self.log = deque(maxlen=self.log_limit)
        self.fills = deque(maxlen=self.log_limit)
        self.rates = Rates()

    # -- ingest ---------------------------------------------------------------------

    def ingest_batch(self, entries: Iterable[FeedEntry]) -> None:
        """What the reader found waiting, in the order the bus stored it; of the quotes
        only each instrument's latest is applied (a quote is state, not an event: the
        log never shows one). Every entry is counted in the rates.

        A read of several streams comes stream by stream: the other entries are put
        back in time order, or a desk's first read, up to `FEED_BACKLOG` entries of each
        stream, would log one stream's hour and then another's. The order is the
        milliseconds of their ids (the server's clock); within one millisecond it is
        not known (the sequence numbers are each stream's own) and the read's stands."""
        latest: dict[str, FeedEntry] = {}
        others: list[FeedEntry] = []
        rates = self.rates
        now_s = self.clock()
        now_ms = now_s * 1000
        for entry in entries:
            event = entry.event
            if isinstance(event, QuoteEvent):
                stamp = entry_ms(entry.id)
                rates.add(stamp, now_ms - stamp)
                quote = event.payload
                bid, ask = quote.bid, quote.ask
                if bid is not None and ask is not None and bid > ask and ask > 0:
                    self._count_crossed(quote.instrument, event.source)  # (`is_crossed`)
                latest[quote.instrument] = entry
            else:
                others.append(entry)
        if len(others) > 1:
            others.sort(key=lambda entry: entry_ms(entry.id))  # stable
        for entry in others:
            try:
                self.ingest(entry)
            except Exception as exc:
                self._not_shown(entry, exc)
        now_ns = int(now_s * 1e9)
        for entry in latest.values():
            try:
                self._quote_entry(entry, now_ns)
            except Exception as exc:
                self._not_shown(entry, exc)

    def _live(self, entry: FeedEntry) -> bool:
        """Whether `entry` was read live: past its stream's `live_after`."""
        stream = entry.stream
        if stream in self._live_streams:
            return True
        after = self.live_after.get(stream)
        if after is None or entry_key(entry.id) <= entry_key(after):
            return False
        self._live_streams.add(stream)
        return True

    def _quote_entry(self, entry: FeedEntry, now_ns: int) -> None:
        """The quote of `entry` (`_quote`), timed as `live_after` says."""
        self._quote(cast(QuoteEvent, entry.event), now_ns if self._live(entry) else None)

    def _not_shown(self, entry: FeedEntry, exc: Exception) -> None:
        """An entry this desk failed to take in: data no check caught, or a fault of
        its own. It is counted and logged with its id, shown in the Health pane and
        said in a toast and a Log line (at most once a minute), and the desk goes on
        with the next entry. Before, the exception ended the reader: quotes, the log
        and health stopped moving, and nothing said so."""
        self.not_shown += 1
        kind = getattr(entry.event, "type", "") or type(entry.event).__name__
        self.not_shown_last = cut(f"{kind} {entry.id} ({type(exc).__name__}: {exc})", 300)
        log.error(
            "ui.entry_not_shown",
            exc_info=exc,
            extra={"stream": entry.stream, "entry_id": entry.id, "event_type": kind},
        )
        self.health_dirty = True
        now_ms = int(self.clock() * 1000)
        if now_ms - self.not_shown_said_ms < NOT_SHOWN_SAID_EVERY_MS:
            return
        self.not_shown_said_ms = now_ms
        said = (
            f"{self.not_shown_last}: this desk could not show it and goes on with the next "
            f"(not shown {self.not_shown} in Health; the log has the details)"
        )
        self.notices.append(Notice("Event not shown", said, "error"))
        self.note(now_ms, f"Event not shown: {said}", "error")

    def ingest(self, entry: FeedEntry) -> None:
        stamp = entry_ms(entry.id)
        self.rates.add(stamp, self.clock() * 1000 - stamp)
        event = entry.event
        if isinstance(event, QuoteEvent):
            if is_crossed(event.payload):
                self._count_crossed(event.payload.instrument, event.source)
            self._quote_entry(entry, int(self.clock() * 1e9))
            return
        if not entry.ok:
            self.decode_errors += 1
        if isinstance(event, ReferencePriceEvent):
            self._reference(event)
            return
        kind = getattr(event, "type", "")
        if kind in MARKET_DATA_TYPES:
            return  # books and prints: the watchlist shows the market, not the log
        if kind == "broker.profile":
            return  # instruments and capabilities: the projection's, not a log line
        if not (isinstance(event, HealthEvent) and self._heartbeat(event)):
            self._to_log(entry, stamp)
        live = stamp >= self.notices_from_ms
        match event:
            case FillEvent():
                p = event.payload
                lookup = self.describer.instruments
                inst = lookup(p.instrument) if lookup is not None else None
                self.fee_rates.learn(p, inst)
                if live:
                    self.recent_fills.add(
                        p.side,
                        shown(
                            f"{p.side} {qty_text(p.quantity, inst)} {p.instrument}"
                            f" @ {price_text(p.price, inst)}"
                        ),
                        self.clock(),
                    )
            case OrderUpdateEvent():
                update = event.payload
                if live and update.status is OrderStatus.REJECTED:
                    self._rejected(event)
            case RiskEvent():
                risk = event.payload
                mine = not risk.client_order_id or risk.client_order_id in self.sent
                if live and risk.action is RiskAction.REJECT and mine:
                    self.notices.append(Notice("Risk reject", risk.message, "error"))
                elif live and risk.action is RiskAction.KILL and not self._own(risk):
                    self.notices.append(Notice("KILL SWITCH", risk.message or "HALTED", "error"))
            case HealthEvent():
                self._health(event, stamp, live)
            case FillCorrectionEvent() if live:
                # The venue changed a fill the desk showed: P&L (maybe the position)
                # moved without an order of the trader's.
                c = event.payload
                lookup = self.describer.instruments
                inst = lookup(c.fill.instrument) if lookup is not None else None
                self.notices.append(
                    Notice("Fill corrected by the venue", shown(corrected_text(c, inst)), "warning")
                )
            case LogEvent() if live and "cancel_follow_up" in event.payload.fields:
                self._cancels_followed(event.payload)
            case LogEvent() if (
                live
                and event.payload.level is LogLevel.ERROR
                and not self._own_report(event.payload)
            ):
                # An error the engine could only say in the log (e.g. orders another
                # desk's kill switch could not cancel here): a toast, never only a line.
                self.notices.append(Notice(ERROR_TITLE, event.payload.message, "error"))
            case SignalEvent():
                key = f"{entry.stream} {entry.id}"
                sent_ms = event.ts // 1_000_000
                self.signals.append(SignalRow(key, stamp, event.payload, sent_ms))
                self.signals_dirty = True
            case _:
                pass

    def _cancels_followed(self, said: Log) -> None:
        """A kill switch's (or cancel all's) outcome the venue left unknown, now known
        (engine/cancels.py `_follow`): orders still working are an error toast; none, an
        information toast, and a kill switch's own error toast ("NOT everything
        cancelled", 60 s) is taken down (`kill_confirmed`): what it said is over."""
        fields = said.fields
        if said.level is LogLevel.ERROR or fields.get("still_working"):
            self.notices.append(Notice(ERROR_TITLE, said.message, "error"))
            return
        of = str(fields.get("of") or "cancel all")
        self.notices.append(Notice(f"{of}: confirmed", said.message, "information"))
        if of == "kill switch":
            self.kill_confirmed = True

    def _rejected(self, event: OrderUpdateEvent) -> None:
        """A REJECTED read live: a toast, unless the ticket says it (one toast per
        rejection). An order of another desk, one rejected after the venue took it, or
        after the ticket said it had no answer, is said here."""
        coid = event.payload.client_order_id
        if coid in self.rejection_said:
            return
        notice = Notice("Order rejected", self.describer(event), "error")
        held = self.placing.get(coid)
        if held is not None:  # read before the ticket's answer: it decides (`placed`)
            held.append(notice)
        else:
            self.notices.append(notice)

    def placing_order(self, client_order_id: str) -> None:
        """The ticket sends `client_order_id`: a REJECTED of it read before the answer
        comes back waits for it (`placed`)."""
        self.placing.setdefault(client_order_id, [])

    def placed(self, client_order_id: str, *, rejection_said: bool) -> None:
        """The ticket has the answer to `client_order_id`: `rejection_said`, its toast
        says the refusal (the venue's, the journal's), and the order's REJECTED is
        not toasted again; else (sent, no answer, refused before it went) a REJECTED
        held meanwhile is toasted now."""
        held = self.placing.pop(client_order_id, [])
        if rejection_said:
            self.rejection_said.add(client_order_id)
        else:
            self.notices.extend(held)

    def _own_report(self, said: Log) -> bool:
        """A report of this desk's cancel all, kill switch or reduce only read back
        (`engine.commands.journal_report`): its toast was this desk's own already."""
        return (
            REPORT_OF in said.fields
            and bool(self.own_desk)
            and said.fields.get(REPORT_DESK) == self.own_desk
        )

    def _own(self, risk: Risk) -> bool:
        return bool(self.own_desk) and risk.message.endswith(f" by {self.own_desk}")

    def _quote(self, event: QuoteEvent, arrived: int | None) -> None:
        """A quote read live is timed by this desk's clock as it arrived (`arrived`, ns),
        one read back (`arrived` None) by its event, never after now (`live_after`)."""
        quote = event.payload
        # Worked out before anything is kept: a number no check caught (a mid that
        # overflows) raises here and the quote is not shown (`_not_shown`). Kept first,
        # the row drawn from it raised inside the next frame and stopped the app.
        mark = quote.mark
        price = mark[0] if mark is not None else None
        key = quote.instrument
        ts = min(event.ts, int(self.clock() * 1e9)) if arrived is None else arrived
        venue_ts = quote.venue_ts_ns
        lag: int | None = 0 if venue_ts is None else max(0, event.ts - venue_ts)
        if venue_ts == VENUE_TIME_UNKNOWN:
            lag = None
        self.md_last_ns[event.source] = max(self.md_last_ns.get(event.source, 0), ts)
        state = self.quotes.get(key)
        if is_crossed(quote) and (state is None or not state.crossed):
            self._crossed(event.source, quote, marked=state is not None and bool(state.mark_ts_ns))
        if state is None:
            state = QuoteState(
                key,
                event.source,
                quote,
                ts,
                self.references.get(key),
                deque(maxlen=self.spark_points),
            )
            state.kind = self.quotes.kinds.get(key, "")
            self.quotes[key] = state
        else:
            state.quote = quote
            state.ts_ns = ts
        state.lag_ns = lag
        state.held = self.quotes.held.get(event.source, "")
        if price is not None:
            state.mark_ts_ns = ts
            state.mark_lag_ns = lag
            bucket = ts // self.spark_step_ns
            if bucket != state.spark_bucket or not state.spark:
                state.spark.append(price)
                state.spark_bucket = bucket
            else:
                state.spark[-1] = price
        self.dirty_quotes.add(key)

    def _count_crossed(self, key: str, source: str) -> None:
        """A crossed quote of instrument `key` read from feed `source`: counted in all,
        by instrument and by feed (the Health pane's)."""
        self.crossed += 1
        by = self.crossed_by
        if key in by or len(by) < CROSSED_KEPT:
            by[key] = by.get(key, 0) + 1
        feeds = self.crossed_from
        if source in feeds or len(feeds) < CROSSED_KEPT:
            feeds[source] = feeds.get(source, 0) + 1

    def _crossed(self, source: str, quote: Quote, *, marked: bool) -> None:
        """An instrument's quote turned crossed (`marked`: a quote of it gave a price
        before): a warning line in the Log, at most once a
        minute an instrument (a feed that flips between crossed and not said every
        flip), saying how many of its quotes were crossed so far, and in the log file.
        No toast: a market crossed for a moment (IB's across venues) is not the
        trader's to act on; the row says it for as long as it lasts."""
        key = quote.instrument
        now_ms = int(self.clock() * 1000)
        if now_ms - self.crossed_said_ms.get(key, -CROSSED_SAID_EVERY_MS) < CROSSED_SAID_EVERY_MS:
            return
        self.crossed_said_ms[key] = now_ms
        lookup = self.describer.instruments
        inst = lookup(key) if lookup is not None else None
        mark = (
            f"its last trade {price_text(quote.last, inst)} marks it"
            if quote.last is not None and quote.last > 0
            else "the mark before it stands"
            if marked
            else "no mark yet"
        )
        count = self.crossed_by.get(key, 0)
        said = (
            f"{key} quote crossed: {crossed_text(quote, inst)} (bad data, or a crossed "
            f"market for a moment): no mid, {mark}; no price is prefilled from it "
            f"({count:,} crossed quote{'s' if count != 1 else ''} of it so far)"
        )
        log.warning("ui.quote_crossed", extra={"instrument": key, "source": source})
        text = shown(cut(said))
        self.log.append(
            LogLine(self.log_total, now_ms, f"md:{source}", "quote", text, LineKind.WARN)
        )
        self.log_total += 1

    def _reference(self, event: ReferencePriceEvent) -> None:
        """The price an instrument's change is measured from, as its venue says it."""
        reference = event.payload
        key = reference.instrument
        price = reference.price
        if self.references.get(key) == price:
            return  # said again (every few seconds): nothing to draw
        self.references[key] = price
        state = self.quotes.get(key)
        if state is not None:
            state.reference = price
            self.dirty_quotes.add(key)

    def _heartbeat(self, event: HealthEvent) -> bool:
        """A periodic health report that changes nothing a trader reads: it updates the
        health pane but is kept out of the log."""
        before = self.health.get(health_key(event.payload))
        return (
            before is not None
            and before.state is event.payload.state
            and (not event.payload.message or event.payload.message == before.message)
        )

    def _this_desks(self, health: Health) -> bool:
        """Whether a bus's (or an engine's) health event is this desk's: it names this
        desk, or no desk at all (an older build's: whose it is cannot be told, so it is
        shown as it was before desks were named)."""
        desk = health.metrics.get(BUS_DESK)
        if not desk:
            return True
        if self.own_bus:
            return desk == self.own_bus
        return bool(self.own_desk) and health.metrics.get(BUS_DESK_NAME) == self.own_desk

    def bus_health(self, own: str) -> ComponentHealth | None:
        """This desk's bus as the health stream says it (`own`: its desk token): the
        newer of its own bus's last event and the last naming no desk (an older
        build's, shown as before)."""
        mine = self.health.get(f"{BUS_COMPONENT}@{own}") if own else None
        unnamed = self.health.get(BUS_COMPONENT)
        if mine is None or (unnamed is not None and unnamed.seq > mine.seq):
            return unnamed
        return mine

    def other_buses(self, own: str) -> list[ComponentHealth]:
        """Other desks' buses whose last word was trouble (not LIVE), in the order
        they were first heard: a desk that quit said so last (`BUS_CLOSED`) and is
        not among them; one killed is, as of its last word (its bus has no heartbeat)."""
        head = f"{BUS_COMPONENT}@"
        return [
            health
            for key, health in self.health.items()
            if key.startswith(head)
            and key != f"{head}{own}"
            and health.state is not ConnectionState.LIVE
            and not health.metrics.get(BUS_CLOSED)
        ]

    def _health(self, event: HealthEvent, stamp: int, live: bool) -> None:
        p = event.payload
        key = health_key(p)
        before = self.health.get(key)
        message = p.message
        if not message and before is not None and before.state is p.state:
            # A heartbeat says nothing new: the reason for the state still holds.
            message = before.message
        self._health_seq += 1
        self.health[key] = ComponentHealth(
            p.component, p.state, message, dict(p.metrics), stamp, self._health_seq
        )
        self.health_dirty = True
        if p.component.startswith("broker:"):
            self.dirty_quotes |= self.quotes.from_health(p)
        if p.component == ENGINE_COMPONENT:
            # Every new anomaly is a toast (not only the first change of state); another
            # desk's engine is that desk's: its toast names it, never "Engine:" alone.
            seen = _count(before.metrics.get("anomalies")) if before is not None else 0
            if live and _count(p.metrics.get("anomalies")) > seen:
                kind = str(p.metrics.get("last_kind") or "anomaly").replace("_", " ")
                whose = "" if self._this_desks(p) else f" of {desk_named(p)}"
                self.notices.append(Notice(f"Engine{whose}: {kind}", p.message, "error"))
            return
        bad = (ConnectionState.DISCONNECTED, ConnectionState.DEGRADED)
        if p.state is ConnectionState.LIVE or p.metrics.get(BUS_CLOSED):
            self._outages.pop(key, None)  # (a desk that quit: no outage of its bus)
            return
        if p.state not in bad:
            return  # CONNECTING, RECONCILING: on the way back, still the same outage
        # One toast an outage: a broker retrying (DISCONNECTED, CONNECTING, DISCONNECTED
        # ... every few seconds) is told once, and again only if it gets worse (DEGRADED
        # to DISCONNECTED) or after it was LIVE. The health pane shows every change.
        known = self._outages.get(key)
        worse = known is ConnectionState.DEGRADED and p.state is ConnectionState.DISCONNECTED
        self._outages[key] = p.state if known is None or worse else known
        bus = p.component == BUS_COMPONENT
        # Another desk's bus is that desk's: its toast names it, never "bus ..." alone.
        what = p.component.removeprefix("broker:")
        if bus and not self._this_desks(p):
            what = f"bus of {desk_named(p)}"
        # The bus says each trouble once, as it finds it (a second key of another type,
        # entries dead-lettered): a new message while DEGRADED is a new trouble, not the
        # same outage retried (it sends no heartbeats).
        another = (
            bus
            and before is not None
            and before.state is p.state
            and bool(p.message)
            and p.message != before.message
        )
        if live and another:
            self.notices.append(Notice(f"{what} {p.state}", p.message, "warning"))
        elif live and (known is None or worse) and (before is None or before.state is not p.state):
            self.notices.append(
                Notice(f"{what} {p.state}", p.message or "connection lost", "warning")
            )

    def _to_log(self, entry: FeedEntry, stamp: int) -> None:
        event = entry.event
        kind = getattr(event, "type", "?")
        line_kind = LineKind.INFO
        if not entry.ok:
            line_kind = LineKind.ERROR
        elif isinstance(event, FillEvent | FeeCorrectionEvent | FillCorrectionEvent):
            line_kind = LineKind.FILL
        elif isinstance(event, OrderUpdateEvent):
            status = event.payload.status
            line_kind = LineKind.ERROR if status is OrderStatus.REJECTED else LineKind.ORDER
        elif isinstance(event, RiskEvent):
            line_kind = LineKind.RISK
        elif (
            isinstance(event, HealthEvent) and event.payload.state is not ConnectionState.LIVE
        ) or (
            isinstance(event, ReconcileEvent)
            and event.payload.kind is not ReconcileKind.OPENING_POSITION
        ):
            line_kind = LineKind.WARN
        elif isinstance(event, LogEvent) and event.payload.level in (
            LogLevel.WARNING,
            LogLevel.ERROR,
        ):
            line_kind = LineKind.WARN if event.payload.level is LogLevel.WARNING else LineKind.ERROR
        stream = entry.stream.removeprefix(f"{self.prefix}:")
        if isinstance(event, DecodeError | UnknownEvent):
            said = bad_entry_line(event, stream, entry.id)  # where it is, to find it
        elif isinstance(event, LogEvent) and self._own_report(event.payload):
            # This desk's own report reads as its toast's line did (`kill switch:
            # Trading HALTED; ...`); read by another desk, or after a restart, it names
            # the desk that made it.
            said = event.payload.message.removeprefix(f"{self.own_desk}, ")
        else:
            said = self.describer(event)
        if (
            isinstance(event, HealthEvent)
            and event.payload.component in DESKS_COMPONENTS
            and not self._this_desks(event.payload)
        ):
            # Another desk's bus or engine is that desk's: its line names it, as its
            # toast does (this desk's own lines stay short at 80 columns).
            component = event.payload.component
            name = cut(desk_named(event.payload), DESK_NAME_LOGGED)
            said = f"{component} of {name}{said.removeprefix(component)}"
        # What it says may be anyone's words on the bus: never raw to the terminal.
        text, kind = shown(cut(said)), shown(kind)
        at = ""
        if isinstance(event, FillEvent):
            # Timed at its execution, as the order history times it: a fill found on a
            # reconnect read at the reconnect.
            at, heard = line_times(event, stamp * 1_000_000)
            if heard:
                text = f"{text}, heard {heard}"
        line = LogLine(self.log_total, stamp, stream, kind, text, line_kind, at)
        self.log.append(line)
        self.log_total += 1
        if line_kind is LineKind.FILL:
            self.fills.append(
                LogLine(self.fills_total, stamp, stream, kind, line.text, line_kind, at)
            )
            self.fills_total += 1

    def note(self, ts_ms: int, text: str, severity: str) -> None:
        """A line of this desk's own, not read from the bus: what a toast said (a
        failed cancel, the kill switch's report), whole, where a toast at one pane at a
        time shows two lines and every toast expires. `severity` is the toast's."""
        kind = NOTE_KINDS.get(severity, LineKind.INFO)
        log.info("ui.notice", extra={"severity": severity, "text": text})  # whole, in the file
        said = shown(cut(text, NOTE_MAX, where="the log file"))
        self.log.append(LogLine(self.log_total, ts_ms, "desk", "notice", said, kind))
        self.log_total += 1

    # -- frame side -------------------------------------------------------------------

    def take_dirty_quotes(self) -> set[str]:
        dirty, self.dirty_quotes = self.dirty_quotes, set()
        return dirty

    def take_notices(self, limit: int = 5) -> list[Notice]:
        """At most `limit` toasts a frame; a burst is summarised, not queued forever."""
        notices, self.notices = self.notices, []
        if len(notices) <= limit:
            return notices
        shown = notices[: limit - 1]
        rest = len(notices) - len(shown)
        return [*shown, Notice("More", f"{rest} more events: see the log", "information")]
