"""One desk drives each broker on a bus.

The desk that drives a broker writes its market data stream and its accounts' journals
and holds the orders in flight with it. Two desks driving the same broker on one bus
would each run their own connection to it (for the paper broker: their own simulated
venue, with its own market, orders and cash) and write the same streams: quotes of two
markets interleaved, balances flipping between two accounts, an order placed on one
desk that the other cannot cancel. Nothing would say so. So a desk claims each of its
brokers on the bus (`{prefix}:claim:{broker}`, `EventBus.claim`) when its bus opens,
before it replays anything, renews the claims every third of `engine.claim_ttl_s`
while it runs and releases them when it closes.

- A broker claimed by another desk refuses the start (`BrokerClaimedError`): which
  broker, which desk (host, pid, since when) and what to do.
- A claim left by a desk that died here (this host, boot and pid namespace; its
  process is gone) is taken over at once; any other lapses `claim_ttl_s` after its
  last renewal.
- While no renewal succeeds for half the ttl (`lapsed`) this desk sends no new order;
  a claim found taken by another desk stops it sending for good: see `Session`.

Desks that only watch (every broker `enabled: false`) claim nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from ..bus import BusError, EventBus

log = logging.getLogger(__name__)

BOOT_ID = Path("/proc/sys/kernel/random/boot_id")


def _boot_id() -> str:
    """This machine's boot id ("" where there is none): a pid names a process only
    within one boot of one host."""
    try:
        return BOOT_ID.read_text().strip()
    except OSError:
        return ""


def _pid_namespace() -> int:
    """This process's pid namespace (0 where it cannot be read): a pid names a process
    only in its namespace. Containers sharing a host's network (and so its host name)
    have their own."""
    try:
        return os.stat("/proc/self/ns/pid").st_ino
    except OSError:
        return 0


def _process_stat(pid: int) -> tuple[str, int] | None:
    """(state, start time in clock ticks since boot) of a process; None when there is
    no such process (or it cannot be read)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rpartition(")")[2].split()
    # After the command: state is field 3 of stat(5), the start time field 22.
    try:
        return fields[0], int(fields[19])
    except (IndexError, ValueError):
        return None


def _started(pid: int) -> int:
    found = _process_stat(pid)
    return found[1] if found is not None else 0


class DeskId(BaseModel):
    """Who holds a claim: one running desk. Stored as the claim's JSON value."""

    model_config = ConfigDict(frozen=True, extra="ignore", defer_build=True)

    desk: str
    host: str
    pid: int
    boot: str = ""
    pid_ns: int = 0  # the pid namespace's inode (0: unknown)
    started: int = 0  # the process's start, clock ticks after boot (0: unknown)
    since: datetime

    @classmethod
    def this_process(cls) -> DeskId:
        pid = os.getpid()
        return cls(
            desk=secrets.token_hex(8),
            host=socket.gethostname(),
            pid=pid,
            boot=_boot_id(),
            pid_ns=_pid_namespace(),
            started=_started(pid),
            since=datetime.now(UTC),
        )

    @classmethod
    def parse(cls, text: str) -> DeskId | None:
        """The holder of a claim, or None for a value no desk of ours wrote."""
        try:
            return cls.model_validate_json(text)
        except ValidationError:
            return None

    def describe(self) -> str:
        return f"host {self.host}, pid {self.pid}, since {self.since:%Y-%m-%d %H:%M:%S} UTC"

    def gone(self, here: DeskId) -> bool:
        """True when this desk's process ran where `here` runs — the same host, boot and
        pid namespace, all known — and has exited: no process has its pid, or the one
        that has it is a zombie or started at another time (the pid was reused). Any
        other case cannot be told from here (another machine, another container, this
        very process): False, and the claim lapses by its ttl."""
        same_place = (
            self.host == here.host
            and self.boot == here.boot != ""
            and self.pid_ns == here.pid_ns != 0
        )
        if not same_place or self.pid == here.pid:
            return False
        found = _process_stat(self.pid)
        if found is None:
            try:
                os.kill(self.pid, 0)
            except ProcessLookupError:
                return True
            except PermissionError:  # alive, another user's
                return False
            return False  # alive, and /proc could not say more
        state, started = found
        return state == "Z" or (self.started != 0 and started != self.started)


@dataclass(frozen=True, slots=True)
class ClaimConflict:
    """A broker this desk would drive, claimed by another desk."""

    broker: str
    holder: DeskId | None  # None: a value no desk of ours wrote
    ttl_ms: int

    def holder_text(self) -> str:
        return self.holder.describe() if self.holder else "a holder it does not name"

    def message(self) -> str:
        return _refusal([self])


def _refusal(conflicts: list[ClaimConflict]) -> str:
    """One sentence for brokers held by one desk (the first one's lapse: the soonest
    of them is what the trader can wait for, and they were renewed together)."""
    first = conflicts[0]
    names = [c.broker for c in conflicts]
    which = (
        f"broker {names[0]} is"
        if len(names) == 1
        else f"brokers {', '.join(names[:-1])} and {names[-1]} are"
    )
    ttl_ms = min(c.ttl_ms for c in conflicts)
    lapse = f"{max(ttl_ms, 0) / 1000:.0f} s" if ttl_ms >= 0 else "never (no ttl)"
    claims = "its claim lapses" if len(names) == 1 else "its claims lapse"
    return (
        f"{which} driven by another desk on this bus ({first.holder_text()}): one desk "
        f"drives a broker at a time. Quit that desk first, or give this one another "
        f"bus prefix (--prefix). If that desk is gone, {claims} in {lapse}."
    )


class BrokerClaimedError(Exception):
    """The start is refused: brokers of this desk are driven by other desks."""

    def __init__(self, conflicts: list[ClaimConflict], *, url: str, prefix: str) -> None:
        self.conflicts = conflicts
        self.url = url  # the bus's, its password hidden
        self.prefix = prefix
        super().__init__("; ".join(self.lines()))

    def lines(self) -> list[str]:
        """One line per desk holding this desk's brokers (one, nearly always)."""
        by_holder: dict[str, list[ClaimConflict]] = {}
        for conflict in self.conflicts:
            by_holder.setdefault(conflict.holder_text(), []).append(conflict)
        return [_refusal(group) for group in by_holder.values()]

    def watch_command(self) -> str:
        """How to watch the desk that drives them, from here."""
        return f"silvertine watch --bus {self.url} --prefix {self.prefix}"


class BrokerClaims:
    """The claims of one desk on its brokers (see the module's docstring)."""

    def __init__(
        self,
        bus: EventBus,
        brokers: Iterable[str],
        ttl_s: float,
        *,
        desk: DeskId | None = None,
    ) -> None:
        self.bus = bus
        self.brokers = sorted(set(brokers))
        self.ttl_ms = max(int(ttl_s * 1000), 1)
        self.desk = desk or DeskId.this_process()
        self.value = self.desk.model_dump_json()  # what this desk's claims hold
        self.held: set[str] = set()
        self.lost: dict[str, ClaimConflict] = {}
        self.renew_failures = 0
        self.renewed_at = time.monotonic()  # the last time every claim was held

    def _key(self, broker: str) -> str:
        return self.bus.layout.claim(broker)

    async def _claim(self, broker: str) -> ClaimConflict | None:
        """Claim (or renew) `broker`; the conflict when another desk holds it."""
        key = self._key(broker)
        claim = await self.bus.claim(key, self.value, self.ttl_ms)
        if claim.holder != self.value:
            holder = DeskId.parse(claim.holder)
            if holder is not None and holder.gone(self.desk):
                log.warning(
                    "claims.took_over",
                    extra={"broker": broker, "from_pid": holder.pid, "host": holder.host},
                )
                claim = await self.bus.claim(key, self.value, self.ttl_ms, replacing=claim.holder)
        if claim.holder == self.value:
            self.held.add(broker)
            return None
        self.held.discard(broker)
        return ClaimConflict(broker, DeskId.parse(claim.holder), claim.ttl_ms)

    async def take(self) -> None:
        """Claim every broker, or none: `BrokerClaimedError` names the ones held."""
        conflicts = []
        try:
            for broker in self.brokers:
                conflict = await self._claim(broker)
                if conflict is not None:
                    conflicts.append(conflict)
        except BaseException:
            with contextlib.suppress(BusError):
                await self.release()
            raise
        if conflicts:
            with contextlib.suppress(BusError):
                await self.release()
            raise BrokerClaimedError(
                conflicts, url=self.bus.stats.url, prefix=self.bus.layout.prefix
            )
        self.renewed_at = time.monotonic()

    async def renew(self) -> list[ClaimConflict]:
        """Renew every claim still held; the ones found newly held by another desk (also
        recorded in `lost` as they are found). Raises what the bus raises; `renewed_at`
        moves only when every claim was renewed, to when the round began (no key was
        written earlier than that)."""
        began = time.monotonic()
        newly = []
        for broker in self.brokers:
            if broker in self.lost:
                continue
            conflict = await self._claim(broker)
            if conflict is not None:
                self.lost[broker] = conflict
                newly.append(conflict)
        self.renewed_at = began
        return newly

    @property
    def lapsed(self) -> bool:
        """No renewal has succeeded for half the ttl (the bus unreachable, or refusing):
        told while this desk's keys still stand (they expire a ttl after their last
        write), before another desk could take its brokers."""
        return time.monotonic() - self.renewed_at > self.ttl_ms / 2000

    async def keep(
        self,
        on_lost: Callable[[ClaimConflict], Awaitable[None]],
        on_lapse: Callable[[bool], Awaitable[None]],
    ) -> None:
        """Renew every third of the ttl until cancelled, each attempt given a sixth of
        it at most, so that a lapse is told within the ttl however the bus fails. A
        renewal that fails (the bus unreachable or refusing) is retried at the next
        turn; once none has succeeded for half the ttl, `on_lapse(True)` (this desk must
        not send: another desk may drive its brokers soon), and `on_lapse(False)` when
        one succeeds again. A broker found held by another desk is `on_lost`, once,
        whether or not the rest of its round went through."""
        every = self.ttl_ms / 3000
        was_lapsed = False
        told: set[str] = set()
        while True:
            await asyncio.sleep(every)
            try:
                async with asyncio.timeout(every / 2):
                    await self.renew()
            except Exception as exc:  # the bus's to show; here: retried, then lapsed
                self.renew_failures += 1
                log.warning("claims.renew_failed", extra={"error": str(exc) or type(exc).__name__})
            for broker, conflict in list(self.lost.items()):
                if broker in told:
                    continue
                told.add(broker)
                log.error("claims.lost", extra={"broker": broker, "why": conflict.message()})
                await self._call(on_lost(conflict))
            lapsed = self.lapsed
            if lapsed != was_lapsed:
                was_lapsed = lapsed
                log.log(
                    logging.ERROR if lapsed else logging.INFO,
                    "claims.lapsed" if lapsed else "claims.renewed",
                )
                await self._call(on_lapse(lapsed))

    @staticmethod
    async def _call(callback: Awaitable[None]) -> None:
        try:
            await callback
        except Exception:  # the renewals go on: the other claims still count
            log.exception("claims.callback_failed")

    async def release(self) -> None:
        for broker in sorted(self.held):
            await self.bus.release(self._key(broker), self.value)
            self.held.discard(broker)
