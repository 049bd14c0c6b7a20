"""Modify a working order's quantity and price; checked before anything is sent: against
the instrument's grid and against the risk rules (the ticket's copy of them), so that a
change the engine would refuse is said in the dialog, which stays open with what was
typed. While it is open the dialog follows the order: what has filled (the floor of a
new quantity) as it fills, and an order that ends meanwhile (filled, cancelled by a kill
switch or at the venue) is said there, its fields closed: nothing is left to change."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Input, Label, Static

from ...domain import Instrument, OrderRequest, plain
from ...engine.projection import OrderView
from ...engine.risk import RiskViolation, modify_violations
from ...events.summary import qty_text
from ..format import NUMBER_KEYS, NotANumber, num, parse_decimal, shown
from ..keymap import bindings, named_key
from ..orders import Problem, risk_problems
from .dialog import Dialog


@dataclass(frozen=True, slots=True)
class Change:
    quantity: Decimal | None
    limit_price: Decimal | None
    stop_price: Decimal | None


RiskCheck = Callable[[OrderRequest], list[RiskViolation]]
LABELS = {"quantity": "qty", "limit_price": "price", "stop_price": "stop"}


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
    shown_terms: dict[str, Decimal | None] | None = None,
) -> tuple[Change | None, list[str]]:
    """The change typed, checked. `shown_terms`: the terms the fields the trader has
    not typed in were filled with (by default the order's, for every field): such a
    field still at them is no change. Compared with the order's terms instead, a field
    left as the dialog opened sent its old value once the order had moved meanwhile (a
    change answered late, one from another desk): the trader typed a quantity and the
    price went back to what it was. A field typed in is sent as typed unless it is the
    order's term now (typed back to the opening price after the order moved: sent)."""
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
    if risk is not None:
        broken = modify_violations(
            risk,
            order,
            quantity=change.quantity,
            limit_price=change.limit_price,
            stop_price=change.stop_price,
        )
        if broken:
            # Said on the field the change touched: a notional broken by a new price
            # alone is the Price's (it read as the untouched quantity's).
            touched = [
                name
                for name, value in (
                    ("quantity", change.quantity),
                    ("limit_price", change.limit_price),
                    ("stop_price", change.stop_price),
                )
                if value is not None
            ]
            broken_said = risk_problems(broken, request=order.request, changed=touched)
            return None, [str(p) for p in broken_said]
    return change, []


class ModifyScreen(Dialog[Change | None]):
    BINDINGS = bindings("modify")  # enter sends: the fields' own key

    def __init__(
        self,
        view: OrderView,
        instrument: Instrument | None,
        *,
        risk: RiskCheck | None = None,
        lookup: Callable[[str], OrderView | None] | None = None,
        cursor_blink: bool = True,
    ) -> None:
        """`lookup`: the order as the desk holds it now (`DeskProjection.order`),
        followed while the dialog is open (`follow_desk`)."""
        super().__init__()
        self.cursor_blink = cursor_blink
        self.view = view
        self.instrument = instrument
        self.risk = risk
        self.lookup = lookup
        self.problems_shown = False  # after an Enter refused: checked as typed
        self._shown = _progress(view)
        # The terms each field was filled with: one the trader has not typed in, still
        # at them, is not sent.
        self._filled_with = terms(view)
        # The fields the trader typed in: what they hold is what is sent (unless it is
        # the order's term now), and the order's moving never writes over them.
        self._typed: set[str] = set()

    def compose_dialog(self) -> ComposeResult:
        order = self.view.order
        request = order.request
        with Vertical(id="dialog"):
            yield Static(
                shown(
                    f"Modify {order.client_order_id}: {request.side} {request.instrument} "
                    f"{request.order_type}"
                ),
                id="dialog-title",
                markup=False,
            )
            # What has filled is the floor of a new quantity.
            filled = shown(filled_text(self.view, self.instrument))
            yield Static(filled, id="m-filled", markup=False)
            # Number fields as the ticket's: a key that is no part of a number rings the
            # bell and does nothing.
            with Horizontal(classes="ticket-row"):
                yield Label("Qty", classes="ticket-label")
                yield Input(
                    _text(order.quantity), id="m-quantity", compact=True, restrict=NUMBER_KEYS
                )
            with Horizontal(classes="ticket-row"):
                yield Label("Price", classes="ticket-label")
                yield Input(
                    _text(order.limit_price),
                    id="m-limit_price",
                    compact=True,
                    disabled=not request.order_type.has_limit_price,
                    restrict=NUMBER_KEYS,
                )
            with Horizontal(classes="ticket-row"):
                yield Label("Stop", classes="ticket-label")
                yield Input(
                    _text(order.stop_price),
                    id="m-stop_price",
                    compact=True,
                    disabled=not request.order_type.has_stop_price,
                    restrict=NUMBER_KEYS,
                )
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
        field = (
            "m-limit_price" if self.view.order.request.order_type.has_limit_price else "m-quantity"
        )
        self.query_one(f"#{field}", Input).focus()

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
            leave = named_key(self, "modify.cancel")
            self.query_one("#dialog-hint", Static).update(f"{leave}: close")
            for field in self.query(Input):
                field.disabled = True
            return
        moved = self._follow_terms(view)
        text = filled_text(view, self.instrument)
        filled.update(shown(f"{text}; changed meanwhile: {moved}" if moved else text))
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

    def _check(self) -> tuple[Change | None, list[str]]:
        return check_change(
            self.view,
            self.instrument,
            *self._values(),
            risk=self.risk,
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

    @on(Input.Submitted)
    def _submit(self, event: Input.Submitted) -> None:
        event.stop()
        self.follow_desk()  # the order as it is now, not as at the last frame
        if self.ended:
            return  # said in the dialog; nothing is sent
        change, problems = self._check()
        if problems:
            self._show(problems)
            self.problems_shown = True
            return
        self.dismiss(change)

    @on(Input.Changed)
    def _changed(self, event: Input.Changed) -> None:
        """Once problems are shown, they follow what is typed: a corrected field no
        longer shows the error it had (checked as Enter checks it)."""
        event.stop()
        name = (event.input.id or "").removeprefix("m-")
        if name in self._filled_with and event.value != _text(self._filled_with[name]):
            self._typed.add(name)  # (an Input says its first value too: not typed)
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
    )


def _text(value: Decimal | None) -> str:
    return "" if value is None else plain(value)
