"""The simulated account: cash per currency, positions per instrument, reservations.

A securities-style account: buying an instrument pays its quote currency and opens a
position in the instrument (not a balance of the base currency). Cash is exact Decimal
arithmetic; for every fill ``cash change + signed quantity * price * multiplier ==
-fee`` holds exactly, which is what the conservation property test checks.

What it reports of a position has bounded places, as a venue's reports do
(docs/paper-simulator.md, "The account"):

- the average price is the cost of the open quantity over it, rounded half-even once to
  the tick's places + `AVG_EXTRA_PLACES` (`average`): 300.07 / 3 is 100.023333 on a
  0.01 tick, not 100.0233333333333333333333333 (an unrounded quotient's 28 digits);
- the position keeps the exact cost of its open quantity (`PositionState.cost`: the
  notionals of the fills that opened and grew it): a reduction is booked against the
  average reported, exactly (closed x (price - average)), and takes that much cost
  off; closing it flat (or through zero) takes the rest, so a round trip realizes
  exactly what its sells brought in less what its buys cost. Short of flat, realized
  P&L is within half a unit of the average's last place per unit closed of the exact
  average-cost figure, and has at most the lot's + the average's (+ the multiplier's)
  places.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from decimal import MAX_EMAX, MIN_EMIN, ROUND_DOWN, ROUND_HALF_EVEN, ROUND_HALF_UP, Context, Decimal

from ...domain import ZERO, Instrument, Side
from ...domain.money import WIDE_DIGITS_MAX, decimal_places, quantize_to_step, quantized

AVG_EXTRA_PLACES = 4
"""An average price has the instrument's tick places and at most this many more."""

_EXACT = Context(prec=WIDE_DIGITS_MAX, Emax=MAX_EMAX, Emin=MIN_EMIN)
# Quotients cut toward zero at 60 digits (an average's integer part and its places
# take far fewer; a product in it is cut toward zero too: see `average`).
_CUT = Context(prec=60, rounding=ROUND_DOWN, Emax=MAX_EMAX, Emin=MIN_EMIN)
_UNITS: dict[int, Decimal] = {}


def _unit(places: int) -> Decimal:
    unit = _UNITS.get(places)
    if unit is None:
        unit = _UNITS[places] = Decimal(1).scaleb(-places)
    return unit


def _on_places(value: Decimal, least: int) -> Decimal:
    """`value` (exact at its places) written with its own places, `least` at least: no
    trailing zeros beyond them (2,000.65, not 2,000.650000)."""
    return quantized(value, _unit(max(least, decimal_places(value))))


def average(value: Decimal, quantity: Decimal, tick_places: int) -> Decimal:
    """`value / quantity` (a notional over its quantity: an average price), rounded
    half-even to `tick_places` + `AVG_EXTRA_PLACES`, with one rounding (never a
    quotient first rounded to the context's 28 digits, then rounded again), and written
    with the tick's places at least, trailing zeros beyond them off.

    The quotient is cut toward zero at 60 digits: exact when its product with the
    quantity (cut toward zero as well, so never above the true one) gives `value`
    back, and rounded half-even then; cut short, the true value lies past it, so a cut
    quotient that reads as a tie is past the tie and is rounded away from zero
    (half-up: otherwise the same as half-even). A fill runs this twice; a quotient too
    long for 60 digits takes the exact grid (`quantize_to_step`)."""
    places = tick_places + AVG_EXTRA_PLACES
    unit = _unit(places)
    quantity = quantity.copy_abs()
    cut = _CUT.divide(value, quantity)
    if cut.adjusted() + places + 2 > _CUT.prec:
        on_grid = quantize_to_step(value, _EXACT.multiply(quantity, unit))
        return _on_places(_EXACT.divide(on_grid, quantity), tick_places)
    if _CUT.multiply(cut, quantity) == value:  # exact
        on_tick = cut.quantize(_unit(tick_places), context=_EXACT)
        if on_tick == cut:
            return on_tick  # (one fill, or fills at one price: the usual case)
        rounded = cut.quantize(unit, ROUND_HALF_EVEN, _EXACT)
    else:
        rounded = cut.quantize(unit, ROUND_HALF_UP, _EXACT)
    for shorter in range(places - 1, tick_places - 1, -1):
        on = rounded.quantize(_unit(shorter), context=_EXACT)
        if on != rounded:
            break
        rounded = on
    return rounded


def bounded(value: Decimal, places: int) -> Decimal:
    """`value` rounded half-even to `places` if it has more (a figure an older build
    journaled unrounded); as it is otherwise."""
    return quantized(value, _unit(places)) if decimal_places(value) > places else value


@dataclass(frozen=True, slots=True)
class _Places:
    tick: int  # an average has these places at least
    pnl: int  # and a realized P&L at most these (lot + tick + extra + multiplier's)


@dataclass(frozen=True, slots=True)
class PositionState:
    """A signed position (negative is short); replaced, never mutated (a snapshot)."""

    instrument: str
    currency: str
    quantity: Decimal = ZERO
    avg_price: Decimal | None = None
    realized_pnl: Decimal = ZERO
    fees: Decimal = ZERO  # paid on this instrument, in `currency`
    # The exact cost of the open quantity (in the quote currency, before the
    # multiplier; positive, short or long): what the average is rounded from. None:
    # not known (a position read back with no average), taken at the next fill's price.
    cost: Decimal | None = None


@dataclass(frozen=True, slots=True)
class CashState:
    """A currency's cash: `available` is what working orders leave unlocked (`total -
    locked`), `buying_power` what the venue lets the next order spend
    (`Account.buying_power`, the figure its funds check refuses against). They differ
    by what a filled short holds back (its proceeds and margin, which no order locks)
    and by leverage. The adapter publishes the buying power as the balance's
    available: the desk read a short's proceeds as free cash, and its ticket passed a
    buy the venue then refused."""

    currency: str
    total: Decimal
    available: Decimal
    locked: Decimal
    buying_power: Decimal


class Account:
    """Cash, positions, and what working orders reserve.

    `locked` is cash reserved by working orders (per currency), `locked_qty` the position
    reserved by working sells (per instrument). Buying power is on the account's
    equity, positions at their cost (`buying_power`); a cash account has leverage 1.
    """

    __slots__ = (
        "_multipliers",
        "_places",
        "cash",
        "leverage",
        "locked",
        "locked_qty",
        "positions",
        "short_selling",
    )

    def __init__(
        self,
        cash: Mapping[str, Decimal],
        *,
        leverage: Decimal = Decimal(1),
        short_selling: bool = False,
        instruments: Iterable[Instrument] = (),
    ) -> None:
        self.cash: dict[str, Decimal] = dict(cash)
        self.locked: dict[str, Decimal] = {}
        self.locked_qty: dict[str, Decimal] = {}
        self.positions: dict[str, PositionState] = {}
        self.leverage = leverage
        self.short_selling = short_selling
        # The places of what a position reports, per instrument (an instrument it was
        # not given: its average on the places of the fill's price, + the extra).
        self._places: dict[str, _Places] = {
            inst.key: _Places(
                inst.tick_places,
                decimal_places(inst.lot_size)
                + inst.tick_places
                + AVG_EXTRA_PLACES
                + decimal_places(inst.multiplier),
            )
            for inst in instruments
        }
        self._multipliers: dict[str, Decimal] = {
            inst.key: inst.multiplier for inst in instruments if inst.multiplier != 1
        }

    # -- reading --------------------------------------------------------------------

    def position_qty(self, instrument: str) -> Decimal:
        pos = self.positions.get(instrument)
        return pos.quantity if pos is not None else ZERO

    def _cost(self, pos: PositionState) -> Decimal:
        """The cost of a position's open quantity in its currency (multiplier applied;
        positive, long or short). One read back with no cost: at its average (none
        known: 0, as nothing can value it)."""
        cost = pos.cost
        if cost is None:
            cost = abs(pos.quantity) * pos.avg_price if pos.avg_price is not None else ZERO
        return cost * self._multipliers.get(pos.instrument, Decimal(1))

    def buying_power(self, currency: str) -> Decimal:
        """``equity * leverage - sum |position cost| - locked``, with ``equity = cash +
        sum signed position cost`` (positions in `currency`, at their cost).

        With leverage 1 and no positions it is ``cash - locked``; a long position costs
        what it paid (``cash - locked`` again). A short keeps its proceeds and the
        margin its sell reserved: both are taken off (``cash - 2 * cost - locked``), so
        a filled short's proceeds never pay for the next one. With leverage the debt a
        leveraged buy leaves is not multiplied: a position bought in two orders leaves
        the buying power one order of the same size leaves.
        """
        cash = self.cash.get(currency, ZERO)
        signed = ZERO
        gross = ZERO
        for pos in self.positions.values():
            if pos.currency != currency or not pos.quantity:
                continue
            cost = self._cost(pos)
            signed += cost if pos.quantity > 0 else -cost
            gross += cost
        return (cash + signed) * self.leverage - gross - self.locked.get(currency, ZERO)

    def cover_credit(self, instrument: str, qty: Decimal, notional: Decimal) -> Decimal:
        """What a buy of `qty` (for `notional`, multiplier applied) gives back to buying
        power on top of its need (`notional` + leverage x its fee) by covering the short
        of `instrument`: the covered part's cost leaves both sums of `buying_power`
        (``cost * (1 + leverage)``), less the leverage's share of the notional it pays
        for that part (``(leverage - 1) * its notional``). 0 when not short. The cost
        the covered part takes is what the fill books (`apply_fill`): its units at the
        average reported, or all of it when it covers the whole short."""
        short, cost, unit = self.short_terms(instrument)
        if not short or qty <= 0:
            return ZERO
        covered = qty if qty < short else short
        taken = cost if covered == short else covered * unit
        paid = notional if covered == qty else notional * covered / qty
        return taken * (1 + self.leverage) - (self.leverage - 1) * paid

    def sale_credit(
        self, instrument: str, qty: Decimal, notional: Decimal, fee: Decimal
    ) -> Decimal:
        """What a sale of `qty` of the long of `instrument` (its share of the long) for
        `notional` (multiplier applied) with `fee` gives buying power: the cash it
        brings in, less the cost it takes off the position (as `apply_fill` books it:
        its units at the average reported, or all of it when it sells the whole long),
        times the leverage, plus that cost, which leaves the gross
        (``leverage * (notional - fee - cost) + cost``). Below zero when the sale is
        far enough below the average (with leverage 3, under two thirds of it): the
        loss it realizes takes buying power down by more than the cost it frees.
        0 when not long."""
        pos = self.positions.get(instrument)
        if pos is None or pos.quantity <= 0 or qty <= 0:
            return ZERO
        sold = qty if qty < pos.quantity else pos.quantity
        if sold < qty:  # (the part beyond the long sells short: not this)
            notional, fee = notional * sold / qty, fee * sold / qty
        if sold == pos.quantity and (pos.cost is not None or pos.avg_price is not None):
            taken = self._cost(pos)
        elif pos.avg_price is not None:
            taken = sold * pos.avg_price * self._multipliers.get(instrument, Decimal(1))
        else:
            taken = notional  # no average known: at this price, as a fill books it
        return self.leverage * (notional - fee - taken) + taken

    def long_unit_cost(self, instrument: str) -> Decimal | None:
        """The most a unit of the long of `instrument` takes of its cost as it is sold
        (multiplier applied): the average reported, or the cost over the units when a
        sale takes all of it (the two differ by the average's rounding). None when not
        long, or with no average (a sale then takes its cost at its own price)."""
        pos = self.positions.get(instrument)
        if pos is None or pos.quantity <= 0 or pos.avg_price is None:
            return None
        whole = self._cost(pos) / pos.quantity
        unit = pos.avg_price * self._multipliers.get(instrument, Decimal(1))
        return unit if unit > whole else whole

    def short_terms(
        self, instrument: str, covered: Decimal = ZERO
    ) -> tuple[Decimal, Decimal, Decimal]:
        """(units, cost, unit cost) of the short of `instrument` that is left once buys
        cover `covered` units of it, as `apply_fill` books covering: the cost of its
        units (multiplier applied; positive), and what covering one unit of them takes
        of it (the average reported, multiplier applied), short of covering them all
        (which takes all the cost). (0, 0, 0) when not short or all covered."""
        pos = self.positions.get(instrument)
        if pos is None or pos.quantity >= 0 or covered >= -pos.quantity:
            return ZERO, ZERO, ZERO
        mult = self._multipliers.get(instrument, Decimal(1))
        unit = pos.avg_price * mult if pos.avg_price is not None else ZERO
        return -pos.quantity - covered, self._cost(pos) - covered * unit, unit

    def sellable(self, instrument: str) -> Decimal:
        """Long position not yet reserved by working sells (never negative)."""
        free = self.position_qty(instrument) - self.locked_qty.get(instrument, ZERO)
        return free if free > 0 else ZERO

    def cash_state(self, currency: str) -> CashState:
        """The cash, what working orders lock and leave, and the buying power (``total -
        locked`` with no short and leverage 1; less a short's proceeds and margin; more
        with leverage)."""
        total = self.cash.get(currency, ZERO)
        locked = self.locked.get(currency, ZERO)
        return CashState(currency, total, total - locked, locked, self.buying_power(currency))

    def position(self, instrument: str, currency: str) -> PositionState:
        return self.positions.get(instrument) or PositionState(instrument, currency)

    # -- reservations -------------------------------------------------------------------

    def lock_cash(self, currency: str, amount: Decimal) -> None:
        if amount:
            self.locked[currency] = self.locked.get(currency, ZERO) + amount

    def unlock_cash(self, currency: str, amount: Decimal) -> None:
        if amount:
            left = self.locked.get(currency, ZERO) - amount
            self.locked[currency] = left if left else ZERO

    def lock_qty(self, instrument: str, qty: Decimal) -> None:
        if qty:
            self.locked_qty[instrument] = self.locked_qty.get(instrument, ZERO) + qty

    def unlock_qty(self, instrument: str, qty: Decimal) -> None:
        if qty:
            left = self.locked_qty.get(instrument, ZERO) - qty
            self.locked_qty[instrument] = left if left else ZERO

    # -- changes ------------------------------------------------------------------------

    def apply_fill(
        self,
        instrument: str,
        currency: str,
        side: Side,
        qty: Decimal,
        price: Decimal,
        fee: Decimal,
        multiplier: Decimal = Decimal(1),
        *,
        fee_qty: Decimal = ZERO,
    ) -> PositionState:
        """Move cash and the position for one execution; returns the new position.

        The average price is the cost of the open quantity over it (`average`); it is
        kept when a position is reduced, restarts at the fill price when it flips, and is
        None when flat. A reduction realizes closed x (price - average) and takes that
        much off the cost; one that closes the position (flat, or through zero) takes
        all that is left, so a position's P&L from open to flat is exact. Realized P&L
        is gross (fees are in the cash, not in the P&L). `fee_qty` is a fee paid in the
        instrument itself (a spot buy's base-asset fee): it comes out of the position,
        at the same average price.
        """
        notional = qty * price * multiplier
        cash = self.cash.get(currency, ZERO)
        self.cash[currency] = (cash - notional if side is Side.BUY else cash + notional) - fee
        old = self.positions.get(instrument) or PositionState(instrument, currency)
        places = self._places.get(instrument)
        tick_places = places.tick if places is not None else decimal_places(price)
        q0 = old.quantity
        dq = qty if side is Side.BUY else -qty
        q1 = q0 + dq
        avg = old.avg_price
        realized = old.realized_pnl
        cost = old.cost
        if q0 != 0 and cost is None:
            # Read back with no cost: at its average, or, with none, at this price (it
            # then realizes nothing against it).
            cost = abs(q0) * (avg if avg is not None else price)
        if q0 == 0 or (q0 > 0) == (dq > 0):
            cost = qty * price if q0 == 0 or cost is None else cost + qty * price
            avg = average(cost, q1, tick_places)
        else:
            assert cost is not None
            closed = min(qty, abs(q0))
            # All that is left when it closes; else its share at the average reported.
            taken = cost if closed == abs(q0) else closed * (avg if avg is not None else price)
            realized += (closed * price - taken) * multiplier * (1 if q0 > 0 else -1)
            cost -= taken
            if q1 == 0:
                avg, cost = None, ZERO
            elif (q1 > 0) != (q0 > 0):
                cost = abs(q1) * price
                avg = average(cost, q1, tick_places)
        if fee_qty:
            assert cost is not None
            taken = cost if fee_qty == abs(q1) else fee_qty * (avg if avg is not None else price)
            q1 -= fee_qty
            cost -= taken
            if q1 == 0:
                avg, cost = None, ZERO
        new = PositionState(instrument, currency, q1, avg, realized, old.fees + fee, cost)
        self.positions[instrument] = new
        return new

    def restore_cash(self, currency: str, total: Decimal) -> None:
        self.cash[currency] = total

    def restore_position(self, state: PositionState) -> None:
        """A position as the journal reported it (a checkpoint over the fills read back
        before it). One that agrees with those fills keeps their exact cost; any other
        is taken at the average it reports, on this venue's places (a journal an older
        build wrote carries unrounded ones)."""
        running = self.positions.get(state.instrument)
        if running is not None and (
            running.quantity,
            running.avg_price,
            running.realized_pnl,
        ) == (state.quantity, state.avg_price, state.realized_pnl):
            self.positions[state.instrument] = replace(state, cost=running.cost)
            return
        places = self._places.get(state.instrument)
        avg, realized = state.avg_price, state.realized_pnl
        if places is not None:
            if avg is not None:
                avg = _on_places(bounded(avg, places.tick + AVG_EXTRA_PLACES), places.tick)
            realized = bounded(realized, places.pnl)
        cost = ZERO if state.quantity == 0 else None if avg is None else abs(state.quantity) * avg
        self.positions[state.instrument] = replace(
            state, avg_price=avg, realized_pnl=realized, cost=cost
        )
