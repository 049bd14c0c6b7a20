"""A desk that watches the desks on a Redis bus and drives no broker (`silvertine watch`).

Another terminal (a second screen, a risk manager, the trader at home over SSH) sees
what the desks on a prefix do: their orders, positions, balances, quotes, health and
log, drawn from the streams by the same projection the driving desks' engines build.
The watching session has no broker, claims nothing and writes nothing on its own: no
epoch key, no health, no snapshot, no trim, no anomaly (the driving desks write those;
the bus is `passive`), so it runs beside them under a Redis user that may only read.

It sends no order: placing, changing and cancelling are refused with rule `watching`
(`WatchGateway`). The risk actions are journaled as they are from any desk, because
every desk acts on them: the kill switch (each driving desk cancels its own brokers'
working orders and HALTS), resume and reduce-only.

The accounts it follows are the execution journals under the prefix
(`{prefix}:exec:{broker}:{account}`), listed at `open`, again when the health stream
names a broker it does not watch, and every `DISCOVER_EVERY_S`: a desk started later is
taken on (its snapshot and journal, then its streams followed), and listeners
(`on_new_accounts`) are told. What stops it (a reader that fails, a desk it could not
take on, listings that keep failing) is told to the trader (`Session.alerts`), with
what to do.

A driving desk's brokers publish a health heartbeat a second each
(`Broker.start_health_loop`). A desk that quits closes them (DISCONNECTED, said on the
health stream); one killed (`kill -9`, its host or network lost) just stops, and its
last word would read LIVE for ever. So a broker not heard from for `STALE_AFTER_S`
(whose last state was not DISCONNECTED) is marked silent in the projection
(`DeskProjection.silent`: the health pane shows it STALE, how long, and that its desk
may be down), once, with an error toast; a heartbeat heard again clears it, with an
information toast whose title answers the error's (`heard_again_title`): the UI takes
the error toast down as it shows it (it stayed up to a minute over a Health pane that
read LIVE). No engine sends a heartbeat either: a killed desk's engine line (another
desk's anomalies, listed here) would read as current for good, so the same look judges
each desk by the brokers it drives (`DeskProjection.judge_desks`: its line reads STALE
with its age once they are all quiet, and goes once a desk started since drives them).
Redis refusing writes (out of memory, a replica after a failover) silences a
desk the same way while this desk, which only reads, reads on: nothing this desk can
read tells the two apart (its bus writes nothing to be refused), so both are said.
Heartbeats read live are timed by this desk's clock when they arrive (no other
host's clock is trusted), those replayed at the start by their own time (the UI's
quotes and marks go by the same rule: `ui/model.py`, `FeedModel.live_after`). A broker
marked silent (its desk quiet, or this desk unable to read the bus) is heard again only
on a heartbeat written since, by its own time (`_current`): what a dead desk wrote
before it died, read late (it waited in Redis while this desk could not read, or in
Redis's socket while Redis was stopped), never shows it live. The marks of this desk's
own outage stay once it reads again, until the broker is heard; not heard within
`STALE_AFTER_S`, it is its desk's silence, told as any.

Marks: at the start each broker's newest `MARKS_FROM_LAST` market-data entries are
applied (`_read_marks`), so the positions show marks and unrealized P&L with the first
frame. On a busy market those may hold no quote of a quiet instrument: the instruments
with an open position or a working order still unmarked are then looked for further
back, a page at a time newest first, in the background once the desk is up
(`_page_back_marks`), until each has its last mark, the stream's start, or
`marks_page_back_max` entries more (the Positions total says `(1 unmarked)` meanwhile,
which is so).

Redis lost the journal (its bus found the epoch replaced, or a journal shorter: a
restart empty, a flush): what this desk shows was built from entries Redis no longer
holds, and it never shows a desk that no longer exists. It rebuilds it (`rebuild`):
its readers stop, the projection the UI holds is emptied in place
(`DeskProjection.take_over` of a new engine's) and built again from what the streams
hold now, as at the start (health, each journal from its snapshot, the risk stream,
the marks), with the start-up's progress (`progress`: the UI shows its banner again);
then the next frame redraws every row (`DeskProjection.redraw_everything`: the UI's
frames run while the rebuild awaits Redis, and a snapshot loads without naming a row)
and the streams are followed from there. Redis out of reach meanwhile is waited for;
a rebuild that fails for any other reason leaves the banner saying so, with what to do.
A passive bus writes nothing, so a restart from an older copy of the data (an AOF or
RDB that lacks the last writes, the epoch key in it) looks to it like a restart that
lost nothing: after any restart this desk looks for the journal entries it read last
(`KEPT_IDS` a journal) and rebuilds if one is gone (`_look_after_restart`).

A desk that drove an account when Redis lost its journal still holds that account in
memory, and writes it back as it finds the loss (a paper venue's re-seed: its working
orders, positions and balances; a real venue's reconcile), then writes a snapshot once
its resync is done. The journal alone gives a follower that account only as the venue
reports it: the positions are built from fills Redis no longer holds, and a follower
takes a re-seed's position reports as their standing (`Portfolio.take_standing`:
quantity, the venue's rounded average, realized P&L and fees; the desk that writes them
holds the same and keeps its own). What the desk shows exactly is in that snapshot. So
a rebuild that could not start from a snapshot written after the loss (none yet, or one of an older
copy of the data that does not cover the first entry lost: `_still_waiting`) leaves the
account waited for (`_awaiting`): the banner stays, naming it ("waiting for the desk
driving paper/main to write back what it holds"), the "Redis lost data" toast says the
positions, realized P&L, orders and balances shown of it may be short until then, and
its working orders and balances are marked (`DeskProjection.unsure`, `JOURNAL LOST`).
Its snapshot stream is looked at each turn (`_write_backs`: one XINFO), and a snapshot
written since is taken by rebuilding again, with a toast ("Watching: written back"). A
broker whose last word was DISCONNECTED has no desk to write anything back (nothing is
waited for); one judged silent drops out of the banner (its desk may be down: the
Health pane says STALE) but its snapshot is still taken when it comes.

A desk started after the loss (the one waited for killed, Redis restarted, the desk
started again: "Journal lost while no desk ran") holds nothing from before it: it built
what it shows from the journal as it is now, as this desk did, and has nothing to write
back (it writes its first snapshot a minute later, or more). Its start says so: a
desk's brokers say CONNECTING first as it starts, where a desk that ran through the
loss goes on with its heartbeats (LIVE, or as its links are). So the first health word
since the loss of each broker waited for is looked at (`_first_word`: in the rebuild's
replay, or read live), and one that is CONNECTING ends the wait for its accounts at
once: no banner, no `JOURNAL LOST`, a toast ("Watching: nothing to write back").
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from functools import partial
from typing import NamedTuple

from ..brokers import Broker
from ..bus import BusEntry, BusError, BusUnavailableError, EventBus, parse_id
from ..bus.base import DataLoss
from ..config import Settings
from ..domain import ConnectionState, TradingState
from ..events import HealthEvent, QuoteEvent, RiskAction, SnapshotEvent
from .cancels import CancelReport, KillReport
from .commands import (
    Accepted,
    CancelAllDone,
    Command,
    CommandGateway,
    EngineGateway,
    Failed,
    Kill,
    KillDone,
    Outcome,
    Problem,
    Refused,
    Resume,
    SetTradingState,
)
from .conflate import latest_quotes
from .core import TradingEngine
from .projection import HEARD_AGAIN, NOT_HEARD, BrokerStatus, process_of
from .recovery import (
    RecoveryProgress,
    StartPhase,
    load_snapshot,
    newest_snapshot,
    recover,
    replay_stream,
)
from .session import Alert, Session, finished_window
from .wiring import open_bus

log = logging.getLogger(__name__)

WATCHING = "watching"
"""The rule every order, change and cancel of a watching desk is refused under."""

DISCOVER_EVERY_S = 30.0
"""How often the journals under the prefix are listed again when nothing asks sooner: a
desk that starts says so on the health stream first (its broker CONNECTING), and a
health event of a broker this desk does not watch lists them at once. A SCAN walks the
whole keyspace of a Redis the desks share: not every few seconds."""

DISCOVER_FAILURES_TOLD = 3
"""Listings failed in a row before the trader is told that new desks may not show."""

MARKS_FROM_LAST = 2_000
"""Market data entries read back per broker at the start (the newest), so that the
positions show marks and unrealized P&L at once, not from the next quote on."""

MARKS_PAGE = 2_000
"""Market data entries per read (XREVRANGE) when marks are paged back."""

MARKS_PAGE_BACK_MAX = 100_000
"""Market data entries per broker paged back at most, beyond the newest
`MARKS_FROM_LAST`, for the instruments with a position or a working order still
unmarked (`_page_back_marks`): Redis's default `md_maxlen`, so a stream of the default
length is read back whole if need be (about half a second of one core, a page at a
time, in the background). An instrument not quoted in them stays unmarked until its
next quote."""

STALE_AFTER_S = 5.0
"""A broker whose heartbeats (one a second) have not been heard for this long is shown
STALE: five missed in a row, so a busy desk or a slow second of Redis does not flap it,
and a killed desk shows within seconds, well before its broker claim lapses (15 s)."""

STALE_CHECK_S = 1.0
"""How often the brokers' last heartbeats are looked at: a few dict reads a second."""

ALIVE_AFTER_S = 0.5
"""A broker marked silent whose heartbeat's own time does not show it current (this
desk's clock stepped, say) is heard again on a later heartbeat of the same desk read at
least this long (this desk's monotonic clock) after the first one read since the mark:
what waited in Redis, or in its socket, is read in one burst; a desk that runs sends
one a second (`_current`)."""

KEPT_IDS = 1_000
"""Entry ids kept of each journal this desk follows, the newest it applied: after a
Redis restart its bus could not tell a loss of (`_look_after_restart`), they are looked
for, and one gone is a loss. They are the entries read before the restart and those
read since (ids that are there), so a thousand leaves room for a busy journal's
seconds between the restart and the look."""

REBUILDING = "Redis lost data: rebuilding what this desk shows from the journal"
"""The banner's line (`progress.phase`) while a rebuild begins."""
REBUILD_WAITS = "Redis lost data and is out of reach: the rebuild waits for it"
"""The banner's line while a rebuild waits for Redis."""
TAKING_WRITE_BACK = "rebuilding from the snapshot a desk wrote back after Redis lost data"
"""The banner's line while a rebuild takes a desk's write-back (`_write_backs`)."""
WAITING_PREFIX = "waiting for the desk driving "
WAITING_WRITE_BACK = WAITING_PREFIX + "{accounts} to write back what it holds"
"""The banner's line once rebuilt while an account's desk has not written back what it
holds (`_awaiting`): what is shown of it may be short of what that desk shows."""
JOURNAL_LOST = "JOURNAL LOST"
"""Why the working orders and balances of a broker whose desk's write-back is waited for
cannot be confirmed (`DeskProjection.unsure`: the Orders pane's `NEW?`, the Balances
pane's mark)."""
WRITTEN_BACK = "Watching: written back"
"""The toast's title once a desk's write-back is read and shown."""
STARTED_SINCE = "Watching: nothing to write back"
"""The toast's title when the desk driving an account waited for started after the
loss (`_first_word`): what the journal holds is what it shows."""
FIRST_WORDS_PAGE = 1_000
"""Health entries per read when the rebuild looks for the brokers' first words since
the loss (`_read_first_words`)."""

Account = tuple[str, str]

ACTIONS = {"kill": "the kill switch", "resume": "resume", "set_trading_state": "the state"}


def events_replayed(count: int) -> str:
    """`1 event replayed`, `2,000 events replayed`."""
    return f"{count:,} event{'' if count == 1 else 's'} replayed"


def journal_accounts(streams: Iterable[str], prefix: str) -> list[Account]:
    """The (broker, account) pairs whose execution journals are among `streams`."""
    head = f"{prefix}:exec:"
    found: set[Account] = set()
    for stream in streams:
        if not stream.startswith(head):
            continue
        broker, sep, account = stream[len(head) :].partition(":")
        if sep and broker and account and ":" not in account:
            found.add((broker, account))
    return sorted(found)


def refusal(bus_url: str, prefix: str) -> str:
    return (
        f"this desk watches the desks on {bus_url} (prefix {prefix}) and sends no order: "
        "send it from the desk that drives the broker"
    )


class _Before(NamedTuple):
    """What a watching desk showed before a rebuild (`WatchSession._rebuild`)."""

    accounts: list[Account]
    last_words: dict[str, BrokerStatus]
    silent: dict[str, int]
    applied: dict[str, str]  # stream -> the last entry applied from it
    unheard: frozenset[str]  # those of `silent` marked while this desk could not read


class _Awaited(NamedTuple):
    """An account whose desk's write-back after a loss is waited for (`_awaiting`)."""

    floor: str
    """The first journal entry the loss took ("": all of it, the epoch lost): a snapshot
    written after the loss covers it (`Snapshot.covers`)."""
    seen: str
    """The newest snapshot entry there was when the last rebuild read ("": none): one
    after it is a snapshot the desk wrote since."""


class WatchGateway:
    """A watching desk's actions: the risk actions go (journaled, every desk acts on
    them); anything for one broker is refused, with rule `watching`, before the engine.
    `engine` gives the session's engine now (a rebuild replaces it: `rebuild`)."""

    def __init__(self, engine: Callable[[], TradingEngine], why: Callable[[], str]) -> None:
        self._current = engine
        self._why = why
        self._stats = engine().bus.stats

    @property
    def _trading(self) -> TradingEngine:
        return self._current()

    @property
    def _engine(self) -> EngineGateway:
        return EngineGateway(self._current())

    def _connected(self) -> bool:
        return self._stats.connected

    async def send(self, command: Command) -> Outcome:
        if isinstance(command, Kill | Resume | SetTradingState) and not self._connected():
            # Kept in memory it would reach the desks whenever Redis is back, if ever:
            # a kill landing minutes after it was pulled, on a desk trading again.
            return Failed(
                error=(
                    f"Redis is unreachable from this watching desk: {ACTIONS[command.kind]} "
                    "was NOT SENT and no desk has seen it; it is not kept to be sent "
                    "later. Do it on the desk that drives the brokers, or here again once "
                    "the bus is back."
                ),
                error_kind="BusUnavailableError",
            )
        match command:
            case Kill(reason=reason):
                try:
                    return KillDone(report=await self._kill(reason))
                except Exception as exc:
                    log.exception("commands.crashed", extra={"command": command.kind})
                    return Failed(error=str(exc), error_kind=type(exc).__name__)
            case Resume():
                return await self._engine.send(command)
            case SetTradingState():
                # This desk has no broker, so its REDUCE_ONLY cancels nothing here: each
                # desk that drives one cancels what would add to a position as it reads
                # the state (`honour_reduce_only`; its line follows in the log).
                outcome = await self._engine.send(command)
                if isinstance(outcome, CancelAllDone) and outcome.report.problems:
                    # Not journaled: no desk has it (it was Accepted, and said nothing).
                    return Failed(
                        error="; ".join(outcome.report.problems),
                        error_kind="BusUnavailableError",
                    )
                return Accepted() if isinstance(outcome, CancelAllDone) else outcome
        why = self._why()
        return Refused(
            source="risk",
            reason=f"{WATCHING}: {why}",
            problems=(Problem(field="", rule=WATCHING, message=why),),
        )

    async def _kill(self, reason: str) -> KillReport:
        """The KILL written once, now or not at all (`EventBus.publish_now`), and
        nothing held here meanwhile: this desk has no broker, so HALTED shows on it
        only once the KILL is read back from the journal, where every desk reads it
        (held before, it read HALTED for the seconds of a write Redis never took while
        the desks traded on). Not retried: a KILL the journal refused is said, with
        what to do; never kept to land later (module doc)."""
        engine = self._trading
        event = engine.risk_event(RiskAction.KILL, TradingState.HALTED, message=reason)
        error, maybe = "", False
        try:
            await engine.bus.publish_now(event)
        except BusUnavailableError as exc:
            error = f"Redis is unreachable ({self._stats.last_error or exc})"
            maybe = exc.maybe_written
        except BusError as exc:
            error = str(exc)
        if error:
            log.error("watch.kill_not_journaled", extra={"error": error, "maybe_sent": maybe})
        else:
            log.warning("watch.kill_journaled", extra={"event_id": event.event_id})
        return KillReport(CancelReport(), error, by_watcher=True, maybe_sent=maybe)


class WatchSession(Session):
    """The session of `silvertine watch`: see the module's docstring. The UI drives it
    as it drives a trading session (`open`, `start`, `close`, `projection`,
    `command_gateway`)."""

    def __init__(
        self,
        settings: Settings,
        *,
        bus: EventBus | None = None,
        clock: Callable[[], int] = time.time_ns,
        monotonic: Callable[[], float] = time.monotonic,
        discover_every_s: float = DISCOVER_EVERY_S,
        stale_after_s: float = STALE_AFTER_S,
        stale_check_s: float = STALE_CHECK_S,
        marks_page_back_max: int = MARKS_PAGE_BACK_MAX,
    ) -> None:
        super().__init__(
            settings,
            bus=bus if bus is not None else open_bus(settings.bus, passive=True),
            clock=clock,
        )
        self.engine.desk_id = f"watching {self.engine.desk_name}"
        self.engine.watching = True
        self._accounts: list[Account] = []
        self._account_listeners: list[Callable[[list[Account]], None]] = []
        self._failed: set[Account] = set()  # could not be taken on (told; not retried)
        self._quotes_from: dict[str, str] = {}  # market data: the Quotes pane's start
        # market data: the oldest entry `_read_marks` applied ("": it read the whole stream)
        self._marks_before: dict[str, str] = {}
        self.marks_page_back_max = marks_page_back_max
        self._page_backs: set[asyncio.Task[None]] = set()
        self._page_back_locks: dict[str, asyncio.Lock] = {}
        self._discover_now = asyncio.Event()
        self.discover_every_s = discover_every_s
        self.clock = clock
        self.stale_after_s = stale_after_s
        self.stale_check_s = stale_check_s
        self.monotonic = monotonic
        self._heard: dict[str, int] = {}  # broker -> when its last heartbeat arrived (ns)
        # broker -> (when it arrived, this desk's monotonic clock in ns; its own time) of
        # the last heartbeat taken as current: what puts a later one's own time on this
        # desk's clock (`_current`). Monotonic: on the wall clock, this desk's clock
        # stepped back 30 s took a heartbeat written before its desk died for current.
        self._anchor: dict[str, tuple[int, int]] = {}
        # broker -> (when it was read, `monotonic`; its own time; its process) of the
        # first heartbeat read since the broker was marked silent that did not show it
        # current (`_current`).
        self._first_since: dict[str, tuple[float, int, str]] = {}
        # The health stream's last entry when this desk read the bus again after its own
        # outage (None: not known yet): a heartbeat after it was taken by Redis since.
        self._read_again_after: str | None = None
        # This desk's own bus: while it cannot read (Redis unreachable from here) no
        # heartbeat can arrive, and a silence is not the driving desk's; from when it
        # reads again (ns) each broker has `stale_after_s` to be heard.
        self._bus_lost = False
        self._bus_back_ns = 0
        # The brokers marked silent because this desk cannot read the bus (`_unheard`),
        # not because their desks went quiet: cleared, unsaid, once it reads again.
        self._unheard: set[str] = set()
        # The readers applying the streams to the engine (`_follow_streams`): a rebuild
        # stops them and starts new ones on the new engine.
        self._readers: set[asyncio.Task[None]] = set()
        # One rebuild, or one desk taken on, at a time: a desk taken on during a
        # rebuild would be loaded into the engine it replaces.
        self._turn = asyncio.Lock()
        self._rebuilding: asyncio.Task[None] | None = None
        self._rebuild_why: list[str] = []  # the losses the next rebuild answers
        self.rebuilds = 0  # rebuilds done (tests, tools)
        # journal -> the ids of its newest entries applied (`KEPT_IDS`)
        self._kept: dict[str, deque[str]] = {}
        # The bus's restarts and losses already looked at (`_look_after_restart`).
        self._restarts_seen = 0
        self._losses_seen = 0
        self._looking: asyncio.Task[None] | None = None
        # Brokers a rebuild's replay did not bring back (their health went with the
        # loss) and not heard since: their last word before it, still judged silent.
        self._gone: dict[str, BrokerStatus] = {}
        # What a rebuild under way found of the brokers before it began (their last
        # words, the silent ones): one that starts over carries the same.
        self._carried: _Before | None = None
        # Journals Redis lost that the next rebuild answers: stream -> the first entry
        # the loss took ("": all of it, the epoch lost).
        self._lost: dict[str, str] = {}
        # Accounts whose desk ran when Redis lost their journal and whose write-back
        # (its re-seed and the snapshot it writes once its resync is done) this desk
        # has not read yet: what it shows of them may be short (`_still_waiting`).
        self._awaiting: dict[Account, _Awaited] = {}
        self._looking_back: asyncio.Task[None] | None = None
        # Whether the losses the next rebuild answers took the health stream too (the
        # epoch: Redis restarted empty, or flushed): every entry in it now came after.
        self._health_lost = False
        # The brokers of the accounts waited for whose first health word since the
        # loss this desk has not read yet (`_first_word`): broker -> the health entry
        # after which a word is since the loss.
        self._first_word_after: dict[str, str] = {}
        # The brokers whose first word since the loss was CONNECTING: a desk started
        # since, from what the journal holds now, drives them (`_started_since_loss`).
        self._started_since: set[str] = set()

    def _create_brokers(self, clock: Callable[[], int]) -> list[Broker]:
        return []

    @property
    def watching(self) -> bool:
        return True

    @property
    def live(self) -> bool:
        """From the journals' broker profiles (`Desk.live`), not from this config."""
        return False

    def accounts(self) -> list[Account]:
        return list(self._accounts)

    def on_new_accounts(self, listener: Callable[[list[Account]], None]) -> None:
        self._account_listeners.append(listener)

    def command_gateway(self) -> CommandGateway:
        return WatchGateway(lambda: self.engine, lambda: self.engine.not_ready)

    def _refresh_not_ready(self) -> None:
        self.engine.not_ready = refusal(self.bus_url, self.bus.layout.prefix)
        self.engine.not_ready_rule = WATCHING

    async def _discover(self) -> list[Account]:
        layout = self.bus.layout
        return journal_accounts(await self.bus.streams("exec:*"), layout.prefix)

    async def open(self) -> None:
        """Start the (passive) bus and list the journals to watch. Raises
        `BusUnavailableError` when the bus cannot be reached."""
        if self.started:
            return
        await self.bus.start()
        try:
            self._accounts = await self._discover()
        except BaseException:
            await self.bus.close()
            raise
        self.started = True
        stats = self.bus.stats
        self._restarts_seen, self._losses_seen = stats.server_restarts, stats.data_loss_detected
        self.bus.add_data_loss_listener(self._on_data_loss)
        self._tell(self._accounts)  # a desk built before the session opened

    def _tell(self, accounts: list[Account]) -> None:
        if not accounts:
            return
        for listener in self._account_listeners:
            try:
                listener(list(accounts))
            except Exception:
                log.exception("watch.listener_failed")

    def _kept_failed(self, name: str, error: BaseException) -> None:
        """A reader or the listing failed (`Session._keep_task`): what the desk shows is
        frozen from here."""
        self.alerts.append(
            Alert(
                "Watching stopped",
                f"this watching desk stopped following the streams ({type(error).__name__}: "
                f"{error}): what it shows is frozen from here. Quit and start "
                "`silvertine watch` again.",
            )
        )

    async def _bring_up(self, progress: RecoveryProgress) -> None:
        """The desk rebuilt from the streams: health first (the brokers' profiles and
        states), then each journal from its snapshot and the risk stream (`recover`),
        then the marks."""
        await self._replay_health()
        await recover(self.engine, self._accounts, progress, say=self._snapshot_unreadable)
        for broker in sorted({broker for broker, _ in self._accounts}):
            await self._read_marks(broker)

    async def _run(self) -> None:
        """Follow the streams and look for new journals; rebuild at once when Redis
        lost the journal while this desk started (`_on_data_loss`)."""
        self._start_reader(self.engine_streams(), "watch-reader")
        self._keep_task(asyncio.create_task(self._discover_loop(), name="watch-discover"))
        self._keep_task(asyncio.create_task(self._silence_loop(), name="watch-heartbeats"))
        for broker in sorted({broker for broker, _ in self._accounts}):
            self._start_page_back(broker)
        names = ", ".join(f"{b}/{a}" for b, a in self._accounts) or "none yet"
        log.info("watch.started", extra={"bus": self.bus_url, "accounts": names})
        if not self._accounts:
            self.alerts.append(
                Alert(
                    "Watching: no desk yet",
                    f"no desk has written under prefix {self.bus.layout.prefix} on "
                    f"{self.bus_url} yet: each one that does shows here as it starts. If "
                    "one runs, check the prefix: --prefix here, bus.prefix in its config "
                    "(default silvertine).",
                    "warning",
                )
            )
        if self._rebuild_why:
            self._start_rebuild()

    def _start_reader(self, streams: Mapping[str, str], name: str) -> None:
        """A reader applying `streams` to the engine (`_follow_streams`), kept: one that
        fails stops this desk, said (`_kept_failed`); a rebuild stops it."""
        engine = self.engine
        layout = self.bus.layout
        for stream in streams:
            if layout.is_journal(stream):
                # The risk stream is kept to its newest `risk_keep` entries (a trim is
                # no loss): no more of its ids than those.
                most = KEPT_IDS if stream != layout.risk else self.settings.bus.risk_keep
                kept = self._kept.setdefault(stream, deque(maxlen=min(KEPT_IDS, most)))
                applied = engine.applied.get(stream, "0-0")
                if parse_id(applied) > (0, 0) and (not kept or kept[-1] != applied):
                    kept.append(applied)
        task = asyncio.create_task(self._follow_streams(streams), name=name)
        self._keep_task(task)
        self._readers.add(task)
        task.add_done_callback(self._readers.discard)

    async def _replay_health(self) -> None:
        """The health stream from its first entry; followed from its last."""
        health = self.bus.layout.health
        await replay_stream(self.engine, health)
        self._health_from = self.engine.applied.get(health, "0-0")

    async def _read_marks(self, broker: str) -> None:
        """The broker's newest quotes (`MARKS_FROM_LAST`), applied oldest first; its
        market data is then followed from the newest of them (`_md_from`), and the
        Quotes pane starts from the oldest (`market_feed_streams`). What they leave
        unmarked is looked for further back once the desk is up (`_page_back_marks`)."""
        md = self.bus.layout.md(broker)
        newest_first = await self.bus.read_last(md, MARKS_FROM_LAST + 1)
        # Reads start after an id: the one just before the newest MARKS_FROM_LAST (as
        # ui/model.py `recent_start`, which this layer may not import), or the first.
        last_before = len(newest_first) > MARKS_FROM_LAST
        self._quotes_from[md] = newest_first[MARKS_FROM_LAST].id if last_before else "0-0"
        self._marks_before[md] = newest_first[MARKS_FROM_LAST - 1].id if last_before else ""
        for entry in latest_quotes(newest_first[MARKS_FROM_LAST - 1 :: -1]):
            self.engine.apply_entry_or_skip(entry)

    def _unmarked(self, broker: str) -> set[str]:
        """The broker's instruments with an open position or a working order and no
        mark."""
        projection = self.engine.projection
        wanted = {
            key[2]
            for key, state in projection.positions.items()
            if key[0] == broker and state.quantity != 0
        }
        wanted.update(view.order.request.instrument for view in projection.working(broker))
        return {instrument for instrument in wanted if projection.last_price(instrument) is None}

    def _start_page_back(self, broker: str) -> None:
        """`_page_back_marks` in the background: the desk is up meanwhile (the first
        frame and the feed do not wait for a hundred thousand entries)."""
        task = asyncio.create_task(self._page_back_marks(broker), name=f"watch-marks-{broker}")
        self._tasks.append(task)  # cancelled on close
        self._page_backs.add(task)
        task.add_done_callback(self._page_backs.discard)

    async def marks_paged_back(self) -> None:
        """Until the marks being paged back have been looked for (tests, tools)."""
        while self._page_backs:
            await asyncio.gather(*self._page_backs, return_exceptions=True)

    async def _page_back_marks(self, broker: str) -> None:
        """Each instrument of the broker's with an open position or a working order
        that the newest entries left unmarked (`_unmarked`) gets its last mark: its
        newest quote that gives a price (`Quote.mark`), read back a page at a time
        (`MARKS_PAGE`, newest first) from before the oldest entry `_read_marks`
        applied, until each has one, the stream's first entry, or
        `marks_page_back_max` entries. One at a time per broker (a desk taken on starts
        another after). A mark a live quote set meanwhile is newer: it stays. A
        failed read leaves the rest unmarked until their next quote (logged): what
        the desk shows is so either way."""
        async with self._page_back_locks.setdefault(broker, asyncio.Lock()):
            md = self.bus.layout.md(broker)
            try:
                found, read = await self._page_back(md, self._unmarked(broker))
            except BusError as exc:
                log.warning("watch.marks_not_paged_back", extra={"stream": md, "error": str(exc)})
                return
            except Exception:
                log.exception("watch.marks_page_back_failed", extra={"stream": md})
                return
            if found or read:
                log.info(
                    "watch.marks_paged_back",
                    extra={"stream": md, "found": len(found), "entries": read},
                )

    async def _page_back(self, md: str, wanted: set[str]) -> tuple[list[str], int]:
        """`_page_back_marks` of `wanted` on `md`: the instruments marked, and the
        entries read."""
        engine = self.engine
        before = self._marks_before.get(md, "")
        found: list[str] = []
        read = 0
        while before and wanted and read < self.marks_page_back_max:
            count = min(MARKS_PAGE, self.marks_page_back_max - read)
            page = await self.bus.read_last(md, count, before=before)
            read += len(page)
            for entry in page:  # newest first
                event = entry.event
                if type(event) is not QuoteEvent or event.payload.instrument not in wanted:
                    continue
                try:
                    mark = event.payload.mark
                except ArithmeticError:  # (overflows: no price to mark at)
                    continue
                if mark is None:
                    continue  # crossed or one-sided: it moved no mark
                instrument = event.payload.instrument
                wanted.discard(instrument)
                if engine.last_price(instrument) is None:  # else a live quote came first
                    try:
                        engine.apply(event, entry.id)  # not `applied`: an older entry
                    except Exception as exc:
                        engine.not_applied(entry, exc)
                    engine.anomalies.take()  # the driving desks publish theirs
                    found.append(instrument)
            if len(page) < count:
                break  # the stream's first entry
            before = page[-1].id
            wanted = {i for i in wanted if engine.last_price(i) is None}
            await asyncio.sleep(0)  # (a memory bus's read never yields)
        return found, read

    def market_feed_streams(self) -> dict[str, str]:
        """The Quotes pane starts from the quotes the marks were read from: the driving
        desks' last prices show at once (dimmed with their age once stale), not from
        the next quote (a quiet market may send none for minutes)."""
        return {
            md: self._quotes_from.get(md, start)
            for md, start in super().market_feed_streams().items()
        }

    def _md_from(self, broker: str) -> str:
        """Where the broker's market data is followed from: after the last entry applied
        (the newest is never conflated away), or its first."""
        return self.engine.applied.get(self.bus.layout.md(broker), "0-0")

    def engine_streams(self) -> dict[str, str]:
        streams = super().engine_streams()
        for broker in {broker for broker, _ in self._accounts}:
            streams[self.bus.layout.md(broker)] = self._md_from(broker)
        return streams

    async def _follow_streams(self, streams: Mapping[str, str]) -> None:
        """Apply what the streams bring, as a driving desk's engine does, minus what
        only a driving desk does (its anomalies published, another desk's kill
        honoured: this desk has no broker, the driving desks do both)."""
        engine = self.engine
        health = self.bus.layout.health
        # The journals' newest ids applied, looked for after a restart.
        kept = {stream: ids for stream, ids in self._kept.items() if stream in streams}
        async for batch in self.bus.tail_batches(streams):
            for entry in latest_quotes(batch):
                engine.apply_entry_or_skip(entry)
                ids = kept.get(entry.stream)
                if ids is not None:
                    ids.append(entry.id)
                if entry.stream == health:
                    self._heartbeat(entry)
                    if self._unwatched(entry.event):
                        self._discover_now.set()
                    if self._first_word_after and self._first_word(entry):
                        self._started_since_loss()
            engine.anomalies.take()
            engine.kill_from_elsewhere = ""
            engine.reduce_from_elsewhere = ""  # the driving desks act on it

    def _heartbeat(self, entry: BusEntry) -> None:
        """A broker's health event read live: it is heard now (this desk's clock). One of
        a broker marked silent is heard only when it is current (`_current`): one its
        desk wrote before the silence, read now (it waited in Redis while this desk
        could not read, or in Redis's socket while Redis was stopped), says nothing of
        that desk now; the mark and the age of its last word stand. A DISCONNECTED read
        late is its desk's last word all the same (it quit): the mark goes, unsaid."""
        event = entry.event
        if not isinstance(event, HealthEvent):
            return
        found = event.payload.broker_account
        if found is None:
            return
        name = found[0]
        now = self.clock()
        projection = self.engine.projection
        marked = name in projection.silent
        if marked and not self._current(name, entry.id, event):
            if event.payload.state is ConnectionState.DISCONNECTED:
                self._unheard.discard(name)
                self._first_since.pop(name, None)
                projection.set_silent(name, None)
            return
        self._heard[name] = now
        self._anchor[name] = (self._monotonic_ns(), event.ts)
        self._first_since.pop(name, None)
        if not marked:
            return
        if name in self._unheard:  # this desk's own outage: its desk was not in question
            self._unheard.discard(name)
            projection.set_silent(name, None)
        else:
            projection.set_silent(name, None)
            log.info("watch.broker_heard_again", extra={"broker": name})
            # Titled as its "not heard from" toast (`_accounts_of`), which the UI takes
            # down as this one shows; the title says who, the message the rest (the Log
            # line is both: `paper/main heard from again: paper/main is heard from
            # again: ...` said it twice).
            self.alerts.append(
                Alert(
                    self._accounts_of(name) + HEARD_AGAIN,
                    "a desk drives it again (its heartbeats are read): what this desk "
                    "shows of it is live again.",
                    "information",
                )
            )

    def _monotonic_ns(self) -> int:
        return int(self.monotonic() * 1e9)

    def _current(self, name: str, entry_id: str, event: HealthEvent) -> bool:
        """Whether a heartbeat of a broker marked silent says its desk runs now, by when it
        was written, never by when this desk read it:

        - its own time, put on this desk's clock through the broker's last heartbeat
          taken as current (`_anchor`: no other host's clock is trusted, only how far
          its own moved; a desk started in a killed one's place, on its host, shares its
          clock), is within `stale_after_s` of now;
        - or, marked while this desk could not read the bus (`_unheard`), Redis took it
          after this desk read the bus again (`_read_again_after`): written since;
        - or it comes `ALIVE_AFTER_S` or more after the first heartbeat of the same desk
          read since the mark, and later by its own time (a desk that runs sends one a
          second; what waited is read in one burst): for a clock that stepped, here or
          there, which the first rule cannot see through."""
        ts = event.ts
        process = process_of(event.event_id)
        anchor = self._anchor.get(name)
        if anchor is not None:
            heard, said = anchor
            if self._monotonic_ns() - (heard + ts - said) <= int(self.stale_after_s * 1e9):
                return True
        after = self._read_again_after
        if name in self._unheard and after is not None and parse_id(entry_id) > parse_id(after):
            return True
        read = self.monotonic()
        first = self._first_since.get(name)
        if first is None or first[2] != process:
            self._first_since[name] = (read, ts, process)
            return False
        return ts > first[1] and read - first[0] >= ALIVE_AFTER_S

    def _accounts_of(self, name: str) -> str:
        """The accounts of broker `name` this desk watches, as its toasts name them."""
        return ", ".join(f"{b}/{a}" for b, a in self._accounts if b == name) or name

    async def _silence_loop(self) -> None:
        # The first look waits half the threshold: a running desk has sent a heartbeat
        # by then, so one whose clock is behind this desk's is never taken for silent.
        await asyncio.sleep(self.stale_after_s / 2)
        while True:
            self.check_silent()
            self._after_restart()
            self._look_for_write_backs()
            self._show_waiting()
            await asyncio.sleep(self.stale_check_s)

    def check_silent(self) -> None:
        """Mark the brokers not heard from for `stale_after_s` silent (once, with an
        error toast). A broker whose last word was DISCONNECTED is not judged: a desk
        that quits says so, and one that is down is not shown live either way.

        The marks of this desk's own outage (`_unheard`) stay once it reads the bus
        again, until the broker is heard (a heartbeat that is current: `_current`);
        one not heard within `stale_after_s` of that is its desk's silence from then
        on, told as any. Before, they went the moment the bus was back, and a desk
        killed meanwhile read LIVE, its orders plain NEW, for those seconds."""
        now = self.clock()
        if not self.bus.stats.connected:
            # This desk cannot read the bus: the "Bus unreachable" toast and the bus's
            # health say so; a driving desk is not blamed for what this one cannot hear.
            if not self._bus_lost:
                self._read_again_after = None
                self._first_since.clear()  # (a heartbeat read after it is no proof)
            self._bus_lost = True
            self._unheard_while_lost(now)
            return
        if self._bus_lost:
            self._bus_lost = False
            self._bus_back_ns = now
            self._mark_reading_again()
        limit = int(self.stale_after_s * 1e9)
        projection = self.engine.projection
        silent = projection.silent
        for name, status in self._last_words():
            unheard = name in self._unheard
            if (name in silent and not unheard) or status.state is ConnectionState.DISCONNECTED:
                continue
            heard = self._heard.get(name, status.heard_ns)
            if not heard or now - max(heard, self._bus_back_ns) <= limit:
                continue
            # Read again and still not heard: its desk's silence now (the mark stays).
            self._unheard.discard(name)
            if not unheard:
                self._first_since.pop(name, None)
            projection.set_silent(name, heard)
            accounts = self._accounts_of(name)
            quiet = (now - heard) / 1e9
            log.warning("watch.broker_silent", extra={"broker": name, "silent_s": quiet})
            self.alerts.append(
                Alert(
                    accounts + NOT_HEARD,
                    f"no heartbeat from {accounts} for {quiet:.0f}s (its desk sends one a "
                    f"second; it last said {status.state}): the desk driving it may be down "
                    "(killed, or its host or network lost), or Redis may be refusing its "
                    "writes while this desk still reads (out of memory, or a replica after "
                    "a failover: that desk's Health names it; redis-cli INFO memory and ROLE "
                    "tell). What this desk shows of it (state, orders, positions, marks) is "
                    "as of then, and a kill switch from here reaches it only when it runs "
                    "again and Redis takes writes; the health pane says STALE until it is "
                    "heard from again.",
                )
            )
        self._judge_desks(now)

    def _judge_desks(self, now: int) -> None:
        """The other desks' engine lines judged by their brokers' heartbeats
        (`DeskProjection.judge_desks`): STALE once every broker a desk drives is quiet
        for `stale_after_s`, gone once a desk started since drives them all. Not while
        this desk cannot read the bus (it hears nothing: `check_silent`)."""
        projection = self.engine.projection
        brokers = projection.brokers

        def heard(name: str) -> int:
            status = brokers.get(name)
            return self._heard.get(name) or (status.heard_ns if status is not None else 0)

        projection.judge_desks(now, heard, int(self.stale_after_s * 1e9), self._bus_back_ns)

    def _unheard_while_lost(self, now: int) -> None:
        """This desk cannot read the bus: nothing it shows of a broker is current, so
        each one whose last word was not DISCONNECTED is marked silent as of when it
        was last heard (`DeskProjection.silent`: the Orders pane marks its working
        orders' states unknown, the Health pane says STALE with the age of its last
        word, from the same mark). No toast: the desk driving it is not in question,
        this desk's bus is (its own toast and health line say so)."""
        projection = self.engine.projection
        for name, status in self._last_words():
            if name in projection.silent or status.state is ConnectionState.DISCONNECTED:
                continue
            heard = self._heard.get(name, status.heard_ns)
            projection.set_silent(name, heard or now)
            self._unheard.add(name)
            self._first_since.pop(name, None)

    def _last_words(self) -> list[tuple[str, BrokerStatus]]:
        """Each broker's last health as this desk knows it: the projection's, and that of
        a broker a rebuild's replay did not bring back (`_gone`: a desk killed before
        Redis lost its health is still called STALE, not shown as it last said)."""
        brokers = self.engine.projection.brokers
        gone = [(name, status) for name, status in self._gone.items() if name not in brokers]
        return [*brokers.items(), *gone]

    def _mark_reading_again(self) -> None:
        """This desk reads the bus again after its own outage: the health stream's last
        entry now is looked up (`_read_again_after`), so that a heartbeat Redis takes
        after it is known written since (`_current`), whatever the clocks say; what
        waited in Redis meanwhile is not. The marks of the outage stay until then."""
        if not self._unheard:
            return
        task = asyncio.create_task(self._reading_again(), name="watch-read-again")
        self._tasks[:] = [t for t in self._tasks if not t.done()]
        self._tasks.append(task)  # cancelled on close

    async def _reading_again(self) -> None:
        try:
            last = await self.bus.read_last(self.bus.layout.health, 1)
        except BusError as exc:  # the other rules still hear the desk (`_current`)
            log.warning("watch.read_again_not_marked", extra={"error": str(exc)})
            return
        if self._bus_lost or not self.bus.stats.connected:
            return  # lost again meanwhile: marked when it is back
        self._read_again_after = last[0].id if last else "0-0"

    def _unwatched(self, event: object) -> bool:
        """A health event of a broker account this desk neither watches nor gave up on."""
        found = event.payload.broker_account if isinstance(event, HealthEvent) else None
        return found is not None and found not in self._accounts and found not in self._failed

    async def _discover_loop(self) -> None:
        failures = 0
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._discover_now.wait(), self.discover_every_s)
            self._discover_now.clear()
            try:
                found = await self._discover()
            except BusError as exc:
                failures += 1
                log.warning("watch.discover_failed", extra={"error": str(exc)})
                if failures == DISCOVER_FAILURES_TOLD:
                    self.alerts.append(
                        Alert(
                            "Watching: desks not listed",
                            f"this desk cannot list the desks' journals ({exc}): a desk "
                            "started from now on does not show here until it can. It "
                            "keeps trying.",
                            "warning",
                        )
                    )
                continue
            if failures >= DISCOVER_FAILURES_TOLD:
                self.alerts.append(
                    Alert("Watching", "the desks' journals are listed again", "information")
                )
            failures = 0
            for account in found:
                if account not in self._accounts and account not in self._failed:
                    await self._take_on_or_tell(account)

    async def _take_on_or_tell(self, account: Account) -> None:
        """`_take_on`; if it fails the account is given up (what was loaded of it may
        be half: loading it again would count its fills twice) and the trader told.
        Not during a rebuild (`_turn`), which may have taken it on meanwhile."""
        try:
            async with self._turn:
                if account in self._accounts or account in self._failed:
                    return
                await self._take_on(account)
        except Exception as exc:
            self._failed.add(account)
            log.exception("watch.take_on_failed", extra={"account": "/".join(account)})
            self.alerts.append(
                Alert(
                    "Watching: a desk not shown",
                    f"this desk could not take on {'/'.join(account)} ({type(exc).__name__}: "
                    f"{exc}): it does not show here. Quit and start `silvertine watch` "
                    "again to see it.",
                )
            )

    async def _take_on(self, account: Account) -> None:
        """A desk started after this one: its journal from its snapshot, then its
        streams followed from there; the listeners are told."""
        engine = self.engine
        layout = self.bus.layout
        broker, name = account
        stream = layout.exec(broker, name)
        streams: dict[str, str] = {}
        # What the journal holds was alerted when it happened. (The running readers'
        # anomalies meanwhile count as replayed: this desk publishes none either way.)
        engine.replaying = True
        try:
            snapshot = await newest_snapshot(engine, broker, name, self._snapshot_unreadable)
            if snapshot is not None:
                load_snapshot(engine, snapshot)
            await replay_stream(engine, stream)
            streams[stream] = engine.applied.get(stream, "0-0")
            if all(known != broker for known, _ in self._accounts):
                await self._read_marks(broker)
                streams[layout.md(broker)] = self._md_from(broker)
        finally:
            engine.replaying = False
        engine.projection.redraw_everything()  # snapshots load without change sets
        self._accounts.append(account)
        log.info("watch.accounts_added", extra={"accounts": f"{broker}/{name}"})
        self.alerts.append(
            Alert(
                "Watching",
                f"a desk started on this prefix: watching {broker}/{name}",
                "information",
            )
        )
        self._start_reader(streams, "watch-reader-more")
        self._start_page_back(broker)  # its positions' instruments too
        self._tell([account])

    async def _on_data_loss(self, reason: str) -> None:
        """Redis lost data: said for what was lost only (`DataLoss`), as a trading desk
        says it (`Session._loss_line`). A journal, a snapshot stream, the risk stream or
        the epoch (everything): what this desk shows was built from entries Redis may
        no longer hold, and it is rebuilt from what the streams hold now (`rebuild`,
        which says it). The health, market-data or signal streams alone (capped,
        written again as they go: an operator's `DEL {p}:health`) leave the orders,
        positions and balances shown as they were, and nothing is rebuilt."""
        loss = DataLoss.of(reason)
        layout = self.bus.layout
        log.error(
            "watch.data_lost",
            extra={"reason": str(loss), "epoch": loss.epoch, "streams": sorted(loss.streams)},
        )
        if loss.journal_lost(layout):
            if loss.lost(layout.health):
                self._health_lost = True
            for broker, account in self._accounts:
                stream = layout.exec(broker, account)
                if loss.epoch:
                    self._lost[stream] = ""
                elif loss.lost(stream):  # (from what this desk had applied there)
                    self._lost.setdefault(stream, self.engine.applied.get(stream, ""))
            await self.rebuild(f"Redis lost data ({loss})")
            return
        lost = ", ".join(sorted(loss.streams)) or "data"
        if loss.lost(layout.health):
            what = (
                "the health and log lines the desks wrote there before are gone; the "
                "driving desks publish their brokers' health and profiles again"
            )
        else:
            what = "quotes and signals written there before are gone"
        message = (
            f"Redis lost {lost} ({loss}): {what}. No journal was lost: the orders, "
            "positions and balances this desk shows stand, and nothing needs a restart."
        )
        self.alerts.append(Alert(f"Redis lost {lost}", message, "warning"))

    # -- rebuilding after a loss ----------------------------------------------------------

    async def rebuild(self, why: str) -> None:
        """Rebuild what this desk shows from what the streams hold now (see the module's
        docstring), `why` said with it; back once it is done (or failed, said), or
        replaced by a later one. A rebuild under way starts over: what it read may be
        from before this loss. Before this desk is up, once it is (`_run`)."""
        self._rebuild_why.append(why)
        if not self.ready:
            return
        await asyncio.wait({self._start_rebuild()})

    def _start_rebuild(self) -> asyncio.Task[None]:
        running = self._rebuilding
        if running is not None and not running.done():
            running.cancel()
        task = asyncio.create_task(self._rebuild(running), name="watch-rebuild")
        task.add_done_callback(self._rebuild_done)
        self._rebuilding = task
        self._tasks[:] = [t for t in self._tasks if not t.done()]
        self._tasks.append(task)  # cancelled on close
        return task

    def _rebuild_done(self, task: asyncio.Task[None]) -> None:
        """A rebuild that raised outside the failures it says itself (`_rebuild`: a step
        before or after its bring-up): said as one that failed (`_not_rebuilt`). No one
        else looks at its end (`rebuild` waits, `close` gathers): before, the banner
        read "rebuilding" for good, with nothing logged."""
        if task.cancelled():
            return
        error = task.exception()
        if isinstance(error, Exception):
            self._not_rebuilt(self.progress, error)

    async def _rebuild(self, before: asyncio.Task[None] | None) -> None:
        if before is not None:
            await asyncio.wait({before})  # (cancelled: it ends at its next await)
        progress = RecoveryProgress()
        progress.phase = REBUILDING if self._rebuild_why else TAKING_WRITE_BACK
        self.progress = progress  # the UI shows its banner while it is not READY
        async with self._turn:
            # What was shown before: the accounts (those found now are told), the
            # brokers (kept for those the replay does not bring back: `_carry_brokers`);
            # as before the first of rebuilds that start over.
            if self._carried is None:
                marked = self.engine.projection.silent
                self._carried = _Before(
                    list(self._accounts),
                    dict(self._last_words()),
                    dict(marked),
                    dict(self.engine.applied),
                    frozenset(self._unheard),
                )
            known, last_words, silent, applied, unheard = self._carried
            waited = self._to_wait_for(known, last_words, applied)
            await self._stop_readers()
            if self._rebuild_why:  # a loss: what a broker says from here is since it
                self._ask_first_words(waited, applied)
            started: list[Account] = []
            delay = 0.05
            while True:
                self._fresh_engine()
                try:
                    found = await self._discover()
                    self._accounts = sorted({*known, *self._failed, *found})
                    seen = await self._snapshots_seen(waited)
                    await self._bring_up(progress)
                    await self._read_first_words()
                    # A desk started since the loss has nothing to write back.
                    started = sorted(a for a in waited if a[0] in self._started_since)
                    unstarted = {a: f for a, f in waited.items() if a not in started}
                    still = await self._still_waiting(unstarted, seen)
                except BusUnavailableError as exc:
                    if delay == 0.05:
                        log.warning("watch.rebuild_waits", extra={"error": str(exc)})
                    progress.phase = REBUILD_WAITS
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 2.0)
                    continue
                except Exception as exc:
                    self._not_rebuilt(progress, exc)
                    return
                break
            self._failed.clear()
            self._carry_brokers(last_words, silent, unheard)
            self._carried = None
            self._lost.clear()
            self._health_lost = False
            written_back = sorted(a for a in self._awaiting if a not in still and a not in started)
            self._awaiting = still
            waiting_for = {broker for broker, _ in still}
            self._first_word_after = {
                b: after for b, after in self._first_word_after.items() if b in waiting_for
            }
            for broker in sorted({broker for broker, _ in still}):
                self.engine.projection.set_unsure(broker, JOURNAL_LOST)
            # The next frame draws every row of what is rebuilt. The UI's frames run
            # while the rebuild awaits Redis: one drawn between the emptying and the
            # snapshot's load took the "redraw everything" of both, and the snapshot
            # loads without naming a row, so its balances and orders were never drawn
            # (the Balances pane with its header alone, Orders `0 working of 0 today`,
            # until the next balance event). Nothing is awaited from here.
            self.engine.projection.redraw_everything()
            self._bus_back_ns = self.clock()  # each broker has its time to be heard again
            # Not READY while a desk's write-back is waited for: the banner says so.
            progress.phase = self._waiting_line() or StartPhase.READY
            self._start_reader(self.engine_streams(), "watch-reader")
            for broker in sorted({broker for broker, _ in self._accounts}):
                self._start_page_back(broker)
        self.rebuilds += 1
        why = "; ".join(dict.fromkeys(self._rebuild_why))
        self._rebuild_why = []
        log.warning(
            "watch.rebuilt",
            extra={
                "why": why or "a desk's write-back",
                "replayed": progress.done,
                "accounts": len(self._accounts),
                "waiting_for": ", ".join("/".join(a) for a in sorted(still)),
            },
        )
        if why:
            self.alerts.append(Alert("Redis lost data", self._rebuilt_words(why, progress)))
        if written_back:
            self._say_written_back(written_back)
        if started:
            self._say_started_since(started)
        self._tell([account for account in self._accounts if account not in known])

    def _rebuilt_words(self, why: str, progress: RecoveryProgress) -> str:
        """The "Redis lost data" toast after a rebuild: what it shows, and what it waits
        for (`_awaiting`)."""
        said = (
            f"{why}: this watching desk rebuilt what it shows from what the journal holds "
            f"now ({events_replayed(progress.done)}). What the desks journaled before and "
            "Redis no longer holds is not shown"
        )
        if not self._awaiting:
            return (
                f"{said}; a desk that drives a broker writes back what its venue holds as "
                "it finds the loss (its Log says so), and that shows here as it comes."
            )
        names = ", ".join("/".join(account) for account in sorted(self._awaiting))
        return (
            f"{said}: until the desk driving {names} writes back what it holds (as it "
            "finds the loss: its Log says so; then the snapshot it writes once its resync "
            "is done), the positions, realized P&L, orders and balances shown of it may be "
            "short of what that desk shows. The banner says so until then, its orders and "
            f"balances are marked {JOURNAL_LOST}, and this desk shows the desk's own "
            "numbers as soon as that snapshot is there."
        )

    def _say_written_back(self, accounts: list[Account]) -> None:
        names = ", ".join("/".join(account) for account in accounts)
        log.warning("watch.written_back", extra={"accounts": names})
        self.alerts.append(
            Alert(
                WRITTEN_BACK,
                f"the desk driving {names} wrote back what it holds after Redis lost its "
                "journal: this watching desk rebuilt from that desk's snapshot and shows "
                "its positions, realized P&L, orders and balances as that desk does.",
                "information",
            )
        )

    def _waiting_line(self) -> str:
        """The banner's line while a desk's write-back is waited for ("" when none is):
        not for an account whose broker is judged silent, whose desk may be down (the
        Health pane's STALE line and its toast say so; a desk that quit just before
        the loss said DISCONNECTED where Redis no longer holds it, and would be waited
        for as long as this desk runs). Its write-back is still taken when it comes."""
        silent = self.engine.projection.silent
        waiting = [account for account in sorted(self._awaiting) if account[0] not in silent]
        if not waiting:
            return ""
        return WAITING_WRITE_BACK.format(accounts=", ".join("/".join(a) for a in waiting))

    def _show_waiting(self) -> None:
        """The banner as the waiting stands (`_waiting_line`), once a turn: gone when
        the brokers waited for are judged silent, back when one is heard again. Not
        during a rebuild, nor over a rebuild that failed (its banner says so)."""
        running = self._rebuilding
        if running is not None and not running.done():
            return
        progress = self.progress
        if not progress.ready and not progress.phase.startswith(WAITING_PREFIX):
            return
        phase = self._waiting_line() or StartPhase.READY
        if progress.phase == phase:
            return
        if progress.ready:  # the UI shows a banner for a new progress (as a rebuild's)
            progress = RecoveryProgress()
            progress.replayed.set()
            self.progress = progress
        progress.phase = phase

    # -- a desk started since the loss -----------------------------------------------------

    def _ask_first_words(self, waited: Mapping[Account, str], applied: Mapping[str, str]) -> None:
        """A rebuild answering a loss: for the brokers of the accounts it may wait for,
        their first health word since the loss is asked anew (`_first_word`): the
        entries after the last one this desk read of the health stream before it, or
        every entry when Redis lost that stream too (the epoch)."""
        health = self.bus.layout.health
        after = "0-0" if self._health_lost else applied.get(health, "0-0")
        self._first_word_after = {broker: after for broker, _ in waited}
        self._started_since.clear()

    def _first_word(self, entry: BusEntry) -> bool:
        """Whether `entry` is the first health word since the loss of a broker asked
        about (`_first_word_after`) and says CONNECTING: the connect of a desk that
        started since the loss (a desk's brokers say CONNECTING first as it starts; a
        desk that ran through the loss goes on with its heartbeats, LIVE or as its
        links are, and writes back what it holds). That desk built what it shows from
        the journal as it is since the loss, as this desk does: it has nothing to write
        back (a paper desk's "Journal lost while no desk ran": the starting cash, no
        orders, no positions). The first word of each broker is judged once."""
        event = entry.event
        if not isinstance(event, HealthEvent):
            return False
        found = event.payload.broker_account
        if found is None:
            return False
        name = found[0]
        after = self._first_word_after.get(name)
        if after is None or parse_id(entry.id) <= parse_id(after):
            return False
        del self._first_word_after[name]
        if event.payload.state is not ConnectionState.CONNECTING:
            return False
        self._started_since.add(name)
        return True

    async def _read_first_words(self) -> None:
        """The first words since the loss that the rebuild's replay of the health
        stream holds (`_first_word`): a desk started before this desk rebuilt. Read a
        page at a time from the earliest floor up to the last entry replayed (those
        after it are read live, `_follow_streams`), until each broker asked about has
        said something: a few entries, the stream being as young as the loss."""
        if not self._first_word_after:
            return
        health = self.bus.layout.health
        end = self.engine.applied.get(health)
        if end is None:
            return  # nothing replayed: every word is read live
        cursor = min(self._first_word_after.values(), key=parse_id)
        while self._first_word_after:
            page = await self.bus.read(health, cursor, end, count=FIRST_WORDS_PAGE)
            fresh = [entry for entry in page if parse_id(entry.id) > parse_id(cursor)]
            for entry in fresh:
                self._first_word(entry)
            if len(page) < FIRST_WORDS_PAGE or not fresh:
                return
            cursor = fresh[-1].id

    def _started_since_loss(self) -> None:
        """Read live: the accounts waited for of a broker a desk started since the loss
        drives are waited for no more (`_first_word`): their marks go, the banner with
        them, and the trader is told."""
        accounts = sorted(a for a in self._awaiting if a[0] in self._started_since)
        if not accounts:
            return
        for account in accounts:
            del self._awaiting[account]
        projection = self.engine.projection
        for broker in sorted({broker for broker, _ in accounts}):
            if all(b != broker for b, _ in self._awaiting):
                projection.set_unsure(broker, None)
        self._say_started_since(accounts)
        self._show_waiting()

    def _say_started_since(self, accounts: list[Account]) -> None:
        names = ", ".join("/".join(account) for account in accounts)
        log.warning("watch.started_since_loss", extra={"accounts": names})
        self.alerts.append(
            Alert(
                STARTED_SINCE,
                f"the desk driving {names} started after Redis lost its journal (its "
                "broker connected since): it holds nothing from before the loss and has "
                "nothing to write back. This watching desk is not waiting for it: it shows "
                "what the journal holds now, as that desk does, and follows it.",
                "information",
            )
        )

    # -- a desk's write-back after a loss ----------------------------------------------------

    def _to_wait_for(
        self,
        known: list[Account],
        last_words: Mapping[str, BrokerStatus],
        applied: Mapping[str, str],
    ) -> dict[Account, str]:
        """The accounts whose desk's write-back a rebuild may have to wait for, with the
        first entry the loss took from each journal (`_Awaited.floor`): those waited for
        already, and those whose journal this loss took (`_lost`) while this desk showed
        something of it and its desk ran. A broker whose last word was DISCONNECTED has
        no desk to write anything back: what the journal holds now is what a desk started
        later shows too."""
        layout = self.bus.layout
        waited = {account: awaited.floor for account, awaited in self._awaiting.items()}
        for account in known:
            stream = layout.exec(*account)
            floor = self._lost.get(stream)
            if floor is None or stream not in applied:
                continue
            status = last_words.get(account[0])
            if status is not None and status.state is ConnectionState.DISCONNECTED:
                continue
            waited[account] = floor
        return waited

    async def _snapshots_seen(self, waited: Mapping[Account, str]) -> dict[Account, str]:
        """The newest snapshot entry of each account `waited` for, before the rebuild
        reads its snapshot ("": none): the one it loads is this one or newer. Redis out
        of reach is raised (the rebuild waits); a stream it refuses reads as none."""
        seen: dict[Account, str] = {}
        for account in sorted(waited):
            stream = self.bus.layout.snap(*account)
            try:
                info = await self.bus.info(stream)
            except BusUnavailableError:
                raise
            except BusError as exc:
                log.warning(
                    "watch.snapshot_not_looked_at", extra={"stream": stream, "error": str(exc)}
                )
                info = None
            seen[account] = (info.last_id or "") if info is not None else ""
        return seen

    async def _still_waiting(
        self, waited: Mapping[Account, str], seen: Mapping[Account, str]
    ) -> dict[Account, _Awaited]:
        """Those of `waited` whose desk's write-back the rebuild did not read: no
        snapshot, or one that does not cover the first entry the loss took (one from an
        older copy of the data). A snapshot after a loss of everything (the epoch) was
        written since by the desk that drives it, from what it holds in memory: what
        that desk shows."""
        still: dict[Account, _Awaited] = {}
        for account, floor in sorted(waited.items()):
            last = seen[account]
            if last and (not floor or await self._covers(account, last, floor)):
                continue
            still[account] = _Awaited(floor, last)
        if still:
            log.warning(
                "watch.waiting_write_back",
                extra={"accounts": ", ".join("/".join(a) for a in sorted(still))},
            )
        return still

    async def _covers(self, account: Account, entry_id: str, floor: str) -> bool:
        """Whether the snapshot at `entry_id` covers the journal up to `floor`."""
        stream = self.bus.layout.snap(*account)
        try:
            entries = await self.bus.read(stream, entry_id, entry_id)
        except BusUnavailableError:
            raise
        except BusError as exc:
            log.warning("watch.snapshot_not_looked_at", extra={"stream": stream, "error": str(exc)})
            return False
        for entry in entries:
            event = entry.event
            if isinstance(event, SnapshotEvent):
                return parse_id(event.payload.covers) >= parse_id(floor)
        return False

    def _look_for_write_backs(self) -> None:
        """While a desk's write-back is waited for (`_awaiting`): whether a snapshot of
        its account came since the last rebuild read (`_write_backs`), once a turn."""
        if not self._awaiting or not self.ready or not self.bus.stats.connected:
            return
        for task in (self._rebuilding, self._looking_back):
            if task is not None and not task.done():
                return
        task = asyncio.create_task(self._write_backs(), name="watch-write-backs")
        self._looking_back = task
        self._tasks[:] = [t for t in self._tasks if not t.done()]
        self._tasks.append(task)  # cancelled on close

    async def _write_backs(self) -> None:
        """A snapshot written since the last rebuild of an account waited for: the desk
        driving it wrote back what it holds (or wrote one since for another reason:
        either holds what that desk shows), and what this desk shows is rebuilt from it
        (`_still_waiting` judges it again). A look Redis does not answer is made again
        at the next turn."""
        found: list[Account] = []
        try:
            for account, awaited in sorted(self._awaiting.items()):
                info = await self.bus.info(self.bus.layout.snap(*account))
                last = info.last_id if info is not None else None
                if last and (not awaited.seen or parse_id(last) > parse_id(awaited.seen)):
                    found.append(account)
        except BusError as exc:
            log.warning("watch.write_backs_not_looked_at", extra={"error": str(exc)})
            return
        except Exception:  # looked at again at the next turn
            log.exception("watch.write_backs_look_failed")
            return
        running = self._rebuilding
        if not found or (running is not None and not running.done()):
            return
        log.info(
            "watch.write_back_found", extra={"accounts": ", ".join("/".join(a) for a in found)}
        )
        self._start_rebuild()

    def _carry_brokers(
        self, last_words: dict[str, BrokerStatus], silent: dict[str, int], unheard: frozenset[str]
    ) -> None:
        """After a rebuild: a broker the replayed health no longer names (a restart lost
        it; its desk has not written since, or is dead) keeps its last word for the
        silence check (`_gone`), and one marked silent before stays so, unless the
        replay heard it since: its desk is not heard from the more for Redis losing
        data, and its "not heard from" toast was said once already. So does a mark of
        this desk's own outage (`unheard`): it goes once the broker is heard, or turns
        into its desk's silence (`check_silent`); before, it went with the rebuild and
        a desk killed meanwhile read LIVE for the seconds a broker is given. Heartbeats
        after the replay's last health entry were written since it read
        (`_read_again_after`)."""
        projection = self.engine.projection
        self._gone = {n: s for n, s in last_words.items() if n not in projection.brokers}
        for name, since in silent.items():
            status = projection.brokers.get(name)
            if status is None or status.heard_ns <= since:
                projection.set_silent(name, since)
        self._unheard = {n for n in self._unheard | unheard if n in projection.silent}
        self._first_since.clear()
        if self._unheard and not self._bus_lost:
            self._read_again_after = self.engine.applied.get(self.bus.layout.health, "0-0")

    def _not_rebuilt(self, progress: RecoveryProgress, exc: Exception) -> None:
        """A rebuild that failed for another cause than Redis out of reach: the banner
        stays, saying so (`FAILED`), and a toast says what to do."""
        why = "; ".join(dict.fromkeys(self._rebuild_why))
        error = f"{type(exc).__name__}: {exc}"
        log.error("watch.not_rebuilt", extra={"why": why, "error": error}, exc_info=exc)
        progress.phase = StartPhase.FAILED
        progress.error = (
            f"the rebuild after Redis lost data failed ({error}): what this desk shows is "
            "not what the journal holds"
        )
        progress.replayed.set()
        self._rebuild_why = []
        self._carried = None  # (what was lost stays: the next rebuild answers it)
        self.alerts.append(
            Alert(
                "Watching: not rebuilt",
                f"{why}; this watching desk could not rebuild what it shows from the "
                f"journal ({error}): what it shows is not what the journal holds. Quit and "
                "start `silvertine watch` again.",
            )
        )

    async def _stop_readers(self) -> None:
        tasks = [*self._readers, *self._page_backs]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._readers.clear()
        self._kept.clear()

    def _fresh_engine(self) -> None:
        """A new engine, with nothing applied, whose projection is the one the UI holds,
        emptied (`DeskProjection.take_over`): what the old engine knew (orders, fills,
        the entries applied, a kill it pulled) is gone with it."""
        old = self.engine
        engine = TradingEngine(
            self.bus, [], self.settings.risk, window=finished_window(self.settings.engine)
        )
        projection = old.projection
        projection.take_over(engine.projection)
        engine.projection = projection
        engine.desk_name = old.desk_name
        engine.desk_id = old.desk_id
        engine.watching = True
        engine.anomalies.desk = old.anomalies.desk
        engine.send_guard = old.send_guard
        engine.retry_delays = old.retry_delays
        self.engine = engine
        self._quotes_from.clear()
        self._marks_before.clear()
        self._refresh_not_ready()

    def _after_restart(self) -> None:
        """Redis restarted (`BusStats.server_restarts`) and its bus found no loss: a
        passive bus knows only the epoch key, which an older copy of the data holds
        too. The journal entries this desk applied last are looked for
        (`_look_after_restart`), once this desk is up and reads the bus again."""
        stats = self.bus.stats
        if stats.server_restarts == self._restarts_seen:
            self._losses_seen = stats.data_loss_detected  # (a flush: its own rebuild)
            return
        looking = self._looking
        if not stats.connected or not self.ready or (looking is not None and not looking.done()):
            return
        restarts = stats.server_restarts
        if stats.data_loss_detected != self._losses_seen:  # found with it: rebuilt
            self._restarts_seen, self._losses_seen = restarts, stats.data_loss_detected
            return
        task = asyncio.create_task(self._look_after_restart(restarts), name="watch-look")
        task.add_done_callback(partial(self._look_done, restarts))
        self._looking = task
        self._tasks[:] = [t for t in self._tasks if not t.done()]
        self._tasks.append(task)  # cancelled on close

    def _look_done(self, restarts: int, task: asyncio.Task[None]) -> None:
        """A look after a restart that raised (not a `BusError`, which it takes: looked at
        again at the next turn): logged, and the trader told what this desk cannot tell,
        once; not looked at again for this restart (tried at every turn, a fault that
        stays would say it every second). Before, nothing looked at its end: it ended
        unsaid."""
        if task.cancelled():
            return
        error = task.exception()
        if not isinstance(error, Exception):
            return
        self._restarts_seen = restarts
        said = f"{type(error).__name__}: {error}"
        log.error("watch.restart_look_failed", extra={"error": said}, exc_info=error)
        self.alerts.append(
            Alert(
                "Watching: restart not looked at",
                f"Redis restarted, and this watching desk could not look whether the "
                f"journal still holds what it shows ({said}): a restart from an older copy "
                "of the data may have taken entries it shows. Quit and start `silvertine "
                "watch` again to show what the journal holds.",
                "warning",
            )
        )

    async def _look_after_restart(self, restarts: int) -> None:
        """Whether each journal still holds the entries this desk applied last
        (`KEPT_IDS`; those read since the restart are there too; not those a trim may
        have taken): one gone was lost with the restart (an older copy of the data
        loaded), and what this desk shows is rebuilt (`rebuild`). A look Redis does
        not answer is made again."""
        found: list[str] = []
        # A journal is trimmed behind its snapshot by age (`bus.journal_retention_s`):
        # an entry older than that may be gone with no loss.
        kept_from = self.clock() // 1_000_000 - self.settings.bus.journal_retention_s * 1000
        try:
            for stream, kept in sorted(self._kept.items()):
                ids = [entry_id for entry_id in kept if parse_id(entry_id)[0] >= kept_from]
                if not ids:
                    continue
                first, last = min(ids, key=parse_id), max(ids, key=parse_id)
                there = {entry.id for entry in await self.bus.read(stream, first, last)}
                gone = [entry_id for entry_id in ids if entry_id not in there]
                if not gone:
                    continue
                lost_from = min(gone, key=parse_id)
                floor = self._lost.get(stream)
                if floor is None or (floor and parse_id(lost_from) < parse_id(floor)):
                    self._lost[stream] = lost_from
                info = await self.bus.info(stream)
                ends = f"it ends at {info.last_generated_id}" if info else "it is gone"
                span = gone[0] if len(gone) == 1 else f"{gone[0]} to {gone[-1]}"
                found.append(
                    f"{stream} no longer holds what this desk had read there ({span}; {ends})"
                )
        except BusError as exc:
            log.warning("watch.restart_not_looked_at", extra={"error": str(exc)})
            return  # looked at again at the next turn (`_after_restart`)
        self._restarts_seen = restarts
        if not found:
            # (The bus logged the restart "no journaled data was lost": it cannot tell.)
            log.info("watch.restart_looked_at", extra={"lost": False})
            return
        why = "Redis restarted and lost data: " + "; ".join(found)
        log.error("watch.data_lost", extra={"reason": why, "epoch": False})
        await self.rebuild(why)

    async def _snapshot_unreadable(self, message: str) -> None:
        """A snapshot stream Redis refused to read (`recovery.newest_snapshot`): told to
        this desk's trader, never journaled (a watching desk writes nothing of its
        own; the Log line a trading desk writes would read as a driving desk's)."""
        self.alerts.append(
            Alert(
                "Watching: snapshot unreadable",
                message,
                "warning",
            )
        )

    async def close(self) -> None:
        """Stop reading and close the bus: nothing to cancel, snapshot or release."""
        if not self.started:
            return
        self.started = False
        self.ready = False
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        with contextlib.suppress(BusError):
            await self.bus.close()
        log.info("watch.closed")
