"""The trading engine: OMS, portfolio and risk fed from the bus, orders out to brokers.

State changes only by applying events read back from the bus (`apply`), never by
adapter callbacks: the live path and a replay of the journal are the same code.
Commands (`submit`, `cancel`, `modify`, `kill`, ...) go through the risk gate to the
brokers, whose events come back through the bus.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import itertools
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from ..brokers import Broker, BrokerError, BrokerTimeout
from ..brokers.turns import Turns
from ..bus import BusEntry, BusUnavailableError, EventBus, parse_id
from ..config import RiskConfig
from ..domain import (
    TERMINAL_STATUSES,
    ApplyResult,
    Capabilities,
    ConnectionState,
    Fill,
    FillCorrection,
    Instrument,
    ModifyStyle,
    Order,
    OrderRequest,
    OrderStatus,
    OrderUpdate,
    Position,
    Side,
    TradingState,
    adds_to_position,
    minted_ms,
    plain,
)
from ..domain.clock import utc_time
from ..domain.ids import short_id
from ..domain.seen import SeenIds
from ..events import (
    BrokerProfile,
    BrokerProfileEvent,
    EventBase,
    FillCorrectionEvent,
    FillEvent,
    Health,
    HealthEvent,
    Log,
    LogEvent,
    LogLevel,
    OrderRequestEvent,
    OrderUpdateEvent,
    PositionEvent,
    Reconcile,
    ReconcileEvent,
    ReconcileKind,
    Risk,
    RiskAction,
    RiskEvent,
)
from ..events.summary import corrected_text, price_text
from .anomalies import (
    CONTRADICTS,
    ENGINE_COMPONENT,
    Anomalies,
    AnomalyKind,
    unreadable_message,
)
from .cancels import (
    RETRY_DELAYS_S,
    CancelReport,
    KillReport,
    cancel_everywhere,
    cancel_ids,
    cancel_on,
    kept_by_kill,
    say_follow_up,
)
from .in_flight import ChangesInFlight, PlacesInFlight, cancel_when_answered
from .oms import _FROM_ORDER, OrderView, Outcome
from .oms import log as oms_log
from .projection import MAX_LISTED, TOUCHED, DeskProjection, FinishedWindow, journal_problem
from .risk import (
    RiskGate,
    RiskRejected,
    RiskViolation,
    modify_violations,
    reduce_only_excess,
)

if TYPE_CHECKING:
    from .recovery import Unanswered

log = logging.getLogger(__name__)

ENGINE_SOURCE = "engine"
ADDING = "that would add to a position"
"""What REDUCE_ONLY cancels (`TradingEngine.cancel_adding`), as its report says it."""
REDUCE_ONLY_PAST_ZERO = "reduce-only that would take a position through zero"
"""What `TradingEngine.trim_reduce_only` cancels, as its report says it."""

# Read as module globals on every event (from the enum class: about 0.1 µs on 3.11).
_TERMINAL, _PARKED, _APPLIED = Outcome.TERMINAL, Outcome.PARKED, Outcome.APPLIED
_ORDER_APPLIED, _ORDER_TERMINAL = ApplyResult.APPLIED, ApplyResult.TERMINAL
_ORDER_DUPLICATE = ApplyResult.DUPLICATE
_PARTIALLY_FILLED = OrderStatus.PARTIALLY_FILLED
# The kinds of event `apply_entries` takes flat.
_REQUEST, _REPORT, _FILL = object(), object(), object()
_NONE: frozenset[OrderStatus] = frozenset()
_NO_FILLS: dict[str, Fill] = {}
FILL_ANOMALIES = frozenset({Outcome.OVERFILL, Outcome.PARKED, Outcome.EVICTED})
"""Outcomes of a fill the position took but its order did not (or no order knows)."""


class EntryNotApplied(Exception):
    """Applying `entry` raised `error` (`apply_entries` says which entry it was)."""

    def __init__(self, entry: BusEntry | None, error: Exception) -> None:
        where = f"{entry.id} on {entry.stream}" if entry is not None else "before any entry"
        super().__init__(f"{where}: {type(error).__name__}: {error}")
        self.entry = entry
        self.error = error


class DuplicateOrderId(RiskRejected):
    """The request's client order id was used before: nothing is sent.

    An id names one send attempt. Reusing one after a reject, an error or a timeout
    would let the venue's reports land on the finished order (and vanish there).
    """

    def __init__(self, client_order_id: str) -> None:
        self.client_order_id = client_order_id
        super().__init__(
            [
                RiskViolation(
                    "duplicate_id",
                    f"client order id {client_order_id} was already used for an earlier "
                    "send attempt; open a new ticket so the order gets a new id",
                )
            ]
        )


class OrderFinished(Exception):
    """A cancel or change of an order that is already finished (FILLED, CANCELED,
    REJECTED, EXPIRED): there is nothing to cancel or change, and nothing is sent (a
    cancel sent anyway is journaled as requested, puts PENDING_CANCEL on a filled
    order's history and only then fails at the venue)."""

    rule = "finished"

    def __init__(self, client_order_id: str, status: OrderStatus, what: str) -> None:
        self.client_order_id = client_order_id
        self.status = status
        super().__init__(f"order {client_order_id} is {status}: nothing to {what}")


class OrderUnacknowledged(Exception):
    """A change of an order the venue has not acknowledged yet (PENDING_NEW): nothing is
    sent. No venue changes an order it does not hold: IB's modify is a placeOrder under
    the order's id, which TWS took as a new order when the place was lost; the paper
    venue answered "has no order", Binance an unknown order. A cancel still goes."""

    rule = "not_acknowledged"

    def __init__(self, client_order_id: str) -> None:
        self.client_order_id = client_order_id
        super().__init__(
            f"order {client_order_id} is not acknowledged by the venue yet (PENDING_NEW): "
            "nothing was sent; change it once it is working (a cancel still goes)"
        )


POSITION_SETTLE_S = 10.0
"""How long a position the venue reported may disagree with our fills before it is a
mismatch (`TradingEngine.check_positions`). A venue may report a position before the
executions it includes: TWS sends position updates and execDetails with no order
between them (the position after a market order's last fill can come ahead of its
second and third execDetails), and the IB adapter journals a fill only once its
commission report is in or `commission_wait_s` (2 s) passed. Ten seconds covers a
few fills in flight; a mismatch that stands longer is reported. The time runs from the
instrument's last fill: while its fills are still coming (an order filling in a
thousand pieces, the venue's position ahead of them all along) it is not judged."""

Key = tuple[str, str, str]


@dataclass(slots=True)
class Disagreement:
    """A venue position that disagrees with our fills: watched, reported once due."""

    venue: Decimal  # the venue's latest word
    # when the two stopped agreeing, or the instrument's last fill since (the engine's
    # clock; replay: event ts)
    since_ns: int
    reported: bool = False
    # Found by a reconcile while the instrument's fills were still coming: once it
    # stands, the venue's quantity is taken (`adopt_settled`), as the reconcile would
    # have, instead of only being reported.
    adopt: bool = False


@dataclass(frozen=True, slots=True)
class HeldState:
    """A stricter trading state (a KILL, REDUCE ONLY) this desk set that Redis has not
    taken (`TradingEngine.state_unwritten`): as its risk entry says it."""

    event_id: str
    action: RiskAction
    state: TradingState
    message: str  # naming the desk that set it ("kill switch (UI) by desk h pid 7")
    at_ns: int
    seen: str
    """The newest risk entry setting the trading state this desk had read when it was
    set ("0-0": none): a state journaled after it (another desk's resume) stands over
    it (`RunRecorder._carry_unwritten`)."""


def entry_after(entry_id: str, last: str) -> bool:
    """Whether stream entry `entry_id` comes after `last` (ids `ms-seq`). Ids of the
    same shape compare as text; others as numbers."""
    if len(entry_id) == len(last) and entry_id.find("-") == last.find("-"):
        return entry_id > last
    return parse_id(entry_id) > parse_id(last)


KILL_OWED_LOOK_S = 0.25
KILL_OWED_SETTLE_S = 1.0
"""A kill switch's cancels kept while their broker could not carry a cancel
(`TradingEngine.cancel_kill_owed`): the broker is looked at this often, and the cancels
are made once it has carried cancels this long, trading still HALTED
(`TradingEngine._kill_owed_when_sendable`). Its own announce of being back (the session
reconciles, then makes them) comes first when it makes one."""

LOST_CANCEL_REASON = "its cancel was lost when the desk stopped: made again at the restart"
"""The reason journaled with a cancel made again (`TradingEngine.cancel_lost`)."""

JOURNAL_WAIT_S = 30.0
"""How long a reconcile waits for this desk's own events of the account that wait in
its bus's memory for Redis, or were written and not read back yet
(`recovery.journal_read_back`: `TradingEngine.journal_wait_s`): as long as a read of a
stalled Redis could already hold it (the replay's socket timeout)."""

KILL_LOOK_S = 2.0
"""How long the report of a kill switch (or of REDUCE ONLY) looks in the risk stream for
its own KILL (state) that the bus kept in memory (`TradingEngine._journaled_since`):
Redis answers at once when it is back; a Redis that does not leaves it said as not
journaled."""


UNREADABLE_TOLD_MAX = 10_000
"""Unreadable journal entries remembered as said (`TradingEngine._unreadable`), as the
bus remembers the bad entries it counted (`bus.base.BAD_SEEN_MAX`)."""


MINT_SKEW_MS = 5 * 60_000
"""How far ahead of this host's clock an id's mint time may be and still count in the
bound a snapshot carries (`TradingEngine.id_bound`); an id minted further ahead (a
host whose clock runs fast) is listed instead, so it cannot lift the bound above what
this host mints next."""


def utc_ms(ms: int) -> str:
    """Milliseconds since the epoch as the journal's messages write a time."""
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + " UTC"


class StaleOrderId(RiskRejected):
    """The request's client order id was minted no later than the ids the journal's
    last snapshot stopped listing: nothing is sent.

    Finished orders leave memory and snapshots do not list them; what a snapshot keeps
    of their ids is the latest mint time among them (`Snapshot.ids_minted_to_ms`). An
    id of our format minted at or before it, and not an order the engine knows, may be
    one of those: it cannot be told from a reused one, so it is refused.
    """

    def __init__(self, client_order_id: str, minted: int, bound: int) -> None:
        self.client_order_id = client_order_id
        super().__init__(
            [
                RiskViolation(
                    "stale_id",
                    f"client_order_id {client_order_id} is older than the journal's last "
                    f"snapshot (minted {utc_ms(minted)}; ids minted up to {utc_ms(bound)} "
                    "may have been used and forgotten): mint a new id "
                    "(open a new ticket)",
                    field="client_order_id",
                )
            ]
        )


class TradingEngine:
    def __init__(
        self,
        bus: EventBus,
        brokers: Iterable[Broker],
        risk: RiskConfig,
        *,
        clock: Callable[[], float] | None = None,
        retry_delays: Sequence[float] = RETRY_DELAYS_S,
        window: FinishedWindow | None = None,
    ) -> None:
        self.bus = bus
        self.brokers: dict[str, Broker] = {b.name: b for b in brokers}
        for broker in self.brokers.values():
            # A real-money broker writes what precedes a send now or sends nothing
            # (`Broker.journal_before_send`), unless the risk config lets unjournaled
            # orders go.
            broker.journal_before_send = broker.live and risk.live_requires_journal
            broker.send_guard = functools.partial(self._refusal_said, broker.name)
        # The desk's read model, shared with the UI: the OMS and the portfolio are its
        # parts, and every event the engine applies goes through it.
        # Brokers whose asset fees come out of positions: as each says (the paper venue
        # takes a base fee out of the position with or without short selling).
        spot = [b.name for b in self.brokers.values() if b.capabilities.asset_fees_in_position]
        self.projection = DeskProjection(spot_brokers=spot, window=window)
        self.oms = self.projection.oms
        self.portfolio = self.projection.portfolio
        self.gate = RiskGate(risk) if clock is None else RiskGate(risk, clock=clock)
        self.instruments = self.projection.instruments
        # Each broker's last profile, and the health entries read when it was published.
        self.profiles: dict[str, BrokerProfile] = {}
        self._profile_mark: dict[str, int] = {}
        self._health_applied = 0
        self.applied = self.projection.applied  # stream -> last applied entry id
        # (broker, account) -> time of the first journal event of the account: fills at
        # the venue before it are history, not fills the journal missed.
        self.journal_start: dict[tuple[str, str], int] = {}
        self._exec_prefix = f"{bus.layout.prefix}:exec:"
        self._risk_stream = bus.layout.risk
        # Journal entries this engine could not read and has said so (`_unreadable`).
        self._unreadable_told: SeenIds[tuple[str, str]] = SeenIds(UNREADABLE_TOLD_MAX)
        self.retry_delays = tuple(retry_delays)
        # How long a reconcile waits for this desk's own events of its account that
        # Redis has not taken, or the engine not read back (`recovery.journal_read_back`).
        self.journal_wait_s = JOURNAL_WAIT_S
        self.anomalies = Anomalies()
        self.replaying = False  # set by recovery: findings then are not alerted again
        # Why no order may be sent yet ("" once the session has recovered and
        # reconciled): an order checked against half a journal could double a position.
        # Set by the session (`not_ready`); `send_guard` is read besides.
        self._not_ready = ""
        self._not_ready_rule = "starting"  # the risk rule `not_ready` is refused under
        self.send_guard: Callable[[str | None], RiskViolation | None] | None = None
        """Read right before an order or a change is handed to a broker (the broker's
        name; None: any of them), and by `not_ready`: the session's claims, read from
        the clock and the bus's answers at that moment, not from a flag its keeper task
        sets (a desk paused past its claim's ttl resumes with the flag not yet set)."""
        # The risk stream's last entry when the session opened the bus: a KILL or
        # REDUCE ONLY of another desk after it, replayed on start, is acted on as one
        # read live (`honour_kill`), not taken as history.
        self.live_risk_after: str | None = None
        # Venue positions that disagree with our fills (`_check_position`), and how long
        # one may before it is a mismatch (`check_positions`).
        self._disagreements: dict[Key, Disagreement] = {}
        self.position_settle_ns = int(POSITION_SETTLE_S * 1e9)
        # When each position last took a fill (live, the engine's clock): a reconcile
        # judges no position whose fills are still coming (`fills_settling`).
        self._last_fill_ns: dict[Key, int] = {}
        # Disagreements a reconcile left to settle that stood: their venue quantity is
        # taken by `adopt_settled`.
        self._adopt_due: list[Key] = []
        self._changed = asyncio.Event()
        self._modify_turns = Turns()  # changes of each order, checked and sent one at a time
        # Ids of send attempts the OMS may never see: refused by the gate (also read
        # back from the risk stream) or by the broker before anything was journaled.
        self._attempted: set[str] = set()
        self.in_flight = PlacesInFlight(known=lambda cid: cid in self.oms.orders)
        # Changes of working orders sent and not read back yet: the gate counts each
        # order at the largest quantity it may work at, and the next change of it is
        # judged from the terms sent (`modify`).
        self.changes_in_flight = ChangesInFlight(self.oms.get)
        # What restarts from a snapshot must still refuse (`id_bound`): loaded from the
        # snapshots, ids of our format minted at or before `id_floor_ms` and every id of
        # `_other_used` (both may belong to orders evicted before the snapshot).
        self.id_floor_ms: int | None = None
        self._other_used: set[str] = set()
        # The bound the next snapshot carries: the loaded one, lifted by the evicted ids
        # (`OMS.retired`, in eviction order, never removed) scanned so far.
        self._bound_ms: int | None = None
        self._retired_scanned = 0
        # Set by `kill` until the trader resumes here: no state read back from the bus
        # (published before the kill, applied after it) may lift HALTED.
        self._hold_halted = False
        # KILLs this engine journaled (event ids), and the reason of one journaled by
        # another desk on this bus, read back live and not yet acted on
        # (`honour_kill`): every desk cancels its own brokers' orders on any desk's kill.
        self._own_kills: set[str] = set()
        self._last_own_kill = ""  # read back, it ends the hold on HALTED
        self.kill_from_elsewhere = ""
        # REDUCE_ONLY read back from another desk, not yet acted on (`honour_reduce_only`).
        self.reduce_from_elsewhere = ""
        # Positions moved (a fill, a reconcile) under working reduce-only orders at a
        # venue that does not keep them reduce-only: `trim_reduce_only` looks at them.
        self.reduce_only_to_trim: set[tuple[str, str, str]] = set()
        # Per broker, the orders a kill switch left working (its cancels failed: the
        # venue unreachable, refusing): cancelled when that broker is back, while
        # trading is still HALTED (`cancel_kill_owed`).
        self.kill_owed: dict[str, set[str]] = {}
        # Per broker, the wait that makes its kill's kept cancels once it can carry them
        # (`_make_kill_owed_when_sendable`).
        self._kill_owed_waits: dict[str, asyncio.Task[None]] = {}
        # The risk entry of the newest KILL this engine wrote or read ("" none).
        self.kill_entry = ""
        # The risk entry of the KILL `kill_owed` is owed to ("" when that KILL was never
        # journaled: `state_unwritten` carries it). The last-run record carries both, so
        # that a desk restarted before the venue is back makes them at its start
        # (`kill_still_owed`, `RunRecorder`).
        self.kill_owed_entry = ""
        # Per broker, the orders whose last request the journal held unanswered as this
        # desk started (a cancel's PENDING_CANCEL, a modify's PENDING_REPLACE, nothing
        # newer: the desk that asked stopped before the venue answered), with that
        # request (a modify's terms None when not in memory): looked at once that
        # broker's reconcile is done (`recovery.lost_requests`), then dropped.
        self.unanswered: dict[str, dict[str, Unanswered]] = {}
        # Per broker, the cancels of those the venue never took (it still works the
        # order), each with what it is said as: made again (`cancel_lost`).
        self.lost_cancels: dict[str, dict[str, str]] = {}
        # Per broker, the wait that makes them (`owe_lost_cancels`).
        self._lost_cancel_waits: dict[str, asyncio.Task[None]] = {}
        # The orders whose lost cancel was said kept while their broker was away
        # (`_keep_lost`): said once.
        self._lost_kept_said: set[str] = set()
        self._kill_written = ""  # the entry the kill switch's own KILL was written at
        # The stricter states (the kill switch's KILL, REDUCE ONLY) the bus kept in memory
        # (Redis out of reach) whose report is not made yet: their event ids, and the
        # entries they were read back at once Redis took them (`_still_kept`). Per
        # state: a kill pulled while REDUCE ONLY's cancels settled wiped one shared
        # record, and REDUCE ONLY's report said "not journaled" after all.
        self._kept_watch: set[str] = set()
        self._kept_read: dict[str, str] = {}
        # A stricter state (a KILL, REDUCE ONLY) this desk holds that Redis has not
        # taken: its bus keeps it in memory to write when Redis is back, or refused it.
        # The last-run record carries it, so that a desk that dies before then leaves it
        # to its next start, which writes it (`RunRecorder.check`); None once written.
        self.state_unwritten: HeldState | None = None
        self._state_sent: HeldState | None = None  # the last state-setting event sent
        self._trim_failed: set[tuple[str, str, str]] = set()
        # Ids sent while another desk's kill is being honoured (after a RESUME read
        # meanwhile): that kill does not cancel them.
        self._honouring = 0
        self._sent_while_honouring: set[str] = set()
        self.desk_name = "this desk"  # how its log lines name it (the session: host, pid)
        # Who set a trading state, added to the risk entry ("kill switch (UI) by
        # watching desk h1 pid 7"): the session's desk; "" for an engine without one.
        self.desk_id = ""
        # A watching desk (`engine/watch.py`): no broker of its own, so a trading state
        # it cannot journal holds nothing here; the desk shows the journal's.
        self.watching = False

    # -- applying events ---------------------------------------------------------------

    def apply_entry(self, entry: BusEntry) -> None:
        """Apply one entry read from the bus (see `apply_entries`)."""
        cls = type(entry[2])
        if cls is OrderUpdateEvent or cls is FillEvent or cls is OrderRequestEvent:
            self.apply_entries((entry,))
        else:  # quotes, health, ...: straight to `apply`
            self._apply_entry(entry)

    def apply_entries(self, entries: Iterable[BusEntry]) -> None:
        """Apply entries read from the bus, in order: the live tail and a replay alike.

        The bulk of an execution journal — a request for an id never seen, a status
        report or a fill for an order in memory, each event new — is applied here with
        exactly the steps of `apply` written out flat: the projection's change set, the
        OMS (its duplicate window, outcome counters, the order's history and journal
        span, the window of finished orders) and the engine's checks, on the same
        state. The order's own state machine (`Order.apply_update`, `apply_fill`) and
        the portfolio's `apply_fill` are the same calls. A replay applies 100k events:
        the layers of calls between those steps cost more than the steps. Anything else
        goes through `apply`. A test drives random event sequences through both paths
        (and through a recovery from the journal) and compares every field.
        """
        applied = self.applied
        projection = self.projection
        portfolio = self.portfolio
        oms = self.oms
        seen = oms._seen
        seen_set = seen._set
        orders, retired, parked = oms.orders, oms.retired, oms._parked
        finished, histories = oms._finished, oms._histories
        window = oms.window
        keep_finished, keep_histories = window.orders, window.histories
        by_age = window.minutes > 0
        last_fills = portfolio.last_fills
        disagreements = self._disagreements  # mostly empty: fills then skip the check
        # Logged per report not applied; read once (no handler changes a level here).
        log_not_applied = oms_log.isEnabledFor(logging.INFO)
        changed = False
        # The outcomes, counted at the end (`Counter.update` counts them in C).
        outcomes: list[Outcome] = []
        # The loop reads the events by their type, checked once (`cls`): untyped here.
        event: Any
        payload: Any
        view: OrderView | None
        entry: BusEntry | None = None  # (named in `EntryNotApplied`)
        try:
            for entry in entries:
                stream, entry_id, event = entry
                cls = type(event)
                if cls is OrderUpdateEvent:
                    kind = _REPORT
                elif cls is FillEvent:
                    kind = _FILL
                elif cls is OrderRequestEvent:
                    kind = _REQUEST
                else:
                    self._apply_entry(entry)
                    continue
                event_id = event.event_id
                cursor = applied.get(stream)
                if (
                    cursor is None
                    or event_id in seen_set
                    or (
                        # (`entry_after`, its common case first: ids of one length
                        # compare as text; a call per entry cost 3% of a replay)
                        (entry_id <= cursor or len(entry_id) != len(cursor))
                        and not entry_after(entry_id, cursor)
                    )
                ):
                    # The stream's first entry (`_apply_entry`), an event seen before, or
                    # an entry at or below what was applied there (a stream read again
                    # from its start: `_apply_entry` skips it, `applied` never steps back).
                    self._apply_entry(entry)
                    continue
                payload = event.payload
                coid = payload.client_order_id
                if kind is _REQUEST:
                    if coid in orders or coid in retired or coid in parked:
                        self._apply_entry(entry)
                        continue
                else:
                    view = orders.get(coid)
                    if view is None:
                        self._apply_entry(entry)
                        continue
                # Taken here: the OMS (`OMS.apply`) sees the event id and the journal
                # has it applied.
                applied[stream] = entry_id
                seen.add(event_id)
                took = False
                if kind is _REQUEST:
                    view = orders[coid] = OrderView(
                        payload.broker,
                        payload.account,
                        Order.from_request(payload),
                        [event],
                        created_ns=event.ts,
                        first_entry=entry_id,
                        last_entry=entry_id,
                    )
                    outcome = _APPLIED
                    changed = True
                    projection.version += 1
                else:
                    assert view is not None  # looked up above
                    order = view.order
                    if kind is _FILL:
                        # The portfolio first: the order of an instrument's last fill is
                        # held (`OMS.hold`) before the OMS evicts what the window lets go.
                        took = portfolio.apply_fill(payload)
                        if took:
                            key = (payload.broker, payload.account, payload.instrument)
                            last = last_fills.get(key[:2], _NO_FILLS).get(key[2])
                            if last is not None:
                                oms.hold(key, last.client_order_id)
                        view.history.append(event)
                        result = order.apply_fill(payload)
                    else:
                        view.history.append(event)
                        status = order.status
                        if status in TERMINAL_STATUSES:
                            result = _ORDER_TERMINAL  # `apply_update`'s first answer
                        elif (
                            payload.status is status
                            and status is not _PARTIALLY_FILLED
                            and payload.venue_order_id is None
                            and payload.quantity is None
                            and payload.limit_price is None
                            and payload.stop_price is None
                            and payload.triggered is None  # (a trigger, or its clearing, amends it)
                            and payload.inactive is None  # (as IB's Inactive, or its end, does)
                        ):
                            result = _ORDER_DUPLICATE  # and `apply_update` changes nothing
                        else:
                            result = order.apply_update(payload)
                    # The OMS (`OMS.apply`): the outcome counted, the order's journal
                    # span kept, and a finished order enters the window.
                    if entry_id:
                        if not view.first_entry:
                            view.first_entry = entry_id
                        view.last_entry = entry_id
                    if result is _ORDER_APPLIED:
                        outcome = _APPLIED
                        changed = True
                        projection.version += 1
                        if order.status in TERMINAL_STATUSES:
                            oms._finish(view, event.ts)
                    else:
                        if log_not_applied:
                            oms_log.info(
                                "oms.report_not_applied",
                                extra={"client_order_id": coid, "result": result},
                            )
                        outcome = _FROM_ORDER[result]
                        if took:
                            changed = True
                            projection.version += 1
                outcomes.append(outcome)
                if (
                    len(finished) > keep_finished
                    or len(histories) > keep_histories
                    or (by_age and finished)
                ):
                    oms._evict(event.ts)
                # The projection (`DeskProjection.apply`): the rows that changed, unless
                # the next frame redraws everything anyway.
                changes = projection._changes
                if not changes.everything:
                    if kind is _FILL and took:
                        changes.positions.add(key)
                        # A fee in an asset comes out of the position that holds it.
                        fee_key = portfolio.fee_position(payload)
                        if fee_key is not None:
                            changes.positions.add(fee_key)
                    if outcome in TOUCHED:
                        changes.orders[coid] = None
                    if (
                        len(changes.orders) + len(changes.positions) + len(changes.balances)
                        > MAX_LISTED
                    ):
                        projection._bound_changes()
                if oms.evicted:
                    projection._evicted_rows()
                # The engine's checks (`apply`).
                if outcome is _TERMINAL:
                    if payload.status in CONTRADICTS.get(view.order.status, _NONE):
                        self._check_late_report(payload)
                elif kind is _FILL and outcome in FILL_ANOMALIES:
                    self._fill_anomaly(payload, outcome)
                if took and disagreements:
                    if self.replaying:  # as `apply` does before each event
                        self.check_positions(event.ts)
                    self._fill_moved(payload, event.ts)
                if took and kind is _FILL and not self.replaying:  # (no call per replayed fill)
                    self._last_fill_ns[key] = time.time_ns()
                    self._position_moved(payload.broker, payload.account, payload.instrument)
        except Exception as exc:
            raise EntryNotApplied(entry, exc) from exc  # `entry`: the one being applied
        finally:
            oms.counters.update(outcomes)
            if changed:
                self._changed.set()

    def apply_or_skip(self, entries: Sequence[BusEntry]) -> None:
        """`apply_entries`, with an entry that raises skipped (`not_applied`) and the
        rest applied after it: data no check caught (a fill of 10^500000 at 10^500000,
        whose notional overflows the decimal context) ended the session's reader, and
        the same entry failed every recovery after: the desk could not start again."""
        rest = entries
        while rest:
            try:
                self.apply_entries(rest)
                return
            except EntryNotApplied as failed:
                if failed.entry is None:  # the entries' own iterator failed
                    raise failed.error from failed
                self.not_applied(failed.entry, failed.error)
                after = next(i for i, entry in enumerate(rest) if entry is failed.entry) + 1
                rest = rest[after:]

    def apply_entry_or_skip(self, entry: BusEntry) -> None:
        """`apply_entry`, as the readers call it live: an entry that raises is skipped
        and counted (`not_applied`), and the reader goes on with the next."""
        try:
            self.apply_entry(entry)
        except Exception as exc:
            self.not_applied(entry, exc)

    def not_applied(self, entry: BusEntry, error: Exception) -> None:
        """An entry applying raised on: counted (`not_applied`), logged with its id,
        and the engine goes on with the next. Whatever it had changed before it raised
        stays (the entry is marked applied and its event seen: it is not applied
        twice); what it would have changed after is missing, which the anomaly says."""
        if isinstance(error, EntryNotApplied):
            entry, error = error.entry or entry, error.error
        kind = getattr(entry.event, "type", "") or type(entry.event).__name__
        log.error(
            "engine.entry_not_applied",
            exc_info=error,
            extra={"stream": entry.stream, "entry_id": entry.id, "event_type": kind},
        )
        # What it changed before it raised may not be in the change set: all redrawn.
        self.projection.redraw_everything()
        self._changed.set()
        self._anomaly(
            AnomalyKind.NOT_APPLIED,
            f"{kind} {entry.id} on {entry.stream} could not be applied "
            f"({type(error).__name__}: {error}); the orders and positions it touches may "
            "be wrong here: check them at the venue",
        )

    def _unreadable(self, entry: BusEntry) -> None:
        """A journal entry (an account's execution journal, the risk stream) this build
        cannot read: cut short, malformed, or written by a newer Silvertine. Every
        reader skips it; it may have been a fill, a status or a kill switch, so it is a
        `not_applied` anomaly naming the entry, said once a run: in a replay too, as the
        journal gap is (no earlier run of this build applied it either, and what it
        held is still missing here). Only bad entries come here: `apply_entries`' flat
        path never sees one."""
        if not self._unreadable_told.add((entry.stream, entry.id)):
            return
        message = unreadable_message(
            entry.stream, entry.id, entry.event, prefix=self.bus.layout.prefix
        )
        log.warning(
            "engine.anomaly",
            extra={
                "kind": AnomalyKind.NOT_APPLIED,
                "detail": message,
                "stream": entry.stream,
                "entry_id": entry.id,
            },
        )
        self.anomalies.record(AnomalyKind.NOT_APPLIED, message, replaying=False)

    def _apply_entry(self, entry: BusEntry) -> None:
        stream, entry_id, decoded = entry
        last = self.applied.get(stream)
        if last is not None and not entry_after(entry_id, last):
            # Applied already: two readers of one journal (a reconcile's `catch_up`
            # beside the session's live reader) both hand it over. Once is all: an
            # event's checks (a reconcile's mismatch, a venue position) would count
            # twice, and `applied` must never step back (the next catch-up would then
            # apply the entries after it a third time). Order events and fills that
            # are new take `apply_entries`' flat path; one seen before comes here.
            return
        ok = entry.ok
        if ok and stream not in self.applied and stream.startswith(self._exec_prefix):
            event: EventBase = decoded  # type: ignore[assignment]
            self.journal_start.setdefault((event.broker, event.account), event.ts)
        self.applied[stream] = entry_id
        if ok:
            self.apply(decoded, entry_id)  # type: ignore[arg-type]
        elif stream.startswith(self._exec_prefix) or stream == self._risk_stream:
            self._unreadable(entry)  # (a bad entry elsewhere: the bus counts and logs it)

    @property
    def version(self) -> int:
        """Orders, fills, positions, balances, states: not quotes."""
        return self.projection.version

    @property
    def marks_version(self) -> int:
        """Quotes (marks and unrealized P&L)."""
        return self.projection.marks_version

    def apply(self, event: EventBase, entry_id: str = "") -> None:
        """Apply to the projection, then look for what the journal got wrong."""
        if self.replaying and self._disagreements:
            # What a live desk's timer had found by the time of this event.
            self.check_positions(event.ts)
        applied = self.projection.apply(event, entry_id)
        outcome = applied.outcome
        match event:
            case OrderUpdateEvent():
                if outcome is _TERMINAL:
                    self._check_late_report(event.payload)
                elif outcome is _PARKED:
                    update = event.payload
                    self._anomaly(
                        AnomalyKind.UNKNOWN_ORDER,
                        f"{event.source}: {update.status} report for order "
                        f"{update.client_order_id}, which the journal does not know "
                        "(placed elsewhere?); check it at the venue",
                    )
            case FillEvent():
                # Fills are money: the portfolio took every new execution id, even one
                # for an order the OMS refuses as an overfill (counted as an anomaly).
                if outcome in FILL_ANOMALIES:
                    self._fill_anomaly(event.payload, outcome)
                if self._disagreements:
                    self._fill_moved(event.payload, event.ts)
                fill = event.payload
                if not self.replaying:
                    self._last_fill_ns[(fill.broker, fill.account, fill.instrument)] = (
                        time.time_ns()
                    )
                self._position_moved(fill.broker, fill.account, fill.instrument)
            case OrderRequestEvent():
                pass  # first: a journal is mostly order events (a miss costs here)
            case FillCorrectionEvent():
                self._check_fill_correction(event.payload, outcome)
                fixed = event.payload.fill
                self._position_moved(fixed.broker, fixed.account, fixed.instrument)
            case PositionEvent():
                self._check_position(event.payload, event.ts)
            case ReconcileEvent():
                rec = event.payload
                if rec.kind is ReconcileKind.POSITION_MISMATCH:
                    # (a paper venue is rebuilt from this journal: no fills to check there)
                    adapter = self.brokers.get(event.broker)
                    check = (
                        "the paper venue is a simulator rebuilt from this journal, with no "
                        "fills but the journal's to check"
                        if adapter is not None and adapter.state_in_journal
                        else "check the fills at the venue"
                    )
                    self._anomaly(
                        AnomalyKind.POSITION_MISMATCH,
                        f"{event.source} {rec.instrument}: we held {rec.ours}, the venue "
                        f"holds {rec.venue}; the venue's quantity was taken, no fill was "
                        f"made up: {check}"
                        + self._cost_taken((event.broker, event.account, rec.instrument)),
                    )
                if rec.venue_quantity is not None and rec.kind in (
                    ReconcileKind.POSITION_MISMATCH,
                    ReconcileKind.OPENING_POSITION,
                ):
                    # Our position is the venue's now: a disagreement watched ends.
                    key = (event.broker, event.account, rec.instrument)
                    self._position_moved(*key)
                    watched = self._disagreements.get(key)
                    if watched is not None:
                        self._agreed(key, watched, rec.venue_quantity, "on reconcile")
            case RiskEvent():
                if event.payload.action is RiskAction.KILL:
                    self._saw_kill(entry_id)
                if entry_id and event.event_id in self._kept_watch:
                    self._kept_read[event.event_id] = entry_id  # written late: read back
                self._apply_risk(event, self._risk_live(entry_id))
            case HealthEvent() | BrokerProfileEvent():
                self._health_applied += 1
            case _:
                pass
        if applied.changed or applied.marks:
            self._changed.set()

    # -- anomalies: counted, published, shown (never only logged) ------------------------

    def _anomaly(self, kind: AnomalyKind, message: str) -> None:
        if not self.replaying:
            log.warning("engine.anomaly", extra={"kind": kind, "detail": message})
        self.anomalies.record(kind, message, replaying=self.replaying)

    def _fill_anomaly(self, fill: Fill, outcome: Outcome) -> None:
        # The price on the instrument's grid, as the desk prints prices (149.40, not
        # IB's float's 149.4); one between ticks keeps its places.
        inst = self.instrument(fill.broker, fill.instrument)
        what = (
            f"{fill.broker}/{fill.account}: fill {fill.exec_id} {fill.side} "
            f"{plain(fill.quantity)} {fill.instrument} @ {price_text(fill.price, inst)} for "
            f"order {fill.client_order_id}"
        )
        view = self.oms.get(fill.client_order_id)
        quoted = view.order.quote_quantity if view is not None else None
        if outcome is Outcome.OVERFILL and view is not None and quoted is not None:
            order = view.order
            self._anomaly(
                AnomalyKind.OVERFILL,
                f"{what} makes the amount filled {plain(order.filled_quote + fill.notional)} > "
                f"the {plain(quoted)} ordered in the quote currency: the position "
                "took it, the order did not; check the fills at the venue",
            )
        elif outcome is Outcome.OVERFILL and view is not None:
            order = view.order
            self._anomaly(
                AnomalyKind.OVERFILL,
                f"{what} makes filled {plain(order.filled_qty + fill.quantity)} > ordered "
                f"{plain(order.quantity)}: the position took it, the order did not; "
                "check the fills at the venue",
            )
        elif outcome is Outcome.EVICTED:
            self._anomaly(
                AnomalyKind.REFUSED_REPORT,
                f"{what}, which finished long ago and left memory: the position took "
                "it, the order did not; check the order at the venue",
            )
        else:
            self._anomaly(
                AnomalyKind.UNKNOWN_ORDER,
                f"{what}, which the journal does not know: the position took it; "
                "check the order at the venue",
            )

    def _check_fill_correction(self, correction: FillCorrection, outcome: Outcome | None) -> None:
        """A correction the order refused, or the position could only book in part, is
        said: the desk then differs from the venue until the trader checks it. One that
        brings the position to the venue's ends a disagreement watched, as a fill does."""
        fill = correction.fill
        if self._disagreements:
            self._fill_moved(fill)
        what = (
            f"{fill.broker}/{fill.account}: the correction of fill {correction.replaces} "
            f"(now {fill.exec_id}: "
            f"{corrected_text(correction, self.instrument(fill.broker, fill.instrument))}) "
            "for order "
            f"{fill.client_order_id}"
        )
        if outcome is Outcome.OVERFILL:
            self._anomaly(
                AnomalyKind.OVERFILL,
                f"{what} makes filled more than ordered: the position took it, the order "
                "did not; check the fills at the venue",
            )
        elif outcome in (Outcome.EVICTED, Outcome.IGNORED, Outcome.STALE):
            self._anomaly(
                AnomalyKind.REFUSED_REPORT,
                f"{what}: the order here does not hold that fill (it left memory, or the "
                "journal does not know it), so only the position took it; check the order "
                "at the venue",
            )
        if (
            outcome is not Outcome.DUPLICATE_EVENT
            and self.portfolio.booked_exactly(correction) is False
        ):
            self._anomaly(
                AnomalyKind.NOT_APPLIED,
                f"{what}: the fill is older than the fills the position keeps, so only the "
                "price difference was booked in realized P&L and the quantity follows the "
                "venue's position; check the P&L at the venue",
            )

    def _check_late_report(self, update: OrderUpdate) -> None:
        view = self.oms.get(update.client_order_id)
        if view is None:
            return
        final = view.order.status
        if update.status in CONTRADICTS.get(final, frozenset()):
            self._anomaly(
                AnomalyKind.REFUSED_REPORT,
                f"{view.broker}/{view.account}: the venue reports order "
                f"{update.client_order_id} {update.status} but it is {final} here; "
                "the report was not applied: check the order at the venue",
            )

    def _check_position(self, venue: Position, ts: int) -> None:
        """A position the venue reported. One that disagrees with our fills is not a
        mismatch yet: fills may still be on their way (the venue can report a position
        before the executions in it). It is watched: fills that bring ours to it, or a
        later report that agrees, end it; one that stands `position_settle_ns` is
        reported (`check_positions`)."""
        key = (venue.broker, venue.account, venue.instrument)
        ours = self.portfolio.position(*key)
        watched = self._disagreements.get(key)
        if venue.quantity == ours:
            if watched is not None:
                self._agreed(key, watched, ours, "")
            return
        if ours == 0 and not self.portfolio.traded(*key):
            # Held at the venue before this journal knew the instrument: the reconcile
            # takes it as the opening position. Not a disagreement with our fills.
            return
        if watched is not None:
            watched.venue = venue.quantity  # still disagreeing since it began
            return
        since = ts if self.replaying else time.time_ns()
        self._disagreements[key] = Disagreement(venue.quantity, since)

    def _cost_taken(self, key: Key) -> str:
        """What a position whose quantity was taken from the venue is worth at: said
        when its cost is lost (`Portfolio.adopt_venue_quantity`), never silently."""
        state = self.portfolio.positions.get(key)
        if state is None or state.quantity == 0 or state.avg_price is not None:
            return ""
        return (
            "; the venue reported no average cost for that quantity, so the position has "
            "none: no average nor unrealized P&L until it is flat again"
        )

    def _fill_moved(self, fill: Fill, ts: int | None = None) -> None:
        """A fill moved our position (and its fee perhaps another, in the asset it was
        paid in): a disagreement it catches up with ends unreported; one it does not
        is timed again from now (`ts` in a replay): the instrument's fills are still
        coming, and the venue's position ahead of them is no mismatch yet."""
        now = ts if self.replaying else time.time_ns()
        for key in (
            (fill.broker, fill.account, fill.instrument),
            self.portfolio.fee_position(fill),
        ):
            if key is None:
                continue
            watched = self._disagreements.get(key)
            if watched is not None:
                ours = self.portfolio.position(*key)
                if ours == watched.venue:
                    self._agreed(key, watched, ours, "")
                elif not watched.reported and now is not None and now > watched.since_ns:
                    watched.since_ns = now

    def _agreed(self, key: Key, watched: Disagreement, qty: Decimal, how: str) -> None:
        del self._disagreements[key]
        if not watched.reported:
            return  # fills in flight, caught up with: nothing to tell
        broker, account, instrument = key
        self.anomalies.resolve(
            AnomalyKind.POSITION_MISMATCH,
            f"{broker}/{account} {instrument}: position mismatch resolved, the venue and "
            f"our fills agree again at {plain(qty)}{' ' + how if how else ''}",
            replaying=self.replaying,
        )
        if not self.replaying:
            log.info("engine.position_agrees", extra={"key": "/".join(key), "qty": str(qty)})

    def check_positions(self, now_ns: int | None = None) -> None:
        """Report each venue position that has disagreed with our fills for
        `position_settle_ns` (the session calls this every `POSITION_CHECK_S`; a
        replay at each event, by its time). Once per disagreement."""
        if not self._disagreements:
            return
        now = time.time_ns() if now_ns is None else now_ns
        for (broker, account, instrument), watched in self._disagreements.items():
            if watched.reported or now - watched.since_ns < self.position_settle_ns:
                continue
            watched.reported = True
            ours = self.portfolio.position(broker, account, instrument)
            if watched.adopt and not self.replaying:
                # A reconcile's finding, left until the fills stopped: now taken as the
                # reconcile takes one (`adopt_settled` journals it; it says the anomaly).
                self._adopt_due.append((broker, account, instrument))
                continue
            self._anomaly(
                AnomalyKind.POSITION_MISMATCH,
                f"{broker}/{account} {instrument}: the venue reports a position of "
                f"{plain(watched.venue)}, our fills make {plain(ours)} (for "
                f"{(now - watched.since_ns) / 1e9:.0f} s: no fill on its way made up the "
                "difference); check the fills at the venue",
            )

    def forget_disagreements(self) -> None:
        """After a replay: the reconcile with the venue that follows settles positions;
        a disagreement from the journal would be timed from history."""
        self._disagreements.clear()

    def fills_settling(
        self, broker: str, account: str, instrument: str, venue: Decimal | None = None
    ) -> bool:
        """Whether a position's fills are still coming: it took a fill less than
        `position_settle_ns` ago and an order of ours in it is working (after a
        reconcile's own findings: the venue lists it open). With `venue` (the venue's
        quantity), only if fills of those working orders could make up the difference:
        on their side, within what they have left to fill. A venue's position ahead of
        such fills is no mismatch yet. Anything else is judged at once (fills owed by an
        order the venue said FILLED are in the venue's position: `OMS.write_off_owed`)."""
        last = self._last_fill_ns.get((broker, account, instrument))
        if last is None or time.time_ns() - last >= self.position_settle_ns:
            return False
        working = [
            v.order
            for v in self.oms.exposed(broker, account, instrument)
            if not v.order.status.is_terminal
        ]
        if venue is None:
            return bool(working)
        gap = venue - self.portfolio.position(broker, account, instrument)
        if gap == 0:
            return False
        side = Side.BUY if gap > 0 else Side.SELL
        room = sum((o.leaves_qty for o in working if o.request.side is side), Decimal(0))
        return abs(gap) <= room

    def settle_then_adopt(self, key: Key, venue: Decimal) -> None:
        """A reconcile found the venue's position `venue` disagreeing with ours while the
        instrument's fills were still coming (`fills_settling`): it is watched as a
        venue's position report is, timed from the last fill. Fills that bring ours to
        it end it unreported; one that still stands `position_settle_ns` after the last
        fill takes the venue's quantity (`adopt_settled`), as the reconcile would have.
        Taken at once, it counted the fills on their way twice: the venue's quantity
        held them, and they came after it (a buy of 19,689 ended a position of 19,719)."""
        since = self._last_fill_ns.get(key, time.time_ns())
        watched = self._disagreements.get(key)
        if watched is None:
            watched = self._disagreements[key] = Disagreement(venue, since)
        watched.venue = venue
        watched.since_ns = max(watched.since_ns, since)
        watched.adopt = True
        watched.reported = False

    async def adopt_settled(self) -> int:
        """Journal the venue's quantity of each position a reconcile left to settle
        that stood (`settle_then_adopt`, `check_positions`): a POSITION_MISMATCH
        reconcile, applied like the reconcile's own (the position takes the venue's
        quantity, the anomaly is said). How many were journaled."""
        due, self._adopt_due = self._adopt_due, []
        done = 0
        for key in due:
            watched = self._disagreements.get(key)
            if watched is None or not watched.adopt:
                continue  # agreed since
            del self._disagreements[key]
            venue, ours = watched.venue, self.portfolio.position(*key)
            if venue == ours:
                continue
            broker, account, instrument = key
            rec = Reconcile(
                kind=ReconcileKind.POSITION_MISMATCH,
                instrument=instrument,
                ours=plain(ours),
                venue=plain(venue),
                detail=(
                    "position taken from the venue once its fills stopped coming; no fill "
                    "was made up"
                ),
                venue_quantity=venue,
            )
            await self.bus.publish(ReconcileEvent.create(f"{broker}/{account}", rec))
            done += 1
        return done

    async def watch_positions(self, every_s: float = 1.0) -> None:
        """Run by a driving session: `check_positions` every `every_s`, and what it
        found published (nothing else may be applied meanwhile to publish it)."""
        while True:
            await asyncio.sleep(every_s)
            try:
                self.check_positions()
                if self._adopt_due:
                    await self.adopt_settled()
                if self.anomalies.pending:
                    await self.publish_anomalies()
            except Exception:
                log.exception("engine.position_check_failed")

    async def publish_anomalies(self) -> None:
        """Publish what was found (and what resolved) since the last call as the
        engine's health: DEGRADED while something needs the trader, else LIVE
        (`Anomalies.state`)."""
        found = self.anomalies.take()
        if not found:
            return
        new = [a for a in found if not a.resolved]
        if len(found) == 1:
            message = found[0].message
        else:
            message = f"{len(found)} anomalies: " + "; ".join(
                f"{a.kind}{' resolved' if a.resolved else ''}: {a.message}" for a in found
            )
        if len(new) == 1:
            kind = str(new[0].kind)
        elif new:
            kind = f"{len(new)} anomalies"
        else:
            kind = f"{found[-1].kind} resolved"
        metrics = self.anomalies.metrics()
        metrics["last_kind"] = kind
        metrics["last"] = self.anomalies.last
        try:
            await self.bus.publish(
                HealthEvent.create(
                    ENGINE_COMPONENT,
                    Health(
                        component=ENGINE_COMPONENT,
                        state=self.anomalies.state,
                        message=message,
                        metrics=metrics,
                    ),
                )
            )
        except Exception:
            # Still counted here and shown in the health pane from the engine itself.
            log.exception("engine.anomaly_not_published", extra={"kinds": [a.kind for a in found]})

    def _risk_live(self, entry_id: str) -> bool:
        """Whether a risk entry is acted on as news: read live, or replayed on start
        but written after the session opened the bus (`live_risk_after`): a kill
        switch pulled on another desk while this one started."""
        if not self.replaying:
            return True
        after = self.live_risk_after
        return after is not None and bool(entry_id) and entry_after(entry_id, after)

    def _apply_risk(self, event: RiskEvent, live: bool = True) -> None:
        if event.payload.client_order_id:
            self._attempted.add(event.payload.client_order_id)
        action = event.payload.action
        unwritten = self.state_unwritten
        if unwritten is not None and event.event_id == unwritten.event_id:
            self.state_unwritten = None  # written after all (Redis back): read back
        if action is RiskAction.KILL and event.event_id in self._own_kills:
            if event.event_id == self._last_own_kill:
                # This engine's latest KILL read back: whatever follows it in the stream
                # is newer, a RESUME from another desk included, so HALTED need not be
                # held here now (an earlier KILL of its own read back does not end it).
                self._hold_halted = False
        elif action is RiskAction.KILL and live:
            # Another desk on this bus pulled the kill switch: it halts every desk (as
            # any state change does, below), and each cancels its own brokers' orders
            # (the session calls `honour_kill`; on start, once its brokers are
            # connected and reconciled).
            self.kill_from_elsewhere = event.payload.message or "kill switch"
        if action in (RiskAction.STATE, RiskAction.KILL, RiskAction.RESUME):
            state = event.payload.trading_state
            if self._hold_halted and state is not TradingState.HALTED:
                return  # older than the kill (read back late): HALTED holds here
            if state is not TradingState.HALTED:
                self.kill_owed.clear()  # lifted: what the kill left is the trader's again
            if (
                state is TradingState.REDUCE_ONLY
                and self.gate.state is not TradingState.REDUCE_ONLY
                and live
            ):
                # Set elsewhere (this desk's own change set the gate before publishing):
                # the session calls `honour_reduce_only`.
                self.reduce_from_elsewhere = event.payload.message or "reduce only"
            elif state is not TradingState.REDUCE_ONLY:
                # A later state lifted it before it was acted on (both read in one
                # batch, or replayed while this desk started): nothing to cancel now.
                self.reduce_from_elsewhere = ""
            self.gate.state = state

    async def wait_changed(self, timeout: float | None = None) -> bool:
        """Wait until something was applied since the last call. False on timeout."""
        try:
            async with asyncio.timeout(timeout):
                await self._changed.wait()
        except TimeoutError:
            return False
        self._changed.clear()
        return True

    # -- RiskContext ---------------------------------------------------------------------

    def last_price(self, instrument: str) -> Decimal | None:
        """The mark: the latest quote's mid, or its last trade when it has no mid."""
        return self.portfolio.mark(instrument)

    def mark_basis(self, instrument: str) -> str:
        return self.portfolio.mark_basis.get(instrument, "")

    def working_quantity(
        self, broker: str, account: str, instrument: str, side: Side, exclude: str = ""
    ) -> Decimal:
        mark = self.last_price(instrument)
        total = Decimal(0)
        for v in self.oms.exposed(broker, account, instrument, side, exclude):
            order = v.order
            total += max(
                order.leaves_qty + order.owed_qty,
                self.changes_in_flight.quantity(order) - order.filled_qty,
            )
            if order.by_quote and mark is not None and mark > 0:
                # The venue sizes an order by quote amount: about this much at the mark.
                total += order.leaves_quote / mark
        # Orders on their way the OMS has not read back yet: two sells sent at once in
        # REDUCE ONLY each passed the gate alone, and together turned the position.
        for cid, placing in self.in_flight.now(broker=broker, instrument=instrument).items():
            sent = placing.request
            if cid == exclude or sent.account != account or sent.side is not side:
                continue
            if cid in self.oms.orders:
                continue  # counted above (or finished)
            size = sent.base_quantity(mark)
            total += size if size is not None else Decimal(0)
        return total

    def owed_quantity(
        self, broker: str, account: str, instrument: str, side: Side, exclude: str = ""
    ) -> Decimal:
        return self.oms.owed(broker, account, instrument, side, exclude)

    def live_money(self, broker: str) -> bool:
        adapter = self.brokers.get(broker)
        return adapter is not None and adapter.live

    def journal_problem(self) -> str:
        return journal_problem(self.bus.stats)

    def open_orders(self, broker: str) -> int:
        on_the_way = [c for c in self.in_flight.now(broker=broker) if c not in self.oms.orders]
        return self.oms.open_count(broker) + len(on_the_way)

    def position(self, broker: str, account: str, instrument: str) -> Decimal:
        return self.portfolio.position(broker, account, instrument)

    def broker_state(self, broker: str) -> ConnectionState:
        adapter = self.brokers.get(broker)
        if adapter is not None:
            return adapter.state
        return self.projection.broker_state(broker)

    def instrument(self, broker: str, key: str) -> Instrument | None:
        return self.instruments.get(broker, {}).get(key)

    def capabilities(self, broker: str) -> Capabilities | None:
        adapter = self.brokers.get(broker)
        return adapter.capabilities if adapter is not None else None

    def order_path_down(self, broker: str) -> str:
        """Why the broker's orders cannot go out now ("" when they can): an order
        link that is not LIVE, with its detail (see `Broker.order_path_down`)."""
        adapter = self.brokers.get(broker)
        return adapter.order_path_down() if adapter is not None else ""

    async def load_instruments(self) -> None:
        for broker in self.brokers.values():
            await self.load_broker_instruments(broker)

    async def load_broker_instruments(self, broker: Broker, *, required: bool = True) -> None:
        """The broker's instruments, for the ticket and the portfolio (which places the
        asset fees replayed before they were known). `required=False`: a broker that
        cannot list them now (its venue unreachable) keeps what was loaded before; they
        load again when it reconnects."""
        try:
            found = await broker.instruments()
        except BrokerError as exc:
            if required:
                raise
            log.warning(
                "engine.instruments_unavailable",
                extra={"broker": broker.source, "error": str(exc)},
            )
            return
        profile = BrokerProfile(
            broker=broker.name,
            live=broker.live,
            capabilities=broker.capabilities,
            order_links=tuple(broker.order_links),
            instruments=tuple(found.values()),
        )
        # At once for the gate and the portfolio; the desk reads it back from the bus
        # (a projection rebuilt from the streams alone learns it there).
        self.projection.apply_profile(profile)
        self.profiles[broker.name] = profile
        await self._publish_profile(profile)

    async def _publish_profile(self, profile: BrokerProfile) -> None:
        self._profile_mark[profile.broker] = self._health_applied
        try:
            await self.bus.publish(BrokerProfileEvent.create(ENGINE_SOURCE, profile))
        except Exception as exc:
            log.warning(
                "engine.profile_not_published",
                extra={"broker": profile.broker, "error": f"{type(exc).__name__}: {exc}"},
            )

    async def republish_profiles(self, every: int) -> None:
        """Publish each broker's profile again once `every` health entries were read
        since its last: the health stream is capped (`health_maxlen`) and heartbeats
        would push the profile out of it, leaving a desk rebuilt from the bus without
        instruments. At once, rebuilt, when its adapter's capabilities changed since
        (called on every health entry read: within a heartbeat)."""
        for name, profile in list(self.profiles.items()):
            adapter = self.brokers.get(name)
            found = adapter.capabilities if adapter is not None else profile.capabilities
            if found is not profile.capabilities and found != profile.capabilities:
                # The adapter's capabilities moved since the profile was built (Binance:
                # a symbol looked up later, its `amendAllowed`): the desk's copy, which
                # the modify dialog reads, follows at once, not at the next reconnect.
                profile = profile.model_copy(update={"capabilities": found})
                self.projection.apply_profile(profile)
                self.profiles[name] = profile
                await self._publish_profile(profile)
            elif self._health_applied - self._profile_mark.get(name, 0) >= every:
                await self._publish_profile(profile)

    # -- commands -----------------------------------------------------------------------

    def broker(self, name: str) -> Broker:
        try:
            return self.brokers[name]
        except KeyError:
            known = ", ".join(sorted(self.brokers)) or "none"
            raise KeyError(f"no broker named {name!r} (configured: {known})") from None

    def id_used(self, client_order_id: str) -> bool:
        """True if an order with this id was ever sent or refused (journal included)."""
        return (
            client_order_id in self._attempted
            or self.oms.known(client_order_id)
            or client_order_id in self._other_used
        )

    def id_stale(self, client_order_id: str) -> int | None:
        """The id's mint time when it is of our format, not known here, and minted at
        or before the bound loaded from a snapshot (it may name an order evicted before
        that snapshot); None when the bound does not refuse it."""
        floor = self.id_floor_ms
        if floor is None:
            return None
        minted = minted_ms(client_order_id)
        if minted is None or minted > floor or self.id_used(client_order_id):
            return None
        return minted

    def id_bound(self) -> tuple[int | None, tuple[str, ...]]:
        """What a snapshot carries so that a restart from it refuses the ids it does not
        list: the latest mint time among the evicted ids of our format, and the other
        evicted ids, each with what the snapshot it was loaded from carried.

        Only ids seen count, never this host's clock (an id minted more than
        `MINT_SKEW_MS` ahead of it is listed instead). Scans the ids evicted since the
        last call only."""
        retired = self.oms.retired
        if self._retired_scanned < len(retired):
            bound = self._bound_ms
            ahead = time.time_ns() // 1_000_000 + MINT_SKEW_MS
            for coid in itertools.islice(retired, self._retired_scanned, None):
                minted = minted_ms(coid)
                if minted is None or minted > ahead:
                    self._other_used.add(coid)
                elif bound is None or minted > bound:
                    bound = minted
            self._bound_ms = bound
            self._retired_scanned = len(retired)
        return self._bound_ms, tuple(sorted(self._other_used))

    def load_id_bound(self, minted_to_ms: int | None, other_ids: Iterable[str]) -> None:
        """A snapshot's bound (see `id_bound`): refused from now on, carried onwards."""
        self._other_used.update(other_ids)
        if minted_to_ms is None:
            return
        if self.id_floor_ms is None or minted_to_ms > self.id_floor_ms:
            self.id_floor_ms = minted_to_ms
        if self._bound_ms is None or minted_to_ms > self._bound_ms:
            self._bound_ms = minted_to_ms

    @property
    def not_ready(self) -> str:
        """Why no order may be sent now ("" when one may): what the session set
        (starting, a claim lost, the desk stopped, a lapse its keeper told), else what
        `send_guard` reads now (a claim lapsed since its keeper last ran)."""
        refusal = self._refusal()
        return refusal.message if refusal is not None else ""

    @not_ready.setter
    def not_ready(self, why: str) -> None:
        self._not_ready = why

    @property
    def not_ready_rule(self) -> str:
        """The risk rule `not_ready` is refused under."""
        refusal = self._refusal()
        return refusal.rule if refusal is not None else self._not_ready_rule

    @not_ready_rule.setter
    def not_ready_rule(self, rule: str) -> None:
        self._not_ready_rule = rule

    def _refusal(self, broker: str | None = None) -> RiskViolation | None:
        if self._not_ready:
            return RiskViolation(self._not_ready_rule, self._not_ready)
        guard = self.send_guard
        return guard(broker) if guard is not None else None

    def _refusal_said(self, broker: str) -> str | None:
        """`Broker.send_guard`: `_refusal` in words, asked by the broker right before
        the venue gets an order (after its journal writes, which may have waited), and
        HALTED: a market buy held in its journal write by a stalled Redis as the kill
        switch was pulled went out after it and filled (a review)."""
        if self.gate.state is TradingState.HALTED:
            return "trading is HALTED (kill switch): nothing more goes to the venues"
        refusal = self._refusal(broker)
        return refusal.message if refusal is not None else None

    def _refuse_send(self, broker: str, client_order_id: str) -> None:
        """Raise `RiskRejected` when nothing may go to `broker` now. Called right before
        the order or change is handed to it, with no await between: whatever held this
        desk (its loop blocked, its process stopped) past its claim's lapse is seen
        here, whether or not the claims' keeper has run since. A pause after this point
        in the broker's journal writes is seen by the broker, which asks again before
        the venue gets it (`Broker.send_guard`, `_refusal_said`); one in the socket
        write itself only a fencing token the venue checked would close."""
        refusal = self._refusal(broker)
        if refusal is None:
            return
        log.warning(
            "engine.send_refused",
            extra={"client_order_id": client_order_id, "rule": refusal.rule},
        )
        raise RiskRejected([refusal])

    async def submit(self, request: OrderRequest) -> str:
        """Risk-check and send. Raises `RiskRejected` (published as a risk event;
        `DuplicateOrderId` when the id was used before) or the broker's typed error;
        returns the client order id. `StaleOrderId`: an id of our format minted no
        later than the ids a restart's snapshot stopped listing (see `id_bound`)."""
        refusal = self._refusal(request.broker)
        if refusal is not None:
            raise RiskRejected([refusal])
        broker = self.broker(request.broker)
        cid = request.client_order_id
        try:
            if self.id_used(cid):
                raise DuplicateOrderId(cid)
            minted = self.id_stale(cid)
            if minted is not None:
                assert self.id_floor_ms is not None  # `id_stale` compared with it
                raise StaleOrderId(cid, minted, self.id_floor_ms)
            self._attempted.add(cid)
            if self._honouring:
                self._sent_while_honouring.add(cid)
            self.gate.enforce(request, self)
        except RiskRejected as exc:
            log.warning("engine.order_refused", extra={"client_order_id": cid, "error": str(exc)})
            try:
                await self._publish_risk(
                    RiskAction.REJECT,
                    rule=",".join(v.rule for v in exc.violations),
                    message=str(exc),
                    client_order_id=request.client_order_id,
                )
            except Exception:
                # The trader still gets the rejection (raised below); only its journal
                # line is missing.
                log.exception("engine.risk_reject_not_journaled", extra={"client_order_id": cid})
            raise
        # The claims read again, then handed over with no await between.
        self._refuse_send(broker.name, cid)
        with self.in_flight.track(request) as placing:
            try:
                return await broker.place(request, market_price=self.last_price(request.instrument))
            except Exception as exc:
                placing.refused = not isinstance(exc, BrokerTimeout)  # else it may work
                raise

    def _working(self, client_order_id: str, what: str) -> OrderView:
        """The order a cancel or change is for: `KeyError` when unknown, `OrderFinished`
        when it is finished (nothing is sent for either)."""
        view = self.oms.get(client_order_id)
        if view is None:
            raise KeyError(f"unknown order {client_order_id}")
        status = view.order.status
        if status in TERMINAL_STATUSES:
            raise OrderFinished(client_order_id, status, what)
        return view

    async def cancel(self, client_order_id: str) -> None:
        view = self._working(client_order_id, "cancel")
        await self.broker(view.broker).cancel(client_order_id)

    async def modify(
        self,
        client_order_id: str,
        *,
        quantity: Decimal | None = None,
        limit_price: Decimal | None = None,
        stop_price: Decimal | None = None,
    ) -> None:
        """Changes of one order are checked and sent one at a time: a second change
        asked while the first is on its way is checked once the first is answered, so
        it is checked against the order and the trading state it goes out to (a kill
        switch pulled meanwhile refuses it), never against those of before. Answered is
        not read back: the first change's terms are taken from `changes_in_flight`
        until the OMS has its answer (`ChangesInFlight`)."""
        async with self._modify_turns.turn(client_order_id):
            await self._modify(client_order_id, quantity, limit_price, stop_price)

    async def _modify(
        self,
        client_order_id: str,
        quantity: Decimal | None,
        limit_price: Decimal | None,
        stop_price: Decimal | None,
    ) -> None:
        refusal = self._refusal()
        if refusal is not None:
            # As a new order is: starting, the broker's claim lapsed (another desk may
            # trade the account now), or this desk stopped (what it shows is frozen).
            # A cancel still goes.
            raise RiskRejected([refusal])
        view = self._working(client_order_id, "modify")
        if view.order.status is OrderStatus.PENDING_NEW:
            raise OrderUnacknowledged(client_order_id)
        # Judged from the terms the order may work at, the changes sent before this one
        # and not read back yet among them: judged from the OMS's (old) terms, a price
        # change sent right after a quantity change passed max_notional with it.
        violations = modify_violations(
            lambda changed: self.gate.check(changed, self),
            view.order,
            quantity=quantity,
            limit_price=limit_price,
            stop_price=stop_price,
            standing=self.changes_in_flight.standing(view.order),
        )
        caps = self.capabilities(view.broker)
        if caps is not None and caps.modify is ModifyStyle.NONE:
            violations.append(
                RiskViolation(
                    "supported",
                    f"{view.broker} cannot change a working order: cancel it and send a new one",
                )
            )
        if violations:
            raise RiskRejected(violations)
        # The claims read again, then handed over with no await between. Only the
        # fields given go: the venue keeps the others as it holds them.
        self._refuse_send(view.broker, client_order_id)
        with self.changes_in_flight.track(
            view.order, quantity=quantity, limit_price=limit_price, stop_price=stop_price
        ):
            await self.broker(view.broker).modify(
                client_order_id, quantity=quantity, limit_price=limit_price, stop_price=stop_price
            )

    async def cancel_all(
        self, broker: str | None = None, instrument: str | None = None
    ) -> CancelReport:
        """Cancel every working order (of one broker / instrument), retrying refused
        cancels; the report names every order still working and why."""
        targets = [self.broker(broker)] if broker else list(self.brokers.values())
        places = self.in_flight.now(broker=broker, instrument=instrument)
        report = await cancel_everywhere(
            targets, self.oms, instrument=instrument, delays=self.retry_delays
        )
        report = await cancel_when_answered(
            places, report, self.broker, reason="cancel all", delays=self.retry_delays
        )
        report = await self._settle_gone(report)
        log.info(
            "engine.cancel_all",
            extra={"cancelled": len(report.cancelled), "still_working": report.still_working},
        )
        return report

    async def kill(self, reason: str = "kill switch") -> KillReport:
        """HALT trading and cancel every working order on every broker.

        HALTED is set in memory first and holds whatever fails next. The KILL is
        journaled while the cancels go out (a bus that refuses it delays no cancel),
        and retried like a refused cancel.
        """
        self.gate.state = TradingState.HALTED
        self._hold_halted = True
        self._kill_written = ""
        places = self.in_flight.now()  # passed the gate before HALTED: cancelled once taken
        (journal_error, kept), cancels = await asyncio.gather(
            self._journal_kill(reason),
            cancel_everywhere(
                self.brokers.values(), self.oms, delays=self.retry_delays, reason=reason
            ),
        )
        cancels = await cancel_when_answered(
            places, cancels, self.broker, reason=reason, delays=self.retry_delays
        )
        cancels = await self._settle_gone(cancels)
        late = ""
        if journal_error and kept:
            # The report says what is true as it is made: a KILL the bus kept in memory
            # may have been written since (Redis answered while the cancels settled).
            journal_error, late = await self._still_kept(journal_error, "kill", kept)
        if journal_error:
            self._unhold_on_watcher()
        cancels = self._owe_kill(cancels, self._kill_written)
        report = KillReport(cancels, journal_error, journaled_late=late)
        if report.ok:
            log.warning("engine.kill", extra={"cancelled": len(report.cancelled)})
        else:
            log.error("engine.kill_incomplete", extra={"summary": report.summary()})
        return report

    def _saw_kill(self, entry_id: str | None) -> None:
        """A KILL's risk entry, written or read (`kill_entry`: the newest)."""
        if entry_id and (not self.kill_entry or entry_after(entry_id, self.kill_entry)):
            self.kill_entry = entry_id

    def _owe_kill(self, cancels: CancelReport, entry: str) -> CancelReport:
        """The orders a kill switch's cancels left working, per broker (`kill_owed`),
        owed to the KILL journaled at `entry` ("" never journaled). Returns `cancels` as
        said now that they are owed (`kept_by_kill`: a cancel refused unsent while its
        broker was away said "nothing is kept to send later", and the kill makes it
        once that broker is back)."""
        owed = [view for cid in cancels.still_working if (view := self.oms.get(cid))]
        if not owed:
            return cancels
        self.kill_owed_entry = entry  # (an older KILL's entry stood for this one's)
        for view in owed:
            self.kill_owed.setdefault(view.broker, set()).add(view.client_order_id)
        sources = {
            view.client_order_id: self.brokers[view.broker].source
            for view in owed
            if view.broker in self.brokers
        }
        return kept_by_kill(cancels, sources)

    def kill_still_owed(self) -> dict[str, tuple[str, ...]]:
        """Per broker, the orders a kill switch's cancels still owe (`kill_owed`) that
        are still working, while trading is HALTED (a resume leaves them to the trader):
        what the last-run record carries to the next start (`RunRecorder`). Empty when
        their KILL was never journaled (`kill_owed_entry`: `state_unwritten` carries that
        KILL, and the start that writes it makes every cancel)."""
        if self.gate.state is not TradingState.HALTED or not self.kill_owed_entry:
            return {}
        owed = {broker: tuple(self._still_working(cids)) for broker, cids in self.kill_owed.items()}
        return {broker: cids for broker, cids in owed.items() if cids}

    def _still_working(self, cids: Iterable[str]) -> list[str]:
        """Those of `cids` the OMS holds not ended, sorted."""
        return sorted(
            cid
            for cid in cids
            if (view := self.oms.get(cid)) is not None and not view.order.status.is_terminal
        )

    async def cancel_kill_owed(self, broker: str) -> CancelReport | None:
        """Once `broker` is back (reconnected, reconciled: the session), cancel the
        orders a kill switch left working on it, while trading is still HALTED, and say
        so in the Log as a kill's follow-up (a toast: confirmed, or still working). A
        kill switch pulled while TWS was down left its order working when TWS came back,
        HALTED, the kill's "start TWS" toast standing and nothing tried again (a trader's
        review). None when nothing is owed, or trading is no longer HALTED (a resume
        lifted the kill: what it left is the trader's again).

        Kept while the broker cannot carry a cancel, and made once it can
        (`_make_kill_owed_when_sendable`): announced back and away again before this ran
        (Binance's REST flapping right after its return, the announced reconcile's own
        503), nothing announced it again and the orders worked on, HALTED. What its
        cancels leave working is owed again beside what a kill pulled meanwhile owes
        (written over it, an order only that kill left working was never cancelled).
        With Redis out of reach the session makes them before its reconcile, which then
        waits for this desk's own events (`recovery.journal_read_back`)."""
        owed = self.kill_owed.pop(broker, set())
        if self.gate.state is not TradingState.HALTED:
            self.kill_owed.clear()
            return None
        working = self._still_working(owed)
        adapter = self.brokers.get(broker)
        if not working or adapter is None:
            return None
        if not adapter.sendable(cancel=True):
            # Announced while it still cannot carry a cancel (a reconcile asked for
            # during an outage: Binance's given-up asks, reports the bus kept; back and
            # away again at once): kept, and made once it can. Tried, each cancel was
            # refused unsent, and the Log said "binance/main is back: 2 order(s) it had
            # left working still work" of a broker still away.
            self._owe_kill_again(broker, working)
            log.info(
                "engine.kill_owed_kept",
                extra={"broker": adapter.source, "orders": working, "state": adapter.state},
            )
            self._make_kill_owed_when_sendable(broker, adapter)
            return None
        reason = "kill switch (its cancels owed: the venue is back)"
        report = await cancel_ids(adapter, working, delays=self.retry_delays, reason=reason)
        if report.still_working and self.gate.state is TradingState.HALTED:
            self._owe_kill_again(broker, report.still_working)  # the next time it is back
            if not adapter.sendable(cancel=True):
                self._make_kill_owed_when_sendable(broker, adapter)
        await say_follow_up(adapter, report, "kill switch")
        return report

    def _owe_kill_again(self, broker: str, cids: Iterable[str]) -> None:
        """`cids` owed to the kill again, beside what a kill pulled while they were out
        of `kill_owed` owes (`cancel_kill_owed` awaits with them held)."""
        self.kill_owed.setdefault(broker, set()).update(cids)

    def _make_kill_owed_when_sendable(self, broker: str, adapter: Broker) -> None:
        """Make `broker`'s kill cancels kept while it could not carry one once it can
        (`_kill_owed_when_sendable`), one wait a broker; a task of the broker's (ended
        with it)."""
        self._wait_sendable(
            self._kill_owed_waits,
            adapter,
            self._kill_owed_when_sendable(broker, adapter),
            "kill-owed",
        )

    def _wait_sendable(
        self,
        waits: dict[str, asyncio.Task[None]],
        adapter: Broker,
        wait: Coroutine[Any, Any, None],
        name: str,
    ) -> None:
        """Run `wait` as `adapter`'s task (ended with it), one in `waits` a broker: while
        one runs, it goes on (this call maybe its own) and `wait` is dropped."""
        running = waits.get(adapter.name)
        if running is not None and not running.done():
            wait.close()
            return
        waits[adapter.name] = adapter.in_background(wait, f"{name}:{adapter.source}")

    async def _kill_owed_when_sendable(self, broker: str, adapter: Broker) -> None:
        """While trading is HALTED and `broker` is owed a kill's cancels, look at it
        every `KILL_OWED_LOOK_S`; once it has carried cancels for `KILL_OWED_SETTLE_S`
        (its own announce, reconcile first, comes within it when it makes one), make
        them (`cancel_kill_owed`). Waits on while they are kept again (away again);
        ends once they were tried on a broker that carries cancels (what its venue
        refused waits for its next return) or nothing is owed. No reconcile: a link
        that flaps with nothing owed costs nothing."""
        await self._once_sendable(
            adapter,
            lambda: bool(self.kill_owed.get(broker)) and self.gate.state is TradingState.HALTED,
            lambda: self.cancel_kill_owed(broker),
            at_once=False,
            done_when_sendable=True,
            said="engine.kill_owed_sendable",
        )

    async def _once_sendable(
        self,
        adapter: Broker,
        owed: Callable[[], bool],
        make: Callable[[], Awaitable[Any]],
        *,
        at_once: bool,
        done_when_sendable: bool,
        said: str = "",
        away: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        """While `owed()`, look at `adapter` every `KILL_OWED_LOOK_S` and, once it has
        carried cancels for `KILL_OWED_SETTLE_S`, `make` them (`at_once`: looked at
        first with no wait, taken as settled when it can carry one now). After `make`,
        it ends while the broker carries cancels when `done_when_sendable` (what its
        venue refused waits for its next return), else goes on while `owed()`. `away`:
        awaited each time a look finds the broker unable to carry a cancel where the
        look before found it able (the first look too). The kill switch's kept cancels
        and those lost when the desk stopped share it."""
        loop = asyncio.get_running_loop()
        since: float | None = loop.time() - KILL_OWED_SETTLE_S if at_once else None
        look = not at_once
        could = True
        while owed():
            if look:
                await asyncio.sleep(KILL_OWED_LOOK_S)
            look = True
            if not adapter.sendable(cancel=True):
                since = None
                if could and away is not None:
                    await away()
                could = False
                continue
            could = True
            now = loop.time()
            if since is None:
                since = now
            if now - since < KILL_OWED_SETTLE_S:
                continue
            since = None
            if said:
                log.info(said, extra={"broker": adapter.source})
            await make()
            if done_when_sendable and adapter.sendable(cancel=True):
                return

    def owe_lost_cancels(self, broker: str, cancels: dict[str, str]) -> None:
        """Make again the cancels of `broker`'s orders lost when the desk stopped
        (`recovery.lost_requests`: each order's last journaled request, its venue still
        works it; `cancels` holds what each is said as, `recovery.lost_cancel_said`): in
        the background, as the broker's task (ended with it), at once while it can carry
        a cancel, else once it has for `KILL_OWED_SETTLE_S`, as a kill switch's kept cancels are
        (`_kill_owed_when_sendable`). A cancel only takes exposure away, and the
        trader's last word on the order was "cancel"."""
        adapter = self.brokers.get(broker)
        if adapter is None or not cancels:
            return
        self.lost_cancels.setdefault(broker, {}).update(cancels)
        self._wait_sendable(  # (one running makes these too)
            self._lost_cancel_waits,
            adapter,
            self._lost_cancels_when_sendable(broker, adapter),
            "lost-cancels",
        )

    async def _lost_cancels_when_sendable(self, broker: str, adapter: Broker) -> None:
        """While `broker` is owed lost cancels (`lost_cancels`), make them
        (`cancel_lost`) as soon as it can carry a cancel; after it could not, once it
        has for `KILL_OWED_SETTLE_S` (looked at every `KILL_OWED_LOOK_S`)."""
        await self._once_sendable(
            adapter,
            lambda: bool(self.lost_cancels.get(broker)),
            lambda: self.cancel_lost(broker),
            at_once=True,
            done_when_sendable=False,
            away=lambda: self._keep_lost(broker, adapter),
        )

    async def _keep_lost(self, broker: str, adapter: Broker) -> None:
        """The lost cancels `broker` cannot carry now (away again after its reconcile,
        or as they were made): each said once in a WARNING Log line, and its intent
        journaled again (the cancel request, PENDING_CANCEL) where the order does not
        read PENDING_CANCEL already, so that a desk stopped before the broker is back
        finds it unanswered at its next start and makes it then
        (`recovery.unanswered_requests`). Kept in memory alone, nothing said it, and a
        restart meanwhile started with the order NEW: the cancel was never made
        (review rl)."""
        for cid, said in list(self.lost_cancels.get(broker, {}).items()):
            view = self.oms.get(cid)
            if view is None or not self._shown_working(cid):
                continue
            if cid not in self._lost_kept_said:
                self._lost_kept_said.add(cid)
                line = (
                    f"{said}: it is made once {adapter.source} can carry a cancel again "
                    "(it reads PENDING_CANCEL until then)"
                )
                log.warning(
                    "engine.lost_cancel_kept", extra={"broker": adapter.source, "said": line}
                )
                await self.log_line(LogLevel.WARNING, line)
            if view.order.status is OrderStatus.PENDING_CANCEL:
                continue
            try:
                await adapter.journal_cancel(cid, LOST_CANCEL_REASON)
            except Exception:
                log.exception(
                    "engine.lost_cancel_not_journaled",
                    extra={"broker": adapter.source, "client_order_id": cid},
                )

    async def cancel_lost(self, broker: str) -> CancelReport | None:
        """Cancel again the orders of `broker` whose cancel was lost when the desk
        stopped (`lost_cancels`), each said first in the Log (a WARNING naming the
        order: "cancel of ab12cd34 lost when the desk stopped (the venue still works it
        NEW): sent again"), each journaled as any cancel (the request, PENDING_CANCEL,
        the venue's answer). One still working after the retries is an ERROR line (a
        toast) saying why; refused because the broker went away again, it is kept and
        made once the broker carries cancels again. None when nothing is owed or still
        working (an order that ended meanwhile, filled: nothing is sent)."""
        lost = self.lost_cancels.pop(broker, {})
        adapter = self.brokers.get(broker)
        working = {cid: said for cid, said in lost.items() if self._shown_working(cid)}
        if not working or adapter is None:
            return None
        for said in working.values():
            said = f"{said}: sent again"
            log.warning("engine.lost_cancel", extra={"broker": adapter.source, "said": said})
            await self.log_line(LogLevel.WARNING, said)
        report = await cancel_ids(
            adapter, list(working), delays=self.retry_delays, reason=LOST_CANCEL_REASON
        )
        away = not adapter.sendable(cancel=True)
        for cid, why in report.still_working.items():
            if away:
                self.lost_cancels.setdefault(broker, {})[cid] = working[cid]
            then = (
                f"it is made again once {adapter.source} is back"
                if away
                else "cancel it again, or at the venue"
            )
            said = (
                f"cancel of {short_id(cid)} made again after the desk stopped did not go "
                f"through ({why}): the venue may still work it; {then}"
            )
            log.error("engine.lost_cancel_failed", extra={"broker": adapter.source, "said": said})
            await self.log_line(LogLevel.ERROR, said)
        return report

    async def log_line(self, level: LogLevel, message: str) -> None:
        """`message` as the engine's Log line on the bus (an ERROR is a toast on the
        desk); one the bus refuses is in the log file only."""
        try:
            await self.bus.publish(
                LogEvent.create(ENGINE_SOURCE, Log(level=level, message=message))
            )
        except Exception:
            log.exception("engine.line_not_logged", extra={"said": message})

    async def honour_kill(self, *, say: bool = True, reason: str = "") -> KillReport | None:
        """Act on a KILL another desk journaled (`kill_from_elsewhere`), right after it
        was applied (trading is HALTED by it): cancel every working order of this desk's
        brokers, as `kill` does, and say what it did in the log (`say`; False: the
        caller says it). None when there is none to act on. A RESUME journaled after the
        KILL lifts HALTED here as it does there; its cancels are made all the same (the
        kill switch asked every desk for them) and the line says the state is lifted.
        `reason`: a KILL the session's start found standing that this desk never read,
        pulled while it was down (`Session._state_while_down`), acted on the same way;
        `kill_from_elsewhere` is then left to its own call."""
        if not reason:
            reason = self.kill_from_elsewhere
            if not reason:
                return None
            self.kill_from_elsewhere = ""
        places = self.in_flight.now()  # sent before the KILL was read: it takes them too
        self._honouring += 1
        try:
            cancels = await cancel_everywhere(
                self.brokers.values(),
                self.oms,
                delays=self.retry_delays,
                reason=reason,
                exclude=self._sent_while_honouring,
                account_wide=False,  # what is sent here meanwhile must stay
            )
            cancels = await cancel_when_answered(
                places, cancels, self.broker, reason=reason, delays=self.retry_delays
            )
        finally:
            self._honouring -= 1
            if not self._honouring:
                self._sent_while_honouring.clear()
        cancels = await self._settle_gone(cancels)
        cancels = self._owe_kill(cancels, self.kill_entry)  # (the KILL read: the newest)
        report = KillReport(cancels)
        state = self.gate.state
        what = report.summary()
        if state is not TradingState.HALTED:
            # Read in one batch with a RESUME after it: "Trading HALTED" under ACTIVE
            # read as cancels with no reason.
            what = (
                f"lifted since (trading is {state}); the orders it asked to cancel were "
                f"cancelled all the same: {report.cancels.summary()}"
            )
        log.warning("engine.kill_from_elsewhere", extra={"summary": what})
        if say:
            await self._say_honoured(
                f"after a kill switch on another desk ({reason}): {what}", report.ok
            )
        return report

    async def _settle_gone(self, report: CancelReport) -> CancelReport:
        """Orders the venue no longer lists after a cancel all (`CancelReport.gone`) that
        the OMS still holds working: an adapter need not follow an order adopted on
        reconcile (placed by another program or desk; IB's global cancel takes it too;
        only IB's follows them, and those of other client ids by polling), so its broker
        is reconciled and the venue's word ends it on screen. A reconcile that fails is
        retried; one that never worked is in the report's problems (the desk would show
        them working, the report having called them ended). This desk's own events of
        the account are read back first (`recovery.journal_read_back`: waited for while
        Redis has not taken them): an order they end needs no reconcile, and one run
        before them journaled the venue's fill again as MISSED_FILL."""
        from .recovery import JournalBehind, journal_read_back, reconcile_broker

        held: dict[str, list[str]] = {}
        for cid in report.gone:
            if self._shown_working(cid):
                held.setdefault(self.oms.orders[cid].broker, []).append(cid)
        problems: list[str] = []
        for name, cids in sorted(held.items()):
            # This desk's own events of the account first (the venue's reports of these
            # very orders, kept in its bus's memory while Redis was out of reach): they
            # may end them on screen, and a reconcile before they are read compares the
            # venue with a journal that lacks them (a fill journaled again as missed).
            try:
                await journal_read_back(self, self.broker(name))
            except JournalBehind as exc:
                problems.append(self._not_reconciled(name, cids, exc))
                continue
            except Exception as exc:  # (its read: the reconcile reads again, retried)
                log.warning(
                    "engine.read_back_before_reconcile_failed",
                    extra={"broker": name, "error": f"{type(exc).__name__}: {exc}"},
                )
            cids = [cid for cid in cids if self._shown_working(cid)]
            if not cids:
                continue  # the journal, read back, ends them
            error = ""
            for delay in (0.0, *self.retry_delays):
                if delay:
                    await asyncio.sleep(delay)
                try:
                    await reconcile_broker(self, self.broker(name))
                except JournalBehind as exc:  # (waited for already: not again)
                    problems.append(self._not_reconciled(name, cids, exc))
                    error = ""
                    break
                except Exception as exc:
                    error = f"{type(exc).__name__}: {exc}"
                    log.warning(
                        "engine.reconcile_after_cancel_failed",
                        extra={"broker": name, "error": error},
                    )
                else:
                    error = ""
                    break
            if error:
                problems.append(
                    f"{self.broker(name).source}: {', '.join(cids)} no longer at the venue "
                    f"still show working here: its orders could not be read ({error}); "
                    "check them at the venue"
                )
        if not problems:
            return report
        return dataclasses.replace(report, problems=(*report.problems, *problems))

    async def _still_kept(self, error: str, key: str, kept: str) -> tuple[str, str]:
        """`error`, the stricter state `kept` (its event id) the bus kept in memory (the
        kill switch's KILL, REDUCE ONLY; `key` names it in the log file), as it stands
        now, and when Redis took it: ("", its time, UTC) once Redis has (read back by
        the engine, or found in the risk stream). A KILL's is said by its report
        (`KillReport.journaled_late`): its toast, and its journaled line in every
        desk's Log (`commands.journal_report`; a line of the engine's own as well said
        it twice there). The report was made after the cancels settled, which waited
        for Redis: it said "KILL NOT JOURNALED ... waits in this desk's memory" 17 ms
        after the KILL was journaled, a watching desk already HALTED."""
        try:
            entry = self._kept_read.get(kept) or await self._journaled_since(kept)
        finally:
            self._kept_watch.discard(kept)
            self._kept_read.pop(kept, None)
        if not entry:
            return error, ""
        if key == "kill":
            self._kill_written = entry
        unwritten = self.state_unwritten
        if unwritten is not None and unwritten.event_id == kept:
            self.state_unwritten = None  # written after all (the engine reads it back)
        at = utc_time(parse_id(entry)[0] * 1_000_000)
        log.warning(f"engine.{key}_journaled_late", extra={"entry": entry, "at": at})
        return "", at

    async def _journaled_since(self, event_id: str) -> str:
        """The risk stream entry the KILL (state) `event_id`, kept in the bus's memory, was
        written at, read after the last risk entry the engine applied; "" while Redis
        is out of reach or does not answer within `KILL_LOOK_S` (it waits, as far as
        this desk can tell), or it is not there."""
        if not self.bus.stats.connected:
            return ""
        risk = self._risk_stream
        entries = self.bus.replay(risk, after=self.applied.get(risk, "0-0"))
        try:
            async with asyncio.timeout(KILL_LOOK_S):
                async for entry in entries:
                    event = entry.event
                    if isinstance(event, RiskEvent) and event.event_id == event_id:
                        return entry.id
        except Exception as exc:  # (TimeoutError, BusError: it is said as still waiting)
            log.warning(
                "engine.kill_entry_not_read",
                extra={"error": f"{type(exc).__name__}: {exc}"},
            )
        finally:
            close = getattr(entries, "aclose", None)
            if close is not None:
                await close()
        return ""

    def _not_reconciled(self, broker: str, cids: Sequence[str], why: Exception) -> str:
        """The report's problem for orders no longer at the venue that still show
        working, their broker not reconciled for this desk's own events still waiting
        (`recovery.JournalBehind`)."""
        return (
            f"{self.broker(broker).source}: {', '.join(cids)} no longer at the venue still "
            f"show working here: not reconciled ({why}); they show as the journal has "
            "them once Redis takes this desk's events: check them at the venue"
        )

    def _shown_working(self, cid: str) -> bool:
        """Whether the OMS holds `cid` not ended."""
        view = self.oms.get(cid)
        return view is not None and view.order.status not in TERMINAL_STATUSES

    async def _say_honoured(self, what: str, ok: bool) -> None:
        """Journal, as a log line naming this desk, what it did on a state another desk
        set (an ERROR while any order is still working)."""
        level = LogLevel.WARNING if ok else LogLevel.ERROR
        message = f"{self.desk_name}, {what}"
        try:
            await self.bus.publish(
                LogEvent.create(ENGINE_SOURCE, Log(level=level, message=message))
            )
        except Exception:
            log.exception("engine.honoured_not_logged", extra={"what": what})

    async def _journal_kill(self, reason: str) -> tuple[str, str]:
        return await self._journal_stricter(RiskAction.KILL, reason, "KILL", "kill")

    async def _journal_stricter(
        self, action: RiskAction, message: str, what: str, key: str
    ) -> tuple[str, str]:
        """Publish a stricter state (a KILL, REDUCE_ONLY) that already holds here,
        retrying; "" once written, else the last error. One the bus kept in memory
        (Redis unreachable) is not written: no other desk has seen it, and it is said
        so (it is written when Redis is back, not retried here)."""
        error = ""
        for delay in (0.0, *self.retry_delays):
            if delay:
                await asyncio.sleep(delay)
            sent: list[HeldState] = []
            try:
                entry_id = await self._publish_risk(action, message=message, sent=sent)
                if action is RiskAction.KILL:
                    self._saw_kill(entry_id)
                    self._kill_written = entry_id or ""
            except BusUnavailableError as exc:
                error = str(exc)  # it says why and what to do
                log.error(f"engine.{key}_not_journaled", extra={"error": error})
                continue
            except Exception as exc:
                error = f"{type(exc).__name__}: {exc}"
                log.error(f"engine.{key}_not_journaled", extra={"error": error})
                continue
            if entry_id is not None:
                return "", ""
            error = (
                f"Redis is unreachable: the {what} waits in this desk's memory and is "
                "written when Redis is back"
            )
            log.error(f"engine.{key}_buffered", extra={"error": error})
            self.state_unwritten = self._state_sent
            kept = sent[-1].event_id if sent else ""
            if kept:
                self._kept_watch.add(kept)  # (`_still_kept`)
            return error, kept
        self.state_unwritten = self._state_sent
        return error, ""

    async def write_unwritten(self, held: HeldState) -> str | None:
        """Hold and write a stricter state this host's last desk run set and never
        journaled (`last_run.UnwrittenState`), as that run held it: a KILL is this
        desk's own (read back, it is not another desk's to honour; the session makes its
        cancels). The entry id; None when the bus kept it in memory (Redis out of reach
        again: written when it is back, and read back then). A refusal is raised, the
        state still held, unwritten, and carried by the record."""
        self.gate.state = held.state
        event = RiskEvent.create(
            ENGINE_SOURCE,
            Risk(
                action=held.action,
                trading_state=held.state,
                message=f"{held.message}; never journaled by the run that set it (Redis out "
                "of reach): written by its next start",
            ),
        )
        if held.action is RiskAction.KILL:
            self._hold_halted = True
            self._own_kills.add(event.event_id)
            self._last_own_kill = event.event_id
        self.state_unwritten = dataclasses.replace(held, event_id=event.event_id)
        entry = await self.bus.publish(event)
        if held.action is RiskAction.KILL:
            self._saw_kill(entry)
        if entry is not None:
            self.state_unwritten = None
        return entry

    async def resume(self) -> None:
        """Trade again, once the RESUME is journaled: refused by the bus, trading stays
        as it was and the error says so (it went ACTIVE here while the journal, and
        every other desk, still read HALTED, and the trader was told resume failed)."""
        await self._publish_risk(
            RiskAction.RESUME, message="trading resumed", state=TradingState.ACTIVE
        )
        self._hold_halted = False
        self.gate.state = TradingState.ACTIVE
        self.kill_owed.clear()  # what the kill left is the trader's again

    async def set_trading_state(self, state: TradingState) -> CancelReport:
        """Set the state; entering REDUCE_ONLY also cancels what would add to a position
        (`cancel_adding`), and the report says what. A stricter state holds here at once,
        as the kill switch does: its cancels go out beside its journal write, and a write
        the bus refuses is said in the report (it cancelled nothing, and a second try
        was refused as 'already REDUCE_ONLY'). A looser one is taken once journaled."""
        before = self.gate.state
        if state.strictness <= before.strictness:
            await self._publish_risk(
                RiskAction.STATE, message=f"trading state {state}", state=state
            )
            self._hold_halted = False
            self.gate.state = state
            if state is TradingState.REDUCE_ONLY and before is not TradingState.REDUCE_ONLY:
                return await self.cancel_adding("reduce only")  # from HALTED
            return CancelReport()
        self._hold_halted = False
        self.gate.state = state
        (journal_error, kept), report = await asyncio.gather(
            self._journal_stricter(RiskAction.STATE, f"trading state {state}", str(state), "state"),
            self.cancel_adding("reduce only")
            if state is TradingState.REDUCE_ONLY
            else _nothing_cancelled(),
        )
        if journal_error and kept:
            # As the kill switch's report: a state the bus kept in memory may have been
            # written while the cancels settled (it said "not journaled ... waits in
            # this desk's memory" after Redis had taken it).
            journal_error, _ = await self._still_kept(journal_error, "state", kept)
        if journal_error and self.watching:
            self._unhold_on_watcher()
            said = f"{state} not journaled: {journal_error}"
            report = dataclasses.replace(report, problems=(*report.problems, said))
        elif journal_error:
            said = f"{state} holds on this desk; not journaled: {journal_error}"
            report = dataclasses.replace(report, problems=(*report.problems, said))
        return report

    def _unhold_on_watcher(self) -> None:
        """A watching desk's stricter state the journal did not take: it has no broker
        to protect, so it shows the journal's state again (held, it read HALTED for good
        while the desks went on trading, and a resume confirmed over it lifted a state
        the trader never saw)."""
        if self.watching:
            self._hold_halted = False
            self.gate.state = self.projection.journaled_state

    def adds_to_position(self, broker: str, account: str, instrument: str, side: Side) -> bool:
        """Whether an order on `side`, filled, would add to its position
        (`domain.adds_to_position`)."""
        return adds_to_position(self.portfolio.position(broker, account, instrument), side)

    async def cancel_adding(self, reason: str) -> CancelReport:
        """Cancel every working order of this desk's brokers that would add to its
        position (those the venue lists included: one sent a moment ago may not be read
        back yet). REDUCE_ONLY refuses such an order when it is new; one already working
        must not fill either. Orders that reduce stay (a stop and a take-profit of the
        whole position both reduce it). One that adds and is on its way to the venue is
        cancelled once the venue has it, as the kill switch does (its cancel came back
        "unknown" before: it was said gone, and the venue then worked it)."""
        places = {
            cid: placing
            for cid, placing in self.in_flight.now().items()
            if self.adds_to_position(
                placing.request.broker,
                placing.request.account,
                placing.request.instrument,
                placing.request.side,
            )
        }
        reports = await asyncio.gather(
            *(
                cancel_on(
                    broker,
                    self.oms,
                    delays=self.retry_delays,
                    reason=reason,
                    only=functools.partial(self.adds_to_position, broker.name, broker.account),
                    what=ADDING,
                )
                for broker in self.brokers.values()
            )
        )
        total = CancelReport(what=ADDING)
        for report in reports:
            total = total.merged(report)
        total = await cancel_when_answered(
            places, total, self.broker, reason=reason, delays=self.retry_delays
        )
        log.warning(
            "engine.reduce_only_cancels",
            extra={"cancelled": len(total.cancelled), "still_working": total.still_working},
        )
        return total

    def _position_moved(self, broker: str, account: str, instrument: str) -> None:
        """A fill, fill correction or reconcile moved a position: the reduce-only orders
        there are looked at (live only: a replay rebuilds what was, and sends nothing)."""
        if self.replaying:
            return
        adapter = self.brokers.get(broker)
        if adapter is not None and not adapter.capabilities.reduce_only_native:
            self.reduce_only_to_trim.add((broker, account, instrument))
            self.retry_failed_trims(broker)

    def retry_failed_trims(self, broker: str) -> None:
        """What a trim could not cancel at `broker` (unreachable then) is looked at
        again: with its next fill, or once a reconcile with it is done."""
        again = [k for k in self._trim_failed if k[0] == broker]
        self.reduce_only_to_trim.update(again)
        self._trim_failed.difference_update(again)

    async def trim_reduce_only(self) -> CancelReport | None:
        """Cancel the working reduce-only orders a position that moved under them
        (`reduce_only_to_trim`) would now let through zero (`reduce_only_excess`).

        IB and Binance spot take no reduce-only flag: the gate checks the order when it
        is sent, and nothing kept it reduce-only after. A closing order placed with the
        `x` ticket, left working while another order closed the position, opened the
        other side when it filled. What this cancels is journaled as a log line (an
        ERROR when a cancel failed: the order may still add at the venue)."""
        keys, self.reduce_only_to_trim = self.reduce_only_to_trim, set()
        total = CancelReport(what=REDUCE_ONLY_PAST_ZERO)
        for broker, account, instrument in sorted(keys):
            adapter = self.brokers.get(broker)
            if adapter is None:
                continue
            orders = sorted(
                (
                    v
                    for v in self.oms.working(broker, account)
                    if v.order.request.reduce_only
                    and v.order.request.instrument == instrument
                    and v.order.status is not OrderStatus.PENDING_CANCEL
                ),
                key=lambda v: v.created_ns,
            )
            if not orders:
                continue
            # With the fills the venue said and that have not come (`Order.owed_qty`):
            # they are made, the position just does not hold them yet.
            position = self.portfolio.position(broker, account, instrument) + sum(
                (
                    v.order.owed_qty * v.order.request.side.sign
                    for v in self.oms.exposed(broker, account, instrument)
                ),
                Decimal(0),
            )
            excess = reduce_only_excess(position, (v.order for v in orders))
            if not excess:
                continue
            reason = (
                f"reduce-only: the {instrument} position is {plain(position)} now; "
                "filled, the order would take it through zero"
            )
            report = await cancel_ids(
                adapter, excess, delays=self.retry_delays, reason=reason, what=REDUCE_ONLY_PAST_ZERO
            )
            if report.still_working:
                self._trim_failed.add((broker, account, instrument))
            total = total.merged(report)
        if not (total.cancelled or total.gone or total.still_working or total.problems):
            return None
        log.warning("engine.reduce_only_trimmed", extra={"summary": total.summary()})
        await self._say_honoured(total.summary(), total.ok)
        return total

    async def honour_reduce_only(
        self, *, say: bool = True, reason: str = ""
    ) -> CancelReport | None:
        """Act on REDUCE_ONLY set by another desk (or a watching desk) on this bus, right
        after it was applied (`reduce_from_elsewhere`): cancel what would add to a
        position here, as `set_trading_state` does there, and say so in the log (`say`;
        False: the caller says it). None when there is none to act on, or trading is no
        longer REDUCE_ONLY (lifted since: orders that add may go again). `reason`:
        REDUCE ONLY the session's start found standing that this desk never read, set
        while it was down (`Session._state_while_down`), acted on the same way;
        `reduce_from_elsewhere` is then left to its own call."""
        if not reason:
            reason, self.reduce_from_elsewhere = self.reduce_from_elsewhere, ""
        if not reason or self.gate.state is not TradingState.REDUCE_ONLY:
            return None  # (lifted since: orders that add may go again)
        report = await self.cancel_adding(reason)
        if say:
            await self._say_honoured(
                f"after REDUCE ONLY on another desk: {report.summary()}", report.ok
            )
        return report

    def risk_event(
        self,
        action: RiskAction,
        state: TradingState,
        *,
        rule: str = "",
        message: str = "",
        client_order_id: str = "",
    ) -> RiskEvent:
        """A risk event of this desk; one every desk acts on (a state, a kill, a resume)
        says whose it is (`by desk HOST pid N`)."""
        if self.desk_id and action in (RiskAction.STATE, RiskAction.KILL, RiskAction.RESUME):
            message = f"{message} by {self.desk_id}"
        return RiskEvent.create(
            ENGINE_SOURCE,
            Risk(
                action=action,
                trading_state=state,
                rule=rule,
                message=message,
                client_order_id=client_order_id,
            ),
        )

    async def _publish_risk(
        self,
        action: RiskAction,
        *,
        rule: str = "",
        message: str = "",
        client_order_id: str = "",
        state: TradingState | None = None,
        sent: list[HeldState] | None = None,
    ) -> str | None:
        """The risk event's entry id; None when the bus kept it in memory to write when
        Redis is back (`EventBus.publish`). `state`: the trading state it sets, when the
        gate takes it only once it is journaled (a looser one); the gate's by default.
        Refused by the bus, such a state holds nothing on screen (raised); the gate's
        own goes on holding (the kill switch's HALTED, written or not). `sent` is given
        the state this call sent (`_state_sent` is the newest of any call's)."""
        pending = state is not None
        state = state if state is not None else self.gate.state
        event = self.risk_event(
            action, state, rule=rule, message=message, client_order_id=client_order_id
        )
        if action is RiskAction.KILL:
            self._own_kills.add(event.event_id)  # read back: not another desk's
            self._last_own_kill = event.event_id
        holds = action in (RiskAction.STATE, RiskAction.KILL, RiskAction.RESUME)
        if holds:
            seen = getattr(self.bus, "state_seen", None)
            self._state_sent = HeldState(
                event.event_id,
                action,
                state,
                event.payload.message,
                event.ts,
                seen if isinstance(seen, str) else "0-0",
            )
            if sent is not None:
                sent.append(self._state_sent)
        # Written now or not at all: a looser state kept in memory was written whenever
        # Redis came back, loosening every desk then, hours after the trader moved on;
        # a watching desk's state holds nothing here (it has no broker to protect).
        now = holds and (pending or self.watching)
        replaced = self.projection.hold_state(event.event_id, state) if holds else None
        try:
            written = await (self.bus.publish_now(event) if now else self.bus.publish(event))
            if holds and written is not None:
                self.state_unwritten = None  # a state written after it: it stands
            return written
        except Exception as exc:
            if now:
                self.projection.release_state(event.event_id, replaced)
            if now and isinstance(exc, BusUnavailableError):
                raise self._not_journaled(action, state, exc) from None
            raise

    def _not_journaled(
        self, action: RiskAction, state: TradingState, exc: BusUnavailableError
    ) -> BusUnavailableError:
        """What a trading state written now or not at all (`_publish_risk`) says when
        Redis did not take it."""
        what = {RiskAction.RESUME: "the resume", RiskAction.KILL: "the kill switch"}.get(
            action, f"trading state {state}"
        )
        stays = self.projection.journaled_state if self.watching else self.gate.state
        fate = (
            f"{what} may have been journaled (its answer was lost): the desk shows it "
            "if it was; else"
            if exc.maybe_written
            else f"{what} was not journaled and no desk has seen it;"
        )
        return BusUnavailableError(
            f"Redis is unreachable: {fate} trading stays {stays}. Do it again once "
            f"Redis is back (the bus in Health, 6). Redis said: {exc}",
            maybe_written=exc.maybe_written,
        )


async def _nothing_cancelled() -> CancelReport:
    return CancelReport()
