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
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from ..domain import TradingState
from ..events import Log, LogEvent, LogLevel
from .core import ENGINE_SOURCE, TradingEngine, utc_ms
from .recovery import carry_trading_state

log = logging.getLogger(__name__)


class LastRun(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore", defer_build=True)

    bus: str  # the bus URL, password redacted: the record is never a secret
    prefix: str
    epoch: str
    trading_state: TradingState
    at_ms: int  # when it was written


def record_path(state_dir: Path, bus_url: str, prefix: str) -> Path:
    """One file per bus and prefix (`desks/<hash>.json`): desks on other prefixes or
    servers keep their own."""
    digest = hashlib.sha256(f"{bus_url}\n{prefix}".encode()).hexdigest()[:16]
    return state_dir / "desks" / f"{digest}.json"


def load(path: Path) -> LastRun | None:
    """The record, or None when there is none or it cannot be read (logged): a record
    that cannot be read guards nothing, and must not stop a desk from starting.
    Touches the disk: call it from a thread."""
    try:
        raw = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as exc:
        log.warning("last_run.unreadable", extra={"path": str(path), "error": str(exc)})
        return None
    try:
        return LastRun.model_validate(json.loads(raw))
    except (ValueError, ValidationError) as exc:
        log.warning("last_run.unreadable", extra={"path": str(path), "error": str(exc)})
        return None


def save(path: Path, record: LastRun) -> bool:
    """Write the record (a temporary file renamed over the old one); False, logged, when
    the disk refuses. Touches the disk: call it from a thread."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        tmp.write_text(record.model_dump_json(indent=2) + "\n", encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        log.warning("last_run.not_saved", extra={"path": str(path), "error": str(exc)})
        return False
    return True


def stricter(recorded: TradingState, now: TradingState) -> bool:
    """Whether the recorded state restricts more than the one the journal gave."""
    return recorded.strictness > now.strictness


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


class RunRecorder:
    """Checks a desk's record at start (`check`) and keeps it following the desk's
    epoch and trading state (`record`, `keep`)."""

    def __init__(
        self, engine: TradingEngine, path: Path, clock: Callable[[], int] = time.time_ns
    ) -> None:
        self.engine = engine
        self.path = path
        self._clock = clock
        self._written: tuple[str, TradingState] | None = None
        self._checked = False  # nothing is written before the start's check

    async def check(self) -> str | None:
        """After recovery, before the venues connect: whether the journal this host's
        desk last wrote was lost since. If so, carry the recorded trading state when it
        restricts more than the one replayed (logged and journaled), and return what
        the trader must be told; None when there is nothing to say."""
        self._checked = True
        epoch = self.engine.bus.epoch
        if epoch is None:
            return None
        record = await asyncio.to_thread(load, self.path)
        if record is None or record.epoch == epoch:
            return None
        engine = self.engine
        when = utc_ms(record.at_ms)
        carried = stricter(record.trading_state, engine.gate.state)
        log.error(
            "last_run.journal_lost",
            extra={
                "path": str(self.path),
                "recorded_epoch": record.epoch,
                "epoch": epoch,
                "recorded_state": record.trading_state,
                "carried": carried,
            },
        )
        said = (
            f"Redis lost the journal this host's desk last wrote (up to {when}) while no "
            "desk ran. Orders, positions and balances come from the venues' reconcile"
        )
        said += _simulators_lost([b.source for b in engine.brokers.values() if b.state_in_journal])
        if carried:
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

    async def record(self, *, always: bool = False) -> None:
        """Write the record when the epoch or the trading state changed since the last
        write, or `always` (at close: the record then says when the desk last ran).
        Nothing on `memory://`, nothing before `check`."""
        epoch = self.engine.bus.epoch
        if epoch is None or not self._checked:
            return
        now = (epoch, self.engine.gate.state)
        if now == self._written and not always:
            return
        record = LastRun(
            bus=self.engine.bus.stats.url,
            prefix=self.engine.bus.layout.prefix,
            epoch=epoch,
            trading_state=now[1],
            at_ms=self._clock() // 1_000_000,
        )
        if await asyncio.to_thread(save, self.path, record):
            self._written = now

    async def keep(self, every_s: float = 1.0) -> None:
        """`record` every `every_s`: a kill switch is on disk within a second, whichever
        desk pulled it and whether or not Redis took it."""
        while True:
            await self.record()
            await asyncio.sleep(every_s)
