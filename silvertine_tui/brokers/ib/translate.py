"""Our orders, statuses, fills, positions and balances <-> ib_async's objects.

ib_async speaks floats; every number is turned into a `Decimal` from its shortest
repr (what TWS put on the wire) and prices are snapped to the instrument's tick.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from decimal import Context, Decimal
from typing import Any

from ib_async import Order as IbOrder

from ...domain import (
    Balance,
    Fill,
    Instrument,
    Liquidity,
    OrderRequest,
    OrderStatus,
    OrderType,
    Position,
    Side,
    TimeInForce,
    VenueOrder,
    quantized,
)
from ...domain.money import decimal_places
from .contracts import to_decimal

UNSET_DOUBLE = 1.7976931348623157e308

ORDER_TYPES: dict[OrderType, str] = {
    OrderType.MARKET: "MKT",
    OrderType.LIMIT: "LMT",
    OrderType.STOP: "STP",
    OrderType.STOP_LIMIT: "STP LMT",
}
OUR_ORDER_TYPES = {v: k for k, v in ORDER_TYPES.items()}

# TWS order statuses. PendingSubmit/ApiPending/PendingCancel say nothing the journal
# does not already hold (PENDING_NEW/PENDING_CANCEL): None. Inactive is an order IB does
# not work now (exchange closed, held, outside its hours) that can work again and fill,
# and be cancelled: not ended (NEW, or PARTIALLY_FILLED), its reason says so
# (`INACTIVE`). Taken for REJECTED (final), its later statuses and fills were dropped as
# stale and a cancel was refused unsent.
STATUSES: dict[str, OrderStatus | None] = {
    "ApiPending": None,
    "PendingSubmit": None,
    "PendingCancel": None,
    "PreSubmitted": OrderStatus.NEW,
    "Submitted": OrderStatus.NEW,
    "ApiCancelled": OrderStatus.CANCELED,
    "Cancelled": OrderStatus.CANCELED,
    "Filled": OrderStatus.FILLED,
    "Inactive": OrderStatus.NEW,
}
INACTIVE = "Inactive"

ENDED_AT_TWS = frozenset({"Filled", "Cancelled", "ApiCancelled"})
"""TWS's statuses of an order that ended (ib_async's `DoneStates` less Inactive)."""


def ib_order(request: OrderRequest, account: str, *, outside_rth: bool = False) -> IbOrder:
    """The IB order for a request; our client order id travels in `orderRef`."""
    if request.quantity is None:
        # IB's capabilities offer no order by quote amount: refused before this.
        raise ValueError("IB takes a quantity, not an amount in the quote currency")
    order = IbOrder(
        action=request.side.value,
        totalQuantity=float(request.quantity),
        orderType=ORDER_TYPES[request.order_type],
        tif=request.tif.value,
        orderRef=request.client_order_id,
        account=account,
        transmit=True,
        outsideRth=outside_rth,
    )
    if request.limit_price is not None:
        order.lmtPrice = float(request.limit_price)
    if request.stop_price is not None:
        order.auxPrice = float(request.stop_price)
    return order


OPEN_AT_TWS = frozenset({"PendingSubmit", "PreSubmitted", "Submitted", "PendingCancel", INACTIVE})
"""An order in these still works at IB and can fill: listed open (`open_orders`). A
PendingCancel one too: a cancel on its way at IB loses to a fill, and one left out was
journaled CANCELED "no longer open at the venue" by a reconcile, then filled. An
Inactive one too: IB can work it again."""


def status_of(tws_status: str, filled: Decimal) -> OrderStatus | None:
    status = STATUSES.get(tws_status)
    if status is OrderStatus.NEW and filled > 0:
        return OrderStatus.PARTIALLY_FILLED
    return status


def inactive_reason(trade: Any) -> str:
    """Why TWS reports an order Inactive, for the trader: TWS's last error about it
    (the one that came just before the status), if any."""
    why = "TWS gave no reason"
    for entry in reversed(trade.log[:-1] if trade.log else []):
        if not entry.errorCode:
            break
        if entry.errorCode != 202 and entry.message:
            text = str(entry.message)
            if text.startswith(("Error ", "Warning ")):
                text = text.partition(": ")[2]  # ib_async's "Error 201, reqId 3: ..."
            text = text.split(", contract: ")[0].strip()
            why = f"TWS {entry.errorCode}: {text}"
            break
    return f"inactive at IB ({why}); IB holds the order, which can still work and fill"


def price_or_none(value: float, instrument: Instrument | None) -> Decimal | None:
    if value is None or value == 0 or value >= UNSET_DOUBLE or value != value:
        return None
    price = to_decimal(value)
    return instrument.round_price(price) if instrument is not None else price


def on_tick_places(price: Decimal | None, instrument: Instrument | None) -> Decimal | None:
    """`price` with the instrument's tick places at least, its value as it is: IB's
    float of a limit of 147.70 reads 147.7, which the journal held and the modify
    dialog showed as such (the Orders row, 147.70). Never rounded onto the tick: a price
    with more places than the tick keeps them."""
    if price is None or instrument is None or not price.is_finite():
        return price
    places = instrument.tick_places
    if decimal_places(price) >= places:
        return price
    return quantized(price, Decimal(1).scaleb(-places))


def average_of(fills: Iterable[tuple[Decimal, Decimal]], filled: Decimal) -> Decimal | None:
    """The volume-weighted average price of `fills` (quantity, price), when their
    quantities make up `filled` (the order's filled quantity); None otherwise: an average
    of part of an order's fills is not the order's."""
    quantity = Decimal(0)
    value = Decimal(0)
    for qty, price in fills:
        quantity += qty
        value += qty * price
    if filled <= 0 or quantity != filled:
        return None
    return value / quantity


def venue_order(
    trade: Any, client_order_id: str, key: str, instrument: Instrument | None
) -> VenueOrder:
    """An ib_async Trade as a `VenueOrder`; `venue_order_id` is the permId."""
    order, status = trade.order, trade.orderStatus
    filled = to_decimal(status.filled)
    done = order.filledQuantity
    if isinstance(done, float | int | Decimal) and 0 < done < UNSET_DOUBLE:
        filled = max(filled, to_decimal(done))
    kind = OUR_ORDER_TYPES.get(order.orderType, OrderType.LIMIT)
    tif = TimeInForce(order.tif) if order.tif in TimeInForce.__members__ else TimeInForce.DAY
    perm_id = order.permId or status.permId
    return VenueOrder(
        client_order_id=client_order_id,
        venue_order_id=str(perm_id) if perm_id else None,
        instrument=key,
        side=Side.BUY if order.action == "BUY" else Side.SELL,
        order_type=kind,
        tif=tif,
        quantity=to_decimal(order.totalQuantity),
        filled_qty=filled,
        limit_price=price_or_none(order.lmtPrice, instrument) if kind.has_limit_price else None,
        stop_price=price_or_none(order.auxPrice, instrument) if kind.has_stop_price else None,
        status=status_of(status.status, filled)
        or (OrderStatus.PENDING_CANCEL if status.status == "PendingCancel" else OrderStatus.NEW),
        avg_price=price_or_none(status.avgFillPrice, None) if filled else None,
    )


def fill_of(
    ib_fill: Any,
    *,
    client_order_id: str,
    key: str,
    broker: str,
    account: str,
    instrument: Instrument | None,
    commission: Any | None,
) -> Fill:
    """One execution; the fee from its commission report when there is one."""
    execution = ib_fill.execution
    fee = Decimal(0)
    fee_currency = ""
    if commission is not None and commission.commission < UNSET_DOUBLE:
        fee = to_decimal(commission.commission)
        fee_currency = commission.currency
    when: datetime = execution.time
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return Fill(
        exec_id=execution.execId,
        client_order_id=client_order_id,
        venue_order_id=str(execution.permId) if execution.permId else None,
        broker=broker,
        account=account,
        instrument=key,
        side=Side.BUY if execution.side == "BOT" else Side.SELL,
        quantity=to_decimal(execution.shares),
        # As it traded: a price improvement is off the tick (149.4951), and rounded
        # it disagreed with the order's average and IB's statement.
        price=to_decimal(execution.price),
        fee=fee,
        fee_currency=fee_currency,
        liquidity=liquidity_of(execution.lastLiquidity),
        venue_ts_ns=int(when.timestamp() * 1e9),
    )


def liquidity_of(last_liquidity: int) -> str:
    """IB's lastLiquidity: 1 added (maker), 2 removed (taker), 3 routed out."""
    if last_liquidity == 1:
        return Liquidity.MAKER.value
    if last_liquidity in (2, 3):
        return Liquidity.TAKER.value
    return Liquidity.UNKNOWN.value


def position_of(
    ib_position: Any,
    *,
    key: str,
    broker: str,
    instrument: Instrument | None,
    executions: Sequence[tuple[Decimal, Decimal]] = (),
    average: Callable[[Decimal, Decimal, Decimal], Decimal] | None = None,
) -> Position:
    """IB's position as the desk counts it. The average price is per unit (IB's
    average cost includes the multiplier) and, as the desk's own average from fills,
    holds no commission: IB's average cost includes the commissions of the trades that
    opened the position, and those of the desk's fills among `executions` are taken
    out (`average_price`); they are fees, reported with each fill. What the desk did not
    journal as its fills (a holding from before its journal began, an adopted order's
    earlier fills) keeps IB's average cost, commissions in: that is all there is to go
    on for it. `average` (IB's average cost a unit, quantity, multiplier -> average
    price) stands for `average_price` over `executions`: `ExecutionLedger.average`,
    which does not replay the whole day each time."""
    multiplier = instrument.multiplier if instrument is not None else Decimal(1)
    if instrument is None and ib_position.contract.multiplier:
        multiplier = to_decimal(ib_position.contract.multiplier)
    quantity = to_decimal(ib_position.position)
    avg = None
    if quantity:
        cost = to_decimal(ib_position.avgCost) / multiplier
        if average is not None:
            avg = average(cost, quantity, multiplier)
        else:
            avg = average_price(cost, quantity, executions, multiplier)
    return Position(
        broker=broker,
        account=ib_position.account,
        instrument=key,
        quantity=quantity,
        avg_price=avg,
        currency=ib_position.contract.currency,
    )


_FLOAT_DIGITS = Context(prec=15)
"""IB's average cost comes as a float: what is left of it once commissions are taken
out keeps the digits a float holds (149.83333333333334 less 1/3 is 149.5)."""


def average_price(
    avg_cost: Decimal,
    quantity: Decimal,
    executions: Sequence[tuple[Decimal, Decimal]],
    multiplier: Decimal = Decimal(1),
) -> Decimal:
    """The average price of a position of `quantity` (signed) that IB holds at
    `avg_cost` a unit, without the commissions of `executions` in it.

    `executions` are the trades TWS reported in the contract, oldest first, each as
    (signed quantity, commission in the position's currency; zero for one whose
    commission is to stay in). They are replayed by IB's rule for its average cost,
    from what the position held before the first of them (the quantity they do not
    explain, at IB's cost): a trade that opens or adds puts its commission in the
    average, spread over the new quantity and signed as it (IB's average cost is the
    position's cost over its quantity: a long's is raised by a commission, a short's
    lowered); one that reduces leaves the average as it is; one that closes the
    position, or takes it through zero, leaves none of the earlier commissions in it
    (IB starts the new side at the trade price). An answer that is no price (not above
    zero: the executions do not fit the position) gives IB's average cost back."""
    held = quantity - sum((signed for signed, _ in executions), Decimal(0))
    embedded = Decimal(0)  # commission a unit inside IB's average
    for signed, commission in executions:
        held, embedded = replay_step(held, embedded, signed, commission, multiplier)
    return without_commission(avg_cost, embedded)


def replay_step(
    held: Decimal, embedded: Decimal, signed: Decimal, commission: Decimal, multiplier: Decimal
) -> tuple[Decimal, Decimal]:
    """One trade of `average_price`'s replay: the position after it and the commission a
    unit inside IB's average then."""
    after = held + signed
    if not signed:
        return after, embedded  # (an execution corrected to no shares)
    if held == 0 or (held > 0) == (signed > 0):
        embedded = (embedded * held + commission / multiplier) / after
    elif after == 0 or (after > 0) != (held > 0):
        embedded = Decimal(0)
    return after, embedded


def without_commission(avg_cost: Decimal, embedded: Decimal) -> Decimal:
    """IB's average cost less `embedded` (commission a unit), as `average_price` says."""
    if not embedded:
        return avg_cost
    price = _FLOAT_DIGITS.create_decimal(avg_cost - embedded)
    if price <= 0:
        return avg_cost
    if price == price.to_integral_value():
        return quantized(price, Decimal(1))
    return price.normalize()


def balances_of(values: list[Any], *, broker: str, account: str) -> list[Balance]:
    """`CashBalance` per currency (IB's BASE line is a sum in the base currency and is
    left out); available is `AvailableFunds` for the base currency, else the cash."""
    base = ""
    available: dict[str, Decimal] = {}
    cash: dict[str, Decimal] = {}
    for value in values:
        if value.account != account:
            continue
        if value.tag == "Currency":
            base = value.value
        elif value.tag == "AvailableFunds" and value.currency not in ("", "BASE"):
            available[value.currency] = to_decimal(value.value)
        elif value.tag == "CashBalance" and value.currency not in ("", "BASE"):
            cash[value.currency] = to_decimal(value.value)
    return [
        Balance(
            broker=broker,
            account=account,
            currency=currency,
            total=total,
            available=available.get(currency, total) if currency == base else total,
        )
        for currency, total in sorted(cash.items())
    ]
