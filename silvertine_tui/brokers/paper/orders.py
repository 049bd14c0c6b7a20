"""The simulated venue's order records and the reports it emits."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum

from ...domain import ZERO, Liquidity, OrderStatus, OrderType, Side, TimeInForce
from .account import CashState, PositionState, average

TRIGGERED_REASON = "stop triggered"
"""Prefix of the reason of the report sent when a stop triggers (also read on restart)."""

REDUCE_ONLY_DONE = "reduce-only: the position is closed, nothing is left to reduce"
"""Why the rest of a reduce-only order is cancelled when it would fill past flat."""

RESEEDED = "working at the paper venue when Redis lost the journal: re-seeded from its memory"
"""The detail of the reconcile that writes a working order back into the journal after
Redis lost it (`PaperBroker.reseed_journal`); a triggered stop's ends with
`TRIGGERED_REASON` (read on restart)."""


@dataclass(frozen=True, slots=True)
class SimFill:
    """One execution, with the order's cumulative quantity and average after it (the
    average as reported: `SimOrder.avg_price`)."""

    exec_id: str
    client_order_id: str
    venue_order_id: str
    instrument: str
    side: Side
    quantity: Decimal
    price: Decimal
    fee: Decimal
    fee_currency: str
    liquidity: Liquidity
    ts_ns: int
    cum_qty: Decimal
    avg_price: Decimal
    # The fee's worth in the quote currency when it is charged in another (the base).
    fee_value: Decimal | None = None


@dataclass(slots=True, eq=False)
class SimOrder:
    """An order as the venue holds it. Only `PaperVenue` changes it."""

    seq: int  # time priority: renewed by a replace
    client_order_id: str
    venue_order_id: str
    instrument: str
    side: Side
    order_type: OrderType
    tif: TimeInForce
    quantity: Decimal
    limit_price: Decimal | None
    stop_price: Decimal | None
    created_ns: int
    # The instrument's tick places: the average is reported on them + AVG_EXTRA_PLACES.
    tick_places: int
    expires_ns: int | None = None
    finished_ns: int | None = None  # when it became FILLED, CANCELED or EXPIRED
    arrival_mid: Decimal | None = None
    status: OrderStatus = OrderStatus.NEW
    filled_qty: Decimal = ZERO
    filled_value: Decimal = ZERO
    fees: Decimal = ZERO
    triggered: bool = False
    # It may only reduce the position: checked on arrival, and at each fill (a position
    # closed meanwhile by another order leaves it nothing to fill: it is cancelled).
    reduce_only: bool = False
    # Size displayed ahead of the order at its price (queue model); None: not tracked.
    queue_ahead: Decimal | None = None
    reserved_cash: Decimal = ZERO
    reserved_qty: Decimal = ZERO
    # Where the order sits: ("book" | "stop", priority key), or None.
    slot: tuple[str, tuple[Decimal, int]] | None = None
    fills: list[SimFill] = field(default_factory=list)
    # Executions the venue no longer holds (made before Redis lost the journal it was
    # rebuilt from): the order's execution ids `P<n>-<k>` count on after them.
    fills_before: int = 0

    @property
    def number(self) -> int:
        """Arrival order at the venue (the number in the venue order id `P<n>`)."""
        digits = self.venue_order_id[1:]
        return int(digits) if digits.isdigit() else self.seq

    @property
    def next_exec_id(self) -> str:
        return f"{self.venue_order_id}-{self.fills_before + len(self.fills) + 1}"

    @property
    def leaves(self) -> Decimal:
        return ZERO if self.status.is_terminal else self.quantity - self.filled_qty

    @property
    def avg_price(self) -> Decimal | None:
        """The average of its fills as the venue reports it (`average`: rounded once,
        to the tick's places + `AVG_EXTRA_PLACES`); `filled_value` stays exact."""
        if not self.filled_qty:
            return None
        return average(self.filled_value, self.filled_qty, self.tick_places)

    @property
    def is_stop(self) -> bool:
        return self.order_type.has_stop_price and not self.triggered

    @property
    def acts_as_market(self) -> bool:
        """A market order, or a STOP or TAKE_PROFIT whose trigger turned it into one."""
        return self.order_type is OrderType.MARKET or (
            self.order_type.market_on_trigger and self.triggered
        )

    @property
    def working_status(self) -> OrderStatus:
        return OrderStatus.PARTIALLY_FILLED if self.filled_qty > 0 else OrderStatus.NEW


class ReportKind(StrEnum):
    ACCEPTED = "ACCEPTED"  # NEW: the venue took the order
    REPLACED = "REPLACED"  # cancel/replace done: new terms, same client order id
    TRIGGERED = "TRIGGERED"  # a stop reached its trigger and is now working
    FILL = "FILL"
    CANCELED = "CANCELED"
    EXPIRED = "EXPIRED"  # IOC/FOK/market remainder, DAY end, or refused at trigger
    STATUS = "STATUS"  # the order's current state, unchanged (answers a late cancel/modify)


@dataclass(frozen=True, slots=True)
class ExecReport:
    """What the venue tells its client about an order, as of `ts_ns`.

    FILL reports carry the fill, and the position and cash of the order's instrument
    and currency right after it; the other reports (but STATUS) carry the cash, whose
    locked part the order's acceptance, replace or end has just moved.
    """

    kind: ReportKind
    client_order_id: str
    venue_order_id: str
    instrument: str
    status: OrderStatus
    quantity: Decimal
    filled_qty: Decimal
    avg_price: Decimal | None
    limit_price: Decimal | None
    stop_price: Decimal | None
    ts_ns: int
    reason: str = ""
    fill: SimFill | None = None
    position: PositionState | None = None
    balance: CashState | None = None
