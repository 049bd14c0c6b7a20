"""`BinanceBroker`: Binance spot behind the `Broker` contract.

Three sources report on an order and may arrive in any order, twice, or not at all:
the REST reply (`newOrderRespType=FULL`: status and the fills made at once), the
user-data stream's `executionReport`s, and what a query or a reconcile finds. Every one
goes through the same two gates, so the journal gets each fill exactly once (by its
`SYMBOL-tradeId` exec id) and each status once, never a step backwards (the domain's
transition table, plus the cumulative quantity for repeated PARTIALLY_FILLED). An order
the journal has PENDING_NEW gets its NEW before its first fill (`_new_before_fill`).

Modify is Binance's cancel-replace: the same client order id, a new venue order id.
The old venue order's CANCELED report is not our order being cancelled; its fills are
still ours. Quantities after a replace are the order's totals: the part filled under
earlier venue ids is carried (`TrackedOrder.carried_*`). A change of the quantity alone
that lowers it (above what has filled) is an order amend keepPriority instead, on a
symbol whose exchangeInfo says `amendAllowed`: the venue order, its id and its place in
the queue are kept (`_amend`).

Reference prices (what the Quotes pane's Chg% is measured from): the open of Binance's
24 h rolling window, asked of REST for the quoted symbols when the market streams
start and when a symbol is subscribed (`ticker/24hr`, 2 of the minute's weight per 20
symbols, a read held back like any other near the limit), then followed on each
symbol's `@miniTicker` stream (nothing for the weight); the newer of the two by
Binance's time wins (`Broker.hold_reference`).

Links: "rest" (the client) and "user" (the user-data stream) carry orders; "market"
(public streams) only degrades. `connect()` never raises for an unreachable venue: the
links show why and a background task retries with backoff. When the venue goes away
later the user stream notices first; each attempt to subscribe it again pings REST
first, so "rest" shows DISCONNECTED while Binance does not answer, and rebuilds the
client when it does not (the first attempt after Binance is back finds it). The pause
between attempts grows to `retry_max_s` (5 s) and no further.

REST can also fail alone while the user stream stays up (a REST outage, a proxy gone,
timeouts). Every REST call tells what it found (`BinanceRest.watch` is this broker): one
that reached nothing (`NotConnected`, `BrokerTimeout`) sets "rest" DISCONNECTED with its
reason; the next one Binance answers sets it LIVE. While it is down orders are refused
before sending, so a ping now and then (`_watch_rest`, the same bounded backoff) finds
Binance back even when nothing else calls.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import dataclasses
import logging
import math
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping, Sequence
from decimal import Decimal
from enum import Enum
from typing import Any, NoReturn

from pydantic import ValidationError

from ...bus import BusError, EventBus
from ...config import BinanceBrokerConfig, BrokerConfigBase
from ...domain import (
    Balance,
    Capabilities,
    ConnectionState,
    Fill,
    Instrument,
    MarketDataKind,
    ModifyStyle,
    OrderRequest,
    OrderStatus,
    OrderType,
    OrderUpdate,
    OrderValidationError,
    Position,
    Quote,
    Side,
    TimeInForce,
    ValidationIssue,
    VenueOrder,
    plain,
)
from ...domain.clock import utc_time
from ...domain.money import normalized
from ...events import ModifyRequest, ModifyRequestEvent, OrderUpdateEvent
from ..base import Broker, Clock, JournalOrder, LinkStatus, ReconcileReport
from ..errors import (
    BrokerError,
    BrokerTimeout,
    CancelTooLate,
    ConfigurationError,
    NotConnected,
    OrderRejected,
    RateLimited,
    UnknownOrder,
    ban_said,
    cancel_too_late,
)
from . import library_log, order_types, translate
from .errors import (
    CLOCK_FIX,
    Banned,
    CancelReplaceFailed,
    ClockOutOfSync,
    CredentialsRejected,
    InvalidSymbol,
)
from .instruments import NotionalScope, dec, key_of, notional_scope, parse_symbol, symbol_of
from .market import BadPayload, MarketStreams, last_of_ticker, reference_of_ticker
from .orders import LOCAL_STEPS, Sizing, TrackedOrder
from .rest import CANCEL_WAIT_S, AmendRefused, BinanceRest, CancelHeld, GuardRefused
from .user_stream import REFUSED_RETRY_S, UserStream, describe, refused_reason, stop_task

log = logging.getLogger(__name__)

CONNECTED = ConnectionState.LIVE
ZERO = Decimal(0)
DAY_MS = 24 * 3600 * 1000
# Trades per myTrades answer at most (Binance's `limit` bound): a full answer is followed
# by the next page, from the last trade id + 1 (`_paged`).
TRADES_PAGE = 1000
# A trade cursor Binance does not confirm (`BinanceBroker._after_cursor`) is replaced by
# a walk through the symbol's trades by time from this long before the cursor trade's
# time (or before the user stream was lost: the catch-up).
CURSOR_MARGIN_MS = 60_000
# What a report or reply the adapter cannot read raises (a field missing or of the wrong
# kind, a status value Binance added): the whole message is then unreadable.
UNREADABLE = (KeyError, ValueError, TypeError, ArithmeticError)
# An order whose report could not be read is asked of Binance this many times at most
# (a query that fails is asked again, the pause doubling from 0.2 s to 5 s).
RECOVER_TRIES = 8
# Then, until Binance answers, every this many seconds (the account reconciled first).
RECOVER_LATER_S = 30.0
# A lost modify's check asks every this many seconds, the pause doubling from the first
# to the most, until the receive window and this margin have passed; then, unanswered,
# the order is said unresolved and asked every RECOVER_LATER_S (`_check_replace`).
REPLACE_CHECK_PAUSE_S = (0.2, 2.0)
REPLACE_UNRESOLVED_MARGIN_S = 5.0
# A slow ask's pause looks this often whether its order was settled otherwise meanwhile
# (a report, a cancel, the reconcile): the trader is told within it, not at the next ask.
PAUSE_LOOK_S = 1.0
# REST back after an outage (`_order_path_back`): the failed cancels' asks, made at once
# then, are waited for at most this long before the reconnect is announced.
BACK_SETTLE_WAIT_S = 5.0
# A cancel or sweep Binance's 429 held back goes this long after its Retry-After ends.
OWED_MARGIN_S = 0.1
HELD = "held by Binance's rate limit"
# The "rest" link's detail while Binance's 418 ban runs, and while a 429's Retry-After
# of HELD_SHOWN_S or more holds requests back (`BinanceBroker._follow_ban`): said once
# with until when, not a countdown (a Log line a second: 18 for an 18 s ban). A shorter
# Retry-After is not shown (it would flap DEGRADED and LIVE within a second or two, and
# a cancel waits out one of up to `CANCEL_WAIT_S` inside its call anyway).
BAN_DETAIL = "Binance banned this IP (HTTP 418)"
HELD_SHOWN_S = 2.0
# A cancel all's symbol (or listing) refused for Binance's 418 ban: nothing was sent,
# and nothing is sent by itself when the ban ends (`BinanceBroker._banned_said`).
BANNED = "NOT sent: Binance has banned this IP"
# A cancel all's symbol (or listing) Binance refused for this host's clock (-1021 after
# the re-sync): Binance did nothing with it (`BinanceBroker._cancel`).
CLOCK_REFUSED = "NOT done: Binance refuses this host's clock"
# The "rest" link's detail while Binance refuses this host's clock (`rest_clock_refused`).
CLOCK_DETAIL = "Binance refuses this host's signed requests"
# While it does, a signed request (openOrders of one symbol: weight 6, 13 with the
# re-sync and the second try) asks whether it still does: the first pause, doubling to
# the most (`BinanceBroker._watch_clock`).
CLOCK_PROBE_S = (1.0, 10.0)
# A cancel (the kill switch's too) while the "rest" link says so has Binance asked at
# once, the same request, and waits this long at most for its answer before it is
# refused unsent (`BinanceBroker._clock_asked`): the clock fixed since the last ask, a
# cancel was refused for up to the most of `CLOCK_PROBE_S`.
CLOCK_ASK_WAIT_S = 3.0
# Event types of the user-data stream this adapter knows and has no use for (order
# lists, which it never places; a lock by margin, whose balance comes in an
# `outboundAccountPosition`): logged at debug. Any other unknown type is counted
# (`user_event_unknown`) and logged once per type (`_on_user_event`).
USER_EVENTS_IGNORED = frozenset({"listStatus", "externalLockUpdate"})
# Unknown user-data event types remembered (logged once each) at most.
UNKNOWN_TYPES_KEPT = 100
PRICE_TTL_NS = 60 * 1_000_000_000
# A symbol whose trades Binance did not answer in a reconcile (`_trades_unread`): the
# reconcile is asked again after the first pause, doubling to the most, until read.
TRADES_RETRY_S = (5.0, 60.0)
# A fee's valuation waits for REST this long at most (the user stream's reader waits on
# it), and uses a price older than PRICE_TTL_NS while a fresh one is asked, up to this.
FEE_PRICE_WAIT_S = 0.5
PRICE_STALE_NS = 15 * 60 * 1_000_000_000
# Symbols per GET ticker/24hr (weight 2 for 1-20 symbols, 40 from 21).
REFERENCE_BATCH = 20
# How long a status waits for the account event that follows its report (below).
ACCOUNT_WAIT_S = 0.25
# An order placed on the account by another program is adopted by a reconcile asked
# this long after its first report: the rest of a burst (its fills, other orders) waits
# for the same one (`BinanceBroker._adopt_later`).
ADOPT_WAIT_S = 0.25
# A CANCELED this desk did not ask for is held this long for the NEW of a replacement
# under the same client order id (Binance sends it right after), then Binance is asked.
ELSEWHERE_WAIT_S = 0.1
# Finished orders the adapter keeps following (a late report of one is a repeat); older
# ones are let go (each is about 1.3 KB, and the health loop counted the working ones
# among all of them every second: an active desk's day of orders, kept, grew both).
FINISHED_KEPT = 2_000
# Beyond a request's receive window, for the clock offset to Binance and the delay of
# the link: after both, Binance can no longer act on a request whose answer was lost.
BEYOND_RECV_WINDOW_S = 5.0
# The journal is read back for the last modify of an order met under a venue id it
# never saw (`BinanceBroker._journal_modifies`): this many entries a read, this many
# at most (a modify the desk stopped on is among its last entries).
JOURNAL_PAGE = 500
MODIFY_LOOKBACK = 5_000
FUNDS_STEPS = frozenset(
    {
        OrderStatus.NEW,
        OrderStatus.PARTIALLY_FILLED,
        OrderStatus.FILLED,
        OrderStatus.CANCELED,
        OrderStatus.EXPIRED,
    }
)


class Taken(Enum):
    """What `_replacement_found` made of an answer."""

    NONE = "none"  # no replacement of a lost modify in it
    TAKEN = "taken"  # the replacement, taken at its terms: its status published
    HELD = "held"  # taken, its fills not read: its status waits (asked again)


class BinanceBroker(Broker):
    """Binance spot over python-binance (REST + WebSocket API user data)."""

    kind = "binance"
    order_links: tuple[str, ...] = ("rest", "user")
    # Its reports come on the user-data stream alone: REST held by a 429's Retry-After
    # (the "rest" link DEGRADED) leaves every working order's state known.
    report_links: tuple[str, ...] | None = ("user",)
    # A cancel needs REST alone: its reply carries CANCELED (or -2011 for an order that
    # ended first, then asked), and the catch-up after the user stream is back journals
    # the fills it missed. Refused while the stream was down, the kill switch left every
    # order working though Binance answered.
    cancel_without = frozenset({"user"})

    def __init__(
        self,
        config: BrokerConfigBase,
        bus: EventBus,
        *,
        clock: Clock = time.time_ns,
        rest: BinanceRest | None = None,
        rebuilds_per_client: int = 20,
        retry_first_s: float = 0.5,
        retry_max_s: float = 5.0,
        refused_retry_s: float = REFUSED_RETRY_S,
    ) -> None:
        if not isinstance(config, BinanceBrokerConfig):
            raise ConfigurationError(
                f"BinanceBroker needs a binance broker section, got type {config.type!r}"
            )
        super().__init__(config, bus, clock=clock)
        library_log.install()  # python-binance's routine socket closes, at INFO
        self.binance: BinanceBrokerConfig = config
        # Binance refuses a request older than its `recvWindow` (up to 60 s): an order
        # or change whose answer was lost may be acted on until then.
        self.unknown_order_window_s = config.recv_window_ms / 1000 + BEYOND_RECV_WINDOW_S
        if not config.orders_need_user_stream:
            # Orders go out with only REST up; their reports wait for the stream's return
            # (or the reconcile after it): the trader accepted trading half-blind.
            self.order_links = ("rest",)
        self.rest = rest if rest is not None else BinanceRest(config, clock=clock)
        self.rest.watch = self  # each call's finding moves the "rest" link
        # Asked again before an order goes out a second time (after a -1021).
        self.rest.send_guard = self.send_refusal
        self.symbols: list[str] = list(config.symbols)
        # Instruments the journal holds positions, working orders or fills in
        # (`journal_holds`): followed as the configured ones are (`_followed`).
        self._journal_keys: set[str] = set()
        self._not_traded: set[str] = set()  # of those, the ones Binance no longer lists
        # The journal's working orders (`journal_working`), for an order this run meets
        # first in the venue's listing.
        self._journal_orders: dict[str, JournalOrder] = {}
        self.capabilities = Capabilities(
            # Every type ours maps to: STOP is STOP_LOSS, STOP_LIMIT STOP_LOSS_LIMIT.
            order_types=frozenset(OrderType),
            tifs=frozenset({TimeInForce.GTC, TimeInForce.IOC, TimeInForce.FOK}),
            # A Binance MARKET order takes what the book has and expires the rest.
            market_tifs=frozenset({TimeInForce.IOC}),
            # STOP_LOSS and TAKE_PROFIT take no timeInForce: they wait until triggered.
            trigger_market_tifs=frozenset({TimeInForce.GTC}),
            modify=ModifyStyle.CANCEL_REPLACE,
            # A smaller quantity alone: an order amend keepPriority (`_amend`), on the
            # symbols whose exchangeInfo allows it (`_amends_on`: none known yet).
            amend_quantity_down=True,
            amend_quantity_down_on=frozenset(),
            post_only=True,
            # MARKET by an amount of the quote asset (`quoteOrderQty`).
            quote_quantity_market=True,
            cancel_all_native=True,
            short_selling=False,
            stop_through_refused=True,  # -2010 "Order would trigger immediately."
            market_data=frozenset(
                {MarketDataKind.QUOTE, MarketDataKind.BOOK, MarketDataKind.TRADE}
            ),
        )
        self.retry_first_s = retry_first_s
        self.retry_max_s = retry_max_s
        self.user = UserStream(
            client=lambda: self.rest.client,
            restart_client=self._restart_client,
            check_client=self._check_rest,
            on_event=self._on_user_event,
            on_lost=self._user_lost,
            on_back=self._user_back,
            rebuilds_per_client=rebuilds_per_client,
            retry_first_s=min(retry_first_s, 0.2),
            retry_max_s=retry_max_s,
            refused_retry_s=refused_retry_s,
            name=self.source,
        )
        # While Binance refuses the API key pair: why, as the health pane shows it ("":
        # not refused). Connecting is then tried every `refused_retry_s`, not in seconds.
        self._key_refused = ""
        self._scopes: dict[str, NotionalScope] = {}
        # Symbols (by key) whose exchangeInfo says `amendAllowed`: a quantity decrease
        # is amended there (`_amends`), else it goes as a cancelReplace.
        self._amendable: dict[str, bool] = {}
        self._orders: dict[str, TrackedOrder] = {}
        self._finished: OrderedDict[str, None] = OrderedDict()  # oldest first
        self.finished_kept = FINISHED_KEPT
        self._by_venue_id: dict[str, str] = {}
        # Client order ids Binance holds our orders' venue orders under that are not
        # ours: another program's amend keepPriority that sent no newClientOrderId gives
        # the order a random new one (the same venue order), and ours no longer reaches
        # it at Binance. Venue order id -> Binance's id for it (`_named`), and Binance's
        # id -> ours (`_aliases`): such an order is followed by its venue order id (its
        # reports, fills and listing under that id are ours: `_owner`) and asked and
        # cancelled under Binance's id (`_at_binance`). Let go with the order.
        self._named: dict[str, str] = {}
        self._aliases: dict[str, str] = {}
        self._published_execs: set[str] = set()
        self._last_trade_id: dict[str, int] = {}
        # Exec ids of trades Binance does not hold (`_after_cursor`): never a cursor.
        self._unsound_trades: set[str] = set()
        self._prices: dict[str, tuple[Decimal, int]] = {}
        # The REST asks of a fee asset's price on their way, with when each went out
        # (monotonic): the fills of a burst share one wait from then.
        self._price_asks: dict[str, tuple[asyncio.Task[None], float]] = {}
        self._publish_lock = asyncio.Lock()
        self._retry_task: asyncio.Task[None] | None = None
        self._rest_watch: asyncio.Task[None] | None = None
        self._running = False
        self._connected_ns = 0
        # When the venue was last lost (the user stream or the connection: ns; 0 while
        # connected): what the stream missed was made after it (`_catch_up`).
        self._lost_ns = 0
        self.market: MarketStreams | None = None
        # The market streams' drops already counted as errors, by kind (`_market_stats`).
        self._market_counted: dict[str, int] = {}
        # Statuses wait for the balances they moved (see `_publish_status`).
        self._account_ms = 0
        self._held: list[tuple[int, OrderUpdate]] = []
        self._hold_timer: asyncio.TimerHandle | None = None
        self._flush_tasks: set[asyncio.Task[None]] = set()
        # Background checks of cancelReplaces whose answer was lost, by client order id.
        self._replace_checks: dict[str, asyncio.Task[None]] = {}
        self._last_balances: dict[str, Balance] = {}
        self._journal_assets: set[str] = set()  # `journal_balances`
        # Orders whose failed cancel is being settled in the background.
        self._cancel_checks: set[str] = set()
        # Times the "rest" link came back from DISCONNECTED (`_rest_up`): an order asked
        # of Binance in the background (`_keep_asking`) is asked at once then, not after
        # the rest of its pause (up to `recover_later_s`: a cancel that got no answer
        # left its row PENDING_CANCEL half a minute after Binance answered again).
        self._rest_returns = 0
        # A cancel (or a cancel all) refused, or not confirmed, because Binance's REST
        # could not be reached: the order path's return is announced as a reconnect
        # (`_order_path_back`), whose task runs here, and whether it is owed again.
        self._back_owed = False
        self._back_task: asyncio.Task[None] | None = None
        self._back_again = False
        # Orders asked of Binance in the background because their fills could not be
        # read (`_settle_later`): their status waits for them.
        self._settle_checks: set[str] = set()
        # How often such an order is asked (`_recover_report`), and the pause between
        # two asks: doubling from the first to the most.
        self.recover_tries = RECOVER_TRIES
        self.recover_pause_s = (0.2, 5.0)
        # Given up (`_unresolved`), such an order is asked again this often until settled.
        self.recover_later_s = RECOVER_LATER_S
        # Orders met only in Binance's listing, gone from it at a catch-up, whose query
        # failed: asked again in the background (`_settle_unheard_later`).
        self._unheard_checks: set[str] = set()
        # Cancels (by client order id) and symbol sweeps (DELETE openOrders) Binance's
        # 429 held back: sent by this adapter once its Retry-After is over (`_owe`).
        self._owed_cancels: set[str] = set()
        self._owed_sweeps: set[str] = set()
        # A lost modify's check (`_check_replace`): its quick asks, and how long past
        # the receive window it asks so before the order is said unresolved.
        self.replace_check_pause_s = REPLACE_CHECK_PAUSE_S
        self.replace_margin_s = REPLACE_UNRESOLVED_MARGIN_S
        self._last_positions: dict[str, Decimal] = {}
        # Symbols whose trades Binance did not answer in the last reconcile, and why
        # (`reconcile`): their fills are not journaled yet; the reconcile is asked again
        # (`_retry_trades`, pauses `trades_retry_s`) until they are read.
        self._trades_unread: dict[str, str] = {}
        # Where each of them was asked from when it first failed (the journal's last
        # fill there then, the time): asked from there until read. The journal's last
        # fill moves meanwhile (the user stream's fills of our orders), and asked from
        # it, the trades before it that the journal lacks (an order of another
        # program's, to adopt) were never asked again.
        self._trades_owed: dict[str, tuple[Fill | None, int]] = {}
        self.trades_retry_s = TRADES_RETRY_S
        self._trades_retry: asyncio.Task[None] | None = None
        # Orders met in Binance's listing under a venue id the journal never saw (`_carry`):
        # client order id -> (the journal's venue id, Binance's, the journal's filled).
        # Said once each (`_say_unseen`), shown in the health while they work.
        self._unseen_replaces: dict[str, tuple[str, str, Decimal]] = {}
        self._unseen_said: set[str] = set()
        # Of those, the ones met since the last listing (`_carry`), with the journal's
        # order: a modify of this desk whose answer the journal never got (the desk
        # stopped first) or another program's replace; told apart by the journal's last
        # modify (`_take_lost_modifies`), read once an order (`_modifies_read`).
        self._replaced_unheard: dict[str, JournalOrder] = {}
        self._modifies_read: set[str] = set()
        # Orders met on the user stream that this adapter neither placed nor holds:
        # the session is asked to reconcile (adopt them) this long after the first of a
        # burst (`_adopt_later`), and once for the burst.
        self.adopt_wait_s = ADOPT_WAIT_S
        self._adopt_pending = False
        # A CANCELED of an order's venue order this desk did not ask for waits this
        # long for the replacement's NEW (another program's cancelReplace under our
        # client order id) before Binance is asked (`_check_cancelled_elsewhere`).
        self.elsewhere_wait_s = ELSEWHERE_WAIT_S
        self._in_health = False
        # While Binance refuses this host's clock (-1021 after the re-sync): what it
        # said last (`rest_clock_refused`; None: accepted), the watch that asks whether
        # it still does (`_watch_clock`, pauses `clock_probe_s`), the ask in flight (the
        # watch's or a cancel's: `_ask_clock`), and whether a reconcile was refused so
        # (asked again once it passes).
        self._clock_error: ClockOutOfSync | None = None
        self._clock_watch: asyncio.Task[None] | None = None
        self._clock_ask: asyncio.Task[None] | None = None
        self.clock_probe_s = CLOCK_PROBE_S
        self._clock_reconcile_owed = False
        # Types of user-data events this adapter does not know, already logged.
        self._unknown_event_types: set[str] = set()
        # The configured symbols are quoted from the start: quotes and the tape.
        self._market_wanted: dict[str, set[MarketDataKind]] = {
            key_of(symbol): {MarketDataKind.QUOTE, MarketDataKind.TRADE}
            for symbol in config.symbols
        }

    # -- connection -------------------------------------------------------------------

    async def connect(self) -> None:
        """Connect, catch up with the venue, go LIVE. An unreachable venue leaves the
        links DISCONNECTED with the reason and a retry running in the background."""
        if self._running:
            return
        self._running = True
        self.start_health_loop()
        try:
            await self._open()
            await self._go_live()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            await self._lost(exc)
            self._start_retry()

    async def _open(self) -> None:
        await self.set_link("rest", ConnectionState.CONNECTING, "starting the client")
        await self.set_link("user", ConnectionState.CONNECTING, "waiting for REST")
        await self.rest.start()
        self.health_state.rtt_ms = await self.rest.ping()
        await self.set_link("user", ConnectionState.CONNECTING, "subscribing to user data")
        await self.user.open()
        await self._start_market()

    async def _start_market(self) -> None:
        """Public streams through the market helper's `MarketStreams`, on the current
        client (a rebuilt client gets the streams moved over)."""
        client = self.rest.client
        if client is None:
            return
        if self.market is None:
            self._market_counted = {}  # (new streams count from 0)
            self.market = MarketStreams(
                client,
                stream_url=self.binance.stream_url,
                depth_snapshot=self.rest.depth,
                on_quote=self.publish_quote,
                on_book=self.publish_book,
                on_trade=self.publish_trade,
                on_link=self._market_link,
                on_gap=self._market_gap,
                on_reference=self.publish_reference,
                on_venue_time=self.rest.usage.note_event_time,
                silence_s=self.binance.market_silence_s,
            )
        else:
            self.market.client = client
        for key, kinds in self._market_wanted.items():
            await self.market.subscribe({key: symbol_of(key)}, kinds)
        self._ask_references(
            [key for key, kinds in self._market_wanted.items() if MarketDataKind.QUOTE in kinds]
        )

    def _ask_references(self, keys: list[str]) -> None:
        """Ask REST for these instruments' 24 h opens, in the background: the stream's
        first push may take a second, and a reconnect's streams come back without REST."""
        if not keys:
            return
        self.in_background(self._fetch_references(keys), f"references:{self.source}")

    async def _fetch_references(self, keys: list[str]) -> None:
        for start in range(0, len(keys), REFERENCE_BATCH):
            batch = {symbol_of(key): key for key in keys[start : start + REFERENCE_BATCH]}
            try:
                rows = await self.rest.ticker_24h(list(batch))
            except BrokerError as exc:
                # The streams bring it within a second anyway: a warning, not an error.
                log.warning(
                    "binance.references_failed",
                    extra={"broker": self.source, "symbols": ",".join(batch), "error": str(exc)},
                )
                continue
            for row in rows:
                key = batch.get(str(row.get("symbol", "")))
                if key is None:
                    continue
                try:
                    reference = reference_of_ticker(key, row)
                    last = last_of_ticker(row)
                except (BadPayload, ValidationError) as exc:
                    self.count_error("bad_ticker")
                    log.warning(
                        "binance.bad_ticker",
                        extra={"broker": self.source, "key": key, "error": str(exc)},
                    )
                    continue
                if last is not None and self.market is not None:
                    self.market.note_last_trade(key, *last)
                if reference is not None:
                    await self.publish_reference(reference)

    async def _market_link(self, state: ConnectionState, detail: str) -> None:
        await self.set_link("market", state, detail)

    async def _market_gap(self, key: str, what: str) -> None:
        self.count_error("book_gap")
        log.warning("binance.book_gap", extra={"broker": self.source, "key": key, "what": what})
        # Shown: the health pane's message line and the event log carry it.
        await self.publish_health(f"market: {key}: {what}")

    async def _go_live(self, *, recovered: bool = False) -> None:
        await self.set_link("user", ConnectionState.RECONCILING, "catching up with the venue")
        sent = await self._catch_up()
        self._connected_ns = self.clock()
        self._lost_ns = 0
        link = self.health_state.links.get("rest")
        if link is not None and link.state is ConnectionState.DISCONNECTED:
            self._rest_returns += 1  # (back by a reconnect: `_keep_asking`)
        await self.set_link("rest", ConnectionState.LIVE)
        await self.set_link("user", ConnectionState.LIVE, f"{sent} missed reports published")
        if self._key_refused:
            self._key_refused = ""
            log.info("binance.key_pair_accepted", extra={"broker": self.source})
        if recovered:
            self.health_state.reconnects += 1
            self._back_owed = False  # (announced now: `_order_path_back`)
            await self.announce_reconnect()

    async def _lost(self, exc: BaseException) -> None:
        if isinstance(exc, CredentialsRejected):
            await self._refused(exc)
            return
        if isinstance(exc, ClockOutOfSync):
            # Binance answers and refuses the catch-up's signed requests: the "rest"
            # link says so (DEGRADED, told by the call); the retry goes on.
            self._lost_ns = self._lost_ns or self.clock()
            await self.rest_clock_refused(exc)
            await self.set_link(
                "user",
                ConnectionState.DISCONNECTED,
                f"not caught up: Binance refuses this host's requests ({exc.clock}); retrying",
            )
            return
        self._key_refused = ""
        self._lost_ns = self._lost_ns or self.clock()
        reason = _reason(exc)
        self.count_error("connect")
        log.warning("binance.connect_failed", extra={"broker": self.source, "error": reason})
        await self.set_link("rest", ConnectionState.DISCONNECTED, reason)
        await self.set_link("user", ConnectionState.DISCONNECTED, "waiting for REST")

    async def _refused(self, exc: CredentialsRejected) -> None:
        """Binance refused the key pair: that will not change within seconds (a wrong
        key or secret in the config, an IP not on the key's whitelist, a key that may not
        trade spot), so it is said once, and asked again every `refused_retry_s` only
        (the whitelist and the key's permissions can be fixed at Binance meanwhile)."""
        reason = refused_reason(exc, self.user.refused_retry_s)
        if reason != self._key_refused:
            self.count_error("key_pair")
            log.error("binance.key_pair_refused", extra={"broker": self.source, "error": reason})
        self._key_refused = reason
        await self.set_link("rest", ConnectionState.DISCONNECTED, reason)
        await self.set_link(
            "user", ConnectionState.DISCONNECTED, "waiting for Binance to accept the API key pair"
        )

    # -- the REST link while the user stream is rebuilt ----------------------------------

    async def _check_rest(self) -> bool:
        """Before each attempt to subscribe the user stream again: does Binance answer
        the REST client? No: the "rest" link says why, and the client is rebuilt."""
        try:
            self.health_state.rtt_ms = await self.rest.ping(retried=False)
        except (NotConnected, BrokerTimeout) as exc:
            await self._rest_down(exc)
            return False
        except BrokerError:
            return True  # Binance answered (an error, a ban): the client reaches it
        await self._rest_up()
        return True

    async def _restart_client(self) -> None:
        """A new REST client (the user stream asks: hygiene, a wedged WebSocket API, or
        the venue lost). The market streams move to it."""
        try:
            await self.rest.restart_client()
        except Exception as exc:
            if self.rest.client is None:  # (during a ban the old client stays)
                await self._rest_down(exc)
            raise
        if self.market is not None and self.rest.client is not None:
            self.market.client = self.rest.client
        await self._rest_up()

    async def _rest_down(self, exc: BaseException) -> None:
        reason = _reason(exc)
        link = self.health_state.links.get("rest")
        if link is None or link.state is not ConnectionState.DISCONNECTED:
            self.count_error("rest")
            log.warning("binance.rest_down", extra={"broker": self.source, "error": reason})
        elif _cause(link.detail) == _cause(reason):
            # The same outage met by another call (a ping, then a query, then a ping):
            # the link's detail names the last call, carried by the next heartbeat, but
            # it is no news. Published each time, the Log got a health line for every
            # failing call, pings and background asks alternating, for the whole outage.
            self.health_state.links["rest"] = LinkStatus(link.state, reason, link.since_ns)
            return
        await self.set_link("rest", ConnectionState.DISCONNECTED, reason)

    async def _rest_up(self) -> None:
        if self._key_refused:
            return  # Binance answers, and refuses the key pair: the link says so
        link = self.health_state.links.get("rest")
        if link is not None and link.state is ConnectionState.DISCONNECTED:
            log.info("binance.rest_back", extra={"broker": self.source})
            self._rest_returns += 1
            if self._clock_error is not None:
                # Back, but Binance refused this host's clock before it went, and
                # nothing signed has passed since: the clock's words (the watch asks
                # again now the link is up), not LIVE: orders went out to meet -1021.
                # The order path is back once the clock is accepted: announced then
                # (`rest_clock_accepted`).
                await self.set_link(
                    "rest", ConnectionState.DEGRADED, self._clock_detail(self._clock_error)
                )
                return
            await self.set_link("rest", ConnectionState.LIVE, "Binance answers again")
            self._path_back_if_owed()

    def _path_back_if_owed(self) -> None:
        """The order path is back (REST answers, the clock accepted): announced when a
        cancel could not reach Binance meanwhile (`_back_owed`, `_order_path_back`)."""
        if self._back_owed and self._announces_rest_back():
            self._back_owed = False
            self._order_path_back()

    def _announces_rest_back(self) -> bool:
        """Whether REST back is the order path back, for this adapter to announce
        (`_order_path_back`): running, the user stream up through the outage (REST was
        out alone), and no connect retry running. With the user stream down too, its
        return announces the reconnect after its catch-up (`_go_live`), as the connect
        retry does."""
        user = self.health_state.links.get("user")
        connecting = self._retry_task is not None and not self._retry_task.done()
        return (
            self._running
            and not connecting
            and user is not None
            and user.state is ConnectionState.LIVE
        )

    def _cancel_unreached(self) -> None:
        """A cancel or a cancel all was refused unsent, or not confirmed: when it was
        because Binance's REST could not be reached (the "rest" link DISCONNECTED), the
        order path's return is owed an announcement (`_order_path_back`). Not for a ban
        or a clock Binance refuses: their end is no reconnect (the ban's words say
        nothing is sent by itself after it)."""
        if self.rest_down:
            self._back_owed = True

    def _order_path_back(self) -> None:
        """REST answers again after an outage with the user stream up, and a cancel
        (or a cancel all) could not reach Binance meanwhile (`_back_owed`): the broker
        is back for those cancels, and says so as after a reconnect
        (`announce_reconnect`: the session reconciles the journal against Binance, then
        makes the cancels a kill switch pulled meanwhile could not, trading still
        HALTED: `TradingEngine.cancel_kill_owed`).

        Why announce: a kill's leftover orders are owed to "that broker is back", which
        the session hears as a reconnect, and REST out alone brought none (the user
        stream up, nothing reconnects). A kill switch pulled while REST was out left
        its orders working at Binance, owed to the kill, and nothing made those
        cancels: 40 s and more after REST was back (Health LIVE) both orders worked at
        Binance, trading HALTED (the Binance drill's HIGH). Why not on every return: a
        REST link that flaps (one symbol's requests answering 503 -1007 while the
        others answer: DISCONNECTED, then LIVE at the next call) would reconcile at each
        flap, the reconcile's own asks flapping it again; only a return that cancels
        wait for is announced, once. The engine makes a kill's owed cancels only while
        the broker can carry them (`sendable`), so an announce made while REST is out
        (a given-up ask's reconcile) keeps them for this one.

        The orders whose cancel or sweep Binance did not confirm are asked first
        (`_keep_asking`, at once on `_rest_returns`; waited for at most
        `BACK_SETTLE_WAIT_S`), so that the reconcile meets them as Binance holds them,
        not as a status mismatch. One announce at a time: owed again while one runs,
        announced once more after it. In the background: the call that found REST
        answering (a cancel's, a query's) is not held by the reconcile."""
        if self._back_task is not None and not self._back_task.done():
            self._back_again = True
            return
        self._back_again = False
        self._back_task = self.in_background(
            self._announce_back(), f"binance-order-path-back:{self.source}"
        )

    async def _announce_back(self) -> None:
        """`_order_path_back`'s work."""
        while True:
            self._back_again = False
            loop = asyncio.get_running_loop()
            deadline = loop.time() + BACK_SETTLE_WAIT_S
            while self._cancel_checks and loop.time() < deadline:  # noqa: ASYNC110
                await asyncio.sleep(0.05)  # (settled on their own tasks)
            if not self._running:
                return
            log.info("binance.order_path_back", extra={"broker": self.source})
            await self.announce_reconnect()
            if not self._back_again:
                return

    # -- the REST link as the calls find it (`BinanceRest.watch`) ------------------------

    @property
    def rest_down(self) -> bool:
        """The "rest" link shows Binance unreachable (read after every successful call)."""
        link = self.health_state.links.get("rest")
        return link is not None and link.state is ConnectionState.DISCONNECTED

    async def rest_unreachable(self, error: BrokerError) -> None:
        """A REST call reached nothing: the link says why, and pings look for Binance
        (orders are refused meanwhile, so they would never bring the link back)."""
        if not self._running:
            return
        await self._rest_down(error)
        if self._rest_watch is None or self._rest_watch.done():
            self._rest_watch = asyncio.create_task(
                self._watch_rest(), name=f"binance-rest-watch:{self.source}"
            )

    async def rest_answered(self) -> None:
        """A REST call got an answer from Binance while the link showed it down."""
        if self._running:
            await self._rest_up()

    # -- the clock, as Binance judges it (`BinanceRest.watch`) ---------------------------

    @property
    def clock_refused(self) -> bool:
        """Binance is shown refusing this host's clock (read after each signed call)."""
        return self._clock_error is not None

    async def rest_clock_refused(self, error: ClockOutOfSync) -> None:
        """A signed request refused -1021 after the re-sync: Binance did nothing with it,
        and will do nothing with the next while this host's clock stays off. The "rest"
        link is DEGRADED saying so and what to do (it read LIVE while every order,
        cancel, query and reconcile failed: "ClockOutOfSync 1" among the errors was all
        the health pane said), so orders and cancels are refused before they are sent
        (`order_path_down`); a signed request now and then (`_watch_clock`) finds the
        clock accepted again, and any signed request that passes sets it LIVE
        (`rest_clock_accepted`). Counted (`clock`) once a spell."""
        if not self._running or self._key_refused:
            return
        if self._clock_error is None:
            self.count_error("clock")
            log.error(
                "binance.clock_refused",
                extra={
                    "broker": self.source,
                    "host_ahead_ms": error.host_ahead_ms,
                    "error": str(error),
                },
            )
        self._clock_error = error
        await self.set_link("rest", ConnectionState.DEGRADED, self._clock_detail(error))
        if self._clock_watch is None or self._clock_watch.done():
            self._clock_watch = asyncio.create_task(
                self._watch_clock(), name=f"binance-clock-watch:{self.source}"
            )

    def _clock_detail(self, error: ClockOutOfSync) -> str:
        return (
            f"{CLOCK_DETAIL} (-1021, still after re-syncing with its time): {error.clock}. "
            "Binance did nothing with them; orders and cancels are not sent until it "
            f"accepts one again (asked every {self.clock_probe_s[1]:g} s at most, and at "
            f"once by a cancel). {CLOCK_FIX[0].upper()}{CLOCK_FIX[1:]}."
        )

    def _clock_shown(self) -> bool:
        """Whether the "rest" link says Binance refuses this host's clock."""
        link = self.health_state.links.get("rest")
        return (
            self._clock_error is not None
            and link is not None
            and link.state is ConnectionState.DEGRADED
            and link.detail.startswith(CLOCK_DETAIL)
        )

    def _clock_askable(self) -> bool:
        """Whether Binance can be asked about the clock now: not while the connect retry
        runs (it asks itself), REST is unreachable, or a 418 ban or a 429's Retry-After
        holds requests back (the ask would wait it out, or be refused unsent)."""
        connecting = self._retry_task is not None and not self._retry_task.done()
        usage = self.rest.usage
        return not (
            connecting
            or self.rest_down
            or self.rest.client is None
            or usage.banned_s() > 0
            or usage.backoff_s() > 0
        )

    async def _clock_asked(self) -> None:
        """Before a cancel (one order's, a cancel all's, the kill switch's) while the
        "rest" link says Binance refuses this host's clock: Binance is asked at once
        whether it still does (`_ask_clock`: the watch's signed request; one ask for all
        the cancels that come meanwhile), waited on `CLOCK_ASK_WAIT_S` at most. Passed,
        the link is LIVE (`rest_clock_accepted`) and the cancel goes; refused, or no
        answer in time, the link still says so and the cancel is refused unsent, saying
        why (`_require_tradable`). Before, a cancel was refused until the watch's next
        ask, up to the most of `clock_probe_s` (10 s) after the clock was fixed, though
        Binance would have taken it: the kill switch's orders left working."""
        if not (self._running and self._clock_shown() and self._clock_askable()):
            return
        ask = self._ask_clock()
        await asyncio.wait({ask}, timeout=CLOCK_ASK_WAIT_S)

    def _ask_clock(self) -> asyncio.Task[None]:
        """The ask whether Binance still refuses this host's clock in flight, or a new
        one (`_probe_clock`); it ends on its own (a caller that stops waiting leaves it)."""
        ask = self._clock_ask
        if ask is None or ask.done():
            ask = self._clock_ask = self.in_background(
                self._probe_clock(), f"binance-clock-ask:{self.source}"
            )
        return ask

    async def _probe_clock(self) -> None:
        """One signed request (the open orders of one symbol, weight 6; the account's,
        20, with none configured): passed, the REST client tells `rest_clock_accepted`;
        refused -1021, `rest_clock_refused`. Never raises (another failure is logged)."""
        try:
            if self.symbols:
                await self.rest.open_orders(self.symbols[0])
            else:
                await self.rest.account()
        except asyncio.CancelledError:
            raise
        except ClockOutOfSync:
            pass
        except Exception as exc:
            log.info(
                "binance.clock_probe_failed",
                extra={"broker": self.source, "error": describe(exc)},
            )

    async def rest_clock_accepted(self) -> None:
        """A signed request passed while the link said Binance refuses this host's
        clock: LIVE again; a reconcile refused meanwhile is asked again."""
        if self._clock_error is None:
            return
        self._clock_error = None
        log.info("binance.clock_accepted", extra={"broker": self.source})
        link = self.health_state.links.get("rest")
        if (
            self._running
            and link is not None
            and link.state is ConnectionState.DEGRADED
            and link.detail.startswith(CLOCK_DETAIL)
        ):
            await self.set_link("rest", ConnectionState.LIVE, "Binance accepts this host's clock")
        if self._clock_reconcile_owed and self._running:
            self._clock_reconcile_owed = False
            self._back_owed = False  # (announced now: `_order_path_back`)
            self.in_background(self.announce_reconnect(), f"binance-clock-reconcile:{self.source}")
        elif (now := self.health_state.links.get("rest")) and now.state is ConnectionState.LIVE:
            self._path_back_if_owed()  # (a kill's cancels refused for the clock: owed)

    async def _watch_clock(self) -> None:
        """While Binance refuses this host's clock: a signed request (the open orders of
        one symbol, weight 6; the account's, 20, with none configured), the pause
        doubling from the first of `clock_probe_s` to the most, until one passes (the
        link LIVE again: `rest_clock_accepted`). Not while the connect retry runs (it
        asks itself) or REST is unreachable."""
        delay, most = self.clock_probe_s
        while True:
            await asyncio.sleep(delay)
            delay = min(delay * 2, most)
            if not (self._running and self._clock_error is not None):
                return
            connecting = self._retry_task is not None and not self._retry_task.done()
            if connecting or self.rest_down or self.rest.client is None:
                continue
            await asyncio.wait({self._ask_clock()})  # (a cancel's ask in flight: that one)

    async def _watch_rest(self) -> None:
        """Ping (not retried) while the link is down, with the user stream's bounded
        backoff, until Binance answers. Stops when the link is up again by any path, and
        leaves the lost client to whoever rebuilds it (the connect retry, the user
        stream's rebuild)."""
        delay = self.user.retry_first_s
        while True:
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.retry_max_s)
            connecting = self._retry_task is not None and not self._retry_task.done()
            if not (self._running and self.rest_down) or connecting or self.rest.client is None:
                return
            try:
                await self._check_rest()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("binance.rest_watch_failed", extra={"broker": self.source})

    def _start_retry(self) -> None:
        if self._retry_task is None or self._retry_task.done():
            self._retry_task = asyncio.create_task(
                self._retry(), name=f"binance-connect:{self.source}"
            )

    async def _retry(self) -> None:
        delay = self.retry_first_s
        while self._running:
            if self._key_refused:
                await asyncio.sleep(self.user.refused_retry_s)
            else:
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.retry_max_s)
            try:
                await self.user.close()
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(self.rest.close(), 1.0)
                await self._open()
                await self._go_live(recovered=True)
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                await self._lost(exc)

    async def close(self) -> None:
        """Stop the streams, the retries and the client (bounded: about a second)."""
        self._running = False
        for coid in self._replace_checks:
            # Stopped with the adapter: the next start's reconcile settles the order.
            log.warning(
                "binance.replace_check_abandoned",
                extra={"broker": self.source, "client_order_id": coid},
            )
        task, self._retry_task = self._retry_task, None
        if task is not None:
            await stop_task(task, 0.5)
        trades, self._trades_retry = self._trades_retry, None
        if trades is not None:
            await stop_task(trades, 0.5)
        watch, self._rest_watch = self._rest_watch, None
        if watch is not None:
            await stop_task(watch, 0.5)
        clock, self._clock_watch = self._clock_watch, None
        if clock is not None:
            await stop_task(clock, 0.5)
        await self.user.close()
        await self._flush_held(None)
        market, self.market = self.market, None
        if market is not None:
            with contextlib.suppress(Exception):
                await market.close()
        await self.stop_health_loop()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.rest.close(), 1.0)
        await self.set_link("rest", ConnectionState.DISCONNECTED, "closed")
        await self.set_link("user", ConnectionState.DISCONNECTED, "closed")

    # -- the user stream ----------------------------------------------------------------

    async def _user_lost(self, reason: str) -> None:
        self._lost_ns = self._lost_ns or self.clock()
        self.count_error("user_stream")
        await self.set_link("user", ConnectionState.DISCONNECTED, reason)

    async def _user_back(self) -> None:
        try:
            await self._go_live(recovered=True)
        except BrokerError as exc:
            # The stream is back but the venue did not answer the catch-up: try again
            # later from the retry loop, which starts over.
            await self._lost(exc)
            self._start_retry()

    async def _on_user_event(self, event: dict[str, Any]) -> None:
        kind = event.get("e")
        venue_ms = event.get("E")
        if type(venue_ms) is int:
            self.rest.usage.note_event_time(venue_ms)
        if kind == "executionReport":
            try:
                await self._on_report(translate.ExecutionReport.parse(event))
            except UNREADABLE as exc:
                self._unreadable_report(event, exc)
        elif kind == "outboundAccountPosition":
            await self._publish_account(translate.balances(event.get("B"), self.name, self.account))
            self._account_ms = max(self._account_ms, int(event.get("E", 0) or 0))
            await self._flush_held(self._account_ms)
        elif kind == "balanceUpdate":
            log.info(
                "binance.balance_update",
                extra={"broker": self.source, "asset": event.get("a"), "delta": event.get("d")},
            )
        elif kind in USER_EVENTS_IGNORED:
            log.debug(
                "binance.user_event_ignored", extra={"broker": self.source, "event_type": kind}
            )
        else:
            self._unknown_user_event(kind, event)

    def _unknown_user_event(self, kind: Any, event: Mapping[str, Any]) -> None:
        """An event type this adapter does not know (one Binance added, or garbage): it
        was dropped with no count and no log line. Counted (`user_event_unknown`, a
        health metric, and the health's `user_event_types_unknown`) and logged once
        per type, with the event."""
        self.count_error("user_event_unknown")
        name = str(kind)[:64]
        if name in self._unknown_event_types:
            return
        if len(self._unknown_event_types) < UNKNOWN_TYPES_KEPT:
            self._unknown_event_types.add(name)
        log.warning(
            "binance.user_event_unknown",
            extra={"broker": self.source, "event_type": name, "event": repr(event)[:500]},
        )

    def _unreadable_report(self, event: Mapping[str, Any], exc: BaseException) -> None:
        """An executionReport this adapter cannot read (a status value Binance added, a
        field missing): its fill and status would be lost until some later reconnect.
        Counted and logged; the order it names (`c`, or `C` on a cancel, else its venue
        id `i`) is asked of Binance in the background and what the journal lacks of it
        published (`_recover_report`). Naming none this adapter follows, the session
        reconciles the account."""
        self.count_error("bad_report")
        log.error(
            "binance.bad_report",
            extra={"broker": self.source, "error": repr(exc), "report": repr(event)[:500]},
        )
        original = event.get("C")
        coid = original if event.get("x") == "CANCELED" and original else event.get("c")
        order = self._orders.get(str(coid)) if coid else None
        if order is None and event.get("i") is not None:
            known = self._by_venue_id.get(str(event.get("i")))
            order = self._orders.get(known) if known is not None else None
        self.in_background(self._recover_report(order), f"binance-bad-report:{self.source}")

    async def _recover_report(
        self,
        order: TrackedOrder | None,
        reason: str = "asked of Binance after a report this desk could not read",
        *,
        then: Callable[[VenueOrder], Awaitable[None]] | None = None,
        why: str = "bad_report",
    ) -> None:
        """What an unreadable report carried, from Binance: the order's fills (myTrades,
        each once) and status (`_settle_order`), asked again while the query fails;
        `then` is given the order as found.
        Its status unreadable there too, its fills still go. An order this adapter
        does not follow (or none named): the session's reconcile (`announce_reconnect`)
        adopts it and its fills.

        Not answered after `recover_tries` asks: counted as `<why>_unresolved`
        (`_unresolved`: `why` is what it is asked for: "bad_report", an unreadable
        report; "cancel", a cancel Binance did not confirm; "settle", an order whose
        fills could not be read), the session reconciles the account (Binance's
        listing and trades: an order no longer open ends with its fills), and the
        order is asked again every `recover_later_s` while it is followed here and not
        ended, until Binance answers. Nothing else
        would ask: the "next reconnect" this waited for need never come (REST out alone
        brings none), and the order's status stayed unknown on the desk."""
        if order is None:
            await self.announce_reconnect()
            return
        asked = order

        async def unresolved() -> None:
            self._unresolved(
                asked,
                f"Binance did not answer {self.recover_tries} asks; the account is reconciled "
                f"and the order asked again every {self.recover_later_s:g} s until Binance "
                "answers",
                why,
            )
            await self.announce_reconnect()

        async def ask() -> bool:
            return await self._recover_once(asked, reason, then, why)

        if await self._keep_asking(order, ask, unresolved):
            log.info(
                f"binance.{why}_resolved",
                extra={"broker": self.source, "client_order_id": order.client_order_id},
            )

    async def _keep_asking(
        self,
        order: TrackedOrder,
        ask: Callable[[], Awaitable[bool]],
        unresolved: Callable[[], Awaitable[None]],
    ) -> bool | None:
        """The recovery retry, for an order Binance is asked about in the background:
        `ask` (True: done) up to `recover_tries` times, the pause doubling over
        `recover_pause_s`; then `unresolved()` (counted, and said) and `ask` again every
        `recover_later_s` while the adapter runs and the order is followed here and not
        ended. False: done within the quick asks; True: done after `unresolved`; None:
        stopped undone (the order ended meanwhile, by a report or the reconcile, or was
        let go, or the adapter closed).

        A pause ends early once the "rest" link is back from DISCONNECTED since its ask
        (`_rest_returns`): Binance answering again is when an ask can succeed, and a
        cancel that got no answer during an outage longer than the quick asks left its
        row PENDING_CANCEL until the next slow ask, half a minute later."""
        delay, most = self.recover_pause_s
        returns = self._rest_returns  # (a pause ends once REST is back since its ask)
        for _ in range(self.recover_tries):
            returns = self._rest_returns
            if await ask():
                return False
            await self._pause(delay, self._rest_back_since(returns))
            delay = min(delay * 2, most)
        await unresolved()

        def stopped() -> bool:
            followed = self._orders.get(order.client_order_id) is order
            return not (self._running and followed) or order.ended

        def over(back: Callable[[], bool]) -> Callable[[], bool]:
            return lambda: stopped() or back()

        while True:
            await self._pause(self.recover_later_s, over(self._rest_back_since(returns)))
            if stopped():
                return None
            returns = self._rest_returns
            if await ask():
                return True

    def _rest_back_since(self, returns: int) -> Callable[[], bool]:
        """Whether the "rest" link has come back from DISCONNECTED since it had come
        back `returns` times (`_rest_returns`): a pause of `_keep_asking` ends then."""
        return lambda: self._rest_returns != returns

    @staticmethod
    async def _pause(seconds: float, over: Callable[[], bool]) -> None:
        """Sleep `seconds`, or less once `over()` holds (looked at every
        `PAUSE_LOOK_S`: an order a slow ask waits on, settled otherwise meanwhile, is
        seen then, not at the next ask up to `recover_later_s` later)."""
        loop = asyncio.get_running_loop()
        end = loop.time() + seconds
        while not over():
            left = end - loop.time()
            if left <= 0:
                return
            await asyncio.sleep(min(left, PAUSE_LOOK_S))

    async def _say_unresolved(self, order: TrackedOrder, kind: str, message: str) -> None:
        """Binance has not said what became of `order` (`kind`: what was asked), and is
        asked again, slowly: counted (the health pane's errors), logged, and `message`
        (what it means meanwhile) said in the health (the broker's message line, a line
        of the Log pane). `_say_settled` says when it no longer holds."""
        self.count_error(kind)
        log.error(
            f"binance.{kind}",
            extra={
                "broker": self.source,
                "client_order_id": order.client_order_id,
                "detail": message,
            },
        )
        await self._tell(message)

    async def _say_settled(self, order: TrackedOrder, how: str) -> None:
        """An order said unresolved (`_say_unresolved`) is settled: `how`, said."""
        message = f"order {order.client_order_id}: {how}"
        log.info(
            "binance.unresolved_settled",
            extra={"broker": self.source, "client_order_id": order.client_order_id, "how": how},
        )
        await self._tell(message)

    async def _tell(self, message: str) -> None:
        """`message` in a health event; the bus refusing it stops no ask (logged)."""
        try:
            await self.publish_health(message)
        except Exception:
            log.exception("binance.health_message_failed", extra={"broker": self.source})

    async def _recover_once(
        self,
        order: TrackedOrder,
        reason: str,
        then: Callable[[VenueOrder], Awaitable[None]] | None,
        why: str = "bad_report",
    ) -> bool:
        """One ask of `_recover_report`. True: done (the order settled from Binance, or
        Binance's answer unreadable too: given up, its fills published, the account
        reconciled); False: to be asked again."""
        try:
            found = await self._settle_order(order, reason)
            if found is not None:
                if then is not None:
                    await then(found)
                return True
        except asyncio.CancelledError:
            raise
        except UNREADABLE as exc:
            # Binance's answer unreadable too: an unreadable report's recovery, or any
            # other ask's answer (`bad_reply`), given up.
            kind = why if why == "bad_report" else "bad_reply"
            self._unresolved(order, f"{exc!r}; the account is reconciled", kind)
            if order.venue_order_id is not None:
                await self._publish_trades_of(order, order.venue_order_id)
            await self.announce_reconnect()  # (an order no longer open ends there)
            return True
        except Exception as exc:  # (the bus refusing the write: asked again)
            log.warning(
                "binance.bad_report_recovery_failed",
                extra={
                    "broker": self.source,
                    "client_order_id": order.client_order_id,
                    "error": describe(exc),
                },
            )
        return False

    def _unresolved(self, order: TrackedOrder, error: str, why: str = "bad_report") -> None:
        """`_recover_report` gave up its quick asks: what Binance holds of the order
        (its fills, its status) is not in the journal until the reconcile it asks for,
        or a later ask, settles it. Counted as `<why>_unresolved` (the health pane's
        errors: `cancel_unresolved` for a cancel Binance did not confirm, during a REST
        outage; every ask was counted `bad_report_unresolved`, a name for unreadable
        reports, though nothing was unreadable), so the health pane shows it beside the
        fault that started it, and logged."""
        self.count_error(f"{why}_unresolved")
        log.error(
            f"binance.{why}_unresolved",
            extra={
                "broker": self.source,
                "client_order_id": order.client_order_id,
                "error": error,
            },
        )

    async def _on_report(self, report: translate.ExecutionReport) -> None:
        said_as = report.client_order_id  # (Binance's id for it: `c`, `C` on a cancel)
        ours = self._owner(said_as, report.venue_order_id, report.symbol)
        if ours != said_as:
            # Our order under the id Binance gave it (an amend elsewhere): ours it is.
            report = dataclasses.replace(report, client_order_id=ours)
        order = self._orders.get(ours)
        if order is None:
            if ours not in self._journal_orders and report.venue_order_id not in self._by_venue_id:
                self._adopt_later(report)
            order = self._track_report(report)
        if self._amended_before(order, report):
            return
        renamed = self._name_of_report(order, report, said_as)
        if report.venue_order_id in order.retired:
            # A venue order a replace retired: its fills are ours, its end is not.
            order.note_said(report.venue_order_id, report.cum_qty, final=report.status.is_terminal)
            if report.is_trade:
                await self._publish_fill_once(await self._fill_of(report))
            self._check_sized_later(order)  # it may show the replacement too big
            return
        if order.venue_order_id is None:
            order.venue_order_id = report.venue_order_id
        if self._cancel_unasked(order, report):
            return  # (its end, if it is one, goes once Binance has said so)
        replaced = report.venue_order_id != order.venue_order_id
        if report.execution == "REPLACED" and not replaced and not report.status.is_terminal:
            # An amend in place (keepPriority): its venue order, its new quantity (and,
            # sent by another program without newClientOrderId, a new id at Binance).
            await self._take_amend(order, translate.Amended.of_report(report), renamed=renamed)
            return
        # The terms and venue id before another program's replace (its cancelReplace
        # under this client order id: a new venue order nobody here asked for).
        before: tuple[str | None, Decimal, Decimal | None, Decimal | None] | None = None
        if replaced:
            if not order.replacing and order.status is not None:
                log.warning(
                    "binance.unexpected_venue_id",
                    extra={"broker": self.source, "client_order_id": order.client_order_id},
                )
            if not order.replacing and order.last_status is not None:
                before = (order.venue_order_id, order.quantity, order.limit_price, order.stop_price)
            self._adopt_venue_id(order, report.venue_order_id)
        self._by_venue_id[report.venue_order_id] = order.client_order_id
        if order.quote_quantity is not None and report.quantity > 0:
            # An order by quote amount: `q` is the base quantity Binance worked out
            # (informational: the journal's quantity comes from the fills).
            order.quantity = report.quantity
        takes_terms = replaced or (order.replacing and report.status is OrderStatus.NEW)
        if takes_terms:
            # The replacement's terms first: a fill of it goes out after its NEW at
            # them (`_publish_fill_once`), never against the old quantity.
            order.quantity = order.carried_at_venue + report.quantity
            order.limit_price = report.price or None
            order.stop_price = report.stop_price or None
            order.replacing = False
            order.took(report.venue_order_id, report.quantity)
        if report.is_trade:
            await self._publish_fill_once(await self._fill_of(report))
        update = self._cumulative(order, report.update())
        if takes_terms:
            update = update.model_copy(
                update={
                    "status": order.replacement_status(update.status),
                    "quantity": order.quantity,
                    "limit_price": order.limit_price,
                    "stop_price": order.stop_price,
                    # A replacement's stop waits again (unless this report says it works).
                    "triggered": order.replacement_triggered(update.triggered),
                }
            )
            if before is not None:
                after = (order.quantity, order.limit_price, order.stop_price)
                said = self._changed_elsewhere(
                    order.client_order_id, before, after, report.venue_order_id
                )
                update = update.model_copy(update={"reason": said})
        await self._publish_status(order, update, report.transaction_ms)
        if takes_terms:
            self._check_sized_later(order)

    def _amended_before(self, order: TrackedOrder, report: translate.ExecutionReport) -> bool:
        """Whether `report` is an amend (`x` REPLACED) of a venue order older than an
        amend of it already taken (`TrackedOrder.amended`): to a quantity above the one
        that left it at, where an amend only lowers one (another program's amend, heard
        after the answer to ours that Binance made after it). Dropped: taken, it put the
        quantity back up ("amended at Binance, not by this desk: 0.6 -> 0.8") and named
        the order by the id that amend gave it, which ours had replaced (a cancel under
        it then reached nothing)."""
        known = order.amended
        if (
            report.execution != "REPLACED"
            or known is None
            or report.venue_order_id != known[0]
            or report.quantity <= known[1]
        ):
            return False
        log.info(
            "binance.amend_report_older",
            extra={
                "broker": self.source,
                "client_order_id": order.client_order_id,
                "venue_order_id": report.venue_order_id,
                "quantity": str(report.quantity),
            },
        )
        return True

    def _adopt_later(self, report: translate.ExecutionReport) -> None:
        """A report of an order this adapter neither placed nor holds (placed on the
        account by another program, the Binance app, while the desk runs): its reports
        are journaled, and the OMS parks them for a request it never sees. The session's
        reconcile (`announce_reconnect`) adopts it, so the desk shows it, the risk gate
        counts it and its fills apply: asked once for a burst, `adopt_wait_s` after the
        first such report (an order met while that reconcile runs asks another).
        Before, nothing asked: the order worked at Binance unseen until a restart."""
        log.info(
            "binance.order_placed_elsewhere",
            extra={
                "broker": self.source,
                "client_order_id": report.client_order_id,
                "venue_order_id": report.venue_order_id,
            },
        )
        if self._adopt_pending or not self._running:
            return
        self._adopt_pending = True

        async def adopt() -> None:
            try:
                await asyncio.sleep(self.adopt_wait_s)
            finally:
                self._adopt_pending = False
            await self.announce_reconnect()

        self.in_background(adopt(), f"binance-adopt:{self.source}")

    def _cancel_unasked(self, order: TrackedOrder, report: translate.ExecutionReport) -> bool:
        """A CANCELED of the order's working venue order that this desk did not ask for
        (no cancel of ours: the order is not PENDING_CANCEL; the desk's own
        cancelReplace retired that venue order before it went). Another program did it
        (the Binance app, a script with the same API key): a cancel, or a cancelReplace
        that gave the new order this client order id (Binance frees it on the cancel),
        which sends the very same report (`c` the cancel's id, `C` ours) and then the
        replacement's NEW. Journaled as the order's end, the desk read CANCELED while
        the replacement worked at Binance (its NEW, after an end, was no news). So the
        end is held and Binance asked (`_check_cancelled_elsewhere`). True: held (or a
        repeat of the one held)."""
        if (
            report.execution != "CANCELED"
            or report.status is not OrderStatus.CANCELED
            or report.venue_order_id != order.venue_order_id
            or order.status is OrderStatus.PENDING_CANCEL
            or order.ended
        ):
            return False
        # What it filled in all, as Binance cancelled it: a replacement's quantity is
        # that plus its own (`carried_at_venue`).
        order.note_said(report.venue_order_id, report.cum_qty, final=True)
        if order.cancel_unasked == report.venue_order_id:
            return True
        order.cancel_unasked = report.venue_order_id
        log.info(
            "binance.cancelled_elsewhere",
            extra={
                "broker": self.source,
                "client_order_id": order.client_order_id,
                "venue_order_id": report.venue_order_id,
            },
        )
        self.in_background(
            self._check_cancelled_elsewhere(order, report),
            f"binance-cancelled-elsewhere:{order.client_order_id}",
        )
        return True

    async def _check_cancelled_elsewhere(
        self, order: TrackedOrder, report: translate.ExecutionReport
    ) -> None:
        """What became of an order whose working venue order another program cancelled
        (`_cancel_unasked`): after `elsewhere_wait_s` (the replacement's NEW, if any,
        comes right after the CANCELED), Binance is asked by our client order id (its
        open venue order first), as `_keep_asking` asks, until it says:
        - another venue order under it: another program's cancelReplace kept our id;
          the order follows it, at its terms ("changed at Binance, not by this desk
          ... Binance, asked, works it"), with its fills;
        - the venue order cancelled, and nothing else under it: the held CANCELED is
          journaled ("cancelled at Binance, not by this desk: Binance, asked, ...").
        The replacement's NEW on the stream settles it first (`_on_report` follows
        it), as does any end of the order meanwhile (the desk's cancel, answered).
        Unanswered after the quick asks, the order is said unresolved
        (`cancel_elsewhere_unresolved`; it reads working, not ended on a guess) and
        asked every `recover_later_s`; the trader is told once it is settled."""
        cancelled = report.venue_order_id
        coid = order.client_order_id

        def settled() -> bool:
            return order.venue_order_id != cancelled or order.ended

        said = False

        async def ask() -> bool:
            if settled():
                return True
            body = await self._ask_order(order)
            if body is None or settled():
                return settled()
            try:
                venue_id = str(body["orderId"])
                status = translate.status_of(str(body["status"]))
                if venue_id != cancelled and venue_id not in order.retired:
                    # Its terms as `_take_replacement` takes them (read before anything
                    # of the order changes).
                    qty, price = dec(body.get("origQty", "0")), dec(body.get("price", "0"))
                    stop = dec(body.get("stopPrice", "0"))
                    before = (
                        order.venue_order_id,
                        order.quantity,
                        order.limit_price,
                        order.stop_price,
                    )
                    self._adopt_venue_id(order, venue_id)  # (`cancelled` retired)
                    after = (
                        order.carried_at_venue + qty,
                        price if price > 0 else order.limit_price,
                        stop if stop > 0 else order.stop_price,
                    )
                    change = self._changed_elsewhere(order.client_order_id, before, after, venue_id)
                    try:
                        await self._take_replacement(
                            order, body, reason=f"{change}; Binance, asked, works it"
                        )
                    except UNREADABLE:
                        # Not taken: the order as it was, asked again.
                        order.retired.discard(cancelled)
                        order.venue_order_id = cancelled
                        _, order.quantity, order.limit_price, order.stop_price = before
                        raise
                    return True
                if venue_id == cancelled and status.is_terminal:
                    reason = (
                        "cancelled at Binance, not by this desk: Binance, asked, holds it "
                        f"{status} and works no other order under {coid}"
                    )
                    await self.publish_update(self._cumulative(order, report.update(reason)))
                    return True
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # (an answer unreadable, the bus refusing: asked again)
                if isinstance(exc, UNREADABLE):
                    self.count_error("bad_reply")  # (bad data from Binance: in the health)
                log.warning(
                    "binance.cancelled_elsewhere_ask_failed",
                    extra={"broker": self.source, "client_order_id": coid, "error": describe(exc)},
                )
            return False  # (an older venue order of it, or the old one read open)

        async def unresolved() -> None:
            nonlocal said
            said = True
            await self._say_unresolved(
                order,
                "cancel_elsewhere_unresolved",
                f"order {coid}: Binance reported its venue order {cancelled} cancelled, not "
                "by this desk, and has not said whether another program replaced it under "
                f"the same client order id: it reads {order.status} (not ended on a guess) "
                f"until Binance answers, asked every {self.recover_later_s:g} s; check it "
                "at Binance",
            )

        try:
            await self._pause(self.elsewhere_wait_s, settled)
            done = await self._keep_asking(order, ask, unresolved)
        finally:
            if order.cancel_unasked == cancelled:
                order.cancel_unasked = None
        if said and done is not None:
            await self._say_settled(
                order,
                f"Binance answered: {order.last_status} at venue order {order.venue_order_id}",
            )

    def _changed_elsewhere(
        self,
        client_order_id: str,
        before: tuple[str | None, Decimal, Decimal | None, Decimal | None],
        after: tuple[Decimal, Decimal | None, Decimal | None],
        new_id: str,
    ) -> str:
        """What another program's cancelReplace under our client order id changed, as
        the journal says it (as IB's "changed at TWS: ..."): `before` the venue id and
        terms (quantity, limit, stop) before, `after` the terms at `new_id`."""
        old_id, quantity, limit, stop = before

        def text(value: Decimal | None) -> str:
            return "none" if value is None else plain(normalized(value))

        changed = [
            f"{name} {text(was)} -> {text(now)}"
            for name, was, now in zip(
                ("quantity", "limit", "stop"), (quantity, limit, stop), after, strict=True
            )
            if was != now
        ]
        log.info(
            "binance.replaced_elsewhere",
            extra={
                "broker": self.source,
                "client_order_id": client_order_id,
                "venue_order_id": new_id,
                "retired_venue_order_id": old_id,
                "changed": changed,
            },
        )
        return (
            "changed at Binance, not by this desk (another program's cancelReplace kept its "
            f"client order id; venue order {old_id} -> {new_id}): "
            + (", ".join(changed) if changed else "its terms unchanged")
        )

    def _owner(self, binance_id: str, venue_order_id: str | None, symbol: str) -> str:
        """Our client order id of the order Binance names `binance_id` (its venue order
        `venue_order_id` of `symbol`: Binance numbers orders per symbol): `binance_id`
        itself when this adapter follows it or the journal holds it; else the order
        whose working venue order that is, in this run (`_by_venue_id`) or in the
        journal (`journal_working`: after a restart, `_journal_on`), remembered
        (`_aliases`); else `binance_id` (another program's order).

        Another program's amend keepPriority that sent no newClientOrderId gives our
        order a random new client order id at Binance and keeps its venue order: its
        REPLACED report, its fills and its end come under that id, and the listing
        shows it so. Taken for another program's order, the amend was never said, its
        fills were journaled as an "unknown order"'s while ours stayed NEW at the old
        quantity with nothing filled, a cancel under our id got -2011, and a reconcile
        closed it CANCELED "no fill of it is known"."""
        if binance_id in self._orders or binance_id in self._journal_orders:
            return binance_id
        known = self._aliases.get(binance_id)
        if known is not None:
            return known
        if not venue_order_id:
            return binance_id
        ours = self._by_venue_id.get(venue_order_id)
        followed = self._orders.get(ours) if ours is not None else None
        if (
            followed is None
            or followed.venue_order_id != venue_order_id
            or followed.symbol != symbol
        ):
            ours = next(
                (
                    held.client_order_id
                    for held in self._journal_orders.values()
                    if held.venue_order_id == venue_order_id and self._journal_on(held, symbol)
                ),
                None,
            )
        if ours is None or ours == binance_id:
            return binance_id
        self._aliases[binance_id] = ours
        return ours

    def _journal_on(self, held: JournalOrder, symbol: str) -> bool:
        """Whether the journal's working order `held` may be of `symbol` (the journal
        does not tell the adapter an order's instrument): this run's order's symbol, or
        its fills', or, knowing neither, an instrument the journal holds working orders
        or fills in (`journal_holds`)."""
        tracked = self._orders.get(held.client_order_id)
        if tracked is not None:
            return tracked.symbol == symbol
        traded = _symbol_of_execs(held.exec_ids)
        if traded:
            return traded == symbol
        return key_of(symbol) in self._journal_keys

    def _name_at_binance(self, ours: str, venue_order_id: str | None, binance_id: str) -> None:
        """Binance holds venue order `venue_order_id` of our order `ours` under the
        client order id `binance_id` now (ours again: forgotten)."""
        if not venue_order_id:
            return
        if binance_id == ours:
            self._named.pop(venue_order_id, None)
            return
        if self._named.get(venue_order_id) != binance_id:
            log.info(
                "binance.client_order_id_at_binance",
                extra={
                    "broker": self.source,
                    "client_order_id": ours,
                    "venue_order_id": venue_order_id,
                    "at_binance": binance_id,
                },
            )
        self._named[venue_order_id] = binance_id
        self._aliases[binance_id] = ours

    def _at_binance(self, order: TrackedOrder) -> str:
        """The client order id Binance holds `order`'s working venue order under: ours,
        unless another program's amend gave it another (`_named`)."""
        return self._named.get(order.venue_order_id or "", order.client_order_id)

    def _name_of_report(
        self, order: TrackedOrder, report: translate.ExecutionReport, said_as: str
    ) -> str | None:
        """What `report` says of the client order id Binance holds the order under
        (`said_as`: its `c`, or `C` on a cancel, whose `c` is the cancel request's);
        the new one when an amend (`x` REPLACED) gave it another, else None. An amend's
        `c` is the id the order has after it and `C` the one it had: Binance's SBE
        schema maps `c`/`C` to `clientOrderId`/`origClientOrderId`, the names its amend
        answer gives the new and the old id (rest-api.md), as FIX's ClOrdID and
        OrigClOrdID."""
        ours = order.client_order_id
        venue_id = report.venue_order_id
        before = self._named.get(venue_id, ours)
        if report.execution == "REPLACED":
            self._name_at_binance(ours, venue_id, said_as)
            return said_as if said_as not in (before, ours) else None
        if said_as != ours:
            self._name_at_binance(ours, venue_id, said_as)
        return None

    def _venue_order(self, body: Mapping[str, Any]) -> VenueOrder:
        """`translate.venue_order(body)`, under our client order id when Binance holds
        one of our orders under another (`_owner`), which is remembered."""
        venue = translate.venue_order(body)
        said_as = venue.client_order_id
        ours = self._owner(said_as, venue.venue_order_id, symbol_of(venue.instrument))
        self._name_at_binance(ours, venue.venue_order_id, said_as)
        if ours == said_as:
            return venue
        return venue.model_copy(update={"client_order_id": ours})

    def _as_ours(self, update: OrderUpdate) -> OrderUpdate:
        """`update` under our client order id when it names one of our orders by the id
        Binance gave it (a reply or an answer read as it came: `_aliases`)."""
        coid = update.client_order_id
        if coid in self._orders:
            return update
        ours = self._aliases.get(coid)
        if ours is None:
            return update
        return update.model_copy(update={"client_order_id": ours})

    def _track_report(self, report: translate.ExecutionReport) -> TrackedOrder:
        order = TrackedOrder(
            client_order_id=report.client_order_id,
            symbol=report.symbol,
            side=report.side,
            order_type=order_types.ORDER_TYPE.get(report.venue_type, OrderType.LIMIT),
            tif=translate.tif_of(report.venue_type, report.tif),
            post_only=report.venue_type == "LIMIT_MAKER",
            quantity=report.quantity,
            quote_quantity=report.quote_quantity or None,
            limit_price=report.price or None,
            stop_price=report.stop_price or None,
            venue_order_id=report.venue_order_id,
        )
        self._orders[order.client_order_id] = order
        return order

    def _adopt_venue_id(self, order: TrackedOrder, venue_order_id: str) -> None:
        if order.venue_order_id is not None:
            order.retired.add(order.venue_order_id)
        order.venue_order_id = venue_order_id
        self._by_venue_id[venue_order_id] = order.client_order_id

    def _cumulative(self, order: TrackedOrder, update: OrderUpdate) -> OrderUpdate:
        """A report of the current venue order as the order's totals (adds what filled
        under venue ids a replace retired). A report of a retired venue order (the old
        one, cancelled while a lost modify is checked) adds the others: its own fills
        are in it, and were counted twice ("filled 0.4" of an order that filled 0.2)."""
        carried_qty, carried_quote = order.carried_besides(update.venue_order_id)
        if not carried_qty:
            return update
        venue_qty = update.filled_qty or ZERO
        venue_quote = (update.avg_price or ZERO) * venue_qty
        total = carried_qty + venue_qty
        return update.model_copy(
            update={"filled_qty": total, "avg_price": (carried_quote + venue_quote) / total}
        )

    # -- the gates: each fill once, each status once and forwards ---------------------

    async def publish_update(self, update: OrderUpdate, *, local: bool = False) -> None:
        """Publish an order update unless the journal has it already or it would move
        the order backwards. `local`: our own step (PENDING_*, the status restored after
        a refused modify), judged against the journal; anything else is a venue report,
        judged against the venue's last report of the order."""
        local = local or update.status in LOCAL_STEPS
        async with self._publish_lock:
            await self._publish_update_locked(update, local=local)

    async def publish_report(self, update: OrderUpdate) -> None:
        """A venue's answer the base class journals (a placement's REJECTED, its
        request's refusal kept for the journal): through the same gate, so that the
        order here reads as the journal does. Journaled past it, a rejected order stayed
        PENDING_NEW here for the session: every cancel all and kill switch journaled a
        cancel of it (CANCEL requested, PENDING_CANCEL after its REJECTED) and asked
        Binance for it, as did each user-stream catch-up."""
        await self.publish_update(update)

    async def _publish_update_locked(
        self, update: OrderUpdate, *, local: bool, keep: bool = False
    ) -> None:
        """`keep`: a local step written as a report is (kept and written again when the
        bus refuses it), not raised."""
        update = self._as_ours(update)
        order = self._orders.get(update.client_order_id)
        if order is not None and not order.is_news(update, local=local):
            if update.status is OrderStatus.PENDING_REPLACE and any(
                held.client_order_id == order.client_order_id for _, held in self._held
            ):
                # A second change while the first's NEW waits for its account event:
                # a repeat now, it goes after that NEW (`_flush_held`).
                order.replace_after_held = True
            return
        if local and not keep:
            await super().publish_update(update)  # refused: raised, nothing sent
        else:
            await super().publish_report(update)  # refused: kept, written again
        if order is not None:
            if order.status is not None and order.status.is_terminal:
                # Ended while the journal took this write (the reconcile journaled its
                # end: `update_journaled`): the end stands. Recorded over it, an order
                # the journal holds CANCELED read as working here again, and a cancel
                # all journaled a cancel of it and asked Binance for it.
                return
            order.record(update, local=local)
            if update.status.is_terminal:
                self._let_go_finished(order.client_order_id)

    def _let_go_finished(self, client_order_id: str) -> None:
        """`client_order_id` finished: the oldest finished orders beyond `finished_kept`
        are no longer followed (one with a lost modify still checked stays)."""
        finished = self._finished
        finished[client_order_id] = None
        finished.move_to_end(client_order_id)
        while len(finished) > self.finished_kept:
            coid, _ = finished.popitem(last=False)
            order = self._orders.get(coid)
            if order is None or coid in self._replace_checks:
                continue
            # (an order met only in a reconcile has no status of ours: Binance's ended)
            if not order.ended:
                continue  # working again (a late report read it back): it stays
            del self._orders[coid]
            self._published_execs.difference_update(order.exec_ids)
            # (kept per order met under a venue id the journal never saw: they go with
            # it, or each grew by one such order for the session)
            self._modifies_read.discard(coid)
            self._unseen_replaces.pop(coid, None)
            self._unseen_said.discard(coid)
            for venue_id in (order.venue_order_id, *order.retired):
                if venue_id is not None and self._by_venue_id.get(venue_id) == coid:
                    del self._by_venue_id[venue_id]
                if venue_id is not None:
                    self._named.pop(venue_id, None)
            for alias in [a for a, owner in self._aliases.items() if owner == coid]:
                del self._aliases[alias]

    async def _publish_status(
        self, order: TrackedOrder | None, update: OrderUpdate, ts_ms: int
    ) -> None:
        """Publish a venue status once the balances it moved are published: Binance
        sends the `outboundAccountPosition` right after the report (and after the REST
        reply), so a reader who sees FILLED finds the position already there. A status
        waits at most ACCOUNT_WAIT_S (no account event: it goes anyway). A MARKET's NEW
        moves no balance and goes at once; any other held NEW goes when the order's first
        fill comes (`_new_before_fill`): the account event of an order that trades at
        once comes after its fills."""
        update = self._as_ours(update)
        market_new = (
            order is not None
            and order.order_type is OrderType.MARKET
            and update.status is OrderStatus.NEW
        )
        waits = (
            update.status in FUNDS_STEPS
            and not market_new
            and ts_ms > self._account_ms
            and self.user.subscribed
        )
        if not waits:
            await self.publish_update(update)
            return
        self._held.append((ts_ms, update))
        if self._hold_timer is None:
            self._hold_timer = asyncio.get_running_loop().call_later(
                ACCOUNT_WAIT_S, self._flush_held_later
            )

    def _flush_held_later(self) -> None:
        self._hold_timer = None
        task = asyncio.create_task(self._flush_held(None), name=f"binance-held:{self.source}")
        self._flush_tasks.add(task)
        task.add_done_callback(self._flush_tasks.discard)

    async def _flush_held(self, upto_ms: int | None) -> None:
        """Publish the held statuses (in order) whose account event has come (all of
        them with `upto_ms` None)."""
        while self._held and (upto_ms is None or self._held[0][0] <= upto_ms):
            _, update = self._held.pop(0)
            await self.publish_update(update)
            again = self._pending_after_held(update)
            if again is not None:
                await self.publish_update(again)
        self._stop_hold_timer_if_idle()

    def _pending_after_held(self, update: OrderUpdate) -> OrderUpdate | None:
        """The PENDING_REPLACE that goes after a held status `update` just published,
        or None. A change went out while this status waited (two changes at once: the
        second's PENDING_REPLACE was a repeat then): the journal shows it on its way
        again, not the order NEW at the first change's terms; also when the second
        change was answered before this status went (its NEW held behind this one: the
        journal skipped its PENDING_REPLACE). `replace_after_held` is spent here."""
        order = self._orders.get(update.client_order_id)
        if (
            order is None
            or not (order.replacing or order.replace_after_held)
            or update.status.is_terminal
        ):
            return None
        order.replace_after_held = False
        return OrderUpdate(
            client_order_id=order.client_order_id, status=OrderStatus.PENDING_REPLACE
        )

    def _stop_hold_timer_if_idle(self) -> None:
        """Nothing is held any more: the timer that would flush it goes."""
        if not self._held and self._hold_timer is not None:
            self._hold_timer.cancel()
            self._hold_timer = None

    async def publish_fill(self, fill: Fill) -> None:
        await self._publish_fill_once(fill)

    async def _publish_fill_once(self, fill: Fill) -> None:
        if fill.client_order_id not in self._orders and fill.client_order_id in self._aliases:
            fill = fill.model_copy(update={"client_order_id": self._aliases[fill.client_order_id]})
        async with self._publish_lock:
            if fill.exec_id in self._published_execs:
                return
            self._published_execs.add(fill.exec_id)
            order = self._orders.get(fill.client_order_id)
            if order is not None:
                order.exec_ids.add(fill.exec_id)
                if (
                    order.status is OrderStatus.PENDING_NEW
                    or (
                        order.status is OrderStatus.PENDING_REPLACE
                        # (an amend's venue order is the one the journal has: no NEW)
                        and order.amending is None
                        and fill.venue_order_id is not None
                        and fill.venue_order_id == order.venue_order_id
                        and fill.venue_order_id not in order.retired
                    )
                    # A stop's trigger (Binance's second NEW, with `W`) held for the
                    # account event that follows the fills it made at once.
                    or self._holds_new(order, fill.venue_order_id or order.venue_order_id)
                ):
                    await self._new_before_fill(order, fill)
                order.add_fill(fill)
            symbol, _, trade = fill.exec_id.rpartition("-")
            if trade.isdigit():
                self._seen_trades(symbol, [int(trade)])
            self._prices[symbol] = (fill.price, self.clock())
            await super().publish_fill(fill)

    async def _new_before_fill(self, order: TrackedOrder, fill: Fill) -> None:
        """(Under the publish lock.) The NEW the journal lacks before `order`'s first
        fill (or, after a replace, the replacement's first fill). Binance reports an
        order NEW before it trades, but its fills can reach us first: in the REST reply
        (FULL carries the fills made at once, and comes before or after the stream's
        reports), or in a TRADE report while the NEW report waits for the account event
        that follows the fills (`_publish_status`). A held NEW report of the fill's
        venue order goes now, out of the wait, after the order's statuses held before
        it; without one, the statuses held of the venue orders a replace retired go
        (they came first), then the NEW is the venue's taking of the order that the
        fill (and the reply carrying it) shows: its venue id and time, and for a
        replacement its terms and what the order filled before (a fill taken against
        the old quantity was an overfill). The NEW report coming later is a repeat
        (`TrackedOrder.is_news`). A held NEW of an order the journal has NEW already
        goes before the fill too: a stop's trigger (Binance's NEW with `W`), reported
        before the trades it made at once and held for the account event after them;
        before, the fills went first and the desk's history read filled, then "stop
        triggered" (`_holds_new`).

        Each held status taken is followed as `_flush_held` follows it: by the
        PENDING_REPLACE of a change made while it waited (`_pending_after_held`,
        spending `replace_after_held`). Before, the first held NEW of the order went,
        whatever its venue order, and `replace_after_held` was left set: a second
        change answered with fills at once (its replacement traded through the book)
        had the first replacement's NEW go as the second's, and the next status of
        the order held for its account event (the fill's PARTIALLY_FILLED) was
        followed by a PENDING_REPLACE nothing ended: the desk read the order on its
        way for good while Binance worked it."""
        replacement = order.status is OrderStatus.PENDING_REPLACE
        venue_order_id = fill.venue_order_id or order.venue_order_id
        for update in self._held_before_fill(order.client_order_id, venue_order_id):
            await self._publish_update_locked(update, local=False)
            again = self._pending_after_held(update)
            if again is not None:
                await self._publish_update_locked(again, local=True, keep=True)
            if update.status is OrderStatus.NEW and update.venue_order_id in (
                None,
                venue_order_id,
            ):
                return  # its own NEW: the fill goes after it
        if replacement:
            new = self._new_at_terms(order, venue_order_id, venue_ts_ns=fill.venue_ts_ns)
        else:
            new = OrderUpdate(
                client_order_id=order.client_order_id,
                status=OrderStatus.NEW,
                venue_order_id=venue_order_id,
                filled_qty=ZERO,
                venue_ts_ns=fill.venue_ts_ns,
            )
        await self._publish_update_locked(new, local=False)

    def _holds_new(self, order: TrackedOrder, venue_order_id: str | None) -> bool:
        """A NEW of `order`'s venue order `venue_order_id` waits for its account event."""
        return any(
            held.client_order_id == order.client_order_id
            and held.status is OrderStatus.NEW
            and held.venue_order_id in (None, venue_order_id)
            for _, held in self._held
        )

    def _held_before_fill(
        self, client_order_id: str, venue_order_id: str | None
    ) -> list[OrderUpdate]:
        """The order's held statuses that go before a fill of `venue_order_id`, taken
        out of the wait, in order: up to its held NEW of that venue order, or, with
        none held, those of other venue orders (the ones a replace retired)."""
        mine = [
            (i, held)
            for i, (_, held) in enumerate(self._held)
            if held.client_order_id == client_order_id
        ]
        own = next(
            (
                n
                for n, (_, held) in enumerate(mine)
                if held.status is OrderStatus.NEW and held.venue_order_id in (None, venue_order_id)
            ),
            None,
        )
        if own is not None:
            taken = mine[: own + 1]
        else:
            taken = [
                (i, held) for i, held in mine if held.venue_order_id not in (None, venue_order_id)
            ]
        for i, _ in reversed(taken):
            del self._held[i]
        self._stop_hold_timer_if_idle()
        return [held for _, held in taken]

    @staticmethod
    def _new_at_terms(
        order: TrackedOrder,
        venue_order_id: str | None,
        *,
        venue_ts_ns: int | None = None,
        reason: str = "",
    ) -> OrderUpdate:
        """NEW for a replacement: its venue id, the order's terms and what filled under
        the venue ids the replaces retired. PARTIALLY_FILLED over a PARTIALLY_FILLED
        journal (`replacement_status`): a NEW there is a step back the journal drops,
        and the replacement's fills, which came next, ended the order at its old terms
        (another program's cancelReplace of a part-filled order, met by a query)."""
        return OrderUpdate(
            client_order_id=order.client_order_id,
            status=order.replacement_status(OrderStatus.NEW),
            venue_order_id=venue_order_id,
            filled_qty=order.carried[0],
            quantity=order.quantity,
            limit_price=order.limit_price,
            stop_price=order.stop_price,
            reason=reason,
            venue_ts_ns=venue_ts_ns,
        )

    # -- fees ---------------------------------------------------------------------------

    async def _fill_of(self, report: translate.ExecutionReport) -> Fill:
        fill = report.fill(self.name, self.account, None)
        return await self._with_fee_value(fill)

    async def _with_fee_value(self, fill: Fill) -> Fill:
        if fill.fee == 0 or not fill.fee_currency:
            return fill
        instrument = self._instrument_cache.get(fill.instrument)
        base, quote = self._assets(fill.instrument, instrument)
        asset_price: Decimal | None = None
        if fill.fee_currency not in (base, quote) and quote:
            asset_price = await self._recent_price(f"{fill.fee_currency}{quote}")
        value = translate.fee_value(
            fill.fee, fill.fee_currency, fill.price, base, quote, asset_price
        )
        return fill if value is None else fill.model_copy(update={"fee_value": value})

    def _assets(self, key: str, instrument: Instrument | None) -> tuple[str, str]:
        if instrument is not None:
            return instrument.base_currency, instrument.quote_currency
        return "", ""

    async def _recent_price(self, symbol: str) -> Decimal | None:
        """A recent price of `symbol` to value a fee with: a fill or quote seen here, else
        the book's mid asked of REST (kept a minute); None when the venue has no such
        pair or none is known. A fill waits for REST at most FEE_PRICE_WAIT_S: fills and
        statuses from the user stream are valued here, and behind a hung REST call they
        all waited out its timeout and retries (3 s at a 1 s timeout; ~30 s at the
        default). A price older than a minute is asked again in the background and
        still used meanwhile, up to PRICE_STALE_NS; beyond, the fee is left unvalued."""
        now = self.clock()
        seen = self._prices.get(symbol)
        if seen is not None and now - seen[1] < PRICE_TTL_NS:
            return seen[0] if seen[0] > 0 else None
        stale = seen[0] if seen is not None and now - seen[1] < PRICE_STALE_NS else None
        ask = self._price_asks.get(symbol)
        if ask is None:
            task = self.in_background(
                self._ask_price(symbol), f"binance-price:{self.source}:{symbol}"
            )
            ask = self._price_asks[symbol] = (task, time.monotonic())
            task.add_done_callback(lambda _: self._price_asks.pop(symbol, None))
        if stale is not None and stale > 0:
            return stale
        asking, asked_at = ask
        left = asked_at + FEE_PRICE_WAIT_S - time.monotonic()
        try:
            await asyncio.wait_for(asyncio.shield(asking), max(left, 0.0))
        except TimeoutError:
            log.info(
                "binance.fee_price_late",
                extra={"broker": self.source, "symbol": symbol, "wait_s": FEE_PRICE_WAIT_S},
            )
            return None
        answer = self._prices.get(symbol)
        if answer is None or answer[0] <= 0 or self.clock() - answer[1] >= PRICE_STALE_NS:
            return None
        return answer[0]

    async def _ask_price(self, symbol: str) -> None:
        """The book's mid of `symbol` from REST, kept in `_prices` (0: no such pair, not
        asked again for a minute). A failed call keeps nothing: the next fee asks again."""
        try:
            book = await self.rest.depth(symbol, 5)
        except InvalidSymbol:
            price = ZERO
        except BrokerError as exc:
            log.info(
                "binance.fee_price_failed",
                extra={"broker": self.source, "symbol": symbol, "error": str(exc)},
            )
            return
        else:
            try:
                price = (Decimal(str(book["bids"][0][0])) + Decimal(str(book["asks"][0][0]))) / 2
            except (KeyError, IndexError, TypeError, ValueError, ArithmeticError):
                price = ZERO
        self._prices[symbol] = (price, self.clock())

    async def publish_quote(self, quote: Quote) -> None:
        symbol = quote.instrument.partition(".")[0]
        if quote.mid is not None:
            self._prices[symbol] = (quote.mid, self.clock())
        await super().publish_quote(quote)

    # -- instruments --------------------------------------------------------------------

    async def _fetch_instrument(self, key: str) -> Instrument | None:
        try:
            symbol = symbol_of(key)
        except ValueError:
            return None
        try:
            body = await self.rest.exchange_info([symbol])
        except BrokerError as exc:
            if exc.code == -1121 or "invalid symbol" in str(exc).lower():
                return None
            raise
        for info in body.get("symbols", []):
            if info.get("symbol") == symbol:
                self._scopes[key] = notional_scope(info)
                self._amends_on(key, info)
                return parse_symbol(info)
        return None

    def _amends_on(self, key: str, info: Mapping[str, Any]) -> None:
        """Whether the symbol of `key` takes an order amend (its exchangeInfo entry
        `info` says `amendAllowed`), kept for `_amends` and said in the capabilities
        (`amend_quantity_down_on`): the desk's modify dialog says a smaller quantity
        alone is amended in place on that symbol only. It said so on every symbol,
        from the broker-wide `amend_quantity_down`, while one without `amendAllowed`
        was cancel-replaced (a new venue order, its place in the queue lost; the cut of
        a triggered stop the market is through let through by the dialog, refused only
        by this adapter's last check, `_replace_refusal`)."""
        self._amendable[key] = info.get("amendAllowed") is True
        amendable = frozenset(k for k, yes in self._amendable.items() if yes)
        if amendable != self.capabilities.amend_quantity_down_on:
            # A new object only when it changed (a symbol looked up after the profile
            # was built: the desk's copy of the capabilities is the engine's to renew).
            self.capabilities = self.capabilities.model_copy(
                update={"amend_quantity_down_on": amendable}
            )

    async def instruments(self) -> dict[str, Instrument]:
        """The configured symbols (each looked up once and cached)."""
        missing = [s for s in self.symbols if key_of(s) not in self._instrument_cache]
        if missing:
            body = await self.rest.exchange_info(missing)
            for info in body.get("symbols", []):
                instrument = parse_symbol(info)
                self._scopes[instrument.key] = notional_scope(info)
                self._amends_on(instrument.key, info)
                self._instrument_cache[instrument.key] = instrument
        return {
            key_of(s): self._instrument_cache[key_of(s)]
            for s in self.symbols
            if key_of(s) in self._instrument_cache
        }

    def check_request(
        self, request: OrderRequest, instrument: Instrument, market_price: Decimal | None
    ) -> None:
        """The shared checks, less the notional limits Binance does not apply to MARKET
        orders of this symbol (`applyMinToMarket` / `applyMaxToMarket`)."""
        issues = self.capabilities.issues(
            self.source,
            request.order_type,
            request.tif,
            post_only=request.post_only,
            quote_quantity=request.by_quote,
        )
        issues += request.issues(instrument, market_price)
        if request.order_type is OrderType.MARKET:
            scope = self._scopes.get(instrument.key, NotionalScope())
            skip = set()
            if not scope.min_to_market:
                skip.add("min_notional")
            if not scope.max_to_market:
                skip.add("max_notional")
            issues = [i for i in issues if i.rule not in skip]
        if issues:
            raise OrderValidationError(issues)

    # -- orders -------------------------------------------------------------------------

    def knows_order(self, client_order_id: str) -> bool:
        return client_order_id in self._orders

    async def _submit(self, request: OrderRequest) -> None:
        symbol = symbol_of(request.instrument)
        order = self._orders.get(request.client_order_id)
        if order is None:
            order = TrackedOrder(
                client_order_id=request.client_order_id,
                symbol=symbol,
                side=request.side,
                order_type=request.order_type,
                tif=request.tif,
                post_only=request.post_only,
                quantity=request.quantity if request.quantity is not None else ZERO,
                quote_quantity=request.quote_quantity,
                limit_price=request.limit_price,
                stop_price=request.stop_price,
                status=OrderStatus.PENDING_NEW,
            )
            self._orders[request.client_order_id] = order
        params = translate.order_params(request, symbol, response_type="FULL")
        try:
            body = await self.rest.new_order(params)
        except ClockOutOfSync as exc:
            # Binance judged the timestamp first and did nothing: the order is not
            # working (REJECTED by `Broker.place`, in words saying it was not placed).
            raise ClockOutOfSync(
                f"order {request.client_order_id} was NOT placed: Binance refused it "
                f"(-1021, still after re-syncing with its time): {exc.clock}; Binance did "
                f"nothing with it. {CLOCK_FIX[0].upper()}{CLOCK_FIX[1:]}, then send it again.",
                clock=exc.clock,
                host_ahead_ms=exc.host_ahead_ms,
            ) from exc
        except OrderRejected as exc:
            if "market is closed" in str(exc).lower():
                # The venue changed the symbol's status: look it up again next time.
                self.forget_instrument(request.instrument)
            raise
        try:
            await self._on_reply(order, body)
        except UNREADABLE as exc:
            # Binance took the order (it answered 200) and its answer says nothing we
            # can use: an unknown outcome, as a timeout (`Broker.place` asks the venue
            # in the background). A bare ValueError told the trader nothing of it.
            self._bad_reply("new order", request.client_order_id, body, exc)
            unknown = BrokerTimeout(
                f"new order {symbol} {request.client_order_id}: Binance's answer could not "
                f"be read ({exc}). The order may be working at Binance: its status is "
                "being checked; do not send it again."
            )
            unknown.counted = True  # as the `bad_reply` it is, not a timeout as well
            raise unknown from exc

    def _bad_reply(self, what: str, client_order_id: str, body: Any, exc: BaseException) -> None:
        """A 200 answer (new order, cancel, cancelReplace) this adapter cannot read (a
        status value Binance added, a field missing): counted and logged with the reply."""
        self.count_error("bad_reply")
        log.error(
            "binance.bad_reply",
            extra={
                "broker": self.source,
                "what": what,
                "client_order_id": client_order_id,
                "error": repr(exc),
                "reply": repr(body)[:500],
            },
        )

    async def _on_reply(self, order: TrackedOrder, body: Mapping[str, Any]) -> None:
        """A new-order (or replace) reply: its fills, then its status."""
        venue_id = str(body["orderId"])
        if order.venue_order_id is None:
            order.venue_order_id = venue_id
        self._by_venue_id[venue_id] = order.client_order_id
        if venue_id in order.retired:
            return
        for fill in translate.reply_fills(body, self.name, self.account, order.side):
            fill = fill.model_copy(update={"client_order_id": order.client_order_id})
            await self._publish_fill_once(await self._with_fee_value(fill))
        if "status" not in body:
            return  # an ACK reply: the stream reports the status
        update = self._cumulative(order, translate.reply_update(body))
        await self._publish_status(order, update, _ms(update))

    async def cancel(self, client_order_id: str, reason: str = "") -> None:
        if self.rest.usage.banned_s() > 0:
            # A ban this adapter knows: the "rest" link says so now (the health loop
            # would a second later), and the cancel is refused before it is journaled
            # (`_require_tradable`: nothing sent, nothing kept to send later).
            await self._follow_ban()
        await self._clock_asked()  # (the clock refused: fixed since the last ask?)
        order = self._orders.get(client_order_id)
        # Ended by our own status, or, with none of ours (met only in Binance's listing
        # after a restart), by Binance's last word on it: nothing is sent.
        last = order.last_status if order is not None else None
        if order is not None and last is not None and last.is_terminal:
            self._require_tradable(cancel=True)
            if last is not OrderStatus.CANCELED:
                # Its end (a fill) reached this adapter before the desk had it.
                raise cancel_too_late(
                    client_order_id,
                    "Binance",
                    last,
                    order.filled,
                    said="nothing was sent",
                    code="unknown_order",
                )
            raise UnknownOrder(
                f"{self.source}: order {client_order_id} is already {last}; nothing was sent",
                code="unknown_order",
            )
        try:
            await super().cancel(client_order_id, reason)
        except (NotConnected, BrokerTimeout):
            self._cancel_unreached()  # (refused unsent, or not confirmed)
            raise

    async def _cancel(self, client_order_id: str) -> None:
        order = self._orders[client_order_id]
        try:
            # (under the id Binance holds it by: another program's amend may have given
            # it a new one, and ours then reaches nothing there: -2011)
            body = await self.rest.cancel_order(order.symbol, self._at_binance(order))
        except UnknownOrder as exc:
            found = await self._order_after_failed_cancel(order, exc, "refused")
            if found is None:
                raise UnknownOrder(
                    f"cancel of {client_order_id} at {self.source} refused (Binance: {exc}) "
                    "and the order could not be read back from Binance (no such order, or "
                    "the query failed): check it at Binance",
                    code="unknown_order",
                ) from exc
            if found.status is OrderStatus.CANCELED:
                raise _too_late(order, found, exc) from exc
            raise UnknownOrder(
                f"cancel of {client_order_id} at {self.source} refused (Binance: {exc}), "
                f"yet Binance reports the order {found.status}: it is still working; "
                "cancel it again",
                code="unknown_order",
            ) from exc
        except CancelHeld as exc:
            # Nothing done at Binance, and nothing can be sent (asked neither) until its
            # Retry-After is over: the cancel is owed, sent then by this adapter; the
            # order stays PENDING_CANCEL meanwhile, and the caller is told at once.
            # Its symbol's cancel all owed already (a cancel all held: the engine then
            # cancels each order on its own) takes it: owed twice, both went out when
            # the Retry-After ended, the second to find the order gone.
            swept = order.symbol in self._owed_sweeps
            if not swept:
                self._owe(
                    f"cancel:{client_order_id}", exc.retry_after, self._send_owed_cancel(order)
                )
            goes = f"with the cancel all of {order.symbol} " if swept else ""
            raise CancelHeld(
                f"cancel of {client_order_id} at {self.source} is held by Binance's rate "
                f"limit ({exc}): it goes out by itself {goes}in "
                f"{math.ceil(exc.retry_after)} s, once the 429's Retry-After is over; the "
                "order works until then",
                retry_after=exc.retry_after,
                code=exc.code,
            ) from exc
        except Banned as exc:
            # Binance's 418 (met by this cancel, or known: refused here): nothing was
            # done at Binance, and nothing can be asked of it until the ban ends, which
            # may be days away. The order works as it did: shown so at once (it read
            # PENDING_CANCEL, and the engine's report said the cancel "goes out by
            # itself", as for a 429's Retry-After). Not owed: a cancel sent by itself
            # when the ban ends, hours later, would surprise; the trader is told to
            # cancel again then, or at Binance's own web site or app.
            await self._restore_status(order, None, f"cancel not sent: {exc}")
            await self._follow_ban()
            raise self._banned_said(f"cancel of {client_order_id}", exc) from exc
        except ClockOutOfSync as exc:
            # -1021 after the re-sync: Binance judged the timestamp first and did
            # nothing: the order works as it did, shown so at once. It read
            # PENDING_CANCEL ~40 s under "Binance did not confirm it ... may still be
            # working", asked in the background with queries refused the same way.
            # Not asked, not owed: the trader cancels again once the clock is fixed.
            await self._restore_status(order, None, self._clock_cancel_reason(exc))
            raise ClockOutOfSync(
                f"cancel of {client_order_id} at {self.source} was NOT done: Binance "
                f"refused it (-1021, still after re-syncing with its time): {exc.clock}. "
                "Binance did nothing: the order is still working. "
                f"{CLOCK_FIX[0].upper()}{CLOCK_FIX[1:]}, then cancel it again (or now in "
                "Binance's web site or app).",
                clock=exc.clock,
                host_ahead_ms=exc.host_ahead_ms,
            ) from exc
        except BrokerError as exc:
            found = await self._order_after_failed_cancel(order, exc, "failed")
            if found is not None and found.status is OrderStatus.CANCELED:
                return  # the cancel went through after all
            raise self._cancel_failed(order, exc, found) from exc
        try:
            if await self._replacement_found(order, body) is Taken.HELD:
                return  # cancelled; its end goes with its fills, asked again
            update = self._cumulative(order, translate.reply_update(body))
        except UNREADABLE as exc:
            await self._unreadable_cancel(order, body, exc)
            return
        await self._publish_status(order, update, _ms(update))

    @staticmethod
    def _clock_cancel_reason(exc: ClockOutOfSync) -> str:
        """Why a cancel Binance refused for this host's clock left its order working."""
        return (
            f"cancel not sent: {exc.clock}, and Binance refuses its requests (-1021); "
            f"{CLOCK_FIX}, then cancel again"
        )

    def _cancel_failed(
        self, order: TrackedOrder, exc: BrokerError, found: VenueOrder | None
    ) -> BrokerError:
        """`exc` (its kind and fields kept: a caller retries what may pass) saying what
        the failed cancel leaves and what to do next. Binance's word on the order not
        had (`found` None: REST unreachable, no answer in time, the query failing as
        the cancel did): it may still be working, its row stays PENDING_CANCEL, and it
        is asked of Binance in the background (`_settle_cancel_later`) until Binance
        answers, at once when the "rest" link is back (`_keep_asking`). Before, the
        toast said only "the connection to Binance broke", with no next step."""
        coid = order.client_order_id
        why = str(exc).removeprefix(f"cancel order {order.symbol} {coid}: ")
        why = why.removeprefix(f"cancel order {order.symbol} {self._at_binance(order)}: ")
        why = why.rstrip(". ")
        if found is None:
            text = (
                f"cancel of {coid} at {self.source}: Binance did not confirm it ({why}), "
                "and could not be asked about the order either: it may still be working "
                "at Binance. It shows PENDING_CANCEL until Binance answers again; this "
                "desk then asks Binance for it by itself and shows what Binance holds "
                "(CANCELED, or working again). If it still works then, cancel it again; "
                "to halt trading meanwhile, pull the kill switch."
            )
        else:
            text = (
                f"cancel of {coid} at {self.source} failed ({why}); Binance holds the order "
                f"{found.status}: it is still working. Cancel it again, or at Binance."
            )
        said = copy.copy(exc)
        said.args = (text,)
        return said

    def _banned_said(self, what: str, exc: Banned) -> Banned:
        """`exc` (a `Banned`: not retried, not owed) saying that the cancel `what` was
        NOT sent, that the order works, until when Binance refuses this IP, and what to
        do (`ban_said`: the engine's cancel report says it so)."""
        left = max(self.rest.usage.banned_s(), 0.0) or exc.retry_after
        said = ban_said("Binance", self._ban_until(left), left, how="HTTP 418")
        return Banned(f"{what} at {self.source} was {said}.", retry_after=left, code=exc.code)

    def _ban_until(self, left_s: float | None = None) -> str:
        """When Binance's 418 ban ends, in UTC as the desk's clock shows it."""
        if left_s is None or self.rest.usage.banned_s() > 0:
            return utc_time(self.rest.usage.banned_until_ns)
        return utc_time(self.clock() + int(left_s * 1e9))

    def _owe(self, key: str, wait_s: float, send: Callable[[], Awaitable[bool]]) -> None:
        """A cancel (`cancel:<id>`) or a symbol's sweep (`sweep:<symbol>`) Binance's 429
        held back: sent by `send` once the Retry-After is over (about `wait_s`), once
        however often it was held meanwhile (the kill switch and cancel all retry);
        `send` False: held again (another 429), waited out again."""
        kind, _, name = key.partition(":")
        owed = self._owed_cancels if kind == "cancel" else self._owed_sweeps
        if name in owed:
            return
        owed.add(name)

        async def later() -> None:
            try:
                delay = wait_s
                while self._running:
                    await asyncio.sleep(max(delay, self.rest.usage.backoff_s()) + OWED_MARGIN_S)
                    if await send():
                        return
                    delay = self.rest.usage.backoff_s()
            finally:
                owed.discard(name)

        self.in_background(later(), f"binance-owed-{key}")

    def _send_owed_cancel(self, order: TrackedOrder) -> Callable[[], Awaitable[bool]]:
        coid = order.client_order_id

        async def send() -> bool:
            if order.ended or self._orders.get(coid) is not order:
                return True  # ended meanwhile (filled, or a sweep cancelled it)
            try:
                await self.cancel(coid, "cancel held by Binance's rate limit, sent now")
            except CancelHeld:
                return False
            except (Banned, NotConnected) as exc:
                # Not sent (a ban began meanwhile, or the order path is down): the
                # cancel that was said to go out by itself did not.
                log.warning(
                    "binance.owed_cancel_not_sent",
                    extra={"broker": self.source, "client_order_id": coid, "error": str(exc)},
                )
                if order.status is OrderStatus.PENDING_CANCEL:
                    # Nothing is owed or sent any more: the row says it works (it read
                    # PENDING_CANCEL until a reconcile after the ban).
                    await self._restore_status(order, None, f"cancel not sent: {exc}")
                await self._tell(
                    f"the cancel of {coid} that Binance's rate limit held back could NOT be "
                    f"sent when its Retry-After ended ({exc}); {coid} is still working: "
                    "cancel it again, or in Binance's web site or app"
                )
                return True
            except Exception as exc:
                log.warning(
                    "binance.owed_cancel_failed",
                    extra={"broker": self.source, "client_order_id": coid, "error": str(exc)},
                )
                await self._tell(
                    f"the cancel of {coid} that Binance's rate limit held back was sent "
                    f"and failed: {exc}"
                )
            return True

        return send

    def _send_owed_sweep(self, symbol: str, reason: str) -> Callable[[], Awaitable[bool]]:
        async def send() -> bool:
            # (its followed orders' cancels journaled by the cancel all it was owed by)
            journaled = {
                o.client_order_id
                for o in self._orders.values()
                if o.symbol == symbol and o.status is OrderStatus.PENDING_CANCEL
            }
            cancelled, failed = await self._sweep_symbols([symbol], reason, journaled)
            why = failed.get(symbol)
            if why is None:
                log.info(
                    "binance.owed_sweep_sent",
                    extra={"broker": self.source, "symbol": symbol, "cancelled": cancelled},
                )
                return True
            if why.startswith(HELD):
                return False
            if why.startswith(BANNED):
                await self._tell(
                    f"cancel all of {symbol} that Binance's rate limit held back could NOT "
                    f"be sent when its Retry-After ended ({why}); its orders are still "
                    "working: cancel them again, or in Binance's web site or app"
                )
                return True
            await self._tell(
                f"cancel all of {symbol} that Binance's rate limit held back was sent and "
                f"failed: {why}; its orders may still be working"
            )
            return True

        return send

    async def _unreadable_cancel(
        self, order: TrackedOrder, body: Mapping[str, Any], exc: BaseException
    ) -> None:
        """Binance answered the cancel (200) with what this adapter cannot read: its
        outcome is unknown, as a cancel's lost answer (`_order_after_failed_cancel`).
        Binance is asked: CANCELED, the cancel is done (returns); ended otherwise, it
        came too late; still working, shown working again. Not known (the query failed
        or could not be read either): the order stays PENDING_CANCEL and is asked again
        in the background (`_recover_report`). Raised otherwise: never said as done."""
        coid = order.client_order_id
        what = f"cancel order {order.symbol} {coid}"
        self._bad_reply(what, coid, body, exc)
        lost = BrokerTimeout(
            f"{what}: Binance's answer could not be read ({exc}). Whether the order is "
            "cancelled is not known: its status is being checked."
        )
        try:
            found = await self._order_after_failed_cancel(order, lost, "unreadable")
        except UNREADABLE as again:
            self._reply_unresolved(order, again)
            self._settle_cancel_later(order, lost, "unreadable")
            found = None
        if found is not None and found.status is OrderStatus.CANCELED:
            return
        raise lost from exc

    async def _order_after_failed_cancel(
        self, order: TrackedOrder, exc: BrokerError, failed: str
    ) -> VenueOrder | None:
        """The cancel was refused or failed (`failed`: Binance unavailable, no answer,
        rate-limited) after the journal said PENDING_CANCEL: Binance is asked what the
        order is. Ended otherwise than cancelled (a fill): the cancel came too late
        (raised). Still working: its status goes back, so the desk never shows a cancel
        on its way that is not. The order as found; None when it cannot be read now (it
        stays PENDING_CANCEL)."""
        found = await self._settle_order(order, f"as Binance holds it after the cancel: {failed}")
        if found is None:
            self._settle_cancel_later(order, exc, failed)
        if found is None or found.status is OrderStatus.CANCELED:
            return found
        if found.status.is_terminal:
            raise _too_late(order, found, exc) from exc
        await self._restore_status(order, found.status, f"cancel {failed}: {exc}")
        return found

    def _settle_cancel_later(self, order: TrackedOrder, exc: BrokerError, failed: str) -> None:
        """A failed cancel whose order Binance could not be asked about now (the query,
        or its fills' query, failed: rate-limited as the cancel was): asked again in the
        background (`_recover_report`) and, still working, shown working again, as
        `_order_after_failed_cancel` does. It stayed PENDING_CANCEL on the desk, working
        at Binance, until some later report or reconnect. Not said working again while
        a cancel of it is owed (Binance's 429 held it: it goes out by itself, and its
        outcome settles the row)."""

        async def restore(found: VenueOrder) -> None:
            owed = order.client_order_id in self._owed_cancels or order.symbol in self._owed_sweeps
            if (
                not found.status.is_terminal
                and order.status is OrderStatus.PENDING_CANCEL
                and not owed
            ):
                # Said as the row leaves PENDING_CANCEL (the Log pane's line), maybe
                # minutes after the cancel's toast: what it means now, and what to do.
                await self._restore_status(
                    order,
                    found.status,
                    f"cancel {failed}: {str(exc).rstrip('. ')}; Binance answers again and "
                    f"holds the order {found.status}: it is still working, cancel it again",
                )

        reason = f"as Binance holds it after the cancel: {failed}"
        self._settle_later(order, reason, then=restore, checks=self._cancel_checks)

    async def _settle_order(self, order: TrackedOrder, reason: str) -> VenueOrder | None:
        """Ask the venue for the order and publish what the journal lacks: its fills
        (from myTrades, each once), then its status."""
        body = await self._ask_order(order)
        if body is None:
            return None
        venue = self._venue_order(body)
        taken = await self._replacement_found(order, body)
        if taken is Taken.HELD:
            return None  # its fills not read: asked again (`_take_replacement`)
        if taken is Taken.TAKEN:
            return self._venue_view(venue)
        if (
            venue.venue_order_id
            and order.venue_order_id is not None
            and venue.venue_order_id != order.venue_order_id
            and venue.venue_order_id not in order.retired
            and order.status is not None
            and not order.replacing
        ):
            return await self._take_unheard_replace(order, body, venue)
        if venue.venue_order_id and venue.venue_order_id not in order.retired:
            if venue.venue_order_id != order.venue_order_id:
                self._adopt_venue_id(order, venue.venue_order_id)
            if venue.filled_qty > 0 and not await self._publish_trades_of(
                order, venue.venue_order_id
            ):
                # Its fills not read: its status waits with them (FILLED went out with
                # no fill, the position unmoved, and the recovery took it as done).
                return None
            await self.publish_update(
                self._cumulative(order, translate.reply_update(body, reason=reason))
            )
        return self._venue_view(venue)

    async def _take_unheard_replace(
        self, order: TrackedOrder, body: Mapping[str, Any], venue: VenueOrder
    ) -> VenueOrder | None:
        """Binance, asked (`_settle_order`: a reconnect's catch-up, a recovery), holds
        another venue order under the client order id of an order this run follows,
        not of a modify of ours (none in flight): another program's cancelReplace kept
        the id while its reports were lost (the user stream down). Taken as
        `_check_cancelled_elsewhere` takes it, at its terms before its fills
        (`_take_replacement`), said "changed at Binance, not by this desk ...". Before,
        its fills and its end were published at the order's old terms: a buy filled
        above its limit, under the venue order the replace had cancelled. None: its
        fills could not be read (asked again, `_take_replacement`)."""
        cancelled = order.venue_order_id
        qty, price = dec(body.get("origQty", "0")), dec(body.get("price", "0"))
        stop = dec(body.get("stopPrice", "0"))
        before = (cancelled, order.quantity, order.limit_price, order.stop_price)
        self._adopt_venue_id(order, str(body["orderId"]))  # (`cancelled` retired)
        after = (
            order.carried_at_venue + qty,
            price if price > 0 else order.limit_price,
            stop if stop > 0 else order.stop_price,
        )
        change = self._changed_elsewhere(
            order.client_order_id, before, after, order.venue_order_id or ""
        )
        try:
            taken = await self._take_replacement(
                order, body, reason=f"{change}; Binance, asked, holds it {venue.status}"
            )
        except UNREADABLE:
            # Not taken: the order as it was, asked again.
            if cancelled is not None:
                order.retired.discard(cancelled)
            order.venue_order_id = cancelled
            _, order.quantity, order.limit_price, order.stop_price = before
            raise
        return self._venue_view(venue) if taken else None

    async def _ask_order(self, order: TrackedOrder) -> dict[str, Any] | None:
        """The order as Binance holds it under our client order id (its open venue
        order first); None when Binance has none or the query failed (logged)."""
        try:
            return await self.rest.get_order(order.symbol, self._at_binance(order))
        except BrokerError as exc:
            log.warning(
                "binance.query_failed",
                extra={
                    "broker": self.source,
                    "client_order_id": order.client_order_id,
                    "error": str(exc),
                },
            )
            return None

    async def _publish_trades_of(self, order: TrackedOrder, venue_order_id: str) -> bool:
        """The venue order's fills (myTrades), each once; False when Binance did not
        answer (logged)."""
        try:
            trades = await self.rest.my_trades(order.symbol, order_id=int(venue_order_id))
        except BrokerError as exc:
            log.warning("binance.trades_failed", extra={"broker": self.source, "error": str(exc)})
            return False
        for trade in trades:
            fill = translate.trade_fill(trade, order.client_order_id, self.name, self.account)
            await self._publish_fill_once(await self._with_fee_value(fill))
        return True

    def _require_order(self, client_order_id: str, *, cancel: bool = False) -> None:
        super()._require_order(client_order_id, cancel=cancel)
        order = self._orders.get(client_order_id)
        checking = client_order_id in self._replace_checks
        changing = order is not None and (order.replacing or order.amending is not None)
        if not cancel and checking and changing:
            # Its last change's outcome is unknown: a change built on terms that may be
            # gone could undo it (a cancel goes: Binance cancels whichever order works).
            raise BrokerError(
                f"{self.source}: the last modify of {client_order_id} got no answer and "
                "Binance is being asked what became of it; nothing was sent. Modify again "
                "once the order is no longer PENDING_REPLACE.",
                code="replace_unknown",
            )

    async def _modify(self, change: ModifyRequest) -> None:
        coid = change.client_order_id
        order = self._orders.get(coid)
        if order is None:
            raise UnknownOrder(f"{self.source} has no order {coid}: nothing was sent")
        previous = order.status
        held = self._journal_orders.get(coid)
        if (
            held is not None
            and not _share_known(held)
            and not order.retired
            and order.venue_order_id == held.venue_order_id
        ):
            # Met in Binance's listing after a restart, and the reconcile that asks what
            # of the journal's fills are the replacement's has not (failed): asked now.
            # Nothing is sent on a guess, nor while Binance's replacement has fills the
            # journal lacks (made while the desk was away: the reconcile journals them,
            # and the answer of a modify before it was taken without them).
            refusal = ""
            try:
                await self._learn_shares(coid)
            except BrokerError as exc:
                refusal = (
                    f"what of {coid} filled before Binance replaced it could not be asked ({exc})"
                )
            else:
                journaled = sum((q for q, _ in order.filled_by_venue_id.values()), ZERO)
                if order.filled > journaled:
                    refusal = (
                        f"Binance has {plain(order.filled - journaled)} of {coid} filled "
                        "that the journal does not hold yet (made while the desk was away)"
                    )
            if refusal:
                await self._change_put_back(order, previous, f"modify refused: {refusal}")
                raise BrokerError(
                    f"{self.source}: {refusal}; nothing was sent. Modify again once the "
                    "account is reconciled (the health pane shows it).",
                    code="not_reconciled",
                )
        unheard = self._unheard_fills(order) if held is not None else ZERO
        if unheard > 0:
            # Binance says the venue order has filled more than the journal's fills of
            # it and this run's (met in its listing, the reconcile not done journaling
            # what filled while the desk was away). Retired so, the replacement's answer
            # would read as an older report and be dropped: the journal at the old terms.
            refusal = (
                f"Binance has {plain(unheard)} of {coid} filled that the journal does not "
                "hold yet (made while the desk was away)"
            )
            await self._change_put_back(order, previous, f"modify refused: {refusal}")
            raise BrokerError(
                f"{self.source}: {refusal}; nothing was sent. Modify again once the "
                "account is reconciled (the health pane shows it).",
                code="not_reconciled",
            )
        # What has filled: the last status published, or the fills published since (a
        # fill goes out at once, its status may wait for the balances it moved: the
        # replacement would have bought the filled part again).
        # Binance's own word on the venue orders a replace retired counts too (a fill of
        # one still on its way: `carried_at_venue`).
        current, _ = order.filled_by_venue_id.get(order.venue_order_id or "", (ZERO, ZERO))
        filled = max(
            order.filled,
            sum((q for q, _ in order.filled_by_venue_id.values()), ZERO),
            order.carried_at_venue + current,
        )
        quantity = change.quantity if change.quantity is not None else order.quantity
        request = OrderRequest(
            client_order_id=coid,
            broker=self.name,
            account=self.account,
            instrument=order.key,
            side=order.side,
            order_type=order.order_type,
            quantity=quantity - filled if quantity > filled else quantity,
            limit_price=change.limit_price if change.limit_price is not None else order.limit_price,
            stop_price=change.stop_price if change.stop_price is not None else order.stop_price,
            tif=order.tif,
            post_only=order.post_only,
        )
        try:
            if quantity <= filled:
                raise OrderValidationError(
                    [
                        ValidationIssue(
                            "quantity",
                            "above_filled",
                            f"{plain(quantity)} is not above the {plain(filled)} already filled",
                        )
                    ]
                )
            instrument = await self.instrument(order.key)
            self.check_request(request, instrument, None)
        except OrderValidationError as exc:
            await self._change_put_back(order, previous, f"modify refused: {exc}")
            raise
        if self._amends(order, change, quantity, filled):
            await self._amend(order, previous, quantity)
            return
        refusal = await self._replace_refusal(order, request, filled, instrument)
        if refusal:
            # STOP_ON_FAILURE, Binance cancels first: its refusal of the new order then
            # left nothing working (-2021), the trader's stop-loss gone with it.
            await self._change_put_back(order, previous, f"modify refused: {refusal}")
            raise OrderRejected(f"modify of {coid} not sent: {refusal}", code="would_lose_order")
        # That check asks Binance (its last trade, the funds): trading may have gone
        # HALTED, or the claim lapsed, meanwhile; asked again, as after the journal's.
        await self._refuse_change_if_held(coid)
        params = translate.order_params(request, order.symbol, response_type="FULL")
        params.update(
            {
                "cancelReplaceMode": "STOP_ON_FAILURE",
                # (the order Binance holds under another id after an amend elsewhere:
                # that id; the replacement takes ours, `newClientOrderId`)
                "cancelOrigClientOrderId": self._at_binance(order),
            }
        )
        old_id = order.venue_order_id
        sizing: Sizing | None = None
        if old_id is not None:
            order.retired.add(old_id)
            # Remembered with the modify in flight: whichever path takes the
            # replacement judges it against this (`_check_sized`).
            sizing = Sizing(old_id, frozenset(order.retired), filled, quantity)
        order.sizing = sizing
        order.replacing = True
        try:
            body = await self.rest.cancel_replace(params)
        except BrokerTimeout as exc:
            self.count_error("replace")
            if sizing is not None:
                sizing.in_flight = False
            self._check_sized_later(order)  # the stream may have taken it already
            self._check_replace_later(order, old_id, exc)
            raise
        except GuardRefused as exc:
            # Refused -1021 (nothing done), then not sent again: the order as it was.
            order.replacing = False
            if order.sizing is sizing:
                order.sizing = None
            if old_id is not None:
                order.retired.discard(old_id)
            await self._change_put_back(order, previous, f"modify refused: {exc}")
            raise
        except BrokerError as exc:
            if order.sizing is sizing:
                order.sizing = None  # Binance placed no replacement
            await self._replace_failed(order, old_id, exc)
            raise
        if sizing is not None:
            sizing.in_flight = False
        before = (order.venue_order_id, order.quantity, order.limit_price, order.stop_price)
        placed = body.get("newOrderResponse") or {}
        try:
            if old_id is not None:
                # What the old venue order filled in all, as Binance cancelled it: more
                # than `filled` when a fill of it was still on its way here.
                cancelled = body.get("cancelResponse") or {}
                if str(cancelled.get("orderId", old_id)) == old_id:
                    order.note_said(old_id, dec(cancelled.get("executedQty", "0")), final=True)
            await self._take_replacement(order, placed)
        except UNREADABLE as exc:
            raise self._unreadable_replace(order, old_id, body, exc, before) from exc
        await self._check_sized(order)

    # -- amend keepPriority: a smaller quantity, in place ----------------------------------

    def _amends(
        self, order: TrackedOrder, change: ModifyRequest, quantity: Decimal, filled: Decimal
    ) -> bool:
        """Whether `change` goes as an order amend keepPriority rather than a
        cancelReplace: it lowers the quantity alone (its price and stop, when given,
        the order's), to above what has filled, of the venue order the order works as,
        on a symbol whose exchangeInfo says `amendAllowed`. Binance takes nothing else
        in place ("reduce the quantity of the order"). Not while the last replace's
        sizing is unsettled (`_check_sized`: what filled under the venue orders it
        retired, from which the amend's venue quantity is worked out, may be more than
        heard here)."""
        venue_id = order.venue_order_id
        return (
            self._amendable.get(order.key, False)
            and change.quantity is not None
            and change.limit_price in (None, order.limit_price)
            and change.stop_price in (None, order.stop_price)
            and filled < quantity < order.quantity
            and order.quote_quantity is None
            and order.sizing is None
            and venue_id is not None
            and venue_id not in order.retired
        )

    async def _amend(
        self, order: TrackedOrder, previous: OrderStatus | None, quantity: Decimal
    ) -> None:
        """The order down to `quantity` (its total, across replaces) by an order amend
        keepPriority: the venue order keeps its id, our client order id (sent as
        `newClientOrderId`) and its place among the orders at its price. Nothing is
        cancelled, so nothing is re-judged (a triggered stop's stop, the funds: an amend
        only frees). Its answer (or its executionReport, `x` REPLACED, whichever comes
        first) is journaled as the desk's other modifies are (`_take_amend`).

        Refused (-2038 and the matching engine's reason, -1013, a 429, nothing sent):
        Binance left the order as it was; the journal's status goes back to it with the
        reason, and `OrderRejected` says it (a refusal that sent nothing, `RateLimited`
        or `NotConnected`, is raised as it came). Refused as one that "would change no
        state": the order is at the quantity asked already, an earlier send of this
        amend took it (aiohttp sends a PUT again, once, on a dropped kept-alive
        connection), so it is asked and taken. No answer (`BrokerTimeout`): Binance
        may have amended it; it stays PENDING_REPLACE, another change is refused, and
        Binance is asked (`_check_amend`)."""
        coid = order.client_order_id
        venue_id = order.venue_order_id
        assert venue_id is not None  # (`_amends`)
        venue_qty = quantity - order.carried_at_venue
        if any(held.client_order_id == coid for _, held in self._held):
            # Its last status (a replace's take) waits for its account event, this
            # modify's PENDING_REPLACE a repeat behind it (`replace_after_held`): they go
            # first, then the amend, whose answer is journaled at once (`_journal_amend`).
            # Flushed after that answer, they put the order back to PENDING_REPLACE with
            # nothing to end it (the journal's last word on an amend taken).
            await self._flush_held(None)
        # Those writes, or the modify's own asks before it (what of the journal's fills
        # are the replacement's, `_learn_shares`; the instrument), may have waited while
        # trading went HALTED or the claim lapsed: asked again, as after the change's own
        # writes. Only after the held writes, the amend went (PUT) after HALTED.
        await self._refuse_change_if_held(coid)
        params = translate.amend_params(order.symbol, venue_id, coid, venue_qty)
        order.amending = venue_qty
        try:
            body = await self.rest.amend_keep_priority(params)
        except BrokerTimeout as exc:
            self.count_error("amend")
            self._check_amend_later(order, venue_id, venue_qty, exc)
            raise
        except AmendRefused as exc:
            if not exc.no_change:
                await self._amend_refused(order, previous, exc)
            # At the quantity asked already: this amend's first send took it (aiohttp
            # sent the PUT again after a dropped connection), its report maybe too.
            if order.quantity == quantity:
                return  # (its report took it: the order was larger before)
            if await self._amend_found(order, venue_id, venue_qty, await self._ask_order(order)):
                return
            lost = BrokerTimeout(
                f"{exc} Binance may have amended it with an earlier send: its status is "
                "being checked; do not send it again."
            )
            self._check_amend_later(order, venue_id, venue_qty, lost)
            raise lost from exc
        except BrokerError as exc:
            await self._amend_refused(order, previous, exc)
        try:
            amended = translate.Amended.of_answer(body)
            # (our id again: sent as newClientOrderId)
            self._name_at_binance(coid, amended.venue_order_id, amended.client_order_id)
        except UNREADABLE as exc:
            what = f"amend {order.symbol} {coid}"
            self._bad_reply(what, coid, body, exc)
            lost = BrokerTimeout(
                f"{what}: Binance's answer could not be read ({exc}). The order works at "
                "Binance, amended or not: its status is being checked; do not send it again."
            )
            self._check_amend_later(order, venue_id, venue_qty, lost)
            raise lost from exc
        await self._take_amend(order, amended)

    async def _amend_refused(
        self, order: TrackedOrder, previous: OrderStatus | None, exc: BrokerError
    ) -> NoReturn:
        """The amend refused, or not sent: Binance left the order as it was. The
        journal's status goes back from PENDING_REPLACE with why; raised as
        `OrderRejected` saying so (not sent: `RateLimited`, `NotConnected`, as it came)."""
        order.amending = None
        works = f"The order works unchanged (quantity {plain(order.quantity)})."
        await self._change_put_back(order, previous, f"modify failed: {exc} {works}")
        if isinstance(exc, RateLimited | NotConnected):
            raise exc  # (nothing was sent: its message says so)
        raise OrderRejected(
            f"modify of {order.client_order_id} not done: {exc} {works}", code=exc.code
        ) from exc

    async def _amend_found(
        self,
        order: TrackedOrder,
        venue_id: str,
        venue_qty: Decimal,
        body: Mapping[str, Any] | None,
        reason: str = "",
    ) -> bool:
        """Whether `body` (the order as Binance, asked, holds it) shows the amend to
        `venue_qty` taken: then taken (`_take_amend`)."""
        if body is None:
            return False
        try:
            found = translate.Amended.of_order(body)
        except UNREADABLE:
            return False
        if found.venue_order_id != venue_id or found.quantity != venue_qty:
            return False
        self._name_at_binance(order.client_order_id, found.venue_order_id, found.client_order_id)
        await self._take_amend(order, found, reason)
        return True

    async def _take_amend(
        self,
        order: TrackedOrder,
        amended: translate.Amended,
        reason: str = "",
        *,
        renamed: str | None = None,
    ) -> None:
        """Binance amended the order's venue order in place (an amend's answer, its
        executionReport `x` REPLACED, or a query after a lost answer): its quantity is
        the carried part and the venue order's new one, journaled once as the modify's
        answer ("modify accepted", the status back from PENDING_REPLACE, as the
        cancelReplace's take journals its terms) or, when the journal has left
        PENDING_REPLACE already (a fill, the other of the two), as an amend of the
        status it has. An amend no desk of ours sent (the Binance app) is journaled
        so too ("amended at Binance, not by this desk"), with the client order id Binance
        gave it when that program sent none (`renamed`: the order is followed by its
        venue order id, and cancelled under that id). Amended to no more than had
        filled at Binance, the order ended (EXPIRED): that end goes out as any other,
        after its fills."""
        if amended.venue_order_id != order.venue_order_id or order.ended:
            return  # (a venue order a replace retired since, or an order ended)
        # Ours: the amend in flight (`amending`), to the venue quantity it asked.
        # Another program's amend meanwhile, to a quantity of its own, is not: read as
        # ours it said "modify accepted" at that program's quantity, and ours after it
        # "amended at Binance, not by this desk". (One to the very quantity asked leaves
        # the order as ours would, and ours then changes nothing: taken as ours.)
        ours = order.amending is not None and amended.quantity == order.amending
        if ours:
            order.amending = None
        # (its answer or a query name the order as Binance does now: ours is journaled)
        amended = dataclasses.replace(amended, client_order_id=order.client_order_id)
        quantity = order.carried_at_venue + amended.quantity
        known = order.amended
        if (
            known is not None
            and known[0] == amended.venue_order_id
            and amended.quantity >= known[1]
            and not amended.status.is_terminal
        ):
            # Taken already: an amend's answer and its report both come, in either
            # order, and the first one's journal write may still be waiting (on the
            # bus, on `_publish_lock`), the status still PENDING_REPLACE: the second,
            # read as another program's, was journaled after it ("amended at Binance,
            # not by this desk: quantity 0.8 -> 0.8"). Or older than one taken (an
            # amend only lowers): it would put the quantity back up.
            if ours:
                # Ours, answered after a later amend of another program was taken (its
                # report ahead of ours): the modify's PENDING_REPLACE ends, the order
                # at what that amend left it.
                await self._journal_amend(
                    order,
                    amended,
                    f"modify accepted: amended in place at Binance to {plain(quantity)}, "
                    "then by another program (not this desk) to "
                    f"{plain(normalized(order.quantity))}",
                    quantity=order.quantity,
                    pending=False,
                )
            return
        order.amended = (amended.venue_order_id, amended.quantity)
        if not reason and amended.status.is_terminal:
            reason = (
                f"amended at Binance to {plain(quantity)}, no more than had filled there: "
                f"the order is {amended.status}"
            )
        if not reason and ours:
            reason = "modify accepted: amended in place at Binance (its place in the queue kept)"
        elif not reason:
            reason = (
                "amended at Binance, not by this desk: quantity "
                f"{plain(normalized(order.quantity))} -> {plain(normalized(quantity))}"
            )
            if renamed is not None:
                reason += (
                    f"; client order id now {renamed} (Binance gave it a new one: this desk "
                    f"follows it by its venue order id {amended.venue_order_id} and "
                    "cancels it under that id)"
                )
        if amended.status.is_terminal:
            heard, _ = order.filled_by_venue_id.get(amended.venue_order_id, (ZERO, ZERO))
            if amended.executed > heard:
                await self._publish_trades_of(order, amended.venue_order_id)
            await self.publish_update(self._cumulative(order, amended.update(reason)))
            return
        changed = quantity != order.quantity
        order.quantity = quantity
        if order.status is OrderStatus.PENDING_REPLACE or changed:
            await self._journal_amend(
                order, amended, reason, quantity=quantity, pending=order.amending is not None
            )

    async def _journal_amend(
        self,
        order: TrackedOrder,
        amended: translate.Amended,
        reason: str,
        *,
        quantity: Decimal,
        pending: bool,
    ) -> None:
        """The order at its terms after an amend (`quantity`: its total then), journaled
        as a report of the venue (kept if the bus refuses it): its status back from the
        modify's PENDING_REPLACE to the venue's (not with `pending`: an amend of ours
        was still in flight when another program's was taken, which is not its answer),
        or, the journal past PENDING_REPLACE, the status it has (the OMS takes a report
        of the same status with other terms as an amend). Past the gate (`is_news`
        judges statuses, and an amend keeps the status and the venue id). `quantity`
        and `pending` are as the take judged them: a take waits here behind the writes
        before it (another amend's among them), and read here, they were the next
        one's."""
        async with self._publish_lock:
            status = order.status
            if status is None or status.is_terminal:
                return
            update = self._cumulative(order, amended.update(reason))
            filled = update.filled_qty or ZERO
            if status is OrderStatus.NEW or (status is OrderStatus.PENDING_REPLACE and not pending):
                status = OrderStatus.PARTIALLY_FILLED if filled > 0 else OrderStatus.NEW
            update = update.model_copy(
                update={
                    "status": status,
                    "quantity": quantity,
                    "limit_price": order.limit_price,
                    "stop_price": order.stop_price,
                }
            )
            local = status in LOCAL_STEPS
            if local:
                await super().publish_update(update)
            else:
                await super().publish_report(update)
            order.record(update, local=local)

    def _check_amend_later(
        self, order: TrackedOrder, venue_id: str, venue_qty: Decimal, exc: BrokerTimeout
    ) -> None:
        """Ask Binance, in the background, whether an amend whose answer was lost was
        taken (`_check_amend`); a later change of the order waits for the answer
        (`_require_order`)."""
        coid = order.client_order_id
        task = asyncio.create_task(
            self._check_amend(order, venue_id, venue_qty, exc), name=f"binance-amend-check:{coid}"
        )
        self._replace_checks[coid] = task
        self._background.add(task)

        def done(finished: asyncio.Task[None]) -> None:
            self._background.discard(finished)
            if self._replace_checks.get(coid) is finished:
                del self._replace_checks[coid]
            if not finished.cancelled() and (error := finished.exception()) is not None:
                log.error(
                    "binance.amend_check_failed",
                    extra={"broker": self.source, "client_order_id": coid, "error": repr(error)},
                )

        task.add_done_callback(done)

    async def _check_amend(
        self, order: TrackedOrder, venue_id: str, venue_qty: Decimal, exc: BrokerTimeout
    ) -> None:
        """An amend whose answer was lost (no answer in time, a connection cut after
        sending, a 5xx, an answer not read): Binance amended the venue order or did not,
        and may still while the request's receive window lasts. Either way the order
        works at Binance, under the same venue id. It stays PENDING_REPLACE until the
        stream's REPLACED report takes it (`_on_report`) or Binance, asked by our client
        order id, shows which: the venue order at `venue_qty`, amended (taken as the
        answer); ended, its end (`_settle_order`); still at another quantity once
        `unknown_order_window_s` has passed, not amended (the status goes back, with
        why). Asked every `replace_check_pause_s` (doubling); unanswered past the window
        and `replace_margin_s`, said unresolved and asked every `recover_later_s`."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.unknown_order_window_s
        said_at = deadline + self.replace_margin_s
        said = False
        delay, most = self.replace_check_pause_s
        coid = order.client_order_id
        while order.amending is not None and not order.ended and self._running:
            body = await self._ask_order(order)
            if body is not None and order.amending is not None and not order.ended:
                try:
                    venue = self._venue_order(body)
                except UNREADABLE:
                    venue = None  # (asked again)
                past = loop.time() >= deadline
                if venue is not None and venue.venue_order_id == venue_id:
                    if venue.status.is_terminal:
                        order.amending = None
                        await self._settle_order(order, f"modify failed: {exc}")
                        break
                    if await self._amend_found(
                        order,
                        venue_id,
                        venue_qty,
                        body,
                        "modify accepted: amended in place at Binance (its answer was lost; "
                        "Binance, asked, works it amended)",
                    ):
                        break
                    if past:
                        order.amending = None
                        await self._change_put_back(
                            order,
                            None,
                            f"modify failed: {exc}; Binance, asked, did not amend it: the "
                            "order works unchanged",
                        )
                        break
            if not said and loop.time() >= said_at:
                said = True
                await self._say_unresolved(
                    order,
                    "amend_unresolved",
                    f"order {coid}: its modify (an amend) got no answer and Binance has not "
                    "said whether it took it: it works at its old quantity or the new one; "
                    f"it reads {order.status} until Binance says, asked every "
                    f"{self.recover_later_s:g} s",
                )
            if said:
                await self._pause(self.recover_later_s, lambda: order.amending is None)
            else:
                await asyncio.sleep(delay)
                delay = min(delay * 2, most)
        if said and self._running:
            await self._say_settled(order, "its lost modify (an amend) is settled")

    async def _replace_refusal(
        self, order: TrackedOrder, request: OrderRequest, filled: Decimal, instrument: Instrument
    ) -> str:
        """Why the cancelReplace of `request` would lose the order, as far as this
        adapter can tell before sending it ("" when it goes). Binance cancels the
        order, then places the new one, and refuses it for what a new order is refused
        for: a stop its last trade is through ("Order would trigger immediately.": a
        triggered stop's replacement is a new stop, refused while the market is
        through it) and funds the account lacks (what the new order locks, against the
        asset's free balance and what the old order frees). Each as Binance judges it:
        its last trade asked just before (`_last_trade`); the free balance as the
        account stream last said it. The desk's modify dialog refuses both first
        (`ui.orders.change_problems`); this is the last line. And a post-only order
        (LIMIT_MAKER) at a price that takes on Binance's book, asked just before
        (`_post_only_refusal`): its replacement is refused ("Order would immediately
        match and take.") after the cancel; a post-only buy repriced to the ask was
        lost so."""
        stop = request.stop_price
        price = instrument.price_text
        # (what does go: `_amends`)
        alone = (
            "; a smaller quantity alone goes (amended)" if self._amendable.get(order.key) else ""
        )
        takes = await self._post_only_refusal(order, request, instrument)
        if takes:
            return f"{takes}{alone}"
        if request.order_type.has_stop_price and stop is not None:
            last, unread = await self._last_trade(order)
            if last is not None and request.order_type.stop_reached(request.side, stop, last):
                what = "its stop" if order.triggered else "the stop"
                triggered = " has triggered and" if order.triggered else ""
                works = ""
                if order.triggered and order.limit_price is not None:
                    works = f" (a limit at {price(order.limit_price)})"
                return (
                    f"{what} {price(stop)}{triggered} is through Binance's last trade "
                    f"{price(last)}: Binance would cancel the order and refuse its "
                    'replacement, a new stop ("Order would trigger immediately."), and '
                    f"nothing would be working. It works as it was{works}; to work at "
                    "other terms, cancel it and place a LIMIT (or a stop past the last trade)"
                    f"{alone}"
                )
            if last is None and order.triggered:
                return (
                    f"its stop {price(stop)} has triggered and Binance's last trade could "
                    f"not be read ({unread}): its replacement, a new stop, would be refused "
                    "after the order was cancelled if the market is still through it. It "
                    f"works as it was; modify again, or cancel it and place a LIMIT{alone}"
                )
        return self._funds_refusal(order, request, filled, instrument)

    async def _post_only_refusal(
        self, order: TrackedOrder, request: OrderRequest, instrument: Instrument
    ) -> str:
        """Why a post-only replacement would be refused at Binance's book now ("" when
        it rests, is not post-only, or the book could not be read: Binance judges it).
        Its top asked just before (depth, 5 of the minute's weight), not the market
        stream's, which may be behind."""
        limit = request.limit_price
        if not request.post_only or limit is None:
            return ""
        buy = request.side is Side.BUY
        try:
            book = await self.rest.depth(order.symbol, limit=5)
            levels = book["asks" if buy else "bids"]
            far = Decimal(str(levels[0][0])) if levels else None
        except (BrokerError, KeyError, IndexError, TypeError, ArithmeticError, ValueError) as exc:
            log.warning(
                "binance.post_only_book_unread",
                extra={"client_order_id": order.client_order_id, "error": repr(exc)},
            )
            return ""
        if far is None or not request.side.takes(limit, far):
            return ""
        price = instrument.price_text
        basis = "ask" if buy else "bid"
        return (
            f"post-only at {price(limit)} takes at Binance's {basis} {price(far)}: Binance "
            'would cancel the order and refuse its replacement ("Order would immediately '
            'match and take."), and nothing would be working. It works as it was; price '
            "it to rest, or cancel it and place a LIMIT without post-only"
        )

    async def _last_trade(self, order: TrackedOrder) -> tuple[Decimal | None, str]:
        """Binance's last trade of the order's symbol, asked now (its 24 h ticker, 2 of
        the minute's weight), else the market stream's; (None, why) when neither is
        known."""
        unread = ""
        try:
            rows = await self.rest.ticker_24h([order.symbol])
            for row in rows:
                if str(row.get("symbol", "")) == order.symbol:
                    said = last_of_ticker(row)
                    if said is not None:
                        return said[0], ""
            unread = "no trade in its ticker"
        except BrokerError as exc:
            unread = str(exc)
        except (BadPayload, ArithmeticError, TypeError, ValueError) as exc:
            unread = f"unreadable ticker: {exc}"
        streamed = self.market.last_trade(order.key) if self.market is not None else None
        return streamed, unread

    def _funds_refusal(
        self, order: TrackedOrder, request: OrderRequest, filled: Decimal, instrument: Instrument
    ) -> str:
        """The new order locks more of its asset than is free once the old one is
        cancelled ("" when it does not, or the balance is not known): a buy locks its
        quantity at its price (a stop-market's at its stop), a sell its quantity. What
        the old order frees counts only as Binance surely holds it: its remaining
        quantity at its limit price (a sell: the quantity), no more than is locked."""
        quantity = request.quantity
        if quantity is None:
            return ""
        left = max(order.quantity - filled, ZERO)
        if request.side is Side.BUY:
            price = request.limit_price if request.limit_price is not None else request.stop_price
            if price is None or price <= 0:
                return ""
            asset, need = instrument.quote_currency, quantity * price
            frees = left * order.limit_price if order.limit_price is not None else ZERO
        else:
            price, asset, need, frees = None, instrument.base_currency, quantity, left
        balance = self._last_balances.get(asset)
        if balance is None:
            return ""
        frees = max(min(frees, balance.locked), ZERO)
        if need <= balance.available + frees:
            return ""
        most = balance.available + frees
        if price is not None:
            most = most / price
        most = filled + instrument.round_qty(most)
        return (
            f"the new order locks {_amount(need)} {asset}; {_amount(balance.available)} "
            f"{asset} is free and the order holds {_amount(frees)} "
            f"({_amount(balance.available + frees)} in all): Binance would cancel the order "
            "and refuse the new one for want of funds, and nothing would be working. It "
            f"works as it was; change it to a quantity of at most {_amount(most)}, or add "
            "funds first"
        )

    def _check_sized_later(self, order: TrackedOrder, after_s: float = 0.0) -> None:
        """`_check_sized` in the background (from the stream's reader, or a cancel's
        path, which must not wait on a query), after `after_s`."""
        sizing = order.sizing
        if sizing is None or sizing.in_flight or sizing.new_venue_id is None:
            return

        async def check() -> None:
            if after_s > 0:
                await asyncio.sleep(after_s)
            await self._check_sized(order, pause_s=after_s)

        self.in_background(check(), f"binance-sized-check:{order.client_order_id}")

    async def _check_sized(self, order: TrackedOrder, pause_s: float = 0.0) -> None:
        """The one check of a modify's replacement against what it was sized from,
        whichever path took it: the cancelReplace's answer (`_modify`), the background
        check after a lost answer (`_check_replace`), a query's, a cancel's or a
        sweep's answer (`_replacement_found`), the stream's report (`_on_report`).
        Only the read answer ran it before: a lost answer's replacement was taken
        sized from a stale count and left working (0.7 filled and 0.6 working, 1.3
        could fill of 1.0 asked, nothing said).

        The old venue order's filled quantity is Binance's word on it: the answer's
        `cancelResponse.executedQty`, its final report's cumulative quantity `z`, or,
        when neither is here once the replacement is taken, its trades asked now
        (`_ask_sized_from`; asked again in the background when not answered). Larger
        than the count the replacement was sized from (`TrackedOrder.sizing`), the
        replacement is too big by the difference: `_mend_oversized`, once."""
        sizing = order.sizing
        if sizing is None or sizing.in_flight or sizing.new_venue_id is None:
            return  # no modify to judge, its answer still awaited, or nothing taken
        known = sizing.old_venue_id in order.said_final
        fills: list[Fill] = []
        if order.excess(sizing) <= 0 and not known:
            found = await self._ask_sized_from(order, sizing)
            if found is None:
                if order.sizing is sizing and self._running:
                    first, most = self.recover_pause_s
                    self._check_sized_later(order, min(max(pause_s * 2, first), most))
                return
            fills, known = found, True
        excess = order.excess(sizing)
        settled = order.sizing is sizing and (excess > 0 or known)
        if settled:
            order.sizing = None  # once
        mend = settled and excess > 0
        if mend and sizing.new_venue_id == order.venue_order_id:
            # What can fill: what filled under the retired venue orders, as Binance
            # holds it, and the replacement. Journaled before those fills: taken from
            # the stale count, the journal's quantity was below them (an overfill).
            quantity = order.carried_at_venue + sizing.placed
            if quantity > order.quantity:
                order.quantity = quantity
                await self._journal_terms(order, "the modify raced a fill: Binance's terms")
        for fill in fills:
            await self._publish_fill_once(await self._with_fee_value(fill))
        if not mend:
            return
        await self._mend_oversized(order, sizing.asked, excess, plain(sizing.placed))
        # The fills Binance says were made and this adapter has not heard (their
        # reports late, or lost): asked now, each journaled once, after the cancel.
        for venue_id in sorted(sizing.covers):
            heard, _ = order.filled_by_venue_id.get(venue_id, (ZERO, ZERO))
            if heard < order.said_filled.get(venue_id, ZERO):
                await self._publish_trades_of(order, venue_id)

    async def _ask_sized_from(self, order: TrackedOrder, sizing: Sizing) -> list[Fill] | None:
        """What the venue order a modify retired filled in all, asked of Binance (its
        trades: it has ended, as Binance placed the replacement only once it was
        cancelled) and noted as its word: its fills, for the caller to journal (each
        once). None when not answered (logged)."""
        old_id = sizing.old_venue_id
        try:
            trades = await self.rest.my_trades(order.symbol, order_id=int(old_id))
            fills = [
                translate.trade_fill(trade, order.client_order_id, self.name, self.account)
                for trade in trades
            ]
        except (BrokerError, *UNREADABLE) as exc:
            log.warning(
                "binance.sized_from_unread",
                extra={
                    "broker": self.source,
                    "client_order_id": order.client_order_id,
                    "venue_order_id": old_id,
                    "error": str(exc),
                },
            )
            return None
        order.note_said(old_id, sum((f.quantity for f in fills), ZERO), final=True)
        return fills

    async def _journal_terms(self, order: TrackedOrder, reason: str) -> None:
        """The order's terms as this adapter holds them now, journaled as an amend of
        the status the journal has (the OMS takes a report of the same status with
        other terms), not as a step."""
        async with self._publish_lock:
            status = order.status
            if status is None or status.is_terminal:
                return
            if status is OrderStatus.NEW and (
                order.filled > 0 or any(q for q, _ in order.filled_by_venue_id.values())
            ):
                # As the journal holds it: a NEW with fills reads PARTIALLY_FILLED there.
                status = OrderStatus.PARTIALLY_FILLED
            update = OrderUpdate(
                client_order_id=order.client_order_id,
                status=status,
                venue_order_id=order.venue_order_id,
                quantity=order.quantity,
                limit_price=order.limit_price,
                stop_price=order.stop_price,
                reason=reason,
            )
            if status in LOCAL_STEPS:
                await super().publish_update(update)
            else:
                await super().publish_report(update)

    async def _mend_oversized(
        self, order: TrackedOrder, asked: Decimal, excess: Decimal, placed_qty: str
    ) -> None:
        """A modify raced a fill: Binance filled `excess` more of the old venue order than
        this adapter had heard when it sized the replacement (the fill's report on its
        way), so the replacement Binance works is `excess` too big and the order can fill
        more than the `asked` quantity. The journal carries what Binance holds (the
        take's quantity: what filled there plus the replacement). Where the symbol takes
        an order amend keepPriority, the replacement is amended down to what is left of
        `asked` (`_mend_by_amend`): the rest keeps working, in its place, and an amend
        caps the venue order's own quantity, fills still on their way included (one
        that leaves nothing ends it). Else, or the amend refused or unanswered, the
        replacement is cancelled at once, over REST, and nothing is placed in its
        place: any new order would be sized from a count that can be stale again, and
        a cancel is the one step after which nothing more can fill. Said to the trader
        in the health (the broker's message line and the Log pane), counted
        (`replace_oversized`) and logged; a cancel that fails is said with the order's
        terms, to cancel it at Binance."""
        coid = order.client_order_id
        can_fill = order.quantity
        self.count_error("replace_oversized")
        what = (
            f"order {coid}: Binance had filled {plain(excess)} more of it than this desk had "
            f"heard when the modify went, so the changed order it placed ({placed_qty}) lets "
            f"{plain(can_fill)} fill of the {plain(asked)} asked"
        )
        log.error(
            "binance.replace_oversized",
            extra={
                "broker": self.source,
                "client_order_id": coid,
                "excess": str(excess),
                "asked": str(asked),
                "can_fill": str(can_fill),
            },
        )
        if order.ended:
            await self._tell(f"{what}; it has ended {order.last_status} already")
            return
        if await self._mend_by_amend(order, asked, what):
            return
        await self._tell(f"{what}: it is being cancelled")
        await self._flush_held(None)  # its take's status first, then the cancel
        loop = asyncio.get_running_loop()
        give_up = loop.time() + self.unknown_order_window_s
        delay, most = self.recover_pause_s
        sent = False

        def ended() -> bool:  # (read afresh: the order may end while a cancel waits)
            return order.ended

        while not sent:
            if ended():
                await self._tell(f"{what}; it ended {order.last_status} before its cancel went")
                return
            try:
                await self.cancel(coid, reason="modify raced a fill: the changed order was too big")
            except CancelHeld as exc:
                # Owed (`_cancel`): it goes out by itself when the Retry-After is over.
                await self._tell(f"{what}; its cancel {exc}")
                return
            except (NotConnected, BrokerTimeout) as exc:
                # What may pass: a lost modify's answer leaves the REST link down a
                # moment, and the cancel was refused before sending; the replacement
                # worked on, too big. Sent again until Binance answers (or the order
                # ends), for as long as Binance may still act on a request.
                if ended() or not self._running or loop.time() + delay > give_up:
                    await self._tell(
                        f"{what}; its cancel failed ({exc}): cancel it, or reduce it at Binance"
                    )
                    return
                log.warning(
                    "binance.replace_oversized_cancel_again",
                    extra={"broker": self.source, "client_order_id": coid, "error": str(exc)},
                )
                await self._pause(delay, ended)
                delay = min(delay * 2, most)
                continue
            except BrokerError as exc:
                await self._tell(
                    f"{what}; its cancel failed ({exc}): cancel it, or reduce it at Binance"
                )
                return
            sent = True
        # What filled at Binance: the retired venue orders as it said, and the
        # replacement's part of the order's last status (its cancel's reply).
        filled = order.carried_at_venue + max(order.filled - order.carried[0], ZERO)
        await self._tell(
            f"order {coid}: the changed order Binance placed too big is cancelled; "
            f"{plain(filled)} filled of the {plain(asked)} asked, nothing of it works "
            "now: place the rest again if you want it"
        )

    async def _mend_by_amend(self, order: TrackedOrder, asked: Decimal, what: str) -> bool:
        """`_mend_oversized` by an order amend keepPriority: the replacement (the venue
        order the order works as) down to what is left of `asked` once what filled under
        the venue orders it replaced, as Binance said it, is counted. True: amended (or
        ended by it: nothing was left), said. False, for the cancel to go: no amend on
        the symbol, nothing of `asked` left above the replacement's fills heard here,
        or the amend refused or unanswered (a cancel ends whichever Binance works)."""
        coid = order.client_order_id
        venue_id = order.venue_order_id
        venue_qty = asked - order.carried_at_venue
        heard, _ = order.filled_by_venue_id.get(venue_id or "", (ZERO, ZERO))
        if (
            not self._amendable.get(order.key, False)
            or venue_id is None
            or venue_id in order.retired
            or venue_qty <= heard
            or asked >= order.quantity
        ):
            return False
        await self._tell(f"{what}: it is being reduced to the {plain(asked)} asked (amended)")
        await self._flush_held(None)  # its take's status first, then the amend
        params = translate.amend_params(order.symbol, venue_id, coid, venue_qty)
        order.amending = venue_qty
        try:
            body = await self.rest.amend_keep_priority(params)
            amended = translate.Amended.of_answer(body)
            self._name_at_binance(coid, amended.venue_order_id, amended.client_order_id)
        except (BrokerError, *UNREADABLE) as exc:
            order.amending = None
            log.warning(
                "binance.replace_oversized_amend_failed",
                extra={"broker": self.source, "client_order_id": coid, "error": str(exc)},
            )
            await self._tell(f"order {coid}: its amend failed ({exc})")
            return False
        await self._take_amend(
            order, amended, "modify raced a fill: the changed order amended to the quantity asked"
        )
        if order.ended:
            await self._tell(
                f"order {coid}: the changed order Binance placed too big is amended to the "
                f"{plain(asked)} asked and has ended {order.last_status}: all of it had filled"
            )
        else:
            await self._tell(
                f"order {coid}: the changed order Binance placed too big is amended to the "
                f"{plain(asked)} asked; the rest of it works, in its place"
            )
        return True

    @staticmethod
    def _unheard_fills(order: TrackedOrder) -> Decimal:
        """What Binance says `order`'s working venue order has filled (the order's
        filled quantity less what filled under the venue orders a replace retired)
        beyond the fills counted under it: a modify retiring it would carry too little,
        and its answer would read as an older report (0 when none, or no venue order)."""
        current = order.venue_order_id
        if current is None or current in order.retired:
            return ZERO
        counted, _ = order.filled_by_venue_id.get(current, (ZERO, ZERO))
        return order.filled - order.carried[0] - counted

    def _unreadable_replace(
        self,
        order: TrackedOrder,
        old_id: str | None,
        body: Mapping[str, Any],
        exc: BaseException,
        before: tuple[str | None, Decimal, Decimal | None, Decimal | None],
    ) -> BrokerTimeout:
        """Binance answered the cancelReplace (200) with what this adapter cannot read:
        what it did is unknown, as when the answer is lost. The order is put back as it
        was sent (its take may have stopped half-way: the new id adopted, the new terms
        kept, `replacing` cleared) and Binance is asked in the background
        (`_check_replace`), the order PENDING_REPLACE meanwhile. Returns what to raise."""
        coid = order.client_order_id
        what = f"cancel-replace {order.symbol} {coid} -> {coid}"
        self._bad_reply(what, coid, body, exc)
        order.venue_order_id, order.quantity, order.limit_price, order.stop_price = before
        if old_id is not None:
            order.retired.add(old_id)
        order.replacing = True
        lost = BrokerTimeout(
            f"{what}: Binance's answer could not be read ({exc}). The order may be working "
            "at Binance: its status is being checked; do not send it again."
        )
        self._check_replace_later(order, old_id, lost)
        return lost

    async def _take_replacement(
        self, order: TrackedOrder, placed: Mapping[str, Any], reason: str = ""
    ) -> bool:
        """The replacement Binance placed (`placed`: the reply's `newOrderResponse`, or
        the order as a query found it) becomes the order's venue order, at its terms.
        False when it traded and its fills could not be read (a query's answer carries
        none, and the trades query failed): its status waits for them, asked again in
        the background (a FILLED went out with no fill, the position unmoved)."""
        new_id = str(placed["orderId"])
        if new_id != order.venue_order_id:
            self._adopt_venue_id(order, new_id)
        new_qty = dec(placed.get("origQty", "0"))
        order.quantity = order.carried_at_venue + new_qty
        order.took(new_id, new_qty)
        price = dec(placed.get("price", "0"))
        order.limit_price = price if price > 0 else order.limit_price
        if "stopPrice" in placed:
            stop = dec(placed["stopPrice"])
            order.stop_price = stop if stop > 0 else order.stop_price
        order.replacing = False
        executed = dec(placed.get("executedQty", "0"))
        if (
            placed.get("fills") or executed > 0
        ) and order.status is not OrderStatus.PENDING_REPLACE:
            # Its terms before its fills (the journal may be PENDING_CANCEL by now: a
            # cancel while a lost modify was checked): against the old quantity a
            # larger replacement's fills were an overfill.
            await self.publish_update(self._new_at_terms(order, new_id, reason=reason))
        if "fills" in placed:
            for fill in translate.reply_fills(placed, self.name, self.account, order.side):
                await self._publish_fill_once(await self._with_fee_value(fill))
        elif executed > 0 and not await self._publish_trades_of(order, new_id):
            self._settle_later(order, reason or "asked of Binance: the modify's fills")
            return False
        update = self._cumulative(order, translate.reply_update(placed, reason=reason))
        update = update.model_copy(
            update={
                "status": order.replacement_status(update.status),
                "quantity": order.quantity,
                "limit_price": order.limit_price,
                "stop_price": order.stop_price,
                # A replacement's stop waits again (unless its answer says it works).
                "triggered": order.replacement_triggered(update.triggered),
            }
        )
        await self._publish_status(order, update, _ms(update))
        return True

    async def _replace_failed(
        self, order: TrackedOrder, old_id: str | None, exc: BrokerError
    ) -> None:
        """-2021/-2022 (or no answer): publish what the venue holds now.

        Binance cancelled the old order and placed no new one, and its word on the
        cancel (`cancelResponse`) cannot be read (a status value it added, a field of
        the wrong kind): a bare ValueError was raised in the place of Binance's answer
        and the order read PENDING_REPLACE for ever, nothing working at Binance (the old
        venue order's CANCELED report was a retired order's). Counted as a `bad_reply`
        (and only so: one answer, one count), the order is asked of Binance (its fills,
        then its end), and the refusal raised as Binance said it."""
        order.replacing = False
        reason = f"modify failed: {exc}"
        if isinstance(exc, CancelReplaceFailed) and exc.cancelled and not exc.new_order_placed:
            # The old order is gone and no new one stands: the order is cancelled.
            cancelled = exc.data.get("cancelResponse") or {}
            update = OrderUpdate(
                client_order_id=order.client_order_id,
                status=OrderStatus.CANCELED,
                venue_order_id=old_id,
                reason=reason,
            )
            try:
                if (
                    isinstance(cancelled, Mapping)
                    and "status" in cancelled
                    and "orderId" in cancelled
                ):
                    update = translate.reply_update(cancelled, reason=reason)
            except UNREADABLE as unreadable:
                coid = order.client_order_id
                self._bad_reply(
                    f"cancel-replace {order.symbol} {coid}", coid, cancelled, unreadable
                )
                await self._cancelled_by_replace(order, old_id, reason)
                return
            self.count_error("replace")
            if old_id is not None:
                order.retired.discard(old_id)  # its fills are in this report
                update = self._cumulative(order, update)
                order.retired.add(old_id)  # its late reports are not ours to publish
            await self.publish_update(update)
            return
        self.count_error("replace")
        if old_id is not None:
            order.retired.discard(old_id)
        order.venue_order_id = old_id
        await self._settle_order(order, reason)
        if order.status is OrderStatus.PENDING_REPLACE:
            # Still working as before: the query's report of it (NEW on its id) was no
            # news to the venue's side and was dropped; the journal is put back here,
            # with the refusal (it read PENDING_REPLACE for ever).
            await self._change_put_back(order, None, f"modify failed: {exc}")

    async def _cancelled_by_replace(
        self, order: TrackedOrder, old_id: str | None, reason: str
    ) -> None:
        """Binance cancelled the old venue order and placed no new one, and its answer
        on the cancel could not be read: the order as Binance holds it (its fills, then
        its end, with `reason`) is asked now, the old venue id still retired (its own
        CANCELED report, reasonless, is not published meanwhile); not read now, asked
        again in the background (the order stays as it is until then)."""
        try:
            body = await self._ask_order(order)
            if (
                body is not None
                and old_id is not None
                and str(body["orderId"]) == old_id
                and (
                    dec(body.get("executedQty", "0")) == 0
                    or await self._publish_trades_of(order, old_id)
                )
            ):
                update = translate.reply_update(body, reason=reason)
                await self.publish_update(self._cumulative(order, update))
                return
        except UNREADABLE as exc:
            self._reply_unresolved(order, exc)
        if old_id is not None:
            order.retired.discard(old_id)  # the order's again: the recovery settles it
        self._settle_later(order, reason)

    def _reply_unresolved(self, order: TrackedOrder, exc: BaseException) -> None:
        """Binance's answer to the query after an unreadable reply (a cancel's, a
        half-refused modify's) cannot be read either: the order is asked again in the
        background. Counted (`bad_reply_unresolved`), so the health pane shows it
        beside the `bad_reply` that started it, and logged."""
        self.count_error("bad_reply_unresolved")
        log.error(
            "binance.bad_reply_unresolved",
            extra={
                "broker": self.source,
                "client_order_id": order.client_order_id,
                "error": repr(exc),
            },
        )

    def _settle_later(
        self,
        order: TrackedOrder,
        reason: str,
        *,
        then: Callable[[VenueOrder], Awaitable[None]] | None = None,
        checks: set[str] | None = None,
    ) -> None:
        """The order, or its fills, could not be read from Binance now: asked again in
        the background (`_recover_report`: its fills, each once, then its status), its
        status held meanwhile (a FILLED with no fill moved no position). `checks`: the
        orders being asked this way (`_settle_checks`; a failed cancel's,
        `_cancel_checks`, which a settle waits for too)."""
        checks = self._settle_checks if checks is None else checks
        coid = order.client_order_id
        if coid in checks or coid in self._cancel_checks:
            return  # (asked already: that one publishes what Binance holds)
        why = "cancel" if checks is self._cancel_checks else "settle"

        async def settle() -> None:
            try:
                await self._recover_report(order, reason, then=then, why=why)
            finally:
                checks.discard(coid)

        checks.add(coid)
        kind = "cancel-check" if checks is self._cancel_checks else "settle"
        self.in_background(settle(), f"binance-{kind}:{coid}")

    async def _replacement_found(self, order: TrackedOrder, body: Mapping[str, Any]) -> Taken:
        """`body` (a cancel's answer, a query's, a sweep's) shows the replacement of an
        order whose lost modify is being checked: it is taken, at its terms, before
        anything else of it is published (published as a plain status, the journal
        kept the old terms, and the check's answer with them came as a repeat).
        HELD: its fills could not be read, so nothing else of it may go now."""
        venue_id = str(body.get("orderId", ""))
        if not order.replacing or not venue_id:
            return Taken.NONE
        if venue_id == order.venue_order_id or venue_id in order.retired:
            return Taken.NONE
        taken = await self._take_replacement(order, body, reason="the modify's answer was lost")
        self._check_sized_later(order)
        return Taken.TAKEN if taken else Taken.HELD

    def _check_replace_later(
        self, order: TrackedOrder, old_id: str | None, exc: BrokerTimeout
    ) -> None:
        """Ask Binance, in the background, what became of a cancelReplace whose answer
        was lost; a later change of the order waits for the answer (`_modify`)."""
        task = asyncio.create_task(
            self._check_replace(order, old_id, exc),
            name=f"binance-replace-check:{order.client_order_id}",
        )
        self._replace_checks[order.client_order_id] = task
        self._background.add(task)

        def done(finished: asyncio.Task[None]) -> None:
            self._background.discard(finished)
            if self._replace_checks.get(order.client_order_id) is finished:
                del self._replace_checks[order.client_order_id]
            if not finished.cancelled() and (error := finished.exception()) is not None:
                log.error(
                    "binance.replace_check_failed",
                    extra={
                        "broker": self.source,
                        "client_order_id": order.client_order_id,
                        "error": repr(error),
                    },
                )

        task.add_done_callback(done)

    async def _check_replace(
        self, order: TrackedOrder, old_id: str | None, exc: BrokerTimeout
    ) -> None:
        """A cancelReplace whose answer was lost (no answer in time, the connection
        broke after sending, a 5xx or -1007): Binance did all of it, half of it or
        nothing, and may still do it while the request's receive window lasts. Taken
        for "nothing happened", the old order's CANCELED report read as the order's end
        while Binance worked the replacement (and a cancel said "already CANCELED;
        nothing was sent"). So the order stays PENDING_REPLACE, its old venue id
        retired, until the stream reports the replacement (`_on_report` takes it) or
        Binance, asked by our client id (its open order first), shows which:
        - a venue order other than the old one: the replacement, taken at its terms;
        - the old one ended (cancelled with no replacement, or filled first): that end;
        - the old one still working once `unknown_order_window_s` has passed (after it
          Binance can no longer act on the request): the modify did nothing, the order
          goes back to working at its terms.
        A query that fails is asked again (the order stays PENDING_REPLACE, as it is),
        the pause doubling over `replace_check_pause_s`.

        Binance may settle none of it: its queries keep failing, or answer what settles
        nothing (a status this adapter cannot read, an older venue order of it). Asked
        every 2 s for ever, the order read PENDING_REPLACE for ever with no word to the
        trader. Past the receive window and `replace_margin_s` it is said unresolved
        (counted, `replace_unresolved`, and said in the health) and asked every
        `recover_later_s`, until Binance's answer or the stream's report settles it;
        then the trader is told. A cancel goes meanwhile (Binance cancels whichever
        order works under our client id): the order's end ends the check too, as
        nothing of the modify can happen after it (its asks went on for ever, for an
        order the journal held CANCELED)."""
        coid = order.client_order_id
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.unknown_order_window_s
        said_at = deadline + self.replace_margin_s
        said = False
        delay, most = self.replace_check_pause_s
        how = ""
        while order.replacing and not order.ended:
            body = await self._ask_order(order)
            if body is not None and order.replacing and not order.ended:
                how = await self._replace_answer(order, old_id, body, exc, loop.time() >= deadline)
                if how:
                    break
            if not said and loop.time() >= said_at:
                said = True
                await self._say_unresolved(
                    order,
                    "replace_unresolved",
                    f"order {coid}: its modify got no answer and Binance has not said what "
                    f"became of it within {self.unknown_order_window_s + self.replace_margin_s:g}"
                    " s: it may work at its old terms or at the new ones; it reads "
                    f"{order.status} until Binance says (a cancel still goes, a change is "
                    f"refused) and Binance is asked every {self.recover_later_s:g} s",
                )
            if said:
                await self._pause(self.recover_later_s, lambda: not order.replacing or order.ended)
            else:
                await asyncio.sleep(delay)
                delay = min(delay * 2, most)
        if not (said and self._running):
            return
        if not how:
            how = (
                f"the order ended {order.last_status}; nothing of the modify can happen now"
                if order.ended
                else "Binance reported the changed order"
            )
        await self._say_settled(order, f"its lost modify is settled: {how}")

    async def _replace_answer(
        self,
        order: TrackedOrder,
        old_id: str | None,
        body: Mapping[str, Any],
        exc: BrokerTimeout,
        past: bool,
    ) -> str:
        """One answer of `_check_replace`'s queries (`past`: the receive window is
        over): how it settled the lost modify, "" when it did not."""
        try:
            venue_id = str(body["orderId"])
            status = translate.status_of(str(body["status"]))
        except UNREADABLE as unreadable:
            # Asked again (as a query that failed): the stream may say it.
            # Counted: bad data from Binance shows in the health pane.
            self.count_error("replace_check_unreadable")
            log.warning(
                "binance.replace_check_unreadable",
                extra={
                    "broker": self.source,
                    "client_order_id": order.client_order_id,
                    "error": repr(unreadable),
                    "reply": repr(body)[:500],
                },
            )
            return ""
        try:
            # Against the old id, not the current one (`_replacement_found`): a take
            # whose write the bus refused has adopted the new id already.
            if venue_id != old_id and venue_id not in order.retired:
                await self._take_replacement(
                    order,
                    body,
                    reason="the modify's answer was lost; Binance, asked, works the changed order",
                )
                await self._check_sized(order)
                return "Binance, asked, works the changed order"
            if venue_id == old_id and (status.is_terminal or past):
                await self._replace_did_not_happen(order, old_id, body, exc)
                return f"Binance, asked, holds the old order {status} and no changed one"
        except BusError as refused:
            # Not journaled (Redis refusing writes): asked and written again,
            # not given up with the order PENDING_REPLACE for ever.
            order.replacing = True
            log.warning(
                "binance.replace_check_not_journaled",
                extra={
                    "broker": self.source,
                    "client_order_id": order.client_order_id,
                    "error": str(refused),
                },
            )
        return ""

    async def _replace_did_not_happen(
        self, order: TrackedOrder, old_id: str, body: Mapping[str, Any], exc: BrokerTimeout
    ) -> None:
        """Binance, asked, holds the old venue order (working, or ended) and no
        replacement: it is the order's again, with what Binance says of it."""
        order.retired.discard(old_id)
        order.replacing = False
        order.sizing = None
        status = translate.status_of(str(body["status"]))
        if status is OrderStatus.CANCELED:
            why = f"modify failed: {exc}; Binance cancelled the order and placed no new one"
        elif status.is_terminal:
            why = f"modify failed: {exc}; Binance reports the order {status} before it"
        else:
            why = f"modify failed: {exc}; Binance did not take it: the order works unchanged"

        async def restore(_: VenueOrder | None = None) -> None:
            if order.status is OrderStatus.PENDING_REPLACE:
                # The query's report was no news to the venue's side (dropped as a repeat).
                await self._restore_status(order, None, why)

        if dec(body.get("executedQty", "0")) > 0 and not await self._publish_trades_of(
            order, old_id
        ):
            # Its fills not read: its status waits with them, asked again.
            self._settle_later(order, why, then=restore)
            return
        await self.publish_update(self._cumulative(order, translate.reply_update(body, reason=why)))
        await restore()

    async def _working_again(self, symbol: str, journaled: Iterable[str], reason: str) -> None:
        """A cancel all of `symbol` Binance did nothing with (a ban, a clock it refuses):
        each of its orders whose cancel was journaled (PENDING_CANCEL) is shown working
        as it was, at once, with `reason`; nothing is owed."""
        for coid in sorted(journaled):
            order = self._orders.get(coid)
            if (
                order is not None
                and order.symbol == symbol
                and order.status is OrderStatus.PENDING_CANCEL
            ):
                await self._restore_status(order, None, reason)

    async def _restore_status(
        self,
        order: TrackedOrder,
        previous: OrderStatus | None,
        reason: str,
        *,
        keep: bool = False,
        only_from: OrderStatus | None = None,
    ) -> None:
        """`keep`: a write the bus refuses is kept and written again (as the venue's
        reports are), not raised. `only_from`: written only while the order is at that
        status, read under the publish lock (a cancel's PENDING_CANCEL waiting on the
        lock landed first, and the status put back read NEW over it)."""
        status = previous if previous is not None and not previous.is_terminal else None
        if status in (None, OrderStatus.PENDING_REPLACE, OrderStatus.PENDING_NEW):
            status = OrderStatus.PARTIALLY_FILLED if order.filled > 0 else OrderStatus.NEW
        update = OrderUpdate(
            client_order_id=order.client_order_id,
            status=status,
            venue_order_id=order.venue_order_id,
            filled_qty=order.filled,
            reason=reason,
        )
        if keep or only_from is not None:
            async with self._publish_lock:
                if only_from is not None and order.status is not only_from:
                    return
                await self._publish_update_locked(update, local=True, keep=keep)
            return
        await self.publish_update(update, local=True)

    async def _change_put_back(
        self,
        order: TrackedOrder,
        previous: OrderStatus | None,
        reason: str,
        *,
        keep: bool = False,
    ) -> None:
        """A change refused before it went, or one Binance refused or did not make (the
        order as it was): the journal's PENDING_REPLACE goes back to the order's status
        with `reason`, only while the order is still PENDING_REPLACE, read under the
        publish lock (`_restore_status`'s `only_from`). A cancel's PENDING_CANCEL
        written meanwhile stands: written over, the order read NEW "modify refused ..."
        while its cancel was on its way, until Binance's CANCELED came. `keep`: a
        write the bus refuses is kept and written again (`_change_not_sent`).

        The one path of every change's put-back (`_change_not_sent` too). Its
        PENDING_REPLACE a repeat behind a status of the order that waits for its
        account event (`replace_after_held`: an earlier change's replacement, taken by
        Binance, NEW at its terms): nothing is put back, that status ends the
        PENDING_REPLACE and says the refusal (`_say_on_held`), and no PENDING_REPLACE
        goes after it. Put back, the journal read NEW "modify refused" at the old
        terms, the replacement's NEW was then dropped as no news, and `_flush_held`
        wrote PENDING_REPLACE after it: the desk showed the order on its way at 1,990
        for good while Binance worked it at 1,985 (the code review's HIGH)."""
        behind_held = order.replace_after_held
        order.replace_after_held = False
        if behind_held and self._say_on_held(order.client_order_id, reason):
            return
        await self._restore_status(
            order, previous, reason, keep=keep, only_from=OrderStatus.PENDING_REPLACE
        )

    def _say_on_held(self, client_order_id: str, reason: str) -> bool:
        """`reason` (a change's refusal) said by the last status of the order that
        waits for its account event (`_held`), after what that status says; False when
        none waits."""
        for i in range(len(self._held) - 1, -1, -1):
            ts_ms, held = self._held[i]
            if held.client_order_id == client_order_id:
                said = f"{held.reason}; {reason}" if held.reason else reason
                self._held[i] = (ts_ms, held.model_copy(update={"reason": said}))
                return True
        return False

    async def _change_not_sent(self, client_order_id: str, reason: str) -> None:
        """A change refused after its journal writes (`Broker._refuse_change_if_held`):
        nothing went to Binance, so its PENDING_REPLACE goes back to the order's status
        (NEW, or PARTIALLY_FILLED after fills), journaled or kept until the bus takes it
        (`_change_put_back`, keeping: not when the journal has moved past it meanwhile,
        a fill's status, a cancel's PENDING_CANCEL; nor when its PENDING_REPLACE was a
        repeat behind a status that waits for its account event, which ends it)."""
        order = self._orders.get(client_order_id)
        if order is None:
            await super()._change_not_sent(client_order_id, reason)
            return
        await self._change_put_back(order, None, reason, keep=True)

    async def cancel_all(
        self, instrument: str | None = None, reason: str = "cancel all"
    ) -> list[str]:
        """One DELETE openOrders per symbol (Binance's cancel-all), the symbols at once:
        every cancel is journaled first; orders that filled meanwhile end as the venue
        says.

        The symbols of the orders this adapter follows as working are swept at once,
        beside a listing of the venue's open orders; the listing adds the symbols of
        the orders it does not follow (placed elsewhere), swept after it. Listed first,
        a venue slow to answer held every DELETE back behind the listing (the kill
        switch's sweep waited a round trip, or three tries of 10 s at a hung venue).

        Binance's 418 ban met on the way (or known already: refused before anything is
        journaled, as `cancel`) sends nothing: the orders whose cancel was journaled
        are shown working again, and a `Banned` (all that failed, failed so) says
        until when, that nothing goes out by itself then, and what to do."""
        if self.rest.usage.banned_s() > 0:
            await self._follow_ban()  # (the "rest" link says it: refused below)
        await self._clock_asked()  # (the clock refused: fixed since the last ask?)
        try:
            self._require_tradable(cancel=True)
        except NotConnected:
            self._cancel_unreached()
            raise
        followed = [
            order
            for order in self._orders.values()
            if not order.ended and (instrument is None or order.key == instrument)
        ]
        listing = asyncio.ensure_future(self._open_orders())
        unconfirmed: set[str] = set()  # symbols whose sweep Binance did not confirm
        try:
            journaled: set[str] = set()
            for order in followed:
                await self.journal_cancel(order.client_order_id, reason)
                journaled.add(order.client_order_id)
            first = sorted({order.symbol for order in followed})
            cancelled, failed = await self._sweep_symbols(first, reason, journaled, unconfirmed)
            held = [s for s, why in failed.items() if why.startswith(HELD)]
            if held and not listing.done():
                # Binance's 429 holds the listing too: waited out, it held the report
                # (the kill switch's) for the Retry-After. The symbols it would name
                # are owed a sweep each instead (every configured one: orders placed
                # elsewhere included), sent once the Retry-After is over.
                await asyncio.wait({listing}, timeout=CANCEL_WAIT_S)
            if held and not listing.done():
                wait_s = self.rest.usage.backoff_s()
                for symbol in self.symbols if instrument is None else [symbol_of(instrument)]:
                    if symbol not in failed:
                        self._owe(f"sweep:{symbol}", wait_s, self._send_owed_sweep(symbol, reason))
                failed["(listing)"] = (
                    f"{HELD}: the open orders could not be listed; the cancel all of every "
                    f"symbol goes out by itself in {math.ceil(wait_s)} s"
                )
                listed = []
            else:
                try:
                    listed = [
                        o for o in await listing if instrument is None or o.instrument == instrument
                    ]
                except Banned as exc:
                    failed["(listing)"] = f"{BANNED} ({exc})"
                    listed = []
                except ClockOutOfSync as exc:
                    failed["(listing)"] = f"{CLOCK_REFUSED} ({exc.clock})"
                    listed = []
                except BrokerError as exc:
                    failed["(listing)"] = f"could not list the open orders: {exc}"
                    listed = []
        finally:
            listing.cancel()  # only if this task was cancelled meanwhile
        extra = [o for o in listed if o.client_order_id not in journaled]
        more = sorted({symbol_of(o.instrument) for o in extra} - set(first))
        for venue in extra:
            if symbol_of(venue.instrument) in more:
                await self.journal_cancel(venue.client_order_id, reason)
                journaled.add(venue.client_order_id)
        if more:
            swept, also_failed = await self._sweep_symbols(more, reason, journaled, unconfirmed)
            cancelled += swept
            failed.update(also_failed)
        # Followed or listed, but named by no DELETE: ended meanwhile (filled), or
        # placed after its symbol's DELETE (listed later): asked of the venue.
        named = set(cancelled)
        targets = {order.client_order_id: order.symbol for order in followed}
        targets.update({o.client_order_id: symbol_of(o.instrument) for o in listed})
        held_now = self.rest.usage.backoff_s() > CANCEL_WAIT_S
        for coid, symbol in targets.items():
            if coid in named or symbol in failed:
                continue
            unnamed = self._orders.get(coid)
            if unnamed is None:
                continue
            reason = "cancel all found it no longer open"
            if held_now:
                # A read, which waits a running Retry-After out: asked in the
                # background, not holding the report back (the kill switch's).
                self._settle_later(unnamed, reason)
            else:
                await self._settle_order(unnamed, reason)
        if failed:
            message = self._cancel_all_said(cancelled, failed, unconfirmed)
            if all(why.startswith(HELD) for why in failed.values()):
                # Every DELETE that did not go is owed (`_owe`): it goes out by itself
                # once the Retry-After is over. Said as a `CancelHeld`, the engine's
                # kill switch neither sits the Retry-After out (its listing is a read)
                # nor sends each order's cancel, held too, to race the owed sweep.
                raise CancelHeld(message, retry_after=self.rest.usage.backoff_s())
            if all(why.startswith(BANNED) for why in failed.values()):
                # Nothing that failed was sent, nor is owed: said as a `Banned`, the
                # engine's kill switch sends no order's own cancel (refused too) and
                # says none goes out by itself.
                raise Banned(message, retry_after=self.rest.usage.banned_s())
            if all(why.startswith(CLOCK_REFUSED) for why in failed.values()):
                error = self._clock_error
                raise ClockOutOfSync(
                    message,
                    clock=error.clock if error is not None else "this host's clock is off",
                    host_ahead_ms=error.host_ahead_ms if error is not None else None,
                )
            raise BrokerError(message)
        return cancelled

    def _cancel_all_said(
        self,
        cancelled: Sequence[str],
        failed: Mapping[str, str],
        unconfirmed: Collection[str] = (),
    ) -> str:
        """What a cancel all that did not cancel everything says: the symbols whose
        cancel all failed otherwise, each with why, and what to do; then, apart, those
        Binance's 429 holds (`HELD`: their cancel all owed, going out by itself) and
        until when. Before, one list mixed both, each held one with the whole 429 text,
        and nothing said when the Retry-After ends. Of the symbols whose cancel all
        Binance did not confirm (`unconfirmed`), that their orders show PENDING_CANCEL
        until Binance answers again, then as it holds them (`_settle_swept_later`)."""
        held = [s for s, why in failed.items() if why.startswith(HELD)]
        banned = [s for s, why in failed.items() if why.startswith(BANNED)]
        clock = [s for s, why in failed.items() if why.startswith(CLOCK_REFUSED)]
        other = {
            s: why for s, why in failed.items() if not why.startswith((HELD, BANNED, CLOCK_REFUSED))
        }
        said = f"cancel all at {self.source}: cancelled {len(cancelled)}"
        if other:
            symbols = [s for s in other if s != "(listing)"]
            reasons = "; ".join(f"{s}: {why.rstrip('. ')}" for s, why in other.items())
            which = (
                f"the orders of {', '.join(symbols)}"
                if symbols
                else "orders this desk does not follow"
            )
            said += f", {which} may still be working ({reasons})"
            asked = [s for s in symbols if s in unconfirmed]
            if asked:
                said += (
                    f": the orders of {', '.join(asked)} show PENDING_CANCEL until Binance "
                    "answers again; this desk then asks Binance for each by itself and shows "
                    "what it holds (CANCELED, or working again)"
                )
            said += "; cancel them again or at the venue"
        if held:
            wait_s = self.rest.usage.backoff_s()
            symbols = [s for s in held if s != "(listing)"]
            said += f"; {HELD} until {self._held_until()} ({math.ceil(wait_s)} s more)"
            if symbols:
                said += (
                    f": the cancel all of {', '.join(symbols)} goes out by itself then, "
                    "their orders working until then"
                )
            if "(listing)" in held:
                said += (
                    "; the open orders could not be listed: the cancel all of every "
                    "configured symbol goes out by itself then"
                )
        if banned:
            left = max(1, math.ceil(self.rest.usage.banned_s()))
            until = self._ban_until()
            symbols = [s for s in banned if s != "(listing)"]
            said += (
                f"; NOT sent: Binance has banned this IP for too many requests (HTTP 418) "
                f"until {until} ({left} s more)"
            )
            if symbols:
                said += (
                    f": the cancel all of {', '.join(symbols)} was not sent and their "
                    "orders are still working"
                )
            if "(listing)" in banned:
                said += (
                    "; the open orders could not be listed: orders this desk does not "
                    "follow may be working too"
                )
            said += (
                "; nothing goes to Binance before then and nothing is sent by itself "
                f"after: cancel again after {until}, or now in Binance's web site or app"
            )
        if clock:
            error = self._clock_error
            how = error.clock if error is not None else "this host's clock is off Binance's"
            symbols = [s for s in clock if s != "(listing)"]
            said += f"; NOT done: Binance refuses this host's requests (-1021): {how}"
            if symbols:
                said += (
                    f": the cancel all of {', '.join(symbols)} did nothing and their orders "
                    "are still working"
                )
            if "(listing)" in clock:
                said += (
                    "; the open orders could not be listed: orders this desk does not "
                    "follow may be working too"
                )
            said += f"; {CLOCK_FIX}, then cancel again (or now in Binance's web site or app)"
        return said

    async def _sweep_symbols(
        self,
        symbols: Sequence[str],
        reason: str,
        journaled: set[str],
        unconfirmed: set[str] | None = None,
    ) -> tuple[list[str], dict[str, str]]:
        """DELETE openOrders for each of `symbols` at once. What each cancelled is
        published (an order whose cancel was not journaled before, placed elsewhere,
        gets its cancel journaled first); returns the ids cancelled and, per symbol,
        why its DELETE failed. A symbol whose DELETE Binance did not confirm (REST
        unreachable, no answer in time) has its orders settled from Binance later
        (`_settle_swept_later`) and is added to `unconfirmed`."""

        async def sweep(symbol: str) -> list[dict[str, Any]]:
            try:
                return await self.rest.cancel_open_orders(symbol)
            except UnknownOrder:
                return []

        answers = await asyncio.gather(*(sweep(s) for s in symbols), return_exceptions=True)
        cancelled: list[str] = []
        failed: dict[str, str] = {}
        for symbol, answer in zip(symbols, answers, strict=True):
            if isinstance(answer, CancelHeld):
                # Owed: its DELETE goes out once the Retry-After is over (one request
                # for every order of the symbol, ours or not), said at once.
                self._owe(
                    f"sweep:{symbol}", answer.retry_after, self._send_owed_sweep(symbol, reason)
                )
                failed[symbol] = (
                    f"{HELD} ({answer}): its cancel all goes out by "
                    f"itself in {math.ceil(answer.retry_after)} s; its orders work until then"
                )
                continue
            if isinstance(answer, Banned):
                # Nothing done at Binance: the orders whose cancel was journaled work
                # as they did, shown so at once; nothing is owed (`_cancel`).
                failed[symbol] = f"{BANNED} ({answer})"
                await self._working_again(symbol, journaled, f"cancel not sent: {answer}")
                continue
            if isinstance(answer, ClockOutOfSync):
                # Binance did nothing (-1021 after the re-sync): its orders work as
                # they did, shown so at once, as a single cancel's (`_cancel`).
                failed[symbol] = f"{CLOCK_REFUSED} ({answer.clock})"
                await self._working_again(symbol, journaled, self._clock_cancel_reason(answer))
                continue
            if isinstance(answer, BrokerError):
                failed[symbol] = str(answer)
                if isinstance(answer, NotConnected | BrokerTimeout):
                    self._cancel_unreached()
                    self._settle_swept_later(symbol, journaled, answer)
                    if unconfirmed is not None:
                        unconfirmed.add(symbol)
                continue
            if isinstance(answer, BaseException):
                raise answer
            for body in answer:
                if "orderListId" in body and body.get("orders") is not None:
                    continue  # an order list (OCO): not ours to report here
                coid = str(body.get("origClientOrderId") or body.get("clientOrderId"))
                coid = self._owner(coid, str(body.get("orderId", "")) or None, symbol)
                if coid not in journaled:
                    await self.journal_cancel(coid, reason)
                    journaled.add(coid)
                order = self._orders.get(coid)
                try:
                    if (
                        order is not None
                        and await self._replacement_found(order, body) is Taken.HELD
                    ):
                        cancelled.append(coid)  # its end goes with its fills, asked again
                        continue
                    update = translate.reply_update(body, reason=reason)
                except UNREADABLE as exc:
                    # One answer of the sweep this adapter cannot read (a status value
                    # Binance added) raised out of the cancel-all, the kill switch's
                    # too: counted, and the order asked of Binance (`cancel_all` asks
                    # the ones no answer named).
                    self._bad_reply("cancel all", coid, body, exc)
                    continue
                if order is not None:
                    update = self._cumulative(order, update)
                await self._publish_status(order, update, _ms(update))
                cancelled.append(coid)
        return cancelled, failed

    def _settle_swept_later(self, symbol: str, journaled: Iterable[str], exc: BrokerError) -> None:
        """A sweep of `symbol` Binance did not confirm (REST unreachable, no answer in
        time: it may have been acted on): each of its orders whose cancel was journaled
        (PENDING_CANCEL) is settled as a single cancel's that failed so
        (`_settle_cancel_later`): asked of Binance in the background, at once when the
        "rest" link is back (`_keep_asking`), and shown as Binance holds it (CANCELED,
        or working again saying the cancel failed and to cancel it again). Before,
        nothing asked: with the order path down since, the engine's cancels of each
        order were refused unsent, and a kill switch's or cancel all's orders read
        PENDING_CANCEL for good while Binance worked them (the Binance drill's HIGH).
        A refusal (Binance answered: it did nothing) is left to the engine's own cancel
        of each order, which goes and settles it."""
        for coid in sorted(journaled):
            order = self._orders.get(coid)
            if (
                order is not None
                and order.symbol == symbol
                and order.status is OrderStatus.PENDING_CANCEL
            ):
                self._settle_cancel_later(order, exc, "failed")

    # -- queries ------------------------------------------------------------------------

    def _track_venue(self, venue: VenueOrder) -> TrackedOrder:
        order = self._orders.get(venue.client_order_id)
        if order is None:
            order = TrackedOrder(
                client_order_id=venue.client_order_id,
                symbol=symbol_of(venue.instrument),
                side=venue.side,
                order_type=venue.order_type,
                tif=venue.tif,
                post_only=venue.post_only,
                quantity=venue.quantity,
                limit_price=venue.limit_price,
                stop_price=venue.stop_price,
                venue_order_id=venue.venue_order_id,
                # The venue's word so far (the journal's is unknown here): a repeat of
                # it is not news, and a modify knows what has filled. Its venue id is
                # the one the journal knows it by: a replace's answer, under a new id,
                # is news (left unknown, the answer of a modify of an order found after
                # a restart was judged a repeat, and the order stayed PENDING_REPLACE
                # at its old price while the venue worked the new one).
                venue_status=venue.status,
                filled=venue.filled_qty,
                published_venue_id=venue.venue_order_id,
            )
            self._orders[venue.client_order_id] = order
            held = self._journal_orders.get(venue.client_order_id)
            if held is not None:
                self._carry(order, held)
        elif order.ended and venue.venue_order_id == order.venue_order_id:
            # Held ended here, listed or answered by Binance: open (its end here was
            # wrong: the reconcile may re-open it, `update_journaled`), or ended.
            order.open_after_end = None if venue.status.is_terminal else venue.venue_order_id
        if venue.venue_order_id is not None:
            self._by_venue_id.setdefault(venue.venue_order_id, venue.client_order_id)
        return order

    def _venue_view(self, venue: VenueOrder) -> VenueOrder:
        """The venue's order as the order's totals (after replaces)."""
        order = self._orders.get(venue.client_order_id)
        if order is None or venue.venue_order_id in order.retired:
            return venue
        carried_qty, carried_quote = order.carried
        if not carried_qty:
            return venue
        filled = carried_qty + venue.filled_qty
        quote = carried_quote + (venue.avg_price or ZERO) * venue.filled_qty
        status = venue.status
        if status is OrderStatus.NEW:  # the replacement has not traded; the order has
            status = OrderStatus.PARTIALLY_FILLED
        return venue.model_copy(
            update={
                "status": status,
                "quantity": carried_qty + venue.quantity,
                "filled_qty": filled,
                "avg_price": quote / filled if filled else None,
            }
        )

    async def open_orders(self) -> list[VenueOrder]:
        """Binance's open orders, as the engine's cancel all and kill switch list them
        (`engine/cancels.py`; this adapter's own listings, which may wait, are
        `_open_orders`). While a 429's Retry-After runs longer than `CANCEL_WAIT_S`,
        refused at once (`RateLimited`, saying until when): a read waits the
        Retry-After out, and the report of a cancel all whose sweep the 429 held in
        part (a symbol held, another failing otherwise: not a `CancelHeld`) sat it out
        for its listing; the held cancels go out by themselves when it ends."""
        wait_s = self.rest.usage.backoff_s()
        if wait_s > CANCEL_WAIT_S:
            raise RateLimited(
                f"open orders at {self.source}: not asked: Binance's 429 Retry-After runs "
                f"{math.ceil(wait_s)} s more (until {self._held_until()}; asking earlier "
                "gets the IP banned), and the cancels it held go out by themselves then",
                retry_after=wait_s,
            )
        return await self._open_orders()

    def _held_until(self) -> str:
        """When the running 429's Retry-After ends, in UTC as the desk's clock shows it
        (`HH:MM:SS UTC`)."""
        return utc_time(self.rest.usage.retry_not_before_ns)

    async def _open_orders(self) -> list[VenueOrder]:
        listed: list[tuple[VenueOrder, dict[str, Any]]] = []
        for body in await self.rest.open_orders():
            venue = self._venue_order(body)
            self._track_venue(venue)
            listed.append((venue, body))
        taken: set[str] = set()
        if self._replaced_unheard:
            taken = await self._take_lost_modifies({v.client_order_id: b for v, b in listed})
        found: list[VenueOrder] = []
        for venue, _ in listed:
            order = self._orders.get(venue.client_order_id)
            if venue.client_order_id in taken and order is not None and order.ended:
                continue  # its oversized replacement cancelled since Binance listed it
            found.append(self._venue_view(venue))
        return found

    async def _take_lost_modifies(self, listed: Mapping[str, Mapping[str, Any]]) -> set[str]:
        """The orders met in Binance's listing under a venue id the journal never saw
        (`_carry`). One whose journal ends with a modify left unanswered (its request,
        then PENDING_REPLACE and nothing else: the desk stopped before the answer was
        read), and whose venue order Binance placed as that modify's replacement (its
        terms, made while Binance could act on the request), is the modify's: it is
        taken as a lost answer's replacement is (`_take_replacement`: the venue order
        it retired carried with what the journal filled under it), and checked against
        what it was sized from (`_check_sized`: an oversized replacement is cancelled,
        counted and said). That record (`TrackedOrder.sizing`) lived in memory only, and
        a restart left the oversized replacement working: 0.7 filled and 0.6 working,
        1.3 could fill of the 1.0 asked. It is rebuilt from the journal: the quantity
        asked (the modify's, else the order's), the venue orders it covers (the
        journal's), and what it was sized from, the asked quantity less the
        replacement's (this adapter sends what was asked less what had filled).
        The others are said as replaced unseen (`_say_unseen`) when the journal holds
        fills of them, as before. Returns the orders taken so."""
        pending, self._replaced_unheard = self._replaced_unheard, {}
        unread = sorted(c for c in pending if c not in self._modifies_read)
        modifies: dict[str, tuple[ModifyRequest, int]] = {}
        if unread:
            try:
                modifies = await self._journal_modifies(unread)
            except Exception as exc:  # (the bus: asked again at the next listing)
                log.warning(
                    "binance.journal_modifies_unread",
                    extra={"broker": self.source, "orders": unread, "error": describe(exc)},
                )
                self._replaced_unheard.update(pending)
                return set()
            self._modifies_read.update(unread)
        taken: set[str] = set()
        for coid, held in pending.items():
            order = self._orders.get(coid)
            if order is None or order.retired or order.venue_order_id == held.venue_order_id:
                continue
            found = modifies.get(coid)
            body = listed.get(coid)
            asked = (
                self._lost_modify_asked(
                    held,
                    found[0],
                    found[1],
                    body,
                    placed=order.quantity,
                    limit=order.limit_price,
                    stop=order.stop_price,
                )
                if found is not None and body is not None
                else None
            )
            if asked is not None and body is not None:
                taken.add(coid)
                await self._take_lost_modify(order, held, asked, body)
            elif held.filled_qty > 0 and held.venue_order_id and order.venue_order_id:
                self._unseen_replaces.setdefault(
                    coid, (held.venue_order_id, order.venue_order_id, held.filled_qty)
                )
        return taken

    async def _journal_modifies(self, coids: Sequence[str]) -> dict[str, tuple[ModifyRequest, int]]:
        """Of `coids`, each one's last modify the journal holds unanswered (its request
        and its time), read back from the end of this account's journal (at most
        `MODIFY_LOOKBACK` entries): one followed by any status but PENDING_REPLACE was
        answered (or refused, or cancelled meanwhile) and is not returned."""
        stream = self.bus.layout.exec(self.name, self.account)
        wanted = set(coids)
        settled: set[str] = set()
        found: dict[str, tuple[ModifyRequest, int]] = {}
        before, read = "+", 0
        while wanted and read < MODIFY_LOOKBACK:
            entries = await self.bus.read_last(stream, count=JOURNAL_PAGE, before=before)
            for entry in entries:  # newest first
                event = entry.event
                if isinstance(event, OrderUpdateEvent):
                    coid = event.payload.client_order_id
                    if coid in wanted and event.payload.status is not OrderStatus.PENDING_REPLACE:
                        settled.add(coid)
                elif isinstance(event, ModifyRequestEvent):
                    coid = event.payload.client_order_id
                    if coid in wanted:
                        wanted.discard(coid)
                        if coid not in settled:
                            found[coid] = (event.payload, event.ts)
            read += len(entries)
            if len(entries) < JOURNAL_PAGE:
                break
            before = entries[-1].id
        return found

    def _lost_modify_asked(
        self,
        held: JournalOrder,
        change: ModifyRequest,
        asked_ns: int,
        body: Mapping[str, Any],
        *,
        placed: Decimal,
        limit: Decimal | None,
        stop: Decimal | None,
    ) -> Decimal | None:
        """The quantity the trader asked for in all, when Binance's venue order (`body`:
        `placed` its quantity, `limit` and `stop` its prices) is the replacement of
        `change` (the journal's last modify, unanswered, asked at `asked_ns`): its terms
        are the modify's, it is no larger than asked, and Binance made it while it could
        act on the request. None: it is not (another program's replace, or a change the
        journal settled)."""
        asked = change.quantity if change.quantity is not None else held.quantity
        if not 0 < placed <= asked:
            return None
        if change.limit_price is not None and limit != change.limit_price:
            return None
        if change.stop_price is not None and stop != change.stop_price:
            return None
        try:
            made_ms = int(body["time"]) - self.rest.usage.offset_ms
        except (KeyError, TypeError, ValueError):
            return None
        sent_ms = asked_ns // 1_000_000
        earliest = sent_ms - BEYOND_RECV_WINDOW_S * 1000
        latest = sent_ms + self.unknown_order_window_s * 1000
        if not earliest <= made_ms <= latest:
            return None
        return asked

    async def _take_lost_modify(
        self,
        order: TrackedOrder,
        held: JournalOrder,
        asked: Decimal,
        body: Mapping[str, Any],
    ) -> None:
        """`order`'s listed venue order is the replacement of the journal's modify left
        unanswered (`_take_lost_modifies`): taken, then checked."""
        coid = order.client_order_id
        old_id = held.venue_order_id or ""
        placed = order.quantity
        log.warning(
            "binance.lost_modify_taken",
            extra={
                "broker": self.source,
                "client_order_id": coid,
                "venue_order_id": order.venue_order_id,
                "retired_venue_order_id": old_id,
                "asked": plain(asked),
                "placed": plain(placed),
            },
        )
        # The journal's order with the venue order the modify retired among the
        # retired ones: carried as any replaced order met in the listing (`_carry`).
        self._carry(
            order,
            dataclasses.replace(
                held,
                venue_order_id=order.venue_order_id,
                retired_venue_ids=held.retired_venue_ids | {old_id},
            ),
        )
        order.sizing = Sizing(
            old_id, frozenset(order.retired), asked - placed, asked, in_flight=False
        )
        # As the journal holds it: PENDING_REPLACE on the retired venue order.
        order.status = OrderStatus.PENDING_REPLACE
        order.venue_status = None
        order.published_venue_id = old_id
        order.replacing = True
        if not await self._take_replacement(
            order,
            body,
            reason="the modify's answer was lost when the desk stopped; Binance works the "
            "changed order",
        ):
            self._check_sized_later(order)  # (its fills asked again first)
            return
        await self._check_sized(order)

    async def _resolved(
        self, client_order_id: str, venue: VenueOrder | None, past_window: bool
    ) -> bool:
        """A place whose answer was lost, as Binance holds it (`Broker._resolve`): its
        fills first (myTrades of its venue order, each once), then its status. The
        base class journals the status alone: an order that filled at once while the
        user stream was down (its reports lost with it) read FILLED with the position
        unmoved, and the stream's catch-up, knowing no trade of the symbol and no
        order working there, never asked for them. Its trades not answered: False, so
        Binance is asked again (the status waits with its fills)."""
        order = self._orders.get(client_order_id)
        if (
            venue is not None
            and order is not None
            and venue.filled_qty > 0
            and venue.venue_order_id is not None
            and venue.venue_order_id not in order.retired
            and not await self._publish_trades_of(order, venue.venue_order_id)
        ):
            return False
        return await super()._resolved(client_order_id, venue, past_window)

    async def query_order(self, client_order_id: str) -> VenueOrder | None:
        order = self._orders.get(client_order_id)
        symbols = [order.symbol] if order is not None else list(self.symbols)
        name = self._at_binance(order) if order is not None else client_order_id
        for symbol in symbols:
            body = await self.rest.get_order(symbol, name)
            if body is not None:
                try:
                    venue = self._venue_order(body)
                except UNREADABLE as exc:
                    raise BrokerError(
                        f"query order {symbol} {client_order_id}: Binance's answer could "
                        f"not be read ({exc})"
                    ) from exc
                self._track_venue(venue)
                return self._venue_view(venue)
        return None

    async def balances(self) -> list[Balance]:
        body = await self.rest.account()
        return [
            b
            for b in translate.balances(body.get("balances"), self.name, self.account)
            if b.total != 0
        ]

    async def positions(self) -> list[Position]:
        return [p for p in await self._positions_from(await self.balances()) if p.quantity != 0]

    def journal_working(self, orders: Sequence[JournalOrder]) -> None:
        self._journal_orders = {o.client_order_id: o for o in orders}
        for held in orders:
            order = self._orders.get(held.client_order_id)
            if order is not None and _share_known(held):
                self._carry(order, held)
            # The others are carried once Binance has said which of the journal's fills
            # are the replacement's (`_learn_shares`, first thing in the reconcile).

    def _take_back(self, held: JournalOrder) -> None:
        """A working order of the journal's that this run met first in Binance's
        listing (its connect's catch-up, before the journal was told) under another
        client order id, its venue order the journal's: another program's amend gave
        it that id while the desk was stopped. Followed as ours from now (under our
        id, Binance's remembered: `_owner`); kept under Binance's, the reconcile closed
        ours "no longer open" and adopted it as another program's order."""
        venue_id = held.venue_order_id
        ours = held.client_order_id
        if ours in self._orders or not venue_id:
            return
        named = self._by_venue_id.get(venue_id)
        order = self._orders.get(named) if named is not None else None
        if (
            named is None
            or order is None
            or order.status is not None  # (one of this run's own: not met only so)
            or order.venue_order_id != venue_id
            or not self._journal_on(held, order.symbol)
            or order.quantity > held.quantity  # (an amend only lowers it)
        ):
            return
        del self._orders[named]
        order.client_order_id = ours
        self._orders[ours] = order
        self._by_venue_id[venue_id] = ours
        self._name_at_binance(ours, venue_id, named)
        if _share_known(held):
            self._carry(order, held)

    async def _learn_shares(
        self, only: str | None = None, unread: dict[str, str] | None = None
    ) -> None:
        """For each replaced working order the journal holds without its fills per
        venue order (loaded from a snapshot: only its totals and its fills' exec ids),
        what of the journal's filled quantity is the working replacement's: its trades
        at Binance (myTrades by its order id) whose exec ids the journal holds. The rest
        filled under the venue orders a replace retired. Worked out instead as the
        journal's filled quantity less what Binance says the replacement executed, it
        came out short by the replacement's fills made while the desk was away (the
        journal does not hold them yet: this reconcile journals them): 0.7 filled, a
        replacement for 0.8 that filled 0.3 with the desk up and 0.2 away read as 0.5
        filled before the replace; the reconcile took 1.3 with 1.0 filled for 1.5 with
        1.2, and a modify to 1.4 in all sent 0.4 where 0.2 was left. Exact whatever the
        snapshot's age (the fills journaled after it are replayed into the order's
        exec ids), however many replaces, and with no journal left behind the snapshot.
        `only`: that order alone (a modify). Raises `BrokerError` when Binance does not
        answer: nothing is carried on a guess. `unread` (a reconcile): a symbol whose
        trades Binance did not answer is put there with why, its orders left uncarried,
        and the others go on."""
        for coid, held in list(self._journal_orders.items()):
            if (only is not None and coid != only) or _share_known(held):
                continue
            order = self._orders.get(coid)
            if order is not None and (order.retired or order.venue_order_id != held.venue_order_id):
                continue  # replaced in this run, or again elsewhere: `_carry` leaves it
            current = held.venue_order_id or ""
            qty, quote = ZERO, ZERO
            symbol = order.symbol if order is not None else _symbol_of_execs(held.exec_ids)
            if held.exec_ids and current and symbol:
                if unread is not None and symbol in unread:
                    continue
                try:
                    trades = await self._trades_of_order(symbol, current)
                except BrokerError as exc:
                    if unread is None:
                        raise
                    unread[symbol] = str(exc)
                    continue
                for trade in trades:
                    if translate.exec_id(symbol, trade["id"]) in held.exec_ids:
                        fill_qty, price = dec(trade["qty"]), dec(trade["price"])
                        qty, quote = qty + fill_qty, quote + fill_qty * price
            held = dataclasses.replace(held, filled_by_venue_id={current: (qty, quote)})
            self._journal_orders[coid] = held
            if order is not None:
                self._carry(order, held)

    async def _trades_of_order(self, symbol: str, venue_order_id: str) -> list[dict[str, Any]]:
        """All of one venue order's trades. Binance answers the newest 1000 of an order
        asked by its id alone; past a page they are asked again from the first, by trade
        id (`orderId` with `fromId`)."""
        order_id = int(venue_order_id)
        page = await self.rest.my_trades(symbol, order_id=order_id, limit=TRADES_PAGE)
        if len(page) < TRADES_PAGE:
            return page
        trades: list[dict[str, Any]] = []
        from_id = 0
        while True:
            page = await self.rest.my_trades(
                symbol, order_id=order_id, from_id=from_id, limit=TRADES_PAGE
            )
            trades += page
            if len(page) < TRADES_PAGE:
                return trades
            from_id = max(int(t["id"]) for t in page) + 1

    def _carry(self, order: TrackedOrder, held: JournalOrder) -> None:
        """An order this run knows only from the venue's listing (a restart, an
        adoption): what filled under each venue order, from the journal. Never replaced,
        its fills count as its venue order's (a modify retiring it carries them). Met
        in the listing of its replacement: what filled under the venue orders a replace
        retired, so that its totals are the journal's and a modify sends what is left.
        Known by the listing alone, a partly filled order replaced before the restart
        read as new (0 filled of the replacement's quantity): a reconcile took those
        terms, and a modify to 0.8 in all sent 0.8 more where 0.4 had filled.

        What filled before the replace is the journal's filled quantity less the
        journal's fills of the working replacement (from its fills in memory, or from
        Binance's trades of it, `_learn_shares`), never less what Binance says the
        replacement executed: that counts the fills the journal lacks. What no venue id
        accounts for (an adopted order's fills from before it was adopted) filled under
        a retired one."""
        if order.retired or order.venue_order_id != held.venue_order_id:
            if (
                not order.retired
                and held.venue_order_id
                and order.venue_order_id
                and order.venue_order_id not in held.retired_venue_ids
            ):
                # Replaced where the journal did not see it: a modify of this desk's
                # whose answer the journal never got (the desk stopped first: its
                # replacement is taken and checked, `_take_lost_modifies`), or another
                # program's cancelReplace under this client order id: which venue
                # orders lie between, and what filled under each, only Binance's order
                # history tells (not asked): nothing is carried on a guess, and it is
                # said (`_say_unseen`).
                self._replaced_unheard[order.client_order_id] = held
            return  # replaced in this run (it knows), or again since (the venue's)
        if not _share_known(held):
            return  # until Binance has said (`_learn_shares`): nothing on a guess
        current = order.venue_order_id or ""
        # Its fills the journal holds are published: a catch-up that lists them again
        # (trades from a minute before a reconnect) would count them twice here.
        self._published_execs.update(held.exec_ids)
        order.exec_ids.update(held.exec_ids)
        if not held.retired_venue_ids:
            # Never replaced: all the journal filled (an adopted order's fills from
            # before the journal too) was made under this venue order, and counts as
            # its own, or this run's count when larger. Uncounted, a modify retired it
            # with nothing filled under it: the replacement's answer (what filled under
            # the retired venue orders, 0, plus its own) read as an older report and
            # was dropped, the journal kept the old terms, and the order ended FILLED
            # at 2 with the 1.5 typed filled.
            held_fills = held.filled_by_venue_id.get(current, (ZERO, ZERO))
            run_fills = order.filled_by_venue_id.get(current, (ZERO, ZERO))
            kept = max(held_fills, run_fills, key=lambda f: f[0])
            if kept[0]:
                order.filled_by_venue_id[current] = kept
            return
        listed = order.filled  # the replacement's own, as the venue listed it
        journal = {v: f for v, f in held.filled_by_venue_id.items() if f[0]}
        accounted = sum((q for q, _ in journal.values()), ZERO)
        rest = held.filled_qty - accounted
        if rest > 0 and held.retired_venue_ids:
            first = min(held.retired_venue_ids)
            q, a = journal.get(first, (ZERO, ZERO))
            spent = (held.avg_price or ZERO) * held.filled_qty
            rest_quote = max(spent - sum((a for _, a in journal.values()), ZERO), ZERO)
            journal[first] = (q + rest, a + rest_quote)
        order.retired = set(held.retired_venue_ids)
        for venue_id in held.retired_venue_ids | {current}:  # and what this run added
            # The journal's count, or this run's when larger: a fill of the replacement
            # this run published before the reconcile is in both (added, 0.1 counted
            # twice: a modify then sent 0.1 less than was left).
            held_fills = journal.get(venue_id, (ZERO, ZERO))
            run_fills = order.filled_by_venue_id.get(venue_id, (ZERO, ZERO))
            kept = max(held_fills, run_fills, key=lambda f: f[0])
            if kept[0]:
                order.filled_by_venue_id[venue_id] = kept
        carried_qty, _ = order.carried
        order.quantity += carried_qty
        order.filled = carried_qty + max(listed, journal.get(current, (ZERO, ZERO))[0])
        for venue_id in held.retired_venue_ids:
            self._by_venue_id.setdefault(venue_id, order.client_order_id)

    def journal_balances(self, currencies: Iterable[str]) -> None:
        self._journal_assets = set(currencies)

    def journal_holds(self, instruments: Iterable[str]) -> None:
        for key in instruments:
            with contextlib.suppress(ValueError):  # (not a Binance key)
                symbol_of(key)
                self._journal_keys.add(key)

    async def _followed(self) -> dict[str, Instrument]:
        """The configured instruments, those looked up on demand (a symbol typed in the
        ticket) and those the journal holds: positions and fills are followed in all of
        them. Only the configured ones were: an order on another symbol had its
        position set to 0 by every reconcile (POSITION_MISMATCH against a venue report
        that did not list it) and its fills made while the desk was away were never
        asked for (the order ended CANCELED, nothing filled)."""
        found = dict(await self.instruments())
        for key, instrument in list(self._instrument_cache.items()):
            found.setdefault(key, instrument)
        for key in self._journal_keys - found.keys() - self._not_traded:
            try:
                found[key] = await self.instrument(key)
            except OrderRejected:  # not traded at Binance any more: not asked again
                self._not_traded.add(key)
            except BrokerError:  # not answered now: asked again next time
                continue
        return found

    async def _positions_from(self, balances: Iterable[Balance]) -> list[Position]:
        """Spot: a position is the base asset's balance (free + locked) of each
        followed symbol (`_followed`); the balances given are the assets that changed."""
        held = {b.currency: b.total for b in balances}
        found: list[Position] = []
        for key, instrument in (await self._followed()).items():
            if instrument.base_currency in held:
                found.append(
                    Position(
                        broker=self.name,
                        account=self.account,
                        instrument=key,
                        quantity=held[instrument.base_currency],
                        currency=instrument.quote_currency,
                    )
                )
        return found

    async def _publish_account(self, balances: list[Balance]) -> None:
        """The balances that changed, and the positions (base assets) they move."""
        changed = [b for b in balances if self._last_balances.get(b.currency) != b]
        for balance in changed:
            self._last_balances[balance.currency] = balance
            await self.publish_balance(balance)
        for position in await self._positions_from(changed):
            if self._last_positions.get(position.instrument) == position.quantity:
                continue
            self._last_positions[position.instrument] = position.quantity
            await self.publish_position(position)

    async def subscribe(
        self,
        instruments: Iterable[str],
        kinds: Iterable[MarketDataKind] = (MarketDataKind.QUOTE,),
    ) -> None:
        """Stream these kinds (bookTicker quotes, depth books, trades) through the
        market streams; asked before the connection, they start with it."""
        wanted = set(kinds) & self.capabilities.market_data
        keys = list(instruments)
        for key in keys:
            await self.instrument(key)  # an unknown symbol is refused here
        quoted: list[str] = []
        for key in keys:
            had = self._market_wanted.setdefault(key, set())
            if MarketDataKind.QUOTE in wanted and MarketDataKind.QUOTE not in had:
                quoted.append(key)
            had.update(wanted)
            if self.market is not None:
                await self.market.subscribe({key: symbol_of(key)}, wanted)
        if self.market is not None:
            self._ask_references(quoted)

    async def unsubscribe(self, instruments: Iterable[str]) -> None:
        keys = list(instruments)
        for key in keys:
            self._market_wanted.pop(key, None)
        if self.market is not None:
            await self.market.unsubscribe(keys)

    # -- reconcile ----------------------------------------------------------------------

    async def reconcile(
        self, since_ns: int = 0, last_fills: Mapping[str, Fill] | None = None
    ) -> ReconcileReport:
        """Open orders; the fills of each configured symbol after the journal's last
        fill there (from its trade id, once Binance's answer confirms it: else by time,
        `_after_cursor`), else since `since_ns`; balances and positions (the base
        assets)."""
        if self.rest.client is None:
            raise NotConnected(f"{self.source} is {self.state}: cannot reconcile now")
        try:
            return await self._reconcile(since_ns, last_fills or {})
        except ClockOutOfSync:
            # Asked again once Binance accepts a signed request (`rest_clock_accepted`).
            self._clock_reconcile_owed = True
            raise

    async def _reconcile(self, since_ns: int, last_fills: Mapping[str, Fill]) -> ReconcileReport:
        # Symbols whose trades Binance does not answer now, and why: each is reported
        # as far as it can be trusted without them (`_unread_orders`); the others in full.
        unread: dict[str, str] = {}
        for journal_order in list(self._journal_orders.values()):
            self._take_back(journal_order)  # (the journal's instruments are told by now)
        # Before the listing is read as the orders' totals.
        await self._learn_shares(unread=unread)
        open_orders = await self._open_orders()
        await self._say_unseen()
        fills: list[Fill] = []
        followed = await self._followed()  # (a symbol Binance delisted is not asked)
        asked = {*self.symbols, *(symbol_of(k) for k in self._journal_keys if k in followed)}
        asked |= {o.symbol for o in self._orders.values()}  # placed or reported this run
        for symbol in sorted(asked):
            last = last_fills.get(key_of(symbol))
            owed = self._trades_owed.setdefault(symbol, (last, since_ns))
            if symbol in unread:
                continue
            try:
                found = await self._fills_since(symbol, owed[1], owed[0])
            except BrokerError as exc:
                # One symbol's trades unanswered (a backend timeout, a page that failed)
                # stopped the whole reconcile, every retry: nothing else was reconciled.
                # None of its trades is reported (a part of them neither), and the next
                # reconcile asks from where this one did (`_trades_owed`).
                unread[symbol] = str(exc)
                continue
            del self._trades_owed[symbol]
            fills += found
            # The journal holds every trade up to its last and, once the session has
            # taken this report, every one of these: a reconnect's catch-up asks from
            # after them. It asked from a minute before the connect when this run had
            # published no fill there, and published again the fills the last run and
            # this reconcile journaled (the journal held each twice).
            ids = [_trade_id(f.exec_id, symbol) for f in ([last] if last else []) + found]
            self._seen_trades(symbol, [i for i in ids if i is not None])
        if unread and not (asked - unread.keys()):
            # Nothing answered: not a symbol's trouble (the session says the reconcile
            # failed); asked again all the same.
            await self._trades_said(unread)
            raise BrokerError(
                f"{self.source}: Binance did not answer the trades of "
                f"{', '.join(sorted(unread))} ({next(iter(unread.values()))})"
            )
        ended = await self._ended_replaced(open_orders, fills, unread)
        if unread:
            open_orders = await self._unread_orders(open_orders, unread)
        balances = await self.balances()
        # The assets of the instruments the journal holds (known only now, after a
        # restart: `journal_holds`), and those it holds a balance in (a fee asset:
        # `journal_balances`), that Binance no longer lists go to 0 on the desk.
        held = [a for i in followed.values() for a in (i.base_currency, i.quote_currency)]
        held += sorted(self._journal_assets)
        await self._publish_account(self._with_zeros(balances, held))
        await self._trades_said(unread)
        return ReconcileReport(
            broker=self.name,
            account=self.account,
            as_of_ns=self.clock(),
            open_orders=tuple(open_orders),
            fills=tuple(fills),
            positions=tuple(p for p in await self._positions_from(balances) if p.quantity),
            balances=tuple(balances),
            ended_orders=tuple(ended),
        )

    async def _unread_orders(
        self, listed: list[VenueOrder], unread: Mapping[str, str]
    ) -> list[VenueOrder]:
        """The listing a reconcile reports when the trades of the `unread` symbols are
        not known. Binance's listing is trusted; what the journal would make of it
        without the symbol's fills is not:
        - an order of such a symbol the journal does not hold is left out, adopted by
          the reconcile after its trades are read: adopted now, at what Binance says
          filled, its fills (since the journal began) came on top when read;
        - one the journal holds replaced, whose fills per venue order Binance could not
          say (`_learn_shares`), is reported at the journal's totals: the listing alone
          is the replacement's, read as the order's it shrank the journal's order;
        - one the journal has working that Binance no longer lists (it ended while the
          desk was away) is reported as Binance's query has it: a FILLED is taken as
          FILLED (its fills follow when read), not ended CANCELED for want of them.
        The positions are Binance's balances, trusted: the engine takes them, and again
        once the fills are journaled (a position mismatch each time, no fill made up)."""
        report: list[VenueOrder] = []
        listed_ids = {v.client_order_id for v in listed}
        for venue in listed:
            symbol = symbol_of(venue.instrument)
            held = self._journal_orders.get(venue.client_order_id)
            if symbol not in unread:
                report.append(venue)
            elif held is None:
                log.warning(
                    "binance.adoption_deferred",
                    extra={
                        "broker": self.source,
                        "client_order_id": venue.client_order_id,
                        "symbol": symbol,
                    },
                )
            elif not _share_known(held):
                report.append(
                    venue.model_copy(
                        update={
                            "quantity": held.quantity,
                            "filled_qty": held.filled_qty,
                            "avg_price": held.avg_price,
                            "status": (
                                OrderStatus.PARTIALLY_FILLED
                                if held.filled_qty > 0 and venue.status is OrderStatus.NEW
                                else venue.status
                            ),
                        }
                    )
                )
            else:
                report.append(venue)
        for coid, held in self._journal_orders.items():
            if coid in listed_ids:
                continue
            tracked = self._orders.get(coid)
            symbol = tracked.symbol if tracked is not None else _symbol_of_execs(held.exec_ids)
            for candidate in [symbol] if symbol else sorted(unread):
                if candidate not in unread:
                    continue
                try:
                    name = self._at_binance(tracked) if tracked is not None else coid
                    body = await self.rest.get_order(candidate, name)
                    found = self._venue_order(body) if body is not None else None
                except (BrokerError, *UNREADABLE) as exc:
                    log.warning(
                        "binance.unread_order_query_failed",
                        extra={
                            "broker": self.source,
                            "client_order_id": coid,
                            "symbol": candidate,
                            "error": describe(exc),
                        },
                    )
                    continue
                if found is not None:
                    self._track_venue(found)
                    report.append(self._venue_view(found))
                    break
        return report

    async def _say_unseen(self) -> None:
        """Orders replaced at Binance where the journal did not see it (`_carry`): their
        fills under the venue order replaced are not carried into the replacement, so
        the reconcile takes Binance's replacement as the whole order (its quantity what
        was left then, its filled count from the replace on). Said, once each: counted
        (`replaced_unseen`), logged, and told in the health with what to do."""
        for coid, (old, new, filled) in sorted(self._unseen_replaces.items()):
            if coid in self._unseen_said:
                continue
            self._unseen_said.add(coid)
            self.count_error("replaced_unseen")
            log.error(
                "binance.replaced_unseen",
                extra={
                    "broker": self.source,
                    "client_order_id": coid,
                    "journal_venue_order_id": old,
                    "venue_order_id": new,
                    "journal_filled": plain(filled),
                },
            )
            await self._tell(
                f"order {coid} was replaced at Binance where this desk did not see it "
                f"(venue order {old} -> {new}, another program's cancelReplace?): the "
                f"{plain(filled)} the journal has filled under {old} is not carried into "
                "it, so its quantity and filled here may be the replacement's alone; "
                f"check {coid} at Binance, and cancel it there or here rather than "
                "modify it"
            )

    async def _ended_replaced(
        self, listed: Sequence[VenueOrder], fills: Sequence[Fill], unread: Mapping[str, str]
    ) -> list[VenueOrder]:
        """The journal's working orders Binance no longer lists open that a cancelReplace
        the journal never saw moved to another venue order under the same client order
        id (another program's, or a modify of this desk's whose answer was lost when it
        stopped), which ended (filled, cancelled) while the desk was away. The listing
        does not hold them, so neither `_carry` nor the reconcile's comparison of terms
        met them: the order ended at the journal's terms and venue id (a buy filled
        above its limit, under the venue order the replace had cancelled), and the
        replace was said nowhere.

        Each such order is asked of Binance by its client order id (its newest venue
        order): one under a venue id the journal does not know, ended, is the
        replacement. The order is journaled at its terms before the reconcile takes the
        fills (the venue order, the quantity: what filled under the venue orders it
        retired plus the replacement's, its prices), the reason saying what changed
        and how it ended; the fills then come as the reconcile's missed fills, and an
        end the fills do not make (cancelled, expired) is returned for the reconcile
        to take (`ReconcileReport.ended_orders`). What filled before the replace is
        Binance's whole count (the journal's fills and this reconcile's) less what the
        replacement executed, exact. Not asked, or not readable: left as before (the
        reconcile ends it as Binance's listing and fills say)."""
        listed_ids = {v.client_order_id for v in listed}
        ended: list[VenueOrder] = []
        for coid, held in list(self._journal_orders.items()):
            old_id = held.venue_order_id
            tracked = self._orders.get(coid)
            if coid in listed_ids or not old_id:
                continue
            if tracked is not None and tracked.status is not None:
                continue  # followed by this run: its catch-up asks Binance (`_settle_order`)
            own = [f for f in fills if f.client_order_id == coid and f.exec_id not in held.exec_ids]
            if own:
                symbols = [symbol_of(own[0].instrument)]
            elif tracked is not None:
                symbols = [tracked.symbol]
            elif traded := _symbol_of_execs(held.exec_ids):
                symbols = [traded]
            else:  # (a working order with no fill: the journal's instruments)
                symbols = sorted({symbol_of(k) for k in self._journal_keys})
            name = self._at_binance(tracked) if tracked is not None else coid
            for symbol in symbols:
                if symbol in unread:
                    continue
                try:
                    body = await self.rest.get_order(symbol, name)
                except BrokerError as exc:
                    log.warning(
                        "binance.ended_order_query_failed",
                        extra={
                            "broker": self.source,
                            "client_order_id": coid,
                            "symbol": symbol,
                            "error": describe(exc),
                        },
                    )
                    continue
                if body is None:
                    continue
                found = await self._take_ended_replacement(coid, held, symbol, body, own)
                if found is not None:
                    ended.append(found)
                break
        return ended

    async def _take_ended_replacement(
        self,
        coid: str,
        held: JournalOrder,
        symbol: str,
        body: Mapping[str, Any],
        own: Sequence[Fill],
    ) -> VenueOrder | None:
        """`body` (Binance's newest venue order under `coid`, which the journal holds
        working under `held.venue_order_id`) as `_ended_replaced` takes it: None when
        it is no ended replacement (the journal's venue order, or one still working)."""
        old_id = held.venue_order_id or ""
        try:
            new_id = str(body["orderId"])
            status = translate.status_of(str(body["status"]))
            placed = dec(body.get("origQty", "0"))
            price = dec(body.get("price", "0"))
            stop = dec(body.get("stopPrice", "0"))
            executed = dec(body.get("executedQty", "0"))
            spent = dec(body.get("cummulativeQuoteQty", "0"))
            venue = self._venue_order(body)
        except UNREADABLE as exc:
            self.count_error("bad_reply")
            log.warning(
                "binance.ended_order_unreadable",
                extra={"broker": self.source, "client_order_id": coid, "error": describe(exc)},
            )
            return None
        if new_id == old_id and status.is_terminal:
            # No replace: the journal's own venue order, ended while the desk was away.
            # Binance said how (asked already): the reconcile takes that end, its filled
            # count and average (`ended_orders`), rather than "does not list how it
            # ended ... check it at the venue" (the answer was asked and thrown away).
            return venue.model_copy(update={"client_order_id": coid})
        if new_id == old_id or new_id in held.retired_venue_ids or not status.is_terminal:
            return None
        # Binance's whole order: the journal's fills and this reconcile's, of which the
        # replacement executed `executed`; the rest filled under the venue orders the
        # replaces retired.
        whole = held.filled_qty + sum((f.quantity for f in own), ZERO)
        whole_quote = (held.avg_price or ZERO) * held.filled_qty + sum(
            (f.quantity * f.price for f in own), ZERO
        )
        carried, carried_quote = whole - executed, whole_quote - spent
        if carried < 0 or placed <= 0 or (carried > 0 and carried_quote <= 0):
            log.warning(
                "binance.ended_replacement_unsound",
                extra={
                    "broker": self.source,
                    "client_order_id": coid,
                    "venue_order_id": new_id,
                    "filled": plain(whole),
                    "executed": plain(executed),
                },
            )
            return None
        quantity = carried + placed
        limit = price if price > 0 else None
        stop_price = stop if stop > 0 else None
        reason = await self._ended_replace_said(
            coid, held, symbol, body, (quantity, limit, stop_price)
        )
        reason += (
            f"; Binance, asked on reconcile, holds venue order {new_id} {status}: it ended "
            "while the desk was away"
        )
        update = OrderUpdate(
            client_order_id=coid,
            # The journal's status (its fills come next, as missed fills): a replace
            # moves it, never back.
            status=OrderStatus.PARTIALLY_FILLED if held.filled_qty > 0 else OrderStatus.NEW,
            venue_order_id=new_id,
            quantity=quantity,
            limit_price=limit,
            stop_price=stop_price,
            reason=reason,
        )
        await Broker.publish_report(self, update)  # (the journal's, not a report of ours)
        self._replaced_unheard.pop(coid, None)
        self._by_venue_id.setdefault(new_id, coid)
        filled = carried + executed
        return venue.model_copy(
            update={
                "client_order_id": coid,
                "quantity": quantity,
                "filled_qty": filled,
                "avg_price": (carried_quote + spent) / filled if filled else None,
            }
        )

    async def _ended_replace_said(
        self,
        coid: str,
        held: JournalOrder,
        symbol: str,
        body: Mapping[str, Any],
        after: tuple[Decimal, Decimal | None, Decimal | None],
    ) -> str:
        """What replaced the journal's venue order of `coid` with `body`'s, as the
        journal says it: the journal's last modify, unanswered, that made it (its answer
        lost when the desk stopped: `_lost_modify_asked`), else another program's
        cancelReplace, with the terms it changed (`_changed_elsewhere`; the venue order
        retired is asked of Binance for its prices)."""
        old_id = held.venue_order_id or ""
        new_id = str(body["orderId"])
        _, limit, stop = after
        try:
            modifies = await self._journal_modifies([coid])
        except Exception as exc:  # (the bus: taken for another program's)
            log.warning(
                "binance.journal_modifies_unread",
                extra={"broker": self.source, "orders": [coid], "error": describe(exc)},
            )
            modifies = {}
        found = modifies.get(coid)
        if found is not None and (
            self._lost_modify_asked(
                held,
                found[0],
                found[1],
                body,
                placed=dec(body.get("origQty", "0")),
                limit=limit,
                stop=stop,
            )
            is not None
        ):
            return (
                "the modify's answer was lost when the desk stopped; Binance placed the "
                f"changed order (venue order {old_id} -> {new_id})"
            )
        old = await self._order_by_venue_id(symbol, old_id)
        if old is None:
            said = self._changed_elsewhere(
                coid, (old_id, held.quantity, limit, stop), after, new_id
            )
            return said + " (its prices before could not be asked of Binance)"
        try:
            was_limit, was_stop = dec(old.get("price", "0")), dec(old.get("stopPrice", "0"))
        except UNREADABLE:
            was_limit = was_stop = ZERO
        before = (
            old_id,
            held.quantity,
            was_limit if was_limit > 0 else None,
            was_stop if was_stop > 0 else None,
        )
        return self._changed_elsewhere(coid, before, after, new_id)

    async def _trades_said(self, unread: Mapping[str, str]) -> None:
        """The symbols whose trades a reconcile could not read: counted, logged and said
        in the health (the broker's message line, and the `trades_unread` metric), and
        the reconcile asked again until they are read (`_retry_trades`); those read
        again since said so."""
        before, self._trades_unread = self._trades_unread, dict(unread)
        for symbol, error in sorted(unread.items()):
            self.count_error("trades_unread")
            log.error(
                "binance.trades_unread",
                extra={"broker": self.source, "symbol": symbol, "error": error},
            )
        if unread:
            pause = self._trades_pause(0)
            await self._tell(
                f"trades of {', '.join(sorted(unread))} could not be read from Binance "
                f"({next(iter(unread.values()))}): its fills made while the desk was away "
                "are not journaled yet and its position shows Binance's; the other symbols "
                f"are reconciled; asked again in {pause:g} s and after that (if it goes "
                "on, check the orders and trades of "
                f"{', '.join(sorted(unread))} at Binance)"
            )
            if self._trades_retry is None or self._trades_retry.done():
                self._trades_retry = asyncio.create_task(
                    self._retry_trades(), name=f"binance-trades-retry:{self.source}"
                )
        read = sorted(before.keys() - unread.keys())
        if read:
            log.info("binance.trades_read", extra={"broker": self.source, "symbols": read})
            await self._tell(f"trades of {', '.join(read)} read again: reconciled")

    def _trades_pause(self, attempt: int) -> float:
        first, most = self.trades_retry_s
        return float(min(first * 2**attempt, most))

    async def _retry_trades(self) -> None:
        """While a reconcile left symbols' trades unread: the reconcile is asked again
        (`announce_reconnect`: the session reconciles), the pause doubling."""
        attempt = 0
        while self._trades_unread and self._running:
            await asyncio.sleep(self._trades_pause(attempt))
            attempt += 1
            if not (self._trades_unread and self._running):
                return
            await self.announce_reconnect()

    async def _fills_since(self, symbol: str, since_ns: int, last: Fill | None) -> list[Fill]:
        trades: list[dict[str, Any]] = []
        from_id = _trade_id(last.exec_id, symbol) if last is not None else None
        if last is not None and from_id is not None:
            trades = await self._after_cursor(
                symbol,
                from_id,
                venue_order_id=last.venue_order_id,
                start_ms=self._cursor_fallback_ms(last, since_ns),
            )
        elif since_ns > 0:
            trades = await self._trades_from(symbol, since_ns // 1_000_000)
        else:
            trades = await self.rest.my_trades(symbol)
        fills: list[Fill] = []
        seen: set[int] = set()
        for trade in sorted(trades, key=lambda t: int(t["id"])):
            if int(t_id := trade["id"]) in seen:
                continue
            seen.add(int(t_id))
            coid = await self._client_id_of(symbol, str(trade["orderId"]))
            fill = translate.trade_fill(trade, coid, self.name, self.account)
            fills.append(await self._with_fee_value(fill))
        return fills

    async def _trades_from(self, symbol: str, start_ms: int) -> list[dict[str, Any]]:
        """The symbol's trades from `start_ms` to now: a call per 24 hours (Binance
        answers at most 24 hours of `startTime` a call), a full answer followed to the
        newest by trade id (`_paged`)."""
        trades: list[dict[str, Any]] = []
        now_ms = self.clock() // 1_000_000
        start = max(start_ms, 0)
        while start <= now_ms:
            page = await self.rest.my_trades(symbol, start_time_ms=start, limit=TRADES_PAGE)
            if len(page) >= TRADES_PAGE:  # the rest, to the newest, by trade id
                return trades + await self._paged(symbol, page)
            trades += page
            start += DAY_MS
        return trades

    async def _after_cursor(
        self,
        symbol: str,
        cursor: int,
        *,
        venue_order_id: str | None = None,
        start_ms: int | None,
    ) -> list[dict[str, Any]]:
        """The symbol's trades after `cursor` (the trade id of the journal's last fill
        there, or of the last this adapter published), oldest first.

        Asked from the cursor itself (`fromId` = `cursor`: the same one call as from
        `cursor` + 1, one trade more in its answer): Binance answering with that very
        trade first (of `venue_order_id`, when known) confirms the cursor, and the
        trades after it are the answer, paged on as before. Anything else (no trade,
        or a later one first) means Binance holds no such trade of this account: the
        cursor came from bad data (an executionReport with a trade id out of range,
        journaled with an "unknown order" anomaly). Asked from it, every trade below
        it was never asked again: the desk's own fills made while it was away were
        lost (F5 of the venue chaos drill: an order PARTIALLY_FILLED with nothing
        filled, the position a mismatch with no average, the realized P&L gone). The
        cursor is then dropped (`_last_trade_id`: set again from Binance's answer),
        counted (`trade_cursor`), logged, and the symbol asked by time from `start_ms`
        (`_trades_from`: a call a day back, 20 weight each) or, with no time to start
        from, its latest trades; the caller's exec ids make the answer's repeats of
        fills journaled already no news (deduplicated by trade id here)."""
        page = await self.rest.my_trades(symbol, from_id=cursor, limit=TRADES_PAGE)
        first = min(page, key=lambda t: int(t["id"])) if page else None
        if (
            first is not None
            and int(first["id"]) == cursor
            and (venue_order_id is None or str(first.get("orderId")) == venue_order_id)
        ):
            trades = await self._paged(symbol, page)
            return sorted((t for t in trades if int(t["id"]) > cursor), key=lambda t: int(t["id"]))
        self.count_error("trade_cursor")
        log.warning(
            "binance.trade_cursor_unconfirmed",
            extra={
                "broker": self.source,
                "symbol": symbol,
                "cursor": cursor,
                "first_found": int(first["id"]) if first is not None else None,
                "asked_from_ms": start_ms,
            },
        )
        self._unsound_trades.add(f"{symbol}-{cursor}")
        if self._last_trade_id.get(symbol, -1) >= cursor:
            del self._last_trade_id[symbol]  # as unsound: set again from Binance's answer
        if start_ms is None:
            found = await self.rest.my_trades(symbol, limit=TRADES_PAGE)
        else:
            found = await self._trades_from(symbol, start_ms)
        unique = {int(t["id"]): t for t in found}
        self._seen_trades(symbol, unique)
        return [unique[i] for i in sorted(unique)]

    def _cursor_fallback_ms(self, last: Fill, since_ns: int) -> int | None:
        """Where a reconcile asks a symbol's trades by time when the journal's last fill
        there is no trade Binance holds (`_after_cursor`): `CURSOR_MARGIN_MS` before its
        time, never before the journal began (`since_ns`: the trades before it are the
        account's history, not fills missed); a time in the future (bad data too) is
        not trusted: from the journal's start. With no journal start (`since_ns` 0), at
        most the last 24 hours (one call), else the latest trades (None)."""
        now_ms = self.clock() // 1_000_000
        since_ms = since_ns // 1_000_000 if since_ns > 0 else None
        at = last.venue_ts_ns // 1_000_000 if last.venue_ts_ns else None
        if at is None or at > now_ms:
            return since_ms
        start = at - CURSOR_MARGIN_MS
        return max(start, since_ms if since_ms is not None else now_ms - DAY_MS)

    def _seen_trades(self, symbol: str, trade_ids: Iterable[int]) -> None:
        """Trades of `symbol` the journal holds: a catch-up asks from after them (not
        one Binance said it does not hold: `_after_cursor`)."""
        unsound = self._unsound_trades
        newest = max((i for i in trade_ids if f"{symbol}-{i}" not in unsound), default=None)
        if newest is not None:
            self._last_trade_id[symbol] = max(self._last_trade_id.get(symbol, 0), newest)

    def fill_journaled(self, fill: Fill) -> None:
        """A fill the engine journaled itself (a reconcile's missed fill): published
        for this adapter too, never again by it (a report, a catch-up). Its exec id is
        kept only with an order this adapter follows (it leaves with the order); the
        others' are covered by the symbol's last trade id."""
        order = self._orders.get(fill.client_order_id)
        if order is not None:
            if fill.exec_id not in self._published_execs:
                # Counted under its venue order, as one this adapter published: a
                # missed fill of a replacement, left out, was forgotten when the next
                # modify retired that venue order (its answer then read as an older
                # report: the journal kept the old quantity, and took the end as
                # FILLED with less filled than the order).
                order.add_fill(fill)
            self._published_execs.add(fill.exec_id)
            order.exec_ids.add(fill.exec_id)
        symbol = symbol_of(fill.instrument)
        trade = _trade_id(fill.exec_id, symbol)
        if trade is not None:
            self._seen_trades(symbol, [trade])

    def update_journaled(self, update: OrderUpdate) -> None:
        """An update the engine's reconcile journaled itself: Binance's status or terms
        taken from its listing, or the order ended (no longer open at Binance). The
        order here reads as the journal does, as if this adapter had published it (its
        status, and Binance's terms and venue id); an end lets it go in its turn like
        any finished order. Left as it was, an order met only in Binance's listing (a
        restart: no status of ours) that ended while the user stream was down stayed
        working here for ever: every catch-up asked its symbol's trades again, every
        cancel all journaled a cancel of it (after its CANCELED) and asked Binance for
        it; an order another program had moved kept
        its old price and venue id, so a modify of its quantity sent the old price
        back to Binance. An order whose end the journal holds already (a late copy of
        an earlier stage) keeps it, unless Binance said since that the order works
        (`_reopened`): the reconcile re-opened it."""
        order = self._orders.get(update.client_order_id)
        if order is None:
            return
        reopened = False
        if order.status is not None and order.status.is_terminal:
            reopened = self._reopened(order, update)
            if not reopened:
                return
        order.record(update, local=update.status in LOCAL_STEPS)
        if reopened and update.filled_qty is not None:
            # Binance's count, which the reconcile journaled (the report that ended it
            # counted more: an overfill): a report of its end counts from there.
            order.filled = update.filled_qty
        if not order.replacing:  # (a lost modify being checked takes its own terms)
            venue_id = update.venue_order_id
            if venue_id and venue_id != order.venue_order_id and venue_id not in order.retired:
                # Replaced elsewhere (another program's cancelReplace, unheard): the
                # venue order the journal now names is the order's; the one before is
                # retired (its CANCELED, when a modify replaces this one, is no end).
                self._adopt_venue_id(order, venue_id)
            if update.quantity is not None:
                order.quantity = update.quantity
            if update.limit_price is not None:
                order.limit_price = update.limit_price
            if update.stop_price is not None:
                order.stop_price = update.stop_price
        if update.status.is_terminal:
            self._let_go_finished(order.client_order_id)

    def _reopened(self, order: TrackedOrder, update: OrderUpdate) -> bool:
        """Whether `update` (the reconcile's, journaled) re-opens `order`, which this
        adapter holds ended: a status that is not an end, of the venue order Binance
        said works after the end here (`open_after_end`, from its listing or the
        reconcile's query just before: `engine/recovery.py` `_reopen`, which asks it
        again). It is then followed again: out of the finished, its status and
        Binance's count from the update. Before, the adapter kept it ended: `c`
        refused it ("came too late: already FILLED") and the CANCELED of a kill
        switch's sweep was dropped after the end, while Binance worked the order. A
        late copy of an earlier status over a true end (Binance did not say it works)
        changes nothing."""
        listed = order.open_after_end
        if (
            update.status.is_terminal
            or update.status in LOCAL_STEPS
            or listed is None
            or update.venue_order_id not in (None, listed)
        ):
            return False
        order.open_after_end = None
        self._finished.pop(order.client_order_id, None)
        order.venue_status = update.status
        log.warning(
            "binance.order_reopened",
            extra={
                "broker": self.source,
                "client_order_id": order.client_order_id,
                "venue_order_id": listed,
                "was": str(order.status),
                "status": str(update.status),
            },
        )
        order.status = None  # (its end is undone: `record` takes the update's)
        return True

    async def _paged(
        self, symbol: str, first: list[dict[str, Any]] | None = None, *, from_id: int = 0
    ) -> list[dict[str, Any]]:
        """`first` (a myTrades answer; None: asked from trade id `from_id`) and, while an
        answer is full (TRADES_PAGE), the next page from its last trade id + 1: Binance
        answers at most 1000 trades a call, and took only one, the rest were never
        reported. (Binance takes `fromId` without a time: the pages go on to the newest.)"""
        page = (
            first
            if first is not None
            else await self.rest.my_trades(symbol, from_id=from_id, limit=TRADES_PAGE)
        )
        trades = list(page)
        while len(page) >= TRADES_PAGE:
            last = max(int(t["id"]) for t in page)
            page = await self.rest.my_trades(symbol, from_id=last + 1, limit=TRADES_PAGE)
            trades += page
        return trades

    async def _client_id_of(self, symbol: str, venue_order_id: str) -> str:
        known = self._by_venue_id.get(venue_order_id)
        if known is not None:
            return known
        body = await self._order_by_venue_id(symbol, venue_order_id)
        if body is None:
            return f"binance-{venue_order_id}"
        venue = self._venue_order(body)
        order = self._track_venue(venue)
        self._by_venue_id[venue_order_id] = venue.client_order_id
        if order.status is None and venue.status.is_terminal:
            # Met only here (another program's order, or one let go before), and ended:
            # let go in its turn like any finished order. Followed for ever, each
            # reconcile's such orders added to the memory and to every catch-up's asks.
            self._let_go_finished(venue.client_order_id)
        return venue.client_order_id

    async def _order_by_venue_id(self, symbol: str, venue_order_id: str) -> dict[str, Any] | None:
        """GET order by Binance's order id (myTrades names orders that way), through
        `BinanceRest` as every read (its weight counted, a ban or a Retry-After held to:
        it asked the client directly, past both); any failure -> None."""
        try:
            body = await self.rest.get_order_by_id(symbol, int(venue_order_id))
        except Exception as exc:
            log.warning(
                "binance.order_lookup_failed",
                extra={
                    "broker": self.source,
                    "venue_order_id": venue_order_id,
                    "error": describe(exc),
                },
            )
            return None
        return body

    async def _catch_up(self) -> int:
        """After a (re)connect: publish what the journal lacks of the orders this
        adapter follows (fills once, then the status), and the account."""
        sent = 0
        working = [o for o in self._orders.values() if not o.ended]
        open_now = {v.client_order_id: v for v in await self._open_orders()}
        symbols = {o.symbol for o in working} | set(self.symbols)
        for symbol in sorted(symbols):
            last = self._last_trade_id.get(symbol)
            if last is None and not any(o.symbol == symbol for o in working):
                continue
            if last is not None:
                # What the stream missed was made after it was lost: where the trades
                # are asked by time if Binance does not confirm the cursor.
                lost_ms = (self._lost_ns or self._connected_ns or self.clock()) // 1_000_000
                trades = await self._after_cursor(
                    symbol, last, start_ms=max(lost_ms - CURSOR_MARGIN_MS, 0)
                )
            else:
                start = (self._connected_ns or self.clock()) // 1_000_000 - 60_000
                first = await self.rest.my_trades(
                    symbol, start_time_ms=max(start, 0), limit=TRADES_PAGE
                )
                trades = await self._paged(symbol, first)
            for trade in sorted(trades, key=lambda t: int(t["id"])):
                coid = self._by_venue_id.get(str(trade["orderId"]))
                if coid is None:
                    continue  # not an order of ours: the session's reconcile adopts it
                fill = translate.trade_fill(trade, coid, self.name, self.account)
                if fill.exec_id not in self._published_execs:
                    await self._publish_fill_once(await self._with_fee_value(fill))
                    sent += 1
        for order in working:
            if order.replacing:
                continue  # a lost modify being checked: the check settles it (its terms)
            venue = open_now.get(order.client_order_id)
            if venue is not None:
                before = order.status
                await self.publish_update(
                    OrderUpdate(
                        client_order_id=order.client_order_id,
                        status=venue.status,
                        venue_order_id=venue.venue_order_id,
                        filled_qty=venue.filled_qty,
                        avg_price=venue.avg_price,
                        reason="reported after reconnect",
                        # A stop that triggered while the stream was down: its report
                        # was lost with it.
                        triggered=venue.triggered,
                    )
                )
                sent += int(order.status is not before)
            elif order.status is not None:
                before = order.status
                await self._settle_order(order, "reported after reconnect")
                sent += int(order.status is not before)
            else:
                await self._settle_unheard(order)
        balances = await self.balances()
        assets = [
            asset
            for instrument in (await self.instruments()).values()
            for asset in (instrument.base_currency, instrument.quote_currency)
        ]
        await self._publish_account(self._with_zeros(balances, assets))
        return sent

    async def _settle_unheard(self, order: TrackedOrder) -> None:
        """An order met only in Binance's listing (a restart: no status of ours, the
        journal's unknown here) that the listing no longer holds: it ended while the
        user stream was down. Binance is asked how; ended, the order is held so here
        and let go, with nothing published: its fills went with the catch-up (from the
        symbol's last trade the journal holds), and the journal ends it from them
        (FILLED), or the session's reconcile does ("no longer open at the venue", then
        `update_journaled`). Its end published here, the journal could hold it twice
        (FILLED from its fills, then Binance's FILLED). Left working here, a FILLED one
        was a target of every cancel all (the kill switch's journaled a cancel of it,
        swept its symbol and asked Binance for it) and of every catch-up's asks.
        Not answered (the query failed): asked again in the background
        (`_settle_unheard_later`), not left to the next catch-up."""
        body = await self._ask_order(order)
        if body is None:
            self._settle_unheard_later(order)
            return
        self._unheard_found(order, body)

    def _settle_unheard_later(self, order: TrackedOrder) -> None:
        """`_settle_unheard`'s query failed: the order, which Binance's listing no
        longer holds, is working here until Binance says how it ended, and a cancel all
        (the kill switch's) journals a cancel of it meanwhile. Left to the next
        catch-up, hours away while the user stream stays up, it was asked again only
        then. So it is asked in the background as a report's recovery is
        (`_keep_asking`: quick asks, then every `recover_later_s`), until Binance
        answers or the order ends otherwise (the session's reconcile journals its end:
        `update_journaled`). Unanswered after the quick asks: counted
        (`unheard_unresolved`) and said in the health, and said again once settled."""
        coid = order.client_order_id
        if coid in self._unheard_checks:
            return  # (asked already)
        said = False

        async def ask() -> bool:
            if order.ended or self._orders.get(coid) is not order:
                return True  # ended meanwhile (the reconcile's end), or let go
            if order.status is not None:
                # The journal's status known here since (the reconcile took Binance's):
                # settled as any order of ours is, its end published.
                return await self._recover_once(order, "reported after reconnect", None)
            body = await self._ask_order(order)
            if body is None:
                return False
            self._unheard_found(order, body)
            return True

        async def unresolved() -> None:
            nonlocal said
            said = True
            await self._say_unresolved(
                order,
                "unheard_unresolved",
                f"order {coid} is no longer among Binance's open orders and Binance did not "
                f"answer how it ended ({self.recover_tries} asks failed): it counts as working "
                "here until Binance answers (a cancel all or the kill switch journals a cancel "
                f"of it); asked again every {self.recover_later_s:g} s",
            )

        async def settle() -> None:
            try:
                answered = await self._keep_asking(order, ask, unresolved)
            finally:
                self._unheard_checks.discard(coid)
            if not (said and self._running):
                return
            if answered:
                await self._say_settled(order, f"Binance answered: {order.last_status}")
            elif order.ended:
                await self._say_settled(order, f"ended {order.last_status}; no longer asked")

        self._unheard_checks.add(coid)
        self.in_background(settle(), f"binance-unheard:{coid}")

    def _unheard_found(self, order: TrackedOrder, body: Mapping[str, Any]) -> None:
        """Binance's answer on an order `_settle_unheard` asked about: ended, held so
        here and let go, nothing published."""
        try:
            venue = self._venue_order(body)
        except UNREADABLE as exc:
            self._bad_reply(f"query order {order.symbol}", order.client_order_id, body, exc)
            return
        if not venue.status.is_terminal or venue.venue_order_id in order.retired:
            return  # working (listed again since), or an older venue order of it
        if venue.venue_order_id and venue.venue_order_id != order.venue_order_id:
            self._adopt_venue_id(order, venue.venue_order_id)  # (replaced elsewhere)
        view = self._venue_view(venue)
        order.record(
            OrderUpdate(
                client_order_id=order.client_order_id,
                status=view.status,
                venue_order_id=view.venue_order_id,
                filled_qty=view.filled_qty,
            ),
            local=False,
        )
        self._let_go_finished(order.client_order_id)

    def _with_zeros(self, balances: list[Balance], assets: Iterable[str]) -> list[Balance]:
        """`balances` (Binance lists only what is not 0) and a 0 for each of `assets`
        and of the assets published before (`_last_balances`) it does not list: an
        asset that went to 0 while the stream was down (BNB spent on fees, withdrawn)
        kept its old balance on the desk, no account event said otherwise."""
        found = list(balances)
        known = {b.currency for b in found}
        for asset in [*assets, *self._last_balances]:
            if asset and asset not in known:
                known.add(asset)
                found.append(
                    Balance(
                        broker=self.name,
                        account=self.account,
                        currency=asset,
                        total=ZERO,
                        available=ZERO,
                    )
                )
        return found

    # -- health -------------------------------------------------------------------------

    async def _follow_ban(self) -> None:
        """Binance's 418 ban, and a 429's Retry-After of `HELD_SHOWN_S` or more, show on
        the "rest" link: DEGRADED saying until when (`HH:MM:SS UTC`) and what it holds;
        LIVE again once over (looked at every health beat). The detail names the
        deadline, not the seconds left: it is published (a Log line) when the hold
        begins or its end moves, not each second ("for 9 s more", "8 s more", ...: 18
        lines for an 18 s ban pushed the order and fill lines off the Log pane). The
        seconds left ride along as the `banned_s` and `backoff_s` metrics. Before, a
        429's Retry-After held every order back ("orders can go again in 9 s") while
        the health read the broker and the link LIVE. Shown, the hold is still the
        REST client's to apply (`order_path_down`)."""
        link = self.health_state.links.get("rest")
        if link is None or link.state not in (ConnectionState.LIVE, ConnectionState.DEGRADED):
            return
        degraded = link.state is ConnectionState.DEGRADED
        ban_shown = degraded and link.detail.startswith(BAN_DETAIL)
        held_shown = degraded and link.detail.startswith(HELD)
        usage = self.rest.usage
        if usage.banned_s() > 0:
            await self.set_link(
                "rest",
                ConnectionState.DEGRADED,
                f"{BAN_DETAIL} until {self._ban_until()}: orders, cancels and queries are "
                "refused until then and none is sent by itself after",
            )
            return
        held = usage.backoff_s()
        mine = not degraded or ban_shown or held_shown  # (not the clock's DEGRADED)
        if held > 0 and mine and (held_shown or held >= HELD_SHOWN_S):
            await self.set_link(
                "rest",
                ConnectionState.DEGRADED,
                f"{HELD} until {self._held_until()} (HTTP 429, Retry-After): new orders "
                "and changes are refused until then, nothing sent; cancels are held and "
                "go out by themselves then, once; queries wait",
            )
        elif (ban_shown or held_shown) and self._clock_error is not None:
            # Over, but Binance refused this host's clock before (or during) it, and
            # nothing signed has passed since: the clock's words again, not LIVE (orders
            # went out to be refused -1021 until the next ask found it so).
            await self.set_link(
                "rest", ConnectionState.DEGRADED, self._clock_detail(self._clock_error)
            )
        elif ban_shown:
            await self.set_link("rest", ConnectionState.LIVE, "the ban is over")
        elif held_shown:
            await self.set_link(
                "rest", ConnectionState.LIVE, "Binance's rate limit holds nothing back now"
            )

    def order_path_down(self, *, cancel: bool = False) -> str:
        """The base's, but the "rest" link DEGRADED only to show a 429's Retry-After
        (`_follow_ban`) is not down: the REST client applies the hold itself, as before
        the link said it (an order refused saying when orders can go again; a cancel
        held and sent by itself once it is over, owed; a read waits). Taken as down, a
        cancel (the kill switch's) was refused, nothing kept to send later."""
        links = self.health_state.links
        rest = links.get("rest")
        if (
            rest is None
            or rest.state is not ConnectionState.DEGRADED
            or not rest.detail.startswith(HELD)
        ):
            return super().order_path_down(cancel=cancel)
        links["rest"] = LinkStatus(ConnectionState.LIVE, rest.detail, rest.since_ns)
        try:  # (synchronous: nothing else sees the link meanwhile)
            return super().order_path_down(cancel=cancel)
        finally:
            links["rest"] = rest

    async def publish_health(self, message: str = "") -> None:
        if not self._in_health:
            self._in_health = True
            try:
                await self._follow_ban()
            finally:
                self._in_health = False
        if self.rest.rtt_ms is not None:
            self.health_state.rtt_ms = self.rest.rtt_ms  # the last answer's round trip
        usage = self.rest.usage.as_metrics()
        # The rate line of the health pane: how much of each limit is used (a share);
        # the counts behind it and the ban/backoff countdowns ride along as metrics.
        self.health_state.rate_limit = {
            "weight_1m": usage["weight_1m"] / max(usage["weight_limit_1m"], 1),
            "orders_10s": usage["orders_10s"] / max(usage["order_limit_10s"], 1),
        }
        self.health_state.extra = {
            **usage,
            # What works: ours, and those met only in Binance's listing (no status of
            # ours) that Binance has not ended.
            "working_orders": sum(1 for o in self._orders.values() if not o.ended),
            "user_stream_rebuilds": self.user.rebuilds,
            # User streams found dead by a ping unanswered (a frozen connection).
            "user_pings_unanswered": self.user.pings_unanswered,
            "client_restarts": self.user.client_restarts,
            **self._market_stats(),
        }
        unseen = sorted(
            coid
            for coid in self._unseen_replaces
            if (o := self._orders.get(coid)) is not None and not o.ended
        )
        if unseen:
            # Working orders replaced where the journal did not see it (`_say_unseen`).
            self.health_state.extra["replaced_unseen"] = ",".join(unseen)
        if self._trades_unread:
            # Symbols whose fills made while the desk was away are not journaled yet.
            self.health_state.extra["trades_unread"] = ",".join(sorted(self._trades_unread))
        if self._unknown_event_types:
            # User-data event types dropped as unknown (counted: `user_event_unknown`).
            self.health_state.extra["user_event_types_unknown"] = ",".join(
                sorted(self._unknown_event_types)
            )
        await super().publish_health(message)

    def _market_stats(self) -> dict[str, int]:
        """The market streams' counts, as the paper desk's Binance feed exports them
        (`market_*`); the messages they dropped (undecodable, or our queue overflowed)
        are also counted as errors (`market_bad_payload`, `market_dropped`): the health
        pane shows the errors, and showed market LIVE and none while quotes were being
        dropped. (Book gaps are counted as they come: `book_gap`.)"""
        market = self.market
        if market is None:
            return {}
        stats = market.stats
        for kind, count in (
            ("market_bad_payload", stats.bad_payloads),
            ("market_dropped", stats.dropped),
            # A socket rebuilt for saying nothing (subscriptions dead at the venue):
            # counted as it is found, so the pane shows it after the link is LIVE again.
            ("market_silence", stats.silences),
        ):
            new = count - self._market_counted.get(kind, 0)
            if new > 0:
                self.health_state.errors[kind] += new
                self._market_counted[kind] = count
        return {
            "market_bad_payloads": stats.bad_payloads,
            "market_gaps": stats.gaps,
            "market_dropped": stats.dropped,
            "market_reconnects": stats.reconnects,
            "market_silences": stats.silences,
        }


def _amount(value: Decimal) -> str:
    """An amount or a quantity for a message, without Binance's trailing zeros."""
    return plain(value.normalize()) if value else "0"


def _cause(reason: str) -> str:
    """What a REST failure's reason says is wrong, without the call it names first
    (`query order ETHUSDT o1: the connection to Binance broke ...`)."""
    return reason.partition(": ")[2] or reason


def _reason(exc: BaseException) -> str:
    """Why a link is down, for the health pane: our errors say it themselves."""
    reason = str(exc) if isinstance(exc, BrokerError) else describe(exc)
    return reason if "retrying" in reason else f"{reason.rstrip('. ')}; retrying"


def _ms(update: OrderUpdate) -> int:
    return (update.venue_ts_ns or 0) // 1_000_000


def _share_known(held: JournalOrder) -> bool:
    """Whether the journal's fills of `held` per venue order are known (its fills in
    memory, or Binance asked: `_learn_shares`); nothing filled, nothing to share."""
    return bool(held.filled_by_venue_id) or held.filled_qty <= 0


def _symbol_of_execs(exec_ids: Iterable[str]) -> str:
    """The symbol Binance exec ids (`SYMBOL-tradeId`) name ("" when none does)."""
    for exec_id in exec_ids:
        symbol, _, trade = exec_id.rpartition("-")
        if symbol and trade.isdigit():
            return symbol
    return ""


def _trade_id(exec_id: str, symbol: str) -> int | None:
    prefix, _, trade = exec_id.rpartition("-")
    if prefix != symbol or not trade.isdigit():
        return None
    return int(trade)


def _too_late(order: TrackedOrder, found: VenueOrder, exc: BrokerError) -> CancelTooLate:
    """A cancel Binance refused or failed, of an order it reports ended as `found`."""
    return cancel_too_late(
        order.client_order_id,
        "Binance",
        found.status,
        found.filled_qty,
        said=f"Binance: {exc}",
        code=exc.code,
    )
