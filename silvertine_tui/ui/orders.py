"""The order ticket's logic, without widgets: parse what was typed, validate it against
the instrument and the risk gate, and preview the order. Nothing here sends anything.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from decimal import ROUND_CEILING, ROUND_DOWN, Decimal

from pydantic import ValidationError

from ..domain import (
    Balance,
    Capabilities,
    ConnectionState,
    Instrument,
    Order,
    OrderRequest,
    OrderStatus,
    OrderType,
    Quote,
    Side,
    TimeInForce,
    TradingState,
    reduce_limit,
)
from ..domain.money import money_text, quantized
from ..engine.projection import DeskProjection
from ..engine.risk import MULTIPLIER_WORD, RiskGate, RiskViolation
from ..events.summary import price_text, qty_text, short_ref
from . import short_cover
from .fees import FeeRate
from .format import NotANumber, num, parse_decimal
from .model import crossed_text, is_crossed

DEFAULT_FEE_RATE = Decimal("0.001")

# Which ticket field a risk rule is about, so the message appears next to it.
# The ticket field each risk rule is shown against; "" for a rule about the whole
# order (HALTED is not anything the trader typed).
RISK_FIELDS: dict[str, str] = {
    "max_quantity": "quantity",
    "max_notional": "quantity",
    "max_position": "quantity",
    "price_collar": "limit_price",
    "trading_state": "",
    "reduce_only": "",  # the gate names the field (side or quantity)
    "broker_not_live": "account",
    "max_open_orders": "account",
    "order_rate": "account",
    "duplicate_id": "",
    "journal_down": "account",
    "order_path": "account",
}

FIELDS = (
    "instrument",
    "side",
    "order_type",
    "quantity",
    "limit_price",
    "stop_price",
    "tif",
    "account",
)


@dataclass(frozen=True, slots=True)
class Problem:
    field: str  # "" when the problem is with the whole order, not one field
    rule: str
    message: str

    @property
    def label(self) -> str:
        """The field as the ticket names it: its row's label (`Price`, not
        `limit_price`); "" for the whole order."""
        return FIELD_LABELS.get(self.field, self.field)

    @property
    def said(self) -> str:
        """The message without the field's own name in front (the domain and the risk
        gate say `limit_price 150 is 21% from mark`: under the label, `150 is 21%...`)."""
        prefix = f"{self.field} "
        if self.field and self.message.startswith(prefix):
            return self.message[len(prefix) :]
        return self.message

    def __str__(self) -> str:
        where = f"{self.label}: " if self.field else ""
        return f"{where}{self.said} [{self.rule}]"


FIELD_LABELS = {
    "instrument": "Symbol",
    "side": "Side",
    "order_type": "Type",
    "quantity": "Qty",
    "quote_quantity": "Qty",
    "limit_price": "Price",
    "stop_price": "Stop",
    "tif": "TIF",
    "post_only": "Post",
    "account": "Account",
}
"""The ticket's row labels (widgets/ticket.py builds its rows from them): what a problem
is shown against is the label of the row the trader fixes."""


JOURNAL_DOWN = "journal_down"
"""The rule of a live broker's refusal to send what it could not journal first (the
gate's, and the broker's `JournalDown`: brokers/base.py)."""


def journal_down_problem(error_kind: str, error: str) -> Problem | None:
    """A command that failed because a live broker could not journal it before the send
    (`JournalDown`, its message `journal_down: ...`), as the problem the ticket lists:
    on the Account row as the gate's `journal_down`, the message without its
    `journal_down:` (the rule says it). None for any other failure. Nothing was sent:
    it is no venue's rejection, and the order can go again once the journal is back."""
    prefix = f"{JOURNAL_DOWN}:"
    if error_kind != "JournalDown" and not error.startswith(prefix):
        return None
    said = error.removeprefix(prefix).strip() or error
    return Problem(RISK_FIELDS[JOURNAL_DOWN], JOURNAL_DOWN, said)


def risk_problems(
    violations: Iterable[RiskViolation],
    *,
    request: OrderRequest | None = None,
    changed: Iterable[str] | None = None,
) -> list[Problem]:
    """Each broken risk rule against the ticket field it concerns ("" for the order).

    `request`: the order judged. A notional over the limit then says what it is made
    of, `notional ... > max 100,000.00 (Qty x Price)`: both count, and a price typed
    ten times the market breaks it as a quantity does. `changed`: the fields a change
    to a working order touched (the modify dialog); a notional broken by a change of
    the price alone is said on the Price, not on a quantity the trader did not touch."""
    problems = []
    for violation in violations:
        where = violation.field or RISK_FIELDS.get(violation.rule, "")
        message = violation.message
        if violation.rule == "price_collar" and violation.message.startswith("stop_price"):
            where = "stop_price"
        if violation.rule == "max_notional" and not violation.field and request is not None:
            where, message = _notional_problem(message, request, changed)
        problems.append(Problem(where, violation.rule, message))
    return problems


def _notional_problem(
    message: str, request: OrderRequest, changed: Iterable[str] | None
) -> tuple[str, str]:
    """The field a notional over the limit is said on, and the message naming what the
    notional is made of (`notional 6,498,422.00 USDT > max 100,000.00 (Qty x Price)`;
    a future's, of multiplier other than 1, comes from the gate naming its own sum:
    `notional 295,000.00 USD (1 x 5,900.00 x 50 multiplier) > max 100,000.00`)."""
    if request.quote_quantity is not None:  # the amount typed is the notional itself
        return "quantity", message
    if request.order_type is OrderType.MARKET:
        price_field, price_word = "", "mark"
    elif request.limit_price is not None:
        price_field, price_word = "limit_price", FIELD_LABELS["limit_price"]
    elif request.stop_price is not None:
        price_field, price_word = "stop_price", FIELD_LABELS["stop_price"]
    else:
        return "quantity", message
    if message.startswith("notional ") and f" {MULTIPLIER_WORD}) > " not in message:
        # (a future's message names its own sum: `(1 x 5,900.00 x 50 multiplier)`)
        message = f"{message} ({FIELD_LABELS['quantity']} x {price_word})"
    where = "quantity"
    if changed is not None and price_field:
        touched = {name for name in changed if name in ("quantity", price_field)}
        if touched == {price_field}:
            where = price_field
    return where, message


@dataclass(slots=True)
class Draft:
    """The ticket as typed."""

    instrument: str = ""
    side: Side = Side.BUY
    order_type: OrderType = OrderType.LIMIT
    quantity: str = ""
    limit_price: str = ""
    stop_price: str = ""
    tif: TimeInForce = TimeInForce.GTC
    account: str = ""  # "broker/account"
    tag: str = ""
    post_only: bool = False
    # A closing ticket (`x` on a position): it may only reduce the position, so a fill
    # between the prefill and F9 cannot turn the close into a new position the other way.
    reduce_only: bool = False
    # The quantity typed is an amount of the quote currency (a MARKET order at a broker
    # that takes one: `Offer.quote_quantity`).
    by_quote: bool = False


def prefill_price(price: Decimal | None, instrument: Instrument | None) -> Decimal | None:
    """A quote side's price as a ticket prefills it: none for a side priced 0 or below
    (an empty book side: `s` on an empty bid prefilled a sell at 0.00); on the
    instrument's tick when it is a tick's number (Binance sends `3196.86000000`, the
    ticket shows `3196.86`, the same number)."""
    if price is None or price <= 0:
        return None
    if instrument is None or price != instrument.round_price(price):
        return price
    return instrument.round_price(price)


CROSSED_QUOTE = "crossed_quote"
"""The rule of the ticket's warning that the instrument's latest quote is crossed."""


def crossed_prefill_note(quote: Quote | None, instrument: Instrument | None) -> str:
    """What a ticket opened from a crossed quote says beside Send ("" for a quote that
    is not crossed): it prefills no price from it. `b` prefilled a buy at the crossed
    ask (590, under a 610 bid): a price nobody quoted as the market."""
    if quote is None or not is_crossed(quote):
        return ""
    return f"quote crossed ({crossed_text(quote, instrument)}): no price prefilled, type one"


def crossed_warning(
    quote: Quote | None, instrument: Instrument, engine: TicketContext
) -> Problem | None:
    """The ticket's warning while `instrument`'s latest quote is crossed (bid above ask),
    None while it is not. A crossed quote has no mid, so it is not what the collar and
    the preview go by: the mark is its last trade when it carries one (IB's), else the
    mark before it stands (Binance's bookTicker has no last trade), else there is none
    and no price is checked against the market (`Quote.mark`). The warning says which,
    as the engine's gate has it; the collar's own message named the older mark `(mid)`,
    read as the mid of the quote on screen."""
    if quote is None or not is_crossed(quote):
        return None
    key = instrument.key
    mark = engine.last_price(key)
    basis = engine.mark_basis(key)
    if mark is None:
        judged = "no mark yet: no price is checked against the market"
    elif basis == "last trade":
        judged = f"the collar goes by the last trade {instrument.mark_text(mark)}"
    else:
        # A crossed quote gives no mid: a mid is an earlier quote's.
        judged = (
            f"the collar goes by the mark before it, {basis or 'mark'} {instrument.mark_text(mark)}"
        )
    return Problem(
        "", CROSSED_QUOTE, f"quote crossed ({crossed_text(quote, instrument)}): no mid; {judged}"
    )


@dataclass(frozen=True, slots=True)
class Preview:
    notional: Decimal
    currency: str
    # The estimated fee (`fee_rate` of this order); None: not known (an instrument
    # charged per unit that neither it nor one of its kind at the broker has filled).
    fee: Decimal | None
    fee_rate: FeeRate | None
    position_before: Decimal
    position_after: Decimal
    price_basis: str  # "limit", "stop", "mid" or "last trade" (the engine's mark)
    # An order by quote amount: the notional is the amount typed (exact) and the base
    # quantity only an estimate at the mark (the venue sizes it).
    base_estimate: Decimal | None = None
    base_currency: str = ""
    # A margined instrument (a future): the broker whose margin check decides, as the
    # desk cannot know the margin; "" for an order paid in full.
    margin_by: str = ""
    reduce_only: bool = False
    # Orders on the instrument and account sent from the ticket that the journal does
    # not show yet (their short ids): the position before may not be the position now
    # (a buy filled with the bus down read `pos 2->3` over a position of 3).
    not_shown: tuple[str, ...] = ()

    @property
    def position_text(self) -> str:
        """`pos 2->3`, and what it is of while orders sent are not shown yet."""
        approx = "~" if self.base_estimate is not None else ""
        text = f"pos {num(self.position_before)}->{approx}{num(self.position_after)}"
        if not self.not_shown:
            return text
        what = self.not_shown[0] if len(self.not_shown) == 1 else f"{len(self.not_shown)} orders"
        return f"{text} (before {what} sent, not yet shown)"

    @property
    def fee_text(self) -> str:
        return "fee ?" if self.fee is None else f"fee~{num(self.fee, 2)}"

    def text(self) -> str:
        ccy = f" {self.currency}" if self.currency else ""
        basis = "" if self.price_basis == "limit" else f" at {self.price_basis}"
        margin = f" margin: checked by {self.margin_by}" if self.margin_by else ""
        if self.reduce_only:
            margin += " reduce-only"
        if self.base_estimate is not None:
            base = f" {self.base_currency}" if self.base_currency else ""
            return (
                f"{num(self.notional, 2)}{ccy} ~{num(self.base_estimate)}{base}{basis} "
                f"{self.fee_text} {self.position_text}{margin}"
            )
        return f"{num(self.notional, 2)}{ccy}{basis} {self.fee_text} {self.position_text}{margin}"

    def fee_fraction(self, quantity: Decimal | None) -> Decimal:
        """The fee's rate as a fraction of the notional, its minimum aside (0 when not
        known): a per-unit fee over the unit price (`quantity` units for the notional;
        without it, the estimate's own share of this notional)."""
        rate = self.fee_rate
        if rate is None or self.fee is None or self.notional <= 0:
            return Decimal(0)
        if not rate.per_unit:
            return rate.value
        if quantity:
            return rate.value * quantity / self.notional
        return self.fee / self.notional

    @property
    def fee_minimum(self) -> Decimal:
        """The least fee the venue was seen to charge an order (0: none seen, or the
        fee not known)."""
        rate = self.fee_rate
        return rate.minimum if rate is not None and self.fee is not None else Decimal(0)


@dataclass(slots=True)
class Checked:
    request: OrderRequest | None
    instrument: Instrument | None
    problems: list[Problem] = field(default_factory=list)
    preview: Preview | None = None
    # What the trader should know before sending but that does not stop the order (a
    # stop already through the market at a venue that takes it: `stop_through`).
    warnings: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.request is not None and not self.problems

    def fields_in_error(self) -> set[str]:
        return {p.field for p in self.problems}


class TicketContext:
    """What the ticket checks an order against: the projection (orders, positions,
    marks, brokers' states and capabilities), a copy of the risk rules, whether the
    journal takes writes, and whether the session is still starting."""

    def __init__(
        self,
        projection: DeskProjection,
        gate: RiskGate,
        *,
        journal: Callable[[], str] = lambda: "",
        not_ready: Callable[[], str] = lambda: "",
        not_ready_rule: Callable[[], str] = lambda: "starting",
    ) -> None:
        self.projection = projection
        self.rules = gate
        self._journal = journal
        self._not_ready = not_ready
        self._not_ready_rule = not_ready_rule

    @property
    def not_ready(self) -> str:
        return self._not_ready()

    @property
    def not_ready_rule(self) -> str:
        return self._not_ready_rule()

    def rules_check(self, request: OrderRequest) -> list[RiskViolation]:
        """The ticket's copy of the engine's risk rules, alone (a new order's check adds
        the venue's account checks itself: `funds_problems`)."""
        self.rules.state = self.projection.trading_state
        return self.rules.check(request, self)

    def risk_check(self, request: OrderRequest) -> list[RiskViolation]:
        """What a change to a working order is judged by before it is sent (the modify
        dialog, through `modify_violations`, which hands it the order as the change
        leaves it, less what has filled): the risk rules, and the venue's own check
        of a sell on an account that cannot go short (`sellable_problems`, the one
        the ticket applies to a new order). The dialog skipped it: a working SELL 1
        of 2 held, changed to 3, went out and came back `insufficient position`."""
        found = self.rules_check(request)
        if request.side is Side.SELL and not self.can_short(request.broker):
            found += [
                RiskViolation(p.rule, p.message, p.field) for p in sellable_problems(request, self)
            ]
        return found

    def sellable(self, request: OrderRequest) -> tuple[Decimal, Decimal, Decimal]:
        """Of a sell of `request`'s instrument and account: the position, what the other
        working sells hold of it (not the request's own order), and what is left to
        sell (never below 0). The `sellable` and `short_margin` rules start from it."""
        position = self.position(request.broker, request.account, request.instrument)
        reserved = self.working_quantity(
            request.broker,
            request.account,
            request.instrument,
            Side.SELL,
            exclude=request.client_order_id,
        )
        return position, reserved, max(position - reserved, Decimal(0))

    def can_short(self, broker: str) -> bool:
        """Whether a sell may exceed the position: the broker's capabilities (a spot
        account cannot; paper as its `checks.short_selling` says). An unknown broker is
        assumed to, so the desk never refuses what the venue would accept."""
        capabilities = self.projection.capabilities(broker)
        return capabilities.short_selling if capabilities is not None else True

    # RiskContext
    def last_price(self, instrument: str) -> Decimal | None:
        return self.projection.last_price(instrument)

    def mark_basis(self, instrument: str) -> str:
        return self.projection.mark_basis(instrument)

    def working_quantity(
        self, broker: str, account: str, instrument: str, side: Side, exclude: str = ""
    ) -> Decimal:
        return self.projection.working_quantity(broker, account, instrument, side, exclude)

    def owed_quantity(
        self, broker: str, account: str, instrument: str, side: Side, exclude: str = ""
    ) -> Decimal:
        return self.projection.owed_quantity(broker, account, instrument, side, exclude)

    def live_money(self, broker: str) -> bool:
        return self.projection.live_money(broker)

    def journal_problem(self) -> str:
        return self._journal()

    def open_orders(self, broker: str) -> int:
        return self.projection.open_orders(broker)

    def position(self, broker: str, account: str, instrument: str) -> Decimal:
        return self.projection.position(broker, account, instrument)

    def broker_state(self, broker: str) -> ConnectionState:
        return self.projection.broker_state(broker)

    def instrument(self, broker: str, key: str) -> Instrument | None:
        return self.projection.instrument(broker, key)

    def capabilities(self, broker: str) -> Capabilities | None:
        return self.projection.capabilities(broker)

    def order_path_down(self, broker: str) -> str:
        return self.projection.order_path_down(broker)


def resolve_instrument(engine: DeskProjection, broker: str, text: str) -> Instrument | None:
    """`BTCUSDT.PAPER`, or just `btcusdt` when one instrument of the broker has it."""
    key = text.strip()
    if not key:
        return None
    found = engine.instrument(broker, key) or engine.instrument(broker, key.upper())
    if found is not None:
        return found
    symbol = key.upper()
    matches = [i for i in engine.instruments.get(broker, {}).values() if i.symbol == symbol]
    return matches[0] if len(matches) == 1 else None


@dataclass(frozen=True, slots=True)
class Offer:
    """What the ticket offers for one broker: its order types, the time in force each
    takes, and whether it has post-only orders."""

    order_types: list[OrderType]
    tifs: dict[OrderType, list[TimeInForce]]
    post_only: bool
    # MARKET orders for an amount of the quote currency.
    quote_quantity: bool = False


def offer(engine: DeskProjection, broker: str) -> Offer:
    """The choices for `broker` from its capabilities (everything for an unknown one)."""
    caps = engine.capabilities(broker) or Capabilities()
    types = [t for t in OrderType if t in caps.order_types] or list(OrderType)
    return Offer(
        types, {t: caps.tifs_for(t) for t in types}, caps.post_only, caps.quote_quantity_market
    )


def amount_text(request: OrderRequest, instrument: Instrument | None) -> str:
    """What the order trades, as sent: `0.5`, or `500 USDT` for an amount of the quote
    currency."""
    if request.quote_quantity is not None:
        ccy = f" {instrument.quote_currency}" if instrument and instrument.quote_currency else ""
        return f"{num(request.quote_quantity)}{ccy}"
    return num(request.quantity)


def order_text(request: OrderRequest, instrument: Instrument | None) -> str:
    """The whole order as it goes out, for a confirmation: `BUY 5 ETHUSDT.PAPER LIMIT @
    3,400.00 GTC` (stop, post-only when set); prices as the desk prints them."""

    def price(value: Decimal) -> str:
        return instrument.price_text(value) if instrument is not None else num(value)

    parts = [str(request.side), amount_text(request, instrument), request.instrument]
    parts.append(str(request.order_type))
    if request.limit_price is not None:
        parts.append(f"@ {price(request.limit_price)}")
    if request.stop_price is not None:
        parts.append(f"stop {price(request.stop_price)}")
    parts.append(str(request.tif))
    if request.post_only:
        parts.append("post-only")
    return " ".join(parts)


STOP_THROUGH = "stop_through"
"""The rule of a stop (or take-profit) already through the market as it is sent."""

POST_ONLY_TAKES = "post_only_takes"
"""The rule of a post-only limit at or through the far side of the market as it is sent."""


def post_only_takes(
    request: OrderRequest, instrument: Instrument, quote: Quote | None, *, anew: bool = False
) -> Problem | None:
    """The warning of a post-only limit that would take as it arrives: a buy at or above
    the ask, a sell at or below the bid. A post-only order only rests, so its venue
    rejects it (Binance's LIMIT_MAKER: -2010 "Order would immediately match and take")
    unless the market moves first: a warning, not a refusal (the quote is the desk's
    last, and may be behind). None: not post-only, no such side known, or the quote is
    crossed (its sides are no market to judge it by: `crossed_warning` says so). The
    ticket said nothing and the venue's rejection was the first word of it (the
    Binance drill). `anew`: a change of a working order that the venue makes by
    cancelling it and placing it anew (`_changed_post_only`)."""
    price = request.limit_price
    if not request.post_only or price is None or quote is None or is_crossed(quote):
        return None
    buy = request.side is Side.BUY
    far = quote.ask if buy else quote.bid
    if far is None or far <= 0 or not request.side.takes(price, far):
        return None
    basis = "ask" if buy else "bid"
    venue = request.broker
    then = (
        f"a change at {venue} cancels the order and places it anew, which {venue} would "
        "refuse, and nothing would be working; price it to rest, or cancel it and place "
        "a LIMIT without post-only"
        if anew
        else f"{venue} rejects it unless the {basis} moves first"
    )
    return Problem(
        "limit_price",
        POST_ONLY_TAKES,
        f"a post-only {'buy' if buy else 'sell'} at {instrument.price_text(price)} takes at "
        f"the {basis} {instrument.price_text(far)} now: {then}",
    )


@dataclass(frozen=True, slots=True)
class Through:
    """A stop's trigger already reached by the market: the price that reaches it and
    what that price is (`ask`, `bid`, `last trade`, or the mark's basis)."""

    price: Decimal
    basis: str


def _reaches(request: OrderRequest, price: Decimal) -> bool:
    """Whether the market at `price` has reached `request`'s stop (a buy stop or a sell
    take-profit at or below it, a sell stop or a buy take-profit at or above it)."""
    assert request.stop_price is not None
    return request.order_type.stop_reached(request.side, request.stop_price, price)


def stop_through(
    request: OrderRequest, quote: Quote | None, mark: Decimal | None, mark_basis: str = "mark"
) -> Through | None:
    """Where `request`'s stop would trigger the moment it arrives, as the paper venue
    judges it: on the side that would execute it (a buy on the ask, a sell on the bid),
    else, without that side, on the mark (a buy stop at or below the mid is below the
    ask too: never said through when the side would not be). None: it waits, it has no
    stop, or no price is known; or the quote is crossed (`is_crossed`: the bid above
    the ask), whose sides are no market to judge it by (the paper venue triggers nothing
    on a crossed book, and the mark is no price of now), which `stop_through_said`
    says instead of a side reaching it (a buy stop was said through on a crossed ask
    under the bid)."""
    if not request.order_type.has_stop_price or request.stop_price is None:
        return None
    if quote is not None and is_crossed(quote):
        return None
    side = None if quote is None else quote.ask if request.side is Side.BUY else quote.bid
    if side is not None and side > 0:
        basis = "ask" if request.side is Side.BUY else "bid"
        return Through(side, basis) if _reaches(request, side) else None
    if mark is not None and mark > 0 and _reaches(request, mark):
        return Through(mark, mark_basis or "mark")
    return None


def stop_through_said(
    request: OrderRequest,
    instrument: Instrument,
    quote: Quote | None,
    through: Through | None,
    refused_by: str | None = None,
) -> tuple[Problem | None, Problem | None]:
    """(refusal, warning) for a stop the market has already reached (`through`, from
    `stop_through`). Refused where the venue refuses it (`refused_by`, the broker whose
    capabilities say `stop_through_refused`: Binance spot; judged on its last trade
    when the quote has one, else on the quote's far side, `_far_side`, and only
    warned of when the near side alone has reached it). The paper venue triggers one at once
    on its best bid/ask (docs/paper-simulator.md, Stops), as TWS does. Where the venue's
    last trade has not reached it but the side has, a warning that it may trigger at
    once; elsewhere a warning of what it does at once. (None, None) for a stop that
    waits.

    A crossed quote (the bid above the ask) judges nothing: its sides are no market
    (`stop_through` gives no `through` from them, nor `_far_side` a far side). The
    warning then says the quote is crossed and what is not known (`_crossed_stop`);
    where the venue judges the stop on its last trade and the quote carries one, the
    refusal is that trade's, as with any quote."""
    kind = request.order_type
    if not kind.has_stop_price or request.stop_price is None:
        return None, None
    crossed = quote is not None and is_crossed(quote)
    if crossed:
        through = None  # (a crossed side is no price to judge it by)
    what = "take-profit" if kind in (OrderType.TAKE_PROFIT, OrderType.TAKE_PROFIT_LIMIT) else "stop"
    rising = kind.triggers_rising(request.side)
    where = "at or below" if rising else "at or above"
    side = str(request.side).lower()

    def said(at: Through) -> str:
        price = instrument.price_text(at.price)
        return f"a {side} {what} {where} the market ({at.basis} {price}) triggers at once"

    venue = refused_by
    if venue is not None:
        last = quote.last if quote is not None and quote.last and quote.last > 0 else None
        judged = through if last is None else Through(last, "last trade")
        far = _far_side(request, quote) if last is None else None
        if far is not None:
            # No last trade known here: the venue's is between the bid and the ask. Only
            # the far side reaching the stop says the venue refuses it (judged on the
            # side that would trade it, a sell stop a tick above the bid was refused
            # here that Binance, its last trade above the stop, took); the near side
            # alone is a warning, below.
            judged = far if _reaches(request, far.price) else None
        if judged is not None and _reaches(request, judged.price):
            beyond = "above" if rising else "below"
            return (
                Problem(
                    "stop_price",
                    STOP_THROUGH,
                    f"{said(judged)}, which {venue} refuses: a {side} {what} goes {beyond} "
                    f"{instrument.price_text(judged.price)}",
                ),
                None,
            )
        if crossed:
            assert quote is not None
            return None, _crossed_stop(request, instrument, quote, what, venue, last)
        if through is None:
            return None, None
        if last is None:
            return None, Problem(
                "stop_price",
                STOP_THROUGH,
                f"the {through.basis} {instrument.price_text(through.price)} is already past "
                f"this {side} {what}: {venue} judges it on its last trade, not known here: "
                "it may refuse it, or trigger it on a trade there at once",
            )
        # The side has reached it, not the last trade the venue judges it on: it waits
        # for a trade there, which may come at once.
        return None, Problem(
            "stop_price",
            STOP_THROUGH,
            f"the {through.basis} {instrument.price_text(through.price)} is already past "
            f"this {side} {what}: {venue} triggers it on a trade there (last "
            f"{instrument.price_text(last)}), which may come at once",
        )
    if crossed:
        assert quote is not None
        return None, _crossed_stop(request, instrument, quote, what)
    if through is None:
        return None, None
    if kind.market_on_trigger:
        now = f"it {'buys' if request.side is Side.BUY else 'sells'} at the market now"
    else:
        assert request.limit_price is not None
        now = f"it works as a limit at {instrument.price_text(request.limit_price)} now"
    return None, Problem("stop_price", STOP_THROUGH, f"{said(through)}: {now}")


def _crossed_stop(
    request: OrderRequest,
    instrument: Instrument,
    quote: Quote,
    what: str,
    venue: str | None = None,
    last: Decimal | None = None,
) -> Problem:
    """The warning of a stop checked against a crossed quote (`stop_through_said`): the
    quote is crossed, in the ticket's words (`crossed_text`), and nothing is judged on
    its sides; what that leaves: where `venue` judges the stop on its last trade, that
    trade (`last`, one that has not reached it) or that it is not known here."""
    side = str(request.side).lower()
    crossed = f"quote crossed ({crossed_text(quote, instrument)})"
    if venue is not None and last is not None:
        said = (
            f"{crossed}: no market to judge this {side} {what} by; {venue} judges it on "
            f"its last trade, {instrument.price_text(last)}, which has not reached it"
        )
    elif venue is not None:
        said = (
            f"{crossed}: no market to judge this {side} {what} by; {venue} judges it on "
            "its last trade, not known here: it may refuse it, or trigger it on a trade "
            "there at once"
        )
    else:
        said = (
            f"{crossed}: no market to judge this {side} {what} by: whether it triggers at "
            "once is not known"
        )
    return Problem("stop_price", STOP_THROUGH, said)


def _far_side(request: OrderRequest, quote: Quote | None) -> Through | None:
    """The side of the quote every trade is past for `request`'s trigger: the bid for
    one that triggers rising (a buy stop, a sell take-profit), the ask for one that
    triggers falling. A trade happens between the two, so a stop that side reaches,
    every trade reaches. None without both sides, or with the quote crossed (`is_crossed`:
    no trade is between a bid above the ask; its far side refused a stop the venue
    took)."""
    if quote is None or not quote.bid or not quote.ask or quote.bid <= 0 or quote.ask <= 0:
        return None
    if is_crossed(quote):
        return None
    if request.order_type.triggers_rising(request.side):
        return Through(quote.bid, "bid")
    return Through(quote.ask, "ask")


def known_instruments(engine: DeskProjection) -> list[str]:
    return sorted({key for found in engine.instruments.values() for key in found})


def check(
    draft: Draft,
    engine: TicketContext,
    *,
    client_order_id: str,
    fee_rate: Callable[[str, str], FeeRate | None] = lambda broker, instrument: FeeRate(
        DEFAULT_FEE_RATE
    ),
    can_short: bool = True,
    quote: Callable[[str], Quote | None] = lambda instrument: None,
    leverage: Callable[[str], Decimal] = lambda broker: Decimal(1),
) -> Checked:
    """`fee_rate(broker, instrument key)`: what the preview estimates the fee at (a
    rate of the notional or a fee per unit; None: not known). `leverage(broker)`: what
    the account's buying power is equity times (the paper venue's `checks.leverage`;
    1 elsewhere): a fee, out of equity, takes that many times itself. `quote(instrument key)`:
    its latest quote (None: none), against which a stop already through the market
    is said (`stop_through`): a warning, or a refusal where the venue refuses it; the
    preview prices a STOP or TAKE_PROFIT through the market at the market, not at its
    stop (a buy STOP 0.1 stop 64,000 with the ask at 65,000 read `6,400.00 USDT at stop`
    and filled at once at 64,997.82).

    Every rule the order breaks is listed, whatever else is wrong: what the desk or
    the broker refuses (the session not ready, the kill switch, an order path down)
    is said with what was typed wrong (a Price left empty, a notional under the
    venue's minimum), so that mending one never ends in the other's refusal. In
    `ranked` order: what blocks the most first."""
    desk: list[Problem] = []  # nothing typed mends these
    problems: list[Problem] = []
    if engine.not_ready:  # recovering or reconciling, or sending stopped: nothing is sent
        desk.append(Problem("account", engine.not_ready_rule, engine.not_ready))
    broker, _, account = draft.account.partition("/")
    down = engine.order_path_down(broker) if broker else ""
    if down:
        desk.append(
            Problem(
                "account",
                "order_path",
                f"orders cannot go out now ({down}); send the order again once "
                f"{draft.account} is LIVE in the health pane",
            )
        )
    if not broker or not account:
        problems.append(Problem("account", "required", "choose a broker and account"))
    view = engine.projection
    instrument = resolve_instrument(view, broker, draft.instrument) if broker else None
    if instrument is None:
        if draft.instrument.strip():
            known = ", ".join(sorted(view.instruments.get(broker, {}))) or "none loaded"
            problems.append(
                Problem(
                    "instrument",
                    "unknown",
                    f"{draft.instrument.strip()} is not traded at {broker or '?'} ({known})",
                )
            )
        else:
            problems.append(Problem("instrument", "required", "type a symbol"))

    quantity = _number(draft.quantity, "quantity", problems, required=True)
    limit = _number(
        draft.limit_price, "limit_price", problems, required=draft.order_type.has_limit_price
    )
    stop = _number(
        draft.stop_price, "stop_price", problems, required=draft.order_type.has_stop_price
    )
    if not draft.order_type.has_limit_price:
        limit = None
    if not draft.order_type.has_stop_price:
        stop = None
    if problems or instrument is None or quantity is None:
        if instrument is not None:
            problems += _grid_problems(draft, instrument, quantity, limit, stop)
        return _not_an_order(draft, engine, instrument, desk, problems, quote)

    try:
        request = OrderRequest(
            client_order_id=client_order_id,
            broker=broker,
            account=account,
            instrument=instrument.key,
            side=draft.side,
            order_type=draft.order_type,
            quantity=None if draft.by_quote else quantity,
            quote_quantity=quantity if draft.by_quote else None,
            limit_price=limit,
            stop_price=stop,
            tif=draft.tif,
            tag=draft.tag,
            post_only=draft.post_only,
            reduce_only=draft.reduce_only,
        )
    except ValidationError as exc:
        for err in exc.errors(include_input=False):
            where = str(err["loc"][0]) if err["loc"] else ""
            problems.append(Problem(where, str(err["type"]), str(err["msg"])))
        return _not_an_order(draft, engine, instrument, desk, problems, quote)

    market = engine.last_price(instrument.key)
    for issue in request.issues(instrument, market_price=market):
        problems.append(Problem(issue.field, issue.rule, issue.message))
    found = risk_problems(engine.rules_check(request), request=request)
    problems.extend(_beside(desk, _reduce_ahead(found, request, engine, instrument)))
    latest = quote(instrument.key)
    through = stop_through(request, latest, market, engine.mark_basis(instrument.key))
    caps = engine.capabilities(broker)
    refused_by = broker if caps is not None and caps.stop_through_refused else None
    refused, warned = stop_through_said(request, instrument, latest, through, refused_by)
    if refused is not None:
        problems.append(refused)
    preview = _preview(
        request, instrument, engine, market, fee_rate(broker, instrument.key), through, latest
    )
    times = leverage(broker)
    problems.extend(
        funds_problems(request, instrument, engine, preview, can_short=can_short, leverage=times)
    )
    problems.extend(
        short_margin_problems(request, instrument, engine, preview, latest, leverage=times)
    )
    warnings = [warned] if warned is not None else []
    takes = post_only_takes(request, instrument, latest)
    if takes is not None:
        warnings.append(takes)
    warnings += _crossed(quote, instrument, engine)
    return Checked(request, instrument, ranked(desk + problems, engine), preview, warnings)


def _crossed(
    quote: Callable[[str], Quote | None], instrument: Instrument | None, engine: TicketContext
) -> list[Problem]:
    """The ticket's warning of a crossed quote (`crossed_warning`), said whatever else is
    wrong: a ticket prefilled from one has no price yet."""
    if instrument is None:
        return []
    found = crossed_warning(quote(instrument.key), instrument, engine)
    return [found] if found is not None else []


DESK_RULES = ("trading_state", "journal_down", "order_path", "broker_not_live")
"""The rules about the desk and the broker, not about anything typed on the ticket, in
the order they block: the kill switch (nothing goes anywhere until it is resumed), the
journal of a live broker, then the broker's own path. (The session not ready, its rule
`TicketContext.not_ready_rule`, comes before them all: the engine refuses it first.)"""


def ranked(problems: Iterable[Problem], engine: TicketContext | None = None) -> list[Problem]:
    """`problems` in a stable order, what blocks the most first: the session not ready
    (`engine.not_ready`, refused before any rule is read), then `DESK_RULES` in their
    order (a trading state said of the order as a whole; REDUCE_ONLY on the Side or Qty
    is about what was typed), then the rest on the Account row, then the rest as
    found (what was typed, the domain's rules, the risk rules, the venue's funds)."""
    first = engine.not_ready_rule if engine is not None and engine.not_ready else None

    def rank(problem: Problem) -> tuple[int, int]:
        if problem.rule == first and problem.field == "account":
            return (0, 0)
        if problem.rule in DESK_RULES and (problem.rule != "trading_state" or not problem.field):
            return (1, DESK_RULES.index(problem.rule))
        if problem.field == "account":
            return (2, 0)
        return (3, 0)

    return sorted(problems, key=rank)  # stable: within a rank, as found


def _beside(desk: list[Problem], found: list[Problem]) -> list[Problem]:
    """The risk gate's `found`, less what `desk` says already: a broker not LIVE when
    the order path already says which link is down (one cause, said once)."""
    if any(p.rule == "order_path" for p in desk):
        found = [p for p in found if p.rule != "broker_not_live"]
    return [p for p in found if p not in desk]


def _grid_problems(
    draft: Draft,
    instrument: Instrument,
    quantity: Decimal | None,
    limit: Decimal | None,
    stop: Decimal | None,
) -> list[Problem]:
    """The instrument's grid rules of each field typed that reads as a number, for a
    ticket whose fields do not make an order yet (a Stop left empty): NOT SENT lists
    every rule broken, and a Qty of 1.5 on a lot of 1 was said only once the Stop was
    filled in (`NOT SENT: 1 problem / Stop: required`: a trader's review). Only rules of
    the field alone: a notional needs the whole order."""
    issues = []
    if quantity is not None and not draft.by_quote:
        issues += instrument.check_qty(quantity, market=draft.order_type is OrderType.MARKET)
    if limit is not None:
        issues += instrument.check_price(limit, "limit_price")
    if stop is not None:
        issues += instrument.check_price(stop, "stop_price")
    return [Problem(i.field, i.rule, i.message) for i in issues]


def _not_an_order(
    draft: Draft,
    engine: TicketContext,
    instrument: Instrument | None,
    desk: list[Problem],
    problems: list[Problem],
    quote: Callable[[str], Quote | None],
) -> Checked:
    """`check`'s answer for fields that do not make an order: every problem, the
    desk's and the broker's rules among them (`_desk_problems`), and what a crossed
    quote leaves the collar to go by."""
    desk += _desk_problems(draft, engine, instrument, desk)
    return Checked(
        None,
        instrument,
        ranked(desk + problems, engine),
        None,
        _crossed(quote, instrument, engine),
    )


def _desk_problems(
    draft: Draft, engine: TicketContext, instrument: Instrument | None, desk: list[Problem]
) -> list[Problem]:
    """The risk gate's rules about the desk and the broker (`DESK_RULES`: the kill
    switch, a live broker's journal, the broker not LIVE), for a ticket whose fields do
    not make an order yet: they hold whatever is typed, and a Price filled in would
    still be refused by them (HALTED read `NOT SENT: 1 problem / Price: required`).
    Judged by the gate itself, on the order as typed with a placeholder (1) for what
    does not parse; only these rules are kept, none of the placeholder's own."""
    broker, _, account = draft.account.partition("/")
    halted = engine.projection.trading_state is TradingState.HALTED
    chosen = bool(broker and account)  # else only the kill switch is of any broker
    if not chosen and not halted:
        return []
    one = Decimal(1)
    try:
        probe = OrderRequest(
            broker=broker or "?",
            account=account or "?",
            instrument=instrument.key if instrument is not None else "???",
            side=draft.side,
            order_type=draft.order_type,
            quantity=one,
            limit_price=one if draft.order_type.has_limit_price else None,
            stop_price=one if draft.order_type.has_stop_price else None,
            tif=draft.tif,
        )
    except ValidationError:
        return []
    kept = [
        p
        for p in risk_problems(engine.rules_check(probe))
        if (chosen and p.rule in ("journal_down", "broker_not_live"))
        or (p.rule == "trading_state" and halted and not p.field)
    ]
    return _beside(desk, kept)


def funds_problems(
    request: OrderRequest,
    instrument: Instrument,
    engine: TicketContext,
    preview: Preview | None,
    *,
    can_short: bool,
    leverage: Decimal = Decimal(1),
) -> list[Problem]:
    """What the venue's account check would refuse, said before anything is sent.

    A buy needs the quote currency's available balance (the venue's own figure: what
    working orders reserve, and the paper venue's shorts hold back, is already out of
    it) to cover the notional plus the fee (`leverage` times: the paper venue's fee
    comes out of equity, which the leverage multiplies). Over a short at a venue that
    margins one against the available balance (the paper venue: `Capabilities.
    short_margin`) it is judged as that venue judges it (`short_cover`): the working
    buys take their share of what covering gives back first, then this buy; a market
    buy covers first, and the resting buys then lock what it took. Elsewhere the part
    that buys back a short is not judged (covering gives back what it holds back).
    A buy of a margined instrument (a future: `Instrument.margined`) is not a cash
    purchase of its notional: the margin it needs is the venue's to work out, so it is
    not judged here (the preview says so), and the venue's refusal (IB's 201) is the
    check. A sell on an account that cannot short needs the position less what
    working sells already reserve; a short is margined at the venue and not judged
    here. A broker that reported no balances at all is not judged either: the venue's
    answer is then the check.
    """
    if request.side is Side.BUY:
        if instrument.margined:
            return []
        return _buying_power(request, instrument, engine, preview, leverage=leverage)
    if can_short:
        return []
    return sellable_problems(request, engine)


def affordable(available: Decimal, fraction: Decimal, minimum: Decimal) -> Decimal:
    """The largest notional `available` pays with its fee, `max(fraction x notional,
    minimum)`: at the rate (`available / (1 + fraction)`) and at least the minimum
    (`available - minimum`), whichever allows less; 0 when nothing is. (By the rate
    alone, a fee at its minimum let the ticket's "at most" name a size it refused.)"""
    left = max(available, Decimal(0))
    return max(min(left / (1 + fraction), left - minimum), Decimal(0))


def _buying_power(
    request: OrderRequest,
    instrument: Instrument,
    engine: TicketContext,
    preview: Preview | None,
    *,
    frees: Decimal = Decimal(0),
    filled: Decimal | None = None,
    leverage: Decimal = Decimal(1),
) -> list[Problem]:
    """`frees`, `filled`: of a change to a working buy (`change_problems`; None: a new
    order), what the order holds that the change frees (`held_by_order`, on top of the
    available balance) and what it has filled (`request` is what the change leaves to
    buy: its "at most" is said as the order's quantity). `leverage`: the fee is asked
    that many times (`funds_problems`). Over a paper short, what the buy takes and what
    the order holds are the venue's reservations of the buys (`_cover_share`)."""
    balances = engine.projection.balances
    if preview is None or not any(
        b == request.broker and a == request.account for b, a, _ in balances
    ):
        return []
    currency = instrument.quote_currency
    found = balances.get((request.broker, request.account, currency))
    available = found.available if found is not None else Decimal(0)
    fee = preview.fee if preview.fee is not None else Decimal(0)
    need = preview.notional + leverage * fee
    fraction = preview.fee_fraction(request.quantity)
    covering = _cover_share(request, instrument, engine, preview, leverage)
    covered = Decimal(0)
    if covering is not None:
        assert request.quantity is not None
        share = covering[1](request.quantity)
        # The venue refuses only what takes more than there is: one that gives back
        # is taken in a deficit too (it was refused, `need -299.02 USDT, available
        # -708.4044`).
        if share.more <= max(available, Decimal(0)):
            return []
        need, frees = share.need, share.holds
    else:
        # The part that buys back a short is not judged: the venue's available holds
        # back the short's proceeds and margin, which covering gives back.
        held = engine.position(request.broker, request.account, request.instrument)
        covered = min(-held, request.quantity) if held < 0 and request.quantity else Decimal(0)
        if covered:
            assert request.quantity is not None
            need = need * (request.quantity - covered) / request.quantity
        if need <= available + frees:
            return []
    fee_said = "fee not known yet" if preview.fee is None else f"fee ~{num(fee, 2)}"
    if leverage != 1:
        fee_said = f"{num(leverage)} x {fee_said}"
    if covering is not None:
        back = preview.notional + leverage * fee - need
        fee_said += _give_back_said(back, market=request.order_type is OrderType.MARKET)
    # What is there as the Balances pane says it (never rounded up: 1,000.996 read
    # `available 1,001.00` beside `need 1,001.00`), what is needed rounded up: the need
    # reads above what is available, as it is.
    available_text = money_text(available)
    need_text = num(quantized(need, Decimal("0.01"), ROUND_CEILING), 2)
    if request.quantity is None:  # an amount of the quote currency
        most_quote = affordable(
            available, leverage * preview.fee_fraction(None), leverage * preview.fee_minimum
        )
        step = instrument.quote_step or Decimal("0.01")
        most_text = f"{num(quantized(most_quote, step, ROUND_DOWN))} {currency} with the fee"
        tail = _or_deficit(f"at most {most_text}", not most_quote, found, currency)
        return [
            Problem(
                "quantity",
                "buying_power",
                f"need {need_text} {currency} ({num(preview.notional, 2)} + {fee_said}), "
                f"available {available_text} {currency}: {tail}",
            )
        ]
    price = preview.notional / request.quantity if request.quantity else Decimal(0)
    if covering is not None:
        book, share_at = covering
        fits = max(available, Decimal(0))  # (as the venue: see above)
        most = short_cover.most_fitting(book, share_at, fits, price, instrument.lot_size)
    else:
        spend = affordable(available + frees, leverage * fraction, leverage * preview.fee_minimum)
        most = covered + (instrument.round_qty(spend / price) if price else Decimal(0))
    if filled is not None:  # a change: what the order frees counts, its fills do not
        frees_text = f" + {money_text(frees)} the order holds" if frees else ""
        at_most = f"qty at most {num(filled + most)} at {preview.price_basis} price"
        return [
            Problem(
                "quantity",
                "buying_power",
                f"need {need_text} {currency} (notional {num(preview.notional, 2)} + "
                f"{fee_said}), available {available_text} {currency}{frees_text}: "
                f"{_or_deficit(at_most, not most, found, currency)}",
            )
        ]
    at_most = f"at most {num(most)} at {preview.price_basis} price"
    return [
        Problem(
            "quantity",
            "buying_power",
            f"need {need_text} {currency} (notional {num(preview.notional, 2)} + "
            f"{fee_said}), available {available_text} {currency}: "
            f"{_or_deficit(at_most, not most, found, currency)}",
        )
    ]


def deficit_said(balance: Balance | None, currency: str) -> str:
    """What a refusal for buying power adds when the available balance is below zero
    (a deficit: the paper venue with leverage, after a sale of a long below its cost),
    as the venue's refusal says it (`DEFICIT_REASON`), with what cancelling the working
    orders frees; "" when it is not below zero. It read `available -106.6044 USDT: at
    most 0`, with no word of why nor of what to do."""
    if balance is None or balance.available >= 0:
        return ""
    said = (
        "the account is in deficit: until it is back above zero only orders that need "
        "no buying power are taken (sales of a long, buys that cover a short)"
    )
    if balance.locked > 0:
        said += (
            f"; cancelling working orders frees the {money_text(balance.locked)} "
            f"{currency} they lock"
        )
    return said


def _or_deficit(at_most: str, nothing: bool, balance: Balance | None, currency: str) -> str:
    """A refusal's `at most`, with the deficit said after it (`deficit_said`), or in its
    place when nothing fits."""
    deficit = deficit_said(balance, currency)
    if not deficit:
        return at_most
    return deficit if nothing else f"{at_most}; {deficit}"


def _cover_share(
    request: OrderRequest,
    instrument: Instrument,
    engine: TicketContext,
    preview: Preview,
    leverage: Decimal,
) -> tuple[short_cover.Book, Callable[[Decimal], short_cover.Share]] | None:
    """Of a buy over a short at a venue that margins a short against the available
    balance (`Capabilities.short_margin`: the paper venue), what the buy takes of it
    for a quantity, as the venue reserves the working buys (`short_cover`): the last of
    them, at its limit (a STOP at its stop), after their share of what covering gives
    back; a market buy at the preview's price, covering first. None: no such short."""
    quantity = request.quantity
    caps = engine.capabilities(request.broker)
    if quantity is None or caps is None or caps.short_margin is None:
        return None
    rate = preview.fee_fraction(quantity)
    book = short_cover.book_of(
        engine.projection,
        request.broker,
        request.account,
        instrument,
        rate=rate,
        leverage=leverage,
    )
    if book is None:
        return None
    if request.order_type is OrderType.MARKET:
        unit = preview.notional / quantity
        known = preview.fee_rate if preview.fee is not None else None

        def market(qty: Decimal) -> short_cover.Share:
            notional = qty * unit
            fee = known.fee(qty, notional) if known is not None else Decimal(0)
            return short_cover.market_share(book, qty, notional, fee)

        return book, market
    ref = request.limit_price if request.order_type.has_limit_price else request.stop_price
    if ref is None:
        return None

    def resting(qty: Decimal) -> short_cover.Share:
        new = short_cover.buy_at(qty, ref, instrument, rate=rate, leverage=leverage)
        return short_cover.resting_share(book, new, request.client_order_id)

    return book, resting


def _give_back_said(back: Decimal, *, market: bool) -> str:
    """What covering the short gives back to a buy, as its need says it."""
    if market:
        if back > 0:
            return (
                f", less {num(back, 2)} covering the short gives back, net of what the "
                "resting buys then lock more"
            )
        return f", + {num(-back, 2)} the resting buys then lock more than covering gives back"
    if back > 0:
        return (
            f", less {num(back, 2)} of what covering the short gives back, after the "
            "working buys' share"
        )
    if back < 0:
        return f", + {num(-back, 2)} the working buys lock more at its price"
    return ", nothing of what covering the short gives back left after the working buys' share"


def sellable_problems(request: OrderRequest, engine: TicketContext) -> list[Problem]:
    """A sell on an account that cannot go short: more than the position less what the
    account's other working sells reserve is refused (the venue's own check, said
    before anything is sent). One rule for a new order (the ticket) and for a change
    to a working one (the modify dialog, `TicketContext.risk_check`): `request` is then
    the order as the change leaves it, less what has filled, under its own id, and
    its own working quantity is not counted as reserved."""
    order = engine.projection.order(request.client_order_id)
    filled = order.order.filled_qty if order is not None else Decimal(0)
    position, reserved, sellable = engine.sellable(request)
    # An amount of the quote currency sells about this much at the mark.
    quantity = request.base_quantity(engine.last_price(request.instrument))
    if quantity is None or quantity <= sellable:
        return []
    about = "about " if request.quantity is None else ""
    held = f" ({num(reserved)} already in working sells)" if reserved else ""
    if filled:  # a change to a part-filled order: what it leaves to sell
        what = f"sell {num(quantity)} more ({num(filled)} filled)"
        most = f"qty at most {num(filled + sellable)}"
    else:
        what, most = f"sell {about}{num(quantity)}", f"at most {num(sellable)}"
    return [
        Problem(
            "quantity",
            "sellable",
            f"{what} but position {num(position)}{held} and this account cannot go short: {most}",
        )
    ]


AHEAD_NAMED = 3
"""How many of the working orders ahead a problem names (`ahead_said`); the rest are
counted."""


def working_ahead(request: OrderRequest, engine: TicketContext) -> list[Order]:
    """The orders on `request`'s side of its instrument and account that the gate and
    `TicketContext.sellable` count as working (those whose fills are owed too), oldest
    first, but `request`'s own: what holds the position before it."""
    views = engine.projection.exposed(
        request.broker, request.account, request.instrument, request.side, request.client_order_id
    )
    return [v.order for v in views]


def held_text(order: Order, instrument: Instrument | None) -> str:
    """A working order as a problem names it, with what it holds of the position (what
    is left of it to fill) and its terms in force: `SELL 1.6 @ 3,650.00 (…m65f)`."""
    parts = [str(order.request.side), qty_text(order.leaves_qty + order.owed_qty, instrument)]
    if order.limit_price is not None:
        parts.append(f"@ {price_text(order.limit_price, instrument)}")
    if order.stop_price is not None:
        parts.append(f"stop {price_text(order.stop_price, instrument)}")
    parts.append(short_ref(order.client_order_id))
    return " ".join(parts)


def _named(orders: list[Order], instrument: Instrument | None) -> str:
    """`orders` as a problem names them: the first `AHEAD_NAMED`, the rest counted."""
    named = [held_text(o, instrument) for o in orders[:AHEAD_NAMED]]
    if len(orders) > AHEAD_NAMED:
        named.append(f"{len(orders) - AHEAD_NAMED} more")
    return named[0] if len(named) == 1 else f"{', '.join(named[:-1])} and {named[-1]}"


def ahead_said(
    orders: list[Order], instrument: Instrument | None, amount: Decimal, then: str = ""
) -> str:
    """What to do when the working `orders` on a side hold the position an order would
    close: `the working SELL 1.6 @ 3,650.00 (…m65f) holds the position: cancel it or
    reduce it by 0.5 first` (`amount`: by how much; all they hold: `cancel it first`),
    `then` after it. A trader read only `position 1.6, 1.6 in working sells` and was
    not told that the take-profit resting was what stood in the way, nor what to do.

    An order among them the venue said FILLED whose fill has not arrived
    (`Order.owed_qty`: TWS's Filled ahead of its execution) holds the position as
    much, but cannot be cancelled: it is said apart, `the FILLED SELL 5 @ 151.00
    (…quki) holds the position: its fill is on its way (wait for it: a filled order
    cannot be cancelled)`, and the working ones are told what they can free (`then`
    only when that is enough). It read `the working SELL 5 ... holds the position:
    cancel it first` of an order that had filled."""
    working = [o for o in orders if not o.owed_qty]
    filled = [o for o in orders if o.owed_qty]
    said = []
    if working:
        one = len(working) == 1
        held = sum((o.leaves_qty + o.owed_qty for o in working), Decimal(0))
        if amount >= held:
            todo = "cancel it" if one else "cancel them"
        elif one:
            todo = f"cancel it or reduce it by {num(amount)}"
        else:
            todo = f"cancel or reduce them by {num(amount)}"
        after = then if amount <= held else ""
        said.append(
            f"the working {_named(working, instrument)} {'holds' if one else 'hold'} the "
            f"position: {todo} first{after}"
        )
    if filled:
        one = len(filled) == 1
        what = "the position" if not working else "it too"
        its = (
            "its fill is on its way (wait for it: a filled order cannot be cancelled)"
            if one
            else "their fills are on their way (wait for them: a filled order cannot be cancelled)"
        )
        said.append(
            f"the FILLED {_named(filled, instrument)} {'holds' if one else 'hold'} {what}: {its}"
        )
    return "; ".join(said)


REDUCE_RULES = ("reduce_only", "trading_state")
"""The gate's rules that keep a position from crossing zero (an order's reduce-only
flag, the REDUCE_ONLY state), counting what already works on the order's side."""


def _reduce_ahead(
    problems: list[Problem], request: OrderRequest, engine: TicketContext, instrument: Instrument
) -> list[Problem]:
    """The gate's refusal of an order that would take the position through zero with
    what already works on its side (`order marked reduce-only: a sell of 0.5 would take
    position 1.6 through zero with 1.6 already working to sell; largest allowed 0`),
    naming the working orders that hold the position and by how much to reduce them
    (`ahead_said`): it said nothing of what to do. Only where they are what stands in
    the way: a quantity the position holds without them."""
    quantity = request.quantity
    if quantity is None or not any(
        p.rule in REDUCE_RULES and p.field == "quantity" for p in problems
    ):
        return problems
    position = engine.position(request.broker, request.account, request.instrument)
    orders = working_ahead(request, engine)
    working = sum((o.leaves_qty + o.owed_qty for o in orders), Decimal(0))
    largest = reduce_limit(position, request.side, working)
    if not orders or quantity <= largest:
        return problems
    if quantity > reduce_limit(position, request.side, Decimal(0)):
        return problems  # beyond the position whatever works: they are not the cause
    tail = "; " + ahead_said(orders, instrument, quantity - largest)
    return [
        replace(p, message=p.message + tail)
        if p.rule in REDUCE_RULES and p.field == "quantity"
        else p
        for p in problems
    ]


SHORT_MARGIN = "short_margin"
SHORT_MARGIN = "short_margin"
"""The rule of a short sell beyond what the available balance margins
(`short_margin_problems`)."""


def short_margin_problems(
    request: OrderRequest,
    instrument: Instrument,
    context: TicketContext,
    preview: Preview | None,
    latest: Quote | None,
    *,
    leverage: Decimal = Decimal(1),
    frees: Decimal = Decimal(0),
    filled: Decimal | None = None,
) -> list[Problem]:
    """A sell beyond the position, at a venue that margins a short against the
    available balance (`Capabilities.short_margin`: the paper venue with short
    selling), is refused before anything is sent when the available balance of the
    quote currency (the venue's own figure) cannot hold it: the part sold short
    (beyond the position less what working sells hold) needs its notional x the
    margin share and its fee, priced where it fills: a limit at or under the bid at
    the bid (a sell fills at its limit or above: the venue judges it there, 1,000
    USDT and a SELL 0.5 @ 1,990 with the bid at 2,000.00 need 1,001.00), else as the
    preview prices it. The ticket passed such a sell and the venue refused it. The fee
    is asked `leverage` times (it comes out of equity, which the leverage multiplies).
    `frees`, `filled`: of a change to a working sell (`change_problems`; None: a new
    order), what the order surely locks now, which the change frees (`short_held`), and
    what it has filled (`request` is what the change leaves to sell; its "at most" is
    said as the order's quantity).

    Not judged: a reduce-only sell (it never sells short), a margined instrument (a
    future: its margin is the venue's), an order by quote amount, a venue that works
    a short's margin out itself (TWS) and a broker that reported no balances."""
    if (
        preview is None
        or request.side is not Side.SELL
        or request.reduce_only
        or instrument.margined
        or request.quantity is None
    ):
        return []
    capabilities = context.capabilities(request.broker)
    if capabilities is None or not capabilities.short_selling:
        return []
    share = capabilities.short_margin
    balances = context.projection.balances
    if (
        share is None
        or share <= 0
        or not any(b == request.broker and a == request.account for b, a, _ in balances)
    ):
        return []
    quantity = request.quantity
    position, reserved, sellable = context.sellable(request)
    short = quantity - sellable
    if short <= 0:
        return []
    unit, basis = preview.notional / quantity, preview.price_basis
    bid = latest.bid if latest is not None else None
    limit = request.limit_price
    if request.order_type is OrderType.LIMIT and limit is not None and bid and bid >= limit:
        unit, basis = instrument.notional(Decimal(1), bid), "bid"  # it fills at the bid
    notional = short * unit
    fee: Decimal | None = None
    if preview.fee_rate is not None and preview.fee is not None:
        fee = preview.fee_rate.fee(short, notional)
    need = notional * share + leverage * (fee or Decimal(0))
    currency = instrument.quote_currency
    found = balances.get((request.broker, request.account, currency))
    available = found.available if found is not None else Decimal(0)
    if need <= available + frees:
        return []
    # The most it sells: what is sellable and the short the available balance holds
    # with its fee (`affordable`, over the margin share of the notional).
    fraction = leverage * preview.fee_fraction(quantity) / share
    minimum = leverage * preview.fee_minimum / share
    spend = affordable((available + frees) / share, fraction, minimum)
    most = sellable + instrument.round_qty(spend / unit) if unit > 0 else sellable
    held = f"position {num(position)}"
    if reserved:
        held += f", {num(reserved)} in working sells"
    fee_said = "fee not known yet" if fee is None else f"fee ~{num(fee, 2)}"
    if leverage != 1:
        fee_said = f"{num(leverage)} x {fee_said}"
    margin = "notional" if share == 1 else f"{num(share)} x notional"
    need_text = num(quantized(need, Decimal("0.01"), ROUND_CEILING), 2)
    frees_text = f" + {money_text(frees)} the order holds" if frees else ""
    at_most = f"at most {num(most)}" if filled is None else f"qty at most {num(filled + most)}"
    at_most = _or_deficit(f"{at_most} at {basis} price", not most, found, currency)
    # The working sells hold the position (a take-profit of all of it resting): this
    # sale, which the preview says takes the long down, is short only because they
    # come first. Said, with what to do, not left to be read out of the figures. (A
    # sale beyond the position is short whatever they do: nothing is said of them.)
    holders = working_ahead(request, context) if reserved and quantity <= position else []
    if holders:
        then = ", then this sale needs no margin"
        at_most += "; " + ahead_said(holders, instrument, quantity - sellable, then)
    return [
        Problem(
            "quantity",
            SHORT_MARGIN,
            f"short {num(short)} ({held}) needs {need_text} {currency} of margin ({margin} "
            f"{num(notional, 2)} + {fee_said}), available {money_text(available)} "
            f"{currency}{frees_text}: {at_most}",
        )
    ]


def short_held(
    order: Order, instrument: Instrument, engine: TicketContext, rate: Decimal, leverage: Decimal
) -> Decimal:
    """What working sell `order` surely locks now at a venue that margins a short
    against the available balance (the paper venue), which a change frees for its new
    terms: the part of it beyond the position (at least that is sold short, whichever
    sells hold the position first) at its price with the fee, `leverage` times (`rate`
    of the notional). Nothing for a reduce-only sell (it never sells short), a
    triggered STOP (a market order now), or one the venue has not taken."""
    request = order.request
    kind = request.order_type
    if (
        order.status not in WORKING
        or request.side is not Side.SELL
        or request.reduce_only
        or (kind.market_on_trigger and order.triggered)
    ):
        return Decimal(0)
    price = order.limit_price if kind.has_limit_price else order.stop_price
    if price is None:
        return Decimal(0)
    held = max(engine.position(request.broker, request.account, request.instrument), Decimal(0))
    short = order.leaves_qty - held
    if short <= 0:
        return Decimal(0)
    return short * instrument.notional(Decimal(1), price) * (1 + leverage * rate)


WORKING = frozenset({OrderStatus.NEW, OrderStatus.PARTIALLY_FILLED})


def held_by_order(order: Order, instrument: Instrument, engine: TicketContext) -> Decimal:
    """What a change to working buy `order` surely frees of the quote currency, for its
    new terms to spend: its remaining quantity at its limit price, and never more than
    the balance holds locked (IB locks none: nothing is counted there). Nothing for an
    order with no limit price (a STOP: a venue may lock nothing for it), a sell, or one
    the venue has not taken (its balance may not hold it locked yet). Counted higher, a
    change the venue then refuses went out: at Binance after cancelling the order."""
    request = order.request
    if order.status not in WORKING or order.limit_price is None or request.side is not Side.BUY:
        return Decimal(0)
    key = (request.broker, request.account, instrument.quote_currency)
    balance = engine.projection.balances.get(key)
    locked = balance.locked if balance is not None else Decimal(0)
    frees = instrument.notional(order.leaves_qty, order.limit_price)
    return max(min(frees, locked), Decimal(0))


def _said_on(touched: Iterable[str]) -> str:
    """The field a change's problem is said on: its Qty when the change gives one (or
    gives nothing), else the price it gives (Price, else Stop)."""
    given = set(touched)
    if "quantity" in given or not given:
        return "quantity"
    return next((name for name in ("limit_price", "stop_price") if name in given), "quantity")


def change_problems(
    order: Order,
    changed: OrderRequest,
    touched: Iterable[str],
    engine: TicketContext,
    *,
    fee_rate: Callable[[str, str], FeeRate | None] = lambda broker, instrument: FeeRate(
        DEFAULT_FEE_RATE
    ),
    quote: Callable[[str], Quote | None] = lambda instrument: None,
    leverage: Callable[[str], Decimal] = lambda broker: Decimal(1),
) -> list[Problem]:
    """What the venue would refuse of a change to working `order`, said before anything
    is sent (the modify dialog; the risk rules and `sellable` are `TicketContext.
    risk_check`'s). `changed`: the order as the change leaves it (its whole quantity);
    `touched`: the fields the change gives; `fee_rate`, `quote` and `leverage` as
    `check` takes them.

    - A stop the market is through, where the venue refuses one
      (`Capabilities.stop_through_refused`) and judges it: a Stop typed, or any change
      where a change places the whole order anew (`modify_places_anew`, Binance: it
      cancels the order first, then refuses the new one, and nothing is working). Of
      a triggered stop there, any change: its replacement is a new stop, refused while
      the market is through it (`triggered`, on the field typed); with the market back
      past it the replacement waits for its trigger again, and the change goes (with no
      price known here too: the Binance adapter asks its last trade before sending).
      A smaller quantity alone is amended in place there, on an instrument the venue
      amends (`modify_in_place`: Binance's amend keepPriority, on a symbol whose
      exchangeInfo says `amendAllowed`), its stop not judged again: it goes, a
      triggered stop's too; on another it is placed anew as any change.
    - A post-only order whose price the change puts at or through the far side of the
      desk's quote (`post_only_takes`), where a change places the order anew
      (`_changed_post_only`): Binance cancels it, refuses its replacement ("Order would
      immediately match and take."), and nothing is working.
    - A buy's funds (`buying_power`): what the order as changed leaves to buy, at its
      price with the fee estimate (the ticket's preview), against the available balance
      plus what the order frees (`held_by_order`), said on the field the change gave.
      Over a paper short, as the venue reserves the buys (`funds_problems`): the order
      changed goes to the back of them, and what it holds is theirs less the others'.
    - A sell's short margin where the venue margins a short against the available
      balance (`short_margin`: the paper venue, which changes the order in place; a
      refused change loses nothing, but it is said before it goes): what it leaves to
      sell beyond the position less the other working sells (it goes to the back of
      them), against the available balance plus what it surely locks now
      (`short_held`), as the ticket judges a new sell.
    """
    instrument = engine.instrument(changed.broker, changed.instrument)
    if instrument is None:
        return []
    key = instrument.key
    latest, market, basis = quote(key), engine.last_price(key), engine.mark_basis(key)
    found: list[Problem] = []
    stop = _changed_stop(order, changed, set(touched), instrument, engine, latest, market, basis)
    if stop is not None:
        found.append(stop)
    takes = _changed_post_only(order, changed, set(touched), instrument, engine, latest)
    if takes is not None:
        found.append(takes)
    filled = order.filled_qty
    if (
        changed.side is Side.BUY
        and not instrument.margined
        and changed.quantity is not None
        and changed.quantity > filled
    ):
        left = changed.model_copy(update={"quantity": changed.quantity - filled})
        through = stop_through(left, latest, market, basis)
        rate = fee_rate(left.broker, key)
        preview = _preview(left, instrument, engine, market, rate, through, latest)
        held = held_by_order(order, instrument, engine)
        where = _said_on(touched)
        found += [
            replace(p, field=where)
            for p in _buying_power(
                left,
                instrument,
                engine,
                preview,
                frees=held,
                filled=filled,
                leverage=leverage(left.broker),
            )
        ]
    elif changed.side is Side.SELL and changed.quantity is not None and changed.quantity > filled:
        left = changed.model_copy(update={"quantity": changed.quantity - filled})
        through = stop_through(left, latest, market, basis)
        rate = fee_rate(left.broker, key)
        preview = _preview(left, instrument, engine, market, rate, through, latest)
        times = leverage(left.broker)
        fraction = preview.fee_fraction(left.quantity) if preview is not None else Decimal(0)
        held = short_held(order, instrument, engine, fraction, times)
        found += [
            replace(p, field=_said_on(touched))
            for p in short_margin_problems(
                left, instrument, engine, preview, latest, leverage=times, frees=held, filled=filled
            )
        ]
    return found


def change_warnings(
    order: Order,
    changed: OrderRequest,
    touched: Iterable[str],
    engine: TicketContext,
    *,
    quote: Callable[[str], Quote | None] = lambda instrument: None,
) -> list[Problem]:
    """What the trader should know of a change to working `order` before it goes but
    that does not stop it, in the ticket's words (`check`'s warnings): a stop the
    market has already reached (`stop_through_said`), where the change gives the venue
    a stop to judge: a Stop typed, or any change where a change places the order anew
    (`Capabilities.modify_places_anew`, as `change_problems` judges it). At a venue
    that takes such a stop (paper, TWS) it triggers at once: `Stop: a sell stop at or
    above the market (bid 3,506.84) triggers at once: it sells at the market now
    [stop_through]`; the modify dialog said nothing of it and the change filled at
    once. Where the venue refuses it the refusal is `change_problems`'; its warnings
    (the near side alone through, no last trade known) are said here. Nothing for a
    stop that has triggered (its stop cannot change, `[triggered]`)."""
    kind = changed.order_type
    if order.triggered or not kind.has_stop_price or changed.stop_price is None:
        return []
    instrument = engine.instrument(changed.broker, changed.instrument)
    if instrument is None:
        return []
    given = set(touched)
    caps = engine.capabilities(changed.broker)
    refuses = caps is not None and caps.stop_through_refused
    if "stop_price" not in given:
        if caps is None or not refuses:
            return []  # changed in place: the venue does not judge the stop again
        if _amended_in_place(caps, order, changed, given, instrument.key):
            return []
    key = instrument.key
    latest = quote(key)
    through = stop_through(changed, latest, engine.last_price(key), engine.mark_basis(key))
    venue = changed.broker if refuses else None
    _, warned = stop_through_said(changed, instrument, latest, through, venue)
    return [warned] if warned is not None else []


def _amended_in_place(
    caps: Capabilities, order: Order, changed: OrderRequest, touched: Iterable[str], key: str
) -> bool:
    """Whether the venue amends working `order` in place with `changed` (`touched`: the
    fields the change gives; `key`: the instrument's) rather than placing it anew
    (`Capabilities.modify_in_place`: a smaller quantity alone where the venue amends it)."""
    smaller = changed.quantity is not None and changed.quantity < order.quantity
    return caps.modify_in_place(touched, smaller=smaller, instrument=key)


def _changed_post_only(
    order: Order,
    changed: OrderRequest,
    touched: set[str],
    instrument: Instrument,
    engine: TicketContext,
    latest: Quote | None,
) -> Problem | None:
    """The post-only refusal of `change_problems`: a change placing a post-only order
    anew (`modify_places_anew`; not a smaller quantity alone amended in place) at a
    price that would take on the desk's quote. Binance cancelled the order, refused the
    replacement, and nothing was working (a post-only buy repriced to the ask)."""
    caps = engine.capabilities(changed.broker)
    if caps is None or _amended_in_place(caps, order, changed, touched, instrument.key):
        return None
    return post_only_takes(changed, instrument, latest, anew=True)


def _changed_stop(
    order: Order,
    changed: OrderRequest,
    touched: set[str],
    instrument: Instrument,
    engine: TicketContext,
    latest: Quote | None,
    market: Decimal | None,
    basis: str,
) -> Problem | None:
    """The stop refusal of `change_problems` (None: the venue takes the stop)."""
    venue = changed.broker
    caps = engine.capabilities(venue)
    if (
        caps is None
        or not caps.stop_through_refused
        or not changed.order_type.has_stop_price
        or changed.stop_price is None
    ):
        return None
    anew = not _amended_in_place(caps, order, changed, touched, instrument.key)
    if not anew and "stop_price" not in touched:
        return None  # amended in place: the venue does not judge the stop again
    # (Binance amends a smaller quantity alone, on a symbol that allows it:
    # `Capabilities.amends_quantity_down`.)
    amends = caps.amends_quantity_down(instrument.key)
    alone = " (a smaller quantity alone is amended in place)" if amends else ""
    through = stop_through(changed, latest, market, basis)
    refused, _ = stop_through_said(changed, instrument, latest, through, venue)
    if not (anew and order.triggered):
        if refused is not None and "stop_price" not in touched:
            # The stop as it stands: the order is placed anew with it.
            said = f"{refused.message}; a change at {venue} places the order anew with it{alone}"
            return replace(refused, message=said)
        return refused
    if refused is None:
        # The market back past it (its replacement waits for its trigger again), or no
        # price known here: the adapter asks the venue's last trade before it sends.
        return None
    stop = instrument.price_text(changed.stop_price)
    if order.request.order_type.market_on_trigger or order.limit_price is None:
        works = "as a market order"
    else:
        works = f"as a limit at {instrument.price_text(order.limit_price)}"
    last = latest.last if latest is not None and latest.last and latest.last > 0 else None
    at = Through(last, "last trade") if last is not None else through
    assert at is not None  # (refused: judged on one of them)
    why = f"the {at.basis} {instrument.price_text(at.price)} is through it"
    return Problem(
        _said_on(touched),
        "triggered",
        f"stop {stop} has triggered and the order works {works}; a change at {venue} "
        f"places it anew as a stop, which {venue} refuses while the market is through "
        f"it ({why}), after cancelling this one: nothing would be working. To work at "
        f"other terms now, cancel it and place a limit{alone}",
    )


def _number(text: str, name: str, problems: list[Problem], *, required: bool) -> Decimal | None:
    if not text.strip():
        if required:
            problems.append(Problem(name, "required", "required"))
        return None
    try:
        value = parse_decimal(text)
    except NotANumber as exc:
        problems.append(Problem(name, "number", str(exc)))
        return None
    if value <= 0:
        problems.append(Problem(name, "positive", f"{num(value)} must be greater than 0"))
        return None
    return value


def crossing_side(request: OrderRequest, quote: Quote | None) -> Through | None:
    """The side of `quote` a market order of `request`'s side trades on: the ask to
    buy, the bid to sell (None without that side, priced above 0, or with the quote
    crossed: its sides are no market, `is_crossed`)."""
    if quote is None or is_crossed(quote):
        return None
    if request.side is Side.BUY:
        return Through(quote.ask, "ask") if quote.ask is not None and quote.ask > 0 else None
    return Through(quote.bid, "bid") if quote.bid is not None and quote.bid > 0 else None


def _preview(
    request: OrderRequest,
    instrument: Instrument,
    engine: TicketContext,
    market: Decimal | None,
    fee_rate: FeeRate | None,
    through: Through | None = None,
    quote: Quote | None = None,
) -> Preview | None:
    """The order's notional, fee and position after. At its limit; a STOP or
    TAKE_PROFIT at its stop, unless the market is through it (`through`): it then
    trades at once as a market order, priced where it triggers (the ask to buy). A
    MARKET order on the side of `quote` it crosses (`crossing_side`: a buy at the ask,
    a sell at the bid), at the mark only without that side: priced at the mid, a buy
    read `at most 8.5273 at mid price`, and the buying-power check judged it at a
    price under the one it pays."""
    side = crossing_side(request, quote) if request.order_type is OrderType.MARKET else None
    if request.limit_price is not None:
        price, basis = request.limit_price, "limit"
    elif through is not None and request.order_type.market_on_trigger:
        price, basis = through.price, through.basis
    elif request.stop_price is not None:
        price, basis = request.stop_price, "stop"
    elif side is not None:
        price, basis = side.price, side.basis
    elif market is not None:
        price, basis = market, engine.mark_basis(request.instrument) or "mark"
    else:
        return None
    before = engine.position(request.broker, request.account, request.instrument)
    margin_by = request.broker if instrument.margined else ""
    if request.quote_quantity is not None:
        about = instrument.round_qty(request.quote_quantity / price if price > 0 else Decimal(0))
        return Preview(
            notional=request.quote_quantity,
            currency=instrument.quote_currency,
            fee=fee_rate.fee(about, request.quote_quantity) if fee_rate is not None else None,
            fee_rate=fee_rate,
            position_before=before,
            position_after=before + about * request.side.sign,
            price_basis=basis,
            base_estimate=about,
            base_currency=instrument.base_currency,
            margin_by=margin_by,
            reduce_only=request.reduce_only,
        )
    if request.quantity is None:
        return None
    notional = instrument.notional(request.quantity, price)
    return Preview(
        notional=notional,
        currency=instrument.quote_currency,
        fee=fee_rate.fee(request.quantity, notional) if fee_rate is not None else None,
        fee_rate=fee_rate,
        position_before=before,
        position_after=before + request.quantity * request.side.sign,
        price_basis=basis,
        margin_by=margin_by,
        reduce_only=request.reduce_only,
    )


@dataclass(frozen=True, slots=True)
class Closing:
    """What `x` on a position puts on the ticket: the largest quantity on the
    instrument's lot grid that is not more than the position (toward zero), and the
    dust below one lot that stays (a fee taken in the base currency leaves 1.000999
    BTC, of which 1.00099 can be sold on a 0.00001 lot)."""

    quantity: Decimal
    dust: Decimal

    def note(self, inst: Instrument | None) -> str:
        """What the ticket says when dust stays: `dust 0.000009 BTC stays (lot 0.00001)`."""
        if not self.dust:
            return ""
        unit = f" {inst.base_currency}" if inst is not None and inst.base_currency else ""
        lot = f" (lot {num(inst.lot_size)})" if inst is not None else ""
        return f"dust {num(self.dust)}{unit} stays{lot}"


def closing(position: Decimal, inst: Instrument | None) -> Closing:
    """The quantity that closes `position` (its size; the side is the opposite), on the
    lot grid and rounded toward zero; the whole size where the instrument is unknown."""
    size = abs(position)
    if inst is None:
        return Closing(size, Decimal(0))
    quantity = inst.round_qty(size, mode="down")
    # `normalize`: 0.5 on a 0.0001 lot is typed `0.5`, not `0.5000`.
    return Closing(quantity.normalize(), (size - quantity).normalize())
