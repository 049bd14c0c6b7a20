"""One desk drives each broker on a bus.

The desk that drives a broker writes its market data stream and its accounts' journals
and holds the orders in flight with it. Two desks driving the same broker on one bus
would each run their own connection to it (for the paper broker: their own simulated
venue, with its own market, orders and cash) and write the same streams: quotes of two
markets interleaved, balances flipping between two accounts, an order placed on one
desk that the other cannot cancel. Nothing would say so. So a desk claims each of its
brokers on the bus (`{prefix}:claim:{broker}`, `EventBus.claim`) when its bus opens,
before it replays anything, renews the claims every third of `engine.claim_ttl_s`
while it runs (a renewal that failed sooner: half a second after, doubling up to the
turn, and at once once the bus reconnects, `keep`) and releases them when it closes.

- A broker claimed by another desk refuses the start (`BrokerClaimedError`): which
  broker, which desk (host, pid, since when) and what to do.
- A claim left by a desk that died here (this host, boot and pid namespace; its
  process is gone) is taken over at once; any other lapses `claim_ttl_s` after its
  last renewal.
- The bus keeps each claim twice, its key and a copy set, renewed, expiring and
  released with it (on Redis: `{key}:copy`, in the claim's one script): a hand that
  deletes the key alone (`redis-cli DEL`) frees nothing. A desk starting meanwhile is
  refused as if the key stood (`BrokerClaimedError`, naming the desk that holds it),
  and the holder's next renewal sets the key again (the bus logs
  `bus.redis.claim_key_restored`). Before, the next desk took the free key at once and
  drove the broker beside its holder until that one's next renewal found it taken.
- While no renewal succeeds for half the ttl (`lapsed`) this desk sends no new order;
  a claim found taken by another desk stops it sending for good: see `Session`. Both are
  read again right before an order or a change is handed to a broker (`stalled`, a
  clock read: true at once when the desk was paused past its lapse, before the keeper
  has run to tell it).
- While the bus may have lost claims (Redis no longer holds the epoch this host's
  desk last used: a restart or a flush that lost the prefix's keys, `Session.open`;
  or `EventBus.claim_wait`: a failover to a replica that held nothing) a free key
  cannot be told from one Redis lost while its holder still drives the broker. The
  claim is then taken *pending* (`deferred`) for a ttl: another starting desk is
  refused as usual, but the renewal of a desk that held the key before the loss takes
  it back. Once the wait is over (`take_deferred`, before the session connects its
  brokers) a pending claim still held is made outright; one taken back refuses the
  start. The holder from before the loss claims again as soon as its bus finds the
  restart (or at its next renewal), or its own claim lapses within the wait (it
  renewed last before the loss), so it sends nothing once the wait is over.

Desks that only watch (every broker `enabled: false`) claim nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import re
import secrets
import socket
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from ..bus import BusError, BusUnavailableError, EventBus
from ..bus.base import ClaimWait
from ..domain.clock import utc_time
from ..domain.redaction import redact_url

log = logging.getLogger(__name__)

REASON_MAX = 300
"""Characters of a failed renewal's reason kept (`BrokerClaims.renew_error`)."""
_SCRIPT_WHERE = re.compile(r"\.? script: [0-9a-f]{40}, on @user_script:\d+\.?")
"""Where in the claim's Lua script Redis refused (its hash, its line): no reason."""

RETRY_FIRST_S = 0.5
"""After a renewal that failed, the next is tried this much later, then twice as long
after each further failure, up to the keeper's turn (a third of the ttl): Redis that
takes writes again (an OOM lifted, a `DEBUG SLEEP` over, a failover done) is found
within a second or so of the first failure, not at the next turn (orders were refused
for seconds more, the ticket still saying Redis refused the claim); one that stays
down is asked a few times more, not hammered."""
RETRY_LOOK_S = 0.1
"""While a failed renewal waits to be tried again, how often the bus is looked at:
reconnected since (`BusStats.reconnects`), it is tried at once. A counter read, no
Redis command."""

BOOT_ID = Path("/proc/sys/kernel/random/boot_id")

GONE_HERE = "no longer runs (its process is gone)"
"""`ClaimConflict.left` of a holder that ran on this host and has exited (`DeskId.gone`)."""
LEFT_CLAIM = "no longer holds its claim, found free at"
"""`ClaimConflict.left` of a holder whose claim was found free (released as it quit, or
lapsed), and when (`BrokerClaims.follow_lost`)."""


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


def renewal_reason(exc: BaseException, waited_s: float) -> str:
    """Why a renewal did not land, as the bus (Redis) answered it, for the trader: no
    answer within `waited_s` (the attempt's bound), or the error's own words, with the
    password of any URL in them hidden (`redact_url`: a redis URL may hold one) and
    at most `REASON_MAX` characters."""
    if isinstance(exc, TimeoutError) and not str(exc):
        return f"no answer from the bus within {waited_s:g} s"
    # An outage's own advice ("try again once it is back") is left out: the lapse's
    # message says what to do.
    cause = exc.cause if isinstance(exc, BusUnavailableError) else str(exc)
    said = _SCRIPT_WHERE.sub("", cause) or type(exc).__name__
    words = [redact_url(word) if "://" in word else word for word in said.split(" ")]
    text = " ".join(words)
    return text if len(text) <= REASON_MAX else f"{text[: REASON_MAX - 1]}…"


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

    def name(self) -> str:
        """The desk as the trader knows it, `desk HOST pid PID`: as that desk names
        itself (`TradingEngine.desk_name`, its journaled reports, its bus's health)."""
        return f"desk {self.host} pid {self.pid}"

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


NO_DESK = "no desk"
"""How `ClaimConflict.holder_name` begins once the desk that took the broker is known to
have gone (`ClaimConflict.left`): no desk drives it as far as this desk knows (the
Health pane's broker line reads it so: ui/widgets/health.py)."""


@dataclass(frozen=True, slots=True)
class ClaimConflict:
    """A broker this desk would drive, claimed by another desk."""

    broker: str
    holder: DeskId | None  # None: a value no desk of ours wrote
    ttl_ms: int
    left: str = ""
    """What this desk learnt since of the holder's end, "" while nothing says it has
    gone (`BrokerClaims.follow_lost`, only for a claim this desk lost): `no longer
    holds its claim, found free at 14:30:05 UTC` (the claim read free: released as it
    quit, or lapsed), `no longer runs (its process is gone)` (this host's process
    table). Its claim is then free, or lapses within the ttl, so that a restart of
    this desk takes the broker back; held again later (that desk paused past its ttl
    and back, or a desk started since), the holder is named again. Before, a desk
    that lost its claim named the desk that took it for as long as it ran, long after
    that desk had quit."""

    def holder_text(self) -> str:
        said = self.holder.describe() if self.holder else "a holder it does not name"
        if self.left:
            said += f", which {self.left}: its claim is free as far as this desk knows"
        return said

    def holder_name(self) -> str:
        """Who drives the broker now, `desk HOST pid PID` (`DeskId.name`), or "another
        desk" when the claim's value names none; once that desk is known to have gone
        (`left`), `no desk (desk HOST pid PID quit at 14:30:05 UTC)` (`NO_DESK`)."""
        name = self.holder.name() if self.holder else "another desk"
        if self.left:
            return f"{NO_DESK} ({name} {self.left})"
        return name

    def taker_name(self) -> str:
        """The desk that took the broker from this one (`DeskId.name`), gone or not."""
        return self.holder.name() if self.holder else "another desk"

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
        # Brokers claimed pending, the bus may have lost claims (`take`): claimed
        # outright once `wait_until` (monotonic) has passed (`take_deferred`), and why.
        self.deferred: list[str] = []
        self.wait_until = 0.0
        self.wait_why = ""
        self.renew_failures = 0
        self.renew_error = ""
        """Why the last renewal did not land, as the bus answered it ("" once one did):
        the reason of a lapse (`renewal_reason`, no secret in it)."""
        self.renew_error_down = False
        """The last renewal failed for the bus being out of reach (unreachable, or no
        answer in time), not for a refusal: over once the bus has connected again since
        (`renew_error_reconnects`; connected alone is not enough: a bus that has not
        noticed yet that Redis stopped answering still says connected)."""
        self.renew_error_reconnects = 0
        """The bus's reconnects (`BusStats.reconnects`) when the last renewal failed."""
        self._told: set[str] = set()  # brokers found lost and told (`on_lost`)
        self._follower: asyncio.Task[None] | None = None  # `_follow_beside`
        # One round of claims at a time: a renewal that read a claim as pending must not
        # land after `take_deferred` made it outright (it would set the marker again).
        self._round = asyncio.Lock()
        self.renewed_at = time.monotonic()  # the last time every claim was held
        self.round_at = self.renewed_at  # the end of the keeper's last round (`stalled`)

    def _key(self, broker: str) -> str:
        return self.bus.layout.claim(broker)

    async def _claim(
        self, broker: str, *, pending: bool = False, over_pending: bool = False
    ) -> ClaimConflict | None:
        """Claim (or renew) `broker`; the conflict when another desk holds it. `pending`
        and `over_pending`: `EventBus.claim`."""
        key = self._key(broker)
        claim = await self.bus.claim(
            key, self.value, self.ttl_ms, pending=pending, over_pending=over_pending
        )
        if claim.holder != self.value:
            holder = DeskId.parse(claim.holder)
            if holder is not None and holder.gone(self.desk):
                log.warning(
                    "claims.took_over",
                    extra={"broker": broker, "from_pid": holder.pid, "host": holder.host},
                )
                claim = await self.bus.claim(
                    key, self.value, self.ttl_ms, replacing=claim.holder, pending=pending
                )
        if claim.holder == self.value:
            self.held.add(broker)
            return None
        self.held.discard(broker)
        return ClaimConflict(broker, DeskId.parse(claim.holder), claim.ttl_ms)

    async def take(self, lost: str = "") -> None:
        """Claim every broker, or none: `BrokerClaimedError` names the ones held. While
        the bus may have lost claims (`lost` says why, or `EventBus.claim_wait`) they
        are taken pending (`deferred`) for a ttl: `take_deferred` makes them outright
        once the wait is over."""
        conflicts = []
        try:
            wait = await self.bus.claim_wait(self.ttl_ms)
            if lost and wait.ms < self.ttl_ms:
                wait = ClaimWait(self.ttl_ms, lost)
            for broker in self.brokers:
                conflict = await self._claim(broker, pending=wait.ms > 0)
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
        self.renewed_at = self.round_at = time.monotonic()
        self._defer(list(self.brokers) if wait.ms > 0 else [], wait)

    def _defer(self, brokers: list[str], wait: ClaimWait) -> None:
        self.deferred = brokers
        if not brokers:
            return
        self.wait_until = time.monotonic() + wait.ms / 1000
        self.wait_why = wait.why
        log.warning(
            "claims.deferred",
            extra={"brokers": brokers, "wait_s": round(wait.ms / 1000, 1), "why": wait.why},
        )

    @property
    def wait_left(self) -> float:
        """Seconds until the pending claims are made outright (0 when none are)."""
        if not self.deferred:
            return 0.0
        return max(self.wait_until - time.monotonic(), 0.0)

    async def take_deferred(self) -> None:
        """Make the pending claims (`deferred`) outright once their wait is over (asked
        again then: a server restarted meanwhile makes them wait again). Another desk
        holding one by then (it drove the broker before the loss and claimed it back)
        refuses the start as `take` does: `BrokerClaimedError`, and the claims held are
        let go."""
        while self.deferred:
            left = self.wait_left
            if left > 0:
                await asyncio.sleep(left)
            try:
                wait = await self.bus.claim_wait(self.ttl_ms)
                if wait.ms > 0:
                    self._defer(self.deferred, wait)
                    continue
                async with self._round:
                    conflicts = [self.lost[b] for b in self.deferred if b in self.lost]
                    for broker in self.deferred:
                        if broker in self.lost:
                            continue  # taken back during the wait (`renew`)
                        conflict = await self._claim(broker)
                        if conflict is not None:
                            conflicts.append(conflict)
                    self.deferred = []
            except BaseException:
                with contextlib.suppress(BusError):
                    await self.release()
                raise
            self._told.update(c.broker for c in conflicts)  # told by the refusal
            if conflicts:
                with contextlib.suppress(BusError):
                    await self.release()
                raise BrokerClaimedError(
                    conflicts, url=self.bus.stats.url, prefix=self.bus.layout.prefix
                )
            log.info("claims.taken_after_wait", extra={"brokers": sorted(self.held)})

    async def renew(self) -> list[ClaimConflict]:
        """Renew every claim still held; the ones found newly held by another desk (also
        recorded in `lost` as they are found). Raises what the bus raises; `renewed_at`
        moves only when every claim was renewed, to when the round began (no key was
        written earlier than that)."""
        began = time.monotonic()
        newly = []
        async with self._round:
            for broker in self.brokers:
                if broker in self.lost:
                    continue
                # A pending claim stays pending; one held outright is renewed over a
                # claim another desk took pending meanwhile (Redis lost this desk's key).
                pending = broker in self.deferred
                conflict = await self._claim(broker, pending=pending, over_pending=not pending)
                if conflict is not None:
                    self.lost[broker] = conflict
                    newly.append(conflict)
        self.renewed_at = began
        return newly

    @property
    def lapsed(self) -> bool:
        """No renewal has succeeded for half the ttl (the bus unreachable, or refusing,
        or this desk's process or event loop held: SIGSTOP, a long pause, a blocking
        call): told while this desk's keys still stand (they expire a ttl after their
        last write), before another desk could take its brokers. Read from the clock,
        so true at once when the desk resumes, before the keeper has run."""
        return time.monotonic() - self.renewed_at > self.ttl_ms / 2000

    @property
    def stalled(self) -> bool:
        """`lapsed`, and the keeper has not even finished a round for half the ttl: this
        desk's process or event loop was held (SIGSTOP, a long pause, a blocking call)
        and the keeper has not run since it resumed, so it has not told the lapse
        (`keep`'s `on_lapse`). Read from the clock when an order is about to be sent: a
        desk held past its claim's lapse refuses it at once, before the keeper runs.
        (A keeper that runs and fails tells the lapse itself, at the end of its round.)"""
        return self.lapsed and time.monotonic() - self.round_at > self.ttl_ms / 2000

    async def keep(
        self,
        on_lost: Callable[[ClaimConflict], Awaitable[None]],
        on_lapse: Callable[[bool], Awaitable[None]],
    ) -> None:
        """Renew every third of the ttl until cancelled, each attempt given a sixth of
        it at most, so that a lapse is told within the ttl however the bus fails. A
        renewal that fails (the bus unreachable or refusing) is tried again sooner
        than the turn (`RETRY_FIRST_S`, doubling up to the turn), and at once when the
        bus has reconnected meanwhile (`_wait_turn`); once none has succeeded for half
        the ttl, `on_lapse(True)` (this desk must not send: another desk may drive its
        brokers soon), and `on_lapse(False)` when one succeeds again. A broker found
        held by another desk is `on_lost`, once, whether or not the rest of its round
        went through."""
        try:
            await self._keep(on_lost, on_lapse)
        finally:
            await self.stop_following()

    async def _keep(
        self,
        on_lost: Callable[[ClaimConflict], Awaitable[None]],
        on_lapse: Callable[[bool], Awaitable[None]],
    ) -> None:
        every = self.ttl_ms / 3000
        was_lapsed = False
        retry = 0.0  # the wait after the last failed renewal (0: it succeeded)
        while True:
            await self._wait_turn(retry or every, failed=bool(retry))
            try:
                async with asyncio.timeout(every / 2):
                    await self.renew()
            except Exception as exc:  # the bus's to show; here: retried, then lapsed
                self.renew_failures += 1
                self.renew_error = renewal_reason(exc, every / 2)
                self.renew_error_down = isinstance(exc, BusUnavailableError | TimeoutError)
                self.renew_error_reconnects = self.bus.stats.reconnects
                log.warning("claims.renew_failed", extra={"error": self.renew_error})
                retry = min(retry * 2, every) if retry else min(RETRY_FIRST_S, every)
            else:
                self.renew_error = ""
                self.renew_error_down = False
                retry = 0.0
            self.round_at = time.monotonic()
            await self._tell_lost(on_lost)
            self._follow_beside(every / 2)
            lapsed = self.lapsed
            if lapsed != was_lapsed:
                was_lapsed = lapsed
                log.log(
                    logging.ERROR if lapsed else logging.INFO,
                    "claims.lapsed" if lapsed else "claims.renewed",
                )
                await self._call(on_lapse(lapsed))

    async def _wait_turn(self, wait: float, *, failed: bool) -> None:
        """`wait` seconds; after a failed renewal (`failed`) no longer than until the
        bus has reconnected since that failure (`renew_error_reconnects`): Redis
        answers again, and the claims are renewed now, not at the end of the wait."""
        if not failed:
            await asyncio.sleep(wait)
            return
        stats = self.bus.stats
        until = time.monotonic() + wait
        while (left := until - time.monotonic()) > 0:
            if stats.reconnects > self.renew_error_reconnects:
                return
            await asyncio.sleep(min(RETRY_LOOK_S, left))

    def _follow_beside(self, bound_s: float) -> None:
        """`follow_lost` on a task of its own, one at a time, given `bound_s` at most: in
        line between the renewals, a slow Redis held this desk's own renewals back past
        their lapse (the send guard then refused orders as `claim_lapsed`)."""
        if not self._following() or (self._follower is not None and not self._follower.done()):
            return
        self._follower = asyncio.create_task(self._follow(bound_s), name="claims-follow-lost")

    async def _follow(self, bound_s: float) -> None:
        """`follow_lost`, given `bound_s` at most; a failure is tried again at the next
        round (the renewals go on whatever it meets)."""
        try:
            async with asyncio.timeout(bound_s):
                await self.follow_lost()
        except Exception as exc:
            log.info("claims.follow_lost_failed", extra={"error": f"{type(exc).__name__}: {exc}"})

    async def stop_following(self) -> None:
        """End a `follow_lost` under way (the keeper stops, the desk closes)."""
        follower, self._follower = self._follower, None
        if follower is not None and not follower.done():
            follower.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await follower

    def _following(self) -> dict[str, ClaimConflict]:
        """The claims lost to a desk (named, or gone since: `ClaimConflict.left`, looked
        at again, as a desk paused past its ttl may claim it back)."""
        return {
            broker: conflict
            for broker, conflict in self.lost.items()
            if (conflict.left or conflict.holder is not None) and broker not in self.deferred
        }

    async def follow_lost(self) -> None:
        """Who holds each broker this desk lost (`lost`) now, as far as this desk can
        tell without touching the claim (it never takes a lost broker back while it
        runs): the desk that took it, its process exited on this host (`DeskId.gone`);
        the claim, read (`EventBus.claim_holder`: the key, or its copy where the key
        was deleted by another hand), free (its desk released it as it quit, or,
        killed, let it lapse) or held by another desk. Found gone, the conflict says it
        (`ClaimConflict.left`): the Health pane, the refusals and the reports then say
        the claim is free and that a restart of this desk takes the broker back, not
        the name of a desk that is gone; held again (that desk paused past its ttl and
        back, or a desk started since), the holder is named again. Raises what the bus
        raises."""
        for broker, conflict in list(self._following().items()):
            holder = conflict.holder
            if not conflict.left and holder is not None and holder.gone(self.desk):
                self._holder_left(broker, conflict, GONE_HERE)
                continue
            value = await self.bus.claim_holder(self._key(broker))
            if value is None or value == self.value:
                if not conflict.left:
                    stamp = utc_time(time.time_ns())
                    self._holder_left(broker, conflict, f"{LEFT_CLAIM} {stamp}")
                continue
            now = DeskId.parse(value)
            if now is not None and now.gone(self.desk):
                if not conflict.left:
                    self._holder_left(
                        broker, ClaimConflict(broker, now, conflict.ttl_ms), GONE_HERE
                    )
                continue
            if now != holder or conflict.left:
                log.warning(
                    "claims.held_by",
                    extra={"broker": broker, "holder": now.name() if now else "unnamed"},
                )
                self.lost[broker] = ClaimConflict(broker, now, conflict.ttl_ms)

    def _holder_left(self, broker: str, conflict: ClaimConflict, left: str) -> None:
        self.lost[broker] = dataclasses.replace(conflict, left=left)
        log.warning(
            "claims.holder_gone",
            extra={"broker": broker, "holder": conflict.taker_name(), "left": left},
        )

    async def reclaim(self, on_lost: Callable[[ClaimConflict], Awaitable[None]]) -> None:
        """Renew every claim at once, outside the keeper's rhythm (the bus found that
        Redis restarted or lost data: a key it lost is set again, as `renew` sets a free
        one), and tell a broker found held by another desk (`on_lost`, once, as the
        keeper does). Raises what the bus raises (the keeper tries again in its turn)."""
        try:
            await self.renew()
        finally:
            await self._tell_lost(on_lost)

    async def _tell_lost(self, on_lost: Callable[[ClaimConflict], Awaitable[None]]) -> None:
        for broker, conflict in list(self.lost.items()):
            if broker in self._told or broker in self.deferred:
                continue  # told once, or a pending claim: its start is refused instead
            self._told.add(broker)
            log.error("claims.lost", extra={"broker": broker, "why": conflict.message()})
            await self._call(on_lost(conflict))

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
