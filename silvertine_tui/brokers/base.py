"""The contract every broker adapter implements.

Adapters talk to a venue (or simulate one) and publish what happens as events on the
bus; they never call the UI or the engine. The engine owns order state and reads it
back from the bus, so the same code path serves live trading and journal replay.

Order flow, for every adapter:
- `place` validates against the instrument and the broker's `capabilities` (nothing is
  published or sent if invalid), journals the request and a PENDING_NEW update at once,
  then submits. A broker that trades real money (`journal_before_send`) writes them
  now or not at all (the bus's `publish_now`, never its outage buffer) and, when Redis
  cannot take them, sends nothing (`JournalDown`, rule `journal_down`): no live order
  exists only in this process's memory. Likewise a change's intent (`modify`); a
  cancel keeps the buffered path (it reduces risk, and the kill switch must work
  during an outage). A rejection is published as REJECTED and raised. A timeout is never
  retried blindly and never guessed: the order's fate is asked of the venue with
  `query_order` (`resolve_unknown`), and stays PENDING_NEW until the venue answers.
- `modify` and `cancel` journal the intent and PENDING_REPLACE / PENDING_CANCEL; the
  adapter publishes the venue's answer (NEW with new terms, CANCELED, or the previous
  working status when the venue refused). A cancel or modify of an id the adapter does
  not know is refused before anything is journaled.
- An order keeps its client order id for life; its venue id may change (a venue that
  modifies by cancel-replace publishes the new id with the new terms).

A quote subscription also gives the instrument's reference price where the venue has
one (`ReferencePrice`: what the Quotes pane's Chg% is measured from): the adapter
publishes it when it learns it or the venue changes it (`publish_reference`), and the
health loop publishes every held one again every `REFERENCE_REPEAT_S`, so a reader that
starts later (a watching desk, a restarted desk's Quotes pane) finds it in the recent
market data, however many quotes were written since.

Health is per link (REST, user-data stream, market streams, ...): an adapter that has
links sets each with `set_link` and the broker's state is derived from them. The
`order_links` must be LIVE for orders to go out; a market-data link alone going down
leaves the broker DEGRADED but tradable.
"""

from __future__ import annotations

import asyncio
import logging
import time
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from ..bus import BusError, EventBus
from ..config import BrokerConfigBase
from ..domain import (
    Balance,
    Book,
    Capabilities,
    ConnectionState,
    Fill,
    Instrument,
    MarketDataKind,
    OrderRequest,
    OrderStatus,
    OrderUpdate,
    OrderValidationError,
    Position,
    Quote,
    ReferencePrice,
    Trade,
    VenueOrder,
)
from ..events import (
    BalanceEvent,
    BookEvent,
    CancelRequest,
    CancelRequestEvent,
    EventBase,
    FillEvent,
    Health,
    HealthEvent,
    ModifyRequest,
    ModifyRequestEvent,
    OrderRequestEvent,
    OrderUpdateEvent,
    PositionEvent,
    QuoteEvent,
    ReferencePriceEvent,
    TradeEvent,
)
from .errors import (
    BrokerError,
    BrokerTimeout,
    NotConnected,
    OrderRejected,
    SendRefused,
    UnknownOrder,
)
from .kept import KeptReports
from .stopping import stop_task
from .turns import Turns

log = logging.getLogger(__name__)

__all__ = [
    "TRADABLE_STATES",
    "Broker",
    "BrokerHealth",
    "Clock",
    "JournalDown",
    "LinkStatus",
    "ReconcileReport",
    "VenueOrder",
]

Clock = Callable[[], int]
"""Nanoseconds since the epoch."""

TRADABLE_STATES = frozenset({ConnectionState.LIVE, ConnectionState.DEGRADED})
# A cancel also while RECONCILING, through the links an adapter names for it now
# (`Broker.cancel_through_reconciling`).
CANCEL_STATES_RECONCILING = TRADABLE_STATES | {ConnectionState.RECONCILING}

# The update `Broker.publish_update` must write now or raise, never leave in the bus's
# outage buffer: the PENDING_NEW / PENDING_REPLACE of a broker that
# `journal_before_send` (`_publish_update_now`). A context variable, so that the
# adapters' own `publish_update` (IB's, Binance's), which pass it on to the base's, need
# no new argument; the update itself, not a flag, since a task started meanwhile (the
# bus's reconnect, and the resync it starts) inherits the context: only this update is
# ever written so.
_WRITE_NOW: ContextVar[OrderUpdate | None] = ContextVar("silvertine_write_now", default=None)


class JournalDown(NotConnected):
    """A real-money order or change not sent: what must be journaled before it goes (the
    request and its PENDING_NEW, a change and its PENDING_REPLACE) could not be written
    now (Redis unreachable, refusing writes, or catching up on its outage buffer). Its
    message starts `journal_down:` and says what to do."""


class ReconcileReport(BaseModel):
    """What the venue holds, used after every connect and reconnect."""

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    broker: str
    account: str
    as_of_ns: int
    open_orders: tuple[VenueOrder, ...] = ()
    fills: tuple[Fill, ...] = Field(default=(), description="fills since the asked time")
    positions: tuple[Position, ...] = ()
    balances: tuple[Balance, ...] = ()
    ended_orders: tuple[VenueOrder, ...] = Field(
        default=(),
        description="orders the journal holds working (`journal_working`) that the venue "
        "lists as ended (IB's completed orders): how each ended, the venue's word",
    )
    ends_unknown: tuple[str, ...] = Field(
        default=(),
        description="client order ids of the journal's working orders not open at the "
        "venue whose end could not be asked now (its listing of ended orders failed): "
        "left as they are, asked again at the next reconcile",
    )


@dataclass(slots=True)
class LinkStatus:
    """One connection of an adapter (REST, user data, a market stream)."""

    state: ConnectionState = ConnectionState.DISCONNECTED
    detail: str = ""
    since_ns: int = 0


@dataclass(frozen=True, slots=True)
class JournalOrder:
    """A working order the journal holds: what the venue's listing does not say (what
    filled under each venue order, a modify by cancel and replace at Binance retiring
    the one the fills were made under)."""

    client_order_id: str
    quantity: Decimal  # across the replaces
    filled_qty: Decimal
    venue_order_id: str | None  # the venue order working now (a replacement, if any)
    retired_venue_ids: frozenset[str]
    # What filled under each venue order id: (quantity, amount in the quote currency).
    # Never replaced: all of `filled_qty` under `venue_order_id` (an adopted order's
    # fills from before the journal too). Replaced: from its fills, empty when they are
    # not in memory (an order loaded from a snapshot): the adapter asks its venue which
    # of `exec_ids` the replacement made (Binance's `_learn_shares`).
    filled_by_venue_id: Mapping[str, tuple[Decimal, Decimal]]
    avg_price: Decimal | None = None
    exec_ids: frozenset[str] = frozenset()  # its fills the journal holds


@dataclass(slots=True)
class BrokerHealth:
    state: ConnectionState = ConnectionState.DISCONNECTED
    links: dict[str, LinkStatus] = field(default_factory=dict)
    rtt_ms: float | None = None
    reconnects: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    rate_limit: dict[str, float] = field(default_factory=dict)
    last_message_ns: dict[str, int] = field(default_factory=dict)
    extra: dict[str, float | int | str] = field(default_factory=dict)

    def ages_s(self, now_ns: int) -> dict[str, float]:
        return {k: max(0.0, (now_ns - v) / 1e9) for k, v in self.last_message_ns.items()}

    def as_metrics(self, now_ns: int) -> dict[str, int | float | str | bool | None]:
        metrics: dict[str, int | float | str | bool | None] = {
            "rtt_ms": self.rtt_ms,
            "reconnects": self.reconnects,
            "errors": sum(self.errors.values()),
        }
        ages = self.ages_s(now_ns)
        if ages:
            metrics["md_age_max_s"] = round(max(ages.values()), 3)
        for key, age in sorted(ages.items()):
            metrics[f"age_s:{key}"] = round(age, 3)
        for key, value in self.rate_limit.items():
            metrics[f"rate:{key}"] = value
        for key, count in self.errors.items():
            metrics[f"error:{key}"] = count
        for name, link in self.links.items():
            metrics[f"link:{name}"] = str(link.state)
            if link.detail:
                metrics[f"link_detail:{name}"] = link.detail
        metrics.update(self.extra)
        return metrics


class Broker(ABC):
    """Base of every adapter. Subclasses implement the `_`-prefixed venue calls."""

    kind: ClassVar[str]
    # What the venue takes; an adapter may set its own per instance (from config).
    capabilities: Capabilities = Capabilities()
    # Links that carry orders and their reports: all LIVE for an order to go out.
    order_links: tuple[str, ...] = ()
    # Of the links, those that carry the venue's reports of orders (fills, ends): one
    # down, a working order may have moved with no word of it (the desk's `NEW?`:
    # `DeskProjection.reports_unknown`). None: the order links. Binance: its user-data
    # stream alone; REST held by a 429's Retry-After stops orders going out, not the
    # reports of those working.
    report_links: tuple[str, ...] | None = None
    # Order links that still carry a cancel while DEGRADED (up, impaired): at IB the
    # socket to TWS is open while TWS does not answer (it acts on the cancel when it
    # wakes). Not at Binance: its REST link is DEGRADED by a ban, when the client sends
    # nothing at all, and a cancel journaled then would show on its way and not be.
    cancel_through_degraded: frozenset[str] = frozenset()
    # Order links that carry a cancel while RECONCILING, now: set by an adapter while
    # it rebuilds what the venue holds on a connection that is up and takes cancels
    # (IB after a (re)connect, once it knows the desk's orders again), cleared after.
    # The broker is RECONCILING, as coming up, not DEGRADED, which is an outage: told
    # the trader at every start, it read as a fault.
    cancel_through_reconciling: frozenset[str] = frozenset()
    # Order links a cancel does not need at all, whatever their state: the venue
    # answers a cancel on another link, and what the link missed meanwhile is caught up
    # when it is back (Binance's user-data stream: a cancel's REST reply carries its
    # outcome). The broker reads DISCONNECTED while one is down; a cancel still goes
    # when every other order link is LIVE (`_cancel_state`).
    cancel_without: frozenset[str] = frozenset()
    # How long after a timed-out `place` a "no such order" answer is final.
    unknown_order_window_s: float = 10.0
    # The venue's state lives only in this desk's journal (a simulator in the desk's
    # process: `paper`). Redis losing the journal loses it, unless the desk runs and
    # writes back what the venue holds in memory (`reseed_journal`).
    state_in_journal: ClassVar[bool] = False

    # Every held reference price is published again this often (seconds), by the
    # health loop: a reader that starts later finds it in the recent market data.
    REFERENCE_REPEAT_S: ClassVar[float] = 5.0

    def __init__(
        self, config: BrokerConfigBase, bus: EventBus, *, clock: Clock = time.time_ns
    ) -> None:
        self.config = config
        self.name = config.name
        self.account = config.account
        self.live = config.live
        self.bus = bus
        self.clock = clock
        self.health_state = BrokerHealth()
        self._health_task: asyncio.Task[None] | None = None
        self._instrument_cache: dict[str, Instrument] = {}
        self._background: set[asyncio.Task[None]] = set()
        self._reconnect_listeners: list[Callable[[], Awaitable[None]]] = []
        # Each instrument's reference price as last published (`publish_reference`).
        self.references: dict[str, ReferencePrice] = {}
        # The cancel of each order on its way to the venue (`cancel`): a second cancel
        # of the same order waits for it rather than racing it.
        self._cancels: dict[str, asyncio.Future[None]] = {}
        # Changes of each order, one at a time (`modify`).
        self._modifies = Turns()
        # The venue's reports the bus refused, written again until it takes them.
        self._kept = KeptReports(bus, self.source, self.health_state.errors)
        self._reconcile_owed: asyncio.Task[None] | None = None
        # No live order without a journal (docs/operations.md): a broker that trades
        # real money writes what must be journaled before a send now or not at all,
        # and sends nothing when Redis cannot take it (`JournalDown`). The risk gate
        # refuses such orders while the bus reads down; this closes the moment before
        # the bus knows (Redis lost just as the order leaves). The engine turns it off
        # with `risk.live_requires_journal: false`.
        self.journal_before_send = config.live
        # Asked right before the venue gets an order, after its journal writes: why
        # nothing may go now (the desk's claim on this broker lapsed or was lost, the
        # desk closing), None when it may. The engine checks before it hands the order
        # over; a journal write that waited on a stalled Redis meanwhile (SIGSTOP, a
        # frozen VM) let the order go seconds after "nothing is sent until the claim is
        # renewed" (a chaos review). Set by the engine; None: nothing to ask.
        self.send_guard: Callable[[], str | None] | None = None

    def send_refusal(self) -> str | None:
        """Why nothing may go to the venue now (`send_guard`'s answer: trading HALTED,
        the claim lapsed), None when it may or nothing is asked."""
        guard = self.send_guard
        return guard() if guard is not None else None

    # -- identity and state ---------------------------------------------------------

    @property
    def source(self) -> str:
        """`broker/account`: routes execution events to this account's journal."""
        return f"{self.name}/{self.account}"

    @property
    def component(self) -> str:
        return f"broker:{self.source}"

    @property
    def state(self) -> ConnectionState:
        return self.health_state.state

    async def set_state(self, state: ConnectionState, message: str = "") -> None:
        if state is self.health_state.state and not message:
            return
        self.health_state.state = state
        log.info("broker.state", extra={"broker": self.source, "state": state, "detail": message})
        await self.publish_health(message)

    async def set_link(self, name: str, state: ConnectionState, detail: str = "") -> None:
        """Record one link's state and derive the broker's state from all links:
        every link LIVE -> LIVE; an order link down -> DISCONNECTED (or RECONCILING /
        CONNECTING while it comes back); only other links down -> DEGRADED."""
        links = self.health_state.links
        old = links.get(name)
        if old is not None and old.state is state and old.detail == detail:
            return
        links[name] = LinkStatus(state, detail, self.clock())
        await self.set_state(
            self.derived_state(), f"{name}: {state}{' - ' if detail else ''}{detail}"
        )

    def derived_state(self) -> ConnectionState:
        links = self.health_state.links
        if not links:
            return self.health_state.state
        order = [links[n].state for n in self.order_links if n in links]
        for worst in (
            ConnectionState.DISCONNECTED,
            ConnectionState.CONNECTING,
            ConnectionState.RECONCILING,
        ):
            if worst in order:
                return worst
        if any(link.state is not ConnectionState.LIVE for link in links.values()):
            return ConnectionState.DEGRADED
        return ConnectionState.LIVE

    def order_path_down(self, *, cancel: bool = False) -> str:
        """The first order link that is not LIVE, with its detail ("" when all are).
        For a `cancel`, not one of `cancel_through_degraded` while DEGRADED: such a link
        is up, and a cancel that reaches the venue late (a TWS that stopped answering,
        acting on it when it wakes) does no harm, where refusing it left the kill
        switch's orders working."""
        for name in self.order_links:
            link = self.health_state.links.get(name)
            if link is None or link.state is ConnectionState.LIVE:
                continue
            if cancel and name in self.cancel_without:
                continue
            if cancel and (
                (link.state is ConnectionState.DEGRADED and name in self.cancel_through_degraded)
                or (
                    link.state is ConnectionState.RECONCILING
                    and name in self.cancel_through_reconciling
                )
            ):
                continue
            return f"{name} {link.state}{': ' if link.detail else ''}{link.detail}"
        return ""

    async def publish_health(self, message: str = "") -> None:
        now = self.clock()
        metrics = self.health_state.as_metrics(now)
        if self._kept:
            metrics["unjournaled"] = len(self._kept)
        if self.order_links:
            # Which links carry orders: a desk built from the bus says why orders
            # cannot go out without asking this object (`order_path_down`).
            metrics["order_links"] = ",".join(self.order_links)
        if self.report_links is not None:
            # Which links carry the venue's reports: a desk built from the bus says
            # whether its rows are known (`DeskProjection.reports_unknown`).
            metrics["report_links"] = ",".join(self.report_links)
        await self.bus.publish(
            HealthEvent.create(
                self.component,
                Health(
                    component=self.component,
                    state=self.state,
                    message=message,
                    metrics=metrics,
                ),
                ts=now,
            )
        )

    def start_health_loop(self, interval_s: float = 1.0) -> None:
        """A heartbeat every `interval_s`, and the held reference prices again every
        `REFERENCE_REPEAT_S`."""

        async def loop() -> None:
            loop_time = asyncio.get_running_loop().time
            references_due = loop_time() + self.REFERENCE_REPEAT_S
            failing = ""  # the last failure logged: once while it lasts, not each beat
            while True:
                await asyncio.sleep(interval_s)
                try:
                    await self.publish_health()
                except Exception as exc:
                    if str(exc) != failing:
                        failing = str(exc)
                        log.exception("broker.health_publish_failed", extra={"broker": self.source})
                else:
                    if failing:
                        log.info("broker.health_published_again", extra={"broker": self.source})
                    failing = ""
                if loop_time() >= references_due:
                    references_due = loop_time() + self.REFERENCE_REPEAT_S
                    try:
                        await self.republish_references()
                    except Exception:
                        log.exception(
                            "broker.reference_publish_failed", extra={"broker": self.source}
                        )

        if self._health_task is None or self._health_task.done():
            self._health_task = asyncio.create_task(loop(), name=f"health:{self.source}")

    async def stop_health_loop(self) -> None:
        """Stop the health loop and every background task (order resolvers; the
        reports the bus refused are written once more)."""
        for task in list(self._background):
            task.cancel()
        for task in list(self._background):
            await stop_task(task)
        await self._kept.at_close()
        await stop_task(self._health_task)
        self._health_task = None

    def on_reconnect(self, listener: Callable[[], Awaitable[None]]) -> None:
        """Call `listener` each time the adapter is back after losing its venue (the
        session reconciles the journal against the venue then)."""
        self._reconnect_listeners.append(listener)

    async def reseed_journal(self) -> str:
        """The bus lost data while this desk ran. A venue whose memory is this desk's
        journal (`state_in_journal`) writes back into it what it holds, so that a
        restart rebuilds it, and returns what the trader must be told. A real venue
        keeps its own state (the reconcile rebuilds the desk's view from it): "" ."""
        return ""

    async def announce_reconnect(self) -> None:
        """Adapters call this once a lost connection is back and usable."""
        for listener in list(self._reconnect_listeners):
            try:
                await listener()
            except Exception:
                log.exception("broker.reconnect_listener_failed", extra={"broker": self.source})

    def count_error(self, kind: str) -> None:
        self.health_state.errors[kind] += 1

    # -- publishing helpers -----------------------------------------------------------

    async def publish(self, event: EventBase) -> None:
        await self.bus.publish(event)

    async def publish_update(self, update: OrderUpdate) -> None:
        """Journal an update of the adapter's own making (PENDING_NEW before a send): a
        refusal is raised, so nothing goes to the venue. While reports wait for the bus
        (`kept`), they are written first, in order, and a refusal of any is raised: it
        is never left waiting while its caller sends."""
        event = OrderUpdateEvent.create(self.source, update, ts=self.clock())
        if _WRITE_NOW.get() is update:
            # Written now or raised (`_publish_update_now`): the reports waiting first,
            # then it, never into the bus's outage buffer.
            await self._kept.flush()
            await self.bus.publish_now(event)
            return
        await self._kept.journal(event, keep=False)

    async def _publish_update_now(self, update: OrderUpdate) -> None:
        """`publish_update` (through an adapter's own), written now or raised: a
        `BusError` when the bus cannot take it now (it is then not kept to write
        later, unless its reply was lost: `BusUnavailableError.maybe_written`)."""
        token = _WRITE_NOW.set(update)
        try:
            await self.publish_update(update)
        finally:
            _WRITE_NOW.reset(token)

    async def publish_report(self, update: OrderUpdate) -> None:
        """Journal an order's status as the venue reported it. One the bus refuses is
        kept and written again until it takes it (`brokers/kept.py`)."""
        await self._kept.journal(OrderUpdateEvent.create(self.source, update, ts=self.clock()))

    async def publish_fill(self, fill: Fill) -> None:
        """Journal a fill; one the bus refuses is kept and written again until it takes
        it, and the reports after it wait behind it (`brokers/kept.py`)."""
        await self._kept.journal(FillEvent.create(self.source, fill, ts=self.clock()))

    async def publish_kept(self, event: EventBase) -> None:
        """Journal another report of the venue's (a fill's correction), kept likewise."""
        await self._kept.journal(event)

    async def journal_kept(self) -> None:
        """Write now, in order, the reports the bus refused (before a reconcile, which
        must see them). `BrokerError` when the bus still refuses them."""
        try:
            await self._kept.flush()
        except BusError as exc:
            self._reconcile_when_journaled()
            raise BrokerError(
                f"{len(self._kept)} reports of {self.source} wait for the journal ({exc}): "
                "the venue is reconciled once they are written"
            ) from exc

    def _reconcile_when_journaled(self) -> None:
        """A reconcile refused for the reports waiting runs again once they are written
        (`announce_reconnect`): else nothing ran it before the next reconnect, and what
        the venue did meanwhile stayed unknown on the desk."""
        if self._reconcile_owed is not None and not self._reconcile_owed.done():
            return

        async def owed() -> None:
            while self._kept:  # noqa: ASYNC110 - written again on the kept task's own timer
                await asyncio.sleep(0.5)
            await self.announce_reconnect()

        self._reconcile_owed = self.in_background(owed(), f"reconcile-owed:{self.source}")

    def in_background(self, work: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        """Run `work` as a task of this broker's: held until it ends, cancelled at
        close."""
        task = asyncio.create_task(work, name=name)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task

    @property
    def unjournaled(self) -> int:
        """The venue's reports the bus refused, waiting to be written again."""
        return len(self._kept)

    async def publish_position(self, position: Position) -> None:
        await self.publish(PositionEvent.create(self.source, position, ts=self.clock()))

    async def publish_balance(self, balance: Balance) -> None:
        await self.publish(BalanceEvent.create(self.source, balance, ts=self.clock()))

    def _seen(self, instrument: str, now: int) -> None:
        self.health_state.last_message_ns[instrument] = now

    async def publish_quote(self, quote: Quote) -> None:
        now = self.clock()
        self._seen(quote.instrument, now)
        await self.publish(QuoteEvent.create(self.name, quote, ts=now))

    async def publish_book(self, book: Book) -> None:
        now = self.clock()
        self._seen(book.instrument, now)
        await self.publish(BookEvent.create(self.name, book, ts=now))

    async def publish_trade(self, trade: Trade) -> None:
        now = self.clock()
        self._seen(trade.instrument, now)
        await self.publish(TradeEvent.create(self.name, trade, ts=now))

    def hold_reference(self, reference: ReferencePrice) -> bool:
        """Keep `reference` as its instrument's reference price. False when it says
        nothing new: the same price and basis as the one held, or older than it by the
        venue's own time (a REST answer that arrives after a newer stream message)."""
        held = self.references.get(reference.instrument)
        if held is not None:
            if (
                reference.venue_ts_ns is not None
                and held.venue_ts_ns is not None
                and reference.venue_ts_ns < held.venue_ts_ns
            ):
                return False
            if held.price == reference.price and held.basis is reference.basis:
                return False
        self.references[reference.instrument] = reference
        return True

    async def publish_reference(self, reference: ReferencePrice) -> None:
        """Publish an instrument's reference price (what its Chg% is measured from)
        when it is new or changed (`hold_reference`)."""
        if self.hold_reference(reference):
            await self.publish(ReferencePriceEvent.create(self.name, reference, ts=self.clock()))

    async def republish_references(self) -> None:
        """Every held reference price again (the health loop, every
        `REFERENCE_REPEAT_S`): market data is capped, and a reader that starts later
        reads only its newest entries."""
        if not self.references:
            return
        now = self.clock()
        await self.bus.publish_many(
            [
                ReferencePriceEvent.create(self.name, reference, ts=now)
                for _, reference in sorted(self.references.items())
            ]
        )

    # -- order entry (shared flow) ----------------------------------------------------

    def sendable(self, *, cancel: bool = False) -> bool:
        """Whether orders (a `cancel`: cancels) can go out now: the broker tradable and
        its order path up (`order_path_down`); a cancel also while the broker is
        RECONCILING through links that carry cancels then (`cancel_through_reconciling`)."""
        state = self._cancel_state() if cancel else self.state
        return state in self._states_that_send(cancel) and not self.order_path_down(cancel=cancel)

    def _cancel_state(self) -> ConnectionState:
        """The broker's state as a cancel sees it: down only through order links a
        cancel does not need (`cancel_without`), every other order link LIVE, it is
        DEGRADED (up, impaired). A state set otherwise than from the links (closed, a
        failed connect) stands."""
        state = self.state
        if not self.cancel_without or state in TRADABLE_STATES:
            return state
        if state is not self.derived_state():
            return state
        links = self.health_state.links
        needed = [
            links[name].state
            for name in self.order_links
            if name in links and name not in self.cancel_without
        ]
        if needed and all(link is ConnectionState.LIVE for link in needed):
            return ConnectionState.DEGRADED
        return state

    def _states_that_send(self, cancel: bool) -> frozenset[ConnectionState]:
        """The broker states an order (a `cancel`: a cancel) may go out in."""
        if cancel and self.cancel_through_reconciling:
            return CANCEL_STATES_RECONCILING
        return TRADABLE_STATES

    def _require_tradable(self, *, cancel: bool = False) -> None:
        """Raise `NotConnected`, saying why, unless `sendable`."""
        if self.sendable(cancel=cancel):
            return
        state = self._cancel_state() if cancel else self.state
        if state not in self._states_that_send(cancel):
            down = self.order_path_down()  # the link that is down says why, if one is
            raise NotConnected(
                f"{self.source} is {self.state}{f' ({down})' if down else ''}: nothing was "
                f"sent, and nothing is kept to send later. Send it again once {self.source} "
                "is LIVE (the health pane shows its connection)."
            )
        down = self.order_path_down(cancel=cancel)  # tradable, so a link is down
        raise NotConnected(
            f"{self.source}: the order path is down ({down}): nothing was sent, and "
            "nothing is kept to send later. Send it again once the path is back (the "
            "health pane shows its links)."
        )

    def check_request(
        self, request: OrderRequest, instrument: Instrument, market_price: Decimal | None
    ) -> None:
        """Raise `OrderValidationError` naming every rule `request` breaks here: the
        instrument's grid and the broker's capabilities."""
        issues = self.capabilities.issues(
            self.source,
            request.order_type,
            request.tif,
            post_only=request.post_only,
            quote_quantity=request.by_quote,
        )
        issues += request.issues(instrument, market_price)
        if issues:
            raise OrderValidationError(issues)

    async def place(self, request: OrderRequest, market_price: Decimal | None = None) -> str:
        """Validate, journal, submit. Returns the client order id."""
        if request.broker != self.name or request.account != self.account:
            raise OrderRejected(
                f"request for {request.broker}/{request.account} sent to {self.source}"
            )
        self._require_tradable()
        instrument = await self.instrument(request.instrument)
        self.check_request(request, instrument, market_price)
        intent = OrderRequestEvent.create(self.source, request, ts=self.clock())
        pending = OrderUpdate(
            client_order_id=request.client_order_id, status=OrderStatus.PENDING_NEW
        )
        if self.journal_before_send:
            await self._journal_order_now(intent, pending)
        else:
            await self.publish(intent)
            await self.publish_update(pending)
        await self._refuse_if_held(request.client_order_id)
        try:
            await self._submit(request)
        except BrokerTimeout as exc:
            if not exc.counted:
                self.count_error("timeout")
            self.resolve_unknown(request.client_order_id)
            raise
        except BusError as exc:
            # The venue may have taken the order: what it answered could not be
            # journaled. Said as "not placed", a trader sent it again (two orders).
            self.count_error("journal")
            self.resolve_unknown(request.client_order_id)
            raise BrokerTimeout(
                f"order {request.client_order_id} went to {self.source}, but its answer "
                f"could not be journaled ({exc}): it may be working. Its status is asked "
                "of the venue and shown once the journal is written; do not send it again."
            ) from exc
        except BrokerError as exc:
            self.count_error(type(exc).__name__)
            # The venue's answer, kept if the bus refuses it: raised instead, a refusal
            # took the place of the venue's reason (brokers/kept.py).
            await self.publish_report(
                OrderUpdate(
                    client_order_id=request.client_order_id,
                    status=OrderStatus.REJECTED,
                    reason=str(exc),
                )
            )
            raise
        return request.client_order_id

    async def _refuse_if_held(self, client_order_id: str) -> None:
        """`send_guard`, asked once the order's journal writes are done: a refusal
        ends it REJECTED, not sent (journaled, or kept until the bus takes it), and is
        raised (`SendRefused`: the ticket says NOT SENT, not the venue's REJECTED)."""
        refusal = self.send_refusal()
        if not refusal:
            return
        reason = f"not sent: {refusal}"
        log.warning(
            "broker.send_refused_after_journal",
            extra={"broker": self.source, "client_order_id": client_order_id},
        )
        await self.publish_report(
            OrderUpdate(client_order_id=client_order_id, status=OrderStatus.REJECTED, reason=reason)
        )
        raise SendRefused(reason)

    async def modify(
        self,
        client_order_id: str,
        *,
        quantity: Decimal | None = None,
        limit_price: Decimal | None = None,
        stop_price: Decimal | None = None,
    ) -> None:
        """Journal the change's intent, then send it. Changes of one order go one at a
        time, in the order asked: a second modify while the first is on its way (a
        trader changing the price again at once) waits for the first's answer, then
        goes. Sent at once, the two raced at the venue: at IB the second's answer was
        taken for the first's, which waited out its 5 s timeout to say "no answer"."""
        if quantity is None and limit_price is None and stop_price is None:
            raise ValueError("modify needs a new quantity, limit price or stop price")
        async with self._modifies.turn(client_order_id):
            self._require_order(client_order_id)
            change = ModifyRequest(
                client_order_id=client_order_id,
                quantity=quantity,
                limit_price=limit_price,
                stop_price=stop_price,
            )
            intent = ModifyRequestEvent.create(self.source, change, ts=self.clock())
            pending = OrderUpdate(
                client_order_id=client_order_id, status=OrderStatus.PENDING_REPLACE
            )
            if self.journal_before_send:
                await self._journal_change_now(intent, pending)
            else:
                await self.publish(intent)
                await self.publish_update(pending)
            await self._refuse_change_if_held(client_order_id)
            await self._modify(change)

    async def _refuse_change_if_held(self, client_order_id: str) -> None:
        """`send_guard`, asked once the change's journal writes are done, as `place`
        asks it (`_refuse_if_held`): those writes may have waited (Redis stalled) while
        the kill switch was pulled or this desk's claim lapsed, and the change then went
        to the venue after HALTED. Refused, nothing is sent: the journal's
        PENDING_REPLACE goes back to the order's status (`_change_not_sent`: journaled,
        or kept until the bus takes it), and the refusal is raised (`SendRefused`: the
        desk's toast says "Modify not sent", not "Modify failed", a venue's word)."""
        refusal = self.send_refusal()
        if not refusal:
            return
        why = f"not sent: {refusal}; the order works on unchanged at its old terms"
        log.warning(
            "broker.modify_refused_after_journal",
            extra={"broker": self.source, "client_order_id": client_order_id},
        )
        # The order's history says it of the order; the error names it (the UI's toast
        # reads `<why>; not sent (order <short id>)`, as an adapter's own "not sent").
        await self._change_not_sent(client_order_id, f"modify {why}")
        raise SendRefused(f"modify of {client_order_id} {why}")

    async def _change_not_sent(self, client_order_id: str, reason: str) -> None:
        """A change journaled (PENDING_REPLACE) and then not sent: the order's status
        goes back to the venue's, with `reason`. By default the venue is asked
        (`query_order`) and its status journaled as a report (kept until the bus takes
        it); not answered, the order is asked about in the background
        (`resolve_unknown`). An adapter that knows the order's status before the change
        journals that instead, without asking."""
        try:
            venue = await self.query_order(client_order_id)
        except BrokerError as exc:
            log.warning(
                "broker.query_failed",
                extra={
                    "broker": self.source,
                    "client_order_id": client_order_id,
                    "error": str(exc),
                },
            )
            venue = None
        if venue is None:
            self.resolve_unknown(client_order_id)
            return
        await self.publish_report(venue.status_update(reason))

    # -- no live order without a journal -----------------------------------------------

    async def _journal_order_now(self, intent: OrderRequestEvent, pending: OrderUpdate) -> None:
        """A real-money order's request and PENDING_NEW, written now, or `JournalDown`
        and nothing sent. What may be in the journal of it then (a write whose reply
        was lost) is followed by its REJECTED, so no order there waits for an answer
        that never comes."""
        cid = pending.client_order_id
        try:
            await self.bus.publish_now(intent)
        except BusError as exc:
            refusal = self._journal_down("order", cid, exc)
            if getattr(exc, "maybe_written", False):
                await self._reject_unsent(cid, refusal, intent)
            raise refusal from exc
        try:
            await self._publish_update_now(pending)
        except BusError as exc:
            refusal = self._journal_down("order", cid, exc)
            await self._reject_unsent(cid, refusal)  # its request is journaled
            raise refusal from exc

    async def _reject_unsent(
        self, cid: str, refusal: JournalDown, intent: OrderRequestEvent | None = None
    ) -> None:
        """Journal, whenever the bus takes them, `cid`'s REJECTED behind its request:
        `intent` again when it may or may not have landed (the same event: written once
        either way, the bus drops from its outage buffer what is in the stream
        already)."""
        if intent is not None:
            try:
                await self.publish(intent)
            except BusError as exc:  # (the outage buffer full): its REJECTED is kept
                log.error(
                    "broker.unsent_request_not_journaled",
                    extra={"broker": self.source, "client_order_id": cid, "error": str(exc)},
                )
        await self.publish_report(
            OrderUpdate(client_order_id=cid, status=OrderStatus.REJECTED, reason=str(refusal))
        )

    async def _journal_change_now(self, intent: ModifyRequestEvent, pending: OrderUpdate) -> None:
        """A real-money order's change and PENDING_REPLACE, written now, or `JournalDown`
        and nothing sent. A PENDING_REPLACE that may have landed is followed by the
        venue's status of the order (`resolve_unknown`); the intent alone changes
        nothing on the desk."""
        cid = pending.client_order_id
        try:
            await self.bus.publish_now(intent)
        except BusError as exc:
            raise self._journal_down("change", cid, exc) from exc
        try:
            await self._publish_update_now(pending)
        except BusError as exc:
            if getattr(exc, "maybe_written", False):
                self.resolve_unknown(cid)
            raise self._journal_down("change", cid, exc) from exc

    def _journal_down(self, what: str, cid: str, exc: BusError) -> JournalDown:
        log.warning(
            "broker.journal_down",
            extra={"broker": self.source, "client_order_id": cid, "what": what, "error": str(exc)},
        )
        # What to do first; the bus's own words (long: the URL and the socket's error)
        # last.
        return JournalDown(
            f"journal_down: broker {self.name} trades real money and its {what} could not "
            "be journaled: nothing was sent; send it again once the journal is written "
            f"(the bus in Health, 6); cancels still go through. The bus: {exc}",
            code="journal_down",
        )

    def _require_order(self, client_order_id: str, *, cancel: bool = False) -> None:
        """Before a change or cancel is journaled: the broker can trade (a `cancel`: can
        carry one) and knows the order, else nothing is sent."""
        self._require_tradable(cancel=cancel)
        if not self.knows_order(client_order_id):
            raise UnknownOrder(
                f"{self.source} has no order {client_order_id}: nothing was sent",
                code="unknown_order",
            )

    async def cancel(self, client_order_id: str, reason: str = "") -> None:
        """Journal the cancel's intent, then send it. While a cancel of the same order
        is on its way (a second press of the cancel key, the kill switch or a cancel all
        behind a single cancel), another is not sent: it waits for that one and has its
        outcome. Sent again, the two raced at the venue: at IB the second's answer was
        taken for the first's, and the first waited out its timeout (5 s) to report
        "no answer" for an order that was cancelled; at Binance the second came back
        "came too late"."""
        in_flight = self._cancels.get(client_order_id)
        if in_flight is not None:
            try:
                await asyncio.shield(in_flight)
            except asyncio.CancelledError:
                if not in_flight.cancelled():
                    raise  # this caller was cancelled
                # The one on its way was dropped (its caller cancelled): send this one.
                await self.cancel(client_order_id, reason)
            return
        self._require_order(client_order_id, cancel=True)
        outcome: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._cancels[client_order_id] = outcome
        try:
            await self.journal_cancel(client_order_id, reason)
            await self._cancel(client_order_id)
        except Exception as exc:
            outcome.set_exception(exc)
            outcome.exception()  # retrieved: nobody may be waiting for it
            raise
        except BaseException:
            outcome.cancel()
            raise
        else:
            outcome.set_result(None)
        finally:
            del self._cancels[client_order_id]

    async def journal_cancel(self, client_order_id: str, reason: str) -> None:
        """The intent, before it is sent: the cancel request and PENDING_CANCEL."""
        await self.publish(
            CancelRequestEvent.create(
                self.source,
                CancelRequest(client_order_id=client_order_id, reason=reason),
                ts=self.clock(),
            )
        )
        await self.publish_update(
            OrderUpdate(client_order_id=client_order_id, status=OrderStatus.PENDING_CANCEL)
        )

    async def cancel_all(
        self, instrument: str | None = None, reason: str = "cancel all"
    ) -> list[str]:
        """Cancel every working order (optionally of one instrument). Returns their ids.
        Orders the venue no longer knows (filled meanwhile) are skipped, not errors. A
        refused cancel does not stop the others: once all were tried, a `BrokerError`
        names what was cancelled and each order still working with the venue's reason."""
        cancelled: list[str] = []
        failed: dict[str, str] = {}
        for order in await self.open_orders():
            if instrument is not None and order.instrument != instrument:
                continue
            try:
                await self.cancel(order.client_order_id, reason=reason)
            except UnknownOrder:
                continue
            except BrokerError as exc:
                failed[order.client_order_id] = str(exc)
                log.warning(
                    "broker.cancel_failed",
                    extra={
                        "broker": self.source,
                        "client_order_id": order.client_order_id,
                        "error": str(exc),
                    },
                )
                continue
            cancelled.append(order.client_order_id)
        if failed:
            listed = "; ".join(f"{cid}: {why}" for cid, why in failed.items())
            raise BrokerError(
                f"cancel all at {self.source}: cancelled {len(cancelled)}, "
                f"{len(failed)} still working ({listed}); cancel them again or at the venue"
            )
        return cancelled

    async def instrument(self, key: str) -> Instrument:
        """One instrument, looked up on demand and cached (`forget_instrument` drops it,
        e.g. when the venue changes its trading status)."""
        cached = self._instrument_cache.get(key)
        if cached is not None:
            return cached
        found = await self._fetch_instrument(key)
        if found is None:
            raise OrderRejected(f"instrument {key} is not traded at {self.source}")
        self._instrument_cache[key] = found
        return found

    def forget_instrument(self, key: str) -> None:
        self._instrument_cache.pop(key, None)

    async def _fetch_instrument(self, key: str) -> Instrument | None:
        """The venue's definition of one instrument (None: not traded there). The
        default looks in `instruments()`; a venue with a lookup by symbol overrides it."""
        return (await self.instruments()).get(key)

    def journal_working(self, orders: Sequence[JournalOrder]) -> None:  # noqa: B027
        """The journal's working orders of this account, told before each reconcile
        and again after it (with the orders it adopted and the fills it journaled): an
        adapter that met an order only in the venue's listing (a restart, an adoption)
        learns what filled under each venue order (before a replacement, and under the
        venue order a modify by cancel-replace retires) and which of the venue's fills
        the journal does not hold yet. Nothing by default (a hook)."""

    def journal_holds(self, instruments: Iterable[str]) -> None:  # noqa: B027 (a hook)
        """The instruments this account's journal holds a position, a working order or
        a fill in, told before each reconcile: an adapter that asks its venue symbol by
        symbol (Binance's myTrades) asks for these too, not only the configured ones.
        Nothing by default."""

    def journal_balances(self, currencies: Iterable[str]) -> None:  # noqa: B027 (a hook)
        """The currencies this account's journal holds a balance other than 0 in, told
        before each reconcile: an adapter whose venue lists only what is not 0
        (Binance) says 0 for those it no longer lists, which after a restart it has
        not published itself (BNB spent on fees while the desk was down stayed at its
        journaled balance). Nothing by default."""

    def fill_journaled(self, fill: Fill) -> None:  # noqa: B027 (a hook: optional)
        """A fill of this account the engine journaled itself (one the venue reported
        on reconcile that the journal lacked): an adapter that follows the fills in
        the journal hears of it here. Nothing by default."""

    def update_journaled(self, update: OrderUpdate) -> None:  # noqa: B027 (a hook: optional)
        """An update of this account's order the engine journaled itself on reconcile
        (the venue's status or terms taken, an order no longer open at the venue): an
        adapter that keeps its orders' state hears of it here. Nothing by default."""

    def knows_order(self, client_order_id: str) -> bool:
        """Whether this adapter has seen the order (placed, reported or reconciled).
        A cancel of an order it does not know is refused before it is journaled."""
        return True

    async def follow_adopted(self, orders: Sequence[VenueOrder]) -> None:
        """The journal holds these working orders as adopted: found open at the venue on
        reconcile (as `open_orders` named them), not placed by this adapter. An adapter
        that hears of them journals what the venue says of them from now on, under these
        ids, so that an order ended elsewhere ends on the desk too. Called by the
        reconcile after the adoption is journaled; the default follows none (the next
        reconcile ends them)."""
        return None

    def resolve_unknown(self, client_order_id: str) -> None:
        """After a timeout on `place`: ask the venue what became of the order, in the
        background, and publish what it says (`_resolve`)."""
        self.in_background(
            self._resolve(client_order_id), f"resolve:{self.source}:{client_order_id}"
        )

    async def _resolve(self, client_order_id: str) -> None:
        """Ask until the venue answers. Found: publish its status. Not found: only once
        `unknown_order_window_s` has passed (a venue refuses a request older than its
        receive window, so after it the order can no longer arrive) is the order
        REJECTED as never received. No answer at all (link down): keep asking; the
        reconcile after the reconnect settles it too."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.unknown_order_window_s
        delay = 0.2
        while True:
            try:
                venue = await self.query_order(client_order_id)
            except BrokerError as exc:
                log.warning(
                    "broker.query_failed",
                    extra={
                        "broker": self.source,
                        "client_order_id": client_order_id,
                        "error": str(exc),
                    },
                )
            else:
                try:
                    if await self._resolved(client_order_id, venue, loop.time() >= deadline):
                        return
                except BusError as exc:  # what was found is asked again once it can be written
                    log.warning(
                        "broker.resolve_not_journaled",
                        extra={
                            "broker": self.source,
                            "client_order_id": client_order_id,
                            "error": str(exc),
                        },
                    )
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)

    async def _resolved(
        self, client_order_id: str, venue: VenueOrder | None, past_window: bool
    ) -> bool:
        """Publish what the venue said of an order whose answer was lost: its status
        when found, REJECTED when not found past the window. False: ask again."""
        if venue is not None:
            await self.publish_update(
                venue.status_update("found by asking the venue after the order timed out")
            )
            return True
        if not past_window:
            return False
        await self.publish_update(
            OrderUpdate(
                client_order_id=client_order_id,
                status=OrderStatus.REJECTED,
                reason=(
                    "no answer to the order, and "
                    f"{self.unknown_order_window_s:g}s later the venue has no "
                    "such order: it never reached the venue"
                ),
            )
        )
        return True

    # -- what each adapter implements ----------------------------------------------------

    @abstractmethod
    async def connect(self) -> None:
        """Connect, reconcile, go LIVE. Publishes every state change."""

    @abstractmethod
    async def close(self) -> None:
        """Disconnect cleanly (does not cancel orders)."""

    @abstractmethod
    async def _submit(self, request: OrderRequest) -> None: ...

    @abstractmethod
    async def _modify(self, change: ModifyRequest) -> None: ...

    @abstractmethod
    async def _cancel(self, client_order_id: str) -> None: ...

    @abstractmethod
    async def query_order(self, client_order_id: str) -> VenueOrder | None:
        """The venue's view of one order, or None when the venue has no such order."""

    @abstractmethod
    async def open_orders(self) -> list[VenueOrder]: ...

    @abstractmethod
    async def positions(self) -> list[Position]: ...

    @abstractmethod
    async def balances(self) -> list[Balance]: ...

    @abstractmethod
    async def instruments(self) -> dict[str, Instrument]:
        """Tradable instruments by `SYMBOL.VENUE` key."""

    @abstractmethod
    async def subscribe(
        self,
        instruments: Iterable[str],
        kinds: Iterable[MarketDataKind] = (MarketDataKind.QUOTE,),
    ) -> None:
        """Start market data of these kinds (the ones in `capabilities.market_data`)."""

    @abstractmethod
    async def unsubscribe(self, instruments: Iterable[str]) -> None: ...

    @abstractmethod
    async def reconcile(
        self, since_ns: int = 0, last_fills: Mapping[str, Fill] | None = None
    ) -> ReconcileReport:
        """Open orders, positions, balances, and the fills after the last one the
        journal knows: `last_fills` maps an instrument to its last journaled fill (a
        venue that numbers trades per symbol asks from there); instruments without one
        are asked from `since_ns`."""
