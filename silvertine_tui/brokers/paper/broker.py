"""`PaperBroker`: the simulated venue behind the `Broker` contract.

The matching core (`PaperVenue`) is synchronous; this adapter gives it time:

- Requests travel: `place` (and a replace) reaches the venue after the ack latency,
  a cancel after the cancel latency. The market keeps moving meanwhile, so an order
  meets the book as it is on arrival, and a cancel can lose the race against a fill.
- Reports travel back through one FIFO outbox: a report made by a market move leaves
  after the fill latency; reports never overtake each other (a venue's socket is
  ordered). `place` returns once its acknowledgement is published.
- While connected the synthetic market moves on a timer (`market.autorun`); `step()`
  moves it by hand, `on_market_data()` feeds another adapter's books instead;
  `market.source: binance` feeds Binance's public streams through it (`binance_feed.py`).
- `drop_link()`/`restore_link()` simulate a lost venue connection: the venue keeps
  trading, its reports are lost, and on reconnect the adapter re-reads the venue's
  state and publishes what was missed, exactly once.
- On the first `connect()` the venue is rebuilt from its own journal on the bus
  (`journal.restore_from_journal`): a restart with Redis keeps orders, fills and cash,
  and publishes nothing for them.
- If Redis loses that journal while the desk runs, the venue still holds its account in
  memory: `reseed_journal` writes it back (its working orders, positions and balances),
  so that the desk and a later restart show the same account.
- Its reference price (what the Quotes pane's Chg% is measured from) is each symbol's
  day open: the first mid of the simulated trading day (days end at
  `market.day_end_utc`, as DAY orders do), published with the market. A restart the
  same day takes it back from the market data stream (`journal.last_references`), so
  it is the venue's, not the process's: the same after a restart, the same on every
  desk reading the stream.
- The venue archives finished orders beyond its window (`retention`); an order stays
  out of the archive while reports about it wait in the outbox or were lost on a
  dropped link (`PaperVenue.hold`), and what the adapter remembers per order (the
  statuses and execution ids it published) leaves with it.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
import weakref
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from ...bus import BusError, EventBus
from ...config import BrokerConfigBase, PaperBrokerConfig
from ...domain import (
    ZERO,
    Balance,
    Book,
    Capabilities,
    ConnectionState,
    Fill,
    Instrument,
    MarketDataKind,
    ModifyStyle,
    OrderRequest,
    OrderStatus,
    OrderUpdate,
    Position,
    Quote,
    ReferenceBasis,
    ReferencePrice,
    VenueOrder,
    plain,
    split_key,
)
from ...domain.clock import DAY_NS
from ...events import (
    BalanceEvent,
    BookEvent,
    EventBase,
    FillEvent,
    Log,
    LogEvent,
    LogLevel,
    ModifyRequest,
    OrderUpdateEvent,
    PositionEvent,
    QuoteEvent,
    Reconcile,
    ReconcileEvent,
    ReconcileKind,
    ReferencePriceEvent,
)
from ..base import TRADABLE_STATES, Broker, Clock, ReconcileReport
from ..errors import (
    BrokerError,
    BrokerTimeout,
    ConfigurationError,
    NotConnected,
    OrderRejected,
    UnknownOrder,
    cancel_too_late,
)
from ..stopping import stop_task
from .account import CashState, PositionState, average
from .binance_feed import RETRY_DELAYS, BinanceFeed
from .instruments import VENUE, SymbolSpec, build_specs
from .journal import (
    JournalState,
    continue_after_snapshot,
    last_mids,
    last_references,
    restore_from_journal,
)
from .market import MarketBook, SyntheticMarket
from .orders import RESEEDED, TRIGGERED_REASON, ExecReport, ReportKind, SimFill, SimOrder
from .runtime import ExecutionMetrics, FaultInjector, LatencyModel
from .venue import PaperVenue, day_end_offset_ns

log = logging.getLogger(__name__)


@dataclass(slots=True, eq=False)
class _Batch:
    """Reports the venue made at one moment, released together at `release`."""

    reports: list[ExecReport]
    release: float  # loop time
    made: float  # loop time of the execution (fill latency is measured from here)
    done: asyncio.Future[None] | None  # None: published at once, nobody waits
    delivered: bool = field(default=False)
    # The order whose status this batch puts back after a change the venue never took
    # (`_as_the_venue_holds`): written only while the journal still reads that change's
    # PENDING_REPLACE (`PaperBroker._stale_put_back`).
    put_back: str | None = None


@dataclass(slots=True)
class _Lost:
    """What a dropped link lost of one order besides its fills and its status, which
    the resync reads from the venue: the venue keeps no trace of these."""

    trigger: str = ""  # the reason of a lost TRIGGERED report (its stop triggered)
    trigger_ns: int = 0  # the venue's time of it
    replaced_ns: int | None = None  # the venue's time of a lost REPLACED report
    answer: str = ""  # the reason of a lost STATUS report (a refused cancel or modify)


class PaperBroker(Broker):
    """The paper simulator as a broker adapter. See docs/paper-simulator.md."""

    kind = "paper"
    state_in_journal = True
    # Backoff of the Binance market feed (market.source binance), seconds per attempt.
    market_retry_delays: tuple[float, ...] = RETRY_DELAYS

    def __init__(
        self, config: BrokerConfigBase, bus: EventBus, *, clock: Clock = time.time_ns
    ) -> None:
        if not isinstance(config, PaperBrokerConfig):
            raise ConfigurationError(
                f"PaperBroker needs a paper broker section, got type {config.type!r}"
            )
        super().__init__(config, bus, clock=clock)
        self.paper: PaperBrokerConfig = config
        self.specs: dict[str, SymbolSpec] = build_specs(config)
        self._instruments: dict[str, Instrument] = {
            key: spec.instrument() for key, spec in self.specs.items()
        }
        self.venue = PaperVenue.from_config(config, self.specs)
        self.market: SyntheticMarket | None = None
        # market.source binance: Binance's public streams (built at connect).
        self.feed: BinanceFeed | None = None
        if config.market.source == "synthetic":
            self.market = SyntheticMarket(self.specs.values(), config.market, config.seed)
        self.latency = LatencyModel(config.latency, random.Random(f"{config.seed}/latency"))
        self.faults = FaultInjector(config.faults, random.Random(f"{config.seed}/faults"))
        # Simulation control: the next order reaches the venue but its answer is lost.
        self._lose_next_answer = False
        # The same for the next cancel (or cancel all): the venue cancels, the answer
        # is lost (`lose_next_cancel_answer`).
        self._lose_next_cancel = False
        self.metrics = ExecutionMetrics()
        self.journal: JournalState | None = None
        self._told_trimmed = False
        self._subscribed: set[str] = set(self.specs)
        # The venue's reference prices: each symbol's day open (`_note_open`), and the
        # trading day (days since the epoch, ending at `day_end_utc`) it opened.
        self._day_offset = day_end_offset_ns(config.market.day_end_utc)
        self._opens: dict[str, ReferencePrice] = {}
        self._open_day: dict[str, int] = {}
        self._outbox: deque[_Batch] = deque()
        self._wake = asyncio.Event()
        self._pump_lock = asyncio.Lock()
        self._last_release = 0.0
        self._link_up = False
        self._running = False
        self._market_task: asyncio.Task[None] | None = None
        self._publisher_task: asyncio.Task[None] | None = None
        # What the journal has seen, to re-send exactly what a dropped link lost.
        self._published_execs: set[str] = set()
        self._published_status: dict[str, OrderStatus] = {}
        self._last_update: dict[str, OrderUpdate] = {}
        # Orders whose last word in the journal is this adapter's PENDING_REPLACE (a
        # change on its way): a put-back of their status is written only while they
        # are here (`_stale_put_back`), read and written under the outbox's lock.
        self._replacing: set[str] = set()
        self._missed: dict[str, _Lost] = {}
        # Holds on the venue's archive for reports lost on a dropped link (released
        # once the resync has published them).
        self._missed_holds: list[str] = []
        # Redis lost the journal while the venue's link was down: re-seeded once it is
        # back (the resync first publishes the reports the link lost).
        self._reseed_pending = False
        # Orders whose acknowledgement was lost (`lose_next_order_answer`), with the
        # holds of their unsent reports: released once a query has answered for them.
        self._unanswered: dict[str, list[str]] = {}
        # Through a weak reference: the venue must not keep its adapter alive (a cycle
        # would leave both to the cyclic collector).
        this = weakref.ref(self)

        def forget(order: SimOrder) -> None:
            broker = this()
            if broker is not None:
                broker._forget(order)

        self.venue.on_archive = forget
        self.venue.hold_reported = True
        self.capabilities = Capabilities(
            modify=ModifyStyle.NATIVE,
            cancel_all_native=True,
            reduce_only_native=True,
            short_selling=config.checks.short_selling,
            # A short holds back its proceeds and a margin of its cost (`Account.
            # buying_power`): the ticket judges a short sell against that, as the venue.
            short_margin=Decimal(1) if config.checks.short_selling else None,
            # A buy's base fee (`fees.currency: base`) comes out of the position it
            # buys, with short selling on or off (`PaperVenue._fill`).
            asset_fees_from_position=True,
            market_data=frozenset({MarketDataKind.QUOTE, MarketDataKind.BOOK}),
        )

    # -- identity ---------------------------------------------------------------------

    def paper_key(self, instrument: str) -> str:
        """`BTCUSDT.BINANCE` -> `BTCUSDT.PAPER` (how external data is mapped)."""
        symbol, _ = split_key(instrument)
        return f"{symbol}.{VENUE}"

    @property
    def link_up(self) -> bool:
        return self._link_up

    # -- connection -----------------------------------------------------------------------

    async def connect(self) -> None:
        if self._running and self.state in TRADABLE_STATES:
            return
        await self.set_state(ConnectionState.CONNECTING)
        if self.journal is None:
            await self._restore()
        await self.set_state(ConnectionState.RECONCILING)
        self._running = True
        self._link_up = True
        if self._publisher_task is None or self._publisher_task.done():
            self._publisher_task = asyncio.create_task(
                self._publisher(), name=f"paper-publisher:{self.source}"
            )
        await self._resync("reported after connect")
        out: list[EventBase] = []
        self._add_account(out, self.venue.positions(), self.venue.balances())
        await self.bus.publish_many(out)
        running = self._market_task is not None and not self._market_task.done()
        if self.market is not None and self.paper.market.autorun and not running:
            self._market_task = asyncio.create_task(
                self._run_market(), name=f"paper-market:{self.source}"
            )
        self.start_health_loop()
        journal = self.journal
        restored = journal.working_orders if journal is not None else 0
        await self.set_state(
            self.derived_state(),
            f"paper venue ready: {len(self.specs)} instruments, "
            f"{restored} working orders restored from the journal",
        )
        if journal is not None and journal.trimmed and not self._told_trimmed:
            await self._tell_trimmed(journal.trimmed, journal.deleted_within)
        await self._publish_market(self._subscribed, references=True)
        if self.paper.market.source == "binance" and self.feed is None:
            self.feed = self._binance_feed()
            await self.set_link("market", ConnectionState.CONNECTING, "Binance market data")
            self.feed.start()

    async def _tell_trimmed(self, entries: int, deleted_within: str = "") -> None:
        """The journal the venue was rebuilt from had lost entries: say so once, an
        error in the Log and a toast (the venue is its journal: what they held is gone
        for good). Its first ones, or (`deleted_within`, the newest an XDEL took) some
        from its middle, said as such: it read "its first N entries" for a fill deleted
        from the middle. Deleted while the desk runs, the bus finds it and the venue
        writes its journal back from memory (`reseed_journal`); found here, no desk ran
        to do so."""
        self._told_trimmed = True
        if deleted_within:
            lost = (
                f"lost {entries} entries while no desk ran, the newest deleted "
                f"{deleted_within} from its middle (an XDEL by another hand: a desk never "
                "deletes its entries)"
            )
            held = "what they held (an order event, a fill) is"
        else:
            lost = (
                f"lost its first {entries} entries while no desk ran (an XTRIM or XDEL by "
                "another hand: a desk never trims it; or an older build's trim behind a "
                "snapshot)"
            )
            held = "orders, positions and cash from before them are"
        message = (
            f"{self.source}: the paper venue's journal {lost}. The paper venue is rebuilt "
            f"from its journal alone: {held} not restored, and the reconcile shows where "
            "the desk and the venue now differ (working orders it cancels, positions it "
            "takes from the venue): check them"
        )
        log.error("paper.journal_trimmed", extra={"broker": self.source, "entries": entries})
        await self.bus.publish(
            LogEvent.create(
                self.source, Log(level=LogLevel.ERROR, message=message), ts=self.clock()
            )
        )

    def _binance_feed(self) -> BinanceFeed:
        return BinanceFeed(
            self.paper.market,
            sorted(spec.symbol for spec in self.specs.values()),
            on_data=self.on_market_data,
            on_link=lambda state, detail: self.set_link("market", state, detail),
            on_gap=self._market_gap,
            retry_delays=self.market_retry_delays,
            clock=self.clock,
        )

    async def _market_gap(self, instrument: str, what: str) -> None:
        self.count_error("market_gap")
        await self.publish_health(f"market: {instrument}: {what}")

    def derived_state(self) -> ConnectionState:
        """LIVE, or DEGRADED while the market link is down (orders still go to the
        simulator; they fill when prices come back). A dropped venue link wins."""
        if not self._link_up:
            return self.health_state.state
        if not self.health_state.links:
            return ConnectionState.LIVE
        return super().derived_state()

    async def _restore(self) -> None:
        stream = self.bus.layout.exec(self.name, self.account)
        journal = await restore_from_journal(self.bus, stream, self.venue)
        await continue_after_snapshot(
            self.bus, self.bus.layout.snap(self.name, self.account), self.venue
        )
        self.journal = journal
        self._published_execs = set(journal.published_execs)
        self._published_status = dict(journal.published_status)
        now = self.clock()
        if journal.entries:
            # A restart: today's opens are the ones published before it.
            md = self.bus.layout.md(self.name)
            for key, opened in (await last_references(self.bus, md, set(self.specs))).items():
                day = self._day(opened.venue_ts_ns)
                if opened.basis is ReferenceBasis.SESSION_OPEN and day == self._day(now):
                    self._opens[key] = opened
                    self._open_day[key] = day
        if self.market is None:
            return
        if journal.entries:
            # A restart: a new, still deterministic, walk from where the market was.
            self.market = SyntheticMarket(
                self.specs.values(),
                self.paper.market,
                self.paper.seed,
                salt=f"/{journal.last_id}",
            )
            mids = await last_mids(self.bus, self.bus.layout.md(self.name), set(self.specs))
            for key in self.specs:
                mid = mids.get(key) or journal.last_fill_price.get(key)
                if mid is not None:
                    self.market.anchor(key, mid)
        for book in self.market.books(now).values():
            # Installed without matching: the first move after a restart does that.
            self.venue.set_book(book, now, match=False)
            self._note_open(book, now)

    async def close(self) -> None:
        if not self._running:
            return
        if self.feed is not None:
            feed, self.feed = self.feed, None
            await feed.close()
            self.health_state.links.pop("market", None)
        self._running = False
        await stop_task(self._market_task)
        self._market_task = None
        # Whatever the venue did is reported before we go: it is in the journal, so a
        # restart finds it.
        await self._pump(force=True)
        await stop_task(self._publisher_task)
        self._publisher_task = None
        await self.stop_health_loop()
        self._link_up = False
        await self.set_state(ConnectionState.DISCONNECTED, "closed")

    async def drop_link(self, reason: str = "connection to the paper venue lost") -> None:
        """Simulate a lost venue connection: reports are lost, the venue keeps trading."""
        self._link_up = False
        self.health_state.errors["disconnect"] += 1
        await self.set_state(ConnectionState.DISCONNECTED, reason)

    def lose_next_order_answer(self) -> None:
        """Simulate a timeout after the venue took the order: the next `place` reaches
        the venue, but its acknowledgement never comes back (fills still do) and the
        call raises `BrokerTimeout`. The order's fate is then found by asking
        (`resolve_unknown` and `query_order`), never by sending it again."""
        self._lose_next_answer = True

    def lose_next_cancel_answer(self) -> None:
        """Simulate a timeout after the venue took a cancel: the next `cancel` (or
        `cancel_all`) reaches the venue, which cancels, but its answer never comes back
        and the call raises `BrokerTimeout`; the order stays PENDING_CANCEL. What the
        venue did is then found by asking it (`_ask_after_lost_answer`), or by the
        resync of a reconnect if the link drops first, and journaled once."""
        self._lose_next_cancel = True

    async def restore_link(self) -> None:
        """Reconnect after `drop_link`: re-read the venue and publish what was missed."""
        if not self._running:
            raise NotConnected(f"{self.source} is closed: use connect()")
        await self.set_state(ConnectionState.RECONCILING)
        # Everything still in flight went out on the dead link: the resync re-reads it.
        await self._pump(force=True)
        self._link_up = True
        self.health_state.reconnects += 1
        sent = await self._resync("reported after reconnect")
        if self._reseed_pending:
            await self._reseed()
        await self.set_state(self.derived_state(), f"reconnected; {sent} missed reports published")
        await self._publish_market(self._subscribed, references=True)
        await self.announce_reconnect()

    # -- Redis lost the journal ----------------------------------------------------------

    async def reseed_journal(self) -> str:
        """Redis lost the journal while the desk ran. The journal is this venue's memory
        on a restart, but the venue still holds its account: write back its working
        orders (a DATA_LOSS reconcile each, the order as the venue holds it), then its
        positions and balances, after a first DATA_LOSS reconcile that says so
        (`journal.restore_from_journal` starts again from there). The desk holds the
        same in memory: it applies them without a change. Returns what the trader must
        be told ("" before the first connect, which reads what the journal holds)."""
        if self.journal is None or not self._running:
            return ""
        lost = (
            f"Redis lost the journal of {self.source}, and with it the paper account's "
            "history. The paper venue is a simulator in this desk, with no other record to "
            "check; it kept its working orders, positions and balances in memory"
        )
        if not self._link_up:
            self._reseed_pending = True
            return (
                f"{lost}: the journal is re-seeded from them once the paper venue's link is "
                "back. Orders and fills from before the loss are gone from the journal."
            )
        held = await self._reseed()
        return (
            f"{lost}, and the journal was re-seeded from them ({held}): the desk shows the "
            "same orders, positions and balances, now and after a restart. Orders and fills "
            "from before the loss are gone from the journal."
        )

    async def _reseed(self) -> str:
        self._reseed_pending = False
        # Reports made before are published first: the state written next includes
        # them, and a report written after it would be counted twice on a restart.
        while self._outbox or self._pump_lock.locked():
            await self._pump(force=True)
        # In time priority (a replace sent an order back): a restart deals their venue
        # numbers out in this order, so each keeps its place in its queue.
        working = sorted(self.venue.open_orders(), key=lambda o: o.seq)
        balances = self.venue.balances()
        # Every position the account has booked, flat ones with realized P&L or fees
        # too: a desk rebuilt from the journal takes each as its standing (the fills
        # behind it are gone), and the Positions pane shows a flat one with P&L.
        positions = [
            p
            for p in self.venue.account.positions.values()
            if p.quantity or p.realized_pnl or p.fees
        ]
        held = (
            f"{len(working)} working order(s), {len(self.venue.positions())} position(s), "
            f"{len(balances)} balance(s)"
        )
        out: list[EventBase] = [
            ReconcileEvent.create(
                self.source,
                Reconcile(
                    kind=ReconcileKind.DATA_LOSS,
                    ours="journal lost",
                    venue=f"kept in memory: {held}",
                    detail="Redis lost the journal: re-seeded from the paper venue's memory",
                ),
                ts=self.clock(),
            )
        ]
        for order in working:
            out.append(
                ReconcileEvent.create(
                    self.source,
                    Reconcile(
                        kind=ReconcileKind.DATA_LOSS,
                        instrument=order.instrument,
                        client_order_id=order.client_order_id,
                        ours="lost with the journal",
                        venue=f"{order.status} {plain(order.filled_qty)}/{plain(order.quantity)}",
                        detail=f"{RESEEDED}; {TRIGGERED_REASON}" if order.triggered else RESEEDED,
                        venue_order=self._venue_order(order),
                    ),
                    ts=self.clock(),
                )
            )
        self._add_account(out, positions, balances)
        await self.bus.publish_many(out)
        log.warning("paper.journal_reseeded", extra={"broker": self.source, "held": held})
        return held

    # -- the market -----------------------------------------------------------------------

    async def _run_market(self) -> None:
        loop = asyncio.get_running_loop()
        interval = self.paper.market.tick_interval_ms / 1000.0
        next_at = loop.time()
        while True:
            next_at += interval
            delay = next_at - loop.time()
            if delay < -interval:
                next_at = loop.time()  # fell behind: skip ticks rather than burst
                delay = 0.0
            await asyncio.sleep(max(0.0, delay))
            try:
                self._advance()
                await self._publish_market(self._subscribed)
            except Exception:
                self.count_error("market")
                log.exception("paper.market_step_failed", extra={"broker": self.source})

    def _advance(self) -> list[ExecReport]:
        assert self.market is not None
        now = self.clock()
        reports: list[ExecReport] = []
        for book in self.market.step(now).values():
            reports += self.venue.set_book(book, now)
            self._note_open(book, now)
        reports += self.venue.expire(now)
        self._dispatch(reports, self.latency.fill())
        return reports

    async def step(self, n: int = 1) -> list[ExecReport]:
        """Move the synthetic market `n` steps by hand; returns the venue's reports once
        they are published (tests, benchmarks, `autorun: false`)."""
        if self.market is None:
            raise BrokerError(f"{self.source} uses external market data: nothing to step")
        reports: list[ExecReport] = []
        for _ in range(n):
            reports += self._advance()
        await self._publish_market(self._subscribed)
        await self.settle()
        return reports

    async def on_market_data(self, data: Book | Quote) -> list[ExecReport]:
        """Feed another adapter's book or quote as this venue's market.

        The instrument is mapped by symbol (`BTCUSDT.BINANCE` -> `BTCUSDT.PAPER`);
        symbols this broker does not trade are ignored. With the synthetic source the
        random walk continues from the fed mid. Reports are released with the fill
        latency; this does not wait for them (see `settle`).
        """
        key = self.paper_key(data.instrument)
        if key not in self.specs:
            return []
        if isinstance(data, Book):
            book = MarketBook.from_book(data, key)
        else:
            book = MarketBook.from_quote(data, key)
        now = self.clock()
        if book.ts_ns == 0:
            book = MarketBook(key, book.bids, book.asks, now)
        if self.market is not None and book.mid is not None:
            self.market.anchor(key, book.mid)
        reports = self.venue.set_book(book, now)
        self._note_open(book, now)
        reports += self.venue.expire(now)
        self._dispatch(reports, self.latency.fill())
        await self._publish_market({key})
        return reports

    def _day(self, ts_ns: int | None) -> int:
        """The venue's trading day of `ts_ns` (-1 for none): days end at `day_end_utc`."""
        return -1 if ts_ns is None else (ts_ns - self._day_offset) // DAY_NS

    def _note_open(self, book: MarketBook, now: int) -> None:
        """The first book of a trading day with a mid sets that day's open: the
        instrument's reference price until the next day (`ReferenceBasis.SESSION_OPEN`)."""
        key = book.instrument
        day = (now - self._day_offset) // DAY_NS
        if self._open_day.get(key) == day:
            return
        mid = book.mid
        if mid is None:
            return
        self._open_day[key] = day
        self._opens[key] = ReferencePrice(
            instrument=key, price=mid, basis=ReferenceBasis.SESSION_OPEN, venue_ts_ns=now
        )

    async def _publish_market(self, keys: Iterable[str], *, references: bool = False) -> None:
        """Each instrument's quote and book, after its day open when that is new (with
        `references`, whether new or not: a connect, a reconnect)."""
        if not self._link_up:
            return
        events: list[EventBase] = []
        for key in sorted(keys):
            book = self.venue.book(key)
            if book is None:
                continue
            now = self.clock()
            self._seen(key, now)
            opened = self._opens.get(key)
            if opened is not None and (self.hold_reference(opened) or references):
                events.append(ReferencePriceEvent.create(self.name, opened, ts=now))
            quote = book.to_quote(last=self._last_trade(key))
            events.append(QuoteEvent.create(self.name, quote, ts=now))
            events.append(BookEvent.create(self.name, book.to_book(), ts=now))
        if events:
            await self.bus.publish_many(events)

    def _last_trade(self, key: str) -> Decimal | None:
        """The market's last trade: Binance's while its prices feed the venue (a paper
        fill there is no trade of Binance's market), else the venue's own last fill."""
        if self.paper.market.source == "binance":  # the feed may not be up yet: none
            return self.feed.last_trade(self.specs[key].symbol) if self.feed else None
        return self.venue.last_trade(key)

    # -- the outbox ---------------------------------------------------------------------

    def _dispatch(
        self, reports: list[ExecReport], delay: float, *, put_back: str | None = None
    ) -> _Batch | None:
        """Queue reports to leave after `delay` seconds, never before earlier ones."""
        if not reports:
            return None
        loop = asyncio.get_running_loop()
        now = loop.time()
        release = max(now + delay, self._last_release)
        self._last_release = release
        batch = _Batch(reports, release, now, loop.create_future(), put_back=put_back)
        self._outbox.append(batch)
        self._wake.set()
        return batch

    async def _deliver(self, reports: list[ExecReport], *, put_back: str | None = None) -> bool:
        """Publish reports now (behind anything already queued); False if lost.
        `put_back`: the order whose status they put back (`_Batch.put_back`)."""
        if not reports:
            return True
        if self._outbox or self._pump_lock.locked():
            # Busy: queue behind what is there and wait for our turn (no recursion).
            return await self._wait(self._dispatch(reports, 0.0, put_back=put_back))
        async with self._pump_lock:  # nothing queued: no need to go through the queue
            now = asyncio.get_running_loop().time()
            return await self._publish_batch(_Batch(reports, now, now, None, put_back=put_back))

    async def _wait(self, batch: _Batch | None) -> bool:
        """Wait until `batch` is published; False if it was lost to a dropped link."""
        if batch is None:
            return True
        loop = asyncio.get_running_loop()
        idle = self._publisher_task is None or self._publisher_task.done()
        if idle and batch.release > loop.time():
            await asyncio.sleep(batch.release - loop.time())  # not connected: no publisher
        if batch.release <= loop.time():
            await self._pump()
        if batch.done is not None:
            await batch.done
        return batch.delivered

    async def settle(self) -> None:
        """Wait until every queued report has been published (or lost)."""
        while self._outbox:
            await self._wait(self._outbox[-1])

    async def _publisher(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if not self._outbox:
                self._wake.clear()
                await self._wake.wait()
                continue
            delay = self._outbox[0].release - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            try:
                await self._pump()
            except Exception:
                log.exception("paper.publish_failed", extra={"broker": self.source})

    async def _pump(self, *, force: bool = False) -> None:
        """Publish every batch that is due (all of them with `force`), in order."""
        loop = asyncio.get_running_loop()
        async with self._pump_lock:
            while self._outbox and (force or self._outbox[0].release <= loop.time()):
                batch = self._outbox.popleft()
                done = batch.done
                try:
                    batch.delivered = await self._publish_batch(batch)
                except Exception as exc:
                    if done is not None and not done.done():
                        done.set_exception(exc)
                    raise
                if done is not None and not done.done():
                    done.set_result(None)

    async def _publish_batch(self, batch: _Batch) -> bool:
        """Publish one batch (its orders were held from the archive when it was made):
        the hold ends once it is published, or after the resync when it is lost."""
        coids = [r.client_order_id for r in batch.reports]
        try:
            sent = await self._publish_reports(batch)
        except BaseException as exc:
            self.venue.release(coids)
            if isinstance(exc, Exception):
                # Not the bus (its refusals are kept: `_journal`): reports it could not
                # even make. Counted (health `errors`); the venue has applied them.
                self.count_error("publish")
            raise
        if sent:
            self.venue.release(coids)
        else:
            self._missed_holds.extend(coids)
        return sent

    async def _publish_reports(self, batch: _Batch) -> bool:
        """Publish one batch: updates and fills in order, then the positions and
        balances they changed; all through one `publish_many` (awaited, in order)."""
        if not self._link_up:
            self._note_lost(r for r in batch.reports if not self._stale_put_back(batch, r))
            return False
        loop = asyncio.get_running_loop()
        out: list[EventBase] = []
        positions: dict[str, PositionState] = {}
        balances: dict[str, CashState] = {}
        for report in batch.reports:
            if self._stale_put_back(batch, report):
                continue
            if report.fill is not None:
                if report.fill.exec_id in self._published_execs:
                    continue  # already sent by a resync: every fill exactly once
                self._add_fill(out, report.fill, report.status)
                order = self.venue.order(report.client_order_id)
                self.metrics.on_fill(
                    loop.time() - batch.made,
                    report.fill.side,
                    report.fill.price,
                    order.arrival_mid if order is not None else None,
                    report.fill.fee,
                    report.fill.fee_currency,
                    report.fill.quantity,
                )
                if report.position is not None:
                    positions[report.position.instrument] = report.position
                if report.balance is not None:
                    balances[report.balance.currency] = report.balance
            else:
                if report.kind is ReportKind.CANCELED:
                    self.metrics.cancels += 1
                self._add_update(out, self._update(report))
                if report.balance is not None:  # what the order locks or released
                    balances[report.balance.currency] = report.balance
        self._add_account(out, positions.values(), balances.values())
        await self._journal(out)
        return True

    def _stale_put_back(self, batch: _Batch, report: ExecReport) -> bool:
        """Whether `report` puts an order's status back after a change the venue never
        took (`_as_the_venue_holds`) while the journal no longer reads that change's
        PENDING_REPLACE: a cancel's PENDING_CANCEL, or a report of the venue's, was
        journaled after it meanwhile (the put-back waited behind reports queued before
        it). Written then, the journal read NEW "modify not sent ..." after the
        cancel's PENDING_CANCEL. Read under the outbox's lock, which the adapter's own
        steps are journaled under too (`publish_update`). An end the venue holds is
        written all the same (it is news or a repeat, never a step back)."""
        if (
            batch.put_back != report.client_order_id
            or report.kind is not ReportKind.STATUS
            or report.status.is_terminal
            or report.client_order_id in self._replacing
        ):
            return False
        log.info(
            "paper.put_back_dropped",
            extra={
                "broker": self.source,
                "client_order_id": report.client_order_id,
                "reason": report.reason,
            },
        )
        return True

    def _note_lost(self, reports: Iterable[ExecReport]) -> None:
        """Reports that never reached the journal (a dropped link, a lost answer): the
        next resync publishes what the venue holds of their orders (`_resync`)."""
        for report in reports:
            lost = self._missed.setdefault(report.client_order_id, _Lost())
            if report.kind is ReportKind.TRIGGERED:
                lost.trigger, lost.trigger_ns = report.reason, report.ts_ns
            elif report.kind is ReportKind.REPLACED:
                lost.replaced_ns = report.ts_ns
            elif report.kind is ReportKind.STATUS:
                lost.answer = report.reason

    async def _journal(self, events: list[EventBase]) -> None:
        """Publish one batch's events, in order. The venue has already applied them:
        refused by the bus (Redis READONLY, out of memory, the outage buffer full),
        dropped, the journal and the venue parted with nothing said. So they are kept
        and written again until the bus takes them (`brokers/kept.py`: counted,
        `unjournaled` in health, written once more at close); while any wait, the
        batches after them go behind them, so each order's events keep their order."""
        if not self.unjournaled:
            try:
                await self.bus.publish_many(events)
                return
            except BusError as exc:
                self.count_error("publish")
                log.error(
                    "paper.publish_refused",
                    extra={"broker": self.source, "events": len(events), "error": str(exc)},
                )
        for event in events:
            await self.publish_kept(event)

    def _add_account(
        self,
        out: list[EventBase],
        positions: Iterable[PositionState],
        balances: Iterable[CashState],
    ) -> None:
        for position in positions:
            out.append(PositionEvent.create(self.source, self._position(position), ts=self.clock()))
        for balance in balances:
            out.append(BalanceEvent.create(self.source, self._balance(balance), ts=self.clock()))

    def _add_update(self, out: list[EventBase], update: OrderUpdate) -> None:
        """Queue an order update; the fault injector may repeat it or re-send the
        order's previous update after it."""
        coid = update.client_order_id
        event = OrderUpdateEvent.create(self.source, update, ts=self.clock())
        out.append(event)
        self._published_status[coid] = update.status
        self._replacing.discard(coid)  # the journal moves past a change's PENDING_REPLACE
        previous = self._last_update.get(coid)
        self._last_update[coid] = update
        if self.faults.duplicate():
            out.append(OrderUpdateEvent.create(self.source, update, ts=self.clock()))
        if previous is not None and self.faults.stale():
            out.append(OrderUpdateEvent.create(self.source, previous, ts=self.clock()))
        if update.status.is_terminal:
            self._last_update.pop(coid, None)

    def _add_fill(self, out: list[EventBase], fill: SimFill, status: OrderStatus) -> None:
        """Queue a fill and the order update with its cumulative quantity."""
        payload = self._fill(fill)
        out.append(FillEvent.create(self.source, payload, ts=self.clock()))
        self._published_execs.add(fill.exec_id)
        if self.faults.duplicate():
            out.append(FillEvent.create(self.source, payload, ts=self.clock()))
        self._add_update(
            out,
            OrderUpdate(
                client_order_id=fill.client_order_id,
                status=status,
                venue_order_id=fill.venue_order_id,
                filled_qty=fill.cum_qty,
                avg_price=fill.avg_price,
                venue_ts_ns=fill.ts_ns,
            ),
        )

    async def _resync(self, reason: str) -> int:
        """Publish what the journal lacks of orders whose reports were lost: their new
        terms (a replace), their trigger (a stop still working), their missing fills
        (never one twice), then their current status."""
        holds, self._missed_holds = self._missed_holds, []
        try:
            return await self._resync_missed(reason)
        finally:
            self.venue.release(holds)

    async def _resync_missed(self, reason: str) -> int:
        if not self._missed:
            return 0
        missed = [
            (order, lost)
            for coid, lost in self._missed.items()
            if (order := self.venue.order(coid)) is not None
        ]
        self._missed.clear()
        out: list[EventBase] = []
        instruments: set[str] = set()
        currencies: set[str] = set()
        # In time priority (`seq`: a replace sends an order to the back): the journal's
        # rebuild gives a replace the next number in the order it reads them.
        for order, lost in sorted(missed, key=lambda m: m[0].seq):
            # Before the fills: fills after a replace that raised the quantity are an
            # overfill of the old terms, and a fill is reported after its trigger.
            self._add_lost(out, order, lost, reason)
            for fill in order.fills:
                if fill.exec_id not in self._published_execs:
                    status = (
                        OrderStatus.FILLED
                        if fill.cum_qty >= order.quantity
                        else OrderStatus.PARTIALLY_FILLED
                    )
                    self._add_fill(out, fill, status)
                    instruments.add(order.instrument)
            if lost.answer or self._published_status.get(order.client_order_id) is not order.status:
                # Changed, or the answer to a refused cancel or modify was lost (the
                # journal still shows it pending): the status as it is now.
                said = lost.answer if lost.answer and not order.status.is_terminal else reason
                report = self.venue.status_report(order.client_order_id, self.clock(), said)
                self.venue.release([order.client_order_id])  # published right here
                self._add_update(out, self._update(report))
            # Its lost reports may have moved the cash it locks: publish the cash.
            currencies.add(self._instruments[order.instrument].quote_currency)
        account = self.venue.account
        positions = [
            account.position(key, self._instruments[key].quote_currency)
            for key in sorted(instruments)
        ]
        currencies.update(self._instruments[k].quote_currency for k in instruments)
        self._add_account(out, positions, [account.cash_state(c) for c in sorted(currencies)])
        await self.bus.publish_many(out)
        return len(out)

    def _add_lost(self, out: list[EventBase], order: SimOrder, lost: _Lost, reason: str) -> None:
        """The replace and trigger a dropped link lost, as the journal reads them: the
        order's terms now (a replace's update carries them), and for a stop still
        working its trigger's reason (a restart reads `TRIGGERED_REASON` and rests the
        order at its limit instead of waiting for the trigger again). Each as of the
        fills the journal has, the ones still missing come after."""
        trigger = bool(lost.trigger) and order.triggered and not order.status.is_terminal
        if lost.replaced_ns is None and not trigger:
            return
        missing = [f for f in order.fills if f.exec_id not in self._published_execs]
        known_qty = order.filled_qty - sum((f.quantity for f in missing), ZERO)
        known_value = order.filled_value - sum((f.quantity * f.price for f in missing), ZERO)
        status = OrderStatus.PARTIALLY_FILLED if known_qty > 0 else OrderStatus.NEW
        avg = average(known_value, known_qty, order.tick_places) if known_qty > 0 else None

        def said(
            reason: str, ts_ns: int | None, triggered: bool | None = None, **terms: Decimal | None
        ) -> None:
            update = OrderUpdate(
                client_order_id=order.client_order_id,
                status=status,
                venue_order_id=order.venue_order_id,
                filled_qty=known_qty,
                avg_price=avg,
                reason=reason,
                venue_ts_ns=ts_ns,
                triggered=triggered,
                **terms,
            )
            self._add_update(out, update)

        if lost.replaced_ns is not None:
            said(
                f"replaced ({reason})",
                lost.replaced_ns,
                quantity=order.quantity,
                limit_price=order.limit_price,
                stop_price=order.stop_price,
            )
        if trigger:
            said(lost.trigger, lost.trigger_ns, triggered=True)

    def _forget(self, order: SimOrder) -> None:
        """The venue archived `order`: nothing about it can be published again."""
        coid = order.client_order_id
        self._published_status.pop(coid, None)
        self._last_update.pop(coid, None)
        self._replacing.discard(coid)
        if order.fills:
            self._published_execs.difference_update(f.exec_id for f in order.fills)

    # -- conversions ----------------------------------------------------------------------

    def _update(self, report: ExecReport) -> OrderUpdate:
        replaced = report.kind is ReportKind.REPLACED
        return OrderUpdate(
            client_order_id=report.client_order_id,
            status=report.status,
            venue_order_id=report.venue_order_id,
            filled_qty=report.filled_qty,
            avg_price=report.avg_price,
            quantity=report.quantity if replaced else None,
            limit_price=report.limit_price if replaced else None,
            stop_price=report.stop_price if replaced else None,
            reason=report.reason,
            venue_ts_ns=report.ts_ns,
            triggered=True if report.kind is ReportKind.TRIGGERED else None,
        )

    def _fill(self, fill: SimFill) -> Fill:
        return Fill(
            exec_id=fill.exec_id,
            client_order_id=fill.client_order_id,
            venue_order_id=fill.venue_order_id,
            broker=self.name,
            account=self.account,
            instrument=fill.instrument,
            side=fill.side,
            quantity=fill.quantity,
            price=fill.price,
            fee=fill.fee,
            fee_currency=fill.fee_currency,
            fee_value=fill.fee_value,
            liquidity=fill.liquidity.value,
            venue_ts_ns=fill.ts_ns,
        )

    def _position(self, state: PositionState) -> Position:
        """The venue's position as it reports it: realized P&L before fees (the venue
        books fees in the cash), its fees in the quote currency apart. A re-seed's
        report is the standing of a position rebuilt from the journal
        (`Portfolio.take_standing`)."""
        return Position(
            broker=self.name,
            account=self.account,
            instrument=state.instrument,
            quantity=state.quantity,
            avg_price=state.avg_price,
            realized_pnl=state.realized_pnl,
            currency=state.currency,
            fees={state.currency: state.fees} if state.fees else {},
        )

    def _balance(self, state: CashState) -> Balance:
        # Available is what the venue lets the next order spend, the figure its funds
        # check refuses against (a filled short's proceeds and margin held back), so
        # the desk's ticket judges a buy as the venue will.
        return Balance(
            broker=self.name,
            account=self.account,
            currency=state.currency,
            total=state.total,
            available=state.buying_power,
            locked=state.locked,
        )

    @staticmethod
    def _venue_order(order: SimOrder) -> VenueOrder:
        return VenueOrder(
            client_order_id=order.client_order_id,
            venue_order_id=order.venue_order_id,
            instrument=order.instrument,
            side=order.side,
            order_type=order.order_type,
            tif=order.tif,
            quantity=order.quantity,
            filled_qty=order.filled_qty,
            limit_price=order.limit_price,
            stop_price=order.stop_price,
            status=order.status,
            avg_price=order.avg_price,
            triggered=True if order.triggered else None,
        )

    # -- order entry ------------------------------------------------------------------

    def _require_link(self, what: str) -> None:
        if not self._link_up:
            raise BrokerTimeout(
                f"no answer from {self.source} to the {what}: the connection dropped while "
                "it was in flight; its outcome is unknown until the next reconcile"
            )

    async def _submit(self, request: OrderRequest) -> None:
        loop = asyncio.get_running_loop()
        sent = loop.time()
        arrival_mid = self.venue.mid(request.instrument)
        delay = self.latency.ack()
        if delay:
            await asyncio.sleep(delay)
        self._require_link("order")
        now = self.clock()
        try:
            reports = self.venue.submit(request, now, arrival_mid=arrival_mid, prechecked=True)
        except OrderRejected:
            self.metrics.rejects += 1
            # DAY orders it expired before it refused: published all the same.
            await self._deliver(self.venue.expire(now))
            raise
        if self._lose_next_answer:
            self._lose_next_answer = False
            # The answer is lost, not what the venue reports as the order trades
            # (`_not_the_answer`). The order stays out of the archive until a query
            # has found it (`resolve_unknown` asks), as the venue must still know it.
            self._unanswered[request.client_order_id] = [
                r.client_order_id for r in reports if not _not_the_answer(r)
            ]
            await self._deliver([r for r in reports if _not_the_answer(r)])
            raise BrokerTimeout(
                f"no answer from {self.source} to the order {request.client_order_id}: "
                "its outcome is unknown; asking the venue (it is not sent again)"
            )
        if not await self._deliver(reports):
            self._require_link("order")
        self.metrics.on_ack(loop.time() - sent)

    async def _modify(self, change: ModifyRequest) -> None:
        loop = asyncio.get_running_loop()
        sent = loop.time()
        delay = self.latency.ack()
        if delay:
            await asyncio.sleep(delay)
        self._require_link("modify")
        coid = change.client_order_id
        now = self.clock()
        try:
            reports = self.venue.replace(
                coid,
                now,
                quantity=change.quantity,
                limit_price=change.limit_price,
                stop_price=change.stop_price,
            )
        except (UnknownOrder, OrderRejected) as exc:
            await self._as_the_venue_holds(coid, now, str(exc))
            raise
        if not await self._deliver(reports):
            # The venue replaced it, but the answer went out on a dead link: the resync
            # publishes the new terms once the link is back.
            self._require_link("modify")
        self.metrics.ack_ms.append((loop.time() - sent) * 1000.0)

    async def _as_the_venue_holds(self, coid: str, now: int, reason: str) -> None:
        """Resolve the journal's PENDING_REPLACE to what the venue holds (behind the
        DAY orders it expired first: this one, it may be), with `reason`. Only while
        the journal still reads that PENDING_REPLACE when it is written
        (`_stale_put_back`): a cancel of the order journaled meanwhile stands."""
        expired = self.venue.expire(now)
        if self.venue.order(coid) is not None:
            expired.append(self.venue.status_report(coid, now, reason))
        await self._deliver(expired, put_back=coid)

    async def _change_not_sent(self, client_order_id: str, reason: str) -> None:
        """A change refused after its journal writes (`Broker._refuse_change_if_held`):
        the venue never had it; the order's status as the venue holds it is journaled
        (a link down: the resync publishes it, `_note_lost`), unless the journal has
        moved past the change's PENDING_REPLACE by then (`_as_the_venue_holds`)."""
        await self._as_the_venue_holds(client_order_id, self.clock(), reason)

    async def publish_update(self, update: OrderUpdate) -> None:
        """The adapter's own steps (PENDING_NEW, PENDING_CANCEL, PENDING_REPLACE),
        journaled under the outbox's lock as the venue's reports are, and noted once
        written: a status put back after a change the venue never took is then judged
        against the journal as it is (`_stale_put_back`). With the two journaled apart,
        a cancel's PENDING_CANCEL landed between the check and the write of the put-back
        that waited behind reports queued before it, and the journal read NEW "modify
        not sent ..." after it."""
        async with self._pump_lock:
            await super().publish_update(update)  # refused: raised, nothing noted
            if update.status is OrderStatus.PENDING_REPLACE:
                self._replacing.add(update.client_order_id)
            else:
                self._replacing.discard(update.client_order_id)

    async def cancel(self, client_order_id: str, reason: str = "") -> None:
        """As every broker's (`Broker.cancel`), but a cancel of an order that has ended
        at the venue, and whose end is journaled or on its way there (a resync will
        publish it), is answered at once and nothing is journaled: sent again (the kill
        switch retries a cancel that had no answer), it journaled a second cancel
        request, a PENDING_CANCEL after the order's end and its end once more."""
        if self.sendable(cancel=True):
            self._refuse_ended(client_order_id)
        await super().cancel(client_order_id, reason)

    def _refuse_ended(self, client_order_id: str) -> None:
        order = self.venue.order(client_order_id)
        if order is None or not order.status.is_terminal:
            return
        journaled = self._published_status.get(client_order_id) is order.status
        if not journaled and client_order_id not in self._missed:
            return  # its end is still to be reported: the cancel answers it
        if order.status is OrderStatus.CANCELED:
            raise UnknownOrder(
                f"Unknown order sent: order {client_order_id} is already CANCELED at "
                f"{self.source}, nothing to cancel; nothing was sent",
                code=-2011,
            )
        raise cancel_too_late(
            client_order_id, "the paper venue", order.status, order.filled_qty, code=-2011
        )

    async def _cancel(self, client_order_id: str) -> None:
        delay = self.latency.cancel()
        if delay:
            await asyncio.sleep(delay)
        self._require_link("cancel")
        now = self.clock()
        try:
            reports = self.venue.cancel(client_order_id, now)
        except UnknownOrder as exc:
            expired = self.venue.expire(now)  # the DAY orders it expired first
            order = self.venue.order(client_order_id)
            if order is None:
                await self._deliver(expired)
                raise
            if not (order.status.is_terminal and client_order_id in self._missed):
                # (An end a dropped link or a lost answer took: the resync publishes it.)
                expired.append(self.venue.status_report(client_order_id, now, str(exc)))
            await self._deliver(expired)
            if not order.status.is_terminal or order.status is OrderStatus.CANCELED:
                raise  # working, or cancelled already: not a cancel that met a fill
            raise cancel_too_late(
                client_order_id, "the paper venue", order.status, order.filled_qty, code=exc.code
            ) from exc
        if not await self._answered(reports, [client_order_id]):
            raise self._no_answer(f"the cancel of {client_order_id}", "the order stays")

    async def _answered(self, reports: list[ExecReport], ended: list[str]) -> bool:
        """Deliver a cancel's reports; False when its answer was lost (a dropped link,
        or `lose_next_cancel_answer`) and the journal does not have the orders' ends
        yet: the resync of the reconnect, or asking the venue, publishes them."""
        if self._lose_next_cancel and ended:
            self._lose_next_cancel = False
            answer = [r for r in reports if r.client_order_id in ended]
            self._note_lost(answer)
            self._missed_holds.extend(r.client_order_id for r in answer)
            self.in_background(self._ask_after_lost_answer(), f"ask:{self.source}")
            await self._deliver([r for r in reports if r.client_order_id not in ended])
            return False
        if await self._deliver(reports):
            return True
        # Lost on a dead link. A reconnect quicker than the wait may have published it.
        return all(
            (order := self.venue.order(coid)) is not None
            and self._published_status.get(coid) is order.status
            for coid in ended
        )

    def _no_answer(self, what: str, stays: str) -> BrokerTimeout:
        return BrokerTimeout(
            f"no answer from {self.source} to {what}: its answer was lost on the way back "
            f"(the venue may have cancelled); {stays} PENDING_CANCEL until the venue is "
            "heard from again (the link back, or the venue asked), when what it did is "
            "journaled"
        )

    async def _ask_after_lost_answer(self) -> None:
        """The answer to a cancel was lost on a link that stayed up: ask the venue what
        it did, as a client does after a timeout, and journal it (the resync: each
        order's status as the venue holds it, then the cash). Once: after the reports
        made before it, under the outbox's lock; a reconnect's resync that came first
        has published it already, and a link down now leaves it to that resync."""
        await self.settle()
        async with self._pump_lock:
            if self._link_up and self._running and self._missed:
                await self._resync("found by asking the paper venue after its answer was lost")

    async def cancel_all(
        self, instrument: str | None = None, reason: str = "cancel all"
    ) -> list[str]:
        """One batch cancel, like a venue's cancel-all endpoint: every cancel request is
        journaled, then one cancel latency, then the venue cancels them all at once."""
        self._require_tradable(cancel=True)
        targets = sorted(self.venue.open_orders(instrument), key=lambda o: o.number)
        for order in targets:
            await self.journal_cancel(order.client_order_id, reason)
        if not targets:
            return []
        delay = self.latency.cancel()
        if delay:
            await asyncio.sleep(delay)
        self._require_link("cancel all")
        now = self.clock()
        reports: list[ExecReport] = []
        cancelled: list[str] = []
        for order in targets:
            try:
                reports += self.venue.cancel(order.client_order_id, now, reason)
            except UnknownOrder as exc:
                reports += self.venue.expire(now)  # the DAY orders it expired first
                reports.append(self.venue.status_report(order.client_order_id, now, str(exc)))
                continue
            cancelled.append(order.client_order_id)
        if not await self._answered(reports, cancelled):
            raise self._no_answer(
                f"the cancel all ({len(cancelled)} order(s))", "those orders stay"
            )
        return cancelled

    # -- queries ----------------------------------------------------------------------

    async def open_orders(self) -> list[VenueOrder]:
        orders = sorted(self.venue.open_orders(), key=lambda o: o.number)
        return [self._venue_order(o) for o in orders]

    async def positions(self) -> list[Position]:
        return [self._position(p) for p in self.venue.positions()]

    async def balances(self) -> list[Balance]:
        return [self._balance(b) for b in self.venue.balances()]

    async def instruments(self) -> dict[str, Instrument]:
        return dict(self._instruments)

    async def query_order(self, client_order_id: str) -> VenueOrder | None:
        self._require_link("order query")
        order = self.venue.order(client_order_id)
        answer = None if order is None else self._venue_order(order)
        held = self._unanswered.pop(client_order_id, None)
        if held is not None:
            self.venue.release(held)
        return answer

    def knows_order(self, client_order_id: str) -> bool:
        return self.venue.order(client_order_id) is not None

    async def subscribe(
        self,
        instruments: Iterable[str],
        kinds: Iterable[MarketDataKind] = (MarketDataKind.QUOTE,),
    ) -> None:
        keys = list(instruments)
        unknown = [k for k in keys if k not in self.specs]
        if unknown:
            known = ", ".join(sorted(self.specs))
            raise BrokerError(f"{', '.join(unknown)} not quoted at {self.source} (known: {known})")
        self._subscribed.update(keys)
        await self._publish_market(keys)

    async def unsubscribe(self, instruments: Iterable[str]) -> None:
        self._subscribed.difference_update(instruments)

    async def reconcile(
        self, since_ns: int = 0, last_fills: Mapping[str, Fill] | None = None
    ) -> ReconcileReport:
        if not self._link_up:
            raise NotConnected(f"{self.source} is {self.state}: cannot reconcile now")
        fills = [self._fill(f) for f in self.venue.fills_since(since_ns)]
        if last_fills:
            fills = [f for f in fills if _after(f, last_fills.get(f.instrument))]
        return ReconcileReport(
            broker=self.name,
            account=self.account,
            as_of_ns=self.clock(),
            open_orders=tuple(await self.open_orders()),
            fills=tuple(fills),
            positions=tuple(await self.positions()),
            balances=tuple(await self.balances()),
        )

    # -- health -----------------------------------------------------------------------

    async def publish_health(self, message: str = "") -> None:
        extra = self.metrics.as_extra()
        extra["resting_orders"] = len(self.venue.open_orders())
        extra["market"] = self.paper.market.source
        if self.feed is not None:
            extra.update(self.feed.stats())
            ages = self.feed.ages_s(self.clock())
            if ages:
                extra["market_age_max_s"] = round(max(ages.values()), 3)
        extra["latency"] = "on" if self.latency.enabled else "off"
        self.health_state.extra = extra
        await super().publish_health(message)


def _not_the_answer(report: ExecReport) -> bool:
    """A report that still comes when the answer to an order is lost: a fill, or a
    stop's trigger (a query's answer does not say a stop has triggered: without it in
    the journal, a restart waited for the trigger again)."""
    return report.fill is not None or report.kind is ReportKind.TRIGGERED


def _after(fill: Fill, last: Fill | None) -> bool:
    """Whether `fill` came after `last` (the journal's last fill in its instrument)."""
    if last is None or last.venue_ts_ns is None or fill.venue_ts_ns is None:
        return True
    return fill.venue_ts_ns > last.venue_ts_ns or (
        fill.venue_ts_ns == last.venue_ts_ns and fill.exec_id != last.exec_id
    )
