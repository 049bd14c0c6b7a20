"""What this host's desk last journaled under, kept outside Redis.

The trading state lives in the risk stream. A Redis that restarts without persistence,
or is flushed, while a desk runs is noticed by the bus (epoch key, run id, stream
gaps) and the desk writes its state back. While no desk runs nobody notices: the next
start would find an empty bus and come up ACTIVE under a kill switch still pulled.

So each desk keeps, per bus and prefix, a small record in its state dir: the bus's
epoch (a token set once per Redis dataset) and the trading state. A start that finds
another epoch knows the journal it left was lost since; it says so, and it never comes
up less restricted than the record (`stricter`). With the same epoch the journal is
the truth (another desk may have resumed since), and the record only follows it.

With the same epoch the risk stream may still have lost the trading state: another hand's
XTRIM or XDEL deleted entries, and none setting the state is left after them (every desk
trims it only after writing the state as its newest entry). The record keeps the newest
entry setting the state that run read (`LastRun.state_entry`): gone, with nothing setting
the state after it, the state was lost, and the start carries the record's state where
it is stricter and writes the state back. Otherwise what was deleted cannot be read
back (a reject XDELed looks as a KILL XDELed): the state may have been lost, and the
start halts this desk alone, journaling nothing, and says what to do; the other desks
trade on as the stream says (`RunRecorder.check`, `recovery.trading_state_deleted`).
Such a hold stays this desk's alone: the record says it was held (`LastRun.held_here`),
a start after Redis lost the journal holds it alone again rather than carry it, and a
data loss under the running desk writes nothing back (`Session._keep_hold`).

The record is one per host, bus and prefix, not per desk: the desks of a host driving
other brokers write the same file. What a desk still acts on (a KILL or REDUCE ONLY its
start found set while it was down, its cancels not all out) is kept per broker
(`LastRun.acting`), and every write keeps what the file holds for the brokers its desk
does not drive, read and written under the record's lock (`write_merged`): another
desk's `state_entry`, at or after that state, does not make its next start take it as
acted on.

A record that cannot be read (damaged, refused by the disk, a newer Silvertine's) must
not stop a desk: it starts without the guard, the file is set aside
(`<name>.<UTC time>.unreadable`, never written over) and the trader is told, with the
state to check (`RunRecorder.unreadable_text`). A record the disk refuses to write is
told once (`RunRecorder.record`), and again in the Log pane once it is written.

A desk that closes with execution events its bus could not journal (Redis down as it
quit: `Session.not_journaled`, exit code 7) says so in the record it writes last
(`Unjournaled`: how many, the fills among them, its brokers). The next start on that
bus tells it once (`RunRecorder.check`: a toast and a Log line, with what to check) and
its first record clears it: the fills gone with that process are otherwise missing
from the journal with nothing to say so.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..brokers import Broker
from ..bus import BusError, BusUnavailableError, format_id, parse_id
from ..bus.base import BusEntry, state_set_after
from ..domain import TradingState
from ..events import Log, LogEvent, LogLevel, Risk, RiskAction, RiskEvent
from .core import ENGINE_SOURCE, HeldState, TradingEngine, utc_ms
from .recovery import (
    StateLoss,
    carry_trading_state,
    restate_trading_state,
    state_seen,
    trading_state_deleted,
)

log = logging.getLogger(__name__)


VERSION = 1
"""The record's layout. A newer Silvertine's record is read as far as this one can (its
fields this one knows); one it cannot read says which version wrote it."""


class Unjournaled(BaseModel):
    """Execution events a desk closed with, NOT journaled (`Session.not_journaled`)."""

    model_config = ConfigDict(frozen=True, extra="ignore", defer_build=True)

    events: int
    fills: int
    venues: tuple[str, ...] = ()
    """The desk's brokers at real venues (`broker/account`): their reconcile asks them."""
    simulators: tuple[str, ...] = ()
    """Its simulators (the paper venue): what they did then is lost for good."""
    brokers: tuple[str, ...] = ()
    """The brokers of the desk that wrote it (`UnwrittenState.brokers`: only its start
    says it; another desk's writes keep it)."""
    closed: bool = True
    """Written by the run's close; False: written while it ran, Redis out of reach (the
    record says it every second while it changes), and the run never closed (killed,
    its host lost) or the record would say so."""

    @classmethod
    def of(cls, events: int, fills: int, brokers: Iterable[Broker], *, closed: bool) -> Unjournaled:
        """What a desk driving `brokers` holds unjournaled, named as the next start says it."""
        held = list(brokers)
        return cls(
            events=events,
            fills=fills,
            venues=tuple(b.source for b in held if not b.state_in_journal),
            simulators=tuple(b.source for b in held if b.state_in_journal),
            brokers=tuple(sorted(b.name for b in held)),
            closed=closed,
        )

    def told(self, when: str) -> str:
        """What the next start says of it."""
        fills = f"{self.fills} fill{'s' if self.fills != 1 else ''}"
        brokers = ", ".join((*self.venues, *self.simulators)) or "its brokers"
        events = f"{self.events} execution event{'s' if self.events != 1 else ''}"
        if self.closed:
            said = (
                f"The last run on this bus (closed {when}) closed with {events} NOT "
                f"journaled ({fills}) on {brokers}: Redis was down as it quit, and they are "
                "in no journal"
            )
        else:
            said = (
                f"The last run on this bus stopped without closing (killed, or its host "
                f"lost; last recorded {when}) with {events} NOT journaled ({fills}) on "
                f"{brokers}: Redis was out of reach, and they are in no journal"
            )
        if self.venues:
            said += (
                f"; the reconcile asked {', '.join(self.venues)} for what they hold: check "
                "positions and fills at the venue"
            )
        if self.simulators:
            said += (
                f"; {', '.join(self.simulators)} "
                f"{'is a simulator' if len(self.simulators) == 1 else 'are simulators'}: "
                "what it did then is lost, and positions and balances here are as the "
                "journal holds them"
            )
        return said


class UnwrittenState(BaseModel):
    """A stricter trading state (a KILL, REDUCE ONLY) a desk held that Redis never took
    (`TradingEngine.state_unwritten`): as its risk entry would have said it."""

    model_config = ConfigDict(frozen=True, extra="ignore", defer_build=True)

    action: RiskAction
    trading_state: TradingState
    message: str  # naming the desk that set it ("kill switch (UI) by desk h pid 7")
    at_ms: int  # when it was set
    seen: str = "0-0"
    """The newest risk entry setting the trading state that desk had read when it set
    it (`HeldState.seen`): one journaled after it stands over it."""
    brokers: tuple[str, ...] = ()
    """The brokers of the desk that set it: the record is one per host, bus and prefix,
    and only the start of a desk driving one of them carries it (`write_merged` keeps
    it through another desk's writes)."""

    @classmethod
    def of(cls, held: HeldState, brokers: Iterable[str]) -> UnwrittenState:
        return cls(
            action=held.action,
            trading_state=held.state,
            message=held.message,
            at_ms=held.at_ns // 1_000_000,
            seen=held.seen,
            brokers=tuple(sorted(brokers)),
        )

    def held(self) -> HeldState:
        return HeldState(
            "", self.action, self.trading_state, self.message, self.at_ms * 1_000_000, self.seen
        )


class LastRun(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore", defer_build=True)

    version: int = VERSION  # absent from the records written before it: 1
    bus: str  # the bus URL, password redacted: the record is never a secret
    prefix: str
    epoch: str
    trading_state: TradingState
    at_ms: int  # when it was written
    unjournaled: Unjournaled | None = None
    """What the run closed with unjournaled (only in the record written at its close)."""
    state_entry: str | None = None
    """The newest risk entry setting the trading state the run had read
    (`recovery.state_seen`; "0-0": none). Gone from the stream at the next start with
    nothing setting the state after it, that run's state was lost (`RunRecorder.check`).
    A stricter state its start found set while the desk was down is counted read only
    once its cancels went out: until then this is the id right before it
    (`RunRecorder.acting`), and the next start honours it again
    (`Session._state_while_down`). None in the records written before it: such a
    record cannot tell."""
    held_here: bool = False
    """`trading_state` was held on that desk alone (`RiskGate.held_here`), never
    journaled: the next start holds it alone again rather than write it to the risk
    stream (written, it halted every desk on the bus). False in the records written
    before it."""
    acting: dict[str, str] = Field(default_factory=dict)
    """Per broker (its name), the KILL or REDUCE ONLY (the risk entry) the desk driving
    it found set while it was down and is still acting on (`RunRecorder.acting`): its
    cancels have not all gone out. The record is one per host, bus and prefix, not per
    desk: another desk of this host writes its own `state_entry` (at or after that
    entry), and every writer keeps what the file holds for the brokers it does not
    drive (`write_merged`), so that the next start of that broker's desk honours the
    state again (`Session._state_while_down`). Empty in the records written before it
    (older builds ignore it, and write it away). A KILL whose cancels this desk still
    owes a broker is acted on here too (`kill_owed`)."""
    state_unwritten: UnwrittenState | None = None
    """A stricter state the run held that Redis never took (its bus kept it in memory,
    or refused it): a desk that died before Redis was back, or quit while it was down,
    left it in no journal, and its next start came up as the journal gave it (ACTIVE,
    its orders working at the paper venue again, not a word). The next start writes it
    and honours it (`RunRecorder.check`, `Session._state_while_down`) when nothing set
    the trading state after `state_entry`. None in the records written before it."""
    kill_owed: dict[str, list[str]] = Field(default_factory=dict)
    """Per broker, the orders (client ids) a kill switch's cancels left working on it
    (the venue unreachable, refusing: `TradingEngine.kill_owed`), still owed while
    trading is HALTED; that KILL is in `acting` for the broker. A desk restarted
    before the venue was back took the KILL as read (its own run read it), and the
    orders worked on, HALTED: its next start honours the KILL again and says why
    (`Session._state_while_down`). Empty in the records written before it."""


def record_path(state_dir: Path, bus_url: str, prefix: str) -> Path:
    """One file per bus and prefix (`desks/<hash>.json`): desks on other prefixes or
    servers keep their own."""
    digest = hashlib.sha256(f"{bus_url}\n{prefix}".encode()).hexdigest()[:16]
    return state_dir / "desks" / f"{digest}.json"


class UnreadableRecord(Exception):
    """A record is there but cannot be read. Its message says why, never what the file
    holds (a damaged file may hold anything)."""


def read(path: Path) -> LastRun | None:
    """The record, None when there is none; `UnreadableRecord` when there is one that
    cannot be read. Touches the disk: call it from a thread."""
    try:
        raw = path.read_bytes()
    except (FileNotFoundError, NotADirectoryError):  # none can be there (saving says it)
        return None
    except OSError as exc:
        raise UnreadableRecord(exc.strerror or type(exc).__name__) from exc
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise UnreadableRecord("not UTF-8 text (cut short or overwritten?)") from exc
    except json.JSONDecodeError as exc:
        raise UnreadableRecord(
            f"not JSON ({exc.msg} at line {exc.lineno} column {exc.colno}; cut short?)"
        ) from exc
    except RecursionError as exc:
        raise UnreadableRecord("not JSON it can read (nested too deep)") from exc
    try:
        return LastRun.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc']) or 'the record'}: {error['msg']}"
            for error in exc.errors(include_url=False, include_input=False)[:3]
        )
        version = data.get("version") if isinstance(data, dict) else None
        if isinstance(version, int) and version > VERSION:
            raise UnreadableRecord(
                f"written by a newer Silvertine (record version {version}, this desk reads "
                f"{VERSION}): {problems}"
            ) from exc
        raise UnreadableRecord(f"not a last-run record ({problems})") from exc


def load(path: Path) -> LastRun | None:
    """The record, or None when there is none or it cannot be read (logged). A desk's
    start reads it with `RunRecorder.read`, which also tells the trader. Touches the
    disk: call it from a thread."""
    try:
        return read(path)
    except UnreadableRecord as exc:
        log.warning("last_run.unreadable", extra={"path": str(path), "error": str(exc)})
        return None


@dataclass(frozen=True, slots=True)
class Carried:
    """A stricter state the last run never journaled, written by this start's check
    (`RunRecorder._carry_unwritten`)."""

    entry: str  # the risk entry written for it now; "" not written
    state: UnwrittenState
    why: str = ""
    """Why it was not written ("" when it was): held on this desk alone."""


@dataclass(frozen=True)
class Found:
    """What a start found at the record's path (`find`)."""

    record: LastRun | None = None
    unreadable: str = ""
    """Why the record there could not be read ("" when it could, or there was none)."""
    aside: Path | None = None
    """Where the unreadable file was set aside."""
    not_aside: str = ""
    """Why it could not be set aside (this run's record then takes its place)."""


def find(path: Path, now_ns: int) -> Found:
    """The record; one that cannot be read is renamed aside, `<name>.<UTC time>.unreadable`
    beside it, so that this run's record does not write over it (logged). Touches the
    disk: call it from a thread."""
    try:
        return Found(record=read(path))
    except UnreadableRecord as exc:
        unreadable = str(exc)
    stamp = datetime.fromtimestamp(now_ns / 1e9, UTC).strftime("%Y%m%dT%H%M%S.%fZ")
    aside = path.with_name(f"{path.name}.{stamp}.unreadable")
    try:
        os.replace(path, aside)
    except OSError as exc:
        not_aside = exc.strerror or type(exc).__name__
        log.warning(
            "last_run.unreadable",
            extra={"path": str(path), "error": unreadable, "not_set_aside": not_aside},
        )
        return Found(unreadable=unreadable, not_aside=not_aside)
    log.warning(
        "last_run.unreadable",
        extra={"path": str(path), "error": unreadable, "set_aside": str(aside)},
    )
    return Found(unreadable=unreadable, aside=aside)


def write(path: Path, record: LastRun) -> None:
    """Write the record: a temporary file renamed over the old one, so that a crash
    leaves the old record or the new one, never half of one. `OSError` when the disk
    refuses (the temporary file is removed). Touches the disk: call it from a thread."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(record.model_dump_json(indent=2) + "\n", encoding="utf-8")
        os.replace(tmp, path)
    except OSError:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """The record's lock (`<name>.lock` beside it), held across a read and a write of
    it: the desks of this host write one file, and a write that read the file before
    another desk's write took that desk's `acting` away. A lock of the open file,
    released by the system when its process dies (killed, it holds nothing). Blocks:
    call it from a thread."""
    lock = path.with_name(f"{path.name}.lock")
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        if sys.platform == "win32":
            import msvcrt

            msvcrt.locking(fd, msvcrt.LK_LOCK, 1)
            try:
                yield
            finally:
                os.lseek(fd, 0, os.SEEK_SET)
                msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
        else:
            import fcntl

            fcntl.flock(fd, fcntl.LOCK_EX)
            yield  # closing the file releases it
    finally:
        os.close(fd)


def write_merged(path: Path, record: LastRun, brokers: frozenset[str]) -> LastRun:
    """Write `record`, the desk driving `brokers`, keeping what the file holds for the
    brokers it does not drive (`LastRun.acting`, `LastRun.kill_owed`): another desk of
    this host still acting on a state keeps it through this write. Read and written
    under the record's lock (`_locked`), renamed over as `write` does: two desks writing
    at once each keep the other's. A file that cannot be read keeps nothing (it is written over, as
    before). The record written; `OSError` when the disk refuses. Touches the disk:
    call it from a thread."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with _locked(path):
        try:
            found = read(path)
        except UnreadableRecord:
            found = None
        if found is not None:
            kept = {b: e for b, e in found.acting.items() if b not in brokers}
            owed = {b: c for b, c in found.kill_owed.items() if b not in brokers}
            update: dict[str, object] = {}
            if kept or owed:
                ours = {b: e for b, e in record.acting.items() if b in brokers}
                our_owed = {b: c for b, c in record.kill_owed.items() if b in brokers}
                update = {"acting": {**kept, **ours}, "kill_owed": {**owed, **our_owed}}
            # Another desk's state never journaled, and what it left unjournaled: its
            # own start says them (a neighbour's write took them away: a review).
            if record.state_unwritten is None and _others(found.state_unwritten, brokers):
                update["state_unwritten"] = found.state_unwritten
            if record.unjournaled is None and _others(found.unjournaled, brokers):
                update["unjournaled"] = found.unjournaled
            if update:
                record = record.model_copy(update=update)
        write(path, record)
    return record


UNJOURNALED_EVERY_S = 5.0
"""How often a running desk's record counts again what it holds unjournaled while it
holds any (`RunRecorder._unjournaled_now`)."""
CARRY_TO_EVERY_DESK_S = 300.0
"""A KILL or REDUCE ONLY a desk's last run set and never journaled is written for every
desk at its next start only when set within this long; older, the other desks traded on
meanwhile and it is held on this desk alone (`RunRecorder._carry_unwritten`)."""


def _others(found: UnwrittenState | Unjournaled | None, brokers: frozenset[str]) -> bool:
    """Whether `found` is another desk's: it names brokers, none of them `brokers`."""
    return found is not None and not ours(found, brokers)


def ours(found: UnwrittenState | Unjournaled, brokers: Iterable[str]) -> bool:
    """Whether `found` is this desk's to say: it names one of `brokers`, or none (an
    older build's)."""
    return not found.brokers or bool(set(found.brokers) & set(brokers))


def save(path: Path, record: LastRun) -> bool:
    """`write`; False, logged, when the disk refuses. Touches the disk: call it from a
    thread."""
    try:
        write(path, record)
    except OSError as exc:
        log.warning("last_run.not_saved", extra={"path": str(path), "error": str(exc)})
        return False
    return True


RECORD_FRESH_S = 30.0
"""The record is written again this often while nothing in it changed, so that its time
(`LastRun.at_ms`) says when the desk last ran to within this: a desk killed kept the
time of its start or its last change of state, and a start after Redis lost the journal
said "the journal this host's desk last wrote (up to 05:34:10)" of a desk that ran and
journaled to 05:35 (a trader's review)."""


def entry_before(entry: str) -> str:
    """The stream id right before `entry` (none is ever written there: ids are
    Redis's clock and sequence): what a record says was read up to, short of `entry`."""
    ms, seq = parse_id(entry)
    return format_id(ms, seq - 1) if seq else format_id(ms - 1, 2**64 - 1)


def stricter(recorded: TradingState, now: TradingState) -> bool:
    """Whether the recorded state restricts more than the one the journal gave."""
    return recorded.strictness > now.strictness


def _set_since(entry: BusEntry) -> str:
    """A risk entry setting the trading state as a trader reads it: what it set, when
    (Redis's clock, the entry's id) and its words ("risk entry 1765100000000-0" was all
    the carried state's words said of it)."""
    when = utc_ms(parse_id(entry.id)[0])
    event = entry.event
    if not isinstance(event, RiskEvent):
        return f"at {when}"
    risk = event.payload
    words = f" ({risk.message})" if risk.message else ""
    what = _STATE_SET_BY.get(risk.action, "trading state")
    state = risk.trading_state.value.replace("_", " ")
    return f"{what} to {state} at {when}{words}"


_STATE_SET_BY = {RiskAction.KILL: "kill switch", RiskAction.RESUME: "resume"}
"""How `_set_since` names what set the state (a STATE entry: "trading state")."""


CARRIED_FROM_LAST_RUN = (
    "trading state {state} carried forward from this host's last desk run "
    "(up to {when}): Redis lost the risk stream while no desk ran"
)


def _simulators_lost(sources: list[str]) -> str:
    """What a lost journal means for venues that lived in it (the paper simulator): not
    something a reconcile can bring back."""
    if not sources:
        return ""
    if len(sources) == 1:
        return (
            f"; the paper venue {sources[0]} is a simulator whose account lived only in that "
            "journal: it starts again from its starting cash, with no orders or positions, "
            "and nothing of its history is made up"
        )
    return (
        f"; the paper venues {', '.join(sources)} are simulators whose accounts lived only "
        "in that journal: they start again from their starting cash, with no orders or "
        "positions, and nothing of their history is made up"
    )


UNREADABLE_ALERT = "Last-run record unreadable"
"""The toast's title when this host's record could not be read at start."""
NOT_SAVED_ALERT = "Last-run record not saved"
"""The toast's title when the disk refuses this host's record (once a run)."""
UNJOURNALED_ALERT = "Last run: events NOT journaled"
STATE_SUPERSEDED_ALERT = "Last run's state never journaled: set again since"
"""The toast's title when the last run closed with events its bus did not journal."""
STATE_LOST_ALERT = "Trading state lost from the journal"
"""The toast's title when the risk stream no longer held the trading state at start."""
STATE_MAY_BE_LOST_ALERT = "Trading state may be lost from the journal"
"""The toast's title when entries deleted from the risk stream may have taken the
trading state, at start (what was deleted cannot be read back)."""
STATE_HELD_HERE_ALERT = "Trading state held on this desk alone"
"""The toast's title when Redis lost the risk stream (or the entries setting the
trading state) while the desk held a state of its own (`RiskGate.held_here`): nothing
is written back (`Session._keep_hold`)."""

WRITTEN_BACK = "trading state {state} written back at start: {why}"
"""The message of the STATE entry a start writes when the risk stream had lost it."""


class RunRecorder:
    """Reads a desk's record once at start (`read`), checks it against the bus
    (`check`) and keeps it following the desk's epoch and trading state (`record`,
    `keep`). What the trader must be told beyond the start's check (a record that
    cannot be read, or saved) goes to the Log pane and to `tell` (a toast)."""

    def __init__(
        self, engine: TradingEngine, path: Path, clock: Callable[[], int] = time.time_ns
    ) -> None:
        self.engine = engine
        self.path = path
        self._clock = clock
        self._written: tuple[object, ...] | None = None
        self._checked = False  # nothing is written before the start's check
        self.found: Found | None = None  # what `read` found
        self.tell: Callable[[str, str, bool, str], None] | None = None
        """Called with a toast's title, its message, whether it was journaled (its line
        is in the Log pane) and its severity: the session's alerts."""
        self._not_saved = ""  # why the last write failed ("" once one succeeds)
        self._not_saved_told = False  # the toast is shown once a run
        # Entries of stricter states this start found set while the desk was down, whose
        # cancels have not all gone out (`acting`).
        self._acting: set[str] = set()
        self.carried: Carried | None = None
        """A stricter state this host's last run held and never journaled, that `check`
        wrote: the session honours it once the brokers are up."""
        self._written_ms = 0  # when the record was last written (`RECORD_FRESH_S`)
        self._unjournaled: Unjournaled | None = None  # (`_unjournaled_now`)
        self._unjournaled_at = 0.0
        self._writing = asyncio.Lock()  # one write at a time (one temporary file)

    async def read(self) -> LastRun | None:
        """The record as this start found it, read once (from a thread): the claims ask
        first (`Session.open`), then `check`. One that cannot be read is set aside, and
        `unreadable` says why."""
        if self.found is None:
            self.found = await asyncio.to_thread(find, self.path, self._clock())
        return self.found.record

    @property
    def unreadable(self) -> str:
        """Why the record this start found could not be read ("" when it could, or
        there was none)."""
        return self.found.unreadable if self.found is not None else ""

    def unreadable_text(self) -> str:
        """What the trader is told of a record that could not be read, with the state
        to check (the engine's: the journal's once recovered)."""
        found = self.found
        assert found is not None
        if found.aside is not None:
            kept = f"it is kept aside as {found.aside.name}"
        else:
            kept = f"it could not be set aside ({found.not_aside}) and this run writes over it"
        return (
            f"This host's record of its last desk run on this bus ({self.path}) could not be "
            f"read: {found.unreadable}; {kept}. The guard against a journal Redis lost while "
            "no desk ran is off for this start: had Redis lost its data since this host's "
            "desk last ran, a kill switch or REDUCE ONLY left then is not carried forward, "
            f"and trading is {self.engine.gate.state} as the journal gave it. Check the "
            "trading state (pull the kill switch or set REDUCE ONLY again if the desk was "
            "left so); the record is written again at this run"
        )

    async def _log(self, level: LogLevel, message: str) -> bool:
        """A line in the Log pane; False when the bus refused it."""
        try:
            await self.engine.bus.publish(
                LogEvent.create(ENGINE_SOURCE, Log(level=level, message=message))
            )
        except BusError as exc:
            log.warning("last_run.not_logged", extra={"error": str(exc), "said": message})
            return False
        return True

    async def say(self, title: str, message: str, level: LogLevel = LogLevel.WARNING) -> None:
        """A warning (or an error) in the Log pane and a toast."""
        journaled = await self._log(level, message)
        if self.tell is not None:
            self.tell(title, message, journaled, "error" if level is LogLevel.ERROR else "warning")

    async def check(self) -> str | None:
        """After recovery, before the venues connect: whether the journal this host's
        desk last wrote was lost since. If so, carry the recorded trading state when it
        restricts more than the one replayed (logged and journaled), and return what
        the trader must be told; None when there is nothing to say."""
        self._checked = True
        epoch = self.engine.bus.epoch
        if epoch is None:
            return None
        record = await self.read()
        if self.unreadable:
            await self.say(UNREADABLE_ALERT, self.unreadable_text())
        mine = self.engine.brokers
        if record is not None and record.unjournaled is not None and ours(record.unjournaled, mine):
            said = record.unjournaled.told(utc_ms(record.at_ms))
            log.error("last_run.closed_unjournaled", extra={"said": said})
            await self.say(UNJOURNALED_ALERT, said)  # the record written next clears it
        if record is None or record.epoch == epoch:
            await self._check_state(record)
            await self._carry_unwritten(record)
            return None
        engine = self.engine
        when = utc_ms(record.at_ms)
        replayed = engine.gate.state
        # A state that run held alone is held alone again: carried, it halted every desk.
        held = record.held_here and stricter(record.trading_state, replayed)
        carried = not record.held_here and stricter(record.trading_state, replayed)
        log.error(
            "last_run.journal_lost",
            extra={
                "path": str(self.path),
                "recorded_epoch": record.epoch,
                "epoch": epoch,
                "recorded_state": record.trading_state,
                "carried": carried,
                "held_here": held,
            },
        )
        said = (
            f"Redis lost the journal this host's desk last wrote (up to {when}) while no "
            "desk ran. Orders, positions and balances come from the venues' reconcile"
        )
        said += _simulators_lost([b.source for b in engine.brokers.values() if b.state_in_journal])
        if held:
            self._hold_here(
                record.trading_state,
                f"this host's last desk run on this bus held it on that desk alone (up to "
                f"{when}), and Redis lost the journal since: held on this desk alone at start",
            )
            said += (
                f"; trading stays {record.trading_state} on this desk alone, as this host's "
                f"last desk run held it on its own (its state may have gone with entries "
                f"deleted from {engine.bus.layout.risk}): nothing is written there, so the "
                f"other desks on this bus trade on as it says ({replayed}). Check the venues "
                "and what the other desks show, then resume (Ctrl+R) if trading should go on"
            )
        elif carried:
            engine.gate.state = record.trading_state
            await carry_trading_state(
                engine, CARRIED_FROM_LAST_RUN.format(state="{state}", when=when)
            )
            said += (
                f"; trading stays {record.trading_state} as it was left: check the venues, "
                "then resume"
            )
        await engine.bus.publish(
            LogEvent.create(ENGINE_SOURCE, Log(level=LogLevel.ERROR, message=said))
        )
        return said

    async def _check_state(self, record: LastRun | None) -> None:
        """The journal this host's desk last wrote is still there (or there is no
        record): whether its risk stream still holds the trading state
        (`trading_state_deleted`). Entries deleted from it by another hand took the
        newest entry setting it that this host's last run had read, and nothing setting
        it is left after that (`StateLoss.sure`): the record's state is carried where
        it is stricter than the one replayed, and written back as the stream's newest
        entry (not over another desk's entry: that one then holds); one the record does
        not make stricter is not written (a desk whose last run left it stricter carries
        its own when it starts). Entries deleted that may have set it, which nothing
        here can tell (no record, or one whose entry is still there: the deleted ones
        may be newer than its run), halt this desk alone (`_may_be_lost`). Nothing is
        looked at when this start set the epoch (the prefix held no desk's journal:
        `epoch_new`). Redis refusing the reads leaves the start as the journal gave it
        (logged)."""
        engine = self.engine
        risk = engine.bus.layout.risk
        replayed = engine.gate.state
        if record is None and engine.bus.epoch_new:
            return  # no desk journaled a state under this epoch: none to lose
        try:
            deleted = await trading_state_deleted(
                engine.bus, record.state_entry if record is not None else None
            )
        except BusUnavailableError:
            raise
        except BusError as exc:
            log.warning("last_run.state_not_checked", extra={"error": str(exc)})
            return
        if not deleted:
            return
        if record is None or not deleted.sure or record.held_here:
            # A record's state held alone was never journaled: not one to write back.
            await self._may_be_lost(deleted, record, replayed)
            return
        carried = stricter(record.trading_state, replayed)
        when = utc_ms(record.at_ms)
        log.error(
            "last_run.trading_state_lost",
            extra={
                "deleted": deleted,
                "recorded_state": record.trading_state,
                "replayed": str(replayed),
                "carried": carried,
            },
        )
        if not carried:
            said = (
                f"{deleted}. Trading is {replayed} as the journal gave it and this host's "
                f"last desk run on this bus left it (up to {when}); nothing is written back, "
                "so a desk whose last run left it stricter carries its own when it starts. A "
                "kill switch or REDUCE ONLY another desk set may have gone with the deleted "
                "entries: check the venues and what the other desks show, then resume "
                "(Ctrl+R) or set the state again, which writes it back"
            )
            await self.say(STATE_LOST_ALERT, said)
            return
        engine.gate.state = record.trading_state
        why = f"{deleted}; as this host's last desk run left it (up to {when})"
        try:
            written = await restate_trading_state(
                engine, WRITTEN_BACK.format(state="{state}", why=why), reader=False
            )
        except BusUnavailableError:
            raise
        except BusError as exc:
            log.error("last_run.trading_state_not_written", extra={"error": str(exc)})
            written = None
        state = engine.gate.state  # another desk's entry, applied meanwhile, holds
        back = (
            f"written back to {risk} as its newest entry, so every desk and the next start keep it"
            if written is not None
            else f"not written back to {risk} (another desk's entry came first, or Redis "
            "refused it: see the log)"
        )
        said = (
            f"{deleted}. Trading is {state} as this host's last desk run on this bus left it "
            f"(up to {when}), {back}. A resume another desk journaled since "
            "may have gone with the deleted entries: check the venues and what the other "
            "desks show, then resume (Ctrl+R) if trading should go on"
        )
        await self.say(STATE_LOST_ALERT, said)

    async def _carry_unwritten(self, record: LastRun | None) -> None:
        """The record's `state_unwritten`, a KILL or REDUCE ONLY this desk's last run
        set and never journaled (Redis out of reach until it stopped; a state of another
        desk of this host is that desk's start's), when the journal gives a looser state
        and nothing set the trading state after what that run had read when it set it
        (`UnwrittenState.seen`: a resume another desk journaled since stands, and is
        said). Set within `CARRY_TO_EVERY_DESK_S`: written now as it was set (a KILL as
        a KILL: every desk honours it, as they would have when Redis came back had that
        run lived); older, or refused by Redis now: held on this desk alone, the record
        carrying it on. Either way the session cancels what it asks once the brokers are
        up and says so (`carried`). Redis refusing the read leaves the start as the
        journal gave it (logged)."""
        if record is None or record.state_unwritten is None:
            return
        unwritten = record.state_unwritten
        engine = self.engine
        if not ours(unwritten, engine.brokers):
            return  # another desk of this host set it: its start carries it
        if not stricter(unwritten.trading_state, engine.gate.state):
            return  # written after all, or stricter since
        try:
            since = await state_set_after(
                partial(engine.bus.read_last, engine.bus.layout.risk), unwritten.seen
            )
        except BusUnavailableError:
            raise
        except BusError as exc:
            log.error("last_run.unwritten_state_not_read", extra={"error": str(exc)})
            return
        what = "a kill switch" if unwritten.action is RiskAction.KILL else "REDUCE ONLY"
        when = utc_ms(unwritten.at_ms)
        if since is not None:
            log.warning(
                "last_run.unwritten_state_superseded",
                extra={"state": str(unwritten.trading_state), "since": since.id},
            )
            await self.say(
                STATE_SUPERSEDED_ALERT,
                f"This desk's last run set {what} at {when} ({unwritten.message}) that "
                f"Redis never took, and the trading state was set since: "
                f"{_set_since(since)}: trading is {engine.gate.state} as the journal gives "
                "it. Pull the kill switch or set REDUCE ONLY again if it should hold",
            )
            return
        held = unwritten.held()
        age_s = (self._clock() // 1_000_000 - unwritten.at_ms) / 1000
        if age_s > CARRY_TO_EVERY_DESK_S:
            why = (
                f"set {age_s / 60:.0f} min ago: the other desks traded on meanwhile, so it "
                "is held on this desk alone, not written for them (pull the kill switch, or "
                "set REDUCE ONLY, again to have every desk take it)"
            )
            self._hold_here(unwritten.trading_state, f"{what} never journaled, {why}")
            self.carried = Carried("", unwritten, why)
            return
        try:
            entry = await engine.write_unwritten(held)
        except BusUnavailableError:
            raise
        except BusError as exc:
            # Still held and carried by the record (`TradingEngine.state_unwritten`).
            log.error("last_run.unwritten_state_not_written", extra={"error": str(exc)})
            why = f"Redis refused it now ({exc}): held on this desk alone"
            self._hold_here(unwritten.trading_state, f"{what} never journaled; {why}")
            self.carried = Carried("", unwritten, why)
            return
        log.error(
            "last_run.unwritten_state_carried",
            extra={"state": str(unwritten.trading_state), "entry": entry},
        )
        self.carried = Carried(
            entry or "",
            unwritten,
            "" if entry else "Redis out of reach again: written when it is back",
        )

    async def _may_be_lost(
        self, deleted: StateLoss, record: LastRun | None, replayed: TradingState
    ) -> None:
        """Entries deleted from the risk stream may have set the trading state, and
        nothing can tell (`trading_state_deleted`): this desk starts HALTED alone, on the
        safe side (`RiskGate.hold_here`, shown as its state: its projection takes it as
        from the stream, and any state journaled after ends it, this desk's resume or
        another desk's entry). Nothing is written to the stream: HALTED written there
        halted every desk on this bus though the stream may well hold their state (a
        reject XDELed), and undid a resume still in it. Already HALTED, it is said and
        nothing changes."""
        engine = self.engine
        record_said = (
            f"; this host's last desk run on this bus (up to {utc_ms(record.at_ms)}) left "
            f"it {record.trading_state}"
            + (" on that desk alone (held, not journaled)" if record.held_here else "")
            if record is not None
            else "; this host has no record of a desk run on this bus"
            + (" (its record could not be read)" if self.unreadable else "")
        )
        log.error(
            "last_run.trading_state_may_be_lost",
            extra={
                "deleted": deleted,
                "recorded_state": record.trading_state if record is not None else None,
                "replayed": str(replayed),
            },
        )
        if replayed is TradingState.HALTED:
            said = (
                f"{deleted}{record_said}. Trading is HALTED as the journal gave it: nothing "
                "changes here. A resume journaled since may have gone with the deleted "
                "entries: check the venues and what the other desks show, then resume "
                "(Ctrl+R) if trading should go on"
            )
            await self.say(STATE_MAY_BE_LOST_ALERT, said)
            return
        why = (
            f"the trading state may have gone with entries deleted from "
            f"{engine.bus.layout.risk}: halted on this desk alone at start"
        )
        self._hold_here(TradingState.HALTED, why)
        said = (
            f"{deleted}{record_said}. This desk starts HALTED, on the safe side, and on "
            f"this desk alone: nothing is written to {engine.bus.layout.risk}, so the other "
            f"desks on this bus trade on as it says ({replayed}). A kill switch or REDUCE "
            "ONLY set before may have gone with the deleted entries: check the venues and "
            "what the other desks show, then resume (Ctrl+R) if trading should go on, or "
            "set REDUCE ONLY or pull the kill switch; either is journaled, and every desk "
            "and every start takes it from there"
        )
        await self.say(STATE_MAY_BE_LOST_ALERT, said, LogLevel.ERROR)

    def _hold_here(self, state: TradingState, why: str) -> None:
        """Trade in `state` on this desk alone (`RiskGate.hold_here`), shown as its
        state: the projection takes it as from the stream, and any state journaled
        after ends it. Nothing is written."""
        engine = self.engine
        engine.gate.hold_here(state, why)
        engine.projection.apply(
            RiskEvent.create(
                ENGINE_SOURCE, Risk(action=RiskAction.STATE, trading_state=state, message=why)
            )
        )

    def acting(self, entry: str) -> None:
        """A KILL or REDUCE ONLY (the risk stream's `entry`) this start found set while
        the desk was down, and acts on once its brokers are up
        (`Session._state_while_down`): until `acted`, the record says this run read the
        risk stream only up to right before it (`LastRun.state_entry`), and that this
        desk's brokers are still acting on it (`LastRun.acting`: another desk of this
        host writing its own `state_entry` keeps it). Written as read before its cancels
        went out, a desk killed meanwhile (or quit) left a record that had read it, and
        its own heartbeats after it: its next start took it as acted on, and the orders
        stayed working at the venue."""
        self._acting.add(entry)

    def acted(self, entry: str) -> None:
        """`entry`'s cancels went out (or it was lifted): the record may say it was
        read, and this desk's brokers no longer acting on it, from the next write on."""
        self._acting.discard(entry)

    def _seen(self, acting: dict[str, str]) -> str:
        """The record's `state_entry`: the newest entry setting the trading state this
        run read, held right before a state it is still acting on (`acting`)."""
        seen = state_seen(self.engine.bus) or "0-0"
        if acting:
            first = min(acting.values(), key=parse_id)
            if parse_id(seen) >= parse_id(first):
                return entry_before(first)
        return seen

    def _acting_now(self, owed: dict[str, tuple[str, ...]]) -> dict[str, str]:
        """Per broker, the oldest entry this run is still acting on: a state its start
        found set while the desk was down (`acting`, every broker), or the KILL whose
        cancels it owes that broker (`owed`: `TradingEngine.kill_still_owed`)."""
        acting: dict[str, str] = {}
        if self._acting:
            acting = dict.fromkeys(self.engine.brokers, min(self._acting, key=parse_id))
        kill = self.engine.kill_entry
        for broker in owed:
            if broker not in acting or parse_id(kill) < parse_id(acting[broker]):
                acting[broker] = kill
        return acting

    async def record(
        self,
        *,
        always: bool = False,
        unjournaled: Unjournaled | None = None,
        closed: bool = False,
    ) -> None:
        """Write the record when the epoch or the trading state changed since the last
        write, or `always` (at close: the record then says when the desk last ran, and
        what it closed with unjournaled; `closed`: written by the close, which says that
        itself, not what the running desk holds unjournaled). Nothing on `memory://`,
        nothing before `check`. One write at a time: the session writes it as it acts on
        a state, beside `keep`."""
        async with self._writing:
            await self._record(always=always, unjournaled=unjournaled, closed=closed)

    async def _record(self, *, always: bool, unjournaled: Unjournaled | None, closed: bool) -> None:
        epoch = self.engine.bus.epoch
        if epoch is None or not self._checked:
            return
        engine = self.engine
        gate = engine.gate
        owed = engine.kill_still_owed()
        acting = self._acting_now(owed)
        seen = self._seen(acting)
        held = engine.state_unwritten
        unwritten = UnwrittenState.of(held, engine.brokers) if held is not None else None
        if unjournaled is None and not closed:
            unjournaled = self._unjournaled_now()
        now = (
            epoch,
            gate.state,
            seen,
            bool(gate.held_here),
            sorted(acting.items()),
            owed,
            unwritten,
            unjournaled,
        )
        at_ms = self._clock() // 1_000_000
        fresh = at_ms - self._written_ms < RECORD_FRESH_S * 1000
        if now == self._written and fresh and not always:
            return
        record = LastRun(
            bus=self.engine.bus.stats.url,
            prefix=self.engine.bus.layout.prefix,
            epoch=epoch,
            trading_state=gate.state,
            at_ms=at_ms,
            unjournaled=unjournaled,
            state_entry=seen,
            held_here=bool(gate.held_here),
            acting=acting,
            kill_owed={broker: list(cids) for broker, cids in owed.items()},
            state_unwritten=unwritten,
        )
        brokers = frozenset(self.engine.brokers)
        try:
            await asyncio.to_thread(write_merged, self.path, record, brokers)
        except OSError as exc:
            await self._refused(exc)
            return
        self._written, self._written_ms = now, at_ms
        if self._not_saved:
            self._not_saved = ""
            log.info("last_run.saved_again", extra={"path": str(self.path)})
            await self._log(
                LogLevel.INFO,
                f"This host's record of its last desk run on this bus is saved again at "
                f"{self.path}: a start after Redis lost its data while no desk ran is "
                "guarded again",
            )

    def _unjournaled_now(self) -> Unjournaled | None:
        """What this running desk holds NOT journaled (Redis out of reach: its bus's
        outage backlog, its brokers' reports the bus refused), as its close would say
        it: a desk killed before Redis is back leaves it to its next start's words (the
        paper venue's cancels undone on its return, said nowhere). None when nothing.
        Counted at most every `UNJOURNALED_EVERY_S` while any is held (the count walks
        the outage backlog: milliseconds at 10,000 events), at once when none was."""
        now = time.monotonic()
        if self._unjournaled is not None and now - self._unjournaled_at < UNJOURNALED_EVERY_S:
            return self._unjournaled
        self._unjournaled_at = now
        events, fills = self.engine.bus.unwritten()
        brokers = self.engine.brokers.values()
        kept = sum(broker.unjournaled for broker in brokers)
        if not events and not kept:
            self._unjournaled = None
            return None
        self._unjournaled = Unjournaled.of(events + kept, fills, brokers, closed=False)
        return self._unjournaled

    async def _refused(self, exc: OSError) -> None:
        """The disk refused the record: logged and said once while it keeps refusing
        (`keep` tries again every second), the toast once a run."""
        if self._not_saved:
            log.debug("last_run.not_saved", extra={"path": str(self.path), "error": str(exc)})
            return
        self._not_saved = exc.strerror or type(exc).__name__
        log.warning("last_run.not_saved", extra={"path": str(self.path), "error": str(exc)})
        message = (
            f"This host's record of its last desk run on this bus cannot be saved at "
            f"{self.path} ({self._not_saved}). Without it, a start after Redis lost its data "
            "while no desk ran cannot tell: it comes up as the empty journal says (a kill "
            "switch or REDUCE ONLY set now is not carried forward) and cannot tell lost "
            f"claims from a first start. To fix: make {self.path.parent} a writable "
            "directory with free space on its disk; it is tried again every second, and "
            "the Log pane says when it is saved"
        )
        if self._not_saved_told:
            await self._log(LogLevel.WARNING, message)
            return
        self._not_saved_told = True
        await self.say(NOT_SAVED_ALERT, message)

    async def keep(self, every_s: float = 1.0) -> None:
        """`record` every `every_s`: a kill switch is on disk within a second, whichever
        desk pulled it and whether or not Redis took it."""
        while True:
            await self.record()
            await asyncio.sleep(every_s)
