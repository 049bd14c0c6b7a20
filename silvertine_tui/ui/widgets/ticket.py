"""The order ticket: typed fields, validation in place, a preview, and a fire key that
never sends twice."""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import replace
from decimal import Decimal
from typing import ClassVar

from rich.text import Text
from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.suggester import SuggestFromList
from textual.widget import Widget
from textual.widgets import Button, Input, Label

from ...domain import (
    Instrument,
    OrderRequest,
    OrderStatus,
    OrderType,
    Side,
    TimeInForce,
    TradingState,
)
from ...engine.commands import Accepted, Failed, Outcome, PlaceOrder, Refused
from ...engine.risk import RiskViolation
from ..desk import Desk
from ..focus import focus_now
from ..format import NUMBER_KEYS, age, num, short_id, shown
from ..keymap import bindings, named_key
from ..model import SignalRow
from ..orders import (
    DESK_RULES,
    FIELD_LABELS,
    JOURNAL_DOWN,
    Checked,
    Draft,
    Problem,
    amount_text,
    check,
    crossed_prefill_note,
    journal_down_problem,
    known_instruments,
    offer,
    order_text,
    prefill_price,
    ranked,
    resolve_instrument,
    risk_problems,
)
from ..short_cover import configured_leverage
from .choice import Choice
from .palette import DEFAULT_PALETTE
from .signals import ticket_note
from .text import TextBlock
from .watchlist import stale_age

NO, YES = "no", "yes"
BASE, QUOTE = "BASE", "QUOTE"
# The rows' labels are the ones problems are shown against (`FIELD_LABELS`).
INPUTS = {
    name: FIELD_LABELS[name] for name in ("instrument", "quantity", "limit_price", "stop_price")
}
CHOICES: dict[str, tuple[str, list[str]]] = {
    "side": (FIELD_LABELS["side"], [s.value for s in Side]),
    "order_type": (FIELD_LABELS["order_type"], [t.value for t in OrderType]),
    "tif": (FIELD_LABELS["tif"], [t.value for t in TimeInForce]),
    # Shown only for a LIMIT order at a broker that has post-only orders (`Offer`).
    "post_only": (FIELD_LABELS["post_only"], [NO, YES]),
    # Shown only for a MARKET order at a broker that takes one for an amount of the
    # quote currency (`Offer.quote_quantity`): QUOTE makes Qty that amount.
    "qty_in": ("Qty in", [BASE, QUOTE]),
}
DEFAULTS = {
    "order_type": OrderType.LIMIT.value,
    "tif": TimeInForce.GTC.value,
    "post_only": NO,
    "qty_in": BASE,
}
# A problem with the amount in the quote currency is shown on the Qty row, which holds it.
ROW_OF = {"quote_quantity": "quantity"}
NUMBERS = frozenset({"quantity", "limit_price", "stop_price"})
LABELS = {**FIELD_LABELS, "qty_in": CHOICES["qty_in"][0]}
ORDER = (
    "instrument",
    "side",
    "order_type",
    "qty_in",
    "quantity",
    "limit_price",
    "stop_price",
    "tif",
    "post_only",
    "account",
)
NOT_SHOWN_KEPT = 100
"""Orders sent from the ticket not shown yet that it remembers (`Ticket._not_shown`)."""
LAST = "last "
"""Before the "sent ..." beside Send once the ticket holds another order (`_sent_said_as_last`)."""
TIF_PREFERENCE = (TimeInForce.GTC, TimeInForce.IOC)
"""What a ticket falls back to when its time in force is not offered any more."""


class Ticket(Vertical):
    # Tab stops at the last field, shift+tab at the first, in every layout, as in the
    # modify dialog: in the grid Textual's focus chain went on past Send to the Orders
    # pane (`c` then cancelled the selected order) and back from the Symbol to the
    # Quotes (`s` opened a SELL over the ticket being typed); one pane at a time it
    # wrapped from the last field to the Symbol, whose text a typed price replaced.
    BINDINGS: ClassVar[list[BindingType]] = [
        *bindings("ticket"),
        Binding("tab", "next_field", "Next field", show=False),
        Binding("shift+tab", "previous_field", "Previous field", show=False),
    ]

    def __init__(self, desk: Desk, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.desk = desk
        # The id the next send attempt will carry; replaced the moment it is used, so an
        # id is never sent twice (after a reject, an error or a timeout alike).
        self.client_order_id = desk.new_order_id()
        self.sending = False
        self.sent_count = 0
        self._last_fire = float("-inf")
        self.checked: Checked | None = None
        self._tag = ""
        self._reduce_only = False  # a closing ticket's (`prefill`)
        # The limit price as the prefill wrote it, while the trader has not typed in the
        # field: a side flipped takes the new side's price (`_side_changed`); "" once
        # typed in.
        self._prefilled_price = ""
        # The ticket zoomed itself to show every problem of a NOT SENT
        # (`_show_every_problem`): it goes back when the order leaves, or on a new ticket.
        self._zoomed = False
        self._unzooming = False
        self._fit_pending = False  # a look at whether the problems fit is scheduled
        # "required" is only pointed out once the trader tried to send.
        self.attempted = False
        self._blocked = False  # the status is the NOT SENT of the ticket's problems
        # What the engine (or the domain) refused the last send for, shown under the
        # ticket's own problems until anything on the ticket changes: the ticket's
        # check right after the answer wrote over them, leaving `NOT SENT: risk
        # rejected` over an empty list (a rule only the engine applies: the order rate;
        # a broker state the desk had not seen yet).
        self._refused: list[Problem] = []
        # What was said beside Send (text, kind), and, while a press of the fire key
        # refused by the ticket's own check (`_blocked`) keeps the last send's answer
        # listed (`_refused`), what was said of that answer then, with the order whose
        # fate it followed (`_say_fate`): said again once the check's problems are
        # fixed. A venue's REJECTED, then the kill switch, F9 (`NOT SENT: trading is
        # HALTED`) and resume read `problems fixed: F9 to send` with the venue's reason
        # gone, though F9 would meet the same rejection.
        self._said: tuple[str, str] = ("", "")
        self._answer_said: tuple[tuple[str, str], str, OrderStatus | None] | None = None
        # What the symbol completes from (`refresh_instruments`: the brokers list theirs
        # as they connect, after the ticket is composed).
        self._suggested: list[str] = known_instruments(self.desk.view)
        # The ticket as it was when its last order went out, while nothing has changed
        # since: the preview then says what the fire key (F9) would send *again* (the
        # position moved).
        self._sent_draft: Draft | None = None
        # When (desk monotonic) and as which id the last order left this ticket, and when
        # its answer came: the same order again soon after asks first (`_repeat`).
        self._sent_at = float("-inf")
        self._answered_at = float("-inf")
        self._sent_id = ""
        # The order `_submit` waits for the answer to ("" when none: `sending` is set
        # from the press, a confirmation asked, before any order is on its way).
        self._on_its_way = ""
        self._sent_unanswered = False  # the venue never answered it (BrokerTimeout)
        # The order a NO ANSWER beside Send is about, while that is what the status
        # says: once the order is heard of (its status in the projection) the status
        # says what became of it (`_say_fate`), and follows it until it ends.
        self._fate_of = ""
        self._fate_said: OrderStatus | None = None
        # The status of the last send, said while the bus was down: said again with
        # "the bus is back" when it is (the order then shows in the Orders pane).
        self._sent_bus_down: str | None = None
        # The status of the last send, said while the bus was up ("sent ..."): if the
        # bus is lost before the order shows in Orders, BUS DOWN is added (`run_check`).
        self._sent_ok: str | None = None
        # Orders sent from this ticket that the journal does not show yet (not in the
        # projection): id -> (broker, account, instrument). The preview's position on
        # that instrument is then not said as fact (`Preview.not_shown`).
        self._not_shown: dict[str, tuple[str, str, str]] = {}
        # Counts the tickets this widget has held (`_fresh`): a send's answer that comes
        # after the trader moved on to a new ticket is said apart, never on the new one.
        self._generation = 0
        self._sending_generation = 0  # the ticket the order on its way left from
        self._waits_for_answer = False  # this ticket says another's order is on its way
        self._opened_at = float("-inf")  # when `prefill` opened the ticket (desk monotonic)
        # The order type a prefilled ticket's source asked for that its broker does not
        # offer: a problem that blocks the send until the trader chooses a type (the
        # Type choice cannot show it, and showing another type would send another order).
        self._unoffered: Problem | None = None
        # The signal whose note the status says (a signal's ticket, until anything else
        # is said there): said again as the signal ages (`_age_signal_note`).
        self._signal_row: SignalRow | None = None
        # The time in force the trader last chose (the default until then): replaced
        # by a type that does not take it (MARKET: IOC), it comes back when the trader
        # chooses a type that takes it (`_apply_offer`). LIMIT -> MARKET -> LIMIT
        # stayed IOC, and the limit went out IOC and EXPIRED unfilled.
        self._tif_chosen = DEFAULTS["tif"]

    # -- layout -----------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        accounts = self.desk.accounts
        for name in ORDER:
            with Horizontal(id=f"row-{name}", classes="ticket-row"):
                if name in INPUTS:
                    yield Label(INPUTS[name], classes="ticket-label")
                    suggester = None
                    if name == "instrument":
                        suggester = SuggestFromList(self._suggested, case_sensitive=False)
                    # A prefilled value is selected when the field takes the keyboard:
                    # typing replaces it, and the cursor never sits inside a number.
                    yield Input(
                        id=f"t-{name}",
                        suggester=suggester,
                        select_on_focus=True,
                        restrict=NUMBER_KEYS if name in NUMBERS else None,
                        compact=True,
                    )

                elif name == "account":
                    yield Label("Account", classes="ticket-label")
                    yield Choice(accounts, accounts[0] if accounts else None, id="t-account")
                else:
                    label, options = CHOICES[name]
                    yield Label(label, classes="ticket-label")
                    yield Choice(options, DEFAULTS.get(name), id=f"t-{name}")
        with Horizontal(id="t-actions"):
            send = Button(f"Send {named_key(self, 'ticket.fire')}", id="t-send", compact=True)
            # Clicked, it sends; it never takes the keyboard (tab stops at the last
            # field): with the focus on it, `s` and `b` were the desk's keys again and
            # opened a new ticket over this one. F9 and enter in a field send.
            send.can_focus = False
            yield send
            yield TextBlock(id="t-status")
        # What stops the order first, then the preview: a long problem (the funds
        # check's `need ... available ...`) fell below the pane's fold.
        yield TextBlock(id="t-problems")
        yield TextBlock(id="t-preview")

    def on_mount(self) -> None:
        for field in self.query(Input):
            field.cursor_blink = self.desk.cursor_blink
        self._apply_offer()
        self.run_check()
        self.watch(self.screen, "maximized", self._maximized, init=False)

    def _maximized(self, before: Widget | None, now: Widget | None) -> None:
        if now is self.parent:
            return
        self._zoomed = False  # the zoom ended (esc, another pane, F11)
        if before is self.parent and not self._unzooming and self.has_focus_within:
            # Zoomed or not, `esc` leaves the field. Textual's own `esc` ends a zoom
            # and nothing else: the field kept the keyboard, and a pane key after it
            # (`2`) was typed into the quantity.
            self.action_leave()

    # -- reading the fields -------------------------------------------------------------

    def _input(self, name: str) -> Input:
        return self.query_one(f"#t-{name}", Input)

    def _choice(self, name: str) -> Choice:
        return self.query_one(f"#t-{name}", Choice)

    def draft(self) -> Draft:
        return Draft(
            instrument=self._input("instrument").value,
            side=Side(self._choice("side").value),
            order_type=OrderType(self._choice("order_type").value),
            quantity=self._input("quantity").value,
            limit_price=self._input("limit_price").value,
            stop_price=self._input("stop_price").value,
            tif=TimeInForce(self._choice("tif").value),
            account=self._choice("account").value,
            tag=self._tag,
            reduce_only=self._reduce_only,
            post_only=self._choice("post_only").value == YES
            and not self.query_one("#row-post_only").has_class("-unused"),
            by_quote=self._choice("qty_in").value == QUOTE
            and not self.query_one("#row-qty_in").has_class("-unused"),
        )

    def refresh_instruments(self) -> bool:
        """Completion from the instruments listed now; True when they changed."""
        known = known_instruments(self.desk.view)
        if known == self._suggested:
            return False
        self._suggested = known
        self._input("instrument").suggester = SuggestFromList(known, case_sensitive=False)
        return True

    # -- validation ---------------------------------------------------------------------

    def _leverage(self, broker: str) -> Decimal:
        """The account's leverage at `broker` (a paper broker's `checks.leverage`; 1
        elsewhere): the fee of a buy, out of equity, takes that many times itself."""
        return configured_leverage(self.desk.session.settings.brokers, broker)

    def previews_any(self, positions: Collection[tuple[str, str, str]]) -> bool:
        """Whether the position this ticket's preview names (its account's, in its
        instrument) is among `positions` (broker, account, instrument keys)."""
        if not positions:
            return False
        broker, _, account = self._choice("account").value.partition("/")
        instrument = self._input("instrument").value.strip().casefold()
        return any(
            (b, a) == (broker, account) and i.casefold() == instrument for b, a, i in positions
        )

    def run_check(self) -> Checked:
        draft = self.draft()
        broker = draft.account.partition("/")[0]
        checked = check(
            draft,
            self.desk.ticket_context,
            client_order_id=self.client_order_id,
            fee_rate=self.desk.fee_rate,
            can_short=self.desk.can_short(broker),
            quote=self.desk.model.quotes.latest,
            leverage=self._leverage,
        )
        if self._unoffered is not None:
            problems = ranked([self._unoffered, *checked.problems], self.desk.ticket_context)
            checked = replace(checked, problems=problems)
        checked = self._with_not_shown(checked)
        self.checked = checked
        self._say_fate()  # before the problems: it may replace the answer listed
        self._say_seen_while_sending()
        self._show(checked, draft)
        self._age_signal_note()
        if self._sent_bus_down is not None and not self.desk.bus_watch.lost:
            self._status(f"{self._sent_bus_down}; the bus is back: it shows in Orders", "ok")
        elif (
            self._sent_ok is not None
            and self.desk.bus_watch.lost
            and self._sent_id in self._not_shown
        ):
            # Lost after the answer (a Redis that stopped answering is found out seconds
            # later): the order does not show in Orders until the bus is back.
            sent = self._sent_ok
            self._status(f"{sent}; BUS DOWN: shown when the bus is back", "warn")
            self._sent_bus_down = sent
        return checked

    def _with_not_shown(self, checked: Checked) -> Checked:
        """The preview says which orders sent from this ticket on its instrument and
        account the journal does not show yet: its position is of before them."""
        view = self.desk.view
        for coid in [c for c in self._not_shown if view.order(c) is not None]:
            del self._not_shown[coid]
        request, preview = checked.request, checked.preview
        if request is None or preview is None or not self._not_shown:
            return checked
        where = (request.broker, request.account, request.instrument)
        ids = tuple(short_id(c) for c, on in self._not_shown.items() if on == where)
        if not ids:
            return checked
        return replace(checked, preview=replace(preview, not_shown=ids))

    def _say_fate(self) -> None:
        """After a NO ANSWER, what became of the order once the desk hears of it (its
        status in the projection): working, filled, rejected with the venue's reason,
        cancelled. The status said `NO ANSWER: it may be working` and `... asking TWS
        what became of it` long after the Orders pane showed it REJECTED. Said while
        nothing else is said beside Send and the ticket is the one it left (a new
        ticket, an edit or another send forgets it: `_status`, `_ticket_changed`)."""
        coid = self._fate_of
        view = self.desk.view.order(coid) if coid else None
        if view is None:
            return
        order = view.order
        status = order.status
        if status is OrderStatus.PENDING_NEW or status is self._fate_said:
            return
        request = order.request
        instrument = self.desk.view.instrument(view.broker, request.instrument)
        what = (
            f"{short_id(coid)} {request.side} {amount_text(request, instrument)} "
            f"{request.instrument}"
        )
        # Led by the NO ANSWER it follows (the toast said that much, and a venue whose
        # stream is quicker than its reply has the order known as the answer comes).
        refused: list[Problem] = []
        if status is OrderStatus.REJECTED:
            text, kind = "NO ANSWER, then REJECTED: why below", "error"
            why = order.reason or "the venue gave no reason"
            refused = [Problem("", status.value, f"order {what}: {why}")]
        elif status is OrderStatus.FILLED:
            text, kind = f"NO ANSWER, then FILLED: {what}", "ok"
        elif status.is_terminal:  # CANCELED, EXPIRED
            text, kind = f"NO ANSWER, then {status}: {what}", "warn"
        else:  # heard of at the venue: it works there
            text, kind = f"NO ANSWER, then found working: {what} ({status})", "ok"
        self._refused = refused  # NO ANSWER's advice ("asking ...") is answered
        self._status(text, kind)
        if not status.is_terminal:  # followed to its end
            self._fate_of, self._fate_said = coid, status

    def _say_seen_while_sending(self) -> None:
        """The order on its way shows in the journal before its venue's answer came (a
        Binance reply lost, its user stream's NEW journaled): "sending ..." stood beside
        Send up to the timeout, over an order the Orders pane showed working. Said with
        what the journal shows; the answer, when it comes, is said over it."""
        coid = self._on_its_way
        if not coid or self._sending_generation != self._generation:
            return
        view = self.desk.view.order(coid)
        if view is None or view.order.status is OrderStatus.PENDING_NEW:
            return
        text = (
            f"sending {short_id(coid)} ...: {view.order.status} at "
            f"{view.broker}/{view.account}, its answer not back yet"
        )
        if self._said != (text, "muted"):
            self._status(text, "muted")

    def _show(self, checked: Checked, draft: Draft) -> None:
        shown = [p for p in checked.problems if self.attempted or p.rule != "required"]
        bad = {ROW_OF.get(p.field, p.field) for p in shown}
        for name in ORDER:
            self.query_one(f"#row-{name}").set_class(name in bad, "-invalid")
        # Nothing changed since the last send: the check is of the order F9 would send
        # again, which the preview and the problems say.
        again = self._sent_draft is not None and self._sent_draft == draft
        fire = named_key(self, "ticket.fire")
        if checked.preview is not None:
            # Under "F9 again would not be sent:" (HALTED since, say), "F9 again: BUY 1
            # AAPL ..." read as F9 sending it: the preview is then of the order alone.
            text = (f"{fire} again: " if again and not shown else "") + checked.preview.text()
            preview = Text(text, no_wrap=False)
        else:
            preview = Text("-", style="dim")
        warn = getattr(self.app, "palette", DEFAULT_PALETTE).warn
        for warning in checked.warnings:  # not a problem: the order goes as it is
            preview.append(f"\n{warning}", style=warn)
        stale = self._stale_quote(checked)
        if stale:
            preview.append(f"\n{stale}", style=warn)
        # A Static update lays the screen out again: only when the text changed.
        self._update_if_changed("#t-preview", preview)
        # A send refused for the journal being down says why (the bus's words); the
        # check's own `journal_down` of the same (the journal still down) would say it
        # twice. Its row stays marked (`bad`, above).
        answered = {(p.field, p.rule) for p in self._refused if p.rule == JOURNAL_DOWN}
        shown = [p for p in shown if (p.field, p.rule) not in answered]
        said = {(p.field, p.said) for p in shown}
        refused = [p for p in self._refused if (p.field, p.said) not in said]
        if shown and (again or refused):
            # Under "sent ...: SELL 2 AAPL", a bare list read as why that order failed
            # (a close filled, and the same close again is refused: position 0). Only
            # the check's problems are headed so: the last send's answer (`_refused`:
            # REJECTED's reason, NO ANSWER's advice) is what "why below" and "see
            # below" point at, and F9 sends again past it (asked first). Under the
            # heading, the NO ANSWER's advice read as F9 refusing what it then sent.
            # The answer first, whatever came since: under `REJECTED: why below`, the
            # kill switch pulled afterwards (`[trading_state]`) or a 1100 (`[order_path]`)
            # was listed first, read as why IB had rejected the order.
            problems = _problem_text(refused)
            if refused:
                problems.append("\n")
            problems.append(f"{fire} again would not be sent:\n", style="bold")
            problems.append_text(_problem_text(shown))
        else:
            problems = _problem_text(shown + refused)
        self._update_if_changed("#t-problems", problems)
        # Above the preview: no blank line there while nothing is wrong.
        self.query_one("#t-problems", TextBlock).display = bool(problems.plain)
        if self._blocked:  # the status says what stopped the last F9: keep it true
            if shown:
                self._status(f"NOT SENT: {_count(shown)}", "error", blocked=True)
                self._show_every_problem()  # a problem more (HALTED meanwhile) may not fit
            elif self._refused and self._answer_said is not None:
                # The check's problems are fixed, not the last send's answer listed
                # under them (a venue's REJECTED): said as it was before F9 was refused.
                (text, kind), fate, fate_said = self._answer_said
                self._answer_said = None
                self._status(text, kind)
                self._fate_of, self._fate_said = fate, fate_said
            else:
                # Still following them: a problem the next edit brings is said again
                # (it read "problems fixed" over a list of new ones).
                fire = named_key(self, "ticket.fire")
                self._status(f"problems fixed: {fire} to send", "muted", blocked=True)
        if self._refused:  # the last send's answer listed: whole, as NOT SENT's problems
            self._show_every_problem()
        self.set_class(self.desk.view.trading_state is TradingState.HALTED, "-halted")

    def _stale_quote(self, checked: Checked) -> str:
        """What to say when the instrument's last quote is older than the Quotes pane
        dims (`stale_after_s`): the price prefilled, the preview and the checks against
        the market (collar, notional of a market order) are of then."""
        instrument = checked.instrument
        if instrument is None:
            return ""
        quote = self.desk.model.quotes.get(instrument.key)
        if quote is not None:
            # The mark's age: the collar and the preview use it, and a quote with no
            # price (crossed, a side empty) moves no mark.
            quote_age = stale_age(quote, self.desk.clock(), self.desk.stale_after_s, of_mark=True)
            if quote_age is None:
                return ""
            if not math.isinf(quote_age):
                return f"quote {age(quote_age)} old: the market may have moved since"
            if quote.mark_ts_ns is not None:  # a price whose time the venue did not give
                return "quote of an age not known: the market may have moved since"
        # No quote at all (a feed not there yet, a contract with no market data), or
        # none with a price: a price typed anywhere passes, the collar having no mark
        # to measure it from. Said, not refused (whether to refuse is the desk's rule).
        what = "no quote yet" if quote is None else "no quote with a price yet"
        if self.desk.ticket_context.last_price(instrument.key) is None:
            return f"{what}: no market price checked, the market may be elsewhere"
        return f"{what}: checked against an older mark, the market may be elsewhere"

    def _update_if_changed(self, selector: str, text: Text) -> None:
        self.query_one(selector, TextBlock).set_text(text)

    def _sync_price_rows(self) -> None:
        kind = OrderType(self._choice("order_type").value)
        self.query_one("#row-limit_price").set_class(not kind.has_limit_price, "-unused")
        self.query_one("#row-stop_price").set_class(not kind.has_stop_price, "-unused")

    def _apply_offer(self, *, type_changed: bool = False) -> None:
        """Offer only what the selected broker takes (its capabilities, through the
        engine): its order types, the time in force the type allows there, post-only
        where it has it. A choice it does not take is replaced, never left selected.
        `type_changed` (the trader chose another type): the time in force the trader
        last chose, or the ticket's default, comes back where the new type takes it
        (`_tif_chosen`). LIMIT/GTC, then MARKET (IOC), then LIMIT read IOC, and the
        limit went out IOC."""
        broker = self._choice("account").value.partition("/")[0]
        offered = offer(self.desk.view, broker)
        kind_choice = self._choice("order_type")
        tif_choice = self._choice("tif")
        post = self._choice("post_only")
        with self.prevent(Choice.Changed):
            kinds = [t.value for t in offered.order_types]
            if kind_choice.value in kinds:
                kind_value = kind_choice.value
            else:
                kind_value = OrderType.LIMIT.value if OrderType.LIMIT.value in kinds else kinds[0]
            kind_choice.set_options(kinds)
            kind_choice.value = kind_value
            kind = OrderType(kind_value)
            tifs = [t.value for t in offered.tifs.get(kind, [])] or [tif_choice.value]
            if type_changed and self._tif_chosen in tifs:
                # The trader's (or the ticket's default), replaced only while the type
                # did not take it.
                tif_value = self._tif_chosen
            elif tif_choice.value in tifs:
                tif_value = tif_choice.value
            else:
                tif_value = ([t.value for t in TIF_PREFERENCE if t.value in tifs] or tifs)[0]
            tif_choice.set_options(tifs)
            tif_choice.value = tif_value
            can_post = offered.post_only and kind is OrderType.LIMIT
            if not can_post:
                post.value = NO
            can_quote = offered.quote_quantity and kind is OrderType.MARKET
            if not can_quote:
                self._choice("qty_in").value = BASE
        self.query_one("#row-post_only").set_class(not can_post, "-unused")
        self.query_one("#row-qty_in").set_class(not can_quote, "-unused")
        self._sync_price_rows()

    @on(Input.Changed)
    def _input_changed(self, event: Input.Changed) -> None:
        event.stop()
        self._ticket_changed()
        if event.input.id == "t-instrument":
            self._left_source("symbol")
        elif event.input.id == "t-limit_price" and event.value != self._prefilled_price:
            self._prefilled_price = ""  # typed in: what the trader typed stays
        self.run_check()

    @on(Choice.Changed)
    def _choice_changed(self, event: Choice.Changed) -> None:
        event.stop()
        if event.choice.id == "t-order_type":
            self._unoffered = None  # the trader chose a type the broker takes
        elif event.choice.id == "t-tif":
            self._tif_chosen = event.value  # by hand: what a type change gives back
        self._ticket_changed()
        if event.choice.id in ("t-order_type", "t-account"):
            self._apply_offer(type_changed=event.choice.id == "t-order_type")
        if event.choice.id == "t-account":
            self._left_source("account")
        elif event.choice.id == "t-side":
            self._side_changed()
        self.run_check()

    def _left_source(self, what: str) -> None:
        """The trader moved a closing ticket (`x` on a position) or a signal's ticket to
        another symbol or account: it is no longer that close or that signal's order, so
        it is no longer reduce-only or tagged as theirs. Kept, they went out unseen once
        the note beside Send was gone (the preview of a BTC sell said nothing of the
        ETH close it had been)."""
        if not (self._tag or self._reduce_only):
            return
        dropped = ["not reduce-only"] if self._reduce_only else []
        if self._tag:
            dropped.append(f"tag {self._tag} dropped")
        self._tag = ""
        self._reduce_only = False
        if not self._blocked:  # (blocked, the status follows the problems: `_show`)
            # Said over the source's note (`dust ... stays`, `signal meanrev: ...`),
            # which is about the order the ticket no longer holds.
            self._status(f"another {what}: {', '.join(dropped)}", "muted")

    def _side_changed(self) -> None:
        """The side flipped (`ctrl+s`, or the Side choice) while the limit price is still
        the one the ticket was prefilled with: it takes the new side's, as `b` and `s`
        do (the ask to buy, the bid to sell). A buy prefilled at the ask became a sell
        at the ask, resting instead of marketable, with nothing on screen changing but
        the side. A price the trader typed is kept; with no price on the new side the
        field is emptied, never left at the other side's.

        A signal's ticket or a closing one flipped is no longer that signal's order or
        that close: its tag goes and a close stops being reduce-only (flipped, it adds
        to the position), said beside Send as a move to another symbol or account is.
        A SELL signal flipped went out as a BUY tagged `signal:meanrev`, crediting the
        strategy with a trade it never proposed; flipped back, it stays the trader's."""
        self._left_source("side")
        if not self._prefilled_price:
            return
        field = self._input("limit_price")
        if field.value != self._prefilled_price:
            self._prefilled_price = ""
            return
        draft = self.draft()
        if not draft.order_type.has_limit_price:
            return
        price = self._quote_price(draft)
        text = _plain(price) if price is not None else ""
        with self.prevent(Input.Changed):
            self._set_text("limit_price", text)
        self._prefilled_price = text

    def _quote_price(self, draft: Draft) -> Decimal | None:
        """The price `b` or `s` would prefill for the draft's side now: the ask to buy,
        the bid to sell, on the instrument's tick (None when the quote has none, or
        that side is priced 0 or below: an empty book side)."""
        broker = draft.account.partition("/")[0]
        instrument = resolve_instrument(self.desk.view, broker, draft.instrument)
        if instrument is None:
            return None
        state = self.desk.model.quotes.get(instrument.key)
        if state is None or state.crossed:  # a crossed quote's sides are no price
            return None
        return prefill_price(
            state.quote.ask if draft.side is Side.BUY else state.quote.bid, instrument
        )

    # -- prefill --------------------------------------------------------------------------

    def set_accounts(self, accounts: list[str]) -> None:
        """The accounts to choose from changed (a watching desk took on a desk)."""
        self.query_one("#t-account", Choice).set_options(accounts)

    def prefill(
        self,
        *,
        instrument: str,
        side: Side,
        price: Decimal | None = None,
        quantity: Decimal | None = None,
        order_type: OrderType = OrderType.LIMIT,
        account: str | None = None,
        tag: str = "",
        note: str = "",
        note_style: str = "warn",
        reduce_only: bool = False,
        signal: SignalRow | None = None,
    ) -> None:
        """A new ticket: every field from the source or empty (or its default), nothing
        kept from the ticket before, and a new id for the send. `note` is said beside
        Send (a closing ticket's dust that stays, a signal's note whole). No `account`:
        the desk's first (the account too is never the previous ticket's). `signal`:
        the signal the ticket is made from: its note is said again as it ages while the
        ticket is open (`_age_signal_note`).

        A price with no `signal` is the market's (`b`, `s`: a side of the quote; `x`:
        the side that closes, else the mark): while the instrument's latest quote is
        crossed (its bid above its ask) none is prefilled, and the note says why
        (`crossed_prefill_note`). `b` prefilled a buy at a crossed ask, under the bid."""
        if signal is None and price is not None:
            state = self.desk.model.quotes.get(instrument)
            inst = self.desk.view.instruments_by_key.get(instrument)
            crossed = crossed_prefill_note(state.quote if state is not None else None, inst)
            if crossed:
                price = None
                note, note_style = (f"{crossed}; {note}" if note else crossed), "warn"
        tif = TimeInForce.IOC if order_type is OrderType.MARKET else TimeInForce.GTC
        # A MARKET ticket's IOC is its type's, not the trader's: a type that takes the
        # default gets the default back.
        self._tif_chosen = DEFAULTS["tif"]
        price_text = _plain(price) if price is not None else ""
        with self.prevent(Input.Changed, Choice.Changed):
            self._default_account(account)
            # The defaults first: a type or TIF the broker does not offer leaves the
            # choice where it was, which must not be the ticket before's.
            self._choice("order_type").value = DEFAULTS["order_type"]
            self._choice("tif").value = DEFAULTS["tif"]
            self._apply_offer()  # the account's choices, for the type and TIF below
            self._set_text("instrument", instrument)
            self._choice("side").value = side.value
            self._choice("order_type").value = order_type.value
            self._apply_offer()
            self._choice("tif").value = tif.value
            self._set_text("quantity", _plain(quantity) if quantity is not None else "")
            # One price for a type with a stop is its stop (its trigger): a stop-limit
            # signal's one price went into Price, Stop empty, a limit the strategy never
            # set; the limit is left to the trader (`signals.price_note` says so).
            stop = order_type.has_stop_price
            self._set_text(
                "limit_price", price_text if order_type.has_limit_price and not stop else ""
            )
            self._set_text("stop_price", price_text if stop else "")
            self._choice("post_only").value = NO
            self._choice("qty_in").value = BASE
        taken = self._choice("order_type").value == order_type.value
        self._fresh(tag, reduce_only=reduce_only, unoffered=None if taken else order_type)
        self._prefilled_price = self._input("limit_price").value
        self._opened_at = self.desk.monotonic()
        if note:
            self._status(note, note_style)
        if signal is not None:
            self._signal_row = signal
            self._age_signal_note()

    def _age_signal_note(self) -> None:
        """A signal's ticket says the signal's age beside Send as it grows, not only as
        the ticket opened (`signals.ticket_note`): called by `run_check`, which the desk
        runs once a second by its clock. Once anything else is said there (sent, NOT
        SENT, `another side: tag ... dropped`) it is no longer said."""
        row = self._signal_row
        if row is None:
            return
        # The instrument to say a price not used on its tick (`signals.price_note`).
        inst = self.desk.view.instruments_by_key.get(row.signal.instrument)
        note, old = ticket_note(row, self.desk.clock(), inst)
        status = self.query_one("#t-status", TextBlock)
        kind = "warn" if old else "muted"
        if status.text.plain == note and status.has_class(f"-{kind}"):
            return
        self._status(note, kind)
        self._signal_row = row  # (`_status` forgets it: it is still the note shown)

    def action_reset(self) -> None:
        """A clean ticket from any field: every field empty or at its default."""
        with self.prevent(Input.Changed, Choice.Changed):
            for name in INPUTS:
                self._set_text(name, "")
            self._choice("side").value = Side.BUY.value
            self._default_account(None)
            # The type first, then what it and the account offer: the TIF's default was
            # refused by the last type's choices (a MARKET ticket kept IOC).
            self._choice("order_type").value = DEFAULTS["order_type"]
            self._tif_chosen = DEFAULTS["tif"]
            self._apply_offer()
            for name, value in DEFAULTS.items():
                self._choice(name).value = value
        self._fresh("")
        focus_now(self._input("instrument"))

    def _default_account(self, account: str | None) -> None:
        choice = self._choice("account")
        if account is None and choice.options:
            account = choice.options[0]
        if account is not None:
            choice.value = account

    def _fresh(
        self, tag: str, *, reduce_only: bool = False, unoffered: OrderType | None = None
    ) -> None:
        self._generation += 1
        self._tag = tag
        self._reduce_only = reduce_only
        self._last_fire = float("-inf")  # the debounce is against a double press, not a new order
        self._unoffered = None
        if unoffered is not None:
            broker = self._choice("account").value.partition("/")[0]
            self._unoffered = Problem(
                "order_type",
                "not_offered",
                f"{unoffered} is not offered at {broker}: choose a type it takes",
            )
        self.attempted = False
        self._sent_draft = None
        self._refused, self._answer_said = [], None
        self._prefilled_price = ""
        self.client_order_id = self.desk.new_order_id()
        self._unzoom()
        self._apply_offer()
        self._status("")
        self.run_check()

    def _set_text(self, name: str, text: str) -> None:
        field = self._input(name)
        # A symbol from a quote, a position or a signal on the bus: its control
        # characters drawn (`shown`), so such a symbol resolves to no instrument.
        field.value = shown(text)
        # Selected: a key typed next replaces it, a backspace clears it.
        field.select_all()

    def focus_first_empty(self) -> None:
        for name in ("instrument", "quantity", "limit_price"):
            field = self._input(name)
            row = self.query_one(f"#row-{name}")
            if not field.value.strip() and not row.has_class("-unused"):
                focus_now(field)
                return
        focus_now(self._input("quantity"))

    # -- sending ----------------------------------------------------------------------------

    def action_fire(self) -> None:
        """A press of the fire key (or enter in a field, or a click on Send). A terminal
        sends no key-release: a held key arrives as presses ~30 ms apart. A press within
        `fire_debounce_s` of the previous press, sent or not, is swallowed and restarts
        the interval, so a burst or a held key sends once, until the key has been quiet
        for the interval."""
        now = self.desk.monotonic()
        previous, self._last_fire = self._last_fire, now
        if now - previous < self.desk.fire_debounce_s:
            return
        if self.sending:
            if self._sending_generation == self._generation:
                self._status("still sending the last order: not sent again", "warn")
            else:  # another ticket's order is on its way: this one never went
                self._status(
                    f"NOT SENT: {short_id(self._sent_id)} is still on its way; "
                    f"{named_key(self, 'ticket.fire')} again once it is answered",
                    "warn",
                )
                self._waits_for_answer = True  # said until the answer comes
            return
        self.attempted = True
        # The last send's answer stays listed while this press sends nothing: it is of
        # the order still on the ticket (`_send_request` forgets it as one goes).
        fate = self._fate_of
        self._fate_of = ""  # (the last order's fate is not listed under this one)
        checked = self.run_check()
        if not checked.ok or checked.request is None:
            self._keep_answer(fate)
            self._status(f"NOT SENT: {_count(checked.problems)}", "error", blocked=True)
            self._focus_problem(checked.problems)
            self._show_every_problem()
            return
        self.sending = True
        if not self._ask(checked, self._repeat(now)):
            self._send_request(checked)

    def _ask(self, checked: Checked, repeat: str, *, notional_asked: bool = False) -> bool:
        """Open the confirmation the order needs, if any: the same order again (`repeat`
        says when it went), a notional above `confirm_notional` (unless already asked
        of it); one dialog says both. Whether it asks."""
        request = checked.request
        assert request is not None
        notional = checked.preview.notional if checked.preview else None
        limit = self.desk.ui.confirm_notional
        over = notional is not None and notional > limit and not notional_asked
        if not (over or repeat):
            return False
        from ..screens.confirm import ConfirmScreen

        said = [f"To {request.broker}/{request.account}."]
        if repeat:
            said.append(f"{repeat}: this is a second order.")
        if over:
            said.append(
                f"Notional {num(notional, 2)} is above the confirmation limit {num(limit, 2)}."
            )
        body = " ".join(said) + "\n" + (checked.preview.text() if checked.preview else "")
        for warning in checked.warnings:  # what the ticket warns of, said where it is sent
            body += f"\n{warning}"
        stale = self._stale_quote(checked)
        if stale:  # what the preview says of the market, said where the order is confirmed
            body += f"\n{stale}"
        what = order_text(request, checked.instrument)
        asked_notional = notional_asked or over
        self.app.push_screen(
            ConfirmScreen(
                f"Send {what} again?" if repeat else f"Send {what}?",
                body,
                confirm_label="Send again" if repeat else "Send",
            ),
            callback=lambda ok: self._confirmed(bool(ok), notional_asked=asked_notional),
        )
        return True

    def _repeat(self, now: float) -> str:
        """What was sent of the same order, when the ticket is unchanged since its last
        send and its answer came under `repeat_confirm_s` ago (`enter` pressed after F9
        to close a field sent it twice), or it never came and the order is still not
        known at the venue (it may be working: asked whatever its age); else empty."""
        window = self.desk.ui.repeat_confirm_s
        if not window or self._sent_draft is None or self._sent_draft != self.draft():
            return ""
        view = self.desk.view.order(self._sent_id)
        unanswered = self._sent_unanswered and (
            view is None or view.order.status is OrderStatus.PENDING_NEW
        )
        if now - self._answered_at >= window and not unanswered:
            return ""
        said = f"The same order went {_age(now - self._sent_at)} ago as {short_id(self._sent_id)}"
        if unanswered:
            said += ", with no answer yet (it may be working)"
        return said

    def _confirmed(self, ok: bool, *, notional_asked: bool = False) -> None:
        if not ok:
            self.sending = False
            self._status("not sent: cancelled", "warn")
            self._select_focused()
            return
        # The market may have moved while the dialog was open: check again, and ask of
        # a notional that crossed the limit meanwhile.
        checked = self.run_check()
        if not checked.ok or checked.request is None:
            self.sending = False
            self._keep_answer(self._fate_of)
            self._status(f"NOT SENT: {_count(checked.problems)}", "error", blocked=True)
            self._select_focused()
            self._show_every_problem()
            return
        if not self._ask(checked, "", notional_asked=notional_asked):
            self._send_request(checked)

    def _select_focused(self) -> None:
        """The ticket's field that gets the keyboard back from a confirmation answered
        no (or one whose order is no longer sendable) has its text selected, as a field
        taking the keyboard has (`select_on_focus`): the focus never left it, so no
        focus selected it, and with the cursor at its end `10` typed as a new quantity
        made `1010`."""
        focused = self.screen.focused
        if isinstance(focused, Input) and self in focused.ancestors:
            focused.select_all()

    def _send_request(self, checked: Checked) -> None:
        assert checked.request is not None
        self.sent_count += 1
        self._sent_at = self.desk.monotonic()
        self._sent_id = checked.request.client_order_id
        self._on_its_way = self._sent_id  # until its answer (`_submit`)
        self._sending_generation = self._generation
        self._sent_unanswered = False
        # This id is spent whatever the venue answers: the next attempt gets a new one.
        self.client_order_id = self.desk.new_order_id()
        self._sent_draft = None
        self._refused, self._answer_said = [], None  # another order, its own answer to come
        self._unzoom()  # the order is on its way: the desk again, its Orders pane
        self._status(f"sending {short_id(checked.request.client_order_id)} ...", "muted")
        self.run_worker(self._submit(checked, self.draft()), group="ticket", exit_on_error=False)

    async def _submit(self, checked: Checked, draft: Draft) -> None:
        request = checked.request
        assert request is not None
        generation = self._generation
        model = self.desk.model
        model.placing_order(request.client_order_id)
        said = False
        try:
            outcome = await self.desk.send(PlaceOrder(request=request))
            # Refused by the venue or the journal: this ticket's toast says so (below,
            # or `_answer_elsewhere`), and the order's REJECTED on the bus is not
            # toasted again. Sent with no answer yet, a later REJECTED is news.
            said = isinstance(outcome, Failed) and outcome.error_kind != "BrokerTimeout"
        finally:
            self.sending = False
            self._on_its_way = ""
            model.placed(request.client_order_id, rejection_said=said)
        if isinstance(outcome, Failed):
            # The order named short, as "sent ..." names it: an adapter's words name
            # the whole id ("no answer from paper/main to the order stmxddgy451jj..."),
            # which took most of a two-line toast at 80x24.
            coid = request.client_order_id
            outcome = outcome.model_copy(
                update={"error": outcome.error.replace(coid, short_id(coid))}
            )
        if generation != self._generation:
            self._answer_elsewhere(request, checked.instrument, outcome)
            return
        match outcome:
            case Accepted():
                sent = (
                    f"sent {short_id(request.client_order_id)}: {request.side} "
                    f"{amount_text(request, checked.instrument)} {request.instrument}"
                )
                if self.desk.view.order(request.client_order_id) is None:
                    where = (request.broker, request.account, request.instrument)
                    self._not_shown[request.client_order_id] = where
                    while len(self._not_shown) > NOT_SHOWN_KEPT:  # lost for good: forgotten
                        del self._not_shown[next(iter(self._not_shown))]
                if self.desk.bus_watch.lost:  # the Orders pane cannot show it yet
                    self._status(f"{sent}; BUS DOWN: shown when the bus is back", "warn")
                    self._sent_bus_down = sent  # said again once it is back (`run_check`)
                else:
                    self._status(sent, "ok")
                    self._sent_ok = sent  # BUS DOWN added if lost before it shows
                self.attempted = False
                self._sent_draft = draft
                self._answered_at = self.desk.monotonic()  # the repeat window runs from here
                # Flipped or edited while it was on its way: the ticket holds another
                # order now ("sent ...: BUY" stood over a SELL ticket).
                self._sent_said_as_last()
            case Refused(source="risk"):
                violations = [RiskViolation(p.rule, p.message, p.field) for p in outcome.problems]
                self._show_problems(risk_problems(violations, request=request), "risk rejected")
            case Refused():
                self._show_problems(
                    [Problem(p.field, p.rule, p.message) for p in outcome.problems], "invalid"
                )
            case Failed(error_kind="BrokerTimeout"):
                # Sent, and no answer: the order may be working at the venue. Never
                # "rejected" or "not placed": a trader who believes it sends it again.
                self._refused = [Problem("", outcome.error_kind, outcome.error)]
                self._status("NO ANSWER: it may be working, see below", "warn")
                self._fate_of = request.client_order_id  # said once heard of
                self._sent_draft = draft  # the preview says F9 again would be another
                self._sent_unanswered = True
                self._answered_at = self.desk.monotonic()
                self.app.notify(outcome.error, title="Order sent, no answer yet", severity="error")
            case Failed() if journal := journal_down_problem(outcome.error_kind, outcome.error):
                # A live broker sent nothing: what must be journaled before the order
                # goes could not be written (Redis lost as it went). Not the venue's
                # rejection (it read `REJECTED: why below`): a refusal like the gate's,
                # listed until the ticket changes, the fields kept to send again once
                # the journal is back.
                self._show_problems([journal], "journal down, why below")
                self.app.notify(outcome.error, title="Order not sent", severity="error")
            case Failed(error_kind="SendRefused"):
                # Journaled, then held back by the desk itself right before the venue
                # (its claim lapsed, the kill switch pulled while the journal writes
                # waited): nothing left the desk. It read `REJECTED: why below` and
                # "Order not placed", the venue's words (two drills).
                self._show_problems(
                    [Problem("", outcome.error_kind, outcome.error)], "held by this desk, why below"
                )
                self.app.notify(outcome.error, title="Order not sent", severity="error")
            case Failed():  # a broker's typed error: say what it said
                # Beside Send only the word: the reason goes under it, across the
                # ticket's width (in the strip beside Send it wrapped to 20 columns and
                # broke an order id from its colon).
                self._refused = [Problem("", outcome.error_kind, outcome.error)]
                self._status("REJECTED: why below", "error")
                self.app.notify(outcome.error, title="Order not placed", severity="error")
        self.run_check()

    def _answer_elsewhere(
        self, request: OrderRequest, instrument: Instrument | None, outcome: Outcome
    ) -> None:
        """The answer to an order sent from a ticket the trader has since left for a
        new one: said in a notice naming the order, the new ticket left as it is."""
        if self._waits_for_answer:
            self._waits_for_answer = False
            self._status("")  # "... is still on its way": answered now
        what = f"{short_id(request.client_order_id)} {order_text(request, instrument)}"
        match outcome:
            case Accepted():
                self.app.notify(what, title="Order sent", severity="information")
            case Refused():
                said = "; ".join(p.message for p in outcome.problems)
                self.app.notify(f"{what}: {said}", title="Order not sent", severity="error")
            case Failed(error_kind="BrokerTimeout"):
                self.app.notify(
                    f"{what}: {outcome.error}", title="Order sent, no answer yet", severity="error"
                )
            case Failed() if outcome.error_kind == "SendRefused" or journal_down_problem(
                outcome.error_kind, outcome.error
            ):
                self.app.notify(
                    f"{what}: {outcome.error}", title="Order not sent", severity="error"
                )
            case Failed():
                self.app.notify(
                    f"{what}: {outcome.error}", title="Order not placed", severity="error"
                )

    def _show_problems(self, problems: list[Problem], what: str) -> None:
        """The send was refused: its problems stay listed (`_refused`) until the ticket
        changes; the check that follows adds the ticket's own above them."""
        self._refused = problems
        self._status(f"NOT SENT: {what}", "error")
        self._show_every_problem()

    def _keep_answer(self, fate: str) -> None:
        """A press of the fire key refused by the ticket's own check: the last send's
        answer (`_refused`) stays listed, and what was said of it (with `fate`, the
        order it followed) is kept to be said again once the check's problems are
        fixed (`_show`). Pressed again while refused, the first answer's words stay."""
        if not self._refused:
            self._answer_said = None
        elif not self._blocked:
            self._answer_said = (self._said, fate, self._fate_said)

    def _ticket_changed(self) -> None:
        """Something on the ticket changed: what the last send was refused for is about
        an order no longer on it."""
        self._opened_at = float("-inf")  # typed in: enter sends (`_submitted`)
        self._fate_of = ""  # another order on the ticket: the last one's fate not said on it
        self._answer_said = None
        self._sent_said_as_last()
        if self._refused:
            self._refused = []
            if not self._blocked:
                self._status("")

    def _sent_said_as_last(self) -> None:
        """The ticket no longer holds the order sent from it: "sent 5xarwrz4: BUY 0.02
        BTCUSDT" beside Send, over a ticket flipped to SELL (`ctrl+s`) or edited, read as
        what it now held. Said as the last one sent, dimmed ("last sent ..."); a BUS DOWN
        beside it stays a warning, and what follows it (`run_check`) says it so too."""
        if self._sent_draft is None or self._sent_draft == self.draft():
            return
        if self._sent_ok is not None and not self._sent_ok.startswith(LAST):
            last = LAST + self._sent_ok
            self._status(last, "muted")
            self._sent_ok = last  # BUS DOWN still added if lost before it shows
        elif self._sent_bus_down is not None and not self._sent_bus_down.startswith(LAST):
            last = LAST + self._sent_bus_down
            self._status(f"{last}; BUS DOWN: shown when the bus is back", "warn")
            self._sent_bus_down = last

    def _show_every_problem(self) -> None:
        """NOT SENT, or the last send's answer listed (`_refused`: a venue's REJECTED
        and its reason, NO ANSWER's advice, the engine's refusal), the ticket having
        the keyboard: every problem on the screen, whole. Where the ticket's pane is
        too short for them (the grid at 100x28: its seven rows of fields left three
        lines under Send, and the problems and the preview fell below the fold, out of
        reach of the keyboard; at 120x36 IB's margin rejection ended under the pane's
        edge, its `reduce the size` out of sight, and no key scrolled it from a field),
        the pane zooms, as F11 does, once the new text is laid out: on F9, on the
        answer, on a problem more while the ticket says NOT SENT, on coming back to
        such a ticket. It goes back when the order leaves (`_send_request`), on a new
        ticket, or when the trader leaves the field (`esc`, which ends the zoom with
        it: `_maximized`). Cut even so (a list longer than the screen), the problems
        are scrolled into view."""
        if self._fit_pending or not self.has_focus_within:
            return
        self._fit_pending = True
        self.call_after_refresh(self._zoom_if_cut)

    def _zoom_if_cut(self) -> None:
        self._fit_pending = False
        if not self.is_attached or not self.has_focus_within or not self.size.height:
            return  # (no height: a pane not laid out, nothing to measure)
        if self.app.screen is not self.screen:
            return  # under a dialog (the kill switch's): looked at again once it is gone
        problems = self.query_one("#t-problems", TextBlock)
        # Cut: the problems end below the pane's last row, the ticket scrolled to its top
        # (the preview under them may be cut: it is of an order not sent).
        if (
            not problems.display
            or problems.virtual_region.bottom <= self.scrollable_content_region.height
        ):
            return
        from ..screens.main import MainScreen, Pane

        pane = self.parent
        screen = self.screen
        # One pane at a time the ticket has the screen already: a zoom would only trade
        # the pane bar for a border.
        grid = isinstance(screen, MainScreen) and not screen.compact
        if grid and isinstance(pane, Pane) and screen.maximized is None:
            screen.maximize(pane, container=False)
            self._zoomed = True
            self._fit_pending = True
            self.call_after_refresh(self._zoom_if_cut)  # laid out again: still cut?
            return
        self.scroll_to_widget(problems, animate=False)  # the least scroll that shows them

    def _unzoom(self) -> None:
        """The zoom `_show_every_problem` opened, closed (one the trader opened stays)."""
        if not self._zoomed:
            return
        self._zoomed = False
        pane = self.parent
        if self.is_attached and self.screen.maximized is pane:
            self._unzooming = True  # the field keeps the keyboard (`_maximized`)
            try:
                self.screen.minimize()
            finally:
                self._unzooming = False

    def _focus_problem(self, problems: list[Problem]) -> None:
        """The keyboard to the first field a problem is mended in: not the Account
        for the desk's or the broker's own (listed first, `ranked`), which no choice
        there mends."""
        mended = [p for p in problems if p.rule not in DESK_RULES]
        for problem in mended or problems:
            try:
                widget = self.query_one(f"#t-{ROW_OF.get(problem.field, problem.field)}")
            except Exception:
                continue
            if widget.focusable:
                focus_now(widget)
                return

    def _status(self, text: str, kind: str = "", *, blocked: bool = False) -> None:
        """`blocked`: the ticket's own problems stopped the send; the status follows
        them as they are fixed (`_show`)."""
        self._blocked = blocked
        self._said = (text, kind)
        self._waits_for_answer = False
        self._fate_of = ""  # something else beside Send (`_say_fate` says it again)
        self._fate_said = None
        self._sent_bus_down = None
        self._sent_ok = None
        self._signal_row = None  # another word beside Send: the signal's is not said again
        status = self.query_one("#t-status", TextBlock)
        status.set_text(text)
        for name in ("ok", "error", "warn", "muted"):
            status.set_class(kind == name, f"-{name}")

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        """Enter in a field sends, unless it comes within `fire_debounce_s` of the key
        that opened the ticket with nothing changed on it since: enter on a position or
        a signal opens one, and the same key pressed twice (a double press, a bouncing
        key) sent it unseen. A ticket typed in (`b`, a quantity, enter) sends."""
        event.stop()
        if self.desk.monotonic() - self._opened_at < self.desk.fire_debounce_s:
            return
        self.action_fire()

    @on(Button.Pressed, "#t-send")
    def _pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_fire()

    # -- other keys --------------------------------------------------------------------------

    def action_flip_side(self) -> None:
        side = self._choice("side")
        side.value = Side(side.value).opposite.value

    @on(events.DescendantFocus)
    @on(events.DescendantBlur)
    def _focus_moved(self) -> None:
        self._mark_editing(self.screen.focused)
        if self._blocked or self._refused:  # back on NOT SENT or an answer: all in sight
            self._show_every_problem()

    def _mark_editing(self, widget: object) -> None:
        """The row of the field that has the keyboard is marked, and the pane's lower
        border says what keys do there."""
        editing = ""
        for name in ORDER:
            row = self.query_one(f"#row-{name}")
            has = isinstance(widget, Input | Choice) and widget.id == f"t-{name}"
            row.set_class(has, "-editing")
            if has:
                editing = name
        from ..screens.main import Pane

        pane = self.parent
        if not isinstance(pane, Pane):
            return
        leave = named_key(self, "ticket.leave")
        leave = leave[:1].upper() + leave[1:]  # `Esc`: it starts the clause
        # Longest first, each shorter: the pane shows the first its edge has room for
        # (`Pane.set_subtitle`); at 120x36 a choice's hint read `Type: left/right or a
        # letter - Esc le…`, cut by an ellipsis.
        label = LABELS[editing] if editing else ""
        if not editing:
            hints = [""]
        elif editing in INPUTS:
            hints = [
                f"typing in {label} - {leave} leaves the field",
                f"typing in {label} - {leave} leaves",
                f"typing in {label}",
            ]
        else:
            hints = [
                f"{label}: left/right or a letter - {leave} leaves",
                f"{label}: left/right - {leave} leaves",
                f"{label}: left/right",
            ]
        pane.set_subtitle(*hints)  # the pane's bottom edge only, not the whole ticket

    def action_leave(self) -> None:
        self.app.action_focus_pane("watchlist")  # type: ignore[attr-defined]

    def _fields(self) -> list[Widget]:
        """The fields that take the keyboard now, in the ticket's order (a row not
        used for this order, `-unused`, is not displayed and not among them)."""
        fields = []
        for name in ORDER:
            field = self.query_one(f"#t-{name}")
            if field.focusable and self.query_one(f"#row-{name}").display:
                fields.append(field)
        return fields

    def _step(self, by: int) -> None:
        fields = self._fields()
        if not fields:
            self.app.bell()
            return
        focused = self.screen.focused
        if focused not in fields:
            focus_now(fields[0] if by > 0 else fields[-1])
            return
        assert focused is not None
        n = fields.index(focused) + by
        if 0 <= n < len(fields):
            focus_now(fields[n])  # a text field's value selected as it takes the keyboard
        else:
            self.app.bell()  # the last field (or the first): no wrap, nothing past it

    def action_next_field(self) -> None:
        self._step(1)

    def action_previous_field(self) -> None:
        self._step(-1)


def _plain(value: Decimal) -> str:
    return f"{value:f}"


def _age(seconds: float) -> str:
    """`1s`, `42s`, `3m`: how long ago an order went."""
    whole = max(1, round(seconds))
    return f"{whole}s" if whole < 120 else f"{whole // 60}m"


def _count(problems: list[Problem]) -> str:
    return f"{len(problems)} problem{'' if len(problems) == 1 else 's'}"


def _problem_text(problems: list[Problem]) -> Text:
    text = Text(no_wrap=False)
    for n, problem in enumerate(problems):
        if n:
            text.append("\n")
        if problem.field:
            text.append(f"{problem.label}: ", style="bold")
        text.append(problem.said)
        text.append(f" [{problem.rule}]", style="dim")
    return text
