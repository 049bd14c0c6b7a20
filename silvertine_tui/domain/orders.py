"""Order requests, their validation, and the order state machine."""

from __future__ import annotations

from decimal import ROUND_DOWN, Decimal
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from .enums import TERMINAL_STATUSES, OrderStatus, OrderType, Side, TimeInForce
from .errors import OrderValidationError, ValidationIssue
from .ids import new_client_order_id
from .instrument import Instrument
from .money import (
    ZERO,
    Dec,
    NonNegativeDec,
    PositiveDec,
    add_per_currency,
    fmt,
    is_multiple,
    quantized,
)
from .trusted import new_model, set_dict, set_extra, set_fields_set, set_private

# Market orders cannot rest on the book.
_MARKET_TIFS = frozenset({TimeInForce.IOC, TimeInForce.FOK, TimeInForce.DAY})


class OrderRequest(BaseModel):
    """What the trader asked for. `client_order_id` is minted here, before sending."""

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    client_order_id: str = Field(default_factory=new_client_order_id, min_length=1, max_length=36)
    broker: str = Field(min_length=1)
    account: str = Field(min_length=1)
    instrument: str = Field(min_length=3, description="SYMBOL.VENUE key")
    side: Side
    order_type: OrderType
    # The base quantity. A MARKET order may instead give the amount of the quote
    # currency to spend (buy) or receive (sell), `quote_quantity` (Binance
    # `quoteOrderQty`): then `quantity` is None and the venue works out the base
    # quantity; what filled comes from the fills. Exactly one of the two is set
    # (`issues` says so, naming the field).
    quantity: Dec | None = None
    quote_quantity: Dec | None = None
    limit_price: Dec | None = None
    stop_price: Dec | None = None
    tif: TimeInForce = TimeInForce.GTC
    reduce_only: bool = False
    # Rest on the book or be refused, never take liquidity (Binance LIMIT_MAKER).
    post_only: bool = False
    tag: str = ""

    @property
    def by_quote(self) -> bool:
        """An order for an amount of the quote currency (`quote_quantity`)."""
        return self.quote_quantity is not None

    def base_quantity(self, price: Decimal | None) -> Decimal | None:
        """The base quantity: the one asked for, or for an order by quote amount about
        what `price` gives (None without a price)."""
        if self.quantity is not None:
            return self.quantity
        if self.quote_quantity is None or price is None or price <= 0:
            return None
        return self.quote_quantity / price

    def notional_at(
        self, price: Decimal | None, multiplier: Decimal = Decimal(1)
    ) -> Decimal | None:
        """The notional: the quote amount itself for an order by quote amount, else the
        quantity at `price` (None without one)."""
        if self.quote_quantity is not None:
            return self.quote_quantity
        if self.quantity is None or price is None:
            return None
        return self.quantity * price * multiplier

    def reference_price(self) -> Decimal | None:
        """The price the notional is judged at when no market price is known."""
        return self.limit_price if self.limit_price is not None else self.stop_price

    def issues(
        self, instrument: Instrument, market_price: Decimal | None = None
    ) -> list[ValidationIssue]:
        """Every rule this request breaks against `instrument` (empty when valid).

        `market_price` is used for the notional of orders without a price (MARKET, STOP
        without one is judged at its stop), and as the reference of the venue's price
        band (a misplaced decimal point is refused here, not by the venue). The venue
        measures its band around its own recent average price, not the desk's mark, so
        within the gap between the two, at the band's edges, the venue has the last word.
        """
        found: list[ValidationIssue] = []
        if self.instrument != instrument.key:
            found.append(
                ValidationIssue(
                    "instrument",
                    "match",
                    f"{self.instrument} does not match instrument {instrument.key}",
                )
            )
        kind = self.order_type
        if instrument.order_types is not None and kind not in instrument.order_types:
            taken = ", ".join(sorted(instrument.order_types))
            found.append(
                ValidationIssue(
                    "order_type",
                    "supported",
                    f"{instrument.key} does not take {kind} orders (it takes {taken})",
                )
            )
        if not instrument.trading:
            found.append(
                ValidationIssue(
                    "instrument",
                    "trading",
                    f"{instrument.key} is not trading now (venue status {instrument.status})",
                )
            )
        if self.quote_quantity is not None:
            found += self._quote_issues(instrument, market_price)
        elif self.quantity is None:
            found.append(ValidationIssue("quantity", "required", "required"))
        else:
            found += instrument.check_qty(self.quantity, market=kind is OrderType.MARKET)
        if kind.has_limit_price:
            if self.limit_price is None:
                found.append(
                    ValidationIssue("limit_price", "required", f"required for {kind} orders")
                )
            else:
                found += instrument.check_price(self.limit_price, "limit_price")
                if market_price is not None:
                    found += instrument.check_band(
                        self.limit_price, self.side is Side.BUY, market_price
                    )
        elif self.limit_price is not None:
            found.append(
                ValidationIssue("limit_price", "not_allowed", f"not allowed for {kind} orders")
            )
        if kind.has_stop_price:
            if self.stop_price is None:
                found.append(
                    ValidationIssue("stop_price", "required", f"required for {kind} orders")
                )
            else:
                found += instrument.check_price(self.stop_price, "stop_price")
        elif self.stop_price is not None:
            found.append(
                ValidationIssue("stop_price", "not_allowed", f"not allowed for {kind} orders")
            )
        if kind is OrderType.MARKET and self.tif not in _MARKET_TIFS:
            found.append(
                ValidationIssue(
                    "tif",
                    "market_tif",
                    f"market orders cannot rest: use IOC, FOK or DAY, not {self.tif}",
                )
            )
        price = self.reference_price() if kind is not OrderType.MARKET else market_price
        amount_field = "quote_quantity" if self.by_quote else "quantity"
        if price is not None and price <= 0:
            price = None
        notional = self.notional_at(price, instrument.multiplier)
        if notional is not None and 0 < notional < instrument.min_notional:
            found.append(
                ValidationIssue(
                    amount_field,
                    "min_notional",
                    f"notional {fmt(_readable(notional, instrument.tick_size))} "
                    f"{instrument.quote_currency}"
                    f" < minimum {fmt(instrument.min_notional)}"
                    + _smallest(instrument, price, by_quote=self.by_quote),
                )
            )
        if (
            notional is not None
            and instrument.max_notional is not None
            and notional > instrument.max_notional
        ):
            found.append(
                ValidationIssue(
                    amount_field,
                    "max_notional",
                    f"notional {fmt(_readable(notional, instrument.tick_size))} "
                    f"{instrument.quote_currency}"
                    f" > maximum {fmt(instrument.max_notional)}",
                )
            )
        return found

    def _quote_issues(
        self, instrument: Instrument, market_price: Decimal | None
    ) -> list[ValidationIssue]:
        """The rules of an order by quote amount: MARKET only, never beside a base
        quantity, positive, on the venue's quote grid; and, when the market price is
        known, about enough base for the market minimum (the venue's own check)."""
        assert self.quote_quantity is not None
        amount = self.quote_quantity
        found: list[ValidationIssue] = []
        if self.quantity is not None:
            found.append(
                ValidationIssue(
                    "quote_quantity",
                    "not_with_quantity",
                    "give a quantity or an amount in the quote currency, not both",
                )
            )
        if self.order_type is not OrderType.MARKET:
            found.append(
                ValidationIssue(
                    "quote_quantity",
                    "market_only",
                    f"an amount in {instrument.quote_currency or 'the quote currency'} is for "
                    f"MARKET orders only, not {self.order_type}",
                )
            )
        if not amount.is_finite() or amount <= 0:
            found.append(
                ValidationIssue(
                    "quote_quantity", "positive", f"{fmt(amount)} must be greater than 0"
                )
            )
            return found
        step = instrument.quote_step
        if step is not None and not is_multiple(amount, step):
            found.append(
                ValidationIssue(
                    "quote_quantity",
                    "quote_step",
                    f"{fmt(amount)} has more decimals than {instrument.quote_currency} takes "
                    f"(a multiple of {fmt(step)})",
                )
            )
        least = (
            instrument.min_qty if instrument.market_min_qty is None else instrument.market_min_qty
        )
        if market_price is not None and market_price > 0 and least > 0:
            about = amount / market_price
            if about < least:
                found.append(
                    ValidationIssue(
                        "quote_quantity",
                        "min_qty",
                        f"{fmt(amount)} {instrument.quote_currency} is about "
                        f"{fmt(_readable(about, instrument.lot_size))} at the mark "
                        f"{instrument.mark_text(market_price)}, below the minimum quantity "
                        f"{fmt(least)}",
                    )
                )
        return found

    def validate_for(self, instrument: Instrument, market_price: Decimal | None = None) -> None:
        """Raise `OrderValidationError` naming every broken rule."""
        found = self.issues(instrument, market_price)
        if found:
            raise OrderValidationError(found)


class OrderUpdate(BaseModel):
    """A venue's report on an order (status and cumulative fill), as journaled."""

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    client_order_id: str
    status: OrderStatus
    venue_order_id: str | None = None
    filled_qty: NonNegativeDec | None = Field(default=None, description="cumulative, if reported")
    avg_price: Dec | None = None
    quantity: PositiveDec | None = Field(default=None, description="new quantity after a modify")
    limit_price: Dec | None = None
    stop_price: Dec | None = None
    reason: str = ""
    venue_ts_ns: int | None = None
    # True: the venue says the order's stop has triggered (a STOP works as a market
    # order from then, a STOP_LIMIT as a limit at its limit; its stop can no longer
    # change). False: the venue says its stop waits (again): the report of Binance's
    # cancel-replace of a stop, a new venue order whose stop waits whatever the one it
    # replaced had done; the order's trigger is cleared. None: not said by this report
    # (every other report; journals written before the field, where the paper venue
    # said it only in `reason`). None is left out on the wire: only reports that say it
    # carry it (the paper venue's trigger; every report of Binance's triggered stop, as
    # one may come before the trigger's; the report of a Binance stop's replacement).
    triggered: bool | None = None
    # True: the venue holds the order but does not work it now (TWS's status Inactive:
    # outside its hours, held, refused by a later check); it is still open (NEW or
    # PARTIALLY_FILLED) and can work again, fill, or be cancelled. False: the venue
    # works it again. None: not said by this report (every other report; journals
    # written before the field, where the IB adapter said it only in `reason`). None is
    # left out on the wire: only the IB adapter's reports of a turn carry it.
    inactive: bool | None = None


class Fill(BaseModel):
    """One execution. `exec_id` is the venue's execution id (idempotency key)."""

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    exec_id: str = Field(min_length=1)
    client_order_id: str
    venue_order_id: str | None = None
    broker: str
    account: str
    instrument: str
    side: Side
    quantity: Dec = Field(gt=0)
    price: Dec = Field(ge=0)  # a venue can fill at 0 (an option expiring worthless)
    fee: Dec = Decimal(0)
    fee_currency: str = ""
    # The fee's worth in the instrument's quote currency when it was charged (a fee in
    # the base asset or in BNB); None when the venue charged the quote currency itself
    # or the adapter could not price it.
    fee_value: Dec | None = None
    liquidity: str = "UNKNOWN"
    venue_ts_ns: int | None = None

    @property
    def notional(self) -> Decimal:
        return self.quantity * self.price


class FeeCorrection(BaseModel):
    """The fee of a fill already journaled, as the venue reported it afterwards (IB sends
    an execution's commission report separately and sometimes late). `fee` replaces what
    the fill carried (`previous_fee` in `previous_currency`, usually nothing); each
    execution's fee is corrected once (`Order.apply_fee_correction`)."""

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    exec_id: str = Field(min_length=1)
    client_order_id: str
    broker: str
    account: str
    instrument: str
    fee: Dec
    fee_currency: str
    fee_value: Dec | None = None
    previous_fee: Dec = Decimal(0)
    previous_currency: str = ""

    @property
    def changes(self) -> dict[str, Decimal]:
        """The change per currency this correction makes to the fees paid."""
        return _fee_moves(self.previous_fee, self.previous_currency, self.fee, self.fee_currency)


class FillCorrection(BaseModel):
    """A journaled fill as the venue corrected it afterwards: IB sends an execution again
    under an execId that differs only after its final period, with the price or size it
    stands at now. `fill` (its own exec id, and the fee when the commission report is
    in) replaces the fill journaled as `replaces`, whose terms are given as they stood
    (`previous_*`): the order's fills, the position and its P&L change by the
    difference, once per correcting exec id (`Order.apply_fill_correction`)."""

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    replaces: str = Field(min_length=1, description="exec id of the fill it corrects")
    fill: Fill
    previous_quantity: PositiveDec
    previous_price: Dec = Field(ge=0)  # as `Fill.price`: a fill at 0 is a fill
    previous_fee: Dec = Decimal(0)
    previous_currency: str = ""
    previous_fee_value: Dec | None = None

    @property
    def client_order_id(self) -> str:
        return self.fill.client_order_id

    @property
    def quantity_change(self) -> Decimal:
        return self.fill.quantity - self.previous_quantity

    @property
    def notional_change(self) -> Decimal:
        return self.fill.notional - self.previous_quantity * self.previous_price

    @property
    def fee_changes(self) -> dict[str, Decimal]:
        """The change per currency this correction makes to the fees paid (the fill's
        fee replaces the one it corrects; nothing yet if its report is not in)."""
        fill = self.fill
        return _fee_moves(self.previous_fee, self.previous_currency, fill.fee, fill.fee_currency)


def _fee_moves(
    previous: Decimal, previous_currency: str, fee: Decimal, currency: str
) -> dict[str, Decimal]:
    """The change per currency when `fee` replaces `previous` (none left out as 0)."""
    delta: dict[str, Decimal] = {}
    if previous:
        delta[previous_currency] = -previous
    if fee:
        delta[currency] = delta.get(currency, Decimal(0)) + fee
    return {ccy: amount for ccy, amount in delta.items() if amount}


class ApplyResult(StrEnum):
    APPLIED = "APPLIED"
    DUPLICATE = "DUPLICATE"
    STALE = "STALE"
    OVERFILL = "OVERFILL"
    WRONG_ORDER = "WRONG_ORDER"
    TERMINAL = "TERMINAL"


S = OrderStatus
# Members the hot paths (`Order.apply_update`, `Order.apply_fill`) read as module
# globals: reading one from its enum class costs about 0.1 µs on Python 3.11.
_R_APPLIED, _R_DUPLICATE, _R_STALE = ApplyResult.APPLIED, ApplyResult.DUPLICATE, ApplyResult.STALE
_R_OVERFILL, _R_WRONG_ORDER = ApplyResult.OVERFILL, ApplyResult.WRONG_ORDER
_R_TERMINAL = ApplyResult.TERMINAL
_S_PENDING_NEW, _S_NEW = S.PENDING_NEW, S.NEW
_S_PARTIALLY_FILLED, _S_FILLED = S.PARTIALLY_FILLED, S.FILLED
# Allowed status moves. Anything else is a late or out-of-order report and is ignored.
# PENDING_CANCEL/PENDING_REPLACE may go back to NEW (the venue refused the cancel or
# applied the replace); a NEW report after fills becomes PARTIALLY_FILLED.
# PENDING_CANCEL may end REJECTED: an order cancelled while still PENDING_NEW (its place
# unanswered) that the venue then refused, or never received. Without the move it
# stayed PENDING_CANCEL for good, counted working, though nothing worked anywhere.
TRANSITIONS: dict[OrderStatus, frozenset[OrderStatus]] = {
    S.PENDING_NEW: frozenset(
        {S.NEW, S.PARTIALLY_FILLED, S.FILLED, S.REJECTED, S.CANCELED, S.EXPIRED, S.PENDING_CANCEL}
    ),
    S.NEW: frozenset(
        {S.PARTIALLY_FILLED, S.FILLED, S.PENDING_CANCEL, S.PENDING_REPLACE, S.CANCELED, S.EXPIRED}
    ),
    S.PARTIALLY_FILLED: frozenset(
        {S.PARTIALLY_FILLED, S.FILLED, S.PENDING_CANCEL, S.PENDING_REPLACE, S.CANCELED, S.EXPIRED}
    ),
    S.PENDING_CANCEL: frozenset(
        {S.NEW, S.PARTIALLY_FILLED, S.FILLED, S.CANCELED, S.EXPIRED, S.REJECTED}
    ),
    S.PENDING_REPLACE: frozenset(
        {S.NEW, S.PARTIALLY_FILLED, S.FILLED, S.PENDING_CANCEL, S.CANCELED, S.EXPIRED}
    ),
    S.FILLED: frozenset(),
    S.CANCELED: frozenset(),
    S.REJECTED: frozenset(),
    S.EXPIRED: frozenset(),
}


class Overfill(BaseModel):
    """The fills the venue reported for an order past its size (an overfill), which the
    order does not count as filled (`Order.filled_qty` never exceeds its quantity) but
    which the position took (fills are money): their base quantity, their amount in the
    quote currency and their execution ids (each counted once). The desk shows them
    beside what filled, flagged (`Order.reported_qty`): it read "-" "-" for an order
    the venue filled 0.05 of 0.01, while the Log said "filled 0.05"."""

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    quantity: Dec = Decimal(0)
    quote: Dec = Decimal(0)
    exec_ids: frozenset[str] = frozenset()


class Order(BaseModel):
    """An order's live state. `apply_update` and `apply_fill` change it (an overfill
    refused is recorded, `Order.overfill`); beside them, `reopen` takes the venue's word
    on reconcile that an order ended here still works there."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    request: OrderRequest
    status: OrderStatus = OrderStatus.PENDING_NEW
    venue_order_id: str | None = None
    # The base quantity ordered. For an order by quote amount (`quote_quantity`) the
    # venue works it out: it is what has filled so far, and only the venue ends the
    # order (FILLED or EXPIRED).
    quantity: Dec
    quote_quantity: Dec | None = None
    limit_price: Dec | None = None
    stop_price: Dec | None = None
    filled_qty: Dec = Decimal(0)
    # The quote amount the fills came to (sum of quantity x price): what an order by
    # quote amount has spent or received, judged against `quote_quantity`.
    filled_quote: Dec = Decimal(0)
    avg_price: Dec | None = None
    fees: dict[str, Dec] = Field(default_factory=dict, description="per currency")
    reason: str = ""
    exec_ids: set[str] = Field(default_factory=set)
    # Venue ids the order had before a cancel-replace gave it a new one: a late report
    # that still carries one of them is about the dead order and changes nothing.
    retired_venue_ids: set[str] = Field(default_factory=set)
    fee_corrected: set[str] = Field(default_factory=set, description="exec ids")
    # FILLED with fills owed, and the venue's position for its instrument taken since
    # (a reconcile): those fills are in it, and nothing is owed any more (`owed_qty`).
    owed_written_off: bool = False
    # Its stop has triggered, as a venue's report said (`OrderUpdate.triggered`): it no
    # longer waits for its stop, which cannot change any more. A report that says
    # False (a replacement whose stop waits again) clears it.
    triggered: bool = False
    # The venue holds it without working it now, as its last report that said so
    # said (`OrderUpdate.inactive`); a report that says False clears it.
    inactive: bool = False
    # The fills reported past its size (`Overfill`); None (left out on the wire, so an
    # older build reads a snapshot of orders that never overfilled): none.
    overfill: Overfill | None = None

    @field_validator("fees", mode="before")
    @classmethod
    def _fees_per_currency(cls, value: Any) -> Any:
        """Snapshots written before fees were kept per currency hold one amount (its
        currency unnamed): read it as such rather than refuse the snapshot."""
        if isinstance(value, (str, int, Decimal)) and not isinstance(value, bool):
            amount = Decimal(value)
            return {"": amount} if amount else {}
        return value

    if not TYPE_CHECKING:  # mypy would then take any attribute name as settable

        def __setattr__(self, name: str, value: Any) -> None:
            """A field is set as pydantic sets one of a model without validate-on-
            assignment (the value and `model_fields_set`), without pydantic's generic
            dispatch: the OMS sets a field or two for every report it applies, and that
            dispatch cost more than the rest of applying a report."""
            if name in _ORDER_FIELDS:
                self.__dict__[name] = value
                self.__pydantic_fields_set__.add(name)
            else:
                super().__setattr__(name, value)

    def changed_terms(
        self,
        *,
        quantity: Decimal | None = None,
        limit_price: Decimal | None = None,
        stop_price: Decimal | None = None,
    ) -> dict[str, Decimal]:
        """The terms given that this order does not have, as a report carrying them
        would change it (`apply_update`)."""
        return _changed_terms(self.__dict__, quantity, limit_price, stop_price)

    @classmethod
    def from_venue(cls, broker: str, account: str, venue: VenueOrder, *, tag: str = "") -> Order:
        """An order as a venue holds it (adopted on reconcile, a paper venue's order
        re-seeded after a journal loss): its terms, status, venue id and what filled."""
        order = cls.from_request(
            OrderRequest(
                client_order_id=venue.client_order_id,
                broker=broker,
                account=account,
                instrument=venue.instrument,
                side=venue.side,
                order_type=venue.order_type,
                quantity=venue.quantity,
                limit_price=venue.limit_price,
                stop_price=venue.stop_price,
                tif=venue.tif,
                post_only=venue.post_only,
                tag=tag,
            )
        )
        order.status = venue.status
        order.venue_order_id = venue.venue_order_id
        order.filled_qty = venue.filled_qty
        order.avg_price = venue.avg_price
        if venue.triggered:
            order.triggered = True
        return order

    @classmethod
    def from_request(cls, request: OrderRequest) -> Order:
        """The new order of a request: what `cls(request=..., quantity=...,
        quote_quantity=..., limit_price=..., stop_price=...)` makes, without validating
        again what the request's validation checked (a replay makes one per order)."""
        # `build_trusted`, written out: a replay makes one order per request.
        order = new_model(cls)
        quantity = request.quantity
        set_dict(
            order,
            {
                "request": request,
                "status": _S_PENDING_NEW,
                "venue_order_id": None,
                "quantity": quantity if quantity is not None else ZERO,
                "quote_quantity": request.quote_quantity,
                "limit_price": request.limit_price,
                "stop_price": request.stop_price,
                "filled_qty": ZERO,
                "filled_quote": ZERO,
                "avg_price": None,
                "fees": {},
                "reason": "",
                "exec_ids": set(),
                "retired_venue_ids": set(),
                "fee_corrected": set(),
                "owed_written_off": False,
                "triggered": False,
                "inactive": False,
                "overfill": None,
            },
        )
        set_fields_set(order, set(_REQUEST_FIELDS))
        set_extra(order, None)
        set_private(order, None)
        return order

    @property
    def client_order_id(self) -> str:
        return self.request.client_order_id

    @property
    def by_quote(self) -> bool:
        return self.quote_quantity is not None

    @property
    def leaves_qty(self) -> Decimal:
        """The base quantity still to trade; 0 for an order by quote amount, whose base
        quantity the venue decides (see `leaves_quote`)."""
        if self.status.is_terminal or self.quote_quantity is not None:
            return ZERO
        return max(self.quantity - self.filled_qty, ZERO)

    @property
    def owed_qty(self) -> Decimal:
        """The base quantity the venue said FILLED whose fills have not arrived: a FILLED
        status may come first (a lost answer resolved from the venue, TWS's orderStatus
        before its execDetails), and until the fills do, the position does not hold them
        and the order works no more. The gate counts it as working meanwhile. 0 for an
        order by quote amount (the venue decides its base quantity)."""
        if self.status is not _S_FILLED or self.quote_quantity is not None or self.owed_written_off:
            return ZERO
        # The fills reported past its size came too (the position holds them): with
        # them the venue reported at least the quantity, and nothing more is owed.
        over = self.overfill.quantity if self.overfill is not None else ZERO
        return max(self.quantity - self.filled_qty - over, ZERO)

    @property
    def reported_qty(self) -> Decimal:
        """The base quantity the venue reported filled: what the order counts as filled
        and, past it, the overfill (`Overfill`)."""
        over = self.overfill
        return self.filled_qty if over is None else self.filled_qty + over.quantity

    @property
    def reported_avg(self) -> Decimal | None:
        """The average price of every fill the venue reported, the overfill's too (the
        order's own `avg_price` is of the fills it counts)."""
        over = self.overfill
        if over is None:
            return self.avg_price
        total = self.filled_qty + over.quantity
        if total <= 0:
            return None
        return (self.filled_quote + over.quote) / total

    @property
    def leaves_quote(self) -> Decimal:
        """The quote amount an order by quote amount may still trade (0 otherwise)."""
        if self.status.is_terminal or self.quote_quantity is None:
            return ZERO
        return max(self.quote_quantity - self.filled_quote, ZERO)

    # `apply_update` and `apply_fill` run for every report a replay applies: they read
    # the fields from the model's `__dict__` and write the ones always set there too
    # (with `model_fields_set`, as pydantic does); pydantic's attribute access made them
    # twice as slow.

    def apply_update(self, update: OrderUpdate) -> ApplyResult:
        state = self.__dict__
        if update.client_order_id != state["request"].client_order_id:
            return _R_WRONG_ORDER
        status = state["status"]
        if status in TERMINAL_STATUSES:
            return _R_TERMINAL
        new = update.status
        venue_id = update.venue_order_id
        if venue_id is not None and venue_id in state["retired_venue_ids"]:
            return _R_STALE
        current = state["venue_order_id"]
        replaced = venue_id is not None and current is not None and venue_id != current
        if not current and venue_id:
            self.venue_order_id = current = venue_id
        # A report of the status the order has that brings other terms (an order moved
        # in place at the venue, as TWS does, or terms found on reconcile), or says its
        # stop has triggered, or waits again (False: Binance's cancel-replace of a
        # triggered stop places a new stop), amends it.
        said = update.triggered
        triggers = said is not None and said != state["triggered"]
        # Likewise one that says the venue stopped working the order, or works it again.
        held = update.inactive
        turns = held is not None and held != state["inactive"]
        amends = new is status and (
            triggers
            or turns
            or bool(_changed_terms(state, update.quantity, update.limit_price, update.stop_price))
        )
        if new is status and new is not _S_PARTIALLY_FILLED and not replaced and not amends:
            return _R_DUPLICATE
        if new not in TRANSITIONS[status] and not ((replaced or amends) and new is status):
            return _R_STALE
        # A venue that modifies by cancel-replace gives the order a new venue id; the
        # client order id stays. Only a report that moves the order may change it, so a
        # late report of the dead id never brings it back.
        if replaced:
            assert current is not None
            state["retired_venue_ids"].add(current)
            self.venue_order_id = venue_id
        # A replace changes the terms; never below what has already filled. An order by
        # quote amount keeps its base quantity from the fills.
        filled_qty = state["filled_qty"]
        if (
            update.quantity is not None
            and update.quantity >= filled_qty
            and state["quote_quantity"] is None
        ):
            self.quantity = update.quantity
        if update.limit_price is not None:
            self.limit_price = update.limit_price
        if update.stop_price is not None:
            self.stop_price = update.stop_price
        if update.reason:
            self.reason = update.reason
        if triggers:
            self.triggered = bool(said)
        if turns:
            self.inactive = bool(held)
        if new is _S_FILLED and filled_qty < state["quantity"]:
            # The venue says filled but the fills have not arrived yet: the status moves,
            # the quantities wait for the fills (which carry the money).
            new = _S_FILLED
        elif new is _S_NEW and filled_qty > 0:
            new = _S_PARTIALLY_FILLED
        state["status"] = new
        self.__pydantic_fields_set__.add("status")
        return _R_APPLIED

    def apply_fill(self, fill: Fill) -> ApplyResult:
        """Add an execution. Duplicates and overfills are refused, never applied; an
        overfill is recorded beside what filled (`Order.overfill`, once per execution:
        `_take_overfill`), by whichever path applies fills (the OMS, `apply_entries`'
        flat path).

        A fill is money that changed hands, so it is applied even after a terminal
        status (a fill that raced a cancel); the terminal status itself never changes.
        """
        state = self.__dict__
        if fill.client_order_id != state["request"].client_order_id:
            return _R_WRONG_ORDER
        exec_id = fill.exec_id
        exec_ids = state["exec_ids"]
        if exec_id in exec_ids:
            return _R_DUPLICATE
        over = state["overfill"]
        if over is not None and exec_id in over.exec_ids:
            return _R_DUPLICATE  # refused as an overfill and recorded (`_take_overfill`)
        quantity = fill.quantity
        notional = quantity * fill.price
        filled_qty = state["filled_qty"]
        quote_quantity = state["quote_quantity"]
        by_quote = quote_quantity is not None
        if by_quote:
            # The venue sizes it: an overfill is more quote than the amount given.
            if state["filled_quote"] + notional > quote_quantity:
                return self._take_overfill(fill, over)
        elif filled_qty + quantity > state["quantity"]:
            return self._take_overfill(fill, over)
        exec_ids.add(exec_id)
        previous_value = (state["avg_price"] or ZERO) * filled_qty
        filled_qty += quantity
        state["filled_qty"] = filled_qty
        state["filled_quote"] += notional
        if by_quote:
            state["quantity"] = filled_qty
        state["avg_price"] = (previous_value + notional) / filled_qty
        self.__pydantic_fields_set__.update(_FILL_SETS if by_quote else _FILL_SETS_BASE)
        if fill.fee:
            fees = state["fees"]
            fees[fill.fee_currency] = fees.get(fill.fee_currency, ZERO) + fill.fee
        if fill.venue_order_id and not state["venue_order_id"]:
            self.venue_order_id = fill.venue_order_id
        status = state["status"]
        if status not in TERMINAL_STATUSES:
            if filled_qty == state["quantity"] and not by_quote:
                self.status = _S_FILLED
            elif status is _S_PENDING_NEW or status is _S_NEW:
                self.status = _S_PARTIALLY_FILLED
        return _R_APPLIED

    def _take_overfill(self, fill: Fill, over: Overfill | None) -> ApplyResult:
        """Record a fill `apply_fill` refuses as an overfill (`Overfill`, `over` as it
        stands: a repeat of its execution was refused as a DUPLICATE before): the
        order's filled quantity, average and status stay as they are; the fill is shown
        beside them, flagged."""
        if over is None:
            over = Overfill()
        self.overfill = Overfill(
            quantity=over.quantity + fill.quantity,
            quote=over.quote + fill.notional,
            exec_ids=over.exec_ids | {fill.exec_id},
        )
        return _R_OVERFILL

    def reopen(self, venue: VenueOrder, reason: str) -> bool:
        """The venue lists open, on reconcile, an order that ended here (a report that
        ended it wrongly: a venue's FILLED for more than the order, which the venue
        then lists NEW; a status the venue took back). Its word is taken as an explicit
        correction, journaled as the reconcile's own event: the order works again at
        the venue's status, venue id and terms, so it is shown, counted and can be
        cancelled, and its fills stay as they are (the venue's come as fills). The one
        way a terminal status changes: a late or repeated report still never moves one.
        False when there is nothing to reopen (it works here, or the venue does not
        list it open)."""
        if (
            venue.client_order_id != self.client_order_id
            or not self.status.is_terminal
            or venue.status.is_terminal
        ):
            return False
        venue_id = venue.venue_order_id
        current = self.venue_order_id
        if venue_id and venue_id != current:
            if current:
                self.retired_venue_ids.add(current)
            self.venue_order_id = venue_id
        terms = self.changed_terms(
            quantity=venue.quantity if venue.quantity > 0 else None,
            limit_price=venue.limit_price,
            stop_price=venue.stop_price,
        )
        for name, value in terms.items():
            setattr(self, name, value)
        if venue.triggered:
            self.triggered = True
        self.reason = reason
        partly = venue.status is _S_PARTIALLY_FILLED or self.filled_qty > 0
        self.status = _S_PARTIALLY_FILLED if partly else _S_NEW
        return True

    def apply_fee_correction(self, correction: FeeCorrection) -> ApplyResult:
        """Replace one fill's fee, once: a repeat is DUPLICATE, a correction for a fill
        this order has not applied is STALE (the fill must come first)."""
        if correction.client_order_id != self.client_order_id:
            return ApplyResult.WRONG_ORDER
        if correction.exec_id in self.fee_corrected:
            return ApplyResult.DUPLICATE
        if correction.exec_id not in self.exec_ids:
            return ApplyResult.STALE
        self.fee_corrected.add(correction.exec_id)
        add_per_currency(self.fees, correction.changes.items())
        return ApplyResult.APPLIED

    def apply_fill_correction(self, correction: FillCorrection) -> ApplyResult:
        """Replace one applied fill by its correction: the filled quantity, the amount
        and the average move by the difference, the fees by the fee's. A repeat is
        DUPLICATE; a correction of a fill this order has not applied (or whose terms
        would leave nothing filled) is STALE; one that would fill more than ordered is
        refused as an OVERFILL, as a fill is."""
        state = self.__dict__
        fill = correction.fill
        if fill.client_order_id != state["request"].client_order_id:
            return _R_WRONG_ORDER
        exec_ids = state["exec_ids"]
        if fill.exec_id in exec_ids:
            return _R_DUPLICATE
        if correction.replaces not in exec_ids:
            return _R_STALE
        filled_qty = state["filled_qty"]
        quote_quantity = state["quote_quantity"]
        by_quote = quote_quantity is not None
        filled = filled_qty + correction.quantity_change
        notional = correction.notional_change
        if filled <= ZERO:
            return _R_STALE  # not the fill this order holds: its terms do not add up
        if by_quote:
            if state["filled_quote"] + notional > quote_quantity:
                return _R_OVERFILL
        elif filled > state["quantity"]:
            return _R_OVERFILL
        exec_ids.add(fill.exec_id)
        self.avg_price = ((state["avg_price"] or ZERO) * filled_qty + notional) / filled
        self.filled_qty = filled
        self.filled_quote = state["filled_quote"] + notional
        if by_quote:
            self.quantity = filled
        add_per_currency(state["fees"], correction.fee_changes.items())
        status = state["status"]
        if status not in TERMINAL_STATUSES and not by_quote:
            if filled == state["quantity"]:
                self.status = _S_FILLED
            elif status is _S_PENDING_NEW or status is _S_NEW:
                self.status = _S_PARTIALLY_FILLED
        return _R_APPLIED


_ORDER_FIELDS = frozenset(Order.model_fields)
# The fields a new order counts as set (those its constructor would be given).
_REQUEST_FIELDS = frozenset({"request", "quantity", "quote_quantity", "limit_price", "stop_price"})
# The fields a fill always sets (and `quantity` too for an order by quote amount).
_FILL_SETS_BASE = ("filled_qty", "filled_quote", "avg_price")
_FILL_SETS = (*_FILL_SETS_BASE, "quantity")


class VenueOrder(BaseModel):
    """An order as the venue reports it (open orders, reconciliation, adoption)."""

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    client_order_id: str
    venue_order_id: str | None = None
    instrument: str
    side: Side
    order_type: OrderType
    tif: TimeInForce = TimeInForce.GTC
    # A LIMIT the venue takes only as a maker (Binance's LIMIT_MAKER): a change of it
    # must go out post-only too.
    post_only: bool = False
    quantity: Dec
    filled_qty: Dec = Decimal(0)
    limit_price: Dec | None = None
    stop_price: Dec | None = None
    status: OrderStatus = OrderStatus.NEW
    avg_price: Dec | None = None
    # True: its stop has triggered (as `OrderUpdate.triggered`); None: not said.
    triggered: bool | None = None

    def status_update(self, reason: str) -> OrderUpdate:
        """The venue's word on the order's status (its status, venue id, filled count
        and average) as an update of the journal's order, for `reason`."""
        return OrderUpdate(
            client_order_id=self.client_order_id,
            status=self.status,
            venue_order_id=self.venue_order_id,
            filled_qty=self.filled_qty,
            avg_price=self.avg_price,
            reason=reason,
        )

    def terms_update(self, reason: str) -> OrderUpdate:
        """`status_update` with the venue's terms: its quantity (none when it lists 0:
        nothing to take), limit and stop prices."""
        return self.status_update(reason).model_copy(
            update={
                "quantity": self.quantity if self.quantity > 0 else None,
                "limit_price": self.limit_price,
                "stop_price": self.stop_price,
            }
        )


def _smallest(instrument: Instrument, price: Decimal | None, *, by_quote: bool) -> str:
    """What to type instead of an order below the venue's minimum notional: the
    smallest quantity on the lot that reaches it at `price` (or the minimum amount)."""
    if by_quote:
        return f": at least {fmt(instrument.min_notional)} {instrument.quote_currency}"
    if price is None:
        return ""
    qty = instrument.round_qty(instrument.min_notional / (price * instrument.multiplier), mode="up")
    if qty * price * instrument.multiplier < instrument.min_notional:
        qty += instrument.lot_size  # (rounding up to the lot already reaches it)
    return f": at least {fmt(qty.normalize())} at {instrument.price_text(price)}"


def _readable(value: Decimal, tick: Decimal) -> Decimal:
    """A computed amount (a notional) to two places finer than the tick, truncated and
    without trailing zeros: 0.960000075 -> 0.96, 3.998 stays 3.998."""
    return quantized(value, tick / 100, ROUND_DOWN).normalize()


def _changed_terms(
    state: dict[str, Any],
    quantity: Decimal | None,
    limit_price: Decimal | None,
    stop_price: Decimal | None,
) -> dict[str, Decimal]:
    """The terms given that the order does not have, by the rule `Order.apply_update`
    applies them (a quantity only when not below what has filled, never for an order
    by quote amount)."""
    terms: dict[str, Decimal] = {}
    if (
        quantity is not None
        and quantity != state["quantity"]
        and quantity >= state["filled_qty"]
        and state["quote_quantity"] is None
    ):
        terms["quantity"] = quantity
    if limit_price is not None and limit_price != state["limit_price"]:
        terms["limit_price"] = limit_price
    if stop_price is not None and stop_price != state["stop_price"]:
        terms["stop_price"] = stop_price
    return terms
