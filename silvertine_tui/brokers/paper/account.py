"""The simulated account: cash per currency, positions per instrument, reservations.

A securities-style account: buying an instrument pays its quote currency and opens a
position in the instrument (not a balance of the base currency). Cash is exact Decimal
arithmetic; for every fill ``cash change + signed quantity * price * multiplier ==
-fee`` holds exactly, which is what the conservation property test checks.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from ...domain import ZERO, Side


@dataclass(frozen=True, slots=True)
class PositionState:
    """A signed position (negative is short); replaced, never mutated (a snapshot)."""

    instrument: str
    currency: str
    quantity: Decimal = ZERO
    avg_price: Decimal | None = None
    realized_pnl: Decimal = ZERO
    fees: Decimal = ZERO  # paid on this instrument, in `currency`


@dataclass(frozen=True, slots=True)
class CashState:
    currency: str
    total: Decimal
    available: Decimal
    locked: Decimal


class Account:
    """Cash, positions, and what working orders reserve.

    `locked` is cash reserved by working orders (per currency), `locked_qty` the position
    reserved by working sells (per instrument). Buying power is ``cash * leverage -
    locked``; a cash account has leverage 1.
    """

    __slots__ = ("cash", "leverage", "locked", "locked_qty", "positions", "short_selling")

    def __init__(
        self,
        cash: Mapping[str, Decimal],
        *,
        leverage: Decimal = Decimal(1),
        short_selling: bool = False,
    ) -> None:
        self.cash: dict[str, Decimal] = dict(cash)
        self.locked: dict[str, Decimal] = {}
        self.locked_qty: dict[str, Decimal] = {}
        self.positions: dict[str, PositionState] = {}
        self.leverage = leverage
        self.short_selling = short_selling

    # -- reading --------------------------------------------------------------------

    def position_qty(self, instrument: str) -> Decimal:
        pos = self.positions.get(instrument)
        return pos.quantity if pos is not None else ZERO

    def buying_power(self, currency: str) -> Decimal:
        return self.cash.get(currency, ZERO) * self.leverage - self.locked.get(currency, ZERO)

    def sellable(self, instrument: str) -> Decimal:
        """Long position not yet reserved by working sells (never negative)."""
        free = self.position_qty(instrument) - self.locked_qty.get(instrument, ZERO)
        return free if free > 0 else ZERO

    def cash_state(self, currency: str) -> CashState:
        total = self.cash.get(currency, ZERO)
        locked = self.locked.get(currency, ZERO)
        return CashState(currency, total, total - locked, locked)

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

        The average price is the cost of the open quantity; it is kept when a position
        is reduced, restarts at the fill price when it flips, and is None when flat.
        Realized P&L is gross (fees are in the cash, not in the P&L). `fee_qty` is a fee
        paid in the instrument itself (a spot buy's base-asset fee): it comes out of the
        position, at the same average price.
        """
        notional = qty * price * multiplier
        cash = self.cash.get(currency, ZERO)
        self.cash[currency] = (cash - notional if side is Side.BUY else cash + notional) - fee
        old = self.positions.get(instrument) or PositionState(instrument, currency)
        q0 = old.quantity
        dq = qty if side is Side.BUY else -qty
        q1 = q0 + dq
        avg = old.avg_price
        realized = old.realized_pnl
        if q0 == 0 or (q0 > 0) == (dq > 0):
            avg = price if q0 == 0 or avg is None else (avg * abs(q0) + price * qty) / abs(q1)
        else:
            closed = min(qty, abs(q0))
            base = avg if avg is not None else price
            realized += closed * (price - base) * multiplier * (1 if q0 > 0 else -1)
            if q1 == 0:
                avg = None
            elif (q1 > 0) != (q0 > 0):
                avg = price
        if fee_qty:
            q1 -= fee_qty
            if q1 == 0:
                avg = None
        new = PositionState(instrument, currency, q1, avg, realized, old.fees + fee)
        self.positions[instrument] = new
        return new

    def restore_cash(self, currency: str, total: Decimal) -> None:
        self.cash[currency] = total

    def restore_position(self, state: PositionState) -> None:
        self.positions[state.instrument] = state
