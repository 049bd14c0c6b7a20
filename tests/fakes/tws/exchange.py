"""The venue behind the fake TWS: orders, executions, positions, cash and quotes.

Pure and synchronous: every operation returns the `Note`s that say what changed, and the
server turns those into TWS messages for the sessions concerned. State outlives client
sessions, as at IB: orders, executions and permIds survive a disconnect.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from decimal import Decimal

from tests.fakes.tws.contracts import ContractSpec

WORKING = frozenset({"PreSubmitted", "Submitted"})
ORDER_TYPES = frozenset({"MKT", "LMT", "STP", "STP LMT"})
TIFS = frozenset({"DAY", "GTC", "IOC", "FOK"})
FIRST_PERM_ID = 1_500_000_001


@dataclass
class Ticket:
    """What a placeOrder message asks for (the fields the fake acts on)."""

    action: str
    quantity: Decimal
    order_type: str
    limit_price: Decimal | None
    stop_price: Decimal | None
    tif: str
    order_ref: str = ""
    account: str = ""
    outside_rth: bool = False


@dataclass
class Order:
    perm_id: int
    client_id: int
    order_id: int
    spec: ContractSpec
    ticket: Ticket
    status: str = "Submitted"
    filled: Decimal = Decimal(0)
    avg_fill_price: Decimal = Decimal(0)
    last_fill_price: Decimal = Decimal(0)
    triggered: bool = False
    completed_time: str = ""
    completed_status: str = ""
    completed_at: datetime | None = None

    @property
    def remaining(self) -> Decimal:
        return self.ticket.quantity - self.filled if self.status in WORKING else Decimal(0)

    @property
    def working(self) -> bool:
        return self.status in WORKING

    @property
    def open(self) -> bool:
        """Listed among the open orders: working, a cancel pending at the exchange, or
        Inactive (IB holds it, not working now: it can work again, or be cancelled)."""
        return self.working or self.status in ("PendingCancel", "Inactive")


@dataclass
class Execution:
    exec_id: str
    order: Order
    side: str  # BOT / SLD
    shares: Decimal
    price: Decimal
    time: datetime
    cum_qty: Decimal
    avg_price: Decimal
    liquidity: int  # 1 added, 2 removed
    commission: Decimal
    commission_currency: str
    realized_pnl: Decimal | None  # None: the fill opened or added (IB sends "unset")


@dataclass
class Position:
    quantity: Decimal = Decimal(0)
    avg_cost: Decimal = Decimal(0)  # per contract, multiplier included (as IB reports)
    realized: Decimal = Decimal(0)


@dataclass
class Quote:
    """The top of the book, plus deeper levels (price, size) that move up to the top
    when it is used up (IB shows the top only; orders still trade deeper)."""

    bid: Decimal | None = None
    ask: Decimal | None = None
    bid_size: Decimal = Decimal(0)
    ask_size: Decimal = Decimal(0)
    last: Decimal | None = None
    last_size: Decimal = Decimal(0)
    deeper_bids: list[tuple[Decimal, Decimal]] = field(default_factory=list)
    deeper_asks: list[tuple[Decimal, Decimal]] = field(default_factory=list)

    def use(self, buy: bool, qty: Decimal) -> None:
        """Take `qty` from the top; an empty top is replaced by the next level."""
        if buy:
            self.ask_size -= qty
            if self.ask_size <= 0 and self.deeper_asks:
                self.ask, self.ask_size = self.deeper_asks.pop(0)
        else:
            self.bid_size -= qty
            if self.bid_size <= 0 and self.deeper_bids:
                self.bid, self.bid_size = self.deeper_bids.pop(0)


@dataclass(frozen=True)
class OrderNote:
    """openOrder + orderStatus for the owner: the order as it was when the note was made
    (a stop that triggers and fills at once reports Submitted, then Filled)."""

    order: Order

    @classmethod
    def of(cls, order: Order) -> OrderNote:
        return cls(replace(order))


@dataclass(frozen=True)
class ExecNote:
    """execDetails + commissionReport for the owner; positions and account follow."""

    execution: Execution


@dataclass(frozen=True)
class ErrorNote:
    client_id: int
    req_id: int
    code: int
    message: str


Note = OrderNote | ExecNote | ErrorNote


def default_commission(spec: ContractSpec, qty: Decimal, price: Decimal) -> Decimal:
    """IB's fixed-rate schedule, roughly: enough that fees are never zero."""
    if spec.sec_type == "STK":
        return max(Decimal("1.00"), Decimal("0.005") * qty)
    if spec.sec_type == "FUT":
        return Decimal("2.25") * qty
    if spec.sec_type == "OPT":
        return max(Decimal("1.00"), Decimal("0.65") * qty)
    if spec.sec_type == "CASH":
        return Decimal("2.00")
    return (Decimal("0.0018") * qty * price).quantize(Decimal("0.0001"))


class Exchange:
    def __init__(
        self,
        contracts: Iterable[ContractSpec],
        account: str,
        cash: Mapping[str, Decimal],
        commission: Callable[[ContractSpec, Decimal, Decimal], Decimal] = default_commission,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        check_funds: bool = False,
    ) -> None:
        self.check_funds = check_funds
        self.contracts = {spec.con_id: spec for spec in contracts}
        self.account = account
        self.cash: dict[str, Decimal] = dict(cash)
        self.commission = commission
        self.clock = clock
        self.orders: dict[int, Order] = {}  # permId -> order
        self.executions: list[Execution] = []
        self.positions: dict[int, Position] = {}
        self.quotes: dict[int, Quote] = {}
        # The prior session's close per contract (tick type 9): set by a test
        # (`FakeTws(closes=...)`, `set_close`) or by `new_trading_day`.
        self.closes: dict[int, Decimal] = {}
        self.day_start: datetime | None = None  # set by new_trading_day()
        self._next_perm_id = FIRST_PERM_ID
        self._exec_seq = 0

    # ------------------------------------------------------------ look-ups

    def spec(self, key: int | str) -> ContractSpec:
        for spec in self.contracts.values():
            if key in (spec.con_id, spec.symbol, spec.local_symbol):
                return spec
        raise KeyError(f"no contract {key!r} in the fake TWS")

    def order(self, client_id: int, order_id: int) -> Order | None:
        for order in self.orders.values():
            if (order.client_id, order.order_id) == (client_id, order_id):
                return order
        return None

    def next_order_id(self) -> int:
        return max((o.order_id for o in self.orders.values()), default=0) + 1

    def working_orders(self) -> list[Order]:
        return [o for o in self.orders.values() if o.working]

    def open_orders(self) -> list[Order]:
        return [o for o in self.orders.values() if o.open]

    def quote(self, con_id: int) -> Quote:
        return self.quotes.setdefault(con_id, Quote())

    # -------------------------------------------------------------- orders

    def validate(self, spec: ContractSpec, ticket: Ticket, order_id: int) -> ErrorNote | None:
        """What TWS refuses before an order (or a modify) reaches the market."""
        if ticket.order_type not in ORDER_TYPES:
            return ErrorNote(0, order_id, 387, f"Unsupported order type: {ticket.order_type}")
        if ticket.tif not in TIFS:
            return ErrorNote(0, order_id, 201, f"Order rejected - reason:Invalid TIF {ticket.tif}")
        if ticket.quantity <= 0:
            return ErrorNote(0, order_id, 434, "The order size cannot be zero.")
        needs_limit = ticket.order_type in ("LMT", "STP LMT")
        needs_stop = ticket.order_type in ("STP", "STP LMT")
        if (needs_limit and ticket.limit_price is None) or (
            needs_stop and ticket.stop_price is None
        ):
            return ErrorNote(0, order_id, 321, "Error validating request:-'bB' : cause - price")
        for price in (
            ticket.limit_price if needs_limit else None,
            ticket.stop_price if needs_stop else None,
        ):
            if price is not None and not spec.on_tick(price):
                return ErrorNote(
                    0,
                    order_id,
                    110,
                    "The price does not conform to the minimum price variation for this contract.",
                )
        if self.check_funds and ticket.action == "BUY":
            quote = self.quote(spec.con_id)
            price = ticket.limit_price or ticket.stop_price or quote.ask
            cash = self.cash.get(spec.currency, Decimal(0))
            if price is not None and ticket.quantity * price * spec.unit > cash:
                need = _money(ticket.quantity * price * spec.unit)
                return ErrorNote(
                    0,
                    order_id,
                    201,
                    "Order rejected - reason:YOUR ORDER IS NOT ACCEPTED. IN ORDER TO OBTAIN "
                    f"THE DESIRED POSITION YOUR EQUITY WITH LOAN VALUE [{_money(cash)} "
                    f"{spec.currency}] MUST EXCEED THE INITIAL MARGIN [{need} {spec.currency}]",
                )
        return None

    def place(self, client_id: int, order_id: int, spec: ContractSpec, ticket: Ticket) -> Order:
        order = Order(self._next_perm_id, client_id, order_id, spec, ticket)
        self._next_perm_id += 1
        order.status = "PreSubmitted" if ticket.order_type.startswith("STP") else "Submitted"
        if not ticket.account:
            ticket.account = self.account
        self.orders[order.perm_id] = order
        return order

    def modify(self, order: Order, ticket: Ticket) -> None:
        if not ticket.account:
            ticket.account = self.account
        order.ticket = ticket

    def cancel(self, order: Order) -> None:
        order.status = "Cancelled"
        self._complete(order, "Cancelled by Trader")

    def _complete(self, order: Order, completed_status: str) -> None:
        order.completed_at = self.clock()
        order.completed_time = order.completed_at.strftime("%Y%m%d %H:%M:%S UTC")
        order.completed_status = completed_status

    def new_trading_day(self) -> list[Order]:
        """The session rolls over: DAY orders expire (returned, now Cancelled); executions
        and completed orders from before are no longer reported (IB keeps one day); each
        quoted contract's close is the day's last trade, else its mid."""
        expired = [o for o in self.working_orders() if o.ticket.tif == "DAY"]
        for order in expired:
            order.status = "Cancelled"
            self._complete(order, "Cancelled at the end of the day")
        self.day_start = self.clock()
        # The day that ended closed at its last trade (else the quote's mid).
        for con_id, quote in self.quotes.items():
            if quote.last is not None:
                self.closes[con_id] = quote.last
            elif quote.bid is not None and quote.ask is not None:
                self.closes[con_id] = (quote.bid + quote.ask) / 2
        return expired

    def today(self, moment: datetime | None) -> bool:
        return moment is not None and (self.day_start is None or moment > self.day_start)

    # --------------------------------------------------------------- fills

    def execute(self, order: Order, qty: Decimal, price: Decimal, liquidity: int) -> list[Note]:
        """Fill `qty` of a working order at `price`; returns the notes for it."""
        qty = min(qty, order.remaining)
        if qty <= 0:
            return []
        cost = order.avg_fill_price * order.filled + price * qty
        order.filled += qty
        order.avg_fill_price = cost / order.filled
        order.last_fill_price = price
        if order.remaining == 0:
            order.status = "Filled"
            self._complete(order, "Filled Size: " + str(order.filled))
        spec = order.spec
        buy = order.ticket.action == "BUY"
        fee = self.commission(spec, qty, price)
        realized = self._book_position(spec, qty if buy else -qty, price, fee)
        self.cash[spec.currency] = (
            self.cash.get(spec.currency, Decimal(0))
            - (qty if buy else -qty) * price * spec.unit
            - fee
        )
        self._exec_seq += 1
        execution = Execution(
            exec_id=f"0000e{order.perm_id % 0x1000000:06x}.{self._exec_seq:08x}.01.01",
            order=order,
            side="BOT" if buy else "SLD",
            shares=qty,
            price=price,
            time=self.clock(),
            cum_qty=order.filled,
            avg_price=order.avg_fill_price,
            liquidity=liquidity,
            commission=fee,
            commission_currency=spec.currency,
            realized_pnl=realized,
        )
        self.executions.append(execution)
        return [ExecNote(execution), OrderNote.of(order)]

    def _book_position(
        self, spec: ContractSpec, signed_qty: Decimal, price: Decimal, fee: Decimal
    ) -> Decimal | None:
        """IB's average cost: what the open quantity cost, commissions in, over the
        quantity, signed (a sale's cost is its proceeds, negative): a long's is raised by
        its commissions, a short's lowered (sold for less), so that market value less
        average cost is the P&L net of them. A reduction leaves it, a trade through zero
        starts the new side at the trade price (its commission in the realized P&L)."""
        pos = self.positions.setdefault(spec.con_id, Position())
        unit_cost = price * spec.unit
        same_way = pos.quantity == 0 or (pos.quantity > 0) == (signed_qty > 0)
        if same_way:
            total = pos.avg_cost * pos.quantity + unit_cost * signed_qty + fee
            pos.quantity += signed_qty
            pos.avg_cost = total / pos.quantity
            return None
        closing = min(abs(signed_qty), abs(pos.quantity))
        direction = Decimal(1) if pos.quantity > 0 else Decimal(-1)
        realized = (unit_cost - pos.avg_cost) * closing * direction - fee
        pos.realized += realized
        pos.quantity += signed_qty
        if pos.quantity == 0:
            pos.avg_cost = Decimal(0)
        elif (pos.quantity > 0) != (direction > 0):
            pos.avg_cost = unit_cost  # flipped: the rest opened at this price
        return realized

    def match(self, order: Order, *, placing: bool = False) -> list[Note]:
        """Trade a working order against the quote; IOC/FOK leftovers are cancelled."""
        if not order.working:
            return []
        quote = self.quote(order.spec.con_id)
        ticket = order.ticket
        buy = ticket.action == "BUY"
        notes: list[Note] = []
        if ticket.order_type.startswith("STP") and not order.triggered:
            reference = quote.ask if buy else quote.bid
            if quote.last is not None:
                reference = quote.last
            stop = ticket.stop_price
            assert stop is not None
            if reference is None or (reference < stop if buy else reference > stop):
                return self._leftover(order, placing)
            order.triggered = True
            order.status = "Submitted"
            notes.append(OrderNote.of(order))
        limit = ticket.limit_price if ticket.order_type in ("LMT", "STP LMT") else None

        def marketable_at() -> tuple[Decimal, Decimal] | None:
            price = quote.ask if buy else quote.bid
            size = quote.ask_size if buy else quote.bid_size
            if price is None or size <= 0:
                return None
            if limit is not None and not (price <= limit if buy else price >= limit):
                return None
            return price, size

        if ticket.tif == "FOK":
            top = marketable_at()
            if top is None or top[1] < order.remaining:
                return [*notes, *self._leftover(order, True)]
        while order.working and (top := marketable_at()) is not None:
            price, size = top
            qty = min(size, order.remaining)
            quote.use(buy, qty)
            notes += self.execute(order, qty, price, liquidity=2)
        return [*notes, *self._leftover(order, placing)]

    def _leftover(self, order: Order, placing: bool) -> list[Note]:
        if placing and order.working and order.ticket.tif in ("IOC", "FOK"):
            order.status = "Cancelled"
            self._complete(order, "Cancelled")
            return [OrderNote.of(order)]
        return []

    def set_quote(self, con_id: int, quote: Quote) -> list[Note]:
        self.quotes[con_id] = quote
        notes: list[Note] = []
        for order in self.working_orders():
            if order.spec.con_id == con_id:
                notes += self.match(order)
        return notes

    # ------------------------------------------------------------- account

    def mark(self, spec: ContractSpec) -> Decimal:
        """A position's market price: the mid, else the last, else its average cost."""
        quote = self.quotes.get(spec.con_id, Quote())
        if quote.bid is not None and quote.ask is not None:
            return (quote.bid + quote.ask) / 2
        if quote.last is not None:
            return quote.last
        pos = self.positions.get(spec.con_id, Position())
        return pos.avg_cost / spec.unit

    def account_values(self) -> list[tuple[str, str, str]]:
        """(tag, value, currency) as IB's account updates carry them."""
        unrealized = Decimal(0)
        market_value = Decimal(0)
        realized = Decimal(0)
        for con_id, pos in self.positions.items():
            spec = self.contracts[con_id]
            value = pos.quantity * self.mark(spec) * spec.unit
            market_value += value
            unrealized += value - pos.quantity * pos.avg_cost
            realized += pos.realized
        cash_usd = self.cash.get("USD", Decimal(0))
        net = cash_usd + market_value
        values = [
            ("AccountCode", self.account, ""),
            ("AccountType", "INDIVIDUAL", ""),
            ("Currency", "USD", "USD"),
            ("NetLiquidation", _money(net), "USD"),
            ("TotalCashValue", _money(cash_usd), "USD"),
            ("AvailableFunds", _money(cash_usd), "USD"),
            ("BuyingPower", _money(cash_usd * 4), "USD"),
            ("GrossPositionValue", _money(abs(market_value)), "USD"),
            ("RealizedPnL", _money(realized), "USD"),
            ("UnrealizedPnL", _money(unrealized), "USD"),
        ]
        values += [
            ("CashBalance", _money(amount), currency)
            for currency, amount in sorted(self.cash.items())
        ]
        return values


def _money(value: Decimal) -> str:
    return str(value.quantize(Decimal("0.01")))
