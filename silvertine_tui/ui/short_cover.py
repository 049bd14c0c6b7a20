"""What a buy over a short takes of buying power at the paper venue, as the venue asks
it, for the ticket's and the modify dialog's `buying_power` rule (`ui.orders`).

A filled paper short holds back its proceeds and a margin of its cost; covering gives
them back (docs/paper-simulator.md, "Checks", rule 5). The venue's working buys
share that give-back in time priority, each up to what it needs, and lock the rest of
their need (``leaves x price x (1 + leverage x fee rate)``): what one covering unit
gives back is ``(1 + leverage) x unit cost - (leverage - 1) x the highest price a
working buy pays``, all of the short ``(1 + leverage) x cost - (leverage - 1) x that
price x units``; the unit cost is the short's average, at most the lowest limit of a
working sell that may add to the short. A new buy, or one changed (it goes to the
back), gets what the buys ahead of it leave; a market buy covers first, and the
resting buys then lock what it took. The ticket counted `min(short, qty)` as covered
and passed a buy the venue refused (`need 690.28 USDT, available 203.20`).

The desk does not see the venue's reservations, only their sum (the balance's
`available` is the venue's buying power, net of them). So what a buy takes is worked
out as the venue's reservations of all the buys with it less theirs without it: the
sum does not depend on the buys' order, only on which buy is last. The desk knows the
short's average from its fills; the venue reports it rounded to the tick's places +
`AVG_EXTRA_PLACES`, and keeps its exact cost: the desk judges with the average a unit
of that place lower where that asks more, higher where it asks less, so it refuses,
never passes, what sits within that rounding of the line. Pure: no Textual here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal

from ..config import BrokerConfig, PaperBrokerConfig
from ..domain import Instrument, Order, OrderType, Side
from ..engine.projection import DeskProjection

ZERO = Decimal(0)
ONE = Decimal(1)

AVG_EXTRA_PLACES = 4
"""A paper position's average has the tick's places and at most this many more
(docs/paper-simulator.md, "The account")."""


def configured_leverage(brokers: Iterable[BrokerConfig], broker: str) -> Decimal:
    """The leverage a paper broker's account trades with (`checks.leverage`): its
    buying power is equity times it, and a fee, out of equity, takes leverage times
    itself. 1 for any other broker (the venue's own margin is its own)."""
    for config in brokers:
        if config.name == broker and isinstance(config, PaperBrokerConfig):
            return config.checks.leverage
    return ONE


@dataclass(frozen=True, slots=True)
class Buy:
    """A buy as the venue reserves it: its remaining quantity, its price (the limit, or
    the stop of a STOP; multiplier applied) and what a unit of it needs (the price with
    the fee, leverage times)."""

    leaves: Decimal
    price: Decimal
    per_unit: Decimal


@dataclass(frozen=True, slots=True)
class Short:
    """The short the buys cover: its units, its cost and what covering one unit takes
    of the cost (multiplier applied; positive)."""

    units: Decimal
    cost: Decimal
    unit: Decimal


def locked(buys: list[Buy], short: Short | None, leverage: Decimal) -> Decimal:
    """What `buys` lock together at the venue with `short` to cover (None: none), in
    any time priority: each takes of what covering gives back up to its need and to
    what covering all it can gives back, until it is gone; the rest of the needs is
    locked (the venue's `_buy_locks`, summed)."""
    need = sum((b.leaves * b.per_unit for b in buys), ZERO)
    if short is None or not buys or short.units <= 0:
        return need
    top = max(b.price for b in buys)
    per_unit_back = (1 + leverage) * short.unit - (leverage - 1) * top
    if per_unit_back <= 0:
        # Covering gives nothing back: each also locks what covering its quantity
        # costs more than buying it.
        return need - per_unit_back * sum((b.leaves for b in buys), ZERO)
    pool = (1 + leverage) * short.cost - (leverage - 1) * top * short.units
    if pool <= 0:
        return need
    wanted = ZERO
    for b in buys:
        cap = b.leaves * per_unit_back if b.leaves < short.units else pool
        wanted += min(b.leaves * b.per_unit, cap)
    return need - min(pool, wanted)


@dataclass(frozen=True, slots=True)
class Book:
    """What the venue reserves buys over a short of one instrument against, as the desk
    sees it: the short (its units, its average by the desk's fills and a unit of the
    venue's reported average's last place: multiplier applied), the lowest limit a
    working sell may add to the short at, the working buys (by client order id) and the
    leverage."""

    units: Decimal
    average: Decimal
    step: Decimal
    floor: Decimal | None
    buys: dict[str, Buy]
    leverage: Decimal

    def average_at(self, shift: int) -> Decimal:
        """The average `shift` units of the venue's place off the desk's (-1: the least
        it may be at the venue, 1: the most)."""
        return max(self.average + shift * self.step, ZERO)

    def short(self, shift: int, covered: Decimal = ZERO) -> Short | None:
        """The short as the venue reserves the buys against it once `covered` units of
        it are bought back (None: none left), its average at `average_at(shift)`."""
        units = self.units - covered
        if units <= 0:
            return None
        unit = self.average_at(shift)
        cost = units * unit
        if self.floor is not None and self.floor < unit:
            unit = self.floor
        return Short(units, cost, unit)


UNKNOWN_COST = Decimal("1e30")
"""How far the average of a short whose cost the desk does not know (a quantity taken
from the venue) may be from 0: it is judged as giving nothing back (and said so), and
as giving everything back where that asks more."""


def book_of(
    view: DeskProjection,
    broker: str,
    account: str,
    instrument: Instrument,
    *,
    rate: Decimal,
    leverage: Decimal,
) -> Book | None:
    """The book of `instrument` on the account, with a buy's fee at `rate` of its
    notional; None when the account is not short there."""
    position = view.position(broker, account, instrument.key)
    if position >= 0:
        return None
    mult = instrument.multiplier
    state = view.positions.get((broker, account, instrument.key))
    avg = state.avg_price if state is not None else None
    if avg is None or avg <= 0:
        average, step = ZERO, UNKNOWN_COST
    else:
        average = avg * mult
        step = ONE.scaleb(-(instrument.tick_places + AVG_EXTRA_PLACES)) * mult
    floor: Decimal | None = None
    buys: dict[str, Buy] = {}
    for view_order in view.working(broker, account):
        order = view_order.order
        request = order.request
        if request.instrument != instrument.key:
            continue
        kind = request.order_type
        if request.side is Side.SELL:
            if request.reduce_only or kind.market_on_trigger or order.limit_price is None:
                continue
            price = order.limit_price * mult
            floor = price if floor is None or price < floor else floor
            continue
        buy = resting_buy(order, instrument, rate=rate, leverage=leverage)
        if buy is not None:
            buys[order.client_order_id] = buy
    return Book(-position, average, step, floor, buys, leverage)


def resting_buy(
    order: Order, instrument: Instrument, *, rate: Decimal, leverage: Decimal
) -> Buy | None:
    """`order` as the venue reserves it among the buys (None: a market order, or a
    triggered STOP working as one, which reserve nothing)."""
    kind = order.request.order_type
    if kind is OrderType.MARKET or (kind.market_on_trigger and order.triggered):
        return None
    price = order.limit_price if kind.has_limit_price else order.stop_price
    if price is None:
        return None
    return buy_at(order.leaves_qty, price, instrument, rate=rate, leverage=leverage)


def buy_at(
    leaves: Decimal, price: Decimal, instrument: Instrument, *, rate: Decimal, leverage: Decimal
) -> Buy:
    unit = price * instrument.multiplier
    return Buy(leaves, unit, unit * (1 + leverage * rate))


@dataclass(frozen=True, slots=True)
class Share:
    """What a buy over a short takes of buying power as the venue judges it. `more`:
    what it takes beyond what the account has now, never less than the venue's figure
    (the short's average taken where it asks the most): the check. `need` and `holds`:
    what the buy locks (or a market buy takes) and what the order being changed locks
    now (0 for a new order), at the desk's average: what is said."""

    more: Decimal
    need: Decimal
    holds: Decimal = ZERO


def resting_share(book: Book, new: Buy, replacing: str = "") -> Share:
    """A limit (or stop) buy `new`, the last of the buys (`replacing`: the client order
    id of the working buy it changes, which goes to the back)."""
    others = [b for coid, b in book.buys.items() if coid != replacing]
    before = list(book.buys.values())
    lev = book.leverage

    def after(shift: int) -> Decimal:
        return locked([*others, new], book.short(shift), lev)

    # Checked with the short worth the least after and the most before (what the
    # account has now is net of the venue's own figure); said at the desk's average.
    more = after(-1) - locked(before, book.short(1), lev)
    alone = locked(others, book.short(0), lev)
    return Share(more, after(0) - alone, locked(before, book.short(0), lev) - alone)


def market_share(book: Book, qty: Decimal, notional: Decimal, fee: Decimal) -> Share:
    """A market buy of `qty` for `notional` (its fee `fee`): it covers first (what that
    gives back: `Account.cover_credit`), and the resting buys then lock what it took of
    their give-back."""
    lev = book.leverage
    covered = qty if qty < book.units else book.units
    paid = notional * covered / qty if qty else ZERO
    buys = list(book.buys.values())

    def takes(low: int, high: int) -> Decimal:
        # What covering takes of the short's cost: all of it when it covers the whole.
        credit = covered * book.average_at(low) * (1 + lev) - (lev - 1) * paid
        after = locked(buys, book.short(low, covered), lev)
        return notional + lev * fee - credit + after - locked(buys, book.short(high), lev)

    return Share(takes(-1, 1), takes(0, 0))


def most_fitting(
    book: Book,
    share_at: Callable[[Decimal], Share],
    available: Decimal,
    price: Decimal,
    lot: Decimal,
) -> Decimal:
    """The largest quantity on the `lot` grid whose share (`share_at`: what a buy of a
    quantity at `price` takes, `resting_share` or `market_share`) fits `available`."""
    if price <= 0:
        return ZERO
    # Past this, its price alone is more than there is and twice all covering can give
    # back (what it gives back to this buy, and what the other buys lose of it).
    back = (1 + book.leverage) * book.units * book.average_at(1)
    top = (available + 2 * back) / price
    return most(lambda q: share_at(q).more <= available, lot, book.units, top + lot)


def most(fits: Callable[[Decimal], bool], lot: Decimal, turn: Decimal, top: Decimal) -> Decimal:
    """The largest multiple of `lot` up to `top` that `fits` (0: none), where `fits`
    holds then fails as the quantity grows below `turn` (the short's size: what one buy
    gets of the give-back can jump there, from its units' worth to all of it) and
    again from it on."""
    if lot <= 0:
        return ZERO
    last = int(top / lot)
    split = min(max(int((turn / lot).to_integral_value(ROUND_CEILING)), 1), last + 1)

    def largest(first: int, end: int) -> int:
        # The largest n in [first, end] that fits, 0 when none (fits falls in n).
        if first > end or not fits(first * lot):
            return 0
        lo, hi = first, end
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if fits(mid * lot):
                lo = mid
            else:
                hi = mid - 1
        return lo

    found = largest(split, last) or largest(1, split - 1)
    return found * lot
