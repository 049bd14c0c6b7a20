"""One-line human descriptions of events, for logs, `silvertine replay` and the UI.

A line leads with what happened (`NEW BUY 2 AAPL.SMART @ 190.05 (…a1b2)`), not with an
order id. Numbers are printed for a trader:

- prices on the instrument's tick, quantities as held (`3,012.40`, `0.5`): never
  rounded, so a quantity is never shown larger than it is (1.000999 BTC, fees taken
  in BTC, is not `1.001`); more than `MAX_PLACES` decimals are cut toward zero and
  marked `…` (`domain.money.exact_text`);
- an average price (a fill average, a position's cost) one decimal finer than the tick
  where it falls between ticks, so a blended average is not passed off as a price on
  the grid (`190.053`), and on the tick where it does not (`3,500.30`);
- a fee in money (`CENT_CURRENCIES`) to the cent at least, as held
  (`2.00 USD` on EUR.USD, whose tick has five places; `0.0031 USDT`), one in another
  currency of the instrument's quote on the tick's places, other fees trimmed;
- a balance exactly as held, two places at least, as the Balances pane writes it
  (`100,000.00`, `98,247.85961`; `domain.money.money_text`), named by its broker
  (`BALANCE USDT binance ...`: brokers' names are unique, and each account's balances
  in the same currency read alike);
- where no instrument is known (`silvertine replay` reads only the journal, which
  carries no instrument definitions), trimmed: no trailing zeros, at most
  `MAX_PLACES` decimals, never an exponent.

An order is described with the terms in force at the event: its request's, as every
accepted modify since changed them. A venue's report of an accepted replace carries
the new quantity and prices (`OrderUpdate.quantity`, `limit_price`, `stop_price`;
every adapter's contract, brokers/base.py); later reports (a fill's, the cancel's)
carry none. `Describer` folds them in, by `amended`, the rule `Order.apply_update`
applies (the Orders pane's terms): the modify request is only the intent, and a
refused one is followed by the order's previous status, with its old terms.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import NamedTuple

from ..domain import (
    Balance,
    Book,
    FeeCorrection,
    Fill,
    FillCorrection,
    Instrument,
    Order,
    OrderRequest,
    OrderStatus,
    OrderType,
    OrderUpdate,
    Position,
    Quote,
    ReferencePrice,
    Side,
    Trade,
    VenueOrder,
)
from ..domain.money import (
    CENT_CURRENCIES,
    absurd,
    decimal_places,
    exact_text,
    fmt,
    money_text,
    normalized,
    quantized,
    unsigned_zero,
)
from .codec import Decoded, DecodeError, UnknownEvent
from .payloads import (
    BrokerProfile,
    CancelRequest,
    Health,
    Log,
    ModifyRequest,
    Reconcile,
    Risk,
    Signal,
    Snapshot,
)

MAX_PLACES = 8
MAX_REMEMBERED = 20_000

InstrumentLookup = Callable[[str], Instrument | None]
OrderLookup = Callable[[str], OrderRequest | None]
TradedLookup = Callable[[str], "Traded | None"]


class Traded(NamedTuple):
    """What a fill says of an order whose request is not known (one placed elsewhere,
    before a reconcile adopts it, or never: filled at once): its side and instrument.
    Its size is not known until it is FILLED (the venue's filled quantity then)."""

    side: Side
    instrument: str


def _own_places(value: Decimal, inst: Instrument) -> int:
    """The tick's places, or the number's own where it has more, at most `MAX_PLACES`."""
    return min(max(inst.tick_places, decimal_places(value)), MAX_PLACES)


def trim(value: Decimal | None, max_places: int = MAX_PLACES) -> str:
    """A number with no instrument to go by: rounded to `max_places`, trailing zeros
    dropped, thousands separated, never in exponent form."""
    if value is None:
        return "-"
    if not value.is_finite() or absurd(value):
        return str(value)
    rounded = quantized(value, Decimal(1).scaleb(-max_places))
    normal = normalized(unsigned_zero(rounded))
    if normal == normal.to_integral():
        return f"{quantized(normal, Decimal(1)):,f}"
    return f"{normal:,f}"


def price_text(value: Decimal | None, inst: Instrument | None) -> str:
    """A price on the tick's places (`3,201.58` for Binance's `3201.58000000`), with its
    own decimals where it has more, up to `MAX_PLACES`: an execution IB made between two
    ticks (`190.0049`) is said as made, not rounded onto a tick the trader did not get
    (as `Instrument.price_text` says a typed price)."""
    if value is None:
        return "-"
    if inst is None or not value.is_finite():
        return trim(value)
    return fmt(value, _own_places(value, inst))


def avg_text(value: Decimal | None, inst: Instrument | None) -> str:
    """An average price: one decimal finer than the tick where it falls between two
    ticks (`190.053`), on the tick where it does not (`3,500.30`)."""
    if value is None:
        return "-"
    if inst is None or not value.is_finite():
        return trim(value)
    places = inst.tick_places
    finer = quantized(value, Decimal(1).scaleb(-places - 1))
    return fmt(
        value, places if finer == quantized(finer, Decimal(1).scaleb(-places)) else places + 1
    )


def change_parts(
    quantity: Decimal | None,
    limit_price: Decimal | None,
    stop_price: Decimal | None,
    inst: Instrument | None,
    *,
    limit_word: str = "price",
) -> list[str]:
    """A change's terms, each it gives (`qty 0.02`, `price 63,480.00`, `stop ...`):
    the journal's MODIFY line, and the toast of one sent while the bus is down
    (`limit_word` "limit" there)."""
    parts = []
    if quantity is not None:
        parts.append(f"qty {qty_text(quantity, inst)}")
    if limit_price is not None:
        parts.append(f"{limit_word} {price_text(limit_price, inst)}")
    if stop_price is not None:
        parts.append(f"stop {price_text(stop_price, inst)}")
    return parts


def qty_text(value: Decimal | None, inst: Instrument | None = None) -> str:
    """A quantity exactly as held, trailing zeros off (`0.5`, `1.000999`): never
    rounded, so never shown larger than it is. A quantity off the lot (a fee taken in
    the base currency) shows its own decimals; beyond `MAX_PLACES` it is cut toward
    zero and marked `…`. `inst` is not needed (kept for the callers' symmetry)."""
    return exact_text(value)


def fee_text(value: Decimal, currency: str, inst: Instrument | None) -> str:
    """A fee as charged, never rounded (`1.5062`, `0.0031`: not `1.51`, nor a `0.00`
    that reads as no fee): in money (`CENT_CURRENCIES`) to the cent at least, whatever
    the tick (`2.00` USD on EUR.USD, not `2.00000`), beyond `MAX_PLACES` cut toward zero
    and marked; in another quote currency on the tick's places at least; in any other
    currency, as charged."""
    if currency in CENT_CURRENCIES:
        return money_text(value)
    if inst is not None and currency == inst.quote_currency and value.is_finite():
        return fmt(value, _own_places(value, inst))
    return trim(value)


def corrected_text(correction: FillCorrection, inst: Instrument | None) -> str:
    """A corrected fill as it stands and as it was, the one wording of the log line,
    the desk's notice and the adapter's message: `BUY 3 AAPL.SMART @ 149.48, was 3 @
    149.50`."""
    f = correction.fill
    return (
        f"{f.side} {qty_text(f.quantity, inst)} {f.instrument} @ {price_text(f.price, inst)}"
        f", was {qty_text(correction.previous_quantity, inst)} @ "
        f"{price_text(correction.previous_price, inst)}"
    )


def short_ref(client_order_id: str, width: int | None = 4) -> str:
    """`(…a1b2)`: the end of an order id, after what happened; `width=None`: all of it."""
    if not client_order_id:
        return ""
    if width is None or len(client_order_id) <= width:
        return f"({client_order_id})"
    return f"(…{client_order_id[-width:]})"


BAD_WORDS_SHOWN = 100
"""Characters of a bad entry's reason (or type) on its Log line (`bad_entry_line`):
the stream and entry id lead, what is wrong follows, two rows at 80 columns."""


def bad_entry_line(event: DecodeError | UnknownEvent, stream: str, entry_id: str) -> str:
    """The Log's line for an entry nobody can use, naming where it is (its stream,
    short of the key prefix, and entry id: `silvertine replay` finds it there) before
    what is wrong with it: `undecodable entry 1767364202000-0 on exec:paper:main: fill:
    payload: ...`, `unknown entry 1767364202000-1 on risk: 'risk' v2 (183 bytes)`."""
    if isinstance(event, DecodeError):
        reason = event.reason
        if len(reason) > BAD_WORDS_SHOWN:
            reason = reason[:BAD_WORDS_SHOWN] + "…"
        return f"undecodable entry {entry_id} on {stream}: {reason}"
    kind = event.type if len(event.type) <= 40 else event.type[:40] + "…"
    return f"unknown entry {entry_id} on {stream}: {kind!r} v{event.v} ({len(event.payload)} bytes)"


def describe(
    event: Decoded,
    *,
    instruments: InstrumentLookup | None = None,
    orders: OrderLookup | None = None,
    traded: TradedLookup | None = None,
    id_width: int | None = 4,
    modified: bool = False,
) -> str:
    """`instruments` finds an instrument by key, `orders` an order's request by client
    order id (an update names only the id), `traded` the side and instrument fills
    showed of an order with no request known; all are optional. Order ids are cut to
    their last `id_width` characters (None: whole, as `silvertine replay` prints them).
    `modified`: an order update that changed the order's terms (`Describer`) says so."""

    def ref(coid: str) -> str:
        return short_ref(coid, id_width)

    if isinstance(event, DecodeError):
        return f"undecodable entry: {event.reason}"
    if isinstance(event, UnknownEvent):
        return f"unknown event type {event.type!r} v{event.v} ({len(event.payload)} bytes)"

    def inst(key: str) -> Instrument | None:
        return instruments(key) if instruments is not None and key else None

    def request(coid: str) -> OrderRequest | None:
        return orders(coid) if orders is not None else None

    p = event.payload
    match p:
        case Quote():
            i = inst(p.instrument)
            return (
                f"{p.instrument} bid {price_text(p.bid, i)} ask {price_text(p.ask, i)}"
                f" last {price_text(p.last, i)}"
            )
        case Book():
            i = inst(p.instrument)
            bid = p.bids[0].price if p.bids else None
            ask = p.asks[0].price if p.asks else None
            return (
                f"{p.instrument} book {len(p.bids)}x{len(p.asks)}"
                f" {price_text(bid, i)}/{price_text(ask, i)}"
            )
        case Trade():
            i = inst(p.instrument)
            return f"{p.instrument} print {qty_text(p.quantity, i)} @ {price_text(p.price, i)}"
        case ReferencePrice():
            i = inst(p.instrument)
            return f"{p.instrument} reference {price_text(p.price, i)} ({p.basis})"
        case OrderRequest():
            i = inst(p.instrument)
            price = f" @ {price_text(p.limit_price, i)}" if p.limit_price is not None else ""
            stop = f" stop {price_text(p.stop_price, i)}" if p.stop_price is not None else ""
            # A close is reduce-only: the venue cancels it once nothing is left to
            # reduce, which the Log and the order's history then explain.
            flag = " reduce-only" if p.reduce_only else ""
            return (
                f"SEND {p.side} {amount_text(p, i)} {p.instrument} "
                f"{p.order_type}{price}{stop} {p.tif}{flag} {ref(p.client_order_id)}"
            )
        case CancelRequest():
            known = request(p.client_order_id)
            what = f" {_order_text(known, inst)}" if known is not None else ""
            return f"CANCEL requested{what} {ref(p.client_order_id)}"
        case ModifyRequest():
            known = request(p.client_order_id)
            i = inst(known.instrument) if known is not None else None
            parts = change_parts(p.quantity, p.limit_price, p.stop_price, i)
            what = f" {known.instrument}" if known is not None else ""
            change = " ".join(parts) or "no change"
            return f"MODIFY requested{what} {change} {ref(p.client_order_id)}"
        case OrderUpdate():
            coid = p.client_order_id
            known = request(coid)
            seen = traded(coid) if known is None and traded is not None else None
            return _update_text(p, known, inst, ref, seen, modified=modified)
        case Fill():
            i = inst(p.instrument)
            fee = (
                f" fee {fee_text(p.fee, p.fee_currency, i)} {p.fee_currency}".rstrip()
                if p.fee
                else ""
            )
            return (
                f"FILL {p.side} {qty_text(p.quantity, i)} {p.instrument}"
                f" @ {price_text(p.price, i)}{fee} {ref(p.client_order_id)}"
            )
        case FillCorrection():
            f = p.fill
            return (
                f"FILL CORRECTED {corrected_text(p, inst(f.instrument))} (fill {p.replaces}"
                f" -> {f.exec_id}) {ref(f.client_order_id)}"
            )
        case FeeCorrection():
            i = inst(p.instrument)
            return (
                f"FEE {p.instrument} {fee_text(p.fee, p.fee_currency, i)} {p.fee_currency}"
                f" for fill {p.exec_id} {ref(p.client_order_id)}"
            )
        case Position():
            i = inst(p.instrument)
            avg = f" avg {avg_text(p.avg_price, i)}" if p.avg_price is not None else ""
            return f"POSITION {p.instrument} {qty_text(p.quantity, i)}{avg}"
        case Balance():
            total, available = money_text(p.total), money_text(p.available)
            return f"BALANCE {p.currency} {p.broker} total {total} available {available}"
        case Reconcile():
            # An order the venue holds that the journal lacks (adopted): what it is, as
            # an order of ours is said; its first report came before, unknown.
            venue = p.venue_order
            what = f" {_venue_order_text(venue, inst)}" if venue is not None else ""
            return (
                f"{p.kind} {p.client_order_id or p.instrument}{what} ours={p.ours} venue={p.venue}"
            )
        case Signal():
            # Its type when not a limit (a MARKET signal's price is not what it trades
            # at), and its note as kept (`SIGNAL_NOTE_KEPT`): the pane and the ticket cut it.
            i = inst(p.instrument)
            kind = "" if p.order_type is OrderType.LIMIT else f" {p.order_type}"
            note = f": {p.note}" if p.note else ""
            return (
                f"{p.strategy}: {p.side} {qty_text(p.quantity, i)} {p.instrument}{kind}"
                f" @ {price_text(p.price, i)}{note}"
            )
        case Health():
            return f"{p.component} {p.state} {p.message}".rstrip()
        case BrokerProfile():
            money = "live" if p.live else "paper"
            return f"{p.broker} profile ({money}): {len(p.instruments)} instruments"
        case Log():
            return f"{p.level} {p.message}"
        case Risk():
            return " ".join(
                str(part) for part in (p.action, p.trading_state, p.rule, p.message) if part
            )
        case Snapshot():
            return (
                f"{p.broker}/{p.account} snapshot covering {p.covers}: "
                f"{len(p.orders)} orders, {len(p.positions)} positions"
            )


def _order_text(request: OrderRequest, inst: Callable[[str], Instrument | None]) -> str:
    i = inst(request.instrument)
    price = f" @ {price_text(request.limit_price, i)}" if request.limit_price is not None else ""
    # A stop order's trigger: without it a stop-limit buy over the market read as a
    # limit buy that should have filled.
    stop = f" stop {price_text(request.stop_price, i)}" if request.stop_price is not None else ""
    return f"{request.side} {amount_text(request, i)} {request.instrument}{price}{stop}"


def _venue_order_text(venue: VenueOrder, inst: Callable[[str], Instrument | None]) -> str:
    """An order as the venue holds it, worded as `_order_text` words a request."""
    i = inst(venue.instrument)
    price = f" @ {price_text(venue.limit_price, i)}" if venue.limit_price is not None else ""
    stop = f" stop {price_text(venue.stop_price, i)}" if venue.stop_price is not None else ""
    return f"{venue.side} {qty_text(venue.quantity, i)} {venue.instrument}{price}{stop}"


def amount_text(request: OrderRequest, inst: Instrument | None) -> str:
    """What a request trades: its quantity, or for a MARKET order by quote amount the
    amount and its currency (`500 USDT of`)."""
    if request.quote_quantity is None:
        return qty_text(request.quantity, inst)
    ccy = inst.quote_currency if inst is not None and inst.quote_currency else "quote"
    return f"{trim(request.quote_quantity)} {ccy} of"


def _update_text(
    p: OrderUpdate,
    known: OrderRequest | None,
    inst: Callable[[str], Instrument | None],
    ref: Callable[[str], str],
    seen: Traded | None = None,
    *,
    modified: bool = False,
) -> str:
    i = inst(known.instrument) if known is not None else None
    # An accepted modify's report says so: `NEW BUY 0.4 ... @ 64,100.00` read as a new
    # order in the Log.
    parts = [f"{p.status} (modified)" if modified else str(p.status)]
    if known is not None:
        # A replace reports the order's new terms: describe the order as it now is.
        parts.append(_order_text(amended(known, p), inst))
    elif seen is not None:
        # An order placed elsewhere, known by its fills: its side and instrument, and
        # once FILLED its size (all of it filled); its price was never said.
        i = inst(seen.instrument)
        size = (
            f" {qty_text(p.filled_qty, i)}"
            if p.status is OrderStatus.FILLED and p.filled_qty
            else ""
        )
        parts.append(f"{seen.side}{size} {seen.instrument}")
    if p.filled_qty:
        filled = f"filled {qty_text(p.filled_qty, i)}"
        if p.avg_price is not None:
            filled += f" avg {avg_text(p.avg_price, i)}"
        parts.append(filled)
    elif known is None and p.filled_qty is not None:
        parts.append(f"filled {qty_text(p.filled_qty, i)}")
    parts.append(ref(p.client_order_id))
    if p.reason:
        parts.append(f"- {p.reason}")
    return " ".join(parts)


def _venue_request(broker: str, account: str, venue: VenueOrder) -> OrderRequest | None:
    """The request of an order the venue holds (adopted on reconcile), as the OMS
    makes it (`Order.from_venue`); None when it cannot be one (the OMS refuses it too)."""
    try:
        return Order.from_venue(broker, account, venue).request
    except ValueError:  # (pydantic's ValidationError)
        return None


def amended(request: OrderRequest, update: OrderUpdate) -> OrderRequest:
    """`request` with the terms `update` reports (an accepted replace's), by the rule
    `Order.apply_update` applies: a quantity only when not below what has filled, and
    never for an order by quote amount (the venue sizes it). `request` itself when the
    update changes nothing (most do: only a replace carries terms)."""
    if update.quantity is None and update.limit_price is None and update.stop_price is None:
        return request
    terms: dict[str, Decimal] = {}
    quantity = update.quantity
    if (
        quantity is not None
        and quantity != request.quantity
        and request.quote_quantity is None
        and (update.filled_qty is None or quantity >= update.filled_qty)
    ):
        terms["quantity"] = quantity
    if update.limit_price is not None and update.limit_price != request.limit_price:
        terms["limit_price"] = update.limit_price
    if update.stop_price is not None and update.stop_price != request.stop_price:
        terms["stop_price"] = update.stop_price
    return request.model_copy(update=terms) if terms else request


def terms_of(order: Order) -> OrderRequest:
    """An order's request with the terms in force now (its quantity and prices after
    every accepted modify), as `Describer` describes it."""
    request = order.request
    terms: dict[str, Decimal | None] = {}
    if request.quote_quantity is None and order.quantity != request.quantity:
        terms["quantity"] = order.quantity
    if order.limit_price != request.limit_price:
        terms["limit_price"] = order.limit_price
    if order.stop_price != request.stop_price:
        terms["stop_price"] = order.stop_price
    return request.model_copy(update=terms) if terms else request


class Describer:
    """`describe` with a memory: it keeps each order's request (from request events and
    snapshots) with the terms in force, folding in every accepted modify it reads
    (`amended`), so a later line for the order (an update names only the id) says what
    the order is at that event: `CANCELED BUY 0.6 ... @ 65,000.00` after a modify from
    0.8 @ 65,017.09, not the terms it was sent with. Every place that describes order
    events (the Log pane, an order's history, `silvertine replay`, the headless log)
    describes them through one.

    An order placed elsewhere (another program on the account) has no request: the
    reconcile that adopts it carries the venue's order (`Reconcile.venue_order`), kept
    as its request from there on; before that (and for one that ended before any
    reconcile) its fills say its side and instrument (`Traded`). Its lines read
    `PARTIALLY_FILLED filled 0.004 avg 64,999 (app3)` and `FILLED filled 0.015 avg
    63,000 (…0029)`; now `FILLED BUY 0.015 BTCUSDT.BINANCE filled 0.015 avg 63,000.00
    (…0029)`, as our own market order's line. Its very first report (NEW, before any
    fill or reconcile) still names no more than its id: nothing journaled by then says
    more of it (`OrderUpdate` has no side or instrument)."""

    def __init__(
        self,
        instruments: InstrumentLookup | None = None,
        orders: OrderLookup | None = None,
        *,
        id_width: int | None = 4,
    ) -> None:
        self.instruments = instruments
        self.id_width = id_width
        self.orders = orders
        """Asked for an order this describer has not seen (the UI asks the OMS, which
        answers with the order's terms in force: `terms_of`)."""
        self.requests: dict[str, OrderRequest] = {}
        """Each order's request as amended by the replaces read since."""
        self.finished: dict[str, None] = {}
        """Orders whose end was read: a report after it changes nothing (the OMS's
        `Order` refuses it), so no terms are folded from one."""
        self.traded: dict[str, Traded] = {}
        """The side and instrument of orders with no request known, from their fills."""

    def remember(self, event: Decoded) -> None:
        if isinstance(event, DecodeError | UnknownEvent):
            return
        p = event.payload
        if isinstance(p, OrderUpdate):
            self._amend(p)
        elif isinstance(p, OrderRequest):
            if p.client_order_id not in self.requests:  # a re-sent copy amends nothing
                self._keep(p)
        elif isinstance(p, Snapshot):
            for order in p.orders:
                self._keep(terms_of(order))
                if order.status.is_terminal:
                    self._finish(order.client_order_id)
        elif isinstance(p, Fill):
            if p.client_order_id not in self.requests:
                self._traded(p)
        elif isinstance(p, Reconcile) and p.venue_order is not None:
            venue = p.venue_order
            if venue.client_order_id not in self.requests:  # ours: its own request
                adopted = _venue_request(event.broker, event.account, venue)
                if adopted is not None:
                    self._keep(adopted)

    def _amend(self, update: OrderUpdate) -> None:
        coid = update.client_order_id
        if coid in self.finished:
            return
        if update.status.is_terminal:
            self._finish(coid)
        if update.quantity is None and update.limit_price is None and update.stop_price is None:
            return
        known = self.request(coid)
        if known is not None:
            terms = amended(known, update)
            if terms is not known:
                self._keep(terms)

    def _keep(self, request: OrderRequest) -> None:
        requests = self.requests
        coid = request.client_order_id
        if coid not in requests and len(requests) >= MAX_REMEMBERED:  # the oldest go first
            del requests[next(iter(requests))]
        requests[coid] = request

    def _traded(self, fill: Fill) -> None:
        traded = self.traded
        coid = fill.client_order_id
        if coid not in traded and len(traded) >= MAX_REMEMBERED:
            del traded[next(iter(traded))]
        traded[coid] = Traded(fill.side, fill.instrument)

    def _finish(self, client_order_id: str) -> None:
        finished = self.finished
        if len(finished) >= MAX_REMEMBERED:
            del finished[next(iter(finished))]
        finished[client_order_id] = None

    def request(self, client_order_id: str) -> OrderRequest | None:
        known = self.requests.get(client_order_id)
        if known is None and self.orders is not None:
            known = self.orders(client_order_id)
        return known

    def __call__(self, event: Decoded) -> str:
        payload = getattr(event, "payload", None)
        coid = payload.client_order_id if isinstance(payload, OrderUpdate) else None
        before = self.requests.get(coid) if coid is not None else None
        self.remember(event)
        # (a replace's new terms, folded in just now: `_amend` keeps a new request)
        modified = before is not None and self.requests.get(coid or "") is not before
        return describe(
            event,
            instruments=self.instruments,
            orders=self.request,
            traded=self.traded.get,
            id_width=self.id_width,
            modified=modified,
        )
