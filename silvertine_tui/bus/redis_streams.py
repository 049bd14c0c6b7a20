"""Redis Streams backend (redis-py asyncio + hiredis).

Writing
- Execution, health, signal and risk events: one XADD each, awaited, in call order
  (an asyncio lock keeps the order). If Redis is down the event joins a bounded
  outage backlog, flushed in order by the reconnect loop; new events queue behind it.
  A full backlog raises `BusOverflowError` and counts `exec_overflow`: never silent.
  A health event supersedes the one of its component still waiting (heartbeats come
  every second), and health events do not count against the bound.
  redis-py's own retries are off: a retried XADD can be written twice, and we would
  rather know. Before the backlog is written, entries whose event id is already in the
  tail of their stream (an XADD whose reply was lost in the outage) are dropped, so
  nothing is journaled twice. An entry Redis refuses for good (a key of the wrong
  type) goes to the dead-letter stream `{prefix}:deadletter` with the error, counted
  in `dead_lettered`; the entries behind it are written.
- Market data: coalesced to the latest per (source, type, instrument) and written by
  one flusher task in pipelines; `MAXLEN ~` keeps the stream bounded. Trades are not
  coalesced. Publishing waits when too much is pending (backpressure, not memory);
  during an outage the oldest pending market data is dropped instead (counted in
  `md_dropped`), so a producer never stalls on data that is stale anyway.

Reading: each `tail` owns a client (a dedicated connection); XREAD BLOCK `block_ms`
(<= 2 s) with a socket timeout above it, always from the last id it applied. A `$`
is resolved once, to the stream's last id, before the first read.

Restarts: redis-py reconnects silently (its connection pool re-opens a socket the
server closed), so errors cannot be trusted to reveal a restart. A watcher, and the
reconnect loop before it flushes the backlog, compare the epoch key (SET NX at
start), the server `run_id` and, for streams we wrote, `XINFO STREAM`
(`last-generated-id` against our last id, `entries-added` against what we saw).
A restart is published as a health event; lost data as a DEGRADED one, and the data
loss listeners are called; once they are done, the end of the loss (LIVE, resynced; a
resync that failed stays DEGRADED with its words, `_resync_failed`).
Entries deleted while a key stayed (XINFO `entries-added` less `length`) are a loss too:
from a journal this bus writes, more than its own trims took (`_deleted`); from the risk
stream, when they took the newest entry setting the trading state this bus wrote or read
(`state_seen`) and none setting it is left after it (`_state_deleted`).
After a restart, before anything is written, the streams this bus wrote or read whose
ids now start below the highest it knew there (a server clock behind) are raised to
it (`_raise_ids`); a reader that finds a stream below its cursor all the same says so
and reads it again from its start (`_rebase`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections import Counter, deque
from collections.abc import AsyncIterator, Coroutine, Iterable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import AuthenticationError, RedisError, ResponseError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.maint_notifications import MaintNotificationsConfig

from ..domain import ConnectionState
from ..domain.redaction import redact_url
from ..events import (
    Channel,
    DecodeError,
    EventBase,
    Health,
    HealthEvent,
    RiskEvent,
    UnknownEvent,
    coalesce_key,
    decode,
    decode_flat,
    encode,
)
from ..events.codec import Decoded, FieldMap
from .base import (
    BusEntry,
    BusError,
    BusOptions,
    BusOverflowError,
    BusStats,
    BusUnavailableError,
    Claim,
    ClaimWait,
    DataLoss,
    DataLossListener,
    StreamInfo,
    WaitingEvent,
    parse_id,
    sets_trading_state,
    state_entry_after,
)
from .connection import with_fast_client_path
from .layout import StreamLayout

log = logging.getLogger(__name__)

_DOWN = (RedisConnectionError, RedisTimeoutError, ConnectionError, TimeoutError, OSError)
_AGAIN_WHEN_BACK = "try again once it is back."
"""What an outage's error ends with (`BusUnavailableError.advice`)."""

MAX_BLOCK_MS = 2_000
MD_REFUSED_LOG_EVERY_S = 10.0
READER_TIMEOUT_MARGIN_S = 3.0
"""The reader's socket timeout is `block_ms` plus this: a blocked XREAD returns first."""

_CLAIM = """
local held = redis.call('GET', KEYS[1])
local from = KEYS[1]
if not held then
  -- The key deleted by another hand while its claim runs: its copy still holds it.
  held = redis.pcall('GET', KEYS[3])
  if type(held) == 'table' then held = false end  -- not a string: no claim
  from = KEYS[3]
end
local ours = held == ARGV[1] or (ARGV[3] ~= '' and held == ARGV[3])
if held and (not ours) and ARGV[5] == '1' and redis.call('GET', KEYS[2]) == held then
  ours = true
end
if (not held) or ours then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  redis.call('SET', KEYS[3], ARGV[1], 'PX', ARGV[2])
  if ARGV[4] == '1' then
    redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2])
  else
    redis.call('DEL', KEYS[2])
  end
  local restored = 0
  if from == KEYS[3] and held == ARGV[1] then restored = 1 end
  return {ARGV[1], tonumber(ARGV[2]), restored}
end
return {held, redis.call('PTTL', from), 0}
"""
"""KEYS[1] the key, KEYS[2] its pending marker, KEYS[3] its copy; ARGV holder, ttl in
ms, the holder it may replace ('' none), '1' to take it pending (the marker set to the
holder: it gives way to a claim made over pending ones), '1' to take it over a pending
claim of another holder (a desk that held it before Redis lost it).

The copy is set, renewed and expires with the key in this one step, and released with
it (`_RELEASE`): a key deleted by another hand (`DEL`) while its holder renews it frees
nothing. The claim is then its copy's: another desk is refused as by the key, and its
holder's next renewal sets the key again (the answer's third element 1: said by the
bus, `bus.redis.claim_key_restored`). Both go together only by a lapse, a release, or
Redis losing its data (one script: written, saved and replicated as one)."""

_RELEASE = """
local held = redis.call('GET', KEYS[1])
local copy = redis.pcall('GET', KEYS[3])
if copy == ARGV[1] then redis.call('DEL', KEYS[3]) end
if held == ARGV[1] or ((not held) and copy == ARGV[1]) then
  redis.call('DEL', KEYS[1], KEYS[2])
  return 1
end
return 0
"""
"""KEYS as `_CLAIM`'s; ARGV[1] the holder letting go: its claim (the key, or its copy
when another hand deleted the key) and its marker go, and its copy whatever the key
holds."""

_ID_ORDER = """
local function parts(id)
  local ms, seq = string.match(id, '^(%d+)-(%d+)$')
  return ms or '0', seq or '0'
end
local function below(a, b)
  local am, as = parts(a)
  local bm, bs = parts(b)
  if #am ~= #bm then return #am < #bm end
  if am ~= bm then return am < bm end
  if #as ~= #bs then return #as < #bs end
  return as < bs
end
"""
"""Lua: `below(a, b)`, whether entry id `a` comes before `b` (ids compared as numbers)."""

_ADD_IF_NEWEST = (
    _ID_ORDER
    + """
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
local newest = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
if #newest > 0 and newest[1][1] ~= ARGV[1] and not below(newest[1][1], ARGV[1]) then
  return false
end
return redis.call('XADD', KEYS[1], '*', unpack(ARGV, 2))
"""
)
"""KEYS[1] the stream; ARGV the id its newest entry must have, then the fields. Written
too when the stream, still there, holds nothing newer (entries deleted by another hand
after the writer read them: an XTRIM took the newest, or all); never to a stream that
is not there."""

_RAISE_ID = (
    _ID_ORDER
    + """
local now = redis.call('TIME')
local ms = tostring(math.floor(tonumber(now[1]) * 1000 + tonumber(now[2]) / 1000))
if below(ARGV[1], ms .. '-0') then return {0, 0, ''} end  -- the clock is past: ids above
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('XADD', KEYS[1], 'MAXLEN', '0', ARGV[1], 'raised', '1')
  return {1, 0, '0-0'}
end
if redis.call('TYPE', KEYS[1])['ok'] ~= 'stream' then return {0, 0, ''} end
local info = redis.call('XINFO', 'STREAM', KEYS[1])
local last = '0-0'
for i = 1, #info, 2 do
  if info[i] == 'last-generated-id' then last = info[i + 1] end
end
if not below(last, ARGV[1]) then return {0, 0, last} end
local held = redis.call('XLEN', KEYS[1])
redis.call('XSETID', KEYS[1], ARGV[1])
return {1, held, last}
"""
)
"""KEYS[1] a stream, ARGV[1] the highest id this bus knows there. A stream whose
last-generated-id is below it (a restart that lost data, on a clock behind the old
ids) is raised to it: `XSETID`, or a key gone is made again empty (`XADD MAXLEN 0`
with that id). Nothing is done when the server's clock is past it: its next ids are
above anyway. Returns {raised,
entries it held (all below), its last id before}. One script: no XADD lands
between the look and the raise, and two desks raising the same stream to different
ids never lower it."""

LANDED_SKEW_MS = 300_000
"""How far before an event's own time (this host's clock) its entry may bear the
server's (`_drop_landed`, a stream this bus has not written yet)."""


def _event_ms(fields: FieldMap) -> int:
    """An encoded event's time in ms (its `ts` field, ns); 0 when it has none."""
    raw = fields.get(b"ts", b"0")
    try:
        return int(raw) // 1_000_000
    except ValueError:
        return 0


UNREADABLE_NAMED = 5  # keys named in the `unreadable` metric; the rest are counted


def _unreadable_text(unreadable: Mapping[str, str]) -> str:
    named = sorted(unreadable.items())[:UNREADABLE_NAMED]
    text = "; ".join(f"{name} (a {kind})" for name, kind in named)
    if len(unreadable) > UNREADABLE_NAMED:
        text += f"; and {len(unreadable) - UNREADABLE_NAMED} more"
    return text


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes | bytearray) else str(value)


def _raise_if_cancelled() -> None:
    """Honour a cancel that redis-py swallowed.

    On Python 3.11 redis-py sends every command under `asyncio.wait_for`, which returns
    normally when a cancel lands just as the send completes: the task stays marked
    "cancelling" and a reading loop would go on forever. Called after each command in
    long-running loops. (The bus's own connections send under `asyncio.timeout`, see
    `connection`; the check stays, cheap, for whatever else may swallow a cancel.)
    """
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


def _retrieve(task: asyncio.Future[Any]) -> None:
    """Done callback of a request nobody awaits any more: fetch its outcome, so that
    asyncio does not log it as an exception never retrieved."""
    if not task.cancelled():
        task.exception()


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:200]


# Refusals that pass by themselves: memory freed, a load or a script done, a failover
# over (a server turning replica answers blocked reads `UNBLOCKED`, writes `READONLY`,
# and without stale reads everything `MASTERDOWN`), a disk that takes the RDB again
# (`MISCONF`: writes refused after a failed save).
_TRANSIENT = frozenset(
    (
        "OOM",
        "LOADING",
        "BUSY",
        "READONLY",
        "MASTERDOWN",
        "TRYAGAIN",
        "NOREPLICAS",
        "UNBLOCKED",
        "MISCONF",
    )
)


def _code(exc: BaseException) -> str:
    """The error code Redis answered (`WRONGTYPE`, `READONLY`...). redis-py strips the
    codes it maps to a class of its own from the text and keeps them in `status_code`."""
    code = getattr(exc, "status_code", None)
    if isinstance(code, str) and code:
        return code.upper()
    return str(exc).lstrip().split(" ", 1)[0].upper()


def _transient(exc: BaseException) -> bool:
    return _code(exc) in _TRANSIENT


DEAD_LETTER_MAXLEN = 10_000
WRITTEN_BACK_KEPT = 20_000
WRITTEN_BACK_S = 60.0
"""Events written from the outage backlog are kept (`waiting` with `read_to`) until the
desk has read them back, at most this many and this long (a journal the desk does not
read, or reads a minute late, does not hold them in memory for good)."""


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """An execution entry Redis refused while the outage backlog was written."""

    id: str
    stream: str  # where it was going
    error: str  # what Redis answered
    event_id: str
    fields: FieldMap  # the entry as encoded (decode with `decode_flat`-style readers)


class RedisBus:
    backend = "redis"

    def __init__(
        self, url: str, options: BusOptions | None = None, *, password: str | None = None
    ) -> None:
        self.options = options or BusOptions()
        if not 1 <= self.options.block_ms <= MAX_BLOCK_MS:
            raise ValueError(
                f"bus.block_ms must be between 1 and {MAX_BLOCK_MS} "
                f"(got {self.options.block_ms}): a blocked XREAD must return well before "
                "the socket times out"
            )
        self.url = redact_url(url)
        self.stats = BusStats(backend=self.backend, url=self.url)
        self._raw_url = url
        self._password = password
        self._writer = self._client(socket_timeout=5.0)
        self._exec_lock = asyncio.Lock()
        self._check_lock = asyncio.Lock()
        self._backlog: deque[tuple[str, FieldMap, int | None]] = deque()
        self._dead: deque[tuple[str, FieldMap, str]] = deque()  # refused, to quarantine
        self._dead_error = ""
        self._dead_unsure = False  # the last dead-letter write lost its reply
        # What went wrong since the last data loss was found (events dead-lettered, a
        # stream behind a reader): its end (`_loss_over`) says them, DEGRADED.
        self._loss_notes: list[str] = []
        self._md_pending: dict[str, tuple[str, EventBase]] = {}
        self._md_inflight = 0
        self._md_wakeup = asyncio.Event()
        self._md_space = asyncio.Event()
        self._md_space.set()
        self._connected = False
        self._closed = False
        self._tasks: list[asyncio.Task[None]] = []
        self._listener_tasks: set[asyncio.Task[None]] = set()
        self._reconnect_task: asyncio.Task[None] | None = None
        self._readers: set[Redis] = set()
        self._unreadable: dict[str, str] = {}  # stream -> the type its key holds instead
        self._parking: Counter[str] = Counter()  # stream -> readers that set it aside
        self._backlog_refused_said = ""  # the refusal of the backlog logged last
        self._health_refused = False  # health events refused by the key (`_health_aside`)
        self._md_refused = 0  # market data refused since it was last logged
        self._md_refused_logged = -MD_REFUSED_LOG_EVERY_S
        self._replayer: Redis | None = None
        self._epoch: bytes | str | None = None
        # When this bus set the epoch key itself (the prefix held nothing: its first
        # desk, or Redis lost it): `claim_wait`.
        self._epoch_set_at: float | None = None
        self._epoch_new = False  # `epoch_new`
        # key -> (holder, ttl ms, pending) of the claims this bus holds: claimed again
        # at once when the server restarted or lost data (`_reclaim`).
        self._held_claims: dict[str, tuple[str, int, bool]] = {}
        # key -> its turn: the writes of one claim key go one at a time (`claim`,
        # `release`, each step of `_reclaim`), so the server takes them in the order
        # `_held_claims` changes (`_claim_turn`).
        self._claim_turns: dict[str, asyncio.Lock] = {}
        self._run_id: str | None = None
        self._last_written: dict[str, str] = {}
        # stream -> entries it has had added at least: the watcher's last XINFO, plus
        # each of our XADDs since (a restart from an older RDB that lost entries shows
        # fewer, even after our next XADD went to it through redis-py's reconnect). A
        # publish counts its XADD under `_exec_lock`, which `_check_restart` holds
        # around each XINFO.
        self._entries_added: dict[str, int] = {}
        self._floors: dict[str, str] = {}
        # stream -> the highest id this bus wrote or read there (its readers' cursors):
        # after a loss, no stream is left to make ids below it (`_raise_ids`).
        self._known: dict[str, str] = {}
        self._md_written: dict[str, str] = {}  # stream -> the market data id written last
        # Counted up by each restart or loss found (after the ids were raised): a reader
        # then looks whether a stream now ends below its cursor (`_rebase`).
        self._generation = 0
        self._behind_said: set[tuple[str, int]] = set()
        # source -> the health event of that component waiting in the backlog (`_buffer`)
        self._health_waiting: dict[bytes, tuple[str, FieldMap, int | None]] = {}
        self._backlog_inflight = 0  # backlog entries at its left being written now
        self._listeners: list[DataLossListener] = []
        # stream -> entries deleted from it while its key stayed (`StreamInfo.gone`) at
        # the watcher's last look, for the journals this bus writes and the risk stream;
        # and what this bus's own trims deleted from them since (`_trim_journals`, under
        # `_exec_lock`): more gone than that is another hand's XTRIM or XDEL (`_deleted`).
        self._gone: dict[str, int] = {}
        self._trimmed_here: Counter[str] = Counter()
        # stream -> the first id this bus wrote there: a deletion the first look finds
        # counts when it took that entry (what was deleted before it is not ours to say).
        self._first_written: dict[str, str] = {}
        # The newest risk entry setting the trading state this bus wrote or read
        # (`state_seen`).
        self._state_seen: str | None = None
        self._risk = self.layout.risk
        # A loss whose resync failed, and what its health said: the journal is not
        # mended, so the bus stays DEGRADED with those words (`with_unreadable`) until a
        # later loss covering the same streams resyncs.
        self._resync_failed: tuple[DataLoss, str] | None = None
        # Journals whose key held another type: the readers ended there (`_park`).
        self._stopped_on: set[str] = set()
        self._last_trim = 0.0
        self._snap_prefix = f"{self.options.prefix}:snap:"
        self._exec_prefix = f"{self.options.prefix}:exec:"
        # `waiting`: the backlog as last read (the deque, its length, first and last
        # entries: held, so compared by identity) and what it gave; each waiting entry's
        # decoded event by (stream, event id) while it waits.
        self._waiting_read: tuple[object, ...] = ()
        self._waiting_length = 0
        self._waiting_seen: tuple[WaitingEvent, ...] = ()
        self._waiting_decoded: dict[tuple[str, bytes], Decoded] = {}
        # Written from the backlog, not read back by the desk yet (`waiting`'s `read_to`):
        # (when written, the event); a count that moves with it; where the desk had read
        # to when last pruned; and the last sequence given with them.
        self._written_back: deque[tuple[float, WaitingEvent]] = deque()
        self._written_back_moved = 0
        self._read_to_seen: dict[str, str | None] = {}
        self._written_streams: set[str] = set()  # the journals `_written_back` holds
        self._waiting_with: tuple[object, int, tuple[WaitingEvent, ...]] = (None, -1, ())

    # -- connection ---------------------------------------------------------------

    def _client(self, socket_timeout: float) -> Redis:
        client = Redis.from_url(
            self._raw_url,
            password=self._password,
            decode_responses=False,
            socket_timeout=socket_timeout,
            socket_connect_timeout=2.0,
            retry=Retry(NoBackoff(), 0),
            health_check_interval=0,
            # With maintenance notifications on ("auto", the default) redis-py 8.1's
            # pool skips its stale-socket check, and hands out sockets of a server that
            # has died. We use no maintenance events; off, it also saves a round trip
            # per new connection.
            maint_notifications_config=MaintNotificationsConfig(enabled=False),
        )
        # Commands packed in C and sent without a task each (see `connection`).
        pool = client.connection_pool
        pool.connection_class = with_fast_client_path(pool.connection_class)
        return client

    def _reader_client(self) -> Redis:
        """A dedicated client for one `tail`: its blocked XREAD holds the connection.
        Its XREAD replies stay raw (decoded from the flat field lists, as in replay)."""
        client = self._client(socket_timeout=self.options.block_ms / 1000 + READER_TIMEOUT_MARGIN_S)
        client.set_response_callback("XREAD", lambda response, **_: response)
        return client

    @property
    def layout(self) -> StreamLayout:
        return self.options.layout

    @property
    def epoch(self) -> str | None:
        return _text(self._epoch) if self._epoch is not None else None

    @property
    def epoch_new(self) -> bool:
        """Whether this bus set the epoch key as it started: the prefix held none (its
        first desk, or Redis lost everything since), so no desk journaled anything
        under this epoch before (`RunRecorder.check`: nothing of a desk's to lose)."""
        return self._epoch_new

    @property
    def state_seen(self) -> str | None:
        """The id of the newest risk stream entry setting the trading state
        (`sets_trading_state`) this bus wrote or read: by its readers (the engine's, the
        start's replay), its reads and its own page-backs; None before it met one, and
        again from a loss of the risk stream. What a desk applied of the trading state is
        among what its bus read, so while this entry is in the stream no state this desk
        applied went (`_state_deleted`); a desk's last-run record keeps it for the next
        start (`engine.last_run`)."""
        return self._state_seen

    def _saw_state(self, entry_id: str | None) -> None:
        """`entry_id`, an entry setting the trading state, was written or read."""
        if entry_id is None:
            return
        seen = self._state_seen
        if seen is None or parse_id(entry_id) > parse_id(seen):
            self._state_seen = entry_id

    def _saw_written(self, stream: str, event: EventBase, entry_id: str) -> None:
        """`event` was written to `stream` as `entry_id`: one setting the trading state
        is seen (`state_seen`) before the readers read it back."""
        if stream == self._risk and isinstance(event, RiskEvent) and sets_trading_state(event):
            self._saw_state(entry_id)

    @property
    def reader_clients(self) -> frozenset[Redis]:
        """The clients of the tails running now (for diagnostics and tests)."""
        return frozenset(self._readers)

    async def start(self) -> None:
        epoch = False  # whether the refusal (if any) was the epoch key's
        try:
            await self._writer.ping()
            self._run_id = await self._server_run_id()
            epoch = True
            await self._claim_epoch()
        except AuthenticationError as exc:
            await self._writer.aclose()
            raise BusUnavailableError(
                f"Redis at {self.url} refused the credentials ({exc}). Check bus.password "
                "or the password in bus.url."
            ) from None
        except _DOWN as exc:
            await self._writer.aclose()
            if _code(exc) == "LOADING":  # redis-py's BusyLoadingError: reached, not ready
                raise BusUnavailableError(await self._start_refused(exc, epoch=epoch)) from None
            raise BusUnavailableError(
                f"cannot reach Redis at {self.url} ({_describe(exc)}). Is redis-server "
                "running and is bus.url right? (bus.url: memory:// runs without Redis.)"
            ) from None
        except RedisError as exc:
            message = await self._start_refused(exc, epoch=epoch)
            await self._writer.aclose()
            raise BusUnavailableError(message) from None
        self._connected = True
        self.stats.connected = True
        self._epoch_new = self._epoch_set_at is not None
        if not self.options.passive:
            # What the risk stream lost before now, the desk's start looks at (after its
            # replay: `RunRecorder.check`); what it loses from now on, the watcher.
            with contextlib.suppress(RedisError, OSError):
                risk = await self._info(self.layout.risk)
                self._gone[self.layout.risk] = risk.gone if risk is not None else 0
        self._tasks = [
            asyncio.create_task(self._md_flusher(), name="bus-md-flusher"),
            asyncio.create_task(self._watcher(), name="bus-watcher"),
        ]

    async def _start_refused(self, exc: BaseException, *, epoch: bool) -> str:
        """Why Redis refused the start (`epoch`: the epoch key's SET or GET, after
        the server answered PING and INFO), and what to do: out of memory, a read-only
        replica, a key of another type where the epoch goes each have their own remedy.
        Never the password: a wrong one is an `AuthenticationError`, said apart."""
        why = _describe(exc)
        code = _code(exc)
        if code == "OOM":
            return (
                f"Redis at {self.url} is out of memory and refuses writes ({why}): it is "
                "at its maxmemory and its maxmemory-policy evicts nothing more. Raise "
                "maxmemory (CONFIG SET maxmemory, or redis.conf) or free memory, then start "
                "again; keep a policy that never evicts the journal (noeviction: an "
                "allkeys-* policy drops journal entries)."
            )
        if code in ("READONLY", "MASTERDOWN"):
            return (
                f"Redis at {self.url} is a read-only replica ({why}): a desk writes its "
                "journal there. Point bus.url at the primary (INFO replication on this "
                "server names it)."
            )
        if code == "WRONGTYPE" and epoch:
            key = self.layout.epoch_key
            try:
                kind = _text(await self._writer.type(key))
            except (*_DOWN, RedisError):
                kind = "value of another type"
            return (
                f"Redis at {self.url} holds a {kind} at {key}, where a desk keeps its epoch "
                f"(a string) ({why}). Something other than a desk wrote that key, or "
                "another application uses this bus.prefix: if the key is not the desk's, "
                f"delete it (DEL {key}) and start again; else choose another bus.prefix."
            )
        if code == "NOPERM":
            return (
                f"Redis at {self.url} does not let this user run what a desk needs ({why}): "
                "check its ACL (ACL GETUSER), then start again."
            )
        if code == "LOADING":
            return (
                f"Redis at {self.url} is loading its data from disk ({why}): start again "
                "once it is done."
            )
        if code == "MISCONF":
            return (
                f"Redis at {self.url} refuses writes since its last save to disk failed "
                f"({why}): fix its disk or its dir (its log says why), then start again."
            )
        what = f"the epoch key {self.layout.epoch_key}" if epoch else "the connection"
        return f"Redis at {self.url} refused {what} ({why}): its log may say why."

    async def close(self) -> None:
        if self._closed:
            return
        try:
            await self.flush(timeout=2.0)
        except BusError as exc:
            log.error("bus.redis.close_unflushed", extra={"url": self.url, "error": str(exc)})
        self._closed = True
        self._md_wakeup.set()
        self._md_space.set()
        tasks = [*self._tasks, *self._listener_tasks]
        if self._reconnect_task is not None:
            tasks.append(self._reconnect_task)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        # Counted once nothing writes any more: a batch Redis took meanwhile is not.
        self._count_unwritten()
        self._connected = False
        self.stats.connected = False
        await self._writer.aclose()
        if self._replayer is not None:
            await self._replayer.aclose()

    def _journal_waiting(self) -> list[tuple[str, FieldMap]]:
        """The journal's events in the outage backlog or waiting for the dead-letter
        stream: not health (whose newest state is all it says) nor a snapshot (which
        only shortens the next replay)."""
        health, snapshots = self.layout.health, self._snap_prefix
        return [
            (stream, fields)
            for stream, fields, _ in (*self._backlog, *self._dead)
            if stream != health and not stream.startswith(snapshots)
        ]

    def unwritten(self) -> tuple[int, int]:
        waiting = self._journal_waiting() if self._backlog or self._dead else []
        return len(waiting), sum(1 for _, f in waiting if f.get(b"t") == b"fill")

    def waiting(self, read_to: Mapping[str, str] | None = None) -> tuple[WaitingEvent, ...]:
        """The execution journals' events in the outage backlog, not written to Redis
        yet, oldest first, decoded (`bus.base.HoldsWaiting`): what the desk's rows are
        behind until Redis takes them. Not those waiting for the dead-letter stream (the
        journal will never hold them: `dead_lettered` says them), nor health, risk or
        signal entries. A read-only view: the backlog is not touched, and each entry is
        decoded once while it waits. The same tuple while the backlog is unchanged.

        With `read_to` (stream -> the last entry id the desk has read there), first
        those written from the backlog that the desk has not read back yet, with their
        entry ids: once Redis took them nothing waited, and until the desk's reader
        came to them (up to 2 s after an outage: its backoff) the rows and the quit
        dialog's count lacked the orders sent meanwhile."""
        unwritten = self._unwritten_waiting()
        if read_to is None or not self._written_back:
            return unwritten
        self._prune_read_back(read_to)
        if not self._written_back:
            return unwritten
        seen, moved, found = self._waiting_with
        if seen is unwritten and moved == self._written_back_moved:
            return found
        found = (*(event for _, event in self._written_back), *unwritten)
        self._waiting_with = (unwritten, self._written_back_moved, found)
        return found

    def _written_from_backlog(self, stream: str, fields: FieldMap, entry_id: str) -> None:
        """An execution event of the backlog is in its journal now, at `entry_id`:
        kept until the desk reads it back (`waiting`)."""
        if not stream.startswith(self._exec_prefix):
            return
        event = self._waiting_decoded.get((stream, fields.get(b"id", b"")))
        if event is None:
            event = decode(fields)
        source = fields.get(b"src", b"").decode(errors="replace")
        written = self._written_back
        written.append((time.monotonic(), WaitingEvent(stream, source, event, entry_id)))
        self._written_streams.add(stream)
        while len(written) > WRITTEN_BACK_KEPT:
            written.popleft()
        self._written_back_moved += 1

    def _prune_read_back(self, read_to: Mapping[str, str]) -> None:
        """Drop what the desk has read back (or was written `WRITTEN_BACK_S` ago);
        looked at again only when its readers moved on those journals
        (`_written_streams`) or the oldest is out of time: not every entry at every
        frame."""
        written = self._written_back
        now = time.monotonic()
        marks = {stream: read_to.get(stream) for stream in self._written_streams}
        if marks == self._read_to_seen and now - written[0][0] < WRITTEN_BACK_S:
            return
        self._read_to_seen = marks
        read = {stream: parse_id(at) for stream, at in marks.items() if at is not None}
        kept = deque(
            (at, event)
            for at, event in written
            if now - at < WRITTEN_BACK_S
            and (event.stream not in read or parse_id(event.entry_id) > read[event.stream])
        )
        if len(kept) != len(written):
            self._written_back = kept
            self._written_back_moved += 1
            self._written_streams = {event.stream for _, event in kept}
        if not kept:
            self._read_to_seen = {}

    def _unwritten_waiting(self) -> tuple[WaitingEvent, ...]:
        backlog = self._backlog
        if not backlog:
            if self._waiting_seen or self._waiting_decoded:
                self._waiting_read, self._waiting_seen = (), ()
                self._waiting_length = 0
                self._waiting_decoded = {}
            return self._waiting_seen
        # Entries leave from the left and join on the right (a superseded health event
        # leaves from the middle, its successor joins on the right; the duplicate check
        # makes a new deque): the same deque, length and ends is the same backlog.
        read = (backlog, backlog[0], backlog[-1])
        before = self._waiting_read
        if (
            len(before) == len(read)
            and all(a is b for a, b in zip(before, read, strict=True))
            and self._waiting_length == len(backlog)
        ):
            return self._waiting_seen
        prefix = self._exec_prefix
        decoded = self._waiting_decoded
        kept: dict[tuple[str, bytes], Decoded] = {}
        found: list[WaitingEvent] = []
        for stream, fields, _ in backlog:
            if not stream.startswith(prefix):
                continue
            key = (stream, fields.get(b"id", b""))
            event = decoded.get(key)
            if event is None:
                event = decode(fields)
            kept[key] = event
            source = fields.get(b"src", b"")
            found.append(WaitingEvent(stream, source.decode(errors="replace"), event))
        # `read` holds the entries it names: none is freed and its id reused meanwhile.
        self._waiting_read, self._waiting_seen = read, tuple(found)
        self._waiting_length = len(backlog)
        self._waiting_decoded = kept
        return self._waiting_seen

    def _count_unwritten(self) -> None:
        """What `close` leaves unwritten, gone with the process: the journal's events
        still waiting (`_journal_waiting`). Counted in `stats.closed_unwritten` (the
        session says it to the trader) and logged each whole, as a dead letter Redis
        refused is: before, one log line said how many, and the desk said it stopped
        cleanly."""
        if not self._backlog and not self._dead:
            return
        lost = self._journal_waiting()
        self.stats.closed_unwritten = len(lost)
        self.stats.closed_unwritten_fills = sum(1 for _, f in lost if f.get(b"t") == b"fill")
        waiting = len(self._backlog) + len(self._dead)
        self.stats.last_error = _closed_with(len(lost), waiting - len(lost))
        log.log(
            logging.ERROR if lost else logging.WARNING,
            "bus.redis.closed_with_backlog",
            extra={
                "url": self.url,
                "events": waiting,
                "journal_events": len(lost),
                "fills": self.stats.closed_unwritten_fills,
            },
        )
        for stream, fields in lost:
            log.error(
                "bus.redis.unwritten_at_close",
                extra={
                    "stream": stream,
                    "fields": {_text(k): v.decode(errors="replace") for k, v in fields.items()},
                },
            )

    async def _server_run_id(self) -> str:
        info = await self._writer.info("server")
        return _text(info.get("run_id", ""))

    async def _claim_epoch(self) -> None:
        if not self.options.passive:
            token = f"{time.time_ns():x}-{secrets.token_hex(8)}".encode()
            if await self._writer.set(self.layout.epoch_key, token, nx=True):
                self._epoch_set_at = time.monotonic()
        self._epoch = await self._writer.get(self.layout.epoch_key)

    def _epoch_lost(self, now: bytes | str | None) -> bool:
        """Whether the epoch key read `now` says Redis lost its data. A passive bus
        that found none (no desk had written to the prefix yet) takes the first one a
        desk sets as the epoch, not as a loss."""
        if self.options.passive and self._epoch is None:
            self._epoch = now
            return False
        return now != self._epoch

    def _mark_down(self, exc: BaseException, *, writing: bool = True) -> None:
        """The bus is down: out of reach, or (`writing`) Redis answered a write with a
        refusal that passes by itself. The reconnect loop brings it back."""
        if writing:
            self.stats.write_errors += 1
        self.stats.last_error = _describe(exc)
        self.stats.writes_refused = writing and isinstance(exc, ResponseError)
        if self._connected:
            log.warning("bus.redis.down", extra={"url": self.url, "error": self.stats.last_error})
        self._connected = False
        self.stats.connected = False
        # Market data publishers waiting for space re-check: during an outage they drop.
        self._md_space.set()
        if not self._closed and (self._reconnect_task is None or self._reconnect_task.done()):
            self._reconnect_task = asyncio.create_task(self._reconnect(), name="bus-reconnect")

    async def _reconnect(self) -> None:
        delay = 0.05
        restarted = False
        lost: list[str] = []
        dead_before = self.stats.dead_lettered
        while not self._closed:
            try:
                # Idle pooled sockets may still point at the dead server: drop them, or
                # the next command on one fails and starts a second, spurious outage.
                await self._writer.connection_pool.disconnect(inuse_connections=False)
                await self._writer.ping()
                # Check for lost data before the backlog lands, so the gap check sees it.
                was_restarted, reasons = await self._check_restart()
                restarted = restarted or was_restarted
                lost += reasons
                await self._flush_backlog()
                await self._write_a_waiting_quote()
                # What was published meanwhile went to the backlog (still not connected);
                # connected with it left there, every later event queued behind it for
                # good. No await between this last look and `_connected` below.
                while self._backlog:
                    await self._flush_backlog()
            except (RedisError, OSError) as exc:  # down, loading, or refused: back off
                self.stats.last_error = _describe(exc)
                log.debug("bus.redis.reconnect_failed", extra={"error": self.stats.last_error})
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)
                continue
            self._connected = True
            self._backlog_refused_said = ""
            self.stats.connected = True
            self.stats.writes_refused = False
            self.stats.reconnects += 1
            self._md_wakeup.set()
            log.info("bus.redis.reconnected", extra={"url": self.url, "restarted": restarted})
            message = "Redis connection restored"
            state = ConnectionState.LIVE
            if restarted:
                message += " after a server restart (new run_id)"
                message += (
                    "; data was lost: resyncing from the brokers"
                    if lost
                    else f"; {self._none_lost()}"
                )
            dead = self.stats.dead_lettered - dead_before
            if dead:
                state = ConnectionState.DEGRADED
                note = (
                    f"{dead} execution events Redis refused ({self._dead_error}) were "
                    f"moved to the dead-letter stream {self.layout.dead_letter}, the rest "
                    f"were journaled: inspect them with XRANGE {self.layout.dead_letter} - + "
                    "and fix the key they were refused for"
                )
                message += f"; {note}"
                self._loss_notes.append(note)
            await self._publish_health(*self.with_unreadable(state, message))
            if self._connected or self._closed:
                return
            # Lost again while saying it was back: the outage found then started no
            # reconnect (this one had not ended), and the bus stayed down for good.
            log.warning("bus.redis.lost_while_back", extra={"url": self.url})
            restarted, lost, dead_before, delay = False, [], self.stats.dead_lettered, 0.05

    async def _flush_backlog(self) -> None:
        """Write the outage backlog in order; entries leave it once written or refused.

        Entries already in their stream (an XADD or pipeline whose reply was lost with
        the connection) are dropped first, so nothing is journaled twice. An entry the
        server refuses for good (a key of the wrong type, an invalid argument) goes to
        the dead-letter stream; the entries behind it are written. A refusal that may
        pass (OOM, loading, read-only replica) stops here and is retried.
        """
        await self._write_dead_letters()  # any left by a connection lost meanwhile
        await self._drop_landed()
        size = self.options.pipeline_size
        while self._backlog:
            batch = [self._backlog[i] for i in range(min(size, len(self._backlog)))]
            pipe = self._writer.pipeline(transaction=False)
            for stream, fields, maxlen in batch:
                pipe.xadd(
                    stream,
                    fields,  # type: ignore[arg-type]
                    maxlen=maxlen,
                    approximate=self._approximate(stream),
                )
            # A connection error raises here: the batch stays, `_drop_landed` sorts it out.
            # Meanwhile a newer health event supersedes none of the batch (`_buffer`).
            self._backlog_inflight = len(batch)
            try:
                results = await pipe.execute(raise_on_error=False)
            finally:
                self._backlog_inflight = 0
            try:
                for (stream, fields, _), result in zip(batch, results, strict=True):
                    if isinstance(result, Exception):
                        self.stats.write_errors += 1
                        self.stats.last_error = _describe(result)
                        if _transient(result):
                            said = _describe(result)
                            if said != self._backlog_refused_said:  # once, not per retry
                                self._backlog_refused_said = said
                                log.error(
                                    "bus.redis.backlog_refused",
                                    extra={"stream": stream, "error": said},
                                )
                            # Entries behind it may have landed: the retry drops them.
                            raise result
                        self._backlog_popleft()
                        self._dead_error = _describe(result)
                        self._dead.append((stream, fields, self._dead_error))
                        continue
                    self._backlog_popleft()
                    self._wrote(stream, _text(result))
                    self._written_from_backlog(stream, fields, _text(result))
                    self.stats.published += 1
            finally:
                self.stats.exec_buffered = len(self._backlog)
                await self._write_dead_letters()

    async def _drop_landed(self) -> None:
        """Drop backlog entries whose event id is already in their stream.

        Only the tail can hold them: every entry after the last id we know we wrote
        there, read to the stream's end, or, for a stream we have not written yet,
        from `LANDED_SKEW_MS` before the oldest such event's time. To the end: other
        desks write the risk, health and signal streams too, and an entry of ours that
        landed behind more of theirs than one page was written again, after what they
        wrote meanwhile (a KILL whose reply was lost landed again after another desk's
        RESUME: every desk HALTED again, and their orders cancelled).
        """
        if not self._backlog:
            return
        page = 2 * self.options.pipeline_size + 100
        landed: dict[tuple[str, bytes], str] = {}  # (stream, event id) -> its entry id
        oldest_ms: dict[str, int] = {}
        for stream, fields, _ in self._backlog:
            if stream not in oldest_ms:
                oldest_ms[stream] = _event_ms(fields)
        for stream, event_ms in oldest_ms.items():
            last = self._last_written.get(stream)
            start = f"({last}" if last is not None else f"{max(event_ms - LANDED_SKEW_MS, 0)}-0"
            raw: Any
            try:
                while True:
                    raw = await self._writer.xrange(stream, start, "+", count=page)
                    landed.update(
                        ((stream, fields.get(b"id", b"")), _text(entry_id))
                        for entry_id, fields in raw
                    )
                    if len(raw) < page:
                        break
                    start = f"({_text(raw[-1][0])}"
            except ResponseError as exc:
                if _transient(exc):
                    raise  # the reconnect loop tries again: the check is not skipped
                continue  # not a stream: its entries will be refused and dead-lettered
        if not landed:
            return
        kept = deque(e for e in self._backlog if (e[0], e[1].get(b"id", b"")) not in landed)
        skipped = len(self._backlog) - len(kept)
        for stream, fields, _ in self._backlog:
            entry_id = landed.get((stream, fields.get(b"id", b"")))
            if entry_id is not None:  # in its journal already: kept until read back
                self._written_from_backlog(stream, fields, entry_id)
        if skipped:
            self.stats.duplicates_skipped += skipped
            log.warning("bus.redis.backlog_already_written", extra={"events": skipped})
            self._backlog = kept
            self.stats.exec_buffered = len(kept)
            self._health_waiting = {
                src: entry
                for src, entry in self._health_waiting.items()
                if any(e is entry for e in kept)
            }

    async def _write_dead_letters(self) -> None:
        """Quarantine refused entries: their fields, where they were going, and why."""
        while self._dead:
            stream, fields, error = self._dead[0]
            if self._dead_unsure and await self._dead_letter_landed(fields.get(b"id", b"")):
                self._dead_unsure = False
                self._dead.popleft()
                self.stats.dead_lettered += 1
                continue
            entry: FieldMap = {
                b"dead.stream": stream.encode(),
                b"dead.error": error.encode(),
                **fields,
            }
            self._dead_unsure = True  # stays set if the connection drops: the reply is lost
            try:
                await self._writer.xadd(
                    self.layout.dead_letter,
                    entry,  # type: ignore[arg-type]
                    maxlen=DEAD_LETTER_MAXLEN,
                    approximate=True,
                )
            except ResponseError as exc:
                self._dead_unsure = False
                self.stats.write_errors += 1
                if _transient(exc):
                    raise  # kept: the reconnect loop writes it once Redis takes writes
                # Nowhere left in Redis to keep it (the dead-letter key is not a stream):
                # the log holds it whole, so it is not lost.
                log.error(
                    "bus.redis.dead_letter_refused",
                    extra={
                        "stream": stream,
                        "error": error,
                        "dead_letter": _describe(exc),
                        "fields": {
                            k.decode(errors="replace"): v.decode(errors="replace")
                            for k, v in fields.items()
                        },
                    },
                )
            self._dead_unsure = False
            self._dead.popleft()
            self.stats.dead_lettered += 1
            log.error(
                "bus.redis.dead_lettered",
                extra={
                    "stream": stream,
                    "event_id": fields.get(b"id", b"").decode(errors="replace"),
                    "error": error,
                    "dead_letter": self.layout.dead_letter,
                },
            )

    async def _dead_letter_landed(self, event_id: bytes) -> bool:
        """Whether a dead-letter write whose reply was lost did land."""
        try:
            raw: Any = await self._writer.xrevrange(self.layout.dead_letter, "+", "-", count=100)
        except ResponseError as exc:
            if _transient(exc):
                raise
            return False
        return any(fields.get(b"id") == event_id for _, fields in raw)

    async def dead_letters(self, count: int | None = None) -> list[DeadLetter]:
        """The quarantined entries, oldest first."""
        try:
            raw: Any = await self._writer.xrange(self.layout.dead_letter, "-", "+", count=count)
        except _DOWN as exc:
            raise self._unavailable("reading the dead-letter stream", exc) from None
        out = []
        for entry_id, fields in raw:
            original: FieldMap = {k: v for k, v in fields.items() if not k.startswith(b"dead.")}
            out.append(
                DeadLetter(
                    id=_text(entry_id),
                    stream=_text(fields.get(b"dead.stream", b"")),
                    error=_text(fields.get(b"dead.error", b"")),
                    event_id=_text(fields.get(b"id", b"")),
                    fields=original,
                )
            )
        return out

    # -- publishing ---------------------------------------------------------------

    def _maxlen(self, stream: str) -> int | None:
        """The `MAXLEN` of a stream written one event at a time (see `_approximate`)."""
        if stream == self.layout.health:
            return self.options.health_maxlen
        if stream == self.layout.signal:
            return self.options.signal_maxlen
        if stream.startswith(self._snap_prefix):
            return self.options.snapshot_keep
        return None

    def _approximate(self, stream: str) -> bool:
        """`MAXLEN ~` trims whole nodes (~100 entries): right for long streams. Snapshot
        streams keep a few large entries, so their cap is exact."""
        return not stream.startswith(self._snap_prefix)

    async def publish(self, event: EventBase) -> str | None:
        stream = self.layout.route(event)
        if stream.startswith(f"{self.options.prefix}:md:"):
            await self._enqueue_md(stream, event)
            return None
        fields = encode(event)
        maxlen = self._maxlen(stream)
        async with self._exec_lock:
            if self._backlog or not self._connected:
                self._buffer(stream, fields, maxlen)
                entry_id = None
            else:
                try:
                    entry_id = await self._add(stream, fields, maxlen)
                except (*_DOWN, RedisError) as exc:
                    error = self._write_error(stream, exc)
                    if self._health_aside(stream, exc):
                        return None
                    if not isinstance(error, BusUnavailableError):
                        raise error from exc
                    # The reply lost (not necessarily the write: re-sent on reconnect),
                    # a failover, or memory short: as an outage, the event waits in the
                    # backlog and is written once Redis takes writes again.
                    self._buffer(stream, fields, maxlen)
                    self._mark_down(exc)
                    entry_id = None
        if entry_id is None:
            # Buffering awaits nothing: yield once, or a busy producer would starve the
            # reconnect loop and fill the backlog without Redis ever getting a chance.
            await asyncio.sleep(0)
            return None
        self._saw_written(stream, event, entry_id)
        self.stats.published += 1
        return entry_id

    async def publish_if_newest(self, event: EventBase, newest: str) -> str | None:
        stream = self.layout.route(event)
        fields = encode(event)
        flat = [part for pair in fields.items() for part in pair]
        async with self._exec_lock:
            if self._backlog or not self._connected:
                return None  # the backlog goes first: try again once it is written
            try:
                found: Any = await self._writer.eval(_ADD_IF_NEWEST, 1, stream, newest, *flat)
            except _DOWN as exc:
                self._mark_down(exc)  # (its reply lost, it may have landed: it was due)
                raise BusUnavailableError(
                    f"Redis at {self.url} is unreachable ({_describe(exc)}) while writing "
                    f"to {stream}",
                    advice=_AGAIN_WHEN_BACK,
                ) from None
            except RedisError as exc:
                raise BusError(
                    f"Redis at {self.url} refused the event for {stream} "
                    f"({_describe(exc)}): it was not journaled."
                ) from None
            if found is None:
                return None
            entry_id = _text(found)
            self._wrote(stream, entry_id)
        self._saw_written(stream, event, entry_id)
        self.stats.published += 1
        return entry_id

    async def publish_now(self, event: EventBase) -> str:
        stream = self.layout.route(event)
        fields = encode(event)
        async with self._exec_lock:
            if self._backlog or not self._connected:
                waiting = f"{len(self._backlog)} events wait to be written first"
                raise BusUnavailableError(
                    f"Redis at {self.url} is unreachable "
                    f"({self.stats.last_error or waiting}): not written"
                    if not self._connected
                    else f"Redis at {self.url} is catching up ({waiting}): not written"
                )
            try:
                entry_id = await self._add(stream, fields, self._maxlen(stream))
            except (*_DOWN, RedisError) as exc:
                error = self._write_error(stream, exc)
                if isinstance(error, BusUnavailableError):
                    self._mark_down(exc)
                raise error from None
        self._saw_written(stream, event, entry_id)
        self.stats.published += 1
        return entry_id

    async def _add(self, stream: str, fields: FieldMap, maxlen: int | None) -> str:
        """XADD `fields` now, under `_exec_lock`: the entry's id (`_write_error` says
        what a failure means)."""
        entry_id = _text(
            await self._writer.xadd(
                stream,
                fields,  # type: ignore[arg-type]
                maxlen=maxlen,
                approximate=self._approximate(stream),
            )
        )
        self._wrote(stream, entry_id)  # under the lock: `_check_restart`
        return entry_id

    def _write_error(self, stream: str, exc: BaseException) -> BusError:
        """What a failed XADD means. Redis out of reach (the answer lost: the write may
        have landed) or taking no write now (a failover, memory short):
        `BusUnavailableError`, an outage. Any other refusal: `BusError`, counted."""
        if isinstance(exc, _DOWN):
            return BusUnavailableError(
                f"Redis at {self.url} is unreachable ({_describe(exc)}): the write's "
                "answer was lost, it may have landed (the desk shows it if it did)",
                maybe_written=True,
            )
        if _transient(exc):
            return BusUnavailableError(
                f"Redis at {self.url} takes no write now ({_describe(exc)}): not written"
            )
        self.stats.write_errors += 1
        self.stats.last_error = _describe(exc)
        return BusError(
            f"Redis at {self.url} refused the event for {stream} "
            f"({_describe(exc)}): it was not journaled."
        )

    def _health_aside(self, stream: str, exc: BaseException) -> bool:
        """Whether `exc`, Redis refusing a write to `stream`, is the health key holding
        another type: the event is dropped (counted in `write_errors`, logged once until
        health is written again) rather than raised. Health is no journal: a broker's
        state change or a heartbeat raising it stopped the desk's start (a broker's
        connect says its state there) where the same key turning up while the desk runs
        is set aside by the readers (`_not_a_stream`: the Health pane, a toast)."""
        if stream != self.layout.health or _code(exc) != "WRONGTYPE":
            return False
        if not self._health_refused:
            self._health_refused = True
            log.error(
                "bus.redis.health_not_written", extra={"stream": stream, "error": _describe(exc)}
            )
        return True

    def _wrote(self, stream: str, entry_id: str) -> None:
        if self._health_refused and stream == self.layout.health:
            self._health_refused = False
        self._last_written[stream] = entry_id
        self._first_written.setdefault(stream, entry_id)
        self._entries_added[stream] = self._entries_added.get(stream, 0) + 1
        self._note(stream, entry_id)

    def _note(self, stream: str, entry_id: str) -> None:
        """`entry_id` was written or read on `stream`: the ids there must stay above it."""
        known = self._known.get(stream)
        if known is None or parse_id(entry_id) > parse_id(known):
            self._known[stream] = entry_id

    def _backlog_popleft(self) -> None:
        entry = self._backlog.popleft()
        src = entry[1].get(b"src", b"")
        if self._health_waiting.get(src) is entry:
            del self._health_waiting[src]

    def _buffer(self, stream: str, fields: FieldMap, maxlen: int | None) -> None:
        """One event into the outage backlog. A component's health event (a broker's
        heartbeat comes every second) supersedes the one of that component still
        waiting: the newest state of each is written, once, and heartbeats neither grow
        the backlog for hours nor count against its bound: an order event or a fill is
        never refused for them."""
        entry = (stream, fields, maxlen)
        if stream == self.layout.health and fields.get(b"t") == b"health":
            src = fields.get(b"src", b"")
            waiting = self._health_waiting.get(src)
            if waiting is not None:
                backlog = self._backlog
                last = len(backlog) - 1
                for back, queued in enumerate(reversed(backlog)):
                    if last - back < self._backlog_inflight:
                        break  # being written: it stays, this one follows it
                    if queued is waiting:
                        del backlog[last - back]
                        self.stats.health_superseded += 1
                        break
            self._backlog.append(entry)
            self._health_waiting[src] = entry
            self.stats.exec_buffered = len(self._backlog)
            return
        if len(self._backlog) - len(self._health_waiting) >= self.options.exec_buffer:
            self.stats.exec_overflow += 1
            log.error("bus.redis.overflow", extra={"stream": stream, "size": len(self._backlog)})
            raise BusOverflowError(
                f"Redis at {self.url} takes no write ({self.stats.last_error or 'no answer'}) "
                f"and the outage buffer is full ({self.options.exec_buffer} events): this "
                "event was not journaled. Restore Redis (reachable, a primary, with memory "
                "and disk to spare) or raise bus.exec_buffer."
            )
        self._backlog.append(entry)
        self.stats.exec_buffered = len(self._backlog)

    async def publish_many(self, events: Iterable[EventBase]) -> None:
        for event in events:
            await self.publish(event)

    async def _enqueue_md(self, stream: str, event: EventBase) -> None:
        key = coalesce_key(event) or event.event_id
        if key in self._md_pending:
            self.stats.md_coalesced += 1
        else:
            while len(self._md_pending) >= self.options.md_max_pending and not self._closed:
                if not self._connected:
                    del self._md_pending[next(iter(self._md_pending))]
                    self.stats.md_dropped += 1
                    break
                self._md_space.clear()
                await self._md_space.wait()
        self._md_pending[key] = (stream, event)
        self._md_wakeup.set()

    async def _md_flusher(self) -> None:
        interval = self.options.md_flush_interval_ms / 1000
        maxlen = self.options.md_maxlen
        size = self.options.pipeline_size
        while not self._closed:
            await self._md_wakeup.wait()
            self._md_wakeup.clear()
            if not self._connected:
                continue
            if interval:
                await asyncio.sleep(interval)
            while self._md_pending and self._connected:
                batch = self._md_pending
                if len(batch) > size:
                    keys = list(batch)[:size]
                    batch = {k: batch.pop(k) for k in keys}
                else:
                    self._md_pending = {}
                self._md_space.set()
                self._md_inflight = len(batch)
                pipe = self._writer.pipeline(transaction=False)
                for stream, event in batch.values():
                    pipe.xadd(stream, encode(event), maxlen=maxlen, approximate=True)  # type: ignore[arg-type]
                try:
                    results = await pipe.execute(raise_on_error=False)
                except _DOWN as exc:
                    self._md_wait(batch.items())
                    self._mark_down(exc)
                    break
                except RedisError as exc:  # never let the flusher die
                    self.stats.write_errors += 1
                    self.stats.md_dropped += len(batch)
                    self.stats.last_error = _describe(exc)
                    log.error("bus.redis.md_write_failed", extra={"error": _describe(exc)})
                    continue
                finally:
                    self._md_inflight = 0
                waits = [isinstance(r, Exception) and _transient(r) for r in results]
                if any(waits):
                    # Redis takes no write for now (a failover, full memory): an outage,
                    # not data it refuses. The newest quote per key waits for its end.
                    self._md_wait(i for i, wait in zip(batch.items(), waits, strict=True) if wait)
                    self._mark_down(results[waits.index(True)])
                refused = [
                    r
                    for r, wait in zip(results, waits, strict=True)
                    if isinstance(r, Exception) and not wait
                ]
                if refused:
                    self._md_refused_for_good(refused)
                elif (
                    self._md_refused
                    and time.monotonic() - self._md_refused_logged >= MD_REFUSED_LOG_EVERY_S
                ):
                    # Refusals since the last line, said once a batch goes through (at
                    # most one line a period either way: batches of a good stream and a
                    # refused one alternate).
                    log.warning("bus.redis.md_refused_since", extra={"refused": self._md_refused})
                    self._md_refused = 0
                    self._md_refused_logged = time.monotonic()
                md_written = self._md_written
                for (stream, _), result in zip(batch.values(), results, strict=True):
                    if isinstance(result, bytes | str):
                        md_written[stream] = result if isinstance(result, str) else result.decode()
                written = len(batch) - len(refused) - sum(waits)
                self.stats.published_md += written
                self.stats.published += written

    def _md_refused_for_good(self, refused: list[Exception]) -> None:
        """Quotes Redis refused for good (their key of another type): dropped, counted,
        and logged once in a while, not per batch (hundreds of lines a second)."""
        self.stats.write_errors += len(refused)
        self.stats.md_dropped += len(refused)
        self.stats.last_error = _describe(refused[0])
        self._md_refused += len(refused)
        now = time.monotonic()
        if now - self._md_refused_logged >= MD_REFUSED_LOG_EVERY_S:
            self._md_refused_logged = now
            log.error(
                "bus.redis.md_refused",
                extra={"error": _describe(refused[0]), "refused": self._md_refused},
            )
            self._md_refused = 0

    def _md_wait(self, items: Iterable[tuple[str, tuple[str, EventBase]]]) -> None:
        """Quotes not written for an outage wait for its end, the newest per key: one
        published meanwhile supersedes them (dropped)."""
        for key, item in items:
            if key not in self._md_pending:
                self._md_pending[key] = item
            else:
                self.stats.md_dropped += 1

    async def _write_a_waiting_quote(self) -> None:
        """Before the bus says it is back: one waiting quote written. Redis answers PING
        while it takes no write (a replica, full memory), and with nothing in the
        backlog that PING was all the reconnect loop asked: a desk writing only market
        data went up and down again at each retry. Refused as before, it raises (the
        loop backs off); refused for good (its key of another type), it is dropped,
        counted and logged as by the flusher."""
        if not self._md_pending:
            return
        key, item = next(iter(self._md_pending.items()))
        stream, event = item
        try:
            await self._writer.xadd(
                stream,
                encode(event),  # type: ignore[arg-type]
                maxlen=self.options.md_maxlen,
                approximate=True,
            )
        except ResponseError as exc:
            if _transient(exc):
                raise
            self._md_refused_for_good([exc])
        else:
            self.stats.published_md += 1
            self.stats.published += 1
        if self._md_pending.get(key) is item:
            del self._md_pending[key]

    async def flush(self, timeout: float = 10.0) -> None:
        """Wait until pending market data and the outage backlog are written."""
        deadline = time.monotonic() + timeout
        while self._md_pending or self._md_inflight or self._backlog:
            if time.monotonic() > deadline:
                journal = len(self._journal_waiting())
                raise BusUnavailableError(
                    f"Redis at {self.url}: {journal} execution events, "
                    f"{len(self._backlog) - journal} health or snapshot entries and "
                    f"{len(self._md_pending)} market data keys still unwritten after "
                    f"{timeout:.0f}s. Is Redis up?"
                )
            self._md_wakeup.set()
            await asyncio.sleep(0.001)

    # -- reading ------------------------------------------------------------------

    def _flat_entries(self, stream: str, raw: Iterable[Any]) -> list[BusEntry]:
        """Entries of a raw XREAD/XRANGE reply: `[[id, [k1, v1, ...]], ...]`."""
        out = []
        for raw_id, flat in raw:
            decoded = decode_flat(flat)
            entry_id = _text(raw_id)
            self.stats.count_decoded(decoded, stream, entry_id)
            out.append(BusEntry(stream, entry_id, decoded))
        if stream == self._risk:
            for entry in out:
                if sets_trading_state(entry.event):
                    self._saw_state(entry.id)
        return out

    def _unavailable(self, what: str, exc: BaseException) -> BusUnavailableError:
        self.stats.read_errors += 1
        self.stats.last_error = _describe(exc)
        return BusUnavailableError(
            f"Redis at {self.url} is unreachable ({_describe(exc)}) while {what}",
            advice=_AGAIN_WHEN_BACK,
        )

    def _refused(self, what: str, stream: str, exc: ResponseError) -> BusError:
        """A read Redis refused: a key of another type (`WRONGTYPE`) is named, with what
        to do; it is no outage, so it is not retried as one. A refusal that passes by
        itself (a failover's `MASTERDOWN`) is one: `BusUnavailableError`."""
        if _transient(exc):
            return self._unavailable(what, exc)
        self.stats.read_errors += 1
        self.stats.last_error = _describe(exc)
        hint = ""
        if _code(exc) == "WRONGTYPE":
            hint = (
                f": {stream} holds another type than a stream. Something other than a desk "
                f"wrote that key; what it held is gone. Delete it (DEL {stream})"
            )
        return BusError(f"Redis refused {what} ({_describe(exc)}){hint}")

    async def read(
        self, stream: str, start: str = "-", end: str = "+", count: int | None = None
    ) -> list[BusEntry]:
        limit = ["COUNT", count] if count is not None else []
        try:
            raw = await self._range_client().execute_command(  # type: ignore[no-untyped-call]
                "XRANGE", stream, start, end, *limit
            )
        except _DOWN as exc:
            raise self._unavailable(f"reading {stream}", exc) from None
        except ResponseError as exc:
            raise self._refused(f"reading {stream}", stream, exc) from None
        return self._flat_entries(stream, raw or [])

    async def read_last(self, stream: str, count: int = 1, before: str = "+") -> list[BusEntry]:
        """The newest `count` entries older than `before` (exclusive; `+` the end), newest
        first: one XREVRANGE, whatever the length (`(id`: Redis 6.2 and later)."""
        if count <= 0:
            return []
        try:
            raw = await self._revrange(stream, count, before)
        except _DOWN as exc:
            raise self._unavailable(f"reading the end of {stream}", exc) from None
        except ResponseError as exc:
            raise self._refused(f"reading the end of {stream}", stream, exc) from None
        return self._flat_entries(stream, raw)

    async def _revrange(self, stream: str, count: int, before: str) -> list[Any]:
        """The raw XREVRANGE reply of `read_last` (`[[id, [k1, v1, ...]], ...]`)."""
        end = "+" if before == "+" else f"({before}"
        raw: Any = await self._range_client().execute_command(  # type: ignore[no-untyped-call]
            "XREVRANGE", stream, end, "-", "COUNT", count
        )
        return raw or []

    def _range_client(self) -> Redis:
        """The client of `read`, `read_last` and `replay`, whose XRANGE/XREVRANGE replies
        stay raw: entries are decoded straight from the flat field list, skipping
        redis-py's dict building."""
        if self._replayer is None:
            self._replayer = self._client(socket_timeout=30.0)
            for command in ("XRANGE", "XREVRANGE"):
                self._replayer.set_response_callback(command, lambda response, **_: response)
        return self._replayer

    async def replay(
        self, stream: str, after: str = "0-0", batch: int = 5_000
    ) -> AsyncIterator[BusEntry]:
        """Everything after `after`, decoded one entry at a time as it is yielded.

        Once a full page has arrived, the next one is requested before this one is
        decoded, so Redis builds and sends it while the reader decodes instead of the
        reader waiting for it: one page read ahead, never more (a few MB at 5,000
        entries). Entries written meanwhile are read by a later page, as before.
        (Decoding a whole page before yielding was tried: twice slower, as the page's
        events outlive the young generation and the collector scans them again and
        again.)
        """
        client = self._range_client()
        stats = self.stats
        # `tuple.__new__` straight: the named tuple's own `__new__` is a Python frame.
        decode, new, entry = decode_flat, tuple.__new__, BusEntry
        risk = stream == self._risk  # its entries setting the state: `state_seen`

        def page(cursor: str) -> asyncio.Future[Any]:
            return asyncio.ensure_future(
                client.execute_command(  # type: ignore[no-untyped-call]
                    "XRANGE", stream, f"({cursor}", "+", "COUNT", batch
                )
            )

        ahead = page(after)
        try:
            while True:
                try:
                    raw: Any = await ahead
                except _DOWN as exc:
                    raise self._unavailable(f"replaying {stream}", exc) from None
                except ResponseError as exc:
                    raise self._refused(f"replaying {stream}", stream, exc) from None
                full = bool(raw) and len(raw) >= batch
                if full:
                    ahead = page(raw[-1][0].decode())
                    # Two turns of the loop put the request on the socket (redis-py
                    # sends under `asyncio.wait_for`, itself a task, on Python 3.11).
                    await asyncio.sleep(0)
                    await asyncio.sleep(0)
                for entry_id, flat in raw or ():
                    decoded = decode(flat)
                    # Not isinstance(decoded, EventBase): pydantic's metaclass is an
                    # ABCMeta, whose check costs more than these two identity tests.
                    kind = decoded.__class__
                    if kind is DecodeError or kind is UnknownEvent:
                        stats.count_decoded(decoded, stream, entry_id.decode())
                    else:
                        stats.decoded += 1
                        if risk and sets_trading_state(decoded):
                            self._saw_state(entry_id.decode())
                    yield new(entry, (stream, entry_id.decode(), decoded))
                if not full:
                    return
        finally:
            if not ahead.done():  # the consumer stopped early: drop the page read ahead
                ahead.cancel()
                ahead.add_done_callback(_retrieve)

    @staticmethod
    async def _last_id(client: Redis, stream: str) -> str:
        raw = await client.xrevrange(stream, "+", "-", count=1)
        return _text(raw[0][0]) if raw else "0-0"

    async def tail(self, streams: Mapping[str, str]) -> AsyncIterator[BusEntry]:
        async for batch in self.tail_batches(streams):
            for entry in batch:
                yield entry

    async def tail_batches(self, streams: Mapping[str, str]) -> AsyncIterator[list[BusEntry]]:
        last: dict[str, str] = dict(streams)
        unresolved = [name for name, entry_id in last.items() if entry_id == "$"]
        parked: dict[str, str] = {}  # name -> the type its key holds instead (`_park`)
        recheck_at = 0.0
        block = self.options.block_ms
        for name, entry_id in last.items():
            if entry_id != "$":
                self._note(name, entry_id)
        generation = self._generation
        reader = self._reader_client()
        self._readers.add(reader)
        delay = 0.05
        try:
            while not self._closed:
                refused: ResponseError | None = None
                try:
                    if parked and time.monotonic() >= recheck_at:
                        recheck_at = time.monotonic() + self.options.unreadable_recheck_s
                        await self._unpark(reader, parked, last, unresolved)
                    while unresolved:  # `$` is resolved once, never sent in a loop
                        last[unresolved[0]] = await self._last_id(reader, unresolved[0])
                        self._note(unresolved[0], last[unresolved[0]])
                        unresolved.pop(0)
                        _raise_if_cancelled()
                    if generation != self._generation:
                        seen = self._generation
                        await self._rebase(reader, last, seen)
                        generation = seen
                    if not last:  # every stream parked: only the recheck is left
                        await asyncio.sleep(block / 1000)
                        continue
                    response: Any = await reader.xread(last, count=1_000, block=block)  # type: ignore[arg-type]
                    _raise_if_cancelled()
                except _DOWN as exc:
                    self.stats.read_errors += 1
                    self.stats.last_error = _describe(exc)
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 2.0)
                    continue
                except ResponseError as exc:
                    refused = exc
                if refused is not None:
                    self.stats.read_errors += 1
                    self.stats.last_error = _describe(refused)
                    if _code(refused) == "WRONGTYPE":
                        recheck_at = time.monotonic() + self.options.unreadable_recheck_s
                        try:
                            if await self._park(reader, parked, last, unresolved):
                                continue
                            # The key changed back before TYPE looked: read again.
                        except _DOWN:  # lost while looking: as for a read
                            pass
                        except ResponseError as exc:
                            if not _transient(exc):
                                # TYPE refused (an ACL): which key is not a stream, a
                                # journal maybe, cannot be known. Not read on blind.
                                raise BusError(
                                    f"Redis refused reading {', '.join(last)} "
                                    f"({_describe(refused)}) and asking which key is not "
                                    f"a stream ({_describe(exc)}): check what this Redis "
                                    "user may run (ACL GETUSER: XREAD and TYPE), then "
                                    "start again"
                                ) from None
                    elif not _transient(refused):
                        log.error("bus.redis.read_refused", extra={"error": _describe(refused)})
                        # For good (an ACL, say): a reader that went on retrying would
                        # leave the desk trading on what it no longer reads.
                        raise BusError(
                            f"Redis refused reading {', '.join(last)} ({_describe(refused)}): "
                            "check what this Redis user may read (ACL GETUSER), then start "
                            "again"
                        ) from None
                    if self.options.passive and self._connected:
                        # A watching desk writes nothing: no write finds a failover for
                        # it (INFO, its only other command, is answered even then).
                        self._mark_down(refused, writing=False)
                    await asyncio.sleep(delay)  # a failover, BUSY...: may pass by itself
                    delay = min(delay * 2, 2.0)
                    continue
                delay = 0.05
                # A map {stream: entries} in RESP3, a list of pairs in RESP2.
                replies = response.items() if isinstance(response, dict) else response or []
                batch: list[BusEntry] = []
                for raw_stream, raw_entries in replies:
                    name = _text(raw_stream)
                    entries = self._flat_entries(name, raw_entries)
                    if entries:
                        last[name] = entries[-1].id
                        self._note(name, last[name])
                        batch += entries
                if batch:
                    yield batch
        finally:
            for name in parked:
                self._unpark_one(name)
            self._readers.discard(reader)
            await reader.aclose()

    async def _rebase(self, reader: Redis, last: dict[str, str], generation: int) -> None:
        """After a restart or a loss (`_generation`): a stream that now ends below this
        reader's cursor, or is gone, on a server whose clock is behind that cursor, was
        lost and its new ids come lower. This bus raised
        those it knew (`_raise_ids`); one it could not (a watching desk writes nothing,
        another desk's reader read further) would keep this reader blind to every new
        entry there. It is read again from its start, and said."""
        names = [name for name, entry_id in last.items() if parse_id(entry_id) > (0, 0)]
        if not names:
            return
        async with reader.pipeline(transaction=False) as pipe:
            pipe.time()
            for name in names:
                pipe.xinfo_stream(name)
            clock, *found = await pipe.execute(raise_on_error=False)
        if isinstance(clock, Exception):
            raise clock
        now_ms = int(clock[0]) * 1000 + int(clock[1]) // 1000
        for name, info in zip(names, found, strict=True):
            if parse_id(last[name])[0] < now_ms:
                continue  # the server's clock is past the cursor: new ids come after it
            if isinstance(info, ResponseError) and _transient(info):
                raise info
            if isinstance(info, Exception):  # no key (gone); another type: XREAD says
                if "no such key" not in str(info).lower():
                    continue
                ends = "is gone"
            else:
                end = _text(info.get("last-generated-id", b"0-0"))
                if parse_id(end) >= parse_id(last[name]):
                    continue
                ends = f"ends at {end}"
            cursor, last[name] = last[name], "0-0"
            await self._stream_behind(name, ends, cursor, generation)

    async def _stream_behind(self, name: str, ends: str, cursor: str, generation: int) -> None:
        """Said once per stream and restart, however many readers find it."""
        if (name, generation) in self._behind_said:
            return
        self._behind_said.add((name, generation))
        self.stats.read_errors += 1
        self.stats.last_error = f"{name} {ends}, below {cursor} read there"
        log.error("bus.redis.stream_behind", extra={"stream": name, "ends": ends, "read": cursor})
        note = (
            f"Redis lost {name}: it {ends}, below {cursor} this desk had read there, and "
            "its new entries bear lower ids. It is read again from its start, but what "
            "this desk had applied from it hides the entries below that id: its orders "
            "and positions may be stale. Restart this desk to rebuild them"
        )
        self._loss_notes.append(note)
        await self._publish_health(ConnectionState.DEGRADED, note)

    async def _park(
        self,
        reader: Redis,
        parked: dict[str, str],
        last: dict[str, str],
        unresolved: list[str],
    ) -> bool:
        """After XREAD was refused: the streams whose key holds another type (`WRONGTYPE`:
        a program or a person SET or LPUSHed a stream's name) leave this reader, which
        goes on with the rest; each is said once (`_not_a_stream`). A journal is not set
        aside: the desk trades on it, so the reader ends with a `BusError` naming it (the
        session then stops the desk and says why). False when every key is a stream or
        none: the key changed back before TYPE looked. TYPE refused is raised."""
        kinds = await self._key_types(reader, list(last))
        wrong = {name: kind for name, kind in kinds.items() if kind not in ("stream", "none")}
        for name, kind in wrong.items():
            if self.layout.is_journal(name):
                self.stats.read_errors += 1
                self.stats.last_error = f"{name} holds a {kind}, not a stream"
                # In the bus's metrics (the Health pane reads them from this process:
                # its feed may have ended here first) and its next health: DEGRADED.
                self._stopped_on.add(name)
                self._unreadable[name] = f"{kind}; a journal: this desk stopped reading"
                self.stats.unreadable = _unreadable_text(self._unreadable)
                raise BusError(
                    f"{name} holds a {kind}, not a stream: this journal cannot be read, "
                    "and what it held is gone. Something other than a desk wrote that key: "
                    f"delete it (DEL {name}) and start again"
                )
        for name, kind in wrong.items():
            del last[name]
            parked[name] = kind
            self._parking[name] += 1
            if name in unresolved:
                unresolved.remove(name)
            await self._not_a_stream(name, kind)
        return bool(wrong)

    async def _unpark(
        self,
        reader: Redis,
        parked: dict[str, str],
        last: dict[str, str],
        unresolved: list[str],
    ) -> None:
        """Parked streams whose key is a stream again, or gone, are read again: from its
        first entry. The key held no stream while it was parked, so whatever stream it
        holds now was made since, all of it unread (and its ids may be lower than the
        cursor this reader had: a stream written with ids of its own)."""
        try:
            kinds = await self._key_types(reader, list(parked))
        except ResponseError:  # TYPE refused: they stay aside, looked at again later
            return
        again = [name for name, kind in kinds.items() if kind in ("stream", "none")]
        said = [name for name in again if self._unreadable.pop(name, None) is not None]
        for name in again:  # no await from here to the count: a cancel cannot leak it
            del parked[name]
            last[name] = "0-0"
            self._unpark_one(name)
        for name in said:
            await self._a_stream_again(name)

    def _unpark_one(self, name: str) -> None:
        """One reader less holds `name` parked. When none does (the last one ended, or
        reads it again), nothing says it is not read any more: Health's line goes."""
        self._parking[name] -= 1
        if self._parking[name] > 0:
            return
        del self._parking[name]
        if self._unreadable.pop(name, None) is not None:
            self.stats.unreadable = _unreadable_text(self._unreadable)

    async def _key_types(self, reader: Redis, names: list[str]) -> dict[str, str]:
        """The type of each key. A lost connection, or Redis refusing to say (an ACL,
        a failover's `MASTERDOWN`), is raised: the caller decides."""
        async with reader.pipeline(transaction=False) as pipe:
            for name in names:
                pipe.type(name)
            found: list[Any] = await pipe.execute()
        return {name: _text(kind) for name, kind in zip(names, found, strict=True)}

    async def _not_a_stream(self, name: str, kind: str) -> None:
        """Said once per key, however many readers meet it: logged, counted, in the
        bus's metrics (`unreadable`, the Health pane) and its health (a toast)."""
        if name in self._unreadable:
            return
        self._unreadable[name] = kind
        self.stats.read_errors += 1
        self.stats.unreadable = _unreadable_text(self._unreadable)
        log.error("bus.redis.not_a_stream", extra={"stream": name, "type": kind})
        await self._publish_health(
            ConnectionState.DEGRADED,
            f"{name} holds a {kind}, not a stream: this desk does not read it and shows "
            "nothing written there; the other streams are read as before. Something other "
            f"than a desk wrote that key: delete it (DEL {name}) and it is read again "
            f"within {self.options.unreadable_recheck_s:g} s",
        )

    async def _a_stream_again(self, name: str) -> None:
        """`name`, said not read (`_not_a_stream`) and just taken off `_unreadable`, is
        read again: said, and the bus LIVE once no other key is left aside."""
        self.stats.unreadable = _unreadable_text(self._unreadable)
        log.warning("bus.redis.stream_again", extra={"stream": name})
        if not self._unreadable:
            await self._publish_health(
                *self.with_unreadable(
                    ConnectionState.LIVE, f"{name} is a stream again (or none): read again"
                )
            )

    def with_unreadable(self, state: ConnectionState, message: str) -> tuple[ConnectionState, str]:
        """A health message about something else (Redis back, restarted) with the keys
        still set aside, or a loss whose resync failed (`_resync_failed`): a LIVE would
        tell Health they are read, or the journal mended."""
        if self._resync_failed is not None:
            state = ConnectionState.DEGRADED
            message = f"{message}; not mended: {self._resync_failed[1]}"
        if not self._unreadable:
            return state, message
        advice = (
            "DEL the key, then start the desk again: it stopped on a journal it could not read"
            if self._stopped_on & self._unreadable.keys()
            else "DEL the key to have it read again"
        )
        return ConnectionState.DEGRADED, (
            f"{message}; not read, not a stream: {_unreadable_text(self._unreadable)} ({advice})"
        )

    async def streams(self, pattern: str = "*") -> list[str]:
        found: set[str] = set()
        try:
            async for key in self._writer.scan_iter(
                match=f"{self.options.prefix}:{pattern}", _type="stream", count=500
            ):
                found.add(_text(key))
        except _DOWN as exc:
            raise self._unavailable("listing streams", exc) from None
        return sorted(found)

    async def info(self, stream: str) -> StreamInfo | None:
        try:
            return await self._info(stream)
        except (*_DOWN, ResponseError) as exc:
            raise self._unavailable(f"reading XINFO of {stream}", exc) from None

    async def _info(self, stream: str) -> StreamInfo | None:
        """None when there is no stream there (no key, or one of another type); a
        refusal that passes by itself (`MASTERDOWN`...) is raised, as an outage is."""
        try:
            raw = await self._writer.xinfo_stream(stream)
        except ResponseError as exc:
            if _transient(exc):
                raise
            return None
        first = raw.get("first-entry")
        last = raw.get("last-entry")
        return StreamInfo(
            length=int(raw.get("length", 0)),
            first_id=_text(first[0]) if first else None,
            last_id=_text(last[0]) if last else None,
            last_generated_id=_text(raw.get("last-generated-id", b"0-0")),
            entries_added=int(raw.get("entries-added", 0)),
            counts_added="entries-added" in raw,
            max_deleted_id=_text(raw.get("max-deleted-entry-id", b"0-0")),
        )

    # -- journal trimming -----------------------------------------------------------

    async def set_snapshot_floor(self, stream: str, entry_id: str) -> None:
        """Allow trimming `stream` up to `entry_id` (covered by a snapshot), by age."""
        self._floors[stream] = entry_id
        try:
            await self._trim_journals()
        except _DOWN as exc:  # the floor is kept: the watcher trims once Redis is back
            raise self._unavailable(f"trimming {stream}", exc) from None
        except RedisError as exc:
            if not _transient(exc):
                raise BusError(f"Redis refused trimming {stream} ({_describe(exc)})") from None
            # A failover, memory short: the floor is kept, the watcher trims later.
            log.warning(
                "bus.redis.trim_deferred", extra={"stream": stream, "error": _describe(exc)}
            )

    async def trim(self, stream: str, keep: int) -> int:
        """Drop the oldest entries of `stream`, keeping at least its newest `keep`
        (`XTRIM MAXLEN ~`: whole nodes go, so a few more may stay). Returns how many went
        (counted as this bus's own, as `_trim_journals` counts its trims)."""
        try:
            async with self._exec_lock:
                removed: Any = await self._writer.xtrim(
                    stream, maxlen=max(keep, 0), approximate=True
                )
                self._trimmed_here[stream] += int(removed or 0)
        except _DOWN as exc:
            raise self._unavailable(f"trimming {stream}", exc) from None
        except ResponseError:
            return 0  # not a stream (or none): nothing to trim
        return int(removed or 0)

    # -- claims -------------------------------------------------------------------

    async def claim(
        self,
        key: str,
        holder: str,
        ttl_ms: int,
        *,
        replacing: str = "",
        pending: bool = False,
        over_pending: bool = False,
    ) -> Claim:
        async with self._claim_turn(key):
            try:
                found: Any = await self._eval_claim(
                    key, holder, ttl_ms, replacing, pending, over_pending
                )
            except _DOWN as exc:
                raise self._unavailable(f"claiming {key}", exc) from None
            except RedisError as exc:  # OOM, READONLY, a key of another type...
                raise BusError(f"Redis refused claiming {key} ({_describe(exc)})") from None
            claim = self._claim_found(found, key)
            if claim.holder == holder:
                self._held_claims[key] = (holder, ttl_ms, pending)
            elif key in self._held_claims and self._held_claims[key][0] == holder:
                del self._held_claims[key]
        return claim

    def _claim_turn(self, key: str) -> asyncio.Lock:
        """The turn of one claim key's writes. Without it a write whose answer was on
        its way when Redis restarted raced the reclaim (`_reclaim`), which read the
        claim as held before that answer: a release that had run on the server was
        undone (the key set again on the new server, held by nobody who renews or
        releases it), a claim made outright was set pending again. A write waits at
        most for one answer (the writer's socket timeout)."""
        turn = self._claim_turns.get(key)
        if turn is None:
            turn = self._claim_turns[key] = asyncio.Lock()
        return turn

    async def _eval_claim(
        self, key: str, holder: str, ttl_ms: int, replacing: str, pending: bool, over: bool
    ) -> Any:
        return await self._writer.eval(
            _CLAIM,
            3,
            key,
            f"{key}:pending",
            f"{key}:copy",
            holder,
            ttl_ms,
            replacing,
            "1" if pending else "0",
            "1" if over else "0",
        )

    @staticmethod
    def _claim_found(found: Any, key: str) -> Claim:
        held = found[0]
        if isinstance(held, bytes | bytearray):
            held = held.decode(errors="replace")  # a value no desk wrote: named as such
        if len(found) > 2 and found[2] == 1:
            log.error(
                "bus.redis.claim_key_restored",
                extra={
                    "key": key,
                    "why": "the key was gone while this desk held the claim (deleted by "
                    "another hand: its copy still held it; no other desk took it): set again",
                },
            )
        return Claim(str(held), int(found[1]))

    async def release(self, key: str, holder: str) -> bool:
        async with self._claim_turn(key):
            # Let go first: whatever the answer (none, if Redis is out of reach), this
            # desk no longer holds it, and no reclaim may set it again.
            if key in self._held_claims and self._held_claims[key][0] == holder:
                del self._held_claims[key]
            try:
                released: Any = await self._writer.eval(
                    _RELEASE, 3, key, f"{key}:pending", f"{key}:copy", holder
                )
            except _DOWN as exc:
                raise self._unavailable(f"releasing {key}", exc) from None
            except RedisError as exc:
                raise BusError(f"Redis refused releasing {key} ({_describe(exc)})") from None
        return bool(released)

    async def claim_holder(self, key: str) -> str | None:
        """The key, or its copy where another hand deleted the key (the claim is then
        the copy's, as `_CLAIM` reads it)."""
        try:
            held: Any = await self._writer.get(key)
            if held is None:
                held = await self._writer.get(f"{key}:copy")
        except _DOWN as exc:
            raise self._unavailable(f"reading {key}", exc) from None
        except RedisError as exc:
            raise BusError(f"Redis refused reading {key} ({_describe(exc)})") from None
        if isinstance(held, bytes | bytearray):
            held = held.decode(errors="replace")
        return None if held is None else str(held)

    async def claim_wait(self, ttl_ms: int) -> ClaimWait:
        """How long a claim taken now must stay pending, as far as the server can say:
        while Redis may have lost a claim within the last `ttl_ms`, a free key cannot be
        told from one whose holder still drives its broker (it learns of the loss only
        when its watcher finds it, or at its next renewal). Its holder renewed last
        before the loss, so within `ttl_ms` of it it has claimed again (`_reclaim`, or
        its renewal, which takes the key over a pending claim) or its own claim has
        lapsed (it sends nothing): then a pending claim still held may be made outright.

        The server says so when this bus set the epoch key itself (nothing of this
        prefix was there) on a server promoted from a replica (`INFO replication`: a
        previous replication id): a failover to a replica that had not the prefix's
        keys; `ttl_ms` from when the epoch was set. A restart that lost the keys looks
        on the server exactly like a prefix's first use (nothing there, a young server):
        the desk's own record of the epoch it last used tells them apart
        (`engine.claims`, `Session.open`)."""
        if self._epoch_set_at is None:
            return ClaimWait(0, "")
        try:
            replication: Any = await self._writer.info("replication")
        except _DOWN as exc:
            raise self._unavailable("reading INFO replication", exc) from None
        except RedisError as exc:
            raise BusError(f"Redis refused INFO ({_describe(exc)})") from None
        previous = str(replication.get("master_replid2", "0")).strip("0")
        if previous and replication.get("role") == "master":
            left = ttl_ms - int((time.monotonic() - self._epoch_set_at) * 1000)
            if left > 0:
                return ClaimWait(
                    left,
                    "Redis was promoted from a replica that held nothing of this prefix "
                    "(a failover), and a desk that drove this broker before may not know "
                    "yet that its claim was lost",
                )
        return ClaimWait(0, "")

    async def _reclaim(self) -> None:
        """After a restart or a loss is found: every claim this bus holds, claimed again
        at once, as it was held (outright ones over a claim another desk took pending
        meanwhile; a pending one pending). A key the server lost is set again; one
        another desk holds outright now is left to it, and the desk's next renewal
        finds it lost. Before the epoch key is set again: a desk starting meanwhile
        that finds the epoch set finds the claims too. A refusal that passes by itself
        (`_transient`) is raised and the whole check tried again; another is logged and
        the other claims go on.

        Each claim in its turn (`_claim_turn`), as held when the turn comes: a claim let
        go (the desk closing) or made outright (`take_deferred`) meanwhile, or whose
        release or claim was on its way (run on the old server, its answer not back),
        is not set again as it was held before."""
        for key in list(self._held_claims):
            async with self._claim_turn(key):
                held = self._held_claims.get(key)
                if held is None:
                    continue
                holder, ttl_ms, pending = held
                try:
                    found: Any = await self._eval_claim(
                        key, holder, ttl_ms, "", pending, not pending
                    )
                except ResponseError as exc:
                    if _transient(exc):
                        raise
                    log.error(
                        "bus.redis.claim_not_renewed", extra={"key": key, "error": _describe(exc)}
                    )
                    continue
                claim = self._claim_found(found, key)
                if claim.holder == holder:
                    log.warning("bus.redis.claim_renewed_after_restart", extra={"key": key})
                    continue
                self._held_claims.pop(key, None)
                log.error("bus.redis.claim_taken_after_restart", extra={"key": key})

    async def _trim_journals(self) -> None:
        """Each journal with a snapshot floor, trimmed by age up to it. What went is
        counted (`_trimmed_here`) under the publishers' lock, which `_check_restart`
        holds around each XINFO: a trim of ours is never taken for another hand's."""
        cutoff_ms = int(time.time() * 1000) - self.options.journal_retention_s * 1000
        for stream, floor in list(self._floors.items()):
            min_id = min(parse_id(floor), (cutoff_ms, 0))
            async with self._exec_lock:
                removed: Any = await self._writer.xtrim(
                    stream, minid=f"{min_id[0]}-{min_id[1]}", approximate=True
                )
                self._trimmed_here[stream] += int(removed or 0)

    # -- restart detection ----------------------------------------------------------

    def add_data_loss_listener(self, listener: DataLossListener) -> None:
        self._listeners.append(listener)

    async def _watcher(self) -> None:
        while not self._closed:
            await asyncio.sleep(self.options.epoch_check_s)
            if not self._connected:
                continue
            try:
                restarted, lost = await self._check_restart()
                if restarted and not lost:
                    await self._publish_health(
                        *self.with_unreadable(
                            ConnectionState.LIVE,
                            f"Redis server restarted (new run_id); {self._none_lost()}",
                        )
                    )
                if time.monotonic() - self._last_trim > 60 and self._floors:
                    self._last_trim = time.monotonic()
                    await self._trim_journals()
            except _DOWN as exc:
                self._mark_down(exc)
            except RedisError as exc:
                self.stats.last_error = _describe(exc)

    async def _check_restart(self) -> tuple[bool, list[str]]:
        """Return (server restarted, reasons data was lost); report the loss.

        Nothing is recorded until every check has run: if Redis drops mid-way, the
        next attempt finds the same restart and the same loss again.
        """
        async with self._check_lock:
            run_id = await self._server_run_id()
            restarted = self._run_id is not None and run_id != self._run_id
            reasons: list[str] = []
            epoch_lost = self._epoch_lost(await self._writer.get(self.layout.epoch_key))
            if epoch_lost:
                reasons.append("the epoch key is missing or was replaced")
            lost_streams: list[str] = []
            trimmed: list[str] = []
            # stream -> (entries gone now, of them by our own trims): recorded at the end
            gone: dict[str, tuple[int, int]] = {}
            for stream, last_id in list(self._last_written.items()):
                # Under the publishers' lock: no XADD of ours is on its way, so XINFO
                # counts every one counted here and no other of ours (one Redis ran
                # before XINFO but answered after was counted twice: a false loss).
                async with self._exec_lock:
                    seen = self._entries_added.get(stream, 0)
                    info = await self._info(stream)
                    if info is None:
                        reasons.append(await self._no_stream(stream, last_id))
                    elif parse_id(info.last_generated_id) < parse_id(last_id):
                        reasons.append(
                            f"{stream} ends at {info.last_generated_id}, before {last_id} we wrote"
                        )
                    elif info.counts_added and info.entries_added < seen:
                        reasons.append(
                            f"{stream} had {seen} entries added, now {info.entries_added}"
                        )
                    else:
                        self._entries_added[stream] = info.entries_added
                        deleted = self._deleted(stream, info, gone)
                        if not deleted:
                            continue
                        reasons.append(deleted)
                        trimmed.append(stream)
                lost_streams.append(stream)
            if not self.options.passive:
                state_gone = await self._state_deleted(gone)
                if state_gone:
                    reasons.append(state_gone)
                    trimmed.append(self.layout.risk)
                    if self.layout.risk not in lost_streams:
                        lost_streams.append(self.layout.risk)
            if (restarted or reasons) and not self.options.passive:
                # The broker claims first, before the epoch key is set again: a desk
                # starting now must find them held (`claim_wait`, `_reclaim`).
                await self._reclaim()
                # Before anything else is written there (the backlog, the loss's health,
                # the resync): ids must go on rising for every reader.
                said, below = await self._raise_ids(set(lost_streams))
                reasons += said
                lost_streams += below
            if epoch_lost:
                await self._claim_epoch()
            # Every check ran: record what was found.
            self._run_id = run_id
            if restarted:
                self.stats.server_restarts += 1
                log.warning("bus.redis.server_restarted", extra={"url": self.url})
            for stream, (now, ours) in gone.items():
                self._gone[stream] = now
                self._trimmed_here[stream] -= ours
                if self._trimmed_here[stream] <= 0:
                    del self._trimmed_here[stream]
            for stream in lost_streams:  # looked at afresh from the next look
                self._last_written.pop(stream, None)
                self._entries_added.pop(stream, None)
                self._first_written.pop(stream, None)
                self._trimmed_here.pop(stream, None)
                self._gone.pop(stream, None)
            if self.layout.risk in lost_streams:
                self._state_seen = None  # what is written and read from now on
            if restarted or reasons:
                self._generation += 1  # the readers look at their cursors (`_rebase`)
        if reasons:
            await self._data_lost(
                DataLoss(
                    "; ".join(reasons),
                    epoch=epoch_lost,
                    streams=lost_streams,
                    restarted=restarted,
                    trimmed=trimmed,
                )
            )
        return restarted, reasons

    def _none_lost(self) -> str:
        """What a restart that showed no loss says: a bus that writes nothing (passive)
        cannot know, as a restart from an older copy of the data keeps the epoch key."""
        if self.options.passive:
            return (
                "the epoch is the same: this bus, writing nothing, cannot tell whether "
                "entries were lost (a watching desk looks for those it read)"
            )
        return "no journaled data was lost"

    async def _no_stream(self, stream: str, last_id: str) -> str:
        """Why `stream`, which this bus wrote, has no XINFO: gone, or its key holds
        another type now (something other than a desk SET it): what it held is gone."""
        kind = _text(await self._writer.type(stream))
        if kind not in ("none", "stream"):
            return f"{stream} holds a {kind}, not a stream (we wrote up to {last_id})"
        return f"{stream} is gone (we wrote up to {last_id})"

    def _deleted(self, stream: str, info: StreamInfo, gone: dict[str, tuple[int, int]]) -> str:
        """Why entries deleted from a journal this bus writes (its key kept) are a loss:
        a journal loses entries only by the trims of the bus that writes it (by age,
        behind a snapshot, `_trim_journals`; never the paper venue's, which is its
        memory: `recovery.journal_kept_whole`). More gone than those took is another
        hand's XTRIM or XDEL. "" when none is found; `gone` gets what to record."""
        if self.layout.channel_of(stream) is not Channel.EXECUTION or not info.counts_added:
            return ""
        now, ours = info.gone, self._trimmed_here.get(stream, 0)
        gone[stream] = (now, ours)
        before = self._gone.get(stream)
        if before is None:
            # The first look since this bus wrote there: a loss if the first entry it
            # wrote was deleted (the stream now starts after it, or an XDEL took it).
            first = self._first_written.get(stream)
            if first is None or ours:
                return ""
            held_from = info.first_id
            if not (
                held_from is None
                or parse_id(held_from) > parse_id(first)
                or parse_id(info.max_deleted_id) >= parse_id(first)
            ):
                return ""
            what = f"entries it wrote from {first} on"
        else:
            extra = now - before - ours
            if extra <= 0:
                return ""
            what = f"{extra} entries"
        log.error(
            "bus.redis.entries_deleted",
            extra={"stream": stream, "gone": now, "before": before, "ours": ours},
        )
        return (
            f"{stream} lost {what} while its key stayed: an XTRIM or XDEL by another hand "
            "(a desk trims a journal only behind its snapshots, and never a paper venue's)"
        )

    async def _state_deleted(self, gone: dict[str, tuple[int, int]]) -> str:
        """Why the risk stream lost the trading state: entries were deleted from it since
        the last look, the newest entry setting the state this bus wrote or read
        (`state_seen`: what this desk applied of the state is among it) is gone with
        them, and no entry setting it is left after it. "" when that entry is still
        there (XRANGE id id), or a newer one is (every desk trims the stream only after
        writing the state as its newest entry, `recovery.trim_risk_stream`): whatever
        else went (a reject), the state this desk trades on stands. Before, any deletion
        newer than the newest entry setting the state (an XDEL of one reject) was called
        the state's loss, and the desk wrote its own back over the stream's. The first
        look only notes what is gone (what went before this desk started, its start
        looked at: `RunRecorder.check`) and, knowing none yet, the newest entry setting
        the state held now; so does a look that finds a deletion while this bus knows
        none (none of what it read was lost)."""
        stream = self.layout.risk
        info = await self._info(stream)
        if info is None or not info.counts_added:
            if info is None:  # none yet: it comes into being with nothing deleted
                gone[stream] = (0, 0)
            return ""
        # Our own trims too leave the state (`trim_risk_stream`): looked at all the same.
        gone[stream] = (info.gone, self._trimmed_here.get(stream, 0))
        before = self._gone.get(stream)
        page_back = partial(self._watcher_last, stream)
        seen = self._state_seen
        if before is None or info.gone <= before or seen is None:
            if seen is None and (before is None or info.gone > before):
                self._saw_state(await state_entry_after(page_back))
            return ""
        if await self._holds(stream, seen):
            return ""
        newer = await state_entry_after(page_back, seen)
        if newer is not None:
            self._saw_state(newer)
            return ""
        log.error(
            "bus.redis.trading_state_deleted",
            extra={"stream": stream, "gone": info.gone, "before": before, "entry_id": seen},
        )
        return (
            f"{stream} lost {info.gone - before} entries while its key stayed (an XTRIM or "
            f"XDEL by another hand), {seen} among them: the newest entry setting the "
            "trading state this desk had read, and none setting it is left after it: the "
            "trading state went with them"
        )

    async def _holds(self, stream: str, entry_id: str) -> bool:
        """Whether `stream` still holds `entry_id` (XRANGE id id), for the watcher: Redis's
        own errors, nothing counted (`_watcher_last`)."""
        raw: Any = await self._range_client().execute_command(  # type: ignore[no-untyped-call]
            "XRANGE", stream, entry_id, entry_id, "COUNT", 1
        )
        return bool(raw)

    async def _watcher_last(self, stream: str, count: int, before: str) -> list[BusEntry]:
        """`read_last` for the watcher's page-back (`_state_deleted`): Redis's own errors,
        which the watcher takes (a `BusError` would end it), and nothing counted in
        `stats` (the start's check reads through `read_last`, and counts)."""
        raw = await self._revrange(stream, count, before)
        return [BusEntry(stream, _text(raw_id), decode_flat(flat)) for raw_id, flat in raw]

    async def _raise_ids(self, found: set[str]) -> tuple[list[str], list[str]]:
        """After a restart: each stream this bus wrote or read whose ids now start below
        the highest it knew there (Redis lost it, and its clock is behind the old ids: a
        restart on another host, a failover with skew) is raised to it (`_RAISE_ID`).
        Left as it was, every new entry there would bear a lower id than the readers'
        cursors, here and on every desk that read as far: none would show it, the
        engine would skip it as applied. Under the publishers' lock: none of our XADDs
        lands before. Returns what it says about the loss: the streams raised that the
        checks had not `found` lost (read here, not written), and the entries found
        below; and those streams, lost too."""
        known = dict(self._known)
        for stream, entry_id in self._md_written.items():
            if stream not in known or parse_id(entry_id) > parse_id(known[stream]):
                known[stream] = entry_id
        said: list[str] = []
        below: list[str] = []
        async with self._exec_lock:
            for stream, entry_id in known.items():
                if parse_id(entry_id) <= (0, 0):
                    continue
                try:
                    raised: Any = await self._writer.eval(_RAISE_ID, 1, stream, entry_id)
                except ResponseError as exc:
                    if _transient(exc):
                        raise  # tried again with the whole check
                    log.error(
                        "bus.redis.ids_not_raised",
                        extra={"stream": stream, "error": _describe(exc)},
                    )
                    said.append(f"the ids of {stream} could not be raised ({_describe(exc)})")
                    continue
                if not int(raised[0]):
                    continue
                held, before = int(raised[1]), _text(raised[2])
                log.warning(
                    "bus.redis.ids_raised",
                    extra={"stream": stream, "from": before, "to": entry_id, "held": held},
                )
                self.stats.ids_raised += 1
                if stream not in found:
                    below.append(stream)
                if not held and stream not in found:
                    said.append(f"{stream} ended at {before}, below {entry_id} read there")
                elif held:
                    said.append(
                        f"{stream} ended at {before}, below {entry_id} this desk had seen "
                        f"there (a server clock behind): its ids were raised above it, but "
                        f"the {held} entries it held bear lower ids and a reader past "
                        "them does not show them"
                    )
        return said, below

    async def _data_lost(self, loss: DataLoss) -> None:
        self.stats.data_loss_detected += 1
        self._loss_notes = []
        log.error(
            "bus.redis.data_lost",
            extra={
                "url": self.url,
                "reason": str(loss),
                "epoch": loss.epoch,
                "streams": sorted(loss.streams),
            },
        )
        await self._publish_health(ConnectionState.DEGRADED, self._loss_said(loss, "during"))
        # Listeners run as tasks: one that publishes or flushes must not block the
        # reconnect loop that is about to write the backlog.
        resync = [
            self._spawn_listener(self._call_listener(listener, loss))
            for listener in self._listeners
        ]
        self._spawn_listener(self._loss_over(loss, resync))

    def _loss_said(self, loss: DataLoss, when: str, failed: str = "") -> str:
        """The loss as the bus's health says it (`when`: "during" the listeners' work,
        "done", or "failed" with why): only what was lost. A journal, a snapshot or
        the epoch (everything): the desk resyncs from the brokers. Streams that are no
        journal (health, market data, signals: capped, written again as they go) are
        named, and nothing is said of a resync: an operator's DEL of the health stream
        is no loss of the journal."""
        if loss.journal_lost(self.layout):
            if not loss.restarted:
                head = "Redis lost data"
            elif when == "during":
                head = "Redis restarted and lost data"
            else:
                head = "Redis restarted and data was lost"
            if when == "during":
                return f"{head} ({loss}): resyncing from the brokers"
            if when == "done":
                return f"{head} ({loss}): resynced from the brokers"
            return (
                f"{head} ({loss}); the resync from the brokers failed ({failed}): check "
                "orders and positions at the venues"
            )
        names = ", ".join(sorted(loss.streams))
        head = f"Redis lost {names or 'data'} ({loss})"
        health = loss.lost(self.layout.health)
        if when == "failed":
            return f"{head}; putting it back failed ({failed})"
        if not health:
            return f"{head}: nothing to resync"
        return f"{head}: health {'is' if when == 'during' else 'was'} published again"

    def _spawn_listener(self, work: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task: asyncio.Task[Any] = asyncio.create_task(work)
        self._listener_tasks.add(task)
        task.add_done_callback(self._listener_tasks.discard)
        return task

    async def _loss_over(self, loss: DataLoss, resync: list[asyncio.Task[Any]]) -> None:
        """The end of a loss, said once the resync (the listeners) is done and the bus
        is back: without it the Health pane kept the loss's DEGRADED for good when the
        watcher found it (no reconnect to say LIVE after)."""
        failed = [error for error in await asyncio.gather(*resync) if error]
        reconnecting = self._reconnect_task
        if reconnecting is not None and not reconnecting.done():
            await asyncio.wait({reconnecting})  # its LIVE first: this is the last word
        if failed:
            said = self._loss_said(loss, "failed", "; ".join(failed))
            # It stands until a later loss's resync covers the same streams: any LIVE
            # the bus says meanwhile (a reconnect, a restart that lost nothing) says it.
            self._resync_failed = (loss, said)
            await self._publish_health(ConnectionState.DEGRADED, said)
            return
        if self._resync_failed is not None:
            earlier = self._resync_failed[0]
            if loss.epoch or (not earlier.epoch and earlier.streams <= loss.streams):
                self._resync_failed = None
        message = self._loss_said(loss, "done")
        notes, self._loss_notes = self._loss_notes, []
        if notes:  # what the reconnect or a reader said since: a LIVE would hide it
            await self._publish_health(
                *self.with_unreadable(
                    ConnectionState.DEGRADED, "; ".join((message, *dict.fromkeys(notes)))
                )
            )
            return
        await self._publish_health(*self.with_unreadable(ConnectionState.LIVE, message))

    @staticmethod
    async def _call_listener(listener: DataLossListener, loss: DataLoss) -> str:
        """What went wrong ("" when nothing did)."""
        try:
            await listener(loss)
        except Exception as exc:
            log.exception("bus.data_loss_listener_failed")
            return _describe(exc)
        return ""

    async def _publish_health(self, state: ConnectionState, message: str) -> None:
        if self.options.passive:  # a watching desk writes nothing of its own
            log.warning("bus.redis.health", extra={"state": state, "health": message})
            return
        # Its metrics name the desk whose bus this is (`BusStats.extra`, set by the
        # session that opens it: engine/session.py `BUS_DESK`): every desk on the prefix
        # writes component `bus`, and another desk's bus is not this desk's.
        event = HealthEvent.create(
            "bus",
            Health(component="bus", state=state, message=message, metrics=self.stats.as_metrics()),
        )
        try:
            await self.publish(event)
        except BusError as exc:
            log.error("bus.redis.health_not_journaled", extra={"error": str(exc)})


def _closed_with(journal: int, other: int) -> str:
    """What a close left unwritten, in words: the journal's events apart from the health
    and snapshot entries (a desk that traded nothing during an outage said it "closed
    with 2 execution events not journaled" of its brokers' health)."""
    if not journal:
        return f"closed with {other} health or snapshot entries unwritten (no execution event)"
    said = f"closed with {journal} execution events not journaled"
    return f"{said} ({other} health or snapshot entries also unwritten)" if other else said
