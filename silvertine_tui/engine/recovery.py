"""Start-up recovery, snapshots, and reconciliation against the venues.

On start: load each account's newest snapshot (one XREVRANGE COUNT 1), replay its
journal after the entry the snapshot covers, replay the risk stream (trading state),
then — once each broker is
connected — compare its reconcile report with what the journal says. Differences
are *published* as reconcile events (and the venue's own fills and status reports),
so they land in the journal and are shown to the trader; the engine applies them
like any other event. Nothing is ever sent to a venue here, so nothing is sent twice,
and no fill is made up: a fill is only ever one the venue reported. Once a broker's
reconcile is done, a cancel the journal held unanswered at the start that its venue
never took (the desk stopped first) is handed to the engine to make again
(`lost_requests`, `TradingEngine.owe_lost_cancels`); a modify so lost is said, never
sent again.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from functools import partial
from typing import NamedTuple

from ..brokers import Broker, JournalOrder, ReconcileReport
from ..bus import BusEntry, BusError, BusUnavailableError, EventBus
from ..bus.base import StreamInfo, parse_id, state_entry_after, waiting_of
from ..domain import (
    Fill,
    Instrument,
    Order,
    OrderStatus,
    OrderUpdate,
    Position,
    TimeInForce,
    VenueOrder,
    plain,
)
from ..domain.clock import DAY_NS
from ..domain.ids import short_id
from ..events import (
    BrokerProfile,
    BrokerProfileEvent,
    CancelRequest,
    CancelRequestEvent,
    EventBase,
    FillEvent,
    KeptFills,
    Log,
    LogEvent,
    LogLevel,
    ModifyRequest,
    ModifyRequestEvent,
    OrderSpan,
    OrderUpdateEvent,
    Reconcile,
    ReconcileEvent,
    ReconcileKind,
    Risk,
    RiskAction,
    RiskEvent,
    Snapshot,
    SnapshotEvent,
)
from ..events.summary import price_text, qty_text
from .anomalies import AnomalyKind
from .core import ENGINE_SOURCE, TradingEngine
from .oms import OrderView
from .order_history import belongs
from .snapshots import journal_gap, latest_snapshot, restore

log = logging.getLogger(__name__)


# -- snapshots ------------------------------------------------------------------------

EVICTED_LISTED = 1_000
"""Evicted orders a snapshot names (`Snapshot.evicted_ids`): the ones a late report may
still come for. About 20 KB; older ones' reports are parked as an unknown order's."""


def build_snapshot(engine: TradingEngine, broker: str, account: str) -> Snapshot | None:
    stream = engine.bus.layout.exec(broker, account)
    covers = engine.applied.get(stream)
    if covers is None:
        return None
    if (broker, account) in engine.portfolio.unplaced:
        # Asset fees wait for the broker's instruments (it has not connected yet): a
        # snapshot now would lose them. The next one, once they loaded, holds them.
        return None
    views = [v for v in engine.oms.orders.values() if (v.broker, v.account) == (broker, account)]
    positions = [
        Position(
            broker=s.broker,
            account=s.account,
            instrument=s.instrument,
            quantity=s.quantity,
            avg_price=s.avg_price,
            realized_pnl=s.realized_pnl,
            currency=s.currency,
            fees=dict(s.fees),
            fee_values=dict(s.fee_values),
        )
        for s in engine.portfolio.positions.values()
        if (s.broker, s.account) == (broker, account)
    ]
    portfolio = engine.portfolio
    balances = [b for key, b in portfolio.balances.items() if key[:2] == (broker, account)]
    minted_to, other_ids = engine.id_bound()
    seen_fills, seen_fees = portfolio.seen_ids(broker, account)
    return Snapshot(
        broker=broker,
        account=account,
        covers=covers,
        orders=tuple(v.order for v in views),
        spans=tuple(
            OrderSpan(
                client_order_id=v.client_order_id,
                created_ns=v.created_ns,
                first_entry=v.first_entry,
                last_entry=v.last_entry,
                finished_ns=engine.oms.finished_ns(v.client_order_id),
            )
            for v in views
        ),
        adopted=tuple(v.client_order_id for v in views if v.adopted),
        positions=tuple(positions),
        balances=tuple(balances),
        last_fills=tuple(engine.portfolio.last_fills.get((broker, account), {}).values()),
        same_time_fills={
            instrument: tuple(ids)
            for instrument, ids in engine.portfolio.same_time.get((broker, account), {}).items()
        },
        journal_start_ns=engine.journal_start.get((broker, account)),
        ids_minted_to_ms=minted_to,
        other_used_ids=other_ids,
        evicted_ids=engine.oms.evicted_last(broker, account, EVICTED_LISTED),
        kept_fills=tuple(
            KeptFills(
                instrument=s.instrument,
                before_older=s.before_older,
                older=tuple(s.older),
                before_recent=s.before_recent,
                recent=tuple(s.recent),
            )
            for s in engine.portfolio.positions.values()
            if (s.broker, s.account) == (broker, account) and s.before_recent is not None
        ),
        seen_exec_ids=tuple(seen_fills),
        seen_fee_ids=tuple(seen_fees),
        venue_positions=tuple(
            p for key, p in portfolio.venue_positions.items() if key[:2] == (broker, account)
        ),
    )


async def write_snapshot(engine: TradingEngine, broker: str, account: str) -> str | None:
    """Write the account's snapshot; its journal may then be trimmed by age up to the
    entry it covers (`EventBus.set_snapshot_floor`), unless the account's broker keeps
    its state only in that journal (`journal_kept_whole`)."""
    snapshot = build_snapshot(engine, broker, account)
    if snapshot is None:
        return None
    entry_id = await engine.bus.publish(SnapshotEvent.create(f"{broker}/{account}", snapshot))
    if entry_id is not None and not journal_kept_whole(engine, broker):
        await engine.bus.set_snapshot_floor(
            engine.bus.layout.exec(broker, account), snapshot.covers
        )
    return entry_id


def journal_kept_whole(engine: TradingEngine, broker: str) -> bool:
    """Whether `broker`'s journals are never trimmed: its venue is rebuilt from its
    journal alone (`Broker.state_in_journal`: the paper simulator, whose memory the
    journal is). The engine recovers from a snapshot and the entries after it, but the
    venue replays its journal from the first entry (`paper.journal`): trimmed behind a
    snapshot, a restart lost a GTC order resting since before the cut (the reconcile
    then cancelled it, "no longer open at the venue") and a position whose last
    report was cut (taken as 0 over the desk's, its cash still spent). The cost: such
    a journal grows with the account's history, and a restart reads all of it."""
    adapter = engine.brokers.get(broker)
    return adapter is not None and adapter.state_in_journal


# -- the risk stream's end ------------------------------------------------------------

CARRIED_STATE = "trading state {state} carried forward: older risk entries are trimmed"
CARRIED_AFTER_LOSS = "trading state {state} carried forward: Redis lost the risk stream"
TRIM_SLACK = 200


async def carry_trading_state(engine: TradingEngine, why: str) -> str | None:
    """Write the current trading state as the risk stream's newest entry.

    The state is replayed from that stream on start, so HALTED and REDUCE ONLY survive
    a restart only while the stream holds the entry that set them. `why` is the
    entry's message, formatted with `{state}`. Returns the entry id, or None when the
    entry was only buffered (Redis unreachable; it is written, in order, when Redis is
    back)."""
    return await engine.bus.publish(carried_state(engine, why))


def carried_state(engine: TradingEngine, why: str) -> RiskEvent:
    state = engine.gate.state
    return RiskEvent.create(
        ENGINE_SOURCE,
        Risk(action=RiskAction.STATE, trading_state=state, message=why.format(state=state)),
    )


async def trim_risk_stream(engine: TradingEngine, keep: int) -> int:
    """Keep the risk stream to about its newest `keep` entries without losing the state.

    The trading state is replayed from this stream on start (HALTED must survive a
    restart), and a burst of rejects could push the last state change out of any
    window. So, before trimming, the current state is written as a STATE entry: the
    newest entry then holds it, and a trim keeps at least the newest `keep`. The state
    is this engine's as of the entries it applied, so it is written only while the
    stream's newest entry is the last one applied, checked and written in one step
    (`publish_if_newest`): written after another desk's KILL or RESUME not read yet, it
    would undo it for every desk and every restart. Otherwise the trim waits for the
    next snapshot. Runs only
    once the stream is 10% (and at least `TRIM_SLACK`) over `keep`: a carried state
    every `keep / 10` entries at most, and never for what `MAXLEN ~` leaves over (whole
    nodes of up to 100 entries); and not while Redis is unreachable (the carried entry would only be
    buffered), nor while this desk holds a state the stream does not (`RiskGate.held_here`:
    carried, it would be every desk's). Returns the entries removed. Rejects trimmed away
    take their order ids with them: `id_used` then no longer knows those ids (fresh ids
    are unique anyway; the snapshots' id bound covers evicted orders, not refusals)."""
    if engine.gate.held_here:
        return 0  # trimmed once a state is journaled again
    bus = engine.bus
    stream = bus.layout.risk
    info = await bus.info(stream)
    if info is None or info.length <= keep + max(keep // 10, TRIM_SLACK):
        return 0
    read_to = engine.applied.get(stream)
    if read_to is None or read_to != info.last_id:
        return 0  # entries not applied yet: trim once they are
    if await bus.publish_if_newest(carried_state(engine, CARRIED_STATE), read_to) is None:
        return 0  # another entry came first (or writes wait for Redis): trim later
    removed = await bus.trim(stream, keep)
    log.info("recovery.risk_trimmed", extra={"removed": removed, "kept_at_least": keep})
    return removed


CARRIED_AFTER_TRIM = (
    "trading state {state} written back: the risk stream lost the entries setting it "
    "(an XTRIM or XDEL by another hand)"
)
RESTATE_TRIES = 50
"""`restate_trading_state`'s tries, each after the entries that came first are applied."""


class StateLoss(str):
    """Why the risk stream lost (`sure`) or may have lost the trading state
    (`trading_state_deleted`); "" when it holds it."""

    sure: bool

    def __new__(cls, said: str = "", *, sure: bool = False) -> StateLoss:
        loss = super().__new__(cls, said)
        loss.sure = sure
        return loss


def state_seen(bus: EventBus) -> str | None:
    """The newest risk entry setting the trading state `bus` wrote or read
    (`RedisBus.state_seen`); None on a bus that does not keep it (`memory://`, which
    keeps no last-run record either)."""
    seen = getattr(bus, "state_seen", None)
    return seen if isinstance(seen, str) else None


async def trading_state_deleted(bus: EventBus, seen: str | None = None) -> StateLoss:
    """Whether the risk stream lost the trading state: entries were deleted from it while
    its key stayed, and none setting the state is left after the newest one deleted
    (the newest an XDEL took, `StreamInfo.max_deleted_id`; a trim takes the oldest).
    "" when nothing was deleted, or an entry setting the state is left after them:
    whatever went before it, the state stands (a stream deleted whole is no stream:
    `RunRecorder.check` asks otherwise).

    Otherwise what was deleted cannot be read back to tell whether it set the state
    (an XDEL of one reject looks the same as one of a KILL): the answer says it may
    have (`StateLoss.sure` False), unless `seen`, the newest entry setting the state a
    run of this desk had read (its last-run record: "0-0" or None when it read none),
    is gone and nothing setting the state is left after it: that run's state was taken
    (`sure`). Every desk trims the stream only after writing the state as its newest
    entry (`trim_risk_stream`), so another hand's XTRIM or XDEL took it."""
    stream = bus.layout.risk
    info = await bus.info(stream)
    if info is None or not info.gone:
        return StateLoss()
    # Through `read_last`: its `BusError`s and its counting of bad entries, as any read.
    read_last = partial(bus.read_last, stream)
    if await state_entry_after(read_last, info.max_deleted_id) is not None:
        return StateLoss()
    where = (
        f"{stream} holds no entry setting the trading state after the entries deleted from "
        f"it ({info.gone} so far)"
    )
    if (
        seen is not None
        and parse_id(seen) > (0, 0)
        and not await bus.read(stream, seen, seen)
        and await state_entry_after(read_last, seen) is None
    ):
        return StateLoss(
            f"{where}, {seen} among them: the newest entry setting it that this host's last "
            "desk run had read. A desk trims the stream only after writing the state as its "
            "newest entry, so an XTRIM or XDEL by another hand took it",
            sure=True,
        )
    newest = info.max_deleted_id
    xdel = f", the newest an XDEL took {newest}" if parse_id(newest) > (0, 0) else ""
    return StateLoss(
        f"{where}{xdel}. What was deleted cannot be read back, so whether it set the "
        "trading state (a kill switch, REDUCE ONLY, a resume) or not (a reject) cannot be "
        "told: the trading state may have gone with it"
    )


async def restate_trading_state(engine: TradingEngine, why: str, *, reader: bool) -> str | None:
    """Write the engine's trading state back as the risk stream's newest entry, after
    the stream lost it (`trading_state_deleted`, `RedisBus._state_deleted`). Only while
    the stream holds no entry this engine has not applied (`publish_if_newest`): written
    after another desk's KILL or RESUME, it would undo it for every desk and every
    restart. When one came first, it is applied (by the engine's reader, `reader`; else
    replayed here) and the state looked at again: an entry setting it is there now
    (another desk wrote its own back), and nothing is written. `why` as for
    `carry_trading_state`. Returns the id written; None when nothing was (the state is
    there again, or Redis took nothing in `RESTATE_TRIES`: logged)."""
    bus = engine.bus
    risk = bus.layout.risk
    for _ in range(RESTATE_TRIES):
        written = await bus.publish_if_newest(
            carried_state(engine, why), engine.applied.get(risk, "0-0")
        )
        if written is not None:
            log.warning(
                "recovery.trading_state_written_back",
                extra={"state": str(engine.gate.state), "entry_id": written},
            )
            return written
        if not await trading_state_deleted(bus):
            return None  # an entry setting it is there again: applied as any other
        if reader:
            await engine.wait_changed(0.1)
        else:
            await replay_stream(engine, risk)
            await asyncio.sleep(0.05)
    log.error("recovery.trading_state_not_written_back", extra={"state": str(engine.gate.state)})
    return None


def load_snapshot(engine: TradingEngine, snapshot: Snapshot) -> None:
    restore(engine.projection, snapshot)
    if snapshot.journal_start_ns is not None:
        engine.journal_start[(snapshot.broker, snapshot.account)] = snapshot.journal_start_ns
    # The ids the snapshot no longer lists (orders evicted before it) stay refused.
    engine.load_id_bound(snapshot.ids_minted_to_ms, snapshot.other_used_ids)
    engine.oms.forget(snapshot.broker, snapshot.account, snapshot.evicted_ids, snapshot.covers)
    engine.applied[engine.bus.layout.exec(snapshot.broker, snapshot.account)] = snapshot.covers


# -- progress -------------------------------------------------------------------------

YIELD_EVERY = 500
"""Entries applied between two yields to the event loop during replay: the UI draws its
frames (and reads keys) while a large journal is replayed. About 10 ms of work at the
measured replay rate; the yields cost under 1% of the replay time."""


class StartPhase:
    """What the session is doing on start, in the words the trader reads."""

    OPENING = "opening the bus"
    CLAIMING = "waiting to claim the brokers"
    REPLAYING = "replaying the journal"
    CONNECTING = "connecting brokers and reconciling"
    READY = "ready"
    FAILED = "failed"


@dataclass(slots=True)
class RecoveryProgress:
    """How far start-up is: entries replayed of the total the streams held when it
    began, the rate, and the time left. Plain numbers the UI polls at frame time.

    `total` is the sum of the replayed streams' lengths: with a snapshot, only what
    follows it is replayed, so the total is an upper bound and the replay ends early.
    """

    clock: Callable[[], float] = time.monotonic
    phase: str = StartPhase.OPENING
    done: int = 0
    total: int = 0
    started_at: float = field(default=0.0)
    finished_at: float | None = None
    error: str = ""
    claim_wait_until: float = 0.0
    """`CLAIMING`: when (`clock`) the brokers are claimed (`BrokerClaims.take_deferred`)."""
    claim_wait_why: str = ""
    replayed: asyncio.Event = field(default_factory=asyncio.Event)
    """Set once the journals are replayed (or recovery failed): the desk then shows
    state worth reading."""

    def begin(self, total: int) -> None:
        self.phase = StartPhase.REPLAYING
        self.total = total
        self.done = 0
        self.started_at = self.clock()

    @property
    def elapsed(self) -> float:
        if not self.started_at:
            return 0.0
        end = self.finished_at if self.finished_at is not None else self.clock()
        return max(end - self.started_at, 0.0)

    @property
    def rate(self) -> float:
        """Entries applied per second so far (0 until there is something to divide)."""
        elapsed = self.elapsed
        return self.done / elapsed if elapsed > 0 and self.done else 0.0

    @property
    def eta(self) -> float | None:
        """Seconds left at the rate so far; None until the rate is known."""
        rate = self.rate
        if not rate:
            return None
        return max(self.total - self.done, 0) / rate

    @property
    def ready(self) -> bool:
        return self.phase == StartPhase.READY

    def text(self) -> str:
        """One line for the start-up banner."""
        if self.phase == StartPhase.FAILED:
            return f"start-up failed: {self.error}"
        if self.phase == StartPhase.CLAIMING:
            wait = max(self.claim_wait_until - self.clock(), 0.0)
            why = f": {self.claim_wait_why}" if self.claim_wait_why else ""
            return f"{self.phase}, {wait:.0f} s left{why}"
        if self.phase != StartPhase.REPLAYING:
            if self.phase == StartPhase.CONNECTING and self.done:
                return f"{self.phase} ({self.done:,} events replayed in {self.elapsed:.1f} s)"
            return self.phase
        eta = self.eta
        left = f", ~{eta:.0f} s left" if eta is not None else ""
        rate = f" at {self.rate:,.0f}/s" if self.rate else ""
        total = max(self.total, self.done)
        return f"recovering: {self.done:,} of {total:,} events{rate}{left}"


async def replay_stream(
    engine: TradingEngine, stream: str, progress: RecoveryProgress | None = None
) -> int:
    """Apply everything in `stream` after the last applied entry. Returns the count.

    Applies the entries `YIELD_EVERY` at a time (`TradingEngine.apply_entries`) and
    yields to the event loop between, so a long replay never holds the loop for long
    (a page of the replay is 5,000 entries: about 100 ms of work)."""
    count = 0
    apply = engine.apply_or_skip  # an entry that raises is skipped and counted
    sleep = asyncio.sleep
    batch: list[BusEntry] = []
    async for entry in engine.bus.replay(stream, after=engine.applied.get(stream, "0-0")):
        batch.append(entry)
        if len(batch) == YIELD_EVERY:
            apply(batch)
            batch = []
            count += YIELD_EVERY
            if progress is not None:
                progress.done += YIELD_EVERY
            await sleep(0)
    if batch:
        apply(batch)
        count += len(batch)
        if progress is not None:
            progress.done += len(batch)
    return count


async def recover(
    engine: TradingEngine,
    accounts: Iterable[tuple[str, str]],
    progress: RecoveryProgress | None = None,
    *,
    say: SnapshotNote | None = None,
) -> dict[str, int]:
    """Snapshot + journal replay for each (broker, account), then the risk stream.
    `progress` (optional) counts the entries applied, for the start-up banner; `say`
    tells a snapshot stream that could not be read (`newest_snapshot`).

    The cyclic garbage collector is paused meanwhile: replay creates hundreds of
    thousands of long-lived objects (orders and their audit trails), and collecting
    while they are young would scan them over and over for nothing (it halves the
    replay time). Nothing replayed is garbage, so nothing is lost by waiting.

    Afterwards what was replayed is frozen (`gc.freeze`) rather than handed back to the
    collector: its first passes over a recovered journal held the event loop for 0.2 to
    0.6 s each during connect and reconcile (60k events; seconds at 300k), with the UI
    already on screen. A collection before the replay (over the smaller heap of
    start-up) keeps garbage out of what is frozen; replay itself leaves a few dozen
    cyclic objects, which stay.
    """
    was_enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    engine.replaying = True  # what the journal holds was alerted when it happened
    # The whole desk is rebuilt: the first frame after redraws every row, so the replay
    # lists none (100k events would overflow the change set anyway).
    engine.projection.redraw_everything()
    quiet = _QuietLoggers(REPLAY_QUIET)
    try:
        replayed = await _recover(engine, accounts, progress, say)
        gc.freeze()
        return replayed
    finally:
        quiet.restore()
        engine.replaying = False
        engine.forget_disagreements()  # the reconcile that follows settles positions
        if was_enabled:
            gc.enable()
        if progress is not None:
            progress.replayed.set()


REPLAY_QUIET = ("silvertine_tui.engine.oms",)
"""Loggers held to WARNING during replay: the OMS logs every report it does not apply
(a duplicate, one after a terminal status) at INFO, which it did when the report
arrived. Logged again on every start, the lines doubled the replay time (60k events:
1.9 s -> 3.8 s, 24k lines written to the log file) and filled the log with history."""


class _QuietLoggers:
    def __init__(self, names: Iterable[str]) -> None:
        self.levels: dict[logging.Logger, int] = {}
        for name in names:
            logger = logging.getLogger(name)
            self.levels[logger] = logger.level
            if logger.getEffectiveLevel() < logging.WARNING:
                logger.setLevel(logging.WARNING)

    def restore(self) -> None:
        for logger, level in self.levels.items():
            logger.setLevel(level)


def _check_gap(engine: TradingEngine, stream: str, info: StreamInfo | None) -> None:
    """Say so when journal entries recovery needs were trimmed (`journal_gap`): the
    desk comes up short of what the journal held, where the replay skipped the gap
    without a word. With no snapshot, a journal that lost entries from its middle
    (`StreamInfo.deleted_within`) is said by `_say_deleted` alone: the entries gone
    are not its first ones, as `journal_gap` would count them."""
    covers = engine.applied.get(stream)
    if covers is None and info is not None and info.deleted_within:
        return
    why = journal_gap(covers, info)
    if not why:
        return
    message = (
        f"{stream}: {why}; orders, fills and positions may be short of what the journal "
        "held: check them against the venue (its reconcile shows what it holds)"
    )
    log.warning("recovery.journal_gap", extra={"stream": stream, "why": why})
    engine.anomalies.record(AnomalyKind.JOURNAL_GAP, message, replaying=False)


def journal_deleted(
    stream: str, covers: str | None, info: StreamInfo | None, simulator: str | None
) -> str:
    """What a journal that lost entries from its middle means (another hand's XDEL: a
    desk never deletes entries, `StreamInfo.deleted_within`), when this start replays
    across them: there is no snapshot (`covers` None), or the newest deleted is after
    the entry it covers. "" otherwise: a snapshot past them was written before the
    deletion (nothing the desk holds is lost), or by a desk that replayed the journal
    without them and said so as it started (or whose bus found the deletion as it
    ran, `RedisBus._deleted`, and wrote a snapshot at once). `simulator`: the venue
    rebuilt from this journal alone (`Broker.state_in_journal`, the paper venue),
    which lost them too."""
    if info is None or not info.deleted_within:
        return ""
    newest = info.max_deleted_id
    if covers is not None and parse_id(newest) <= parse_id(covers):
        return ""
    gone = f"{info.gone} entries" if info.gone != 1 else "1 entry"
    where = (
        f"after the entry {covers} the snapshot covers"
        if covers is not None
        else "and there is no snapshot"
    )
    said = (
        f"{stream} lost entries from its middle, found as this desk starts: the newest "
        f"deleted is {newest}, after its first entry {info.first_id} (a trim takes only "
        f"the oldest), {where}; {gone} gone from it in all. A desk never deletes "
        "journal entries: another hand's XDEL took them, and what they held cannot be "
        "read back. An order event or a fill may be missing, so orders, positions, "
        "realized P&L and fees may be short of what was journaled, and differences the "
        "reconcile finds next may come from it"
    )
    if simulator is not None:
        return (
            f"{said}. The paper venue {simulator} is a simulator rebuilt from this journal "
            "alone: it lost them too, and has no other record of them to check (the "
            "reconcile takes what it holds now; nothing is made up)"
        )
    return f"{said}: check the orders and fills at the venue"


async def _say_deleted(
    engine: TradingEngine,
    broker: str,
    account: str,
    info: StreamInfo | None,
    say: SnapshotNote | None,
) -> None:
    """Say once, at start, that the account's journal lost entries from its middle
    (`journal_deleted`): an ERROR Log line on the bus, which the desk shows as a toast.
    Found before the journal is replayed; the replay itself skips the entries gone
    without a word. A watching desk (`say` given: it writes nothing of its own) only
    logs it: the driving desk that starts says it on the bus."""
    stream = engine.bus.layout.exec(broker, account)
    simulator = f"{broker}/{account}" if journal_kept_whole(engine, broker) else None
    said = journal_deleted(stream, engine.applied.get(stream), info, simulator)
    if not said:
        return
    assert info is not None
    log.error(
        "recovery.journal_deleted",
        extra={"stream": stream, "max_deleted_id": info.max_deleted_id, "gone": info.gone},
    )
    if say is not None:
        return
    try:
        await engine.bus.publish(
            LogEvent.create(ENGINE_SOURCE, Log(message=said, level=LogLevel.ERROR))
        )
    except BusError as error:  # the log keeps it
        log.error("recovery.journal_deleted_not_said", extra={"error": str(error)})


PROFILE_LOOKBACK = 1_000
"""Health entries read back first for the brokers' profiles (the engine publishes each
again every half `health_maxlen`): all of the capped stream only if some is not there."""


async def load_profiles(engine: TradingEngine, brokers: Iterable[str]) -> None:
    """The brokers' newest profiles on the health stream, before their journals are
    replayed: their instruments, so a future's reducing fills realize P&L at its
    multiplier. Replayed before them, the fills realized at a multiplier of 1 (a
    restart showed an ES future's 500.00 as 10.00), and the broker's instruments loading
    on connect changed the multiplier of what came after, never what was realized.
    A health key Redis refuses to read (one of another type) holds none: health is no
    journal, and the start goes on (the engine's reader sets the key aside and the bus
    says so); the brokers publish their profiles as they connect."""
    wanted = {name for name in brokers if name not in engine.profiles}
    stream = engine.bus.layout.health
    found: dict[str, BrokerProfile] = {}
    for count in (PROFILE_LOOKBACK, engine.bus.options.health_maxlen):
        if found.keys() >= wanted:
            break
        try:
            newest = await engine.bus.read_last(stream, count)
        except BusUnavailableError:
            raise
        except BusError as exc:
            log.error("recovery.profiles_unreadable", extra={"stream": stream, "error": str(exc)})
            break
        for entry in newest:  # newest first
            event = entry.event
            if isinstance(event, BrokerProfileEvent) and event.payload.broker in wanted:
                found.setdefault(event.payload.broker, event.payload)
    for profile in found.values():
        engine.projection.apply_profile(profile)


SnapshotNote = Callable[[str], Awaitable[None]]
"""How a desk tells that a snapshot stream could not be read (`newest_snapshot`): a
trading desk journals a WARNING Log line (`_log_line`); a watching desk, which writes
nothing of its own, tells its trader (engine/watch.py)."""


async def newest_snapshot(
    engine: TradingEngine, broker: str, account: str, say: SnapshotNote | None = None
) -> Snapshot | None:
    """`latest_snapshot`, or None when Redis refuses reading the snapshot stream (a key
    of another type there: something other than a desk wrote it). A snapshot only
    shortens the replay: the journal is replayed from its start, and the trader is
    told (`say`, by default a WARNING Log line on the bus), the key named with what to
    do. A journal trimmed past what a snapshot would have covered is said as the gap it
    is (`_check_gap`: no snapshot, entries trimmed). Redis out of reach is raised, as
    for every read of the start."""
    try:
        return await latest_snapshot(engine.bus, broker, account)
    except BusUnavailableError:
        raise
    except BusError as exc:
        stream = engine.bus.layout.snap(broker, account)
        message = (
            f"the snapshots of {broker}/{account} could not be read, so this desk starts "
            "from the journal alone (a snapshot only shortens the replay; a journal "
            f"trimmed behind it is said as a gap): {exc}"
        )
        log.warning("recovery.snapshot_unreadable", extra={"stream": stream, "error": str(exc)})
        if say is None:
            await _log_line(engine, message)
        else:
            await say(message)
        return None


async def _log_line(engine: TradingEngine, message: str) -> None:
    """`message` as the engine's WARNING Log line on the bus; a refusal is logged."""
    try:
        await engine.bus.publish(
            LogEvent.create(ENGINE_SOURCE, Log(message=message, level=LogLevel.WARNING))
        )
    except BusError as error:  # the health key may be refused too: the log keeps it
        log.error("recovery.snapshot_unreadable_not_said", extra={"error": str(error)})


async def _recover(
    engine: TradingEngine,
    accounts: Iterable[tuple[str, str]],
    progress: RecoveryProgress | None,
    say: SnapshotNote | None,
) -> dict[str, int]:
    accounts = list(accounts)
    layout = engine.bus.layout
    streams = [layout.exec(broker, account) for broker, account in accounts]
    # One XINFO a journal: the progress's total and the gap check (`_check_gap`).
    infos = {stream: await engine.bus.info(stream) for stream in streams}
    if progress is not None:
        risk = await engine.bus.info(layout.risk)
        progress.begin(sum(i.length for i in (*infos.values(), risk) if i is not None))
    replayed: dict[str, int] = {}
    await load_profiles(engine, {broker for broker, _ in accounts})
    for (broker, account), stream in zip(accounts, streams, strict=True):
        snapshot = await newest_snapshot(engine, broker, account, say)
        if snapshot is not None:
            load_snapshot(engine, snapshot)
        _check_gap(engine, stream, infos[stream])
        await _say_deleted(engine, broker, account, infos[stream], say)
        replayed[stream] = await replay_stream(engine, stream, progress)
    replayed[layout.risk] = await replay_stream(engine, layout.risk, progress)
    for broker, account in accounts:
        asked = unanswered_requests(engine, broker, account)
        if asked:
            engine.unanswered[broker] = asked
    if progress is not None:
        progress.finished_at = progress.clock()
    log.info("recovery.replayed", extra={"streams": replayed})
    return replayed


# -- reconciliation -------------------------------------------------------------------


END_NOT_LISTED = (
    "no longer open at the venue (found on reconcile), which does not list how it ended: "
    "no fill of it is known, so it ends cancelled here; if it may have filled, check it "
    "at the venue (the position is taken from the venue)"
)
"""Why a working order the venue neither lists open nor as ended is ended CANCELED:
nothing else is known of it (a terminal status is for good, and the state machine has
no word for an end not known), and the words say so (`end_not_listed`)."""

END_NOT_LISTED_PART = (
    "no longer open at the venue (found on reconcile), which does not list how it ended: "
    "no fill beyond the {filled} journaled is known, so it ends cancelled here with "
    "{filled} of {quantity} filled; if more of it may have filled, check it at the venue "
    "(the position is taken from the venue)"
)
"""`END_NOT_LISTED` for an order part filled (PARTIALLY_FILLED 0.3/1): its fills are
known, what came after them is not."""


def end_not_listed(order: Order) -> str:
    """Why `order`, working, ends CANCELED when the venue lists it nowhere: no fill of it
    is known, or none beyond those journaled (before, an order the journal held 0.3 of
    1 filled read "no fill of it is known" too)."""
    if not order.filled_qty:
        return END_NOT_LISTED
    return END_NOT_LISTED_PART.format(
        filled=plain(order.filled_qty), quantity=plain(order.quantity)
    )


NEVER_REACHED = "not found at the venue when the desk read its orders again: it never reached it"
"""Why an order the venue never acknowledged (PENDING_NEW), listed nowhere at a
reconcile, is REJECTED. The reconcile runs after a restart and after a reconnect alike:
it said "after a restart" when the venue had only stopped answering for a while."""


END_UNREAD = (
    "not open at the venue, which could not be asked how it ended (its listing of ended "
    "orders failed): left as it is, not taken for cancelled; the next reconcile asks "
    "again (check the order at the venue meanwhile)"
)
"""A working order the venue no longer lists open whose end it could not tell now
(`ReconcileReport.ends_unknown`)."""


async def _take_venue_end(
    engine: TradingEngine,
    broker: Broker,
    view: OrderView,
    venue: VenueOrder,
    publish: Callable[[Reconcile], Awaitable[None]],
) -> None:
    """A working order the venue lists as ended (`ReconcileReport.ended_orders`: IB's
    completed orders) ends as the venue says, its filled quantity and average with it:
    FILLED, or CANCELED with what filled. Its fills the journal lacked were journaled as
    the venue's before (step 3); a FILLED whose fills the venue did not list is owed
    (`Order.owed_qty`) until the position taken from the venue holds them. Journaled
    CANCELED "no longer open at the venue", an adopted order TWS had filled while the
    desk did not follow it read cancelled with nothing filled while the position moved."""
    order = view.order
    await publish(
        Reconcile(
            kind=ReconcileKind.STATUS_MISMATCH,
            instrument=order.request.instrument,
            client_order_id=view.client_order_id,
            ours=_describe(order),
            venue=_describe_venue(venue, {}),
            detail=f"no longer open at the venue, which lists it {venue.status}: taken",
        )
    )
    end = OrderUpdate(
        client_order_id=view.client_order_id,
        status=venue.status,
        venue_order_id=venue.venue_order_id,
        filled_qty=venue.filled_qty,
        avg_price=venue.avg_price,
        reason=f"{venue.status} at the venue (its ended orders, found on reconcile)",
    )
    await engine.bus.publish(OrderUpdateEvent.create(broker.source, end))
    broker.update_journaled(end)


REOPENED = (
    "{status} here, but the venue still holds it open{unasked}: re-opened as the venue "
    "holds it (it shows working, and a cancel or the kill switch reaches it); what ended "
    "it here was wrong: check the order and its fills at the venue"
)
"""Why an order that ended here works again (`_reopen`): the reconcile's detail and
the order's reason."""

REOPENED_EVICTED = (
    "ended here and left memory (beyond the window of finished orders kept), but the "
    "venue still holds it open{unasked}: taken again as the venue holds it (it shows "
    "working, and a cancel or the kill switch reaches it; its earlier events are in the "
    "journal); what ended it here was wrong: check the order and its fills at the venue"
)
"""`REOPENED` for an order no longer in memory (`OMS.evicted_from`): the OMS takes it
again from the venue's order (`OMS._take_again`)."""

EVICTED_OURS = "ended, out of memory"
"""What the journal's side of such an order says (its state left memory)."""

NOT_REOPENED = (
    "ended here, but the venue listed it open; not re-opened: {why}; the next reconcile "
    "asks again (check the order at the venue meanwhile)"
)
"""A re-opening given up (`_reopen`): said, so the trader knows of the venue's order."""

REPORTED_AFTER_ANSWERS = (
    "a report of it the venue's answer may not hold (its end or other terms; any report "
    "of an order out of memory) reached the journal after each of the venue's {asks} "
    "answers, so which came last is not known"
)
NOT_IN_ORDER = (
    "the journal took other entries first each time (or writes wait for Redis), so the "
    "re-opening could not be written right after what was checked"
)

REOPEN_ASKS = 3
"""Times the venue is asked about an order to re-open while a report of the order that
its answer may not hold (`_overtakes`) reaches the journal after each answer
(`_reopen`)."""

REOPEN_WRITES = 40
REOPEN_WRITE_PAUSE_S = 0.05
"""Tries to write a re-opening as the journal's next entry (`_write_in_order`), and the
pause after a try the journal refused with no new entry in it (writes wait for Redis)."""

READ_PAGE = 1_000


async def _reopen(
    engine: TradingEngine,
    broker: Broker,
    cid: str,
    view: OrderView | None,
    listed: VenueOrder,
    found: list[Reconcile],
) -> None:
    """An order that ended here (FILLED, CANCELED, ...; `view`, None when it left
    memory) that the venue lists open: a report ended it wrongly (a venue's FILLED for
    more than the order, which it then listed NEW with the funds locked), or the
    listing is older than the end (a fill or a cancel reported between the listing and
    this comparison). The venue is asked again (`query_order`): still open, the order
    is re-opened at its word, as an explicit correction journaled as the reconcile's
    own event (`Reconcile.venue_order`, which the OMS takes: `Order.reopen`, or for an
    order out of memory `OMS._take_again`), and said (`reopened`); ended there too, the
    listing was behind and nothing differs. Asked and not answered, the listing's word
    is taken: an order the venue may work is shown and can be cancelled, rather than
    left ended on the desk, out of the working list, its cancel refused ("nothing to
    cancel"): the desk dropped the venue's NEW as a report after the end.

    The re-opening never overrides a report of the order newer than the venue's answer:
    it is written as the journal's next entry after the ones checked (`_write_in_order`,
    `publish_if_newest`), and a report among them that the answer may not hold
    (`_overtakes`: its CANCELED or FILLED journaled while the question was out, dropped
    as a report after the end, or other terms) has the venue asked again. Before, that
    report was dropped and the re-opening applied after it: the desk showed working an
    order the venue no longer had. A report that neither ends the order nor moves its
    terms (a partial fill, its commission, a NEW or PARTIALLY_FILLED) is no reason to
    ask again: the re-opening is written after it and the order keeps the fills
    (`Order.reopen`). Before, any report did, and an order filling in pieces while
    asked was given up after `REOPEN_ASKS` answers, ended here until the next
    reconcile. An order out of memory is taken at the answer's count and its reports
    are dropped (`OMS._take_again`): any report of it has the venue asked again. The
    journal holds the re-opening after everything it was decided on, so a replay ends
    the same."""
    stream = engine.bus.layout.exec(broker.name, broker.account)
    after = engine.applied.get(stream, "0-0")  # the journal as far as read before asking
    why = REPORTED_AFTER_ANSWERS.format(asks=REOPEN_ASKS)
    for _ in range(REOPEN_ASKS):
        venue, unasked = await _ask_again(broker, cid, listed)
        if venue is None or venue.status.is_terminal:
            log.info(
                "recovery.listing_behind",
                extra={"broker": broker.source, "client_order_id": cid},
            )
            return
        rec = _reopening(cid, view, venue, unasked)
        event = ReconcileEvent.create(broker.source, rec)
        # (out of memory now: left the window while asked, its reports dropped since)
        evicted = view is None or engine.oms.get(cid) is None
        written, after = await _write_in_order(
            engine.bus, stream, cid, event, after, evicted=evicted
        )
        if written is None:
            why = NOT_IN_ORDER
            break
        if written:
            found.append(rec)
            _say_reopened(engine, broker, cid, rec, evicted=view is None)
            # The adapter hears of it as of any status the reconcile took, with the
            # venue's own count (one that holds the order ended, on the report that
            # ended it, may then follow it again: its cancel, its fills and its end).
            broker.update_journaled(venue.status_update(rec.detail))
            return
        log.info(
            "recovery.reported_while_asked",
            extra={"broker": broker.source, "client_order_id": cid},
        )
    log.warning(
        "recovery.not_reopened",
        extra={"broker": broker.source, "client_order_id": cid, "why": why},
    )
    rec = Reconcile(
        kind=ReconcileKind.STATUS_MISMATCH,
        instrument=listed.instrument,
        client_order_id=cid,
        ours=_describe(view.order) if view is not None else EVICTED_OURS,
        venue=_describe_venue(listed, {}),
        detail=NOT_REOPENED.format(why=why),
    )
    found.append(rec)
    await engine.bus.publish(ReconcileEvent.create(broker.source, rec))


async def _ask_again(broker: Broker, cid: str, listed: VenueOrder) -> tuple[VenueOrder | None, str]:
    """The venue's answer on the order now (with ""); not answered, its listing, with
    why (said in the re-opening's detail)."""
    try:
        return await broker.query_order(cid), ""
    except Exception as exc:
        log.warning(
            "recovery.reopen_unconfirmed",
            extra={"broker": broker.source, "client_order_id": cid, "error": str(exc)},
        )
        return listed, (
            f" (its listing; asked again, it did not answer: {type(exc).__name__}: {exc})"
        )


def _reopening(cid: str, view: OrderView | None, venue: VenueOrder, unasked: str) -> Reconcile:
    """The reconcile's correction re-opening the order at the venue's word."""
    if view is None:
        ours = EVICTED_OURS
        detail = REOPENED_EVICTED.format(unasked=unasked)
    else:
        ours = _describe(view.order)
        detail = REOPENED.format(status=view.order.status, unasked=unasked)
    return Reconcile(
        kind=ReconcileKind.STATUS_MISMATCH,
        instrument=view.order.request.instrument if view is not None else venue.instrument,
        client_order_id=cid,
        ours=ours,
        venue=_describe_venue(venue, {}),
        detail=detail,
        venue_order=venue,
    )


def _say_reopened(
    engine: TradingEngine, broker: Broker, cid: str, rec: Reconcile, *, evicted: bool
) -> None:
    """The `reopened` anomaly, once the re-opening is journaled."""
    was = "had ended here and left memory" if evicted else f"was {rec.ours} here"
    again = "taken again from the venue" if evicted else "re-opened"
    message = (
        f"{broker.source}: order {cid} {rec.instrument} {was}, but the venue still holds "
        f"it {rec.venue}: {again}, so it shows working and can be cancelled; check the "
        "order and its fills at the venue"
    )
    log.warning("engine.anomaly", extra={"kind": AnomalyKind.REOPENED, "detail": message})
    engine.anomalies.record(AnomalyKind.REOPENED, message, replaying=False)


def _say_gone(engine: TradingEngine, broker: Broker, view: OrderView) -> None:
    """The `order_gone` anomaly (a toast, a count in Health): an order working here that
    the venue lists nowhere, open or ended, was ended CANCELED by the reconcile. Said
    only by a RECON line and its CANCELED before, orders the trader had working left
    the Orders pane with no toast (the IB drill: TWS restarted wiped, 2 orders gone)."""
    order = view.order
    request = order.request
    if request.tif is TimeInForce.DAY and 0 < view.created_ns // DAY_NS < broker.clock() // DAY_NS:
        # A DAY order of an earlier (UTC) day: its day ended, and TWS on a new trading
        # day lists neither it nor its expiry. The RECON line and its CANCELED say it;
        # an alarm every such morning would teach the trader to ignore the alarm.
        log.info(
            "recovery.day_order_gone",
            extra={"broker": broker.source, "client_order_id": view.client_order_id},
        )
        return
    inst = engine.instrument(broker.name, request.instrument)
    price = f" @ {price_text(order.limit_price, inst)}" if order.limit_price is not None else ""
    filled = f", {plain(order.filled_qty)} filled" if order.filled_qty else ""
    message = (
        f"{broker.source}: order {short_id(view.client_order_id)} {request.side} "
        f"{plain(order.quantity)} {request.instrument}{price}{filled} was working here; the "
        "venue lists it neither open nor ended: ended CANCELED here, as no fill beyond the "
        "journal's is known; check it at the venue (it may have filled)"
    )
    log.warning("engine.anomaly", extra={"kind": AnomalyKind.ORDER_GONE, "detail": message})
    engine.anomalies.record(AnomalyKind.ORDER_GONE, message, replaying=False)


async def _write_in_order(
    bus: EventBus,
    stream: str,
    cid: str,
    event: ReconcileEvent,
    after: str,
    *,
    evicted: bool,
) -> tuple[bool | None, str]:
    """Write `event`, the re-opening of order `cid` at the venue's answer it carries,
    as `stream`'s next entry after `after` and the entries that came after it, none of
    them a report of the order the answer may not hold (`_overtakes`; `evicted`: the
    order is out of memory): True. False when one is (it reached the journal after the
    venue answered: the venue is asked again); None when the journal took other
    entries first every try, or writes wait for Redis (`REOPEN_WRITES`). With the
    entry id read up to: the next check starts there."""
    venue = event.payload.venue_order
    assert venue is not None  # (a re-opening carries the venue's order)
    for _ in range(REOPEN_WRITES):
        new = reported = False
        while True:  # what came after `after`, in pages
            entries = await bus.read(stream, f"({after}", "+", READ_PAGE)
            for entry in entries:
                event_read = entry.event
                if isinstance(event_read, EventBase) and _overtakes(
                    event_read, cid, venue, evicted=evicted
                ):
                    reported = True
            if entries:
                after, new = entries[-1].id, True
            if len(entries) < READ_PAGE:
                break
        if reported:
            return False, after
        if await bus.publish_if_newest(event, after) is not None:
            return True, after
        if not new:  # refused with nothing new to read: writes wait for Redis
            await asyncio.sleep(REOPEN_WRITE_PAUSE_S)
    return None, after


def _overtakes(read: EventBase, cid: str, venue: VenueOrder, *, evicted: bool) -> bool:
    """Whether `read`, an entry journaled after the venue's answer `venue` on order
    `cid` to re-open, may be newer than the answer: the venue is then asked again.

    Of an order in memory, a status report that ends it (FILLED, CANCELED, REJECTED,
    EXPIRED: the OMS drops it after the end here, and the re-opening would undo it) or
    that brings terms the answer does not hold (another venue order id, quantity,
    price, stop or trigger: the re-opening would take the answer's older ones). Its
    fills and their corrections, the other statuses (a NEW, a PARTIALLY_FILLED), and
    requests are not: the re-opening, written after them, keeps the fills the order
    counted and works on at the answer's status, which they do not contradict. Of an
    order out of memory (`evicted`), any of its events: the OMS drops them
    (`EVICTED`) and takes the order at the answer's count (`OMS._take_again`), so the
    answer must be newer than every report of it."""
    if evicted:
        return belongs(read, cid)
    if not isinstance(read, OrderUpdateEvent) or read.payload.client_order_id != cid:
        return False
    update = read.payload
    if update.status.is_terminal:
        return True
    said = update.triggered
    return (
        (update.venue_order_id is not None and update.venue_order_id != venue.venue_order_id)
        or (update.quantity is not None and 0 < venue.quantity != update.quantity)
        or (update.limit_price is not None and update.limit_price != venue.limit_price)
        or (update.stop_price is not None and update.stop_price != venue.stop_price)
        or (said is not None and said != bool(venue.triggered))
    )


TRIGGER_FOUND = "stop triggered at the venue while the desk was away (found on reconcile)"
"""The reason of the trigger a reconcile journals (`_take_venue_trigger`)."""


async def _take_venue_trigger(
    engine: TradingEngine, broker: Broker, cid: str, venue: VenueOrder
) -> None:
    """A stop open at both ends, at the same status and terms, that the venue lists
    triggered (`VenueOrder.triggered`: Binance's `isWorking`) and the journal holds
    waiting: it triggered while the desk was down, its trigger report lost. Journaled
    as the venue's report of it (the status it has, `triggered`, said why): once, as the
    order reads triggered from then. Left out, the desk read it waiting (no `trg`, its
    Stop open to a change the venue refuses) until it filled or the user stream
    reconnected."""
    taken = OrderUpdate(
        client_order_id=cid,
        status=venue.status,
        venue_order_id=venue.venue_order_id,
        reason=TRIGGER_FOUND,
        triggered=True,
    )
    await engine.bus.publish(OrderUpdateEvent.create(broker.source, taken))
    broker.update_journaled(taken)


def _describe(order: Order, terms: Mapping[str, Decimal] | None = None) -> str:
    text = f"{order.status} {plain(order.filled_qty)}/{plain(order.quantity)}"
    if order.overfill is not None:  # the fills reported past its size: said, not hidden
        text += f" ({plain(order.reported_qty)} reported: an overfill)"
    return text + _prices(order.limit_price, order.stop_price, terms)


def _describe_venue(venue: VenueOrder, terms: Mapping[str, Decimal]) -> str:
    text = f"{venue.status} {plain(venue.filled_qty)}/{plain(venue.quantity)}"
    return text + _prices(venue.limit_price, venue.stop_price, terms)


def _prices(
    limit: Decimal | None, stop: Decimal | None, terms: Mapping[str, Decimal] | None
) -> str:
    """The prices, when they are what differs (a quantity is in the text already)."""
    if not terms or not ({"limit_price", "stop_price"} & terms.keys()):
        return ""
    text = f" @ {plain(limit)}" if limit is not None else ""
    return text + (f" stop {plain(stop)}" if stop is not None else "")


def _terms_moved(order: Order, venue: VenueOrder) -> dict[str, Decimal]:
    """The venue's terms where they differ from the journal's (an order moved while the
    desk was away, or whose modify's answer the journal never got): the venue wins, by
    the rule the order takes terms by (a quantity only for an order by quantity and
    never below what the journal has filled: the venue's fills come as fills)."""
    return order.changed_terms(
        quantity=venue.quantity if venue.quantity > 0 else None,
        limit_price=venue.limit_price,
        stop_price=venue.stop_price,
    )


def before_fills(venue: VenueOrder, fills: list[Fill]) -> VenueOrder:
    """The venue's order as it stood before `fills` (the ones the journal missed), so
    that adopting it and then applying them ends where the venue is."""
    if not fills:
        return venue
    taken = sum((f.quantity for f in fills), Decimal(0))
    before = max(venue.filled_qty - taken, Decimal(0))
    avg: Decimal | None = None
    if before > 0 and venue.avg_price is not None:
        spent = sum((f.quantity * f.price for f in fills), Decimal(0))
        avg = (venue.avg_price * venue.filled_qty - spent) / before
        if avg <= 0:  # the venue's average and its fills disagree: no average is made up
            avg = None
    status = venue.status
    if before == 0 and status is OrderStatus.PARTIALLY_FILLED:
        status = OrderStatus.NEW
    return venue.model_copy(update={"filled_qty": before, "avg_price": avg, "status": status})


def journal_order(view: OrderView) -> JournalOrder:
    """A working order as the journal holds it, with what filled under each of its
    venue order ids: for a replaced order from its fills, kept in its history while it
    works (none when they left memory: an order loaded from a snapshot); for one never
    replaced, all it filled (an adopted order's fills from before the journal too, which
    the journal holds as no fill) under its one venue order."""
    order = view.order
    by_venue: dict[str, tuple[Decimal, Decimal]] = {}
    if not order.retired_venue_ids and order.venue_order_id:
        spent = (order.avg_price or Decimal(0)) * order.filled_qty
        by_venue[order.venue_order_id] = (order.filled_qty, spent)
    elif not view.history_dropped:
        for event in view.history:
            if isinstance(event, FillEvent):
                fill = event.payload
                venue_id = fill.venue_order_id or ""
                qty, quote = by_venue.get(venue_id, (Decimal(0), Decimal(0)))
                by_venue[venue_id] = (qty + fill.quantity, quote + fill.quantity * fill.price)
    return JournalOrder(
        client_order_id=view.client_order_id,
        quantity=order.quantity,
        filled_qty=order.filled_qty,
        venue_order_id=order.venue_order_id,
        retired_venue_ids=frozenset(order.retired_venue_ids),
        filled_by_venue_id=by_venue,
        avg_price=order.avg_price,
        exec_ids=frozenset(order.exec_ids),
    )


def tell_working(engine: TradingEngine, broker: Broker) -> None:
    """Tell `broker` the journal's working orders of its account and what filled under
    each of their venue order ids (`Broker.journal_working`). A modify by cancel-replace
    retires the venue order the fills were made under; an adapter that met the order
    only in the venue's listing (a restart, an adoption) counted none of them as that
    venue order's, and the modify's answer (the order's totals) read as an older report
    and was never journaled. Told of every working order (with no fill too), the
    adapter can tell the venue's fills the journal does not hold yet."""
    account = (broker.name, broker.account)
    broker.journal_working([journal_order(v) for v in engine.oms.working(*account)])


MISMATCH = "position taken from the venue; no fill was made up"
"""Why a POSITION_MISMATCH took the venue's quantity."""
MISMATCH_SIMULATOR = (
    "position taken from the paper venue, a simulator rebuilt from this journal alone: no "
    "fill was made up, and it has no fills but the journal's to check"
)
"""`MISMATCH` on a venue whose memory is the journal (`Broker.state_in_journal`): a
venue's fills to check are a live venue's."""


JOURNAL_LOOK_S = 0.05
"""How often a reconcile waiting for this desk's own events (`journal_read_back`) looks
at what its bus holds of them."""


class JournalBehind(BusUnavailableError):
    """A reconcile not run: this desk's own events of the account still wait in its
    bus's memory for Redis (`journal_read_back`), and a reconcile compares the venue
    with the journal as the engine has read it."""


def own_events_waiting(engine: TradingEngine, broker: Broker) -> tuple[int, int]:
    """Of `broker`'s account journal, how many of this desk's events wait in its bus's
    memory for Redis, and how many the bus wrote from there that the engine has not
    read back yet (`bus.base.waiting_of` with the engine's `applied`): what a reconcile
    waits for (`journal_read_back`)."""
    return _own_waiting(engine, engine.bus.layout.exec(broker.name, broker.account))


def _own_waiting(engine: TradingEngine, stream: str) -> tuple[int, int]:
    held = reading = 0
    for waiting in waiting_of(engine.bus, engine.applied):
        if waiting.stream == stream:
            if waiting.entry_id:
                reading += 1
            else:
                held += 1
    return held, reading


async def journal_read_back(engine: TradingEngine, broker: Broker) -> None:
    """Wait until nothing of `broker`'s account waits in this desk's memory for Redis,
    and read back what the bus wrote of it (`catch_up`): a reconcile compares the venue
    with the journal as the engine has read it, and one run on the state before this
    desk's own events (a kill switch pulled with Redis stalled: the venue's fill, the
    order's cancel, all in the outage memory) journaled the fill again as MISSED_FILL
    and the order's end as a STATUS_MISMATCH from NEW 0/7, after the events themselves
    once Redis took them. Waits at most `engine.journal_wait_s`, saying why in the log;
    then raises `JournalBehind` (the reconcile is not run: its findings would be false)."""
    stream = engine.bus.layout.exec(broker.name, broker.account)
    held, reading = _own_waiting(engine, stream)
    if not held and not reading:
        return
    loop = asyncio.get_running_loop()
    started = loop.time()
    log.info(
        "recovery.reconcile_waits_for_journal",
        extra={"broker": broker.source, "in_memory": held, "not_read_back": reading},
    )
    while True:
        if not held:
            await catch_up(engine, broker.source)  # written: read back here, not waited for
            held, reading = _own_waiting(engine, stream)
            if not held and not reading:
                log.info(
                    "recovery.reconcile_journal_read",
                    extra={"broker": broker.source, "waited_s": round(loop.time() - started, 3)},
                )
                return
        if loop.time() - started >= engine.journal_wait_s:
            break
        await asyncio.sleep(JOURNAL_LOOK_S)
        held, reading = _own_waiting(engine, stream)
    why = engine.bus.stats.last_error or "Redis has not taken them"
    said = (
        f"{held} event(s) of {broker.source} still wait in this desk's memory for Redis "
        f"after {engine.journal_wait_s:g} s ({why}); a reconcile with {broker.source} now "
        "would compare the venue with a journal that lacks them: not run"
        if held
        else f"{reading} event(s) of {broker.source} written to Redis were not read back "
        f"after {engine.journal_wait_s:g} s: a reconcile with {broker.source} now would "
        "compare the venue with a journal that lacks them: not run"
    )
    log.error(
        "recovery.reconcile_not_run",
        extra={"broker": broker.source, "in_memory": held, "not_read_back": reading, "why": said},
    )
    raise JournalBehind(said)


async def reconcile_broker(engine: TradingEngine, broker: Broker) -> list[Reconcile]:
    """Ask the broker what its venue holds, from the last fill the journal knows in each
    instrument (not from the epoch), and reconcile the journal against it. The venue's
    reports the bus refused are written first and read back (`Broker.journal_kept`):
    compared without them, an order whose FILLED and fill waited was journaled CANCELED
    "no longer open at the venue", and they landed after it. So are this desk's own
    events of the account that wait in the bus's memory for Redis (`journal_read_back`:
    waited for, bounded; `JournalBehind` when they still wait)."""
    if broker.unjournaled:
        await broker.journal_kept()
    await journal_read_back(engine, broker)
    # What the journal holds, applied: the adapter's own fills since the engine's
    # reader last ran (a burst of them, or a catch-up's after a reconnect) are the
    # journal's, so its last fills are where the venue is asked from, and none of them
    # is taken for a fill missed.
    await catch_up(engine, broker.source)
    last_fills = dict(engine.portfolio.last_fills.get((broker.name, broker.account), {}))
    account = (broker.name, broker.account)
    tell_working(engine, broker)
    broker.journal_holds(
        {
            *last_fills,
            *(v.order.request.instrument for v in engine.oms.working(*account)),
            *(key[2] for key in engine.portfolio.positions if key[:2] == account),
        }
    )
    broker.journal_balances(
        {
            currency
            for (name, account_id, currency), balance in engine.portfolio.balances.items()
            if (name, account_id) == account and balance.total != 0
        }
    )
    # Fills from before the account's journal began are the venue's history, not fills
    # we missed: a first connect to an account with a past asks from now.
    since = engine.journal_start.get((broker.name, broker.account), broker.clock())
    report = await broker.reconcile(since_ns=since, last_fills=last_fills)
    found = await reconcile(engine, broker, report)
    # Reconciled: a cancel (a modify) the journal held unanswered at the start that the
    # venue never took is made again (said).
    await lost_requests(engine, broker)
    # Again with what the reconcile journaled: the orders it adopted (their fills from
    # before the journal, which the adapter never counted: the first modify's answer
    # was dropped) and the missed fills it journaled, now in each order's totals.
    tell_working(engine, broker)
    # Back and reconciled: what a trim of reduce-only orders could not cancel while
    # the broker was away is looked at now (a reconcile that found nothing moves no
    # position, and the next fill could be the one that turns it).
    engine.retry_failed_trims(broker.name)
    return found


async def reconcile(
    engine: TradingEngine, broker: Broker, report: ReconcileReport
) -> list[Reconcile]:
    """Compare the journal with the venue and publish the differences. The venue wins."""
    source = broker.source
    found: list[Reconcile] = []

    async def publish(rec: Reconcile) -> None:
        found.append(rec)
        await engine.bus.publish(ReconcileEvent.create(source, rec))

    # 1. Fills the venue has that the journal lacks: compared with all the journal
    # holds (the engine's reader may be behind the adapter's writes).
    await catch_up(engine, source)
    # The instruments whose fills are still coming (step 6), judged before this
    # reconcile journals any: a missed fill it journals is no fill on its way.
    settling = {
        key[2]
        for key in engine.portfolio.positions
        if key[:2] == (broker.name, broker.account)
        and engine.fills_settling(broker.name, broker.account, key[2])
    }
    ours = {
        exec_id
        for v in engine.oms.orders.values()
        if (v.broker, v.account) == (broker.name, broker.account)
        for exec_id in v.order.exec_ids
    }
    missed = [
        fill
        for fill in report.fills
        if fill.exec_id not in ours
        and not engine.portfolio.fill_seen(broker.name, broker.account, fill.exec_id)
    ]

    # 2. Orders open at the venue. One the journal does not know is adopted before its
    # missed fills are published, as it stood before them, so it takes them as fills
    # (not an "unknown order" whose fills only the position takes).
    venue_open = {o.client_order_id: o for o in report.open_orders}
    adopting: set[str] = set()
    for cid, venue in venue_open.items():
        # An order that finished here and left memory (`OMS.evicted_from`) is in the
        # journal: not adopted as unknown (the OMS refuses that), re-opened (step 4).
        if engine.oms.get(cid) is None and engine.oms.evicted_from(cid) is None:
            adopting.add(cid)
            await publish(
                Reconcile(
                    kind=ReconcileKind.VENUE_ORDER_UNKNOWN,
                    instrument=venue.instrument,
                    client_order_id=cid,
                    venue=f"{venue.status} {plain(venue.filled_qty)}/{plain(venue.quantity)}",
                    detail="open at the venue, not in our journal: adopted",
                    venue_order=before_fills(
                        venue, [f for f in missed if f.client_order_id == cid]
                    ),
                )
            )
    await catch_up(engine, source)

    # 3. The missed fills: the venue's own fills, published as it reported them. Each
    # looked at again as it goes: one the journal took meanwhile (the adapter journaling
    # it live, applied by the reader) is not journaled twice.
    for fill in missed:
        if engine.portfolio.fill_seen(broker.name, broker.account, fill.exec_id):
            continue
        await publish(
            Reconcile(
                kind=ReconcileKind.MISSED_FILL,
                instrument=fill.instrument,
                client_order_id=fill.client_order_id,
                venue=f"{fill.side} {plain(fill.quantity)} @ {plain(fill.price)} ({fill.exec_id})",
                detail="fill made while we were away, as the venue reported it",
            )
        )
        await engine.bus.publish(FillEvent.create(source, fill))
        broker.fill_journaled(fill)
    await catch_up(engine, source)

    # 4. Orders open at both ends whose status or terms differ: the venue's are taken.
    # A stop the venue lists triggered that the journal holds waiting (it triggered
    # while the desk was down) takes the trigger, once. One that ended here and that
    # the venue still holds open is re-opened (`_reopen`), one that left memory too.
    for cid, venue in venue_open.items():
        if cid in adopting:
            continue
        view = engine.oms.get(cid)
        if view is None:
            evicted = engine.oms.evicted_from(cid)
            if evicted == (broker.name, broker.account):
                await _reopen(engine, broker, cid, None, venue, found)
            elif evicted is not None:  # another account's id: not this venue's order
                log.warning(
                    "recovery.listed_under_other_account",
                    extra={"broker": source, "client_order_id": cid, "account": evicted},
                )
            continue
        if view.order.status.is_terminal:
            await _reopen(engine, broker, cid, view, venue, found)
            continue
        terms = _terms_moved(view.order, venue)
        trigger = bool(venue.triggered) and not view.order.triggered
        if view.order.status == venue.status and not terms:
            if trigger:
                await _take_venue_trigger(engine, broker, cid, venue)
            continue
        moved = view.order.status == venue.status
        await publish(
            Reconcile(
                kind=ReconcileKind.TERMS_MISMATCH if moved else ReconcileKind.STATUS_MISMATCH,
                instrument=venue.instrument,
                client_order_id=cid,
                ours=_describe(view.order, terms),
                venue=_describe_venue(venue, terms),
                detail="the venue's terms are taken" if terms else "",
            )
        )
        reason = (
            "terms from the venue on reconcile" if moved else "status from the venue on reconcile"
        )
        taken = OrderUpdate(
            client_order_id=cid,
            status=venue.status,
            venue_order_id=venue.venue_order_id,
            reason=f"{reason}; {TRIGGER_FOUND}" if trigger else reason,
            triggered=True if trigger else None,
            **terms,
        )
        await engine.bus.publish(OrderUpdateEvent.create(source, taken))
        broker.update_journaled(taken)

    # 5. Orders we think open that the venue does not hold. Not one on its way there
    # (its place not answered yet: the venue may take it a moment later). One the venue
    # lists as ended ends as it says (`ended_orders`: IB's completed orders); one whose
    # end it could not be asked now stays as it is (`ends_unknown`): ended CANCELED "no
    # longer open", an adopted order TWS had filled read cancelled with nothing filled.
    placing = engine.in_flight.now(broker=broker.name)
    ended = {o.client_order_id: o for o in report.ended_orders if o.status.is_terminal}
    unknown = set(report.ends_unknown)
    for view in engine.oms.working(broker.name, broker.account):
        if view.client_order_id in venue_open or view.client_order_id in placing:
            continue
        if view.client_order_id in ended:
            await _take_venue_end(engine, broker, view, ended[view.client_order_id], publish)
            continue
        if view.client_order_id in unknown:
            await publish(
                Reconcile(
                    kind=ReconcileKind.LOCAL_ORDER_UNKNOWN,
                    instrument=view.order.request.instrument,
                    client_order_id=view.client_order_id,
                    ours=_describe(view.order),
                    venue="not open; how it ended could not be read",
                    detail=END_UNREAD,
                )
            )
            continue
        never_acked = view.order.status is OrderStatus.PENDING_NEW
        status = OrderStatus.REJECTED if never_acked else OrderStatus.CANCELED
        reason = NEVER_REACHED if never_acked else end_not_listed(view.order)
        await publish(
            Reconcile(
                kind=ReconcileKind.LOCAL_ORDER_UNKNOWN,
                instrument=view.order.request.instrument,
                client_order_id=view.client_order_id,
                ours=_describe(view.order),
                venue="not open" if never_acked else "not open, its end not listed",
                detail=reason,
            )
        )
        gone = OrderUpdate(client_order_id=view.client_order_id, status=status, reason=reason)
        await engine.bus.publish(OrderUpdateEvent.create(source, gone))
        broker.update_journaled(gone)
        if not never_acked:
            _say_gone(engine, broker, view)
    await catch_up(engine, source)
    # The adopted orders the venue lists: the broker follows them from now on (an order
    # cancelled or filled elsewhere then ends on the desk when the venue says so).
    adopted = [
        venue
        for cid, venue in venue_open.items()
        if (view := engine.oms.get(cid)) is not None
        and view.adopted
        and (view.broker, view.account) == (broker.name, broker.account)
        and not view.order.status.is_terminal
    ]
    if adopted:
        try:
            await broker.follow_adopted(adopted)
        except Exception:
            log.exception("recovery.follow_adopted_failed", extra={"broker": source})

    # 6. Positions.
    venue_positions = {p.instrument: p.quantity for p in report.positions}
    ours_pos = {
        s.instrument: s.quantity
        for s in engine.portfolio.positions.values()
        if (s.broker, s.account) == (broker.name, broker.account)
    }
    for instrument in sorted(set(venue_positions) | set(ours_pos)):
        mine = ours_pos.get(instrument, Decimal(0))
        theirs = venue_positions.get(instrument, Decimal(0))
        if (
            mine != theirs
            and mine == 0
            and not engine.portfolio.traded(broker.name, broker.account, instrument)
        ):
            await publish(
                Reconcile(
                    kind=ReconcileKind.OPENING_POSITION,
                    instrument=instrument,
                    ours=plain(mine),
                    venue=plain(theirs),
                    detail="held at the venue before this journal: the opening position",
                    venue_quantity=theirs,
                )
            )
        elif (
            mine != theirs
            and instrument in settling
            and engine.fills_settling(broker.name, broker.account, instrument, theirs)
        ):
            # Its fills are still coming (taken moments ago): the venue's position
            # holds those on their way. Watched, not taken: fills that bring ours to
            # it end it; one that stands once they stop takes the venue's quantity.
            engine.settle_then_adopt((broker.name, broker.account, instrument), theirs)
            log.info(
                "recovery.position_settling",
                extra={"broker": source, "instrument": instrument, "ours": str(mine)},
            )
        elif mine != theirs:
            await publish(
                Reconcile(
                    kind=ReconcileKind.POSITION_MISMATCH,
                    instrument=instrument,
                    ours=plain(mine),
                    venue=plain(theirs),
                    detail=MISMATCH_SIMULATOR if broker.state_in_journal else MISMATCH,
                    venue_quantity=theirs,
                )
            )
    await catch_up(engine, source)
    if found:
        log.warning(
            "recovery.reconcile_differences",
            extra={"broker": source, "count": len(found), "kinds": [r.kind for r in found]},
        )
    return found


# -- requests lost when the desk stopped ------------------------------------------------


class Unanswered(NamedTuple):
    """A request the journal held unanswered as the desk started
    (`unanswered_requests`): the request, and the id of the event that journaled it
    ("" for one built bare: the order's history not in memory)."""

    request: CancelRequest | ModifyRequest
    event_id: str


def _newest_request(view: OrderView) -> CancelRequestEvent | ModifyRequestEvent | None:
    """The order's newest cancel or modify its history holds."""
    return next(
        (
            event
            for event in reversed(view.history)
            if isinstance(event, CancelRequestEvent | ModifyRequestEvent)
        ),
        None,
    )


def unanswered_requests(engine: TradingEngine, broker: str, account: str) -> dict[str, Unanswered]:
    """The working orders of the account whose last journaled request is unanswered as
    the desk starts: a cancel (PENDING_CANCEL) or a modify (PENDING_REPLACE), nothing
    newer. The desk that asked stopped before the venue answered, or before it sent
    the request at all: the venue may never have had it. Each with its request (its
    newest cancel or modify the order's history holds; one built bare when the history
    is not in memory: a snapshot covers it). The broker's reconcile looks at them once
    done (`lost_requests`)."""
    found: dict[str, Unanswered] = {}
    for view in engine.oms.working(broker, account):
        status = view.order.status
        if status is not OrderStatus.PENDING_CANCEL and status is not OrderStatus.PENDING_REPLACE:
            continue
        cid = view.client_order_id
        event = _newest_request(view)
        last = event.payload if event is not None else None
        event_id = event.event_id if event is not None else ""
        if status is OrderStatus.PENDING_CANCEL:
            if last is None or isinstance(last, CancelRequest):
                found[cid] = Unanswered(last or CancelRequest(client_order_id=cid), event_id)
        elif last is None or isinstance(last, ModifyRequest):
            found[cid] = Unanswered(last or ModifyRequest(client_order_id=cid), event_id)
    return found


def _still_newest(view: OrderView, asked: Unanswered) -> bool:
    """Whether the request unanswered at the start is still the order's newest: none
    made since (a change or a cancel of the trader's while the broker was tradable and
    not reconciled yet, after a reconcile that failed). A lost cancel made over a
    change the trader made since cancelled the order just repriced (review rl)."""
    event = _newest_request(view)
    return (event.event_id if event is not None else "") == asked.event_id


_WORKED = (OrderStatus.NEW, OrderStatus.PARTIALLY_FILLED)
"""The statuses of an order its venue works with no request of ours pending."""


async def lost_requests(engine: TradingEngine, broker: Broker) -> None:
    """Once `broker`'s reconcile is done: of the requests the journal held unanswered
    at the start (`TradingEngine.unanswered`, dropped here), those the venue never took,
    the order still working there as it was (the reconcile took its status: NEW or
    PARTIALLY_FILLED, no longer pending). A cancel is made again
    (`TradingEngine.owe_lost_cancels`: a cancel only takes exposure away, and the
    trader's last word on the order was "cancel"), said as a WARNING Log line naming
    the order. A modify is not sent again (it may add exposure, and the market moved
    since): said as an ERROR Log line (a toast on the desk), naming the change lost.
    An order that ended (filled while its cancel was lost) is sent nothing; one whose
    venue answered the modify (the reconcile took its terms) is not said.

    Before, the reconcile took the venue's NEW and said only `STATUS_MISMATCH ...
    ours=PENDING_CANCEL`: the order the trader cancelled worked on (the drill: `c`,
    the desk killed 12 ms later, the paper venue's cancel latency 20 ms)."""
    asked = engine.unanswered.pop(broker.name, None)
    if not asked:
        return
    cancels: dict[str, str] = {}
    for cid, unanswered in asked.items():
        view = engine.oms.get(cid)
        if view is None or (view.broker, view.account) != (broker.name, broker.account):
            continue
        order = view.order
        if order.status not in _WORKED:
            continue  # ended (nothing to send), or still pending at the venue itself
        if not _still_newest(view, unanswered):
            continue  # the trader's own word on it since stands
        request = unanswered.request
        if isinstance(request, CancelRequest):
            cancels[cid] = lost_cancel_said(order)
            continue
        said = lost_modify_said(
            order, request, engine.instrument(broker.name, order.request.instrument)
        )
        if said:
            log.error("recovery.lost_modify", extra={"broker": broker.source, "said": said})
            await engine.log_line(LogLevel.ERROR, said)
    engine.owe_lost_cancels(broker.name, cancels)


def lost_cancel_said(order: Order) -> str:
    """What a cancel lost when the desk stopped is said as: "cancel of ab12cd34 lost
    when the desk stopped (the venue still works it NEW)"; the engine's Log line says
    after it what it does (`TradingEngine.cancel_lost`: ": sent again")."""
    works = f"{order.status}"
    if order.filled_qty > 0:
        works += f" {plain(order.filled_qty)}/{plain(order.quantity)}"
    return (
        f"cancel of {short_id(order.client_order_id)} lost when the desk stopped (the venue "
        f"still works it {works})"
    )


_TERMS = (("quantity", "quantity"), ("limit_price", "limit"), ("stop_price", "stop"))
"""A modify's fields, and the word a lost one is said with."""


def lost_modify_said(order: Order, change: ModifyRequest, inst: Instrument | None) -> str:
    """The ERROR Log line of a modify lost when the desk stopped (the venue works
    `order` at its old terms): "modify of ab12cd34 (limit 66,000.00 -> 66,100.00) lost
    when the desk stopped: the venue works it at 66,000.00; change it again if you
    still want it". "" when the venue holds any term as the modify asked it (it took
    the modify: the reconcile took its terms and said so). With the modify's terms not
    in memory (a snapshot covers it) it says what the venue works the order at."""

    def text(field: str, value: Decimal | None) -> str:
        return qty_text(value, inst) if field == "quantity" else price_text(value, inst)

    def at(field: str, word: str, value: Decimal | None) -> str:
        return text(field, value) if field == "limit_price" else f"{word} {text(field, value)}"

    short = short_id(order.client_order_id)
    asked = [
        (field, word, getattr(order, field), getattr(change, field))
        for field, word in _TERMS
        if getattr(change, field) is not None
    ]
    if not asked:
        held = ", ".join(
            at(field, word, getattr(order, field))
            for field, word in _TERMS
            if getattr(order, field) is not None
        )
        return (
            f"modify of {short} unanswered when the desk stopped (its terms are not in "
            f"memory): the venue works it at {held}; change it again if that is not what "
            "you asked"
        )
    if any(now == new for _, _, now, new in asked):
        return ""
    changes = ", ".join(
        f"{word} {text(field, now)} -> {text(field, new)}" for field, word, now, new in asked
    )
    held = ", ".join(at(field, word, now) for field, word, now, _ in asked)
    return (
        f"modify of {short} ({changes}) lost when the desk stopped: the venue works it at "
        f"{held}; change it again if you still want it"
    )


async def catch_up(engine: TradingEngine, source: str) -> None:
    broker, _, account = source.partition("/")
    await replay_stream(engine, engine.bus.layout.exec(broker, account))
    await engine.publish_anomalies()
