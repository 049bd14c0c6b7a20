"""The paper venue's matching core: pure, synchronous and deterministic.

No asyncio, no bus, no clock: every call takes `now_ns` and returns the reports it
produced, in order. `PaperBroker` adds latency and publishing on top; the property
tests and the benchmark drive this class directly.

Rules (docs/paper-simulator.md has worked examples):
- The market is the displayed L2 book given to `set_book`. Our orders are not shown
  in it and never trade with each other.
- Taking liquidity (market orders, the marketable part of limit orders, triggered
  stops) walks the displayed levels from the best, one fill per level, at the level's
  price moved by the slippage model (never better than the level, never through the
  limit). What is taken is gone until the next book.
- A resting limit fills at its own price (maker) only when the opposite side of a new
  book is strictly better than that price ("through"), against the size shown there;
  with `resting: queue` also at its price, after the size that was ahead of it has
  traded or left.
- Stops trigger on the side that would execute them: a buy stop when the best ask is
  at or above the stop, a sell stop when the best bid is at or below it. A STOP then
  acts as a market order, a STOP_LIMIT as a limit order. The take-profits trigger the
  other way (a buy when the best ask is at or below its stop, a sell when the best bid
  is at or above it); a TAKE_PROFIT then acts as a market order, a TAKE_PROFIT_LIMIT as
  a limit order.
- Market orders are IOC (a remainder the displayed book cannot fill expires); IOC
  never rests; FOK fills completely at once or expires untouched (a reduce-only one
  also when not all of it still reduces the position); GTC rests; DAY rests
  until the next `day_end_utc`.
- Every accepted order is checked first: grid rules, working-order limit, cash or
  position. Rejections raise `OrderRejected`/`InsufficientFunds` and change nothing.
- Finished orders (FILLED, CANCELED, EXPIRED) are archived beyond a window
  (`PaperRetentionConfig`: the newest N, none older than M minutes), as a real venue
  archives them: they leave `orders`, and the venue answers for them as for an order it
  never had. Archiving runs at the start of `submit`, `cancel`, `replace` and `expire`
  (not of `set_book`, the hot path: the adapter calls `expire` after every market
  step), never in the middle of a call, so the reports a call returns always name
  orders it still holds. It skips held orders: with `hold_reported` (the adapter)
  every order a call reports on is held until the adapter `release`s it, once its
  reports are delivered.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from ...config import (
    PaperBrokerConfig,
    PaperChecksConfig,
    PaperFeesConfig,
    PaperFillConfig,
    PaperRetentionConfig,
)
from ...domain import (
    ZERO,
    Instrument,
    Liquidity,
    OrderRequest,
    OrderStatus,
    OrderType,
    Side,
    TimeInForce,
    quantize_to_step,
)
from ...domain.clock import DAY_NS
from ...domain.money import decimal_places, fmt
from ..errors import InsufficientFunds, OrderRejected, UnknownOrder
from .account import Account, CashState, PositionState, average
from .instruments import SymbolSpec, build_specs
from .market import Level, MarketBook
from .orders import (
    REDUCE_ONLY_DONE,
    TRIGGERED_REASON,
    ExecReport,
    ReportKind,
    SimFill,
    SimOrder,
)

FIRST_REASON = (
    "filled before the working sells ahead of it, it sells the position they hold "
    "and they then sell short"
)
"""Why a sell is judged beyond its own short part (`PaperVenue._first_need`)."""

DEFICIT_REASON = (
    "the account is in deficit (a loss realized with leverage took buying power below "
    "zero): until it is back above zero only orders that need none are taken (sales of "
    "a long, buys that cover a short); cancelling working orders frees what they lock"
)
"""Said with a refusal while the buying power is below zero (`PaperVenue._insufficient_cash`)."""

BPS = Decimal("0.0001")
FEE_QUANTUM = Decimal("0.00000001")
"""Fees are rounded up to this (never in the trader's favour)."""
_NEVER = 2**63

Key = tuple[Decimal, int]


class _Ladder:
    """Orders sorted by a priority key; index 0 is the most aggressive."""

    __slots__ = ("keys", "orders")

    def __init__(self) -> None:
        self.keys: list[Key] = []
        self.orders: list[SimOrder] = []

    def add(self, key: Key, order: SimOrder) -> None:
        i = bisect_right(self.keys, key)
        self.keys.insert(i, key)
        self.orders.insert(i, order)

    def remove(self, key: Key) -> None:
        i = bisect_left(self.keys, key)
        del self.keys[i]
        del self.orders[i]

    def __len__(self) -> int:
        return len(self.orders)


class _Holders:
    """What the working sells of an instrument hold of its position, in time priority
    (those before a sell being judged: the position a sell that fills first takes
    from them), as running sums: of the quantity each holds, of the cash that quantity
    would lock once sold short (at its `_reserved_per_unit`; none for a reduce-only
    sell), and of their leaves."""

    __slots__ = ("cash", "held", "leaves", "per_unit")

    def __init__(self) -> None:
        self.held: list[Decimal] = []  # running, holders only
        self.cash: list[Decimal] = []
        self.per_unit: list[Decimal] = []
        self.leaves = ZERO

    def add(self, held: Decimal, per_unit: Decimal, leaves: Decimal) -> None:
        self.leaves += leaves
        if held > 0:
            self.held.append((self.held[-1] if self.held else ZERO) + held)
            self.cash.append((self.cash[-1] if self.cash else ZERO) + held * per_unit)
            self.per_unit.append(per_unit)

    def extra(self, position: Decimal) -> Decimal:
        """What they lock more once they hold only what `position` leaves them (filled
        again in time priority: the last holders lose theirs first)."""
        if not self.held:
            return ZERO
        keep = position if position < self.leaves else self.leaves
        if keep <= 0:
            return self.cash[-1]
        if keep >= self.held[-1]:
            return ZERO
        i = bisect_left(self.held, keep)  # the holder the cut falls in
        before = self.held[i - 1] if i else ZERO
        kept = (self.cash[i - 1] if i else ZERO) + (keep - before) * self.per_unit[i]
        return self.cash[-1] - kept


@dataclass(slots=True)
class _Inst:
    """Everything the venue keeps per instrument."""

    instrument: Instrument
    key: str
    currency: str
    base: str
    tick: Decimal
    tick_places: int  # (an average is reported on them + AVG_EXTRA_PLACES)
    multiplier: Decimal
    impact_scale: Decimal  # coefficient * daily sigma / sqrt(daily volume)
    book: MarketBook | None = None
    taken_bids: dict[Decimal, Decimal] = field(default_factory=dict)
    taken_asks: dict[Decimal, Decimal] = field(default_factory=dict)
    buys: _Ladder = field(default_factory=_Ladder)
    sells: _Ladder = field(default_factory=_Ladder)
    # Triggered by the price rising (buy stops, sell take-profits; lowest stop first)
    # and falling (sell stops, buy take-profits; highest stop first).
    buy_stops: _Ladder = field(default_factory=_Ladder)
    sell_stops: _Ladder = field(default_factory=_Ladder)
    working: dict[str, SimOrder] = field(default_factory=dict)  # by client order id
    # The price of the venue's last trade: a paper venue's only trades are its fills.
    last_trade: Decimal | None = None


def _apart(need: Decimal, have: Decimal) -> tuple[str, str]:
    """`need` and `have` (`need` > `have`: a refusal) as a message shows them: with 2
    places, or with as many more as it takes for them not to read the same (at the
    places of the more precise one both are exact). At 2 places a shortfall under a
    cent read "need 1,000.00 USDT, available 1,000.00"."""
    exact = max(2, decimal_places(need), decimal_places(have))
    places = 2
    while True:
        shown_need, shown_have = fmt(need, places), fmt(have, places)
        if shown_need != shown_have or places >= exact:
            return shown_need, shown_have
        places += 1


def day_end_offset_ns(day_end_utc: str) -> int:
    hours, _, minutes = day_end_utc.partition(":")
    return (int(hours) * 3600 + int(minutes) * 60) * 1_000_000_000


def next_day_end(now_ns: int, offset_ns: int) -> int:
    """The first `HH:MM` UTC strictly after `now_ns`."""
    return ((now_ns - offset_ns) // DAY_NS + 1) * DAY_NS + offset_ns


class PaperVenue:
    """A simulated exchange for one account: books, our orders, matching, the account."""

    def __init__(
        self,
        instruments: Iterable[Instrument],
        *,
        cash: Mapping[str, Decimal],
        fees: PaperFeesConfig | None = None,
        fill: PaperFillConfig | None = None,
        checks: PaperChecksConfig | None = None,
        day_end_utc: str = "00:00",
        volatility: Mapping[str, float] | None = None,
        daily_volume: Mapping[str, Decimal] | None = None,
        retention: PaperRetentionConfig | None = None,
    ) -> None:
        fees = fees or PaperFeesConfig()
        retention = retention or PaperRetentionConfig()
        self.fill_rules = fill or PaperFillConfig()
        self.checks = checks or PaperChecksConfig()
        self.maker_rate = fees.maker_bps * BPS
        self.taker_rate = fees.taker_bps * BPS
        # A buy pays its fee in the base asset it receives (`fees.currency: base`), but
        # one that buys back a short: that pays in the quote currency, as a sell does
        # (the base it receives covers the short; a fee out of it would leave a short).
        self.fee_in_base = fees.currency == "base"
        # What a unit of notional takes of buying power with its fee (at the higher
        # rate): the fee comes out of equity, which the leverage multiplies.
        self._reserve_rate = 1 + max(self.maker_rate, self.taker_rate, ZERO) * (
            self.checks.leverage
        )
        self._through = self.fill_rules.resting == "through"
        self._day_offset = day_end_offset_ns(day_end_utc)
        instruments = list(instruments)
        self.account = Account(
            cash,
            leverage=self.checks.leverage,
            short_selling=self.checks.short_selling,
            instruments=instruments,
        )
        self.orders: dict[str, SimOrder] = {}
        self._insts: dict[str, _Inst] = {}
        for inst in instruments:
            vol = Decimal(str((volatility or {}).get(inst.key, 0.0)))
            volume = (daily_volume or {}).get(inst.key)
            scale = ZERO
            if volume and volume > 0:
                sigma_daily = vol / Decimal(365).sqrt()
                scale = self.fill_rules.impact_coefficient * sigma_daily / volume.sqrt()
            self._insts[inst.key] = _Inst(
                instrument=inst,
                key=inst.key,
                currency=inst.quote_currency,
                base=inst.base_currency or inst.symbol,
                tick=inst.tick_size,
                tick_places=inst.tick_places,
                multiplier=inst.multiplier,
                impact_scale=scale,
            )
        self._seq = 0
        self._day_orders: dict[str, SimOrder] = {}
        self._next_expiry = _NEVER
        # Reports of DAY orders an order entry expired before it ran (`_expire_first`):
        # returned with that call's reports, or, when it raised, with the next call's.
        self._expired: list[ExecReport] = []
        # Finished orders still held, oldest first (the archive window).
        self._finished: deque[SimOrder] = deque()
        self.keep_finished = retention.finished_orders
        self.keep_finished_ns = round(retention.finished_minutes * 60 * 1_000_000_000)
        # Orders whose reports the adapter has not delivered yet: never archived.
        self._holds: dict[str, int] = {}
        self._deferred: dict[str, SimOrder] = {}  # due for the archive, but held
        self.archived = 0
        # True (the adapter): every order a call reports on is held until `release`d,
        # i.e. until its reports are delivered. False (the bare core): nothing is held.
        self.hold_reported = False
        # Called with each order as it leaves memory (the adapter forgets it too).
        self.on_archive: Callable[[SimOrder], None] | None = None

    @classmethod
    def from_config(
        cls, config: PaperBrokerConfig, specs: Mapping[str, SymbolSpec] | None = None
    ) -> PaperVenue:
        specs = build_specs(config) if specs is None else specs
        return cls(
            [s.instrument() for s in specs.values()],
            cash=config.starting_cash,
            fees=config.fees,
            fill=config.fill,
            checks=config.checks,
            day_end_utc=config.market.day_end_utc,
            volatility={k: s.volatility for k, s in specs.items()},
            daily_volume={k: s.daily_volume for k, s in specs.items()},
            retention=config.retention,
        )

    # -- reading ----------------------------------------------------------------------

    @property
    def instruments(self) -> dict[str, Instrument]:
        return {key: st.instrument for key, st in self._insts.items()}

    @property
    def last_seq(self) -> int:
        return self._seq

    def book(self, key: str) -> MarketBook | None:
        st = self._insts.get(key)
        return st.book if st is not None else None

    def last_trade(self, key: str) -> Decimal | None:
        """The price of the last fill in `key` (None before any): the venue's last
        trade, which its quotes carry as `last`."""
        st = self._insts.get(key)
        return st.last_trade if st is not None else None

    def note_trade(self, key: str, price: Decimal) -> None:
        """A fill read back from the journal (a restart): the last trade it was."""
        st = self._insts.get(key)
        if st is not None:
            st.last_trade = price

    def mid(self, key: str) -> Decimal | None:
        book = self.book(key)
        return book.mid if book is not None else None

    def order(self, client_order_id: str) -> SimOrder | None:
        return self.orders.get(client_order_id)

    def open_orders(self, instrument: str | None = None) -> list[SimOrder]:
        """Working orders (of one instrument), in the order the venue accepted them."""
        if instrument is not None:
            st = self._insts.get(instrument)
            return list(st.working.values()) if st is not None else []
        found = [o for st in self._insts.values() for o in st.working.values()]
        found.sort(key=lambda o: o.number)
        return found

    def positions(self) -> list[PositionState]:
        return [p for p in self.account.positions.values() if p.quantity != 0]

    def balances(self) -> list[CashState]:
        return [self.account.cash_state(ccy) for ccy in sorted(self.account.cash)]

    def fills_since(self, since_ns: int = 0) -> list[SimFill]:
        found = [f for o in self.orders.values() for f in o.fills if f.ts_ns >= since_ns]
        found.sort(key=lambda f: f.ts_ns)
        return found

    def _inst(self, key: str) -> _Inst:
        st = self._insts.get(key)
        if st is None:
            known = ", ".join(sorted(self._insts)) or "none"
            raise OrderRejected(f"Invalid symbol: {key} is not traded here (known: {known})")
        return st

    # -- market -------------------------------------------------------------------------

    def set_book(self, book: MarketBook, now_ns: int, *, match: bool = True) -> list[ExecReport]:
        """Install a new displayed book and run what it triggers and fills.

        `match=False` installs the book without matching (a restart resumes from the
        last book it had already matched). The book is installed as `tradable` makes it:
        levels priced at 0 or below dropped, a crossed book no market at all.
        """
        st = self._insts.get(book.instrument)
        if st is None:
            return []
        book = book.tradable()
        st.book = book
        if st.taken_bids:
            st.taken_bids = {}
        if st.taken_asks:
            st.taken_asks = {}
        if not match:
            if not self._through:
                # Orders restored from the journal learn their queue from this book.
                self._update_queues(st)
            return []
        reports: list[ExecReport] = []
        if now_ns >= self._next_expiry:
            self._expire(now_ns, reports)
        if st.buy_stops.orders or st.sell_stops.orders:
            self._run_triggers(st, now_ns, reports)
        if not self._through:
            self._update_queues(st)
        if st.buys.orders and book.asks:
            self._match_resting(st, st.buys, book.asks, Side.BUY, now_ns, reports)
        if st.sells.orders and book.bids:
            self._match_resting(st, st.sells, book.bids, Side.SELL, now_ns, reports)
        return self._with_expired(self._out(reports))

    def expire(self, now_ns: int) -> list[ExecReport]:
        """Expire DAY orders whose session ended at or before `now_ns` (with the reports
        of any an order entry expired and could not return: it raised)."""
        self.archive(now_ns)
        reports: list[ExecReport] = []
        if now_ns >= self._next_expiry:
            self._expire(now_ns, reports)
        return self._with_expired(self._out(reports))

    def _expire_first(self, now_ns: int) -> None:
        """Before an order entry (submit, cancel, replace): archive, then expire the DAY
        orders whose session has ended. Without it, an order past its session end kept
        trading while no book came (a quiet feed): a replace made it marketable and it
        filled. Their reports wait in `_expired` for the entry's return (`_with_expired`)."""
        self.archive(now_ns)
        if now_ns >= self._next_expiry:
            reports: list[ExecReport] = []
            self._expire(now_ns, reports)
            self._expired += self._out(reports)

    def _with_expired(self, reports: list[ExecReport]) -> list[ExecReport]:
        """`reports` behind the expiries an earlier step made and has not returned."""
        if self._expired:
            reports = self._expired + reports
            self._expired = []
        return reports

    # -- order entry ------------------------------------------------------------------

    def submit(
        self,
        request: OrderRequest,
        now_ns: int,
        *,
        arrival_mid: Decimal | None = None,
        prechecked: bool = False,
    ) -> list[ExecReport]:
        """Check and accept an order, then let it trade. Raises on a rejection.

        `prechecked=True` skips the grid rules the client already checked against this
        very instrument (`Broker.place` does); the market-dependent checks (a market
        order's minimum notional, funds, limits) always run.
        """
        self._expire_first(now_ns)
        st = self._inst(request.instrument)
        if request.client_order_id in self.orders:
            raise OrderRejected(
                f"Duplicate order sent: client order id {request.client_order_id} is taken",
                code=-2010,
            )
        if request.quantity is None:
            # Paper's capabilities offer no order by quote amount; this is the backstop.
            raise OrderRejected(
                "the paper venue takes a quantity, not an amount in the quote currency",
                code=-1013,
            )
        quantity = request.quantity
        book = st.book
        is_buy = request.side is Side.BUY
        market_price: Decimal | None = None
        if request.order_type is OrderType.MARKET:
            if book is None or not (book.asks if is_buy else book.bids):
                side = "asks" if is_buy else "bids"
                raise OrderRejected(
                    f"no liquidity: the book of {st.key} has no {side} for a market order",
                    code=-2010,
                )
            market_price = book.asks[0][0] if is_buy else book.bids[0][0]
        if not prechecked:
            issues = request.issues(st.instrument, market_price)
            if issues:
                raise OrderRejected(
                    "Filter failure: " + "; ".join(str(i) for i in issues), code=-1013
                )
        elif market_price is not None and st.instrument.min_notional > 0:
            notional = st.instrument.notional(quantity, market_price)
            if notional < st.instrument.min_notional:
                raise OrderRejected(
                    f"Filter failure: quantity: notional {fmt(notional)} {st.currency}"
                    f" < minimum {fmt(st.instrument.min_notional)}",
                    code=-1013,
                )
        if len(st.working) >= self.checks.max_open_orders:
            raise OrderRejected(
                f"Filter failure: MAX_NUM_ORDERS ({self.checks.max_open_orders} working "
                f"orders on {st.key})",
                code=-1013,
            )
        if request.reduce_only:
            self._check_reduce_only(st, request.side, quantity)
        order = SimOrder(
            seq=self._seq + 1,
            client_order_id=request.client_order_id,
            venue_order_id=f"P{self._seq + 1}",
            instrument=st.key,
            side=request.side,
            order_type=request.order_type,
            tif=request.tif,
            quantity=quantity,
            limit_price=request.limit_price,
            stop_price=request.stop_price,
            created_ns=now_ns,
            tick_places=st.tick_places,
            arrival_mid=arrival_mid if arrival_mid is not None else self.mid(st.key),
            reduce_only=request.reduce_only,
        )
        if order.acts_as_market:
            self._check_market_funds(st, order)
        elif order.side is Side.BUY and self._covering(st):
            self._reserve_buys(st, checking=order)
        else:
            self._reserve(st, order, check=True)
        try:
            if order.acts_as_market:
                self._check_sells_ahead(st, order)  # (a sell that rests: in `_reserve`)
            elif self.account.short_selling:
                self._check_buys_after_sell(st, order)
        except InsufficientFunds:
            self._release(st, order)
            raise
        self._seq += 1
        self.orders[order.client_order_id] = order
        st.working[order.client_order_id] = order
        if order.side is Side.SELL and self._covering(st):
            self._reserve_buys(st)  # a sell that may add to the short: the buys' share
        if order.tif is TimeInForce.DAY and not order.acts_as_market:
            order.expires_ns = next_day_end(now_ns, self._day_offset)
            self._day_orders[order.client_order_id] = order
            self._next_expiry = min(self._next_expiry, order.expires_ns)
        reports = [self._report(order, ReportKind.ACCEPTED, now_ns)]
        self._work(st, order, now_ns, reports)
        return self._with_expired(self._out(reports))

    def cancel(self, client_order_id: str, now_ns: int, reason: str = "") -> list[ExecReport]:
        self._expire_first(now_ns)
        order = self._working_order(client_order_id, "cancel")
        reports: list[ExecReport] = []
        self._terminate(
            self._insts[order.instrument],
            order,
            OrderStatus.CANCELED,
            reason or "canceled",
            now_ns,
            reports,
        )
        return self._with_expired(self._out(reports))

    def replace(
        self,
        client_order_id: str,
        now_ns: int,
        *,
        quantity: Decimal | None = None,
        limit_price: Decimal | None = None,
        stop_price: Decimal | None = None,
    ) -> list[ExecReport]:
        """Cancel/replace: new terms, same client order id, back of the queue.

        The new quantity is the total (filled included) and must exceed what has filled.
        A refused replace leaves the order exactly as it was (terms and priority).
        """
        self._expire_first(now_ns)
        order = self._working_order(client_order_id, "modify")
        st = self._insts[order.instrument]
        inst = st.instrument
        new_qty = order.quantity if quantity is None else quantity
        problems: list[str] = []
        if new_qty <= order.filled_qty:
            problems.append(
                f"quantity {fmt(new_qty)} must be above the filled {fmt(order.filled_qty)}"
            )
        problems += [str(i) for i in inst.check_qty(new_qty)]
        if limit_price is not None:
            if not order.order_type.has_limit_price:
                problems.append(f"limit_price: not allowed for {order.order_type} orders")
            else:
                problems += [str(i) for i in inst.check_price(limit_price, "limit_price")]
        if stop_price is not None:
            if not order.order_type.has_stop_price:
                problems.append(f"stop_price: not allowed for {order.order_type} orders")
            elif order.triggered:
                problems.append("stop_price: the stop has already triggered")
            else:
                problems += [str(i) for i in inst.check_price(stop_price, "stop_price")]
        # The notional limits a new order meets, at the changed order's price (its
        # limit, else its stop), on its whole quantity.
        price = limit_price if limit_price is not None else order.limit_price
        if price is None:
            price = stop_price if stop_price is not None else order.stop_price
        if price is not None and price > 0 and not problems:
            notional = inst.notional(new_qty, price)
            if notional < inst.min_notional:
                problems.append(
                    f"quantity: notional {fmt(notional)} {st.currency}"
                    f" < minimum {fmt(inst.min_notional)}"
                )
            elif inst.max_notional is not None and notional > inst.max_notional:
                problems.append(
                    f"quantity: notional {fmt(notional)} {st.currency}"
                    f" > maximum {fmt(inst.max_notional)}"
                )
        if order.reduce_only and new_qty > order.quantity and not problems:
            # Grown, it must still only reduce the position (as a new order must); a
            # smaller one is never refused for it.
            try:
                self._check_reduce_only(st, order.side, new_qty - order.filled_qty)
            except OrderRejected as exc:
                raise OrderRejected(f"replace rejected: {exc}", code=exc.code) from exc
        if problems:
            raise OrderRejected("replace rejected: " + "; ".join(problems), code=-1013)
        old = (order.quantity, order.limit_price, order.stop_price, order.slot)
        self._release(st, order)
        self._unslot(st, order)
        order.quantity = new_qty
        if limit_price is not None:
            order.limit_price = limit_price
        if stop_price is not None:
            order.stop_price = stop_price
        shared = order.side is Side.SELL and self.account.short_selling
        covering = order.side is Side.BUY and self._covering(st)
        was_seq = order.seq
        try:
            if shared:
                # Checked where it goes, the last of the sells: the others hold the
                # position first, and what it sells short must be paid for. Checked at
                # its old place, the short part moved to it unchecked (cash locked
                # beyond what the account had). (Filling before them: `_first_need`.)
                order.seq = self._seq + 1
                self._reserve_sells(st, checking=order)
                self._check_buys_after_sell(st, order)
            elif covering:
                # The last of the buys too: those before it take their share of what
                # covering the short gives back first.
                order.seq = self._seq + 1
                self._reserve_buys(st, checking=order)
            else:
                self._reserve(st, order, check=True)
        except OrderRejected:
            order.quantity, order.limit_price, order.stop_price, slot = old
            order.seq = was_seq
            if shared:
                self._reserve_sells(st)
            elif covering:
                self._reserve_buys(st)
            else:
                self._reserve(st, order, check=False)
            if slot is not None:
                self._slot(st, order, slot[0], slot[1])
            raise
        self._seq += 1
        order.seq = self._seq
        order.queue_ahead = None
        if shared and self._covering(st):
            self._reserve_buys(st)  # the sells that may add to the short changed
        reports = [self._report(order, ReportKind.REPLACED, now_ns)]
        self._work(st, order, now_ns, reports)
        return self._with_expired(self._out(reports))

    def _working_order(self, client_order_id: str, action: str) -> SimOrder:
        order = self.orders.get(client_order_id)
        if order is None:
            raise UnknownOrder(
                f"Unknown order sent: no order {client_order_id} to {action}", code=-2011
            )
        if order.status.is_terminal:
            raise UnknownOrder(
                f"Unknown order sent: order {client_order_id} is already {order.status}, "
                f"nothing to {action}",
                code=-2011,
            )
        return order

    # -- checks and reservations --------------------------------------------------------

    def _check_reduce_only(self, st: _Inst, side: Side, qty: Decimal) -> None:
        pos = self.account.position_qty(st.key)
        reduces = (pos > 0 and side is Side.SELL) or (pos < 0 and side is Side.BUY)
        if not reduces or qty > abs(pos):
            raise OrderRejected(
                f"reduce-only order would increase the position: {side} {fmt(qty)} "
                f"with {fmt(pos)} {st.base} held",
                code=-2010,
            )

    def _insufficient_cash(
        self, st: _Inst, need: Decimal, held: Decimal = ZERO, why: str = ""
    ) -> InsufficientFunds:
        """`need` against the buying power, with `held` (what the order being judged
        already locks) said in both, and `why` the order needs it when that is not
        plain (`FIRST_REASON`). Below zero, the buying power is a deficit: a sale of a
        long below its cost realized a loss, with leverage, larger than the cost it
        freed (never refused: docs/paper-simulator.md, "Checks", rule 5); the message
        says so, and what brings it back above zero."""
        have = self.account.buying_power(st.currency) + held
        need += held
        shown_need, shown_have = _apart(need, have)
        text = f"insufficient balance: need {shown_need} {st.currency}, available {shown_have}"
        if why:
            text += f" ({why})"
        if have < 0:
            text += f"; {DEFICIT_REASON}"
        return InsufficientFunds(text, code=-2010)

    def _insufficient_position(self, st: _Inst, need: Decimal) -> InsufficientFunds:
        have = self.account.sellable(st.key)
        return InsufficientFunds(
            f"insufficient position: need {fmt(need)} {st.base}, available {fmt(have)}",
            code=-2010,
        )

    def _reserve(
        self,
        st: _Inst,
        order: SimOrder,
        *,
        check: bool,
        holders: _Holders | None = None,
        firsts: bool = True,
    ) -> None:
        """Reserve what the order's remaining quantity needs (nothing for market orders).

        Buys reserve ``leaves * price * (1 + fee rate)`` in cash (price: the limit, or
        the stop of a STOP order); with a short to cover they are reserved together
        (`_reserve_buys`), each less its share of what covering gives back. Sells
        reserve the position they sell; the part that
        would go short needs `short_selling` and reserves cash like a buy (margin). With
        `short_selling`, the working sells share the position in time priority and are
        reserved again as it changes (`_reserve_sells`). A short sell is checked at the
        prices it fills at (`_short_margin`): a filled short holds its margin at its
        fill price, at or above the limit. A sell may also fill before the sells ahead
        of it (at once, at a better price, or a stop triggered first): it then sells
        the position they hold and they sell short; it locks and is checked for the
        more of the two (`_first_need`).
        """
        if order.acts_as_market:
            return
        acct = self.account
        per_unit = self._reserved_per_unit(st, order)
        assert per_unit is not None
        leaves = order.quantity - order.filled_qty
        need = ZERO
        qty = ZERO
        judged = ZERO  # what the check judges: `need`, but a short at what it fills at
        why = ""
        if order.side is Side.BUY:
            need = judged = leaves * per_unit
        else:
            free = acct.sellable(st.key)
            qty = leaves if leaves <= free else free
            short = leaves - qty
            if short > 0:
                if not acct.short_selling:
                    if check:
                        raise self._insufficient_position(st, leaves)
                elif not order.reduce_only:
                    # (A reduce-only sell never sells short: it fills only what still
                    # reduces the position, so its rest needs no margin.)
                    need = short * per_unit
                    judged = self._short_margin(st, order, short, per_unit) if check else need
            if acct.short_selling and firsts:
                first = self._first_need(st, order, holders, need, walk=check)
                if first > judged:
                    judged = first
                    why = FIRST_REASON
                need = first if first > need else need
        if check and judged > 0 and judged > acct.buying_power(st.currency):
            raise self._insufficient_cash(st, judged, why=why)
        acct.lock_cash(st.currency, need)
        acct.lock_qty(st.key, qty)
        order.reserved_cash = need
        order.reserved_qty = qty
        if holders is not None:  # (`_reserve_sells`: the next sell's sells ahead)
            holders.add(qty, ZERO if order.reduce_only else per_unit, leaves)

    def _short_margin(
        self, st: _Inst, order: SimOrder, short: Decimal, per_unit: Decimal
    ) -> Decimal:
        """What the short part of a sell (`short`: the last units of its leaves; the
        first ones sell the position) takes of buying power as it trades now: the units it
        takes from the bids at their price (slipped) with the taker fee, times the
        leverage, as a fill holds them (`Account.buying_power`: ``cost + leverage *
        fee``); the units that rest at `per_unit` (the limit with the fee at the higher
        rate), as they fill there. A sell fills at its limit or above: judged at the
        limit, a marketable short filled higher and held more than it was checked for
        (1,000 USDT, a SELL 0.5 @ 1,990 filled at 2,000.00: buying power -1.00)."""
        if order.is_stop:
            return short * per_unit  # judged again as it triggers (`_trigger`)
        taken = [
            (self._slip(st, order, price, order.limit_price), q)
            for price, q in self._reachable(st, order, order.limit_price)
        ]
        rest = order.quantity - order.filled_qty - sum((q for _, q in taken), ZERO)
        resting = short if short <= rest else rest
        need = resting * per_unit
        left = short - resting
        leverage = self.account.leverage
        for price, q in reversed(taken):  # the short part fills last, at the lowest bids
            if left <= 0:
                break
            part = q if q <= left else left
            notional = part * price * st.multiplier
            need += notional + self._fee(notional, self.taker_rate) * leverage
            left -= part
        return need

    def _release(self, st: _Inst, order: SimOrder) -> None:
        self.account.unlock_cash(st.currency, order.reserved_cash)
        self.account.unlock_qty(st.key, order.reserved_qty)
        order.reserved_cash = ZERO
        order.reserved_qty = ZERO

    def _reserve_sells(self, st: _Inst, checking: SimOrder | None = None) -> None:
        """With `short_selling`: reserve the working sells of `st` again, in time
        priority, each the position the earlier ones left and cash for its short rest
        (`checking`: that one's cash is checked against buying power; refused, it and
        the sells after it are left unreserved: the caller reserves them again).

        Redone whenever the position or the sells change (a fill, a sell replaced or
        ended), so what they lock is what they need now, and what a restart locks.
        """
        sells = sorted(
            (o for o in st.working.values() if o.side is Side.SELL and not o.acts_as_market),
            key=lambda o: o.seq,
        )
        for order in sells:
            self._release(st, order)
        position = self.account.position_qty(st.key)
        exact = self._firsts_to_judge(st, sells, position) if position > 0 else set()
        if checking is not None and position > 0:
            exact.add(id(checking))  # (judged at the prices it fills at)
        holders = _Holders() if exact else None
        left = len(exact)
        for order in sells:
            judged = id(order) in exact
            self._reserve(st, order, check=order is checking, holders=holders, firsts=judged)
            if judged:
                left -= 1
                if not left:
                    holders = None  # (no sell after it is judged so)

    def _firsts_to_judge(self, st: _Inst, sells: list[SimOrder], position: Decimal) -> set[int]:
        """The ids of those of `sells` (long `position`) that may lock more for filling
        before the sells ahead of them than for their own short part (`_first_need`
        at their limit or stop, run for these only). The others, by a bound cheap
        enough for every fill: they are not reduce-only, and at the lowest price among
        them a unit sold gives buying power at least what a unit the sells ahead lose
        would lock (the highest `_reserved_per_unit` of all) more than that unit sold
        short locks, and more than nothing (``leverage * price * (1 - fee rate) -
        (leverage - 1) * unit cost``, less a fee's rounding on the least it may
        sell)."""
        judge: set[int] = set()
        top = ZERO
        low: Decimal | None = None
        least: Decimal | None = None
        rest: list[SimOrder] = []
        for o in sells:
            # (As `_reserved_per_unit` says, read off the fields: this runs at every fill.)
            ref = o.limit_price if o.limit_price is not None else o.stop_price
            assert ref is not None
            if o.reduce_only:
                judge.add(id(o))
                continue
            if ref > top:
                top = ref
            rest.append(o)
            low = ref if low is None or ref < low else low
            leaves = o.quantity - o.filled_qty
            least = leaves if least is None or leaves < least else least
        if low is None or least is None or least <= 0:
            return judge
        acct = self.account
        unit = acct.long_unit_cost(st.key)
        if unit is not None:
            leverage = acct.leverage
            rate = max(self.maker_rate, self.taker_rate, ZERO)
            price = low * st.multiplier
            sold = least if least < position else position
            slack = leverage * FEE_QUANTUM / sold
            credit = leverage * price * (1 - rate) - (leverage - 1) * unit - slack
            most = top * st.multiplier * self._reserve_rate
            if credit >= 0 and most + (leverage - 1) * unit + slack <= price * (1 + leverage):
                return judge
        return judge | {id(o) for o in rest}

    def _covering(self, st: _Inst) -> bool:
        """Short in `st` (with `short_selling`): buys are reserved together
        (`_reserve_buys`)."""
        return self.account.short_selling and self.account.position_qty(st.key) < 0

    @staticmethod
    def _buys(st: _Inst) -> list[SimOrder]:
        """The working buys of `st` that reserve cash, in time priority."""
        return sorted(
            (o for o in st.working.values() if o.side is Side.BUY and not o.acts_as_market),
            key=lambda o: o.seq,
        )

    def _sells_floor(self, st: _Inst, extra: SimOrder | None = None) -> Decimal | None:
        """The lowest price (multiplier applied) at which a working sell of `st` (and
        `extra`) may add to the short: its limit (a sell fills at its limit or above).
        Not a reduce-only sell (it never sells short), nor a STOP or TAKE_PROFIT sell:
        one takes the bids as it triggers, and is judged there (`_check_market_funds`).
        None: there is none."""
        floor: Decimal | None = None
        for order in (*st.working.values(), *((extra,) if extra is not None else ())):
            if (
                order.side is Side.BUY
                or order.reduce_only
                or order.order_type.market_on_trigger
                or order.limit_price is None
            ):
                continue
            price = order.limit_price * st.multiplier
            if floor is None or price < floor:
                floor = price
        return floor

    def _short_terms(
        self,
        st: _Inst,
        *,
        covered: Decimal = ZERO,
        grown: Decimal = ZERO,
        low: Decimal | None = None,
        extra: SimOrder | None = None,
    ) -> tuple[Decimal, Decimal, Decimal] | None:
        """(units, cost, unit cost) of the short the working buys of `st` would cover:
        the short less `covered` units (a market buy covers them first), with `grown`
        units more sold short at `low` or above (a sell being judged; `low`: the lowest
        price it fills at). The unit cost is what covering part of it takes a unit,
        at the least it may be by the time a buy covers: a sell that fills below the
        short's average lowers it, and with it what covering part gives back. So it
        is at most the lowest price a working sell (`extra` too, and `low`) may add to
        the short at (`_sells_floor`). (What covering all of it gives back only grows
        as a sell adds to it, while a unit covered gives anything back at all:
        `_buy_locks`.) None: no short."""
        units, cost, unit = self.account.short_terms(st.key, covered)
        floor = self._sells_floor(st, extra)
        if low is not None:
            floor = low if floor is None or low < floor else floor
            if grown > 0:
                unit = low if not units or low < unit else unit
                units, cost = units + grown, cost + grown * low
        if not units:
            return None
        if floor is not None and floor < unit:
            unit = floor
        return units, cost, unit

    def _buy_locks(
        self,
        st: _Inst,
        buys: list[SimOrder],
        terms: tuple[Decimal, Decimal, Decimal] | None,
    ) -> list[Decimal]:
        """What each of `buys` (in time priority) locks with the short `terms`
        (`_short_terms`; None: no short, each locks its need).

        A buy needs ``leaves * price * (1 + leverage * max fee rate)``
        (`_reserved_per_unit`). Covering the short gives back its cost times 1 +
        leverage, less the leverage's share of what the covering pays
        (`Account.cover_credit`), judged at the highest price a working buy pays and the
        least cost a unit the short may have (the least it gives back, whichever buy
        covers, whenever). The buys share that, in time priority, each up to what it
        needs and to what covering all it can of the short gives back; each locks the
        rest of its need. Whatever fills first, at its price or better, leaves buying
        power no lower than this: what a fill takes, it gave up as lock or took from
        the give-back, and what is left of the give-back is there for the others.
        Where covering gives nothing back (with leverage, at a price well above the
        short's), each also locks what covering all its quantity would cost more than
        buying it."""
        needs: list[Decimal] = []
        top = ZERO
        for order in buys:
            per_unit = self._reserved_per_unit(st, order)
            assert per_unit is not None
            needs.append((order.quantity - order.filled_qty) * per_unit)
            ref = order.limit_price if order.order_type.has_limit_price else order.stop_price
            assert ref is not None
            top = max(top, ref * st.multiplier)
        if terms is None or not buys:
            return needs
        units, cost, unit = terms
        leverage = self.account.leverage
        per_unit_back = (1 + leverage) * unit - (leverage - 1) * top
        if per_unit_back <= 0:
            return [
                need - per_unit_back * (o.quantity - o.filled_qty)
                for o, need in zip(buys, needs, strict=True)
            ]
        pool = (1 + leverage) * cost - (leverage - 1) * top * units
        locks: list[Decimal] = []
        for order, need in zip(buys, needs, strict=True):
            leaves = order.quantity - order.filled_qty
            if pool <= 0:
                locks.append(need)
                continue
            if leaves < units:
                cap = leaves * per_unit_back
            else:
                cap = (1 + leverage) * cost - (leverage - 1) * top * units
            share = min(need, cap, pool)
            if share < 0:
                share = ZERO
            pool -= share
            locks.append(need - share)
        return locks

    def _reserve_buys(self, st: _Inst, checking: SimOrder | None = None) -> None:
        """With a short in `st`: reserve its working buys again (`_buy_locks`), with
        `checking` (a new buy, or one replaced) among them: what they lock more than
        they did is checked against buying power, and refused, nothing changes.

        Redone whenever the short, the buys or the sells that may add to the short
        change (a fill; an order placed, replaced or ended), so what they lock is what
        they need now, and what a restart locks.
        """
        acct = self.account
        buys = self._buys(st)
        if checking is not None and checking.client_order_id not in st.working:
            buys.append(checking)
            buys.sort(key=lambda o: o.seq)
        locks = self._buy_locks(st, buys, self._short_terms(st))
        if checking is not None:
            more = sum(locks, ZERO) - sum((o.reserved_cash for o in buys), ZERO)
            if more > 0 and more > acct.buying_power(st.currency):
                raise self._insufficient_cash(st, more)
        for order in buys:
            self._release(st, order)
        for order, lock in zip(buys, locks, strict=True):
            acct.lock_cash(st.currency, lock)
            order.reserved_cash = lock

    def _buys_more(self, st: _Inst, order: SimOrder, low: Decimal, grown: Decimal) -> Decimal:
        """What the working buys of `st` would lock more once sell `order` sold `grown`
        units short at `low` or above (the lowest price it fills at, multiplier
        applied): a short sold below its average gives back less covered. The most of
        it with the short as it is and as it would be (what a buy locks only grows or
        only shrinks with the short between the two)."""
        if not self.account.short_selling:
            return ZERO
        buys = self._buys(st)
        if not buys:
            return ZERO
        extra = order if order.client_order_id not in st.working else None
        most = ZERO
        for units in (ZERO, grown):
            terms = self._short_terms(st, grown=units, low=low, extra=extra)
            most = max(most, sum(self._buy_locks(st, buys, terms), ZERO))
        return most - sum((o.reserved_cash for o in buys), ZERO)

    def _check_buys_after_sell(self, st: _Inst, order: SimOrder) -> None:
        """A new or changed limit sell (with `short_selling`) that may sell short: what
        the working buys would lock more once it filled (at its limit or above) must
        fit the buying power it leaves (`_buys_more`). Refused, the need said is its
        own margin and that."""
        if (
            order.side is Side.BUY
            or order.reduce_only
            or order.order_type.market_on_trigger
            or order.limit_price is None
        ):
            return
        more = self._buys_more(
            st, order, order.limit_price * st.multiplier, order.quantity - order.filled_qty
        )
        if more > 0 and more > self.account.buying_power(st.currency):
            raise self._insufficient_cash(st, more, order.reserved_cash)

    def _reachable(
        self, st: _Inst, order: SimOrder, limit: Decimal | None
    ) -> Iterator[tuple[Decimal, Decimal]]:
        """(level price, quantity) the order can take now, best level first, up to `limit`
        and its leaves. Reads what was already taken at each level when it gets there, so
        a caller may take a level before asking for the next."""
        book = st.book
        if book is None:
            return
        is_buy = order.side is Side.BUY
        levels = book.asks if is_buy else book.bids
        taken = st.taken_asks if is_buy else st.taken_bids
        remaining = order.quantity - order.filled_qty
        for price, size in levels:
            if limit is not None and (price > limit if is_buy else price < limit):
                return
            avail = size - taken.get(price, ZERO)
            if avail <= 0:
                continue
            q = remaining if remaining < avail else avail
            yield price, q
            remaining -= q
            if not remaining:
                return

    def _walk(
        self, st: _Inst, order: SimOrder, limit: Decimal | None
    ) -> tuple[Decimal, Decimal, Decimal]:
        """(quantity, notional, fees) taking liquidity would give now, changing nothing."""
        got = ZERO
        total = ZERO
        fees = ZERO
        for price, q in self._reachable(st, order, limit):
            notional = q * self._slip(st, order, price, limit) * st.multiplier
            total += notional
            fees += self._fee(notional, self.taker_rate)
            got += q
        return got, total, fees

    def _check_sells_ahead(self, st: _Inst, order: SimOrder) -> None:
        """With `short_selling`: a market sell (or a triggered STOP sell) fills now,
        before the working sells: what it then takes of buying power (`_first_need`)
        must fit. (A sell that rests locks it, and is judged for it as it is reserved:
        `_reserve`.)"""
        if order.side is not Side.SELL or not self.account.short_selling:
            return
        first = self._first_need(st, order, None)
        if first > 0 and first > self.account.buying_power(st.currency):
            raise self._insufficient_cash(st, first, why=FIRST_REASON)

    def _first_need(
        self,
        st: _Inst,
        order: SimOrder,
        holders: _Holders | None,
        floor: Decimal = ZERO,
        *,
        walk: bool = True,
    ) -> Decimal:
        """What sell `order` takes of buying power if it fills before the other working
        sells of `st`, all it fills: at once (a market order, a marketable limit, a
        triggered stop), or resting at a better price, or a stop triggered first. With
        `short_selling` and a long only, else 0.

        Its first units sell the long, those the sells ahead of it hold too: they then
        lock cash for what they would sell short (``extra``), and the sale gives
        buying power what `Account.sale_credit` says; its last units sell short,
        holding their proceeds and margin at the prices they fill at (``hold``, as
        `_short_margin` judges them). So ``extra + hold - credit``, the credit when it
        is a gain: with leverage, a sale far enough below the long's cost (under two
        thirds of it at leverage 3) takes buying power down, by the loss it realizes,
        and a realized loss is never judged (a closing sale is never refused; the
        loss may take buying power below zero: a deficit). So what an order adds (a
        short, the sells ahead's) is paid out of the buying power before the loss.
        Before, this was a check of `extra` less the whole order's proceeds, its
        short part's too (which a short holds back), that locked nothing (an order
        placed after it spent the room), and a triggered STOP was not checked at all:
        the sells ahead then locked more than the account had. (`holders`: the sells
        before it, as `_reserve_sells` reserves them; None: the other working sells as
        they are reserved now. `floor`: what the caller has it lock anyway; at or under
        it, 0 may be said for the figure. `walk`: judged at the bids it takes now, as a
        check is (`_short_margin`); else all at its limit or stop, as a lock is, what
        it rests at: during its own walk the level it is filling still reads untaken.)"""
        acct = self.account
        if not acct.short_selling or order.side is not Side.SELL:
            return ZERO
        position = acct.position_qty(st.key)
        if position <= 0:
            return ZERO  # nothing to sell first: it is a short sell, judged as one
        resting = self._resting_price(st, order, walk)
        segments: list[tuple[Decimal, Decimal, bool]]
        if resting is not None:
            # The usual case, a sell that rests (`_reserve_sells` runs this for every
            # sell at every fill): one segment, not built unless it is needed.
            qty = order.quantity - order.filled_qty
        else:
            segments = self._sale_segments(st, order)
            qty = sum((q for _, q, _ in segments), ZERO)
        if order.reduce_only and qty > position:
            qty = position  # (it fills only what reduces the position)
        if qty <= 0:
            return ZERO
        if holders is None:
            holders = self._holders(st, order)
        extra = holders.extra(position - qty)
        long_part = qty if qty < position else position
        short_part = qty - long_part
        if extra <= 0 and short_part <= 0:
            return ZERO
        leverage = acct.leverage
        rate = max(self.maker_rate, self.taker_rate, ZERO)
        if resting is not None:
            if floor > 0:
                # Mostly no more than `floor`, told without rounding a fee: the sale
                # credited at most what it gives (its fee rounded up, + `FEE_QUANTUM`).
                price = resting * st.multiplier
                notional = long_part * price
                most = extra + short_part * price * self._reserve_rate
                least = acct.sale_credit(st.key, long_part, notional, notional * rate + FEE_QUANTUM)
                if most - (least if least > 0 else ZERO) <= floor:
                    return ZERO
            segments = [(resting, qty, True)]
        sold = proceeds = fees = hold = ZERO
        for price, q, rests in segments:
            # The long part first (the best prices), then the short part.
            part = q if q <= long_part - sold else long_part - sold
            if part > 0:
                notional = part * price * st.multiplier
                proceeds += notional
                fees += self._fee(notional, rate if rests else self.taker_rate)
                sold += part
            rest = q - (part if part > 0 else ZERO)
            if rest > 0 and short_part > 0:
                notional = rest * price * st.multiplier
                if rests:
                    hold += notional * self._reserve_rate
                else:
                    hold += notional + self._fee(notional, self.taker_rate) * leverage
        credit = acct.sale_credit(st.key, long_part, proceeds, fees)
        return extra + hold - (credit if credit > 0 else ZERO)

    def _resting_price(self, st: _Inst, order: SimOrder, walk: bool) -> Decimal | None:
        """The price all the leaves of sell `order` are judged at as they rest: a stop
        that waits (its limit, or its stop), a limit (not `walk`, or above the best
        bid). None: at the bids it takes now (`_sale_segments`)."""
        if order.acts_as_market:
            return None
        if order.is_stop:
            return order.limit_price if order.order_type.has_limit_price else order.stop_price
        limit = order.limit_price
        assert limit is not None
        book = st.book
        if not walk or book is None or not book.bids or book.bids[0][0] < limit:
            return limit
        return None

    def _sale_segments(self, st: _Inst, order: SimOrder) -> list[tuple[Decimal, Decimal, bool]]:
        """(price, quantity, resting) sell `order` fills its leaves at, best first,
        judged at the bids it takes now (not a stop that waits: `_resting_price`): a
        market order (or a triggered STOP) what the bids give (slipped); a limit what
        it takes (slipped), the rest at its limit (``resting``: at the higher fee
        rate, as it reserves)."""
        if order.acts_as_market:
            return [
                (self._slip(st, order, price, None), q, False)
                for price, q in self._reachable(st, order, None)
            ]
        leaves = order.quantity - order.filled_qty
        limit = order.limit_price
        assert limit is not None
        segments = [
            (self._slip(st, order, price, limit), q, False)
            for price, q in self._reachable(st, order, limit)
        ]
        rest = leaves - sum((q for _, q, _ in segments), ZERO)
        if rest > 0:
            segments.append((limit, rest, True))
        return segments

    def _holders(self, st: _Inst, order: SimOrder) -> _Holders:
        """What the other working sells of `st` hold now, in time priority. Once sell
        `order` sold before them, they hold what is left in that order: those after
        it (a triggered stop has some) lose theirs first, then those before it."""
        holders = _Holders()
        others = sorted(
            (
                o
                for o in st.working.values()
                if o.side is Side.SELL and not o.acts_as_market and o is not order
            ),
            key=lambda o: o.seq,
        )
        for o in others:
            per_unit = ZERO if o.reduce_only else self._reserved_per_unit(st, o) or ZERO
            holders.add(o.reserved_qty, per_unit, o.quantity - o.filled_qty)
        return holders

    def _reserved_per_unit(self, st: _Inst, order: SimOrder) -> Decimal | None:
        """Cash a resting order locks a unit (a buy, or a sell's short part): its price
        (the limit, or the stop of a STOP order) with the fee at the higher rate."""
        ref = order.limit_price if order.order_type.has_limit_price else order.stop_price
        return None if ref is None else ref * st.multiplier * self._reserve_rate

    def _check_market_funds(self, st: _Inst, order: SimOrder) -> None:
        """A market order (or a triggered stop) must afford what it would take now."""
        acct = self.account
        # What it takes of buying power: the notional, and the fees out of equity.
        if order.side is Side.BUY:
            got, notional, fees = self._walk(st, order, None)
            cost = notional + fees * acct.leverage
            if self._covering(st):
                cost -= acct.cover_credit(st.key, got, notional)
                # What it covers, the resting buys no longer cover: they lock more.
                buys = self._buys(st)
                if buys and got:
                    terms = self._short_terms(st, covered=got)
                    locks = self._buy_locks(st, buys, terms)
                    cost += sum(locks, ZERO) - sum((o.reserved_cash for o in buys), ZERO)
            # (One that gives back more than it takes is never refused, in a deficit too.)
            if cost > 0 and cost > acct.buying_power(st.currency):
                raise self._insufficient_cash(st, cost)
            return
        leaves = order.quantity - order.filled_qty
        free = acct.sellable(st.key)
        if leaves <= free:
            return
        if not acct.short_selling:
            raise self._insufficient_position(st, leaves)
        got, notional, fees = self._walk(st, order, None)
        cost = notional + fees * acct.leverage
        need = cost * (leaves - free) / got if got else ZERO
        if got and not order.reduce_only:
            # What it sells short at the bids it takes, the resting buys would cover.
            low = min(self._slip(st, order, p, None) for p, _ in self._reachable(st, order, None))
            need += max(self._buys_more(st, order, low * st.multiplier, got), ZERO)
        if need > 0 and need > acct.buying_power(st.currency):
            raise self._insufficient_cash(st, need)

    # -- what an order does -------------------------------------------------------------

    def _work(self, st: _Inst, order: SimOrder, now_ns: int, reports: list[ExecReport]) -> None:
        """Run a new, replaced or just-triggered order until it rests or is done."""
        if order.is_stop:
            if self._stop_hit(st, order):
                self._trigger(st, order, now_ns, reports)
            else:
                self._slot_stop(st, order)
            return
        limit = None if order.acts_as_market else order.limit_price
        if order.tif is TimeInForce.FOK:
            got, _, _ = self._walk(st, order, limit)
            leaves = order.quantity - order.filled_qty
            # A reduce-only order fills only what still reduces the position (`_fill`).
            room = self._reduce_room(st, order) if order.reduce_only else leaves
            if room < leaves and room <= got:
                reason = f"FOK: only {fmt(room)} of {fmt(leaves)} still reduces the position"
            elif got < leaves:
                where = "in the displayed book" if limit is None else f"at {fmt(limit)} or better"
                reason = f"FOK: only {fmt(got)} of {fmt(leaves)} available {where}"
            else:
                reason = ""
            if reason:
                self._terminate(st, order, OrderStatus.EXPIRED, reason, now_ns, reports)
                return
        self._take(st, order, limit, now_ns, reports)
        if order.status.is_terminal:
            return
        leaves = order.quantity - order.filled_qty
        if limit is None:
            self._terminate(
                st,
                order,
                OrderStatus.EXPIRED,
                f"market order: {fmt(leaves)} unfilled, the displayed book is exhausted",
                now_ns,
                reports,
            )
        elif order.tif in (TimeInForce.IOC, TimeInForce.FOK):
            self._terminate(
                st,
                order,
                OrderStatus.EXPIRED,
                f"IOC: {fmt(leaves)} of {fmt(order.quantity)} unfilled at {fmt(limit)}",
                now_ns,
                reports,
            )
        else:
            self._rest(st, order)

    def _rest(self, st: _Inst, order: SimOrder) -> None:
        assert order.limit_price is not None
        if order.side is Side.BUY:
            self._slot(st, order, "buy", (-order.limit_price, order.seq))
        else:
            self._slot(st, order, "sell", (order.limit_price, order.seq))
        if not self._through:
            order.queue_ahead = self._initial_queue(st, order)

    def _ladder(self, st: _Inst, where: str) -> _Ladder:
        if where == "buy":
            return st.buys
        if where == "sell":
            return st.sells
        if where == "buy_stop":
            return st.buy_stops
        return st.sell_stops

    def _slot(self, st: _Inst, order: SimOrder, where: str, key: Key) -> None:
        self._ladder(st, where).add(key, order)
        order.slot = (where, key)

    def _unslot(self, st: _Inst, order: SimOrder) -> None:
        if order.slot is not None:
            where, key = order.slot
            self._ladder(st, where).remove(key)
            order.slot = None

    def _terminate(
        self,
        st: _Inst,
        order: SimOrder,
        status: OrderStatus,
        reason: str,
        now_ns: int,
        reports: list[ExecReport],
    ) -> None:
        self._unslot(st, order)
        self._release(st, order)
        order.status = status
        st.working.pop(order.client_order_id, None)
        self._day_orders.pop(order.client_order_id, None)
        self._finish(order, now_ns)
        if order.side is Side.SELL and self.account.short_selling:
            self._reserve_sells(st)  # what it held goes to the sells after it
        if self._covering(st):
            self._reserve_buys(st)  # a buy's share of the give-back goes to the others
        kind = ReportKind.CANCELED if status is OrderStatus.CANCELED else ReportKind.EXPIRED
        reports.append(self._report(order, kind, now_ns, reason))

    # -- stops --------------------------------------------------------------------------

    def _slot_stop(self, st: _Inst, order: SimOrder) -> None:
        """A stop waits on the ladder of the move that triggers it: `buy_stop` for a
        rising price (lowest stop first), `sell_stop` for a falling one (highest first).
        The price watched is the side that would execute it (a buy's ask, a sell's bid)."""
        assert order.stop_price is not None
        if order.order_type.triggers_rising(order.side):
            self._slot(st, order, "buy_stop", (order.stop_price, order.seq))
        else:
            self._slot(st, order, "sell_stop", (-order.stop_price, order.seq))

    @staticmethod
    def _watched(book: MarketBook, order: SimOrder) -> Decimal | None:
        levels = book.asks if order.side is Side.BUY else book.bids
        return levels[0][0] if levels else None

    def _stop_hit(self, st: _Inst, order: SimOrder) -> bool:
        book = st.book
        stop = order.stop_price
        if book is None or stop is None:
            return False
        price = self._watched(book, order)
        if price is None:
            return False
        return order.order_type.stop_reached(order.side, stop, price)

    def _run_triggers(self, st: _Inst, now_ns: int, reports: list[ExecReport]) -> None:
        book = st.book
        assert book is not None
        hit: list[SimOrder] = []
        # Each ladder is in trigger order, but mixes buys (watching the ask) and sells
        # (the bid): scan while either side's price could still reach the next stop.
        ask = book.asks[0][0] if book.asks else None
        bid = book.bids[0][0] if book.bids else None
        rising = [p for p in (ask, bid) if p is not None]
        if rising:
            top = max(rising)
            for order in st.buy_stops.orders:
                if order.stop_price is None or order.stop_price > top:
                    break
                if self._stop_hit(st, order):
                    hit.append(order)
            low = min(rising)
            for order in st.sell_stops.orders:
                if order.stop_price is None or order.stop_price < low:
                    break
                if self._stop_hit(st, order):
                    hit.append(order)
        hit.sort(key=lambda o: o.seq)
        for order in hit:
            if not order.status.is_terminal and order.is_stop:
                self._trigger(st, order, now_ns, reports)

    def _trigger(self, st: _Inst, order: SimOrder, now_ns: int, reports: list[ExecReport]) -> None:
        book = st.book
        assert book is not None
        assert order.stop_price is not None
        self._unslot(st, order)
        order.triggered = True
        watched = self._watched(book, order)
        name = "ask" if order.side is Side.BUY else "bid"
        sign = ">=" if order.order_type.triggers_rising(order.side) else "<="
        seen = f"{name} {fmt(watched)} {sign} stop {fmt(order.stop_price)}"
        reports.append(
            self._report(order, ReportKind.TRIGGERED, now_ns, f"{TRIGGERED_REASON}: {seen}")
        )
        if order.acts_as_market:
            self._release(st, order)
            try:
                self._check_market_funds(st, order)
                # It fills now, before the sells ahead of it: what they then lock.
                self._check_sells_ahead(st, order)
            except OrderRejected as exc:
                self._terminate(st, order, OrderStatus.EXPIRED, str(exc), now_ns, reports)
                return
        elif order.side is Side.SELL and self.account.short_selling:
            # A stop-limit sell was accepted at its limit; triggered, it takes the bids
            # at or above it: what it sells short, and what the sells ahead of it lock
            # once it fills first, is judged again there, as a triggered STOP is
            # (`_short_margin`, `_first_need`).
            self._release(st, order)
            try:
                self._reserve(st, order, check=True)
            except OrderRejected as exc:
                self._terminate(st, order, OrderStatus.EXPIRED, str(exc), now_ns, reports)
                return
        self._work(st, order, now_ns, reports)

    # -- taking and resting fills -------------------------------------------------------

    def _take(
        self,
        st: _Inst,
        order: SimOrder,
        limit: Decimal | None,
        now_ns: int,
        reports: list[ExecReport],
    ) -> None:
        """Walk the opposite side up to `limit`: one taker fill per level.

        A level is taken by what filled there, not by what was planned: a reduce-only
        order fills only what still reduces the position (`_fill` cancels the rest),
        and the rest stays in the book for the next taker."""
        taken = st.taken_asks if order.side is Side.BUY else st.taken_bids
        for price, q in self._reachable(st, order, limit):
            before = order.filled_qty
            self._fill(
                st, order, q, self._slip(st, order, price, limit), Liquidity.TAKER, now_ns, reports
            )
            filled = order.filled_qty - before
            if filled:
                taken[price] = taken.get(price, ZERO) + filled
            if order.status.is_terminal:
                break  # filled, or a reduce-only order with nothing left to reduce

    def _slip(self, st: _Inst, order: SimOrder, price: Decimal, limit: Decimal | None) -> Decimal:
        """The level price moved against the taker by the slippage model, on the grid."""
        model = self.fill_rules.slippage
        if model == "none":
            return price
        is_buy = order.side is Side.BUY
        if model == "fixed_ticks":
            move = self.fill_rules.slippage_ticks * st.tick
            out = price + move if is_buy else price - move
        else:
            if model == "bps":
                frac = self.fill_rules.slippage_bps * BPS
            else:  # sqrt_impact
                frac = st.impact_scale * order.quantity.sqrt()
            if is_buy:
                out = quantize_to_step(price * (1 + frac), st.tick, "up")
            else:
                out = quantize_to_step(price * (1 - frac), st.tick, "down")
        if not is_buy and out < st.tick:
            out = st.tick
        if limit is not None:
            out = min(out, limit) if is_buy else max(out, limit)
        return out

    def _initial_queue(self, st: _Inst, order: SimOrder) -> Decimal | None:
        """Size displayed ahead of a new resting order at its price.

        0 when the order improves on the best price of its side (nobody is ahead);
        None when its price is deeper than the displayed book (learnt when shown).
        """
        book = st.book
        price = order.limit_price
        if book is None or price is None:
            return None
        is_buy = order.side is Side.BUY
        same = book.bids if is_buy else book.asks
        if not same or (price > same[0][0] if is_buy else price < same[0][0]):
            return ZERO
        for level_price, size in same:
            if level_price == price:
                return size
        worst = same[-1][0]
        beyond = price < worst if is_buy else price > worst
        return None if beyond else ZERO

    def _update_queues(self, st: _Inst) -> None:
        """Queue model: the size ahead of an order only shrinks, to what its level shows."""
        book = st.book
        assert book is not None
        for ladder, same, is_buy in ((st.buys, book.bids, True), (st.sells, book.asks, False)):
            if not ladder.orders or not same:
                continue
            sizes = dict(same)
            best = same[0][0]
            worst = same[-1][0]
            for order in ladder.orders:
                price = order.limit_price
                assert price is not None
                if price < worst if is_buy else price > worst:
                    break
                shown = sizes.get(price)
                if shown is None:
                    # Nothing shown at its price, within the displayed range: nobody is
                    # ahead, as `_initial_queue` says of a new order there; also for an
                    # order whose queue was not known (placed deeper than the book, or
                    # restored from the journal before a book was installed). Better
                    # than the best price shown, a known queue stays: the level may
                    # have traded away (the opposite side touching it).
                    if order.queue_ahead is None or (price < best if is_buy else price > best):
                        order.queue_ahead = ZERO
                    continue
                if order.queue_ahead is None or shown < order.queue_ahead:
                    order.queue_ahead = shown

    def _match_resting(
        self,
        st: _Inst,
        ladder: _Ladder,
        levels: tuple[Level, ...],
        side: Side,
        now_ns: int,
        reports: list[ExecReport],
    ) -> None:
        """Fill resting orders of `side` that the opposite `levels` cross, best first."""
        best = levels[0][0]
        through = self._through
        crossing: list[SimOrder] = []
        for order in ladder.orders:
            price = order.limit_price
            assert price is not None
            beyond = best < price if side is Side.BUY else best > price
            if beyond or (not through and best == price):
                crossing.append(order)
            else:
                break
        if not crossing:
            return
        taken = st.taken_asks if side is Side.BUY else st.taken_bids
        for order in crossing:
            if order.status.is_terminal:
                continue  # a reduce-only order an earlier fill left nothing to reduce
            price = order.limit_price
            assert price is not None
            remaining = order.quantity - order.filled_qty
            got = ZERO
            planned: list[tuple[Decimal, Decimal]] = []  # (level, quantity), best first
            for level_price, size in levels:
                if level_price > price if side is Side.BUY else level_price < price:
                    break
                avail = size - taken.get(level_price, ZERO)
                if avail <= 0:
                    continue
                if level_price == price:
                    if through:
                        break
                    # Volume trading at our price serves the queue ahead of us first.
                    ahead = avail if order.queue_ahead is None else order.queue_ahead
                    eat = ahead if ahead < avail else avail
                    order.queue_ahead = ahead - eat
                    taken[level_price] = taken.get(level_price, ZERO) + eat
                    avail -= eat
                    if avail <= 0:
                        continue
                q = remaining - got
                if avail < q:
                    q = avail
                taken[level_price] = taken.get(level_price, ZERO) + q
                planned.append((level_price, q))
                got += q
                if got == remaining:
                    break
            if got:
                before = order.filled_qty
                self._fill(st, order, got, price, Liquidity.MAKER, now_ns, reports)
                # A reduce-only order fills only what still reduces the position (the
                # rest is cancelled): what it did not trade goes back to the levels,
                # the worst first (it traded the best first).
                unfilled = got - (order.filled_qty - before)
                while unfilled > 0:
                    level_price, q = planned.pop()
                    back = q if q < unfilled else unfilled
                    left = taken[level_price] - back
                    if left:
                        taken[level_price] = left
                    else:
                        del taken[level_price]
                    unfilled -= back

    def _fee(self, notional: Decimal, rate: Decimal) -> Decimal:
        return quantize_to_step(notional * rate, FEE_QUANTUM, "up")

    def _reduce_room(self, st: _Inst, order: SimOrder) -> Decimal:
        """How much of `order` still reduces the position (0: it would add)."""
        position = self.account.position_qty(st.key)
        reduces = (position > 0 and order.side is Side.SELL) or (
            position < 0 and order.side is Side.BUY
        )
        return abs(position) if reduces else ZERO

    def _fill(
        self,
        st: _Inst,
        order: SimOrder,
        qty: Decimal,
        price: Decimal,
        liquidity: Liquidity,
        now_ns: int,
        reports: list[ExecReport],
    ) -> None:
        """Fill `qty` of `order`; a reduce-only order only what still reduces the
        position (closed meanwhile by another order, a resting reduce-only sell filled
        into a short), the rest cancelled, as venues do."""
        if order.reduce_only and qty > (room := self._reduce_room(st, order)):
            if room > 0:  # what reduces: within the room, this call fills it
                self._fill(st, order, room, price, liquidity, now_ns, reports)
            if not order.status.is_terminal:
                self._terminate(st, order, OrderStatus.CANCELED, REDUCE_ONLY_DONE, now_ns, reports)
            return
        rate = self.maker_rate if liquidity is Liquidity.MAKER else self.taker_rate
        fee = self._fee(qty * price * st.multiplier, rate)
        fee_currency, fee_qty, fee_value = st.currency, ZERO, None
        if (
            self.fee_in_base
            and order.side is Side.BUY
            and fee > 0
            and self.account.position_qty(st.key) >= 0
        ):
            fee_qty = quantize_to_step(qty * rate, FEE_QUANTUM, "up")
            fee_currency, fee_value, fee = st.base, fee, fee_qty
        self._release(st, order)
        before = self.account.position_qty(st.key)
        position = self.account.apply_fill(
            st.key,
            st.currency,
            order.side,
            qty,
            price,
            ZERO if fee_qty else fee,
            st.multiplier,
            fee_qty=fee_qty,
        )
        if not fee_qty:
            order.fees += fee
        st.last_trade = price
        order.filled_qty += qty
        order.filled_value += qty * price
        if order.filled_qty >= order.quantity:
            order.status = OrderStatus.FILLED
            self._unslot(st, order)
            st.working.pop(order.client_order_id, None)
            self._day_orders.pop(order.client_order_id, None)
            self._finish(order, now_ns)
        else:
            order.status = OrderStatus.PARTIALLY_FILLED
            self._reserve(st, order, check=False)
        if self.account.short_selling:
            if before < 0 or position.quantity < 0:
                self._reserve_buys(st)  # the short moved: what covering gives back
            self._reserve_sells(st)  # the position moved
        avg = average(order.filled_value, order.filled_qty, order.tick_places)
        fill = SimFill(
            exec_id=order.next_exec_id,
            client_order_id=order.client_order_id,
            venue_order_id=order.venue_order_id,
            instrument=st.key,
            side=order.side,
            quantity=qty,
            price=price,
            fee=fee,
            fee_currency=fee_currency,
            liquidity=liquidity,
            ts_ns=now_ns,
            cum_qty=order.filled_qty,
            avg_price=avg,
            fee_value=fee_value,
        )
        order.fills.append(fill)
        reports.append(
            ExecReport(
                kind=ReportKind.FILL,
                client_order_id=order.client_order_id,
                venue_order_id=order.venue_order_id,
                instrument=st.key,
                status=order.status,
                quantity=order.quantity,
                filled_qty=order.filled_qty,
                avg_price=avg,
                limit_price=order.limit_price,
                stop_price=order.stop_price,
                ts_ns=now_ns,
                fill=fill,
                position=position,
                balance=self.account.cash_state(st.currency),
            )
        )
        after = position.quantity
        if (after > 0) != (before > 0) or (after < 0) != (before < 0):
            self._end_spent_reduce_only(st, now_ns, reports)

    def _end_spent_reduce_only(self, st: _Inst, now_ns: int, reports: list[ExecReport]) -> None:
        """The position went flat or to the other side: the working reduce-only orders
        of `st` that can no longer reduce it are cancelled now, saying why, as venues do
        (docs/paper-simulator.md, rule 4). Left working, one closed by another order
        sat in the book until a fill found nothing to reduce, and with `short_selling`
        it locked cash for the short it would never sell."""
        spent = [o for o in st.working.values() if o.reduce_only and not self._reduce_room(st, o)]
        if not spent:
            return
        position = self.account.position_qty(st.key)
        reason = (
            REDUCE_ONLY_DONE
            if not position
            else f"reduce-only: the position is {fmt(position)} {st.base} now, on the "
            "order's side: nothing is left to reduce"
        )
        for order in sorted(spent, key=lambda o: o.seq):
            if not order.status.is_terminal:
                self._terminate(st, order, OrderStatus.CANCELED, reason, now_ns, reports)

    def _expire(self, now_ns: int, reports: list[ExecReport]) -> None:
        due = sorted(
            (
                o
                for o in self._day_orders.values()
                if o.expires_ns is not None and o.expires_ns <= now_ns
            ),
            key=lambda o: o.seq,
        )
        for order in due:
            self._terminate(
                self._insts[order.instrument],
                order,
                OrderStatus.EXPIRED,
                "DAY order expired at the end of the session",
                now_ns,
                reports,
            )
        self._next_expiry = min(
            (o.expires_ns for o in self._day_orders.values() if o.expires_ns is not None),
            default=_NEVER,
        )

    def _report(
        self, order: SimOrder, kind: ReportKind, now_ns: int, reason: str = ""
    ) -> ExecReport:
        status = order.status
        if not status.is_terminal:
            status = order.working_status
        # Accepting, replacing, triggering or ending an order moves what it reserves:
        # the report carries the cash as it is now. A status report changes nothing, nor
        # does accepting a market order (it reserves nothing; its fills carry the cash).
        balance = None
        if kind is not ReportKind.STATUS and not (
            kind is ReportKind.ACCEPTED and order.acts_as_market
        ):
            balance = self.account.cash_state(self._insts[order.instrument].currency)
        return ExecReport(
            kind=kind,
            client_order_id=order.client_order_id,
            venue_order_id=order.venue_order_id,
            instrument=order.instrument,
            status=status,
            quantity=order.quantity,
            filled_qty=order.filled_qty,
            avg_price=order.avg_price,
            limit_price=order.limit_price,
            stop_price=order.stop_price,
            ts_ns=now_ns,
            reason=reason,
            balance=balance,
        )

    def status_report(self, client_order_id: str, now_ns: int, reason: str = "") -> ExecReport:
        """The order's current state as a report (nothing changes).

        Sent when a cancel or replace finds the order already done, or refuses the
        change, so that the client's pending state resolves to the venue's truth.
        """
        order = self.orders[client_order_id]
        report = self._report(order, ReportKind.STATUS, now_ns, reason)
        self._out([report])
        return report

    # -- the archive --------------------------------------------------------------------

    def _finish(self, order: SimOrder, now_ns: int) -> None:
        order.finished_ns = now_ns
        self._finished.append(order)

    @property
    def finished_held(self) -> int:
        """Finished orders still in memory (the window, plus any held past it)."""
        return len(self._finished) + len(self._deferred)

    def beyond_window(self, held: int, oldest_finished_ns: int | None, now_ns: int) -> bool:
        """The window's rule: whether the oldest of `held` finished orders (finished at
        `oldest_finished_ns`) leaves for the archive at `now_ns`. The journal's rebuild
        applies the same rule, so a restart holds what the live venue held."""
        if held > self.keep_finished:
            return True
        keep_ns = self.keep_finished_ns
        return bool(keep_ns) and (oldest_finished_ns or 0) <= now_ns - keep_ns

    def archive(self, now_ns: int) -> int:
        """Archive the finished orders beyond the window; returns how many left."""
        finished = self._finished
        gone = 0
        while finished and self.beyond_window(len(finished), finished[0].finished_ns, now_ns):
            order = finished.popleft()
            if self._holds.get(order.client_order_id):
                self._deferred[order.client_order_id] = order
            else:
                self._drop(order)
                gone += 1
        return gone

    def _drop(self, order: SimOrder) -> None:
        if self.orders.get(order.client_order_id) is order:
            del self.orders[order.client_order_id]
        self.archived += 1
        if self.on_archive is not None:
            self.on_archive(order)

    def _out(self, reports: list[ExecReport]) -> list[ExecReport]:
        if self.hold_reported and reports:
            self.hold(r.client_order_id for r in reports)
        return reports

    def hold(self, client_order_ids: Iterable[str]) -> None:
        """Keep these orders out of the archive until `release` (counted per call)."""
        holds = self._holds
        for coid in client_order_ids:
            holds[coid] = holds.get(coid, 0) + 1

    def release(self, client_order_ids: Iterable[str]) -> None:
        """Undo one `hold` each; an order due for the archive meanwhile leaves now."""
        holds = self._holds
        for coid in client_order_ids:
            left = holds.get(coid, 0) - 1
            if left > 0:
                holds[coid] = left
                continue
            holds.pop(coid, None)
            order = self._deferred.pop(coid, None)
            if order is not None:
                self._drop(order)

    # -- restart ----------------------------------------------------------------------

    def restore(self, order: SimOrder) -> None:
        """Put back an order rebuilt from the journal, as it was: no matching, no checks.

        Working orders get their slot (stop or book) and their reservation again; a
        finished one joins the archive window (restore them in the order they finished).
        """
        st = self._inst(order.instrument)
        self.orders[order.client_order_id] = order
        self._seq = max(self._seq, order.seq)
        if order.status.is_terminal:
            if order.finished_ns is None:
                order.finished_ns = order.created_ns
            self._finished.append(order)
            return
        st.working[order.client_order_id] = order
        order.reserved_cash = ZERO
        order.reserved_qty = ZERO
        if (
            order.side is Side.SELL
            and self.account.short_selling
            and any(o.seq > order.seq and o.side is Side.SELL for o in st.working.values())
        ):
            self._reserve_sells(st)  # restored after a sell it comes before
        else:
            self._reserve(st, order, check=False)
        if self._covering(st):
            self._reserve_buys(st)  # the buys share what covering the short gives back
        if order.is_stop:
            self._slot_stop(st, order)
        elif not order.acts_as_market:
            self._rest(st, order)
        if order.tif is TimeInForce.DAY:
            order.expires_ns = next_day_end(order.created_ns, self._day_offset)
            self._day_orders[order.client_order_id] = order
            self._next_expiry = min(self._next_expiry, order.expires_ns)

    def set_sequence(self, last_seq: int) -> None:
        """Continue venue order ids after `last_seq` (ids stay unique over restarts)."""
        self._seq = max(self._seq, last_seq)
