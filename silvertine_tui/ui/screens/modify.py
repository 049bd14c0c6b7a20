"""Modify a working order's quantity and price; checked before anything is sent: against
the instrument's grid and against the risk rules (the ticket's copy of them), so that a
change the engine would refuse is said in the dialog, which stays open with what was
typed. While it is open the dialog follows the order: what has filled (the floor of a
new quantity) as it fills, and an order that ends meanwhile (filled, cancelled by a kill
switch or at the venue) is said there, its fields closed: nothing is left to change.

What the change means is said as it is typed (`notional 35,910.00 USD (was 945.00)`),
and a change that raises the order's notional above the desk's `confirm_notional`, or
more than doubles its quantity, asks first with the ticket's confirmation
(`ConfirmScreen`): a buy of 5 typed up to 190 went at once, 36 times the limit a new
ticket asks above. A change that leaves an order already above the limit no bigger and no
readier to fill (a new stop alone, a limit moved away from the market) asks nothing for
it: it read `notional ... (unchanged)` and asked again, every time, of an order working
at that notional already; a larger quantity or a limit moved toward the market still
asks, whatever the notional does (`_weightier`).

The fields are in the ticket's order, Qty then Price, and the dialog opens on Qty as
the ticket does; tab stops at the last field (it wrapped to Qty: a price typed after a
tab too many went in as the quantity), and the field with the keyboard is marked.

A stop that has triggered (`Order.triggered`) waits for nothing any more, and no venue
changes its stop: the Stop field is closed and a line under it says why (also when it
triggers while the dialog is open; a stop typed meanwhile is dropped, said there). The
dialog took a new Stop for a triggered STOP_LIMIT, and the venue refused it: `Modify
failed: replace rejected: stop_price: the stop has already triggered`.

What the venue would refuse of a change is said too (`orders.change_problems`, on the
desk's balances and quotes): a buy the account cannot pay for (`buying_power`), and at
a venue that changes an order by placing it anew (Binance's cancelReplace), a stop the
market is through, a triggered one's included. Binance cancelled the order, then
refused the new one, and nothing was working: `Modify failed: ... nothing is working
now`. A smaller quantity alone is amended in place there (Binance's amend keepPriority),
on a symbol whose exchangeInfo allows it (`Capabilities.amends_quantity_down`): it
goes, a triggered stop's too; on another symbol it is placed anew, and said so.

What the ticket warns of the same order is said too, in its words, not refused
(`orders.change_warnings`, `ModifyScreen.warnings`): a stop typed that the market has
already reached, which a venue that takes it (paper, TWS) triggers at once (`Stop: a
sell stop at or above the market (bid 3,506.84) triggers at once: it sells at the
market now [stop_through]`). A SELL STOP 3,400 changed to 3,510 with the bid at 3,507.5
read only its notional and filled at once. As on the ticket it asks nothing by itself;
a confirmation asked for other reasons says it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, ClassVar

from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.widgets import Input, Label, Static

from ...domain import Instrument, Order, OrderRequest, Side, plain
from ...engine.projection import OrderView
from ...engine.risk import RiskViolation, modified_request, modify_violations
from ...events.summary import price_text, qty_text
from ..focus import focus_now
from ..format import NUMBER_KEYS, NotANumber, num, parse_decimal, short_id, shown
from ..keymap import bindings, named_key
from ..orders import (
    Problem,
    change_problems,
    change_warnings,
    crossed_warning,
    order_text,
    risk_problems,
)
from ..short_cover import configured_leverage
from .confirm import ConfirmScreen
from .dialog import Dialog

if TYPE_CHECKING:
    from ..desk import Desk


@dataclass(frozen=True, slots=True)
class Change:
    quantity: Decimal | None
    limit_price: Decimal | None
    stop_price: Decimal | None


RiskCheck = Callable[[OrderRequest], list[RiskViolation]]
VenueCheck = Callable[[Order, OrderRequest, list[str]], list[Problem]]
"""What the venue would refuse of a change: (the order, the order as the change leaves
it, the fields the change gives) -> problems (`orders.change_problems`)."""
LABELS = {"quantity": "qty", "limit_price": "price", "stop_price": "stop"}
NOTIONAL_RULES = frozenset({"min_notional", "max_notional"})
"""The venue's limits on an order's notional (`OrderRequest.issues`), judged on the
order as a change leaves it."""
FIELDS = ("quantity", "limit_price", "stop_price")  # the ticket's order: Qty, then Price

GROWTH_ASKS = Decimal(2)
"""A new quantity more than this many times the order's asks first, whatever its
notional: the slips the desk has seen grow an order far more than that (5 typed up to
190; a price typed into the Qty after a tab too many), and an order is often doubled on
purpose. Under `confirm_notional` such a slip went unasked."""


def triggered_text(order: Order, instrument: Instrument | None) -> str:
    """What a triggered stop works as now, said where its Stop cannot change:
    `64,000.00 has triggered: the order works as a limit at 64,900.00` ("" while its
    stop waits, or for an order with none)."""
    if not order.triggered or order.stop_price is None:
        return ""
    stop = price_text(order.stop_price, instrument)
    if order.request.order_type.market_on_trigger or order.limit_price is None:
        works = "as a market order"
    else:
        works = f"as a limit at {price_text(order.limit_price, instrument)}"
    return f"{stop} has triggered: the order works {works}"


def terms(view: OrderView) -> dict[str, Decimal | None]:
    order = view.order
    return {
        "quantity": order.quantity,
        "limit_price": order.limit_price,
        "stop_price": order.stop_price,
    }


def check_change(
    view: OrderView,
    instrument: Instrument | None,
    qty: str,
    price: str,
    stop: str,
    *,
    risk: RiskCheck | None = None,
    venue: VenueCheck | None = None,
    shown_terms: dict[str, Decimal | None] | None = None,
) -> tuple[Change | None, list[str]]:
    """The change typed, checked: against the instrument's grid, the risk rules (`risk`,
    the ticket's copy of them and `sellable`) and what the venue would refuse of it
    (`venue`: a buy's funds, a stop the market is through; `orders.change_problems`),
    the venue's once the risk rules pass; each problem on the field the change touched.

    `shown_terms`: the terms the fields the trader has not typed in were filled with
    (by default the order's, for every field): such a field still at them is no change.
    Compared with the order's terms instead, a field left as the dialog opened sent its
    old value once the order had moved meanwhile (a change answered late, one from
    another desk): the trader typed a quantity and the price went back to what it was.
    A field typed in is sent as typed unless it is the order's term now (typed back to
    the opening price after the order moved: sent)."""
    order = view.order
    current = terms(view)
    filled_with = shown_terms if shown_terms is not None else current
    problems: list[str] = []
    values: dict[str, Decimal | None] = {}
    for name, text in (("quantity", qty), ("limit_price", price), ("stop_price", stop)):
        if not text.strip():
            values[name] = None
            if current[name] is not None:
                # An emptied field is no "keep": the trader saw no quantity and the
                # order went on with its old one.
                what = f"empty: the order's {LABELS[name]} is {_text(current[name])}; type one"
                problems.append(str(Problem(name, "required", what)))
            continue
        try:
            value = parse_decimal(text)
        except NotANumber as exc:
            problems.append(str(Problem(name, "number", str(exc))))
            continue
        if value == current[name] or (name in filled_with and value == filled_with[name]):
            values[name] = None
            continue
        issues = []
        if instrument is not None:
            issues = (
                instrument.check_qty(value, name)
                if name == "quantity"
                else instrument.check_price(value, name)
            )
            problems += [str(Problem(i.field, i.rule, i.message)) for i in issues]
        if name == "quantity" and value <= order.filled_qty and not issues:
            what = f"{num(value)} must exceed the filled {num(order.filled_qty)}"
            problems.append(str(Problem("quantity", "filled", what)))
        if name == "stop_price" and order.triggered:
            # No venue changes a stop that has triggered (the paper venue: "the stop has
            # already triggered"): said here, before anything is sent.
            what = triggered_text(order, instrument)
            fields = "Qty" if order.request.order_type.market_on_trigger else "Qty or Price"
            problems.append(str(Problem(name, "triggered", f"{what}; change its {fields}")))
        values[name] = value
    if name_missing := [n for n in ("limit_price", "stop_price") if values.get(n) is not None]:
        for name in name_missing:
            kind = order.request.order_type
            has = kind.has_limit_price if name == "limit_price" else kind.has_stop_price
            if not has:
                problems.append(str(Problem(name, "not_allowed", f"not allowed for {kind} orders")))
    if problems:
        return None, problems
    change = Change(values.get("quantity"), values.get("limit_price"), values.get("stop_price"))
    if change == Change(None, None, None):
        return None, ["nothing changed: type a new quantity or price [unchanged]"]
    # Said on the field the change touched: a notional broken by a new price alone is
    # the Price's (it read as the untouched quantity's).
    touched = [
        name
        for name, value in (
            ("quantity", change.quantity),
            ("limit_price", change.limit_price),
            ("stop_price", change.stop_price),
        )
        if value is not None
    ]
    said: list[Problem] = []
    changed = modified_request(
        order,
        quantity=change.quantity,
        limit_price=change.limit_price,
        stop_price=change.stop_price,
    )
    if instrument is not None and not order.filled_qty:
        # The venue's notional limits on the order as changed, as the broker checks it
        # before sending (it was refused after Enter, in a toast, the dialog gone and
        # what was typed with it: 0.00001 BTC at 63,000 is 0.63 USDT < minimum 5). Not
        # once part of it has filled: venues judge that differently (the paper venue
        # the whole order, Binance the rest it places again), and the broker judges it
        # as its venue does (review rs: a change Binance takes was refused here).
        for issue in changed.issues(instrument):
            if issue.rule in NOTIONAL_RULES:
                where = issue.field if issue.field in touched else touched[0]
                said.append(Problem(where, issue.rule, issue.message))
    if risk is not None:
        broken = modify_violations(
            risk,
            order,
            quantity=change.quantity,
            limit_price=change.limit_price,
            stop_price=change.stop_price,
        )
        said += risk_problems(broken, request=order.request, changed=touched)
    if venue is not None and not said:
        # (After the risk rules, as the engine's gate goes before the venue.)
        said += venue(order, changed, touched)
    if said:
        return None, [str(p) for p in said]
    return change, []


def notional(request: OrderRequest, instrument: Instrument | None) -> Decimal | None:
    """The whole order's notional at its own price (the limit, else the stop), as the
    ticket's preview counts it; None with no price (a market order)."""
    multiplier = instrument.multiplier if instrument is not None else Decimal(1)
    return request.notional_at(request.reference_price(), multiplier)


def typed_request(view: OrderView, qty: str, price: str, stop: str) -> OrderRequest | None:
    """The order as the fields would leave it, as typed (None while a field is not a
    number, or is emptied of a term the order has): for the line that says what the
    change means while it is typed; Enter sends what `check_change` finds."""
    current = terms(view)
    values: dict[str, Decimal | None] = {}
    for name, text in zip(FIELDS, (qty, price, stop), strict=True):
        if not text.strip():
            if current[name] is not None:
                return None
            values[name] = None
            continue
        try:
            values[name] = parse_decimal(text)
        except NotANumber:
            return None
    return modified_request(
        view.order,
        quantity=values["quantity"],
        limit_price=values["limit_price"],
        stop_price=values["stop_price"],
    )


@dataclass(frozen=True, slots=True)
class Meaning:
    """What a change means for the order, said before it is sent: its notional
    against the order's now, and why it asks first (`asks`)."""

    before: Decimal | None
    after: Decimal | None
    currency: str
    # The confirmation limit the new notional is above (None: not above it).
    over: Decimal | None = None
    # The desk's confirmation limit could not be read: every change asks.
    no_limit: bool = False
    # (the order's quantity, the new one) when the new is more than `GROWTH_ASKS` times.
    grown: tuple[Decimal, Decimal] | None = None

    @property
    def asks(self) -> bool:
        return self.over is not None or self.no_limit or self.grown is not None

    def text(self) -> str:
        ccy = f" {self.currency}" if self.currency else ""
        if self.before is None and self.after is None:
            return "notional: not known, the order has no price (a market order)"
        after = "?" if self.after is None else num(self.after, 2)
        if self.before is None:
            return f"notional {after}{ccy}"
        if self.after == self.before:
            return f"notional {after}{ccy} (unchanged)"
        return f"notional {after}{ccy} (was {num(self.before, 2)})"

    def why(self) -> str:
        """Why it asks, short, under `text` in the dialog ("" when Enter sends)."""
        said = []
        if self.no_limit:
            said.append("confirmation limit not known")
        if self.over is not None:
            said.append(f"above the confirmation limit {num(self.over, 2)}")
        if self.grown is not None:
            old, new = self.grown
            said.append(f"qty {_times(old, new)} times the order's {num(old)}")
        return f"{'; '.join(said)}: enter asks first" if said else ""

    def question(self) -> list[str]:
        """Why it asks, in the confirmation's words."""
        ccy = f" {self.currency}" if self.currency else ""
        said = []
        if self.no_limit:
            said.append("The desk's confirmation limit is not known: every change asks.")
        if self.over is not None and self.after is not None:
            said.append(
                f"Notional {num(self.after, 2)}{ccy} is above the confirmation limit "
                f"{num(self.over, 2)}."
            )
        if self.grown is not None:
            old, new = self.grown
            said.append(
                f"Qty {num(new)} is {_times(old, new)} times the order's {num(old)}: "
                "more than double asks first."
            )
        return said


def _times(old: Decimal, new: Decimal) -> str:
    """`38`, `2.5`: how many times `old` is `new`, to a tenth."""
    return num((new / old).quantize(Decimal("0.1")))


def _weightier(request: OrderRequest, order: Order, changed: OrderRequest) -> bool:
    """Whether `changed` makes the order more than it was, whatever its notional says:
    a larger quantity, or a limit moved toward the market (a buy's up, a sell's down),
    which fills sooner and more. A SELL 100 @ 200 moved to 150, through the market,
    lowers the notional; so does a BUY 100 @ 200 changed to 190 @ 100: neither may go
    unasked above the limit. A stop alone, or a limit moved away from the market, is
    not: the order already worked at that notional."""
    if (
        order.quantity is not None
        and changed.quantity is not None
        and changed.quantity > order.quantity
    ):
        return True
    old, new = order.limit_price, changed.limit_price
    if old is None or new is None or old == new:
        return False
    return (new > old) == (request.side is Side.BUY)


def meaning(
    view: OrderView,
    instrument: Instrument | None,
    changed: OrderRequest | None,
    limit: Decimal | None,
) -> Meaning:
    """What `changed` (the order after the change; None: not known yet) means for the
    order as it stands, and why it asks first: a notional above `limit` (the desk's
    `confirm_notional`; None: not known, so every change asks) when the change makes
    the order bigger or readier to fill (`_weightier`), or a quantity more than
    `GROWTH_ASKS` times the order's."""
    order = view.order
    before = notional(modified_request(order), instrument)
    currency = instrument.quote_currency if instrument is not None else ""
    if changed is None:
        return Meaning(before, None, currency)
    after = notional(changed, instrument)
    weightier = after is not None and (
        before is None or after > before or _weightier(order.request, order, changed)
    )
    over = (
        limit if limit is not None and after is not None and after > limit and weightier else None
    )
    old, new = order.quantity, changed.quantity
    grown = None
    if old is not None and new is not None and old > 0 and new > old * GROWTH_ASKS:
        grown = (old, new)
    return Meaning(before, after, currency, over=over, no_limit=limit is None, grown=grown)


class ModifyScreen(Dialog[Change | None]):
    DEFAULT_CSS = """
    #m-stop-note {
        color: $text-muted;
    }
    #m-warnings {
        color: $warning;
    }
    """
    # enter sends: the fields' own key. Tab stops at the last field, shift+tab at the
    # first: Textual's wrap took a tab too many from the Price back to the Qty.
    BINDINGS: ClassVar[list[BindingType]] = [
        *bindings("modify"),
        Binding("tab", "next_field", "Next field", show=False),
        Binding("shift+tab", "previous_field", "Previous field", show=False),
    ]

    def __init__(
        self,
        view: OrderView,
        instrument: Instrument | None,
        *,
        risk: RiskCheck | None = None,
        lookup: Callable[[str], OrderView | None] | None = None,
        cursor_blink: bool = True,
        confirm_notional: Decimal | None = None,
        desk: Desk | None = None,
    ) -> None:
        """`lookup`: the order as the desk holds it now (`DeskProjection.order`),
        followed while the dialog is open (`follow_desk`). `confirm_notional`: above
        it a change asks first (the desk's `ui.confirm_notional`; None: every change asks).
        `desk`: what the venue's checks of a change read (`venue_check`: balances,
        capabilities, quotes, the fee estimate); by default the app's."""
        super().__init__()
        self._given_desk = desk
        self.confirm_notional = confirm_notional
        # The change the confirmation asks about, while it is open: Enter again meanwhile
        # never opens a second one.
        self._asking: Change | None = None
        self.cursor_blink = cursor_blink
        self.view = view
        self.instrument = instrument
        self.risk = risk
        self.lookup = lookup
        self.problems_shown = False  # once a field is typed in or Enter refused: as typed
        self._shown = _progress(view)
        # The terms each field was filled with: one the trader has not typed in, still
        # at them, is not sent.
        self._filled_with = terms(view)
        # What `#m-warnings` says now (`_show_warnings`): drawn again only when it moves.
        self._warned: str | None = None
        # The fields the trader typed in: what they hold is what is sent (unless it is
        # the order's term now), and the order's moving never writes over them.
        self._typed: set[str] = set()

    def compose_dialog(self) -> ComposeResult:
        order = self.view.order
        request = order.request
        with Vertical(id="dialog"):
            yield Static(
                shown(
                    f"Modify {short_id(order.client_order_id)}: {request.side} "
                    f"{request.instrument} "
                    f"{request.order_type}"
                ),
                id="dialog-title",
                markup=False,
            )
            # What has filled is the floor of a new quantity.
            filled = shown(filled_text(self.view, self.instrument))
            yield Static(filled, id="m-filled", markup=False)
            # Number fields as the ticket's: a key that is no part of a number rings the
            # bell and does nothing. Their text is selected as a field takes the
            # keyboard: typing replaces it.
            with Horizontal(id="m-row-quantity", classes="ticket-row"):
                yield Label("Qty", classes="ticket-label")
                yield Input(
                    _text(order.quantity), id="m-quantity", compact=True, restrict=NUMBER_KEYS
                )
            with Horizontal(id="m-row-limit_price", classes="ticket-row"):
                yield Label("Price", classes="ticket-label")
                yield Input(
                    _text(order.limit_price),
                    id="m-limit_price",
                    compact=True,
                    disabled=not request.order_type.has_limit_price,
                    restrict=NUMBER_KEYS,
                )
            with Horizontal(id="m-row-stop_price", classes="ticket-row"):
                yield Label("Stop", classes="ticket-label")
                yield Input(
                    _text(order.stop_price),
                    id="m-stop_price",
                    compact=True,
                    disabled=not request.order_type.has_stop_price or order.triggered,
                    restrict=NUMBER_KEYS,
                )
            # Why the Stop is closed, once it has triggered.
            note = Static(id="m-stop-note", markup=False)
            note.display = False
            yield note
            # What the change means, as it is typed: `notional 35,910.00 USD (was 945.00)`.
            yield Static(id="m-preview", markup=False)
            # What the market data leaves unjudged (a crossed quote), said, not refused.
            warnings = Static(id="m-warnings", markup=False)
            warnings.display = False
            yield warnings
            yield Static(id="m-problems", markup=False)
            # enter is the fields' own key (Input.Submitted), not the key map's.
            yield Static(
                f"enter: send the change   {named_key(self, 'modify.cancel')}: close, the order "
                "unchanged",
                id="dialog-hint",
                markup=False,
            )

    def on_mount(self) -> None:
        for field_input in self.query(Input):
            field_input.cursor_blink = self.cursor_blink
        # On Qty, as the ticket opens: on the Price, a tab "to the price" wrapped to the
        # Qty, and the price typed next went in as the quantity.
        focus_now(self.query_one("#m-quantity", Input))
        self._show_triggered("")
        self._show_meaning()
        self._show_warnings()

    # -- the fields and the keyboard -----------------------------------------------------

    def _fields(self) -> list[Input]:
        """The fields that take the keyboard, in the dialog's order."""
        return [field for field in self.query(Input) if field.focusable]

    def _step(self, by: int) -> None:
        fields = self._fields()
        if not fields:
            self.app.bell()  # the order ended: nothing to type in
            return
        focused = self.focused
        if not isinstance(focused, Input) or focused not in fields:
            focus_now(fields[0])
            return
        n = fields.index(focused) + by
        if 0 <= n < len(fields):
            focus_now(fields[n])  # its text selected as it takes the keyboard
        else:
            self.app.bell()  # the last field (or the first): no wrap to the other end

    def action_next_field(self) -> None:
        self._step(1)

    def action_previous_field(self) -> None:
        self._step(-1)

    @on(events.DescendantFocus)
    @on(events.DescendantBlur)
    def _focus_moved(self) -> None:
        """The row of the field that has the keyboard is marked (its label in reverse,
        as the ticket's)."""
        focused = self.focused
        for name in FIELDS:
            has = isinstance(focused, Input) and focused.id == f"m-{name}"
            self.query_one(f"#m-row-{name}").set_class(has, "-editing")

    def _values(self) -> tuple[str, str, str]:
        return (
            self.query_one("#m-quantity", Input).value,
            self.query_one("#m-limit_price", Input).value,
            self.query_one("#m-stop_price", Input).value,
        )

    @property
    def ended(self) -> bool:
        return self.view.order.status.is_terminal

    def follow_desk(self) -> None:
        view = (self.lookup(self.view.client_order_id) if self.lookup else None) or self.view
        self._show_warnings()  # the quote moves without the order
        progress = _progress(view)
        if progress == self._shown:
            return
        self._shown, self.view = progress, view
        filled = self.query_one("#m-filled", Static)
        if self.ended:
            filled.update(
                shown(
                    f"{filled_text(view, self.instrument)}: the order is {view.order.status} "
                    "meanwhile, nothing is left to change"
                )
            )
            filled.add_class("-ended")
            self._show([])
            self._show_meaning()  # nothing is left to change: no notional of a change
            self._show_warnings()  # nor a warning of one
            leave = named_key(self, "modify.cancel")
            self.query_one("#dialog-hint", Static).update(f"{leave}: close")
            for field in self.query(Input):
                field.disabled = True
            return
        moved = self._follow_terms(view)
        self._follow_trigger(view)
        text = filled_text(view, self.instrument)
        filled.update(shown(f"{text}; changed meanwhile: {moved}" if moved else text))
        self._show_meaning()  # "was": the order as it stands now
        if self.problems_shown:  # the floor of a new quantity may have moved
            self._show(self._check()[1])

    def _follow_terms(self, view: OrderView) -> str:
        """The order's terms moved while the dialog was open: a field the trader has
        not typed in takes the new value (one typed in keeps what was typed, even
        typed back to what the dialog opened with). What moved, as the dialog says it
        ("" when nothing did)."""
        moved = []
        for name, now in terms(view).items():
            was = self._filled_with[name]
            if now == was:
                continue
            if not self._is_typed(name):
                with self.prevent(Input.Changed):
                    self.query_one(f"#m-{name}", Input).value = _text(now)
                self._filled_with[name] = now
            moved.append(f"{LABELS[name]} {_text(now) or '-'}")
        return ", ".join(moved)

    def _follow_trigger(self, view: OrderView) -> None:
        """The order's stop triggered while the dialog was open: its Stop field closes
        and goes back to the order's stop (a stop typed there could not be sent), and
        the keyboard leaves it for the Price (else the Qty)."""
        stop = self.query_one("#m-stop_price", Input)
        if not view.order.triggered or stop.disabled:
            return
        typed = stop.value if self._is_typed("stop_price") else ""
        with self.prevent(Input.Changed):
            stop.value = _text(view.order.stop_price)
        self._filled_with["stop_price"] = view.order.stop_price
        self._typed.discard("stop_price")
        if self.focused is stop:
            price = self.query_one("#m-limit_price", Input)
            focus_now(price if not price.disabled else self.query_one("#m-quantity", Input))
        stop.disabled = True
        self._show_triggered(typed)

    def _show_triggered(self, typed: str) -> None:
        """The line under the Stop of a triggered stop: why it cannot change (and the
        stop typed that was dropped for it)."""
        what = triggered_text(self.view.order, self.instrument)
        note = self.query_one("#m-stop-note", Static)
        note.display = bool(what)
        if not what:
            return
        said = f"Stop {what}; it cannot change"
        if typed.strip():
            said += f" (the stop typed, {typed.strip()}, is not sent)"
        desk = self._desk()
        caps = desk.view.capabilities(self.view.broker) if desk is not None else None
        if caps is not None and caps.modify_places_anew:
            # (Binance: said before anything is typed; `change_problems` refuses it.)
            said += (
                f". A change at {self.view.broker} places a new stop: it waits for its "
                "trigger again, and is refused while the market is through it"
            )
            if caps.amends_quantity_down(self.view.order.request.instrument):
                said += "; a smaller quantity alone is amended in place, the order kept"
        note.update(shown(said, lines=True))

    def warnings(self) -> list[Problem]:
        """What the dialog warns of, in the ticket's words (`orders.crossed_warning`,
        `orders.change_warnings`: the ticket's own sources for them): while the
        instrument's latest quote is crossed, that it has no mid and what the collar
        goes by instead; a stop typed that the market has already reached, which the
        venue triggers at once (`Stop: a sell stop at or above the market (bid
        3,506.84) triggers at once: it sells at the market now [stop_through]`). The
        new-order ticket said both; the dialog changed an order on the same crossed
        quote with no word of it, and a stop moved through the market filled at once
        unwarned. Said, not refused, as on the ticket (where the venue refuses such a
        stop the dialog's problems say so: `orders.change_problems`). None once the
        order has ended: nothing is left to change."""
        desk = self._desk()
        instrument = self.instrument
        if desk is None or instrument is None or self.ended:
            return []

        latest = desk.model.quotes.latest

        found = []
        crossed = crossed_warning(latest(instrument.key), instrument, desk.ticket_context)
        if crossed is not None:
            found.append(crossed)
        typed = self._typed_change()
        if typed is not None:
            changed, touched = typed
            found += change_warnings(
                self.view.order, changed, touched, desk.ticket_context, quote=latest
            )
        return found

    def _typed_change(self) -> tuple[OrderRequest, list[str]] | None:
        """The order as the fields leave it, as typed (`typed_request`), and the fields
        that differ from the order's terms now (None while a field is not a number, or
        nothing differs)."""
        changed = typed_request(self.view, *self._values())
        if changed is None:
            return None
        now = terms(self.view)
        touched = [name for name in FIELDS if getattr(changed, name) != now[name]]
        return (changed, touched) if touched else None

    def _show_warnings(self) -> None:
        """`#m-warnings` as `warnings` say now. Not before the dialog is composed, nor
        while it is taken down: the desk's frame follows the top dialog
        (`follow_desk`) whenever it draws, and a query then raised `NoMatches` out of
        the frame (the dialog of an order the kill switch had cancelled, at 80x24)."""
        found = self.query("#m-warnings").results(Static)
        line = next(found, None)
        if line is None:
            return  # (said once it is there: `_warned` is left as it was)
        said = "\n".join(str(p) for p in self.warnings())
        if said == self._warned:
            return
        self._warned = said
        line.update(shown(said, lines=True))
        line.display = bool(said)

    def _desk(self) -> Desk | None:
        if self._given_desk is not None:
            return self._given_desk
        found: Desk | None = getattr(self.app, "desk", None)
        return found

    def venue_check(self) -> VenueCheck | None:
        """What the venue would refuse of a change (`orders.change_problems`), judged on
        the desk's balances, quotes and fee estimate (None: no desk to judge it on)."""
        desk = self._desk()
        if desk is None:
            return None
        context = desk.ticket_context

        latest = desk.model.quotes.latest

        def leverage(broker: str) -> Decimal:
            return configured_leverage(desk.session.settings.brokers, broker)

        def check(order: Order, changed: OrderRequest, touched: list[str]) -> list[Problem]:
            return change_problems(
                order,
                changed,
                touched,
                context,
                fee_rate=desk.fee_rate,
                quote=latest,
                leverage=leverage,
            )

        return check

    def _check(self) -> tuple[Change | None, list[str]]:
        return check_change(
            self.view,
            self.instrument,
            *self._values(),
            risk=self.risk,
            venue=self.venue_check(),
            shown_terms={
                name: value for name, value in self._filled_with.items() if not self._is_typed(name)
            },
        )

    def _is_typed(self, name: str) -> bool:
        """Typed in: said by its `Input.Changed`, or holding other than what it was filled
        with (a key whose Changed was not handled yet when the order moved: the move
        wrote over what was typed)."""
        if name in self._typed:
            return True
        if self.query_one(f"#m-{name}", Input).value != _text(self._filled_with[name]):
            self._typed.add(name)
            return True
        return False

    # -- what the change means, and asking first -----------------------------------------

    def _limit(self) -> Decimal | None:
        """Above this notional a change asks first (None: not given, every change asks)."""
        return self.confirm_notional

    def _meaning(self, change: Change | None = None) -> Meaning:
        """Of `change` (one checked, as Enter sends it), else of the fields as typed."""
        if change is not None:
            changed: OrderRequest | None = self._changed_request(change)
        else:
            changed = typed_request(self.view, *self._values())
        return meaning(self.view, self.instrument, changed, self._limit())

    def _changed_request(self, change: Change) -> OrderRequest:
        return modified_request(
            self.view.order,
            quantity=change.quantity,
            limit_price=change.limit_price,
            stop_price=change.stop_price,
        )

    def _show_meaning(self) -> None:
        if self.ended:
            text = ""
        else:
            said = self._meaning()
            text = said.text()
            # What enter will do: ask first, and why. Not of a change the check refuses:
            # enter then sends nothing and asks nothing, and its problems say why (a sell
            # over the position read "above the confirmation limit: enter asks first").
            if said.asks and not self._check()[1]:
                text += f"\n{said.why()}"
        line = self.query_one("#m-preview", Static)
        line.update(shown(text, lines=True))
        line.display = bool(text)  # an ended order's dialog: no line for it

    def _ask(self, change: Change, said: Meaning) -> None:
        """The ticket's confirmation, of the order as the change leaves it; the answer
        comes to `_answered`. Once the order moves meanwhile (fills, ends, changes at
        the venue) the question is stale: its yes is off (`ConfirmScreen.moved`)."""
        request = self.view.order.request
        changed = self._changed_request(change)
        coid = self.view.client_order_id
        asked_of = _progress(self.view)
        body = "\n".join(
            [
                f"To {request.broker}/{request.account}.",
                *said.question(),
                said.text(),
                # What the dialog warns of, said where the change is confirmed (as the
                # ticket's confirmation says its warnings).
                *(str(p) for p in self.warnings()),
            ]
        )

        def moved() -> str | None:
            view = self.lookup(coid) if self.lookup is not None else None
            if view is None or _progress(view) == asked_of:
                return None
            if view.order.status.is_terminal:
                return f"the order is {view.order.status} meanwhile"
            return f"the order changed meanwhile ({filled_text(view, self.instrument)})"

        self._asking = change
        self.app.push_screen(
            ConfirmScreen(
                f"Modify {short_id(coid)}: {order_text(changed, self.instrument)}?",
                body,
                confirm_label="Send",
                moved=moved if self.lookup is not None else None,
            ),
            callback=self._answered,
        )

    def _answered(self, ok: bool | None) -> None:
        asked, self._asking = self._asking, None
        if not ok:
            # Back to the field with its text selected: typing replaces it (the cursor
            # was left at its end, and a new quantity typed went on after the old one).
            self._select_focused()
            return
        # The order may have moved while the question was open: checked again, and
        # asked again of a change that is no longer the one answered.
        self._send(answered=asked)

    def _select_focused(self) -> None:
        focused = self.focused
        if isinstance(focused, Input):
            focused.select_all()

    @on(Input.Submitted)
    def _submit(self, event: Input.Submitted) -> None:
        event.stop()
        if self._asking is not None:
            return  # the confirmation is on its way: one question at a time
        self._send(answered=None)

    def _send(self, *, answered: Change | None) -> None:
        """Enter, or a confirmation answered yes (`answered`, the change it asked of):
        the order as it is now (not as at the last frame) and the change checked;
        problems said, else asked first when the change asks (`_meaning`) and is not
        the one answered, else sent (the dialog closes with it)."""
        self.follow_desk()
        if self.ended:
            return  # said in the dialog; nothing is sent
        change, problems = self._check()
        if problems or change is None:
            self._show(problems)
            self.problems_shown = True
            if answered is not None:
                self._select_focused()  # back from the question: typing replaces it
            return
        if change != answered:
            said = self._meaning(change)
            if said.asks:
                self._ask(change, said)
                return
        self.dismiss(change)

    @on(Input.Changed)
    def _changed(self, event: Input.Changed) -> None:
        """Problems follow what is typed, as on the ticket (checked as Enter checks
        it): a field typed in says what is wrong with it at once, a corrected one no
        longer shows the error it had. They showed only once Enter was refused: a price
        30 times the market read as fine until then."""
        event.stop()
        name = (event.input.id or "").removeprefix("m-")
        if name in self._filled_with and event.value != _text(self._filled_with[name]):
            self._typed.add(name)  # (an Input says its first value too: not typed)
            self.problems_shown = True
        self._show_meaning()
        self._show_warnings()  # (a stop typed through the market)
        if self.problems_shown:
            self._show(self._check()[1])

    def _show(self, problems: list[str]) -> None:
        self.query_one("#m-problems", Static).update(shown("\n".join(problems), lines=True))

    def action_dismiss_no(self) -> None:
        self.dismiss(None)


def filled_text(view: OrderView, instrument: Instrument | None) -> str:
    """`filled 0.53559 of 0.8`: what the order has filled, the floor of a new quantity
    (on the lot's places, as the Orders pane prints it)."""
    order = view.order
    if order.quote_quantity is not None:  # by amount: what it came to, of the amount
        currency = f" {instrument.quote_currency}" if instrument is not None else ""
        return f"filled {num(order.filled_quote)} of {num(order.quote_quantity)}{currency}"
    filled, quantity = qty_text(order.filled_qty, instrument), qty_text(order.quantity, instrument)
    return f"filled {filled} of {quantity}"


def _progress(view: OrderView) -> tuple[object, ...]:
    """What the dialog shows of the order that may change while it is open."""
    order = view.order
    return (
        order.status,
        order.filled_qty,
        order.filled_quote,
        order.quantity,
        order.limit_price,
        order.stop_price,
        order.triggered,
    )


def _text(value: Decimal | None) -> str:
    return "" if value is None else plain(value)
