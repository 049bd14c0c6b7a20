"""The pre-trade risk gate: every order passes here before it reaches a broker.

Each rejection names the rule and the numbers, e.g.
`max_notional: notional 125,000.00 USDT > max 100,000.00`.
"""

from __future__ import annotations

import time
from collections import defaultdict, deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import NamedTuple, Protocol

from ..config import RiskConfig
from ..domain import (
    Capabilities,
    ConnectionState,
    Instrument,
    Order,
    OrderRequest,
    OrderType,
    Side,
    TradingState,
    reduce_limit,
)
from ..domain.money import fmt, normalized, quantized

TRADABLE = frozenset({ConnectionState.LIVE, ConnectionState.DEGRADED})

NOT_FOR_MODIFY = frozenset({"max_open_orders", "order_rate"})
"""Rules a change to a working order is not checked against: it opens no new order."""


class Terms(NamedTuple):
    """An order's terms a change may move: what it works at."""

    quantity: Decimal
    limit_price: Decimal | None
    stop_price: Decimal | None


def terms_of(order: Order) -> Terms:
    """The terms the order holds (as the OMS last read them back)."""
    return Terms(order.quantity, order.limit_price, order.stop_price)


def modify_violations(
    check: Callable[[OrderRequest], list[RiskViolation]],
    order: Order,
    *,
    quantity: Decimal | None = None,
    limit_price: Decimal | None = None,
    stop_price: Decimal | None = None,
    standing: Sequence[Terms] = (),
) -> list[RiskViolation]:
    """The rules a change to `order` breaks, by `check` (a gate's check of a request):
    the engine's with its own gate before a modify, the modify dialog's with the
    ticket's copy before it sends.

    `standing`: every terms the order may stand at when the change reaches the venue,
    newest first (the engine's: the changes it sent that the OMS has not read back, see
    `in_flight.ChangesInFlight`, then the order's own); by default the order's own. A
    change sends only the fields it gives, the venue keeps the rest as it holds them, so
    the change is judged as it would leave the order from each: the rules it breaks
    from the first (newest) that breaks one."""
    bases = dict.fromkeys(standing or (terms_of(order),))
    for base in bases:
        changed = modified_request(
            order, quantity=quantity, limit_price=limit_price, stop_price=stop_price, base=base
        )
        if (
            order.filled_qty
            and changed.quantity is not None
            and changed.quantity > order.filled_qty
        ):
            # What the change leaves working, as the rules about position and size judge
            # it: what filled is in the position already. Judged whole, a price change of
            # a half-filled exit was refused in REDUCE ONLY ("a sell of 2 would take
            # position 1 through zero") when 1 was left to sell.
            changed = changed.model_copy(update={"quantity": changed.quantity - order.filled_qty})
        found = [v for v in check(changed) if v.rule not in NOT_FOR_MODIFY]
        if found:
            return found
    return []


def modified_request(
    order: Order,
    *,
    quantity: Decimal | None = None,
    limit_price: Decimal | None = None,
    stop_price: Decimal | None = None,
    base: Terms | None = None,
) -> OrderRequest:
    """The order as it would stand after a change (None: that field unchanged, as in
    `base`: the terms the change starts from, by default the order's own)."""
    if base is None:
        base = terms_of(order)
    return order.request.model_copy(
        update={
            "quantity": quantity if quantity is not None else base.quantity,
            "limit_price": limit_price if limit_price is not None else base.limit_price,
            "stop_price": stop_price if stop_price is not None else base.stop_price,
        }
    )


@dataclass(frozen=True, slots=True)
class RiskViolation:
    rule: str
    message: str
    # The request field the rule is about when it names one (`supported`: order_type,
    # tif or post_only); "" when the ticket maps the rule itself.
    field: str = ""

    def __str__(self) -> str:
        return f"{self.rule}: {self.message}"


class RiskRejected(Exception):
    """The gate refused the order; nothing was sent."""

    def __init__(self, violations: list[RiskViolation]) -> None:
        self.violations = violations
        super().__init__("; ".join(str(v) for v in violations))


class RiskContext(Protocol):
    """What the gate needs to know about the world (the engine provides it)."""

    def last_price(self, instrument: str) -> Decimal | None:
        """The mark: the latest quote's mid, or its last trade when it has no mid."""
        ...

    def mark_basis(self, instrument: str) -> str:
        """What `last_price` is: `mid`, `last trade`, or "" when there is none."""
        ...

    def working_quantity(
        self, broker: str, account: str, instrument: str, side: Side, exclude: str = ""
    ) -> Decimal:
        """Unfilled quantity of the working orders on one side (`exclude`: an order id
        not to count, the one being modified)."""
        ...

    def owed_quantity(
        self, broker: str, account: str, instrument: str, side: Side, exclude: str = ""
    ) -> Decimal:
        """The part of `working_quantity` that works no more: FILLED at the venue, its
        fills not arrived (`Order.owed_qty`). Said apart: "already working" sent the
        trader looking for an order that is not there."""
        ...

    def live_money(self, broker: str) -> bool:
        """True if the broker trades real money (`live: true` in its config)."""
        ...

    def journal_problem(self) -> str:
        """Why execution events are not being written to the journal now; "" if they are."""
        ...

    def open_orders(self, broker: str) -> int: ...

    def position(self, broker: str, account: str, instrument: str) -> Decimal: ...

    def broker_state(self, broker: str) -> ConnectionState: ...

    def instrument(self, broker: str, key: str) -> Instrument | None: ...

    def capabilities(self, broker: str) -> Capabilities | None:
        """What the broker's venue takes (None: the broker is not known here)."""
        ...


def _pct(value: Decimal) -> str:
    return f"{quantized(value, Decimal('0.01'))}%"


def reduce_only_excess(position: Decimal, orders: Iterable[Order]) -> list[str]:
    """Which working reduce-only `orders` (of one instrument and account, oldest first)
    would now take `position` through zero: at a venue that does not keep them from it
    (`Capabilities.reduce_only_native`), one placed to close a position another order
    closed since would open the other side when it fills. The oldest that still fit
    in what is left to reduce stay; the ids of the rest."""
    room = {side: reduce_limit(position, side, Decimal(0)) for side in Side}
    excess: list[str] = []
    for order in orders:
        leaves = order.leaves_qty
        side = order.request.side
        if leaves <= room[side]:
            room[side] -= leaves
        else:
            excess.append(order.client_order_id)
    return excess


def _notional_made_of(
    request: OrderRequest, instrument: Instrument | None, price: Decimal | None
) -> str:
    """What a notional is made of when quantity times price is not all of it: ` (1 x
    5,900.00 x 50 multiplier)` for a future of multiplier 50 (`1 x mark 5,900.25 x 50
    multiplier` for a MARKET order, judged at the mark). "" when the multiplier is 1,
    or the amount typed is the notional itself (by quote): the ticket then says
    `(Qty x Price)` after the message."""
    if (
        instrument is None
        or instrument.multiplier == 1
        or request.quote_quantity is not None
        or request.quantity is None
        or price is None
    ):
        return ""
    if request.order_type is OrderType.MARKET:
        price_said = f"mark {instrument.mark_text(price)}"
    else:
        price_said = instrument.price_text(price)
    return (
        f" ({fmt(normalized(request.quantity))} x {price_said} x "
        f"{fmt(normalized(instrument.multiplier))} {MULTIPLIER_WORD})"
    )


MULTIPLIER_WORD = "multiplier"
"""The word a notional's multiplier is named by (the ticket reads it: a message naming
its own sum gets no `(Qty x Price)` after it)."""


def _reduce_problem(
    request: OrderRequest,
    quantity: Decimal,
    position: Decimal,
    working_same: Decimal,
    owed: Decimal = Decimal(0),
) -> tuple[str, str]:
    """Why the order of `quantity` (base) would not only reduce the position ("" if it
    would), and the ticket field it is mended in: the side of an order that adds, the
    quantity of one that goes through zero ("" with nothing to reduce). `owed`: the
    part of `working_same` FILLED whose fills are on their way."""
    side = request.side.value.lower()
    largest = reduce_limit(position, request.side, working_same)
    if quantity <= largest:
        return "", ""
    # Quantities as the panes show them: no trailing zeros of the arithmetic (-0.7,
    # not -0.70000).
    position, quantity, working_same, largest = (
        v.normalize() for v in (position, quantity, working_same, largest)
    )
    if position == 0:
        return "", f"position is 0, nothing to reduce; largest allowed {fmt(largest)}"
    if (position > 0) == (request.side.sign > 0):
        return "side", f"a {side} adds to position {fmt(position)}; largest allowed {fmt(largest)}"
    return "quantity", (
        f"a {side} of {fmt(quantity)} would take position {fmt(position)} through "
        f"zero{_ahead_words(side, working_same, owed.normalize())}; largest allowed "
        f"{fmt(largest)}"
    )


def _ahead_words(side: str, ahead: Decimal, owed: Decimal) -> str:
    """What is ahead of the order on its side: working, or FILLED with its fill on its
    way (the position does not hold it yet), or both."""
    if not ahead:
        return ""
    working = ahead - owed
    if not owed:
        return f" with {fmt(working)} already working to {side}"
    filled = f"{fmt(owed)} FILLED to {side}, not in the position yet"
    if working <= 0:
        return f" with {filled}"
    return f" with {fmt(working)} already working to {side} and {filled}"


class RiskGate:
    def __init__(self, config: RiskConfig, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        self._state = config.initial_state
        self.held_here = ""
        """Why the state is this desk's alone, one the risk stream does not hold
        (`hold_here`); "" once any state is set after it."""
        self._clock = clock
        self._sent: dict[str, deque[float]] = defaultdict(deque)

    @property
    def state(self) -> TradingState:
        return self._state

    @state.setter
    def state(self, state: TradingState) -> None:
        """A state set here or read from the risk stream (this desk's own change, another
        desk's entry): it ends a state held here alone (`held_here`)."""
        self._state = state
        self.held_here = ""

    def hold_here(self, state: TradingState, why: str) -> None:
        """Trade in `state` on this desk alone, for `why`, journaling nothing: the start's
        check when the risk stream may have lost the trading state (`last_run`). The next
        state set (this desk's trader's, or another desk's read from the stream) ends it;
        meanwhile the stream is not trimmed (`recovery.trim_risk_stream`: its carried
        state would journal this one for every desk)."""
        self._state = state
        self.held_here = why

    def check(self, request: OrderRequest, ctx: RiskContext) -> list[RiskViolation]:
        found: list[RiskViolation] = []
        limits = self.config.limits_for(request.broker, request.instrument)
        position = ctx.position(request.broker, request.account, request.instrument)
        last = ctx.last_price(request.instrument)
        # An order by quote amount is sized by the venue: the rules about base
        # quantity judge it at the mark (about what it buys or sells there).
        quantity = request.base_quantity(last)
        unsized = quantity is None
        base = quantity if quantity is not None else Decimal(0)
        signed = base * request.side.sign
        after = position + signed

        # Only the rules that need it pay for the scan of the working orders.
        needs_working = (
            self.state is TradingState.REDUCE_ONLY
            or request.reduce_only
            or limits.max_position is not None
        )
        working_same = (
            ctx.working_quantity(
                request.broker,
                request.account,
                request.instrument,
                request.side,
                exclude=request.client_order_id,
            )
            if needs_working
            else Decimal(0)
        )
        owed = (
            ctx.owed_quantity(
                request.broker,
                request.account,
                request.instrument,
                request.side,
                exclude=request.client_order_id,
            )
            if working_same
            else Decimal(0)
        )
        if self.state is TradingState.HALTED:
            found.append(
                RiskViolation("trading_state", "trading is HALTED (kill switch); resume first")
            )
        needs_size = (
            self.state is TradingState.REDUCE_ONLY
            or request.reduce_only
            or limits.max_position is not None
            or limits.max_quantity is not None
        )
        if unsized and needs_size and self.state is not TradingState.HALTED:
            found.append(
                RiskViolation(
                    "no_price",
                    f"no market price (mid or last trade) for {request.instrument} to judge "
                    "how much an amount in the quote currency buys or sells; wait for a "
                    "quote or give a quantity",
                    field="quote_quantity",
                )
            )
        elif self.state is TradingState.REDUCE_ONLY:
            where, problem = _reduce_problem(request, base, position, working_same, owed)
            if problem:
                found.append(
                    RiskViolation("trading_state", f"trading is REDUCE ONLY: {problem}", where)
                )
        if request.reduce_only and not unsized:
            where, problem = _reduce_problem(request, base, position, working_same, owed)
            if problem:
                found.append(
                    RiskViolation("reduce_only", f"order marked reduce-only: {problem}", where)
                )
        if (
            self.config.live_requires_journal
            and ctx.live_money(request.broker)
            and (journal := ctx.journal_problem())
        ):
            found.append(
                RiskViolation(
                    "journal_down",
                    f"broker {request.broker} trades real money and {journal}: nothing was "
                    "sent; send it again once the journal is written (the bus in Health, "
                    "6); cancels still go through",
                )
            )
        if self.config.require_live:
            state = ctx.broker_state(request.broker)
            if state not in TRADABLE:
                found.append(
                    RiskViolation(
                        "broker_not_live", f"broker {request.broker} is {state}; orders need LIVE"
                    )
                )
        # What the venue cannot take is refused here, before anything is journaled.
        capabilities = ctx.capabilities(request.broker)
        if capabilities is not None:
            for issue in capabilities.issues(
                request.broker,
                request.order_type,
                request.tif,
                post_only=request.post_only,
                quote_quantity=request.by_quote,
            ):
                found.append(RiskViolation(issue.rule, issue.message, field=issue.field))
        if (
            limits.max_quantity is not None
            and quantity is not None
            and quantity > limits.max_quantity
        ):
            about = f"about {fmt(quantity, 8)} at mark {fmt(last)}" if request.by_quote else ""
            found.append(
                RiskViolation(
                    "max_quantity",
                    f"quantity {about or fmt(quantity)} > max {fmt(limits.max_quantity)}",
                )
            )

        instrument = ctx.instrument(request.broker, request.instrument)
        currency = instrument.quote_currency if instrument else ""
        multiplier = instrument.multiplier if instrument else Decimal(1)
        price = (
            last
            if request.order_type is OrderType.MARKET
            else (request.limit_price or request.stop_price)
        )
        notional = request.notional_at(price, multiplier)
        if limits.max_notional is not None:
            if notional is None:
                found.append(
                    RiskViolation(
                        "max_notional",
                        f"no market price (mid or last trade) for {request.instrument} to "
                        "judge the notional; "
                        "wait for a quote or use a limit order",
                    )
                )
            else:
                if notional > limits.max_notional:
                    made_of = _notional_made_of(request, instrument, price)
                    found.append(
                        RiskViolation(
                            "max_notional",
                            f"notional {fmt(notional, 2)} {currency}{made_of} > max "
                            f"{fmt(limits.max_notional, 2)}".replace("  ", " "),
                        )
                    )
        if limits.price_collar_pct is not None and last is not None and last > 0:
            basis = ctx.mark_basis(request.instrument)
            # Prices as the desk prints them: on the instrument's tick.
            said = instrument.price_text if instrument else fmt
            mark_said = instrument.mark_text(last) if instrument else fmt(last.normalize())
            mark = f"mark {mark_said}" + (f" ({basis})" if basis else "")
            for name, value in (
                ("limit_price", request.limit_price),
                ("stop_price", request.stop_price),
            ):
                if value is None:
                    continue
                away = abs(value - last) / last * 100
                if away > limits.price_collar_pct:
                    found.append(
                        RiskViolation(
                            "price_collar",
                            f"{name} {said(value)} is {_pct(away)} from {mark} "
                            f"> collar {fmt(limits.price_collar_pct)}%",
                        )
                    )
        if limits.max_open_orders is not None:
            working = ctx.open_orders(request.broker)
            if working >= limits.max_open_orders:
                found.append(
                    RiskViolation(
                        "max_open_orders",
                        f"open orders {working} >= max {limits.max_open_orders}",
                    )
                )
        if limits.max_orders_per_s is not None:
            recent = self._recent(request.broker)
            if len(recent) >= limits.max_orders_per_s:
                found.append(
                    RiskViolation(
                        "order_rate",
                        f"{len(recent)} orders in the last second >= max "
                        f"{limits.max_orders_per_s:g}/s",
                    )
                )
        # The worst case: every working order on this side fills too.
        worst = after + working_same * request.side.sign
        if limits.max_position is not None and not unsized and abs(worst) > limits.max_position:
            found.append(
                RiskViolation(
                    "max_position",
                    f"position after fill {fmt(worst)} > max {fmt(limits.max_position)} "
                    f"(position {fmt(position)}, working {request.side.value.lower()} "
                    f"{fmt(working_same)}, this order {fmt(signed)})",
                )
            )
        return found

    def _recent(self, broker: str) -> deque[float]:
        sent = self._sent[broker]
        horizon = self._clock() - 1.0
        while sent and sent[0] <= horizon:
            sent.popleft()
        return sent

    def record_sent(self, broker: str) -> None:
        # Pruned here too: with no order-rate limit nothing else prunes it, and it kept
        # every order's send time for the whole session.
        self._recent(broker).append(self._clock())

    def enforce(self, request: OrderRequest, ctx: RiskContext) -> None:
        """Raise `RiskRejected` if any rule is broken; else count the order for the rate."""
        violations = self.check(request, ctx)
        if violations:
            raise RiskRejected(violations)
        self.record_sent(request.broker)
