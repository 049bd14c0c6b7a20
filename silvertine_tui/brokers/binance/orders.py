"""What the Binance adapter knows of each order, and the gate every update passes.

An order is reported by the REST reply, the user-data stream and queries, in any
order and sometimes twice; the journal must get each status once and never a step
back. `TrackedOrder.is_news` decides; `record` notes what was published.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from ...domain import TRANSITIONS, Fill, OrderStatus, OrderType, OrderUpdate, Side, TimeInForce
from .instruments import key_of

ZERO = Decimal(0)
# Our own steps: judged against the journal, not against the venue's reports.
LOCAL_STEPS = frozenset(
    {OrderStatus.PENDING_NEW, OrderStatus.PENDING_CANCEL, OrderStatus.PENDING_REPLACE}
)


@dataclass(slots=True)
class Sizing:
    """What a modify's replacement was sized from, remembered while the modify is in
    flight and until Binance's word on the old venue order settles it
    (`BinanceBroker._check_sized`): whichever path takes the replacement (the
    cancelReplace's answer, the background check after a lost answer, a query, a
    cancel's or a sweep's answer, the stream's report), the old venue order may have
    filled more than `sized_from` (a fill's report still on its way when the modify
    went) and the replacement is then too big by the difference."""

    old_venue_id: str  # the venue order the modify retired
    # The venue orders retired by it or before: what filled under them, as Binance
    # holds it, against `sized_from`.
    covers: frozenset[str]
    sized_from: Decimal  # what had filled, as this adapter counted when it sized it
    asked: Decimal  # the order's quantity the trader asked for
    in_flight: bool = True  # the cancelReplace's answer not read (nor lost) yet
    # The replacement, once taken: its venue order id and quantity (`origQty`).
    new_venue_id: str | None = None
    placed: Decimal = ZERO


@dataclass(slots=True)
class TrackedOrder:
    """What the adapter knows of one order (placed here, reported, or reconciled)."""

    client_order_id: str
    symbol: str
    side: Side
    order_type: OrderType
    tif: TimeInForce = TimeInForce.GTC
    post_only: bool = False
    quantity: Decimal = ZERO  # total, across replaces
    # A MARKET order for an amount of the quote asset (`quoteOrderQty`): `quantity` is
    # then what Binance worked out (`q`), 0 until it said.
    quote_quantity: Decimal | None = None
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None
    venue_order_id: str | None = None
    # Venue ids a replace retired, and what filled (quantity, quote) under each id.
    retired: set[str] = field(default_factory=set)
    filled_by_venue_id: dict[str, tuple[Decimal, Decimal]] = field(default_factory=dict)
    # What Binance said a retired venue order filled in all (a cancelReplace's
    # `cancelResponse`, the retired order's own report): more than its fills heard here
    # while some of them are still on their way (`carried_at_venue`).
    said_filled: dict[str, Decimal] = field(default_factory=dict)
    # Of those, the ones whose word was final (the venue order had ended: its quantity
    # filled can grow no more).
    said_final: set[str] = field(default_factory=set)
    # The last modify's sizing, until settled (`BinanceBroker._check_sized`).
    sizing: Sizing | None = None
    # Its fills' exec ids the journal has: they leave the adapter's memory with it.
    exec_ids: set[str] = field(default_factory=set)
    replacing: bool = False
    # An order amend keepPriority in flight, or whose answer was lost and is being
    # asked: the venue quantity (`newQty`) it asks of the working venue order, which
    # keeps its id (None: none). Its answer or its executionReport (`x` REPLACED),
    # whichever comes first, takes it (`BinanceBroker._take_amend`).
    amending: Decimal | None = None
    # The venue order an amend was last taken of (ours or another program's) and the
    # quantity it left it at: an amend only lowers it, so an amend of that venue order
    # (its answer, its REPLACED report) at that quantity is one taken already, and above
    # it older than what is known (`BinanceBroker._take_amend`, `_amended_before`).
    amended: tuple[str, Decimal] | None = None
    # A change's PENDING_REPLACE came while a status of the order waited for its
    # account event: it goes after that status (`BinanceBroker._flush_held`).
    replace_after_held: bool = False
    # A CANCELED of its working venue order that this desk did not ask for (another
    # program's cancel, or its cancelReplace that kept this client order id: the same
    # report): that venue id, while Binance is asked whether an order works under the
    # client order id before any end is journaled (`BinanceBroker._cancel_unasked`).
    cancel_unasked: str | None = None
    # What the journal has: the last status published (ours or the venue's), the
    # venue's last reported status and cumulative quantity.
    status: OrderStatus | None = None
    venue_status: OrderStatus | None = None
    filled: Decimal = ZERO
    published_venue_id: str | None = None
    # The venue order Binance, listing or asked, said works after this adapter held the
    # order ended (a FILLED report for more than it, which Binance then listed NEW):
    # the reconcile's re-opening of it (`BinanceBroker.update_journaled`) is followed
    # only then, never a late copy of an earlier status over a true end. None: not so.
    open_after_end: str | None = None
    # Its stop's trigger is published (or journaled by the reconcile): a report of the
    # status the journal has that says `triggered` is news once (Binance's second NEW,
    # with `W`, when a stop triggers). Unknown (False) for an order met in a listing.
    triggered: bool = False

    @property
    def key(self) -> str:
        return key_of(self.symbol)

    @property
    def ended(self) -> bool:
        """Ended as far as the adapter knows: its last status published, or, for an
        order with no status of ours (met only in the venue's listing or a query after a
        restart), the venue's last word on it. (Judged by our status alone, such an
        order ended at the venue read as working: a cancel all journaled a cancel of it.)"""
        last = self.last_status
        return last is not None and last.is_terminal

    @property
    def last_status(self) -> OrderStatus | None:
        """Its last status known: ours, or else the venue's last word on it."""
        return self.status if self.status is not None else self.venue_status

    @property
    def carried(self) -> tuple[Decimal, Decimal]:
        """What filled under retired venue ids: (quantity, quote amount)."""
        return self.carried_besides(None)

    def carried_besides(self, venue_order_id: str | None) -> tuple[Decimal, Decimal]:
        """What filled under retired venue ids other than `venue_order_id` (a report of
        a retired venue order counts its own fills already)."""
        qty, quote = ZERO, ZERO
        for venue_id in self.retired - {venue_order_id}:
            q, a = self.filled_by_venue_id.get(venue_id, (ZERO, ZERO))
            qty, quote = qty + q, quote + a
        return qty, quote

    @property
    def carried_at_venue(self) -> Decimal:
        """What filled under retired venue ids as Binance holds it: per venue id, the
        larger of the fills heard here and what Binance said it filled. The order's
        quantity is this plus its working venue order's: taken from the fills heard
        alone, a fill still on its way left the journal's quantity below what can fill
        (a modify racing a fill: Binance works the replacement sized from the stale
        count, `BinanceBroker._mend_oversized`)."""
        total = ZERO
        for venue_id in self.retired:
            heard, _ = self.filled_by_venue_id.get(venue_id, (ZERO, ZERO))
            total += max(heard, self.said_filled.get(venue_id, ZERO))
        return total

    def note_said(self, venue_order_id: str, filled: Decimal, *, final: bool = False) -> None:
        """Binance said venue order `venue_order_id` has filled `filled` in all
        (`final`: it had ended, so that is all it fills)."""
        self.said_filled[venue_order_id] = max(self.said_filled.get(venue_order_id, ZERO), filled)
        if final:
            self.said_final.add(venue_order_id)

    def took(self, venue_order_id: str, quantity: Decimal) -> None:
        """The replacement `venue_order_id` (of `quantity`) was taken as the order's
        venue order: the last modify's sizing can be judged against it."""
        sizing = self.sizing
        if sizing is not None and venue_order_id != sizing.old_venue_id:
            sizing.new_venue_id, sizing.placed = venue_order_id, quantity

    def excess(self, sizing: Sizing) -> Decimal:
        """How much more filled under the venue orders `sizing` covers, as Binance
        holds it (the fills heard, or its word when larger), than the replacement was
        sized from: what the replacement is too big by (0 or less: none)."""
        total = ZERO
        for venue_id in sizing.covers:
            heard, _ = self.filled_by_venue_id.get(venue_id, (ZERO, ZERO))
            total += max(heard, self.said_filled.get(venue_id, ZERO))
        return total - sizing.sized_from

    def add_fill(self, fill: Fill) -> None:
        venue_id = fill.venue_order_id or self.venue_order_id or ""
        q, a = self.filled_by_venue_id.get(venue_id, (ZERO, ZERO))
        self.filled_by_venue_id[venue_id] = (q + fill.quantity, a + fill.quantity * fill.price)

    def is_news(self, update: OrderUpdate, *, local: bool) -> bool:
        """Whether `update` tells the journal something new, in a forward direction.
        `local`: our own step (PENDING_*, a status restored after a refused modify),
        judged against the journal; else a venue report, judged against the venue's
        last report (a late or repeated report of the same venue state is not news)."""
        order = self
        last = order.status
        if last is not None and last.is_terminal:
            return False
        if local:
            return last is None or update.status in TRANSITIONS[last]
        new_id = (
            update.venue_order_id is not None
            and order.published_venue_id is not None
            and update.venue_order_id != order.published_venue_id
        )
        filled = update.filled_qty
        if filled is not None and filled < order.filled:
            return False  # an older report of the same order
        # A stop's trigger not published yet: Binance's NEW after its NEW (the status
        # unchanged) was dropped here as a repeat, and the desk never heard it.
        triggers = update.triggered is True and not order.triggered
        venue = order.venue_status
        if venue is None:
            return last is None or update.status in TRANSITIONS[last] or new_id
        if venue.is_terminal:
            return False
        if update.status is venue:
            more = filled is not None and filled > order.filled
            return new_id or (venue is OrderStatus.PARTIALLY_FILLED and more) or triggers
        if update.status is OrderStatus.NEW and order.filled > 0:
            return new_id  # a late NEW after fills
        return update.status in TRANSITIONS[venue] or new_id

    def record(self, update: OrderUpdate, *, local: bool) -> None:
        """`update` was published."""
        self.status = update.status
        if not local:
            self.venue_status = update.status
            if update.filled_qty is not None:
                self.filled = max(self.filled, update.filled_qty)
        if update.venue_order_id is not None:
            if update.venue_order_id != self.published_venue_id:
                self.triggered = False  # a replacement: a new stop, which waits
            self.published_venue_id = update.venue_order_id
        if update.triggered is not None:
            self.triggered = update.triggered

    def replacement_status(self, status: OrderStatus) -> OrderStatus:
        """The status a report that takes a replacement of this order goes out at:
        the replacement's `status`, but PARTIALLY_FILLED for its NEW when the order has
        filled (what filled under the venue order it replaced is the order's). A NEW
        after PARTIALLY_FILLED is a step back the journal drops: another program's
        cancelReplace of a part-filled order under its client order id (no
        PENDING_REPLACE of ours before it) left the desk at the old terms. After this
        desk's own PENDING_REPLACE the journal took the NEW: the order read NEW with
        0.01 filled in the Log and in `silvertine replay` (the Binance drill)."""
        if status is OrderStatus.NEW and (
            self.status is OrderStatus.PARTIALLY_FILLED or self.filled > 0
        ):
            return OrderStatus.PARTIALLY_FILLED
        return status

    def replacement_triggered(self, said: bool | None) -> bool | None:
        """`triggered` for the report that takes a replacement of this order (a new
        venue order under its client order id), Binance's word on it being `said`:
        True when it works; else False for a stop. A cancelReplace places a new stop,
        which waits for its trigger again whatever the venue order it replaced had
        done: said None, the journal kept the order triggered (it only ever took a
        trigger) while Binance held a stop that waits, and the desk showed `trg` and
        closed its Stop. None (not said) for any other order."""
        if said is None and self.order_type.has_stop_price:
            return False
        return said
