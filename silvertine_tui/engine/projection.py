"""The desk's read model: one projection of the bus, and nothing else.

Everything the desk shows outside the market-data model — orders with their histories,
fills, positions and P&L, balances, the trading state, each broker's connection state
and links, its capabilities and instruments, the engine's anomaly counts — is built
here by `apply(event)` from what the streams hold: the execution journals
(`{p}:exec:*`), the risk stream (`{p}:risk`), the health stream (`{p}:health`: broker
health, the engine's anomalies, `broker.profile`) and quotes for the marks. Replaying
a Redis journal into a fresh projection, with no engine and no broker, gives the desk
that was live.

The engine owns one and shares it in process (its OMS and portfolio are the
projection's); the UI reads only this object and sends through the command gateway.

Change sets: every applied event records which orders, positions, balances and marks
it changed; the UI takes them once a frame (`take`) and redraws only those rows.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal

from ..bus import BusEntry, BusStats, EventBus
from ..bus.base import WaitingEvent
from ..domain import (
    Balance,
    Capabilities,
    ConnectionState,
    Instrument,
    OrderStatus,
    Side,
    TradingState,
)
from ..events import (
    BalanceEvent,
    BookEvent,
    BrokerProfile,
    BrokerProfileEvent,
    CancelRequestEvent,
    EventBase,
    FeeCorrectionEvent,
    FillCorrectionEvent,
    FillEvent,
    HealthEvent,
    ModifyRequestEvent,
    OrderRequestEvent,
    OrderUpdateEvent,
    PositionEvent,
    QuoteEvent,
    ReconcileEvent,
    ReconcileKind,
    ReferencePriceEvent,
    RiskAction,
    RiskEvent,
    TradeEvent,
)
from .anomalies import DESK, DESK_NAME, ENGINE_COMPONENT, AnomalyKind
from .oms import OMS, FinishedWindow, OrderView, Outcome, Retired
from .order_history import JournalSpan
from .portfolio import Key, Portfolio, PositionState, Totals
from .snapshots import journal_gap, latest_snapshot, restore

__all__ = [
    "HEARD_AGAIN",
    "NOT_HEARD",
    "AnomalySummary",
    "BrokerStatus",
    "Changes",
    "DeskProjection",
    "FinishedWindow",
    "JournalSpan",
    "Key",
    "OrderView",
    "OrderWaits",
    "PositionState",
    "Totals",
    "Waiting",
    "heard_again_title",
    "journal_problem",
    "process_of",
    "project",
]

BalanceKey = tuple[str, str, str]  # broker, account, currency

MODIFY_UNANSWERED = "modify_unanswered:"
"""A broker's health metric, `modify_unanswered:<client order id>`: why the outcome of
that order's modify is not known yet (the venue did not answer it in time and may
still take it: the IB adapter's `brokers/ib/orders.py` `MODIFY_UNANSWERED`). Read into
`DeskProjection.unanswered`."""


@dataclass(frozen=True, slots=True)
class BrokerStatus:
    """One broker as the bus describes it: its health and its profile."""

    name: str
    state: ConnectionState = ConnectionState.DISCONNECTED
    message: str = ""
    links: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    """link name -> (state, detail), from the health event's `link:` metrics."""
    capabilities: Capabilities | None = None
    order_links: tuple[str, ...] = ()
    live: bool = False
    heard_ns: int = 0
    """When its last health event was published (its desk's clock; 0: none read)."""
    report_links: tuple[str, ...] | None = None
    """The links that carry its reports (`Broker.report_links`; None: `order_links`)."""

    def order_path_down(self) -> str:
        """The first order link that is not LIVE, with its detail ("" when all are)."""
        return self._down(self.order_links)

    def reports_down(self) -> str:
        """The first link carrying its reports that is not LIVE ("" when all are)."""
        return self._down(self.order_links if self.report_links is None else self.report_links)

    def _down(self, names: tuple[str, ...]) -> str:
        for name in names:
            link = self.links.get(name)
            if link is not None and link[0] != ConnectionState.LIVE:
                state, detail = link
                return f"{name} {state}{': ' if detail else ''}{detail}"
        return ""


@dataclass(frozen=True, slots=True)
class AnomalySummary:
    """The engine's anomaly counts, as its last health event says."""

    counts: tuple[tuple[str, int], ...] = ()
    total: int = 0
    replayed: int = 0
    last: str = ""
    # DEGRADED while one still needs the trader; LIVE once the only ones were position
    # mismatches that resolved (`cleared` of them: engine/anomalies.py).
    state: ConnectionState = ConnectionState.DEGRADED
    cleared: int = 0
    desk_name: str = ""
    """Whose engine this is (`desk HOST pid PID`) when it is another desk's."""
    others: tuple[AnomalySummary, ...] = ()
    """Other desks' engines that found anything, each named (`desk_name`), in the order
    they were first heard: listed on a desk that watches (`DeskProjection.lists_others`),
    but those a desk started since has taken the brokers of (`DeskProjection.judge_desks`)."""
    process: str = ""
    """The process that published it (`process_of` its event id; "": not known)."""
    said_ns: int = 0
    """When it was published (its desk's clock)."""
    silent_s: float | None = None
    """Whole seconds its desk has not been heard from, once a watching desk judges it
    silent (`DeskProjection.judge_desks`: the brokers it drove went quiet): its word is as
    of then, not current. None while its desk is heard (or cannot be told)."""
    said_s: float | None = None
    """Whole seconds since it was said, while its desk is judged silent (else None)."""


@dataclass(slots=True)
class Changes:
    """What changed since the last `take`: keys of rows, and flags for the rest."""

    orders: dict[str, None] = field(default_factory=dict)
    """Client order ids in the order their events arrived (a new order's row is
    appended in that order)."""
    positions: set[Key] = field(default_factory=set)
    balances: set[BalanceKey] = field(default_factory=set)
    marks: set[str] = field(default_factory=set)
    trading_state: bool = False
    brokers: bool = False
    instruments: bool = False
    anomalies: bool = False
    everything: bool = False
    """More changed than is worth listing (nobody took them for long: a replay, a
    headless run): redraw everything."""

    def __bool__(self) -> bool:
        return bool(
            self.everything
            or self.orders
            or self.positions
            or self.balances
            or self.marks
            or self.trading_state
            or self.brokers
            or self.instruments
            or self.anomalies
        )

    @property
    def desk(self) -> bool:
        """Anything but marks (those the positions take once a second)."""
        return bool(
            self.everything
            or self.orders
            or self.positions
            or self.balances
            or self.trading_state
            or self.brokers
            or self.instruments
            or self.anomalies
        )


def journal_problem(stats: BusStats) -> str:
    """Why execution events are not being written to the journal now ("" if they are)."""
    if not stats.connected:
        return f"the journal ({stats.backend} bus) is disconnected"
    if stats.exec_buffered:
        return (
            f"{stats.exec_buffered} execution events wait in the outage buffer, "
            "not yet written to the journal"
        )
    return ""


@dataclass(frozen=True, slots=True)
class OrderWaits:
    """What of one order waits in this desk's memory for Redis (`Waiting.orders`)."""

    client_order_id: str
    broker: str
    account: str
    instrument: str = ""
    events: int = 0
    fills: int = 0
    """Fills (and fill corrections) of it that wait."""
    status: OrderStatus | None = None
    """The status the newest waiting report gives it (None: no report of it waits)."""
    sent: bool = False
    """Its request waits: sent while Redis was out of reach."""
    in_memory: bool = True
    """Some of its events wait in memory; False: Redis has them all, the desk has not
    read them back yet (`Waiting.reading`)."""

    @property
    def ended(self) -> bool:
        """A waiting report ends it (filled, cancelled, rejected, expired at the venue)."""
        return self.status is not None and self.status.is_terminal


@dataclass(frozen=True, slots=True)
class Waiting:
    """What the journal does not show yet of this desk's own execution events: those
    its bus holds in memory while Redis is out of reach (`DeskProjection.waiting`),
    and the rows they would change once read back. Never applied: the desk is drawn
    from the journal alone; this only says which of its rows may be behind it."""

    accounts: Mapping[tuple[str, str], int] = field(default_factory=dict)
    """(broker, account) -> its execution events waiting in memory for Redis."""
    reading: Mapping[tuple[str, str], int] = field(default_factory=dict)
    """(broker, account) -> its events Redis took from memory that the desk has not
    read back yet: they name orders (`orders`, `not_shown`, `ended`) as those waiting do,
    not positions or balances (a fill read back a moment later is any fill's way)."""
    orders: Mapping[str, OrderWaits] = field(default_factory=dict)
    positions: frozenset[Key] = frozenset()
    """The positions a waiting fill, correction, position event or reconcile names."""
    balances: frozenset[BalanceKey] = frozenset()
    """The balances a waiting balance event names."""
    unread: frozenset[tuple[str, str]] = frozenset()
    """Accounts with a waiting entry that cannot be read: every row of theirs may be
    behind."""
    not_shown: tuple[OrderWaits, ...] = ()
    """Orders the journal does not show at all, sent or reported working by their
    waiting events (not ended by them): the Orders pane cannot list them yet."""
    ended: tuple[str, ...] = ()
    """Orders the journal shows working that a waiting report ends."""

    def __bool__(self) -> bool:
        return bool(self.accounts or self.reading)

    def order(self, view: OrderView) -> OrderWaits | None:
        """What waits of `view`'s order (its account's entries unread: all of it may)."""
        found = self.orders.get(view.client_order_id)
        if found is None and (view.broker, view.account) in self.unread:
            return OrderWaits(view.client_order_id, view.broker, view.account)
        return found

    def position(self, key: Key) -> bool:
        return key in self.positions or key[:2] in self.unread

    def balance(self, key: BalanceKey) -> bool:
        return key in self.balances or key[:2] in self.unread


@dataclass  # (no slots: `vars` reads it)
class _Tally:
    """An `OrderWaits` as the waiting events are read (`DeskProjection._read_waiting`)."""

    client_order_id: str
    broker: str
    account: str
    instrument: str = ""
    events: int = 0
    fills: int = 0
    status: OrderStatus | None = None
    sent: bool = False
    in_memory: bool = False


NOTHING_WAITS = Waiting()
WAITING_READ_EVERY = 1_000
"""Events waiting for Redis beyond which `DeskProjection.waiting` is worked out again at
most every `WAITING_READ_S`, not at every frame that finds them changed."""
WAITING_READ_S = 1.0


def _nothing_waiting() -> Sequence[WaitingEvent]:
    return ()


@dataclass(frozen=True, slots=True)
class Applied:
    """What one event did: whether the desk changed (`changed`), whether only marks
    moved (`marks`), and the OMS's outcome for execution events (None otherwise)."""

    changed: bool = False
    marks: bool = False
    outcome: Outcome | None = None


NOTHING = Applied()
# Every (changed, outcome) an event can end with, made once: one event in a replay of
# 100k would otherwise build its own (a frozen dataclass costs a microsecond to make).
_APPLIED = {
    (changed, outcome): Applied(changed=changed, outcome=outcome)
    for changed in (False, True)
    for outcome in (None, *Outcome)
}

# Outcomes after which the order's history holds the event (a report that did not move
# the order is still in its audit trail): its row and history view are redrawn.
TOUCHED = frozenset(
    {
        Outcome.APPLIED,
        Outcome.DUPLICATE,
        Outcome.STALE,
        Outcome.OVERFILL,
        Outcome.TERMINAL,
    }
)

# Read as a module global on every event (from the enum class: about 0.1 µs on 3.11).
_APPLIED_OUTCOME = Outcome.APPLIED

MAX_LISTED = 10_000
"""Changed rows listed before a change set becomes `everything`."""

_EVENT_ID = re.compile(r"[0-9a-f]{24}")


def process_of(event_id: str) -> str:
    """The process that minted `event_id`: its last 8 hex digits, the node of the
    minting process (events/ids.py `EventIdFactory`: 16 digits of time, then a node
    random per process, new after a fork), "" for an id of another form (a tool's, an
    older build's). A desk's engine and its brokers publish from one process, so its
    engine's health and its brokers' heartbeats name the same one: what ties a desk's
    engine line to the brokers it drives (`DeskProjection.judge_desks`), which no
    health event names."""
    return event_id[16:] if _EVENT_ID.fullmatch(event_id) else ""


NOT_HEARD = " not heard from"
"""How a watching desk's error toast of brokers whose heartbeats stopped (`silent`) is
titled, after their accounts (`paper/main not heard from`: engine/watch.py)."""
HEARD_AGAIN = " heard from again"
"""How its information toast of those heard from again is titled (the same accounts)."""


def heard_again_title(title: str) -> str:
    """The title of the "not heard from" toast that a "heard from again" toast `title`
    answers ("" for any other title): the UI takes that one down as it shows this one
    (ui/widgets/toasts.py `dismiss_answered`): it is no longer so."""
    accounts = title.removesuffix(HEARD_AGAIN)
    return accounts + NOT_HEARD if accounts != title and accounts else ""


_SUPERSEDED = None
"""`DeskProjection.judge_desks`: a desk whose brokers another desk drives now."""

# Broker states in which nothing reports (`DeskProjection.reports_unknown`).
_NOT_REPORTING = frozenset(
    {ConnectionState.DISCONNECTED, ConnectionState.CONNECTING, ConnectionState.RECONCILING}
)


class DeskProjection:
    """The desk built from bus events (see the module docstring)."""

    def __init__(
        self, *, spot_brokers: Iterable[str] = (), window: FinishedWindow | None = None
    ) -> None:
        self.oms = OMS(window)
        self.portfolio = Portfolio(spot_brokers=spot_brokers)
        self.journaled_state = TradingState.ACTIVE  # as the risk stream says
        # A state this desk set whose risk event is not read back yet: (event id, state).
        self._held: tuple[str, TradingState] | None = None
        self.brokers: dict[str, BrokerStatus] = {}
        self.silent: dict[str, int] = {}
        """Brokers whose heartbeats stopped, with when each was last heard (ns): set by
        a watching desk (engine/watch.py), whose brokers are other desks'. What the desk
        shows of them is as of then."""
        self.unsure: dict[str, str] = {}
        """Brokers whose orders and balances a watching desk cannot confirm though they
        are heard, with why (engine/watch.py: Redis lost their journal and their desk
        has not written back what it holds yet, `JOURNAL LOST`)."""
        self.instruments: dict[str, dict[str, Instrument]] = {}
        self.anomalies = AnomalySummary()
        """This desk's engine's anomalies (and, on a desk that lists them, the others')."""
        self.own_desk = ""
        """This desk's token on its engine's health (`anomalies.DESK`, the claims' token:
        `Session.bus_desk`), given by the session. Every desk on a prefix publishes
        component `engine`: an event naming another desk is that desk's, never this
        desk's engine line. "" (not known: a projection built bare) takes every engine
        health as this desk's, as an older build's naming no desk always is."""
        self.lists_others = False
        """Whether other desks' engines are listed (`AnomalySummary.others`): a desk that
        watches shows every driving desk's; a trading desk its own (another desk's
        anomaly is a toast naming that desk: ui/model.py)."""
        self._own_anomalies = AnomalySummary()
        self._other_anomalies: dict[str, AnomalySummary] = {}
        self.drivers: dict[str, str] = {}
        """broker -> the process its last health event came from (`process_of`): the
        desk driving it. A desk started since (the one before killed) is another process."""
        self._drove: dict[str, set[str]] = {}  # process -> the brokers it sent health of
        # Other desks' engine lines as a watching desk last judged them (`judge_desks`):
        # desk -> (silent_s, said_s), or `_SUPERSEDED`.
        self._judged: dict[str, tuple[float, float] | None] = {}
        self.applied: dict[str, str] = {}  # stream -> last applied entry id
        self.waiting_events: Callable[[], Sequence[WaitingEvent]] = _nothing_waiting
        """The execution events this desk's bus holds in memory, not in the journal yet
        (`bus.base.waiting_of`), given by the session: read by `waiting`, never applied."""
        self._waiting: tuple[Sequence[WaitingEvent], int, Waiting] = ((), -1, NOTHING_WAITS)
        self._waiting_read_at = float("-inf")  # (time.monotonic)
        self.version = 0  # orders, fills, positions, balances, states: not quotes
        self.marks_version = 0  # quotes (marks and unrealized P&L)
        self._changes = Changes()
        self._owing: dict[str, Key] | None = None
        """The FILLED orders whose fills have not arrived (`Order.owed_qty`) -> the
        position they owe them to (`fills_owed`); None: found again from every order
        in memory when next asked (a snapshot loaded, a rebuild: `redraw_everything`)."""
        self.unanswered: dict[str, dict[str, str]] = {}
        """broker -> its orders whose modify the venue has not answered, each with why
        (`modify_unanswered`): its health's `MODIFY_UNANSWERED` metrics."""

    @property
    def trading_state(self) -> TradingState:
        """The state orders are judged by: the journal's, or the one this desk set and
        has not read back yet (`hold_state`)."""
        held = self._held
        return held[1] if held is not None else self.journaled_state

    def hold_state(self, event_id: str, state: TradingState) -> tuple[str, TradingState] | None:
        """This desk's engine set `state` and published it as the risk event `event_id`.
        It shows at once and until that event is read back: with Redis unreachable the
        event only waits in memory, and a kill switch pulled then must not read ACTIVE
        (the engine's gate is HALTED already). An event that never reaches the journal
        holds until the next state this desk sets. Returns the hold it replaced."""
        replaced, self._held = self._held, (event_id, state)
        self._changes.trading_state = True
        self.version += 1
        return replaced

    def release_state(self, event_id: str, replaced: tuple[str, TradingState] | None) -> None:
        """The risk event `event_id` was refused by the bus (never journaled): its hold
        goes, and the one it replaced (`hold_state`'s answer) is back."""
        if self._held is not None and self._held[0] == event_id:
            self._held = replaced
            self._changes.trading_state = True
            self.version += 1

    # -- applying -------------------------------------------------------------------------

    def apply_entry(self, entry: BusEntry) -> Applied:
        self.applied[entry.stream] = entry.id
        if entry.ok:
            return self.apply(entry.event, entry.id)  # type: ignore[arg-type]
        return NOTHING

    def apply(self, event: EventBase, entry_id: str = "") -> Applied:
        """Apply one event (`entry_id`: its journal entry id, when read from one).

        Every event the OMS takes ends in `_done`, which also takes the orders the
        window evicted."""
        changes = self._changes
        match event:
            case OrderUpdateEvent() | OrderRequestEvent():
                outcome = self.oms.apply(event, entry_id)
                if outcome in TOUCHED:
                    changes.orders[event.payload.client_order_id] = None
                return self._done(outcome is _APPLIED_OUTCOME, outcome)
            case FillEvent() | FillCorrectionEvent():
                # A fill, or a venue's correction of one (IB): the order's fills and
                # the position's (traded again from before the fill it corrects).
                fill = event.payload if isinstance(event, FillEvent) else event.payload.fill
                # The portfolio first: the order of an instrument's last fill is held
                # before the OMS evicts what the window lets go.
                took = self.portfolio.apply(event)
                if took:
                    key = (fill.broker, fill.account, fill.instrument)
                    changes.positions.add(key)
                    self._hold_last_fill(key)
                    # A fee in an asset comes out of the position that holds it.
                    fee_key = (
                        self.portfolio.fee_position(fill) if isinstance(event, FillEvent) else None
                    )
                    if fee_key is not None:
                        changes.positions.add(fee_key)
                outcome = self.oms.apply(event, entry_id)
                if outcome in TOUCHED:
                    changes.orders[fill.client_order_id] = None
                return self._done(took or outcome is _APPLIED_OUTCOME, outcome)
            case FeeCorrectionEvent():
                # A fill's fee reported late (IB): the order's fees and the position's.
                correction = event.payload
                outcome = self.oms.apply(event, entry_id)
                if outcome in TOUCHED:
                    changes.orders[correction.client_order_id] = None
                took = self.portfolio.apply(event)
                if took:
                    changes.positions.add(
                        (correction.broker, correction.account, correction.instrument)
                    )
                return self._done(took or outcome is _APPLIED_OUTCOME, outcome)
            case QuoteEvent():
                if self.portfolio.apply(event):
                    self.marks_version += 1
                    if len(changes.marks) < MAX_LISTED:
                        changes.marks.add(event.payload.instrument)
                    else:
                        changes.everything = True
                    return Applied(marks=True)
                return NOTHING
            case BalanceEvent():
                b = event.payload
                self.portfolio.apply(event)
                changes.balances.add((b.broker, b.account, b.currency))
                return self._done(True)
            case PositionEvent():
                p = event.payload
                self.portfolio.apply(event)
                changes.positions.add((p.broker, p.account, p.instrument))
                return self._done(True)
            case ReconcileEvent():
                rec = event.payload
                outcome = self.oms.apply(event, entry_id)
                if outcome is _APPLIED_OUTCOME:
                    coid = rec.client_order_id
                    if rec.venue_order is not None:
                        coid = coid or rec.venue_order.client_order_id
                    if coid:
                        changes.orders[coid] = None
                took = self.portfolio.apply(event)
                if took or rec.kind is ReconcileKind.POSITION_MISMATCH:
                    changes.positions.add((event.broker, event.account, rec.instrument))
                if took:  # the venue's position taken
                    for coid in self.oms.write_off_owed(
                        event.broker, event.account, rec.instrument
                    ):
                        changes.orders[coid] = None
                return self._done(took or outcome is _APPLIED_OUTCOME, outcome)
            case CancelRequestEvent() | ModifyRequestEvent():
                outcome = self.oms.apply(event, entry_id)
                if outcome in TOUCHED:
                    changes.orders[event.payload.client_order_id] = None
                return self._done(outcome is _APPLIED_OUTCOME, outcome)
            case RiskEvent():
                risk = event.payload
                if risk.action in (RiskAction.STATE, RiskAction.KILL, RiskAction.RESUME):
                    self.journaled_state = risk.trading_state
                    held = self._held
                    if held is not None and held[0] == event.event_id:
                        self._held = None
                    changes.trading_state = True
                    return self._done(True)
                return NOTHING
            case HealthEvent():
                return self._done(self._apply_health(event))
            case BrokerProfileEvent():
                self.apply_profile(event.payload)
                return self._done(True)
            case BookEvent() | TradeEvent() | ReferencePriceEvent():
                # Chg%'s reference is the Quotes pane's (the UI's market-data model).
                return NOTHING
            case _:
                outcome = self.oms.apply(event, entry_id)
                return self._done(outcome is _APPLIED_OUTCOME, outcome)

    def _hold_last_fill(self, key: Key) -> None:
        """The order of an instrument's last fill stays in memory (see `OMS.hold`)."""
        last = self.portfolio.last_fills.get(key[:2], {}).get(key[2])
        if last is not None:
            self.oms.hold(key, last.client_order_id)

    def _done(self, changed: bool, outcome: Outcome | None = None) -> Applied:
        if changed:
            self.version += 1
        changes = self._changes
        if len(changes.orders) + len(changes.positions) + len(changes.balances) > MAX_LISTED:
            self._bound_changes()
        if self.oms.evicted:
            self._evicted_rows()
        return _APPLIED[changed, outcome]

    def _evicted_rows(self) -> None:
        """The rows of finished orders the window let go leave the desk."""
        evicted = self.oms.take_evicted()
        self.version += 1
        if not self._changes.everything:
            self._changes.orders.update(dict.fromkeys(evicted))
            self._bound_changes()

    def redraw_everything(self) -> None:
        """The next frame redraws every row (a recovery rebuilds the whole desk): the
        change set says so and lists no rows meanwhile."""
        self._changes = Changes(everything=True, marks=self._changes.marks)
        self._owing = None  # (orders loaded without `apply`: found again when asked)

    def take_over(self, fresh: DeskProjection) -> None:
        """Become `fresh` (a projection built anew, its OMS and portfolio the ones the
        engine that built it applies to) in this object, which the UI holds: a
        watching desk rebuilding what it shows after Redis lost the journal
        (engine/watch.py `WatchSession.rebuild`). Every part is `fresh`'s, but what the
        session set on this one (`own_desk`, `lists_others`); the versions go on
        rising, and the next frame redraws every row. `fresh` is not used again."""
        kept = (self.own_desk, self.lists_others, self.waiting_events)
        version = max(self.version, fresh.version) + 1
        marks_version = max(self.marks_version, fresh.marks_version) + 1
        vars(self).update(vars(fresh))  # every part, whatever parts a projection has
        self.own_desk, self.lists_others, self.waiting_events = kept
        self.version, self.marks_version = version, marks_version
        self.redraw_everything()

    def _bound_changes(self) -> None:
        changes = self._changes
        if len(changes.orders) + len(changes.positions) + len(changes.balances) > MAX_LISTED:
            # Nobody takes them (a replay before the first frame, a headless run):
            # bounded memory, and the next frame redraws everything.
            self._changes = Changes(everything=True, marks=changes.marks)

    def _apply_health(self, event: HealthEvent) -> bool:
        health = event.payload
        component = health.component
        if component == ENGINE_COMPONENT:
            metrics = health.metrics
            counts = tuple((kind.value, _int(metrics.get(kind.value))) for kind in AnomalyKind)
            last = metrics.get("last")
            summary = AnomalySummary(
                counts=counts,
                total=_int(metrics.get("anomalies")),
                replayed=_int(metrics.get("replayed")),
                last=last if isinstance(last, str) else health.message,
                state=health.state,
                cleared=_int(metrics.get("cleared")),
            )
            desk = metrics.get(DESK)
            if desk and self.own_desk and desk != self.own_desk:
                # Another desk's engine: its own line (if listed), never this desk's.
                name = metrics.get(DESK_NAME) or f"desk {desk}"
                self._other_anomalies[str(desk)] = replace(
                    summary,
                    desk_name=str(name),
                    process=process_of(event.event_id),
                    said_ns=event.ts,
                )
                self._judged.pop(str(desk), None)  # a new word: judged again
            else:
                self._own_anomalies = summary
            self._list_anomalies()
            return True
        found = health.broker_account
        if found is None:
            return False
        name = found[0]
        process = process_of(event.event_id)
        if process:
            self.drivers[name] = process
            drove = self._drove.get(process)
            if drove is None:
                self._drove[process] = {name}
            elif name not in drove:
                drove.add(name)
        links: dict[str, tuple[str, str]] = {}
        for key, value in health.metrics.items():
            if key.startswith("link:"):
                link = key.removeprefix("link:")
                detail = health.metrics.get(f"link_detail:{link}")
                links[link] = (str(value), detail if isinstance(detail, str) else "")
        self._read_unanswered(name, health.metrics)
        known = self.brokers.get(name) or BrokerStatus(name)
        order_links = health.metrics.get("order_links")
        report_links = health.metrics.get("report_links")
        self.brokers[name] = BrokerStatus(
            name,
            state=health.state,
            message=health.message,
            links=links,
            capabilities=known.capabilities,
            order_links=(
                tuple(order_links.split(",")) if isinstance(order_links, str) else known.order_links
            ),
            live=known.live,
            heard_ns=event.ts,
            report_links=(
                tuple(report_links.split(",")) if isinstance(report_links, str) else None
            ),
        )
        self._changes.brokers = True
        return True

    def _read_unanswered(self, broker: str, metrics: Mapping[str, object]) -> None:
        """`broker`'s orders whose modify it has not answered (`MODIFY_UNANSWERED`), as
        its health says them; the rows of those that came or went are drawn again."""
        found = {
            key.removeprefix(MODIFY_UNANSWERED): str(value)
            for key, value in metrics.items()
            if key.startswith(MODIFY_UNANSWERED)
        }
        before = self.unanswered.get(broker, {})
        if found == before:
            return
        if found:
            self.unanswered[broker] = found
        else:
            del self.unanswered[broker]
        orders = self.oms.orders
        for coid in before.keys() ^ found.keys():
            if coid in orders:
                self._changes.orders[coid] = None

    def modify_unanswered(self, broker: str, client_order_id: str) -> str:
        """Why the outcome of the order's modify is not known yet ("" when it is): the
        venue did not answer it in time and may still take it (its health's
        `MODIFY_UNANSWERED`). The Orders pane marks the row (`NEW?`) until the venue
        answers, as it marks the orders of a broker it cannot hear."""
        found = self.unanswered.get(broker)
        return found.get(client_order_id, "") if found else ""

    def _list_anomalies(self) -> None:
        """`anomalies` from this desk's engine's summary and, on a desk that lists them,
        the other desks' that found anything, as last judged (`judge_desks`)."""
        others: tuple[AnomalySummary, ...] = ()
        if self.lists_others:
            judged = self._judged
            listed: list[AnomalySummary] = []
            for desk, other in self._other_anomalies.items():
                if not other.total:
                    continue
                if desk in judged:
                    quiet = judged[desk]
                    if quiet is _SUPERSEDED:
                        continue
                    other = replace(other, silent_s=quiet[0], said_s=quiet[1])
                listed.append(other)
            others = tuple(listed)
        self.anomalies = replace(self._own_anomalies, others=others)
        self._changes.anomalies = True

    def judge_desks(
        self, now_ns: int, heard: Callable[[str], int], quiet_ns: int, floor_ns: int = 0
    ) -> None:
        """A watching desk's look (engine/watch.py, once a second) at the other desks
        whose engine lines it lists: no engine sends a heartbeat, so a desk killed kept
        its last word as current for good (`engine of desk vm pid 19978 DEGRADED ...`
        minutes after it was killed, beside the line of the desk started in its place).
        A desk's engine and its brokers publish from one process (`process_of`), so:

        - a desk none of whose brokers is driven by it any more (each one's last health
          came from another process: a desk started since drives them) is superseded:
          its line goes (its word is of a desk that no longer drives anything);
        - a desk whose brokers it still drives were all last heard (`heard`: this desk's
          clock, ns) more than `quiet_ns` ago (and before `floor_ns`, when this desk
          reads the bus again after an outage of its own) is silent: its line says STALE,
          for how long, and the age of its word (`AnomalySummary.silent_s`, `said_s`);
        - else it is heard: its line as it said it.

        A desk whose process is not known, or whose brokers were never heard (one that
        drives none, an older build's ids), is not judged: shown as it said it."""
        judged: dict[str, tuple[float, float] | None] = {}
        for desk, other in self._other_anomalies.items():
            drove = self._drove.get(other.process) if other.process else None
            if not drove:
                continue
            current = [broker for broker in drove if self.drivers.get(broker) == other.process]
            if not current:
                judged[desk] = _SUPERSEDED
                continue
            last = max(heard(broker) for broker in current)
            if not last or now_ns - max(last, floor_ns) <= quiet_ns:
                continue
            silent_s = float(max(0, (now_ns - last) // 1_000_000_000))
            said_s = float(max(0, (now_ns - other.said_ns) // 1_000_000_000))
            # Said before its desk went quiet: never younger than the silence (its clock
            # may be behind this desk's).
            judged[desk] = (silent_s, max(said_s, silent_s))
        if judged != self._judged:
            self._judged = judged
            self._list_anomalies()
            self.version += 1

    def apply_profile(self, profile: BrokerProfile) -> None:
        """A broker's capabilities and instruments (idempotent: the engine applies its
        own at once, then reads the same profile back from the bus)."""
        name = profile.broker
        known = self.brokers.get(name) or BrokerStatus(name)
        self.brokers[name] = BrokerStatus(
            name,
            state=known.state,
            message=known.message,
            links=known.links,
            capabilities=profile.capabilities,
            order_links=profile.order_links,
            live=profile.live,
            heard_ns=known.heard_ns,
            report_links=known.report_links,
        )
        if not profile.capabilities.asset_fees_in_position:
            # A desk restarted with short selling on (at a venue that then pays fees
            # apart): kept, the asset fees of its fills came out of positions as a spot
            # broker's do.
            self.portfolio.spot_brokers.discard(name)
        else:
            self.portfolio.spot_brokers.add(name)
        if profile.instruments:
            found = {i.key: i for i in profile.instruments}
            self.instruments[name] = found
            self.portfolio.set_instruments(found.values(), broker=name)
            # Tick sizes and currencies of rows already drawn may have changed.
            self._changes.positions.update(self.portfolio.positions)
            self._changes.orders.update(dict.fromkeys(self.oms.orders))
        self._changes.instruments = True
        self._changes.brokers = True

    def take(self) -> Changes:
        """What changed since the last call (the UI calls it once a frame): with the
        positions whose fills owed changed (`fills_owed`), from the orders that did."""
        changes, self._changes = self._changes, Changes()
        if self._owing is not None:
            if changes.everything:
                self._owing = None  # every row drawn again: found again when asked
            else:
                for coid in changes.orders:
                    self._follow_owed(coid, changes)
        return changes

    def peek(self) -> Changes:
        """What changed since the last `take`, without taking it."""
        return self._changes

    # -- orders ---------------------------------------------------------------------------

    @property
    def orders(self) -> Mapping[str, OrderView]:
        return self.oms.orders

    def order(self, client_order_id: str) -> OrderView | None:
        return self.oms.get(client_order_id)

    def retired(self, client_order_id: str) -> Retired | None:
        """What stays of a finished order evicted from memory (None if it is held or
        unknown)."""
        return self.oms.retired.get(client_order_id)

    def history_span(self, client_order_id: str) -> JournalSpan | None:
        """Where to read an order's events in the journal when memory does not hold
        them (evicted, its history dropped, or loaded from a snapshot); None when its
        history is in memory or the order is unknown."""
        view = self.oms.get(client_order_id)
        if view is not None:
            if not view.history_dropped:
                return None
            first, last = view.first_entry, view.last_entry
            broker, account = view.broker, view.account
        elif (retired := self.oms.retired.get(client_order_id)) is not None:
            broker, account, first, last = retired
        elif (forgotten := self.oms.forgotten(client_order_id)) is not None:
            broker, account, last = forgotten  # (evicted before the snapshot loaded)
            first = ""
        else:
            return None
        return JournalSpan(broker, account, first or "-", last or "+")

    def orders_ending(self, end: str) -> list[str]:
        """The ids of the orders this desk can show a history of whose id ends in `end`
        (the short id the desk shows, `tdnfmtnx` or the Log's `mtnx`, or the whole id):
        those in memory, newest first, then those evicted from it (`Retired`, read back
        from the journal), newest first, then those evicted before the snapshot this
        run started from that it names (`OMS.forgotten`). A whole id matches itself
        alone. One pass over the ids, for the command palette (100,000 evicted orders:
        about 12 ms)."""
        if not end:
            return []
        oms = self.oms
        if end in oms.orders or end in oms.retired or oms.forgotten(end) is not None:
            return [end]
        found = [coid for coid in reversed(oms.orders) if coid.endswith(end)]
        found += [coid for coid in reversed(oms.retired) if coid.endswith(end)]
        found += [
            coid
            for coid in oms.forgotten_ids()
            if coid.endswith(end) and oms.forgotten(coid) is not None
        ]
        return found

    def working(self, broker: str | None = None, account: str | None = None) -> list[OrderView]:
        return self.oms.working(broker, account)

    def working_count(self) -> int:
        return self.oms.open_count()

    # -- positions, marks, balances ------------------------------------------------------

    @property
    def positions(self) -> Mapping[Key, PositionState]:
        return self.portfolio.positions

    @property
    def balances(self) -> Mapping[BalanceKey, Balance]:
        return self.portfolio.balances

    @property
    def instruments_by_key(self) -> Mapping[str, Instrument]:
        return self.portfolio.instruments

    def all_instruments(self) -> list[Instrument]:
        return [i for found in self.instruments.values() for i in found.values()]

    def unrealized(self, state: PositionState) -> Decimal | None:
        return self.portfolio.unrealized(state)

    def totals(self, broker: str | None = None) -> Totals:
        return self.portfolio.totals(broker)

    # -- what the risk gate asks (`RiskContext`, without the journal) ----------------------

    def last_price(self, instrument: str) -> Decimal | None:
        return self.portfolio.mark(instrument)

    def mark_basis(self, instrument: str) -> str:
        return self.portfolio.mark_basis.get(instrument, "")

    def exposed(
        self, broker: str, account: str, instrument: str, side: Side, exclude: str = ""
    ) -> list[OrderView]:
        """The orders that may still move the position on `side` (`OMS.exposed`: the
        working ones, and FILLED ones whose fills are owed), oldest first, but `exclude`."""
        return self.oms.exposed(broker, account, instrument, side, exclude)

    def working_quantity(
        self, broker: str, account: str, instrument: str, side: Side, exclude: str = ""
    ) -> Decimal:
        return sum(
            (
                v.order.leaves_qty + v.order.owed_qty
                for v in self.oms.exposed(broker, account, instrument, side, exclude)
            ),
            Decimal(0),
        )

    def owed_quantity(
        self, broker: str, account: str, instrument: str, side: Side, exclude: str = ""
    ) -> Decimal:
        return self.oms.owed(broker, account, instrument, side, exclude)

    def fills_owed(self, key: Key) -> list[OrderView]:
        """The FILLED orders of position `key` (broker, account, instrument) whose fills
        have not arrived (`Order.owed_qty`: TWS's Filled runs ahead of its execution),
        oldest first: the position does not hold them yet, and the Positions row says
        a fill is on its way. The gate still counts them (`exposed`)."""
        owing = self._owing_index()
        if not owing:
            return []
        found = [self.oms.orders.get(coid) for coid, owed in owing.items() if owed == key]
        return sorted((v for v in found if v is not None), key=lambda v: v.created_ns)

    def _owing_index(self) -> dict[str, Key]:
        """`_owing`, found from every order in memory when it is not kept."""
        if self._owing is None:
            self._owing = {
                coid: (v.broker, v.account, v.order.request.instrument)
                for coid, v in self.oms.orders.items()
                if v.order.owed_qty
            }
        return self._owing

    def positions_owed(self) -> set[Key]:
        """The positions FILLED orders owe fills to (`fills_owed`), whether or not the
        pane shows a row of them: an opening buy filled ahead of its execution has no
        row (flat), and was said nowhere while the balance had already moved (a
        review). Empty, cheaply, while none is owed."""
        owing = self._owing_index()
        return set(owing.values()) if owing else set()

    def _follow_owed(self, coid: str, changes: Changes) -> None:
        """`coid`'s order changed (`changes.orders`, whichever path applied it: the
        engine's flat one too): whether it owes fills now (`fills_owed`); its
        position's row is drawn again (`changes`) when that turns."""
        owing = self._owing
        if owing is None:
            return  # found from every order when next asked
        view = self.oms.orders.get(coid)
        if view is not None and view.order.owed_qty:
            key = (view.broker, view.account, view.order.request.instrument)
            if owing.get(coid) != key:
                owing[coid] = key
                changes.positions.add(key)
        elif coid in owing:
            changes.positions.add(owing.pop(coid))

    @property
    def any_live(self) -> bool:
        """Whether any broker whose profile is known trades real money."""
        return any(status.live for status in self.brokers.values())

    def live_money(self, broker: str) -> bool:
        status = self.brokers.get(broker)
        return status is not None and status.live

    def open_orders(self, broker: str) -> int:
        return self.oms.open_count(broker)

    def position(self, broker: str, account: str, instrument: str) -> Decimal:
        return self.portfolio.position(broker, account, instrument)

    def set_silent(self, broker: str, heard_ns: int | None) -> None:
        """`broker` not heard from since `heard_ns`, or (None) heard from again."""
        if heard_ns is None:
            if self.silent.pop(broker, None) is None:
                return
        else:
            self.silent[broker] = heard_ns
        self._changes.brokers = True
        self.version += 1

    def set_unsure(self, broker: str, why: str | None) -> None:
        """What `broker` reports cannot be confirmed, and why (`unsure`), or (None) it
        can again."""
        if why is None:
            if self.unsure.pop(broker, None) is None:
                return
        else:
            self.unsure[broker] = why
        self._changes.brokers = True
        self.version += 1

    def broker_state(self, broker: str) -> ConnectionState:
        status = self.brokers.get(broker)
        return status.state if status is not None else ConnectionState.DISCONNECTED

    def instrument(self, broker: str, key: str) -> Instrument | None:
        return self.instruments.get(broker, {}).get(key)

    def capabilities(self, broker: str) -> Capabilities | None:
        status = self.brokers.get(broker)
        return status.capabilities if status is not None else None

    def order_path_down(self, broker: str) -> str:
        status = self.brokers.get(broker)
        return status.order_path_down() if status is not None else ""

    # -- what the desk cannot confirm now -------------------------------------------------

    def reports_unknown(self) -> dict[str, str]:
        """Each broker the desk knows of, and why what it reports may have moved with
        no word of it ("" when it is heard): `STALE` not heard from (`silent`), its
        state while DISCONNECTED or reconnecting (nothing reports a fill, a cancel or
        a balance meanwhile; the reconcile or the catch-up reads them back: Binance's
        user-data stream down, while its cancels still go over REST, reads
        DISCONNECTED), DEGRADED while one of the links carrying its reports is down
        (`BrokerStatus.reports_down`: its order links, unless it names others: Binance's
        user-data stream, whose rows are known while a 429 holds REST), and a watching
        desk's why it cannot confirm it though it is heard (`unsure`).

        The one rule both panes read: the Orders pane marks a working order of such a
        broker (`NEW?`), the Balances pane its balances (`balances_unconfirmed`). A
        broker missing here has no status at all (the Orders pane's `NOT_HEARD`)."""
        found: dict[str, str] = {}
        for name, status in self.brokers.items():
            down = status.state in _NOT_REPORTING or (
                status.state is ConnectionState.DEGRADED and status.reports_down()
            )
            found[name] = status.state.value if down else ""
        for name, why in self.unsure.items():  # (a watching desk's, after a loss)
            found[name] = found.get(name) or why
        for name in self.silent:  # (a watching desk's broker whose heartbeats stopped)
            found[name] = "STALE"
        return found

    def balances_unconfirmed(self) -> dict[str, str]:
        """The brokers whose balances the desk shows and cannot confirm now, with why
        (`reports_unknown`: `DISCONNECTED`, `RECONCILING`, `STALE`, ...): their rows
        are as last heard, while fills and cancels may have moved them unheard (a cancel
        sent over Binance's REST with its user-data stream down frees funds no balance
        event reports). Empty when every balance shown is confirmed. A broker's mark
        clears with the state that set it: Binance reads LIVE again only once the
        catch-up after its stream's return has read the account back (REST `account`)
        and published what changed."""
        holding = {broker for broker, _, _ in self.portfolio.balances}
        return {
            name: why for name, why in self.reports_unknown().items() if why and name in holding
        }

    # -- what waits for Redis (read, never applied) ---------------------------------------

    def waiting(self) -> Waiting:
        """What this desk's own execution events waiting in memory for Redis would
        change once the journal holds them (`Waiting`): which orders (and how: a fill,
        the status a report gives, a request sent meanwhile), positions and balances,
        by the same keys `apply` would list, and how many wait per account. Nothing of
        it is applied. Worked out again only when the waiting events or the projection
        changed; with more than `WAITING_READ_EVERY` waiting, at most every
        `WAITING_READ_S` (10,000 events took 40 ms to read, and the bus 20 ms to list them:
        the frames go on meanwhile)."""
        seen, version, found = self._waiting
        now = time.monotonic()
        if len(seen) > WAITING_READ_EVERY and now - self._waiting_read_at < WAITING_READ_S:
            return found
        events = self.waiting_events()
        if events is seen and version == self.version:
            return found
        found = self._read_waiting(events) if events else NOTHING_WAITS
        self._waiting = (events, self.version, found)
        self._waiting_read_at = now
        return found

    def _read_waiting(self, events: Sequence[WaitingEvent]) -> Waiting:
        accounts: dict[tuple[str, str], int] = {}
        reading: dict[tuple[str, str], int] = {}
        orders: dict[str, _Tally] = {}
        positions: set[Key] = set()
        balances: set[BalanceKey] = set()
        unread: set[tuple[str, str]] = set()

        written = False  # the event being read: in Redis, not read back yet

        def touch(coid: str, broker: str, account: str, instrument: str = "") -> _Tally:
            found = orders.get(coid)
            if found is None:
                found = orders[coid] = _Tally(coid, broker, account, instrument)
            elif not found.instrument:
                found.instrument = instrument
            found.events += 1
            found.in_memory = found.in_memory or not written
            return found

        for waiting in events:
            broker, _, account = waiting.source.partition("/")
            # In the journal, not read back yet: it names orders, not the rows a fill or
            # a balance moves (those are behind it as they are behind any event read).
            written = bool(waiting.entry_id)
            counts = reading if written else accounts
            counts[(broker, account)] = counts.get((broker, account), 0) + 1
            event = waiting.event
            match event:
                case OrderRequestEvent():
                    r = event.payload
                    touch(r.client_order_id, r.broker, r.account, r.instrument).sent = True
                case OrderUpdateEvent():
                    u = event.payload
                    touch(u.client_order_id, broker, account).status = u.status
                case FillEvent() | FillCorrectionEvent():
                    fill = event.payload if isinstance(event, FillEvent) else event.payload.fill
                    touch(
                        fill.client_order_id, fill.broker, fill.account, fill.instrument
                    ).fills += 1
                    if written:
                        continue
                    positions.add((fill.broker, fill.account, fill.instrument))
                    fee_key = (
                        self.portfolio.fee_position(fill) if isinstance(event, FillEvent) else None
                    )
                    if fee_key is not None:
                        positions.add(fee_key)
                case FeeCorrectionEvent():
                    c = event.payload
                    touch(c.client_order_id, c.broker, c.account, c.instrument)
                    if not written:
                        positions.add((c.broker, c.account, c.instrument))
                case CancelRequestEvent() | ModifyRequestEvent():
                    touch(event.payload.client_order_id, broker, account)
                case PositionEvent():
                    p = event.payload
                    if not written:
                        positions.add((p.broker, p.account, p.instrument))
                case BalanceEvent():
                    b = event.payload
                    if not written:
                        balances.add((b.broker, b.account, b.currency))
                case ReconcileEvent():
                    rec = event.payload
                    coid = rec.client_order_id
                    if rec.venue_order is not None:
                        coid = coid or rec.venue_order.client_order_id
                    if coid:
                        touch(coid, broker, account, rec.instrument)
                    if rec.instrument and not written:
                        positions.add((broker, account, rec.instrument))
                case EventBase():
                    pass  # (nothing a pane shows: an execution event of another kind)
                case _:  # an entry that cannot be read: any row of its account may be behind
                    if not written:  # (read back, the reader counts it: bad data)
                        unread.add((broker, account))
        said = {coid: OrderWaits(**vars(found)) for coid, found in orders.items()}
        oms = self.oms
        not_shown = tuple(
            w
            for coid, w in said.items()
            if (w.sent or w.status is not None)
            and not w.ended
            and coid not in oms.orders
            and coid not in oms.retired
            and oms.forgotten(coid) is None
        )
        ended = tuple(
            coid
            for coid, w in said.items()
            if w.ended
            and (view := oms.orders.get(coid)) is not None
            and not view.order.status.is_terminal
        )
        return Waiting(
            accounts=accounts,
            reading=reading,
            orders=said,
            positions=frozenset(positions),
            balances=frozenset(balances),
            unread=frozenset(unread),
            not_shown=not_shown,
            ended=ended,
        )

    def working_known(self) -> list[str]:
        """The orders working as far as this desk knows, oldest first: those the
        journal shows working but those a report waiting for Redis ends, then those it
        does not show yet that their waiting events say were sent or are working (the
        quit dialog: an order sent while Redis was down works at the venue all the
        same). Read-only: what waits is not applied."""
        waiting = self.waiting()
        ended = set(waiting.ended)
        shown = [v.client_order_id for v in self.oms.working() if v.client_order_id not in ended]
        return shown + [w.client_order_id for w in waiting.not_shown]


def _int(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return 0
    return int(value)


async def project(
    bus: EventBus,
    accounts: Iterable[tuple[str, str]],
    *,
    spot_brokers: Iterable[str] = (),
    market_data: bool = True,
    snapshots: bool = True,
) -> DeskProjection:
    """A projection of what the bus holds for `accounts` ((broker, account) pairs),
    with no engine and no broker: the health stream first (brokers' profiles: their
    instruments place the fees of the fills that follow), then each execution
    journal from its newest snapshot on (the whole journal without one, or with
    `snapshots` False: the journal alone), the risk stream, and (`market_data`) the
    brokers' market data for marks.

    Raises `JournalGap` when a journal no longer holds what its snapshot does not (it
    was trimmed behind it, or there is no snapshot and its first entries are gone): the
    desk would come up short of the live one without a word.
    """
    projection = DeskProjection(spot_brokers=spot_brokers)
    layout = bus.layout
    accounts = list(accounts)
    after: dict[str, str] = {layout.health: "0-0"}
    for broker, account in accounts:
        stream = layout.exec(broker, account)
        snapshot = await latest_snapshot(bus, broker, account) if snapshots else None
        covers = snapshot.covers if snapshot is not None else None
        why = journal_gap(covers, await bus.info(stream))
        if why:
            raise JournalGap(f"{stream}: {why}")
        if snapshot is not None:
            restore(projection, snapshot)
        after[stream] = covers or "0-0"
    after[layout.risk] = "0-0"
    if market_data:
        after.update(dict.fromkeys(sorted({layout.md(broker) for broker, _ in accounts}), "0-0"))
    for stream, start in after.items():
        async for entry in bus.replay(stream, after=start):
            projection.apply_entry(entry)
    return projection


class JournalGap(Exception):
    """A journal lacks entries a desk built from it needs (`project`)."""
