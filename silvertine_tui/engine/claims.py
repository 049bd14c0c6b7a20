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
- A claim left by a desk that died on this host (its process is gone) is taken over at
  once; one left by a desk of another host lapses `claim_ttl_s` after its last renewal.
- A claim lost while running (this desk could not renew it for longer than the ttl and
  another desk took it) stops this desk sending: see `Session`.

Desks that only watch (every broker `enabled: false`) claim nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
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


def _zombie(pid: int) -> bool:
    """A process killed but not yet reaped by its parent: gone all the same."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[:1] == ["Z"]


class DeskId(BaseModel):
    """Who holds a claim: one running desk. Stored as the claim's JSON value."""

    model_config = ConfigDict(frozen=True, extra="ignore", defer_build=True)

    desk: str
    host: str
    pid: int
    boot: str = ""
    since: datetime

    @classmethod
    def this_process(cls) -> DeskId:
        return cls(
            desk=secrets.token_hex(8),
            host=socket.gethostname(),
            pid=os.getpid(),
            boot=_boot_id(),
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
        """True when this desk's process ran on `here`'s host, in its boot, and has exited."""
        if self.host != here.host or self.boot != here.boot or self.pid == here.pid:
            return False  # another machine, or this very process: cannot tell
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:  # alive, another user's
            return False
        return _zombie(self.pid)


@dataclass(frozen=True, slots=True)
class ClaimConflict:
    """A broker this desk would drive, claimed by another desk."""

    broker: str
    holder: DeskId | None  # None: a value no desk of ours wrote
    ttl_ms: int

    def holder_text(self) -> str:
        return self.holder.describe() if self.holder else "a holder it does not name"

    def message(self) -> str:
        who = f"({self.holder_text()})"
        lapse = f"{max(self.ttl_ms, 0) / 1000:.0f} s" if self.ttl_ms >= 0 else "never (no ttl)"
        return (
            f"broker {self.broker} is driven by another desk on this bus {who}: one desk "
            f"drives a broker at a time. Quit that desk first, or give this one another "
            f"bus prefix (--prefix). If that desk is gone, its claim lapses in {lapse}."
        )


class BrokerClaimedError(Exception):
    """The start is refused: brokers of this desk are driven by other desks."""

    def __init__(self, conflicts: list[ClaimConflict], *, url: str, prefix: str) -> None:
        self.conflicts = conflicts
        self.url = url  # the bus's, its password hidden
        self.prefix = prefix
        super().__init__("; ".join(c.message() for c in conflicts))

    def watch_command(self) -> str:
        """How to watch the desk that drives them, from here."""
        return f"silvertine replay --bus {self.url} --prefix {self.prefix} --follow"


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

    async def renew(self) -> list[ClaimConflict]:
        """Renew every claim still held; the ones found newly held by another desk."""
        newly = []
        for broker in self.brokers:
            if broker in self.lost:
                continue
            conflict = await self._claim(broker)
            if conflict is not None:
                self.lost[broker] = conflict
                newly.append(conflict)
        return newly

    async def keep(self, on_lost: Callable[[ClaimConflict], Awaitable[None]]) -> None:
        """Renew every third of the ttl until cancelled. A bus that cannot be reached
        is retried at the next turn (its outage is the bus's to show)."""
        every = self.ttl_ms / 3000
        while True:
            await asyncio.sleep(every)
            try:
                lost = await self.renew()
            except BusError as exc:
                self.renew_failures += 1
                log.warning("claims.renew_failed", extra={"error": str(exc)})
                continue
            for conflict in lost:
                log.error(
                    "claims.lost", extra={"broker": conflict.broker, "why": conflict.message()}
                )
                try:
                    await on_lost(conflict)
                except Exception:  # the renewals go on: the other claims still count
                    log.exception("claims.on_lost_failed", extra={"broker": conflict.broker})

    async def release(self) -> None:
        for broker in sorted(self.held):
            await self.bus.release(self._key(broker), self.value)
            self.held.discard(broker)
