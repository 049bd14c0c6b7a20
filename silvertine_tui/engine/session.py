"""A trading session: config -> bus -> brokers -> engine (OMS, portfolio, risk) -> feed.

Start-up order matters and is the same on every start:
1. the bus starts (a Redis restart with data loss is detected from here on) and the
   desk claims its brokers on it (`claims`: a broker another desk drives refuses the
   start); `open()` does only this, so that the CLI can report an unreachable bus or
   a claimed broker before the UI starts. It notes where the risk stream ends: a kill
   switch another desk pulls from now on is acted on once the brokers are connected,
   though recovery replays it (`TradingEngine.live_risk_after`). On a Redis that may
   have lost claims (it no longer holds the epoch this host's desk last used:
   `_claims_lost_here`) the claims are taken pending, and made outright only once a
   ttl is over (`claims.take_deferred`, first thing in `start`: the banner says how
   long and why);
2. recovery: snapshots and journals are replayed into the engine, yielding to the event
   loop every few hundred entries and counting them in `progress` (the UI draws it);
   orders are refused (`engine.not_ready`) until step 3 is done;
3. brokers connect (each reconciles its own venue state), then the engine reconciles
   its journal against each broker's report and publishes the differences;
4. the engine's reader follows the bus from the last applied entries; the UI reads the
   engine's state and the feed.
Shutdown: optionally cancel working orders (`engine.cancel_on_exit`, unless the trader
chose to leave them: `leave_working_on_close`; what it leaves working is said in
`left_working`), snapshot, close the brokers, release the claims (and trim the risk
stream, write the bus's last health: these three only while Redis answers,
`_RedisAtClose`), then close the bus.
After recovery and with every snapshot the risk stream is kept to its end
(`bus.risk_keep`, see `recovery.trim_risk_stream`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple, TypeVar

from ..brokers import TRADABLE_STATES, Broker, BrokerError, BrokerRegistry
from ..bus import BusEntry, BusError, BusUnavailableError, EventBus, parse_id
from ..bus.base import STATE_PAGE, DataLoss, sets_trading_state, waiting_of
from ..config import EngineConfig, Settings, state_home
from ..domain import ConnectionState, TradingState
from ..domain.clock import utc_time
from ..events import (
    Health,
    HealthEvent,
    Log,
    LogEvent,
    LogLevel,
    Reconcile,
    Risk,
    RiskAction,
    RiskEvent,
)
from .cancels import CancelReport
from .claims import BrokerClaims, ClaimConflict
from .commands import CommandGateway, EngineGateway
from .conflate import latest_quotes
from .core import TradingEngine
from .last_run import STATE_HELD_HERE_ALERT, RunRecorder, Unjournaled, record_path
from .oms import OrderView
from .projection import DeskProjection, FinishedWindow
from .recovery import (
    CARRIED_AFTER_LOSS,
    CARRIED_AFTER_TRIM,
    RecoveryProgress,
    StartPhase,
    carry_trading_state,
    own_events_waiting,
    reconcile_broker,
    recover,
    restate_trading_state,
    trim_risk_stream,
    write_snapshot,
)
from .risk import RiskViolation
from .wiring import open_bus

log = logging.getLogger(__name__)

_T = TypeVar("_T")

FeedEntry = BusEntry

NOT_READY = (
    "the session is starting (journal replay and reconcile): orders are accepted once "
    "the start-up banner is gone"
)


CLAIM_LOST = "claim_lost"
"""The rule that refuses every order once another desk took one of this desk's brokers."""
CLAIM_LAPSED = "claim_lapsed"
"""The rule that refuses orders while this desk cannot renew its claims (`claims`)."""
CLOSE_TASKS_WAIT_S = 5.0
"""How long `Session.close` waits for the tasks it cancelled to end (each ends within
one step, or one Redis answer, the bus's socket timeout). A task that swallowed its
cancel (a broker's close awaiting its own cancelled task under `suppress
(CancelledError)` swallows its caller's cancel too) is named in the log and left: the
close goes on."""
CLOSE_REDIS_STEPS = ("claims release", "risk stream trim", "last bus health")
"""What `Session.close` asks of Redis after its brokers are closed, in that order, each
only while Redis answers (`_RedisAtClose`): none is needed by the next start (a claim
not released lapses within its ttl, and a desk started on this host takes it over at
once; the risk stream is trimmed at every start; another desk ages out a bus health
not written)."""
BROKER_CLOSE_WAIT_S = 30.0
"""How long `Session.close` waits for each broker's close (a claim's loss closes one
on its own task: that one too) before it names it in the log and goes on."""
BUS_RESYNC = "bus_resync"
"""The rule that refuses orders while the desk claims its brokers again and resyncs
after the bus found Redis restarted with data lost (`Session._on_data_loss`)."""
DESK_CLOSING = "desk_closing"
"""The rule that refuses new orders and changes once the desk is closing (`close`): an
order sent while it cancels on exit would stay working at the venue once it is gone."""
CLOSING = "this desk is closing: nothing was sent (its cancels still go)"
DESK_STOPPED = "desk_stopped"
"""The rule that refuses every order once a task the desk trades on has failed (its
engine's reader, its claims' keeper): what it shows would be frozen, its claims
unrenewed."""


RESEEDED_ALERT = "Paper venue re-seeded"
"""The toast's title when Redis lost the journal of a venue that lives in the desk (the
paper simulator) and the desk wrote back what the venue holds."""
RESEED_FAILED_ALERT = "Paper venue not re-seeded"
STATE_WRITTEN_BACK_ALERT = "Trading state written back"
"""The toast's title when another hand's XTRIM or XDEL of the risk stream took the
trading state while the desk ran, and the desk wrote it back."""
KILL_LIFTED_ALERT = "Kill switch pulled and lifted while this desk started"
"""The toast's title when a kill switch another desk pulled while this desk started
was lifted before it was up, and its cancels were made under the state after it."""
KILL_WHILE_DOWN_ALERT = "Kill switch pulled while this desk was down"
"""The toast's title when this desk's start found a KILL its last run never read still
standing, and honoured it (`Session._state_while_down`)."""
KILL_OWED_ALERT = "Kill switch's cancels carried from this desk's last run"
"""The toast's title when this desk's last run was stopped while it still owed a kill
switch's cancels (a venue away: `LastRun.kill_owed`), and its start made them."""
KILL_UNWRITTEN_ALERT = "Kill switch never journaled: carried from this desk's last run"
"""The toast's title when this desk's last run held a kill switch Redis never took (it
stopped before Redis was back), and its start wrote it and made its cancels."""
RECONCILE_RETRY_DELAYS: tuple[float, ...] = (2.0, 5.0, 15.0, 30.0, 60.0)
"""How long after a failed reconcile of a broker the session tries it again by itself
(`Session._retry_reconcile`), one delay after each failure in turn, then the last one
again and again. A reconcile that failed was tried again only at the broker's next
reconnect, which may never come: the desk stayed unreconciled all day while it showed
the broker LIVE. `Session.reconcile_retry_delays` (a test's shorter ones)."""
RECONCILE_RETRY_LOOK_S = 0.5
"""How often a retry that is due looks again whether it may run: no resync running,
its broker tradable and, after a failure of the bus (`JournalBehind`, Redis out of
reach), Redis answering again (`Session._retry_may_run`). It does not try while Redis
is away, nor while a broker says its venue is away (tradable, or for a broker the start
held DISCONNECTED, its links); a held broker with no links of its own cannot say so,
and is tried at each delay (every 60 s at most, at a venue that stays away)."""
RECONCILE_TRIES_SAID = 3
"""A failed reconcile's health counts its tries up to this many, then says `failed (3+
tries)`: the same words each try (a retry a minute at a venue that refuses for good),
so the Log pane, which makes a line of a health event only when its words change, is
not fed one a minute (`Session._reconcile_failed`)."""
RESYNC_RECONCILE = "Redis lost data"
"""What a reconcile of the resync after a data loss is said to come after (`reconcile
after Redis lost data failed: ...`): `Session._resync_after_loss`."""
REDUCE_ONLY_UNWRITTEN_ALERT = "REDUCE ONLY never journaled: carried from this desk's last run"
REDUCE_ONLY_WHILE_DOWN_ALERT = "REDUCE ONLY set while this desk was down"
"""The toast's title when this desk's start found REDUCE ONLY its last run never read
still standing, and honoured it (`Session._state_while_down`)."""


@dataclass(frozen=True, slots=True)
class DownState:
    """A stricter trading state journaled while this desk was down, still the standing
    trading state at its start, that this desk never acted on (`Session._state_while_down`):
    a KILL (HALTED) or REDUCE ONLY."""

    entry: str
    """The risk stream entry that set it (REDUCE ONLY: the oldest of the entries setting
    it since the last other state, `Session._standing_stricter`)."""
    reason: str
    """Its message, naming the desk that set it ("kill switch (UI) by watching desk HOST
    pid N", "trading state REDUCE_ONLY by desk HOST pid N")."""
    at_ns: int
    """When it was set (its event's time)."""
    state: TradingState
    """HALTED (a KILL) or REDUCE_ONLY."""
    unwritten: bool = False
    """This desk's last run set it and Redis never took it; its start wrote it
    (`RunRecorder.carried`)."""
    not_written: str = ""
    """Why the start did not write it (held on this desk alone); "" written."""
    owed: int = 0
    """The orders this desk's last run still owed a KILL's cancels when it stopped
    (`LastRun.kill_owed`: it had read the KILL, its venue away): 0 when it never read
    it (pulled while it was down)."""

    @property
    def kill(self) -> bool:
        return self.state is TradingState.HALTED

    def what(self) -> str:
        """What the start says it was: "a kill switch" or "REDUCE ONLY"."""
        return "a kill switch" if self.kill else "REDUCE ONLY"

    def said(self) -> str:
        """Who set it, when and why, as the start says it: `pulled from watching desk h
        pid 7 at 14:30:01 UTC (kill switch (UI))`, `set from desk h pid 7 at ...
        (trading state REDUCE_ONLY)`. The desk as its message names it
        (`TradingEngine.risk_event`), or "another desk" when it names none (an older
        build's)."""
        what, by, who = self.reason.rpartition(" by ")
        if not by or not who.startswith(("desk ", "watching desk ")):
            what, who = self.reason, "another desk"
        verb, default = ("pulled", "kill switch") if self.kill else ("set", "reduce only")
        return f"{verb} from {who} at {utc_time(self.at_ns)} ({what or default})"


BUS_DESK = "desk"
"""The metric of the bus's health events that names the desk whose bus wrote it: the
token of its claims' `DeskId` (`DeskId.desk`). Every desk on a prefix writes the one
health stream, and the component is `bus` for each: without it, another desk's bus
read as this desk's in Health (docs/architecture.md, Health: bus). An older build's
bus health has none. (The UI reads it by name: ui/model.py.)"""
BUS_DESK_NAME = "desk_name"
"""The same desk as the trader knows it: `desk HOST pid PID` (`TradingEngine.desk_name`)."""
BUS_CLOSED = "closed"
"""Set (True) on the bus health a desk writes as it quits (`Session.close`): its bus
has no heartbeat, and another desk showing its last word would show it for good."""


@dataclass(frozen=True, slots=True)
class ClaimsHealth:
    """This desk's claims on its brokers as the Health pane says them
    (`Session.claims_health`): held, pending (and for how long), lapsed (and why), lost
    (and to whom). No event can carry them: the bus is what a lapse is about."""

    held: tuple[str, ...]
    """Brokers whose claim this desk holds outright."""
    pending: tuple[str, ...] = ()
    """Claimed pending (Redis may have lost claims: `BrokerClaims.deferred`)."""
    pending_left_s: float = 0.0
    pending_why: str = ""
    lapsed: str = ""
    """Why nothing new is sent while no renewal gets through ("" when renewed)."""
    unrenewed_s: float = 0.0
    """Seconds since every claim was last renewed."""
    lost: tuple[tuple[str, str], ...] = ()
    """(broker, why) of each claim another desk took."""
    not_held: tuple[str, ...] = ()
    """Brokers of this desk it holds no claim on, neither pending nor lost."""


@dataclass(slots=True)
class _Unreconciled:
    """A broker whose last reconcile failed, until one succeeds (`Session._reconciled`)."""

    why: str
    """What the reconcile that failed came after: `connect`, `reconnect`, or
    `RESYNC_RECONCILE`."""
    error: str
    """What failed, as the broker's health said it."""
    bus: bool
    """The failure was the bus's (a `BusError`: `JournalBehind`, Redis out of reach for
    the journal's read): the retry waits for Redis to answer again."""
    held: ConnectionState | None = None
    """At the start (`connect`) the session holds the broker DISCONNECTED until it is
    reconciled: the state it read before, put back once a reconcile succeeds."""
    tries: int = 1
    """Reconciles tried and failed since the first failure (a reconnect's included)."""


@dataclass(slots=True, eq=False)
class _Retry:
    """A broker's pending retry of its failed reconcile (`Session._retry_reconcile`):
    one per broker, superseded by any reconcile of it that starts
    (`Session._supersede_retry`)."""

    task: asyncio.Task[None] | None = None
    done: int = 0
    """Tries this retry made (which delay comes next)."""
    attempting: bool = False
    """Its reconcile runs (holding the broker's reconcile lock): not cancelled midway."""
    superseded: bool = False
    """Another reconcile of the broker started while this one ran: it ends after it."""


class Alert(NamedTuple):
    """What the trader must be told that no event on the bus can say (`Session.alerts`).
    `severity` is the toast's: information, warning or error."""

    title: str
    message: str
    severity: str = "error"
    journaled: bool = False
    """Also published as a log event (its line is in the Log pane already)."""


class _RedisAtClose:
    """The Redis work of `Session.close` that no next start needs (`CLOSE_REDIS_STEPS`).

    A quit with Redis not answering (the server stopped: SIGSTOP, a frozen VM, packets
    dropped) waited out the writer's socket timeout (5 s) at each of them in turn: the
    final snapshot, the risk stream's trim (its XINFO), the claims' release, then the
    bus's flush (2 s): 17 s where the docs say about 7. Now a step runs only while the
    bus is up and no earlier step of this close found Redis not answering; the steps
    skipped are said in one log line (`session.close_redis_skipped`). A write that gets
    no answer marks the bus down (the snapshot's, a broker's report): so at most one
    step waits out the socket timeout, and the close ends within about 7 s (that one
    timeout, then the bus's 2 s flush). What matters is not Redis's: the cancels of
    `engine.cancel_on_exit` go to the venues, the last-run record is a file, the final
    snapshot and the brokers' last reports wait in the bus's outage buffer (what it
    leaves unwritten is said: `Session.not_journaled`)."""

    def __init__(self, bus: EventBus) -> None:
        self.bus = bus
        self.gave_up = ""
        """Why a step of this close found Redis not answering ("" while none did)."""
        self.skipped: list[str] = []

    def out(self) -> str:
        """Why nothing more is asked of Redis ("" while it may be)."""
        if self.gave_up:
            return self.gave_up
        stats = self.bus.stats
        if not stats.connected:
            return f"the bus is down ({stats.last_error or 'Redis out of reach'})"
        return ""

    def found(self, error: BaseException) -> None:
        """A step's error: Redis out of reach (`BusUnavailableError`) ends the Redis
        work of this close; a refusal (Redis answered) does not."""
        if isinstance(error, BusUnavailableError) and not self.gave_up:
            self.gave_up = str(error)

    async def step(self, what: str, work: Callable[[], Awaitable[Any]]) -> bool:
        """`work` unless Redis is out (`out`): whether it ran. Its errors are the
        caller's, passed to `found` first."""
        if self.out():
            self.skipped.append(what)
            return False
        try:
            await work()
        except BaseException as exc:
            self.found(exc)
            raise
        return True

    def say_skipped(self) -> None:
        if self.skipped:
            log.warning(
                "session.close_redis_skipped",
                extra={"skipped": self.skipped, "why": self.out()},
            )


def finished_window(config: EngineConfig) -> FinishedWindow:
    return FinishedWindow(
        orders=config.finished_orders_kept,
        minutes=config.finished_orders_minutes,
        histories=config.finished_histories_kept,
    )


class Session:
    def __init__(
        self,
        settings: Settings,
        *,
        bus: EventBus | None = None,
        registry: BrokerRegistry | None = None,
        clock: Callable[[], int] = time.time_ns,
        monotonic: Callable[[], float] | None = None,
    ) -> None:
        """`clock`: the brokers' wall clock; `monotonic`: the risk gate's (its order rate
        window), `time.monotonic` unless a test injects its own."""
        self.settings = settings
        self.bus = bus if bus is not None else open_bus(settings.bus)
        self.registry = registry or BrokerRegistry()
        self.brokers: list[Broker] = self._create_brokers(clock)
        self.engine = TradingEngine(
            self.bus,
            self.brokers,
            settings.risk,
            clock=monotonic,
            window=finished_window(settings.engine),
        )
        self.reconcile_findings: list[Reconcile] = []
        self.started = False  # the bus is open (`open`)
        self.ready = False  # recovered, connected and reconciled (`start`)
        self._health_from = "$"  # the health stream's last id when the bus opened
        # Each broker's market data stream's last id when the bus opened: the Quotes
        # pane starts there (`market_feed_streams`).
        self._market_from: dict[str, str] = {}
        # Where the engine's reader takes market data up from (`_take_connect_marks`).
        self._marks_from: dict[str, str] = {}
        self.progress = RecoveryProgress()
        self._tasks: list[asyncio.Task[None]] = []
        self._events_since_snapshot = 0
        self.claims = BrokerClaims(
            self.bus, [b.name for b in self.brokers], settings.engine.claim_ttl_s
        )
        self.engine.desk_name = f"desk {self.claims.desk.host} pid {self.claims.desk.pid}"
        self.engine.desk_id = self.engine.desk_name
        # Its engine's health names this desk, as its bus's does (`_desk_metrics`):
        # every desk on a prefix publishes component `engine`, and another desk's
        # anomalies are that desk's (`DeskProjection.own_desk`); a desk that watches
        # lists each driving desk's engine (`lists_others`).
        self.engine.anomalies.desk = {
            BUS_DESK: self.claims.desk.desk,
            BUS_DESK_NAME: self.engine.desk_name,
        }
        self.engine.projection.own_desk = self.claims.desk.desk
        self.engine.projection.lists_others = self.watching
        # What its bus holds in memory while Redis is out of reach, and what it wrote
        # from there that the desk has not read back yet, read (never applied) by the
        # panes that say which rows are behind it (`DeskProjection.waiting`).
        bus, projection = self.bus, self.engine.projection
        self.engine.projection.waiting_events = lambda: waiting_of(bus, projection.applied)
        self._claim_lost = ""  # why this desk stopped sending (a claim another desk took)
        self._claim_lapsed = False  # its claims not renewed for the ttl (until they are)
        self._resyncing = ""  # why: Redis lost data, the claims and venues being redone
        # Resyncs under way: the bus runs each loss's listener as its own task, and a
        # second loss during a resync starts another beside it. Orders wait for both.
        self._resyncs = 0
        self._stopped = ""  # why a task the desk trades on failed (`_kept_failed`)
        self._closing = False  # `close` has begun: no new order or change goes
        # Each broker's close, once started (its claim lost: `_on_claim_lost`; or by
        # `close`): on its own task, never on the keeper's, which `close` cancels (a
        # cancel landing in a broker's close could be swallowed: the keeper went on
        # renewing, and `close` waited for it for ever). `close` waits for each, bounded.
        self._broker_closes: dict[str, asyncio.Task[None]] = {}
        self._side_tasks: set[asyncio.Task[Any]] = set()  # `_spawn`
        self._trimming = False  # `_trim_reduce_only` runs
        # A failed reconcile is tried again by itself (`_retry_reconcile`): after each
        # failure the next of these delays (then the last again and again), while the
        # broker is tradable, after a bus failure once Redis answers again.
        self.reconcile_retry_delays: tuple[float, ...] = RECONCILE_RETRY_DELAYS
        self.reconcile_retry_look_s = RECONCILE_RETRY_LOOK_S
        self._unreconciled: dict[str, _Unreconciled] = {}  # by broker name
        self._retries: dict[str, _Retry] = {}  # by broker name: one pending retry each
        # One reconcile of a broker at a time (the start's or a reconnect's, a retry,
        # the resync's after a data loss).
        self._reconciling: dict[str, asyncio.Lock] = {}
        self._reconciler: dict[str, asyncio.Task[Any] | None] = {}  # the task holding it
        self.alerts: list[Alert] = []  # drained by the app into toasts
        # The start found the journal of this host's last desk run lost: the bus reads
        # DEGRADED while it starts (`_bus_live_after_loss_said`).
        self._journal_lost_at_start = False
        # The bus's own counts of what it says of its health itself (data losses found,
        # entries dead-lettered) as the start said the journal lost: changed, the bus
        # has spoken since, and the session does not say LIVE over it.
        self._bus_marks: tuple[int, int] = (0, 0)
        # `close` cancels what works (`engine.cancel_on_exit`) unless the trader chose
        # to leave it (`leave_working_on_close`).
        self._cancel_on_exit = settings.engine.cancel_on_exit
        self.left_working = ""
        """What `close` was to cancel (`engine.cancel_on_exit`) and left working, said
        for the trader ("" when nothing): the CLI says it once the UI is gone."""
        self.not_journaled = ""
        """What `close` could not journal (Redis down: the events waiting in the bus's
        outage buffer went with the process), said for the trader with what to do ("" when
        nothing): the CLI says it once the UI is gone (`cli.EXIT_NOT_JOURNALED`)."""
        # The journal's epoch and trading state, on this host's disk (`last_run`).
        self.last_run = RunRecorder(
            self.engine, record_path(state_home(), self.bus.stats.url, self.bus.layout.prefix)
        )
        # A record that cannot be read or saved: a warning toast (its Log line is there).
        self.last_run.tell = self._last_run_told
        self._refresh_not_ready()  # starting
        # Read by the engine right before each order or change goes to a broker.
        self.engine.send_guard = self._send_guard

    def _create_brokers(self, clock: Callable[[], int]) -> list[Broker]:
        return [
            self.registry.create(cfg, self.bus, clock=clock)
            for cfg in self.settings.enabled_brokers
        ]

    @property
    def watching(self) -> bool:
        """Whether this desk only watches other desks' streams (`engine.watch`)."""
        return False

    def on_new_accounts(self, listener: Callable[[list[tuple[str, str]]], None]) -> None:
        """Call `listener` with the (broker, account) pairs the session takes on after
        its start. A trading session's accounts are its brokers': it never does."""

    @property
    def desk_id(self) -> str:
        """How this desk's risk events name it (`... by desk <host> pid <pid>`)."""
        return self.engine.desk_id

    @property
    def bus_desk(self) -> str:
        """This desk's token on its bus's health events (`BUS_DESK`): its claims'
        `DeskId.desk`, unique to this desk (two desks in one process have one host and
        pid). A watching desk's never shows there: its bus writes no health."""
        return self.claims.desk.desk

    @property
    def projection(self) -> DeskProjection:
        """The desk's read model (the engine's, shared in process)."""
        return self.engine.projection

    def command_gateway(self) -> CommandGateway:
        """Where the desk's actions go: the engine in process; its cancels and changes
        of a broker another desk took are refused naming that desk (the claims)."""
        return EngineGateway(self.engine, claims=self.claims)

    @property
    def not_ready(self) -> str:
        """Why no order may be sent yet ("" once recovered and reconciled)."""
        return self.engine.not_ready

    @property
    def not_ready_rule(self) -> str:
        """The rule `not_ready` refuses orders under (`starting`, `claim_lost`)."""
        return self.engine.not_ready_rule

    @property
    def claims_lapsed(self) -> bool:
        """No new order goes because the claims went unrenewed for their ttl (and none
        was found taken: that is `claim_lost`, said by the broker's health)."""
        return self.engine.not_ready_rule == CLAIM_LAPSED

    @property
    def live(self) -> bool:
        """True if any enabled broker is configured to trade real money."""
        return self.settings.live

    @property
    def bus_url(self) -> str:
        return self.settings.bus.redacted_url()

    def accounts(self) -> list[tuple[str, str]]:
        return [(b.name, b.account) for b in self.brokers]

    def engine_streams(self) -> dict[str, str]:
        """What the engine follows, from its last applied entry; market data from where
        it stood when the bus was opened (`market_feed_streams`): the quotes the brokers
        published as they connected are this run's marks. From `$` (resolved when the
        reader started, after the brokers connected) they were never applied: positions
        had no mark and the price collar judged nothing until each instrument's next
        quote, minutes on a quiet one."""
        layout = self.bus.layout
        streams = {layout.risk: self.engine.applied.get(layout.risk, "0-0")}
        for broker, account in self.accounts():
            stream = layout.exec(broker, account)
            streams[stream] = self.engine.applied.get(stream, "0-0")
            md = layout.md(broker)
            streams[md] = self._marks_from.get(md) or self._market_from.get(md, "$")
        # Health from the session's opening: the brokers' connect states and profiles
        # were published before the reader started, and the projection needs them.
        streams[layout.health] = self._health_from
        return streams

    def feed_streams(self) -> dict[str, str]:
        """What the UI's event log follows: journals, health, signals, risk."""
        layout = self.bus.layout
        streams = {layout.health: "0-0", layout.risk: "0-0", layout.signal: "0-0"}
        for broker, account in self.accounts():
            streams[layout.exec(broker, account)] = "0-0"
        return streams

    async def feed_backlog(self, stream: str, count: int) -> list[BusEntry]:
        """The newest `count` entries of one of the feed's streams, newest first: where
        the UI's log starts. A key Redis refuses to read (one holding another type: the
        feed's reader sets it aside and the bus says so) holds none, and the stream
        there later is read whole. Redis out of reach is waited for, as the feed's
        reader waits for it: started from now instead, the log would miss what the
        outage backlog writes once Redis is back."""
        return await self._once_reachable(
            f"the log's backlog of {stream}", lambda: self.bus.read_last(stream, count), []
        )

    async def stream_end(self, stream: str) -> str:
        """The id a stream's next entry comes after (`$` resolved now); `0-0` when it
        is not there, or its key holds no stream. Redis out of reach is waited for."""
        info = await self._once_reachable(
            f"where {stream} ends", lambda: self.bus.info(stream), None
        )
        return info.last_generated_id if info is not None else "0-0"

    async def _once_reachable(
        self, what: str, read: Callable[[], Awaitable[_T]], refused: _T
    ) -> _T:
        """`read()`, tried again while Redis is out of reach (backing off to 2 s, as the
        bus's readers do); `refused` when Redis refuses it."""
        delay = 0.05
        while True:
            try:
                return await read()
            except BusUnavailableError as exc:
                if delay == 0.05:
                    log.warning("session.bus_awaited", extra={"what": what, "error": str(exc)})
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)
            except BusError as exc:
                log.warning("session.bus_refused", extra={"what": what, "error": str(exc)})
                return refused

    def market_feed_streams(self) -> dict[str, str]:
        """Market data streams of the session's brokers for the Quotes pane, and where
        it starts: where each stream stood when the bus was opened, before the brokers
        connected (`$`, resolved when the feed starts, before `open`). A trading desk's
        quotes come from its brokers as it connects: the older entries are another
        run's; what the brokers published as they connected is this run's (their
        reference prices: the Quotes pane's Chg% is measured from them at once)."""
        return {
            md: self._market_from.get(md, "$")
            for md in (self.bus.layout.md(broker) for broker, _ in self.accounts())
        }

    async def _health_end(self) -> str:
        """Where the engine reads the health stream from: its newest entry when the bus
        is opened. A key there Redis refuses to read (one of another type) does not stop
        the start: health is no journal. It is read from its start (`0-0`): the
        engine's reader sets the key aside and the bus says so (`not_a_stream`: logged,
        the Health pane, a toast), as when it turns up while the desk runs, and it is
        read again once it is a stream."""
        health = self.bus.layout.health
        try:
            newest = await self.bus.read_last(health, 1)
        except BusUnavailableError:
            raise
        except BusError as exc:
            log.error("session.health_unreadable", extra={"stream": health, "error": str(exc)})
            return "0-0"
        return newest[0].id if newest else "0-0"

    async def open(self) -> None:
        """Start the bus and claim the brokers. Raises `BusUnavailableError` when the
        bus cannot be reached, `BrokerClaimedError` when another desk drives one of the
        brokers (the bus is closed again, nothing was written: build a new session)."""
        if self.started:
            return
        # The bus's own health names this desk (its metrics: `BusStats.extra`), from the
        # first event it writes: another desk's bus on the prefix is not this one's.
        self.bus.stats.extra.update(self._desk_metrics())
        await self.bus.start()
        try:
            await self.claims.take(await self._claims_lost_here())
        except BaseException:
            await self.bus.close()
            raise
        keeper = asyncio.create_task(
            self.claims.keep(self._on_claim_lost, self._on_claim_lapse), name="broker-claims"
        )
        try:
            self._health_from = await self._health_end()
            # A KILL another desk journals from now on is news to this desk, though
            # recovery replays it (`_honour_pending`, once the brokers are up).
            risk = await self.bus.info(self.bus.layout.risk)
            self.engine.live_risk_after = risk.last_generated_id if risk is not None else "0-0"
            for broker, _ in self.accounts():
                # As the feed resolves `$` (a stream not there yet, or a key that is
                # not a stream: from its start).
                md = self.bus.layout.md(broker)
                info = await self.bus.info(md)
                self._market_from[md] = info.last_generated_id if info is not None else "0-0"
            try:
                await self._publish_bus_health(
                    ConnectionState.LIVE, f"{self.bus.backend} bus ready"
                )
            except BusUnavailableError:
                raise
            except BusError as exc:  # the health key refused it (`_health_end`): no journal
                log.error("session.bus_health_not_written", extra={"error": str(exc)})
        except BaseException:
            # Let go of what was claimed: the next desk need not wait for the ttl.
            keeper.cancel()
            await asyncio.gather(keeper, return_exceptions=True)
            with contextlib.suppress(BusError):
                await self.claims.release()
            await self.bus.close()
            raise
        self.started = True
        self._keep_task(keeper)
        self.bus.add_data_loss_listener(self._on_data_loss)

    def _last_run_told(
        self, title: str, message: str, journaled: bool, severity: str = "warning"
    ) -> None:
        self.alerts.append(Alert(title, f"{message}.", severity, journaled=journaled))

    async def _claims_lost_here(self) -> str:
        """Why claims on this bus may have been lost a moment ago ("" when nothing says
        so): Redis no longer holds the epoch this host's desk last used there (its
        record, `last_run`). A restart or failover that lost the keys, or a flush, took
        the claim keys with it, and a desk that drove these brokers then may not have
        found out yet (it claims again as soon as its bus does, or its claim lapses):
        a free key is taken pending (`claims`). On the server, that loss looks exactly
        like a prefix's first use; on this host the record tells them apart. (A desk
        on another host, started before the running desk's bus finds the loss, about a
        second, cannot tell: docs/operations.md.) A record that cannot be read cannot
        tell either: the claims are taken pending, erring on the safe side (a ttl's
        wait, on a rare start); `RunRecorder.check` tells the trader."""
        epoch = self.bus.epoch
        if epoch is None:
            return ""
        record = await self.last_run.read()
        if self.last_run.unreadable:
            return (
                "this host's record of its last desk run on this bus could not be read "
                f"({self.last_run.unreadable}), so it cannot tell whether Redis lost the "
                "claims since (a restart, a failover or a flush), and a desk that drove this "
                "broker then may not know yet that its claim went with it"
            )
        if record is None or record.epoch == epoch:
            return ""
        return (
            "Redis no longer holds the journal this host's desk last used on it (a restart, "
            "a failover or a flush lost it), and a desk that drove this broker then may not "
            "know yet that its claim went with it"
        )

    async def start(self) -> None:
        """Open the bus if needed, recover, connect and reconcile; then follow the bus.
        `progress` says how far it is; orders are refused until it is done."""
        if self.ready:
            return
        progress = self.progress
        try:
            await self.open()
            await self._bring_up(progress)
        except Exception as exc:
            progress.phase = StartPhase.FAILED
            progress.error = str(exc) or type(exc).__name__
            progress.replayed.set()
            raise
        progress.phase = StartPhase.READY
        self.ready = True
        self._refresh_not_ready()
        await self._run()
        if self._journal_lost_at_start:
            # Once the engine's reader runs, not before it: a Redis that stalls here
            # held the reader up to the writer's timeout.
            await self._bus_live_after_loss_said()

    async def _bus_live_after_loss_said(self) -> None:
        """The bus LIVE again once the start that found the last run's journal lost is
        done: the loss is said (the Log's ERROR line, the start's alert), and nothing is
        left to do about it. It read DEGRADED for the whole session (a trader's drill:
        every later DEGRADED would look the same).

        Only as the bus itself would say it (`_bus_would_say_live`): not while Redis is
        out of reach (its reconnect says LIVE), nor when the bus has spoken of its own
        health since the start said the loss (a data loss found, execution events
        dead-lettered: its words stand), nor while a resync runs (its end says it); and
        in the bus's own words for what it still sets aside (a key that is no stream, a
        loss whose resync failed: `RedisBus.with_unreadable`), DEGRADED then. A LIVE
        covered them for the session."""
        state = ConnectionState.LIVE
        message = (
            f"{self.bus.backend} bus ready (the journal of this host's last desk run "
            "was found lost at start: said in the Log)"
        )
        if not self._bus_would_say_live():
            log.info("session.bus_live_not_said", extra={"bus": self.bus_url})
            return
        # The bus's own words for what it still sets aside (Redis's; none in memory).
        own_words = getattr(self.bus, "with_unreadable", None)
        if callable(own_words):
            state, message = own_words(state, message)
        try:
            await self._publish_bus_health(state, message)
        except BusError as exc:  # its heartbeat says the bus's state
            log.warning("session.bus_health_not_written", extra={"error": str(exc)})

    def _bus_would_say_live(self) -> bool:
        """Whether the bus leaves its health to the session's word: connected, no
        resync running, and nothing it said of its health itself (a data loss found,
        entries dead-lettered) since the start said the journal lost (`_bus_marks`).
        What it still sets aside it words itself (`RedisBus.with_unreadable`)."""
        stats = self.bus.stats
        if not stats.connected or self._resyncs:
            return False
        return self._bus_marks == (stats.data_loss_detected, stats.dead_lettered)

    async def _bring_up(self, progress: RecoveryProgress) -> None:
        """`start`'s work once the bus is open: claim the brokers left waiting (Redis
        may have lost a claim), recover, then connect and reconcile, then act on what
        another desk's kill switch or REDUCE ONLY asked meanwhile, and on a kill switch
        pulled, or REDUCE ONLY set, while this desk was down that it never acted on
        (`_state_while_down`)."""
        await self._claim_deferred(progress)
        await recover(self.engine, self.accounts(), progress)
        lost = await self.last_run.check()
        self._journal_lost_at_start = bool(lost)
        if lost:
            stats = self.bus.stats
            self._bus_marks = (stats.data_loss_detected, stats.dead_lettered)
            await self._publish_bus_health(
                ConnectionState.DEGRADED, "journal of this host's last desk run lost"
            )
            # (`check` journaled its words as an ERROR Log line: the Log has them)
            self.alerts.append(Alert("Journal lost while no desk ran", f"{lost}.", journaled=True))
        down = await self._state_while_down()
        carried = self.last_run.carried
        if down is None and carried is not None:
            unwritten = carried.state
            down = DownState(
                carried.entry,
                unwritten.message,
                unwritten.at_ms * 1_000_000,
                unwritten.trading_state,
                unwritten=True,
                not_written=carried.why,
            )
        if down is not None and down.entry:
            # Before this start's first record: until its cancels went out, the record
            # says this run read the risk stream only up to before it, so that a desk
            # dying meanwhile (its brokers heard from after it) leaves it to the next
            # start (`RunRecorder.acting`; `_honour_while_down` ends it).
            self.last_run.acting(down.entry)
        await self.last_run.record()
        progress.phase = StartPhase.CONNECTING
        await self._trim_risk()
        for broker in self.brokers:
            broker.on_reconnect(self._reconnect_listener(broker))
            await self._connect(broker)
        await self._take_connect_marks()
        self._honour_pending(starting=True)
        if down is not None:
            self._spawn(self._honour_while_down(down), "engine-honour-while-down")

    async def _state_while_down(self) -> DownState | None:
        """The start's own reading of the trading state (after recovery and the last-run
        check, before the venues connect): the KILL, or REDUCE ONLY, that is the standing
        trading state (`_standing_stricter`: a looser state journaled after a KILL, a
        resume or REDUCE ONLY, lifted it and its cancels are not made; a resume journaled
        after REDUCE ONLY lifted it), when this desk never acted on it: set while it was
        down. Once the brokers are up it is honoured as a running desk honours one it
        reads (`_honour_while_down`: a KILL cancels every working order, REDUCE ONLY
        those that would add to a position). None when there is none, or nothing says
        it went unread:

        - this host's last desk run on this bus had not read it: it is newer than the
          newest entry setting the trading state that run read (`LastRun.state_entry`,
          kept from `RedisBus.state_seen`, and held before a state that run found
          standing until its cancels went out, `RunRecorder.acting`; nothing to tell
          with no record, one of another epoch, or one written before records kept the
          entry); or one of this desk's brokers is still acting on an entry at or
          before it (`LastRun.acting`: the desk driving it found a state set while it
          was down and died, or quit, before its cancels went out; another desk of this
          host, reading the state as it ran, wrote its own `state_entry` since);
        - or the desk driving one of this desk's brokers was not heard from after it
          (`_heard_after`): down when it was journaled (killed, or quit). The record
          is kept per host, bus and prefix, not per desk: another desk on this host,
          running then, read the state into it.

        A state this desk read as it ran is in its record and followed by its
        heartbeats: not honoured twice. One journaled after this desk opened the bus
        (while it was starting) is not this one's: the engine's replay took it as news
        (`TradingEngine.live_risk_after`). Only this live start decides it: the engine's
        replay of the journal (here, a watching desk's, a rebuild) acts on nothing.
        Redis refusing a read leaves the start as the journal gave it (logged)."""
        engine = self.engine
        state = engine.gate.state
        if state not in (TradingState.HALTED, TradingState.REDUCE_ONLY) or engine.gate.held_here:
            return None
        try:
            standing = await self._standing_stricter(state)
            if standing is None:
                return None
            after = engine.live_risk_after
            if after is not None and parse_id(standing.id) > parse_id(after):
                return None  # set while this desk started: `_honour_pending` acts on it
            record = await self.last_run.read()  # as this start found it, before its own
            epoch = self.bus.epoch
            mine = {broker.name for broker in self.brokers}
            unread = (
                record is not None
                and epoch is not None
                and record.epoch == epoch
                and (
                    (
                        record.state_entry is not None
                        and parse_id(standing.id) > parse_id(record.state_entry)
                    )
                    or any(
                        parse_id(entry) <= parse_id(standing.id)
                        for broker, entry in record.acting.items()
                        if broker in mine
                    )
                )
            )
            if not unread and await self._heard_after(standing.id) is not False:
                return None
            owed = 0
            if record is not None and state is TradingState.HALTED:
                owed = sum(
                    len(cids)
                    for broker, cids in record.kill_owed.items()
                    if broker in mine and record.acting.get(broker) == standing.id
                )
        except BusUnavailableError:
            raise
        except BusError as exc:
            log.warning(
                "session.state_while_down_not_read", extra={"error": str(exc), "state": str(state)}
            )
            return None
        event = standing.event
        assert isinstance(event, RiskEvent)  # (`_standing_stricter`)
        default = "kill switch" if state is TradingState.HALTED else "reduce only"
        return DownState(standing.id, event.payload.message or default, event.ts, state, owed=owed)

    async def _standing_stricter(self, state: TradingState) -> BusEntry | None:
        """The entry that set `state`, the trading state recovery replayed (HALTED or
        REDUCE_ONLY), read back from the last risk entry applied:

        - HALTED: the first entry setting a state that is a KILL (a STATE of HALTED
          after it, a desk's carried state, leaves it standing); None when a looser
          state comes first (it was lifted) or none is left;
        - REDUCE_ONLY: the oldest of the entries setting REDUCE_ONLY since the newest
          entry setting another state (a desk's carried or written-back REDUCE_ONLY
          after it leaves it standing: the one that set it is older); the oldest left
          when the stream holds no other (REDUCE ONLY was the first state set on this
          prefix, or what came before it was trimmed)."""
        risk = self.bus.layout.risk
        applied = self.engine.applied.get(risk)
        if applied is None:
            return None
        last = parse_id(applied)
        found: BusEntry | None = None
        before = "+"
        while True:
            entries = await self.bus.read_last(risk, STATE_PAGE, before)
            for entry in entries:  # newest first
                if parse_id(entry.id) > last:
                    continue  # the reader's, read live
                event = entry.event
                if not isinstance(event, RiskEvent) or not sets_trading_state(event):
                    continue
                payload = event.payload
                if state is TradingState.HALTED:
                    if payload.action is RiskAction.KILL:
                        return entry
                    if payload.trading_state is not TradingState.HALTED:
                        return None  # lifted
                elif payload.trading_state is TradingState.REDUCE_ONLY:
                    found = entry  # an older one may have set it
                else:
                    return found  # (None: lifted, or not set by the risk stream)
            if len(entries) < STATE_PAGE:
                return found
            before = entries[-1].id

    async def _heard_after(self, entry: str) -> bool | None:
        """Whether the desk driving each broker of this desk was heard from after the
        risk stream's `entry` and before this desk opened the bus: a health event of
        that broker (its heartbeat, once a second; its DISCONNECTED as its desk quit)
        journaled after it. False when one was not (the desk driving it was down then:
        killed, or quit before); None when the health stream cannot tell (it keeps its
        newest `bus.health_maxlen` entries: trimmed past `entry`). Entry ids of both
        streams are Redis's clock."""
        health = self.bus.layout.health
        info = await self.bus.info(health)
        if info is None or info.first_id is None or parse_id(info.first_id) > parse_id(entry):
            return None
        wanted = set(self.accounts())
        if not wanted:
            return True  # (no broker: nothing was left to it)
        floor = parse_id(entry)
        opened = parse_id(self._health_from) if self._health_from != "$" else None
        before = "+"
        while True:
            entries = await self.bus.read_last(health, STATE_PAGE, before)
            for found in entries:  # newest first
                at = parse_id(found.id)
                if at <= floor:
                    return False
                if opened is not None and at > opened:
                    continue  # this start's own, or written since it opened the bus
                event = found.event
                if isinstance(event, HealthEvent):
                    wanted.discard(event.payload.broker_account or ("", ""))
                    if not wanted:
                        return True
            if len(entries) < STATE_PAGE:
                return None  # trimmed past `entry` meanwhile
            before = entries[-1].id

    async def _honour_while_down(self, down: DownState) -> None:
        """A KILL pulled, or REDUCE ONLY set, while this desk was down
        (`_state_while_down`), once its brokers are up: its cancels are made at the
        venues as a desk reading it live makes them (a KILL: every working order,
        `TradingEngine.honour_kill`; REDUCE ONLY: those that would add to a position,
        `TradingEngine.honour_reduce_only`), and a Log line and a toast say so
        (`RunRecorder.say`, as the start's other state words): a warning, an error while
        any order is still working. A state read meanwhile that lifted it (trading no
        longer in it) cancels nothing; one read while the cancels went leaves them made
        all the same, and said so.

        Then, and only then, the last-run record may say this run read it
        (`RunRecorder.acted`, written at once): a desk that dies before (or quits) leaves
        it to its next start. A honour that fails (logged by `_spawn`), or whose cancels
        left an order working (a venue unreachable or refusing: said in the error toast),
        leaves it there too: the next start asks for the cancels again (the record said
        it read, and the next start, its brokers heard from after it, cancelled
        nothing)."""
        engine = self.engine
        done = True
        if engine.gate.state is not down.state:
            log.info(
                "session.state_while_down_lifted",
                extra={"entry": down.entry, "state": str(down.state)},
            )
        elif down.kill:
            kill = await engine.honour_kill(say=False, reason=down.reason)
            if kill is not None:  # (given a reason, it acts)
                await self._say_while_down(down, kill.cancels, kill.summary())
                # What its cancels left working the engine owes now (`kill_owed`: made
                # when the venue is back), and the record carries from there.
                done = kill.cancels.ok or bool(engine.kill_still_owed())
        else:
            cancels = await engine.honour_reduce_only(say=False, reason=down.reason)
            if cancels is not None:  # (None: lifted before the cancels went)
                await self._say_while_down(
                    down, cancels, f"Trading REDUCE ONLY; {cancels.summary()}"
                )
                done = cancels.ok
        if not done:
            log.warning("session.state_while_down_unfinished", extra={"entry": down.entry})
            return
        self.last_run.acted(down.entry)
        await self.last_run.record()

    async def _say_while_down(self, down: DownState, cancels: CancelReport, what: str) -> None:
        """What `_honour_while_down` did: `what` while the state stands; else that it was
        lifted since and the cancels made all the same, or (REDUCE ONLY) the stricter
        state read since (a KILL: its own line follows)."""
        state = self.engine.gate.state
        if state.strictness < down.state.strictness:  # read while the cancels went
            what = (
                f"lifted since (trading is {state}); the orders it asked to cancel were "
                f"cancelled all the same: {cancels.summary()}"
            )
        elif state is not down.state:
            what = f"trading is {state} since; {cancels.summary()}"
        # Carried from the last run, the outcome comes first: after the why (long), a
        # toast cut it off at both sizes (the Log alone had it).
        if down.unwritten:
            written = (
                f"not written: {down.not_written}"
                if down.not_written
                else ("written to the journal now")
            )
            message = (
                f"{what.rstrip('.')}. {self.desk_id}, after {down.what()} {down.said()}: "
                "this desk's last run held it but never journaled it (Redis was out of reach) "
                f"and stopped before Redis was back; {written}"
            )
        elif down.owed:
            message = (
                f"{what.rstrip('.')}. {self.desk_id}, after {down.what()} {down.said()}: "
                "this desk's last run stopped before its venue was back, still owing the "
                f"cancels of {down.owed} order(s)"
            )
        else:
            message = (
                f"{self.desk_id}, after {down.what()} {down.said()} while this desk was "
                f"down: {what}"
            )
        log.warning(
            "session.state_while_down",
            extra={"entry": down.entry, "state": str(down.state), "said": message},
        )
        level = LogLevel.WARNING if cancels.ok else LogLevel.ERROR
        title = KILL_WHILE_DOWN_ALERT if down.kill else REDUCE_ONLY_WHILE_DOWN_ALERT
        if down.owed:
            title = KILL_OWED_ALERT
        elif down.unwritten:
            title = KILL_UNWRITTEN_ALERT if down.kill else REDUCE_ONLY_UNWRITTEN_ALERT
        # `say`'s toast ends it with a full stop, as the start's other state words do.
        await self.last_run.say(title, message.rstrip("."), level)

    async def _claim_deferred(self, progress: RecoveryProgress) -> None:
        """Claims taken pending on a Redis that may have lost claims (`claims`): made
        outright once the wait is over, before anything is replayed or connected, the
        banner counting down and the log saying why. A desk that drove the brokers
        before the restart takes them back meanwhile (its bus does at once), and this
        start is refused as any start on a claimed broker is."""
        claims = self.claims
        if not claims.deferred:
            return
        progress.phase = StartPhase.CLAIMING
        progress.claim_wait_until = claims.wait_until
        progress.claim_wait_why = claims.wait_why
        names = ", ".join(claims.deferred)
        message = (
            f"{self.desk_id} claims broker(s) {names} pending for {claims.wait_left:.0f} s "
            f"before it connects them: {claims.wait_why}. A desk that still drives them "
            "takes them back meanwhile (this start is then refused), or its own claim "
            "lapses"
        )
        with contextlib.suppress(BusError):
            await self.bus.publish(
                LogEvent.create("engine", Log(message=message, level=LogLevel.WARNING))
            )
        await claims.take_deferred()
        progress.phase = StartPhase.OPENING

    def _honour_pending(self, *, starting: bool = False) -> None:
        """A KILL or REDUCE ONLY another desk journaled, not acted on yet (read live,
        or replayed on start but written after this desk opened the bus): its cancels
        run beside the reader, as the reader starts them. `starting`: replayed while
        this desk started, and a later state (a RESUME) may have lifted the KILL
        already: `_honour_lifted_kill`."""
        engine = self.engine
        if engine.kill_from_elsewhere:
            state = engine.gate.state
            if starting and state is not TradingState.HALTED:
                self._spawn(
                    self._honour_lifted_kill(engine.kill_from_elsewhere, state),
                    "engine-honour-kill",
                )
            else:
                self._spawn(engine.honour_kill(), "engine-honour-kill")
        if engine.reduce_from_elsewhere:
            self._spawn(engine.honour_reduce_only(), "engine-honour-reduce-only")

    async def _honour_lifted_kill(self, reason: str, state: TradingState) -> None:
        """A KILL another desk journaled while this desk started, lifted (a RESUME, or a
        looser state) before this desk was up: its cancels are still made (the kill
        switch asked every desk for them, and the desk that pulled it was told each
        desk cancels its own; a running desk made them as it read the KILL), but the
        trader is told why orders were cancelled under a state that trades: a log line
        and a toast name the kill, what lifted it and the state now. Said only that the
        kill switch halted trading, the cancels looked like ones under ACTIVE with no
        reason."""
        engine = self.engine
        report = await engine.honour_kill(say=False)  # said here, with what lifted it
        if report is None:
            return  # acted on already (the reader read another KILL meanwhile)
        lift = await self._what_lifted_kill(state)
        message = (
            f"{self.desk_id}, after a kill switch on another desk ({reason}) followed by "
            f"{lift}, both while this desk was starting: trading is {state}; the orders "
            f"the kill switch asked to cancel were cancelled all the same: "
            f"{report.cancels.summary()}"
        )
        log.warning(
            "session.kill_lifted_while_starting",
            extra={"kill": reason, "lifted_by": lift, "state": str(state), "said": message},
        )
        severity = "warning" if report.ok else "error"
        self.alerts.append(Alert(KILL_LIFTED_ALERT, message, severity, journaled=True))
        try:
            await self.bus.publish(
                LogEvent.create("engine", Log(message=message, level=LogLevel.WARNING))
            )
        except BusError as exc:  # the toast still says it
            log.error("session.kill_lifted_not_logged", extra={"error": str(exc)})

    async def _what_lifted_kill(self, state: TradingState) -> str:
        """What lifted the last KILL this desk replayed from after it opened the bus:
        the first looser state journaled after it ("a resume (trading resumed by desk
        h pid 7)"); said by the state alone when the risk stream cannot be read."""
        engine = self.engine
        risk = self.bus.layout.risk
        applied = engine.applied.get(risk, "")
        lift: Risk | None = None
        try:
            async for entry in self.bus.replay(risk, after=engine.live_risk_after or "0-0"):
                event = entry.event
                if isinstance(event, RiskEvent):
                    payload = event.payload
                    if payload.action is RiskAction.KILL:
                        lift = None  # what lifted the last one
                    elif (
                        lift is None
                        and payload.action in (RiskAction.RESUME, RiskAction.STATE)
                        and payload.trading_state is not TradingState.HALTED
                    ):
                        lift = payload
                if entry.id == applied:
                    break  # what follows is the reader's, read live
        except BusError as exc:
            log.warning("session.kill_lift_not_read", extra={"error": str(exc)})
            lift = None
        if lift is None:
            return f"a change of the trading state to {state}"
        if lift.action is RiskAction.RESUME:
            return f"a resume ({lift.message})" if lift.message else "a resume"
        said = f" ({lift.message})" if lift.message else ""
        return f"a change of the trading state to {lift.trading_state}{said}"

    async def _take_connect_marks(self) -> None:
        """The quotes the brokers published as they connected, applied before orders
        are taken: the engine's reader starts after `ready`, and an order sent in
        between met no mark (its collar judged nothing). The reader goes on after them
        (`engine_streams`). Redis refusing the read leaves it to the reader."""
        # Market data is written by the bus's queue: the last connect quotes may still
        # be in it (a second at most: Redis out of reach, the reader takes them later).
        with contextlib.suppress(BusError):
            await self.bus.flush(timeout=1.0)
        for md, start in self._market_from.items():
            try:
                entries = [entry async for entry in self.bus.replay(md, after=start)]
            except BusError as exc:
                log.warning("session.marks_not_read", extra={"stream": md, "error": str(exc)})
                continue
            for entry in latest_quotes(entries):
                self.engine.apply_entry_or_skip(entry)
            if entries:
                self._marks_from[md] = entries[-1].id

    async def _run(self) -> None:
        """Once started: follow the bus, snapshot, and say so."""
        self._keep_task(asyncio.create_task(self._follow(), name="engine-reader"))
        self._tasks.append(asyncio.create_task(self._snapshot_timer(), name="engine-snapshots"))
        # Venue positions our fills have not caught up with become mismatches in time.
        self._tasks.append(
            asyncio.create_task(self.engine.watch_positions(), name="engine-positions")
        )
        self._tasks.append(asyncio.create_task(self.last_run.keep(), name="engine-last-run"))
        names = ", ".join(f"{b.name}/{b.account}" for b in self.brokers)
        await self.bus.publish(
            LogEvent.create("engine", Log(message=f"session started; brokers: {names}"))
        )
        log.info("session.started", extra={"bus": self.bus_url, "brokers": names})

    async def _connect(self, broker: Broker) -> None:
        """Connect and reconcile one broker. A broker that cannot connect leaves the
        session running: it shows DISCONNECTED with the reason, and is reconciled when
        it announces its reconnect (`_reconnect_listener`)."""
        if broker.name in self.claims.lost:
            return  # another desk drives it now (lost while this desk was starting)
        try:
            await broker.connect()
        except Exception as exc:
            if isinstance(exc, BrokerError):
                log.error(
                    "session.connect_failed", extra={"broker": broker.source, "error": str(exc)}
                )
            else:
                log.exception("session.connect_failed", extra={"broker": broker.source})
            await broker.set_state(
                ConnectionState.DISCONNECTED,
                f"connect failed: {exc or type(exc).__name__}; retried when the venue is back",
            )
            # The ticket still knows its instruments when the venue lists them offline.
            await self.engine.load_broker_instruments(broker, required=False)
            return
        if broker.name in self.claims.lost:  # lost while it was connecting
            with contextlib.suppress(Exception):
                await broker.close()
            return
        if broker.state not in TRADABLE_STATES:
            # Connect returned with the venue unreachable; the adapter keeps trying and
            # announces its reconnect, which reconciles then.
            log.warning(
                "session.broker_not_connected",
                extra={"broker": broker.source, "state": broker.state},
            )
            await self.engine.load_broker_instruments(broker, required=False)
            return
        await self._reconcile(broker, "connect")

    def _reconnect_listener(self, broker: Broker) -> Callable[[], Awaitable[None]]:
        async def reconnected() -> None:
            if self.engine.kill_owed.get(broker.name) and (
                not self.bus.stats.connected or any(own_events_waiting(self.engine, broker))
            ):
                # Redis out of reach: the reconcile waits for this desk's own events of
                # the account (`recovery.journal_read_back`, up to `journal_wait_s`);
                # a kill switch's cancels do not wait with it.
                await self.engine.cancel_kill_owed(broker.name)
            await self._reconcile(broker, "reconnect")
            # A kill switch's cancels this broker could not take while it was away:
            # made now, trading still HALTED (`TradingEngine.cancel_kill_owed`).
            await self.engine.cancel_kill_owed(broker.name)

        return reconnected

    async def _reconcile(self, broker: Broker, why: str) -> None:
        """Load the broker's instruments (the portfolio places asset fees with them),
        then reconcile the journal against its venue from the last journaled fills.
        At start instruments that cannot be loaded fail the start; after a reconnect
        the ones loaded before stay. A reconcile that fails is logged and shown on the
        broker's health, and tried again by itself (`_retry_reconcile`); this one
        supersedes a retry still pending once its instruments are loaded (a load that
        raised let the retry go, and nothing was tried again while the health said
        "tried again by itself")."""
        await self.engine.load_broker_instruments(broker, required=why == "connect")
        self._supersede_retry(broker)
        await self._reconcile_or_retry(broker, why)

    async def _reconcile_or_retry(self, broker: Broker, why: str) -> None:
        """Reconcile `broker` now (after the one that may run: `_reconcile_once`). A
        failure is said (`_reconcile_failed`) and tried again by itself; a success
        after failures says so (`_reconciled`). Never raises for the reconcile's
        failure: the start, the reconnect's listener and the resync go on."""
        error = await self._reconcile_once(broker)
        if error is None:
            await self._reconciled(broker)
            return
        delay = self._retry_delay(0)
        await self._reconcile_failed(broker, why, error, retry_in=delay, fresh=True)
        running = self._retries.get(broker.name)
        if delay is not None and (running is None or running.task is not asyncio.current_task()):
            # (one retry a broker: another reconcile's, failed meanwhile, is let go; one
            # asked from within a retry's own reconcile leaves it to that retry)
            self._supersede_retry(broker)
            retry = self._retries[broker.name] = _Retry()
            retry.task = self._spawn(
                self._retry_reconcile(broker, retry), f"engine-reconcile-retry:{broker.source}"
            )

    async def _reconcile_once(
        self, broker: Broker, retry: _Retry | None = None
    ) -> Exception | None:
        """One reconcile of `broker`, after any other of it that runs (one at a time);
        what it raised, or None."""
        name, me = broker.name, asyncio.current_task()
        lock = self._reconciling.setdefault(name, asyncio.Lock())
        if lock.locked() and self._reconciler.get(name) is me:
            # Asked from within its own reconcile (an adapter announcing a reconnect
            # as it reconciles): run, not wait for itself.
            return await self._run_reconcile(broker)
        async with lock:
            self._reconciler[name] = me
            if retry is not None:
                retry.attempting = True
            try:
                return await self._run_reconcile(broker)
            finally:
                self._reconciler.pop(name, None)
                if retry is not None:
                    retry.attempting = False

    async def _run_reconcile(self, broker: Broker) -> Exception | None:
        try:
            self.reconcile_findings += await reconcile_broker(self.engine, broker)
        except Exception as exc:
            return exc
        return None

    def _retry_delay(self, done: int) -> float | None:
        """How long after its `done`-th retry (0: the first failure) a failed reconcile
        is tried again; None when it is not (the session closing, no delays set)."""
        delays = self.reconcile_retry_delays
        if not delays or not self._running():
            return None
        return delays[min(done, len(delays) - 1)]

    def _running(self) -> bool:
        """Whether a retry may go on: the bus open, the session not closing, and its
        start not failed (the app keeps a desk whose start failed up, showing "Start-up
        failed", without closing it: a retry reconciled and set the broker LIVE
        there)."""
        return self.started and not self._closing and self.progress.phase is not StartPhase.FAILED

    def _supersede_retry(self, broker: Broker) -> None:
        """A reconcile of `broker` starts: a retry still pending is let go (cancelled
        while it waits; one whose reconcile runs ends after it, and this one waits for
        it: `_reconcile_once`)."""
        retry = self._retries.get(broker.name)
        if retry is None or retry.task is asyncio.current_task():
            return  # (none, or this is it: a reconnect announced within its reconcile)
        del self._retries[broker.name]
        if retry.task is None:
            return
        if retry.attempting:
            retry.superseded = True
        else:
            retry.task.cancel()

    async def _retry_reconcile(self, broker: Broker, retry: _Retry) -> None:
        """Try `broker`'s failed reconcile again, after `reconcile_retry_delays`, until
        one succeeds, the session closes, this desk loses its claim on the broker, or
        another reconcile of it supersedes this (`_supersede_retry`). Each try waits
        for the broker to be tradable, and after a failure of the bus for Redis to
        answer again (`_retry_may_run`)."""
        try:
            while True:
                delay = self._retry_delay(retry.done)
                if delay is None:
                    return
                await asyncio.sleep(delay)
                if not await self._retry_may_run(broker):
                    return
                error = await self._reconcile_once(broker, retry)
                retry.done += 1
                if error is None:
                    await self._reconciled(broker)
                    return
                if retry.superseded:
                    return  # the reconcile that superseded it says how it went
                record = self._unreconciled.get(broker.name)
                why = record.why if record is not None else "reconnect"
                await self._reconcile_failed(
                    broker, why, error, retry_in=self._retry_delay(retry.done), fresh=False
                )
        finally:
            if self._retries.get(broker.name) is retry:
                del self._retries[broker.name]

    async def _retry_may_run(self, broker: Broker) -> bool:
        """Wait until `broker`'s retry may run: no resync after a data loss running
        (`_resyncs`), the broker tradable (or held DISCONNECTED by the session alone,
        its reconcile at the start having failed), and, when the last failure was the
        bus's, the bus connected again. False when it is not to run at all: the
        session closing or its start failed, its claim lost, nothing left to reconcile
        (another reconcile succeeded meanwhile)."""
        said = ""
        while True:
            record = self._unreconciled.get(broker.name)
            if not self._running() or broker.name in self.claims.lost or record is None:
                return False
            if self._resyncs:
                # A resync after a data loss runs: it claims the brokers again and has a
                # venue living in its journal write back what it holds before that
                # broker's reconcile (`_on_data_loss`); a retry ran in the middle of it.
                waits = "the resync after Redis lost data"
            elif not self._venue_up(broker, record):
                waits = f"{broker.source} {broker.state}"
            elif record.bus and not self.bus.stats.connected:
                waits = f"Redis out of reach ({self.bus.stats.last_error})"
            else:
                return True
            if waits != said:
                said = waits
                log.info(
                    "session.reconcile_retry_waits",
                    extra={"broker": broker.source, "for": waits, "tries": record.tries},
                )
            await asyncio.sleep(self.reconcile_retry_look_s)

    @staticmethod
    def _venue_up(broker: Broker, record: _Unreconciled) -> bool:
        """Whether `broker` may be reconciled: tradable, or DISCONNECTED only as the
        session holds it after its start's reconcile failed (its links, when it has
        any, say the venue is up)."""
        state = broker.state
        if state in TRADABLE_STATES:
            return True
        if record.held is None or state is not ConnectionState.DISCONNECTED:
            return False
        return not broker.health_state.links or broker.derived_state() in TRADABLE_STATES

    async def _reconcile_failed(
        self, broker: Broker, why: str, exc: Exception, *, retry_in: float | None, fresh: bool
    ) -> None:
        """Say a failed reconcile: logged, counted (`reconcile_failed`) and on the
        broker's health until a reconcile succeeds, with when it is tried again. At the
        start (`connect`) the broker reads DISCONNECTED meanwhile: its orders and
        positions are not the venue's yet. `fresh`: a reconcile of its own (the
        start's, a reconnect's, the resync's), not a retry."""
        # A venue's answer the adapter could not read (a ValueError from a listing
        # row) as much as a refusal: after a reconnect it ended in the broker's
        # listener log line alone, the broker LIVE and the desk unreconciled.
        error = str(exc) if isinstance(exc, BrokerError) else f"{type(exc).__name__}: {exc}"
        bus = isinstance(exc, BusError)
        at_start = why == "connect"
        record = self._unreconciled.get(broker.name)
        repeat = record is not None and record.error == error
        if record is None:
            record = self._unreconciled[broker.name] = _Unreconciled(why, error, bus)
        else:
            record.tries += 1
            record.why, record.error, record.bus = why, error, bus
        if at_start and fresh:
            record.held = broker.state if broker.state in TRADABLE_STATES else None
        elif fresh and why != RESYNC_RECONCILE and broker.state is not ConnectionState.DISCONNECTED:
            record.held = None  # a reconnect: the adapter set the broker's state itself
        # (Still DISCONNECTED, the announce was no reconnect: Binance announces a
        # reconcile of an order placed elsewhere, trades left unread or a report it
        # could not read, and sets no state. The start's hold is kept: dropped, the
        # retry waited for ever for a tradable broker, and a later success left it
        # DISCONNECTED, every order and cancel refused.)
        # A venue that refuses for good is tried every minute, 1,440 times a day: the
        # same failure again is logged at INFO, without its traceback (the first try's,
        # or the last whose error read otherwise, has it); a reconcile of its own
        # (`fresh`: a reconnect's, the resync's) is still an ERROR.
        log.log(
            logging.INFO if repeat and not fresh else logging.ERROR,
            "session.reconcile_failed",
            extra={
                "broker": broker.source,
                "after": why,
                "error": str(exc),
                "tries": record.tries,
                "retry_in_s": retry_in,
            },
            # (the exception itself: this runs outside its `except`, where True logged
            # "NoneType: None")
            exc_info=exc if not repeat and not isinstance(exc, BrokerError | BusError) else None,
        )
        broker.count_error("reconcile_failed")
        # The words stay the same once it failed `RECONCILE_TRIES_SAID` times (unless
        # its error changes): each new wording of a health event is a Log pane line.
        if record.tries == 1:
            failed = "failed"
        elif record.tries < RECONCILE_TRIES_SAID:
            failed = f"failed ({record.tries} tries)"
        else:
            failed = f"failed ({RECONCILE_TRIES_SAID}+ tries)"
        said = (
            f"reconcile after {why} {failed}: {error}; its orders and positions here may "
            "differ from the venue's until a reconcile succeeds"
        )
        if retry_in is not None and bus:
            said += f"; tried again by itself once Redis answers, in {retry_in:g} s at the earliest"
        elif retry_in is not None:
            said += f"; tried again by itself in {retry_in:g} s"
        state = ConnectionState.DISCONNECTED if at_start else broker.state
        try:
            await broker.set_state(state, said)
        except Exception as publish_error:  # its heartbeat carries the state; logged above
            log.warning(
                "session.reconcile_failure_not_said",
                extra={"broker": broker.source, "error": str(publish_error)},
            )

    async def _reconciled(self, broker: Broker) -> None:
        """A reconcile of `broker` succeeded: after failures, its health says so (the
        failure's words stood on it until a new message), a broker the start held
        DISCONNECTED goes back to its state, and a kill switch's cancels it could not
        take meanwhile are made (`TradingEngine.cancel_kill_owed`)."""
        record = self._unreconciled.pop(broker.name, None)
        if record is None:
            return
        tries = record.tries + 1
        said = f"reconciled after {tries} tries"
        log.info(
            "session.reconciled",
            extra={"broker": broker.source, "after": record.why, "tries": tries, "said": said},
        )
        state = broker.state
        if record.held is not None and state is ConnectionState.DISCONNECTED:
            state = broker.derived_state() if broker.health_state.links else record.held
        try:
            await broker.set_state(
                state,
                f"{said}: its orders and positions here are the venue's again (the reconcile "
                f"after {record.why} had failed: {record.error})",
            )
        except Exception as exc:
            log.warning(
                "session.reconciled_not_said", extra={"broker": broker.source, "error": str(exc)}
            )
        if self.engine.kill_owed.get(broker.name):
            # A kill switch's cancels refused while the broker was held (its start's
            # reconcile failed: DISCONNECTED by the session, no reconnect to announce)
            # are made now, as the reconnect's listener makes them, trading still
            # HALTED. They were owed for good: the desk HALTED, the broker LIVE, the
            # order working at the venue. Beside the reconcile's caller (a resync goes
            # on to its next broker).
            self._spawn(
                self.engine.cancel_kill_owed(broker.name), f"engine-kill-owed:{broker.source}"
            )

    async def _follow(self) -> None:
        every = self.settings.engine.snapshot_every_events
        engine = self.engine
        health = self.bus.layout.health
        journals = f"{self.bus.layout.prefix}:exec:"
        async for batch in self.bus.tail_batches(self.engine_streams()):
            for entry in latest_quotes(batch):
                engine.apply_entry_or_skip(entry)
                if engine.anomalies.pending:
                    await engine.publish_anomalies()
                if engine.kill_from_elsewhere or engine.reduce_from_elsewhere:
                    # Its cancels (and their retries) run beside the reader: the fills,
                    # acks and a RESUME behind the KILL are applied meanwhile.
                    self._honour_pending()
                if engine.reduce_only_to_trim and not self._trimming:
                    self._trimming = True
                    self._spawn(self._trim_reduce_only(), "engine-trim-reduce-only")
                if entry.stream == health:
                    await engine.republish_profiles(self.bus.options.health_maxlen // 2)
                if entry.stream.startswith(journals):
                    self._events_since_snapshot += 1
                    if self._events_since_snapshot >= every:
                        await self._snapshot_or_later()

    async def _snapshot_timer(self) -> None:
        """A snapshot every `snapshot_every_s` when the journals moved meanwhile."""
        while True:
            await asyncio.sleep(self.settings.engine.snapshot_every_s)
            if self._events_since_snapshot:
                await self._snapshot_or_later()

    async def _snapshot_or_later(self) -> None:
        """A snapshot whose failure (Redis refusing the write, the outage buffer full)
        is logged and tried again at the next trigger: taken from the reader, it ended
        the reader and stopped the desk (every order refused "desk stopped")."""
        try:
            await self.snapshot()
        except Exception:
            # Still to be taken: by the timer, or after as many events again (not at
            # every event while the bus refuses it).
            self._events_since_snapshot = max(self._events_since_snapshot, 1)
            log.exception("session.snapshot_failed")

    async def snapshot(self) -> None:
        await self._write_snapshots()
        await self._trim_risk()

    async def _write_snapshots(
        self, failed: Callable[[str, Exception], None] | None = None
    ) -> None:
        """Each account's snapshot (not another desk's: its claim lost). An error is
        raised, or, with `failed`, told to it (the account, the error) and the next
        account's written all the same."""
        self._events_since_snapshot = 0
        for broker, account in self.accounts():
            if broker in self.claims.lost:  # that journal is another desk's now
                continue
            try:
                await write_snapshot(self.engine, broker, account)
            except Exception as exc:
                if failed is None:
                    raise
                failed(f"{broker}/{account}", exc)

    async def _trim_risk(self) -> None:
        """The risk stream's end (`bus.risk_keep`), at start and with every snapshot.
        A failure only delays it to the next snapshot: nothing is lost by waiting."""
        try:
            await trim_risk_stream(self.engine, self.settings.bus.risk_keep)
        except BusError as exc:
            log.warning("session.risk_trim_failed", extra={"error": str(exc)})

    def _keep_task(self, task: asyncio.Task[None]) -> None:
        """One of the tasks the desk trades on: cancelled on close; if it fails, the
        trader is told and the desk stops (`_kept_failed`)."""
        task.add_done_callback(self._kept_done)
        self._tasks.append(task)

    def _kept_done(self, task: asyncio.Task[None]) -> None:
        if task.cancelled() or task.exception() is None or not self.started:
            return
        error = task.exception()
        assert error is not None
        log.error("session.task_failed", extra={"task": task.get_name()}, exc_info=error)
        self._kept_failed(task.get_name(), error)

    def _kept_failed(self, name: str, error: BaseException) -> None:
        """A trading desk that no longer reads the bus (or renews its claims) would
        check orders against a frozen desk: it sends nothing more, and says so."""
        self._stopped = (
            f"this desk stopped ({name} failed: {type(error).__name__}: {error}): what it "
            "shows is frozen and it sends no new order. Quit and start it again"
        )
        self._refresh_not_ready()
        self.alerts.append(Alert("Desk stopped", f"{self._stopped}."))

    def _refresh_not_ready(self) -> None:
        """Why orders are refused now, most lasting first: a lost claim (for good), a
        failed task (for good), the desk closing, the start not done, a resync after
        Redis lost data, the claims not renewed for the ttl (until they are). The engine
        reads the claims again when it sends (`_send_guard`)."""
        engine = self.engine
        if self._claim_lost:
            engine.not_ready, engine.not_ready_rule = self._claim_lost, CLAIM_LOST
        elif self._stopped:
            engine.not_ready, engine.not_ready_rule = self._stopped, DESK_STOPPED
        elif self._closing:
            engine.not_ready, engine.not_ready_rule = CLOSING, DESK_CLOSING
        elif not self.ready:
            engine.not_ready, engine.not_ready_rule = NOT_READY, "starting"
        elif self._resyncing:
            engine.not_ready, engine.not_ready_rule = self._resyncing, BUS_RESYNC
        elif self._claim_lapsed:
            engine.not_ready, engine.not_ready_rule = self._lapsed_message(), CLAIM_LAPSED
        else:
            engine.not_ready, engine.not_ready_rule = "", "starting"

    def _lapsed_message(self) -> str:
        """One sentence, the cause first when the last renewal's error is known (the
        bus's own words less its advice, `renewal_reason`: what to do follows; the guess
        at a cause only when none is known), then what to do. A bus out of reach that is
        back since is said so: the claims are renewed at the keeper's next round."""
        half = self.settings.engine.claim_ttl_s / 2
        claims = self.claims
        lapse = f"this desk could not renew its claim on its brokers for {half:g} s"
        held = "nothing is sent until the claim is renewed"
        then = "Send again then; if another desk took a broker, trade from that desk"
        why = claims.renew_error.rstrip(" .;")
        if not why:
            return (
                f"{lapse} (the bus may be down, or this desk was held: stopped, or its event "
                f"loop blocked), so {held} (another desk may take them). {then}"
            )
        stats = self.bus.stats
        back = stats.connected and stats.reconnects > claims.renew_error_reconnects
        if claims.renew_error_down and back:
            every = self.settings.engine.claim_ttl_s / 3
            return (
                f"The bus was out of reach ({why}), so {lapse}; it is back: {held}, within "
                f"{every:g} s. {then}"
            )
        cause = f"{why[0].upper()}{why[1:]}"
        return f"{cause}, and so {lapse}: {held} (another desk may take them). {then}"

    def refresh_lapse(self) -> None:
        """While orders are refused for a lapse: its message as things stand now (the
        bus back since it was told). Cheap: a few strings; the UI calls it each frame."""
        if self._claim_lapsed and self.engine.not_ready_rule == CLAIM_LAPSED:
            self._refresh_not_ready()

    def _send_guard(self, broker: str | None) -> RiskViolation | None:
        """Read by the engine right before an order or a change goes to `broker` (None:
        whichever), and by `not_ready`: the claims as they stand at that moment, not as
        the keeper last told (`claims.stalled` is read from the clock: a desk held past
        its lapse resumes refusing, before the keeper has run). A claim found taken by another
        desk, lapsed, or not held (`claims.held`) refuses the send."""
        if not self.started:
            return None  # before the bus is open, or after it was closed: `not_ready`
        claims = self.claims
        if claims.lost:
            conflict = claims.lost.get(broker or "") or next(iter(claims.lost.values()))
            return RiskViolation(CLAIM_LOST, self._lost_message(conflict))
        if claims.stalled:  # held past the lapse: the keeper has not run to tell it
            return RiskViolation(CLAIM_LAPSED, self._lapsed_message())
        if broker is not None and broker in claims.brokers and broker not in claims.held:
            # (a broker this desk has not got is the engine's to refuse, by name)
            return RiskViolation(
                CLAIM_LAPSED,
                f"this desk does not hold its claim on broker {broker} now: nothing was "
                "sent. Send it again once the claim is renewed",
            )
        return None

    @staticmethod
    def _lost_message(conflict: ClaimConflict) -> str:
        return (
            f"this desk sends nothing more: broker {conflict.broker} is driven by another "
            f"desk now ({conflict.holder_text()}); this one lost its claim. Quit this desk "
            "and trade from that one."
        )

    async def _on_claim_lapse(self, lapsed: bool) -> None:
        self._claim_lapsed = lapsed
        self._refresh_not_ready()

    def claims_health(self) -> ClaimsHealth | None:
        """What this desk's claims on its brokers are now, for the Health pane (None
        when it claims none: it only watches, has no broker, or its bus is not open).
        Lapsed as the ticket refuses orders for it (the keeper told it, or the clock
        says the desk was held past it: `claims.stalled`), whatever refuses them first
        (`_refresh_not_ready`): a lapse during a resync is still a lapse."""
        claims = self.claims
        if not self.started or not claims.brokers:
            return None
        lost = tuple(
            (broker, self._lost_message(conflict))
            for broker, conflict in sorted(claims.lost.items())
        )
        pending = tuple(b for b in claims.brokers if b in claims.deferred and b not in claims.lost)
        held = tuple(
            b
            for b in claims.brokers
            if b in claims.held and b not in claims.lost and b not in pending
        )
        lapsed = self._claim_lapsed or claims.stalled
        return ClaimsHealth(
            held=held,
            pending=pending,
            pending_left_s=claims.wait_left if pending else 0.0,
            pending_why=claims.wait_why if pending else "",
            lapsed=self._lapsed_message() if lapsed else "",
            unrenewed_s=max(0.0, time.monotonic() - claims.renewed_at),
            lost=lost,
            not_held=tuple(
                b
                for b in claims.brokers
                if b not in held and b not in pending and b not in claims.lost
            ),
        )

    async def _on_claim_lost(self, conflict: ClaimConflict) -> None:
        """Another desk drives one of this desk's brokers now (this one could not renew
        its claim in time): this desk sends no new order, closes that broker (so that
        nothing more goes to it, and it writes nothing more to the streams the other
        desk writes) and says why on the ticket, in the broker's health and in the log."""
        message = self._lost_message(conflict)
        self._claim_lost = message
        self._refresh_not_ready()
        closing = [
            self._close_lost(broker, message)
            for broker in self.brokers
            if broker.name == conflict.broker
        ]
        # Shielded: the caller (the keeper, a resync) cancelled meanwhile ends at once,
        # and the close goes on, on its own task (`close` waits for it).
        for task in closing:
            await asyncio.shield(task)
        await self.bus.publish(
            # A warning: the broker's DISCONNECTED (with this reason) is the toast.
            LogEvent.create("engine", Log(message=message, level=LogLevel.WARNING))
        )

    def _close_lost(self, broker: Broker, message: str) -> asyncio.Task[None]:
        """The close of `broker`, its claim lost: started once, on its own task (or the
        one `close` started already)."""
        task = self._broker_closes.get(broker.name)
        if task is None:
            task = asyncio.create_task(
                self._close_lost_broker(broker, message), name=f"close-lost:{broker.source}"
            )
            self._broker_closes[broker.name] = task
        return task

    @staticmethod
    async def _close_lost_broker(broker: Broker, message: str) -> None:
        # Said before the close (the outage's toast carries the first reason) and
        # after it (the health pane shows the last; closing says "closed").
        with contextlib.suppress(Exception):
            await broker.set_state(ConnectionState.DISCONNECTED, message)
        await Session._close_broker(broker)
        with contextlib.suppress(Exception):
            await broker.set_state(ConnectionState.DISCONNECTED, message)

    async def _trim_reduce_only(self) -> None:
        """One at a time beside the reader: the positions that moved while its cancels
        went out are looked at next."""
        try:
            while self.engine.reduce_only_to_trim:
                await self.engine.trim_reduce_only()
        finally:
            self._trimming = False

    def _spawn(self, work: Coroutine[Any, Any, _T], name: str) -> asyncio.Task[_T]:
        """Run `work` beside the session's tasks (cancelled with them on close)."""
        task: asyncio.Task[_T] = asyncio.create_task(work, name=name)
        self._side_tasks.add(task)
        task.add_done_callback(self._side_done)
        return task

    def _side_done(self, task: asyncio.Task[Any]) -> None:
        self._side_tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error(
                "session.task_failed", extra={"task": task.get_name()}, exc_info=task.exception()
            )

    async def _on_data_loss(self, reason: str) -> None:
        """Redis lost data: put back what this desk knows, rebuild what the venues hold,
        and say so.

        First of all, no new order goes (`BUS_RESYNC`) and the claims are renewed at
        once (the bus has set again the keys it held before it set the epoch key; this
        confirms them, and a broker another desk holds now is lost here and closed,
        `_on_claim_lost`): nothing below is done for a broker this desk no longer
        holds (its journal is the other desk's). Orders go again once the resync is
        done. The trading state goes next: it lived in the lost risk stream, and without it
        the next start would come up ACTIVE under a kill switch still pulled here (and
        a watching desk would follow the stream). A venue whose memory was that journal
        (the paper simulator, `Broker.state_in_journal`) writes back what it holds in
        memory before the reconcile, and the trader is told what that means. A snapshot
        once the venues are reconciled lets the next start begin from this desk's
        orders and positions rather than from an empty journal.

        Only what was lost is put back (`DataLoss`: the epoch, Redis restarted empty or
        flushed, is everything; a plain reason too): the trading state only when the
        risk stream was lost, a broker re-seeded and reconciled only when its own
        journal was; a lost health stream (an operator's DEL) gets the brokers' health
        and profiles again, and nothing is said of the journal."""
        loss = DataLoss.of(reason)
        resyncing = " and resyncing from them" if loss.journal_lost(self.bus.layout) else ""
        self._resyncing = (
            f"Redis lost data ({loss}): this desk is claiming its brokers again{resyncing}; "
            "nothing is sent until that is done (a few seconds). Send it again then"
        )
        self._resyncs += 1
        self._refresh_not_ready()
        try:
            await self._resync_after_loss(loss)
        finally:
            self._resyncs -= 1
            if not self._resyncs:
                self._resyncing = ""
            self._refresh_not_ready()

    async def _resync_after_loss(self, loss: DataLoss) -> None:
        try:
            await self.claims.reclaim(self._on_claim_lost)
        except Exception as exc:  # the keeper renews in its turn (or the claims lapse)
            log.warning("session.reclaim_failed", extra={"error": str(exc)})
        layout = self.bus.layout
        try:
            await self.bus.publish(LogEvent.create("engine", Log(message=self._loss_line(loss))))
        except BusError as exc:  # its line, not the resync: the health key may be the loss
            log.error("session.data_loss_not_logged", extra={"error": str(exc)})
        # Before the start is done the risk stream may not be replayed yet: the state
        # in memory would be the default, not the desk's.
        ready = self.ready
        if ready and loss.lost(layout.risk) and self.engine.gate.held_here:
            await self._keep_hold(loss)  # a state of this desk's alone: written, every desk's
        elif ready and layout.risk in loss.trimmed and not loss.epoch:
            await self._write_state_back()  # its entries setting it deleted by another hand
        elif ready and loss.lost(layout.risk):
            await carry_trading_state(self.engine, CARRIED_AFTER_LOSS)
        # Only the brokers this desk still holds: another desk writes the journal of
        # one it lost (a re-seed there would write this desk's paper account into it).
        claims = self.claims
        held = [
            broker
            for broker in self.brokers
            if broker.name in claims.held
            and broker.name not in claims.lost
            and broker.name not in claims.deferred  # pending: it may be taken back
        ]
        # A venue that lives in its journal is re-seeded only when that journal was lost:
        # written into an intact one, its DATA_LOSS reconciles said "journal lost".
        journal_lost = [b for b in held if loss.lost(layout.exec(b.name, b.account))]
        for broker in journal_lost:
            # Its retry let go (reconciled below, after the re-seed), and a reconcile
            # of it already running (a retry's) done first: the re-seed never runs
            # beside a reconcile of the broker.
            self._supersede_retry(broker)
            async with self._reconciling.setdefault(broker.name, asyncio.Lock()):
                await self._reseed(broker)
        for broker in journal_lost:
            # A failure is said and retried as any reconcile's (a `JournalBehind` or
            # another bus error escaped here: the health and the snapshot below were
            # never done).
            self._supersede_retry(broker)
            await self._reconcile_or_retry(broker, RESYNC_RECONCILE)
        if loss.lost(layout.health):
            await self._republish_health(held)
        snapshot_lost = any(loss.lost(layout.snap(b.name, b.account)) for b in held)
        if ready and self.ready and (journal_lost or snapshot_lost):
            try:
                await self.snapshot()
            except BusError as exc:  # the periodic snapshot and the one at close remain
                log.warning("session.snapshot_after_loss_failed", extra={"error": str(exc)})

    async def _write_state_back(self) -> None:
        """The risk stream lost every entry setting the trading state to another hand's
        XTRIM or XDEL: this desk's state written back at once as its newest entry (not
        after another desk's entry it has not applied: `restate_trading_state`), so a
        restart and every desk keep it; toasted and logged."""
        written = await restate_trading_state(self.engine, CARRIED_AFTER_TRIM, reader=True)
        if written is None:
            return  # another desk's entry sets it again (or it could not: logged)
        said = (
            f"{self.bus.layout.risk} lost every entry setting the trading state (an XTRIM or "
            f"XDEL by another hand); {self.desk_id} wrote its state, "
            f"{self.engine.gate.state}, back as the stream's newest entry, so a restart and "
            "every desk on this bus keep it"
        )
        self.alerts.append(Alert(STATE_WRITTEN_BACK_ALERT, said, "warning", journaled=True))
        with contextlib.suppress(BusError):
            await self.bus.publish(
                LogEvent.create("engine", Log(message=said, level=LogLevel.WARNING))
            )

    async def _keep_hold(self, loss: DataLoss) -> None:
        """Redis lost the risk stream, or the entries setting the trading state in it,
        while this desk holds a state of its own (`RiskGate.held_here`: its start could
        not tell whether entries deleted from the stream took the state). Nothing is
        written back: carried or written back, the hold became the stream's state and
        halted every desk on the bus (a running desk read it, a later start replayed
        it), though it was never theirs. The desk stays as it is, on its own, until a
        state is journaled (its trader's, or another desk's read from the stream, its
        carried state after this loss included); toasted and logged."""
        gate = self.engine.gate
        risk = self.bus.layout.risk
        log.error(
            "session.hold_kept_after_loss",
            extra={"state": str(gate.state), "held_here": gate.held_here, "loss": str(loss)},
        )
        said = (
            f"Redis lost {risk} or the entries setting the trading state in it ({loss}) "
            f"while this desk held {gate.state} on its own ({gate.held_here}). It stays "
            f"{gate.state} on this desk alone: nothing is written to {risk}, so the other "
            "desks on this bus trade on as it says (a state written there ends this hold). "
            "Check the venues and what the other desks show, then resume (Ctrl+R) if "
            "trading should go on, or set REDUCE ONLY or pull the kill switch; either is "
            "journaled, and every desk and every start takes it from there"
        )
        # (the Log line and the toast as the start's own state words: `RunRecorder.say`)
        await self.last_run.say(STATE_HELD_HERE_ALERT, said, LogLevel.ERROR)

    def _loss_line(self, loss: DataLoss) -> str:
        """The Log's line for a loss: what was lost, and only that."""
        layout = self.bus.layout
        if loss.journal_lost(layout):
            return f"bus data lost ({loss}); reconciling"
        lost = ", ".join(sorted(loss.streams)) or "data"
        if loss.lost(layout.health):
            return (
                f"Redis lost {lost} ({loss}): the health and log lines written there before "
                "are gone; the brokers' health and profiles are published again"
            )
        return f"Redis lost {lost} ({loss}): nothing to put back"

    async def _republish_health(self, held: list[Broker]) -> None:
        """The health stream was lost: each broker's profile (its instruments and
        capabilities: a desk rebuilt from the bus needs them) and its health again,
        at once rather than at the next heartbeat."""
        await self.engine.republish_profiles(0)
        for broker in held:
            try:
                await broker.publish_health()
            except Exception as exc:  # its heartbeat tries again each second
                log.warning(
                    "session.health_not_republished",
                    extra={"broker": broker.source, "error": str(exc)},
                )

    async def _reseed(self, broker: Broker) -> None:
        """After a data loss: a venue that lives in the journal writes its state back
        (`Broker.reseed_journal`); what it says is toasted and logged."""
        title, level = RESEEDED_ALERT, LogLevel.WARNING
        try:
            said = await broker.reseed_journal()
        except (BrokerError, BusError) as exc:
            log.error("session.reseed_failed", extra={"broker": broker.source, "error": str(exc)})
            title, level = RESEED_FAILED_ALERT, LogLevel.ERROR
            said = (
                f"Redis lost the journal of {broker.source}, the paper venue's memory on a "
                f"restart, and writing back what the venue holds failed ({exc}). The desk "
                "shows the paper account as the venue holds it; a restart now would find it "
                "empty."
            )
        if not said:
            return
        severity = "warning" if level is LogLevel.WARNING else "error"
        self.alerts.append(Alert(title, said, severity, journaled=True))
        with contextlib.suppress(BusError):
            await self.bus.publish(LogEvent.create("engine", Log(message=said, level=level)))

    def _desk_metrics(self) -> dict[str, int | float | str]:
        """What names this desk on the bus's health (`BUS_DESK`, `BUS_DESK_NAME`)."""
        return {BUS_DESK: self.claims.desk.desk, BUS_DESK_NAME: self.engine.desk_name}

    async def _publish_bus_health(
        self, state: ConnectionState, message: str, *, closed: bool = False
    ) -> None:
        metrics: dict[str, int | float | str | bool | None] = dict(self._desk_metrics())
        if closed:
            metrics[BUS_CLOSED] = True
        await self.bus.publish(
            HealthEvent.create(
                "bus",
                Health(
                    component="bus",
                    state=state,
                    message=f"{message} at {self.bus_url}",
                    metrics=metrics,
                ),
            )
        )

    def feed(self) -> AsyncIterator[FeedEntry]:
        return self.bus.tail(self.feed_streams())

    def leave_working_on_close(self) -> None:
        """The trader chose to leave the working orders at the venues (the quit
        dialog's "Leave & quit"): `close` does not cancel them, whatever
        `engine.cancel_on_exit` says."""
        self._cancel_on_exit = False

    async def _cancel_on_close(self) -> None:
        """`engine.cancel_on_exit`: cancel every working order. What stays working is
        logged as an error and kept in `left_working` for the trader."""
        try:
            report = await self.engine.cancel_all()
        except Exception as exc:
            log.exception("session.cancel_on_exit_failed")
            failed = f"cancel on exit failed ({type(exc).__name__}: {exc})"
            working = self._working_text(self.engine.oms.working())
            self.left_working = f"{failed}; {working}" if working else failed
            return
        if report.ok:
            log.info("session.cancel_on_exit", extra={"summary": report.summary()})
            return
        log.error("session.cancel_on_exit", extra={"summary": report.summary()})
        orders = self.engine.oms.orders
        left = [orders[coid] for coid in report.still_working if coid in orders]
        text = self._working_text(left, report.still_working) if left else ""
        problems = "; ".join(report.problems)
        self.left_working = "; ".join(part for part in (text, problems) if part)

    @staticmethod
    def _working_text(views: list[OrderView], why: Mapping[str, str] | None = None) -> str:
        """`N order(s) still working at paper/main: ETHUSDT.PAPER st...01 (why), ...;
        cancel them at the venue`."""
        by_account: dict[str, list[str]] = {}
        for view in views:
            coid = view.client_order_id
            reason = f" ({why[coid]})" if why and why.get(coid) else ""
            name = f"{view.order.request.instrument} {coid}{reason}"
            by_account.setdefault(f"{view.broker}/{view.account}", []).append(name)
        parts = [
            f"{len(names)} order(s) still working at {account}: {', '.join(names)}"
            for account, names in sorted(by_account.items())
        ]
        if not parts:
            return ""
        return "; ".join(parts) + "; cancel them at the venue"

    async def close(self) -> None:
        if not self.started:
            return
        self.started = False
        # Closed before it was ready (quit during recovery): the engine holds part of
        # the journal, so it neither cancels what it believes working nor snapshots.
        recovered, self.ready = self.ready, False
        self._closing = True  # before any await: what is sent now is not cancelled
        self._refresh_not_ready()
        if recovered and self._cancel_on_exit:
            await self._cancel_on_close()
        tasks = [*self._tasks, *self._side_tasks]
        for task in tasks:
            task.cancel()
        await self._wait_ended(tasks, CLOSE_TASKS_WAIT_S, "its tasks to end once cancelled")
        redis = _RedisAtClose(self.bus)
        if recovered:
            await self._snapshot_at_close(redis)
            await self.last_run.record(always=True, closed=True)
        for broker in self.brokers:
            closing = self._broker_closes.get(broker.name)  # its claim lost: closing already
            if closing is None:
                closing = self._broker_closes[broker.name] = asyncio.create_task(
                    self._close_broker(broker), name=f"close:{broker.source}"
                )
            await self._wait_ended([closing], BROKER_CLOSE_WAIT_S, f"broker {broker.source}")
        # Only now the reads and scripts whose missing answer does not mark the bus down
        # (a broker's report after one would wait out the socket timeout again).
        releasing, trimming, last_word = CLOSE_REDIS_STEPS
        try:
            await redis.step(releasing, self.claims.release)
        except BusError as exc:  # the claims lapse by themselves
            log.warning("session.claims_not_released", extra={"error": str(exc)})
        if recovered:
            try:
                await redis.step(
                    trimming, lambda: trim_risk_stream(self.engine, self.settings.bus.risk_keep)
                )
            except BusError as exc:  # trimmed at the next start
                log.warning("session.risk_trim_failed", extra={"error": str(exc)})
        # Its last word: a desk showing another desk's bus trouble drops it (a desk
        # killed says nothing; its last word stays, with its age). Not while Redis is
        # out of reach: it would only hold up the close, waiting in memory.
        with contextlib.suppress(BusError):
            await redis.step(
                last_word,
                lambda: self._publish_bus_health(
                    ConnectionState.DISCONNECTED, f"{self.desk_id} quit", closed=True
                ),
            )
        redis.say_skipped()
        stats = self.bus.stats
        down = "" if stats.connected else stats.last_error  # (close rewrites it)
        refused = stats.writes_refused
        await self.bus.close()
        # The brokers' reports the bus refused (its outage buffer full) and still
        # refused at their close, and what the bus's close left in its buffer.
        kept = sum(broker.unjournaled for broker in self.brokers)
        if stats.closed_unwritten or kept:
            self.not_journaled = self._not_journaled_text(kept, down, refused=refused)
            log.error("session.not_journaled", extra={"said": self.not_journaled})
            if recovered:  # the next start says it once (`RunRecorder.check`)
                await self.last_run.record(
                    always=True,
                    unjournaled=Unjournaled.of(
                        stats.closed_unwritten + kept,
                        stats.closed_unwritten_fills,
                        self.brokers,
                        closed=True,
                    ),
                )
        elif recovered:
            # What it held unjournaled as it ran went in the bus's close: the record
            # must not say a desk killed left it.
            await self.last_run.record(always=True, closed=True)
        log.info("session.closed")

    async def _snapshot_at_close(self, redis: _RedisAtClose) -> None:
        """Each account's snapshot, as `snapshot` writes it, but not the risk stream's
        trim (after the brokers' close, `CLOSE_REDIS_STEPS`). Written even with the bus
        down: it waits in the outage buffer, at no wait (only the next replay is longer
        without it)."""

        def failed(account: str, exc: Exception) -> None:
            redis.found(exc)
            log.warning(
                "session.snapshot_not_written", extra={"account": account, "error": str(exc)}
            )

        await self._write_snapshots(failed)

    @staticmethod
    async def _close_broker(broker: Broker) -> None:
        try:
            await broker.close()
        except Exception:
            log.exception("session.broker_close_failed", extra={"broker": broker.source})

    @staticmethod
    async def _wait_ended(tasks: list[asyncio.Task[Any]], within: float, what: str) -> None:
        """Wait at most `within` seconds for `tasks` to end (never for ever: `close`
        must end). The ones still running are named in the log (what `close` gave up
        waiting for) and cancelled, and the close goes on."""
        if not tasks:
            return
        done, running = await asyncio.wait(tasks, timeout=within)
        for task in done:
            if not task.cancelled():
                task.exception()  # retrieved: logged where it failed, if it did
        if not running:
            return
        log.error(
            "session.close_gave_up_waiting",
            extra={
                "for": what,
                "after_s": within,
                "tasks": sorted(task.get_name() for task in running),
            },
        )
        for task in running:
            task.cancel()
        # A moment for them to end (never destroyed pending at exit); one that swallows
        # its cancel is left, named above.
        await asyncio.wait(running, timeout=1.0)

    def _not_journaled_text(self, kept: int, down: str, *, refused: bool) -> str:
        """`9 execution events (fills, order updates; 1 fill among them) were NOT
        journaled: Redis was unreachable (...) ...`, with what to do."""
        stats = self.bus.stats
        count = stats.closed_unwritten + kept
        fills = stats.closed_unwritten_fills
        among = f"{fills} fill{'s' if fills > 1 else ''}" if fills else "no fill"
        among += " among them"
        if kept:
            among += f"; {kept} of them refused earlier, the outage buffer full"
        if not down:
            why = "Redis had not taken them when the desk closed (it was catching up)"
        elif refused:
            why = f"Redis took no write ({down})"
        else:
            why = f"Redis was unreachable ({down})"
        real = [b.source for b in self.brokers if not b.state_in_journal]
        simulated = [b.source for b in self.brokers if b.state_in_journal]
        steps = ["Start Redis (or let it take writes), then this desk"]
        if real:
            steps.append(
                f"its reconcile asks {', '.join(real)} for their orders, fills and "
                "positions and journals what differs: check them at the venue"
            )
        if simulated:
            steps.append(
                f"{', '.join(simulated)} is a simulator whose account lives only in the "
                "journal: what it did while Redis was down is lost, and it starts again "
                "from the journal as Redis holds it"
            )
        where = "bus.redis.unwritten_at_close"
        if kept:
            where += ", broker.reports_not_journaled_at_close"
        return (
            f"{count} execution event{'s' if count > 1 else ''} (fills, order updates; "
            f"{among}) {'were' if count > 1 else 'was'} NOT journaled: {why}, and "
            f"{'they were' if count > 1 else 'it was'} held only in this desk's memory. "
            f"{'; '.join(steps)}. Each is in the log whole ({where})"
        )
